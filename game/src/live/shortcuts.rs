//! Keyboard shortcuts for everything frequent on the live screen. They only move the selection
//! and write intents, like the panels' buttons do, so they work (and are tested) headless.

use bevy::prelude::*;
use bulkhead_engine::{Command, EntityRef, Mitigation, Verdict};

use crate::bridge::{Intent, Playback, ReplayControl, SessionView};
use crate::live::actions::{entity_actions, request, service_actions};
use crate::live::{AlertSort, LiveUi, Pending, sorted_alerts};
use crate::screens::Screen;
use bulkhead_engine::Millis;
use bulkhead_host::replay::SPEEDS;

pub const DIGITS: [KeyCode; 9] = [
    KeyCode::Digit1,
    KeyCode::Digit2,
    KeyCode::Digit3,
    KeyCode::Digit4,
    KeyCode::Digit5,
    KeyCode::Digit6,
    KeyCode::Digit7,
    KeyCode::Digit8,
    KeyCode::Digit9,
];

/// Every shortcut, for the help overlay: (keys, what they do).
pub const SHORTCUTS: &[(&str, &str)] = &[
    ("J / Down", "next alert"),
    ("K / Up", "previous alert"),
    ("I", "triage the selected alert: incident (escalate)"),
    ("B", "triage the selected alert: benign (dismiss)"),
    ("A", "attribute the alert's main entity"),
    ("Shift+A", "attribute the alert's related entities"),
    ("G", "show the alert's service on the map"),
    ("S", "sort alerts by time / severity"),
    ("1 – 9", "select a node on the map"),
    ("X", "isolate / reconnect the selected node"),
    ("P", "pause / unpause the selected node"),
    ("C", "cap the selected node's cpu and memory"),
    ("Shift+B", "block / unblock the alert's source address"),
    ("Shift+R", "revoke the alert's account"),
    ("H", "reveal the next hint (costs points)"),
    ("Enter / Y", "confirm a disruptive action or a hint"),
    (
        "Esc / N",
        "cancel; close this help; clear the alert selection",
    ),
    ("Space", "pause / resume the session clock"),
    ("F", "fit the whole map in view"),
    ("+ / −, wheel", "zoom the map"),
    ("drag", "pan the map; click a node to select it"),
    ("/", "type in the log filter"),
    ("F1 / ?", "show or hide this help"),
    ("← / →", "replay: back / forward 10 s"),
    ("[ / ]", "replay: slower / faster"),
];

/// How far ← and → move a replay, in session time.
pub const REPLAY_STEP_MS: Millis = 10_000;

pub fn plugin(app: &mut App) {
    app.add_systems(
        Update,
        (shortcuts, replay_keys)
            .after(crate::bridge::BridgeSet)
            .run_if(in_state(Screen::Live)),
    );
}

/// A replay's keys: ← and → move it 10 s, [ and ] step through its speeds.
fn replay_keys(
    keys: Res<ButtonInput<KeyCode>>,
    playback: Res<Playback>,
    ui: Res<LiveUi>,
    mut intents: MessageWriter<Intent>,
) {
    let Some(status) = &playback.0 else {
        return;
    };
    if ui.typing {
        return;
    }
    let pressed = |k: KeyCode| keys.just_pressed(k);
    if pressed(KeyCode::ArrowLeft) {
        let t = status.now_ms.saturating_sub(REPLAY_STEP_MS);
        intents.write(Intent::Replay(ReplayControl::Seek(t)));
    }
    if pressed(KeyCode::ArrowRight) {
        let t = (status.now_ms + REPLAY_STEP_MS).min(status.end_ms);
        intents.write(Intent::Replay(ReplayControl::Seek(t)));
    }
    let at = SPEEDS.iter().position(|s| *s >= status.speed).unwrap_or(0);
    let step = if pressed(KeyCode::BracketLeft) {
        at.checked_sub(1)
    } else if pressed(KeyCode::BracketRight) {
        Some((at + 1).min(SPEEDS.len() - 1))
    } else {
        None
    };
    if let Some(i) = step {
        intents.write(Intent::Replay(ReplayControl::Speed(SPEEDS[i])));
    }
}

