//! `DockerLab`: the engine's `Lab` on real containers. It hides a tokio runtime and bollard
//! behind the trait: telemetry streams (labd logs, Docker stats and events) become
//! observations in session time, effects are carried out by labd and the Docker API, and
//! every mitigation is confirmed against the real state before its outcome is reported.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::query_parameters::{LogsOptionsBuilder, StatsOptionsBuilder};
use bulkhead_engine::action::{EXFILTRATION_PATH, EXFILTRATION_PORT};
use bulkhead_engine::format::scenario::Scenario;
use bulkhead_engine::format::topology::{Role, Service, Topology};
use bulkhead_engine::observation::LifecycleState;
use bulkhead_engine::reach;
use bulkhead_engine::{
    Action, Backend, Cause, Effect, EffectKind, Lab, LabHealth, LabOutput, LabTimings, LogEvent,
    Metrics, Millis, Mitigation, Observation, ObservationBody, Origin, Outcome,
};
use futures_util::StreamExt;
use serde_json::json;
use tokio::task::JoinHandle;

use crate::drive::{self, Done, Labd};
use crate::error::LabError;
use crate::movement;
use crate::spec::{LabOptions, Placement, RunningLab, SERVICE_PORT};
use crate::telemetry::{
    self, CgroupRates, CgroupSample, Evidence, HeldClock, LabdLine, NetCounters, held_by_limits,
    metrics_from_stats, parse_labd_line,
};
use events::follow_events;
use recovery::{follow_network_events, held_in_labd, network_specs, watch_daemon};

mod accounts;
mod drain;
mod events;
mod fix;
mod recovery;

/// Docker's stats stream opens only when labd's own metrics lines (at least once a second)
/// stopped this long ago: a paused container, or a labd that died.
const LABD_METRICS_STALE: Duration = Duration::from_millis(1500);

/// The longest `advance` (or a held session) sleeps before it looks at the daemon again.
const ADVANCE_SLICE: Duration = Duration::from_millis(100);

/// How often a running hostile job is judged (the outcome lines in the record).
const JUDGE_EVERY: Duration = Duration::from_secs(1);

/// A job running in a container. A hostile one's outcome is judged once a second from the
/// container's use (labd's readings, or Docker's stats while labd is silent); a benign one (a
/// backup) succeeded when it started, and fails if the container is stopped under it
/// (collateral, when a trainee's mitigation did that).
#[derive(Debug, Clone)]
struct RunningJob {
    effect: u64,
    service: String,
    until: Instant,
    hostile: bool,
}

/// What the lab has confirmed about a service, so that a failure the executor can only see
/// (a silent hop, a dead container) is explained by the mitigation that caused it, if any.
#[derive(Debug, Clone, Default)]
struct HopState {
    isolated: bool,
    paused: bool,
    stopped: bool,
    /// The trainee capped it (confirmed).
    capped: bool,
    /// Zones whose network the trainee disconnected it from (confirmed).
    detached: BTreeSet<String>,
    /// Docker reported it OOM-killed since it last started.
    oom: bool,
    /// A stop, restart, cap or fix was begun: a `die` while it runs is its doing, for this
    /// reason.
    ending: Option<Cause>,
    /// When that mitigation returned (ns since the epoch, the daemon's clock: same host). Docker
    /// delivers its events asynchronously, so a `die` it caused may arrive after it returned;
    /// the event's own time, before this, still names it.
    ending_returned_ns: Option<i64>,
}

impl HopState {
    /// Why the container died at Docker's time `t_ns`, as far as the lab knows: the mitigation
    /// under way then, or the service being halted; `None` is a fault nobody in the range caused.
    fn died_because(&self, service: &str, t_ns: Option<i64>) -> Option<Cause> {
        let during_mitigation = match (self.ending_returned_ns, t_ns) {
            (None, _) => true,
            (Some(returned), Some(t)) => t <= returned,
            // An event without a time after the mitigation returned: not its doing.
            (Some(_), None) => false,
        };
        let ending = self.ending.clone().filter(|_| during_mitigation);
        ending.or_else(|| self.halted(service))
    }

    /// Why nothing runs in the service, as far as the lab knows (isolation does not stop it).
    fn halted(&self, service: &str) -> Option<Cause> {
        let service = service.to_string();
        if self.oom {
            Some(Cause::OomKilled { service })
        } else if self.stopped {
            Some(Cause::Stopped { service })
        } else if self.paused {
            Some(Cause::Paused { service })
        } else {
            None
        }
    }

    /// Why the service does not answer on the network, as far as the lab knows.
    fn down(&self, service: &str) -> Option<Cause> {
        self.halted(service).or_else(|| {
            self.isolated.then(|| Cause::Isolated {
                service: service.to_string(),
            })
        })
    }
}

/// labd's readings of one container turned into rates: for the detector (every line) and for
/// judging the container's hostile jobs (once a second, over the second).
#[derive(Debug, Default)]
struct Rates {
    detector: CgroupRates,
    judge: CgroupRates,
    judged: Option<Instant>,
}

/// An exec session the lab started, so that Docker's `exec_start` event can name who ran it
/// (what an orchestrator's audit log records). Driver-internal execs (`labd ctl`) are `None`.
type ExecAudit = HashMap<String, Option<(String, String, u64)>>;

/// The engines a lab is driven through (the same one for a lab on this machine).
struct Engines {
    node: Docker,
    manager: Docker,
}

struct Shared {
    /// The engine the lab's containers run on: this machine's, or for a lab on another Swarm
    /// node, that node's (`--node`).
    docker: Docker,
    /// This machine's engine: on a swarm, the manager the lab's services and node are asked of.
    manager: Docker,
    lab: RunningLab,
    /// The lab image every container runs unless its service's image adds a layer to it.
    lab_image: String,
    /// Service → the files its image's layer adds now (a fix of one kind rebuilds without it).
    baked: Mutex<BTreeMap<String, Vec<crate::layers::BakedFile>>>,
    topology: Arc<Topology>,
    /// Held while the daemon cannot be reached (see `recovery`).
    clock: HeldClock,
    /// Why the daemon cannot be reached, while it cannot.
    unreachable: Mutex<Option<String>>,
    /// Why the lab is over for good before the session's end (its Swarm node was drained).
    lost: Mutex<Option<String>>,
    /// The trainee's confirmed mitigations that labd holds in memory, in order: applied again
    /// when a container holding them starts afresh.
    kept: Mutex<Vec<Mitigation>>,
    /// Zone → its network's id now (a network removed from outside is made again, new id).
    networks: Mutex<BTreeMap<String, String>>,
    /// Zone → how to make its network again.
    network_specs: BTreeMap<String, bollard::models::NetworkCreateRequest>,
    labd: Labd,
    tx: Mutex<Sender<LabOutput>>,
    jobs: Mutex<Vec<RunningJob>>,
    execs: Mutex<ExecAudit>,
    /// Current host-reachable address per service (reconnecting may change it).
    addresses: Mutex<BTreeMap<String, Ipv4Addr>>,
    /// Confirmed state per service, from mitigations and Docker events.
    hops: Mutex<HashMap<String, HopState>>,
    /// Ids of containers a fix replaced (see `fix`): their end is no fault.
    retired: Mutex<HashSet<String>>,
    /// Held while a fix runs: fixes go one at a time, since two recreating the same container
    /// at once would each remove the other's.
    fixing: tokio::sync::Mutex<()>,
    /// When labd last reported its container's metrics, per service.
    labd_metrics_at: Mutex<HashMap<String, Instant>>,
    /// The web tier each effect that named one (`via`) was sent to, by effect id: what an
    /// executor's "overloaded" or a silent datastore is about where the lab has several tiers.
    tiers: Mutex<HashMap<u64, String>>,
    /// (Web tier, identity) → the factory password the account still has there: the lab's
    /// `credentials.factory`, less what a fix rotated since.
    factory: Mutex<BTreeMap<(String, String), String>>,
}

