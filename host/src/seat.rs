//! A seat: one trainee's place at the range. A thread owns the seat's open session (its lab,
//! pacing, record and views) and answers one attached client at a time through
//! `protocol` messages. The game attaches to a seat in its own process; the server attaches a
//! WebSocket to one of many; both see exactly the same messages.
//!
//! Why a thread per seat: a Docker lab blocks in `advance` until its clock catches up, and
//! bringing a lab up takes seconds; neither may stall a frame, a socket or another seat.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bulkhead_engine::observation::LifecycleState;
use bulkhead_engine::record::{RecordHealth, RecordLine, RecordState};
use bulkhead_engine::session::TICK_MS;
use bulkhead_engine::{
    Backend, Lab, Loaded, LogEvent, Millis, Observation, ObservationBody, Pacing, Phase,
    RecordWriter, ScoreCard, Session,
};
use serde::Serialize;

use crate::connection::Connection;
use crate::oversight::{Activity, ControlReply, Health, MentorView, SeatControl};
use crate::protocol::{ClientMsg, ErrorKind, Offer, PROTOCOL_VERSION, Pace, ServerMsg};
use crate::view::{TrafficMeter, snapshot};

/// Builds the lab a session runs on, from the scenario and the session's seed. Called on the
/// seat's thread.
pub type LabFactory = Arc<dyn Fn(&Loaded, u64) -> Result<Box<dyn Lab>, String> + Send + Sync>;

/// How long a seat with nobody attached waits, when it is idle, between checks.
const IDLE_POLL: Duration = Duration::from_millis(100);

/// A watched seat's mentor view is rebuilt at most this often: it rescores the record so far.
const MENTOR_EVERY: Duration = Duration::from_millis(250);

/// Where a seat keeps its sessions' records.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Records {
    /// Nowhere (the game's practice sessions).
    #[default]
    None,
    /// One JSON Lines file per session in this folder, named after seat, scenario and seed.
    Dir(PathBuf),
    /// This file, for the seat's first session only (`bulkhead run --record`).
    File(PathBuf),
}

/// How a seat runs its sessions; fixed for the seat's life.
#[derive(Clone)]
pub struct SeatConfig {
    pub seat: u32,
    pub workshop: String,
    pub backend: Backend,
    /// The scenarios this seat offers, in menu order.
    pub catalogue: Arc<Vec<Loaded>>,
    pub make_lab: LabFactory,
    /// The seed of every session (random per session when `None`).
    pub seed: Option<u64>,
    /// Session seconds per wall second for a clocked simulated lab; 0 runs as fast as it can.
    pub time_scale: f64,
    /// Hold the session (stop ticking) once it reaches this session time (screenshots).
    pub stop_at: Option<Millis>,
    /// Views go out at most this often while a clocked session runs (every tick when zero).
    pub publish_every: Duration,
    pub records: Records,
    /// With nobody attached, a session that is not running (briefing, paused) is closed and its
    /// lab removed after this long.
    pub idle_timeout: Option<Duration>,
}

impl std::fmt::Debug for SeatConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeatConfig")
            .field("seat", &self.seat)
            .field("backend", &self.backend)
            .field("scenarios", &self.catalogue.len())
            .field("time_scale", &self.time_scale)
            .field("records", &self.records)
            .finish()
    }
}

/// What a facilitator may know of a seat (ground truth included: the final score).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SeatStatus {
    pub seat: u32,
    /// The display name the trainee gave on their latest join.
    pub trainee: Option<String>,
    pub connected: bool,
    pub scenario: Option<String>,
    pub phase: Option<Phase>,
    /// Session time.
    pub now_ms: Millis,
    pub lab: LabStatus,
    /// The Swarm node the seat's lab runs on (`None`: the server's own machine).
    pub node: Option<String>,
    pub alerts: usize,
    pub alerts_triaged: usize,
    pub actions: usize,
    /// The final score of the latest session, once it is over.
    pub score: Option<u32>,
    pub max: Option<u32>,
    pub record: Option<String>,
    /// The latest session's score card, once it is over (for results exports, which write it
    /// out themselves).
    #[serde(skip)]
    pub card: Option<Arc<ScoreCard>>,
    pub paused: bool,
    pub can_pause: bool,
    pub total_ms: Millis,
    /// Session time the live phase starts at.
    pub live_start_ms: Millis,
    pub hints_used: usize,
    pub health: Health,
    pub lab_error: Option<String>,
    /// When the trainee last sent anything (serialised as seconds ago).
    #[serde(rename = "idle_s")]
    pub last_activity: Activity,
}

/// Where a seat's lab stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LabStatus {
    #[default]
    None,
    Starting,
    Up,
    Failed,
    Down,
}

enum Input {
    Attach {
        conn: u64,
        out: Sender<ServerMsg>,
    },
    Detach {
        conn: u64,
    },
    Client {
        conn: u64,
        msg: ClientMsg,
    },
    Control {
        control: SeatControl,
        by: String,
        reply: Sender<ControlReply>,
    },
    /// Someone started watching: build the mentor view now rather than at the next tick.
    Wake,
    Shutdown,
}

/// What a seat shares with those who watch it: how many watch, and the latest mentor view.
#[derive(Default)]
struct Watched {
    watchers: AtomicUsize,
    view: Mutex<Option<Arc<MentorView>>>,
}

