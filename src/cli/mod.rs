//! Command-line interface: argument parsing, exit codes and error reporting for every verb.

mod check;
mod list;
mod report;
mod run;
pub mod scorecard;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

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
    pub command: Option<Verb>,
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
    /// Play a whole session without a window and print the score card.
    Run(run::RunArgs),
    /// Re-score a session record.
    Report {
        /// A record written by `run --record`.
        record: PathBuf,
        /// Print the score card as one JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendChoice {
    /// The embedded simulated lab: deterministic, no Docker needed.
    Sim,
}

/// An error already reported to the user, with the exit code to leave with.
#[derive(Debug)]
pub struct Exit(pub u8);

pub fn report(err: impl Into<miette::Report>, code: u8) -> Exit {
    eprintln!("{:?}", err.into());
    Exit(code)
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
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
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BULKHEAD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        None => {
            eprintln!(
                "bulkhead: the game window is not built yet; try `bulkhead list` or `bulkhead run stolen-credentials`."
            );
            Err(Exit(EXIT_BAD_INPUT))
        }
        Some(Verb::List) => list::list(),
        Some(Verb::Check { paths }) => check::check(&paths),
        Some(Verb::Run(args)) => run::run(&args),
        Some(Verb::Report { record, json }) => report::report(&record, json),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Exit(code)) => ExitCode::from(code),
    }
}
