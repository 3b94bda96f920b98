//! What alerts turned out to be: judged by the effect that opened them, or by the entities a
//! step involved (`crate::involvement`, the one definition) while it acted. The steps of an
//! inject a mentor fired act from the moment it was fired, as the record says.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::action::Origin;
use crate::detector::Alert;
use crate::format::scenario::{Scenario, Step};
use crate::format::topology::Topology;
use crate::involvement::involved;
use crate::observation::{EntityRef, Millis};
use crate::record::{MentorAct, RecordLine};

/// Seconds after a step stops acting during which its alerts still count as its own.
pub const ALERT_GRACE_MS: Millis = 60_000;

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

/// When each step acted, timed from `base_ms` (the start of the live phase, or the firing of
/// its inject).
fn windows<'a>(
    steps: &'a [Step],
    base_ms: Millis,
    topology: &'a Topology,
) -> impl Iterator<Item = StepWindow> + 'a {
    steps.iter().map(move |s| StepWindow {
        entities: involved(&s.action, topology),
        from: base_ms.saturating_add(u64::from(s.at_s) * 1000),
        to: base_ms
            .saturating_add(u64::from(s.end_s()) * 1000)
            .saturating_add(ALERT_GRACE_MS),
    })
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
        let warmup = scenario.live_start_ms();
        let mut attack: Vec<StepWindow> = windows(&scenario.attack, warmup, topology).collect();
        let mut decoys: Vec<StepWindow> = windows(&scenario.decoys, warmup, topology).collect();
        for (id, t_ms) in fired(lines) {
            if let Some(inject) = scenario.inject(id) {
                attack.extend(windows(&inject.attack, t_ms, topology));
                decoys.extend(windows(&inject.decoys, t_ms, topology));
            }
        }
        Judge {
            origins: origins(lines),
            attack,
            decoys,
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

/// When each inject was first fired.
fn fired(lines: &[RecordLine]) -> BTreeMap<&str, Millis> {
    let mut fired = BTreeMap::new();
    for l in lines {
        if let RecordLine::Mentor {
            t_ms,
            act: MentorAct::Inject { id },
            ..
        } = l
        {
            fired.entry(id.as_str()).or_insert(*t_ms);
        }
    }
    fired
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
