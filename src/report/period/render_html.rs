//! The period report as one print-ready HTML page with inline SVG charts, printed to PDF for
//! a QBR. The first page is the answer a client's IT manager reads in thirty seconds (the
//! period's overall status, one line per policy, what changed since the previous period);
//! the detail follows (policies, the day-by-day strips, charts, failures, drills, the control
//! mapping, voided runs, the evidence appendix). Print rules: the paper from the report's
//! presentation, the client's and the MSP's names and page numbers in every page's margins,
//! table headers repeated, no word broken inside a table (only hashes and keys wrap, in their
//! own cells). It exists to lay out the shared rows ([`super::rows`]) and the charts
//! ([`super::charts`]); it must not compute figures (the model carries them) nor change a
//! row's words. Every value is escaped by maud; the names printed in the page margins are
//! escaped for CSS ([`css_string`]).

use base64::Engine as _;
use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::charts::{self, Span};
use super::model::{Direction, Overall, Paper, PeriodReport, Verdict};
use super::rows::{
    CHANGE_COLUMNS, CONTROL_COLUMNS, DRILL_COLUMNS, EVIDENCE_COLUMNS, INCIDENT_COLUMNS,
    POLICY_COLUMNS, SUMMARY_COLUMNS, VOIDED_COLUMNS, change_row, control_rows, days_of, drill_row,
    evidence_row, incident_row, policy_rows, summary_rows, voided_rows, when,
};
use crate::report::html::Shown;

/// How a column's cells lay out in print.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Col {
    /// Words, wrapping between them only.
    Text,
    /// A number, a time, a status: never wrapped.
    Fixed,
    /// A hash or a key: may wrap anywhere, and only here.
    Hash,
    /// A run id: set as code, never wrapped.
    Id,
}

use Col::{Fixed, Hash, Id, Text};

/// The report as one print-ready HTML page with inline SVG charts.
pub fn html(report: &PeriodReport) -> String {
    let title = format!(
        "Restore verification: {}, {}",
        report.client, report.period.label
    );
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (Shown(&title)) }
                style { (PreEscaped(style(report))) }
            }
            body {
                section class="answer" {
                    (masthead(report, &title))
                    (overall(report))
                    (summary_table(report))
                    (changes(report))
                }
                section class="detail" { (detail(report)) }
                section class="appendix" { (appendix(report)) }
            }
        }
    };
    let mut out = page.into_string();
    out.push('\n');
    out
}

/// The logo (when one is set), the MSP's name, the title, and the period, zone and chain
/// head.
fn masthead(report: &PeriodReport, title: &str) -> Markup {
    let p = &report.presentation;
    let tz = p.zone();
    let logo = p.logo.as_ref().filter(|l| {
        matches!(
            l.media_type.as_str(),
            "image/png" | "image/jpeg" | "image/svg+xml"
        )
    });
    html! {
        header class="masthead" {
            @if let Some(logo) = logo {
                // An image, never inline SVG: a script in an SVG logo does not run in <img>.
                img class="logo" alt="" src={
                    "data:" (logo.media_type) ";base64,"
                    (base64::engine::general_purpose::STANDARD.encode(&logo.bytes))
                };
            }
            div {
                @if let Some(msp) = &p.msp_name {
                    p class="msp" { (Shown(msp)) }
                }
                h1 { (Shown(title)) }
                p class="meta" {
                    "Period " span class="fixed" { (days_of(&tz, &report.period)) }
                    " (both days included). Times in " strong { (Shown(&p.timezone)) } ". Generated "
                    span class="fixed" { (when(&tz, report.generated_at)) } "."
                }
                p class="meta" {
                    "History chain head "
                    code class="hash" { (Shown(report.chain_head.as_deref().unwrap_or("(no history)"))) }
                }
            }
        }
    }
}

fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The period's answer: its status in words (the colour and the mark only repeat it).
fn overall(report: &PeriodReport) -> Markup {
    let s = &report.summary;
    let (class, mark) = match s.status {
        Overall::Good => ("ok", "✓"),
        Overall::Attention => ("warn", "!"),
        Overall::ActionNeeded | Overall::NoEvidence => ("bad", "✗"),
    };
    html! {
        div class={ "overall " (class) } {
            p class="status" {
                span class="mark" aria-hidden="true" { (mark) } " "
                "Overall: " strong { (s.label.to_uppercase()) }
            }
            p class="headline" { (unbroken_names(&s.headline, report)) }
            p class="meta" {
                "Counted: " (count(s.runs, "run", "runs")) " (voided runs left out), "
                (count(s.drills, "manual drill", "manual drills")) "; open failures: " (s.open_failures) "."
            }
        }
    }
}

