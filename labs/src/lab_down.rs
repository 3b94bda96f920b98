//! `lab_down`: remove everything a session created, found by its `bulkhead.session` label
//! (so objects made after `lab_up`, such as probes, go too). Swarm services first (on a swarm),
//! then containers (they hold network endpoints), then networks (a swarm lab's config-only
//! networks last: the Swarm networks are made from them), then the images built for it (a
//! service's image with a baked layer); each kind in parallel, images one at a time; idempotent.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::ImageSummary;
use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListImagesOptionsBuilder, ListNetworksOptionsBuilder,
    ListServicesOptionsBuilder, RemoveContainerOptionsBuilder, RemoveImageOptionsBuilder,
};
use futures_util::future::join_all;

use crate::error::{LabError, is_not_found};
use crate::labels;
use crate::spec::RunningLab;

/// What a teardown removed.
#[derive(Debug, Clone, Default)]
pub struct TeardownReport {
    pub session: String,
    /// Names of the Swarm services removed.
    pub services: Vec<String>,
    /// Names of the containers removed.
    pub containers: Vec<String>,
    /// Names of the networks removed.
    pub networks: Vec<String>,
    /// Tags of the images built for the lab that were removed.
    pub images: Vec<String>,
    pub took: Duration,
}

/// Remove a running lab: every container and network of its session.
pub async fn lab_down(docker: &Docker, lab: &RunningLab) -> Result<TeardownReport, LabError> {
    remove_session(docker, &lab.session).await
}

/// Remove every container (forced, with its anonymous volumes) and network labelled with
/// `session`. Objects already gone are not an error; the first other failure is returned
/// after every removal has been tried.
pub async fn remove_session(docker: &Docker, session: &str) -> Result<TeardownReport, LabError> {
    remove_session_on(docker, docker, session).await
}

