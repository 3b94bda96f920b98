//! The phases of a session, in order: its own module because the record, the session and the
//! score all name them, and none of them should have to import the others for it.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Briefing,
    /// The trainee reviews the lab's posture and fixes what they judge worth it (only in
    /// scenarios that have a hardening phase).
    Hardening,
    Warmup,
    Live,
    Debrief,
}

impl Phase {
    pub fn title(self) -> &'static str {
        match self {
            Phase::Briefing => "Briefing",
            Phase::Hardening => "Hardening",
            Phase::Warmup => "Warm-up",
            Phase::Live => "Live",
            Phase::Debrief => "Debrief",
        }
    }
}
