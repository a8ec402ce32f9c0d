//! Charts for the period report, drawn with plotters into inline SVG, each answering one
//! question: did the backups stay younger than the RPO (backup age against the RPO), would a
//! restore finish within the RTO (measured and projected restore time against the RTO, in a
//! unit that fits the target), and how did each day go (a day-by-day strip with its weeks
//! labelled, pass/fail/not-run told apart by shape, not only hue, so it survives greyscale
//! print). A chart of noise is left out with one line saying why: throughput measured over a
//! few KiB is no trend. It exists to keep the drawing apart from the page that holds it
//! ([`super::render_html`]). Pure: the model's numbers in, SVG out; it must not compute
//! figures from runs nor depend on the report's renderers.

use jiff::Timestamp;
use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use maud::{Markup, PreEscaped, html};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::model::{Day, PolicyStats, SeriesPoint};
use crate::config::units::format_bytes;
use crate::report::html::Shown;

const PASS: RGBColor = RGBColor(26, 127, 55);
pub(super) const FAIL: RGBColor = RGBColor(164, 14, 38);
const FAIL_FILL: RGBColor = RGBColor(255, 215, 213);
const IDLE: RGBColor = RGBColor(140, 149, 159);
pub(super) const INK: RGBColor = RGBColor(31, 35, 40);
pub(super) const LINE: RGBColor = RGBColor(9, 105, 218);

/// A restore smaller than this says nothing about throughput: its time is latency (the
/// request, the first byte), not transfer.
pub(super) const MIN_TREND_BYTES: u64 = 16 << 20;

/// A unit of time for an axis, chosen from a target's magnitude.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TimeUnit {
    Ms,
    S,
    Min,
    H,
    D,
}

impl TimeUnit {
    /// The largest unit in which `target_seconds` is at least one (days from three on, so a
    /// 26 h RPO stays in hours): a 500 ms RTO in ms, a 90 s one in min (1.5), a 4 h one in
    /// h, a 3650 d RPO in d.
    pub(super) fn fitting(target_seconds: f64) -> TimeUnit {
        [
            (TimeUnit::D, 3.0),
            (TimeUnit::H, 1.0),
            (TimeUnit::Min, 1.0),
            (TimeUnit::S, 1.0),
        ]
        .into_iter()
        .find(|(u, least)| target_seconds / u.seconds() >= *least)
        .map_or(TimeUnit::Ms, |(u, _)| u)
    }

    pub(super) fn seconds(self) -> f64 {
        match self {
            TimeUnit::Ms => 0.001,
            TimeUnit::S => 1.0,
            TimeUnit::Min => 60.0,
            TimeUnit::H => 3600.0,
            TimeUnit::D => 86_400.0,
        }
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            TimeUnit::Ms => "ms",
            TimeUnit::S => "s",
            TimeUnit::Min => "min",
            TimeUnit::H => "h",
            TimeUnit::D => "d",
        }
    }

    /// `seconds` in this unit, to at most one decimal (`1.5 min`, `500 ms`, `4 h`).
    pub(super) fn show(self, seconds: f64) -> String {
        format!("{} {}", tick(seconds / self.seconds()), self.name())
    }
}

/// Why a policy's throughput is not charted, or `None` when it is a trend: fewer than two
/// runs restored [`MIN_TREND_BYTES`] or more.
pub(super) fn throughput_noise(series: &[SeriesPoint]) -> Option<String> {
    let large = series
        .iter()
        .filter(|p| p.restored_bytes >= MIN_TREND_BYTES && p.throughput_bytes_per_second.is_some())
        .count();
    if large >= 2 {
        return None;
    }
    let largest = series.iter().map(|p| p.restored_bytes).max().unwrap_or(0);
    if largest == 0 {
        return Some(
            "No chart of restore throughput: no restored bytes were recorded in this period to measure it over.".to_string(),
        );
    }
    Some(format!(
        "No chart of restore throughput: the largest restore of the period was {}, and a rate measured over less than {} is latency, not a trend.",
        format_bytes(largest),
        format_bytes(MIN_TREND_BYTES)
    ))
}