impl Shared {
    /// The lab is over for good: the first reason given is the one the session hears.
    fn set_lost(&self, why: String) {
        if let Ok(mut lost) = self.lost.lock() {
            lost.get_or_insert(why);
        }
    }

    fn lost(&self) -> Option<String> {
        self.lost.lock().ok().and_then(|lost| lost.clone())
    }

    fn set_unreachable(&self, why: Option<String>) {
        if let Ok(mut unreachable) = self.unreachable.lock() {
            *unreachable = why;
        }
    }

    /// Zone → network id, as they are now.
    fn networks(&self) -> BTreeMap<String, String> {
        (self.networks.lock().ok())
            .map(|n| n.clone())
            .unwrap_or_else(|| self.lab.networks.clone())
    }

    fn set_network(&self, zone: &str, id: String) {
        if let Ok(mut networks) = self.networks.lock() {
            networks.insert(zone.to_string(), id);
        }
    }

    fn kept_mitigations(&self) -> Vec<Mitigation> {
        self.kept.lock().map(|k| k.clone()).unwrap_or_default()
    }

    fn emit(&self, out: LabOutput) {
        if let Ok(tx) = self.tx.lock() {
            let _ = tx.send(out);
        }
    }

    /// A labd `metrics` line of a company service: its rates over the interval since the
    /// previous line feed the detector, stamped with labd's own reading time; once a second,
    /// the rates since the last judgement judge its hostile jobs.
    fn labd_metrics(&self, service: &str, ts_ms: u64, sample: CgroupSample, rates: &mut Rates) {
        if !self.company(service) {
            return;
        }
        if let Ok(mut seen) = self.labd_metrics_at.lock() {
            seen.insert(service.to_owned(), Instant::now());
        }
        let t = self.clock.of_unix_ms(ts_ms);
        if let Some(reading) = rates.detector.next(service, ts_ms, sample) {
            self.emit(LabOutput::Observation(Observation {
                t_ms: t,
                body: ObservationBody::Metrics(reading.metrics),
            }));
        }
        if rates.judged.is_none_or(|at| at.elapsed() >= JUDGE_EVERY) {
            rates.judged = Some(Instant::now());
            if let Some(reading) = rates.judge.next(service, ts_ms, sample) {
                self.judge_jobs(service, t, &reading.metrics, reading.held);
            }
        }
    }

    /// Judge the hostile jobs running in `service` from its use over the last interval: a hog
    /// succeeds while its container takes more than the topology allows; within its limits,
    /// the record says why when the lab knows (paused, stopped, or capped and `held` back by
    /// the kernel).
    fn judge_jobs(&self, service: &str, t: Millis, metrics: &Metrics, held: bool) {
        let Some(limits) = self.topology.service(service).map(|s| s.limits) else {
            return;
        };
        let now = Instant::now();
        let active: Vec<u64> = match self.jobs.lock() {
            Ok(mut jobs) => {
                jobs.retain(|j| j.until > now);
                jobs.iter()
                    .filter(|j| j.hostile && j.service == service)
                    .map(|j| j.effect)
                    .collect()
            }
            Err(_) => return,
        };
        if active.is_empty() {
            return;
        }
        let over = limits.exceeded_by(metrics.cpu_pct, metrics.memory_mib, metrics.pids);
        // Within its limits: frozen by a pause, held by the trainee's cap, or not the
        // trainee's doing at all (the job is starved, or simply small).
        let cause = if over {
            None
        } else {
            let hop = self.hop(service);
            match hop.halted(service) {
                Some(down) => Some(down),
                // Capped only when the kernel is seen holding it back.
                None if hop.capped && held => Some(Cause::Capped {
                    service: service.to_owned(),
                }),
                None => None,
            }
        };
        let detail = format!(
            "{:.0}% cpu, {:.0} MiB, {} pids",
            metrics.cpu_pct, metrics.memory_mib, metrics.pids
        );
        for effect in active {
            self.emit(LabOutput::Outcome(Outcome {
                t_ms: t,
                effect,
                ok: over,
                records: 0,
                detail: detail.clone(),
                cause: cause.clone(),
            }));
        }
    }

    /// Whether labd's own metrics of `service` are current (then Docker's stats only judge).
    fn labd_metrics_current(&self, service: &str) -> bool {
        self.labd_metrics_at
            .lock()
            .ok()
            .and_then(|seen| seen.get(service).copied())
            .is_some_and(|at| at.elapsed() < LABD_METRICS_STALE)
    }

    fn observe(&self, t_ms: Millis, event: LogEvent) {
        self.emit(LabOutput::Observation(Observation {
            t_ms,
            body: ObservationBody::Event(event),
        }));
    }

    fn outcome(&self, effect: u64, result: Done) {
        self.outcome_because(effect, result, None);
    }

    /// An outcome whose failure (if it is one) happened for `cause`.
    fn outcome_because(&self, effect: u64, result: Done, cause: Option<Cause>) {
        let (ok, detail, cause) = match result {
            Ok(d) => (true, d, None),
            Err(d) => (false, d, cause),
        };
        self.emit(LabOutput::Outcome(Outcome {
            t_ms: self.clock.now(),
            effect,
            ok,
            records: 0,
            detail,
            cause,
        }));
    }

    /// Whether `service` still has its network in `zone` (the trainee may have detached it).
    fn attached(&self, service: &str, zone: &str) -> bool {
        !self.hop(service).detached.contains(zone)
    }

    fn hop(&self, service: &str) -> HopState {
        self.hops
            .lock()
            .ok()
            .and_then(|h| h.get(service).cloned())
            .unwrap_or_default()
    }

    fn update_hop(&self, service: &str, f: impl FnOnce(&mut HopState)) {
        if let Ok(mut hops) = self.hops.lock() {
            f(hops.entry(service.to_string()).or_default());
        }
    }

    /// Why an exec or a job could not start in `service`: its confirmed state, else the lab.
    fn cannot_run(&self, service: &str) -> Cause {
        self.hop(service).halted(service).unwrap_or(Cause::Lab)
    }

