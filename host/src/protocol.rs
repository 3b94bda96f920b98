//! The one protocol between a seat and its client, local or remote: serde types, versioned,
//! carried as JSON text frames over WebSocket or as values over an in-process channel.
//!
//! A client only ever receives what the trainee may see (the brief, the live view, the results
//! of its own commands); ground truth (the scenario with its attack timeline) arrives once, in
//! `Over`, with the score card. A client only ever sends `Command`s and session controls.

use bulkhead_engine::format::scenario::{Difficulty, Lesson, Scenario};
use bulkhead_engine::{Backend, Command, LabTimings, ScoreCard, TraineeBrief};
use serde::{Deserialize, Serialize};

use crate::view::Snapshot;

/// Bumped whenever a message changes shape; a client and server of different versions refuse
/// each other at `Hello` with `ErrorKind::Version` rather than misreading frames.
pub const PROTOCOL_VERSION: u32 = 4;

/// The largest frame a client may send. Commands are a few hundred bytes; this leaves room for
/// a long display name and nothing else.
pub const MAX_CLIENT_FRAME: usize = 16 * 1024;

/// The longest display name kept (longer ones are refused, not cut, so nobody is surprised).
pub const MAX_NAME_CHARS: usize = 40;

/// What a client says first on a remote connection (local clients are attached directly).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hello {
    pub protocol: u32,
    /// The seat's join code, as the facilitator handed it out.
    pub code: String,
    /// How the trainee wants to appear on the scoreboard.
    pub name: String,
}

/// How a session's clock runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pace {
    /// The seat's own clock (real time, or the server's time scale).
    #[default]
    Clocked,
    /// The client advances the clock one tick at a time with `Step` and gets a view after each:
    /// scripted practice and tests, where a run must be reproducible. Only labs that can pause
    /// (the simulated lab) accept it.
    Lockstep,
}

/// What a client asks of its seat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMsg {
    /// Open a scenario the seat offers: its brief arrives, its lab comes up.
    Open {
        scenario: String,
        #[serde(default)]
        pace: Pace,
    },
    /// Leave the briefing: the warm-up starts.
    Begin,
    /// A trainee command.
    Command(Command),
    /// Pause or resume (labs that cannot pause refuse).
    TogglePause,
    /// Lockstep only: advance one tick, then send a view.
    Step,
    /// End the live session now and go to the debrief.
    Finish,
    /// Abandon the open session (its lab comes down); the seat stays.
    Close,
}

/// A scenario the seat offers, as a menu lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Offer {
    pub id: String,
    pub title: String,
    pub difficulty: Difficulty,
    pub lessons: Vec<Lesson>,
    /// Session minutes, hardening and warm-up included.
    pub minutes: u32,
}

impl Offer {
    pub fn of(scenario: &Scenario) -> Offer {
        Offer {
            id: scenario.id.clone(),
            title: scenario.title.clone(),
            difficulty: scenario.difficulty,
            lessons: scenario.lessons.clone(),
            minutes: u32::try_from(scenario.total_ms() / 60_000).unwrap_or(u32::MAX),
        }
    }
}

/// What a seat tells its client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerMsg {
    /// On attach (and again on every reconnect): who the seat is and what it offers.
    Welcome {
        protocol: u32,
        seat: u32,
        workshop: String,
        backend: Backend,
        offers: Vec<Offer>,
        /// Session seconds per wall second of the seat's clock (0: as fast as the lab goes).
        time_scale: f64,
        /// How many messages follow at once to bring a (re)joining client up to date with the
        /// session the seat already has open (brief, lab, latest view, score): 0 when none is.
        resume: u32,
    },
    /// A scenario is open: what the trainee may know of it, and the run's seed.
    Opened { brief: Box<TraineeBrief>, seed: u64 },
    /// The open scenario's lab is up: `Begin` may follow. With how long it took.
    LabReady { lab: LabTimings },
    /// The lab could not come up, or failed; the session cannot go on.
    LabFailed(String),
    /// The result of a command, in the order commands were sent.
    Answer {
        command: Command,
        /// `None`: accepted (a mitigation's effect is confirmed later, in the view).
        refused: Option<String>,
    },
    /// Something the trainee should read that answers no command (pause refused, ...).
    Notice(String),
    /// A message from the mentor watching this seat (a hint in their own words).
    Whisper { from: String, text: String },
    /// The live view: sent when it changes, at most the seat's publish rate (every tick in
    /// lockstep).
    View(Box<Snapshot>),
    /// The session is over: the score card and, now that it may be seen, the ground truth.
    Over {
        card: Box<ScoreCard>,
        scenario: Box<Scenario>,
        /// Where the seat keeps the record, when it keeps one (the server's disk).
        record: Option<String>,
        /// The record could not be written completely.
        record_error: Option<String>,
        /// What the lab's teardown reported, if it failed.
        lab_error: Option<String>,
        /// How long the lab took to come up and go down.
        lab: LabTimings,
    },
    /// A message was refused; the connection stays usable unless `kind.is_fatal()`.
    Error { kind: ErrorKind, message: String },
}

