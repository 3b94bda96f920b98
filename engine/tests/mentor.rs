//! A mentor's and a facilitator's acts on live sessions of the simulated lab: injects run and
//! raise true alerts the trainee sees, whispers and revealed hints cost what they say under
//! hints, an extension ends the session later, and a record with all of it rescores the same.

use std::path::PathBuf;

use bulkhead_engine::action::{Command, Effect, Origin};
use bulkhead_engine::defender::Bot;
use bulkhead_engine::format::{self, Loaded};
use bulkhead_engine::observation::{EntityRef, Millis};
use bulkhead_engine::record::{MentorAct, Record, RecordLine};
use bulkhead_engine::score::{MomentKind, Truth, alert_truths};
use bulkhead_engine::{MemoryRecord, Phase, ScoreCard, Session, SimLab, score};

const STOLEN: &str = "stolen-credentials";

fn load(id: &str) -> Loaded {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    format::load_scenario(&root.join(format!("scenarios/{id}.ron")), &root)
        .unwrap_or_else(|e| panic!("{id} does not load: {e}"))
}

/// The address the `new-source` inject moves the intruder to in this session's variant (each
/// seed draws its own).
fn new_source(session: &Session) -> String {
    let inject = session
        .scenario()
        .injects
        .iter()
        .find(|i| i.id == "new-source");
    let steps = inject
        .expect("stolen-credentials has the new-source inject")
        .steps();
    steps
        .filter_map(|(step, _)| match &step.action {
            bulkhead_engine::Action::Login { source, .. } => Some(source.clone()),
            _ => None,
        })
        .next()
        .expect("the inject logs in from its new source")
}

/// A session of a scenario on the simulated lab, still in its briefing, and its record's bytes.
fn session(id: &str, seed: u64) -> (Session, MemoryRecord) {
    let loaded = load(id);
    let lab = SimLab::new(loaded.topology.clone(), &loaded.scenario, seed);
    let buffer = MemoryRecord::default();
    let record = buffer.writer();
    let session = Session::new(
        loaded.scenario,
        loaded.topology,
        Box::new(lab),
        seed,
        record,
    );
    (session, buffer)
}

/// Session time of a second of the live phase.
fn live(session: &Session, s: u64) -> Millis {
    session.scenario().live_start_ms() + s * 1000
}

/// Tick until session time `t_ms` (or the end).
fn run_to(session: &mut Session, t_ms: Millis) {
    session.begin();
    while session.now() < t_ms && session.tick() {}
}

/// Tick until second `s` of the live phase.
fn run_to_live(session: &mut Session, s: u64) {
    let t_ms = live(session, s);
    run_to(session, t_ms);
}

/// Tick to the end; the final score.
fn finish(session: &mut Session) -> ScoreCard {
    while session.tick() {}
    session
        .score()
        .cloned()
        .expect("a finished session is scored")
}

fn points(card: &ScoreCard, key: &str) -> i32 {
    card.component(key).unwrap().points
}

fn mentor_moments(card: &ScoreCard) -> Vec<&str> {
    card.timeline
        .iter()
        .filter(|m| m.kind == MomentKind::Mentor)
        .map(|m| m.text.as_str())
        .collect()
}

