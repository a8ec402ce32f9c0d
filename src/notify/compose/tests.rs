//! Tests of composing mail: who sees what, the text and HTML bodies, attachments.

use super::*;
use crate::config::Notify;
use crate::results::sample;

fn team(id: &str, scope: TeamScope, notify: Notify) -> Team {
    Team {
        id: id.into(),
        name: format!("Team {id}"),
        emails: vec![format!("{id}@example.test")],
        scope,
        notify,
    }
}

fn teams() -> Vec<Team> {
    vec![
        team("msp", TeamScope::Msp, Notify::Always),
        team(
            "acme-it",
            TeamScope::Client("Acme Dental".into()),
            Notify::Always,
        ),
        team(
            "bright-it",
            TeamScope::Client("Bright Smile Orthodontics".into()),
            Notify::Failures,
        ),
    ]
}

/// A policy with many findings: a few are listed, the rest counted; attachments past
/// the limit are left out, named, and the run's results.json is named instead.
#[test]
fn a_large_result_makes_a_small_message_that_says_what_it_left_out() {
    let mut run = sample::run();
    let findings: Vec<crate::finding::Finding> = (0..5000)
        .map(|i| {
            crate::finding::Finding::new(
                crate::finding::FindingKind::MissingFile,
                Some(&format!("acme-files/2026-11-25/SHA256SUMS!f{i}")),
                "x".repeat(1000),
            )
        })
        .collect();
    run.policies[1].findings = findings;
    let mails = digests(&run, &teams(), Path::new("/state/runs/r"));
    let acme = &mails[1];
    assert!(
        acme.text
            .contains("and 4,980 more findings (missing_file) not listed")
    );
    assert!(
        acme.text
            .contains("`/state/runs/r/results.json on backup-host`")
    );
    assert!(
        acme.text.contains("Left out of this message"),
        "{}",
        acme.text
    );
    assert!(acme.html.contains("and 4,980 more findings"));
    assert!(acme.text.len() + acme.html.len() < 200_000);
    let attached: usize = acme.attachments.iter().map(|a| a.body.len()).sum();
    assert!(attached <= MAX_ATTACHMENT_BYTES);
    assert!(!acme.attachments.iter().any(|a| a.name.ends_with(".json")));
}

#[test]
fn each_team_sees_only_its_share() {
    let run = sample::run();
    let teams = teams();
    let mails = digests(&run, &teams, Path::new("/state/runs/r"));
    // bright-it only wants failures, and its client passed.
    let ids: Vec<&str> = mails.iter().map(|m| m.team.as_str()).collect();
    assert_eq!(ids, ["msp", "acme-it"]);
    let acme = &mails[1];
    assert!(
        acme.subject
            .starts_with("[restore-drill] FAILED 1 of 2 · Acme Dental · "),
        "{}",
        acme.subject
    );
    assert!(acme.urgent);
    for text in [&acme.text, &acme.html]
        .into_iter()
        .chain(acme.attachments.iter().map(|a| &a.body))
    {
        assert!(
            !text.contains("Bright Smile"),
            "another client's results leaked"
        );
        assert!(!text.contains("bright-mail"));
    }
    let msp = &mails[0];
    assert!(
        msp.subject
            .contains("FAILED 1 of 3 · Acme Dental, Bright Smile Orthodontics"),
        "{}",
        msp.subject
    );
    assert!(msp.text.contains("action: Team msp (msp)"));
}

#[test]
fn text_body_snapshot() {
    let run = sample::run();
    let teams = teams();
    insta::assert_snapshot!(digests(&run, &teams, Path::new("/state/runs/r"))[1].text);
}

#[test]
fn html_body_snapshot() {
    let run = sample::run();
    let teams = teams();
    insta::assert_snapshot!(digests(&run, &teams, Path::new("/state/runs/r"))[1].html);
}

#[test]
fn the_head_reaches_every_team_and_host_findings_only_the_msp() {
    let mut run = sample::run();
    run.history_head = Some(crate::results::HistoryHead {
        records: 12,
        hash: "ab".repeat(32),
        run_id: run.run_id.clone(),
        at: "2026-11-26T02:01:00.000000Z".into(),
        key: Some("cd".repeat(32)),
        signature: Some("ef".repeat(64)),
    });
    run.host_findings.push(crate::finding::Finding::new(
        crate::finding::FindingKind::UntrustedRunMarker,
        Some("/var/lib/restore-drill/scratch/20200101T000000Z-dead"),
        "a dead-run marker was not recorded",
    ));
    let teams = teams();
    let emails = digests(&run, &teams, Path::new("/state/runs/r"));
    assert!(emails.iter().any(|e| e.team == "msp") && emails.len() > 1);
    for email in emails {
        let msp = email.team == "msp";
        let head = format!(
            "History head #12 {} signed by key {}",
            "ab".repeat(32),
            "cd".repeat(32)
        );
        assert!(
            email.text.contains(&head) && email.html.contains(&head),
            "{}",
            email.team
        );
        for body in [&email.text, &email.html, &email.attachments[0].body] {
            assert_eq!(
                body.contains("untrusted_run_marker"),
                msp,
                "{}: {body}",
                email.team
            );
        }
    }
}

#[test]
fn html_escapes_what_it_shows() {
    let team = team("<b>it</b>", TeamScope::Msp, Notify::Always);
    let now = "2026-11-26T02:00:00Z".parse().unwrap();
    let page = test_message(&team, "host&<x>", now).html;
    assert!(page.contains("on host&amp;&lt;x&gt; at"), "{page}");
    assert!(page.contains("(&lt;b&gt;it&lt;/b&gt;)"), "{page}");
    assert!(!page.contains("<b>"), "{page}");
}
