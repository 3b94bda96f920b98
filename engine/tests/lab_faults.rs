//! A session whose lab stops answering: it holds its clock and refuses mitigations while held,
//! says so in the record (`fault` lines), runs on where it stopped, and, when the lab is lost,
//! ends early with a partial card that names the fault. A lab whose telemetry lags: the session
//! counts late lines per source and marks the alerts late evidence opened. The lab here is the simulated one
//! behind a health the test scripts; the Docker lab's own detection is tested on a real daemon
//! (`labs/tests/daemon.rs`).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bulkhead_engine::action::{Command, Effect, Mitigation};
use bulkhead_engine::format::{self, Loaded};
use bulkhead_engine::observation::{EntityRef, Millis};
use bulkhead_engine::record::{LabFault, Record, RecordLine};
use bulkhead_engine::telemetry::Feed;
use bulkhead_engine::{Backend, Lab, LabHealth, LabOutput, MemoryRecord, Pacing, Session, SimLab};

/// What a test does to what the simulated lab yields up to a moment (hold it back, add to it).
type Hook = Box<dyn FnMut(Millis, &mut Vec<LabOutput>) + Send>;

/// The simulated lab with a health the test sets between ticks and a hook on what it yields.
struct Hooked {
    inner: SimLab,
    health: Arc<Mutex<LabHealth>>,
    hook: Hook,
}

impl Hooked {
    fn new(loaded: &Loaded, hook: Hook) -> Self {
        Hooked {
            inner: SimLab::new(loaded.topology.clone(), &loaded.scenario, 1),
            health: Arc::new(Mutex::new(LabHealth::Up)),
            hook,
        }
    }
}

impl Lab for Hooked {
    fn backend(&self) -> Backend {
        self.inner.backend()
    }
    fn pacing(&self) -> Pacing {
        self.inner.pacing()
    }
    fn apply(&mut self, now: Millis, effect: &Effect) {
        self.inner.apply(now, effect);
    }
    fn advance(&mut self, until: Millis, out: &mut Vec<LabOutput>) {
        let mut yielded = Vec::new();
        self.inner.advance(until, &mut yielded);
        (self.hook)(until, &mut yielded);
        out.append(&mut yielded);
    }
    fn health(&mut self) -> LabHealth {
        self.health.lock().unwrap().clone()
    }
    fn audit(&mut self) -> Result<Vec<bulkhead_engine::posture::Finding>, String> {
        self.inner.audit()
    }
}

/// A session of stolen-credentials (seed 1) on a lab with this hook, in its briefing.
fn hooked_session(hook: Hook) -> (Session, Arc<Mutex<LabHealth>>, MemoryRecord) {
    let loaded = load("stolen-credentials");
    let lab = Hooked::new(&loaded, hook);
    let health = lab.health.clone();
    let buffer = MemoryRecord::default();
    let session = Session::new(
        loaded.scenario,
        loaded.topology,
        Box::new(lab),
        1,
        buffer.writer(),
    );
    (session, health, buffer)
}

fn load(id: &str) -> Loaded {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    format::load_scenario(&root.join(format!("scenarios/{id}.ron")), &root)
        .unwrap_or_else(|e| panic!("{id} does not load: {e}"))
}

fn session() -> (Session, Arc<Mutex<LabHealth>>, MemoryRecord) {
    hooked_session(Box::new(|_, _| {}))
}

fn faults(session: &Session) -> Vec<(Millis, LabFault)> {
    (session.record_lines().iter())
        .filter_map(|l| match l {
            RecordLine::Fault { t_ms, fault } => Some((*t_ms, fault.clone())),
            _ => None,
        })
        .collect()
}

fn rescore(record: &Record) -> bulkhead_engine::ScoreCard {
    bulkhead_engine::score(&record.scenario, &record.topology, &record.lines, None)
}

fn block() -> Command {
    Command::Mitigate(Mitigation::Block {
        source: "203.0.113.9".into(),
    })
}

