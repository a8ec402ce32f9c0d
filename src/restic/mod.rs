//! restic repositories (`backups.format: restic`), read with rustic_core through our own
//! read-only backend ([`backend::ReadOnly`]) over the policy's storage: the repository is
//! opened with the policy's password, its snapshots filtered by `restic:` (host, tags,
//! paths), and the files of the matching snapshots listed as [`Entry`]s the planner takes
//! like any listing (key `<prefix><snapshot>/<path in the snapshot>`, dated by the
//! snapshot's own time). A sampled file is restored blob by blob ([`restore`]), each blob's
//! SHA-256 checked against its id as it is read.
//!
//! An edge, like `storage`: it does I/O, blocking, so every call into it runs on a blocking
//! thread. Must not: write to, lock or prune the repository (the backend refuses), keep the
//! password anywhere but in rustic_core's key derivation, or turn a repository it cannot
//! read into an `Err` of the run: that is a finding of the policy.

pub mod backend;
mod manifest;
mod packs;
mod restore;
mod subset;
mod tree;
pub mod workers;

use std::collections::HashMap;
use std::sync::Arc;

use rustic_core::repofile::SnapshotFile;
use rustic_core::{
    Credentials, IndexedFullStatus, OpenStatus, Repository, RepositoryBackends, RepositoryOptions,
    RusticError, TreeId,
};

use crate::config::Restic;
use crate::finding::{Finding, FindingKind};
use crate::storage::{Entry, Storage};
use backend::{ReadFailure, ReadOnly};
use tree::FileBlobs;

pub use restore::restore_file;
pub use subset::SubsetRead;

/// A repository opened and indexed, with the root folder of each listed snapshot by its set
/// name: a file's blobs are found again from its path when it is restored.
pub struct Opened {
    repo: Repository<IndexedFullStatus>,
    backend: Arc<ReadOnly>,
    prefix: String,
    snapshots: HashMap<String, TreeId>,
    trees: tree::Trees,
    manifests: manifest::Manifests,
    packs: packs::PackReads,
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened")
            .field("backend", &self.backend)
            .field("snapshots", &self.snapshots.len())
            .finish_non_exhaustive()
    }
}

impl Opened {
    /// Writes rustic_core asked for and the backend refused (none, in a sound read).
    pub fn refused_writes(&self) -> usize {
        self.backend.refused_writes()
    }

    /// The file listed as `key` (`<prefix><set>/<path>`), found again in its snapshot.
    fn file(&self, key: &str) -> Result<FileBlobs, String> {
        let (set, path) = key
            .strip_prefix(&self.prefix)
            .and_then(|rel| rel.split_once('/'))
            .ok_or_else(|| "the key names no snapshot of the listing".to_string())?;
        let root = self
            .snapshots
            .get(set)
            .ok_or_else(|| format!("snapshot {set} was not in the listing"))?;
        self.trees.file(&self.repo, &self.backend, *root, path)
    }
}

/// What reading the repository found: the files of the matching snapshots, as a listing.
#[derive(Debug)]
pub struct Listed {
    pub opened: Arc<Opened>,
    pub entries: Vec<Entry>,
    /// Snapshots that could not be listed whole (a tree in no index, a missing pack).
    pub findings: Vec<Finding>,
    /// Why the listing stopped before its end (`storage.max_listed_keys`), in the object
    /// listing's words.
    pub truncated: Option<String>,
    /// The set name of the snapshot a drill's snapshot id names.
    pub found: Option<String>,
    /// A drill's snapshot id that names no matching snapshot, or more than one: those it
    /// could mean, or else the newest ten (set name, time). Nothing is listed then.
    pub miss: Option<Vec<(String, jiff::Timestamp)>>,
    /// Snapshots in the repository, and those `restic:` selects.
    pub snapshots: usize,
    pub matching: usize,
}

