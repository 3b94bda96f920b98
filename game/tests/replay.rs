//! Replay mode without a window: a bot's record of the simulated lab opened in the game's logic
//! (`MinimalPlugins`), scrubbed back and forth. At every moment the live screen's view must hold
//! exactly the alerts, verdicts and mitigations the record holds up to then, the trainee's own
//! actions must come back as they happened, and the debrief must score as the record does.

use std::path::PathBuf;
use std::time::Duration;

use bevy::prelude::*;
use bevy::state::app::StatesPlugin;
use bevy::time::TimeUpdateStrategy;
use bulkhead_engine::defender::Bot;
use bulkhead_engine::{
    Command, MemoryRecord, Millis, Mitigation, Record, RecordLine, Session, SimLab, Verdict, score,
};
use bulkhead_game::bridge::{
    FeedbackKind, Intent, LabState, Outcome, Playback, ReplayControl, SessionView,
};
use bulkhead_game::screens::Screen;
use bulkhead_game::{GameConfig, ReplaySource, SeatSource, add_logic, attach};

const SCENARIO: &str = "stolen-credentials";

/// A bot's whole session on the simulated lab, its record read back.
fn bot_record() -> Record {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let loaded = bulkhead_engine::format::load_scenario(
        &root.join(format!("scenarios/{SCENARIO}.ron")),
        &root,
    )
    .unwrap();
    let memory = MemoryRecord::default();
    let mut session = Session::new(
        loaded.scenario.clone(),
        loaded.topology.clone(),
        Box::new(SimLab::new(loaded.topology.clone(), &loaded.scenario, 7)),
        7,
        memory.writer(),
    );
    session.run(&mut Bot::default(), |_| {});
    drop(session);
    Record::from_reader(&memory.bytes()[..], "memory").unwrap()
}

/// The game's logic on a replay of `record`, on the live screen, playback paused at the start.
fn replaying(record: &Record) -> App {
    let config = GameConfig {
        seat: SeatSource::Replay(ReplaySource {
            record: Box::new(record.clone()),
            path: "bot.jsonl".into(),
            speed: 60.0,
        }),
        start: Some(SCENARIO.into()),
        screenshot: None,
        report_fps: false,
        scores_file: None,
    };
    let seat = attach(&config).expect("a replay attaches");
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, StatesPlugin))
        .insert_resource(TimeUpdateStrategy::ManualDuration(Duration::from_millis(
            16,
        )));
    add_logic(&mut app, &config, seat);
    app.update();
    app.update();
    assert_eq!(screen(&app), Screen::Briefing);
    assert_eq!(view(&app).lab, LabState::Ready);
    send(&mut app, Intent::Start);
    app.update();
    assert_eq!(screen(&app), Screen::Live);
    send(&mut app, Intent::TogglePause);
    assert!(playback(&app).paused);
    app
}

fn screen(app: &App) -> Screen {
    *app.world().resource::<State<Screen>>().get()
}

fn view(app: &App) -> &SessionView {
    app.world().resource::<SessionView>()
}

fn playback(app: &App) -> bulkhead_host::replay::ReplayStatus {
    app.world()
        .resource::<Playback>()
        .0
        .clone()
        .expect("a replay shows its playback")
}

fn send(app: &mut App, intent: Intent) {
    app.world_mut().write_message(intent);
    app.update();
}

fn seek(app: &mut App, t_ms: Millis) -> Millis {
    send(app, Intent::Replay(ReplayControl::Seek(t_ms)));
    view(app).snapshot.as_ref().expect("a view").now_ms
}

/// The record's accepted commands up to `t`.
fn accepted(record: &Record, t: Millis) -> Vec<(Millis, Command)> {
    record
        .lines
        .iter()
        .filter_map(|l| match l {
            RecordLine::Command {
                t_ms,
                command,
                refused: None,
            } if *t_ms <= t => Some((*t_ms, command.clone())),
            _ => None,
        })
        .collect()
}

/// What the live screen must show at `now`, from the record alone: alert ids, each alert's
/// last verdict, the mitigations with their times.
type Expected = (Vec<u32>, Vec<(u32, Verdict)>, Vec<(Millis, Mitigation)>);

fn expected(record: &Record, now: Millis) -> Expected {
    let alerts: Vec<u32> = record
        .lines
        .iter()
        .filter_map(|l| match l {
            RecordLine::Alert(a) if a.t_ms <= now => Some(a.id),
            _ => None,
        })
        .collect();
    let mut verdicts = std::collections::BTreeMap::new();
    let mut mitigations = Vec::new();
    for (t, command) in accepted(record, now) {
        match command {
            Command::Triage { alert, verdict } => {
                verdicts.insert(alert.id().unwrap(), verdict);
            }
            Command::Mitigate(m) => mitigations.push((t, m)),
            _ => {}
        }
    }
    (alerts, verdicts.into_iter().collect(), mitigations)
}

