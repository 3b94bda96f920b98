//! The live screen's shared state (what is selected, what waits for confirmation) and where
//! its panels go. Each panel is its own plugin; the map is in `crate::map`.

pub mod actions;
pub mod alerts;
pub mod help;
pub mod hud;
pub mod inspector;
pub mod posture;
pub mod replay_bar;
pub mod shortcuts;

use bevy::math::{Rect, Vec2};
use bevy::prelude::*;
use bulkhead_engine::format::topology::Topology;
use bulkhead_engine::session::AlertEntry;
use bulkhead_engine::{EntityRef, Mitigation};

use crate::bridge::{SessionView, Snapshot};
use crate::screens::Screen;

/// How the alerts list is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AlertSort {
    /// Newest first.
    #[default]
    Time,
    /// Most severe first, then newest.
    Severity,
}

/// Something that waits for the trainee to confirm it.
#[derive(Debug, Clone, PartialEq)]
pub enum Pending {
    Mitigate(Mitigation),
    Hint,
    /// End the session now and see the debrief.
    Finish,
    /// Abandon the session (unscored) and go back to the menu.
    Leave,
}

impl Pending {
    /// What confirming it sends.
    pub fn intent(self) -> crate::bridge::Intent {
        use crate::bridge::Intent;
        use bulkhead_engine::Command;
        match self {
            Pending::Mitigate(m) => Intent::Command(Command::Mitigate(m)),
            Pending::Hint => Intent::Command(Command::Hint),
            Pending::Finish => Intent::Finish,
            Pending::Leave => Intent::Menu,
        }
    }
}

/// The live screen's UI state. Panels and shortcuts read and write it; the session never sees it.
#[derive(Resource, Debug, Default)]
pub struct LiveUi {
    pub selected_node: Option<String>,
    pub selected_alert: Option<u32>,
    pub sort: AlertSort,
    pub log_filter: String,
    /// Show every service's logs, not only the selected node's.
    pub all_logs: bool,
    pub confirm: Option<Pending>,
    pub help: bool,
    /// A text field has the keyboard: shortcuts stay quiet.
    pub typing: bool,
    /// Put the keyboard in the log filter on the next frame.
    pub focus_filter: bool,
    /// Frame the whole map again on the next frame.
    pub fit_map: bool,
    /// Limits proposed for a cap, per service: (cpu cores, memory MiB).
    pub cap: Option<(String, f32, u32)>,
}

impl LiveUi {
    /// The selected alert, if it still exists.
    pub fn alert<'a>(&self, snap: &'a Snapshot) -> Option<&'a AlertEntry> {
        let id = self.selected_alert?;
        snap.alerts.iter().find(|a| a.alert.id == id)
    }

    /// Select an alert, and its service on the map when it is about one.
    pub fn select_alert(&mut self, entry: &AlertEntry) {
        self.selected_alert = Some(entry.alert.id);
        if let EntityRef::Service(s) = &entry.alert.entity {
            self.selected_node = Some(s.clone());
        }
    }

    /// The cap proposed for a service: what the trainee set, else half its limits.
    pub fn cap_for(&self, service: &str, topology: &Topology) -> (f32, u32) {
        match &self.cap {
            Some((s, cpu, mem)) if s == service => (*cpu, *mem),
            _ => topology.service(service).map_or((0.25, 64), |s| {
                (
                    ((s.limits.cpu_cores / 2.0) * 20.0).round().max(1.0) / 20.0,
                    (s.limits.memory_mib / 2).max(8),
                )
            }),
        }
    }
}

/// Where each part of the live screen goes, in logical pixels (y down). The map's camera frames
/// the layout into `map`, the space the panels leave.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Regions {
    pub top: Rect,
    pub left: Rect,
    pub right: Rect,
    pub bottom: Rect,
    pub map: Rect,
}