/// A number on an axis: at most one decimal, none when it is whole (`1.5`, `100000`).
pub(super) fn tick(value: f64) -> String {
    let text = format!("{value:.1}");
    text.strip_suffix(".0").unwrap_or(&text).to_string()
}

/// Days from `from` to `t`, the charts' x axis.
pub(super) fn day_of(from: Timestamp, t: Timestamp) -> f64 {
    t.duration_since(from).as_secs_f64() / 86_400.0
}

/// A date on an axis, in the report's zone (`Oct 05`).
pub(super) fn axis_date(tz: &TimeZone, from: Timestamp, days: f64) -> String {
    let at = from + jiff::SignedDuration::from_secs_f64(days * 86_400.0);
    at.to_zoned(tz.clone()).strftime("%b %d").to_string()
}

/// The x range of a policy's time charts: the period, up to the report's time.
pub(super) struct Span<'a> {
    pub tz: &'a TimeZone,
    pub from: Timestamp,
    pub to: Timestamp,
}

/// One line chart: points over the period against a target, in `unit`.
struct Line<'a> {
    title: &'a str,
    unit: TimeUnit,
    target_label: &'a str,
    target_seconds: f64,
    solid: Vec<(f64, f64)>,
    dashed: Vec<(f64, f64)>,
}

/// Draws `line` as SVG: the solid series with dots (over the target: crosses), the dashed one
/// with triangles, the target as a thick dashed line labelled at its left end.
fn draw(span: &Span, line: &Line) -> String {
    let width_days = day_of(span.from, span.to).max(1.0);
    let scale = line.unit.seconds();
    let target = line.target_seconds / scale;
    let top = line
        .solid
        .iter()
        .chain(&line.dashed)
        .map(|p| p.1 / scale)
        .chain([target])
        .fold(0.0f64, f64::max)
        * 1.2;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (360, 200)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let built = ChartBuilder::on(&root)
            .caption(line.title, ("sans-serif", 13).into_font().color(&INK))
            .margin(6)
            .margin_right(18)
            .x_label_area_size(22)
            .y_label_area_size(44)
            .build_cartesian_2d(0f64..width_days, 0f64..top.max(1e-9));
        let Ok(mut chart) = built else {
            return String::new();
        };
        let label = |d: &f64| axis_date(span.tz, span.from, *d);
        let number = |v: &f64| tick(*v);
        let _ = chart
            .configure_mesh()
            .x_labels(5)
            .y_labels(5)
            .x_label_formatter(&label)
            .y_label_formatter(&number)
            .y_desc(line.unit.name())
            .light_line_style(WHITE)
            .label_style(("sans-serif", 10).into_font().color(&INK))
            .draw();
        let scaled = |points: &[(f64, f64)]| -> Vec<(f64, f64)> {
            points.iter().map(|(x, y)| (*x, y / scale)).collect()
        };
        let (solid, dashed) = (scaled(&line.solid), scaled(&line.dashed));
        let _ = chart.draw_series(LineSeries::new(solid.clone(), LINE.stroke_width(2)));
        let _ = chart.draw_series(
            solid
                .iter()
                .filter(|p| p.1 > target)
                .map(|p| Cross::new(*p, 4, FAIL.stroke_width(2))),
        );
        let _ = chart.draw_series(
            solid
                .iter()
                .filter(|p| p.1 <= target)
                .map(|p| Circle::new(*p, 3, LINE.filled())),
        );
        let _ = chart.draw_series(DashedLineSeries::new(
            dashed.clone(),
            5,
            3,
            INK.stroke_width(1),
        ));
        let _ = chart.draw_series(
            dashed
                .iter()
                .map(|p| TriangleMarker::new(*p, 4, INK.filled())),
        );
        let _ = chart.draw_series(DashedLineSeries::new(
            [(0.0, target), (width_days, target)],
            8,
            4,
            FAIL.stroke_width(2),
        ));
        let style = ("sans-serif", 11)
            .into_font()
            .color(&FAIL)
            .pos(Pos::new(HPos::Left, VPos::Bottom));
        let _ = chart.draw_series([Text::new(
            line.target_label.to_string(),
            (width_days * 0.02, target),
            style,
        )]);
        let _ = root.present();
    }
    svg
}

