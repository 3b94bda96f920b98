//! Scenario format: briefing, analyst context, benign traffic, attack timeline, decoys,
//! injects a mentor may fire, objectives with par values, hints and debrief.

use serde::{Deserialize, Serialize};

use super::rules::Rule;
use super::variants::Variants;
use crate::action::Action;
use crate::observation::EntityRef;
use crate::posture::{Finding, WeaknessKind, WeaknessRef};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub schema_version: u32,
    pub id: String,
    pub title: String,
    pub difficulty: Difficulty,
    /// Id of the lab topology (a file `labs/topologies/<id>.ron`).
    pub topology: String,
    pub lessons: Vec<Lesson>,
    pub briefing: String,
    pub context: Context,
    /// Deliberate weaknesses of this lab; everything else stays hardened.
    #[serde(default)]
    pub weaknesses: Vec<Weakness>,
    /// A hardening phase before the warm-up (none: the session starts with the warm-up). Left
    /// out of records when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardening: Option<Hardening>,
    pub timing: Timing,
    pub traffic: TrafficProfile,
    pub attack: Vec<Step>,
    pub decoys: Vec<Step>,
    /// Optional events a mentor may fire during the live phase (each at most once). None of
    /// them runs unless fired; the objectives stay as declared whether they fire or not.
    /// Left out of the record when empty, so records of scenarios without injects read the
    /// same everywhere.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub injects: Vec<Inject>,
    pub objectives: Objectives,
    pub hints: Vec<Hint>,
    pub debrief: String,
    /// Rules this scenario adds to the topology's.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// What differs from one seed to the next (see `variants`). A session plays the resolved
    /// scenario, which declares none; left out of records when empty.
    #[serde(default, skip_serializing_if = "Variants::is_empty")]
    pub variants: Variants,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Difficulty {
    Beginner,
    Intermediate,
    Advanced,
}

/// The lessons of DESIGN.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Lesson {
    Visibility,
    LayeredControls,
    LegitimateAccounts,
    DenialOfService,
    Reuse,
    Reduce,
    Remove,
    LoggingAndMonitoring,
}

impl Lesson {
    pub fn title(self) -> &'static str {
        match self {
            Lesson::Visibility => "Visibility: know the baseline, alert on the unexpected",
            Lesson::LayeredControls => "Layered controls: zones, firewalls, inspection",
            Lesson::LegitimateAccounts => "Legitimate accounts doing unexpected things",
            Lesson::DenialOfService => "Denial of service: one container starving its neighbours",
            Lesson::Reuse => "Reuse hardened images; no baked-in secrets",
            Lesson::Reduce => "Reduce: least access, capped resources",
            Lesson::Remove => "Remove what is not needed",
            Lesson::LoggingAndMonitoring => "Logging and monitoring with retention",
        }
    }
}

/// What an analyst on duty would know before anything happens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Context {
    /// Local time of day when the session starts, `(hour, minute)`.
    pub starts_at: (u8, u8),
    pub assets: Vec<AssetNote>,
    pub people: Vec<PersonNote>,
    /// Planned changes and announced unusual activity.
    pub calendar: Vec<CalendarEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetNote {
    pub service: String,
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonNote {
    pub identity: String,
    pub note: String,
}

/// A planned change: during `[from_s, to_s]` of live time, the listed entities may behave
/// unusually for the stated reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarEntry {
    pub from_s: u32,
    pub to_s: u32,
    pub entities: Vec<EntityRef>,
    pub text: String,
}

