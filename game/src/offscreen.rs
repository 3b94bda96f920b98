//! Rendering without a window: one screenshot of the live screen (or the debrief) for docs and
//! render tests, and the frame-rate probe (`fps: <median>`).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bevy::app::ScheduleRunnerPlugin;
use bevy::camera::RenderTarget;
use bevy::prelude::*;
use bevy::render::render_resource::{TextureFormat, TextureUsages};
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured};
use bevy::window::ExitCondition;
use bevy::winit::WinitPlugin;

use crate::bridge::{LabState, SessionView};
use crate::live::{AlertSort, LiveUi, sorted_alerts};
use crate::map::MapCamera;
use crate::screens::Screen;
use crate::{GameError, GameInfo, ScreenshotConfig};

/// Frames drawn after the moment arrives and before the capture: egui lays out over a couple
/// of frames and charts settle their bounds.
const SETTLE_FRAMES: u32 = 24;
/// Wall time the fps probe measures over.
const FPS_WINDOW: Duration = Duration::from_secs(4);
/// Frames skipped before measuring (pipelines compile, atlases fill).
const FPS_SKIP: u32 = 30;
/// Give up when the moment has not come by then.
const DEADLINE: Duration = Duration::from_secs(600);

#[derive(Resource)]
struct Shot {
    target: Handle<Image>,
    path: PathBuf,
    step: Step,
    started: Instant,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Step {
    Waiting,
    Settling(u32),
    Capturing,
    Done,
}

/// How the screenshot went, read by `run` after the app exits (shared: bevy's runner consumes
/// the app).
#[derive(Resource, Debug, Default, Clone)]
pub struct ShotOutcome(Arc<Mutex<Option<Result<PathBuf, String>>>>);

impl ShotOutcome {
    fn set(&self, result: Result<PathBuf, String>) {
        if let Ok(mut o) = self.0.lock() {
            *o = Some(result);
        }
    }

