//! The reaper: removes labs (containers, networks, images and Swarm services) nobody will remove any more, those whose `bulkhead.expires` has
//! passed or whose owning process is gone (killed, crashed). Run at every start and by
//! `bulkhead labs prune`. Labs of live owners, and labs it cannot judge that have not
//! expired, are left alone.

use std::collections::{BTreeMap, HashMap};
use std::time::SystemTime;

use bollard::Docker;
use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListNetworksOptionsBuilder, ListServicesOptionsBuilder,
};
use futures_util::future::join_all;

use crate::error::LabError;
use crate::lab_down::{TeardownReport, remove_session};
use crate::labels;

/// What a reaper pass did.
#[derive(Debug, Clone, Default)]
pub struct ReapReport {
    /// One teardown per session removed.
    pub removed: Vec<TeardownReport>,
    /// Sessions seen and left alone (their owner is alive and they have not expired).
    pub kept: Vec<String>,
}

impl ReapReport {
    pub fn containers_removed(&self) -> usize {
        self.removed.iter().map(|r| r.containers.len()).sum()
    }

    pub fn networks_removed(&self) -> usize {
        self.removed.iter().map(|r| r.networks.len()).sum()
    }
}

/// `reap` before a lab starts: what cannot go is said (`progress`, and a warning) and left to
/// `bulkhead labs prune`, not a reason to refuse the new lab. Docker can hold a removed
/// container's endpoint on a network for good ("has active endpoints", seen in CI after a
/// lab's teardown), until the daemon restarts: someone else's leftover must not stop every
/// lab after it.
pub async fn reap_what_can_go(docker: &Docker, mut progress: impl FnMut(&str)) {
    if let Err(e) = reap(docker).await {
        tracing::warn!("leftovers of earlier runs remain: {e}");
        progress(&format!(
            "warning: leftovers of earlier runs remain ({e}); `bulkhead labs prune` tries again"
        ));
    }
}

/// Remove every session whose objects have all expired or lost their owner.
pub async fn reap(docker: &Docker) -> Result<ReapReport, LabError> {
    let filters = HashMap::from([("label", vec![labels::SESSION.to_owned()])]);
    let containers = docker
        .list_containers(Some(
            ListContainersOptionsBuilder::default()
                .all(true)
                .filters(&filters)
                .build(),
        ))
        .await
        .map_err(|e| LabError::docker("list containers", "labelled bulkhead.session", e))?;
    let networks = docker
        .list_networks(Some(
            ListNetworksOptionsBuilder::default()
                .filters(&filters)
                .build(),
        ))
        .await
        .map_err(|e| LabError::docker("list networks", "labelled bulkhead.session", e))?;

    // A swarm lab's services carry the same labels; none where this engine manages no swarm.
    let services = match docker
        .list_services(Some(
            ListServicesOptionsBuilder::default()
                .filters(&filters)
                .build(),
        ))
        .await
    {
        Ok(services) => services,
        Err(e) if crate::lab_down::not_a_manager(&e) => Vec::new(),
        Err(e) => {
            return Err(LabError::docker(
                "list services",
                "labelled bulkhead.session",
                e,
            ));
        }
    };
    // A lab's images outlive its containers for a moment of its teardown: found alone, they
    // are reaped too.
    let images =
        crate::lab_down::images_matching(docker, &filters, "labelled bulkhead.session").await?;
    let now = SystemTime::now();
    // Session → whether every object of it may go.
    let mut sessions: BTreeMap<String, bool> = BTreeMap::new();
    let objects = containers
        .into_iter()
        .map(|c| c.labels)
        .chain(networks.into_iter().map(|n| n.labels))
        .chain(
            services
                .into_iter()
                .map(|s| s.spec.and_then(|spec| spec.labels)),
        )
        .chain(images.into_iter().map(|i| Some(i.labels)));
    for object_labels in objects.flatten() {
        let Some(session) = object_labels.get(labels::SESSION) else {
            continue;
        };
        let dead = labels::expired(&object_labels, now) || !labels::owner_alive(&object_labels);
        *sessions.entry(session.clone()).or_insert(true) &= dead;
    }

    let mut report = ReapReport::default();
    let mut dead = Vec::new();
    for (session, may_go) in sessions {
        if may_go {
            dead.push(session);
        } else {
            report.kept.push(session);
        }
    }
    let results = join_all(dead.iter().map(|s| remove_session(docker, s))).await;
    let mut first_error = None;
    for (session, result) in dead.iter().zip(results) {
        match result {
            Ok(teardown) => {
                tracing::info!(
                    %session,
                    containers = teardown.containers.len(),
                    networks = teardown.networks.len(),
                    "reaped a lab left behind"
                );
                report.removed.push(teardown);
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(report),
    }
}
