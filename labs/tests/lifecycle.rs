//! Lab lifecycle against the real Docker engine (never a mock): labs come up hardened, stay
//! sealed from each other and from the machine, and leave nothing behind, after a test,
//! after many cycles, and after their owner is killed. Each test gets Docker through
//! `docker_or_skip` (a loud skip without a daemon; a failure with BULKHEAD_REQUIRE_DOCKER=1).

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, EndpointSettings, NetworkCreateRequest, NetworkingConfig,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, ListNetworksOptions,
    ListNetworksOptionsBuilder, ListServicesOptionsBuilder, LogsOptionsBuilder,
};
use bulkhead_engine::format::Loaded;
use bulkhead_engine::format::scenario::Weakness;
use bulkhead_labs::docker::{docker_or_skip, swarm_or_skip};
use bulkhead_labs::drive::Labd;
use bulkhead_labs::lab_down::{lab_down, remove_session};
use bulkhead_labs::lab_up::{hardened_host_config, lab_up};
use bulkhead_labs::spec::{CONTROL_PORT, LabOptions, Placement, RunningLab};
use bulkhead_labs::{image, labels, reaper};
use futures_util::StreamExt;
use tokio::sync::Semaphore;

/// Labs this test process may hold at once: libtest runs as many tests at once as there are
/// cores, and each lab is seven containers starting on a small host.
static LAB_SLOTS: Semaphore = Semaphore::const_new(4);

fn root() -> PathBuf {
    image::source_dir()
}

fn scenario(id: &str) -> Loaded {
    bulkhead_engine::format::resolve_scenario(&root(), id)
        .unwrap_or_else(|e| panic!("scenario {id}: {e}"))
}

/// Docker and the current lab image, or `None` (skipped) without a daemon.
async fn setup(test: &str) -> Option<(Docker, String)> {
    setup_for(test, Placement::Host).await
}

/// Docker (a Swarm manager for `Placement::Swarm`) and the current lab image, or `None`
/// (skipped, visibly) where there is none.
async fn setup_for(test: &str, placement: Placement) -> Option<(Docker, String)> {
    let docker = match placement {
        Placement::Host => docker_or_skip(test).await?,
        Placement::Swarm => swarm_or_skip(test).await?,
    };
    let image = image::ensure_image(&docker, |line| eprintln!("[image] {line}"))
        .await
        .unwrap_or_else(|e| panic!("{test}: {e}"));
    Some((docker, image.reference))
}

/// Removes its session when dropped, so a failing assertion leaves nothing behind either.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let session = self.0.clone();
        // Drop cannot await; a runtime on its own thread can (this may run inside another).
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let docker = bulkhead_labs::docker::connect().await.ok()?;
                remove_session(&docker, &session).await.ok()
            })
        })
        .join();
    }
}

async fn up(docker: &Docker, loaded: &Loaded, image: &str) -> (RunningLab, Cleanup) {
    up_on(docker, loaded, image, Placement::Host).await
}

async fn up_on(
    docker: &Docker,
    loaded: &Loaded,
    image: &str,
    placement: Placement,
) -> (RunningLab, Cleanup) {
    let options = LabOptions {
        placement,
        ..LabOptions::default()
    };
    let (topology, scenario) = (&loaded.topology, &loaded.scenario);
    let lab = match placement {
        Placement::Host => lab_up(docker, topology, scenario, &options, image).await,
        Placement::Swarm => {
            bulkhead_labs::swarm::place::lab_up(docker, topology, scenario, &options, image).await
        }
    };
    let lab = lab.unwrap_or_else(|e| panic!("lab_up {}: {e}", loaded.scenario.id));
    let cleanup = Cleanup(lab.session.clone());
    (lab, cleanup)
}

/// Names of the containers and networks labelled with a session.
async fn session_objects(docker: &Docker, session: &str) -> (Vec<String>, Vec<String>) {
    let filters = HashMap::from([("label", vec![format!("{}={session}", labels::SESSION)])]);
    let containers = docker
        .list_containers(Some(
            ListContainersOptionsBuilder::default()
                .all(true)
                .filters(&filters)
                .build(),
        ))
        .await
        .unwrap()
        .into_iter()
        .flat_map(|c| c.names.unwrap_or_default())
        .collect();
    let networks = docker
        .list_networks(Some(
            ListNetworksOptionsBuilder::default()
                .filters(&filters)
                .build(),
        ))
        .await
        .unwrap()
        .into_iter()
        .filter_map(|n| n.name)
        .collect();
    (containers, networks)
}

