//! The `plan` stage: a storage listing → backup sets → the sample to restore. Pure: it takes
//! the listing entry by entry (so the lister can stream) plus the clock and seed, and returns
//! a [`PolicyPlan`] value that can be printed (`--dry-run`) before anything is restored.
//!
//! The choice is seeded and independent of library versions: candidates are ordered by a
//! BLAKE3 hash of (seed, policy, name), so `--seed N` repeats a run's choice exactly.

use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Serialize;

use crate::checksum::Algorithm;
use crate::config::{ObjectsPerSet, Policy, SetLayout};

/// One object from a storage listing, its key relative to the storage root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub size: u64,
    pub modified: Option<Timestamp>,
}

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
    /// The newest last-modified time of its objects.
    Modified,
    /// Neither was available.
    Unknown,
}

impl DatedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            DatedBy::Name => "name",
            DatedBy::Modified => "modified",
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
}

/// What will be restored for one policy, and what the listing showed.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyPlan {
    pub policy: String,
    pub listed_objects: usize,
    pub total_sets: usize,
    /// Objects directly under the prefix with a by-folder layout, which belong to no set.
    pub ungrouped_objects: usize,
    pub sets: Vec<PlannedSet>,
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
}

#[derive(Default)]
struct SetAcc {
    objects: Vec<Entry>,
    bytes: u64,
    newest_modified: Option<Timestamp>,
}

/// Folds a listing into sets; [`Planner::finish`] picks the sample.
pub struct Planner<'p> {
    policy: &'p Policy,
    sets: BTreeMap<String, SetAcc>,
    /// Object key → sidecars naming it.
    sidecars: HashMap<String, Vec<ChecksumSource>>,
    /// Folder (with trailing `/`) → manifests in it.
    manifests: HashMap<String, Vec<ChecksumSource>>,
    listed: usize,
    ungrouped: usize,
}

impl<'p> Planner<'p> {
    pub fn new(policy: &'p Policy) -> Self {
        Planner {
            policy,
            sets: BTreeMap::new(),
            sidecars: HashMap::new(),
            manifests: HashMap::new(),
            listed: 0,
            ungrouped: 0,
        }
    }

    /// Takes one listed object. Folders and keys outside the prefix are ignored.
    pub fn add(&mut self, entry: Entry) {
        let Some(rel) = entry.key.strip_prefix(&self.policy.backups.prefix) else {
            return;
        };
        if rel.is_empty() || rel.ends_with('/') {
            return;
        }
        self.listed += 1;
        let (folder, file) = split_folder(&entry.key);
        if let Some(algorithm) = Algorithm::from_manifest_name(file) {
            let source = ChecksumSource::Manifest {
                key: entry.key.clone(),
                algorithm,
            };
            self.manifests
                .entry(folder.to_string())
                .or_default()
                .push(source);
            return;
        }
        if let Some((target, algorithm)) = Algorithm::from_sidecar_name(&entry.key) {
            let source = ChecksumSource::Sidecar {
                key: entry.key.clone(),
                algorithm,
            };
            self.sidecars
                .entry(target.to_string())
                .or_default()
                .push(source);
            return;
        }
        if let Some(include) = &self.policy.backups.include
            && !include.is_match(rel)
        {
            return;
        }
        let set = match self.policy.backups.sets {
            SetLayout::ByObject => rel,
            SetLayout::ByFolder => match rel.split_once('/') {
                Some((set, _)) => set,
                None => {
                    self.ungrouped += 1;
                    return;
                }
            },
        };
        let acc = self.sets.entry(set.to_string()).or_default();
        acc.bytes += entry.size;
        acc.newest_modified = acc.newest_modified.max(entry.modified);
        acc.objects.push(entry);
    }

