//! Benchmarks of the engine's hot paths: detector throughput (observations per second on one
//! core), a whole 10-minute session on the simulated lab in virtual time, and a replay's worst
//! scrub (from the start to the end of a 10-minute record; `BULKHEAD_BENCH_RECORD=FILE` adds a
//! record of your own, e.g. one from a Docker lab).

use std::path::PathBuf;
use std::sync::Arc;

use bulkhead_engine::defender::Bot;
use bulkhead_engine::detector::{Detection, Detector};
use bulkhead_engine::format::{self, Loaded};
use bulkhead_engine::replay::Replay;
use bulkhead_engine::{
    MemoryRecord, Observation, Record, RecordLine, RecordWriter, Session, SimLab,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn load(id: &str) -> Loaded {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    format::load_scenario(&root.join(format!("scenarios/{id}.ron")), &root).expect("scenario loads")
}

/// The observations of one whole session, as the detector would see them.
fn observations(loaded: &Loaded) -> Vec<Observation> {
    let lab = SimLab::new(loaded.topology.clone(), &loaded.scenario, 1);
    let mut session = Session::new(
        loaded.scenario.clone(),
        loaded.topology.clone(),
        Box::new(lab),
        1,
        RecordWriter::discard(),
    );
    session.run(&mut Bot::default(), |_| {});
    session
        .record_lines()
        .iter()
        .filter_map(|l| match l {
            RecordLine::Observation(o) => Some(o.clone()),
            _ => None,
        })
        .collect()
}

fn detector(c: &mut Criterion) {
    let mut group = c.benchmark_group("detector");
    for id in [
        "stolen-credentials",
        "resource-exhaustion",
        "insider-access",
    ] {
        let loaded = load(id);
        let obs = observations(&loaded);
        let warmup_ms = loaded.scenario.live_start_ms();
        group.throughput(Throughput::Elements(obs.len() as u64));
        group.bench_function(id, |b| {
            let mut out: Vec<Detection> = Vec::with_capacity(64);
            b.iter(|| {
                let mut d = Detector::new(Arc::clone(&loaded.topology), &loaded.scenario);
                for o in &obs {
                    if o.t_ms >= warmup_ms && !d.is_detecting() {
                        d.start_detecting();
                    }
                    d.observe(o, &mut out);
                    out.clear();
                }
            });
        });
    }
    group.finish();
}

fn session(c: &mut Criterion) {
    let mut group = c.benchmark_group("session_10min_virtual");
    group.sample_size(20);
    for id in [
        "stolen-credentials",
        "resource-exhaustion",
        "insider-access",
    ] {
        let loaded = load(id);
        group.bench_function(id, |b| {
            b.iter(|| {
                let lab = SimLab::new(loaded.topology.clone(), &loaded.scenario, 7);
                let mut s = Session::new(
                    loaded.scenario.clone(),
                    loaded.topology.clone(),
                    Box::new(lab),
                    7,
                    RecordWriter::discard(),
                );
                s.run(&mut Bot::default(), |_| {})
            });
        });
    }
    group.finish();
}

/// A bot's 10-minute session on the simulated lab, as a record read back.
fn bot_record(loaded: &Loaded) -> Record {
    let memory = MemoryRecord::default();
    let lab = SimLab::new(loaded.topology.clone(), &loaded.scenario, 7);
    let mut s = Session::new(
        loaded.scenario.clone(),
        loaded.topology.clone(),
        Box::new(lab),
        7,
        memory.writer(),
    );
    s.run(&mut Bot::default(), |_| {});
    drop(s);
    Record::from_reader(&memory.bytes()[..], "memory").expect("the record reads back")
}

fn replay(c: &mut Criterion) {
    let mut group = c.benchmark_group("replay_scrub_start_to_end");
    group.sample_size(20);
    let mut records = vec![(
        "resource-exhaustion-sim".to_string(),
        bot_record(&load("resource-exhaustion")),
    )];
    if let Ok(path) = std::env::var("BULKHEAD_BENCH_RECORD") {
        let record =
            Record::read(std::path::Path::new(&path)).expect("BULKHEAD_BENCH_RECORD reads");
        records.push((
            format!("{}-{:?}", record.scenario.id, record.backend),
            record,
        ));
    }
    for (name, record) in records {
        let record = Arc::new(record);
        group.throughput(Throughput::Elements(record.lines.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut r = Replay::new(record.clone());
                r.advance_to(r.end_ms(), &mut Vec::new());
                r.now()
            });
        });
    }
    group.finish();
}

criterion_group!(benches, detector, session, replay);
criterion_main!(benches);
