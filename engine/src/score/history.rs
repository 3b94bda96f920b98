//! What a record says happened, gathered once for every score component: alerts and what they
//! were, the trainee's verdicts, attributions, mitigations and hints, a mentor's acts (injects
//! fired, whispers, hints revealed, time added), and every attempt of the attack with why it
//! failed.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::action::{Action, Cause, Command, EffectKind, Mitigation, Origin, Verdict};
use crate::detector::Alert;
use crate::format::scenario::Scenario;
use crate::format::topology::Topology;
use crate::observation::{EntityRef, Millis};
use crate::record::{MentorAct, RecordLine};
use crate::session::WHISPER_MAX_COST;

use super::involved::{Judge, Truth};
use super::{Moment, MomentKind};

/// One attempt of an attack step, as its actor saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    pub t_ms: Millis,
    pub ok: bool,
    /// Records obtained by a successful data read (0 otherwise).
    pub records: u64,
    pub cause: Option<Cause>,
}

/// A mitigation the trainee applied, and whether the lab confirmed it.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub t_ms: Millis,
    pub effect: u64,
    pub mitigation: Mitigation,
    /// (when, whether it took effect), once the lab answered.
    pub confirmed: Option<(Millis, bool)>,
}

impl Applied {
    pub fn took_effect(&self) -> bool {
        self.confirmed.is_some_and(|(_, ok)| ok)
    }
}

/// A command the session refused, with why: shown on the score card so a script's author (or
/// a trainee) learns what did not happen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefusedCommand {
    pub t_ms: Millis,
    pub command: String,
    pub why: String,
}

/// A whisper that cost points.
#[derive(Debug, Clone, PartialEq)]
pub struct CostedWhisper {
    pub t_ms: Millis,
    pub text: String,
    pub cost: u32,
}

/// Everything the components score, read from a record up to a moment.
#[derive(Debug, Default)]
pub struct History {
    pub warmup_ms: Millis,
    pub attack_start_ms: Millis,
    pub alerts: BTreeMap<u32, (Alert, Truth)>,
    /// Accepted verdicts per alert, in order: the last one is the one that stands.
    pub verdicts: BTreeMap<u32, Vec<(Millis, Verdict)>>,
    pub attributed: Vec<EntityRef>,
    pub mitigations: Vec<Applied>,
    /// Hints revealed, whoever revealed them (they come in the scenario's order either way).
    pub hints: u32,
    /// What the hints the trainee asked for cost.
    pub hint_cost: u32,
    /// Hints a mentor revealed on the trainee's behalf, and what they cost.
    pub mentor_hints: u32,
    pub mentor_hint_cost: u32,
    pub costed_whispers: Vec<CostedWhisper>,
    /// Injects a mentor fired (known to the scenario, each once), in order.
    pub fired: Vec<String>,
    /// Seconds a facilitator added to the live phase.
    pub extended_s: u64,
    /// Attempts per attack step, in order.
    pub attempts: BTreeMap<String, Vec<Attempt>>,
    /// When each attack or decoy step first acted.
    pub first_attempt: BTreeMap<String, Millis>,
    /// Benign (successes, attempts) in the warm-up and in the live phase: the business's
    /// traffic and its decoys.
    pub benign: [(u32, u32); 2],
    /// The benign attempts of the live phase that failed, with why.
    pub benign_failures: Vec<Attempt>,
    pub refused: Vec<RefusedCommand>,
    pub timeline: Vec<Moment>,
}

