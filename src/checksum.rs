//! Checksum algorithms and the text formats that carry expected digests: `sha256sum`/`b3sum`
//! output (`<hex>  <name>`, `<hex> *<name>`, escaped names) and the BSD tagged form
//! (`SHA256 (name) = <hex>`). Parsing is strict: a wrong length, a non-hex digit or two
//! different digests for one name make the whole file invalid rather than half-trusted.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use sha2::Digest as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    Sha256,
    Sha512,
    Blake3,
    Md5,
}

impl Algorithm {
    pub const ALL: [Algorithm; 4] = [
        Algorithm::Sha256,
        Algorithm::Sha512,
        Algorithm::Blake3,
        Algorithm::Md5,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
            Algorithm::Blake3 => "blake3",
            Algorithm::Md5 => "md5",
        }
    }

    fn sidecar_extension(self) -> &'static str {
        match self {
            Algorithm::Sha256 => ".sha256",
            Algorithm::Sha512 => ".sha512",
            Algorithm::Blake3 => ".b3",
            Algorithm::Md5 => ".md5",
        }
    }

    fn manifest_name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "SHA256SUMS",
            Algorithm::Sha512 => "SHA512SUMS",
            Algorithm::Blake3 => "B3SUMS",
            Algorithm::Md5 => "MD5SUMS",
        }
    }

    fn bsd_tag(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "SHA256",
            Algorithm::Sha512 => "SHA512",
            Algorithm::Blake3 => "BLAKE3",
            Algorithm::Md5 => "MD5",
        }
    }

    /// Length of the digest in hex digits.
    pub fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 | Algorithm::Blake3 => 64,
            Algorithm::Sha512 => 128,
            Algorithm::Md5 => 32,
        }
    }

    /// `x.tar.zst.sha256` → (`x.tar.zst`, SHA-256).
    pub fn from_sidecar_name(key: &str) -> Option<(&str, Algorithm)> {
        Self::ALL.into_iter().find_map(|a| {
            key.strip_suffix(a.sidecar_extension())
                .filter(|target| !target.is_empty() && !target.ends_with('/'))
                .map(|target| (target, a))
        })
    }

    /// `SHA256SUMS` → SHA-256.
    pub fn from_manifest_name(file_name: &str) -> Option<Algorithm> {
        Self::ALL
            .into_iter()
            .find(|a| a.manifest_name() == file_name)
    }

    /// The algorithm a manifest file inside an archive uses, from its name
    /// (`MANIFEST.sha256`, `SHA512SUMS`, `files.b3`); SHA-256 when the name does not say.
    pub fn for_manifest_path(path: &str) -> Algorithm {
        let file = path.rsplit('/').next().unwrap_or(path);
        Self::from_manifest_name(file)
            .or_else(|| Self::from_sidecar_name(file).map(|(_, a)| a))
            .unwrap_or(Algorithm::Sha256)
    }
}

/// One line of a checksum file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SumLine {
    /// The file named; `None` for a sidecar holding the bare digest.
    pub name: Option<String>,
    /// Lower-case hex.
    pub digest: String,
}

/// Parses a checksum file for `algorithm`. Errors name the 1-based line.
pub fn parse_sums(text: &str, algorithm: Algorithm) -> Result<Vec<SumLine>, String> {
    let mut lines = Vec::new();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for (i, raw) in text.split('\n').enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let parsed = parse_line(line, algorithm)
            .and_then(refuse_parent)
            .map_err(|e| format!("line {}: {e}", i + 1))?;
        if let Some(name) = &parsed.name
            && let Some(earlier) = seen.insert(name.clone(), parsed.digest.clone())
            && earlier != parsed.digest
        {
            return Err(format!(
                "line {}: `{name}` is listed twice with different digests",
                i + 1
            ));
        }
        lines.push(parsed);
    }
    if lines.is_empty() {
        return Err("no digests in the file".into());
    }
    Ok(lines)
}

