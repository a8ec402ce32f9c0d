//! Planning over synthetic listings: grouping, dating, seeded sampling and caps.

use std::path::Path;

use super::*;
use crate::config::parse_policy;
use crate::finding::FindingKind;

fn policy(extra: &str) -> Policy {
    let text = format!(
        "name: p\nclient: C\nstorage:\n  service: fs\n  root: /b\nbackups:\n  prefix: files/\n  date_format: \"%Y-%m-%d\"\n{extra}targets:\n  rpo: 26h\n  rto: 4h\n"
    );
    parse_policy(Path::new("/etc/rd/p.yaml"), &text, &[]).unwrap()
}

fn ctx(seed: u64) -> PlanContext {
    PlanContext {
        now: "2026-11-26T12:00:00Z".parse().unwrap(),
        tz: TimeZone::UTC,
        seed,
        choice: Choice::Sample,
    }
}

fn entry(key: &str, size: u64) -> Entry {
    Entry {
        key: key.into(),
        size,
        modified: None,
        etag: None,
    }
}

fn dated_listing(days: u32) -> Vec<Entry> {
    let mut entries = Vec::new();
    for day in 1..=days {
        let set = format!("files/2026-11-{day:02}/");
        entries.push(entry(&format!("{set}a.tar.zst"), 100));
        entries.push(entry(&format!("{set}b.tar.zst"), 50));
        entries.push(entry(&format!("{set}SHA256SUMS"), 10));
    }
    entries
}

fn plan(policy: &Policy, entries: Vec<Entry>, ctx: &PlanContext) -> PolicyPlan {
    Planner::plan_listing(policy, &entries, ctx, None)
}

#[test]
fn newest_set_is_always_first_and_dated_by_name() {
    let p = plan(&policy(""), dated_listing(25), &ctx(1));
    assert_eq!(p.total_sets, 25);
    assert_eq!(p.sets.len(), 1);
    let newest = p.newest().unwrap();
    assert_eq!(newest.name, "2026-11-25");
    assert_eq!(newest.dated_by, DatedBy::Name);
    assert_eq!(newest.date, Some("2026-11-25T00:00:00Z".parse().unwrap()));
    assert_eq!(newest.total_bytes, 150);
}

#[test]
fn checksum_files_are_never_backups_and_attach_to_objects() {
    let p = plan(&policy(""), dated_listing(2), &ctx(1));
    let set = p.newest().unwrap();
    assert_eq!(set.objects.len(), 2);
    assert!(set.objects.iter().all(|o| matches!(
        &o.checksums[..],
        [ChecksumSource::Manifest { key, algorithm: Algorithm::Sha256 }] if key == "files/2026-11-02/SHA256SUMS"
    )));
}

#[test]
fn sidecars_attach_to_their_object() {
    let pol = policy("");
    let entries = vec![
        entry("files/2026-11-02/x.tar.zst", 5),
        entry("files/2026-11-02/x.tar.zst.b3", 1),
    ];
    let p = plan(&pol, entries, &ctx(1));
    assert_eq!(
        p.sets[0].objects[0].checksums,
        [ChecksumSource::Sidecar {
            key: "files/2026-11-02/x.tar.zst.b3".into(),
            algorithm: Algorithm::Blake3
        }]
    );
}

