//! A seat in this process, driven through its `Connection`: lockstep play reproduces a session
//! played beside its defender byte for byte, controls are refused when they make no sense, and
//! a reattached client resumes where the last one left.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bulkhead_engine::defender::{Bot, Idle};
use bulkhead_engine::observation::LifecycleState;
use bulkhead_engine::{
    Backend, Lab, Loaded, LogEvent, Observation, ObservationBody, RecordWriter, Session, SimLab,
};
use bulkhead_host::client::{self, Quiet};
use bulkhead_host::{
    ClientMsg, Connection, ErrorKind, LabFactory, Pace, Records, Seat, SeatConfig, ServerMsg,
};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn load(id: &str) -> Loaded {
    bulkhead_engine::format::resolve_scenario(&root(), id).unwrap()
}

fn sim_lab() -> LabFactory {
    Arc::new(|loaded: &Loaded, seed| {
        Ok(Box::new(SimLab::new(loaded.topology.clone(), &loaded.scenario, seed)) as _)
    })
}

fn config(catalogue: Vec<Loaded>, seed: u64, records: Records) -> SeatConfig {
    SeatConfig {
        seat: 1,
        workshop: "test".into(),
        backend: Backend::Sim,
        catalogue: Arc::new(catalogue),
        make_lab: sim_lab(),
        seed: Some(seed),
        time_scale: 0.0,
        stop_at: None,
        publish_every: Duration::ZERO,
        records,
        idle_timeout: None,
    }
}