/// Why a message or connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The frame was not a message of this protocol.
    Malformed,
    /// The frame was larger than `MAX_CLIENT_FRAME`.
    TooLarge,
    /// Client and server speak different protocol versions.
    Version,
    /// No seat has this join code.
    BadCode,
    /// Another client holds this seat; it must leave (or the facilitator reset the code) first.
    InUse,
    /// Too many join attempts from this address; wait and retry.
    RateLimited,
    /// The name was empty or too long.
    BadName,
    /// The message is valid but makes no sense now (e.g. `Begin` with no scenario open).
    NotNow,
    /// The facilitator reset this seat's code, or the server is stopping.
    Closed,
}

impl ErrorKind {
    /// Whether the server closes the connection after sending this error.
    pub fn is_fatal(self) -> bool {
        matches!(
            self,
            ErrorKind::Version
                | ErrorKind::BadCode
                | ErrorKind::InUse
                | ErrorKind::RateLimited
                | ErrorKind::BadName
                | ErrorKind::Closed
        )
    }
}

impl ServerMsg {
    pub fn error(kind: ErrorKind, message: impl Into<String>) -> ServerMsg {
        ServerMsg::Error {
            kind,
            message: message.into(),
        }
    }
}

/// A frame that is not a message of this protocol.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("frame of {0} bytes is larger than the {MAX_CLIENT_FRAME} allowed")]
    TooLarge(usize),
    #[error("not a message of protocol {PROTOCOL_VERSION}: {0}")]
    Malformed(#[from] serde_json::Error),
}

impl DecodeError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            DecodeError::TooLarge(_) => ErrorKind::TooLarge,
            DecodeError::Malformed(_) => ErrorKind::Malformed,
        }
    }
}

/// Read a client frame (a `Hello` or a `ClientMsg`), refusing oversized ones before parsing.
pub fn decode_client<T: for<'de> Deserialize<'de>>(frame: &str) -> Result<T, DecodeError> {
    if frame.len() > MAX_CLIENT_FRAME {
        return Err(DecodeError::TooLarge(frame.len()));
    }
    Ok(serde_json::from_str(frame)?)
}

/// Read a server frame.
pub fn decode_server(frame: &str) -> Result<ServerMsg, serde_json::Error> {
    serde_json::from_str(frame)
}

/// Write a message as a text frame.
pub fn encode<T: Serialize>(msg: &T) -> String {
    // The protocol's types hold only strings, numbers and maps with string keys: they always
    // serialise; the fallback keeps a broken invariant from becoming a panic.
    serde_json::to_string(msg)
        .unwrap_or_else(|e| encode_error(ErrorKind::Malformed, &format!("could not encode: {e}")))
}

fn encode_error(kind: ErrorKind, message: &str) -> String {
    serde_json::json!({ "error": { "kind": kind, "message": message } }).to_string()
}

/// Check a display name: trimmed, not empty, at most `MAX_NAME_CHARS`, no control characters.
pub fn check_name(name: &str) -> Result<String, String> {
    let name = name.trim();
    if name.is_empty() {
        return Err("give a display name (it shows on the scoreboard)".into());
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(format!(
            "the name is longer than {MAX_NAME_CHARS} characters"
        ));
    }
    if name.chars().any(char::is_control) {
        return Err("the name holds control characters".into());
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bulkhead_engine::Verdict;
    use bulkhead_engine::action::AlertRef;

    #[test]
    fn client_messages_round_trip_as_json() {
        let msgs = [
            ClientMsg::Open {
                scenario: "stolen-credentials".into(),
                pace: Pace::Lockstep,
            },
            ClientMsg::Begin,
            ClientMsg::Command(Command::Triage {
                alert: AlertRef::Id(3),
                verdict: Verdict::Incident,
            }),
            ClientMsg::Step,
        ];
        for msg in msgs {
            let back: ClientMsg = decode_client(&encode(&msg)).unwrap();
            assert_eq!(back, msg);
        }
    }

    #[test]
    fn open_without_a_pace_is_clocked() {
        let msg: ClientMsg = decode_client(r#"{"open":{"scenario":"x"}}"#).unwrap();
        assert_eq!(
            msg,
            ClientMsg::Open {
                scenario: "x".into(),
                pace: Pace::Clocked
            }
        );
    }

    #[test]
    fn oversized_and_malformed_frames_are_told_apart() {
        let big = format!("\"{}\"", "a".repeat(MAX_CLIENT_FRAME));
        assert_eq!(
            decode_client::<ClientMsg>(&big).unwrap_err().kind(),
            ErrorKind::TooLarge
        );
        for bad in [
            "",
            "{",
            "{\"open\":{}}",
            "\"begin\" junk",
            "{\"unknown\":1}",
        ] {
            assert_eq!(
                decode_client::<ClientMsg>(bad).unwrap_err().kind(),
                ErrorKind::Malformed,
                "{bad}"
            );
        }
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(check_name("  Ada ").unwrap(), "Ada");
        assert!(check_name("   ").is_err());
        assert!(check_name(&"x".repeat(MAX_NAME_CHARS + 1)).is_err());
        assert!(check_name("a\u{7}b").is_err());
    }

    proptest::proptest! {
        #[test]
        fn no_client_frame_panics_the_decoder(frame in ".{0,200}") {
            let _ = decode_client::<ClientMsg>(&frame);
            let _ = decode_client::<Hello>(&frame);
        }

        #[test]
        fn no_server_frame_panics_the_decoder(frame in ".{0,200}") {
            let _ = decode_server(&frame);
        }
    }
}
