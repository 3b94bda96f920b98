//! `LabError`: the one error type of the crate. Every variant says what went wrong, on which
//! object, and (where the user can act) what to do about it.

use std::path::PathBuf;
use std::time::Duration;

/// Anything that can go wrong while building, starting, driving or removing a real lab.
///
/// Add variants freely (the enum is `non_exhaustive` so callers already match with a `_` arm).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LabError {
    /// No Docker daemon answered.
    #[error(
        "no Docker daemon answers at {endpoint}: {detail}\n  \
         what to do: start Docker (`sudo systemctl start docker`), or point DOCKER_HOST at a \
         running daemon, and check that this user may use it (member of group `docker`); \
         `bulkhead` can still run on the simulated lab without Docker"
    )]
    DockerUnreachable { endpoint: String, detail: String },

    /// A Docker API call failed on a named object.
    #[error("Docker could not {op} {object}: {source}")]
    Docker {
        /// What was being done: `create network`, `start container`, ...
        op: &'static str,
        /// Which object: a container, network or image name.
        object: String,
        #[source]
        source: bollard::errors::Error,
    },

    /// No subnet is left for one more lab network (each zone of a lab takes one /26 of
    /// 198.18.0.0/15, see `subnets.rs`), or the daemon has no address pool left.
    #[error(
        "no free subnet for network {network}: {detail}\n  \
         what to do: remove leftover labs (`bulkhead labs prune`) and unused networks \
         (`docker network prune`)"
    )]
    AddressPoolsExhausted { network: String, detail: String },

    /// The Bulkhead sources needed to build the lab image are not where they were expected.
    #[error(
        "the Bulkhead sources are not at {path}: {detail}\n  \
         what to do: set BULKHEAD_SOURCE_DIR to the root of a Bulkhead checkout"
    )]
    SourceMissing { path: PathBuf, detail: String },

    /// Building the lab image failed (the static `labd` build or the Docker build).
    #[error("building the lab image failed at {stage}: {detail}\n{tail}")]
    Build {
        /// `cargo build labd` or `docker build`.
        stage: &'static str,
        detail: String,
        /// The last lines of the tool's output, as they came.
        tail: String,
    },

    /// Lab containers did not become healthy in time.
    #[error(
        "lab {session}: not healthy after {waited:?}: {}\n  what to do: look at \
         `docker logs <container>`; on a loaded machine retry, the reaper removes what is left",
        pending.join(", ")
    )]
    HealthTimeout {
        session: String,
        waited: Duration,
        /// The containers still not healthy, with their last known state.
        pending: Vec<String>,
    },

    /// A lab container stopped while the lab was coming up.
    #[error("lab container {container} exited with code {exit_code} while starting:\n{logs}")]
    ContainerExited {
        container: String,
        exit_code: i64,
        /// The last lines of its output (labd names the variable it rejects).
        logs: String,
    },

    /// The topology or scenario cannot be turned into a lab.
    #[error("cannot build a lab from topology {topology}: {detail}")]
    InvalidLab { topology: String, detail: String },

    /// A lab container's labd did not answer what the range asked it (an audit's question).
    #[error(
        "{service} did not answer the audit: {detail}\n  what to do: if it is paused or \
         stopped, let it run again and audit once more"
    )]
    Unanswered { service: String, detail: String },

    /// Labs were asked to run on Docker Swarm, and this engine is not a manager of one.
    #[error(
        "cannot place labs on Docker Swarm: {detail}\n  what to do: make this engine a Swarm \
         manager (`docker swarm init --advertise-addr 127.0.0.1` for a one-node swarm; see the \
         README, \"Labs on Docker Swarm\"), or serve on one host with --backend docker"
    )]
    NotASwarmManager { detail: String },

    /// An engine given for one of the swarm's other nodes (`--node`) cannot serve as one.
    #[error(
        "cannot use the Swarm node engine {endpoint}: {detail}\n  what to do: give each other \
         node's Docker API as --node unix:///path (a socket, or one `ssh -nNT -L \
         /run/bulkhead/NODE.sock:/var/run/docker.sock NODE` forwards) or --node tcp://host:port \
         (see the README, \"Labs on Docker Swarm\")"
    )]
    NodeEngine { endpoint: String, detail: String },

    /// Another node's engine runs on another architecture than the manager's.
    #[error(
        "Swarm node {node} is refused for labs: its lab image would be {image}, not {wanted} \
         (another architecture)\n  what to do: run a swarm's labs on nodes of one \
         architecture; leave this node out of --node"
    )]
    NodeArchitecture {
        node: String,
        image: String,
        wanted: String,
    },

    /// A Swarm node would run lab containers that can gain privileges.
    #[error(
        "Swarm node {node} is refused for labs: {detail}\n  what to do: start its Docker \
         daemon with no-new-privileges (\"no-new-privileges\": true in \
         /etc/docker/daemon.json, then restart dockerd); Swarm services cannot ask for it"
    )]
    NodeUnsafe { node: String, detail: String },

    /// Swarm did not place (or start) a lab's services.
    #[error(
        "lab {session} was not placed on the swarm: {detail}\n  what to do: if no node has \
         room, end idle seats or add a node (`bulkhead doctor` lists the nodes); the reaper \
         removes what is left"
    )]
    NotPlaced { session: String, detail: String },

    /// The driver's own machinery failed (its runtime or thread could not start).
    #[error("the lab driver failed: {0}")]
    Runtime(String),

    /// A local I/O operation failed.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl LabError {
    /// Wrap a bollard error with the operation and object it concerned. Network create errors
    /// about address pools become [`LabError::AddressPoolsExhausted`].
    pub fn docker(
        op: &'static str,
        object: impl Into<String>,
        source: bollard::errors::Error,
    ) -> Self {
        let object = object.into();
        if let bollard::errors::Error::DockerResponseServerError { message, .. } = &source
            && message.contains("address pool")
        {
            return LabError::AddressPoolsExhausted {
                network: object,
                detail: message.clone(),
            };
        }
        LabError::Docker { op, object, source }
    }

    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        LabError::Io {
            what: what.into(),
            source,
        }
    }
}

/// True when a bollard error is the daemon's 404 (the object is already gone).
pub fn is_not_found(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}
