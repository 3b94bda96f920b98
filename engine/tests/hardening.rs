//! The hardening phase on the simulated lab: what the trainee may do in it, what a fix changes
//! (the audit, the attack steps that needed the weakness) and how the card scores it, against
//! defenders that fix the real findings, none, or the risks the business accepted.

use std::path::PathBuf;
use std::sync::Arc;

use bulkhead_engine::action::{Cause, Command, EffectKind, Mitigation, Origin, Verdict};
use bulkhead_engine::defender::{Bot, FixThenBot, Idle};
use bulkhead_engine::format::{self, Loaded};
use bulkhead_engine::observation::EntityRef;
use bulkhead_engine::posture::{WeaknessKind, WeaknessRef};
use bulkhead_engine::replay::Replay;
use bulkhead_engine::{
    Defender, MemoryRecord, Phase, Record, RecordLine, ScoreCard, Session, SimLab,
};

const SCENARIO: &str = "lateral-movement";

fn load() -> Loaded {
    load_of(SCENARIO)
}

fn load_of(id: &str) -> Loaded {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    format::load_scenario(&root.join(format!("scenarios/{id}.ron")), &root)
        .unwrap_or_else(|e| panic!("{id} does not load: {e}"))
}

fn session(seed: u64) -> (Session, MemoryRecord) {
    session_of(SCENARIO, seed)
}