async fn assert_gone(docker: &Docker, session: &str) {
    let (containers, networks) = session_objects(docker, session).await;
    assert!(
        containers.is_empty() && networks.is_empty(),
        "session {session} left containers {containers:?} and networks {networks:?}"
    );
    let filters = HashMap::from([("label", vec![format!("{}={session}", labels::SESSION)])]);
    let options = ListServicesOptionsBuilder::default()
        .filters(&filters)
        .build();
    // No swarm here: no services either.
    let services = docker
        .list_services(Some(options))
        .await
        .unwrap_or_default();
    assert!(
        services.is_empty(),
        "session {session} left services {services:?}"
    );
    // A swarm lab's Swarm networks carry no labels: found by name.
    let names = (docker
        .list_networks(None::<ListNetworksOptions>)
        .await
        .unwrap()
        .into_iter())
    .filter_map(|n| n.name)
    .filter(|n| n.starts_with(&format!("{session}-")))
    .collect::<Vec<_>>();
    assert!(
        names.is_empty(),
        "session {session} left networks {names:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Hardening

/// Every weakness of the family, declared on one tenant worker: the live lab carries each one
/// (the container runs, as root, with its capability, writable root and secret) and the
/// posture audit finds exactly them, while labd still reports and answers in it.
#[tokio::test]
async fn every_weakness_is_set_up_on_the_live_lab_and_found_by_the_audit() {
    let test = "every_weakness_is_set_up_on_the_live_lab";
    let Some((docker, image)) = setup(test).await else {
        return;
    };
    let _slot = LAB_SLOTS.acquire().await.unwrap();
    let mut loaded = scenario("stolen-credentials");
    let mut weak = (*loaded.scenario).clone();
    let service = "tenant-b".to_string();
    weak.weaknesses = vec![
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
            caps: vec!["NET_RAW".into(), "CHOWN".into()],
        },
        Weakness::SecretInEnv {
            service: service.clone(),
            var: "BACKUP_API_KEY".into(),
        },
    ];
    loaded.scenario = Arc::new(weak);
    let (lab, _cleanup) = up(&docker, &loaded, &image).await;
    let found = bulkhead_labs::audit::audit(&docker, &Labd::new(), &lab, &loaded.topology)
        .await
        .unwrap();
    let expected = bulkhead_labs::audit::expected(&loaded.scenario.weaknesses);
    assert_eq!(found, expected);
    assert_eq!(found.len(), 7, "{found:?}");
    // No weakness reaches the host: no-new-privileges holds as root, and the kernel agrees.
    let inspect = docker
        .inspect_container(&lab.containers[&service].id, None)
        .await
        .unwrap();
    let pid = inspect.state.and_then(|s| s.pid).unwrap_or(0);
    if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
        let field = |key: &str| {
            (status.lines())
                .find_map(|l| l.strip_prefix(key))
                .map(|v| v.trim().to_string())
                .unwrap_or_default()
        };
        assert_eq!(field("NoNewPrivs:"), "1");
        assert!(
            field("Uid:").starts_with('0'),
            "runs as root: {}",
            field("Uid:")
        );
        // CHOWN (bit 0) and NET_RAW (bit 13), nothing else.
        assert_eq!(
            field("CapEff:"),
            format!("{:016x}", (1u64 << 0) | (1u64 << 13))
        );
    }
}

/// The path to labd on another Swarm node (HTTP over `docker exec … labd pipe` on the node's
/// engine) reaches the same labd as the direct path, pools its connections (one exec serves
/// many calls, not one exec per call) and says why when an address is no container's.
#[tokio::test]
async fn labd_answers_through_pipe_execs_as_it_does_directly() {
    let test = "labd_answers_through_pipe_execs_as_it_does_directly";
    let Some((docker, image)) = setup(test).await else {
        return;
    };
    let _slot = LAB_SLOTS.acquire().await.unwrap();
    let (lab, _cleanup) = up(&docker, &scenario("stolen-credentials"), &image).await;
    let since = chrono_now_secs();
    let tunnel = Labd::through(docker.clone(), &lab.session);
    let direct = Labd::new();
    let gateway = lab.containers["gateway"]
        .address()
        .expect("gateway address");
    assert!(tunnel.healthy(gateway).await, "healthz through the pipe");
    let source = "10.250.0.9";
    let blocked = tunnel.block(gateway, source, true).await;
    assert!(
        blocked.as_ref().is_ok_and(|d| d.contains("confirmed")),
        "{blocked:?}"
    );
    // The direct path finds the block the pipe made: the same labd answered both.
    let unblocked = direct.block(gateway, source, false).await;
    assert!(unblocked.is_ok(), "{unblocked:?}");
    assert_eq!(
        tunnel.block(gateway, source, false).await,
        Err("not blocked".into())
    );
    // So far four calls through the pipe: healthz, the block and its confirming list, the
    // refused unblock; three more follow.
    for _ in 0..3 {
        assert!(tunnel.healthy(gateway).await);
    }
    let pipes = pipe_execs_since(&docker, &lab.session, since).await;
    assert!(
        (1..=2).contains(&pipes),
        "{pipes} pipe execs for 7 calls: connections are not pooled"
    );
    let nowhere: Ipv4Addr = "10.255.255.254".parse().unwrap();
    let refused = tunnel.act(nowhere, &serde_json::json!({})).await;
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.contains("no running container of the lab holds 10.255.255.254")),
        "{refused:?}"
    );
}

fn chrono_now_secs() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.map_or(0, |d| d.as_secs() as i64 - 1)
}

/// How many `labd pipe` execs started in the session's containers since `since` (Unix s).
async fn pipe_execs_since(docker: &Docker, session: &str, since: i64) -> usize {
    let filters = HashMap::from([
        ("label", vec![format!("{}={session}", labels::SESSION)]),
        ("event", vec!["exec_start".to_string()]),
    ]);
    let until = chrono_now_secs() + 2;
    let options = bollard::query_parameters::EventsOptionsBuilder::default()
        .since(&since.to_string())
        .until(&until.to_string())
        .filters(&filters)
        .build();
    let events: Vec<_> = docker.events(Some(options)).collect().await;
    (events.iter().flatten())
        .filter(|e| (e.action.as_deref()).is_some_and(|a| a.contains("/labd pipe")))
        .count()
}

