//! Collateral: the care of a response that worked. What counts is the benign traffic the
//! trainee's own mitigations broke (each failed benign attempt says why; a failure a confirmed
//! mitigation explains is collateral), as a share of the live phase's benign attempts: 20 % of
//! them broken costs everything. What the attack itself broke (a flood's 503s) is its impact,
//! not the trainee's collateral. The points are earned in proportion to the objective steps
//! contained: doing nothing risks nothing, and earns nothing either.

use crate::format::scenario::Scenario;

use super::history::History;
use super::{COLLATERAL, Facts, ScoreLine, line};

/// Breaking this share of the live phase's benign attempts costs all collateral points.
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
    facts.benign_failures_caused = h
        .benign_failures
        .iter()
        .filter(|a| h.caused_by_trainee(a).is_some())
        .count() as u32;
    let live_attempts = h.benign[1].1.max(1);
    let broken = f64::from(facts.benign_failures_caused) / f64::from(live_attempts);
    let care = (1.0 - broken / COLLATERAL_SPAN).max(0.0);
    let goals = scenario.objectives.contain.len();
    let contained = facts.contained_ms.values().filter(|c| c.is_some()).count();
    let worked = if goals == 0 {
        f64::from(u8::from(facts.detected_ms.is_some()))
    } else {
        contained as f64 / goals as f64
    };
    vec![
        line(
            COLLATERAL * care * worked,
            format!(
                "your mitigations broke {} of {} benign attempts live (care {:.0}%), earned on the {contained} of {goals} steps you contained",
                facts.benign_failures_caused,
                h.benign[1].1,
                care * 100.0
            ),
        ),
        line(
            0.0,
            format!(
                "benign success {:.1}% live against {:.1}% in the warm-up (what the attack broke counts under impact)",
                facts.benign_success_live * 100.0,
                facts.benign_success_warmup * 100.0
            ),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use crate::action::Cause;

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
        // The trainee's block breaks 1 of the 11 live benign attempts (9 % of them, 45 % of
        // the span): 55 % of the points are left. The overload is the attack's doing.
        for i in 0..10 {
            let cause = (i == 0).then(blocked);
            r.benign_with(at_live(70) + i, i != 0, cause.flatten());
        }
        r.benign_with(
            at_live(80),
            false,
            Some(Cause::Overloaded {
                service: "web".into(),
            }),
        );
        let card = r.score();
        assert_eq!(
            points(&card, "collateral"),
            82,
            "{}",
            text(&card, "collateral")
        );
        assert_eq!(card.facts.benign_failures_caused, 1);
    }
}
