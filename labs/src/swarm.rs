//! Docker Swarm as the place labs run: Swarm runs each lab's services on a node, holds the node
//! to the capacity they reserve and drains it, and everything else is the Docker lab's, done on
//! that node's engine (telemetry, mitigations, fixes, teardown): this machine's, or another
//! node's given with `--node` (`nodes`). This file admits nodes (the lab image is there, the
//! daemon enforces no-new-privileges, then a node label lets Swarm place labs on it) and reads
//! their load; `place` picks a lab's node and brings the lab up as Swarm services.
//!
//! Why a lab stays on one node, on per-node bridges rather than overlay networks: a
//! Swarm-scoped `bridge` network whose subnet and interface name come from a config-only
//! network on the node gives the node's host the same path as a plain Docker lab, the host
//! firewall rule on `bh-+` interfaces covers it on every node, and the lab's own traffic never
//! crosses machines (no VXLAN, latency as on one host; overlay networks with published ports
//! have leaked before). The driver reaches labd on this machine's node at the lab addresses,
//! and on another node through that node's Docker API (`tunnel`): a host cannot reach another
//! machine's bridges, nor an overlay network's addresses (checked here: its packets take the
//! default route).

pub mod nodes;
pub mod place;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig, LocalNodeState, NodeSpec, TaskState};
use bollard::query_parameters::{
    ListServicesOptionsBuilder, ListTasksOptionsBuilder, LogsOptionsBuilder,
    UpdateNodeOptionsBuilder, WaitContainerOptionsBuilder,
};
use bulkhead_engine::NodeLoad;
use futures_util::StreamExt;

use crate::error::LabError;
use crate::image::LAB_USER;
use crate::labels;

/// Prefix of the node labels that admit a node for labs: one label per lab image tag the node
/// holds, checked safe (`image_label`). Services are constrained to their image's, so a node
/// without the current image never gets a lab, and servers of different versions sharing a
/// swarm each keep their own label instead of taking the node from the other in turn.
pub const IMAGE_LABEL: &str = "bulkhead.lab-image";

/// What an admitted node's image label holds.
const ADMITTED_VALUE: &str = "admitted";

/// The node label that admits a node for labs of image tag `tag`.
pub fn image_label(tag: &str) -> String {
    format!("{IMAGE_LABEL}.{tag}")
}

/// The placement constraint of every service of a lab of image tag `tag`.
pub fn image_constraint(tag: &str) -> String {
    format!("node.labels.{}=={ADMITTED_VALUE}", image_label(tag))
}

pub use crate::spec::SwarmNode;

/// The node this process's engine is, admitted for `image` (its reference,
/// `bulkhead/labd:<tag>`): a Swarm manager holding the image, whose daemon sets
/// no-new-privileges on containers that do not ask for it. Checked once per process and image.
pub async fn admit_local_node(docker: &Docker, image: &str) -> Result<SwarmNode, LabError> {
    let mut admitted = ADMITTED.lock().await;
    if let Some((for_image, node)) = admitted.as_ref()
        && for_image == image
    {
        return Ok(node.clone());
    }
    let node = local_manager(docker).await?;
    enforces_no_new_privileges(docker, image, &node).await?;
    label_node(docker, docker, &node.id, image_tag(image)).await?;
    *admitted = Some((image.to_owned(), node.clone()));
    Ok(node)
}

/// The image this process admitted a node for, and the node.
static ADMITTED: tokio::sync::Mutex<Option<(String, SwarmNode)>> =
    tokio::sync::Mutex::const_new(None);

/// The tag of a lab image reference: what the node label holds.
pub fn image_tag(image: &str) -> &str {
    image.rsplit_once(':').map_or(image, |(_, tag)| tag)
}

/// This engine's node, when it is an active Swarm manager.
pub(crate) async fn local_manager(docker: &Docker) -> Result<SwarmNode, LabError> {
    let info =
        (docker.info().await).map_err(|e| LabError::docker("read", "the engine's info", e))?;
    let swarm = info.swarm.unwrap_or_default();
    let active = swarm.local_node_state == Some(LocalNodeState::ACTIVE);
    let (true, Some(true), Some(id)) = (active, swarm.control_available, swarm.node_id) else {
        return Err(LabError::NotASwarmManager {
            detail: format!(
                "this engine's Swarm state is {}",
                swarm
                    .local_node_state
                    .map_or_else(|| "unknown".into(), |s| s.to_string())
            ),
        });
    };
    Ok(SwarmNode {
        id,
        hostname: info.name.unwrap_or_default(),
    })
}

