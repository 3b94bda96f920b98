//! Choosing and starting a lab backend: Docker where a daemon answers, else the embedded
//! simulated lab.

use std::sync::Arc;

use bulkhead_engine::{Lab, Loaded, SimLab};
use bulkhead_labs::LabOptions;
use bulkhead_labs::docker_lab::DockerLab;
use clap::ValueEnum;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendChoice {
    /// Real containers on the local Docker engine.
    Docker,
    /// The embedded simulated lab: deterministic, no Docker needed.
    Sim,
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
        BackendChoice::Docker => {
            let options = LabOptions {
                time_scale,
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
