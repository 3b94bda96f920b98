//! Lab topology format: trust zones, services, identities, datasets and detection rules.

use serde::{Deserialize, Serialize};

use super::rules::{Condition, NamedCondition, Rule};

/// A lab: the company network that scenarios play out on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    pub schema_version: u32,
    pub id: String,
    pub title: String,
    pub zones: Vec<Zone>,
    pub services: Vec<Service>,
    pub identities: Vec<Identity>,
    #[serde(default)]
    pub datasets: Vec<Dataset>,
    /// Named conditions that rules compose (Falco's macros).
    #[serde(default)]
    pub conditions: Vec<NamedCondition>,
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// Which zone may open connections to which, through which firewall (schema_version 2).
    /// Zones without a route between them do not reach each other at all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
}

/// A declared route: services in zone `from` may open connections to services in zone `to`,
/// through the firewall service `via` (which sits in both), for the listed endpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    pub from: String,
    pub to: String,
    pub via: String,
    /// Path prefixes the route allows (`/records` allows `/records/orders`); empty: any path.
    #[serde(default)]
    pub endpoints: Vec<String>,
}

impl Route {
    /// Whether the route allows a request for `endpoint`, as labd's firewall decides: any
    /// path when it lists no endpoint; else a listed prefix on a segment boundary (`/records`
    /// allows `/records/x` and `/records`, not `/recordsx`), and never a path with a `.` or
    /// `..` segment (`/records/../admin` is not under `/records`).
    pub fn allows(&self, endpoint: &str) -> bool {
        if self.endpoints.is_empty() {
            return true;
        }
        let path = endpoint.split('?').next().unwrap_or(endpoint);
        let dotted = path.split('/').any(|segment| {
            let decoded = segment.to_ascii_lowercase().replace("%2e", ".");
            decoded == "." || decoded == ".."
        });
        !dotted
            && self
                .endpoints
                .iter()
                .any(|prefix| match path.strip_prefix(prefix.as_str()) {
                    None => false,
                    Some(rest) => rest.is_empty() || rest.starts_with('/') || prefix.ends_with('/'),
                })
    }
}

/// A trust zone: one internal network per zone in a real lab.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Zone {
    pub id: String,
    pub title: String,
    /// The zone outside the company (where attackers come from); it still has no route out.
    #[serde(default)]
    pub outside: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Role {
    Gateway,
    Web,
    Datastore,
    Worker,
    Traffic,
    Attacker,
    /// Sits in several zones and relays what their routes allow, logging every crossing.
    Firewall,
}

impl Role {
    pub fn label(self) -> &'static str {
        match self {
            Role::Gateway => "gateway",
            Role::Web => "web",
            Role::Datastore => "datastore",
            Role::Worker => "worker",
            Role::Traffic => "traffic",
            Role::Attacker => "attacker",
            Role::Firewall => "firewall",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Criticality {
    Low,
    Medium,
    High,
}

/// What a service is allowed to use: the hardened default a real lab enforces.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    pub cpu_cores: f32,
    pub memory_mib: u32,
    pub pids: u32,
}

impl Limits {
    /// Whether a container uses more than it should: how both backends judge a hostile job
    /// (a hog succeeds while this holds). CPU gets 10 % of slack for sampling noise.
    pub fn exceeded_by(&self, cpu_pct: f32, memory_mib: f32, pids: u32) -> bool {
        cpu_pct > self.cpu_cores * 100.0 * 1.1
            || memory_mib > self.memory_mib as f32
            || pids > self.pids
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub id: String,
    pub title: String,
    pub role: Role,
    /// Zones the service joins; the first is its home zone.
    pub zones: Vec<String>,
    pub limits: Limits,
    pub criticality: Criticality,
    /// Identity id of the owner (who to ask before touching it).
    pub owner: String,
    /// Free tags rules can match, such as `production`.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Part of the range's machinery (traffic generator, attacker), not of the company:
    /// hidden from the trainee's map and never a mitigation target.
    #[serde(default)]
    pub range_only: bool,
    /// The next hop of a request: the web tier a gateway forwards to, the datastore a web tier
    /// reads from. Optional where the topology has one service of that role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum IdentityKind {
    Employee,
    Contractor,
    ServiceAccount,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    pub id: String,
    pub name: String,
    pub title: String,
    pub kind: IdentityKind,
    #[serde(default)]
    pub admin: bool,
    /// Declared working hours, `(start, end)` in 0..=24, local time.
    pub work_hours: (u8, u8),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Sensitivity {
    Public,
    Internal,
    Restricted,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dataset {
    pub id: String,
    pub title: String,
    pub records: u32,
    pub sensitivity: Sensitivity,
    /// The datastore that holds it. Optional where the topology has one datastore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
}

impl Topology {
    pub fn service(&self, id: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.id == id)
    }

    pub fn identity(&self, id: &str) -> Option<&Identity> {
        self.identities.iter().find(|i| i.id == id)
    }

    pub fn dataset(&self, id: &str) -> Option<&Dataset> {
        self.datasets.iter().find(|d| d.id == id)
    }

    pub fn zone(&self, id: &str) -> Option<&Zone> {
        self.zones.iter().find(|z| z.id == id)
    }

    /// The services of one role (gateway, web, ...), in declaration order.
    pub fn services_with_role(&self, role: Role) -> impl Iterator<Item = &Service> {
        self.services.iter().filter(move |s| s.role == role)
    }

    /// The one service of a role, or `None` when there are none or several.
    pub fn only(&self, role: Role) -> Option<&Service> {
        let mut all = self.services_with_role(role);
        let first = all.next()?;
        all.next().is_none().then_some(first)
    }

    /// The next hop of a gateway (its web tier) or a web tier (its datastore): the declared
    /// `upstream`, else the only service of the next role. `None` for other roles, and where
    /// that is ambiguous (the validator asks for `upstream` there).
    pub fn upstream_of(&self, service: &Service) -> Option<&Service> {
        let next = match service.role {
            Role::Gateway => Role::Web,
            Role::Web => Role::Datastore,
            _ => return None,
        };
        match &service.upstream {
            Some(id) => self.service(id).filter(|s| s.role == next),
            None => self.only(next),
        }
    }

    /// The web tier a request through the front door goes to: `via`, else the only web tier.
    pub fn web_tier(&self, via: Option<&str>) -> Option<&Service> {
        match via {
            Some(id) => self.service(id).filter(|s| s.role == Role::Web),
            None => self.only(Role::Web),
        }
    }

    /// The gateway in front of a web tier (the first whose upstream it is).
    pub fn gateway_of(&self, web: &str) -> Option<&Service> {
        self.services_with_role(Role::Gateway)
            .find(|g| self.upstream_of(g).is_some_and(|u| u.id == web))
    }

    /// The way in for a request to web tier `via`: `(gateway, web tier)`.
    pub fn front_door(&self, via: Option<&str>) -> Option<(&Service, &Service)> {
        let web = self.web_tier(via)?;
        Some((self.gateway_of(&web.id)?, web))
    }

    /// The datastore that holds a dataset: its declared `store`, else the only datastore.
    pub fn store_of(&self, dataset: &Dataset) -> Option<&Service> {
        match &dataset.store {
            Some(id) => self.service(id).filter(|s| s.role == Role::Datastore),
            None => self.only(Role::Datastore),
        }
    }

    pub fn condition(&self, id: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.id == id).map(|c| &c.when)
    }
}
