//! What a record says happened, gathered once for every section of the report: phases, the
//! attack and decoy steps as they ran, alerts with what they turned out to be and the verdicts
//! they got, mitigations with what the lab answered, a mentor's acts and hints, and each company
//! container's resource samples. Truth comes from the engine (`alert_truths`, `involved`):
//! the report explains the score, it never judges a second time.

use std::collections::{BTreeMap, BTreeSet};

use bulkhead_engine::format::scenario::Step;
use bulkhead_engine::score::{Truth, alert_truths, involved};
use bulkhead_engine::{
    Alert, Command, EffectKind, EntityRef, MentorAct, Metrics, Millis, Mitigation, ObservationBody,
    Origin, Outcome, Phase, Record, RecordLine, ScoreCard, Verdict,
};

// After a step stops acting, alerts about its entities are still its own for this long: the
// engine's judge's own grace (alerts of a flood arrive after its last request).
use bulkhead_engine::score::ALERT_GRACE_MS;

/// One phase, from its start to the next phase's (or the end of the record).
#[derive(Debug, Clone, Copy)]
pub struct PhaseSpan {
    pub phase: Phase,
    pub from: Millis,
    pub to: Millis,
}

/// One attempt of a step, as its actor saw it (an `Outcome` of one of its effects).
#[derive(Debug, Clone)]
pub struct Attempt {
    pub t_ms: Millis,
    pub ok: bool,
    /// Why it failed, in words, when the lab named a cause.
    pub why: Option<String>,
}

/// An attack or decoy step that ran.
#[derive(Debug)]
pub struct StepRun<'a> {
    pub id: &'a str,
    pub hostile: bool,
    pub step: Option<&'a Step>,
    /// When its first effect was sent (when it began, as the score times it).
    pub first_ms: Millis,
    /// When it stopped acting: its last attempt, or its last effect plus the action's duration.
    pub last_ms: Millis,
    pub attempts: Vec<Attempt>,
    involved: BTreeSet<EntityRef>,
}

impl StepRun<'_> {
    pub fn narrative(&self) -> &str {
        self.step.map_or("", |s| s.narrative.as_str())
    }
}

/// An alert, with what it turned out to be and what the trainee said of it.
#[derive(Debug)]
pub struct AlertView<'a> {
    pub alert: &'a Alert,
    pub truth: Truth,
    /// Accepted verdicts in order: the last one stands.
    pub verdicts: Vec<(Millis, Verdict)>,
    /// The step it was about (by its request id, or by the entities a step involved while it
    /// acted), for alerts of the attack or of a decoy.
    pub step: Option<&'a str>,
    /// Raised in the live phase (the ones scored).
    pub live: bool,
}

impl AlertView<'_> {
    pub fn standing(&self) -> Option<(Millis, Verdict)> {
        self.verdicts.last().copied()
    }

    pub fn escalated(&self) -> Option<Millis> {
        match self.standing() {
            Some((t, Verdict::Incident)) => Some(t),
            _ => None,
        }
    }
}

/// What the lab answered to a mitigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmation {
    /// It took effect.
    Confirmed(Millis),
    /// The lab could not carry it out.
    Failed(Millis),
    /// No answer in the record (the session ended first).
    Unanswered,
}

#[derive(Debug)]
pub struct MitigationRun<'a> {
    pub t_ms: Millis,
    pub mitigation: &'a Mitigation,
    pub confirmation: Confirmation,
    /// What the lab said when it answered.
    pub detail: &'a str,
}

/// A command the session refused.
#[derive(Debug)]
pub struct Refused<'a> {
    pub t_ms: Millis,
    pub command: &'a Command,
    pub why: &'a str,
}

/// Help and interventions: hints the trainee asked for, a mentor's acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HelpKind {
    Hint,
    RevealedHint,
    Whisper,
    Inject,
    Extend,
}

impl HelpKind {
    pub fn key(self) -> &'static str {
        match self {
            HelpKind::Hint => "hint",
            HelpKind::RevealedHint => "revealed-hint",
            HelpKind::Whisper => "whisper",
            HelpKind::Inject => "inject",
            HelpKind::Extend => "extend",
        }
    }
}

#[derive(Debug)]
pub struct Help {
    pub t_ms: Millis,
    pub kind: HelpKind,
    /// A few words beside the mark.
    pub label: String,
    /// All of it, for the mark's tooltip.
    pub text: String,
}

