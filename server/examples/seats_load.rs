//! Load figures for `bulkhead serve` on the simulated lab, over loopback WebSockets: how many
//! seats one host holds with each alert reaching its client within 250 ms of the tick that
//! raised it, the round trip of a command (to its answer, and to its confirmed effect in a
//! view), and the views each client receives per second.
//!
//! `cargo run --release -p bulkhead-server --example seats_load -- SEATS TIME_SCALE SECONDS
//! [sim|docker]` (defaults 50 4 75 sim). On the simulated lab the clock runs at TIME_SCALE
//! times real time, so a run at 4 is four times the tick rate of a workshop at real time: a
//! stricter load than the target's. On Docker every seat is a real lab (7 containers), and
//! an alert's latency includes the telemetry's lag.

use std::collections::BTreeSet;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bulkhead_engine::action::Mitigation;
use bulkhead_engine::session::TICK_MS;
use bulkhead_engine::{Backend, Command, Loaded, Phase, SimLab};
use bulkhead_host::remote;
use bulkhead_host::{ClientMsg, LabFactory, Pace, Records, SeatConfig, ServerMsg};
use bulkhead_server::ServerConfig;

/// What one client measured.
#[derive(Default)]
struct Measured {
    alert_latency_ms: Vec<f64>,
    answer_ms: Vec<f64>,
    confirmed_ms: Vec<f64>,
    views: usize,
    view_seconds: f64,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: f64| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (seats, scale, seconds) = (arg(0, 50.0) as u32, arg(1, 4.0), arg(2, 75.0));
    let docker = args.get(3).is_some_and(|a| a == "docker");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let loaded = bulkhead_engine::format::resolve_scenario(&root, "stolen-credentials")
        .expect("the shipped scenario loads");
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let running = runtime
        .block_on(bulkhead_server::start(server_config(
            seats, scale, loaded, docker,
        )))
        .expect("the server starts");
    let url = format!("http://{}", running.addr);
    let codes = running.codes();
    let clients: Vec<_> = codes
        .into_iter()
        .map(|(seat, code)| {
            let url = url.clone();
            std::thread::spawn(move || {
                play(&url, &code, seat, scale, Duration::from_secs_f64(seconds))
            })
        })
        .collect();
    let all: Vec<Measured> = clients
        .into_iter()
        .map(|c| c.join().expect("a client"))
        .collect();
    runtime.block_on(running.stop());
    report(
        seats,
        scale,
        seconds,
        if docker { "docker" } else { "sim" },
        &all,
    );
}

fn server_config(seats: u32, scale: f64, loaded: Loaded, docker: bool) -> ServerConfig {
    let catalogue = Arc::new(vec![loaded]);
    let make_lab: LabFactory = if docker {
        Arc::new(move |loaded: &Loaded, _| {
            let options = bulkhead_labs::LabOptions {
                time_scale: scale,
                ..Default::default()
            };
            bulkhead_labs::docker_lab::DockerLab::start(
                loaded.topology.clone(),
                &loaded.scenario,
                &options,
                |_| {},
            )
            .map(|lab| Box::new(lab) as _)
            .map_err(|e| e.to_string())
        })
    } else {
        Arc::new(|loaded: &Loaded, seed| {
            Ok(Box::new(SimLab::new(loaded.topology.clone(), &loaded.scenario, seed)) as _)
        })
    };
    let backend = if docker {
        Backend::Docker
    } else {
        Backend::Sim
    };
    ServerConfig {
        listen: "127.0.0.1:0".parse().expect("an address"),
        workshop: "load".into(),
        seats: (1..=seats)
            .map(|seat| SeatConfig {
                seat,
                workshop: "load".into(),
                backend,
                catalogue: catalogue.clone(),
                make_lab: make_lab.clone(),
                seed: Some(u64::from(seat)),
                // A Docker lab keeps its own (scaled) clock.
                time_scale: if docker { 0.0 } else { scale },
                stop_at: None,
                // As `bulkhead serve` publishes.
                publish_every: Duration::from_millis(100),
                records: Records::None,
                idle_timeout: None,
            })
            .collect(),
        joins_per_minute: NonZeroU32::new(10_000).expect("non-zero"),
        nodes: None,
    }
}

