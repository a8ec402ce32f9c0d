//! A snapshot's trees: walked once when the repository is listed, each file becoming an
//! [`Entry`] (key, size, identity) and nothing more, within `storage.max_listed_keys`; and a
//! file's node found again by its path when the file is restored. Trees are
//! content-addressed, so a folder unchanged between snapshots is read once: its files are
//! listed again from the entries it gave the first time, under the new snapshot's name.
//!
//! Must not: keep a file's blob list past the walk (memory per listed file is an object
//! listing's), follow links, or let a node's name carry a `/` into a key unescaped (it is
//! written `%2F`, which the planner refuses as an unsafe path).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use rustic_core::repofile::{Node, NodeType};
use rustic_core::{DataId, IndexedFullStatus, Repository, TreeId};

use super::backend::ReadOnly;
use super::read_failure;
use crate::finding::{Finding, FindingKind};
use crate::storage::Entry;

/// Trees deeper than this are refused (a damaged or hostile repository), not followed.
const MAX_DEPTH: usize = 256;

/// The listing of every matching snapshot, folder by folder, within the key budget.
pub(super) struct Walk<'r> {
    pub(super) repo: &'r Repository<IndexedFullStatus>,
    pub(super) backend: &'r ReadOnly,
    /// `storage.max_listed_keys`: files listed at most, across snapshots.
    pub(super) max_keys: u64,
    pub(super) entries: Vec<Entry>,
    /// Set when the budget stopped the walk.
    pub(super) truncated: bool,
    /// Each tree walked whole: its entries (a range of `entries`) and the length of the key
    /// prefix they were listed under.
    seen: HashMap<TreeId, (usize, usize, usize)>,
    /// Where the folders read are kept for the restores, for a drill (which restores every
    /// file, and would otherwise read every folder again to find its files).
    keep: Option<&'r Trees>,
}

impl<'r> Walk<'r> {
    pub(super) fn new(
        repo: &'r Repository<IndexedFullStatus>,
        backend: &'r ReadOnly,
        max_keys: u64,
        keep: Option<&'r Trees>,
    ) -> Self {
        Walk {
            repo,
            backend,
            max_keys,
            entries: Vec::new(),
            truncated: false,
            seen: HashMap::new(),
            keep,
        }
    }

    /// Lists the files of the snapshot whose root is `tree` under `set` (`<prefix><name>/`),
    /// dated `time`. A folder that cannot be read drops the whole snapshot's entries.
    pub(super) fn snapshot(
        &mut self,
        tree: TreeId,
        set: &str,
        time: jiff::Timestamp,
    ) -> Result<(), Finding> {
        let start = self.entries.len();
        let at = Folder {
            tree,
            keys: set,
            path: "",
        };
        let walked = self.tree(at, time, 0, None);
        if walked.is_err() {
            self.entries.truncate(start);
            self.seen.retain(|_, (_, end, _)| *end <= start);
        }
        walked
    }

    fn full(&mut self) -> bool {
        if self.entries.len() as u64 >= self.max_keys {
            self.truncated = true;
        }
        self.truncated
    }

