//! The help overlay (F1 or ?): every shortcut, and how the screen reads.

use bevy::prelude::*;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};

use crate::live::LiveUi;
use crate::live::shortcuts::SHORTCUTS;
use crate::screens::{Screen, UiPass};
use crate::theme::{self, ACCENT, DIM};

pub fn plugin(app: &mut App) {
    app.add_systems(
        EguiPrimaryContextPass,
        draw.in_set(UiPass::Overlay).run_if(in_state(Screen::Live)),
    );
}

fn draw(mut contexts: EguiContexts, mut live: ResMut<LiveUi>) -> Result {
    let ctx = contexts.ctx_mut()?;
    if !live.help {
        return Ok(());
    }
    let mut open = true;
    egui::Window::new("Shortcuts")
        .open(&mut open)
        .collapsible(false)
        .resizable(false)
        .anchor(egui::Align2::CENTER_CENTER, egui::vec2(0.0, 0.0))
        .default_width(860.0)
        .frame(theme::card().fill(theme::CARD_HI))
        .show(ctx, |ui| {
            // Two columns, so the whole list fits a 720-pixel-high screen.
            let half = SHORTCUTS.len().div_ceil(2);
            ui.columns(2, |cols| {
                for (i, col) in cols.iter_mut().enumerate() {
                    egui::Grid::new(("shortcuts", i))
                        .num_columns(2)
                        .spacing([14.0, 5.0])
                        .show(col, |ui| {
                            for (keys, what) in SHORTCUTS.iter().skip(i * half).take(half) {
                                ui.label(
                                    egui::RichText::new(*keys).monospace().strong().color(ACCENT),
                                );
                                ui.label(*what);
                                ui.end_row();
                            }
                        });
                }
            });
            ui.add_space(6.0);
            ui.label(
                egui::RichText::new(
                    "Map: nodes are company containers in their trust zones; a pulsing red ring is an alert, \
                     dots along a link are live traffic (red: refused). Bars under a node: cpu and memory against its limits.",
                )
                .small()
                .color(DIM),
            );
        });
    if !open {
        live.help = false;
    }
    Ok(())
}
