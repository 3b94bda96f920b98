//! Bulkhead's engine: the pure, deterministic core. Formats, detection, scoring, sessions and
//! the simulated lab; no bevy, tokio, Docker, wall clock or global randomness in here.

pub mod action;
pub mod brief;
pub mod defender;
pub mod detector;
pub mod format;
pub mod involvement;
pub mod lab;
pub mod observation;
pub mod phase;
pub mod posture;
pub mod reach;
pub mod record;
pub mod replay;
pub mod score;
pub mod session;
pub mod sim;
pub mod telemetry;

pub use action::{
    Action, AlertRef, Cause, Command, Effect, EffectKind, Mitigation, Origin, Outcome, Verdict,
};
pub use brief::TraineeBrief;
pub use detector::{Alert, Detector};
pub use format::Loaded;
pub use lab::{Backend, Lab, LabHealth, LabOutput, LabTimings, NodeLoad, Pacing};
pub use observation::{EntityRef, LogEvent, Metrics, Millis, Observation, ObservationBody};
pub use record::{LabFault, MemoryRecord, MentorAct, Record, RecordLine, RecordWriter};
pub use score::{ScoreCard, score};
pub use session::{Defender, DefenderView, Phase, Session};
pub use sim::SimLab;
