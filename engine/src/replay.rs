//! Replay: a record played back as a session. The record's telemetry and effect results stand
//! in for the lab (`RecordedLab`) and its commands and mentor acts are submitted again at their
//! times, so the same `Session` the trainee played rebuilds, at any session time, the view they
//! had then: alerts, verdicts, mitigations and their confirmations, hints, logs, charts. Either
//! backend's record replays the same way: nothing here needs the lab that made it.
//!
//! Seeking back rebuilds the session from the start (a ten-minute session replays in
//! milliseconds); seeking forward carries on. `Replay::check` plays a record through once and
//! says where this version's session no longer does what the recorded one did (another
//! detector, another refusal), so a replay never passes off a re-detection as what was seen.

use std::sync::Arc;

use crate::action::{Command, Effect};
use crate::format::scenario::Scenario;
use crate::format::topology::Topology;
use crate::lab::{Backend, Lab, LabOutput, Pacing};
use crate::observation::Millis;
use crate::posture::Finding;
use crate::record::{MentorAct, Record, RecordLine, RecordWriter};
use crate::score::{ScoreCard, score};
use crate::session::{Phase, Session};

/// A lab that plays back what a record observed: each `advance` yields the record's
/// observations and effect results in their recorded order, up to where the recorded session
/// ticked past `until`. It carries out nothing: the record already holds what came of every
/// effect, and a replayed session issues the same effects with the same ids.
#[derive(Debug)]
pub struct RecordedLab {
    record: Arc<Record>,
    next: usize,
    /// The next record line to look at for a posture audit.
    next_audit: usize,
}

impl RecordedLab {
    pub fn new(record: Arc<Record>) -> RecordedLab {
        RecordedLab {
            record,
            next: 0,
            next_audit: 0,
        }
    }
}

impl Lab for RecordedLab {
    fn backend(&self) -> Backend {
        self.record.backend
    }

    fn pacing(&self) -> Pacing {
        Pacing::Virtual
    }

    fn apply(&mut self, _now: Millis, _effect: &Effect) {}

    fn advance(&mut self, until: Millis, out: &mut Vec<LabOutput>) {
        while let Some(line) = self.record.lines.get(self.next) {
            // A lab yields outputs stamped up to `until` (Docker's include it); the session's
            // own lines (effects, commands, phases) at `until` or later belong to later ticks.
            let t = line.t_ms().unwrap_or(0);
            match line {
                RecordLine::Observation(obs) if t <= until => {
                    out.push(LabOutput::Observation(obs.clone()))
                }
                RecordLine::Outcome(outcome) if t <= until => {
                    out.push(LabOutput::Outcome(outcome.clone()))
                }
                RecordLine::Observation(_) | RecordLine::Outcome(_) => return,
                _ if t >= until => return,
                _ => {}
            }
            self.next += 1;
        }
    }

    /// The record's next audit: a replayed session audits at the same moments as the recorded
    /// one did (the hardening phase's start and end, each confirmed fix).
    fn audit(&mut self) -> Result<Vec<Finding>, String> {
        let lines = &self.record.lines;
        while let Some(line) = lines.get(self.next_audit) {
            self.next_audit += 1;
            if let RecordLine::Posture { findings, .. } = line {
                return Ok(findings.clone());
            }
        }
        Err("the record holds no more audits".into())
    }
}

/// Something the trainee, a mentor or the session did, submitted again as the replay passed
/// its time: what a client shows as it happens (a command's answer, a whisper).
#[derive(Debug, Clone, PartialEq)]
pub enum Replayed {
    Command {
        command: Command,
        refused: Option<String>,
    },
    Whisper {
        by: String,
        text: String,
    },
}

/// A record being played back: the session rebuilt up to `now`.
pub struct Replay {
    record: Arc<Record>,
    /// What the record played, shared by every rebuild of the session.
    scenario: Arc<Scenario>,
    topology: Arc<Topology>,
    session: Session,
    /// The next record line to look at for commands, mentor acts and an early end.
    next_act: usize,
    end_ms: Millis,
}

impl std::fmt::Debug for Replay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replay")
            .field("scenario", &self.record.scenario.id)
            .field("now", &self.session.now())
            .field("end_ms", &self.end_ms)
            .finish()
    }
}

impl Replay {
    /// The record at the start of its warm-up.
    pub fn new(record: Arc<Record>) -> Replay {
        let end_ms = (record.lines.iter())
            .filter_map(RecordLine::t_ms)
            .max()
            .unwrap_or(0);
        let scenario = Arc::new(record.scenario.clone());
        let topology = Arc::new(record.topology.clone());
        let session = Self::session_of(&record, &scenario, &topology);
        Replay {
            record,
            scenario,
            topology,
            session,
            next_act: 0,
            end_ms,
        }
    }

    fn session_of(
        record: &Arc<Record>,
        scenario: &Arc<Scenario>,
        topology: &Arc<Topology>,
    ) -> Session {
        let lab = RecordedLab::new(record.clone());
        let mut session = Session::new(
            scenario.clone(),
            topology.clone(),
            Box::new(lab),
            record.seed,
            // The record being played is the record; the replay keeps no other.
            RecordWriter::discard(),
        );
        session.begin();
        session
    }

    pub fn record(&self) -> &Arc<Record> {
        &self.record
    }

