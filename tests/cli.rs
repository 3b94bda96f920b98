//! End-to-end tests of the `bulkhead` binary: listing, checking, running and re-scoring, and
//! how it treats bad input (exit code 2, file:line:column, never a panic).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn bulkhead(args: &[&str], data: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bulkhead"))
        .args(args)
        .env("BULKHEAD_DATA", data)
        .env("NO_COLOR", "1")
        .output()
        .expect("the binary runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A copy of the data files to break on purpose.
fn data_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["scenarios", "labs/topologies"] {
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        for entry in std::fs::read_dir(root().join(sub)).unwrap() {
            let p = entry.unwrap().path();
            std::fs::copy(&p, dir.path().join(sub).join(p.file_name().unwrap())).unwrap();
        }
    }
    dir
}

/// The 1-based line of the first occurrence of `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .expect("needle present")
        + 1
}

/// Check a broken scenario: exit 2, a `file:line:` location (on `line` when given), no panic.
fn assert_rejected(name: &str, text: &str, line: Option<usize>, mention: &str) {
    let data = data_copy();
    let path = data.path().join("scenarios").join(name);
    std::fs::write(&path, text).unwrap();
    let out = bulkhead(&["check", path.to_str().unwrap()], data.path());
    let all = self::text(&out);
    assert_eq!(out.status.code(), Some(2), "{name}: wrong exit code\n{all}");
    assert!(!all.contains("panicked"), "{name}: panicked\n{all}");
    let prefix = format!("{}:", path.display());
    let at = all
        .find(&prefix)
        .unwrap_or_else(|| panic!("{name}: no file location\n{all}"));
    let rest = &all[at + prefix.len()..];
    let mut parts = rest.splitn(3, ':');
    let l: usize = parts
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("{name}: no line\n{all}"));
    let c: usize = parts
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("{name}: no column\n{all}"));
    assert!(l >= 1 && c >= 1);
    if let Some(expected) = line {
        assert_eq!(l, expected, "{name}: wrong line\n{all}");
    }
    // The report wraps long messages: compare with the wrapping undone.
    let flat: Vec<&str> = all.split_whitespace().filter(|w| *w != "│").collect();
    assert!(
        flat.join(" ").contains(mention),
        "{name}: the message does not mention {mention:?}\n{all}"
    );
    // Listing still works around the broken file, and says which one is broken.
    let listed = bulkhead(&["list"], data.path());
    assert!(self::text(&listed).contains(name));
}

fn original() -> String {
    std::fs::read_to_string(root().join("scenarios/stolen-credentials.ron")).unwrap()
}

#[test]
fn a_truncated_file_is_rejected_with_its_location() {
    let s = original();
    assert_rejected("truncated.ron", &s[..s.len() / 2], None, "invalid scenario");
}

#[test]
fn an_unknown_field_is_rejected_at_its_line() {
    let s = original().replacen(
        "difficulty: Beginner,",
        "difficulty: Beginner,\n    dificulty: Beginner,",
        1,
    );
    let line = line_of(&s, "dificulty");
    assert_rejected("unknown-field.ron", &s, Some(line), "dificulty");
}

#[test]
fn a_wrong_type_is_rejected_at_its_line() {
    let s = original().replacen("warmup_s: 120", "warmup_s: \"two minutes\"", 1);
    let line = line_of(&s, "two minutes");
    assert_rejected("wrong-type.ron", &s, Some(line), "invalid scenario");
}

#[test]
fn an_attribution_objective_naming_an_uninvolved_entity_is_rejected_at_its_line() {
    // Carol is a decoy: naming her costs points, so no objective may ask for her.
    let s = original().replacen(
        "attribute: [Source(\"{intruder.source}\"), Identity(\"{victim.identity}\")]",
        "attribute: [Source(\"{intruder.source}\"), Identity(\"carol\")]",
        1,
    );
    let line = line_of(&s, "Identity(\"carol\")]");
    assert_rejected(
        "uninvolved.ron",
        &s,
        Some(line),
        "which no attack step involves",
    );
}

