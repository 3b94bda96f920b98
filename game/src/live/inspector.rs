//! The inspector: the selected container's state, charts of CPU, memory, network and request
//! rate drawn over the baseline band the detector learned (mean ± 3σ), and its recent logs.

use bevy::prelude::*;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};
use bulkhead_engine::format::topology::Role;
use bulkhead_engine::observation::MetricKind;
use egui_plot::{Axis, HLine, Line, Plot, PlotPoints, Span};

use crate::bridge::{BandView, SessionView, Snapshot};
use crate::live::{LiveUi, egui_rect, regions, screen_size};
use crate::screens::{Screen, UiPass, region};
use crate::theme::{self, ACCENT, BAD, BLUE, DIM, GOOD, LINE, TEXT, VIOLET, WARN};

pub fn plugin(app: &mut App) {
    app.add_systems(
        EguiPrimaryContextPass,
        draw.in_set(UiPass::Panels).run_if(in_state(Screen::Live)),
    );
}

pub fn role_label(role: Role) -> &'static str {
    match role {
        Role::Gateway => "Gateway",
        Role::Web => "Web API",
        Role::Datastore => "Datastore",
        Role::Worker => "Worker",
        Role::Traffic => "Traffic",
        Role::Attacker => "Attacker",
        Role::Firewall => "Firewall",
    }
}

/// The learned band behind a chart, and its mean line.
const BAND: egui::Color32 = egui::Color32::from_rgba_premultiplied(0x1d, 0x4a, 0x46, 0x80);
const BAND_EDGE: egui::Color32 = egui::Color32::from_rgb(0x2f, 0x7a, 0x72);

/// One chart: which history column, its title, unit and colour.
struct Chart {
    column: usize,
    title: &'static str,
    color: egui::Color32,
    band: Option<BandView>,
}

/// The band for combined network traffic: the detector learns rx and tx apart.
fn net_band(snap: &Snapshot, service: &str) -> Option<BandView> {
    let rx = snap.bands.get(&(service.to_string(), MetricKind::NetRx))?;
    let tx = snap.bands.get(&(service.to_string(), MetricKind::NetTx))?;
    Some(BandView {
        mean: rx.mean + tx.mean,
        lo: rx.lo + tx.lo,
        hi: rx.hi + tx.hi,
    })
}

