//! "What you missed" and "what cost you": read off the score card's lines and facts and the
//! engine's truth about each alert, never scored a second time.

use bulkhead_engine::score::Truth;
use bulkhead_engine::{EntityRef, ScoreCard, Verdict};
use maud::{Markup, html};

use crate::digest::{AlertView, Confirmation, Digest};
use crate::svg::clock;
use crate::timeline::truth_word;

fn alert_link(a: &AlertView) -> Markup {
    html! {
        a href=(format!("#alert-{}", a.alert.id)) { "#" (a.alert.id) } " " (a.alert.title)
    }
}

/// Live alerts of the attack whose standing verdict is not "incident".
fn unescalated<'d, 'a>(d: &'d Digest<'a>) -> Vec<&'d AlertView<'a>> {
    d.alerts
        .iter()
        .filter(|a| a.live && a.truth == Truth::Attack && a.escalated().is_none())
        .collect()
}

/// Attack steps that raised no alert although they got somewhere: (step, attempts that
/// worked, attempts). A step stopped at the door before it could do anything is not a miss.
fn silent_steps<'a>(d: &Digest<'a>) -> Vec<(&'a str, usize, usize)> {
    d.attack_steps()
        .filter(|s| !d.alerts.iter().any(|a| a.step == Some(s.id)))
        .filter(|s| s.attempts.is_empty() || s.attempts.iter().any(|a| a.ok))
        .map(|s| {
            let ok = s.attempts.iter().filter(|a| a.ok).count();
            (s.id, ok, s.attempts.len())
        })
        .collect()
}

/// Objective steps the card says were not contained, with the card's line about each.
fn uncontained(card: &ScoreCard) -> Vec<(&str, Option<&str>)> {
    let lines = card
        .component("containment")
        .map_or(&[][..], |c| &c.lines[..]);
    card.facts
        .contained_ms
        .iter()
        .filter(|(_, t)| t.is_none())
        .map(|(step, _)| {
            let about = format!("{step} ");
            let why = lines.iter().find(|l| l.text.starts_with(&about));
            (step.as_str(), why.map(|l| l.text.as_str()))
        })
        .collect()
}

/// Entities the scenario asked to name that the trainee never named.
fn unnamed<'a>(d: &Digest<'a>) -> Vec<&'a EntityRef> {
    let named: Vec<&EntityRef> = d.attributions.iter().map(|(_, e)| *e).collect();
    let asked = &d.record.scenario.objectives.attribute;
    asked.iter().filter(|e| !named.contains(e)).collect()
}

pub fn missed(d: &Digest) -> Markup {
    let unescalated = unescalated(d);
    let silent = silent_steps(d);
    let uncontained = uncontained(d.card);
    let unnamed = unnamed(d);
    let nothing =
        unescalated.is_empty() && silent.is_empty() && uncontained.is_empty() && unnamed.is_empty();
    html! {
        ul.review #missed-list {
            @if nothing {
                li.good { "Nothing: every true alert was escalated, every attack step that got anywhere raised an alert, every objective step was contained and everyone asked for was named." }
            }
            @for a in &unescalated {
                li data-missed-alert=(a.alert.id) {
                    "True alert never escalated: " (alert_link(a)) " — "
                    @match a.standing() {
                        Some((t, Verdict::Benign)) => { "dismissed as benign at " (clock(t)) },
                        _ => "left untriaged",
                    }
                }
            }
            @for (step, ok, all) in &silent {
                li data-missed-step=(step) { "Attack step " b { (step) } " raised no alert, and " (ok) " of its " (all) " attempts worked." }
            }
            @for (step, why) in &uncontained {
                li data-uncontained=(step) { "Objective step " b { (step) } " was not contained" @if let Some(why) = why { ": " (why) } }
            }
            @for e in &unnamed {
                li { "Not named as involved: " (e) }
            }
        }
    }
}

/// Live alerts that were not the attack and stand escalated.
fn false_escalations<'d, 'a>(d: &'d Digest<'a>) -> Vec<&'d AlertView<'a>> {
    d.alerts
        .iter()
        .filter(|a| a.live && a.truth != Truth::Attack && a.escalated().is_some())
        .collect()
}

/// Every line of the card that took points away: (component, points, why).
fn deductions(card: &ScoreCard) -> Vec<(&str, i32, &str)> {
    card.components
        .iter()
        .flat_map(|c| {
            c.lines
                .iter()
                .filter(|l| l.points < 0)
                .map(|l| (c.title.as_str(), l.points, l.text.as_str()))
        })
        .collect()
}

pub fn cost(d: &Digest) -> Markup {
    let false_escalations = false_escalations(d);
    let deductions = deductions(d.card);
    let facts = &d.card.facts;
    let collateral = d.card.component("collateral");
    let unconfirmed: Vec<_> = d
        .mitigations
        .iter()
        .filter(|m| !matches!(m.confirmation, Confirmation::Confirmed(_)))
        .collect();
    let nothing = false_escalations.is_empty()
        && deductions.is_empty()
        && facts.benign_failures_caused == 0
        && unconfirmed.is_empty()
        && d.refused.is_empty();
    html! {
        ul.review #cost-list {
            @if nothing {
                li.good { "Nothing: no false escalation, no innocent touched, no benign traffic broken, no deduction." }
            }
            @for a in &false_escalations {
                li data-false-escalation=(a.alert.id) { "Escalated " (alert_link(a)) ", which was " (truth_word(a.truth)) }
            }
            @for (title, points, text) in &deductions {
                li.deduction { span.points.neg { (points) } " " (title) ": " (text) }
            }
            @if facts.benign_failures_caused > 0 {
                li data-collateral=(facts.benign_failures_caused) {
                    "Collateral: your mitigations broke " (facts.benign_failures_caused) " benign attempts in the live phase"
                    @if let Some(c) = collateral { " (collateral " (c.points) " of " (c.max) ")" }
                }
            }
            @for m in &unconfirmed {
                li {
                    "Mitigation " b { (m.mitigation.summary()) } " at " (clock(m.t_ms))
                    @if m.confirmation == Confirmation::Unanswered { ": the lab had not answered when the record ends" }
                    @else { " did not take effect" @if !m.detail.is_empty() { ": " (m.detail) } }
                }
            }
            @for r in &d.refused {
                li { "Refused at " (clock(r.t_ms)) ": " (r.command.summary()) " — " (r.why) }
            }
        }
    }
}
