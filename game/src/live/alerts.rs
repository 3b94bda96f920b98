//! The alerts list ("gremlins"): grouped repeats with their count, sortable by time or
//! severity; the selected one shows its evidence and the baseline it breaks, with triage and
//! attribution buttons.

use bevy::prelude::*;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};
use bulkhead_engine::session::AlertEntry;
use bulkhead_engine::{Command, EntityRef, Verdict};

use crate::bridge::{Intent, SessionView, Snapshot};
use crate::live::{AlertSort, LiveUi, egui_rect, regions, screen_size, sorted_alerts};
use crate::screens::{Screen, UiPass, region};
use crate::seat::SeatInfo;
use crate::theme::{self, ACCENT, BAD, CARD_HI, DIM, GOOD, LINE, TEXT, VIOLET};

pub fn plugin(app: &mut App) {
    app.add_systems(
        EguiPrimaryContextPass,
        draw.in_set(UiPass::Panels)
            .run_if(in_state(Screen::Live))
            .run_if(not(crate::live::posture::hardening)),
    );
}

fn verdict_tag(v: Option<Verdict>) -> Option<(&'static str, egui::Color32)> {
    match v {
        Some(Verdict::Incident) => Some(("INCIDENT", BAD)),
        Some(Verdict::Benign) => Some(("BENIGN", VIOLET)),
        None => None,
    }
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
    let mut ui = region(ctx, "alerts", egui_rect(r.left));
    let rect = ui.max_rect();
    ui.painter().line_segment(
        [rect.right_top(), rect.right_bottom()],
        egui::Stroke::new(1.0, LINE),
    );
    let Some(snap) = &view.snapshot else {
        return Ok(());
    };
    egui::Frame::new()
        .inner_margin(egui::Margin::symmetric(10, 8))
        .show(&mut ui, |ui| {
            let open = snap.alerts.iter().filter(|a| a.verdict.is_none()).count();
            ui.horizontal(|ui| {
                theme::heading(ui, "Gremlins");
                theme::note(ui, format!("{} · {open} new", snap.alerts.len()))
                    .on_hover_text("alerts · not triaged yet");
                ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                    let text = match live.sort {
                        AlertSort::Time => "newest first · S",
                        AlertSort::Severity => "worst first · S",
                    };
                    if ui
                        .small_button(text)
                        .on_hover_text("Sort by time or severity (S)")
                        .clicked()
                    {
                        live.sort = match live.sort {
                            AlertSort::Time => AlertSort::Severity,
                            AlertSort::Severity => AlertSort::Time,
                        };
                    }
                });
            });
            ui.add_space(2.0);
            let detail_h = if live.alert(snap).is_some() {
                310.0
            } else {
                0.0
            };
            let list_h = (ui.available_height() - detail_h).max(80.0);
            egui::ScrollArea::vertical()
                .id_salt("alert-list")
                .max_height(list_h)
                .auto_shrink([false, false])
                .show(ui, |ui| {
                    let list = sorted_alerts(snap, live.sort);
                    if list.is_empty() {
                        ui.add_space(20.0);
                        theme::note(
                            ui,
                            if snap.phase == bulkhead_engine::Phase::Warmup {
                                "Quiet: the detector is still learning what normal looks like."
                            } else {
                                "No gremlins so far."
                            },
                        );
                    }
                    for entry in list {
                        if row(ui, entry, snap, live.selected_alert == Some(entry.alert.id)) {
                            live.select_alert(entry);
                        }
                    }
                });
            if let Some(entry) = live.alert(snap).cloned() {
                ui.add_space(6.0);
                // A replay shows the verdicts given; it takes none.
                let commands = !seat.replay;
                details(ui, &entry, snap, commands, &mut intents);
            }
        });
    Ok(())
}

/// One alert in the list; returns whether it was clicked.
fn row(ui: &mut egui::Ui, entry: &AlertEntry, snap: &Snapshot, selected: bool) -> bool {
    let a = &entry.alert;
    let sev = theme::severity(a.severity);
    // Only the selected row is filled: egui fills are costly under software rendering, and an
    // outline reads as well.
    let frame = egui::Frame::new()
        .fill(if selected {
            CARD_HI
        } else {
            egui::Color32::TRANSPARENT
        })
        .stroke(egui::Stroke::new(
            if selected { 1.5 } else { 1.0 },
            if selected { ACCENT } else { LINE },
        ))
        .corner_radius(egui::CornerRadius::same(5))
        .inner_margin(egui::Margin {
            left: 8,
            right: 6,
            top: 4,
            bottom: 4,
        });
    let response = frame
        .show(ui, |ui| {
            ui.set_width(ui.available_width());
            ui.horizontal(|ui| {
                theme::pill(ui, theme::severity_label(a.severity), sev);
                ui.add(
                    egui::Label::new(egui::RichText::new(&a.title).color(TEXT).strong()).truncate(),
                );
            });
            ui.horizontal(|ui| {
                ui.label(
                    egui::RichText::new(format!("#{} · {}", a.id, a.entity))
                        .small()
                        .color(DIM),
                );
                ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                    ui.label(
                        egui::RichText::new(theme::clock(snap.live_s(a.t_ms)))
                            .small()
                            .monospace()
                            .color(DIM),
                    );
                    if entry.count > 1 {
                        ui.label(
                            egui::RichText::new(format!("×{}", entry.count))
                                .small()
                                .strong()
                                .color(sev),
                        );
                    }
                    if let Some((tag, color)) = verdict_tag(entry.verdict) {
                        theme::pill(ui, tag, color);
                    }
                });
            });
        })
        .response;
    // A severity stripe along the row's left edge.
    let r = response.rect;
    ui.painter().rect_filled(
        egui::Rect::from_min_max(
            r.left_top() + egui::vec2(1.0, 4.0),
            egui::pos2(r.left() + 4.0, r.bottom() - 4.0),
        ),
        egui::CornerRadius::same(2),
        sev,
    );
    ui.add_space(3.0);
    let response = response.on_hover_ui(|ui| {
        ui.set_max_width(320.0);
        ui.label(egui::RichText::new(&a.title).strong());
        ui.label(&a.evidence);
    });
    response
        .interact(egui::Sense::click())
        .on_hover_cursor(egui::CursorIcon::PointingHand)
        .clicked()
}