    /// The executor saw a hop fail; the lab's confirmed state says why.
    /// `client` is the service whose executor sent the request (the attacker or the traffic),
    /// `effect` the action it carried out.
    fn resolve(&self, evidence: &Evidence, client: Option<&str>, effect: u64) -> Cause {
        let web = self.tier_of(effect).unwrap_or_default();
        match evidence {
            Evidence::Overloaded => self
                .hop(&web)
                .down(&web)
                .unwrap_or(Cause::Overloaded { service: web }),
            Evidence::Silent { hop, timed_out } => match self.hop(hop).down(hop) {
                Some(cause) => cause,
                None if let Some(cause) = self.detached_before(hop, client, &web) => cause,
                // Up as far as the lab knows: slow to answer is overload, not a mitigation.
                None if *timed_out => Cause::Overloaded {
                    service: hop.clone(),
                },
                None => Cause::Lab,
            },
        }
    }

    /// The web tier an effect went to: the one the driver sent it to, else the only one.
    fn tier_of(&self, effect: u64) -> Option<String> {
        let sent = self.tiers.lock().ok().and_then(|t| t.get(&effect).cloned());
        sent.or_else(|| self.topology.web_tier(None).map(|w| w.id.clone()))
    }

    /// Why a request could not reach `hop` from the tier in front of it (the gateway for web
    /// tier `web`, that tier for its datastore, the request's `client` for the gateway): a
    /// detachment cut the network they share. The simulated lab checks the same links
    /// (`SimLab::reach_web`).
    fn detached_before(&self, hop: &str, client: Option<&str>, web: &str) -> Option<Cause> {
        let to = self.topology.service(hop)?;
        let front = match to.role {
            Role::Gateway => client.and_then(|c| self.topology.service(c)),
            Role::Web => self.topology.gateway_of(hop),
            Role::Datastore => self.topology.service(web),
            _ => None,
        }?;
        let attached = |s: &Service, zone: &str| self.attached(&s.id, zone);
        let (service, zone) = reach::link_cut(front, to, attached)?;
        Some(Cause::Detached {
            service: service.into(),
            zone: zone.into(),
        })
    }

    /// Before a mitigation runs: a stop, restart or cap may kill the container's jobs.
    fn begin(&self, m: &Mitigation) {
        let service = m.target().name().to_string();
        let ending = match m {
            Mitigation::Stop { .. } | Mitigation::Restart { .. } => Cause::Stopped {
                service: service.clone(),
            },
            Mitigation::Cap { .. } => Cause::Capped {
                service: service.clone(),
            },
            Mitigation::Fix { weakness, .. } => Cause::Fixed {
                service: service.clone(),
                weakness: *weakness,
            },
            _ => return,
        };
        self.update_hop(&service, |h| {
            h.ending = Some(ending);
            h.ending_returned_ns = None;
        });
    }

    /// After it: what it confirmed becomes the service's known state.
    fn confirm(&self, m: &Mitigation, ok: bool) {
        let held_in_labd = [Role::Web, Role::Gateway, Role::Firewall]
            .into_iter()
            .any(|role| held_in_labd(role, m));
        if ok
            && held_in_labd
            && let Ok(mut kept) = self.kept.lock()
        {
            kept.push(m.clone());
        }
        let target = m.target();
        self.update_hop(target.name(), |h| {
            // Kept, with when it returned: its `die` may still be on its way.
            h.ending_returned_ns = Some(telemetry::unix_ns_now());
            if !ok {
                return;
            }
            match m {
                Mitigation::Isolate { .. } => h.isolated = true,
                // Reconnecting connects every zone's network, those detached before too.
                Mitigation::Reconnect { .. } => {
                    h.isolated = false;
                    h.detached.clear();
                }
                Mitigation::Detach { zone, .. } => {
                    h.detached.insert(zone.clone());
                }
                Mitigation::Attach { zone, .. } => {
                    h.detached.remove(zone);
                }
                Mitigation::Pause { .. } => h.paused = true,
                Mitigation::Unpause { .. } => h.paused = false,
                Mitigation::Stop { .. } => h.stopped = true,
                Mitigation::Restart { .. } => {
                    (h.stopped, h.paused, h.oom) = (false, false, false);
                }
                Mitigation::Cap { .. } => h.capped = true,
                Mitigation::Fix { .. }
                | Mitigation::Revoke { .. }
                | Mitigation::Block { .. }
                | Mitigation::Unblock { .. }
                | Mitigation::Segment { .. }
                | Mitigation::Unsegment { .. } => {}
            }
        });
    }

    /// The service's container, by name: a fix recreates it under the same name, new id.
    fn container(&self, service: &str) -> Option<&str> {
        self.lab.containers.get(service).map(|c| c.name.as_str())
    }

    fn address(&self, service: &str) -> Option<Ipv4Addr> {
        self.addresses.lock().ok()?.get(service).copied()
    }

    /// Every service of a role: the tiers a revocation or a block applies at.
    fn role_services(&self, role: Role) -> Vec<String> {
        (self.topology.services_with_role(role))
            .map(|s| s.id.clone())
            .collect()
    }

    /// The only service of a role (the range's traffic generator, its attacker).
    fn role_service(&self, role: Role) -> Option<String> {
        self.topology.only(role).map(|s| s.id.clone())
    }

    fn company(&self, service: &str) -> bool {
        self.topology
            .service(service)
            .is_some_and(|s| !s.range_only)
    }

    /// Remember an exec the driver itself runs (`labd ctl`), so it is not reported as a session.
    fn driver_exec(&self, id: &str) {
        if let Ok(mut execs) = self.execs.lock() {
            execs.insert(id.to_string(), None);
        }
    }

    /// End the jobs of a service (it died or restarted): a hostile job's attack stops there,
    /// a benign job's work is lost, for `cause` (`None`: nothing the lab can name).
    fn end_jobs(&self, service: &str, why: &str, cause: Option<Cause>) {
        let ended: Vec<u64> = match self.jobs.lock() {
            Ok(mut jobs) => {
                let (gone, keep): (Vec<_>, Vec<_>) =
                    jobs.drain(..).partition(|j| j.service == service);
                *jobs = keep;
                gone.into_iter().map(|j| j.effect).collect()
            }
            Err(_) => return,
        };
        for effect in ended {
            self.outcome_because(effect, Err(why.to_string()), cause.clone());
        }
    }
}

/// A real lab, up and streaming.
pub struct DockerLab {
    runtime: tokio::runtime::Runtime,
    shared: Arc<Shared>,
    rx: Receiver<LabOutput>,
    pending: Vec<LabOutput>,
    tasks: Vec<JoinHandle<()>>,
    down: bool,
    timings: LabTimings,
    /// How long the daemon may stay unreachable before the session is lost.
    unreachable_limit: Duration,
    /// How long the lab may live (its reaper label): the longest a late teardown waits.
    ttl: Duration,
}

impl std::fmt::Debug for DockerLab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DockerLab")
            .field("session", &self.shared.lab.session)
            .finish()
    }
}

