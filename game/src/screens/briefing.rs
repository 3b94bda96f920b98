//! The briefing: the story, objectives and par times, what scores and what costs, what an
//! analyst knows (assets, people, accepted risks, change calendar), the hints and their costs;
//! then Start.

use bevy::prelude::*;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};
use bulkhead_engine::EntityRef;

use crate::bridge::{Intent, LabState, SessionView};
use crate::screens::{Screen, UiPass, full_screen};
use crate::seat::SeatInfo;
use crate::theme::{self, ACCENT, BAD, DIM, TEXT};

/// The scoring table of the README: component, max, how.
pub const SCORING: [(&str, &str, &str); 7] = [
    (
        "Time to detect",
        "250",
        "from the first attack step until you escalate a true alert; full at par, nothing at 4 × par",
    ),
    (
        "Time to contain",
        "250",
        "per objective step: until its attempts fail for good through your mitigation",
    ),
    (
        "Impact",
        "150",
        "share of attacker actions that failed; records exfiltrated",
    ),
    (
        "Collateral",
        "150",
        "benign success live vs warm-up; a 20-point drop costs everything",
    ),
    (
        "Attribution",
        "100",
        "naming the entities involved; −25 per uninvolved one named",
    ),
    (
        "Precision",
        "100",
        "−30 true alert dismissed, −25 decoy escalated, −15 noise escalated, −40 innocent mitigated",
    ),
    ("Hints", "—", "each hint costs what the scenario says"),
];

/// What a hardening phase adds to the table; the components above then count 0.8 of their max.
pub const HARDENING_SCORING: [(&str, &str, &str); 2] = [
    (
        "Posture",
        "200",
        "each real finding the audit no longer shows when the warm-up starts; double for one an attack step needs",
    ),
    (
        "Accepted risks",
        "—",
        "−50 for each risk the business accepted that you \"fixed\" anyway",
    ),
];

pub fn plugin(app: &mut App) {
    app.add_systems(
        EguiPrimaryContextPass,
        draw.in_set(UiPass::Panels)
            .run_if(in_state(Screen::Briefing)),
    );
}

fn entity(e: &EntityRef) -> String {
    match e {
        EntityRef::Service(s) => format!("service {s}"),
        EntityRef::Identity(i) => format!("account {i}"),
        EntityRef::Source(s) => format!("address {s}"),
        EntityRef::Zone(z) => format!("zone {z}"),
    }
}

