//! Assembling a client's period report from the configuration and the history: the
//! client's policies as configured today (with their descriptions and responsible teams by
//! name), the runs of the period and of the one before it, the chain head. It exists so the
//! command stays thin and every caller gets the same report; it must not render, sign or
//! write anything, and it reads the history only after the caller has verified it.

use jiff::Timestamp;

use super::build::{Inputs, KnownPolicy, build};
use super::model::{Period, PeriodReport, Presentation};
use crate::config::Config;
use crate::history::{History, HistoryError};
use crate::plan::coverage::Coverage;

/// Why no report could be assembled.
#[derive(Debug, thiserror::Error)]
pub enum AssembleError {
    #[error("no policy or recorded run for client `{client}`; clients: {known}")]
    UnknownClient { client: String, known: String },
    #[error(transparent)]
    History(#[from] HistoryError),
}

/// The client's policies as configured today.
fn known_policies(config: &Config, client: &str) -> Vec<KnownPolicy> {
    config
        .policies
        .iter()
        .filter(|p| p.client == client)
        .map(|p| KnownPolicy {
            name: p.name.clone(),
            dated_by: p.backups.dated_by,
            description: p.description.clone(),
            // The team's name, as people know it.
            responsible: p.responsibility.responsible.as_ref().map(|id| {
                config
                    .settings
                    .teams
                    .iter()
                    .find(|t| &t.id == id)
                    .map_or_else(|| id.clone(), |t| t.name.clone())
            }),
        })
        .collect()
}

/// The report of `client` for `period`, made at `now`, from a verified `history`.
pub fn assemble(
    config: &Config,
    history: &History,
    client: &str,
    period: Period,
    presentation: Presentation,
    now: Timestamp,
) -> Result<PeriodReport, AssembleError> {
    let known = known_policies(config, client);
    let runs = history.period(period.from, period.to, Some(client))?;
    if known.is_empty() && runs.is_empty() {
        let mut clients: Vec<&str> = config.policies.iter().map(|p| p.client.as_str()).collect();
        clients.sort_unstable();
        clients.dedup();
        return Err(AssembleError::UnknownClient {
            client: client.to_string(),
            known: clients.join(", "),
        });
    }
    let previous = match period.previous(&presentation.zone()) {
        Some(before) => {
            let runs = history.period(before.from, before.to, Some(client))?;
            Some((before, runs))
        }
        None => None,
    };
    let current = period.to > now;
    let mut report = build(Inputs {
        client,
        period,
        runs: &runs,
        previous: previous
            .as_ref()
            .map(|(p, runs)| (p.clone(), runs.as_slice())),
        policies: &known,
        controls: &config.settings.controls,
        chain_head: history.chain_head()?.map(|head| head.label()),
        presentation,
        now,
    });
    // A period still running shows coverage as the ledger stands now: a run voided since
    // its figures were recorded counts in none of them.
    if current {
        for stats in &mut report.policies {
            let Some(policy) = config.policies.iter().find(|p| p.name == stats.policy) else {
                continue;
            };
            let window = policy
                .sample
                .coverage
                .unwrap_or(std::time::Duration::from_secs(30 * 86_400));
            let summary = history.ledger_summary(&policy.name, window, now)?;
            if let Some(recorded) = stats.coverage.take() {
                stats.coverage = Some(coverage_now(summary, recorded));
            }
        }
    }
    Ok(report)
}

/// The recorded coverage with its counts taken from the ledger now.
fn coverage_now(s: crate::history::LedgerSummary, recorded: Coverage) -> Coverage {
    Coverage {
        window_days: s.window_days,
        retained_objects: s.retained_objects,
        retained_bytes: s.retained_bytes,
        verified_within_objects: s.verified_within_objects,
        verified_within_bytes: s.verified_within_bytes,
        never_verified_objects: s.never_verified_objects,
        never_verified_bytes: s.never_verified_bytes,
        overdue_objects: s.overdue_objects,
        overdue_bytes: s.overdue_bytes,
        oldest_verification: s.oldest_verification,
        ..recorded
    }
}
