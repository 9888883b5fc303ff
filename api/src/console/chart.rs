//! Line charts as SVG, drawn on the server: the training curves. Axes
//! start at the data's own range, so a slowly falling loss stays visible.

use std::fmt::Write as _;

use maud::{Markup, PreEscaped, html};

const W: f64 = 640.0;
const H: f64 = 240.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 36.0;

/// One line: its legend, its CSS class and its `(x, y)` points in x order.
pub struct Series<'a> {
    pub label: &'a str,
    pub class: &'a str,
    pub points: &'a [(f64, f64)],
}

/// A chart of `series` against a shared x axis named `x_label`.
pub fn line_chart(title: &str, x_label: &str, series: &[Series<'_>]) -> Markup {
    let all = || series.iter().flat_map(|s| s.points.iter()).filter(|(x, y)| x.is_finite() && y.is_finite());
    let (x0, x1) = range(all().map(|p| p.0));
    let (y0, y1) = range(all().map(|p| p.1));
    let (y0, y1) = (y0 - (y1 - y0) * 0.05, y1 + (y1 - y0) * 0.05);
    let sx = |x: f64| LEFT + (W - LEFT - RIGHT) * (x - x0) / (x1 - x0);
    let sy = |y: f64| H - BOTTOM - (H - TOP - BOTTOM) * (y - y0) / (y1 - y0);
    let mut lines = String::new();
    for s in series {
        let mut points = String::new();
        for (x, y) in s.points.iter().filter(|(x, y)| x.is_finite() && y.is_finite()) {
            let _ = write!(points, "{:.1},{:.1} ", sx(*x), sy(*y));
        }
        let _ = write!(lines, r#"<polyline class="line {}" points="{}"/>"#, s.class, points.trim_end());
        if s.points.len() <= 40 {
            for (x, y) in s.points.iter().filter(|(x, y)| x.is_finite() && y.is_finite()) {
                let _ =
                    write!(lines, r#"<circle class="dot {}" cx="{:.1}" cy="{:.1}" r="2.5"/>"#, s.class, sx(*x), sy(*y));
            }
        }
    }
    let ticks: Vec<f64> = (0..=4).map(|i| y0 + (y1 - y0) * f64::from(i) / 4.0).collect();
    html! {
        figure.chart {
            figcaption { (title) " "
                @for s in series { span class={ "legend " (s.class) } { (s.label) } " " } }
            svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label=(title) viewBox={ "0 0 " (W) " " (H) } {
                title { (title) }
                @for y in &ticks {
                    line.grid x1=(LEFT) x2=(W - RIGHT) y1=(format!("{:.1}", sy(*y))) y2=(format!("{:.1}", sy(*y))) {}
                    text.tick x=(LEFT - 6.0) y=(format!("{:.1}", sy(*y) + 4.0)) text-anchor="end" { (tick(*y)) }
                }
                text.tick x=(LEFT) y=(H - 12.0) { (x_tick(x0)) }
                text.tick x=(W - RIGHT) y=(H - 12.0) text-anchor="end" { (x_tick(x1)) }
                text.tick x=((LEFT + W - RIGHT) / 2.0) y=(H - 4.0) text-anchor="middle" { (x_label) }
                (PreEscaped(lines))
            }
        }
    }
}

/// The smallest and largest value, widened when they are equal or absent.
fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if !lo.is_finite() || !hi.is_finite() {
        (0.0, 1.0)
    } else if hi - lo < f64::EPSILON * hi.abs().max(1.0) {
        (lo - 0.5, hi + 0.5)
    } else {
        (lo, hi)
    }
}

/// A tick label short enough for the axis: 3e-4 for learning rates, 2.31 for losses.
fn tick(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude != 0.0 && !(1e-2..1e5).contains(&magnitude) {
        format!("{value:.1e}")
    } else if magnitude >= 100.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.3}")
    }
}

/// An x tick: steps are whole numbers and read as such (60, not 60.000).
fn x_tick(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 { format!("{value:.0}") } else { tick(value) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_span_the_plot_area() {
        let points = [(1.0, 4.0), (2.0, 3.0), (3.0, 2.5)];
        let svg =
            line_chart("loss", "step", &[Series { label: "train", class: "train", points: &points }]).into_string();
        assert!(svg.contains(&format!("{LEFT:.1},")), "the first step on the left edge: {svg}");
        assert!(svg.contains(&format!("{:.1},", W - RIGHT)), "the last on the right edge: {svg}");
        assert_eq!(svg.matches("<circle").count(), 3);
    }

    #[test]
    fn ticks_stay_short() {
        assert_eq!(tick(0.0003), "3.0e-4");
        assert_eq!(tick(2.3456), "2.346");
        assert_eq!(tick(1234.0), "1234");
        assert_eq!(range(std::iter::empty()), (0.0, 1.0));
        assert_eq!(range([2.0, 2.0].into_iter()), (1.5, 2.5));
        assert_eq!(x_tick(60.0), "60");
        assert_eq!(x_tick(1.5), "1.500");
    }
}
