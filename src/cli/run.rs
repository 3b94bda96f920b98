//! `bulkhead run`: play a whole session without a window, with a progress display on a
//! terminal, and print the score card. The session runs on a seat: one in this process, or a
//! served one (`--join`); either way the defender plays it through the same client loop.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bulkhead_engine::defender::{Bot, Idle, Scripted};
use bulkhead_engine::format::Sources;
use bulkhead_engine::format::defender_file::read_defender_file;
use bulkhead_engine::{Backend, Command, Defender, Loaded};
use bulkhead_host::client::{self, PlayError, Played, Watcher};
use bulkhead_host::{Connection, LabFactory, Pace, Records, Seat, SeatConfig, seed_or_random};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::backend::{self, BackendChoice};
use super::play::JoinArgs;
use super::signals::{self, StopFlag};
use super::{EXIT_BAD_INPUT, EXIT_FAILURE, Exit, report, scorecard};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario id (see `bulkhead list`) or path to a scenario file.
    pub scenario: String,
    /// Which lab to run on (default: Docker where a daemon answers, else the simulated lab).
    #[arg(long, value_enum, conflicts_with = "join")]
    pub backend: Option<BackendChoice>,
    /// Seed for benign traffic and the simulated lab (random when omitted; printed either way).
    #[arg(long, conflicts_with = "join")]
    pub seed: Option<u64>,
    /// Who defends: `bot` (a competent analyst), `idle` (nobody), or a RON file of timed commands.
    #[arg(long, default_value = "bot")]
    pub defender: String,
    /// Write the session record (JSON Lines) to this file.
    #[arg(long, conflicts_with = "join")]
    pub record: Option<PathBuf>,
    /// Replace the record file if it exists.
    #[arg(long)]
    pub overwrite: bool,
    /// Print the score card as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// Session seconds per wall second: 1 is real time, 10 compresses a 10-minute scenario into
    /// one. Docker labs default to 1; the simulated lab runs as fast as it can unless given one.
    #[arg(long, conflicts_with = "join")]
    pub time_scale: Option<f64>,
    #[command(flatten)]
    pub seat: JoinArgs,
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

/// Where scenarios and topologies come from, highest first: `BULKHEAD_DATA`, the user's data
/// folder (where records are kept too), the repository run from, the built-in files.
pub fn sources() -> Result<Sources, Exit> {
    let user = directories::ProjectDirs::from("", "", "bulkhead").map(|d| d.data_dir().to_owned());
    Sources::discover(user).map_err(|e| report(e, EXIT_BAD_INPUT))
}

/// Load a scenario by id or path, reporting problems for the user.
pub fn load(name: &str) -> Result<Loaded, Exit> {
    sources()?
        .resolve(name)
        .map_err(|e| report(e, EXIT_BAD_INPUT))
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
    let mut defender = defender(&args.defender)?;
    match (&args.seat.join, &args.seat.code) {
        (Some(url), Some(code)) => run_joined(args, url, code, defender.as_mut()),
        _ => run_local(args, defender.as_mut()),
    }
}

/// Play on a seat in this process, which owns the lab and the record.
fn run_local(args: &RunArgs, defender: &mut dyn Defender) -> Result<(), Exit> {
    let loaded = load(&args.scenario)?;
    let seed = seed_or_random(args.seed);
    let records = record_file(args.record.as_deref(), args.overwrite)?;
    let choice = backend::resolve(args.backend);
    // From here on a lab may exist: Ctrl+C and SIGTERM stop the session instead of killing us.
    let stop = signals::install(|_| {});
    let interactive = std::io::stderr().is_terminal() && !args.json;
    let progress = Progress::new(interactive);
    let (config, pace) = local_seat(args, &loaded, seed, records, choice, &progress);
    let seat = Seat::spawn(config).map_err(|e| {
        eprintln!("error: cannot start the session thread: {e}");
        Exit(EXIT_FAILURE)
    })?;
    let played = match seat.try_attach(None) {
        Some(conn) => play_on(&conn, &loaded.scenario.id, pace, defender, &stop, progress),
        None => Err(PlayError::LabFailed(
            "the seat refused its own client".into(),
        )),
    };
    // The session is finished and scored; the seat's thread takes the lab down.
    seat.join();
    let played = ended(played, &stop)?;
    print_card(args, &played, "");
    if let Some(path) = args.record.as_ref().filter(|_| !args.json) {
        println!(
            "record: {} (re-score with `bulkhead report {}`)",
            path.display(),
            path.display()
        );
    }
    Ok(())
}

