//! The PDF renderer's tests: chart HTML cut into pieces, text that looks like markup, the
//! paper, headers repeated across pages, the accent colour.

use super::*;

#[test]
fn chart_html_is_cut_into_drawings_and_notes() {
    let html = "<div><p>x &amp; y</p><svg width=\"2\"><rect/></svg></div><svg xmlns=\"http://www.w3.org/2000/svg\"></svg><p class=\"note\">Too   few &lt;KiB&gt;</p>";
    assert_eq!(
        pieces(html),
        [
            (false, "x & y".to_string()),
            (
                true,
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"2\"><rect/></svg>".into()
            ),
            (
                true,
                "<svg xmlns=\"http://www.w3.org/2000/svg\"></svg>".into()
            ),
            (false, "Too few <KiB>".into()),
        ]
    );
    assert!(pieces("<svg unclosed").is_empty());
}

/// A report with no run, for a client whose name and description are markup in every
/// language the renderers know.
fn hostile(paper: Paper) -> PeriodReport {
    let policies = [super::super::KnownPolicy {
        name: "db-1".into(),
        dated_by: crate::config::DateSource::Name,
        description: Some("*bold* _x_ ]) #panic(\"no\") <b>&amp; $x$ @ref".into()),
        responsible: None,
    }];
    let tz = jiff::tz::TimeZone::UTC;
    super::super::build(super::super::Inputs {
        client: "Acme\"] #panic(\"injected\") // \\",
        period: super::super::Period::quarter("2026-Q4", &tz).unwrap(),
        runs: &[],
        previous: None,
        policies: &policies,
        controls: &Default::default(),
        chain_head: None,
        presentation: super::super::Presentation {
            paper,
            msp_name: Some("Northwind <MSP> #set".into()),
            accent: Some("#aa3300".into()),
            logo: Some(super::super::Logo {
                media_type: "image/svg+xml".into(),
                bytes: br##"<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20"><rect width="40" height="20" fill="#aa3300"/></svg>"##.to_vec(),
            }),
            ..Default::default()
        },
        now: "2026-12-01T00:00:00Z".parse().unwrap(),
    })
}

#[test]
fn text_that_looks_like_markup_is_typeset_as_text_on_the_paper_asked_for() {
    for (paper, size) in [(Paper::A4, (595.3, 841.9)), (Paper::Letter, (612.0, 792.0))] {
        let paged = typeset(&hostile(paper)).expect("the report typesets");
        let page = paged.pages[0].frame.size();
        let (w, h) = (page.x.to_pt(), page.y.to_pt());
        assert!(
            (w - size.0).abs() < 0.5 && (h - size.1).abs() < 0.5,
            "{paper:?}: {w} x {h}"
        );
    }
    let bytes = pdf(&hostile(Paper::A4)).unwrap();
    assert!(bytes.starts_with(b"%PDF-"));
}

/// The text of a page, in the order typst placed it.
fn page_text(frame: &typst::layout::Frame, out: &mut String) {
    for (_, item) in frame.items() {
        match item {
            typst::layout::FrameItem::Group(group) => page_text(&group.frame, out),
            typst::layout::FrameItem::Text(text) => {
                out.push_str(&text.text);
                out.push(' ');
            }
            _ => {}
        }
    }
}

#[test]
fn a_table_over_several_pages_repeats_its_header_on_each() {
    let mut report = hostile(Paper::A4);
    report.evidence = (0..150)
        .map(|i| super::super::Evidence {
            run_id: format!("20261001T0200{i:02}Z-0001"),
            kind: "scheduled".into(),
            operator: None,
            witness: None,
            started_at: "2026-10-01T02:00:00Z".parse().unwrap(),
            content_hash: "c".repeat(64),
            record_hash: "r".repeat(64),
            passed: true,
            voided: None,
        })
        .collect();
    let paged = typeset(&report).unwrap();
    let appendix: Vec<String> = paged
        .pages
        .iter()
        .map(|p| {
            let mut text = String::new();
            page_text(&p.frame, &mut text);
            text.split_whitespace().collect::<Vec<_>>().join(" ")
        })
        .filter(|t| t.contains("rrrrrrrr"))
        .collect();
    assert!(appendix.len() >= 2, "the appendix fits one page");
    for (n, page) in appendix.iter().enumerate() {
        assert!(
            page.contains("result hash / record hash"),
            "the appendix's page {} has no header: {}",
            n + 1,
            &page[..page.len().min(300)]
        );
    }
}

#[test]
fn only_a_hex_colour_reaches_the_template() {
    assert_eq!(accent(Some("#1a2B3c")).as_deref(), Some("#1a2B3c"));
    assert_eq!(accent(Some("red\")")), None);
    assert_eq!(accent(Some("#12345")), None);
}
