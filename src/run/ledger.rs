//! The coverage ledger read while a policy's storage is listed: each batch of listed keys is
//! looked up in the history on a blocking thread while the listing goes on, and folded into
//! the plan with the rows found. Nothing of the ledger is held but a few batches, so
//! planning needs no more memory for a ledger of a million objects than for none, and the
//! lookups run on the second core beside the listing.
//!
//! Must not: hold a runtime thread on SQLite, let a ledger that cannot be read stop the
//! listing (the plan counts its objects as never verified, and the run says so), or find
//! objects gone from a listing cut short.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::history::{History, HistoryError, LedgerReader};
use crate::plan::PolicyPlan;
use crate::plan::coverage::{self, Known};
use crate::storage::{self, Entry, Listing, Storage};

/// Keys looked up at once; a few batches are in flight at most.
const BATCH: usize = 1024;
const IN_FLIGHT: usize = 4;

/// Where the policies' ledgers are read from: the history of this state folder. Problems
/// met while reading it are kept for the run to report.
#[derive(Debug, Clone)]
pub struct LedgerSource {
    state_dir: PathBuf,
    problems: Arc<Mutex<Vec<String>>>,
}

impl LedgerSource {
    pub fn new(state_dir: PathBuf) -> Self {
        LedgerSource {
            state_dir,
            problems: Arc::default(),
        }
    }

    /// What could not be read, one sentence each, for the run's report.
    pub fn problems(&self) -> Vec<String> {
        self.problems.lock().map(|p| p.clone()).unwrap_or_default()
    }

    fn problem(&self, policy: &str, e: &HistoryError) {
        if let Ok(mut problems) = self.problems.lock() {
            problems.push(format!(
                "cannot read the coverage ledger of {policy} ({e}): its coverage figures count its objects as never verified"
            ));
        }
    }

    /// The policy's ledger opened for lookups; none (and the problem kept) when it cannot be.
    pub(super) async fn open(&self, policy: &str) -> Option<Reader> {
        let (state, name) = (self.state_dir.clone(), policy.to_string());
        let opened = tokio::task::spawn_blocking(move || {
            History::open(&state).map(|h| h.ledger_reader(&name))
        })
        .await;
        match opened {
            Ok(Ok(reader)) => Some(Reader {
                reader,
                source: self.clone(),
                policy: policy.to_string(),
                failed: false,
            }),
            Ok(Err(e)) => {
                self.problem(policy, &e);
                None
            }
            Err(_) => None,
        }
    }
}

/// One policy's ledger, open for its listings.
pub(super) struct Reader {
    reader: LedgerReader,
    source: LedgerSource,
    policy: String,
    /// A lookup failed: the rest of the listing went without the ledger.
    failed: bool,
}

/// Lists `prefix` into `add`, each entry with the ledger's row under its key (none without a
/// ledger, or for a key never listed). The reader is lent to a blocking thread and given
/// back; a reader whose lookup fails is dropped and its problem kept.
pub(super) async fn list_known(
    op: &Storage,
    prefix: &str,
    listing: &mut Listing,
    reader: &mut Option<Reader>,
    mut add: impl FnMut(Entry, Option<&Known>),
) -> Result<(), storage::StorageError> {
    let Some(lent) = reader.take() else {
        return storage::list_into(op, prefix, listing, async |e| add(e, None)).await;
    };
    let (batches, mut to_look_up) = mpsc::channel::<Vec<Entry>>(IN_FLIGHT);
    let (looked_up, mut known) = mpsc::channel(IN_FLIGHT);
    let worker = tokio::task::spawn_blocking(move || {
        let mut lent = lent;
        while let Some(batch) = to_look_up.blocking_recv() {
            let rows = if lent.failed {
                Ok(Vec::new())
            } else {
                lent.reader.known(batch.iter().map(|e| e.key.as_str()))
            };
            let rows = rows.unwrap_or_else(|e| {
                lent.failed = true;
                lent.source.problem(&lent.policy, &e);
                Vec::new()
            });
            if looked_up.blocking_send((batch, rows)).is_err() {
                break;
            }
        }
        lent
    });
    let list = async {
        let mut batch = Vec::with_capacity(BATCH);
        let listed = storage::list_into(op, prefix, listing, async |e| {
            batch.push(e);
            if batch.len() >= BATCH {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                // The worker only stops when this side does: a send cannot fail before.
                let _ = batches.send(full).await;
            }
        })
        .await;
        if !batch.is_empty() {
            let _ = batches.send(batch).await;
        }
        drop(batches);
        listed
    };
    let fold = async {
        while let Some((batch, rows)) = known.recv().await {
            let mut rows = rows.into_iter();
            for entry in batch {
                add(entry, rows.next().flatten().as_ref());
            }
        }
    };
    let (listed, ()) = tokio::join!(list, fold);
    if let Ok(lent) = worker.await
        && !lent.failed
    {
        *reader = Some(lent);
    }
    listed
}

#[cfg(feature = "restic")]
/// The ledger rows of keys held in memory (a restic repository's files), in their order;
/// none for each without a ledger or when it cannot be read (its problem kept).
pub(super) async fn look_up_all(
    reader: &mut Option<Reader>,
    keys: Vec<String>,
) -> Vec<Option<Known>> {
    let none = |n: usize| (0..n).map(|_| None).collect::<Vec<_>>();
    let Some(lent) = reader.take() else {
        return none(keys.len());
    };
    let n = keys.len();
    let looked = tokio::task::spawn_blocking(move || {
        let rows = lent.reader.known(keys.iter().map(String::as_str));
        if let Err(e) = &rows {
            lent.source.problem(&lent.policy, e);
        }
        (lent, rows)
    })
    .await;
    match looked {
        Ok((lent, Ok(rows))) => {
            *reader = Some(lent);
            rows
        }
        _ => none(n),
    }
}

/// The objects of the ledger gone from storage, as the plan's `Removed` changes: only after
/// a complete listing, and only with a ledger read whole.
pub(super) async fn find_removed(plan: &mut PolicyPlan, reader: Option<Reader>, complete: bool) {
    let seen = std::mem::take(&mut plan.ledger_seen);
    let Some(lent) = reader else {
        return;
    };
    if !complete {
        return;
    }
    let unseen = tokio::task::spawn_blocking(move || {
        let keys = lent.reader.unseen(&seen);
        if let Err(e) = &keys {
            lent.source.problem(&lent.policy, e);
        }
        keys
    })
    .await;
    if let Ok(Ok(keys)) = unseen {
        plan.ledger_changes.extend(coverage::removed(keys));
    }
}
