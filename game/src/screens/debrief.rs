//! The debrief: the score card component by component, a timeline of the attack against your
//! detections and mitigations, badges, the scenario's lesson, and Retry / Next. The one screen
//! that reads the ground truth: the scenario that arrives with the score (`Outcome`).

use bevy::prelude::*;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};
use bulkhead_engine::score::{Moment, MomentKind};

use crate::GameInfo;
use crate::bridge::{Intent, Outcome, SessionView};
use crate::screens::{Screen, UiPass, full_screen};
use crate::theme::{self, ACCENT, BAD, DIM, GOOD, LINE, TEXT, WARN};

pub fn plugin(app: &mut App) {
    app.add_systems(
        EguiPrimaryContextPass,
        draw.in_set(UiPass::Panels)
            .run_if(in_state(Screen::Debrief)),
    );
}

/// The timeline's lanes, top to bottom, and which moments go in each.
const LANES: [(&str, &[MomentKind]); 5] = [
    ("Attack", &[MomentKind::AttackStep, MomentKind::Contained]),
    ("Decoys", &[MomentKind::Decoy]),
    ("Alerts", &[MomentKind::Alert]),
    (
        "You",
        &[
            MomentKind::Escalation,
            MomentKind::Dismissal,
            MomentKind::Mitigation,
            MomentKind::Hint,
        ],
    ),
    // What a mentor or facilitator did: whispers, revealed hints, injects, extensions.
    ("Mentor", &[MomentKind::Mentor]),
];

pub fn moment_color(kind: MomentKind) -> egui::Color32 {
    match kind {
        MomentKind::AttackStep => BAD,
        MomentKind::Decoy => DIM,
        MomentKind::Alert => WARN,
        MomentKind::Escalation => ACCENT,
        MomentKind::Dismissal => theme::VIOLET,
        MomentKind::Mitigation => theme::BLUE,
        MomentKind::Contained => GOOD,
        MomentKind::Hint | MomentKind::Mentor => egui::Color32::from_rgb(0xd0, 0x8c, 0xd8),
    }
}