    /// Every regular file below `tree` (at `path` in the snapshot, keyed under `keys`),
    /// depth first. Links, devices and the like are not files and not restored. `decoded`:
    /// the tree's nodes, when they were read ahead.
    fn tree(
        &mut self,
        at: Folder<'_>,
        time: jiff::Timestamp,
        depth: usize,
        decoded: Option<Result<Vec<Node>, Finding>>,
    ) -> Result<(), Finding> {
        let Folder { tree, keys, path } = at;
        if depth > MAX_DEPTH {
            return Err(Finding::new(
                FindingKind::CorruptArchive,
                Some(path),
                format!("folders nested deeper than {MAX_DEPTH}: the snapshot's tree is damaged"),
            ));
        }
        if let Some(&(from, to, len)) = self.seen.get(&tree) {
            for i in from..to {
                if self.full() {
                    return Ok(());
                }
                let seen = &self.entries[i];
                let entry = Entry {
                    key: format!("{keys}{}", &seen.key[len..]),
                    size: seen.size,
                    modified: Some(time),
                    etag: seen.etag.clone(),
                };
                self.entries.push(entry);
            }
            return Ok(());
        }
        let nodes = match decoded {
            Some(nodes) => nodes?,
            None => decode(self.repo, self.backend, tree, path)?,
        };
        // The subfolders, in order, with their paths: read ahead a few at a time.
        let folders: Vec<(usize, TreeId, String)> = nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| matches!(n.node_type, NodeType::Dir))
            .filter_map(|(i, n)| n.subtree.map(|t| (i, t, child_path(path, &key_name(n)))))
            .collect();
        let mut ahead: VecDeque<(usize, Result<Vec<Node>, Finding>)> = VecDeque::new();
        let start = self.entries.len();
        let mut kept = Vec::with_capacity(if self.keep.is_some() { nodes.len() } else { 0 });
        for (i, node) in nodes.into_iter().enumerate() {
            let name = key_name(&node);
            let node = Kept::of(node, name);
            match (node.subtree, node.file) {
                (Some(subtree), _) => {
                    let missed = ahead.front().is_none_or(|(j, _)| *j != i);
                    if missed && depth < MAX_DEPTH && !self.seen.contains_key(&subtree) {
                        ahead = self.read_ahead(&folders, i);
                    }
                    let decoded = match ahead.front() {
                        Some((j, _)) if *j == i => ahead.pop_front().map(|(_, nodes)| nodes),
                        _ => None,
                    };
                    let child = &folders[folders.partition_point(|(j, ..)| *j < i)].2;
                    let at = Folder {
                        tree: subtree,
                        keys: &format!("{keys}{}/", node.key),
                        path: child,
                    };
                    self.tree(at, time, depth + 1, decoded)?;
                }
                // An empty file has no blob to verify: not an object (nor an
                // `empty_object`).
                (None, true) if node.size == 0 && node.blobs.is_empty() => {}
                (None, true) => {
                    if self.full() {
                        return Ok(());
                    }
                    self.entries.push(Entry {
                        key: format!("{keys}{}", node.key),
                        size: node.size,
                        modified: Some(time),
                        etag: Some(content_identity(&node.blobs)),
                    });
                }
                _ => {}
            }
            if self.truncated {
                return Ok(());
            }
            if self.keep.is_some() {
                kept.push(node);
            }
        }
        if let Some(trees) = self.keep {
            trees.keep(tree, kept);
        }
        self.seen
            .insert(tree, (start, self.entries.len(), keys.len()));
        Ok(())
    }

    /// The subfolders of `folders` from the one at node `from` on, up to `AHEAD` of those
    /// not walked yet, read at once on a few threads: decrypting, decompressing and parsing
    /// a folder is most of a walk's time, and a walk alone is one thread's work.
    fn read_ahead(
        &self,
        folders: &[(usize, TreeId, String)],
        from: usize,
    ) -> VecDeque<(usize, Result<Vec<Node>, Finding>)> {
        let wanted: Vec<&(usize, TreeId, String)> = folders
            [folders.partition_point(|(j, ..)| *j < from)..]
            .iter()
            .filter(|(_, tree, _)| !self.seen.contains_key(tree))
            .take(AHEAD)
            .collect();
        let (repo, backend) = (self.repo, self.backend);
        let next = std::sync::atomic::AtomicUsize::new(0);
        let threads = std::thread::available_parallelism()
            .map_or(1, usize::from)
            .clamp(1, 4)
            .min(wanted.len());
        let mut read: Vec<(usize, Result<Vec<Node>, Finding>)> = std::thread::scope(|s| {
            // A thread that cannot be started leaves its folders to the walk itself.
            let workers: Vec<_> = (0..threads)
                .filter_map(|_| {
                    std::thread::Builder::new()
                        .spawn_scoped(s, || {
                            let mut done = Vec::new();
                            loop {
                                let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                let Some(&&(i, tree, ref path)) = wanted.get(k) else {
                                    return done;
                                };
                                // The finding is made here: a failed read is told on the thread
                                // that made it (`ReadOnly::take_failure`).
                                done.push((i, decode(repo, backend, tree, path)));
                            }
                        })
                        .ok()
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().unwrap_or_default())
                .collect()
        });
        read.sort_by_key(|(i, _)| *i);
        read.into()
    }
}

