//! Small hand-written records for the score components' unit tests, on the stolen-credentials
//! scenario's variant of seed 11 (attack from live 35 s: login, recon, scrape every 10 s,
//! persist; decoys by carol).

use crate::action::{Action, AlertRef, Cause, Command, Effect, EffectKind, Mitigation, Origin};
use crate::action::{Outcome, Verdict};
use crate::detector::{Alert, Signal};
use crate::format::rules::Severity;
use crate::format::scenario::Scenario;
use crate::format::topology::Topology;
use crate::observation::{EntityRef, Millis};
use crate::record::{MentorAct, RecordLine};

use super::{ScoreCard, score};

/// The variant these tests write records for: seed 11's, whose intruder is [`INTRUDER`]
/// logging in as alice from live 35 s.
pub fn scenario() -> Scenario {
    let written = ron::from_str(include_str!("../../../scenarios/stolen-credentials.ron")).unwrap();
    let variant = crate::format::variants::resolve(&written, 11).unwrap();
    let first = &variant.objectives.attribute[0];
    assert_eq!(
        *first,
        EntityRef::Source(INTRUDER.into()),
        "seed 11 drew another intruder"
    );
    variant
}

pub fn topology() -> Topology {
    ron::from_str(include_str!("../../../labs/topologies/company.ron")).unwrap()
}

/// Session time of a live-phase second.
pub fn at_live(s: u64) -> Millis {
    scenario().live_start_ms() + s * 1000
}

pub fn points(card: &ScoreCard, key: &str) -> i32 {
    card.component(key).unwrap().points
}

/// All the lines of a component, in one string.
pub fn text(card: &ScoreCard, key: &str) -> String {
    card.component(key)
        .unwrap()
        .lines
        .iter()
        .map(|l| format!("{:+} {}\n", l.points, l.text))
        .collect()
}

pub const INTRUDER: &str = "198.51.100.23";

/// A record being written by hand.
pub struct Rec {
    pub scenario: Scenario,
    pub topology: Topology,
    pub lines: Vec<RecordLine>,
    next_effect: u64,
    next_alert: u32,
}

impl Rec {
    pub fn new() -> Self {
        Rec {
            scenario: scenario(),
            topology: topology(),
            lines: Vec::new(),
            next_effect: 1,
            next_alert: 1,
        }
    }

    pub fn score(&self) -> ScoreCard {
        score(&self.scenario, &self.topology, &self.lines, None)
    }

    pub fn effect(&mut self, t_ms: Millis, origin: Origin, kind: EffectKind) -> u64 {
        let id = self.next_effect;
        self.next_effect += 1;
        self.lines.push(RecordLine::Effect {
            t_ms,
            effect: Effect { id, origin, kind },
        });
        id
    }

    pub fn outcome(
        &mut self,
        t_ms: Millis,
        effect: u64,
        ok: bool,
        records: u32,
        cause: Option<Cause>,
    ) {
        self.lines.push(RecordLine::Outcome(Outcome {
            t_ms,
            effect,
            ok,
            records,
            detail: String::new(),
            cause,
        }));
    }

    /// One attempt of an attack step, with how it went.
    pub fn attempt(&mut self, step: &str, t_ms: Millis, ok: bool, cause: Option<Cause>) -> u64 {
        let action = self.scenario.step(step).unwrap().action.clone();
        let records = match &action {
            Action::ReadData { records, .. } if ok => *records,
            _ => 0,
        };
        let origin = Origin::Attack { step: step.into() };
        let id = self.effect(t_ms, origin, EffectKind::Act(action));
        self.outcome(t_ms + 40, id, ok, records, cause);
        id
    }

    pub fn benign(&mut self, t_ms: Millis, ok: bool) {
        self.benign_with(t_ms, ok, None);
    }

    /// A benign request, failed or not, with why.
    pub fn benign_with(&mut self, t_ms: Millis, ok: bool, cause: Option<Cause>) {
        let action = Action::Request {
            identity: None,
            source: "203.0.113.9".into(),
            endpoint: "/".into(),
            via: None,
        };
        let id = self.effect(t_ms, Origin::Benign, EffectKind::Act(action));
        self.outcome(t_ms + 40, id, ok, 0, cause);
    }

