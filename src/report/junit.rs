//! JUnit XML for CI dashboards (Jenkins, GitLab): a testsuite per policy; a testcase per
//! sampled object, plus one each for RPO and RTO and one for the policy's own findings
//! (storage, validation). Failures carry the finding. The layout follows the Apache Ant
//! JUnit schema that Jenkins validates against: `testsuites` without attributes, and every
//! `testsuite` with `package`, `id`, `properties`, `system-out` and `system-err`.

use std::fmt::Write as _;

use crate::finding::{Finding, FindingKind};
use crate::results::{PolicyResult, RunResult};

/// The findings the RPO test case fails on: the newest set's age, or an age not known.
const RPO_KINDS: [FindingKind; 2] = [FindingKind::RpoExceeded, FindingKind::FutureDatedBackup];
/// The findings the RTO test case fails on: a restore time too long, or none measured.
const RTO_KINDS: [FindingKind; 2] = [FindingKind::RtoExceeded, FindingKind::RtoUnmeasured];

/// Escapes text for XML content and attributes, replacing characters XML 1.0 cannot hold
/// (control characters from hostile archive names) with U+FFFD.
pub(crate) fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

fn testcase(out: &mut String, policy: &str, name: &str, seconds: f64, failures: &[&Finding]) {
    let _ = write!(
        out,
        "    <testcase classname=\"restore-drill.{}\" name=\"{}\" time=\"{seconds:.3}\"",
        xml_escape(policy),
        xml_escape(name)
    );
    if failures.is_empty() {
        out.push_str("/>\n");
        return;
    }
    let first = failures[0];
    let details: Vec<String> = failures.iter().map(|f| f.to_string()).collect();
    let _ = write!(
        out,
        ">\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>\n",
        xml_escape(&first.message),
        first.kind.as_str(),
        xml_escape(&details.join("\n"))
    );
}

fn suite(out: &mut String, id: usize, run: &RunResult, p: &PolicyResult) {
    let objects_for = |key: &str| -> Vec<&Finding> {
        p.findings
            .iter()
            .filter(|f| {
                f.object
                    .as_deref()
                    .is_some_and(|o| o == key || o.starts_with(&format!("{key}!")))
            })
            .collect()
    };
    let of_kinds = |kinds: &[FindingKind]| -> Vec<&Finding> {
        p.findings
            .iter()
            .filter(|f| kinds.contains(&f.kind))
            .collect()
    };
    let keys: Vec<&str> = p.objects.iter().map(|o| o.key.as_str()).collect();
    let other: Vec<&Finding> = p
        .findings
        .iter()
        .filter(|f| !RPO_KINDS.contains(&f.kind) && !RTO_KINDS.contains(&f.kind))
        .filter(|f| {
            !f.object.as_deref().is_some_and(|o| {
                keys.iter()
                    .any(|k| o == *k || o.starts_with(&format!("{k}!")))
            })
        })
        .collect();

    let mut cases = String::new();
    let mut failed = 0;
    for o in &p.objects {
        let findings = objects_for(&o.key);
        failed += usize::from(!findings.is_empty());
        testcase(
            &mut cases,
            &p.name,
            &format!("restore {}", o.key),
            o.seconds,
            &findings,
        );
    }
    let rpo = of_kinds(&RPO_KINDS);
    let rto = of_kinds(&RTO_KINDS);
    failed += usize::from(!rpo.is_empty())
        + usize::from(!rto.is_empty())
        + usize::from(!other.is_empty());
    testcase(&mut cases, &p.name, "RPO: newest backup age", 0.0, &rpo);
    testcase(
        &mut cases,
        &p.name,
        "RTO: restore time",
        p.rto.measured_seconds,
        &rto,
    );
    testcase(
        &mut cases,
        &p.name,
        "policy: storage, sets and validation",
        0.0,
        &other,
    );
    let tests = p.objects.len() + 3;
    let _ = write!(
        out,
        "  <testsuite name=\"{}\" package=\"{}\" id=\"{id}\" tests=\"{tests}\" failures=\"{failed}\" errors=\"0\" skipped=\"0\" time=\"{:.3}\" timestamp=\"{}\" hostname=\"{}\">\n    <properties>\n      <property name=\"client\" value=\"{}\"/>\n      <property name=\"run_id\" value=\"{}\"/>\n      <property name=\"seed\" value=\"{}\"/>\n    </properties>\n{cases}    <system-out/>\n    <system-err/>\n  </testsuite>\n",
        xml_escape(&p.name),
        xml_escape(&p.client),
        p.rto.measured_seconds,
        run.started_at.strftime("%Y-%m-%dT%H:%M:%S"),
        xml_escape(&run.host),
        xml_escape(&p.client),
        xml_escape(&run.run_id),
        run.seed,
    );
}

/// The run as JUnit XML.
pub fn junit(run: &RunResult) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n");
    for (id, p) in run.policies.iter().enumerate() {
        suite(&mut out, id, run, p);
    }
    out.push_str("</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junit_snapshot() {
        insta::assert_snapshot!(junit(&crate::results::sample::run()));
    }

    #[test]
    fn an_age_or_a_restore_time_not_known_fails_the_rpo_and_rto_cases() {
        let mut run = crate::results::sample::run();
        run.policies[0].findings = vec![
            Finding::new(FindingKind::FutureDatedBackup, None, "dated tomorrow"),
            Finding::new(FindingKind::RtoUnmeasured, None, "nothing read whole"),
        ];
        let xml = junit(&run);
        let case = |name: &str| {
            let start = xml
                .find(name)
                .unwrap_or_else(|| panic!("no {name} in {xml}"));
            // A passing case ends at its first line; a failing one at `</testcase>`.
            let end = xml[start..].find('\n').unwrap() + start;
            let end = match xml[start..end].ends_with("/>") {
                true => end,
                false => xml[start..].find("</testcase>").unwrap() + start,
            };
            xml[start..end].to_string()
        };
        assert!(
            case("RPO: newest backup age").contains("dated tomorrow"),
            "{xml}"
        );
        assert!(
            case("RTO: restore time").contains("nothing read whole"),
            "{xml}"
        );
    }

    #[test]
    fn control_characters_cannot_break_the_xml() {
        assert_eq!(
            xml_escape("a\u{1}b<\"c\"\n"),
            "a\u{FFFD}b&lt;&quot;c&quot;\n"
        );
    }
}
