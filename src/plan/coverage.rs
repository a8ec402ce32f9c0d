//! Coverage: what the history's ledger knows of each listed object (its identity, when it was
//! first listed, when it was last verified), gathered while the first listing streams by.
//! It gives the planner each set's least recent verification (so a policy with
//! `sample.coverage` restores the least recently verified objects instead of random sets),
//! the ledger's changes (objects listed for the first time, re-uploaded under the same key,
//! gone from storage), and the coverage figures of the run. Pure: the ledger comes in as a
//! [`LedgerView`] read by the caller; nothing here reads or writes the history.

use std::collections::{BinaryHeap, HashMap};

use jiff::Timestamp;
use serde::Serialize;

use crate::storage::Entry;

/// One object as the ledger knows it.
#[derive(Debug, Clone)]
pub struct Known {
    /// The ledger's own id of the row, to tell afterwards which rows a listing matched.
    pub row: u64,
    pub identity: String,
    pub first_seen: Timestamp,
    /// The last time this identity was verified; none: never.
    pub last_verified: Option<Timestamp>,
    /// The last time it was restored, verified or not.
    pub last_tried: Option<Timestamp>,
    pub removed: bool,
}

/// A policy's ledger held in memory, by key: for plans made from a listing already in
/// memory (tests, a restic repository's files). A run over storage looks its listing up in
/// the history in batches instead, and holds none of it.
#[derive(Debug, Default)]
pub struct LedgerView {
    rows: HashMap<String, Known>,
}

impl LedgerView {
    /// Adds the row under `key`; rows keep the ids they were given (distinct, for [`Seen`]).
    pub fn insert(&mut self, key: String, known: Known) {
        self.rows.insert(key, known);
    }

    pub fn get(&self, key: &str) -> Option<&Known> {
        self.rows.get(key)
    }

    /// Keys of the rows not removed that a listing did not match.
    pub fn unseen(&self, seen: &Seen) -> Vec<String> {
        let mut keys: Vec<String> = self
            .rows
            .iter()
            .filter(|(_, k)| !k.removed && !seen.contains(k.row))
            .map(|(key, _)| key.clone())
            .collect();
        keys.sort();
        keys
    }
}

/// The ledger rows a listing matched (retained, same key): one bit per row id, so what is
/// no longer in storage can be found afterwards without holding the listing.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    bits: Vec<u64>,
    /// Row ids too large for the bits (a ledger rebuilt many times).
    far: std::collections::HashSet<u64>,
    /// Rows matched.
    pub count: u64,
}

/// Row ids below this are kept as bits (at most 8 MiB of them).
const SEEN_BITS: u64 = 1 << 26;

impl Seen {
    pub fn insert(&mut self, row: u64) {
        let new = if row < SEEN_BITS {
            let (word, bit) = ((row / 64) as usize, 1u64 << (row % 64));
            if self.bits.len() <= word {
                self.bits.resize(word + 1, 0);
            }
            let new = self.bits[word] & bit == 0;
            self.bits[word] |= bit;
            new
        } else {
            self.far.insert(row)
        };
        self.count += u64::from(new);
    }

    pub fn contains(&self, row: u64) -> bool {
        if row < SEEN_BITS {
            self.bits
                .get((row / 64) as usize)
                .is_some_and(|w| w & (1u64 << (row % 64)) != 0)
        } else {
            self.far.contains(&row)
        }
    }
}

/// What the ledger says of one listed object, for the plan: kept beside the objects a plan
/// may take, never for the others.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ledgered {
    /// Its rank in the rotation: when it was last restored (never: none).
    pub rank: Rank,
    /// Its last verification (never: none).
    pub verified: Option<Timestamp>,
    /// Overdue before the run: not verified within the window, and listed for longer.
    pub overdue: bool,
}

/// What changed in the ledger from one listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// Listed for the first time (or again, after it had gone).
    Listed,
    /// Listed under a known key with a new identity: re-uploaded, a new object.
    Replaced,
    /// No longer in storage: kept in the ledger as removed.
    Removed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LedgerChange {
    pub key: String,
    pub change: ChangeKind,
    pub identity: Option<String>,
    pub size: Option<u64>,
}

/// The rank of an object in the rotation: never restored first, then the least recently
/// restored. An object whose restore failed waits its turn like the others instead of
/// taking the budget every run: its failure is already a finding.
pub type Rank = Option<Timestamp>;