/// A weakness of a company service's posture, set up on the lab as declared: what a posture
/// audit of the running lab finds (`bulkhead_labs::audit`), no more and no less. None ever
/// gives a container access to the host (no privileged mode, no host namespace, path or socket).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Weakness {
    /// The service runs without cpu, memory and pids limits (CIS 5.11, 5.12, 5.29).
    NoLimits { service: String },
    /// Its root file system is writable (CIS 5.13).
    WritableRoot { service: String },
    /// It runs as root inside its container (CIS 4.1), with every capability still dropped.
    RunsAsRoot { service: String },
    /// These capabilities are added back (CIS 5.4): only ones whose reach ends at the
    /// container's own namespaces (`SAFE_CAPABILITIES`).
    ExtraCapabilities { service: String, caps: Vec<String> },
    /// A secret (generated per run) handed in this environment variable, readable by anyone
    /// who can inspect the container; the name says it is a secret (`DB_PASSWORD`).
    SecretInEnv { service: String, var: String },
    /// A secret (generated per run) baked into the service's image: a layer built on the lab
    /// image adds the file `path` holding `var=<secret>`, which anyone who can read the image
    /// (or run code in the container) reads (CIS 4.10).
    SecretInImage {
        service: String,
        path: String,
        var: String,
    },
    /// A tool the service does not use, left in its image by the build (CIS 4.3): an
    /// executable at `path` whose name is one an intruder reaches for (`TOOLS`). In the lab it
    /// is a stand-in that does nothing; the audit finds it in the image's layers.
    UnneededTool { service: String, path: String },
    /// A third-party script in the service's image that fetches code from `source` and runs it
    /// unverified (no checksum, no signature): `curl -fsSL <source> | sh`, as a vendor's install
    /// guide has it (CIS 4.11). In the lab it is a stand-in that never runs (no shell).
    UnverifiedScript {
        service: String,
        path: String,
        source: String,
    },
    /// The account `identity` at the web tier `service` still logs in with `password`, a
    /// vendor's factory default from `DEFAULT_PASSWORDS` (what an audit tries), not the
    /// password the run generates for it. An application's account, not the container's
    /// settings: no CIS Docker Benchmark item covers it.
    DefaultPassword {
        service: String,
        identity: String,
        password: String,
    },
    /// The web tier `service` answers its management endpoint under `path` (one of
    /// `MANAGEMENT_ENDPOINTS`) to anyone, without a login: a debug or admin console left on in
    /// production, which tells an outsider what runs and how it is configured.
    ExposedManagement { service: String, path: String },
}

/// Management endpoints that frameworks and servers ship turned on somewhere: what an audit of
/// a web tier asks about, and the only paths an `ExposedManagement` weakness may use.
pub const MANAGEMENT_ENDPOINTS: [&str; 4] = ["/actuator", "/debug", "/server-status", "/console"];

/// Vendors' factory passwords, as install guides print them: what an audit of a web tier's
/// accounts tries, and the only ones a `DefaultPassword` weakness may set.
pub const DEFAULT_PASSWORDS: [&str; 8] = [
    "admin", "password", "changeme", "default", "123456", "letmein", "welcome", "root",
];

/// The tools an audit of an image's layers reads as unneeded in a service container: what an
/// intruder uses to fetch, scan, tunnel or build (by file name, in any directory).
pub const TOOLS: [&str; 14] = [
    "curl", "wget", "nc", "ncat", "netcat", "socat", "nmap", "ssh", "scp", "telnet", "tcpdump",
    "gcc", "gdb", "strace",
];

/// The capabilities a weakness may add back: none reaches past the container's own
/// namespaces (no SYS_ADMIN, SYS_PTRACE, DAC_READ_SEARCH, NET_ADMIN, SYS_MODULE, ...).
pub const SAFE_CAPABILITIES: [&str; 8] = [
    "AUDIT_WRITE",
    "CHOWN",
    "FOWNER",
    "KILL",
    "NET_BIND_SERVICE",
    "NET_RAW",
    "SETGID",
    "SETUID",
];

/// Words in a variable's name that make a reviewer read it as a secret.
pub const SECRET_WORDS: [&str; 6] = [
    "PASSWORD",
    "PASSWD",
    "SECRET",
    "TOKEN",
    "API_KEY",
    "PRIVATE_KEY",
];

/// What an audit says of an account that logs in with a factory password: one wording for
/// the simulated lab and the Docker audit, which a test holds equal.
pub fn default_password_evidence(identity: &str) -> String {
    format!("account {identity} logs in with a vendor's default password")
}

/// What an audit says of a management endpoint left on, in the same words on both labs.
pub fn exposed_management_evidence(path: &str) -> String {
    format!("{path} answers anyone without a login: a management endpoint left on")
}

/// Whether a variable's name says it holds a secret (`DB_PASSWORD`): how an audit reads the
/// environment and a file's `NAME=value` lines. The range's own `LABD_` plumbing is not one.
pub fn names_a_secret(name: &str) -> bool {
    !name.starts_with("LABD_") && SECRET_WORDS.iter().any(|w| name.to_uppercase().contains(w))
}

impl Weakness {
    /// What a service relying on this weakness needs from its container, in labd's
    /// `LABD_NEEDS` words (`WeaknessKind::of_need` reads them back); none for the kinds a lab
    /// cannot hold a service to (`WeaknessKind::NEEDED`).
    pub fn needs(&self) -> Vec<String> {
        match self {
            Weakness::WritableRoot { .. } => vec!["writable-root".into()],
            Weakness::RunsAsRoot { .. } => vec!["root".into()],
            Weakness::ExtraCapabilities { caps, .. } => {
                caps.iter().map(|c| format!("cap:{c}")).collect()
            }
            Weakness::UnneededTool { path, .. } => vec![format!("tool:{path}")],
            _ => Vec::new(),
        }
    }

