//! The soak script's short version: three Docker sessions back to back, one fault injected from
//! outside the range in each (a container killed, labd crashing, a lab network removed), each
//! session ending cleanly with its fault named on the card and nothing left on the host. The
//! script (`scripts/soak.sh`) does the work and checks; 30 sessions with random faults, the
//! daemon's restart among them, is its full run (figures in the README).

#[macro_use]
mod common;

use std::process::Command;

#[test]
fn three_sessions_each_with_a_fault_end_cleanly_and_leave_nothing() {
    if !common::docker_here("three_sessions_each_with_a_fault") {
        return;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/soak.sh");
    let out = Command::new("bash")
        .arg(script)
        .args(["-b", env!("CARGO_BIN_EXE_bulkhead")])
        .args(["-n", "3", "-f", "kill,crash,network"])
        .env("BULKHEAD_DATA", env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    figure!("{stdout}");
    assert!(out.status.success(), "{stdout}\n{stderr}");
    // One line per session, each naming its fault: the script ran them all.
    for fault in ["kill", "crash", "network"] {
        assert!(
            stdout
                .lines()
                .any(|l| l.split_whitespace().nth(1) == Some(fault)),
            "{fault}: {stdout}"
        );
    }
    assert!(
        stdout.contains("failed sessions: 0 of 3; leftovers now: 0"),
        "{stdout}"
    );
}
