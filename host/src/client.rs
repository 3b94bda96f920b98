//! A headless client: plays one scenario on a seat with a `Defender` (the bot, nobody, a
//! script) and returns the seat's score card. `bulkhead run` uses it on a seat in its own
//! process and on a served seat alike.

use std::collections::VecDeque;
use std::time::Duration;

use bulkhead_engine::format::scenario::Scenario;
use bulkhead_engine::{Backend, Command, Defender, LabTimings, Phase, ScoreCard, TraineeBrief};

use crate::connection::{Closed, Connection};
use crate::protocol::{ClientMsg, ErrorKind, Pace, ServerMsg};
use crate::view::Snapshot;

/// How often the client looks at its stop flag while it waits for the seat.
const STOP_POLL: Duration = Duration::from_millis(100);

/// A session played to its end (or cut short and finished).
#[derive(Debug, Clone)]
pub struct Played {
    pub card: ScoreCard,
    /// The ground truth, sent with the score for the debrief.
    pub scenario: Scenario,
    pub seed: u64,
    pub backend: Backend,
    pub record: Option<String>,
    pub record_error: Option<String>,
    pub lab_error: Option<String>,
    /// How long the lab took to come up and go down.
    pub lab: LabTimings,
    /// Whether the run was cut short by `stop`.
    pub stopped: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum PlayError {
    #[error(transparent)]
    Closed(#[from] Closed),
    #[error("{message}")]
    Refused { kind: ErrorKind, message: String },
    #[error("the lab could not come up: {0}")]
    LabFailed(String),
    /// Stopped before the session began: nothing was played, so there is no score.
    #[error("stopped before the session began")]
    StoppedBeforeStart,
}

/// What the caller wants to hear about while a session plays.
pub trait Watcher {
    /// Every view, before the defender decides on it.
    fn view(&mut self, _view: &Snapshot) {}
    /// A command the seat refused, with the live second it was decided at.
    fn refused(&mut self, _live_s: f64, _command: &Command, _why: &str) {}
    /// Asked while waiting: true ends the session now (it is finished and scored).
    fn stop(&mut self) -> bool {
        false
    }
    /// Once, when the lab is up (a Docker lab takes a while).
    fn lab_ready(&mut self) {}
    /// A message from the mentor watching the seat.
    fn whisper(&mut self, from: &str, text: &str) {
        tracing::info!("{from}: {text}");
    }
    /// Something the seat says that answers no command (a pause refused, the record's disk
    /// full and then writable again).
    fn notice(&mut self, text: &str) {
        tracing::info!("{text}");
    }
}

/// A watcher that wants nothing.
#[derive(Debug, Default)]
pub struct Quiet;

impl Watcher for Quiet {}

/// Open `scenario` on the seat behind `conn`, play it with `defender`, return the score.
pub fn play(
    conn: &Connection,
    scenario: &str,
    pace: Pace,
    defender: &mut dyn Defender,
    watcher: &mut dyn Watcher,
) -> Result<Played, PlayError> {
    conn.send(ClientMsg::Open {
        scenario: scenario.to_string(),
        pace,
    })?;
    let mut backend = Backend::Sim;
    let mut opened: Option<(TraineeBrief, u64)> = None;
    // Live second each sent command was decided at, oldest first, to date its answer.
    let mut sent: VecDeque<f64> = VecDeque::new();
    let mut stopping = false;
    loop {
        if !stopping && watcher.stop() {
            stopping = true;
            conn.send(ClientMsg::Finish)?;
        }
        let Some(msg) = conn.recv_timeout(STOP_POLL)? else {
            continue;
        };
        match msg {
            ServerMsg::Welcome { backend: b, .. } => backend = b,
            ServerMsg::Opened { brief, seed } => opened = Some((*brief, seed)),
            ServerMsg::LabReady { .. } => {
                if stopping {
                    conn.send(ClientMsg::Close)?;
                    return Err(PlayError::StoppedBeforeStart);
                }
                watcher.lab_ready();
                conn.send(ClientMsg::Begin)?;
            }
            ServerMsg::LabFailed(why) => return Err(PlayError::LabFailed(why)),
            ServerMsg::View(view) => {
                watcher.view(&view);
                backend = view.backend;
                let Some((brief, _)) = &opened else { continue };
                // Before `Begin` the briefing's views are for showing, not for deciding (or
                // stepping); after the end there is nothing left to decide.
                if stopping || matches!(view.phase, Phase::Briefing | Phase::Debrief) {
                    continue;
                }
                let live_s = brief.live_s(view.now_ms);
                // While the lab cannot be reached its mitigations would be refused: a scripted
                // defender waits for it, as a trainee is told to.
                let commands = match view.held {
                    None => defender.decide(&view.defender_view(brief)),
                    Some(_) => Vec::new(),
                };
                for command in commands {
                    sent.push_back(live_s);
                    conn.send(ClientMsg::Command(command))?;
                }
                if pace == Pace::Lockstep {
                    conn.send(ClientMsg::Step)?;
                }
            }
            ServerMsg::Answer { command, refused } => {
                let live_s = sent.pop_front().unwrap_or_default();
                if let Some(why) = refused {
                    watcher.refused(live_s, &command, &why);
                }
            }
            ServerMsg::Notice(text) => watcher.notice(&text),
            ServerMsg::Whisper { from, text } => watcher.whisper(&from, &text),
            ServerMsg::Over {
                card,
                scenario,
                record,
                record_error,
                lab_error,
                lab,
            } => {
                return Ok(Played {
                    card: *card,
                    scenario: *scenario,
                    seed: opened.map_or(0, |(_, seed)| seed),
                    backend,
                    record,
                    record_error,
                    lab_error,
                    lab,
                    stopped: stopping,
                });
            }
            ServerMsg::Error { kind, message } => {
                if kind.is_fatal() || opened.is_none() {
                    return Err(PlayError::Refused { kind, message });
                }
                tracing::warn!("the seat refused a message: {message}");
            }
        }
    }
}
