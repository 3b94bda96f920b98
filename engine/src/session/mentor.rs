//! What a mentor or facilitator may do to a running session: fire one of the scenario's
//! injects, whisper to the trainee, reveal the next hint on their behalf, give the live phase
//! more time. Each accepted act is written to the record as a `RecordLine::Mentor`, so scoring
//! (a pure function of scenario + record) and the debrief see it as the live session did. A
//! refused act changes nothing and is not recorded: the caller shows the refusal.

use serde::{Deserialize, Serialize};

use super::{Phase, Refused, Session, schedule};
use crate::format::scenario::{Hint, Scenario};
use crate::observation::Millis;
use crate::record::{MentorAct, RecordLine};

/// Longest whisper kept, in characters: a nudge, not a walkthrough.
pub const WHISPER_MAX_CHARS: usize = 500;
/// Most one whisper may cost: never more than the whole score.
pub const WHISPER_MAX_COST: u32 = crate::score::MAX_SCORE;
/// Longest single extension of the live phase, in seconds.
pub const EXTEND_MAX_S: u32 = 3600;
/// Longest name kept for who did an act (a record line is not the place for an essay).
const BY_MAX_CHARS: usize = 64;

/// A message a mentor sent the trainee: theirs to read (unlike the truth a mentor sees).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Whisper {
    pub t_ms: Millis,
    pub by: String,
    pub text: String,
    /// Points it costs, deducted under hints (0: free).
    pub cost: u32,
}

impl Session {
    /// Fire the scenario's inject `id` now: its steps run from this moment on, attack steps as
    /// the attack and decoys as decoys. Live phase only, each inject at most once.
    pub fn inject(&mut self, id: &str, by: &str) -> Result<(), Refused> {
        if self.phase != Phase::Live {
            return Err(Refused(format!(
                "injects fire only in the live phase; the session is in its {}",
                self.phase.title().to_lowercase()
            )));
        }
        let scenario = self.scenario.clone();
        let Some(inject) = scenario.inject(id) else {
            return Err(unknown_inject(&scenario, id));
        };
        if self.injects_fired.iter().any(|f| f == id) {
            return Err(Refused(format!("inject \"{id}\" was already fired")));
        }
        let now = self.now;
        let added = schedule(&inject.attack, true, now).chain(schedule(&inject.decoys, false, now));
        self.timeline.extend(added);
        // Entries before `next_step` have run, and every new one is due at `now` or later: a
        // stable sort of the rest keeps the timeline in order (ties keep their order) and runs
        // nothing twice.
        self.timeline[self.next_step..].sort_by_key(|s| s.t_ms);
        self.injects_fired.push(inject.id.clone());
        self.mentor(
            by,
            MentorAct::Inject {
                id: inject.id.clone(),
            },
        );
        Ok(())
    }

    /// Tell the trainee something, in any phase before the session is over. The text is
    /// trimmed and cut to `WHISPER_MAX_CHARS` characters; an empty one, or one sent once the
    /// session is over, is dropped. A cost (at most `WHISPER_MAX_COST`) is deducted under
    /// hints, like a hint's.
    pub fn whisper(&mut self, text: String, cost: u32, by: &str) {
        let cut: String = text.trim().chars().take(WHISPER_MAX_CHARS).collect();
        let text = cut.trim_end().to_string();
        if self.is_over() || text.is_empty() {
            return;
        }
        let cost = cost.min(WHISPER_MAX_COST);
        let by = name(by);
        self.whispers.push(Whisper {
            t_ms: self.now,
            by: by.clone(),
            text: text.clone(),
            cost,
        });
        self.mentor(&by, MentorAct::Whisper { text, cost });
    }

    /// Reveal the next hint on the trainee's behalf: the same hint, effect and cost as the
    /// trainee's `Command::Hint`, recorded as the mentor's. Any phase before the session is over.
    pub fn reveal_hint(&mut self, by: &str) -> Result<Hint, Refused> {
        if self.is_over() {
            return Err(Refused("the session is over".into()));
        }
        let index = self.hints_used;
        let Some(hint) = self.scenario.hints.get(index).cloned() else {
            return Err(Refused("no hints left".into()));
        };
        self.hints_used += 1;
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        self.mentor(by, MentorAct::RevealHint { index });
        Ok(hint)
    }

    /// Make the live phase `seconds` longer (1 to `EXTEND_MAX_S`), during the warm-up or the
    /// live phase: the session then ends that much later.
    pub fn extend_live(&mut self, seconds: u32, by: &str) -> Result<(), Refused> {
        if !matches!(self.phase, Phase::Warmup | Phase::Live) {
            return Err(Refused(format!(
                "the live phase can be extended during the warm-up or the live phase, not the {}",
                self.phase.title().to_lowercase()
            )));
        }
        if !(1..=EXTEND_MAX_S).contains(&seconds) {
            return Err(Refused(format!(
                "extend by 1 to {EXTEND_MAX_S} seconds, not {seconds}"
            )));
        }
        self.extended_ms += u64::from(seconds) * 1000;
        self.mentor(by, MentorAct::Extend { seconds });
        Ok(())
    }

    /// Ids of the injects fired so far, in order (a mentor's screen greys their buttons).
    pub fn injects_fired(&self) -> &[String] {
        &self.injects_fired
    }

    /// Whispers sent so far, in order: the trainee's to read.
    pub fn whispers(&self) -> &[Whisper] {
        &self.whispers
    }

    /// Seconds a facilitator added to the live phase.
    pub fn extended_s(&self) -> u64 {
        self.extended_ms / 1000
    }

    fn mentor(&mut self, by: &str, act: MentorAct) {
        self.write(RecordLine::Mentor {
            t_ms: self.now,
            by: name(by),
            act,
        });
    }
}

fn unknown_inject(scenario: &Scenario, id: &str) -> Refused {
    if scenario.injects.is_empty() {
        return Refused(format!(
            "no inject \"{id}\": scenario \"{}\" has none",
            scenario.id
        ));
    }
    let known: Vec<&str> = scenario.injects.iter().map(|i| i.id.as_str()).collect();
    Refused(format!(
        "no inject \"{id}\"; this scenario's injects: {}",
        known.join(", ")
    ))
}

/// Who did an act, trimmed and kept short.
fn name(by: &str) -> String {
    by.trim().chars().take(BY_MAX_CHARS).collect()
}
