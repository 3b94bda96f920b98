//! Every scenario of the repository, played on the simulated lab by the built-in defenders and
//! by defenders that make the classic mistakes: the score must tell them apart.

use std::path::PathBuf;

use bulkhead_engine::action::{Command, Mitigation, Verdict};
use bulkhead_engine::defender::{Bot, Idle};
use bulkhead_engine::format::scenario::Step;
use bulkhead_engine::format::{self, Loaded};
use bulkhead_engine::observation::EntityRef;
use bulkhead_engine::record::Record;
use bulkhead_engine::score::{Truth, alert_truths};
use bulkhead_engine::{Defender, DefenderView, MemoryRecord, ScoreCard, Session, SimLab, score};

const SCENARIOS: [&str; 7] = [
    "stolen-credentials",
    "resource-exhaustion",
    "insider-access",
    "poisoned-pdf",
    "lateral-movement",
    "baked-secret",
    "supply-chain",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn load(id: &str) -> Loaded {
    let root = root();
    format::load_scenario(&root.join(format!("scenarios/{id}.ron")), &root)
        .unwrap_or_else(|e| panic!("{id} does not load: {e}"))
}

fn play(id: &str, seed: u64, defender: &mut dyn Defender) -> (ScoreCard, Vec<u8>) {
    let loaded = load(id);
    let lab = SimLab::new(loaded.topology.clone(), &loaded.scenario, seed);
    let buffer = MemoryRecord::default();
    let record = buffer.writer();
    let mut session = Session::new(
        loaded.scenario.clone(),
        loaded.topology.clone(),
        Box::new(lab),
        seed,
        record,
    );
    let card = session.run(defender, |_| {});
    drop(session);
    let bytes = buffer.bytes();
    (card, bytes)
}

/// The account the intruder logs in as in a variant of stolen-credentials.
fn phished(variant: &Loaded) -> String {
    let login = variant.scenario.attack.iter().find(|s| s.id == "login");
    match &login.expect("stolen-credentials logs in").action {
        bulkhead_engine::Action::Login { identity, .. } => identity.clone(),
        other => panic!("the first step is a login, not {other:?}"),
    }
}

fn points(card: &ScoreCard, key: &str) -> i32 {
    card.components
        .iter()
        .find(|c| c.key == key)
        .map(|c| c.points)
        .unwrap()
}

#[test]
fn every_data_file_of_the_repository_loads() {
    let root = root();
    let topologies = format::ron_files(&root.join("labs/topologies"));
    assert!(!topologies.is_empty());
    for t in topologies {
        format::load_topology(&t).unwrap_or_else(|e| panic!("{}: {e}", t.display()));
    }
    let all = format::load_all(&root);
    assert_eq!(
        all.len(),
        SCENARIOS.len(),
        "a scenario file was added or removed: update SCENARIOS"
    );
    for (path, result) in all {
        let loaded = result.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(SCENARIOS.contains(&loaded.scenario.id.as_str()));
        assert!(!loaded.scenario.decoys.is_empty() && !loaded.scenario.hints.is_empty());
    }
}

#[test]
fn the_bot_detects_contains_and_scores_at_least_800() {
    for id in SCENARIOS {
        for seed in [1, 2, 3] {
            let (card, _) = play(id, seed, &mut Bot::default());
            assert!(
                card.total >= 800,
                "{id} seed {seed}: bot scored {}\n{card:#?}",
                card.total
            );
            // Or prevented it: the bot fixes what the hardening audit finds, and in
            // supply-chain that leaves the attack nothing to run on.
            assert!(
                card.facts.detected_ms.is_some() || card.facts.prevented,
                "{id}: bot did not detect"
            );
            assert!(
                card.facts.contained_ms.values().all(Option::is_some),
                "{id}: bot did not contain: {:?}",
                card.facts.contained_ms
            );
            let precision = card.component("precision").unwrap();
            assert_eq!(
                precision.points, precision.max as i32,
                "{id} seed {seed}: the bot was fooled\n{:#?}",
                card.components
            );
        }
    }
}

#[test]
fn idle_scores_at_most_150_and_earns_no_badge() {
    for id in SCENARIOS {
        for seed in [1, 2] {
            let (card, _) = play(id, seed, &mut Idle);
            assert!(
                card.total <= 150,
                "{id}: idle scored {}\n{card:#?}",
                card.total
            );
            for key in [
                "detection",
                "containment",
                "collateral",
                "attribution",
                "precision",
            ] {
                assert_eq!(points(&card, key), 0, "{id}: idle earned {key}");
            }
            assert!(
                card.badges.is_empty(),
                "{id}: idle earned {:?}",
                card.badges
            );
            assert!(card.facts.records_lost <= card.facts.records_at_risk);
        }
    }
}

/// Stops the web tier as its only answer to anything.
struct StopsWeb(bool);

impl Defender for StopsWeb {
    fn decide(&mut self, view: &DefenderView<'_>) -> Vec<Command> {
        if self.0 || view.live_s(view.now) < 35.0 {
            return vec![];
        }
        self.0 = true;
        vec![Command::Mitigate(Mitigation::Stop {
            service: "web".into(),
        })]
    }
}

#[test]
fn stopping_the_web_service_costs_collateral() {
    for id in SCENARIOS {
        let (bot, _) = play(id, 1, &mut Bot::default());
        let (stop, _) = play(id, 1, &mut StopsWeb(false));
        assert!(
            points(&stop, "collateral") < 50
                && points(&stop, "collateral") < points(&bot, "collateral"),
            "{id}: stopping web kept {} collateral points",
            points(&stop, "collateral")
        );
        assert!(
            points(&stop, "precision") < 100,
            "{id}: stopping an uninvolved service went unpunished"
        );
    }
}

/// The bot, except that it dismisses every alert as benign, and fixes nothing in a hardening
/// phase: a fix may prevent the attack, and leave no alert of it to dismiss.
struct Dismisses(Bot);

impl Defender for Dismisses {
    fn decide(&mut self, view: &DefenderView<'_>) -> Vec<Command> {
        self.0
            .decide(view)
            .into_iter()
            .filter_map(|c| match c {
                Command::Triage { alert, .. } => Some(Command::Triage {
                    alert,
                    verdict: Verdict::Benign,
                }),
                Command::Mitigate(Mitigation::Fix { .. }) => None,
                other => Some(other),
            })
            .collect()
    }
}

#[test]
fn dismissing_the_true_alert_earns_no_detection_points() {
    for id in SCENARIOS {
        let (card, _) = play(id, 1, &mut Dismisses(Bot::default()));
        assert_eq!(points(&card, "detection"), 0, "{id}");
        assert!(
            points(&card, "precision") < 100,
            "{id}: dismissing the attack cost no precision"
        );
    }
}

/// The bot, plus a mitigation against the decoy's first entity when the decoy starts. The
/// test hands it the decoy: no defender can read it from its view.
struct HitsDecoy(Bot, bool, Step);

impl Defender for HitsDecoy {
    fn decide(&mut self, view: &DefenderView<'_>) -> Vec<Command> {
        let mut out = self.0.decide(view);
        let decoy = &self.2;
        if !self.1 && view.live_s(view.now) > f64::from(decoy.at_s) + 2.0 {
            self.1 = true;
            let m = match decoy.action.entities().remove(0) {
                EntityRef::Source(source) => Mitigation::Block { source },
                EntityRef::Identity(identity) => Mitigation::Revoke { identity },
                EntityRef::Service(service) => Mitigation::Pause { service },
                EntityRef::Zone(zone) => panic!("no decoy acts as a whole zone ({zone})"),
            };
            out.push(Command::Mitigate(m));
        }
        out
    }
}

#[test]
fn mitigating_the_decoy_costs_precision() {
    for id in SCENARIOS {
        let (bot, _) = play(id, 1, &mut Bot::default());
        let (hit, _) = play(
            id,
            1,
            &mut HitsDecoy(Bot::default(), false, load(id).scenario.decoys[0].clone()),
        );
        assert!(
            points(&hit, "precision") < points(&bot, "precision"),
            "{id}"
        );
        assert!(hit.total < bot.total, "{id}");
    }
}

#[test]
fn same_seed_gives_a_byte_identical_record_that_rescores_the_same() {
    for id in SCENARIOS {
        let (card, a) = play(id, 42, &mut Bot::default());
        let (_, b) = play(id, 42, &mut Bot::default());
        assert!(a == b, "{id}: records differ");
        let (_, c) = play(id, 43, &mut Bot::default());
        assert!(a != c, "{id}: the seed changes nothing");
        let record = Record::from_reader(std::io::Cursor::new(a), id).unwrap();
        let again = score(&record.scenario, &record.topology, &record.lines, None);
        assert_eq!(again, card, "{id}: re-scoring the record differs");
    }
}

#[test]
fn the_attack_raises_true_alerts_and_the_decoy_raises_decoy_alerts() {
    for id in SCENARIOS {
        let (_, bytes) = play(id, 5, &mut Idle);
        let record = Record::from_reader(std::io::Cursor::new(bytes), id).unwrap();
        let truths = alert_truths(&record.scenario, &record.topology, &record.lines);
        assert!(
            truths.values().any(|t| *t == Truth::Attack),
            "{id}: the attack went unseen"
        );
        assert!(
            truths.values().any(|t| *t == Truth::Decoy),
            "{id}: the decoy raised no alert, so it teaches nothing"
        );
    }
}

#[test]
fn a_scripted_triage_by_rule_and_entity_resolves_and_an_early_one_is_refused_with_why() {
    use bulkhead_engine::action::AlertRef;
    use bulkhead_engine::defender::{Scripted, TimedCommand};
    let victim = phished(&load("stolen-credentials").variant(1).unwrap());
    let by_match = |at_s: f64| TimedCommand {
        at_s,
        command: Command::Triage {
            alert: AlertRef::Match {
                rule: "novelty.source".into(),
                entity: EntityRef::Identity(victim.clone()),
            },
            verdict: Verdict::Incident,
        },
    };
    // The intruder logs in at live 30 s: at 5 s no such alert exists yet, at 60 s it does.
    let mut script = Scripted::new(vec![by_match(5.0), by_match(60.0)]);
    let (card, bytes) = play("stolen-credentials", 1, &mut script);
    assert_eq!(card.refused.len(), 1, "{:?}", card.refused);
    assert!(
        card.refused[0].why.contains("no alert matches"),
        "{:?}",
        card.refused
    );
    assert!(points(&card, "detection") > 0, "{:#?}", card.components);
    let record = Record::from_reader(std::io::Cursor::new(bytes), "r").unwrap();
    let recorded: Vec<&AlertRef> = record
        .lines
        .iter()
        .filter_map(|l| match l {
            bulkhead_engine::RecordLine::Command {
                command: Command::Triage { alert, .. },
                refused: None,
                ..
            } => Some(alert),
            _ => None,
        })
        .collect();
    assert!(
        matches!(recorded.as_slice(), [AlertRef::Id(_)]),
        "the accepted triage is recorded by number: {recorded:?}"
    );
}

#[test]
fn every_scenario_asks_only_for_involved_entities_to_be_named() {
    for id in SCENARIOS {
        let loaded = load(id);
        let involved =
            bulkhead_engine::score::involved_in_attack(&loaded.scenario, &loaded.topology);
        for e in &loaded.scenario.objectives.attribute {
            assert!(
                involved.contains(e),
                "{id}: {e} is asked for but not involved"
            );
        }
    }
}

#[test]
fn a_seed_always_plays_the_same_variant_and_seeds_spread_over_all_of_them() {
    let loaded = load("insider-access");
    assert!(!loaded.scenario.variants.is_empty());
    let mut outsiders = std::collections::BTreeSet::new();
    let mut starts = std::collections::BTreeSet::new();
    for seed in 0..64 {
        let variant = loaded.variant(seed).unwrap();
        assert_eq!(variant.scenario, loaded.variant(seed).unwrap().scenario);
        assert!(variant.scenario.variants.is_empty(), "a variant is plain");
        assert_eq!(
            variant.variant(seed + 1).unwrap().scenario,
            variant.scenario,
            "resolving a variant again changes nothing"
        );
        let text = serde_json::to_string(&*variant.scenario).unwrap();
        assert!(
            !text.contains("{outsider."),
            "seed {seed}: a placeholder is left: {text}"
        );
        let step = |id: &str| {
            variant
                .scenario
                .attack
                .iter()
                .find(|s| s.id == id)
                .unwrap()
                .clone()
        };
        let bulkhead_engine::Action::ReadData { source, .. } = &step("outsider").action else {
            panic!("the outsider reads data");
        };
        assert!(
            variant
                .scenario
                .objectives
                .attribute
                .contains(&EntityRef::Source(source.clone())),
            "seed {seed}: the objectives name the variant's outsider"
        );
        assert!(
            variant.scenario.debrief.contains(source.as_str()),
            "seed {seed}: the debrief names the variant's outsider"
        );
        let hoard = step("hoard").at_s;
        assert!((40..=50).contains(&hoard), "seed {seed}: {hoard}");
        assert_eq!(
            step("outsider").at_s - hoard,
            110,
            "the attack shifts as a whole"
        );
        outsiders.insert(source.clone());
        starts.insert(hoard);
    }
    assert_eq!(outsiders.len(), 3, "{outsiders:?}");
    assert!(
        starts.len() > 5,
        "the attack's start barely varies: {starts:?}"
    );
}

#[test]
fn stolen_credentials_draws_its_victim_and_intruder_from_the_seed() {
    let loaded = load("stolen-credentials");
    let mut victims = std::collections::BTreeSet::new();
    let mut intruders = std::collections::BTreeSet::new();
    for seed in 0..64 {
        let variant = loaded.variant(seed).unwrap();
        assert_eq!(variant.scenario, loaded.variant(seed).unwrap().scenario);
        let text = serde_json::to_string(&*variant.scenario).unwrap();
        assert!(!text.contains("{victim."), "seed {seed}: {text}");
        assert!(!text.contains("{intruder."), "seed {seed}: {text}");
        let victim = phished(&variant);
        let objectives = &variant.scenario.objectives.attribute;
        assert!(objectives.contains(&EntityRef::Identity(victim.clone())));
        let Some(EntityRef::Source(source)) = objectives.first() else {
            panic!("seed {seed}: the first objective is the intruder's source");
        };
        for step in &variant.scenario.attack {
            assert!(
                format!("{:?}", step.action).contains(source.as_str()),
                "seed {seed}: {} does not come from {source}",
                step.id
            );
        }
        let debrief = &variant.scenario.debrief;
        assert!(debrief.contains(source.as_str()), "seed {seed}: {debrief}");
        let name = variant.topology.identity(&victim).unwrap().name.clone();
        let first_name = name.split(' ').next().unwrap();
        assert!(debrief.contains(first_name), "seed {seed}: {debrief}");
        victims.insert(victim);
        intruders.insert(source.clone());
    }
    assert_eq!(victims.len(), 2, "{victims:?}");
    assert_eq!(intruders.len(), 3, "{intruders:?}");
}

#[test]
fn a_detachment_from_a_zone_the_service_does_not_sit_in_is_refused_with_where_it_sits() {
    use bulkhead_engine::defender::{Scripted, TimedCommand};
    let detach = |at_s: f64, zone: &str| TimedCommand {
        at_s,
        command: Command::Mitigate(bulkhead_engine::Mitigation::Detach {
            service: "web".into(),
            zone: zone.into(),
        }),
    };
    let mut script = Scripted::new(vec![detach(5.0, "tenants"), detach(6.0, "data")]);
    let (card, _) = play("stolen-credentials", 1, &mut script);
    assert_eq!(card.refused.len(), 1, "{:?}", card.refused);
    let why = &card.refused[0].why;
    assert!(
        why.contains("web has no network in tenants: it sits in app, data"),
        "{why}"
    );
}