/// Everything the sections draw, read once from the record.
#[derive(Debug)]
pub struct Digest<'a> {
    pub record: &'a Record,
    pub card: &'a ScoreCard,
    /// The end of the time axis: the debrief's start, or the last moment recorded.
    pub end_ms: Millis,
    pub phases: Vec<PhaseSpan>,
    /// Attack steps first, then decoys, each in the order they began.
    pub steps: Vec<StepRun<'a>>,
    pub alerts: Vec<AlertView<'a>>,
    pub triages: Vec<(Millis, u32, Verdict)>,
    pub attributions: Vec<(Millis, &'a EntityRef)>,
    pub mitigations: Vec<MitigationRun<'a>>,
    pub refused: Vec<Refused<'a>>,
    pub help: Vec<Help>,
    /// Resource samples of each company container, in time order.
    pub samples: BTreeMap<&'a str, Vec<(Millis, &'a Metrics)>>,
}

impl<'a> Digest<'a> {
    pub fn gather(record: &'a Record, card: &'a ScoreCard) -> Digest<'a> {
        let lines = &record.lines;
        let mut d = Digest {
            record,
            card,
            end_ms: end_ms(lines),
            phases: Vec::new(),
            steps: steps(record),
            alerts: Vec::new(),
            triages: Vec::new(),
            attributions: Vec::new(),
            mitigations: mitigations(lines),
            refused: Vec::new(),
            help: Vec::new(),
            samples: BTreeMap::new(),
        };
        d.phases = phases(lines, d.end_ms);
        d.read_lines();
        d.alerts = d.alert_views();
        d
    }

    /// Commands, a mentor's acts and samples: one pass over the record.
    fn read_lines(&mut self) {
        let record = self.record;
        let company: BTreeSet<&str> = record
            .topology
            .services
            .iter()
            .filter(|s| !s.range_only)
            .map(|s| s.id.as_str())
            .collect();
        for line in &record.lines {
            match line {
                RecordLine::Command {
                    t_ms,
                    command,
                    refused: Some(why),
                } => self.refused.push(Refused {
                    t_ms: *t_ms,
                    command,
                    why,
                }),
                RecordLine::Command { t_ms, command, .. } => self.command(*t_ms, command),
                RecordLine::Mentor { t_ms, by, act } => self.mentor(*t_ms, by, act),
                RecordLine::Observation(o) => {
                    if let ObservationBody::Metrics(m) = &o.body
                        && company.contains(m.service.as_str())
                    {
                        let series = self.samples.entry(m.service.as_str()).or_default();
                        series.push((o.t_ms, m));
                    }
                }
                _ => {}
            }
        }
        for series in self.samples.values_mut() {
            series.sort_by_key(|(t, _)| *t);
        }
    }

    fn command(&mut self, t_ms: Millis, command: &'a Command) {
        match command {
            Command::Triage { alert, verdict } => {
                if let Some(id) = alert.id() {
                    self.triages.push((t_ms, id, *verdict));
                }
            }
            Command::Attribute { entity } => self.attributions.push((t_ms, entity)),
            Command::Hint => {
                let n = self.help.iter().filter(|h| is_hint(h.kind)).count();
                let text = match self.record.scenario.hints.get(n) {
                    Some(hint) => format!("hint {} (costs {}): {}", n + 1, hint.cost, hint.text),
                    None => "asked for a hint; none was left".to_string(),
                };
                self.help.push(Help {
                    t_ms,
                    kind: HelpKind::Hint,
                    label: format!("hint {}", n + 1),
                    text,
                });
            }
            // Mitigations are read from their effects, which carry the lab's answer.
            Command::Mitigate(_) => {}
        }
    }

    fn mentor(&mut self, t_ms: Millis, by: &str, act: &MentorAct) {
        let who = if by.is_empty() { "mentor" } else { by };
        let scenario = &self.record.scenario;
        let (kind, label, text) = match act {
            MentorAct::Inject { id } => {
                let title = scenario.inject(id).map_or("", |i| i.title.as_str());
                let text = format!("{who} fired inject '{id}': {title}");
                (HelpKind::Inject, format!("inject {id}"), text)
            }
            MentorAct::Whisper { text, cost } => {
                let price = if *cost > 0 {
                    format!(" (costs {cost})")
                } else {
                    String::new()
                };
                let text = format!("{who} whispered{price}: {text}");
                (HelpKind::Whisper, "whisper".to_string(), text)
            }
            MentorAct::RevealHint { index } => {
                let hint = scenario.hints.get(*index as usize);
                let text = hint.map_or("", |h| h.text.as_str());
                let n = index.saturating_add(1);
                let text = format!("{who} revealed hint {n}: {text}");
                (HelpKind::RevealedHint, format!("hint {n}"), text)
            }
            MentorAct::Extend { seconds } => {
                let text = format!("{who} extended the live phase by {seconds} s");
                (HelpKind::Extend, format!("+{seconds} s"), text)
            }
        };
        self.help.push(Help {
            t_ms,
            kind,
            label,
            text,
        });
    }

    fn alert_views(&self) -> Vec<AlertView<'a>> {
        let record = self.record;
        let truths = alert_truths(&record.scenario, &record.topology, &record.lines);
        let origins = effect_origins(&record.lines);
        let live_from = self
            .phase(Phase::Live)
            .map_or(record.scenario.live_start_ms(), |p| p.from);
        let mut verdicts: BTreeMap<u32, Vec<(Millis, Verdict)>> = BTreeMap::new();
        for (t, id, v) in &self.triages {
            verdicts.entry(*id).or_default().push((*t, *v));
        }
        record
            .lines
            .iter()
            .filter_map(|l| match l {
                RecordLine::Alert(a) => Some(a),
                _ => None,
            })
            .map(|alert| {
                let truth = truths.get(&alert.id).copied().unwrap_or(Truth::Noise);
                AlertView {
                    alert,
                    truth,
                    verdicts: verdicts.remove(&alert.id).unwrap_or_default(),
                    step: self.step_of(alert, truth, &origins),
                    live: alert.t_ms >= live_from,
                }
            })
            .collect()
    }

    /// The step an alert was about: the one whose effect opened it, else the first step of its
    /// kind (attack or decoy, as the alert turned out) that involved its entity while acting.
    fn step_of(
        &self,
        alert: &Alert,
        truth: Truth,
        origins: &BTreeMap<u64, &'a Origin>,
    ) -> Option<&'a str> {
        if let Some(Origin::Attack { step } | Origin::Decoy { step }) =
            alert.trace.and_then(|t| origins.get(&t).copied())
        {
            return Some(step.as_str());
        }
        let hostile = match truth {
            Truth::Attack => true,
            Truth::Decoy => false,
            Truth::Noise => return None,
        };
        self.steps
            .iter()
            .filter(|s| s.hostile == hostile && s.involved.contains(&alert.entity))
            .find(|s| {
                alert.t_ms >= s.first_ms && alert.t_ms <= s.last_ms.saturating_add(ALERT_GRACE_MS)
            })
            .map(|s| s.id)
    }

    pub fn phase(&self, phase: Phase) -> Option<&PhaseSpan> {
        self.phases.iter().find(|p| p.phase == phase)
    }

    /// The warm-up, where baselines are learned: from the record, else from the scenario.
    pub fn warmup(&self) -> (Millis, Millis) {
        match self.phase(Phase::Warmup) {
            Some(p) => (p.from, p.to),
            None => {
                let s = &self.record.scenario;
                (s.hardening_ms(), s.live_start_ms())
            }
        }
    }

    /// The attack steps that ran, in the order they began.
    pub fn attack_steps(&self) -> impl Iterator<Item = &StepRun<'a>> {
        self.steps.iter().filter(|s| s.hostile)
    }

    pub fn alert(&self, id: u32) -> Option<&AlertView<'a>> {
        self.alerts.iter().find(|a| a.alert.id == id)
    }
}

