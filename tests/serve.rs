//! `bulkhead serve` end to end: the real server binary, joined by real `bulkhead run --join`
//! clients over loopback. Three seats on the simulated lab score exactly as the same runs played
//! locally; two seats on real Docker (10x) score as the Docker suite expects; a stopped server
//! writes every record and leaves no lab behind.

#[macro_use]
mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{
    Served, docker_here, leftovers, owned_by, services_owned_by, step_source, swarm_here,
};

fn bulkhead(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bulkhead"))
        .args(args)
        .env("BULKHEAD_DATA", env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

/// A joined run with `--json`: its score card.
fn joined(url: &str, code: &str, scenario: &str, defender: &str) -> serde_json::Value {
    let out = bulkhead(&[
        "run",
        scenario,
        "--join",
        url,
        "--code",
        code,
        "--defender",
        defender,
        "--json",
    ]);
    assert!(
        out.status.success(),
        "run --join {defender}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// One joined stolen-credentials run per defender, each on its own seat, all at once.
fn play_at_once(served: &Served, defenders: &[&str]) -> Vec<serde_json::Value> {
    std::thread::scope(|scope| {
        let players: Vec<_> = defenders
            .iter()
            .zip(&served.codes)
            .map(|(defender, code)| {
                let url = served.url.as_str();
                scope.spawn(move || joined(url, code, "stolen-credentials", defender))
            })
            .collect();
        players.into_iter().map(|p| p.join().unwrap()).collect()
    })
}

fn readme_defender() -> std::path::PathBuf {
    // The README's defender for stolen-credentials, as tests/readme.rs plays it.
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    // The README has other RON blocks (a topology excerpt): the defender is the one of commands.
    let ron = readme
        .split("```ron\n")
        .skip(1)
        .filter_map(|block| block.split("```").next())
        .find(|block| block.contains("TimedCommand"))
        .expect("the README's defender");
    let dir = std::env::temp_dir().join(format!("bulkhead-serve-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("defender.ron");
    std::fs::write(&path, ron).unwrap();
    path
}

#[test]
fn three_served_seats_score_exactly_as_local_runs_and_stopping_writes_every_record() {
    let mut served = Served::start(&[
        "--backend",
        "sim",
        "--seats",
        "3",
        "--seed",
        "7",
        "--scenario",
        "stolen-credentials",
    ]);
    assert_eq!(served.codes.len(), 3);
    let script = readme_defender();
    let defenders = ["bot", "idle", script.to_str().unwrap()];
    let started = Instant::now();
    let cards = play_at_once(&served, &defenders);
    figure!(
        "three served sim seats played at once in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    for (defender, card) in defenders.iter().zip(&cards) {
        let local = bulkhead(&[
            "run",
            "stolen-credentials",
            "--backend",
            "sim",
            "--seed",
            "7",
            "--defender",
            defender,
            "--json",
        ]);
        let local: serde_json::Value = serde_json::from_slice(&local.stdout).unwrap();
        assert_eq!(card, &local, "{defender}: served and local cards differ");
    }
    assert!(
        cards[0]["total"].as_u64().unwrap() >= 700,
        "bot: {}",
        cards[0]
    );
    assert_eq!(cards[1]["total"], 0, "idle");
    assert!(
        cards[2]["total"].as_u64().unwrap() >= 500,
        "script: {}",
        cards[2]
    );
    // The facilitator sees each seat's final score.
    let seats = common::seats_json(&served.url, &served.token);
    for (i, card) in cards.iter().enumerate() {
        assert_eq!(seats[i]["score"], card["total"], "seat {}", i + 1);
    }
    // A wrong code is the user's to fix (2); a server that does not answer is a failure (1).
    let wrong = bulkhead(&[
        "run",
        "stolen-credentials",
        "--join",
        &served.url,
        "--code",
        "WRONG123",
    ]);
    let text = String::from_utf8_lossy(&wrong.stderr);
    assert_eq!(wrong.status.code(), Some(2), "{text}");
    assert!(text.contains("no seat has this join code"), "{text}");
    let nobody = bulkhead(&[
        "run",
        "stolen-credentials",
        "--join",
        "http://127.0.0.1:9",
        "--code",
        "WRONG123",
    ]);
    assert_eq!(
        nobody.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&nobody.stderr)
    );
    assert_eq!(served.stop(), Some(0), "{}", served.run.output());
    assert_eq!(served.records().len(), 3, "{}", served.run.output());
    for record in served.records() {
        let out = bulkhead(&["report", record.to_str().unwrap(), "--json"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn two_served_docker_seats_play_at_once_and_nothing_is_left_after_the_stop() {
    let test = "two_served_docker_seats_play_at_once_and_nothing_is_left_after_the_stop";
    if !docker_here(test) {
        return;
    }
    let mut served = Served::start(&[
        "--backend",
        "docker",
        "--seats",
        "2",
        "--time-scale",
        "10",
        "--seed",
        "1",
        "--scenario",
        "stolen-credentials",
    ]);
    let pid = served.run.pid();
    let started = Instant::now();
    // The mentor's inject works on a real lab too: fired into the idle seat once it is live.
    let injector = {
        let (url, token) = (served.url.clone(), served.token.clone());
        std::thread::spawn(move || inject_when_live(&url, &token, 2, "new-source"))
    };
    let cards = play_at_once(&served, &["bot", "idle"]);
    let inject_status = injector.join().unwrap();
    assert_eq!(inject_status, 200, "the inject fires on the Docker seat");
    figure!(
        "two served Docker seats at 10x played at once in {:.1} s; bot {}, idle {}",
        started.elapsed().as_secs_f64(),
        cards[0]["total"],
        cards[1]["total"]
    );
    assert_eq!(cards[0]["backend"], "docker");
    assert!(
        cards[0]["total"].as_u64().unwrap() >= 700,
        "bot: {}",
        cards[0]
    );
    assert!(
        cards[1]["total"].as_u64().unwrap() <= 300,
        "idle: {}",
        cards[1]
    );
    let up = owned_by(pid);
    assert_eq!(served.stop(), Some(0), "{}", served.run.output());
    let record = served
        .records()
        .into_iter()
        .find(|r| {
            r.file_name()
                .unwrap()
                .to_string_lossy()
                .ends_with("-seat2.jsonl")
        })
        .expect("seat 2's record");
    assert_inject_acted(&record, "new-source-login");
    // The served record, inject and all, replays as it was played (`bulkhead replay`).
    let read = bulkhead_engine::Record::read(&record).unwrap();
    assert_eq!(
        bulkhead_engine::replay::Replay::check(std::sync::Arc::new(read)),
        Ok(())
    );
    let left = leftovers(pid);
    assert!(
        left.0.is_empty() && left.1.is_empty(),
        "left after the stop: containers {:?}, networks {:?} (up before: {:?})",
        left.0,
        left.1,
        up
    );
    assert_eq!(served.records().len(), 2);
}

/// The issue's swarm test: two seats served with `--backend swarm`, played by headless
/// clients. Where the swarm has a second node (CI adds one, `scripts/second-node.sh`), given
/// with `--node`, the two labs spread, one on each node, the other's driven through its engine;
/// else both run on this machine's. The facilitator sees which node each lab runs on and the
/// nodes' load; nothing is left on any node after the server stops, nor after a killed
/// server's labs are pruned.
#[test]
fn two_served_swarm_seats_play_and_nothing_is_left_after_a_stop_or_a_kill() {
    let test = "two_served_swarm_seats_play_and_nothing_is_left_after_a_stop_or_a_kill";
    if !swarm_here(test) {
        return;
    }
    let second = bulkhead_labs::docker::second_node(test);
    let mut args = vec![
        "--backend",
        "swarm",
        "--seats",
        "2",
        "--time-scale",
        "10",
        "--seed",
        "1",
        "--scenario",
        "stolen-credentials",
    ];
    if let Some(engine) = &second {
        args.extend(["--node", engine.as_str()]);
    }
    let mut served = Served::start(&args);
    let pid = served.run.pid();
    let started = Instant::now();
    let watcher = {
        let (url, token) = (served.url.clone(), served.token.clone());
        std::thread::spawn(move || nodes_while_playing(&url, &token))
    };
    let cards = play_at_once(&served, &["bot", "idle"]);
    let (seat_nodes, node_loads) = watcher.join().unwrap();
    figure!(
        "two served swarm seats at 10x played at once in {:.1} s; bot {}, idle {}",
        started.elapsed().as_secs_f64(),
        cards[0]["total"],
        cards[1]["total"]
    );
    assert!(
        cards[0]["total"].as_u64().unwrap() >= 700,
        "bot: {}",
        cards[0]
    );
    assert!(
        cards[1]["total"].as_u64().unwrap() <= 150,
        "idle: {}",
        cards[1]
    );
    let this_node = common::docker(&["info", "--format", "{{.Name}}"]).join("");
    // One lab on each node where there are two (the second lab goes where more is free).
    let expected: Vec<(String, u64)> = match &second {
        Some(engine) => {
            let other = common::docker(&["-H", engine, "info", "--format", "{{.Name}}"]).join("");
            let mut both = vec![(this_node.clone(), 7), (other, 7)];
            both.sort();
            both
        }
        None => vec![(this_node.clone(), 14)],
    };
    let mut seen: Vec<String> = seat_nodes.iter().flatten().cloned().collect();
    seen.sort();
    let mut wanted: Vec<String> = (expected.iter())
        .flat_map(|(node, services)| std::iter::repeat_n(node.clone(), (*services / 7) as usize))
        .collect();
    wanted.sort();
    assert_eq!(
        seen, wanted,
        "the facilitator sees each seat's node: {seat_nodes:?}"
    );
    for (node, services) in &expected {
        let load = (node_loads.iter())
            .find(|n| n["hostname"] == node.as_str())
            .unwrap_or_else(|| panic!("the node's load is shown: {node_loads:?}"));
        assert_eq!(
            load["services"], *services,
            "labs of seven services: {load}"
        );
        assert_eq!(load["admitted"], true, "{load}");
    }
    assert_eq!(served.stop(), Some(0), "{}", served.run.output());
    assert_nothing_left(pid, second.as_deref(), "after the stop");

    // A killed server cannot remove its labs: `bulkhead labs prune` (the reaper) does.
    let served = Served::start(&args);
    let pid = served.run.pid();
    let code = served.codes[0].clone();
    let url = served.url.clone();
    let player = std::thread::spawn(move || {
        Command::new(env!("CARGO_BIN_EXE_bulkhead"))
            .args(["run", "stolen-credentials", "--join", &url, "--code", &code])
            .args(["--defender", "idle", "--json"])
            .env("BULKHEAD_DATA", env!("CARGO_MANIFEST_DIR"))
            .output()
    });
    let waited = Instant::now();
    while services_owned_by(pid).len() < 7 {
        assert!(
            waited.elapsed() < Duration::from_secs(60),
            "the lab came up"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    common::kill("KILL", pid);
    let _ = player.join();
    let mut prune = vec!["labs", "prune"];
    if let Some(engine) = &second {
        prune.extend(["--node", engine.as_str()]);
    }
    let pruned = bulkhead(&prune);
    assert!(
        pruned.status.success(),
        "{}",
        String::from_utf8_lossy(&pruned.stderr)
    );
    assert_nothing_left(pid, second.as_deref(), "after a kill and a prune");
    drop(served);
}

/// Every object a server `pid` made is gone: services, containers, networks (a swarm lab's
/// Swarm networks carry no labels: none named like a lab's may remain either), here and on
/// the second node `second`.
fn assert_nothing_left(pid: u32, second: Option<&str>, when: &str) {
    if let Some(engine) = second {
        let there = common::owned_by_on(Some(engine), pid);
        assert!(
            there.0.is_empty() && there.1.is_empty(),
            "{when}: on the second node, containers {:?}, networks {:?}",
            there.0,
            there.1
        );
    }
    let left = leftovers(pid);
    let services = services_owned_by(pid);
    let lab_networks: Vec<String> = common::docker(&["network", "ls", "--format", "{{.Name}}"])
        .into_iter()
        .filter(|n| n.starts_with("bh-") && !n.starts_with("bh-nodecheck"))
        .collect();
    assert!(
        left.0.is_empty() && left.1.is_empty() && services.is_empty() && lab_networks.is_empty(),
        "{when}: services {services:?}, containers {:?}, networks {:?}, lab networks {lab_networks:?}",
        left.0,
        left.1
    );
}

/// While two seats play: the node each seat's lab runs on and the nodes' load, as the
/// facilitator's API shows them once both labs are up.
fn nodes_while_playing(url: &str, token: &str) -> (Vec<Option<String>>, Vec<serde_json::Value>) {
    let started = Instant::now();
    loop {
        let seats = common::seats_json(url, token);
        let nodes: Vec<Option<String>> = (seats.as_array().into_iter().flatten())
            .map(|s| s["node"].as_str().map(str::to_owned))
            .collect();
        if nodes.len() == 2 && nodes.iter().all(Option::is_some) {
            let loads = common::facilitator_json(url, token, "/api/nodes");
            let loads = loads.as_array().cloned().unwrap_or_default();
            let services: u64 = (loads.iter()).filter_map(|n| n["services"].as_u64()).sum();
            if services == 14 {
                return (nodes, loads);
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "the facilitator never saw both seats' nodes: {seats}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Wait until `seat` is in its live phase, then fire an inject through the mentor's route with
/// the facilitator's token; the HTTP status.
fn inject_when_live(url: &str, token: &str, seat: usize, inject: &str) -> u16 {
    let deadline = Instant::now() + std::time::Duration::from_secs(300);
    while common::seats_json(url, token)[seat - 1]["phase"] != "live" {
        assert!(Instant::now() < deadline, "seat {seat} never went live");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let body = format!("id={inject}");
    write!(
        stream,
        "POST /mentor/{seat}/inject HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// The record shows the inject fired, its step acted on the lab (an effect with an outcome,
/// from the lab itself) and the trainee's detector saw its source (the seat's variant's).
fn assert_inject_acted(record: &Path, step: &str) {
    let text = std::fs::read_to_string(record).unwrap();
    let source = step_source(&text, step).expect("the inject's step acted from a source");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["kind"] == "mentor" && l["act"]["kind"] == "inject"),
        "the inject is in the record"
    );
    let effects: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["kind"] == "effect" && l["effect"]["origin"]["attack"]["step"] == step)
        .map(|l| &l["effect"]["id"])
        .collect();
    assert!(!effects.is_empty(), "the inject's step {step} was applied");
    assert!(
        lines
            .iter()
            .any(|l| l["kind"] == "outcome" && effects.contains(&&l["effect"])),
        "the lab reported an outcome of the inject's step"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["kind"] == "alert" && l.to_string().contains(&source)),
        "an alert names the inject's source {source}"
    );
}

/// `--node` is checked at start: without `--backend swarm` it is a usage error, and an engine
/// that is not there, or not a Docker address, is refused with what to give instead (exit 2),
/// before anything listens. `doctor --node` reports a node that is there.
#[test]
fn node_engines_are_checked_before_the_server_starts() {
    let refused = bulkhead(&[
        "serve",
        "--backend",
        "sim",
        "--node",
        "unix:///nowhere.sock",
    ]);
    let text = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{text}");
    assert!(text.contains("add --backend swarm"), "{text}");
    let test = "node_engines_are_checked_before_the_server_starts";
    if !swarm_here(test) {
        return;
    }
    for (engine, says) in [
        (
            "unix:///nowhere.sock",
            "cannot use the Swarm node engine unix:///nowhere.sock",
        ),
        ("ftp://n2", "not an engine address"),
    ] {
        let args = [
            "serve",
            "--backend",
            "swarm",
            "--listen",
            "127.0.0.1:0",
            "--node",
            engine,
        ];
        let refused = bulkhead(&args);
        let text = String::from_utf8_lossy(&refused.stderr);
        assert_eq!(refused.status.code(), Some(2), "{engine}: {text}");
        assert!(text.contains(says), "{engine}: {text}");
        assert!(text.contains("--node unix:///path"), "what to give: {text}");
    }
    if let Some(engine) = bulkhead_labs::docker::second_node(test) {
        let doctor = bulkhead(&["doctor", "--node", &engine]);
        let out = String::from_utf8_lossy(&doctor.stdout);
        let line = (out.lines())
            .find(|l| l.contains("Swarm node"))
            .unwrap_or_else(|| panic!("a line for the node: {out}"));
        assert!(line.starts_with("ok"), "{line}");
        assert!(line.contains(&engine), "{line}");
    }
}