#[test]
fn a_dangling_reference_is_rejected_at_its_line() {
    let s = original().replacen(
        "Login(identity: \"{victim.identity}\", source: \"{intruder.source}\")",
        "Login(identity: \"mallory\", source: \"{intruder.source}\")",
        1,
    );
    let line = line_of(&s, "mallory");
    assert_rejected(
        "dangling.ron",
        &s,
        Some(line),
        "unknown identity \"mallory\"",
    );
}

#[test]
fn an_unordered_timeline_is_rejected_at_its_line() {
    let s = original().replacen(
        "Step(id: \"persist\", at_s: 75",
        "Step(id: \"persist\", at_s: 5",
        1,
    );
    let line = line_of(&s, "id: \"persist\"");
    assert_rejected("unordered.ron", &s, Some(line), "not in order");
}

#[test]
fn an_out_of_range_number_is_rejected_at_its_line() {
    let s = original().replacen("records: 250)", "records: 250000)", 1);
    let line = line_of(&s, "records: 250000");
    assert_rejected("out-of-range.ron", &s, Some(line), "out of range");
}

#[test]
fn a_broken_topology_is_rejected_with_its_location() {
    let data = data_copy();
    let path = data.path().join("labs/topologies/company.ron");
    let t =
        std::fs::read_to_string(&path)
            .unwrap()
            .replacen("owner: \"erin\"", "owner: \"nobody\"", 1);
    std::fs::write(&path, &t).unwrap();
    let out = bulkhead(&["check"], data.path());
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(
        all.contains(&format!("company.ron:{}:", line_of(&t, "\"nobody\""))),
        "{all}"
    );
}

#[test]
fn check_accepts_the_repository_and_list_shows_every_scenario() {
    let out = bulkhead(&["check"], &root());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = bulkhead(&["list"], &root());
    let listed = String::from_utf8_lossy(&out.stdout);
    for id in [
        "stolen-credentials",
        "resource-exhaustion",
        "insider-access",
        "poisoned-pdf",
        "lateral-movement",
        "baked-secret",
    ] {
        assert!(listed.contains(id), "{listed}");
    }
}

#[test]
fn unknown_scenarios_flags_and_defender_files_are_bad_input() {
    let out = bulkhead(&["run", "no-such-scenario", "--backend", "sim"], &root());
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("available: "), "{}", text(&out));
    let out = bulkhead(
        &[
            "run",
            "stolen-credentials",
            "--backend",
            "sim",
            "--seed",
            "minus one",
        ],
        &root(),
    );
    assert_eq!(out.status.code(), Some(2));
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("script.ron");
    std::fs::write(
        &script,
        "[\n  TimedCommand(at_s: 10.0, command: Mitigate(Explode(service: \"web\"))),\n]\n",
    )
    .unwrap();
    let out = bulkhead(
        &[
            "run",
            "stolen-credentials",
            "--backend",
            "sim",
            "--defender",
            script.to_str().unwrap(),
        ],
        &root(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("script.ron:2:"), "{}", text(&out));
}

