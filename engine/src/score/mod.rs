//! Scoring against the scenario's expected baselines: a pure function of scenario + record.
//! Out of 1000, with a grade, badges and a line of explanation for every point. Each component
//! lives in its own file and reads the same `History`, so every rule is on one screen and
//! tested alone.

mod attribution;
mod badges;
mod collateral;
mod containment;
mod detection;
mod history;
mod impact;
mod involved;
mod posture;
mod precision;
mod prevention;
#[cfg(test)]
mod testkit;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::format::scenario::Scenario;
use crate::format::topology::Topology;
use crate::observation::{LifecycleState, LogEvent, Millis, Observation, ObservationBody};
use crate::record::{LabFault, RecordLine};

pub use crate::involvement::{involved, involved_in_attack, involved_in_attack_with, path};
pub use history::RefusedCommand;
pub use involved::{ALERT_GRACE_MS, Truth, alert_truths};

pub const MAX_SCORE: u32 = 1000;
const DETECTION: f64 = 250.0;
const CONTAINMENT: f64 = 250.0;
const IMPACT: f64 = 150.0;
const COLLATERAL: f64 = 150.0;
const ATTRIBUTION: f64 = 100.0;
const PRECISION: f64 = 100.0;
/// Posture, in scenarios with a hardening phase: the other components then share what is left
/// of the 1000 in the same proportions (0.8 of their maxima, whole numbers each), so totals
/// stay out of 1000.
const POSTURE: f64 = 200.0;

/// One explained change of points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreLine {
    pub points: i32,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Component {
    pub key: String,
    pub title: String,
    pub points: i32,
    pub max: u32,
    /// Their points add up to `points`.
    pub lines: Vec<ScoreLine>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Badge {
    pub id: String,
    pub title: String,
    pub why: String,
}

/// One moment of the debrief timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Moment {
    pub t_ms: Millis,
    pub kind: MomentKind,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MomentKind {
    AttackStep,
    Decoy,
    Alert,
    Escalation,
    Dismissal,
    Mitigation,
    Contained,
    Hint,
    /// Something a mentor or facilitator did: an inject, a whisper, a hint, more time.
    Mentor,
}

/// Measured facts behind the points.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Facts {
    pub attack_start_ms: Millis,
    /// When the standing escalation of the earliest-escalated true alert was made.
    pub detected_ms: Option<Millis>,
    /// How late that alert's evidence reached the trainee, when telemetry lagged: taken out of
    /// the time to detect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detection_late_ms: Option<Millis>,
    /// Per objective step: from when its attempts failed for good because of a mitigation.
    pub contained_ms: BTreeMap<String, Option<Millis>>,
    pub attack_attempts: u32,
    pub attack_successes: u32,
    /// Attacker attempts that failed because of a confirmed mitigation of the trainee's.
    pub attack_failures_caused: u32,
    pub successes_after_first_mitigation: u32,
    /// Records the attack obtained, capped at the records at risk.
    pub records_lost: u64,
    pub records_at_risk: u64,
    pub benign_success_warmup: f64,
    pub benign_success_live: f64,
    /// Benign attempts of the live phase that a confirmed mitigation of the trainee's broke.
    pub benign_failures_caused: u32,
    pub true_alerts: u32,
    pub false_alerts: u32,
    /// Live alerts with a verdict standing at the end.
    pub alerts_triaged: u32,
    /// Distinct uninvolved entities the trainee restricted.
    pub innocents_mitigated: u32,
    /// Escalations of decoys and noise that stand at the end.
    pub false_escalations: u32,
    /// When the live phase ended (or ends), with any time a facilitator added.
    #[serde(default)]
    pub live_end_ms: Millis,
    /// Seconds a facilitator added to the live phase.
    #[serde(default)]
    pub extended_s: u64,
    /// Injects a mentor fired, in order.
    #[serde(default)]
    pub injects_fired: Vec<String>,
    /// The scenario's weaknesses the business did not accept, and those of them the audit at
    /// the end of the hardening phase no longer found.
    #[serde(default)]
    pub weaknesses_real: u32,
    #[serde(default)]
    pub weaknesses_fixed: u32,
    /// Accepted risks "fixed" anyway.
    #[serde(default)]
    pub accepted_risks_fixed: u32,
    /// The attack made attempts and every one failed on the trainee's fixes: it never reached
    /// the lab, and detection and attribution were credited for it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub prevented: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreCard {
    pub scenario: String,
    pub total: u32,
    pub max: u32,
    pub grade: String,
    pub components: Vec<Component>,
    pub badges: Vec<Badge>,
    pub timeline: Vec<Moment>,
    pub facts: Facts,
    /// Commands the session refused, with why (a script's typo, a triage too early).
    #[serde(default)]
    pub refused: Vec<RefusedCommand>,
    /// What the range itself lived through (a container it restored, the lab unreachable and
    /// the clock held): the score is read knowing it, and none of it is held against anyone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<LabFaultNote>,
    /// Why the session ended before its time (the lab was lost): the score is partial.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial: Option<String>,
}

