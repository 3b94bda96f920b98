//! What alerts turned out to be: judged by the effect that opened them, or by the entities a
//! step involved (`crate::involvement`, the one definition) while it acted.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::action::Origin;
use crate::detector::Alert;
use crate::format::scenario::{Scenario, Step};
use crate::format::topology::Topology;
use crate::involvement::involved;
use crate::observation::{EntityRef, Millis};
use crate::record::RecordLine;

/// Seconds after a step stops acting during which its alerts still count as its own.
const ALERT_GRACE_MS: Millis = 60_000;

/// What an alert turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Truth {
    Attack,
    Decoy,
    Noise,
}

/// When a step's entities were acting, for alerts that carry no request id.
struct StepWindow {
    entities: BTreeSet<EntityRef>,
    from: Millis,
    to: Millis,
}

fn windows(steps: &[Step], scenario: &Scenario, topology: &Topology) -> Vec<StepWindow> {
    let warmup = scenario.timing.warmup_ms();
    steps
        .iter()
        .map(|s| StepWindow {
            entities: involved(&s.action, topology),
            from: warmup + u64::from(s.at_s) * 1000,
            to: warmup + u64::from(s.end_s()) * 1000 + ALERT_GRACE_MS,
        })
        .collect()
}

/// Decides what alerts were: by the effect that opened them where the alert carries its
/// request id, else by whether it names an entity a step involved while that step acted.
pub struct Judge {
    origins: BTreeMap<u64, Origin>,
    attack: Vec<StepWindow>,
    decoys: Vec<StepWindow>,
}

impl Judge {
    pub fn new(scenario: &Scenario, topology: &Topology, lines: &[RecordLine]) -> Self {
        Judge {
            origins: origins(lines),
            attack: windows(&scenario.attack, scenario, topology),
            decoys: windows(&scenario.decoys, scenario, topology),
        }
    }

    pub fn origin(&self, effect: u64) -> Option<&Origin> {
        self.origins.get(&effect)
    }

    pub fn truth(&self, alert: &Alert) -> Truth {
        if let Some(origin) = alert.trace.and_then(|t| self.origins.get(&t)) {
            return match origin {
                Origin::Attack { .. } => Truth::Attack,
                Origin::Decoy { .. } => Truth::Decoy,
                _ => Truth::Noise,
            };
        }
        let hit = |ws: &[StepWindow]| {
            ws.iter().any(|w| {
                alert.t_ms >= w.from && alert.t_ms <= w.to && w.entities.contains(&alert.entity)
            })
        };
        if hit(&self.attack) {
            Truth::Attack
        } else if hit(&self.decoys) {
            Truth::Decoy
        } else {
            Truth::Noise
        }
    }
}

fn origins(lines: &[RecordLine]) -> BTreeMap<u64, Origin> {
    lines
        .iter()
        .filter_map(|l| match l {
            RecordLine::Effect { effect, .. } => Some((effect.id, effect.origin.clone())),
            _ => None,
        })
        .collect()
}

/// Decide the truth of every alert of a record (for the debrief, mentors and tests).
pub fn alert_truths(
    scenario: &Scenario,
    topology: &Topology,
    lines: &[RecordLine],
) -> BTreeMap<u32, Truth> {
    let judge = Judge::new(scenario, topology, lines);
    lines
        .iter()
        .filter_map(|l| match l {
            RecordLine::Alert(a) => Some((a.id, judge.truth(a))),
            _ => None,
        })
        .collect()
}