/// The selected alert: evidence, baseline, and what to do about it.
fn details(
    ui: &mut egui::Ui,
    entry: &AlertEntry,
    snap: &Snapshot,
    commands: bool,
    intents: &mut MessageWriter<Intent>,
) {
    let a = &entry.alert;
    theme::card().show(ui, |ui| {
        ui.set_width(ui.available_width());
        egui::ScrollArea::vertical()
            .id_salt("alert-detail")
            .max_height(170.0)
            .show(ui, |ui| {
                ui.horizontal_wrapped(|ui| {
                    theme::pill(
                        ui,
                        theme::severity_label(a.severity),
                        theme::severity(a.severity),
                    );
                    ui.label(egui::RichText::new(&a.title).strong());
                });
                ui.label(
                    egui::RichText::new(format!(
                        "#{} · {} · first {} · last {}",
                        a.id,
                        a.rule,
                        theme::clock(snap.live_s(a.t_ms)),
                        theme::clock(snap.live_s(entry.last_ms))
                    ))
                    .small()
                    .color(DIM),
                );
                ui.add(egui::Label::new(format!("Evidence: {}", a.evidence)).wrap());
                if let Some(late) = a.late_ms {
                    ui.label(
                        egui::RichText::new(format!(
                            "Its evidence reached you {:.0} s late (telemetry lagged)",
                            late as f64 / 1000.0
                        ))
                        .small()
                        .color(theme::WARN),
                    );
                }
                ui.add(
                    egui::Label::new(
                        egui::RichText::new(format!("Breaks: {}", a.baseline)).color(theme::WARN),
                    )
                    .wrap(),
                );
                if !a.mitre.is_empty() {
                    ui.label(
                        egui::RichText::new(format!("MITRE ATT&CK {}", a.mitre.join(", ")))
                            .small()
                            .color(DIM),
                    );
                }
            });
        ui.add_space(4.0);
        ui.add_enabled_ui(commands, |ui| triage_buttons(ui, entry, snap, intents));
    });
}

/// Triage and attribution of the selected alert.
fn triage_buttons(
    ui: &mut egui::Ui,
    entry: &AlertEntry,
    snap: &Snapshot,
    intents: &mut MessageWriter<Intent>,
) {
    let a = &entry.alert;
    {
        ui.horizontal(|ui| {
            let inc = ui.add_enabled(
                entry.verdict != Some(Verdict::Incident),
                egui::Button::new(egui::RichText::new("Incident  I").color(BAD)),
            );
            if inc.on_hover_text("Escalate: part of an attack").clicked() {
                intents.write(Intent::Command(Command::Triage {
                    alert: a.id.into(),
                    verdict: Verdict::Incident,
                }));
            }
            let ben = ui.add_enabled(
                entry.verdict != Some(Verdict::Benign),
                egui::Button::new(egui::RichText::new("Benign  B").color(VIOLET)),
            );
            if ben
                .on_hover_text("Dismiss: explained, not an attack")
                .clicked()
            {
                intents.write(Intent::Command(Command::Triage {
                    alert: a.id.into(),
                    verdict: Verdict::Benign,
                }));
            }
        });
        ui.horizontal_wrapped(|ui| {
            theme::note(ui, "Attribute:");
            let mut entities: Vec<&EntityRef> = vec![&a.entity];
            entities.extend(a.related.iter().filter(|e| **e != a.entity));
            for (i, e) in entities.into_iter().enumerate() {
                let done = snap.attributed.contains(e);
                let key = if i == 0 { "A" } else { "Shift+A" };
                let text = if done {
                    egui::RichText::new(format!("✔ {}", e.name())).color(GOOD)
                } else {
                    egui::RichText::new(e.name())
                };
                let b = ui.add_enabled(!done, egui::Button::new(text).small());
                if b.on_hover_text(format!("Name {e} as involved ({key}); −25 if it is not"))
                    .clicked()
                {
                    intents.write(Intent::Command(Command::Attribute { entity: e.clone() }));
                }
            }
        });
    }
}
