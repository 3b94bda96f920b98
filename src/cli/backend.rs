//! Choosing and starting a lab backend: Docker where a daemon answers, else the embedded
//! simulated lab.

use std::sync::Arc;

use bulkhead_engine::{Backend, Lab, Loaded, SimLab};
use bulkhead_labs::docker_lab::DockerLab;
use bulkhead_labs::{LabOptions, Placement};
use clap::ValueEnum;

use super::{EXIT_BAD_INPUT, Exit};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendChoice {
    /// Real containers on the local Docker engine.
    Docker,
    /// The embedded simulated lab: deterministic, no Docker needed.
    Sim,
    /// Real containers placed by Docker Swarm: this engine must be a Swarm manager whose
    /// daemon enforces no-new-privileges (README, "Labs on Docker Swarm").
    Swarm,
}

impl BackendChoice {
    /// The lab kind a session records: a swarm's labs are Docker labs on the node it picked.
    pub fn recorded(self) -> Backend {
        match self {
            BackendChoice::Sim => Backend::Sim,
            BackendChoice::Docker | BackendChoice::Swarm => Backend::Docker,
        }
    }

    /// How people call the labs it runs.
    pub fn title(self) -> &'static str {
        match self {
            BackendChoice::Docker => "Docker lab",
            BackendChoice::Sim => "simulated lab",
            BackendChoice::Swarm => "Docker lab on Swarm",
        }
    }
}

/// The asked backend, or Docker when a daemon answers and the simulated lab otherwise.
pub fn resolve(asked: Option<BackendChoice>) -> BackendChoice {
    asked.unwrap_or_else(|| {
        if DockerLab::daemon_answers() {
            BackendChoice::Docker
        } else {
            eprintln!("note: no Docker daemon answers here; using the simulated lab (`bulkhead doctor` says why)");
            BackendChoice::Sim
        }
    })
}

/// How to switch away from the backend in use, for people.
pub fn hint(backend: BackendChoice) -> String {
    match backend {
        BackendChoice::Docker => "real containers; pass --backend sim for the simulated lab".into(),
        BackendChoice::Sim => {
            "simulated; pass --backend docker for real containers (see `bulkhead doctor`)".into()
        }
        BackendChoice::Swarm => {
            "real containers placed by Docker Swarm; pass --backend docker for this host only"
                .into()
        }
    }
}

/// Bring a lab up for a scenario. `time_scale` compresses session time on Docker.
pub fn make_lab(
    backend: BackendChoice,
    loaded: &Loaded,
    seed: u64,
    time_scale: f64,
    progress: &mut dyn FnMut(&str),
) -> Result<Box<dyn Lab>, String> {
    match backend {
        BackendChoice::Sim => Ok(Box::new(SimLab::new(
            loaded.topology.clone(),
            &loaded.scenario,
            seed,
        ))),
        BackendChoice::Docker | BackendChoice::Swarm => {
            let placement = match backend {
                BackendChoice::Swarm => Placement::Swarm,
                _ => Placement::Host,
            };
            let options = LabOptions {
                time_scale,
                placement,
                ..LabOptions::default()
            };
            DockerLab::start(
                Arc::clone(&loaded.topology),
                &loaded.scenario,
                &options,
                progress,
            )
            .map(|lab| Box::new(lab) as Box<dyn Lab>)
            .map_err(|e| format!("{e}"))
        }
    }
}

/// Use `endpoints` as the engines of the swarm's other nodes, each checked now (it answers,
/// and is a node of the swarm this machine's engine manages): a bad one is refused at start.
pub async fn use_node_engines(endpoints: &[String]) -> Result<(), Exit> {
    if endpoints.is_empty() {
        return Ok(());
    }
    bulkhead_labs::swarm::nodes::use_engines(endpoints);
    let checked = async {
        let manager = bulkhead_labs::docker::connect().await?;
        bulkhead_labs::swarm::nodes::connect_all(&manager).await
    };
    match checked.await {
        Ok(engines) => {
            for engine in engines {
                eprintln!(
                    "swarm node {} ({}): its engine answers at {}",
                    engine.node.hostname, engine.node.id, engine.endpoint
                );
            }
            Ok(())
        }
        Err(e) => {
            eprintln!("error: {e}");
            Err(Exit(EXIT_BAD_INPUT))
        }
    }
}

/// The swarm's nodes and their load, read through this machine's engine (a manager), for the
/// facilitator's console. An error reads as no nodes: the console says nothing rather than
/// something stale.
pub fn swarm_nodes() -> bulkhead_server::NodeSource {
    // One connection for every read, made at the first.
    let docker = Arc::new(tokio::sync::OnceCell::new());
    bulkhead_server::NodeSource(Arc::new(move || {
        let docker = docker.clone();
        Box::pin(async move {
            let connected = docker.get_or_try_init(bulkhead_labs::docker::connect).await;
            let Ok(docker) = connected else {
                return Vec::new();
            };
            bulkhead_labs::swarm::node_loads(docker)
                .await
                .unwrap_or_default()
        })
    }))
}
