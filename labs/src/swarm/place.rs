//! `place`: bring a lab up as Docker Swarm services, from the same plan `lab_up` makes for a
//! Docker host: one service per lab service (one replica, never restarted by Swarm, so a
//! trainee's stop or pause stays), per-zone Swarm-scoped bridges, all on the node `pick_node`
//! chose, and the lab's whole reservation on its first service, so that Swarm starts the lab
//! only where all of it fits (see `swarm.rs` for why one node).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{
    ConfigReference, EndpointSpec, EndpointSpecModeEnum, HealthConfig, Limit, Mount,
    MountTmpfsOptions, MountType, NetworkAttachmentConfig, NetworkCreateRequest, ResourceObject,
    ServiceSpec, ServiceSpecMode, ServiceSpecModeReplicated, TaskSpec, TaskSpecContainerSpec,
    TaskSpecLogDriver, TaskSpecPlacement, TaskSpecResources, TaskSpecRestartPolicy,
    TaskSpecRestartPolicyConditionEnum, TaskState,
};
use bollard::query_parameters::{ListNetworksOptions, ListTasksOptionsBuilder};
use bulkhead_engine::format::scenario::Scenario;
use bulkhead_engine::format::topology::Topology;
use futures_util::FutureExt;
use futures_util::future::try_join_all;

use super::{SwarmNode, image_constraint, image_tag};
use crate::error::LabError;
use crate::lab_up::{BringUp, ContainerPlan, Plan, READY_TIMEOUT, addresses, up_with, wait_ready};
use crate::spec::{ContainerInfo, LabOptions, RunningLab, config_network_name};
use crate::{labels, layers, subnets};

/// The size of a Swarm task's `/tmp` (the root file system is read-only); API 1.41 cannot ask
/// for `noexec` on it, which the image's lack of anything to run makes moot.
const TMPFS_BYTES: i64 = 16 * 1024 * 1024;

/// Bring the lab of `topology` up for `scenario` as Swarm services on the swarm `docker`
/// manages, on a node admitted for the lab image `image`, and wait until every service
/// answers its health check. On failure everything created is removed.
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

/// Bring the planned lab up on the swarm `docker` manages, on a node admitted for `image`.
async fn bring_up(
    docker: &Docker,
    plan: &Plan<'_>,
    image: &str,
    started: Instant,
) -> Result<RunningLab, LabError> {
    let local = super::admit_local_node(docker, image).await?;
    super::nodes::admit_all(docker, image).await?;
    let (Chosen { node, engine }, _claim) = pick_node(docker, local, image, plan).await?;
    let networks = make_networks(docker, &engine, plan).await?;
    let images = try_join_all(
        plan.containers
            .iter()
            .map(|c| service_image(&engine, c, image)),
    )
    .await?;
    let admitted = image_constraint(image_tag(image));
    let specs: Vec<ServiceSpec> = (plan.containers.iter())
        .zip(&images)
        .map(|(c, image)| service_spec(c, image, env_with_zones(c, &networks)))
        .collect();
    let Some((anchor, others)) = specs.split_first() else {
        return Err(LabError::InvalidLab {
            topology: plan.topology.id.clone(),
            detail: "it has no service".into(),
        });
    };
    // The anchor reserves what the whole lab needs, so Swarm starts the lab on the node only
    // where all of it fits (else it says why, and the lab is refused); the others reserve
    // nothing more.
    let on_node = [admitted, format!("node.id=={}", node.id)];
    let anchor = placed(anchor.clone(), &on_node, Some(reservation(&specs)));
    let anchor_id = create_service(docker, anchor).await?;
    wait_assigned(docker, &plan.session, &anchor_id).await?;
    try_join_all(
        (others.iter()).map(|spec| create_service(docker, placed(spec.clone(), &on_node, None))),
    )
    .await?;
    let containers = running_containers(docker, &engine, plan).await?;
    let up_in = started.elapsed();
    let labd = super::nodes::labd_for(&node, &plan.session).await;
    wait_ready(&engine, &labd, &plan.session, &containers, READY_TIMEOUT).await?;
    Ok(RunningLab {
        session: plan.session.clone(),
        topology: plan.topology.id.clone(),
        networks: (networks.iter())
            .map(|(zone, (id, _))| (zone.clone(), id.clone()))
            .collect(),
        containers,
        baked: plan.baked(),
        credentials: plan.credentials.clone(),
        up_in,
        ready_in: started.elapsed(),
        node: Some(node),
    })
}

