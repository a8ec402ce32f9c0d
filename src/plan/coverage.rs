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
    pub identity: String,
    pub first_seen: Timestamp,
    /// The last time this identity was verified; none: never.
    pub last_verified: Option<Timestamp>,
    /// The last time it was restored, verified or not.
    pub last_tried: Option<Timestamp>,
    pub removed: bool,
}

/// A policy's ledger as read before its run: every object listed before, by key.
#[derive(Debug, Default)]
pub struct LedgerView {
    index: HashMap<String, usize>,
    known: Vec<Known>,
    keys: Vec<String>,
}

impl LedgerView {
    pub fn insert(&mut self, key: String, known: Known) {
        self.index.insert(key.clone(), self.known.len());
        self.known.push(known);
        self.keys.push(key);
    }

    pub fn len(&self) -> usize {
        self.known.len()
    }

    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }

    /// The ledger's record of this very object: same key and same identity.
    pub fn verified(&self, entry: &Entry) -> Option<&Known> {
        let known = &self.known[*self.index.get(&entry.key)?];
        (known.identity == entry.identity() && !known.removed).then_some(known)
    }
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

/// Gathers coverage while the first listing streams by: per object a ledger lookup, a few
/// counters, and the ledger changes; never the listing itself.
pub struct Tracker {
    view: std::sync::Arc<LedgerView>,
    now: Timestamp,
    window_start: Timestamp,
    seen: Vec<bool>,
    pub(super) changes: Vec<LedgerChange>,
    pub(super) coverage: Coverage,
    /// Max-heap of the oldest verifications (rank, key), at most [`OLDEST_KEPT`].
    oldest: BinaryHeap<(Timestamp, String)>,
    /// (never verified?, first seen or last verified, key) of the most overdue object.
    overdue: Option<(bool, Timestamp, String)>,
}

