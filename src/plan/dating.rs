//! How a set is dated by the policy's source (`date_set`), how a set's name gives its date
//! (`backups.date_format`), and which usual format would date names that do not match. Pure; it must not guess a date a name does not state: a
//! name that does not match is no date, never the upload time instead.

use jiff::Timestamp;
use jiff::tz::TimeZone;

use std::collections::{BTreeMap, BTreeSet};

use super::{Dated, DatedBy, Excluded};
use crate::config::{DateSource, Policy};

/// Finds `format` anywhere in `name` (`acme-db-2026-11-25.tar.zst` with `%Y-%m-%d`).
/// A name without a time of day means the start of that day in `tz`; one without an
/// offset is read in `tz`. The match must not start or end inside a run of digits, so
/// `2026-11-25` read with `%d-%m-%Y` is no date (not the year 25 from `26-11-25`).
pub fn date_from_name(name: &str, format: &str, tz: &TimeZone) -> Option<Timestamp> {
    use jiff::fmt::strtime::BrokenDownTime;
    let bytes = name.as_bytes();
    let starts = name
        .char_indices()
        .filter(|&(i, c)| {
            c.is_ascii_alphanumeric()
                && !(i > 0 && c.is_ascii_digit() && bytes[i - 1].is_ascii_digit())
        })
        .map(|(i, _)| i);
    for start in starts {
        let Ok((tm, used)) = BrokenDownTime::parse_prefix(format, &name[start..]) else {
            continue;
        };
        let end = start + used;
        if used > 0
            && end < bytes.len()
            && bytes[end].is_ascii_digit()
            && bytes[end - 1].is_ascii_digit()
        {
            continue;
        }
        if let Ok(ts) = tm.to_timestamp() {
            return Some(ts);
        }
        let datetime = tm.to_datetime().ok().or_else(|| {
            tm.to_date()
                .ok()
                .map(|d| d.to_datetime(jiff::civil::Time::midnight()))
        });
        if let Some(dt) = datetime
            && let Ok(zoned) = dt.to_zoned(tz.clone())
        {
            return Some(zoned.timestamp());
        }
    }
    None
}

/// Formats tried on names that do not match a policy's `date_format`, most usual first.
const FORMATS: [&str; 12] = [
    "%Y-%m-%d",
    "%Y%m%d",
    "%Y_%m_%d",
    "%Y.%m.%d",
    "%d-%m-%Y",
    "%d.%m.%Y",
    "%m-%d-%Y",
    "%Y-%m-%dT%H%M%S",
    "%Y%m%dT%H%M%S",
    "%Y%m%d-%H%M%S",
    "%Y-%m-%d_%H-%M-%S",
    "%Y-%m-%dT%H:%M:%S",
];

/// The first usual format that dates every one of `names` to a plausible day (1990 to
/// 2199), when one does; the longest such, so `%Y%m%dT%H%M%S` wins over `%Y%m%d`.
pub fn suggest_format(names: &[String], tz: &TimeZone) -> Option<&'static str> {
    let low: Timestamp = "1990-01-01T00:00:00Z".parse().expect("a time");
    let high: Timestamp = "2200-01-01T00:00:00Z".parse().expect("a time");
    if names.is_empty() {
        return None;
    }
    let fits = |format: &str| {
        names
            .iter()
            .all(|name| date_from_name(name, format, tz).is_some_and(|d| d >= low && d < high))
    };
    FORMATS
        .iter()
        .filter(|f| fits(f))
        .max_by_key(|f| {
            (
                f.len(),
                std::cmp::Reverse(FORMATS.iter().position(|g| g == *f)),
            )
        })
        .copied()
}

/// A set's date from the policy's source. Never a fallback from one source to the other: a
/// set the policy's source cannot date stays undated, and the plan says so.
pub(super) fn date_set(
    policy: &Policy,
    tz: &TimeZone,
    name: &str,
    modified: Option<Timestamp>,
) -> (Option<Timestamp>, DatedBy) {
    let date = match policy.backups.dated_by {
        DateSource::Name => policy
            .backups
            .date_format
            .as_deref()
            .and_then(|f| date_from_name(name, f, tz))
            .map(|d| (d, DatedBy::Name)),
        DateSource::Modified => modified.map(|m| (m, DatedBy::Modified)),
        // A snapshot's time, handed in as `modified` by the restic planner.
        DateSource::Snapshot => modified.map(|m| (m, DatedBy::Snapshot)),
    };
    date.map_or((None, DatedBy::Unknown), |(d, by)| (Some(d), by))
}

/// The three sets dated nearest `day` (then undated ones, by name), nearest first: what a
/// drill of a day no set is dated on offers instead.
pub(super) fn nearest_sets(
    dated: &[Dated],
    day: jiff::civil::Date,
    tz: &TimeZone,
) -> Vec<(String, Option<Timestamp>)> {
    let noon = day
        .at(12, 0, 0, 0)
        .to_zoned(tz.clone())
        .map(|z| z.timestamp())
        .ok();
    let mut sets: Vec<(String, Option<Timestamp>)> =
        dated.iter().map(|d| (d.0.clone(), d.2)).collect();
    sets.sort_by_key(|(name, date)| {
        let distance = date.zip(noon).map(|(t, noon)| t.duration_since(noon).abs());
        (distance.is_none(), distance, name.clone())
    });
    sets.truncate(3);
    sets
}

/// The folders whose every object `include` left out and that would be newer than the
/// newest set (`dated`, newest first): (folder, objects left out). Older ones are ignored.
pub(super) fn emptied(
    policy: &Policy,
    tz: &TimeZone,
    excluded: BTreeMap<String, Excluded>,
    dated: &[Dated],
) -> Vec<(String, usize)> {
    let sets: BTreeSet<&str> = dated.iter().map(|d| d.0.as_str()).collect();
    let newest = dated.first().and_then(|d| d.2);
    excluded
        .into_iter()
        .filter(|(folder, _)| !sets.contains(folder.as_str()))
        .filter(|(folder, acc)| {
            match (date_set(policy, tz, folder, acc.newest_modified).0, newest) {
                (Some(date), Some(newest)) => date > newest,
                (_, None) => true,
                (None, Some(_)) => false,
            }
        })
        .map(|(folder, acc)| (folder, acc.count))
        .collect()
}
