//! Whole sessions on real containers (the local Docker engine, never a mock): every scenario
//! with the bot and with nobody defending, at compressed time; the same detections as the
//! simulated lab; and each kind of mitigation taking effect on the real state.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bulkhead_engine::defender::{Bot, FixThenBot, Idle};
use bulkhead_engine::format::topology::Role;
use bulkhead_engine::format::{self, Loaded};
use bulkhead_engine::observation::LifecycleState;
use bulkhead_engine::posture::WeaknessRef;
use bulkhead_engine::record::{LabFault, Record, RecordLine};
use bulkhead_engine::replay::Replay;
use bulkhead_engine::score::{Truth, alert_truths};
use bulkhead_engine::{
    Action, Cause, Defender, EffectKind, EntityRef, Lab, LabOutput, LogEvent, MemoryRecord,
    Mitigation, Observation, ObservationBody, Origin, Outcome, ScoreCard, Session, SimLab,
};
use bulkhead_labs::docker_lab::DockerLab;
use bulkhead_labs::movement::Attempt;
use bulkhead_labs::{LabOptions, Placement};
use common::{Probe, docker_here, docker_out, gateway_blocks, swarm_here};

mod common;

/// Session seconds per wall second: a 10-minute scenario plays in one minute.
const TIME_SCALE: f64 = 10.0;
/// Sessions in which nothing is timed against the lab's slower operations run twice as fast:
/// idle ones (nobody reacts; what they assert, the score's ceiling and the company's traffic
/// unhindered, does not depend on the pace), and the bot's in scenarios without a hardening
/// phase, whose mitigations (a block, a revoke, a cap, an isolation) take the lab tens of
/// milliseconds. A hardening fix that rebuilds an image takes 1 to 2 wall seconds, which at
/// this pace would be up to 40 s of a 60 s budget: those sessions keep `TIME_SCALE`. Measured
/// with `bulkhead run --backend docker --defender bot`, seed 7: resource-exhaustion scored 995
/// at 10 and 987 at 20, stolen-credentials 975 at both. CI time is spent where timing matters.
const FAST_TIME_SCALE: f64 = 20.0;

/// Sessions run one at a time: they share two cores, and a neighbour's load would skew the
/// baselines that each one learns.
static SERIAL: Mutex<()> = Mutex::new(());

fn load(id: &str) -> Loaded {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    format::load_scenario(&root.join(format!("scenarios/{id}.ron")), &root).unwrap()
}

/// The seed of every session here: each seed plays its own variant of a scenario.
const SEED: u64 = 1;

fn play(
    loaded: &Loaded,
    lab: Box<dyn Lab>,
    defender: &mut dyn Defender,
) -> (ScoreCard, Vec<RecordLine>) {
    let (card, record) = play_recorded(loaded, lab, defender);
    (card, record.lines)
}

/// A whole session and its record, written and read back as `bulkhead replay` reads it.
fn play_recorded(
    loaded: &Loaded,
    lab: Box<dyn Lab>,
    defender: &mut dyn Defender,
) -> (ScoreCard, Record) {
    let memory = MemoryRecord::default();
    let mut session = Session::new(
        loaded.scenario.clone(),
        loaded.topology.clone(),
        lab,
        SEED,
        memory.writer(),
    );
    let card = session.run(defender, |_| {});
    drop(session);
    let record = Record::from_reader(&memory.bytes()[..], "docker session").unwrap();
    (card, record)
}

fn docker_lab(loaded: &Loaded, scale: f64) -> Box<dyn Lab> {
    Box::new(docker_lab_of(loaded, scale))
}

/// The lab itself, for a test that needs its containers.
fn docker_lab_of(loaded: &Loaded, scale: f64) -> DockerLab {
    let options = LabOptions {
        time_scale: scale,
        ..LabOptions::default()
    };
    DockerLab::start(
        Arc::clone(&loaded.topology),
        &loaded.scenario,
        &options,
        |_| {},
    )
    .expect("the lab comes up")
}

/// What detected the attack: (rule family, entity) of true alerts about the attack's own
/// entities. Anomalies count as one family: which metric trips first depends on the engine.
fn detections(loaded: &Loaded, lines: &[RecordLine]) -> BTreeSet<(String, EntityRef)> {
    let truths = alert_truths(&loaded.scenario, &loaded.topology, lines);
    let involved: BTreeSet<EntityRef> = loaded
        .scenario
        .attack
        .iter()
        .flat_map(|s| s.action.entities())
        .collect();
    lines
        .iter()
        .filter_map(|l| match l {
            RecordLine::Alert(a)
                if truths.get(&a.id) == Some(&Truth::Attack) && involved.contains(&a.entity) =>
            {
                let family = if a.rule.starts_with("anomaly.") {
                    "anomaly".to_string()
                } else {
                    a.rule.clone()
                };
                Some((family, a.entity.clone()))
            }
            _ => None,
        })
        .collect()
}

fn points(card: &ScoreCard, key: &str) -> i32 {
    card.components
        .iter()
        .find(|c| c.key == key)
        .map(|c| c.points)
        .unwrap()
}

/// What a scenario played on Docker by the bot and by idle left: their cards and records.
struct Played {
    bot: ScoreCard,
    bot_lines: Vec<RecordLine>,
    idle: ScoreCard,
    /// The company's traffic with no mitigation in its way.
    idle_lines: Vec<RecordLine>,
}

