//! Impact: how much of the attack got through. Attacker actions earn points only when they
//! failed because of a mitigation of the trainee's (an action the application refused anyway
//! is not the trainee's doing); records exfiltrated are counted against the records at risk,
//! and never shown as more than were at risk; records the attacker never reached for earn nothing.

use crate::action::Action;
use crate::format::scenario::Scenario;
use crate::format::topology::Topology;

use super::history::History;
use super::{Facts, IMPACT, ScoreLine, line};
use crate::involvement::step_path;

/// Seconds after a mitigation during which the attacker's attempts in flight may still land.
const IN_FLIGHT_MS: u64 = 5_000;

pub(super) fn score(
    h: &History,
    scenario: &Scenario,
    topology: &Topology,
    facts: &mut Facts,
) -> Vec<ScoreLine> {
    let first_mitigation = h
        .mitigations
        .iter()
        .filter(|m| m.took_effect() && !m.mitigation.is_undo())
        .map(|m| m.t_ms)
        .min();
    let mut records_read = 0u64;
    let mut data_attempts = 0u32;
    for (step, attempts) in &h.attempts {
        let on_path = scenario
            .step(step)
            .map(|s| step_path(s, topology))
            .unwrap_or_default();
        if scenario
            .step(step)
            .is_some_and(|s| matches!(s.action, Action::ReadData { .. }))
        {
            data_attempts += attempts.len() as u32;
        }
        for a in attempts {
            facts.attack_attempts += 1;
            if a.ok {
                facts.attack_successes += 1;
                records_read += a.records;
                if first_mitigation.is_some_and(|t| a.t_ms > t + IN_FLIGHT_MS) {
                    facts.successes_after_first_mitigation += 1;
                }
            } else if h.credited(a, &on_path).is_some() {
                facts.attack_failures_caused += 1;
            }
        }
    }
    let at_risk = u64::from(scenario.objectives.records_at_risk);
    facts.records_at_risk = at_risk;
    facts.records_lost = records_read.min(at_risk);

    let action_share = if at_risk > 0 {
        IMPACT * 2.0 / 3.0
    } else {
        IMPACT
    };
    let stopped = if facts.attack_attempts == 0 {
        0.0
    } else {
        f64::from(facts.attack_failures_caused) / f64::from(facts.attack_attempts)
    };
    let mut lines = vec![line(
        action_share * stopped,
        format!(
            "{} of {} attacker actions failed because of your mitigations ({} failed in all)",
            facts.attack_failures_caused,
            facts.attack_attempts,
            facts.attack_attempts - facts.attack_successes
        ),
    )];
    if at_risk > 0 && data_attempts == 0 {
        // A session ended before the attacker reached for the data protected nothing.
        lines.push(line(
            0.0,
            format!("the {at_risk} records at risk were never reached for: nothing to protect yet"),
        ));
    } else if at_risk > 0 {
        let lost = facts.records_lost as f64 / at_risk as f64;
        let mut text = format!(
            "{} of {at_risk} records at risk were exfiltrated",
            facts.records_lost
        );
        if records_read > at_risk {
            text.push_str(&format!(
                " (all of them: the attacker read {records_read} in all, some more than once)"
            ));
        }
        lines.push(line((IMPACT - action_share) * (1.0 - lost), text));
    }
    if facts.successes_after_first_mitigation > 0 {
        lines.push(line(
            0.0,
            format!(
                "{} attacker actions still succeeded after your first mitigation",
                facts.successes_after_first_mitigation
            ),
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use crate::action::Cause;

    #[test]
    fn an_idle_trainee_earns_nothing_for_failures_the_application_caused() {
        let mut r = Rec::new();
        r.attempt("recon", at_live(45), false, Some(Cause::Refused));
        r.attempt("scrape", at_live(60), true, None);
        let card = r.score();
        assert_eq!(card.facts.attack_failures_caused, 0);
        // 250 of 10000 records lost: the records line keeps 97.5 % of its 50 points.
        assert_eq!(points(&card, "impact"), 49, "{}", text(&card, "impact"));
    }

    #[test]
    fn failures_the_trainee_caused_earn_their_share() {
        let mut r = Rec::new();
        r.mitigate(at_live(50), block_intruder(), true);
        r.attempt("scrape", at_live(60), false, blocked());
        r.attempt("scrape", at_live(70), false, blocked());
        let card = r.score();
        assert_eq!(card.facts.attack_failures_caused, 2);
        assert_eq!(points(&card, "impact"), 150);
    }

    #[test]
    fn records_never_reached_for_earn_nothing() {
        // A session finished before the scrape began: the records were never at stake.
        let mut r = Rec::new();
        r.attempt("recon", at_live(45), false, Some(Cause::Refused));
        let card = r.score();
        assert_eq!(points(&card, "impact"), 0, "{}", text(&card, "impact"));
        assert!(text(&card, "impact").contains("never reached for"));
    }

    #[test]
    fn records_lost_never_exceed_the_records_at_risk() {
        let mut r = Rec::new();
        for i in 0..42 {
            r.attempt("scrape", at_live(60 + i * 10), true, None);
        }
        let card = r.score();
        assert_eq!(card.facts.records_lost, 10_000);
        let t = text(&card, "impact");
        assert!(t.contains("10000 of 10000 records"), "{t}");
        assert!(t.contains("read 10500 in all"), "{t}");
        assert_eq!(points(&card, "impact"), 0);
    }
}
