//! Runs stopped by SIGTERM and SIGKILL at pseudo-random moments, over many runs, with the
//! mail server down so every run spools its mail. Afterwards: the next run leaves no
//! scratch behind, the history's hash chain verifies, and every spooled message is
//! delivered exactly once when the server is back.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::common;
use crate::guard::{Sandbox, walk};

const ROUNDS: u64 = 16;

/// The Message-ID header of a parsed message.
pub fn message_id(mail: &common::mail::Received) -> String {
    mail.header("Message-ID")
        .expect("every message has a Message-ID")
        .to_string()
}

fn mail_settings(transport: &str) -> String {
    format!("mail:\n  from: rd <rd@msp.example>\n{transport}")
}

#[test]
fn killed_runs_lose_nothing_and_leave_nothing() {
    let closed = crate::guard::closed_port();
    let down = format!(
        "  transport: smtp\n  host: 127.0.0.1\n  port: {closed}\n  tls: none\n  attempts: 1\n  retry_delay: 10ms\n  timeout: 2s\n"
    );
    let mut sb = Sandbox::new(&mail_settings(&down));
    for p in ["alpha", "beta", "gamma"] {
        for i in 0..3 {
            let folder = format!("{p}/2026-11-25");
            let object = common::zstd(&common::noise(i + 1, 8 << 20));
            sb.put(&format!("{folder}/part-{i}.zst"), &object);
        }
        let folder = sb.bucket.join(format!("{p}/2026-11-25"));
        let mut sums = String::new();
        for i in 0..3 {
            let bytes = std::fs::read(folder.join(format!("part-{i}.zst"))).unwrap();
            sums.push_str(&format!("{}  part-{i}.zst\n", common::sha256_hex(&bytes)));
        }
        std::fs::write(folder.join("SHA256SUMS"), sums).unwrap();
        sb.policy(p, &format!("{p}/"), "");
    }
    sb.seal();

    let mut state = 0x9E37_79B9_7F4A_7C15u64;
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
        let out = sb.wait(child, &["run"], false);
        eprintln!(
            "round {round}: {signal:?} after {delay:?}: exit {}",
            out.code
        );
        assert!(
            !out.stderr.contains("panicked at"),
            "round {round}: a panic\n{}",
            out.stderr
        );
        if signal == rustix::process::Signal::TERM {
            assert!(
                [143, 3, 1].contains(&out.code),
                "round {round} after {delay:?}: SIGTERM gave exit {}\n{}",
                out.code,
                out.stderr
            );
        }
    }

    // The next run cleans up after the killed ones and completes (mail still spooled).
    let out = sb.run(&[]);
    assert_eq!(out.code, 3, "{}", out.stderr);

    let verify = sb.exec(&["history", "verify"], false);
    assert_eq!(
        verify.code, 0,
        "history verify: {}{}",
        verify.stdout, verify.stderr
    );

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
    for envelope in &envelopes {
        assert!(
            envelope.extension().is_some_and(|e| e == "spool"),
            "not a spooled message: {}",
            envelope.display()
        );
        let bytes = std::fs::read(envelope).unwrap();
        let end = bytes
            .iter()
            .position(|&b| b == b'\n')
            .expect("an envelope line");
        let head: serde_json::Value =
            serde_json::from_slice(&bytes[..end]).expect("the envelope is JSON");
        assert!(head["to"].as_array().is_some_and(|to| !to.is_empty()));
        let mail = common::mail::parse_mail(bytes[end + 1..].to_vec());
        assert!(!mail.subject.is_empty(), "{}", envelope.display());
        let id = message_id(&mail);
        assert!(ids.insert(id.clone()), "spooled twice: {id}");
    }

    // The server is back (mail to files): each spooled message is delivered exactly once.
    let settings = sb.config.join("restore-drill.yaml");
    let text = std::fs::read_to_string(&settings)
        .unwrap()
        .replace(&down, "  transport: file\n");
    std::fs::write(&settings, text).unwrap();
    sb.seal();
    let flush = sb.exec(&["mail", "flush"], false);
    assert_eq!(
        flush.code, 0,
        "mail flush: {}{}",
        flush.stdout, flush.stderr
    );
    let outbox: Vec<_> = walk(&sb.root.join("state/outbox"));
    assert_eq!(
        outbox.len(),
        envelopes.len(),
        "every spooled message delivered"
    );
    let delivered: BTreeSet<String> = outbox
        .iter()
        .map(|p| message_id(&common::mail::parse_mail(std::fs::read(p).unwrap())))
        .collect();
    assert_eq!(delivered, ids, "delivered once each, the same messages");
    assert!(
        messages().is_empty(),
        "the spool still holds messages: {:?}",
        messages()
    );
}
