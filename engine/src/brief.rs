//! What a trainee may know of a scenario: the briefing and context, the objectives' par times,
//! hint costs and the company's side of the topology. Defenders (the bot, scripts, the game)
//! are handed this and never the `Scenario`, so the compiler keeps the attack timeline, the
//! decoys and the answers (who to attribute) away from them.

use serde::{Deserialize, Serialize};

use crate::format::scenario::{
    Containment, Context, Difficulty, Hardening, Lesson, Scenario, Timing,
};
use crate::format::topology::Topology;

/// The objectives as the briefing states them: par times, how many entities to name (not
/// which), and the records at risk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BriefObjectives {
    pub detect_par_s: u32,
    pub contain: Vec<Containment>,
    pub attribute_count: usize,
    pub records_at_risk: u32,
}

/// A scenario as the trainee sees it before and during the live phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraineeBrief {
    pub id: String,
    pub title: String,
    pub difficulty: Difficulty,
    pub lessons: Vec<Lesson>,
    pub briefing: String,
    pub context: Context,
    pub timing: Timing,
    /// The hardening phase's budget and the risks the business accepted, with why: context a
    /// reviewer would be given, not ground truth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardening: Option<Hardening>,
    pub objectives: BriefObjectives,
    /// The cost of each hint, in order; a hint's text is shown once paid for.
    pub hint_costs: Vec<u32>,
    /// The company's network: the range's own machinery (benign traffic, the attacker) left out.
    pub topology: Topology,
}

impl TraineeBrief {
    pub fn of(scenario: &Scenario, topology: &Topology) -> TraineeBrief {
        let o = &scenario.objectives;
        TraineeBrief {
            id: scenario.id.clone(),
            title: scenario.title.clone(),
            difficulty: scenario.difficulty,
            lessons: scenario.lessons.clone(),
            briefing: scenario.briefing.clone(),
            context: scenario.context.clone(),
            timing: scenario.timing,
            hardening: scenario.hardening.clone(),
            objectives: BriefObjectives {
                detect_par_s: o.detect_par_s,
                contain: o.contain.clone(),
                attribute_count: o.attribute.len(),
                records_at_risk: o.records_at_risk,
            },
            hint_costs: scenario.hints.iter().map(|h| h.cost).collect(),
            topology: company_side(topology),
        }
    }

    /// Seconds since the live phase began (negative before it).
    pub fn live_s(&self, t_ms: u64) -> f64 {
        (t_ms as f64 - self.live_start_ms() as f64) / 1000.0
    }

    /// Session time the warm-up starts at (after any hardening phase).
    pub fn warmup_start_ms(&self) -> u64 {
        Hardening::ms(self.hardening.as_ref())
    }

    /// Session time the live phase starts at.
    pub fn live_start_ms(&self) -> u64 {
        self.timing.live_start_ms(self.hardening.as_ref())
    }
}

/// The topology without the range's machinery: what the company's own inventory would list.
pub fn company_side(topology: &Topology) -> Topology {
    let mut company = topology.clone();
    company.services.retain(|s| !s.range_only);
    company
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_brief_holds_no_attack_step_and_no_range_machinery() {
        let written: Scenario =
            ron::from_str(include_str!("../../scenarios/stolen-credentials.ron")).unwrap();
        let topology: Topology =
            ron::from_str(include_str!("../../labs/topologies/company.ron")).unwrap();
        // Each seed briefs its own variant: none may give its intruder away.
        let mut intruders = std::collections::BTreeSet::new();
        for seed in 0..12 {
            let scenario = crate::format::variants::resolve(&written, seed).unwrap();
            let brief = TraineeBrief::of(&scenario, &topology);
            let json = serde_json::to_string(&brief).unwrap();
            let injected = scenario
                .injects
                .iter()
                .flat_map(|i| i.steps().map(|(s, _)| s));
            for step in scenario
                .attack
                .iter()
                .chain(&scenario.decoys)
                .chain(injected)
            {
                assert!(!json.contains(&step.narrative), "{} leaks", step.id);
            }
            assert!(!scenario.injects.is_empty(), "the test covers injects");
            for inject in &scenario.injects {
                assert!(!json.contains(&inject.description), "{} leaks", inject.id);
            }
            for entity in &scenario.objectives.attribute {
                if let crate::observation::EntityRef::Source(source) = entity {
                    assert!(
                        !json.contains(source.as_str()),
                        "{source} leaks (seed {seed})"
                    );
                    intruders.insert(source.clone());
                }
            }
            assert!(!json.contains(&scenario.debrief));
            assert!(brief.topology.services.iter().all(|s| !s.range_only));
            assert_eq!(brief.objectives.attribute_count, 2);
        }
        assert!(
            intruders.len() > 1,
            "the seeds drew one intruder: {intruders:?}"
        );
    }
}
