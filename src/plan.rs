//! The `plan` stage: a storage listing → backup sets → the sample to restore. Pure: it takes
//! the listing entry by entry (so the lister can stream) plus the clock and seed, and returns
//! a [`PolicyPlan`] value that can be printed (`--dry-run`) before anything is restored. Of
//! `storage` it uses the listing's [`Entry`] type and [`crate::storage::confined_key`] only,
//! never an operator: a listed key that could leave the prefix is kept aside, unused, for its
//! `unsafe_path` finding.
//!
//! The choice is seeded and independent of library versions: candidates are ordered by a
//! BLAKE3 hash of (seed, policy, name), so `--seed N` repeats a run's choice exactly.
//! Sets are dated as the policy says (`backups.dated_by`: by name or by upload time), never
//! by one when the other fails ([`dating`]); what the plan alone shows wrong is in
//! [`findings`].
//! [`Planner`] folds the first listing into sets and chooses; [`Selection`] takes the
//! chosen sets' objects from the second and makes the sample.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Serialize;

use crate::checksum::Algorithm;
use crate::config::{DateSource, Policy, SetLayout};
use crate::storage::Entry;

mod choice;
pub use choice::IdPrefix;
pub mod coverage;
mod dating;
mod findings;
mod selection;

use dating::date_set;
pub use dating::{date_from_name, suggest_format};
pub use findings::findings;

pub use selection::Selection;
use selection::{ChosenSet, Unsafe, confined};

/// How an object's bytes are decoded, from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Raw,
    Zstd,
    Tar,
    TarZstd,
}

impl Format {
    pub fn from_name(key: &str) -> Format {
        let lower = key.to_ascii_lowercase();
        if lower.ends_with(".tar.zst") || lower.ends_with(".tzst") {
            Format::TarZstd
        } else if lower.ends_with(".zst") {
            Format::Zstd
        } else if lower.ends_with(".tar") {
            Format::Tar
        } else {
            Format::Raw
        }
    }

    pub fn is_zstd(self) -> bool {
        matches!(self, Format::Zstd | Format::TarZstd)
    }

    pub fn is_tar(self) -> bool {
        matches!(self, Format::Tar | Format::TarZstd)
    }
}

/// Where an object's expected digest may be found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ChecksumSource {
    /// `<key>.sha256` and friends: the digest of that one object.
    Sidecar { key: String, algorithm: Algorithm },
    /// `SHA256SUMS` and friends in the object's folder, naming it relative to that folder.
    Manifest { key: String, algorithm: Algorithm },
}

/// How a set's date was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DatedBy {
    /// Parsed from the set's name with `backups.date_format`.
    Name,
    /// The newest last-modified (upload) time of its objects.
    Modified,
    /// A restic snapshot's own time.
    Snapshot,
    /// The policy's source gave no date: a name that does not match `date_format`, or
    /// storage that reports no last-modified times.
    Unknown,
}

