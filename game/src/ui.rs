//! egui plumbing shared by every screen: the plugin, the order of the UI passes, the style,
//! and who has the keyboard and the pointer this frame.

use bevy::prelude::*;
use bevy_egui::{EguiContexts, EguiPlugin, EguiPrimaryContextPass, egui};

use crate::live::LiveUi;
use crate::map::camera::PointerOverUi;
use crate::screens::UiPass;
use crate::theme;

pub fn plugin(app: &mut App) {
    app.add_plugins(EguiPlugin::default())
        .configure_sets(
            EguiPrimaryContextPass,
            (UiPass::Begin, UiPass::Panels, UiPass::Overlay).chain(),
        )
        .add_systems(EguiPrimaryContextPass, begin.in_set(UiPass::Begin));
}

fn begin(
    mut contexts: EguiContexts,
    mut styled: Local<bool>,
    mut live: ResMut<LiveUi>,
    mut pointer: ResMut<PointerOverUi>,
) -> Result {
    let ctx = contexts.ctx_mut()?;
    if !*styled {
        theme::style(ctx);
        *styled = true;
    }
    // Shortcuts stay quiet only while a text field has the keyboard. A clicked button keeps
    // focus in egui, and Space or Enter would press it again: drop that focus.
    live.typing = ctx.text_edit_focused();
    if !live.typing
        && let Some(id) = ctx.memory(|m| m.focused())
    {
        ctx.memory_mut(|m| m.surrender_focus(id));
    }
    // The map takes clicks only where no egui window floats above it.
    let over = ctx
        .input(|i| i.pointer.hover_pos())
        .and_then(|p| ctx.layer_id_at(p))
        .is_some_and(|layer| layer.order != egui::Order::Background);
    pointer.0 = over || ctx.egui_is_using_pointer();
    Ok(())
}
