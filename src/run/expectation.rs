//! What an object is checked against before it is restored: its expected digests from
//! checksum files (objects) or its snapshot's manifest (a restic file), and what finding
//! them found, of the object and of its set (a snapshot's manifest's findings are the
//! policy's, never the failure of the file that happened to ask first).

use super::Job;
use crate::finding::Finding;
use crate::verify::{self, ChecksumFiles};

/// An object's expected digests, what finding them found of it, and what they found of
/// its set (reported, but not the object's failure).
#[derive(Debug, Default)]
pub(super) struct Expectation {
    pub(super) expected: Vec<verify::Expected>,
    pub(super) of_the_object: Vec<Finding>,
    pub(super) of_the_set: Vec<Finding>,
}

/// The object's expected digests and what finding them found; for a restic file (whose
/// blobs are checked against their ids as they are read) only its snapshot's manifest's
/// (`checksums.in_archive`).
pub(super) async fn expected_digests(job: &Job<'_>, files: &ChecksumFiles) -> Expectation {
    match &job.restic {
        #[cfg(feature = "restic")]
        Some(source) => restic_expected(source, &job.object.key, job.in_archive.as_deref()).await,
        #[cfg(not(feature = "restic"))]
        Some(never) => match *never {},
        None => {
            let (expected, of_the_object) =
                verify::expected_digests(job.policy_name, &job.op, job.object, files).await;
            Expectation {
                expected,
                of_the_object,
                of_the_set: Vec::new(),
            }
        }
    }
}

#[cfg(feature = "restic")]
/// The digest `checksums.in_archive`, a manifest inside the file's snapshot, gives the file,
/// what it found of the file, and (once per snapshot) what it found of the snapshot;
/// nothing without the setting.
async fn restic_expected(
    source: &super::ResticSource,
    key: &str,
    in_archive: Option<&str>,
) -> Expectation {
    let Some(manifest) = in_archive else {
        return Expectation::default();
    };
    let (source, key, manifest) = (source.clone(), key.to_string(), manifest.to_string());
    let task = tokio::task::spawn_blocking(move || source.manifest_expectation(&key, &manifest));
    match task.await {
        Ok(answer) => Expectation {
            expected: answer.expected.into_iter().collect(),
            of_the_object: answer.of_the_file,
            of_the_set: answer.of_the_snapshot,
        },
        Err(e) => Expectation {
            of_the_set: vec![Finding::new(
                crate::finding::FindingKind::StorageError,
                None,
                format!("reading checksums.in_archive stopped: {e}"),
            )],
            ..Default::default()
        },
    }
}
