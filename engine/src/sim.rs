//! `SimLab`: a deterministic, seeded model of the lab in virtual time. It carries out the same
//! effects and emits the same observations as a real lab: services with resource use and
//! contention, the gateway with block rules and flow logs, web logins, sessions, API keys and
//! data, containers that can be isolated, capped, paused, stopped and restarted.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::action::{Action, Cause, Effect, EffectKind, Mitigation, Origin, Outcome};
use crate::format::scenario::{Scenario, Weakness};
use crate::format::topology::{Limits, Role, Topology};
use crate::lab::{Backend, Lab, LabOutput, Pacing};
use crate::observation::{
    CredentialChange, LifecycleState, LogEvent, Metrics, Millis, Observation, ObservationBody,
};

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
}

impl SimService {
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
    /// Logged-in sessions: (hostile actor?, identity).
    sessions: BTreeSet<(bool, String)>,
    keys: Vec<ApiKey>,
    blocked: BTreeSet<String>,
    floods: Vec<(u64, String, u32, Millis, String)>,
    queue: Vec<(Millis, u64, LabOutput)>,
    seq: u64,
    next_tick: Millis,
    flows: BTreeMap<String, FlowCount>,
    web_requests_this_second: u32,
    web_health: f32,
}

impl std::fmt::Debug for SimLab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimLab").field("now", &self.now).finish()
    }
}

fn base_load(role: Role) -> (f32, f32, u32) {
    match role {
        Role::Gateway => (3.0, 14.0, 6),
        Role::Web => (5.0, 38.0, 9),
        Role::Datastore => (2.5, 52.0, 7),
        Role::Worker => (4.0, 24.0, 5),
        Role::Traffic | Role::Attacker => (1.0, 8.0, 3),
    }
}