fn draw(
    mut contexts: EguiContexts,
    view: Res<SessionView>,
    outcome: Res<Outcome>,
    info: Res<GameInfo>,
    keys: Res<ButtonInput<KeyCode>>,
    mut intents: MessageWriter<Intent>,
) -> Result {
    let ctx = contexts.ctx_mut()?;
    if keys.just_pressed(KeyCode::KeyR) {
        intents.write(Intent::Retry);
    }
    if keys.just_pressed(KeyCode::KeyN) {
        intents.write(Intent::Next);
    }
    if keys.just_pressed(KeyCode::Escape) || keys.just_pressed(KeyCode::KeyM) {
        intents.write(Intent::Menu);
    }
    let mut ui = full_screen(ctx, "debrief");
    let Some(scored) = &outcome.0 else {
        theme::note(&mut ui, "No score yet.");
        return Ok(());
    };
    let (card, scenario) = (&scored.card, &scored.scenario);
    let warmup_ms = scenario.live_start_ms();
    egui::Frame::new()
        .inner_margin(egui::Margin::symmetric(32, 20))
        .show(&mut ui, |ui| {
            ui.horizontal(|ui| {
                ui.vertical(|ui| {
                    theme::note(ui, "DEBRIEF");
                    ui.label(egui::RichText::new(&scenario.title).size(26.0).strong());
                });
                ui.add_space(24.0);
                ui.label(
                    egui::RichText::new(format!("{}", card.total))
                        .size(44.0)
                        .strong()
                        .color(theme::grade(&card.grade)),
                );
                ui.vertical(|ui| {
                    ui.add_space(6.0);
                    theme::note(ui, format!("/ {}", card.max));
                    ui.label(
                        egui::RichText::new(format!("grade {}", card.grade))
                            .size(18.0)
                            .strong()
                            .color(theme::grade(&card.grade)),
                    );
                });
                // Only when best scores are kept (not for screenshots or a run without a home).
                match (info.scores_file.is_some(), view.best_before) {
                    (false, _) => {}
                    (true, Some(best)) if card.total > best => {
                        theme::pill(ui, &format!("NEW BEST (was {best})"), GOOD);
                    }
                    (true, None) => {
                        theme::pill(ui, "FIRST RUN", ACCENT);
                    }
                    (true, Some(best)) => {
                        theme::note(ui, format!("best so far {best}"));
                    }
                }
                ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                    if ui
                        .add(
                            egui::Button::new(egui::RichText::new("Next  N").size(16.0))
                                .min_size(egui::vec2(96.0, 32.0)),
                        )
                        .clicked()
                    {
                        intents.write(Intent::Next);
                    }
                    if ui
                        .add(
                            egui::Button::new(egui::RichText::new("Retry  R").size(16.0).strong())
                                .fill(ACCENT.linear_multiply(0.5))
                                .min_size(egui::vec2(96.0, 32.0)),
                        )
                        .clicked()
                    {
                        intents.write(Intent::Retry);
                    }
                    if ui.button("Menu  Esc").clicked() {
                        intents.write(Intent::Menu);
                    }
                });
            });
            ui.add_space(8.0);
            theme::card().show(ui, |ui| {
                ui.set_width(ui.available_width());
                ui.horizontal(|ui| {
                    theme::heading(ui, "Timeline");
                    theme::note(ui, "live-phase time; hover a mark for what happened");
                });
                // A facilitator may have extended the live phase: the axis runs to its real end.
                let live_s = (card.facts.live_end_ms.saturating_sub(warmup_ms) / 1000) as u32;
                timeline(
                    ui,
                    &card.timeline,
                    warmup_ms,
                    live_s.max(scenario.timing.live_s),
                );
            });
            ui.add_space(8.0);
            ui.columns(2, |cols| {
                let ui = &mut cols[0];
                egui::ScrollArea::vertical()
                    .id_salt("components")
                    .show(ui, |ui| {
                        for c in &card.components {
                            theme::card().show(ui, |ui| {
                                ui.set_width(ui.available_width());
                                ui.horizontal(|ui| {
                                    ui.label(egui::RichText::new(&c.title).strong());
                                    ui.with_layout(
                                        egui::Layout::right_to_left(egui::Align::Center),
                                        |ui| {
                                            let text = if c.max > 0 {
                                                format!("{} / {}", c.points, c.max)
                                            } else {
                                                format!("{}", c.points)
                                            };
                                            let color = if c.points < 0 {
                                                BAD
                                            } else if c.max > 0 && c.points as u32 >= c.max {
                                                GOOD
                                            } else {
                                                TEXT
                                            };
                                            ui.label(
                                                egui::RichText::new(text).strong().color(color),
                                            );
                                        },
                                    );
                                });
                                if c.max > 0 {
                                    let share =
                                        (c.points.max(0) as f32 / c.max as f32).clamp(0.0, 1.0);
                                    ui.add(
                                        egui::ProgressBar::new(share)
                                            .desired_height(6.0)
                                            .fill(if share >= 0.999 { GOOD } else { ACCENT }),
                                    );
                                }
                                for line in &c.lines {
                                    ui.horizontal_wrapped(|ui| {
                                        let color = match line.points.signum() {
                                            1 => GOOD,
                                            -1 => BAD,
                                            _ => DIM,
                                        };
                                        ui.label(
                                            egui::RichText::new(format!("{:+}", line.points))
                                                .monospace()
                                                .color(color),
                                        );
                                        ui.label(egui::RichText::new(&line.text).color(DIM));
                                    });
                                }
                            });
                            ui.add_space(6.0);
                        }
                    });
                let ui = &mut cols[1];
                egui::ScrollArea::vertical()
                    .id_salt("lesson")
                    .show(ui, |ui| {
                        theme::card().show(ui, |ui| {
                            ui.set_width(ui.available_width());
                            theme::heading(ui, "Badges");
                            if card.badges.is_empty() {
                                theme::note(ui, "None this time.");
                            }
                            ui.horizontal_wrapped(|ui| {
                                for b in &card.badges {
                                    theme::pill(ui, &b.title, GOOD).on_hover_text(&b.why);
                                }
                            });
                        });
                        ui.add_space(6.0);
                        range_faults(ui, card, warmup_ms);
                        theme::card().show(ui, |ui| {
                            ui.set_width(ui.available_width());
                            theme::heading(ui, "What happened");
                            ui.label(&scenario.debrief);
                        });
                        ui.add_space(6.0);
                        theme::card().show(ui, |ui| {
                            ui.set_width(ui.available_width());
                            theme::heading(ui, "In numbers");
                            let f = &card.facts;
                            let live =
                                |t: u64| theme::clock((t as f64 - warmup_ms as f64) / 1000.0);
                            ui.label(format!("Attack began at live {}", live(f.attack_start_ms)));
                            ui.label(match f.detected_ms {
                                Some(t) => format!(
                                    "Detected {:.0} s later",
                                    (t.saturating_sub(f.attack_start_ms)) as f64 / 1000.0
                                ),
                                None => "Never escalated a true alert".into(),
                            });
                            ui.label(format!(
                                "Attacker actions: {} tried, {} succeeded",
                                f.attack_attempts, f.attack_successes
                            ));
                            ui.label(format!("Records lost: {}", f.records_lost));
                            ui.label(format!(
                                "Benign success: {:.1}% live vs {:.1}% warm-up",
                                f.benign_success_live * 100.0,
                                f.benign_success_warmup * 100.0
                            ));
                            ui.label(format!(
                                "Alerts: {} true, {} false",
                                f.true_alerts, f.false_alerts
                            ));
                            if let Some(path) = &scored.record {
                                // The record outlives the window: say where it is and how
                                // to walk through it again.
                                ui.label(format!(
                                    "Record: {path}\n(bulkhead report {path} --html report.html)"
                                ));
                            }
                        });
                    });
            });
        });
    Ok(())
}

