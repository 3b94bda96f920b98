//! `bulkhead list`: the scenarios with their titles and difficulty.

use bulkhead_engine::format::{self, load::data_root};

use super::{EXIT_BAD_INPUT, Exit, report};

pub fn list() -> Result<(), Exit> {
    let root = data_root().map_err(|e| report(e, EXIT_BAD_INPUT))?;
    let mut bad = 0;
    for (path, loaded) in format::load_all(&root) {
        match loaded {
            Ok(l) => println!(
                "{:<22} {:<28} {:?}",
                l.scenario.id, l.scenario.title, l.scenario.difficulty
            ),
            Err(e) => {
                bad += 1;
                eprintln!(
                    "{} is invalid (run `bulkhead check {}`): {e}",
                    path.display(),
                    path.display()
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
