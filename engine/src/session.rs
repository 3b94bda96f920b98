//! The session runner: phases, benign traffic, the attack and decoy timelines, the detector,
//! the trainee's commands, a mentor's acts (in `mentor`) and the record. A CLI, a game thread
//! and a test all drive it the same way: `begin`, then `tick` until it returns false,
//! submitting commands in between.

mod mentor;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::action::{
    Action, AlertRef, Cause, Command, Effect, EffectKind, Mitigation, Origin, Outcome, Verdict,
};
use crate::brief::TraineeBrief;
use crate::detector::{Alert, Detection, Detector};
use crate::format::scenario::{Hint, Scenario, Step};
use crate::format::topology::Topology;
use crate::lab::{Lab, LabHealth, LabOutput};
use crate::observation::{
    EntityRef, LifecycleState, LogEvent, Metrics, Millis, Observation, ObservationBody,
};
pub use crate::phase::Phase;
use crate::posture::{Finding, WeaknessKind, WeaknessRef};
use crate::record::{LabFault, RECORD_VERSION, RecordLine, RecordWriter, content_hash};
use crate::score::{ScoreCard, score};
use crate::telemetry::TelemetryHealth;
pub use mentor::{EXTEND_MAX_S, WHISPER_MAX_CHARS, WHISPER_MAX_COST, Whisper};

/// Session time advanced per tick.
pub const TICK_MS: Millis = 250;
/// Samples of each metric kept for charts (two minutes at one per second).
pub const HISTORY: usize = 120;
/// Log lines kept for the log panel.
pub const RECENT_LOGS: usize = 400;

/// An alert as the trainee sees it: grouped repeats and their verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertEntry {
    pub alert: Alert,
    pub count: u32,
    pub last_ms: Millis,
    pub verdict: Option<Verdict>,
}

/// A mitigation the trainee asked for and what came of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MitigationEntry {
    pub effect: u64,
    pub t_ms: Millis,
    pub mitigation: Mitigation,
    /// `None` while the lab has not confirmed it yet.
    pub result: Option<(bool, String)>,
}

/// What is known of a container from telemetry.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ServiceStatus {
    pub last: Option<Metrics>,
    pub running: bool,
    pub paused: bool,
    pub isolated: bool,
    pub capped: bool,
    /// (session time in seconds, cpu %, memory MiB, pids, net kB/s, requests/s)
    pub history: VecDeque<[f32; 6]>,
    pub requests_this_second: u32,
}

/// A line of the log panel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    pub t_ms: Millis,
    pub service: String,
    pub text: String,
}

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// What the trainee (or a defender) may see of a session: the brief (no attack timeline, no
/// decoys, no answers), alerts, their own commands' results and the hints they paid for. It
/// holds no `Scenario`, so a defender cannot read the ground truth even by mistake.
#[derive(Debug)]
pub struct DefenderView<'a> {
    pub now: Millis,
    pub phase: Phase,
    pub brief: &'a TraineeBrief,
    pub alerts: &'a [AlertEntry],
    pub mitigations: &'a [MitigationEntry],
    pub attributed: &'a [EntityRef],
    pub hints: &'a [Hint],
    /// The lab's posture as last audited (empty before a hardening phase's first audit).
    pub findings: &'a [Finding],
}

impl DefenderView<'_> {
    /// Seconds since the live phase began (negative during the warm-up).
    pub fn live_s(&self, t_ms: Millis) -> f64 {
        self.brief.live_s(t_ms)
    }

    /// The company's topology, as the trainee knows it.
    pub fn topology(&self) -> &Topology {
        &self.brief.topology
    }
}

