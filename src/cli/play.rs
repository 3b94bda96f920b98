//! `bulkhead play`: the game window (or, with --screenshot, one offscreen picture), on a seat in
//! this process or, with --join, on a seat of a `bulkhead serve` server.

use std::path::PathBuf;

use bulkhead_engine::{Backend, Loaded};
use bulkhead_game::{GameConfig, JoinSeat, LabFactory, LocalSeat, ScreenshotConfig, SeatSource};
use clap::Args;

#[derive(Debug, Args)]
pub struct PlayArgs {
    /// Scenario id to open straight away (skips the menu); see `bulkhead list`.
    pub scenario: Option<String>,
    /// Seed for benign traffic and the simulated lab (random when omitted).
    // A served seat's server owns its seed, clock and lab: asking for them here would be ignored.
    #[arg(long, conflicts_with = "join")]
    pub seed: Option<u64>,
    /// Session seconds per wall second: 1 is real time, 10 is ten times faster.
    #[arg(long, default_value_t = 1.0, conflicts_with = "join")]
    pub time_scale: f64,
    /// Render one picture offscreen to this PNG and exit (no window needed).
    #[arg(long, value_name = "PATH")]
    pub screenshot: Option<PathBuf>,
    /// With --screenshot: session seconds to play first (warm-up included; past the end shows
    /// the debrief). With --join the server's clock keeps running while the picture is drawn,
    /// so it shows a moment a little later.
    #[arg(long, default_value_t = 60.0, value_name = "SECONDS")]
    pub after: f64,
    /// Print the median frames per second measured over a few seconds of the live screen.
    #[arg(long)]
    pub fps: bool,
    #[command(flatten)]
    pub seat: JoinArgs,
}

/// Where a served seat is and who joins it: `play` and `run` take the same flags.
#[derive(Debug, Args)]
pub struct JoinArgs {
    /// Join a seat on a `bulkhead serve` server at this address (e.g. http://10.0.0.5:7420)
    /// instead of playing on this machine; the server runs the lab, keeps the record and
    /// scores the session.
    #[arg(long, value_name = "URL", requires = "code")]
    pub join: Option<String>,
    /// With --join: the seat's join code, as the facilitator handed it out.
    #[arg(long, requires = "join")]
    pub code: Option<String>,
    /// With --join: how you appear on the facilitator's scoreboard (default: $USER, else
    /// "trainee").
    #[arg(long, requires = "join")]
    pub name: Option<String>,
}

impl JoinArgs {
    /// The name given, else the user's login name, else "trainee".
    pub fn trainee_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| {
            std::env::var("USER")
                .ok()
                .filter(|u| !u.trim().is_empty())
                .unwrap_or_else(|| "trainee".into())
        })
    }
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

/// The served seat `--join` names, if it was given.
pub fn join_seat(args: &PlayArgs) -> Option<JoinSeat> {
    let url = args.seat.join.clone()?;
    Some(JoinSeat {
        url,
        // clap requires --code with --join; an empty code is refused by the server, by name.
        code: args.seat.code.clone().unwrap_or_default(),
        name: args.seat.trainee_name(),
    })
}

/// A seat in this process, over these scenarios and this lab.
pub fn local_seat(
    args: &PlayArgs,
    scenarios: Vec<Loaded>,
    backend: Backend,
    backend_hint: String,
    make_lab: LabFactory,
) -> SeatSource {
    SeatSource::Local(LocalSeat {
        scenarios,
        make_lab,
        backend,
        backend_hint,
        seed: args.seed,
        time_scale: args.time_scale,
        // The CLI names the records folder (`game.rs`); none here.
        records: None,
    })
}

pub fn game_config(args: &PlayArgs, seat: SeatSource) -> GameConfig {
    GameConfig {
        seat,
        start: args.scenario.clone(),
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
