//! The one bridge between bevy and the trainee's seat: it owns the `Connection` (and, in local
//! play, the `Seat` itself), turns UI intents into protocol messages, and each frame folds what
//! the seat sent into the read-only resources the screens draw from.
//!
//! A seat in this process and a seat on a server look the same from here: the seat runs the
//! session (lab, pacing, record) on its own thread, and only what the trainee may see crosses
//! the connection. The ground truth arrives once, with the score, and goes into `Outcome`, which
//! only the debrief reads: nothing the live screens read can hold a `Scenario`.
//!
//! A record played back (`bulkhead replay`) stands where the seat would: its player answers the
//! same messages, polled here each frame, and the replay bar moves and paces it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bevy::ecs::system::SystemParam;
use bevy::prelude::*;
use bulkhead_engine::format::scenario::Scenario;
use bulkhead_engine::{Command, LabTimings, Millis, Phase, ScoreCard, TraineeBrief};
use bulkhead_host::replay::{Player, ReplayStatus};
use bulkhead_host::{ClientMsg, Connection, Pace, Seat, ServerMsg};

use crate::screens::Screen;
use crate::seat::SeatInfo;
use crate::{GameInfo, scores};

pub use bulkhead_host::view::{BandView, EdgeTraffic, FlowEnd, Snapshot};

/// Messages kept for the trainee (results of commands, refusals).
const FEEDBACK_KEPT: usize = 30;

/// What the UI asks for. Panels and shortcuts write these; only the bridge acts on them.
#[derive(Message, Debug, Clone, PartialEq)]
pub enum Intent {
    /// Open a scenario's briefing and bring its lab up.
    Open(String),
    /// Leave the briefing: the warm-up starts.
    Start,
    /// A trainee command for the session.
    Command(Command),
    /// Pause or resume the session clock (labs that cannot pause refuse).
    TogglePause,
    /// End the live session now and go to the debrief.
    Finish,
    /// Play the same scenario again.
    Retry,
    /// Play the scenario after this one in the menu's order.
    Next,
    /// Abandon the session and go back to the menu.
    Menu,
    /// Replays only: move or pace the playback.
    Replay(ReplayControl),
}

/// What the replay bar asks of the playback.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ReplayControl {
    /// Jump to this session time.
    Seek(Millis),
    /// Session seconds per wall second.
    Speed(f64),
}