/// The effects of the given steps, with when they were issued.
fn effects_of<'a>(lines: &'a [RecordLine], steps: &[&str]) -> Vec<(Millis, &'a Effect)> {
    lines
        .iter()
        .filter_map(|l| match l {
            RecordLine::Effect { t_ms, effect } => match &effect.origin {
                Origin::Attack { step } if steps.contains(&step.as_str()) => Some((*t_ms, effect)),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

#[test]
fn an_inject_fired_live_acts_after_the_firing_and_raises_a_true_alert_the_trainee_sees() {
    let (mut s, _) = session(STOLEN, 1);
    let fired_at = live(&s, 200);
    run_to(&mut s, fired_at);
    s.inject("new-source", "ana").unwrap();
    assert_eq!(s.injects_fired(), ["new-source"]);
    let card = finish(&mut s);
    let lines = s.record_lines();
    let steps = ["new-source-login", "new-source-scrape"];
    let effects = effects_of(lines, &steps);
    // A login, then a scrape every 10 s from 10 s to 120 s after the firing.
    assert_eq!(effects.len(), 13, "{effects:?}");
    assert!(effects.iter().all(|(t, _)| *t >= fired_at), "{effects:?}");
    let outcomes = lines
        .iter()
        .filter(|l| {
            matches!(l, RecordLine::Outcome(o) if effects.iter().any(|(_, e)| e.id == o.effect))
        })
        .count();
    assert_eq!(
        outcomes,
        effects.len(),
        "every injected attempt has its outcome"
    );
    // The detector flags the phished account's new address, and the trainee sees it.
    let seen = s
        .alerts()
        .iter()
        .find(|a| {
            a.alert.t_ms >= fired_at && a.alert.related.contains(&EntityRef::Source(new_source(&s)))
        })
        .expect("an alert on the new source reaches the trainee");
    let truths = alert_truths(s.scenario(), s.topology(), lines);
    assert_eq!(truths[&seen.alert.id], Truth::Attack);
    assert!(
        mentor_moments(&card)
            .contains(&"mentor ana fired inject 'new-source': Attacker switches to a new source"),
        "{:?}",
        card.timeline
    );
    assert!(
        card.timeline
            .iter()
            .any(|m| m.kind == MomentKind::AttackStep && m.text.starts_with("new-source-login:")),
        "the injected steps are on the debrief's attack lane"
    );
    assert!(card.facts.injects_fired == ["new-source"]);
}

#[test]
fn an_inject_fires_once_and_only_in_the_live_phase() {
    let (mut s, _) = session(STOLEN, 2);
    let why = s.inject("new-source", "ana").unwrap_err().0;
    assert!(
        why.contains("only in the live phase") && why.contains("briefing"),
        "{why}"
    );
    run_to(&mut s, 1000);
    assert_eq!(s.phase(), Phase::Warmup);
    assert!(
        s.inject("new-source", "ana").is_err(),
        "the warm-up is not live"
    );
    run_to_live(&mut s, 10);
    let why = s.inject("nope", "ana").unwrap_err().0;
    assert!(
        why.contains("no inject \"nope\"") && why.contains("new-source"),
        "{why}"
    );
    s.inject("new-source", "ana").unwrap();
    let why = s.inject("new-source", "ana").unwrap_err().0;
    assert!(why.contains("already fired"), "{why}");
    let fired = s
        .record_lines()
        .iter()
        .filter(|l| {
            matches!(
                l,
                RecordLine::Mentor {
                    act: MentorAct::Inject { .. },
                    ..
                }
            )
        })
        .count();
    assert_eq!(fired, 1, "refused acts are not recorded");
    let card = finish(&mut s);
    assert!(s.inject("new-source", "ana").is_err(), "not after the end");
    assert_eq!(card.facts.injects_fired, ["new-source"]);
}

#[test]
fn a_whisper_that_costs_5_takes_5_from_hints_and_is_a_moment() {
    let (mut plain, _) = session(STOLEN, 3);
    run_to_live(&mut plain, 20);
    let plain = finish(&mut plain);
    let (mut s, _) = session(STOLEN, 3);
    s.whisper("  welcome, take your time  ".into(), 0, "ana");
    run_to_live(&mut s, 20);
    s.whisper("Look at where Alice logs in from.".into(), 5, "ana");
    s.whisper("   ".into(), 9, "ana");
    assert_eq!(s.whispers().len(), 2, "an empty whisper is dropped");
    assert_eq!(s.whispers()[0].text, "welcome, take your time");
    s.whisper("é".repeat(900), 0, "ana");
    assert_eq!(
        s.whispers()[2].text.chars().count(),
        500,
        "cut at 500 characters"
    );
    let card = finish(&mut s);
    assert_eq!(points(&plain, "hints"), 0);
    assert_eq!(points(&card, "hints"), -5, "{:#?}", card.component("hints"));
    let hints = card.component("hints").unwrap();
    assert!(
        hints
            .lines
            .iter()
            .any(|l| l.points == -5 && l.text.contains("mentor's whisper"))
    );
    let moments = mentor_moments(&card);
    assert!(
        moments.contains(&"mentor ana whispered: Look at where Alice logs in from. (costs 5)"),
        "{moments:?}"
    );
    assert!(
        moments.contains(&"mentor ana whispered: welcome, take your time"),
        "{moments:?}"
    );
    s.whisper("too late".into(), 0, "ana");
    assert_eq!(s.whispers().len(), 3, "no whisper once the session is over");
}

#[test]
fn a_hint_revealed_by_the_mentor_costs_what_the_trainees_own_costs() {
    let (mut asked, _) = session(STOLEN, 4);
    run_to_live(&mut asked, 20);
    asked.submit(Command::Hint).unwrap();
    let (mut revealed, _) = session(STOLEN, 4);
    run_to_live(&mut revealed, 20);
    let hint = revealed.reveal_hint("ana").unwrap();
    assert_eq!(revealed.hints(), asked.hints());
    assert_eq!(hint, asked.hints()[0]);
    assert_eq!(revealed.hints_left(), asked.hints_left());
    let (a, r) = (finish(&mut asked), finish(&mut revealed));
    assert_eq!(points(&a, "hints"), points(&r, "hints"));
    assert_eq!(points(&r, "hints"), -(hint.cost as i32));
    let lines = &r.component("hints").unwrap().lines;
    assert!(
        lines
            .iter()
            .any(|l| l.text.contains("revealed by the mentor")),
        "{lines:?}"
    );
    assert!(
        mentor_moments(&r)
            .iter()
            .any(|m| m.starts_with("mentor ana revealed hint 1"))
    );
    assert!(revealed.reveal_hint("ana").is_err(), "not after the end");
}

#[test]
fn the_mentor_runs_out_of_hints_as_the_trainee_does() {
    let (mut s, _) = session(STOLEN, 4);
    run_to_live(&mut s, 5);
    let n = s.scenario().hints.len();
    for _ in 0..n {
        s.reveal_hint("").unwrap();
    }
    assert_eq!(s.reveal_hint("").unwrap_err().0, "no hints left");
    assert!(s.submit(Command::Hint).is_err());
}

/// When the record says the session went into its debrief.
fn debrief_at(lines: &[RecordLine]) -> Option<Millis> {
    lines.iter().find_map(|l| match l {
        RecordLine::Phase {
            t_ms,
            phase: Phase::Debrief,
        } => Some(*t_ms),
        _ => None,
    })
}

#[test]
fn extending_the_live_phase_by_60_s_ends_the_session_60_s_later() {
    let (mut plain, _) = session(STOLEN, 5);
    let plain_card = finish(&mut plain);
    let planned = plain.total_ms();
    assert_eq!(debrief_at(plain.record_lines()), Some(planned));
    let (mut s, _) = session(STOLEN, 5);
    assert!(s.extend_live(60, "fay").is_err(), "not in the briefing");
    run_to_live(&mut s, 10);
    assert!(s.extend_live(0, "fay").is_err());
    assert!(s.extend_live(3601, "fay").is_err());
    s.extend_live(60, "fay").unwrap();
    assert_eq!(s.total_ms(), planned + 60_000);
    let card = finish(&mut s);
    assert_eq!(debrief_at(s.record_lines()), Some(planned + 60_000));
    assert_eq!(card.facts.live_end_ms, planned + 60_000);
    assert_eq!(plain_card.facts.live_end_ms, planned);
    assert_eq!(card.facts.extended_s, 60);
    assert!(
        mentor_moments(&card).contains(&"facilitator fay extended the live phase by 60 s"),
        "{:?}",
        card.timeline
    );
    assert!(s.extend_live(60, "fay").is_err(), "not after the end");
}

#[test]
fn a_record_with_every_mentor_act_rescores_to_the_live_card() {
    for (id, inject) in [
        (STOLEN, "new-source"),
        ("resource-exhaustion", "flood-moves"),
        ("insider-access", "gateway-shell"),
    ] {
        let (mut s, buffer) = session(id, 6);
        let mut bot = Bot::default();
        s.begin();
        s.whisper("Watch the warm-up closely.".into(), 0, "ana");
        s.extend_live(30, "fay").unwrap();
        loop {
            s.consult(&mut bot);
            if s.now() == live(&s, 60) {
                s.whisper("Who else logs in?".into(), 5, "ana");
                s.reveal_hint("ana").unwrap();
            }
            if s.now() == live(&s, 210) {
                s.inject(inject, "ana").unwrap();
            }
            if !s.tick() {
                break;
            }
        }
        let live_card = s.score().cloned().unwrap();
        assert_eq!(
            mentor_moments(&live_card).len(),
            5,
            "{id}: {:?}",
            live_card.timeline
        );
        drop(s);
        let bytes = buffer.bytes();
        let record = Record::from_reader(std::io::Cursor::new(bytes), id).unwrap();
        let again = score(&record.scenario, &record.topology, &record.lines, None);
        assert_eq!(again, live_card, "{id}: the record rescores differently");
    }
}

#[test]
fn alerts_on_an_injected_attack_are_true_alerts_the_bot_is_credited_for() {
    let (mut s, _) = session(STOLEN, 7);
    let mut bot = Bot::default();
    s.begin();
    loop {
        s.consult(&mut bot);
        if s.now() == live(&s, 200) {
            s.inject("new-source", "ana").unwrap();
        }
        if !s.tick() {
            break;
        }
    }
    let card = s.score().cloned().unwrap();
    // The bot revoked the phished account long before: the new source's attempts fail because of it.
    let injected = effects_of(s.record_lines(), &["new-source-login", "new-source-scrape"]);
    assert!(!injected.is_empty());
    assert_eq!(
        points(&card, "precision"),
        100,
        "{:#?}",
        card.component("precision")
    );
    // Naming or blocking the new source is not touching an innocent.
    let involved = bulkhead_engine::score::involved_in_attack_with(
        s.scenario(),
        s.topology(),
        &card.facts.injects_fired,
    );
    assert!(involved.contains(&EntityRef::Source(new_source(&s))));
}