/// Held while someone watches a seat: the seat keeps its mentor view current until it drops.
pub struct Watching {
    watched: Arc<Watched>,
}

impl Watching {
    /// The latest mentor view, if a session is open.
    pub fn view(&self) -> Option<Arc<MentorView>> {
        lock(&self.watched.view).clone()
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        // The last watcher gone, the view goes stale: the next one must not be shown it.
        if self.watched.watchers.fetch_sub(1, Ordering::Relaxed) == 1 {
            *lock(&self.watched.view) = None;
        }
    }
}

/// A running seat. Dropping it (or `shutdown`) ends its session: the record gets its closing
/// line and the lab comes down before the thread exits.
pub struct Seat {
    inbox: Sender<Input>,
    status: Arc<Mutex<SeatStatus>>,
    watched: Arc<Watched>,
    /// The connection holding the seat, if any: checked and set under one lock so that two
    /// clients racing for a code cannot both get it.
    holder: Arc<Mutex<Option<u64>>>,
    next_conn: AtomicU64,
    /// Taken by the first `join` (or the drop), so that a seat shared behind an `Arc` can be
    /// waited for too.
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Seat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Seat")
            .field("status", &self.status())
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere must not take every later reader down with it.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Seat {
    pub fn spawn(config: SeatConfig) -> std::io::Result<Seat> {
        let (inbox, rx) = mpsc::channel();
        let status = Arc::new(Mutex::new(SeatStatus {
            seat: config.seat,
            ..Default::default()
        }));
        let watched = Arc::new(Watched::default());
        let thread = SeatThread::new(config, rx, status.clone(), watched.clone());
        let name = format!("seat {}", thread.config.seat);
        let handle = std::thread::Builder::new()
            .name(name)
            .spawn(move || thread.run())?;
        Ok(Seat {
            inbox,
            status,
            watched,
            holder: Arc::new(Mutex::new(None)),
            next_conn: AtomicU64::new(1),
            thread: Mutex::new(Some(handle)),
        })
    }

    /// Attach a client unless one holds the seat. The client first receives `Welcome`, then,
    /// if a session is open, what it needs to resume it (brief, lab state, the latest view and,
    /// if it is over, the score).
    pub fn try_attach(&self, trainee: Option<String>) -> Option<Connection> {
        let mut holder = lock(&self.holder);
        if holder.is_some() {
            return None;
        }
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
        *holder = Some(conn);
        drop(holder);
        {
            let mut status = lock(&self.status);
            status.connected = true;
            if trainee.is_some() {
                status.trainee = trainee;
            }
        }
        Some(self.connect(conn))
    }

    /// Close the attached client's connection, if any; the session goes on.
    pub fn kick(&self) {
        let taken = lock(&self.holder).take();
        if let Some(conn) = taken {
            let _ = self.inbox.send(Input::Detach { conn });
            lock(&self.status).connected = false;
        }
    }

    fn connect(&self, conn: u64) -> Connection {
        let (out, rx) = mpsc::channel();
        let _ = self.inbox.send(Input::Attach { conn, out });
        let inbox = self.inbox.clone();
        let on_drop = {
            let inbox = self.inbox.clone();
            let holder = self.holder.clone();
            let status = self.status.clone();
            move || {
                let mut holder = lock(&holder);
                if *holder == Some(conn) {
                    *holder = None;
                    lock(&status).connected = false;
                }
                drop(holder);
                let _ = inbox.send(Input::Detach { conn });
            }
        };
        Connection::new(
            move |msg| inbox.send(Input::Client { conn, msg }).is_ok(),
            rx,
            on_drop,
        )
    }

    pub fn status(&self) -> SeatStatus {
        lock(&self.status).clone()
    }

    /// Ask the seat to do something for a facilitator or mentor (`by` names them in the record
    /// and the logs). The answer arrives on the receiver; a seat that has stopped never answers.
    pub fn control(&self, control: SeatControl, by: &str) -> Receiver<ControlReply> {
        let (reply, answer) = mpsc::channel();
        let _ = self.inbox.send(Input::Control {
            control,
            by: by.to_string(),
            reply,
        });
        answer
    }

    /// Start watching the seat as its mentor: its view is kept current while this is held.
    pub fn watch(&self) -> Watching {
        self.watched.watchers.fetch_add(1, Ordering::Relaxed);
        let _ = self.inbox.send(Input::Wake);
        Watching {
            watched: self.watched.clone(),
        }
    }

    /// Ask the seat to end its session and stop, without waiting (see `join`).
    pub fn stop(&self) {
        let _ = self.inbox.send(Input::Shutdown);
    }

    /// Stop the seat and wait for its thread: its session's record is written and its lab is
    /// down. Later calls return at once.
    pub fn join(&self) {
        self.stop();
        let thread = lock(&self.thread).take();
        if let Some(t) = thread {
            let _ = t.join();
        }
    }
}

impl Drop for Seat {
    fn drop(&mut self) {
        self.join();
    }
}

/// A random seed when none was asked for, printed with the score so a run can be repeated.
pub fn seed_or_random(seed: Option<u64>) -> u64 {
    seed.unwrap_or_else(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        nanos % 1_000_000
    })
}