/// Anything that plays the trainee's part without a window.
pub trait Defender: Send {
    fn decide(&mut self, view: &DefenderView<'_>) -> Vec<Command>;
}

struct Scheduled {
    t_ms: Millis,
    origin: Origin,
    action: Action,
}

/// Every attempt of a list of steps, timed from `base_ms` (the start of the live phase, or the
/// moment a mentor fired an inject), as attack or decoy.
fn schedule(steps: &[Step], hostile: bool, base_ms: Millis) -> impl Iterator<Item = Scheduled> {
    steps.iter().flat_map(move |step| {
        step.attempt_times_s().into_iter().map(move |at| Scheduled {
            t_ms: base_ms + u64::from(at) * 1000,
            origin: if hostile {
                Origin::Attack {
                    step: step.id.clone(),
                }
            } else {
                Origin::Decoy {
                    step: step.id.clone(),
                }
            },
            action: step.action.clone(),
        })
    })
}

/// One running session.
pub struct Session {
    scenario: Arc<Scenario>,
    topology: Arc<Topology>,
    brief: Arc<TraineeBrief>,
    lab: Box<dyn Lab>,
    detector: Detector,
    record: RecordWriter,
    lines: Vec<RecordLine>,
    rng: ChaCha8Rng,
    now: Millis,
    phase: Phase,
    timeline: Vec<Scheduled>,
    next_step: usize,
    next_effect: u64,
    alerts: Vec<AlertEntry>,
    alert_index: BTreeMap<u32, usize>,
    mitigations: Vec<MitigationEntry>,
    attributed: Vec<EntityRef>,
    hints_used: usize,
    /// Ids of the injects a mentor fired, in order.
    injects_fired: Vec<String>,
    whispers: Vec<Whisper>,
    /// How much longer a facilitator made the live phase.
    extended_ms: Millis,
    services: BTreeMap<String, ServiceStatus>,
    logs: VecDeque<LogLine>,
    outputs: Vec<LabOutput>,
    detections: Vec<Detection>,
    final_score: Option<ScoreCard>,
    lab_error: Option<String>,
    /// The lab cannot be reached: why, and for how long so far (wall seconds, as it said).
    held: Option<(String, f64)>,
    /// How well the lab's telemetry reaches the session, per source.
    telemetry: TelemetryHealth,
    /// The moment of the last line the lab yielded, as stamped (lines stay in time order).
    ingested_ms: Millis,
    /// The lab's posture as last audited.
    findings: Vec<Finding>,
    /// Attack attempts the session failed itself (their weakness was fixed): the lab never saw
    /// them, so an outcome for one from the lab (a replay's recorded lab) is not taken again.
    foiled: BTreeSet<u64>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("scenario", &self.scenario.id)
            .field("now", &self.now)
            .field("phase", &self.phase)
            .finish()
    }
}

impl Session {
    /// A session in its briefing; writes the record's header.
    pub fn new(
        scenario: Arc<Scenario>,
        topology: Arc<Topology>,
        lab: Box<dyn Lab>,
        seed: u64,
        record: RecordWriter,
    ) -> Self {
        // A scenario with variants plays the one of this seed. Callers that resolved it
        // already (a seat, to brief the trainee) pass one without variants: nothing changes.
        // Loading checked every variant, so resolving cannot fail here; if it did, the
        // scenario is played as written rather than not at all.
        let scenario = if scenario.variants.is_empty() {
            scenario
        } else {
            crate::format::variants::resolve(&scenario, seed).map_or(scenario, Arc::new)
        };
        let warmup = scenario.live_start_ms();
        let mut timeline: Vec<Scheduled> = schedule(&scenario.attack, true, warmup)
            .chain(schedule(&scenario.decoys, false, warmup))
            .collect();
        timeline.sort_by_key(|s| s.t_ms);
        let services = topology
            .services
            .iter()
            .filter(|s| !s.range_only)
            .map(|s| {
                (
                    s.id.clone(),
                    ServiceStatus {
                        running: true,
                        ..Default::default()
                    },
                )
            })
            .collect();
        let mut session = Session {
            detector: Detector::new(topology.clone(), &scenario),
            brief: Arc::new(TraineeBrief::of(&scenario, &topology)),
            rng: ChaCha8Rng::seed_from_u64(seed),
            scenario,
            topology,
            lab,
            record,
            lines: Vec::new(),
            now: 0,
            phase: Phase::Briefing,
            timeline,
            next_step: 0,
            next_effect: 1,
            alerts: Vec::new(),
            alert_index: BTreeMap::new(),
            mitigations: Vec::new(),
            attributed: Vec::new(),
            hints_used: 0,
            injects_fired: Vec::new(),
            whispers: Vec::new(),
            extended_ms: 0,
            services,
            logs: VecDeque::new(),
            outputs: Vec::new(),
            detections: Vec::new(),
            final_score: None,
            lab_error: None,
            held: None,
            telemetry: TelemetryHealth::default(),
            ingested_ms: 0,
            findings: Vec::new(),
            foiled: BTreeSet::new(),
        };
        let header = RecordLine::Header {
            record_version: RECORD_VERSION,
            seed,
            backend: session.lab.backend(),
            scenario: Box::new((*session.scenario).clone()),
            topology: Box::new((*session.topology).clone()),
            scenario_sha256: Some(content_hash(&*session.scenario)),
            topology_sha256: Some(content_hash(&*session.topology)),
        };
        session.write(header);
        session
    }

