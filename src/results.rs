//! The results of a run: the data every report renders and `--json` writes. Field names are
//! the documented JSON schema (README, "JSON results"); add fields, never rename them.

use jiff::Timestamp;
use serde::Serialize;

use crate::checksum::Algorithm;
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
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    /// Repeats this run's choice of sets and objects with `--seed`.
    pub seed: u64,
    pub status: Status,
    pub policies: Vec<PolicyResult>,
}

impl RunResult {
    pub fn failed(&self) -> usize {
        self.policies
            .iter()
            .filter(|p| p.status == Status::Fail)
            .count()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PolicyResult {
    pub name: String,
    pub client: String,
    pub description: Option<String>,
    /// The policy file, for people acting on a failure.
    pub file: String,
    pub status: Status,
    /// Every finding of the policy, its objects' included.
    pub findings: Vec<Finding>,
    pub rpo: Rpo,
    pub rto: Rto,
    pub listed_objects: usize,
    pub total_sets: usize,
    pub sets: Vec<SetResult>,
    pub objects: Vec<ObjectResult>,
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
