//! `bulkhead check`: validate scenario and topology files, reporting every problem with its
//! file:line:column.

use std::path::{Path, PathBuf};

use bulkhead_engine::format::load::{LoadError, SourceFile};
use bulkhead_engine::format::{self, Sources};

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

/// Each file checked, by name, with what is wrong with it.
type Checked = Vec<(String, Result<(), LoadError>)>;

/// With no file given: every data file on disk in every layer, and the built-in files in use.
fn check_all(sources: &Sources) -> Checked {
    sources
        .files_to_check()
        .into_iter()
        .map(|entry| (entry.name.clone(), sources.check(&entry)))
        .collect()
}

/// The files given; a scenario is checked on the topology it names, through the layers.
fn check_paths(sources: &Sources, paths: &[PathBuf]) -> Checked {
    paths
        .iter()
        .map(|path| {
            let result = if is_topology(path) {
                format::load_topology(path).map(|_| ())
            } else {
                sources.load_path(path).map(|_| ())
            };
            (path.display().to_string(), result)
        })
        .collect()
}

pub fn check(paths: &[PathBuf]) -> Result<(), Exit> {
    let sources = super::run::sources()?;
    let results = if paths.is_empty() {
        check_all(&sources)
    } else {
        check_paths(&sources, paths)
    };
    let total = results.len();
    let mut failed = 0;
    for (name, result) in results {
        match result {
            Ok(()) => println!("ok      {name}"),
            Err(e) => {
                failed += 1;
                println!("invalid {name}");
                report(e, EXIT_BAD_INPUT);
            }
        }
    }
    if failed > 0 {
        eprintln!("{failed} of {total} file(s) invalid");
        Err(Exit(EXIT_BAD_INPUT))
    } else {
        Ok(())
    }
}