/// The node a lab goes to, and its engine.
struct Chosen {
    node: SwarmNode,
    engine: Docker,
}

/// The admitted node with the most memory no lab has reserved whose engine this server drives
/// and admitted (its own, or one given with `--node`), this machine's on a tie. Labs spread
/// across nodes as Swarm's own spread would place them; Swarm still holds each to its node's
/// capacity.
/// The node is chosen here, not by Swarm's scheduler, because the lab's config-only networks
/// must exist on the node before its first service (Swarm has no way to make them there).
///
/// Labs this process is placing count against their node's memory from the pick until they
/// are up (Swarm counts a lab once its first task runs), so seats starting together spread.
async fn pick_node(
    manager: &Docker,
    local: SwarmNode,
    image: &str,
    plan: &Plan<'_>,
) -> Result<(Chosen, Claim), LabError> {
    let _one_pick_at_a_time = PICKING.lock().await;
    let mut candidates = Vec::new();
    for (id, load) in super::loads_by_id(manager).await? {
        if !load.admitted {
            continue;
        }
        let engine = if id == local.id {
            manager.clone()
        } else {
            match super::nodes::admitted_engine(&id, image).await {
                Some(engine) => engine,
                None => continue,
            }
        };
        let placing =
            (PLACING.lock().ok()).map_or(0, |placing| placing.get(&id).copied().unwrap_or(0));
        let free = (load.memory_mib)
            .saturating_sub(load.memory_reserved_mib)
            .saturating_sub(placing);
        let node = SwarmNode {
            id,
            hostname: load.hostname,
        };
        candidates.push((free, Chosen { node, engine }));
    }
    let best = most_room(&candidates, &local.id);
    // No node admitted and active: this machine's, where Swarm says why it cannot start the
    // lab (a drained node, say), which the refusal passes on.
    let chosen = match best {
        Some(i) => candidates.swap_remove(i).1,
        None => Chosen {
            node: local,
            engine: manager.clone(),
        },
    };
    let claim = Claim::new(&chosen.node.id, lab_memory_mib(plan));
    Ok((chosen, claim))
}

/// Held while a node is picked: two picks at once would both see the same room.
static PICKING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Node id → MiB of memory the labs this process is placing there will reserve.
static PLACING: std::sync::Mutex<BTreeMap<String, u64>> = std::sync::Mutex::new(BTreeMap::new());

/// A lab being placed on a node, counted in `PLACING` until it is dropped (the lab is up, or
/// it failed).
struct Claim {
    node: String,
    mib: u64,
}

impl Claim {
    fn new(node: &str, mib: u64) -> Claim {
        if let Ok(mut placing) = PLACING.lock() {
            *placing.entry(node.to_owned()).or_insert(0) += mib;
        }
        Claim {
            node: node.to_owned(),
            mib,
        }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if let Ok(mut placing) = PLACING.lock()
            && let Some(held) = placing.get_mut(&self.node)
        {
            *held = held.saturating_sub(self.mib);
        }
    }
}

/// The memory a lab reserves, in MiB: the sum of its containers' limits (see `reservation`).
fn lab_memory_mib(plan: &Plan<'_>) -> u64 {
    let bytes: i64 = (plan.containers.iter())
        .filter_map(|c| c.body.host_config.as_ref()?.memory)
        .sum();
    u64::try_from(bytes / (1024 * 1024)).unwrap_or(0)
}

/// Which of the (free memory, node) candidates gets a lab: the most free memory, the node
/// `local` on a tie (its labs need no pipe), else the first.
fn most_room(candidates: &[(u64, Chosen)], local: &str) -> Option<usize> {
    let rank = |(free, chosen): &(u64, Chosen)| (*free, chosen.node.id == local);
    let mut best: Option<usize> = None;
    for (i, candidate) in candidates.iter().enumerate() {
        if best.is_none_or(|b| rank(candidate) > rank(&candidates[b])) {
            best = Some(i);
        }
    }
    best
}