#[test]
fn a_held_lab_stops_the_clock_refuses_mitigations_and_runs_on_where_it_stopped() {
    let (mut session, health, buffer) = session();
    session.begin();
    let live = session.scenario().live_start_ms();
    while session.now() < live + 10_000 && session.tick() {}
    let stopped_at = session.now();
    *health.lock().unwrap() = LabHealth::Held {
        why: "Docker does not answer".into(),
        for_s: 1.0,
    };
    for _ in 0..40 {
        assert!(session.tick(), "a held session is not over");
    }
    assert_eq!(session.now(), stopped_at, "session time stood still");
    assert_eq!(session.held(), Some("Docker does not answer"));
    let refused = session.submit(block()).unwrap_err();
    assert!(refused.0.contains("cannot be reached"), "{}", refused.0);
    // Triage and attribution need no lab.
    session
        .submit(Command::Attribute {
            entity: EntityRef::Source("203.0.113.9".into()),
        })
        .unwrap();
    *health.lock().unwrap() = LabHealth::Held {
        why: "Docker does not answer".into(),
        for_s: 4.5,
    };
    session.tick();
    *health.lock().unwrap() = LabHealth::Up;
    assert!(session.tick());
    assert!(session.now() > stopped_at, "the clock runs on");
    assert_eq!(session.held(), None);
    session.submit(block()).unwrap();
    assert_eq!(
        faults(&session),
        vec![
            (
                stopped_at,
                LabFault::Held {
                    why: "Docker does not answer".into()
                }
            ),
            (stopped_at, LabFault::Resumed { held_s: 4.5 }),
        ]
    );
    while session.tick() {}
    let card = session.score().cloned().unwrap();
    assert_eq!(card.partial, None, "a session that went on is whole");
    assert_eq!(card.faults.len(), 2, "{:?}", card.faults);
    assert!(card.faults[0].text.contains("clock is held"));
    assert!(card.faults[1].text.contains("4.5 s"));
    // The record reads back with its fault lines, and rescores the same.
    let record = Record::from_reader(buffer.bytes().as_slice(), "held.jsonl").unwrap();
    assert_eq!(rescore(&record).faults, card.faults);
}

#[test]
fn a_lost_lab_ends_the_session_early_with_a_partial_card() {
    let (mut session, health, buffer) = session();
    session.begin();
    let live = session.scenario().live_start_ms();
    while session.now() < live + 30_000 && session.tick() {}
    let lost_at = session.now();
    *health.lock().unwrap() = LabHealth::Lost {
        why: "Docker does not answer, for more than 60 s".into(),
    };
    assert!(!session.tick(), "a lost lab ends the session");
    assert!(session.is_over());
    assert_eq!(session.now(), lost_at);
    let card = session.score().cloned().unwrap();
    let why = card.partial.as_deref().expect("the card is partial");
    assert!(why.contains("more than 60 s"), "{why}");
    assert!(
        (card.faults.iter()).any(|f| f.t_ms == lost_at && f.text.contains("ended early")),
        "{:?}",
        card.faults
    );
    let record = Record::from_reader(buffer.bytes().as_slice(), "lost.jsonl").unwrap();
    assert_eq!(rescore(&record).partial, card.partial);
}

#[test]
fn telemetry_that_lags_is_counted_per_source_and_named_on_the_alerts_it_opened() {
    let live = load("stolen-credentials").scenario.live_start_ms();
    // The first 90 s of the live phase reach the session 90 s late, all at once, stamped with
    // their own moments: telemetry that lagged.
    let mut held_back = Vec::new();
    let (mut session, _, _) = hooked_session(Box::new(move |until, yielded| {
        if (live..live + 90_000).contains(&until) {
            held_back.append(yielded);
        } else {
            held_back.append(yielded);
            std::mem::swap(&mut held_back, yielded);
        }
    }));
    session.begin();
    while session.now() < live + 120_000 && session.tick() {}
    let sources = session.telemetry().sources();
    let web_logs = (sources.iter())
        .find(|s| s.service == "web" && s.feed == Feed::Logs)
        .expect("web's logs are a source");
    assert!(
        web_logs.late > 0 && web_logs.late <= web_logs.lines,
        "{web_logs:?}"
    );
    assert!(web_logs.worst_lag_ms >= 85_000, "{web_logs:?}");
    // On time before the window: the warm-up's lines were not late.
    assert!(web_logs.late < web_logs.lines);
    let alerts = session.alerts();
    let late: Vec<_> = (alerts.iter())
        .filter(|a| a.alert.late_ms.is_some())
        .collect();
    assert!(
        !late.is_empty(),
        "an alert opened by the held-back lines says so"
    );
    assert!((late.iter()).all(|a| a.alert.t_ms < live + 90_000));
    assert!(
        (alerts.iter()).all(|a| a.alert.late_ms.is_none() || a.alert.t_ms >= live),
        "no warm-up alert is late"
    );
}