impl DatedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            DatedBy::Name => "name",
            DatedBy::Modified => "modified",
            DatedBy::Snapshot => "snapshot",
            DatedBy::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PlannedObject {
    pub key: String,
    /// Path below the set (by-folder) or the object's file name (by-object).
    pub path_in_set: String,
    pub size: u64,
    /// Its ETag, or size and modification time ([`Entry::identity`]).
    pub identity: String,
    /// When the ledger last saw this very object verified; none: never.
    pub last_verified: Option<Timestamp>,
    /// Not verified within the coverage window though listed for longer than it.
    pub overdue: bool,
    pub format: Format,
    pub checksums: Vec<ChecksumSource>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlannedSet {
    pub name: String,
    pub date: Option<Timestamp>,
    pub dated_by: DatedBy,
    /// True for the newest set, which is always restored.
    pub newest: bool,
    pub total_objects: usize,
    pub total_bytes: u64,
    pub objects: Vec<PlannedObject>,
    /// Objects left out by `sample.max_bytes`.
    pub capped_objects: usize,
    /// Every key listed in the set's folder (by-folder layout; empty by object), so that a
    /// folder manifest naming a file the set lacks is found.
    #[serde(skip)]
    pub listed_keys: BTreeSet<String>,
}

/// What will be restored for one policy, and what the listing showed.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyPlan {
    pub policy: String,
    pub listed_objects: usize,
    pub total_sets: usize,
    /// Objects directly under the prefix with a by-folder layout, which belong to no set.
    pub ungrouped_objects: usize,
    /// How the policy dates its sets (`backups.dated_by`).
    pub dated_by: DateSource,
    /// Sets whose names do not match `date_format` (dated by name), every one listed.
    pub undated: Vec<String>,
    /// A format that matches every undated name, when one obviously does.
    pub suggested_format: Option<&'static str>,
    /// Folders whose every object `backups.include` left out, and that would otherwise be
    /// newer than the newest set: (folder, objects left out).
    pub emptied: Vec<(String, usize)>,
    pub sets: Vec<PlannedSet>,
    /// A drill's `--set DAY` that no set is dated on: the sets dated nearest that day
    /// (name, date), nearest first, for the refusal to list. Empty otherwise.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub nearest: Vec<(String, Option<Timestamp>)>,
    /// Listed keys that could leave the prefix ([`crate::storage::confined_key`]): never
    /// requested, each an `unsafe_path` finding.
    #[serde(skip)]
    pub unsafe_keys: Vec<crate::storage::UnsafeKey>,
    /// Coverage before this run, from the ledger and the listing.
    pub coverage: coverage::Coverage,
    /// What the listing changes in the ledger: recorded with the run.
    #[serde(skip)]
    pub ledger_changes: Vec<coverage::LedgerChange>,
    /// The oldest verifications before this run, oldest first (to name the oldest after).
    #[serde(skip)]
    pub oldest: Vec<(Timestamp, String)>,
    /// The ledger rows the first listing matched: the caller holding the ledger finds from
    /// them what is gone from storage.
    #[serde(skip)]
    pub ledger_seen: coverage::Seen,
}

impl PolicyPlan {
    /// The newest set, if any backups were found.
    pub fn newest(&self) -> Option<&PlannedSet> {
        self.sets.iter().find(|s| s.newest)
    }

    pub fn sampled_objects(&self) -> usize {
        self.sets.iter().map(|s| s.objects.len()).sum()
    }

    pub fn sampled_bytes(&self) -> u64 {
        self.sets
            .iter()
            .flat_map(|s| &s.objects)
            .map(|o| o.size)
            .sum()
    }
}

/// The clock, zone and seed a plan is made with: all that is not in the listing.
#[derive(Debug, Clone)]
pub struct PlanContext {
    pub now: Timestamp,
    pub tz: TimeZone,
    pub seed: u64,
    pub choice: Choice,
}

/// What to restore: the policy's sample, or one whole set (a drill).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Choice {
    #[default]
    Sample,
    /// Every object of the newest set, uncapped.
    WholeNewest,
    /// Every object of the newest set dated on this day (in the plan's zone), uncapped.
    WholeOn(jiff::civil::Date),
    /// Every file of the restic snapshot whose id begins with these digits, uncapped (a
    /// set of objects is chosen by this only when its name is exactly these digits).
    WholeSnapshot(IdPrefix),
}

#[derive(Default)]
struct SetAcc {
    /// The set's objects, with what the ledger says of each: kept while listing only for the
    /// by-object layout (one object per set); by-folder sets get theirs from the second
    /// listing, of the chosen sets only.
    objects: Vec<(Entry, coverage::Ledgered)>,
    /// Every key of the set's folder, from the second listing (by-folder layout).
    keys: BTreeSet<String>,
    count: usize,
    bytes: u64,
    newest_modified: Option<Timestamp>,
    /// The least recent verification of its objects (never verified first); none before
    /// its first object.
    rank: Option<coverage::Rank>,
}

