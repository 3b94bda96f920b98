//! The menu: every scenario the seat offers with its difficulty, lessons and your best score,
//! and which lab backend is in use and how to change it (or, on a served seat, whose it is).

use bevy::prelude::*;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};
use bulkhead_engine::format::scenario::Difficulty;

use crate::bridge::Intent;
use crate::screens::{Screen, UiPass, full_screen};
use crate::seat::SeatInfo;
use crate::theme::{self, ACCENT, DIM, TEXT};
use crate::{GameInfo, scores};

/// Best scores, read when the menu opens (they change only at the end of a session).
#[derive(Resource, Default)]
struct MenuScores(scores::Scores);

pub fn plugin(app: &mut App) {
    app.init_resource::<MenuScores>()
        .add_systems(OnEnter(Screen::Menu), load_scores)
        .add_systems(
            EguiPrimaryContextPass,
            draw.in_set(UiPass::Panels).run_if(in_state(Screen::Menu)),
        );
}

fn load_scores(info: Res<GameInfo>, mut scores: ResMut<MenuScores>) {
    scores.0 = info
        .scores_file
        .as_deref()
        .map(scores::load)
        .unwrap_or_default();
}

pub fn difficulty(d: Difficulty) -> (&'static str, egui::Color32) {
    match d {
        Difficulty::Beginner => ("BEGINNER", theme::GOOD),
        Difficulty::Intermediate => ("INTERMEDIATE", theme::WARN),
        Difficulty::Advanced => ("ADVANCED", theme::BAD),
    }
}

fn draw(
    mut contexts: EguiContexts,
    seat: Res<SeatInfo>,
    scores: Res<MenuScores>,
    keys: Res<ButtonInput<KeyCode>>,
    mut intents: MessageWriter<Intent>,
    mut exit: MessageWriter<AppExit>,
) -> Result {
    let ctx = contexts.ctx_mut()?;
    let mut ui = full_screen(ctx, "menu");
    // Number keys open a scenario straight away.
    for (i, offer) in seat.offers.iter().enumerate().take(9) {
        if keys.just_pressed(crate::live::shortcuts::DIGITS[i]) {
            intents.write(Intent::Open(offer.id.clone()));
        }
    }
    egui::Frame::new()
        .inner_margin(egui::Margin::symmetric(48, 32))
        .show(&mut ui, |ui| {
            ui.horizontal(|ui| {
                ui.label(
                    egui::RichText::new("BULKHEAD")
                        .size(40.0)
                        .strong()
                        .color(ACCENT),
                );
                ui.add_space(16.0);
                ui.vertical(|ui| {
                    ui.add_space(8.0);
                    ui.label(
                        egui::RichText::new("Container-security training range")
                            .size(18.0)
                            .color(TEXT),
                    );
                    theme::note(
                        ui,
                        "Watch the baseline, spot the gremlins, contain the intruder without sinking the ship.",
                    );
                });
            });
            ui.add_space(14.0);
            seat_card(ui, &seat);
            ui.add_space(18.0);
            theme::heading(ui, "Scenarios");
            ui.add_space(6.0);
            egui::ScrollArea::vertical()
                .max_height(ui.available_height() - 40.0)
                .show(ui, |ui| {
                    for (i, s) in seat.offers.iter().enumerate() {
                        theme::card().show(ui, |ui| {
                            ui.set_width(ui.available_width());
                            ui.horizontal(|ui| {
                                ui.vertical(|ui| {
                                    ui.set_width(ui.available_width() - 240.0);
                                    ui.horizontal(|ui| {
                                        ui.label(
                                            egui::RichText::new(&s.title)
                                                .size(19.0)
                                                .strong(),
                                        );
                                        let (label, color) = difficulty(s.difficulty);
                                        theme::pill(ui, label, color);
                                        theme::note(ui, format!("{} min · {}", s.minutes, s.id));
                                    });
                                    for lesson in &s.lessons {
                                        ui.label(
                                            egui::RichText::new(format!("• {}", lesson.title()))
                                                .color(DIM),
                                        );
                                    }
                                });
                                ui.with_layout(
                                    egui::Layout::right_to_left(egui::Align::Center),
                                    |ui| {
                                        let play = ui.add(
                                            egui::Button::new(
                                                egui::RichText::new(format!("▶  Play   {}", i + 1))
                                                    .size(16.0),
                                            )
                                            .fill(ACCENT.linear_multiply(0.45))
                                            .min_size(egui::vec2(110.0, 34.0)),
                                        );
                                        if play.clicked() {
                                            intents.write(Intent::Open(s.id.clone()));
                                        }
                                        ui.add_space(12.0);
                                        match scores.0.best(&s.id) {
                                            Some(best) => {
                                                ui.vertical(|ui| {
                                                    ui.label(
                                                        egui::RichText::new(format!(
                                                            "{} / {}",
                                                            best.total, best.max
                                                        ))
                                                        .size(18.0)
                                                        .strong()
                                                        .color(theme::grade(&best.grade)),
                                                    );
                                                    theme::note(
                                                        ui,
                                                        format!("best · grade {}", best.grade),
                                                    );
                                                });
                                            }
                                            None => {
                                                theme::note(ui, "not played yet");
                                            }
                                        }
                                    },
                                );
                            });
                        });
                        ui.add_space(8.0);
                    }
                });
            ui.with_layout(egui::Layout::bottom_up(egui::Align::Min), |ui| {
                ui.horizontal(|ui| {
                    if ui.button("Quit").clicked() {
                        exit.write(AppExit::Success);
                    }
                    theme::note(
                        ui,
                        "Press 1–9 to open a scenario. In the live screen, F1 or ? lists every shortcut.",
                    );
                });
            });
        });
    Ok(())
}

/// Which lab the seat runs and how to change it; on a served seat, whose seat it is; and, once
/// the connection is gone, why.
fn seat_card(ui: &mut egui::Ui, seat: &SeatInfo) {
    theme::card().show(ui, |ui| {
        ui.set_width(ui.available_width());
        ui.horizontal_wrapped(|ui| {
            ui.label(egui::RichText::new("Lab").strong());
            let color = match seat.backend {
                bulkhead_engine::Backend::Docker => ACCENT,
                bulkhead_engine::Backend::Sim => theme::BLUE,
            };
            theme::pill(ui, seat.backend.title(), color);
            ui.label(match seat.backend {
                bulkhead_engine::Backend::Docker => {
                    "Real containers: every mitigation is applied to them and confirmed."
                }
                bulkhead_engine::Backend::Sim => {
                    "Embedded simulation: deterministic, no Docker needed."
                }
            });
            if let Some(served) = &seat.served {
                theme::note(
                    ui,
                    format!(
                        "Seat {} of workshop “{}”: the facilitator's server runs it.",
                        served.seat, served.workshop
                    ),
                );
            } else if !seat.backend_hint.is_empty() {
                theme::note(ui, format!("To change it: {}", seat.backend_hint));
            }
        });
        if let Some(why) = &seat.lost {
            ui.label(egui::RichText::new(format!("Disconnected: {why}.")).color(theme::BAD));
        }
    });
}
