//! Live progress for a person at a terminal (indicatif): a bar per object in flight (bytes,
//! throughput, ETA) and an overall bar with the RTO budget left. Nothing is drawn when stderr
//! is not a terminal (cron, pipes) unless asked for, and log lines go above the bars through
//! the same MultiProgress, so they never tear them.
//!
//! Throughput and ETA are measured, not estimated: the bytes restored over the time since
//! the restores started (an object's bar: since that object started), so a short drill
//! shows the rate it ran at. The clocks start when the restores do, not when the command
//! started: listing, the lock and the plan are no part of a restore's time.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use restore_drill::config::units::{format_bytes, format_duration};
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
        clock: Arc::new(Mutex::new(Clock::default())),
    }))
}

struct Bars {
    /// Draw even when stderr is no terminal (`--progress always`).
    always: bool,
    drawn: OnceLock<Drawn>,
    clock: Arc<Mutex<Clock>>,
}

/// When the restores started (set when they are planned), and the RTO they run against.
#[derive(Default)]
struct Clock {
    restores: Option<Instant>,
    rto: Option<Duration>,
}

impl Clock {
    fn elapsed(&self) -> Duration {
        self.restores.map_or(Duration::ZERO, |t| t.elapsed())
    }
}

/// `693.9 MiB/s ETA 1s`: `bytes` of `total` in `elapsed`, measured over the whole time.
fn rate(bytes: u64, total: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    if bytes == 0 || secs <= 0.0 {
        return "- B/s ETA -".into();
    }
    let per_sec = bytes as f64 / secs;
    let left = total.saturating_sub(bytes) as f64 / per_sec;
    let eta = if left > 0.0 {
        format_duration(Duration::from_secs_f64(left.ceil()))
    } else {
        "0s".into()
    };
    format!("{}/s ETA {eta}", format_bytes(per_sec as u64))
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
                    "total  [{bar:36.green/white}] {bytes}/{total_bytes} {msg}",
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

/// The overall bar's message: the measured rate and ETA, and the RTO budget left.
fn overall_message(overall: &ProgressBar, clock: &Mutex<Clock>) -> String {
    let Ok(clock) = clock.lock() else {
        return String::new();
    };
    let spent = clock.elapsed();
    let rate = rate(overall.position(), overall.length().unwrap_or(0), spent);
    match clock.rto {
        None => rate,
        Some(rto) => {
            if spent <= rto {
                format!("{rate} RTO budget left {}", format_duration(rto - spent))
            } else {
                format!("{rate} RTO EXCEEDED by {}", format_duration(spent - rto))
            }
        }
    }
}

impl Observer for Bars {
    /// The restores start now: the clocks start.
    fn planned(&self, objects: usize, bytes: u64, rto: Option<Duration>) {
        if let Ok(mut clock) = self.clock.lock() {
            *clock = Clock {
                restores: Some(Instant::now()),
                rto,
            };
        }
        let overall = &self.drawn().overall;
        overall.reset();
        overall.set_length(bytes);
        overall.set_message(format!(
            "{objects} objects {}",
            overall_message(overall, &self.clock)
        ));
    }

    fn started(&self, key: &str, size: u64) -> Box<dyn ObjectProgress> {
        let drawn = self.drawn();
        let bar = drawn
            .multi
            .insert_before(&drawn.overall, ProgressBar::new(size));
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:32!} [{bar:36.cyan/blue}] {bytes}/{total_bytes} {msg}",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
        let name = key.rsplit('/').next().unwrap_or(key);
        bar.set_prefix(restore_drill::finding::printable(name).into_owned());
        bar.set_message(rate(0, size, Duration::ZERO));
        Box::new(ObjectBar {
            bar,
            overall: drawn.overall.clone(),
            started: Instant::now(),
            clock: Arc::clone(&self.clock),
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
    /// When this object started.
    started: Instant,
    clock: Arc<Mutex<Clock>>,
}

impl ObjectProgress for ObjectBar {
    fn advance(&self, bytes: u64) {
        self.bar.inc(bytes);
        self.overall.inc(bytes);
        let size = self.bar.length().unwrap_or(0);
        self.bar
            .set_message(rate(self.bar.position(), size, self.started.elapsed()));
        self.overall
            .set_message(overall_message(&self.overall, &self.clock));
    }

    fn finish(&self, passed: bool) {
        if !passed {
            let name = self.bar.prefix();
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A drill read 695 MiB in 1 s and its bars said 28.6 MiB/s, ETA 5s: the rate must be
    /// the bytes over the time they took.
    #[test]
    fn the_rate_is_the_bytes_over_the_time_they_took() {
        let mib = 1024 * 1024;
        assert_eq!(
            rate(695 * mib, 1390 * mib, Duration::from_secs(1)),
            "695.0 MiB/s ETA 1.0s"
        );
        assert_eq!(
            rate(100 * mib, 700 * mib, Duration::from_secs(2)),
            "50.0 MiB/s ETA 12.0s"
        );
        assert_eq!(rate(0, 10, Duration::from_secs(1)), "- B/s ETA -");
        assert_eq!(rate(10, 10, Duration::from_secs(1)), "10 B/s ETA 0s");
    }

    /// The clocks start when the restores do: time spent before (the lock, the listing)
    /// counts in neither the rate nor the RTO budget.
    #[test]
    fn the_clock_starts_when_the_restores_are_planned() {
        let clock = Mutex::new(Clock::default());
        assert_eq!(clock.lock().unwrap().elapsed(), Duration::ZERO);
        let bar = ProgressBar::hidden();
        bar.set_length(100);
        std::thread::sleep(Duration::from_millis(50));
        *clock.lock().unwrap() = Clock {
            restores: Some(Instant::now()),
            rto: Some(Duration::from_secs(3600)),
        };
        assert!(clock.lock().unwrap().elapsed() < Duration::from_millis(50));
        assert!(
            overall_message(&bar, &clock).ends_with("RTO budget left 59m 59s")
                || overall_message(&bar, &clock).ends_with("RTO budget left 1h")
        );
    }
}
