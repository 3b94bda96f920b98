//! The hardening screen: in the hardening phase the left panel shows the audit of the running
//! lab instead of the alerts. Findings are grouped by container, each with what the audit saw,
//! its CIS Docker Benchmark items, whether the business accepted it as a risk or the scenario
//! names what fixing it costs, and a fix button (what the fix does on hover) that asks for
//! confirmation; fixes under way and done are listed below.

use std::collections::BTreeMap;

use bevy::prelude::*;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};
use bulkhead_engine::format::scenario::{AcceptedRisk, FixCollateral};
use bulkhead_engine::posture::{Finding, WeaknessKind, WeaknessRef};
use bulkhead_engine::{Mitigation, Phase, TraineeBrief};

use crate::bridge::{SessionView, Snapshot};
use crate::live::{LiveUi, Pending, egui_rect, regions, screen_size};
use crate::screens::{Screen, UiPass, region};
use crate::seat::SeatInfo;
use crate::theme::{self, ACCENT, BAD, DIM, GOOD, LINE, TEXT, VIOLET, WARN};

pub fn plugin(app: &mut App) {
    app.add_systems(
        EguiPrimaryContextPass,
        draw.in_set(UiPass::Panels)
            .run_if(in_state(Screen::Live))
            .run_if(hardening),
    );
}

/// Whether the session is in its hardening phase (the alerts panel gives way then).
pub fn hardening(view: Res<SessionView>) -> bool {
    view.snapshot
        .as_ref()
        .is_some_and(|s| s.phase == Phase::Hardening)
}

/// What the scenario says fixing this costs the business, if anything: the risk it accepted
/// (its reason, and what the fix breaks), or the price of a fix still worth making. Both go on
/// the finding and in the fix's confirmation.
pub fn fixing_costs<'a>(
    brief: &'a TraineeBrief,
    service: &str,
    weakness: WeaknessKind,
) -> (Option<&'a AcceptedRisk>, Option<&'a FixCollateral>) {
    let weakness = WeaknessRef {
        service: service.to_string(),
        weakness,
    };
    match &brief.hardening {
        Some(h) => (h.accepted(&weakness), h.collateral_of(&weakness)),
        None => (None, None),
    }
}

fn draw(
    mut contexts: EguiContexts,
    view: Res<SessionView>,
    seat: Res<SeatInfo>,
    mut live: ResMut<LiveUi>,
) -> Result {
    let ctx = contexts.ctx_mut()?;
    let r = regions(screen_size(ctx));
    let mut ui = region(ctx, "posture", egui_rect(r.left));
    let rect = ui.max_rect();
    ui.painter().line_segment(
        [rect.right_top(), rect.right_bottom()],
        egui::Stroke::new(1.0, LINE),
    );
    let (Some(snap), Some(brief)) = (&view.snapshot, &view.brief) else {
        return Ok(());
    };
    egui::Frame::new()
        .inner_margin(egui::Margin::symmetric(10, 8))
        .show(&mut ui, |ui| {
            ui.horizontal(|ui| {
                theme::heading(ui, "Posture audit");
                let left_s = snap.hardening_end_ms.saturating_sub(snap.now_ms) as f64 / 1000.0;
                theme::note(ui, format!("{} findings · {} left", snap.findings.len(), theme::clock(left_s)))
                    .on_hover_text("What a reviewer finds by inspecting every container now. Fix what an intruder could use before the warm-up starts.");
            });
            ui.add_space(4.0);
            egui::ScrollArea::vertical()
                .id_salt("findings")
                .auto_shrink([false, false])
                .show(ui, |ui| {
                    let commands = !seat.replay;
                    findings(ui, snap, brief, commands, &mut live);
                    fixes(ui, snap);
                });
        });
    Ok(())
}

