//! Docker events of the lab's containers, for the lab's whole life: lifecycle changes and exec
//! sessions become the trainee's observations, a death nobody in the range caused is restored,
//! and the end of a container a fix replaced is told apart from a fault.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use bollard::models::{EventActor, EventMessage};
use bollard::query_parameters::EventsOptionsBuilder;
use bulkhead_engine::observation::LifecycleState;
use bulkhead_engine::{Cause, LogEvent, Millis};
use futures_util::StreamExt;

use super::Shared;
use super::recovery::{restore, until_docker_answers};
use crate::telemetry;
use crate::tunnel::PIPE_COMMAND;

/// The command of the lab image's HEALTHCHECK.
const HEALTHCHECK: &str = "/labd health";

/// How far before the latest event handled a stream opened again starts: Docker stamps an
/// event before it takes the lock that orders its stream, so two containers dying at once can
/// come out of time order, and the earlier-stamped one may not be in the replay of a stream
/// that starts exactly at the later one.
const REPLAY_MARGIN_NS: i64 = 1_000_000_000;

/// Docker events of this session's containers (lifecycle changes and exec sessions), for the
/// lab's whole life: a daemon that went away ends the stream, which is opened again once it
/// answers, a little before the last event handled; what it repeats is skipped.
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
    // Docker's time of the latest event handled (ns since the epoch), and the events handled
    // lately: a stream opened again starts a margin before it and skips what it repeats. Not
    // "skip what is older than the latest": events come out of time order (see the margin).
    let mut last_ns = i64::try_from(telemetry::unix_ms_now())
        .unwrap_or(i64::MAX)
        .saturating_mul(1_000_000);
    let mut handled = Handled::default();
    // The first stream starts now, and none goes back further: the lab's own bring-up is not
    // the trainee's news.
    let followed_from = last_ns;
    let mut from = followed_from;
    loop {
        let since = format!("{}.{:09}", from / 1_000_000_000, from % 1_000_000_000);
        let options = EventsOptionsBuilder::default()
            .filters(&filters)
            .since(&since)
            .build();
        let mut stream = shared.docker.events(Some(options));
        while let Some(Ok(event)) = stream.next().await {
            if !handled.first_time(&event) {
                continue;
            }
            let t = event.time_nano.unwrap_or(last_ns);
            if t < last_ns {
                tracing::debug!(behind_ns = last_ns - t, "an event came out of time order");
            }
            last_ns = last_ns.max(t);
            on_event(&shared, &by_name, event);
        }
        until_docker_answers(&shared).await;
        from = last_ns.saturating_sub(REPLAY_MARGIN_NS).max(followed_from);
    }
}

/// The events a lab handled lately, by (Docker's time, container, action): what a stream opened
/// again repeats is skipped, and only that.
#[derive(Default)]
struct Handled(BTreeSet<(i64, String, String)>);

impl Handled {
    /// Whether `event` is new here (and now remembered). Events older than twice the replay
    /// margin before it are forgotten: no replay reaches back that far.
    fn first_time(&mut self, event: &EventMessage) -> bool {
        let Some(t) = event.time_nano else {
            return true;
        };
        let id = (event.actor.as_ref()).and_then(|a| a.id.clone());
        let key = (
            t,
            id.unwrap_or_default(),
            event.action.clone().unwrap_or_default(),
        );
        if !self.0.insert(key) {
            return false;
        }
        let forget_before = t.saturating_sub(2 * REPLAY_MARGIN_NS);
        self.0 = self
            .0
            .split_off(&(forget_before, String::new(), String::new()));
        true
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
/// the range's own plumbing (the driver's `labd ctl` and `labd pipe`, Docker's HEALTHCHECK).
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
    // Docker runs the image's HEALTHCHECK as an exec every second, and the driver reaches labd
    // on another Swarm node through pipe execs: neither is a session.
    if audit.is_none() && (action.contains(HEALTHCHECK) || action.contains(PIPE_COMMAND)) {
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

#[cfg(test)]
mod tests {
    use bollard::models::{EventActor, EventMessage};

    use super::{Handled, REPLAY_MARGIN_NS};

    fn die(container: &str, t: i64) -> EventMessage {
        EventMessage {
            action: Some("die".into()),
            actor: Some(EventActor {
                id: Some(container.into()),
                attributes: None,
            }),
            time_nano: Some(t),
            ..Default::default()
        }
    }

    #[test]
    fn an_event_stamped_before_the_latest_is_still_handled_and_a_replay_is_not() {
        let mut handled = Handled::default();
        let t = 1_796_644_834_000_000_000;
        assert!(handled.first_time(&die("web", t + 20)));
        // Two containers killed at once: Docker stamped traffic's death first, sent it second.
        assert!(handled.first_time(&die("traffic", t + 10)));
        // A stream opened again repeats both.
        assert!(!handled.first_time(&die("web", t + 20)));
        assert!(!handled.first_time(&die("traffic", t + 10)));
        // The same container dying again later is news.
        assert!(handled.first_time(&die("traffic", t + 3 * REPLAY_MARGIN_NS)));
        // What is older than any replay reaches is forgotten.
        assert_eq!(handled.0.len(), 1);
    }
}
