//! The look: one dark palette shared by egui panels and the bevy map, severity colours, and
//! the egui style (sizes chosen to stay readable at 1280×720).

use bevy::prelude::*;
use bevy_egui::egui::{self, Color32, CornerRadius, FontFamily, FontId, Stroke, TextStyle};
use bulkhead_engine::format::rules::Severity;

pub const BG: Color32 = Color32::from_rgb(0x0e, 0x13, 0x1a);
pub const PANEL: Color32 = Color32::from_rgb(0x14, 0x1b, 0x24);
pub const CARD: Color32 = Color32::from_rgb(0x1b, 0x24, 0x30);
pub const CARD_HI: Color32 = Color32::from_rgb(0x24, 0x31, 0x41);
pub const LINE: Color32 = Color32::from_rgb(0x2b, 0x38, 0x48);
pub const TEXT: Color32 = Color32::from_rgb(0xd8, 0xe0, 0xea);
pub const DIM: Color32 = Color32::from_rgb(0x8b, 0x98, 0xa9);
pub const ACCENT: Color32 = Color32::from_rgb(0x3d, 0xc1, 0xb0);
pub const BLUE: Color32 = Color32::from_rgb(0x5b, 0x9c, 0xe6);
pub const VIOLET: Color32 = Color32::from_rgb(0xa0, 0x8c, 0xf0);
pub const GOOD: Color32 = Color32::from_rgb(0x4c, 0xc3, 0x8a);
pub const WARN: Color32 = Color32::from_rgb(0xe8, 0xb5, 0x3e);
pub const BAD: Color32 = Color32::from_rgb(0xec, 0x55, 0x58);

pub fn severity(s: Severity) -> Color32 {
    match s {
        Severity::Low => Color32::from_rgb(0x6f, 0xa8, 0xdc),
        Severity::Medium => WARN,
        Severity::High => Color32::from_rgb(0xf2, 0x84, 0x3c),
        Severity::Critical => BAD,
    }
}

pub fn severity_label(s: Severity) -> &'static str {
    match s {
        Severity::Low => "LOW",
        Severity::Medium => "MED",
        Severity::High => "HIGH",
        Severity::Critical => "CRIT",
    }
}

/// An egui colour for bevy.
pub fn to_bevy(c: Color32) -> Color {
    Color::srgba_u8(c.r(), c.g(), c.b(), c.a())
}

/// Grade colours for the debrief and the HUD.
pub fn grade(grade: &str) -> Color32 {
    match grade {
        "S" | "A" => GOOD,
        "B" => ACCENT,
        "C" => WARN,
        _ => BAD,
    }
}

/// The text with its first letter in upper case.
pub fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Clock as m:ss (negative values during the warm-up count down to the live phase).
pub fn clock(seconds: f64) -> String {
    let sign = if seconds < 0.0 { "-" } else { "" };
    let s = seconds.abs().floor() as u64;
    format!("{sign}{}:{:02}", s / 60, s % 60)
}