fn draw(
    mut contexts: EguiContexts,
    view: Res<SessionView>,
    seat: Res<SeatInfo>,
    keys: Res<ButtonInput<KeyCode>>,
    mut intents: MessageWriter<Intent>,
) -> Result {
    let ctx = contexts.ctx_mut()?;
    let ready = view.lab == LabState::Ready;
    if keys.just_pressed(KeyCode::Enter) && ready {
        intents.write(Intent::Start);
    }
    if keys.just_pressed(KeyCode::Escape) {
        intents.write(Intent::Menu);
    }
    let mut ui = full_screen(ctx, "briefing");
    // The trainee's side of the scenario only: no timeline, decoys or answers.
    let Some(s) = &view.brief else {
        waiting_for_brief(&mut ui, &view.lab, &mut intents);
        return Ok(());
    };
    let t = &s.topology;
    egui::Frame::new()
        .inner_margin(egui::Margin::symmetric(36, 24))
        .show(&mut ui, |ui| {
            ui.horizontal(|ui| {
                ui.label(egui::RichText::new(&s.title).size(28.0).strong().color(TEXT));
                let (label, color) = super::menu::difficulty(s.difficulty);
                theme::pill(ui, label, color);
                ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                    let start = ui.add_enabled(
                        ready,
                        egui::Button::new(egui::RichText::new("Start  Enter").size(17.0).strong())
                            .fill(ACCENT.linear_multiply(0.5))
                            .min_size(egui::vec2(130.0, 36.0)),
                    );
                    if start.clicked() {
                        intents.write(Intent::Start);
                    }
                    if ui.button("Back  Esc").clicked() {
                        intents.write(Intent::Menu);
                    }
                    ui.add_space(10.0);
                    match &view.lab {
                        LabState::Ready => {
                            let ready = match view.lab_timings.ready_s {
                                Some(s) => format!("{} ready in {s:.2} s", seat.backend.title()),
                                None => format!("{} ready", seat.backend.title()),
                            };
                            theme::pill(ui, &ready, theme::GOOD).on_hover_text(
                                view.lab_timings.line().unwrap_or_default(),
                            );
                        }
                        LabState::Starting | LabState::Idle => {
                            ui.spinner();
                            theme::note(ui, format!("bringing the {} up…", seat.backend.title()));
                        }
                        LabState::Failed(_) => {
                            theme::pill(ui, "lab failed", BAD);
                        }
                    }
                });
            });
            if let LabState::Failed(why) = &view.lab {
                theme::card().show(ui, |ui| {
                    ui.set_width(ui.available_width());
                    ui.label(egui::RichText::new(format!("The lab did not come up: {why}")).color(BAD));
                    if !seat.backend_hint.is_empty() {
                        theme::note(ui, format!("What to do: {}", seat.backend_hint));
                    }
                });
            }
            ui.add_space(10.0);
            egui::ScrollArea::vertical().show(ui, |ui| {
                ui.columns(2, |cols| {
                    let ui = &mut cols[0];
                    theme::card().show(ui, |ui| {
                        ui.set_width(ui.available_width());
                        theme::heading(ui, "Your shift");
                        ui.label(&s.briefing);
                    });
                    ui.add_space(8.0);
                    theme::card().show(ui, |ui| {
                        ui.set_width(ui.available_width());
                        theme::heading(ui, "Objectives");
                        let o = &s.objectives;
                        ui.label(format!(
                            "• Detect: escalate a true alert within {} s of the attack's first step.",
                            o.detect_par_s
                        ));
                        for c in &o.contain {
                            ui.label(format!("• Contain “{}” within {} s of its start.", c.step, c.par_s));
                        }
                        ui.label(format!(
                            "• Attribute: name the {} entities involved, and no one else.",
                            o.attribute_count
                        ));
                        ui.label(format!(
                            "• Protect the {} records at risk; keep the business running.",
                            o.records_at_risk
                        ));
                        if let Some(h) = &s.hardening {
                            ui.label(format!(
                                "• Harden: within {}, fix what an intruder could use; leave the risks the business accepted.",
                                theme::clock(f64::from(h.budget_s))
                            ));
                            theme::note(ui, format!("Hardening {} (fixes only), then:", theme::clock(f64::from(h.budget_s))));
                        }
                        theme::note(
                            ui,
                            format!(
                                "Warm-up {} (the detector learns normal; commands wait), then {} live.",
                                theme::clock(f64::from(s.timing.warmup_s)),
                                theme::clock(f64::from(s.timing.live_s))
                            ),
                        );
                    });
                    ui.add_space(8.0);
                    theme::card().show(ui, |ui| {
                        ui.set_width(ui.available_width());
                        theme::heading(ui, "What scores, what costs (out of 1000)");
                        egui::Grid::new("scoring")
                            .num_columns(3)
                            .spacing([10.0, 4.0])
                            .striped(true)
                            .show(ui, |ui| {
                                let hardening = s.hardening.is_some();
                                let extra = HARDENING_SCORING.iter().filter(|_| hardening);
                                for (name, max, how) in SCORING.iter().chain(extra) {
                                    ui.label(egui::RichText::new(*name).strong());
                                    ui.label(egui::RichText::new(*max).color(ACCENT));
                                    ui.add(egui::Label::new(egui::RichText::new(*how).color(DIM)).wrap());
                                    ui.end_row();
                                }
                            });
                        if s.hardening.is_some() {
                            theme::note(ui, "With a hardening phase, the components above count 0.8 of their max.");
                        }
                        theme::note(ui, "Grades: S ≥ 900, A ≥ 800, B ≥ 650, C ≥ 500, D ≥ 300.");
                    });

                    let ui = &mut cols[1];
                    theme::card().show(ui, |ui| {
                        ui.set_width(ui.available_width());
                        theme::heading(ui, "What you know");
                        theme::note(
                            ui,
                            format!(
                                "The shift starts at {:02}:{:02}.",
                                s.context.starts_at.0, s.context.starts_at.1
                            ),
                        );
                        ui.label(egui::RichText::new("Assets").strong());
                        for a in &s.context.assets {
                            let crit = t
                                .service(&a.service)
                                .map(|svc| format!(" ({:?} criticality)", svc.criticality).to_lowercase())
                                .unwrap_or_default();
                            ui.label(format!("• {}{crit}: {}", a.service, a.note));
                        }
                        ui.add_space(4.0);
                        ui.label(egui::RichText::new("People").strong());
                        for p in &s.context.people {
                            let who = t
                                .identity(&p.identity)
                                .map(|i| format!("{} ({}, {})", i.name, p.identity, i.title))
                                .unwrap_or_else(|| p.identity.clone());
                            ui.label(format!("• {who}: {}", p.note));
                        }
                        let accepted = s.hardening.iter().flat_map(|h| &h.accepted);
                        let accepted: Vec<_> = accepted.collect();
                        if !accepted.is_empty() {
                            ui.add_space(4.0);
                            ui.label(egui::RichText::new("Accepted risks").strong());
                            for a in accepted {
                                ui.label(format!(
                                    "• {}: {}. {} Fixing it: {}.",
                                    a.service, a.weakness, a.reason, a.breaks
                                ));
                            }
                        }
                        ui.add_space(4.0);
                        ui.label(egui::RichText::new("Change calendar").strong());
                        if s.context.calendar.is_empty() {
                            theme::note(ui, "Nothing planned.");
                        }
                        for c in &s.context.calendar {
                            let who: Vec<String> = c.entities.iter().map(entity).collect();
                            ui.label(format!(
                                "• live {}–{}: {} [{}]",
                                theme::clock(f64::from(c.from_s)),
                                theme::clock(f64::from(c.to_s)),
                                c.text,
                                who.join(", ")
                            ));
                        }
                    });
                    ui.add_space(8.0);
                    theme::card().show(ui, |ui| {
                        ui.set_width(ui.available_width());
                        theme::heading(ui, "Hints");
                        if s.hint_costs.is_empty() {
                            theme::note(ui, "None for this scenario.");
                        }
                        for (i, cost) in s.hint_costs.iter().enumerate() {
                            ui.label(format!("• Hint {}: costs {cost} points (press H in the live phase)", i + 1));
                        }
                    });
                    ui.add_space(8.0);
                    theme::card().show(ui, |ui| {
                        ui.set_width(ui.available_width());
                        theme::heading(ui, "Lessons");
                        for l in &s.lessons {
                            ui.label(format!("• {}", l.title()));
                        }
                    });
                });
            });
        });
    Ok(())
}

/// Before the seat's brief arrives (a round trip to a server): a spinner, or why it never will.
fn waiting_for_brief(ui: &mut egui::Ui, lab: &LabState, intents: &mut MessageWriter<Intent>) {
    egui::Frame::new()
        .inner_margin(egui::Margin::symmetric(36, 24))
        .show(ui, |ui| {
            ui.horizontal(|ui| {
                match lab {
                    LabState::Failed(why) => {
                        ui.label(
                            egui::RichText::new(format!("The scenario could not open: {why}"))
                                .color(BAD),
                        );
                    }
                    _ => {
                        ui.spinner();
                        theme::note(ui, "opening the scenario…");
                    }
                }
                if ui.button("Back  Esc").clicked() {
                    intents.write(Intent::Menu);
                }
            });
        });
}
