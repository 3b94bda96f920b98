//! The heads-up bar: scenario, phase, clock, the trainee's own progress (alerts triaged,
//! actions and their confirmed results, hint points spent), hints, pause and help. No score:
//! that would tell a trainee which alert is real; it appears at the debrief. When the session
//! cannot go on (its lab failed, or the connection to its seat closed), a card over the map says
//! why.

use bevy::prelude::*;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};
use bulkhead_engine::Phase;

use crate::bridge::{Intent, LabState, SessionView, Snapshot};
use crate::live::{LiveUi, Pending, egui_rect, regions, screen_size};
use crate::screens::{Screen, UiPass, region};
use crate::seat::SeatInfo;
use crate::theme::{self, ACCENT, BAD, BLUE, DIM, GOOD, LINE, TEXT, WARN};

pub fn plugin(app: &mut App) {
    app.add_systems(
        EguiPrimaryContextPass,
        (
            draw.in_set(UiPass::Panels),
            session_lost.in_set(UiPass::Overlay),
        )
            .run_if(in_state(Screen::Live)),
    );
}

fn draw(
    mut contexts: EguiContexts,
    view: Res<SessionView>,
    seat: Res<SeatInfo>,
    mut live: ResMut<LiveUi>,
    mut intents: MessageWriter<Intent>,
) -> Result {
    let ctx = contexts.ctx_mut()?;
    let r = regions(screen_size(ctx));
    let mut ui = region(ctx, "hud", egui_rect(r.top));
    let rect = ui.max_rect();
    ui.painter().line_segment(
        [rect.left_bottom(), rect.right_bottom()],
        egui::Stroke::new(1.0, LINE),
    );
    let (Some(snap), Some(brief)) = (&view.snapshot, &view.brief) else {
        ui.centered_and_justified(|ui| theme::note(ui, "Starting the session…"));
        return Ok(());
    };
    egui::Frame::new()
        .inner_margin(egui::Margin::symmetric(12, 8))
        .show(&mut ui, |ui| {
            ui.horizontal_centered(|ui| {
                ui.label(egui::RichText::new("BULKHEAD").strong().color(ACCENT));
                ui.label(egui::RichText::new(&brief.title).strong().color(TEXT));
                ui.separator();
                let (phase, color) = match snap.phase {
                    Phase::Briefing => ("BRIEFING", DIM),
                    Phase::Hardening => ("HARDENING", WARN),
                    Phase::Warmup => ("WARM-UP", BLUE),
                    Phase::Live => ("LIVE", BAD),
                    Phase::Debrief => ("OVER", GOOD),
                };
                theme::pill(ui, phase, color);
                let live_s = snap.live_s(snap.now_ms);
                let live_total = (snap.total_ms - snap.live_start_ms) as f64 / 1000.0;
                let (clock, tip) = if snap.phase == Phase::Hardening {
                    let left_ms = snap.hardening_end_ms.saturating_sub(snap.now_ms);
                    (
                        format!("fix for {}", theme::clock(left_ms as f64 / 1000.0)),
                        "Hardening: review the audit's findings and fix what is worth fixing before the warm-up.",
                    )
                } else if snap.phase == Phase::Warmup {
                    (
                        format!("live in {}", theme::clock(-live_s)),
                        "The detector is learning what normal looks like; commands wait for the live phase.",
                    )
                } else {
                    (
                        format!("{} / {}", theme::clock(live_s), theme::clock(live_total)),
                        "Live-phase time",
                    )
                };
                ui.label(egui::RichText::new(clock).monospace().size(15.0).color(TEXT))
                    .on_hover_text(tip);
                let share = snap.now_ms as f32 / snap.total_ms.max(1) as f32;
                ui.add(
                    egui::ProgressBar::new(share)
                        .desired_width(90.0)
                        .desired_height(6.0)
                        .fill(if snap.phase == Phase::Warmup { BLUE } else { ACCENT }),
                );
                if snap.paused {
                    theme::pill(ui, "PAUSED", WARN);
                }
                if let Some(scale) = seat.time_scale.filter(|s| *s != 1.0 && *s > 0.0) {
                    theme::note(ui, format!("×{scale}"));
                }
                if let Some(ready) = view.lab_timings.ready_s {
                    // The lab's own speed, for whoever wonders why the start took a while.
                    theme::note(ui, format!("lab ready in {ready:.1} s"))
                        .on_hover_text(view.lab_timings.line().unwrap_or_default());
                }
                if let Some(e) = &snap.lab_error {
                    theme::pill(ui, "LAB ERROR", BAD).on_hover_text(e);
                }
                if let Some(why) = &snap.held {
                    theme::pill(ui, "LAB UNREACHABLE: CLOCK HELD", BAD).on_hover_text(why);
                }
                let lagging = bulkhead_engine::telemetry::lagging(&snap.telemetry, snap.now_ms);
                if !lagging.is_empty() {
                    let lines: Vec<String> = lagging.iter().map(|s| s.line()).collect();
                    theme::pill(ui, "TELEMETRY LATE", WARN).on_hover_text(format!(
                        "Some telemetry reaches you late; alerts it opens say so, and time to \
                         detect counts from when you could see them.\n{}",
                        lines.join("\n")
                    ));
                }
                ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                    ui.menu_button("☰", |ui| {
                        if ui.button("End now and debrief").clicked() {
                            live.confirm = Some(Pending::Finish);
                            ui.close();
                        }
                        if ui.button("Abandon to the menu").clicked() {
                            live.confirm = Some(Pending::Leave);
                            ui.close();
                        }
                    });
                    if ui.button("?  Help").on_hover_text("Every shortcut (F1 or ?)").clicked() {
                        live.help = !live.help;
                    }
                    let pause_text = if snap.paused { "▶ Resume" } else { "⏸ Pause" };
                    let pause = ui.add_enabled(snap.can_pause, egui::Button::new(pause_text));
                    let pause = if snap.can_pause {
                        pause.on_hover_text("Space")
                    } else {
                        pause.on_disabled_hover_text(format!(
                            "The {} runs in real time and cannot pause",
                            snap.backend.title()
                        ))
                    };
                    if pause.clicked() {
                        intents.write(Intent::TogglePause);
                    }
                    let hint_text = match snap.next_hint_cost {
                        Some(cost) => format!("Hint −{cost}  H"),
                        None => "No hints left".into(),
                    };
                    let hint = ui.add_enabled(
                        snap.hints_left > 0 && snap.phase == Phase::Live && !seat.replay,
                        egui::Button::new(hint_text),
                    );
                    if hint.on_hover_text("Reveal the next hint; it costs points").clicked() {
                        live.confirm = Some(Pending::Hint);
                    }
                    ui.separator();
                    // What an analyst on duty knows: no score until the debrief.
                    for (label, hover) in progress(snap) {
                        theme::note(ui, label).on_hover_text(hover);
                    }
                    let open = snap.alerts.iter().filter(|a| a.verdict.is_none()).count();
                    if open > 0 {
                        theme::pill(ui, &format!("{open} to triage"), WARN);
                    }
                });
            });
        });
    // Revealed hints float over the top of the map, where they are hard to miss.
    if !snap.hints.is_empty() {
        let area = egui_rect(r.map);
        egui::Area::new(egui::Id::new("hints"))
            .fixed_pos(area.left_top() + egui::vec2(10.0, 10.0))
            .show(ctx, |ui| {
                ui.set_max_width(area.width() - 20.0);
                theme::card()
                    .fill(theme::CARD.gamma_multiply(0.95))
                    .show(ui, |ui| {
                        for (i, h) in snap.hints.iter().enumerate() {
                            ui.label(
                                egui::RichText::new(format!(
                                    "Hint {} (−{}): {}",
                                    i + 1,
                                    h.cost,
                                    h.text
                                ))
                                .small()
                                .color(TEXT),
                            );
                        }
                    });
            });
    }
    Ok(())
}

