//! The score card as the debrief shows it: total, grade and badges, every component with every
//! line of explanation, the measured facts behind the points, and the table of every alert with
//! what it turned out to be.

use bulkhead_engine::ScoreCard;
use maud::{Markup, html};

use crate::digest::{AlertView, Digest};
use crate::svg::{clock, took};
use crate::timeline::{truth_class, truth_word};

pub fn summary(card: &ScoreCard) -> Markup {
    html! {
        div.summary {
            div.total {
                span #score-total data-total=(card.total) { (card.total) }
                span.max { " / " (card.max) }
            }
            div class=(format!("grade grade-{}", card.grade)) #score-grade { (card.grade) }
            ul.badges {
                @for b in &card.badges {
                    li.badge data-badge=(b.id) { b { (b.title) } " " span.small { (b.why) } }
                }
                @if card.badges.is_empty() { li.muted { "No badge earned." } }
            }
        }
    }
}

pub fn components(card: &ScoreCard) -> Markup {
    html! {
        table.card {
            @for c in &card.components {
                tbody.component data-component=(c.key) {
                    tr.head {
                        th { (c.title) }
                        td.points { (c.points) @if c.max > 0 { " / " (c.max) } }
                        td.meter { (meter(c.points, c.max)) }
                    }
                    @for l in &c.lines {
                        tr.line {
                            td {}
                            td class=(points_class(l.points)) { (signed(l.points)) }
                            td.text { (l.text) }
                        }
                    }
                }
            }
        }
        @if !card.refused.is_empty() {
            h3 { "Commands the session refused" }
            ul {
                @for r in &card.refused {
                    li { (clock(r.t_ms)) " " b { (r.command) } ": " (r.why) }
                }
            }
        }
        @if let Some(why) = &card.partial {
            p.partial { b { "Partial score: " } "the session ended before its time (" (why) ")." }
        }
        @if !card.faults.is_empty() {
            h3 { "Faults of the range" }
            ul.faults {
                @for f in &card.faults {
                    li { (clock(f.t_ms)) " " (f.text) }
                }
            }
        }
    }
}

fn points_class(points: i32) -> &'static str {
    match points {
        ..0 => "points neg",
        0 => "points zero",
        _ => "points",
    }
}

fn signed(points: i32) -> String {
    if points > 0 {
        format!("+{points}")
    } else {
        points.to_string()
    }
}

/// A bar of points against the maximum (none for hints, which only cost).
fn meter(points: i32, max: u32) -> Markup {
    if max == 0 {
        return html! {};
    }
    let share = (f64::from(points.max(0)) / f64::from(max)).min(1.0) * 100.0;
    html! {
        span.meter-track { span.meter-fill style=(format!("width: {share:.0}%")) {} }
    }
}

/// The facts behind the points, as measured.
pub fn facts(d: &Digest) -> Markup {
    let f = &d.card.facts;
    let pct = |v: f64| format!("{:.1} %", v * 100.0);
    html! {
        dl.facts {
            dt { "Attacker attempts" } dd { (f.attack_attempts) " (" (f.attack_successes) " worked, " (f.attack_failures_caused) " failed because of your mitigations)" }
            dt { "Records lost" } dd { (f.records_lost) " of " (f.records_at_risk) " at risk" }
            dt { "Benign success" } dd { (pct(f.benign_success_live)) " live, " (pct(f.benign_success_warmup)) " in the warm-up; " (f.benign_failures_caused) " broken by your mitigations" }
            dt { "Alerts (live)" } dd { (f.true_alerts) " of the attack, " (f.false_alerts) " not; " (f.alerts_triaged) " triaged" }
            dt { "False escalations" } dd { (f.false_escalations) }
            dt { "Innocents restricted" } dd { (f.innocents_mitigated) }
            @if f.extended_s > 0 { dt { "Time added" } dd { (took(f.extended_s * 1000)) } }
            @if !f.injects_fired.is_empty() { dt { "Injects fired" } dd { (f.injects_fired.join(", ")) } }
        }
    }
}

/// Every alert of the record, in order, with the verdict that stands.
pub fn alerts(d: &Digest) -> Markup {
    html! {
        @if d.alerts.is_empty() {
            p.muted { "No alert fired in this session." }
        } @else {
            table.alerts {
                thead { tr {
                    th { "#" } th { "At" } th { "Severity" } th { "Alert" } th { "About" }
                    th { "It was" } th { "Verdict (standing)" }
                } }
                tbody { @for a in &d.alerts { (alert_row(a)) } }
            }
        }
    }
}

fn alert_row(a: &AlertView) -> Markup {
    let al = a.alert;
    html! {
        tr id=(format!("alert-{}", al.id)) data-alert-row=(al.id) {
            td { (al.id) }
            td { (clock(al.t_ms)) @if !a.live { br; span.small { "warm-up, not scored" } } }
            td { span class=(format!("sev sev-{:?}", al.severity).to_lowercase()) { (format!("{:?}", al.severity)) } }
            td {
                b { (al.title) } br;
                span.small { code { (al.rule) } " · " (al.evidence) }
                @if !al.baseline.is_empty() { br; span.small { "baseline: " (al.baseline) } }
                @if !al.mitre.is_empty() { br; span.small { "MITRE ATT&CK " (al.mitre.join(", ")) } }
            }
            td { (al.entity) }
            td { span class=(format!("truth {}", truth_class(a.truth))) { (truth_word(a.truth)) }
                @if let Some(step) = a.step { br; span.small { "step " (step) } } }
            td {
                @match a.standing() {
                    Some((t, v)) => { (v.word()) " at " (clock(t)) @if a.verdicts.len() > 1 { br; span.small { "after " (a.verdicts.len() - 1) " earlier verdict(s)" } } },
                    None => span.muted { "untriaged" },
                }
            }
        }
    }
}
