//! Signature rules declared in data: small named conditions composed into rules (as Falco does),
//! each tagged with a severity and MITRE ATT&CK ids. Their home is the format, where topologies
//! and scenarios declare them; how they match events is the detector's (`detector::matching`).

use serde::{Deserialize, Serialize};

use super::topology::{Role, Topology};
use crate::observation::{EventKind, LifecycleState};

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
    /// Login or data access that failed, or a crossing the firewall refused.
    Failed,
    /// A crossing from this zone.
    FromZone(String),
    /// A crossing into this zone.
    ToZone(String),
    /// A crossing toward this service.
    ToService(String),
    /// A crossing that tried to carry at least this many bytes.
    BytesAtLeast(u64),
    /// An exec session whose command starts with this text.
    CommandPrefix(String),
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
            Condition::Zone(z) | Condition::FromZone(z) | Condition::ToZone(z) => {
                out.push(("zone", z.clone()));
            }
            Condition::ToService(s) => out.push(("service", s.clone())),
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
}
