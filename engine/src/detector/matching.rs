//! How a rule's condition matches a log event: the detector's side of `format::rules`.

use crate::format::rules::Condition;
use crate::format::topology::Topology;
use crate::observation::{CredentialChange, EventKind, LogEvent};

impl Condition {
    /// The event kinds this condition can match (`None`: any), so that rules are only tried on
    /// the events they are about.
    pub fn event_kinds(&self) -> Option<Vec<EventKind>> {
        match self {
            Condition::Event(k) => Some(vec![*k]),
            Condition::Lifecycle(_) => Some(vec![EventKind::Lifecycle]),
            Condition::CredentialCreated | Condition::CredentialRevoked => {
                Some(vec![EventKind::Credential])
            }
            Condition::EndpointPrefix(_) => Some(vec![EventKind::Request, EventKind::Crossing]),
            Condition::StatusAtLeast(_) => Some(vec![EventKind::Request]),
            Condition::FromZone(_)
            | Condition::ToZone(_)
            | Condition::ToService(_)
            | Condition::BytesAtLeast(_) => Some(vec![EventKind::Crossing]),
            Condition::CommandPrefix(_) => Some(vec![EventKind::Exec]),
            Condition::All(cs) => cs.iter().find_map(Condition::event_kinds),
            Condition::Any(cs) => {
                let mut all = Vec::new();
                for c in cs {
                    all.extend(c.event_kinds()?);
                }
                Some(all)
            }
            _ => None,
        }
    }

    /// Whether the event matches. Macros resolve through the topology; validation has made
    /// sure they exist and do not recurse, so a missing one simply does not match.
    pub fn matches(&self, event: &LogEvent, topology: &Topology, depth: u8) -> bool {
        if depth > 16 {
            return false;
        }
        match self {
            Condition::Event(kind) => event.kind() == *kind,
            Condition::Service(s) => event.service() == s,
            Condition::ServiceTag(tag) => topology
                .service(event.service())
                .is_some_and(|s| s.tags.iter().any(|t| t == tag)),
            Condition::ServiceRole(role) => topology
                .service(event.service())
                .is_some_and(|s| s.role == *role),
            Condition::Zone(zone) => topology
                .service(event.service())
                .is_some_and(|s| s.zones.iter().any(|z| z == zone)),
            Condition::Identity(i) => event.identity() == Some(i.as_str()),
            Condition::IdentityAdmin(admin) => event
                .identity()
                .and_then(|i| topology.identity(i))
                .is_some_and(|i| i.admin == *admin),
            Condition::EndpointPrefix(prefix) => match event {
                LogEvent::Request { endpoint, .. } | LogEvent::Crossing { endpoint, .. } => {
                    endpoint.starts_with(prefix.as_str())
                }
                _ => false,
            },
            Condition::StatusAtLeast(min) => {
                matches!(event, LogEvent::Request { status, .. } if status >= min)
            }
            Condition::Failed => matches!(
                event,
                LogEvent::Login { ok: false, .. }
                    | LogEvent::DataAccess { ok: false, .. }
                    | LogEvent::Crossing { allowed: false, .. }
            ),
            Condition::FromZone(zone) => {
                matches!(event, LogEvent::Crossing { from_zone, .. } if from_zone == zone)
            }
            Condition::ToZone(zone) => {
                matches!(event, LogEvent::Crossing { to_zone: Some(to), .. } if to == zone)
            }
            Condition::ToService(service) => {
                matches!(event, LogEvent::Crossing { to, .. } if to == service)
            }
            Condition::BytesAtLeast(min) => {
                matches!(event, LogEvent::Crossing { bytes, .. } if bytes >= min)
            }
            Condition::CommandPrefix(prefix) => {
                matches!(event, LogEvent::Exec { command, .. } if command.starts_with(prefix.as_str()))
            }
            Condition::CredentialCreated => matches!(
                event,
                LogEvent::Credential {
                    change: CredentialChange::Created,
                    ..
                }
            ),
            Condition::CredentialRevoked => matches!(
                event,
                LogEvent::Credential {
                    change: CredentialChange::Revoked,
                    ..
                }
            ),
            Condition::Lifecycle(state) => {
                matches!(event, LogEvent::Lifecycle { state: s, .. } if s == state)
            }
            Condition::Macro(name) => topology
                .condition(name)
                .is_some_and(|c| c.matches(event, topology, depth + 1)),
            Condition::All(cs) => cs.iter().all(|c| c.matches(event, topology, depth + 1)),
            Condition::Any(cs) => cs.iter().any(|c| c.matches(event, topology, depth + 1)),
            Condition::Not(c) => !c.matches(event, topology, depth + 1),
        }
    }
}
