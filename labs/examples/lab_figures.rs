//! Measures the lab lifecycle on this machine and prints medians: image build (cold and warm),
//! lab ready time with the image cached, time until Docker itself reports every container
//! healthy, teardown time, and the memory a running lab uses.
//!
//! ```sh
//! cargo run --release -p bulkhead-labs --example lab_figures -- --runs 5 --cold 1
//! ```
//! `--runs N` up/down cycles (default 5); `--cold N` cold image builds, each a static `labd`
//! build into a fresh target dir plus a Docker build (default 0: takes minutes each);
//! `--scenario ID` (default stolen-credentials).

use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::query_parameters::{RemoveImageOptions, StatsOptionsBuilder};
use bulkhead_labs::spec::LabOptions;
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

    let mut ready = Vec::new();
    let mut docker_healthy = Vec::new();
    let mut down = Vec::new();
    let mut memory = Vec::new();
    for i in 0..runs {
        let lab = lab_up::lab_up(
            &docker,
            &loaded.topology,
            &loaded.scenario,
            &LabOptions::default(),
            &image.reference,
        )
        .await?;
        let healthy_after =
            lab_up::wait_docker_healthy(&docker, &lab, Duration::from_secs(30)).await?;
        // Let the agents settle before reading memory.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mib = lab_memory_mib(&docker, &lab).await;
        let report = lab_down::lab_down(&docker, &lab).await?;
        println!(
            "run {}: ready {}, Docker healthy {} later, memory {mib:.1} MiB, down {} ({} containers, {} networks)",
            i + 1,
            ms(lab.ready_in),
            ms(healthy_after),
            ms(report.took),
            report.containers.len(),
            report.networks.len()
        );
        ready.push(lab.ready_in);
        docker_healthy.push(lab.ready_in + healthy_after);
        down.push(report.took);
        memory.push(mib);
    }

    println!(
        "\nmedians over {runs} runs ({} topology, {} containers):",
        loaded.topology.id,
        loaded.topology.services.len()
    );
    if cold > 0 {
        println!(
            "  cold image build: cargo {:.1?} + docker load {:.1?} (over {cold})",
            median(&mut cold_cargo),
            median(&mut cold_docker)
        );
    }
    println!(
        "  warm image check (no-op cargo, hash, lookup):  {}",
        ms(median(&mut warm))
    );
    println!(
        "  lab ready (image cached):                      {}",
        ms(median(&mut ready))
    );
    println!(
        "  until Docker reports all healthy:              {}",
        ms(median(&mut docker_healthy))
    );
    println!(
        "  teardown:                                      {}",
        ms(median(&mut down))
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
