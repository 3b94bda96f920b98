//! What happens to a lab: actions (attack steps, benign traffic, decoys), the trainee's commands
//! and mitigations, the effects a session asks a lab to carry out and their outcomes.

use serde::{Deserialize, Serialize};

use crate::observation::{EntityRef, Millis};
use crate::posture::WeaknessKind;

/// Something a user, an intruder or a job does in the lab.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Action {
    Login {
        identity: String,
        source: String,
        /// The web tier it goes to, through the gateway in front of it (optional where the
        /// topology has one web tier).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        via: Option<String>,
    },
    /// An authenticated request to a web endpoint (anonymous when `identity` is `None`).
    Request {
        identity: Option<String>,
        source: String,
        endpoint: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        via: Option<String>,
    },
    ReadData {
        identity: String,
        source: String,
        dataset: String,
        records: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        via: Option<String>,
    },
    /// Create an API key for the identity (persistence when an intruder does it).
    CreateKey {
        identity: String,
        source: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        via: Option<String>,
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
    Backup { service: String, seconds: u32 },
    /// Anonymous requests at a high rate through the gateway.
    Flood {
        source: String,
        rps: u32,
        seconds: u32,
        endpoint: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        via: Option<String>,
    },
    /// Code running in `from` opens a connection to `to` and asks for `endpoint`: directly
    /// over a zone they share, else through the firewall between their zones (see `reach`).
    Pivot {
        from: String,
        to: String,
        endpoint: String,
    },
    /// Code running in `from` tries every other service of `zone` (`GET /`), as a port scan
    /// would; it succeeds when at least one answers.
    Scan { from: String, zone: String },
    /// Code running in `from` tries to send `bytes` to an address outside the lab (`POST` to
    /// `to`, port 443), through the firewall of its zone where there is one. Lab networks have
    /// no route out, so it always fails: the attempt, seen at a firewall, is the evidence.
    Exfiltrate {
        from: String,
        to: String,
        bytes: u32,
    },
}

/// The path and port an exfiltration posts to.
pub const EXFILTRATION_PATH: &str = "/upload";
pub const EXFILTRATION_PORT: u16 = 443;

impl Action {
    /// Every entity the action involves, for attributing alerts to what caused them.
    pub fn entities(&self) -> Vec<EntityRef> {
        let id = |s: &String| EntityRef::Identity(s.clone());
        let src = |s: &String| EntityRef::Source(s.clone());
        let svc = |s: &String| EntityRef::Service(s.clone());
        match self {
            Action::Login {
                identity, source, ..
            }
            | Action::CreateKey {
                identity, source, ..
            }
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
            Action::Pivot { from, to, .. } => vec![svc(from), svc(to)],
            Action::Scan { from, .. } => vec![svc(from)],
            Action::Exfiltrate { from, to, .. } => vec![svc(from), src(to)],
        }
    }

    /// The web tier named by an action through the front door (`None`: the only one, or an
    /// action that does not go through the front door).
    pub fn via(&self) -> Option<&str> {
        match self {
            Action::Login { via, .. }
            | Action::Request { via, .. }
            | Action::ReadData { via, .. }
            | Action::CreateKey { via, .. }
            | Action::Flood { via, .. } => via.as_deref(),
            _ => None,
        }
    }

