//! Per-trainee variants: choices a scenario draws from the session's seed (the attacker's
//! source from a pool, the compromised identity from candidates, ...) and a start-time jitter,
//! so that in a workshop the answer does not spread by word of mouth. The same scenario and
//! seed always give the same variant.
//!
//! A choice's candidates are small records of named values; any text of the scenario names
//! them as `{choice.field}` (an attack step's source, an objective, the debrief alike).
//! Resolving writes every placeholder out and shifts the attack, giving a plain scenario that
//! the lab, detector, scoring and debrief use unchanged; it declares no variants any more, so
//! resolving again changes nothing.

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::scenario::Scenario;

/// What a scenario may vary from one seed to the next.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variants {
    #[serde(default)]
    pub choices: Vec<Choice>,
    /// The attack starts up to this many seconds later than written (every step and repeat
    /// shifted alike, so its own rhythm holds). Decoys keep their times.
    #[serde(default)]
    pub jitter_s: u32,
}

impl Variants {
    pub fn is_empty(&self) -> bool {
        self.choices.is_empty() && self.jitter_s == 0
    }
}

/// One choice: an id and the candidates it picks one of, each a record of named values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Choice {
    pub id: String,
    pub candidates: Vec<BTreeMap<String, String>>,
}

/// One variant: the candidate picked for each choice, and the attack's delay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pick {
    pub candidates: Vec<usize>,
    pub delay_s: u32,
}

/// Salt of the variant's random stream, so that it draws independently of the lab's.
const VARIANT_SALT: u64 = 0x0FA2_1A27;

impl Pick {
    /// The variant of `seed`.
    pub fn of_seed(variants: &Variants, seed: u64) -> Pick {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ VARIANT_SALT);
        let candidates = variants
            .choices
            .iter()
            .map(|c| rng.random_range(0..c.candidates.len().max(1)))
            .collect();
        let delay_s = rng.random_range(0..=variants.jitter_s);
        Pick {
            candidates,
            delay_s,
        }
    }

    /// Every variant the validator must check: each combination of candidates, with the
    /// attack on time and at its latest. `None` when there are more than `limit`.
    pub fn all(variants: &Variants, limit: usize) -> Option<Vec<Pick>> {
        let delays = if variants.jitter_s == 0 {
            vec![0]
        } else {
            vec![0, variants.jitter_s]
        };
        let mut combos: Vec<Vec<usize>> = vec![Vec::new()];
        for choice in &variants.choices {
            let n = choice.candidates.len().max(1);
            if combos.len().saturating_mul(n).saturating_mul(delays.len()) > limit {
                return None;
            }
            combos = combos
                .into_iter()
                .flat_map(|c| {
                    (0..n).map(move |i| {
                        let mut next = c.clone();
                        next.push(i);
                        next
                    })
                })
                .collect();
        }
        Some(
            combos
                .into_iter()
                .flat_map(|candidates| {
                    delays.iter().map(move |&delay_s| Pick {
                        candidates: candidates.clone(),
                        delay_s,
                    })
                })
                .collect(),
        )
    }
}

/// Why a scenario could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VariantError {
    #[error("{{{0}}} names no field of a declared choice")]
    UnknownPlaceholder(String),
    /// The scenario did not survive the round trip through its own form (a bug, not input).
    #[error("the scenario could not be resolved: {0}")]
    Internal(String),
}

/// The scenario of `seed`: placeholders written out, the attack shifted.
pub fn resolve(scenario: &Scenario, seed: u64) -> Result<Scenario, VariantError> {
    resolve_pick(scenario, &Pick::of_seed(&scenario.variants, seed))
}

/// The scenario of one variant.
pub fn resolve_pick(scenario: &Scenario, pick: &Pick) -> Result<Scenario, VariantError> {
    if scenario.variants.is_empty() {
        return Ok(scenario.clone());
    }
    let mut bindings = BTreeMap::new();
    for (choice, &i) in scenario.variants.choices.iter().zip(&pick.candidates) {
        if let Some(candidate) = choice.candidates.get(i) {
            for (field, value) in candidate {
                bindings.insert(format!("{}.{field}", choice.id), value.clone());
            }
        }
    }
    let mut plain = scenario.clone();
    plain.variants = Variants::default();
    let mut tree =
        serde_json::to_value(&plain).map_err(|e| VariantError::Internal(e.to_string()))?;
    let mut unknown = None;
    write_out(&mut tree, &bindings, &mut unknown);
    if let Some(name) = unknown {
        return Err(VariantError::UnknownPlaceholder(name));
    }
    let mut resolved: Scenario =
        serde_json::from_value(tree).map_err(|e| VariantError::Internal(e.to_string()))?;
    for step in &mut resolved.attack {
        step.at_s = step.at_s.saturating_add(pick.delay_s);
        if let Some(repeat) = &mut step.repeat {
            repeat.until_s = repeat.until_s.saturating_add(pick.delay_s);
        }
    }
    Ok(resolved)
}

