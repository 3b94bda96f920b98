//! Defenders that play a session without a window: `Idle` does nothing, `Scripted` replays timed
//! commands from a RON file, `Bot` is a competent analyst that acts on alerts and the
//! scenario's context only (never on the ground truth), and `FixThenBot` fixes chosen findings
//! in the hardening phase before playing as the bot.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::action::{Command, Mitigation, Verdict};
use crate::detector::{Alert, Novelty, Signal};
use crate::format::rules::Severity;
use crate::format::scenario::Scenario;
use crate::format::topology::Criticality;
use crate::observation::{EntityRef, MetricKind};
use crate::posture::WeaknessRef;
use crate::session::{Defender, DefenderView, Phase};

/// Does nothing: the baseline every scenario must punish.
#[derive(Debug, Default)]
pub struct Idle;

impl Defender for Idle {
    fn decide(&mut self, _: &DefenderView<'_>) -> Vec<Command> {
        Vec::new()
    }
}

/// One command of a scripted defender, at a time relative to the start of the live phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimedCommand {
    pub at_s: f64,
    pub command: Command,
}

/// Replays a list of timed commands.
#[derive(Debug, Default)]
pub struct Scripted {
    commands: Vec<TimedCommand>,
    next: usize,
}

impl Scripted {
    pub fn new(mut commands: Vec<TimedCommand>) -> Self {
        commands.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
        Scripted { commands, next: 0 }
    }
}

impl Defender for Scripted {
    fn decide(&mut self, view: &DefenderView<'_>) -> Vec<Command> {
        let live_s = view.live_s(view.now);
        let mut out = Vec::new();
        while self
            .commands
            .get(self.next)
            .is_some_and(|c| c.at_s <= live_s)
        {
            out.push(self.commands[self.next].command.clone());
            self.next += 1;
        }
        out
    }
}

/// A competent analyst: reads each alert after a short delay, checks the change calendar,
/// escalates what the calendar does not explain, answers with the least disruptive mitigation
/// that stops the behaviour, and closes the rest of the queue: an alert nothing corroborates
/// within a while is dismissed, and escalated after all if it later turns out to concern a
/// suspect.
#[derive(Debug)]
pub struct Bot {
    /// Seconds an analyst takes to read an alert before acting.
    pub reaction_s: f64,
    /// Seconds an uncorroborated alert waits before it is dismissed.
    pub patience_s: f64,
    escalated: BTreeSet<u32>,
    dismissed: BTreeSet<u32>,
    done: BTreeSet<String>,
    suspects: BTreeSet<EntityRef>,
}

impl Default for Bot {
    fn default() -> Self {
        Bot {
            reaction_s: 3.0,
            patience_s: 30.0,
            escalated: BTreeSet::new(),
            dismissed: BTreeSet::new(),
            done: BTreeSet::new(),
            suspects: BTreeSet::new(),
        }
    }
}

impl Bot {
    /// Whether a calendar entry announces this behaviour.
    fn planned(view: &DefenderView<'_>, alert: &Alert) -> bool {
        let live_s = view.live_s(alert.t_ms);
        view.brief.context.calendar.iter().any(|entry| {
            live_s >= f64::from(entry.from_s) - 5.0
                && live_s <= f64::from(entry.to_s) + 30.0
                && entry
                    .entities
                    .iter()
                    .any(|e| *e == alert.entity || alert.related.contains(e))
        })
    }

    fn once(&mut self, out: &mut Vec<Command>, command: Command) {
        let key = format!("{command:?}");
        if self.done.insert(key) {
            out.push(command);
        }
    }