/// Opens the repository under `prefix` of `storage` and lists the files of the snapshots
/// `restic` selects, newest snapshot first, `max_keys` files at most; with `only` (a drill's
/// snapshot id, or its first digits), the snapshot it names first; with `whole` (a drill,
/// which restores every file of its snapshot), the folders read are kept for the restores,
/// within the cache's weight. Blocking: call it
/// from a blocking thread of `runtime`'s runtime. A repository that cannot be opened or
/// read is the one finding returned.
pub fn list(
    restic: &Restic,
    storage: Storage,
    prefix: &str,
    only: Option<&str>,
    whole: bool,
    runtime: tokio::runtime::Handle,
) -> Result<Listed, Finding> {
    let max_keys = storage.tuning().max_listed_keys;
    let place = storage.place().to_string();
    let backend = Arc::new(ReadOnly::new(storage, prefix, runtime));
    let repo = open(restic, &backend, &place, prefix)?;
    let all = repo
        .get_all_snapshots()
        .map_err(|e| read_failure(backend.take_any_failure(), &e, "cannot read the snapshots"))?;
    let snapshots = all.len();
    let mut matching: Vec<SnapshotFile> = all
        .into_iter()
        .filter(|s| {
            let tags: Vec<&str> = s.tags.iter().map(String::as_str).collect();
            let paths: Vec<&str> = s.paths.iter().map(String::as_str).collect();
            restic.selects(&s.hostname, &tags, &paths)
        })
        .collect();
    matching.sort_by_key(|s| s.time.timestamp());
    let repo = repo
        .to_indexed()
        .map_err(|e| read_failure(backend.take_any_failure(), &e, "cannot read the index"))?;
    let names = set_names(&matching);
    let (order, found, miss) = wanted(&matching, &names, only);
    let trees = tree::Trees::default();
    let mut walk = tree::Walk::new(&repo, &backend, max_keys, whole.then_some(&trees));
    let mut roots = HashMap::new();
    let mut findings = Vec::new();
    // Newest first: when `storage.max_listed_keys` stops the listing, the newest snapshot,
    // always sampled, is the one listed whole.
    for i in order {
        let (snapshot, name) = (&matching[i], &names[i]);
        if walk.truncated {
            break;
        }
        let set = format!("{prefix}{name}/");
        // A snapshot whose folders cannot all be read is no set: its finding fails the
        // policy, and the other snapshots are still drilled.
        if let Err(mut finding) = walk.snapshot(snapshot.tree, &set, snapshot.time.timestamp()) {
            finding.message = format!("snapshot {name}: {}", finding.message);
            if finding.object.is_none() {
                finding.object = Some(format!("{prefix}{name}"));
            }
            findings.push(finding);
            continue;
        }
        roots.insert(name.clone(), snapshot.tree);
    }
    let truncated = walk.truncated.then(|| crate::storage::keys_spent(max_keys));
    let entries = std::mem::take(&mut walk.entries);
    drop(walk);
    Ok(Listed {
        opened: Arc::new(Opened {
            repo,
            backend,
            prefix: prefix.to_string(),
            snapshots: roots,
            trees,
            manifests: manifest::Manifests::default(),
            packs: packs::PackReads::default(),
        }),
        entries,
        findings,
        truncated,
        found,
        miss,
        snapshots,
        matching: matching.len(),
    })
}

/// Snapshots named to a drill whose id named none or several: set name and time.
type Named = Vec<(String, jiff::Timestamp)>;

/// The order in which to list `matching` (oldest first): newest first; with `only`, the
/// snapshot whose id begins so first (so that the listing's bound leaves it whole), its set
/// name returned; none when no snapshot or more than one begins so, and the snapshots to
/// name instead. The others are still listed: the RPO is the newest snapshot's.
fn wanted(
    matching: &[SnapshotFile],
    names: &[String],
    only: Option<&str>,
) -> (Vec<usize>, Option<String>, Option<Named>) {
    let newest_first = (0..matching.len()).rev();
    let Some(id) = only else {
        return (newest_first.collect(), None, None);
    };
    let hits: Vec<usize> = (0..matching.len())
        .filter(|&i| matching[i].id.to_hex().starts_with(id))
        .collect();
    if let [hit] = hits[..] {
        let order = std::iter::once(hit)
            .chain(newest_first.filter(|&i| i != hit))
            .collect();
        return (order, Some(names[hit].clone()), None);
    }
    let named = if hits.is_empty() {
        newest_first.take(10).collect()
    } else {
        hits
    };
    let named = named
        .into_iter()
        .map(|i| (names[i].clone(), matching[i].time.timestamp()))
        .collect();
    (Vec::new(), None, Some(named))
}

/// What `check --connect` says of a repository: it opened with the password and its config
/// read, its snapshots and those the policy selects, and the newest of those (short id, time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connected {
    pub snapshots: usize,
    pub matching: usize,
    pub newest: Option<(String, jiff::Timestamp)>,
}

