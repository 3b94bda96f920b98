//! Framing the map into the space the panels leave, and the pointer: drag to pan, wheel (or
//! + / −) to zoom around the cursor, click a node to select it.
//!
//! Framing is a pure function (`frame`), so a render test can compute where a node lands in a
//! screenshot from `layout()` alone.

use bevy::input::mouse::{AccumulatedMouseScroll, MouseScrollUnit};
use bevy::math::{Rect, Vec2};
use bevy::prelude::*;
use bevy::window::PrimaryWindow;

use crate::live::{LiveUi, regions};
use crate::map::{MapCamera, MapState};
use crate::screens::Screen;

/// What the camera shows: the world point at the centre of the screen, and world units per
/// logical pixel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Framing {
    pub center: Vec2,
    pub scale: f32,
}

/// Room kept around the map when framing it, as a share of its size.
const MARGIN: f32 = 0.035;
const MIN_SCALE: f32 = 0.2;
const MAX_SCALE: f32 = 6.0;

/// Fit world `bounds` into `area` (logical pixels, y down) of a screen of size `screen`.
pub fn frame(bounds: Rect, area: Rect, screen: Vec2) -> Framing {
    let size = bounds.size().max(Vec2::splat(1.0)) * (1.0 + 2.0 * MARGIN);
    let room = area.size().max(Vec2::splat(1.0));
    let scale = (size.x / room.x).max(size.y / room.y);
    // The area's centre, relative to the screen's centre, in world units (y up).
    let offset = Vec2::new(
        area.center().x - screen.x / 2.0,
        screen.y / 2.0 - area.center().y,
    ) * scale;
    Framing {
        center: bounds.center() - offset,
        scale,
    }
}

/// Where a world point lands on the screen (logical pixels, y down).
pub fn world_to_screen(f: &Framing, screen: Vec2, world: Vec2) -> Vec2 {
    let d = (world - f.center) / f.scale;
    Vec2::new(screen.x / 2.0 + d.x, screen.y / 2.0 - d.y)
}

/// The world point under a screen position.
pub fn screen_to_world(f: &Framing, screen: Vec2, px: Vec2) -> Vec2 {
    f.center + Vec2::new(px.x - screen.x / 2.0, screen.y / 2.0 - px.y) * f.scale
}

/// The camera's framing and the pointer's drag, while the live screen is up.
#[derive(Resource, Debug, Default)]
pub struct MapView {
    pub framing: Option<Framing>,
    /// The trainee panned or zoomed: stop re-fitting on every resize until they ask (F).
    pub user_moved: bool,
    drag: Option<Drag>,
}

#[derive(Debug, Clone, Copy)]
struct Drag {
    last: Vec2,
    travelled: f32,
}

/// Whether egui has the pointer (a window over the map, a slider being dragged). Written by
/// the UI pass, read here on the next frame.
#[derive(Resource, Debug, Default)]
pub struct PointerOverUi(pub bool);

pub fn plugin(app: &mut App) {
    app.init_resource::<MapView>()
        .init_resource::<PointerOverUi>()
        .add_systems(OnEnter(Screen::Live), |mut view: ResMut<MapView>| {
            *view = MapView::default();
        })
        .add_systems(OnEnter(Screen::Live), spawn_backdrops)
        .add_systems(
            Update,
            (pointer, apply, backdrops)
                .chain()
                .run_if(in_state(Screen::Live)),
        );
}

/// The bar at the top is painted by bevy rather than egui (see `screens::region`), darker than
/// the panels. The map has no backdrop: it sits on the clear colour, which costs nothing.
#[derive(Component, Debug)]
struct TopBackdrop;

fn spawn_backdrops(mut commands: Commands) {
    commands.spawn((
        Sprite::from_color(crate::theme::to_bevy(crate::theme::BG), Vec2::ONE),
        Transform::from_xyz(0.0, 0.0, -10.0),
        TopBackdrop,
        DespawnOnExit(Screen::Live),
    ));
}

/// Keep the backdrop over its screen region, wherever the camera looks.
fn backdrops(
    camera: Option<Single<&Camera, With<MapCamera>>>,
    view: Res<MapView>,
    mut sprites: Query<(&mut Sprite, &mut Transform), With<TopBackdrop>>,
) {
    let (Some(screen), Some(f)) = (camera.and_then(|c| screen_size(&c)), view.framing) else {
        return;
    };
    let rect = regions(screen).top;
    for (mut sprite, mut transform) in &mut sprites {
        let center = screen_to_world(&f, screen, rect.center());
        transform.translation.x = center.x;
        transform.translation.y = center.y;
        let size = Some(rect.size() * f.scale);
        if sprite.custom_size != size {
            sprite.custom_size = size;
        }
    }
}

/// The screen size in logical pixels, whether the camera draws to a window or an image.
pub fn screen_size(camera: &Camera) -> Option<Vec2> {
    camera
        .logical_target_size()
        .filter(|s| s.x > 0.0 && s.y > 0.0)
}

