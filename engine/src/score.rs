//! Scoring against the scenario's expected baselines: a pure function of scenario + record.
//! Out of 1000, with a grade, badges and a line of explanation for every point.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::action::{Action, Command, EffectKind, Origin, Verdict};
use crate::detector::Alert;
use crate::format::scenario::Scenario;
use crate::format::topology::{Role, Topology};
use crate::observation::{EntityRef, Millis};
use crate::record::RecordLine;

pub const MAX_SCORE: u32 = 1000;
const DETECTION: f64 = 250.0;
const CONTAINMENT: f64 = 250.0;
const IMPACT: f64 = 150.0;
const COLLATERAL: f64 = 150.0;
const ATTRIBUTION: f64 = 100.0;
const PRECISION: f64 = 100.0;
/// Seconds after a step stops acting during which its alerts still count as its own.
const ALERT_GRACE_MS: Millis = 60_000;
/// A drop of this much in the benign success rate costs all collateral points.
const COLLATERAL_SPAN: f64 = 0.20;

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
}

/// Measured facts behind the points.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Facts {
    pub attack_start_ms: Millis,
    /// When the first true alert was escalated.
    pub detected_ms: Option<Millis>,
    /// Per contained step: when its attempts started failing for good.
    pub contained_ms: BTreeMap<String, Option<Millis>>,
    pub attack_attempts: u32,
    pub attack_successes: u32,
    pub successes_after_first_mitigation: u32,
    pub records_lost: u64,
    pub benign_success_warmup: f64,
    pub benign_success_live: f64,
    pub true_alerts: u32,
    pub false_alerts: u32,
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
}

/// What an alert turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Truth {
    Attack,
    Decoy,
    Noise,
}

/// Windows in which a step's entities were acting: (entities, from, to).
struct StepWindow {
    entities: BTreeSet<EntityRef>,
    from: Millis,
    to: Millis,
}

fn affected(action: &Action, topology: &Topology) -> BTreeSet<EntityRef> {
    let mut set: BTreeSet<EntityRef> = action.entities().into_iter().collect();
    // A flood shows first on the tiers it hits.
    if matches!(action, Action::Flood { .. }) {
        for role in [Role::Gateway, Role::Web] {
            if let Some(s) = topology.services_with_role(role).next() {
                set.insert(EntityRef::Service(s.id.clone()));
            }
        }
    }
    set
}

fn windows(
    steps: &[crate::format::scenario::Step],
    scenario: &Scenario,
    topology: &Topology,
) -> Vec<StepWindow> {
    let warmup = scenario.timing.warmup_ms();
    steps
        .iter()
        .map(|s| StepWindow {
            entities: affected(&s.action, topology),
            from: warmup + u64::from(s.at_s) * 1000,
            to: warmup + u64::from(s.end_s()) * 1000 + ALERT_GRACE_MS,
        })
        .collect()
}

/// Whether an alert was about the attack, a decoy, or neither.
fn truth_of(
    alert: &Alert,
    origins: &BTreeMap<u64, Origin>,
    attack: &[StepWindow],
    decoys: &[StepWindow],
) -> Truth {
    if let Some(origin) = alert.trace.and_then(|t| origins.get(&t)) {
        return match origin {
            Origin::Attack { .. } => Truth::Attack,
            Origin::Decoy { .. } => Truth::Decoy,
            _ => Truth::Noise,
        };
    }
    let hit = |ws: &[StepWindow]| {
        ws.iter().any(|w| {
            alert.t_ms >= w.from && alert.t_ms <= w.to && w.entities.contains(&alert.entity)
        })
    };
    if hit(attack) {
        Truth::Attack
    } else if hit(decoys) {
        Truth::Decoy
    } else {
        Truth::Noise
    }
}

/// Decide the truth of every alert of a record (for the debrief and tests).
pub fn alert_truths(
    scenario: &Scenario,
    topology: &Topology,
    lines: &[RecordLine],
) -> BTreeMap<u32, Truth> {
    let origins = origins(lines);
    let attack = windows(&scenario.attack, scenario, topology);
    let decoys = windows(&scenario.decoys, scenario, topology);
    lines
        .iter()
        .filter_map(|l| match l {
            RecordLine::Alert(a) => Some((a.id, truth_of(a, &origins, &attack, &decoys))),
            _ => None,
        })
        .collect()
}

fn origins(lines: &[RecordLine]) -> BTreeMap<u64, Origin> {
    lines
        .iter()
        .filter_map(|l| match l {
            RecordLine::Effect { effect, .. } => Some((effect.id, effect.origin.clone())),
            _ => None,
        })
        .collect()
}

fn line(points: f64, text: impl Into<String>) -> ScoreLine {
    ScoreLine {
        points: points.round() as i32,
        text: text.into(),
    }
}

