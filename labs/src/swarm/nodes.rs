//! The engines of the swarm's other nodes (`--node`): what the server needs of a node beyond
//! what Swarm does (its lab image, its safety check, the lab's containers, telemetry and
//! mitigations), each reached through that node's own Docker API: a local socket, one an SSH
//! tunnel forwards (`ssh -L`), or TCP. The manager's engine is the server's own and is not
//! listed here.

use std::collections::HashMap;
use std::sync::Mutex;

use bollard::Docker;
use bollard::models::LocalNodeState;

use super::SwarmNode;
use crate::error::LabError;

/// A node's engine, known by its Swarm node id.
#[derive(Debug, Clone)]
pub struct NodeEngine {
    pub node: SwarmNode,
    pub endpoint: String,
    pub docker: Docker,
}

/// The endpoints this process was given.
static ENDPOINTS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Node id → its engine, and where its admission stands.
type Known = HashMap<String, (NodeEngine, Admission)>;

/// Where a node's admission for labs stands.
#[derive(Debug, Clone, PartialEq)]
enum Admission {
    /// Connected, not yet asked.
    Pending,
    /// Admitted for labs of this image.
    For(String),
    /// Refused for this image, at this moment: asked again after `RETRY_REFUSED`, not at
    /// every lab (an admission loads an image and runs a probe container).
    Refused(String, std::time::Instant),
}

/// How long a refused node waits before it is asked again.
const RETRY_REFUSED: std::time::Duration = std::time::Duration::from_secs(60);

/// The engines connected so far.
static ENGINES: tokio::sync::Mutex<Option<Known>> = tokio::sync::Mutex::const_new(None);

/// Use these engines (`unix:///path`, `tcp://host:port`, `http://host:port`) for the swarm's
/// other nodes, from now on. Connected at the next lab (or `connect_all`).
pub fn use_engines(endpoints: &[String]) {
    if let Ok(mut listed) = ENDPOINTS.lock() {
        *listed = endpoints.to_vec();
    }
}

/// Connect every endpoint given, each a node of the swarm `manager` manages: the engines, or
/// the first that is not (what, where, what to do).
pub async fn connect_all(manager: &Docker) -> Result<Vec<NodeEngine>, LabError> {
    let endpoints = ENDPOINTS.lock().map(|e| e.clone()).unwrap_or_default();
    // Asked before every swarm lab: with no other node, no question for the manager either.
    if endpoints.is_empty() {
        return Ok(Vec::new());
    }
    let cluster = cluster_id(manager, "this machine's engine").await?;
    let mut engines = ENGINES.lock().await;
    let known = engines.get_or_insert_with(HashMap::new);
    let mut connected = Vec::new();
    for endpoint in endpoints {
        if let Some((engine, _)) = known.values().find(|(e, _)| e.endpoint == endpoint) {
            connected.push(engine.clone());
            continue;
        }
        let engine = connect(&endpoint, &cluster).await?;
        // A worker's engine does not know its swarm's id: the manager must know the node.
        if manager.inspect_node(&engine.node.id).await.is_err() {
            return Err(LabError::NodeEngine {
                endpoint,
                detail: format!("node {} is not a node of this swarm", engine.node.id),
            });
        }
        known.insert(engine.node.id.clone(), (engine.clone(), Admission::Pending));
        connected.push(engine);
    }
    Ok(connected)
}

/// The engine of node `node_id`, when it is one of the other nodes given.
pub async fn engine_of(node_id: &str) -> Option<Docker> {
    let engines = ENGINES.lock().await;
    let (engine, _) = engines.as_ref()?.get(node_id)?;
    Some(engine.docker.clone())
}

/// The engine of node `node_id` when this process admitted it for labs of `image`: a node it
/// refused takes none of its labs, whatever labels it still carries.
pub async fn admitted_engine(node_id: &str, image: &str) -> Option<Docker> {
    let engines = ENGINES.lock().await;
    match engines.as_ref()?.get(node_id)? {
        (engine, Admission::For(admitted)) if admitted == image => Some(engine.docker.clone()),
        _ => None,
    }
}

