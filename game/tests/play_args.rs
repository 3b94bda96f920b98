//! `src/cli/play.rs` (the `bulkhead play` verb, wired into the CLI by the binary) compiled and
//! checked from here, so the game's entry point and its flags cannot drift apart.

// The binary uses all of play.rs; this test checks its flags only, so some of it goes unused here.
#[allow(dead_code)]
#[path = "../../src/cli/play.rs"]
mod play;

use std::path::PathBuf;
use std::sync::Arc;

use bulkhead_engine::{Backend, Loaded, SimLab};
use bulkhead_game::{LocalSeat, SeatSource};
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

fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(std::iter::once("play").chain(args.iter().copied()))
}

fn config(args: &[&str]) -> bulkhead_game::GameConfig {
    let cli = parse(args).unwrap();
    let seat = match play::join_seat(&cli.play) {
        Some(join) => SeatSource::Join(join),
        None => play::local_seat(
            &cli.play,
            scenarios(),
            Backend::Sim,
            "pass --backend docker".into(),
            Arc::new(|l: &Loaded, seed| {
                Ok(Box::new(SimLab::new(l.topology.clone(), &l.scenario, seed))
                    as Box<dyn bulkhead_engine::Lab>)
            }),
        ),
    };
    play::game_config(&cli.play, seat)
}

fn local(config: &bulkhead_game::GameConfig) -> &LocalSeat {
    match &config.seat {
        SeatSource::Local(local) => local,
        other => panic!("a local seat was expected, got {other:?}"),
    }
}

#[test]
fn defaults_play_in_real_time_from_the_menu() {
    let c = config(&[]);
    assert_eq!(c.start, None);
    assert_eq!(local(&c).time_scale, 1.0);
    assert!(c.screenshot.is_none() && !c.report_fps);
    assert_eq!(local(&c).backend, Backend::Sim);
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
    assert_eq!(local(&c).seed, Some(9));
    assert_eq!(local(&c).time_scale, 20.0);
    let shot = c.screenshot.unwrap();
    assert_eq!(shot.path, PathBuf::from("out.png"));
    assert_eq!((shot.after_s, shot.width, shot.height), (150.0, 1280, 720));
    assert!(c.report_fps);
    // A screenshot keeps no best score.
    assert!(c.scores_file.is_none());
}

#[test]
fn join_names_a_served_seat_with_its_code_and_a_name() {
    let c = config(&[
        "--join",
        "http://10.0.0.5:7420",
        "--code",
        "K7QF",
        "--name",
        "Ada",
        "--screenshot",
        "out.png",
        "--after",
        "30",
    ]);
    let SeatSource::Join(join) = &c.seat else {
        panic!("a served seat was expected: {:?}", c.seat);
    };
    assert_eq!(
        (join.url.as_str(), join.code.as_str(), join.name.as_str()),
        ("http://10.0.0.5:7420", "K7QF", "Ada")
    );
    assert_eq!(c.screenshot.map(|s| s.after_s), Some(30.0));
    // Without --name the trainee still has one.
    let c = config(&["--join", "http://h:7420", "--code", "K7QF"]);
    let SeatSource::Join(join) = &c.seat else {
        panic!("a served seat was expected");
    };
    assert!(!join.name.trim().is_empty());
}

#[test]
fn join_needs_a_code_and_leaves_seed_and_clock_to_the_server() {
    use clap::error::ErrorKind;
    let kind = |args: &[&str]| parse(args).err().map(|e| e.kind());
    assert_eq!(
        kind(&["--join", "http://h:7420"]),
        Some(ErrorKind::MissingRequiredArgument)
    );
    assert_eq!(
        kind(&["--code", "K7QF"]),
        Some(ErrorKind::MissingRequiredArgument)
    );
    for flag in [["--seed", "3"], ["--time-scale", "5"]] {
        let mut args = vec!["--join", "http://h:7420", "--code", "K7QF"];
        args.extend(flag);
        assert_eq!(kind(&args), Some(ErrorKind::ArgumentConflict), "{flag:?}");
    }
}
