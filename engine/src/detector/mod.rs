//! The detector: baselines per entity learned during the warm-up (resource metrics, request
//! rates, data volumes: z-scores over Welford baselines; categorical novelty: a user's source,
//! dataset, endpoint and hour) plus signature rules from data. Emits grouped alerts.

pub mod baseline;
mod matching;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::format::rules::{Rule, Severity, Subject};
use crate::format::scenario::Scenario;
use crate::format::topology::{Sensitivity, Topology};
use crate::observation::{
    EntityRef, EventKind, LogEvent, MetricKind, Metrics, Millis, Observation, ObservationBody,
};
use baseline::{Band, Welford};

/// Why an alert fired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// A metric far outside its learned band.
    Anomaly {
        metric: MetricKind,
        value: f32,
        baseline: Band,
    },
    /// Something this entity was never seen doing in the warm-up.
    Novelty { dimension: Novelty, value: String },
    /// A signature rule matched.
    Signature,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Novelty {
    Source,
    Dataset,
    Endpoint,
    Hour,
}

/// An alert: a gremlin for the trainee to triage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub id: u32,
    pub t_ms: Millis,
    /// `anomaly.cpu`, `novelty.source`, `rule.<id>`, ...
    pub rule: String,
    pub title: String,
    pub severity: Severity,
    pub entity: EntityRef,
    /// Other entities in the evidence (the source of a login, the identity of a request).
    pub related: Vec<EntityRef>,
    pub evidence: String,
    /// The baseline the alert breaks, in words.
    pub baseline: String,
    pub mitre: Vec<String>,
    /// Request id of the observation that opened the alert, when it had one.
    pub trace: Option<u64>,
    pub signal: Signal,
    /// How late the evidence that opened it reached the session (telemetry lagged), when it
    /// was late: the trainee could not have seen it sooner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub late_ms: Option<Millis>,
}

/// What the detector says about an observation.
#[derive(Debug, Clone, PartialEq)]
pub enum Detection {
    New(Box<Alert>),
    /// The same rule fired again for the same entity within the grouping window.
    Repeat {
        alert: u32,
        count: u32,
        t_ms: Millis,
    },
}

/// Alerts for the same rule and entity within this window are one group.
pub const GROUP_WINDOW_MS: Millis = 60_000;

/// What makes alerts one group: rule, entity and, for a novelty, its new value.
type GroupKey = (String, EntityRef, Option<String>);

/// Tuning per metric: spread floor, minimum absolute rise, samples that must agree.
#[derive(Debug, Clone, Copy)]
struct Tuning {
    std_floor: f32,
    min_rise: f32,
    sustain: u8,
    z: f32,
}

fn tuning(metric: MetricKind) -> Tuning {
    let (std_floor, min_rise, sustain) = match metric {
        MetricKind::Cpu => (3.0, 25.0, 2),
        MetricKind::Memory => (4.0, 48.0, 2),
        MetricKind::Pids => (1.5, 12.0, 2),
        MetricKind::NetRx | MetricKind::NetTx => (20.0, 400.0, 2),
        MetricKind::RequestRate => (2.0, 25.0, 2),
        MetricKind::RecordsPerMinute => (20.0, 250.0, 1),
        MetricKind::SourceRate => (2.0, 20.0, 1),
    };
    Tuning {
        std_floor,
        min_rise,
        sustain,
        z: Z_THRESHOLD,
    }
}

/// z-score from which a metric is anomalous.
pub const Z_THRESHOLD: f32 = 5.0;

#[derive(Debug, Clone, Default)]
struct ServiceBaselines {
    name: String,
    resources: [Welford; 5],
    resource_bands: [Option<Band>; 5],
    streak: [u8; 5],
    requests_this_second: u32,
    request_rate: Welford,
    request_band: Option<Band>,
    request_streak: u8,
}

#[derive(Debug, Clone, Default)]
struct IdentityHabits {
    sources: BTreeSet<String>,
    datasets: BTreeSet<String>,
    endpoints: BTreeSet<String>,
    hours: BTreeSet<u8>,
    /// (time, records) of reads in the last minute.
    reads: VecDeque<(Millis, u32)>,
    records_per_minute: Welford,
}