/// The findings, grouped by container.
fn findings(
    ui: &mut egui::Ui,
    snap: &Snapshot,
    brief: &TraineeBrief,
    commands: bool,
    live: &mut LiveUi,
) {
    let mut by_service: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
    for f in &snap.findings {
        by_service.entry(f.service.as_str()).or_default().push(f);
    }
    if by_service.is_empty() {
        theme::note(ui, "The audit finds nothing left to fix.");
    }
    for (service, list) in by_service {
        let title = brief
            .topology
            .service(service)
            .map_or("", |s| s.title.as_str());
        ui.add_space(4.0);
        ui.label(egui::RichText::new(service).strong().color(ACCENT))
            .on_hover_text(title);
        for finding in list {
            let fixing = under_way(snap, finding);
            theme::card().show(ui, |ui| {
                ui.set_width(ui.available_width());
                let costs = fixing_costs(brief, &finding.service, finding.weakness);
                finding_card(ui, finding, costs, fixing, commands, live);
            });
        }
    }
}

/// Whether a fix of this finding was asked for and not answered yet.
fn under_way(snap: &Snapshot, finding: &Finding) -> bool {
    snap.mitigations.iter().any(|m| {
        m.result.is_none()
            && matches!(&m.mitigation, Mitigation::Fix { service, weakness }
                if *service == finding.service && *weakness == finding.weakness)
    })
}

/// One finding in three short lines, so that a whole audit fits the panel at 1280×720: its
/// title with the fix button, its tags, what the audit saw. What the fix does is on hover.
fn finding_card(
    ui: &mut egui::Ui,
    finding: &Finding,
    (risk, cost): (Option<&AcceptedRisk>, Option<&FixCollateral>),
    fixing: bool,
    commands: bool,
    live: &mut LiveUi,
) {
    let does = format!("Fix: {}.", finding.weakness.fix());
    ui.horizontal(|ui| {
        let title = egui::RichText::new(finding.weakness.title()).strong();
        ui.label(title.color(TEXT)).on_hover_text(&does);
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            if fixing {
                theme::pill(ui, "FIXING…", ACCENT);
            } else if commands {
                let button = egui::Button::new(egui::RichText::new("Fix…").strong());
                let hover = format!("{does} Asks for confirmation.");
                if ui.add(button).on_hover_text(hover).clicked() {
                    live.confirm = Some(Pending::Mitigate(Mitigation::Fix {
                        service: finding.service.clone(),
                        weakness: finding.weakness,
                    }));
                }
            }
        });
    });
    // Tags on a line of their own: the panel is narrow, and a tag must not break inside.
    ui.horizontal(|ui| {
        if !finding.cis.is_empty() {
            theme::pill(ui, &format!("CIS {}", finding.cis.join(" · ")), VIOLET)
                .on_hover_text("CIS Docker Benchmark v1.6.0 items");
        }
        if let Some(risk) = risk {
            theme::pill(ui, "ACCEPTED", WARN).on_hover_text(format!(
                "A risk the business accepted: {} Fixing it: {}.",
                risk.reason, risk.breaks
            ));
        }
        if let Some(cost) = cost {
            theme::pill(ui, "HAS A COST", WARN)
                .on_hover_text(format!("Fixing it: {}.", cost.breaks));
        }
    });
    ui.label(
        egui::RichText::new(&finding.evidence)
            .small()
            .monospace()
            .color(DIM),
    );
}

/// The fixes asked for, with what came of each.
fn fixes(ui: &mut egui::Ui, snap: &Snapshot) {
    let asked: Vec<_> = (snap.mitigations.iter())
        .filter(|m| matches!(m.mitigation, Mitigation::Fix { .. }))
        .collect();
    if asked.is_empty() {
        return;
    }
    ui.add_space(10.0);
    theme::heading(ui, "Fixes");
    for m in asked {
        let (tag, color, detail) = match &m.result {
            None => ("…", ACCENT, String::new()),
            Some((true, detail)) => ("FIXED", GOOD, detail.clone()),
            Some((false, detail)) => ("FAILED", BAD, detail.clone()),
        };
        ui.horizontal_wrapped(|ui| {
            theme::pill(ui, tag, color);
            ui.label(egui::RichText::new(m.mitigation.summary()).color(TEXT))
                .on_hover_text(detail);
        });
    }
}
