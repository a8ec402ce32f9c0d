//! Hostile tar archives (as .tar.zst): entries that try to leave the scratch folder, links,
//! special files, lying headers, odd names, many entries, truncation. Each gives its named
//! finding; nothing lands outside the set's folder (the sandbox's sentinel walk).

use crate::common::{self, Failures};
use crate::guard::{ABSOLUTE_TARGET, Sandbox};
use tar::EntryType;

use common::tar_entry as entry;

/// A PAX extended header (`x`) carrying `records` for the next entry.
fn pax(out: &mut Vec<u8>, records: &[(&str, &str)]) {
    let mut body = Vec::new();
    for (k, v) in records {
        let rest = format!(" {k}={v}\n");
        // The length prefix counts itself.
        let mut len = rest.len() + 1;
        while format!("{len}{rest}").len() != len {
            len += 1;
        }
        body.extend(format!("{len}{rest}").into_bytes());
    }
    entry(out, b"././@PaxHeader", EntryType::XHeader, b"", &body);
}

fn end(mut out: Vec<u8>) -> Vec<u8> {
    out.extend_from_slice(&[0u8; 1024]);
    out
}

/// Stores `tar` zstd-compressed as `tar/<case>/2026-11-25/files.tar.zst` with a matching
/// SHA256SUMS, and a policy named `case`.
fn case(sb: &Sandbox, case: &str, tar: &[u8]) {
    common::put_zst_with_sums(
        &sb.bucket,
        &format!("tar/{case}/2026-11-25"),
        "files.tar.zst",
        tar,
    );
    sb.policy(case, &format!("tar/{case}/"), "");
}

