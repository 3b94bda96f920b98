//! Precision: earned by triage, never given. Its 100 points are shared out over the alerts of
//! the live phase; an alert earns its share when the verdict that stands at the end is right
//! (incident for the attack, benign for decoys and noise), nothing when left untriaged, and a
//! wrong standing verdict costs on top. Restricting an entity the attack did not involve (its
//! steps and those of any inject a mentor fired) costs 40 per entity.

use std::collections::BTreeSet;

use crate::action::Verdict;
use crate::format::scenario::Scenario;
use crate::format::topology::Topology;

use super::history::History;
use super::involved::Truth;
use super::{Facts, PRECISION, ScoreLine, line};
use crate::involvement::involved_in_attack_with;

const DISMISSED_ATTACK: f64 = -30.0;
const ESCALATED_DECOY: f64 = -25.0;
const ESCALATED_NOISE: f64 = -15.0;
const INNOCENT_MITIGATED: f64 = -40.0;

pub(super) fn score(
    h: &History,
    scenario: &Scenario,
    topology: &Topology,
    facts: &mut Facts,
) -> Vec<ScoreLine> {
    let live: Vec<_> = h.live_alerts().collect();
    for (_, (_, truth)) in &live {
        if *truth == Truth::Attack {
            facts.true_alerts += 1;
        } else {
            facts.false_alerts += 1;
        }
    }
    let mut lines = Vec::new();
    if live.is_empty() {
        lines.push(line(0.0, "no alert was raised: nothing to triage"));
    }
    let share = PRECISION / live.len().max(1) as f64;
    let (mut right, mut untriaged) = (0u32, 0u32);
    for (id, (alert, truth)) in &live {
        let Some((_, verdict)) = h.standing(**id) else {
            untriaged += 1;
            continue;
        };
        facts.alerts_triaged += 1;
        let title = &alert.title;
        match (verdict, truth) {
            (Verdict::Incident, Truth::Attack) | (Verdict::Benign, Truth::Decoy | Truth::Noise) => {
                right += 1
            }
            (Verdict::Benign, Truth::Attack) => lines.push(line(
                DISMISSED_ATTACK,
                format!("dismissed alert #{id} ({title}), which was the attack"),
            )),
            (Verdict::Incident, Truth::Decoy) => {
                facts.false_escalations += 1;
                lines.push(line(
                    ESCALATED_DECOY,
                    format!("escalated alert #{id} ({title}), a benign decoy"),
                ))
            }
            (Verdict::Incident, Truth::Noise) => {
                facts.false_escalations += 1;
                lines.push(line(
                    ESCALATED_NOISE,
                    format!("escalated alert #{id} ({title}), ordinary noise"),
                ))
            }
        }
    }
    if !live.is_empty() {
        lines.insert(
            0,
            line(
                share * f64::from(right),
                format!(
                    "{right} of {} alerts triaged right ({untriaged} left untriaged earn nothing); the verdict that stands at the end counts",
                    live.len()
                ),
            ),
        );
    }
    let involved = involved_in_attack_with(scenario, topology, &h.fired);
    let mut seen = BTreeSet::new();
    for m in &h.mitigations {
        let target = m.mitigation.target();
        if m.mitigation.accuses() && !involved.contains(&target) && seen.insert(target.clone()) {
            facts.innocents_mitigated += 1;
            lines.push(line(
                INNOCENT_MITIGATED,
                format!(
                    "{}: {target} was not involved in the attack",
                    m.mitigation.summary()
                ),
            ));
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use crate::action::{Mitigation, Verdict};

    #[test]
    fn untriaged_alerts_earn_nothing() {
        let mut r = Rec::new();
        r.attack_alert(at_live(31));
        r.decoy_alert(at_live(91));
        let card = r.score();
        assert_eq!(
            points(&card, "precision"),
            0,
            "{}",
            text(&card, "precision")
        );
        assert!(text(&card, "precision").contains("2 left untriaged"));
    }

    #[test]
    fn each_right_verdict_earns_its_share() {
        let mut r = Rec::new();
        let a = r.attack_alert(at_live(31));
        let d = r.decoy_alert(at_live(91));
        r.noise_alert(at_live(120));
        let n2 = r.noise_alert(at_live(130));
        r.triage(at_live(35), a, Verdict::Incident);
        r.triage(at_live(95), d, Verdict::Benign);
        assert_eq!(points(&r.score(), "precision"), 50);
        r.triage(at_live(135), n2, Verdict::Benign);
        assert_eq!(points(&r.score(), "precision"), 75);
    }

    #[test]
    fn the_standing_verdict_counts_both_ways() {
        let mut r = Rec::new();
        let a = r.attack_alert(at_live(31));
        r.triage(at_live(35), a, Verdict::Benign);
        assert_eq!(points(&r.score(), "precision"), 0);
        assert!(text(&r.score(), "precision").contains("which was the attack"));
        r.triage(at_live(40), a, Verdict::Incident);
        assert_eq!(points(&r.score(), "precision"), 100);
        r.triage(at_live(45), a, Verdict::Benign);
        assert_eq!(points(&r.score(), "precision"), 0);
    }

    #[test]
    fn false_escalations_and_innocents_cost() {
        let mut r = Rec::new();
        let a = r.attack_alert(at_live(31));
        let d = r.decoy_alert(at_live(91));
        r.triage(at_live(35), a, Verdict::Incident);
        r.triage(at_live(95), d, Verdict::Incident);
        // 50 for the attack, -25 for the decoy.
        assert_eq!(points(&r.score(), "precision"), 25);
        r.mitigate(
            at_live(96),
            Mitigation::Revoke {
                identity: "carol".into(),
            },
            true,
        );
        let card = r.score();
        assert_eq!(points(&card, "precision"), 0);
        assert_eq!(card.facts.innocents_mitigated, 1);
        assert_eq!(card.facts.false_escalations, 1);
    }
}
