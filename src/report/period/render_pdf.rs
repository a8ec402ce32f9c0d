//! The period report as a PDF, typeset by typst as a library (`report.typ`, compiled into
//! the binary) in [`super::pdf_world`]: no browser, no font of the host. The report reaches
//! the template only as data: this module puts the shared rows ([`super::rows`]), the
//! summary and the charts' SVG ([`super::charts`]) into one JSON file that the template reads
//! with `json(…)`, so no text from a bucket, a policy or the history is ever spliced into
//! markup. It must not compute figures (the model carries them) nor change a row's words.

use serde::Serialize;

use super::charts::{self, Span};
use super::coverage_chart;
use super::model::{Day, Overall, Paper, PeriodReport};
use super::pdf_world::ReportWorld;
use super::rows::{
    CHANGE_COLUMNS, CONTROL_COLUMNS, DRILL_COLUMNS, EVIDENCE_COLUMNS, INCIDENT_COLUMNS,
    POLICY_COLUMNS, SUMMARY_COLUMNS, VOIDED_COLUMNS, change_row, control_rows, days_of, drill_row,
    evidence_row, incident_row, policy_rows, summary_rows, voided_rows, when, worst,
};

/// The template; it reads `data.json` and the files named in it.
const TEMPLATE: &str = include_str!("report.typ");

/// Why no PDF could be made: the typesetter refused the document. Not expected for any
/// report (the template is fixed and the data is only data); the message names what typst
/// said, for a bug report.
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    #[error("cannot typeset the PDF: {0}")]
    Typeset(String),
    #[error(
        "the logo (report.logo, {media_type}) cannot be drawn in the PDF ({why}): save it again as PNG, JPEG or SVG, or remove report.logo"
    )]
    Logo { media_type: String, why: String },
}

/// A table as the template draws it: header, rows of text, and for struck-through rows
/// (voided runs) how many leading cells are struck.
#[derive(Serialize)]
struct Table {
    columns: Vec<&'static str>,
    rows: Vec<Vec<String>>,
    struck: Vec<bool>,
    struck_columns: usize,
}

impl Table {
    fn new<const N: usize>(columns: [&'static str; N], rows: Vec<[String; N]>) -> Table {
        Table {
            columns: columns.to_vec(),
            struck: vec![false; rows.len()],
            rows: rows.into_iter().map(Vec::from).collect(),
            struck_columns: 0,
        }
    }
}

/// What a chart function gave: a drawing (an SVG file handed to typst) or the line of text
/// it gives instead (why there is no chart).
#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Piece {
    Svg { file: String },
    Note { text: String },
}

/// A policy's day strip, under its counts.
#[derive(Serialize)]
struct Strip {
    caption: String,
    file: String,
}

/// A policy's charts and notes.
#[derive(Serialize)]
struct PolicyCharts {
    policy: String,
    pieces: Vec<Piece>,
}

/// The changes against the previous period.
#[derive(Serialize)]
struct Changes {
    title: String,
    table: Option<Table>,
}

/// Everything the template shows, as text ready to print.
#[derive(Serialize)]
struct Document {
    title: String,
    client: String,
    period: String,
    prepared_by: Option<String>,
    meta: String,
    /// The zone the times are in, for every page's footer.
    zone: String,
    chain_head: String,
    /// `#rrggbb`; none for the default.
    accent: Option<String>,
    logo: Option<String>,
    /// typst's paper name: `a4`, `us-letter`.
    paper: &'static str,
    status: &'static str,
    status_label: String,
    headline: String,
    counted: String,
    summary: Table,
    changes: Changes,
    policies: Table,
    /// The key to the strips.
    key: Option<String>,
    strips: Vec<Strip>,
    charts: Vec<PolicyCharts>,
    incidents: Option<Table>,
    drills: Option<Table>,
    controls: Option<Table>,
    voided: Option<Table>,
    evidence: Table,
}

/// A chart's HTML cut into its drawings (`<svg …>…</svg>`, each made a standalone SVG) and
/// the text between them (tags dropped, entities read back), in order.
fn pieces(html: &str) -> Vec<(bool, String)> {
    let mut out = Vec::new();
    let mut rest = html;
    loop {
        let (before, svg, after) = match rest.find("<svg").and_then(|start| {
            let len = rest[start..].find("</svg>")?;
            Some((start, start + len + "</svg>".len()))
        }) {
            Some((start, end)) => (&rest[..start], Some(&rest[start..end]), &rest[end..]),
            None => (rest, None, ""),
        };
        let text = plain_text(before);
        if !text.is_empty() {
            out.push((false, text));
        }
        let Some(svg) = svg else {
            return out;
        };
        out.push((
            true,
            if svg.contains("xmlns=") {
                svg.to_string()
            } else {
                svg.replacen("<svg", "<svg xmlns=\"http://www.w3.org/2000/svg\"", 1)
            },
        ));
        rest = after;
    }
}

