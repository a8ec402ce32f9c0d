//! The words a person reads while a session (`run` or `drill`) goes: each
//! [`restore_drill::session::Event`] as one or more lines, the summary and the evidence on
//! stdout, problems on stderr. It decides wording only, never what happened.

use restore_drill::report;
use restore_drill::session::{Event, Events};

/// Prints what a session tells: the summary and the evidence on stdout, problems on stderr.
pub(super) struct Printer;

impl Events for Printer {
    fn event(&self, event: Event<'_>) {
        match event {
            Event::NothingDue => outln!(
                "nothing due: no policy's schedule has come since its last run (see restore-drill schedule)"
            ),
            Event::Planned { planned, seed } => out!("{}", report::plan_text(planned, seed)),
            Event::DeadRunRecorded { run_id } => eprintln!(
                "restore-drill: run {run_id} did not finish (its process died); recorded as interrupted"
            ),
            Event::DeadRunUntrusted { finding } => eprintln!("warning: {finding}"),
            Event::DeadRunNotRecorded { error } => {
                eprintln!("error: cannot record a run that did not finish: {error}")
            }
            Event::Stopping(signal) => {
                eprintln!("restore-drill: stopping: {signal:?} received; cleaning up")
            }
            Event::StoppedRecorded { run_id } => {
                eprintln!("restore-drill: run {run_id} recorded as interrupted")
            }
            Event::StoppedNotRecorded { error } => eprintln!(
                "error: cannot record the interrupted run: {}",
                super::chain(error)
            ),
            Event::ScratchNotRemoved { path, error } => {
                eprintln!("warning: could not remove {}: {error}", path.display())
            }
            Event::Finished { result, kept } => {
                out!(
                    "{}",
                    report::summary_within(result, super::terminal_width())
                );
                if let Some(dir) = kept {
                    outln!("restored files kept in {}", dir.display());
                }
            }
            Event::Recorded { path, head } => outln!(
                "history: recorded in {} (chain head {head})",
                path.display()
            ),
            Event::Artifacts { dir } => outln!("results: {}", dir.display()),
            Event::Json { text } => json!("{text}"),
            Event::Mail(report) => super::mail::print_report(report),
            Event::NotKept { message } => eprintln!("error: {message}"),
        }
    }
}
