//! Restores of crafted objects from a real fs operator into a temporary scratch folder,
//! by theme: `archive`, what comes out of an object (zstd frames, tar entries refused or
//! written, in-archive manifests, limits, files removed after a halt); `stream`, how its
//! bytes move (the transfer, copies per chunk, the writer thread and direct I/O, local hash
//! reads, the in-flight budget). The helpers here build the objects and the bench both use.

mod archive;
mod stream;

use std::collections::BTreeMap;
use std::io::Write;

use super::{Limits, RestoreSpec, Restored, restore_object};
use crate::checksum::Algorithm;
use crate::config::StorageSpec;
use crate::finding::FindingKind;
use crate::plan::{Format, PlannedObject};
use crate::secret::ConfigValue;

/// A tar entry with any name bytes, written header-first so no library check cleans it.
fn raw_entry(out: &mut Vec<u8>, name: &[u8], kind: tar::EntryType, link: &[u8], data: &[u8]) {
    let mut header = tar::Header::new_gnu();
    {
        let gnu = header.as_gnu_mut().unwrap();
        gnu.name[..name.len()].copy_from_slice(name);
        gnu.linkname[..link.len()].copy_from_slice(link);
    }
    header.set_entry_type(kind);
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
}

fn finish_tar(mut out: Vec<u8>) -> Vec<u8> {
    out.extend_from_slice(&[0u8; 1024]);
    out
}

fn zstd(data: &[u8]) -> Vec<u8> {
    let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    enc.include_checksum(true).unwrap();
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

struct Bench {
    _dir: tempfile::TempDir,
    bucket: std::path::PathBuf,
    scratch: std::path::PathBuf,
    op: crate::storage::Storage,
    /// `scratch_direct_io` for the restores.
    direct_io: bool,
}

fn bench() -> Bench {
    let dir = tempfile::tempdir().unwrap();
    let bucket = dir.path().join("bucket");
    let scratch = dir.path().join("scratch/set");
    std::fs::create_dir_all(&bucket).unwrap();
    std::fs::create_dir_all(&scratch).unwrap();
    let spec = StorageSpec {
        service: "fs".into(),
        options: BTreeMap::from([(
            "root".to_string(),
            ConfigValue::Plain(bucket.to_string_lossy().into()),
        )]),
    };
    let op = crate::storage::operator(
        &spec,
        std::path::Path::new("policy.yaml"),
        &Default::default(),
    )
    .unwrap();
    Bench {
        _dir: dir,
        bucket,
        scratch,
        op,
        direct_io: false,
    }
}

impl Bench {
    async fn restore(
        &self,
        key: &str,
        bytes: &[u8],
        in_archive: Option<&str>,
        limit: u64,
    ) -> Restored {
        std::fs::write(self.bucket.join(key), bytes).unwrap();
        let object = PlannedObject {
            identity: "size:0,modified:unknown".into(),
            last_verified: None,
            overdue: false,
            key: key.into(),
            path_in_set: key.into(),
            size: bytes.len() as u64,
            format: Format::from_name(key),
            checksums: Vec::new(),
        };
        let spec = RestoreSpec {
            set_dir: crate::folder::Folder::open(&self.scratch).unwrap(),
            algorithms: [Algorithm::Sha256].into(),
            in_archive: in_archive.map(str::to_string),
            limits: Limits {
                max_restored_bytes: limit,
                max_zstd_window: 128 << 20,
                direct_io: self.direct_io,
                stall_timeout: std::time::Duration::from_secs(30),
            },
            deadline: None,
        };
        restore_object(&self.op, &object, &spec, &|_| {}).await
    }
}

fn kinds(r: &Restored) -> Vec<FindingKind> {
    r.findings.iter().map(|f| f.kind).collect()
}

/// Deterministic bytes zstd cannot shrink much, so a small test object still decodes to
/// several writer buffers.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}