impl IdentityHabits {
    fn records_last_minute(&mut self, now: Millis, add: u32) -> u32 {
        while self.reads.front().is_some_and(|(t, _)| *t + 60_000 <= now) {
            self.reads.pop_front();
        }
        self.reads.push_back((now, add));
        self.reads.iter().map(|(_, n)| n).sum()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Learning,
    Detecting,
}

/// Learns baselines, then turns observations into alerts.
#[derive(Debug)]
pub struct Detector {
    topology: Arc<Topology>,
    rules: Vec<Rule>,
    /// Indices of the rules worth trying, per event kind.
    rules_by_kind: HashMap<EventKind, Vec<usize>>,
    starts_at_minutes: u32,
    mode: Mode,
    services: Vec<ServiceBaselines>,
    identities: HashMap<String, IdentityHabits>,
    /// Records per minute over all identities: the fallback for identities seldom seen.
    pooled_records: Welford,
    pooled_records_band: Option<Band>,
    /// Requests per second from any one source through the gateway.
    source_rate: Welford,
    source_rate_band: Option<Band>,
    second: u64,
    novelty_seen: BTreeSet<(String, Novelty, String)>,
    /// Open alert groups by rule, entity and, for novelties, the new value: a second
    /// never-seen source of one account is news of its own, not a repeat of the first.
    groups: HashMap<GroupKey, (u32, u32, Millis)>,
    next_id: u32,
}

impl Detector {
    pub fn new(topology: Arc<Topology>, scenario: &Scenario) -> Self {
        let services = topology
            .services
            .iter()
            .map(|s| ServiceBaselines {
                name: s.id.clone(),
                ..Default::default()
            })
            .collect();
        let rules: Vec<Rule> = topology
            .rules
            .iter()
            .chain(&scenario.rules)
            .map(|r| Rule {
                when: r.when.inlined(&topology, 0),
                ..r.clone()
            })
            .collect();
        let mut rules_by_kind: HashMap<EventKind, Vec<usize>> = HashMap::new();
        for kind in EventKind::ALL {
            let tried = rules
                .iter()
                .enumerate()
                .filter(|(_, r)| r.when.event_kinds().is_none_or(|ks| ks.contains(&kind)))
                .map(|(i, _)| i)
                .collect();
            rules_by_kind.insert(kind, tried);
        }
        let (h, m) = scenario.context.starts_at;
        Detector {
            topology,
            rules,
            rules_by_kind,
            starts_at_minutes: u32::from(h) * 60 + u32::from(m),
            mode: Mode::Learning,
            services,
            identities: HashMap::new(),
            pooled_records: Welford::default(),
            pooled_records_band: None,
            source_rate: Welford::default(),
            source_rate_band: None,
            second: 0,
            novelty_seen: BTreeSet::new(),
            groups: HashMap::new(),
            next_id: 1,
        }
    }

    /// End of the warm-up: freeze the baselines and start alerting.
    pub fn start_detecting(&mut self) {
        for s in &mut self.services {
            for (i, w) in s.resources.iter().enumerate() {
                s.resource_bands[i] = (w.count() > 0).then(|| w.band());
            }
            s.request_band = (s.request_rate.count() > 0).then(|| s.request_rate.band());
        }
        self.pooled_records_band =
            (self.pooled_records.count() > 0).then(|| self.pooled_records.band());
        self.source_rate_band = (self.source_rate.count() > 0).then(|| self.source_rate.band());
        self.mode = Mode::Detecting;
    }

    pub fn is_detecting(&self) -> bool {
        self.mode == Mode::Detecting
    }

    /// The learned band of a service metric (for charts), once learning is over.
    pub fn band(&self, service: &str, metric: MetricKind) -> Option<(Band, f32)> {
        let s = self.services.iter().find(|s| s.name == service)?;
        let band = match metric {
            MetricKind::RequestRate => s.request_band,
            other => MetricKind::RESOURCES
                .iter()
                .position(|m| *m == other)
                .and_then(|i| s.resource_bands[i]),
        }?;
        Some((band, tuning(metric).std_floor))
    }