/// `remove_session` for a lab on another Swarm node: its services and Swarm networks through
/// the manager `docker`, its containers, config-only networks and images on the node's engine
/// `node` (a worker can remove none of the swarm's objects).
pub async fn remove_session_on(
    docker: &Docker,
    node: &Docker,
    session: &str,
) -> Result<TeardownReport, LabError> {
    let started = Instant::now();
    let filter = HashMap::from([("label", vec![format!("{}={session}", labels::SESSION)])]);
    let mut first_error = None;
    let mut report = TeardownReport {
        session: session.to_owned(),
        ..Default::default()
    };
    // Removing a service stops its task; its container goes with the containers below.
    let services = list_session_services(docker, &filter).await?;
    let removed =
        join_all((services.iter()).map(|(id, name)| remove_service(docker, id, name))).await;
    for ((_, name), result) in services.into_iter().zip(removed) {
        match result {
            Ok(()) => report.services.push(name),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    let containers = list_session_containers(node, &filter).await?;
    let removed = join_all(
        containers
            .iter()
            .map(|(id, name)| remove_container(node, id, name)),
    )
    .await;
    for ((_, name), result) in containers.into_iter().zip(removed) {
        match result {
            Ok(()) => report.containers.push(name),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }

    tracing::debug!(%session, took = ?started.elapsed(), "containers removed");
    let (configs, plain): (Vec<_>, Vec<_>) = (list_session_networks(node, &filter).await?)
        .into_iter()
        .partition(|n| n.config_only);
    // A swarm lab's networks carry no labels (the daemon refuses them on a network made from a
    // config network): each is found by the name of its labelled config network, and by name
    // on the manager too (a lab on another node whose config networks went first, or whose
    // node left, still has them there). They go through the manager.
    let mut swarm_names: Vec<String> = (configs.iter())
        .filter_map(|config| crate::spec::swarm_network_of(&config.name).map(str::to_owned))
        .collect();
    for name in swarm_networks_named(docker, session).await? {
        if !swarm_names.contains(&name) {
            swarm_names.push(name);
        }
    }
    let swarm_networks = swarm_names.iter().map(|name| {
        let network = ListedNetwork {
            id: name.clone(),
            name: name.clone(),
            config_only: false,
        };
        (docker, network)
    });
    // A worker lists its copy of a Swarm network (labelled like its config), which only the
    // manager may remove.
    let first: Vec<_> = (plain.into_iter())
        .filter(|n| !swarm_names.contains(&n.name))
        .map(|n| (node, n))
        .chain(swarm_networks)
        .collect();
    let then = configs.into_iter().map(|n| (node, n)).collect();
    for networks in [first, then] {
        let removed = join_all((networks.iter()).map(|(engine, n)| async move {
            match remove_network(engine, &n.id, &n.name).await {
                // A worker removing what it found of a Swarm network (the reaper on a node):
                // the manager's teardown or reaper removes it.
                Err(LabError::Docker { source, .. }) if not_a_manager(&source) => Ok(()),
                done => done,
            }
        }))
        .await;
        let networks = networks.into_iter().map(|(_, n)| n);
        for (network, result) in networks.into_iter().zip(removed) {
            match result {
                Ok(()) => report.networks.push(network.name),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
    }
    // One at a time: a lab's images share untagged parents (the builder's cached steps), which
    // the removal of the last image using them takes too; two removals at once race for them.
    for (id, tag) in list_session_images(node, &filter).await? {
        match remove_image(node, &id, &tag).await {
            Ok(()) => report.images.push(tag),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    report.took = started.elapsed();
    match first_error {
        Some(e) => Err(e),
        None => Ok(report),
    }
}

/// The names of the Swarm-scoped networks of `session` the manager `docker` knows (a lab's
/// are named `<session>-<zone>`); none where it manages no swarm. Matched here: for Swarm
/// networks the daemon's `name` filter takes whole names only (checked on 20.10).
async fn swarm_networks_named(docker: &Docker, session: &str) -> Result<Vec<String>, LabError> {
    let prefix = format!("{session}-");
    let filters = HashMap::from([("scope", vec!["swarm".to_owned()])]);
    let options = ListNetworksOptionsBuilder::default()
        .filters(&filters)
        .build();
    let listed = (docker.list_networks(Some(options)).await)
        .map_err(|e| LabError::docker("list networks", session, e))?;
    Ok((listed.into_iter())
        .filter_map(|n| n.name)
        .filter(|name| name.starts_with(&prefix))
        .collect())
}

/// (id, name) of every container, running or not, matching the label filter.
pub(crate) async fn list_session_containers(
    docker: &Docker,
    filters: &HashMap<&str, Vec<String>>,
) -> Result<Vec<(String, String)>, LabError> {
    let options = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(filters)
        .build();
    let list = docker
        .list_containers(Some(options))
        .await
        .map_err(|e| LabError::docker("list containers", "of the lab", e))?;
    Ok(list
        .into_iter()
        .filter_map(|c| {
            let id = c.id?;
            let name = c
                .names
                .and_then(|n| n.into_iter().next())
                .map(|n| n.trim_start_matches('/').to_owned())
                .unwrap_or_else(|| id.clone());
            Some((id, name))
        })
        .collect())
}

/// (id, first tag) of every image matching the label filter.
pub(crate) async fn list_session_images(
    docker: &Docker,
    filters: &HashMap<&str, Vec<String>>,
) -> Result<Vec<(String, String)>, LabError> {
    Ok(images_matching(docker, filters, "of the lab")
        .await?
        .into_iter()
        .map(|i| {
            let tag = i.repo_tags.first().cloned().unwrap_or_else(|| i.id.clone());
            (i.id, tag)
        })
        .collect())
}

/// Every image matching the label filter (`what`: which, for an error).
pub(crate) async fn images_matching(
    docker: &Docker,
    filters: &HashMap<&str, Vec<String>>,
    what: &str,
) -> Result<Vec<ImageSummary>, LabError> {
    let options = ListImagesOptionsBuilder::default().filters(filters).build();
    (docker.list_images(Some(options)).await).map_err(|e| LabError::docker("list images", what, e))
}

/// Remove an image built for a lab (its containers are gone first).
async fn remove_image(docker: &Docker, id: &str, tag: &str) -> Result<(), LabError> {
    let options = RemoveImageOptionsBuilder::default().force(true).build();
    match docker.remove_image(id, Some(options), None).await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(LabError::docker("remove image", tag, e)),
    }
}

/// A network of a lab, as listed.
pub(crate) struct ListedNetwork {
    pub(crate) id: String,
    pub(crate) name: String,
    /// A config-only network (a swarm lab's subnet and interface name on a node).
    pub(crate) config_only: bool,
}

/// Every network matching the label filter.
pub(crate) async fn list_session_networks(
    docker: &Docker,
    filters: &HashMap<&str, Vec<String>>,
) -> Result<Vec<ListedNetwork>, LabError> {
    let options = ListNetworksOptionsBuilder::default()
        .filters(filters)
        .build();
    let list = docker
        .list_networks(Some(options))
        .await
        .map_err(|e| LabError::docker("list networks", "of the lab", e))?;
    Ok(list
        .into_iter()
        .filter_map(|n| {
            let id = n.id?;
            Some(ListedNetwork {
                name: n.name.unwrap_or_else(|| id.clone()),
                config_only: n.config_only == Some(true),
                id,
            })
        })
        .collect())
}

/// (id, name) of every Swarm service matching the label filter; none where this engine is
/// not a Swarm manager (the daemon answers 503 there).
pub(crate) async fn list_session_services(
    docker: &Docker,
    filters: &HashMap<&str, Vec<String>>,
) -> Result<Vec<(String, String)>, LabError> {
    let options = ListServicesOptionsBuilder::default()
        .filters(filters)
        .build();
    match docker.list_services(Some(options)).await {
        Ok(list) => Ok(list
            .into_iter()
            .filter_map(|s| {
                let id = s.id?;
                let name = s
                    .spec
                    .and_then(|spec| spec.name)
                    .unwrap_or_else(|| id.clone());
                Some((id, name))
            })
            .collect()),
        Err(e) if not_a_manager(&e) => Ok(Vec::new()),
        Err(e) => Err(LabError::docker("list services", "of the lab", e)),
    }
}

/// The daemon's answer to a Swarm call on an engine that manages no swarm.
pub(crate) fn not_a_manager(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 503,
            ..
        }
    )
}

async fn remove_service(docker: &Docker, id: &str, name: &str) -> Result<(), LabError> {
    match docker.delete_service(id).await {
        Ok(()) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(LabError::docker("remove service", name.to_owned(), e)),
    }
}

pub(crate) async fn remove_container(
    docker: &Docker,
    id: &str,
    name: &str,
) -> Result<(), LabError> {
    let options = RemoveContainerOptionsBuilder::default()
        .force(true)
        .v(true)
        .build();
    match docker.remove_container(id, Some(options)).await {
        Ok(()) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        // Two teardowns racing (a session's own and the reaper's): the other one is removing it.
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 409,
            message,
        }) if message.contains("already in progress") => Ok(()),
        Err(e) => Err(LabError::docker("remove container", name.to_owned(), e)),
    }
}

pub(crate) async fn remove_network(docker: &Docker, id: &str, name: &str) -> Result<(), LabError> {
    // The daemon may release a removed container's endpoint a moment after answering the
    // removal, so "active endpoints" is retried briefly before it counts; Swarm frees a
    // removed service's network attachments later still ("in use"), a config-only network
    // once the Swarm network made from it is gone.
    let mut attempt = 0;
    loop {
        match docker.remove_network(id).await {
            Ok(()) => return Ok(()),
            Err(e) if is_not_found(&e) => return Ok(()),
            // A Swarm network going while the request went through the manager answers 500.
            Err(bollard::errors::Error::DockerResponseServerError { message, .. })
                if message.ends_with("not found") =>
            {
                return Ok(());
            }
            Err(bollard::errors::Error::DockerResponseServerError { message, .. })
                if (message.contains("active endpoints") || message.contains("in use"))
                    && attempt < 200 =>
            {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => return Err(LabError::docker("remove network", name.to_owned(), e)),
        }
    }
}
