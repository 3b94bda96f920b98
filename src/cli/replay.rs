//! `bulkhead replay RECORD`: the game opens a session record on its live screen, driven by the
//! record instead of a lab: play/pause, speed, a scrubbable timeline, what the trainee did as
//! they did it, and the debrief at the end. Records of either backend and served seats' replay.

use std::path::PathBuf;

use bulkhead_engine::Record;
use bulkhead_game::{GameConfig, ReplaySource, ScreenshotConfig, SeatSource};
use bulkhead_host::replay::SPEEDS;
use clap::Args;

use super::{EXIT_BAD_INPUT, Exit, game, play, report as fail};

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// A session record: see `bulkhead records`, `run --record`, or a served seat's download.
    pub record: PathBuf,
    /// Session seconds per wall second to start at: 1, 2, 5, 10, 30 or 60 (the replay bar
    /// changes it).
    #[arg(long, default_value_t = 10.0)]
    pub speed: f64,
    /// Render one picture offscreen to this PNG and exit (no window needed).
    #[arg(long, value_name = "PATH")]
    pub screenshot: Option<PathBuf>,
    /// With --screenshot: the session second to show (warm-up included; past the end shows
    /// the debrief).
    #[arg(long, default_value_t = 60.0, value_name = "SECONDS")]
    pub after: f64,
    /// Print the median frames per second measured over a few seconds of playback.
    #[arg(long)]
    pub fps: bool,
}

pub fn replay(args: &ReplayArgs) -> Result<(), Exit> {
    if !SPEEDS.contains(&args.speed) {
        let offered: Vec<String> = SPEEDS.iter().map(ToString::to_string).collect();
        eprintln!(
            "error: --speed {} is not offered\n  help: use one of {}",
            args.speed,
            offered.join(", ")
        );
        return Err(Exit(EXIT_BAD_INPUT));
    }
    let record = Record::read(&args.record).map_err(|e| fail(e, EXIT_BAD_INPUT))?;
    if !record.finished() {
        eprintln!(
            "note: this record stops before its debrief (the session was stopped): the replay ends where it stops"
        );
    }
    if args.screenshot.is_none()
        && let Some(problem) = play::display_problem()
    {
        eprintln!("{problem}");
        return Err(Exit(EXIT_BAD_INPUT));
    }
    let start = Some(record.scenario.id.clone());
    let config = GameConfig {
        seat: SeatSource::Replay(ReplaySource {
            record: Box::new(record),
            path: args.record.display().to_string(),
            speed: args.speed,
        }),
        start,
        screenshot: args.screenshot.clone().map(|path| ScreenshotConfig {
            path,
            after_s: args.after,
            width: 1280,
            height: 720,
        }),
        report_fps: args.fps,
        // A replay is not a game played: it keeps no best score.
        scores_file: None,
    };
    game::run_game(config)
}
