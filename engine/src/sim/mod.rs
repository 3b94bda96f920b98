//! `SimLab`: a deterministic, seeded model of the lab in virtual time. It carries out the same
//! effects and emits the same observations as a real lab: services with resource use and
//! contention, the gateway with block rules and flow logs, web logins, sessions, API keys and
//! data, containers that can be isolated, capped, paused, stopped and restarted.
//!
//! The model is split the way labd splits the real lab, so the two read side by side:
//! `network` (the gateway: reaching web, block rules, floods, flow logs, isolation), `identity`
//! (web's logins, sessions, API keys, data reads, revocation), `workload` (containers: jobs,
//! execs, CPU contention, memory, OOM, pause, stop, restart, caps) and `metrics` (what each
//! container reports once a second) and `movement` (code in one service reaching another:
//! pivots, scans, the firewalls between zones and their segmentations).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::action::{Action, Cause, Effect, EffectKind, Mitigation, Origin, Outcome};
use crate::format::scenario::{Scenario, Weakness};
use crate::format::topology::{Limits, Role, Topology};
use crate::lab::{Backend, Lab, LabOutput, Pacing};
use crate::observation::{LifecycleState, LogEvent, Millis, Observation, ObservationBody};
use crate::posture::{Finding, WeaknessKind};

mod identity;
mod metrics;
mod movement;
mod network;
pub use network::ISOLATED_NOT_ATTACHED;
mod workload;

/// CPU of the host all containers share, in percent of one core.
const HOST_CPU_PCT: f32 = 200.0;
/// Requests per second the web tier serves before it saturates.
const WEB_CAPACITY_RPS: f32 = 150.0;
/// How long a request takes through the gateway, for log timestamps.
const HOP_MS: Millis = 15;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RunState {
    Running,
    Paused,
    Stopped,
}

#[derive(Debug, Clone)]
struct Job {
    effect: u64,
    until: Millis,
    cpu_pct: f32,
    memory_mib: f32,
    threads: u32,
    /// Whether the job is an attack (its outcome is reported every second).
    hostile: bool,
}

#[derive(Debug, Clone)]
struct SimService {
    id: String,
    role: Role,
    range_only: bool,
    /// What the service should use (the topology's hardened limits).
    declared: Limits,
    /// What the kernel enforces now (`None` fields: unlimited).
    enforced: (Option<f32>, Option<u32>, Option<u32>),
    state: RunState,
    isolated: bool,
    /// Zones whose network the trainee disconnected it from (it keeps its others).
    detached: BTreeSet<String>,
    /// Whether the trainee has capped it: only then is a hog held down credited to a cap.
    capped: bool,
    /// Whether it is stopped because the kernel killed it out of memory (not a trainee's stop).
    oom_killed: bool,
    base_cpu: f32,
    base_memory: f32,
    base_pids: u32,
    jobs: Vec<Job>,
    memory_now: f32,
    rx_bytes: f32,
    tx_bytes: f32,
    cpu_now: f32,
    /// A web tier's requests this second, and the share of them it can serve (starved of CPU
    /// or of capacity, it drops requests).
    requests_this_second: u32,
    health: f32,
    /// What it needs from its container (`Scenario::needs_of`), and the weakness whose fix
    /// took one of those away: it then runs, but refuses its work (labd's "degraded").
    needs: Vec<String>,
    lacking: Option<WeaknessKind>,
}

impl SimService {
    /// Why it refuses its work, if a fix took what it needs: the fix's collateral. A missing
    /// tool fails only the jobs that run it (`job_refusal`).
    fn refusal(&self) -> Option<Cause> {
        self.job_refusal().filter(|_| {
            self.lacking
                .is_some_and(WeaknessKind::lack_stops_the_service)
        })
    }

    /// Why it refuses to run its own jobs: whatever a fix took that it needs.
    fn job_refusal(&self) -> Option<Cause> {
        (self.lacking).map(|weakness| Cause::Fixed {
            service: self.id.clone(),
            weakness,
        })
    }

    fn reachable(&self) -> bool {
        self.state == RunState::Running && !self.isolated
    }