/// The seat a local run plays on, and how its clock runs: lockstep on the simulated lab unless
/// a time scale was asked for (as fast as it can, and reproducible), the lab's own clock on
/// Docker.
fn local_seat(
    args: &RunArgs,
    loaded: &Loaded,
    seed: u64,
    records: Records,
    choice: BackendChoice,
    progress: &Progress,
) -> (SeatConfig, Pace) {
    let (pace, seat_scale) = match (choice, args.time_scale) {
        (BackendChoice::Sim, None) => (Pace::Lockstep, 0.0),
        (BackendChoice::Sim, Some(scale)) => (Pace::Clocked, scale),
        (BackendChoice::Docker | BackendChoice::Swarm, _) => (Pace::Clocked, 0.0),
    };
    let lab_scale = args.time_scale.unwrap_or(1.0);
    let spinner = progress.spinner.clone();
    let make_lab: LabFactory = Arc::new(move |loaded, seed| {
        backend::make_lab(choice, loaded, seed, lab_scale, &mut |msg| match &spinner {
            Some(s) => s.set_message(msg.to_string()),
            None => tracing::info!("{msg}"),
        })
    });
    let config = SeatConfig {
        seat: 1,
        workshop: "local".into(),
        backend: choice.recorded(),
        catalogue: Arc::new(vec![loaded.clone()]),
        make_lab,
        seed: Some(seed),
        time_scale: seat_scale,
        stop_at: None,
        // The defender decides on every tick, as it would beside the session.
        publish_every: Duration::ZERO,
        records,
        idle_timeout: None,
    };
    (config, pace)
}

/// Play a served seat: the server runs the lab, keeps the record and sends the score.
fn run_joined(
    args: &RunArgs,
    url: &str,
    code: &str,
    defender: &mut dyn Defender,
) -> Result<(), Exit> {
    let name = args.seat.trainee_name();
    let conn = bulkhead_host::remote::connect(url, code, &name).map_err(|e| {
        let (exit, help) = super::game::join_failure(&e);
        eprintln!("error: cannot join {url}: {e}\n  help: {help}");
        Exit(exit)
    })?;
    // Lockstep where the seat's lab can pause (the simulated lab): a scripted run is then
    // reproducible and as fast as the client; a Docker seat keeps the server's clock.
    let pace = match conn.recv_timeout(Duration::from_secs(5)) {
        Ok(Some(bulkhead_host::ServerMsg::Welcome {
            backend: Backend::Sim,
            ..
        })) => Pace::Lockstep,
        _ => Pace::Clocked,
    };
    let stop = signals::install(|_| {});
    let progress = Progress::new(std::io::stderr().is_terminal() && !args.json);
    let played = play_on(&conn, &args.scenario, pace, defender, &stop, progress);
    drop(conn);
    let played = ended(played, &stop)?;
    print_card(args, &played, " on the server");
    Ok(())
}

/// A record file checked before any lab comes up: an existing one is kept unless the user
/// said to replace it, and an unwritable place is said now rather than after the session.
fn record_file(path: Option<&Path>, overwrite: bool) -> Result<Records, Exit> {
    let Some(path) = path else {
        return Ok(Records::None);
    };
    if path.exists() && !overwrite {
        eprintln!(
            "error: {} already exists\n  help: choose another file name, or pass --overwrite to replace it",
            path.display()
        );
        return Err(Exit(EXIT_BAD_INPUT));
    }
    std::fs::File::create(path).map_err(|e| {
        eprintln!("error: cannot create record {}: {e}\n  help: check that the folder exists and is writable", path.display());
        Exit(EXIT_BAD_INPUT)
    })?;
    Ok(Records::File(path.to_path_buf()))
}

/// Play the open scenario on a connected seat, with progress on a terminal.
fn play_on(
    conn: &Connection,
    scenario: &str,
    pace: Pace,
    defender: &mut dyn Defender,
    stop: &StopFlag,
    progress: Progress,
) -> Result<Played, PlayError> {
    let mut watcher = RunWatcher { stop, progress };
    let played = client::play(conn, scenario, pace, defender, &mut watcher);
    watcher.progress.clear();
    played
}