    /// Whether the action comes in through a gateway to a web tier.
    pub fn through_front_door(&self) -> bool {
        matches!(
            self,
            Action::Login { .. }
                | Action::Request { .. }
                | Action::ReadData { .. }
                | Action::CreateKey { .. }
                | Action::Flood { .. }
        )
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
            Action::Login {
                identity, source, ..
            } => format!("log in as {identity} from {source}"),
            Action::Request {
                identity,
                source,
                endpoint,
                ..
            } => format!(
                "request {endpoint} as {} from {source}",
                identity.as_deref().unwrap_or("anonymous")
            ),
            Action::ReadData {
                identity,
                dataset,
                records,
                source,
                ..
            } => format!("read {records} records of {dataset} as {identity} from {source}"),
            Action::CreateKey {
                identity, source, ..
            } => {
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
                ..
            } => format!("flood {endpoint} from {source} at {rps} req/s for {seconds} s"),
            Action::Pivot { from, to, endpoint } => format!("from {from}, reach {to} {endpoint}"),
            Action::Scan { from, zone } => format!("from {from}, scan zone {zone}"),
            Action::Exfiltrate { from, to, bytes } => {
                format!("from {from}, send {bytes} bytes to {to}")
            }
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
    /// Close the route from one zone to another at every firewall between them.
    Segment {
        from_zone: String,
        to_zone: String,
    },
    Unsegment {
        from_zone: String,
        to_zone: String,
    },
    /// Disconnect a container from one zone's network, leaving it in its other zones: a
    /// narrower cut than isolation (a tier that bridges two zones keeps serving one).
    Detach {
        service: String,
        zone: String,
    },
    /// Connect it to that zone's network again.
    Attach {
        service: String,
        zone: String,
    },
    /// Fix a weakness of the service's posture, as the audit found it: set its limits, rotate
    /// an account's password, or recreate its container from a corrected spec (see
    /// `WeaknessKind::fix`).
    Fix {
        service: String,
        weakness: WeaknessKind,
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
            | Mitigation::Restart { service }
            | Mitigation::Detach { service, .. }
            | Mitigation::Attach { service, .. }
            | Mitigation::Fix { service, .. } => EntityRef::Service(service.clone()),
            Mitigation::Revoke { identity } => EntityRef::Identity(identity.clone()),
            Mitigation::Block { source } | Mitigation::Unblock { source } => {
                EntityRef::Source(source.clone())
            }
            Mitigation::Segment { from_zone, .. } | Mitigation::Unsegment { from_zone, .. } => {
                EntityRef::Zone(from_zone.clone())
            }
        }
    }

    /// Whether this undoes an earlier mitigation rather than restricting something.
    pub fn is_undo(&self) -> bool {
        matches!(
            self,
            Mitigation::Reconnect { .. }
                | Mitigation::Unpause { .. }
                | Mitigation::Unblock { .. }
                | Mitigation::Unsegment { .. }
                | Mitigation::Attach { .. }
        )
    }

    /// Whether it treats its target as part of an incident: not an undo, and not a fix (which
    /// hardens a service whatever it did).
    pub fn accuses(&self) -> bool {
        !self.is_undo() && !matches!(self, Mitigation::Fix { .. })
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
                | Mitigation::Segment { .. }
                | Mitigation::Detach { .. }
        ) || matches!(self, Mitigation::Fix { weakness, .. } if weakness.recreates())
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
            Mitigation::Segment { .. } => "segment",
            Mitigation::Unsegment { .. } => "unsegment",
            Mitigation::Detach { .. } => "detach",
            Mitigation::Attach { .. } => "attach",
            Mitigation::Fix { .. } => "fix",
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
            Mitigation::Segment { from_zone, to_zone } => {
                format!("segment {from_zone} from {to_zone}")
            }
            Mitigation::Unsegment { from_zone, to_zone } => {
                format!("reopen the route from {from_zone} to {to_zone}")
            }
            Mitigation::Detach { service, zone } => format!("detach {service} from {zone}"),
            Mitigation::Attach { service, zone } => format!("attach {service} to {zone} again"),
            Mitigation::Fix { service, weakness } => format!("fix {service}: {weakness}"),
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

impl Verdict {
    /// The word a trainee (and a defender file) writes: `incident` or `benign`.
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Incident => "incident",
            Verdict::Benign => "benign",
        }
    }
}

/// Which alert a triage is about: its number as the trainee sees it, or, for scripts (alert
/// numbers depend on the seed), what an analyst would write down: the first alert of a rule
/// about an entity. In RON: `alert: 3` or `alert: Match(rule: "novelty.source", entity:
/// Identity("alice"))`. The session resolves a match to a number before it is recorded.
#[derive(Debug, Clone, PartialEq)]
pub enum AlertRef {
    Id(u32),
    Match { rule: String, entity: EntityRef },
}

