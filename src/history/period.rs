//! The recorded runs of a period as the period report reads them: each run's policy
//! results with their findings and restored objects, and the run's voiding. It exists to
//! keep the report's one read of the history in one place; it must not compute figures.

use rusqlite::params;

use super::corrections::Correction;
use super::{History, HistoryError, corrections, db_time};

#[derive(Debug, Clone)]
pub struct StoredRun {
    pub run_id: String,
    pub kind: String,
    pub operator: Option<String>,
    pub witness: Option<String>,
    pub started_at: jiff::Timestamp,
    pub record_hash: String,
    pub content_hash: String,
    pub policies: Vec<StoredPolicy>,
    /// The run's voiding: it is left out of every figure.
    pub voided: Option<Correction>,
}

#[derive(Debug, Clone)]
pub struct StoredPolicy {
    pub policy: String,
    pub client: String,
    pub passed: bool,
    pub rpo_target_seconds: f64,
    pub rpo_age_seconds: Option<f64>,
    pub rto_target_seconds: f64,
    pub rto_measured_seconds: f64,
    pub rto_projected_seconds: Option<f64>,
    pub throughput_bytes_per_second: Option<f64>,
    /// The newest set in storage when the run listed it.
    pub newest_set: Option<String>,
    /// (kind, object, message)
    pub findings: Vec<(String, Option<String>, String)>,
    /// The objects restored, in key order.
    pub objects: Vec<StoredObject>,
    /// Coverage after the run, as recorded (runs before the ledger have none).
    pub coverage: Option<crate::plan::coverage::Coverage>,
}

/// One object a run restored: its set, what was restored, and whether it was verified
/// (restored and its digest matched: the object's status was `pass`).
#[derive(Debug, Clone)]
pub struct StoredObject {
    pub key: String,
    pub set: String,
    pub restored_bytes: u64,
    pub files: u64,
    pub seconds: f64,
    pub verified: bool,
}

/// A recorded coverage; one that does not read back is left out (the history's own rows,
/// checked by `history verify`; never a figure made up).
fn coverage(json: Option<String>) -> Option<crate::plan::coverage::Coverage> {
    json.and_then(|j| serde_json::from_str(&j).ok())
}

impl History {
    /// Runs started in `[from, to)`, oldest first, with the policy results of `client`
    /// (all clients when `None`); runs without a policy of `client` are left out.
    pub fn period(
        &self,
        from: jiff::Timestamp,
        to: jiff::Timestamp,
        client: Option<&str>,
    ) -> Result<Vec<StoredRun>, HistoryError> {
        let sql = self.sql();
        let mut runs_stmt = self
            .conn
            .prepare(
                "SELECT seq, run_id, kind, started_at, record_hash, content_hash, operator, witness FROM runs
                 WHERE started_at >= ?1 AND started_at < ?2 ORDER BY seq",
            )
            .map_err(&sql)?;
        let runs: Vec<(i64, StoredRun)> = runs_stmt
            .query_map(params![db_time(from), db_time(to)], |r| {
                Ok((
                    r.get(0)?,
                    StoredRun {
                        run_id: r.get(1)?,
                        kind: r.get(2)?,
                        started_at: r.get::<_, String>(3)?.parse().unwrap_or_default(),
                        record_hash: r.get(4)?,
                        content_hash: r.get(5)?,
                        operator: r.get(6)?,
                        witness: r.get(7)?,
                        policies: Vec::new(),
                        voided: None,
                    },
                ))
            })
            .map_err(&sql)?
            .collect::<Result<_, _>>()
            .map_err(&sql)?;
        let mut out = Vec::new();
        for (seq, mut run) in runs {
            run.policies = self.policies_of(seq, client).map_err(&sql)?;
            if run.policies.is_empty() {
                continue;
            }
            run.voided = corrections::voiding(&self.conn, &run.run_id).map_err(&sql)?;
            out.push(run);
        }
        Ok(out)
    }

    /// The policy results of run `seq` (of `client` only, when given), with their findings
    /// and restored objects.
    fn policies_of(&self, seq: i64, client: Option<&str>) -> rusqlite::Result<Vec<StoredPolicy>> {
        let mut policy_stmt = self.conn.prepare_cached(
            "SELECT policy, client, status, rpo_target_seconds, rpo_age_seconds, rto_target_seconds,
                    rto_measured_seconds, rto_projected_seconds, throughput_bytes_per_second, newest_set,
                    coverage_json
             FROM policy_results WHERE run_seq = ?1 AND (?2 IS NULL OR client = ?2) ORDER BY policy",
        )?;
        let mut policies: Vec<StoredPolicy> = policy_stmt
            .query_map(params![seq, client], |r| {
                Ok(StoredPolicy {
                    policy: r.get(0)?,
                    client: r.get(1)?,
                    passed: r.get::<_, String>(2)? == "pass",
                    rpo_target_seconds: r.get(3)?,
                    rpo_age_seconds: r.get(4)?,
                    rto_target_seconds: r.get(5)?,
                    rto_measured_seconds: r.get(6)?,
                    rto_projected_seconds: r.get(7)?,
                    throughput_bytes_per_second: r.get(8)?,
                    newest_set: r.get(9)?,
                    findings: Vec::new(),
                    objects: Vec::new(),
                    coverage: coverage(r.get(10)?),
                })
            })?
            .collect::<Result<_, _>>()?;
        let mut finding_stmt = self.conn.prepare_cached(
            "SELECT kind, object, message FROM findings WHERE run_seq = ?1 AND policy = ?2 ORDER BY n",
        )?;
        let mut object_stmt = self.conn.prepare_cached(
            "SELECT key, set_name, restored_bytes, files, seconds, status FROM object_results
             WHERE run_seq = ?1 AND policy = ?2 ORDER BY key",
        )?;
        for p in &mut policies {
            p.findings = finding_stmt
                .query_map(params![seq, p.policy], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?
                .collect::<Result<_, _>>()?;
            p.objects = object_stmt
                .query_map(params![seq, p.policy], |r| {
                    Ok(StoredObject {
                        key: r.get(0)?,
                        set: r.get(1)?,
                        restored_bytes: r.get::<_, i64>(2)?.max(0) as u64,
                        files: r.get::<_, i64>(3)?.max(0) as u64,
                        seconds: r.get(4)?,
                        verified: r.get::<_, String>(5)? == "pass",
                    })
                })?
                .collect::<Result<_, _>>()?;
        }
        Ok(policies)
    }
}
