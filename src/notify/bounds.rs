//! How much of a run one message carries: the findings listed per policy and the size of
//! the attachments, with what is left out counted. Pure, and it knows no message type, so
//! the composer uses it and it uses nothing of the composer.

use crate::finding::{Finding, thousands};
use crate::results::PolicyResult;

/// Findings listed per policy in a message's text and HTML; the rest are counted.
pub const MAX_LISTED_FINDINGS: usize = 20;
/// The attachments of one message together (JSON, JUnit, HTML report), before encoding;
/// those past it are left out, and the message says so.
pub const MAX_ATTACHMENT_BYTES: usize = 2 << 20;

/// `text` with its first letter in upper case.
pub fn upper_first(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
}

/// The attachments, in order, while they fit in [`MAX_ATTACHMENT_BYTES`] together; and the
/// names and sizes of those left out.
pub fn within_limit<T>(
    all: Vec<T>,
    size: impl Fn(&T) -> usize,
    name: impl Fn(&T) -> String,
) -> (Vec<T>, Vec<String>) {
    let (mut kept, mut left_out, mut total) = (Vec::new(), Vec::new(), 0);
    for attachment in all {
        let bytes = size(&attachment);
        if total + bytes <= MAX_ATTACHMENT_BYTES {
            total += bytes;
            kept.push(attachment);
        } else {
            let shown = crate::config::units::format_bytes(bytes as u64);
            left_out.push(format!("{} ({shown})", name(&attachment)));
        }
    }
    (kept, left_out)
}

/// The policy as a message lists it: its first [`MAX_LISTED_FINDINGS`] findings, then one
/// line counting the rest and saying where they are.
pub fn listed_findings(p: &PolicyResult, where_text: &str) -> PolicyResult {
    let mut listed = p.clone();
    if p.findings.len() <= MAX_LISTED_FINDINGS {
        return listed;
    }
    let rest = listed.findings.split_off(MAX_LISTED_FINDINGS);
    let mut kinds: Vec<&str> = rest.iter().map(|f| f.kind.as_str()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    listed.findings.push(Finding::new(
        rest[0].kind,
        None,
        format!(
            "and {} more findings ({}) not listed in this message: see {where_text}",
            thousands(rest.len()),
            kinds.join(", ")
        ),
    ));
    listed
}