/// A fault of the range at a moment of the session, as the card names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabFaultNote {
    pub t_ms: Millis,
    pub text: String,
}

impl ScoreCard {
    pub fn component(&self, key: &str) -> Option<&Component> {
        self.components.iter().find(|c| c.key == key)
    }
}

fn line(points: f64, text: impl Into<String>) -> ScoreLine {
    ScoreLine {
        points: points.round() as i32,
        text: text.into(),
    }
}

/// A component's lines at a weight (1.0: as they are).
fn scaled(lines: Vec<ScoreLine>, scale: f64) -> Vec<ScoreLine> {
    if scale == 1.0 {
        return lines;
    }
    let weigh = |l: ScoreLine| ScoreLine {
        points: (f64::from(l.points) * scale).round() as i32,
        ..l
    };
    lines.into_iter().map(weigh).collect()
}

/// Points add up saturating: a record read back may carry any cost, and scoring never panics.
fn sum(points: impl Iterator<Item = i32>) -> i32 {
    points.fold(0, i32::saturating_add)
}

fn component(key: &str, title: &str, max: f64, mut lines: Vec<ScoreLine>) -> Component {
    let sum = sum(lines.iter().map(|l| l.points));
    let clamped = sum.clamp(if max > 0.0 { 0 } else { i32::MIN }, max as i32);
    if clamped != sum {
        lines.push(ScoreLine {
            points: clamped - sum,
            text: if clamped > sum {
                "floor: a component never goes below 0".into()
            } else {
                "ceiling: a component never goes above its maximum".into()
            },
        });
    }
    Component {
        key: key.into(),
        title: title.into(),
        points: clamped,
        max: max.max(0.0) as u32,
        lines,
    }
}

/// Points for a time against par: full at or under par, nothing at four times par.
fn timed(max: f64, took_ms: Millis, par_s: u32) -> f64 {
    let took = took_ms as f64 / 1000.0;
    let par = f64::from(par_s.max(1));
    if took <= par {
        max
    } else {
        max * (1.0 - (took - par) / (3.0 * par)).max(0.0)
    }
}

fn secs(ms: Millis) -> String {
    format!("{:.0} s", ms as f64 / 1000.0)
}

/// Score a record. `upto` limits it to what had happened by then: for a mentor's view of a
/// live session, never for the trainee's.
pub fn score(
    scenario: &Scenario,
    topology: &Topology,
    lines: &[RecordLine],
    upto: Option<Millis>,
) -> ScoreCard {
    let h = history::History::gather(scenario, topology, lines, upto.unwrap_or(Millis::MAX));
    let mut facts = Facts {
        attack_start_ms: h.attack_start_ms,
        live_end_ms: scenario
            .total_ms()
            .saturating_add(h.extended_s.saturating_mul(1000)),
        extended_s: h.extended_s,
        injects_fired: h.fired.clone(),
        ..Default::default()
    };
    let mut timeline = h.timeline.clone();
    let prevented = prevention::prevented(&h);
    facts.prevented = prevented.is_some();
    let det = detection::score(&h, scenario, prevented.as_ref(), &mut facts);
    let con = containment::score(&h, scenario, topology, &mut facts, &mut timeline);
    let imp = impact::score(&h, scenario, topology, &mut facts);
    let col = collateral::score(&h, scenario, &mut facts);
    let att = attribution::score(&h, scenario, topology, prevented.as_ref());
    let pre = precision::score(&h, scenario, topology, &mut facts);
    let hints = hints(&h);
    // With a hardening phase, posture takes its share and the others keep their proportions.
    let (scale, posture) = match scenario.hardening {
        Some(_) => {
            let upto = upto.unwrap_or(Millis::MAX);
            let (fixed, accepted) = posture::score(scenario, lines, upto, &mut facts);
            let scale = (f64::from(MAX_SCORE) - POSTURE) / f64::from(MAX_SCORE);
            let posture = [
                component("posture", "Posture", POSTURE, fixed),
                component("accepted_risks", "Accepted risks", 0.0, accepted),
            ];
            (scale, Some(posture))
        }
        None => (1.0, None),
    };
    let weighed = |key: &str, title: &str, max: f64, lines: Vec<ScoreLine>| {
        component(key, title, max * scale, scaled(lines, scale))
    };
    let mut components = vec![
        weighed("detection", "Time to detect", DETECTION, det),
        weighed("containment", "Time to contain", CONTAINMENT, con),
        weighed("impact", "Impact", IMPACT, imp),
        weighed("collateral", "Collateral", COLLATERAL, col),
        weighed("attribution", "Attribution", ATTRIBUTION, att),
        weighed("precision", "Precision", PRECISION, pre),
    ];
    components.extend(posture.into_iter().flatten());
    // Hints cost what the scenario says, whatever the weights.
    components.push(component("hints", "Hints", 0.0, hints));
    let total = sum(components.iter().map(|c| c.points)).clamp(0, MAX_SCORE as i32) as u32;
    // A whisper that cost points was help, as a hint is.
    let helped = h
        .hints
        .saturating_add(h.costed_whispers.len().try_into().unwrap_or(u32::MAX));
    let badges = badges::earned(&components, &facts, scenario, helped);
    timeline.sort_by_key(|m| m.t_ms);
    ScoreCard {
        scenario: scenario.id.clone(),
        total,
        max: MAX_SCORE,
        grade: grade(total).into(),
        components,
        badges,
        timeline,
        facts,
        refused: h.refused,
        faults: lab_faults(lines, upto.unwrap_or(Millis::MAX)),
        partial: lines.iter().find_map(|l| match l {
            RecordLine::Fault {
                fault: LabFault::Lost { why },
                ..
            } => Some(why.clone()),
            _ => None,
        }),
    }
}

