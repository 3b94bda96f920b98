//! Labs on another node of the swarm (in CI a second Docker engine on this machine, in a
//! network namespace of its own, joined as a worker: `scripts/second-node.sh up`): the lab goes
//! there when this machine's node takes no new labs, runs on that node's engine alone, is
//! driven through it (its lab addresses cannot be reached from here, as with a second
//! machine), takes mitigations there, ends cleanly when that node is drained, and leaves
//! nothing on either engine.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bulkhead_engine::{Cause, EffectKind, LabHealth, Mitigation, Origin};
use bulkhead_labs::docker_lab::DockerLab;
use bulkhead_labs::drive::Labd;
use bulkhead_labs::{LabOptions, Placement, labels};
use common::{Probe, docker_out};

mod common;

/// One test at a time: each takes this machine's node out of placement while it runs.
static SERIAL: Mutex<()> = Mutex::new(());

/// The second node's engine, with this machine's node paused (no new tasks) until the guard
/// goes, so that labs go there; `None` (skipped, visibly) without a second node.
fn other_node_only(test: &str) -> Option<(String, Active)> {
    let (_, endpoint) =
        current_thread().block_on(bulkhead_labs::docker::second_node_or_skip(test))?;
    bulkhead_labs::swarm::nodes::use_engines(std::slice::from_ref(&endpoint));
    let here = docker_out(&["info", "--format", "{{.Swarm.NodeID}}"]);
    let active = Active(here.clone());
    docker_out(&["node", "update", "--availability", "pause", &here]);
    Some((endpoint, active))
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Scenario `id` and options that place its lab on the swarm.
fn swarm_lab_of(id: &str) -> (bulkhead_engine::Loaded, LabOptions) {
    let root = bulkhead_labs::image::source_dir();
    let loaded = bulkhead_engine::format::resolve_scenario(&root, id).unwrap();
    let options = LabOptions {
        placement: Placement::Swarm,
        ..LabOptions::default()
    };
    (loaded, options)
}

/// `docker -H <the second node> ARGS`, which must succeed; its output, trimmed.
fn node2(endpoint: &str, args: &[&str]) -> String {
    let mut all = vec!["-H", endpoint];
    all.extend(args);
    docker_out(&all)
}

/// Sets a node's availability back to active when the test ends, passed or not.
struct Active(String);

impl Drop for Active {
    fn drop(&mut self) {
        let _ = std::process::Command::new("docker")
            .args(["node", "update", "--availability", "active", &self.0])
            .output();
    }
}

/// How many objects of `session` an engine still holds (containers, networks, images).
fn objects_on(endpoint: &str, session: &str) -> usize {
    let label = format!("label={}={session}", labels::SESSION);
    let count = |what: &[&str]| {
        let mut args = what.to_vec();
        args.extend(["--filter", label.as_str(), "-q"]);
        node2(endpoint, &args).lines().count()
    };
    count(&["ps", "-a"]) + count(&["network", "ls"]) + count(&["image", "ls"])
}

#[test]
fn a_lab_on_another_node_is_driven_through_that_nodes_engine() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some((endpoint, _paused_here)) = other_node_only("a lab on another swarm node") else {
        return;
    };
    let there = node2(&endpoint, &["info", "--format", "{{.Swarm.NodeID}}"]);
    let rt = current_thread();
    let (loaded, options) = swarm_lab_of("resource-exhaustion");
    let asked = Instant::now();
    let lab = DockerLab::start(
        Arc::clone(&loaded.topology),
        &loaded.scenario,
        &options,
        |m| eprintln!("{m}"),
    )
    .expect("the lab comes up on the other node");
    eprintln!(
        "figure: lab on the other node ready in {:.1} s (its image and checks included)",
        asked.elapsed().as_secs_f64()
    );
    let running = lab.running().clone();
    let node = running.node.clone().expect("placed on a node");
    assert_eq!(node.id, there, "the lab went to the node that takes labs");
    assert_eq!(node.hostname, "bh-node2");
    for c in running.containers.values() {
        let state = node2(&endpoint, &["inspect", "-f", "{{.State.Running}}", &c.id]);
        assert_eq!(state, "true", "{} runs on the other node's engine", c.name);
        let mine = std::process::Command::new("docker")
            .args(["inspect", &c.id])
            .output()
            .unwrap();
        assert!(!mine.status.success(), "{} is not on this engine", c.name);
    }
    // Its addresses are that node's: nothing here routes to them, as with another machine.
    let gateway = running.containers["gateway"].address().unwrap();
    assert!(
        !rt.block_on(Labd::new().healthy(gateway)),
        "the lab's addresses must not be reachable from here, or this test proves nothing"
    );

    let mut p = Probe::new(Box::new(lab));
    let read = common::read_orders;
    let step = |p: &mut Probe, origin: Origin, kind: EffectKind| {
        let id = p.apply(origin, kind);
        p.wait_for_outcome(id, 2500);
        (
            p.outcome(id),
            p.outcome_of(id).and_then(|o| o.cause.clone()),
        )
    };
    let attack = || Origin::Attack {
        step: "probe".into(),
    };
    let defend = |m: Mitigation| (Origin::Defender, EffectKind::Mitigate(m));
    // An executor's action (labd's control API, through the node's engine) and its outcome
    // (the container's log, from that engine).
    assert_eq!(
        step(&mut p, attack(), EffectKind::Act(read())).0,
        Some(true),
        "an attack step through the other node's engine"
    );
    // labd's rules there (the gateway's blocks) and the node's engine's own (a pause).
    let block = Mitigation::Block {
        source: "198.51.100.23".into(),
    };
    let (o, k) = defend(block);
    assert_eq!(step(&mut p, o, k).0, Some(true), "block confirmed");
    assert_eq!(
        step(&mut p, attack(), EffectKind::Act(read())),
        (
            Some(false),
            Some(Cause::Blocked {
                source: "198.51.100.23".into()
            })
        ),
        "the blocked source is refused"
    );
    let (o, k) = defend(Mitigation::Pause {
        service: "web".into(),
    });
    assert_eq!(step(&mut p, o, k).0, Some(true), "pause confirmed");
    let web = &running.containers["web"].id;
    assert_eq!(
        node2(&endpoint, &["inspect", "-f", "{{.State.Paused}}", web]),
        "true"
    );
    let (o, k) = defend(Mitigation::Unpause {
        service: "web".into(),
    });
    assert_eq!(step(&mut p, o, k).0, Some(true), "unpause confirmed");

    // Draining the other node ends the lab, as on this machine's.
    let _undrain = Active(there.clone());
    let drained = Instant::now();
    docker_out(&["node", "update", "--availability", "drain", &there]);
    let lost = loop {
        p.run_for(100, 100);
        match p.lab.health() {
            LabHealth::Lost { why } => break why,
            _ if drained.elapsed() > Duration::from_secs(30) => panic!("the drain went unseen"),
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    let seen = drained.elapsed();
    assert!(lost.contains("bh-node2"), "{lost}");
    p.lab.shutdown().expect("teardown");
    eprintln!(
        "figure: the other node drained: lab lost in {:.1} s, removed in {:.1} s",
        seen.as_secs_f64(),
        drained.elapsed().as_secs_f64()
    );
    assert_eq!(
        objects_on(&endpoint, &running.session),
        0,
        "nothing of the lab is left on the other node"
    );
    let label = format!("label={}={}", labels::SESSION, running.session);
    assert_eq!(
        docker_out(&["service", "ls", "--filter", &label, "-q"]),
        "",
        "nor of its services"
    );
    let networks = docker_out(&["network", "ls", "--format", "{{.Name}}"]);
    let prefix = format!("{}-", running.session);
    assert!(
        !networks.lines().any(|n| n.starts_with(&prefix)),
        "nor of its Swarm networks: {networks}"
    );
}

/// A lab on the other node whose owner is gone (here: whose time is up) is reaped from both
/// engines: its services and Swarm networks by the manager's reaper, its containers, config
/// networks and images by the node's, which a server runs when it admits the node.
#[test]
fn an_abandoned_lab_on_another_node_is_reaped_from_both_engines() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some((endpoint, _paused_here)) = other_node_only("a lab on another node, reaped") else {
        return;
    };
    let rt = current_thread();
    let (loaded, mut options) = swarm_lab_of("resource-exhaustion");
    options.ttl = Duration::from_secs(1);
    let (manager, node) = rt.block_on(async {
        let manager = bulkhead_labs::docker::connect().await.unwrap();
        let node = bulkhead_labs::swarm::nodes::connect_all(&manager)
            .await
            .unwrap();
        (manager, node[0].docker.clone())
    });
    let image = rt
        .block_on(bulkhead_labs::image::ensure_image(&manager, |_| {}))
        .unwrap()
        .reference;
    let lab = rt
        .block_on(bulkhead_labs::swarm::place::lab_up(
            &manager,
            &loaded.topology,
            &loaded.scenario,
            &options,
            &image,
        ))
        .expect("the lab comes up on the other node");
    assert!(
        objects_on(&endpoint, &lab.session) > 0,
        "the lab is on the other node"
    );
    // Nobody tears it down; its time runs out.
    std::thread::sleep(Duration::from_secs(2));
    let here = rt.block_on(bulkhead_labs::reaper::reap(&manager)).unwrap();
    let there = rt.block_on(bulkhead_labs::reaper::reap(&node)).unwrap();
    assert!(
        here.removed.iter().any(|r| r.session == lab.session),
        "the manager's reaper took its services: {here:?}"
    );
    assert!(
        there.removed.iter().any(|r| r.session == lab.session),
        "the node's reaper took its containers: {there:?}"
    );
    assert_eq!(
        objects_on(&endpoint, &lab.session),
        0,
        "nothing left on the node"
    );
    let label = format!("label={}={}", labels::SESSION, lab.session);
    assert_eq!(docker_out(&["service", "ls", "--filter", &label, "-q"]), "");
    // By prefix here: the daemon's name filter takes a Swarm network's whole name only.
    let networks = docker_out(&["network", "ls", "--format", "{{.Name}}"]);
    let prefix = format!("{}-", lab.session);
    assert!(
        !networks.lines().any(|n| n.starts_with(&prefix)),
        "nor of its Swarm networks on the manager: {networks}"
    );
}