/// Zone → (Swarm network id, subnet): a config-only network on the node's engine `engine`
/// (subnet, bridge interface name, labels) and the Swarm-scoped internal bridge made from it
/// through the manager `docker`.
async fn make_networks(
    docker: &Docker,
    engine: &Docker,
    plan: &Plan<'_>,
) -> Result<BTreeMap<String, (String, String)>, LabError> {
    let made = try_join_all(plan.networks.iter().map(|(zone, name, bridge)| async move {
        let mut net_labels = plan.base_labels.clone();
        net_labels.insert(labels::ZONE.into(), zone.clone());
        let config = config_network_name(name);
        let subnet = config_network(engine, &config, net_labels, bridge).await?;
        let request = NetworkCreateRequest {
            name: name.clone(),
            driver: Some("bridge".into()),
            scope: Some("swarm".into()),
            internal: Some(true),
            // A fix recreates a service's container outside Swarm, on the same networks.
            attachable: Some(true),
            config_from: Some(ConfigReference {
                network: Some(config),
            }),
            ..Default::default()
        };
        let created = (docker.create_network(request).await)
            .map_err(|e| LabError::docker("create network", name, e))?;
        Ok::<_, LabError>((zone.clone(), (created.id, subnet)))
    }))
    .await?;
    Ok(made.into_iter().collect())
}

/// Make the config-only network `name` on a free lab subnet; its subnet. The daemon does not
/// refuse an overlapping subnet for a config-only network (nothing is allocated until a task
/// starts, which would then fail), so another process's lab taking the same one at the same
/// moment is looked for once ours exists, and the later of the two (by id, so both agree)
/// tries another subnet.
async fn config_network(
    docker: &Docker,
    name: &str,
    net_labels: HashMap<String, String>,
    bridge: &str,
) -> Result<String, LabError> {
    let mut refused = Vec::new();
    loop {
        // Held until the config network exists: from then on listings show its subnet.
        let lease = subnets::lease(docker, &refused).await?;
        let subnet = lease.subnet();
        let request = NetworkCreateRequest {
            config_only: Some(true),
            ..crate::lab_up::lab_bridge(name, net_labels.clone(), &subnet, bridge)
        };
        let ours = (docker.create_network(request).await)
            .map_err(|e| LabError::docker("create network", name, e))?
            .id;
        let others = (docker.list_networks(None::<ListNetworksOptions>).await)
            .map_err(|e| LabError::docker("list networks", name, e))?;
        let clash = others.iter().any(|n| {
            let same = (n.ipam.iter().flat_map(|i| i.config.iter().flatten()))
                .any(|c| c.subnet.as_deref() == Some(subnet.as_str()));
            same && n.id.as_deref().is_some_and(|id| id < ours.as_str())
        });
        if !clash {
            return Ok(subnet);
        }
        if refused.len() >= 32 {
            return Err(LabError::AddressPoolsExhausted {
                network: name.to_owned(),
                detail: "every subnet tried was taken at the same moment".into(),
            });
        }
        let _ = docker.remove_network(&ours).await;
        refused.extend(subnets::parse_cidr(&subnet));
    }
}

/// The image a service runs: the lab image, or its own layer on it (`SecretInImage` and
/// friends), built on this node's engine.
async fn service_image(
    docker: &Docker,
    c: &ContainerPlan,
    image: &str,
) -> Result<String, LabError> {
    if c.baked.is_empty() {
        return Ok(image.to_owned());
    }
    let tag = format!("{}:{}", layers::REPOSITORY, c.name);
    let image_labels = c.body.labels.clone().unwrap_or_default();
    layers::build_layer(docker, image, &tag, &c.baked, &image_labels).await?;
    Ok(tag)
}

/// The service's environment, with a firewall's zone subnets (`LABD_ZONES`).
fn env_with_zones(c: &ContainerPlan, networks: &BTreeMap<String, (String, String)>) -> Vec<String> {
    let mut env = c.body.env.clone().unwrap_or_default();
    if let Some(zones) = &c.firewall_zones {
        let subnets =
            (zones.iter()).filter_map(|zone| Some((zone.as_str(), networks.get(zone)?.1.as_str())));
        env.push(crate::lab_up::zones_env(subnets));
    }
    env
}

