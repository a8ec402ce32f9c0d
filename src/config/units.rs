//! Human-written quantities in YAML: durations (`26h`, `30d`, `1h 30m`) and byte sizes
//! (`20GiB`, `512 MB`). They parse during deserialization so a bad value is reported at its
//! line and column. Parsing only: no clock, no I/O.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

/// A non-negative duration written the friendly way: `90s`, `5m`, `26h`, `30d`, `1h 30m`.
/// Days and weeks count as 24 hours and 7 days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct HumanDuration(pub Duration);

impl TryFrom<String> for HumanDuration {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        parse_duration(&text).map(HumanDuration)
    }
}

/// Parses `26h`, `30d`, `1h 30m`, `45s`; rejects negatives and bare numbers.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let expected = "expected a duration such as `90s`, `5m`, `26h` or `30d`";
    let trimmed = text.trim();
    if trimmed.is_empty() || trimmed.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "invalid duration `{text}`: {expected} (a unit is required)"
        ));
    }
    let span: jiff::Span = trimmed
        .parse()
        .map_err(|_| format!("invalid duration `{text}`: {expected}"))?;
    let signed = span
        .to_duration(jiff::SpanRelativeTo::days_are_24_hours())
        .map_err(|_| format!("invalid duration `{text}`: {expected}"))?;
    Duration::try_from(signed)
        .map_err(|_| format!("invalid duration `{text}`: it must not be negative"))
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_duration(self.0))
    }
}

/// Formats a duration compactly for people: `26h`, `4h 5m`, `12.3s`, `850ms`.
pub fn format_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs >= 86_400 * 2 {
        let (days, hours) = (secs / 86_400, (secs % 86_400) / 3600);
        return if hours == 0 {
            format!("{days}d")
        } else {
            format!("{days}d {hours}h")
        };
    }
    if secs >= 3600 {
        let (hours, minutes) = (secs / 3600, (secs % 3600) / 60);
        return if minutes == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h {minutes}m")
        };
    }
    if secs >= 60 {
        let (minutes, seconds) = (secs / 60, secs % 60);
        return if seconds == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m {seconds}s")
        };
    }
    if secs >= 1 {
        return format!("{:.1}s", d.as_secs_f64());
    }
    format!("{}ms", d.as_millis())
}

/// A byte count written with a unit: `20GiB`, `512 MB`, `1024` (bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "ByteText")]
pub struct ByteSize(pub u64);

/// YAML may give a size as a bare integer or as text; both are accepted.
#[derive(Deserialize)]
#[serde(untagged)]
enum ByteText {
    Number(u64),
    Text(String),
}

impl TryFrom<ByteText> for ByteSize {
    type Error = String;

    fn try_from(raw: ByteText) -> Result<Self, Self::Error> {
        match raw {
            ByteText::Number(n) => Ok(ByteSize(n)),
            ByteText::Text(text) => parse_bytes(&text).map(ByteSize),
        }
    }
}

/// Parses `20GiB`, `512 MB`, `64 KiB`, `1000`.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    text.trim()
        .parse::<bytesize::ByteSize>()
        .map(|b| b.as_u64())
        .map_err(|_| {
            format!("invalid size `{text}`: expected a size such as `512MiB`, `20GiB` or `1TB`")
        })
}

/// Formats a number of days for people, in days from one day up (`1d`, `9d`, `2.5d`) so
/// windows and rotations read in one unit; hours and less below a day.
pub fn format_days(days: f64) -> String {
    let days = days.max(0.0);
    if days < 1.0 {
        return format_duration(Duration::from_secs_f64(days * 86_400.0));
    }
    if (days - days.round()).abs() < 0.05 {
        format!("{:.0}d", days.round())
    } else {
        format!("{days:.1}d")
    }
}

/// Formats bytes for people with binary units: `1.5 GiB`.
pub fn format_bytes(bytes: u64) -> String {
    bytesize::ByteSize(bytes).display().iec().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_friendly_units() {
        assert_eq!(
            parse_duration("26h").unwrap(),
            Duration::from_secs(26 * 3600)
        );
        assert_eq!(
            parse_duration("30d").unwrap(),
            Duration::from_secs(30 * 86_400)
        );
        assert_eq!(parse_duration("1h 30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
    }

    #[test]
    fn durations_reject_bare_numbers_and_negatives() {
        assert!(
            parse_duration("26")
                .unwrap_err()
                .contains("unit is required")
        );
        assert!(parse_duration("-5h").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn sizes_parse_binary_and_decimal_units() {
        assert_eq!(parse_bytes("20GiB").unwrap(), 20 << 30);
        assert_eq!(parse_bytes("1 KB").unwrap(), 1000);
        assert_eq!(parse_bytes("64 KiB").unwrap(), 64 << 10);
        assert!(parse_bytes("lots").is_err());
    }

    #[test]
    fn durations_format_compactly() {
        assert_eq!(format_duration(Duration::from_secs(26 * 3600)), "26h");
        assert_eq!(
            format_duration(Duration::from_secs(3 * 86_400 + 3600)),
            "3d 1h"
        );
        assert_eq!(format_duration(Duration::from_millis(850)), "850ms");
        assert_eq!(format_duration(Duration::from_secs(75)), "1m 15s");
    }
}
