//! Time to contain, per objective step: a step is contained from the moment after which every
//! attempt failed *because of* a confirmed mitigation of the trainee's on the step's path (its
//! identity, its source, or a service it runs in or goes through). A step that stops on its
//! own, or fails for a reason no trainee action explains, earns nothing here.

use crate::format::scenario::Scenario;
use crate::format::topology::Topology;

use super::history::{Attempt, History};
use super::{CONTAINMENT, Facts, Moment, MomentKind, ScoreLine, line, secs, timed};
use crate::involvement::step_path;

/// How a step's attempts ended.
#[derive(Debug, PartialEq)]
enum Ending<'a> {
    NotStarted,
    StillSucceeding,
    /// The last attempt failed, but not because of anything the trainee did.
    StoppedOtherwise(&'a Attempt),
    /// Every attempt from this index on failed because of a trainee's mitigation.
    Contained(usize),
}

fn ending<'a>(attempts: &'a [Attempt], credited: impl Fn(&Attempt) -> bool) -> Ending<'a> {
    let Some(last) = attempts.last() else {
        return Ending::NotStarted;
    };
    if last.ok {
        return Ending::StillSucceeding;
    }
    match attempts.iter().rposition(|a| !credited(a)) {
        Some(i) if i + 1 == attempts.len() => Ending::StoppedOtherwise(last),
        Some(i) => Ending::Contained(i + 1),
        None => Ending::Contained(0),
    }
}

pub(super) fn score(
    h: &History,
    scenario: &Scenario,
    topology: &Topology,
    facts: &mut Facts,
    timeline: &mut Vec<Moment>,
) -> Vec<ScoreLine> {
    let goals = &scenario.objectives.contain;
    let share = CONTAINMENT / goals.len().max(1) as f64;
    let mut lines = Vec::new();
    for goal in goals {
        let on_path = scenario
            .step(&goal.step)
            .map(|s| step_path(s, topology))
            .unwrap_or_default();
        let attempts = h.attempts.get(&goal.step).map_or(&[][..], Vec::as_slice);
        let credited = |a: &Attempt| h.credited(a, &on_path).is_some();
        let ended = ending(attempts, credited);
        let contained_at = match ended {
            Ending::Contained(i) => Some(attempts[i].t_ms),
            _ => None,
        };
        facts.contained_ms.insert(goal.step.clone(), contained_at);
        let step = &goal.step;
        lines.push(match ended {
            Ending::NotStarted => line(0.0, format!("{step} has not started")),
            Ending::StillSucceeding => line(0.0, format!("{step} was still succeeding at the end")),
            Ending::StoppedOtherwise(last) => line(
                0.0,
                format!(
                    "{step} stopped succeeding, but not because of a mitigation of yours ({})",
                    last.cause
                        .as_ref()
                        .map_or("no cause the lab could name".into(), |c| c.summary())
                ),
            ),
            Ending::Contained(i) => {
                let first = &attempts[i];
                let start = h
                    .first_attempt
                    .get(step)
                    .copied()
                    .unwrap_or(h.attack_start_ms);
                let took = first.t_ms.saturating_sub(start);
                let by = h
                    .credited(first, &on_path)
                    .map(|m| m.mitigation.summary())
                    .unwrap_or_default();
                timeline.push(Moment {
                    t_ms: first.t_ms,
                    kind: MomentKind::Contained,
                    text: format!("{step} contained ({by})"),
                });
                line(
                    timed(share, took, goal.par_s),
                    format!(
                        "{step} contained {} after it began, by: {by} (par {} s)",
                        secs(took),
                        goal.par_s
                    ),
                )
            }
        });
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use crate::action::{Cause, Mitigation};

    #[test]
    fn a_block_that_makes_every_later_attempt_fail_contains_the_step() {
        let mut r = Rec::new();
        r.attempt("scrape", at_live(60), true, None);
        r.mitigate(at_live(65), block_intruder(), true);
        r.attempt("scrape", at_live(70), false, blocked());
        r.attempt("scrape", at_live(80), false, blocked());
        let card = r.score();
        assert_eq!(card.facts.contained_ms["scrape"], Some(at_live(70) + 40));
        assert_eq!(
            points(&card, "containment"),
            250,
            "{}",
            text(&card, "containment")
        );
        assert!(text(&card, "containment").contains("block 198.51.100.23"));
    }

    #[test]
    fn a_step_that_fails_for_a_reason_nobody_caused_earns_nothing() {
        let mut r = Rec::new();
        r.attempt("scrape", at_live(60), true, None);
        // The trainee blocked someone else; the scrape fails because web is overloaded.
        r.mitigate(
            at_live(65),
            Mitigation::Block {
                source: "203.0.113.50".into(),
            },
            true,
        );
        let busy = Some(Cause::Overloaded {
            service: "web".into(),
        });
        r.attempt("scrape", at_live(70), false, busy.clone());
        r.attempt("scrape", at_live(80), false, busy);
        let card = r.score();
        assert_eq!(card.facts.contained_ms["scrape"], None);
        assert_eq!(points(&card, "containment"), 0);
        assert!(text(&card, "containment").contains("not because of a mitigation"));
    }

    #[test]
    fn a_cause_without_the_trainees_mitigation_is_not_credited() {
        let mut r = Rec::new();
        r.attempt("scrape", at_live(60), true, None);
        // The lab says "blocked", but no block of the trainee's explains it.
        r.attempt("scrape", at_live(70), false, blocked());
        assert_eq!(points(&r.score(), "containment"), 0);
    }

    #[test]
    fn a_mitigation_the_lab_did_not_confirm_is_not_credited() {
        let mut r = Rec::new();
        r.mitigate(at_live(65), block_intruder(), false);
        r.attempt("scrape", at_live(70), false, blocked());
        assert_eq!(points(&r.score(), "containment"), 0);
    }

    #[test]
    fn a_mitigation_off_the_steps_path_is_not_credited() {
        let mut r = Rec::new();
        // Pausing a tenant worker has nothing to do with a web scrape, whatever the lab says.
        let paused = Some(Cause::Paused {
            service: "tenant-a".into(),
        });
        r.mitigate(
            at_live(65),
            Mitigation::Pause {
                service: "tenant-a".into(),
            },
            true,
        );
        r.attempt("scrape", at_live(70), false, paused);
        assert_eq!(points(&r.score(), "containment"), 0);
    }

    #[test]
    fn a_success_after_the_mitigation_restarts_the_clock() {
        let mut r = Rec::new();
        r.mitigate(at_live(65), block_intruder(), true);
        r.attempt("scrape", at_live(70), false, blocked());
        r.attempt("scrape", at_live(80), true, None);
        r.attempt("scrape", at_live(90), false, blocked());
        let card = r.score();
        assert_eq!(card.facts.contained_ms["scrape"], Some(at_live(90) + 40));
    }

    #[test]
    fn a_step_still_succeeding_or_never_started_earns_nothing() {
        let mut r = Rec::new();
        assert!(text(&r.score(), "containment").contains("has not started"));
        r.attempt("scrape", at_live(60), true, None);
        let card = r.score();
        assert_eq!(points(&card, "containment"), 0);
        assert!(text(&card, "containment").contains("still succeeding"));
    }
}