impl AlertRef {
    /// The alert's number, once resolved.
    pub fn id(&self) -> Option<u32> {
        match self {
            AlertRef::Id(id) => Some(*id),
            AlertRef::Match { .. } => None,
        }
    }
}

impl From<u32> for AlertRef {
    fn from(id: u32) -> Self {
        AlertRef::Id(id)
    }
}

impl std::fmt::Display for AlertRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AlertRef::Id(id) => write!(f, "#{id}"),
            AlertRef::Match { rule, entity } => write!(f, "the first {rule} alert about {entity}"),
        }
    }
}

impl Serialize for AlertRef {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        match self {
            AlertRef::Id(id) => serializer.serialize_u32(*id),
            AlertRef::Match { rule, entity } => {
                let mut s = serializer.serialize_struct("Match", 2)?;
                s.serialize_field("rule", rule)?;
                s.serialize_field("entity", entity)?;
                s.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for AlertRef {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(AlertRefVisitor)
    }
}

struct AlertRefVisitor;

impl<'de> serde::de::Visitor<'de> for AlertRefVisitor {
    type Value = AlertRef;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            "an alert number, or Match(rule: \"novelty.source\", entity: Identity(\"alice\"))",
        )
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<AlertRef, E> {
        u32::try_from(v)
            .map(AlertRef::Id)
            .map_err(|_| E::custom(format!("alert number {v} is out of range")))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<AlertRef, E> {
        u64::try_from(v)
            .map_err(|_| E::custom(format!("alert number {v} is negative")))
            .and_then(|v| self.visit_u64(v))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<AlertRef, A::Error> {
        use serde::de::Error;
        let (mut rule, mut entity) = (None, None);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "rule" => rule = Some(map.next_value::<String>()?),
                "entity" => entity = Some(map.next_value::<EntityRef>()?),
                other => {
                    return Err(A::Error::unknown_field(other, &["rule", "entity"]));
                }
            }
        }
        Ok(AlertRef::Match {
            rule: rule.ok_or_else(|| A::Error::missing_field("rule"))?,
            entity: entity.ok_or_else(|| A::Error::missing_field("entity"))?,
        })
    }

    fn visit_enum<A: serde::de::EnumAccess<'de>>(self, data: A) -> Result<AlertRef, A::Error> {
        use serde::de::{Error, VariantAccess};
        let (name, variant) = data.variant::<String>()?;
        match name.as_str() {
            "Match" => variant.struct_variant(&["rule", "entity"], AlertRefVisitor),
            "Id" => variant.newtype_variant::<u32>().map(AlertRef::Id),
            other => Err(A::Error::unknown_variant(other, &["Match", "Id"])),
        }
    }
}

