//! The clock every command reads: now, or `RESTORE_DRILL_NOW` (an RFC 3339 time) when
//! that is set, so tests can make a quarter of history in seconds. A leaf: it knows
//! nothing of runs or the history, which both read it.

use jiff::Timestamp;

/// Now, or `RESTORE_DRILL_NOW` when that is set (an injectable clock).
pub fn now() -> Timestamp {
    match std::env::var("RESTORE_DRILL_NOW") {
        Ok(now) => now.parse::<Timestamp>().unwrap_or_else(|e| {
            tracing::warn!(%now, error = %e, "RESTORE_DRILL_NOW is not an RFC 3339 time; using the clock");
            Timestamp::now()
        }),
        Err(_) => Timestamp::now(),
    }
}