/// Opens the repository and lists its snapshots, reading no index or tree (`check
/// --connect`). Blocking, like [`list`].
pub fn connect(
    restic: &Restic,
    storage: Storage,
    prefix: &str,
    runtime: tokio::runtime::Handle,
) -> Result<Connected, Finding> {
    let place = storage.place().to_string();
    let backend = Arc::new(ReadOnly::new(storage, prefix, runtime));
    let repo = open(restic, &backend, &place, prefix)?;
    let all = repo
        .get_all_snapshots()
        .map_err(|e| read_failure(backend.take_any_failure(), &e, "cannot read the snapshots"))?;
    let matching: Vec<&SnapshotFile> = all
        .iter()
        .filter(|s| {
            let tags: Vec<&str> = s.tags.iter().map(String::as_str).collect();
            let paths: Vec<&str> = s.paths.iter().map(String::as_str).collect();
            restic.selects(&s.hostname, &tags, &paths)
        })
        .collect();
    let newest = matching
        .iter()
        .max_by_key(|s| s.time.timestamp())
        .map(|s| (s.id.to_string(), s.time.timestamp()));
    Ok(Connected {
        snapshots: all.len(),
        matching: matching.len(),
        newest,
    })
}

/// The repository opened with the policy's password, or the finding that says why not.
fn open(
    restic: &Restic,
    backend: &Arc<ReadOnly>,
    place: &str,
    prefix: &str,
) -> Result<Repository<OpenStatus>, Finding> {
    let unreadable = |message: String| {
        Finding::new(
            FindingKind::RepositoryUnreadable,
            Some(prefix).filter(|p| !p.is_empty()),
            message,
        )
    };
    let password = restic
        .password
        .resolve()
        .map_err(|e| unreadable(format!("restic.password: {e}")))?;
    let mut options = RepositoryOptions::default();
    // rustic_core's cache is a folder of the host's it writes to; nothing is kept here.
    options.no_cache = true;
    let backends = RepositoryBackends::new(backend.clone(), None);
    let repo = Repository::new(&options, &backends).map_err(|e| {
        unreadable(format!(
            "cannot use the repository in {place}: {}",
            one_line(&e)
        ))
    })?;
    match repo.config_id() {
        Ok(Some(_)) => {}
        Ok(None) => {
            return Err(unreadable(format!(
                "no restic repository at `{prefix}` in {place}: its `config` file is missing; \
                 check storage and backups.prefix"
            )));
        }
        Err(e) => {
            return Err(read_failure(
                backend.take_any_failure(),
                &e,
                "cannot read the repository's config",
            ));
        }
    }
    repo.open(&Credentials::password(password)).map_err(|e| {
        if let Some(failure) = backend.take_any_failure() {
            return Finding::new(
                FindingKind::StorageError,
                Some(&failure.key),
                failure.message,
            );
        }
        if e.is_incorrect_password() {
            unreadable(format!(
                "wrong password: no key of the repository in {place} opens with restic.password; \
                 check the reference and the client's current restic password"
            ))
        } else {
            unreadable(format!(
                "cannot open the repository in {place} (its keys or config file are \
                 unreadable): {}",
                one_line(&e)
            ))
        }
    })
}

/// A failed read in words: the backend's own (which file, which storage) when it saw the
/// `failure`, else rustic_core's.
fn read_failure(failure: Option<ReadFailure>, e: &RusticError, what: &str) -> Finding {
    match failure {
        Some(failure) => Finding::new(
            FindingKind::StorageError,
            Some(&failure.key),
            format!("{what}: {}", failure.message),
        ),
        None => Finding::new(
            FindingKind::RepositoryUnreadable,
            None,
            format!("{what}: {}", one_line(e)),
        ),
    }
}

/// rustic_core's message without its multi-line frame (the guidance with its context
/// filled in), on one line.
pub(crate) fn one_line(e: &RusticError) -> String {
    let text = e.to_string();
    let message = text
        .split_once("Message:")
        .map_or(text.as_str(), |(_, rest)| rest);
    let first = message
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("unknown error");
    first.trim_end_matches('.').to_string()
}

/// Each snapshot's set name: its short id (8 hex digits), or the whole id where two
/// snapshots share the short one.
fn set_names(snapshots: &[SnapshotFile]) -> Vec<String> {
    let short = |s: &SnapshotFile| s.id.to_string();
    let mut count: HashMap<String, usize> = HashMap::new();
    for s in snapshots {
        *count.entry(short(s)).or_default() += 1;
    }
    snapshots
        .iter()
        .map(|s| {
            if count[&short(s)] > 1 {
                s.id.to_hex().to_string()
            } else {
                short(s)
            }
        })
        .collect()
}