    /// Feed one observation; alerts (new or grouped repeats) are appended to `out`.
    pub fn observe(&mut self, obs: &Observation, out: &mut Vec<Detection>) {
        let second = obs.t_ms / 1000;
        if second > self.second {
            self.close_seconds(second, out);
        }
        match &obs.body {
            ObservationBody::Metrics(m) => self.metrics(obs.t_ms, m, out),
            ObservationBody::Event(e) => self.event(obs.t_ms, e, out),
        }
    }

    fn close_seconds(&mut self, second: u64, out: &mut Vec<Detection>) {
        let t_ms = second * 1000;
        // Seconds with no request count as zero: an idle second is part of the baseline.
        let gap = second.saturating_sub(self.second).min(60);
        for idx in 0..self.services.len() {
            for k in 0..gap {
                let n = if k == 0 {
                    std::mem::take(&mut self.services[idx].requests_this_second)
                } else {
                    0
                };
                let s = &mut self.services[idx];
                match self.mode {
                    Mode::Learning => s.request_rate.add(f64::from(n)),
                    Mode::Detecting => {
                        let Some(band) = s.request_band else { continue };
                        let t = tuning(MetricKind::RequestRate);
                        let value = n as f32;
                        if is_anomalous(band, value, t) {
                            s.request_streak = s.request_streak.saturating_add(1);
                        } else {
                            s.request_streak = 0;
                        }
                        if s.request_streak == t.sustain {
                            let name = s.name.clone();
                            self.anomaly(
                                t_ms,
                                EntityRef::Service(name),
                                vec![],
                                MetricKind::RequestRate,
                                value,
                                band,
                                None,
                                out,
                            );
                        }
                    }
                }
            }
        }
        self.second = second;
    }