/// Backup age against the RPO over the period: the newest backup's age at each run, the RPO
/// as the line not to cross (a run past it is a cross, not a dot).
pub(super) fn backup_age(stats: &PolicyStats, span: &Span) -> Markup {
    let unit = TimeUnit::fitting(stats.rpo_target_seconds);
    let points: Vec<(f64, f64)> = stats
        .series
        .iter()
        .filter_map(|p| p.backup_age_seconds.map(|a| (day_of(span.from, p.at), a)))
        .collect();
    if points.is_empty() {
        return html! { p class="note" { "No backup age was measured in this period." } };
    }
    let target = format!("RPO {}", unit.show(stats.rpo_target_seconds));
    let svg = draw(
        span,
        &Line {
            title: "newest backup age against the RPO",
            unit,
            target_label: &target,
            target_seconds: stats.rpo_target_seconds,
            solid: points,
            dashed: Vec::new(),
        },
    );
    html! { (PreEscaped(svg)) }
}

/// Restore time against the RTO: the sample's measured restore (solid, dots) and the
/// projected full restore (dashed, triangles), in a unit fitting the RTO.
pub(super) fn restore_time(series: &[SeriesPoint], rto_seconds: f64, span: &Span) -> Markup {
    let unit = TimeUnit::fitting(rto_seconds);
    let at = |p: &SeriesPoint| day_of(span.from, p.at);
    let measured: Vec<(f64, f64)> = series
        .iter()
        .filter_map(|p| p.measured_seconds.map(|s| (at(p), s)))
        .collect();
    let projected: Vec<(f64, f64)> = series
        .iter()
        .filter_map(|p| p.projected_seconds.map(|s| (at(p), s)))
        .collect();
    if measured.is_empty() && projected.is_empty() {
        return html! { p class="note" { "No restore was measured in this period." } };
    }
    let target = format!("RTO {}", unit.show(rto_seconds));
    let svg = draw(
        span,
        &Line {
            title: "restore time: measured and projected full restore",
            unit,
            target_label: &target,
            target_seconds: rto_seconds,
            solid: measured,
            dashed: projected,
        },
    );
    html! { (PreEscaped(svg)) }
}

/// Restore throughput over the period, in MiB/s, or the one line saying why it is noise.
pub(super) fn throughput(stats: &PolicyStats, span: &Span) -> Markup {
    if stats
        .series
        .iter()
        .all(|p| p.throughput_bytes_per_second.is_none())
    {
        return html! {};
    }
    if let Some(why) = throughput_noise(&stats.series) {
        return html! { p class="note" { (why) } };
    }
    let points: Vec<(f64, f64)> = stats
        .series
        .iter()
        .filter(|p| p.restored_bytes >= MIN_TREND_BYTES)
        .filter_map(|p| {
            p.throughput_bytes_per_second
                .map(|r| (day_of(span.from, p.at), r / (1024.0 * 1024.0)))
        })
        .collect();
    let top = points.iter().map(|p| p.1).fold(0.0f64, f64::max).max(1e-6) * 1.2;
    let width_days = day_of(span.from, span.to).max(1.0);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (360, 200)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let built = ChartBuilder::on(&root)
            .caption(
                "restore throughput",
                ("sans-serif", 13).into_font().color(&INK),
            )
            .margin(6)
            .margin_right(18)
            .x_label_area_size(22)
            .y_label_area_size(44)
            .build_cartesian_2d(0f64..width_days, 0f64..top);
        if let Ok(mut chart) = built {
            let label = |d: &f64| axis_date(span.tz, span.from, *d);
            let _ = chart
                .configure_mesh()
                .x_labels(5)
                .x_label_formatter(&label)
                .y_desc("MiB/s")
                .light_line_style(WHITE)
                .label_style(("sans-serif", 10).into_font().color(&INK))
                .draw();
            let _ = chart.draw_series(LineSeries::new(points.clone(), LINE.stroke_width(2)));
            let _ = chart.draw_series(points.iter().map(|p| Circle::new(*p, 3, LINE.filled())));
        }
        let _ = root.present();
    }
    html! { (PreEscaped(svg)) }
}

