//! Runs stopped by SIGTERM and SIGKILL at pseudo-random moments, over many runs, with the
//! mail server down so every run spools its mail. Afterwards: the next run leaves no
//! scratch behind, the history's hash chain verifies, and every spooled message is
//! delivered exactly once when the server is back.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::common::mail::{Received, parse_mail};
use crate::common::{self, Failures};
use crate::guard::{Sandbox, walk};

const ROUNDS: u64 = 16;

/// The Message-ID header of a parsed message.
pub fn message_id(mail: &Received) -> String {
    mail.header("Message-ID")
        .expect("every message has a Message-ID")
        .to_string()
}

fn mail_settings(transport: &str) -> String {
    format!("mail:\n  from: rd <rd@msp.example>\n{transport}")
}

#[test]
fn killed_runs_lose_nothing_and_leave_nothing() {
    let closed = common::closed_port();
    let down = format!(
        "  transport: smtp\n  host: 127.0.0.1\n  port: {closed}\n  tls: none\n  attempts: 1\n  retry_delay: 10ms\n  timeout: 2s\n"
    );
    let mut sb = Sandbox::new(&mail_settings(&down));
    let parts: Vec<(String, Vec<u8>)> = (0..3)
        .map(|i| {
            let object = common::zstd(&common::noise(i + 1, 8 << 20));
            (format!("part-{i}.zst"), object)
        })
        .collect();
    for p in ["alpha", "beta", "gamma"] {
        common::put_set(&sb.bucket, &format!("{p}/2026-11-25"), &parts);
        sb.policy(p, &format!("{p}/"), "");
    }
    sb.seal();

    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut failures = Failures::new();
    for round in 0..ROUNDS {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let delay = Duration::from_millis(state % 1100);
        let child = sb.spawn(&["run"], false);
        std::thread::sleep(delay);
        let signal = if round % 2 == 0 {
            rustix::process::Signal::TERM
        } else {
            rustix::process::Signal::KILL
        };
        let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
        // The run may have finished already; then there is nothing to stop.
        let _ = rustix::process::kill_process(pid, signal);
        let out = sb.wait(child, false);
        eprintln!(
            "round {round}: {signal:?} after {delay:?}: exit {}",
            out.code
        );
        failures.check(!out.stderr.contains("panicked at"), || {
            format!("round {round}: a panic\n{out}")
        });
        if signal == rustix::process::Signal::TERM {
            failures.check([143, 3, 1].contains(&out.code), || {
                format!(
                    "round {round} after {delay:?}: SIGTERM gave exit {}\n{out}",
                    out.code
                )
            });
        }
    }
    failures.assert_none();

    // The next run cleans up after the killed ones and completes (mail still spooled).
    let out = sb.run(&[]);
    assert_eq!(out.code, 3, "{out}");

    let verify = sb.exec(&["history", "verify"], false);
    assert_eq!(verify.code, 0, "history verify: {verify}");

    // Every spooled message is whole: one file, an envelope line and a message with headers
    // and a body; nothing else is left in the spool (a message without its envelope would
    // never be resent).
    let spool = sb.root.join("state/spool");
    // A run killed inside an atomic write leaves its temporary file, which is no message.
    let messages = || -> Vec<_> {
        walk(&spool)
            .into_iter()
            .filter(|p| p.extension().is_none_or(|e| e != "tmp"))
            .collect()
    };
    let envelopes = messages();
    assert!(envelopes.len() >= 2, "the last run's mail is spooled");
    let mut ids = BTreeSet::new();
    let mut failures = Failures::new();
    for envelope in &envelopes {
        let file = envelope.display();
        failures.check(envelope.extension().is_some_and(|e| e == "spool"), || {
            format!("not a spooled message: {file}")
        });
        let bytes = std::fs::read(envelope).unwrap();
        let Some(end) = bytes.iter().position(|&b| b == b'\n') else {
            failures.check(false, || format!("{file}: no envelope line"));
            continue;
        };
        let head = match serde_json::from_slice::<serde_json::Value>(&bytes[..end]) {
            Ok(head) => head,
            Err(e) => {
                failures.check(false, || format!("{file}: the envelope is not JSON: {e}"));
                continue;
            }
        };
        failures.check(
            head["to"].as_array().is_some_and(|to| !to.is_empty()),
            || format!("{file}: no recipients in the envelope {head}"),
        );
        let mail = parse_mail(bytes[end + 1..].to_vec());
        failures.check(!mail.subject.is_empty(), || format!("{file}: no subject"));
        let id = message_id(&mail);
        failures.check(ids.insert(id.clone()), || format!("spooled twice: {id}"));
    }
    failures.assert_none();

    // The server is back (mail to files): each spooled message is delivered exactly once.
    let settings = sb.config.join("restore-drill.yaml");
    let text = std::fs::read_to_string(&settings)
        .unwrap()
        .replace(&down, "  transport: file\n");
    std::fs::write(&settings, text).unwrap();
    sb.seal();
    let flush = sb.exec(&["mail", "flush"], false);
    assert_eq!(flush.code, 0, "mail flush: {flush}");
    let outbox: Vec<_> = walk(&sb.root.join("state/outbox"));
    assert_eq!(
        outbox.len(),
        envelopes.len(),
        "every spooled message delivered"
    );
    let delivered: BTreeSet<String> = outbox
        .iter()
        .map(|p| message_id(&parse_mail(std::fs::read(p).unwrap())))
        .collect();
    assert_eq!(delivered, ids, "delivered once each, the same messages");
    assert!(
        messages().is_empty(),
        "the spool still holds messages: {:?}",
        messages()
    );
}