    /// Dates the sets and picks the sample: the newest set always, `random` more from the
    /// `within` window, objects per set, then the `max_bytes` cap in that order.
    pub fn finish(self, ctx: &PlanContext) -> PolicyPlan {
        let policy = self.policy;
        let mut dated: Vec<(String, SetAcc, Option<Timestamp>, DatedBy)> = self
            .sets
            .into_iter()
            .map(|(name, acc)| {
                let (date, by) = match policy
                    .backups
                    .date_format
                    .as_deref()
                    .and_then(|f| date_from_name(&name, f, &ctx.tz))
                {
                    Some(date) => (Some(date), DatedBy::Name),
                    None => match acc.newest_modified {
                        Some(m) => (Some(m), DatedBy::Modified),
                        None => (None, DatedBy::Unknown),
                    },
                };
                (name, acc, date, by)
            })
            .collect();
        // Newest first; undated sets last; names break ties so the order is total.
        dated.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| b.0.cmp(&a.0)));
        let total_sets = dated.len();

        let window_start = ctx
            .now
            .checked_sub(
                jiff::SignedDuration::try_from(policy.sample.within)
                    .unwrap_or(jiff::SignedDuration::MAX),
            )
            .ok();
        if ctx.choice != Choice::Sample {
            return whole_set(
                policy,
                dated,
                ctx,
                self.listed,
                self.ungrouped,
                &self.sidecars,
                &self.manifests,
            );
        }
        let mut candidates: Vec<usize> = (1..dated.len())
            .filter(|&i| match (dated[i].2, window_start) {
                (Some(date), Some(start)) => date >= start,
                (Some(_), None) => true,
                (None, _) => false,
            })
            .collect();
        candidates.sort_by_key(|&i| score(ctx.seed, &policy.name, &dated[i].0));
        candidates.truncate(policy.sample.random);
        candidates.sort_unstable();
        let chosen: Vec<usize> = if dated.is_empty() {
            Vec::new()
        } else {
            std::iter::once(0).chain(candidates).collect()
        };

        // Stored bytes already chosen; the first object (the newest set's) is taken even
        // when it alone exceeds `max_bytes`: the newest backup is never left unverified.
        let mut spent = 0u64;
        let mut taken = 0usize;
        let mut sets = Vec::new();
        let mut dated: Vec<Option<_>> = dated.into_iter().map(Some).collect();
        for index in chosen {
            let (name, acc, date, dated_by) = dated[index].take().expect("each set chosen once");
            let total_objects = acc.objects.len();
            let mut objects = pick_objects(
                acc.objects,
                policy.sample.objects_per_set,
                ctx.seed,
                &policy.name,
            );
            let before = objects.len();
            objects.retain(|o| {
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
            let capped_objects = before - objects.len();
            let objects = objects
                .into_iter()
                .map(|entry| {
                    planned_object(
                        policy.backups.sets,
                        &policy.backups.prefix,
                        &name,
                        entry,
                        &self.sidecars,
                        &self.manifests,
                    )
                })
                .collect();
            sets.push(PlannedSet {
                name,
                date,
                dated_by,
                newest: index == 0,
                total_objects,
                total_bytes: acc.bytes,
                objects,
                capped_objects,
            });
        }
        PolicyPlan {
            policy: policy.name.clone(),
            listed_objects: self.listed,
            total_sets,
            ungrouped_objects: self.ungrouped,
            sets,
        }
    }
}

type Dated = (String, SetAcc, Option<Timestamp>, DatedBy);

/// A drill's plan: one whole set, every object, no cap.
fn whole_set(
    policy: &Policy,
    dated: Vec<Dated>,
    ctx: &PlanContext,
    listed: usize,
    ungrouped: usize,
    sidecars: &HashMap<String, Vec<ChecksumSource>>,
    manifests: &HashMap<String, Vec<ChecksumSource>>,
) -> PolicyPlan {
    let total_sets = dated.len();
    let index = match ctx.choice {
        Choice::WholeOn(day) => dated.iter().position(|d| {
            d.2.is_some_and(|t| t.to_zoned(ctx.tz.clone()).date() == day)
        }),
        _ => (!dated.is_empty()).then_some(0),
    };
    let sets = index
        .map(|i| {
            let newest = i == 0;
            let (name, acc, date, dated_by) = dated.into_iter().nth(i).expect("index in range");
            let total_objects = acc.objects.len();
            let mut entries = acc.objects;
            entries.sort_by(|a, b| a.key.cmp(&b.key));
            let objects = entries
                .into_iter()
                .map(|e| {
                    planned_object(
                        policy.backups.sets,
                        &policy.backups.prefix,
                        &name,
                        e,
                        sidecars,
                        manifests,
                    )
                })
                .collect();
            PlannedSet {
                name,
                date,
                dated_by,
                newest,
                total_objects,
                total_bytes: acc.bytes,
                objects,
                capped_objects: 0,
            }
        })
        .into_iter()
        .collect();
    PolicyPlan {
        policy: policy.name.clone(),
        listed_objects: listed,
        total_sets,
        ungrouped_objects: ungrouped,
        sets,
    }
}

fn planned_object(
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
    mut objects: Vec<Entry>,
    per_set: ObjectsPerSet,
    seed: u64,
    policy: &str,
) -> Vec<Entry> {
    if let ObjectsPerSet::Count(n) = per_set
        && n < objects.len()
    {
        objects.sort_by_key(|o| score(seed, policy, &o.key));
        objects.truncate(n);
    }
    objects.sort_by(|a, b| a.key.cmp(&b.key));
    objects
}

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

/// Finds `format` anywhere in `name` (`acme-db-2026-11-25.tar.zst` with `%Y-%m-%d`).
/// A name without a time of day means the start of that day in `tz`; one without an
/// offset is read in `tz`.
pub fn date_from_name(name: &str, format: &str, tz: &TimeZone) -> Option<Timestamp> {
    use jiff::fmt::strtime::BrokenDownTime;
    let starts = name
        .char_indices()
        .filter(|(_, c)| c.is_ascii_alphanumeric())
        .map(|(i, _)| i);
    for start in starts {
        let Ok((tm, _)) = BrokenDownTime::parse_prefix(format, &name[start..]) else {
            continue;
        };
        if let Ok(ts) = tm.to_timestamp() {
            return Some(ts);
        }
        let datetime = tm.to_datetime().ok().or_else(|| {
            tm.to_date()
                .ok()
                .map(|d| d.to_datetime(jiff::civil::Time::midnight()))
        });
        if let Some(dt) = datetime
            && let Ok(zoned) = dt.to_zoned(tz.clone())
        {
            return Some(zoned.timestamp());
        }
    }
    None
}

#[cfg(test)]
mod tests;
