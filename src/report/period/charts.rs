//! Charts for the period report, drawn with plotters into inline SVG: a day-by-day pass/fail
//! strip per policy, and per policy the restore throughput and the projected full restore
//! against the RTO over the period. It exists to keep the drawing apart from the page that
//! holds it ([`super::render_html`]). Pure: the model's numbers in, SVG text out; it must not
//! compute figures from runs nor depend on the report's renderers.

use plotters::prelude::*;

use super::model::{Day, PeriodReport, PolicyStats};
use maud::{Markup, PreEscaped, html};

use crate::report::html::Shown;

const PASS: RGBColor = RGBColor(26, 127, 55);
const FAIL: RGBColor = RGBColor(207, 34, 46);
const NONE: RGBColor = RGBColor(208, 215, 222);

/// One strip per policy, one cell per day, with a mark in each cell so the strip reads
/// without colour too.
pub fn day_strips(report: &PeriodReport) -> Markup {
    let mut out = Vec::new();
    for stats in &report.policies {
        let days = stats.days.len().max(1) as u32;
        let cell = 9u32;
        let (width, height) = (days * cell + 2, 18u32);
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
            let _ = root.fill(&WHITE);
            for (i, (_, status)) in stats.days.iter().enumerate() {
                let x = 1 + i as i32 * cell as i32;
                let (colour, mark) = match status {
                    Day::Pass => (PASS, "✓"),
                    Day::Fail => (FAIL, "✗"),
                    Day::NotRun => (NONE, "·"),
                };
                let _ = root.draw(&Rectangle::new(
                    [(x, 2), (x + cell as i32 - 2, 16)],
                    colour.filled(),
                ));
                let style = ("sans-serif", 8).into_font().color(&WHITE).pos(
                    plotters::style::text_anchor::Pos::new(
                        plotters::style::text_anchor::HPos::Center,
                        plotters::style::text_anchor::VPos::Center,
                    ),
                );
                let _ = root.draw(&Text::new(mark, (x + cell as i32 / 2 - 1, 9), style));
            }
            let _ = root.present();
        }
        let fails = stats.days.iter().filter(|(_, d)| *d == Day::Fail).count();
        let passes = stats.days.iter().filter(|(_, d)| *d == Day::Pass).count();
        let idle = stats.days.len() - passes - fails;
        out.push(html! {
            div class="strip" {
                p style="margin:6px 0 2px" {
                    strong { (Shown(&stats.policy)) }
                    ": " (passes) " days passed, " (fails) " days failed, " (idle) " days without a run"
                }
                (PreEscaped(svg))
            }
        });
    }
    html! { @for strip in out { (strip) } }
}

/// Throughput (MiB/s) and projected full restore (minutes, with the RTO as a dashed line)
/// over the period, side by side.
pub fn trend(stats: &PolicyStats, from: jiff::Timestamp, to: jiff::Timestamp) -> Markup {
    let span_days = (to.duration_since(from).as_secs_f64() / 86_400.0).max(1.0);
    let day_of = |t: jiff::Timestamp| t.duration_since(from).as_secs_f64() / 86_400.0;
    let throughput: Vec<(f64, f64)> = stats
        .series
        .iter()
        .filter_map(|pt| {
            pt.throughput_bytes_per_second
                .map(|r| (day_of(pt.at), r / (1024.0 * 1024.0)))
        })
        .collect();
    let projected: Vec<(f64, f64)> = stats
        .series
        .iter()
        .filter_map(|pt| pt.projected_seconds.map(|p| (day_of(pt.at), p / 60.0)))
        .collect();
    let rto_minutes = stats.rto_target_seconds / 60.0;
    let label = |d: &f64| {
        (from + jiff::SignedDuration::from_secs_f64(d * 86_400.0))
            .strftime("%m-%d")
            .to_string()
    };
    let chart = |title: &str, unit: &str, points: &[(f64, f64)], target: Option<f64>| -> String {
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (520, 220)).into_drawing_area();
            let _ = root.fill(&WHITE);
            let top = points
                .iter()
                .map(|p| p.1)
                .chain(target)
                .fold(0.0f64, f64::max)
                .max(1e-6)
                * 1.15;
            let built = ChartBuilder::on(&root)
                .caption(title, ("sans-serif", 14))
                .margin(8)
                .x_label_area_size(24)
                .y_label_area_size(52)
                .build_cartesian_2d(0f64..span_days, 0f64..top);
            let Ok(mut chart) = built else {
                return String::new();
            };
            let _ = chart
                .configure_mesh()
                .x_labels(6)
                .x_label_formatter(&label)
                .y_desc(unit)
                .light_line_style(WHITE)
                .draw();
            let _ = chart.draw_series(LineSeries::new(
                points.iter().copied(),
                BLUE.stroke_width(2),
            ));
            let _ = chart.draw_series(points.iter().map(|p| Circle::new(*p, 2, BLUE.filled())));
            if let Some(target) = target {
                let dashes = (0..40).map(|i| {
                    let x0 = span_days * i as f64 / 40.0;
                    PathElement::new(
                        vec![(x0, target), (x0 + span_days / 80.0, target)],
                        FAIL.stroke_width(2),
                    )
                });
                let _ = chart.draw_series(dashes);
            }
            let _ = root.present();
        }
        svg
    };
    html! {
        div style="break-inside:avoid" {
            p style="margin:10px 0 2px" {
                strong { (Shown(&stats.policy)) } " (RTO " (format!("{rto_minutes:.1}")) " min, dashed red)"
            }
            (PreEscaped(chart("restore throughput", "MiB/s", &throughput, None)))
            (PreEscaped(chart("projected full restore", "minutes", &projected, Some(rto_minutes))))
        }
    }
}