/// One lab service as a Swarm service: the hardened container `lab_up` plans, as a task
/// template (what API 1.41 can say of it: no per-service no-new-privileges, which the node's
/// daemon enforces instead, see `admit_local_node`), one replica, no restart, no ports.
pub(crate) fn service_spec(c: &ContainerPlan, image: &str, env: Vec<String>) -> ServiceSpec {
    let host = c.body.host_config.clone().unwrap_or_default();
    let container_spec = TaskSpecContainerSpec {
        image: Some(image.to_owned()),
        labels: c.body.labels.clone(),
        args: c.body.cmd.clone(),
        hostname: c.body.hostname.clone(),
        env: Some(env),
        user: c.body.user.clone(),
        read_only: host.readonly_rootfs,
        capability_drop: host.cap_drop.clone(),
        capability_add: host.cap_add.clone(),
        mounts: Some(vec![Mount {
            target: Some("/tmp".into()),
            typ: Some(MountType::TMPFS),
            tmpfs_options: Some(MountTmpfsOptions {
                size_bytes: Some(TMPFS_BYTES),
                mode: Some(0o1777),
                ..Default::default()
            }),
            ..Default::default()
        }]),
        // No image health check: Swarm would hold each task in `starting` until the first
        // probe, 30 s in (API 1.41 has no start interval), and would kill a task whose probe
        // fails, a container the trainee paused among them. The driver asks labd itself.
        health_check: Some(HealthConfig {
            test: Some(vec!["NONE".into()]),
            ..Default::default()
        }),
        // labd ends on SIGTERM at once; a teardown need not wait Docker's default 10 s.
        stop_grace_period: Some(2_000_000_000),
        ..Default::default()
    };
    let task_template = TaskSpec {
        container_spec: Some(container_spec),
        resources: Some(TaskSpecResources {
            limits: Some(Limit {
                nano_cpus: host.nano_cpus,
                memory_bytes: host.memory,
                pids: host.pids_limit,
            }),
            reservations: None,
            ..Default::default()
        }),
        // Never: a container the trainee stopped stays stopped, and one that died is the
        // driver's to see and report, as on a Docker host.
        restart_policy: Some(TaskSpecRestartPolicy {
            condition: Some(TaskSpecRestartPolicyConditionEnum::NONE),
            ..Default::default()
        }),
        networks: Some(
            (c.networks.iter())
                .map(|network| NetworkAttachmentConfig {
                    target: Some(network.clone()),
                    aliases: Some(vec![c.service.clone()]),
                    ..Default::default()
                })
                .collect(),
        ),
        log_driver: host.log_config.map(|l| TaskSpecLogDriver {
            name: l.typ,
            options: l.config,
        }),
        ..Default::default()
    };
    ServiceSpec {
        name: Some(c.name.clone()),
        labels: c.body.labels.clone(),
        task_template: Some(task_template),
        mode: Some(ServiceSpecMode {
            replicated: Some(ServiceSpecModeReplicated { replicas: Some(1) }),
            ..Default::default()
        }),
        // Names resolve to the containers' own addresses (no virtual IP), and nothing is
        // published.
        endpoint_spec: Some(EndpointSpec {
            mode: Some(EndpointSpecModeEnum::DNSRR),
            ports: None,
        }),
        ..Default::default()
    }
}

/// The CPU a lab reserves, in billionths of a core: a quarter core. Its services' CPU limits
/// are caps for a hog, not what a lab uses: the company lab's add up to 3.5 cores, more than a
/// 2-core node has, so reserving them would place no lab at all. Measured with
/// `scripts/density.sh` on a 2-core host: 0.055-0.070 cores per lab above idle at 1 to 20
/// labs on one Docker host, 0.034-0.049 at 1 to 7 labs on a swarm; a quarter core keeps room
/// for a capped hog and the lab's start, and lets Swarm put 8 labs on such a node, where alert
/// latency still held (p95 under 0.6 s for a CPU hog's alert with 7 labs and one measuring).
pub const LAB_CPU_RESERVATION: i64 = 250_000_000;

/// What the whole lab reserves: the sum of its services' memory limits (memory cannot be
/// taken back from a lab, so Swarm must never promise it twice; none for a service whose
/// `NoLimits` weakness left it unlimited) and [`LAB_CPU_RESERVATION`].
fn reservation(specs: &[ServiceSpec]) -> ResourceObject {
    let limits = (specs.iter()).filter_map(|s| {
        s.task_template
            .as_ref()?
            .resources
            .as_ref()?
            .limits
            .as_ref()
    });
    let memory = limits.map(|l| l.memory_bytes.unwrap_or(0)).sum();
    ResourceObject {
        nano_cpus: Some(LAB_CPU_RESERVATION),
        memory_bytes: Some(memory),
        ..Default::default()
    }
}

