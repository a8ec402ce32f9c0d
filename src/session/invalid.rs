//! Invalid policy files as entries of a run: each fails with one `invalid_policy` finding per
//! error (file:line:column), is recorded and mailed like any other policy, and leaves every
//! valid policy to run. Nothing of it was run, so it carries no RPO or RTO: renderers show
//! `-` for an entry that is not [`PolicyResult::judged`]; its targets are kept when they
//! could be read, for the history and the period report. Who is told is decided here, from
//! the client read from the file alone: the MSP's team always, that client's own team when
//! the client could be read, never another client's.

use crate::config::Responsibility;
use crate::config::{InvalidPolicy, Team, TeamScope};
use crate::finding::{Finding, FindingKind};
use crate::judge::{Rpo, Rto, Status};
use crate::results::{PolicyResult, RunResult};

/// The client of an entry whose file names none: no client's team matches it.
pub const UNKNOWN_CLIENT: &str = "(unknown client)";

/// Adds the invalid policies to a finished run as failed entries.
pub(super) fn add(result: &mut RunResult, invalid: &[&InvalidPolicy], teams: &[Team]) {
    if invalid.is_empty() {
        return;
    }
    result
        .policies
        .extend(invalid.iter().map(|policy| entry(policy, teams)));
    if result.status == Status::Pass {
        result.status = Status::Fail;
    }
}

/// One invalid policy file as a failed entry.
pub(super) fn entry(policy: &InvalidPolicy, teams: &[Team]) -> PolicyResult {
    let findings = policy
        .errors
        .iter()
        .map(|error| {
            Finding::new(
                FindingKind::InvalidPolicy,
                None,
                format!("{error} (nothing of this policy was run: fix the file; `restore-drill check` lists every error)"),
            )
        })
        .collect();
    PolicyResult {
        name: policy.name.clone(),
        client: policy
            .client
            .clone()
            .unwrap_or_else(|| UNKNOWN_CLIENT.into()),
        description: None,
        file: policy.file.display().to_string(),
        responsibility: responsibility(policy.client.as_deref(), teams),
        status: Status::Fail,
        findings,
        rpo: Rpo {
            target_seconds: target(policy.rpo),
            // Never shown: an entry that was not judged shows `-` for its age.
            dated_by: crate::config::DateSource::Name,
            newest_set: None,
            newest_date: None,
            age_seconds: None,
            met: false,
        },
        rto: Rto {
            target_seconds: target(policy.rto),
            measured_seconds: 0.0,
            sampled_bytes: 0,
            throughput_bytes_per_second: None,
            overhead_seconds_per_object: None,
            newest_set_bytes: 0,
            newest_set_objects: 0,
            projected_seconds: None,
            met: false,
        },
        listed_objects: 0,
        total_sets: 0,
        sets: Vec::new(),
        objects: Vec::new(),
        coverage: None,
        ledger_changes: Vec::new(),
    }
}

/// A target as read from the file, 0 when it could not be read (never shown: the entry is
/// not judged).
fn target(duration: Option<std::time::Duration>) -> f64 {
    duration.map_or(0.0, |d| d.as_secs_f64())
}

/// The MSP's team responsible; the client's own team accountable when the client is known.
/// The file's own `responsibility` is not read: it did not validate.
fn responsibility(client: Option<&str>, teams: &[Team]) -> Responsibility {
    let msp = teams
        .iter()
        .find(|t| t.scope == TeamScope::Msp)
        .map(|t| t.id.clone());
    let own = client.and_then(|client| {
        teams
            .iter()
            .find(|t| t.scope == TeamScope::Client(client.to_string()))
            .map(|t| t.id.clone())
    });
    Responsibility {
        informed: own.iter().chain(msp.iter()).cloned().collect(),
        responsible: msp,
        accountable: own,
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::config::ConfigError;

    fn team(id: &str, scope: TeamScope) -> Team {
        Team {
            id: id.into(),
            name: id.into(),
            emails: vec![format!("{id}@example.com")],
            scope,
            notify: crate::config::Notify::Always,
        }
    }

    fn invalid(client: Option<&str>) -> InvalidPolicy {
        InvalidPolicy {
            file: PathBuf::from("/etc/rd/acme.yaml"),
            name: "acme-db".into(),
            read_name: Some("acme-db".into()),
            client: client.map(str::to_string),
            rpo: Some(std::time::Duration::from_secs(3600)),
            rto: None,
            errors: vec![ConfigError {
                file: PathBuf::from("/etc/rd/acme.yaml"),
                line: 7,
                column: 3,
                field: "targets.rpo".into(),
                message: "invalid duration".into(),
            }],
        }
    }

    #[test]
    fn an_invalid_policy_fails_with_its_errors_and_no_figures() {
        let teams = [team("noc", TeamScope::Msp)];
        let p = entry(&invalid(Some("Acme")), &teams);
        assert_eq!(p.status, Status::Fail);
        assert!(!p.judged());
        assert_eq!(p.findings[0].kind, FindingKind::InvalidPolicy);
        assert!(
            p.findings[0]
                .message
                .starts_with("/etc/rd/acme.yaml:7:3: targets.rpo: invalid duration"),
            "{}",
            p.findings[0].message
        );
        assert_eq!(crate::report::age_cell(&p), "-");
        let cells = crate::report::cells(&p);
        assert_eq!(cells[2], "FAIL");
        assert!(cells.iter().all(|c| !c.contains("0s")), "{cells:?}");
    }

    #[test]
    fn only_the_msp_and_the_files_own_client_are_told() {
        let teams = [
            team("noc", TeamScope::Msp),
            team("acme-it", TeamScope::Client("Acme".into())),
            team("globex-it", TeamScope::Client("Globex".into())),
        ];
        let r = entry(&invalid(Some("Acme")), &teams).responsibility;
        assert_eq!(r.responsible.as_deref(), Some("noc"));
        assert_eq!(r.accountable.as_deref(), Some("acme-it"));
        assert_eq!(r.informed, ["acme-it", "noc"]);
        let unknown = entry(&invalid(None), &teams);
        assert_eq!(unknown.client, UNKNOWN_CLIENT);
        assert_eq!(unknown.responsibility.informed, ["noc"]);
    }
}
