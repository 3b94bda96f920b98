//! Measures detection latency on a real lab, p50/p95 over runs: a log-based detection (a
//! login from a never-seen source, timed from the order to the alert) and a metric-based one
//! (a CPU hog, timed from the moment the hog started in its container, read from the worker's
//! own `job` line, to the alert; and from the order, which adds the `docker exec` that starts
//! it).
//!
//! ```sh
//! cargo run --release -p bulkhead-labs --example latency -- --runs 10
//! ```
//! Needs Docker; `--swarm` places the lab on Docker Swarm (`scripts/one-node-swarm.sh up`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bulkhead_engine::detector::{Detection, Detector};
use bulkhead_engine::format;
use bulkhead_engine::{Action, Effect, EffectKind, Lab, LabOutput, Origin};
use bulkhead_labs::docker_lab::DockerLab;
use bulkhead_labs::telemetry::unix_ms_now;
use bulkhead_labs::{LabOptions, Placement};

struct Rig {
    lab: DockerLab,
    detector: Detector,
    now: u64,
    next: u64,
    out: Vec<LabOutput>,
    alerts: Vec<Detection>,
    /// Alert ids per rule: repeats of the same rule and entity are grouped into one alert.
    ids: Vec<(u32, String)>,
}

impl Rig {
    fn apply(&mut self, origin: Origin, action: Action) {
        self.next += 1;
        let effect = Effect {
            id: self.next,
            origin,
            kind: EffectKind::Act(action),
        };
        self.lab.apply(self.now, &effect);
    }

    /// Advance in 10 ms steps, feeding the detector, until `rule` fires or `limit` passes.
    /// Returns the time waited and the alert's wall time (Unix ms).
    fn until_alert(&mut self, rule: &str, limit: Duration) -> Option<(Duration, u64)> {
        let started = Instant::now();
        while started.elapsed() < limit {
            self.now += 10;
            self.lab.advance(self.now, &mut self.out);
            for o in self.out.drain(..) {
                if let LabOutput::Observation(obs) = o {
                    self.detector.observe(&obs, &mut self.alerts);
                }
            }
            let mut fired = false;
            for d in self.alerts.drain(..) {
                match d {
                    Detection::New(a) => {
                        fired |= a.rule == rule;
                        self.ids.push((a.id, a.rule.clone()));
                    }
                    Detection::Repeat { alert, .. } => {
                        fired |= self.ids.iter().any(|(id, r)| *id == alert && r == rule);
                    }
                }
            }
            if fired {
                return Some((started.elapsed(), unix_ms_now()));
            }
        }
        None
    }

    fn idle(&mut self, d: Duration) {
        let _ = self.until_alert("never", d);
    }
}

/// `p50 … ms, p95 … ms over N` of a list of durations.
fn percentiles(mut v: Vec<Duration>) -> String {
    if v.is_empty() {
        return "no samples".into();
    }
    v.sort();
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize].as_millis();
    format!("p50 {} ms, p95 {} ms over {}", at(0.5), at(0.95), v.len())
}

/// Unix ms of every `hog` job the worker container logged as started, in order.
fn hog_starts(lab: &DockerLab, service: &str) -> Vec<u64> {
    let Some(container) = lab.running().containers.get(service) else {
        return Vec::new();
    };
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let logs = runtime.block_on(async {
        let docker = bulkhead_labs::docker::connect().await.expect("Docker");
        bulkhead_labs::lab_up::logs_tail(&docker, &container.id, 100_000).await
    });
    logs.lines()
        .filter_map(|l| {
            serde_json::from_str::<serde_json::Value>(l.trim_start_matches("  | ")).ok()
        })
        .filter(|v| v["event"] == "job" && v["job"] == "hog" && v["state"] == "started")
        .filter_map(|v| v["ts_ms"].as_u64())
        .collect()
}

fn main() {
    let runs: usize = std::env::args()
        .skip_while(|a| a != "--runs")
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(10)
        .max(1);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let loaded = format::load_scenario(&root.join("scenarios/stolen-credentials.ron"), &root)
        .expect("scenario");
    let options = LabOptions {
        placement: if std::env::args().any(|a| a == "--swarm") {
            Placement::Swarm
        } else {
            Placement::Host
        },
        ..LabOptions::default()
    };
    let lab = DockerLab::start(
        Arc::clone(&loaded.topology),
        &loaded.scenario,
        &options,
        |m| eprintln!("{m}"),
    )
    .expect("a Docker lab");
    let detector = Detector::new(Arc::clone(&loaded.topology), &loaded.scenario);
    let mut rig = Rig {
        lab,
        detector,
        now: 0,
        next: 0,
        out: Vec::new(),
        alerts: Vec::new(),
        ids: Vec::new(),
    };

    // Learn: a few ordinary logins and twenty seconds of metrics.
    for _ in 0..5 {
        rig.apply(
            Origin::Benign,
            Action::Login {
                identity: "alice".into(),
                source: "10.20.0.11".into(),
                via: None,
            },
        );
        rig.idle(Duration::from_millis(500));
    }
    rig.idle(Duration::from_secs(18));
    rig.detector.start_detecting();

    let mut logs = Vec::new();
    for k in 0..runs {
        let source = format!("198.51.100.{}", 30 + k);
        rig.apply(
            Origin::Attack {
                step: "login".into(),
            },
            Action::Login {
                identity: "alice".into(),
                source,
                via: None,
            },
        );
        match rig.until_alert("novelty.source", Duration::from_secs(5)) {
            Some((d, _)) => logs.push(d),
            None => eprintln!("login {k}: no alert within 5 s"),
        }
        rig.idle(Duration::from_millis(300));
    }

    // Hogs of four seconds, each after the last has ended and the CPU is back to normal.
    let (mut ordered, mut alerted_at) = (Vec::new(), Vec::new());
    for k in 0..runs {
        rig.apply(
            Origin::Attack { step: "hog".into() },
            Action::Hog {
                service: "tenant-a".into(),
                cpu_workers: 2,
                memory_mib: 0,
                threads: 0,
                seconds: 4,
            },
        );
        match rig.until_alert("anomaly.cpu", Duration::from_secs(10)) {
            Some((d, at)) => {
                ordered.push(d);
                alerted_at.push(Some(at));
            }
            None => {
                eprintln!("hog {k}: no alert within 10 s");
                alerted_at.push(None);
            }
        }
        rig.idle(Duration::from_secs(6));
    }
    let started = hog_starts(&rig.lab, "tenant-a");
    let from_start: Vec<Duration> = started
        .iter()
        .zip(&alerted_at)
        .filter_map(|(start, at)| Some(Duration::from_millis(at.as_ref()?.saturating_sub(*start))))
        .collect();
    println!("log-based alert, from the order: {}", percentiles(logs));
    println!(
        "metric-based alert (CPU hog), from its start in the container: {}",
        percentiles(from_start)
    );
    println!(
        "metric-based alert (CPU hog), from the order (docker exec included): {}",
        percentiles(ordered)
    );
    let _ = rig.lab.shutdown();
}
