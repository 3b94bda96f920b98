//! Bulkhead's game: a bevy + egui front end for live sessions. It draws and forwards; it decides
//! nothing. The session runs in a thread behind `bridge`; screens are bevy states; each panel
//! is a plugin. `run` is the one entry point the CLI calls.

pub mod bridge;
pub mod collateral;
pub mod live;
pub mod map;
pub mod offscreen;
pub mod scores;
pub mod screens;
pub mod theme;
mod ui;

use std::path::PathBuf;
use std::time::Duration;

use bevy::prelude::*;
use bulkhead_engine::{Backend, Loaded};

use bridge::{Bridge, BridgeSettings, Intent};

/// Builds the lab a session runs on; called on the session thread, so a slow lab (Docker
/// images, containers) never stalls a frame.
pub use bulkhead_host::LabFactory;

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

#[derive(Clone)]
pub struct GameConfig {
    pub scenarios: Vec<Loaded>,
    /// A scenario id: skip the menu and open its briefing.
    pub start: Option<String>,
    pub seed: Option<u64>,
    /// Session seconds per wall second; 1 is real time, 0 runs as fast as the lab allows.
    pub time_scale: f64,
    /// What `make_lab` produces, for the menu.
    pub backend: Backend,
    /// How to change the backend, e.g. "run with --backend sim".
    pub backend_hint: String,
    pub make_lab: LabFactory,
    pub screenshot: Option<ScreenshotConfig>,
    /// Measure frames per second over a few seconds of the live screen and print `fps: <median>`.
    pub report_fps: bool,
    /// Best scores (JSON); `None` keeps nothing.
    pub scores_file: Option<PathBuf>,
}

impl std::fmt::Debug for GameConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GameConfig")
            .field("scenarios", &self.scenarios.len())
            .field("start", &self.start)
            .field("seed", &self.seed)
            .field("time_scale", &self.time_scale)
            .field("backend", &self.backend)
            .field("screenshot", &self.screenshot)
            .field("report_fps", &self.report_fps)
            .field("scores_file", &self.scores_file)
            .finish()
    }
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
    #[error("the game exited with code {0}")]
    Exit(u8),
}

/// What the live screen needs to know about the whole game, beyond the bridge's settings.
#[derive(Resource, Debug, Clone)]
pub struct GameInfo {
    pub start: Option<String>,
    pub report_fps: bool,
    /// Offscreen: begin the session at once and never wait for a click.
    pub auto_begin: bool,
}

impl GameConfig {
    fn check(&self) -> Result<(), GameError> {
        if self.scenarios.is_empty() {
            return Err(GameError::NoScenarios);
        }
        if !(self.time_scale >= 0.0 && self.time_scale.is_finite()) {
            return Err(GameError::BadTimeScale(self.time_scale));
        }
        if let Some(id) = &self.start
            && !self.scenarios.iter().any(|l| &l.scenario.id == id)
        {
            return Err(GameError::UnknownScenario {
                id: id.clone(),
                available: self
                    .scenarios
                    .iter()
                    .map(|l| l.scenario.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
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

    fn settings(&self) -> BridgeSettings {
        BridgeSettings {
            scenarios: self.scenarios.clone(),
            make_lab: self.make_lab.clone(),
            backend: self.backend,
            backend_hint: self.backend_hint.clone(),
            seed: self.seed,
            // A screenshot plays as fast as the lab allows up to its moment.
            time_scale: if self.screenshot.is_some() {
                0.0
            } else {
                self.time_scale
            },
            stop_at: self
                .screenshot
                .as_ref()
                .map(|s| (s.after_s * 1000.0).round() as u64),
            scores_file: self.scores_file.clone(),
        }
    }
}

/// The logic of the game, with no rendering: the bridge, the screens as states, the live
/// screen's state and shortcuts. Needs an app with `StatesPlugin` (headless tests use
/// `MinimalPlugins` + `StatesPlugin`).
pub fn add_logic(app: &mut App, config: &GameConfig) {
    // A screenshot with no scenario named shows the first one.
    let start = config.start.clone().or_else(|| {
        config
            .screenshot
            .as_ref()
            .and(config.scenarios.first())
            .map(|l| l.scenario.id.clone())
    });
    app.insert_resource(config.settings())
        .insert_resource(GameInfo {
            start,
            report_fps: config.report_fps,
            auto_begin: config.screenshot.is_some(),
        })
        .init_resource::<ButtonInput<KeyCode>>()
        .add_plugins((screens::plugin, bridge::plugin, live::plugin))
        .add_systems(Startup, open_start);
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
    config.check()?;
    let mut app = App::new();
    let shot = match &config.screenshot {
        Some(shot) => Some(offscreen::platform(&mut app, shot)),
        None => {
            windowed(&mut app);
            None
        }
    };
    add_logic(&mut app, &config);
    add_presentation(&mut app);
    // bevy's runner consumes the app: keep what must outlive it.
    let bridge = app.world().resource::<Bridge>().clone();
    let exit = app.run();
    // Tear the lab down before returning: a Docker lab must not outlive the game.
    bridge.close(Duration::from_secs(20));
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
