//! The period report as a PDF, typeset by typst as a library (`report.typ`, compiled into
//! the binary) in [`super::pdf_world`]: no browser, no font of the host. The report reaches
//! the template only as data: this module puts the shared rows ([`super::rows`]), the
//! summary and the charts' SVG ([`super::charts`]) into one JSON file that the template reads
//! with `json(…)`, so no text from a bucket, a policy or the history is ever spliced into
//! markup. It must not compute figures (the model carries them) nor change a row's words.

use serde::Serialize;

use super::charts;
use super::model::{Overall, Paper, PeriodReport};
use super::pdf_world::ReportWorld;
use super::rows::{
    CHANGE_COLUMNS, CONTROL_COLUMNS, DRILL_COLUMNS, EVIDENCE_COLUMNS, INCIDENT_COLUMNS,
    POLICY_COLUMNS, SUMMARY_COLUMNS, VOIDED_COLUMNS, change_row, control_rows, days_of, drill_row,
    evidence_row, incident_row, policy_rows, summary_rows, voided_rows, when,
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

/// A chart: an SVG file handed to typst, with a caption.
#[derive(Serialize)]
struct Chart {
    caption: Option<String>,
    file: String,
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
    strips: Vec<Chart>,
    trends: Vec<(String, Vec<Chart>)>,
    incidents: Option<Table>,
    drills: Option<Table>,
    controls: Option<Table>,
    voided: Option<Table>,
    evidence: Table,
}

/// The `<svg …>…</svg>` elements of a chart's HTML, each made a standalone SVG file.
fn svgs(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<svg") {
        let Some(len) = rest[start..].find("</svg>") else {
            break;
        };
        let end = start + len + "</svg>".len();
        let svg = &rest[start..end];
        out.push(if svg.contains("xmlns=") {
            svg.to_string()
        } else {
            svg.replacen("<svg", "<svg xmlns=\"http://www.w3.org/2000/svg\"", 1)
        });
        rest = &rest[end..];
    }
    out
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

/// The charts (day strips, and per policy its trend charts) as SVG files, and the logo.
struct Files {
    files: Vec<(String, Vec<u8>)>,
    strips: Vec<Chart>,
    trends: Vec<(String, Vec<Chart>)>,
    logo: Option<String>,
}

fn files(report: &PeriodReport) -> Files {
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut chart = |caption: Option<String>, svg: String| {
        let file = format!("charts/{}.svg", files.len());
        files.push((file.clone(), svg.into_bytes()));
        Chart { caption, file }
    };
    let strips = svgs(&text(charts::day_strips(report)));
    let named = strips.len() == report.policies.len();
    let strips: Vec<Chart> = strips
        .into_iter()
        .enumerate()
        .map(|(i, svg)| chart(named.then(|| report.policies[i].policy.clone()), svg))
        .collect();
    let trends = report
        .policies
        .iter()
        .map(|s| {
            let html = text(charts::trend(s, report.period.from, report.period.to));
            let charts = svgs(&html)
                .into_iter()
                .map(|svg| chart(None, svg))
                .collect();
            (s.policy.clone(), charts)
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
        strips,
        trends,
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
        strips,
        trends,
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
        strips,
        trends,
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
    typst::compile(&world).output.map_err(|e| diagnostics(&e))
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
mod tests {
    use super::*;

    #[test]
    fn svgs_are_cut_out_of_the_chart_html_as_files() {
        let html = "<div><p>x</p><svg width=\"2\"><rect/></svg></div><svg xmlns=\"http://www.w3.org/2000/svg\"></svg>";
        assert_eq!(
            svgs(html),
            [
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"2\"><rect/></svg>",
                "<svg xmlns=\"http://www.w3.org/2000/svg\"></svg>"
            ]
        );
        assert!(svgs("<svg unclosed").is_empty());
    }

    /// A report with no run, for a client whose name and description are markup in every
    /// language the renderers know.
    fn hostile(paper: Paper) -> PeriodReport {
        let policies = [super::super::KnownPolicy {
            name: "db-1".into(),
            dated_by: crate::config::DateSource::Name,
            description: Some("*bold* _x_ ]) #panic(\"no\") <b>&amp; $x$ @ref".into()),
            responsible: None,
        }];
        let tz = jiff::tz::TimeZone::UTC;
        super::super::build(super::super::Inputs {
            client: "Acme\"] #panic(\"injected\") // \\",
            period: super::super::Period::quarter("2026-Q4", &tz).unwrap(),
            runs: &[],
            previous: None,
            policies: &policies,
            controls: &Default::default(),
            chain_head: None,
            presentation: super::super::Presentation {
                paper,
                msp_name: Some("Northwind <MSP> #set".into()),
                accent: Some("#aa3300".into()),
                logo: Some(super::super::Logo {
                    media_type: "image/svg+xml".into(),
                    bytes: br##"<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20"><rect width="40" height="20" fill="#aa3300"/></svg>"##.to_vec(),
                }),
                ..Default::default()
            },
            now: "2026-12-01T00:00:00Z".parse().unwrap(),
        })
    }

    #[test]
    fn text_that_looks_like_markup_is_typeset_as_text_on_the_paper_asked_for() {
        for (paper, size) in [(Paper::A4, (595.3, 841.9)), (Paper::Letter, (612.0, 792.0))] {
            let paged = typeset(&hostile(paper)).expect("the report typesets");
            let page = paged.pages[0].frame.size();
            let (w, h) = (page.x.to_pt(), page.y.to_pt());
            assert!(
                (w - size.0).abs() < 0.5 && (h - size.1).abs() < 0.5,
                "{paper:?}: {w} x {h}"
            );
        }
        let bytes = pdf(&hostile(Paper::A4)).unwrap();
        assert!(bytes.starts_with(b"%PDF-"));
    }

    #[test]
    fn only_a_hex_colour_reaches_the_template() {
        assert_eq!(accent(Some("#1a2B3c")).as_deref(), Some("#1a2B3c"));
        assert_eq!(accent(Some("red\")")), None);
        assert_eq!(accent(Some("#12345")), None);
    }
}