    fn respond(&mut self, view: &DefenderView<'_>, alert: &Alert, out: &mut Vec<Command>) {
        match (&alert.entity, &alert.signal) {
            (EntityRef::Service(service), Signal::Anomaly { .. }) => {
                // Cap to what the service should have: it keeps running within its share. A
                // critical tier running hot is a symptom (of a flood, say): act on the cause.
                let Some(svc) = view.topology().service(service) else {
                    return;
                };
                if svc.criticality < Criticality::High {
                    self.suspects.insert(alert.entity.clone());
                    self.once(
                        out,
                        Command::Attribute {
                            entity: alert.entity.clone(),
                        },
                    );
                    self.once(
                        out,
                        Command::Mitigate(Mitigation::Cap {
                            service: service.clone(),
                            cpu_cores: Some(svc.limits.cpu_cores),
                            memory_mib: Some(svc.limits.memory_mib),
                            pids: Some(svc.limits.pids),
                        }),
                    );
                }
            }
            (EntityRef::Service(service), _)
                if alert
                    .related
                    .iter()
                    .any(|e| matches!(e, EntityRef::Zone(_))) =>
            {
                // A connection across zones that should not happen: code in the service itself
                // is moving. Cut it off its networks (its own work stops; its neighbours' goes
                // on), unless it is a critical tier, where that would finish the attacker's job.
                let Some(svc) = view.topology().service(service) else {
                    return;
                };
                self.suspects.insert(alert.entity.clone());
                self.once(
                    out,
                    Command::Attribute {
                        entity: alert.entity.clone(),
                    },
                );
                if svc.criticality < Criticality::High {
                    self.once(
                        out,
                        Command::Mitigate(Mitigation::Isolate {
                            service: service.clone(),
                        }),
                    );
                }
            }
            (EntityRef::Service(_), _) => {
                // Exec sessions and the like: the person behind it is the lead, if the brief
                // knows them (an exec from outside the range names nobody: `unknown`).
                for e in alert.related.iter().filter(|e| {
                    matches!(e, EntityRef::Identity(id) if view.topology().identity(id).is_some())
                }) {
                    self.contain(e, out);
                }
            }
            (
                EntityRef::Identity(_),
                Signal::Novelty {
                    dimension: Novelty::Source,
                    value,
                },
            ) => {
                self.contain(&alert.entity, out);
                self.contain(&EntityRef::Source(value.clone()), out);
            }
            _ => self.contain(&alert.entity, out),
        }
    }

    fn contain(&mut self, entity: &EntityRef, out: &mut Vec<Command>) {
        self.suspects.insert(entity.clone());
        self.once(
            out,
            Command::Attribute {
                entity: entity.clone(),
            },
        );
        match entity {
            EntityRef::Source(source) => self.once(
                out,
                Command::Mitigate(Mitigation::Block {
                    source: source.clone(),
                }),
            ),
            EntityRef::Identity(identity) => self.once(
                out,
                Command::Mitigate(Mitigation::Revoke {
                    identity: identity.clone(),
                }),
            ),
            EntityRef::Service(_) | EntityRef::Zone(_) => {}
        }
    }

    /// Whether an alert deserves escalation on its own or with what else is known.
    fn worth_escalating(&self, view: &DefenderView<'_>, alert: &Alert) -> bool {
        let suspect = self.suspects.contains(&alert.entity)
            || alert.related.iter().any(|e| self.suspects.contains(e));
        // Another kind of alert about the same entity within two minutes.
        let corroborated = view.alerts.iter().any(|other| {
            other.alert.id != alert.id
                && other.alert.entity == alert.entity
                && other.alert.rule != alert.rule
                && other.alert.t_ms.abs_diff(alert.t_ms) <= 120_000
        });
        match (alert.severity, &alert.signal) {
            // One source far above what any source sends is a flood, however noisy the
            // baseline made its z-score look.
            (
                _,
                Signal::Anomaly {
                    metric: MetricKind::SourceRate,
                    ..
                },
            ) => true,
            (Severity::High | Severity::Critical, _) => true,
            (Severity::Medium, Signal::Novelty { dimension, .. }) => {
                *dimension == Novelty::Source || corroborated || suspect
            }
            (Severity::Medium, _) => true,
            (Severity::Low, _) => suspect,
        }
    }
}

impl Bot {
    /// A busy tier is a symptom: it belongs to an incident when a flood from one source is
    /// escalated around the same time.
    fn symptom_of_escalated_flood(&self, view: &DefenderView<'_>, alert: &Alert) -> bool {
        view.alerts.iter().any(|other| {
            self.escalated.contains(&other.alert.id)
                && matches!(
                    other.alert.signal,
                    Signal::Anomaly {
                        metric: MetricKind::SourceRate,
                        ..
                    }
                )
                && other.alert.t_ms.abs_diff(alert.t_ms) <= 60_000
        })
    }

