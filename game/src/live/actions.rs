//! The action bar: the mitigations possible for the selection, each with its expected
//! collateral, a confirmation for disruptive ones, and what came of the ones already taken.

use bevy::prelude::*;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};
use bulkhead_engine::session::{AlertEntry, ServiceStatus};
use bulkhead_engine::{Command, EntityRef, Mitigation};

use crate::bridge::{FeedbackKind, Intent, SessionView, Snapshot};
use crate::collateral::collateral;
use crate::live::posture::fixing_costs;
use crate::live::{LiveUi, Pending, egui_rect, regions};
use crate::screens::{Screen, UiPass, region};
use crate::seat::SeatInfo;
use crate::theme::{self, ACCENT, BAD, DIM, GOOD, WARN};

pub fn plugin(app: &mut App) {
    app.add_systems(
        EguiPrimaryContextPass,
        (draw.in_set(UiPass::Panels), confirm.in_set(UiPass::Overlay))
            .run_if(in_state(Screen::Live)),
    );
}

/// The mitigations that make sense for a service in its current state.
pub fn service_actions(
    service: &str,
    status: Option<&ServiceStatus>,
    cap: (f32, u32),
) -> Vec<Mitigation> {
    let service = service.to_string();
    let isolated = status.is_some_and(|s| s.isolated);
    let paused = status.is_some_and(|s| s.paused);
    vec![
        if isolated {
            Mitigation::Reconnect {
                service: service.clone(),
            }
        } else {
            Mitigation::Isolate {
                service: service.clone(),
            }
        },
        Mitigation::Cap {
            service: service.clone(),
            cpu_cores: Some(cap.0),
            memory_mib: Some(cap.1),
            pids: None,
        },
        if paused {
            Mitigation::Unpause {
                service: service.clone(),
            }
        } else {
            Mitigation::Pause {
                service: service.clone(),
            }
        },
        Mitigation::Stop {
            service: service.clone(),
        },
        Mitigation::Restart { service },
    ]
}

/// Whether the trainee's last word on something was to restrict it: `said` reads a
/// mitigation as restricting it (`Some(true)`), undoing that (`Some(false)`) or neither.
fn restricted(snap: &Snapshot, said: impl Fn(&Mitigation) -> Option<bool>) -> bool {
    snap.mitigations
        .iter()
        .rev()
        .filter(|m| m.result.as_ref().is_none_or(|(ok, _)| *ok))
        .find_map(|m| said(&m.mitigation))
        .unwrap_or(false)
}

/// Whether the trainee's last word on a source was to block it.
fn blocked(source: &str, snap: &Snapshot) -> bool {
    restricted(snap, |m| match m {
        Mitigation::Block { source: s } if s == source => Some(true),
        Mitigation::Unblock { source: s } if s == source => Some(false),
        _ => None,
    })
}

/// Whether the trainee's last word on a route was to close it.
fn segmented(from: &str, to: &str, snap: &Snapshot) -> bool {
    restricted(snap, |m| match m {
        Mitigation::Segment { from_zone, to_zone } if from_zone == from && to_zone == to => {
            Some(true)
        }
        Mitigation::Unsegment { from_zone, to_zone } if from_zone == from && to_zone == to => {
            Some(false)
        }
        _ => None,
    })
}

/// Whether the trainee's last word on a service's network in a zone was to detach it.
fn detached(service: &str, zone: &str, snap: &Snapshot) -> bool {
    restricted(snap, |m| match m {
        Mitigation::Detach {
            service: s,
            zone: z,
        } if s == service && z == zone => Some(true),
        Mitigation::Attach {
            service: s,
            zone: z,
        } if s == service && z == zone => Some(false),
        // Reconnecting an isolated service restores every one of its networks.
        Mitigation::Reconnect { service: s } if s == service => Some(false),
        _ => None,
    })
}

/// For a service that sits in several zones: detach it from each one (a narrower cut than
/// isolating it: a tier that bridges two zones keeps serving the other), or attach it again.
/// Nothing while it is isolated: reconnecting restores every network.
pub fn zone_actions(
    service: &str,
    zones: &[String],
    status: Option<&ServiceStatus>,
    snap: &Snapshot,
) -> Vec<Mitigation> {
    if zones.len() < 2 || status.is_some_and(|s| s.isolated) {
        return Vec::new();
    }
    zones
        .iter()
        .map(|zone| {
            let (service, zone) = (service.to_string(), zone.clone());
            if detached(&service, &zone, snap) {
                Mitigation::Attach { service, zone }
            } else {
                Mitigation::Detach { service, zone }
            }
        })
        .collect()
}