impl DockerLab {
    /// Reap leftovers, build the image if needed, bring the lab up and start the telemetry
    /// streams. Session time 0 is when this returns.
    pub fn start(
        topology: Arc<Topology>,
        scenario: &Scenario,
        options: &LabOptions,
        mut progress: impl FnMut(&str),
    ) -> Result<Self, LabError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| LabError::Runtime(e.to_string()))?;
        let (engines, lab, image, network_specs, labd) = runtime.block_on(async {
            let docker = crate::docker::connect().await?;
            progress("removing leftovers of earlier runs");
            crate::reaper::reap_what_can_go(&docker, &mut progress).await;
            let image = crate::image::ensure_image(&docker, &mut progress).await?;
            progress("bringing the lab up");
            let (topology, reference) = (&*topology, &image.reference);
            let lab = match options.placement {
                Placement::Host => {
                    crate::lab_up::lab_up(&docker, topology, scenario, options, reference).await?
                }
                Placement::Swarm => {
                    let up = crate::swarm::place::lab_up(
                        &docker, topology, scenario, options, reference,
                    );
                    up.await?
                }
            };
            let specs = network_specs(&docker, &lab.networks).await;
            // A lab on another Swarm node: its engine, and labd through it.
            let engine = match &lab.node {
                Some(node) => crate::swarm::nodes::engine_of(&node.id).await,
                None => None,
            };
            let labd = match &engine {
                Some(engine) => Labd::through(engine.clone(), &lab.session),
                None => Labd::new(),
            };
            let engines = Engines {
                node: engine.unwrap_or_else(|| docker.clone()),
                manager: docker,
            };
            Ok::<_, LabError>((engines, lab, image, specs, labd))
        })?;
        let timings = LabTimings {
            image_s: Some(image.took.as_secs_f64()),
            up_s: Some(lab.up_in.as_secs_f64()),
            ready_s: Some(lab.ready_in.as_secs_f64()),
            down_s: None,
        };
        progress(&format!(
            "lab {}: {}",
            lab.session,
            timings.line().unwrap_or_default()
        ));
        let (tx, rx) = channel();
        let networks = lab.networks.clone();
        let addresses = lab
            .containers
            .iter()
            .filter_map(|(s, c)| c.address().map(|a| (s.clone(), a)))
            .collect();
        // labd reports from the start of each container: Docker's stats are not needed
        // unless it falls silent.
        let labd_started = lab
            .containers
            .keys()
            .map(|service| (service.clone(), Instant::now()))
            .collect();
        let baked = Mutex::new(lab.baked.clone());
        let factory = Mutex::new(lab.credentials.factory.clone());
        let shared = Arc::new(Shared {
            docker: engines.node,
            manager: engines.manager,
            lab,
            lab_image: image.reference,
            baked,
            topology,
            clock: HeldClock::start(options.time_scale),
            unreachable: Mutex::new(None),
            lost: Mutex::new(None),
            kept: Mutex::new(Vec::new()),
            networks: Mutex::new(networks),
            network_specs,
            labd,
            tx: Mutex::new(tx),
            jobs: Mutex::new(Vec::new()),
            execs: Mutex::new(HashMap::new()),
            addresses: Mutex::new(addresses),
            hops: Mutex::new(HashMap::new()),
            retired: Mutex::new(HashSet::new()),
            fixing: tokio::sync::Mutex::new(()),
            tiers: Mutex::new(HashMap::new()),
            factory,
            labd_metrics_at: Mutex::new(labd_started),
        });
        let mut tasks = Vec::new();
        let _guard = runtime.enter();
        for (service, c) in &shared.lab.containers {
            tasks.push(tokio::spawn(follow_logs(shared.clone(), c.name.clone())));
            if shared.company(service) {
                tasks.push(tokio::spawn(follow_stats(
                    shared.clone(),
                    service.clone(),
                    c.name.clone(),
                )));
            }
        }
        tasks.push(tokio::spawn(follow_events(shared.clone())));
        tasks.push(tokio::spawn(watch_daemon(shared.clone())));
        tasks.push(tokio::spawn(follow_network_events(shared.clone())));
        tasks.push(tokio::spawn(drain::watch_node(shared.clone())));
        drop(_guard);
        Ok(DockerLab {
            runtime,
            shared,
            rx,
            pending: Vec::new(),
            tasks,
            down: false,
            timings,
            unreachable_limit: options.unreachable_limit,
            ttl: options.ttl,
        })
    }

    /// Whether a Docker daemon answers here (decides the default backend).
    pub fn daemon_answers() -> bool {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .is_ok_and(|rt| {
                rt.block_on(async {
                    tokio::time::timeout(
                        std::time::Duration::from_secs(3),
                        crate::docker::connect(),
                    )
                    .await
                    .is_ok_and(|r| r.is_ok())
                })
            })
    }

    pub fn running(&self) -> &RunningLab {
        &self.shared.lab
    }

    fn teardown(&mut self) -> Result<(), String> {
        if self.down {
            return Ok(());
        }
        self.down = true;
        for t in &self.tasks {
            t.abort();
        }
        let shared = self.shared.clone();
        let started = std::time::Instant::now();
        let result = self.runtime.block_on(crate::lab_down::remove_session_on(
            &shared.manager,
            &shared.docker,
            &shared.lab.session,
        ));
        self.timings.down_s = Some(started.elapsed().as_secs_f64());
        match result {
            Ok(_) => Ok(()),
            Err(e) if self.shared.clock.held_for().is_some() => {
                recovery::take_down_when_docker_answers(&shared, self.ttl);
                Err(format!(
                    "{e}; Docker does not answer, so the lab is taken down once it does (or by \
                     the reaper at the next start, if this process has ended by then)"
                ))
            }
            Err(e) => Err(e.to_string()),
        }
    }
}

impl Drop for DockerLab {
    fn drop(&mut self) {
        let _ = self.teardown();
    }
}

impl Lab for DockerLab {
    fn backend(&self) -> Backend {
        Backend::Docker
    }

    fn pacing(&self) -> bulkhead_engine::Pacing {
        bulkhead_engine::Pacing::RealTime
    }

    fn placement(&self) -> Option<String> {
        (self.shared.lab.node.as_ref()).map(|node| node.hostname.clone())
    }

    fn apply(&mut self, now: Millis, effect: &Effect) {
        let shared = self.shared.clone();
        let effect = effect.clone();
        // Effects are scheduled at their session time: early ones wait, late ones go at once.
        let at = shared.clock.instant_of(now);
        self.runtime.spawn(async move {
            tokio::time::sleep_until(at.into()).await;
            carry_out(&shared, &effect).await;
        });
    }

    fn advance(&mut self, until: Millis, out: &mut Vec<LabOutput>) {
        // Wait in short slices: if the daemon stops answering meanwhile, the clock is held
        // and the session should hear of it now, not when the wait would have ended.
        while self.shared.clock.held_for().is_none() {
            let deadline = self.shared.clock.instant_of(until);
            match deadline.checked_duration_since(Instant::now()) {
                Some(wait) => std::thread::sleep(wait.min(ADVANCE_SLICE)),
                None => break,
            }
        }
        self.pending.extend(self.rx.try_iter());
        self.pending.sort_by_key(LabOutput::t_ms);
        // A line stamped before what the session has shown already is late: the session counts
        // it so and stamps it in order.
        let ready = self.pending.partition_point(|o| o.t_ms() <= until);
        out.extend(self.pending.drain(..ready));
    }

