//! The results of a run: the data every report renders and `--json` writes. Field names are
//! the documented JSON schema (README, "JSON results"); add fields, never rename them.

use jiff::Timestamp;
use serde::Serialize;

use crate::checksum::Algorithm;
use crate::config::Responsibility;
use crate::finding::Finding;
use crate::judge::{Rpo, Rto, Status};
use crate::plan::{DatedBy, Format};

/// Version of the JSON layout below.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    pub schema_version: u32,
    pub run_id: String,
    pub tool_version: String,
    pub host: String,
    /// `scheduled` (no terminal: cron, systemd), `manual` (run by a person at a terminal) or
    /// `drill` (a manual restore drill of whole sets).
    pub kind: RunKind,
    /// Who ran a drill, and who witnessed it; null for other runs.
    pub operator: Option<String>,
    pub witness: Option<String>,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    /// Repeats this run's choice of sets and objects with `--seed`.
    pub seed: u64,
    pub status: Status,
    pub policies: Vec<PolicyResult>,
    /// The history's chain head once this run was recorded: a copy of it kept outside the
    /// database (artifacts, mail), absent until the run is recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history_head: Option<HistoryHead>,
    /// Findings about the runner's host, not any policy (`untrusted_run_marker`): they fail
    /// no policy.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub host_findings: Vec<Finding>,
}

/// A head of the history's hash chain, as the checkpoint file, the run's JSON and its mail
/// keep it: `history verify --against` checks that the history still holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct HistoryHead {
    /// How many records (runs and corrections) the chain held with this one newest: its
    /// position, counted from 1.
    pub records: u64,
    /// The newest record's hash.
    pub hash: String,
    /// The run the newest record is (or is about); empty for a record of signing.
    pub run_id: String,
    /// When the head was written (UTC, the history's stored form).
    pub at: String,
    /// The public key that signed the head (64 hex digits); absent without a signing key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The signature over [`HistoryHead::payload`]; absent without a signing key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

impl HistoryHead {
    /// The bytes the signature covers.
    pub fn payload(&self) -> String {
        format!(
            "restore-drill history head\n{}\n{}\n{}\n{}",
            self.records, self.hash, self.run_id, self.at
        )
    }

    /// `#12 3f1c…` in full: what a person pastes into `history verify --against`.
    pub fn label(&self) -> String {
        format!("#{} {}", self.records, self.hash)
    }
}

impl RunResult {
    pub fn failed(&self) -> usize {
        self.policies
            .iter()
            .filter(|p| p.status == Status::Fail)
            .count()
    }

    /// The verdict over the policies, in the words of the summary, the report's title and
    /// mail subjects: `PASSED 3 of 3`, `FAILED 1 of 3`.
    pub fn verdict(&self) -> String {
        let (failed, total) = (self.failed(), self.policies.len());
        if failed == 0 {
            format!("PASSED {total} of {total}")
        } else {
            format!("FAILED {failed} of {total}")
        }
    }
}

/// How a run was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    Scheduled,
    Manual,
    Drill,
}

impl RunKind {
    /// A person at a terminal, or a scheduler.
    pub fn detect() -> RunKind {
        use std::io::IsTerminal;
        if std::io::stdin().is_terminal() || std::io::stderr().is_terminal() {
            RunKind::Manual
        } else {
            RunKind::Scheduled
        }
    }

