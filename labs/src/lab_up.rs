//! `lab_up`: bring a topology up as real containers. One internal network per trust zone, one
//! hardened container per service (all of them, the range's own traffic and attacker too),
//! credentials generated for the run, everything labelled with the session, and nothing left
//! behind when any step fails.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, EndpointSettings, HostConfig,
    HostConfigLogConfig, Ipam, IpamConfig, NetworkConnectRequest, NetworkCreateRequest,
    NetworkingConfig,
};
use bollard::query_parameters::{CreateContainerOptionsBuilder, LogsOptionsBuilder};
use bulkhead_engine::format::scenario::{SAFE_CAPABILITIES, Scenario, Weakness};
use bulkhead_engine::format::topology::{Limits, Role, Service, Topology};
use futures_util::StreamExt;
use futures_util::future::{BoxFuture, FutureExt, Shared, join_all, try_join_all};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use crate::error::LabError;
use crate::image::LAB_USER;
use crate::layers::{self, BakedFile};
use crate::spec::{
    CONTROL_PORT, ContainerInfo, Credentials, LabOptions, METRICS_PERIOD_MS, RunningLab,
    SERVICE_PORT,
};
use crate::{lab_down, labels, subnets};

/// How long the containers of a lab may take to answer their health check.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Size of the writable `/tmp` (the root file system is read-only).
pub const TMPFS_TMP: &str = "rw,noexec,nosuid,nodev,size=16m";
/// The web tier's variable for a management endpoint left on (`ExposedManagement`): what a fix
/// recreates the container without.
pub const MANAGEMENT_VAR: &str = "LABD_MANAGEMENT";
/// What a service needs from its container (labd's `LABD_NEEDS`).
pub const NEEDS_VAR: &str = "LABD_NEEDS";
/// Tells labd to refuse to serve without no-new-privileges (PROTOCOL.md).
pub const REQUIRE_NO_NEW_PRIVS_VAR: &str = "LABD_REQUIRE_NO_NEW_PRIVS";

/// `<session>-<zone>`: the network of one trust zone.
pub fn network_name(session: &str, zone: &str) -> String {
    format!("{session}-{zone}")
}

/// `<session>-<service>`: the container of one service.
pub fn container_name(session: &str, service: &str) -> String {
    format!("{session}-{service}")
}

/// A new session id, `bh-` and 8 random hex digits. Short on purpose: bridge interface names
/// (`<session>-<n>`) must fit in 15 characters.
pub fn new_session_id() -> String {
    format!("bh-{:08x}", StdRng::from_os_rng().random::<u32>())
}

/// Bring the lab of `topology` up for `scenario` on this Docker host, from the lab image
/// `image`, and wait until every container answers its health check. On failure everything
/// created is removed. (`crate::swarm::place::lab_up` places it on a swarm instead.)
pub async fn lab_up(
    docker: &Docker,
    topology: &Topology,
    scenario: &Scenario,
    opts: &LabOptions,
    image: &str,
) -> Result<RunningLab, LabError> {
    let bring: BringUp =
        |docker, plan, image, started| bring_up(docker, plan, image, started).boxed();
    up_with(docker, topology, scenario, opts, image, bring).await
}

/// How a planned lab is brought up: on this host (`bring_up`) or on a swarm.
pub(crate) type BringUp = for<'p> fn(
    &'p Docker,
    &'p Plan<'p>,
    &'p str,
    Instant,
) -> BoxFuture<'p, Result<RunningLab, LabError>>;

/// Plan the lab, bring it up with `bring`, and remove whatever it made if that fails or is
/// dropped half-way: what every placement shares.
pub(crate) async fn up_with(
    docker: &Docker,
    topology: &Topology,
    scenario: &Scenario,
    opts: &LabOptions,
    image: &str,
    bring: BringUp,
) -> Result<RunningLab, LabError> {
    let started = Instant::now();
    // Best effort: without root the lab still runs, and `bulkhead doctor` reports the gap.
    crate::shield::ensure();
    let plan = Plan::new(topology, scenario, opts)?;
    let mut guard = CleanupGuard {
        docker,
        session: Some(plan.session.clone()),
    };
    let result = bring(docker, &plan, image, started).await;
    guard.session = None;
    if result.is_err() {
        // Everything carries the session label, including objects whose creation answer
        // never arrived: the label sweep finds them all.
        if let Err(cleanup) = lab_down::remove_session(docker, &plan.session).await {
            tracing::warn!(session = %plan.session, "cleanup after a failed lab_up: {cleanup}");
        }
    }
    result
}

/// Removes the session's objects when `lab_up` is dropped half-way (its caller timed out or
/// was cancelled), on the runtime it ran on. Without it, only the reaper would, hours later.
struct CleanupGuard<'a> {
    docker: &'a Docker,
    session: Option<String>,
}

impl Drop for CleanupGuard<'_> {
    fn drop(&mut self) {
        let Some(session) = self.session.take() else {
            return;
        };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let docker = self.docker.clone();
            runtime.spawn(async move {
                // Requests dropped in flight may still create objects a moment later: sweep
                // again a few times (the reaper covers anything later still).
                for pause_ms in [0, 500, 1000, 1500, 3000] {
                    tokio::time::sleep(Duration::from_millis(pause_ms)).await;
                    let _ = lab_down::remove_session(&docker, &session).await;
                }
            });
        }
    }
}

/// Everything decided before talking to Docker: names, labels, environment, limits. What a
/// Docker host and a swarm (`crate::swarm::place`) both bring up.
pub(crate) struct Plan<'a> {
    pub(crate) session: String,
    pub(crate) topology: &'a Topology,
    /// (zone id, network name, bridge interface name), in topology order.
    pub(crate) networks: Vec<(String, String, String)>,
    pub(crate) containers: Vec<ContainerPlan>,
    pub(crate) credentials: Credentials,
    pub(crate) base_labels: HashMap<String, String>,
}

pub(crate) struct ContainerPlan {
    pub(crate) service: String,
    pub(crate) name: String,
    /// Network names to join, the home zone's first.
    pub(crate) networks: Vec<String>,
    /// A firewall's zones, in the order of `networks`: it is told each zone's subnet
    /// (`LABD_ZONES`) once the networks exist, to know a connection's zone by its address.
    pub(crate) firewall_zones: Option<Vec<String>>,
    pub(crate) body: ContainerCreateBody,
    /// Files a layer on the lab image bakes into this service's image (`SecretInImage`).
    pub(crate) baked: Vec<BakedFile>,
}