/// Pacing state of a running session.
#[derive(Debug, Default)]
struct Clock {
    begun: bool,
    paused: bool,
    /// Wall instant and session time the pacing counts from (reset on resume).
    anchor: Option<(Instant, Millis)>,
    /// Lockstep: ticks the client asked for and the seat has not run yet.
    steps: u32,
}

/// The open scenario of a seat.
struct Open {
    loaded: Loaded,
    seed: u64,
    pace: Pace,
    /// `None` when the lab failed to come up.
    session: Option<Session>,
    failed: Option<String>,
    clock: Clock,
    traffic: TrafficMeter,
    record: Option<String>,
    /// Sent once the session is over; kept for a client that reconnects.
    over: Option<ServerMsg>,
    /// What the last view sent held, to publish at once when an alert arrives or the phase
    /// changes.
    published: Option<(Phase, usize)>,
    last_publish: Option<Instant>,
    changed: bool,
    /// Lockstep: a view is owed for the tick just run (or the start). Only then does one go out,
    /// so the client decides exactly once per tick, as a defender beside the session does.
    step_view_owed: bool,
    /// How the writing of the record stood when last told (the trainee hears of each change).
    record_state: RecordState,
    /// Record lines already looked at for faults the trainee must hear of.
    faults_scanned: usize,
}

struct SeatThread {
    config: SeatConfig,
    inbox: Receiver<Input>,
    status: Arc<Mutex<SeatStatus>>,
    watched: Arc<Watched>,
    mentor_built: Option<Instant>,
    client: Option<(u64, Sender<ServerMsg>)>,
    detached_since: Instant,
    open: Option<Open>,
    /// `Records::File` is for one session: used up once opened.
    record_file_used: bool,
}

impl SeatThread {
    fn new(
        config: SeatConfig,
        inbox: Receiver<Input>,
        status: Arc<Mutex<SeatStatus>>,
        watched: Arc<Watched>,
    ) -> Self {
        SeatThread {
            config,
            inbox,
            status,
            watched,
            mentor_built: None,
            client: None,
            detached_since: Instant::now(),
            open: None,
            record_file_used: false,
        }
    }

    fn run(mut self) {
        loop {
            let wait = self.advance();
            let input = match self.inbox.recv_timeout(wait) {
                Ok(input) => input,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => break,
            };
            if !self.handle(input) {
                break;
            }
            // Everything already queued lands before the next tick.
            while let Ok(input) = self.inbox.try_recv() {
                if !self.handle(input) {
                    self.close_session();
                    return;
                }
            }
        }
        self.close_session();
    }

    fn send(&mut self, msg: ServerMsg) {
        if let Some((_, out)) = &self.client
            && out.send(msg).is_err()
        {
            self.client = None;
            self.detached_since = Instant::now();
        }
    }

    /// Handle one input; false when the seat must stop.
    fn handle(&mut self, input: Input) -> bool {
        match input {
            Input::Shutdown => return false,
            Input::Attach { conn, out } => {
                self.client = Some((conn, out));
                self.resume();
            }
            Input::Detach { conn } => {
                if self.client.as_ref().is_some_and(|(c, _)| *c == conn) {
                    self.client = None;
                    self.detached_since = Instant::now();
                }
            }
            Input::Client { conn, msg } => {
                // A message from a connection that no longer holds the seat is dropped.
                if self.client.as_ref().is_some_and(|(c, _)| *c == conn) {
                    lock(&self.status).last_activity = Activity::default();
                    self.on_message(msg);
                }
            }
            Input::Control { control, by, reply } => self.on_control(control, &by, &reply),
            Input::Wake => {}
        }
        true
    }

    /// Greet a (re)attached client and bring it up to date: the greeting says how many
    /// messages of the open session follow, so the client knows where the catch-up ends.
    fn resume(&mut self) {
        let catch_up = self.catch_up();
        self.send(ServerMsg::Welcome {
            protocol: PROTOCOL_VERSION,
            seat: self.config.seat,
            workshop: self.config.workshop.clone(),
            backend: self.config.backend,
            offers: self
                .config
                .catalogue
                .iter()
                .map(|l| Offer::of(&l.scenario))
                .collect(),
            time_scale: self.config.time_scale,
            resume: catch_up.len() as u32,
        });
        for msg in catch_up {
            self.send(msg);
        }
    }

    /// What a client joining now must hear of the open session, if any.
    fn catch_up(&self) -> Vec<ServerMsg> {
        let Some(open) = &self.open else {
            return Vec::new();
        };
        let mut msgs = vec![ServerMsg::Opened {
            brief: Box::new(bulkhead_engine::TraineeBrief::of(
                &open.loaded.scenario,
                &open.loaded.topology,
            )),
            seed: open.seed,
        }];
        match (&open.session, &open.failed) {
            (_, Some(why)) => msgs.push(ServerMsg::LabFailed(why.clone())),
            (Some(session), None) => {
                msgs.push(ServerMsg::LabReady {
                    lab: session.lab_timings(),
                });
                msgs.push(ServerMsg::View(Box::new(snapshot(
                    session,
                    open.clock.paused,
                    &open.traffic,
                ))));
            }
            (None, None) => {}
        }
        if let Some(over) = &open.over {
            msgs.push(over.clone());
        }
        msgs
    }

