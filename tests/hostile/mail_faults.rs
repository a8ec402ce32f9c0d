//! A mail server that misbehaves: one that accepts and never answers, one refusing
//! connections, 4xx temporary and 5xx permanent replies, a broken TLS handshake. Each run
//! retries (temporary failures only), then spools; when the real server (aiosmtpd, started
//! by tests/run.sh) is back, `mail flush` delivers every message exactly once.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::mail::{mail_for, maildir};
use crate::common::{self, Failures};
use crate::guard::{Sandbox, walk};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Script {
    /// Accepts the connection and never says a word.
    Silent,
    /// `451` to MAIL FROM, every time.
    Temporary,
    /// `550` to RCPT TO.
    Permanent,
    /// Offers STARTTLS, then answers the handshake with plain text.
    BrokenTls,
}

/// A scripted SMTP server on loopback, counting the commands it receives.
struct FakeSmtp {
    port: u16,
    commands: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    accept: Option<std::thread::JoinHandle<()>>,
}

impl FakeSmtp {
    fn start(script: Script) -> FakeSmtp {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let commands = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (c, s) = (commands.clone(), stop.clone());
        let accept = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (c, s) = (c.clone(), s.clone());
                std::thread::spawn(move || {
                    let _ = serve(stream, script, &c, &s);
                });
            }
        });
        FakeSmtp {
            port,
            commands,
            stop,
            accept: Some(accept),
        }
    }

    fn count(&self, verb: &str) -> usize {
        self.commands
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.to_ascii_uppercase().starts_with(verb))
            .count()
    }
}

impl Drop for FakeSmtp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

fn serve(
    stream: TcpStream,
    script: Script,
    commands: &Mutex<Vec<String>>,
    stop: &AtomicBool,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    if script == Script::Silent {
        // Hold the connection, bounded, without a greeting.
        commands.lock().unwrap().push("CONNECT".into());
        let started = Instant::now();
        while !stop.load(Ordering::SeqCst) && started.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(50));
        }
        return Ok(());
    }
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    writer.write_all(b"220 fake.example ESMTP\r\n")?;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_string();
        commands.lock().unwrap().push(command.clone());
        let verb = command
            .split(' ')
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let reply: &[u8] = match (verb.as_str(), script) {
            ("EHLO", Script::BrokenTls) => b"250-fake.example\r\n250 STARTTLS\r\n",
            ("EHLO" | "HELO", _) => b"250-fake.example\r\n250 8BITMIME\r\n",
            ("STARTTLS", _) => {
                writer.write_all(b"220 go ahead\r\n")?;
                writer.write_all(b"this is not a TLS server\r\n")?;
                return Ok(());
            }
            ("MAIL", Script::Temporary) => b"451 4.3.0 try again later\r\n",
            ("RCPT", Script::Permanent) => b"550 5.1.1 no such user here\r\n",
            ("MAIL" | "RCPT" | "RSET" | "NOOP", _) => b"250 ok\r\n",
            ("QUIT", _) => {
                writer.write_all(b"221 bye\r\n")?;
                return Ok(());
            }
            _ => b"502 not implemented\r\n",
        };
        writer.write_all(reply)?;
    }
}

fn smtp(port: u16, tls: &str) -> String {
    format!(
        "mail:\n  from: rd <rd@msp.example>\n  transport: smtp\n  host: 127.0.0.1\n  port: {port}\n  tls: {tls}\n  attempts: 2\n  retry_delay: 10ms\n  timeout: 1s\n"
    )
}

/// Replaces the settings' mail block (the test's own change: sealed again after).
fn set_mail(sb: &mut Sandbox, mail: &str) {
    let settings = sb.config.join("restore-drill.yaml");
    let text = std::fs::read_to_string(&settings).unwrap();
    let start = text.find("mail:\n").expect("a mail block");
    std::fs::write(&settings, format!("{}{mail}", &text[..start])).unwrap();
    sb.seal();
}

