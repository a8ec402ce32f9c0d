//! The one place that builds a tokio runtime, so every command gets the same settings
//! (I/O and timers enabled) and the choice of threads is made in one word. A leaf: it knows
//! nothing of runs, storage or mail.

use std::io;

/// How many threads a runtime gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threads {
    /// The calling thread only: a few requests (a ping, mail).
    One,
    /// One worker per core: a run's restores and listings.
    Many,
}

/// A runtime with I/O and timers enabled.
pub fn build(threads: Threads) -> io::Result<tokio::runtime::Runtime> {
    let mut builder = match threads {
        Threads::One => tokio::runtime::Builder::new_current_thread(),
        Threads::Many => tokio::runtime::Builder::new_multi_thread(),
    };
    builder.enable_all().build()
}
