//! The one bridge between bevy and a running session: a thread owns the `Session`, bevy talks to
//! it through channels, reads a snapshot it publishes, and turns UI intents into `Command`s.
//!
//! Why a thread: a Docker lab blocks in `advance` until its clock catches up and bringing a lab
//! up takes seconds; neither may stall a frame. Why snapshots: the UI must never hold the
//! session, so it gets a copy (at most ~30 a second) built only from the session's getters.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bevy::prelude::*;
use bulkhead_engine::session::TICK_MS;
use bulkhead_engine::{
    Backend, Command, Loaded, Millis, Pacing, RecordWriter, ScoreCard, Session, TraineeBrief,
};

use bulkhead_host::seed_or_random;
use bulkhead_host::view::{TrafficMeter, snapshot};

use crate::screens::Screen;
use crate::{LabFactory, scores};

/// How often the thread publishes a snapshot while the session runs (wall time).
const PUBLISH_EVERY: Duration = Duration::from_millis(33);
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
}

pub use bulkhead_host::view::{BandView, EdgeTraffic, FlowEnd, Snapshot};

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

/// The read-only view of the session the UI draws from, refreshed every frame.
#[derive(Resource, Debug, Default)]
pub struct SessionView {
    /// The scenario being briefed, played or debriefed (its ground truth is for the debrief).
    pub loaded: Option<Loaded>,
    /// What the trainee may know of it: the briefing and live screens read this.
    pub brief: Option<TraineeBrief>,
    pub lab: LabState,
    pub snapshot: Option<Snapshot>,
    pub feedback: VecDeque<Feedback>,
    /// The final score card, once the session is over.
    pub score: Option<ScoreCard>,
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
}

/// How the bridge runs sessions: fixed for the whole game.
#[derive(Resource, Clone)]
pub struct BridgeSettings {
    pub scenarios: Vec<Loaded>,
    pub make_lab: LabFactory,
    pub backend: Backend,
    pub backend_hint: String,
    pub seed: Option<u64>,
    /// Session seconds per wall second; 0 runs as fast as the lab allows.
    pub time_scale: f64,
    /// Hold the session (stop ticking) once it reaches this session time (screenshots).
    pub stop_at: Option<Millis>,
    pub scores_file: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for BridgeSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BridgeSettings")
            .field("scenarios", &self.scenarios.len())
            .field("backend", &self.backend)
            .field("time_scale", &self.time_scale)
            .field("stop_at", &self.stop_at)
            .finish()
    }
}

enum ToSession {
    Begin,
    Command(Command),
    TogglePause,
    Finish,
}

enum FromSession {
    LabReady,
    LabFailed(String),
    Answer {
        command: Command,
        refused: Option<String>,
    },
    PauseRefused(String),
    Over(Box<ScoreCard>),
}

/// The open session: a thread and its channels. Dropping it ends the thread, which drops the
/// session, which shuts its lab down.
struct SessionHandle {
    tx: Sender<ToSession>,
    rx: Mutex<Receiver<FromSession>>,
    latest: Arc<Mutex<Option<Box<Snapshot>>>>,
    done: Mutex<Receiver<()>>,
}

impl SessionHandle {
    /// Wait (at most `wait`) for the thread to finish tearing its lab down.
    fn close(self, wait: Duration) {
        let SessionHandle { tx, done, .. } = self;
        drop(tx);
        if let Ok(done) = done.lock() {
            let _ = done.recv_timeout(wait);
        }
    }
}

/// The bridge's state: which session is open, if any. Shared (a clone is the same bridge) so
/// that `run` can still close the session after bevy's runner has consumed the app.
#[derive(Resource, Default, Clone)]
pub struct Bridge {
    slot: Arc<Mutex<Option<SessionHandle>>>,
}

impl Bridge {
    /// End the open session, waiting at most `wait` for its lab to come down.
    pub fn close(&self, wait: Duration) {
        if let Some(handle) = self.take() {
            handle.close(wait);
        }
    }

    pub fn is_open(&self) -> bool {
        self.slot.lock().is_ok_and(|s| s.is_some())
    }

    fn take(&self) -> Option<SessionHandle> {
        self.slot.lock().ok().and_then(|mut s| s.take())
    }

    fn set(&self, handle: SessionHandle) {
        if let Ok(mut s) = self.slot.lock() {
            *s = Some(handle);
        }
    }

    /// Run `f` with the open session, if any.
    fn with<R>(&self, f: impl FnOnce(&SessionHandle) -> R) -> Option<R> {
        self.slot.lock().ok().and_then(|s| s.as_ref().map(f))
    }
}

