//! `lab_down`: remove everything a session created, found by its `bulkhead.session` label
//! (so objects made after `lab_up`, such as probes, go too). Containers first (they hold
//! network endpoints), then networks, then the images built for it (a service's image with a
//! baked layer); containers and networks in parallel, images one at a time; idempotent.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::ImageSummary;
use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListImagesOptionsBuilder, ListNetworksOptionsBuilder,
    RemoveContainerOptionsBuilder, RemoveImageOptionsBuilder,
};
use futures_util::future::join_all;

use crate::error::{LabError, is_not_found};
use crate::labels;
use crate::spec::RunningLab;

/// What a teardown removed.
#[derive(Debug, Clone, Default)]
pub struct TeardownReport {
    pub session: String,
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
    let started = Instant::now();
    let filter = HashMap::from([("label", vec![format!("{}={session}", labels::SESSION)])]);
    let containers = list_session_containers(docker, &filter).await?;
    let removed = join_all(
        containers
            .iter()
            .map(|(id, name)| remove_container(docker, id, name)),
    )
    .await;
    let mut first_error = None;
    let mut report = TeardownReport {
        session: session.to_owned(),
        ..Default::default()
    };
    for ((_, name), result) in containers.into_iter().zip(removed) {
        match result {
            Ok(()) => report.containers.push(name),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }

    tracing::debug!(%session, took = ?started.elapsed(), "containers removed");
    let networks = list_session_networks(docker, &filter).await?;
    let removed = join_all(
        networks
            .iter()
            .map(|(id, name)| remove_network(docker, id, name)),
    )
    .await;
    for ((_, name), result) in networks.into_iter().zip(removed) {
        match result {
            Ok(()) => report.networks.push(name),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    // One at a time: a lab's images share untagged parents (the builder's cached steps), which
    // the removal of the last image using them takes too; two removals at once race for them.
    for (id, tag) in list_session_images(docker, &filter).await? {
        match remove_image(docker, &id, &tag).await {
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

/// (id, name) of every network matching the label filter.
pub(crate) async fn list_session_networks(
    docker: &Docker,
    filters: &HashMap<&str, Vec<String>>,
) -> Result<Vec<(String, String)>, LabError> {
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
            Some((id.clone(), n.name.unwrap_or(id)))
        })
        .collect())
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
    // removal, so "active endpoints" is retried briefly before it counts.
    let mut attempt = 0;
    loop {
        match docker.remove_network(id).await {
            Ok(()) => return Ok(()),
            Err(e) if is_not_found(&e) => return Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError { message, .. })
                if message.contains("active endpoints") && attempt < 20 =>
            {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => return Err(LabError::docker("remove network", name.to_owned(), e)),
        }
    }
}
