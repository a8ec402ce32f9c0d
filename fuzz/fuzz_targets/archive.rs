//! The archive restore path: bytes as a stored object (the first byte picks how they are
//! named and whether the harness zstd-compresses them first, so both the zstd decoder and
//! the tar reader get explored), restored from an fs storage into a scratch folder. Never
//! panics, and nothing appears outside the set's folder but the stored object.
#![no_main]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use restore_drill::checksum::Algorithm;
use restore_drill::config::{StorageSpec, StorageTuning};
use restore_drill::plan::{Format, PlannedObject};
use restore_drill::restore::{Limits, RestoreSpec, restore_object};
use restore_drill::secret::ConfigValue;

struct Env {
    _dir: tempfile::TempDir,
    root: PathBuf,
    runtime: tokio::runtime::Runtime,
    op: opendal::Operator,
}

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        std::fs::create_dir_all(root.join("bucket")).unwrap();
        let spec = StorageSpec {
            service: "fs".into(),
            options: BTreeMap::from([(
                "root".to_string(),
                ConfigValue::Plain(root.join("bucket").to_string_lossy().into()),
            )]),
        };
        let op = restore_drill::storage::operator(&spec, &StorageTuning::default()).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        Env {
            _dir: dir,
            root,
            runtime,
            op,
        }
    })
}

/// Every path below `dir`, links not followed.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        out.push(path.clone());
        if is_dir {
            walk(&path, out);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else { return };
    let (name, stored) = match mode % 4 {
        0 => ("x.tar.zst", zstd::encode_all(body, 1).unwrap()),
        1 => ("x.tar", body.to_vec()),
        2 => ("x.zst", body.to_vec()),
        _ => ("x.tar.zst", body.to_vec()),
    };
    let env = env();
    let set_dir = env.root.join("scratch/set");
    std::fs::create_dir_all(&set_dir).unwrap();
    std::fs::write(env.root.join("bucket").join(name), &stored).unwrap();
    let object = PlannedObject {
        key: name.into(),
        path_in_set: name.into(),
        size: stored.len() as u64,
        format: Format::from_name(name),
        checksums: Vec::new(),
    };
    let spec = RestoreSpec {
        set_dir: restore_drill::folder::Folder::open(&set_dir).unwrap(),
        algorithms: [Algorithm::Sha256].into(),
        in_archive: Some("MANIFEST.sha256".into()),
        limits: Limits {
            max_restored_bytes: 64 << 20,
            max_zstd_window: 128 << 20,
            // Both write paths: through the page cache, and direct I/O for whole buffers.
            direct_io: stored.len() % 2 == 1,
            stall_timeout: std::time::Duration::from_secs(30),
        },
    };
    let _ = env
        .runtime
        .block_on(restore_object(&env.op, &object, &spec, &|_| {}));
    let mut seen = Vec::new();
    walk(&env.root, &mut seen);
    for path in &seen {
        let inside = path.starts_with(env.root.join("bucket"))
            || path.starts_with(&set_dir)
            || path == &env.root.join("scratch");
        assert!(inside, "written outside the set's folder: {}", path.display());
        let meta = std::fs::symlink_metadata(path).unwrap();
        assert!(!meta.is_symlink(), "a link was created: {}", path.display());
    }
    std::fs::remove_dir_all(env.root.join("scratch")).unwrap();
    std::fs::remove_file(env.root.join("bucket").join(name)).unwrap();
});