#[test]
fn the_same_seed_repeats_the_choice_and_others_differ() {
    let pol = policy("sample:\n  random: 3\n  within: 30d\n  objects_per_set: 1\n");
    let names = |seed| {
        plan(&pol, dated_listing(25), &ctx(seed))
            .sets
            .iter()
            .map(|s| (s.name.clone(), s.objects[0].key.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(names(42), names(42));
    assert_eq!(names(42).len(), 4);
    let differs = (0..20).any(|seed| names(seed) != names(42));
    assert!(differs, "twenty seeds all chose the same sample");
}

#[test]
fn random_sets_come_only_from_the_window() {
    let pol = policy("sample:\n  random: 30\n  within: 5d\n");
    let p = plan(&pol, dated_listing(25), &ctx(9));
    // Window starts 2026-11-21T12:00; sets dated 22..24 qualify besides the newest (25).
    let names: Vec<_> = p.sets.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        ["2026-11-25", "2026-11-24", "2026-11-23", "2026-11-22"]
    );
}

#[test]
fn max_bytes_caps_the_sample_but_keeps_the_newest() {
    let pol = policy("sample:\n  random: 2\n  max_bytes: 120\n");
    let p = plan(&pol, dated_listing(5), &ctx(3));
    assert_eq!(p.sampled_bytes(), 100);
    assert_eq!(p.sets[0].capped_objects, 1);
    let tiny = policy("sample:\n  max_bytes: 10\n");
    let p = plan(&tiny, dated_listing(2), &ctx(3));
    assert_eq!(
        p.sampled_objects(),
        1,
        "the newest set's first object is restored regardless"
    );
}

#[test]
fn by_object_layout_and_include_globs() {
    let pol = policy("").clone();
    let mut pol = pol;
    pol.backups.sets = SetLayout::ByObject;
    pol.backups.include = Some(
        globset::GlobSetBuilder::new()
            .add(globset::Glob::new("*.tar.zst").unwrap())
            .build()
            .unwrap(),
    );
    let entries = vec![
        entry("files/db-2026-11-24.tar.zst", 7),
        entry("files/db-2026-11-25.tar.zst", 8),
        entry("files/db-2026-11-25.tar.zst.sha256", 1),
        entry("files/notes.txt", 1),
    ];
    let p = plan(&pol, entries, &ctx(1));
    assert_eq!(p.total_sets, 2);
    assert_eq!(p.sets[0].name, "db-2026-11-25.tar.zst");
    assert_eq!(p.sets[0].objects[0].path_in_set, "db-2026-11-25.tar.zst");
    assert_eq!(p.sets[0].objects[0].format, Format::TarZstd);
}

#[test]
fn modified_time_dates_sets_without_a_date_in_the_name() {
    let mut pol = policy("");
    pol.backups.date_format = None;
    pol.backups.dated_by = DateSource::Modified;
    let old: Timestamp = "2026-11-01T00:00:00Z".parse().unwrap();
    let new: Timestamp = "2026-11-20T00:00:00Z".parse().unwrap();
    let entries = vec![
        Entry {
            key: "files/zzz/a".into(),
            size: 1,
            modified: Some(old),
            etag: None,
        },
        Entry {
            key: "files/aaa/a".into(),
            size: 1,
            modified: Some(new),
            etag: None,
        },
    ];
    let p = plan(&pol, entries, &ctx(1));
    assert_eq!(p.sets[0].name, "aaa");
    assert_eq!(p.sets[0].dated_by, DatedBy::Modified);
}

#[test]
fn objects_outside_set_folders_are_counted_not_planned() {
    let p = plan(
        &policy(""),
        vec![entry("files/loose.tar.zst", 1), entry("other/x", 1)],
        &ctx(1),
    );
    assert_eq!(p.ungrouped_objects, 1);
    assert!(p.sets.is_empty());
}

#[test]
fn dates_are_found_inside_names() {
    let tz = TimeZone::UTC;
    assert_eq!(
        date_from_name("acme-db-2026-11-25.tar.zst", "%Y-%m-%d", &tz),
        Some("2026-11-25T00:00:00Z".parse().unwrap())
    );
    assert_eq!(
        date_from_name("db_20261125T0130.tar", "%Y%m%dT%H%M", &tz),
        Some("2026-11-25T01:30:00Z".parse().unwrap())
    );
    assert_eq!(date_from_name("weekly", "%Y-%m-%d", &tz), None);
    // Never a date read from the middle of a run of digits.
    assert_eq!(date_from_name("2026-11-25", "%d-%m-%Y", &tz), None);
    assert_eq!(date_from_name("20261125", "%Y-%m-%d", &tz), None);
}

fn modified(key: &str, size: u64, at: &str) -> Entry {
    Entry {
        key: key.into(),
        size,
        modified: Some(at.parse().unwrap()),
        etag: None,
    }
}

#[test]
fn a_name_that_does_not_match_is_undated_never_dated_by_upload_time() {
    // Re-uploaded a minute ago, named for days that `%Y-%m-%d` does not read.
    let entries = vec![
        modified("files/20261120/a.tar.zst", 10, "2026-11-26T11:59:00Z"),
        modified("files/20261121/a.tar.zst", 10, "2026-11-26T11:59:00Z"),
    ];
    let p = plan(&policy(""), entries, &ctx(1));
    assert!(
        p.sets
            .iter()
            .all(|s| s.date.is_none() && s.dated_by == DatedBy::Unknown)
    );
    assert_eq!(p.undated, ["20261121", "20261120"]);
    assert_eq!(p.suggested_format, Some("%Y%m%d"));
    let findings = findings(&policy(""), &p);
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].kind, FindingKind::UndatedBackup);
    assert!(
        findings[0].message.contains("`%Y%m%d`"),
        "{}",
        findings[0].message
    );
    assert!(
        findings[0].message.contains("`%Y-%m-%d`"),
        "{}",
        findings[0].message
    );
}