impl std::fmt::Debug for Bridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bridge")
            .field("open", &self.is_open())
            .finish()
    }
}

/// The bridge's systems run in this set, before anything that reads the view.
#[derive(SystemSet, Debug, Clone, PartialEq, Eq, Hash)]
pub struct BridgeSet;

pub fn plugin(app: &mut App) {
    app.add_message::<Intent>()
        .init_resource::<SessionView>()
        .init_resource::<Bridge>()
        .add_systems(Update, (act_on_intents, pull).chain().in_set(BridgeSet))
        .add_systems(Update, close_on_request);
}

/// The exit code a close was asked with from outside bevy (0: none). A process-wide static
/// because the asker is a signal thread that holds no handle on the app.
static CLOSE_REQUESTED: AtomicU8 = AtomicU8::new(0);

/// Close the game as if its window had closed, leaving `run` with `code` (e.g. 130 after
/// Ctrl+C): the app exits at its next frame, then `run` tears the session's lab down.
pub fn request_close(code: u8) {
    CLOSE_REQUESTED.store(code.max(1), Ordering::SeqCst);
}

fn close_on_request(mut exit: MessageWriter<AppExit>) {
    let code = CLOSE_REQUESTED.load(Ordering::SeqCst);
    if code != 0 {
        exit.write(AppExit::from_code(code));
    }
}

/// Start a session thread for a scenario; the lab comes up in the thread, not in a frame.
fn open(settings: &BridgeSettings, loaded: &Loaded) -> SessionHandle {
    let (tx, thread_rx) = mpsc::channel();
    let (thread_tx, rx) = mpsc::channel();
    let (done_tx, done) = mpsc::channel();
    let latest = Arc::new(Mutex::new(None));
    let run = SessionThread {
        loaded: loaded.clone(),
        make_lab: settings.make_lab.clone(),
        seed: seed_or_random(settings.seed),
        time_scale: settings.time_scale,
        stop_at: settings.stop_at,
        rx: thread_rx,
        tx: thread_tx,
        latest: latest.clone(),
    };
    let spawned = std::thread::Builder::new()
        .name(format!("session {}", loaded.scenario.id))
        .spawn(move || {
            run.run();
            let _ = done_tx.send(());
        });
    if let Err(e) = spawned {
        // The receiver sees a closed channel; report the reason through a fresh one.
        let (tx2, rx2) = mpsc::channel();
        let _ = tx2.send(FromSession::LabFailed(format!(
            "could not start the session thread: {e}"
        )));
        let (_, done2) = mpsc::channel();
        return SessionHandle {
            tx,
            rx: Mutex::new(rx2),
            latest,
            done: Mutex::new(done2),
        };
    }
    SessionHandle {
        tx,
        rx: Mutex::new(rx),
        latest,
        done: Mutex::new(done),
    }
}

fn find<'a>(settings: &'a BridgeSettings, id: &str) -> Option<&'a Loaded> {
    settings.scenarios.iter().find(|l| l.scenario.id == id)
}

fn act_on_intents(
    mut intents: MessageReader<Intent>,
    settings: Res<BridgeSettings>,
    bridge: Res<Bridge>,
    mut view: ResMut<SessionView>,
    mut next: ResMut<NextState<Screen>>,
) {
    for intent in intents.read() {
        match intent {
            Intent::Open(id) => open_scenario(id, &settings, &bridge, &mut view, &mut next),
            Intent::Retry => {
                if let Some(id) = view.loaded.as_ref().map(|l| l.scenario.id.clone()) {
                    open_scenario(&id, &settings, &bridge, &mut view, &mut next);
                }
            }
            Intent::Next => {
                let current = view.loaded.as_ref().map(|l| l.scenario.id.clone());
                let i = current
                    .and_then(|id| settings.scenarios.iter().position(|l| l.scenario.id == id))
                    .map_or(0, |i| (i + 1) % settings.scenarios.len().max(1));
                if let Some(id) = settings.scenarios.get(i).map(|l| l.scenario.id.clone()) {
                    open_scenario(&id, &settings, &bridge, &mut view, &mut next);
                }
            }
            Intent::Menu => {
                bridge.close(Duration::ZERO);
                *view = SessionView::default();
                next.set(Screen::Menu);
            }
            Intent::Start => {
                let failed = matches!(view.lab, LabState::Failed(_));
                let sent =
                    !failed && bridge.with(|h| h.tx.send(ToSession::Begin).is_ok()) == Some(true);
                if sent {
                    next.set(Screen::Live);
                } else {
                    view.push_feedback(
                        FeedbackKind::Refused,
                        "the lab is not up; go back to the menu and try again".into(),
                    );
                }
            }
            Intent::Command(command) => {
                let sent = bridge.with(|h| h.tx.send(ToSession::Command(command.clone())).is_ok());
                if sent != Some(true) {
                    view.push_feedback(
                        FeedbackKind::Refused,
                        "no session is running: the command was not sent".into(),
                    );
                }
            }
            Intent::TogglePause => {
                bridge.with(|h| h.tx.send(ToSession::TogglePause));
            }
            Intent::Finish => {
                bridge.with(|h| h.tx.send(ToSession::Finish));
            }
        }
    }
}