/// What the trainee does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Command {
    /// Decide whether an alert is part of an incident.
    Triage {
        alert: AlertRef,
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

impl Command {
    /// A few words for refusals and the score card.
    pub fn summary(&self) -> String {
        match self {
            Command::Triage { alert, verdict } => {
                format!("triage {alert} as {}", verdict.word())
            }
            Command::Attribute { entity } => format!("attribute {entity}"),
            Command::Mitigate(m) => m.summary(),
            Command::Hint => "ask for a hint".into(),
        }
    }
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
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Outcome {
    pub t_ms: Millis,
    pub effect: u64,
    pub ok: bool,
    /// Records obtained (data reads), or requests answered (floods).
    #[serde(default)]
    pub records: u32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// Why a failed attempt failed, as the lab established it (`None` when it succeeded, or
    /// when nothing the lab can name stopped it). Scoring credits a trainee with containment
    /// only through a cause their own confirmed mitigation explains.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<Cause>,
}

/// Why an attempt failed. The variants that name an entity are the ones a mitigation can
/// cause; the others (overload, a refusal by the application itself, a fault of the lab) are
/// never credited to the trainee.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// The gateway refused the source: a block rule.
    Blocked { source: String },
    /// The web tier rejected the identity's credential because it had been revoked.
    Revoked { identity: String },
    /// A service on the path was disconnected from its networks.
    Isolated { service: String },
    /// A service on the path (or the one the job ran in) was paused.
    Paused { service: String },
    /// A service on the path (or the one the job ran in) was stopped or restarted.
    Stopped { service: String },
    /// The job ran but its container was held under the limits it was given.
    Capped { service: String },
    /// The job's container ran out of memory and was killed.
    OomKilled { service: String },
    /// A service on the path was too busy to answer (503, time-out): nobody's mitigation.
    Overloaded { service: String },
    /// The firewall refused the connection because the route from `from_zone` to `to_zone`
    /// was closed by a segmentation.
    Segmented { from_zone: String, to_zone: String },
    /// A service on the path was detached from the zone the connection needed.
    Detached { service: String, zone: String },
    /// No route leads there: the networks do not connect the two services, or the firewall
    /// between them has no route for it. The lab's design, nobody's mitigation.
    NoRoute,
    /// The step depends on a weakness of the service that the trainee's fix removed.
    Fixed {
        service: String,
        weakness: WeaknessKind,
    },
    /// The application refused the action for its own reasons (a wrong password, a forbidden
    /// endpoint, no credential to use): the attack's own failure.
    Refused,
    /// The lab could not carry the action out (no executor, a Docker error).
    Lab,
}

impl Cause {
    /// The entity a mitigation must have acted on to have caused this failure.
    pub fn entity(&self) -> Option<EntityRef> {
        match self {
            Cause::Blocked { source } => Some(EntityRef::Source(source.clone())),
            Cause::Revoked { identity } => Some(EntityRef::Identity(identity.clone())),
            Cause::Isolated { service }
            | Cause::Paused { service }
            | Cause::Stopped { service }
            | Cause::Capped { service }
            | Cause::OomKilled { service }
            | Cause::Detached { service, .. }
            | Cause::Fixed { service, .. } => Some(EntityRef::Service(service.clone())),
            Cause::Segmented { from_zone, .. } => Some(EntityRef::Zone(from_zone.clone())),
            Cause::Overloaded { .. } | Cause::NoRoute | Cause::Refused | Cause::Lab => None,
        }
    }

    /// Whether this mitigation explains this failure (same entity, a verb that does this).
    pub fn explained_by(&self, m: &Mitigation) -> bool {
        let verb_fits = match self {
            Cause::Blocked { .. } => matches!(m, Mitigation::Block { .. }),
            Cause::Revoked { .. } => matches!(m, Mitigation::Revoke { .. }),
            Cause::Isolated { .. } => matches!(m, Mitigation::Isolate { .. }),
            Cause::Paused { .. } => matches!(m, Mitigation::Pause { .. }),
            Cause::Stopped { .. } => {
                matches!(m, Mitigation::Stop { .. } | Mitigation::Restart { .. })
            }
            // A cap holds a job down; a memory cap is also what gets it OOM-killed, and a cap
            // that could only be applied by a restart stops the job.
            Cause::Capped { .. } | Cause::OomKilled { .. } => matches!(m, Mitigation::Cap { .. }),
            // The zone pair must match too: closing another way out of the zone did not.
            Cause::Segmented { to_zone, .. } => matches!(
                m,
                Mitigation::Segment { to_zone: closed, .. } if closed == to_zone
            ),
            // Detaching the service from another of its zones did not cut this path.
            Cause::Detached { zone, .. } => matches!(
                m,
                Mitigation::Detach { zone: cut, .. } if cut == zone
            ),
            Cause::Fixed { weakness, .. } => matches!(
                m,
                Mitigation::Fix { weakness: fixed, .. } if fixed == weakness
            ),
            Cause::Overloaded { .. } | Cause::NoRoute | Cause::Refused | Cause::Lab => false,
        };
        verb_fits && self.entity() == Some(m.target())
    }

    /// A few words for the score card and the record's readers.
    pub fn summary(&self) -> String {
        match self {
            Cause::Blocked { source } => format!("{source} blocked at the gateway"),
            Cause::Revoked { identity } => format!("{identity}'s credential revoked"),
            Cause::Isolated { service } => format!("{service} isolated"),
            Cause::Paused { service } => format!("{service} paused"),
            Cause::Stopped { service } => format!("{service} stopped"),
            Cause::Capped { service } => format!("{service} held under its cap"),
            Cause::OomKilled { service } => format!("{service} killed out of memory"),
            Cause::Overloaded { service } => format!("{service} overloaded"),
            Cause::Segmented { from_zone, to_zone } => {
                format!("the route from {from_zone} to {to_zone} closed")
            }
            Cause::Detached { service, zone } => format!("{service} detached from {zone}"),
            Cause::Fixed { service, weakness } => {
                format!("{service}'s weakness fixed ({weakness})")
            }
            Cause::NoRoute => "no route between the two zones".into(),
            Cause::Refused => "refused by the application".into(),
            Cause::Lab => "the lab could not carry it out".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alert_is_named_by_number_or_by_rule_and_entity_in_ron_and_json() {
        let by_number: Command = ron::from_str("Triage(alert: 3, verdict: incident)").unwrap();
        assert_eq!(
            by_number,
            Command::Triage {
                alert: AlertRef::Id(3),
                verdict: Verdict::Incident
            }
        );
        let text = r#"Triage(alert: Match(rule: "novelty.source", entity: Identity("alice")), verdict: benign)"#;
        let by_match: Command = ron::from_str(text).unwrap();
        let expected = Command::Triage {
            alert: AlertRef::Match {
                rule: "novelty.source".into(),
                entity: EntityRef::Identity("alice".into()),
            },
            verdict: Verdict::Benign,
        };
        assert_eq!(by_match, expected);
        for command in [by_number, by_match] {
            let json = serde_json::to_string(&command).unwrap();
            assert_eq!(serde_json::from_str::<Command>(&json).unwrap(), command);
            let ron_text = ron::to_string(&command).unwrap();
            assert_eq!(ron::from_str::<Command>(&ron_text).unwrap(), command);
        }
    }

    #[test]
    fn a_bad_alert_reference_is_an_error_not_a_panic() {
        for text in [
            "Triage(alert: -1, verdict: incident)",
            "Triage(alert: 99999999999, verdict: incident)",
            r#"Triage(alert: Match(rule: "x"), verdict: incident)"#,
            r#"Triage(alert: Match(rule: "x", entity: Identity("a"), extra: 1), verdict: incident)"#,
            r#"Triage(alert: "seven", verdict: incident)"#,
        ] {
            assert!(ron::from_str::<Command>(text).is_err(), "{text}");
        }
    }

    #[test]
    fn a_cause_is_explained_only_by_a_mitigation_of_its_kind_on_its_entity() {
        let blocked = Cause::Blocked {
            source: "1.2.3.4".into(),
        };
        assert!(blocked.explained_by(&Mitigation::Block {
            source: "1.2.3.4".into()
        }));
        assert!(!blocked.explained_by(&Mitigation::Block {
            source: "5.6.7.8".into()
        }));
        assert!(!blocked.explained_by(&Mitigation::Unblock {
            source: "1.2.3.4".into()
        }));
        let oom = Cause::OomKilled {
            service: "w".into(),
        };
        let cap = Mitigation::Cap {
            service: "w".into(),
            cpu_cores: None,
            memory_mib: Some(64),
            pids: None,
        };
        assert!(oom.explained_by(&cap));
        assert!(
            !Cause::Overloaded {
                service: "w".into()
            }
            .explained_by(&cap)
        );
    }
}
