//! The session record: JSON Lines, one line per observation, alert, command, effect and mentor
//! act, appended and flushed as it happens. Scoring is a pure function of scenario + record.

use std::io::{BufRead, Write};

use serde::{Deserialize, Serialize};

use crate::action::{Command, Effect, Outcome};
use crate::detector::Alert;
use crate::format::scenario::Scenario;
use crate::format::topology::Topology;
use crate::lab::Backend;
use crate::observation::{Millis, Observation};
use crate::phase::Phase;

pub const RECORD_VERSION: u32 = 1;

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

/// Appends lines to a sink, flushing each one so that nothing is lost if the run dies.
pub struct RecordWriter {
    sink: Box<dyn Write + Send>,
    error: Option<std::io::Error>,
    lines: u64,
}

impl std::fmt::Debug for RecordWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordWriter")
            .field("lines", &self.lines)
            .finish()
    }
}

impl RecordWriter {
    pub fn new(sink: Box<dyn Write + Send>) -> Self {
        RecordWriter {
            sink,
            error: None,
            lines: 0,
        }
    }

    /// A writer that keeps nothing (benchmarks).
    pub fn discard() -> Self {
        Self::new(Box::new(std::io::sink()))
    }

    pub fn write(&mut self, line: &RecordLine) {
        if self.error.is_some() {
            return;
        }
        let result = serde_json::to_writer(&mut self.sink, line)
            .map_err(std::io::Error::other)
            .and_then(|()| self.sink.write_all(b"\n"))
            .and_then(|()| self.sink.flush());
        match result {
            Ok(()) => self.lines += 1,
            Err(e) => self.error = Some(e),
        }
    }

    /// The first write error, if any (the session keeps running; the caller reports it).
    pub fn take_error(&mut self) -> Option<std::io::Error> {
        self.error.take()
    }

    pub fn lines(&self) -> u64 {
        self.lines
    }
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
}

/// A whole record, read back.
#[derive(Debug, Clone)]
pub struct Record {
    pub seed: u64,
    pub backend: Backend,
    pub scenario: Scenario,
    pub topology: Topology,
    pub lines: Vec<RecordLine>,
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

    pub fn from_reader(reader: impl BufRead, name: &str) -> Result<Record, ReadRecordError> {
        let mut lines = Vec::new();
        for (i, line) in reader.lines().enumerate() {
            let line = line.map_err(|source| ReadRecordError::Io {
                path: name.to_string(),
                source,
            })?;
            if line.trim().is_empty() {
                continue;
            }
            let parsed: RecordLine =
                serde_json::from_str(&line).map_err(|e| ReadRecordError::Line {
                    path: name.to_string(),
                    line: i + 1,
                    column: e.column(),
                    message: e.to_string(),
                })?;
            lines.push(parsed);
        }
        let mut iter = lines.into_iter();
        match iter.next() {
            Some(RecordLine::Header {
                seed,
                backend,
                scenario,
                topology,
                ..
            }) => Ok(Record {
                seed,
                backend,
                scenario: *scenario,
                topology: *topology,
                lines: iter.collect(),
            }),
            _ => Err(ReadRecordError::NoHeader {
                path: name.to_string(),
            }),
        }
    }
}
