//! Measures detection latency on a real lab: wall time from an attack step to its alert, for a
//! log-based detection (a login from a never-seen source) and a metric-based one (a CPU hog).
//! Run: `cargo run --release -p bulkhead-labs --example latency` (needs Docker).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bulkhead_engine::detector::{Detection, Detector};
use bulkhead_engine::format;
use bulkhead_engine::{Action, Effect, EffectKind, Lab, LabOutput, Origin};
use bulkhead_labs::LabOptions;
use bulkhead_labs::docker_lab::DockerLab;

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
    fn until_alert(&mut self, rule: &str, limit: Duration) -> Option<Duration> {
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
                return Some(started.elapsed());
            }
        }
        None
    }

    fn idle(&mut self, d: Duration) {
        let _ = self.until_alert("never", d);
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let loaded = format::load_scenario(&root.join("scenarios/stolen-credentials.ron"), &root)
        .expect("scenario");
    let lab = DockerLab::start(
        Arc::clone(&loaded.topology),
        &loaded.scenario,
        &LabOptions::default(),
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
            },
        );
        rig.idle(Duration::from_millis(500));
    }
    rig.idle(Duration::from_secs(18));
    rig.detector.start_detecting();

    let mut logs = Vec::new();
    for k in 0..7 {
        let source = format!("198.51.100.{}", 30 + k);
        rig.apply(
            Origin::Attack {
                step: "login".into(),
            },
            Action::Login {
                identity: "alice".into(),
                source,
            },
        );
        match rig.until_alert("novelty.source", Duration::from_secs(5)) {
            Some(d) => logs.push(d),
            None => eprintln!("login {k}: no alert within 5 s"),
        }
        rig.idle(Duration::from_millis(300));
    }

    rig.apply(
        Origin::Attack { step: "hog".into() },
        Action::Hog {
            service: "tenant-a".into(),
            cpu_workers: 2,
            memory_mib: 0,
            threads: 0,
            seconds: 20,
        },
    );
    let metric = rig.until_alert("anomaly.cpu", Duration::from_secs(15));
    if !logs.is_empty() {
        let ms: Vec<u128> = logs.iter().map(Duration::as_millis).collect();
        println!(
            "log-based detection latency: median {} ms over {} runs ({ms:?} ms)",
            median(logs).as_millis(),
            ms.len()
        );
    }
    match metric {
        Some(d) => println!("metric-based detection latency: {} ms", d.as_millis()),
        None => println!("metric-based detection: no alert within 15 s"),
    }
    let _ = rig.lab.shutdown();
}