/// Points the mail settings at the real server (aiosmtpd) and runs `mail flush`: the spool
/// empties and `total` messages arrive, each once.
fn flush_to_the_real_server(sb: &mut Sandbox, total: usize) {
    let (host, port) = common::mail::smtp_server();
    set_mail(
        sb,
        &format!(
            "mail:\n  from: rd <rd@msp.example>\n  transport: smtp\n  host: {host}\n  port: {port}\n  tls: none\n"
        ),
    );
    let flush = sb.exec(&["mail", "flush"], false);
    assert_eq!(flush.code, 0, "{flush}");
    assert_eq!(spooled(sb), 0, "the spool is empty");
    let received = mail_for(&maildir(), &sb.tag);
    assert_eq!(received.len(), total, "every spooled message delivered");
    let ids: BTreeSet<String> = received
        .iter()
        .map(crate::process_faults::message_id)
        .collect();
    assert_eq!(ids.len(), total, "a message was delivered twice");
}

/// A sandbox with one policy and one backup, mail as `mail` says (the block goes last in
/// the settings, so a case can replace it).
fn sandbox(mail: &str) -> Sandbox {
    let sb = Sandbox::new(mail);
    common::put_zst_with_sums(
        &sb.bucket,
        "db/2026-11-25",
        "db.zst",
        &common::text(3, 100_000),
    );
    sb.policy("db", "db/", "");
    sb
}

fn spooled(sb: &Sandbox) -> usize {
    walk(&sb.root.join("state/spool"))
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "spool"))
        .count()
}

#[test]
fn mail_faults_spool_and_nothing_is_lost_or_sent_twice() {
    let closed = common::closed_port();
    let mut sb = sandbox(&smtp(closed, "none"));

    // Accepts and never answers: each attempt times out; nothing hangs.
    let silent = FakeSmtp::start(Script::Silent);
    set_mail(&mut sb, &smtp(silent.port, "none"));
    let out = sb.run(&[]);
    assert_eq!(out.code, 3, "{out}");
    assert!(
        out.stderr
            .contains("no complete answer from the server within 1s"),
        "the stalled attempts are given up at mail.timeout:\n{out}"
    );
    assert_eq!(spooled(&sb), 2, "one digest per team spooled");
    assert_eq!(silent.count("CONNECT"), 4, "two attempts per message");

    // Refused connections.
    set_mail(&mut sb, &smtp(closed, "none"));
    let out = sb.run(&[]);
    assert_eq!(out.code, 3, "{out}");
    assert_eq!(spooled(&sb), 4);

    // 4xx: temporary, retried. Each run also retries what earlier runs spooled, once, and
    // after the server refused one for now, leaves the rest for the next run.
    let temporary = FakeSmtp::start(Script::Temporary);
    set_mail(&mut sb, &smtp(temporary.port, "none"));
    let before = spooled(&sb);
    let out = sb.run(&[]);
    assert_eq!(out.code, 3, "{out}");
    assert_eq!(spooled(&sb), before + 2);
    assert_eq!(
        temporary.count("MAIL"),
        1 + 2 * 2,
        "one spooled message tried once, the run's own two twice each"
    );

    // 5xx: permanent, not retried, still spooled (a wrong address must not lose the report).
    let permanent = FakeSmtp::start(Script::Permanent);
    set_mail(&mut sb, &smtp(permanent.port, "none"));
    let before = spooled(&sb);
    let out = sb.run(&[]);
    assert_eq!(out.code, 3, "{out}");
    assert_eq!(spooled(&sb), before + 2);
    assert_eq!(
        permanent.count("RCPT"),
        before + 2,
        "each message tried once"
    );

    // A TLS handshake that fails: never downgraded to plain text, spooled.
    let broken = FakeSmtp::start(Script::BrokenTls);
    set_mail(&mut sb, &smtp(broken.port, "starttls"));
    let before = spooled(&sb);
    let out = sb.run(&[]);
    assert_eq!(out.code, 3, "{out}");
    assert_eq!(spooled(&sb), before + 2);
    assert!(broken.count("STARTTLS") >= 1);
    assert_eq!(broken.count("MAIL"), 0, "mail sent without TLS");

    // The real server is back: every spooled message arrives once.
    let total = spooled(&sb);
    flush_to_the_real_server(&mut sb, total);
    // Nothing is left to send twice.
    let again = sb.exec(&["mail", "flush"], false);
    assert_eq!(again.code, 0, "{again}");
    assert_eq!(mail_for(&maildir(), &sb.tag).len(), total);
    // The servers lived until here.
    drop((silent, temporary, permanent, broken));
}