fn parse_line(line: &str, algorithm: Algorithm) -> Result<SumLine, String> {
    // BSD: `SHA256 (name) = hex`
    if let Some(rest) = line
        .strip_prefix(algorithm.bsd_tag())
        .and_then(|r| r.strip_prefix(" ("))
    {
        let (name, digest) = rest.rsplit_once(") = ").ok_or_else(|| {
            "malformed BSD-style line, expected `TAG (name) = digest`".to_string()
        })?;
        return Ok(SumLine {
            name: Some(name.to_string()),
            digest: check_hex(digest, algorithm)?,
        });
    }
    if Algorithm::ALL
        .iter()
        .any(|a| line.starts_with(&format!("{} (", a.bsd_tag())))
    {
        return Err(format!(
            "the line is tagged for another algorithm than {}",
            algorithm.name()
        ));
    }
    // GNU: `hex  name`, `hex *name`; a leading `\` means the name is escaped.
    let (escaped, line) = match line.strip_prefix('\\') {
        Some(rest) => (true, rest),
        None => (false, line),
    };
    let (digest, rest) = match line.split_once([' ', '\t']) {
        Some((d, r)) => (d, Some(r)),
        None => (line, None),
    };
    let digest = check_hex(digest, algorithm)?;
    let name: Option<String> = match rest {
        None => None,
        Some(rest) => {
            let rest = rest.strip_prefix([' ', '*']).unwrap_or(rest);
            if rest.is_empty() {
                None
            } else if escaped {
                Some(unescape(rest)?)
            } else {
                Some(rest.to_string())
            }
        }
    };
    Ok(SumLine { name, digest })
}

/// A line naming a file through `..` would vouch for a file of another folder (another
/// set): the whole checksum file is not trusted.
fn refuse_parent(line: SumLine) -> Result<SumLine, String> {
    match &line.name {
        Some(name) if name.split('/').any(|part| part == "..") => Err(format!(
            "`{}` leaves the checksum file's folder with `..`",
            name.escape_debug()
        )),
        _ => Ok(line),
    }
}

fn check_hex(digest: &str, algorithm: Algorithm) -> Result<String, String> {
    if !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("the digest is not hexadecimal".into());
    }
    if digest.len() != algorithm.hex_len() {
        return Err(format!(
            "a {} digest has {} hex digits, this one has {}",
            algorithm.name(),
            algorithm.hex_len(),
            digest.len()
        ));
    }
    Ok(digest.to_ascii_lowercase())
}

fn unescape(name: &str) -> Result<String, String> {
    let mut out = String::with_capacity(name.len());
    let mut chars = name.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('\\') => out.push('\\'),
            _ => return Err("bad escape in file name".into()),
        }
    }
    Ok(out)
}

/// Normalises a listed name for comparison: `./a/b` → `a/b`.
pub fn normalize_name(name: &str) -> &str {
    let mut name = name;
    while let Some(rest) = name.strip_prefix("./") {
        name = rest;
    }
    name
}

/// Computes several digests of one byte stream at once.
pub struct Digester {
    sha256: Option<sha2::Sha256>,
    sha512: Option<sha2::Sha512>,
    blake3: Option<Box<blake3::Hasher>>,
    md5: Option<md5::Md5>,
}

impl Digester {
    pub fn new(algorithms: &BTreeSet<Algorithm>) -> Self {
        Digester {
            sha256: algorithms
                .contains(&Algorithm::Sha256)
                .then(sha2::Sha256::new),
            sha512: algorithms
                .contains(&Algorithm::Sha512)
                .then(sha2::Sha512::new),
            blake3: algorithms
                .contains(&Algorithm::Blake3)
                .then(|| Box::new(blake3::Hasher::new())),
            md5: algorithms.contains(&Algorithm::Md5).then(md5::Md5::new),
        }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        if let Some(h) = &mut self.sha256 {
            h.update(bytes);
        }
        if let Some(h) = &mut self.sha512 {
            h.update(bytes);
        }
        if let Some(h) = &mut self.blake3 {
            h.update(bytes);
        }
        if let Some(h) = &mut self.md5 {
            h.update(bytes);
        }
    }

