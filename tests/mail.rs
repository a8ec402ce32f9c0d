//! Mail to both teams through a real SMTP server on loopback (aiosmtpd, started by
//! tests/run.sh, or by a test for STARTTLS and AUTH), parsed with a MIME parser: one digest
//! per team, client isolation (an invalid policy file included), attachments, priority,
//! spooling, flush and error notices.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::mail::{Received, mail_for, maildir, parse_mail};
use common::{Failures, closed_port, put, put_with_sums, restore_drill, run, run_code, zstd};

/// A configuration directory with two clients, one passing and one failing, and three teams
/// whose addresses carry `tag` so each test finds its own mail in the shared Maildir.
struct Setup {
    dir: tempfile::TempDir,
    tag: String,
}

impl Setup {
    fn new(test: &str, mail: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let tag = format!("{test}-{}", std::process::id());
        let bucket = dir.path().join("bucket");
        put_with_sums(
            &bucket,
            "acme/2026-11-25",
            "ledger.zst",
            &zstd(b"acme ledger"),
        );
        let bad = zstd(b"bright images");
        put(&bucket, "bright/2026-11-25/images.zst", &bad);
        put(
            &bucket,
            "bright/2026-11-25/SHA256SUMS",
            format!("{}  images.zst\n", "0".repeat(64)).as_bytes(),
        );
        let setup = Setup { dir, tag };
        setup.write_settings(mail, "always");
        for (name, client, prefix) in [
            ("acme-files", "Acme Dental", "acme/"),
            ("bright-files", "Bright Smile Orthodontics", "bright/"),
        ] {
            let targets = "targets:\n  rpo: 26h\n  rto: 1h\n";
            common::write_fs_policy(&setup.config(), name, client, &bucket, prefix, targets);
        }
        setup
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("config")
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn write_settings(&self, mail: &str, acme_notify: &str) {
        let t = &self.tag;
        let teams = format!(
            "teams:\n  msp:\n    name: Northwind NOC\n    msp: true\n    email: [noc+{t}@msp.test]\n  acme-it:\n    name: Acme Dental IT\n    client: Acme Dental\n    email: [it+{t}@acme.test]\n    notify: {acme_notify}\n  bright-it:\n    name: Bright Smile IT\n    client: Bright Smile Orthodontics\n    email: [desk+{t}@bright.test, boss+{t}@bright.test]\nmail:\n  from: restore-drill <drill@msp.test>\n{mail}",
        );
        common::write_settings(self.dir.path(), &teams);
    }

    /// `restore-drill ARGS --config-dir CONFIG`, the SMTP password in its environment.
    fn command(&self, args: &[&str]) -> assert_cmd::Command {
        let mut cmd = restore_drill(&self.config(), args);
        cmd.env("RD_TEST_SMTP_PASSWORD", SMTP_PASSWORD);
        cmd
    }

    /// The messages of this setup's teams in the shared Maildir.
    fn received(&self) -> Vec<Received> {
        mail_for(&maildir(), &self.tag)
    }

    fn spooled(&self) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(self.state().join("spool")) else {
            return Vec::new();
        };
        entries.flatten().map(|e| e.path()).collect()
    }
}

const SMTP_PASSWORD: &str = "rd-smtp-password-8c1e77";

fn plain_smtp() -> String {
    let (host, port) = common::mail::smtp_server();
    format!(
        "  transport: smtp\n  host: {host}\n  port: {port}\n  tls: none\n  attempts: 2\n  retry_delay: 100ms\n  timeout: 10s\n"
    )
}

/// A mail block for a server that refuses every connection, tried once.
fn server_down() -> String {
    format!(
        "  transport: smtp\n  host: 127.0.0.1\n  port: {}\n  tls: none\n  attempts: 1\n",
        closed_port()
    )
}

fn by_team<'a>(mail: &'a [Received], address: &str) -> Vec<&'a Received> {
    mail.iter()
        .filter(|m| m.rcpt_to.contains(address))
        .collect()
}

