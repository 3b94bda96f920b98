//! What happens to a lab: actions (attack steps, benign traffic, decoys), the trainee's commands
//! and mitigations, the effects a session asks a lab to carry out and their outcomes.

use serde::{Deserialize, Serialize};

use crate::observation::{EntityRef, Millis};

/// Something a user, an intruder or a job does in the lab.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Action {
    Login {
        identity: String,
        source: String,
    },
    /// An authenticated request to a web endpoint (anonymous when `identity` is `None`).
    Request {
        identity: Option<String>,
        source: String,
        endpoint: String,
    },
    ReadData {
        identity: String,
        source: String,
        dataset: String,
        records: u32,
    },
    /// Create an API key for the identity (persistence when an intruder does it).
    CreateKey {
        identity: String,
        source: String,
    },
    /// An interactive exec session into a container.
    Exec {
        service: String,
        identity: String,
        command: String,
    },
    /// Burn CPU, memory and pids in a container for a while.
    Hog {
        service: String,
        cpu_workers: u32,
        memory_mib: u32,
        threads: u32,
        seconds: u32,
    },
    /// The benign nightly backup: a moderate CPU and memory burst.
    Backup {
        service: String,
        seconds: u32,
    },
    /// Anonymous requests at a high rate through the gateway.
    Flood {
        source: String,
        rps: u32,
        seconds: u32,
        endpoint: String,
    },
}

impl Action {
    /// Every entity the action involves, for attributing alerts to what caused them.
    pub fn entities(&self) -> Vec<EntityRef> {
        let id = |s: &String| EntityRef::Identity(s.clone());
        let src = |s: &String| EntityRef::Source(s.clone());
        let svc = |s: &String| EntityRef::Service(s.clone());
        match self {
            Action::Login { identity, source }
            | Action::CreateKey { identity, source }
            | Action::ReadData {
                identity, source, ..
            } => vec![id(identity), src(source)],
            Action::Request {
                identity, source, ..
            } => identity
                .iter()
                .map(id)
                .chain(std::iter::once(src(source)))
                .collect(),
            Action::Exec {
                service, identity, ..
            } => vec![svc(service), id(identity)],
            Action::Hog { service, .. } | Action::Backup { service, .. } => vec![svc(service)],
            Action::Flood { source, .. } => vec![src(source)],
        }
    }

    /// How long the action keeps running, in seconds (0 for a single request).
    pub fn duration_s(&self) -> u32 {
        match self {
            Action::Hog { seconds, .. }
            | Action::Backup { seconds, .. }
            | Action::Flood { seconds, .. } => *seconds,
            _ => 0,
        }
    }

    pub fn summary(&self) -> String {
        match self {
            Action::Login { identity, source } => format!("log in as {identity} from {source}"),
            Action::Request {
                identity,
                source,
                endpoint,
            } => format!(
                "request {endpoint} as {} from {source}",
                identity.as_deref().unwrap_or("anonymous")
            ),
            Action::ReadData {
                identity,
                dataset,
                records,
                source,
            } => format!("read {records} records of {dataset} as {identity} from {source}"),
            Action::CreateKey { identity, source } => {
                format!("create an API key for {identity} from {source}")
            }
            Action::Exec {
                service,
                identity,
                command,
            } => format!("exec `{command}` in {service} as {identity}"),
            Action::Hog {
                service,
                cpu_workers,
                memory_mib,
                threads,
                seconds,
            } => format!(
                "hog {service}: {cpu_workers} cpu workers, {memory_mib} MiB, {threads} threads for {seconds} s"
            ),
            Action::Backup { service, seconds } => {
                format!("backup job on {service} for {seconds} s")
            }
            Action::Flood {
                source,
                rps,
                seconds,
                endpoint,
            } => format!("flood {endpoint} from {source} at {rps} req/s for {seconds} s"),
        }
    }
}

