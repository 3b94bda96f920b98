//! The response, step by step: for each attack step, when it began, the first alert about it,
//! when it was escalated (the verdict that stands) and when it was contained, against par. The
//! times are the score's facts; which alert was about which step is the engine's truth.

use bulkhead_engine::Millis;
use maud::{Markup, html};

use crate::digest::{AlertView, Digest, StepRun};
use crate::svg::{clock, took};

/// A moment relative to when the step began: `2:33 (+3 s)`.
fn since(t: Millis, began: Millis) -> String {
    format!("{} (+{})", clock(t), took(t.saturating_sub(began)))
}

pub fn section(d: &Digest) -> Markup {
    let scenario = &d.record.scenario;
    let fired = &d.card.facts.injects_fired;
    let planned: Vec<&str> = scenario
        .attack_steps(fired)
        .map(|s| s.id.as_str())
        .collect();
    html! {
        (detection_summary(d))
        table.response {
            thead { tr {
                th { "Attack step" } th { "Began" } th { "First alert" } th { "Escalated" }
                th { "Contained (par)" } th { "Attempts" }
            } }
            tbody {
                @for id in planned {
                    @match d.attack_steps().find(|s| s.id == id) {
                        Some(run) => (step_row(d, run)),
                        None => tr data-response=(id) {
                            td { b { (id) } } td colspan="3" { span.muted { "did not run" } }
                            td { (containment(d, id, None)) } td { "0" }
                        },
                    }
                }
            }
        }
    }
}

/// Detection is timed for the whole attack: from its first step to the standing escalation.
fn detection_summary(d: &Digest) -> Markup {
    let facts = &d.card.facts;
    let par = d.record.scenario.objectives.detect_par_s;
    let began = d.attack_steps().map(|s| s.first_ms).min();
    html! {
        p.detection {
            @match (began, facts.detected_ms) {
                (None, _) => "No attack step ran.",
                (Some(b), Some(t)) => {
                    "The attack began at " (clock(b)) ". A true alert was escalated (the verdict that stands) at "
                    (clock(t)) ", " (took(t.saturating_sub(b))) " after: "
                    (verdict_span(t.saturating_sub(b) <= u64::from(par) * 1000, &format!("par {par} s")))
                },
                (Some(b), None) => {
                    "The attack began at " (clock(b)) ". "
                    span.bad { "No alert of the attack stands escalated" } " (par was " (par) " s)."
                },
            }
        }
    }
}

fn verdict_span(within: bool, par: &str) -> Markup {
    html! {
        @if within { span.good { "within " (par) } } @else { span.bad { "over " (par) } }
    }
}

fn step_row(d: &Digest, run: &StepRun) -> Markup {
    let about: Vec<&AlertView> = d.alerts.iter().filter(|a| a.step == Some(run.id)).collect();
    let first = about.iter().min_by_key(|a| a.alert.t_ms);
    let escalated = about
        .iter()
        .filter_map(|a| a.escalated().map(|t| (t, a.alert.id)))
        .min();
    let failed = run.attempts.iter().filter(|a| !a.ok).count();
    html! {
        tr data-response=(run.id) {
            td { b { (run.id) } br; span.small { (run.narrative()) } }
            td { (clock(run.first_ms)) }
            td {
                @match first {
                    Some(a) => { a href=(format!("#alert-{}", a.alert.id)) { "#" (a.alert.id) } " at " (since(a.alert.t_ms, run.first_ms)) },
                    // Stopped before it could be seen (blocked at the door): nothing to detect.
                    None if !run.attempts.is_empty() && failed == run.attempts.len() => span.muted { "none: every attempt failed" },
                    None => span.bad { "no alert" },
                }
            }
            td {
                @match (escalated, first) {
                    (Some((t, id)), _) => { (since(t, run.first_ms)) " (#" (id) ")" },
                    (None, None) => span.muted { "—" },
                    (None, Some(_)) => span.bad { "never" },
                }
            }
            td { (containment(d, run.id, Some(run.first_ms))) }
            td {
                (failed) " of " (run.attempts.len()) " failed"
                @if let Some(why) = run.attempts.last().and_then(|a| a.why.as_deref()) {
                    br; span.small { "last: " (why) }
                }
            }
        }
    }
}

/// Whether and when an objective step was contained (the card's fact), against its par.
fn containment(d: &Digest, step: &str, began: Option<Millis>) -> Markup {
    let goals = &d.record.scenario.objectives.contain;
    let Some(goal) = goals.iter().find(|c| c.step == step) else {
        return html! { span.muted { "not an objective" } };
    };
    let par = format!("par {} s", goal.par_s);
    match (
        d.card.facts.contained_ms.get(step).copied().flatten(),
        began,
    ) {
        (Some(t), Some(began)) => {
            let within = t.saturating_sub(began) <= u64::from(goal.par_s) * 1000;
            html! { (since(t, began)) " " (verdict_span(within, &par)) }
        }
        (Some(t), None) => html! { (clock(t)) " (" (par) ")" },
        (None, _) => html! { span.bad { "not contained" } " (" (par) ")" },
    }
}
