//! The order a run's objects are restored in.

/// The order a set's `len` objects are restored in, `restores` at a time: the set cut into
/// that many runs of neighbouring objects, taken a turn each. The restores under way are in
/// different folders (creating files in one folder at once serializes on its lock, and a
/// file system without a journal makes each create scan recently freed inodes under it),
/// while each run still reads its neighbours' packs in order.
pub(super) fn lanes(len: usize, restores: usize) -> impl Iterator<Item = usize> {
    let lanes = restores.clamp(1, len.max(1));
    let per_lane = len.div_ceil(lanes);
    (0..per_lane)
        .flat_map(move |i| (0..lanes).map(move |lane| lane * per_lane + i))
        .filter(move |&i| i < len)
}

#[cfg(test)]
mod tests {
    use super::lanes;

    #[test]
    fn lanes_take_every_object_once_and_run_apart() {
        for (len, restores) in [(0, 4), (1, 4), (3, 4), (10, 4), (10, 3), (7, 1), (100, 4)] {
            let order: Vec<usize> = lanes(len, restores).collect();
            let mut sorted = order.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, (0..len).collect::<Vec<_>>(), "{len} {restores}");
        }
        // Ten objects, four at a time: runs of three, taken a turn each.
        assert_eq!(
            lanes(10, 4).collect::<Vec<_>>(),
            [0, 3, 6, 9, 1, 4, 7, 2, 5, 8]
        );
        // One restore at a time keeps the set's own order.
        assert_eq!(lanes(5, 1).collect::<Vec<_>>(), [0, 1, 2, 3, 4]);
    }
}