/// A verdict's class and mark: verified, verified with a target missed, failed.
fn verdict_look(v: Verdict) -> (&'static str, &'static str) {
    match v {
        Verdict::Verified => ("ok", "✓"),
        Verdict::Failed => ("bad", "✗"),
        _ => ("warn", "!"),
    }
}

/// `text` with the report's policy names kept whole on a line (a name breaks at its hyphen
/// otherwise: "bright-" / "imaging").
fn unbroken_names(text: &str, report: &PeriodReport) -> Markup {
    let mut names: Vec<&str> = report.policies.iter().map(|p| p.policy.as_str()).collect();
    names.sort_by_key(|n| std::cmp::Reverse(n.len()));
    let mut pieces = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let next = names
            .iter()
            .filter_map(|n| rest.find(n).map(|at| (at, *n)))
            .min_by_key(|(at, n)| (*at, std::cmp::Reverse(n.len())));
        match next {
            Some((at, name)) => {
                pieces.push((&rest[..at], false));
                pieces.push((name, true));
                rest = &rest[at + name.len()..];
            }
            None => {
                pieces.push((rest, false));
                rest = "";
            }
        }
    }
    html! {
        @for (piece, name) in pieces {
            @if name { span class="nowrap" { (Shown(piece)) } } @else { (Shown(piece)) }
        }
    }
}

/// One line per policy: name and description, its last run, targets met, open failures and
/// who must act.
fn summary_table(report: &PeriodReport) -> Markup {
    let rows = summary_rows(report);
    html! {
        table class="summary" {
            (head(&SUMMARY_COLUMNS))
            tbody {
                @for (s, row) in report.policies.iter().zip(&rows) {
                    tr {
                        td {
                            strong { (Shown(&s.policy)) }
                            @if let Some(d) = &s.description { br; span class="desc" { (Shown(d)) } }
                        }
                        @match &s.last_run {
                            Some(last) => {
                                @let (class, mark) = verdict_look(last.verdict);
                                td class={ "fixed " (class) } {
                                    span class="mark" aria-hidden="true" { (mark) } " "
                                    strong { (last.label) } br;
                                    span class="when" { (when(&report.presentation.zone(), last.at)) }
                                }
                            }
                            None => td class="fixed bad" { (Shown(&row[1])) },
                        }
                        @for cell in &row[2..5] { td class="fixed" { (Shown(cell)) } }
                        @let gap = s.coverage.as_ref().is_some_and(|c| c.target_days.is_some() && c.overdue_objects > 0);
                        td class=(if gap { "bad" } else { "" }) { (Shown(&row[5])) }
                        td class=(if s.open_failures > 0 { "bad" } else { "" }) { (Shown(&row[6])) }
                    }
                }
            }
        }
    }
}

/// What changed against the previous period, better or worse.
fn changes(report: &PeriodReport) -> Markup {
    html! {
        @match &report.previous {
            Some(previous) if previous.changes.is_empty() => {
                p { "Against " (Shown(&previous.period.label)) " (overall: " (previous.status.label())
                    "): no change in pass rate, targets met or open failures." }
            }
            Some(previous) => {
                h2 { "Changes against " (Shown(&previous.period.label))
                    span class="meta" { " (overall then: " (previous.status.label()) ")" } }
                table {
                    (head(&CHANGE_COLUMNS))
                    tbody {
                        @for c in &previous.changes {
                            @let row = change_row(c);
                            @let (class, mark) = match c.direction {
                                Direction::Better => ("ok", "▲"),
                                Direction::Worse => ("bad", "▼"),
                                Direction::Same => ("", "="),
                            };
                            tr {
                                td { (Shown(&row[0])) } td { (Shown(&row[1])) }
                                td class="fixed" { (Shown(&row[2])) } td class="fixed" { (Shown(&row[3])) }
                                td class={ "fixed " (class) } {
                                    span class="mark" aria-hidden="true" { (mark) } " " (Shown(&row[4]))
                                }
                            }
                        }
                    }
                }
            }
            None => p class="meta" { "No runs were recorded in the previous period to compare with." },
        }
    }
}