impl History {
    /// Read the record's lines up to `upto` (inclusive).
    pub fn gather(
        scenario: &Scenario,
        topology: &Topology,
        lines: &[RecordLine],
        upto: Millis,
    ) -> History {
        let judge = Judge::new(scenario, topology, lines);
        let warmup_ms = scenario.live_start_ms();
        let mut h = History {
            warmup_ms,
            attack_start_ms: warmup_ms + u64::from(scenario.attack_start_s()) * 1000,
            ..Default::default()
        };
        let mut reads: BTreeSet<u64> = BTreeSet::new();
        for l in lines {
            match l {
                RecordLine::Effect { t_ms, effect } if *t_ms <= upto => {
                    if matches!(effect.kind, EffectKind::Act(Action::ReadData { .. })) {
                        reads.insert(effect.id);
                    }
                    h.effect(scenario, *t_ms, effect.id, &effect.origin, &effect.kind);
                }
                RecordLine::Alert(a) if a.t_ms <= upto => {
                    h.alerts.insert(a.id, (a.clone(), judge.truth(a)));
                }
                RecordLine::Command {
                    t_ms,
                    command,
                    refused,
                } if *t_ms <= upto => match refused {
                    None => h.command(scenario, *t_ms, command),
                    Some(why) => h.refused.push(RefusedCommand {
                        t_ms: *t_ms,
                        command: command.summary(),
                        why: why.clone(),
                    }),
                },
                RecordLine::Mentor { t_ms, by, act } if *t_ms <= upto => {
                    h.mentor(scenario, *t_ms, by, act);
                }
                RecordLine::Outcome(o) if o.t_ms <= upto => match judge.origin(o.effect) {
                    Some(Origin::Attack { step }) => {
                        let records = if o.ok && reads.contains(&o.effect) {
                            u64::from(o.records)
                        } else {
                            0
                        };
                        h.attempts.entry(step.clone()).or_default().push(Attempt {
                            t_ms: o.t_ms,
                            ok: o.ok,
                            records,
                            cause: o.cause.clone(),
                        });
                    }
                    // The business's own attempts: its traffic, and its calendar's decoys (a
                    // month-end export is the business too, and breaking it is collateral).
                    Some(Origin::Benign | Origin::Decoy { .. }) => {
                        let phase = usize::from(o.t_ms >= warmup_ms);
                        h.benign[phase].1 += 1;
                        h.benign[phase].0 += u32::from(o.ok);
                        if phase == 1 && !o.ok {
                            h.benign_failures.push(Attempt {
                                t_ms: o.t_ms,
                                ok: false,
                                records: 0,
                                cause: o.cause.clone(),
                            });
                        }
                    }
                    Some(Origin::Defender) => {
                        if let Some(m) = h.mitigations.iter_mut().find(|m| m.effect == o.effect) {
                            m.confirmed.get_or_insert((o.t_ms, o.ok));
                        }
                    }
                    _ => {}
                },
                _ => {}
            }
        }
        for (a, truth) in h.alerts.values() {
            if *truth == Truth::Attack {
                h.timeline.push(Moment {
                    t_ms: a.t_ms,
                    kind: MomentKind::Alert,
                    text: format!("alert #{}: {}", a.id, a.title),
                });
            }
        }
        h
    }

    fn effect(
        &mut self,
        scenario: &Scenario,
        t_ms: Millis,
        id: u64,
        origin: &Origin,
        kind: &EffectKind,
    ) {
        match origin {
            Origin::Attack { step } | Origin::Decoy { step } => {
                if self.first_attempt.contains_key(step) {
                    return;
                }
                self.first_attempt.insert(step.clone(), t_ms);
                let narrative = scenario
                    .step(step)
                    .map(|s| s.narrative.as_str())
                    .unwrap_or_default();
                self.timeline.push(Moment {
                    t_ms,
                    kind: if origin.is_attack() {
                        MomentKind::AttackStep
                    } else {
                        MomentKind::Decoy
                    },
                    text: format!("{step}: {narrative}"),
                });
            }
            Origin::Defender => {
                if let EffectKind::Mitigate(m) = kind {
                    self.mitigations.push(Applied {
                        t_ms,
                        effect: id,
                        mitigation: m.clone(),
                        confirmed: None,
                    });
                    self.timeline.push(Moment {
                        t_ms,
                        kind: MomentKind::Mitigation,
                        text: m.summary(),
                    });
                }
            }
            Origin::Benign => {}
        }
    }

    fn command(&mut self, scenario: &Scenario, t_ms: Millis, command: &Command) {
        match command {
            Command::Triage { alert, verdict } => {
                let Some(id) = alert.id() else { return };
                self.verdicts.entry(id).or_default().push((t_ms, *verdict));
                self.timeline.push(Moment {
                    t_ms,
                    kind: match verdict {
                        Verdict::Incident => MomentKind::Escalation,
                        Verdict::Benign => MomentKind::Dismissal,
                    },
                    text: format!("alert #{id} triaged as {}", verdict.word()),
                });
            }
            Command::Attribute { entity } => self.attributed.push(entity.clone()),
            Command::Hint => {
                self.hint_cost = self.hint_cost.saturating_add(self.next_hint_cost(scenario));
                self.hints = self.hints.saturating_add(1);
                self.timeline.push(Moment {
                    t_ms,
                    kind: MomentKind::Hint,
                    text: "asked for a hint".into(),
                });
            }
            Command::Mitigate(_) => {}
        }
    }