    /// The word used in mail subjects.
    pub fn label(self) -> &'static str {
        match self {
            RunKind::Scheduled => "nightly",
            RunKind::Manual => "manual run",
            RunKind::Drill => "restore drill",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PolicyResult {
    pub name: String,
    pub client: String,
    pub description: Option<String>,
    /// The policy file, for people acting on a failure.
    pub file: String,
    /// Who acts on a failure, who owns the system, who is told (team ids).
    pub responsibility: Responsibility,
    pub status: Status,
    /// Every finding of the policy, its objects' included.
    pub findings: Vec<Finding>,
    pub rpo: Rpo,
    pub rto: Rto,
    pub listed_objects: usize,
    pub total_sets: usize,
    pub sets: Vec<SetResult>,
    pub objects: Vec<ObjectResult>,
    /// Coverage after this run; none when the policy could not be listed.
    pub coverage: Option<crate::plan::coverage::Coverage>,
    /// What this run's listing changes in the history's ledger (recorded, not in the JSON).
    #[serde(skip)]
    pub ledger_changes: Vec<crate::plan::coverage::LedgerChange>,
}

impl PolicyResult {
    /// False for an entry that was never run (an invalid policy file): its RPO and RTO,
    /// targets included, are unknown, and are shown as `-`, never as a figure.
    pub fn judged(&self) -> bool {
        !self
            .findings
            .iter()
            .any(|f| f.kind == crate::finding::FindingKind::InvalidPolicy)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SetResult {
    pub name: String,
    pub date: Option<Timestamp>,
    pub dated_by: DatedBy,
    pub newest: bool,
    pub total_objects: usize,
    pub total_bytes: u64,
    pub sampled_objects: usize,
    /// Objects left out by `sample.max_bytes`.
    pub capped_objects: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct ObjectResult {
    pub key: String,
    /// What makes it this object: its ETag, or size and modification time. A re-uploaded
    /// object has a new one.
    pub identity: Option<String>,
    pub set: String,
    pub format: Format,
    pub stored_bytes: u64,
    pub restored_bytes: u64,
    pub files: u64,
    pub digest: Digest,
    pub seconds: f64,
    pub status: Status,
}

/// The stored object's digest: expected (from a sidecar or manifest) and computed.
#[derive(Debug, Clone, Serialize)]
pub struct Digest {
    pub algorithm: Algorithm,
    pub expected: Option<String>,
    pub actual: Option<String>,
    /// The checksum file the expectation came from.
    pub source: Option<String>,
}

/// A run of two clients, one failure, with fixed times: for rendering tests.
#[cfg(test)]
pub(crate) mod sample {
    use super::*;
    use crate::finding::{Finding, FindingKind};
    use crate::judge::{Rpo, Rto};

    fn policy(name: &str, client: &str, team: &str, findings: Vec<Finding>) -> PolicyResult {
        let stamp: Timestamp = "2026-11-25T23:00:00Z".parse().unwrap();
        PolicyResult {
            coverage: None,
            ledger_changes: Vec::new(),
            name: name.into(),
            client: client.into(),
            description: None,
            file: format!("/etc/restore-drill/{name}.yaml"),
            responsibility: Responsibility {
                responsible: Some("msp".into()),
                accountable: Some(team.into()),
                informed: vec![team.into(), "msp".into()],
            },
            status: Status::of(&findings),
            findings,
            rpo: Rpo {
                target_seconds: 26.0 * 3600.0,
                dated_by: crate::config::DateSource::Name,
                newest_set: Some("2026-11-25".into()),
                newest_date: Some(stamp),
                age_seconds: Some(9.5 * 3600.0),
                met: true,
            },
            rto: Rto {
                target_seconds: 4.0 * 3600.0,
                measured_seconds: 12.5,
                sampled_bytes: 3 << 30,
                throughput_bytes_per_second: Some(250.0 * 1024.0 * 1024.0),
                overhead_seconds_per_object: Some(0.2),
                newest_set_bytes: 40 << 30,
                newest_set_objects: 12,
                projected_seconds: Some(166.2),
                met: true,
            },
            listed_objects: 40,
            total_sets: 10,
            sets: vec![SetResult {
                name: "2026-11-25".into(),
                date: Some(stamp),
                dated_by: DatedBy::Name,
                newest: true,
                total_objects: 12,
                total_bytes: 40 << 30,
                sampled_objects: 1,
                capped_objects: 0,
            }],
            objects: vec![ObjectResult {
                identity: None,
                key: format!("{name}/2026-11-25/home.tar.zst"),
                set: "2026-11-25".into(),
                format: Format::TarZstd,
                stored_bytes: 3 << 30,
                restored_bytes: 5 << 30,
                files: 1200,
                digest: Digest {
                    algorithm: Algorithm::Sha256,
                    expected: None,
                    actual: None,
                    source: None,
                },
                seconds: 12.5,
                status: Status::Pass,
            }],
        }
    }

    pub(crate) fn run() -> RunResult {
        let mismatch = Finding::new(
            FindingKind::ChecksumMismatch,
            Some("acme-files/2026-11-25/home.tar.zst"),
            "sha256 expected 00…, restored 11…",
        );
        RunResult {
            schema_version: SCHEMA_VERSION,
            run_id: "20261126T020000Z-abcd".into(),
            tool_version: "0.1.0".into(),
            host: "backup-host".into(),
            kind: RunKind::Scheduled,
            operator: None,
            witness: None,
            started_at: "2026-11-26T02:00:00Z".parse().unwrap(),
            finished_at: "2026-11-26T02:01:00Z".parse().unwrap(),
            seed: 42,
            status: Status::Fail,
            policies: vec![
                policy("acme-db", "Acme Dental", "acme-it", vec![]),
                policy("acme-files", "Acme Dental", "acme-it", vec![mismatch]),
                policy(
                    "bright-mail",
                    "Bright Smile Orthodontics",
                    "bright-it",
                    vec![],
                ),
            ],
            history_head: None,
            host_findings: Vec::new(),
        }
    }
}
