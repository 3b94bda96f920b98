//! Labs placed by Docker Swarm (a one-node swarm in CI: `scripts/one-node-swarm.sh up`): the
//! lab's services on the node Swarm picked, hardened as on a Docker host, cut off from each
//! other and the outside, and nothing left after teardown or after their owner died.

use std::path::PathBuf;
use std::sync::Arc;

use bulkhead_engine::format::{self, Loaded};
use bulkhead_labs::docker_lab::DockerLab;
use bulkhead_labs::{LabOptions, Placement};
use common::{docker_out, leftovers, swarm_here};

mod common;

fn load(id: &str) -> Loaded {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    format::load_scenario(&root.join(format!("scenarios/{id}.ron")), &root).unwrap()
}

fn swarm_lab(loaded: &Loaded) -> DockerLab {
    let options = LabOptions {
        placement: Placement::Swarm,
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

#[test]
fn a_lab_placed_by_swarm_runs_hardened_on_one_node_and_leaves_nothing() {
    if !swarm_here("swarm placement") {
        return;
    }
    let loaded = load("stolen-credentials");
    let lab = swarm_lab(&loaded);
    let running = lab.running().clone();
    let node = running.node.clone().expect("placed on a node");
    let label = format!("label=bulkhead.session={}", running.session);
    let services = docker_out(&["service", "ls", "--filter", &label, "--format", "{{.Name}}"]);
    assert_eq!(
        services.lines().count(),
        loaded.topology.services.len(),
        "{services}"
    );
    drop(lab);
    assert_eq!(
        leftovers(&running.session),
        0,
        "everything of {} removed ({node:?})",
        running.session
    );
}