fn shown(app: &App) -> Expected {
    let snap = view(app).snapshot.as_ref().unwrap();
    let alerts = snap.alerts.iter().map(|a| a.alert.id).collect();
    let verdicts = snap
        .alerts
        .iter()
        .filter_map(|a| a.verdict.map(|v| (a.alert.id, v)))
        .collect();
    let mitigations = snap
        .mitigations
        .iter()
        .map(|m| (m.t_ms, m.mitigation.clone()))
        .collect();
    (alerts, verdicts, mitigations)
}

fn answers(app: &App) -> usize {
    view(app)
        .feedback
        .iter()
        .filter(|f| f.kind == FeedbackKind::Done)
        .count()
}

#[test]
fn scrubbing_shows_exactly_what_the_record_holds_up_to_then() {
    let record = bot_record();
    let mut app = replaying(&record);
    let commands = accepted(&record, Millis::MAX);
    let first = commands.first().expect("the bot acted").0;
    let end = playback(&app).end_ms;

    // Forward past the bot's actions, back to before the first, then to the middle.
    for target in [first + 20_000, first - 1_000, end / 2, end - 1_000] {
        let now = seek(&mut app, target);
        assert!(now >= target, "at {now} for {target}");
        assert_eq!(shown(&app), expected(&record, now), "at {now}");
        assert_eq!(
            answers(&app),
            accepted(&record, now).len().min(30),
            "the trainee's actions up to {now}, as they happened"
        );
        assert_eq!(playback(&app).now_ms, now);
    }
    let now = seek(&mut app, first - 1_000);
    assert!(shown(&app).2.is_empty(), "no mitigation before the first");
    assert_eq!(
        answers(&app),
        0,
        "what came later is forgotten on the way back"
    );
    assert!(!shown(&app).0.is_empty() || expected(&record, now).0.is_empty());
}

#[test]
fn a_replay_takes_no_commands_and_plays_on_at_its_speed() {
    let record = bot_record();
    let mut app = replaying(&record);
    let now = seek(&mut app, 150_000);
    send(
        &mut app,
        Intent::Command(Command::Mitigate(Mitigation::Block {
            source: "203.0.113.9".into(),
        })),
    );
    let refused = view(&app).feedback.back().expect("the refusal is said");
    assert_eq!(refused.kind, FeedbackKind::Refused);
    assert!(
        refused.text.contains("replay takes no commands"),
        "{}",
        refused.text
    );
    assert_eq!(shown(&app), expected(&record, now));

    // Unpaused at 60x, a third of a wall second plays at least a tick of session time.
    send(&mut app, Intent::TogglePause);
    std::thread::sleep(Duration::from_millis(300));
    app.update();
    let later = view(&app).snapshot.as_ref().unwrap().now_ms;
    assert!(later >= now + 250, "{now} -> {later}");
    send(&mut app, Intent::Replay(ReplayControl::Speed(500.0)));
    assert_eq!(playback(&app).speed, 60.0, "held to the fastest offered");
    send(&mut app, Intent::Replay(ReplayControl::Speed(2.0)));
    assert_eq!(playback(&app).speed, 2.0);
}

#[test]
fn the_end_of_a_replay_is_the_debrief_of_the_record() {
    let record = bot_record();
    let mut app = replaying(&record);
    send(&mut app, Intent::Finish);
    app.update();
    assert_eq!(screen(&app), Screen::Debrief);
    let scored = app.world().resource::<Outcome>().0.clone().expect("scored");
    let card = score(&record.scenario, &record.topology, &record.lines, None);
    assert_eq!(scored.card, card);
    assert_eq!(scored.record.as_deref(), Some("bot.jsonl"));
    // Playing it again starts from the briefing, at the start.
    send(&mut app, Intent::Retry);
    app.update();
    assert_eq!(screen(&app), Screen::Briefing);
    assert_eq!(playback(&app).now_ms, 0);
}

/// Press `key` for one frame, as a trainee would.
fn press(app: &mut App, key: KeyCode) {
    app.world_mut()
        .resource_mut::<ButtonInput<KeyCode>>()
        .press(key);
    app.update();
    let mut input = app.world_mut().resource_mut::<ButtonInput<KeyCode>>();
    input.release(key);
    input.clear();
    app.update();
}

#[test]
fn arrows_move_a_replay_ten_seconds_and_brackets_step_its_speed() {
    let record = bot_record();
    let mut app = replaying(&record);
    let start = seek(&mut app, 200_000);
    press(&mut app, KeyCode::ArrowRight);
    let later = playback(&app).now_ms;
    assert!(
        later >= start + 10_000 && later < start + 10_250,
        "{start} -> {later}"
    );
    press(&mut app, KeyCode::ArrowLeft);
    press(&mut app, KeyCode::ArrowLeft);
    let back = playback(&app).now_ms;
    assert!(
        back + 10_000 <= later && back + 10_500 >= start,
        "{later} -> {back}"
    );
    assert_eq!(
        shown(&app),
        expected(&record, back),
        "seeking by key is seeking"
    );
    assert_eq!(playback(&app).speed, 60.0);
    press(&mut app, KeyCode::BracketLeft);
    assert_eq!(playback(&app).speed, 30.0);
    press(&mut app, KeyCode::BracketRight);
    press(&mut app, KeyCode::BracketRight);
    assert_eq!(playback(&app).speed, 60.0, "held at the fastest");
}
