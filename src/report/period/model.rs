//! The period report's model: the figures of one client's period (per-policy stats, failure
//! episodes, drills, the control mapping, the evidence appendix), as plain data with the
//! period parsed from its command-line forms. It exists so that computing the figures
//! ([`super::build`]) and drawing them (the renderers, the charts) meet in one set of types
//! and depend on nothing but it. It must not compute figures from runs nor render anything.

use jiff::Timestamp;
use jiff::ToSpan;
use jiff::civil::Date;
use jiff::tz::TimeZone;
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
    /// `2026-Q4` → 2026-10-01 to 2027-01-01, midnight in `tz`.
    pub fn quarter(text: &str, tz: &TimeZone) -> Result<Period, PeriodError> {
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
            from: midnight(start, tz),
            to: midnight(end, tz),
        })
    }

    /// `--from 2026-10-01 --to 2026-12-31`: both days included, midnight to midnight in `tz`.
    pub fn dates(from: &str, to: &str, tz: &TimeZone) -> Result<Period, PeriodError> {
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
            from: midnight(start, tz),
            to: midnight(end, tz),
        })
    }

    /// The period before this one: the previous quarter for a quarter, else the same number
    /// of days just before. None at the start of the calendar.
    pub fn previous(&self, tz: &TimeZone) -> Option<Period> {
        let first = self.from.to_zoned(tz.clone()).date();
        if let Ok(current) = Period::quarter(&self.label, tz) {
            let start = first.checked_sub(3.months()).ok()?;
            let q = (start.month() - 1) / 3 + 1;
            return Period::quarter(&format!("{}-Q{q}", start.year()), tz)
                .ok()
                .filter(|p| p.to == current.from);
        }
        let last = self.to.to_zoned(tz.clone()).date().yesterday().ok()?;
        let days = first.until(last).ok()?.get_days() as i64;
        let prev_last = first.yesterday().ok()?;
        let prev_first = prev_last.checked_sub(days.days()).ok()?;
        Period::dates(&prev_first.to_string(), &prev_last.to_string(), tz).ok()
    }
}

/// The start of `date` in `tz` (the first instant of the day where a gap skips midnight).
fn midnight(date: Date, tz: &TimeZone) -> Timestamp {
    date.to_zoned(tz.clone())
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

/// What a policy's run showed, in the words the report uses. *Verified* means at least one
/// object was restored and its digest matched, and none failed; the targets are judged
/// beside it, so a run verified but slower than the RTO is `verified_rto_missed`, never
/// "not verified".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Verified, and both targets met: the run passed.
    Verified,
    VerifiedRpoMissed,
    VerifiedRtoMissed,
    VerifiedTargetsMissed,
    /// Objects verified and the targets met, but another finding (a failed validation
    /// command, a set that could not be dated) failed the run.
    VerifiedOtherFindings,
    /// An object failed (not restored, or its digest did not match), or nothing could be
    /// restored at all.
    Failed,
}

impl Verdict {
    /// The label every format shows.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Verified => "verified",
            Verdict::VerifiedRpoMissed => "verified, RPO missed",
            Verdict::VerifiedRtoMissed => "verified, RTO missed",
            Verdict::VerifiedTargetsMissed => "verified, RPO and RTO missed",
            Verdict::VerifiedOtherFindings => "verified, other findings",
            Verdict::Failed => "failed",
        }
    }
}

