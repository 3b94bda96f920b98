//! Collateral: the care of a response that worked. Benign success in the live phase is weighed
//! against the warm-up's (a drop of 20 points costs everything), and the points are earned in
//! proportion to the objective steps the trainee contained: doing nothing risks nothing, and
//! earns nothing either.

use crate::format::scenario::Scenario;

use super::history::History;
use super::{COLLATERAL, Facts, ScoreLine, line};

/// A drop of this much in the benign success rate costs all collateral points.
const COLLATERAL_SPAN: f64 = 0.20;

fn rate((ok, n): (u32, u32)) -> f64 {
    if n == 0 {
        1.0
    } else {
        f64::from(ok) / f64::from(n)
    }
}

/// Needs `facts.contained_ms` (containment scores first).
pub(super) fn score(h: &History, scenario: &Scenario, facts: &mut Facts) -> Vec<ScoreLine> {
    facts.benign_success_warmup = rate(h.benign[0]);
    facts.benign_success_live = rate(h.benign[1]);
    let drop = (facts.benign_success_warmup - facts.benign_success_live).max(0.0);
    let care = (1.0 - drop / COLLATERAL_SPAN).max(0.0);
    let goals = scenario.objectives.contain.len();
    let contained = facts.contained_ms.values().filter(|c| c.is_some()).count();
    let worked = if goals == 0 {
        f64::from(u8::from(facts.detected_ms.is_some()))
    } else {
        contained as f64 / goals as f64
    };
    vec![line(
        COLLATERAL * care * worked,
        format!(
            "benign success {:.1}% live against {:.1}% in the warm-up (care {:.0}%), earned on the {contained} of {goals} steps you contained",
            facts.benign_success_live * 100.0,
            facts.benign_success_warmup * 100.0,
            care * 100.0
        ),
    )]
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;

    #[test]
    fn doing_nothing_earns_no_collateral_points() {
        let mut r = Rec::new();
        r.benign(1000, true);
        r.benign(at_live(20), true);
        let card = r.score();
        assert_eq!(
            points(&card, "collateral"),
            0,
            "{}",
            text(&card, "collateral")
        );
    }

    #[test]
    fn a_careful_response_that_contained_everything_earns_everything() {
        let mut r = Rec::new();
        r.benign(1000, true);
        r.mitigate(at_live(50), block_intruder(), true);
        r.attempt("scrape", at_live(60), false, blocked());
        r.benign(at_live(70), true);
        assert_eq!(points(&r.score(), "collateral"), 150);
    }

    #[test]
    fn breaking_benign_traffic_costs_in_proportion() {
        let mut r = Rec::new();
        for i in 0..10 {
            r.benign(1000 + i, true);
        }
        r.mitigate(at_live(50), block_intruder(), true);
        r.attempt("scrape", at_live(60), false, blocked());
        // 90 % live against 100 %: half of the 20-point span.
        for i in 0..10 {
            r.benign(at_live(70) + i, i != 0);
        }
        assert_eq!(points(&r.score(), "collateral"), 75);
    }
}
