//! The one seam between a session and a lab: a backend carries out effects and yields what it
//! observed. `SimLab` (in this crate) and `DockerLab` (crate `bulkhead-labs`) implement it.

use serde::{Deserialize, Serialize};

use crate::action::{Effect, Outcome};
use crate::observation::{Millis, Observation};
use crate::posture::Finding;

/// What a lab reports back while it runs.
#[derive(Debug, Clone, PartialEq)]
pub enum LabOutput {
    /// Telemetry: goes to the detector, the trainee and the record.
    Observation(Observation),
    /// The result of an effect as its actor saw it: goes to the record (for scoring) only.
    Outcome(Outcome),
    /// A fault of the range the lab met and repaired (a lab network removed under it): goes to
    /// the record, the trainee's notices and the card.
    Fault { t_ms: Millis, fault: LabFault },
}

impl LabOutput {
    /// When it happened, in session time.
    pub fn t_ms(&self) -> Millis {
        match self {
            LabOutput::Observation(obs) => obs.t_ms,
            LabOutput::Outcome(o) => o.t_ms,
            LabOutput::Fault { t_ms, .. } => *t_ms,
        }
    }

    /// Move it to a later time (a line that arrived late keeps the record in time order).
    pub fn set_t_ms(&mut self, t: Millis) {
        match self {
            LabOutput::Observation(obs) => obs.t_ms = t,
            LabOutput::Outcome(o) => o.t_ms = t,
            LabOutput::Fault { t_ms, .. } => *t_ms = t,
        }
    }
}

/// How a lab's clock relates to the wall clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pacing {
    /// Virtual time: `advance` returns as soon as the work is done.
    Virtual,
    /// Real time: `advance` waits until the lab's clock reaches the asked time.
    RealTime,
}

/// Which backend, for display and records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    Sim,
    Docker,
}

impl Backend {
    pub fn title(self) -> &'static str {
        match self {
            Backend::Sim => "simulated lab",
            Backend::Docker => "Docker lab",
        }
    }
}

/// How long a real lab took to come up and go down, in wall seconds: shown to the trainee and
/// in `--json` cards, because a range that keeps a room waiting is a range nobody runs. `None`
/// where a step did not happen (yet) or the lab has no such step (the simulated lab).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LabTimings {
    /// Making sure the lab image exists (loading it the first time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_s: Option<f64>,
    /// From the first Docker call to every container started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub up_s: Option<f64>,
    /// From the first Docker call to every service answering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_s: Option<f64>,
    /// Teardown, once the session ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub down_s: Option<f64>,
}

impl LabTimings {
    /// Whether any step was measured.
    pub fn is_empty(&self) -> bool {
        *self == LabTimings::default()
    }

    /// `lab ready in 0.84 s (image 0.02 s, up 0.51 s, down 0.62 s)`: the steps measured.
    pub fn line(&self) -> Option<String> {
        let ready = self.ready_s?;
        let parts: Vec<String> = [
            ("image", self.image_s),
            ("up", self.up_s),
            ("down", self.down_s),
        ]
        .into_iter()
        .filter_map(|(name, s)| s.map(|s| format!("{name} {s:.2} s")))
        .collect();
        Some(if parts.is_empty() {
            format!("lab ready in {ready:.2} s")
        } else {
            format!("lab ready in {ready:.2} s ({})", parts.join(", "))
        })
    }
}

/// Whether a lab can go on: what a session asks it before each tick.
#[derive(Debug, Clone, PartialEq)]
pub enum LabHealth {
    Up,
    /// The lab cannot be reached for now (its container engine restarting or unreachable),
    /// for `for_s` wall seconds so far: the session holds its clock until it answers again.
    Held {
        why: String,
        for_s: f64,
    },
    /// It is gone for good (unreachable past its limit, or its Swarm node drained): the
    /// session ends here, its card partial.
    Lost {
        why: String,
    },
}

