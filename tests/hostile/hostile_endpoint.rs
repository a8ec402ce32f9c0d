//! A hostile endpoint cannot hold a run for ever or exhaust its memory (issue 16, Medium 6):
//! a GET trickled a byte at a time (under both the stall and the request timeouts) is given
//! up at its deadline, a body longer than listed is stopped right after the listed size, a
//! shorter one is a finding, a policy out of time is given up while the others run, and list
//! pages without end stop at the listing's budget with memory bounded. The endpoint is
//! tests/hostile/fake_s3.rs, on loopback.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::common::{self, Failures};
use crate::fake_s3::{FakeS3, LISTED, Lie};
use crate::guard::Sandbox;

/// An S3 policy over the fake endpoint's bucket: no checksums (the endpoint serves none),
/// wide targets.
fn s3_policy(sb: &Sandbox, name: &str, endpoint: &str) {
    let storage = common::s3_storage("hostile", endpoint, "RD_HOSTILE_S3_SECRET");
    let rest = "checksums:\n  required: false\ntargets:\n  rpo: 3650d\n  rto: 1h\n";
    common::write_policy(&sb.config, name, "Hostile", &storage, "data/", rest);
}

/// A good fs policy beside the hostile ones: it must pass whatever they do.
fn fs_good(sb: &Sandbox) {
    let object = common::zstd(&common::noise(7, 64 << 10));
    common::put_with_sums(&sb.bucket, "fs/2026-11-25", "db.zst", &object);
    sb.policy("fs-good", "fs/", "");
}

fn host(server: &FakeS3) -> String {
    server.endpoint.trim_start_matches("http://").to_string()
}

#[test]
fn a_trickling_or_lying_get_is_stopped_and_named() {
    let trickle = FakeS3::start(Lie::Trickle {
        objects: 1,
        every: Duration::from_millis(500),
    });
    let longer = FakeS3::start(Lie::Longer);
    let shorter = FakeS3::start(Lie::Shorter);
    // One byte every 500 ms passes under a 10 s stall timeout and a 2 s request timeout;
    // at 1 MiB/s the 1 KiB listed has 2 s and a millisecond.
    let mut sb = Sandbox::new(
        "storage:\n  timeout: 2s\n  stall_timeout: 10s\n  retries: 1\n  min_rate: 1MiB\n",
    );
    fs_good(&sb);
    s3_policy(&sb, "s3-trickle", &trickle.endpoint);
    s3_policy(&sb, "s3-longer", &longer.endpoint);
    s3_policy(&sb, "s3-shorter", &shorter.endpoint);

    let out = sb.run(&[]);
    assert_eq!(out.code, 1, "{out}");
    let mut failures = Failures::new();
    failures.record(out.passes("fs-good"));
    for name in ["s3-trickle", "s3-longer", "s3-shorter"] {
        failures.record(out.fails_with(name, "storage_error"));
    }
    let says = |name: &str, words: &[String]| {
        let message = out.messages(name, "storage_error").join(" | ");
        let missing: Vec<&String> = words.iter().filter(|w| !message.contains(*w)).collect();
        (
            missing.is_empty(),
            format!("{name}: no {missing:?} in: {message}"),
        )
    };
    let object = "data/2026-11-25/object-0.bin".to_string();
    for (name, words) in [
        (
            "s3-trickle",
            vec![
                object.clone(),
                format!("from {}", host(&trickle)),
                "too slow".into(),
                format!("of the {LISTED} bytes listed"),
                "storage.min_rate (1.0 MiB/s)".into(),
            ],
        ),
        (
            "s3-longer",
            vec![
                object.clone(),
                format!("at {}", host(&longer)),
                format!("more than the {LISTED} bytes it listed"),
                "stopped after".into(),
            ],
        ),
        (
            "s3-shorter",
            vec![
                object.clone(),
                format!("at {}", host(&shorter)),
                format!("read {} bytes", LISTED / 2),
                format!("the listing said {LISTED}"),
            ],
        ),
    ] {
        let (ok, why) = says(name, &words);
        failures.check(ok, || why);
    }
    // Stopped soon after the listed size, not read on towards the 64 GiB announced.
    let sent = longer.sent.load(Ordering::SeqCst);
    failures.check(sent < 64 << 20, || {
        format!("the longer body ran to {sent} bytes")
    });
    // The trickle was given up long before its 1024 bytes (512 s) were sent.
    let trickled = trickle.sent.load(Ordering::SeqCst);
    failures.check(trickled < LISTED / 2, || {
        format!("{trickled} bytes trickled before the read was given up")
    });
    failures.assert_none_for(&out);
}