fn is_hint(kind: HelpKind) -> bool {
    matches!(kind, HelpKind::Hint | HelpKind::RevealedHint)
}

fn end_ms(lines: &[RecordLine]) -> Millis {
    let debrief = lines.iter().find_map(|l| match l {
        RecordLine::Phase {
            t_ms,
            phase: Phase::Debrief,
        } => Some(*t_ms),
        _ => None,
    });
    let last = lines.iter().filter_map(RecordLine::t_ms).max().unwrap_or(0);
    // At least a second, so that an empty record still has an axis.
    debrief.unwrap_or(last).max(last).max(1000)
}

fn phases(lines: &[RecordLine], end_ms: Millis) -> Vec<PhaseSpan> {
    let starts: Vec<(Millis, Phase)> = lines
        .iter()
        .filter_map(|l| match l {
            RecordLine::Phase { t_ms, phase } => Some((*t_ms, *phase)),
            _ => None,
        })
        .collect();
    starts
        .iter()
        .enumerate()
        .map(|(i, (from, phase))| PhaseSpan {
            phase: *phase,
            from: *from,
            to: starts.get(i + 1).map_or(end_ms, |(t, _)| *t),
        })
        .collect()
}

fn effect_origins(lines: &[RecordLine]) -> BTreeMap<u64, &Origin> {
    lines
        .iter()
        .filter_map(|l| match l {
            RecordLine::Effect { effect, .. } => Some((effect.id, &effect.origin)),
            _ => None,
        })
        .collect()
}