/// The style every screen uses.
pub fn style(ctx: &egui::Context) {
    ctx.set_theme(egui::Theme::Dark);
    ctx.all_styles_mut(|style| {
        style.text_styles = [
            (
                TextStyle::Small,
                FontId::new(12.0, FontFamily::Proportional),
            ),
            (TextStyle::Body, FontId::new(14.5, FontFamily::Proportional)),
            (
                TextStyle::Button,
                FontId::new(14.5, FontFamily::Proportional),
            ),
            (
                TextStyle::Heading,
                FontId::new(21.0, FontFamily::Proportional),
            ),
            (
                TextStyle::Monospace,
                FontId::new(13.0, FontFamily::Monospace),
            ),
        ]
        .into();
        style.spacing.item_spacing = egui::vec2(8.0, 6.0);
        style.spacing.button_padding = egui::vec2(9.0, 4.0);
        style.spacing.interact_size.y = 24.0;
        let v = &mut style.visuals;
        v.dark_mode = true;
        v.override_text_color = Some(TEXT);
        v.panel_fill = PANEL;
        v.window_fill = CARD;
        v.extreme_bg_color = BG;
        v.faint_bg_color = CARD;
        v.window_stroke = Stroke::new(1.0, LINE);
        v.window_corner_radius = CornerRadius::same(8);
        v.selection.bg_fill = ACCENT.linear_multiply(0.35);
        v.selection.stroke = Stroke::new(1.0, ACCENT);
        v.hyperlink_color = ACCENT;
        let r = CornerRadius::same(5);
        v.widgets.noninteractive.bg_fill = CARD;
        v.widgets.noninteractive.bg_stroke = Stroke::new(1.0, LINE);
        v.widgets.noninteractive.fg_stroke = Stroke::new(1.0, TEXT);
        v.widgets.noninteractive.corner_radius = r;
        v.widgets.inactive.bg_fill = CARD_HI;
        v.widgets.inactive.weak_bg_fill = CARD_HI;
        v.widgets.inactive.bg_stroke = Stroke::new(1.0, LINE);
        v.widgets.inactive.fg_stroke = Stroke::new(1.0, TEXT);
        v.widgets.inactive.corner_radius = r;
        v.widgets.hovered.bg_fill = Color32::from_rgb(0x2e, 0x3f, 0x52);
        v.widgets.hovered.weak_bg_fill = Color32::from_rgb(0x2e, 0x3f, 0x52);
        v.widgets.hovered.bg_stroke = Stroke::new(1.0, ACCENT);
        v.widgets.hovered.fg_stroke = Stroke::new(1.0, Color32::WHITE);
        v.widgets.hovered.corner_radius = r;
        v.widgets.active.bg_fill = ACCENT.linear_multiply(0.6);
        v.widgets.active.weak_bg_fill = ACCENT.linear_multiply(0.6);
        v.widgets.active.fg_stroke = Stroke::new(1.0, Color32::WHITE);
        v.widgets.active.corner_radius = r;
    });
}

/// A rounded card with the panel's padding.
pub fn card() -> egui::Frame {
    egui::Frame::new()
        .fill(CARD)
        .stroke(Stroke::new(1.0, LINE))
        .corner_radius(CornerRadius::same(6))
        .inner_margin(egui::Margin::same(10))
}

/// A small coloured tag (severity, difficulty, state).
pub fn pill(ui: &mut egui::Ui, text: &str, color: Color32) -> egui::Response {
    egui::Frame::new()
        .fill(color.linear_multiply(0.22))
        .stroke(Stroke::new(1.0, color.linear_multiply(0.8)))
        .corner_radius(CornerRadius::same(4))
        .inner_margin(egui::Margin::symmetric(5, 1))
        .show(ui, |ui| {
            ui.label(egui::RichText::new(text).small().strong().color(color))
        })
        .inner
}

/// A section heading inside a panel.
pub fn heading(ui: &mut egui::Ui, text: &str) {
    ui.label(egui::RichText::new(text).size(15.5).strong().color(TEXT));
}

/// Dim explanatory text.
pub fn note(ui: &mut egui::Ui, text: impl Into<String>) -> egui::Response {
    ui.label(egui::RichText::new(text.into()).color(DIM))
}

/// The clear colour is the background of whatever covers most of the screen: the page on
/// menu, briefing and debrief, the panels on the live screen (the map and the bar at the top
/// get backdrops of their own, see `map::camera`).
pub fn plugin(app: &mut App) {
    app.insert_resource(ClearColor(to_bevy(BG)))
        .add_systems(
            OnEnter(crate::screens::Screen::Live),
            |mut clear: ResMut<ClearColor>| clear.0 = to_bevy(PANEL),
        )
        .add_systems(
            OnExit(crate::screens::Screen::Live),
            |mut clear: ResMut<ClearColor>| clear.0 = to_bevy(BG),
        );
}
