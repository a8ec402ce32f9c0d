//! Whose restored files stay in scratch until the run ends, rather than going as each object
//! is verified. A drill restores a whole set, as a recovery would put it on disk; removing
//! each file the moment it is verified, while the next ones are created in the same folders,
//! makes the file system do both at once (the folder's lock taken in turn by the creates and
//! the removals and, on ext4 without a journal, every create scanning past the inodes just
//! freed). Measured on a snapshot of 10,000 files: 5.7 s removing as it went, 3.7 s keeping
//! them and 0.2 s removing the run's folder at the end (docs/performance.md, restic).
//!
//! A set is kept only when scratch has room for all of it: its planned bytes, known exactly
//! when every object is restored as stored (restic files, objects stored as they are), and a
//! tenth more to spare. Otherwise each file goes as it is verified, as in a nightly run, and
//! the log says why.
//!
//! Must not: keep what scratch cannot hold, or keep anything of a sampled run (scratch holds
//! only what is in flight there).

use super::Planned;
use crate::folder::Folder;
use crate::plan::{Format, PolicyPlan};

/// [`to_the_end`] for the planned policies, with the room left in the run's `folder`, and
/// each decision logged.
pub(super) fn decide(planned: &[Planned<'_>], whole_set: bool, folder: &Folder) -> Vec<Keep> {
    let available = match folder.available() {
        Ok(bytes) => Some(bytes),
        Err(e) => {
            tracing::info!(path = %folder.path().display(), error = %e, "scratch's free space unknown: restored files removed as each is verified");
            None
        }
    };
    let restored = planned.iter().map(|p| restored_bytes(p.plan.as_ref()));
    let keep = to_the_end(restored, whole_set, available);
    for (p, keep) in planned.iter().zip(&keep) {
        let policy = p.policy.name.as_str();
        match keep {
            Keep::AsVerified => {}
            Keep::ToTheEnd { bytes } => {
                tracing::info!(
                    policy,
                    bytes,
                    available,
                    "restored files kept until the run ends"
                );
            }
            Keep::NoRoom { bytes } => {
                tracing::info!(
                    policy,
                    bytes,
                    available,
                    "scratch has no room for the whole set: restored files removed as each is verified"
                );
            }
        }
    }
    keep
}

/// What one policy's restore keeps to the end, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Keep {
    /// Removed as each object is verified (a sampled run, or a size not known before).
    AsVerified,
    /// Kept until the run ends: the set's bytes fit in scratch.
    ToTheEnd { bytes: u64 },
    /// A whole set that would not fit: removed as verified.
    NoRoom { bytes: u64 },
}

/// The bytes the plan restores, when known before restoring: every object is restored as
/// stored (restic files, objects stored as they are). None: nothing restored, or a size
/// only decompressing tells.
pub(super) fn restored_bytes(plan: Option<&PolicyPlan>) -> Option<u64> {
    let objects = || {
        plan.into_iter()
            .flat_map(|p| &p.sets)
            .flat_map(|s| &s.objects)
    };
    if objects().next().is_none() || objects().any(|o| o.format != Format::Raw) {
        return None;
    }
    Some(objects().map(|o| o.size).sum())
}

/// For each policy in order, given the bytes its plan restores (`restored_bytes`), whether
/// its restored files stay until the run ends, given `whole_set` (a drill) and the bytes
/// scratch has `available` (none: not known, so nothing is kept).
pub(super) fn to_the_end(
    restored: impl IntoIterator<Item = Option<u64>>,
    whole_set: bool,
    available: Option<u64>,
) -> Vec<Keep> {
    let mut room = available.unwrap_or(0);
    restored
        .into_iter()
        .map(|bytes| {
            let Some(bytes) = bytes.filter(|_| whole_set && available.is_some()) else {
                return Keep::AsVerified;
            };
            let needed = bytes.saturating_add(bytes / 10);
            if needed <= room {
                room -= needed;
                Keep::ToTheEnd { bytes }
            } else {
                Keep::NoRoom { bytes }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drill_keeps_what_fits_with_a_tenth_to_spare() {
        // 1,000 bytes need 1,100; then 500 need 550 of the 400 left.
        assert_eq!(
            to_the_end([Some(1_000), Some(500)], true, Some(1_500)),
            [Keep::ToTheEnd { bytes: 1_000 }, Keep::NoRoom { bytes: 500 }]
        );
        assert_eq!(
            to_the_end([Some(1_000)], true, Some(1_099)),
            [Keep::NoRoom { bytes: 1_000 }]
        );
        assert_eq!(
            to_the_end([Some(1_000)], true, Some(1_100)),
            [Keep::ToTheEnd { bytes: 1_000 }]
        );
    }

    #[test]
    fn a_sampled_run_an_unknown_size_or_unknown_room_keeps_nothing() {
        let big = Some(u64::MAX);
        assert_eq!(to_the_end([Some(10)], false, big), [Keep::AsVerified]);
        assert_eq!(to_the_end([None], true, big), [Keep::AsVerified]);
        assert_eq!(to_the_end([Some(10)], true, None), [Keep::AsVerified]);
        assert_eq!(restored_bytes(None), None);
    }
}