pub fn regions(window: Vec2) -> Regions {
    let top_h = 48.0;
    let left_w = (window.x * 0.25).clamp(240.0, 330.0);
    let right_w = (window.x * 0.29).clamp(260.0, 370.0);
    let bottom_h = (window.y * 0.25).clamp(130.0, 180.0);
    let mid = (left_w, (window.x - right_w).max(left_w + 1.0));
    let map_bottom = (window.y - bottom_h).max(top_h + 1.0);
    Regions {
        top: Rect::new(0.0, 0.0, window.x, top_h),
        left: Rect::new(0.0, top_h, left_w, window.y),
        right: Rect::new(mid.1, top_h, window.x, window.y),
        bottom: Rect::new(mid.0, map_bottom, mid.1, window.y),
        map: Rect::new(mid.0, top_h, mid.1, map_bottom),
    }
}

/// A bevy rect as an egui rect.
pub fn egui_rect(r: Rect) -> bevy_egui::egui::Rect {
    bevy_egui::egui::Rect::from_min_max(
        bevy_egui::egui::pos2(r.min.x, r.min.y),
        bevy_egui::egui::pos2(r.max.x, r.max.y),
    )
}

/// The screen's size in logical pixels, as egui sees it.
pub fn screen_size(ctx: &bevy_egui::egui::Context) -> Vec2 {
    let size = ctx.viewport_rect().size();
    Vec2::new(size.x, size.y)
}

/// Alerts in display order.
pub fn sorted_alerts(snap: &Snapshot, sort: AlertSort) -> Vec<&AlertEntry> {
    let mut alerts: Vec<&AlertEntry> = snap.alerts.iter().collect();
    match sort {
        AlertSort::Time => alerts.sort_by_key(|a| std::cmp::Reverse(a.alert.id)),
        AlertSort::Severity => alerts.sort_by_key(|a| {
            (
                std::cmp::Reverse(a.alert.severity),
                std::cmp::Reverse(a.alert.id),
            )
        }),
    }
    alerts
}

/// The logic half of the live screen: its state and its keyboard shortcuts.
pub fn plugin(app: &mut App) {
    app.init_resource::<LiveUi>()
        .add_systems(OnEnter(Screen::Live), reset)
        .add_plugins(shortcuts::plugin);
}

/// The drawing half: the egui panels.
pub fn panels_plugin(app: &mut App) {
    app.add_plugins((
        hud::plugin,
        alerts::plugin,
        posture::plugin,
        inspector::plugin,
        actions::plugin,
        help::plugin,
        replay_bar::plugin,
    ));
}

fn reset(mut ui: ResMut<LiveUi>, view: Res<SessionView>) {
    *ui = LiveUi {
        fit_map: true,
        ..Default::default()
    };
    // Start on the web tier (where accounts log in: the busiest logs), else the first node, so
    // the inspector has something to show.
    ui.selected_node = view.brief.as_ref().and_then(|b| {
        let company = || b.topology.services.iter().filter(|s| !s.range_only);
        company()
            .find(|s| s.role == bulkhead_engine::format::topology::Role::Web)
            .or_else(|| company().next())
            .map(|s| s.id.clone())
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_tile_the_screen_and_leave_the_map_room_at_1280x720() {
        let r = regions(Vec2::new(1280.0, 720.0));
        assert_eq!(r.top.max.y, r.left.min.y);
        assert_eq!(r.left.max.x, r.map.min.x);
        assert_eq!(r.map.max.x, r.right.min.x);
        assert_eq!(r.map.max.y, r.bottom.min.y);
        assert_eq!(r.bottom.max.y, 720.0);
        assert!(
            r.map.width() >= 560.0 && r.map.height() >= 450.0,
            "{:?}",
            r.map
        );
        // A small window still leaves a map.
        let small = regions(Vec2::new(800.0, 500.0));
        assert!(small.map.width() > 150.0 && small.map.height() > 150.0);
    }
}
