//! The README's examples, run: every command of its `sh` blocks and every RON block (a scripted
//! defender, played against the scenario it was written for; an excerpt of a shipped data file,
//! found in that file, which the data tests load and validate). An example that stops working
//! fails here instead of on a newcomer's machine.

use std::path::PathBuf;
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn readme() -> String {
    std::fs::read_to_string(root().join("README.md")).expect("README.md exists")
}

/// The fenced blocks of one language, in order.
fn blocks(markdown: &str, language: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_start().strip_prefix("```")) {
            (None, Some(lang)) if lang.trim() == language => current = Some(String::new()),
            (Some(_), Some("")) => out.extend(current.take()),
            (Some(text), None) => {
                text.push_str(line);
                text.push('\n');
            }
            _ => {}
        }
    }
    out
}

/// The binary, run from the repository with a clean environment for what it reads.
fn bulkhead(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bulkhead"))
        .args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .expect("the binary runs")
}

fn all_text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn every_shell_command_of_the_readme_works() {
    let commands: Vec<String> = blocks(&readme(), "sh")
        .iter()
        .flat_map(|b| {
            b.lines()
                .map(str::trim)
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert!(
        commands.len() >= 4,
        "the README lost its commands: {commands:?}"
    );
    let mut server: Option<ReadmeServer> = None;
    for command in &commands {
        if let Some(args) = command.strip_prefix("cargo run --release -- serve ") {
            server = Some(ReadmeServer::start(args));
            continue;
        }
        // A trainee's command names the code the facilitator's server printed.
        let command = &match &server {
            Some(s) if command.contains("--code CODE") => {
                command.replace("--code CODE", &format!("--code {}", s.code))
            }
            _ => command.clone(),
        };
        match command.as_str() {
            // The main job opens the game; without a display it must say so plainly (exit 2)
            // rather than panic, which proves it got as far as choosing to open a window.
            "cargo run --release" => {
                let out = bulkhead(&[]);
                let text = all_text(&out);
                assert_eq!(out.status.code(), Some(2), "{command}: {text}");
                assert!(text.to_lowercase().contains("display"), "{command}: {text}");
                assert!(!text.contains("panicked"), "{command}: {text}");
            }
            // The test command is the one CI runs.
            "cargo test --workspace" => {
                let ci = std::fs::read_to_string(root().join(".ci/run")).unwrap();
                assert!(
                    ci.lines().any(|l| l.trim() == command),
                    ".ci/run does not run the README's test command"
                );
            }
            "cargo bench -p bulkhead-engine" => {
                let manifest = std::fs::read_to_string(root().join("engine/Cargo.toml")).unwrap();
                assert!(
                    manifest.contains("[[bench]]"),
                    "the engine has no benchmark"
                );
            }
            other => {
                let args = other
                    .strip_prefix("cargo run --release -- ")
                    .unwrap_or_else(|| panic!("README command not covered by this test: {other}"));
                let args: Vec<&str> = args.split_whitespace().collect();
                let out = bulkhead(&args);
                let text = all_text(&out);
                assert_eq!(out.status.code(), Some(0), "{command}:\n{text}");
                assert!(!out.stdout.is_empty(), "{command} printed nothing");
                if args.contains(&"--json") {
                    let card: serde_json::Value = serde_json::from_slice(&out.stdout)
                        .unwrap_or_else(|e| panic!("{command}: not JSON ({e}):\n{text}"));
                    assert!(card["total"].is_u64(), "{command}: no total\n{text}");
                }
            }
        }
    }
}

/// The README's `serve` example, running: the codes it printed, stopped (SIGTERM) on drop.
struct ReadmeServer {
    child: std::process::Child,
    code: String,
    _dir: tempfile::TempDir,
}

impl ReadmeServer {
    fn start(args: &str) -> ReadmeServer {
        let dir = tempfile::tempdir().unwrap();
        let stdout = dir.path().join("stdout");
        let child = Command::new(env!("CARGO_BIN_EXE_bulkhead"))
            .arg("serve")
            .args(args.split_whitespace())
            .args(["--records", dir.path().to_str().unwrap()])
            .current_dir(root())
            .stdin(std::process::Stdio::null())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("the server starts");
        let started = std::time::Instant::now();
        let mut server = ReadmeServer {
            child,
            code: String::new(),
            _dir: dir,
        };
        loop {
            let text = std::fs::read_to_string(&stdout).unwrap_or_default();
            if let Some(code) = text.lines().find_map(|l| l.strip_prefix("seat 1: code ")) {
                server.code = code[..8].to_string();
                return server;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("serve {args} ended ({status}) before printing a code:\n{text}");
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(60),
                "serve {args} printed no code:\n{text}"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

impl Drop for ReadmeServer {
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let status = self.child.wait();
        if !std::thread::panicking() {
            assert!(
                status.is_ok_and(|s| s.success()),
                "the README's server did not stop cleanly on SIGTERM"
            );
        }
    }
}

#[test]
fn the_readme_defender_defends_its_scenario_with_no_refusal() {
    let scripts: Vec<String> = blocks(&readme(), "ron")
        .into_iter()
        .filter(|b| b.contains("TimedCommand"))
        .collect();
    assert!(!scripts.is_empty(), "the README lost its defender example");
    // The seed the README says its defender was written for.
    let seed = "11";
    assert!(
        readme().contains(&format!("stolen-credentials --seed {seed}")),
        "the README no longer names the seed its defender defends"
    );
    for script in scripts {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("defender.ron");
        std::fs::write(&path, &script).unwrap();
        let out = bulkhead(&[
            "run",
            "stolen-credentials",
            "--backend",
            "sim",
            "--seed",
            seed,
            "--defender",
            path.to_str().unwrap(),
            "--json",
        ]);
        let text = all_text(&out);
        assert_eq!(out.status.code(), Some(0), "{text}");
        let card: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(card["refused"], serde_json::json!([]), "{text}");
        let points = |key: &str| {
            card["components"]
                .as_array()
                .and_then(|cs| cs.iter().find(|c| c["key"] == key))
                .and_then(|c| c["points"].as_i64())
                .unwrap_or(0)
        };
        assert!(
            points("detection") > 0,
            "the example detects nothing\n{text}"
        );
        assert!(
            points("containment") > 0,
            "the example contains nothing\n{text}"
        );
        assert_eq!(points("attribution"), 100, "{text}");
    }
}

/// Text with every run of whitespace made one space, so an excerpt indented for a list item
/// still matches its file.
fn squeezed(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn every_readme_excerpt_of_a_data_file_is_in_that_file() {
    let excerpts: Vec<String> = blocks(&readme(), "ron")
        .into_iter()
        .filter(|b| !b.contains("TimedCommand"))
        .collect();
    assert!(!excerpts.is_empty(), "the README lost its data excerpts");
    let mut files = Vec::new();
    for folder in ["scenarios", "labs/topologies"] {
        for entry in std::fs::read_dir(root().join(folder)).unwrap() {
            files.push(squeezed(
                &std::fs::read_to_string(entry.unwrap().path()).unwrap(),
            ));
        }
    }
    for excerpt in excerpts {
        let excerpt = squeezed(&excerpt);
        assert!(
            files.iter().any(|text| text.contains(&excerpt)),
            "this README excerpt is in no shipped scenario or topology:\n{excerpt}"
        );
    }
}
