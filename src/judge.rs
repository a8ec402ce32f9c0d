//! The `judge` stage: RPO and RTO against the policy's targets, and the verdict. Pure: it
//! takes the plan's facts and the measured timings and returns judgements and findings.
//!
//! RPO: the age of the newest set at the start of the run, dated as the policy says
//! (`backups.dated_by`). A newest set with no date, or dated more than [`CLOCK_SKEW`] after
//! the start, is a finding: no RPO is met on an age that is not known.
//! RTO: the sample's wall time is measured; the full restore of the newest set is projected
//! as its stored bytes at the measured single-stream throughput plus, per object, the
//! measured time to first byte. A single stream is assumed, which errs on the safe side.

use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;

use crate::config::units::{format_bytes, format_duration};
use crate::config::{DateSource, Targets};
use crate::finding::{Finding, FindingKind};

/// How far after the run's start a newest set may be dated and still count as just made
/// (age zero): clocks of hosts and storage disagree by seconds, not by minutes.
pub const CLOCK_SKEW: Duration = Duration::from_secs(300);

/// Transfers shorter than this are not timed precisely enough to give a throughput.
const MIN_TRANSFER: Duration = Duration::from_millis(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    Fail,
    /// The run was stopped (SIGINT, SIGTERM) before it finished.
    Interrupted,
}

impl Status {
    pub fn of(findings: &[Finding]) -> Status {
        if findings.is_empty() {
            Status::Pass
        } else {
            Status::Fail
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Interrupted => "interrupted",
        }
    }
}

/// The recovery point: how old the newest backup was.
#[derive(Debug, Clone, Serialize)]
pub struct Rpo {
    pub target_seconds: f64,
    /// How the policy dates its sets: `name`, or `modified` (upload time).
    pub dated_by: DateSource,
    pub newest_set: Option<String>,
    pub newest_date: Option<Timestamp>,
    /// Age of the newest set at the start of the run; null when it could not be dated;
    /// negative when it is dated after the start.
    pub age_seconds: Option<f64>,
    pub met: bool,
}

/// The recovery time: measured on the sample, projected for the newest set.
#[derive(Debug, Clone, Serialize)]
pub struct Rto {
    pub target_seconds: f64,
    /// Wall time of the sample's restores, first start to last end.
    pub measured_seconds: f64,
    pub sampled_bytes: u64,
    /// Stored bytes per second of one stream, over the objects restored whole.
    pub throughput_bytes_per_second: Option<f64>,
    /// Mean time to first byte per object.
    pub overhead_seconds_per_object: Option<f64>,
    pub newest_set_bytes: u64,
    pub newest_set_objects: usize,
    /// Projected full restore of the newest set; null without a measured throughput.
    pub projected_seconds: Option<f64>,
    pub met: bool,
}

/// One restored object's timing, as the judge needs it.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub stored_bytes: u64,
    pub elapsed: Duration,
    pub first_byte: Duration,
}

