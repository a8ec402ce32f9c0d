//! Policies resolved from YAML text: names, storage references, globs and their errors.

use super::*;
use crate::config::ObjectsPerSet;
use crate::config::yaml;

const MINIMAL: &str = "name: acme-files\nclient: Acme\nstorage:\n  service: fs\n  root: buckets/acme\nbackups:\n  prefix: files\ntargets:\n  rpo: 26h\n  rto: 4h\n";

fn resolve(text: &str) -> Result<Policy, (String, String)> {
    let raw: RawPolicy =
        yaml::parse(Path::new("/etc/rd/p.yaml"), text).map_err(|e| (e.field, e.message))?;
    raw.resolve(Path::new("/etc/rd/p.yaml"), Some(&[]))
}

#[test]
fn minimal_policy_gets_defaults() {
    let p = resolve(MINIMAL).unwrap();
    assert_eq!(p.backups.prefix, "files/");
    assert_eq!(p.backups.sets, SetLayout::ByFolder);
    assert!(p.checksums.required);
    assert_eq!(p.sample.objects_per_set, ObjectsPerSet::All);
    assert_eq!(
        p.storage.options["root"],
        ConfigValue::Plain("/etc/rd/buckets/acme".into())
    );
}

#[test]
fn bad_name_is_rejected_with_its_field() {
    let err = resolve(&MINIMAL.replace("acme-files", "Acme Files")).unwrap_err();
    assert_eq!(err.0, "name");
    assert!(err.1.contains("a-z"));
}

#[test]
fn unknown_service_lists_the_known_ones() {
    let err = resolve(&MINIMAL.replace("service: fs", "service: ftp")).unwrap_err();
    assert_eq!(err.0, "storage.service");
    assert!(err.1.contains("fs, s3, azblob, gcs"), "{}", err.1);
}

#[test]
fn literal_credentials_are_refused() {
    let text = MINIMAL.replace(
        "  root: buckets/acme\n",
        "  root: x\n  secret_access_key: abc\n",
    );
    let err = resolve(&text).unwrap_err();
    assert_eq!(err.0, "storage.secret_access_key");
    assert!(!err.1.contains("abc"));
}

#[test]
fn objects_per_set_accepts_all_or_a_number() {
    let p = resolve(&format!("{MINIMAL}sample:\n  objects_per_set: 3\n")).unwrap();
    assert_eq!(p.sample.objects_per_set, ObjectsPerSet::Count(3));
    assert!(resolve(&format!("{MINIMAL}sample:\n  objects_per_set: some\n")).is_err());
}

#[test]
fn date_format_must_have_fields() {
    assert!(
        resolve(&MINIMAL.replace("prefix: files", "prefix: files\n  date_format: daily")).is_err()
    );
    let p = resolve(&MINIMAL.replace(
        "prefix: files",
        "prefix: files\n  date_format: \"%Y-%m-%d\"",
    ))
    .unwrap();
    assert_eq!(p.backups.date_format.as_deref(), Some("%Y-%m-%d"));
}

#[test]
fn dated_by_defaults_to_name_with_a_date_format_else_modified() {
    let with_format = MINIMAL.replace(
        "prefix: files",
        "prefix: files\n  date_format: \"%Y-%m-%d\"",
    );
    assert_eq!(
        resolve(&with_format).unwrap().backups.dated_by,
        DateSource::Name
    );
    assert_eq!(
        resolve(MINIMAL).unwrap().backups.dated_by,
        DateSource::Modified
    );
    let modified = with_format.replace("prefix: files", "prefix: files\n  dated_by: modified");
    assert_eq!(
        resolve(&modified).unwrap().backups.dated_by,
        DateSource::Modified
    );
    let err =
        resolve(&MINIMAL.replace("prefix: files", "prefix: files\n  dated_by: name")).unwrap_err();
    assert_eq!(err.0, "backups.dated_by");
    assert!(err.1.contains("date_format"), "{}", err.1);
    assert!(
        resolve(&MINIMAL.replace("prefix: files", "prefix: files\n  dated_by: mtime")).is_err()
    );
}

#[test]
fn restic_format_needs_its_block_and_dates_by_snapshot() {
    let restic = MINIMAL.replace("  prefix: files\n", "  prefix: files\n  format: restic\n");
    let err = resolve(&restic).unwrap_err();
    assert_eq!(err.0, "restic");
    let with_block = format!(
        "{restic}restic:\n  password: ${{env:ACME_RESTIC}}\n  host: fs1\n  tags: [nightly]\n"
    );
    let p = resolve(&with_block).unwrap();
    assert_eq!(p.backups.format, BackupFormat::Restic);
    assert_eq!(p.backups.dated_by, DateSource::Snapshot);
    let r = p.restic.unwrap();
    assert_eq!(r.password, ConfigValue::Env("ACME_RESTIC".into()));
    assert!(r.selects("fs1", &["nightly", "x"], &["/srv"]));
    assert!(!r.selects("fs2", &["nightly"], &["/srv"]));
    assert!(!r.selects("fs1", &["weekly"], &["/srv"]));
}

#[test]
fn restic_password_must_be_a_reference() {
    let text = MINIMAL.replace("  prefix: files\n", "  prefix: files\n  format: restic\n")
        + "restic:\n  password: hunter2\n";
    let err = resolve(&text).unwrap_err();
    assert_eq!(err.0, "restic.password");
    assert!(!err.1.contains("hunter2"), "{}", err.1);
}

#[test]
fn restic_block_without_the_format_and_objects_fields_with_it_are_refused() {
    let block = "restic:\n  password: ${env:ACME_RESTIC}\n";
    let err = resolve(&format!("{MINIMAL}{block}")).unwrap_err();
    assert_eq!(err.0, "restic");
    let text = MINIMAL.replace(
        "  prefix: files\n",
        "  prefix: files\n  format: restic\n  date_format: \"%Y-%m-%d\"\n",
    ) + block;
    let err = resolve(&text).unwrap_err();
    assert_eq!(err.0, "backups.date_format");
}
