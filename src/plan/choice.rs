//! Which sets a run's sample takes beyond the newest (always the first): `sample.random` sets
//! at random from the `within` window, or, with `sample.coverage`, the sets holding the least
//! recently verified objects (never verified first) until `sample.max_bytes` is spent. Ties
//! and random picks are ordered by the seed, so `--seed` repeats a choice exactly. Pure.

use super::{Dated, score};
use crate::config::{ObjectsPerSet, Policy};

/// The newest set, and `sample.random` sets chosen at random from those dated within
/// `sample.within` of the run.
pub(super) fn random_within(
    policy: &Policy,
    ctx: &super::PlanContext,
    dated: &[Dated],
) -> Vec<usize> {
    let window_start = ctx
        .now
        .checked_sub(
            jiff::SignedDuration::try_from(policy.sample.within)
                .unwrap_or(jiff::SignedDuration::MAX),
        )
        .ok();
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
    std::iter::once(0).chain(candidates).collect()
}

/// What one object costs the budget at least: empty or tiny objects still take a request
/// and a restore, and must not let a run take thousands of them for nothing.
const MIN_OBJECT_COST: u64 = 512;

/// The bytes a run would restore of a set: all of it, or `objects_per_set` of its objects
/// at their mean size; each object counted at [`MIN_OBJECT_COST`] at least.
fn restored_bytes(policy: &Policy, count: usize, bytes: u64) -> u64 {
    let taken = match policy.sample.objects_per_set {
        ObjectsPerSet::Count(n) if n < count => n,
        _ => count,
    };
    let share = bytes / count.max(1) as u64 * taken as u64;
    share.max(taken as u64 * MIN_OBJECT_COST)
}

/// The newest set, then sets in rotation order (the least recent restore of their objects,
/// never restored first; the seed breaks ties) that fit in what `sample.max_bytes` leaves,
/// a set too big passed over for the next. Without `max_bytes`, every set: the whole
/// retained backup is verified each run.
pub(super) fn least_recently_verified(policy: &Policy, seed: u64, dated: &[Dated]) -> Vec<usize> {
    let mut candidates: Vec<usize> = (1..dated.len()).collect();
    candidates.sort_by_key(|&i| {
        let rank = dated[i].1.rank.flatten();
        (rank, score(seed, &policy.name, &dated[i].0))
    });
    let mut chosen = vec![0];
    if let Some(cap) = policy.sample.max_bytes {
        let newest = &dated[0].1;
        let mut spent = restored_bytes(policy, newest.count, newest.bytes);
        // A set too big for what is left is passed over for the next that fits: one object
        // that does not fit must not stop the rotation.
        for i in candidates {
            let bytes = restored_bytes(policy, dated[i].1.count, dated[i].1.bytes);
            if spent.saturating_add(bytes) <= cap {
                spent += bytes;
                chosen.push(i);
            }
        }
    } else {
        chosen.extend(candidates);
    }
    chosen
}
