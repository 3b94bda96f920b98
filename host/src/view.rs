//! The live view a client draws from: copied out of a running session by its seat, built only
//! from the trainee's side (the brief, telemetry, alerts, their own commands), with no score.
//! The same value goes to the local game over a channel and to a remote client as JSON.

use std::collections::{BTreeMap, VecDeque};

use bulkhead_engine::format::scenario::Hint;
use bulkhead_engine::observation::{LogEvent, MetricKind};
use bulkhead_engine::posture::Finding;
use bulkhead_engine::record::RecordLine;
use bulkhead_engine::session::{AlertEntry, LogLine, MitigationEntry, ServiceStatus};
use bulkhead_engine::telemetry::SourceHealth;
use bulkhead_engine::{
    Backend, DefenderView, EntityRef, Millis, ObservationBody, Phase, Session, TraineeBrief,
};
use serde::{Deserialize, Serialize};

/// Traffic is averaged over this much session time for the map's animated flows.
const TRAFFIC_WINDOW_MS: Millis = 2_000;

/// One end of an animated flow on the map.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum FlowEnd {
    /// Traffic arriving from outside the company (any source).
    Ingress,
    Service(String),
}

/// Observed traffic along one edge, averaged over the last couple of seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EdgeTraffic {
    pub from: FlowEnd,
    pub to: FlowEnd,
    /// Requests (or data reads) per second that got through.
    pub per_s: f32,
    /// Requests per second refused or denied on the way.
    pub refused_per_s: f32,
}

/// A learned baseline band for a chart: mean and mean ± 3σ (spread floored as the detector does).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BandView {
    pub mean: f32,
    pub lo: f32,
    pub hi: f32,
}

/// Everything the UI may show of a session, copied out of it by the session thread.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub backend: Backend,
    pub can_pause: bool,
    pub paused: bool,
    pub phase: Phase,
    pub now_ms: Millis,
    pub total_ms: Millis,
    /// Session time the live phase starts at (after any hardening phase and the warm-up).
    pub live_start_ms: Millis,
    /// Session time a hardening phase ends at, when the warm-up starts (0: none).
    #[serde(default)]
    pub hardening_end_ms: Millis,
    pub alerts: Vec<AlertEntry>,
    pub services: BTreeMap<String, ServiceStatus>,
    /// Learned bands per (service, metric), once the warm-up is over.
    #[serde(with = "pairs")]
    pub bands: BTreeMap<(String, MetricKind), BandView>,
    pub logs: Vec<LogLine>,
    pub mitigations: Vec<MitigationEntry>,
    pub attributed: Vec<EntityRef>,
    pub hints: Vec<Hint>,
    pub hints_left: usize,
    /// Cost of the next hint, when one is left.
    pub next_hint_cost: Option<u32>,
    pub traffic: Vec<EdgeTraffic>,
    pub lab_error: Option<String>,
    /// Why the lab cannot be reached, while the session holds its clock for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held: Option<String>,
    /// How well the lab's telemetry reaches the session, per source (the trainee's indicator
    /// shows only the sources lagging now; a mentor sees them all).
    #[serde(default)]
    pub telemetry: Vec<SourceHealth>,
    /// The lab's posture as last audited: the hardening phase's findings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
}

impl Snapshot {
    /// What a defender (the bot, a script) may see, rebuilt on the client from the view: the
    /// same value `Session::view` gives a defender that runs beside the session.
    pub fn defender_view<'a>(&'a self, brief: &'a TraineeBrief) -> DefenderView<'a> {
        DefenderView {
            now: self.now_ms,
            phase: self.phase,
            brief,
            alerts: &self.alerts,
            mitigations: &self.mitigations,
            attributed: &self.attributed,
            hints: &self.hints,
            findings: &self.findings,
        }
    }

    /// Seconds of the live phase at session time `t_ms` (negative during the warm-up).
    pub fn live_s(&self, t_ms: Millis) -> f64 {
        (t_ms as f64 - self.live_start_ms as f64) / 1000.0
    }
}

const CHART_METRICS: [MetricKind; 4] = [
    MetricKind::Cpu,
    MetricKind::Memory,
    MetricKind::NetRx,
    MetricKind::RequestRate,
];

