//! Where the trainee's seat is, and attaching the game to it: a seat spawned in this process over
//! the local scenarios and lab, or a seat on a `bulkhead serve` server joined with the
//! facilitator's code. Both end in the same `Connection`, so the bridge has one code path. A
//! record played back (`bulkhead replay`) needs no seat: its player speaks the same messages.
//!
//! Attaching happens once, before the app runs: joining a server waits for its greeting (a few
//! round trips at most), which must not stall a frame, and a refused join must end the game
//! before any window opens.

use std::sync::Arc;
use std::time::Duration;

use bevy::prelude::*;
use bulkhead_engine::{Backend, Loaded, Millis};
use bulkhead_host::replay::Player;
use bulkhead_host::seat::Records;
use bulkhead_host::{Connection, Offer, Seat, SeatConfig, ServerMsg};

use crate::bridge::Link;
use crate::{GameConfig, GameError, LabFactory};

/// Views go out at most this often while a local session runs: about 30 a second, enough for
/// the map's flows, cheap for the UI to copy.
const PUBLISH_EVERY: Duration = Duration::from_millis(33);
/// How long to wait for the seat's greeting. A local seat answers at once; `remote::connect`
/// has already waited for a served seat's.
const WELCOME_WAIT: Duration = Duration::from_secs(10);

/// Where the trainee's seat is.
#[derive(Clone, Debug)]
pub enum SeatSource {
    /// A seat in this process: the game brings its own labs up.
    Local(LocalSeat),
    /// A seat on a `bulkhead serve` server: the server owns the lab, its backend, seed and clock.
    Join(JoinSeat),
    /// No seat: a record played back on the same screens (`bulkhead replay`).
    Replay(ReplaySource),
}

/// A record to play back, and where it was read from (named in the debrief).
#[derive(Clone, Debug)]
pub struct ReplaySource {
    pub record: Box<bulkhead_engine::Record>,
    pub path: String,
    /// Session seconds per wall second to start at (1 to 60).
    pub speed: f64,
}

/// A seat in this process, over these scenarios and this lab.
#[derive(Clone)]
pub struct LocalSeat {
    pub scenarios: Vec<Loaded>,
    /// Builds the lab a session runs on; called on the seat's thread, so a slow lab (Docker
    /// images, containers) never stalls a frame.
    pub make_lab: LabFactory,
    /// What `make_lab` produces, for the menu.
    pub backend: Backend,
    /// How to change the backend, e.g. "run with --backend sim".
    pub backend_hint: String,
    /// The seed of every session (random per session when `None`).
    pub seed: Option<u64>,
    /// Session seconds per wall second; 1 is real time, 0 runs as fast as the lab allows.
    pub time_scale: f64,
    /// The folder each session's record is written to (`None`: kept nowhere).
    pub records: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for LocalSeat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalSeat")
            .field("scenarios", &self.scenarios.len())
            .field("backend", &self.backend)
            .field("seed", &self.seed)
            .field("time_scale", &self.time_scale)
            .finish()
    }
}

/// A seat on a server, as the facilitator hands it out.
#[derive(Debug, Clone, PartialEq)]
pub struct JoinSeat {
    /// The server's address, e.g. `http://10.0.0.5:7420`.
    pub url: String,
    /// The seat's join code.
    pub code: String,
    /// How the trainee appears on the facilitator's scoreboard.
    pub name: String,
}

/// A seat on a server, as its greeting named it.
#[derive(Debug, Clone, PartialEq)]
pub struct Served {
    pub workshop: String,
    pub seat: u32,
}

/// What the game knows of its seat: what the seat's greeting (`Welcome`) said, plus what only
/// a local seat can tell. The menu, briefing and HUD read it.
#[derive(Resource, Debug, Clone, PartialEq)]
pub struct SeatInfo {
    /// The scenarios the seat offers, in menu order.
    pub offers: Vec<Offer>,
    pub backend: Backend,
    /// How to change the backend (empty on a served seat: the server chooses).
    pub backend_hint: String,
    /// Workshop and seat number, on a served seat.
    pub served: Option<Served>,
    /// Session seconds per wall second, when the game knows it (local play).
    pub time_scale: Option<f64>,
    /// The seat is a record played back: no commands, a replay bar instead.
    pub replay: bool,
    /// Why the connection to the seat is gone, once it is.
    pub lost: Option<String>,
}

