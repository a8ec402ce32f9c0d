//! `restic.read_data_subset`: a share of the repository's packs read whole each run, as
//! `restic check --read-data-subset` does, whichever files the sample restores. Each blob of
//! a chosen pack (as the index lays it out) is read, decrypted (its authentication code
//! checked) and hashed against its id. A damaged pack is one `corrupt_archive` finding (a
//! missing one `storage_error`) naming the pack and, from the listed snapshots' trees, the
//! snapshots and files its data blobs belong to.
//!
//! Must not: choose differently for the same seed, or hold more of the index than the ids
//! of the packs and the blobs of those chosen.

use std::collections::{BTreeSet, HashMap, HashSet};

use rustic_core::repofile::{BlobType, IndexBlob, IndexFile, NodeType};
use rustic_core::{BlobId, IndexedFullStatus, Repository, TreeId};
use sha2::{Digest, Sha256};

use super::Opened;
use crate::config::DataSubset;
use crate::finding::{Finding, FindingKind};

/// Files named per damaged pack, at most; the rest are counted.
const MAX_FILES_NAMED: usize = 5;

/// What reading the subset did and found.
#[derive(Debug, Default)]
pub struct SubsetRead {
    pub packs: usize,
    pub read: usize,
    pub findings: Vec<Finding>,
}

/// A damaged pack: what is wrong, and its data blobs that failed.
struct Damaged {
    pack: String,
    kind: FindingKind,
    message: String,
    blobs: HashSet<BlobId>,
}

impl Opened {
    /// Reads the packs `subset` chooses (with `seed`) and checks every blob in them.
    /// Blocking. An index that cannot be read is one finding.
    pub fn read_data_subset(&self, subset: DataSubset, seed: u64) -> SubsetRead {
        let mut result = SubsetRead::default();
        let mut packs = BTreeSet::new();
        let index = |result: &mut SubsetRead, e: &rustic_core::RusticError| {
            result.findings.push(Finding::new(
                FindingKind::StorageError,
                None,
                format!(
                    "restic.read_data_subset: cannot read the index: {}",
                    super::one_line(e)
                ),
            ));
        };
        match self.repo.stream_files::<IndexFile>() {
            Ok(files) => {
                for file in files {
                    match file {
                        Ok((_, file)) => packs.extend(file.packs.iter().map(|p| p.id)),
                        Err(e) => return fail_with(result, index, &e),
                    }
                }
            }
            Err(e) => return fail_with(result, index, &e),
        }
        result.packs = packs.len();
        let chosen = choose(&packs, subset, seed);
        drop(packs);
        let mut blobs: HashMap<_, Vec<IndexBlob>> = HashMap::new();
        if let Ok(files) = self.repo.stream_files::<IndexFile>() {
            for (_, file) in files.flatten() {
                for pack in file.packs {
                    if chosen.contains(&pack.id) {
                        blobs.entry(pack.id).or_default().extend(pack.blobs);
                    }
                }
            }
        }
        let mut damaged = Vec::new();
        let mut ids: Vec<_> = blobs.keys().copied().collect();
        ids.sort();
        for id in ids {
            result.read += 1;
            if let Some(d) = self.check_pack(&id.to_hex(), &blobs[&id]) {
                damaged.push(d);
            }
        }
        let affected = self.affected(&damaged);
        for (d, (snapshots, files, more)) in damaged.into_iter().zip(affected) {
            let mut message = d.message;
            if !snapshots.is_empty() {
                message.push_str(&format!(
                    "; it holds data of snapshot{} {}: {}{}",
                    if snapshots.len() > 1 { "s" } else { "" },
                    snapshots.join(", "),
                    files.join(", "),
                    if more > 0 {
                        format!(" and {more} more files")
                    } else {
                        String::new()
                    }
                ));
            }
            let key = format!("{}data/{}/{}", self.prefix, &d.pack[..2], d.pack);
            result
                .findings
                .push(Finding::new(d.kind, Some(&key), message));
        }
        result
    }

    /// Every blob of the pack `pack` read and checked; the damage found, if any.
    fn check_pack(&self, pack: &str, blobs: &[IndexBlob]) -> Option<Damaged> {
        let mut failed = HashSet::new();
        let mut bad = 0usize;
        let mut first: Option<(FindingKind, String)> = None;
        for blob in blobs {
            let short = blob.id.to_hex().as_str()[..16].to_string();
            let problem = match self.repo.get_blob_cached(&blob.id, blob.tpe) {
                Ok(data) if hex::encode(Sha256::digest(&data)) == blob.id.to_hex().as_str() => {
                    continue;
                }
                Ok(_) => (
                    FindingKind::CorruptArchive,
                    format!("blob {short} hashes to another id: its content is damaged"),
                ),
                Err(_) => match self.backend.take_failure() {
                    Some(failure) if failure.not_found => {
                        let message = format!("the pack is missing: {}", failure.message);
                        return Some(Damaged {
                            pack: pack.to_string(),
                            kind: FindingKind::StorageError,
                            message: format!("restic.read_data_subset: pack {pack}: {message}"),
                            blobs: blobs
                                .iter()
                                .filter(|b| b.tpe == BlobType::Data)
                                .map(|b| b.id)
                                .collect(),
                        });
                    }
                    Some(failure) => (
                        FindingKind::StorageError,
                        format!("blob {short} cannot be read: {}", failure.message),
                    ),
                    None => (
                        FindingKind::CorruptArchive,
                        format!(
                            "blob {short} at offset {} fails its authentication code or does \
                             not decompress",
                            blob.location.offset
                        ),
                    ),
                },
            };
            if blob.tpe == BlobType::Data {
                failed.insert(blob.id);
            }
            bad += 1;
            first.get_or_insert(problem);
        }
        let (kind, what) = first?;
        Some(Damaged {
            pack: pack.to_string(),
            kind,
            message: format!(
                "restic.read_data_subset: pack {pack} is damaged: {what} ({bad} of its {} \
                 blobs fail)",
                blobs.len()
            ),
            blobs: failed,
        })
    }