/// A run killed (SIGKILL: no clean-up) while it waits on a mail server that never answers:
/// every message of the run was spooled before the first attempt, so none is lost, and the
/// next `mail flush` delivers each once.
#[test]
fn a_run_killed_while_sending_leaves_all_its_mail_in_the_spool() {
    let silent = FakeSmtp::start(Script::Silent);
    let mut sb = sandbox(&format!(
        "mail:\n  from: rd <rd@msp.example>\n  transport: smtp\n  host: 127.0.0.1\n  port: {}\n  tls: none\n  attempts: 1\n  timeout: 30s\n",
        silent.port
    ));
    sb.seal();
    let child = sb.spawn(&["run"], false);
    let started = Instant::now();
    while silent.count("CONNECT") == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the run never reached the mail server"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::KILL).unwrap();
    let out = sb.wait(child, false);
    assert_eq!(out.code, -1, "killed: {out}");

    // Both teams' messages wait in the spool, the one never attempted too.
    let files = walk(&sb.root.join("state/spool"));
    assert_eq!(spooled(&sb), 2, "one digest per team spooled: {files:?}");
    let mut failures = Failures::new();
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        let end = bytes.iter().position(|&b| b == b'\n').unwrap();
        let envelope: serde_json::Value = serde_json::from_slice(&bytes[..end]).unwrap();
        failures.check_eq(
            &envelope["last_error"],
            "the run stopped before the server answered",
            || format!("{}", file.display()),
        );
    }
    failures.assert_none();

    flush_to_the_real_server(&mut sb, 2);
    drop(silent);
}

/// SIGTERM while the run waits on a mail server that stalls: the run stops at once with
/// exit 143, its messages wait in the spool, and the run is in the history with its own
/// verdict (recorded before the mail); the next `mail flush` delivers each once.
#[test]
fn sigterm_while_mailing_spools_the_mail_records_the_run_and_exits_143() {
    let silent = FakeSmtp::start(Script::Silent);
    let mut sb = sandbox(&format!(
        "mail:\n  from: rd <rd@msp.example>\n  transport: smtp\n  host: 127.0.0.1\n  port: {}\n  tls: none\n  attempts: 1\n  timeout: 60s\n",
        silent.port
    ));
    sb.seal();
    let child = sb.spawn(&["run"], false);
    let started = Instant::now();
    while silent.count("CONNECT") == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the run never reached the mail server"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let out = sb.wait(child, false);
    sb.check(&out, &["run"]);
    let mut failures = Failures::new();
    failures.check_eq(out.code, 143, || format!("SIGTERM while mailing: {out}"));
    // The connection was still held when the run ended: it did not wait for the server.
    failures.check(silent.count("CONNECT") == 1, || {
        "the run tried the server again after SIGTERM".into()
    });
    failures.check_eq(spooled(&sb), 2, || "one digest per team spooled".into());
    failures.check(out.stdout.contains("UNDELIVERED, spooled"), || {
        format!("the output names the spooled messages: {out}")
    });
    let db = rusqlite::Connection::open(sb.root.join("state/history.sqlite3")).unwrap();
    let statuses: Vec<String> = db
        .prepare("SELECT status FROM runs")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    failures.check_eq(&statuses, &vec!["pass".to_string()], || {
        "the run is recorded once, with its verdict".into()
    });
    failures.assert_none();

    flush_to_the_real_server(&mut sb, 2);
    drop(silent);
}