#[test]
fn the_suggested_format_is_the_one_that_reads_every_name() {
    let tz = TimeZone::UTC;
    let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        suggest_format(&names(&["db-2026-11-20"]), &tz),
        Some("%Y-%m-%d")
    );
    assert_eq!(
        suggest_format(&names(&["20-11-2026", "21-11-2026"]), &tz),
        Some("%d-%m-%Y")
    );
    assert_eq!(
        suggest_format(&names(&["20261120T013000"]), &tz),
        Some("%Y%m%dT%H%M%S")
    );
    assert_eq!(suggest_format(&names(&["20261120", "weekly"]), &tz), None);
    assert_eq!(suggest_format(&[], &tz), None);
}

#[test]
fn dated_by_modified_uses_upload_time_even_with_a_date_format() {
    let mut pol = policy("");
    pol.backups.dated_by = DateSource::Modified;
    let entries = vec![modified("files/2026-11-01/a", 1, "2026-11-26T11:00:00Z")];
    let p = plan(&pol, entries, &ctx(1));
    assert_eq!(p.sets[0].dated_by, DatedBy::Modified);
    assert_eq!(
        p.sets[0].date,
        Some("2026-11-26T11:00:00Z".parse().unwrap())
    );
    assert!(p.undated.is_empty() && findings(&pol, &p).is_empty());
}

#[test]
fn a_folder_emptied_by_include_is_a_finding_only_when_it_would_be_newest() {
    let pol = policy("  include: [\"*.tar.zst\"]\n");
    let entries = vec![
        entry("files/2026-11-24/a.tar.zst", 1),
        entry("files/2026-11-23/a.sql.gz", 1),
        entry("files/2026-11-25/a.sql.gz", 1),
        entry("files/2026-11-25/b.sql.gz", 1),
    ];
    let p = plan(&pol, entries, &ctx(1));
    assert_eq!(p.newest().unwrap().name, "2026-11-24");
    assert_eq!(p.emptied, [("2026-11-25".to_string(), 2)]);
    let findings = findings(&pol, &p);
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].kind, FindingKind::EmptySet);
    assert_eq!(findings[0].object.as_deref(), Some("files/2026-11-25/"));
}

#[test]
fn a_zero_byte_object_in_the_sample_is_a_finding() {
    let pol = policy("");
    let p = plan(&pol, vec![entry("files/2026-11-25/a.tar.zst", 0)], &ctx(1));
    let findings = findings(&pol, &p);
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].kind, FindingKind::EmptyObject);
    assert_eq!(
        findings[0].object.as_deref(),
        Some("files/2026-11-25/a.tar.zst")
    );
}

#[test]
fn formats_come_from_names() {
    assert_eq!(Format::from_name("a.TAR.ZST"), Format::TarZstd);
    assert_eq!(Format::from_name("a.tzst"), Format::TarZstd);
    assert_eq!(Format::from_name("a.sql.zst"), Format::Zstd);
    assert_eq!(Format::from_name("a.tar"), Format::Tar);
    assert_eq!(Format::from_name("a.bak"), Format::Raw);
}

#[test]
fn drills_take_one_whole_set_uncapped() {
    let pol = policy("sample:\n  random: 3\n  objects_per_set: 1\n  max_bytes: 10\n");
    let mut drill = ctx(1);
    drill.choice = Choice::WholeNewest;
    let p = plan(&pol, dated_listing(5), &drill);
    assert_eq!(p.sets.len(), 1);
    assert_eq!(
        (
            p.sets[0].name.as_str(),
            p.sets[0].objects.len(),
            p.sets[0].newest
        ),
        ("2026-11-05", 2, true)
    );
    drill.choice = Choice::WholeOn("2026-11-03".parse().unwrap());
    let p = plan(&pol, dated_listing(5), &drill);
    assert_eq!(
        (p.sets[0].name.as_str(), p.sets[0].newest),
        ("2026-11-03", false)
    );
    drill.choice = Choice::WholeOn("2025-01-01".parse().unwrap());
    let p = plan(&pol, dated_listing(5), &drill);
    assert!(p.sets.is_empty());
    let nearest: Vec<&str> = p.nearest.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(nearest, ["2026-11-01", "2026-11-02", "2026-11-03"]);
    drill.choice = Choice::WholeOn("2026-11-03".parse().unwrap());
    assert!(plan(&pol, dated_listing(5), &drill).nearest.is_empty());
}