fn component(key: &str, title: &str, max: f64, mut lines: Vec<ScoreLine>) -> Component {
    let sum: i32 = lines.iter().map(|l| l.points).sum();
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

/// Score a record. `upto` limits it to what had happened by then (the provisional score).
pub fn score(
    scenario: &Scenario,
    topology: &Topology,
    lines: &[RecordLine],
    upto: Option<Millis>,
) -> ScoreCard {
    let warmup = scenario.timing.warmup_ms();
    let now = upto.unwrap_or(Millis::MAX);
    let origins = origins(lines);
    let attack_w = windows(&scenario.attack, scenario, topology);
    let decoy_w = windows(&scenario.decoys, scenario, topology);
    let attack_start = warmup + u64::from(scenario.attack_start_s()) * 1000;
    let mut facts = Facts {
        attack_start_ms: attack_start,
        ..Default::default()
    };
    let mut timeline = Vec::new();

    // Gather what happened.
    let mut alerts: BTreeMap<u32, (Alert, Truth)> = BTreeMap::new();
    let mut verdicts: BTreeMap<u32, (Verdict, Millis)> = BTreeMap::new();
    let mut first_escalation: BTreeMap<u32, Millis> = BTreeMap::new();
    let mut attributed: Vec<EntityRef> = Vec::new();
    let mut mitigations = Vec::new();
    let mut hints = 0u32;
    let mut hint_cost = 0u32;
    let mut outcomes_by_step: BTreeMap<String, Vec<(Millis, bool)>> = BTreeMap::new();
    let mut benign = [(0u32, 0u32); 2];
    let mut effect_kind: BTreeMap<u64, &EffectKind> = BTreeMap::new();
    let mut first_attempt: BTreeMap<String, Millis> = BTreeMap::new();
    for l in lines {
        match l {
            RecordLine::Effect { t_ms, effect } if *t_ms <= now => {
                effect_kind.insert(effect.id, &effect.kind);
                match &effect.origin {
                    Origin::Attack { step } | Origin::Decoy { step } => {
                        if !first_attempt.contains_key(step) {
                            first_attempt.insert(step.clone(), *t_ms);
                            let kind = if effect.origin.is_attack() {
                                MomentKind::AttackStep
                            } else {
                                MomentKind::Decoy
                            };
                            let narrative = scenario
                                .step(step)
                                .map(|s| s.narrative.clone())
                                .unwrap_or_default();
                            timeline.push(Moment {
                                t_ms: *t_ms,
                                kind,
                                text: format!("{step}: {narrative}"),
                            });
                        }
                    }
                    Origin::Defender => {
                        if let EffectKind::Mitigate(m) = &effect.kind {
                            mitigations.push((*t_ms, m.clone()));
                            timeline.push(Moment {
                                t_ms: *t_ms,
                                kind: MomentKind::Mitigation,
                                text: m.summary(),
                            });
                        }
                    }
                    Origin::Benign => {}
                }
            }
            RecordLine::Alert(a) if a.t_ms <= now => {
                let truth = truth_of(a, &origins, &attack_w, &decoy_w);
                alerts.insert(a.id, (a.clone(), truth));
            }
            RecordLine::Command {
                t_ms,
                command,
                refused: None,
            } if *t_ms <= now => match command {
                Command::Triage { alert, verdict } => {
                    verdicts.insert(*alert, (*verdict, *t_ms));
                    if *verdict == Verdict::Incident {
                        first_escalation.entry(*alert).or_insert(*t_ms);
                    }
                    let kind = if *verdict == Verdict::Incident {
                        MomentKind::Escalation
                    } else {
                        MomentKind::Dismissal
                    };
                    timeline.push(Moment {
                        t_ms: *t_ms,
                        kind,
                        text: format!("alert #{alert} triaged as {verdict:?}").to_lowercase(),
                    });
                }
                Command::Attribute { entity } => attributed.push(entity.clone()),
                Command::Hint => {
                    if let Some(h) = scenario.hints.get(hints as usize) {
                        hint_cost += h.cost;
                    }
                    hints += 1;
                    timeline.push(Moment {
                        t_ms: *t_ms,
                        kind: MomentKind::Hint,
                        text: "asked for a hint".into(),
                    });
                }
                Command::Mitigate(_) => {}
            },
            RecordLine::Outcome(o) if o.t_ms <= now => match origins.get(&o.effect) {
                Some(Origin::Attack { step }) => {
                    outcomes_by_step
                        .entry(step.clone())
                        .or_default()
                        .push((o.t_ms, o.ok));
                    facts.attack_attempts += 1;
                    if o.ok {
                        facts.attack_successes += 1;
                        if matches!(
                            effect_kind.get(&o.effect),
                            Some(EffectKind::Act(Action::ReadData { .. }))
                        ) {
                            facts.records_lost += u64::from(o.records);
                        }
                        if mitigations.first().is_some_and(|(t, _)| o.t_ms > *t + 5000) {
                            facts.successes_after_first_mitigation += 1;
                        }
                    }
                }
                Some(Origin::Benign) => {
                    let phase = usize::from(o.t_ms >= warmup);
                    benign[phase].1 += 1;
                    if o.ok {
                        benign[phase].0 += 1;
                    }
                }
                _ => {}
            },
            _ => {}
        }
    }
    for (a, truth) in alerts.values() {
        if *truth == Truth::Attack {
            facts.true_alerts += 1;
            timeline.push(Moment {
                t_ms: a.t_ms,
                kind: MomentKind::Alert,
                text: format!("alert #{}: {}", a.id, a.title),
            });
        } else {
            facts.false_alerts += 1;
        }
    }

    // Detection.
    let par = scenario.objectives.detect_par_s;
    let mut det = Vec::new();
    let detected = first_escalation
        .iter()
        .filter(|(id, _)| alerts.get(id).is_some_and(|(_, t)| *t == Truth::Attack))
        .map(|(id, t)| (*t, *id))
        .min();
    match detected {
        Some((t, id)) => {
            facts.detected_ms = Some(t);
            let took = t.saturating_sub(attack_start);
            let pts = timed(DETECTION, took, par);
            det.push(line(
                pts,
                format!(
                    "escalated alert #{id} {} after the attack began (par {par} s)",
                    secs(took)
                ),
            ));
        }
        None => {
            let dismissed: Vec<String> = verdicts
                .iter()
                .filter(|(id, (v, _))| {
                    *v == Verdict::Benign
                        && alerts.get(id).is_some_and(|(_, t)| *t == Truth::Attack)
                })
                .map(|(id, _)| format!("#{id}"))
                .collect();
            let why = if dismissed.is_empty() {
                "no alert of the attack was escalated".to_string()
            } else {
                format!(
                    "alerts of the attack were dismissed as benign ({})",
                    dismissed.join(", ")
                )
            };
            det.push(line(0.0, why));
        }
    }

    // Containment.
    let mut con = Vec::new();
    let goals = &scenario.objectives.contain;
    let share = CONTAINMENT / goals.len().max(1) as f64;
    for goal in goals {
        let attempts = outcomes_by_step
            .get(&goal.step)
            .cloned()
            .unwrap_or_default();
        let contained = match attempts.last() {
            Some((_, false)) => {
                // From the first failure after the last success, every attempt failed.
                let last_ok = attempts.iter().rposition(|(_, ok)| *ok);
                let first_fail = last_ok.map_or(0, |i| i + 1);
                Some(attempts[first_fail].0)
            }
            _ => None,
        };
        facts.contained_ms.insert(goal.step.clone(), contained);
        let start = first_attempt
            .get(&goal.step)
            .copied()
            .unwrap_or(attack_start);
        match contained {
            Some(t) if mitigations.iter().any(|(mt, _)| *mt <= t) => {
                let took = t.saturating_sub(start);
                timeline.push(Moment {
                    t_ms: t,
                    kind: MomentKind::Contained,
                    text: format!("{} contained", goal.step),
                });
                con.push(line(
                    timed(share, took, goal.par_s),
                    format!(
                        "{} contained {} after it began (par {} s)",
                        goal.step,
                        secs(took),
                        goal.par_s
                    ),
                ));
            }
            Some(_) => con.push(line(
                0.0,
                format!("{} stopped on its own, not through a mitigation", goal.step),
            )),
            None if attempts.is_empty() => {
                con.push(line(0.0, format!("{} has not started", goal.step)))
            }
            None => con.push(line(
                0.0,
                format!("{} was still succeeding at the end", goal.step),
            )),
        }
    }

    // Impact.
    let mut imp = Vec::new();
    let at_risk = scenario.objectives.records_at_risk;
    let action_share = if at_risk > 0 {
        IMPACT * 2.0 / 3.0
    } else {
        IMPACT
    };
    let frac = if facts.attack_attempts == 0 {
        0.0
    } else {
        f64::from(facts.attack_successes) / f64::from(facts.attack_attempts)
    };
    imp.push(line(
        action_share * (1.0 - frac),
        format!(
            "{} of {} attacker actions failed",
            facts.attack_attempts - facts.attack_successes,
            facts.attack_attempts
        ),
    ));
    if at_risk > 0 {
        let lost = (facts.records_lost as f64 / f64::from(at_risk)).min(1.0);
        imp.push(line(
            (IMPACT - action_share) * (1.0 - lost),
            format!(
                "{} of {at_risk} records at risk were exfiltrated",
                facts.records_lost
            ),
        ));
    }
    if facts.successes_after_first_mitigation > 0 {
        imp.push(line(
            0.0,
            format!(
                "{} attacker actions still succeeded after your first mitigation",
                facts.successes_after_first_mitigation
            ),
        ));
    }

    // Collateral.
    let rate = |(ok, n): (u32, u32)| {
        if n == 0 {
            1.0
        } else {
            f64::from(ok) / f64::from(n)
        }
    };
    facts.benign_success_warmup = rate(benign[0]);
    facts.benign_success_live = rate(benign[1]);
    let drop = (facts.benign_success_warmup - facts.benign_success_live).max(0.0);
    let col = vec![line(
        COLLATERAL * (1.0 - drop / COLLATERAL_SPAN).max(0.0),
        format!(
            "benign success {:.1}% live against {:.1}% in the warm-up",
            facts.benign_success_live * 100.0,
            facts.benign_success_warmup * 100.0
        ),
    )];

    // Attribution.
    let expected: BTreeSet<&EntityRef> = scenario.objectives.attribute.iter().collect();
    let mut att = Vec::new();
    let per = ATTRIBUTION / expected.len().max(1) as f64;
    for e in &expected {
        if attributed.contains(e) {
            att.push(line(per, format!("named {e}")));
        } else {
            att.push(line(0.0, format!("did not name {e}")));
        }
    }
    for e in attributed.iter().filter(|e| !expected.contains(e)) {
        att.push(line(-25.0, format!("named {e}, which was not involved")));
    }

    // Precision.
    let mut pre = vec![line(PRECISION, "starting precision")];
    for (id, (v, _)) in &verdicts {
        let Some((a, truth)) = alerts.get(id) else {
            continue;
        };
        match (v, truth) {
            (Verdict::Benign, Truth::Attack) => pre.push(line(
                -30.0,
                format!("dismissed alert #{id} ({}), which was the attack", a.title),
            )),
            (Verdict::Incident, Truth::Decoy) => pre.push(line(
                -25.0,
                format!("escalated alert #{id} ({}), a benign decoy", a.title),
            )),
            (Verdict::Incident, Truth::Noise) => pre.push(line(
                -15.0,
                format!("escalated alert #{id} ({}), ordinary noise", a.title),
            )),
            _ => {}
        }
    }
    let guilty: BTreeSet<EntityRef> = scenario
        .attack
        .iter()
        .flat_map(|s| s.action.entities())
        .collect();
    let mut seen = BTreeSet::new();
    for (_, m) in &mitigations {
        let target = m.target();
        if !m.is_undo() && !guilty.contains(&target) && seen.insert(target.clone()) {
            pre.push(line(
                -40.0,
                format!("{}: {target} was not involved in the attack", m.summary()),
            ));
        }
    }

    // Hints.
    let hints_lines = if hints == 0 {
        vec![line(0.0, "no hints used")]
    } else {
        vec![line(-f64::from(hint_cost), format!("{hints} hint(s) used"))]
    };

    let components = vec![
        component("detection", "Time to detect", DETECTION, det),
        component("containment", "Time to contain", CONTAINMENT, con),
        component("impact", "Impact", IMPACT, imp),
        component("collateral", "Collateral", COLLATERAL, col),
        component("attribution", "Attribution", ATTRIBUTION, att),
        component("precision", "Precision", PRECISION, pre),
        component("hints", "Hints", 0.0, hints_lines),
    ];
    let total = components
        .iter()
        .map(|c| c.points)
        .sum::<i32>()
        .clamp(0, MAX_SCORE as i32) as u32;
    let badges = badges(&components, &facts, scenario, hints);
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
    }
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

fn badges(components: &[Component], facts: &Facts, scenario: &Scenario, hints: u32) -> Vec<Badge> {
    let full = |key: &str| {
        components
            .iter()
            .any(|c| c.key == key && c.points as u32 == c.max && c.max > 0)
    };
    let mut out = Vec::new();
    let mut give = |id: &str, title: &str, why: String| {
        out.push(Badge {
            id: id.into(),
            title: title.into(),
            why,
        })
    };
    if let Some(t) = facts.detected_ms
        && t.saturating_sub(facts.attack_start_ms)
            <= u64::from(scenario.objectives.detect_par_s) * 1000
    {
        give(
            "sharp-eyes",
            "Sharp eyes",
            "detected the attack within par".into(),
        );
    }
    if full("containment") {
        give(
            "bulkhead",
            "Bulkhead",
            "contained every step within par".into(),
        );
    }
    if full("collateral") && full("precision") {
        give(
            "surgeon",
            "Surgeon",
            "no collateral damage, no innocent touched, no false escalation".into(),
        );
    }
    if full("attribution") {
        give(
            "profiler",
            "Profiler",
            "named everyone involved and no one else".into(),
        );
    }
    if hints == 0 && facts.detected_ms.is_some() {
        give("unaided", "Unaided", "no hints used".into());
    }
    out
}