/// `spec` with placement constraints and, for the anchor, the lab's reservation.
fn placed(
    mut spec: ServiceSpec,
    constraints: &[String],
    reservation: Option<ResourceObject>,
) -> ServiceSpec {
    if let Some(template) = spec.task_template.as_mut() {
        template.placement = Some(TaskSpecPlacement {
            constraints: Some(constraints.to_vec()),
            ..Default::default()
        });
        if let Some(resources) = template.resources.as_mut() {
            resources.reservations = reservation;
        }
    }
    spec
}

/// Create a service; its id.
async fn create_service(docker: &Docker, spec: ServiceSpec) -> Result<String, LabError> {
    let name = spec.name.clone().unwrap_or_default();
    (docker.create_service(spec, None).await)
        .map(|created| created.id.unwrap_or_default())
        .map_err(|e| LabError::docker("create service", name, e))
}

/// The tasks of the session's services (their labels are the services').
async fn session_tasks(
    docker: &Docker,
    session: &str,
) -> Result<Vec<bollard::models::Task>, LabError> {
    let filters = HashMap::from([("label", vec![format!("{}={session}", labels::SESSION)])]);
    (docker.list_tasks(Some(
        ListTasksOptionsBuilder::default().filters(&filters).build(),
    )))
    .await
    .map_err(|e| LabError::docker("list tasks", session, e))
}

/// How long Swarm's scheduler may keep saying no node has room for a lab before the lab is
/// refused: long enough for the reservations of a lab being torn down to be freed, short
/// enough that a facilitator filling a full swarm hears of it at once, not after the 30 s a
/// lab has to come up.
const UNPLACEABLE_FOR: Duration = Duration::from_secs(3);

/// The scheduler's word for a task it found no node for ("no suitable node (insufficient
/// resources on 1 node)", "... (1 node not available for new tasks)").
const NO_NODE: &str = "no suitable node";

