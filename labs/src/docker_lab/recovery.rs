//! How a Docker lab lives through faults of its engine, as a reconcile loop would: a container
//! that died from outside the range is started again; when the daemon stops answering, the lab
//! holds its clock (the session waits), and once it answers again the lab puts back what a
//! restart undid (containers started, pauses, the mitigations labd keeps in memory) before
//! session time runs on; a lab network removed under it is made again.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{EndpointSettings, Ipam, NetworkConnectRequest, NetworkCreateRequest};
use bollard::query_parameters::EventsOptionsBuilder;
use bulkhead_engine::format::topology::Role;
use bulkhead_engine::observation::LifecycleState;
use bulkhead_engine::posture::WeaknessKind;
use bulkhead_engine::record::LabFault;
use bulkhead_engine::{LabOutput, LogEvent, Mitigation};
use futures_util::StreamExt;

use super::{Shared, mitigate, refresh_address};
use crate::drive;

/// How often the daemon is asked whether it answers.
const PING_EVERY: Duration = Duration::from_millis(500);

/// A ping unanswered this long counts as no answer.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// Pings missed in a row before the lab holds its clock: one slow answer from a busy daemon is
/// not an outage.
const MISSES_TO_HOLD: u32 = 2;

/// How long a restored container's labd may take to answer before the mitigations it kept
/// are given up on (they are retried until then).
const REAPPLY_FOR: Duration = Duration::from_secs(10);
/// How long a dead container's start is retried before the lab gives it up (and says so).
const RESTORE_FOR: Duration = Duration::from_secs(15);

/// Ask the daemon whether it answers, every half second, for the lab's whole life: hold the
/// clock when it stops, re-sync and release it when it answers again.
pub(super) async fn watch_daemon(shared: Arc<Shared>) {
    let mut missed = 0;
    loop {
        tokio::time::sleep(PING_EVERY).await;
        match ping(&shared).await {
            Err(why) => {
                missed += 1;
                if missed >= MISSES_TO_HOLD && shared.clock.held_for().is_none() {
                    tracing::warn!(session = %shared.lab.session, "{why}: the lab holds its clock");
                    shared.set_unreachable(Some(why));
                    shared.clock.hold();
                }
            }
            Ok(()) => {
                missed = 0;
                if shared.clock.held_for().is_some() {
                    let started = Instant::now();
                    resync(&shared).await;
                    let held = shared.clock.release();
                    shared.set_unreachable(None);
                    tracing::warn!(
                        session = %shared.lab.session,
                        held_s = held.as_secs_f64(),
                        resync_ms = started.elapsed().as_millis() as u64,
                        "Docker answers again: the lab re-synced and its clock runs on"
                    );
                }
            }
        }
    }
}

/// One ping, with why it failed.
async fn ping(shared: &Shared) -> Result<(), String> {
    match tokio::time::timeout(PING_TIMEOUT, shared.docker.ping()).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("Docker does not answer: {e}")),
        Err(_) => Err(format!(
            "Docker did not answer within {} s",
            PING_TIMEOUT.as_secs()
        )),
    }
}

/// Wait until the daemon answers again (a stream it ended is opened again then).
pub(super) async fn until_docker_answers(shared: &Shared) {
    while ping(shared).await.is_err() {
        tokio::time::sleep(PING_EVERY / 2).await;
    }
}

/// After the daemon came back: every container the trainee did not stop runs again (a
/// restarted daemon stopped them all), and those the trainee paused are paused again.
async fn resync(shared: &Arc<Shared>) {
    // By name: a fix may have recreated a container under its name.
    for (service, container) in &shared.lab.containers {
        let Ok(inspect) = shared.docker.inspect_container(&container.name, None).await else {
            continue;
        };
        let state = inspect.state.unwrap_or_default();
        let hop = shared.hop(service);
        if hop.stopped {
            continue;
        }
        if !state.running.unwrap_or(false) {
            // Whatever ran in it is gone, and nobody in the range is to blame.
            shared.end_jobs(service, "container died", None);
            let tell = shared.company(service);
            restore(
                shared.clone(),
                service.clone(),
                container.name.clone(),
                tell,
            )
            .await;
        }
        if hop.paused && !state.paused.unwrap_or(false) {
            let again = drive::set_state(&shared.docker, &container.name, "pause").await;
            if let Err(e) = again {
                tracing::warn!(service, "a paused container could not be paused again: {e}");
            }
        }
    }
}

