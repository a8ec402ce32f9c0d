//! Schedules: a policy's 5-field cron expression in its time zone, and when it is due.
//! Pure: the clock and the last recorded run are inputs. A policy is due when a slot of its
//! schedule has come since its last recorded run (a missed slot is caught up once, however
//! many were missed), and a policy never run is due. Daylight-saving changes follow croner:
//! a slot in a skipped hour runs at the first valid time after it; a repeated hour runs once.

use croner::Cron;
use croner::parser::{CronParser, Seconds};
use jiff::Timestamp;
use jiff::tz::TimeZone;

/// A validated schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub expression: String,
    pub cron: Cron,
    pub tz: TimeZone,
    /// The IANA name, or `local` for the host's zone.
    pub tz_name: String,
}

impl Schedule {
    /// Parses a standard 5-field cron expression and an optional IANA time zone name.
    pub fn parse(expression: &str, timezone: Option<&str>) -> Result<Schedule, (String, String)> {
        let cron = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .build()
            .parse(expression.trim())
            .map_err(|e| {
                (
                    "schedule".to_string(),
                    format!("invalid cron expression `{expression}`: {e} (five fields: minute hour day-of-month month day-of-week)"),
                )
            })?;
        let (tz, tz_name) = match timezone {
            Some(name) => (
                TimeZone::get(name).map_err(|_| {
                    ("timezone".to_string(), format!("unknown time zone `{name}`: expected an IANA name such as Europe/Berlin"))
                })?,
                name.to_string(),
            ),
            None => (TimeZone::system(), "local".to_string()),
        };
        Ok(Schedule {
            expression: expression.trim().to_string(),
            cron,
            tz,
            tz_name,
        })
    }

    /// The latest slot at or before `now`.
    pub fn previous_slot(&self, now: Timestamp) -> Option<Timestamp> {
        let zoned = now.to_zoned(self.tz.clone());
        self.cron
            .find_previous_occurrence(&zoned, true)
            .ok()
            .map(|z| z.timestamp())
    }

    /// The first slot after `now`.
    pub fn next_slot(&self, now: Timestamp) -> Option<Timestamp> {
        let zoned = now.to_zoned(self.tz.clone());
        self.cron
            .find_next_occurrence(&zoned, false)
            .ok()
            .map(|z| z.timestamp())
    }

    /// True when a slot has come since `last_run` (or there was never a run).
    pub fn is_due(&self, last_run: Option<Timestamp>, now: Timestamp) -> bool {
        match (last_run, self.previous_slot(now)) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(last), Some(slot)) => last < slot,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn daily_schedule_is_due_once_after_its_slot() {
        let s = Schedule::parse("0 2 * * *", Some("UTC")).unwrap();
        let last = ts("2026-11-25T02:00:30Z");
        assert!(!s.is_due(Some(last), ts("2026-11-26T01:59:00Z")));
        assert!(s.is_due(Some(last), ts("2026-11-26T02:00:00Z")));
        assert!(s.is_due(Some(last), ts("2026-11-26T02:14:00Z")));
        // Run at 02:15: not due again until tomorrow.
        assert!(!s.is_due(Some(ts("2026-11-26T02:15:00Z")), ts("2026-11-26T23:59:00Z")));
        assert_eq!(
            s.next_slot(ts("2026-11-26T02:15:00Z")),
            Some(ts("2026-11-27T02:00:00Z"))
        );
    }

    #[test]
    fn missed_slots_are_caught_up_once() {
        let s = Schedule::parse("0 2 * * *", Some("UTC")).unwrap();
        // Three nights missed: due now, and after one run not due again.
        assert!(s.is_due(Some(ts("2026-11-20T02:05:00Z")), ts("2026-11-23T09:00:00Z")));
        assert!(!s.is_due(Some(ts("2026-11-23T09:00:10Z")), ts("2026-11-23T09:15:00Z")));
    }

    #[test]
    fn never_run_is_due() {
        let s = Schedule::parse("0 2 * * *", None).unwrap();
        assert!(s.is_due(None, ts("2026-11-26T12:00:00Z")));
    }

    #[test]
    fn weekday_only_skips_the_weekend() {
        let s = Schedule::parse("30 1 * * 1-5", Some("UTC")).unwrap();
        // Friday 2026-11-27 01:30 ran; Saturday and Sunday have no slot.
        let friday = ts("2026-11-27T01:31:00Z");
        assert!(!s.is_due(Some(friday), ts("2026-11-29T23:00:00Z")));
        assert!(s.is_due(Some(friday), ts("2026-11-30T01:30:00Z")));
        assert_eq!(s.next_slot(friday), Some(ts("2026-11-30T01:30:00Z")));
    }

    #[test]
    fn hourly_schedule() {
        let s = Schedule::parse("0 * * * *", Some("UTC")).unwrap();
        assert!(!s.is_due(Some(ts("2026-11-26T10:00:05Z")), ts("2026-11-26T10:59:59Z")));
        assert!(s.is_due(Some(ts("2026-11-26T10:00:05Z")), ts("2026-11-26T11:00:00Z")));
    }

    #[test]
    fn time_zones_shift_slots_around_midnight() {
        // 00:30 in Auckland (UTC+13 in November) is 11:30 UTC the day before.
        let s = Schedule::parse("30 0 * * *", Some("Pacific/Auckland")).unwrap();
        assert_eq!(
            s.previous_slot(ts("2026-11-26T12:00:00Z")),
            Some(ts("2026-11-26T11:30:00Z"))
        );
        assert!(s.is_due(Some(ts("2026-11-25T11:31:00Z")), ts("2026-11-26T11:30:00Z")));
        assert!(!s.is_due(Some(ts("2026-11-25T11:31:00Z")), ts("2026-11-26T11:29:00Z")));
    }

    #[test]
    fn daylight_saving_changes_run_each_night_once() {
        // Berlin springs forward on 2026-03-29 (02:00 → 03:00): the 02:30 slot still runs
        // that night, once, at the first valid time.
        let s = Schedule::parse("30 2 * * *", Some("Europe/Berlin")).unwrap();
        let before = ts("2026-03-28T01:31:00Z"); // 02:31 CET on the 28th
        let slot = s.next_slot(before).unwrap();
        assert!(
            slot > ts("2026-03-28T23:00:00Z") && slot <= ts("2026-03-29T02:00:00Z"),
            "{slot}"
        );
        assert!(!s.is_due(Some(before), ts("2026-03-28T23:59:00Z")));
        assert!(s.is_due(Some(before), ts("2026-03-29T06:00:00Z")));
        // It falls back on 2026-10-25 (03:00 → 02:00): 02:30 happens twice, one run is due.
        let run = ts("2026-10-25T00:31:00Z"); // after the first 02:30 CEST
        let next = s.next_slot(run).unwrap();
        assert!(!s.is_due(
            Some(next + jiff::SignedDuration::from_secs(60)),
            ts("2026-10-25T12:00:00Z")
        ));
    }

    #[test]
    fn bad_expressions_and_zones_are_named() {
        assert_eq!(Schedule::parse("0 2 * *", None).unwrap_err().0, "schedule");
        assert_eq!(
            Schedule::parse("0 0 2 * * *", None).unwrap_err().0,
            "schedule"
        );
        assert_eq!(
            Schedule::parse("0 2 * * *", Some("Mars/Olympus"))
                .unwrap_err()
                .0,
            "timezone"
        );
    }
}
