//! Which sets a run's sample takes beyond the newest (always the first): `sample.random` sets
//! at random from the `within` window, or, with `sample.coverage`, the sets holding the least
//! recently verified objects (never verified first) until `sample.max_bytes` is spent. Ties
//! and random picks are ordered by the seed, so `--seed` repeats a choice exactly. And the
//! snapshot id a drill's `--set` may give ([`IdPrefix`]). Pure.

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

/// A snapshot id, or the first digits of one, as `drill --set` gives it: 1 to 64 lower-case
/// hex digits, kept in place so that a [`super::Choice`] stays `Copy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdPrefix {
    digits: [u8; 64],
    len: u8,
}

impl IdPrefix {
    /// `text` as an id prefix, or none if it is not 1 to 64 hex digits (upper case taken).
    pub fn parse(text: &str) -> Option<IdPrefix> {
        let ok = (1..=64).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_hexdigit());
        if !ok {
            return None;
        }
        let mut digits = [0u8; 64];
        digits[..text.len()].copy_from_slice(text.to_ascii_lowercase().as_bytes());
        Some(IdPrefix {
            digits,
            len: text.len() as u8,
        })
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.digits[..usize::from(self.len)]).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::IdPrefix;

    #[test]
    fn snapshot_ids_are_1_to_64_hex_digits_kept_lower_case() {
        assert_eq!(IdPrefix::parse("3F2A9c1e").unwrap().as_str(), "3f2a9c1e");
        assert_eq!(IdPrefix::parse("a").unwrap().as_str(), "a");
        let whole = "0123456789abcdef".repeat(4);
        assert_eq!(IdPrefix::parse(&whole).unwrap().as_str(), whole);
        for bad in [
            "",
            "newest",
            "2026-11-25",
            "3f2a 9c1e",
            &format!("{whole}0"),
        ] {
            assert!(IdPrefix::parse(bad).is_none(), "{bad}");
        }
    }
}