/// The range's own faults up to `upto`: containers it restored, and the lab unreachable.
fn lab_faults(lines: &[RecordLine], upto: Millis) -> Vec<LabFaultNote> {
    lines
        .iter()
        // Not `take_while`: effect lines are written at their step's moment, which may run
        // ahead of lines taken in after them, so a record is not strictly in time order.
        .filter(|l| l.t_ms().is_none_or(|t| t <= upto))
        .filter_map(|l| {
            let text = match l {
                RecordLine::Fault { fault, .. } => fault.text(),
                RecordLine::Observation(Observation {
                    body:
                        ObservationBody::Event(LogEvent::Lifecycle {
                            service,
                            state: LifecycleState::Restored,
                        }),
                    ..
                }) => format!(
                    "{service} died with no cause the range knows of and the lab restored it; \
                     the outage is not counted against you"
                ),
                _ => return None,
            };
            Some(LabFaultNote {
                t_ms: l.t_ms()?,
                text,
            })
        })
        .collect()
}

/// The hints component: hints the trainee asked for, hints and costed whispers from a mentor,
/// each saying whose they were.
fn hints(h: &history::History) -> Vec<ScoreLine> {
    let mut lines = Vec::new();
    let asked = h.hints.saturating_sub(h.mentor_hints);
    if asked > 0 {
        lines.push(line(
            -f64::from(h.hint_cost),
            format!("{asked} hint(s) used"),
        ));
    }
    if h.mentor_hints > 0 {
        lines.push(line(
            -f64::from(h.mentor_hint_cost),
            format!("{} hint(s) revealed by the mentor", h.mentor_hints),
        ));
    }
    for w in &h.costed_whispers {
        let when = match w.t_ms.checked_sub(h.warmup_ms) {
            Some(live) => format!("at live {}", secs(live)),
            None => "in the warm-up".to_string(),
        };
        let short: String = w.text.chars().take(60).collect();
        let more = if short.len() < w.text.len() {
            "…"
        } else {
            ""
        };
        lines.push(line(
            -f64::from(w.cost),
            format!("the mentor's whisper {when}: \"{short}{more}\""),
        ));
    }
    if lines.is_empty() {
        lines.push(line(0.0, "no hints used"));
    }
    lines
}

fn grade(total: u32) -> &'static str {
    match total {
        900.. => "S",
        800.. => "A",
        650.. => "B",
        500.. => "C",
        300.. => "D",
        _ => "F",
    }
}

#[cfg(test)]
mod tests {
    use super::testkit::*;

