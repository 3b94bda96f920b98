//! `bulkhead report`: re-score a session record (scoring is a pure function of the record),
//! and write its after-action report as one self-contained HTML page.

use std::path::Path;

use bulkhead_engine::record::content_hash;
use bulkhead_engine::{Record, RecordLine, ScoreCard, score};

use super::{EXIT_BAD_INPUT, EXIT_FAILURE, Exit, report as fail, scorecard};

pub fn report(path: &Path, json: bool, html: Option<&Path>, embedded: bool) -> Result<(), Exit> {
    let record = Record::read(path).map_err(|e| fail(e, EXIT_BAD_INPUT))?;
    // Scored against the scenario and topology installed now (the variant the record played),
    // or, when asked, against the copies the record carries.
    let record = if embedded {
        record
    } else {
        against_installed(record)?
    };
    let card = score(&record.scenario, &record.topology, &record.lines, None);
    if let Some(note) = unfinished(&record) {
        eprintln!("{note}");
    }
    if let Some(out) = html {
        let wrote = write_html(&record, &card, out)?;
        // With --json, stdout stays one JSON object for whoever parses it.
        if json {
            eprintln!("{wrote}");
        } else {
            println!("{wrote}");
        }
    }
    if json {
        println!(
            "{}",
            scorecard::json(&card, record.seed, record.backend, None)
        );
    } else if html.is_none() {
        print!(
            "{}",
            scorecard::text(&card, &record.scenario, record.seed, record.backend)
        );
    }
    Ok(())
}

/// What to say of a record that stops before its debrief: the session was stopped (Ctrl+C, a
/// killed process), and the score counts what was played.
fn unfinished(record: &Record) -> Option<String> {
    if record.finished() {
        return None;
    }
    let last = record
        .lines
        .iter()
        .filter_map(RecordLine::t_ms)
        .max()
        .unwrap_or(0);
    let cut = if record.cut_short {
        " (its last line was cut short and is left out)"
    } else {
        ""
    };
    Some(format!(
        "note: this record stops at {}:{:02} of session time, before the debrief{cut}: the session did not finish, and the score counts what was played",
        last / 60_000,
        last / 1000 % 60
    ))
}

/// The record with the installed scenario (its variant for the record's seed) and topology in
/// place of its own copies; a warning on stderr when either differs from what was played,
/// by content hash (a record older than hashes is compared by the copy it carries).
fn against_installed(record: Record) -> Result<Record, Exit> {
    let id = record.scenario.id.clone();
    let missing = |why: String| {
        eprintln!(
            "error: the record's scenario {id} cannot be loaded here: {why}\n  help: pass --embedded to score against the copy the record carries"
        );
        Exit(EXIT_BAD_INPUT)
    };
    let loaded = super::run::sources()?
        .resolve(&id)
        .map_err(|e| missing(e.to_string()))?;
    let played = loaded
        .variant(record.seed)
        .map_err(|e| missing(e.to_string()))?;
    let scenario = played.scenario.as_ref().clone();
    let topology = played.topology.as_ref().clone();
    for (what, then, now) in [
        (
            format!("scenario {id}"),
            (record.scenario_sha256.clone()).unwrap_or_else(|| content_hash(&record.scenario)),
            content_hash(&scenario),
        ),
        (
            format!("topology {}", topology.id),
            (record.topology_sha256.clone()).unwrap_or_else(|| content_hash(&record.topology)),
            content_hash(&topology),
        ),
    ] {
        if then != now {
            eprintln!(
                "warning: the {what} changed since this record was played (sha256 {} then, {} now): scored against the installed one\n  help: pass --embedded to score against the copy the record carries",
                &then[..12.min(then.len())],
                &now[..12]
            );
        }
    }
    Ok(Record {
        scenario,
        topology,
        ..record
    })
}

/// Write the page (creating or replacing the file); what to say about it.
fn write_html(record: &Record, card: &ScoreCard, out: &Path) -> Result<String, Exit> {
    let page = bulkhead_report::html(record, card);
    std::fs::write(out, &page).map_err(|e| {
        eprintln!(
            "error: cannot write the report {}: {e}\n  help: name a file (such as report.html) in a folder that exists and is writable",
            out.display()
        );
        Exit(EXIT_FAILURE)
    })?;
    Ok(format!(
        "wrote {} ({} KiB)",
        out.display(),
        page.len().div_ceil(1024)
    ))
}
