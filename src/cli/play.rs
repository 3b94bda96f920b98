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

/// Why no window can open here, if none can. Checked before bevy starts, because its windowing
/// layer (winit) panics with a backtrace when it finds no display server. This build draws
/// through X11 only (bevy's `x11` feature), so a Wayland session needs XWayland's DISPLAY.
pub fn display_problem() -> Option<String> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    if set("DISPLAY") {
        return None;
    }
    let missing = if set("WAYLAND_DISPLAY") {
        "WAYLAND_DISPLAY is set, but this build opens windows through X11 and DISPLAY is not set \
         (is XWayland running?)"
    } else {
        "neither DISPLAY nor WAYLAND_DISPLAY is set"
    };
    Some(format!(
        "error: the game needs a display to open its window: {missing}\n  \
         help: run it under a virtual display: `xvfb-run -a bulkhead play ...`\n  \
         help: or play a session without a window: `bulkhead run SCENARIO` (see `bulkhead list`)\n  \
         help: or render one picture offscreen: `bulkhead play SCENARIO --screenshot out.png`"
    ))
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