/// A lab the session can drive. Time is session time; the lab never reads the wall clock on its
/// own behalf unless its pacing is `RealTime`.
pub trait Lab: Send {
    fn backend(&self) -> Backend;

    fn pacing(&self) -> Pacing;

    /// Start carrying out an effect at session time `now`. Returns at once; results arrive as
    /// outputs of later `advance` calls.
    fn apply(&mut self, now: Millis, effect: &Effect);

    /// Run the lab up to session time `until`, appending what it observed, in time order.
    fn advance(&mut self, until: Millis, out: &mut Vec<LabOutput>);

    /// Where the lab runs, for those who run the room: the Swarm node that holds it (`None`:
    /// this machine, or no machine at all).
    fn placement(&self) -> Option<String> {
        None
    }

    /// Whether the lab can freeze (the game's pause): true for virtual time.
    fn can_pause(&self) -> bool {
        self.pacing() == Pacing::Virtual
    }

    /// Whether the lab can go on (asked before every tick). A lab that may lose its engine
    /// mid-session says so here; one that cannot (the simulated lab) is always up.
    fn health(&mut self) -> LabHealth {
        LabHealth::Up
    }

    /// Tear the lab down. Called once when the session ends; must be safe to call again.
    fn shutdown(&mut self) -> Result<(), String> {
        Ok(())
    }

    /// How long coming up (and, once shut down, going down) took.
    /// A posture audit of the running lab: each company service's weaknesses as found now.
    /// Asked at the start and the end of a hardening phase and after each confirmed fix. No
    /// default: a lab that answered "nothing found" without looking would score every weakness
    /// as fixed. An error (the lab could not be inspected) says why.
    fn audit(&mut self) -> Result<Vec<Finding>, String>;

    fn timings(&self) -> LabTimings {
        LabTimings::default()
    }
}

/// A fault of the lab itself (not of a container in it) that the session lived through.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum LabFault {
    /// The lab stopped answering: the session's clock is held from here, commands that need
    /// the lab are refused.
    Held { why: String },
    /// It answers again after `held_s` wall seconds: the clock runs on from where it stopped.
    Resumed { held_s: f64 },
    /// It was gone for good (unreachable past the limit, or its Swarm node drained): the
    /// session ended here, its score partial.
    Lost { why: String },
    /// The network of `zone` was removed from outside the range: the lab made it again and
    /// reconnected `services` (those the trainee had not cut off it).
    NetworkRestored { zone: String, services: Vec<String> },
}

impl LabFault {
    /// What to tell the trainee (and the card) about it.
    pub fn text(&self) -> String {
        match self {
            LabFault::Held { why } => format!(
                "the lab cannot be reached ({why}): the clock is held and mitigations wait \
                 until it answers again"
            ),
            LabFault::Resumed { held_s } => format!(
                "the lab answers again after {held_s:.1} s: the clock runs on, and any \
                 container that died meanwhile was restored (its sessions and keys are gone)"
            ),
            LabFault::Lost { why } => format!(
                "the lab was lost ({why}): the session ended early and its score is \
                 partial"
            ),
            LabFault::NetworkRestored { zone, services } => format!(
                "the {zone} network was removed from outside the range (not your doing); the lab \
                 made it again and reconnected {}; connections open on it were lost",
                if services.is_empty() {
                    "nothing (every service on it was cut off by you)".to_string()
                } else {
                    services.join(", ")
                }
            ),
        }
    }
}

/// How loaded one machine of a swarm is with labs: what the facilitator's console shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeLoad {
    pub hostname: String,
    /// The orchestrator's view of the node: `ready`, `down`, ...
    pub state: String,
    /// Whether labs may be placed on it now (admitted for the current lab image, and active).
    pub admitted: bool,
    /// Lab services running there.
    pub services: usize,
    /// CPU cores and memory (MiB) the labs there reserve, and what the node has.
    pub cpus_reserved: f64,
    pub cpus: f64,
    pub memory_reserved_mib: u64,
    pub memory_mib: u64,
}
