//! The replay bar, over the foot of the map while a record plays back: play/pause, the speed
//! (1x to 60x), and a timeline to scrub, with the moments the trainee acted marked on it. It
//! also says when this version replays the record differently from how it was played.

use bevy::prelude::*;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};
use bulkhead_engine::Millis;
use bulkhead_host::replay::{ReplayStatus, SPEEDS};

use crate::bridge::{Intent, Playback, ReplayControl, SessionView};
use crate::live::{egui_rect, regions, screen_size};
use crate::screens::{Screen, UiPass};
use crate::theme::{self, ACCENT, BLUE, TEXT, VIOLET, WARN};

pub fn plugin(app: &mut App) {
    app.add_systems(
        EguiPrimaryContextPass,
        draw.in_set(UiPass::Overlay)
            .run_if(in_state(Screen::Live))
            .run_if(|playback: Res<Playback>| playback.0.is_some()),
    );
}

fn draw(
    mut contexts: EguiContexts,
    playback: Res<Playback>,
    view: Res<SessionView>,
    mut intents: MessageWriter<Intent>,
) -> Result {
    let Some(status) = &playback.0 else {
        return Ok(());
    };
    let ctx = contexts.ctx_mut()?;
    let map = egui_rect(regions(screen_size(ctx)).map);
    let width = (map.width() - 20.0).max(200.0);
    let rows = if status.drift.is_some() { 3.0 } else { 2.0 };
    egui::Area::new(egui::Id::new("replay-bar"))
        .fixed_pos(map.left_bottom() + egui::vec2(10.0, -(12.0 + 26.0 * rows)))
        .show(ctx, |ui| {
            ui.set_width(width);
            theme::card()
                .fill(theme::CARD.gamma_multiply(0.95))
                .inner_margin(egui::Margin::symmetric(8, 4))
                .show(ui, |ui| {
                    ui.spacing_mut().item_spacing.y = 2.0;
                    let live_start_ms = view.snapshot.as_ref().map_or(0, |s| s.live_start_ms);
                    controls(ui, status, live_start_ms, &mut intents);
                    if let Some(t) = timeline(
                        ui,
                        ui.available_width(),
                        status.now_ms,
                        status.end_ms,
                        &view,
                    ) {
                        intents.write(Intent::Replay(ReplayControl::Seek(t)));
                    }
                    if let Some(drift) = &status.drift {
                        ui.label(egui::RichText::new(drift).small().color(WARN));
                    }
                });
        });
    Ok(())
}

/// Play/pause, the speeds, and the clock.
fn controls(
    ui: &mut egui::Ui,
    status: &ReplayStatus,
    live_start_ms: Millis,
    intents: &mut MessageWriter<Intent>,
) {
    ui.horizontal(|ui| {
        theme::pill(ui, "REPLAY", VIOLET)
            .on_hover_text("A record played back: it shows what was done and takes no commands");
        let play = if status.paused { "▶" } else { "⏸" };
        if ui
            .small_button(play)
            .on_hover_text("Play / pause (Space)")
            .clicked()
        {
            intents.write(Intent::TogglePause);
        }
        for speed in SPEEDS {
            let chosen = (status.speed - speed).abs() < 1e-9;
            if ui.selectable_label(chosen, format!("{speed}×")).clicked() {
                intents.write(Intent::Replay(ReplayControl::Speed(speed)));
            }
        }
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            // Live-phase time, as the bar at the top counts it (negative: the warm-up).
            let live_s = |t: Millis| (t as f64 - live_start_ms as f64) / 1000.0;
            let clock = format!(
                "{} / {}",
                theme::clock(live_s(status.now_ms)),
                theme::clock(live_s(status.end_ms))
            );
            ui.label(egui::RichText::new(clock).monospace().color(TEXT))
                .on_hover_text(
                    "Live-phase time (negative: the warm-up) / where the record ends. \
                     ← → move 10 s, [ ] change the speed",
                );
        });
    });
}

/// A scrubbable timeline: the warm-up and live phase, the trainee's actions so far as ticks,
/// and the playhead. Returns where the trainee clicked or dragged to.
fn timeline(
    ui: &mut egui::Ui,
    width: f32,
    now_ms: Millis,
    end_ms: Millis,
    view: &SessionView,
) -> Option<Millis> {
    let (rect, response) =
        ui.allocate_exact_size(egui::vec2(width, 18.0), egui::Sense::click_and_drag());
    let end = end_ms.max(1) as f32;
    let x_of = |t: Millis| rect.left() + rect.width() * (t as f32 / end).clamp(0.0, 1.0);
    let painter = ui.painter_at(rect);
    let track = egui::Rect::from_x_y_ranges(
        rect.x_range(),
        rect.center().y - 3.0..=rect.center().y + 3.0,
    );
    painter.rect_filled(track, 3.0, theme::LINE);
    if let Some(snap) = &view.snapshot {
        let warmup =
            egui::Rect::from_x_y_ranges(rect.left()..=x_of(snap.live_start_ms), track.y_range());
        painter.rect_filled(warmup, 3.0, BLUE.gamma_multiply(0.5));
        for m in &snap.mitigations {
            let x = x_of(m.t_ms);
            painter.line_segment(
                [egui::pos2(x, rect.top()), egui::pos2(x, rect.bottom())],
                egui::Stroke::new(2.0, ACCENT),
            );
        }
    }
    let played = egui::Rect::from_x_y_ranges(rect.left()..=x_of(now_ms), track.y_range());
    painter.rect_filled(played, 3.0, VIOLET.gamma_multiply(0.7));
    painter.circle_filled(egui::pos2(x_of(now_ms), rect.center().y), 6.0, TEXT);
    let response = response.on_hover_text("Click or drag to move through the session");
    if !(response.clicked() || response.dragged()) {
        return None;
    }
    let x = response.interact_pointer_pos()?.x;
    let share = ((x - rect.left()) / rect.width()).clamp(0.0, 1.0);
    let t = (f64::from(share) * end_ms as f64).round() as Millis;
    // A drag that has not moved the playhead a tick's worth asks for nothing.
    (t.abs_diff(now_ms) >= bulkhead_engine::session::TICK_MS).then_some(t)
}
