//! The coverage chart of the period report: after each run, the share of the policy's
//! retained backups verified within its coverage window, against the whole (100 %). It
//! answers "was every backup we keep proven recently?". Pure: the model's series in, SVG out.

use maud::{Markup, PreEscaped, html};
use plotters::prelude::*;

use super::charts::{FAIL, INK, LINE, Span, axis_date, day_of, tick};
use super::model::PolicyStats;

/// The share verified within the window over the period, or a line saying none was recorded.
pub(super) fn coverage(stats: &PolicyStats, span: &Span) -> Markup {
    let points: Vec<(f64, f64)> = stats
        .series
        .iter()
        .filter_map(|p| {
            p.coverage_share
                .map(|s| (day_of(span.from, p.at), s * 100.0))
        })
        .collect();
    let window = stats.coverage.as_ref().map_or(30.0, |c| c.window_days);
    if points.is_empty() {
        return html! { p class="note" { "No coverage was recorded in this period (runs before the coverage ledger)." } };
    }
    let width_days = day_of(span.from, span.to).max(1.0);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (360, 200)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let title = format!(
            "backups verified within {} days, % of retained",
            tick(window)
        );
        let built = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 13).into_font().color(&INK))
            .margin(6)
            .margin_right(18)
            .x_label_area_size(22)
            .y_label_area_size(44)
            .build_cartesian_2d(0f64..width_days, 0f64..110f64);
        let Ok(mut chart) = built else {
            return html! {};
        };
        let label = |d: &f64| axis_date(span.tz, span.from, *d);
        let number = |v: &f64| tick(*v);
        let _ = chart
            .configure_mesh()
            .x_labels(5)
            .y_labels(6)
            .x_label_formatter(&label)
            .y_label_formatter(&number)
            .y_desc("%")
            .light_line_style(WHITE)
            .label_style(("sans-serif", 10).into_font().color(&INK))
            .draw();
        let _ = chart.draw_series(LineSeries::new(points.clone(), LINE.stroke_width(2)));
        let _ = chart.draw_series(points.iter().map(|p| {
            if p.1 < 100.0 {
                Cross::new(*p, 4, FAIL.stroke_width(2)).into_dyn()
            } else {
                Circle::new(*p, 3, LINE.filled()).into_dyn()
            }
        }));
        let _ = chart.draw_series(DashedLineSeries::new(
            [(0.0, 100.0), (width_days, 100.0)],
            8,
            4,
            INK.stroke_width(1),
        ));
        let _ = root.present();
    }
    html! { (PreEscaped(svg)) }
}