/// The planner's memory guard: listing 2,000 objects in 25 by-folder sets keeps none of
/// them; only the chosen sets' folders are listed again, and the plan has their objects.
#[test]
fn first_listing_keeps_no_objects_and_only_chosen_folders_are_relisted() {
    let policy = policy("sample:\n  random: 2\n  within: 30d\n");
    let mut entries = dated_listing(25);
    for day in 1..=25 {
        for i in 0..77 {
            entries.push(entry(&format!("files/2026-11-{day:02}/part-{i:03}.zst"), 1));
        }
    }
    let mut planner = Planner::new(&policy, &ctx(1));
    for e in &entries {
        planner.add(e.clone(), None);
    }
    assert_eq!(planner.held(), 0, "objects kept while listing");
    let mut selection = planner.select(&ctx(3));
    let folders = selection.folders();
    assert_eq!(folders.len(), 3, "{folders:?}");
    assert_eq!(folders[0], "files/2026-11-25/");
    for e in entries
        .iter()
        .filter(|e| folders.iter().any(|f| e.key.starts_with(f)))
    {
        selection.add(e.clone(), None);
    }
    // An entry of a set that was not chosen is ignored by the second pass.
    selection.add(entry("files/2026-11-02/stray.zst", 5), None);
    let plan = selection.finish();
    assert_eq!(plan.listed_objects, entries.len());
    assert_eq!(plan.total_sets, 25);
    assert_eq!(plan.sets.len(), 3);
    for set in &plan.sets {
        assert_eq!(set.total_objects, 79, "{}", set.name);
        assert_eq!(set.objects.len(), 79, "{}", set.name);
        assert!(set.objects.iter().all(|o| !o.checksums.is_empty()));
    }
    assert_eq!(
        serde_json::to_value(&plan).unwrap(),
        serde_json::to_value(Planner::plan_listing(&policy, &entries, &ctx(3), None)).unwrap()
    );
}

#[test]
fn listed_keys_that_could_leave_the_prefix_are_kept_aside_never_planned() {
    let mut entries = dated_listing(1);
    let hostile = [
        "files/2026-11-01/../../../other/db/2026-11-01/SHA256SUMS",
        "files/2026-11-01/../../../other/db/2026-11-01/dump.sql",
        "files/2026-11-01/%2E%2e/x.tar.zst",
        "files/2026-11-01/a.tar.zst.sha256\\..",
        "files/2026-11-01//c.tar.zst",
    ];
    for key in hostile {
        entries.push(entry(key, 7));
    }
    for layout in [SetLayout::ByFolder, SetLayout::ByObject] {
        let mut policy = policy("");
        policy.backups.sets = layout;
        let p = plan(&policy, entries.clone(), &ctx(1));
        let refused: Vec<&str> = p.unsafe_keys.iter().map(|u| u.key.as_str()).collect();
        let mut expected = hostile.to_vec();
        expected.sort_unstable();
        assert_eq!(refused, expected, "{layout:?}");
        for object in p.sets.iter().flat_map(|s| &s.objects) {
            assert!(!hostile.contains(&object.key.as_str()), "{}", object.key);
            for source in &object.checksums {
                assert!(!hostile.contains(&source_key(source)), "{object:?}");
            }
        }
        let findings = findings(&policy, &p);
        let unsafe_paths: Vec<_> = findings
            .iter()
            .filter(|f| f.kind == FindingKind::UnsafePath)
            .collect();
        assert_eq!(unsafe_paths.len(), hostile.len(), "{findings:?}");
    }
}

fn source_key(source: &ChecksumSource) -> &str {
    match source {
        ChecksumSource::Sidecar { key, .. } | ChecksumSource::Manifest { key, .. } => key,
    }
}
