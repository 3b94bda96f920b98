//! A lab Swarm placed ends cleanly when its node is drained: Swarm shuts the node's tasks down,
//! and the lab neither starts them again behind Swarm's back (its recovery would take their
//! end for a fault) nor keeps the trainee in a lab that is going away. The session ends with a
//! partial card and a `lost` fault that says why, as when Docker is gone for good, and its
//! teardown removes the lab's services.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bollard::models::NodeSpecAvailabilityEnum;
use bollard::query_parameters::EventsOptionsBuilder;
use futures_util::StreamExt;

use super::Shared;

/// How long after its stream ended (a daemon restarting) the node is asked about again.
const REOPEN_AFTER: Duration = Duration::from_secs(1);

/// Follow the swarm's node events through the manager, for the lab's whole life, and end the
/// lab once its node is drained. A lab on a plain Docker host has no node: nothing to watch.
pub(super) async fn watch_node(shared: Arc<Shared>) {
    let Some(node) = shared.lab.node.clone() else {
        return;
    };
    let filters = HashMap::from([("type".to_string(), vec!["node".to_string()])]);
    loop {
        // Asked whenever the stream opens: a drain while the daemon was away is seen too (and
        // while it is away, the question goes unanswered and the stream ends at once).
        if drained(&shared).await {
            return;
        }
        let options = EventsOptionsBuilder::default().filters(&filters).build();
        let mut stream = shared.manager.events(Some(options));
        while let Some(Ok(event)) = stream.next().await {
            let about_ours = (event.actor.as_ref()).and_then(|a| a.id.as_deref()) == Some(&node.id);
            if about_ours && drained(&shared).await {
                return;
            }
        }
        tokio::time::sleep(REOPEN_AFTER).await;
    }
}

/// Whether the lab's node is being drained (then the lab is over, and says why). `false` for
/// a lab on a plain Docker host, and where the manager cannot tell: an unanswered question is
/// the daemon watch's to judge, not a reason to end a session.
pub(super) async fn drained(shared: &Shared) -> bool {
    let Some(node) = &shared.lab.node else {
        return false;
    };
    if shared.lost().is_some() {
        return true;
    }
    let Ok(inspect) = shared.manager.inspect_node(&node.id).await else {
        return false;
    };
    let availability = inspect.spec.and_then(|spec| spec.availability);
    if availability != Some(NodeSpecAvailabilityEnum::DRAIN) {
        return false;
    }
    tracing::warn!(
        session = %shared.lab.session,
        node = %node.hostname,
        "the lab's node is being drained: the session ends"
    );
    shared.set_lost(format!(
        "its node {} is being drained: Swarm is taking the labs off it",
        node.hostname
    ));
    true
}
