//! The game's logic without a window or a GPU: `MinimalPlugins` + `StatesPlugin`, time stepped
//! by hand, a simulated lab from the repository's scenarios. Intents written the way panels and
//! shortcuts write them must reach the session, and screens must follow it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bevy::prelude::*;
use bevy::state::app::StatesPlugin;
use bevy::time::TimeUpdateStrategy;
use bulkhead_engine::{Backend, Command, Loaded, Mitigation, Phase, SimLab, Verdict};
use bulkhead_game::bridge::{FeedbackKind, Intent, LabState, SessionView};
use bulkhead_game::live::LiveUi;
use bulkhead_game::screens::Screen;
use bulkhead_game::{GameConfig, add_logic};

const SCENARIO: &str = "stolen-credentials";
const INTRUDER: &str = "198.51.100.23";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn scenarios() -> Vec<Loaded> {
    ["stolen-credentials", "resource-exhaustion"]
        .iter()
        .map(|id| {
            bulkhead_engine::format::load_scenario(
                &root().join(format!("scenarios/{id}.ron")),
                &root(),
            )
            .unwrap()
        })
        .collect()
}

fn config(time_scale: f64) -> GameConfig {
    GameConfig {
        scenarios: scenarios(),
        start: None,
        seed: Some(7),
        time_scale,
        backend: Backend::Sim,
        backend_hint: "run with --backend docker".into(),
        make_lab: Arc::new(|l: &Loaded, seed| {
            Ok(Box::new(SimLab::new(l.topology.clone(), &l.scenario, seed))
                as Box<dyn bulkhead_engine::Lab>)
        }),
        screenshot: None,
        report_fps: false,
        scores_file: None,
    }
}

fn app(config: &GameConfig) -> App {
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, StatesPlugin))
        .insert_resource(TimeUpdateStrategy::ManualDuration(Duration::from_millis(
            16,
        )));
    add_logic(&mut app, config);
    app.update();
    app
}

fn screen(app: &App) -> Screen {
    *app.world().resource::<State<Screen>>().get()
}

fn view(app: &App) -> &SessionView {
    app.world().resource::<SessionView>()
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
    send(app, Intent::Open(SCENARIO.into()));
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
    let card = view(&app)
        .score
        .clone()
        .expect("a score card at the debrief");
    assert_eq!(card.scenario, SCENARIO);
    assert!(card.total <= card.max && !card.components.is_empty());
    assert!(!card.timeline.is_empty());

    // Next opens the following scenario's briefing; Menu goes back.
    send(&mut app, Intent::Next);
    app.update();
    assert_eq!(screen(&app), Screen::Briefing);
    let next = view(&app).loaded.as_ref().map(|l| l.scenario.id.clone());
    assert_eq!(next.as_deref(), Some("resource-exhaustion"));
    send(&mut app, Intent::Menu);
    app.update();
    assert_eq!(screen(&app), Screen::Menu);
    assert!(view(&app).loaded.is_none());
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
        view(&app).score.is_none(),
        "a score reached the view while live"
    );
    until(&mut app, Duration::from_secs(60), "the debrief", |a| {
        screen(a) == Screen::Debrief
    });
    assert!(view(&app).score.is_some(), "the debrief has its score");
}