    /// A mitigation of the trainee's, confirmed (or not) by the lab 40 ms later.
    pub fn mitigate(&mut self, t_ms: Millis, m: Mitigation, ok: bool) -> u64 {
        self.lines.push(RecordLine::Command {
            t_ms,
            command: Command::Mitigate(m.clone()),
            refused: None,
        });
        let id = self.effect(t_ms, Origin::Defender, EffectKind::Mitigate(m));
        self.outcome(t_ms + 40, id, ok, 0, None);
        id
    }

    fn alert(&mut self, t_ms: Millis, entity: EntityRef, trace: Option<u64>) -> u32 {
        let id = self.next_alert;
        self.next_alert += 1;
        self.lines.push(RecordLine::Alert(Alert {
            late_ms: None,
            id,
            t_ms,
            rule: "novelty.source".into(),
            title: format!("alert {id}"),
            severity: Severity::Medium,
            entity,
            related: Vec::new(),
            evidence: String::new(),
            baseline: String::new(),
            mitre: Vec::new(),
            trace,
            signal: Signal::Signature,
        }));
        id
    }

    /// An alert opened by the attack's login.
    pub fn attack_alert(&mut self, t_ms: Millis) -> u32 {
        let effect = self.attempt("login", t_ms, true, None);
        self.alert(t_ms, EntityRef::Identity("alice".into()), Some(effect))
    }

    /// Mark an alert's evidence as having reached the session `late_ms` after its moment.
    pub fn alert_late(&mut self, alert: u32, late_ms: Millis) {
        for line in &mut self.lines {
            if let RecordLine::Alert(a) = line
                && a.id == alert
            {
                a.late_ms = Some(late_ms);
            }
        }
    }

    /// An alert opened by carol's announced hotel login.
    pub fn decoy_alert(&mut self, t_ms: Millis) -> u32 {
        let action = self.scenario.step("travel-login").unwrap().action.clone();
        let origin = Origin::Decoy {
            step: "travel-login".into(),
        };
        let effect = self.effect(t_ms, origin, EffectKind::Act(action));
        self.alert(t_ms, EntityRef::Identity("carol".into()), Some(effect))
    }

    /// An alert on the intruder's address traced to this effect (an attack attempt's, say).
    pub fn alert_on(&mut self, t_ms: Millis, effect: u64) -> u32 {
        self.alert(t_ms, EntityRef::Source(INTRUDER.into()), Some(effect))
    }

    /// An alert about nothing the scenario did.
    pub fn noise_alert(&mut self, t_ms: Millis) -> u32 {
        self.alert(t_ms, EntityRef::Service("tenant-a".into()), None)
    }

    pub fn triage(&mut self, t_ms: Millis, alert: u32, verdict: Verdict) {
        self.lines.push(RecordLine::Command {
            t_ms,
            command: Command::Triage {
                alert: AlertRef::Id(alert),
                verdict,
            },
            refused: None,
        });
    }

    pub fn attribute(&mut self, t_ms: Millis, entity: EntityRef) {
        self.lines.push(RecordLine::Command {
            t_ms,
            command: Command::Attribute { entity },
            refused: None,
        });
    }

    /// A mentor's act, by "ana".
    pub fn mentor(&mut self, t_ms: Millis, act: MentorAct) {
        self.lines.push(RecordLine::Mentor {
            t_ms,
            by: "ana".into(),
            act,
        });
    }

    pub fn refused(&mut self, t_ms: Millis, command: Command, why: &str) {
        self.lines.push(RecordLine::Command {
            t_ms,
            command,
            refused: Some(why.into()),
        });
    }
}

pub fn block_intruder() -> Mitigation {
    Mitigation::Block {
        source: INTRUDER.into(),
    }
}

pub fn blocked() -> Option<Cause> {
    Some(Cause::Blocked {
        source: INTRUDER.into(),
    })
}
