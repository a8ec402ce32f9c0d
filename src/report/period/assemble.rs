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
    Ok(build(Inputs {
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
    }))
}