    /// For each damaged pack: the listed snapshots whose files use its failed data blobs,
    /// the first files named (as in the first snapshot that has them) and how many more.
    fn affected(&self, damaged: &[Damaged]) -> Vec<(Vec<String>, Vec<String>, usize)> {
        let mut out: Vec<(Vec<String>, Vec<String>, usize)> =
            vec![Default::default(); damaged.len()];
        if damaged.iter().all(|d| d.blobs.is_empty()) {
            return out;
        }
        let mut names: Vec<(&String, &TreeId)> = self.snapshots.iter().collect();
        names.sort();
        // Per tree, the damaged packs its files use (each tree read once).
        let mut memo: HashMap<TreeId, Vec<usize>> = HashMap::new();
        for (name, root) in names {
            let mut scan = Scan {
                repo: &self.repo,
                damaged,
                memo: &mut memo,
                out: &mut out,
            };
            for i in scan.tree(*root, "", 0) {
                out[i].0.push(name.clone());
            }
        }
        out
    }
}

fn fail_with(
    mut result: SubsetRead,
    say: impl Fn(&mut SubsetRead, &rustic_core::RusticError),
    e: &rustic_core::RusticError,
) -> SubsetRead {
    say(&mut result, e);
    result
}

/// The packs of `packs` that `subset` chooses: those whose id's first byte modulo `t` is
/// `n - 1`, or the share with the lowest keyed hash of the seed and the pack's id (at least
/// one).
fn choose(
    packs: &BTreeSet<rustic_core::repofile::PackId>,
    subset: DataSubset,
    seed: u64,
) -> HashSet<rustic_core::repofile::PackId> {
    match subset {
        DataSubset::Part { n, t } => packs
            .iter()
            .filter(|id| {
                let first = u32::from_str_radix(&id.to_hex().as_str()[..2], 16).unwrap_or(0);
                first % t == n - 1
            })
            .copied()
            .collect(),
        DataSubset::Percent(share) => {
            let count = ((packs.len() as f64) * share / 100.0).ceil() as usize;
            let mut keyed: Vec<([u8; 32], rustic_core::repofile::PackId)> = packs
                .iter()
                .map(|id| {
                    let mut hasher = blake3::Hasher::new();
                    hasher.update(&seed.to_le_bytes());
                    hasher.update(id.to_hex().as_bytes());
                    (*hasher.finalize().as_bytes(), *id)
                })
                .collect();
            keyed.sort();
            keyed
                .into_iter()
                .take(count.max(1).min(packs.len()))
                .map(|(_, id)| id)
                .collect()
        }
    }
}

/// The trees of the listed snapshots, searched for files using damaged blobs.
struct Scan<'a> {
    repo: &'a Repository<IndexedFullStatus>,
    damaged: &'a [Damaged],
    memo: &'a mut HashMap<TreeId, Vec<usize>>,
    out: &'a mut Vec<(Vec<String>, Vec<String>, usize)>,
}

impl Scan<'_> {
    /// The damaged packs whose blobs the files below `tree` use.
    fn tree(&mut self, tree: TreeId, path: &str, depth: usize) -> Vec<usize> {
        if let Some(hit) = self.memo.get(&tree) {
            return hit.clone();
        }
        let mut hit = BTreeSet::new();
        // A tree that cannot be read was already a finding of the listing.
        let nodes = match self.repo.get_tree(&tree) {
            Ok(tree) if depth <= 256 => tree.nodes,
            _ => Vec::new(),
        };
        for node in nodes {
            let name = node.name();
            let child = if path.is_empty() {
                name.to_string_lossy().into_owned()
            } else {
                format!("{path}/{}", name.to_string_lossy())
            };
            match (&node.node_type, node.subtree) {
                (NodeType::Dir, Some(subtree)) => hit.extend(self.tree(subtree, &child, depth + 1)),
                (NodeType::File, _) => {
                    let mut uses = BTreeSet::new();
                    for blob in node.content.iter().flatten() {
                        let blob = BlobId::from(*blob);
                        for (i, d) in self.damaged.iter().enumerate() {
                            if d.blobs.contains(&blob) {
                                uses.insert(i);
                            }
                        }
                    }
                    for i in uses {
                        let named = &mut self.out[i];
                        if named.1.len() < MAX_FILES_NAMED {
                            named.1.push(child.clone());
                        } else {
                            named.2 += 1;
                        }
                        hit.insert(i);
                    }
                }
                _ => {}
            }
        }
        let hit: Vec<usize> = hit.into_iter().collect();
        self.memo.insert(tree, hit.clone());
        hit
    }
}
