//! How well the lab's telemetry reaches the session, per source (each service's log lines, its
//! resource readings, its container events): how many lines came, how many arrived late (after
//! the session had already shown their moment) and by how much. An alert opened by late
//! evidence says so, and time to detect is measured from when that evidence became visible.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::observation::{LogEvent, Millis, Observation, ObservationBody};

/// A line this much later than its moment is late (below it, a tick's rounding).
pub const LATE_MS: Millis = 1_000;

/// A source late within this much session time is lagging now: what the trainee's indicator
/// shows.
pub const RECENT_MS: Millis = 30_000;

/// The feeds a service's telemetry comes by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Feed {
    /// What its own processes log (logins, requests, reads, flows, crossings).
    Logs,
    /// Its resource readings.
    Metrics,
    /// What the container engine says of it (lifecycle, exec sessions).
    Events,
}

impl Feed {
    pub fn title(self) -> &'static str {
        match self {
            Feed::Logs => "logs",
            Feed::Metrics => "metrics",
            Feed::Events => "events",
        }
    }

    fn of(obs: &Observation) -> (String, Feed) {
        match &obs.body {
            ObservationBody::Metrics(m) => (m.service.clone(), Feed::Metrics),
            ObservationBody::Event(e @ (LogEvent::Lifecycle { .. } | LogEvent::Exec { .. })) => {
                (e.service().to_string(), Feed::Events)
            }
            ObservationBody::Event(e) => (e.service().to_string(), Feed::Logs),
        }
    }
}

/// One source's health so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceHealth {
    pub service: String,
    pub feed: Feed,
    /// Lines received.
    pub lines: u64,
    /// Lines that arrived `LATE_MS` or more after their moment.
    pub late: u64,
    /// The latest any line arrived, in session ms.
    pub worst_lag_ms: Millis,
    /// When a late line last arrived (session time).
    pub last_late_at: Option<Millis>,
}

impl SourceHealth {
    /// `web logs: 3 of 812 lines late, up to 2.4 s`.
    pub fn line(&self) -> String {
        format!(
            "{} {}: {} of {} lines late, up to {:.1} s",
            self.service,
            self.feed.title(),
            self.late,
            self.lines,
            self.worst_lag_ms as f64 / 1000.0
        )
    }
}

/// Every source's health, as the session counts it.
#[derive(Debug, Clone, Default)]
pub struct TelemetryHealth {
    sources: BTreeMap<(String, Feed), SourceHealth>,
}

impl TelemetryHealth {
    /// Count an observation the lab yielded while the session moved from `shown` (the moment
    /// it had shown so far) to `until`. One stamped before `shown` reached the trainee only at
    /// `until`: returns how late it was, when that is `LATE_MS` or more.
    pub fn observe(&mut self, obs: &Observation, shown: Millis, until: Millis) -> Option<Millis> {
        let (service, feed) = Feed::of(obs);
        let source = self
            .sources
            .entry((service.clone(), feed))
            .or_insert_with(|| SourceHealth {
                service,
                feed,
                lines: 0,
                late: 0,
                worst_lag_ms: 0,
                last_late_at: None,
            });
        source.lines += 1;
        let lag = if obs.t_ms < shown {
            until.saturating_sub(obs.t_ms)
        } else {
            0
        };
        source.worst_lag_ms = source.worst_lag_ms.max(lag);
        (lag >= LATE_MS).then(|| {
            source.late += 1;
            source.last_late_at = Some(until);
            lag
        })
    }

    /// Every source, by service then feed.
    pub fn sources(&self) -> Vec<SourceHealth> {
        self.sources.values().cloned().collect()
    }
}

/// The sources that had a late line within `RECENT_MS` of `now`: the trainee's indicator.
pub fn lagging(sources: &[SourceHealth], now: Millis) -> Vec<&SourceHealth> {
    sources
        .iter()
        .filter(|s| {
            s.last_late_at
                .is_some_and(|t| now.saturating_sub(t) < RECENT_MS)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observation::Metrics;

    fn reading(service: &str, t_ms: Millis) -> Observation {
        Observation {
            t_ms,
            body: ObservationBody::Metrics(Metrics {
                service: service.into(),
                cpu_pct: 1.0,
                memory_mib: 1.0,
                pids: 1,
                net_rx_kbps: 0.0,
                net_tx_kbps: 0.0,
            }),
        }
    }

    #[test]
    fn a_line_is_late_only_when_the_session_had_shown_its_moment_already() {
        let mut health = TelemetryHealth::default();
        // On time: its moment is within the tick that yields it.
        assert_eq!(
            health.observe(&reading("web", 10_100), 10_000, 10_250),
            None
        );
        // A tick's rounding is not lateness.
        assert_eq!(health.observe(&reading("web", 9_900), 10_000, 10_250), None);
        // Shown 3 s after its moment.
        assert_eq!(
            health.observe(&reading("web", 7_250), 10_000, 10_250),
            Some(3_000)
        );
        let web = &health.sources()[0];
        assert_eq!((web.lines, web.late, web.worst_lag_ms), (3, 1, 3_000));
        assert_eq!(web.feed, Feed::Metrics);
        let sources = health.sources();
        assert_eq!(lagging(&sources, 20_000).len(), 1);
        assert_eq!(
            lagging(&sources, 10_250 + RECENT_MS).len(),
            0,
            "not lagging now"
        );
    }
}