/// A shared in-memory sink for a record written beside the session.
#[derive(Clone, Default)]
struct Shared(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn lockstep_through_a_seat_writes_the_record_a_session_beside_its_defender_writes() {
    for id in ["stolen-credentials", "insider-access"] {
        let loaded = load(id);
        let seed = 11;
        let beside = Shared::default();
        let mut session = Session::new(
            loaded.scenario.clone(),
            loaded.topology.clone(),
            Box::new(SimLab::new(loaded.topology.clone(), &loaded.scenario, seed)),
            seed,
            RecordWriter::new(Box::new(beside.clone())),
        );
        let expected = session.run(&mut Bot::default(), |_| {});
        drop(session);

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("seat.jsonl");
        let seat = Seat::spawn(config(vec![loaded], seed, Records::File(file.clone()))).unwrap();
        let conn = seat.try_attach(Some("Ada".into())).unwrap();
        let played =
            client::play(&conn, id, Pace::Lockstep, &mut Bot::default(), &mut Quiet).unwrap();
        assert_eq!(played.card, expected, "{id}: the score differs");
        assert_eq!(
            played.record.as_deref(),
            Some(file.display().to_string().as_str())
        );
        let served = std::fs::read(&file).unwrap();
        assert!(
            served == *beside.0.lock().unwrap(),
            "{id}: the records differ ({} vs {} bytes)",
            served.len(),
            beside.0.lock().unwrap().len()
        );
        let status = seat.status();
        assert_eq!(status.trainee.as_deref(), Some("Ada"));
        assert_eq!(status.score, Some(expected.total));
    }
}

fn next_msg(conn: &Connection) -> ServerMsg {
    conn.recv_timeout(Duration::from_secs(10))
        .unwrap()
        .expect("the seat said nothing for 10 s")
}

fn wait_for(conn: &Connection, what: &str, f: impl Fn(&ServerMsg) -> bool) -> ServerMsg {
    for _ in 0..10_000 {
        let msg = next_msg(conn);
        if f(&msg) {
            return msg;
        }
    }
    panic!("no {what}");
}

#[test]
fn controls_that_make_no_sense_now_are_refused_and_change_nothing() {
    let seat = Seat::spawn(config(vec![load("stolen-credentials")], 3, Records::None)).unwrap();
    let conn = seat.try_attach(None).unwrap();
    assert!(matches!(
        next_msg(&conn),
        ServerMsg::Welcome { offers, resume: 0, .. } if offers.len() == 1
    ));
    conn.send(ClientMsg::Begin).unwrap();
    assert!(matches!(
        next_msg(&conn),
        ServerMsg::Error {
            kind: ErrorKind::NotNow,
            ..
        }
    ));
    conn.send(ClientMsg::Open {
        scenario: "no-such-scenario".into(),
        pace: Pace::Clocked,
    })
    .unwrap();
    match next_msg(&conn) {
        ServerMsg::Error { kind, message } => {
            assert_eq!(kind, ErrorKind::NotNow);
            assert!(message.contains("stolen-credentials"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(seat.status().scenario, None);
    // A second client cannot take a held seat.
    assert!(seat.try_attach(None).is_none());
}

#[test]
fn a_reattached_client_resumes_the_session_where_it_is() {
    let seat = Seat::spawn(config(vec![load("stolen-credentials")], 5, Records::None)).unwrap();
    let first = seat.try_attach(Some("Ada".into())).unwrap();
    first
        .send(ClientMsg::Open {
            scenario: "stolen-credentials".into(),
            pace: Pace::Lockstep,
        })
        .unwrap();
    wait_for(&first, "lab", |m| matches!(m, ServerMsg::LabReady { .. }));
    first.send(ClientMsg::Begin).unwrap();
    for _ in 0..40 {
        first.send(ClientMsg::Step).unwrap();
    }
    wait_for(
        &first,
        "view at 10 s",
        |m| matches!(m, ServerMsg::View(v) if v.now_ms == 10_000),
    );
    drop(first);
    // Nobody watches: the seat is free again, and a lockstep session waits for its client.
    let second = seat.try_attach(Some("Ada".into())).unwrap();
    // The greeting announces the catch-up that follows: brief, lab, latest view.
    assert!(matches!(
        next_msg(&second),
        ServerMsg::Welcome { resume: 3, .. }
    ));
    assert!(matches!(next_msg(&second), ServerMsg::Opened { .. }));
    assert!(matches!(next_msg(&second), ServerMsg::LabReady { .. }));
    match next_msg(&second) {
        ServerMsg::View(v) => assert_eq!(v.now_ms, 10_000),
        other => panic!("{other:?}"),
    }
    second.send(ClientMsg::Step).unwrap();
    wait_for(
        &second,
        "the next tick",
        |m| matches!(m, ServerMsg::View(v) if v.now_ms == 10_250),
    );
    let played = client::play(
        &second,
        "stolen-credentials",
        Pace::Lockstep,
        &mut Idle,
        &mut Quiet,
    )
    .unwrap();
    assert_eq!(played.card.total, 0, "idle scores nothing");
}

#[test]
fn an_unattended_seat_closes_its_idle_session_and_removes_its_lab() {
    let mut cfg = config(vec![load("stolen-credentials")], 5, Records::None);
    cfg.idle_timeout = Some(Duration::from_millis(300));
    let seat = Seat::spawn(cfg).unwrap();
    let conn = seat.try_attach(Some("Ada".into())).unwrap();
    conn.send(ClientMsg::Open {
        scenario: "stolen-credentials".into(),
        pace: Pace::Lockstep,
    })
    .unwrap();
    wait_for(&conn, "lab", |m| matches!(m, ServerMsg::LabReady { .. }));
    conn.send(ClientMsg::Begin).unwrap();
    wait_for(&conn, "the first view", |m| matches!(m, ServerMsg::View(_)));
    // Held by a client, a lockstep session waiting for steps is not reaped.
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(seat.status().lab, bulkhead_host::seat::LabStatus::Up);
    drop(conn);
    let mut waited = Duration::ZERO;
    while seat.status().lab != bulkhead_host::seat::LabStatus::Down {
        assert!(
            waited < Duration::from_secs(5),
            "the idle lab was never removed"
        );
        std::thread::sleep(Duration::from_millis(50));
        waited += Duration::from_millis(50);
    }
    assert!(
        waited >= Duration::from_millis(250),
        "reaped before the timeout: {waited:?}"
    );
}

#[test]
fn a_running_sim_lab_is_healthy_with_telemetry_on_time_and_its_disruptions_flagged() {
    let loaded = load("stolen-credentials");
    let lab = SimLab::new(loaded.topology.clone(), &loaded.scenario, 3);
    let mut session = Session::new(
        loaded.scenario.clone(),
        loaded.topology.clone(),
        Box::new(lab),
        3,
        RecordWriter::discard(),
    );
    session.begin();
    for _ in 0..40 {
        session.tick();
    }
    let health = bulkhead_host::Health::of(&session);
    assert_eq!(health.services_up, health.services, "{health:?}");
    assert!(health.services > 0);
    let lag = health.telemetry_lag_ms.expect("metrics arrived in 10 s");
    assert!(
        lag <= 2_000,
        "telemetry a second or two behind at most: {lag} ms"
    );
    assert!(health.disruptive.is_empty());
    // Stopping a high-criticality service is a disruption the facilitator should see.
    while session.phase() != bulkhead_engine::Phase::Live {
        session.tick();
    }
    let stop = bulkhead_engine::Command::Mitigate(bulkhead_engine::Mitigation::Stop {
        service: "web".into(),
    });
    session.submit(stop).unwrap();
    for _ in 0..8 {
        session.tick();
    }
    let health = bulkhead_host::Health::of(&session);
    assert_eq!(health.disruptive.len(), 1, "{health:?}");
    assert!(health.services_up < health.services, "{health:?}");
}

/// The simulated lab, plus a container that dies from outside the range at 30 s of session
/// time and is restored by the lab, as the Docker lab reports it.
struct KilledOnce {
    sim: SimLab,
    killed: bool,
}

impl Lab for KilledOnce {
    fn backend(&self) -> Backend {
        Backend::Sim
    }

    fn pacing(&self) -> bulkhead_engine::Pacing {
        self.sim.pacing()
    }

    fn apply(&mut self, now: bulkhead_engine::Millis, effect: &bulkhead_engine::Effect) {
        self.sim.apply(now, effect);
    }

    fn audit(&mut self) -> Result<Vec<bulkhead_engine::posture::Finding>, String> {
        self.sim.audit()
    }

    fn advance(
        &mut self,
        until: bulkhead_engine::Millis,
        out: &mut Vec<bulkhead_engine::LabOutput>,
    ) {
        self.sim.advance(until, out);
        if until >= 30_000 && !self.killed {
            self.killed = true;
            for state in [LifecycleState::Died, LifecycleState::Restored] {
                out.push(bulkhead_engine::LabOutput::Observation(Observation {
                    t_ms: until,
                    body: ObservationBody::Event(LogEvent::Lifecycle {
                        service: "web".into(),
                        state,
                    }),
                }));
            }
        }
    }
}

#[test]
fn a_container_the_lab_restored_is_told_to_the_trainee_as_not_their_doing() {
    let mut cfg = config(vec![load("stolen-credentials")], 3, Records::None);
    cfg.make_lab = Arc::new(|loaded: &Loaded, seed| {
        Ok(Box::new(KilledOnce {
            sim: SimLab::new(loaded.topology.clone(), &loaded.scenario, seed),
            killed: false,
        }) as _)
    });
    let seat = Seat::spawn(cfg).unwrap();
    let conn = seat.try_attach(None).unwrap();
    conn.send(ClientMsg::Open {
        scenario: "stolen-credentials".into(),
        pace: Pace::Clocked,
    })
    .unwrap();
    wait_for(&conn, "the lab", |m| {
        matches!(m, ServerMsg::LabReady { .. })
    });
    conn.send(ClientMsg::Begin).unwrap();
    let told = wait_for(&conn, "a notice", |m| matches!(m, ServerMsg::Notice(_)));
    let ServerMsg::Notice(text) = told else {
        unreachable!()
    };
    assert!(
        text.starts_with("web died")
            && text.contains("not your doing")
            && text.contains("restarted"),
        "{text}"
    );
}