/// The strip's width in px (the page's width at 96 dpi, less margins) and the largest cell.
const STRIP_WIDTH: i32 = 690;
const MAX_CELL: i32 = 14;
const STRIP_HEIGHT: u32 = 34;

/// A day's cell size: the period's days fill the strip, at most [`MAX_CELL`] px each.
fn cell_size(days: usize) -> i32 {
    ((STRIP_WIDTH - 4) / days.max(1) as i32).clamp(4, MAX_CELL)
}

/// One day's cell at `x`: pass a filled square, fail a cross on a pale square, no run an
/// empty outline, so the three differ in shape as well as colour.
fn day_cell<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    x: i32,
    cell: i32,
    day: Day,
) {
    let (x0, y0, x1, y1) = (x, 2, x + cell - 2, cell);
    let _ = match day {
        Day::Pass => area.draw(&Rectangle::new([(x0, y0), (x1, y1)], PASS.filled())),
        Day::Fail => area
            .draw(&Rectangle::new([(x0, y0), (x1, y1)], FAIL_FILL.filled()))
            .and_then(|_| {
                area.draw(&PathElement::new(
                    vec![(x0, y0), (x1, y1)],
                    FAIL.stroke_width(2),
                ))
            })
            .and_then(|_| {
                area.draw(&PathElement::new(
                    vec![(x0, y1), (x1, y0)],
                    FAIL.stroke_width(2),
                ))
            }),
        Day::NotRun => area.draw(&Rectangle::new([(x0, y0), (x1, y1)], IDLE.stroke_width(1))),
    };
}

/// The strip of one policy: a cell a day, the first day and each Monday ticked and labelled
/// with its date.
pub(super) fn day_strip(days: &[(Date, Day)]) -> Markup {
    let cell = cell_size(days.len());
    let width = (days.len().max(1) as i32 * cell + 44) as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, STRIP_HEIGHT)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let label = ("sans-serif", 10)
            .into_font()
            .color(&INK)
            .pos(Pos::new(HPos::Left, VPos::Top));
        for (i, (date, day)) in days.iter().enumerate() {
            let x = 2 + i as i32 * cell;
            day_cell(&root, x, cell, *day);
            if date.weekday() == Weekday::Monday || i == 0 {
                let _ = root.draw(&PathElement::new(
                    vec![(x - 1, 0), (x - 1, cell + 16)],
                    INK.stroke_width(1),
                ));
                let _ = root.draw(&Text::new(
                    date.strftime("%b %d").to_string(),
                    (x + 1, cell + 4),
                    label.clone(),
                ));
            }
        }
        let _ = root.present();
    }
    html! { (PreEscaped(svg)) }
}

/// The key to the strips, drawn with the same cells.
pub(super) fn day_key() -> Markup {
    let cell = MAX_CELL;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (360, cell as u32 + 4)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let text = ("sans-serif", 11)
            .into_font()
            .color(&INK)
            .pos(Pos::new(HPos::Left, VPos::Center));
        for (i, (day, words)) in [
            (Day::Pass, "passed"),
            (Day::Fail, "failed"),
            (Day::NotRun, "no run"),
        ]
        .into_iter()
        .enumerate()
        {
            let x = 2 + i as i32 * 110;
            day_cell(&root, x, cell, day);
            let _ = root.draw(&Text::new(
                words,
                (x + cell + 4, cell / 2 + 1),
                text.clone(),
            ));
        }
        let _ = root.present();
    }
    html! { (PreEscaped(svg)) }
}

