//! Ctrl+C and SIGTERM during `bulkhead run` on real Docker: the binary tears its lab down, keeps
//! a consistent record, leaves with 130 / 143, and nothing labelled with its pid remains. A
//! second Ctrl+C quits at once and names `bulkhead labs prune`. Real processes, real signals
//! (sent with `kill`), real containers; skips loudly without Docker.
//!
//! The child is spawned with `std::process::Command`, which leaves SIGINT at its default (a
//! shell's background job would start with it ignored).

#[macro_use]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{LAB_UP_LIMIT, Run, docker_here, kill, leftovers, owned_by};

/// A `bulkhead run` of stolen-credentials on Docker at 10x, its record in the run's folder.
fn start_run(extra: &[&str]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_bulkhead"));
    command
        .args(["run", "stolen-credentials", "--backend", "docker"])
        .args(["--time-scale", "10", "--seed", "5", "--record"])
        .arg(record_of_dir(dir.path()))
        .args(extra);
    Run::spawn(command, dir)
}

fn record_of_dir(dir: &Path) -> PathBuf {
    dir.join("record.jsonl")
}

fn record_path(run: &Run) -> PathBuf {
    record_of_dir(run.dir.path())
}

/// One lab at a time from this file: the machine has two cores, and timings are reported.
static SERIAL: Mutex<()> = Mutex::new(());

/// Send `signal` to a running process that holds a lab, wait for it to exit, print how long the
/// teardown took, and check the exit code and that nothing panicked. Returns its output.
fn stop_and_time(run: &mut Run, test: &str, signal: &str, code: i32) -> String {
    let pid = run.pid();
    let up = owned_by(pid);
    kill(signal, pid);
    let (exit, took) = run.wait_exit(Duration::from_secs(60));
    let output = run.output();
    figure!(
        "{test}: {} containers, {} networks; {signal} -> exit in {:.2} s",
        up.0.len(),
        up.1.len(),
        took.as_secs_f64()
    );
    assert_eq!(exit, Some(code), "{output}");
    assert!(!output.contains("panicked"), "{output}");
    output
}

fn has_lines(path: &Path) -> bool {
    std::fs::read_to_string(path).is_ok_and(|t| t.lines().next().is_some())
}

/// Start a run, wait for its lab to be up and the session to be playing, send `signal`, and
/// check the exit code, the record and that the lab is gone.
fn signal_stops_the_run(test: &str, signal: &str, code: i32) {
    if !docker_here(test) {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut run = start_run(&[]);
    let pid = run.pid();
    // Containers exist during lab_up; a record line appears once the session has begun.
    run.wait_for("lab containers", LAB_UP_LIMIT, |r| {
        !owned_by(r.pid()).0.is_empty()
    });
    run.wait_for("a record line", LAB_UP_LIMIT, |r| {
        has_lines(&record_path(r))
    });
    // A few seconds of play, so that attacks and mitigations are under way.
    std::thread::sleep(Duration::from_secs(3));
    let output = stop_and_time(&mut run, test, signal, code);
    let record = std::fs::read_to_string(record_path(&run)).unwrap();
    let lines: Vec<&str> = record.lines().collect();
    assert!(lines.len() > 1, "record has {} lines", lines.len());
    for line in &lines {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("record line is not JSON ({e}): {line}"));
    }
    assert!(
        output.contains(&record_path(&run).display().to_string()),
        "where the record is was not said\n{output}"
    );
    let left = leftovers(pid);
    assert!(
        left.0.is_empty() && left.1.is_empty(),
        "left running after {signal}: containers {:?}, networks {:?}",
        left.0,
        left.1
    );
}

#[test]
fn sigint_tears_the_lab_down_and_exits_130() {
    signal_stops_the_run("sigint_tears_the_lab_down_and_exits_130", "INT", 130);
}

