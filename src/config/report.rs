//! The `report:` block of the settings: how the period report is presented (the time zone its
//! times are shown in, the MSP's name, logo and accent colour, the paper size). It exists to
//! read and check those values once, so a report never meets a zone jiff does not know, a
//! logo that is not an image or a colour that is not one. It changes no figure, and it must
//! not know the report's model (the command line maps one onto the other).

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The largest logo file read: a logo is a few KiB; this bounds the report's size and the
/// memory a mistaken path can take.
pub const MAX_LOGO_BYTES: u64 = 512 << 10;
/// An MSP's name longer than this is not a name.
const MAX_NAME_CHARS: usize = 120;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawReport {
    timezone: Option<String>,
    msp_name: Option<String>,
    logo: Option<PathBuf>,
    accent: Option<String>,
    paper: Option<Paper>,
}

/// Paper size for printing and the PDF.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Paper {
    #[default]
    A4,
    Letter,
}

/// The MSP's logo, read and its type checked from its first bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoFile {
    pub path: PathBuf,
    /// `image/png`, `image/jpeg` or `image/svg+xml`.
    pub media_type: &'static str,
    pub bytes: Vec<u8>,
}

/// The checked `report:` settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportSettings {
    /// An IANA zone name jiff knows; `None`: the host's zone.
    pub timezone: Option<String>,
    pub msp_name: Option<String>,
    pub logo: Option<LogoFile>,
    /// `#rrggbb`, lower case.
    pub accent: Option<String>,
    pub paper: Paper,
}

impl ReportSettings {
    /// The zone's IANA name: the configured one, else the host's (`UTC` when the host names
    /// none).
    pub fn timezone_name(&self) -> String {
        self.timezone.clone().unwrap_or_else(|| {
            jiff::tz::TimeZone::system()
                .iana_name()
                .unwrap_or("UTC")
                .to_string()
        })
    }
}

impl RawReport {
    /// Checks every value; the error names the field (`report.logo`) and what is expected.
    pub(super) fn resolve(self, dir: &Path) -> Result<ReportSettings, (String, String)> {
        let field = |name: &str| format!("report.{name}");
        if let Some(zone) = &self.timezone
            && jiff::tz::TimeZone::get(zone).is_err()
        {
            return Err((
                field("timezone"),
                format!(
                    "`{zone}` is not a time zone this host knows; expected an IANA name such as Europe/Berlin or America/New_York"
                ),
            ));
        }
        if let Some(name) = &self.msp_name {
            let bad = name.trim().is_empty()
                || name.chars().count() > MAX_NAME_CHARS
                || name.chars().any(char::is_control);
            if bad {
                return Err((
                    field("msp_name"),
                    format!(
                        "expected the MSP's name on one line, 1 to {MAX_NAME_CHARS} characters"
                    ),
                ));
            }
        }
        let accent = match self.accent {
            Some(colour) if is_hex_colour(&colour) => Some(colour.to_ascii_lowercase()),
            Some(colour) => {
                return Err((
                    field("accent"),
                    format!(
                        "`{}` is not a colour; expected `#rrggbb`, e.g. \"#1f6feb\" (quoted: YAML reads # as a comment)",
                        crate::finding::printable(&colour)
                    ),
                ));
            }
            None => None,
        };
        let logo = match self.logo {
            Some(rel) => {
                Some(read_logo(&super::resolve_path(dir, rel)).map_err(|m| (field("logo"), m))?)
            }
            None => None,
        };
        Ok(ReportSettings {
            timezone: self.timezone,
            msp_name: self.msp_name.map(|n| n.trim().to_string()),
            logo,
            accent,
            paper: self.paper.unwrap_or_default(),
        })
    }
}

fn is_hex_colour(text: &str) -> bool {
    text.len() == 7 && text.starts_with('#') && text[1..].chars().all(|c| c.is_ascii_hexdigit())
}