/// Replace every `{choice.field}` in every string of `value`; the first placeholder with no
/// binding goes to `unknown`.
fn write_out(value: &mut Value, bindings: &BTreeMap<String, String>, unknown: &mut Option<String>) {
    match value {
        Value::String(text) if text.contains('{') => {
            *text = substitute(text, bindings, unknown);
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|v| write_out(v, bindings, unknown)),
        Value::Object(fields) => fields
            .values_mut()
            .for_each(|v| write_out(v, bindings, unknown)),
        _ => {}
    }
}

/// `text` with its placeholders written out. Braces around anything that is not a
/// placeholder name (`word.word`, lower case, digits, `_` and `-`) stay as they are.
pub fn substitute(
    text: &str,
    bindings: &BTreeMap<String, String>,
    unknown: &mut Option<String>,
) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) if is_placeholder(&after[..close]) => {
                let name = &after[..close];
                match bindings.get(name) {
                    Some(value) => out.push_str(value),
                    None => {
                        unknown.get_or_insert_with(|| name.to_owned());
                        out.push_str(&rest[open..open + close + 2]);
                    }
                }
                rest = &after[close + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn is_placeholder(name: &str) -> bool {
    let word = |w: &str| {
        !w.is_empty()
            && w.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
    };
    name.split_once('.')
        .is_some_and(|(choice, field)| word(choice) && word(field))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn bindings() -> BTreeMap<String, String> {
        BTreeMap::from([("attacker.source".to_owned(), "203.0.113.9".to_owned())])
    }

    #[test]
    fn placeholders_are_written_out_and_other_braces_kept() {
        let mut unknown = None;
        let text = "from {attacker.source}; {not a placeholder} {x} {attacker.source}";
        assert_eq!(
            substitute(text, &bindings(), &mut unknown),
            "from 203.0.113.9; {not a placeholder} {x} 203.0.113.9"
        );
        assert_eq!(unknown, None);
        substitute("as {victim.identity}", &bindings(), &mut unknown);
        assert_eq!(unknown.as_deref(), Some("victim.identity"));
    }

    #[test]
    fn every_combination_and_both_ends_of_the_jitter_are_listed() {
        let choice = |n: usize| Choice {
            id: "c".into(),
            candidates: vec![BTreeMap::new(); n],
        };
        let variants = Variants {
            choices: vec![choice(3), choice(2)],
            jitter_s: 20,
        };
        let all = Pick::all(&variants, 100).unwrap();
        assert_eq!(all.len(), 3 * 2 * 2);
        assert!(all.contains(&Pick {
            candidates: vec![2, 1],
            delay_s: 20
        }));
        assert_eq!(Pick::all(&variants, 11), None, "over the limit");
    }

    proptest! {
        #[test]
        fn substitution_never_panics_and_leaves_text_without_placeholders_alone(
            text in "[^{}]{0,60}",
            noisy in ".{0,80}",
        ) {
            let mut unknown = None;
            prop_assert_eq!(substitute(&text, &bindings(), &mut unknown), text);
            let _ = substitute(&noisy, &bindings(), &mut unknown);
        }

        #[test]
        fn a_seed_always_picks_the_same_variant_within_bounds(seed in any::<u64>(), jitter in 0u32..600) {
            let variants = Variants {
                choices: vec![Choice { id: "a".into(), candidates: vec![BTreeMap::new(); 3] }],
                jitter_s: jitter,
            };
            let pick = Pick::of_seed(&variants, seed);
            prop_assert_eq!(&pick, &Pick::of_seed(&variants, seed));
            prop_assert!(pick.candidates[0] < 3 && pick.delay_s <= jitter);
        }
    }
}
