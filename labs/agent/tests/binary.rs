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

/// This test process's own no-new-privileges flag, which a child inherits.
fn own_no_new_privs() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l.strip_prefix("NoNewPrivs:").map(str::trim) == Some("1"))
}

#[test]
fn probe_prints_the_uid_and_whether_privileges_can_be_gained() {
    let out = Command::new(LABD).arg("probe").output().unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let (uid, nnp) = stdout.trim().split_once(' ').unwrap();
    let uid = uid.strip_prefix("uid=").unwrap();
    assert!(uid.parse::<u32>().is_ok(), "{stdout}");
    let expected = if own_no_new_privs() { "1" } else { "0" };
    assert_eq!(nnp, format!("no_new_privs={expected}"), "{stdout}");
}

/// A role told to require no-new-privileges refuses to serve without it (exit 3, saying what
/// to set), and serves with it: `setpriv --no-new-privs` sets the flag the way Docker does.
#[test]
fn a_role_that_requires_no_new_privileges_refuses_to_run_without_them() {
    let datastore = |wrapper: Option<&str>| {
        let mut command = match wrapper {
            Some(w) => {
                let mut c = Command::new(w);
                c.args(["--no-new-privs", LABD]);
                c
            }
            None => Command::new(LABD),
        };
        command
            .arg("datastore")
            .env("LABD_REQUIRE_NO_NEW_PRIVS", "1")
            .env("LABD_PORT", free_port().to_string())
            .env("LABD_CONTROL_PORT", free_port().to_string())
            .env("LABD_DATASETS", r#"{"orders": 10}"#)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    if own_no_new_privs() {
        eprintln!("SKIPPED the refusal half: this test runs with no-new-privileges already");
    } else {
        let out = datastore(None).wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(3));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("NoNewPrivs"), "{stderr}");
        assert!(stderr.contains("no-new-privileges"), "{stderr}");
    }
    let Ok(setpriv) = which_setpriv() else {
        panic!("setpriv (util-linux) is needed to run labd with no-new-privileges");
    };
    let mut child = datastore(Some(&setpriv));
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().and_then(Result::ok).unwrap_or_default();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        first.contains("ready"),
        "with no-new-privileges it serves: {first}"
    );
}

fn which_setpriv() -> Result<String, ()> {
    ["/usr/bin/setpriv", "/bin/setpriv"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .map(str::to_owned)
        .ok_or(())
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

#[test]
fn a_firewall_with_bad_zones_or_routes_says_which_variable_and_exits_2() {
    let zones = r#"{"tenants": "10.201.3.0/24", "data": "10.201.4.0/24"}"#;
    for (zones, routes, named) in [
        (None, None, "LABD_ZONES"),
        (Some(r#"{"data": "10.201.4.0/33"}"#), None, "LABD_ZONES"),
        (Some(zones), Some(r#"{"from": "tenants"}"#), "LABD_ROUTES"),
        (
            Some(zones),
            Some(r#"[{"from": "tenants", "to": "mars"}]"#),
            "mars",
        ),
    ] {
        let mut cmd = Command::new(LABD);
        cmd.arg("firewall")
            .env_remove("LABD_ZONES")
            .env_remove("LABD_ROUTES")
            .env("LABD_PORT", free_port().to_string())
            .env("LABD_CONTROL_PORT", free_port().to_string());
        if let Some(z) = zones {
            cmd.env("LABD_ZONES", z);
        }
        if let Some(r) = routes {
            cmd.env("LABD_ROUTES", r);
        }
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{zones:?} {routes:?}: {stderr}");
        assert!(stderr.contains(named), "{named}: {stderr}");
    }
}

#[test]
fn ctl_pivot_prints_the_report_and_exits_0() {
    let control = free_port();
    let mut child = Command::new(LABD)
        .arg("worker")
        .env("LABD_SERVICE", "worker-1")
        .env("LABD_PORT", free_port().to_string())
        .env("LABD_CONTROL_PORT", control.to_string())
        .env_remove("LABD_METRICS_MS")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = lines.next().and_then(Result::ok).unwrap_or_default();
    let ctl = |body: String| {
        Command::new(LABD)
            .args(["ctl", "/pivot", &body])
            .env("LABD_CONTROL_PORT", control.to_string())
            .output()
            .unwrap()
    };
    let closed = free_port();
    let refused = ctl(format!(r#"{{"to": "127.0.0.1:{closed}", "path": "/"}}"#));
    let bad = ctl(r#"{"to": "nowhere", "path": "/"}"#.to_owned());
    let _ = child.kill();
    let _ = child.wait();
    assert!(ready.contains("\"ready\""), "{ready}");

    assert!(refused.status.success());
    let stdout = String::from_utf8_lossy(&refused.stdout);
    let report: serde_json::Value = serde_json::from_str(
        stdout
            .strip_prefix("200 ")
            .unwrap_or_else(|| panic!("{stdout}")),
    )
    .unwrap();
    assert_eq!(report["cause"], "refused", "{report}");
    assert_eq!(report["ok"], false);
    assert_eq!(bad.status.code(), Some(1), "a bad body is a 400");
    assert!(String::from_utf8_lossy(&bad.stdout).starts_with("400 "));
}