    /// Why the service does not answer (meaningful only when it is not `reachable`). A stopped
    /// or paused container is named for its state first: that is what would have to be undone.
    fn down_cause(&self) -> Cause {
        let service = self.id.clone();
        match self.state {
            RunState::Stopped if self.oom_killed => Cause::OomKilled { service },
            RunState::Stopped => Cause::Stopped { service },
            RunState::Paused => Cause::Paused { service },
            RunState::Running if self.isolated => Cause::Isolated { service },
            RunState::Running => Cause::Lab,
        }
    }

    /// Whether a limit the kernel enforces now holds the jobs below what they ask for.
    fn clipped(&self) -> bool {
        let want_cpu = self.base_cpu + self.jobs.iter().map(|j| j.cpu_pct).sum::<f32>();
        let want_pids = self.base_pids + self.jobs.iter().map(|j| j.threads).sum::<u32>();
        self.enforced.0.is_some_and(|c| want_cpu > c * 100.0)
            || self.enforced.2.is_some_and(|p| want_pids > p)
    }

    fn demand_cpu(&self) -> f32 {
        if self.state != RunState::Running {
            return 0.0;
        }
        let want = self.base_cpu + self.jobs.iter().map(|j| j.cpu_pct).sum::<f32>();
        match self.enforced.0 {
            Some(cores) => want.min(cores * 100.0),
            None => want,
        }
    }

    fn pids(&self) -> u32 {
        if self.state == RunState::Stopped {
            return 0;
        }
        let want = self.base_pids + self.jobs.iter().map(|j| j.threads).sum::<u32>();
        self.enforced.2.map_or(want, |cap| want.min(cap))
    }
}

#[derive(Debug, Clone)]
struct ApiKey {
    id: String,
    identity: String,
    hostile: bool,
    revoked: bool,
    /// The web tier that issued it (and the only one that knows it).
    web: usize,
}

/// The way in for a request: the gateway and the web tier behind it (indices of services).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Door {
    gateway: usize,
    web: usize,
}

/// A running flood: its effect, source, rate, end and endpoint, and the door it hammers.
#[derive(Debug, Clone)]
struct Flood {
    effect: u64,
    source: String,
    rps: u32,
    until: Millis,
    endpoint: String,
    door: Door,
}

#[derive(Debug, Clone, Copy, Default)]
struct FlowCount {
    requests: u32,
    denied: u32,
    errors: u32,
}

/// The embedded simulated lab.
pub struct SimLab {
    topology: Arc<Topology>,
    rng: ChaCha8Rng,
    now: Millis,
    services: Vec<SimService>,
    revoked: BTreeSet<String>,
    /// Logged-in sessions: (hostile actor?, identity, web tier).
    sessions: BTreeSet<(bool, String, usize)>,
    keys: Vec<ApiKey>,
    blocked: BTreeSet<String>,
    /// Routes closed by the trainee: (from zone, to zone).
    segments: BTreeSet<(String, String)>,
    floods: Vec<Flood>,
    queue: Vec<(Millis, u64, LabOutput)>,
    seq: u64,
    next_tick: Millis,
    /// This second's requests per (gateway, source).
    flows: BTreeMap<(usize, String), FlowCount>,
    /// The scenario's weaknesses not fixed yet: what an audit finds.
    weaknesses: Vec<Weakness>,
}

impl std::fmt::Debug for SimLab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimLab").field("now", &self.now).finish()
    }
}

fn base_load(role: Role) -> (f32, f32, u32) {
    match role {
        Role::Gateway => (3.0, 14.0, 6),
        Role::Firewall => (2.0, 12.0, 5),
        Role::Web => (5.0, 38.0, 9),
        Role::Datastore => (2.5, 52.0, 7),
        Role::Worker => (4.0, 24.0, 5),
        Role::Traffic | Role::Attacker => (1.0, 8.0, 3),
    }
}

