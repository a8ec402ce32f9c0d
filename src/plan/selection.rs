//! The plan's second stage: the sets chosen from the first listing take their objects and
//! checksum files from a second listing of their folders, and become the sample (objects
//! per set, then the `max_bytes` cap). Pure, like the whole planner: it must not list or
//! read anything itself.

use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;

use super::coverage::Ledgered;
use super::{
    Checks, ChecksumSource, Class, DatedBy, Format, PlannedObject, PlannedSet, PolicyPlan, SetAcc,
    classify, score, split_folder,
};
use crate::config::{ObjectsPerSet, Policy, SetLayout};
use crate::storage::Entry;

/// Listed keys refused by [`crate::storage::confined_key`], by key (both listings).
pub(super) type Unsafe = BTreeMap<String, crate::storage::UnsafeKey>;

/// Whether `key` is safe to use; an unsafe one is kept in `refused` and must be dropped.
pub(super) fn confined(policy: &Policy, key: &str, refused: &mut Unsafe) -> bool {
    match crate::storage::confined_key(&policy.backups.prefix, key) {
        Ok(_) => true,
        Err(e) => {
            refused.insert(key.to_string(), e);
            false
        }
    }
}

/// A set chosen from the first listing, with what is known of it so far.
pub(super) struct ChosenSet {
    pub(super) name: String,
    pub(super) acc: SetAcc,
    pub(super) date: Option<Timestamp>,
    pub(super) dated_by: DatedBy,
    pub(super) newest: bool,
}

/// The sets chosen from the first listing, waiting for their objects.
pub struct Selection<'p> {
    pub(super) policy: &'p Policy,
    /// The first listing against the ledger; ranks the chosen sets' objects.
    pub(super) tracker: super::coverage::Tracker,
    pub(super) seed: u64,
    /// A drill's whole set: every object, no cap.
    pub(super) whole: bool,
    pub(super) chosen: Vec<ChosenSet>,
    pub(super) by_name: HashMap<String, usize>,
    pub(super) checks: Checks,
    pub(super) listed: usize,
    pub(super) ungrouped: usize,
    pub(super) unsafe_keys: Unsafe,
    pub(super) total_sets: usize,
    /// A drill's day that no set is dated on: the sets nearest it.
    pub(super) nearest: Vec<(String, Option<Timestamp>)>,
    pub(super) undated: Vec<String>,
    pub(super) suggested_format: Option<&'static str>,
    pub(super) emptied: Vec<(String, usize)>,
}

impl Selection<'_> {
    /// The folders to list for the chosen sets' objects and checksum files; none for the
    /// by-object layout, whose objects came with the first listing.
    pub fn folders(&self) -> Vec<String> {
        match self.policy.backups.sets {
            SetLayout::ByObject => Vec::new(),
            SetLayout::ByFolder => self
                .chosen
                .iter()
                .map(|set| format!("{}{}/", self.policy.backups.prefix, set.name))
                .collect(),
        }
    }

    /// Takes one entry of the second listing, with the ledger's row under its key; entries
    /// of sets not chosen are ignored.
    pub fn add(&mut self, entry: Entry, known: Option<&super::coverage::Known>) {
        if self.policy.backups.sets == SetLayout::ByObject
            || !confined(self.policy, &entry.key, &mut self.unsafe_keys)
        {
            return;
        }
        let set_of = |key: &str| {
            key.strip_prefix(&self.policy.backups.prefix)
                .and_then(|rel| rel.split_once('/'))
                .and_then(|(set, _)| self.by_name.get(set).copied())
        };
        let class = classify(self.policy, &entry.key);
        if !matches!(class, Class::Outside)
            && let Some(index) = set_of(&entry.key)
        {
            self.chosen[index].acc.keys.insert(entry.key.clone());
        }
        match class {
            Class::Manifest(folder, _) => {
                if set_of(folder).is_some() {
                    self.checks.add(&class, &entry.key);
                }
            }
            Class::Sidecar(target, _) => {
                if set_of(target).is_some() {
                    self.checks.add(&class, &entry.key);
                }
            }
            Class::Object(_) => {
                if let Some(index) = set_of(&entry.key) {
                    let ledgered = self.tracker.judge(&entry, known);
                    self.chosen[index].acc.objects.push((entry, ledgered));
                }
            }
            Class::Outside | Class::Excluded(_) | Class::Ungrouped => {}
        }
    }

    /// The sample from the chosen sets: objects per set, then the `max_bytes` cap in that
    /// order (a drill's whole set: every object, no cap).
    pub fn finish(self) -> PolicyPlan {
        let policy = self.policy;
        let checks = &self.checks;
        // Stored bytes already chosen; the first object (the newest set's) is taken even
        // when it alone exceeds `max_bytes`: the newest backup is never left unverified.
        let mut spent = 0u64;
        let mut taken = 0usize;
        let mut sets = Vec::new();
        for set in self.chosen {
            let ChosenSet {
                name,
                acc,
                date,
                dated_by,
                newest,
            } = set;
            let mut objects = if self.whole {
                let mut all = acc.objects;
                all.sort_by(|a, b| a.0.key.cmp(&b.0.key));
                all
            } else if policy.sample.coverage.is_some() {
                least_recently_verified(acc.objects, policy, self.seed)
            } else {
                pick_objects(
                    acc.objects,
                    policy.sample.objects_per_set,
                    self.seed,
                    &policy.name,
                )
            };
            let before = objects.len();
            if !self.whole {
                objects.retain(|(o, _)| {
                    let fits = taken == 0
                        || policy
                            .sample
                            .max_bytes
                            .is_none_or(|cap| spent.saturating_add(o.size) <= cap);
                    if fits {
                        spent = spent.saturating_add(o.size);
                        taken += 1;
                    }
                    fits
                });
            }
            let capped_objects = before - objects.len();
            let objects = objects
                .into_iter()
                .map(|(entry, ledgered)| {
                    planned_object(
                        ledgered,
                        policy.backups.sets,
                        &policy.backups.prefix,
                        &name,
                        entry,
                        &checks.sidecars,
                        &checks.manifests,
                    )
                })
                .collect();
            sets.push(PlannedSet {
                name,
                date,
                dated_by,
                newest,
                total_objects: acc.count,
                total_bytes: acc.bytes,
                objects,
                capped_objects,
                listed_keys: acc.keys,
            });
        }
        let whole = self.whole;
        let (coverage, finished) = coverage(self.tracker, policy, &sets, whole);
        PolicyPlan {
            coverage,
            ledger_changes: finished.changes,
            oldest: finished.oldest,
            ledger_seen: finished.seen,
            policy: policy.name.clone(),
            listed_objects: self.listed,
            total_sets: self.total_sets,
            ungrouped_objects: self.ungrouped,
            dated_by: policy.backups.dated_by,
            undated: self.undated,
            suggested_format: self.suggested_format,
            emptied: self.emptied,
            sets,
            nearest: self.nearest,
            unsafe_keys: self.unsafe_keys.into_values().collect(),
        }
    }
}