/// Plays a scenario on Docker with the bot and idle, or `None` where there is no Docker
/// (skipped visibly).
fn scenario_on_docker(id: &str) -> Option<Played> {
    if !docker_here(id) {
        return None;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // The variant the session plays, as a seat resolves it: the lab starts for it, and which
    // alerts are true is judged against its attacker, not the placeholders it was written with.
    let loaded = load(id).variant(SEED).unwrap();

    let bot_scale = match loaded.scenario.hardening {
        Some(_) => TIME_SCALE,
        None => FAST_TIME_SCALE,
    };
    let (bot, record) = play_recorded(&loaded, docker_lab(&loaded, bot_scale), &mut Bot::default());
    // Replayed, the Docker record shows what the session showed: the same alerts at the same
    // times, each command accepted or refused as it was.
    let record = Arc::new(record);
    assert_eq!(
        Replay::check(record.clone()),
        Ok(()),
        "{id}: the record replays otherwise"
    );
    let lines = record.lines.clone();
    assert!(
        bot.total >= 700,
        "{id}: the bot scored {} on Docker\n{:#?}",
        bot.total,
        bot.components
    );
    // An attack the bot's fixes prevented never reached the lab: nothing to detect there.
    let prevented = bot.facts.prevented;
    assert!(
        bot.facts.detected_ms.is_some() || prevented,
        "{id}: not detected"
    );
    assert!(
        bot.facts.contained_ms.values().all(Option::is_some),
        "{id}: not contained {:?}",
        bot.facts.contained_ms
    );
    real_telemetry(id, &lines, bot_scale);

    let (idle, idle_lines) = play(&loaded, docker_lab(&loaded, FAST_TIME_SCALE), &mut Idle);
    // Parity with the simulated lab. Where the bot prevented the attack, idle's session is
    // compared: there the attack ran unhindered on real containers.
    if prevented {
        detects_as_the_simulated_lab(id, &loaded, &idle_lines, &mut Idle);
    } else {
        detects_as_the_simulated_lab(id, &loaded, &lines, &mut Bot::default());
    }
    eprintln!(
        "{id} on Docker: the bot scored {}, idle {}",
        bot.total, idle.total
    );
    assert!(
        idle.total <= 300,
        "{id}: idle scored {} on Docker",
        idle.total
    );
    assert_eq!(points(&idle, "containment"), 0);
    Some(Played {
        bot,
        bot_lines: lines,
        idle,
        idle_lines,
    })
}

/// The alerts of a Docker session came from real telemetry: labd's logs and its cgroup
/// readings, at the pace labd reads them (`scale`: the session's time scale).
fn real_telemetry(id: &str, lines: &[RecordLine], scale: f64) {
    let observed = lines
        .iter()
        .filter(|l| matches!(l, RecordLine::Observation(_)))
        .count();
    let metrics = lines
        .iter()
        .filter(|l| {
            matches!(
                l,
                RecordLine::Observation(Observation {
                    body: ObservationBody::Metrics(_),
                    ..
                })
            )
        })
        .count();
    assert!(
        observed > 500 && metrics > 100,
        "{id}: {observed} observations, {metrics} metrics"
    );
    // labd's readings of the company's containers feed the detector: some come one reading
    // interval (250 ms) apart when use moved, which Docker's once-a-second stats never do, and
    // use that did not move is written about once a second, not at every reading.
    let mut readings: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for line in lines {
        if let RecordLine::Observation(Observation {
            t_ms,
            body: ObservationBody::Metrics(m),
        }) = line
        {
            readings.entry(m.service.clone()).or_default().push(*t_ms);
        }
    }
    let wall_ms = |session_ms: u64| session_ms as f64 / scale;
    let close = readings
        .values()
        .flat_map(|times| times.windows(2))
        .filter(|w| wall_ms(w[1] - w[0]) <= 300.0)
        .count();
    let last = readings.values().filter_map(|t| t.last()).max().copied();
    let wall_s = wall_ms(last.unwrap_or(0)) / 1000.0;
    let per_service_second = readings.values().map(Vec::len).sum::<usize>() as f64
        / readings.len().max(1) as f64
        / wall_s.max(1.0);
    assert!(
        close > 0 && per_service_second <= 2.5,
        "{id}: {close} readings a reading interval apart, {per_service_second:.1} readings a \
         service a wall second"
    );
}

/// The simulated lab, played by the same defender, detects the attack as the Docker session
/// did: the same rule families on the same entities.
fn detects_as_the_simulated_lab(
    id: &str,
    loaded: &Loaded,
    docker_lines: &[RecordLine],
    defender: &mut dyn Defender,
) {
    let sim = SimLab::new(loaded.topology.clone(), &loaded.scenario, SEED);
    let (_, sim_lines) = play(loaded, Box::new(sim), defender);
    let on_docker = detections(loaded, docker_lines);
    let on_sim = detections(loaded, &sim_lines);
    assert!(!on_docker.is_empty());
    let evidence = |lines: &[RecordLine]| -> Vec<String> {
        lines
            .iter()
            .filter_map(|l| match l {
                RecordLine::Alert(a) => Some(format!("{} {}: {}", a.rule, a.entity, a.evidence)),
                _ => None,
            })
            .collect()
    };
    assert_eq!(
        on_docker,
        on_sim,
        "{id}: Docker and the simulated lab detect the attack differently\non Docker: {:#?}\non sim: {:#?}",
        evidence(docker_lines),
        evidence(&sim_lines)
    );
}

/// A session of `loaded` on `lab`, begun and played to 10 s into its live phase.
fn ten_seconds_live(loaded: &Loaded, lab: DockerLab) -> Session {
    let mut session = Session::new(
        loaded.scenario.clone(),
        loaded.topology.clone(),
        Box::new(lab),
        SEED,
        bulkhead_engine::RecordWriter::discard(),
    );
    session.begin();
    let live = loaded.scenario.live_start_ms();
    while session.now() < live + 10_000 && session.tick() {}
    session
}

/// A lifecycle state of a service the record says it reached at or after `from`, and when.
fn lifecycle_at(lines: &[RecordLine], of: &str, state: LifecycleState, from: u64) -> Option<u64> {
    lines.iter().find_map(|l| match l {
        RecordLine::Observation(Observation {
            t_ms,
            body: ObservationBody::Event(LogEvent::Lifecycle { service, state: s }),
        }) if service == of && *s == state && *t_ms >= from => Some(*t_ms),
        _ => None,
    })
}

#[test]
fn a_container_killed_or_crashed_is_restored_with_its_mitigations_and_its_telemetry_goes_on() {
    let test = "a_container_killed_or_crashed_is_restored";
    if !docker_here(test) {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let loaded = load("stolen-credentials").variant(SEED).unwrap();
    let lab = docker_lab_of(&loaded, TIME_SCALE);
    let id_of = |service: &str| lab.running().containers[service].id.clone();
    let (web, gateway) = (id_of("web"), id_of("gateway"));
    // The range's own traffic container: killed too, it must come back, unseen by the trainee.
    let traffic = (loaded.topology.services.iter())
        .find(|s| s.range_only && s.role == Role::Traffic)
        .map(|s| id_of(&s.id))
        .expect("the range has a traffic container");
    let mut session = ten_seconds_live(&loaded, lab);
    let live = loaded.scenario.live_start_ms();
    // A block the trainee confirmed lives in the gateway's labd: a crash must not undo it.
    let blocked = "198.51.100.77";
    session
        .submit(bulkhead_engine::Command::Mitigate(Mitigation::Block {
            source: blocked.into(),
        }))
        .unwrap();
    while session.now() < live + 20_000 && session.tick() {}
    assert_eq!(gateway_blocks(&gateway), vec![blocked.to_string()]);
    // Killed by someone outside the range, and labd crashing in the gateway: neither is a
    // trainee's action nor the scenario's.
    let killed = std::process::Command::new("docker")
        .args(["kill", &web, &traffic])
        .output()
        .unwrap();
    assert!(killed.status.success(), "{killed:?}");
    let crashed = std::process::Command::new("docker")
        .args(["exec", &gateway, "/labd", "ctl", "/crash", "{}"])
        .output()
        .unwrap();
    let killed_at = session.now();
    while session.now() < live + 120_000 && session.tick() {}
    for (service, container) in [("web", &web), ("traffic", &traffic), ("gateway", &gateway)] {
        let inspect = std::process::Command::new("docker")
            .args([
                "inspect",
                "-f",
                "{{.State.Running}} {{.State.Status}}",
                container,
            ])
            .output()
            .unwrap();
        let state = String::from_utf8_lossy(&inspect.stdout);
        assert!(
            state.starts_with("true"),
            "{service} runs again 120 s after it was killed or crashed: {state} {inspect:?}"
        );
    }
    let exit = std::process::Command::new("docker")
        .args([
            "inspect",
            "-f",
            "{{.State.ExitCode}} {{.RestartCount}}",
            &gateway,
        ])
        .output()
        .unwrap();
    assert_eq!(
        gateway_blocks(&gateway),
        vec![blocked.to_string()],
        "the restored gateway blocks what the trainee blocked ({crashed:?}, {exit:?})"
    );
    let lines = session.record_lines().to_vec();
    session.finish();

    for service in ["web", "gateway"] {
        let died = lifecycle_at(&lines, service, LifecycleState::Died, killed_at)
            .unwrap_or_else(|| panic!("the record says {service} died"));
        let restored = lifecycle_at(&lines, service, LifecycleState::Restored, killed_at)
            .unwrap_or_else(|| panic!("the lab restored {service}"));
        assert!(restored >= died);
        // A figure for the closing note, shown with --nocapture.
        let _ = writeln!(
            std::io::stderr(),
            "figure: {service} restored {:.1} wall s after the fault",
            (restored - killed_at) as f64 / 1000.0 / TIME_SCALE
        );
    }
    let restored = lifecycle_at(&lines, "web", LifecycleState::Restored, killed_at).unwrap();
    // Its logs are followed again: the company's logins and requests to web after it.
    let served_after = lines
        .iter()
        .filter(|l| {
            matches!(l, RecordLine::Observation(Observation {
                t_ms,
                body: ObservationBody::Event(LogEvent::Request { service, .. } | LogEvent::Login { service, .. }),
            }) if service == "web" && *t_ms > restored + 2_000)
        })
        .count();
    assert!(
        served_after > 10,
        "{served_after} of web's log lines after it came back"
    );
    // The traffic container's executor reports its benign attempts again.
    let benign: BTreeSet<u64> = (lines.iter())
        .filter_map(|l| match l {
            RecordLine::Effect { effect, .. } if effect.origin == Origin::Benign => Some(effect.id),
            _ => None,
        })
        .collect();
    let benign_after: Vec<&Outcome> = (lines.iter())
        .filter_map(|l| match l {
            RecordLine::Outcome(o) if benign.contains(&o.effect) && o.t_ms > killed_at => Some(o),
            _ => None,
        })
        .collect();
    let reported_after = (benign_after.iter())
        .filter(|o| o.t_ms > restored + 5_000)
        .count();
    let _ = writeln!(
        std::io::stderr(),
        "figure: {reported_after} benign outcomes from 5 s after the restore"
    );
    assert!(
        reported_after > 10,
        "{reported_after} benign outcomes after the restore (web restored at {restored} ms); \
         the first since the kill at {killed_at} ms: {:?}",
        (benign_after.iter().take(10))
            .map(|o| (o.t_ms, o.ok, o.detail.as_str()))
            .collect::<Vec<_>>()
    );
    // Only the company's containers are the trainee's to hear of.
    let restores = (lines.iter())
        .filter(|l| {
            matches!(
                l,
                RecordLine::Observation(Observation {
                    body: ObservationBody::Event(LogEvent::Lifecycle {
                        state: LifecycleState::Restored,
                        ..
                    }),
                    ..
                })
            )
        })
        .count();
    assert_eq!(restores, 2);
    // The score card names both, and holds neither against the trainee.
    let card = bulkhead_engine::score(&loaded.scenario, &loaded.topology, &lines, None);
    let named: Vec<&str> = (card.faults.iter()).map(|f| f.text.as_str()).collect();
    assert_eq!(named.len(), 2, "{named:?}");
    assert!(
        named.iter().any(|t| t.starts_with("gateway died")),
        "{named:?}"
    );
}

#[test]
fn a_lab_network_removed_from_outside_is_made_again_and_its_services_reconnected() {
    let test = "a_lab_network_removed_from_outside";
    if !docker_here(test) {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let loaded = load("stolen-credentials").variant(SEED).unwrap();
    let lab = docker_lab_of(&loaded, TIME_SCALE);
    let network = docker_out(&[
        "network",
        "inspect",
        "-f",
        "{{.Name}}",
        &lab.running().networks["data"],
    ]);
    let (web, datastore) = (
        lab.running().containers["web"].id.clone(),
        lab.running().containers["datastore"].id.clone(),
    );
    let session_id = lab.running().session.clone();
    let mut session = ten_seconds_live(&loaded, lab);
    let live = loaded.scenario.live_start_ms();
    // Docker removes no network a container is on: whoever removes it disconnects them first.
    for container in [&web, &datastore] {
        docker_out(&["network", "disconnect", "-f", &network, container]);
    }
    docker_out(&["network", "rm", &network]);
    let removed_at = session.now();
    while session.now() < live + 60_000 && session.tick() {}

    for container in [&web, &datastore] {
        let on = docker_out(&[
            "inspect",
            "-f",
            "{{range $name, $_ := .NetworkSettings.Networks}}{{$name}} {{end}}",
            container,
        ]);
        assert!(on.split_whitespace().any(|n| n == network), "{on}");
    }
    let lines = session.record_lines().to_vec();
    let restored = (lines.iter())
        .find_map(|l| match l {
            RecordLine::Fault {
                t_ms,
                fault: LabFault::NetworkRestored { zone, services },
            } => Some((*t_ms, zone.clone(), services.clone())),
            _ => None,
        })
        .expect("the record says the lab made the network again");
    assert_eq!(
        (restored.1.as_str(), restored.2.clone()),
        ("data", vec!["web".to_string(), "datastore".to_string()])
    );
    let _ = writeln!(
        std::io::stderr(),
        "figure: a removed lab network made again {:.1} wall s after its removal",
        (restored.0.saturating_sub(removed_at)) as f64 / 1000.0 / TIME_SCALE
    );
    // The company's reads reach the datastore again.
    let reads_after = (lines.iter())
        .filter(|l| {
            matches!(l, RecordLine::Observation(Observation {
                t_ms,
                body: ObservationBody::Event(LogEvent::DataAccess { .. }),
            }) if *t_ms > restored.0 + 2_000)
        })
        .count();
    assert!(reads_after > 5, "{reads_after} datastore reads after");
    let card = bulkhead_engine::score(&loaded.scenario, &loaded.topology, &lines, None);
    assert!(
        (card.faults.iter()).any(|f| f.text.contains("data network was removed")),
        "{:?}",
        card.faults
    );
    session.finish();
    let left = docker_out(&[
        "network",
        "ls",
        "-q",
        "--filter",
        &format!("label={}={session_id}", bulkhead_labs::labels::SESSION),
    ]);
    assert_eq!(left, "", "the network made again goes with the lab");
}

#[test]
fn stolen_credentials_on_docker() {
    scenario_on_docker("stolen-credentials");
}

#[test]
fn resource_exhaustion_on_docker() {
    scenario_on_docker("resource-exhaustion");
}

#[test]
fn insider_access_on_docker() {
    scenario_on_docker("insider-access");
}

/// The hardening phase on real containers: the audit of the live lab finds exactly what the
/// simulated lab declares, the bot's fixes are confirmed by Docker's own inspection and hold
/// the attack steps that needed them, and the scores meet the new scenarios' bar. The issue's
/// three defenders score in order, and "fixing" the API's and the console's accepted risks
/// takes them down for real (a web tier and a worker degraded by labd).
#[test]
fn lateral_movement_on_docker() {
    if let Some(played) = hardening_on_docker("lateral-movement") {
        three_defenders_on_docker("lateral-movement", &played.bot);
    }
}

/// As `lateral_movement_on_docker`, with a secret the audit reads out of an image layer, and a
/// fix with a price: tenant B's weekly sync runs socat, so once the bot removed it labd found
/// it missing (LABD_NEEDS) and refused the job, which the card names.
#[test]
fn baked_secret_on_docker() {
    if let Some(played) = hardening_on_docker("baked-secret") {
        three_defenders_on_docker("baked-secret", &played.bot);
        let posture = format!("{:?}", played.bot.component("posture"));
        assert!(
            posture.contains("unneeded tool in the image: fixed in the hardening phase; what it cost: tenant B's weekly sync")
                && posture.contains("(1 of the business's attempts failed on it)"),
            "{posture}"
        );
    }
}

/// As `lateral_movement_on_docker`, with an unverified script whose removal prevents the whole
/// attack: the bot's card credits the prevention, and idle's session, where the miner ran,
/// raises on real containers the alerts the simulated lab raises.
#[test]
fn supply_chain_on_docker() {
    if let Some(played) = hardening_on_docker("supply-chain") {
        assert!(played.bot.facts.prevented, "{:#?}", played.bot.components);
        assert!(!played.idle.facts.prevented);
        three_defenders_on_docker("supply-chain", &played.bot);
    }
}

/// The three defenders on real containers, each the bot live: the one that fixes every
/// real finding (the bot's session, `real`) beats one that fixes none, which beats one that
/// "fixes" only the risks the business accepted, whose card says what that broke.
fn three_defenders_on_docker(id: &str, real: &ScoreCard) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let loaded = load(id).variant(SEED).unwrap();
    let accepted: Vec<WeaknessRef> = (loaded.scenario.hardening.iter())
        .flat_map(|h| h.accepted.iter().map(|a| a.of()))
        .collect();
    // At the fast pace: one recreation (1 to 2 wall seconds, 20 to 40 of session time) from
    // 5 s in ends well within supply-chain's 60 s budget, and the bot's live response is timed
    // in session time whatever the pace.
    let on_docker = |fixes: &[WeaknessRef]| {
        let lab = docker_lab(&loaded, FAST_TIME_SCALE);
        play(
            &loaded,
            lab,
            &mut FixThenBot::new(&loaded.scenario, fixes, 5.0),
        )
        .0
    };
    let none = on_docker(&[]);
    let broke = on_docker(&accepted);
    eprintln!(
        "{id} on Docker: real {} / none {} / accepted {}",
        real.total, none.total, broke.total
    );
    assert!(
        real.total > none.total && none.total > broke.total,
        "{id}: real {} / none {} / accepted {}",
        real.total,
        none.total,
        broke.total
    );
    assert_eq!(points(&none, "posture"), 0);
    assert_eq!(
        points(&broke, "accepted_risks"),
        -50 * accepted.len() as i32
    );
    // Each recreated container really lacks what its service needs (LABD_NEEDS): labd refuses
    // its work, the business's attempts fail on the fix, the card says so for every risk, and
    // collateral counts them.
    let said: Vec<String> = (broke.component("accepted_risks").into_iter())
        .flat_map(|c| c.lines.iter().map(|l| l.text.clone()))
        .collect();
    for risk in &loaded.scenario.hardening.as_ref().unwrap().accepted {
        let fixed = format!("{}: \"fixed\"", risk.of());
        let line = said.iter().find(|l| l.starts_with(&fixed));
        assert!(
            line.is_some_and(|l| l.contains(&risk.breaks)
                && l.contains("of the business's attempts failed on it")),
            "{id}: {said:#?}"
        );
    }
    assert!(
        broke.facts.benign_failures_caused > none.facts.benign_failures_caused,
        "{} broken against {}",
        broke.facts.benign_failures_caused,
        none.facts.benign_failures_caused
    );
}

/// The hardening assertions on a scenario's Docker sessions; what was played, for more.
fn hardening_on_docker(id: &str) -> Option<Played> {
    let played = scenario_on_docker(id)?;
    let (bot, idle) = (&played.bot, &played.idle);
    assert!(bot.total >= 800, "{id}: the bot scored {}", bot.total);
    assert!(idle.total <= 150, "{id}: idle scored {}", idle.total);
    assert_eq!(
        points(bot, "posture"),
        200,
        "{:#?}",
        bot.component("posture")
    );
    assert_eq!(points(bot, "accepted_risks"), 0);
    assert_eq!(points(idle, "posture"), 0);
    let audits = |lines: &[RecordLine]| -> Vec<(u64, Vec<bulkhead_engine::posture::Finding>)> {
        (lines.iter())
            .filter_map(|l| match l {
                RecordLine::Posture { t_ms, findings } => Some((*t_ms, findings.clone())),
                _ => None,
            })
            .collect()
    };
    let loaded = load(id).variant(SEED).unwrap();
    let sim = SimLab::new(loaded.topology.clone(), &loaded.scenario, SEED);
    let (_, sim_lines) = play(&loaded, Box::new(sim), &mut Bot::default());
    let (on_docker, on_sim) = (audits(&played.bot_lines), audits(&sim_lines));
    // The first audit: the real one of the live lab is what the scenario declares, word for word.
    assert_eq!(on_docker[0], on_sim[0]);
    // After the bot's fixes, only the accepted risks are left on either backend.
    let at_warmup = |a: &[(u64, Vec<_>)]| {
        let end = loaded.scenario.hardening_ms();
        a.iter()
            .rev()
            .find(|(t, _)| *t <= end)
            .map(|(_, f)| f.clone())
    };
    let accepted = loaded.scenario.hardening.as_ref().map(|h| h.accepted.len());
    assert_eq!(at_warmup(&on_docker), at_warmup(&on_sim));
    assert_eq!(at_warmup(&on_docker).map(|f| f.len()), accepted);
    let foiled = (played.bot_lines.iter())
        .filter(
            |l| matches!(l, RecordLine::Outcome(o) if matches!(o.cause, Some(Cause::Fixed { .. }))),
        )
        .count();
    assert!(foiled > 10, "{id}: {foiled} attempts failed on a fix");
    Some(played)
}

#[test]
fn poisoned_pdf_on_docker() {
    let Some(Played {
        idle_lines: lines, ..
    }) = scenario_on_docker("poisoned-pdf")
    else {
        return;
    };
    // The SaaS lab has two ways in: the partner's reads went through the partner gateway to the
    // partner portal, which read its own datastore; the API never saw her.
    let events: Vec<&LogEvent> = lines
        .iter()
        .filter_map(|l| match l {
            RecordLine::Observation(Observation {
                body: ObservationBody::Event(e),
                ..
            }) => Some(e),
            _ => None,
        })
        .collect();
    let reads_at = |tier: &str| {
        (events.iter())
            .filter(|e| {
                matches!(e, LogEvent::DataAccess { service, identity, ok: true, records, .. }
                    if service == tier && identity == "priya" && *records > 0)
            })
            .count()
    };
    let asked: Vec<String> = (lines.iter())
        .filter_map(|l| match l {
            RecordLine::Effect { effect, .. } => Some(effect),
            _ => None,
        })
        .filter(|e| matches!(&e.kind, EffectKind::Act(Action::ReadData { identity, .. }) if identity == "priya"))
        .map(|e| format!("#{} {:?}", e.id, e.kind))
        .collect();
    assert!(
        reads_at("partner-portal") > 0,
        "the portal served none of the partner's reads: {asked:#?}"
    );
    assert_eq!(reads_at("api"), 0, "the API served the partner's reads");
    let portal_flows = (events.iter())
        .filter(|e| {
            matches!(e, LogEvent::Flow { service, upstream, .. }
                if service == "partner-gateway" && upstream == "partner-portal")
        })
        .count();
    assert!(portal_flows > 0, "no flow at the partner gateway");
}

/// What the sessions' tests read of a `Probe`'s outputs.
impl Probe {
    fn wait(&mut self, ms: u64) {
        self.run_for(ms, 250);
    }

    /// Advance until the lab reports an outcome of `effect`, for at most `ms`: a step whose
    /// outcome came is done, and the next starts from the state it confirmed.
    /// Why the latest outcome of `effect` failed (`None`: it did not, or no cause).
    fn cause(&self, effect: u64) -> Option<Cause> {
        self.outcome_of(effect)?.cause.clone()
    }

    fn cpu_since(&self, service: &str, from: usize) -> Vec<f32> {
        self.readings_since(service, from)
            .map(|(_, m)| m.cpu_pct)
            .collect()
    }

    fn reading_times(&self, service: &str, from: usize) -> Vec<u64> {
        self.readings_since(service, from).map(|(t, _)| t).collect()
    }

    fn readings_since<'a>(
        &'a self,
        service: &'a str,
        from: usize,
    ) -> impl Iterator<Item = (u64, &'a bulkhead_engine::Metrics)> + 'a {
        self.outputs[from..].iter().filter_map(move |o| match o {
            LabOutput::Observation(Observation {
                t_ms,
                body: ObservationBody::Metrics(m),
            }) if m.service == service => Some((*t_ms, m)),
            _ => None,
        })
    }
}

fn attack(action: Action) -> (Origin, EffectKind) {
    (
        Origin::Attack {
            step: "probe".into(),
        },
        EffectKind::Act(action),
    )
}

fn defend(m: Mitigation) -> (Origin, EffectKind) {
    (Origin::Defender, EffectKind::Mitigate(m))
}

#[test]
fn mitigations_take_effect_on_real_containers() {
    if !docker_here("mitigations") {
        return;
    }
    mitigations_take_effect(Placement::Host);
}

/// Every mitigation confirmed on Swarm task containers: Swarm neither undoes a stop or a pause
/// nor gets in the way of the node's engine doing them.
#[test]
fn mitigations_take_effect_on_swarm_task_containers() {
    if !swarm_here("mitigations on a swarm") {
        return;
    }
    mitigations_take_effect(Placement::Swarm);
}

fn mitigations_take_effect(placement: Placement) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let loaded = load("resource-exhaustion");
    let options = LabOptions {
        placement,
        ..LabOptions::default()
    };
    let lab = DockerLab::start(
        Arc::clone(&loaded.topology),
        &loaded.scenario,
        &options,
        |_| {},
    )
    .expect("the lab comes up");
    assert_eq!(lab.running().node.is_some(), placement == Placement::Swarm);
    let mut p = Probe::new(Box::new(lab));
    let read = common::read_orders;
    let step = |p: &mut Probe, (o, k): (Origin, EffectKind)| {
        let id = p.apply(o, k);
        p.wait_for_outcome(id, 2500);
        p.outcome(id)
    };
    // An attack step, and why it failed when it did.
    let attempt = |p: &mut Probe, action: Action| {
        let (o, k) = attack(action);
        let id = p.apply(o, k);
        p.wait_for_outcome(id, 2500);
        (p.outcome(id), p.cause(id))
    };

    // Isolate: the attacker's requests through the gateway fail, and work again after.
    assert_eq!(
        step(&mut p, attack(read())),
        Some(true),
        "the stolen credential works at first"
    );
    assert_eq!(
        step(
            &mut p,
            defend(Mitigation::Isolate {
                service: "gateway".into()
            })
        ),
        Some(true)
    );
    assert_eq!(
        attempt(&mut p, read()),
        (
            Some(false),
            Some(Cause::Isolated {
                service: "gateway".into()
            })
        ),
        "isolated gateway: the attacker is cut off, and the record says by what"
    );
    assert_eq!(
        step(
            &mut p,
            defend(Mitigation::Isolate {
                service: "gateway".into()
            })
        ),
        Some(false),
        "isolating twice is reported"
    );
    assert_eq!(
        step(
            &mut p,
            defend(Mitigation::Reconnect {
                service: "gateway".into()
            })
        ),
        Some(true)
    );
    assert_eq!(step(&mut p, attack(read())), Some(true), "reconnected");

    // Detach: one network only. Web cut from the data zone cannot read, and says why; the
    // gateway cut from the internet keeps its other networks but the attacker cannot reach it.
    let detach = |service: &str, zone: &str| Mitigation::Detach {
        service: service.into(),
        zone: zone.into(),
    };
    let attach = |service: &str, zone: &str| Mitigation::Attach {
        service: service.into(),
        zone: zone.into(),
    };
    for (service, zone) in [("web", "data"), ("gateway", "outside")] {
        assert_eq!(step(&mut p, defend(detach(service, zone))), Some(true));
        assert_eq!(
            attempt(&mut p, read()),
            (
                Some(false),
                Some(Cause::Detached {
                    service: service.into(),
                    zone: zone.into()
                })
            ),
            "{service} detached from {zone}: the record says so"
        );
        assert_eq!(
            step(&mut p, defend(detach(service, zone))),
            Some(false),
            "detaching twice is reported"
        );
        assert_eq!(step(&mut p, defend(attach(service, zone))), Some(true));
        assert_eq!(
            step(&mut p, attack(read())),
            Some(true),
            "{service} attached to {zone} again"
        );
    }

    // Block: the gateway denies that source only.
    assert_eq!(
        step(
            &mut p,
            defend(Mitigation::Block {
                source: "198.51.100.23".into()
            })
        ),
        Some(true)
    );
    assert_eq!(
        attempt(&mut p, read()),
        (
            Some(false),
            Some(Cause::Blocked {
                source: "198.51.100.23".into()
            })
        ),
        "blocked source"
    );
    assert_eq!(
        step(
            &mut p,
            defend(Mitigation::Unblock {
                source: "198.51.100.23".into()
            })
        ),
        Some(true)
    );

    // Revoke: the stolen credential is rejected from then on.
    assert_eq!(
        step(
            &mut p,
            defend(Mitigation::Revoke {
                identity: "alice".into()
            })
        ),
        Some(true)
    );
    assert_eq!(
        attempt(&mut p, read()),
        (
            Some(false),
            Some(Cause::Revoked {
                identity: "alice".into()
            })
        ),
        "revoked credential"
    );

    // Cap: a hog's CPU falls to the cap.
    let hog = Action::Hog {
        service: "tenant-a".into(),
        cpu_workers: 2,
        memory_mib: 16,
        threads: 4,
        seconds: 40,
    };
    // Idle until now, tenant-a's labd wrote a reading about once a second (it reads every
    // 250 ms, and writes what did not move only as a heartbeat).
    let quiet = p.reading_times("tenant-a", 0);
    let quiet_s = (p.now - quiet.first().copied().unwrap_or(0)) as f64 / 1000.0;
    assert!(
        quiet.len() as f64 >= 0.8 * quiet_s && (quiet.len() as f64) <= 1.5 * quiet_s,
        "{} readings of the idle tenant-a in {quiet_s:.1} s: {quiet:?}",
        quiet.len()
    );
    let hog_from = p.outputs.len();
    let hog_at = p.now;
    let (o, k) = attack(hog);
    let hog_id = p.apply(o, k);
    p.wait(6000);
    // The hog moved the readings: labd wrote them one reading interval apart, the interval
    // before the jump and the jump itself (Docker's stats would be a second apart).
    let moving = p.reading_times("tenant-a", hog_from);
    assert!(
        moving
            .windows(2)
            .any(|w| w[1] >= hog_at && w[1] - w[0] <= 300),
        "no readings a reading interval apart after the hog started at {hog_at}: {moving:?}"
    );
    let before = p.cpu_since("tenant-a", 0);
    let peak = before.iter().copied().fold(0.0, f32::max);
    assert!(
        peak > 60.0,
        "the hog burns more than twice the cap: {before:?}"
    );
    assert_eq!(
        p.outcome(hog_id),
        Some(true),
        "uncapped, the hog takes more than it should"
    );
    let mark = p.outputs.len();
    assert_eq!(
        step(
            &mut p,
            defend(Mitigation::Cap {
                service: "tenant-a".into(),
                cpu_cores: Some(0.3),
                memory_mib: None,
                pids: None
            })
        ),
        Some(true)
    );
    p.wait(4000);
    let after = p.cpu_since("tenant-a", mark);
    let mut tail = after[after.len().saturating_sub(5)..].to_vec();
    tail.sort_by(f32::total_cmp);
    // On a loaded 2-core host (CI runs the suites side by side) a 0.3-core quota has read
    // 30-37 % (Docker's stats, against the host's clock), and one reading in a few over a
    // quarter second has read 65 % (a reading taken late). The median of the last five within
    // 1.5x the cap, below the uncapped hog's 60 % floor asserted above, tells a cap that holds
    // from one that does not.
    assert!(
        tail.len() >= 3 && tail[tail.len() / 2] <= 45.0,
        "capped at 0.3 cores: {after:?} (uncapped peak {peak})"
    );
    assert_eq!(
        (p.outcome(hog_id), p.cause(hog_id)),
        (
            Some(false),
            Some(Cause::Capped {
                service: "tenant-a".into()
            })
        ),
        "capped, the hog no longer takes more than it should"
    );

    // Pause, unpause, stop, restart: each confirmed against the container's state; an exec
    // into the paused or stopped container fails and says which.
    let exec = || Action::Exec {
        service: "tenant-b".into(),
        identity: "ben".into(),
        command: "/labd health".into(),
    };
    let tenant_b = || "tenant-b".to_string();
    assert_eq!(
        step(
            &mut p,
            defend(Mitigation::Pause {
                service: tenant_b()
            })
        ),
        Some(true)
    );
    assert_eq!(
        attempt(&mut p, exec()),
        (
            Some(false),
            Some(Cause::Paused {
                service: tenant_b()
            })
        )
    );
    for (m, expect) in [
        (
            Mitigation::Pause {
                service: "tenant-b".into(),
            },
            false,
        ),
        (
            Mitigation::Unpause {
                service: "tenant-b".into(),
            },
            true,
        ),
        (
            Mitigation::Stop {
                service: "tenant-b".into(),
            },
            true,
        ),
    ] {
        assert_eq!(step(&mut p, defend(m.clone())), Some(expect), "{m:?}");
    }
    // Long enough for a restart policy or Swarm's reconciliation to have acted.
    p.wait(3000);
    assert_eq!(
        attempt(&mut p, exec()),
        (
            Some(false),
            Some(Cause::Stopped {
                service: tenant_b()
            })
        ),
        "stopped, and still stopped seconds later (Swarm never restarts it)"
    );
    assert_eq!(
        step(
            &mut p,
            defend(Mitigation::Restart {
                service: tenant_b()
            })
        ),
        Some(true)
    );
    assert_eq!(
        step(&mut p, attack(exec())),
        Some(true),
        "restarted, it runs again"
    );
    p.lab.shutdown().unwrap();
}

/// The crossings the lab's firewall logged for `effect`: (from zone, to zone, allowed).
fn crossings(outputs: &[LabOutput], effect: u64) -> Vec<(String, Option<String>, bool)> {
    outputs
        .iter()
        .filter_map(|o| match o {
            LabOutput::Observation(Observation {
                body:
                    ObservationBody::Event(LogEvent::Crossing {
                        from_zone,
                        to_zone,
                        allowed,
                        trace: Some(t),
                        ..
                    }),
                ..
            }) if *t == effect => Some((from_zone.clone(), to_zone.clone(), *allowed)),
            _ => None,
        })
        .collect()
}

/// Routes, pivots, scans and segmentation on real networks (the SaaS lab: queue workers in
/// `jobs`, the console in `ops`, a firewall between them and `data`), with the outcomes and
/// causes the simulated lab gives for the same moves.
#[test]
fn routes_pivots_and_segments_on_real_networks() {
    if !docker_here("routes") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let topology = Arc::new(format::load_topology(&root.join("labs/topologies/saas.ron")).unwrap());
    let mut scenario = (*load("stolen-credentials").scenario).clone();
    scenario.topology = topology.id.clone();
    let lab = DockerLab::start(
        Arc::clone(&topology),
        &scenario,
        &LabOptions::default(),
        |_| {},
    )
    .expect("the SaaS lab comes up");
    let running = lab.running().clone();
    let mut p = Probe::new(Box::new(lab));
    let pivot = |from: &str, to: &str, endpoint: &str| Action::Pivot {
        from: from.into(),
        to: to.into(),
        endpoint: endpoint.into(),
    };
    let attempt = |p: &mut Probe, kind: EffectKind| {
        let id = p.apply(Origin::Attack { step: "t".into() }, kind);
        p.wait(3000);
        (id, p.outcome(id), p.cause(id))
    };
    let jobs_to_data = (String::from("jobs"), Some(String::from("data")));

    // A declared route: through the firewall, which logs the crossing.
    let (id, ok, _) = attempt(
        &mut p,
        EffectKind::Act(pivot("invoice-worker", "ledger-db", "/records/invoices")),
    );
    assert_eq!(ok, Some(true));
    assert_eq!(
        crossings(&p.outputs, id),
        [(jobs_to_data.0.clone(), jobs_to_data.1.clone(), true)]
    );
    // Outside the route's endpoints: refused at the firewall, and logged.
    let (id, ok, cause) = attempt(
        &mut p,
        EffectKind::Act(pivot("invoice-worker", "api", "/admin/users")),
    );
    assert_eq!((ok, cause), (Some(false), Some(Cause::NoRoute)));
    assert_eq!(
        crossings(&p.outputs, id),
        [(jobs_to_data.0.clone(), jobs_to_data.1.clone(), false)]
    );
    // The same zone: directly, and no firewall sees it.
    let (id, ok, _) = attempt(
        &mut p,
        EffectKind::Act(pivot("invoice-worker", "export-worker", "/")),
    );
    assert_eq!(ok, Some(true));
    assert!(crossings(&p.outputs, id).is_empty());

    // Without the firewall, the network itself refuses: the worker tries the datastore's
    // own address on the data network, which it is not on.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let db_ip = running.containers["ledger-db"].addresses["data"].to_string();
    let report = rt
        .block_on(async {
            let docker = bulkhead_labs::docker::connect().await?;
            let worker = &running.containers["invoice-worker"].id;
            let attempt = Attempt::get(&db_ip, "/records/invoices", None, 99);
            bulkhead_labs::movement::pivot(&docker, worker, &attempt, |_| {})
                .await
                .map_err(bulkhead_labs::LabError::Runtime)
        })
        .unwrap();
    assert!(!report.ok, "{report:?}");
    assert!(
        matches!(report.cause.as_deref(), Some("timeout" | "unreachable")),
        "the network, not labd, refused: {report:?}"
    );

    // A scan of the data zone from the console (whose route allows any path): both answer.
    let (id, ok, _) = attempt(
        &mut p,
        EffectKind::Act(Action::Scan {
            from: "ops-console".into(),
            zone: "data".into(),
        }),
    );
    assert_eq!(ok, Some(true));
    assert_eq!(crossings(&p.outputs, id).len(), 2);

    // Segment: confirmed by a probe; the route is closed for that pair of zones only.
    let segment = Mitigation::Segment {
        from_zone: "jobs".into(),
        to_zone: "data".into(),
    };
    let id = p.apply(Origin::Defender, EffectKind::Mitigate(segment.clone()));
    p.wait(4000);
    assert_eq!(p.outcome(id), Some(true));
    let (_, ok, cause) = attempt(
        &mut p,
        EffectKind::Act(pivot("invoice-worker", "ledger-db", "/records/invoices")),
    );
    let closed = Cause::Segmented {
        from_zone: "jobs".into(),
        to_zone: "data".into(),
    };
    assert_eq!((ok, cause.clone()), (Some(false), Some(closed)));
    assert!(cause.unwrap().explained_by(&segment));
    let (_, ok, _) = attempt(
        &mut p,
        EffectKind::Act(pivot("ops-console", "ledger-db", "/records/invoices")),
    );
    assert_eq!(ok, Some(true), "the ops route stays open");
    // The probe's own crossing never reaches the detector.
    assert!(crossings(&p.outputs, bulkhead_labs::movement::PROBE_TRACE).is_empty());
    let reopen = Mitigation::Unsegment {
        from_zone: "jobs".into(),
        to_zone: "data".into(),
    };
    let id = p.apply(Origin::Defender, EffectKind::Mitigate(reopen));
    p.wait(4000);
    assert_eq!(p.outcome(id), Some(true));
    // Nothing the probes caused, through the firewall or at their target, reached the detector.
    let probed = p.outputs.iter().any(|o| {
        matches!(o, LabOutput::Observation(Observation { body: ObservationBody::Event(e), .. })
            if e.trace() == Some(bulkhead_labs::movement::PROBE_TRACE))
    });
    assert!(!probed, "a probe's traces reached the detector");

    // Detach: the firewall cut from the data zone carries no route into it, and the record
    // names the detachment; attached again, the route works.
    let firewall_data = |attach: bool| {
        let (service, zone) = ("firewall".to_string(), "data".to_string());
        EffectKind::Mitigate(if attach {
            Mitigation::Attach { service, zone }
        } else {
            Mitigation::Detach { service, zone }
        })
    };
    let id = p.apply(Origin::Defender, firewall_data(false));
    p.wait(3000);
    assert_eq!(p.outcome(id), Some(true));
    let (id, ok, cause) = attempt(
        &mut p,
        EffectKind::Act(pivot("invoice-worker", "ledger-db", "/records/invoices")),
    );
    let cut = Cause::Detached {
        service: "firewall".into(),
        zone: "data".into(),
    };
    assert_eq!((ok, cause), (Some(false), Some(cut)));
    assert!(
        crossings(&p.outputs, id).is_empty(),
        "no firewall on the way"
    );
    let id = p.apply(Origin::Defender, firewall_data(true));
    p.wait(3000);
    assert_eq!(p.outcome(id), Some(true));
    let (_, ok, _) = attempt(
        &mut p,
        EffectKind::Act(pivot("invoice-worker", "ledger-db", "/records/invoices")),
    );
    assert_eq!(ok, Some(true), "attached again, the route carries /records");

    // An exfiltration: refused at the worker's firewall before any connection out, and the
    // crossing counts what it tried to carry.
    let (id, ok, cause) = attempt(
        &mut p,
        EffectKind::Act(Action::Exfiltrate {
            from: "invoice-worker".into(),
            to: "203.0.113.5".into(),
            bytes: 300_000,
        }),
    );
    assert_eq!((ok, cause), (Some(false), Some(Cause::NoRoute)));
    let carried: Vec<(Option<String>, u64)> = p
        .outputs
        .iter()
        .filter_map(|o| match o {
            LabOutput::Observation(Observation {
                body:
                    ObservationBody::Event(LogEvent::Crossing {
                        to_zone,
                        bytes,
                        trace: Some(t),
                        ..
                    }),
                ..
            }) if *t == id => Some((to_zone.clone(), *bytes)),
            _ => None,
        })
        .collect();
    assert_eq!(carried, [(None, 300_000)]);

    // An isolated target: the firewall cannot find it, and the record names the isolation.
    let id = p.apply(
        Origin::Defender,
        EffectKind::Mitigate(Mitigation::Isolate {
            service: "ledger-db".into(),
        }),
    );
    p.wait(3000);
    assert_eq!(p.outcome(id), Some(true));
    let (id, ok, cause) = attempt(
        &mut p,
        EffectKind::Act(pivot("invoice-worker", "ledger-db", "/records/invoices")),
    );
    assert_eq!(
        (ok, cause),
        (
            Some(false),
            Some(Cause::Isolated {
                service: "ledger-db".into()
            })
        )
    );
    assert_eq!(
        crossings(&p.outputs, id),
        [(String::from("jobs"), None, false)]
    );
    p.lab.shutdown().unwrap();
}