    fn health(&mut self) -> LabHealth {
        if let Some(why) = self.shared.lost() {
            return LabHealth::Lost { why };
        }
        let Some(held) = self.shared.clock.held_for() else {
            return LabHealth::Up;
        };
        let why = (self.shared.unreachable.lock().ok())
            .and_then(|u| u.clone())
            .unwrap_or_else(|| "Docker does not answer".into());
        if held > self.unreachable_limit {
            return LabHealth::Lost {
                why: format!(
                    "{why}, for more than {} s",
                    self.unreachable_limit.as_secs()
                ),
            };
        }
        // The session asks again at once: wait here, as `advance` would have.
        std::thread::sleep(ADVANCE_SLICE);
        LabHealth::Held {
            why,
            for_s: held.as_secs_f64(),
        }
    }

    fn shutdown(&mut self) -> Result<(), String> {
        self.teardown()
    }

    fn audit(&mut self) -> Result<Vec<bulkhead_engine::posture::Finding>, String> {
        let shared = &self.shared;
        let found = self.runtime.block_on(crate::audit::audit(
            &shared.docker,
            &shared.labd,
            &shared.lab,
            &shared.topology,
        ));
        found
            .map(|findings| crate::audit::posture(&findings))
            .map_err(|e| e.to_string())
    }

    fn timings(&self) -> LabTimings {
        self.timings
    }
}

async fn carry_out(shared: &Shared, effect: &Effect) {
    match &effect.kind {
        EffectKind::Act(action) => act(shared, effect.id, &effect.origin, action).await,
        EffectKind::Mitigate(m) => {
            shared.begin(m);
            let result = mitigate(shared, m).await;
            shared.confirm(m, result.is_ok());
            let state = match (m, &result) {
                (Mitigation::Isolate { .. }, Ok(_)) => Some(LifecycleState::Isolated),
                (Mitigation::Reconnect { .. }, Ok(_)) => Some(LifecycleState::Reconnected),
                (Mitigation::Cap { .. }, Ok(_)) => Some(LifecycleState::Capped),
                _ => None,
            };
            if let Some(state) = state {
                shared.observe(
                    shared.clock.now(),
                    LogEvent::Lifecycle {
                        service: m.target().name().to_string(),
                        state,
                    },
                );
            }
            shared.outcome(effect.id, result);
        }
    }
}

async fn act(shared: &Shared, effect: u64, origin: &Origin, action: &Action) {
    let hostile = origin.is_attack();
    match action {
        Action::Hog {
            service,
            cpu_workers,
            memory_mib,
            threads,
            seconds,
        } => {
            let Some(container) = shared.container(service) else {
                let missing = Err(format!("no container {service}"));
                return shared.outcome_because(effect, missing, Some(Cause::Lab));
            };
            let wall = shared.clock.wall_seconds(*seconds);
            let body = json!({"cpu_workers": cpu_workers, "memory_mib": memory_mib, "threads": threads, "seconds": wall});
            match drive::job(&shared.docker, container, "/hog", &body, |id| {
                shared.driver_exec(id)
            })
            .await
            {
                Ok(_) if hostile => {
                    if let Ok(mut jobs) = shared.jobs.lock() {
                        jobs.push(RunningJob {
                            effect,
                            service: service.clone(),
                            until: Instant::now() + std::time::Duration::from_secs(u64::from(wall)),
                            hostile: true,
                        });
                    }
                }
                result => shared.outcome_because(effect, result, Some(shared.cannot_run(service))),
            }
        }
        Action::Backup { service, seconds } => {
            let Some(container) = shared.container(service) else {
                let missing = Err(format!("no container {service}"));
                return shared.outcome_because(effect, missing, Some(Cause::Lab));
            };
            let wall = shared.clock.wall_seconds(*seconds);
            let body = json!({ "seconds": wall });
            let result = drive::job(&shared.docker, container, "/backup", &body, |id| {
                shared.driver_exec(id)
            })
            .await;
            if result.is_ok()
                && let Ok(mut jobs) = shared.jobs.lock()
            {
                jobs.push(RunningJob {
                    effect,
                    service: service.clone(),
                    until: Instant::now() + std::time::Duration::from_secs(u64::from(wall)),
                    hostile: false,
                });
            }
            // Refused by a service lacking what it needs, it says which; else the lab's state.
            let cause = (result.as_ref().err())
                .and_then(|out| telemetry::degraded_in(out))
                .unwrap_or_else(|| shared.cannot_run(service));
            shared.outcome_because(effect, result, Some(cause));
        }
        Action::Exec {
            service,
            identity,
            command,
        } => {
            let Some(container) = shared.container(service) else {
                let missing = Err(format!("no container {service}"));
                return shared.outcome_because(effect, missing, Some(Cause::Lab));
            };
            let cmd: Vec<String> = command.split_whitespace().map(str::to_string).collect();
            let audit = (identity.clone(), command.clone(), effect);
            let result = drive::exec(&shared.docker, container, cmd, |id| {
                if let Ok(mut execs) = shared.execs.lock() {
                    execs.insert(id.to_string(), Some(audit));
                }
            })
            .await;
            let result = result.map(|out| format!("exec session ran: {out}"));
            shared.outcome_because(effect, result, Some(shared.cannot_run(service)));
        }
        Action::Pivot { from, to, endpoint } => {
            let (result, cause) = match pivot(shared, effect, from, to, endpoint).await {
                Ok(detail) => (Ok(detail), None),
                Err((detail, cause)) => (Err(detail), Some(cause)),
            };
            shared.outcome_because(effect, result, cause);
        }
        Action::Scan { from, zone } => scan(shared, effect, from, zone).await,
        Action::Exfiltrate { from, to, bytes } => {
            let (result, cause) = match exfiltrate(shared, effect, from, to, *bytes).await {
                Ok(detail) => (Ok(detail), None),
                Err((detail, cause)) => (Err(detail), Some(cause)),
            };
            shared.outcome_because(effect, result, cause);
        }
        _ => {
            let role = if hostile {
                Role::Attacker
            } else {
                Role::Traffic
            };
            let executor = shared.role_service(role).and_then(|s| shared.address(&s));
            let flood_seconds = match action {
                Action::Flood { seconds, .. } => shared.clock.wall_seconds(*seconds),
                _ => 1,
            };
            let door = shared.topology.front_door(action.via());
            let gateway = door.map(|(gateway, _)| format!("{}:{SERVICE_PORT}", gateway.id));
            let passwords = door.map(|(_, web)| shared.passwords_at(&web.id));
            // Only an action that names its tier needs remembering: without `via` the lab has
            // one tier, and `tier_of` finds it. A one-tier lab's benign traffic adds nothing.
            if let (Some(via), Ok(mut tiers)) = (action.via(), shared.tiers.lock()) {
                tiers.insert(effect, via.to_owned());
            }
            let (Some(executor), Some(body)) = (
                executor,
                gateway.zip(passwords).and_then(|(gateway, passwords)| {
                    drive::act_body(effect, action, &passwords, flood_seconds, &gateway)
                }),
            ) else {
                let none = Err("no executor for this action".into());
                return shared.outcome_because(effect, none, Some(Cause::Lab));
            };
            // Success is reported by the executor's own outcome line; only a refusal is ours.
            if let Err(e) = shared.labd.act(executor, &body).await {
                tracing::debug!(effect, %executor, "the executor refused an action: {e}");
                shared.outcome_because(effect, Err(e), Some(Cause::Lab));
            }
        }
    }
}