    fn on_message(&mut self, msg: ClientMsg) {
        match msg {
            // The facilitator may have started this very session before the client asked: the
            // client joins it rather than throwing it away.
            ClientMsg::Open { scenario, .. } if self.runs(&scenario) => {
                for msg in self.catch_up() {
                    self.send(msg);
                }
            }
            ClientMsg::Open { scenario, pace } => self.open_scenario(&scenario, pace),
            ClientMsg::Close => self.close_session(),
            other => {
                let reply = match self.open.as_mut() {
                    Some(open) => open.control(other),
                    None => vec![ServerMsg::error(
                        ErrorKind::NotNow,
                        "no scenario is open: send `open` first",
                    )],
                };
                self.update_status();
                for msg in reply {
                    self.send(msg);
                }
            }
        }
        self.update_status();
    }

    /// Whether this scenario's session is open, its lab up and not over.
    fn runs(&self, scenario: &str) -> bool {
        self.open.as_ref().is_some_and(|o| {
            o.loaded.scenario.id == scenario && o.session.is_some() && o.over.is_none()
        })
    }

    /// A facilitator's or mentor's control: answered on `reply` before anything slow (a Docker
    /// lab takes seconds to come up).
    fn on_control(&mut self, control: SeatControl, by: &str, reply: &Sender<ControlReply>) {
        tracing::info!(
            seat = self.config.seat,
            by,
            control = control.name(),
            "control"
        );
        match control {
            SeatControl::Start { scenario } => self.start_for(scenario, reply),
            SeatControl::RemoveLab => {
                let had = self.open.is_some();
                self.close_session();
                let _ = reply.send(if had {
                    Ok("the session ended and its lab was removed".into())
                } else {
                    Err("no session is open on this seat".into())
                });
            }
            other => {
                let (answer, msgs) = match self.open.as_mut() {
                    Some(open) => open.oversee(other, by),
                    None => (Err("no session is open on this seat".into()), vec![]),
                };
                let _ = reply.send(answer);
                for msg in msgs {
                    self.send(msg);
                }
            }
        }
        self.mentor_built = None;
        self.update_status();
    }

    /// Start for the facilitator: begin a briefed session, or open one and begin it.
    fn start_for(&mut self, scenario: Option<String>, reply: &Sender<ControlReply>) {
        if let Some(open) = self.open.as_mut()
            && open.over.is_none()
        {
            let answer = match &open.session {
                Some(session) if session.phase() == Phase::Briefing => {
                    open.control(ClientMsg::Begin);
                    Ok(format!("{} began", open.loaded.scenario.id))
                }
                Some(_) => Err(format!(
                    "{} is already running: end it first",
                    open.loaded.scenario.id
                )),
                None => Err(open
                    .failed
                    .clone()
                    .unwrap_or_else(|| "the lab is still coming up".into())),
            };
            let _ = reply.send(answer);
            return;
        }
        let catalogue = &self.config.catalogue;
        let found = match &scenario {
            Some(id) => catalogue.iter().find(|l| &l.scenario.id == id),
            None => catalogue.first(),
        };
        let Some(id) = found.map(|l| l.scenario.id.clone()) else {
            let _ = reply.send(Err(format!(
                "this seat does not offer {}",
                scenario.as_deref().unwrap_or("any scenario")
            )));
            return;
        };
        let _ = reply.send(Ok(format!("{id}: the lab is coming up, then it begins")));
        self.open_scenario(&id, Pace::Clocked);
        if let Some(open) = self.open.as_mut()
            && open.session.is_some()
        {
            open.control(ClientMsg::Begin);
        }
    }

    fn open_scenario(&mut self, id: &str, pace: Pace) {
        let Some(loaded) = self
            .config
            .catalogue
            .iter()
            .find(|l| l.scenario.id == id)
            .cloned()
        else {
            let offered: Vec<_> = self
                .config
                .catalogue
                .iter()
                .map(|l| l.scenario.id.as_str())
                .collect();
            let msg = format!(
                "this seat does not offer \"{id}\"; it offers: {}",
                offered.join(", ")
            );
            self.send(ServerMsg::error(ErrorKind::NotNow, msg));
            return;
        };
        self.close_session();
        let seed = seed_or_random(self.config.seed);
        // Each seed plays its own variant of the scenario (attacker, victim, timing), so a
        // room of trainees with their own seeds cannot pass the answer around.
        let loaded = match loaded.variant(seed) {
            Ok(variant) => variant,
            Err(e) => {
                self.send(ServerMsg::error(
                    ErrorKind::NotNow,
                    format!("\"{id}\": {e}"),
                ));
                return;
            }
        };
        tracing::info!(seat = self.config.seat, scenario = id, seed, "opening");
        let brief = bulkhead_engine::TraineeBrief::of(&loaded.scenario, &loaded.topology);
        self.send(ServerMsg::Opened {
            brief: Box::new(brief),
            seed,
        });
        {
            let mut status = lock(&self.status);
            status.scenario = Some(loaded.scenario.id.clone());
            status.phase = Some(Phase::Briefing);
            status.lab = LabStatus::Starting;
            (status.score, status.max, status.record) = (None, None, None);
            (status.card, status.lab_error) = (None, None);
        }
        let mut open = Open {
            loaded,
            seed,
            pace,
            session: None,
            failed: None,
            clock: Clock::default(),
            traffic: TrafficMeter::default(),
            record: None,
            over: None,
            published: None,
            last_publish: None,
            changed: true,
            step_view_owed: false,
            record_state: RecordState::default(),
            faults_scanned: 0,
        };
        match self.start_session(&open) {
            Ok((session, record)) => {
                if pace == Pace::Lockstep && !session.lab().can_pause() {
                    let why = format!(
                        "lockstep needs a lab that can pause; the {} runs in real time",
                        session.lab().backend().title()
                    );
                    open.failed = Some(why.clone());
                    self.send(ServerMsg::LabFailed(why));
                } else {
                    let lab = session.lab_timings();
                    open.session = Some(session);
                    open.record = record;
                    self.send(ServerMsg::LabReady { lab });
                }
            }
            Err(why) => {
                open.failed = Some(why.clone());
                self.send(ServerMsg::LabFailed(why));
            }
        }
        self.open = Some(open);
        self.update_status();
    }