#[test]
fn the_simulated_lab_is_never_late() {
    for id in [
        "stolen-credentials",
        "resource-exhaustion",
        "insider-access",
        "poisoned-pdf",
    ] {
        let loaded = load(id);
        let lab = SimLab::new(loaded.topology.clone(), &loaded.scenario, 7);
        let mut session = Session::new(
            loaded.scenario.clone(),
            loaded.topology.clone(),
            Box::new(lab),
            7,
            bulkhead_engine::RecordWriter::discard(),
        );
        session.run(&mut bulkhead_engine::defender::Bot::default(), |_| {});
        let late: Vec<_> = (session.telemetry().sources().into_iter())
            .filter(|s| s.late > 0 || s.worst_lag_ms > 0)
            .collect();
        assert!(late.is_empty(), "{id}: {late:?}");
        assert!((session.alerts().iter()).all(|a| a.alert.late_ms.is_none()));
    }
}

#[test]
fn the_bot_goes_after_nobody_the_brief_does_not_know() {
    // One exec session into web by someone outside the range (the container engine names
    // nobody: `unknown`), as a fault injection or a curious operator makes.
    let at = load("stolen-credentials").scenario.live_start_ms() + 20_000;
    let mut done = false;
    let (mut session, _, _) = hooked_session(Box::new(move |until, yielded| {
        if !done && until >= at {
            done = true;
            yielded.push(LabOutput::Observation(bulkhead_engine::Observation {
                t_ms: until,
                body: bulkhead_engine::ObservationBody::Event(bulkhead_engine::LogEvent::Exec {
                    service: "web".into(),
                    identity: "unknown".into(),
                    command: "/labd ctl /crash {}".into(),
                    trace: None,
                }),
            }));
        }
    }));
    let card = session.run(&mut bulkhead_engine::defender::Bot::default(), |_| {});
    assert!(
        (session.alerts().iter()).any(|a| a
            .alert
            .related
            .iter()
            .any(|e| { matches!(e, EntityRef::Identity(id) if id == "unknown") })),
        "the exec opened an alert naming its unknown identity"
    );
    assert!(card.refused.is_empty(), "{:?}", card.refused);
}

/// A defender that only notes when it was asked.
#[derive(Default)]
struct Counting(Vec<Millis>);

impl bulkhead_engine::Defender for Counting {
    fn decide(&mut self, view: &bulkhead_engine::DefenderView<'_>) -> Vec<Command> {
        self.0.push(view.now);
        Vec::new()
    }
}

#[test]
fn a_defender_is_not_asked_while_the_lab_is_held() {
    let (mut session, health, _) = session();
    let live = session.scenario().live_start_ms();
    let mut held_ticks = 0;
    let mut defender = Counting::default();
    session.run(&mut defender, |s| {
        let hold = s.now() >= live + 60_000 && held_ticks < 40;
        if hold {
            held_ticks += 1;
        }
        *health.lock().unwrap() = if hold {
            LabHealth::Held {
                why: "Docker does not answer".into(),
                for_s: 1.0,
            }
        } else {
            LabHealth::Up
        };
    });
    let held_at = (faults(&session).first().map(|(t, _)| *t)).expect("the lab was held");
    let asked_then = defender.0.iter().filter(|t| **t == held_at).count();
    assert!(
        asked_then <= 2,
        "asked {asked_then} times at the held moment"
    );
    assert_eq!(held_ticks, 40);
}
