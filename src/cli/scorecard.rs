//! Printing a score card: as text for people, as one JSON object for programs.

use std::fmt::Write;

use bulkhead_engine::format::scenario::Scenario;
use bulkhead_engine::score::RefusedCommand;
use bulkhead_engine::{Backend, LabTimings, ScoreCard};

/// The card as one JSON object, with the seed, the backend and, for a session just played on a
/// real lab, how long the lab took (`lab`: `image_s`, `up_s`, `ready_s`, `down_s`).
pub fn json(card: &ScoreCard, seed: u64, backend: Backend, lab: Option<&LabTimings>) -> String {
    let mut value = serde_json::to_value(card).unwrap_or_default();
    if let Some(obj) = value.as_object_mut() {
        obj.insert("seed".into(), seed.into());
        obj.insert(
            "backend".into(),
            serde_json::to_value(backend).unwrap_or_default(),
        );
        if let Some(lab) = lab.filter(|lab| !lab.is_empty()) {
            obj.insert("lab".into(), serde_json::to_value(lab).unwrap_or_default());
        }
    }
    value.to_string()
}

pub fn text(card: &ScoreCard, scenario: &Scenario, seed: u64, backend: Backend) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} ({}) on the {}, seed {seed}",
        scenario.title,
        scenario.id,
        backend.title()
    );
    let _ = writeln!(
        out,
        "Score {} / {}   grade {}",
        card.total, card.max, card.grade
    );
    if let Some(why) = &card.partial {
        let _ = writeln!(
            out,
            "  PARTIAL: the session ended before its time ({why}); the score covers what was played"
        );
    }
    for c in &card.components {
        if c.max > 0 {
            let _ = writeln!(out, "  {:<16} {:>4} / {}", c.title, c.points, c.max);
        } else {
            let _ = writeln!(out, "  {:<16} {:>4}", c.title, c.points);
        }
        for l in &c.lines {
            let _ = writeln!(out, "      {:>+5}  {}", l.points, l.text);
        }
    }
    if !card.badges.is_empty() {
        let names: Vec<String> = card
            .badges
            .iter()
            .map(|b| format!("{} ({})", b.title, b.why))
            .collect();
        let _ = writeln!(out, "Badges: {}", names.join("; "));
    }
    if !card.refused.is_empty() {
        let _ = writeln!(out, "Refused commands ({}):", card.refused.len());
        for r in &card.refused {
            let _ = writeln!(out, "  {}", refusal(r, scenario));
        }
    }
    if !card.faults.is_empty() {
        let _ = writeln!(out, "Faults of the range ({}):", card.faults.len());
        for f in &card.faults {
            let _ = writeln!(
                out,
                "  at live {:.1} s: {}",
                live_s(f.t_ms, scenario),
                f.text
            );
        }
    }
    out
}

/// Seconds into the live phase (negative in the warm-up).
fn live_s(t_ms: bulkhead_engine::Millis, scenario: &Scenario) -> f64 {
    (t_ms as f64 - scenario.live_start_ms() as f64) / 1000.0
}

/// One refused command, timed in the live phase as a defender file writes it.
pub fn refusal(r: &RefusedCommand, scenario: &Scenario) -> String {
    let live_s = live_s(r.t_ms, scenario);
    format!("at live {live_s:.1} s: {}: {}", r.command, r.why)
}
