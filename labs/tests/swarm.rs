//! Labs placed by Docker Swarm (a one-node swarm in CI: `scripts/one-node-swarm.sh up`): each
//! lab service is a Swarm service Swarm never restarts, with no ports, labelled, all on one
//! node, the first holding the lab's reservation; its task containers are hardened as on a Docker
//! host, no-new-privileges included (from the daemon, read off the kernel), and teardown
//! leaves nothing; a drained node's tasks stay down and its labs' sessions end cleanly, and a
//! lab no node has room for is refused at once. Isolation on a swarm is in lifecycle.rs,
//! mitigations in sessions.rs, served seats in the binary's tests/serve.rs.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bulkhead_engine::format::{self, Loaded};
use bulkhead_engine::record::{LabFault, RecordLine};
use bulkhead_engine::{Phase, RecordWriter, Session};
use bulkhead_labs::docker_lab::DockerLab;
use bulkhead_labs::swarm::place::LAB_CPU_RESERVATION;
use bulkhead_labs::{LabOptions, Placement, labels};
use common::{docker_out, inspect, leftovers, swarm_here};

mod common;

/// One test at a time: draining the node takes every lab off it, a neighbour's too.
static SERIAL: Mutex<()> = Mutex::new(());

fn load(id: &str) -> Loaded {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    format::load_scenario(&root.join(format!("scenarios/{id}.ron")), &root).unwrap()
}

/// A lab of `loaded` placed by Swarm, its session clock `time_scale` times the wall's.
fn swarm_lab(loaded: &Loaded, time_scale: f64) -> DockerLab {
    let options = LabOptions {
        placement: Placement::Swarm,
        time_scale,
        ..LabOptions::default()
    };
    DockerLab::start(
        Arc::clone(&loaded.topology),
        &loaded.scenario,
        &options,
        |m| eprintln!("{m}"),
    )
    .expect("the lab comes up on the swarm")
}

/// `docker service inspect -f FORMAT SERVICE`.
fn service(name: &str, format: &str) -> String {
    docker_out(&["service", "inspect", "-f", format, name])
}

/// A field of a container's `/proc/<pid>/status`, as the kernel sees the process.
fn kernel_status(container: &str, key: &str) -> Option<String> {
    let pid = inspect(container, "{{.State.Pid}}");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    (status.lines()).find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_owned()))
}

