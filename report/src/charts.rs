//! Small SVG charts of each company container's resources over the session (CPU, memory,
//! network in and out), on the timeline's time axis: the warm-up range of each series drawn as
//! a band, the alerts about the container marked under the axis and the mitigations applied to
//! it above the plot.

use bulkhead_engine::format::topology::Service;
use bulkhead_engine::{EntityRef, Metrics, Millis};
use maud::{Markup, html};

use crate::digest::{AlertView, Digest, MitigationRun};
use crate::svg::{Axis, clock, downsample, n, points, value};
use crate::timeline::truth_word;

const W: f64 = 280.0;
const H: f64 = 122.0;
const X0: f64 = 36.0;
const X1: f64 = 272.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 96.0;
/// Buckets of the downsampled series (two points each at most).
const BUCKETS: usize = 150;

/// One metric a chart draws.
#[derive(Debug, Clone, Copy)]
struct Metric {
    key: &'static str,
    title: &'static str,
    unit: &'static str,
    /// The least the y axis reaches, so that a flat line near 0 is not magnified into noise.
    floor: f64,
    of: fn(&Metrics) -> f32,
}

const METRICS: [Metric; 4] = [
    Metric {
        key: "cpu",
        title: "CPU",
        unit: "%",
        floor: 10.0,
        of: |m| m.cpu_pct,
    },
    Metric {
        key: "memory",
        title: "Memory",
        unit: "MiB",
        floor: 16.0,
        of: |m| m.memory_mib,
    },
    Metric {
        key: "net-rx",
        title: "Network in",
        unit: "kB/s",
        floor: 10.0,
        of: |m| m.net_rx_kbps,
    },
    Metric {
        key: "net-tx",
        title: "Network out",
        unit: "kB/s",
        floor: 10.0,
        of: |m| m.net_tx_kbps,
    },
];

/// One section per company container (services that are not range machinery).
pub fn section(d: &Digest) -> Markup {
    let axis = Axis {
        end_ms: d.end_ms,
        x0: X0,
        x1: X1,
    };
    let company = d.record.topology.services.iter().filter(|s| !s.range_only);
    html! {
        @for service in company {
            (service_charts(d, &axis, service))
        }
    }
}

fn service_charts(d: &Digest, axis: &Axis, service: &Service) -> Markup {
    let entity = EntityRef::Service(service.id.clone());
    let alerts: Vec<&AlertView> = d
        .alerts
        .iter()
        .filter(|a| a.alert.entity == entity)
        .collect();
    let mitigations: Vec<&MitigationRun> = d
        .mitigations
        .iter()
        .filter(|m| m.mitigation.target() == entity)
        .collect();
    let samples = d
        .samples
        .get(service.id.as_str())
        .map_or(&[][..], Vec::as_slice);
    let marks = Marks {
        alerts: &alerts,
        mitigations: &mitigations,
    };
    html! {
        section.service data-service=(service.id) {
            h3 { (service.id) " " span.muted { (service.title) } }
            p.small {
                "limits " (service.limits.cpu_cores) " cores, " (service.limits.memory_mib) " MiB, "
                (service.limits.pids) " pids · " (samples.len()) " samples · "
                (alerts.len()) " alerts about it · " (mitigations.len()) " mitigations on it"
            }
            div.charts {
                @for metric in METRICS {
                    (chart(d, axis, &service.id, metric, samples, &marks))
                }
            }
        }
    }
}

/// What is marked on every chart of one container.
struct Marks<'a, 'b> {
    alerts: &'a [&'a AlertView<'b>],
    mitigations: &'a [&'a MitigationRun<'b>],
}

/// The lowest and highest value of a series during the warm-up.
fn warmup_range(series: &[(Millis, f64)], (from, to): (Millis, Millis)) -> Option<(f64, f64)> {
    series
        .iter()
        .filter(|(t, _)| *t >= from && *t < to)
        .map(|(_, v)| *v)
        .fold(None, |acc, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })
}

