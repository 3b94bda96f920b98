//! Badges, each earned by something the trainee did: none comes from doing nothing.

use crate::format::scenario::Scenario;

use super::{Badge, Component, Facts};

pub(super) fn earned(
    components: &[Component],
    facts: &Facts,
    scenario: &Scenario,
    hints: u32,
) -> Vec<Badge> {
    let full = |key: &str| {
        components
            .iter()
            .any(|c| c.key == key && c.max > 0 && c.points as u32 == c.max)
    };
    let contained_any = facts.contained_ms.values().any(Option::is_some);
    let mut out = Vec::new();
    let mut give = |id: &str, title: &str, why: &str| {
        out.push(Badge {
            id: id.into(),
            title: title.into(),
            why: why.into(),
        })
    };
    if let Some(t) = facts.detected_ms
        && t.saturating_sub(facts.attack_start_ms)
            <= u64::from(scenario.objectives.detect_par_s) * 1000
    {
        give("sharp-eyes", "Sharp eyes", "detected the attack within par");
    }
    if full("containment") {
        give("bulkhead", "Bulkhead", "contained every step within par");
    }
    if contained_any
        && facts.benign_failures_caused == 0
        && facts.innocents_mitigated == 0
        && facts.false_escalations == 0
    {
        give(
            "surgeon",
            "Surgeon",
            "contained the attack with no collateral damage, no innocent touched and no false escalation",
        );
    }
    // Attribution a prevented attack was credited with is not a naming.
    if full("attribution") && !facts.prevented {
        give(
            "profiler",
            "Profiler",
            "named everyone involved and no one else",
        );
    }
    if facts.prevented {
        give(
            "forestalled",
            "Forestalled",
            "every attempt of the attack failed on a fix you made before it came",
        );
    }
    if hints == 0 && facts.detected_ms.is_some() && contained_any {
        give("unaided", "Unaided", "detected and contained with no hints");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use crate::action::Verdict;

    #[test]
    fn an_idle_trainee_earns_no_badge() {
        let mut r = Rec::new();
        r.benign(1000, true);
        r.benign(at_live(10), true);
        r.attack_alert(at_live(31));
        assert!(r.score().badges.is_empty(), "{:?}", r.score().badges);
    }

    #[test]
    fn a_clean_fast_response_earns_the_badges_it_deserves() {
        let mut r = Rec::new();
        let a = r.attack_alert(at_live(31));
        r.triage(at_live(35), a, Verdict::Incident);
        r.mitigate(at_live(36), block_intruder(), true);
        r.attempt("scrape", at_live(60), false, blocked());
        let ids: Vec<String> = r.score().badges.into_iter().map(|b| b.id).collect();
        assert_eq!(ids, ["sharp-eyes", "bulkhead", "surgeon", "unaided"]);
    }
}
