//! What the Docker tests of the labs crate share: whether Docker answers, the Docker CLI as a
//! test reads the host with it, a gateway's blocks asked of its control API, and a `Probe`
//! that drives a lab effect by effect. Each test file uses part of it.
#![allow(dead_code)]

use std::process::Command;

use bulkhead_engine::{Action, Effect, EffectKind, Lab, LabOutput, Origin, Outcome};

/// Whether Docker answers here: `false` skips the test visibly, and a test required to run
/// (`BULKHEAD_REQUIRE_DOCKER=1`) fails instead.
pub fn docker_here(test: &str) -> bool {
    show_lab_warnings_of_failed_tests();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(bulkhead_labs::docker::docker_or_skip(test))
        .is_some()
}

/// The lab's warnings (a container it could not restore, a daemon that stopped answering) in
/// each test's captured output: the harness prints it only when that test fails, where it says
/// what the lab saw. `RUST_LOG` chooses more.
fn show_lab_warnings_of_failed_tests() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // Once per test binary; a later call finds it set.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

/// Whether this Docker engine is a Swarm manager: `false` skips the test visibly, and a test
/// required to run (`BULKHEAD_REQUIRE_SWARM=1`) fails instead.
pub fn swarm_here(test: &str) -> bool {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(bulkhead_labs::docker::swarm_or_skip(test))
        .is_some()
}

/// Drives a real lab directly, effect by effect, as a session would, keeping every output.
pub struct Probe {
    pub lab: Box<dyn Lab>,
    /// Session time so far.
    pub now: u64,
    /// The last effect id given.
    pub next: u64,
    pub outputs: Vec<LabOutput>,
}

impl Probe {
    pub fn new(lab: Box<dyn Lab>) -> Probe {
        Probe {
            lab,
            now: 0,
            next: 0,
            outputs: Vec::new(),
        }
    }

    /// Ask the lab to carry out an effect now; its id.
    pub fn apply(&mut self, origin: Origin, kind: EffectKind) -> u64 {
        self.next += 1;
        let effect = Effect {
            id: self.next,
            origin,
            kind,
        };
        self.lab.apply(self.now, &effect);
        self.next
    }

    /// Advance session time by `ms`, taking in what the lab yields, `step_ms` at a time.
    pub fn run_for(&mut self, ms: u64, step_ms: u64) {
        let until = self.now + ms;
        while self.now < until {
            self.now += step_ms;
            self.lab.advance(self.now, &mut self.outputs);
        }
    }

    /// Run session time on until the lab reports an outcome of `effect`, `ms` at most.
    pub fn wait_for_outcome(&mut self, effect: u64, ms: u64) {
        let until = self.now + ms;
        while self.now < until && self.outcome_of(effect).is_none() {
            self.run_for(100, 100);
        }
    }

    /// Whether `effect` succeeded, once the lab reported it.
    pub fn outcome(&self, effect: u64) -> Option<bool> {
        self.outcome_of(effect).map(|o| o.ok)
    }

    /// The latest outcome of `effect`, once the lab reported one.
    pub fn outcome_of(&self, effect: u64) -> Option<&Outcome> {
        self.outputs.iter().rev().find_map(|o| match o {
            LabOutput::Outcome(o) if o.effect == effect => Some(o),
            _ => None,
        })
    }
}

/// `docker ARGS`, which must succeed; its output, trimmed.
pub fn docker_out(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().unwrap();
    assert!(out.status.success(), "docker {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `docker inspect -f FORMAT CONTAINER`.
pub fn inspect(container: &str, format: &str) -> String {
    docker_out(&["inspect", "-f", format, container])
}

/// What the gateway in container `id` blocks, asked of its control API at its address now (a
/// restored container may have a new one).
pub fn gateway_blocks(id: &str) -> Vec<String> {
    let ips = inspect(
        id,
        "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
    );
    let ip = ips
        .split_whitespace()
        .next()
        .expect("the gateway has an address");
    let url = format!("http://{ip}:{}/blocks", bulkhead_labs::spec::CONTROL_PORT);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async { reqwest::get(&url).await.unwrap().json().await.unwrap() })
}

/// Containers, networks, images and Swarm services of a session still on the host, found by
/// its label (no services where the engine is not a Swarm manager).
pub fn leftovers(session: &str) -> usize {
    let label = format!("label={}={session}", bulkhead_labs::labels::SESSION);
    let count = |what: &[&str]| {
        let mut args = what.to_vec();
        args.extend(["--filter", &label, "-q"]);
        docker_out(&args).lines().count()
    };
    // `docker service ls` fails where the engine manages no swarm: then there are none.
    let services = Command::new("docker")
        .args(["service", "ls", "--filter", &label, "-q"])
        .output()
        .map_or(0, |out| {
            String::from_utf8_lossy(&out.stdout).lines().count()
        });
    count(&["ps", "-a"]) + count(&["network", "ls"]) + count(&["image", "ls"]) + services
}

/// The attacker's step the mitigation tests try again after each mitigation: alice's stolen
/// credential reading 20 orders from 198.51.100.23.
pub fn read_orders() -> Action {
    Action::ReadData {
        identity: "alice".into(),
        source: "198.51.100.23".into(),
        dataset: "orders".into(),
        records: 20,
        via: None,
    }
}