/// A defensive action the trainee (or the bot) takes against the lab.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Mitigation {
    /// Disconnect a container from all its networks.
    Isolate {
        service: String,
    },
    Reconnect {
        service: String,
    },
    /// Lower a container's resource limits (any that are `None` stay as they are).
    Cap {
        service: String,
        cpu_cores: Option<f32>,
        memory_mib: Option<u32>,
        pids: Option<u32>,
    },
    Pause {
        service: String,
    },
    Unpause {
        service: String,
    },
    Stop {
        service: String,
    },
    Restart {
        service: String,
    },
    /// Revoke an identity's password, sessions and API keys.
    Revoke {
        identity: String,
    },
    /// Block a source at the gateway.
    Block {
        source: String,
    },
    Unblock {
        source: String,
    },
}

impl Mitigation {
    pub fn target(&self) -> EntityRef {
        match self {
            Mitigation::Isolate { service }
            | Mitigation::Reconnect { service }
            | Mitigation::Cap { service, .. }
            | Mitigation::Pause { service }
            | Mitigation::Unpause { service }
            | Mitigation::Stop { service }
            | Mitigation::Restart { service } => EntityRef::Service(service.clone()),
            Mitigation::Revoke { identity } => EntityRef::Identity(identity.clone()),
            Mitigation::Block { source } | Mitigation::Unblock { source } => {
                EntityRef::Source(source.clone())
            }
        }
    }

    /// Whether this undoes an earlier mitigation rather than restricting something.
    pub fn is_undo(&self) -> bool {
        matches!(
            self,
            Mitigation::Reconnect { .. } | Mitigation::Unpause { .. } | Mitigation::Unblock { .. }
        )
    }

    /// Whether it interrupts what a service does for everyone (asks for confirmation in the game).
    pub fn is_disruptive(&self) -> bool {
        matches!(
            self,
            Mitigation::Isolate { .. }
                | Mitigation::Pause { .. }
                | Mitigation::Stop { .. }
                | Mitigation::Restart { .. }
                | Mitigation::Revoke { .. }
        )
    }

    pub fn verb(&self) -> &'static str {
        match self {
            Mitigation::Isolate { .. } => "isolate",
            Mitigation::Reconnect { .. } => "reconnect",
            Mitigation::Cap { .. } => "cap",
            Mitigation::Pause { .. } => "pause",
            Mitigation::Unpause { .. } => "unpause",
            Mitigation::Stop { .. } => "stop",
            Mitigation::Restart { .. } => "restart",
            Mitigation::Revoke { .. } => "revoke",
            Mitigation::Block { .. } => "block",
            Mitigation::Unblock { .. } => "unblock",
        }
    }

    pub fn summary(&self) -> String {
        match self {
            Mitigation::Cap {
                service,
                cpu_cores,
                memory_mib,
                pids,
            } => {
                let mut parts = Vec::new();
                if let Some(c) = cpu_cores {
                    parts.push(format!("{c} cores"));
                }
                if let Some(m) = memory_mib {
                    parts.push(format!("{m} MiB"));
                }
                if let Some(p) = pids {
                    parts.push(format!("{p} pids"));
                }
                format!("cap {service} to {}", parts.join(", "))
            }
            other => format!("{} {}", other.verb(), other.target().name()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Incident,
    Benign,
}

/// What the trainee does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Command {
    /// Decide whether an alert is part of an incident.
    Triage {
        alert: u32,
        verdict: Verdict,
    },
    /// Name an entity as involved in the attack (the intruder's source, a compromised account).
    Attribute {
        entity: EntityRef,
    },
    Mitigate(Mitigation),
    /// Ask for the next hint (it costs points).
    Hint,
}

/// Who caused an effect: kept in the record for scoring, never shown to the detector.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    Benign,
    Attack { step: String },
    Decoy { step: String },
    Defender,
}

impl Origin {
    pub fn is_attack(&self) -> bool {
        matches!(self, Origin::Attack { .. })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EffectKind {
    Act(Action),
    Mitigate(Mitigation),
}

/// Something the session asks the lab to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Effect {
    /// Unique in the session; travels as the request id so log lines can be traced back.
    pub id: u64,
    pub origin: Origin,
    pub kind: EffectKind,
}

/// The result of one attempt of an effect, as the actor saw it (ground truth, not telemetry).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub t_ms: Millis,
    pub effect: u64,
    pub ok: bool,
    /// Records obtained (data reads), or requests answered (floods).
    #[serde(default)]
    pub records: u32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}
