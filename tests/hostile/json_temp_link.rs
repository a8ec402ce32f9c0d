//! `--json FILE` is written through a temporary file in FILE's folder. Its name used to be
//! predictable (`.results.json.<pid>.tmp`): a local user sharing the folder could plant a
//! symbolic link there and have the root runner write the results through it into any file.
//! The temporary is now created with `O_EXCL` under a random name, so a link planted at the
//! old name is never followed and the file it points to is untouched.

use crate::common::Failures;
use crate::scratch_links::held_run;

#[test]
fn a_link_at_the_json_temporary_name_is_not_followed() {
    // The proxy holds the run for a few seconds: time to plant the link once the pid is known.
    let (mut sb, _proxy) = held_run();
    let precious = sb.root.join("outside/precious.txt");
    let child = sb.spawn(&["run"], false);
    let planted = sb.root.join(format!(".results.json.{}.tmp", child.id()));
    std::os::unix::fs::symlink(&precious, &planted).unwrap();
    // The link is the attacker's, part of what must stay as it is.
    sb.seal();
    let out = sb.wait(child, false);
    sb.check(&out, &["run"]);

    let mut failures = Failures::new();
    failures.check_eq(out.code, 0, || format!("the run passes: {out}"));
    failures.check(out.results.is_some(), || "results.json was written".into());
    let json = std::fs::symlink_metadata(sb.root.join("results.json"));
    failures.check(json.is_ok_and(|m| m.is_file()), || {
        "results.json is a file of its own, not the planted link renamed".into()
    });
    failures.check_eq(
        std::fs::read(&precious).unwrap(),
        b"do not touch\n".to_vec(),
        || "the file the link points to".into(),
    );
    failures.assert_none_for(&out);
}