    /// A record is not strictly in time order: a fault after a line stamped later still counts
    /// for a card of the session so far.
    #[test]
    fn a_fault_counts_up_to_its_moment_whatever_lines_came_before_it() {
        let mut r = Rec::new();
        // Its lines are stamped at live 90 s (the attempt and its alert).
        r.attack_alert(at_live(90));
        r.lines.push(crate::record::RecordLine::Fault {
            t_ms: at_live(30),
            fault: crate::lab::LabFault::Resumed { held_s: 2.0 },
        });
        let card = super::score(&r.scenario, &r.topology, &r.lines, Some(at_live(60)));
        assert_eq!(card.faults.len(), 1, "{:?}", card.faults);
        let card = super::score(&r.scenario, &r.topology, &r.lines, Some(at_live(20)));
        assert!(card.faults.is_empty());
    }
    use super::{MomentKind, Truth, alert_truths};
    use crate::action::{AlertRef, Command, Verdict};
    use crate::detector::Alert;
    use crate::observation::EntityRef;
    use crate::record::{MentorAct, RecordLine};

    /// An alert with no request id on the second address of the "new-source" inject.
    fn untraced_alert(r: &mut Rec, t_ms: u64) -> u32 {
        let mut alert: Alert = r
            .lines
            .iter()
            .find_map(|l| match l {
                RecordLine::Alert(a) => Some(a.clone()),
                _ => None,
            })
            .unwrap();
        alert.id = 99;
        alert.t_ms = t_ms;
        alert.trace = None;
        alert.entity = EntityRef::Source("198.51.100.77".into());
        r.lines.push(RecordLine::Alert(alert));
        99
    }

    #[test]
    fn an_alert_on_a_fired_injects_step_while_it_acts_is_the_attack() {
        let mut r = Rec::new();
        r.noise_alert(at_live(1));
        let id = untraced_alert(&mut r, at_live(205));
        let truth = |r: &Rec| alert_truths(&r.scenario, &r.topology, &r.lines)[&id];
        assert_eq!(
            truth(&r),
            Truth::Noise,
            "not fired: the address is nobody's"
        );
        let inject = MentorAct::Inject {
            id: "new-source".into(),
        };
        r.mentor(at_live(200), inject);
        assert_eq!(truth(&r), Truth::Attack);
        r.triage(at_live(210), id, Verdict::Incident);
        let card = r.score();
        assert!(card.facts.detected_ms.is_some());
        assert_eq!(card.facts.injects_fired, ["new-source"]);
        let mentor = card.timeline.iter().find(|m| m.kind == MomentKind::Mentor);
        assert!(mentor.is_some_and(|m| m.text.contains("mentor ana fired inject 'new-source'")));
    }

    #[test]
    fn absurd_costs_in_a_record_cost_at_most_the_cap_and_never_overflow() {
        let mut r = Rec::new();
        for hint in &mut r.scenario.hints {
            hint.cost = u32::MAX;
        }
        for i in 0..5 {
            let whisper = MentorAct::Whisper {
                text: "x".into(),
                cost: u32::MAX,
            };
            r.mentor(at_live(i), whisper);
            r.mentor(at_live(i), MentorAct::RevealHint { index: 0 });
            r.mentor(at_live(i), MentorAct::Extend { seconds: u32::MAX });
        }
        let card = r.score();
        assert_eq!(card.total, 0);
        let hints = card.component("hints").unwrap();
        assert_eq!(hints.lines.len(), 6, "{hints:?}");
        assert!(hints.lines.iter().all(|l| l.points < 0));
    }

    #[test]
    fn refused_commands_are_listed_on_the_card_with_why() {
        let mut r = Rec::new();
        let triage = Command::Triage {
            alert: AlertRef::Id(42),
            verdict: Verdict::Incident,
        };
        r.refused(at_live(5), triage, "there is no alert #42");
        let card = r.score();
        assert_eq!(card.refused.len(), 1);
        assert_eq!(card.refused[0].command, "triage #42 as incident");
        assert_eq!(card.refused[0].why, "there is no alert #42");
        // A refused command changes nothing else.
        assert_eq!(card.total, Rec::new().score().total);
    }

    #[test]
    fn every_component_explains_every_point() {
        let mut r = Rec::new();
        let a = r.attack_alert(at_live(31));
        r.triage(at_live(35), a, Verdict::Incident);
        r.mitigate(at_live(36), block_intruder(), true);
        r.attempt("scrape", at_live(60), false, blocked());
        let card = r.score();
        for c in &card.components {
            let sum: i32 = c.lines.iter().map(|l| l.points).sum();
            assert_eq!(sum, c.points, "{}", c.key);
            assert!(!c.lines.is_empty(), "{} has no line", c.key);
        }
        assert_eq!(
            card.total as i32,
            card.components.iter().map(|c| c.points).sum::<i32>()
        );
    }
}