#[test]
fn hostile_archives_are_refused_and_nothing_escapes() {
    let mut sb = Sandbox::new("");
    let outside = sb.root.join("outside");
    let precious = outside.join("precious.txt");

    let mut t = Vec::new();
    entry(&mut t, b"ok.txt", EntryType::Regular, b"", b"fine\n");
    case(&sb, "good", &end(t));

    let mut t = Vec::new();
    entry(&mut t, b"../escape.txt", EntryType::Regular, b"", b"x");
    entry(
        &mut t,
        b"../../../../outside/escape.txt",
        EntryType::Regular,
        b"",
        b"x",
    );
    case(&sb, "dot-dot", &end(t));

    let mut t = Vec::new();
    entry(
        &mut t,
        ABSOLUTE_TARGET.as_bytes(),
        EntryType::Regular,
        b"",
        b"x",
    );
    let inside_abs = outside.join("abs-escape.txt");
    entry(
        &mut t,
        inside_abs.to_str().unwrap().as_bytes(),
        EntryType::Regular,
        b"",
        b"x",
    );
    case(&sb, "absolute", &end(t));

    let mut t = Vec::new();
    entry(&mut t, b"a/../../escape.txt", EntryType::Regular, b"", b"x");
    entry(
        &mut t,
        b"a/b/../../../escape.txt",
        EntryType::Regular,
        b"",
        b"x",
    );
    case(&sb, "nested-dot-dot", &end(t));

    // A link out of the folder, then a file written "through" it.
    let mut t = Vec::new();
    entry(
        &mut t,
        b"link",
        EntryType::Symlink,
        outside.to_str().unwrap().as_bytes(),
        b"",
    );
    entry(
        &mut t,
        b"rel",
        EntryType::Symlink,
        b"../../../../../outside",
        b"",
    );
    entry(&mut t, b"link/pwned.txt", EntryType::Regular, b"", b"pwned");
    entry(&mut t, b"rel/pwned.txt", EntryType::Regular, b"", b"pwned");
    case(&sb, "symlink-then-write", &end(t));

    // A hard link to a file outside, then data for the same name.
    let mut t = Vec::new();
    entry(
        &mut t,
        b"hard",
        EntryType::Link,
        precious.to_str().unwrap().as_bytes(),
        b"",
    );
    entry(
        &mut t,
        b"hard2",
        EntryType::Link,
        b"../../outside/precious.txt",
        b"",
    );
    entry(&mut t, b"hard", EntryType::Regular, b"", b"overwritten");
    case(&sb, "hardlink-outside", &end(t));

    let mut t = Vec::new();
    entry(&mut t, b"char", EntryType::Char, b"", b"");
    entry(&mut t, b"block", EntryType::Block, b"", b"");
    entry(&mut t, b"fifo", EntryType::Fifo, b"", b"");
    // tar has no socket type; an unknown type letter is what a socket would come as.
    entry(&mut t, b"socket", EntryType::new(b's'), b"", b"");
    case(&sb, "special-files", &end(t));

    // A PAX header claiming 1 GiB for an entry of 10 bytes.
    let mut t = Vec::new();
    pax(&mut t, &[("size", "1073741824")]);
    entry(&mut t, b"liar.txt", EntryType::Regular, b"", b"ten bytes!");
    case(&sb, "pax-lying-size", &end(t));

    // Names Linux allows: a newline, bytes that are not UTF-8.
    let mut t = Vec::new();
    entry(&mut t, b"new\nline.txt", EntryType::Regular, b"", b"a");
    entry(
        &mut t,
        b"not-utf8-\xff\xfe.txt",
        EntryType::Regular,
        b"",
        b"b",
    );
    case(&sb, "odd-names", &end(t));
    // The same oddities in a refused name must reach the report escaped, on one line.
    let mut t = Vec::new();
    entry(
        &mut t,
        b"../evil\nname-\xff.txt",
        EntryType::Regular,
        b"",
        b"x",
    );
    case(&sb, "odd-refused-name", &end(t));

    let mut t = Vec::new();
    for i in 0..20_000 {
        entry(
            &mut t,
            format!("d{}/f{i:05}", i % 50).as_bytes(),
            EntryType::Regular,
            b"",
            b"t",
        );
    }
    case(&sb, "many-entries", &end(t));

    let mut t = Vec::new();
    entry(
        &mut t,
        b"first.txt",
        EntryType::Regular,
        b"",
        &common::text(1, 4000),
    );
    entry(
        &mut t,
        b"second.txt",
        EntryType::Regular,
        b"",
        &common::text(2, 4000),
    );
    t.truncate(512 + 4096 + 512 + 1000);
    case(&sb, "truncated", &t);

    let out = sb.run(&[]);
    assert_eq!(out.code, 1, "{out}");
    let mut failures = Failures::new();
    for name in ["good", "odd-names", "many-entries"] {
        failures.record(out.passes(name));
    }
    for (name, files) in [("odd-names", 2), ("many-entries", 20_000)] {
        let counted = &out.policy(name)["objects"][0]["files"];
        failures.check_eq(counted, files, || format!("{name}: files restored"));
    }
    for (name, findings) in [
        ("dot-dot", Some(2)),
        ("absolute", Some(2)),
        ("nested-dot-dot", None),
        ("symlink-then-write", Some(2)),
        ("hardlink-outside", Some(2)),
        ("special-files", Some(4)),
        ("odd-refused-name", None),
    ] {
        failures.record(out.fails_with(name, "unsafe_path"));
        if let Some(findings) = findings {
            let messages = out.messages(name, "unsafe_path");
            failures.check_eq(messages.len(), findings, || {
                format!("{name}: unsafe_path findings {messages:?}")
            });
        }
    }
    for f in out.policy("odd-refused-name")["findings"]
        .as_array()
        .unwrap()
    {
        let object = f["object"].as_str().unwrap();
        failures.check(!object.contains('\n'), || {
            format!("raw newline in {object:?}")
        });
    }
    failures.check(!out.stdout.contains("evil\nname"), || {
        "a raw newline from an entry name reached the summary".to_string()
    });
    failures.record(out.fails_with("pax-lying-size", "corrupt_archive"));
    failures.record(out.fails_with("truncated", "corrupt_archive"));
    failures.check_eq(std::fs::read(&precious).unwrap(), b"do not touch\n", || {
        "the hard link target was written through".to_string()
    });
    failures.assert_none_for(&out);
}