impl SeatInfo {
    /// Why nothing more can reach the seat, in the trainee's words.
    pub fn lost_reason(&self) -> String {
        self.lost.clone().unwrap_or_else(|| {
            if self.served.is_some() {
                "the server closed the connection".into()
            } else {
                "the session host stopped".into()
            }
        })
    }

    pub fn offers(&self, id: &str) -> bool {
        self.offers.iter().any(|o| o.id == id)
    }

    /// The offered ids, for messages that name what could have been asked.
    pub fn offered_ids(&self) -> String {
        let ids: Vec<&str> = self.offers.iter().map(|o| o.id.as_str()).collect();
        ids.join(", ")
    }

    /// Take what a (re)greeting says.
    pub fn welcome(&mut self, backend: Backend, offers: Vec<Offer>) {
        self.backend = backend;
        self.offers = offers;
    }
}

/// The game attached to its seat, greeted, ready to hand to `add_logic`.
pub struct Attached {
    pub(crate) link: Link,
    pub(crate) info: SeatInfo,
    /// What a served seat sent right after its greeting about the session it already had open
    /// (empty when it had none). Kept apart because, unlike everything later, it answers
    /// nothing the game asked.
    pub(crate) resumed: Vec<ServerMsg>,
}

impl std::fmt::Debug for Attached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attached")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl Attached {
    pub fn info(&self) -> &SeatInfo {
        &self.info
    }

    /// The scenario of the session the seat already had open, if it can still be played (its
    /// lab did not fail and it is not over).
    pub fn resumable(&self) -> Option<&str> {
        let over = self
            .resumed
            .iter()
            .any(|m| matches!(m, ServerMsg::Over { .. } | ServerMsg::LabFailed(_)));
        let open = self.resumed.iter().find_map(|m| match m {
            ServerMsg::Opened { brief, .. } => Some(brief.id.as_str()),
            _ => None,
        });
        open.filter(|_| !over)
    }

    /// Attach to a seat that is already connected and greets first (a served seat, or a test's
    /// hand-made connection): its `Welcome` is read here.
    pub fn greeted(connection: Connection) -> Result<Attached, GameError> {
        let welcome = greeting(&connection)?;
        let info = SeatInfo {
            offers: welcome.offers,
            backend: welcome.backend,
            backend_hint: String::new(),
            served: Some(welcome.served),
            // The server's clock, as its greeting says.
            time_scale: Some(welcome.time_scale).filter(|s| *s > 0.0),
            replay: false,
            lost: None,
        };
        let resumed = catch_up(&connection, welcome.resume)?;
        Ok(Attached {
            link: Link::remote(connection),
            info,
            resumed,
        })
    }
}

/// Attach the game to the seat `config` names: spawn it here, or join it on its server.
pub(crate) fn attach(config: &GameConfig) -> Result<Attached, GameError> {
    match &config.seat {
        SeatSource::Local(local) => attach_local(local, config.shot_at()),
        SeatSource::Join(join) => {
            let connection = bulkhead_host::remote::connect(&join.url, &join.code, &join.name)
                .map_err(|source| GameError::Join {
                    url: join.url.clone(),
                    source,
                })?;
            Attached::greeted(connection)
        }
        SeatSource::Replay(source) => {
            // A picture holds its moment; measuring frames plays on at the replay's speed.
            let jump = config.shot_at().map(|at| (at, !config.report_fps));
            Ok(attach_replay(source, jump))
        }
    }
}

/// A record played back: the player answers as a seat would, in this thread, paced by frames.
/// For a screenshot, playback jumps to its moment as soon as it begins (and holds there, when
/// the flag says so).
fn attach_replay(source: &ReplaySource, jump: Option<(Millis, bool)>) -> Attached {
    let mut player = Player::new((*source.record).clone(), Some(source.path.clone()));
    player.set_speed(source.speed);
    let info = SeatInfo {
        offers: vec![player.offer()],
        backend: player.backend(),
        backend_hint: String::new(),
        served: None,
        // The replay bar shows the speed.
        time_scale: None,
        replay: true,
        lost: None,
    };
    Attached {
        link: Link::replay(player, jump),
        info,
        resumed: Vec::new(),
    }
}