impl SimLab {
    pub fn new(topology: Arc<Topology>, scenario: &Scenario, seed: u64) -> Self {
        // Only missing limits change what the simulated lab does (a hog runs unchecked).
        let unlimited: BTreeSet<&str> = scenario
            .weaknesses
            .iter()
            .filter_map(|w| match w {
                Weakness::NoLimits { service } => Some(service.as_str()),
                _ => None,
            })
            .collect();
        let services = topology
            .services
            .iter()
            .map(|s| {
                let (cpu, mem, pids) = base_load(s.role);
                let enforced = if unlimited.contains(s.id.as_str()) {
                    (None, None, None)
                } else {
                    (
                        Some(s.limits.cpu_cores),
                        Some(s.limits.memory_mib),
                        Some(s.limits.pids),
                    )
                };
                SimService {
                    id: s.id.clone(),
                    role: s.role,
                    range_only: s.range_only,
                    declared: s.limits,
                    enforced,
                    state: RunState::Running,
                    isolated: false,
                    detached: BTreeSet::new(),
                    capped: false,
                    oom_killed: false,
                    base_cpu: cpu,
                    base_memory: mem,
                    base_pids: pids,
                    jobs: Vec::new(),
                    memory_now: mem,
                    rx_bytes: 0.0,
                    tx_bytes: 0.0,
                    cpu_now: cpu,
                    requests_this_second: 0,
                    health: 1.0,
                    needs: scenario.needs_of(&s.id),
                    lacking: None,
                }
            })
            .collect();
        SimLab {
            topology,
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x5EED_51AB),
            now: 0,
            services,
            revoked: BTreeSet::new(),
            sessions: BTreeSet::new(),
            keys: Vec::new(),
            blocked: BTreeSet::new(),
            segments: BTreeSet::new(),
            floods: Vec::new(),
            queue: Vec::new(),
            seq: 0,
            next_tick: 1000,
            flows: BTreeMap::new(),
            weaknesses: scenario.weaknesses.clone(),
        }
    }

    fn idx(&self, id: &str) -> Option<usize> {
        self.services.iter().position(|s| s.id == id)
    }

    fn role_idx(&self, role: Role) -> usize {
        self.services
            .iter()
            .position(|s| s.role == role)
            .unwrap_or(0)
    }

    fn push(&mut self, t: Millis, out: LabOutput) {
        self.seq += 1;
        self.queue.push((t, self.seq, out));
    }

    fn observe(&mut self, t: Millis, e: LogEvent) {
        self.push(
            t,
            LabOutput::Observation(Observation {
                t_ms: t,
                body: ObservationBody::Event(e),
            }),
        );
    }

    fn outcome(
        &mut self,
        t: Millis,
        effect: u64,
        ok: bool,
        records: u32,
        detail: impl Into<String>,
    ) {
        self.push(
            t,
            LabOutput::Outcome(Outcome {
                t_ms: t,
                effect,
                ok,
                records,
                detail: detail.into(),
                cause: None,
            }),
        );
    }

    /// A failed attempt and why it failed.
    fn failed(&mut self, t: Millis, effect: u64, detail: impl Into<String>, cause: Cause) {
        self.push(
            t,
            LabOutput::Outcome(Outcome {
                t_ms: t,
                effect,
                ok: false,
                records: 0,
                detail: detail.into(),
                cause: Some(cause),
            }),
        );
    }

    /// Why a job cannot run in (or exec cannot enter) a container that is not running.
    fn not_running(&mut self, t: Millis, effect: u64, i: usize) {
        let cause = self.services[i].down_cause();
        self.failed(t, effect, "container is not running", cause);
    }

    /// The way in to web tier `via` (the only one when `None`), as the topology declares it.
    fn door(&self, via: Option<&str>) -> Option<Door> {
        let (gateway, web) = self.topology.front_door(via)?;
        Some(Door {
            gateway: self.idx(&gateway.id)?,
            web: self.idx(&web.id)?,
        })
    }

    /// The datastore behind web tier `web`.
    fn store_behind(&self, web: usize) -> Option<usize> {
        let web = self.topology.service(&self.services[web].id)?;
        self.idx(&self.topology.upstream_of(web)?.id)
    }

    fn lifecycle(&mut self, t: Millis, i: usize, state: LifecycleState) {
        let service = self.services[i].id.clone();
        self.observe(t, LogEvent::Lifecycle { service, state });
    }

    /// Carry out an action of an actor (`hostile`: the attacker) one hop from now.
    fn act(&mut self, effect: u64, hostile: bool, action: &Action) {
        let t = self.now + HOP_MS;
        match action {
            a if a.through_front_door() => self.act_at_door(t, effect, hostile, a),
            Action::Exec {
                service,
                identity,
                command,
            } => self.exec(t, effect, service, identity, command),
            Action::Hog {
                service,
                cpu_workers,
                memory_mib,
                threads,
                seconds,
            } => {
                let job = Job {
                    effect,
                    until: self.now + u64::from(*seconds) * 1000,
                    cpu_pct: *cpu_workers as f32 * 100.0,
                    memory_mib: *memory_mib as f32,
                    threads: *threads,
                    hostile,
                };
                self.start_job(t, effect, service, job);
            }
            Action::Backup { service, seconds } => {
                let job = Job {
                    effect,
                    until: self.now + u64::from(*seconds) * 1000,
                    cpu_pct: 70.0,
                    memory_mib: 96.0,
                    threads: 2,
                    hostile,
                };
                self.start_job(t, effect, service, job);
            }
            Action::Pivot { from, to, endpoint } => self.pivot(t, effect, from, to, endpoint),
            Action::Scan { from, zone } => self.scan(t, effect, from, zone),
            Action::Exfiltrate { from, to, bytes } => self.exfiltrate(t, effect, from, to, *bytes),
            _ => {}
        }
    }

    /// An action through the front door, to the web tier it names.
    fn act_at_door(&mut self, t: Millis, effect: u64, hostile: bool, action: &Action) {
        let Some(door) = self.door(action.via()) else {
            let why = format!("no way in to web tier {}", action.via().unwrap_or("(none)"));
            return self.failed(t, effect, why, Cause::Lab);
        };
        match action {
            Action::Login {
                identity, source, ..
            } => self.login(t, effect, (hostile, door), identity, source),
            Action::Request {
                identity,
                source,
                endpoint,
                ..
            } => {
                let request = (identity.as_deref(), source.as_str(), endpoint.as_str());
                self.request(t, effect, (hostile, door), request);
            }
            Action::ReadData {
                identity,
                source,
                dataset,
                records,
                ..
            } => {
                let read = (identity.as_str(), dataset.as_str(), *records);
                self.read_data(t, effect, (hostile, door), source, read);
            }
            Action::CreateKey {
                identity, source, ..
            } => self.create_key(t, effect, (hostile, door), identity, source),
            Action::Flood {
                source,
                rps,
                seconds,
                endpoint,
                ..
            } => self.floods.push(Flood {
                effect,
                source: source.clone(),
                rps: *rps,
                until: self.now + u64::from(*seconds) * 1000,
                endpoint: endpoint.clone(),
                door,
            }),
            _ => {}
        }
    }

    fn mitigate(&mut self, effect: u64, m: &Mitigation) {
        let t = self.now + 40;
        let result = self.try_mitigate(t, m);
        match result {
            Ok(detail) => self.outcome(t, effect, true, 0, detail),
            Err(detail) => self.outcome(t, effect, false, 0, detail),
        }
    }

    /// Apply a mitigation: `Ok(what it did)`, or `Err(why not)` when it does not apply.
    fn try_mitigate(&mut self, t: Millis, m: &Mitigation) -> Result<String, String> {
        match m {
            Mitigation::Revoke { identity } => return self.revoke(t, identity),
            Mitigation::Block { source } => return self.block(source),
            Mitigation::Unblock { source } => return self.unblock(source),
            Mitigation::Segment { from_zone, to_zone } => return self.segment(from_zone, to_zone),
            Mitigation::Unsegment { from_zone, to_zone } => {
                return self.unsegment(from_zone, to_zone);
            }
            _ => {}
        }
        let target = m.target();
        let i = self
            .idx(target.name())
            .ok_or_else(|| format!("no container {}", target.name()))?;
        match m {
            Mitigation::Isolate { .. } => self.isolate(t, i),
            Mitigation::Reconnect { .. } => self.reconnect(t, i),
            Mitigation::Detach { zone, .. } => self.detach(i, zone),
            Mitigation::Attach { zone, .. } => self.attach(i, zone),
            Mitigation::Cap {
                cpu_cores,
                memory_mib,
                pids,
                ..
            } => Ok(self.cap(t, i, (*cpu_cores, *memory_mib, *pids), m)),
            Mitigation::Pause { .. } => self.pause(t, i),
            Mitigation::Unpause { .. } => self.unpause(t, i),
            Mitigation::Stop { .. } => self.stop(t, i),
            Mitigation::Restart { .. } => Ok(self.restart(t, i)),
            Mitigation::Fix { weakness, .. } => self.fix(t, i, *weakness),
            Mitigation::Revoke { .. }
            | Mitigation::Block { .. }
            | Mitigation::Unblock { .. }
            | Mitigation::Segment { .. }
            | Mitigation::Unsegment { .. } => Err("not applicable".into()),
        }
    }

    /// Fix a weakness of a service: its declared limits enforced, or (any other kind) its
    /// container recreated from a corrected spec, which restarts it as Docker's would.
    fn fix(&mut self, t: Millis, i: usize, weakness: WeaknessKind) -> Result<String, String> {
        let id = self.services[i].id.clone();
        let at = (self.weaknesses.iter())
            .position(|w| w.service() == id && w.kind() == weakness)
            .ok_or_else(|| format!("{id} has no \"{weakness}\" to fix"))?;
        let removed = self.weaknesses.remove(at);
        if let Weakness::DefaultPassword { identity, .. } = &removed {
            return Ok(self.rotate(t, i, identity));
        }
        let s = &mut self.services[i];
        // What it lacks that stops it working is what it reports, as labd does.
        let stops = |w: Option<WeaknessKind>| w.is_some_and(WeaknessKind::lack_stops_the_service);
        if removed.needs().iter().any(|n| s.needs.contains(n)) && !stops(s.lacking) {
            s.lacking = Some(weakness);
        }
        if weakness.recreates() {
            self.restart(t, i);
            Ok(format!(
                "{id} recreated without \"{weakness}\"; a fresh audit no longer finds it"
            ))
        } else {
            let d = s.declared;
            s.enforced = (Some(d.cpu_cores), Some(d.memory_mib), Some(d.pids));
            Ok(format!(
                "{id} limited to {} cores, {} MiB, {} pids; a fresh audit no longer finds it",
                d.cpu_cores, d.memory_mib, d.pids
            ))
        }
    }

    /// Once a second: floods (first, so that the web tier's load is known for this second),
    /// CPU contention, jobs, flow logs and metrics. The order is part of the seeded model.
    fn tick(&mut self, t: Millis) {
        self.flood_second(t);
        let share = self.share_host_cpu();
        self.run_containers(t, share);
        self.flow_logs(t);
        self.report_metrics(t);
    }
}

