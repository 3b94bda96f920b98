//! What a lab shows: per-container resource metrics and log events, in session time.

use serde::{Deserialize, Serialize};

/// Session time in milliseconds since the session started (end of briefing).
pub type Millis = u64;

/// Something a defender can point at: a container, an account, a network source or a trust
/// zone (what a segmentation closes the way out of).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EntityRef {
    Service(String),
    Identity(String),
    Source(String),
    Zone(String),
}

impl EntityRef {
    pub fn name(&self) -> &str {
        match self {
            EntityRef::Service(s)
            | EntityRef::Identity(s)
            | EntityRef::Source(s)
            | EntityRef::Zone(s) => s,
        }
    }

    pub fn kind_label(&self) -> &'static str {
        match self {
            EntityRef::Service(_) => "service",
            EntityRef::Identity(_) => "identity",
            EntityRef::Source(_) => "source",
            EntityRef::Zone(_) => "zone",
        }
    }
}

impl std::fmt::Display for EntityRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind_label(), self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    pub t_ms: Millis,
    pub body: ObservationBody,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObservationBody {
    Metrics(Metrics),
    Event(LogEvent),
}

/// One resource sample of one container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub service: String,
    /// Percent of one core (200 = two cores busy).
    pub cpu_pct: f32,
    pub memory_mib: f32,
    pub pids: u32,
    pub net_rx_kbps: f32,
    pub net_tx_kbps: f32,
}

/// The metrics the detector learns a baseline for, per service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    Cpu,
    Memory,
    Pids,
    NetRx,
    NetTx,
    /// Requests per second reaching a service (from its request log or the gateway's flow log).
    RequestRate,
    /// Records read per minute by one identity.
    RecordsPerMinute,
    /// Requests per second from one source through the gateway.
    SourceRate,
}

impl MetricKind {
    pub const RESOURCES: [MetricKind; 5] = [
        MetricKind::Cpu,
        MetricKind::Memory,
        MetricKind::Pids,
        MetricKind::NetRx,
        MetricKind::NetTx,
    ];

