//! The replay player answers a client as a seat would, minus what a replay cannot do: it opens
//! only its record's scenario, refuses commands, and ends with the record's own score.

use std::path::PathBuf;
use std::time::Duration;

use bulkhead_engine::defender::Bot;
use bulkhead_engine::{Command, MemoryRecord, Record, Session, SimLab, score};
use bulkhead_host::replay::Player;
use bulkhead_host::{ClientMsg, ErrorKind, Pace, ServerMsg};

fn bot_record(id: &str) -> Record {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let l =
        bulkhead_engine::format::load_scenario(&root.join(format!("scenarios/{id}.ron")), &root)
            .unwrap();
    let memory = MemoryRecord::default();
    let mut session = Session::new(
        l.scenario.clone(),
        l.topology.clone(),
        Box::new(SimLab::new(l.topology.clone(), &l.scenario, 9)),
        9,
        memory.writer(),
    );
    session.run(&mut Bot::default(), |_| {});
    drop(session);
    Record::from_reader(&memory.bytes()[..], "memory").unwrap()
}

fn said(player: &mut Player, msg: ClientMsg) -> Vec<ServerMsg> {
    let mut out = Vec::new();
    player.handle(msg, &mut out);
    out
}

fn open(id: &str) -> ClientMsg {
    ClientMsg::Open {
        scenario: id.into(),
        pace: Pace::Clocked,
    }
}

#[test]
fn a_player_briefs_plays_and_scores_as_its_record_and_takes_no_commands() {
    let record = bot_record("resource-exhaustion");
    let card = score(&record.scenario, &record.topology, &record.lines, None);
    let mut player = Player::new(record, Some("r.jsonl".into()));
    assert_eq!(player.status().drift, None);

    let other = said(&mut player, open("stolen-credentials"));
    assert!(
        matches!(&other[..], [ServerMsg::Error { kind: ErrorKind::NotNow, message }] if message.contains("resource-exhaustion"))
    );
    let opened = said(&mut player, open("resource-exhaustion"));
    assert!(matches!(opened[0], ServerMsg::Opened { seed: 9, .. }));
    assert!(matches!(opened[1], ServerMsg::LabReady { .. }));

    // Nothing plays before the briefing is left.
    let mut out = Vec::new();
    player.poll(Duration::from_secs(5), &mut out);
    assert!(out.is_empty());
    assert!(matches!(
        said(&mut player, ClientMsg::Begin)[..],
        [ServerMsg::View(_)]
    ));

    let refused = said(&mut player, ClientMsg::Command(Command::Hint));
    assert!(
        matches!(&refused[..], [ServerMsg::Error { kind: ErrorKind::NotNow, message }] if message.contains("no commands"))
    );

    // Ten wall seconds at 60x: ten minutes of session, the whole record, and its score.
    player.set_speed(60.0);
    let mut out = Vec::new();
    player.poll(Duration::from_secs(10), &mut out);
    let over = out.iter().find_map(|m| match m {
        ServerMsg::Over { card, record, .. } => Some((card, record)),
        _ => None,
    });
    let (scored, source) = over.expect("the end of the record is its debrief");
    assert_eq!(**scored, card);
    assert_eq!(source.as_deref(), Some("r.jsonl"));
    assert!(
        out.iter()
            .any(|m| matches!(m, ServerMsg::Answer { refused: None, .. }))
    );
}