#[test]
fn each_team_gets_one_digest_with_only_its_clients_results() {
    let s = Setup::new("digest", &plain_smtp());
    let out = run_code(s.command(&["run"]), 1);
    assert!(out.stdout.contains("mail: 3 message(s) sent"), "{out}");
    let mail = s.received();
    assert_eq!(mail.len(), 3, "one message per team");

    let msp = by_team(&mail, &format!("noc+{}", s.tag));
    assert_eq!(msp.len(), 1);
    let msp = msp[0];
    assert!(
        msp.subject.starts_with(
            "[restore-drill] FAILED 1 of 2 · Acme Dental, Bright Smile Orthodontics · "
        ),
        "{}",
        msp.subject
    );
    assert_eq!(msp.header("X-Priority"), Some("1 (Highest)"));
    assert_eq!(msp.header("Importance"), Some("high"));
    assert!(
        msp.text.contains("action: Northwind NOC (msp)"),
        "{}",
        msp.text
    );
    assert!(
        msp.html.contains("<table") && msp.html.contains("FAIL"),
        "no HTML table"
    );

    let acme = by_team(&mail, &format!("it+{}", s.tag));
    assert_eq!(acme.len(), 1);
    let acme = acme[0];
    assert!(
        acme.subject
            .starts_with("[restore-drill] PASSED 1 of 1 · Acme Dental · "),
        "{}",
        acme.subject
    );
    assert_eq!(
        acme.header("X-Priority"),
        None,
        "a passing digest is not urgent"
    );
    let raw = String::from_utf8_lossy(&acme.raw);
    assert!(
        !raw.contains("Bright") && !raw.contains("bright"),
        "another client's results reached Acme"
    );
    let kinds: Vec<(&str, &str)> = acme
        .attachments
        .iter()
        .map(|(n, c, _)| (n.rsplit('.').next().unwrap(), c.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("json", "application/json"),
            ("xml", "application/xml"),
            ("html", "text/html")
        ]
    );
    let json: serde_json::Value = serde_json::from_slice(&acme.attachments[0].2).unwrap();
    let names: Vec<&str> = json["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    let junit = String::from_utf8_lossy(&acme.attachments[1].2);
    assert!(
        junit.contains("<testsuite name=\"acme-files\"") && !junit.contains("bright"),
        "{junit}"
    );
    assert_eq!(names, ["acme-files"]);

    // One message for the whole team, addressed to both of its addresses.
    let bright = by_team(&mail, &format!("desk+{}", s.tag));
    assert_eq!(bright.len(), 1);
    let bright = bright[0];
    assert!(bright.rcpt_to.contains(&format!("boss+{}", s.tag)));
    assert_eq!(bright.to.len(), 2);
    assert!(
        bright
            .text
            .contains("checksum_mismatch: bright/2026-11-25/images.zst"),
        "{}",
        bright.text
    );
    assert!(!String::from_utf8_lossy(&bright.raw).contains("Acme"));
}

#[test]
fn failures_only_team_is_not_mailed_when_its_policies_pass() {
    let s = Setup::new("failonly", &plain_smtp());
    s.write_settings(&plain_smtp(), "failures");
    run_code(s.command(&["run"]), 1);
    let mail = s.received();
    assert_eq!(mail.len(), 2);
    assert!(by_team(&mail, &format!("it+{}", s.tag)).is_empty());
}

#[test]
fn server_down_spools_then_the_next_run_delivers_it_first_exactly_once() {
    let down = format!(
        "  transport: smtp\n  host: 127.0.0.1\n  port: {}\n  tls: none\n  attempts: 2\n  retry_delay: 100ms\n",
        closed_port()
    );
    let s = Setup::new("spool", &down);
    let out = run(s.command(&["run"]));
    assert_eq!(out.code, 3, "undelivered mail has its own exit code: {out}");
    assert!(out.stdout.contains("mail: UNDELIVERED, spooled"), "{out}");
    assert_eq!(s.spooled().len(), 3, "one file per team's message");
    assert!(s.received().is_empty());

    s.write_settings(&plain_smtp(), "always");
    let out = run_code(s.command(&["run"]), 1);
    assert!(
        out.stdout
            .contains("mail: 3 spooled message(s) from earlier runs delivered"),
        "{out}"
    );
    assert!(
        s.spooled().is_empty(),
        "spool not emptied: {:?}",
        s.spooled()
    );
    let mail = s.received();
    assert_eq!(mail.len(), 6, "three spooled and three new, none twice");
    let mut ids: Vec<&str> = mail.iter().filter_map(|m| m.header("Message-ID")).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 6, "a message was delivered twice");

    // A third run finds nothing left to flush.
    let out = run(s.command(&["run"]));
    assert!(!out.stdout.contains("from earlier runs"), "{out}");
    assert_eq!(s.received().len(), 9);
}