/// Wait until Swarm assigned the service `service_id` to its node. A task Swarm cannot place
/// stays pending with the scheduler's reason, which the error passes on: at once when the
/// reason is that the node has no room (held `UNPLACEABLE_FOR`), else when the lab's time to
/// come up is over.
async fn wait_assigned(docker: &Docker, session: &str, service_id: &str) -> Result<(), LabError> {
    let started = Instant::now();
    let mut unplaceable_since: Option<Instant> = None;
    loop {
        let tasks = session_tasks(docker, session).await?;
        let task = (tasks.iter()).find(|t| t.service_id.as_deref() == Some(service_id));
        if task.is_some_and(|t| t.node_id.is_some()) {
            return Ok(());
        }
        let why = (task.and_then(|t| t.status.as_ref()))
            .map(|s| s.err.clone().or(s.message.clone()).unwrap_or_default());
        let no_node = why.as_deref().is_some_and(|w| w.contains(NO_NODE));
        unplaceable_since = no_node.then(|| unplaceable_since.unwrap_or_else(Instant::now));
        let refused = unplaceable_since.is_some_and(|since| since.elapsed() >= UNPLACEABLE_FOR);
        if refused || started.elapsed() >= READY_TIMEOUT {
            return Err(LabError::NotPlaced {
                session: session.to_owned(),
                detail: why.unwrap_or_else(|| "Swarm made no task for it".into()),
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Wait until every service's task runs (Swarm's word, from the manager `docker`); its
/// container, inspected on the node's engine `engine`.
async fn running_containers(
    docker: &Docker,
    engine: &Docker,
    plan: &Plan<'_>,
) -> Result<BTreeMap<String, ContainerInfo>, LabError> {
    let started = Instant::now();
    loop {
        let tasks = session_tasks(docker, &plan.session).await?;
        let mut running = BTreeMap::new();
        for task in &tasks {
            let service = (task.spec.as_ref())
                .and_then(|s| s.container_spec.as_ref())
                .and_then(|c| c.labels.as_ref())
                .and_then(|l| l.get(labels::SERVICE));
            let Some(c) = (plan.containers.iter()).find(|c| Some(&c.service) == service) else {
                continue;
            };
            if let Some(id) = running_container(engine, c, task).await? {
                running.insert(c.service.clone(), id);
            }
        }
        if running.len() == plan.containers.len() {
            return inspected(engine, plan, running).await;
        }
        if started.elapsed() >= READY_TIMEOUT {
            return Err(LabError::NotPlaced {
                session: plan.session.clone(),
                detail: format!(
                    "{} of {} services running after {:?}",
                    running.len(),
                    plan.containers.len(),
                    started.elapsed()
                ),
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The container of `task` (service `c`) once it runs; `None` while it is on its way; an error
/// with labd's last words once it ended (a node without no-new-privileges, say).
async fn running_container(
    docker: &Docker,
    c: &ContainerPlan,
    task: &bollard::models::Task,
) -> Result<Option<String>, LabError> {
    let status = task.status.clone().unwrap_or_default();
    let container = status.container_status.unwrap_or_default();
    match status.state {
        Some(TaskState::RUNNING) => Ok(container.container_id),
        Some(TaskState::FAILED | TaskState::REJECTED | TaskState::COMPLETE) => {
            let logs = match &container.container_id {
                Some(id) => crate::lab_up::logs_tail(docker, id, 20).await,
                None => String::new(),
            };
            let swarm_says = status.err.or(status.message).unwrap_or_default();
            Err(LabError::ContainerExited {
                container: c.name.clone(),
                exit_code: container.exit_code.unwrap_or(-1),
                logs: format!("  | (Swarm: {swarm_says})\n{logs}"),
            })
        }
        _ => Ok(None),
    }
}

/// Service → container id, as the lab's containers: names and addresses from the node's engine.
async fn inspected(
    docker: &Docker,
    plan: &Plan<'_>,
    running: BTreeMap<String, String>,
) -> Result<BTreeMap<String, ContainerInfo>, LabError> {
    let zone_of: HashMap<String, String> = (plan.networks.iter())
        .map(|(zone, name, _)| (name.clone(), zone.clone()))
        .collect();
    let mut containers = BTreeMap::new();
    for (service, id) in running {
        let inspect = (docker.inspect_container(&id, None).await)
            .map_err(|e| LabError::docker("inspect container", &id, e))?;
        let name = (inspect.name.clone().unwrap_or_default())
            .trim_start_matches('/')
            .to_owned();
        let addresses = addresses(&inspect, &zone_of);
        let info = ContainerInfo {
            id,
            name,
            service: service.clone(),
            addresses,
        };
        containers.insert(service, info);
    }
    Ok(containers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bulkhead_engine::format::scenario::SAFE_CAPABILITIES;
    use bulkhead_engine::format::variants::{Pick, resolve_pick};

    use crate::spec::LabOptions;

    /// Lab safety of the Swarm side, for every shipped scenario and variant: what `lab_up`
    /// plans (checked in lab_up.rs) keeps, as a service, no privilege, no capability beyond the
    /// safe list, no host mount, no published port, no network but the lab's, and a spec that
    /// Swarm neither restarts nor health-kills.
    #[test]
    fn no_lab_service_of_any_scenario_or_variant_gets_host_access() {
        let root = crate::image::source_dir();
        let mut checked = 0;
        for id in bulkhead_engine::format::list_ids(&root.join("scenarios")) {
            let loaded = bulkhead_engine::format::resolve_scenario(&root, &id).unwrap();
            for pick in Pick::all(&loaded.scenario.variants, 4096).unwrap() {
                let scenario = resolve_pick(&loaded.scenario, &pick).unwrap();
                let plan = Plan::new(&loaded.topology, &scenario, &LabOptions::default()).unwrap();
                for c in &plan.containers {
                    let env = c.body.env.clone().unwrap_or_default();
                    let spec = service_spec(c, "bulkhead/labd:test", env);
                    assert_safe(&spec, &c.networks, &format!("{id} {pick:?} {}", c.service));
                    checked += 1;
                }
            }
        }
        assert!(checked > 20, "{checked} services checked");
    }

    fn assert_safe(spec: &ServiceSpec, networks: &[String], what: &str) {
        let template = spec.task_template.as_ref().expect("a task template");
        let container = template.container_spec.as_ref().expect("a container spec");
        assert!(container.privileges.is_none(), "{what}: privileges");
        assert_eq!(
            container.capability_drop.as_deref(),
            Some(&["ALL".to_owned()][..])
        );
        assert!(
            (container.capability_add.iter().flatten())
                .all(|c| SAFE_CAPABILITIES.contains(&c.as_str())),
            "{what}: {:?}",
            container.capability_add
        );
        for mount in container.mounts.iter().flatten() {
            assert_eq!(
                mount.typ,
                Some(MountType::TMPFS),
                "{what}: mounts {mount:?}"
            );
            assert!(mount.source.is_none(), "{what}: a mount with a source");
        }
        assert!(
            container.configs.is_none() && container.secrets.is_none(),
            "{what}"
        );
        assert!(
            !format!("{spec:?}").contains("docker.sock"),
            "{what}: the Docker socket"
        );
        let ports = spec.endpoint_spec.as_ref().and_then(|e| e.ports.as_ref());
        assert!(ports.is_none_or(Vec::is_empty), "{what}: published ports");
        let joined: Vec<_> = (template.networks.iter().flatten())
            .filter_map(|n| n.target.clone())
            .collect();
        assert_eq!(joined, networks, "{what}: its lab's networks only");
        assert_eq!(
            template.restart_policy.as_ref().and_then(|r| r.condition),
            Some(TaskSpecRestartPolicyConditionEnum::NONE),
            "{what}: restarts"
        );
        let health = container.health_check.as_ref().and_then(|h| h.test.clone());
        assert_eq!(
            health,
            Some(vec!["NONE".to_owned()]),
            "{what}: health check"
        );
    }

    #[test]
    fn a_lab_reserves_its_memory_limits_and_a_quarter_core() {
        let root = crate::image::source_dir();
        let loaded =
            bulkhead_engine::format::resolve_scenario(&root, "stolen-credentials").unwrap();
        let plan = Plan::new(&loaded.topology, &loaded.scenario, &LabOptions::default()).unwrap();
        let specs: Vec<ServiceSpec> = (plan.containers.iter())
            .map(|c| service_spec(c, "i", Vec::new()))
            .collect();
        let memory: i64 = (loaded.topology.services.iter())
            .map(|s| i64::from(s.limits.memory_mib) * 1024 * 1024)
            .sum();
        let reserved = reservation(&specs);
        assert_eq!(reserved.memory_bytes, Some(memory));
        assert_eq!(reserved.nano_cpus, Some(LAB_CPU_RESERVATION));
        let anchor = placed(specs[0].clone(), &["c".into()], Some(reserved.clone()));
        let resources = anchor.task_template.unwrap().resources.unwrap();
        assert_eq!(resources.reservations, Some(reserved));
        let follower = placed(specs[1].clone(), &["c".into()], None);
        let placement = follower.task_template.unwrap().placement.unwrap();
        assert_eq!(placement.constraints, Some(vec!["c".to_owned()]));
    }

    #[test]
    fn a_lab_goes_where_most_memory_is_free_and_here_on_a_tie() {
        let docker =
            Docker::connect_with_http("http://127.0.0.1:9", 1, bollard::API_DEFAULT_VERSION)
                .unwrap();
        let node = |id: &str| Chosen {
            node: SwarmNode {
                id: id.into(),
                hostname: id.into(),
            },
            engine: docker.clone(),
        };
        let ids = |c: &[(u64, Chosen)], local| most_room(c, local).map(|i| c[i].1.node.id.clone());
        let roomier = [(1000, node("here")), (3000, node("there"))];
        assert_eq!(ids(&roomier, "here").as_deref(), Some("there"));
        let tie = [(2000, node("there")), (2000, node("here"))];
        assert_eq!(ids(&tie, "here").as_deref(), Some("here"));
        let others = [(2000, node("a")), (2000, node("b"))];
        assert_eq!(ids(&others, "here").as_deref(), Some("a"));
        assert_eq!(most_room(&[], "here"), None);
    }

    #[test]
    fn a_swarm_network_is_found_by_its_config_network() {
        let config = config_network_name("bh-0123abcd-edge");
        assert_eq!(
            crate::spec::swarm_network_of(&config),
            Some("bh-0123abcd-edge")
        );
        assert_eq!(crate::spec::swarm_network_of("bh-0123abcd-edge"), None);
    }
}