/// A folder of the by-folder layout whose objects were all left out by `include`.
#[derive(Default)]
struct Excluded {
    count: usize,
    newest_modified: Option<Timestamp>,
}

/// What one listed key is to the planner.
enum Class<'a> {
    /// A folder, or a key outside the prefix.
    Outside,
    /// A manifest (`SHA256SUMS`, …) in this folder (with trailing `/`).
    Manifest(&'a str, Algorithm),
    /// A sidecar (`x.sha256`) for the object with this key.
    Sidecar(&'a str, Algorithm),
    /// Not matched by `backups.include`; the folder it would have been a set of, if any.
    Excluded(Option<&'a str>),
    /// Directly under the prefix with a by-folder layout: in no set.
    Ungrouped,
    /// A backup object of this set.
    Object(&'a str),
}

fn classify<'a>(policy: &Policy, key: &'a str) -> Class<'a> {
    let Some(rel) = key.strip_prefix(&policy.backups.prefix) else {
        return Class::Outside;
    };
    if rel.is_empty() || rel.ends_with('/') {
        return Class::Outside;
    }
    let (folder, file) = split_folder(key);
    // In a restic snapshot every file is an object: its blobs carry their own digests.
    let checksum_files = policy.backups.format == crate::config::BackupFormat::Objects;
    if let Some(algorithm) = Algorithm::from_manifest_name(file).filter(|_| checksum_files) {
        return Class::Manifest(folder, algorithm);
    }
    if let Some((target, algorithm)) = Algorithm::from_sidecar_name(key).filter(|_| checksum_files)
    {
        return Class::Sidecar(target, algorithm);
    }
    if let Some(include) = &policy.backups.include
        && !include.is_match(rel)
    {
        let folder = match policy.backups.sets {
            SetLayout::ByFolder => rel.split_once('/').map(|(set, _)| set),
            SetLayout::ByObject => None,
        };
        return Class::Excluded(folder);
    }
    match policy.backups.sets {
        SetLayout::ByObject => Class::Object(rel),
        SetLayout::ByFolder => match rel.split_once('/') {
            Some((set, _)) => Class::Object(set),
            None => Class::Ungrouped,
        },
    }
}

/// The checksum files seen, by what they cover.
#[derive(Default)]
struct Checks {
    /// Object key → sidecars naming it.
    sidecars: HashMap<String, Vec<ChecksumSource>>,
    /// Folder (with trailing `/`) → manifests in it.
    manifests: HashMap<String, Vec<ChecksumSource>>,
}

impl Checks {
    fn add(&mut self, class: &Class<'_>, key: &str) {
        match *class {
            Class::Manifest(folder, algorithm) => {
                self.manifests.entry(folder.to_string()).or_default().push(
                    ChecksumSource::Manifest {
                        key: key.to_string(),
                        algorithm,
                    },
                )
            }
            Class::Sidecar(target, algorithm) => self
                .sidecars
                .entry(target.to_string())
                .or_default()
                .push(ChecksumSource::Sidecar {
                    key: key.to_string(),
                    algorithm,
                }),
            _ => {}
        }
    }
}

/// Folds a listing into sets. Memory grows with the sets listed (a few numbers each), not
/// with the objects: with the by-folder layout no object is kept while listing;
/// [`Planner::select`] picks the sets, and a second listing of the chosen sets' folders
/// ([`Selection::folders`], [`Selection::add`]) brings their objects and checksum files.
pub struct Planner<'p> {
    policy: &'p Policy,
    tracker: coverage::Tracker,
    sets: BTreeMap<String, SetAcc>,
    /// Folders with objects left out by `include` (by-folder layout).
    excluded: BTreeMap<String, Excluded>,
    /// Checksum files, kept while listing for the by-object layout only.
    checks: Checks,
    listed: usize,
    ungrouped: usize,
    /// Listed keys refused by [`crate::storage::confined_key`], by key.
    unsafe_keys: Unsafe,
}

