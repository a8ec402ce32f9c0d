//! Live progress for a person at a terminal (indicatif): a bar per object in flight (bytes,
//! throughput, ETA) and an overall bar with the RTO budget left. Nothing is drawn when stderr
//! is not a terminal (cron, pipes) unless asked for, and log lines go above the bars through
//! the same MultiProgress, so they never tear them.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use restore_drill::config::units::format_duration;
use restore_drill::run::{ObjectProgress, Observer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressMode {
    /// Bars when stderr is a terminal.
    Auto,
    Always,
    Never,
}

/// The bars being drawn, for the log writer to print above them.
fn active() -> &'static Mutex<Option<MultiProgress>> {
    static ACTIVE: OnceLock<Mutex<Option<MultiProgress>>> = OnceLock::new();
    ACTIVE.get_or_init(|| Mutex::new(None))
}

/// An observer drawing bars, or none when no one is watching. Nothing is drawn until the
/// run has planned what to restore: a run that stops before (another run holds the lock,
/// nothing is due, a policy is unknown) draws no bar.
pub fn observer(mode: ProgressMode) -> Option<Arc<dyn Observer>> {
    let always = match mode {
        ProgressMode::Never => return None,
        ProgressMode::Auto if !std::io::IsTerminal::is_terminal(&std::io::stderr()) => return None,
        ProgressMode::Auto => false,
        ProgressMode::Always => true,
    };
    Some(Arc::new(Bars {
        always,
        drawn: OnceLock::new(),
        started: Instant::now(),
        rto: Arc::new(Mutex::new(None)),
    }))
}

struct Bars {
    /// Draw even when stderr is no terminal (`--progress always`).
    always: bool,
    drawn: OnceLock<Drawn>,
    started: Instant,
    rto: Arc<Mutex<Option<Duration>>>,
}

/// The bars on the screen: one per object in flight above the overall one.
struct Drawn {
    multi: MultiProgress,
    overall: ProgressBar,
}

impl Bars {
    /// The bars, drawn from the first call on.
    fn drawn(&self) -> &Drawn {
        self.drawn.get_or_init(|| {
            let target = if self.always {
                ProgressDrawTarget::term_like(Box::new(console::Term::stderr()))
            } else {
                ProgressDrawTarget::stderr()
            };
            let multi = MultiProgress::with_draw_target(target);
            let overall = multi.add(ProgressBar::new(0));
            overall.set_style(
                ProgressStyle::with_template(
                    "total  [{bar:36.green/white}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta} {msg}",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
            overall.enable_steady_tick(Duration::from_millis(250));
            if let Ok(mut active) = active().lock() {
                *active = Some(multi.clone());
            }
            Drawn { multi, overall }
        })
    }
}

fn budget(started: Instant, rto: &Mutex<Option<Duration>>) -> String {
    match rto.lock().ok().and_then(|r| *r) {
        None => String::new(),
        Some(rto) => {
            let spent = started.elapsed();
            if spent <= rto {
                format!("RTO budget left {}", format_duration(rto - spent))
            } else {
                format!("RTO EXCEEDED by {}", format_duration(spent - rto))
            }
        }
    }
}

impl Observer for Bars {
    fn planned(&self, objects: usize, bytes: u64, rto: Option<Duration>) {
        if let Ok(mut slot) = self.rto.lock() {
            *slot = rto;
        }
        let overall = &self.drawn().overall;
        overall.set_length(bytes);
        overall.set_message(format!(
            "{objects} objects {}",
            budget(self.started, &self.rto)
        ));
    }

    fn started(&self, key: &str, size: u64) -> Box<dyn ObjectProgress> {
        let drawn = self.drawn();
        let bar = drawn
            .multi
            .insert_before(&drawn.overall, ProgressBar::new(size));
        bar.set_style(
            ProgressStyle::with_template(
                "{msg:32!} [{bar:36.cyan/blue}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
        let name = key.rsplit('/').next().unwrap_or(key);
        bar.set_message(name.to_string());
        Box::new(ObjectBar {
            bar,
            overall: drawn.overall.clone(),
            started: self.started,
            rto: Arc::clone(&self.rto),
        })
    }

    /// Clears the bars at the end of a run, before the summary is printed. The overall bar
    /// is finished first: its steady tick would draw it again below the summary.
    fn finished(&self) {
        if let Some(drawn) = self.drawn.get() {
            drawn.overall.disable_steady_tick();
            drawn.overall.finish_and_clear();
        }
        if let Some(multi) = active().lock().ok().and_then(|mut a| a.take()) {
            let _ = multi.clear();
        }
    }
}

struct ObjectBar {
    bar: ProgressBar,
    overall: ProgressBar,
    started: Instant,
    rto: Arc<Mutex<Option<Duration>>>,
}

impl ObjectProgress for ObjectBar {
    fn advance(&self, bytes: u64) {
        self.bar.inc(bytes);
        self.overall.inc(bytes);
        self.overall.set_message(budget(self.started, &self.rto));
    }

    fn finish(&self, passed: bool) {
        if !passed {
            let name = self.bar.message();
            self.bar.println(format!("FAIL {name}"));
        }
        self.bar.finish_and_clear();
    }
}

/// Log output that goes above the bars while they are drawn, and straight to stderr
/// otherwise.
#[derive(Clone, Copy, Default)]
pub struct LogWriter;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogLine;
    fn make_writer(&'a self) -> Self::Writer {
        LogLine(Vec::new())
    }
}

/// One log event, written whole when dropped.
pub struct LogLine(Vec<u8>);

impl Write for LogLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        let bytes = std::mem::take(&mut self.0);
        let multi = active().lock().ok().and_then(|a| a.clone());
        match multi {
            Some(multi) => multi.suspend(|| {
                let _ = std::io::stderr().write_all(&bytes);
            }),
            None => {
                let _ = std::io::stderr().write_all(&bytes);
            }
        }
    }
}
