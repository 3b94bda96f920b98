//! Data formats (RON): lab topologies and scenarios, how they are found, loaded and validated.

pub mod defender_file;
pub mod load;
pub mod scenario;
pub mod topology;
pub mod validate;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use load::{LoadError, SourceFile};
use scenario::Scenario;
use topology::Topology;

/// A scenario ready to play, with the topology it runs on.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub scenario: Arc<Scenario>,
    pub topology: Arc<Topology>,
    pub path: PathBuf,
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

/// The topology file a scenario names, next to the scenarios folder.
pub fn topology_path(root: &Path, id: &str) -> PathBuf {
    root.join("labs/topologies").join(format!("{id}.ron"))
}

/// Load and validate one scenario file and its topology. `root` holds `labs/topologies/`.
pub fn load_scenario(path: &Path, root: &Path) -> Result<Loaded, LoadError> {
    let file = SourceFile::read(path)?;
    let scenario: Scenario = file.parse("scenario")?;
    let topo_path = topology_path(root, &scenario.topology);
    if !topo_path.is_file() || scenario.topology.contains(['/', '\\', '.']) {
        let span = file.find(Some("topology"), &format!("\"{}\"", scenario.topology));
        return Err(file
            .error(
                span,
                format!("unknown topology \"{}\"", scenario.topology),
                "no such file in labs/topologies/",
                Some(format!(
                    "available: {}",
                    list_ids(&root.join("labs/topologies")).join(", ")
                )),
            )
            .into());
    }
    let topology = load_topology(&topo_path)?;
    check_scenario_source(&file, &scenario, &topology)?;
    Ok(Loaded {
        scenario: Arc::new(scenario),
        topology: Arc::new(topology),
        path: path.to_path_buf(),
    })
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

/// Find a scenario by id or by path.
pub fn resolve_scenario(root: &Path, name: &str) -> Result<Loaded, LoadError> {
    let as_path = Path::new(name);
    if as_path.extension().is_some_and(|e| e == "ron") || as_path.is_file() {
        return load_scenario(as_path, root);
    }
    let path = root.join("scenarios").join(format!("{name}.ron"));
    if !path.is_file() {
        return Err(LoadError::NotFound(format!(
            "no scenario \"{name}\"; available: {}",
            list_ids(&root.join("scenarios")).join(", ")
        )));
    }
    load_scenario(&path, root)
}

/// Every scenario of the repository, loaded and validated (errors kept per file).
pub fn load_all(root: &Path) -> Vec<(PathBuf, Result<Loaded, LoadError>)> {
    ron_files(&root.join("scenarios"))
        .into_iter()
        .map(|p| {
            let r = load_scenario(&p, root);
            (p, r)
        })
        .collect()
}