/// Admit every other node given for labs of `image` (see `admit_node`), once per node and
/// image. A node that cannot be admitted is left out with a warning, and unlabelled, so Swarm
/// sends it no lab: one bad node does not stop a workshop.
pub async fn admit_all(manager: &Docker, image: &str) -> Result<(), LabError> {
    let engines = connect_all(manager).await?;
    for engine in engines {
        let now = (ENGINES.lock().await.as_ref())
            .and_then(|known| known.get(&engine.node.id).map(|(_, a)| a.clone()));
        let settled = match &now {
            Some(Admission::For(admitted)) => admitted == image,
            Some(Admission::Refused(refused, at)) => {
                refused == image && at.elapsed() < RETRY_REFUSED
            }
            _ => false,
        };
        if settled {
            continue;
        }
        let admission = match super::admit_node(manager, &engine.docker, &engine.node, image).await
        {
            Ok(()) => Admission::For(image.to_owned()),
            Err(e) => {
                tracing::warn!(
                    node = %engine.node.hostname,
                    endpoint = %engine.endpoint,
                    "the node takes no labs: {e}"
                );
                Admission::Refused(image.to_owned(), std::time::Instant::now())
            }
        };
        if let Some(known) = ENGINES.lock().await.as_mut()
            && let Some(entry) = known.get_mut(&engine.node.id)
        {
            entry.1 = admission;
        }
    }
    Ok(())
}

/// Connect `endpoint` and check it is an active node of the swarm `cluster`.
async fn connect(endpoint: &str, cluster: &str) -> Result<NodeEngine, LabError> {
    let refused = |detail: String| LabError::NodeEngine {
        endpoint: endpoint.to_owned(),
        detail,
    };
    let docker = if let Some(path) = endpoint.strip_prefix("unix://") {
        Docker::connect_with_socket(path, 30, bollard::API_DEFAULT_VERSION)
    } else if endpoint.starts_with("tcp://") || endpoint.starts_with("http://") {
        Docker::connect_with_http(endpoint, 30, bollard::API_DEFAULT_VERSION)
    } else {
        return Err(refused(
            "not an engine address: give unix:///path/to/docker.sock (an SSH-forwarded \
             socket too) or tcp://host:port"
                .into(),
        ));
    };
    let docker = docker.map_err(|e| refused(e.to_string()))?;
    let info = match tokio::time::timeout(crate::docker::PING_TIMEOUT, docker.info()).await {
        Ok(Ok(info)) => info,
        Ok(Err(e)) => return Err(refused(e.to_string())),
        Err(_) => return Err(refused("no answer within 3 s".into())),
    };
    let swarm = info.swarm.unwrap_or_default();
    let (Some(LocalNodeState::ACTIVE), Some(node_id)) = (swarm.local_node_state, swarm.node_id)
    else {
        return Err(refused(
            "its engine is in no swarm: join it to this one (`docker swarm join-token worker` \
             on this machine prints the command)"
                .into(),
        ));
    };
    let theirs = swarm.cluster.and_then(|c| c.id);
    if theirs.as_deref().is_some_and(|id| id != cluster) {
        return Err(refused("it is a node of another swarm".into()));
    }
    Ok(NodeEngine {
        node: SwarmNode {
            id: node_id,
            hostname: info.name.unwrap_or_default(),
        },
        endpoint: endpoint.to_owned(),
        docker,
    })
}

/// The id of the swarm the manager `docker` manages.
async fn cluster_id(docker: &Docker, what: &str) -> Result<String, LabError> {
    let info = (docker.info().await).map_err(|e| LabError::docker("read", what, e))?;
    (info.swarm.and_then(|s| s.cluster).and_then(|c| c.id)).ok_or_else(|| {
        LabError::NotASwarmManager {
            detail: "this engine manages no swarm".into(),
        }
    })
}

/// How the driver reaches labd in session `session`'s lab on `node`: straight to the lab
/// addresses on this machine's node, through pipe execs on the node's engine elsewhere.
pub async fn labd_for(node: &SwarmNode, session: &str) -> crate::drive::Labd {
    match engine_of(&node.id).await {
        Some(engine) => crate::drive::Labd::through(engine, session),
        None => crate::drive::Labd::new(),
    }
}