    /// Bring the lab up and open the record. Blocks: a Docker lab takes seconds.
    fn start_session(&mut self, open: &Open) -> Result<(Session, Option<String>), String> {
        let (record, path) = self.record_for(&open.loaded, open.seed)?;
        let lab = (self.config.make_lab)(&open.loaded, open.seed)?;
        let session = Session::new(
            open.loaded.scenario.clone(),
            open.loaded.topology.clone(),
            lab,
            open.seed,
            record,
        );
        Ok((session, path))
    }

    fn record_for(
        &mut self,
        loaded: &Loaded,
        seed: u64,
    ) -> Result<(RecordWriter, Option<String>), String> {
        let path = match &self.config.records {
            Records::None => return Ok((RecordWriter::discard(), None)),
            Records::File(_) if self.record_file_used => {
                return Ok((RecordWriter::discard(), None));
            }
            Records::File(path) => {
                self.record_file_used = true;
                path.clone()
            }
            Records::Dir(dir) => dir.join(record_name(
                std::time::SystemTime::now(),
                &loaded.scenario.id,
                seed,
                (!self.config.workshop.is_empty()).then_some(self.config.seat),
            )),
        };
        let writer = std::fs::File::create(&path)
            .and_then(RecordWriter::file)
            .map_err(|e| format!("cannot create the record {}: {e}", path.display()))?;
        Ok((writer, Some(path.display().to_string())))
    }

    /// End the open session, if any: a session that has begun is finished (its record closed,
    /// scored); the lab comes down either way.
    fn close_session(&mut self) {
        let Some(mut open) = self.open.take() else {
            return;
        };
        if let Some(session) = open.session.as_mut()
            && open.clock.begun
            && !session.is_over()
        {
            session.finish();
            let mut status = lock(&self.status);
            status.score = session.score().map(|c| c.total);
            status.max = session.score().map(|c| c.max);
            status.card = session.score().map(|c| Arc::new(c.clone()));
        }
        drop(open);
        *lock(&self.watched.view) = None;
        let mut status = lock(&self.status);
        status.lab = LabStatus::Down;
        status.phase = status.phase.map(|_| Phase::Debrief);
    }

    /// Run whatever is due (ticks, views, the idle timeout); returns how long to wait for input.
    fn advance(&mut self) -> Duration {
        let attached = self.client.is_some();
        let idle_for = self.detached_since.elapsed();
        let Some(open) = self.open.as_mut() else {
            return IDLE_POLL;
        };
        // A lockstep session only moves when its client steps it: with nobody attached it is
        // as idle as a paused one.
        let idle = !open.running(self.config.stop_at) || open.pace == Pace::Lockstep;
        if !attached
            && self
                .config
                .idle_timeout
                .is_some_and(|t| idle_for >= t && idle)
            && open.over.is_none()
            && open.session.is_some()
        {
            tracing::info!(
                seat = self.config.seat,
                "nobody attached: closing the idle session"
            );
            self.close_session();
            return IDLE_POLL;
        }
        let (wait, msgs) = open.advance(&self.config, attached);
        // The facilitator's status is current before the client hears of a change.
        self.update_status();
        self.publish_mentor_view();
        for msg in msgs {
            self.send(msg);
        }
        wait
    }

    /// Keep the mentor view current while someone watches (it rescores the record so far, so
    /// at most every `MENTOR_EVERY`).
    fn publish_mentor_view(&mut self) {
        let fresh = self
            .mentor_built
            .is_some_and(|t| t.elapsed() < MENTOR_EVERY);
        // A new watcher finds no view (the last one's was dropped): build it at once.
        let missing = lock(&self.watched.view).is_none();
        if self.watched.watchers.load(Ordering::Relaxed) == 0 || (fresh && !missing) {
            return;
        }
        self.mentor_built = Some(Instant::now());
        let built = self.open.as_ref().and_then(|open| {
            let session = open.session.as_ref()?;
            let view = snapshot(session, open.clock.paused, &open.traffic);
            let trainee = lock(&self.status).trainee.clone();
            Some(Arc::new(MentorView::of(
                self.config.seat,
                trainee,
                session,
                view,
            )))
        });
        *lock(&self.watched.view) = built;
    }

