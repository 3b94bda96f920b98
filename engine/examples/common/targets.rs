//! The engine's parsers of outside input, as fuzz targets shared by the property tests
//! (engine/tests/parsers.rs) and the long run (engine/examples/fuzz_parsers.rs): the real data
//! files as seeds, and one function per parser that feeds it an input and checks what it says.
//!
//! A target returns `Err` when an answer is wrong (an error located outside its input, an
//! error that does not render); panics are left to the caller to catch.

#![allow(dead_code)]

use std::io::Cursor;
use std::path::PathBuf;
use std::sync::Arc;

use bulkhead_engine::defender::{Bot, TimedCommand};
use bulkhead_engine::format::defender_file::parse_defender_file;
use bulkhead_engine::format::load::{FormatError, LoadError, SourceFile};
use bulkhead_engine::format::topology::Topology;
use bulkhead_engine::format::{self, scenario_from_source, topology_from_source};
use bulkhead_engine::record::{ReadRecordError, Record};
use bulkhead_engine::{MemoryRecord, Session, SimLab, score};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Everything the targets start from: the repository's data files and a real record.
pub struct Corpus {
    pub topologies: Vec<Vec<u8>>,
    pub scenarios: Vec<Vec<u8>>,
    pub defenders: Vec<Vec<u8>>,
    pub records: Vec<Vec<u8>>,
    /// The real topology, to validate scenario mutants against.
    pub topology: Arc<Topology>,
}

fn read_all(dir: &std::path::Path) -> Vec<Vec<u8>> {
    format::ron_files(dir)
        .iter()
        .map(|p| std::fs::read(p).expect("a data file of the repository reads"))
        .collect()
}

impl Corpus {
    pub fn load() -> Corpus {
        let root = root();
        let topologies = read_all(&root.join("labs/topologies"));
        let scenarios = read_all(&root.join("scenarios"));
        assert!(!topologies.is_empty() && !scenarios.is_empty());
        let loaded = format::resolve_scenario(&root, "stolen-credentials")
            .expect("the stolen-credentials scenario loads");
        let defenders = vec![
            // The README's example, and every kind of command.
            b"[\n    TimedCommand(at_s: 40.0, command: Mitigate(Block(source: \"198.51.100.23\"))),\n    TimedCommand(at_s: 41.0, command: Attribute(entity: Source(\"198.51.100.23\"))),\n    TimedCommand(at_s: 42.0, command: Triage(alert: 1, verdict: Incident)),\n]\n".to_vec(),
            b"[\n  // comments are allowed\n  TimedCommand(at_s: 0.5, command: Hint),\n  TimedCommand(at_s: 3, command: Attribute(entity: Identity(\"alice\"))),\n  TimedCommand(at_s: 9.0, command: Attribute(entity: Service(\"web\"))),\n  TimedCommand(at_s: 10.0, command: Triage(alert: 7, verdict: Benign)),\n]\n".to_vec(),
        ];
        Corpus {
            topologies,
            scenarios,
            defenders,
            records: vec![record_sample(&loaded)],
            topology: loaded.topology.clone(),
        }
    }
}

/// A real record (the bot playing a scenario on the simulated lab), cut to its header and a
/// sample of its lines of every kind: enough variety, small enough to parse fast.
fn record_sample(loaded: &format::Loaded) -> Vec<u8> {
    let lab = SimLab::new(loaded.topology.clone(), &loaded.scenario, 7);
    let buffer = MemoryRecord::default();
    let mut session = Session::new(
        loaded.scenario.clone(),
        loaded.topology.clone(),
        Box::new(lab),
        7,
        buffer.writer(),
    );
    play_with_a_mentor(&mut session);
    drop(session);
    let bytes = buffer.bytes();
    let text = String::from_utf8(bytes).expect("records are UTF-8");
    let mut kinds = std::collections::HashMap::<String, usize>::new();
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        let kind = line
            .split("\"kind\":\"")
            .nth(1)
            .and_then(|k| k.split('"').next())
            .unwrap_or("")
            .to_string();
        let n = kinds.entry(kind).or_default();
        *n += 1;
        if i == 0 || *n <= 4 {
            out.push_str(line);
            out.push('\n');
        }
    }
    out.into_bytes()
}

/// The bot plays; a mentor whispers, reveals a hint and fires the scenario's first inject, and
/// a facilitator extends the live phase, so the record holds every kind of mentor line.
fn play_with_a_mentor(session: &mut Session) {
    let mut bot = Bot::default();
    let live = session.scenario().live_start_ms();
    let inject = session.scenario().injects.first().map(|i| i.id.clone());
    session.begin();
    session.whisper("Watch the warm-up.".into(), 0, "mentor");
    loop {
        session.consult(&mut bot);
        if session.now() == live + 60_000 {
            session.whisper("Who logs in from where?".into(), 5, "mentor");
            let _ = session.reveal_hint("mentor");
            let _ = session.extend_live(30, "facilitator");
            if let Some(id) = &inject {
                let _ = session.inject(id, "mentor");
            }
        }
        if !session.tick() {
            break;
        }
    }
}

