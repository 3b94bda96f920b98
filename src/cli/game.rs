//! `bulkhead play` wired to the game: which seat it plays on (one in this process over every valid
//! scenario and the chosen lab, or a served one with --join), and how it ended as an exit code.

use bulkhead_game::{GameError, SeatSource};
use bulkhead_host::ErrorKind;
use bulkhead_host::remote::ConnectError;

use super::{EXIT_BAD_INPUT, EXIT_FAILURE, Exit, backend, play, signals};

/// Open the game on a seat in this process, or on the served seat --join names.
pub fn play_game(args: &play::PlayArgs, asked: Option<backend::BackendChoice>) -> Result<(), Exit> {
    let join = play::join_seat(args);
    if let Some(join) = &join {
        refuse_local_flags(asked)?;
        check_name(&join.name)?;
    }
    if args.screenshot.is_none()
        && let Some(problem) = play::display_problem()
    {
        eprintln!("{problem}");
        return Err(Exit(EXIT_BAD_INPUT));
    }
    let seat = match join {
        Some(join) => SeatSource::Join(join),
        None => local_seat(args, asked)?,
    };
    run_game(play::game_config(args, seat))
}

/// A served seat's lab is the server's choice: --backend would be silently ignored.
fn refuse_local_flags(asked: Option<backend::BackendChoice>) -> Result<(), Exit> {
    if asked.is_some() {
        eprintln!(
            "error: --backend does not go with --join: the server runs the lab it was started with\n  help: drop --backend, or play on this machine without --join"
        );
        return Err(Exit(EXIT_BAD_INPUT));
    }
    Ok(())
}

/// The name is checked here as the server would, so a bad one is refused before connecting.
fn check_name(name: &str) -> Result<(), Exit> {
    bulkhead_host::protocol::check_name(name)
        .map(drop)
        .map_err(|why| {
            eprintln!(
                "error: --name {name:?}: {why}\n  help: pass --name with a short display name"
            );
            Exit(EXIT_BAD_INPUT)
        })
}

/// A seat in this process over every valid scenario, on the chosen backend.
fn local_seat(
    args: &play::PlayArgs,
    asked: Option<backend::BackendChoice>,
) -> Result<SeatSource, Exit> {
    if !(args.time_scale > 0.0 && args.time_scale <= 1000.0) {
        eprintln!(
            "error: --time-scale {} is out of range\n  help: use a number above 0 and at most 1000 (1 is real time)",
            args.time_scale
        );
        return Err(Exit(EXIT_BAD_INPUT));
    }
    let mut scenarios = Vec::new();
    for (entry, loaded) in super::run::sources()?.load_all() {
        match loaded {
            Ok(l) => scenarios.push(l),
            Err(e) => {
                eprintln!("skipping {} (run `bulkhead check` for details)", entry.name);
                tracing::debug!("{e}");
            }
        }
    }
    let choice = backend::resolve(asked);
    let scale = args.time_scale;
    let make_lab: bulkhead_game::LabFactory = std::sync::Arc::new(move |loaded, seed| {
        backend::make_lab(choice, loaded, seed, scale, &mut |msg| eprintln!("{msg}"))
    });
    let engine_backend = choice.recorded();
    let mut seat = play::local_seat(
        args,
        scenarios,
        engine_backend,
        backend::hint(choice),
        make_lab,
    );
    if let SeatSource::Local(local) = &mut seat {
        local.records = records_folder();
    }
    Ok(seat)
}

/// The records folder, made if missing: a game that cannot keep records still plays.
fn records_folder() -> Option<std::path::PathBuf> {
    let dir = super::records::default_dir()?;
    match std::fs::create_dir_all(&dir) {
        Ok(()) => Some(dir),
        Err(e) => {
            tracing::warn!(
                "sessions keep no record: cannot create {}: {e}",
                dir.display()
            );
            None
        }
    }
}

/// Run the game, mapping how it ended to an exit code. Ctrl+C and SIGTERM close it as its
/// window would: `run` ends the local seat, lab and all, before it returns.
pub(super) fn run_game(config: bulkhead_game::GameConfig) -> Result<(), Exit> {
    let stop = signals::install(|signal| bulkhead_game::bridge::request_close(signal.exit_code()));
    let result = bulkhead_game::run(config);
    if let Some(signal) = stop.signal() {
        eprintln!(
            "{}: the game is closed and its session has ended",
            signal.name()
        );
        return Err(Exit(signal.exit_code()));
    }
    result.map_err(|e| {
        eprintln!("error: {e}");
        if let Some(help) = help(&e) {
            eprintln!("  help: {help}");
        }
        Exit(exit_code(&e))
    })
}

/// Input the user must fix is a 2, as everywhere in the CLI; anything else a 1.
fn exit_code(e: &GameError) -> u8 {
    match e {
        GameError::UnknownScenario { .. } | GameError::NoScenarios => EXIT_BAD_INPUT,
        GameError::Join { source, .. } if join_input_was_wrong(source) => EXIT_BAD_INPUT,
        _ => EXIT_FAILURE,
    }
}

fn join_input_was_wrong(e: &ConnectError) -> bool {
    match e {
        ConnectError::Url { .. } => true,
        ConnectError::Refused { kind, .. } => {
            matches!(kind, ErrorKind::BadCode | ErrorKind::BadName)
        }
        _ => false,
    }
}

/// What to do about a failed join.
fn help(e: &GameError) -> Option<&'static str> {
    let GameError::Join { source, .. } = e else {
        return None;
    };
    Some(join_help(source))
}

/// How a failed join ends, for `play --join` and `run --join` alike: the exit code and what to
/// do about it.
pub(super) fn join_failure(e: &ConnectError) -> (u8, &'static str) {
    let code = if join_input_was_wrong(e) {
        EXIT_BAD_INPUT
    } else {
        EXIT_FAILURE
    };
    (code, join_help(e))
}

fn join_help(source: &ConnectError) -> &'static str {
    match source {
        ConnectError::Refused {
            kind: ErrorKind::InUse,
            ..
        } => "someone holds this seat; ask the facilitator to free it or give you another code",
        ConnectError::Refused {
            kind: ErrorKind::RateLimited,
            ..
        } => "too many attempts; wait a minute and try again",
        ConnectError::Refused {
            kind: ErrorKind::Version,
            ..
        } => "this bulkhead and the server's differ in version; install the server's version",
        ConnectError::Url { .. } => {
            "pass the address the facilitator gave you, e.g. http://10.0.0.5:7420"
        }
        _ => "check the address and code the facilitator gave you, and that the server is running",
    }
}