/// Code in `from` reaching `to` (see `movement`): `Ok(what answered)`, or why not. Nothing is
/// run in an origin the lab knows to be down (isolated, paused, stopped), as the simulated lab
/// decides: in an isolated container, the name lookups of code with no network would pile up
/// threads that the detector would take for the attacker's.
async fn pivot(
    shared: &Shared,
    trace: u64,
    from: &str,
    to: &str,
    path: &str,
) -> Result<String, (String, Cause)> {
    let topology = shared.topology.clone();
    let (Some(origin), Some(target), Some(container)) = (
        topology.service(from),
        topology.service(to),
        shared.container(from),
    ) else {
        return Err((
            format!("no way from {from} to {to} in this lab"),
            Cause::Lab,
        ));
    };
    if let Some(cause) = shared.hop(from).down(from) {
        return Err((
            format!("{from} cannot reach anything: {}", cause.summary()),
            cause,
        ));
    }
    // Code in the origin has only the networks it is still attached to.
    let attached = |s: &Service, zone: &str| shared.attached(&s.id, zone);
    let way = reach::way_where(&topology, origin, target, attached);
    let attempt = movement::Attempt::get(to, path, movement::via(&way), trace);
    let exec = |id: &str| shared.driver_exec(id);
    match movement::pivot(&shared.docker, container, &attempt, exec).await {
        // The origin could not run code: it is not running.
        Err(e) => Err((e, shared.cannot_run(from))),
        Ok(report) if report.ok => Ok(format!("{to} answered {}", report.status)),
        Ok(report) => {
            let down = |s: &str| shared.hop(s).down(s);
            let detached = reach::detachment_on(&topology, origin, target, attached);
            let cause = match (&way, detached) {
                (reach::Way::Unreachable, Some((service, zone))) if down(from).is_none() => {
                    Cause::Detached {
                        service: service.into(),
                        zone: zone.into(),
                    }
                }
                _ => movement::cause_of(report.cause.as_deref(), &way, from, to, down),
            };
            Err((format!("{to} not reached: {}", report.detail), cause))
        }
    }
}

/// An exfiltration from `from` to an address outside the lab, through the firewall of its
/// zone where there is one (see `reach::way_out`): it cannot succeed on internal networks.
async fn exfiltrate(
    shared: &Shared,
    trace: u64,
    from: &str,
    to: &str,
    bytes: u32,
) -> Result<String, (String, Cause)> {
    let topology = shared.topology.clone();
    let (Some(origin), Some(container)) = (topology.service(from), shared.container(from)) else {
        return Err((format!("no container {from}"), Cause::Lab));
    };
    if let Some(cause) = shared.hop(from).down(from) {
        return Err((
            format!("{from} cannot reach anything: {}", cause.summary()),
            cause,
        ));
    }
    let out = reach::way_out(&topology, origin);
    if let Some((_, zone)) = out.filter(|(_, zone)| !shared.attached(from, zone)) {
        let cause = Cause::Detached {
            service: from.into(),
            zone: zone.into(),
        };
        return Err((format!("{from} has no network in {zone}"), cause));
    }
    let attempt = movement::Attempt {
        to,
        port: EXFILTRATION_PORT,
        path: EXFILTRATION_PATH,
        via: out.map(|(via, _)| via.id.as_str()),
        bytes,
        trace,
    };
    let exec = |id: &str| shared.driver_exec(id);
    match movement::pivot(&shared.docker, container, &attempt, exec).await {
        Err(e) => Err((e, shared.cannot_run(from))),
        // Something outside answered: the lab leaks, which its shield must never allow.
        Ok(report) if report.ok => Ok(format!("LEAK: {to} answered: {}", report.detail)),
        Ok(report) => {
            let down = |s: &str| shared.hop(s).down(s);
            let cause = down(from)
                .or_else(|| out.and_then(|(via, _)| down(&via.id)))
                .unwrap_or(Cause::NoRoute);
            Err((report.detail, cause))
        }
    }
}

/// A scan: a `GET /` to every company service of the zone, one after another, as the
/// simulated lab does; it succeeds when one answers.
async fn scan(shared: &Shared, effect: u64, from: &str, zone: &str) {
    let topology = shared.topology.clone();
    let targets = reach::scan_targets(&topology, from, zone);
    let mut reached = Vec::new();
    let mut first_failure = None;
    for target in &targets {
        match pivot(shared, effect, from, &target.id, "/").await {
            Ok(_) => reached.push(target.id.as_str()),
            Err((_, cause)) => {
                first_failure.get_or_insert(cause);
            }
        }
    }
    let (cause, detail) = reach::scan_verdict(zone, targets.len(), &reached, first_failure);
    shared.emit(LabOutput::Outcome(Outcome {
        t_ms: shared.clock.now(),
        effect,
        ok: cause.is_none(),
        records: reached.len() as u32,
        detail,
        cause,
    }));
}

/// Close or reopen a route at every firewall between the zones, each confirmed by its list
/// and then by a probe: a pivot from the zone into the other, refused for the segment (or no
/// longer refused for it) at the firewall.
async fn segment(shared: &Shared, from_zone: &str, to_zone: &str, close: bool) -> Done {
    let topology = shared.topology.clone();
    let mut done = Vec::new();
    for firewall in reach::firewalls_between(&topology, from_zone, to_zone) {
        let address = shared
            .address(&firewall.id)
            .ok_or_else(|| format!("{} has no address (isolated?)", firewall.id))?;
        done.push(
            shared
                .labd
                .segment(address, from_zone, to_zone, close)
                .await?,
        );
        done.push(probe_route(shared, firewall, from_zone, to_zone, close).await?);
    }
    if done.is_empty() {
        return Err(format!(
            "no firewall stands between {from_zone} and {to_zone}"
        ));
    }
    Ok(done.join("; "))
}