impl<'p> Planner<'p> {
    pub fn new(policy: &'p Policy, ctx: &PlanContext) -> Self {
        let window = policy
            .sample
            .coverage
            .unwrap_or(std::time::Duration::from_secs(30 * 86_400));
        Planner {
            policy,
            tracker: coverage::Tracker::new(ctx.now, window),
            sets: BTreeMap::new(),
            excluded: BTreeMap::new(),
            checks: Checks::default(),
            listed: 0,
            ungrouped: 0,
            unsafe_keys: Unsafe::new(),
        }
    }

    /// Objects and checksum files held so far (the memory guard's measure).
    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        self.sets.values().map(|s| s.objects.len()).sum::<usize>()
            + self.checks.sidecars.values().map(Vec::len).sum::<usize>()
            + self.checks.manifests.values().map(Vec::len).sum::<usize>()
    }

    fn keeps_objects(&self) -> bool {
        self.policy.backups.sets == SetLayout::ByObject
    }

    /// Takes one listed object, with the ledger's row under its key (none: not in the
    /// ledger). Folders and keys outside the prefix are ignored; a key that could leave the
    /// prefix is kept aside for its finding, never used.
    pub fn add(&mut self, entry: Entry, known: Option<&coverage::Known>) {
        if !confined(self.policy, &entry.key, &mut self.unsafe_keys) {
            return;
        }
        let class = classify(self.policy, &entry.key);
        match class {
            Class::Outside => return,
            Class::Excluded(None) => {}
            Class::Excluded(Some(folder)) => {
                let acc = match self.excluded.get_mut(folder) {
                    Some(acc) => acc,
                    None => self.excluded.entry(folder.to_string()).or_default(),
                };
                acc.count += 1;
                acc.newest_modified = acc.newest_modified.max(entry.modified);
            }
            Class::Ungrouped => self.ungrouped += 1,
            Class::Manifest(..) | Class::Sidecar(..) => {
                if self.keeps_objects() {
                    self.checks.add(&class, &entry.key);
                }
            }
            Class::Object(set) => {
                let keep = self.keeps_objects();
                let ledgered = self.tracker.add(&entry, known);
                let rank = ledgered.rank;
                let acc = match self.sets.get_mut(set) {
                    Some(acc) => acc,
                    None => self.sets.entry(set.to_string()).or_default(),
                };
                acc.rank = Some(acc.rank.map_or(rank, |r| r.min(rank)));
                acc.count += 1;
                acc.bytes += entry.size;
                acc.newest_modified = acc.newest_modified.max(entry.modified);
                if keep {
                    acc.objects.push((entry, ledgered));
                }
            }
        }
        self.listed += 1;
    }

    /// Dates the sets and picks which to restore: the newest set always, `random` more
    /// from the `within` window (or the one whole set of a drill).
    pub fn select(self, ctx: &PlanContext) -> Selection<'p> {
        let policy = self.policy;
        let mut dated: Vec<Dated> = self
            .sets
            .into_iter()
            .map(|(name, acc)| {
                let (date, by) = date_set(policy, &ctx.tz, &name, acc.newest_modified);
                (name, acc, date, by)
            })
            .collect();
        // Newest first; undated sets last; names break ties so the order is total.
        dated.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| b.0.cmp(&a.0)));
        let total_sets = dated.len();
        let undated: Vec<String> = match policy.backups.dated_by {
            DateSource::Name => dated
                .iter()
                .filter(|d| d.2.is_none())
                .map(|d| d.0.clone())
                .collect(),
            DateSource::Modified | DateSource::Snapshot => Vec::new(),
        };
        let suggested_format = suggest_format(&undated, &ctx.tz);
        let emptied = dating::emptied(policy, &ctx.tz, self.excluded, &dated);

        let chosen: Vec<usize> = match ctx.choice {
            Choice::WholeOn(day) => dated
                .iter()
                .position(|d| {
                    d.2.is_some_and(|t| t.to_zoned(ctx.tz.clone()).date() == day)
                })
                .into_iter()
                .collect(),
            Choice::WholeNewest => (!dated.is_empty()).then_some(0).into_iter().collect(),
            Choice::WholeSnapshot(id) => dated
                .iter()
                .position(|d| d.0 == id.as_str())
                .into_iter()
                .collect(),
            Choice::Sample if dated.is_empty() => Vec::new(),
            Choice::Sample => match policy.sample.coverage {
                Some(_) => choice::least_recently_verified(policy, ctx.seed, &dated),
                None => choice::random_within(policy, ctx, &dated),
            },
        };
        let nearest = match ctx.choice {
            Choice::WholeOn(day) if chosen.is_empty() => dating::nearest_sets(&dated, day, &ctx.tz),
            // No set of that name: the newest ones, for the refusal to list.
            Choice::WholeSnapshot(_) if chosen.is_empty() => {
                dated.iter().take(10).map(|d| (d.0.clone(), d.2)).collect()
            }
            _ => Vec::new(),
        };
        let mut dated: Vec<Option<Dated>> = dated.into_iter().map(Some).collect();
        let chosen: Vec<ChosenSet> = chosen
            .into_iter()
            .map(|index| {
                let (name, acc, date, dated_by) =
                    dated[index].take().expect("each set chosen once");
                ChosenSet {
                    name,
                    acc,
                    date,
                    dated_by,
                    newest: index == 0,
                }
            })
            .collect();
        let by_name = chosen
            .iter()
            .enumerate()
            .map(|(i, set)| (set.name.clone(), i))
            .collect();
        Selection {
            policy,
            tracker: self.tracker,
            seed: ctx.seed,
            whole: ctx.choice != Choice::Sample,
            chosen,
            by_name,
            checks: self.checks,
            listed: self.listed,
            ungrouped: self.ungrouped,
            unsafe_keys: self.unsafe_keys,
            total_sets,
            nearest,
            undated,
            suggested_format,
            emptied,
        }
    }

    /// Both listings from one list of entries (the second is the same entries again,
    /// filtered to the chosen folders), against a ledger in memory: for tests and callers
    /// holding a listing in memory.
    pub fn plan_listing(
        policy: &Policy,
        entries: &[Entry],
        ctx: &PlanContext,
        ledger: Option<&coverage::LedgerView>,
    ) -> PolicyPlan {
        let known = |e: &Entry| ledger.and_then(|l| l.get(&e.key));
        let mut planner = Planner::new(policy, ctx);
        for entry in entries {
            planner.add(entry.clone(), known(entry));
        }
        let mut selection = planner.select(ctx);
        let folders = selection.folders();
        for entry in entries {
            if folders.iter().any(|f| entry.key.starts_with(f.as_str())) {
                selection.add(entry.clone(), known(entry));
            }
        }
        selection.finish()
    }
}

type Dated = (String, SetAcc, Option<Timestamp>, DatedBy);

/// `("a/b/", "c")` for `"a/b/c"`; `("", "c")` for `"c"`.
fn split_folder(key: &str) -> (&str, &str) {
    match key.rfind('/') {
        Some(i) => (&key[..=i], &key[i + 1..]),
        None => ("", key),
    }
}

/// A stable pseudo-random rank of `item` for this seed and policy.
fn score(seed: u64, policy: &str, item: &str) -> u64 {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&seed.to_le_bytes());
    hasher.update(policy.as_bytes());
    hasher.update(&[0]);
    hasher.update(item.as_bytes());
    let bytes = hasher.finalize();
    u64::from_le_bytes(bytes.as_bytes()[..8].try_into().expect("8 bytes"))
}

#[cfg(test)]
mod tests;
