//! `bulkhead report`: re-score a session record (scoring is a pure function of the record).

use std::path::Path;

use bulkhead_engine::{Record, score};

use super::{EXIT_BAD_INPUT, Exit, report as fail, scorecard};

pub fn report(path: &Path, json: bool) -> Result<(), Exit> {
    let record = Record::read(path).map_err(|e| fail(e, EXIT_BAD_INPUT))?;
    let card = score(&record.scenario, &record.topology, &record.lines, None);
    if json {
        println!(
            "{}",
            scorecard::json(&card, record.seed, record.backend, None)
        );
    } else {
        print!(
            "{}",
            scorecard::text(&card, &record.scenario, record.seed, record.backend)
        );
    }
    Ok(())
}
