//! The session record: JSON Lines, one line per observation, alert, command, effect and mentor
//! act, appended and flushed as it happens. Scoring is a pure function of scenario + record.

use std::io::{BufRead, Write};

use serde::{Deserialize, Serialize};

use crate::action::{Command, Effect, Outcome};
use crate::detector::Alert;
use crate::format::scenario::Scenario;
use crate::format::topology::Topology;
use crate::lab::Backend;
pub use crate::lab::LabFault;
use crate::observation::{Millis, Observation};
use crate::phase::Phase;
use crate::posture::Finding;

mod writer;

pub use writer::{BACKLOG_MAX_BYTES, RecordHealth, RecordState, RecordWriter};

/// The record format this version writes; it reads every version up to it. 2: a container's
/// lifecycle may say the lab `restored` it (a version 1 reader would not know the word). 3: a
/// `fault` line says when the lab could not be reached and the session held its clock. 4: a
/// `posture` line holds an audit of the lab, and a scenario may have a hardening phase.
pub const RECORD_VERSION: u32 = 4;

/// One line of a record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum RecordLine {
    /// First line: everything needed to score the record without the data files.
    Header {
        record_version: u32,
        seed: u64,
        backend: Backend,
        scenario: Box<Scenario>,
        topology: Box<Topology>,
        /// `content_hash` of the scenario as played (its variant resolved) and of the topology:
        /// what `report` compares with the files installed now. Absent in older records.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        scenario_sha256: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        topology_sha256: Option<String>,
    },
    Phase {
        t_ms: Millis,
        phase: Phase,
    },
    Observation(Observation),
    Alert(Alert),
    Command {
        t_ms: Millis,
        command: Command,
        /// Why the session refused it, when it did.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        refused: Option<String>,
    },
    Effect {
        t_ms: Millis,
        effect: Effect,
    },
    Outcome(Outcome),
    /// Something a mentor or facilitator did to the session (accepted acts only): scoring and
    /// the debrief read it, so a record rescores the same as the live session.
    Mentor {
        t_ms: Millis,
        /// Who did it, as the server or the CLI names them (may be empty).
        by: String,
        act: MentorAct,
    },
    /// The lab could not be reached, answered again, or was lost: what the score card names.
    Fault {
        t_ms: Millis,
        fault: LabFault,
    },
    /// A posture audit of the running lab: at the start and the end of the hardening phase,
    /// and after each fix the lab confirmed.
    Posture {
        t_ms: Millis,
        findings: Vec<Finding>,
    },
}

impl RecordLine {
    /// When the line happened, in session time (the header has no time).
    pub fn t_ms(&self) -> Option<Millis> {
        match self {
            RecordLine::Header { .. } => None,
            RecordLine::Phase { t_ms, .. }
            | RecordLine::Command { t_ms, .. }
            | RecordLine::Effect { t_ms, .. }
            | RecordLine::Mentor { t_ms, .. }
            | RecordLine::Fault { t_ms, .. }
            | RecordLine::Posture { t_ms, .. } => Some(*t_ms),
            RecordLine::Observation(o) => Some(o.t_ms),
            RecordLine::Alert(a) => Some(a.t_ms),
            RecordLine::Outcome(o) => Some(o.t_ms),
        }
    }
}

/// What a mentor (or, for `Extend`, a facilitator) did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum MentorAct {
    /// Fired the scenario's inject of that id: its steps run from this moment on.
    Inject { id: String },
    /// Told the trainee something; a cost above 0 is deducted under hints.
    Whisper { text: String, cost: u32 },
    /// Revealed the scenario's hint at this index (from 0) on the trainee's behalf, at the
    /// same cost as if the trainee had asked for it.
    RevealHint { index: u32 },
    /// Made the live phase this much longer.
    Extend { seconds: u32 },
}