pub fn judge_rpo(
    targets: &Targets,
    dated_by: DateSource,
    newest: Option<(&str, Option<Timestamp>)>,
    started: Timestamp,
) -> (Rpo, Option<Finding>) {
    let target = targets.rpo.as_secs_f64();
    let (name, date) = match newest {
        Some((name, date)) => (Some(name.to_string()), date),
        None => (None, None),
    };
    let skew = CLOCK_SKEW.as_secs_f64();
    let age = date.map(|d| {
        let age = started.duration_since(d).as_secs_f64();
        if (-skew..0.0).contains(&age) {
            0.0
        } else {
            age
        }
    });
    let finding = match (&name, age) {
        (None, _) => None, // no_backups_found is reported by the plan
        (Some(set), None) => Some(Finding::new(
            FindingKind::RpoExceeded,
            None,
            match dated_by {
                DateSource::Name => format!(
                    "the newest set `{set}` has no date: its name does not match backups.date_format"
                ),
                DateSource::Modified => format!(
                    "the newest set `{set}` has no date: the storage reports no upload times; set backups.date_format to date sets by name"
                ),
                DateSource::Snapshot => format!(
                    "the newest snapshot `{set}` has no time: the repository's snapshot file is damaged"
                ),
            },
        )),
        (Some(set), Some(age)) if age < 0.0 => Some(Finding::new(
            FindingKind::FutureDatedBackup,
            None,
            format!(
                "the newest set `{set}` is dated {} ({}) after the run started, so its age is not known: {}",
                format_duration(Duration::from_secs_f64(-age)),
                date.map_or_else(String::new, |d| d
                    .strftime("%Y-%m-%d %H:%M UTC")
                    .to_string()),
                match dated_by {
                    DateSource::Name =>
                        "check the host's clock and the time zone the names are written in (a name without an offset is read in the host's zone)",
                    DateSource::Modified => "check the host's clock against the storage's",
                    DateSource::Snapshot =>
                        "check the host's clock against the clock of the host that made the snapshot",
                }
            ),
        )),
        (Some(set), Some(age)) if age > target => Some(Finding::new(
            FindingKind::RpoExceeded,
            None,
            format!(
                "the newest set `{set}` is {} old, more than the RPO of {}",
                format_duration(Duration::from_secs_f64(age)),
                format_duration(targets.rpo)
            ),
        )),
        _ => None,
    };
    let rpo = Rpo {
        target_seconds: target,
        dated_by,
        newest_set: name,
        newest_date: date,
        age_seconds: age,
        met: finding.is_none() && age.is_some(),
    };
    (rpo, finding)
}

pub fn judge_rto(
    targets: &Targets,
    timings: &[Timing],
    measured: Duration,
    newest_set_bytes: u64,
    newest_set_objects: usize,
) -> (Rto, Option<Finding>) {
    let target = targets.rto.as_secs_f64();
    let sampled_bytes: u64 = timings.iter().map(|t| t.stored_bytes).sum();
    let transfer: f64 = timings
        .iter()
        .map(|t| {
            t.elapsed
                .saturating_sub(t.first_byte)
                .max(MIN_TRANSFER)
                .as_secs_f64()
        })
        .sum();
    let throughput =
        (!timings.is_empty() && sampled_bytes > 0).then(|| sampled_bytes as f64 / transfer);
    let overhead = (!timings.is_empty()).then(|| {
        timings
            .iter()
            .map(|t| t.first_byte.as_secs_f64())
            .sum::<f64>()
            / timings.len() as f64
    });
    let projected = match (throughput, overhead) {
        (Some(rate), Some(per_object)) => {
            Some(newest_set_bytes as f64 / rate + per_object * newest_set_objects as f64)
        }
        _ => None,
    };
    let measured_seconds = measured.as_secs_f64();
    let finding = if projected.is_none() && newest_set_objects > 0 {
        Some(Finding::new(
            FindingKind::RtoUnmeasured,
            None,
            format!(
                "no object of the sample was restored whole, so no restore time was measured against the RTO of {}",
                format_duration(targets.rto)
            ),
        ))
    } else if measured_seconds > target {
        Some(Finding::new(
            FindingKind::RtoExceeded,
            None,
            format!(
                "restoring the sample alone took {}, more than the RTO of {}",
                format_duration(measured),
                format_duration(targets.rto)
            ),
        ))
    } else {
        projected.filter(|&p| p > target).map(|p| {
            Finding::new(
                FindingKind::RtoExceeded,
                None,
                format!(
                    "a full restore of the newest set ({}) is projected at {}, more than the RTO of {}",
                    format_bytes(newest_set_bytes),
                    format_duration(Duration::from_secs_f64(p)),
                    format_duration(targets.rto)
                ),
            )
        })
    };
    let rto = Rto {
        target_seconds: target,
        measured_seconds,
        sampled_bytes,
        throughput_bytes_per_second: throughput,
        overhead_seconds_per_object: overhead,
        newest_set_bytes,
        newest_set_objects,
        projected_seconds: projected,
        met: finding.is_none() && projected.is_some(),
    };
    (rto, finding)
}