/// One trainee: join, begin, watch views; in the live phase, block and unblock an unused
/// address every two seconds and time the answers and confirmations.
fn play(url: &str, code: &str, seat: u32, scale: f64, length: Duration) -> Measured {
    let conn = remote::connect(url, code, &format!("load {seat}")).expect("joins");
    let send = |msg| conn.send(msg).expect("the seat is there");
    send(ClientMsg::Open {
        scenario: "stolen-credentials".into(),
        pace: Pace::Clocked,
    });
    let mut m = Measured::default();
    let mut seen = BTreeSet::new();
    // Wall instant and session time of the first live-clock view: the session-to-wall mapping.
    let mut anchor: Option<(Instant, u64)> = None;
    let mut sent: Option<(Instant, usize, bool)> = None;
    let mut next_command = Instant::now();
    let started = Instant::now();
    let mut block = true;
    while started.elapsed() < length {
        let Ok(Some(msg)) = conn.recv_timeout(Duration::from_millis(50)) else {
            continue;
        };
        let arrived = Instant::now();
        match msg {
            ServerMsg::LabReady { .. } => send(ClientMsg::Begin),
            ServerMsg::Answer { .. } => {
                if let Some((at, _, false)) = sent.as_mut().map(|s| (s.0, s.1, s.2)) {
                    m.answer_ms.push(ms(arrived - at));
                    if let Some(s) = sent.as_mut() {
                        s.2 = true;
                    }
                }
            }
            ServerMsg::View(view) => {
                m.views += 1;
                let (wall0, t0) = *anchor.get_or_insert((arrived, view.now_ms));
                for entry in &view.alerts {
                    if seen.insert(entry.alert.id) && entry.alert.t_ms >= t0 {
                        // The tick that raised it ended at the next tick boundary.
                        let raised = entry.alert.t_ms.div_ceil(TICK_MS) * TICK_MS;
                        let due =
                            wall0 + Duration::from_secs_f64((raised - t0) as f64 / 1000.0 / scale);
                        m.alert_latency_ms
                            .push(ms(arrived.saturating_duration_since(due)));
                    }
                }
                if let Some((at, count, _)) = sent
                    && view.mitigations.len() > count
                    && view.mitigations.last().is_some_and(|e| e.result.is_some())
                {
                    m.confirmed_ms.push(ms(arrived - at));
                    sent = None;
                }
                if view.phase == Phase::Live && sent.is_none() && arrived >= next_command {
                    let source = "203.0.113.250".to_string();
                    let mitigation = if block {
                        Mitigation::Block { source }
                    } else {
                        Mitigation::Unblock { source }
                    };
                    block = !block;
                    sent = Some((Instant::now(), view.mitigations.len(), false));
                    send(ClientMsg::Command(Command::Mitigate(mitigation)));
                    next_command = arrived + Duration::from_secs(2);
                }
            }
            _ => {}
        }
    }
    m.view_seconds = anchor.map_or(0.0, |(wall0, _)| wall0.elapsed().as_secs_f64());
    m
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentiles(mut values: Vec<f64>) -> String {
    if values.is_empty() {
        return "none".into();
    }
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    format!(
        "n {}, p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms",
        values.len(),
        at(0.5),
        at(0.95),
        at(1.0)
    )
}

fn report(seats: u32, scale: f64, seconds: f64, backend: &str, all: &[Measured]) {
    let gather = |f: fn(&Measured) -> &Vec<f64>| {
        all.iter()
            .flat_map(|m| f(m).iter().copied())
            .collect::<Vec<_>>()
    };
    println!("{seats} seats, clock at {scale}x real time, {seconds} s, {backend}");
    println!(
        "alert latency (tick raised -> client): {}",
        percentiles(gather(|m| &m.alert_latency_ms))
    );
    println!(
        "command -> answer: {}",
        percentiles(gather(|m| &m.answer_ms))
    );
    println!(
        "command -> confirmed effect in a view: {}",
        percentiles(gather(|m| &m.confirmed_ms))
    );
    let rates: Vec<f64> = all
        .iter()
        .filter(|m| m.view_seconds > 0.0)
        .map(|m| m.views as f64 / m.view_seconds)
        .collect();
    let mean = rates.iter().sum::<f64>() / rates.len().max(1) as f64;
    println!(
        "views per client per second: mean {mean:.1} ({} clients)",
        rates.len()
    );
}