    fn metrics(&mut self, t_ms: Millis, m: &Metrics, out: &mut Vec<Detection>) {
        let Some(idx) = self.services.iter().position(|s| s.name == m.service) else {
            return;
        };
        for (i, metric) in MetricKind::RESOURCES.iter().enumerate() {
            let value = metric.of(m);
            let s = &mut self.services[idx];
            match self.mode {
                Mode::Learning => s.resources[i].add(f64::from(value)),
                Mode::Detecting => {
                    let Some(band) = s.resource_bands[i] else {
                        continue;
                    };
                    let t = tuning(*metric);
                    if is_anomalous(band, value, t) {
                        s.streak[i] = s.streak[i].saturating_add(1);
                    } else {
                        s.streak[i] = 0;
                    }
                    // Two samples must agree, unless one is far beyond doubt: a hog shows in
                    // its first sample, and waiting a second sample costs a second of latency.
                    let flagrant = s.streak[i] == 1 && is_anomalous(band, value, t.doubled());
                    if s.streak[i] == t.sustain || flagrant {
                        let name = s.name.clone();
                        self.anomaly(
                            t_ms,
                            EntityRef::Service(name),
                            vec![],
                            *metric,
                            value,
                            band,
                            None,
                            out,
                        );
                    }
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn anomaly(
        &mut self,
        t_ms: Millis,
        entity: EntityRef,
        related: Vec<EntityRef>,
        metric: MetricKind,
        value: f32,
        band: Band,
        trace: Option<u64>,
        out: &mut Vec<Detection>,
    ) {
        let floor = tuning(metric).std_floor;
        let z = band.z(value, floor);
        let severity = if z >= 20.0 {
            Severity::High
        } else if z >= 10.0 {
            Severity::Medium
        } else {
            Severity::Low
        };
        let (lo, hi) = band.range(3.0, floor);
        let label = metric.label();
        let rule = format!("anomaly.{}", metric_key(metric));
        let alert = Alert {
            late_ms: None,
            id: 0,
            t_ms,
            title: format!("{} of {} far above its baseline", label, entity.name()),
            rule,
            severity,
            evidence: format!("{label} = {value:.1} (z = {z:.1})"),
            baseline: format!(
                "warm-up: {:.1} ± {:.1} {label}; normal range {lo:.1} to {hi:.1}",
                band.mean, band.std
            ),
            entity,
            related,
            mitre: match metric {
                MetricKind::Cpu | MetricKind::Memory | MetricKind::Pids => vec!["T1496".into()],
                MetricKind::RequestRate | MetricKind::SourceRate => vec!["T1498".into()],
                MetricKind::RecordsPerMinute => vec!["T1530".into()],
                MetricKind::NetRx | MetricKind::NetTx => vec!["T1030".into()],
            },
            trace,
            signal: Signal::Anomaly {
                metric,
                value,
                baseline: band,
            },
        };
        self.emit(alert, out);
    }

    fn event(&mut self, t_ms: Millis, e: &LogEvent, out: &mut Vec<Detection>) {
        if let Some(s) = self.services.iter_mut().find(|s| s.name == e.service()) {
            match e {
                LogEvent::Request { .. } => s.requests_this_second += 1,
                LogEvent::Flow { requests, .. } => s.requests_this_second += requests,
                _ => {}
            }
        }
        if let LogEvent::Flow {
            source, requests, ..
        } = e
        {
            self.source_flow(t_ms, source, *requests, out);
        }
        if let Some(identity) = e.identity() {
            self.habits(t_ms, identity, e, out);
        }
        if self.mode == Mode::Detecting {
            self.signatures(t_ms, e, out);
        }
    }

    fn source_flow(&mut self, t_ms: Millis, source: &str, requests: u32, out: &mut Vec<Detection>) {
        match self.mode {
            Mode::Learning => self.source_rate.add(f64::from(requests)),
            Mode::Detecting => {
                let Some(band) = self.source_rate_band else {
                    return;
                };
                let value = requests as f32;
                if is_anomalous(band, value, tuning(MetricKind::SourceRate)) {
                    self.anomaly(
                        t_ms,
                        EntityRef::Source(source.to_string()),
                        vec![],
                        MetricKind::SourceRate,
                        value,
                        band,
                        None,
                        out,
                    );
                }
            }
        }
    }

    fn hour_at(&self, t_ms: Millis) -> u8 {
        let minutes = self.starts_at_minutes as u64 + t_ms / 60_000;
        ((minutes / 60) % 24) as u8
    }

    fn habits(&mut self, t_ms: Millis, identity: &str, e: &LogEvent, out: &mut Vec<Detection>) {
        let hour = self.hour_at(t_ms);
        let habits = self.identities.entry(identity.to_string()).or_default();
        let mut novel: Vec<(Novelty, String, Severity)> = Vec::new();
        let learning = self.mode == Mode::Learning;
        let mut records_anomaly = None;
        let mut remember =
            |set: &mut BTreeSet<String>, value: &str, dim: Novelty, sev: Severity| {
                if learning {
                    set.insert(value.to_string());
                } else if !set.contains(value) {
                    novel.push((dim, value.to_string(), sev));
                }
            };
        match e {
            LogEvent::Login {
                source, ok: true, ..
            } => {
                remember(
                    &mut habits.sources,
                    source,
                    Novelty::Source,
                    Severity::Medium,
                );
            }
            LogEvent::Request {
                source,
                endpoint,
                status,
                ..
            } if *status < 400 => {
                remember(
                    &mut habits.sources,
                    source,
                    Novelty::Source,
                    Severity::Medium,
                );
                // Data reads are judged by their dataset (the DataAccess event), not twice.
                if !endpoint.starts_with("/data/") {
                    remember(
                        &mut habits.endpoints,
                        endpoint,
                        Novelty::Endpoint,
                        Severity::Low,
                    );
                }
            }
            LogEvent::DataAccess {
                source,
                dataset,
                records,
                ok: true,
                ..
            } => {
                remember(
                    &mut habits.sources,
                    source,
                    Novelty::Source,
                    Severity::Medium,
                );
                let sensitive = self
                    .topology
                    .dataset(dataset)
                    .is_some_and(|d| d.sensitivity == Sensitivity::Restricted);
                let sev = if sensitive {
                    Severity::Medium
                } else {
                    Severity::Low
                };
                remember(&mut habits.datasets, dataset, Novelty::Dataset, sev);
                let total = habits.records_last_minute(t_ms, *records);
                if learning {
                    habits.records_per_minute.add(f64::from(total));
                    self.pooled_records.add(f64::from(total));
                } else {
                    let own = habits.records_per_minute;
                    let band = if own.count() >= 5 {
                        Some(own.band())
                    } else {
                        self.pooled_records_band
                    };
                    if let Some(band) = band
                        && is_anomalous(band, total as f32, tuning(MetricKind::RecordsPerMinute))
                    {
                        records_anomaly = Some((band, total as f32, source.clone()));
                    }
                }
            }
            LogEvent::Credential { .. } | LogEvent::Exec { .. } => {}
            _ => return,
        }
        let hours_declared = self
            .topology
            .identity(identity)
            .map(|i| i.work_hours)
            .unwrap_or((0, 24));
        if learning {
            habits.hours.insert(hour);
        } else if !habits.hours.contains(&hour)
            && (hour < hours_declared.0 || hour >= hours_declared.1)
        {
            novel.push((Novelty::Hour, format!("{hour:02}:00"), Severity::Low));
        }
        let known: Vec<String> = novel
            .iter()
            .map(|(dim, _, _)| {
                let set = match dim {
                    Novelty::Source => &habits.sources,
                    Novelty::Dataset => &habits.datasets,
                    Novelty::Endpoint => &habits.endpoints,
                    Novelty::Hour => {
                        return format!(
                            "works {:02}:00 to {:02}:00; seen at {}",
                            hours_declared.0,
                            hours_declared.1,
                            join_or_none(habits.hours.iter().map(|h| format!("{h:02}:00")))
                        );
                    }
                };
                format!("seen in warm-up: {}", join_or_none(set.iter().cloned()))
            })
            .collect();
        let trace = e.trace();
        let source = e.source().map(|s| EntityRef::Source(s.to_string()));
        if let Some((band, value, src)) = records_anomaly {
            self.anomaly(
                t_ms,
                EntityRef::Identity(identity.to_string()),
                vec![EntityRef::Source(src)],
                MetricKind::RecordsPerMinute,
                value,
                band,
                trace,
                out,
            );
        }
        for ((dim, value, severity), baseline) in novel.into_iter().zip(known) {
            if !self
                .novelty_seen
                .insert((identity.to_string(), dim, value.clone()))
            {
                continue;
            }
            let (title, mitre) = match dim {
                Novelty::Source => (
                    format!("{identity} active from a never-seen source {value}"),
                    vec!["T1078".to_string()],
                ),
                Novelty::Dataset => (
                    format!("{identity} read a dataset they never read: {value}"),
                    vec!["T1213".to_string()],
                ),
                Novelty::Endpoint => (
                    format!("{identity} used an endpoint they never used: {value}"),
                    vec![],
                ),
                Novelty::Hour => (
                    format!("{identity} active outside their hours ({value})"),
                    vec!["T1078".to_string()],
                ),
            };
            let alert = Alert {
                late_ms: None,
                id: 0,
                t_ms,
                rule: format!("novelty.{}", novelty_key(dim)),
                title,
                severity,
                entity: EntityRef::Identity(identity.to_string()),
                related: source.iter().cloned().collect(),
                evidence: e.summary(),
                baseline,
                mitre,
                trace,
                signal: Signal::Novelty {
                    dimension: dim,
                    value,
                },
            };
            self.emit(alert, out);
        }
    }

    fn signatures(&mut self, t_ms: Millis, e: &LogEvent, out: &mut Vec<Detection>) {
        let mut fired = Vec::new();
        let Some(tried) = self.rules_by_kind.get(&e.kind()) else {
            return;
        };
        for rule in tried.iter().map(|&i| &self.rules[i]) {
            if !rule.when.matches(e, &self.topology, 0) {
                continue;
            }
            let entity = match rule.subject {
                Subject::Service => Some(EntityRef::Service(e.acting_service().to_string())),
                Subject::Identity => e.identity().map(|i| EntityRef::Identity(i.to_string())),
                Subject::Source => e.source().map(|s| EntityRef::Source(s.to_string())),
            };
            let Some(entity) = entity else { continue };
            let mut related = Vec::new();
            if let Some(i) = e.identity() {
                related.push(EntityRef::Identity(i.to_string()));
            }
            if let Some(s) = e.source() {
                related.push(EntityRef::Source(s.to_string()));
            }
            related.push(EntityRef::Service(e.service().to_string()));
            if let LogEvent::Crossing {
                to,
                from_zone,
                to_zone,
                ..
            } = e
            {
                related.push(EntityRef::Service(to.clone()));
                // The zone left, then the zone entered: the order a segmentation names them in.
                related.push(EntityRef::Zone(from_zone.clone()));
                related.extend(to_zone.iter().map(|z| EntityRef::Zone(z.clone())));
            }
            related.retain(|r| *r != entity);
            fired.push(Alert {
                late_ms: None,
                id: 0,
                t_ms,
                rule: format!("rule.{}", rule.id),
                title: rule.title.clone(),
                severity: rule.severity,
                entity,
                related,
                evidence: format!("{}: {}", e.service(), e.summary()),
                baseline: "signature: never expected in normal operation".into(),
                mitre: rule.mitre.clone(),
                trace: e.trace(),
                signal: Signal::Signature,
            });
        }
        for a in fired {
            self.emit(a, out);
        }
    }

    fn emit(&mut self, mut alert: Alert, out: &mut Vec<Detection>) {
        let novel = match &alert.signal {
            Signal::Novelty { value, .. } => Some(value.clone()),
            _ => None,
        };
        let key = (alert.rule.clone(), alert.entity.clone(), novel);
        if let Some((id, count, last)) = self.groups.get_mut(&key)
            && alert.t_ms.saturating_sub(*last) <= GROUP_WINDOW_MS
        {
            *count += 1;
            *last = alert.t_ms;
            out.push(Detection::Repeat {
                alert: *id,
                count: *count,
                t_ms: alert.t_ms,
            });
            return;
        }
        alert.id = self.next_id;
        self.next_id += 1;
        self.groups.insert(key, (alert.id, 1, alert.t_ms));
        out.push(Detection::New(Box::new(alert)));
    }
}

fn is_anomalous(band: Band, value: f32, t: Tuning) -> bool {
    value - band.mean >= t.min_rise && band.z(value, t.std_floor) >= t.z
}

impl Tuning {
    /// The bar for a single sample to count on its own.
    fn doubled(self) -> Tuning {
        Tuning {
            min_rise: self.min_rise * 2.0,
            z: self.z * 2.0,
            ..self
        }
    }
}

fn metric_key(m: MetricKind) -> &'static str {
    match m {
        MetricKind::Cpu => "cpu",
        MetricKind::Memory => "memory",
        MetricKind::Pids => "pids",
        MetricKind::NetRx => "net_rx",
        MetricKind::NetTx => "net_tx",
        MetricKind::RequestRate => "request_rate",
        MetricKind::RecordsPerMinute => "records_per_minute",
        MetricKind::SourceRate => "source_rate",
    }
}

fn novelty_key(n: Novelty) -> &'static str {
    match n {
        Novelty::Source => "source",
        Novelty::Dataset => "dataset",
        Novelty::Endpoint => "endpoint",
        Novelty::Hour => "hour",
    }
}

fn join_or_none(items: impl Iterator<Item = String>) -> String {
    let v: Vec<String> = items.collect();
    if v.is_empty() {
        "nothing".into()
    } else {
        v.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{self, Loaded};

    fn loaded() -> Loaded {
        let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        format::load_scenario(&root.join("scenarios/stolen-credentials.ron"), &root).unwrap()
    }

    fn metrics(t_ms: Millis, cpu: f32) -> Observation {
        Observation {
            t_ms,
            body: ObservationBody::Metrics(Metrics {
                service: "tenant-a".into(),
                cpu_pct: cpu,
                memory_mib: 30.0,
                pids: 5,
                net_rx_kbps: 1.0,
                net_tx_kbps: 1.0,
            }),
        }
    }

    fn event(t_ms: Millis, e: LogEvent) -> Observation {
        Observation {
            t_ms,
            body: ObservationBody::Event(e),
        }
    }

    fn login(identity: &str, source: &str) -> LogEvent {
        LogEvent::Login {
            service: "web".into(),
            identity: identity.into(),
            source: source.into(),
            ok: true,
            trace: Some(9),
        }
    }

    fn new_alerts(out: &[Detection]) -> Vec<&Alert> {
        out.iter()
            .filter_map(|d| match d {
                Detection::New(a) => Some(a.as_ref()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_sustained_cpu_spike_breaks_the_learned_band_and_a_blip_does_not() {
        let l = loaded();
        let mut d = Detector::new(l.topology.clone(), &l.scenario);
        let mut out = Vec::new();
        for s in 0..60 {
            d.observe(&metrics(s * 1000, 4.0 + (s % 3) as f32), &mut out);
        }
        d.start_detecting();
        d.observe(&metrics(61_000, 40.0), &mut out);
        d.observe(&metrics(62_000, 5.0), &mut out);
        assert!(
            new_alerts(&out).is_empty(),
            "one sample a little high is a blip"
        );
        d.observe(&metrics(63_000, 40.0), &mut out);
        d.observe(&metrics(64_000, 42.0), &mut out);
        assert_eq!(new_alerts(&out).len(), 1, "two in a row are not");
        let mut d = Detector::new(l.topology.clone(), &l.scenario);
        out.clear();
        for s in 0..60 {
            d.observe(&metrics(s * 1000, 4.0 + (s % 3) as f32), &mut out);
        }
        d.start_detecting();
        d.observe(&metrics(61_000, 150.0), &mut out);
        let alerts = new_alerts(&out);
        assert_eq!(alerts.len(), 1, "one sample far beyond doubt is enough");
        assert_eq!(alerts[0].rule, "anomaly.cpu");
        assert_eq!(alerts[0].entity, EntityRef::Service("tenant-a".into()));
        assert!(alerts[0].baseline.contains("warm-up"));
    }

    #[test]
    fn a_login_from_a_new_source_is_novel_once_and_a_known_one_is_not() {
        let l = loaded();
        let mut d = Detector::new(l.topology.clone(), &l.scenario);
        let mut out = Vec::new();
        d.observe(&event(1000, login("alice", "10.20.0.11")), &mut out);
        d.start_detecting();
        d.observe(&event(2000, login("alice", "10.20.0.11")), &mut out);
        assert!(new_alerts(&out).is_empty());
        d.observe(&event(3000, login("alice", "198.51.100.23")), &mut out);
        d.observe(&event(4000, login("alice", "198.51.100.23")), &mut out);
        let alerts = new_alerts(&out);
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        assert_eq!(alerts[0].rule, "novelty.source");
        assert_eq!(alerts[0].trace, Some(9));
        assert!(
            alerts[0]
                .related
                .contains(&EntityRef::Source("198.51.100.23".into()))
        );
        assert!(alerts[0].baseline.contains("10.20.0.11"));
    }

    #[test]
    fn signature_rules_fire_and_floods_of_them_are_grouped() {
        let l = loaded();
        let mut d = Detector::new(l.topology.clone(), &l.scenario);
        d.start_detecting();
        let mut out = Vec::new();
        for k in 0..50 {
            let e = LogEvent::Request {
                service: "web".into(),
                identity: Some("alice".into()),
                source: "10.20.0.11".into(),
                endpoint: "/admin/users".into(),
                status: 403,
                trace: None,
            };
            d.observe(&event(1000 + k * 100, e), &mut out);
        }
        let alerts = new_alerts(&out);
        assert_eq!(alerts.len(), 1, "fifty hits, one alert");
        assert_eq!(alerts[0].rule, "rule.admin-api-by-non-admin");
        assert_eq!(alerts[0].mitre, vec!["T1078".to_string()]);
        let last = out.last().unwrap();
        assert!(
            matches!(last, Detection::Repeat { count: 50, .. }),
            "{last:?}"
        );
        // An admin doing the same is fine.
        let e = LogEvent::Request {
            service: "web".into(),
            identity: Some("erin".into()),
            source: "10.20.0.15".into(),
            endpoint: "/admin/users".into(),
            status: 200,
            trace: None,
        };
        out.clear();
        d.observe(&event(9000, e), &mut out);
        assert!(
            new_alerts(&out)
                .iter()
                .all(|a| !a.rule.starts_with("rule."))
        );
    }

    #[test]
    fn named_conditions_are_inlined_and_rules_are_indexed_by_event_kind() {
        let l = loaded();
        let rule = l
            .topology
            .rules
            .iter()
            .find(|r| r.id == "exec-into-production")
            .unwrap();
        let inlined = rule.when.inlined(&l.topology, 0);
        assert!(!format!("{inlined:?}").contains("Macro"));
        assert_eq!(inlined.event_kinds(), Some(vec![EventKind::Exec]));
    }
}