fn open_scenario(
    id: &str,
    settings: &BridgeSettings,
    bridge: &Bridge,
    view: &mut SessionView,
    next: &mut NextState<Screen>,
) {
    let Some(loaded) = find(settings, id) else {
        view.push_feedback(FeedbackKind::Refused, format!("no scenario \"{id}\""));
        return;
    };
    bridge.close(Duration::ZERO);
    *view = SessionView {
        loaded: Some(loaded.clone()),
        brief: Some(TraineeBrief::of(&loaded.scenario, &loaded.topology)),
        lab: LabState::Starting,
        best_before: settings
            .scores_file
            .as_deref()
            .and_then(|p| scores::load(p).best(id).map(|b| b.total)),
        ..Default::default()
    };
    bridge.set(open(settings, loaded));
    next.set(Screen::Briefing);
}

/// Take what the session thread sent since the last frame.
fn pull(
    bridge: Res<Bridge>,
    settings: Res<BridgeSettings>,
    mut view: ResMut<SessionView>,
    mut next: ResMut<NextState<Screen>>,
) {
    let mut events = Vec::new();
    let mut disconnected = false;
    let snapshot = bridge.with(|handle| {
        if let Ok(rx) = handle.rx.lock() {
            loop {
                match rx.try_recv() {
                    Ok(e) => events.push(e),
                    Err(mpsc::TryRecvError::Empty) => break,
                    Err(mpsc::TryRecvError::Disconnected) => {
                        disconnected = true;
                        break;
                    }
                }
            }
        }
        handle.latest.lock().ok().and_then(|mut l| l.take())
    });
    let Some(snapshot) = snapshot else {
        return;
    };
    if let Some(snapshot) = snapshot {
        view.snapshot = Some(*snapshot);
    }
    let mut over = false;
    for event in events {
        match event {
            FromSession::LabReady => view.lab = LabState::Ready,
            FromSession::LabFailed(e) => view.lab = LabState::Failed(e),
            FromSession::Answer { command, refused } => {
                let what = describe(&command);
                match refused {
                    Some(why) => {
                        view.push_feedback(FeedbackKind::Refused, format!("{what}: {why}"))
                    }
                    None => view.push_feedback(FeedbackKind::Done, what),
                }
            }
            FromSession::PauseRefused(why) => view.push_feedback(FeedbackKind::Refused, why),
            FromSession::Over(card) => {
                if let (Some(path), Some(loaded)) = (&settings.scores_file, &view.loaded)
                    && let Err(e) = scores::record(path, &loaded.scenario.id, &card)
                {
                    view.push_feedback(
                        FeedbackKind::Info,
                        format!("best score not saved to {}: {e}", path.display()),
                    );
                }
                view.score = Some(*card);
                over = true;
            }
        }
    }
    if over {
        next.set(Screen::Debrief);
        // The thread has finished; let it tear the lab down on its own.
        bridge.take();
    } else if disconnected && view.score.is_none() && view.lab != LabState::Idle {
        let why = view
            .snapshot
            .as_ref()
            .and_then(|s| s.lab_error.clone())
            .unwrap_or_else(|| "the session thread stopped".into());
        if !matches!(view.lab, LabState::Failed(_)) {
            view.lab = LabState::Failed(why);
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

/// The session thread's state.
struct SessionThread {
    loaded: Loaded,
    make_lab: LabFactory,
    seed: u64,
    time_scale: f64,
    stop_at: Option<Millis>,
    rx: Receiver<ToSession>,
    tx: Sender<FromSession>,
    latest: Arc<Mutex<Option<Box<Snapshot>>>>,
}

/// Pacing state of a running session.
struct Clock {
    begun: bool,
    paused: bool,
    /// Wall instant and session time the pacing counts from (reset on resume).
    anchor: Option<(Instant, Millis)>,
}

impl SessionThread {
    fn run(self) {
        let lab = match (self.make_lab)(&self.loaded, self.seed) {
            Ok(lab) => lab,
            Err(e) => {
                let _ = self.tx.send(FromSession::LabFailed(e));
                return;
            }
        };
        let mut session = Session::new(
            self.loaded.scenario.clone(),
            self.loaded.topology.clone(),
            lab,
            self.seed,
            RecordWriter::discard(),
        );
        let _ = self.tx.send(FromSession::LabReady);
        let mut traffic = TrafficMeter::default();
        let mut clock = Clock {
            begun: false,
            paused: false,
            anchor: None,
        };
        let mut last_publish = Instant::now();
        let mut published_phase = None;
        let real_time = session.lab().pacing() == Pacing::RealTime;
        // `changed`: something to publish; `urgent`: publish it now (the trainee acted).
        let (mut changed, mut urgent) = (true, true);
        loop {
            // Commands first, so that a click lands before the next tick.
            loop {
                match self.rx.try_recv() {
                    Ok(msg) => {
                        self.handle(msg, &mut session, &mut clock);
                        (changed, urgent) = (true, true);
                    }
                    Err(mpsc::TryRecvError::Empty) => break,
                    Err(mpsc::TryRecvError::Disconnected) => return,
                }
            }
            let held = self.stop_at.is_some_and(|t| session.now() >= t);
            let running = clock.begun && !clock.paused && !held && !session.is_over();
            if running {
                // A real-time lab paces itself inside `advance`: sleeping here would double it.
                let wait = if real_time || self.time_scale <= 0.0 {
                    Duration::ZERO
                } else {
                    let (wall, at) = *clock.anchor.get_or_insert((Instant::now(), session.now()));
                    let due = Duration::from_secs_f64(
                        (session.now() + TICK_MS - at) as f64 / 1000.0 / self.time_scale,
                    );
                    due.saturating_sub(wall.elapsed())
                };
                if wait.is_zero() {
                    session.tick();
                    traffic.scan(&session);
                    changed = true;
                } else {
                    // Sleep until the tick is due, but wake for a command.
                    match self.rx.recv_timeout(wait) {
                        Ok(msg) => {
                            self.handle(msg, &mut session, &mut clock);
                            (changed, urgent) = (true, true);
                        }
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => return,
                    }
                }
            }
            if session.is_over() {
                self.publish(&session, &clock, &traffic);
                // The score exists from the debrief on, and only then reaches the trainee.
                if let Some(card) = session.score().cloned() {
                    let _ = self.tx.send(FromSession::Over(Box::new(card)));
                }
                return;
            }
            urgent |= published_phase != Some(session.phase());
            if changed && (urgent || !running || last_publish.elapsed() >= PUBLISH_EVERY) {
                self.publish(&session, &clock, &traffic);
                published_phase = Some(session.phase());
                last_publish = Instant::now();
                (changed, urgent) = (false, false);
            }
            if !running {
                // Briefing, paused or held: wait for a command.
                match self.rx.recv_timeout(Duration::from_millis(100)) {
                    Ok(msg) => {
                        self.handle(msg, &mut session, &mut clock);
                        (changed, urgent) = (true, true);
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            }
        }
    }

    fn handle(&self, msg: ToSession, session: &mut Session, clock: &mut Clock) {
        match msg {
            ToSession::Begin => {
                session.begin();
                clock.begun = true;
                clock.anchor = None;
            }
            ToSession::Command(command) => {
                let refused = session.submit(command.clone()).err().map(|r| r.0);
                let _ = self.tx.send(FromSession::Answer { command, refused });
            }
            ToSession::Finish => {
                // Only a session that has begun has anything to score.
                if clock.begun {
                    session.finish();
                }
            }
            ToSession::TogglePause => {
                if !session.lab().can_pause() {
                    let _ = self.tx.send(FromSession::PauseRefused(format!(
                        "the {} runs in real time and cannot pause",
                        session.lab().backend().title()
                    )));
                } else {
                    clock.paused = !clock.paused;
                    // Pacing restarts from here so a resume does not rush to catch up.
                    clock.anchor = None;
                }
            }
        }
    }

    fn publish(&self, session: &Session, clock: &Clock, traffic: &TrafficMeter) {
        let snapshot = snapshot(session, clock.paused, traffic);
        if let Ok(mut latest) = self.latest.lock() {
            *latest = Some(Box::new(snapshot));
        }
    }
}