#[test]
fn sigterm_tears_the_lab_down_and_exits_143() {
    signal_stops_the_run("sigterm_tears_the_lab_down_and_exits_143", "TERM", 143);
}

/// A second Ctrl+C while the lab is still coming up: out at once, telling what to run.
#[test]
fn a_second_sigint_quits_at_once_and_names_prune() {
    let test = "a_second_sigint_quits_at_once_and_names_prune";
    if !docker_here(test) {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut run = start_run(&[]);
    let pid = run.pid();
    run.wait_for("lab containers", LAB_UP_LIMIT, |r| {
        !owned_by(r.pid()).0.is_empty()
    });
    kill("INT", pid);
    // Signals of one kind do not queue: let the first be taken before the second.
    std::thread::sleep(Duration::from_millis(300));
    kill("INT", pid);
    let (exit, took) = run.wait_exit(Duration::from_secs(5));
    let output = run.output();
    figure!(
        "{test}: second SIGINT -> exit in {:.3} s",
        took.as_secs_f64()
    );
    assert_eq!(exit, Some(130), "{output}");
    assert!(output.contains("bulkhead labs prune"), "{output}");
    // `Run`'s drop removes whatever the forced exit left.
}

/// A display for the game: Xvfb on a free display number, stopped on drop.
struct Xvfb {
    server: Child,
    display: String,
}

impl Xvfb {
    fn start() -> Option<Xvfb> {
        let display = format!(":{}", 90 + std::process::id() % 100);
        let server = Command::new("Xvfb")
            .args([
                display.as_str(),
                "-screen",
                "0",
                "1280x800x24",
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let socket = format!("/tmp/.X11-unix/X{}", &display[1..]);
        let started = Instant::now();
        while !Path::new(&socket).exists() && started.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(Xvfb { server, display })
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

fn vulkan_driver() -> bool {
    ["/usr/share/vulkan/icd.d", "/etc/vulkan/icd.d"]
        .iter()
        .any(|d| std::fs::read_dir(d).is_ok_and(|mut e| e.next().is_some()))
}

/// `bulkhead play` in a window with its lab on Docker: SIGINT and SIGTERM close the game, its
/// lab comes down, and it leaves with 130 / 143.
#[test]
fn the_game_tears_its_lab_down_on_sigint_and_sigterm() {
    let test = "the_game_tears_its_lab_down_on_sigint_and_sigterm";
    if !docker_here(test) {
        return;
    }
    let xvfb = vulkan_driver().then(Xvfb::start).flatten();
    let Some(xvfb) = xvfb else {
        if std::env::var("BULKHEAD_REQUIRE_RENDER").is_ok_and(|v| v == "1") {
            panic!("{test}: BULKHEAD_REQUIRE_RENDER=1 but Xvfb or a Vulkan driver is missing");
        }
        bulkhead_labs::docker::announce_skip(
            test,
            "no Xvfb or no Vulkan driver (apt-get install xvfb mesa-vulkan-drivers)",
            "This test did NOT run; set BULKHEAD_REQUIRE_RENDER=1 to make it fail instead",
        );
        return;
    };
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    for (signal, code) in [("INT", 130), ("TERM", 143)] {
        let mut command = Command::new(env!("CARGO_BIN_EXE_bulkhead"));
        command
            .args(["play", "stolen-credentials", "--backend", "docker"])
            .args(["--time-scale", "10", "--seed", "5"])
            .env("DISPLAY", &xvfb.display)
            .env_remove("WAYLAND_DISPLAY");
        let mut run = Run::spawn(command, tempfile::tempdir().unwrap());
        let pid = run.pid();
        run.wait_for("the lab ready", LAB_UP_LIMIT, |r| {
            r.output().contains("ready in")
        });
        let output = stop_and_time(&mut run, test, signal, code);
        let left = leftovers(pid);
        assert!(
            left.0.is_empty() && left.1.is_empty(),
            "the game left running after {signal}: {left:?}\n{output}"
        );
    }
}