/// Coverage before this run from the tracker, with the rotation this plan's budget allows.
fn coverage(
    tracker: super::coverage::Tracker,
    policy: &Policy,
    sets: &[PlannedSet],
    whole: bool,
) -> (super::coverage::Coverage, super::coverage::Finished) {
    let newest = sets.iter().find(|s| s.newest);
    let (newest_total, newest_sampled) = newest.map_or((0, 0), |s| {
        (s.total_bytes, s.objects.iter().map(|o| o.size).sum::<u64>())
    });
    let (interval, assumed) = run_interval_days(policy, tracker.now());
    let mut finished = tracker.finish();
    let mut coverage = std::mem::take(&mut finished.coverage);
    coverage.target_days = policy.sample.coverage.map(|c| c.as_secs_f64() / 86_400.0);
    coverage.run_interval_days = interval;
    coverage.interval_assumed = assumed;
    // Random sampling is no rotation: only `sample.coverage` projects one.
    coverage.projected_rotation_days = policy.sample.coverage.and_then(|_| {
        super::coverage::rotation_days(
            coverage.retained_bytes,
            newest_total,
            if whole { None } else { policy.sample.max_bytes },
            newest_sampled,
            interval,
        )
    });
    (coverage, finished)
}

/// Days between the policy's runs: its schedule's next two slots, or one day (a nightly
/// run assumed: `true`) without a schedule.
fn run_interval_days(policy: &Policy, now: Timestamp) -> (f64, bool) {
    let gap = policy.schedule.as_ref().and_then(|s| {
        let first = s.next_slot(now)?;
        let second = s.next_slot(first)?;
        Some(second.duration_since(first).as_secs_f64() / 86_400.0)
    });
    match gap {
        Some(days) if days > 0.0 => (days, false),
        _ => (1.0, true),
    }
}

/// The set's objects in rotation order (never verified first, then the least recently; the
/// seed breaks ties), `objects_per_set` of them, then in key order.
fn least_recently_verified(
    mut objects: Vec<(Entry, Ledgered)>,
    policy: &Policy,
    seed: u64,
) -> Vec<(Entry, Ledgered)> {
    objects.sort_by_cached_key(|(o, l)| (l.rank, score(seed, &policy.name, &o.key)));
    if let ObjectsPerSet::Count(n) = policy.sample.objects_per_set {
        objects.truncate(n);
    }
    objects.sort_by(|a, b| a.0.key.cmp(&b.0.key));
    objects
}

fn planned_object(
    ledgered: Ledgered,
    layout: SetLayout,
    prefix: &str,
    set: &str,
    entry: Entry,
    sidecars: &HashMap<String, Vec<ChecksumSource>>,
    manifests: &HashMap<String, Vec<ChecksumSource>>,
) -> PlannedObject {
    let rel = &entry.key[prefix.len()..];
    let path_in_set = match layout {
        SetLayout::ByFolder => rel[set.len() + 1..].to_string(),
        SetLayout::ByObject => split_folder(rel).1.to_string(),
    };
    let (folder, _) = split_folder(&entry.key);
    let mut checksums: Vec<ChecksumSource> = sidecars.get(&entry.key).cloned().unwrap_or_default();
    checksums.extend(manifests.get(folder).cloned().unwrap_or_default());
    checksums.sort_by(|a, b| source_key(a).cmp(source_key(b)));
    PlannedObject {
        identity: entry.identity(),
        last_verified: ledgered.verified,
        overdue: ledgered.overdue,
        format: Format::from_name(&entry.key),
        key: entry.key,
        path_in_set,
        size: entry.size,
        checksums,
    }
}

fn source_key(source: &ChecksumSource) -> &str {
    match source {
        ChecksumSource::Sidecar { key, .. } | ChecksumSource::Manifest { key, .. } => key,
    }
}

fn pick_objects(
    mut objects: Vec<(Entry, Ledgered)>,
    per_set: ObjectsPerSet,
    seed: u64,
    policy: &str,
) -> Vec<(Entry, Ledgered)> {
    if let ObjectsPerSet::Count(n) = per_set
        && n < objects.len()
    {
        objects.sort_by_key(|(o, _)| score(seed, policy, &o.key));
        objects.truncate(n);
    }
    objects.sort_by(|a, b| a.0.key.cmp(&b.0.key));
    objects
}
