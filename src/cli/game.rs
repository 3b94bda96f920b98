//! `bulkhead play` wired to the game: which scenarios and lab it plays, and how it ended as an
//! exit code.

use super::{EXIT_BAD_INPUT, EXIT_FAILURE, Exit, backend, play, report, signals};

/// Open the game over every valid scenario, on the chosen backend.
pub fn play_game(args: &play::PlayArgs, asked: Option<backend::BackendChoice>) -> Result<(), Exit> {
    if !(args.time_scale > 0.0 && args.time_scale <= 1000.0) {
        eprintln!(
            "error: --time-scale {} is out of range\n  help: use a number above 0 and at most 1000 (1 is real time)",
            args.time_scale
        );
        return Err(Exit(EXIT_BAD_INPUT));
    }
    if args.screenshot.is_none()
        && let Some(problem) = play::display_problem()
    {
        eprintln!("{problem}");
        return Err(Exit(EXIT_BAD_INPUT));
    }
    let root = bulkhead_engine::format::load::data_root().map_err(|e| report(e, EXIT_BAD_INPUT))?;
    let mut scenarios = Vec::new();
    for (path, loaded) in bulkhead_engine::format::load_all(&root) {
        match loaded {
            Ok(l) => scenarios.push(l),
            Err(e) => {
                eprintln!(
                    "skipping {} (run `bulkhead check` for details)",
                    path.display()
                );
                tracing::debug!("{e}");
            }
        }
    }
    let choice = backend::resolve(asked);
    let scale = args.time_scale;
    let make_lab: bulkhead_game::LabFactory = std::sync::Arc::new(move |loaded, seed| {
        backend::make_lab(choice, loaded, seed, scale, &mut |msg| eprintln!("{msg}"))
    });
    let engine_backend = match choice {
        backend::BackendChoice::Docker => bulkhead_engine::Backend::Docker,
        backend::BackendChoice::Sim => bulkhead_engine::Backend::Sim,
    };
    let config = play::game_config(
        args,
        scenarios,
        engine_backend,
        backend::hint(choice),
        make_lab,
    );
    run_game(config)
}

/// Run the game, mapping how it ended to an exit code. Ctrl+C and SIGTERM close it as its
/// window would: the session thread tears the lab down before `run` returns.
fn run_game(config: bulkhead_game::GameConfig) -> Result<(), Exit> {
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
        let code = match e {
            bulkhead_game::GameError::UnknownScenario { .. }
            | bulkhead_game::GameError::NoScenarios => EXIT_BAD_INPUT,
            _ => EXIT_FAILURE,
        };
        eprintln!("error: {e}");
        Exit(code)
    })
}
