//! The game's logic without a window or a GPU: `MinimalPlugins` + `StatesPlugin`, time stepped
//! by hand, a seat in this process on a simulated lab from the repository's scenarios. Intents
//! written the way panels and shortcuts write them must reach the session, and screens must
//! follow it. A hand-made connection stands in for a served seat where the test must control
//! what arrives (a closed connection, a rejoin).

use std::path::PathBuf;
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bevy::prelude::*;
use bevy::state::app::StatesPlugin;
use bevy::time::TimeUpdateStrategy;
use bulkhead_engine::{
    Backend, Command, Loaded, Mitigation, Phase, RecordWriter, Session, SimLab, TraineeBrief,
    Verdict,
};
use bulkhead_game::bridge::{FeedbackKind, Intent, LabState, Outcome, SessionView};
use bulkhead_game::live::LiveUi;
use bulkhead_game::screens::Screen;
use bulkhead_game::seat::{Attached, SeatInfo};
use bulkhead_game::{GameConfig, LocalSeat, SeatSource, add_logic, attach};
use bulkhead_host::{ClientMsg, Connection, Offer, Pace, ServerMsg};

const SCENARIO: &str = "stolen-credentials";
const INTRUDER: &str = "198.51.100.23";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn scenarios() -> Vec<Loaded> {
    [
        "stolen-credentials",
        "resource-exhaustion",
        "poisoned-pdf",
        "lateral-movement",
    ]
    .iter()
    .map(|id| {
        bulkhead_engine::format::load_scenario(&root().join(format!("scenarios/{id}.ron")), &root())
            .unwrap()
    })
    .collect()
}

fn config(time_scale: f64) -> GameConfig {
    GameConfig {
        seat: SeatSource::Local(LocalSeat {
            scenarios: scenarios(),
            make_lab: Arc::new(|l: &Loaded, seed| {
                Ok(Box::new(SimLab::new(l.topology.clone(), &l.scenario, seed))
                    as Box<dyn bulkhead_engine::Lab>)
            }),
            backend: Backend::Sim,
            backend_hint: "run with --backend docker".into(),
            seed: Some(7),
            time_scale,
            records: None,
        }),
        start: None,
        screenshot: None,
        report_fps: false,
        scores_file: None,
    }
}

/// The game's logic on the seat `config` names (a local one here).
fn app(config: &GameConfig) -> App {
    let seat = attach(config).expect("a local seat");
    app_on(config, seat)
}

fn app_on(config: &GameConfig, seat: Attached) -> App {
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, StatesPlugin))
        .insert_resource(TimeUpdateStrategy::ManualDuration(Duration::from_millis(
            16,
        )));
    add_logic(&mut app, config, seat);
    app.update();
    app
}

fn screen(app: &App) -> Screen {
    *app.world().resource::<State<Screen>>().get()
}

fn view(app: &App) -> &SessionView {
    app.world().resource::<SessionView>()
}

fn outcome(app: &App) -> &Outcome {
    app.world().resource::<Outcome>()
}

fn send(app: &mut App, intent: Intent) {
    app.world_mut().write_message(intent);
    app.update();
}