/// How much of a policy's retained backups was verified, and how long a full rotation
/// takes at the current budget. Counts are objects after `backups.include`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct Coverage {
    /// `sample.coverage`, when the policy sets it.
    pub target_days: Option<f64>,
    /// The window the figures are counted in: the target, or 30 days without one.
    pub window_days: f64,
    pub retained_objects: u64,
    pub retained_bytes: u64,
    /// Verified (restored, digest matched) within the window, this run included.
    pub verified_within_objects: u64,
    pub verified_within_bytes: u64,
    pub never_verified_objects: u64,
    pub never_verified_bytes: u64,
    /// Not verified within the window though retained (listed) for longer than it: the
    /// coverage gap. Objects listed for less than the window are not yet due.
    pub overdue_objects: u64,
    pub overdue_bytes: u64,
    /// The least recent verification of a retained object, and that object.
    pub oldest_verification: Option<Timestamp>,
    pub oldest_verified_key: Option<String>,
    /// The most overdue object: never verified and listed longest ago, else verified
    /// longest ago.
    pub most_overdue_key: Option<String>,
    /// Days to verify every retained object once at this run's budget and schedule; none
    /// when the budget leaves nothing beyond the newest set.
    pub projected_rotation_days: Option<f64>,
    /// Days between runs, from the policy's schedule (1 when it has none: nightly assumed).
    pub run_interval_days: f64,
    pub interval_assumed: bool,
    /// False when the listing was cut short or failed: the figures cover what was listed.
    pub complete: bool,
}

/// The oldest verifications kept while listing, to name the oldest after this run's own.
const OLDEST_KEPT: usize = 1024;

/// Gathers coverage while the first listing streams by: per object the ledger's record of
/// it (looked up by the caller), a few counters, the ledger changes and a bit per ledger row
/// matched; never the listing itself.
pub struct Tracker {
    now: Timestamp,
    window_start: Timestamp,
    seen: Seen,
    pub(super) changes: Vec<LedgerChange>,
    pub(super) coverage: Coverage,
    /// Max-heap of the oldest verifications (rank, key), at most [`OLDEST_KEPT`].
    oldest: BinaryHeap<(Timestamp, String)>,
    /// (never verified?, first seen or last verified, key) of the most overdue object.
    overdue: Option<(bool, Timestamp, String)>,
}

impl Tracker {
    pub fn new(now: Timestamp, window: std::time::Duration) -> Self {
        let span = jiff::SignedDuration::try_from(window).unwrap_or(jiff::SignedDuration::MAX);
        Tracker {
            now,
            window_start: now.checked_sub(span).unwrap_or(Timestamp::MIN),
            seen: Seen::default(),
            changes: Vec::new(),
            coverage: Coverage {
                window_days: window.as_secs_f64() / 86_400.0,
                complete: true,
                ..Coverage::default()
            },
            oldest: BinaryHeap::new(),
            overdue: None,
        }
    }

    /// What the ledger's row `known` (the row under the entry's key, if any) says of this
    /// very object: nothing when the row is of another identity or removed.
    pub fn judge(&self, entry: &Entry, known: Option<&Known>) -> Ledgered {
        let Some(k) = known.filter(|k| !k.removed && k.identity == entry.identity()) else {
            return Ledgered::default();
        };
        Ledgered {
            rank: k.last_tried.or(k.last_verified),
            verified: k.last_verified,
            overdue: k.last_verified.is_none_or(|at| at < self.window_start)
                && k.first_seen < self.window_start,
        }
    }

    /// One listed backup object and the ledger's row under its key; returns what the
    /// ledger says of it.
    pub fn add(&mut self, entry: &Entry, known: Option<&Known>) -> Ledgered {
        let identity = entry.identity();
        let first_seen = match known {
            Some(k) => {
                if !k.removed {
                    self.seen.insert(k.row);
                }
                if k.identity == identity && !k.removed {
                    k.first_seen
                } else {
                    let change = if k.removed {
                        ChangeKind::Listed
                    } else {
                        ChangeKind::Replaced
                    };
                    self.change(entry, change, identity);
                    self.now
                }
            }
            None => {
                self.change(entry, ChangeKind::Listed, identity);
                self.now
            }
        };
        let ledgered = self.judge(entry, known);
        let verified = ledgered.verified;
        let c = &mut self.coverage;
        c.retained_objects += 1;
        c.retained_bytes += entry.size;
        match verified {
            None => {
                c.never_verified_objects += 1;
                c.never_verified_bytes += entry.size;
            }
            Some(at) if at >= self.window_start => {
                c.verified_within_objects += 1;
                c.verified_within_bytes += entry.size;
            }
            Some(_) => {}
        }
        if verified.is_none_or(|at| at < self.window_start) && first_seen < self.window_start {
            c.overdue_objects += 1;
            c.overdue_bytes += entry.size;
            let this = (
                verified.is_none(),
                verified.unwrap_or(first_seen),
                entry.key.clone(),
            );
            let more = |a: &(bool, Timestamp, String), b: &(bool, Timestamp, String)| {
                (!a.0, a.1, &a.2) < (!b.0, b.1, &b.2)
            };
            if self.overdue.as_ref().is_none_or(|o| more(&this, o)) {
                self.overdue = Some(this);
            }
        }
        if let Some(at) = verified {
            self.oldest.push((at, entry.key.clone()));
            if self.oldest.len() > OLDEST_KEPT {
                self.oldest.pop();
            }
        }
        ledgered
    }

