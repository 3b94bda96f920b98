//! `bulkhead play`: the game window (or, with --screenshot, one offscreen picture).

use std::path::PathBuf;

use bulkhead_engine::{Backend, Loaded};
use bulkhead_game::{GameConfig, LabFactory, ScreenshotConfig};
use clap::Args;

#[derive(Debug, Args)]
pub struct PlayArgs {
    /// Scenario id to open straight away (skips the menu); see `bulkhead list`.
    pub scenario: Option<String>,
    /// Seed for benign traffic and the simulated lab (random when omitted).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Session seconds per wall second: 1 is real time, 10 is ten times faster.
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f64,
    /// Render one picture offscreen to this PNG and exit (no window needed).
    #[arg(long, value_name = "PATH")]
    pub screenshot: Option<PathBuf>,
    /// With --screenshot: session seconds to play first (warm-up included; past the end shows
    /// the debrief).
    #[arg(long, default_value_t = 60.0, value_name = "SECONDS")]
    pub after: f64,
    /// Print the median frames per second measured over a few seconds of the live screen.
    #[arg(long)]
    pub fps: bool,
}

/// Where best scores are kept: the user's data folder, if there is one.
fn scores_file() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))?;
    Some(base.join("bulkhead/scores.json"))
}

pub fn game_config(
    args: &PlayArgs,
    scenarios: Vec<Loaded>,
    backend: Backend,
    backend_hint: String,
    make_lab: LabFactory,
) -> GameConfig {
    GameConfig {
        scenarios,
        start: args.scenario.clone(),
        seed: args.seed,
        time_scale: args.time_scale,
        backend,
        backend_hint,
        make_lab,
        screenshot: args.screenshot.clone().map(|path| ScreenshotConfig {
            path,
            after_s: args.after,
            width: 1280,
            height: 720,
        }),
        report_fps: args.fps,
        // A screenshot run is not a game: it keeps no score.
        scores_file: if args.screenshot.is_some() {
            None
        } else {
            scores_file()
        },
    }
}
