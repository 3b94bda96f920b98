//! End-to-end tests of the `labd` binary: argument handling, `probe`, `health`, the `ready`
//! line on stdout and a prompt exit on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const LABD: &str = env!("CARGO_BIN_EXE_labd");

/// A port that was free a moment ago.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn an_unknown_role_is_a_usage_error_with_exit_code_2() {
    let out = Command::new(LABD).arg("mainframe").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("mainframe"), "{stderr}");
    assert!(
        stderr.contains("gateway"),
        "names the valid roles: {stderr}"
    );
}

#[test]
fn a_role_missing_its_configuration_says_which_variable_and_exits_2() {
    let out = Command::new(LABD)
        .arg("gateway")
        .env_remove("LABD_UPSTREAM")
        .env("LABD_PORT", free_port().to_string())
        .env("LABD_CONTROL_PORT", free_port().to_string())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("LABD_UPSTREAM"));
}

#[test]
fn probe_prints_the_uid() {
    let out = Command::new(LABD).arg("probe").output().unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let uid = stdout.trim().strip_prefix("uid=").unwrap();
    assert!(uid.parse::<u32>().is_ok(), "{stdout}");
}

#[test]
fn health_follows_the_role_and_sigterm_stops_it_promptly() {
    let control = free_port();
    let health = || {
        Command::new(LABD)
            .arg("health")
            .env("LABD_CONTROL_PORT", control.to_string())
            .status()
            .unwrap()
            .code()
    };
    assert_eq!(health(), Some(1), "nothing listens yet");

    let mut child = Command::new(LABD)
        .arg("datastore")
        .env("LABD_SERVICE", "store-1")
        .env("LABD_PORT", free_port().to_string())
        .env("LABD_CONTROL_PORT", control.to_string())
        .env("LABD_DATASETS", r#"{"orders": 10}"#)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = rx.recv_timeout(Duration::from_secs(10));
    let ready: serde_json::Value = match first {
        Ok(line) => serde_json::from_str(&line).unwrap(),
        Err(e) => {
            let _ = child.kill();
            panic!("no ready line: {e}");
        }
    };
    assert_eq!(ready["event"], "ready");
    assert_eq!(ready["role"], "datastore");
    assert_eq!(ready["service"], "store-1");
    assert_eq!(health(), Some(0));

    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("labd ignored SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
}