/// A drill's RTO: the whole set `set` was restored, so the measured time is judged (the
/// projection, made for samples, is not needed).
/// A drill restored the whole set: its measured time is the full restore, judged against
/// the RTO, and it replaces the projection from one stream's throughput (which, with the
/// restores run side by side, says more than was measured). `restored`: any object of the
/// set was restored (none: nothing was timed, and nothing is projected or met).
pub fn judge_drill_rto(
    rto: Rto,
    targets: &Targets,
    set: &str,
    measured: Duration,
    restored: bool,
) -> (Rto, Option<Finding>) {
    let finding = (measured > targets.rto).then(|| {
        Finding::new(
            FindingKind::RtoExceeded,
            None,
            format!(
                "restoring the whole set `{set}` took {}, more than the RTO of {}",
                format_duration(measured),
                format_duration(targets.rto)
            ),
        )
    });
    let projected = restored.then_some(measured.as_secs_f64());
    let rto = Rto {
        projected_seconds: projected,
        met: finding.is_none() && projected.is_some(),
        ..rto
    };
    (rto, finding)
}

/// Coverage against `sample.coverage`: objects retained longer than the target and not
/// verified within it are a `coverage_gap`, naming how many, their bytes, the most overdue
/// and the rotation the budget allows. None without a target or without a gap.
pub fn judge_coverage(coverage: &crate::plan::coverage::Coverage) -> Option<Finding> {
    let target = coverage.target_days?;
    if coverage.overdue_objects == 0 {
        return None;
    }
    let days = crate::config::units::format_days;
    let oldest = match (&coverage.oldest_verification, &coverage.oldest_verified_key) {
        (Some(at), Some(key)) => format!("; the oldest verification is of `{key}`, {at}"),
        _ => String::new(),
    };
    let rotation = match coverage.projected_rotation_days {
        Some(r) if r > target => format!(
            "; at this run's budget a full rotation takes {}, longer than the target: raise sample.max_bytes or run more often",
            days(r)
        ),
        Some(r) => format!("; at this run's budget a full rotation takes {}", days(r)),
        None => "; this run's budget leaves nothing beyond the newest set: raise sample.max_bytes"
            .to_string(),
    };
    Some(Finding::new(
        FindingKind::CoverageGap,
        coverage.most_overdue_key.as_deref(),
        format!(
            "{} of {} retained objects ({} of {}) were not verified within the coverage target of {}{oldest}{rotation}",
            coverage.overdue_objects,
            coverage.retained_objects,
            format_bytes(coverage.overdue_bytes),
            format_bytes(coverage.retained_bytes),
            days(target),
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets(rpo_h: u64, rto_s: u64) -> Targets {
        Targets {
            rpo: Duration::from_secs(rpo_h * 3600),
            rto: Duration::from_secs(rto_s),
        }
    }

    #[test]
    fn rpo_fails_when_the_newest_set_is_too_old() {
        let now: Timestamp = "2026-11-26T12:00:00Z".parse().unwrap();
        let fresh: Timestamp = "2026-11-26T01:00:00Z".parse().unwrap();
        let stale: Timestamp = "2026-11-20T01:00:00Z".parse().unwrap();
        let (rpo, finding) = judge_rpo(
            &targets(26, 60),
            DateSource::Name,
            Some(("a", Some(fresh))),
            now,
        );
        assert!(rpo.met && finding.is_none());
        assert_eq!(rpo.age_seconds, Some(11.0 * 3600.0));
        let (rpo, finding) = judge_rpo(
            &targets(26, 60),
            DateSource::Name,
            Some(("b", Some(stale))),
            now,
        );
        assert!(!rpo.met);
        assert_eq!(finding.unwrap().kind, FindingKind::RpoExceeded);
    }

    #[test]
    fn a_future_dated_newest_set_is_a_finding_beyond_the_clock_skew() {
        let now: Timestamp = "2026-11-26T12:00:00Z".parse().unwrap();
        let skewed: Timestamp = "2026-11-26T12:04:00Z".parse().unwrap();
        let future: Timestamp = "2026-11-27T00:00:00Z".parse().unwrap();
        let (rpo, finding) = judge_rpo(
            &targets(26, 60),
            DateSource::Modified,
            Some(("a", Some(skewed))),
            now,
        );
        assert!(rpo.met && finding.is_none());
        assert_eq!(rpo.age_seconds, Some(0.0));
        let (rpo, finding) = judge_rpo(
            &targets(26, 60),
            DateSource::Name,
            Some(("b", Some(future))),
            now,
        );
        assert!(!rpo.met);
        assert_eq!(rpo.age_seconds, Some(-12.0 * 3600.0));
        let finding = finding.unwrap();
        assert_eq!(finding.kind, FindingKind::FutureDatedBackup);
        assert!(finding.message.contains("time zone"), "{}", finding.message);
    }

    #[test]
    fn an_undated_newest_set_never_meets_the_rpo() {
        let now: Timestamp = "2026-11-26T12:00:00Z".parse().unwrap();
        let (rpo, finding) = judge_rpo(&targets(26, 60), DateSource::Name, Some(("x", None)), now);
        assert!(!rpo.met);
        assert!(finding.unwrap().message.contains("date_format"));
    }

    #[test]
    fn rto_projects_the_newest_set_from_the_sample() {
        // 100 MB in 1 s of transfer plus 0.5 s to first byte: 100 MB/s, 0.5 s per object.
        let timing = Timing {
            stored_bytes: 100_000_000,
            elapsed: Duration::from_millis(1500),
            first_byte: Duration::from_millis(500),
        };
        let (rto, finding) = judge_rto(
            &targets(1, 60),
            &[timing],
            Duration::from_millis(1500),
            1_000_000_000,
            10,
        );
        assert_eq!(rto.throughput_bytes_per_second, Some(100_000_000.0));
        assert_eq!(rto.projected_seconds, Some(15.0));
        assert!(rto.met && finding.is_none());
        let (rto, finding) = judge_rto(
            &targets(1, 12),
            &[timing],
            Duration::from_millis(1500),
            1_000_000_000,
            10,
        );
        assert!(!rto.met);
        assert!(finding.unwrap().message.contains("projected"));
    }

    #[test]
    fn rto_without_measurements_projects_nothing() {
        let (rto, finding) = judge_rto(&targets(1, 60), &[], Duration::ZERO, 10, 1);
        assert_eq!(rto.projected_seconds, None);
        assert!(!rto.met);
        assert_eq!(finding.unwrap().kind, FindingKind::RtoUnmeasured);
        // Nothing planned (no backups found, reported by the plan): nothing more to say.
        let (_, finding) = judge_rto(&targets(1, 60), &[], Duration::ZERO, 0, 0);
        assert!(finding.is_none());
    }

    /// A drill's finding says what was measured: the whole set's restore, not a sample;
    /// and its projection and verdict are that measurement, not one stream's throughput.
    #[test]
    fn a_drill_over_its_rto_says_the_whole_set_took_that_long() {
        let t = targets(1, 60);
        // One stream's throughput projects 190 s; four restores side by side took 40 s.
        let sample = |projected| Rto {
            projected_seconds: Some(projected),
            met: false,
            ..judge_rto(&t, &[], Duration::ZERO, 0, 0).0
        };
        let (rto, f) = judge_drill_rto(sample(190.0), &t, "s", Duration::from_secs(40), true);
        assert!(f.is_none());
        assert_eq!((rto.projected_seconds, rto.met), (Some(40.0), true));
        let (rto, f) = judge_drill_rto(
            sample(30.0),
            &t,
            "2026-11-25",
            Duration::from_secs(90),
            true,
        );
        let f = f.unwrap();
        assert_eq!(f.kind, FindingKind::RtoExceeded);
        assert_eq!(
            f.message,
            "restoring the whole set `2026-11-25` took 1m 30s, more than the RTO of 1m"
        );
        assert_eq!((rto.projected_seconds, rto.met), (Some(90.0), false));
        // Nothing restored: nothing projected, nothing met.
        let (rto, f) = judge_drill_rto(sample(30.0), &t, "s", Duration::ZERO, false);
        assert!(f.is_none());
        assert_eq!((rto.projected_seconds, rto.met), (None, false));
    }
}