    fn update_status(&self) {
        let Some(open) = &self.open else { return };
        let mut status = lock(&self.status);
        status.lab = match (&open.session, &open.failed) {
            (_, Some(_)) => LabStatus::Failed,
            (Some(_), None) if open.over.is_some() => LabStatus::Down,
            (Some(_), None) => LabStatus::Up,
            (None, None) => LabStatus::Starting,
        };
        status.lab_error.clone_from(&open.failed);
        let Some(session) = &open.session else { return };
        status.phase = Some(session.phase());
        status.now_ms = session.now();
        status.total_ms = session.total_ms();
        status.live_start_ms = open.loaded.scenario.live_start_ms();
        status.paused = open.clock.paused;
        status.can_pause = session.lab().can_pause();
        status.node = session.lab().placement();
        status.hints_used = session.hints().len();
        status.health = Health::of(session);
        if let Some(e) = session.lab_error() {
            status.lab_error = Some(e.to_string());
        }
        status.alerts = session.alerts().len();
        status.alerts_triaged = session
            .alerts()
            .iter()
            .filter(|a| a.verdict.is_some())
            .count();
        status.actions = session.mitigations().len() + session.attributed().len();
        if let Some(card) = session.score() {
            status.score = Some(card.total);
            status.max = Some(card.max);
            if status.card.as_deref() != Some(card) {
                status.card = Some(Arc::new(card.clone()));
            }
        }
        status.record.clone_from(&open.record);
    }
}

impl Open {
    fn running(&self, stop_at: Option<Millis>) -> bool {
        let Some(session) = &self.session else {
            return false;
        };
        let held = stop_at.is_some_and(|t| session.now() >= t);
        self.clock.begun && !self.clock.paused && !held && !session.is_over()
    }

    /// A session control from the client; returns the replies.
    fn control(&mut self, msg: ClientMsg) -> Vec<ServerMsg> {
        let Some(session) = self.session.as_mut() else {
            let why = self
                .failed
                .clone()
                .unwrap_or_else(|| "the lab is not up".into());
            return vec![ServerMsg::error(ErrorKind::NotNow, why)];
        };
        self.changed = true;
        match msg {
            // The facilitator may have begun it already.
            ClientMsg::Begin if self.clock.begun => vec![],
            ClientMsg::Begin => {
                session.begin();
                self.clock.begun = true;
                self.clock.anchor = None;
                // The first view (session time 0) goes out at once: a lockstep client decides on
                // it before its first step, as a defender beside the session would.
                self.published = None;
                self.step_view_owed = true;
                vec![]
            }
            ClientMsg::Command(command) => {
                let refused = session.submit(command.clone()).err().map(|r| r.0);
                vec![ServerMsg::Answer { command, refused }]
            }
            ClientMsg::Finish => {
                // Only a session that has begun has anything to score.
                if self.clock.begun {
                    session.finish();
                }
                vec![]
            }
            ClientMsg::TogglePause if !session.lab().can_pause() => {
                vec![ServerMsg::Notice(format!(
                    "the {} runs in real time and cannot pause",
                    session.lab().backend().title()
                ))]
            }
            ClientMsg::TogglePause => {
                self.clock.paused = !self.clock.paused;
                // Pacing restarts from here so a resume does not rush to catch up.
                self.clock.anchor = None;
                vec![]
            }
            ClientMsg::Step if self.pace != Pace::Lockstep => vec![ServerMsg::error(
                ErrorKind::NotNow,
                "`step` is for lockstep sessions; this one keeps its own clock",
            )],
            // A step before the session begins would be run after `Begin` with no view
            // between, and the client would fall a tick behind.
            ClientMsg::Step if !self.clock.begun => vec![ServerMsg::error(
                ErrorKind::NotNow,
                "`step` advances a session that has begun: send `begin` first",
            )],
            ClientMsg::Step => {
                self.clock.steps += 1;
                vec![]
            }
            ClientMsg::Open { .. } | ClientMsg::Close => vec![],
        }
    }

