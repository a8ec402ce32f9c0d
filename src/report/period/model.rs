//! The period report's model: the figures of one client's period (per-policy stats, failure
//! episodes, drills, the control mapping, the evidence appendix), as plain data with the
//! period parsed from its command-line forms. It exists so that computing the figures
//! ([`super::build`]) and drawing them (the renderers, the charts) meet in one set of types
//! and depend on nothing but it. It must not compute figures from runs nor render anything.

use jiff::Timestamp;
use jiff::ToSpan;
use jiff::civil::Date;
use serde::Serialize;

/// A period, `[from, to)`, as the report names it.
#[derive(Debug, Clone, Serialize)]
pub struct Period {
    pub label: String,
    pub from: Timestamp,
    pub to: Timestamp,
}

/// Why a period given on the command line could not be read. The messages are shown to the
/// user as they are, after `error: `.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PeriodError {
    #[error("`{0}` is not a quarter such as 2026-Q4")]
    NotAQuarter(String),
    #[error("`{0}` is not a date such as 2026-10-01")]
    NotADate(String),
    #[error("--to {to} is before --from {from}")]
    ToBeforeFrom { from: String, to: String },
    /// The day after `--to` is past the last date the calendar holds.
    #[error("{0}")]
    OutOfRange(jiff::Error),
}

impl Period {
    /// `2026-Q4` → 2026-10-01 to 2027-01-01, in UTC.
    pub fn quarter(text: &str) -> Result<Period, PeriodError> {
        let bad = || PeriodError::NotAQuarter(text.to_string());
        let (year, q) = text.split_once(['-', ' ']).ok_or_else(bad)?;
        let year: i16 = year.parse().map_err(|_| bad())?;
        let q: i8 = q
            .trim_start_matches(['Q', 'q'])
            .parse()
            .map_err(|_| bad())?;
        if !(1..=4).contains(&q) {
            return Err(bad());
        }
        let start = Date::new(year, (q - 1) * 3 + 1, 1).map_err(|_| bad())?;
        let end = start.checked_add(3.months()).map_err(|_| bad())?;
        Ok(Period {
            label: format!("{year}-Q{q}"),
            from: utc(start),
            to: utc(end),
        })
    }

    /// `--from 2026-10-01 --to 2026-12-31`: both days included.
    pub fn dates(from: &str, to: &str) -> Result<Period, PeriodError> {
        let parse = |t: &str| {
            t.parse::<Date>()
                .map_err(|_| PeriodError::NotADate(t.to_string()))
        };
        let (start, last) = (parse(from)?, parse(to)?);
        if last < start {
            return Err(PeriodError::ToBeforeFrom {
                from: from.to_string(),
                to: to.to_string(),
            });
        }
        let end = last.checked_add(1.day()).map_err(PeriodError::OutOfRange)?;
        Ok(Period {
            label: format!("{start} to {last}"),
            from: utc(start),
            to: utc(end),
        })
    }
}

fn utc(date: Date) -> Timestamp {
    date.to_zoned(jiff::tz::TimeZone::UTC)
        .map(|z| z.timestamp())
        .unwrap_or_default()
}

/// How one day went for a policy: the strip in the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Day {
    Pass,
    Fail,
    NotRun,
}

#[derive(Debug, Clone, Serialize)]
pub struct PolicyStats {
    pub policy: String,
    /// How the policy dates its sets as configured when the report is made (`name`,
    /// `modified`); null for a policy no longer configured.
    pub dated_by: Option<crate::config::DateSource>,
    pub runs: usize,
    pub passes: usize,
    pub pass_rate: f64,
    pub rpo_target_seconds: f64,
    pub rpo_worst_age_seconds: Option<f64>,
    pub rpo_met_runs: usize,
    pub rto_target_seconds: f64,
    pub rto_measured_worst_seconds: f64,
    pub rto_measured_median_seconds: f64,
    pub rto_projected_worst_seconds: Option<f64>,
    pub rto_projected_median_seconds: Option<f64>,
    pub rto_met_runs: usize,
    /// Runs that met both the RPO and the RTO.
    pub targets_met_runs: usize,
    pub last_pass: Option<Timestamp>,
    /// Days from the last passing verification to the end of the period (or now).
    pub days_since_last_pass: Option<f64>,
    pub days: Vec<(Date, Day)>,
    /// (run start, throughput bytes/s, projected RTO seconds)
    pub series: Vec<(Timestamp, Option<f64>, Option<f64>)>,
}

/// A stretch of failing runs of one policy, until a run passed again.
#[derive(Debug, Clone, Serialize)]
pub struct Incident {
    pub policy: String,
    pub first_seen: Timestamp,
    pub resolved: Option<Timestamp>,
    pub time_to_fix_seconds: Option<f64>,
    pub failing_runs: usize,
    pub kinds: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ControlRow {
    pub control: String,
    pub description: String,
    pub policies: Vec<String>,
    pub runs: usize,
    pub passes: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Evidence {
    pub run_id: String,
    pub kind: String,
    /// For drills: who ran it and who witnessed it.
    pub operator: Option<String>,
    pub witness: Option<String>,
    pub started_at: Timestamp,
    pub content_hash: String,
    pub record_hash: String,
    pub passed: bool,
    /// The run was voided: shown struck through, counted in no figure.
    pub voided: Option<Voided>,
}

/// Who voided a run, when and why, and the client's policies it held.
#[derive(Debug, Clone, Serialize)]
pub struct Voided {
    pub by: String,
    pub at: Timestamp,
    pub reason: String,
    pub policies: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PeriodReport {
    pub client: String,
    pub period: Period,
    pub generated_at: Timestamp,
    /// The history's newest record hash when the report was made.
    pub chain_head: Option<String>,
    pub policies: Vec<PolicyStats>,
    /// Policies that never passed a verification in the period.
    pub never_verified: Vec<String>,
    pub incidents: Vec<Incident>,
    /// Runs of kind `drill` (manual restore drills), voided ones left out.
    pub drills: Vec<Evidence>,
    pub controls: Vec<ControlRow>,
    pub evidence: Vec<Evidence>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarters_and_date_ranges_parse() {
        let q = Period::quarter("2026-Q4").unwrap();
        assert_eq!(
            (q.from.to_string().as_str(), q.to.to_string().as_str()),
            ("2026-10-01T00:00:00Z", "2027-01-01T00:00:00Z")
        );
        assert!(Period::quarter("2026-Q5").is_err());
        let d = Period::dates("2026-10-01", "2026-10-31").unwrap();
        assert_eq!(d.to.to_string(), "2026-11-01T00:00:00Z");
        assert!(Period::dates("2026-10-31", "2026-10-01").is_err());
    }

    #[test]
    fn period_errors_keep_their_messages() {
        let message = |r: Result<Period, PeriodError>| r.unwrap_err().to_string();
        assert_eq!(
            message(Period::quarter("2026-Q5")),
            "`2026-Q5` is not a quarter such as 2026-Q4"
        );
        assert_eq!(
            message(Period::quarter("99999-Q1")),
            "`99999-Q1` is not a quarter such as 2026-Q4"
        );
        assert_eq!(
            message(Period::dates("2026-10-01", "bad")),
            "`bad` is not a date such as 2026-10-01"
        );
        assert_eq!(
            message(Period::dates("2026-10-31", "2026-10-01")),
            "--to 2026-10-01 is before --from 2026-10-31"
        );
        assert!(matches!(
            Period::dates("9999-12-31", "9999-12-31"),
            Err(PeriodError::OutOfRange(_))
        ));
    }
}