#[test]
fn run_json_prints_the_score_card_and_report_reproduces_it_from_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("session.jsonl");
    let out = bulkhead(
        &[
            "run",
            "stolen-credentials",
            "--backend",
            "sim",
            "--seed",
            "7",
            "--json",
            "--record",
            record.to_str().unwrap(),
        ],
        &root(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let card: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    let total = card["total"].as_u64().unwrap();
    assert!((0..=1000).contains(&total));
    assert!(total >= 800, "the bot scored {total}");
    assert!(card["grade"].is_string());
    let components = card["components"].as_array().unwrap();
    assert!(components.len() >= 6);
    assert!(
        components
            .iter()
            .all(|c| c["points"].is_i64() && !c["lines"].as_array().unwrap().is_empty())
    );

    let out = bulkhead(&["report", record.to_str().unwrap(), "--json"], &root());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let again: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(again, card);

    // The record is not overwritten by accident.
    let out = bulkhead(
        &[
            "run",
            "stolen-credentials",
            "--backend",
            "sim",
            "--record",
            record.to_str().unwrap(),
        ],
        &root(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("--overwrite"));
}

#[test]
fn a_scripted_defender_plays_its_commands() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("defender.ron");
    // Written for seed 3's variant: its intruder's address, as its debrief would name it.
    let loaded = bulkhead_engine::format::resolve_scenario(&root(), "stolen-credentials").unwrap();
    let variant = loaded.variant(3).unwrap();
    let intruder = variant
        .scenario
        .objectives
        .attribute
        .iter()
        .find_map(|e| match e {
            bulkhead_engine::EntityRef::Source(source) => Some(source.clone()),
            _ => None,
        });
    let intruder = intruder.expect("stolen-credentials asks for the intruder's source");
    std::fs::write(
        &script,
        format!(
            "[\n  TimedCommand(at_s: 40.0, command: Mitigate(Block(source: \"{intruder}\"))),\n  TimedCommand(at_s: 41.0, command: Attribute(entity: Source(\"{intruder}\"))),\n]\n"
        ),
    )
    .unwrap();
    let out = bulkhead(
        &[
            "run",
            "stolen-credentials",
            "--backend",
            "sim",
            "--seed",
            "3",
            "--json",
            "--defender",
            script.to_str().unwrap(),
        ],
        &root(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let card: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let containment = card["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["key"] == "containment")
        .unwrap();
    assert!(
        containment["points"].as_i64().unwrap() > 200,
        "{containment}"
    );
}

#[test]
fn a_record_that_is_not_one_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let bogus = dir.path().join("bogus.jsonl");
    std::fs::write(
        &bogus,
        "{\"kind\":\"phase\",\"t_ms\":0,\"phase\":\"live\"}\nnot json\n",
    )
    .unwrap();
    let out = bulkhead(&["report", bogus.to_str().unwrap()], &root());
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("bogus.jsonl:2:"), "{}", text(&out));
}

#[test]
fn a_scripted_defenders_refused_commands_are_reported_on_stderr_and_the_card() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("typos.ron");
    std::fs::write(
        &script,
        r#"[
    TimedCommand(at_s: 10.0, command: Triage(alert: 999, verdict: incident)),
    TimedCommand(at_s: 11.0, command: Mitigate(Revoke(identity: "mallory"))),
    TimedCommand(at_s: 12.0, command: Mitigate(Block(source: "198.51.100.23"))),
]"#,
    )
    .unwrap();
    let out = run_defended(&script, &["--json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        stderr.contains("refused at live 10.0 s: triage #999 as incident: there is no alert #999"),
        "{stderr}"
    );
    assert!(stderr.contains("no identity \"mallory\""), "{stderr}");
    let card: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let refused = card["refused"].as_array().unwrap();
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert_eq!(refused[1]["command"], "revoke mallory");
    // The good command was carried out.
    let timeline = card["timeline"].to_string();
    assert!(timeline.contains("block 198.51.100.23"), "{timeline}");
}

#[test]
fn a_defender_file_with_a_bad_time_or_bytes_is_refused_with_its_location() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes, needle) in [
        (
            "negative.ron",
            b"[\n    TimedCommand(at_s: -3.0, command: Hint),\n]".to_vec(),
            ":2:",
        ),
        ("latin1.ron", b"[\n  // caf\xe9\n]".to_vec(), "not UTF-8"),
    ] {
        let script = dir.path().join(name);
        std::fs::write(&script, bytes).unwrap();
        let out = run_defended(&script, &[]);
        let all = text(&out);
        assert_eq!(out.status.code(), Some(2), "{name}: {all}");
        assert!(all.contains(needle), "{name}: {all}");
        assert!(!all.contains("panicked"), "{name}: {all}");
    }
}

