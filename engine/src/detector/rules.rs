//! Signature rules declared in data: small named conditions composed into rules (as Falco does),
//! each tagged with a severity and MITRE ATT&CK ids.

use serde::{Deserialize, Serialize};

use crate::format::topology::{Role, Topology};
use crate::observation::{EventKind, LifecycleState, LogEvent};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

/// A condition on one log event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Condition {
    Event(EventKind),
    Service(String),
    ServiceTag(String),
    ServiceRole(Role),
    /// The service sits in this zone.
    Zone(String),
    Identity(String),
    /// The event's identity is (true) or is not (false) an administrator.
    IdentityAdmin(bool),
    EndpointPrefix(String),
    StatusAtLeast(u16),
    /// Login or data access that failed.
    Failed,
    CredentialCreated,
    CredentialRevoked,
    Lifecycle(LifecycleState),
    /// A named condition of the topology.
    Macro(String),
    All(Vec<Condition>),
    Any(Vec<Condition>),
    Not(Box<Condition>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedCondition {
    pub id: String,
    pub when: Condition,
}

/// Which entity an alert from this rule is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Subject {
    Service,
    Identity,
    Source,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub id: String,
    pub title: String,
    pub severity: Severity,
    #[serde(default)]
    pub mitre: Vec<String>,
    pub subject: Subject,
    pub when: Condition,
}

impl Condition {
    /// Every reference the condition makes, for validation: (what, id).
    pub fn references(&self, out: &mut Vec<(&'static str, String)>) {
        match self {
            Condition::Service(s) => out.push(("service", s.clone())),
            Condition::Zone(z) => out.push(("zone", z.clone())),
            Condition::Identity(i) => out.push(("identity", i.clone())),
            Condition::Macro(m) => out.push(("condition", m.clone())),
            Condition::All(cs) | Condition::Any(cs) => cs.iter().for_each(|c| c.references(out)),
            Condition::Not(c) => c.references(out),
            _ => {}
        }
    }

    /// The same condition with every named condition written out, so that matching needs no
    /// lookups. Depth-bounded: validation rejects cycles, this only guards against them.
    pub fn inlined(&self, topology: &Topology, depth: u8) -> Condition {
        if depth > 16 {
            return Condition::Any(Vec::new());
        }
        match self {
            Condition::Macro(name) => topology
                .condition(name)
                .map_or(Condition::Any(Vec::new()), |c| {
                    c.inlined(topology, depth + 1)
                }),
            Condition::All(cs) => {
                Condition::All(cs.iter().map(|c| c.inlined(topology, depth + 1)).collect())
            }
            Condition::Any(cs) => {
                Condition::Any(cs.iter().map(|c| c.inlined(topology, depth + 1)).collect())
            }
            Condition::Not(c) => Condition::Not(Box::new(c.inlined(topology, depth + 1))),
            other => other.clone(),
        }
    }

    /// The event kinds this condition can match (`None`: any), so that rules are only tried on
    /// the events they are about.
    pub fn event_kinds(&self) -> Option<Vec<EventKind>> {
        match self {
            Condition::Event(k) => Some(vec![*k]),
            Condition::Lifecycle(_) => Some(vec![EventKind::Lifecycle]),
            Condition::CredentialCreated | Condition::CredentialRevoked => {
                Some(vec![EventKind::Credential])
            }
            Condition::EndpointPrefix(_) | Condition::StatusAtLeast(_) => {
                Some(vec![EventKind::Request])
            }
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
            Condition::EndpointPrefix(prefix) => {
                matches!(event, LogEvent::Request { endpoint, .. } if endpoint.starts_with(prefix.as_str()))
            }
            Condition::StatusAtLeast(min) => {
                matches!(event, LogEvent::Request { status, .. } if status >= min)
            }
            Condition::Failed => matches!(
                event,
                LogEvent::Login { ok: false, .. } | LogEvent::DataAccess { ok: false, .. }
            ),
            Condition::CredentialCreated => matches!(
                event,
                LogEvent::Credential {
                    change: crate::observation::CredentialChange::Created,
                    ..
                }
            ),
            Condition::CredentialRevoked => matches!(
                event,
                LogEvent::Credential {
                    change: crate::observation::CredentialChange::Revoked,
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
