//! `bulkhead list`: the scenarios with their titles, difficulty and where each came from.

use bulkhead_engine::format::Loaded;

use super::{EXIT_BAD_INPUT, Exit};

pub fn list() -> Result<(), Exit> {
    let sources = super::run::sources()?;
    let mut bad = 0;
    let all = sources.load_all();
    // Columns as wide as their longest entry, so that every row lines up.
    let widest = |of: fn(&Loaded) -> usize| {
        all.iter()
            .filter_map(|(_, l)| l.as_ref().ok().map(of))
            .max()
            .unwrap_or(0)
    };
    let id_width = widest(|l| l.scenario.id.chars().count());
    let title_width = widest(|l| l.scenario.title.chars().count());
    for (entry, loaded) in all {
        match loaded {
            Ok(l) => println!(
                "{:<id_width$}  {:<title_width$}  {:<12}  {}",
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