impl SimLab {
    pub fn new(topology: Arc<Topology>, scenario: &Scenario, seed: u64) -> Self {
        let unlimited: BTreeSet<&str> = scenario
            .weaknesses
            .iter()
            .map(|w| match w {
                Weakness::NoLimits { service } => service.as_str(),
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
            floods: Vec::new(),
            queue: Vec::new(),
            seq: 0,
            next_tick: 1000,
            flows: BTreeMap::new(),
            web_requests_this_second: 0,
            web_health: 1.0,
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

    /// Why a credential was rejected: revoked by the trainee, or never valid.
    fn auth_cause(&self, identity: &str) -> Cause {
        if self.revoked.contains(identity) {
            Cause::Revoked {
                identity: identity.into(),
            }
        } else {
            Cause::Refused
        }
    }

    /// Why a job cannot run in (or exec cannot enter) a container that is not running.
    fn not_running(&mut self, t: Millis, effect: u64, i: usize) {
        let cause = self.services[i].down_cause();
        self.failed(t, effect, "container is not running", cause);
    }

    fn name_of(&self, role: Role) -> String {
        self.services[self.role_idx(role)].id.clone()
    }

    /// Through the gateway to web: `Err((detail, cause))` when the request does not arrive.
    fn reach_web(&mut self, hostile: bool, source: &str) -> Result<(), (String, Cause)> {
        let origin = self.role_idx(if hostile {
            Role::Attacker
        } else {
            Role::Traffic
        });
        if !self.services[origin].reachable() {
            // The client is range machinery: nobody's mitigation can take it off the network.
            return Err(("client cannot reach the network".into(), Cause::Lab));
        }
        let gw = self.role_idx(Role::Gateway);
        let web = self.role_idx(Role::Web);
        let flow = self.flows.entry(source.to_string()).or_default();
        flow.requests += 1;
        if self.blocked.contains(source) {
            flow.denied += 1;
            let cause = Cause::Blocked {
                source: source.into(),
            };
            return Err(("403 blocked at the gateway".into(), cause));
        }
        if !self.services[gw].reachable() {
            flow.errors += 1;
            return Err(("gateway unreachable".into(), self.services[gw].down_cause()));
        }
        if !self.services[web].reachable() {
            flow.errors += 1;
            return Err((
                "502 web unreachable".into(),
                self.services[web].down_cause(),
            ));
        }
        self.services[gw].rx_bytes += 600.0;
        self.services[web].rx_bytes += 600.0;
        self.web_requests_this_second += 1;
        let health = self.web_health;
        if self.rng.random::<f32>() > health {
            flow.errors += 1;
            let service = self.services[web].id.clone();
            return Err(("503 web overloaded".into(), Cause::Overloaded { service }));
        }
        Ok(())
    }

    /// Authenticate: an existing session, a login with the password, or an API key.
    fn authenticate(
        &mut self,
        t: Millis,
        hostile: bool,
        identity: &str,
        source: &str,
        trace: u64,
    ) -> Result<String, String> {
        let web = self.name_of(Role::Web);
        let key = (hostile, identity.to_string());
        if self.sessions.contains(&key) && !self.revoked.contains(identity) {
            return Ok("session".into());
        }
        if !self.revoked.contains(identity) && self.topology.identity(identity).is_some() {
            self.sessions.insert(key);
            self.observe(
                t,
                LogEvent::Login {
                    service: web,
                    identity: identity.into(),
                    source: source.into(),
                    ok: true,
                    trace: Some(trace),
                },
            );
            return Ok("password".into());
        }
        self.observe(
            t,
            LogEvent::Login {
                service: web,
                identity: identity.into(),
                source: source.into(),
                ok: false,
                trace: Some(trace),
            },
        );
        if let Some(k) = self
            .keys
            .iter()
            .find(|k| k.identity == identity && k.hostile == hostile && !k.revoked)
        {
            return Ok(k.id.clone());
        }
        Err("401 credential rejected".into())
    }

    fn act(&mut self, effect: u64, hostile: bool, action: &Action) {
        let t = self.now + HOP_MS;
        let web = self.name_of(Role::Web);
        match action {
            Action::Login { identity, source } => {
                if let Err((d, cause)) = self.reach_web(hostile, source) {
                    return self.failed(t, effect, d, cause);
                }
                let ok = !self.revoked.contains(identity);
                if ok {
                    self.sessions.insert((hostile, identity.clone()));
                }
                self.observe(
                    t,
                    LogEvent::Login {
                        service: web,
                        identity: identity.clone(),
                        source: source.clone(),
                        ok,
                        trace: Some(effect),
                    },
                );
                if ok {
                    self.outcome(t, effect, true, 0, "logged in");
                } else {
                    let cause = self.auth_cause(identity);
                    self.failed(t, effect, "401 credential rejected", cause);
                }
            }
            Action::Request {
                identity,
                source,
                endpoint,
            } => {
                if let Err((d, cause)) = self.reach_web(hostile, source) {
                    return self.failed(t, effect, d, cause);
                }
                let (status, cause) = match identity {
                    None => (200, None),
                    Some(id) => match self.authenticate(t, hostile, id, source, effect) {
                        Err(_) => (401, Some(self.auth_cause(id))),
                        Ok(_) => {
                            let admin = self.topology.identity(id).is_some_and(|i| i.admin);
                            if endpoint.starts_with("/admin") && !admin {
                                (403, Some(Cause::Refused))
                            } else {
                                (200, None)
                            }
                        }
                    },
                };
                self.observe(
                    t,
                    LogEvent::Request {
                        service: web,
                        identity: identity.clone(),
                        source: source.clone(),
                        endpoint: endpoint.clone(),
                        status,
                        trace: Some(effect),
                    },
                );
                match cause {
                    Some(cause) => self.failed(t, effect, format!("{status}"), cause),
                    None => self.outcome(t, effect, true, 0, format!("{status}")),
                }
            }
            Action::ReadData {
                identity,
                source,
                dataset,
                records,
            } => {
                if let Err((d, cause)) = self.reach_web(hostile, source) {
                    return self.failed(t, effect, d, cause);
                }
                let auth = self.authenticate(t, hostile, identity, source, effect);
                let store = &self.services[self.role_idx(Role::Datastore)];
                let store_up = store.reachable();
                let store_down = store.down_cause();
                let ok = auth.is_ok() && store_up;
                let got = if ok { *records } else { 0 };
                if auth.is_ok() {
                    self.observe(
                        t,
                        LogEvent::DataAccess {
                            service: web.clone(),
                            identity: identity.clone(),
                            source: source.clone(),
                            dataset: dataset.clone(),
                            records: got,
                            ok,
                            trace: Some(effect),
                        },
                    );
                    let ds = self.role_idx(Role::Datastore);
                    self.services[ds].tx_bytes += got as f32 * 100.0;
                    let w = self.role_idx(Role::Web);
                    self.services[w].tx_bytes += got as f32 * 100.0;
                }
                let status = if auth.is_err() {
                    401
                } else if ok {
                    200
                } else {
                    502
                };
                self.observe(
                    t,
                    LogEvent::Request {
                        service: web,
                        identity: Some(identity.clone()),
                        source: source.clone(),
                        endpoint: format!("/data/{dataset}"),
                        status,
                        trace: Some(effect),
                    },
                );
                if ok {
                    self.outcome(t, effect, true, got, format!("{status}"));
                } else if auth.is_err() {
                    let cause = self.auth_cause(identity);
                    self.failed(t, effect, format!("{status}"), cause);
                } else {
                    self.failed(t, effect, format!("{status}"), store_down);
                }
            }
            Action::CreateKey { identity, source } => {
                if let Err((d, cause)) = self.reach_web(hostile, source) {
                    return self.failed(t, effect, d, cause);
                }
                match self.authenticate(t, hostile, identity, source, effect) {
                    Err(d) => {
                        self.observe(
                            t,
                            LogEvent::Request {
                                service: web,
                                identity: Some(identity.clone()),
                                source: source.clone(),
                                endpoint: "/keys".into(),
                                status: 401,
                                trace: Some(effect),
                            },
                        );
                        let cause = self.auth_cause(identity);
                        self.failed(t, effect, d, cause)
                    }
                    Ok(_) => {
                        let id = format!("key-{:04x}", self.rng.random::<u16>());
                        self.keys.push(ApiKey {
                            id: id.clone(),
                            identity: identity.clone(),
                            hostile,
                            revoked: false,
                        });
                        self.observe(
                            t,
                            LogEvent::Request {
                                service: web.clone(),
                                identity: Some(identity.clone()),
                                source: source.clone(),
                                endpoint: "/keys".into(),
                                status: 200,
                                trace: Some(effect),
                            },
                        );
                        self.observe(
                            t,
                            LogEvent::Credential {
                                service: web,
                                identity: identity.clone(),
                                by: identity.clone(),
                                credential: id.clone(),
                                change: CredentialChange::Created,
                                source: source.clone(),
                                trace: Some(effect),
                            },
                        );
                        self.outcome(t, effect, true, 0, format!("created {id}"));
                    }
                }
            }
            Action::Exec {
                service,
                identity,
                command,
            } => {
                let Some(i) = self.idx(service) else {
                    return self.failed(t, effect, "no such container", Cause::Lab);
                };
                if self.services[i].state != RunState::Running {
                    return self.not_running(t, effect, i);
                }
                self.observe(
                    t,
                    LogEvent::Exec {
                        service: service.clone(),
                        identity: identity.clone(),
                        command: command.clone(),
                        trace: Some(effect),
                    },
                );
                self.outcome(t, effect, true, 0, "exec session opened");
            }
            Action::Hog {
                service,
                cpu_workers,
                memory_mib,
                threads,
                seconds,
            } => {
                self.start_job(
                    t,
                    effect,
                    service,
                    Job {
                        effect,
                        until: self.now + u64::from(*seconds) * 1000,
                        cpu_pct: *cpu_workers as f32 * 100.0,
                        memory_mib: *memory_mib as f32,
                        threads: *threads,
                        hostile,
                    },
                );
            }
            Action::Backup { service, seconds } => {
                self.start_job(
                    t,
                    effect,
                    service,
                    Job {
                        effect,
                        until: self.now + u64::from(*seconds) * 1000,
                        cpu_pct: 70.0,
                        memory_mib: 96.0,
                        threads: 2,
                        hostile,
                    },
                );
            }
            Action::Flood {
                source,
                rps,
                seconds,
                endpoint,
            } => {
                self.floods.push((
                    effect,
                    source.clone(),
                    *rps,
                    self.now + u64::from(*seconds) * 1000,
                    endpoint.clone(),
                ));
            }
        }
    }

    fn start_job(&mut self, t: Millis, effect: u64, service: &str, job: Job) {
        let Some(i) = self.idx(service) else {
            return self.failed(t, effect, "no such container", Cause::Lab);
        };
        if self.services[i].state != RunState::Running {
            return self.not_running(t, effect, i);
        }
        if job.hostile {
            // The hog reports every second whether it still takes more than it should.
        } else {
            self.outcome(t, effect, true, 0, "job started");
        }
        self.services[i].jobs.retain(|j| j.effect != effect);
        self.services[i].jobs.push(job);
    }

    /// Kill every job of a container (stop, restart, OOM): a hostile job's attack stops
    /// succeeding there and then, for the reason `cause` gives.
    fn kill_jobs(&mut self, t: Millis, i: usize, why: &str, cause: Cause) {
        // A benign job (a backup) loses its work too: collateral when a trainee caused it.
        let jobs = std::mem::take(&mut self.services[i].jobs);
        for j in jobs {
            self.failed(t, j.effect, why, cause.clone());
        }
    }

    fn lifecycle(&mut self, t: Millis, i: usize, state: LifecycleState) {
        let service = self.services[i].id.clone();
        self.observe(t, LogEvent::Lifecycle { service, state });
    }

    fn mitigate(&mut self, effect: u64, m: &Mitigation) {
        let t = self.now + 40;
        let result = self.try_mitigate(t, m);
        match result {
            Ok(detail) => self.outcome(t, effect, true, 0, detail),
            Err(detail) => self.outcome(t, effect, false, 0, detail),
        }
    }

    fn try_mitigate(&mut self, t: Millis, m: &Mitigation) -> Result<String, String> {
        let target = m.target();
        let svc = match m {
            Mitigation::Revoke { .. } | Mitigation::Block { .. } | Mitigation::Unblock { .. } => {
                None
            }
            _ => Some(
                self.idx(target.name())
                    .ok_or_else(|| format!("no container {}", target.name()))?,
            ),
        };
        match (m, svc) {
            (Mitigation::Isolate { .. }, Some(i)) => {
                if self.services[i].isolated {
                    return Err("already isolated".into());
                }
                self.services[i].isolated = true;
                self.lifecycle(t, i, LifecycleState::Isolated);
                Ok("disconnected from all networks".into())
            }
            (Mitigation::Reconnect { .. }, Some(i)) => {
                if !self.services[i].isolated {
                    return Err("not isolated".into());
                }
                self.services[i].isolated = false;
                self.lifecycle(t, i, LifecycleState::Reconnected);
                Ok("reconnected to its networks".into())
            }
            (
                Mitigation::Cap {
                    cpu_cores,
                    memory_mib,
                    pids,
                    ..
                },
                Some(i),
            ) => {
                let s = &mut self.services[i];
                s.capped = true;
                if let Some(c) = cpu_cores {
                    s.enforced.0 = Some(*c);
                }
                if let Some(mem) = memory_mib {
                    s.enforced.1 = Some(*mem);
                }
                if let Some(p) = pids {
                    s.enforced.2 = Some(*p);
                }
                self.lifecycle(t, i, LifecycleState::Capped);
                // The kernel refuses a memory limit below what is in use, so the container is
                // restarted under it (what a real lab does too), ending whatever hogged it.
                if memory_mib.is_some_and(|mem| self.services[i].memory_now > mem as f32) {
                    // The cap ended the job, so the cap is what the trainee is credited with.
                    let cause = Cause::Capped {
                        service: self.services[i].id.clone(),
                    };
                    self.kill_jobs(t, i, "container restarted under its new limits", cause);
                    self.services[i].memory_now = self.services[i].base_memory;
                    self.lifecycle(t, i, LifecycleState::Died);
                    self.lifecycle(t, i, LifecycleState::Started);
                    return Ok("limits applied; its memory was above the new limit, so it was restarted under it".into());
                }
                Ok(format!("limits now {}", m.summary()))
            }
            (Mitigation::Pause { .. }, Some(i)) => {
                if self.services[i].state != RunState::Running {
                    return Err("not running".into());
                }
                self.services[i].state = RunState::Paused;
                self.lifecycle(t, i, LifecycleState::Paused);
                Ok("paused".into())
            }
            (Mitigation::Unpause { .. }, Some(i)) => {
                if self.services[i].state != RunState::Paused {
                    return Err("not paused".into());
                }
                self.services[i].state = RunState::Running;
                self.lifecycle(t, i, LifecycleState::Unpaused);
                Ok("running again".into())
            }
            (Mitigation::Stop { .. }, Some(i)) => {
                if self.services[i].state == RunState::Stopped {
                    return Err("already stopped".into());
                }
                self.services[i].state = RunState::Stopped;
                let cause = Cause::Stopped {
                    service: self.services[i].id.clone(),
                };
                self.kill_jobs(t, i, "container stopped", cause);
                self.services[i].memory_now = 0.0;
                self.lifecycle(t, i, LifecycleState::Stopped);
                Ok("stopped".into())
            }
            (Mitigation::Restart { .. }, Some(i)) => {
                let cause = Cause::Stopped {
                    service: self.services[i].id.clone(),
                };
                self.kill_jobs(t, i, "container restarted", cause);
                let s = &mut self.services[i];
                s.state = RunState::Running;
                s.oom_killed = false;
                s.memory_now = s.base_memory;
                self.lifecycle(t, i, LifecycleState::Started);
                Ok("restarted".into())
            }
            (Mitigation::Revoke { identity }, None) => {
                if self.topology.identity(identity).is_none() {
                    return Err(format!("no identity {identity}"));
                }
                self.revoked.insert(identity.clone());
                self.sessions.retain(|(_, i)| i != identity);
                let web = self.name_of(Role::Web);
                let mut n = 0;
                let keys: Vec<String> = self
                    .keys
                    .iter_mut()
                    .filter(|k| k.identity == *identity && !k.revoked)
                    .map(|k| {
                        k.revoked = true;
                        k.id.clone()
                    })
                    .collect();
                for credential in std::iter::once("password".to_string()).chain(keys) {
                    n += 1;
                    self.observe(
                        t,
                        LogEvent::Credential {
                            service: web.clone(),
                            identity: identity.clone(),
                            by: "admin".into(),
                            credential,
                            change: CredentialChange::Revoked,
                            source: "console".into(),
                            trace: None,
                        },
                    );
                }
                Ok(format!("revoked {n} credential(s) of {identity}"))
            }
            (Mitigation::Block { source }, None) => {
                if !self.blocked.insert(source.clone()) {
                    return Err("already blocked".into());
                }
                Ok(format!("gateway blocks {source}"))
            }
            (Mitigation::Unblock { source }, None) => {
                if !self.blocked.remove(source) {
                    return Err("not blocked".into());
                }
                Ok(format!("gateway lets {source} through again"))
            }
            _ => Err("not applicable".into()),
        }
    }

    /// Once a second: contention, jobs, floods, flow logs and metrics.
    fn tick(&mut self, t: Millis) {
        // Floods arrive first so that the web tier's load is known for this second.
        let floods = std::mem::take(&mut self.floods);
        let mut keep = Vec::new();
        for (effect, source, rps, until, endpoint) in floods {
            if t > until {
                continue;
            }
            let mut arrived = 0;
            let mut served = 0;
            // Why requests failed, in first-seen order so that ties resolve the same every run.
            let mut why: Vec<(Cause, u32)> = Vec::new();
            let web = self.name_of(Role::Web);
            for k in 0..rps {
                // Spread over the coming second; the queue releases them in time order.
                let at = t + u64::from(k) * 1000 / u64::from(rps.max(1));
                let result = self.reach_web(true, &source);
                if let Err((_, cause)) = &result {
                    match why.iter_mut().find(|(c, _)| c == cause) {
                        Some((_, n)) => *n += 1,
                        None => why.push((cause.clone(), 1)),
                    }
                }
                match result {
                    Ok(()) => {
                        arrived += 1;
                        served += 1;
                        self.observe(
                            at,
                            LogEvent::Request {
                                service: web.clone(),
                                identity: None,
                                source: source.clone(),
                                endpoint: endpoint.clone(),
                                status: 200,
                                trace: Some(effect),
                            },
                        );
                    }
                    Err((_, Cause::Overloaded { .. })) => {
                        arrived += 1;
                        self.observe(
                            at,
                            LogEvent::Request {
                                service: web.clone(),
                                identity: None,
                                source: source.clone(),
                                endpoint: endpoint.clone(),
                                status: 503,
                                trace: Some(effect),
                            },
                        );
                    }
                    Err(_) => {}
                }
            }
            let ok = arrived * 2 >= rps;
            // A failed second carries the reason most of its failed requests met.
            let mut dominant: Option<(Cause, u32)> = None;
            for (c, n) in why {
                if dominant.as_ref().is_none_or(|(_, best)| n > *best) {
                    dominant = Some((c, n));
                }
            }
            self.push(
                t,
                LabOutput::Outcome(Outcome {
                    t_ms: t,
                    effect,
                    ok,
                    records: served,
                    detail: format!("{arrived}/{rps} requests reached web"),
                    cause: if ok { None } else { dominant.map(|(c, _)| c) },
                }),
            );
            keep.push((effect, source, rps, until, endpoint));
        }
        self.floods = keep;

        // CPU contention on the shared host.
        let demand: f32 = self.services.iter().map(SimService::demand_cpu).sum();
        let share = if demand > HOST_CPU_PCT {
            HOST_CPU_PCT / demand
        } else {
            1.0
        };
        let web_load = self.web_requests_this_second as f32;
        let overload = if web_load > WEB_CAPACITY_RPS {
            WEB_CAPACITY_RPS / web_load
        } else {
            1.0
        };
        // Starved of CPU below 90 % of its share, the web tier starts dropping requests.
        let cpu_health = (share / 0.9).min(1.0).powi(2);
        self.web_health = (cpu_health * overload).clamp(0.02, 1.0);
        self.web_requests_this_second = 0;

        for i in 0..self.services.len() {
            let cpu = self.services[i].demand_cpu() * share;
            let noise = 1.0 + (self.rng.random::<f32>() - 0.5) * 0.2;
            let s = &mut self.services[i];
            s.cpu_now = match s.role {
                Role::Gateway | Role::Web => cpu + s.rx_bytes / 600.0 * 0.12,
                _ => cpu,
            } * noise;
            if s.state == RunState::Running {
                let target = s.base_memory + s.jobs.iter().map(|j| j.memory_mib).sum::<f32>();
                // Memory grows towards what the jobs want, 64 MiB a second at most.
                s.memory_now = if target > s.memory_now {
                    (s.memory_now + 64.0).min(target)
                } else {
                    target
                };
            }
            let oom = s.enforced.1.is_some_and(|m| s.memory_now > m as f32);
            let mut ended = Vec::new();
            s.jobs.retain(|j| {
                if t >= j.until {
                    ended.push((j.effect, j.hostile));
                    false
                } else {
                    true
                }
            });
            if oom {
                s.state = RunState::Stopped;
                s.oom_killed = true;
                s.memory_now = 0.0;
                let cause = Cause::OomKilled {
                    service: self.services[i].id.clone(),
                };
                self.kill_jobs(t, i, "OOM-killed", cause);
                self.lifecycle(t, i, LifecycleState::OomKilled);
            }
            for (effect, hostile) in ended {
                if !hostile {
                    self.outcome(t, effect, true, 0, "job finished");
                }
            }
            // A hostile job succeeds while it takes more than the service should have.
            let s = &self.services[i];
            let over = s.state == RunState::Running
                && s.declared.exceeded_by(s.cpu_now, s.memory_now, s.pids());
            let hostile: Vec<u64> = s
                .jobs
                .iter()
                .filter(|j| j.hostile)
                .map(|j| j.effect)
                .collect();
            let detail = format!(
                "{:.0}% cpu, {:.0} MiB, {} pids",
                s.cpu_now,
                s.memory_now,
                s.pids()
            );
            // Not taking more than it should: held down by the trainee's cap, frozen by a pause,
            // or simply starved or small (nobody's doing, so no cause).
            let cause = if over {
                None
            } else if s.state == RunState::Paused {
                Some(Cause::Paused {
                    service: s.id.clone(),
                })
            } else if s.capped && s.clipped() {
                Some(Cause::Capped {
                    service: s.id.clone(),
                })
            } else {
                None
            };
            for effect in hostile {
                self.push(
                    t,
                    LabOutput::Outcome(Outcome {
                        t_ms: t,
                        effect,
                        ok: over,
                        records: 0,
                        detail: detail.clone(),
                        cause: cause.clone(),
                    }),
                );
            }
        }

        let gateway = self.name_of(Role::Gateway);
        let upstream = self.name_of(Role::Web);
        for (source, f) in std::mem::take(&mut self.flows) {
            self.observe(
                t,
                LogEvent::Flow {
                    service: gateway.clone(),
                    source,
                    upstream: upstream.clone(),
                    requests: f.requests,
                    denied: f.denied,
                    errors: f.errors,
                },
            );
        }

        for i in 0..self.services.len() {
            if self.services[i].range_only {
                continue;
            }
            let jitter = self.rng.random::<f32>();
            let s = &mut self.services[i];
            let (rx, tx) = (s.rx_bytes, s.tx_bytes + s.rx_bytes * 2.0);
            s.rx_bytes = 0.0;
            s.tx_bytes = 0.0;
            let metrics = Metrics {
                service: s.id.clone(),
                cpu_pct: if s.state == RunState::Running {
                    s.cpu_now
                } else {
                    0.0
                },
                memory_mib: s.memory_now + jitter,
                pids: s.pids(),
                net_rx_kbps: rx / 1024.0 + jitter * 0.5,
                net_tx_kbps: tx / 1024.0 + jitter * 0.5,
            };
            self.push(
                t,
                LabOutput::Observation(Observation {
                    t_ms: t,
                    body: ObservationBody::Metrics(metrics),
                }),
            );
        }
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{self, Loaded};

    fn lab(id: &str) -> (Loaded, SimLab) {
        let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let l = format::load_scenario(&root.join(format!("scenarios/{id}.ron")), &root).unwrap();
        let lab = SimLab::new(l.topology.clone(), &l.scenario, 1);
        (l, lab)
    }

    fn act(id: u64, action: Action) -> Effect {
        Effect {
            id,
            origin: Origin::Attack { step: "t".into() },
            kind: EffectKind::Act(action),
        }
    }

    fn mitigate(id: u64, m: Mitigation) -> Effect {
        Effect {
            id,
            origin: Origin::Defender,
            kind: EffectKind::Mitigate(m),
        }
    }

    fn outcomes(out: &[LabOutput], effect: u64) -> Vec<bool> {
        out.iter()
            .filter_map(|o| match o {
                LabOutput::Outcome(o) if o.effect == effect => Some(o.ok),
                _ => None,
            })
            .collect()
    }

    fn causes(out: &[LabOutput], effect: u64) -> Vec<Option<Cause>> {
        out.iter()
            .filter_map(|o| match o {
                LabOutput::Outcome(o) if o.effect == effect => Some(o.cause.clone()),
                _ => None,
            })
            .collect()
    }

    fn svc(m: fn(String) -> Mitigation, service: &str) -> Mitigation {
        m(service.into())
    }

    fn hog(service: &str, seconds: u32) -> Action {
        Action::Hog {
            service: service.into(),
            cpu_workers: 3,
            memory_mib: 100,
            threads: 10,
            seconds,
        }
    }

    fn read(identity: &str, source: &str) -> Action {
        Action::ReadData {
            identity: identity.into(),
            source: source.into(),
            dataset: "customers".into(),
            records: 50,
        }
    }

    #[test]
    fn a_blocked_source_and_a_revoked_identity_stop_reads_and_say_so() {
        let (_, mut lab) = lab("stolen-credentials");
        let mut out = Vec::new();
        lab.apply(0, &act(1, read("alice", "198.51.100.23")));
        lab.apply(
            100,
            &mitigate(
                2,
                Mitigation::Block {
                    source: "198.51.100.23".into(),
                },
            ),
        );
        lab.apply(200, &act(3, read("alice", "198.51.100.23")));
        lab.apply(300, &act(4, read("alice", "10.20.0.11")));
        lab.apply(
            400,
            &mitigate(
                5,
                Mitigation::Revoke {
                    identity: "alice".into(),
                },
            ),
        );
        lab.apply(500, &act(6, read("alice", "10.20.0.11")));
        lab.apply(
            600,
            &mitigate(
                7,
                Mitigation::Block {
                    source: "198.51.100.23".into(),
                },
            ),
        );
        lab.advance(1000, &mut out);
        assert_eq!(outcomes(&out, 1), vec![true]);
        assert_eq!(outcomes(&out, 2), vec![true]);
        assert_eq!(outcomes(&out, 3), vec![false], "blocked at the gateway");
        assert_eq!(outcomes(&out, 4), vec![true], "another source still works");
        assert_eq!(outcomes(&out, 6), vec![false], "revoked");
        assert_eq!(
            outcomes(&out, 7),
            vec![false],
            "blocking twice is reported, not hidden"
        );
        let blocked = Cause::Blocked {
            source: "198.51.100.23".into(),
        };
        let revoked = Cause::Revoked {
            identity: "alice".into(),
        };
        assert_eq!(causes(&out, 1), vec![None], "a success carries no cause");
        assert_eq!(causes(&out, 3), vec![Some(blocked)]);
        assert_eq!(causes(&out, 6), vec![Some(revoked)]);
        let revoked = out.iter().any(|o| {
            matches!(
                o,
                LabOutput::Observation(Observation {
                    body: ObservationBody::Event(LogEvent::Credential {
                        change: CredentialChange::Revoked,
                        ..
                    }),
                    ..
                })
            )
        });
        assert!(revoked);
    }

    #[test]
    fn a_hog_without_limits_starves_the_host_until_it_is_capped() {
        let (_, mut lab) = lab("resource-exhaustion");
        let mut out = Vec::new();
        let hog = Action::Hog {
            service: "tenant-a".into(),
            cpu_workers: 3,
            memory_mib: 100,
            threads: 10,
            seconds: 60,
        };
        lab.apply(0, &act(1, hog));
        lab.advance(5000, &mut out);
        assert!(
            outcomes(&out, 1).iter().all(|ok| *ok),
            "unlimited, the hog takes more than it should"
        );
        let cpu = |out: &[LabOutput]| {
            out.iter()
                .rev()
                .find_map(|o| match o {
                    LabOutput::Observation(Observation {
                        body: ObservationBody::Metrics(m),
                        ..
                    }) if m.service == "tenant-a" => Some(m.cpu_pct),
                    _ => None,
                })
                .unwrap()
        };
        assert!(cpu(&out) > 100.0);
        out.clear();
        lab.apply(
            5000,
            &mitigate(
                2,
                Mitigation::Cap {
                    service: "tenant-a".into(),
                    cpu_cores: Some(0.5),
                    memory_mib: Some(256),
                    pids: Some(64),
                },
            ),
        );
        lab.advance(10_000, &mut out);
        assert_eq!(outcomes(&out, 2), vec![true]);
        let after = outcomes(&out, 1);
        assert!(
            !after.is_empty() && after.iter().all(|ok| !*ok),
            "capped, the hog fails: {after:?}"
        );
        assert!(cpu(&out) <= 60.0, "cpu falls to the cap: {}", cpu(&out));
        let capped = Some(Cause::Capped {
            service: "tenant-a".into(),
        });
        assert!(
            causes(&out, 1).iter().all(|c| *c == capped),
            "held down by the trainee's cap: {:?}",
            causes(&out, 1)
        );
    }

    #[test]
    fn isolating_a_tier_fails_what_needs_it_and_reconnecting_restores_it() {
        let (_, mut lab) = lab("stolen-credentials");
        let mut out = Vec::new();
        lab.apply(
            0,
            &mitigate(
                1,
                Mitigation::Isolate {
                    service: "web".into(),
                },
            ),
        );
        lab.apply(10, &act(2, read("bob", "10.20.0.12")));
        lab.apply(
            20,
            &mitigate(
                3,
                Mitigation::Reconnect {
                    service: "web".into(),
                },
            ),
        );
        lab.apply(30, &act(4, read("bob", "10.20.0.12")));
        lab.advance(1000, &mut out);
        assert_eq!(outcomes(&out, 2), vec![false]);
        assert_eq!(outcomes(&out, 4), vec![true]);
    }

    #[test]
    fn a_failed_read_names_the_tier_that_did_not_answer_and_why() {
        type Case = (fn(String) -> Mitigation, &'static str, fn(String) -> Cause);
        let cases: [Case; 6] = [
            (
                |s| Mitigation::Isolate { service: s },
                "web",
                |s| Cause::Isolated { service: s },
            ),
            (
                |s| Mitigation::Pause { service: s },
                "web",
                |s| Cause::Paused { service: s },
            ),
            (
                |s| Mitigation::Stop { service: s },
                "web",
                |s| Cause::Stopped { service: s },
            ),
            (
                |s| Mitigation::Isolate { service: s },
                "gateway",
                |s| Cause::Isolated { service: s },
            ),
            (
                |s| Mitigation::Pause { service: s },
                "datastore",
                |s| Cause::Paused { service: s },
            ),
            (
                |s| Mitigation::Stop { service: s },
                "datastore",
                |s| Cause::Stopped { service: s },
            ),
        ];
        for (m, service, cause) in cases {
            let (_, mut lab) = lab("stolen-credentials");
            let mut out = Vec::new();
            lab.apply(0, &mitigate(1, svc(m, service)));
            lab.apply(10, &act(2, read("bob", "10.20.0.12")));
            lab.advance(1000, &mut out);
            assert_eq!(outcomes(&out, 1), vec![true], "{service}");
            assert_eq!(causes(&out, 2), vec![Some(cause(service.into()))]);
        }
    }

    #[test]
    fn refusals_of_the_application_are_not_a_mitigation() {
        let (_, mut lab) = lab("stolen-credentials");
        let mut out = Vec::new();
        let request = |identity: &str, endpoint: &str| Action::Request {
            identity: Some(identity.into()),
            source: "10.20.0.12".into(),
            endpoint: endpoint.into(),
        };
        lab.apply(0, &act(1, request("bob", "/admin/users")));
        lab.apply(10, &act(2, request("nobody", "/orders")));
        lab.advance(1000, &mut out);
        assert_eq!(causes(&out, 1), vec![Some(Cause::Refused)], "403");
        assert_eq!(causes(&out, 2), vec![Some(Cause::Refused)], "never valid");
    }

    #[test]
    fn jobs_and_execs_in_a_frozen_or_stopped_container_say_which() {
        let (_, mut lab) = lab("resource-exhaustion");
        let mut out = Vec::new();
        let exec = |service: &str| Action::Exec {
            service: service.into(),
            identity: "ivan".into(),
            command: "sh".into(),
        };
        lab.apply(0, &act(1, hog("tenant-a", 60)));
        lab.advance(2000, &mut out);
        lab.apply(
            2000,
            &mitigate(2, svc(|s| Mitigation::Pause { service: s }, "tenant-a")),
        );
        lab.apply(2010, &act(3, exec("tenant-a")));
        lab.advance(4000, &mut out);
        lab.apply(
            4000,
            &mitigate(4, svc(|s| Mitigation::Stop { service: s }, "tenant-a")),
        );
        lab.apply(4010, &act(5, exec("tenant-a")));
        lab.advance(6000, &mut out);
        let paused = Some(Cause::Paused {
            service: "tenant-a".into(),
        });
        let stopped = Some(Cause::Stopped {
            service: "tenant-a".into(),
        });
        assert_eq!(causes(&out, 3), vec![paused.clone()]);
        assert_eq!(causes(&out, 5), vec![stopped.clone()]);
        let hog = causes(&out, 1);
        assert_eq!(hog.first(), Some(&None), "unlimited, it takes too much");
        assert!(hog.contains(&paused), "frozen: {hog:?}");
        assert_eq!(hog.last(), Some(&stopped), "killed by the stop: {hog:?}");
    }

    #[test]
    fn a_benign_backup_killed_by_a_stop_fails_and_says_why() {
        let (_, mut lab) = lab("resource-exhaustion");
        let mut out = Vec::new();
        let backup = Effect {
            id: 1,
            origin: Origin::Benign,
            kind: EffectKind::Act(Action::Backup {
                service: "tenant-b".into(),
                seconds: 60,
            }),
        };
        lab.apply(0, &backup);
        lab.advance(2000, &mut out);
        lab.apply(
            2000,
            &mitigate(2, svc(|s| Mitigation::Stop { service: s }, "tenant-b")),
        );
        lab.advance(4000, &mut out);
        assert_eq!(outcomes(&out, 1), vec![true, false], "started, then lost");
        let stopped = Some(Cause::Stopped {
            service: "tenant-b".into(),
        });
        assert_eq!(causes(&out, 1).last(), Some(&stopped));
    }

    #[test]
    fn a_hog_that_ends_by_itself_or_under_its_own_limits_gets_no_trainee_cause() {
        let (_, mut lab) = lab("resource-exhaustion");
        let mut out = Vec::new();
        // tenant-b keeps its hardened limits: they, not a trainee, hold the hog down.
        lab.apply(0, &act(1, hog("tenant-b", 3)));
        lab.apply(0, &act(2, hog("tenant-a", 3)));
        lab.advance(8000, &mut out);
        for effect in [1, 2] {
            let all = causes(&out, effect);
            assert!(!all.is_empty());
            assert!(
                all.iter().flatten().all(|c| c.entity().is_none()),
                "{effect}: {all:?}"
            );
        }
    }

    #[test]
    fn a_flood_second_carries_the_dominant_reason_its_requests_failed() {
        let (_, mut lab) = lab("stolen-credentials");
        let mut out = Vec::new();
        let flood = Action::Flood {
            source: "203.0.113.9".into(),
            rps: 40,
            seconds: 5,
            endpoint: "/".into(),
        };
        lab.apply(0, &act(1, flood));
        lab.advance(2000, &mut out);
        lab.apply(
            2000,
            &mitigate(
                2,
                Mitigation::Block {
                    source: "203.0.113.9".into(),
                },
            ),
        );
        lab.advance(5000, &mut out);
        let all = causes(&out, 1);
        assert_eq!(all.first(), Some(&None), "a flood that arrives succeeds");
        assert_eq!(
            all.last(),
            Some(&Some(Cause::Blocked {
                source: "203.0.113.9".into()
            }))
        );
    }

    #[test]
    fn a_memory_cap_that_oom_kills_the_hog_is_named_and_so_is_the_dead_container() {
        let (_, mut lab) = lab("resource-exhaustion");
        let mut out = Vec::new();
        let greedy = Action::Hog {
            service: "tenant-a".into(),
            cpu_workers: 1,
            memory_mib: 600,
            threads: 10,
            seconds: 60,
        };
        lab.apply(0, &act(1, greedy.clone()));
        lab.advance(1000, &mut out);
        let cap = Mitigation::Cap {
            service: "tenant-a".into(),
            cpu_cores: None,
            memory_mib: Some(256),
            pids: None,
        };
        lab.apply(1000, &mitigate(2, cap));
        lab.advance(10_000, &mut out);
        lab.apply(10_000, &act(3, greedy));
        lab.advance(11_000, &mut out);
        let oom = Some(Cause::OomKilled {
            service: "tenant-a".into(),
        });
        assert_eq!(outcomes(&out, 2), vec![true]);
        assert_eq!(causes(&out, 1).last(), Some(&oom), "{:?}", causes(&out, 1));
        assert_eq!(causes(&out, 3), vec![oom], "it stays down out of memory");
    }
}
