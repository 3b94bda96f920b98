//! Posture: what the trainee fixed in the hardening phase, read from the record's audits. A
//! weakness counts as fixed when the audit at the end of the phase no longer finds it (the
//! lab's word, checked by inspection, not the trainee's claim). Each real weakness earns a
//! share of the points, twice as much when an attack step exploits it. "Fixing" a risk the
//! business accepted is scored apart, as a cost with no floor (as hints are): it breaks what
//! the business said it needs, and a posture component floored at 0 would hide it. A real fix
//! whose cost the scenario declares keeps its points; its line says what it cost. Either way
//! the business's attempts that failed on the fix are counted here (where they came from) and
//! under collateral (what they cost). Only scenarios with a hardening phase have these
//! components.

use std::collections::BTreeSet;

use crate::action::{Cause, Origin};
use crate::format::scenario::Scenario;
use crate::observation::Millis;
use crate::phase::Phase;
use crate::posture::{Finding, WeaknessRef};
use crate::record::RecordLine;

use super::{Facts, POSTURE, ScoreLine, line};

/// What "fixing" an accepted risk costs: the business's loss, not a missed finding.
pub(super) const ACCEPTED_FIXED_COST: f64 = 50.0;

/// The audits of the hardening phase: the first, and the last by its end (or by `upto`).
fn audits(lines: &[RecordLine], upto: Millis) -> Option<(Vec<Finding>, Vec<Finding>)> {
    let end = lines
        .iter()
        .find_map(|l| match l {
            RecordLine::Phase {
                t_ms,
                phase: Phase::Warmup,
            } => Some(*t_ms),
            _ => None,
        })
        .unwrap_or(Millis::MAX)
        .min(upto);
    let mut posture = lines.iter().filter_map(|l| match l {
        RecordLine::Posture { t_ms, findings } if *t_ms <= end => Some(findings),
        _ => None,
    });
    let first = posture.next()?.clone();
    let last = posture
        .next_back()
        .cloned()
        .unwrap_or_else(|| first.clone());
    Some((first, last))
}

/// The posture component's lines, and the accepted risks' (costs only).
pub(super) fn score(
    scenario: &Scenario,
    lines: &[RecordLine],
    upto: Millis,
    facts: &mut Facts,
) -> (Vec<ScoreLine>, Vec<ScoreLine>) {
    let Some((first, last)) = audits(lines, upto) else {
        let none = line(0.0, "no audit of the lab was recorded: nothing to score");
        return (vec![none], Vec::new());
    };
    let found_at =
        |audit: &[Finding]| -> BTreeSet<WeaknessRef> { audit.iter().map(Finding::of).collect() };
    let (before, after) = (found_at(&first), found_at(&last));
    let real: Vec<WeaknessRef> = (scenario.weaknesses.iter())
        .map(|w| w.of())
        .filter(|w| scenario.accepted_risk(w).is_none())
        .collect();
    let weight = |w: &WeaknessRef| {
        if exploited_by(scenario, w).is_empty() {
            1.0
        } else {
            2.0
        }
    };
    let total: f64 = real.iter().map(weight).sum();
    facts.weaknesses_real = real.len() as u32;
    // Whole points by cumulative rounding: the shares of all real weaknesses add up to exactly
    // POSTURE (rounding each share alone could make 201, and a ceiling line to take it back).
    let mut weight_so_far = 0.0;
    let mut share = |w: &WeaknessRef| {
        let upto = |weight: f64| (POSTURE * weight / total.max(1.0)).round();
        let before = upto(weight_so_far);
        weight_so_far += weight(w);
        upto(weight_so_far) - before
    };
    let mut out = Vec::new();
    for w in &real {
        let points = share(w);
        let used = tried(lines, upto, &exploited_by(scenario, w), w);
        if !before.contains(w) {
            out.push(line(
                0.0,
                format!("{w}: the lab's audit never found it{used}"),
            ));
        } else if after.contains(w) {
            out.push(line(0.0, format!("{w}: left as it was{used}")));
        } else {
            facts.weaknesses_fixed += 1;
            // A fix worth making may still cost the business something the scenario names;
            // the failed attempts count under collateral, this says where they came from.
            let cost = (scenario.hardening.as_ref())
                .and_then(|h| h.collateral_of(w))
                .map(|c| format!("; what it cost: {}{}", c.breaks, broken(lines, upto, w)))
                .unwrap_or_default();
            out.push(line(
                points,
                format!("{w}: fixed in the hardening phase{used}{cost}"),
            ));
        }
    }
    let accepted = accepted_lines(scenario, lines, upto, (&before, &after), facts);
    (out, accepted)
}