/// What the trainee's screens show: built from the trainee's side of the session only (the
/// brief, telemetry, alerts, their own commands); no score while live.
pub fn snapshot(session: &Session, paused: bool, traffic: &TrafficMeter) -> Snapshot {
    let brief = session.brief();
    let mut bands = BTreeMap::new();
    for id in session.services().keys() {
        for metric in CHART_METRICS.into_iter().chain([MetricKind::NetTx]) {
            if let Some((band, floor)) = session.detector().band(id, metric) {
                let (lo, hi) = band.range(3.0, floor);
                bands.insert(
                    (id.clone(), metric),
                    BandView {
                        mean: band.mean,
                        lo,
                        hi,
                    },
                );
            }
        }
    }
    let hints = session.hints().to_vec();
    Snapshot {
        backend: session.lab().backend(),
        can_pause: session.lab().can_pause(),
        paused,
        phase: session.phase(),
        now_ms: session.now(),
        total_ms: session.total_ms(),
        live_start_ms: brief.live_start_ms(),
        hardening_end_ms: brief.warmup_start_ms(),
        alerts: session.alerts().to_vec(),
        services: session.services().clone(),
        bands,
        logs: session.logs().iter().cloned().collect(),
        mitigations: session.mitigations().to_vec(),
        attributed: session.attributed().to_vec(),
        next_hint_cost: brief.hint_costs.get(hints.len()).copied(),
        hints,
        hints_left: session.hints_left(),
        traffic: traffic.edges(session.now()),
        lab_error: session.lab_error().map(str::to_string),
        held: session.held().map(str::to_string),
        telemetry: session.telemetry().sources(),
        findings: session.findings().to_vec(),
    }
}

/// Counts observed traffic per edge from the record, for the map's flows.
#[derive(Debug, Default)]
pub struct TrafficMeter {
    scanned: usize,
    /// (session time, edge, passed, refused)
    recent: VecDeque<(Millis, (FlowEnd, FlowEnd), u32, u32)>,
}

impl TrafficMeter {
    pub fn scan(&mut self, session: &Session) {
        let topology = session.topology();
        // A web tier reads the datastore behind it.
        let store_behind = |web: &str| {
            let web = topology.service(web)?;
            topology.upstream_of(web).map(|store| store.id.clone())
        };
        let lines = session.record_lines();
        for line in &lines[self.scanned.min(lines.len())..] {
            let RecordLine::Observation(obs) = line else {
                continue;
            };
            let ObservationBody::Event(event) = &obs.body else {
                continue;
            };
            match event {
                LogEvent::Flow {
                    service,
                    upstream,
                    requests,
                    denied,
                    ..
                } => {
                    let gateway = FlowEnd::Service(service.clone());
                    self.recent.push_back((
                        obs.t_ms,
                        (FlowEnd::Ingress, gateway.clone()),
                        requests.saturating_sub(*denied),
                        *denied,
                    ));
                    self.recent.push_back((
                        obs.t_ms,
                        (gateway, FlowEnd::Service(upstream.clone())),
                        requests.saturating_sub(*denied),
                        0,
                    ));
                }
                LogEvent::DataAccess { service, ok, .. } => {
                    if let Some(ds) = store_behind(service) {
                        self.recent.push_back((
                            obs.t_ms,
                            (FlowEnd::Service(service.clone()), FlowEnd::Service(ds)),
                            u32::from(*ok),
                            u32::from(!*ok),
                        ));
                    }
                }
                _ => {}
            }
        }
        self.scanned = lines.len();
        let horizon = session.now().saturating_sub(TRAFFIC_WINDOW_MS);
        while self.recent.front().is_some_and(|(t, ..)| *t < horizon) {
            self.recent.pop_front();
        }
    }

    pub fn edges(&self, now: Millis) -> Vec<EdgeTraffic> {
        let window_s = (TRAFFIC_WINDOW_MS.min(now.max(1))) as f32 / 1000.0;
        let mut sums: BTreeMap<(FlowEnd, FlowEnd), (u32, u32)> = BTreeMap::new();
        for (_, edge, passed, refused) in &self.recent {
            let e = sums.entry(edge.clone()).or_default();
            e.0 += passed;
            e.1 += refused;
        }
        sums.into_iter()
            .map(|((from, to), (passed, refused))| EdgeTraffic {
                from,
                to,
                per_s: passed as f32 / window_s,
                refused_per_s: refused as f32 / window_s,
            })
            .collect()
    }
}

/// JSON maps need string keys: the bands travel as a list of (key, band) pairs.
mod pairs {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer, K: Serialize, V: Serialize>(
        map: &BTreeMap<K, V>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(map.iter())
    }

    pub fn deserialize<'de, D, K, V>(d: D) -> Result<BTreeMap<K, V>, D::Error>
    where
        D: Deserializer<'de>,
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de>,
    {
        Ok(Vec::<(K, V)>::deserialize(d)?.into_iter().collect())
    }
}