impl Lab for SimLab {
    fn backend(&self) -> Backend {
        Backend::Sim
    }

    fn pacing(&self) -> Pacing {
        Pacing::Virtual
    }

    fn apply(&mut self, now: Millis, effect: &Effect) {
        self.now = self.now.max(now);
        let hostile = matches!(effect.origin, Origin::Attack { .. });
        match &effect.kind {
            EffectKind::Act(action) => self.act(effect.id, hostile, action),
            EffectKind::Mitigate(m) => self.mitigate(effect.id, m),
        }
    }

    fn advance(&mut self, until: Millis, out: &mut Vec<LabOutput>) {
        while self.next_tick <= until {
            let t = self.next_tick;
            self.now = t;
            self.tick(t);
            self.next_tick += 1000;
        }
        self.now = self.now.max(until);
        self.queue.sort_by_key(|(t, seq, _)| (*t, *seq));
        let ready = self.queue.partition_point(|(t, _, _)| *t <= until);
        out.extend(self.queue.drain(..ready).map(|(_, _, o)| o));
    }

    fn audit(&mut self) -> Result<Vec<Finding>, String> {
        let mut findings: Vec<Finding> = self.weaknesses.iter().map(Weakness::finding).collect();
        findings.sort();
        Ok(findings)
    }
}

#[cfg(test)]
mod tests;