    /// A facilitator's or mentor's control on the open session: the answer, and what the
    /// trainee's client hears of it (a whisper, a revealed hint, a longer clock; never an
    /// inject, which would give the attack away).
    fn oversee(&mut self, control: SeatControl, by: &str) -> (ControlReply, Vec<ServerMsg>) {
        let Some(session) = self.session.as_mut() else {
            let why = self
                .failed
                .clone()
                .unwrap_or_else(|| "the lab is not up".into());
            return (Err(why), vec![]);
        };
        if session.is_over() {
            return (Err("the session is over".into()), vec![]);
        }
        self.changed = true;
        match control {
            SeatControl::Pause(_) if !session.lab().can_pause() => (
                Err(format!(
                    "the {} runs in real time and cannot pause; extend the live phase instead",
                    session.lab().backend().title()
                )),
                vec![],
            ),
            SeatControl::Pause(pause) => {
                self.clock.paused = pause;
                self.clock.anchor = None;
                let what = if pause { "paused" } else { "resumed" };
                (
                    Ok(format!("the clock is {what}")),
                    vec![ServerMsg::Notice(format!(
                        "The facilitator {what} the clock."
                    ))],
                )
            }
            SeatControl::Extend { seconds } => match session.extend_live(seconds, by) {
                Ok(()) => (
                    Ok(format!("the live phase is {seconds} s longer")),
                    vec![ServerMsg::Notice(format!(
                        "The facilitator gave the live phase {seconds} more seconds."
                    ))],
                ),
                Err(refused) => (Err(refused.0), vec![]),
            },
            SeatControl::End if !self.clock.begun => {
                (Err("the session has not begun".into()), vec![])
            }
            SeatControl::End => {
                session.finish();
                (Ok("the session ended; its score is in".into()), vec![])
            }
            SeatControl::Whisper { text, cost } => match check_whisper(&text) {
                Ok(text) => {
                    session.whisper(text.clone(), cost, by);
                    let from = "Your mentor".to_string();
                    (
                        Ok("whispered".into()),
                        vec![ServerMsg::Whisper { from, text }],
                    )
                }
                Err(why) => (Err(why), vec![]),
            },
            SeatControl::RevealHint => match session.reveal_hint(by) {
                Ok(hint) => (
                    Ok(format!("revealed: {}", hint.text)),
                    vec![ServerMsg::Notice(format!(
                        "Your mentor revealed a hint: {}",
                        hint.text
                    ))],
                ),
                Err(refused) => (Err(refused.0), vec![]),
            },
            SeatControl::Inject { id } => match session.inject(&id, by) {
                Ok(()) => (Ok(format!("inject {id} fired")), vec![]),
                Err(refused) => (Err(refused.0), vec![]),
            },
            SeatControl::Start { .. } | SeatControl::RemoveLab => {
                (Err("handled by the seat".into()), vec![])
            }
        }
    }

    /// Tick if a tick is due and say what to send; returns how long until something is due.
    fn advance(&mut self, config: &SeatConfig, attached: bool) -> (Duration, Vec<ServerMsg>) {
        let mut out = Vec::new();
        if self.over.is_some() {
            return (IDLE_POLL, out);
        }
        let running = self.running(config.stop_at);
        let Some(session) = self.session.as_mut() else {
            return (IDLE_POLL, out);
        };
        let mut wait = if running { Duration::ZERO } else { IDLE_POLL };
        if running {
            let due = match self.pace {
                Pace::Lockstep => {
                    if self.clock.steps > 0 {
                        self.clock.steps -= 1;
                        Some(Duration::ZERO)
                    } else {
                        None
                    }
                }
                Pace::Clocked => Some(clocked_wait(session, &mut self.clock, config.time_scale)),
            };
            match due {
                Some(d) if d.is_zero() => {
                    session.tick();
                    out.extend(record_notice(
                        &mut self.record_state,
                        &session.record_health(),
                        config.seat,
                    ));
                    out.extend(fault_notices(
                        session.record_lines(),
                        &mut self.faults_scanned,
                    ));
                    self.traffic.scan(session);
                    self.changed = true;
                    self.step_view_owed = true;
                }
                Some(d) => wait = d,
                // Lockstep with no step asked: wait for the client.
                None => wait = IDLE_POLL,
            }
        }
        if session.is_over() {
            if attached {
                out.push(ServerMsg::View(Box::new(snapshot(
                    session,
                    self.clock.paused,
                    &self.traffic,
                ))));
            }
            let over = over_message(session, &self.loaded, self.record.clone());
            if let ServerMsg::Over { card, .. } = &over {
                tracing::info!(
                    seat = config.seat,
                    scenario = %self.loaded.scenario.id,
                    score = card.total,
                    "session over"
                );
            }
            self.over = Some(over.clone());
            out.push(over);
            return (IDLE_POLL, out);
        }
        let now_holds = (session.phase(), session.alerts().len());
        let publish = match self.pace {
            Pace::Lockstep => std::mem::take(&mut self.step_view_owed) || !self.clock.begun,
            Pace::Clocked => {
                let urgent = self.published != Some(now_holds) || !running;
                let due = self
                    .last_publish
                    .is_none_or(|t| t.elapsed() >= config.publish_every);
                urgent || due
            }
        };
        if self.changed && attached && publish {
            out.push(ServerMsg::View(Box::new(snapshot(
                session,
                self.clock.paused,
                &self.traffic,
            ))));
            self.published = Some(now_holds);
            self.last_publish = Some(Instant::now());
            self.changed = false;
        }
        if running && wait.is_zero() && !out.is_empty() && self.pace == Pace::Clocked {
            // Let a command the client sends in answer to this view land before the next tick.
            wait = Duration::from_micros(1);
        }
        (wait, out)
    }
}

/// A whisper as the trainee will read it: trimmed, not empty, bounded, no control characters
/// but line breaks.
fn check_whisper(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("the whisper is empty".into());
    }
    if text.chars().count() > crate::oversight::MAX_WHISPER_CHARS {
        return Err(format!(
            "a whisper holds at most {} characters",
            crate::oversight::MAX_WHISPER_CHARS
        ));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err("the whisper holds control characters".into());
    }
    Ok(text.to_string())
}