/// A folder of a snapshot: its tree, the key prefix of its files, and its path.
struct Folder<'a> {
    tree: TreeId,
    keys: &'a str,
    path: &'a str,
}

/// Subfolders read ahead of the walk at once, at most.
const AHEAD: usize = 16;

/// The nodes of `tree` (the folder at `path`), or why they cannot be read.
fn decode(
    repo: &Repository<IndexedFullStatus>,
    backend: &ReadOnly,
    tree: TreeId,
    path: &str,
) -> Result<Vec<Node>, Finding> {
    repo.get_tree(&tree)
        .map(|tree| tree.nodes)
        .map_err(|e| unreadable_tree(backend, &e, tree, path))
}

/// The path of `name` in the folder at `path`.
fn child_path(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}/{name}")
    }
}

/// A node's name as a key segment: a `/` in it (no file system makes one; a hostile
/// repository can) is written `%2F`, so that the key keeps one segment per folder and the
/// planner refuses it as unsafe instead of restoring it somewhere else.
fn key_name(node: &Node) -> String {
    node.name().to_string_lossy().replace('/', "%2F")
}

/// A tree the index does not know, or one that does not decrypt, is the repository's damage,
/// not a wrong password: it names where.
fn unreadable_tree(
    backend: &ReadOnly,
    e: &rustic_core::RusticError,
    tree: TreeId,
    path: &str,
) -> Finding {
    let folder = if path.is_empty() {
        "its root folder".to_string()
    } else {
        format!("the folder `{path}`")
    };
    // This thread's own failure only: folders are read on several threads at once.
    let what = format!("cannot read {folder} (tree {tree})");
    let mut finding = read_failure(backend.take_failure(), e, &what);
    if finding.kind == FindingKind::RepositoryUnreadable {
        finding.kind = FindingKind::StorageError;
    }
    finding
}

/// What makes a file's content this content: a BLAKE3 of its blob ids (the same file in two
/// snapshots is the same object to the coverage ledger only by its key, but its identity
/// says whether it changed).
fn content_identity(blobs: &[DataId]) -> String {
    let mut hasher = blake3::Hasher::new();
    for blob in blobs {
        hasher.update(blob.to_hex().as_bytes());
    }
    format!("restic:{}", &hasher.finalize().to_hex()[..32])
}

/// A file of a snapshot, found again for its restore: its length as its node says, and its
/// content's blobs in order.
#[derive(Debug, Clone)]
pub(super) struct FileBlobs {
    pub(super) size: u64,
    pub(super) blobs: Vec<DataId>,
}

/// Folders read to find files again, the latest first out when the budget is spent: a
/// drill restores a snapshot folder by folder, so each is read about once.
#[derive(Debug, Default)]
pub(super) struct Trees {
    cache: Mutex<TreeCache>,
}

/// The folders kept, the order they came in with their weight, and the weight kept.
#[derive(Debug, Default)]
struct TreeCache {
    map: HashMap<TreeId, Arc<Vec<Kept>>>,
    order: VecDeque<(TreeId, usize)>,
    total: usize,
}

/// What finding a file again needs of a node, kept instead of rustic's whole node (whose
/// metadata, times, owner and attributes, is several hundred bytes more per node).
#[derive(Debug)]
struct Kept {
    /// Its name as a key segment ([`key_name`]).
    key: Box<str>,
    /// A folder's tree, for a folder.
    subtree: Option<TreeId>,
    file: bool,
    size: u64,
    blobs: Box<[DataId]>,
}

impl Kept {
    /// `node`, named `key` ([`key_name`]).
    fn of(node: Node, key: String) -> Kept {
        Kept {
            key: key.into(),
            subtree: matches!(node.node_type, NodeType::Dir)
                .then_some(node.subtree)
                .flatten(),
            file: matches!(node.node_type, NodeType::File),
            size: node.meta.size,
            blobs: node.content.unwrap_or_default().into(),
        }
    }
}

