//! What a running lab is made of: the handles the lifecycle verbs create and the driver uses.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Duration;

/// How to bring a lab up.
#[derive(Debug, Clone)]
pub struct LabOptions {
    /// How long the lab may live before the reaper removes it (a safety net: a normal session
    /// removes its own objects at the end).
    pub ttl: Duration,
    /// Session time runs this many times faster than wall time (1 = real time).
    pub time_scale: f64,
    /// How long the Docker daemon may stay unreachable (wall time) while the session holds its
    /// clock, before the session ends with a partial score.
    pub unreachable_limit: Duration,
    /// Where the lab's containers run: `DockerLab::start` brings it up with `lab_up::lab_up`
    /// (this host) or `swarm::place::lab_up` (a swarm).
    pub placement: Placement,
}

/// Where a lab's containers run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Placement {
    /// Containers on the engine this process talks to.
    #[default]
    Host,
    /// Swarm services, on the admitted node with the most memory free, this machine's or
    /// another given with `--node` (`crate::swarm`).
    Swarm,
}

impl Default for LabOptions {
    fn default() -> Self {
        LabOptions {
            ttl: Duration::from_secs(2 * 3600),
            time_scale: 1.0,
            unreachable_limit: Duration::from_secs(60),
            placement: Placement::Host,
        }
    }
}

/// Credentials generated for one run; handed to containers at start, never baked into images.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// Identity id → password.
    pub passwords: BTreeMap<String, String>,
    /// Bearer token of web's admin API.
    pub admin_token: String,
    /// (Web tier, identity) → the vendor's factory password the account has there instead of
    /// its generated one (a `DefaultPassword` weakness), until a fix rotates it.
    pub factory: BTreeMap<(String, String), String>,
}

impl Credentials {
    /// The password `identity` logs in with at the web tier `web` while nothing rotated it.
    pub fn password_at(&self, web: &str, identity: &str) -> Option<&String> {
        (self.factory.get(&(web.to_owned(), identity.to_owned())))
            .or_else(|| self.passwords.get(identity))
    }
}

/// One lab container.
#[derive(Debug, Clone)]
pub struct ContainerInfo {
    pub id: String,
    pub name: String,
    /// The topology service it runs.
    pub service: String,
    /// Zone id → address on that zone's network. The host reaches containers through these
    /// addresses even on internal networks (checked on Docker 20.10).
    pub addresses: BTreeMap<String, Ipv4Addr>,
}

impl ContainerInfo {
    /// An address the host can reach the container on.
    pub fn address(&self) -> Option<Ipv4Addr> {
        self.addresses.values().next().copied()
    }
}

/// A lab that is up: everything its session created.
#[derive(Debug, Clone)]
pub struct RunningLab {
    /// Unique id of the session; the value of every object's `bulkhead.session` label.
    pub session: String,
    pub topology: String,
    /// Zone id → network id.
    pub networks: BTreeMap<String, String>,
    /// Service id → container.
    pub containers: BTreeMap<String, ContainerInfo>,
    pub credentials: Credentials,
    /// Service → the files its image's layer on the lab image added (none: the lab image).
    pub baked: BTreeMap<String, Vec<crate::layers::BakedFile>>,
    /// Wall time from the call to lab_up until every container was started.
    pub up_in: Duration,
    /// Wall time from the call to lab_up until every container answered its health check.
    pub ready_in: Duration,
    /// The Swarm node it runs on (`None`: a plain Docker host).
    pub node: Option<SwarmNode>,
}

/// A Swarm node labs are placed on.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SwarmNode {
    pub id: String,
    pub hostname: String,
}

/// The config-only network that gives a zone's Swarm network its subnet, interface name and
/// labels on a node. The daemon refuses labels on a network made from a config network, so the
/// labels live there and teardown finds the Swarm network by its config (`swarm_network_of`).
pub fn config_network_name(network: &str) -> String {
    format!("{network}{CONFIG_SUFFIX}")
}

const CONFIG_SUFFIX: &str = ".cfg";

/// The Swarm network made from config network `config`, if it is one of ours.
pub fn swarm_network_of(config: &str) -> Option<&str> {
    config.strip_suffix(CONFIG_SUFFIX)
}

/// Port of each role's service API inside a container.
pub const SERVICE_PORT: u16 = 8080;
/// Port of the control API (health, jobs, blocks, actions).
pub const CONTROL_PORT: u16 = 7070;
/// How often labd reads its container's resource use (`LABD_METRICS_MS`): four times a
/// second, so a hog is seen within a second of starting (Docker's stats come once a second,
/// late under load). It writes a reading only when it moved, else once a second.
pub const METRICS_PERIOD_MS: u64 = 250;