    /// The service it weakens.
    pub fn service(&self) -> &str {
        match self {
            Weakness::NoLimits { service }
            | Weakness::WritableRoot { service }
            | Weakness::RunsAsRoot { service }
            | Weakness::ExtraCapabilities { service, .. }
            | Weakness::SecretInEnv { service, .. }
            | Weakness::SecretInImage { service, .. }
            | Weakness::UnneededTool { service, .. }
            | Weakness::UnverifiedScript { service, .. }
            | Weakness::DefaultPassword { service, .. }
            | Weakness::ExposedManagement { service, .. } => service,
        }
    }

    pub fn kind(&self) -> WeaknessKind {
        match self {
            Weakness::NoLimits { .. } => WeaknessKind::NoLimits,
            Weakness::WritableRoot { .. } => WeaknessKind::WritableRoot,
            Weakness::RunsAsRoot { .. } => WeaknessKind::RunsAsRoot,
            Weakness::ExtraCapabilities { .. } => WeaknessKind::ExtraCapabilities,
            Weakness::SecretInEnv { .. } => WeaknessKind::SecretInEnv,
            Weakness::SecretInImage { .. } => WeaknessKind::SecretInImage,
            Weakness::UnneededTool { .. } => WeaknessKind::UnneededTool,
            Weakness::UnverifiedScript { .. } => WeaknessKind::UnverifiedScript,
            Weakness::DefaultPassword { .. } => WeaknessKind::DefaultPassword,
            Weakness::ExposedManagement { .. } => WeaknessKind::ExposedManagement,
        }
    }

    /// What a posture audit finds of it, worded as the Docker audit words what it sees.
    pub fn finding(&self) -> Finding {
        let evidence = match self {
            Weakness::NoLimits { .. } => "no memory limit; no CPU limit; no pids limit".into(),
            Weakness::WritableRoot { .. } => "root file system writable".into(),
            Weakness::RunsAsRoot { .. } => "runs as root".into(),
            Weakness::ExtraCapabilities { caps, .. } => {
                format!("capabilities added: {}", caps.join(", "))
            }
            Weakness::SecretInEnv { var, .. } => format!("secret in environment variable {var}"),
            Weakness::SecretInImage { path, var, .. } => {
                format!("secret {var} in {path}, baked into an image layer")
            }
            Weakness::UnneededTool { path, .. } => {
                format!("{path} in an image layer: a tool the service does not use")
            }
            Weakness::UnverifiedScript { path, source, .. } => {
                format!(
                    "{path} runs code fetched from {source}, unverified (no checksum, no signature)"
                )
            }
            Weakness::DefaultPassword { identity, .. } => default_password_evidence(identity),
            Weakness::ExposedManagement { path, .. } => exposed_management_evidence(path),
        };
        Finding {
            service: self.service().to_string(),
            weakness: self.kind(),
            cis: self.kind().cis().iter().map(|c| c.to_string()).collect(),
            evidence,
        }
    }

    /// Which service and kind: what steps, accepted risks and fixes name.
    pub fn of(&self) -> WeaknessRef {
        WeaknessRef {
            service: self.service().to_string(),
            weakness: self.kind(),
        }
    }
}