/// A record kept in memory, for a session whose record is read back in the same process (tests,
/// examples): clones share the bytes, so the session writes through one while another reads.
#[derive(Debug, Clone, Default)]
pub struct MemoryRecord(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl MemoryRecord {
    /// A writer that appends to these bytes.
    pub fn writer(&self) -> RecordWriter {
        RecordWriter::new(Box::new(self.clone()))
    }

    /// What was written so far.
    pub fn bytes(&self) -> Vec<u8> {
        self.0.lock().map(|b| b.clone()).unwrap_or_default()
    }
}

impl Write for MemoryRecord {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut bytes = self
            .0
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?;
        bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// SHA-256 (hex) of a value's canonical form: its JSON, fields in declaration order. Two
/// scenarios or topologies with the same hash score a record the same way.
pub fn content_hash<T: Serialize>(value: &T) -> String {
    use sha2::{Digest, Sha256};
    let json = serde_json::to_vec(value).unwrap_or_default();
    Sha256::digest(&json)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ReadRecordError {
    #[error("cannot read record {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: not a record line: {message}")]
    #[diagnostic(help("a record is the JSON Lines file written by `bulkhead run --record FILE`"))]
    Line {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}: the record has no header line")]
    #[diagnostic(help("the first line of a record names its scenario; this file is not a record"))]
    NoHeader { path: String },
    #[error(
        "{path}:1: record format version {found}; this bulkhead reads version {RECORD_VERSION}"
    )]
    #[diagnostic(help("the record was written by a newer bulkhead: read it with that version"))]
    Version { path: String, found: u64 },
}

/// A first line from a newer record format is refused before its lines are read: they may
/// not parse, and a line they misread would score wrong.
fn check_version(first: &str, name: &str) -> Result<(), ReadRecordError> {
    let found = serde_json::from_str::<serde_json::Value>(first)
        .ok()
        .and_then(|v| v.get("record_version")?.as_u64());
    match found {
        Some(found) if found > u64::from(RECORD_VERSION) => Err(ReadRecordError::Version {
            path: name.to_string(),
            found,
        }),
        _ => Ok(()),
    }
}

/// A whole record, read back.
#[derive(Debug, Clone)]
pub struct Record {
    pub seed: u64,
    pub backend: Backend,
    pub scenario: Scenario,
    pub topology: Topology,
    /// The header's content hashes (`None` in records older than them).
    pub scenario_sha256: Option<String>,
    pub topology_sha256: Option<String>,
    pub lines: Vec<RecordLine>,
    /// The last line was cut short (the process died while writing it) and was left out.
    pub cut_short: bool,
}

impl Record {
    /// Whether the session ended with its debrief: a record without one was stopped (Ctrl+C,
    /// a killed process, a lost lab) and scores only what was played.
    pub fn finished(&self) -> bool {
        self.lines.iter().any(|l| {
            matches!(
                l,
                RecordLine::Phase {
                    phase: Phase::Debrief,
                    ..
                }
            )
        })
    }
}

impl Record {
    pub fn read(path: &std::path::Path) -> Result<Record, ReadRecordError> {
        let name = path.display().to_string();
        let file = std::fs::File::open(path).map_err(|source| ReadRecordError::Io {
            path: name.clone(),
            source,
        })?;
        Self::from_reader(std::io::BufReader::new(file), &name)
    }

    /// Reads every complete line. A last line with no newline that does not parse is what a
    /// process killed mid-write leaves: it is left out (`cut_short`), and everything before it
    /// scores. Any other line that does not parse is an error, with its place.
    pub fn from_reader(mut reader: impl BufRead, name: &str) -> Result<Record, ReadRecordError> {
        let mut lines = Vec::new();
        let mut cut_short = false;
        let mut buf = String::new();
        for i in 0.. {
            buf.clear();
            let read = reader
                .read_line(&mut buf)
                .map_err(|source| ReadRecordError::Io {
                    path: name.to_string(),
                    source,
                })?;
            if read == 0 {
                break;
            }
            let line = buf.trim_end_matches(['\n', '\r']);
            if line.trim().is_empty() {
                continue;
            }
            if lines.is_empty() {
                check_version(line, name)?;
            }
            match serde_json::from_str::<RecordLine>(line) {
                Ok(parsed) => lines.push(parsed),
                Err(_) if !buf.ends_with('\n') && !lines.is_empty() => cut_short = true,
                Err(e) => {
                    return Err(ReadRecordError::Line {
                        path: name.to_string(),
                        line: i + 1,
                        column: e.column(),
                        message: e.to_string(),
                    });
                }
            }
        }
        let mut iter = lines.into_iter();
        match iter.next() {
            Some(RecordLine::Header {
                seed,
                backend,
                scenario,
                topology,
                scenario_sha256,
                topology_sha256,
                ..
            }) => Ok(Record {
                seed,
                backend,
                scenario: *scenario,
                topology: *topology,
                scenario_sha256,
                topology_sha256,
                lines: iter.collect(),
                cut_short,
            }),
            _ => Err(ReadRecordError::NoHeader {
                path: name.to_string(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn played(seed: u64) -> Vec<u8> {
        let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let loaded =
            crate::format::load_scenario(&root.join("scenarios/insider-access.ron"), &root)
                .unwrap()
                .variant(seed)
                .unwrap();
        let lab = crate::SimLab::new(loaded.topology.clone(), &loaded.scenario, seed);
        let memory = MemoryRecord::default();
        let scenario = loaded.scenario.clone();
        let mut session = crate::Session::new(
            scenario,
            loaded.topology.clone(),
            Box::new(lab),
            seed,
            memory.writer(),
        );
        session.run(&mut crate::defender::Idle, |_| {});
        memory.bytes()
    }

    #[test]
    fn a_record_names_what_it_played_by_content_hash_and_refuses_a_newer_format() {
        let bytes = played(3);
        let record = Record::from_reader(&bytes[..], "r.jsonl").unwrap();
        // The hashes are of what was played: the variant, and its topology.
        assert_eq!(record.scenario_sha256, Some(content_hash(&record.scenario)));
        assert_eq!(record.topology_sha256, Some(content_hash(&record.topology)));
        let other = played(4);
        let other = Record::from_reader(&other[..], "r.jsonl").unwrap();
        assert_ne!(
            record.scenario_sha256, other.scenario_sha256,
            "seeds 3 and 4 play different variants"
        );
        assert_eq!(record.topology_sha256, other.topology_sha256);

        // An older record, without hashes, still reads.
        let text = String::from_utf8(bytes).unwrap();
        let (header, rest) = text.split_once('\n').unwrap();
        let mut old: serde_json::Value = serde_json::from_str(header).unwrap();
        old.as_object_mut().unwrap().remove("scenario_sha256");
        old.as_object_mut().unwrap().remove("topology_sha256");
        let older = format!("{old}\n{rest}");
        let read = Record::from_reader(older.as_bytes(), "old.jsonl").unwrap();
        assert_eq!(read.scenario_sha256, None);
        assert_eq!(read.lines.len(), record.lines.len());

        // A newer format is refused before its lines are read, naming both versions.
        let mut newer: serde_json::Value = serde_json::from_str(header).unwrap();
        newer["record_version"] = (RECORD_VERSION + 1).into();
        let newer = format!("{newer}\n{{\"kind\":\"something_new\"}}\n");
        let err = Record::from_reader(newer.as_bytes(), "new.jsonl").unwrap_err();
        assert!(
            matches!(err, ReadRecordError::Version { found, .. } if found == u64::from(RECORD_VERSION) + 1)
        );
        let named = format!("version {}", RECORD_VERSION + 1);
        assert!(err.to_string().contains(&named), "{err}");
    }

    #[test]
    fn a_record_cut_mid_line_reads_up_to_its_last_whole_line_and_says_it_is_unfinished() {
        let bytes = played(5);
        let whole = Record::from_reader(&bytes[..], "r.jsonl").unwrap();
        assert!(whole.finished() && !whole.cut_short);
        // Killed while writing a line, a third of the way through the session.
        let cut = bytes.len() / 3;
        let start_of_line = bytes[..cut].iter().rposition(|b| *b == b'\n').unwrap() + 1;
        assert!(cut > start_of_line + 2, "the cut falls inside a line");
        let record = Record::from_reader(&bytes[..cut], "killed.jsonl").unwrap();
        assert!(record.cut_short && !record.finished());
        let complete_lines = bytes[..start_of_line]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        assert_eq!(
            record.lines.len() + 1,
            complete_lines,
            "every whole line but the header"
        );
        // Cut exactly at a line's end: nothing is missing, and it is still unfinished.
        let record = Record::from_reader(&bytes[..start_of_line], "stopped.jsonl").unwrap();
        assert!(!record.cut_short && !record.finished());
        // A broken line that is not the last is an error, with its place.
        let mut broken = bytes[..start_of_line].to_vec();
        broken.extend_from_slice(b"{\"kind\":\n");
        broken.extend_from_slice(&bytes[start_of_line..]);
        let err = Record::from_reader(&broken[..], "broken.jsonl").unwrap_err();
        let line = complete_lines + 1;
        assert!(
            err.to_string()
                .starts_with(&format!("broken.jsonl:{line}:")),
            "{err}"
        );
    }
}