    /// The time the plan is made at.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    fn change(&mut self, entry: &Entry, change: ChangeKind, identity: String) {
        self.changes.push(LedgerChange {
            key: entry.key.clone(),
            change,
            identity: Some(identity),
            size: Some(entry.size),
        });
    }

    /// The figures and changes of the whole listing, its oldest verifications, and the
    /// ledger rows it matched: the caller, who holds the ledger, adds the `Removed` changes
    /// of the rows not matched when the listing was complete ([`removed`]).
    pub fn finish(self) -> Finished {
        let mut coverage = self.coverage;
        coverage.most_overdue_key = self.overdue.map(|o| o.2);
        let mut oldest = self.oldest.into_sorted_vec();
        oldest.truncate(OLDEST_KEPT);
        if let Some((at, key)) = oldest.first() {
            coverage.oldest_verification = Some(*at);
            coverage.oldest_verified_key = Some(key.clone());
        }
        Finished {
            coverage,
            changes: self.changes,
            oldest,
            seen: self.seen,
        }
    }
}

/// A listing's coverage, as [`Tracker::finish`] gives it.
#[derive(Debug)]
pub struct Finished {
    pub coverage: Coverage,
    pub changes: Vec<LedgerChange>,
    /// The oldest verifications before the run, oldest first.
    pub oldest: Vec<(Timestamp, String)>,
    pub seen: Seen,
}

/// The `Removed` changes of the ledger rows (`keys`, retained and not matched by a complete
/// listing).
pub fn removed(keys: Vec<String>) -> impl Iterator<Item = LedgerChange> {
    keys.into_iter().map(|key| LedgerChange {
        key,
        change: ChangeKind::Removed,
        identity: None,
        size: None,
    })
}

/// The figures after this run: the objects it verified (`verified`: key, size, rank before
/// the run, overdue before the run) are verified now. `oldest` is the oldest verifications before the run, oldest
/// first, from [`Tracker::finish`].
pub fn after_run(
    mut coverage: Coverage,
    oldest: &[(Timestamp, String)],
    verified: &[(&str, u64, Rank, bool)],
    now: Timestamp,
) -> Coverage {
    let window_start = now
        .checked_sub(jiff::SignedDuration::from_secs_f64(
            coverage.window_days * 86_400.0,
        ))
        .unwrap_or(Timestamp::MIN);
    let mut now_verified = std::collections::HashSet::new();
    for (key, size, rank, overdue) in verified {
        now_verified.insert(*key);
        if *overdue {
            coverage.overdue_objects = coverage.overdue_objects.saturating_sub(1);
            coverage.overdue_bytes = coverage.overdue_bytes.saturating_sub(*size);
        }
        match rank {
            None => {
                coverage.never_verified_objects = coverage.never_verified_objects.saturating_sub(1);
                coverage.never_verified_bytes = coverage.never_verified_bytes.saturating_sub(*size);
            }
            Some(at) if *at >= window_start => continue,
            Some(_) => {}
        }
        coverage.verified_within_objects += 1;
        coverage.verified_within_bytes += size;
    }
    if coverage
        .most_overdue_key
        .as_deref()
        .is_some_and(|k| now_verified.contains(k))
    {
        coverage.most_overdue_key = None;
    }
    let next = oldest
        .iter()
        .find(|(_, key)| !now_verified.contains(key.as_str()));
    match next {
        Some((at, key)) => {
            coverage.oldest_verification = Some(*at);
            coverage.oldest_verified_key = Some(key.clone());
        }
        // Every object verified before was verified again now, or none was: the oldest
        // verification is this run's.
        None if !verified.is_empty() => {
            coverage.oldest_verification = Some(now);
            coverage.oldest_verified_key = verified.iter().map(|v| v.0.to_string()).min();
        }
        None => {}
    }
    coverage
}