/// `LABD_ZONES=<json>`: a firewall's zones and their subnets.
pub(crate) fn zones_env<'z>(subnets: impl Iterator<Item = (&'z str, &'z str)>) -> String {
    let map: serde_json::Map<String, serde_json::Value> = subnets
        .map(|(zone, subnet)| (zone.to_owned(), json!(subnet)))
        .collect();
    format!("LABD_ZONES={}", serde_json::Value::Object(map))
}

/// A created network: its id and the subnet it was given.
type NetworkMade = Option<(String, String)>;

impl<'a> Plan<'a> {
    /// Service → the files its image layer bakes in, for services that have any.
    pub(crate) fn baked(&self) -> BTreeMap<String, Vec<BakedFile>> {
        (self.containers.iter())
            .filter(|c| !c.baked.is_empty())
            .map(|c| (c.service.clone(), c.baked.clone()))
            .collect()
    }

    pub(crate) fn new(
        topology: &'a Topology,
        scenario: &Scenario,
        opts: &LabOptions,
    ) -> Result<Self, LabError> {
        let invalid = |detail: String| LabError::InvalidLab {
            topology: topology.id.clone(),
            detail,
        };
        if scenario.topology != topology.id {
            return Err(invalid(format!(
                "scenario {} is written for topology {}",
                scenario.id, scenario.topology
            )));
        }
        let session = new_session_id();
        let base_labels = labels::session_labels(&session, &topology.id, opts.ttl);
        let networks = topology
            .zones
            .iter()
            .enumerate()
            .map(|(i, z)| {
                (
                    z.id.clone(),
                    network_name(&session, &z.id),
                    format!("{session}-{i}"),
                )
            })
            .collect();

        let mut rng = StdRng::from_os_rng();
        let credentials = Credentials {
            passwords: topology
                .identities
                .iter()
                .map(|i| (i.id.clone(), random_text(&mut rng, 20)))
                .collect(),
            admin_token: random_hex(&mut rng, 32),
            factory: (scenario.weaknesses.iter())
                .filter_map(|w| match w {
                    Weakness::DefaultPassword {
                        service,
                        identity,
                        password,
                    } => Some(((service.clone(), identity.clone()), password.clone())),
                    _ => None,
                })
                .collect(),
        };
        let alias = |s: &Service| format!("{}:{SERVICE_PORT}", s.id);
        let upstream_of = |s: &Service| -> Result<String, LabError> {
            let next = if s.role == Role::Gateway {
                "web"
            } else {
                "datastore"
            };
            (topology.upstream_of(s).map(alias)).ok_or_else(|| {
                let (role, id) = (s.role.label(), &s.id);
                invalid(format!("{role} {id} has no {next} service upstream"))
            })
        };
        // The executors' default way in; each action names the gateway of its own web tier.
        let default_gateway = (topology.front_door(None))
            .map(|(gateway, _)| gateway)
            .or_else(|| topology.services_with_role(Role::Gateway).next())
            .map(alias)
            .ok_or_else(|| invalid("it has no gateway service".into()))?;
        for weakness in &scenario.weaknesses {
            let service = weakness.service();
            if topology.service(service).is_none() {
                return Err(invalid(format!(
                    "scenario {} weakens unknown service {service}",
                    scenario.id
                )));
            }
        }

        let mut containers = Vec::with_capacity(topology.services.len());
        for service in &topology.services {
            if service.zones.is_empty() {
                return Err(invalid(format!("service {} joins no zone", service.id)));
            }
            let mut nets = Vec::with_capacity(service.zones.len());
            for zone in &service.zones {
                if topology.zone(zone).is_none() {
                    return Err(invalid(format!(
                        "service {} joins unknown zone {zone}",
                        service.id
                    )));
                }
                nets.push(network_name(&session, zone));
            }
            let mut env = vec![
                format!("LABD_SERVICE={}", service.id),
                format!("LABD_PORT={SERVICE_PORT}"),
                format!("LABD_CONTROL_PORT={CONTROL_PORT}"),
                // labd refuses to serve where privileges can be gained: the container sets
                // no-new-privileges on a Docker host, only the daemon can on a Swarm node.
                format!("{REQUIRE_NO_NEW_PRIVS_VAR}=1"),
            ];
            // The range's own actors are not watched by the detector.
            if !service.range_only {
                env.push(format!("LABD_METRICS_MS={METRICS_PERIOD_MS}"));
            }
            // What the business relies on (accepted risks, a fix's declared cost): labd checks
            // it at start, and a fix that took it leaves the service refusing its work, or its
            // jobs (PROTOCOL.md).
            let needs = scenario.needs_of(&service.id);
            if !needs.is_empty() {
                env.push(format!("{NEEDS_VAR}={}", needs.join(",")));
            }
            match service.role {
                Role::Gateway => env.push(format!("LABD_UPSTREAM={}", upstream_of(service)?)),
                Role::Web => {
                    env.push(format!("LABD_UPSTREAM={}", upstream_of(service)?));
                    let creds: Vec<_> = topology
                        .identities
                        .iter()
                        .map(|i| {
                            json!({
                                "identity": i.id,
                                "password": credentials.password_at(&service.id, &i.id),
                                "admin": i.admin,
                            })
                        })
                        .collect();
                    env.push(format!("LABD_CREDENTIALS={}", json!(creds)));
                    env.push(format!("LABD_ADMIN_TOKEN={}", credentials.admin_token));
                    let left_on = scenario.weaknesses.iter().find_map(|w| match w {
                        Weakness::ExposedManagement { service: s, path } if *s == service.id => {
                            Some(path)
                        }
                        _ => None,
                    });
                    if let Some(path) = left_on {
                        env.push(format!("{MANAGEMENT_VAR}={path}"));
                    }
                }
                Role::Datastore => {
                    // Each datastore keeps the datasets stored in it.
                    let datasets: serde_json::Map<String, serde_json::Value> = topology
                        .datasets
                        .iter()
                        .filter(|d| topology.store_of(d).is_some_and(|s| s.id == service.id))
                        .map(|d| (d.id.clone(), json!(d.records)))
                        .collect();
                    env.push(format!(
                        "LABD_DATASETS={}",
                        serde_json::Value::Object(datasets)
                    ));
                }
                Role::Traffic | Role::Attacker => {
                    env.push(format!("LABD_GATEWAY={default_gateway}"));
                }
                Role::Worker => {}
                Role::Firewall => {
                    let routes: Vec<_> = topology
                        .routes
                        .iter()
                        .filter(|r| r.via == service.id)
                        .map(|r| json!({"from": r.from, "to": r.to, "endpoints": r.endpoints}))
                        .collect();
                    env.push(format!("LABD_ROUTES={}", json!(routes)));
                }
            }
            let mut container_labels = base_labels.clone();
            container_labels.insert(labels::SERVICE.into(), service.id.clone());
            container_labels.insert(labels::ROLE.into(), service.role.label().into());
            let name = container_name(&session, &service.id);
            let weaknesses: Vec<&Weakness> = (scenario.weaknesses.iter())
                .filter(|w| w.service() == service.id)
                .collect();
            let body = container_body(service, env, container_labels, &nets[0], &weaknesses);
            containers.push(ContainerPlan {
                body: weakened(body, &weaknesses, &mut rng),
                baked: baked(&weaknesses, &mut rng),
                service: service.id.clone(),
                name,
                networks: nets,
                firewall_zones: (service.role == Role::Firewall).then(|| service.zones.clone()),
            });
        }
        Ok(Plan {
            session,
            topology,
            networks,
            containers,
            credentials,
            base_labels,
        })
    }
}