/// The mitigations for the accounts and addresses an alert names, and for the route between
/// the zones a crossing alert names (the zone left first, then the zone entered).
pub fn entity_actions(entry: &AlertEntry, snap: &Snapshot) -> Vec<Mitigation> {
    let mut entities = vec![entry.alert.entity.clone()];
    for e in &entry.alert.related {
        if !entities.contains(e) {
            entities.push(e.clone());
        }
    }
    let zones: Vec<&str> = entities
        .iter()
        .filter_map(|e| match e {
            EntityRef::Zone(z) => Some(z.as_str()),
            _ => None,
        })
        .collect();
    let route = match zones.as_slice() {
        [from, to, ..] if segmented(from, to, snap) => Some(Mitigation::Unsegment {
            from_zone: from.to_string(),
            to_zone: to.to_string(),
        }),
        [from, to, ..] => Some(Mitigation::Segment {
            from_zone: from.to_string(),
            to_zone: to.to_string(),
        }),
        _ => None,
    };
    entities
        .into_iter()
        .filter_map(|e| match e {
            EntityRef::Identity(identity) => Some(Mitigation::Revoke { identity }),
            EntityRef::Source(source) if blocked(&source, snap) => {
                Some(Mitigation::Unblock { source })
            }
            EntityRef::Source(source) => Some(Mitigation::Block { source }),
            EntityRef::Service(_) | EntityRef::Zone(_) => None,
        })
        .chain(route)
        .collect()
}

/// Send a mitigation, or hold it for confirmation when it disrupts a service for everyone.
pub fn request(ui: &mut LiveUi, m: Mitigation, intents: &mut MessageWriter<Intent>) {
    if m.is_disruptive() {
        ui.confirm = Some(Pending::Mitigate(m));
    } else {
        intents.write(Intent::Command(Command::Mitigate(m)));
    }
}

/// A button's text, with its shortcut when it has a one-key one.
fn label(m: &Mitigation) -> String {
    let verb = m.verb();
    let title = theme::capitalize(verb);
    match m {
        Mitigation::Isolate { .. } | Mitigation::Reconnect { .. } => format!("{title}  X"),
        Mitigation::Pause { .. } | Mitigation::Unpause { .. } => format!("{title}  P"),
        Mitigation::Cap { .. } => format!("{title}  C"),
        Mitigation::Revoke { identity } => format!("Revoke {identity}"),
        Mitigation::Block { source } => format!("Block {source}"),
        Mitigation::Unblock { source } => format!("Unblock {source}"),
        Mitigation::Segment { from_zone, to_zone } => format!("Segment {from_zone} → {to_zone}"),
        Mitigation::Unsegment { from_zone, to_zone } => {
            format!("Reopen {from_zone} → {to_zone}")
        }
        Mitigation::Detach { zone, .. } => format!("Detach from {zone}"),
        Mitigation::Attach { zone, .. } => format!("Attach to {zone}"),
        _ => title,
    }
}