/// Start a container again that died with no cause the range knows of and, for a company
/// service (`tell`), say so in the record and to the trainee (`Restored`). Its labd starts
/// afresh: sessions and keys it held are gone, as after any restart, but the trainee's
/// mitigations it held are applied again.
pub(super) async fn restore(shared: Arc<Shared>, service: String, container: String, tell: bool) {
    // Swarm shut it down, taking the lab off a drained node: not ours to undo.
    if super::drain::drained(&shared).await {
        return;
    }
    let started = Instant::now();
    match start_again(&shared, &container).await {
        Ok(Restart::Started) => {
            tracing::warn!(
                service,
                took_ms = started.elapsed().as_millis() as u64,
                "a lab container died with no cause the range knows of; the lab restored it"
            );
            if tell {
                shared.observe(
                    shared.clock.now(),
                    LogEvent::Lifecycle {
                        service: service.clone(),
                        state: LifecycleState::Restored,
                    },
                );
            }
            refresh_address(&shared, &service).await;
            reapply(&shared, &service).await;
        }
        // Someone (a restart's own start, a resync) was first: nothing to restore.
        Ok(Restart::AlreadyRunning) => {}
        Err(e) => tracing::warn!(
            service,
            "a lab container died and could not be restored: {e}"
        ),
    }
}

/// What starting a dead container again came to.
enum Restart {
    Started,
    AlreadyRunning,
}

