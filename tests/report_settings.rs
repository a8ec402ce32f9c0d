//! The `report:` settings through the binary: `check` refuses a zone, colour, name, paper or
//! logo that is not one, naming the file and the field; valid ones reach the period report
//! (its zone named on the page, the MSP's name and logo shown).

mod common;

use common::{Failures, bin, demo_config, restore_drill, run_code, run_ok};

#[test]
fn check_names_the_file_and_field_of_a_bad_report_setting() {
    let dir = tempfile::tempdir().unwrap();
    let config = demo_config(dir.path());
    let settings = config.join("restore-drill.yaml");
    std::fs::write(config.join("fake.png"), "<html>not an image</html>").unwrap();
    std::fs::write(config.join("big.svg"), vec![b' '; 600 << 10]).unwrap();
    let base = std::fs::read_to_string(&settings).unwrap();
    let mut failures = Failures::new();
    for (block, field, says) in [
        ("timezone: Mars/Olympus", "report.timezone", "IANA name"),
        ("accent: \"blue\"", "report.accent", "#rrggbb"),
        ("accent: \"#12345\"", "report.accent", "#rrggbb"),
        ("msp_name: \"\"", "report.msp_name", "one line"),
        ("logo: missing.png", "report.logo", "cannot read"),
        ("logo: fake.png", "report.logo", "not a PNG, JPEG or SVG"),
        (
            "logo: big.svg",
            "report.logo",
            "larger than the 524288 bytes",
        ),
        ("paper: a5", "paper", "a4"),
        ("colour: red", "colour", "unknown field"),
    ] {
        std::fs::write(&settings, format!("{base}report:\n  {block}\n")).unwrap();
        let out = run_code(restore_drill(&config, &["check"]), 2);
        let said = out.combined();
        failures.check(
            said.contains(&format!("{}:", settings.display()))
                && said.contains(field)
                && said.contains(says),
            || format!("{block}: {out}"),
        );
    }
    std::fs::write(
        &settings,
        format!("{base}report:\n  timezone: America/New_York\n  accent: \"#1F6FEB\"\n  paper: letter\n  msp_name: Northwind IT\n"),
    )
    .unwrap();
    run_ok(restore_drill(&config, &["check"]));
    failures.assert_none();
}

#[test]
fn the_report_shows_its_zone_and_the_msps_branding() {
    let dir = tempfile::tempdir().unwrap();
    let config = demo_config(dir.path());
    // A logo: the smallest PNG there is (a 1x1 transparent pixel).
    let png: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\rIDATx\x9cc\0\x01\0\0\x05\0\x01\r\n-\xb4\0\0\0\0IEND\xaeB`\x82";
    std::fs::write(config.join("logo.png"), png).unwrap();
    common::append_settings(
        &config,
        "report:\n  timezone: America/New_York\n  msp_name: Northwind IT <Services>\n  logo: logo.png\n  accent: \"#aa3300\"\n  paper: letter\n",
    );
    let now = "2026-10-02T02:00:00Z";
    common::date_fixtures_as_of(&config, now);
    run_code(
        restore_drill(&config, &["run"]).env("RESTORE_DRILL_NOW", now),
        1,
    );
    let out = dir.path().join("q.html");
    run_ok(
        bin()
            .args(["report", "--client", "Bright Smile Orthodontics"])
            .args(["--quarter", "2026-Q4", "-o"])
            .arg(&out)
            .arg("--config-dir")
            .arg(&config),
    );
    let html = std::fs::read_to_string(&out).unwrap();
    let mut failures = Failures::new();
    for expected in [
        // 02:00 UTC is 22:00 the day before in New York (EDT), and the page says which zone.
        "2026-10-01 22:00 EDT",
        "America/New_York",
        "Northwind IT &lt;Services&gt;",
        "src=\"data:image/png;base64,iVBORw0KGgo",
        "#aa3300",
        "@page{size:letter portrait",
        // The client in every printed page's margin, escaped for CSS.
        "@top-left{content:\"Bright Smile Orthodontics \\0000b7  2026\\00002d Q4\"",
        "@top-right{content:\"Northwind IT \\00003c Services\\00003e \"",
    ] {
        failures.check(html.contains(expected), || {
            format!("`{expected}` is not in the page")
        });
    }
    failures.check(!html.contains("<Services>"), || {
        "the name is not escaped".into()
    });
    failures.assert_none();
}
