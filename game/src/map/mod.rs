//! The network map of the live screen, drawn with bevy 2D (meshes, sprites, text): trust zones,
//! company containers with their live state, animated traffic, pulsing alerts; click to
//! select, drag to pan, wheel to zoom.

pub mod camera;
pub mod draw;
pub mod layout;

use bevy::prelude::*;

pub use layout::{MapLayout, layout};

/// The layout of the scenario being played, computed once when the live screen opens.
#[derive(Resource, Debug, Default)]
pub struct MapState {
    pub layout: MapLayout,
}

/// The camera that draws the map (and carries the egui context).
#[derive(Component, Debug)]
pub struct MapCamera;

pub fn plugin(app: &mut App) {
    app.init_resource::<MapState>()
        .add_plugins((draw::plugin, camera::plugin));
}