/// Try the route through `firewall` from a running company service of `from_zone` to one of
/// `to_zone`. Its crossing carries the probe trace, which keeps it from the detector.
async fn probe_route(
    shared: &Shared,
    firewall: &Service,
    from_zone: &str,
    to_zone: &str,
    closed: bool,
) -> Done {
    let topology = shared.topology.clone();
    let usable = |s: &&Service, zone: &str| {
        !s.range_only
            && s.role != Role::Firewall
            && s.zones.iter().any(|z| z == zone)
            && shared.hop(&s.id).down(&s.id).is_none()
    };
    let origin = topology.services.iter().find(|s| usable(s, from_zone));
    let target = topology.services.iter().find(|s| {
        usable(s, to_zone)
            && origin.is_some_and(|o| {
                matches!(reach::way(&topology, o, s), reach::Way::Firewall { via, .. } if via.id == firewall.id)
            })
    });
    let (Some(origin), Some(target), Some(container)) =
        (origin, target, origin.and_then(|o| shared.container(&o.id)))
    else {
        return Ok("no running service on both sides to probe with".into());
    };
    let exec = |id: &str| shared.driver_exec(id);
    let via = Some(firewall.id.as_str());
    let attempt = movement::Attempt::get(&target.id, "/", via, movement::PROBE_TRACE);
    let report = movement::pivot(&shared.docker, container, &attempt, exec).await?;
    let refused_for_it = report.cause.as_deref() == Some("segmented");
    let seen = format!("a probe from {} to {}", origin.id, target.id);
    match (closed, refused_for_it) {
        (true, true) => Ok(format!("{seen} was refused (confirmed)")),
        (false, false) => Ok(format!("{seen} is no longer refused for it (confirmed)")),
        (true, false) => Err(format!("{seen} was not refused: {}", report.detail)),
        (false, true) => Err(format!("{seen} is still refused")),
    }
}

async fn mitigate(shared: &Shared, m: &Mitigation) -> Done {
    let docker = &shared.docker;
    let target = m.target();
    let service = target.name();
    let container = || {
        shared
            .container(service)
            .ok_or_else(|| format!("no container {service}"))
    };
    match m {
        Mitigation::Isolate { .. } => {
            drive::isolate(docker, container()?, &shared.networks()).await
        }
        Mitigation::Reconnect { .. } => {
            let zones = shared
                .topology
                .service(service)
                .map(|s| s.zones.clone())
                .unwrap_or_default();
            let result =
                drive::reconnect(docker, container()?, service, &zones, &shared.networks()).await;
            refresh_address(shared, service).await;
            result
        }
        Mitigation::Cap {
            cpu_cores,
            memory_mib,
            pids,
            ..
        } => {
            let result = drive::cap(docker, container()?, *cpu_cores, *memory_mib, *pids).await;
            if result.as_ref().is_ok_and(|d| d.contains("restarted")) {
                // The cap could only be applied by a restart: the cap ended the job.
                let cause = Cause::Capped {
                    service: service.to_string(),
                };
                shared.end_jobs(
                    service,
                    "container restarted under its new limits",
                    Some(cause),
                );
            }
            result
        }
        Mitigation::Pause { .. } => drive::set_state(docker, container()?, "pause").await,
        Mitigation::Unpause { .. } => drive::set_state(docker, container()?, "unpause").await,
        Mitigation::Stop { .. } | Mitigation::Restart { .. } => {
            let verb = if matches!(m, Mitigation::Stop { .. }) {
                "stop"
            } else {
                "restart"
            };
            let result = drive::set_state(docker, container()?, verb).await;
            if result.is_ok() {
                let cause = Cause::Stopped {
                    service: service.to_string(),
                };
                shared.end_jobs(service, &format!("container {verb}ped"), Some(cause));
            }
            result
        }
        Mitigation::Revoke { identity } => {
            let token = &shared.lab.credentials.admin_token;
            at_every(shared, Role::Web, |web| {
                shared.labd.revoke(web, token, identity)
            })
            .await
        }
        Mitigation::Detach { zone, .. } => {
            let result = drive::detach(docker, container()?, zone, &shared.networks()).await;
            // The driver may have been reaching its control API on that network.
            refresh_address(shared, service).await;
            result
        }
        Mitigation::Attach { zone, .. } => {
            if shared.hop(service).isolated {
                return Err(bulkhead_engine::sim::ISOLATED_NOT_ATTACHED.into());
            }
            let networks = &shared.networks();
            let result = drive::attach(docker, container()?, service, zone, networks).await;
            refresh_address(shared, service).await;
            result
        }
        Mitigation::Segment { from_zone, to_zone } => {
            segment(shared, from_zone, to_zone, true).await
        }
        Mitigation::Unsegment { from_zone, to_zone } => {
            segment(shared, from_zone, to_zone, false).await
        }
        Mitigation::Fix { weakness, .. } => fix::fix(shared, service, *weakness).await,
        Mitigation::Block { source } | Mitigation::Unblock { source } => {
            let block = matches!(m, Mitigation::Block { .. });
            at_every(shared, Role::Gateway, |gw| {
                shared.labd.block(gw, source, block)
            })
            .await
        }
    }
}

/// A change applied at every service of a role (a revocation at each web tier, a block at each
/// gateway), each confirmed by its own control API: done when all are, else the first refusal.
async fn at_every<F, Fut>(shared: &Shared, role: Role, apply: F) -> Done
where
    F: Fn(Ipv4Addr) -> Fut,
    Fut: std::future::Future<Output = Done>,
{
    let services = shared.role_services(role);
    let several = services.len() > 1;
    let mut details = Vec::new();
    for service in services {
        let address = (shared.address(&service))
            .ok_or_else(|| format!("{service} has no address (isolated?)"))?;
        let done = apply(address).await;
        details.push(done.map_err(|e| {
            if several {
                format!("{service}: {e}")
            } else {
                e
            }
        })?);
    }
    // One tier: its own words, as a lab of one tier has always said.
    Ok(match details.as_slice() {
        [one] => one.clone(),
        _ => details.join("; "),
    })
}

async fn refresh_address(shared: &Shared, service: &str) {
    let Some(id) = shared.container(service) else {
        return;
    };
    let Ok(inspect) = shared.docker.inspect_container(id, None).await else {
        return;
    };
    let ip = inspect
        .network_settings
        .and_then(|n| n.networks)
        .and_then(|nets| {
            nets.values()
                .find_map(|ep| ep.ip_address.as_deref().and_then(|ip| ip.parse().ok()))
        });
    if let (Some(ip), Ok(mut addresses)) = (ip, shared.addresses.lock()) {
        addresses.insert(service.to_string(), ip);
    }
}

/// A request the range's own console made with web's admin token (a revocation): the
/// defender's action, not the company's traffic, so it is not fed to the detector. Its effect,
/// the `credential` line, is.
fn console_request(event: &LogEvent) -> bool {
    matches!(event, LogEvent::Request { identity: Some(who), endpoint, .. } if who == "admin" && endpoint.starts_with("/admin"))
}

/// What the driver's own probe caused (a segmentation being checked: the crossing, and the
/// target's request when the route is open again): the defender's action, not the company's
/// traffic. Effects are numbered from 1, so no effect carries the probe's trace.
fn probe_crossing(event: &LogEvent) -> bool {
    event.trace() == Some(movement::PROBE_TRACE)
}