/// The hardened container of one service, without limits where the scenario declares
/// `NoLimits` for it (its other weaknesses are `weakened`'s).
fn container_body(
    service: &Service,
    env: Vec<String>,
    labels: HashMap<String, String>,
    home_network: &str,
    weaknesses: &[&Weakness],
) -> ContainerCreateBody {
    let limited = !(weaknesses.iter()).any(|w| matches!(w, Weakness::NoLimits { .. }));
    ContainerCreateBody {
        cmd: Some(vec![service.role.label().into()]),
        env: Some(env),
        user: Some(LAB_USER.into()),
        hostname: Some(service.id.clone()),
        labels: Some(labels),
        host_config: Some(hardened_host_config(
            home_network,
            limited.then_some(&service.limits),
        )),
        // API 1.41 accepts a single endpoint at create; the others are connected before start.
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(HashMap::from([(
                home_network.to_owned(),
                endpoint(&service.id),
            )])),
        }),
        ..Default::default()
    }
}

/// A hardened container with a service's declared weaknesses set up: a writable root, root
/// inside the container, capabilities from the safe list added back, a secret (made for this
/// run) in an environment variable. Nothing here reaches the host: no-new-privileges, private
/// namespaces and no host path stay whatever the weakness.
fn weakened(
    mut body: ContainerCreateBody,
    weaknesses: &[&Weakness],
    rng: &mut StdRng,
) -> ContainerCreateBody {
    let host = body.host_config.get_or_insert_with(Default::default);
    for weakness in weaknesses {
        match weakness {
            Weakness::NoLimits { .. } => {}
            Weakness::WritableRoot { .. } => host.readonly_rootfs = Some(false),
            Weakness::RunsAsRoot { .. } => body.user = Some("0:0".into()),
            Weakness::ExtraCapabilities { caps, .. } => {
                let safe = caps
                    .iter()
                    .filter(|c| SAFE_CAPABILITIES.contains(&c.as_str()));
                host.cap_add
                    .get_or_insert_with(Vec::new)
                    .extend(safe.cloned());
            }
            Weakness::SecretInEnv { var, .. } => {
                let secret = format!("{var}={}", random_hex(rng, 24));
                body.env.get_or_insert_with(Vec::new).push(secret);
            }
            // Baked into the image (`baked`), not the container; or in the web tier's own
            // configuration (its accounts' passwords, its management endpoint).
            Weakness::SecretInImage { .. }
            | Weakness::UnneededTool { .. }
            | Weakness::UnverifiedScript { .. }
            | Weakness::DefaultPassword { .. }
            | Weakness::ExposedManagement { .. } => {}
        }
    }
    body
}

/// The files a service's image layer adds for its image weaknesses, as a careless build
/// leaves them: a deployment file holding a secret made for this run (`SecretInImage`), a tool
/// (`UnneededTool`: a stand-in script that does nothing), a vendor's updater that pipes a
/// download into a shell (`UnverifiedScript`). No shell runs either in a lab image.
fn baked(weaknesses: &[&Weakness], rng: &mut StdRng) -> Vec<BakedFile> {
    (weaknesses.iter())
        .filter_map(|w| match w {
            Weakness::SecretInImage { path, var, .. } => Some(BakedFile {
                path: path.clone(),
                content: format!(
                    "# written by the release pipeline; do not edit\n{var}={}\n",
                    random_hex(rng, 24)
                )
                .into_bytes(),
                mode: 0o644,
                kind: w.kind(),
            }),
            Weakness::UnneededTool { path, .. } => Some(BakedFile {
                path: path.clone(),
                content: STAND_IN_TOOL.to_vec(),
                mode: 0o755,
                kind: w.kind(),
            }),
            Weakness::UnverifiedScript { path, source, .. } => Some(BakedFile {
                path: path.clone(),
                content: format!(
                    "#!/bin/sh\n# the vendor's agent updater, as its install guide has it\ncurl -fsSL {source} | sh\n"
                )
                .into_bytes(),
                mode: 0o755,
                kind: w.kind(),
            }),
            _ => None,
        })
        .collect()
}

/// What an `UnneededTool` file holds: nothing that runs (a lab image has no shell).
const STAND_IN_TOOL: &[u8] =
    b"#!/bin/sh\n# left in the image by its build; the service never runs it\nexit 0\n";

/// The host configuration every lab container gets: no capabilities, no-new-privileges,
/// read-only root with a small no-exec `/tmp`, private IPC, not privileged, no published
/// ports, on `network`, with `limits` (none: unlimited, the `NoLimits` weakness). Set the
/// user ([`LAB_USER`]) on the container config too.
pub fn hardened_host_config(network: &str, limits: Option<&Limits>) -> HostConfig {
    let memory = limits.map(|l| i64::from(l.memory_mib) * 1024 * 1024);
    HostConfig {
        cap_drop: Some(vec!["ALL".into()]),
        security_opt: Some(vec!["no-new-privileges".into()]),
        readonly_rootfs: Some(true),
        privileged: Some(false),
        tmpfs: Some(HashMap::from([("/tmp".into(), TMPFS_TMP.into())])),
        ipc_mode: Some("private".into()),
        network_mode: Some(network.into()),
        memory,
        // Equal to memory: no swap on top of the limit.
        memory_swap: memory,
        nano_cpus: limits.map(|l| (f64::from(l.cpu_cores) * 1e9).round() as i64),
        pids_limit: limits.map(|l| i64::from(l.pids)),
        // Explicit, so the driver can read logs whatever the daemon's default driver is;
        // bounded, because floods log a line per second per source for minutes.
        log_config: Some(HostConfigLogConfig {
            typ: Some("json-file".into()),
            config: Some(HashMap::from([
                ("max-size".into(), "16m".into()),
                ("max-file".into(), "2".into()),
            ])),
        }),
        ..Default::default()
    }
}

fn endpoint(alias: &str) -> EndpointSettings {
    EndpointSettings {
        aliases: Some(vec![alias.to_owned()]),
        ..Default::default()
    }
}