/// How long until the next tick of a clocked session is due (zero: now).
fn clocked_wait(session: &Session, clock: &mut Clock, time_scale: f64) -> Duration {
    // A real-time lab paces itself inside `advance`: waiting here would double it.
    if session.lab().pacing() == Pacing::RealTime || time_scale <= 0.0 {
        return Duration::ZERO;
    }
    let (wall, at) = *clock.anchor.get_or_insert((Instant::now(), session.now()));
    let due = Duration::from_secs_f64((session.now() + TICK_MS - at) as f64 / 1000.0 / time_scale);
    due.saturating_sub(wall.elapsed())
}

/// What to tell the trainee of faults the lab met since the last look (a container restored
/// after it died from outside the range; the lab unreachable, answering again, or lost), so
/// that nobody takes the outage for their own doing.
fn fault_notices(lines: &[RecordLine], scanned: &mut usize) -> Vec<ServerMsg> {
    let new = lines.get(*scanned..).unwrap_or_default();
    *scanned = lines.len();
    new.iter()
        .filter_map(|line| match line {
            RecordLine::Observation(Observation {
                body:
                    ObservationBody::Event(LogEvent::Lifecycle {
                        service,
                        state: LifecycleState::Restored,
                    }),
                ..
            }) => Some(ServerMsg::Notice(format!(
                "{service} died with no cause the range knows of (not your doing) and the lab \
                 restarted it; its sessions and keys are gone, as after any restart"
            ))),
            RecordLine::Fault { fault, .. } => {
                let text = fault.text();
                tracing::warn!("{text}");
                Some(ServerMsg::Notice(text))
            }
            _ => None,
        })
        .collect()
}

/// What to tell the trainee when the writing of the record changed state: lines wait for a
/// full disk, are dropped, or are written again. Logged for whoever runs the seat too.
fn record_notice(told: &mut RecordState, now: &RecordHealth, seat: u32) -> Option<ServerMsg> {
    let state = now.state();
    if state == std::mem::replace(told, state) {
        return None;
    }
    let text = match state {
        RecordState::Waiting => format!(
            "the session record cannot be written ({}): its lines are kept in memory and \
             written when the disk has room; nothing is lost",
            now.why.as_deref().unwrap_or("the disk refused a write")
        ),
        RecordState::Dropping => format!(
            "the session record has kept {} MiB in memory and drops lines from now on: it will \
             end early",
            bulkhead_engine::record::BACKLOG_MAX_BYTES >> 20
        ),
        RecordState::Writing => {
            "the session record is written again: the lines kept in memory are on disk".into()
        }
    };
    tracing::warn!(seat, "{text}");
    Some(ServerMsg::Notice(text))
}

fn over_message(session: &mut Session, loaded: &Loaded, record: Option<String>) -> ServerMsg {
    let card = session.score().cloned().unwrap_or_else(|| {
        bulkhead_engine::score(
            session.scenario(),
            session.topology(),
            session.record_lines(),
            None,
        )
    });
    let record_error = session.record_error().map(|e| e.to_string());
    ServerMsg::Over {
        card: Box::new(card),
        scenario: Box::new((*loaded.scenario).clone()),
        record,
        record_error,
        lab_error: session.lab_error().map(str::to_string),
        lab: session.lab_timings(),
    }
}

/// A record's file name: `20261206-072011-stolen-credentials-7.jsonl` (UTC, to the second, so
/// names sort by date), with `-seat3` for a served seat.
fn record_name(at: std::time::SystemTime, scenario: &str, seed: u64, seat: Option<u32>) -> String {
    let format = time::macros::format_description!("[year][month][day]-[hour][minute][second]");
    let date = time::OffsetDateTime::from(at)
        .format(&format)
        .unwrap_or_default();
    match seat {
        Some(n) => format!("{date}-{scenario}-{seed}-seat{n}.jsonl"),
        None => format!("{date}-{scenario}-{seed}.jsonl"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trainee_hears_each_change_of_the_records_state_once() {
        let health = |waiting, dropped| RecordHealth {
            waiting,
            dropped,
            why: Some("No space left on device".into()),
        };
        let mut told = RecordState::default();
        let mut said = |h: RecordHealth| match record_notice(&mut told, &h, 1) {
            Some(ServerMsg::Notice(text)) => Some(text),
            _ => None,
        };
        assert_eq!(said(health(0, 0)), None);
        let stalled = said(health(1, 0)).expect("the record stalls");
        assert!(stalled.contains("No space left on device") && stalled.contains("nothing is lost"));
        assert_eq!(
            said(health(500, 0)),
            None,
            "more lines waiting is the same state"
        );
        assert!(
            said(health(600, 3))
                .expect("lines dropped")
                .contains("end early")
        );
        assert_eq!(said(health(700, 9)), None);
        assert!(
            said(health(0, 9))
                .expect("caught up")
                .contains("written again")
        );
        assert_eq!(said(health(0, 9)), None);
    }

    #[test]
    fn record_names_sort_by_date_and_say_what_was_played() {
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_796_541_611);
        assert_eq!(
            record_name(at, "poisoned-pdf", 7, None),
            "20261206-072011-poisoned-pdf-7.jsonl"
        );
        assert_eq!(
            record_name(at, "poisoned-pdf", 7, Some(3)),
            "20261206-072011-poisoned-pdf-7-seat3.jsonl"
        );
        let later = at + std::time::Duration::from_secs(1);
        assert!(record_name(later, "a", 1, None) > record_name(at, "z", 1, None));
    }
}
