//! Replaying records of the simulated lab: a bot's session, a session with a mentor's acts and
//! an early finish, a record cut short. A replay must rebuild what the session showed at every
//! moment and score as the record does; a record it cannot reproduce is reported as drift.

use std::path::PathBuf;
use std::sync::Arc;

use bulkhead_engine::defender::Bot;
use bulkhead_engine::format::{self, Loaded};
use bulkhead_engine::replay::{Replay, Replayed};
use bulkhead_engine::session::TICK_MS;
use bulkhead_engine::{MemoryRecord, Millis, Record, RecordLine, Session, SimLab};

fn load(id: &str) -> Loaded {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    format::load_scenario(&root.join(format!("scenarios/{id}.ron")), &root)
        .unwrap_or_else(|e| panic!("{id} does not load: {e}"))
}

/// A session of `id` on the simulated lab, in its briefing, and where its record goes.
fn session(id: &str, seed: u64) -> (Session, MemoryRecord) {
    let loaded = load(id);
    let lab = SimLab::new(loaded.topology.clone(), &loaded.scenario, seed);
    let memory = MemoryRecord::default();
    let session = Session::new(
        loaded.scenario,
        loaded.topology,
        Box::new(lab),
        seed,
        memory.writer(),
    );
    (session, memory)
}

fn read(memory: &MemoryRecord) -> Arc<Record> {
    Arc::new(Record::from_reader(&memory.bytes()[..], "memory").expect("the record reads back"))
}

/// A bot's whole session, its record read back.
fn bot_record(id: &str, seed: u64) -> Arc<Record> {
    let (mut session, memory) = session(id, seed);
    session.run(&mut Bot::default(), |_| {});
    drop(session);
    read(&memory)
}

fn alerts_by(record: &Record, t: Millis) -> Vec<u32> {
    record
        .lines
        .iter()
        .filter_map(|l| match l {
            RecordLine::Alert(a) if a.t_ms <= t => Some(a.id),
            _ => None,
        })
        .collect()
}

fn commands_by(record: &Record, t: Millis) -> usize {
    record
        .lines
        .iter()
        .filter(|l| matches!(l, RecordLine::Command { t_ms, .. } if *t_ms <= t))
        .count()
}

#[test]
fn a_bot_session_replays_exactly_and_scores_as_its_record() {
    for id in [
        "stolen-credentials",
        "resource-exhaustion",
        "insider-access",
        "poisoned-pdf",
    ] {
        let record = bot_record(id, 7);
        assert_eq!(Replay::check(record.clone()), Ok(()), "{id}");
        let mut replay = Replay::new(record.clone());
        replay.advance_to(Millis::MAX, &mut Vec::new());
        assert!(replay.at_end(), "{id}");
        assert_eq!(replay.session().score(), Some(&replay.card()), "{id}");
        assert!(replay.card().total > 0, "{id}: the bot scores");
    }
}

#[test]
fn seeking_shows_exactly_what_had_happened_by_then() {
    let record = bot_record("stolen-credentials", 3);
    let mut replay = Replay::new(record.clone());
    replay.advance_to(replay.end_ms(), &mut Vec::new());
    let first_command = record
        .lines
        .iter()
        .find_map(|l| match l {
            RecordLine::Command { t_ms, .. } => Some(*t_ms),
            _ => None,
        })
        .expect("the bot acted");
    // Just before the bot's first command, then back to the warm-up, then forward again.
    for target in [first_command - 1, 1_000, replay.end_ms() / 2, first_command] {
        let mut done = Vec::new();
        replay.seek(target, &mut done);
        let now = replay.now();
        assert!(
            now >= target && now < target + TICK_MS,
            "at {now} for {target}"
        );
        let shown: Vec<u32> = replay
            .session()
            .alerts()
            .iter()
            .map(|a| a.alert.id)
            .collect();
        assert_eq!(shown, alerts_by(&record, now), "alerts at {now}");
        let accepted = replay.session().mitigations().len()
            + replay.session().attributed().len()
            + replay
                .session()
                .alerts()
                .iter()
                .filter(|a| a.verdict.is_some())
                .count();
        assert!(accepted <= commands_by(&record, now));
    }
    // Seeking back replays every command again, in order, from the start.
    let mut done = Vec::new();
    replay.seek(0, &mut done);
    replay.seek(replay.end_ms(), &mut done);
    let replayed = done
        .iter()
        .filter(|d| matches!(d, Replayed::Command { .. }))
        .count();
    assert_eq!(replayed, commands_by(&record, replay.end_ms()));
}

#[test]
fn mentor_acts_and_an_early_finish_replay_at_their_times() {
    let (mut s, memory) = session("stolen-credentials", 11);
    let live = s.scenario().live_start_ms();
    s.begin();
    while s.now() < live + 30_000 && s.tick() {}
    s.whisper("look at the login alerts".into(), 0, "ana");
    s.reveal_hint("ana").expect("a hint is left");
    s.extend_live(60, "ana")
        .expect("the live phase can be extended");
    s.inject("new-source", "ana").expect("the inject fires");
    while s.now() < live + 200_000 && s.tick() {}
    s.finish();
    let ended = s.now();
    drop(s);
    let record = read(&memory);
    assert_eq!(Replay::check(record.clone()), Ok(()));

    let mut replay = Replay::new(record.clone());
    let mut done = Vec::new();
    replay.advance_to(live + 29_000, &mut done);
    assert!(
        replay.session().hints().is_empty(),
        "no hint before it was revealed"
    );
    replay.advance_to(live + 31_000, &mut done);
    assert_eq!(replay.session().hints().len(), 1);
    assert_eq!(replay.session().whispers().len(), 1);
    assert!(done.contains(&Replayed::Whisper {
        by: "ana".into(),
        text: "look at the login alerts".into()
    }));
    assert_eq!(replay.session().extended_s(), 60);
    assert_eq!(replay.session().injects_fired(), ["new-source"]);
    replay.advance_to(Millis::MAX, &mut done);
    assert!(replay.session().is_over());
    assert_eq!(replay.now(), ended, "ends where the trainee ended it");
    assert_eq!(replay.session().score(), Some(&replay.card()));
}

#[test]
fn a_record_cut_short_replays_to_its_last_line() {
    let (mut s, memory) = session("resource-exhaustion", 2);
    s.begin();
    let stop = s.scenario().live_start_ms() + 40_000;
    while s.now() < stop && s.tick() {}
    drop(s);
    let mut bytes = memory.bytes();
    bytes.truncate(bytes.len() - 5);
    let record = Arc::new(Record::from_reader(&bytes[..], "cut").expect("reads up to the cut"));
    assert!(record.cut_short && !record.finished());
    let mut replay = Replay::new(record.clone());
    replay.advance_to(Millis::MAX, &mut Vec::new());
    assert!(replay.at_end() && replay.session().is_over());
    assert!(replay.now() <= stop, "stops where the record stops");
}

#[test]
fn a_record_that_no_longer_replays_is_reported_as_drift() {
    let record = bot_record("stolen-credentials", 5);
    let mut changed = (*record).clone();
    let alert = changed
        .lines
        .iter_mut()
        .find_map(|l| match l {
            RecordLine::Alert(a) => Some(a),
            _ => None,
        })
        .expect("the bot's session raised an alert");
    alert.t_ms += 1;
    let drift = Replay::check(Arc::new(changed)).expect_err("an alert moved");
    assert!(drift.differing >= 1);
    assert!(drift.first.contains("alert"), "{}", drift.first);
}