/// Where the lab of the open scenario stands.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum LabState {
    #[default]
    Idle,
    /// The lab is being brought up (a Docker lab takes a while).
    Starting,
    Ready,
    Failed(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedbackKind {
    Done,
    Refused,
    Info,
}

/// A message for the trainee about something they did.
#[derive(Debug, Clone, PartialEq)]
pub struct Feedback {
    /// Increases with every message, so the UI can tell new ones apart.
    pub seq: u64,
    pub kind: FeedbackKind,
    pub text: String,
    /// Session time when it happened.
    pub t_ms: Millis,
}

/// The trainee's view of the open session, refreshed every frame: only what the protocol carries
/// while a session runs, so no field can hold the scenario's ground truth.
#[derive(Resource, Debug, Default)]
pub struct SessionView {
    /// The scenario asked for (its brief may not have arrived yet).
    pub opening: Option<String>,
    /// What the trainee may know of it: the briefing and live screens read this.
    pub brief: Option<TraineeBrief>,
    /// The session's seed, as the seat chose it.
    pub seed: Option<u64>,
    pub lab: LabState,
    /// How long the lab took to come up (shown beside "ready"; empty for the simulated lab).
    pub lab_timings: LabTimings,
    pub snapshot: Option<Snapshot>,
    pub feedback: VecDeque<Feedback>,
    /// The best total for this scenario before this session (for "new best").
    pub best_before: Option<u32>,
    next_seq: u64,
}

impl SessionView {
    fn push_feedback(&mut self, kind: FeedbackKind, text: String) {
        let t_ms = self.snapshot.as_ref().map_or(0, |s| s.now_ms);
        self.next_seq += 1;
        self.feedback.push_back(Feedback {
            seq: self.next_seq,
            kind,
            text,
            t_ms,
        });
        while self.feedback.len() > FEEDBACK_KEPT {
            self.feedback.pop_front();
        }
    }

    /// A session is open (asked for, briefed, live or debriefed).
    pub fn is_open(&self) -> bool {
        self.opening.is_some()
    }

    /// The lab failed, unless it already had (the first reason is the one worth reading).
    fn fail(&mut self, why: String) {
        if !matches!(self.lab, LabState::Failed(_)) {
            self.lab = LabState::Failed(why);
        }
    }

    /// Apply one message about the open session. Messages that arrive before its brief belong to
    /// a session the trainee has already left, and are dropped.
    fn apply(&mut self, msg: ServerMsg) {
        let current = self.brief.is_some();
        match msg {
            ServerMsg::LabReady { lab } if current => {
                self.lab = LabState::Ready;
                self.lab_timings = lab;
            }
            ServerMsg::LabFailed(why) if current => self.fail(why),
            ServerMsg::View(snapshot) if current => self.snapshot = Some(*snapshot),
            ServerMsg::Answer { command, refused } if current => {
                let what = describe(&command);
                match refused {
                    Some(why) => {
                        self.push_feedback(FeedbackKind::Refused, format!("{what}: {why}"))
                    }
                    None => self.push_feedback(FeedbackKind::Done, what),
                }
            }
            ServerMsg::Notice(text) => self.push_feedback(FeedbackKind::Info, text),
            ServerMsg::Whisper { from, text } => {
                self.push_feedback(FeedbackKind::Info, format!("{from} says: {text}"))
            }
            ServerMsg::Error { message, .. } if self.is_open() && !current => {
                // The seat refused to open what was asked.
                self.fail(message);
            }
            ServerMsg::Error { message, .. } => {
                self.push_feedback(FeedbackKind::Refused, message);
            }
            _ => {}
        }
    }
}

/// The session's result, once it is over: the score card and, now that it may be seen, the
/// ground truth it was scored against. Its own resource, read only by the debrief.
#[derive(Resource, Debug, Default)]
pub struct Outcome(pub Option<Scored>);

#[derive(Debug, Clone)]
pub struct Scored {
    pub card: ScoreCard,
    pub scenario: Scenario,
    /// Where the seat kept the session's record (what `bulkhead report` reads), if it did.
    pub record: Option<String>,
}

/// The game's end of its seat: the connection (and the seat itself in local play), or the
/// player of a record.
pub struct Link {
    peer: Peer,
    /// The connection reported `Closed`; nothing more will arrive.
    closed: bool,
    /// An `Open` has been sent. Until then, a session the seat reports (`Opened` on a rejoin)
    /// is one to resume; afterwards, an unasked-for one is stale.
    opened_any: bool,
}

enum Peer {
    Seat {
        connection: Connection,
        /// `Some` in local play: the game owns the seat and ends it, lab and all, when it closes.
        seat: Option<Seat>,
    },
    Replay(Box<Replaying>),
}

/// A record's player, polled once a frame by the wall clock.
struct Replaying {
    player: Player,
    /// What the player said that the bridge has not taken yet.
    said: Vec<ServerMsg>,
    last_poll: Option<Instant>,
    /// Offscreen: jump here as soon as playback begins, and whether to hold there.
    jump: Option<(Millis, bool)>,
}

impl Link {
    pub(crate) fn local(connection: Connection, seat: Seat) -> Link {
        Link::of(Peer::Seat {
            connection,
            seat: Some(seat),
        })
    }

    pub(crate) fn remote(connection: Connection) -> Link {
        Link::of(Peer::Seat {
            connection,
            seat: None,
        })
    }

    pub(crate) fn replay(player: Player, jump: Option<(Millis, bool)>) -> Link {
        Link::of(Peer::Replay(Box::new(Replaying {
            player,
            said: Vec::new(),
            last_poll: None,
            jump,
        })))
    }

    fn of(peer: Peer) -> Link {
        Link {
            peer,
            closed: false,
            opened_any: false,
        }
    }

    /// Send a message to the seat (or the player); false when it cannot arrive.
    fn send(&mut self, msg: ClientMsg) -> bool {
        match &mut self.peer {
            Peer::Seat { connection, .. } => connection.send(msg).is_ok(),
            Peer::Replay(r) => {
                let begins = matches!(msg, ClientMsg::Begin);
                r.player.handle(msg, &mut r.said);
                if begins && let Some((at, hold)) = r.jump {
                    r.player.seek(at, &mut r.said);
                    if hold {
                        r.player.handle(ClientMsg::TogglePause, &mut r.said);
                    }
                }
                r.last_poll = None;
                true
            }
        }
    }

    /// Everything the seat sent (or the player played) since the last call.
    fn drain(&mut self, messages: &mut Vec<ServerMsg>) {
        match &mut self.peer {
            Peer::Seat { connection, .. } => {
                while !self.closed {
                    match connection.try_recv() {
                        Ok(Some(msg)) => messages.push(msg),
                        Ok(None) => break,
                        Err(_) => self.closed = true,
                    }
                }
            }
            Peer::Replay(r) => {
                let now = Instant::now();
                let elapsed = r.last_poll.map_or(Duration::ZERO, |last| now - last);
                r.last_poll = Some(now);
                r.player.poll(elapsed, &mut r.said);
                messages.append(&mut r.said);
            }
        }
    }
}

/// The bridge's link to its seat. Shared (a clone is the same link) so that `run` can still end
/// a local seat after bevy's runner has consumed the app; `None` once ended.
#[derive(Resource, Clone)]
pub struct Bridge {
    link: Arc<Mutex<Option<Link>>>,
}

impl std::fmt::Debug for Bridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bridge").finish_non_exhaustive()
    }
}