#[tokio::test]
async fn every_container_is_hardened_and_only_declared_weaknesses_differ() {
    let test = "every_container_is_hardened_and_only_declared_weaknesses_differ";
    let Some((docker, image)) = setup(test).await else {
        return;
    };
    let _slots = LAB_SLOTS.acquire_many(2).await.unwrap();
    let plain = scenario("stolen-credentials");
    let weak = scenario("resource-exhaustion");
    assert!(plain.scenario.weaknesses.is_empty());
    assert_eq!(
        weak.scenario.weaknesses,
        vec![Weakness::NoLimits {
            service: "tenant-a".into()
        }]
    );
    let ((lab_a, _ca), (lab_b, _cb)) =
        tokio::join!(up(&docker, &plain, &image), up(&docker, &weak, &image));

    // Secrets are handed over at start, never baked in: the image has no LABD_ variable.
    let image_env = docker
        .inspect_image(&image)
        .await
        .unwrap()
        .config
        .and_then(|c| c.env)
        .unwrap_or_default();
    assert!(
        image_env.iter().all(|e| !e.starts_with("LABD_")),
        "{image_env:?}"
    );

    for (loaded, lab) in [(&plain, &lab_a), (&weak, &lab_b)] {
        let unlimited: Vec<String> = loaded
            .scenario
            .weaknesses
            .iter()
            .filter_map(|w| match w {
                Weakness::NoLimits { service } => Some(service.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(lab.containers.len(), loaded.topology.services.len());
        let lab_networks: BTreeMap<String, String> = lab
            .networks
            .iter()
            .map(|(zone, id)| (format!("{}-{zone}", lab.session), id.clone()))
            .collect();
        for id in lab_networks.values() {
            let net = docker.inspect_network(id, None).await.unwrap();
            assert_eq!(
                net.internal,
                Some(true),
                "network {:?} is not internal",
                net.name
            );
        }
        for service in &loaded.topology.services {
            let info = &lab.containers[&service.id];
            let inspect = docker.inspect_container(&info.id, None).await.unwrap();
            let name = &info.name;
            let host = inspect.host_config.clone().unwrap();
            let config = inspect.config.clone().unwrap();
            assert_eq!(
                host.cap_drop.as_deref(),
                Some(&["ALL".to_owned()][..]),
                "{name}"
            );
            assert!(
                host.cap_add.unwrap_or_default().is_empty(),
                "{name} adds capabilities"
            );
            assert!(
                host.security_opt
                    .unwrap_or_default()
                    .iter()
                    .any(|o| o == "no-new-privileges" || o == "no-new-privileges:true"),
                "{name} lacks no-new-privileges"
            );
            assert_eq!(host.readonly_rootfs, Some(true), "{name} root is writable");
            assert_ne!(host.privileged, Some(true), "{name} is privileged");
            assert_eq!(config.user.as_deref(), Some("10001:10001"), "{name}");
            assert!(
                host.tmpfs.unwrap_or_default()["/tmp"].contains("noexec"),
                "{name} /tmp is executable"
            );
            assert!(
                host.port_bindings.unwrap_or_default().is_empty(),
                "{name} publishes ports"
            );
            assert_ne!(host.publish_all_ports, Some(true), "{name} publishes ports");
            assert_eq!(
                config.cmd,
                Some(vec![service.role.label().to_owned()]),
                "{name}"
            );

            // Exactly its zones' networks, all of them internal networks of this lab.
            let mut joined: Vec<String> = inspect
                .network_settings
                .and_then(|s| s.networks)
                .unwrap_or_default()
                .into_keys()
                .collect();
            joined.sort();
            let mut expected: Vec<String> = service
                .zones
                .iter()
                .map(|z| format!("{}-{z}", lab.session))
                .collect();
            expected.sort();
            assert_eq!(joined, expected, "{name} networks");
            assert!(joined.iter().all(|n| lab_networks.contains_key(n)));

            let limits = &service.limits;
            if unlimited.contains(&service.id) {
                assert!(
                    host.memory.unwrap_or(0) == 0,
                    "{name}: NoLimits but memory capped"
                );
                assert!(
                    host.nano_cpus.unwrap_or(0) == 0,
                    "{name}: NoLimits but cpu capped"
                );
                assert!(
                    host.pids_limit.unwrap_or(0) <= 0,
                    "{name}: NoLimits but pids capped"
                );
            } else {
                let memory = i64::from(limits.memory_mib) * 1024 * 1024;
                assert_eq!(host.memory, Some(memory), "{name} memory");
                assert_eq!(host.memory_swap, Some(memory), "{name} swap");
                assert_eq!(
                    host.nano_cpus,
                    Some((f64::from(limits.cpu_cores) * 1e9).round() as i64),
                    "{name} cpus"
                );
                assert_eq!(host.pids_limit, Some(i64::from(limits.pids)), "{name} pids");
            }

            // The process as the kernel sees it, where this host shares the daemon's /proc.
            let pid = inspect.state.and_then(|s| s.pid).unwrap_or(0);
            if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
                let field = |key: &str| {
                    status
                        .lines()
                        .find_map(|l| l.strip_prefix(key))
                        .map(|v| v.split_whitespace().collect::<Vec<_>>())
                        .unwrap_or_default()
                };
                assert_eq!(field("Uid:"), vec!["10001"; 4], "{name} uid");
                assert_eq!(
                    field("CapEff:"),
                    vec!["0000000000000000"],
                    "{name} capabilities"
                );
                assert_eq!(
                    field("CapBnd:"),
                    vec!["0000000000000000"],
                    "{name} bounding set"
                );
                assert_eq!(field("NoNewPrivs:"), vec!["1"], "{name} no_new_privs");
            } else {
                eprintln!(
                    "{test}: /proc/{pid} not visible (remote daemon?): runtime checks skipped"
                );
            }

            // Credentials go to web only.
            let env = config.env.unwrap_or_default();
            let has_creds = env.iter().any(|e| e.starts_with("LABD_CREDENTIALS="));
            assert_eq!(has_creds, service.id == "web", "{name} credentials");
        }
        // The posture audit finds on the live lab exactly what the scenario declares.
        let found = bulkhead_labs::audit::audit(&docker, &Labd::new(), lab, &loaded.topology)
            .await
            .unwrap();
        assert_eq!(
            found,
            bulkhead_labs::audit::expected(&loaded.scenario.weaknesses),
            "{}",
            loaded.scenario.id
        );
    }
    // The image's own HEALTHCHECK passes under all this hardening: Docker runs it as an exec
    // in the container, as this does (its first scheduled run is 30 s after start).
    let inspect = docker.inspect_image(&image).await.unwrap();
    let check = inspect
        .config
        .and_then(|c| c.healthcheck)
        .and_then(|h| h.test)
        .unwrap_or_default();
    assert_eq!(check.first().map(String::as_str), Some("CMD"), "{check:?}");
    for c in lab_a.containers.values() {
        let ran = bulkhead_labs::drive::exec(&docker, &c.id, check[1..].to_vec(), |_| {}).await;
        assert!(ran.is_ok(), "{}: the health check failed: {ran:?}", c.name);
    }

    let (da, db) = tokio::join!(lab_down(&docker, &lab_a), lab_down(&docker, &lab_b));
    let (da, db) = (da.unwrap(), db.unwrap());
    assert_eq!(da.containers.len(), plain.topology.services.len());
    assert_eq!(db.networks.len(), weak.topology.zones.len());
    assert_gone(&docker, &lab_a.session).await;
    assert_gone(&docker, &lab_b.session).await;
}

// ---------------------------------------------------------------------------------------
// Isolation, probed from inside a lab.
//
// A probe is a throwaway container from the same image, running labd's `traffic` role with
// LABD_GATEWAY pointed at the target: asked (on its control API, which the host reaches) to
// send one anonymous request, it logs an `outcome` line with `status` 0 when nothing answered.

/// What one probe saw.
#[derive(Debug)]
struct Outcome {
    ok: bool,
    status: u64,
    detail: String,
}

impl Outcome {
    fn reached(&self) -> bool {
        self.status != 0
    }
}

/// Send one request from a new probe on `network` (of `lab`'s session) to `target`.
async fn probe(docker: &Docker, lab: &RunningLab, network: String, target: String) -> Outcome {
    let network = network.as_str();
    let mut probe_labels =
        labels::session_labels(&lab.session, &lab.topology, Duration::from_secs(600));
    probe_labels.insert(labels::SERVICE.into(), "probe".into());
    static N: AtomicUsize = AtomicUsize::new(0);
    let name = format!("{}-probe{}", lab.session, N.fetch_add(1, Ordering::Relaxed));
    let body = ContainerCreateBody {
        image: lab_image(docker, lab).await,
        cmd: Some(vec!["traffic".into()]),
        env: Some(vec![
            "LABD_SERVICE=probe".into(),
            format!("LABD_GATEWAY={target}"),
        ]),
        user: Some(image::LAB_USER.into()),
        labels: Some(probe_labels),
        host_config: Some(hardened_host_config(network, None)),
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(HashMap::from([(
                network.to_owned(),
                EndpointSettings::default(),
            )])),
        }),
        ..Default::default()
    };
    let created = docker
        .create_container(
            Some(CreateContainerOptionsBuilder::default().name(&name).build()),
            body,
        )
        .await
        .unwrap();
    docker.start_container(&created.id, None).await.unwrap();
    let ip: Ipv4Addr = docker
        .inspect_container(&created.id, None)
        .await
        .unwrap()
        .network_settings
        .and_then(|s| s.networks)
        .and_then(|n| n.get(network).and_then(|e| e.ip_address.clone()))
        .and_then(|ip| ip.parse().ok())
        .expect("probe address");
    let client = bulkhead_labs::lab_up::health_client();
    let act = format!("http://{ip}:{CONTROL_PORT}/act");
    let started = Instant::now();
    loop {
        let sent = client
            .post(&act)
            .body(r#"{"trace": 7, "do": {"kind": "request", "endpoint": "/public/probe"}}"#)
            .send()
            .await;
        if matches!(&sent, Ok(r) if r.status().as_u16() == 202) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "probe {name} never accepted: {sent:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // labd's client gives up after 2 s; the outcome line follows.
    loop {
        let options = LogsOptionsBuilder::default().stdout(true).build();
        let mut logs = docker.logs(&created.id, Some(options));
        while let Some(Ok(chunk)) = logs.next().await {
            for line in chunk.to_string().lines() {
                let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                    continue;
                };
                if v["event"] == "outcome" && v["trace"] == 7 {
                    return Outcome {
                        ok: v["ok"].as_bool().unwrap_or(false),
                        status: v["status"].as_u64().unwrap_or(0),
                        detail: v["detail"].as_str().unwrap_or_default().to_owned(),
                    };
                }
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "probe {name} logged no outcome"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn lab_image(docker: &Docker, lab: &RunningLab) -> Option<String> {
    let any = lab.containers.values().next()?;
    docker
        .inspect_container(&any.id, None)
        .await
        .ok()?
        .config?
        .image
}

/// A lab network's name (probes are created by name).
fn net(lab: &RunningLab, zone: &str) -> String {
    format!("{}-{zone}", lab.session)
}

fn addr(lab: &RunningLab, service: &str, zone: &str) -> Ipv4Addr {
    lab.containers[service].addresses[zone]
}

#[tokio::test]
async fn labs_cannot_reach_each_other_or_other_containers() {
    let test = "labs_cannot_reach_each_other_or_other_containers";
    cannot_reach_each_other(test, Placement::Host).await;
}

/// The same on a swarm: two labs Swarm placed, probed from inside.
#[tokio::test]
async fn swarm_labs_cannot_reach_each_other_or_other_containers() {
    let test = "swarm_labs_cannot_reach_each_other_or_other_containers";
    cannot_reach_each_other(test, Placement::Swarm).await;
}

async fn cannot_reach_each_other(test: &str, placement: Placement) {
    let Some((docker, image)) = setup_for(test, placement).await else {
        return;
    };
    let _slots = LAB_SLOTS.acquire_many(2).await.unwrap();
    let loaded = scenario("stolen-credentials");
    let ((a, _ca), (b, _cb)) = tokio::join!(
        up_on(&docker, &loaded, &image, placement),
        up_on(&docker, &loaded, &image, placement)
    );

    // A container on the default bridge stands for "anything else on this machine".
    let outsider = outsider_container(&docker, &a.session, &image).await;

    let gateway = |lab: &RunningLab, zone: &str| format!("{}:8080", addr(lab, "gateway", zone));
    let (own, own_by_ip, b_gateway, b_web, a_from_b, other) = tokio::join!(
        probe(&docker, &a, net(&a, "outside"), "gateway:8080".into()),
        probe(&docker, &a, net(&a, "edge"), gateway(&a, "edge")),
        probe(&docker, &a, net(&a, "outside"), gateway(&b, "outside")),
        probe(
            &docker,
            &a,
            net(&a, "app"),
            format!("{}:8080", addr(&b, "web", "app"))
        ),
        probe(&docker, &b, net(&b, "outside"), gateway(&a, "outside")),
        probe(&docker, &a, net(&a, "outside"), format!("{outsider}:8080")),
    );
    eprintln!("{test}: own gateway by alias {own:?}, by address {own_by_ip:?}");
    // Positive controls: the probe works, so the negatives below mean something.
    assert!(
        own.ok,
        "a probe cannot reach its own lab's gateway: {own:?}"
    );
    assert!(
        own_by_ip.ok,
        "a probe cannot reach its own gateway by address: {own_by_ip:?}"
    );
    for (what, o) in [
        ("lab B's gateway from lab A", &b_gateway),
        ("lab B's web from lab A", &b_web),
        ("lab A's gateway from lab B", &a_from_b),
        ("a container on the default bridge from lab A", &other),
    ] {
        eprintln!("{test}: {what}: {o:?}");
        assert!(!o.reached(), "{what} answered: {o:?}");
    }

    let (da, db) = tokio::join!(lab_down(&docker, &a), lab_down(&docker, &b));
    // Probes and the outsider carry the session label: teardown takes them too (on a swarm,
    // with the services, whose task containers Swarm may have removed first).
    let da = da.unwrap();
    match placement {
        Placement::Host => assert_eq!(da.containers.len(), a.containers.len() + 6),
        _ => {
            assert_eq!(da.services.len(), a.containers.len());
            assert!(da.containers.len() >= 6, "{da:?}");
        }
    }
    db.unwrap();
    assert_gone(&docker, &a.session).await;
    assert_gone(&docker, &b.session).await;
}

/// A labd web server on Docker's default bridge, labelled with `session`; returns its address.
async fn outsider_container(docker: &Docker, session: &str, image: &str) -> Ipv4Addr {
    let body = ContainerCreateBody {
        image: Some(image.into()),
        cmd: Some(vec!["worker".into()]),
        env: Some(vec!["LABD_SERVICE=outsider".into()]),
        user: Some(image::LAB_USER.into()),
        labels: Some(labels::session_labels(
            session,
            "outsider",
            Duration::from_secs(600),
        )),
        host_config: Some(hardened_host_config("bridge", None)),
        ..Default::default()
    };
    let name = format!("{session}-outsider");
    let created = docker
        .create_container(
            Some(CreateContainerOptionsBuilder::default().name(&name).build()),
            body,
        )
        .await
        .unwrap();
    docker.start_container(&created.id, None).await.unwrap();
    let ip = docker
        .inspect_container(&created.id, None)
        .await
        .unwrap()
        .network_settings
        .and_then(|s| s.networks)
        .and_then(|n| n.get("bridge").and_then(|e| e.ip_address.clone()))
        .and_then(|ip| ip.parse().ok())
        .expect("outsider address");
    // It must be up, or "unreachable" would prove nothing.
    let client = bulkhead_labs::lab_up::health_client();
    let started = Instant::now();
    while !matches!(client.get(format!("http://{ip}:8080/healthz")).send().await, Ok(r) if r.status().is_success())
    {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "outsider never answered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    ip
}

/// The host's own addresses, as a lab container could try them: the lab network's gateway,
/// the default bridge's, and every other IPv4 address of the host (from /proc/net/fib_trie).
#[tokio::test]
async fn lab_cannot_reach_services_on_the_host() {
    cannot_reach_the_host("lab_cannot_reach_services_on_the_host", Placement::Host).await;
}

/// The same on a swarm: its bridges carry the `bh-` interface names the shield rule covers.
#[tokio::test]
async fn swarm_lab_cannot_reach_services_on_the_host() {
    let test = "swarm_lab_cannot_reach_services_on_the_host";
    cannot_reach_the_host(test, Placement::Swarm).await;
}

async fn cannot_reach_the_host(test: &str, placement: Placement) {
    let Some((docker, image)) = setup_for(test, placement).await else {
        return;
    };
    let _slot = LAB_SLOTS.acquire().await.unwrap();
    let loaded = scenario("stolen-credentials");
    let (lab, _cleanup) = up_on(&docker, &loaded, &image, placement).await;

    // A listener on all interfaces, as many host services are.
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    let server = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        while let Ok((mut socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let _ = socket
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
                .await;
        }
    });

    let outside = net(&lab, "outside");
    // The lab's own bridge address, the default bridge's, and the host's other addresses
    // (other Docker networks' bridge addresses left out: they behave like these).
    let own_bridge = endpoint_gateway(&docker, &lab.containers["attacker"].id, &outside).await;
    let bridges = docker_gateways(&docker).await;
    let mut targets = vec![own_bridge];
    // The host's addresses include the default bridge's (docker0), which the daemon does not
    // list as a network gateway.
    targets.extend(
        host_addresses()
            .into_iter()
            .filter(|ip| !bridges.contains(ip)),
    );
    assert!(
        targets.len() >= 2,
        "no host address besides the lab bridge: {targets:?}"
    );
    targets.sort();
    targets.dedup();
    let outcomes = futures_util::future::join_all(
        targets
            .iter()
            .map(|ip| probe(&docker, &lab, outside.clone(), format!("{ip}:{port}"))),
    )
    .await;
    server.abort();
    let reached: Vec<String> = targets
        .iter()
        .zip(&outcomes)
        .filter(|(_, o)| o.reached())
        .map(|(ip, o)| format!("{ip}:{port} ({})", o.detail))
        .collect();
    lab_down(&docker, &lab).await.unwrap();
    assert_gone(&docker, &lab.session).await;

    if reached.is_empty() {
        assert_eq!(accepted.load(Ordering::SeqCst), 0);
        return;
    }
    // Docker 20.10 gives internal networks a default route to the host's bridge address, and
    // the host accepts what arrives for its own addresses (INPUT, not FORWARD, so Docker's
    // isolation rules do not apply). Closing it takes a host firewall rule (see doctor.rs).
    let message = format!(
        "a lab container reached services on this host at {}; install the rule `iptables -I \
         INPUT -i bh-+ -m conntrack --ctstate NEW -j REJECT` (bulkhead doctor)",
        reached.join(", ")
    );
    // The property is broken. Where it can be fixed (root may add the rule, and lab_up does)
    // or is demanded, that is a failure; elsewhere the test says loudly that it proved nothing.
    if host_shield_required() {
        panic!("{test}: {message}");
    }
    bulkhead_labs::docker::announce_skip(
        test,
        &format!("the host shield is missing, so labs are NOT sealed from this host: {message}"),
        "The sealing from the host is NOT verified here; set BULKHEAD_REQUIRE_HOST_SHIELD=1 (or \
         BULKHEAD_REQUIRE_DOCKER=1 as root) to make this fail",
    );
}

/// Whether a lab reaching the host must fail the test: asked for by
/// BULKHEAD_REQUIRE_HOST_SHIELD=1, or implied by BULKHEAD_REQUIRE_DOCKER=1 (CI) when this
/// process is root, since root can install the shield rule and `lab_up` does.
fn host_shield_required() -> bool {
    let on = |name: &str| std::env::var(name).is_ok_and(|v| v == "1");
    on("BULKHEAD_REQUIRE_HOST_SHIELD")
        || (on("BULKHEAD_REQUIRE_DOCKER") && effective_uid() == Some(0))
}

/// This process's effective uid, from /proc (the second field of its `Uid:` line).
fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// The gateway (the host's address) of a container's endpoint on a network. Read from the
/// endpoint: the default bridge lists no gateway in its IPAM config.
async fn endpoint_gateway(docker: &Docker, container: &str, network: &str) -> Ipv4Addr {
    docker
        .inspect_container(container, None)
        .await
        .unwrap()
        .network_settings
        .and_then(|s| s.networks)
        .and_then(|n| n.get(network).and_then(|e| e.gateway.clone()))
        .and_then(|g| g.parse().ok())
        .unwrap_or_else(|| panic!("{container} has no gateway on {network}"))
}

/// The bridge addresses of every Docker network.
async fn docker_gateways(docker: &Docker) -> Vec<Ipv4Addr> {
    docker
        .list_networks(None::<bollard::query_parameters::ListNetworksOptions>)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|n| n.ipam?.config)
        .flatten()
        .filter_map(|c| c.gateway?.parse().ok())
        .collect()
}

/// The host's local IPv4 addresses, except loopback (from the kernel's routing trie).
fn host_addresses() -> Vec<Ipv4Addr> {
    let trie = std::fs::read_to_string("/proc/net/fib_trie").unwrap_or_default();
    let lines: Vec<&str> = trie.lines().collect();
    let mut found = Vec::new();
    for pair in lines.windows(2) {
        if pair[1].contains("/32 host LOCAL")
            && let Some(ip) = pair[0]
                .trim()
                .trim_start_matches("|-- ")
                .parse::<Ipv4Addr>()
                .ok()
            && !ip.is_loopback()
        {
            found.push(ip);
        }
    }
    found
}

// ---------------------------------------------------------------------------------------
// Nothing left behind

#[tokio::test]
async fn twenty_up_down_cycles_leave_nothing_behind() {
    let test = "twenty_up_down_cycles_leave_nothing_behind";
    let Some((docker, image)) = setup(test).await else {
        return;
    };
    let loaded = scenario("stolen-credentials");
    // Two streams of ten cycles side by side: the real shared topology, twenty labs in all.
    let stream = |n: usize| {
        let (docker, loaded, image) = (docker.clone(), &loaded, image.clone());
        async move {
            let mut times = Vec::new();
            for i in 0..10 {
                let _slot = LAB_SLOTS.acquire().await.unwrap();
                let started = Instant::now();
                let (lab, _cleanup) = up(&docker, loaded, &image).await;
                let up_time = started.elapsed();
                if i == 0 {
                    // Mitigations leave containers paused or stopped: teardown copes.
                    docker
                        .pause_container(&lab.containers["tenant-a"].id)
                        .await
                        .unwrap();
                    docker
                        .stop_container(&lab.containers["datastore"].id, None)
                        .await
                        .unwrap();
                }
                let report = lab_down(&docker, &lab).await.unwrap();
                assert_eq!(report.containers.len(), loaded.topology.services.len());
                assert_eq!(report.networks.len(), loaded.topology.zones.len());
                // Idempotent: a second teardown finds nothing and does not fail.
                let again = remove_session(&docker, &lab.session).await.unwrap();
                assert!(again.containers.is_empty() && again.networks.is_empty());
                assert_gone(&docker, &lab.session).await;
                eprintln!(
                    "{test}: stream {n} cycle {i}: up {} ms (ready {} ms), down {} ms",
                    up_time.as_millis(),
                    lab.ready_in.as_millis(),
                    report.took.as_millis()
                );
                times.push((lab.session.clone(), lab.ready_in, report.took));
            }
            times
        }
    };
    let started = Instant::now();
    let (s1, s2) = tokio::join!(stream(1), stream(2));
    let all: Vec<_> = s1.into_iter().chain(s2).collect();
    assert_eq!(all.len(), 20);
    for (session, _, _) in &all {
        assert_gone(&docker, session).await;
    }
    let mut ready: Vec<Duration> = all.iter().map(|t| t.1).collect();
    let mut down: Vec<Duration> = all.iter().map(|t| t.2).collect();
    ready.sort();
    down.sort();
    eprintln!(
        "{test}: 20 cycles in {:.1?} (2 at a time); ready median {} ms (min {}, max {}), \
         teardown median {} ms (min {}, max {})",
        started.elapsed(),
        ready[10].as_millis(),
        ready[0].as_millis(),
        ready[19].as_millis(),
        down[10].as_millis(),
        down[0].as_millis(),
        down[19].as_millis()
    );
}

#[tokio::test]
async fn a_failed_lab_up_leaves_nothing_behind() {
    let test = "a_failed_lab_up_leaves_nothing_behind";
    let Some(docker) = docker_or_skip(test).await else {
        return;
    };
    let _slot = LAB_SLOTS.acquire().await.unwrap();
    let mut loaded = scenario("stolen-credentials");
    // A topology id of its own, so its objects are found by the lab label (lab_up does not
    // return the session when it fails).
    let id = format!("failing-{}", std::process::id());
    Arc::make_mut(&mut loaded.topology).id = id.clone();
    Arc::make_mut(&mut loaded.scenario).topology = id.clone();
    // Networks and containers get created; starting fails on the missing image.
    let err = lab_up(
        &docker,
        &loaded.topology,
        &loaded.scenario,
        &LabOptions::default(),
        "bulkhead/labd:no-such-image",
    )
    .await
    .expect_err("lab_up with a missing image must fail");
    eprintln!("{test}: {err}");
    assert!(err.to_string().contains("no-such-image"), "{err}");
    let (containers, networks) = lab_objects(&docker, &id).await;
    assert!(
        containers.is_empty() && networks.is_empty(),
        "left {containers:?} {networks:?}"
    );
}

#[tokio::test]
async fn a_cancelled_lab_up_leaves_nothing_behind() {
    let test = "a_cancelled_lab_up_leaves_nothing_behind";
    let Some((docker, image)) = setup(test).await else {
        return;
    };
    let _slot = LAB_SLOTS.acquire().await.unwrap();
    let mut loaded = scenario("stolen-credentials");
    let id = format!("cancelled-{}", std::process::id());
    Arc::make_mut(&mut loaded.topology).id = id.clone();
    Arc::make_mut(&mut loaded.scenario).topology = id.clone();
    // Dropped while containers are being created and started.
    let options = LabOptions::default();
    let up = lab_up(
        &docker,
        &loaded.topology,
        &loaded.scenario,
        &options,
        &image,
    );
    let cancelled = tokio::time::timeout(Duration::from_millis(600), up).await;
    assert!(
        cancelled.is_err(),
        "lab_up finished before it could be cancelled"
    );
    let (containers, networks) = lab_objects(&docker, &id).await;
    eprintln!(
        "{test}: at cancellation {} containers, {} networks",
        containers.len(),
        networks.len()
    );
    let started = Instant::now();
    loop {
        let (containers, networks) = lab_objects(&docker, &id).await;
        if containers.is_empty()
            && networks.is_empty()
            && started.elapsed() > Duration::from_secs(7)
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "left {containers:?} {networks:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Names of the containers and networks labelled with a lab (topology) id.
async fn lab_objects(docker: &Docker, lab: &str) -> (Vec<String>, Vec<String>) {
    let filters = HashMap::from([("label", vec![format!("{}={lab}", labels::LAB)])]);
    let networks = docker
        .list_networks(Some(
            ListNetworksOptionsBuilder::default()
                .filters(&filters)
                .build(),
        ))
        .await
        .unwrap()
        .into_iter()
        .filter_map(|n| n.name)
        .collect();
    let containers = docker
        .list_containers(Some(
            ListContainersOptionsBuilder::default()
                .all(true)
                .filters(&filters)
                .build(),
        ))
        .await
        .unwrap()
        .into_iter()
        .flat_map(|c| c.names.unwrap_or_default())
        .collect();
    (containers, networks)
}

/// The child half of `a_killed_owner_is_reaped`: when re-executed with BULKHEAD_HOLD_LAB=1,
/// bring a lab up, say which, and wait to be killed. Otherwise (a normal run) do nothing.
#[tokio::test]
async fn child_holds_a_lab_until_killed() {
    if std::env::var("BULKHEAD_HOLD_LAB").is_err() {
        return;
    }
    let docker = bulkhead_labs::docker::connect().await.unwrap();
    let image = std::env::var("BULKHEAD_HOLD_IMAGE").unwrap();
    let loaded = scenario("stolen-credentials");
    let lab = lab_up(
        &docker,
        &loaded.topology,
        &loaded.scenario,
        &LabOptions::default(),
        &image,
    )
    .await
    .unwrap();
    println!("HOLDING {}", lab.session);
    // Killed long before this; should the parent vanish, remove the lab rather than leak it.
    tokio::time::sleep(Duration::from_secs(120)).await;
    let _ = lab_down(&docker, &lab).await;
}

#[tokio::test]
async fn a_killed_owner_is_reaped() {
    let test = "a_killed_owner_is_reaped";
    let Some((docker, image)) = setup(test).await else {
        return;
    };
    // The child's lab counts against this process's budget of networks.
    let _slot = LAB_SLOTS.acquire().await.unwrap();
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_holds_a_lab_until_killed",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("BULKHEAD_HOLD_LAB", "1")
        .env("BULKHEAD_HOLD_IMAGE", &image)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let child_pid = child.id().unwrap();
    let mut lines =
        tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(child.stdout.take().unwrap()));
    let session = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            // libtest prints the test's name on the same line first.
            if let Some(at) = line.find("HOLDING ") {
                return line[at + "HOLDING ".len()..].trim().to_owned();
            }
        }
        panic!("the child ended without bringing a lab up");
    })
    .await
    .expect("the child's lab came up in time");
    let _cleanup = Cleanup(session.clone());
    let (containers, networks) = session_objects(&docker, &session).await;
    assert_eq!(
        (containers.len(), networks.len()),
        (7, 5),
        "the child's lab"
    );

    // Live owners and unexpired labs are kept; expired ones go even with a live owner.
    let live = sentinel_network(&docker, Duration::from_secs(3600)).await;
    let expired = sentinel_network(&docker, Duration::ZERO).await;
    let _live_cleanup = Cleanup(live.clone());
    let _expired_cleanup = Cleanup(expired.clone());

    let report = reaper::reap(&docker).await.unwrap();
    assert!(
        report.kept.contains(&session),
        "the child is alive: its lab stays"
    );
    assert!(report.kept.contains(&live));
    assert!(
        report.removed.iter().any(|r| r.session == expired),
        "{report:?}"
    );

    child.kill().await.unwrap(); // SIGKILL
    let status = child.wait().await.unwrap();
    eprintln!("{test}: child {child_pid} ended: {status}");
    let started = Instant::now();
    let report = reaper::reap(&docker).await.unwrap();
    let reaped = report
        .removed
        .iter()
        .find(|r| r.session == session)
        .unwrap_or_else(|| panic!("the killed child's lab was not reaped: {report:?}"));
    eprintln!(
        "{test}: reaped {} containers and {} networks in {} ms",
        reaped.containers.len(),
        reaped.networks.len(),
        started.elapsed().as_millis()
    );
    assert_eq!((reaped.containers.len(), reaped.networks.len()), (7, 5));
    assert!(report.kept.contains(&live));
    assert_gone(&docker, &session).await;
    assert_gone(&docker, &expired).await;
    remove_session(&docker, &live).await.unwrap();
    assert_gone(&docker, &live).await;
}

/// A labelled network owned by this process, alone in a session of its own.
async fn sentinel_network(docker: &Docker, ttl: Duration) -> String {
    let session = bulkhead_labs::lab_up::new_session_id();
    let request = NetworkCreateRequest {
        name: format!("{session}-sentinel"),
        internal: Some(true),
        labels: Some(labels::session_labels(&session, "sentinel", ttl)),
        ..Default::default()
    };
    docker.create_network(request).await.unwrap();
    session
}

// ---------------------------------------------------------------------------------------
// Doctor

#[tokio::test]
async fn doctor_sees_docker_and_the_current_image() {
    let test = "doctor_sees_docker_and_the_current_image";
    let Some((_docker, image)) = setup(test).await else {
        return;
    };
    let checks = bulkhead_labs::doctor::diagnose().await;
    for c in &checks {
        eprintln!(
            "{test}: [{}] {}: {}{}",
            if c.ok { " ok " } else { "FAIL" },
            c.name,
            c.detail,
            c.fix
                .as_deref()
                .map(|f| format!(" -> {f}"))
                .unwrap_or_default()
        );
        assert!(
            c.ok || c.fix.is_some(),
            "a failed check must say what to do: {c:?}"
        );
    }
    let find = |name: &str| checks.iter().find(|c| c.name == name).unwrap();
    assert!(find("Docker").ok);
    assert!(find("Lab image").ok, "setup built {image}");
    assert!(find("Lab image").detail.contains(&image));
    assert!(
        find("Static labd build").ok,
        "{:?}",
        find("Static labd build")
    );
    // Where a swarm is required (CI makes one), the doctor probes its node for real.
    let swarm = find("Swarm");
    assert!(swarm.ok, "{swarm:?}");
    if std::env::var("BULKHEAD_REQUIRE_SWARM").is_ok_and(|v| v == "1") {
        assert!(
            swarm.detail.contains("enforces no-new-privileges"),
            "{swarm:?}"
        );
    }
}

/// A leftover the reaper cannot remove yet (here a lab network a foreign container still uses,
/// as a stale endpoint Docker keeps after a teardown would) is reported, and does not stop a
/// new lab from starting; once it can go, the reaper removes it.
#[test]
fn a_leftover_the_reaper_cannot_remove_does_not_stop_a_lab_from_starting() {
    let test = "a_leftover_the_reaper_cannot_remove_does_not_stop_a_lab_from_starting";
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let Some((docker, image)) = rt.block_on(setup(test)) else {
        return;
    };
    let session = format!("bh-leftover{}", std::process::id());
    let _cleanup = Cleanup(session.clone());
    let network = format!("{session}-data");
    // Expired at once: the reaper's to remove.
    let network_labels = labels::session_labels(&session, "company", Duration::ZERO);
    let held_by = format!("{session}-foreign");
    rt.block_on(async {
        let request = NetworkCreateRequest {
            name: network.clone(),
            driver: Some("bridge".into()),
            internal: Some(true),
            labels: Some(network_labels),
            ..Default::default()
        };
        docker.create_network(request).await.unwrap();
        // Not the session's: the reaper removes only what carries its label.
        let body = ContainerCreateBody {
            image: Some(image.clone()),
            cmd: Some(vec!["traffic".into()]),
            env: Some(vec![
                "LABD_SERVICE=foreign".into(),
                "LABD_GATEWAY=127.0.0.1:1".into(),
            ]),
            user: Some(image::LAB_USER.into()),
            host_config: Some(hardened_host_config(&network, None)),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(HashMap::from([(
                    network.clone(),
                    EndpointSettings::default(),
                )])),
            }),
            ..Default::default()
        };
        let options = CreateContainerOptionsBuilder::default()
            .name(&held_by)
            .build();
        let created = docker.create_container(Some(options), body).await.unwrap();
        docker.start_container(&created.id, None).await.unwrap();
    });

    let loaded = scenario("stolen-credentials");
    let mut said = Vec::new();
    let lab = bulkhead_labs::docker_lab::DockerLab::start(
        Arc::clone(&loaded.topology),
        &loaded.scenario,
        &LabOptions::default(),
        |line| said.push(line.to_owned()),
    );
    let lab = lab.expect("the lab starts despite the leftover");
    assert!(
        said.iter()
            .any(|l| l.contains("leftovers of earlier runs remain") && l.contains(&network)),
        "the leftover is reported: {said:?}"
    );
    drop(lab);

    rt.block_on(async {
        let force = bollard::query_parameters::RemoveContainerOptionsBuilder::default()
            .force(true)
            .build();
        docker
            .remove_container(&held_by, Some(force))
            .await
            .unwrap();
        let report = reaper::reap(&docker).await.unwrap();
        assert!(
            report.removed.iter().any(|r| r.networks.contains(&network)),
            "once free, the leftover goes: {report:?}"
        );
    });
}