/// `bulkhead run stolen-credentials` on the simulated lab, defended by a script.
fn run_defended(script: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "run",
        "stolen-credentials",
        "--backend",
        "sim",
        "--defender",
        script.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    bulkhead(&args, &root())
}

/// A bot session of stolen-credentials (seed 7) on the simulated lab, recorded into `dir`
/// with the data files of `data`.
fn recorded(dir: &Path, data: &Path) -> PathBuf {
    let record = dir.join("session.jsonl");
    let path = record.to_str().unwrap();
    let run = [
        "run",
        "stolen-credentials",
        "--backend",
        "sim",
        "--seed",
        "7",
    ];
    let out = bulkhead(&[&run[..], &["--record", path]].concat(), data);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    record
}

fn total(out: &Output) -> u64 {
    let card: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    card["total"].as_u64().unwrap()
}

#[test]
fn report_scores_against_the_installed_scenario_and_says_when_it_changed() {
    let data = data_copy();
    let dir = tempfile::tempdir().unwrap();
    let record = recorded(dir.path(), data.path());
    let path = record.to_str().unwrap();
    let out = bulkhead(&["report", path, "--json"], data.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!text(&out).contains("warning"), "{}", text(&out));
    let played = total(&out);

    // The scenario is edited after the session: a tighter par costs detection points.
    let file = data.path().join("scenarios/stolen-credentials.ron");
    let edited = std::fs::read_to_string(&file)
        .unwrap()
        .replace("detect_par_s: 45,", "detect_par_s: 1,");
    std::fs::write(&file, edited).unwrap();
    let out = bulkhead(&["report", path, "--json"], data.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "warning: the scenario stolen-credentials changed since this record was played"
        ) && stderr.contains("--embedded"),
        "{stderr}"
    );
    assert!(
        total(&out) < played,
        "scored against the installed, stricter scenario"
    );
    // The record's own copy scores as the session did, with nothing to warn about.
    let out = bulkhead(&["report", path, "--json", "--embedded"], data.path());
    assert_eq!(total(&out), played);
    assert!(!text(&out).contains("warning"), "{}", text(&out));

    // A scenario that is no longer installed is bad input, with the way out named.
    std::fs::remove_file(&file).unwrap();
    let renamed = std::fs::read_to_string(&record).unwrap().replacen(
        "\"id\":\"stolen-credentials\"",
        "\"id\":\"retired-scenario\"",
        1,
    );
    std::fs::write(&record, renamed).unwrap();
    let out = bulkhead(&["report", path], data.path());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("pass --embedded"), "{}", text(&out));
    let out = bulkhead(&["report", path, "--embedded", "--json"], data.path());
    assert_eq!(total(&out), played);
}

#[test]
fn a_record_from_a_newer_bulkhead_is_refused_and_records_lists_what_was_played() {
    let dir = tempfile::tempdir().unwrap();
    let record = recorded(dir.path(), &root());
    let html = dir.path().join("report.html");
    let out = bulkhead(
        &[
            "report",
            record.to_str().unwrap(),
            "--html",
            html.to_str().unwrap(),
        ],
        &root(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("wrote "));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("Stolen credentials") && !page.contains("https://"));

    let out = bulkhead(&["records", "--dir", dir.path().to_str().unwrap()], &root());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let listing = String::from_utf8_lossy(&out.stdout);
    let row = listing
        .lines()
        .find(|l| l.contains("session.jsonl"))
        .unwrap_or_else(|| panic!("{listing}"));
    assert!(row.contains("stolen-credentials") && row.contains(" 7 ") && row.contains("sim"));
    assert!(row.contains("/1000"), "{row}");
    assert!(!listing.contains("report.html"), "only records are listed");
    let out = bulkhead(
        &["records", "--dir", dir.path().to_str().unwrap(), "--json"],
        &root(),
    );
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows[0]["seed"], 7);
    assert_eq!(rows[0]["backend"], "sim");

    // Newer records come first.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let newer = dir.path().join("newer.jsonl");
    let text_of = std::fs::read_to_string(&record).unwrap();
    let (header, rest) = text_of.split_once('\n').unwrap();
    let mut header: serde_json::Value = serde_json::from_str(header).unwrap();
    header["record_version"] = 99.into();
    std::fs::write(&newer, format!("{header}\n{rest}")).unwrap();
    let out = bulkhead(&["report", newer.to_str().unwrap()], &root());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("record format version 99"),
        "{}",
        text(&out)
    );
    assert!(!text(&out).contains("panicked"));
    let out = bulkhead(
        &["records", "--dir", dir.path().to_str().unwrap(), "--json"],
        &root(),
    );
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(rows[0]["path"].as_str().unwrap().ends_with("newer.jsonl"));
    assert!(
        rows[0].get("scenario").is_none(),
        "a record it cannot read has no summary"
    );
}

