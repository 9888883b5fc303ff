//! The loss curve as an SVG line chart.

use std::fmt::Write as _;

/// Training and validation loss by step.
pub fn loss_svg(train: &[(u64, f64)], validation: &[(u64, f64)]) -> String {
    let (w, h, pad) = (720.0_f64, 360.0_f64, 48.0_f64);
    let all = train.iter().chain(validation);
    let max_step = all.clone().map(|p| p.0).max().unwrap_or(1).max(1) as f64;
    let (lo, hi) = all.fold((f64::MAX, f64::MIN), |(lo, hi), p| (lo.min(p.1), hi.max(p.1)));
    let (lo, hi) = if lo <= hi { (lo, if hi > lo { hi } else { lo + 1.0 }) } else { (0.0, 1.0) };
    let x = |step: u64| pad + (w - 2.0 * pad) * step as f64 / max_step;
    let y = |loss: f64| h - pad - (h - 2.0 * pad) * (loss - lo) / (hi - lo);
    let line = |points: &[(u64, f64)]| {
        points.iter().map(|p| format!("{:.1},{:.1}", x(p.0), y(p.1))).collect::<Vec<_>>().join(" ")
    };
    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">
<rect width="{w}" height="{h}" fill="white"/>
<line x1="{pad}" y1="{b}" x2="{r}" y2="{b}" stroke="#444"/><line x1="{pad}" y1="{pad}" x2="{pad}" y2="{b}" stroke="#444"/>
<text x="{pad}" y="{t}">loss {hi:.3}</text><text x="{pad}" y="{lb}">{lo:.3}</text><text x="{r}" y="{lb}" text-anchor="end">step {max_step}</text>
<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="{train}"/>
<polyline fill="none" stroke="#d62728" stroke-width="2" points="{validation}"/>
<text x="{r}" y="{t}" text-anchor="end"><tspan fill="#1f77b4">train</tspan> <tspan fill="#d62728">validation</tspan></text>
</svg>
"##,
        b = h - pad,
        r = w - pad,
        t = pad - 8.0,
        lb = h - pad + 16.0,
        train = line(train),
        validation = line(validation),
    );
    svg
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_chart_has_both_curves() {
        let svg = super::loss_svg(&[(1, 5.0), (2, 4.0), (3, 3.5)], &[(3, 3.8)]);
        assert!(svg.starts_with("<svg"));
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains("loss 5.000"));
    }
}
