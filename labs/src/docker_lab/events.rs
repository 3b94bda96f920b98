//! Docker events of the lab's containers, for the lab's whole life: lifecycle changes and exec
//! sessions become the trainee's observations, a death nobody in the range caused is restored,
//! and the end of a container a fix replaced is told apart from a fault.

use std::collections::HashMap;
use std::sync::Arc;

use bollard::models::{EventActor, EventMessage};
use bollard::query_parameters::EventsOptionsBuilder;
use bulkhead_engine::observation::LifecycleState;
use bulkhead_engine::{Cause, LogEvent, Millis};
use futures_util::StreamExt;

use super::Shared;
use super::recovery::{restore, until_docker_answers};
use crate::telemetry;

/// The command of the lab image's HEALTHCHECK.
const HEALTHCHECK: &str = "/labd health";

/// Docker events of this session's containers (lifecycle changes and exec sessions), for the
/// lab's whole life: a daemon that went away ends the stream, which is opened again once it
/// answers, from the last event handled.
pub(super) async fn follow_events(shared: Arc<Shared>) {
    let filters = HashMap::from([
        ("type".to_string(), vec!["container".to_string()]),
        (
            "label".to_string(),
            vec![format!("{}={}", crate::labels::SESSION, shared.lab.session)],
        ),
    ]);
    // By name: a container a fix recreated keeps its predecessor's name, not its id.
    let by_name: HashMap<String, String> = shared
        .lab
        .containers
        .iter()
        .map(|(s, c)| (c.name.clone(), s.clone()))
        .collect();
    // Docker's time of the last event handled (ns since the epoch): a stream opened again
    // starts there, and skips what it repeats.
    let mut last_ns = i64::try_from(telemetry::unix_ms_now())
        .unwrap_or(i64::MAX)
        .saturating_mul(1_000_000);
    loop {
        let since = format!("{}.{:09}", last_ns / 1_000_000_000, last_ns % 1_000_000_000);
        let options = EventsOptionsBuilder::default()
            .filters(&filters)
            .since(&since)
            .build();
        let mut stream = shared.docker.events(Some(options));
        while let Some(Ok(event)) = stream.next().await {
            if let Some(t) = event.time_nano {
                if t <= last_ns {
                    continue;
                }
                last_ns = t;
            }
            on_event(&shared, &by_name, event);
        }
        until_docker_answers(&shared).await;
    }
}

/// One Docker event of a lab container.
fn on_event(shared: &Arc<Shared>, by_name: &HashMap<String, String>, event: EventMessage) {
    let Some(actor) = event.actor else { return };
    let name = actor.attributes.as_ref().and_then(|a| a.get("name"));
    let Some((name, service)) = name.and_then(|n| by_name.get_key_value(n)) else {
        return;
    };
    let action = event.action.unwrap_or_default();
    let verb = action.split(':').next().unwrap_or_default().trim();
    // A container a fix replaced: only its end is news (the fix's doing, not a fault).
    let retired = actor.id.as_deref().is_some_and(|id| shared.retired(id));
    if retired && verb != "die" {
        return;
    }
    if !shared.company(service) {
        // The range's own containers (traffic, attacker) are not the trainee's to see, but
        // a session without them is no session: one that dies is started again, quietly.
        if verb == "die" && !retired {
            tokio::spawn(restore(
                shared.clone(),
                service.clone(),
                name.clone(),
                false,
            ));
        }
        return;
    }
    let t = shared.clock.now();
    let state = match verb {
        "start" => Some(LifecycleState::Started),
        "die" => Some(LifecycleState::Died),
        "oom" => Some(LifecycleState::OomKilled),
        "pause" => Some(LifecycleState::Paused),
        "unpause" => Some(LifecycleState::Unpaused),
        "exec_start" => {
            exec_started(shared, service, &actor, &action, t);
            None
        }
        _ => None,
    };
    if let Some(state) = state {
        match state {
            LifecycleState::OomKilled => {
                shared.update_hop(service, |h| h.oom = true);
                let cause = Cause::OomKilled {
                    service: service.clone(),
                };
                shared.end_jobs(service, "container OOM-killed", Some(cause));
            }
            LifecycleState::Died => {
                // A stop or restart under way (or done) did it; otherwise nobody we know.
                let cause = shared.hop(service).died_because(service, event.time_nano);
                // A replaced container's jobs were ended by the fix; any running now run in
                // its successor.
                if !retired {
                    if cause.is_none() {
                        // Killed from outside, or crashed: nothing the trainee or the scenario
                        // did, so the lab brings it back rather than lose the session to it.
                        let restoring =
                            restore(shared.clone(), service.clone(), name.clone(), true);
                        tokio::spawn(restoring);
                    }
                    shared.end_jobs(service, "container died", cause);
                }
            }
            LifecycleState::Started => shared.update_hop(service, |h| h.oom = false),
            _ => {}
        }
        shared.observe(
            t,
            LogEvent::Lifecycle {
                service: service.clone(),
                state,
            },
        );
    }
}

/// An exec session started in a company container: an event naming who ran what, unless it is
/// the range's own plumbing (the driver's `labd ctl`, Docker's HEALTHCHECK).
fn exec_started(shared: &Shared, service: &str, actor: &EventActor, action: &str, t: Millis) {
    let exec_id = actor
        .attributes
        .as_ref()
        .and_then(|a| a.get("execID"))
        .cloned()
        .unwrap_or_default();
    let audit = shared
        .execs
        .lock()
        .ok()
        .and_then(|mut e| e.remove(&exec_id));
    // Docker runs the image's HEALTHCHECK as an exec every second: not a session.
    if audit.is_none() && action.contains(HEALTHCHECK) {
        return;
    }
    let (identity, command, trace) = match audit {
        // The driver's own `labd ctl`: plumbing, not a session.
        Some(None) => return,
        Some(Some((identity, command, effect))) => (identity, command, Some(effect)),
        // Someone outside the range opened it: still worth an event.
        None => (
            "unknown".to_string(),
            action.trim_start_matches("exec_start:").trim().to_string(),
            None,
        ),
    };
    shared.observe(
        t,
        LogEvent::Exec {
            service: service.to_string(),
            identity,
            command,
            trace,
        },
    );
}