/// Days to verify every retained object once: the bytes beyond the newest set over the
/// bytes a run restores beyond it, in runs, times the days between runs.
pub fn rotation_days(
    retained_bytes: u64,
    newest_set_bytes: u64,
    max_bytes: Option<u64>,
    newest_sampled_bytes: u64,
    interval_days: f64,
) -> Option<f64> {
    let rest = retained_bytes.saturating_sub(newest_set_bytes);
    let Some(cap) = max_bytes else {
        return Some(interval_days);
    };
    if rest == 0 {
        return Some(interval_days);
    }
    let budget = cap.saturating_sub(newest_sampled_bytes);
    if budget == 0 {
        return None;
    }
    Some(rest.div_ceil(budget) as f64 * interval_days)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str, size: u64) -> Entry {
        Entry {
            key: key.into(),
            size,
            modified: None,
            etag: Some(format!("\"{key}-v1\"")),
        }
    }

    fn at(day: &str) -> Timestamp {
        format!("{day}T00:00:00Z").parse().unwrap()
    }

    fn known(identity: &str, verified: Option<&str>) -> Known {
        static ROW: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        Known {
            row: ROW.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            identity: identity.into(),
            first_seen: at("2026-01-01"),
            last_verified: verified.map(at),
            last_tried: verified.map(at),
            removed: false,
        }
    }

    #[test]
    fn a_listing_against_the_ledger_counts_changes_and_ranks() {
        let mut view = LedgerView::default();
        view.insert("a".into(), known("etag:a-v1", Some("2026-03-25")));
        view.insert("b".into(), known("etag:b-v0", Some("2026-03-25")));
        view.insert("gone".into(), known("etag:gone-v1", None));
        view.insert("old".into(), known("etag:old-v1", Some("2026-01-02")));
        let mut tracker = Tracker::new(
            at("2026-04-01"),
            std::time::Duration::from_secs(30 * 86_400),
        );
        let mut add = |e: Entry| tracker.add(&e, view.get(&e.key));
        assert_eq!(add(entry("a", 10)).rank, Some(at("2026-03-25")));
        // Re-uploaded: a new object, never verified.
        assert_eq!(add(entry("b", 20)), Ledgered::default());
        let old = add(entry("old", 40));
        assert_eq!((old.rank, old.overdue), (Some(at("2026-01-02")), true));
        assert_eq!(add(entry("new", 80)).rank, None);
        let Finished {
            coverage: c,
            mut changes,
            oldest,
            seen,
        } = tracker.finish();
        assert_eq!(seen.count, 3);
        changes.extend(removed(view.unseen(&seen)));
        let kinds: Vec<(&str, ChangeKind)> =
            changes.iter().map(|c| (c.key.as_str(), c.change)).collect();
        assert_eq!(
            kinds,
            [
                ("b", ChangeKind::Replaced),
                ("new", ChangeKind::Listed),
                ("gone", ChangeKind::Removed)
            ]
        );
        assert_eq!((c.retained_objects, c.retained_bytes), (4, 150));
        assert_eq!(
            (c.verified_within_objects, c.never_verified_objects),
            (1, 2)
        );
        // `old` was verified too long ago and listed long ago: overdue. `b` and `new` were
        // listed just now: not yet due.
        assert_eq!((c.overdue_objects, c.overdue_bytes), (1, 40));
        assert_eq!(c.most_overdue_key.as_deref(), Some("old"));
        assert_eq!(c.oldest_verification, Some(at("2026-01-02")));
        let after = after_run(
            c,
            &oldest,
            &[
                ("old", 40, Some(at("2026-01-02")), true),
                ("new", 80, None, false),
            ],
            at("2026-04-01"),
        );
        assert_eq!(
            (
                after.verified_within_objects,
                after.never_verified_objects,
                after.overdue_objects
            ),
            (3, 1, 0)
        );
        assert_eq!(after.oldest_verification, Some(at("2026-03-25")));
        assert_eq!(after.oldest_verified_key.as_deref(), Some("a"));
    }

    #[test]
    fn seen_rows_are_counted_once_near_and_far() {
        let mut seen = Seen::default();
        for row in [1, 64, 1, SEEN_BITS + 5, SEEN_BITS + 5, u64::MAX] {
            seen.insert(row);
        }
        assert_eq!(seen.count, 4);
        assert!(seen.contains(64) && seen.contains(u64::MAX) && !seen.contains(2));
        assert!(!seen.contains(SEEN_BITS + 6));
    }

    #[test]
    fn rotation_is_the_rest_over_the_budget_beyond_the_newest_set() {
        assert_eq!(rotation_days(100, 10, Some(20), 10, 1.0), Some(9.0));
        assert_eq!(rotation_days(100, 10, Some(10), 10, 1.0), None);
        assert_eq!(rotation_days(100, 10, None, 10, 7.0), Some(7.0));
    }
}