#[test]
fn a_record_cut_mid_line_reports_what_was_played_and_says_it_did_not_finish() {
    let dir = tempfile::tempdir().unwrap();
    let record = recorded(dir.path(), &root());
    let out = bulkhead(&["report", record.to_str().unwrap(), "--json"], &root());
    assert!(!text(&out).contains("did not finish"), "{}", text(&out));
    let played = total(&out);
    // What a process killed while writing leaves: half a line at the end.
    let bytes = std::fs::read(&record).unwrap();
    let cut = bytes.len() / 2;
    let killed = dir.path().join("killed.jsonl");
    std::fs::write(&killed, &bytes[..cut]).unwrap();
    assert_ne!(bytes[cut - 1], b'\n', "the cut falls inside a line");
    let out = bulkhead(&["report", killed.to_str().unwrap(), "--json"], &root());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("did not finish") && stderr.contains("cut short"),
        "{stderr}"
    );
    assert!(
        total(&out) <= played,
        "half a session scores no more than all of it"
    );
    let out = bulkhead(&["records", "--dir", dir.path().to_str().unwrap()], &root());
    let listing = String::from_utf8_lossy(&out.stdout);
    let row = |name: &str| {
        listing
            .lines()
            .find(|l| l.contains(name))
            .unwrap()
            .to_string()
    };
    assert!(row("killed.jsonl").contains("(unfinished)"), "{listing}");
    assert!(!row("session.jsonl").contains("(unfinished)"), "{listing}");
}

#[test]
fn replay_refuses_what_it_cannot_play_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let record = recorded(dir.path(), &root());
    let path = record.to_str().unwrap();
    let refused = |args: &[&str], mention: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_bulkhead"))
            .args(args)
            .env("BULKHEAD_DATA", root())
            .env("NO_COLOR", "1")
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(text(&out).contains(mention), "{args:?}: {}", text(&out));
        assert!(!text(&out).contains("panicked"), "{}", text(&out));
    };
    refused(
        &["replay", path, "--speed", "7"],
        "use one of 1, 2, 5, 10, 30, 60",
    );
    let missing = dir.path().join("missing.jsonl");
    refused(&["replay", missing.to_str().unwrap()], "missing.jsonl");
    let bogus = dir.path().join("bogus.jsonl");
    let original = std::fs::read_to_string(&record).unwrap();
    let header = original.lines().next().unwrap();
    std::fs::write(&bogus, format!("{header}\nnot json\n")).unwrap();
    refused(&["replay", bogus.to_str().unwrap()], "bogus.jsonl:2:");
    let newer = dir.path().join("newer.jsonl");
    let mut head: serde_json::Value = serde_json::from_str(header).unwrap();
    head["record_version"] = 99.into();
    std::fs::write(&newer, format!("{head}\n")).unwrap();
    refused(
        &["replay", newer.to_str().unwrap()],
        "record format version 99",
    );
    // A good record on a machine with no display: what to do instead.
    refused(&["replay", path], "DISPLAY");
}