/// HTML as the words it shows: tags dropped, the five escapes read back, spaces collapsed.
fn plain_text(html: &str) -> String {
    let mut text = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    let text = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A chart's HTML as text, whether the chart module hands out a `String` or markup.
fn text(html: impl Into<String>) -> String {
    html.into()
}

/// An accent colour the template can take: `#rrggbb`, else none (the default).
fn accent(given: Option<&str>) -> Option<String> {
    given
        .filter(|a| {
            a.len() == 7 && a.starts_with('#') && a[1..].bytes().all(|b| b.is_ascii_hexdigit())
        })
        .map(str::to_string)
}

fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The charts (the strips' key, a strip per policy, and per policy its charts) as SVG files,
/// and the logo.
struct Files {
    files: Vec<(String, Vec<u8>)>,
    key: Option<String>,
    strips: Vec<Strip>,
    charts: Vec<PolicyCharts>,
    logo: Option<String>,
}

fn files(report: &PeriodReport) -> Files {
    let tz = report.presentation.zone();
    // The same span as the HTML's charts: the period, or up to now while it runs.
    let span = Span {
        tz: &tz,
        from: report.period.from,
        to: report.generated_at.min(report.period.to),
    };
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut add = |svg: String| {
        let file = format!("charts/{}.svg", files.len());
        files.push((file.clone(), svg.into_bytes()));
        file
    };
    let mut svg_of = |html: String| {
        pieces(&html)
            .into_iter()
            .find(|(svg, _)| *svg)
            .map(|(_, svg)| add(svg))
    };
    let key = svg_of(text(charts::day_key()));
    let strips = report
        .policies
        .iter()
        .filter_map(|s| {
            let count = |d: Day| s.days.iter().filter(|(_, x)| *x == d).count();
            let caption = format!(
                "{}: {} days passed, {} days failed, {} days without a run",
                s.policy,
                count(Day::Pass),
                count(Day::Fail),
                count(Day::NotRun)
            );
            let file = svg_of(text(charts::day_strip(&s.days)))?;
            Some(Strip { caption, file })
        })
        .collect();
    let mut add = |svg: String| {
        let file = format!("charts/{}.svg", files.len());
        files.push((file.clone(), svg.into_bytes()));
        file
    };
    let charts = report
        .policies
        .iter()
        .map(|s| {
            let mut shown: Vec<Piece> = Vec::new();
            let mut show = |html: String, shown: &mut Vec<Piece>| {
                for (svg, content) in pieces(&html) {
                    shown.push(if svg {
                        Piece::Svg { file: add(content) }
                    } else {
                        Piece::Note { text: content }
                    });
                }
            };
            show(text(charts::backup_age(s, &span)), &mut shown);
            show(
                text(charts::restore_time(&s.series, s.rto_target_seconds, &span)),
                &mut shown,
            );
            let worst = worst(s);
            if !worst.is_empty() {
                shown.push(Piece::Note { text: worst });
            }
            show(text(charts::throughput(s, &span)), &mut shown);
            show(text(coverage_chart::coverage(s, &span)), &mut shown);
            PolicyCharts {
                policy: s.policy.clone(),
                pieces: shown,
            }
        })
        .collect();
    let logo = report.presentation.logo.as_ref().and_then(|logo| {
        let extension = match logo.media_type.as_str() {
            "image/png" => "png",
            "image/jpeg" => "jpg",
            "image/svg+xml" => "svg",
            _ => return None,
        };
        let file = format!("logo.{extension}");
        files.push((file.clone(), logo.bytes.clone()));
        Some(file)
    });
    Files {
        files,
        key,
        strips,
        charts,
        logo,
    }
}

/// What changed against the previous period, in the Markdown's words.
fn changes(report: &PeriodReport) -> Changes {
    match &report.previous {
        Some(previous) if previous.changes.is_empty() => Changes {
            title: format!(
                "Against {} (overall: {}): no change in pass rate, targets met or open failures.",
                previous.period.label,
                previous.status.label()
            ),
            table: None,
        },
        Some(previous) => Changes {
            title: format!(
                "Changes against {} (overall then: {})",
                previous.period.label,
                previous.status.label()
            ),
            table: Some(Table::new(
                CHANGE_COLUMNS,
                previous.changes.iter().map(change_row).collect(),
            )),
        },
        None => Changes {
            title: "No runs were recorded in the previous period to compare with.".into(),
            table: None,
        },
    }
}

/// The document and the files it names (charts, logo).
fn document(report: &PeriodReport) -> (Document, Vec<(String, Vec<u8>)>) {
    let tz = report.presentation.zone();
    let Files {
        files,
        key,
        strips,
        charts,
        logo,
    } = files(report);
    let summary = &report.summary;
    let changes = changes(report);
    let non_empty = |t: Table| (!t.rows.is_empty()).then_some(t);
    let mut voided = Table::new(VOIDED_COLUMNS, voided_rows(report));
    voided.struck = vec![true; voided.rows.len()];
    voided.struck_columns = 2;
    let mut evidence = Table::new(
        EVIDENCE_COLUMNS,
        report
            .evidence
            .iter()
            .map(|e| evidence_row(&tz, e))
            .collect(),
    );
    evidence.struck = report.evidence.iter().map(|e| e.voided.is_some()).collect();
    evidence.struck_columns = 3;
    let document = Document {
        title: format!(
            "Restore verification: {}, {}",
            report.client, report.period.label
        ),
        client: report.client.clone(),
        period: report.period.label.clone(),
        prepared_by: report.presentation.msp_name.clone(),
        meta: format!(
            "Period {} (both days included). Generated {}. Times in {}.",
            days_of(&tz, &report.period),
            when(&tz, report.generated_at),
            report.presentation.timezone,
        ),
        zone: report.presentation.timezone.clone(),
        chain_head: report
            .chain_head
            .clone()
            .unwrap_or_else(|| "(no history)".into()),
        accent: accent(report.presentation.accent.as_deref()),
        logo,
        paper: match report.presentation.paper {
            Paper::A4 => "a4",
            Paper::Letter => "us-letter",
        },
        status: match summary.status {
            Overall::Good => "good",
            Overall::Attention => "attention",
            Overall::ActionNeeded => "action_needed",
            Overall::NoEvidence => "no_evidence",
        },
        status_label: summary.label.to_uppercase(),
        headline: summary.headline.clone(),
        counted: format!(
            "Counted: {} (voided runs left out), {}; open failures: {}.",
            count(summary.runs, "run", "runs"),
            count(summary.drills, "manual drill", "manual drills"),
            summary.open_failures
        ),
        summary: Table::new(SUMMARY_COLUMNS, summary_rows(report)),
        changes,
        policies: Table::new(POLICY_COLUMNS, policy_rows(report)),
        key,
        strips,
        charts,
        incidents: non_empty(Table::new(
            INCIDENT_COLUMNS,
            report
                .incidents
                .iter()
                .map(|i| incident_row(&tz, i))
                .collect(),
        )),
        drills: non_empty(Table::new(
            DRILL_COLUMNS,
            report.drills.iter().map(|d| drill_row(&tz, d)).collect(),
        )),
        controls: non_empty(Table::new(CONTROL_COLUMNS, control_rows(report))),
        voided: non_empty(voided),
        evidence,
    };
    (document, files)
}

fn diagnostics(list: &[typst::diag::SourceDiagnostic]) -> PdfError {
    PdfError::Typeset(
        list.iter()
            .map(|d| d.message.to_string())
            .collect::<Vec<_>>()
            .join("; "),
    )
}

/// The report laid out in pages.
fn typeset(report: &PeriodReport) -> Result<typst::layout::PagedDocument, PdfError> {
    let (document, mut files) = document(report);
    let json = serde_json::to_vec(&document).map_err(|e| PdfError::Typeset(e.to_string()))?;
    files.push(("data.json".into(), json));
    let world = ReportWorld::new(TEMPLATE, files);
    let failed = match typst::compile(&world).output {
        Ok(paged) => return Ok(paged),
        Err(e) => diagnostics(&e),
    };
    // A logo that cannot be decoded is the one thing a user can get wrong: say so.
    if let Some(logo) = &report.presentation.logo {
        let mut plain = report.clone();
        plain.presentation.logo = None;
        if typeset(&plain).is_ok() {
            return Err(PdfError::Logo {
                media_type: logo.media_type.clone(),
                why: failed.to_string(),
            });
        }
    }
    Err(failed)
}

/// The report as a PDF (A4 or Letter from the presentation), fonts embedded.
pub fn pdf(report: &PeriodReport) -> Result<Vec<u8>, PdfError> {
    let paged = typeset(report)?;
    let generated = report.generated_at.to_zoned(jiff::tz::TimeZone::UTC);
    let timestamp = typst::foundations::Datetime::from_ymd_hms(
        i32::from(generated.year()),
        generated.month() as u8,
        generated.day() as u8,
        generated.hour() as u8,
        generated.minute() as u8,
        generated.second() as u8,
    )
    .map(typst_pdf::Timestamp::new_utc);
    // The same report gives the same bytes: the document's id and date come from it.
    let ident = format!(
        "restore-drill {} {} {}",
        report.client,
        report.period.label,
        report.chain_head.as_deref().unwrap_or("")
    );
    let options = typst_pdf::PdfOptions {
        ident: typst::foundations::Smart::Custom(&ident),
        timestamp,
        ..typst_pdf::PdfOptions::default()
    };
    typst_pdf::pdf(&paged, &options).map_err(|e| diagnostics(&e))
}

#[cfg(test)]
mod tests;