fn shortcuts(
    keys: Res<ButtonInput<KeyCode>>,
    view: Res<SessionView>,
    mut ui: ResMut<LiveUi>,
    mut intents: MessageWriter<Intent>,
) {
    if ui.typing {
        return;
    }
    let shift = keys.any_pressed([KeyCode::ShiftLeft, KeyCode::ShiftRight]);
    let pressed = |k: KeyCode| keys.just_pressed(k);
    if pressed(KeyCode::F1) || (shift && pressed(KeyCode::Slash)) {
        ui.help = !ui.help;
        return;
    }
    // While something waits for confirmation, only the answer counts.
    if let Some(pending) = ui.confirm.clone() {
        if pressed(KeyCode::Enter) || pressed(KeyCode::NumpadEnter) || pressed(KeyCode::KeyY) {
            ui.confirm = None;
            intents.write(pending.intent());
        } else if pressed(KeyCode::Escape) || pressed(KeyCode::KeyN) {
            ui.confirm = None;
        }
        return;
    }
    if pressed(KeyCode::Escape) {
        if ui.help {
            ui.help = false;
        } else {
            ui.selected_alert = None;
        }
        return;
    }
    if pressed(KeyCode::Space) {
        intents.write(Intent::TogglePause);
    }
    if pressed(KeyCode::Slash) {
        ui.focus_filter = true;
    }
    if pressed(KeyCode::KeyF) {
        ui.fit_map = true;
    }
    if pressed(KeyCode::KeyS) {
        ui.sort = match ui.sort {
            AlertSort::Time => AlertSort::Severity,
            AlertSort::Severity => AlertSort::Time,
        };
    }
    let (Some(snap), Some(brief)) = (&view.snapshot, &view.brief) else {
        return;
    };
    let topology = &brief.topology;

    for (i, key) in DIGITS.iter().enumerate() {
        if pressed(*key)
            && let Some(s) = topology.services.iter().filter(|s| !s.range_only).nth(i)
        {
            ui.selected_node = Some(s.id.clone());
        }
    }

    let down = pressed(KeyCode::KeyJ) || pressed(KeyCode::ArrowDown);
    let up = pressed(KeyCode::KeyK) || pressed(KeyCode::ArrowUp);
    if down || up {
        let list = sorted_alerts(snap, ui.sort);
        let at = ui
            .selected_alert
            .and_then(|id| list.iter().position(|a| a.alert.id == id));
        let next = match (at, down) {
            (None, _) => Some(0),
            (Some(i), true) => Some((i + 1).min(list.len().saturating_sub(1))),
            (Some(i), false) => Some(i.saturating_sub(1)),
        };
        if let Some(entry) = next.and_then(|i| list.get(i)) {
            ui.select_alert(entry);
        }
    }

    if pressed(KeyCode::KeyH) && snap.hints_left > 0 {
        ui.confirm = Some(Pending::Hint);
        return;
    }

    // Node actions.
    if let Some(node) = ui.selected_node.clone() {
        let cap = ui.cap_for(&node, topology);
        let status = snap.services.get(&node);
        let actions = service_actions(&node, status, cap);
        let pick = |verbs: &[&str]| actions.iter().find(|m| verbs.contains(&m.verb())).cloned();
        let chosen = if pressed(KeyCode::KeyX) {
            pick(&["isolate", "reconnect"])
        } else if pressed(KeyCode::KeyP) {
            pick(&["pause", "unpause"])
        } else if pressed(KeyCode::KeyC) {
            pick(&["cap"])
        } else {
            None
        };
        if let Some(m) = chosen {
            request(&mut ui, m, &mut intents);
        }
    }

    // Alert actions.
    let Some(entry) = ui.alert(snap).cloned() else {
        return;
    };
    let id = entry.alert.id;
    if pressed(KeyCode::KeyG)
        && let EntityRef::Service(s) = &entry.alert.entity
    {
        ui.selected_node = Some(s.clone());
    }
    if pressed(KeyCode::KeyI) {
        intents.write(Intent::Command(Command::Triage {
            alert: id.into(),
            verdict: Verdict::Incident,
        }));
    } else if pressed(KeyCode::KeyB) && !shift {
        intents.write(Intent::Command(Command::Triage {
            alert: id.into(),
            verdict: Verdict::Benign,
        }));
    }
    if pressed(KeyCode::KeyA) {
        let targets: Vec<EntityRef> = if shift {
            entry.alert.related.clone()
        } else {
            vec![entry.alert.entity.clone()]
        };
        for entity in targets {
            if !snap.attributed.contains(&entity) {
                intents.write(Intent::Command(Command::Attribute { entity }));
            }
        }
    }
    if shift && (pressed(KeyCode::KeyB) || pressed(KeyCode::KeyR)) {
        let want: &[&str] = if pressed(KeyCode::KeyB) {
            &["block", "unblock"]
        } else {
            &["revoke"]
        };
        if let Some(m) = entity_actions(&entry, snap)
            .into_iter()
            .find(|m: &Mitigation| want.contains(&m.verb()))
        {
            request(&mut ui, m, &mut intents);
        }
    }
}