/// The hardening phase: before the warm-up, the trainee reviews the running lab's posture (a
/// real audit of it) and fixes what they judge worth fixing, within `budget_s` of session time.
///
/// ```ron
/// hardening: Some(Hardening(
///     budget_s: 120,
///     accepted: [
///         AcceptedRisk(service: "web", weakness: WritableRoot,
///             reason: "The storefront's plugin cache is written in place until the vendor's fix ships.",
///             breaks: "the storefront's plugins stop loading"),
///     ],
/// )),
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hardening {
    pub budget_s: u32,
    /// Weaknesses (declared in `weaknesses`) the business has accepted for a reason the trainee
    /// is told in the briefing: "fixing" one costs the business what `breaks` says.
    #[serde(default)]
    pub accepted: Vec<AcceptedRisk>,
    /// What fixing a real weakness costs the business, where the scenario says so (a tenant's
    /// job runs the tool the audit calls unneeded): still a fix worth making, at a price the
    /// card names.
    #[serde(default)]
    pub collateral: Vec<FixCollateral>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixCollateral {
    pub service: String,
    pub weakness: WeaknessKind,
    /// What stops working when it is fixed.
    pub breaks: String,
}

impl FixCollateral {
    pub fn of(&self) -> WeaknessRef {
        WeaknessRef {
            service: self.service.clone(),
            weakness: self.weakness,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceptedRisk {
    pub service: String,
    pub weakness: WeaknessKind,
    /// Why the business keeps it, as the trainee's context says.
    pub reason: String,
    /// What stops working for the business when it is "fixed" anyway.
    pub breaks: String,
}

impl Hardening {
    /// Session time a hardening phase takes (0 without one): the warm-up starts then.
    pub fn ms(hardening: Option<&Hardening>) -> u64 {
        hardening.map_or(0, |h| u64::from(h.budget_s) * 1000)
    }

    /// The risk the business accepted for this weakness, if it did.
    pub fn accepted(&self, weakness: &WeaknessRef) -> Option<&AcceptedRisk> {
        self.accepted.iter().find(|a| a.of() == *weakness)
    }

    /// What fixing this weakness costs, if the scenario declares a cost.
    pub fn collateral_of(&self, weakness: &WeaknessRef) -> Option<&FixCollateral> {
        self.collateral.iter().find(|c| c.of() == *weakness)
    }
}

impl AcceptedRisk {
    pub fn of(&self) -> WeaknessRef {
        WeaknessRef {
            service: self.service.clone(),
            weakness: self.weakness,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timing {
    /// Benign traffic only; the detector learns baselines.
    pub warmup_s: u32,
    /// Attack, decoys and the trainee's response.
    pub live_s: u32,
}

impl Timing {
    /// Session time the live phase starts at, after the hardening phase (if any) and the
    /// warm-up: one derivation for the scenario and the trainee's brief alike.
    pub fn live_start_ms(&self, hardening: Option<&Hardening>) -> u64 {
        Hardening::ms(hardening) + u64::from(self.warmup_s) * 1000
    }
}

/// Benign traffic, generated with the session's seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrafficProfile {
    pub users: Vec<BenignUser>,
    /// Anonymous storefront visitors.
    pub visitors: Visitors,
    /// Services' own connections to each other (a worker reading the datastore through the
    /// firewall): the crossings a baseline is made of. Left out of records when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub internal: Vec<InternalFlow>,
}

/// One service's habit of reaching another (a benign `Pivot`, a Poisson process).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InternalFlow {
    pub from: String,
    pub to: String,
    pub endpoint: String,
    pub per_minute: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BenignUser {
    pub identity: String,
    pub sources: Vec<String>,
    /// Actions per minute (a Poisson process).
    pub per_minute: f32,
    pub endpoints: Vec<String>,
    /// Datasets the user reads now and then, with the records per read `(min, max)`.
    #[serde(default)]
    pub reads: Vec<ReadHabit>,
    /// The web tier this user works in (optional where the topology has one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadHabit {
    pub dataset: String,
    pub records: (u32, u32),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Visitors {
    pub per_second: f32,
    pub sources: Vec<String>,
    pub endpoints: Vec<String>,
    /// The web tier they browse (optional where the topology has one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
}

/// One step of an attack or a decoy, at a time relative to the start of the live phase (in an
/// inject: to the moment it is fired).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub id: String,
    pub at_s: u32,
    /// Repeat every `every_s` until `until_s` (live time, or time since an inject fired); the
    /// attacker keeps trying.
    #[serde(default)]
    pub repeat: Option<Repeat>,
    pub action: Action,
    /// What the step means, shown in the debrief timeline.
    pub narrative: String,
    /// The weakness this step depends on: once the trainee has fixed it, every attempt fails
    /// without reaching the lab, and the record says why. Left out of records when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exploits: Option<WeaknessRef>,
}

/// A scripted turn of events a mentor may fire while the trainee is live: "the attacker
/// switches to a new source", "a second wave". Its steps are timed from the moment it is fired:
/// a step's `at_s`, and its `repeat.until_s`, are seconds after the firing, not live time.
/// Attack steps count as the attack wherever scoring looks at what the attacker did (their
/// alerts are true alerts); decoys count as decoys. Step ids are unique across the attack, the
/// decoys and every inject, so a record's step names its step alone.
///
/// ```ron
/// injects: [
///     Inject(
///         id: "new-source",
///         title: "Attacker switches to a new source",
///         description: "The same stolen identity logs in again from a second address.",
///         attack: [
///             Step(id: "new-source-login", at_s: 0,
///                 action: Login(identity: "alice", source: "198.51.100.77"),
///                 narrative: "The intruder comes back from a second address."),
///         ],
///     ),
/// ],
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inject {
    pub id: String,
    /// What the mentor sees on the button.
    pub title: String,
    /// What firing it will do, for the mentor (never shown to the trainee).
    pub description: String,
    /// Attack steps, timed from the firing.
    #[serde(default)]
    pub attack: Vec<Step>,
    /// Decoy steps, timed from the firing.
    #[serde(default)]
    pub decoys: Vec<Step>,
}

impl Inject {
    /// Every step of the inject, with whether it is hostile (attack) or a decoy.
    pub fn steps(&self) -> impl Iterator<Item = (&Step, bool)> {
        let attack = self.attack.iter().map(|s| (s, true));
        attack.chain(self.decoys.iter().map(|s| (s, false)))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Repeat {
    pub every_s: u32,
    pub until_s: u32,
}

impl Step {
    /// Seconds of every attempt of this step (live time, or time since its inject fired).
    pub fn attempt_times_s(&self) -> Vec<u32> {
        match self.repeat {
            None => vec![self.at_s],
            Some(r) => (self.at_s..=r.until_s)
                .step_by(r.every_s.max(1) as usize)
                .collect(),
        }
    }

    /// Second when the step has stopped acting (same clock as `at_s`).
    pub fn end_s(&self) -> u32 {
        // Saturating: a record's scenario is read back unvalidated, and scoring never panics.
        let last = self.repeat.map_or(self.at_s, |r| r.until_s);
        last.saturating_add(self.action.duration_s())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Objectives {
    /// Seconds from the first attack step to escalating a true alert.
    pub detect_par_s: u32,
    /// Steps whose attempts must be made to fail, each with its own par.
    pub contain: Vec<Containment>,
    /// Entities the trainee should name as involved.
    pub attribute: Vec<EntityRef>,
    /// Records the attacker could take if nothing is done (0 when no data is at stake).
    pub records_at_risk: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Containment {
    pub step: String,
    pub par_s: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hint {
    pub text: String,
    pub cost: u32,
}

impl Scenario {
    /// A step of the attack, the decoys or any inject (step ids are unique across all).
    pub fn step(&self, id: &str) -> Option<&Step> {
        let injected = self.injects.iter().flat_map(|i| i.steps().map(|(s, _)| s));
        self.attack
            .iter()
            .chain(&self.decoys)
            .chain(injected)
            .find(|s| s.id == id)
    }

    pub fn inject(&self, id: &str) -> Option<&Inject> {
        self.injects.iter().find(|i| i.id == id)
    }

    /// The attack steps, with those of the named (fired) injects: what the attacker did.
    /// Unknown names are skipped.
    pub fn attack_steps<'a>(&'a self, fired: &'a [String]) -> impl Iterator<Item = &'a Step> {
        let injected = fired
            .iter()
            .filter_map(|id| self.inject(id))
            .flat_map(|i| &i.attack);
        self.attack.iter().chain(injected)
    }

    /// Session time the hardening phase takes (0 without one): the warm-up starts then.
    pub fn hardening_ms(&self) -> u64 {
        Hardening::ms(self.hardening.as_ref())
    }

    /// Session time the live phase starts at: after the hardening phase and the warm-up.
    pub fn live_start_ms(&self) -> u64 {
        self.timing.live_start_ms(self.hardening.as_ref())
    }

    /// Session time the live phase ends at, as scheduled (before any extension).
    pub fn total_ms(&self) -> u64 {
        self.live_start_ms() + u64::from(self.timing.live_s) * 1000
    }

    /// What a service needs from its container: what the weaknesses the business relies on
    /// give it, the accepted risks and those whose fix has a declared cost (`LABD_NEEDS`
    /// words). Without them it cannot do its work, or its jobs fail.
    pub fn needs_of(&self, service: &str) -> Vec<String> {
        let relied_on = |w: &&Weakness| {
            let of = w.of();
            w.service() == service
                && (self.hardening.as_ref())
                    .is_some_and(|h| h.accepted(&of).is_some() || h.collateral_of(&of).is_some())
        };
        (self.weaknesses.iter())
            .filter(relied_on)
            .flat_map(Weakness::needs)
            .collect()
    }

    /// Whether the business accepted this weakness as a risk.
    pub fn accepted_risk(&self, weakness: &WeaknessRef) -> Option<&AcceptedRisk> {
        self.hardening.as_ref()?.accepted(weakness)
    }

    /// Live-time second of the first attack step.
    pub fn attack_start_s(&self) -> u32 {
        self.attack.iter().map(|s| s.at_s).min().unwrap_or(0)
    }
}