/// Nodes and blob ids kept, at most, in [`Trees`] (about 30 MiB).
const TREES_WEIGHT: usize = 1 << 18;

impl Trees {
    /// The nodes of `tree`, from the cache or the repository.
    fn nodes(
        &self,
        repo: &Repository<IndexedFullStatus>,
        backend: &ReadOnly,
        tree: TreeId,
        path: &str,
    ) -> Result<Arc<Vec<Kept>>, String> {
        if let Ok(cache) = self.cache.lock()
            && let Some(nodes) = cache.map.get(&tree)
        {
            return Ok(nodes.clone());
        }
        let nodes: Vec<Kept> = repo
            .get_tree(&tree)
            .map_err(|e| unreadable_tree(backend, &e, tree, path).message)?
            .nodes
            .into_iter()
            .map(|node| {
                let key = key_name(&node);
                Kept::of(node, key)
            })
            .collect();
        Ok(self.keep(tree, nodes))
    }

    /// Keeps the nodes of `tree` within the weight, letting the oldest go first.
    fn keep(&self, tree: TreeId, nodes: Vec<Kept>) -> Arc<Vec<Kept>> {
        let weight: usize = nodes.iter().map(|n| 1 + n.blobs.len()).sum();
        let nodes = Arc::new(nodes);
        if weight <= TREES_WEIGHT
            && let Ok(mut cache) = self.cache.lock()
        {
            let TreeCache { map, order, total } = &mut *cache;
            while *total + weight > TREES_WEIGHT {
                let Some((old, w)) = order.pop_front() else {
                    break;
                };
                map.remove(&old);
                *total -= w;
            }
            if map.insert(tree, nodes.clone()).is_none() {
                order.push_back((tree, weight));
                *total += weight;
            }
        }
        nodes
    }

    /// The file at `path` (names joined by `/`) below `root`, or why it cannot be found.
    pub(super) fn file(
        &self,
        repo: &Repository<IndexedFullStatus>,
        backend: &ReadOnly,
        root: TreeId,
        path: &str,
    ) -> Result<FileBlobs, String> {
        let mut tree = root;
        let mut names = path.split('/').peekable();
        let mut walked = String::new();
        while let Some(name) = names.next() {
            let nodes = self.nodes(repo, backend, tree, &walked)?;
            // Trees are sorted by name: a binary search, then a scan for a tree out of order
            // or a name written otherwise in the key (not UTF-8, or with a `/`).
            let found = nodes
                .binary_search_by(|n| n.key.as_bytes().cmp(name.as_bytes()))
                .ok()
                .map(|i| &nodes[i])
                .or_else(|| nodes.iter().find(|n| &*n.key == name));
            let Some(node) = found else {
                return Err(format!(
                    "`{name}` is no longer in the folder `{walked}` of the snapshot"
                ));
            };
            if !walked.is_empty() {
                walked.push('/');
            }
            walked.push_str(name);
            match (node.subtree, node.file, names.peek().is_some()) {
                (Some(subtree), _, true) => tree = subtree,
                (None, true, false) => {
                    return Ok(FileBlobs {
                        size: node.size,
                        blobs: node.blobs.to_vec(),
                    });
                }
                _ => return Err(format!("`{walked}` in the snapshot is not a file")),
            }
        }
        Err("the file's path in the snapshot is empty".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str) -> Node {
        Node::new_node(
            std::ffi::OsStr::new(name),
            NodeType::File,
            rustic_core::repofile::Metadata::default(),
        )
    }

    #[test]
    fn a_name_with_a_slash_becomes_one_unsafe_segment() {
        assert_eq!(key_name(&node("plain.txt")), "plain.txt");
        let hostile = key_name(&node("../../etc/passwd"));
        assert_eq!(hostile, "..%2F..%2Fetc%2Fpasswd");
        let key = format!("acme/abcd1234/{hostile}");
        assert!(crate::storage::confined_key("acme/", &key).is_err());
        for name in ["..", ".", "a\\b", "%2e%2e"] {
            let key = format!("acme/abcd1234/{}", key_name(&node(name)));
            assert!(
                crate::storage::confined_key("acme/", &key).is_err(),
                "{name} passed"
            );
        }
    }
}