async fn bring_up(
    docker: &Docker,
    plan: &Plan<'_>,
    image: &str,
    started: Instant,
) -> Result<RunningLab, LabError> {
    let session = &plan.session;
    // Each container waits only for its own networks, so containers of one zone are created
    // while other zones' networks are still being made. A failed network leaves its error
    // here; the containers waiting for it fail with a placeholder that this error replaces.
    let network_error: Mutex<Option<LabError>> = Mutex::new(None);
    let networks: HashMap<&str, Shared<BoxFuture<'_, NetworkMade>>> = plan
        .networks
        .iter()
        .map(|(zone, name, bridge)| {
            let network_error = &network_error;
            let created = async move {
                match create_network(docker, plan, zone, name, bridge).await {
                    Ok(made) => Some(made),
                    Err(e) => {
                        if let Ok(mut slot) = network_error.lock() {
                            slot.get_or_insert(e);
                        }
                        None
                    }
                }
            };
            (name.as_str(), created.boxed().shared())
        })
        .collect();
    let all_networks = join_all(plan.networks.iter().map(|(zone, name, _)| {
        networks[name.as_str()]
            .clone()
            .map(move |made| (zone, made.map(|(id, _)| id)))
    }));
    // join_all, not try_join_all: on a failure the others run to their end, so no creation
    // is still in flight (and unseen) when the cleanup lists the session's objects.
    let all_containers = join_all(
        plan.containers
            .iter()
            .map(|c| create_and_start(docker, c, image, &networks)),
    );
    let (network_ids, infos) = futures_util::future::join(all_networks, all_containers).await;
    if let Some(e) = network_error.lock().ok().and_then(|mut slot| slot.take()) {
        return Err(e);
    }
    let infos = infos.into_iter().collect::<Result<Vec<_>, _>>()?;
    let network_ids: BTreeMap<String, String> = network_ids
        .into_iter()
        .filter_map(|(zone, id)| Some((zone.clone(), id?)))
        .collect();
    let up_in = started.elapsed();
    tracing::debug!(%session, elapsed = ?up_in, "containers started");

    let zone_of: HashMap<String, String> = plan
        .networks
        .iter()
        .map(|(zone, name, _)| (name.clone(), zone.clone()))
        .collect();
    let containers: BTreeMap<String, ContainerInfo> = plan
        .containers
        .iter()
        .zip(infos)
        .map(|(c, inspect)| {
            let addresses = addresses(&inspect, &zone_of);
            (
                c.service.clone(),
                ContainerInfo {
                    id: inspect.id.unwrap_or_default(),
                    name: c.name.clone(),
                    service: c.service.clone(),
                    addresses,
                },
            )
        })
        .collect();
    for info in containers.values() {
        if info.address().is_none() {
            return Err(LabError::InvalidLab {
                topology: plan.topology.id.clone(),
                detail: format!("container {} got no IPv4 address", info.name),
            });
        }
    }
    let labd = crate::drive::Labd::new();
    wait_ready(docker, &labd, session, &containers, READY_TIMEOUT).await?;
    Ok(RunningLab {
        session: session.clone(),
        topology: plan.topology.id.clone(),
        networks: network_ids,
        containers,
        baked: plan.baked(),
        credentials: plan.credentials.clone(),
        up_in,
        ready_in: started.elapsed(),
        node: None,
    })
}

/// Create the internal network of one zone; returns its id and subnet.
async fn create_network(
    docker: &Docker,
    plan: &Plan<'_>,
    zone: &str,
    name: &str,
    bridge: &str,
) -> Result<(String, String), LabError> {
    let mut net_labels = plan.base_labels.clone();
    net_labels.insert(labels::ZONE.into(), zone.to_owned());
    // Another process may take the subnet between the listing and the creation; the daemon
    // refuses the overlap and the next free one is tried.
    let mut refused = Vec::new();
    let t0 = Instant::now();
    loop {
        let lease = subnets::lease(docker, &refused).await?;
        let request = NetworkCreateRequest {
            driver: Some("bridge".into()),
            internal: Some(true),
            enable_ipv6: Some(false),
            ..lab_bridge(name, net_labels.clone(), &lease.subnet(), bridge)
        };
        match docker.create_network(request).await {
            Ok(created) => {
                tracing::debug!(%name, took = ?t0.elapsed(), "network created");
                return Ok((created.id, lease.subnet()));
            }
            Err(e) if subnets::is_overlap(&e) && refused.len() < 32 => {
                refused.extend(subnets::parse_cidr(&lease.subnet()));
            }
            Err(e) => return Err(LabError::docker("create network", name, e)),
        }
    }
}