    fn write(&mut self, line: RecordLine) {
        self.record.write(&line);
        self.lines.push(line);
    }

    pub fn scenario(&self) -> &Arc<Scenario> {
        &self.scenario
    }

    pub fn topology(&self) -> &Arc<Topology> {
        &self.topology
    }

    /// What the trainee may know of the scenario.
    pub fn brief(&self) -> &Arc<TraineeBrief> {
        &self.brief
    }

    pub fn now(&self) -> Millis {
        self.now
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    pub fn lab(&self) -> &dyn Lab {
        self.lab.as_ref()
    }

    pub fn alerts(&self) -> &[AlertEntry] {
        &self.alerts
    }

    pub fn mitigations(&self) -> &[MitigationEntry] {
        &self.mitigations
    }

    pub fn attributed(&self) -> &[EntityRef] {
        &self.attributed
    }

    pub fn services(&self) -> &BTreeMap<String, ServiceStatus> {
        &self.services
    }

    pub fn logs(&self) -> &VecDeque<LogLine> {
        &self.logs
    }

    pub fn detector(&self) -> &Detector {
        &self.detector
    }

    /// Hints revealed so far, in order.
    pub fn hints(&self) -> &[Hint] {
        &self.scenario.hints[..self.hints_used]
    }

    pub fn hints_left(&self) -> usize {
        self.scenario.hints.len() - self.hints_used
    }

    pub fn record_lines(&self) -> &[RecordLine] {
        &self.lines
    }

    /// At the end: whether every line of the record was written, and if not, why.
    pub fn record_error(&mut self) -> Option<std::io::Error> {
        self.record.take_error()
    }

    /// How the writing of the record stands: lines waiting for the disk, dropped, why.
    pub fn record_health(&self) -> crate::record::RecordHealth {
        self.record.health()
    }

    pub fn lab_error(&self) -> Option<&str> {
        self.lab_error.as_deref()
    }

    /// How long the lab took to come up and, once the session ended, to go down.
    pub fn lab_timings(&self) -> crate::lab::LabTimings {
        self.lab.timings()
    }

    /// When the session ends: the scenario's warm-up and live phase, plus any extension.
    pub fn total_ms(&self) -> Millis {
        self.scenario.total_ms() + self.extended_ms
    }

    /// The final score, once the session is over.
    pub fn score(&self) -> Option<&ScoreCard> {
        self.final_score.as_ref()
    }

    pub fn view(&self) -> DefenderView<'_> {
        DefenderView {
            now: self.now,
            phase: self.phase,
            brief: &self.brief,
            alerts: &self.alerts,
            mitigations: &self.mitigations,
            attributed: &self.attributed,
            hints: self.hints(),
            findings: &self.findings,
        }
    }

    /// Leave the briefing: the hardening phase (if the scenario has one) or the warm-up starts
    /// at session time 0. A hardening phase starts with an audit of the lab.
    pub fn begin(&mut self) {
        if self.phase == Phase::Briefing {
            if self.scenario.hardening.is_some() {
                self.set_phase(Phase::Hardening);
                self.audit();
            } else {
                self.set_phase(Phase::Warmup);
            }
        }
    }

    /// Audit the lab's posture now: what the trainee sees as findings, and a `posture` line.
    /// An audit that fails leaves the last one standing, and says why in the lab's error.
    fn audit(&mut self) {
        match self.lab.audit() {
            Ok(findings) => {
                self.findings = findings;
                self.write(RecordLine::Posture {
                    t_ms: self.now,
                    findings: self.findings.clone(),
                });
            }
            Err(e) => self.lab_error = Some(format!("the lab could not be audited: {e}")),
        }
    }