/// Writes `n` messages into the spool as an outage of nights past left them, spooled
/// `days_ago` days ago.
fn plant_spooled(sb: &Sandbox, n: usize, days_ago: i64) {
    let spool = sb.root.join("state/spool");
    std::fs::create_dir_all(&spool).unwrap();
    let when = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24 * days_ago);
    for i in 0..n {
        let envelope = serde_json::json!({
            "team": "msp",
            "subject": format!("old digest {i}"),
            "from": "rd@msp.example",
            "to": [format!("noc+{}@msp.example", sb.tag)],
            "spooled_at": when.to_string(),
            "last_error": "connection refused",
        });
        let raw = format!(
            "From: rd <rd@msp.example>\r\nTo: noc+{tag}@msp.example\r\nSubject: old digest {i}\r\nMessage-ID: <old-{days_ago}-{i}-{tag}@msp.example>\r\n\r\nspooled {days_ago} days ago\r\n",
            tag = sb.tag
        );
        let name = format!("2026010{}T000000.000000Z-msp-{i}.spool", days_ago % 10);
        std::fs::write(spool.join(name), format!("{envelope}\n{raw}")).unwrap();
    }
}

/// Nights of an outage leave many messages in the spool: a run tries one of them, not each
/// with every retry (one `mail.timeout` spent on a server that does not answer, however long
/// the queue); messages older than `mail.spool_warn_after` are warned about at every run
/// and by `mail status`, and never removed; when the server is back, each is delivered once.
#[test]
fn a_spool_left_by_an_outage_costs_one_attempt_per_run_and_old_messages_are_warned_about() {
    let silent = FakeSmtp::start(Script::Silent);
    let mut sb = sandbox(&format!(
        "mail:\n  from: rd <rd@msp.example>\n  transport: smtp\n  host: 127.0.0.1\n  port: {}\n  tls: none\n  attempts: 2\n  retry_delay: 10ms\n  timeout: 1s\n  spool_warn_after: 3d\n",
        silent.port
    ));
    plant_spooled(&sb, 6, 1);
    plant_spooled(&sb, 2, 9);
    sb.seal();
    let out = sb.run(&[]);
    let mut failures = Failures::new();
    failures.check_eq(out.code, 3, || format!("mail undelivered: {out}"));
    // One attempt at the oldest spooled message, then the run's own two, two attempts each.
    failures.check_eq(silent.count("CONNECT"), 1 + 2 * 2, || {
        "connections to the silent server".into()
    });
    failures.check_eq(spooled(&sb), 6 + 2 + 2, || {
        "nothing removed from the spool".into()
    });
    let warned: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("spooled too long"))
        .collect();
    failures.check(
        warned.len() == 2 && warned.iter().all(|l| l.contains("waiting 9 days")),
        || format!("the two 9-day-old messages are warned about: {out}"),
    );
    let status = sb.exec(&["mail", "status"], false);
    failures.check_eq(status.code, 0, || format!("{status}"));
    failures.check(status.stdout.contains("10 message(s) waiting"), || {
        format!("mail status lists the spool: {status}")
    });
    failures.check_eq(
        status
            .stderr
            .lines()
            .filter(|l| l.contains("spooled longer than 3d"))
            .count(),
        2,
        || format!("mail status warns about the old ones: {status}"),
    );
    failures.assert_none();
    drop(silent);

    // The server down (connection refused): one attempt again, nothing lost.
    set_mail(&mut sb, &smtp(common::closed_port(), "none"));
    let down = sb.exec(&["mail", "flush"], false);
    failures = Failures::new();
    failures.check_eq(down.code, 3, || format!("{down}"));
    failures.check(
        down.stdout.matches("not tried in this run").count() == 9,
        || format!("one tried, nine left for the next run: {down}"),
    );
    failures.assert_none();
    flush_to_the_real_server(&mut sb, 6 + 2 + 2);
}
