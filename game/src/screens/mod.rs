//! The screens, as bevy states: menu → briefing → live → debrief. The bridge moves between
//! them (it knows when a lab is up or a session is over); this file only declares them and the
//! order in which egui systems draw.

pub mod briefing;
pub mod debrief;
pub mod menu;

use bevy::prelude::*;
use bevy_egui::egui;

#[derive(States, Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Screen {
    #[default]
    Menu,
    Briefing,
    Live,
    Debrief,
}

/// The order egui systems draw in, inside `EguiPrimaryContextPass`: the frame set-up first,
/// then panels, then whatever floats above them.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UiPass {
    Begin,
    Panels,
    Overlay,
}

/// The logic half: the state itself (no rendering needed, so headless tests can use it).
pub fn plugin(app: &mut App) {
    app.init_state::<Screen>();
}

/// A root `Ui` covering `rect` on the background layer. Panels of the live screen are placed by
/// `live::regions`, not by egui's panel stacking, so that the map's camera can frame the space
/// left between them exactly.
///
/// It paints no background: bevy does (clear colour, backdrop sprites). egui's shader converts
/// colours to and from sRGB for every pixel, which under a software rasterizer made full-screen
/// egui fills cost a third of the frame.
pub fn region(ctx: &egui::Context, id: &str, rect: egui::Rect) -> egui::Ui {
    let mut ui = egui::Ui::new(
        ctx.clone(),
        egui::Id::new(id),
        egui::UiBuilder::new()
            .layer_id(egui::LayerId::background())
            .max_rect(rect),
    );
    ui.set_clip_rect(rect);
    ui
}

/// A root `Ui` over the whole screen (menu, briefing, debrief).
pub fn full_screen(ctx: &egui::Context, id: &str) -> egui::Ui {
    region(ctx, id, ctx.viewport_rect())
}