/// Over the map, once the session cannot go on: why, and the way back to the menu.
fn session_lost(
    mut contexts: EguiContexts,
    view: Res<SessionView>,
    mut intents: MessageWriter<Intent>,
) -> Result {
    let LabState::Failed(why) = &view.lab else {
        return Ok(());
    };
    let ctx = contexts.ctx_mut()?;
    let area = egui_rect(regions(screen_size(ctx)).map);
    egui::Area::new(egui::Id::new("session-lost"))
        .fixed_pos(area.left_top() + egui::vec2(10.0, 10.0))
        .show(ctx, |ui| {
            ui.set_max_width(area.width() - 20.0);
            theme::card().show(ui, |ui| {
                ui.label(
                    egui::RichText::new(format!("The session cannot go on: {why}."))
                        .strong()
                        .color(BAD),
                );
                theme::note(ui, "What you see is the last view the seat sent.");
                if ui.button("Back to the menu").clicked() {
                    intents.write(Intent::Menu);
                }
            });
        });
    Ok(())
}

/// The trainee's own tally for the bar, each with its longer explanation.
pub fn progress(snap: &Snapshot) -> Vec<(String, String)> {
    let triaged = snap.alerts.iter().filter(|a| a.verdict.is_some()).count();
    let confirmed = snap
        .mitigations
        .iter()
        .filter(|m| matches!(m.result, Some((true, _))))
        .count();
    let failed = snap
        .mitigations
        .iter()
        .filter(|m| matches!(m.result, Some((false, _))))
        .count();
    let spent: u32 = snap.hints.iter().map(|h| h.cost).sum();
    vec![
        (
            format!("{triaged}/{} triaged", snap.alerts.len()),
            "Alerts you have given a verdict; the score is shown at the debrief".to_string(),
        ),
        (
            format!("{} actions", snap.mitigations.len()),
            format!("{confirmed} confirmed by the lab, {failed} failed, the rest pending"),
        ),
        (
            if spent == 0 {
                "no hints".to_string()
            } else {
                format!("hints −{spent}")
            },
            "Points spent on hints so far".to_string(),
        ),
    ]
}