    /// What the next hint costs (0 once none is left), whoever reveals it.
    fn next_hint_cost(&self, scenario: &Scenario) -> u32 {
        scenario
            .hints
            .get(self.hints as usize)
            .map_or(0, |hint| hint.cost)
    }

    /// A mentor's (or facilitator's) act: counted where it counts, and a moment of the debrief.
    fn mentor(&mut self, scenario: &Scenario, t_ms: Millis, by: &str, act: &MentorAct) {
        let text = match act {
            MentorAct::Inject { id } => {
                let Some(inject) = scenario.inject(id) else {
                    return;
                };
                if self.fired.contains(id) {
                    return;
                }
                self.fired.push(id.clone());
                format!(
                    "{} fired inject '{id}': {}",
                    who("mentor", by),
                    inject.title
                )
            }
            MentorAct::Whisper { text, cost } => {
                let price = self.whispered(t_ms, text, *cost);
                format!("{} whispered: {text}{price}", who("mentor", by))
            }
            MentorAct::RevealHint { .. } => {
                // The hint revealed is the next one, as for the trainee's own.
                let cost = self.next_hint_cost(scenario);
                self.mentor_hint_cost = self.mentor_hint_cost.saturating_add(cost);
                self.mentor_hints = self.mentor_hints.saturating_add(1);
                self.hints = self.hints.saturating_add(1);
                let n = self.hints;
                format!("{} revealed hint {n} (costs {cost})", who("mentor", by))
            }
            MentorAct::Extend { seconds } => {
                self.extended_s = self.extended_s.saturating_add(u64::from(*seconds));
                format!(
                    "{} extended the live phase by {seconds} s",
                    who("facilitator", by)
                )
            }
        };
        self.timeline.push(Moment {
            t_ms,
            kind: MomentKind::Mentor,
            text,
        });
    }

    /// Count a whisper's cost (capped as the session caps it); what to say of its price.
    fn whispered(&mut self, t_ms: Millis, text: &str, cost: u32) -> String {
        let cost = cost.min(WHISPER_MAX_COST);
        if cost == 0 {
            return String::new();
        }
        self.costed_whispers.push(CostedWhisper {
            t_ms,
            text: text.to_string(),
            cost,
        });
        format!(" (costs {cost})")
    }

    /// The verdict that stands for an alert at the end, and when it was given.
    pub fn standing(&self, alert: u32) -> Option<(Millis, Verdict)> {
        self.verdicts.get(&alert).and_then(|v| v.last()).copied()
    }

    /// The trainee's confirmed mitigation that explains a failed attempt, if one does: the
    /// lab named a cause, the cause's entity is on the step's path, and a mitigation of the
    /// right kind on that entity was applied (and took effect) no later than the attempt.
    pub fn credited(&self, attempt: &Attempt, path: &BTreeSet<EntityRef>) -> Option<&Applied> {
        let cause = attempt.cause.as_ref()?;
        if attempt.ok || !cause.entity().is_some_and(|e| path.contains(&e)) {
            return None;
        }
        self.caused_by_trainee(attempt)
    }

    /// The trainee's confirmed mitigation, applied no later than the attempt, whose kind and
    /// entity explain why it failed, wherever it landed (collateral can land anywhere).
    pub fn caused_by_trainee(&self, attempt: &Attempt) -> Option<&Applied> {
        let cause = attempt.cause.as_ref()?;
        self.mitigations.iter().find(|m| {
            m.t_ms <= attempt.t_ms && m.took_effect() && cause.explained_by(&m.mitigation)
        })
    }

    /// Live-phase alerts, the ones a trainee is asked to triage.
    pub fn live_alerts(&self) -> impl Iterator<Item = (&u32, &(Alert, Truth))> {
        self.alerts
            .iter()
            .filter(move |(_, (a, _))| a.t_ms >= self.warmup_ms)
    }
}

/// "mentor", or "mentor Ana" when the record names who.
/// Who acted, for a moment's text: the role and their name ("mentor ana"), or the role alone
/// when the record names none or names only a role (the server records "mentor" or
/// "facilitator": a facilitator acting from a mentor's page is still the facilitator).
fn who(role: &str, by: &str) -> String {
    match by {
        "" => role.to_string(),
        "mentor" | "facilitator" => by.to_string(),
        name => format!("{role} {name}"),
    }
}
