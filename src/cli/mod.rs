//! Command-line interface: argument parsing, exit codes and error reporting for every verb.

pub mod backend;
mod check;
mod doctor;
mod game;
mod labs;
mod list;
mod play;
mod records;
mod replay;
mod report;
mod run;
pub mod scorecard;
mod serve;
mod signals;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// Exit code for input the user must fix (bad file, unknown scenario, bad flag).
pub const EXIT_BAD_INPUT: u8 = 2;
/// Exit code for a failure of the run itself (a lab that would not come up, a record not written).
pub const EXIT_FAILURE: u8 = 1;

#[derive(Debug, Parser)]
#[command(
    name = "bulkhead",
    version,
    about = "A container-security training range: detect and contain attacks on real lab containers, scored against expected baselines."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Verb,
}

#[derive(Debug, Subcommand)]
pub enum Verb {
    /// List the scenarios: id, title, difficulty.
    List,
    /// Validate scenarios and lab topologies (all of them when no path is given).
    Check {
        /// Scenario or topology files (.ron).
        paths: Vec<PathBuf>,
    },
    /// Open the game (the default when no verb is given).
    Play {
        #[command(flatten)]
        args: play::PlayArgs,
        /// Which lab to play on (default: Docker where a daemon answers, else the simulated lab).
        #[arg(long, value_enum)]
        backend: Option<backend::BackendChoice>,
    },
    /// Play a whole session without a window and print the score card.
    Run(run::RunArgs),
    /// Host a workshop: seats that trainees join with `play --join` or `run --join`.
    Serve(serve::ServeArgs),
    /// Is Docker reachable, are the lab images built, can the game render here?
    Doctor {
        /// Also check the Docker API of another node of the swarm (repeat for each):
        /// unix:///path or tcp://host:port, as `serve --node` takes it.
        #[arg(long = "node", value_name = "ENGINE")]
        nodes: Vec<String>,
    },
    /// The session records kept in your data folder, newest first: date, scenario, seed,
    /// backend, score and path.
    Records {
        /// Look in this folder instead of the data folder's `records/`.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Print them as one JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Play a session record back in the game: play/pause, 1x to 60x, a timeline to scrub, what
    /// the trainee did as they did it, and the debrief.
    Replay(replay::ReplayArgs),
    /// Manage lab objects on Docker.
    Labs {
        #[command(subcommand)]
        action: LabsAction,
    },
    /// Re-score a session record.
    Report {
        /// A record written by `run --record`.
        record: PathBuf,
        /// Print the score card as one JSON object.
        #[arg(long)]
        json: bool,
        /// Write the after-action report to this file: one self-contained HTML page that opens
        /// offline (with --json, the line saying so goes to stderr).
        #[arg(long, value_name = "OUT")]
        html: Option<PathBuf>,
        /// Score against the scenario and topology the record carries, not the ones installed.
        #[arg(long)]
        embedded: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum LabsAction {
    /// Remove leftovers of sessions that are over (expired, or their process is gone).
    Prune {
        /// Also on another node of the swarm (repeat for each): unix:///path or
        /// tcp://host:port, as `serve --node` takes it.
        #[arg(long = "node", value_name = "ENGINE")]
        nodes: Vec<String>,
    },
}

/// One subscriber for every verb, the game included (it disables bevy's LogPlugin, so bevy's
/// own warnings come here too): BULKHEAD_LOG, else RUST_LOG, else `default`.
fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BULKHEAD_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colour codes only for a person at a terminal, not in a log file or a test's capture.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .init();
}

/// An error already reported to the user, with the exit code to leave with.
#[derive(Debug)]
pub struct Exit(pub u8);

pub fn report(err: impl Into<miette::Report>, code: u8) -> Exit {
    eprintln!("{:?}", err.into());
    Exit(code)
}

/// `bulkhead --version`: the version and which `labd` builds this binary carries (a release
/// build carries them; a developer build makes them with cargo). Built once per process; clap
/// wants it for the program's life.
fn version_line() -> &'static str {
    let line = format!(
        "{} ({})",
        env!("CARGO_PKG_VERSION"),
        bulkhead_labs::embedded::summary()
    );
    Box::leak(line.into_boxed_str())
}

pub fn main() -> ExitCode {
    // With no verb at all, open the game: the main job.
    let args: Vec<std::ffi::OsString> = if std::env::args_os().len() <= 1 {
        vec!["bulkhead".into(), "play".into()]
    } else {
        std::env::args_os().collect()
    };
    let parsed = Cli::command()
        .version(version_line())
        .try_get_matches_from(args)
        .and_then(|matches| Cli::from_arg_matches(&matches));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(EXIT_BAD_INPUT)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    // A server's terminal is its facilitator's log: who joined, left, was refused. Every other
    // verb says only what went wrong.
    init_logging(match cli.command {
        Verb::Serve(_) => "warn,bulkhead_server=info,bulkhead_host=info",
        _ => "warn",
    });
    let result = match cli.command {
        Verb::Play { args, backend } => game::play_game(&args, backend),
        Verb::List => list::list(),
        Verb::Check { paths } => check::check(&paths),
        Verb::Run(args) => run::run(&args),
        Verb::Serve(args) => serve::serve(&args),
        Verb::Report {
            record,
            json,
            html,
            embedded,
        } => report::report(&record, json, html.as_deref(), embedded),
        Verb::Replay(args) => replay::replay(&args),
        Verb::Records { dir, json } => records::records(dir.as_deref(), json),
        Verb::Doctor { nodes } => doctor::doctor(&nodes),
        Verb::Labs {
            action: LabsAction::Prune { nodes },
        } => labs::prune(&nodes),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Exit(code)) => ExitCode::from(code),
    }
}