impl Bridge {
    pub(crate) fn new(link: Link) -> Bridge {
        Bridge {
            link: Arc::new(Mutex::new(Some(link))),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Option<Link>> {
        // A panic in another system must not take the link down with it.
        self.link
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Send a message to the seat; false when it cannot arrive.
    fn send(&self, msg: ClientMsg) -> bool {
        let mut link = self.lock();
        let Some(link) = link.as_mut().filter(|l| !l.closed) else {
            return false;
        };
        link.opened_any |= matches!(msg, ClientMsg::Open { .. });
        link.send(msg)
    }

    /// Everything the seat sent since the last call, and whether the connection has closed.
    fn drain(&self) -> (Vec<ServerMsg>, bool) {
        let mut link = self.lock();
        let Some(link) = link.as_mut() else {
            return (Vec::new(), true);
        };
        let mut messages = Vec::new();
        link.drain(&mut messages);
        (messages, link.closed)
    }

    /// Where a replay stands (`None` on a seat).
    pub fn replay_status(&self) -> Option<ReplayStatus> {
        match &self.lock().as_ref()?.peer {
            Peer::Replay(r) => Some(r.player.status()),
            Peer::Seat { .. } => None,
        }
    }

    /// Apply a replay control; true when playback went back in time (what the trainee was
    /// told since is to be forgotten: it comes again).
    fn control_replay(&self, control: &ReplayControl) -> bool {
        let mut link = self.lock();
        let Some(Peer::Replay(r)) = link.as_mut().map(|l| &mut l.peer) else {
            return false;
        };
        match *control {
            ReplayControl::Seek(t_ms) => r.player.seek(t_ms, &mut r.said),
            ReplayControl::Speed(speed) => {
                r.player.set_speed(speed);
                false
            }
        }
    }

    fn opened_any(&self) -> bool {
        self.lock().as_ref().is_some_and(|l| l.opened_any)
    }

    /// Detach from the seat and, in local play, end it: its session is finished and its lab
    /// comes down. Waits at most `wait`: a wedged Docker daemon must not keep the game from
    /// exiting (the reaper removes what is left).
    pub fn shut_down(&self, wait: Duration) {
        let Some(link) = self.lock().take() else {
            return;
        };
        let Peer::Seat { connection, seat } = link.peer else {
            // A replay has nothing to end.
            return;
        };
        drop(connection);
        let Some(seat) = seat else { return };
        let (done, finished) = mpsc::channel();
        let ending = std::thread::Builder::new()
            .name("seat teardown".into())
            .spawn(move || {
                seat.join();
                let _ = done.send(());
            });
        match ending {
            Ok(_) => {
                if finished.recv_timeout(wait).is_err() {
                    warn!(
                        "the lab was still coming down after {} s; `bulkhead labs prune` removes what is left",
                        wait.as_secs()
                    );
                }
            }
            Err(e) => warn!("could not wait for the lab to come down: {e}"),
        }
    }
}

/// What a served seat sent about the session it already had open when the game joined (see
/// `seat::Attached`), for `resume` to take in before the game asks for anything.
#[derive(Resource, Debug, Default)]
pub struct Resumed(pub(crate) Vec<ServerMsg>);

/// Take in the session a served seat already had open: it becomes the open session, on the
/// screen it has reached.
pub(crate) fn resume(mut resumed: ResMut<Resumed>, mut io: SessionIo) {
    for msg in std::mem::take(&mut resumed.0) {
        io.receive(msg);
    }
}

/// The bridge's systems run in this set, before anything that reads the view.
#[derive(SystemSet, Debug, Clone, PartialEq, Eq, Hash)]
pub struct BridgeSet;

/// Where a replay's playback stands, refreshed each frame (`None`: a seat, not a replay).
#[derive(Resource, Debug, Default)]
pub struct Playback(pub Option<ReplayStatus>);

/// The bridge's systems. `add_logic` inserts the `Bridge` and `SeatInfo` they need.
pub fn plugin(app: &mut App) {
    app.add_message::<Intent>()
        .init_resource::<SessionView>()
        .init_resource::<Outcome>()
        .init_resource::<Playback>()
        .add_systems(
            Update,
            (act_on_intents, pull, track_playback)
                .chain()
                .in_set(BridgeSet),
        )
        .add_systems(Update, close_on_request);
}

/// The exit code a close was asked with from outside bevy (0: none). A process-wide static
/// because the asker is a signal thread that holds no handle on the app.
static CLOSE_REQUESTED: AtomicU8 = AtomicU8::new(0);

/// Close the game as if its window had closed, leaving `run` with `code` (e.g. 130 after
/// Ctrl+C): the app exits at its next frame, then `run` ends the seat and its lab.
pub fn request_close(code: u8) {
    CLOSE_REQUESTED.store(code.max(1), Ordering::SeqCst);
}

fn close_on_request(mut exit: MessageWriter<AppExit>) {
    let code = CLOSE_REQUESTED.load(Ordering::SeqCst);
    if code != 0 {
        exit.write(AppExit::from_code(code));
    }
}

/// Everything the bridge's systems touch: the link, and the resources the screens read.
#[derive(SystemParam)]
pub(crate) struct SessionIo<'w> {
    bridge: Res<'w, Bridge>,
    info: Res<'w, GameInfo>,
    seat: ResMut<'w, SeatInfo>,
    view: ResMut<'w, SessionView>,
    outcome: ResMut<'w, Outcome>,
    screen: Res<'w, State<Screen>>,
    next: ResMut<'w, NextState<Screen>>,
}

fn act_on_intents(mut intents: MessageReader<Intent>, mut io: SessionIo) {
    for intent in intents.read() {
        match intent {
            Intent::Open(id) => io.open(id),
            Intent::Retry => {
                if let Some(id) = io.view.opening.clone() {
                    io.open(&id);
                }
            }
            Intent::Next => {
                if let Some(id) = io.next_offer() {
                    io.open(&id);
                }
            }
            Intent::Menu => io.leave(),
            Intent::Start => io.start(),
            Intent::Command(command) => io.command(command.clone()),
            Intent::TogglePause => io.control(ClientMsg::TogglePause),
            Intent::Finish => io.control(ClientMsg::Finish),
            Intent::Replay(control) => {
                if io.bridge.control_replay(control) {
                    io.view.feedback.clear();
                }
            }
        }
    }
}

/// Fold what the seat sent since the last frame into the view.
fn pull(mut io: SessionIo) {
    let (messages, closed) = io.bridge.drain();
    for msg in messages {
        io.receive(msg);
    }
    // A session that is running while the briefing shows (resumed on a rejoin, or begun before
    // its brief arrived) belongs on the live screen, which now has a brief to lay out.
    let begun = io
        .view
        .snapshot
        .as_ref()
        .is_some_and(|s| matches!(s.phase, Phase::Hardening | Phase::Warmup | Phase::Live));
    if begun && *io.screen.get() == Screen::Briefing {
        io.next.set(Screen::Live);
    }
    if closed {
        io.lose();
    }
}

fn track_playback(bridge: Res<Bridge>, mut playback: ResMut<Playback>) {
    let status = bridge.replay_status();
    if playback.0 != status {
        playback.0 = status;
    }
}

impl SessionIo<'_> {
    fn open(&mut self, id: &str) {
        if !self.seat.offers(id) {
            let offered = self.seat.offered_ids();
            self.view.push_feedback(
                FeedbackKind::Refused,
                format!("this seat does not offer \"{id}\"; it offers: {offered}"),
            );
            return;
        }
        // A double click must not open the scenario twice.
        let asked_already = self.view.opening.as_deref() == Some(id) && self.view.brief.is_none();
        if asked_already && self.view.lab == LabState::Starting {
            return;
        }
        self.reset(Some(id.to_string()));
        let sent = self.bridge.send(ClientMsg::Open {
            scenario: id.to_string(),
            pace: Pace::Clocked,
        });
        if !sent {
            self.view.fail(self.seat.lost_reason());
        }
        self.next.set(Screen::Briefing);
    }

    /// A fresh view for `opening` (or for no session at all).
    fn reset(&mut self, opening: Option<String>) {
        let best_before = opening.as_deref().and_then(|id| {
            let path = self.info.scores_file.as_deref()?;
            scores::load(path).best(id).map(|b| b.total)
        });
        *self.view = SessionView {
            lab: if opening.is_some() {
                LabState::Starting
            } else {
                LabState::Idle
            },
            opening,
            best_before,
            ..Default::default()
        };
        self.outcome.0 = None;
    }

    /// The offer after the open scenario, in the menu's order.
    fn next_offer(&self) -> Option<String> {
        let offers = &self.seat.offers;
        let current = self.view.opening.as_deref();
        let i = current
            .and_then(|id| offers.iter().position(|o| o.id == id))
            .map_or(0, |i| (i + 1) % offers.len().max(1));
        offers.get(i).map(|o| o.id.clone())
    }

    fn leave(&mut self) {
        if self.view.is_open() {
            // The seat may be gone already; the menu is the right place either way.
            self.bridge.send(ClientMsg::Close);
        }
        self.reset(None);
        self.next.set(Screen::Menu);
    }

    fn start(&mut self) {
        let failed = matches!(self.view.lab, LabState::Failed(_));
        if self.view.is_open() && !failed && self.bridge.send(ClientMsg::Begin) {
            // The live screen is laid out from the brief when it opens. Begun before the brief
            // has arrived (offscreen, where nobody waits for the lab), it opens with the first
            // view of the running session instead (see `pull`).
            if self.view.brief.is_some() {
                self.next.set(Screen::Live);
            }
        } else {
            self.view.push_feedback(
                FeedbackKind::Refused,
                "the lab is not up; go back to the menu and try again".into(),
            );
        }
    }

    fn command(&mut self, command: Command) {
        if self.seat.replay {
            self.view.push_feedback(
                FeedbackKind::Refused,
                "a replay takes no commands: it shows what was done".into(),
            );
        } else if !self.view.is_open() {
            self.view.push_feedback(
                FeedbackKind::Refused,
                "no session is running: the command was not sent".into(),
            );
        } else if !self.bridge.send(ClientMsg::Command(command)) {
            let why = self.seat.lost_reason();
            self.view.push_feedback(
                FeedbackKind::Refused,
                format!("the command was not sent: {why}"),
            );
        }
    }

    fn control(&mut self, msg: ClientMsg) {
        if self.view.is_open() && !self.bridge.send(msg) {
            let why = self.seat.lost_reason();
            self.view.fail(why);
        }
    }

    fn receive(&mut self, msg: ServerMsg) {
        match msg {
            ServerMsg::Welcome {
                backend, offers, ..
            } => self.seat.welcome(backend, offers),
            ServerMsg::Opened { brief, seed } => self.opened(*brief, seed),
            ServerMsg::Over {
                card,
                scenario,
                record,
                ..
            } => self.over(*card, *scenario, record),
            ServerMsg::Error { kind, message } if kind.is_fatal() => {
                // The server closes the connection after this: say why when it does.
                let why = format!("the server closed the connection: {message}");
                self.seat.lost = Some(why);
            }
            other => self.view.apply(other),
        }
    }

    /// The seat opened a scenario: the one asked for, or, before the game asked for any, the
    /// session a served seat was already running (a rejoin resumes it).
    fn opened(&mut self, brief: TraineeBrief, seed: u64) {
        let asked = self.view.opening.as_deref() == Some(brief.id.as_str());
        if !asked {
            if self.bridge.opened_any() {
                // An `Opened` for a session the trainee has already left.
                return;
            }
            self.reset(Some(brief.id.clone()));
            self.next.set(Screen::Briefing);
        }
        self.view.brief = Some(brief);
        self.view.seed = Some(seed);
        self.view.lab = LabState::Starting;
        self.view.snapshot = None;
    }

    fn over(&mut self, card: ScoreCard, scenario: Scenario, record: Option<String>) {
        if self.view.brief.is_none() {
            // The end of a session the trainee has already left.
            return;
        }
        // A replay is not a game played: it sets no best score.
        if let Some(path) = self.info.scores_file.as_ref().filter(|_| !self.seat.replay)
            && let Err(e) = scores::record(path, &scenario.id, &card)
        {
            self.view.push_feedback(
                FeedbackKind::Info,
                format!("best score not saved to {}: {e}", path.display()),
            );
        }
        self.outcome.0 = Some(Scored {
            card,
            scenario,
            record,
        });
        self.next.set(Screen::Debrief);
    }

    /// The connection closed: a session that was not over cannot go on.
    fn lose(&mut self) {
        let why = self.seat.lost_reason();
        if self.seat.lost.is_none() {
            self.seat.lost = Some(why.clone());
        }
        if self.view.is_open() && self.outcome.0.is_none() {
            self.view.fail(why);
        }
    }
}

/// A command in words, for feedback.
pub fn describe(command: &Command) -> String {
    match command {
        Command::Triage { alert, verdict } => {
            format!("alert {alert} triaged as {}", verdict.word())
        }
        Command::Attribute { entity } => format!("attributed {entity}"),
        Command::Mitigate(m) => m.summary(),
        Command::Hint => "hint revealed".into(),
    }
}