/// Every located error of a load error.
fn format_errors(e: &LoadError) -> Vec<&FormatError> {
    match e {
        LoadError::Format(f) => vec![f],
        LoadError::Invalid { first, errors, .. } => {
            std::iter::once(&**first).chain(errors.iter()).collect()
        }
        LoadError::Io { .. } | LoadError::NotFound(_) => Vec::new(),
    }
}

/// The error names `name:line:column` inside `text`, its span lies within the text on
/// character boundaries, and it renders as the CLI renders it.
pub fn check_load_error(name: &str, text: &str, e: &LoadError) -> Result<(), String> {
    let located = format_errors(e);
    if located.is_empty() {
        return Err(format!("an error with no location: {e}"));
    }
    let lines: Vec<&str> = text.split('\n').collect();
    for f in located {
        let l = &f.location;
        let line = lines.get(l.line.wrapping_sub(1)).ok_or_else(|| {
            format!(
                "line {} outside the input ({} lines): {e}",
                l.line,
                lines.len()
            )
        })?;
        if l.file != name || l.column == 0 || l.column > line.chars().count() + 1 {
            return Err(format!("location {l} outside line {:?}: {e}", line));
        }
        let (start, len) = (f.span.offset(), f.span.len());
        if start + len > text.len()
            || !text.is_char_boundary(start)
            || !text.is_char_boundary(start + len)
        {
            return Err(format!("span {start}+{len} is not within the text: {e}"));
        }
    }
    let shown = e.to_string();
    if !shown.starts_with(&format!("{name}:")) {
        return Err(format!("the message does not start with the file: {shown}"));
    }
    let mut rendered = String::new();
    miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
        .render_report(&mut rendered, e)
        .map_err(|_| format!("the error does not render: {e}"))?;
    Ok(())
}

/// Text from bytes as the loader reads it; a non-UTF-8 input must be a located error.
fn source(name: &str, bytes: &[u8]) -> Result<Result<SourceFile, LoadError>, String> {
    match SourceFile::from_bytes(name, bytes.to_vec()) {
        Ok(f) => Ok(Ok(f)),
        Err(e) => {
            let lossy = String::from_utf8_lossy(bytes);
            check_load_error(name, &lossy, &e)?;
            Ok(Err(e))
        }
    }
}

/// A topology file: read, parsed, validated.
pub fn topology(bytes: &[u8]) -> Result<bool, String> {
    let name = "labs/topologies/fuzz.ron";
    let Ok(file) = source(name, bytes)? else {
        return Ok(false);
    };
    match topology_from_source(&file) {
        Ok(_) => Ok(true),
        Err(e) => check_load_error(name, &file.text, &e).map(|()| false),
    }
}

/// A scenario file: read, parsed, validated against the real topology.
pub fn scenario(bytes: &[u8], topology: &Topology) -> Result<bool, String> {
    let name = "scenarios/fuzz.ron";
    let Ok(file) = source(name, bytes)? else {
        return Ok(false);
    };
    match scenario_from_source(&file, topology) {
        Ok(_) => Ok(true),
        Err(e) => check_load_error(name, &file.text, &e).map(|()| false),
    }
}

/// A scripted defender file.
pub fn defender(bytes: &[u8]) -> Result<bool, String> {
    let name = "defender.ron";
    let Ok(file) = source(name, bytes)? else {
        return Ok(false);
    };
    match parse_defender_file(&file.text, name) {
        Ok(commands) => {
            let _: Vec<TimedCommand> = commands;
            Ok(true)
        }
        Err(e) => check_load_error(name, &file.text, &e).map(|()| false),
    }
}

/// A session record (JSON Lines), read and scored as `bulkhead report` reads and scores it.
pub fn record(bytes: &[u8]) -> Result<bool, String> {
    match Record::from_reader(Cursor::new(bytes), "fuzz.jsonl") {
        Ok(r) => {
            let _ = score(&r.scenario, &r.topology, &r.lines, None);
            Ok(true)
        }
        Err(ReadRecordError::Line { line, column, .. }) => {
            let lines = bytes.split(|b| *b == b'\n').count();
            if line == 0 || line > lines {
                return Err(format!("line {line} outside the input ({lines} lines)"));
            }
            let _ = column;
            Ok(false)
        }
        Err(_) => Ok(false),
    }
}
