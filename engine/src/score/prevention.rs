//! Prevention: an attack that never got through. When the attack made attempts and every one
//! failed on a fix the trainee had made before it tried, nothing of it reached the lab: there
//! was no alert to escalate and no one to name. Detection and attribution are then credited in
//! full, with a line saying why: scoring them 0 would rank the best defence, removing what the
//! attack needed before it came, below a late detection of the same attack.

use std::collections::BTreeSet;

use crate::action::Cause;

use super::history::History;

/// What the card says of a prevented attack.
#[derive(Debug, PartialEq)]
pub(super) struct Prevented {
    /// The attack's attempts, every one of which failed on a fix.
    pub attempts: usize,
    /// The fixes they failed on, as the card names mitigations.
    pub fixes: Vec<String>,
}

impl Prevented {
    /// "every one of the attack's 14 attempts failed on your fix (fix tenant-b: …)".
    pub fn why(&self) -> String {
        let fixes = if self.fixes.len() == 1 {
            "your fix"
        } else {
            "your fixes"
        };
        format!(
            "every one of the attack's {} attempts failed on {fixes} ({}) before it reached the lab",
            self.attempts,
            self.fixes.join("; ")
        )
    }
}

/// Whether the attack, so far, was prevented: it made at least one attempt, and each failed
/// because a weakness it needs was gone, removed by a confirmed fix of the trainee's made no
/// later than the attempt. Any attempt that succeeded, or failed for another reason (a block,
/// the lab's own refusal), means the attack did reach the lab, and is scored as such.
pub(super) fn prevented(h: &History) -> Option<Prevented> {
    let mut attempts = 0;
    let mut fixes = BTreeSet::new();
    for attempt in h.attempts.values().flatten() {
        if attempt.ok || !matches!(attempt.cause, Some(Cause::Fixed { .. })) {
            return None;
        }
        fixes.insert(h.caused_by_trainee(attempt)?.mitigation.summary());
        attempts += 1;
    }
    (attempts > 0).then(|| Prevented {
        attempts,
        fixes: fixes.into_iter().collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use crate::action::{Cause, Mitigation, Verdict};
    use crate::observation::EntityRef;
    use crate::posture::WeaknessKind;

    fn fix_web_secret() -> Mitigation {
        Mitigation::Fix {
            service: "web".into(),
            weakness: WeaknessKind::SecretInEnv,
        }
    }

    fn fixed() -> Option<Cause> {
        Some(Cause::Fixed {
            service: "web".into(),
            weakness: WeaknessKind::SecretInEnv,
        })
    }

    /// A record where the fix came in the warm-up and every step's attempts failed on it.
    fn prevented_record() -> Rec {
        let mut r = Rec::new();
        r.mitigate(1000, fix_web_secret(), true);
        for (step, s) in [("login", 35), ("recon", 40), ("scrape", 50), ("scrape", 60)] {
            r.attempt(step, at_live(s), false, fixed());
        }
        r
    }

    #[test]
    fn an_attack_that_failed_only_on_fixes_earns_detection_and_attribution_in_full() {
        let card = prevented_record().score();
        assert_eq!(
            points(&card, "detection"),
            250,
            "{}",
            text(&card, "detection")
        );
        assert_eq!(points(&card, "attribution"), 100);
        let why = text(&card, "detection");
        assert!(
            why.contains("every one of the attack's 4 attempts failed on your fix (fix web:"),
            "{why}"
        );
        assert!(text(&card, "attribution").contains("nothing reached the lab to name"));
        assert!(card.facts.prevented);
        assert_eq!(card.facts.detected_ms, None);
        let ids: Vec<String> = card.badges.iter().map(|b| b.id.clone()).collect();
        assert!(ids.contains(&"forestalled".to_string()), "{ids:?}");
        assert!(!ids.contains(&"profiler".to_string()), "{ids:?}");
    }

    #[test]
    fn naming_an_innocent_still_costs_when_the_attack_was_prevented() {
        let mut r = prevented_record();
        r.attribute(at_live(70), EntityRef::Identity("carol".into()));
        assert_eq!(points(&r.score(), "attribution"), 75);
    }

    #[test]
    fn one_attempt_that_got_through_or_failed_otherwise_means_no_prevention() {
        let mut through = prevented_record();
        through.attempt("persist", at_live(70), true, None);
        let mut blocked_instead = prevented_record();
        blocked_instead.attempt("persist", at_live(70), false, blocked());
        for r in [through, blocked_instead] {
            let card = r.score();
            assert!(!card.facts.prevented);
            assert_eq!(points(&card, "detection"), 0);
            assert_eq!(points(&card, "attribution"), 0);
        }
    }

    #[test]
    fn a_failure_that_names_a_fix_the_trainee_never_made_is_no_prevention() {
        let mut r = Rec::new();
        r.attempt("login", at_live(35), false, fixed());
        assert!(!r.score().facts.prevented);
        // Nor one made after the attempt.
        r.mitigate(at_live(36), fix_web_secret(), true);
        assert!(!r.score().facts.prevented);
    }

    #[test]
    fn before_the_attack_tries_anything_there_is_nothing_prevented_yet() {
        let mut r = Rec::new();
        r.mitigate(1000, fix_web_secret(), true);
        let card = r.score();
        assert!(!card.facts.prevented);
        assert_eq!(points(&card, "detection"), 0);
    }

    /// A true alert escalated in a prevented attack (one raised on an attempt that failed on
    /// the fix) is a detection, timed as one: prevention credits only what had no alert.
    #[test]
    fn an_escalated_true_alert_is_timed_as_a_detection_even_when_the_attack_was_prevented() {
        let mut r = prevented_record();
        let foiled = r.attempt("scrape", at_live(70), false, fixed());
        let a = r.alert_on(at_live(70), foiled);
        r.triage(at_live(75), a, Verdict::Incident);
        let card = r.score();
        assert!(card.facts.prevented);
        assert_eq!(card.facts.detected_ms, Some(at_live(75)));
        let why = text(&card, "detection");
        assert!(
            why.contains("escalated alert #1") && !why.contains("nothing to detect"),
            "{why}"
        );
    }
}
