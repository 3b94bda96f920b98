//! Measures the lab lifecycle on this machine and prints p50/p95: image check (cold and warm),
//! lab up (containers started) and ready (every service answering) with the image present,
//! teardown, the memory a running lab uses, and the floor: a plain `docker run -d` and
//! `docker rm -f` of one container of the same image, and a whole lab's networks and
//! containers made and removed at once by the Docker CLI.
//!
//! ```sh
//! cargo run --release -p bulkhead-labs --example lab_figures -- --runs 20 --cold 1
//! ```
//! `--runs N` up/down cycles (default 5); `--cold N` cold image builds, each a static `labd`
//! build into a fresh target dir plus an image load (default 0: takes minutes each);
//! `--scenario ID` (default stolen-credentials); `--swarm` places the labs on Docker Swarm
//! (this engine must be a manager whose node takes labs: `scripts/one-node-swarm.sh up`).

use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::query_parameters::{RemoveImageOptions, StatsOptionsBuilder};
use bulkhead_labs::spec::{LabOptions, Placement};
use bulkhead_labs::{docker, image, lab_down, lab_up};
use futures_util::StreamExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let runs: usize = value("--runs")
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
        .max(1);
    let cold: usize = value("--cold").and_then(|v| v.parse().ok()).unwrap_or(0);
    let scenario_id = value("--scenario").unwrap_or_else(|| "stolen-credentials".into());
    let options = LabOptions {
        placement: if args.iter().any(|a| a == "--swarm") {
            Placement::Swarm
        } else {
            Placement::Host
        },
        ..LabOptions::default()
    };

    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let docker = docker::connect().await?;
    let (version, api) = docker::api_version(&docker).await?;
    println!("Docker {version} (API {api}), {} cores", num_cpus());
    let root = image::source_dir();
    let loaded = bulkhead_engine::format::resolve_scenario(&root, &scenario_id)?;

    let mut cold_cargo = Vec::new();
    let mut cold_docker = Vec::new();
    for i in 0..cold {
        // A fresh target dir makes cargo build everything; removing the image makes it
        // load again.
        let dir = tempfile::tempdir()?;
        let current = image::ensure_image(&docker, |_| {}).await?;
        remove_image(&docker, &current.reference).await;
        let started = Instant::now();
        let built = cold_build(&docker, dir.path()).await?;
        println!(
            "cold build {}: cargo {:.1?}, docker load {:.1?}, total {:.1?}",
            i + 1,
            built.0,
            built.1,
            started.elapsed()
        );
        cold_cargo.push(built.0);
        cold_docker.push(built.1);
    }

    let image = image::ensure_image(&docker, |_| {}).await?;
    // What every later start pays: a no-op cargo build, hashing the binary, one lookup.
    let mut warm = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let labd = image::current_labd(&docker, &mut |_| {}).await?;
        let hash = image::content_hash(&labd.bytes, labd.arch);
        assert!(image::image_present(&docker, &hash).await?);
        warm.push(started.elapsed());
    }

    let mut up = Vec::new();
    let mut ready = Vec::new();
    let mut down = Vec::new();
    let mut memory = Vec::new();
    for i in 0..runs {
        let lab = lab_up::lab_up(
            &docker,
            &loaded.topology,
            &loaded.scenario,
            &options,
            &image.reference,
        )
        .await?;
        // Let the agents settle before reading memory.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mib = lab_memory_mib(&docker, &lab).await;
        let report = lab_down::lab_down(&docker, &lab).await?;
        println!(
            "run {}: up {}, ready {}, memory {mib:.1} MiB, down {} ({} containers, {} networks)",
            i + 1,
            ms(lab.up_in),
            ms(lab.ready_in),
            ms(report.took),
            report.containers.len(),
            report.networks.len()
        );
        up.push(lab.up_in);
        ready.push(lab.ready_in);
        down.push(report.took);
        memory.push(mib);
    }
    let (plain_run, plain_rm) = plain_docker_run(&image.reference, runs)?;
    let shape: Vec<Vec<String>> = loaded
        .topology
        .services
        .iter()
        .map(|s| s.zones.clone())
        .collect();
    let zones = loaded.topology.zones.len();
    let containers = shape.len();
    let (mut floor_up, mut floor_down) = plain_lab_floor(&image.reference, &shape, runs)?;

    println!(
        "\np50 / p95 over {runs} runs ({} topology, {} containers):",
        loaded.topology.id,
        loaded.topology.services.len()
    );
    if cold > 0 {
        println!(
            "  cold image: cargo {:.1?} + docker load {:.1?} (median over {cold})",
            median(&mut cold_cargo),
            median(&mut cold_docker)
        );
    }
    let row = |name: &str, values: &mut Vec<Duration>| {
        let (p50, p95) = p50_p95(values);
        println!("  {name:<46} {} / {}", ms(p50), ms(p95));
    };
    row("warm image check (labd, hash, lookup):", &mut warm);
    row("lab up (every container started):", &mut up);
    row("lab ready (every service answering):", &mut ready);
    row("lab teardown:", &mut down);
    row(
        "floor: plain `docker run -d`, one container:",
        &mut plain_run.clone(),
    );
    row(
        "floor: plain `docker rm -f`, one container:",
        &mut plain_rm.clone(),
    );
    row(
        &format!("floor: {zones} networks, {containers} containers at once:"),
        &mut floor_up,
    );
    row(
        &format!("floor: `docker rm -f` of those, {zones} network rm:"),
        &mut floor_down,
    );
    memory.sort_by(f64::total_cmp);
    println!(
        "  memory of a running lab:                       {:.1} MiB",
        memory[memory.len() / 2]
    );
    Ok(())
}

