//! HTML pages, self-contained: inline CSS only (mail clients drop style sheets), readable on
//! a phone, printable, status always in words with colour only repeating it.

use std::fmt::Write as _;

use crate::judge::Status;
use crate::report::{COLUMNS, cells, dating_legend, status_word};
use crate::results::PolicyResult;

/// Escaped text with its `` `command` `` spans set as code, as the plain text writes them.
pub fn code_spans(escaped: &str) -> String {
    let mut out = String::with_capacity(escaped.len() + 16);
    for (i, part) in escaped.split('`').enumerate() {
        if i % 2 == 1 {
            out.push_str("<code>");
            out.push_str(part);
            out.push_str("</code>");
        } else {
            out.push_str(part);
        }
    }
    out
}

/// Escapes text for HTML element content and attribute values; control characters and
/// bidirectional overrides are shown escaped ([`crate::finding::printable`]).
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in crate::finding::printable(text).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const CELL: &str =
    "padding:6px 8px;border-bottom:1px solid #d0d7de;text-align:left;vertical-align:top;";

pub(crate) fn status_badge(status: Status) -> String {
    // The word carries the meaning; the colour only repeats it.
    let (fg, bg) = match status {
        Status::Pass => ("#0a3622", "#d1e7dd"),
        Status::Fail | Status::Interrupted => ("#58151c", "#f8d7da"),
    };
    format!(
        "<strong style=\"color:{fg};background:{bg};padding:2px 6px;border-radius:3px;\">{}</strong>",
        status_word(status)
    )
}

/// A run's results as a page: failures first, each with its findings and who acts, then a
/// table of every policy.
pub fn run_page(
    heading: &str,
    intro: &str,
    policies: &[&PolicyResult],
    action: &dyn Fn(&PolicyResult) -> String,
    footer_html: &str,
) -> String {
    let mut out = String::new();
    out.push_str("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    let _ = write!(out, "<title>{}</title>", esc(heading));
    out.push_str("<style>@media print { body { padding: 0 } div.finding, tr { break-inside: avoid } }</style></head>");
    out.push_str("<body style=\"margin:0;padding:16px;font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;font-size:14px;color:#1f2328;background:#ffffff;\">");
    let _ = write!(
        out,
        "<h1 style=\"font-size:20px;margin:0 0 8px;\">{}</h1><p style=\"margin:0 0 16px;color:#59636e;\">{}</p>",
        esc(heading),
        esc(intro)
    );
    let failing: Vec<&&PolicyResult> = policies
        .iter()
        .filter(|p| p.status == Status::Fail)
        .collect();
    if !failing.is_empty() {
        out.push_str("<h2 style=\"font-size:17px;margin:16px 0 8px;\">Failures</h2>");
        for p in failing {
            let _ = write!(
                out,
                "<div class=\"finding\" style=\"border-left:4px solid #cf222e;padding:4px 12px;margin:0 0 12px;\"><p style=\"margin:0 0 4px;\">{} <strong>{}</strong> ({})<br>action: <strong>{}</strong></p><ul style=\"margin:4px 0;padding-left:20px;\">",
                status_badge(p.status),
                esc(&p.name),
                esc(&p.client),
                esc(&action(p))
            );
            for f in &p.findings {
                let _ = write!(
                    out,
                    "<li style=\"margin:0 0 6px;\"><code>{}</code> {}<br><span style=\"color:#59636e;word-break:break-all;\">{}</span></li>",
                    esc(f.kind.as_str()),
                    esc(f.object.as_deref().unwrap_or("policy")),
                    esc(&f.message)
                );
            }
            out.push_str("</ul></div>");
        }
    }
    out.push_str("<h2 style=\"font-size:17px;margin:16px 0 8px;\">All policies</h2>");
    out.push_str(&policy_table(policies));
    let _ = write!(
        out,
        "<p style=\"margin:16px 0 0;color:#59636e;\">{footer_html}</p></body></html>"
    );
    out
}

/// The table of policies under [`COLUMNS`], status as a badge.
pub fn policy_table(policies: &[&PolicyResult]) -> String {
    let mut out = String::from(
        "<div style=\"overflow-x:auto;\"><table style=\"border-collapse:collapse;font-size:13px;min-width:100%;\"><thead><tr>",
    );
    for column in COLUMNS {
        let _ = write!(
            out,
            "<th style=\"{CELL}background:#f6f8fa;\">{}</th>",
            esc(column)
        );
    }
    out.push_str("</tr></thead><tbody>");
    for p in policies {
        out.push_str("<tr>");
        for (i, cell) in cells(p).iter().enumerate() {
            if i == 2 {
                let _ = write!(out, "<td style=\"{CELL}\">{}</td>", status_badge(p.status));
            } else {
                let _ = write!(out, "<td style=\"{CELL}\">{}</td>", esc(cell));
            }
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div>");
    if let Some(legend) = dating_legend(policies.iter().copied()) {
        let _ = write!(
            out,
            "<p style=\"margin:4px 0 0;color:#59636e;font-size:12px;\">{}</p>",
            esc(&legend)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escapes_what_it_shows() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