fn chart(
    d: &Digest,
    axis: &Axis,
    service: &str,
    metric: Metric,
    samples: &[(Millis, &Metrics)],
    marks: &Marks,
) -> Markup {
    let series: Vec<(Millis, f64)> = samples
        .iter()
        .map(|(t, m)| (*t, f64::from((metric.of)(m))))
        .collect();
    let band = warmup_range(&series, d.warmup());
    let peak = series.iter().map(|(_, v)| *v).fold(0.0, f64::max);
    let top = (peak.max(band.map_or(0.0, |b| b.1)) * 1.15).max(metric.floor);
    let y = |v: f64| BOTTOM - (BOTTOM - TOP) * (v.max(0.0) / top).min(1.0);
    let line = points(
        downsample(&series, BUCKETS)
            .into_iter()
            .map(|(t, v)| (axis.x(t), y(v))),
    );
    let unit = metric.unit;
    html! {
        figure.chart data-service=(service) data-metric=(metric.key) {
            figcaption {
                b { (metric.title) } " " (unit) br;
                @if let Some((lo, hi)) = band {
                    span.muted.small { "warm-up range " (value(lo)) "–" (value(hi)) " " (unit) }
                } @else {
                    span.muted.small { "no warm-up samples" }
                }
            }
            svg viewBox=(format!("0 0 {W} {H}")) role="img"
                aria-label=(format!("{} {} of {service} over the session", metric.title, unit)) {
                (frame(d, axis, top, unit))
                @if let Some((lo, hi)) = band {
                    g.warmup-range {
                        title { "warm-up range (lowest to highest in the warm-up): " (value(lo)) " to " (value(hi)) " " (unit) }
                        rect x=(n(X0)) y=(n(y(hi) - 1.0)) width=(n(X1 - X0)) height=(n(y(lo) - y(hi) + 2.0)) {}
                    }
                }
                @if series.is_empty() {
                    text.empty x=(n((X0 + X1) / 2.0)) y=(n((TOP + BOTTOM) / 2.0)) text-anchor="middle" { "no samples" }
                } @else {
                    polyline.series points=(line) {}
                }
                (chart_marks(axis, marks))
            }
        }
    }
}

/// Phases shaded, the plot's frame, and its scale: 0 and the top value, start and end times.
fn frame(d: &Digest, axis: &Axis, top: f64, unit: &str) -> Markup {
    html! {
        @for p in &d.phases {
            @let (x, w) = axis.span(p.from, p.to, 0.0);
            @if w > 0.5 {
                rect class=(format!("band band-{:?}", p.phase).to_lowercase()) x=(n(x)) y=(n(TOP)) width=(n(w)) height=(n(BOTTOM - TOP)) {
                    title { (p.phase.title()) }
                }
            }
        }
        line.axis x1=(n(X0)) x2=(n(X1)) y1=(n(BOTTOM)) y2=(n(BOTTOM)) {}
        line.axis x1=(n(X0)) x2=(n(X0)) y1=(n(TOP)) y2=(n(BOTTOM)) {}
        text.scale x=(n(X0 - 4.0)) y=(n(TOP + 4.0)) text-anchor="end" { (value(top)) }
        text.scale x=(n(X0 - 4.0)) y=(n(BOTTOM)) text-anchor="end" { "0" }
        text.scale x=(n(X0)) y=(n(H - 4.0)) { "0:00" }
        text.scale x=(n(X1)) y=(n(H - 4.0)) text-anchor="end" { (clock(axis.end_ms)) }
        @let (warm_from, warm_to) = d.warmup();
        @if warm_to > warm_from && warm_to < axis.end_ms {
            text.scale x=(n(axis.x(warm_to))) y=(n(H - 4.0)) text-anchor="middle" { (clock(warm_to)) }
        }
        title { "scale: 0 to " (value(top)) " " (unit) }
    }
}

/// Alerts about the container under the time axis; mitigations on it above the plot.
fn chart_marks(axis: &Axis, marks: &Marks) -> Markup {
    html! {
        @for a in marks.alerts {
            @let x = axis.x(a.alert.t_ms);
            g.chart-alert data-chart-alert=(a.alert.id) {
                title { "alert #" (a.alert.id) " at " (clock(a.alert.t_ms)) ": " (a.alert.title) " (it was " (truth_word(a.truth)) ")" }
                line.alert-rule x1=(n(x)) x2=(n(x)) y1=(n(TOP)) y2=(n(BOTTOM)) {}
                polygon class=(format!("alert-mark {}", crate::timeline::truth_class(a.truth)))
                    points=(points([(x, BOTTOM + 1.0), (x + 4.0, BOTTOM + 8.0), (x - 4.0, BOTTOM + 8.0)].into_iter())) {}
            }
        }
        @for m in marks.mitigations {
            @let x = axis.x(m.t_ms);
            g.chart-mitigation {
                title { (m.mitigation.summary()) " at " (clock(m.t_ms)) }
                rect.mitigation-mark x=(n(x - 3.0)) y=(n(TOP - 9.0)) width="6" height="6" {}
            }
        }
    }
}