/// Every attack and decoy step that ran, with its attempts.
fn steps(record: &Record) -> Vec<StepRun<'_>> {
    let mut runs: Vec<StepRun> = Vec::new();
    let mut by_effect: BTreeMap<u64, usize> = BTreeMap::new();
    for line in &record.lines {
        match line {
            RecordLine::Effect { t_ms, effect } => {
                let (Origin::Attack { step: id } | Origin::Decoy { step: id }) = &effect.origin
                else {
                    continue;
                };
                let i = match runs.iter().position(|r| r.id == id) {
                    Some(i) => i,
                    None => {
                        runs.push(new_run(record, id, effect.origin.is_attack(), *t_ms));
                        runs.len() - 1
                    }
                };
                let duration = match &effect.kind {
                    EffectKind::Act(action) => u64::from(action.duration_s()) * 1000,
                    EffectKind::Mitigate(_) => 0,
                };
                let run = &mut runs[i];
                run.last_ms = run.last_ms.max(t_ms.saturating_add(duration));
                by_effect.insert(effect.id, i);
            }
            RecordLine::Outcome(o) => {
                if let Some(&i) = by_effect.get(&o.effect) {
                    runs[i].attempts.push(attempt(o));
                    runs[i].last_ms = runs[i].last_ms.max(o.t_ms);
                }
            }
            _ => {}
        }
    }
    // Attack first, then decoys; each in the order it began (a stable sort keeps ties in the
    // record's order).
    runs.sort_by_key(|r| (!r.hostile, r.first_ms));
    runs
}

fn new_run<'a>(record: &'a Record, id: &'a str, hostile: bool, t_ms: Millis) -> StepRun<'a> {
    let step = record.scenario.step(id);
    StepRun {
        id,
        hostile,
        step,
        first_ms: t_ms,
        last_ms: t_ms,
        attempts: Vec::new(),
        involved: step
            .map(|s| involved(&s.action, &record.topology))
            .unwrap_or_default(),
    }
}

fn attempt(o: &Outcome) -> Attempt {
    Attempt {
        t_ms: o.t_ms,
        ok: o.ok,
        why: o.cause.as_ref().map(|c| c.summary()),
    }
}

/// The trainee's mitigations as the session sent them, each with the lab's first answer.
fn mitigations(lines: &[RecordLine]) -> Vec<MitigationRun<'_>> {
    let mut runs = Vec::new();
    let mut by_effect: BTreeMap<u64, usize> = BTreeMap::new();
    for line in lines {
        match line {
            RecordLine::Effect { t_ms, effect } => {
                if let (Origin::Defender, EffectKind::Mitigate(m)) = (&effect.origin, &effect.kind)
                {
                    by_effect.insert(effect.id, runs.len());
                    runs.push(MitigationRun {
                        t_ms: *t_ms,
                        mitigation: m,
                        confirmation: Confirmation::Unanswered,
                        detail: "",
                    });
                }
            }
            RecordLine::Outcome(o) => {
                let Some(run) = by_effect.get(&o.effect).map(|&i| &mut runs[i]) else {
                    continue;
                };
                if run.confirmation == Confirmation::Unanswered {
                    run.confirmation = if o.ok {
                        Confirmation::Confirmed(o.t_ms)
                    } else {
                        Confirmation::Failed(o.t_ms)
                    };
                    run.detail = &o.detail;
                }
            }
            _ => {}
        }
    }
    runs
}
