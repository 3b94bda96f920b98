//! `bulkhead run`: play a whole session without a window, with a progress display on a
//! terminal, and print the score card.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bulkhead_engine::defender::{Bot, Idle, Scripted, TimedCommand};
use bulkhead_engine::format::{self, load::SourceFile, load::data_root};
use bulkhead_engine::{Defender, Lab, Loaded, RecordWriter, Session, SimLab};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::{BackendChoice, EXIT_BAD_INPUT, EXIT_FAILURE, Exit, report, scorecard};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario id (see `bulkhead list`) or path to a scenario file.
    pub scenario: String,
    /// Which lab to run on.
    #[arg(long, value_enum, default_value = "sim")]
    pub backend: BackendChoice,
    /// Seed for benign traffic and the simulated lab (random when omitted; printed either way).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Who defends: `bot` (a competent analyst), `idle` (nobody), or a RON file of timed commands.
    #[arg(long, default_value = "bot")]
    pub defender: String,
    /// Write the session record (JSON Lines) to this file.
    #[arg(long)]
    pub record: Option<PathBuf>,
    /// Replace the record file if it exists.
    #[arg(long)]
    pub overwrite: bool,
    /// Print the score card as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// Pace the session: 1 is real time, 10 is ten times faster; 0 runs as fast as possible.
    #[arg(long, default_value_t = 0.0)]
    pub time_scale: f64,
}

fn defender(spec: &str) -> Result<Box<dyn Defender>, Exit> {
    match spec {
        "bot" => Ok(Box::new(Bot::default())),
        "idle" => Ok(Box::new(Idle)),
        path => {
            let path = Path::new(path);
            if !path.is_file() {
                eprintln!(
                    "error: --defender {spec}: not `bot`, `idle`, nor a readable file\n  help: pass bot, idle, or a RON file of timed commands (see README.md)"
                );
                return Err(Exit(EXIT_BAD_INPUT));
            }
            let file = SourceFile::read(path).map_err(|e| report(e, EXIT_BAD_INPUT))?;
            let commands: Vec<TimedCommand> = file
                .parse("defender script")
                .map_err(|e| report(e, EXIT_BAD_INPUT))?;
            Ok(Box::new(Scripted::new(commands)))
        }
    }
}

fn record_writer(path: Option<&Path>, overwrite: bool) -> Result<RecordWriter, Exit> {
    let Some(path) = path else {
        return Ok(RecordWriter::discard());
    };
    if path.exists() && !overwrite {
        eprintln!(
            "error: {} already exists\n  help: choose another file name, or pass --overwrite to replace it",
            path.display()
        );
        return Err(Exit(EXIT_BAD_INPUT));
    }
    let file = std::fs::File::create(path).map_err(|e| {
        eprintln!("error: cannot create record {}: {e}\n  help: check that the folder exists and is writable", path.display());
        Exit(EXIT_BAD_INPUT)
    })?;
    Ok(RecordWriter::new(Box::new(std::io::BufWriter::new(file))))
}

fn seed_or_random(seed: Option<u64>) -> u64 {
    seed.unwrap_or_else(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        nanos % 1_000_000
    })
}

/// Load a scenario by id or path, reporting problems for the user.
pub fn load(name: &str) -> Result<Loaded, Exit> {
    let root = data_root().map_err(|e| report(e, EXIT_BAD_INPUT))?;
    format::resolve_scenario(&root, name).map_err(|e| report(e, EXIT_BAD_INPUT))
}

pub fn run(args: &RunArgs) -> Result<(), Exit> {
    if !(args.time_scale >= 0.0 && args.time_scale.is_finite()) {
        eprintln!(
            "error: --time-scale {} must be 0 or a positive number",
            args.time_scale
        );
        return Err(Exit(EXIT_BAD_INPUT));
    }
    let loaded = load(&args.scenario)?;
    let mut defender = defender(&args.defender)?;
    let seed = seed_or_random(args.seed);
    let record = record_writer(args.record.as_deref(), args.overwrite)?;
    let lab: Box<dyn Lab> = match args.backend {
        BackendChoice::Sim => {
            Box::new(SimLab::new(loaded.topology.clone(), &loaded.scenario, seed))
        }
    };
    let backend = lab.backend();
    let mut session = Session::new(
        loaded.scenario.clone(),
        loaded.topology.clone(),
        lab,
        seed,
        record,
    );

    let bar = if std::io::stderr().is_terminal() && !args.json {
        let bar = ProgressBar::new(session.total_ms() / 1000);
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg:<40} [{bar:30}] {pos}/{len} s")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        Some(bar)
    } else {
        None
    };
    let started = Instant::now();
    let scale = args.time_scale;
    let card = session.run(defender.as_mut(), |s| {
        if let Some(bar) = &bar {
            bar.set_position(s.now() / 1000);
            bar.set_message(format!(
                "{} · {} alerts",
                s.phase().title(),
                s.alerts().len()
            ));
        }
        if scale > 0.0 {
            let due = Duration::from_secs_f64(s.now() as f64 / 1000.0 / scale);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if let Some(e) = session.record_error() {
        eprintln!("error: the record could not be written completely: {e}");
        return Err(Exit(EXIT_FAILURE));
    }
    if let Some(e) = session.lab_error() {
        eprintln!("warning: lab teardown reported: {e}");
    }
    if args.json {
        println!("{}", scorecard::json(&card, seed, backend));
    } else {
        print!(
            "{}",
            scorecard::text(&card, &loaded.scenario, seed, backend)
        );
        if let Some(path) = &args.record {
            println!(
                "record: {} (re-score with `bulkhead report {}`)",
                path.display(),
                path.display()
            );
        }
    }
    Ok(())
}
