//! Time to detect: from the first attack step to the escalation of a true alert. One rule for
//! verdicts, shared with precision: the verdict that stands at the end counts, and detection is
//! timed from when that standing escalation was made (flipping an alert back and forth does not
//! keep an early time).

use crate::action::Verdict;
use crate::format::scenario::Scenario;

use super::history::History;
use super::involved::Truth;
use super::{DETECTION, Facts, ScoreLine, line, secs, timed};

pub(super) fn score(h: &History, scenario: &Scenario, facts: &mut Facts) -> Vec<ScoreLine> {
    let par = scenario.objectives.detect_par_s;
    let detected = h
        .alerts
        .iter()
        .filter(|(_, (_, truth))| *truth == Truth::Attack)
        .filter_map(|(id, _)| match h.standing(*id) {
            Some((t, Verdict::Incident)) => Some((t, *id)),
            _ => None,
        })
        .min();
    let Some((t, id)) = detected else {
        return vec![line(0.0, not_detected(h))];
    };
    facts.detected_ms = Some(t);
    let took = t.saturating_sub(h.attack_start_ms);
    let mut text = format!(
        "escalated alert #{id} {} after the attack began (par {par} s)",
        secs(took)
    );
    if h.verdicts.get(&id).is_some_and(|v| v.len() > 1) {
        text.push_str("; timed from the escalation that stands, not an earlier one taken back");
    }
    vec![line(timed(DETECTION, took, par), text)]
}

fn not_detected(h: &History) -> String {
    let dismissed: Vec<String> = h
        .alerts
        .iter()
        .filter(|(id, (_, truth))| {
            *truth == Truth::Attack && matches!(h.standing(**id), Some((_, Verdict::Benign)))
        })
        .map(|(id, _)| format!("#{id}"))
        .collect();
    if dismissed.is_empty() {
        "no alert of the attack stands escalated".to_string()
    } else {
        format!(
            "alerts of the attack stand dismissed as benign ({})",
            dismissed.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use crate::action::Verdict;

    #[test]
    fn an_escalation_of_the_attack_at_par_earns_everything() {
        let mut r = Rec::new();
        let a = r.attack_alert(at_live(10));
        r.triage(at_live(30), a, Verdict::Incident);
        let card = r.score();
        assert_eq!(points(&card, "detection"), 250);
        assert_eq!(card.facts.detected_ms, Some(at_live(30)));
    }

    #[test]
    fn escalating_then_dismissing_the_attack_is_not_a_detection() {
        let mut r = Rec::new();
        let a = r.attack_alert(at_live(10));
        r.triage(at_live(20), a, Verdict::Incident);
        r.triage(at_live(25), a, Verdict::Benign);
        let card = r.score();
        assert_eq!(points(&card, "detection"), 0);
        assert_eq!(card.facts.detected_ms, None);
        assert!(text(&card, "detection").contains("dismissed"));
    }

    #[test]
    fn dismissing_then_escalating_counts_from_the_standing_escalation() {
        let mut r = Rec::new();
        let a = r.attack_alert(at_live(10));
        r.triage(at_live(20), a, Verdict::Benign);
        // The attack starts at live 35 s and par is 45 s: 135 s after it is 3x par, so a third
        // of the points is left.
        r.triage(at_live(170), a, Verdict::Incident);
        let card = r.score();
        assert_eq!(card.facts.detected_ms, Some(at_live(170)));
        assert_eq!(points(&card, "detection"), 83);
    }

    #[test]
    fn escalating_a_decoy_is_not_a_detection() {
        let mut r = Rec::new();
        let d = r.decoy_alert(at_live(10));
        r.triage(at_live(20), d, Verdict::Incident);
        assert_eq!(points(&r.score(), "detection"), 0);
    }
}