fn draw(mut contexts: EguiContexts, view: Res<SessionView>, mut live: ResMut<LiveUi>) -> Result {
    let ctx = contexts.ctx_mut()?;
    let r = regions(screen_size(ctx));
    let mut ui = region(ctx, "inspector", egui_rect(r.right));
    let rect = ui.max_rect();
    ui.painter().line_segment(
        [rect.left_top(), rect.left_bottom()],
        egui::Stroke::new(1.0, LINE),
    );
    let (Some(snap), Some(brief)) = (&view.snapshot, &view.brief) else {
        return Ok(());
    };
    let topology = &brief.topology;
    egui::Frame::new()
        .inner_margin(egui::Margin::symmetric(10, 8))
        .show(&mut ui, |ui| {
            let selected = live
                .selected_node
                .clone()
                .and_then(|id| topology.service(&id).cloned());
            match &selected {
                Some(s) => {
                    let status = snap.services.get(&s.id);
                    ui.horizontal(|ui| {
                        theme::heading(ui, &s.id);
                        theme::pill(ui, role_label(s.role), BLUE);
                        let crit = match s.criticality {
                            bulkhead_engine::format::topology::Criticality::High => ("HIGH", BAD),
                            bulkhead_engine::format::topology::Criticality::Medium => {
                                ("MEDIUM", WARN)
                            }
                            bulkhead_engine::format::topology::Criticality::Low => ("LOW", DIM),
                        };
                        theme::pill(ui, crit.0, crit.1).on_hover_text("criticality");
                    });
                    ui.add(egui::Label::new(egui::RichText::new(&s.title).color(DIM)).truncate());
                    ui.horizontal_wrapped(|ui| {
                        if let Some(st) = status {
                            let (text, color) = if !st.running {
                                ("STOPPED", BAD)
                            } else if st.paused {
                                ("PAUSED", WARN)
                            } else {
                                ("RUNNING", GOOD)
                            };
                            theme::pill(ui, text, color);
                            if st.isolated {
                                theme::pill(ui, "ISOLATED", VIOLET);
                            }
                            if st.capped {
                                theme::pill(ui, "CAPPED", ACCENT);
                            }
                            if let Some(m) = &st.last {
                                ui.label(
                                    egui::RichText::new(format!(
                                        "cpu {:.0}% of {:.0}% · mem {:.0}/{} MiB · {} pids",
                                        m.cpu_pct,
                                        s.limits.cpu_cores * 100.0,
                                        m.memory_mib,
                                        s.limits.memory_mib,
                                        m.pids
                                    ))
                                    .small()
                                    .color(DIM),
                                );
                            }
                        }
                    });
                    ui.add_space(4.0);
                    let charts = [
                        Chart {
                            column: 1,
                            title: "CPU %",
                            color: ACCENT,
                            band: snap.bands.get(&(s.id.clone(), MetricKind::Cpu)).copied(),
                        },
                        Chart {
                            column: 2,
                            title: "memory MiB",
                            color: BLUE,
                            band: snap.bands.get(&(s.id.clone(), MetricKind::Memory)).copied(),
                        },
                        Chart {
                            column: 4,
                            title: "network kB/s",
                            color: VIOLET,
                            band: net_band(snap, &s.id),
                        },
                        Chart {
                            column: 5,
                            title: "requests/s",
                            color: WARN,
                            band: snap
                                .bands
                                .get(&(s.id.clone(), MetricKind::RequestRate))
                                .copied(),
                        },
                    ];
                    let w = (ui.available_width() - 8.0) / 2.0;
                    egui::Grid::new("charts")
                        .num_columns(2)
                        .spacing([8.0, 6.0])
                        .show(ui, |ui| {
                            for (i, chart) in charts.iter().enumerate() {
                                draw_chart(ui, snap, &s.id, chart, w);
                                if i % 2 == 1 {
                                    ui.end_row();
                                }
                            }
                        });
                    ui.horizontal(|ui| {
                        let swatch = |ui: &mut egui::Ui, c: egui::Color32, t: &str| {
                            let (r, _) =
                                ui.allocate_exact_size(egui::vec2(14.0, 8.0), egui::Sense::hover());
                            ui.painter().rect_filled(r, 2.0, c);
                            ui.label(egui::RichText::new(t).small().color(DIM));
                        };
                        swatch(ui, BAND_EDGE, "learned normal: mean ± 3σ");
                        if snap.phase == bulkhead_engine::Phase::Warmup {
                            theme::note(ui, "· learning…");
                        }
                    });
                }
                None => {
                    theme::heading(ui, "Inspector");
                    theme::note(
                        ui,
                        "Click a node on the map, or press 1–9, to inspect a container.",
                    );
                }
            }
            ui.add_space(4.0);
            ui.separator();
            logs(
                ui,
                snap,
                &mut live,
                selected.as_ref().map(|s| s.id.as_str()),
            );
        });
    Ok(())
}