/// A policy's strip with its counts, for the page.
pub(super) fn strip_block(stats: &PolicyStats) -> Markup {
    let count = |d: Day| stats.days.iter().filter(|(_, x)| *x == d).count();
    html! {
        div class="strip" {
            p {
                strong { (Shown(&stats.policy)) } ": "
                span class="num" { (count(Day::Pass)) " days passed" } ", "
                span class="num" { (count(Day::Fail)) " days failed" } ", "
                span class="num" { (count(Day::NotRun)) " days without a run" }
            }
            (day_strip(&stats.days))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(restored_bytes: u64) -> SeriesPoint {
        SeriesPoint {
            coverage_share: None,
            at: "2026-10-01T02:00:00Z".parse().unwrap(),
            backup_age_seconds: Some(3600.0),
            rpo_target_seconds: 93_600.0,
            measured_seconds: Some(1.0),
            projected_seconds: Some(2.0),
            rto_target_seconds: 0.5,
            throughput_bytes_per_second: Some(1e6),
            restored_bytes,
        }
    }

    #[test]
    fn the_unit_fits_the_target() {
        assert_eq!(TimeUnit::fitting(0.5), TimeUnit::Ms);
        assert_eq!(TimeUnit::Ms.show(0.5), "500 ms");
        assert_eq!(TimeUnit::fitting(1.0), TimeUnit::S);
        assert_eq!(TimeUnit::fitting(30.0), TimeUnit::S);
        assert_eq!(TimeUnit::fitting(90.0), TimeUnit::Min);
        assert_eq!(TimeUnit::Min.show(90.0), "1.5 min");
        assert_eq!(TimeUnit::fitting(4.0 * 3600.0), TimeUnit::H);
        assert_eq!(TimeUnit::fitting(26.0 * 3600.0), TimeUnit::H);
        assert_eq!(TimeUnit::H.show(26.0 * 3600.0), "26 h");
        assert_eq!(TimeUnit::fitting(3650.0 * 86_400.0), TimeUnit::D);
        assert_eq!(TimeUnit::D.show(3650.0 * 86_400.0), "3650 d");
        // The old chart's failure: a 500 ms RTO labelled in minutes.
        assert_ne!(TimeUnit::fitting(0.5).show(0.5), "0.0 min");
    }

    #[test]
    fn a_500_ms_rto_is_drawn_in_ms_and_its_line_is_not_at_zero() {
        let series = vec![point(1 << 30), point(1 << 30)];
        let span = Span {
            tz: &TimeZone::UTC,
            from: "2026-10-01T00:00:00Z".parse().unwrap(),
            to: "2026-10-31T00:00:00Z".parse().unwrap(),
        };
        let svg = restore_time(&series, 0.5, &span).into_string();
        assert!(svg.contains("RTO 500 ms"), "{svg}");
        assert!(svg.contains("\nms\n"), "the axis names its unit: {svg}");
        assert!(!svg.contains("0.0 min"));
    }

    #[test]
    fn throughput_of_a_few_kib_is_noise_and_of_gibs_a_trend() {
        let few = vec![point(12 << 10), point(40 << 10), point(3 << 20)];
        let why = throughput_noise(&few).unwrap();
        assert!(why.contains("3.0 MiB"), "{why}");
        assert!(why.contains("restore throughput"), "{why}");
        // One large restore is a point, not a trend.
        assert!(throughput_noise(&[point(1 << 30), point(10)]).is_some());
        assert!(throughput_noise(&[point(1 << 30), point(MIN_TREND_BYTES)]).is_none());
        assert!(throughput_noise(&[]).is_some());
    }

    #[test]
    fn the_strip_labels_mondays_and_tells_days_apart_by_shape() {
        let start: Date = "2026-10-01".parse().unwrap();
        let days: Vec<(Date, Day)> = (0..14)
            .map(|i| {
                let d = start.checked_add(jiff::Span::new().days(i)).unwrap();
                let day = match i % 3 {
                    0 => Day::Pass,
                    1 => Day::Fail,
                    _ => Day::NotRun,
                };
                (d, day)
            })
            .collect();
        let svg = day_strip(&days).into_string();
        // 2026-10-01 is a Thursday: labelled as the first day, then Mondays 10-05 and 10-12.
        for label in ["Oct 01", "Oct 05", "Oct 12"] {
            assert!(svg.contains(label), "{label} in {svg}");
        }
        assert!(!svg.contains("Oct 06"));
        // A failed day is drawn with lines (the cross), a day without a run as an outline.
        assert!(svg.matches("<polyline").count() >= 2 * 5, "{svg}");
    }
}