    /// The lab's posture as last audited.
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }

    /// The weakness a scheduled attack attempt depends on, when the trainee's confirmed fix
    /// has removed it.
    fn fixed_weakness(&self, origin: &Origin) -> Option<WeaknessRef> {
        let Origin::Attack { step } = origin else {
            return None;
        };
        let exploits = self.scenario.step(step)?.exploits.as_ref()?;
        self.mitigations
            .iter()
            .any(|m| {
                m.result.as_ref().is_some_and(|(ok, _)| *ok)
                    && m.mitigation
                        == Mitigation::Fix {
                            service: exploits.service.clone(),
                            weakness: exploits.weakness,
                        }
            })
            .then(|| exploits.clone())
    }

    /// An attack attempt whose weakness was fixed: recorded, and failed at once with the
    /// reason, without reaching the lab.
    fn foil(&mut self, t_ms: Millis, origin: Origin, action: Action, fixed: WeaknessRef) {
        let effect = Effect {
            id: self.next_effect,
            origin,
            kind: EffectKind::Act(action),
        };
        self.next_effect += 1;
        let id = effect.id;
        self.foiled.insert(id);
        self.write(RecordLine::Effect { t_ms, effect });
        self.write(RecordLine::Outcome(Outcome {
            t_ms,
            effect: id,
            ok: false,
            records: 0,
            detail: format!("it needs {fixed}, which the trainee fixed"),
            cause: Some(Cause::Fixed {
                service: fixed.service,
                weakness: fixed.weakness,
            }),
        }));
    }

    fn set_phase(&mut self, phase: Phase) {
        self.phase = phase;
        self.write(RecordLine::Phase {
            t_ms: self.now,
            phase,
        });
        if phase == Phase::Live {
            self.detector.start_detecting();
        }
    }

    pub fn is_over(&self) -> bool {
        self.phase == Phase::Debrief
    }

    /// Advance one tick. Returns false once the session is over.
    pub fn tick(&mut self) -> bool {
        match self.phase {
            Phase::Briefing => {
                self.begin();
                return true;
            }
            Phase::Debrief => return false,
            _ => {}
        }
        if let Some(more) = self.lab_holds() {
            return more;
        }
        let until = self.now + TICK_MS;
        self.benign_traffic(until);
        while self
            .timeline
            .get(self.next_step)
            .is_some_and(|s| s.t_ms < until)
        {
            let s = &self.timeline[self.next_step];
            let (t, origin, action) = (s.t_ms, s.origin.clone(), s.action.clone());
            self.next_step += 1;
            match self.fixed_weakness(&origin) {
                Some(fixed) => self.foil(t, origin, action, fixed),
                None => {
                    self.issue(t, origin, EffectKind::Act(action));
                }
            }
        }
        let mut outputs = std::mem::take(&mut self.outputs);
        self.lab.advance(until, &mut outputs);
        for output in outputs.drain(..) {
            self.ingest(output, until);
        }
        self.outputs = outputs;
        self.now = until;
        if self.phase == Phase::Hardening && self.now >= self.scenario.hardening_ms() {
            // What the trainee goes into the warm-up with, as the lab stands now.
            self.audit();
            self.set_phase(Phase::Warmup);
        }
        if self.phase == Phase::Warmup && self.now >= self.scenario.live_start_ms() {
            self.set_phase(Phase::Live);
        }
        if self.now >= self.total_ms() {
            self.finish();
            return false;
        }
        true
    }

    /// Ask the lab whether it can go on before a tick. One that cannot be reached holds the
    /// session's clock (the tick does nothing: `Some(true)`); one lost past its limit ends the
    /// session with a partial card (`Some(false)`). Each change is a `fault` line.
    fn lab_holds(&mut self) -> Option<bool> {
        match self.lab.health() {
            LabHealth::Up => {
                if let Some((_, held_s)) = self.held.take() {
                    self.write_fault(LabFault::Resumed { held_s });
                }
                None
            }
            LabHealth::Held { why, for_s } => {
                if self.held.is_none() {
                    self.write_fault(LabFault::Held { why: why.clone() });
                }
                self.held = Some((why, for_s));
                Some(true)
            }
            LabHealth::Lost { why } => {
                self.held = None;
                self.write_fault(LabFault::Lost { why });
                self.finish();
                Some(false)
            }
        }
    }

    fn write_fault(&mut self, fault: LabFault) {
        self.write(RecordLine::Fault {
            t_ms: self.now,
            fault,
        });
    }

    /// How well the lab's telemetry reaches the session, per source.
    pub fn telemetry(&self) -> &TelemetryHealth {
        &self.telemetry
    }

    /// Why the lab cannot be reached, while the session holds its clock for it.
    pub fn held(&self) -> Option<&str> {
        self.held.as_ref().map(|(why, _)| why.as_str())
    }

    /// End the session now (normally at the end of the live phase): score it and tear down.
    pub fn finish(&mut self) {
        if self.phase == Phase::Debrief {
            return;
        }
        self.set_phase(Phase::Debrief);
        if let Err(e) = self.lab.shutdown() {
            self.lab_error = Some(e);
        }
        self.final_score = Some(score(&self.scenario, &self.topology, &self.lines, None));
    }

    fn issue(&mut self, t_ms: Millis, origin: Origin, kind: EffectKind) -> u64 {
        let effect = Effect {
            id: self.next_effect,
            origin,
            kind,
        };
        self.next_effect += 1;
        self.lab.apply(t_ms, &effect);
        let id = effect.id;
        self.write(RecordLine::Effect { t_ms, effect });
        id
    }

    /// Benign users and visitors: Poisson arrivals drawn from the session's seed.
    fn benign_traffic(&mut self, until: Millis) {
        let dt = (until - self.now) as f32 / 1000.0;
        let scenario = self.scenario.clone();
        for user in &scenario.traffic.users {
            let n = poisson(&mut self.rng, user.per_minute / 60.0 * dt);
            for _ in 0..n {
                let t = self.now + self.rng.random_range(0..until - self.now);
                // Most of a user's traffic comes from their first (usual) source.
                let source = if user.sources.len() > 1 && self.rng.random::<f32>() < 0.2 {
                    user.sources[self.rng.random_range(1..user.sources.len())].clone()
                } else {
                    user.sources[0].clone()
                };
                let action = if !user.reads.is_empty()
                    && (user.endpoints.is_empty() || self.rng.random::<f32>() < 0.3)
                {
                    let habit = &user.reads[self.rng.random_range(0..user.reads.len())];
                    Action::ReadData {
                        identity: user.identity.clone(),
                        source,
                        dataset: habit.dataset.clone(),
                        records: self.rng.random_range(habit.records.0..=habit.records.1),
                        via: user.via.clone(),
                    }
                } else if !user.endpoints.is_empty() {
                    Action::Request {
                        identity: Some(user.identity.clone()),
                        source,
                        endpoint: user.endpoints[self.rng.random_range(0..user.endpoints.len())]
                            .clone(),
                        via: user.via.clone(),
                    }
                } else {
                    continue;
                };
                self.issue(t, Origin::Benign, EffectKind::Act(action));
            }
        }
        let visitors = &scenario.traffic.visitors;
        if !visitors.sources.is_empty() && !visitors.endpoints.is_empty() {
            let n = poisson(&mut self.rng, visitors.per_second * dt);
            for _ in 0..n {
                let t = self.now + self.rng.random_range(0..until - self.now);
                let source = &visitors.sources[self.rng.random_range(0..visitors.sources.len())];
                let endpoint =
                    &visitors.endpoints[self.rng.random_range(0..visitors.endpoints.len())];
                let action = Action::Request {
                    identity: None,
                    source: source.clone(),
                    endpoint: endpoint.clone(),
                    via: visitors.via.clone(),
                };
                self.issue(t, Origin::Benign, EffectKind::Act(action));
            }
        }
        // Last, so that scenarios without internal flows draw exactly what they always drew.
        for flow in &scenario.traffic.internal {
            let n = poisson(&mut self.rng, flow.per_minute / 60.0 * dt);
            for _ in 0..n {
                let t = self.now + self.rng.random_range(0..until - self.now);
                let action = Action::Pivot {
                    from: flow.from.clone(),
                    to: flow.to.clone(),
                    endpoint: flow.endpoint.clone(),
                };
                self.issue(t, Origin::Benign, EffectKind::Act(action));
            }
        }
    }

    /// Take in what the lab yielded on the way from `self.now` to `until`.
    fn ingest(&mut self, mut output: LabOutput, until: Millis) {
        // How late it came is measured from its own moment; then, so that the record stays in
        // time order, a late line is stamped no earlier than the last one taken in.
        let late = match &output {
            LabOutput::Observation(obs) => self.telemetry.observe(obs, self.now, until),
            _ => None,
        };
        let t = output.t_ms().max(self.ingested_ms);
        output.set_t_ms(t);
        self.ingested_ms = t;
        match output {
            LabOutput::Observation(obs) => {
                self.track(&obs);
                let mut detections = std::mem::take(&mut self.detections);
                self.detector.observe(&obs, &mut detections);
                self.write(RecordLine::Observation(obs));
                for d in detections.drain(..) {
                    self.detection(d, late);
                }
                self.detections = detections;
            }
            LabOutput::Outcome(outcome) if self.foiled.contains(&outcome.effect) => {}
            LabOutput::Outcome(outcome) => {
                let mut fixed = false;
                if let Some(m) = self
                    .mitigations
                    .iter_mut()
                    .find(|m| m.effect == outcome.effect)
                {
                    m.result = Some((outcome.ok, outcome.detail.clone()));
                    fixed = outcome.ok && matches!(m.mitigation, Mitigation::Fix { .. });
                }
                self.write(RecordLine::Outcome(outcome));
                // A confirmed fix is checked by a fresh audit, which the trainee sees.
                if fixed {
                    self.audit();
                }
            }
            LabOutput::Fault { t_ms, fault } => self.write(RecordLine::Fault { t_ms, fault }),
        }
    }

    /// A detection of an observation that reached the session `late` ms after its moment.
    fn detection(&mut self, d: Detection, late: Option<Millis>) {
        match d {
            Detection::New(mut alert) => {
                alert.late_ms = late;
                self.alert_index.insert(alert.id, self.alerts.len());
                self.alerts.push(AlertEntry {
                    count: 1,
                    last_ms: alert.t_ms,
                    verdict: None,
                    alert: (*alert).clone(),
                });
                self.write(RecordLine::Alert(*alert));
            }
            Detection::Repeat { alert, count, t_ms } => {
                if let Some(&i) = self.alert_index.get(&alert) {
                    self.alerts[i].count = count;
                    self.alerts[i].last_ms = t_ms;
                }
            }
        }
    }

    /// Keep the trainee's picture of each container current.
    fn track(&mut self, obs: &Observation) {
        match &obs.body {
            ObservationBody::Metrics(m) => {
                if let Some(s) = self.services.get_mut(&m.service) {
                    let rps = std::mem::take(&mut s.requests_this_second) as f32;
                    s.history.push_back([
                        obs.t_ms as f32 / 1000.0,
                        m.cpu_pct,
                        m.memory_mib,
                        m.pids as f32,
                        m.net_rx_kbps + m.net_tx_kbps,
                        rps,
                    ]);
                    if s.history.len() > HISTORY {
                        s.history.pop_front();
                    }
                    s.last = Some(m.clone());
                }
            }
            ObservationBody::Event(e) => {
                if let Some(s) = self.services.get_mut(e.service()) {
                    match e {
                        LogEvent::Request { .. } => s.requests_this_second += 1,
                        LogEvent::Flow { requests, .. } => s.requests_this_second += requests,
                        LogEvent::Lifecycle { state, .. } => match state {
                            LifecycleState::Started | LifecycleState::Restored => {
                                s.running = true;
                                s.paused = false;
                            }
                            LifecycleState::Stopped
                            | LifecycleState::OomKilled
                            | LifecycleState::Died => s.running = false,
                            LifecycleState::Paused => s.paused = true,
                            LifecycleState::Unpaused => s.paused = false,
                            LifecycleState::Isolated => s.isolated = true,
                            LifecycleState::Reconnected => s.isolated = false,
                            LifecycleState::Capped => s.capped = true,
                        },
                        _ => {}
                    }
                }
                // Anonymous storefront hits and flow lines would bury the log panel.
                let noisy = matches!(
                    e,
                    LogEvent::Request {
                        identity: None,
                        status: 200,
                        ..
                    }
                ) || matches!(
                    e,
                    LogEvent::Flow {
                        denied: 0,
                        errors: 0,
                        ..
                    }
                );
                if !noisy {
                    self.logs.push_back(LogLine {
                        t_ms: obs.t_ms,
                        service: e.service().to_string(),
                        text: e.summary(),
                    });
                    if self.logs.len() > RECENT_LOGS {
                        self.logs.pop_front();
                    }
                }
            }
        }
    }

    /// Take a command from the trainee. Refused commands are recorded with the reason. A
    /// triage that names its alert by rule and entity is recorded with the alert's number.
    pub fn submit(&mut self, command: Command) -> Result<(), Refused> {
        let command = self.resolve(command);
        let checked = self.check(&command);
        self.write(RecordLine::Command {
            t_ms: self.now,
            command: command.clone(),
            refused: checked.as_ref().err().map(|r| r.0.clone()),
        });
        checked?;
        match command {
            Command::Triage { alert, verdict } => {
                if let Some(&i) = alert.id().and_then(|id| self.alert_index.get(&id)) {
                    self.alerts[i].verdict = Some(verdict);
                }
            }
            Command::Attribute { entity } => self.attributed.push(entity),
            Command::Mitigate(m) => {
                let effect =
                    self.issue(self.now, Origin::Defender, EffectKind::Mitigate(m.clone()));
                self.mitigations.push(MitigationEntry {
                    effect,
                    t_ms: self.now,
                    mitigation: m,
                    result: None,
                });
            }
            Command::Hint => self.hints_used += 1,
        }
        Ok(())
    }

    fn check(&self, command: &Command) -> Result<(), Refused> {
        let refuse = |s: String| Err(Refused(s));
        let fix = matches!(command, Command::Mitigate(Mitigation::Fix { .. }));
        if self.phase == Phase::Hardening && !fix {
            return refuse(
                "the hardening phase takes fixes only; triage and mitigate in the live phase"
                    .into(),
            );
        }
        if self.phase != Phase::Live && self.phase != Phase::Hardening {
            return refuse(format!(
                "the {} phase takes no commands; wait for the live phase",
                self.phase.title().to_lowercase()
            ));
        }
        if let (Command::Mitigate(_), Some(why)) = (command, self.held()) {
            return refuse(format!(
                "the lab cannot be reached ({why}); mitigate again once it answers"
            ));
        }
        match command {
            Command::Triage { alert, verdict } => {
                match alert.id().and_then(|id| self.alert_index.get(&id)) {
                    None if alert.id().is_none() => {
                        refuse(format!("no alert matches {alert} (yet)"))
                    }
                    None => refuse(format!("there is no alert {alert}")),
                    Some(&i) if self.alerts[i].verdict == Some(*verdict) => refuse(format!(
                        "alert {alert} is already triaged as {}",
                        verdict.word()
                    )),
                    Some(_) => Ok(()),
                }
            }
            Command::Attribute { entity } => {
                if self.attributed.contains(entity) {
                    return refuse(format!("{entity} is already attributed"));
                }
                self.check_entity(entity)
            }
            Command::Mitigate(m) => self.check_mitigation(m),
            Command::Hint => {
                if self.hints_left() == 0 {
                    refuse("no hints left".into())
                } else {
                    Ok(())
                }
            }
        }
    }

    /// A mitigation must name something there is (a route through a firewall, a zone the
    /// service sits in, a finding of the last audit) with limits in range.
    fn check_mitigation(&self, m: &Mitigation) -> Result<(), Refused> {
        let refuse = |s: String| Err(Refused(s));
        if let Mitigation::Segment { from_zone, to_zone }
        | Mitigation::Unsegment { from_zone, to_zone } = m
        {
            let between = crate::reach::firewalls_between(&self.topology, from_zone, to_zone);
            if from_zone == to_zone || between.count() == 0 {
                return refuse(format!(
                    "no firewall stands between {from_zone} and {to_zone}: there is no route to close"
                ));
            }
        }
        if let Mitigation::Detach { service, zone } | Mitigation::Attach { service, zone } = m
            && let Some(s) = self.topology.service(service)
            && !s.range_only
            && !s.zones.contains(zone)
        {
            return refuse(format!(
                "{service} has no network in {zone}: it sits in {}",
                s.zones.join(", ")
            ));
        }
        if let Mitigation::Cap {
            cpu_cores,
            memory_mib,
            pids,
            ..
        } = m
        {
            if cpu_cores.is_none() && memory_mib.is_none() && pids.is_none() {
                return refuse("a cap needs at least one limit".into());
            }
            if cpu_cores.is_some_and(|c| !(0.05..=16.0).contains(&c))
                || memory_mib.is_some_and(|m| !(8..=65536).contains(&m))
                || pids.is_some_and(|p| !(8..=32768).contains(&p))
            {
                return refuse(
                    "cap out of range: cpu 0.05-16 cores, memory 8-65536 MiB, pids 8-32768".into(),
                );
            }
        }
        if let Mitigation::Fix { service, weakness } = m {
            self.check_fix(service, *weakness)?;
        }
        self.check_entity(&m.target())
    }

    /// A fix must name something the last audit found, and not one already asked for.
    fn check_fix(&self, service: &str, weakness: WeaknessKind) -> Result<(), Refused> {
        let found = (self.findings.iter()).any(|f| f.service == service && f.weakness == weakness);
        if !found {
            return Err(Refused(format!(
                "the audit found no \"{weakness}\" on {service}: nothing to fix"
            )));
        }
        let asked = Mitigation::Fix {
            service: service.to_string(),
            weakness,
        };
        let pending = (self.mitigations.iter())
            .any(|m| m.mitigation == asked && m.result.as_ref().is_none_or(|(ok, _)| *ok));
        if pending {
            return Err(Refused(format!(
                "{service}'s \"{weakness}\" is already being fixed"
            )));
        }
        Ok(())
    }

    /// A triage by rule and entity becomes a triage of the first such alert raised so far.
    fn resolve(&self, command: Command) -> Command {
        match command {
            Command::Triage {
                alert: AlertRef::Match { rule, entity },
                verdict,
            } => {
                let found = self
                    .alerts
                    .iter()
                    .find(|a| a.alert.rule == rule && a.alert.entity == entity);
                Command::Triage {
                    alert: match found {
                        Some(a) => AlertRef::Id(a.alert.id),
                        None => AlertRef::Match { rule, entity },
                    },
                    verdict,
                }
            }
            other => other,
        }
    }

    fn check_entity(&self, entity: &EntityRef) -> Result<(), Refused> {
        match entity {
            EntityRef::Service(id) => match self.topology.service(id) {
                Some(s) if !s.range_only => Ok(()),
                _ => Err(Refused(format!("no company service \"{id}\""))),
            },
            EntityRef::Identity(id) => match self.topology.identity(id) {
                Some(_) => Ok(()),
                None => Err(Refused(format!("no identity \"{id}\""))),
            },
            EntityRef::Source(s) => match s.parse::<std::net::Ipv4Addr>() {
                Ok(_) => Ok(()),
                Err(_) => Err(Refused(format!("\"{s}\" is not an IPv4 source address"))),
            },
            EntityRef::Zone(id) => match self.topology.zone(id) {
                Some(z) if !z.outside => Ok(()),
                _ => Err(Refused(format!("no company zone \"{id}\""))),
            },
        }
    }

    /// Play the whole session with a defender, as fast as the lab allows. Refused commands
    /// are in the record and on the score card; the run goes on.
    pub fn run(
        &mut self,
        defender: &mut dyn Defender,
        mut on_tick: impl FnMut(&Session),
    ) -> ScoreCard {
        self.begin();
        loop {
            // While the lab cannot be reached its mitigations would be refused: wait for it.
            if self.held().is_none() {
                self.consult(defender);
            }
            let more = self.tick();
            on_tick(self);
            if !more {
                break;
            }
        }
        self.final_score
            .clone()
            .unwrap_or_else(|| score(&self.scenario, &self.topology, &self.lines, None))
    }
}

impl Session {
    /// Ask a defender what to do now and submit it; returns the refusals, with why.
    pub fn consult(&mut self, defender: &mut dyn Defender) -> Vec<(Command, Refused)> {
        let commands = defender.decide(&self.view());
        commands
            .into_iter()
            .filter_map(|c| self.submit(c.clone()).err().map(|why| (c, why)))
            .collect()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Labs clean up after themselves even when a session is abandoned midway.
        let _ = self.lab.shutdown();
    }
}

/// Draw from a Poisson distribution (Knuth; the rates here are small).
fn poisson(rng: &mut ChaCha8Rng, lambda: f32) -> u32 {
    if lambda <= 0.0 {
        return 0;
    }
    let l = (-lambda).exp();
    let mut k = 0;
    let mut p = 1.0f32;
    loop {
        p *= rng.random::<f32>();
        if p <= l || k > 1000 {
            return k;
        }
        k += 1;
    }
}