fn draw_chart(ui: &mut egui::Ui, snap: &Snapshot, service: &str, chart: &Chart, width: f32) {
    let history = snap.services.get(service).map(|s| &s.history);
    let points: Vec<[f64; 2]> = history
        .map(|h| {
            h.iter()
                .map(|row| {
                    let t = (f64::from(row[0]) * 1000.0 - snap.live_start_ms as f64) / 1000.0;
                    [t, f64::from(row[chart.column])]
                })
                .collect()
        })
        .unwrap_or_default();
    let last = points.last().map(|p| p[1]);
    let out = match (last, chart.band) {
        (Some(v), Some(b)) => v as f32 > b.hi,
        _ => false,
    };
    ui.vertical(|ui| {
        ui.set_width(width);
        ui.horizontal(|ui| {
            ui.label(egui::RichText::new(chart.title).small().color(DIM));
            if let Some(v) = last {
                ui.label(
                    egui::RichText::new(format!("{v:.0}"))
                        .small()
                        .strong()
                        .color(if out { BAD } else { TEXT }),
                );
            }
        });
        let now = snap.live_s(snap.now_ms);
        let mut plot = Plot::new(("chart", service, chart.column))
            .height(62.0)
            .width(width)
            .show_axes([false, true])
            .y_axis_min_width(22.0)
            .show_grid([false, true])
            .allow_drag(false)
            .allow_zoom(false)
            .allow_scroll(false)
            .allow_boxed_zoom(false)
            .allow_double_click_reset(false)
            .show_background(false)
            .include_y(0.0)
            .include_x(now - 120.0)
            .include_x(now)
            .set_margin_fraction(egui::vec2(0.0, 0.1));
        if let Some(b) = chart.band {
            plot = plot.include_y(f64::from(b.hi) * 1.1);
        }
        plot.show(ui, |p| {
            if let Some(b) = chart.band {
                // Unnamed: a named span prints its name across the chart.
                p.span(
                    Span::new("", f64::from(b.lo)..=f64::from(b.hi))
                        .axis(Axis::Y)
                        .fill(BAND)
                        .border_width(0.0),
                );
                p.hline(
                    HLine::new("", f64::from(b.mean))
                        .color(BAND_EDGE)
                        .width(1.0),
                );
            }
            let color = if out { BAD } else { chart.color };
            p.line(
                Line::new(chart.title, PlotPoints::from(points))
                    .color(color)
                    .width(1.6),
            );
        });
    });
}

fn logs(ui: &mut egui::Ui, snap: &Snapshot, live: &mut LiveUi, service: Option<&str>) {
    ui.horizontal(|ui| {
        theme::heading(ui, "Logs");
        let edit = ui.add(
            egui::TextEdit::singleline(&mut live.log_filter)
                .hint_text("filter  /")
                .desired_width(ui.available_width() - 60.0),
        );
        if std::mem::take(&mut live.focus_filter) {
            edit.request_focus();
        }
        ui.checkbox(&mut live.all_logs, "all")
            .on_hover_text("Show every container's logs");
    });
    let filter = live.log_filter.to_lowercase();
    let lines: Vec<_> = snap
        .logs
        .iter()
        .rev()
        .filter(|l| live.all_logs || service.is_none_or(|s| l.service == s))
        .filter(|l| {
            filter.is_empty()
                || l.text.to_lowercase().contains(&filter)
                || l.service.contains(&filter)
        })
        .take(150)
        .collect();
    egui::ScrollArea::vertical()
        .id_salt("logs")
        .auto_shrink([false, false])
        .show(ui, |ui| {
            if lines.is_empty() {
                theme::note(
                    ui,
                    match (service, live.all_logs || !filter.is_empty()) {
                        (Some(s), false) => {
                            format!("Nothing logged by {s} yet; tick “all” for every container.")
                        }
                        _ => "No log lines match.".into(),
                    },
                );
            }
            for l in lines {
                let text = l.text.to_lowercase();
                let color = if text.contains("failed")
                    || text.contains("denied")
                    || text.contains("-> 4")
                    || text.contains("-> 5")
                {
                    theme::WARN
                } else {
                    TEXT
                };
                ui.horizontal_wrapped(|ui| {
                    ui.spacing_mut().item_spacing.x = 6.0;
                    ui.label(
                        egui::RichText::new(theme::clock(snap.live_s(l.t_ms)))
                            .monospace()
                            .small()
                            .color(DIM),
                    );
                    if live.all_logs || service.is_none() {
                        ui.label(egui::RichText::new(&l.service).small().color(ACCENT));
                    }
                    ui.label(egui::RichText::new(&l.text).small().color(color));
                });
            }
        });
}
