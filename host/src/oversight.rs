//! What a facilitator and a mentor may do to a seat and see of it: controls (start, pause,
//! extend, end, remove the lab; whisper, reveal a hint, fire an inject) and the mentor's view,
//! which puts the trainee's live screen beside the lab's truth. None of this reaches the
//! trainee's client but a whisper, a revealed hint and the clock's changes.

use std::collections::BTreeMap;
use std::time::Instant;

use bulkhead_engine::format::topology::Criticality;
use bulkhead_engine::score::{Truth, alert_truths};
use bulkhead_engine::{EntityRef, Millis, Mitigation, ScoreCard, Session, score};
use serde::Serialize;

use crate::view::Snapshot;

/// The longest whisper kept; a mentor's hint is a sentence or two.
pub const MAX_WHISPER_CHARS: usize = 500;

/// What a facilitator or mentor asks of a seat.
#[derive(Debug, Clone, PartialEq)]
pub enum SeatControl {
    /// Open a scenario (the seat's first offer when `None`) unless one is open and not over,
    /// and begin it; a session still in its briefing just begins.
    Start { scenario: Option<String> },
    /// Stop or restart the session clock (labs that can pause only).
    Pause(bool),
    /// Give the live phase this many more seconds.
    Extend { seconds: u32 },
    /// End the session now: it is scored as if the trainee had finished.
    End,
    /// End the session (scored if it began) and bring its lab down.
    RemoveLab,
    /// A message to the trainee, optionally costing points as a hint does.
    Whisper { text: String, cost: u32 },
    /// Reveal the scenario's next hint to the trainee (it costs what the hint costs).
    RevealHint,
    /// Fire one of the scenario's injects (extra attack or decoy steps).
    Inject { id: String },
}

impl SeatControl {
    /// A short name for the logs and the console's activity log.
    pub fn name(&self) -> &'static str {
        match self {
            SeatControl::Start { .. } => "start",
            SeatControl::Pause(true) => "pause",
            SeatControl::Pause(false) => "resume",
            SeatControl::Extend { .. } => "extend",
            SeatControl::End => "end",
            SeatControl::RemoveLab => "remove lab",
            SeatControl::Whisper { .. } => "whisper",
            SeatControl::RevealHint => "reveal hint",
            SeatControl::Inject { .. } => "inject",
        }
    }
}

/// The answer to a control: what was done, or why not.
pub type ControlReply = Result<String, String>;

/// An inject as the mentor's page offers it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InjectOffer {
    pub id: String,
    pub title: String,
    pub description: String,
    pub fired: bool,
}

/// One trainee's session as their mentor sees it: the trainee's own view beside the truth.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MentorView {
    pub seat: u32,
    pub trainee: Option<String>,
    pub scenario: String,
    pub scenario_title: String,
    /// Exactly what the trainee's screens show.
    pub view: Snapshot,
    /// The truth of every alert so far.
    pub alert_truths: BTreeMap<u32, Truth>,
    /// The score as it stands (mentors may see it; trainees never do while live), with the
    /// timeline of attack steps and decoys so far.
    pub provisional: ScoreCard,
    pub injects: Vec<InjectOffer>,
    pub hints_left: usize,
    pub over: bool,
}

impl MentorView {
    pub fn of(seat: u32, trainee: Option<String>, session: &Session, view: Snapshot) -> Self {
        let scenario = session.scenario();
        let lines = session.record_lines();
        let fired = session.injects_fired();
        MentorView {
            seat,
            trainee,
            scenario: scenario.id.clone(),
            scenario_title: scenario.title.clone(),
            alert_truths: alert_truths(scenario, session.topology(), lines),
            provisional: session
                .score()
                .cloned()
                .unwrap_or_else(|| score(scenario, session.topology(), lines, Some(session.now()))),
            injects: scenario
                .injects
                .iter()
                .map(|i| InjectOffer {
                    id: i.id.clone(),
                    title: i.title.clone(),
                    description: i.description.clone(),
                    fired: fired.iter().any(|f| f == &i.id),
                })
                .collect(),
            hints_left: session.hints_left(),
            over: session.is_over(),
            view,
        }
    }
}

/// A seat's lab and trainee as the facilitator's attention flags read them.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Health {
    /// Lab services answering (telemetry says running), of those the trainee defends.
    pub services_up: usize,
    pub services: usize,
    /// Session time since the newest metrics sample (its history's newest point): telemetry
    /// falling behind shows here.
    pub telemetry_lag_ms: Option<Millis>,
    /// Disruptive mitigations (isolate, pause, stop, restart) the trainee applied to
    /// high-criticality services: production taken away is worth a facilitator's look.
    pub disruptive: Vec<String>,
}

impl Health {
    pub fn of(session: &Session) -> Health {
        let services = session.services();
        let newest = services
            .values()
            // A sample's first field is its session time in seconds.
            .filter_map(|s| {
                s.history
                    .back()
                    .map(|sample| (sample[0] * 1000.0) as Millis)
            })
            .max();
        let critical = |m: &Mitigation| {
            let EntityRef::Service(id) = m.target() else {
                return false;
            };
            session
                .topology()
                .services
                .iter()
                .any(|s| s.id == id && s.criticality == Criticality::High)
        };
        let disruptive = session
            .mitigations()
            .iter()
            .filter(|m| m.mitigation.is_disruptive() && critical(&m.mitigation))
            .map(|m| m.mitigation.summary())
            .collect();
        Health {
            services_up: services.values().filter(|s| s.running && !s.paused).count(),
            services: services.len(),
            telemetry_lag_ms: newest.map(|t| session.now().saturating_sub(t)),
            disruptive,
        }
    }
}

/// When the trainee last did something, for the facilitator's "idle for N minutes" flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Activity(pub Instant);

impl Default for Activity {
    fn default() -> Self {
        Activity(Instant::now())
    }
}

impl Serialize for Activity {
    /// As whole seconds ago: an instant means nothing outside this process.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0.elapsed().as_secs())
    }
}