/// The detail: the policies' figures, the strips, the charts, failures, drills, controls.
fn detail(report: &PeriodReport) -> Markup {
    let tz = report.presentation.zone();
    let span = Span {
        tz: &tz,
        from: report.period.from,
        to: report.generated_at.min(report.period.to),
    };
    let incidents: Vec<[String; 8]> = report
        .incidents
        .iter()
        .map(|i| incident_row(&tz, i))
        .collect();
    let drills: Vec<[String; 8]> = report.drills.iter().map(|d| drill_row(&tz, d)).collect();
    html! {
        h2 { "Policies" }
        (table(&POLICY_COLUMNS, &plain(policy_rows(report)),
            [Fixed, Fixed, Fixed, Text, Fixed, Fixed, Fixed, Fixed, Fixed]))
        h2 { "Day by day" }
        div class="key" { (charts::day_key()) }
        @for s in &report.policies { (charts::strip_block(s)) }
        h2 { "Backup age and restore time" }
        p class="meta" {
            "Newest backup age at each run against the RPO (a run past it is a cross); restore "
            "time measured on the sample (solid, dots) and projected for a full restore (dashed, "
            "triangles) against the RTO, each in a unit that fits its target."
        }
        @for s in &report.policies {
            div class="charts" {
                h3 { (Shown(&s.policy)) }
                div class="pair" {
                    (charts::backup_age(s, &span))
                    (charts::restore_time(&s.series, s.rto_target_seconds, &span))
                }
                p class="note" { (super::rows::worst(s)) }
                (charts::throughput(s, &span))
                (super::coverage_chart::coverage(s, &span))
            }
        }
        h2 { "Failures" }
        @if incidents.is_empty() {
            p { "No failures in this period." }
        } @else {
            (table(&INCIDENT_COLUMNS, &plain(incidents),
                [Fixed, Hash, Text, Fixed, Text, Fixed, Fixed, Text]))
        }
        h2 { "Manual restore drills" }
        @if drills.is_empty() {
            p { "No manual drills recorded in this period." }
        } @else {
            (table(&DRILL_COLUMNS, &plain(drills),
                [Fixed, Fixed, Hash, Fixed, Fixed, Fixed, Text, Text]))
        }
        @if !report.controls.is_empty() {
            h2 { "Control mapping" }
            (table(&CONTROL_COLUMNS, &plain(control_rows(report)), [Text, Text, Text, Fixed]))
        }
    }
}

/// Voided runs and the evidence appendix, under the chain head.
fn appendix(report: &PeriodReport) -> Markup {
    let tz = report.presentation.zone();
    let voided: Vec<([String; 5], usize)> =
        voided_rows(report).into_iter().map(|r| (r, 2)).collect();
    let evidence: Vec<([String; 6], usize)> = report
        .evidence
        .iter()
        .map(|e| (evidence_row(&tz, e), if e.voided.is_some() { 3 } else { 0 }))
        .collect();
    html! {
        @if !voided.is_empty() {
            h2 { "Voided runs" }
            p class="meta" { "Corrected after they were recorded; counted in no figure above." }
            (table(&VOIDED_COLUMNS, &voided, [Id, Fixed, Text, Text, Text]))
        }
        h2 { "Evidence appendix" }
        (table(&EVIDENCE_COLUMNS, &evidence, [Id, Fixed, Text, Text, Hash, Hash]))
        p class="meta" {
            "Each record hash above can be checked against the history database with "
            code { "restore-drill history verify" } "."
        }
    }
}

/// Rows with nothing struck through.
fn plain<const N: usize>(rows: Vec<[String; N]>) -> Vec<([String; N], usize)> {
    rows.into_iter().map(|r| (r, 0)).collect()
}

fn head(header: &[&str]) -> Markup {
    html! { thead { tr { @for h in header { th { (h) } } } } }
}