/// The shortcut of an alert's entity action, for its tooltip.
fn entity_key(m: &Mitigation) -> &'static str {
    match m {
        Mitigation::Revoke { .. } => "Shift+R",
        Mitigation::Block { .. } | Mitigation::Unblock { .. } => "Shift+B",
        _ => "no shortcut: click it",
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
    let r = regions(super::screen_size(ctx));
    let mut ui = region(ctx, "actions", egui_rect(r.bottom));
    if seat.replay {
        // A replay shows what was done (under "Your actions"); it takes no commands.
        ui.disable();
    }
    let (Some(snap), Some(brief)) = (&view.snapshot, &view.brief) else {
        return Ok(());
    };
    if snap.phase == bulkhead_engine::Phase::Hardening {
        // The hardening phase takes fixes only, from the posture panel.
        ui.disable();
    }
    let (topology, scenario) = (&brief.topology, &brief.context);
    let rect = ui.max_rect();
    ui.painter().line_segment(
        [rect.left_top(), rect.right_top()],
        egui::Stroke::new(1.0, theme::LINE),
    );
    let mut hovered: Option<Mitigation> = None;
    egui::Frame::new()
        .inner_margin(egui::Margin::symmetric(10, 8))
        .show(&mut ui, |ui| {
            let results_w = (ui.available_width() * 0.36).clamp(150.0, 230.0);
            ui.horizontal_top(|ui| {
                ui.vertical(|ui| {
                    ui.set_width(ui.available_width() - results_w - 10.0);
                    // Service actions for the selected node.
                    if let Some(node) = live.selected_node.clone() {
                        let (mut cpu, mut mem) = live.cap_for(&node, topology);
                        ui.horizontal(|ui| {
                            ui.label(egui::RichText::new(&node).strong());
                            let crit = topology
                                .service(&node)
                                .map(|s| format!("{:?}", s.criticality).to_lowercase())
                                .unwrap_or_default();
                            theme::note(ui, format!("{crit} criticality · cap to"));
                            let c = ui.add(
                                egui::DragValue::new(&mut cpu)
                                    .range(0.05..=16.0)
                                    .speed(0.01)
                                    .max_decimals(2)
                                    .suffix(" cpu"),
                            );
                            let m = ui.add(
                                egui::DragValue::new(&mut mem)
                                    .range(8..=65536)
                                    .speed(1.0)
                                    .suffix(" MiB"),
                            );
                            if c.changed() || m.changed() {
                                live.cap = Some((node.clone(), cpu, mem));
                            }
                        });
                        ui.horizontal_wrapped(|ui| {
                            let status = snap.services.get(&node);
                            let zones = topology
                                .service(&node)
                                .map_or(&[][..], |s| s.zones.as_slice());
                            let mut actions = service_actions(&node, status, (cpu, mem));
                            actions.extend(zone_actions(&node, zones, status, snap));
                            for m in actions {
                                let color = if m.is_disruptive() { WARN } else { ACCENT };
                                let b = ui.add(
                                    egui::Button::new(egui::RichText::new(label(&m)).color(color))
                                        .min_size(egui::vec2(0.0, 24.0)),
                                );
                                if b.hovered() {
                                    hovered = Some(m.clone());
                                }
                                if b.clicked() {
                                    request(&mut live, m, &mut intents);
                                }
                            }
                        });
                    } else {
                        theme::note(ui, "Select a node (click, or 1–9) for container actions.");
                    }
                    // Account and address actions for the selected alert.
                    ui.horizontal_wrapped(|ui| match live.alert(snap).cloned() {
                        Some(entry) => {
                            theme::note(ui, format!("alert #{}:", entry.alert.id));
                            let actions = entity_actions(&entry, snap);
                            if actions.is_empty() {
                                theme::note(ui, "no account or address to act on");
                            }
                            for m in actions {
                                let color = if m.is_disruptive() { WARN } else { ACCENT };
                                let b = ui
                                    .add(egui::Button::new(
                                        egui::RichText::new(label(&m)).color(color),
                                    ))
                                    .on_hover_text(entity_key(&m));
                                if b.hovered() {
                                    hovered = Some(m.clone());
                                }
                                if b.clicked() {
                                    request(&mut live, m, &mut intents);
                                }
                            }
                        }
                        None => {
                            theme::note(
                                ui,
                                "Select an alert (J/K) to act on the accounts and addresses it names.",
                            );
                        }
                    });
                    let text = match &hovered {
                        Some(m) => format!("Expected collateral: {}", collateral(m, topology, scenario)),
                        None => "Hover an action to see what it costs. Orange ones ask for confirmation.".into(),
                    };
                    ui.add(egui::Label::new(egui::RichText::new(text).small().color(DIM)).wrap());
                });
                ui.separator();
                ui.vertical(|ui| {
                    ui.set_width(results_w);
                    ui.label(egui::RichText::new("Your actions").strong());
                    egui::ScrollArea::vertical()
                        .id_salt("results")
                        .stick_to_bottom(true)
                        .show(ui, |ui| {
                            results(ui, snap, &view);
                        });
                });
            });
        });
    Ok(())
}