    /// The result of an offscreen run.
    pub fn result(&self) -> Result<(), GameError> {
        match self.0.lock().ok().and_then(|o| o.clone()) {
            Some(Ok(_)) => Ok(()),
            Some(Err(e)) => Err(GameError::Screenshot(e)),
            None => Err(GameError::Screenshot(
                "the game stopped before taking the picture".into(),
            )),
        }
    }
}

/// The plugins of an offscreen app: no window, no winit, a render target image.
pub fn platform(app: &mut App, shot: &ScreenshotConfig) -> ShotOutcome {
    app.add_plugins((
        DefaultPlugins
            .set(WindowPlugin {
                primary_window: None,
                exit_condition: ExitCondition::DontExit,
                ..default()
            })
            .disable::<WinitPlugin>()
            .disable::<bevy::log::LogPlugin>(),
        ScheduleRunnerPlugin::run_loop(Duration::ZERO),
    ));
    let (width, height, path) = (shot.width, shot.height, shot.path.clone());
    let outcome = ShotOutcome::default();
    app.insert_resource(outcome.clone())
        .add_systems(
            Startup,
            move |mut commands: Commands, mut images: ResMut<Assets<Image>>| {
                let mut image =
                    Image::new_target_texture(width, height, TextureFormat::Rgba8UnormSrgb, None);
                image.texture_descriptor.usage |= TextureUsages::COPY_SRC;
                let target = images.add(image);
                commands.spawn((
                    Camera2d,
                    MapCamera,
                    // The map's shapes are anti-aliased in their textures (see map/draw.rs).
                    Msaa::Off,
                    RenderTarget::Image(target.clone().into()),
                ));
                commands.insert_resource(Shot {
                    target,
                    path: path.clone(),
                    step: Step::Waiting,
                    started: Instant::now(),
                });
            },
        )
        .add_systems(Update, progress);
    outcome
}

#[allow(clippy::too_many_arguments)]
fn progress(
    mut commands: Commands,
    shot: Option<ResMut<Shot>>,
    screen: Res<State<Screen>>,
    view: Res<SessionView>,
    probe: Res<FpsProbe>,
    info: Res<GameInfo>,
    mut live: ResMut<LiveUi>,
    outcome: Res<ShotOutcome>,
    mut exit: MessageWriter<AppExit>,
) {
    let Some(mut shot) = shot else {
        return;
    };
    if let LabState::Failed(why) = &view.lab {
        outcome.set(Err(format!("the session could not go on: {why}")));
        exit.write(AppExit::error());
        shot.step = Step::Done;
        return;
    }
    match shot.step {
        Step::Waiting => {
            let at = info.shot_at.unwrap_or(0);
            let ready = match screen.get() {
                Screen::Debrief => true,
                Screen::Live => view.snapshot.as_ref().is_some_and(|s| s.now_ms >= at),
                _ => false,
            };
            // With --fps, measure while the live screen holds still, before the capture.
            let measured = !info.report_fps || probe.done || *screen.get() != Screen::Live;
            if ready && measured {
                // Nobody clicks offscreen: show the worst alert's detail, as a trainee would.
                if live.selected_alert.is_none()
                    && let Some(snap) = &view.snapshot
                    && let Some(worst) = sorted_alerts(snap, AlertSort::Severity).first()
                {
                    live.select_alert(worst);
                }
                shot.step = Step::Settling(0);
            } else if shot.started.elapsed() > DEADLINE {
                outcome.set(Err(format!(
                    "the session did not reach {:.0} s within {} s",
                    at as f64 / 1000.0,
                    DEADLINE.as_secs()
                )));
                exit.write(AppExit::error());
                shot.step = Step::Done;
            }
        }
        Step::Settling(n) if n < SETTLE_FRAMES => shot.step = Step::Settling(n + 1),
        Step::Settling(_) => {
            let path = shot.path.clone();
            commands
                .spawn(Screenshot::image(shot.target.clone()))
                .observe(
                    move |captured: On<ScreenshotCaptured>,
                          outcome: Res<ShotOutcome>,
                          mut exit: MessageWriter<AppExit>| {
                        let saved = captured
                            .image
                            .clone()
                            .try_into_dynamic()
                            .map_err(|e| format!("cannot convert the captured image: {e}"))
                            .and_then(|img| {
                                img.to_rgb8()
                                    .save(&path)
                                    .map_err(|e| format!("cannot write {}: {e}", path.display()))
                            });
                        outcome.set(saved.map(|()| path.clone()));
                        exit.write(AppExit::Success);
                    },
                );
            shot.step = Step::Capturing;
        }
        Step::Capturing if shot.started.elapsed() > DEADLINE => {
            outcome.set(Err("the capture never arrived".into()));
            exit.write(AppExit::error());
            shot.step = Step::Done;
        }
        Step::Capturing | Step::Done => {}
    }
}

/// Frame times on the live screen, for `fps: <median>`.
#[derive(Resource, Debug, Default)]
pub struct FpsProbe {
    skipped: u32,
    started: Option<Instant>,
    last: Option<Instant>,
    frame_s: Vec<f64>,
    pub done: bool,
    /// The median, once measured.
    pub fps: Option<f64>,
}

pub fn fps_plugin(app: &mut App) {
    app.init_resource::<FpsProbe>()
        .add_systems(Last, measure.run_if(|info: Res<GameInfo>| info.report_fps));
}

fn measure(
    mut probe: ResMut<FpsProbe>,
    screen: Res<State<Screen>>,
    view: Res<SessionView>,
    info: Res<GameInfo>,
) {
    if probe.done || *screen.get() != Screen::Live {
        return;
    }
    // Offscreen, measure once the session holds at its moment, so the picture is the one measured.
    if let Some(at) = info.shot_at
        && view.snapshot.as_ref().is_none_or(|s| s.now_ms < at)
    {
        return;
    }
    let now = Instant::now();
    if probe.skipped < FPS_SKIP {
        probe.skipped += 1;
        probe.last = Some(now);
        return;
    }
    let started = *probe.started.get_or_insert(now);
    if let Some(last) = probe.last {
        probe.frame_s.push((now - last).as_secs_f64());
    }
    probe.last = Some(now);
    if now - started >= FPS_WINDOW && !probe.frame_s.is_empty() {
        let mut v = probe.frame_s.clone();
        v.sort_by(f64::total_cmp);
        let median = v[v.len() / 2];
        let fps = if median > 0.0 { 1.0 / median } else { 0.0 };
        println!("fps: {fps:.1}");
        probe.fps = Some(fps);
        probe.done = true;
    }
}