impl Tracker {
    pub fn new(
        view: std::sync::Arc<LedgerView>,
        now: Timestamp,
        window: std::time::Duration,
    ) -> Self {
        let span = jiff::SignedDuration::try_from(window).unwrap_or(jiff::SignedDuration::MAX);
        let seen = vec![false; view.len()];
        Tracker {
            view,
            now,
            window_start: now.checked_sub(span).unwrap_or(Timestamp::MIN),
            seen,
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

    /// One listed backup object; returns its rank in the rotation (when it was last
    /// restored).
    pub fn add(&mut self, entry: &Entry) -> Rank {
        let identity = entry.identity();
        let view = std::sync::Arc::clone(&self.view);
        let known = view.index.get(&entry.key).map(|&i| (i, &view.known[i]));
        let (rank, tried, first_seen) = match known {
            Some((i, k)) => {
                self.seen[i] = true;
                if k.identity == identity && !k.removed {
                    (
                        k.last_verified,
                        k.last_tried.or(k.last_verified),
                        k.first_seen,
                    )
                } else {
                    let change = if k.removed {
                        ChangeKind::Listed
                    } else {
                        ChangeKind::Replaced
                    };
                    self.change(entry, change, identity);
                    (None, None, self.now)
                }
            }
            None => {
                self.change(entry, ChangeKind::Listed, identity);
                (None, None, self.now)
            }
        };
        let c = &mut self.coverage;
        c.retained_objects += 1;
        c.retained_bytes += entry.size;
        match rank {
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
        if rank.is_none_or(|at| at < self.window_start) && first_seen < self.window_start {
            c.overdue_objects += 1;
            c.overdue_bytes += entry.size;
            let this = (
                rank.is_none(),
                rank.unwrap_or(first_seen),
                entry.key.clone(),
            );
            let more = |a: &(bool, Timestamp, String), b: &(bool, Timestamp, String)| {
                (!a.0, a.1, &a.2) < (!b.0, b.1, &b.2)
            };
            if self.overdue.as_ref().is_none_or(|o| more(&this, o)) {
                self.overdue = Some(this);
            }
        }
        if let Some(at) = rank {
            self.oldest.push((at, entry.key.clone()));
            if self.oldest.len() > OLDEST_KEPT {
                self.oldest.pop();
            }
        }
        tried
    }

    /// The time the plan is made at.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Whether this object was overdue before the run: known, not verified within the
    /// window, and listed for longer than it.
    pub fn overdue(&self, entry: &Entry) -> bool {
        self.view.verified(entry).is_some_and(|k| {
            k.last_verified.is_none_or(|at| at < self.window_start)
                && k.first_seen < self.window_start
        })
    }

    /// The object's rank in the rotation: when it was last restored (never: none).
    pub fn rank_of(&self, entry: &Entry) -> Rank {
        self.view
            .verified(entry)
            .and_then(|k| k.last_tried.or(k.last_verified))
    }

    /// The ledger's last verification of this very object (never: none).
    pub fn verified_of(&self, entry: &Entry) -> Option<Timestamp> {
        self.view.verified(entry).and_then(|k| k.last_verified)
    }

    fn change(&mut self, entry: &Entry, change: ChangeKind, identity: String) {
        self.changes.push(LedgerChange {
            key: entry.key.clone(),
            change,
            identity: Some(identity),
            size: Some(entry.size),
        });
    }

    /// The figures and changes of the whole listing. Objects of the ledger not listed are
    /// removed only when the listing was `complete`: a listing cut short proves nothing gone.
    pub fn finish(
        mut self,
        complete: bool,
    ) -> (Coverage, Vec<LedgerChange>, Vec<(Timestamp, String)>) {
        if complete {
            for (i, seen) in self.seen.iter().enumerate() {
                if !seen && !self.view.known[i].removed {
                    self.changes.push(LedgerChange {
                        key: self.view.keys[i].clone(),
                        change: ChangeKind::Removed,
                        identity: None,
                        size: None,
                    });
                }
            }
        }
        self.coverage.complete = complete;
        self.coverage.most_overdue_key = self.overdue.map(|o| o.2);
        let mut oldest = self.oldest.into_sorted_vec();
        oldest.truncate(OLDEST_KEPT);
        if let Some((at, key)) = oldest.first() {
            self.coverage.oldest_verification = Some(*at);
            self.coverage.oldest_verified_key = Some(key.clone());
        }
        (self.coverage, self.changes, oldest)
    }
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

    #[test]
    fn a_listing_against_the_ledger_counts_changes_and_ranks() {
        let mut view = LedgerView::default();
        let known = |identity: &str, verified: Option<&str>| Known {
            identity: identity.into(),
            first_seen: at("2026-01-01"),
            last_verified: verified.map(at),
            last_tried: verified.map(at),
            removed: false,
        };
        view.insert("a".into(), known("etag:a-v1", Some("2026-03-25")));
        view.insert("b".into(), known("etag:b-v0", Some("2026-03-25")));
        view.insert("gone".into(), known("etag:gone-v1", None));
        view.insert("old".into(), known("etag:old-v1", Some("2026-01-02")));
        let mut tracker = Tracker::new(
            std::sync::Arc::new(view),
            at("2026-04-01"),
            std::time::Duration::from_secs(30 * 86_400),
        );
        assert_eq!(tracker.add(&entry("a", 10)), Some(at("2026-03-25")));
        // Re-uploaded: a new object, never verified.
        assert_eq!(tracker.add(&entry("b", 20)), None);
        assert_eq!(tracker.add(&entry("old", 40)), Some(at("2026-01-02")));
        assert_eq!(tracker.add(&entry("new", 80)), None);
        let (c, changes, oldest) = tracker.finish(true);
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
    fn a_listing_cut_short_removes_nothing() {
        let mut view = LedgerView::default();
        view.insert(
            "gone".into(),
            Known {
                identity: "etag:x".into(),
                first_seen: at("2026-01-01"),
                last_verified: None,
                last_tried: None,
                removed: false,
            },
        );
        let tracker = Tracker::new(
            std::sync::Arc::new(view),
            at("2026-04-01"),
            std::time::Duration::from_secs(86_400),
        );
        let (c, changes, _) = tracker.finish(false);
        assert!(changes.is_empty() && !c.complete);
    }

    #[test]
    fn rotation_is_the_rest_over_the_budget_beyond_the_newest_set() {
        assert_eq!(rotation_days(100, 10, Some(20), 10, 1.0), Some(9.0));
        assert_eq!(rotation_days(100, 10, Some(10), 10, 1.0), None);
        assert_eq!(rotation_days(100, 10, None, 10, 7.0), Some(7.0));
    }
}