    /// Lower-case hex digest per algorithm.
    pub fn finish(self) -> BTreeMap<Algorithm, String> {
        let mut out = BTreeMap::new();
        if let Some(h) = self.sha256 {
            out.insert(Algorithm::Sha256, hex::encode(h.finalize()));
        }
        if let Some(h) = self.sha512 {
            out.insert(Algorithm::Sha512, hex::encode(h.finalize()));
        }
        if let Some(h) = self.blake3 {
            out.insert(Algorithm::Blake3, h.finalize().to_hex().to_string());
        }
        if let Some(h) = self.md5 {
            out.insert(Algorithm::Md5, hex::encode(h.finalize()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ABC256: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn gnu_bsd_and_bare_lines_parse() {
        let upper = ABC256.to_ascii_uppercase();
        let text =
            format!("{ABC256}  a.txt\r\n{ABC256} *b.bin\nSHA256 (c d) = {upper}\n{ABC256}\n");
        let lines = parse_sums(&text, Algorithm::Sha256).unwrap();
        let names: Vec<_> = lines.iter().map(|l| l.name.as_deref()).collect();
        assert_eq!(names, [Some("a.txt"), Some("b.bin"), Some("c d"), None]);
        assert!(lines.iter().all(|l| l.digest == ABC256));
    }

    #[test]
    fn wrong_length_and_junk_are_rejected_with_the_line() {
        let err =
            parse_sums(&format!("# x\n{}  a\n", &ABC256[..40]), Algorithm::Sha256).unwrap_err();
        assert!(err.starts_with("line 2:") && err.contains("64"), "{err}");
        assert!(parse_sums("\u{1}\u{2}garbage\n", Algorithm::Sha256).is_err());
        assert!(parse_sums("", Algorithm::Sha256).is_err());
    }

    #[test]
    fn duplicate_names_with_different_digests_are_rejected() {
        let other = "0".repeat(64);
        let err = parse_sums(&format!("{ABC256}  a\n{other}  a\n"), Algorithm::Sha256).unwrap_err();
        assert!(err.contains("listed twice"), "{err}");
        assert!(parse_sums(&format!("{ABC256}  a\n{ABC256}  a\n"), Algorithm::Sha256).is_ok());
    }

    #[test]
    fn escaped_names_are_unescaped() {
        let lines = parse_sums(&format!("\\{ABC256}  new\\nline\n"), Algorithm::Sha256).unwrap();
        assert_eq!(lines[0].name.as_deref(), Some("new\nline"));
    }

    #[test]
    fn digester_matches_known_vectors() {
        let mut d = Digester::new(&Algorithm::ALL.into_iter().collect());
        d.update(b"a");
        d.update(b"bc");
        let out = d.finish();
        assert_eq!(out[&Algorithm::Sha256], ABC256);
        assert_eq!(out[&Algorithm::Md5], "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(
            out[&Algorithm::Blake3],
            blake3::hash(b"abc").to_hex().to_string()
        );
        assert!(out[&Algorithm::Sha512].starts_with("ddaf35a193617aba"));
    }

    #[test]
    fn names_map_to_algorithms() {
        assert_eq!(
            Algorithm::from_sidecar_name("d/x.tar.zst.b3"),
            Some(("d/x.tar.zst", Algorithm::Blake3))
        );
        assert_eq!(
            Algorithm::from_manifest_name("SHA512SUMS"),
            Some(Algorithm::Sha512)
        );
        assert_eq!(
            Algorithm::for_manifest_path("meta/MANIFEST.md5"),
            Algorithm::Md5
        );
        assert_eq!(Algorithm::for_manifest_path("MANIFEST"), Algorithm::Sha256);
    }
}