    /// The session as it stood at `now`: what the trainee's screens showed then.
    pub fn session(&self) -> &Session {
        &self.session
    }

    pub fn now(&self) -> Millis {
        self.session.now()
    }

    /// The session time of the record's last line: where playback ends.
    pub fn end_ms(&self) -> Millis {
        self.end_ms
    }

    /// Playback has reached the end of the record (or of the session it replays).
    pub fn at_end(&self) -> bool {
        self.session.is_over() || self.session.now() >= self.end_ms
    }

    /// The score card of the record as it was played (the record's own lines).
    pub fn card(&self) -> ScoreCard {
        score(
            &self.record.scenario,
            &self.record.topology,
            &self.record.lines,
            None,
        )
    }

    /// Play on to session time `t` (at most the end), appending what was done on the way.
    pub fn advance_to(&mut self, t: Millis, done: &mut Vec<Replayed>) {
        let t = t.min(self.end_ms);
        loop {
            self.submit_due(done);
            if self.session.is_over() || self.session.now() >= t {
                break;
            }
            self.session.tick();
        }
        if self.at_end() && !self.session.is_over() {
            // A record that stops short (a killed process) ends where it stops.
            self.session.finish();
        }
    }

    /// Go to session time `t`: back means starting again from the warm-up.
    pub fn seek(&mut self, t: Millis, done: &mut Vec<Replayed>) {
        if t < self.session.now() || (self.session.is_over() && t < self.end_ms) {
            self.session = Self::session_of(&self.record, &self.scenario, &self.topology);
            self.next_act = 0;
        }
        self.advance_to(t, done);
    }

    /// Submit the record's commands and mentor acts due by now, as the recorded session did
    /// between ticks, and end the session where the recorded one was ended early.
    fn submit_due(&mut self, done: &mut Vec<Replayed>) {
        let now = self.session.now();
        let record = self.record.clone();
        while let Some(line) = record.lines.get(self.next_act) {
            let Some(t) = line.t_ms() else {
                self.next_act += 1;
                continue;
            };
            if t > now {
                return;
            }
            self.next_act += 1;
            match line {
                RecordLine::Command { command, .. } => {
                    let refused = self.session.submit(command.clone()).err().map(|r| r.0);
                    done.push(Replayed::Command {
                        command: command.clone(),
                        refused,
                    });
                }
                RecordLine::Mentor { by, act, .. } => self.act(by, act, done),
                RecordLine::Phase {
                    phase: Phase::Debrief,
                    ..
                } => self.session.finish(),
                _ => {}
            }
        }
    }

    fn act(&mut self, by: &str, act: &MentorAct, done: &mut Vec<Replayed>) {
        // A refusal here means the replay has drifted from the record; `check` reports it.
        match act {
            MentorAct::Inject { id } => {
                let _ = self.session.inject(id, by);
            }
            MentorAct::Whisper { text, cost } => {
                self.session.whisper(text.clone(), *cost, by);
                done.push(Replayed::Whisper {
                    by: by.to_string(),
                    text: text.clone(),
                });
            }
            MentorAct::RevealHint { .. } => {
                let _ = self.session.reveal_hint(by);
            }
            MentorAct::Extend { seconds } => {
                let _ = self.session.extend_live(*seconds, by);
            }
        }
    }

    /// Play the whole record once and compare: the alerts raised (number, rule, entity, time)
    /// and each command's acceptance must be the record's. `Err` says what differs first, and
    /// how many differ, for a client to show beside the replay.
    pub fn check(record: Arc<Record>) -> Result<(), Drift> {
        let mut replay = Replay::new(record);
        let mut done = Vec::new();
        replay.advance_to(Millis::MAX, &mut done);
        let recorded = signature(&replay.record.lines);
        let replayed = signature(replay.session.record_lines());
        let differing = recorded
            .iter()
            .zip(&replayed)
            .filter(|(a, b)| a != b)
            .count()
            + recorded.len().abs_diff(replayed.len());
        if differing == 0 {
            return Ok(());
        }
        let first = recorded
            .iter()
            .zip(&replayed)
            .find(|(a, b)| a != b)
            .map(|(a, b)| format!("the record has {a}, this version {b}"))
            .unwrap_or_else(|| {
                format!(
                    "the record has {} alerts and commands, this version {}",
                    recorded.len(),
                    replayed.len()
                )
            });
        Err(Drift { differing, first })
    }
}

/// Where a replay no longer does what the recorded session did.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{differing} alert(s) or command(s) replay differently from the record (first: {first}); \
     it was probably made by another version of Bulkhead"
)]
pub struct Drift {
    pub differing: usize,
    pub first: String,
}

/// The lines a faithful replay must reproduce, in words: alerts and commands' outcomes.
fn signature(lines: &[RecordLine]) -> Vec<String> {
    lines
        .iter()
        .filter_map(|line| match line {
            RecordLine::Alert(a) => Some(format!(
                "alert {} ({} on {}) at {} ms",
                a.id, a.rule, a.entity, a.t_ms
            )),
            RecordLine::Command {
                t_ms,
                command,
                refused,
            } => Some(format!(
                "{command:?} at {t_ms} ms {}",
                if refused.is_some() {
                    "refused"
                } else {
                    "accepted"
                }
            )),
            _ => None,
        })
        .collect()
}