/// Reads the logo (bounded: [`MAX_LOGO_BYTES`], a regular file only) and tells its type from
/// its first bytes, not its name.
fn read_logo(path: &Path) -> Result<LogoFile, String> {
    let bytes = crate::fsx::read_regular(path, MAX_LOGO_BYTES)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let media_type = media_type(&bytes).ok_or_else(|| {
        format!(
            "{} is not a PNG, JPEG or SVG image (told from its first bytes)",
            path.display()
        )
    })?;
    Ok(LogoFile {
        path: path.to_path_buf(),
        media_type,
        bytes,
    })
}

/// PNG and JPEG by their signatures; SVG as UTF-8 text whose first element is `<svg`
/// (after an XML declaration, comments or a doctype).
fn media_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Some("image/png");
    }
    if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        return Some("image/jpeg");
    }
    let text = std::str::from_utf8(bytes).ok()?;
    let mut rest = text.trim_start_matches('\u{feff}').trim_start();
    loop {
        if rest.starts_with("<svg") {
            return Some("image/svg+xml");
        }
        let end = if rest.starts_with("<?") {
            rest.find("?>")? + 2
        } else if rest.starts_with("<!--") {
            rest.find("-->")? + 3
        } else if rest.starts_with("<!") {
            rest.find('>')? + 1
        } else {
            return None;
        };
        rest = rest[end..].trim_start();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(raw: RawReport, dir: &Path) -> Result<ReportSettings, String> {
        raw.resolve(dir).map_err(|(field, _)| field)
    }

    #[test]
    fn defaults_are_a4_and_the_hosts_zone() {
        let s = resolve(RawReport::default(), Path::new("/")).unwrap();
        assert_eq!(s, ReportSettings::default());
        assert_eq!(s.paper, Paper::A4);
        assert!(!s.timezone_name().is_empty());
    }

    #[test]
    fn bad_values_name_their_field() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            (
                RawReport {
                    timezone: Some("Mars/Olympus".into()),
                    ..Default::default()
                },
                "report.timezone",
            ),
            (
                RawReport {
                    accent: Some("blue".into()),
                    ..Default::default()
                },
                "report.accent",
            ),
            (
                RawReport {
                    accent: Some("#12345g".into()),
                    ..Default::default()
                },
                "report.accent",
            ),
            (
                RawReport {
                    msp_name: Some("two\nlines".into()),
                    ..Default::default()
                },
                "report.msp_name",
            ),
            (
                RawReport {
                    logo: Some("missing.png".into()),
                    ..Default::default()
                },
                "report.logo",
            ),
        ];
        for (raw, field) in cases {
            assert_eq!(resolve(raw, dir.path()).unwrap_err(), field);
        }
    }

    #[test]
    fn a_logo_is_read_bounded_and_typed_by_its_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, bytes: &[u8]| std::fs::write(dir.path().join(name), bytes);
        write("logo.png", b"\x89PNG\r\n\x1a\n rest").unwrap();
        write(
            "logo.svg",
            b"<?xml version=\"1.0\"?>\n<!-- x --><svg xmlns=\"\"/>",
        )
        .unwrap();
        write("fake.png", b"<html>not an image</html>").unwrap();
        write("big.png", &vec![0x89; MAX_LOGO_BYTES as usize + 1]).unwrap();
        let logo = |name: &str| {
            RawReport {
                logo: Some(name.into()),
                accent: Some("#1F6FEB".into()),
                ..Default::default()
            }
            .resolve(dir.path())
        };
        let png = logo("logo.png").unwrap();
        assert_eq!(png.logo.unwrap().media_type, "image/png");
        assert_eq!(png.accent.as_deref(), Some("#1f6feb"));
        let svg = logo("logo.svg").unwrap().logo.unwrap();
        assert_eq!(svg.media_type, "image/svg+xml");
        assert_eq!(svg.path, dir.path().join("logo.svg"));
        let fake = logo("fake.png").unwrap_err();
        assert!(fake.1.contains("not a PNG, JPEG or SVG"), "{fake:?}");
        let big = logo("big.png").unwrap_err();
        assert!(big.1.contains("larger than the 524288 bytes"), "{big:?}");
    }
}
