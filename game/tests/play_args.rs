//! `src/cli/play.rs` (the `bulkhead play` verb, wired into the CLI by the binary) compiled and
//! checked from here, so the game's entry point and its flags cannot drift apart.

// The binary uses all of play.rs; this test checks its flags only, so some of it goes unused here.
#[allow(dead_code)]
#[path = "../../src/cli/play.rs"]
mod play;

use std::path::PathBuf;
use std::sync::Arc;

use bulkhead_engine::{Backend, Loaded, SimLab};
use clap::Parser;

#[derive(Debug, Parser)]
struct Cli {
    #[command(flatten)]
    play: play::PlayArgs,
}

fn scenarios() -> Vec<Loaded> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    vec![
        bulkhead_engine::format::load_scenario(
            &root.join("scenarios/stolen-credentials.ron"),
            &root,
        )
        .unwrap(),
    ]
}

fn config(args: &[&str]) -> bulkhead_game::GameConfig {
    let cli = Cli::try_parse_from(std::iter::once("play").chain(args.iter().copied())).unwrap();
    play::game_config(
        &cli.play,
        scenarios(),
        Backend::Sim,
        "pass --backend docker".into(),
        Arc::new(|l: &Loaded, seed| {
            Ok(Box::new(SimLab::new(l.topology.clone(), &l.scenario, seed))
                as Box<dyn bulkhead_engine::Lab>)
        }),
    )
}

#[test]
fn defaults_play_in_real_time_from_the_menu() {
    let c = config(&[]);
    assert_eq!(c.start, None);
    assert_eq!(c.time_scale, 1.0);
    assert!(c.screenshot.is_none() && !c.report_fps);
    assert_eq!(c.backend, Backend::Sim);
}

#[test]
fn flags_reach_the_game_config() {
    let c = config(&[
        "stolen-credentials",
        "--seed",
        "9",
        "--time-scale",
        "20",
        "--screenshot",
        "out.png",
        "--after",
        "150",
        "--fps",
    ]);
    assert_eq!(c.start.as_deref(), Some("stolen-credentials"));
    assert_eq!(c.seed, Some(9));
    assert_eq!(c.time_scale, 20.0);
    let shot = c.screenshot.unwrap();
    assert_eq!(shot.path, PathBuf::from("out.png"));
    assert_eq!((shot.after_s, shot.width, shot.height), (150.0, 1280, 720));
    assert!(c.report_fps);
    // A screenshot keeps no best score.
    assert!(c.scores_file.is_none());
}
