//! The long fuzz run of the engine's parsers of outside input: a million generated or mutated
//! inputs (by default) per parser, each run under `catch_unwind`, with a line per parser of
//! inputs, panics, wrong answers and inputs per second. It stops by itself: after the count,
//! or after the time limit per parser, whichever comes first. Exits 1 if anything failed.
//!
//! `cargo run --release -p bulkhead-engine --example fuzz_parsers -- [--inputs N] [--seconds S] [--seed X]`
//! (scripts/fuzz-parsers runs it with the labs' equivalent).

#[path = "common/mutate.rs"]
mod mutate;
#[path = "common/targets.rs"]
mod targets;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use mutate::Rng;
use targets::Corpus;

struct Args {
    inputs: u64,
    seconds: u64,
    seed: u64,
}

fn args() -> Args {
    let mut a = Args {
        inputs: 1_000_000,
        seconds: 600,
        seed: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .and_then(|v| v.replace('_', "").parse::<u64>().ok());
        match (flag.as_str(), value) {
            ("--inputs", Some(v)) => a.inputs = v,
            ("--seconds", Some(v)) => a.seconds = v,
            ("--seed", Some(v)) => a.seed = v,
            _ => {
                eprintln!("usage: fuzz_parsers [--inputs N] [--seconds S] [--seed X]");
                std::process::exit(2);
            }
        }
    }
    a
}

/// What one parser's run came to.
#[derive(Default)]
pub struct Tally {
    inputs: u64,
    accepted: u64,
    panics: u64,
    wrong: u64,
    elapsed: Duration,
}

/// Feed `parser` inputs from `make` until the count or the time is up. Panics and wrong answers
/// are counted, and the first of each is saved under target/fuzz-failures/ to replay.
fn run(
    name: &str,
    args: &Args,
    mut make: impl FnMut(&mut Rng) -> Vec<u8>,
    parser: impl Fn(&[u8]) -> Result<bool, String>,
) -> Tally {
    let mut rng = Rng::new(args.seed ^ name.len() as u64);
    let mut t = Tally::default();
    let started = Instant::now();
    let limit = Duration::from_secs(args.seconds);
    while t.inputs < args.inputs {
        // Checking the clock every input would cost more than some parsers.
        if t.inputs.is_multiple_of(1024) && started.elapsed() > limit {
            break;
        }
        let input = make(&mut rng);
        t.inputs += 1;
        match catch_unwind(AssertUnwindSafe(|| parser(&input))) {
            Ok(Ok(true)) => t.accepted += 1,
            Ok(Ok(false)) => {}
            Ok(Err(why)) => {
                t.wrong += 1;
                if t.wrong == 1 {
                    save(name, "wrong", &input);
                    eprintln!("{name}: wrong answer: {why}");
                }
            }
            Err(_) => {
                t.panics += 1;
                if t.panics == 1 {
                    save(name, "panic", &input);
                }
            }
        }
    }
    t.elapsed = started.elapsed();
    t
}

fn save(name: &str, what: &str, input: &[u8]) {
    let dir = targets::root().join("target/fuzz-failures");
    let path = dir.join(format!("{name}-{what}.bin"));
    if std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&path, input))
        .is_ok()
    {
        eprintln!("{name}: first {what} input saved to {}", path.display());
    }
}

pub fn report(name: &str, t: &Tally) {
    println!(
        "{name:<22} {:>9} inputs {:>8} accepted {:>4} panics {:>4} wrong {:>10.0} inputs/s",
        t.inputs,
        t.accepted,
        t.panics,
        t.wrong,
        t.inputs as f64 / t.elapsed.as_secs_f64().max(1e-9)
    );
}

fn main() {
    let args = args();
    // Panics are counted, not printed a million times; the first input is saved instead.
    std::panic::set_hook(Box::new(|_| {}));
    let corpus = Corpus::load();
    let topology = corpus.topology.clone();
    let mut failed = false;
    let mut one = |name: &str, t: Tally| {
        report(name, &t);
        failed |= t.panics > 0 || t.wrong > 0;
    };
    one(
        "topology file",
        run(
            "topology",
            &args,
            |r| mutate::input(&corpus.topologies, r),
            targets::topology,
        ),
    );
    one(
        "scenario file",
        run(
            "scenario",
            &args,
            |r| mutate::input(&corpus.scenarios, r),
            |b| targets::scenario(b, &topology),
        ),
    );
    // One value changed at a time: well-formed files that say something wrong.
    one(
        "scenario validator",
        run(
            "validator",
            &args,
            |r| {
                let mut s = r.pick(&corpus.scenarios).clone();
                mutate::mutate_once(&mut s, r);
                s
            },
            |b| targets::scenario(b, &topology),
        ),
    );
    one(
        "defender file",
        run(
            "defender",
            &args,
            |r| mutate::input(&corpus.defenders, r),
            targets::defender,
        ),
    );
    one(
        "session record",
        run(
            "record",
            &args,
            |r| mutate::input(&corpus.records, r),
            targets::record,
        ),
    );
    if failed {
        eprintln!("FAILED: see target/fuzz-failures/");
        std::process::exit(1);
    }
}
