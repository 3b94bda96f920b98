//! `bulkhead list`: the scenarios with their titles, difficulty and where each came from.

use super::{EXIT_BAD_INPUT, Exit};

pub fn list() -> Result<(), Exit> {
    let sources = super::run::sources()?;
    let mut bad = 0;
    for (entry, loaded) in sources.load_all() {
        match loaded {
            Ok(l) => println!(
                "{:<22} {:<28} {:<13} {}",
                l.scenario.id,
                l.scenario.title,
                format!("{:?}", l.scenario.difficulty),
                entry.where_from()
            ),
            Err(e) => {
                bad += 1;
                // A built-in file has no path to check: `check` alone checks it.
                let check = entry
                    .path()
                    .map_or(String::new(), |p| format!(" {}", p.display()));
                eprintln!(
                    "{} is invalid (run `bulkhead check{check}`): {e}",
                    entry.name
                );
            }
        }
    }
    if bad > 0 {
        Err(Exit(EXIT_BAD_INPUT))
    } else {
        Ok(())
    }
}
