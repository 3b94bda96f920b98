//! Data formats (RON): lab topologies and scenarios, how they are found, loaded and validated.

pub mod builtin;
pub mod defender_file;
pub mod load;
pub mod rules;
pub mod scenario;
pub mod sources;
pub mod topology;
pub mod validate;
pub mod variants;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use load::{LoadError, SourceFile};
use scenario::Scenario;
pub use sources::{Entry, Kind, Layer, Origin, Sources};
use topology::Topology;

/// A scenario ready to play, with the topology it runs on.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub scenario: Arc<Scenario>,
    pub topology: Arc<Topology>,
    pub path: PathBuf,
}

impl Loaded {
    /// The variant a session with `seed` plays (every variant was checked when the scenario
    /// loaded, so an error here is a bug).
    pub fn variant(&self, seed: u64) -> Result<Loaded, variants::VariantError> {
        if self.scenario.variants.is_empty() {
            return Ok(self.clone());
        }
        Ok(Loaded {
            scenario: Arc::new(variants::resolve(&self.scenario, seed)?),
            ..self.clone()
        })
    }
}

pub fn load_topology(path: &Path) -> Result<Topology, LoadError> {
    topology_from_source(&SourceFile::read(path)?)
}

/// Parse and validate a topology from its text (what `load_topology` does once the file is read).
pub fn topology_from_source(file: &SourceFile) -> Result<Topology, LoadError> {
    let topology: Topology = file.parse("topology")?;
    let problems = validate::check_topology(&topology, file);
    if problems.is_empty() {
        Ok(topology)
    } else {
        Err(LoadError::from_problems(file, problems))
    }
}

/// Parse a scenario from its text and validate it against the topology it runs on (what
/// `load_scenario` does once both are read); a scenario naming another topology is an error.
pub fn scenario_from_source(file: &SourceFile, topology: &Topology) -> Result<Scenario, LoadError> {
    let scenario: Scenario = file.parse("scenario")?;
    check_scenario_source(file, &scenario, topology)?;
    Ok(scenario)
}

fn check_scenario_source(
    file: &SourceFile,
    scenario: &Scenario,
    topology: &Topology,
) -> Result<(), LoadError> {
    let problems = validate::check_scenario(scenario, file, topology);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(LoadError::from_problems(file, problems))
    }
}

/// Load and validate one scenario file and its topology. `root` holds `labs/topologies/`
/// (only: the built-in files are not consulted; `Sources` layers them).
pub fn load_scenario(path: &Path, root: &Path) -> Result<Loaded, LoadError> {
    Sources::folder(root).load_path(path)
}

/// Ids (file stems) of the `.ron` files of a folder, sorted.
pub fn list_ids(dir: &Path) -> Vec<String> {
    let mut ids: Vec<String> = ron_files(dir)
        .iter()
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    ids.sort();
    ids
}

/// The `.ron` files of a folder, sorted by name.
pub fn ron_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "ron"))
        .collect();
    files.sort();
    files
}

/// Find a scenario by id or by path, in one folder laid out as the repository.
pub fn resolve_scenario(root: &Path, name: &str) -> Result<Loaded, LoadError> {
    Sources::folder(root).resolve(name)
}

/// Every scenario of one folder laid out as the repository, loaded and validated (errors kept
/// per file).
pub fn load_all(root: &Path) -> Vec<(PathBuf, Result<Loaded, LoadError>)> {
    Sources::folder(root)
        .load_all()
        .into_iter()
        .map(|(entry, loaded)| {
            (
                entry.path().map(Path::to_path_buf).unwrap_or_default(),
                loaded,
            )
        })
        .collect()
}
