//! Time to detect: from the first attack step to the escalation of a true alert. One rule for
//! verdicts, shared with precision: the verdict that stands at the end counts, and detection is
//! timed from when that standing escalation was made (flipping an alert back and forth does not
//! keep an early time). An attack the trainee's fixes prevented raised no alert to escalate,
//! and earns the whole of it (see `prevention`).

use crate::action::Verdict;
use crate::format::scenario::Scenario;

use super::history::History;
use super::involved::Truth;
use super::prevention::Prevented;
use super::{DETECTION, Facts, ScoreLine, line, secs, timed};

pub(super) fn score(
    h: &History,
    scenario: &Scenario,
    prevented: Option<&Prevented>,
    facts: &mut Facts,
) -> Vec<ScoreLine> {
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
        return vec![match prevented {
            Some(p) => line(DETECTION, format!("nothing to detect: {}", p.why())),
            None => line(0.0, not_detected(h)),
        }];
    };
    facts.detected_ms = Some(t);
    // Evidence that reached the trainee late could not be escalated sooner: that wait is the
    // telemetry's, not theirs.
    let late = (h.alerts.get(&id)).and_then(|(alert, _)| alert.late_ms);
    facts.detection_late_ms = late;
    let took = t
        .saturating_sub(h.attack_start_ms)
        .saturating_sub(late.unwrap_or(0));
    let mut text = format!(
        "escalated alert #{id} {} after the attack began (par {par} s)",
        secs(took)
    );
    if let Some(late) = late {
        text.push_str(&format!(
            "; its evidence reached you {} late (telemetry lagged), so it is timed from when \
             you could see it",
            secs(late)
        ));
    }
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
    fn late_evidence_is_timed_from_when_the_trainee_could_see_it() {
        // Escalated at three times par, of which twice par was the telemetry's delay.
        let play = |late: Option<u64>| {
            let mut r = Rec::new();
            let par_ms = u64::from(r.scenario.objectives.detect_par_s) * 1000;
            let a = r.attack_alert(at_live(10));
            if let Some(late) = late {
                r.alert_late(a, late * par_ms);
            }
            r.triage(at_live(10) + 3 * par_ms, a, Verdict::Incident);
            (r.score(), par_ms)
        };
        let (on_time, _) = play(None);
        let (card, par_ms) = play(Some(2));
        assert!(points(&card, "detection") > points(&on_time, "detection"));
        assert_eq!(card.facts.detection_late_ms, Some(2 * par_ms));
        let line = &card.component("detection").unwrap().lines[0].text;
        let said = format!("reached you {} s late", 2 * par_ms / 1000);
        assert!(line.contains(&said), "{line}");
        assert_eq!(on_time.facts.detection_late_ms, None);
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