#[test]
fn mail_flush_delivers_the_spool_on_demand() {
    let down = server_down();
    let s = Setup::new("flush", &down);
    run_code(s.command(&["run"]), 3);
    let out = run(s.command(&["mail", "flush"]));
    assert_eq!(out.code, 3, "still down: {out}");
    assert!(
        out.stdout
            .contains("0 spooled message(s) delivered, 3 still waiting"),
        "{out}"
    );
    s.write_settings(&plain_smtp(), "always");
    let out = run_code(s.command(&["mail", "flush"]), 0);
    assert!(
        out.stdout
            .contains("3 spooled message(s) delivered, 0 still waiting"),
        "{out}"
    );
    assert_eq!(s.received().len(), 3);
}

/// A spool written by an earlier release (a `.json` envelope beside each `.eml`) is still
/// delivered, and emptied, by this one.
#[test]
fn mail_flush_delivers_a_spool_of_the_earlier_layout() {
    let down = server_down();
    let s = Setup::new("legacy", &down);
    run_code(s.command(&["run"]), 3);
    // Each spool file rewritten as the two files an earlier release wrote.
    for path in s.spooled() {
        let bytes = std::fs::read(&path).unwrap();
        let end = bytes.iter().position(|&b| b == b'\n').unwrap();
        std::fs::write(path.with_extension("json"), &bytes[..end]).unwrap();
        std::fs::write(path.with_extension("eml"), &bytes[end + 1..]).unwrap();
        std::fs::remove_file(&path).unwrap();
    }
    assert_eq!(s.spooled().len(), 6);
    s.write_settings(&plain_smtp(), "always");
    let out = run_code(s.command(&["mail", "flush"]), 0);
    assert!(
        out.stdout
            .contains("3 spooled message(s) delivered, 0 still waiting"),
        "{out}"
    );
    assert_eq!(s.received().len(), 3);
    assert!(s.spooled().is_empty(), "{:?}", s.spooled());
}

#[test]
fn invalid_policy_is_mailed_to_the_msp_and_its_own_clients_team_only() {
    let s = Setup::new("notice", &plain_smtp());
    put(
        &s.config(),
        "broken.yaml",
        b"name: broken\nclient: Acme Dental\nstorage: [\n",
    );
    // The run goes on: the broken file is a failed entry, the other policies are verified.
    let out = run_code(s.command(&["run"]), 1);
    let mail = s.received();
    let text_for = |who: &str| {
        let address = format!("{who}+{}", s.tag);
        mail.iter()
            .filter(|m| m.rcpt_to.contains(&address))
            .map(|m| m.text.clone())
            .collect::<Vec<_>>()
            .join("\n")
    };
    let mut failures = Failures::new();
    for who in ["noc", "it"] {
        let text = text_for(who);
        failures.check(
            text.contains("broken (Acme Dental): FAIL")
                && text.contains("invalid_policy")
                && text.contains("broken.yaml:3:"),
            || format!("{who} was not told of broken.yaml: {text}"),
        );
    }
    for who in ["desk", "boss"] {
        let text = text_for(who);
        failures.check(!text.is_empty() && !text.contains("broken"), || {
            format!("another client's team ({who}) heard of Acme's policy: {text}")
        });
    }
    failures.assert_none_for(&out);
}

