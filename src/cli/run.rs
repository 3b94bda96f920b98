//! `bulkhead run`: play a whole session without a window, with a progress display on a
//! terminal, and print the score card.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bulkhead_engine::defender::{Bot, Idle, Scripted};
use bulkhead_engine::format::defender_file::read_defender_file;
use bulkhead_engine::format::{self, load::data_root};
use bulkhead_engine::{Defender, Loaded, RecordWriter, Session};
use bulkhead_host::seed_or_random;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::backend::{self, BackendChoice};
use super::signals::{self, Stop, StopFlag};
use super::{EXIT_BAD_INPUT, EXIT_FAILURE, Exit, report, scorecard};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario id (see `bulkhead list`) or path to a scenario file.
    pub scenario: String,
    /// Which lab to run on (default: Docker where a daemon answers, else the simulated lab).
    #[arg(long, value_enum)]
    pub backend: Option<BackendChoice>,
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
    /// Session seconds per wall second: 1 is real time, 10 compresses a 10-minute scenario into
    /// one. Docker labs default to 1; the simulated lab runs as fast as it can unless given one.
    #[arg(long)]
    pub time_scale: Option<f64>,
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
            let commands = read_defender_file(path).map_err(|e| report(e, EXIT_BAD_INPUT))?;
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

/// Load a scenario by id or path, reporting problems for the user.
pub fn load(name: &str) -> Result<Loaded, Exit> {
    let root = data_root().map_err(|e| report(e, EXIT_BAD_INPUT))?;
    format::resolve_scenario(&root, name).map_err(|e| report(e, EXIT_BAD_INPUT))
}

pub fn run(args: &RunArgs) -> Result<(), Exit> {
    if let Some(scale) = args.time_scale
        && !(scale > 0.0 && scale <= 1000.0)
    {
        eprintln!(
            "error: --time-scale {scale} is out of range\n  help: use a number above 0 and at most 1000 (1 is real time)"
        );
        return Err(Exit(EXIT_BAD_INPUT));
    }
    let loaded = load(&args.scenario)?;
    let mut defender = defender(&args.defender)?;
    let seed = seed_or_random(args.seed);
    let record = record_writer(args.record.as_deref(), args.overwrite)?;
    let choice = backend::resolve(args.backend);
    // From here on a lab may exist: Ctrl+C and SIGTERM stop the session instead of killing us.
    let stop = signals::install(|_| {});
    let interactive = std::io::stderr().is_terminal() && !args.json;
    let spinner = interactive.then(ProgressBar::new_spinner);
    let mut progress = |msg: &str| match &spinner {
        Some(s) => s.set_message(msg.to_string()),
        None => tracing::info!("{msg}"),
    };
    let lab = backend::make_lab(choice, &loaded, seed, args.time_scale.unwrap_or(1.0), &mut progress).map_err(|e| {
        // Ctrl+C on a terminal also reaches the image build's cargo, which fails the start.
        if let Some(signal) = stop.signal() {
            eprintln!("{}: stopped while the lab came up ({e})", signal.name());
            return Exit(signal.exit_code());
        }
        eprintln!("error: the lab could not come up: {e}\n  help: `bulkhead doctor` checks this machine; `--backend sim` needs no Docker");
        Exit(EXIT_FAILURE)
    })?;
    if let Some(s) = spinner {
        s.finish_and_clear();
    }
    let backend = lab.backend();
    let mut session = Session::new(
        loaded.scenario.clone(),
        loaded.topology.clone(),
        lab,
        seed,
        record,
    );
    // A signal while the lab came up: nothing was played, but the lab is there to remove.
    let ended = match stop.signal() {
        Some(signal) => Ended::Stopped(signal),
        None => play(
            &mut session,
            defender.as_mut(),
            &stop,
            choice,
            args,
            interactive,
        ),
    };
    if let Ended::Stopped(signal) = ended {
        return Err(stopped(&mut session, signal, args.record.as_deref()));
    }
    if let Some(e) = session.record_error() {
        eprintln!("error: the record could not be written completely: {e}");
        return Err(Exit(EXIT_FAILURE));
    }
    if let Some(e) = session.lab_error() {
        eprintln!("warning: lab teardown reported: {e}");
    }
    let card = session.score().cloned().unwrap_or_else(|| {
        bulkhead_engine::score(
            session.scenario(),
            session.topology(),
            session.record_lines(),
            None,
        )
    });
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

/// How the session loop ended.
enum Ended {
    /// The scenario ran to its end; the session has finished and torn its lab down.
    Over,
    /// A signal asked us to stop; the lab is still up.
    Stopped(Stop),
}

/// Play the session with a progress bar on a terminal, pacing the simulated lab when asked.
fn play(
    session: &mut Session,
    defender: &mut dyn Defender,
    stop: &StopFlag,
    choice: BackendChoice,
    args: &RunArgs,
    interactive: bool,
) -> Ended {
    let bar = interactive.then(|| {
        let bar = ProgressBar::new(session.total_ms() / 1000);
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg:<40} [{bar:30}] {pos}/{len} s")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar
    });
    let started = Instant::now();
    // A Docker lab paces itself; the simulated lab is paced here only when asked.
    let scale = match choice {
        BackendChoice::Sim => args.time_scale.unwrap_or(0.0),
        BackendChoice::Docker => 0.0,
    };
    let ended = drive(session, defender, stop, |s| {
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
            // Sleep in short steps so that a signal is not kept waiting.
            while let Some(wait) = due.checked_sub(started.elapsed())
                && stop.signal().is_none()
            {
                std::thread::sleep(wait.min(Duration::from_millis(100)));
            }
        }
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    ended
}

/// The session loop: the defender decides, the session ticks, until the scenario ends or a
/// signal arrives. The flag is read before every tick (250 ms of session time), so a signal
/// waits at most one tick.
fn drive(
    session: &mut Session,
    defender: &mut dyn Defender,
    stop: &StopFlag,
    mut on_tick: impl FnMut(&Session),
) -> Ended {
    session.begin();
    loop {
        if let Some(signal) = stop.signal() {
            return Ended::Stopped(signal);
        }
        // A refused command is in the record and on the card; say so now too, so that a
        // script's author sees the typo at the moment it matters. The run goes on.
        for (command, why) in session.consult(defender) {
            let live_s = session.brief().live_s(session.now());
            eprintln!(
                "refused at live {live_s:.1} s: {}: {why}",
                command.summary()
            );
        }
        let more = session.tick();
        on_tick(session);
        if !more {
            return Ended::Over;
        }
    }
}

/// End a session cut short by a signal: finish it (the record gets its closing phase line, the
/// lab comes down), say where the record is, and leave with the signal's exit code.
fn stopped(session: &mut Session, signal: Stop, record: Option<&Path>) -> Exit {
    session.finish();
    if let Some(e) = session.lab_error() {
        eprintln!("warning: lab teardown reported: {e}\n  help: run `bulkhead labs prune`");
    } else {
        eprintln!("{}: the lab is down", signal.name());
    }
    if let Some(path) = record {
        match session.record_error() {
            Some(e) => eprintln!(
                "error: the record {} could not be written completely: {e}",
                path.display()
            ),
            None => eprintln!(
                "record (cut short): {} (score what was played with `bulkhead report {}`)",
                path.display(),
                path.display()
            ),
        }
    }
    Exit(signal.exit_code())
}