    fn triage(out: &mut Vec<Command>, alert: &Alert, verdict: Verdict) {
        out.push(Command::Triage {
            alert: alert.id.into(),
            verdict,
        });
    }

    /// In the hardening phase: fix every finding once, after reading it, except the risks the
    /// business accepted (the brief lists them with why).
    fn harden(&mut self, view: &DefenderView<'_>, out: &mut Vec<Command>) {
        if view.now < self.reaction_ms() {
            return;
        }
        let hardening = view.brief.hardening.as_ref();
        for finding in view.findings {
            if hardening.is_some_and(|h| h.accepted(&finding.of()).is_some()) {
                continue;
            }
            if self.done.insert(format!("fix {}", finding.of())) {
                out.push(Command::Mitigate(Mitigation::Fix {
                    service: finding.service.clone(),
                    weakness: finding.weakness,
                }));
            }
        }
    }

    fn reaction_ms(&self) -> u64 {
        (self.reaction_s * 1000.0) as u64
    }
}

impl Defender for Bot {
    fn decide(&mut self, view: &DefenderView<'_>) -> Vec<Command> {
        let mut out = Vec::new();
        if view.phase == Phase::Hardening {
            self.harden(view, &mut out);
        }
        if view.phase != Phase::Live {
            return out;
        }
        for entry in view.alerts {
            let alert = &entry.alert;
            let age_s = view.now.saturating_sub(alert.t_ms) as f64 / 1000.0;
            if self.escalated.contains(&alert.id) || age_s < self.reaction_s {
                continue;
            }
            let was_dismissed = self.dismissed.contains(&alert.id);
            if Self::planned(view, alert) {
                if !was_dismissed {
                    self.dismissed.insert(alert.id);
                    Self::triage(&mut out, alert, Verdict::Benign);
                }
                continue;
            }
            let request_rate = matches!(
                alert.signal,
                Signal::Anomaly {
                    metric: MetricKind::RequestRate,
                    ..
                }
            );
            let escalate = if request_rate {
                // Act on the cause (the source), not on the symptom.
                self.symptom_of_escalated_flood(view, alert)
            } else {
                self.worth_escalating(view, alert)
            };
            if escalate {
                self.escalated.insert(alert.id);
                self.dismissed.remove(&alert.id);
                Self::triage(&mut out, alert, Verdict::Incident);
                if !request_rate {
                    self.respond(view, alert, &mut out);
                }
            } else if !was_dismissed && age_s >= self.patience_s {
                self.dismissed.insert(alert.id);
                Self::triage(&mut out, alert, Verdict::Benign);
            }
        }
        out
    }
}

/// Fixes the given weaknesses `at_s` seconds into the hardening phase, then defends live as the
/// bot does: the defenders a hardening scenario is tested against (every real finding fixed,
/// none, or only the risks the business accepted), each answering the live attack alike.
#[derive(Debug)]
pub struct FixThenBot {
    fixes: Scripted,
    bot: Bot,
}

impl FixThenBot {
    pub fn new(scenario: &Scenario, fixes: &[WeaknessRef], at_s: f64) -> Self {
        // Scripted times are live-phase seconds; the hardening phase starts at session time 0.
        let at_s = at_s - scenario.live_start_ms() as f64 / 1000.0;
        let commands = (fixes.iter())
            .map(|w| TimedCommand {
                at_s,
                command: Command::Mitigate(Mitigation::Fix {
                    service: w.service.clone(),
                    weakness: w.weakness,
                }),
            })
            .collect();
        FixThenBot {
            fixes: Scripted::new(commands),
            bot: Bot::default(),
        }
    }
}

impl Defender for FixThenBot {
    fn decide(&mut self, view: &DefenderView<'_>) -> Vec<Command> {
        let mut out = self.fixes.decide(view);
        if view.phase == Phase::Live {
            out.extend(self.bot.decide(view));
        }
        out
    }
}
