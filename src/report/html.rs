//! HTML pages, self-contained: inline CSS only (mail clients drop style sheets), readable on
//! a phone, printable, status always in words with colour only repeating it.
//!
//! Pages are maud templates: Rust functions returning [`Markup`], checked when compiled and
//! escaping every value they interpolate. Text from outside (a key, a finding's message, a
//! team's name) goes in as [`Shown`], which also shows control characters and bidirectional
//! overrides escaped. Nothing here builds HTML from strings.

use maud::{DOCTYPE, Markup, PreEscaped, Render, html};

use crate::judge::Status;
use crate::report::{COLUMNS, cells, dating_legend, status_word};
use crate::results::PolicyResult;

/// Text as shown on a page: escaped by maud, with control characters and bidirectional
/// overrides shown escaped ([`crate::finding::printable`]) so they cannot reorder or hide
/// what is around them.
pub struct Shown<'a>(pub &'a str);

impl Render for Shown<'_> {
    fn render_to(&self, buffer: &mut String) {
        crate::finding::printable(self.0).render_to(buffer);
    }
}

/// Text with its `` `command` `` spans set as code, as the plain text writes them.
pub fn code_spans(text: &str) -> Markup {
    html! {
        @for (i, part) in text.split('`').enumerate() {
            @if i % 2 == 1 { code { (Shown(part)) } } @else { (Shown(part)) }
        }
    }
}

const CELL: &str =
    "padding:6px 8px;border-bottom:1px solid #d0d7de;text-align:left;vertical-align:top;";

pub(crate) fn status_badge(status: Status) -> Markup {
    // The word carries the meaning; the colour only repeats it.
    let (fg, bg) = match status {
        Status::Pass => ("#0a3622", "#d1e7dd"),
        Status::Fail | Status::Interrupted => ("#58151c", "#f8d7da"),
    };
    html! {
        strong style={ "color:" (fg) ";background:" (bg) ";padding:2px 6px;border-radius:3px;" } {
            (status_word(status))
        }
    }
}

/// A page's head: charset, viewport, title and the print rules.
fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (Shown(title)) }
            style { (PreEscaped("@media print { body { padding: 0 } div.finding, tr { break-inside: avoid } }")) }
        }
    }
}

/// A run's results as a page: failures first, each with its findings and who acts, then a
/// table of every policy, then `footer` (and any `notes` after it, one paragraph each).
pub fn run_page(
    heading: &str,
    intro: &str,
    policies: &[&PolicyResult],
    action: &dyn Fn(&PolicyResult) -> String,
    footer: Markup,
    notes: &[Markup],
) -> String {
    let failing: Vec<&&PolicyResult> = policies
        .iter()
        .filter(|p| p.status == Status::Fail)
        .collect();
    let page = html! {
        (DOCTYPE)
        html {
            (head(heading))
            body style="margin:0;padding:16px;font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;font-size:14px;color:#1f2328;background:#ffffff;" {
                h1 style="font-size:20px;margin:0 0 8px;" { (Shown(heading)) }
                p style="margin:0 0 16px;color:#59636e;" { (Shown(intro)) }
                @if !failing.is_empty() {
                    h2 style="font-size:17px;margin:16px 0 8px;" { "Failures" }
                    @for p in failing { (failure(p, &action(p))) }
                }
                h2 style="font-size:17px;margin:16px 0 8px;" { "All policies" }
                (policy_table(policies))
                p style="margin:16px 0 0;color:#59636e;" { (footer) }
                @for note in notes { p { (note) } }
            }
        }
    };
    page.into_string()
}

/// A failing policy: its badge, name, client, who acts, and its findings.
fn failure(p: &PolicyResult, action: &str) -> Markup {
    html! {
        div class="finding" style="border-left:4px solid #cf222e;padding:4px 12px;margin:0 0 12px;" {
            p style="margin:0 0 4px;" {
                (status_badge(p.status)) " " strong { (Shown(&p.name)) } " (" (Shown(&p.client)) ")"
                br;
                "action: " strong { (Shown(action)) }
            }
            ul style="margin:4px 0;padding-left:20px;" {
                @for f in &p.findings {
                    li style="margin:0 0 6px;" {
                        code { (Shown(f.kind.as_str())) } " " (Shown(f.object.as_deref().unwrap_or("policy")))
                        br;
                        span style="color:#59636e;word-break:break-all;" { (Shown(&f.message)) }
                    }
                }
            }
        }
    }
}

/// The table of policies under [`COLUMNS`], status as a badge.
pub fn policy_table(policies: &[&PolicyResult]) -> Markup {
    html! {
        div style="overflow-x:auto;" {
            table style="border-collapse:collapse;font-size:13px;min-width:100%;" {
                thead { tr {
                    @for column in COLUMNS {
                        th style={ (CELL) "background:#f6f8fa;" } { (column) }
                    }
                } }
                tbody {
                    @for p in policies {
                        tr {
                            @for (i, cell) in cells(p).iter().enumerate() {
                                td style=(CELL) {
                                    @if i == 2 { (status_badge(p.status)) } @else { (Shown(cell)) }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if let Some(legend) = dating_legend(policies.iter().copied()) {
            p style="margin:4px 0 0;color:#59636e;font-size:12px;" { (Shown(&legend)) }
        }
        @for p in policies {
            @if let Some(c) = &p.coverage {
                p style="margin:4px 0 0;font-size:12px;" {
                    strong { "Coverage " (Shown(&p.name)) ": " }
                    (Shown(&crate::report::coverage_words(c)))
                }
            }
        }
    }
}

/// A short message (`body`) as a page of its own.
pub fn message_page(body: Markup) -> String {
    html! {
        (DOCTYPE)
        html {
            head { meta charset="utf-8"; }
            body style="font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;font-size:14px;color:#1f2328;" {
                (body)
            }
        }
    }
    .into_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escapes_what_it_shows() {
        assert_eq!(
            html! { (Shown("<a href=\"x\">&'\u{202e}")) }.into_string(),
            "&lt;a href=&quot;x&quot;&gt;&amp;'\\u{202e}"
        );
        assert_eq!(
            code_spans("run `restore-drill <x>` now").into_string(),
            "run <code>restore-drill &lt;x&gt;</code> now"
        );
    }
}
