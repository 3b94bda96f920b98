//! The lab's posture as a reviewer sees it: what kind of weakness a finding is, the finding
//! itself (service, kind, CIS item, evidence) and what fixing it does. Its own module because
//! the scenario format, the commands, the record and the labs all name these, and none of them
//! should import the others for it.

use serde::{Deserialize, Serialize};

/// What is weak about a service, without the details: what a finding names, an attack step
/// exploits and a fix undoes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum WeaknessKind {
    NoLimits,
    WritableRoot,
    RunsAsRoot,
    ExtraCapabilities,
    SecretInEnv,
    SecretInImage,
    UnneededTool,
    UnverifiedScript,
    DefaultPassword,
    ExposedManagement,
}

impl WeaknessKind {
    pub const ALL: [WeaknessKind; 10] = [
        WeaknessKind::NoLimits,
        WeaknessKind::WritableRoot,
        WeaknessKind::RunsAsRoot,
        WeaknessKind::ExtraCapabilities,
        WeaknessKind::SecretInEnv,
        WeaknessKind::SecretInImage,
        WeaknessKind::UnneededTool,
        WeaknessKind::UnverifiedScript,
        WeaknessKind::DefaultPassword,
        WeaknessKind::ExposedManagement,
    ];

    /// The kinds a service can be held to need, so a risk the business accepts or a fix with
    /// a declared cost: fixing one takes from the container what the service (or, for a tool,
    /// its jobs) cannot work without (`Weakness::needs`).
    pub const NEEDED: [WeaknessKind; 4] = [
        WeaknessKind::WritableRoot,
        WeaknessKind::RunsAsRoot,
        WeaknessKind::ExtraCapabilities,
        WeaknessKind::UnneededTool,
    ];

    /// Whether a service lacking what this weakness gave it stops working altogether (else
    /// only its jobs fail: a tool they run).
    pub fn lack_stops_the_service(self) -> bool {
        self != WeaknessKind::UnneededTool
    }

    /// The weakness that gives a service this `LABD_NEEDS` word (`writable-root`, `root`,
    /// `cap:NAME`, `tool:/PATH`): what a lab reporting the service degraded names as the fix's collateral.
    pub fn of_need(word: &str) -> Option<WeaknessKind> {
        match word {
            "writable-root" => Some(WeaknessKind::WritableRoot),
            "root" => Some(WeaknessKind::RunsAsRoot),
            _ if word.starts_with("cap:") => Some(WeaknessKind::ExtraCapabilities),
            _ if word.starts_with("tool:") => Some(WeaknessKind::UnneededTool),
            _ => None,
        }
    }

    /// A few words for a finding's title.
    pub fn title(self) -> &'static str {
        match self {
            WeaknessKind::NoLimits => "no resource limits",
            WeaknessKind::WritableRoot => "writable root file system",
            WeaknessKind::RunsAsRoot => "runs as root",
            WeaknessKind::ExtraCapabilities => "capabilities added back",
            WeaknessKind::SecretInEnv => "secret in an environment variable",
            WeaknessKind::SecretInImage => "secret baked into an image layer",
            WeaknessKind::UnneededTool => "unneeded tool in the image",
            WeaknessKind::UnverifiedScript => "unverified third-party script in the image",
            WeaknessKind::DefaultPassword => "account with a default password",
            WeaknessKind::ExposedManagement => "management endpoint left on",
        }
    }

    /// The CIS Docker Benchmark v1.6.0 items it breaks (none for a secret in the environment,
    /// which the benchmark does not cover for running containers, nor for an application's
    /// own accounts and endpoints).
    pub fn cis(self) -> &'static [&'static str] {
        match self {
            WeaknessKind::NoLimits => &["5.11", "5.12", "5.29"],
            WeaknessKind::WritableRoot => &["5.13"],
            WeaknessKind::RunsAsRoot => &["4.1"],
            WeaknessKind::ExtraCapabilities => &["5.4"],
            WeaknessKind::SecretInEnv => &[],
            WeaknessKind::SecretInImage => &["4.10"],
            WeaknessKind::UnneededTool => &["4.3"],
            WeaknessKind::UnverifiedScript => &["4.11"],
            WeaknessKind::DefaultPassword | WeaknessKind::ExposedManagement => &[],
        }
    }

    /// What the fix does to the lab, for the confirmation a trainee reads before fixing.
    pub fn fix(self) -> &'static str {
        match self {
            WeaknessKind::NoLimits => "set the service's declared cpu, memory and pids limits",
            WeaknessKind::WritableRoot => {
                "recreate the container with a read-only root file system (it restarts)"
            }
            WeaknessKind::RunsAsRoot => {
                "recreate the container as an unprivileged user (it restarts)"
            }
            WeaknessKind::ExtraCapabilities => {
                "recreate the container with every capability dropped (it restarts)"
            }
            WeaknessKind::SecretInEnv => {
                "rotate the secret and recreate the container without it in its environment (it restarts)"
            }
            WeaknessKind::SecretInImage => {
                "rotate the secret and recreate the container from the vetted base image, without the layer that holds it (it restarts)"
            }
            WeaknessKind::UnneededTool => {
                "rebuild the image from the vetted base without the tool and recreate the container (it restarts)"
            }
            WeaknessKind::UnverifiedScript => {
                "rebuild the image from the vetted base without the script and recreate the container (it restarts)"
            }
            WeaknessKind::DefaultPassword => {
                "rotate the account's password to a generated one and end its sessions (no restart)"
            }
            WeaknessKind::ExposedManagement => {
                "recreate the container with its management endpoint turned off (it restarts)"
            }
        }
    }

    /// Whether it lives in the service's image (its layers), not the container's settings.
    pub fn in_image(self) -> bool {
        matches!(
            self,
            WeaknessKind::SecretInImage
                | WeaknessKind::UnneededTool
                | WeaknessKind::UnverifiedScript
        )
    }

    /// Whether only the running service tells it (a web tier's accounts and endpoints, asked
    /// through its admin API), not Docker's view of the container or its image.
    pub fn told_by_the_service(self) -> bool {
        matches!(
            self,
            WeaknessKind::DefaultPassword | WeaknessKind::ExposedManagement
        )
    }

    /// Whether the fix recreates the container (it restarts, losing what it held in memory).
    /// Limits are set in place, and a password is rotated through the service's admin API.
    pub fn recreates(self) -> bool {
        !matches!(self, WeaknessKind::NoLimits | WeaknessKind::DefaultPassword)
    }
}

impl std::fmt::Display for WeaknessKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.title())
    }
}

/// A weakness of one service: what an attack step exploits and an accepted risk names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeaknessRef {
    pub service: String,
    pub weakness: WeaknessKind,
}

impl std::fmt::Display for WeaknessRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.service, self.weakness)
    }
}

/// One finding of a posture audit of the running lab, grouped by service and kind: the three
/// missing limits of a service are one finding, fixed together.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Finding {
    pub service: String,
    pub weakness: WeaknessKind,
    /// CIS Docker Benchmark v1.6.0 items, where the benchmark has one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cis: Vec<String>,
    /// What the audit saw, as it saw it ("no memory limit; no CPU limit", "DB_PASSWORD").
    pub evidence: String,
}

impl Finding {
    pub fn of(&self) -> WeaknessRef {
        WeaknessRef {
            service: self.service.clone(),
            weakness: self.weakness,
        }
    }
}
