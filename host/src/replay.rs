//! A record played back for a client, as if a seat ran it: the same messages (brief, views,
//! answers to the trainee's commands as they were given, whispers, the score at the end), paced
//! by the client's clock at 1x to 60x, with pause and seek. No thread and no lab: the client
//! polls the player each frame, and seeking is a rebuild of the session (`engine::replay`).
//!
//! A replay takes no commands: it shows what was done. The score is the record's, scored as
//! `bulkhead report` does; a record this version replays differently (`Drift`) says so.

use std::sync::Arc;
use std::time::Duration;

use bulkhead_engine::replay::{Drift, Replay, Replayed};
use bulkhead_engine::{Backend, LabTimings, Millis, Record};

use crate::protocol::{ClientMsg, ErrorKind, Offer, ServerMsg};
use crate::view::{TrafficMeter, snapshot};

/// The speeds a replay offers, slowest first: real time up to an hour a minute.
pub const SPEEDS: [f64; 6] = [1.0, 2.0, 5.0, 10.0, 30.0, 60.0];

/// Where playback stands, for a replay bar.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayStatus {
    pub now_ms: Millis,
    pub end_ms: Millis,
    /// Session seconds per wall second.
    pub speed: f64,
    pub paused: bool,
    /// Playback has begun (the briefing is behind).
    pub playing: bool,
    /// What this version replays differently from the record, if anything.
    pub drift: Option<String>,
}

/// A record and where its playback stands.
pub struct Player {
    replay: Replay,
    /// Where the record was read from, named in the debrief.
    source: Option<String>,
    traffic: TrafficMeter,
    speed: f64,
    paused: bool,
    opened: bool,
    playing: bool,
    over_sent: bool,
    /// Session milliseconds owed by the clock but not played yet (a tick is 250 ms).
    owed_ms: f64,
    drift: Option<Drift>,
}

impl std::fmt::Debug for Player {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Player")
            .field("replay", &self.replay)
            .field("speed", &self.speed)
            .field("paused", &self.paused)
            .finish_non_exhaustive()
    }
}

impl Player {
    /// A player at the record's start. Plays the record through once to check that this
    /// version reproduces it (milliseconds for a ten-minute session).
    pub fn new(record: Record, source: Option<String>) -> Player {
        let record = Arc::new(record);
        let drift = Replay::check(record.clone()).err();
        Player {
            replay: Replay::new(record),
            source,
            traffic: TrafficMeter::default(),
            speed: 1.0,
            paused: false,
            opened: false,
            playing: false,
            over_sent: false,
            owed_ms: 0.0,
            drift,
        }
    }

    pub fn record(&self) -> &Record {
        self.replay.record()
    }

    /// The one scenario a replay offers: the record's.
    pub fn offer(&self) -> Offer {
        Offer::of(&self.record().scenario)
    }

    pub fn backend(&self) -> Backend {
        self.record().backend
    }

    pub fn status(&self) -> ReplayStatus {
        ReplayStatus {
            now_ms: self.replay.now(),
            end_ms: self.replay.end_ms(),
            speed: self.speed,
            paused: self.paused,
            playing: self.playing,
            drift: self.drift.as_ref().map(ToString::to_string),
        }
    }

    /// Play at `speed` session seconds per wall second, held to the offered range.
    pub fn set_speed(&mut self, speed: f64) {
        let (slowest, fastest) = (SPEEDS[0], SPEEDS[SPEEDS.len() - 1]);
        self.speed = if speed.is_finite() {
            speed.clamp(slowest, fastest)
        } else {
            slowest
        };
    }

    /// A client's message, answered as a seat would; a command is refused.
    pub fn handle(&mut self, msg: ClientMsg, out: &mut Vec<ServerMsg>) {
        match msg {
            ClientMsg::Open { scenario, .. } if scenario == self.record().scenario.id => {
                self.restart();
                self.opened = true;
                out.push(ServerMsg::Opened {
                    brief: Box::new((**self.replay.session().brief()).clone()),
                    seed: self.record().seed,
                });
                out.push(ServerMsg::LabReady {
                    lab: LabTimings::default(),
                });
            }
            ClientMsg::Open { scenario, .. } => out.push(ServerMsg::error(
                ErrorKind::NotNow,
                format!(
                    "this replay plays \"{}\", not \"{scenario}\"",
                    self.record().scenario.id
                ),
            )),
            ClientMsg::Begin if self.opened => {
                self.playing = true;
                self.publish(Vec::new(), out);
            }
            ClientMsg::Command(_) => out.push(ServerMsg::error(
                ErrorKind::NotNow,
                "a replay takes no commands: it shows what was done",
            )),
            ClientMsg::TogglePause => {
                self.paused = !self.paused;
                self.publish(Vec::new(), out);
            }
            ClientMsg::Finish => {
                self.seek(Millis::MAX, out);
            }
            ClientMsg::Close => {
                self.restart();
                self.opened = false;
            }
            ClientMsg::Begin | ClientMsg::Step => {}
        }
    }

    /// Back to the start of the warm-up, not playing.
    fn restart(&mut self) {
        let mut discarded = Vec::new();
        self.replay.seek(0, &mut discarded);
        self.traffic = TrafficMeter::default();
        self.playing = false;
        self.paused = false;
        self.over_sent = false;
        self.owed_ms = 0.0;
    }

    /// Jump to session time `t_ms`. Returns true when playback went back: the client drops
    /// what it was told since, as the answers up to `t_ms` come again in `out`.
    pub fn seek(&mut self, t_ms: Millis, out: &mut Vec<ServerMsg>) -> bool {
        if !self.playing {
            return false;
        }
        let back = t_ms < self.replay.now();
        let mut done = Vec::new();
        self.replay.seek(t_ms, &mut done);
        if back {
            self.traffic = TrafficMeter::default();
            self.over_sent = false;
        }
        self.owed_ms = 0.0;
        self.publish(done, out);
        back
    }

    /// Play on by `elapsed` wall time at the current speed; what a client should take in.
    pub fn poll(&mut self, elapsed: Duration, out: &mut Vec<ServerMsg>) {
        if !self.playing || self.paused || self.over_sent {
            return;
        }
        self.owed_ms += elapsed.as_secs_f64() * 1000.0 * self.speed;
        let step = self.owed_ms.floor();
        if step < 1.0 {
            return;
        }
        self.owed_ms -= step;
        let target = self.replay.now().saturating_add(step as Millis);
        let mut done = Vec::new();
        self.replay.advance_to(target, &mut done);
        self.publish(done, out);
    }

    /// Tell the client what was done, the view now, and the score once the end is reached.
    fn publish(&mut self, done: Vec<Replayed>, out: &mut Vec<ServerMsg>) {
        for d in done {
            out.push(match d {
                Replayed::Command { command, refused } => ServerMsg::Answer { command, refused },
                Replayed::Whisper { by, text } => ServerMsg::Whisper { from: by, text },
            });
        }
        let session = self.replay.session();
        self.traffic.scan(session);
        out.push(ServerMsg::View(Box::new(snapshot(
            session,
            self.paused,
            &self.traffic,
        ))));
        if self.replay.at_end() && !self.over_sent {
            self.over_sent = true;
            out.push(ServerMsg::Over {
                card: Box::new(self.replay.card()),
                scenario: Box::new(self.record().scenario.clone()),
                record: self.source.clone(),
                record_error: None,
                lab_error: None,
                lab: LabTimings::default(),
            });
        }
    }
}