/// Mitigations taken (pending, done, failed) and recent refusals, oldest first.
fn results(ui: &mut egui::Ui, snap: &Snapshot, view: &SessionView) {
    let mut lines: Vec<(u64, egui::Color32, String, String)> = Vec::new();
    for m in &snap.mitigations {
        let (color, icon, detail) = match &m.result {
            None => (WARN, "…", "waiting for the lab".to_string()),
            Some((true, d)) => (GOOD, "✔", d.clone()),
            Some((false, d)) => (BAD, "✖", d.clone()),
        };
        lines.push((
            m.t_ms,
            color,
            format!("{icon} {}", m.mitigation.summary()),
            detail,
        ));
    }
    for f in &view.feedback {
        match f.kind {
            FeedbackKind::Refused => {
                lines.push((
                    f.t_ms,
                    WARN,
                    format!("⚠ refused: {}", f.text),
                    String::new(),
                ));
            }
            FeedbackKind::Info => lines.push((f.t_ms, DIM, f.text.clone(), String::new())),
            // Mitigations show with their result above; other accepted commands show in place.
            FeedbackKind::Done => {}
        }
    }
    lines.sort_by_key(|l| l.0);
    if lines.is_empty() {
        theme::note(ui, "Nothing yet.");
    }
    for (t, color, text, detail) in lines.iter().rev().take(12).rev() {
        let r = ui.add(
            egui::Label::new(
                egui::RichText::new(format!("{} {text}", theme::clock(snap.live_s(*t))))
                    .small()
                    .color(*color),
            )
            .wrap(),
        );
        if !detail.is_empty() {
            r.on_hover_text(detail);
        }
    }
}

/// The confirmation for a disruptive action or a hint.
fn confirm(
    mut contexts: EguiContexts,
    view: Res<SessionView>,
    mut live: ResMut<LiveUi>,
    mut intents: MessageWriter<Intent>,
) -> Result {
    let ctx = contexts.ctx_mut()?;
    let Some(pending) = live.confirm.clone() else {
        return Ok(());
    };
    let (Some(snap), Some(brief)) = (&view.snapshot, &view.brief) else {
        return Ok(());
    };
    let (title, body) = match &pending {
        Pending::Mitigate(m) => {
            let mut body = collateral(m, &brief.topology, &brief.context);
            let (risk, cost) = match m {
                Mitigation::Fix { service, weakness } => fixing_costs(brief, service, *weakness),
                _ => (None, None),
            };
            if let Some(risk) = risk {
                body.push_str(&format!(
                    "\n\nThe business accepted this risk: {} Fixing it anyway: {}.",
                    risk.reason, risk.breaks
                ));
            }
            if let Some(cost) = cost {
                body.push_str(&format!("\n\nWhat fixing it costs: {}.", cost.breaks));
            }
            (format!("{}?", theme::capitalize(&m.summary())), body)
        }
        Pending::Hint => (
            "Reveal a hint?".to_string(),
            format!(
                "It costs {} points off your score. {} left.",
                snap.next_hint_cost.unwrap_or(0),
                snap.hints_left
            ),
        ),
        Pending::Finish => (
            "End the session now?".to_string(),
            "You go to the debrief and are scored on what happened so far.".to_string(),
        ),
        Pending::Leave => (
            "Abandon this session?".to_string(),
            "Back to the menu; this session is not scored.".to_string(),
        ),
    };
    let mut answer = None;
    egui::Window::new("confirm")
        .title_bar(false)
        .collapsible(false)
        .resizable(false)
        .anchor(egui::Align2::CENTER_CENTER, egui::vec2(0.0, -40.0))
        .fixed_size(egui::vec2(420.0, 0.0))
        .frame(
            theme::card()
                .fill(theme::CARD_HI)
                .stroke(egui::Stroke::new(1.5, WARN)),
        )
        .show(ctx, |ui| {
            ui.label(egui::RichText::new(title).size(18.0).strong().color(WARN));
            ui.add_space(4.0);
            ui.add(egui::Label::new(body).wrap());
            ui.add_space(8.0);
            ui.horizontal(|ui| {
                if ui
                    .add(
                        egui::Button::new(egui::RichText::new("Confirm  Enter").strong())
                            .fill(WARN.linear_multiply(0.4)),
                    )
                    .clicked()
                {
                    answer = Some(true);
                }
                if ui.button("Cancel  Esc").clicked() {
                    answer = Some(false);
                }
            });
        });
    match answer {
        Some(true) => {
            live.confirm = None;
            intents.write(pending.intent());
        }
        Some(false) => live.confirm = None,
        None => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_follow_the_state_of_what_they_act_on() {
        let status = ServiceStatus {
            running: true,
            paused: true,
            isolated: true,
            ..Default::default()
        };
        let verbs: Vec<&str> = service_actions("web", Some(&status), (0.25, 64))
            .iter()
            .map(Mitigation::verb)
            .collect();
        assert_eq!(verbs, ["reconnect", "cap", "unpause", "stop", "restart"]);
        let fresh: Vec<&str> = service_actions("web", None, (0.25, 64))
            .iter()
            .map(Mitigation::verb)
            .collect();
        assert_eq!(fresh, ["isolate", "cap", "pause", "stop", "restart"]);
    }
}