/// The attack steps (an inject's included) that exploit a weakness.
fn exploited_by<'a>(scenario: &'a Scenario, w: &WeaknessRef) -> Vec<&'a str> {
    let injected = scenario.injects.iter().flat_map(|i| &i.attack);
    (scenario.attack.iter().chain(injected))
        .filter(|s| s.exploits.as_ref() == Some(w))
        .map(|s| s.id.as_str())
        .collect()
}

/// What the attack tried against a weakness: its steps' attempts by `upto`, and how many of
/// them failed on the trainee's fix of it (nothing to say when no step exploits it).
fn tried(lines: &[RecordLine], upto: Millis, steps: &[&str], w: &WeaknessRef) -> String {
    if steps.is_empty() {
        return String::new();
    }
    let attempts = effects_by(
        lines,
        upto,
        |origin| matches!(origin, Origin::Attack { step } if steps.contains(&step.as_str())),
    );
    let held = failed_on_the_fix(lines, upto, &attempts, w);
    let by = steps.join(", ");
    match (attempts.len(), held) {
        (0, _) => format!("; the attack's {by} needed it, and had not tried yet"),
        (1, 0) => format!("; the attack's {by} used it (1 attempt)"),
        (n, 0) => format!("; the attack's {by} used it ({n} attempts)"),
        (1, _) => format!("; the attack's {by} tried it once and the fix held"),
        (n, held) if held == n => {
            format!("; the attack's {by} tried it {n} times and the fix held every time")
        }
        (n, held) => format!(
            "; the attack's {by} tried it {n} times: {} before the fix, {held} failed on it",
            n.saturating_sub(held)
        ),
    }
}

/// The business's own attempts (benign traffic, calendar events) that failed on the fix of a
/// weakness it relies on (an accepted risk, a fix with a declared cost) by `upto`: the lab's
/// word that the fix broke what the business needs. They count under collateral too; this
/// says where that came from.
fn broken(lines: &[RecordLine], upto: Millis, w: &WeaknessRef) -> String {
    let business = effects_by(lines, upto, |origin| {
        matches!(origin, Origin::Benign | Origin::Decoy { .. })
    });
    match failed_on_the_fix(lines, upto, &business, w) {
        0 => String::new(),
        1 => " (1 of the business's attempts failed on it)".into(),
        n => format!(" ({n} of the business's attempts failed on it)"),
    }
}

/// The effects issued by `upto` whose origin `from` picks.
fn effects_by(lines: &[RecordLine], upto: Millis, from: impl Fn(&Origin) -> bool) -> BTreeSet<u64> {
    (lines.iter())
        .filter_map(|l| match l {
            RecordLine::Effect { t_ms, effect } if *t_ms <= upto && from(&effect.origin) => {
                Some(effect.id)
            }
            _ => None,
        })
        .collect()
}

/// How many of `effects` failed, by `upto`, because the trainee fixed `w`. Distinct effects: a
/// record read back may hold anything, and scoring never panics.
fn failed_on_the_fix(
    lines: &[RecordLine],
    upto: Millis,
    effects: &BTreeSet<u64>,
    w: &WeaknessRef,
) -> usize {
    let on_the_fix = Some(Cause::Fixed {
        service: w.service.clone(),
        weakness: w.weakness,
    });
    let failed: BTreeSet<u64> = (lines.iter())
        .filter_map(|l| match l {
            RecordLine::Outcome(o)
                if o.t_ms <= upto && effects.contains(&o.effect) && o.cause == on_the_fix =>
            {
                Some(o.effect)
            }
            _ => None,
        })
        .collect();
    failed.len()
}

/// The accepted risks: a cost for each one "fixed" anyway, else a line saying it was kept.
fn accepted_lines(
    scenario: &Scenario,
    lines: &[RecordLine],
    upto: Millis,
    (before, after): (&BTreeSet<WeaknessRef>, &BTreeSet<WeaknessRef>),
    facts: &mut Facts,
) -> Vec<ScoreLine> {
    let mut accepted = Vec::new();
    for risk in scenario.hardening.iter().flat_map(|h| &h.accepted) {
        let w = risk.of();
        if before.contains(&w) && !after.contains(&w) {
            facts.accepted_risks_fixed += 1;
            accepted.push(line(
                -ACCEPTED_FIXED_COST,
                format!(
                    "{w}: \"fixed\", but the business accepted it ({}); now {}{}",
                    risk.reason.trim_end_matches('.'),
                    risk.breaks,
                    broken(lines, upto, &w)
                ),
            ));
        } else {
            accepted.push(line(0.0, format!("{w}: kept, as the business asked")));
        }
    }
    accepted
}