/// A lab bridge's name, labels, subnet and interface name (`bh-...`: a fixed interface prefix
/// lets one host firewall rule, `-i bh-+`, cover every lab network; see doctor.rs).
pub(crate) fn lab_bridge(
    name: &str,
    labels: HashMap<String, String>,
    subnet: &str,
    bridge: &str,
) -> NetworkCreateRequest {
    NetworkCreateRequest {
        name: name.to_owned(),
        labels: Some(labels),
        ipam: Some(Ipam {
            config: Some(vec![IpamConfig {
                subnet: Some(subnet.to_owned()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        options: Some(HashMap::from([(
            "com.docker.network.bridge.name".into(),
            bridge.to_owned(),
        )])),
        ..Default::default()
    }
}

/// Wait until a network exists (created by another task of the same lab_up); its subnet.
async fn network_ready(
    networks: &HashMap<&str, Shared<BoxFuture<'_, NetworkMade>>>,
    network: &str,
) -> Result<String, LabError> {
    match networks.get(network) {
        Some(created) => created
            .clone()
            .await
            .map(|(_, subnet)| subnet)
            .ok_or_else(|| network_failed(network)),
        None => Err(network_failed(network)),
    }
}

/// Stands in for a network's own error in the containers that waited for it.
fn network_failed(network: &str) -> LabError {
    LabError::Runtime(format!("network {network} was not created"))
}

/// Create one container on its home network, connect its other networks, start it, and
/// return its inspection (which holds the addresses Docker gave it).
async fn create_and_start(
    docker: &Docker,
    plan: &ContainerPlan,
    image: &str,
    networks: &HashMap<&str, Shared<BoxFuture<'_, NetworkMade>>>,
) -> Result<ContainerInspectResponse, LabError> {
    let name = &plan.name;
    let image = if plan.baked.is_empty() {
        image.to_owned()
    } else {
        // Its own image: the lab image and a layer of what a careless build baked in.
        let tag = format!("{}:{name}", layers::REPOSITORY);
        let image_labels = plan.body.labels.clone().unwrap_or_default();
        layers::build_layer(docker, image, &tag, &plan.baked, &image_labels).await?;
        tag
    };
    network_ready(networks, &plan.networks[0]).await?;
    let mut body = ContainerCreateBody {
        image: Some(image),
        ..plan.body.clone()
    };
    if let Some(zones) = &plan.firewall_zones {
        let mut subnets = Vec::new();
        for (zone, network) in zones.iter().zip(&plan.networks) {
            subnets.push((zone.as_str(), network_ready(networks, network).await?));
        }
        let pairs = subnets
            .iter()
            .map(|(zone, subnet)| (*zone, subnet.as_str()));
        body.env.get_or_insert_with(Vec::new).push(zones_env(pairs));
    }
    // Times since the create call, logged at debug level: on a slow start they show which
    // daemon step took the time (on the reference machine: start, 0.3-1.5 s each).
    let t0 = Instant::now();
    let id = &create(docker, name, body).await?;
    let t_create = t0.elapsed();
    try_join_all(plan.networks[1..].iter().map(|network| async move {
        network_ready(networks, network).await?;
        connect(docker, id, name, network, endpoint(&plan.service)).await
    }))
    .await?;
    let t_connect = t0.elapsed();
    let inspected = start_inspected(docker, id, name).await;
    tracing::debug!(%name, ?t_create, ?t_connect, started = ?t0.elapsed(), "container up");
    inspected
}

/// Create a container named `name` (on the one network its body names: API 1.41 accepts a
/// single endpoint at create); its id.
pub(crate) async fn create(
    docker: &Docker,
    name: &str,
    body: ContainerCreateBody,
) -> Result<String, LabError> {
    let options = CreateContainerOptionsBuilder::default().name(name).build();
    let created = docker
        .create_container(Some(options), body)
        .await
        .map_err(|e| LabError::docker("create container", name, e))?;
    Ok(created.id)
}

/// Connect a created container (`id`, named `name`) to one more network, before it starts.
pub(crate) async fn connect(
    docker: &Docker,
    id: &str,
    name: &str,
    network: &str,
    endpoint: EndpointSettings,
) -> Result<(), LabError> {
    let request = NetworkConnectRequest {
        container: id.to_owned(),
        endpoint_config: Some(endpoint),
    };
    docker
        .connect_network(network, request)
        .await
        .map_err(|e| LabError::docker("connect network", format!("{network} to {name}"), e))
}

/// Start a container and return its inspection, which holds the addresses Docker gave it.
pub(crate) async fn start_inspected(
    docker: &Docker,
    id: &str,
    name: &str,
) -> Result<ContainerInspectResponse, LabError> {
    docker
        .start_container(id, None)
        .await
        .map_err(|e| LabError::docker("start container", name, e))?;
    docker
        .inspect_container(id, None)
        .await
        .map_err(|e| LabError::docker("inspect container", name, e))
}

/// Zone → IPv4 address, from an inspection.
pub(crate) fn addresses(
    inspect: &ContainerInspectResponse,
    zone_of: &HashMap<String, String>,
) -> BTreeMap<String, Ipv4Addr> {
    inspect
        .network_settings
        .as_ref()
        .and_then(|s| s.networks.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|(network, endpoint)| {
            let zone = zone_of.get(network)?;
            let ip = endpoint.ip_address.as_deref()?.parse().ok()?;
            Some((zone.clone(), ip))
        })
        .collect()
}

/// Wait until every container's control API answers `GET /healthz` with 200: the check the
/// image's HEALTHCHECK runs inside, done here from the host on the lab address. Docker runs
/// its first health probe only one interval (30 s, see `image::image_config`) after start and
/// API 1.41 has no start interval, so the range never waits for Docker's `healthy`. A
/// container that exits fails at once, with its last output.
pub async fn wait_ready(
    docker: &Docker,
    labd: &crate::drive::Labd,
    session: &str,
    containers: &BTreeMap<String, ContainerInfo>,
    timeout: Duration,
) -> Result<(), LabError> {
    let started = Instant::now();
    let mut pending: Vec<&ContainerInfo> = containers.values().collect();
    let mut last_check = Instant::now();
    loop {
        let answers = join_all(pending.iter().map(|c| healthz(labd, c))).await;
        let mut still = Vec::new();
        for (c, ok) in pending.into_iter().zip(answers) {
            if !ok {
                still.push(c);
            }
        }
        pending = still;
        if pending.is_empty() {
            return Ok(());
        }
        // Checking Docker's state costs more than a refused connection: do it now and then.
        if last_check.elapsed() >= Duration::from_millis(400) {
            last_check = Instant::now();
            for c in &pending {
                exited_check(docker, c).await?;
            }
        }
        if started.elapsed() >= timeout {
            let mut states = Vec::new();
            for c in &pending {
                states.push(format!(
                    "{} ({})",
                    c.name,
                    describe_state(docker, &c.id).await
                ));
            }
            return Err(LabError::HealthTimeout {
                session: session.to_owned(),
                waited: started.elapsed(),
                pending: states,
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An HTTP client for lab addresses: short timeouts, and never a proxy (an inherited
/// `http_proxy` would send lab traffic elsewhere).
pub fn health_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(Duration::from_millis(300))
        .timeout(Duration::from_millis(1000))
        .build()
        .unwrap_or_default()
}

async fn healthz(labd: &crate::drive::Labd, c: &ContainerInfo) -> bool {
    match c.address() {
        Some(ip) => labd.healthy(ip).await,
        None => false,
    }
}

/// Fail with the container's exit code and last output when it is no longer running.
async fn exited_check(docker: &Docker, c: &ContainerInfo) -> Result<(), LabError> {
    let inspect = docker
        .inspect_container(&c.id, None)
        .await
        .map_err(|e| LabError::docker("inspect container", c.name.clone(), e))?;
    let state = inspect.state.unwrap_or_default();
    if state.running == Some(false) {
        return Err(LabError::ContainerExited {
            container: c.name.clone(),
            exit_code: state.exit_code.unwrap_or(-1),
            logs: logs_tail(docker, &c.id, 20).await,
        });
    }
    Ok(())
}

async fn describe_state(docker: &Docker, id: &str) -> String {
    match docker.inspect_container(id, None).await {
        Ok(i) => {
            let state = i.state.unwrap_or_default();
            let health = state
                .health
                .and_then(|h| h.status)
                .map_or_else(|| "no health".into(), |s| s.to_string());
            format!(
                "{}, health {health}",
                state
                    .status
                    .map_or_else(|| "unknown".into(), |s| s.to_string())
            )
        }
        Err(e) => format!("cannot inspect: {e}"),
    }
}

/// The last `lines` lines a container wrote (stdout and stderr), for error messages.
pub async fn logs_tail(docker: &Docker, container: &str, lines: usize) -> String {
    let options = LogsOptionsBuilder::default()
        .stdout(true)
        .stderr(true)
        .tail(&lines.to_string())
        .build();
    let mut stream = docker.logs(container, Some(options));
    let mut text = String::new();
    while let Some(Ok(chunk)) = stream.next().await {
        text.push_str(&chunk.to_string());
    }
    text.lines()
        .map(|l| format!("  | {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn random_hex(rng: &mut StdRng, len: usize) -> String {
    (0..len)
        .map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap_or('0'))
        .collect()
}

/// Letters and digits only: safe in JSON, env values and URLs without escaping.
fn random_text(rng: &mut StdRng, len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    (0..len)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Lab safety, for every shipped scenario and every variant it can play: no container is
    /// privileged, adds a capability, shares a host namespace, or mounts a host path, a device
    /// or the Docker socket. The hardening phase's weaknesses must keep to this too.
    #[test]
    fn no_lab_container_of_any_scenario_or_variant_gets_host_access() {
        use bulkhead_engine::format::variants::{Pick, resolve_pick};
        let root = crate::image::source_dir();
        let ids = bulkhead_engine::format::list_ids(&root.join("scenarios"));
        assert!(ids.len() >= 4, "{ids:?}");
        let mut checked = 0;
        for id in ids {
            let loaded = bulkhead_engine::format::resolve_scenario(&root, &id).unwrap();
            let picks = Pick::all(&loaded.scenario.variants, 4096).expect("few enough variants");
            for pick in picks {
                let scenario = resolve_pick(&loaded.scenario, &pick).unwrap();
                let plan = Plan::new(&loaded.topology, &scenario, &LabOptions::default()).unwrap();
                for c in &plan.containers {
                    let what = format!("{id} {pick:?} {}", c.service);
                    assert_no_host_access(&c.body, &c.networks, &what);
                    checked += 1;
                }
            }
        }
        assert!(checked > 20, "{checked} containers checked");
    }

    /// Every weakness of the family on one service: set up as declared, and still no host access.
    #[test]
    fn every_weakness_is_set_up_as_declared_and_none_reaches_the_host() {
        let root = crate::image::source_dir();
        let loaded =
            bulkhead_engine::format::resolve_scenario(&root, "stolen-credentials").unwrap();
        let mut scenario = (*loaded.scenario).clone();
        scenario.weaknesses = every_weakness("tenant-a");
        let plan = Plan::new(&loaded.topology, &scenario, &LabOptions::default()).unwrap();
        for c in &plan.containers {
            assert_no_host_access(&c.body, &c.networks, &c.service);
        }
        let tenant = plan
            .containers
            .iter()
            .find(|c| c.service == "tenant-a")
            .unwrap();
        let host = tenant.body.host_config.as_ref().unwrap();
        assert_eq!(host.memory, None, "NoLimits");
        assert_eq!(host.readonly_rootfs, Some(false), "WritableRoot");
        assert_eq!(tenant.body.user.as_deref(), Some("0:0"), "RunsAsRoot");
        assert_eq!(
            host.cap_add,
            Some(vec!["NET_RAW".to_string()]),
            "ExtraCapabilities"
        );
        let env = tenant.body.env.clone().unwrap_or_default();
        let secret = env.iter().find_map(|e| e.strip_prefix("DB_PASSWORD="));
        assert!(
            secret.is_some_and(|s| s.len() >= 24),
            "SecretInEnv: {env:?}"
        );
        // The other company services keep every hardening.
        let web = plan.containers.iter().find(|c| c.service == "web").unwrap();
        let web_host = web.body.host_config.as_ref().unwrap();
        assert_eq!(web_host.readonly_rootfs, Some(true));
        assert_eq!(web.body.user.as_deref(), Some(LAB_USER));
        assert!(web_host.cap_add.is_none());
    }

    /// A secret baked into an image is a file of the service's image layer, made for the run,
    /// and nowhere in the container's own spec.
    #[test]
    fn a_secret_in_an_image_is_a_file_of_its_layer_and_not_of_the_container() {
        let root = crate::image::source_dir();
        let loaded =
            bulkhead_engine::format::resolve_scenario(&root, "stolen-credentials").unwrap();
        let mut scenario = (*loaded.scenario).clone();
        scenario.weaknesses = vec![Weakness::SecretInImage {
            service: "tenant-a".into(),
            path: "/etc/deploy/release.env".into(),
            var: "DEPLOY_TOKEN".into(),
        }];
        let plan = Plan::new(&loaded.topology, &scenario, &LabOptions::default()).unwrap();
        for c in &plan.containers {
            assert_no_host_access(&c.body, &c.networks, &c.service);
            let env = c.body.env.clone().unwrap_or_default();
            assert!(!env.iter().any(|e| e.contains("DEPLOY_TOKEN")), "{env:?}");
        }
        let tenant = (plan.containers.iter())
            .find(|c| c.service == "tenant-a")
            .unwrap();
        let [file] = tenant.baked.as_slice() else {
            panic!("one baked file: {:?}", tenant.baked)
        };
        assert_eq!(file.path, "/etc/deploy/release.env");
        let text = String::from_utf8(file.content.clone()).unwrap();
        let secret = text.lines().find_map(|l| l.strip_prefix("DEPLOY_TOKEN="));
        assert!(secret.is_some_and(|s| s.len() >= 24), "{text}");
        assert!(
            (plan.containers.iter())
                .filter(|c| c.service != "tenant-a")
                .all(|c| c.baked.is_empty())
        );
    }

    /// The spec `lab_up` plans for `service` when scenario `id` declares `weaknesses`, and its
    /// networks (home first): where the tests of a fix start from.
    pub(crate) fn planned(
        id: &str,
        weaknesses: Vec<Weakness>,
        service: &str,
    ) -> (ContainerCreateBody, Vec<String>) {
        let root = crate::image::source_dir();
        let loaded = bulkhead_engine::format::resolve_scenario(&root, id).unwrap();
        let mut scenario = (*loaded.scenario).clone();
        scenario.weaknesses = weaknesses;
        let plan = Plan::new(&loaded.topology, &scenario, &LabOptions::default()).unwrap();
        let c = (plan.containers.into_iter())
            .find(|c| c.service == service)
            .unwrap();
        (c.body, c.networks)
    }

    /// One weakness of each kind, on `service`.
    pub(crate) fn every_weakness(service: &str) -> Vec<Weakness> {
        let service = service.to_string();
        vec![
            Weakness::NoLimits {
                service: service.clone(),
            },
            Weakness::WritableRoot {
                service: service.clone(),
            },
            Weakness::RunsAsRoot {
                service: service.clone(),
            },
            Weakness::ExtraCapabilities {
                service: service.clone(),
                caps: vec!["NET_RAW".into()],
            },
            Weakness::SecretInEnv {
                service,
                var: "DB_PASSWORD".into(),
            },
        ]
    }

    /// Lab safety of one container's spec, on `networks` (its home network first).
    pub(crate) fn assert_no_host_access(
        body: &ContainerCreateBody,
        networks: &[String],
        what: &str,
    ) {
        let host = body.host_config.as_ref().expect("a host config");
        assert_eq!(host.privileged, Some(false), "{what}: privileged");
        // Only an ExtraCapabilities weakness adds any, and only capabilities of the safe list.
        assert!(
            (host.cap_add.iter().flatten()).all(|c| SAFE_CAPABILITIES.contains(&c.as_str())),
            "{what}: adds capabilities beyond the safe list: {:?}",
            host.cap_add
        );
        assert!(
            (body.host_config.iter())
                .flat_map(|h| h.security_opt.iter().flatten())
                .any(|o| o == "no-new-privileges"),
            "{what}: may gain privileges"
        );
        assert_eq!(
            host.cap_drop.as_deref(),
            Some(&["ALL".to_owned()][..]),
            "{what}"
        );
        for (namespace, mode) in [
            ("pid", &host.pid_mode),
            ("uts", &host.uts_mode),
            ("userns", &host.userns_mode),
            (
                "cgroupns",
                &host.cgroupns_mode.as_ref().map(|m| format!("{m:?}")),
            ),
        ] {
            assert!(
                mode.as_deref()
                    .is_none_or(|m| !m.to_lowercase().contains("host")),
                "{what}: shares the host's {namespace} namespace"
            );
        }
        assert_eq!(host.ipc_mode.as_deref(), Some("private"), "{what}: ipc");
        let network = host.network_mode.as_deref().unwrap_or_default();
        assert!(
            networks.iter().any(|n| n == network),
            "{what}: network mode {network} is not one of the lab's networks"
        );
        assert!(
            host.binds.as_ref().is_none_or(Vec::is_empty),
            "{what}: binds a host path"
        );
        assert!(
            host.mounts.as_ref().is_none_or(Vec::is_empty),
            "{what}: mounts"
        );
        assert!(
            host.devices.as_ref().is_none_or(Vec::is_empty),
            "{what}: devices"
        );
        assert!(
            host.volumes_from.as_ref().is_none_or(Vec::is_empty),
            "{what}: volumes"
        );
        assert!(
            body.volumes.as_ref().is_none_or(|v| v.is_empty()),
            "{what}: volumes"
        );
        let everything = format!("{body:?}");
        assert!(
            !everything.contains("docker.sock"),
            "{what}: names the Docker socket"
        );
        assert!(
            !everything.contains("DOCKER_HOST"),
            "{what}: names the Docker daemon"
        );
    }

    #[test]
    fn names_fit_linux_interface_names() {
        let s = new_session_id();
        assert!(s.starts_with("bh-") && s.len() == 11, "{s}");
        assert!(format!("{s}-99").len() <= 15);
        assert_ne!(s, new_session_id());
    }

    fn env_of<'a>(plan: &'a Plan<'_>, service: &str) -> BTreeMap<&'a str, &'a str> {
        let c = plan
            .containers
            .iter()
            .find(|c| c.service == service)
            .unwrap();
        c.body
            .env
            .iter()
            .flatten()
            .filter_map(|kv| kv.split_once('='))
            .collect()
    }

    /// What the business relies on (its accepted risks, and a fix's declared cost) reaches the
    /// service that relies on it as labd's needs, and no other service.
    #[test]
    fn what_the_business_relies_on_is_handed_to_its_service_as_a_need() {
        // (service, LABD_NEEDS) of every container that has one, in the plan's order.
        let needs_in = |id: &str| -> Vec<(String, String)> {
            let loaded =
                bulkhead_engine::format::resolve_scenario(&crate::image::source_dir(), id).unwrap();
            let plan =
                Plan::new(&loaded.topology, &loaded.scenario, &LabOptions::default()).unwrap();
            let prefix = format!("{NEEDS_VAR}=");
            (plan.containers.iter())
                .filter_map(|c| {
                    let env = c.body.env.as_ref()?;
                    let need = env.iter().find_map(|e| e.strip_prefix(&prefix))?;
                    Some((c.service.clone(), need.to_owned()))
                })
                .collect()
        };
        let pairs = |p: &[(&str, &str)]| -> Vec<(String, String)> {
            (p.iter())
                .map(|(s, n)| (s.to_string(), n.to_string()))
                .collect()
        };
        let mut lateral = needs_in("lateral-movement");
        lateral.sort();
        assert_eq!(
            lateral,
            pairs(&[
                ("api", "writable-root"),
                ("ops-console", "cap:NET_BIND_SERVICE")
            ])
        );
        assert_eq!(
            needs_in("supply-chain"),
            pairs(&[("export-worker", "root")])
        );
        // The accepted risk, and the tool tenant B's weekly sync runs (a fix with a cost).
        assert_eq!(
            needs_in("baked-secret"),
            pairs(&[
                ("datastore", "writable-root"),
                ("tenant-b", "tool:/usr/local/bin/socat")
            ])
        );
        assert!(needs_in("stolen-credentials").is_empty());
    }

    /// A factory password is the account's at the web tier the weakness names, and nowhere
    /// else: the other accounts keep their generated passwords, and the driver knows it.
    #[test]
    fn a_default_password_is_handed_to_its_web_tier_for_its_account_only() {
        let loaded =
            bulkhead_engine::format::resolve_scenario(&crate::image::source_dir(), "baked-secret")
                .unwrap();
        let plan = Plan::new(&loaded.topology, &loaded.scenario, &LabOptions::default()).unwrap();
        let creds: Vec<serde_json::Value> =
            serde_json::from_str(env_of(&plan, "web")["LABD_CREDENTIALS"]).unwrap();
        let password = |who: &str| {
            (creds.iter().find(|c| c["identity"] == who))
                .map(|c| c["password"].as_str().unwrap_or_default().to_owned())
        };
        assert_eq!(password("shopadmin").as_deref(), Some("admin"));
        let generated = &plan.credentials.passwords;
        assert_eq!(password("ben").as_ref(), generated.get("ben"));
        assert_ne!(
            generated["shopadmin"], "admin",
            "its rotation has a generated one"
        );
        assert_eq!(
            plan.credentials
                .password_at("web", "shopadmin")
                .map(String::as_str),
            Some("admin")
        );
        assert_eq!(
            plan.credentials.password_at("web", "ben"),
            generated.get("ben")
        );
    }

    #[test]
    fn plan_follows_the_protocol_and_the_declared_weakness() {
        let loaded = bulkhead_engine::format::resolve_scenario(
            &crate::image::source_dir(),
            "resource-exhaustion",
        )
        .unwrap();
        let plan = Plan::new(&loaded.topology, &loaded.scenario, &LabOptions::default()).unwrap();
        assert_eq!(plan.containers.len(), loaded.topology.services.len());
        assert_eq!(plan.networks.len(), loaded.topology.zones.len());

        assert_eq!(env_of(&plan, "gateway")["LABD_UPSTREAM"], "web:8080");
        assert_eq!(env_of(&plan, "web")["LABD_UPSTREAM"], "datastore:8080");
        assert_eq!(env_of(&plan, "traffic")["LABD_GATEWAY"], "gateway:8080");
        assert_eq!(env_of(&plan, "attacker")["LABD_GATEWAY"], "gateway:8080");
        let web = env_of(&plan, "web");
        assert_eq!(web["LABD_ADMIN_TOKEN"], plan.credentials.admin_token);
        let creds: Vec<serde_json::Value> = serde_json::from_str(web["LABD_CREDENTIALS"]).unwrap();
        assert_eq!(creds.len(), loaded.topology.identities.len());
        let erin = creds.iter().find(|c| c["identity"] == "erin").unwrap();
        assert_eq!(erin["admin"], true);
        assert_eq!(
            erin["password"],
            plan.credentials.passwords["erin"].as_str()
        );
        let datasets: serde_json::Value =
            serde_json::from_str(env_of(&plan, "datastore")["LABD_DATASETS"]).unwrap();
        assert_eq!(datasets["orders"], 50000);
        assert!(!env_of(&plan, "datastore").contains_key("LABD_CREDENTIALS"));
        assert_eq!(env_of(&plan, "tenant-a")["LABD_METRICS_MS"], "250");
        for c in &plan.containers {
            assert_eq!(env_of(&plan, &c.service)[REQUIRE_NO_NEW_PRIVS_VAR], "1");
        }
        assert!(!env_of(&plan, "attacker").contains_key("LABD_METRICS_MS"));

        for c in &plan.containers {
            let host = c.body.host_config.as_ref().unwrap();
            assert_eq!(c.body.cmd.as_ref().unwrap().len(), 1);
            assert_eq!(
                host.memory.is_none(),
                c.service == "tenant-a",
                "{}",
                c.service
            );
            assert_eq!(host.pids_limit.is_none(), c.service == "tenant-a");
            assert_eq!(host.cap_drop.as_deref(), Some(&["ALL".to_owned()][..]));
            assert_eq!(host.readonly_rootfs, Some(true));
        }
        // Gateway joins three zones: created on the first, connected to the other two.
        let gateway = plan
            .containers
            .iter()
            .find(|c| c.service == "gateway")
            .unwrap();
        assert_eq!(gateway.networks.len(), 3);
        assert_eq!(
            gateway
                .body
                .host_config
                .as_ref()
                .unwrap()
                .network_mode
                .as_deref(),
            Some(gateway.networks[0].as_str())
        );
    }

    #[test]
    fn a_mismatched_or_broken_topology_is_an_error_not_a_panic() {
        let loaded = bulkhead_engine::format::resolve_scenario(
            &crate::image::source_dir(),
            "stolen-credentials",
        )
        .unwrap();
        let mut topology = (*loaded.topology).clone();
        topology.id = "other".into();
        assert!(Plan::new(&topology, &loaded.scenario, &LabOptions::default()).is_err());
        let mut topology = (*loaded.topology).clone();
        topology.services.retain(|s| s.role != Role::Web);
        let err = Plan::new(&topology, &loaded.scenario, &LabOptions::default())
            .err()
            .unwrap();
        assert!(err.to_string().contains("no web service"), "{err}");
        let mut topology = (*loaded.topology).clone();
        topology.services[0].zones = vec!["nowhere".into()];
        assert!(Plan::new(&topology, &loaded.scenario, &LabOptions::default()).is_err());
    }

    #[test]
    fn a_firewall_is_told_its_routes_and_its_zones_wait_for_their_subnets() {
        let loaded =
            bulkhead_engine::format::resolve_scenario(&crate::image::source_dir(), "poisoned-pdf")
                .unwrap();
        let plan = Plan::new(&loaded.topology, &loaded.scenario, &LabOptions::default()).unwrap();
        let routes: serde_json::Value =
            serde_json::from_str(env_of(&plan, "firewall")["LABD_ROUTES"]).unwrap();
        assert_eq!(
            routes,
            json!([
                {"from": "jobs", "to": "data", "endpoints": ["/records"]},
                {"from": "ops", "to": "data", "endpoints": []},
            ])
        );
        let firewall = plan
            .containers
            .iter()
            .find(|c| c.service == "firewall")
            .unwrap();
        assert_eq!(
            firewall.firewall_zones.as_deref(),
            Some(&["jobs".to_owned(), "ops".to_owned(), "data".to_owned()][..])
        );
        // Two ways in: each gateway forwards to its own tier, each tier reads its own store,
        // and each store keeps its own datasets; the executors default to the API's gateway.
        assert_eq!(env_of(&plan, "gateway")["LABD_UPSTREAM"], "api:8080");
        let partner = env_of(&plan, "partner-gateway");
        assert_eq!(partner["LABD_UPSTREAM"], "partner-portal:8080");
        assert_eq!(
            env_of(&plan, "partner-portal")["LABD_UPSTREAM"],
            "payouts-db:8080"
        );
        assert_eq!(env_of(&plan, "api")["LABD_UPSTREAM"], "ledger-db:8080");
        let kept = |store| -> serde_json::Value {
            serde_json::from_str(env_of(&plan, store)["LABD_DATASETS"]).unwrap()
        };
        assert_eq!(kept("payouts-db"), json!({"payouts": 3000}));
        assert!(kept("ledger-db").get("payouts").is_none());
        assert!(kept("ledger-db").get("card-tokens").is_some());
        assert_eq!(env_of(&plan, "attacker")["LABD_GATEWAY"], "gateway:8080");
        // Subnets are leased as the networks are made: not known, so not set, at plan time.
        assert!(!env_of(&plan, "firewall").contains_key("LABD_ZONES"));
        assert!(
            plan.containers
                .iter()
                .filter(|c| c.service != "firewall")
                .all(|c| c.firewall_zones.is_none())
        );
    }

    #[test]
    fn random_secrets_have_the_asked_shape() {
        let mut rng = StdRng::from_os_rng();
        let hex = random_hex(&mut rng, 32);
        assert_eq!(hex.len(), 32);
        assert!(hex.chars().all(|c| c.is_ascii_hexdigit()));
        let text = random_text(&mut rng, 20);
        assert_eq!(text.len(), 20);
        assert!(text.chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