#[allow(clippy::too_many_arguments)]
fn pointer(
    window: Option<Single<&Window, With<PrimaryWindow>>>,
    camera: Option<Single<&Camera, With<MapCamera>>>,
    buttons: Res<ButtonInput<MouseButton>>,
    keys: Res<ButtonInput<KeyCode>>,
    scroll: Res<AccumulatedMouseScroll>,
    over_ui: Res<PointerOverUi>,
    map: Res<MapState>,
    mut view: ResMut<MapView>,
    mut live: ResMut<LiveUi>,
) {
    let Some(screen) = camera.and_then(|c| screen_size(&c)) else {
        return;
    };
    let Some(mut f) = view.framing else {
        return;
    };
    let area = regions(screen).map;
    // Keyboard zoom works without a pointer (and offscreen).
    let mut zoom = 1.0;
    if !live.typing && (keys.just_pressed(KeyCode::Equal) || keys.just_pressed(KeyCode::NumpadAdd))
    {
        zoom /= 1.25;
    }
    if !live.typing
        && (keys.just_pressed(KeyCode::Minus) || keys.just_pressed(KeyCode::NumpadSubtract))
    {
        zoom *= 1.25;
    }
    let cursor = window
        .as_ref()
        .and_then(|w| w.cursor_position())
        .filter(|p| area.contains(*p) && !over_ui.0);
    if cursor.is_some() {
        let lines = match scroll.unit {
            MouseScrollUnit::Line => scroll.delta.y,
            MouseScrollUnit::Pixel => scroll.delta.y / 40.0,
        };
        if lines != 0.0 {
            zoom *= 0.9f32.powf(lines);
        }
    }
    if zoom != 1.0 {
        // Zoom around the cursor (or the map's centre), keeping that point still.
        let anchor = cursor.unwrap_or(area.center());
        let before = screen_to_world(&f, screen, anchor);
        f.scale = (f.scale * zoom).clamp(MIN_SCALE, MAX_SCALE);
        let after = screen_to_world(&f, screen, anchor);
        f.center += before - after;
        view.user_moved = true;
    }
    // Drag to pan; a press and release that barely moved is a click.
    if buttons.just_pressed(MouseButton::Left)
        && let Some(p) = cursor
    {
        view.drag = Some(Drag {
            last: p,
            travelled: 0.0,
        });
    }
    let current = window.as_ref().and_then(|w| w.cursor_position());
    if let (Some(mut drag), Some(p)) = (view.drag, current) {
        if buttons.pressed(MouseButton::Left) {
            let d = p - drag.last;
            drag.travelled += d.length();
            if drag.travelled > 4.0 {
                f.center -= Vec2::new(d.x, -d.y) * f.scale;
                view.user_moved = true;
            }
            drag.last = p;
            view.drag = Some(drag);
        }
        if buttons.just_released(MouseButton::Left) {
            if drag.travelled <= 4.0 {
                let world = screen_to_world(&f, screen, p);
                match map.layout.node_at(world) {
                    Some(node) => live.selected_node = Some(node.service.clone()),
                    None => live.selected_node = None,
                }
            }
            view.drag = None;
        }
    } else if !buttons.pressed(MouseButton::Left) {
        view.drag = None;
    }
    view.framing = Some(f);
}

/// Fit the map when asked (or until the trainee moves it), then place the camera.
#[allow(clippy::type_complexity)]
fn apply(
    camera: Option<Single<(&Camera, &mut Transform, &mut Projection), With<MapCamera>>>,
    map: Res<MapState>,
    mut view: ResMut<MapView>,
    mut live: ResMut<LiveUi>,
) {
    let Some(camera) = camera else {
        return;
    };
    let (camera, mut transform, mut projection) = camera.into_inner();
    let Some(screen) = screen_size(camera) else {
        return;
    };
    if std::mem::take(&mut live.fit_map) {
        view.user_moved = false;
    }
    if !view.user_moved || view.framing.is_none() {
        view.framing = Some(frame(map.layout.bounds, regions(screen).map, screen));
    }
    let Some(f) = view.framing else {
        return;
    };
    transform.translation.x = f.center.x;
    transform.translation.y = f.center.y;
    if let Projection::Orthographic(ortho) = projection.as_mut()
        && ortho.scale != f.scale
    {
        ortho.scale = f.scale;
    }
}

/// Put the camera back to identity when leaving the live screen (the other screens are egui).
pub fn reset(mut camera: Query<(&mut Transform, &mut Projection), With<MapCamera>>) {
    for (mut t, mut p) in &mut camera {
        t.translation = Vec3::new(0.0, 0.0, t.translation.z);
        if let Projection::Orthographic(o) = p.as_mut() {
            o.scale = 1.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_puts_the_bounds_inside_the_area_and_round_trips() {
        let bounds = Rect::new(-400.0, -200.0, 400.0, 250.0);
        let screen = Vec2::new(1280.0, 720.0);
        let area = Rect::new(330.0, 48.0, 910.0, 562.0);
        let f = frame(bounds, area, screen);
        for corner in [
            bounds.min,
            bounds.max,
            Vec2::new(bounds.min.x, bounds.max.y),
        ] {
            let p = world_to_screen(&f, screen, corner);
            assert!(area.inflate(0.5).contains(p), "{corner} -> {p}");
            let back = screen_to_world(&f, screen, p);
            assert!((back - corner).length() < 1e-3);
        }
        let c = world_to_screen(&f, screen, bounds.center());
        assert!((c - area.center()).length() < 1e-3);
    }
}
