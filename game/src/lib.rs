//! Bulkhead's game: a bevy + egui front end for live sessions. It draws and forwards; it decides
//! nothing. Sessions run on a seat (in this process, or on a server) behind `bridge`; screens
//! are bevy states; each panel is a plugin. `run` is the one entry point the CLI calls.

pub mod bridge;
pub mod collateral;
pub mod live;
pub mod map;
pub mod offscreen;
pub mod scores;
pub mod screens;
pub mod seat;
pub mod theme;
mod ui;

use std::path::PathBuf;
use std::time::Duration;

use bevy::prelude::*;
use bulkhead_engine::Millis;

use bridge::{Bridge, Intent, Resumed};
use seat::{Attached, SeatInfo};

/// Builds the lab a session runs on; called on the seat's thread, so a slow lab (Docker
/// images, containers) never stalls a frame.
pub use bulkhead_host::LabFactory;
pub use seat::{JoinSeat, LocalSeat, ReplaySource, SeatSource};

/// How long `run` waits, after the game closes, for a local seat's lab to come down.
const TEARDOWN_WAIT: Duration = Duration::from_secs(20);

/// Render one picture without a window, then exit.
#[derive(Debug, Clone, PartialEq)]
pub struct ScreenshotConfig {
    /// Where to write the PNG.
    pub path: PathBuf,
    /// Session seconds to play first (warm-up included); past the end, the debrief is shown.
    pub after_s: f64,
    pub width: u32,
    pub height: u32,
}

#[derive(Debug, Clone)]
pub struct GameConfig {
    /// Where the trainee's seat is: in this process, or on a server.
    pub seat: SeatSource,
    /// A scenario id: skip the menu and open its briefing.
    pub start: Option<String>,
    pub screenshot: Option<ScreenshotConfig>,
    /// Measure frames per second over a few seconds of the live screen and print `fps: <median>`.
    pub report_fps: bool,
    /// Best scores (JSON); `None` keeps nothing.
    pub scores_file: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum GameError {
    #[error("no scenarios to play")]
    NoScenarios,
    #[error("unknown scenario \"{id}\"; available: {available}")]
    UnknownScenario { id: String, available: String },
    #[error("time scale {0} must be 0 (as fast as possible) or a positive number")]
    BadTimeScale(f64),
    #[error("screenshot: {0}")]
    Screenshot(String),
    #[error("could not start the session host: {0}")]
    Seat(std::io::Error),
    #[error("could not join the seat at {url}: {source}")]
    Join {
        url: String,
        #[source]
        source: bulkhead_host::remote::ConnectError,
    },
    #[error("the seat did not greet the game: {0}")]
    NoWelcome(String),
    #[error("the game exited with code {0}")]
    Exit(u8),
}

/// What the screens need to know about the whole game, beyond the seat.
#[derive(Resource, Debug, Clone)]
pub struct GameInfo {
    pub start: Option<String>,
    pub report_fps: bool,
    /// Offscreen: begin the session at once and never wait for a click.
    pub auto_begin: bool,
    /// Offscreen: the session time to take the picture at.
    pub shot_at: Option<Millis>,
    /// Best scores (JSON); `None` keeps nothing.
    pub scores_file: Option<PathBuf>,
}

impl GameConfig {
    /// What can be checked before attaching to a seat.
    fn check(&self) -> Result<(), GameError> {
        if let SeatSource::Local(local) = &self.seat {
            if local.scenarios.is_empty() {
                return Err(GameError::NoScenarios);
            }
            if !(local.time_scale >= 0.0 && local.time_scale.is_finite()) {
                return Err(GameError::BadTimeScale(local.time_scale));
            }
        }
        if let Some(s) = &self.screenshot
            && (s.width == 0 || s.height == 0 || !s.after_s.is_finite() || s.after_s < 0.0)
        {
            return Err(GameError::Screenshot(format!(
                "needs a size above zero and a non-negative time, got {}×{} after {} s",
                s.width, s.height, s.after_s
            )));
        }
        Ok(())
    }

    /// The scenario named to start with must be one the seat offers.
    fn check_start(&self, seat: &SeatInfo) -> Result<(), GameError> {
        if seat.offers.is_empty() {
            return Err(GameError::NoScenarios);
        }
        match &self.start {
            Some(id) if !seat.offers(id) => Err(GameError::UnknownScenario {
                id: id.clone(),
                available: seat.offered_ids(),
            }),
            _ => Ok(()),
        }
    }

