//! `bulkhead check`: validate scenario and topology files, reporting every problem with its
//! file:line:column.

use std::path::{Path, PathBuf};

use bulkhead_engine::format::{self, load::SourceFile, load::data_root};

use super::{EXIT_BAD_INPUT, Exit, report};

/// A topology file is recognised by its first value's name.
fn is_topology(path: &Path) -> bool {
    SourceFile::read(path)
        .map(|f| {
            f.text
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty() && !l.starts_with("//"))
                .is_some_and(|l| l.starts_with("Topology"))
        })
        .unwrap_or(false)
}

pub fn check(paths: &[PathBuf]) -> Result<(), Exit> {
    let root = data_root().map_err(|e| report(e, EXIT_BAD_INPUT))?;
    let files: Vec<PathBuf> = if paths.is_empty() {
        let mut all = format::ron_files(&root.join("labs/topologies"));
        all.extend(format::ron_files(&root.join("scenarios")));
        all
    } else {
        paths.to_vec()
    };
    let mut failed = 0;
    for path in &files {
        let result = if is_topology(path) {
            format::load_topology(path).map(|_| ())
        } else {
            format::load_scenario(path, &root).map(|_| ())
        };
        match result {
            Ok(()) => println!("ok      {}", path.display()),
            Err(e) => {
                failed += 1;
                println!("invalid {}", path.display());
                report(e, EXIT_BAD_INPUT);
            }
        }
    }
    if failed > 0 {
        eprintln!("{failed} of {} file(s) invalid", files.len());
        Err(Exit(EXIT_BAD_INPUT))
    } else {
        Ok(())
    }
}