/// Build the image from nothing: static labd into `target_dir`, then the image load.
async fn cold_build(
    docker: &Docker,
    target_dir: &std::path::Path,
) -> Result<(Duration, Duration), Box<dyn std::error::Error>> {
    let source = image::source_dir();
    let arch = image::daemon_arch(docker).await?;
    let started = Instant::now();
    let binary = image::build_labd_into(&source, target_dir, arch, &mut |_| {}).await?;
    let cargo = started.elapsed();
    let bytes = std::fs::read(&binary)?;
    let started = Instant::now();
    image::load_image(docker, &bytes, arch).await?;
    Ok((cargo, started.elapsed()))
}

async fn remove_image(docker: &Docker, reference: &str) {
    let _ = docker
        .remove_image(reference, None::<RemoveImageOptions>, None)
        .await;
}

/// Memory in use by the lab's containers: usage minus page cache (cgroup v1), or minus
/// inactive file pages (cgroup v2), summed.
async fn lab_memory_mib(docker: &Docker, lab: &bulkhead_labs::RunningLab) -> f64 {
    let mut total = 0u64;
    for c in lab.containers.values() {
        let options = StatsOptionsBuilder::default()
            .stream(false)
            .one_shot(true)
            .build();
        if let Some(Ok(stats)) = docker.stats(&c.id, Some(options)).next().await
            && let Some(mem) = stats.memory_stats
        {
            let usage = mem.usage.unwrap_or(0);
            let stats = mem.stats.unwrap_or_default();
            let cache = stats
                .get("cache")
                .or_else(|| stats.get("inactive_file"))
                .copied()
                .unwrap_or(0);
            total += usage.saturating_sub(cache);
        }
    }
    total as f64 / (1024.0 * 1024.0)
}

/// The floor on this host: `docker run -d` (returns once the container started) and `docker rm
/// -f` of one container of the lab image, with no network, through the docker CLI.
fn plain_docker_run(
    image: &str,
    runs: usize,
) -> Result<(Vec<Duration>, Vec<Duration>), Box<dyn std::error::Error>> {
    let docker = |args: &[&str]| -> Result<(Duration, String), Box<dyn std::error::Error>> {
        let started = Instant::now();
        let out = std::process::Command::new("docker").args(args).output()?;
        if !out.status.success() {
            return Err(
                format!("docker {args:?}: {}", String::from_utf8_lossy(&out.stderr)).into(),
            );
        }
        Ok((
            started.elapsed(),
            String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        ))
    };
    let (mut run, mut rm) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        // The traffic role idles without a gateway to talk to: a long-running container.
        let (took, id) = docker(&[
            "run",
            "-d",
            "--network",
            "none",
            "-e",
            "LABD_GATEWAY=10.0.0.1",
            image,
            "traffic",
        ])?;
        run.push(took);
        rm.push(docker(&["rm", "-f", &id])?.0);
    }
    Ok((run, rm))
}

/// The floor for a whole lab, in the lab's own shape, through the Docker CLI with no range code
/// involved: one internal network per zone, created at once; then per service, at once, `docker
/// create` on its first zone, `docker network connect` to the others, `docker start`. Teardown:
/// one `docker rm -f` of them all, then every network removed at once.
fn plain_lab_floor(
    image: &str,
    shape: &[Vec<String>],
    runs: usize,
) -> Result<(Vec<Duration>, Vec<Duration>), Box<dyn std::error::Error>> {
    let mut zones: Vec<&String> = shape.iter().flatten().collect();
    zones.sort();
    zones.dedup();
    let net = |zone: &str| format!("floor-{}-{zone}", std::process::id());
    let start_service = |service_zones: &Vec<String>| -> Result<String, String> {
        let first = net(&service_zones[0]);
        let id = cli(&[
            "create",
            "--network",
            &first,
            "-e",
            "LABD_GATEWAY=10.0.0.1",
            image,
            "traffic",
        ])?;
        for zone in &service_zones[1..] {
            cli(&["network", "connect", &net(zone), &id])?;
        }
        cli(&["start", &id])?;
        Ok(id)
    };
    let (mut up, mut down) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let started = Instant::now();
        let created = at_once(&zones, |z| {
            cli(&["network", "create", "--internal", &net(z)])
        });
        let ids = at_once(shape, start_service);
        up.push(started.elapsed());
        let ids: Vec<String> = ids.into_iter().filter_map(Result::ok).collect();
        let started = Instant::now();
        let mut rm = vec!["rm", "-f"];
        rm.extend(ids.iter().map(String::as_str));
        let removed = cli(&rm);
        at_once(&zones, |z| cli(&["network", "rm", &net(z)]));
        down.push(started.elapsed());
        removed?;
        if let Some(Err(e)) = created.into_iter().find(Result::is_err) {
            return Err(e.into());
        }
        if ids.len() < shape.len() {
            return Err(format!("only {} of {} containers started", ids.len(), shape.len()).into());
        }
    }
    Ok((up, down))
}

/// One docker CLI command: its trimmed stdout, or what it said on failure.
fn cli(args: &[&str]) -> Result<String, String> {
    let out = std::process::Command::new("docker")
        .args(args)
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "docker {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// `work` on every item at once, one thread each; results in the items' order.
fn at_once<T: Sync>(
    items: &[T],
    work: impl Fn(&T) -> Result<String, String> + Sync,
) -> Vec<Result<String, String>> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .iter()
            .map(|item| scope.spawn(|| work(item)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("a thread panicked".into())))
            .collect()
    })
}

fn p50_p95(values: &mut [Duration]) -> (Duration, Duration) {
    values.sort();
    let at = |q: f64| values[((values.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.95))
}

fn median(values: &mut [Duration]) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
