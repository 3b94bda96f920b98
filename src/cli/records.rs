//! `bulkhead records`: the session records kept in the user's data folder, newest first, with
//! what each played and scored, so a trainee or mentor finds the one to report on.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use bulkhead_engine::lab::Backend;
use bulkhead_engine::{Record, score};

use super::{EXIT_BAD_INPUT, Exit};

/// The folder every session's record goes to: `$XDG_DATA_HOME/bulkhead/records` on Linux.
pub fn default_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "bulkhead").map(|d| d.data_dir().join("records"))
}

/// One record found, as listed.
struct Listed {
    modified: SystemTime,
    path: PathBuf,
    /// `None`: the file is no readable record (said in the listing, never a failure).
    summary: Option<Summary>,
}

struct Summary {
    scenario: String,
    seed: u64,
    backend: String,
    score: String,
}

pub fn records(dir: Option<&Path>, json: bool) -> Result<(), Exit> {
    let Some(dir) = dir.map(Path::to_path_buf).or_else(default_dir) else {
        eprintln!("error: no home folder to look for records in\n  help: pass --dir DIR");
        return Err(Exit(EXIT_BAD_INPUT));
    };
    let mut found = list(&dir);
    found.sort_by(|a, b| b.modified.cmp(&a.modified).then(a.path.cmp(&b.path)));
    if json {
        let rows: Vec<serde_json::Value> = found.iter().map(to_json).collect();
        println!("{}", serde_json::Value::Array(rows));
        return Ok(());
    }
    if found.is_empty() {
        println!(
            "No records in {} yet: every session writes one there.",
            dir.display()
        );
        return Ok(());
    }
    println!(
        "{:<17} {:<22} {:>6} {:<7} {:>22}  path",
        "date (UTC)", "scenario", "seed", "backend", "score"
    );
    for r in &found {
        let date = utc_minute(r.modified);
        match &r.summary {
            Some(s) => println!(
                "{date:<17} {:<22} {:>6} {:<7} {:>22}  {}",
                s.scenario,
                s.seed,
                s.backend,
                s.score,
                r.path.display()
            ),
            None => println!("{date:<17} (not a readable record)  {}", r.path.display()),
        }
    }
    Ok(())
}

/// Every `.jsonl` file of the folder (none when it does not exist yet).
fn list(dir: &Path) -> Vec<Listed> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .map(|path| Listed {
            modified: std::fs::metadata(&path)
                .and_then(|m| m.modified())
                .unwrap_or(SystemTime::UNIX_EPOCH),
            summary: summary(&path),
            path,
        })
        .collect()
}

/// What a record played, scored as `report` would score it.
fn summary(path: &Path) -> Option<Summary> {
    let record = Record::read(path).ok()?;
    let card = score(&record.scenario, &record.topology, &record.lines, None);
    Some(Summary {
        scenario: record.scenario.id.clone(),
        seed: record.seed,
        backend: match record.backend {
            Backend::Sim => "sim",
            Backend::Docker => "docker",
        }
        .to_string(),
        // A session stopped before its debrief scores only what was played: say so.
        score: format!(
            "{}/{}{}",
            card.total,
            card.max,
            if record.finished() {
                ""
            } else {
                " (unfinished)"
            }
        ),
    })
}

fn to_json(r: &Listed) -> serde_json::Value {
    let mut row = serde_json::json!({
        "date": utc_minute(r.modified),
        "path": r.path.display().to_string(),
    });
    if let Some(s) = &r.summary {
        row["scenario"] = s.scenario.clone().into();
        row["seed"] = s.seed.into();
        row["backend"] = s.backend.clone().into();
        row["score"] = s.score.clone().into();
    }
    row
}

/// `2026-12-06 07:20`, in UTC.
fn utc_minute(at: SystemTime) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]");
    time::OffsetDateTime::from(at)
        .format(&format)
        .unwrap_or_default()
}