/// labd's log lines of one container (by name), for the service's whole life in the lab:
/// Docker ends a followed stream when the container stops, so once it runs again (a trainee's
/// restart, or the lab restoring it) the stream is opened again from the second after it ended
/// (a line written in that second by the new process is the price of not reading the old one
/// twice). A container a fix recreated under the name has a log of its own, read from its start.
async fn follow_logs(shared: Arc<Shared>, container: String) {
    // The service this container runs: the client of the requests its executor reports.
    let client = (shared.lab.containers.iter())
        .find(|(_, c)| c.name == container)
        .map(|(service, _)| service.clone());
    let mut since: Option<i64> = None;
    let mut read = running(&shared.docker, &container).await;
    loop {
        tracing::debug!(container, ?since, "following the container's log");
        read_logs(&shared, &container, client.as_deref(), since).await;
        let ended = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        // Wait for it to run again; the lab's teardown aborts this task.
        let now = loop {
            match running(&shared.docker, &container).await {
                Some(id) => break Some(id),
                None => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        };
        since = (now == read).then_some(ended + 1);
        tracing::debug!(
            container,
            same_container = now == read,
            "the log ended; it runs again"
        );
        read = now;
    }
}

/// The id of the container of that name while Docker says it runs (`None` when it cannot tell).
async fn running(docker: &Docker, container: &str) -> Option<String> {
    let inspect = docker.inspect_container(container, None).await.ok()?;
    let running = inspect.state.and_then(|s| s.running).unwrap_or(false);
    running.then_some(inspect.id).flatten()
}

/// One followed log stream, until Docker ends it.
async fn read_logs(shared: &Shared, container: &str, client: Option<&str>, since: Option<i64>) {
    let mut options = LogsOptionsBuilder::default()
        .follow(true)
        .stdout(true)
        .stderr(false);
    if let Some(since) = since {
        options = options.since(i32::try_from(since).unwrap_or(i32::MAX));
    }
    let mut stream = shared.docker.logs(container, Some(options.build()));
    let mut partial = String::new();
    let mut rates = Rates::default();
    while let Some(Ok(chunk)) = stream.next().await {
        partial.push_str(&chunk.to_string());
        while let Some(end) = partial.find('\n') {
            let line: String = partial.drain(..=end).collect();
            match parse_labd_line(&line) {
                Some(LabdLine::Event { ts_ms, event })
                    if shared.company(event.service())
                        && !console_request(&event)
                        && !probe_crossing(&event) =>
                {
                    shared.observe(shared.clock.of_unix_ms(ts_ms), event);
                }
                Some(LabdLine::Outcome {
                    ts_ms,
                    mut outcome,
                    evidence,
                }) => {
                    outcome.t_ms = shared.clock.of_unix_ms(ts_ms);
                    if let Some(evidence) = evidence {
                        let effect = outcome.effect;
                        outcome.cause = Some(shared.resolve(&evidence, client, effect));
                    }
                    shared.emit(LabOutput::Outcome(outcome));
                }
                Some(LabdLine::Metrics {
                    ts_ms,
                    service,
                    sample,
                }) => shared.labd_metrics(&service, ts_ms, sample, &mut rates),
                _ => {}
            }
        }
    }
}

/// Docker's stats stream (one sample a second), the cross-check of labd's readings: open only
/// while those are stale (a paused container, a dead labd, a container without a cgroup to
/// read), when it feeds the detector and judges the service's hostile jobs in their place. A
/// stream per container all the time cost the daemon more than the lab's own work.
async fn follow_stats(shared: Arc<Shared>, service: String, container: String) {
    loop {
        while shared.labd_metrics_current(&service) {
            tokio::time::sleep(LABD_METRICS_STALE / 3).await;
        }
        let mut net = NetCounters::default();
        let mut stream = shared.docker.stats(
            &container,
            Some(StatsOptionsBuilder::default().stream(true).build()),
        );
        let mut ended = true;
        while let Some(Ok(sample)) = stream.next().await {
            if shared.labd_metrics_current(&service) {
                ended = false;
                break;
            }
            // A stream's first sample has no earlier one to take a CPU rate from.
            if !has_previous_sample(&sample) {
                continue;
            }
            let metrics = metrics_from_stats(&service, &sample, &mut net);
            let t = shared.clock.now();
            shared.judge_jobs(&service, t, &metrics, held_by_limits(&sample));
            shared.emit(LabOutput::Observation(Observation {
                t_ms: t,
                body: ObservationBody::Metrics(metrics),
            }));
        }
        if ended {
            report_if_stopped(&shared, &service, &container).await;
        }
    }
}

/// Whether a stats sample carries the one before it (Docker leaves it empty in the first
/// sample of a stream).
fn has_previous_sample(sample: &bollard::models::ContainerStatsResponse) -> bool {
    sample
        .precpu_stats
        .as_ref()
        .and_then(|c| c.system_cpu_usage)
        .is_some_and(|s| s > 0)
}

/// The stats stream ends when the container stops: report it idle until it runs again.
async fn report_if_stopped(shared: &Shared, service: &str, container: &str) {
    tokio::time::sleep(Duration::from_secs(1)).await;
    // A daemon that does not answer says nothing of the container: report nothing then.
    let Ok(inspect) = shared.docker.inspect_container(container, None).await else {
        return;
    };
    let running = inspect.state.and_then(|s| s.running).unwrap_or(false);
    if !running {
        let idle = bulkhead_engine::Metrics {
            service: service.to_owned(),
            cpu_pct: 0.0,
            memory_mib: 0.0,
            pids: 0,
            net_rx_kbps: 0.0,
            net_tx_kbps: 0.0,
        };
        shared.emit(LabOutput::Observation(Observation {
            t_ms: shared.clock.now(),
            body: ObservationBody::Metrics(idle),
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn restarting(returned_ns: Option<i64>) -> HopState {
        HopState {
            ending: Some(Cause::Stopped {
                service: "web".into(),
            }),
            ending_returned_ns: returned_ns,
            ..HopState::default()
        }
    }

    #[test]
    fn a_death_while_a_restart_runs_is_the_restarts_doing() {
        let stopped = Some(Cause::Stopped {
            service: "web".into(),
        });
        assert_eq!(restarting(None).died_because("web", Some(5)), stopped);
        assert_eq!(restarting(None).died_because("web", None), stopped);
    }

    #[test]
    fn a_die_event_arriving_after_the_restart_returned_still_names_it_by_its_time() {
        let hop = restarting(Some(1_000));
        let stopped = Some(Cause::Stopped {
            service: "web".into(),
        });
        assert_eq!(hop.died_because("web", Some(999)), stopped);
        assert_eq!(hop.died_because("web", Some(1_000)), stopped);
    }

    #[test]
    fn a_death_after_the_restart_returned_is_a_fault() {
        let hop = restarting(Some(1_000));
        assert_eq!(hop.died_because("web", Some(1_001)), None);
        assert_eq!(hop.died_because("web", None), None);
        // Unless the trainee halted the service since.
        let paused = HopState {
            paused: true,
            ..hop
        };
        assert_eq!(
            paused.died_because("web", Some(2_000)),
            Some(Cause::Paused {
                service: "web".into()
            })
        );
    }
}