    pub fn label(self) -> &'static str {
        match self {
            MetricKind::Cpu => "CPU %",
            MetricKind::Memory => "memory MiB",
            MetricKind::Pids => "pids",
            MetricKind::NetRx => "net rx kB/s",
            MetricKind::NetTx => "net tx kB/s",
            MetricKind::RequestRate => "requests/s",
            MetricKind::RecordsPerMinute => "records/min",
            MetricKind::SourceRate => "requests/s from source",
        }
    }

    pub fn of(self, m: &Metrics) -> f32 {
        match self {
            MetricKind::Cpu => m.cpu_pct,
            MetricKind::Memory => m.memory_mib,
            MetricKind::Pids => m.pids as f32,
            MetricKind::NetRx => m.net_rx_kbps,
            MetricKind::NetTx => m.net_tx_kbps,
            _ => 0.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CredentialChange {
    Created,
    Revoked,
    /// A password replaced by the admin (a fix of a default password): the old one no longer
    /// logs in, and the account's sessions ended.
    Rotated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LifecycleState {
    Started,
    Stopped,
    Paused,
    Unpaused,
    Isolated,
    Reconnected,
    Capped,
    OomKilled,
    Died,
    /// The lab started it again after it died with no cause the range knows of (killed from
    /// outside, a crash): not the trainee's doing, nor the scenario's.
    Restored,
}

/// A log line from a service, or a container event from the engine that runs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "event")]
pub enum LogEvent {
    Login {
        service: String,
        identity: String,
        source: String,
        ok: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        trace: Option<u64>,
    },
    Request {
        service: String,
        identity: Option<String>,
        source: String,
        endpoint: String,
        status: u16,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        trace: Option<u64>,
    },
    DataAccess {
        service: String,
        identity: String,
        source: String,
        dataset: String,
        records: u32,
        ok: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        trace: Option<u64>,
    },
    Exec {
        service: String,
        identity: String,
        command: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        trace: Option<u64>,
    },
    Credential {
        service: String,
        identity: String,
        by: String,
        credential: String,
        change: CredentialChange,
        source: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        trace: Option<u64>,
    },
    /// Aggregated gateway flow log: one per second per source with traffic.
    Flow {
        service: String,
        source: String,
        upstream: String,
        requests: u32,
        denied: u32,
        errors: u32,
    },
    Lifecycle {
        service: String,
        state: LifecycleState,
    },
    /// One connection attempt from a service in one zone to a service in another, logged by
    /// the firewall between them (`service`): lateral movement made visible.
    Crossing {
        service: String,
        /// The service the connection came from, as the pivoting container names itself.
        from: String,
        /// The zone it came from: the firewall knows it by the network the connection used,
        /// never by what the client says.
        from_zone: String,
        /// The service it asked for.
        to: String,
        /// `None` when the firewall could not find the target on any of its zones.
        to_zone: Option<String>,
        endpoint: String,
        /// What the client tried to carry across (a request body; 0 for a plain request).
        #[serde(default)]
        bytes: u64,
        allowed: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        trace: Option<u64>,
    },
}

/// Which kind of log event, for rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventKind {
    Login,
    Request,
    DataAccess,
    Exec,
    Credential,
    Flow,
    Lifecycle,
    Crossing,
}

impl EventKind {
    pub const ALL: [EventKind; 8] = [
        EventKind::Login,
        EventKind::Request,
        EventKind::DataAccess,
        EventKind::Exec,
        EventKind::Credential,
        EventKind::Flow,
        EventKind::Lifecycle,
        EventKind::Crossing,
    ];
}

impl LogEvent {
    pub fn kind(&self) -> EventKind {
        match self {
            LogEvent::Login { .. } => EventKind::Login,
            LogEvent::Request { .. } => EventKind::Request,
            LogEvent::DataAccess { .. } => EventKind::DataAccess,
            LogEvent::Exec { .. } => EventKind::Exec,
            LogEvent::Credential { .. } => EventKind::Credential,
            LogEvent::Flow { .. } => EventKind::Flow,
            LogEvent::Lifecycle { .. } => EventKind::Lifecycle,
            LogEvent::Crossing { .. } => EventKind::Crossing,
        }
    }

    pub fn service(&self) -> &str {
        match self {
            LogEvent::Login { service, .. }
            | LogEvent::Request { service, .. }
            | LogEvent::DataAccess { service, .. }
            | LogEvent::Exec { service, .. }
            | LogEvent::Credential { service, .. }
            | LogEvent::Flow { service, .. }
            | LogEvent::Lifecycle { service, .. }
            | LogEvent::Crossing { service, .. } => service,
        }
    }

    /// The service that acted: the one a crossing came from, else the one that logged.
    pub fn acting_service(&self) -> &str {
        match self {
            LogEvent::Crossing { from, .. } => from,
            other => other.service(),
        }
    }

    pub fn identity(&self) -> Option<&str> {
        match self {
            LogEvent::Login { identity, .. }
            | LogEvent::DataAccess { identity, .. }
            | LogEvent::Exec { identity, .. }
            | LogEvent::Credential { identity, .. } => Some(identity),
            LogEvent::Request { identity, .. } => identity.as_deref(),
            LogEvent::Flow { .. } | LogEvent::Lifecycle { .. } | LogEvent::Crossing { .. } => None,
        }
    }

    pub fn source(&self) -> Option<&str> {
        match self {
            LogEvent::Login { source, .. }
            | LogEvent::Request { source, .. }
            | LogEvent::DataAccess { source, .. }
            | LogEvent::Credential { source, .. }
            | LogEvent::Flow { source, .. } => Some(source),
            LogEvent::Exec { .. } | LogEvent::Lifecycle { .. } | LogEvent::Crossing { .. } => None,
        }
    }

    pub fn trace(&self) -> Option<u64> {
        match self {
            LogEvent::Login { trace, .. }
            | LogEvent::Request { trace, .. }
            | LogEvent::DataAccess { trace, .. }
            | LogEvent::Exec { trace, .. }
            | LogEvent::Credential { trace, .. }
            | LogEvent::Crossing { trace, .. } => *trace,
            LogEvent::Flow { .. } | LogEvent::Lifecycle { .. } => None,
        }
    }

    /// One line a person can read in a log panel.
    pub fn summary(&self) -> String {
        match self {
            LogEvent::Login {
                identity,
                source,
                ok,
                ..
            } => format!(
                "login {identity} from {source}: {}",
                if *ok { "ok" } else { "failed" }
            ),
            LogEvent::Request {
                identity,
                source,
                endpoint,
                status,
                ..
            } => format!(
                "{} {endpoint} from {source} -> {status}",
                identity.as_deref().unwrap_or("anonymous")
            ),
            LogEvent::DataAccess {
                identity,
                dataset,
                records,
                ok,
                source,
                ..
            } => format!(
                "{identity} read {records} records of {dataset} from {source}{}",
                if *ok { "" } else { " (denied)" }
            ),
            LogEvent::Exec {
                identity, command, ..
            } => format!("exec by {identity}: {command}"),
            LogEvent::Credential {
                identity,
                by,
                credential,
                change,
                ..
            } => format!("{credential} of {identity} {change:?} by {by}").to_lowercase(),
            LogEvent::Flow {
                source,
                upstream,
                requests,
                denied,
                errors,
                ..
            } => format!(
                "flow {source} -> {upstream}: {requests} req, {denied} denied, {errors} errors"
            ),
            LogEvent::Lifecycle {
                state: LifecycleState::Restored,
                ..
            } => "container restored by the lab: it died with no cause the range knows of".into(),
            LogEvent::Lifecycle { state, .. } => format!("container {state:?}").to_lowercase(),
            LogEvent::Crossing {
                from,
                from_zone,
                to,
                to_zone,
                endpoint,
                bytes,
                allowed,
                ..
            } => format!(
                "{from} ({from_zone}) -> {to} ({}) {endpoint}{}: {}",
                to_zone.as_deref().unwrap_or("in no zone"),
                if *bytes > 0 {
                    format!(", {bytes} bytes")
                } else {
                    String::new()
                },
                if *allowed { "allowed" } else { "denied" }
            ),
        }
    }
}
