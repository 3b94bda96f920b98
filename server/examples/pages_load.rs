//! Fan-out figures for the workshop pages: SEATS simulated-lab seats whose sessions run on the
//! clock, VIEWERS scoreboard streams open over loopback, and the facilitator starting the
//! seats one after another. For each start, how long until every viewer's stream shows that
//! seat's row in its warm-up (from the facilitator's action to a browser-visible change), the
//! bytes each viewer received per second, and the server's memory per seat.
//!
//! `cargo run --release -p bulkhead-server --example pages_load -- SEATS VIEWERS
//! [TIME_SCALE]` (defaults 30 200 1). The viewers run in this process on their own runtime
//! and threads: their parsing competes with the server for the same two cores, a stricter
//! load than browsers on other machines.

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bulkhead_engine::{Backend, Loaded, SimLab};
use bulkhead_host::{LabFactory, Records, SeatConfig};
use bulkhead_server::ServerConfig;

/// When each viewer first saw each seat in its warm-up.
type Seen = Arc<Mutex<Vec<Vec<Option<Instant>>>>>;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: f64| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (seats, viewers, scale) = (arg(0, 30.0) as u32, arg(1, 200.0) as usize, arg(2, 1.0));
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let loaded = bulkhead_engine::format::resolve_scenario(&root, "stolen-credentials")
        .expect("the shipped scenario loads");
    let rss_before = rss_kib();
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let running = server_rt
        .block_on(bulkhead_server::start(config(seats, scale, loaded)))
        .expect("the server starts");
    let url = format!("http://{}", running.addr);
    let token = running.facilitator_token().to_string();

    let viewer_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    let seen: Seen = Arc::new(Mutex::new(vec![vec![None; seats as usize + 1]; viewers]));
    let bytes = Arc::new(Mutex::new(vec![0usize; viewers]));
    for viewer in 0..viewers {
        viewer_rt.spawn(watch(url.clone(), viewer, seen.clone(), bytes.clone()));
    }
    std::thread::sleep(Duration::from_secs(2));
    let client = client();
    let mut started_at = vec![None; seats as usize + 1];
    let watch_from = Instant::now();
    for seat in 1..=seats {
        started_at[seat as usize] = Some(Instant::now());
        let status = viewer_rt.block_on(async {
            client
                .post(format!("{url}/facilitator/seats/{seat}/start"))
                .bearer_auth(&token)
                .send()
                .await
                .map(|r| r.status().as_u16())
        });
        assert_eq!(status.ok(), Some(200), "seat {seat} starts");
        std::thread::sleep(Duration::from_millis(500));
    }
    std::thread::sleep(Duration::from_secs(3));
    let watched = watch_from.elapsed().as_secs_f64();
    let rss_running = rss_kib();
    let latencies = latencies(&seen.lock().expect("viewers"), &started_at);
    let received: usize = bytes.lock().expect("viewers").iter().sum();
    server_rt.block_on(running.stop());
    println!("pages_load: {seats} seats at {scale}x, {viewers} scoreboard viewers");
    println!(
        "start to every viewer seeing the seat's warm-up: {} (missed {})",
        percentiles(latencies.0),
        latencies.1
    );
    println!(
        "per viewer: {:.1} kB/s of stream",
        received as f64 / viewers as f64 / watched / 1000.0
    );
    println!(
        "memory: {:.0} MiB before, {:.0} MiB with every seat running and every viewer open ({:.2} MiB per seat, viewers included)",
        rss_before as f64 / 1024.0,
        rss_running as f64 / 1024.0,
        (rss_running.saturating_sub(rss_before)) as f64 / 1024.0 / f64::from(seats)
    );
}

fn config(seats: u32, scale: f64, loaded: Loaded) -> ServerConfig {
    let catalogue = Arc::new(vec![loaded]);
    let make_lab: LabFactory = Arc::new(|loaded: &Loaded, seed| {
        Ok(Box::new(SimLab::new(loaded.topology.clone(), &loaded.scenario, seed)) as _)
    });
    ServerConfig {
        listen: "127.0.0.1:0".parse().expect("an address"),
        workshop: "load".into(),
        seats: (1..=seats)
            .map(|seat| SeatConfig {
                seat,
                workshop: "load".into(),
                backend: Backend::Sim,
                catalogue: catalogue.clone(),
                make_lab: make_lab.clone(),
                seed: Some(u64::from(seat)),
                time_scale: scale,
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

/// One scoreboard viewer: read its stream, note when each seat first shows its warm-up.
async fn watch(url: String, viewer: usize, seen: Seen, bytes: Arc<Mutex<Vec<usize>>>) {
    let client = client();
    let Ok(mut response) = client.get(format!("{url}/scoreboard/events")).send().await else {
        return;
    };
    while let Ok(Some(chunk)) = response.chunk().await {
        let at = Instant::now();
        let text = String::from_utf8_lossy(&chunk);
        bytes.lock().expect("viewers")[viewer] += chunk.len();
        // A row: `<tr data-seat="N">...<td class="phase">Warm-up`.
        for row in text.split("<tr data-seat=\"").skip(1) {
            let Some((seat, rest)) = row.split_once('"') else {
                continue;
            };
            let Ok(seat) = seat.parse::<usize>() else {
                continue;
            };
            let phase = rest.split("</tr>").next().unwrap_or_default();
            if phase.contains(">Warm-up") {
                let mut seen = seen.lock().expect("viewers");
                if let Some(slot) = seen[viewer].get_mut(seat)
                    && slot.is_none()
                {
                    *slot = Some(at);
                }
            }
        }
    }
}

/// Milliseconds from each start to each viewer seeing it, and how many were never seen.
fn latencies(seen: &[Vec<Option<Instant>>], started: &[Option<Instant>]) -> (Vec<f64>, usize) {
    let mut values = Vec::new();
    let mut missed = 0;
    for viewer in seen {
        for (seat, start) in started.iter().enumerate() {
            let Some(start) = start else { continue };
            match viewer[seat] {
                Some(at) => values.push(at.duration_since(*start).as_secs_f64() * 1000.0),
                None => missed += 1,
            }
        }
    }
    (values, missed)
}

fn percentiles(mut values: Vec<f64>) -> String {
    if values.is_empty() {
        return "none".into();
    }
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    format!(
        "n {}, p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms",
        values.len(),
        at(0.5),
        at(0.95),
        values[values.len() - 1]
    )
}

/// This process's resident memory, in KiB (Linux).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().build().expect("a client")
}