fn session_of(id: &str, seed: u64) -> (Session, MemoryRecord) {
    let loaded = load_of(id);
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

fn play(seed: u64, defender: &mut dyn Defender) -> (ScoreCard, Arc<Record>) {
    play_of(SCENARIO, seed, defender)
}

fn play_of(id: &str, seed: u64, defender: &mut dyn Defender) -> (ScoreCard, Arc<Record>) {
    let (mut session, memory) = session_of(id, seed);
    let card = session.run(defender, |_| {});
    drop(session);
    let record = Record::from_reader(&memory.bytes()[..], "memory").expect("it reads back");
    (card, Arc::new(record))
}

fn fix(service: &str, weakness: WeaknessKind) -> Command {
    Command::Mitigate(Mitigation::Fix {
        service: service.into(),
        weakness,
    })
}

/// The scenario's weaknesses, real (not accepted by the business) or accepted.
fn weaknesses(accepted: bool) -> Vec<WeaknessRef> {
    weaknesses_of(SCENARIO, accepted)
}

fn weaknesses_of(id: &str, accepted: bool) -> Vec<WeaknessRef> {
    let scenario = load_of(id).scenario;
    (scenario.weaknesses.iter())
        .map(|w| w.of())
        .filter(|w| scenario.accepted_risk(w).is_some() == accepted)
        .collect()
}

/// Fixes these 20 s into the hardening phase, then plays the live phase as the bot does.
fn fix_then_bot(id: &str, fixes: &[WeaknessRef]) -> FixThenBot {
    FixThenBot::new(&load_of(id).scenario, fixes, 20.0)
}

fn points(card: &ScoreCard, key: &str) -> i32 {
    card.component(key).map_or(0, |c| c.points)
}

fn text(card: &ScoreCard, key: &str) -> String {
    let lines = card
        .component(key)
        .map(|c| c.lines.clone())
        .unwrap_or_default();
    lines
        .iter()
        .map(|l| format!("{:+} {}\n", l.points, l.text))
        .collect()
}

/// The three defenders of a scenario with a hardening phase, each the bot live: one that fixes
/// every real finding, one that fixes none, one that "fixes" the accepted risks; their cards,
/// asserted to score in that order.
fn three_defenders(id: &str, seed: u64) -> (ScoreCard, ScoreCard, ScoreCard) {
    let defender = |fixes: &[WeaknessRef]| play_of(id, seed, &mut fix_then_bot(id, fixes)).0;
    let real = defender(&weaknesses_of(id, false));
    let none = defender(&[]);
    let accepted = defender(&weaknesses_of(id, true));
    eprintln!(
        "{id} seed {seed}: real {} / none {} / accepted {}",
        real.total, none.total, accepted.total
    );
    assert!(
        real.total > none.total && none.total > accepted.total,
        "{id} seed {seed}: real {} / none {} / accepted {}",
        real.total,
        none.total,
        accepted.total
    );
    // "Fixing" what the business needs broke it for real: its attempts failed on each such
    // fix, the card says how many, and collateral counts them as the trainee's doing.
    let why = text(&accepted, "accepted_risks");
    for risk in weaknesses_of(id, true) {
        let line = (why.lines())
            .find(|l| l.contains(&format!("{risk}: \"fixed\"")))
            .unwrap_or_default();
        assert!(
            line.contains("of the business's attempts failed on it"),
            "{id} seed {seed}: {why}"
        );
    }
    assert!(
        accepted.facts.benign_failures_caused > none.facts.benign_failures_caused,
        "{id} seed {seed}: {} broken against {}",
        accepted.facts.benign_failures_caused,
        none.facts.benign_failures_caused
    );
    (real, none, accepted)
}

#[test]
fn fixing_what_matters_beats_fixing_nothing_which_beats_breaking_the_accepted_risks() {
    for seed in [1, 2] {
        let (real, none, accepted) = three_defenders(SCENARIO, seed);
        // The card says why: posture earned for each real fix, a cost for each accepted one.
        assert_eq!(points(&real, "posture"), 200, "{}", text(&real, "posture"));
        assert_eq!(real.facts.weaknesses_fixed, 4);
        assert!(text(&real, "posture").contains("steal tried it"));
        assert_eq!(points(&none, "posture"), 0, "{}", text(&none, "posture"));
        assert!(
            text(&none, "posture")
                .contains("invoice-worker: secret in an environment variable: left as it was")
        );
        assert_eq!(points(&accepted, "accepted_risks"), -100);
        assert_eq!(accepted.facts.accepted_risks_fixed, 2);
        let why = text(&accepted, "accepted_risks");
        assert!(
            why.contains("but the business accepted it") && why.contains("invoices stop rendering"),
            "{why}"
        );
        // Fixing before the attack also contained the step that needed the secret.
        assert!(real.facts.contained_ms["steal"].is_some());
    }
}

/// baked-secret: the secret in tenant B's image is what the intruder's login, scrape and
/// persist need; a management endpoint left on and the shop's factory admin password its
/// first look around. Fixed, the card
/// credits both and counts the secret's as containment; left, the live phase must do it.
#[test]
fn a_secret_baked_into_an_image_fixed_before_the_attack_contains_it_and_breaking_the_accepted_risk_costs()
 {
    for seed in [1, 2] {
        let (real, none, accepted) = three_defenders("baked-secret", seed);
        assert_eq!(points(&real, "posture"), 200, "{}", text(&real, "posture"));
        // Five shares of 200 in sevenths, in whole points that add up with no ceiling line.
        assert!(
            !text(&real, "posture").contains("ceiling"),
            "{}",
            text(&real, "posture")
        );
        assert!(
            text(&real, "posture").contains(
                "tenant-b: secret baked into an image layer: fixed in the hardening phase; the attack's login, scrape, persist tried it"
            ),
            "{}",
            text(&real, "posture")
        );
        assert!(
            text(&real, "posture").contains(
                "web: account with a default password: fixed in the hardening phase; the attack's factory-login, list-accounts tried it"
            ),
            "{}",
            text(&real, "posture")
        );
        assert!(
            text(&none, "posture").contains("web: account with a default password: left as it was")
        );
        assert!(
            text(&real, "posture").contains(
                "web: management endpoint left on: fixed in the hardening phase; the attack's config-dump tried it once and the fix held"
            ),
            "{}",
            text(&real, "posture")
        );
        let contained = text(&real, "containment");
        assert!(
            contained.contains("by: fix tenant-b: secret baked into an image layer"),
            "{contained}"
        );
        assert!(
            text(&none, "posture")
                .contains("tenant-b: secret baked into an image layer: left as it was")
        );
        // Left in place, the token worked: the live phase had to contain it.
        assert!(none.facts.contained_ms["scrape"].is_some());
        assert_eq!(points(&accepted, "accepted_risks"), -50);
        assert!(text(&accepted, "accepted_risks").contains("new orders are lost"));
        // socat was worth removing, at a price the scenario names: tenant B's weekly sync,
        // which runs it, failed on the fix; the card says so, and collateral counts it.
        assert!(
            text(&real, "posture").contains(
                "tenant-b: unneeded tool in the image: fixed in the hardening phase; what it cost: tenant B's weekly sync, which pipes its export through socat, fails until the contractor gives it a proper client (1 of the business's attempts failed on it)"
            ),
            "{}",
            text(&real, "posture")
        );
        assert!(real.facts.benign_failures_caused >= 1);
        assert!(!text(&none, "posture").contains("what it cost"));
    }
}

/// supply-chain: every step of the attack runs through the vendor's updater. Removed before the
/// attack, it prevents all of it: nothing reaches the lab, and the card credits detection and
/// attribution for what there was no longer anything to detect or name. Left in place, the
/// miner runs and the live phase must find and contain it.
#[test]
fn an_unverified_script_removed_before_the_attack_prevents_it_and_the_card_credits_that() {
    for seed in [1, 2] {
        let (real, none, accepted) = three_defenders("supply-chain", seed);
        assert!(real.facts.prevented, "{real:#?}");
        assert_eq!(real.facts.attack_successes, 0);
        let detection = text(&real, "detection");
        assert!(
            detection.contains("nothing to detect: every one of the attack's")
                && detection.contains("failed on your fix (fix invoice-worker: unverified third-party script in the image)"),
            "{detection}"
        );
        assert_eq!(points(&real, "detection"), 200, "{detection}");
        assert_eq!(points(&real, "attribution"), 80);
        assert!(real.badges.iter().any(|b| b.id == "forestalled"));
        assert!(
            text(&real, "posture").contains(
                "invoice-worker: unverified third-party script in the image: fixed in the hardening phase; the attack's mine, beacon tried it"
            ),
            "{}",
            text(&real, "posture")
        );
        assert!(text(&real, "containment").contains("by: fix invoice-worker"));
        // Left in place, the miner ran: the live phase detected and contained it.
        assert!(!none.facts.prevented);
        assert!(
            none.facts.detected_ms.is_some(),
            "{}",
            text(&none, "detection")
        );
        assert!(
            none.facts.contained_ms["mine"].is_some(),
            "{}",
            text(&none, "containment")
        );
        assert!(!accepted.facts.prevented);
        assert_eq!(points(&accepted, "accepted_risks"), -50);
        assert!(text(&accepted, "accepted_risks").contains("month-end close stalls"));
    }
}

#[test]
fn the_bot_fixes_the_real_findings_and_leaves_the_accepted_risks() {
    let (card, record) = play(1, &mut Bot::default());
    assert!(card.total >= 800, "{card:#?}");
    assert_eq!(points(&card, "posture"), 200, "{}", text(&card, "posture"));
    assert_eq!(points(&card, "accepted_risks"), 0);
    // The audits: all six weaknesses at the start, only the accepted ones at the warm-up.
    let audits: Vec<_> = (record.lines.iter())
        .filter_map(|l| match l {
            RecordLine::Posture { t_ms, findings } => Some((*t_ms, findings.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(audits[0].0, 0);
    assert_eq!(audits[0].1.len(), 6, "{:?}", audits[0].1);
    let warmup_at = load().scenario.hardening_ms();
    let last = audits.iter().rev().find(|(t, _)| *t <= warmup_at).unwrap();
    let left: Vec<_> = last.1.iter().map(|f| f.of()).collect();
    assert_eq!(left, weaknesses(true), "{last:?}");
    // An audit after each confirmed fix, and one at the end of the phase.
    assert_eq!(audits.len(), 1 + 4 + 1, "{audits:?}");
}

#[test]
fn a_step_that_needs_a_fixed_weakness_fails_without_reaching_the_lab_and_the_record_says_why() {
    let secret = WeaknessRef {
        service: "invoice-worker".into(),
        weakness: WeaknessKind::SecretInEnv,
    };
    let (_, record) = play(
        1,
        &mut fix_then_bot(SCENARIO, std::slice::from_ref(&secret)),
    );
    let steal: Vec<u64> = (record.lines.iter())
        .filter_map(|l| match l {
            RecordLine::Effect { effect, .. }
                if effect.origin
                    == Origin::Attack {
                        step: "steal".into(),
                    } =>
            {
                Some(effect.id)
            }
            _ => None,
        })
        .collect();
    assert!(steal.len() > 10, "steal repeats: {steal:?}");
    for id in &steal {
        let outcome = (record.lines.iter())
            .find_map(|l| match l {
                RecordLine::Outcome(o) if o.effect == *id => Some(o),
                _ => None,
            })
            .expect("every attempt has an outcome");
        assert!(!outcome.ok);
        assert_eq!(
            outcome.cause,
            Some(Cause::Fixed {
                service: "invoice-worker".into(),
                weakness: WeaknessKind::SecretInEnv
            })
        );
        assert!(
            outcome.detail.contains("which the trainee fixed"),
            "{outcome:?}"
        );
    }
    // The scan needed raw sockets, which were not fixed: it reached the lab.
    let scan_effect = (record.lines.iter())
        .find_map(|l| match l {
            RecordLine::Effect { effect, .. }
                if effect.origin
                    == Origin::Attack {
                        step: "scan".into(),
                    } =>
            {
                Some(effect.id)
            }
            _ => None,
        })
        .unwrap();
    let scan = (record.lines.iter()).find_map(|l| match l {
        RecordLine::Outcome(o) if o.effect == scan_effect => Some(o),
        _ => None,
    });
    assert!(scan.is_some_and(|o| !matches!(o.cause, Some(Cause::Fixed { .. }))));
}

#[test]
fn the_hardening_phase_takes_fixes_only_of_what_the_audit_found_and_each_once() {
    let (mut s, _) = session(1);
    s.begin();
    assert_eq!(s.phase(), Phase::Hardening);
    assert_eq!(s.findings().len(), 6);
    let refused = |s: &mut Session, c: Command| s.submit(c).expect_err("refused").0;
    let why = refused(
        &mut s,
        Command::Triage {
            alert: 1.into(),
            verdict: Verdict::Incident,
        },
    );
    assert!(why.contains("takes fixes only"), "{why}");
    let why = refused(
        &mut s,
        Command::Mitigate(Mitigation::Isolate {
            service: "invoice-worker".into(),
        }),
    );
    assert!(why.contains("takes fixes only"), "{why}");
    let why = refused(&mut s, fix("ledger-db", WeaknessKind::RunsAsRoot));
    assert!(
        why.contains("found no \"runs as root\" on ledger-db"),
        "{why}"
    );
    s.submit(fix("invoice-worker", WeaknessKind::RunsAsRoot))
        .expect("a finding may be fixed");
    let why = refused(&mut s, fix("invoice-worker", WeaknessKind::RunsAsRoot));
    assert!(why.contains("already being fixed"), "{why}");
    // Confirmed, the fix leaves the next audit without the finding: nothing left to fix.
    while s.findings().len() == 6 {
        s.tick();
    }
    assert!(
        s.submit(fix("invoice-worker", WeaknessKind::RunsAsRoot))
            .is_err()
    );
    // The warm-up takes nothing; the live phase takes fixes with everything else.
    while s.phase() == Phase::Hardening {
        s.tick();
    }
    let why = refused(&mut s, fix("invoice-worker", WeaknessKind::SecretInEnv));
    assert!(why.contains("warm-up phase takes no commands"), "{why}");
    while s.phase() != Phase::Live {
        s.tick();
    }
    s.submit(fix("invoice-worker", WeaknessKind::SecretInEnv))
        .expect("a live fix is taken");
    s.submit(Command::Attribute {
        entity: EntityRef::Service("invoice-worker".into()),
    })
    .expect("and so is the rest");
}

#[test]
fn a_fix_the_lab_confirms_has_its_result_and_is_no_accusation_of_the_service() {
    let (card, record) = play(1, &mut fix_then_bot(SCENARIO, &weaknesses(false)));
    let fixes: Vec<_> = (record.lines.iter())
        .filter_map(|l| match l {
            RecordLine::Effect { effect, .. } => match &effect.kind {
                EffectKind::Mitigate(m @ Mitigation::Fix { .. }) => Some((effect.id, m.clone())),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert_eq!(fixes.len(), 4);
    for (id, m) in &fixes {
        let confirmed = (record.lines.iter()).find_map(|l| match l {
            RecordLine::Outcome(o) if o.effect == *id => Some(o.clone()),
            _ => None,
        });
        let o = confirmed.unwrap_or_else(|| panic!("{m:?} has no outcome"));
        assert!(
            o.ok && o.detail.contains("a fresh audit no longer finds it"),
            "{o:?}"
        );
    }
    // No fix is held against the trainee as restricting an innocent service.
    assert_eq!(
        card.facts.innocents_mitigated,
        0,
        "{}",
        text(&card, "precision")
    );
}

#[test]
fn a_hardening_record_replays_as_it_was_played() {
    let (_, record) = play(2, &mut Bot::default());
    Replay::check(record.clone()).expect("the replay does what the session did");
    let mut replay = Replay::new(record);
    replay.seek(load().scenario.hardening_ms() + 1000, &mut Vec::new());
    assert_eq!(
        replay.session().findings().len(),
        2,
        "only the accepted risks are left"
    );
}

#[test]
fn an_idle_trainee_fixes_nothing_and_earns_no_posture() {
    let (card, _) = play(3, &mut Idle);
    assert_eq!(points(&card, "posture"), 0);
    assert_eq!(card.facts.weaknesses_fixed, 0);
    assert!(card.total <= 150, "{}", card.total);
}