/// A horizontal timeline: one lane per actor, a mark per moment, hover for its text.
fn timeline(ui: &mut egui::Ui, moments: &[Moment], warmup_ms: u64, live_s: u32) {
    let lane_h = 22.0;
    let label_w = 64.0;
    let height = lane_h * LANES.len() as f32 + 22.0;
    let (rect, response) = ui.allocate_exact_size(
        egui::vec2(ui.available_width(), height),
        egui::Sense::hover(),
    );
    let painter = ui.painter_at(rect);
    let x0 = rect.left() + label_w;
    let x1 = rect.right() - 10.0;
    let span = f64::from(live_s.max(1));
    let x_of = |t_ms: u64| {
        let s = ((t_ms as f64 - warmup_ms as f64) / 1000.0).clamp(0.0, span);
        x0 + (x1 - x0) * (s / span) as f32
    };
    let font = egui::FontId::proportional(12.0);
    // Minute ticks along the bottom.
    let axis_y = rect.top() + lane_h * LANES.len() as f32 + 4.0;
    for minute in 0..=(live_s / 60) {
        let x = x0 + (x1 - x0) * (f64::from(minute * 60) / span) as f32;
        painter.line_segment(
            [egui::pos2(x, rect.top()), egui::pos2(x, axis_y)],
            egui::Stroke::new(1.0, LINE.linear_multiply(0.6)),
        );
        painter.text(
            egui::pos2(x, axis_y + 2.0),
            egui::Align2::CENTER_TOP,
            format!("{minute}:00"),
            font.clone(),
            DIM,
        );
    }
    let mut hovered: Option<&Moment> = None;
    let pointer = response.hover_pos();
    for (lane, (name, kinds)) in LANES.iter().enumerate() {
        let y = rect.top() + lane_h * (lane as f32 + 0.5);
        painter.text(
            egui::pos2(rect.left(), y),
            egui::Align2::LEFT_CENTER,
            *name,
            font.clone(),
            DIM,
        );
        painter.line_segment(
            [egui::pos2(x0, y), egui::pos2(x1, y)],
            egui::Stroke::new(1.0, LINE),
        );
        for m in moments.iter().filter(|m| kinds.contains(&m.kind)) {
            let p = egui::pos2(x_of(m.t_ms), y);
            let color = moment_color(m.kind);
            match m.kind {
                MomentKind::Contained => {
                    painter.rect_filled(
                        egui::Rect::from_center_size(p, egui::vec2(4.0, 16.0)),
                        1.0,
                        color,
                    );
                }
                MomentKind::Mitigation => {
                    let d = 6.0;
                    painter.add(egui::Shape::convex_polygon(
                        vec![
                            p + egui::vec2(0.0, -d),
                            p + egui::vec2(d, 0.0),
                            p + egui::vec2(0.0, d),
                            p + egui::vec2(-d, 0.0),
                        ],
                        color,
                        egui::Stroke::NONE,
                    ));
                }
                _ => {
                    painter.circle_filled(p, 5.0, color);
                }
            }
            if pointer.is_some_and(|q| q.distance(p) < 8.0) {
                hovered = Some(m);
            }
        }
    }
    if let Some(m) = hovered {
        response.on_hover_ui_at_pointer(|ui| {
            ui.label(
                egui::RichText::new(format!(
                    "live {}",
                    theme::clock((m.t_ms as f64 - warmup_ms as f64) / 1000.0)
                ))
                .color(moment_color(m.kind))
                .strong(),
            );
            ui.label(&m.text);
        });
    }
}

/// What the range itself lived through (a container it restored, the lab unreachable), and
/// whether the score is partial: nothing here is held against the trainee, and they should
/// know it. Nothing is drawn for a session without faults.
fn range_faults(ui: &mut egui::Ui, card: &bulkhead_engine::ScoreCard, warmup_ms: u64) {
    if card.faults.is_empty() && card.partial.is_none() {
        return;
    }
    theme::card().show(ui, |ui| {
        ui.set_width(ui.available_width());
        theme::heading(ui, "Faults of the range");
        if let Some(why) = &card.partial {
            ui.label(
                egui::RichText::new(format!(
                    "Partial score: the session ended before its time ({why})."
                ))
                .color(BAD),
            );
        }
        for f in &card.faults {
            let at = theme::clock((f.t_ms as f64 - warmup_ms as f64) / 1000.0);
            ui.label(egui::RichText::new(format!("{at}  {}", f.text)).color(DIM));
        }
    });
    ui.add_space(6.0);
}
