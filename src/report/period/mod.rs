//! The period report (a quarter for a quarterly business review, or any `--from/--to`):
//! per policy runs, pass rate, RPO and RTO compliance, coverage, failures with first seen,
//! resolved and time to fix, drills, the control mapping and an evidence appendix tied to
//! the history's chain head.
//!
//! Data flows one way: [`build`] turns recorded runs into the `model`'s [`PeriodReport`];
//! [`markdown`], [`csv`], [`html`] and [`pdf`] render that model and nothing else: Markdown,
//! HTML and the PDF from the shared rows in `rows` (the HTML page and the PDF with the SVG
//! `charts`; the PDF typeset by typst in `pdf_world`), the CSV as raw numbers for
//! spreadsheets. The model knows none of its renderers, and no renderer calls `build`. This
//! module only wires them together and re-exports what callers use; it must not hold logic
//! of its own. A voided run is in no figure; it shows struck through with its reason, in the
//! evidence and a list of its own.

mod assemble;
mod build;
mod charts;
mod coverage_chart;
mod episodes;
mod model;
mod pdf_world;
mod render_csv;
mod render_html;
mod render_md;
mod render_pdf;
mod rows;
mod summary;

#[cfg(test)]
mod tests;

pub use assemble::{AssembleError, assemble};
pub use build::{Inputs, KnownPolicy, build};
pub use model::{
    Change, Comparison, ControlRow, Day, Direction, DrillRow, EpisodeState, Evidence, Incident,
    LastRun, Logo, Overall, Paper, Period, PeriodError, PeriodReport, PolicyStats, Presentation,
    SeriesPoint, Subject, Summary, Verdict, Voided,
};
pub use render_csv::{COLUMNS as CSV_COLUMNS, csv};
pub use render_html::html;
pub use render_md::markdown;
pub use render_pdf::{PdfError, pdf};