#[test]
fn a_lab_placed_by_swarm_runs_hardened_on_one_node_and_leaves_nothing() {
    if !swarm_here("swarm placement") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let loaded = load("resource-exhaustion");
    let lab = swarm_lab(&loaded, 1.0);
    let running = lab.running().clone();
    let node = running.node.clone().expect("placed on a node");
    assert_eq!(
        node.id,
        docker_out(&["info", "--format", "{{.Swarm.NodeID}}"])
    );
    let label = format!("label={}={}", labels::SESSION, running.session);
    let services = docker_out(&["service", "ls", "--filter", &label, "--format", "{{.Name}}"]);
    let services: Vec<&str> = services.lines().collect();
    assert_eq!(
        services.len(),
        loaded.topology.services.len(),
        "{services:?}"
    );

    let mut reserving = Vec::new();
    for name in &services {
        for key in [
            labels::SESSION,
            labels::LAB,
            labels::EXPIRES,
            labels::PID,
            labels::SERVICE,
        ] {
            let value = service(name, &format!("{{{{index .Spec.Labels \"{key}\"}}}}"));
            assert!(
                !value.is_empty() && value != "<no value>",
                "{name}: label {key}"
            );
        }
        assert_eq!(
            service(name, "{{.Spec.TaskTemplate.RestartPolicy.Condition}}"),
            "none",
            "{name}: Swarm must never restart what a trainee stopped"
        );
        assert_eq!(
            service(name, "{{len .Endpoint.Ports}}"),
            "0",
            "{name}: ports"
        );
        assert_eq!(service(name, "{{.Spec.Mode.Replicated.Replicas}}"), "1");
        let constraints = service(name, "{{.Spec.TaskTemplate.Placement.Constraints}}");
        assert!(
            constraints.contains("node.labels.bulkhead.lab-image."),
            "{name}: {constraints}"
        );
        let cpus = service(
            name,
            "{{with .Spec.TaskTemplate.Resources.Reservations}}{{.NanoCPUs}}{{end}}",
        );
        if !cpus.is_empty() && cpus != "0" {
            reserving.push((name.to_string(), cpus));
        }
    }
    assert_eq!(
        reserving.len(),
        1,
        "one service holds the lab's reservation: {reserving:?}"
    );
    assert_eq!(reserving[0].1, LAB_CPU_RESERVATION.to_string());

    // Every task container: on the lab's node, hardened, and unable to gain privileges.
    let mut nodes = BTreeSet::new();
    for (service_id, c) in &running.containers {
        nodes.insert(inspect(
            &c.id,
            "{{index .Config.Labels \"com.docker.swarm.node.id\"}}",
        ));
        assert_eq!(
            inspect(&c.id, "{{.HostConfig.Privileged}}"),
            "false",
            "{service_id}"
        );
        assert_eq!(
            inspect(&c.id, "{{.HostConfig.CapDrop}}"),
            "[ALL]",
            "{service_id}"
        );
        assert_eq!(
            inspect(&c.id, "{{len .HostConfig.PortBindings}}"),
            "0",
            "{service_id}"
        );
        assert_eq!(
            inspect(&c.id, "{{len .HostConfig.Binds}}"),
            "0",
            "{service_id}"
        );
        let networks = inspect(
            &c.id,
            "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}",
        );
        assert!(
            (networks.split_whitespace()).all(|n| n.starts_with(&running.session)),
            "{service_id} joins only its lab's networks: {networks}"
        );
        assert_eq!(
            inspect(&c.id, "{{.HostConfig.ReadonlyRootfs}}"),
            "true",
            "{service_id}"
        );
        // resource-exhaustion leaves tenant-a unlimited on purpose (its NoLimits weakness).
        let memory = inspect(&c.id, "{{.HostConfig.Memory}}");
        assert_eq!(
            memory == "0",
            service_id == "tenant-a",
            "{service_id}: memory {memory}"
        );
        assert_eq!(
            kernel_status(&c.id, "NoNewPrivs:").as_deref(),
            Some("1"),
            "{service_id}"
        );
        assert_eq!(
            kernel_status(&c.id, "CapEff:").as_deref(),
            Some("0000000000000000"),
            "{service_id}"
        );
        let uid = kernel_status(&c.id, "Uid:").unwrap_or_default();
        assert!(uid.starts_with("10001"), "{service_id}: uid {uid}");
    }
    assert_eq!(
        nodes,
        BTreeSet::from([node.id.clone()]),
        "the lab stays on one node"
    );

    drop(lab);
    assert_eq!(
        leftovers(&running.session),
        0,
        "everything of {} removed",
        running.session
    );
    let networks = docker_out(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(
        !networks.lines().any(|n| n.starts_with(&running.session)),
        "the Swarm networks went with their config networks: {networks}"
    );
}

/// Puts the node back to taking tasks when the drain test ends, passed or not.
struct Undrain(String);

impl Drop for Undrain {
    fn drop(&mut self) {
        let _ = std::process::Command::new("docker")
            .args(["node", "update", "--availability", "active", &self.0])
            .output();
    }
}

/// How many of the lab's task containers Docker says run.
fn running_containers(lab: &bulkhead_labs::RunningLab) -> usize {
    (lab.containers.values())
        .filter(|c| {
            let state = std::process::Command::new("docker")
                .args(["inspect", "-f", "{{.State.Running}}", &c.id])
                .output();
            state.is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "true")
        })
        .count()
}