    /// The session time a screenshot is taken at.
    fn shot_at(&self) -> Option<Millis> {
        self.screenshot
            .as_ref()
            .map(|s| (s.after_s * 1000.0).round() as Millis)
    }

    fn info(&self, seat: &Attached) -> GameInfo {
        // A screenshot with no scenario named shows the first one.
        let start = self.start.clone().or_else(|| {
            self.screenshot
                .as_ref()
                .and(seat.info.offers.first())
                .map(|o| o.id.clone())
        });
        // Rejoining a seat that still runs the scenario named: carry on with it rather than
        // throw it away. A screenshot always starts afresh, to be taken at its moment.
        let resumes = self.screenshot.is_none() && start.as_deref() == seat.resumable();
        let start = start.filter(|_| !resumes);
        GameInfo {
            start,
            report_fps: self.report_fps,
            auto_begin: self.screenshot.is_some(),
            shot_at: self.shot_at(),
            scores_file: self.scores_file.clone(),
        }
    }
}

/// Attach the game to the seat `config` names (spawned here, or joined on a server) and check
/// that it offers what `config` asks for. Blocks until the seat has greeted the game.
pub fn attach(config: &GameConfig) -> Result<Attached, GameError> {
    config.check()?;
    let attached = seat::attach(config)?;
    config.check_start(attached.info())?;
    Ok(attached)
}

/// The logic of the game, with no rendering: the bridge to `seat`, the screens as states, the
/// live screen's state and shortcuts. Needs an app with `StatesPlugin` (headless tests use
/// `MinimalPlugins` + `StatesPlugin`).
pub fn add_logic(app: &mut App, config: &GameConfig, seat: Attached) {
    let info = config.info(&seat);
    // A scenario opened at startup replaces the seat's open session: what the seat said of
    // that one must not show, not even for a frame (an offscreen run would take it for its own).
    let resumed = if info.start.is_some() {
        Vec::new()
    } else {
        seat.resumed
    };
    app.insert_resource(info)
        .insert_resource(Bridge::new(seat.link))
        .insert_resource(seat.info)
        .insert_resource(Resumed(resumed))
        .init_resource::<ButtonInput<KeyCode>>()
        .add_plugins((screens::plugin, bridge::plugin, live::plugin))
        .add_systems(Startup, (bridge::resume, open_start));
}

/// Skip the menu when a scenario was named (and the briefing too, offscreen).
fn open_start(info: Res<GameInfo>, mut intents: MessageWriter<Intent>) {
    if let Some(id) = &info.start {
        intents.write(Intent::Open(id.clone()));
        if info.auto_begin {
            intents.write(Intent::Start);
        }
    }
}

/// Everything that draws: egui and its screens and panels, the map.
pub fn add_presentation(app: &mut App) {
    app.add_plugins((
        ui::plugin,
        theme::plugin,
        screens::menu::plugin,
        screens::briefing::plugin,
        screens::debrief::plugin,
        live::panels_plugin,
        map::plugin,
        offscreen::fps_plugin,
    ));
}

/// Play: a window, or one offscreen picture when `config.screenshot` is set.
pub fn run(config: GameConfig) -> Result<(), GameError> {
    // Before any window: a refused join ends the game here, with its reason.
    let seat = attach(&config)?;
    let mut app = App::new();
    let shot = match &config.screenshot {
        Some(shot) => Some(offscreen::platform(&mut app, shot)),
        None => {
            windowed(&mut app);
            None
        }
    };
    add_logic(&mut app, &config, seat);
    add_presentation(&mut app);
    // bevy's runner consumes the app: keep what must outlive it.
    let bridge = app.world().resource::<Bridge>().clone();
    let exit = app.run();
    // End a local seat before returning: a Docker lab must not outlive the game.
    bridge.shut_down(TEARDOWN_WAIT);
    if let Some(shot) = shot {
        return shot.result();
    }
    match exit {
        AppExit::Success => Ok(()),
        AppExit::Error(code) => Err(GameError::Exit(code.get())),
    }
}

fn windowed(app: &mut App) {
    app.add_plugins(
        DefaultPlugins
            .set(WindowPlugin {
                primary_window: Some(Window {
                    title: "Bulkhead".into(),
                    resolution: (1280, 720).into(),
                    ..default()
                }),
                ..default()
            })
            // The CLI owns logging (tracing); bevy's events still reach its subscriber.
            .disable::<bevy::log::LogPlugin>(),
    )
    .add_systems(Startup, |mut commands: Commands| {
        // The map's shapes are anti-aliased in their textures (see map/draw.rs).
        commands.spawn((Camera2d, map::MapCamera, Msaa::Off));
    });
}