fn attach_local(local: &LocalSeat, shot_at: Option<Millis>) -> Result<Attached, GameError> {
    let seat = Seat::spawn(local_config(local, shot_at)).map_err(GameError::Seat)?;
    let connection = seat.try_attach(None).ok_or_else(|| {
        GameError::Seat(std::io::Error::other(
            "the new seat was already held by another client",
        ))
    })?;
    let welcome = greeting(&connection)?;
    let info = SeatInfo {
        offers: welcome.offers,
        backend: welcome.backend,
        backend_hint: local.backend_hint.clone(),
        served: None,
        // A screenshot runs flat out: no pace worth showing.
        time_scale: shot_at.is_none().then_some(local.time_scale),
        replay: false,
        lost: None,
    };
    Ok(Attached {
        link: Link::local(connection, seat),
        info,
        // A seat spawned just now has no session to resume.
        resumed: Vec::new(),
    })
}

/// How the game's own seat runs: `shot_at`, for a screenshot, plays as fast as the lab allows
/// up to that session time and holds there.
fn local_config(local: &LocalSeat, shot_at: Option<Millis>) -> SeatConfig {
    SeatConfig {
        seat: 1,
        workshop: String::new(),
        backend: local.backend,
        catalogue: Arc::new(local.scenarios.clone()),
        make_lab: local.make_lab.clone(),
        seed: local.seed,
        time_scale: if shot_at.is_some() {
            0.0
        } else {
            local.time_scale
        },
        stop_at: shot_at,
        publish_every: PUBLISH_EVERY,
        // Every session leaves a record for the debrief and the after-action report; a
        // screenshot run keeps none.
        records: match (&local.records, shot_at) {
            (Some(dir), None) => Records::Dir(dir.clone()),
            _ => Records::None,
        },
        // The game owns its seat and ends it when it closes.
        idle_timeout: None,
    }
}

/// What a seat's `Welcome` says.
struct Welcome {
    backend: Backend,
    offers: Vec<Offer>,
    served: Served,
    time_scale: f64,
    /// Messages about an already open session that follow the greeting.
    resume: u32,
}

/// Read the seat's `Welcome`, the first message on every connection.
fn greeting(connection: &Connection) -> Result<Welcome, GameError> {
    loop {
        match connection.recv_timeout(WELCOME_WAIT) {
            Ok(Some(ServerMsg::Welcome {
                backend,
                offers,
                workshop,
                seat,
                time_scale,
                resume,
                ..
            })) => {
                return Ok(Welcome {
                    backend,
                    offers,
                    served: Served { workshop, seat },
                    time_scale,
                    resume,
                });
            }
            Ok(Some(ServerMsg::Error { message, .. })) => {
                return Err(GameError::NoWelcome(message));
            }
            // Nothing precedes the greeting in this protocol version; skip rather than fail.
            Ok(Some(_)) => {}
            Ok(None) => {
                return Err(GameError::NoWelcome(format!(
                    "no greeting within {} s",
                    WELCOME_WAIT.as_secs()
                )));
            }
            Err(closed) => return Err(GameError::NoWelcome(closed.to_string())),
        }
    }
}

/// The messages a served seat sends right behind its greeting about a session it already has
/// open (a rejoin after a crash or a lost network): as many as the greeting announced.
fn catch_up(connection: &Connection, count: u32) -> Result<Vec<ServerMsg>, GameError> {
    (0..count)
        .map(|_| match connection.recv_timeout(WELCOME_WAIT) {
            Ok(Some(msg)) => Ok(msg),
            Ok(None) => Err(GameError::NoWelcome(
                "the seat announced its open session but did not send it".into(),
            )),
            Err(closed) => Err(GameError::NoWelcome(closed.to_string())),
        })
        .collect()
}