#[test]
fn a_drained_node_ends_its_labs_sessions_cleanly_and_swarm_is_not_undone() {
    if !swarm_here("a drained swarm node") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let loaded = load("stolen-credentials");

    // The tasks Swarm shuts down stay down: the lab's recovery, which starts again a container
    // that died with no cause it knows of, leaves them alone. Asked of a lab no session drives,
    // so that nothing ends it first.
    let lab = swarm_lab(&loaded, 10.0);
    let running = lab.running().clone();
    let node = running.node.clone().expect("placed on a node");
    let undrain = Undrain(node.id.clone());
    docker_out(&["node", "update", "--availability", "drain", &node.id]);
    let stopping = Instant::now();
    while running_containers(&running) > 0 && stopping.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(running_containers(&running), 0, "Swarm stopped the tasks");
    // A restore comes within a second of the death (0.6-0.9 s measured).
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        running_containers(&running),
        0,
        "the lab started again a task Swarm shut down"
    );
    // Torn down before the node takes tasks again, or Swarm would place the lab's replacements.
    drop(lab);
    drop(undrain);
    assert_eq!(leftovers(&running.session), 0);

    // A session on a drained node ends. Its warm-up at ten times the wall's pace: the drain is
    // what is timed here.
    let lab = swarm_lab(&loaded, 10.0);
    let running = lab.running().clone();
    let node = running.node.clone().expect("placed on a node");
    let mut session = Session::new(
        loaded.scenario.clone(),
        loaded.topology.clone(),
        Box::new(lab),
        7,
        RecordWriter::discard(),
    );
    session.begin();
    let live = loaded.scenario.live_start_ms();
    while session.now() < live + 3_000 && session.tick() {}

    let _undrain = Undrain(node.id.clone());
    let drained = Instant::now();
    docker_out(&["node", "update", "--availability", "drain", &node.id]);
    // The scenario runs for minutes: a session still going after this long missed the drain.
    while session.tick() && drained.elapsed() < Duration::from_secs(60) {}
    let ended = drained.elapsed();
    assert_eq!(session.phase(), Phase::Debrief, "the session ended");
    // The session's end tore the lab down.
    assert_eq!(
        leftovers(&running.session),
        0,
        "the lab's services went with it"
    );
    eprintln!(
        "figure: drain to session ended and lab removed {:.1} s",
        ended.as_secs_f64()
    );

    let lines = session.record_lines();
    let lost = (lines.iter()).find_map(|l| match l {
        RecordLine::Fault {
            fault: LabFault::Lost { why },
            ..
        } => Some(why.clone()),
        _ => None,
    });
    let why = lost.expect("the record says the lab was lost");
    assert!(
        why.contains("drained") && why.contains(&node.hostname),
        "{why}"
    );
    // The card is partial but the session's record holds what happened up to the drain.
    assert!(session.score().is_some(), "a partial card");

    // While the node is drained no node has room: a new lab is refused within seconds, not
    // after the 30 s a lab has to come up, says why, and leaves nothing.
    let asked = Instant::now();
    let options = LabOptions {
        placement: Placement::Swarm,
        ..LabOptions::default()
    };
    let refused = DockerLab::start(
        Arc::clone(&loaded.topology),
        &loaded.scenario,
        &options,
        |_| {},
    )
    .expect_err("no node takes labs while the only one is drained");
    let refused_in = asked.elapsed();
    let message = refused.to_string();
    assert!(message.contains("no suitable node"), "{message}");
    assert!(
        refused_in < Duration::from_secs(15),
        "refused after {refused_in:?}"
    );
    eprintln!(
        "figure: a lab no node has room for refused in {:.1} s",
        refused_in.as_secs_f64()
    );
    let label = format!("label={}", labels::SESSION);
    for what in ["service", "network"] {
        assert_eq!(
            docker_out(&[what, "ls", "--filter", &label, "-q"]),
            "",
            "the refused lab's {what}s were removed"
        );
    }
}