/// A policy's last non-voided run in the period.
#[derive(Debug, Clone, Serialize)]
pub struct LastRun {
    pub run_id: String,
    pub at: Timestamp,
    pub verdict: Verdict,
    pub label: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct PolicyStats {
    pub policy: String,
    /// The policy's description, as configured when the report is made.
    pub description: Option<String>,
    /// The RACI team responsible for acting on its failures (a team id), as configured.
    pub responsible: Option<String>,
    /// How the policy dates its sets as configured when the report is made (`name`,
    /// `modified`); null for a policy no longer configured.
    pub dated_by: Option<crate::config::DateSource>,
    /// Non-voided runs that included the policy.
    pub runs: usize,
    /// Of those, the runs that passed (verified and both targets met, no finding).
    pub passes: usize,
    /// `passes / runs`; 0 when there was no run.
    pub pass_rate: f64,
    /// Runs in which at least one object was verified and none failed.
    pub verified_runs: usize,
    /// Objects verified (restored, digest matched) over all runs, and objects that failed.
    pub objects_verified: usize,
    pub objects_failed: usize,
    pub last_run: Option<LastRun>,
    pub rpo_target_seconds: f64,
    pub rpo_worst_age_seconds: Option<f64>,
    /// Runs that judged the RPO: every run but drills (a drill restores the set it is
    /// given, not necessarily the newest).
    pub rpo_judged_runs: usize,
    /// Of those, the runs whose newest backup was within the RPO.
    pub rpo_met_runs: usize,
    pub rto_target_seconds: f64,
    pub rto_measured_worst_seconds: f64,
    pub rto_measured_median_seconds: f64,
    pub rto_projected_worst_seconds: Option<f64>,
    pub rto_projected_median_seconds: Option<f64>,
    pub rto_met_runs: usize,
    /// Runs that judged the RPO and met both the RPO and the RTO.
    pub targets_met_runs: usize,
    /// The start of the last run that passed.
    pub last_pass: Option<Timestamp>,
    /// Days from the last passing run to the end of the period (or now).
    pub days_since_last_pass: Option<f64>,
    /// Failure episodes of this policy still open at the end of the period.
    pub open_failures: usize,
    /// Coverage after the policy's last run in the period that recorded it.
    pub coverage: Option<crate::plan::coverage::Coverage>,
    pub days: Vec<(Date, Day)>,
    pub series: Vec<SeriesPoint>,
}

/// One run of a policy, for the charts: backup age against the RPO, restore time measured
/// and projected against the RTO, throughput.
#[derive(Debug, Clone, Serialize)]
pub struct SeriesPoint {
    pub at: Timestamp,
    pub backup_age_seconds: Option<f64>,
    pub rpo_target_seconds: f64,
    pub measured_seconds: Option<f64>,
    pub projected_seconds: Option<f64>,
    pub rto_target_seconds: f64,
    pub throughput_bytes_per_second: Option<f64>,
    /// Bytes restored in the run: a throughput measured over a few KiB is no trend.
    pub restored_bytes: u64,
    /// Share of the retained objects verified within the coverage window after the run.
    pub coverage_share: Option<f64>,
}

/// What a failure episode was about: one object (a corrupt archive, a checksum mismatch),
/// or the policy as a whole (a target missed, a validation failed, storage unreachable).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "scope", rename_all = "snake_case")]
pub enum Subject {
    Object { key: String, set: String },
    Policy,
}

/// How a failure episode stands at the end of the period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EpisodeState {
    /// The same object was later verified clean, or (for a policy-level finding) a later
    /// run met that target.
    Resolved,
    /// The failing object never was verified clean, but a newer set of the policy since
    /// was.
    Superseded,
    Open,
}

impl EpisodeState {
    pub fn label(self) -> &'static str {
        match self {
            EpisodeState::Resolved => "resolved",
            EpisodeState::Superseded => "superseded",
            EpisodeState::Open => "open",
        }
    }
}

/// A failure episode: from the first run that found it to the run that resolved or
/// superseded it (or still open).
#[derive(Debug, Clone, Serialize)]
pub struct Incident {
    pub policy: String,
    pub subject: Subject,
    /// The finding kinds seen in the episode.
    pub kinds: Vec<String>,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    /// Runs that found it.
    pub failing_runs: usize,
    pub state: EpisodeState,
    /// When it was resolved or superseded, and by which run.
    pub ended_at: Option<Timestamp>,
    pub ended_by_run: Option<String>,
    /// For a superseded episode: the newer set that was verified clean.
    pub superseded_by_set: Option<String>,
    /// From first seen to resolution or supersession.
    pub time_to_fix_seconds: Option<f64>,
    /// The RACI team responsible for acting on it.
    pub responsible: Option<String>,
}

/// A manual restore drill of one policy: what was restored and how long it took against
/// the RTO, who ran it and who witnessed it.
#[derive(Debug, Clone, Serialize)]
pub struct DrillRow {
    pub run_id: String,
    pub started_at: Timestamp,
    pub policy: String,
    /// The set restored (the sets, comma-separated, if more than one).
    pub set: Option<String>,
    pub restored_bytes: u64,
    pub files: u64,
    pub wall_seconds: f64,
    pub rto_target_seconds: f64,
    pub rto_met: bool,
    pub verdict: Verdict,
    pub label: &'static str,
    pub operator: Option<String>,
    pub witness: Option<String>,
}

/// The quarter's answer for the client, on the first page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Overall {
    /// Every policy verified, every run within both targets, no failure.
    Good,
    /// Every policy verified and nothing open, but some run missed a target or failed and
    /// was fixed.
    Attention,
    /// A failure is open, or a policy's last run failed or was never verified.
    ActionNeeded,
    /// No run of the client was recorded in the period.
    NoEvidence,
}

impl Overall {
    pub fn label(self) -> &'static str {
        match self {
            Overall::Good => "good",
            Overall::Attention => "attention",
            Overall::ActionNeeded => "action needed",
            Overall::NoEvidence => "no evidence",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub status: Overall,
    pub label: &'static str,
    /// One sentence saying why.
    pub headline: String,
    pub runs: usize,
    pub drills: usize,
    pub open_failures: usize,
    /// Policies with no object verified in the period.
    pub not_verified: Vec<String>,
}

/// Better or worse than the previous period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Better,
    Worse,
    Same,
}

/// One figure of one policy against the previous period of the same length.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub policy: String,
    /// `pass rate`, `runs meeting both targets`, `open failures`.
    pub measure: &'static str,
    pub before: String,
    pub after: String,
    pub direction: Direction,
}

/// The previous period the changes are measured against.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub period: Period,
    pub status: Overall,
    pub changes: Vec<Change>,
}