#[test]
fn bad_settings_with_valid_mail_settings_still_mail_a_notice() {
    let s = Setup::new("badsettings", &plain_smtp());
    let path = s.config().join("restore-drill.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("concurrency:\n  restores: 0\n{text}")).unwrap();
    let out = run_code(s.command(&["run"]), 2);
    let mail = s.received();
    assert_eq!(mail.len(), 1, "{out}");
    assert!(
        mail[0].text.contains("concurrency.restores"),
        "{}",
        mail[0].text
    );
}

#[test]
fn mail_test_sends_to_one_team() {
    let s = Setup::new("mailtest", &plain_smtp());
    run_code(s.command(&["mail", "test", "acme-it"]), 0);
    let mail = s.received();
    assert_eq!(mail.len(), 1);
    assert!(mail[0].rcpt_to.contains(&format!("it+{}", s.tag)));
    assert!(mail[0].subject.contains("test message"));
    let out = run_code(s.command(&["mail", "test", "nobody"]), 2);
    assert!(out.stderr.contains("no team `nobody`"), "{out}");
}

#[test]
fn file_transport_writes_each_digest_to_the_outbox() {
    let s = Setup::new("outbox", "  transport: file\n");
    let out = run_code(s.command(&["run"]), 1);
    let outbox: Vec<PathBuf> = std::fs::read_dir(s.state().join("outbox"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(outbox.len(), 3);
    let mut failures = Failures::new();
    for path in &outbox {
        let file = path.display().to_string();
        failures.check(out.stdout.contains(&file), || {
            format!("{file} is not named on stdout")
        });
        let mail = parse_mail(std::fs::read(path).unwrap());
        failures.check(mail.subject.starts_with("[restore-drill] "), || {
            format!("{file}: subject {:?}", mail.subject)
        });
        failures.check(!mail.text.is_empty() && !mail.html.is_empty(), || {
            format!("{file}: an empty text or HTML part")
        });
    }
    failures.assert_none_for(&out);
}

/// An aiosmtpd with STARTTLS (a certificate made here) and AUTH, for one test.
struct TlsServer {
    child: Child,
    port: u16,
    maildir: PathBuf,
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A CA and a server certificate for 127.0.0.1 signed by it; returns the CA's PEM path.
fn make_certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "restore-drill test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server_params =
        CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let server = server_params.signed_by(&server_key, &issuer).unwrap();
    let (ca_path, cert_path, key_path) = (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    );
    std::fs::write(&ca_path, ca.pem()).unwrap();
    std::fs::write(&cert_path, server.pem()).unwrap();
    std::fs::write(&key_path, server_key.serialize_pem()).unwrap();
    (ca_path, cert_path, key_path)
}

fn start_tls_server(dir: &Path) -> (TlsServer, PathBuf) {
    let (ca, cert, key) = make_certificates(dir);
    let python = std::env::var("RESTORE_DRILL_TEST_PYTHON").unwrap_or_else(|_| {
        panic!("RESTORE_DRILL_TEST_PYTHON is not set: run the mail tests with `tests/run.sh`")
    });
    let maildir = dir.join("tls-maildir");
    let mut child = Command::new(python)
        .arg(common::repo().join("tests/support/smtp_server.py"))
        .arg(&maildir)
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .arg("--auth")
        .arg(format!("drill:{SMTP_PASSWORD}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join("smtp-server.log")).unwrap())
        .spawn()
        .expect("start the TLS SMTP server");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .trim()
        .strip_prefix("ready ")
        .unwrap_or_else(|| panic!("server said {line:?}"))
        .parse()
        .unwrap();
    (
        TlsServer {
            child,
            port,
            maildir,
        },
        ca,
    )
}

#[test]
fn starttls_and_auth_deliver_through_a_configured_ca() {
    let work = tempfile::tempdir().unwrap();
    let (server, ca) = start_tls_server(work.path());
    let mail = format!(
        "  transport: smtp\n  host: 127.0.0.1\n  port: {}\n  tls: starttls\n  ca_file: {}\n  username: drill\n  password: ${{env:RD_TEST_SMTP_PASSWORD}}\n  attempts: 1\n",
        server.port,
        ca.display()
    );
    let s = Setup::new("tls", &mail);
    let out = run_code(s.command(&["-vv", "run"]), 1);
    assert!(out.stdout.contains("mail: 3 message(s) sent"), "{out}");
    assert_eq!(mail_for(&server.maildir, &s.tag).len(), 3);
    assert!(
        !out.stdout.contains(SMTP_PASSWORD) && !out.stderr.contains(SMTP_PASSWORD),
        "the SMTP password was printed"
    );
}

#[test]
fn untrusted_certificate_is_refused_and_the_mail_spooled() {
    let work = tempfile::tempdir().unwrap();
    let (server, _ca) = start_tls_server(work.path());
    let mail = format!(
        "  transport: smtp\n  host: 127.0.0.1\n  port: {}\n  tls: starttls\n  username: drill\n  password: ${{env:RD_TEST_SMTP_PASSWORD}}\n  attempts: 1\n",
        server.port
    );
    let s = Setup::new("untrusted", &mail);
    run_code(s.command(&["run"]), 3);
    assert_eq!(s.spooled().len(), 3);
    assert!(mail_for(&server.maildir, &s.tag).is_empty());
}

#[test]
fn starttls_is_required_never_skipped() {
    // The shared server offers no STARTTLS: with `tls: starttls` nothing is sent in clear.
    let work = tempfile::tempdir().unwrap();
    let (_server, ca) = start_tls_server(work.path());
    let (host, port) = common::mail::smtp_server();
    let mail = format!(
        "  transport: smtp\n  host: {host}\n  port: {port}\n  tls: starttls\n  ca_file: {}\n  attempts: 1\n",
        ca.display()
    );
    let s = Setup::new("nostarttls", &mail);
    let out = run_code(s.command(&["run"]), 3);
    assert!(out.stdout.contains("STARTTLS is not supported"), "{out}");
    assert_eq!(s.spooled().len(), 3);
    assert!(s.received().is_empty(), "mail went out in clear text");
}

#[test]
fn a_ca_file_without_a_certificate_is_a_configuration_error() {
    let work = tempfile::tempdir().unwrap();
    let junk = work.path().join("junk-ca.pem");
    std::fs::write(&junk, "not a certificate").unwrap();
    let mail = format!(
        "  transport: smtp\n  host: 127.0.0.1\n  tls: starttls\n  ca_file: {}\n",
        junk.display()
    );
    let s = Setup::new("junkca", &mail);
    let out = run_code(s.command(&["check"]), 2);
    assert!(
        out.stderr.contains("mail.ca_file") && out.stderr.contains("no PEM certificate"),
        "{out}"
    );
}

#[test]
fn wrong_password_is_a_permanent_failure_not_retried_forever() {
    let work = tempfile::tempdir().unwrap();
    let (server, ca) = start_tls_server(work.path());
    let mail = format!(
        "  transport: smtp\n  host: 127.0.0.1\n  port: {}\n  tls: starttls\n  ca_file: {}\n  username: drill\n  password: ${{env:RD_TEST_WRONG}}\n  attempts: 5\n  retry_delay: 10s\n",
        server.port,
        ca.display()
    );
    let s = Setup::new("badauth", &mail);
    let out = run_code(
        restore_drill(&s.config(), &["run"]).env("RD_TEST_WRONG", "not-the-password"),
        3,
    );
    assert!(
        out.stdout.contains("UNDELIVERED") && out.stdout.contains("535"),
        "{out}"
    );
    // A permanent 535 is not retried: one attempt per team's message, not five.
    assert_eq!(
        out.stderr.matches("mail delivery failed").count(),
        3,
        "{out}"
    );
    assert!(!out.stderr.contains("attempt=2"), "{out}");
    assert_eq!(s.spooled().len(), 3);
    assert!(!out.stdout.contains("not-the-password") && !out.stderr.contains("not-the-password"));
}

#[test]
fn check_connect_reaches_the_smtp_server_and_logs_in() {
    let work = tempfile::tempdir().unwrap();
    let (server, ca) = start_tls_server(work.path());
    let mail = format!(
        "  transport: smtp\n  host: 127.0.0.1\n  port: {}\n  tls: starttls\n  ca_file: {}\n  username: drill\n  password: ${{env:RD_TEST_SMTP_PASSWORD}}\n",
        server.port,
        ca.display()
    );
    let s = Setup::new("connect", &mail);
    let out = run_code(s.command(&["check", "--connect"]), 0);
    assert!(out.stdout.contains("connect mail: ok"), "{out}");
    let bad = mail.replace(
        "${env:RD_TEST_SMTP_PASSWORD}",
        "${env:RD_TEST_WRONG_PASSWORD}",
    );
    s.write_settings(&bad, "always");
    let out = run_code(
        restore_drill(&s.config(), &["check", "--connect"]).env("RD_TEST_WRONG_PASSWORD", "nope"),
        7,
    );
    assert!(
        out.stdout.contains("connect mail: FAILED") && out.stdout.contains("535"),
        "{out}"
    );
    assert_eq!(
        mail_for(&server.maildir, &s.tag).len(),
        0,
        "check sent mail"
    );
}
