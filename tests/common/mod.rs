//! What the end-to-end tests of the binary share: a child `bulkhead` with its output in files,
//! the Docker objects a process owns, signals, and figures printed where `cargo test` shows
//! them. Each test file uses part of it.
#![allow(dead_code, unused_macros)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Print a measured figure where a plain `cargo test` shows it: libtest captures `eprintln!`
/// of passing tests, not writes through `std::io::stderr()`.
macro_rules! figure {
    ($($arg:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// Bringing a lab up may build the lab image first (a static build of labd): minutes.
pub const LAB_UP_LIMIT: Duration = Duration::from_secs(900);

pub fn docker_here(test: &str) -> bool {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(bulkhead_labs::docker::docker_or_skip(test))
        .is_some()
}

/// A `bulkhead run` child with its output in files (a pipe nobody reads could block it), and
/// its lab removed even when the test fails.
pub struct Run {
    pub child: Child,
    pub dir: tempfile::TempDir,
    /// Whether the child may bring a Docker lab up, so that dropping it looks for leftovers.
    /// False for sim-only children: their tests then run where no Docker CLI is installed.
    labs: bool,
}

impl Run {
    pub fn spawn(mut command: Command, dir: tempfile::TempDir) -> Run {
        let file = |name: &str| std::fs::File::create(dir.path().join(name)).unwrap();
        let child = command
            .env("BULKHEAD_DATA", env!("CARGO_MANIFEST_DIR"))
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(file("stdout"))
            .stderr(file("stderr"))
            .spawn()
            .expect("the binary starts");
        Run {
            child,
            dir,
            labs: true,
        }
    }

    /// As `spawn`, for a child that brings up no Docker lab (simulated lab, or a client of a
    /// server): dropping it ends the process and asks Docker nothing.
    pub fn spawn_sim(command: Command, dir: tempfile::TempDir) -> Run {
        let mut run = Run::spawn(command, dir);
        run.labs = false;
        run
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn output(&self) -> String {
        let read = |n: &str| std::fs::read_to_string(self.dir.path().join(n)).unwrap_or_default();
        format!(
            "--- stdout\n{}--- stderr\n{}",
            read("stdout"),
            read("stderr")
        )
    }

    /// Wait until the condition holds, failing if the child ends first or time runs out.
    pub fn wait_for(&mut self, what: &str, limit: Duration, ready: impl Fn(&Run) -> bool) {
        let started = Instant::now();
        while !ready(self) {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("bulkhead ended ({status}) before {what}\n{}", self.output());
            }
            assert!(
                started.elapsed() < limit,
                "no {what} after {limit:?}\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Wait for the child to exit; its exit code and how long it took.
    pub fn wait_exit(&mut self, limit: Duration) -> (Option<i32>, Duration) {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status.code(), started.elapsed());
            }
            assert!(
                started.elapsed() < limit,
                "bulkhead still runs {limit:?} after the signal\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        // Whatever happened above: no process and no lab outlive the test.
        let _ = self.child.kill();
        let _ = self.child.wait();
        if self.labs {
            remove_owned_by(self.pid());
        }
    }
}

pub fn docker(args: &[&str]) -> Vec<String> {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("docker CLI");
    assert!(out.status.success(), "docker {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Whether this Docker engine is a Swarm manager (skips visibly, or fails where
/// `BULKHEAD_REQUIRE_SWARM=1`).
pub fn swarm_here(test: &str) -> bool {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(bulkhead_labs::docker::swarm_or_skip(test))
        .is_some()
}

/// Swarm services whose `bulkhead.pid` label names `pid` (none where no swarm is managed here).
pub fn services_owned_by(pid: u32) -> Vec<String> {
    let filter = format!("label=bulkhead.pid={pid}");
    Command::new("docker")
        .args(["service", "ls", "-q", "--filter", &filter])
        .output()
        .map(|out| {
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Containers and networks whose `bulkhead.pid` label names `pid`.
pub fn owned_by(pid: u32) -> (Vec<String>, Vec<String>) {
    owned_by_on(None, pid)
}

/// `owned_by` on the engine `engine` (`docker -H`), or this machine's.
pub fn owned_by_on(engine: Option<&str>, pid: u32) -> (Vec<String>, Vec<String>) {
    let filter = format!("label=bulkhead.pid={pid}");
    let on = |args: &[&str]| {
        let mut all: Vec<&str> = engine.map(|e| vec!["-H", e]).unwrap_or_default();
        all.extend(args);
        docker(&all)
    };
    let containers = on(&["ps", "-aq", "--filter", &filter]);
    let networks = on(&["network", "ls", "-q", "--filter", &filter]);
    (containers, networks)
}

pub fn remove_owned_by(pid: u32) {
    for s in services_owned_by(pid) {
        let _ = Command::new("docker").args(["service", "rm", &s]).output();
    }
    let (containers, networks) = owned_by(pid);
    for c in containers {
        let _ = Command::new("docker").args(["rm", "-f", &c]).output();
    }
    for n in networks {
        let _ = Command::new("docker").args(["network", "rm", &n]).output();
    }
}

pub fn kill(signal: &str, pid: u32) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal} {pid}");
}

/// Poll for a few seconds until nothing of `pid`'s remains; what remains otherwise.
pub fn leftovers(pid: u32) -> (Vec<String>, Vec<String>) {
    let started = Instant::now();
    loop {
        let left = owned_by(pid);
        if (left.0.is_empty() && left.1.is_empty()) || started.elapsed() > Duration::from_secs(5) {
            return left;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A `bulkhead serve` child and what it printed: the URL, the token and the seats' codes.
pub struct Served {
    pub run: Run,
    pub url: String,
    pub token: String,
    pub codes: Vec<String>,
}

impl Served {
    pub fn start(args: &[&str]) -> Served {
        Served::launch(args, Run::spawn)
    }

    /// A server on the simulated lab (`--backend sim` is added): no Docker is asked anything.
    pub fn start_sim(args: &[&str]) -> Served {
        let args: Vec<&str> = ["--backend", "sim"].iter().chain(args).copied().collect();
        Served::launch(&args, Run::spawn_sim)
    }

    fn launch(args: &[&str], spawn: fn(Command, tempfile::TempDir) -> Run) -> Served {
        let dir = tempfile::tempdir().unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_bulkhead"));
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--records"])
            .arg(dir.path().join("records"))
            .args(args);
        let mut run = spawn(command, dir);
        run.wait_for("the server's announcement", Duration::from_secs(60), |r| {
            stdout(r).contains("records:")
        });
        let text = stdout(&run);
        let after = |prefix: &str| -> Vec<String> {
            text.lines()
                .filter_map(|l| l.strip_prefix(prefix))
                .map(str::to_owned)
                .collect()
        };
        let url = after("listening: ")[0]
            .split_whitespace()
            .next()
            .unwrap()
            .to_string();
        let token = after("facilitator: ")[0]
            .split("token=")
            .nth(1)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .to_string();
        let codes = text
            .lines()
            .filter(|l| l.starts_with("seat "))
            .map(|l| l.split("code ").nth(1).unwrap()[..8].to_string())
            .collect();
        Served {
            run,
            url,
            token,
            codes,
        }
    }

    pub fn records(&self) -> Vec<std::path::PathBuf> {
        std::fs::read_dir(self.run.dir.path().join("records"))
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default()
    }

    /// SIGTERM, and the exit code.
    pub fn stop(&mut self) -> Option<i32> {
        kill("TERM", self.run.pid());
        self.run.wait_exit(Duration::from_secs(60)).0
    }
}

pub fn stdout(run: &Run) -> String {
    std::fs::read_to_string(run.dir.path().join("stdout")).unwrap_or_default()
}

pub fn stderr(run: &Run) -> String {
    std::fs::read_to_string(run.dir.path().join("stderr")).unwrap_or_default()
}

/// A headless trainee on a served seat: `bulkhead run SCENARIO --join URL --code CODE
/// --defender DEFENDER --json`, its output in files (`stdout` ends with the score card).
pub fn joined_run(url: &str, code: &str, scenario: &str, defender: &str) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bulkhead"));
    command.args([
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
    Run::spawn_sim(command, tempfile::tempdir().unwrap())
}

/// Debian's browser and its WebDriver, as the browser tests find them on `PATH`.
pub const CHROMIUM: &str = "chromium";
pub const CHROMEDRIVER: &str = "chromedriver";

/// Where `name` is on `PATH`.
pub fn on_path(name: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Whether a real browser can be driven here (chromium and chromedriver on `PATH`). Where not,
/// the test skips loudly, or fails if `BULKHEAD_REQUIRE_BROWSER=1` (as CI sets), so that a
/// missing package cannot pass for a green page test.
pub fn browser_here(test: &str) -> bool {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|name| on_path(name).is_none())
        .collect();
    if missing.is_empty() {
        return true;
    }
    let why = format!("no {} on PATH", missing.join(" nor "));
    if std::env::var("BULKHEAD_REQUIRE_BROWSER").is_ok_and(|v| v == "1") {
        panic!(
            "{test}: BULKHEAD_REQUIRE_BROWSER=1 but {why} (Debian: apt-get install chromium chromium-driver)"
        );
    }
    bulkhead_labs::docker::announce_skip(
        test,
        &why,
        "This test did NOT run; install chromium and chromium-driver, or set BULKHEAD_REQUIRE_BROWSER=1 to make it fail instead",
    );
    false
}

/// A port nobody listens on now (the OS's pick; free again once this returns).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET /api/seats` with the token, through a plain socket (no HTTP client in this crate).
pub fn seats_json(url: &str, token: &str) -> serde_json::Value {
    facilitator_json(url, token, "/api/seats")
}

/// `GET <path>` with the facilitator's token; its JSON body (the answer must be a 200).
pub fn facilitator_json(url: &str, token: &str, path: &str) -> serde_json::Value {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let body = response.split("\r\n\r\n").nth(1).unwrap();
    serde_json::from_str(body).unwrap()
}

/// The address an attack step acted from, read off the record's effect lines: each seed plays
/// its own variant of a scenario, so a test learns the intruder's address the way a debrief
/// does, from what happened. `None` until an effect of `step` is recorded.
pub fn step_source(record: &str, step: &str) -> Option<String> {
    fn source_in(value: &serde_json::Value) -> Option<String> {
        match value {
            serde_json::Value::Object(fields) => match fields.get("source") {
                Some(serde_json::Value::String(source)) => Some(source.clone()),
                _ => fields.values().find_map(source_in),
            },
            _ => None,
        }
    }
    record.lines().find_map(|line| {
        let line: serde_json::Value = serde_json::from_str(line).ok()?;
        let is_step =
            line["kind"] == "effect" && line["effect"]["origin"]["attack"]["step"] == step;
        is_step
            .then(|| source_in(&line["effect"]["kind"]))
            .flatten()
    })
}
