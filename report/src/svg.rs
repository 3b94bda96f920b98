//! Small helpers for hand-written SVG: the session's time axis, number and clock formatting,
//! tick spacing, downsampling a series and the points of a polyline.

use bulkhead_engine::Millis;

/// Session time mapped onto an SVG's x coordinates.
#[derive(Debug, Clone, Copy)]
pub struct Axis {
    pub end_ms: Millis,
    pub x0: f64,
    pub x1: f64,
}

impl Axis {
    pub fn x(&self, t_ms: Millis) -> f64 {
        let share = t_ms.min(self.end_ms) as f64 / self.end_ms.max(1) as f64;
        self.x0 + (self.x1 - self.x0) * share
    }

    /// The x of a span, at least `min` wide so that a short one stays visible.
    pub fn span(&self, from: Millis, to: Millis, min: f64) -> (f64, f64) {
        let (a, b) = (self.x(from), self.x(to.max(from)));
        (a, (b - a).max(min))
    }
}

/// A coordinate as SVG wants it: one decimal is finer than a pixel, and keeps the page small.
pub fn n(v: f64) -> String {
    let v = if v.is_finite() { v } else { 0.0 };
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map_or(s.clone(), str::to_string)
}

/// Session time as `m:ss` (or `h:mm:ss` past an hour).
pub fn clock(t_ms: Millis) -> String {
    let s = t_ms / 1000;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// A duration in words: `42 s`, `3 min 05 s`.
pub fn took(ms: Millis) -> String {
    let s = (ms + 500) / 1000;
    if s < 60 {
        format!("{s} s")
    } else {
        format!("{} min {:02} s", s / 60, s % 60)
    }
}

/// Tick times for an axis: a round step that gives at most `most` ticks.
pub fn ticks(end_ms: Millis, most: u64) -> Vec<Millis> {
    const STEPS_S: [u64; 12] = [5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200];
    let most = most.max(1);
    let step = STEPS_S
        .iter()
        .map(|s| s * 1000)
        .find(|step| end_ms / step <= most)
        .unwrap_or_else(|| end_ms.div_ceil(most).max(1));
    (0..=end_ms / step).map(|i| i * step).collect()
}

/// At most `2 * buckets` points of a time series, keeping each bucket's lowest and highest
/// sample in time order: a spike survives downsampling, as the eye should see it.
pub fn downsample(series: &[(Millis, f64)], buckets: usize) -> Vec<(Millis, f64)> {
    if series.len() <= buckets.saturating_mul(2) {
        return series.to_vec();
    }
    let per = series.len().div_ceil(buckets.max(1));
    let mut out = Vec::with_capacity(buckets * 2);
    for chunk in series.chunks(per) {
        let lo = chunk.iter().min_by(|a, b| a.1.total_cmp(&b.1));
        let hi = chunk.iter().max_by(|a, b| a.1.total_cmp(&b.1));
        if let (Some(lo), Some(hi)) = (lo, hi) {
            if lo.0 == hi.0 {
                out.push(*lo);
            } else if lo.0 < hi.0 {
                out.extend([*lo, *hi]);
            } else {
                out.extend([*hi, *lo]);
            }
        }
    }
    out
}

/// The `points` attribute of a polyline.
pub fn points(xy: impl Iterator<Item = (f64, f64)>) -> String {
    let mut s = String::new();
    for (x, y) in xy {
        if !s.is_empty() {
            s.push(' ');
        }
        s.push_str(&n(x));
        s.push(',');
        s.push_str(&n(y));
    }
    s
}

/// About how wide a text is in a sans-serif font of `px` (for placing labels apart).
pub fn text_width(text: &str, px: f64) -> f64 {
    text.chars().count() as f64 * px * 0.64
}

/// A label cut to `max` characters, with an ellipsis when cut.
pub fn short(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max.saturating_sub(1)).collect();
    format!("{cut}…")
}

/// A value for an axis label: whole numbers past 10, one decimal below.
pub fn value(v: f64) -> String {
    if v.abs() >= 10.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downsampling_keeps_spikes_and_bounds_the_points() {
        let mut series: Vec<(Millis, f64)> = (0..10_000).map(|i| (i, 1.0)).collect();
        series[5_000].1 = 99.0;
        series[7_000].1 = -5.0;
        let out = downsample(&series, 150);
        assert!(out.len() <= 300, "{}", out.len());
        assert!(out.iter().any(|p| p.1 == 99.0));
        assert!(out.iter().any(|p| p.1 == -5.0));
        assert!(out.windows(2).all(|w| w[0].0 < w[1].0), "in time order");
        let few = [(0, 1.0), (1, 2.0)];
        assert_eq!(downsample(&few, 150), few);
    }

    #[test]
    fn ticks_are_round_and_few() {
        assert_eq!(
            ticks(600_000, 12),
            (0..=10).map(|i| i * 60_000).collect::<Vec<_>>()
        );
        assert_eq!(ticks(30_000, 12)[1], 5_000);
        assert!(ticks(40 * 3_600_000, 12).len() <= 13);
        assert_eq!(ticks(0, 12), [0]);
    }

    #[test]
    fn numbers_and_clocks_read_well() {
        assert_eq!(n(12.0), "12");
        assert_eq!(n(12.345), "12.3");
        assert_eq!(n(f64::NAN), "0");
        assert_eq!(clock(65_400), "1:05");
        assert_eq!(clock(3_725_000), "1:02:05");
        assert_eq!(took(125_000), "2 min 05 s");
        assert_eq!(short("abcdef", 4), "abc…");
        let axis = Axis {
            end_ms: 1000,
            x0: 100.0,
            x1: 200.0,
        };
        assert_eq!(axis.x(500), 150.0);
        assert_eq!(axis.x(5000), 200.0, "clamped to the axis");
    }
}