/// Paper size for printing and the PDF.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Paper {
    #[default]
    A4,
    Letter,
}

/// The MSP's logo, as read from `report.logo`.
#[derive(Debug, Clone, Serialize)]
pub struct Logo {
    /// `image/png`, `image/svg+xml`, `image/jpeg`.
    pub media_type: String,
    /// The file's bytes; not in the JSON (renderers embed them themselves).
    #[serde(skip)]
    pub bytes: Vec<u8>,
}

/// How the report is presented: the zone its times are shown in, the MSP's branding, the
/// paper. Filled by the caller from the `report:` settings; changes no figure.
#[derive(Debug, Clone, Serialize)]
pub struct Presentation {
    /// The IANA name of the zone times are shown in (`Europe/Berlin`, `UTC`).
    pub timezone: String,
    pub msp_name: Option<String>,
    /// `#rrggbb`.
    pub accent: Option<String>,
    pub logo: Option<Logo>,
    pub paper: Paper,
}

impl Default for Presentation {
    fn default() -> Self {
        Presentation {
            timezone: "UTC".into(),
            msp_name: None,
            accent: None,
            logo: None,
            paper: Paper::A4,
        }
    }
}

impl Presentation {
    /// No branding, times in the host's zone (UTC when the host names none).
    pub fn host() -> Presentation {
        let system = jiff::tz::TimeZone::system();
        Presentation {
            timezone: system.iana_name().unwrap_or("UTC").to_string(),
            ..Presentation::default()
        }
    }

    /// The zone, `UTC` when the name is not one jiff knows (settings are checked before).
    pub fn zone(&self) -> jiff::tz::TimeZone {
        jiff::tz::TimeZone::get(&self.timezone).unwrap_or(jiff::tz::TimeZone::UTC)
    }
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
    pub presentation: Presentation,
    /// The first page: the quarter's answer.
    pub summary: Summary,
    /// Against the previous period of the same length; none when nothing was recorded then.
    pub previous: Option<Comparison>,
    pub policies: Vec<PolicyStats>,
    /// Failure episodes that were open at some time in the period, oldest first.
    pub incidents: Vec<Incident>,
    /// One row per policy per manual restore drill, voided ones left out.
    pub drills: Vec<DrillRow>,
    pub controls: Vec<ControlRow>,
    pub evidence: Vec<Evidence>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarters_and_date_ranges_parse() {
        let q = Period::quarter("2026-Q4", &TimeZone::UTC).unwrap();
        assert_eq!(
            (q.from.to_string().as_str(), q.to.to_string().as_str()),
            ("2026-10-01T00:00:00Z", "2027-01-01T00:00:00Z")
        );
        assert!(Period::quarter("2026-Q5", &TimeZone::UTC).is_err());
        let d = Period::dates("2026-10-01", "2026-10-31", &TimeZone::UTC).unwrap();
        assert_eq!(d.to.to_string(), "2026-11-01T00:00:00Z");
        assert!(Period::dates("2026-10-31", "2026-10-01", &TimeZone::UTC).is_err());
    }

    #[test]
    fn the_previous_period_is_the_quarter_or_the_same_days_before() {
        let utc = TimeZone::UTC;
        let q = Period::quarter("2026-Q1", &utc)
            .unwrap()
            .previous(&utc)
            .unwrap();
        assert_eq!(q.label, "2025-Q4");
        assert_eq!(q.to, Period::quarter("2026-Q1", &utc).unwrap().from);
        let d = Period::dates("2026-10-11", "2026-10-20", &utc).unwrap();
        assert_eq!(d.previous(&utc).unwrap().label, "2026-10-01 to 2026-10-10");
        let berlin = TimeZone::get("Europe/Berlin").unwrap();
        let q = Period::quarter("2026-Q4", &berlin).unwrap();
        assert_eq!(q.from.to_string(), "2026-09-30T22:00:00Z");
        assert_eq!(q.to.to_string(), "2026-12-31T23:00:00Z");
    }

    #[test]
    fn period_errors_keep_their_messages() {
        let message = |r: Result<Period, PeriodError>| r.unwrap_err().to_string();
        assert_eq!(
            message(Period::quarter("2026-Q5", &TimeZone::UTC)),
            "`2026-Q5` is not a quarter such as 2026-Q4"
        );
        assert_eq!(
            message(Period::quarter("99999-Q1", &TimeZone::UTC)),
            "`99999-Q1` is not a quarter such as 2026-Q4"
        );
        assert_eq!(
            message(Period::dates("2026-10-01", "bad", &TimeZone::UTC)),
            "`bad` is not a date such as 2026-10-01"
        );
        assert_eq!(
            message(Period::dates("2026-10-31", "2026-10-01", &TimeZone::UTC)),
            "--to 2026-10-01 is before --from 2026-10-31"
        );
        assert!(matches!(
            Period::dates("9999-12-31", "9999-12-31", &TimeZone::UTC),
            Err(PeriodError::OutOfRange(_))
        ));
    }
}