/// Run `labd probe` from the lab image the way a Swarm task runs (no per-container
/// no-new-privileges, which API 1.41 services cannot ask for) and refuse the node unless the
/// daemon set it anyway. The probe container has no network and is removed at once.
pub(crate) async fn enforces_no_new_privileges(
    docker: &Docker,
    image: &str,
    node: &SwarmNode,
) -> Result<(), LabError> {
    let name = format!("bh-nodecheck-{}", std::process::id());
    let mut probe_labels = labels::session_labels(&name, "node-check", Duration::from_secs(600));
    probe_labels.insert(labels::SERVICE.into(), "node-check".into());
    let body = ContainerCreateBody {
        image: Some(image.to_owned()),
        cmd: Some(vec!["probe".into()]),
        user: Some(LAB_USER.into()),
        labels: Some(probe_labels),
        host_config: Some(HostConfig {
            network_mode: Some("none".into()),
            cap_drop: Some(vec!["ALL".into()]),
            readonly_rootfs: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    };
    let _ = crate::lab_down::remove_container(docker, &name, &name).await;
    let id = crate::lab_up::create(docker, &name, body).await?;
    let output = run_to_end(docker, &id, &name).await;
    let _ = crate::lab_down::remove_container(docker, &id, &name).await;
    let output = output?;
    if output.contains("no_new_privs=1") {
        return Ok(());
    }
    Err(LabError::NodeUnsafe {
        node: node.hostname.clone(),
        detail: format!(
            "a container that does not ask for no-new-privileges may gain privileges there \
             (labd probe said `{}`)",
            output.trim()
        ),
    })
}

/// Start a created container, wait for it to exit, and return what it printed.
async fn run_to_end(docker: &Docker, id: &str, name: &str) -> Result<String, LabError> {
    (docker.start_container(id, None).await)
        .map_err(|e| LabError::docker("start container", name, e))?;
    let mut waited =
        docker.wait_container(id, Some(WaitContainerOptionsBuilder::default().build()));
    while let Some(step) = waited.next().await {
        // A non-zero exit comes as an error of the wait stream; its output still tells.
        if step.is_err() {
            break;
        }
    }
    let options = LogsOptionsBuilder::default()
        .stdout(true)
        .stderr(true)
        .build();
    let mut logs = docker.logs(id, Some(options));
    let mut text = String::new();
    while let Some(Ok(chunk)) = logs.next().await {
        text.push_str(&chunk.to_string());
    }
    Ok(text)
}

/// Admit another node of the swarm (its engine `engine`) for labs of `image`, as the local
/// one is: leftovers of earlier runs on it reaped, the lab image loaded there (no registry),
/// no-new-privileges checked on its daemon, then labelled through the manager.
pub(crate) async fn admit_node(
    manager: &Docker,
    engine: &Docker,
    node: &SwarmNode,
    image: &str,
) -> Result<(), LabError> {
    crate::reaper::reap_what_can_go(engine, |line| {
        tracing::info!(node = %node.hostname, "{line}");
    })
    .await;
    let loaded = crate::image::ensure_image(engine, |line| {
        tracing::info!(node = %node.hostname, "{line}");
    })
    .await?;
    if loaded.reference != image {
        return Err(LabError::NodeArchitecture {
            node: node.hostname.clone(),
            image: loaded.reference,
            wanted: image.to_owned(),
        });
    }
    enforces_no_new_privileges(engine, image, node).await?;
    label_node(manager, engine, &node.id, image_tag(image)).await
}

/// Set the node label that admits a node (whose engine `engine` is) for labs of image tag
/// `tag`, through the manager `docker`, and drop those of tags whose image it no longer holds:
/// Swarm would send their labs to a node that cannot start them. Nothing is written when the
/// labels are already so.
async fn label_node(
    docker: &Docker,
    engine: &Docker,
    node_id: &str,
    tag: &str,
) -> Result<(), LabError> {
    let held = held_tags(engine).await?;
    let node = (docker.inspect_node(node_id).await)
        .map_err(|e| LabError::docker("inspect node", node_id, e))?;
    let mut spec: NodeSpec = node.spec.unwrap_or_default();
    let now = spec.labels.take().unwrap_or_default();
    let admitted = admission_labels(&now, tag, |t| held.contains(t));
    if admitted == now {
        return Ok(());
    }
    spec.labels = Some(admitted);
    let version = node.version.and_then(|v| v.index).unwrap_or_default();
    let options = UpdateNodeOptionsBuilder::default()
        .version(i64::try_from(version).unwrap_or(i64::MAX))
        .build();
    (docker.update_node(node_id, spec, options).await)
        .map_err(|e| LabError::docker("label node", node_id, e))
}

/// The tags of the lab images this engine holds.
async fn held_tags(docker: &Docker) -> Result<HashSet<String>, LabError> {
    let images = (docker
        .list_images(None::<bollard::query_parameters::ListImagesOptions>)
        .await)
        .map_err(|e| LabError::docker("list images", crate::image::REPOSITORY, e))?;
    let prefix = format!("{}:", crate::image::REPOSITORY);
    Ok((images.into_iter())
        .flat_map(|image| image.repo_tags)
        .filter_map(|t| t.strip_prefix(&prefix).map(str::to_owned))
        .collect())
}

/// A node's labels once it is admitted for labs of image tag `tag`: that tag's label set, the
/// labels of tags whose image it no longer holds (`held` says) dropped, with the one-tag label
/// of versions before per-tag labels; every other label kept.
fn admission_labels(
    labels: &HashMap<String, String>,
    tag: &str,
    held: impl Fn(&str) -> bool,
) -> HashMap<String, String> {
    let prefix = format!("{IMAGE_LABEL}.");
    let mut admitted: HashMap<String, String> = (labels.iter())
        .filter(|(key, _)| key.as_str() != IMAGE_LABEL)
        .filter(|(key, _)| key.strip_prefix(&prefix).is_none_or(&held))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    admitted.insert(image_label(tag), ADMITTED_VALUE.into());
    admitted
}

/// Every node of the swarm with the labs' reservations on it, from the manager `docker`; a node
/// takes labs when it is ready, active, and admitted for the image this process admitted one
/// for (none before its first lab).
pub async fn node_loads(docker: &Docker) -> Result<Vec<NodeLoad>, LabError> {
    let loads = loads_by_id(docker).await?;
    Ok(loads.into_iter().map(|(_, load)| load).collect())
}

/// `node_loads`, each with its node's id.
pub(crate) async fn loads_by_id(docker: &Docker) -> Result<Vec<(String, NodeLoad)>, LabError> {
    let image = (ADMITTED.lock().await.as_ref()).map(|(image, _)| image.clone());
    let tag = image.as_deref().map(image_tag);
    let nodes = (docker.list_nodes(None).await)
        .map_err(|e| LabError::docker("list nodes", "of the swarm", e))?;
    let reserved = lab_reservations(docker).await?;
    let running = HashMap::from([
        ("desired-state", vec!["running".to_owned()]),
        ("label", vec![labels::SESSION.to_owned()]),
    ]);
    let tasks = (docker.list_tasks(Some(
        ListTasksOptionsBuilder::default().filters(&running).build(),
    )))
    .await
    .map_err(|e| LabError::docker("list tasks", "of the swarm", e))?;
    let running_on = |node: &str| -> Vec<&str> {
        (tasks.iter())
            .filter(|t| t.node_id.as_deref() == Some(node))
            .filter(|t| (t.status.as_ref()).and_then(|s| s.state) == Some(TaskState::RUNNING))
            .filter_map(|t| t.service_id.as_deref())
            .filter(|service| reserved.contains_key(*service))
            .collect()
    };
    Ok(nodes
        .into_iter()
        .map(|node| {
            let id = node.id.clone().unwrap_or_default();
            let services = running_on(&id);
            (id, node_load(node, &services, &reserved, tag))
        })
        .collect())
}

/// Lab service id → the (CPU in billionths of a core, memory in bytes) it reserves; every lab
/// service is listed, most with nothing reserved (the lab's first holds the lab's share).
async fn lab_reservations(docker: &Docker) -> Result<HashMap<String, (i64, i64)>, LabError> {
    let filters = HashMap::from([("label", vec![labels::SESSION.to_owned()])]);
    let options = ListServicesOptionsBuilder::default()
        .filters(&filters)
        .build();
    let services = (docker.list_services(Some(options)).await)
        .map_err(|e| LabError::docker("list services", "labelled bulkhead.session", e))?;
    Ok(services
        .into_iter()
        .filter_map(|s| {
            let template = s.spec.and_then(|spec| spec.task_template);
            let reserved = (template.and_then(|t| t.resources)).and_then(|r| r.reservations);
            let (cpu, memory) = reserved.map_or((0, 0), |r| {
                (r.nano_cpus.unwrap_or(0), r.memory_bytes.unwrap_or(0))
            });
            Some((s.id?, (cpu, memory)))
        })
        .collect())
}

/// One node's load: its lab `services` running there and what they reserve, against what it has.
fn node_load(
    node: bollard::models::Node,
    services: &[&str],
    reserved: &HashMap<String, (i64, i64)>,
    tag: Option<&str>,
) -> NodeLoad {
    let (cpu, memory) = (services.iter())
        .filter_map(|s| reserved.get(*s))
        .fold((0, 0), |(c, m), (dc, dm)| (c + dc, m + dm));
    let resources = (node.description.as_ref()).and_then(|d| d.resources.clone());
    let spec = node.spec.unwrap_or_default();
    let state = (node.status.as_ref())
        .and_then(|s| s.state)
        .map_or_else(|| "unknown".into(), |s| s.to_string());
    let active = spec.availability.is_none_or(|a| a.to_string() == "active");
    let labelled = (spec.labels.as_ref())
        .zip(tag)
        .is_some_and(|(labels, tag)| {
            labels.get(&image_label(tag)).map(String::as_str) == Some(ADMITTED_VALUE)
        });
    let mib = |bytes: i64| u64::try_from(bytes / (1024 * 1024)).unwrap_or(0);
    NodeLoad {
        hostname: (node.description.and_then(|d| d.hostname))
            .unwrap_or_else(|| node.id.unwrap_or_default()),
        admitted: labelled && active && state == "ready",
        state,
        services: services.len(),
        cpus_reserved: cpu as f64 / 1e9,
        cpus: resources.as_ref().and_then(|r| r.nano_cpus).unwrap_or(0) as f64 / 1e9,
        memory_reserved_mib: mib(memory),
        memory_mib: mib(resources.and_then(|r| r.memory_bytes).unwrap_or(0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_node_label_holds_the_image_tag() {
        assert_eq!(image_tag("bulkhead/labd:0123456789ab"), "0123456789ab");
        assert_eq!(image_tag("labd"), "labd");
        assert_eq!(
            image_constraint("0123456789ab"),
            "node.labels.bulkhead.lab-image.0123456789ab==admitted"
        );
    }

    #[test]
    fn admission_sets_its_tag_and_drops_the_labels_of_images_gone_from_the_node() {
        let labels: HashMap<String, String> = [
            ("zone", "rack-2"),
            (IMAGE_LABEL, "000000000000"),
            ("bulkhead.lab-image.aaaaaaaaaaaa", ADMITTED_VALUE),
            ("bulkhead.lab-image.bbbbbbbbbbbb", ADMITTED_VALUE),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let held = |tag: &str| tag != "bbbbbbbbbbbb";
        let admitted = admission_labels(&labels, "cccccccccccc", held);
        let mut keys: Vec<&str> = admitted.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "bulkhead.lab-image.aaaaaaaaaaaa",
                "bulkhead.lab-image.cccccccccccc",
                "zone"
            ],
            "another server's label kept, a pruned image's and the old one-tag label dropped"
        );
        assert_eq!(admitted["zone"], "rack-2");
        // Already so: nothing to write.
        assert_eq!(admission_labels(&admitted, "cccccccccccc", held), admitted);
    }

    /// A node admitted by two servers of different versions: each one's labs may go there.
    #[test]
    fn a_node_admitted_for_two_images_takes_labs_of_either() {
        let node = |labels: &[&str]| bollard::models::Node {
            spec: Some(NodeSpec {
                labels: Some(
                    (labels.iter())
                        .map(|tag| (image_label(tag), ADMITTED_VALUE.to_owned()))
                        .collect(),
                ),
                ..Default::default()
            }),
            status: Some(bollard::models::NodeStatus {
                state: Some(bollard::models::NodeState::READY),
                ..Default::default()
            }),
            ..Default::default()
        };
        let reserved = HashMap::new();
        let both = || node(&["aaaaaaaaaaaa", "bbbbbbbbbbbb"]);
        assert!(node_load(both(), &[], &reserved, Some("aaaaaaaaaaaa")).admitted);
        assert!(node_load(both(), &[], &reserved, Some("bbbbbbbbbbbb")).admitted);
        let other = node(&["aaaaaaaaaaaa"]);
        assert!(!node_load(other, &[], &reserved, Some("cccccccccccc")).admitted);
        assert!(!node_load(both(), &[], &reserved, None).admitted);
    }
}