#[test]
fn a_policy_out_of_time_is_given_up_and_the_run_goes_on() {
    // Three objects trickled at 5 bytes a second, one restore at a time, and a minimum rate
    // that never stops them: only the policy's 3 s can. And a listing without end, which only
    // the same 3 s stop before its page budget.
    let trickle = FakeS3::start(Lie::Trickle {
        objects: 3,
        every: Duration::from_millis(200),
    });
    let mut sb = Sandbox::new(
        "concurrency:\n  restores: 1\nstorage:\n  timeout: 5s\n  stall_timeout: 10s\n  \
         retries: 1\n  min_rate: 1\n  policy_timeout: 3s\n  max_list_pages: 1000000\n",
    );
    fs_good(&sb);
    s3_policy(&sb, "s3-slow", &trickle.endpoint);
    // Empty pages without end, within the page budget for longer than the policy's time.
    let pages = FakeS3::start(Lie::EndlessPages { per_page: 0 });
    s3_policy(&sb, "s3-listing", &pages.endpoint);

    let out = sb.run(&[]);
    assert_eq!(out.code, 1, "{out}");
    let mut failures = Failures::new();
    failures.record(out.passes("fs-good"));
    failures.record(out.fails_with("s3-slow", "policy_timeout"));
    let timeout = out.messages("s3-slow", "policy_timeout").join(" | ");
    failures.check(
        timeout.contains("storage.policy_timeout") && timeout.contains("2 of 3 sampled objects"),
        || format!("s3-slow: {timeout}"),
    );
    let stopped = out.messages("s3-slow", "storage_error").join(" | ");
    failures.check(
        stopped.contains("storage.policy_timeout") && stopped.contains(&host(&trickle)),
        || format!("s3-slow, the object in flight: {stopped}"),
    );
    failures.record(out.fails_with("s3-listing", "policy_timeout"));
    let listing = out.messages("s3-listing", "policy_timeout").join(" | ");
    failures.check(
        listing.contains("listing s3 bucket `hostile`") && listing.contains("longer than 3.0s"),
        || format!("s3-listing: {listing}"),
    );
    let objects = out.policy("s3-slow")["objects"].as_array().unwrap().len();
    failures.check_eq(objects, 1, || "objects of s3-slow in the results".into());
    failures.assert_none_for(&out);
}

#[test]
fn endless_list_pages_end_in_listing_truncated_with_memory_bounded() {
    // Keys in new set folders, 1000 a page, without end: what grew memory to 1.78 GB in
    // 30 s. And pages with no key at all, without end.
    let keys = FakeS3::start(Lie::EndlessPages { per_page: 1000 });
    let empty = FakeS3::start(Lie::EndlessPages { per_page: 0 });
    let mut sb = Sandbox::new(
        "storage:\n  timeout: 5s\n  stall_timeout: 60s\n  retries: 1\n  max_listed_keys: 50000\n  \
         max_list_pages: 100\n",
    );
    fs_good(&sb);
    s3_policy(&sb, "s3-keys", &keys.endpoint);
    s3_policy(&sb, "s3-pages", &empty.endpoint);

    let out = sb.run_measured(&[]);
    assert_eq!(out.code, 1, "{out}");
    let mut failures = Failures::new();
    failures.record(out.passes("fs-good"));
    for name in ["s3-keys", "s3-pages"] {
        failures.record(out.fails_with(name, "listing_truncated"));
    }
    for (name, says) in [
        ("s3-keys", "50000 keys, storage.max_listed_keys"),
        ("s3-pages", "100 list requests, storage.max_list_pages"),
    ] {
        let message = out.messages(name, "listing_truncated").join(" | ");
        failures.check(message.contains(says), || format!("{name}: {message}"));
    }
    // The listings stopped at their budgets: 50 pages of keys, 100 empty ones.
    let (keyed, paged) = (
        keys.pages.load(Ordering::SeqCst),
        empty.pages.load(Ordering::SeqCst),
    );
    failures.check(keyed <= 51, || format!("{keyed} pages of keys listed"));
    failures.check(paged <= 100, || format!("{paged} empty pages listed"));
    let rss = out.peak_rss_kib.unwrap();
    failures.check(rss < 256 << 10, || format!("peak RSS {rss} KiB"));
    eprintln!("peak RSS {rss} KiB; pages {keyed} and {paged}");
    failures.assert_none_for(&out);
}

#[test]
fn a_name_that_is_not_utf8_is_named_not_gone() {
    use std::os::unix::ffi::OsStrExt;
    let mut sb = Sandbox::new("");
    common::put_with_sums(&sb.bucket, "data/2026-11-25", "good.bin", b"good bytes\n");
    let folder = sb.bucket.join("data/2026-11-25");
    let bad = folder.join(std::ffi::OsStr::from_bytes(b"bad\xff\xfename.bin"));
    std::fs::write(&bad, b"bytes under a name that is not UTF-8\n").unwrap();
    sb.policy("fs-names", "data/", "checksums:\n  required: false\n");
    // S3 names are UTF-8: an endpoint listing one that is not cannot be read, and says so.
    let s3 = FakeS3::start(Lie::NotUtf8);
    s3_policy(&sb, "s3-names", &s3.endpoint);

    let out = sb.run(&[]);
    assert_eq!(out.code, 1, "{out}");
    let mut failures = Failures::new();
    failures.record(out.fails_with("fs-names", "invalid_name"));
    let message = out.messages("fs-names", "invalid_name").join(" | ");
    failures.check(
        message.contains(r"data/2026-11-25/bad\\xff\\xfename.bin")
            && message.contains("not valid UTF-8"),
        || format!("fs-names: {message}"),
    );
    let all = out.policy("fs-names")["findings"].to_string();
    failures.check(!all.contains("listed but is gone"), || {
        format!("reported as gone: {all}")
    });
    failures.record(out.fails_with("s3-names", "storage_error"));
    let s3_said = out.messages("s3-names", "storage_error").join(" | ");
    failures.check(
        s3_said.contains(&format!(
            "{} answered with a name that is not valid UTF-8",
            host(&s3)
        )),
        || format!("s3-names: {s3_said}"),
    );
    failures.assert_none_for(&out);
}