/// Start `container` again, retrying for up to `RESTORE_FOR`: right after a `die`, Docker may
/// still be releasing the dead container's network endpoints and refuse the start.
async fn start_again(shared: &Shared, container: &str) -> Result<Restart, String> {
    let deadline = Instant::now() + RESTORE_FOR;
    loop {
        let running = |i: &bollard::models::ContainerInspectResponse| {
            i.state.as_ref().and_then(|s| s.running).unwrap_or(false)
        };
        match shared.docker.inspect_container(container, None).await {
            Ok(inspect) if running(&inspect) => return Ok(Restart::AlreadyRunning),
            Ok(_) => {}
            // Removed (a teardown, or a fix's recreation under way): not ours to bring back.
            Err(e) if crate::error::is_not_found(&e) => return Err(format!("it is gone: {e}")),
            Err(_) => {}
        }
        match shared.docker.start_container(container, None).await {
            Ok(()) => return Ok(Restart::Started),
            Err(e) if Instant::now() >= deadline => return Err(e.to_string()),
            Err(e) => tracing::debug!(container, "starting again failed, retrying: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The trainee's confirmed mitigations that labd holds in memory at a service of `role`:
/// lost when its container starts again, so the lab applies them again.
pub(super) fn held_in_labd(role: Role, m: &Mitigation) -> bool {
    match m {
        Mitigation::Revoke { .. } => role == Role::Web,
        // A rotated password lives in the web tier's memory; its environment has the old one.
        Mitigation::Fix {
            weakness: WeaknessKind::DefaultPassword,
            ..
        } => role == Role::Web,
        Mitigation::Block { .. } | Mitigation::Unblock { .. } => role == Role::Gateway,
        Mitigation::Segment { .. } | Mitigation::Unsegment { .. } => role == Role::Firewall,
        _ => false,
    }
}

/// Apply again, in the order they were confirmed, the mitigations the restarted labd of
/// `service` held, retrying while it starts up.
pub(super) async fn reapply(shared: &Shared, service: &str) {
    let Some(role) = shared.topology.service(service).map(|s| s.role) else {
        return;
    };
    let kept: Vec<Mitigation> = shared
        .kept_mitigations()
        .into_iter()
        .filter(|m| held_in_labd(role, m))
        .collect();
    for m in kept {
        let deadline = Instant::now() + REAPPLY_FOR;
        loop {
            let again = match &m {
                // A fix of this tier's factory passwords, rotated again without the fix lock,
                // which a recreating fix of this tier may be holding.
                Mitigation::Fix {
                    service: fixed,
                    weakness: WeaknessKind::DefaultPassword,
                } if fixed == service => {
                    super::accounts::rotate_factory_passwords(shared, service).await
                }
                // Another tier's fix: nothing this container holds.
                Mitigation::Fix { .. } => break,
                _ => mitigate(shared, &m).await,
            };
            match again {
                Ok(_) => break,
                Err(e) if Instant::now() >= deadline => {
                    tracing::warn!(service, "{} could not be applied again: {e}", m.summary());
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
    }
}

/// A lab whose teardown failed while the daemon was away is taken down once it answers again,
/// from a thread of its own (the lab's runtime is going away), for up to `ttl`. If this process
/// ends first, its labels let the reaper remove the lab at the next start.
pub(super) fn take_down_when_docker_answers(shared: &Shared, ttl: Duration) {
    let (manager, docker, lab) = (
        shared.manager.clone(),
        shared.docker.clone(),
        shared.lab.clone(),
    );
    let spawned = std::thread::Builder::new()
        .name("bulkhead-late-teardown".into())
        .spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                let deadline = Instant::now() + ttl;
                while Instant::now() < deadline {
                    match crate::lab_down::remove_session_on(&manager, &docker, &lab.session).await
                    {
                        Ok(report) => {
                            tracing::warn!(
                                session = %lab.session,
                                containers = report.containers.len(),
                                "Docker answers again: the lab was taken down"
                            );
                            return;
                        }
                        Err(_) => tokio::time::sleep(PING_EVERY * 2).await,
                    }
                }
            });
        });
    if let Err(e) = spawned {
        tracing::warn!("the lab will be left to the reaper: {e}");
    }
}

/// How to make a zone's network again as `lab_up` made it (name, subnet, labels, bridge
/// name), read back from Docker when the lab comes up.
pub(super) async fn network_specs(
    docker: &Docker,
    networks: &BTreeMap<String, String>,
) -> BTreeMap<String, NetworkCreateRequest> {
    let mut specs = BTreeMap::new();
    for (zone, id) in networks {
        let Ok(made) = docker.inspect_network(id, None).await else {
            continue;
        };
        let request = NetworkCreateRequest {
            name: made.name.unwrap_or_default(),
            driver: made.driver,
            internal: made.internal,
            enable_ipv6: made.enable_ipv6,
            labels: made.labels,
            options: made.options,
            ipam: made.ipam.map(|ipam| Ipam {
                config: ipam.config,
                ..Default::default()
            }),
            ..Default::default()
        };
        specs.insert(zone.clone(), request);
    }
    specs
}

/// Docker's `destroy` events of networks, for the lab's whole life: a network of this lab
/// removed by anyone but the lab (whose teardown stops this task first) is made again.
pub(super) async fn follow_network_events(shared: Arc<Shared>) {
    let filters = HashMap::from([
        ("type".to_string(), vec!["network".to_string()]),
        ("event".to_string(), vec!["destroy".to_string()]),
    ]);
    loop {
        let options = EventsOptionsBuilder::default().filters(&filters).build();
        let mut stream = shared.docker.events(Some(options));
        while let Some(Ok(event)) = stream.next().await {
            let name = (event.actor.and_then(|a| a.attributes))
                .and_then(|attributes| attributes.get("name").cloned());
            let zone = (shared.network_specs.iter())
                .find(|(_, spec)| Some(&spec.name) == name.as_ref())
                .map(|(zone, _)| zone.clone());
            if let Some(zone) = zone {
                restore_network(&shared, &zone).await;
            }
        }
        until_docker_answers(&shared).await;
    }
}

/// Make the network of `zone` again and connect every service of the zone to it, but those the
/// trainee cut off it (isolated, or detached from the zone); tell the record which (only the
/// company's: the range's own machinery is not the trainee's to see).
async fn restore_network(shared: &Shared, zone: &str) {
    let started = Instant::now();
    let Some(request) = shared.network_specs.get(zone) else {
        return;
    };
    let id = match shared.docker.create_network(request.clone()).await {
        Ok(created) => created.id,
        Err(e) => {
            tracing::warn!(zone, "a removed lab network could not be made again: {e}");
            return;
        }
    };
    shared.set_network(zone, id.clone());
    let mut reconnected = Vec::new();
    for service in &shared.topology.services {
        let hop = shared.hop(&service.id);
        let cut_off = hop.isolated || hop.detached.contains(zone);
        let Some(container) = shared.container(&service.id) else {
            continue;
        };
        if !service.zones.iter().any(|z| z == zone) || cut_off {
            continue;
        }
        let connect = NetworkConnectRequest {
            container: container.to_string(),
            endpoint_config: Some(EndpointSettings {
                aliases: Some(vec![service.id.clone()]),
                ..Default::default()
            }),
        };
        match shared.docker.connect_network(&id, connect).await {
            Ok(()) => {
                refresh_address(shared, &service.id).await;
                if !service.range_only {
                    reconnected.push(service.id.clone());
                }
            }
            Err(e) => tracing::warn!(service = service.id, zone, "not reconnected: {e}"),
        }
    }
    tracing::warn!(
        zone,
        took_ms = started.elapsed().as_millis() as u64,
        "a lab network was removed from outside the range; the lab made it again"
    );
    shared.emit(LabOutput::Fault {
        t_ms: shared.clock.now(),
        fault: LabFault::NetworkRestored {
            zone: zone.to_string(),
            services: reconnected,
        },
    });
}
