//! Lab lifecycle benchmarks against the real Docker engine: lab ready time with the image
//! cached, teardown time, the warm image check (the embedded labd or a no-op cargo build,
//! hash, lookup), and one call to labd straight to its address or through pipe execs on its
//! engine (the path to a lab on another Swarm node), pooled or on a fresh connection.
//! Without a daemon they skip loudly. Run: `cargo bench -p bulkhead-labs --bench lifecycle`.
//! Cold image builds take minutes each: `cargo run --release -p bulkhead-labs --example
//! lab_figures -- --cold 1` measures those, and a running lab's memory.

use std::time::{Duration, Instant};

use bulkhead_labs::drive::Labd;
use bulkhead_labs::spec::LabOptions;
use bulkhead_labs::{docker, image, lab_down, lab_up};
use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};

fn lifecycle(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let Some(docker) = rt.block_on(docker::docker_or_skip("lifecycle bench")) else {
        return;
    };
    let image = rt
        .block_on(image::ensure_image(&docker, |_| {}))
        .expect("the lab image");
    let loaded =
        bulkhead_engine::format::resolve_scenario(&image::source_dir(), "stolen-credentials")
            .expect("the stolen-credentials scenario");
    let up = || {
        rt.block_on(lab_up::lab_up(
            &docker,
            &loaded.topology,
            &loaded.scenario,
            &LabOptions::default(),
            &image.reference,
        ))
        .expect("lab_up")
    };

    let mut group = c.benchmark_group("lab");
    // Each iteration is seconds of Docker work: few, flat samples.
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_secs(40));
    group.bench_function("up_company_image_cached", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let started = Instant::now();
                let lab = up();
                total += started.elapsed();
                rt.block_on(lab_down::lab_down(&docker, &lab))
                    .expect("lab_down");
            }
            total
        })
    });
    group.bench_function("down_company", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let lab = up();
                let started = Instant::now();
                rt.block_on(lab_down::lab_down(&docker, &lab))
                    .expect("lab_down");
                total += started.elapsed();
            }
            total
        })
    });
    group.finish();

    let mut group = c.benchmark_group("image");
    group.sample_size(10);
    group.bench_function("warm_check", |b| {
        b.iter(|| {
            rt.block_on(async {
                let labd = image::current_labd(&docker, &mut |_| {})
                    .await
                    .expect("labd");
                image::image_present(&docker, &image::content_hash(&labd.bytes, labd.arch))
                    .await
                    .expect("lookup")
            })
        })
    });
    group.finish();

    let lab = up();
    let gateway = lab.containers["gateway"]
        .address()
        .expect("the gateway's address");
    let direct = Labd::new();
    let pooled = Labd::through(docker.clone(), &lab.session);
    let mut group = c.benchmark_group("labd_call");
    group.sample_size(20);
    group.bench_function("direct", |b| {
        b.iter(|| assert!(rt.block_on(direct.healthy(gateway))))
    });
    group.bench_function("pipe_pooled", |b| {
        b.iter(|| assert!(rt.block_on(pooled.healthy(gateway))))
    });
    group.bench_function("pipe_new_connection", |b| {
        b.iter(|| {
            let fresh = Labd::through(docker.clone(), &lab.session);
            assert!(rt.block_on(fresh.healthy(gateway)))
        })
    });
    group.finish();
    rt.block_on(lab_down::lab_down(&docker, &lab))
        .expect("lab_down");
}

criterion_group!(benches, lifecycle);
criterion_main!(benches);