/// A table whose rows each have their first `struck` cells struck through (`<del>`): a
/// voided run's. `cols` says how each column lays out in print.
fn table<const N: usize>(
    header: &[&str; N],
    rows: &[([String; N], usize)],
    cols: [Col; N],
) -> Markup {
    let class = |c: Col| match c {
        Text => "",
        Fixed => "fixed",
        Hash => "hash",
        Id => "id",
    };
    html! {
        table {
            (head(header))
            tbody {
                @for (row, struck) in rows {
                    tr {
                        @for (i, c) in row.iter().enumerate() {
                            td class=(class(cols[i])) {
                                @if i < *struck { del { (Shown(c)) } } @else { (Shown(c)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `text` as a CSS string literal that nothing in it can end: every character but letters,
/// digits and spaces written as a CSS hex escape, so a quote, a backslash or `</style>` in a
/// client's name is only text.
pub(super) fn css_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in crate::finding::printable(text).chars() {
        if c.is_ascii_alphanumeric() || c == ' ' {
            out.push(c);
        } else {
            // Six hex digits and a space: the space ends the escape and is not shown.
            out.push_str(&format!("\\{:06x} ", c as u32));
        }
    }
    out.push('"');
    out
}

/// The accent colour when it is `#rrggbb`, else the default blue-grey.
fn accent(report: &PeriodReport) -> &str {
    match report.presentation.accent.as_deref() {
        Some(c)
            if c.len() == 7
                && c.starts_with('#')
                && c[1..].chars().all(|c| c.is_ascii_hexdigit()) =>
        {
            c
        }
        _ => "#24476b",
    }
}

/// The style sheet: the page's look, then the print rules with this report's paper, names
/// and zone in the page margins.
fn style(report: &PeriodReport) -> String {
    let p = &report.presentation;
    let size = match p.paper {
        Paper::A4 => "A4",
        Paper::Letter => "letter",
    };
    let top_left = css_string(&format!("{} \u{b7} {}", report.client, report.period.label));
    let top_right = css_string(p.msp_name.as_deref().unwrap_or(""));
    let bottom_left = css_string(&format!("Times in {}", p.timezone));
    format!(
        ":root{{--accent:{accent}}}{STYLE}\
@page{{size:{size} portrait;margin:16mm 12mm 16mm 12mm;\
@top-left{{content:{top_left};font:8pt sans-serif;color:#59636e}}\
@top-right{{content:{top_right};font:8pt sans-serif;color:#59636e}}\
@bottom-left{{content:{bottom_left};font:8pt sans-serif;color:#59636e}}\
@bottom-right{{content:\"Page \" counter(page) \" of \" counter(pages);font:8pt sans-serif;color:#59636e}}}}",
        accent = accent(report)
    )
}

const STYLE: &str = "\
*{box-sizing:border-box}\
body{font-family:'Liberation Sans','DejaVu Sans',Helvetica,Arial,sans-serif;font-size:10pt;line-height:1.35;color:#1f2328;margin:24px auto;max-width:186mm;padding:0 8px}\
h1{font-size:17pt;margin:0 0 4px;color:var(--accent)}\
h2{font-size:12.5pt;margin:18px 0 6px;padding-bottom:2px;border-bottom:2px solid var(--accent);break-after:avoid}\
h3{font-size:10.5pt;margin:10px 0 2px;break-after:avoid}\
.masthead{display:flex;gap:12px;align-items:center;border-bottom:3px solid var(--accent);padding-bottom:8px;margin-bottom:12px}\
.logo{max-height:16mm;max-width:45mm}\
.msp{margin:0;font-weight:bold;color:var(--accent)}\
.meta{color:#59636e;margin:2px 0}\
.desc{color:#59636e;font-size:8.5pt}\
.overall{border:2px solid;border-left-width:10px;padding:6px 12px;margin:12px 0}\
.overall p{margin:2px 0}.overall .status{font-size:14pt}\
.overall.ok{border-color:#1a7f37;background:#dafbe1}\
.overall.warn{border-color:#9a6700;background:#fff8c5}\
.overall.bad{border-color:#a40e26;background:#ffebe9}\
.mark{font-weight:bold}\
td.ok .mark{color:#1a7f37}td.warn .mark{color:#9a6700}td.bad .mark,td.bad{color:#a40e26}\
table{border-collapse:collapse;width:100%;margin:4px 0 10px;font-size:8.5pt}\
thead{display:table-header-group}\
tr{break-inside:avoid}\
th,td{padding:3px 5px;border-bottom:1px solid #d0d7de;text-align:left;vertical-align:top;word-break:normal;overflow-wrap:normal;hyphens:none}\
th{background:#f6f8fa;border-bottom:1.5px solid var(--accent);font-weight:bold}\
.fixed,td.fixed,.nowrap{white-space:nowrap}\
td.hash{min-width:30mm}td.hash,code.hash{overflow-wrap:anywhere;font-family:'DejaVu Sans Mono','Liberation Mono',monospace;font-size:7pt}\
td.id{white-space:nowrap;font-family:'DejaVu Sans Mono','Liberation Mono',monospace;font-size:7pt}\
table.summary{font-size:9.5pt}table.summary td{padding:5px 6px}\
code{font-family:'DejaVu Sans Mono','Liberation Mono',monospace;font-size:8pt}\
svg{max-width:100%;height:auto}\
.strip{break-inside:avoid;margin:0 0 6px}.strip p{margin:4px 0 1px}\
.charts{break-inside:avoid}.pair{display:flex;gap:8px}.pair svg{width:50%}\
.note{color:#59636e;font-size:8.5pt;margin:2px 0 8px}\
@media print{body{margin:0;max-width:none;padding:0}.detail,.appendix{break-before:page}}";

#[cfg(test)]
mod tests {
    use super::css_string;

    #[test]
    fn names_in_the_page_margins_cannot_end_their_css_string() {
        let text = css_string("Acme \"Dental\" </style><script>\\");
        assert!(text.starts_with('"') && text.ends_with('"'));
        let inner = &text[1..text.len() - 1];
        for c in ['"', '<', '>', '/', '\'', '\n'] {
            assert!(!inner.contains(c), "{c} in {text}");
        }
        assert_eq!(css_string("Northwind IT"), "\"Northwind IT\"");
        assert_eq!(css_string("a \u{b7} b"), "\"a \\0000b7  b\"");
    }
}