/// Map how a played session ended to what the user reads and the exit code.
fn ended(played: Result<Played, PlayError>, stop: &StopFlag) -> Result<Played, Exit> {
    let signal = stop.signal();
    match (played, signal) {
        (Ok(played), Some(signal)) if played.stopped => {
            match &played.lab_error {
                Some(e) => eprintln!(
                    "warning: lab teardown reported: {e}\n  help: run `bulkhead labs prune`"
                ),
                None => eprintln!("{}: the lab is down", signal.name()),
            }
            if let Some(path) = &played.record {
                match &played.record_error {
                    Some(e) => {
                        eprintln!("error: the record {path} could not be written completely: {e}")
                    }
                    None => eprintln!(
                        "record (cut short): {path} (score what was played with `bulkhead report {path}`)"
                    ),
                }
            }
            Err(Exit(signal.exit_code()))
        }
        (Ok(played), _) => {
            if let Some(e) = &played.record_error {
                eprintln!("error: the record could not be written completely: {e}");
                return Err(Exit(EXIT_FAILURE));
            }
            if let Some(e) = &played.lab_error {
                eprintln!("warning: lab teardown reported: {e}");
            }
            Ok(played)
        }
        (Err(e), Some(signal)) => {
            eprintln!("{}: stopped while the lab came up ({e})", signal.name());
            Err(Exit(signal.exit_code()))
        }
        (Err(PlayError::LabFailed(e)), None) => {
            eprintln!(
                "error: the lab could not come up: {e}\n  help: `bulkhead doctor` checks this machine; `--backend sim` needs no Docker"
            );
            Err(Exit(EXIT_FAILURE))
        }
        (Err(PlayError::Refused { message, .. }), None) => {
            eprintln!("error: {message}");
            Err(Exit(EXIT_BAD_INPUT))
        }
        (Err(e), None) => {
            eprintln!("error: the session ended before its score: {e}");
            Err(Exit(EXIT_FAILURE))
        }
    }
}

fn print_card(args: &RunArgs, played: &Played, record_place: &str) {
    if let Some(line) = played.lab.line() {
        eprintln!("{line}");
    }
    if args.json {
        println!(
            "{}",
            scorecard::json(&played.card, played.seed, played.backend, Some(&played.lab))
        );
        return;
    }
    print!(
        "{}",
        scorecard::text(&played.card, &played.scenario, played.seed, played.backend)
    );
    if args.seat.join.is_some()
        && let Some(path) = &played.record
    {
        println!("record{record_place}: {path}");
    }
}

/// The progress display: a spinner while the lab comes up, a bar while the session plays.
struct Progress {
    spinner: Option<ProgressBar>,
    bar: Option<ProgressBar>,
}

impl Progress {
    fn new(interactive: bool) -> Progress {
        Progress {
            spinner: interactive.then(ProgressBar::new_spinner),
            bar: None,
        }
    }

    fn clear(&mut self) {
        for bar in [self.spinner.take(), self.bar.take()].into_iter().flatten() {
            bar.finish_and_clear();
        }
    }

    /// A line on stderr, above the bar when one shows.
    fn say(&self, line: String) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }
}

struct RunWatcher<'a> {
    stop: &'a StopFlag,
    progress: Progress,
}

impl Watcher for RunWatcher<'_> {
    fn lab_ready(&mut self) {
        if let Some(spinner) = self.progress.spinner.take() {
            spinner.finish_and_clear();
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg:<40} [{bar:30}] {pos}/{len} s")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            self.progress.bar = Some(bar);
        }
    }

    fn view(&mut self, view: &bulkhead_host::Snapshot) {
        if let Some(bar) = &self.progress.bar {
            bar.set_length(view.total_ms / 1000);
            bar.set_position(view.now_ms / 1000);
            bar.set_message(format!(
                "{} · {} alerts",
                view.phase.title(),
                view.alerts.len()
            ));
        }
    }

    // A refused command is in the record and on the card; say so now too, so that a script's
    // author sees the typo at the moment it matters. The run goes on.
    fn refused(&mut self, live_s: f64, command: &Command, why: &str) {
        eprintln!(
            "refused at live {live_s:.1} s: {}: {why}",
            command.summary()
        );
    }

    fn stop(&mut self) -> bool {
        self.stop.signal().is_some()
    }

    // A served seat's mentor speaks to whoever plays it: a script's author reads it too.
    fn whisper(&mut self, from: &str, text: &str) {
        self.progress.say(format!("{from} says: {text}"));
    }

    // What the seat says of the session itself (the record's disk full, then writable again).
    fn notice(&mut self, text: &str) {
        self.progress.say(format!("note: {text}"));
    }
}