/// Run frames until `done` holds; the session thread works in wall time, so wait a little
/// between frames, up to `limit`.
fn until(app: &mut App, limit: Duration, what: &str, done: impl Fn(&App) -> bool) {
    let started = Instant::now();
    while !done(app) {
        assert!(
            started.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}; screen {:?}, lab {:?}, t {:?}",
            screen(app),
            view(app).lab,
            view(app).snapshot.as_ref().map(|s| (s.phase, s.now_ms)),
        );
        app.update();
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn phase(app: &App) -> Option<Phase> {
    view(app).snapshot.as_ref().map(|s| s.phase)
}

/// Open the scenario, start it and wait for the live phase.
fn live(app: &mut App) {
    live_in(app, SCENARIO);
}

fn live_in(app: &mut App, scenario: &str) {
    send(app, Intent::Open(scenario.into()));
    until(app, Duration::from_secs(10), "the lab", |a| {
        view(a).lab == LabState::Ready
    });
    send(app, Intent::Start);
    until(app, Duration::from_secs(30), "the live phase", |a| {
        phase(a) == Some(Phase::Live)
    });
}

/// Wait for the first alert of the live phase.
fn first_alert(app: &mut App) {
    until(app, Duration::from_secs(30), "an alert", |a| {
        view(a)
            .snapshot
            .as_ref()
            .is_some_and(|s| !s.alerts.is_empty())
    });
}

fn press(app: &mut App, keys: &[KeyCode]) {
    {
        let mut input = app.world_mut().resource_mut::<ButtonInput<KeyCode>>();
        for k in keys {
            input.press(*k);
        }
    }
    app.update();
    let mut input = app.world_mut().resource_mut::<ButtonInput<KeyCode>>();
    input.release_all();
    input.clear();
}

#[test]
fn screens_follow_the_session_from_menu_to_debrief() {
    let mut app = app(&config(3000.0));
    assert_eq!(screen(&app), Screen::Menu);
    send(&mut app, Intent::Open(SCENARIO.into()));
    app.update();
    assert_eq!(screen(&app), Screen::Briefing);
    until(&mut app, Duration::from_secs(10), "the lab", |a| {
        view(a).lab == LabState::Ready
    });
    // In the briefing the clock does not run.
    std::thread::sleep(Duration::from_millis(100));
    app.update();
    assert_eq!(phase(&app), Some(Phase::Briefing));
    send(&mut app, Intent::Start);
    app.update();
    assert_eq!(screen(&app), Screen::Live);
    until(&mut app, Duration::from_secs(60), "the debrief", |a| {
        screen(a) == Screen::Debrief
    });
    let scored = outcome(&app)
        .0
        .clone()
        .expect("a score card at the debrief");
    // The ground truth arrives with the score, for the debrief's timeline and lesson.
    assert_eq!(scored.scenario.id, SCENARIO);
    let card = scored.card;
    assert_eq!(card.scenario, SCENARIO);
    assert!(card.total <= card.max && !card.components.is_empty());
    assert!(!card.timeline.is_empty());

    // Next opens the following scenario's briefing; Menu goes back.
    send(&mut app, Intent::Next);
    app.update();
    assert_eq!(screen(&app), Screen::Briefing);
    assert_eq!(view(&app).opening.as_deref(), Some("resource-exhaustion"));
    assert!(
        outcome(&app).0.is_none(),
        "the last debrief went with its session"
    );
    send(&mut app, Intent::Menu);
    app.update();
    assert_eq!(screen(&app), Screen::Menu);
    assert!(view(&app).opening.is_none() && view(&app).brief.is_none());
}

/// The SaaS lab in the game: the firewall's alert about a refused crossing offers closing the
/// route it names, and the segmentation the action bar writes is carried out and confirmed.
#[test]
fn a_crossing_alert_offers_segmenting_its_route_and_the_segment_is_confirmed() {
    let mut app = app(&config(60.0));
    live_in(&mut app, "poisoned-pdf");
    let crossing = |a: &App| {
        view(a).snapshot.as_ref().and_then(|s| {
            s.alerts
                .iter()
                .find(|e| e.alert.rule == "rule.crossing-denied")
                .map(|e| bulkhead_game::live::actions::entity_actions(e, s))
        })
    };
    until(&mut app, Duration::from_secs(30), "a crossing alert", |a| {
        crossing(a).is_some()
    });
    let segment = Mitigation::Segment {
        from_zone: "jobs".into(),
        to_zone: "data".into(),
    };
    let offered = crossing(&app).unwrap();
    assert!(offered.contains(&segment), "{offered:?}");
    send(
        &mut app,
        Intent::Command(Command::Mitigate(segment.clone())),
    );
    until(
        &mut app,
        Duration::from_secs(10),
        "the segmentation's result",
        |a| {
            view(a).snapshot.as_ref().is_some_and(|s| {
                s.mitigations.iter().any(|m| {
                    m.mitigation == segment && m.result.as_ref().is_some_and(|(ok, _)| *ok)
                })
            })
        },
    );
    // Once closed, the same alert offers to reopen it.
    let reopen = Mitigation::Unsegment {
        from_zone: "jobs".into(),
        to_zone: "data".into(),
    };
    assert!(crossing(&app).unwrap().contains(&reopen));
}

/// A scenario with a hardening phase opens on the audit's findings; a fix sent from the game is
/// confirmed by the lab, the finding leaves the next audit, and the warm-up follows.
#[test]
fn the_hardening_phase_shows_the_audit_and_a_fix_from_the_game_leaves_it() {
    use bulkhead_engine::posture::WeaknessKind;
    let mut app = app(&config(20.0));
    send(&mut app, Intent::Open("lateral-movement".into()));
    until(&mut app, Duration::from_secs(10), "the lab", |a| {
        view(a).lab == LabState::Ready
    });
    send(&mut app, Intent::Start);
    until(&mut app, Duration::from_secs(10), "the audit", |a| {
        phase(a) == Some(Phase::Hardening)
            && view(a)
                .snapshot
                .as_ref()
                .is_some_and(|s| s.findings.len() == 6)
            // On the live screen: a frame after the first view, when the brief came late.
            && screen(a) == Screen::Live
    });
    let fix = Mitigation::Fix {
        service: "export-worker".into(),
        weakness: WeaknessKind::NoLimits,
    };
    send(&mut app, Intent::Command(Command::Mitigate(fix.clone())));
    until(&mut app, Duration::from_secs(10), "the fix's audit", |a| {
        view(a).snapshot.as_ref().is_some_and(|s| {
            s.findings.len() == 5
                && s.mitigations
                    .iter()
                    .any(|m| m.mitigation == fix && m.result.as_ref().is_some_and(|(ok, _)| *ok))
        })
    });
    until(&mut app, Duration::from_secs(20), "the warm-up", |a| {
        phase(a) == Some(Phase::Warmup)
    });
}

/// A tier that bridges two zones offers a detachment from each; the one the action bar
/// writes is confirmed, and the same zone then offers to attach it again.
#[test]
fn a_bridging_tier_can_be_detached_from_one_zone_and_attached_again() {
    use bulkhead_game::live::actions::zone_actions;
    let mut app = app(&config(60.0));
    live(&mut app);
    let offered = |a: &App| {
        let snap = view(a).snapshot.as_ref().unwrap();
        let brief = view(a).brief.as_ref().unwrap();
        let zones = &brief.topology.service("web").unwrap().zones;
        zone_actions("web", zones, snap.services.get("web"), snap)
    };
    let detach = Mitigation::Detach {
        service: "web".into(),
        zone: "data".into(),
    };
    let before = offered(&app);
    assert!(before.contains(&detach), "{before:?}");
    send(&mut app, Intent::Command(Command::Mitigate(detach.clone())));
    until(&mut app, Duration::from_secs(10), "the detachment", |a| {
        view(a).snapshot.as_ref().is_some_and(|s| {
            s.mitigations
                .iter()
                .any(|m| m.mitigation == detach && m.result.as_ref().is_some_and(|(ok, _)| *ok))
        })
    });
    let after = offered(&app);
    let attach = Mitigation::Attach {
        service: "web".into(),
        zone: "data".into(),
    };
    assert!(after.contains(&attach), "{after:?}");
    assert!(
        after.contains(&Mitigation::Detach {
            service: "web".into(),
            zone: "app".into()
        }),
        "the other zone stays detachable: {after:?}"
    );
}

#[test]
fn a_block_intent_reaches_the_session_and_refusals_come_back() {
    let mut app = app(&config(60.0));
    live(&mut app);
    // What the action bar writes when "Block 198.51.100.23" is clicked.
    let block = Mitigation::Block {
        source: INTRUDER.into(),
    };
    send(&mut app, Intent::Command(Command::Mitigate(block.clone())));
    until(
        &mut app,
        Duration::from_secs(10),
        "the block's result",
        |a| {
            view(a).snapshot.as_ref().is_some_and(|s| {
                s.mitigations
                    .iter()
                    .any(|m| m.mitigation == block && m.result.as_ref().is_some_and(|(ok, _)| *ok))
            })
        },
    );
    assert!(
        view(&app)
            .feedback
            .iter()
            .any(|f| f.kind == FeedbackKind::Done && f.text.contains(INTRUDER))
    );
    // A command the session refuses comes back to the trainee with the reason.
    send(
        &mut app,
        Intent::Command(Command::Triage {
            alert: 999.into(),
            verdict: Verdict::Incident,
        }),
    );
    until(&mut app, Duration::from_secs(10), "the refusal", |a| {
        view(a)
            .feedback
            .iter()
            .any(|f| f.kind == FeedbackKind::Refused && f.text.contains("no alert #999"))
    });
}

#[test]
fn alerts_appear_in_the_view_and_pause_holds_the_clock() {
    let mut app = app(&config(60.0));
    live(&mut app);
    first_alert(&mut app);
    {
        let snap = view(&app).snapshot.as_ref().unwrap();
        let first = &snap.alerts[0];
        assert!(!first.alert.evidence.is_empty() && !first.alert.baseline.is_empty());
        assert!(first.count >= 1 && first.verdict.is_none());
        // The inspector's bands come from the detector once the warm-up is over.
        assert!(snap.bands.keys().any(|(s, _)| s == "web"));
        assert!(
            snap.services
                .get("web")
                .is_some_and(|s| !s.history.is_empty())
        );
    }
    send(&mut app, Intent::TogglePause);
    until(&mut app, Duration::from_secs(5), "the pause", |a| {
        view(a).snapshot.as_ref().is_some_and(|s| s.paused)
    });
    let held = view(&app).snapshot.as_ref().unwrap().now_ms;
    std::thread::sleep(Duration::from_millis(300));
    app.update();
    assert_eq!(view(&app).snapshot.as_ref().unwrap().now_ms, held);
    send(&mut app, Intent::TogglePause);
    until(&mut app, Duration::from_secs(5), "the clock again", |a| {
        view(a).snapshot.as_ref().is_some_and(|s| s.now_ms > held)
    });
}

#[test]
fn shortcuts_triage_attribute_and_mitigate() {
    let mut app = app(&config(60.0));
    live(&mut app);
    first_alert(&mut app);
    // Pause so the list holds still while keys are pressed.
    send(&mut app, Intent::TogglePause);
    press(&mut app, &[KeyCode::KeyJ]);
    let id = app
        .world()
        .resource::<LiveUi>()
        .selected_alert
        .expect("J selects an alert");
    press(&mut app, &[KeyCode::KeyI]);
    press(&mut app, &[KeyCode::KeyA]);
    until(&mut app, Duration::from_secs(10), "the verdict", |a| {
        view(a).snapshot.as_ref().is_some_and(|s| {
            s.alerts
                .iter()
                .any(|e| e.alert.id == id && e.verdict == Some(Verdict::Incident))
                && !s.attributed.is_empty()
        })
    });

    // X asks to isolate the selected node; nothing happens until Enter confirms.
    press(&mut app, &[KeyCode::Digit3]);
    assert_eq!(
        app.world().resource::<LiveUi>().selected_node.as_deref(),
        Some("datastore")
    );
    press(&mut app, &[KeyCode::KeyX]);
    assert!(app.world().resource::<LiveUi>().confirm.is_some());
    press(&mut app, &[KeyCode::Escape]);
    assert!(app.world().resource::<LiveUi>().confirm.is_none());
    press(&mut app, &[KeyCode::KeyX]);
    press(&mut app, &[KeyCode::Enter]);
    let isolate = Mitigation::Isolate {
        service: "datastore".into(),
    };
    until(&mut app, Duration::from_secs(10), "the isolation", |a| {
        view(a)
            .snapshot
            .as_ref()
            .is_some_and(|s| s.mitigations.iter().any(|m| m.mitigation == isolate))
    });

    // F1 opens the help; shortcuts other than Esc do nothing meanwhile is not required, but
    // the toggle must work both ways.
    press(&mut app, &[KeyCode::F1]);
    assert!(app.world().resource::<LiveUi>().help);
    press(&mut app, &[KeyCode::Escape]);
    assert!(!app.world().resource::<LiveUi>().help);
}

#[test]
fn no_score_reaches_the_trainee_before_the_debrief() {
    let mut app = app(&config(40.0));
    live(&mut app);
    first_alert(&mut app);
    let first = view(&app).snapshot.as_ref().unwrap().alerts[0].alert.id;
    send(
        &mut app,
        Intent::Command(Command::Triage {
            alert: first.into(),
            verdict: Verdict::Incident,
        }),
    );
    until(&mut app, Duration::from_secs(10), "the verdict", |a| {
        view(a)
            .snapshot
            .as_ref()
            .is_some_and(|s| s.alerts.iter().any(|e| e.verdict.is_some()))
    });
    // The HUD shows the trainee's own tally, which counts verdicts whatever they were worth.
    let snap = view(&app).snapshot.as_ref().unwrap();
    let tally = bulkhead_game::live::hud::progress(snap);
    assert!(tally[0].0.starts_with("1/"), "{tally:?}");
    assert!(
        outcome(&app).0.is_none(),
        "a score reached the game while live"
    );
    until(&mut app, Duration::from_secs(60), "the debrief", |a| {
        screen(a) == Screen::Debrief
    });
    assert!(outcome(&app).0.is_some(), "the debrief has its score");
}

#[test]
fn a_session_played_through_the_seat_scores_as_the_engine_does() {
    // Nobody defends, so the run does not depend on when frames happen: the card must be the
    // one the engine gives the same scenario, lab and seed played directly.
    let loaded = scenarios().remove(0);
    let mut direct = Session::new(
        loaded.scenario.clone(),
        loaded.topology.clone(),
        Box::new(SimLab::new(loaded.topology.clone(), &loaded.scenario, 7)),
        7,
        RecordWriter::discard(),
    );
    direct.begin();
    while !direct.is_over() {
        direct.tick();
    }
    let expected = direct.score().cloned().expect("a direct score");

    let mut app = app(&config(0.0));
    send(&mut app, Intent::Open(SCENARIO.into()));
    send(&mut app, Intent::Start);
    until(&mut app, Duration::from_secs(60), "the debrief", |a| {
        screen(a) == Screen::Debrief
    });
    assert_eq!(view(&app).seed, Some(7));
    let card = &outcome(&app).0.as_ref().unwrap().card;
    assert_eq!(card.total, expected.total);
    assert_eq!(card.components, expected.components);
}

/// A served seat played by the test: what the game sends, and a sender for what it receives.
struct FakeSeat {
    sent: Arc<Mutex<Vec<ClientMsg>>>,
    tx: Option<Sender<ServerMsg>>,
}

impl FakeSeat {
    /// A connection that has greeted, offering the repository's scenarios.
    fn connect() -> (FakeSeat, Attached) {
        FakeSeat::rejoin(Vec::new())
    }

    /// A connection that has greeted and then sent what the seat's open session is (what a
    /// seat sends a client that joins while it has one).
    fn rejoin(resumed: Vec<ServerMsg>) -> (FakeSeat, Attached) {
        let (tx, rx) = mpsc::channel();
        let sent = Arc::new(Mutex::new(Vec::new()));
        let log = sent.clone();
        let connection = Connection::new(
            move |msg| {
                log.lock().unwrap().push(msg);
                true
            },
            rx,
            || {},
        );
        tx.send(ServerMsg::Welcome {
            protocol: bulkhead_host::PROTOCOL_VERSION,
            seat: 4,
            workshop: "tuesday".into(),
            backend: Backend::Docker,
            offers: scenarios().iter().map(|l| Offer::of(&l.scenario)).collect(),
            time_scale: 20.0,
            resume: resumed.len() as u32,
        })
        .unwrap();
        for msg in resumed {
            tx.send(msg).unwrap();
        }
        let attached = Attached::greeted(connection).expect("the greeting");
        (FakeSeat { sent, tx: Some(tx) }, attached)
    }

    fn push(&self, msg: ServerMsg) {
        self.tx.as_ref().unwrap().send(msg).unwrap();
    }

    fn opened(&self, id: &str) {
        self.push(opened(id));
    }

    fn sent(&self) -> Vec<ClientMsg> {
        self.sent.lock().unwrap().clone()
    }

    /// The server goes away.
    fn close(&mut self) {
        self.tx = None;
    }
}

fn opened(id: &str) -> ServerMsg {
    let loaded = scenarios()
        .into_iter()
        .find(|l| l.scenario.id == id)
        .unwrap();
    ServerMsg::Opened {
        brief: Box::new(TraineeBrief::of(&loaded.scenario, &loaded.topology)),
        seed: 11,
    }
}

/// The end of a session, as a seat sends it (the card's numbers do not matter here).
fn over(id: &str) -> ServerMsg {
    let loaded = scenarios()
        .into_iter()
        .find(|l| l.scenario.id == id)
        .unwrap();
    let card = bulkhead_engine::score(&loaded.scenario, &loaded.topology, &[], None);
    ServerMsg::Over {
        card: Box::new(card),
        scenario: Box::new((*loaded.scenario).clone()),
        record: None,
        record_error: None,
        lab_error: None,
        lab: Default::default(),
    }
}

fn served_config() -> GameConfig {
    GameConfig {
        seat: SeatSource::Join(bulkhead_game::JoinSeat {
            url: "http://127.0.0.1:7420".into(),
            code: "unused: the test connects by hand".into(),
            name: "Ada".into(),
        }),
        ..config(1.0)
    }
}

#[test]
fn a_served_seat_shows_its_offers_and_backend_and_hears_the_protocol() {
    let (fake, attached) = FakeSeat::connect();
    let mut app = app_on(&served_config(), attached);
    let seat = app.world().resource::<SeatInfo>();
    assert_eq!(seat.backend, Backend::Docker);
    assert_eq!(seat.offers.len(), scenarios().len());
    assert!(seat.served.as_ref().is_some_and(|s| s.seat == 4));
    assert!(seat.backend_hint.is_empty(), "the server chooses the lab");
    assert_eq!(
        seat.time_scale,
        Some(20.0),
        "the server's pace, for the HUD"
    );
    assert!(
        seat.offers.iter().all(|o| o.minutes == 10),
        "scenario lengths for the menu"
    );

    send(&mut app, Intent::Open(SCENARIO.into()));
    fake.opened(SCENARIO);
    fake.push(ServerMsg::LabReady {
        lab: Default::default(),
    });
    until(&mut app, Duration::from_secs(5), "the lab", |a| {
        view(a).lab == LabState::Ready
    });
    assert_eq!(
        view(&app).brief.as_ref().map(|b| b.id.as_str()),
        Some(SCENARIO)
    );
    send(&mut app, Intent::Start);
    send(&mut app, Intent::TogglePause);
    send(&mut app, Intent::Finish);
    send(&mut app, Intent::Menu);
    assert_eq!(
        fake.sent(),
        vec![
            ClientMsg::Open {
                scenario: SCENARIO.into(),
                pace: Pace::Clocked
            },
            ClientMsg::Begin,
            ClientMsg::TogglePause,
            ClientMsg::Finish,
            ClientMsg::Close,
        ]
    );
    // What the seat sends about a session the trainee has left is not shown.
    fake.push(ServerMsg::LabFailed("late news of the old lab".into()));
    app.update();
    assert_eq!(view(&app).lab, LabState::Idle);
}

#[test]
fn a_closed_connection_mid_session_fails_the_lab_and_nothing_panics() {
    let (mut fake, attached) = FakeSeat::connect();
    let mut app = app_on(&served_config(), attached);
    send(&mut app, Intent::Open(SCENARIO.into()));
    fake.opened(SCENARIO);
    fake.push(ServerMsg::LabReady {
        lab: Default::default(),
    });
    until(&mut app, Duration::from_secs(5), "the lab", |a| {
        view(a).lab == LabState::Ready
    });
    send(&mut app, Intent::Start);
    app.update();
    assert_eq!(screen(&app), Screen::Live);

    fake.close();
    until(&mut app, Duration::from_secs(5), "the failure", |a| {
        matches!(view(a).lab, LabState::Failed(_))
    });
    let LabState::Failed(why) = &view(&app).lab else {
        unreachable!()
    };
    assert!(why.contains("the server closed the connection"), "{why}");
    // The live screen stays (the trainee reads why), and commands say they went nowhere.
    assert_eq!(screen(&app), Screen::Live);
    send(&mut app, Intent::TogglePause);
    send(&mut app, Intent::Finish);
    for _ in 0..5 {
        app.update();
    }
    // Back to the menu, and a new scenario fails at once with the same reason.
    send(&mut app, Intent::Menu);
    app.update();
    assert_eq!(screen(&app), Screen::Menu);
    assert!(
        app.world()
            .resource::<SeatInfo>()
            .lost
            .as_deref()
            .is_some_and(|w| w.contains("closed the connection"))
    );
    send(&mut app, Intent::Open(SCENARIO.into()));
    app.update();
    assert_eq!(screen(&app), Screen::Briefing);
    assert!(matches!(&view(&app).lab, LabState::Failed(w) if w.contains("closed the connection")));
}

#[test]
fn a_rejoin_resumes_the_session_the_seat_was_running() {
    // Nothing named to start: the seat's open session becomes the game's.
    let (fake, attached) = FakeSeat::rejoin(vec![
        opened(SCENARIO),
        ServerMsg::LabReady {
            lab: Default::default(),
        },
    ]);
    assert_eq!(attached.resumable(), Some(SCENARIO));
    let mut app = app_on(&served_config(), attached);
    until(&mut app, Duration::from_secs(5), "the resumed brief", |a| {
        view(a).lab == LabState::Ready && screen(a) == Screen::Briefing
    });
    assert_eq!(view(&app).opening.as_deref(), Some(SCENARIO));
    assert_eq!(view(&app).seed, Some(11));
    assert!(fake.sent().is_empty(), "resuming asks the seat for nothing");

    // The same scenario named to start: still resumed, not thrown away.
    let (fake, attached) = FakeSeat::rejoin(vec![
        opened(SCENARIO),
        ServerMsg::LabReady {
            lab: Default::default(),
        },
    ]);
    let config = GameConfig {
        start: Some(SCENARIO.into()),
        ..served_config()
    };
    let mut app = app_on(&config, attached);
    app.update();
    assert_eq!(view(&app).lab, LabState::Ready);
    assert!(fake.sent().is_empty(), "{:?}", fake.sent());
}

#[test]
fn a_rejoin_with_a_scenario_named_replaces_a_finished_session() {
    // The seat's last session is over; the game was asked for the same scenario: a new one
    // opens, and the old score is not shown as if it were the new session's.
    let (fake, attached) = FakeSeat::rejoin(vec![
        opened(SCENARIO),
        ServerMsg::LabReady {
            lab: Default::default(),
        },
        over(SCENARIO),
    ]);
    assert_eq!(attached.resumable(), None);
    let config = GameConfig {
        start: Some(SCENARIO.into()),
        ..served_config()
    };
    let mut app = app_on(&config, attached);
    app.update();
    assert_eq!(
        fake.sent(),
        vec![ClientMsg::Open {
            scenario: SCENARIO.into(),
            pace: Pace::Clocked
        }]
    );
    assert_eq!(screen(&app), Screen::Briefing);
    assert!(outcome(&app).0.is_none());
    assert!(
        view(&app).brief.is_none(),
        "waiting for the new session's brief"
    );
    fake.opened(SCENARIO);
    fake.push(ServerMsg::LabReady {
        lab: Default::default(),
    });
    until(&mut app, Duration::from_secs(5), "the new lab", |a| {
        view(a).lab == LabState::Ready
    });
}
