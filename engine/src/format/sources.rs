//! Where scenarios and topologies come from: layers of folders over the copies built into the
//! binary. Highest first: `BULKHEAD_DATA`, the user's data folder, the repository a developer
//! runs from, the built-in files. An id found in a higher layer overrides the same id below;
//! new ids add. Scenarios and topologies are layered apart, so a user's scenario may name a
//! built-in topology.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::builtin::{self, BuiltIn};
use super::load::{LoadError, SourceFile};
use super::scenario::Scenario;
use super::{Loaded, check_scenario_source, ron_files, topology::Topology, topology_from_source};

/// Which layer a data file comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Origin {
    /// The folder `BULKHEAD_DATA` names (`scenarios/`, `labs/topologies/`).
    Data,
    /// The user's data folder (`scenarios/`, `topologies/`).
    User,
    /// The repository run from (`scenarios/`, `labs/topologies/`).
    Repository,
    /// Compiled into the binary.
    BuiltIn,
}

impl Origin {
    pub fn label(self) -> &'static str {
        match self {
            Origin::Data => "BULKHEAD_DATA",
            Origin::User => "user",
            Origin::Repository => "repository",
            Origin::BuiltIn => "built-in",
        }
    }
}

/// One folder layer: where its scenarios and its topologies are.
#[derive(Debug, Clone)]
pub struct Layer {
    pub origin: Origin,
    pub scenarios: PathBuf,
    pub topologies: PathBuf,
}

impl Layer {
    /// A folder laid out as the repository is: `scenarios/` and `labs/topologies/`.
    fn repository_like(origin: Origin, root: &Path) -> Layer {
        Layer {
            origin,
            scenarios: root.join("scenarios"),
            topologies: root.join("labs/topologies"),
        }
    }

    /// The folder `BULKHEAD_DATA` names.
    pub fn data(root: &Path) -> Layer {
        Layer::repository_like(Origin::Data, root)
    }

    /// The user's data folder (e.g. `~/.local/share/bulkhead`): `scenarios/`, `topologies/`.
    pub fn user(root: &Path) -> Layer {
        Layer {
            origin: Origin::User,
            scenarios: root.join("scenarios"),
            topologies: root.join("topologies"),
        }
    }

    /// The repository a developer runs from.
    pub fn repository(root: &Path) -> Layer {
        Layer::repository_like(Origin::Repository, root)
    }
}

/// Where one data file's text is.
#[derive(Debug, Clone)]
enum Text {
    File(PathBuf),
    BuiltIn(&'static str),
}

/// One data file of one layer.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The file's stem: how scenarios and topologies are named.
    pub id: String,
    pub kind: Kind,
    pub origin: Origin,
    /// How errors name it: its path, or `built-in:scenarios/<id>.ron`.
    pub name: String,
    text: Text,
}

impl Entry {
    fn file(kind: Kind, origin: Origin, path: PathBuf) -> Option<Entry> {
        let id = path.file_stem()?.to_string_lossy().into_owned();
        Some(Entry {
            id,
            kind,
            origin,
            name: path.display().to_string(),
            text: Text::File(path),
        })
    }

    fn built_in(kind: Kind, b: &BuiltIn) -> Entry {
        Entry {
            id: b.id.to_string(),
            kind,
            origin: Origin::BuiltIn,
            name: format!("built-in:{}", b.path),
            text: Text::BuiltIn(b.text),
        }
    }

    /// The file on disk, if it is one.
    pub fn path(&self) -> Option<&Path> {
        match &self.text {
            Text::File(p) => Some(p),
            Text::BuiltIn(_) => None,
        }
    }

    /// Where it came from, for people: `built-in`, or the layer and the file's path.
    pub fn where_from(&self) -> String {
        match self.path() {
            Some(p) => format!("{}: {}", self.origin.label(), p.display()),
            None => self.origin.label().to_string(),
        }
    }

    pub fn read(&self) -> Result<SourceFile, LoadError> {
        match &self.text {
            Text::File(p) => SourceFile::read(p),
            Text::BuiltIn(t) => Ok(SourceFile::new(self.name.clone(), *t)),
        }
    }
}

/// What a data file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Scenario,
    Topology,
}

/// The data layers, highest precedence first, and whether the built-in files lie under them.
#[derive(Debug, Clone)]
pub struct Sources {
    layers: Vec<Layer>,
    built_in: bool,
}

impl Sources {
    /// These folder layers (highest first) over the built-in files. A layer whose scenarios
    /// folder is one a higher layer already has is dropped: the higher one names it.
    pub fn new(layers: Vec<Layer>) -> Sources {
        let mut kept: Vec<Layer> = Vec::new();
        for layer in layers {
            let key = canonical(&layer.scenarios);
            if !kept.iter().any(|k| canonical(&k.scenarios) == key) {
                kept.push(layer);
            }
        }
        Sources {
            layers: kept,
            built_in: true,
        }
    }

    /// One folder laid out as the repository, alone (no built-in files under it): what the
    /// root-based functions (`load_scenario`, `resolve_scenario`, `load_all`) read.
    pub fn folder(root: &Path) -> Sources {
        Sources {
            layers: vec![Layer::repository(root)],
            built_in: false,
        }
    }

    /// The layers of this process: `BULKHEAD_DATA` (which must be a folder when set), the
    /// user's data folder given, the repository found from the current folder upwards or
    /// beside the executable, and the built-in files.
    pub fn discover(user: Option<PathBuf>) -> Result<Sources, LoadError> {
        let mut layers = Vec::new();
        if let Some(dir) = std::env::var_os("BULKHEAD_DATA").filter(|d| !d.is_empty()) {
            let dir = PathBuf::from(dir);
            if !dir.is_dir() {
                return Err(LoadError::NotFound(format!(
                    "BULKHEAD_DATA={} is not a folder",
                    dir.display()
                )));
            }
            layers.push(Layer::data(&dir));
        }
        if let Some(user) = user {
            layers.push(Layer::user(&user));
        }
        if let Some(repo) = repository() {
            layers.push(Layer::repository(&repo));
        }
        Ok(Sources::new(layers))
    }

    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// Every file of one kind in every layer, highest layer first (shadowed ones included).
    fn every(&self, kind: Kind) -> Vec<Entry> {
        let mut out: Vec<Entry> = Vec::new();
        for layer in &self.layers {
            let dir = match kind {
                Kind::Scenario => &layer.scenarios,
                Kind::Topology => &layer.topologies,
            };
            out.extend(
                ron_files(dir)
                    .into_iter()
                    .filter_map(|p| Entry::file(kind, layer.origin, p)),
            );
        }
        if self.built_in {
            let list = match kind {
                Kind::Scenario => builtin::SCENARIOS,
                Kind::Topology => builtin::TOPOLOGIES,
            };
            out.extend(list.iter().map(|b| Entry::built_in(kind, b)));
        }
        out
    }

    /// The file that wins for each id: the one of the highest layer. Sorted by id.
    fn effective(&self, kind: Kind) -> Vec<Entry> {
        let mut by_id: BTreeMap<String, Entry> = BTreeMap::new();
        for entry in self.every(kind) {
            by_id.entry(entry.id.clone()).or_insert(entry);
        }
        by_id.into_values().collect()
    }

    /// The scenarios there are, one per id, sorted by id.
    pub fn scenarios(&self) -> Vec<Entry> {
        self.effective(Kind::Scenario)
    }

    /// The topologies there are, one per id, sorted by id.
    pub fn topologies(&self) -> Vec<Entry> {
        self.effective(Kind::Topology)
    }

    pub fn scenario(&self, id: &str) -> Option<Entry> {
        self.scenarios().into_iter().find(|e| e.id == id)
    }

    pub fn topology(&self, id: &str) -> Option<Entry> {
        self.topologies().into_iter().find(|e| e.id == id)
    }

    /// What `bulkhead check` checks by default: every topology and scenario file on disk in
    /// every layer (shadowed ones too: they are the user's files), then the built-in files
    /// still in use (a user's topology may break a built-in scenario).
    pub fn files_to_check(&self) -> Vec<Entry> {
        let on_disk = |kind| self.every(kind).into_iter().filter(|e| e.path().is_some());
        let built_in = |kind| {
            self.effective(kind)
                .into_iter()
                .filter(|e| e.path().is_none())
        };
        on_disk(Kind::Topology)
            .chain(on_disk(Kind::Scenario))
            .chain(built_in(Kind::Topology))
            .chain(built_in(Kind::Scenario))
            .collect()
    }

    /// Validate one file of either kind (a scenario on the topology it names).
    pub fn check(&self, entry: &Entry) -> Result<(), LoadError> {
        match entry.kind {
            Kind::Topology => self.load_topology(entry).map(|_| ()),
            Kind::Scenario => self.load(entry).map(|_| ()),
        }
    }

    /// Load and validate one topology entry.
    pub fn load_topology(&self, entry: &Entry) -> Result<Topology, LoadError> {
        topology_from_source(&entry.read()?)
    }

    /// Load and validate one scenario entry, on the topology it names.
    pub fn load(&self, entry: &Entry) -> Result<Loaded, LoadError> {
        let path = entry
            .path()
            .map_or_else(|| PathBuf::from(&entry.name), Path::to_path_buf);
        self.load_source(&entry.read()?, path)
    }

    /// Load and validate a scenario file anywhere on disk, on the topology it names.
    pub fn load_path(&self, path: &Path) -> Result<Loaded, LoadError> {
        self.load_source(&SourceFile::read(path)?, path.to_path_buf())
    }

    fn load_source(&self, file: &SourceFile, path: PathBuf) -> Result<Loaded, LoadError> {
        let scenario: Scenario = file.parse("scenario")?;
        let named = &scenario.topology;
        let entry = (!named.contains(['/', '\\', '.']))
            .then(|| self.topology(named))
            .flatten();
        let Some(entry) = entry else {
            let span = file.find(Some("topology"), &format!("\"{named}\""));
            let ids: Vec<String> = self.topologies().into_iter().map(|e| e.id).collect();
            return Err(file
                .error(
                    span,
                    format!("unknown topology \"{named}\""),
                    "no such topology in any data folder",
                    Some(format!("available: {}", ids.join(", "))),
                )
                .into());
        };
        let topology = self.load_topology(&entry)?;
        check_scenario_source(file, &scenario, &topology)?;
        Ok(Loaded {
            scenario: Arc::new(scenario),
            topology: Arc::new(topology),
            path,
        })
    }

    /// A scenario by id (through the layers) or by path (a `.ron` name, or an existing file).
    pub fn resolve(&self, name: &str) -> Result<Loaded, LoadError> {
        let as_path = Path::new(name);
        if as_path.extension().is_some_and(|e| e == "ron") || as_path.is_file() {
            return self.load_path(as_path);
        }
        match self.scenario(name) {
            Some(entry) => self.load(&entry),
            None => {
                let ids: Vec<String> = self.scenarios().into_iter().map(|e| e.id).collect();
                Err(LoadError::NotFound(format!(
                    "no scenario \"{name}\"; available: {}",
                    ids.join(", ")
                )))
            }
        }
    }

    /// Every scenario there is, loaded and validated (errors kept per file), sorted by id.
    pub fn load_all(&self) -> Vec<(Entry, Result<Loaded, LoadError>)> {
        self.scenarios()
            .into_iter()
            .map(|e| {
                let loaded = self.load(&e);
                (e, loaded)
            })
            .collect()
    }
}

/// A folder's canonical form where it exists, so one folder reached two ways is one layer.
fn canonical(dir: &Path) -> PathBuf {
    dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf())
}

/// The repository run from: the nearest folder holding `scenarios/` and `labs/topologies/`,
/// from the current folder upwards, then beside the executable (a build in `target/`).
pub fn repository() -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        candidates.extend(cwd.ancestors().map(Path::to_path_buf));
    }
    if let Ok(exe) = std::env::current_exe() {
        candidates.extend(exe.ancestors().skip(1).map(Path::to_path_buf));
    }
    candidates
        .into_iter()
        .find(|d| d.join("scenarios").is_dir() && d.join("labs/topologies").is_dir())
}

#[cfg(test)]
mod tests {
    use super::*;

    const STOLEN: &str = include_str!("../../../scenarios/stolen-credentials.ron");

    fn write(dir: &Path, rel: &str, text: &str) -> PathBuf {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    fn retitled(title: &str) -> String {
        STOLEN.replacen(
            "title: \"Stolen credentials\"",
            &format!("title: \"{title}\""),
            1,
        )
    }

    fn ids(entries: &[Entry]) -> Vec<&str> {
        entries.iter().map(|e| e.id.as_str()).collect()
    }

    #[test]
    fn the_built_in_files_alone_load_every_shipped_scenario() {
        let sources = Sources::new(vec![]);
        let all = sources.load_all();
        assert_eq!(all.len(), builtin::SCENARIOS.len());
        for (entry, loaded) in all {
            assert_eq!(entry.origin, Origin::BuiltIn);
            assert_eq!(entry.name, format!("built-in:scenarios/{}.ron", entry.id));
            assert_eq!(entry.where_from(), "built-in");
            loaded.unwrap_or_else(|e| panic!("{}: {e}", entry.name));
        }
        assert_eq!(ids(&sources.topologies()), ["company", "saas"]);
    }

    #[test]
    fn a_higher_layer_overrides_the_same_id_below() {
        let (data, user, repo) = (tempdir(), tempdir(), tempdir());
        write(
            repo.path(),
            "scenarios/stolen-credentials.ron",
            &retitled("Repo"),
        );
        write(
            user.path(),
            "scenarios/stolen-credentials.ron",
            &retitled("User"),
        );
        let sources = Sources::new(vec![
            Layer::user(user.path()),
            Layer::repository(repo.path()),
        ]);
        let loaded = sources.resolve("stolen-credentials").unwrap();
        assert_eq!(loaded.scenario.title, "User");
        let entry = sources.scenario("stolen-credentials").unwrap();
        assert_eq!(entry.origin, Origin::User);
        assert!(
            entry.where_from().starts_with("user: "),
            "{}",
            entry.where_from()
        );
        // BULKHEAD_DATA is above the user's folder.
        write(
            data.path(),
            "scenarios/stolen-credentials.ron",
            &retitled("Data"),
        );
        let sources = Sources::new(vec![
            Layer::data(data.path()),
            Layer::user(user.path()),
            Layer::repository(repo.path()),
        ]);
        assert_eq!(
            sources
                .resolve("stolen-credentials")
                .unwrap()
                .scenario
                .title,
            "Data"
        );
        assert_eq!(sources.scenarios().len(), builtin::SCENARIOS.len());
    }

    #[test]
    fn new_ids_add_and_a_user_scenario_may_name_a_built_in_topology() {
        let user = tempdir();
        let text = STOLEN.replacen("id: \"stolen-credentials\"", "id: \"drill\"", 1);
        let path = write(user.path(), "scenarios/drill.ron", &text);
        let sources = Sources::new(vec![Layer::user(user.path())]);
        let all = sources.scenarios();
        assert_eq!(
            ids(&all),
            [
                "baked-secret",
                "drill",
                "insider-access",
                "lateral-movement",
                "poisoned-pdf",
                "resource-exhaustion",
                "stolen-credentials",
                "supply-chain"
            ]
        );
        let loaded = sources.resolve("drill").unwrap();
        assert_eq!(loaded.path, path);
        assert_eq!(loaded.topology.id, "company");
        assert_eq!(
            sources.scenario("stolen-credentials").unwrap().origin,
            Origin::BuiltIn
        );
    }

    #[test]
    fn a_user_topology_overrides_the_built_in_one_for_built_in_scenarios_too() {
        let user = tempdir();
        let company =
            builtin::TOPOLOGIES[0]
                .text
                .replacen("owner: \"erin\"", "owner: \"nobody\"", 1);
        let path = write(user.path(), "topologies/company.ron", &company);
        let sources = Sources::new(vec![Layer::user(user.path())]);
        assert_eq!(sources.topology("company").unwrap().origin, Origin::User);
        let err = sources.resolve("insider-access").unwrap_err().to_string();
        assert!(err.starts_with(&format!("{}:", path.display())), "{err}");
    }

    #[test]
    fn a_broken_user_scenario_is_located_in_the_users_file() {
        let user = tempdir();
        let text = STOLEN.replacen("difficulty: Beginner", "difficulty: Easy", 1);
        let path = write(user.path(), "scenarios/stolen-credentials.ron", &text);
        let sources = Sources::new(vec![Layer::user(user.path())]);
        let err = sources
            .resolve("stolen-credentials")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with(&format!("{}:7:", path.display())), "{err}");
        // The others still load; the broken one is reported, not skipped silently.
        let all = sources.load_all();
        assert_eq!(all.iter().filter(|(_, r)| r.is_err()).count(), 1);
    }

    #[test]
    fn an_unknown_id_or_topology_says_what_there_is() {
        let user = tempdir();
        let text = STOLEN.replacen("topology: \"company\"", "topology: \"ship\"", 1);
        let path = write(user.path(), "scenarios/ship.ron", &text);
        let sources = Sources::new(vec![Layer::user(user.path())]);
        let err = sources.resolve("nothing-here").unwrap_err().to_string();
        assert!(
            err.contains(
                "available: baked-secret, insider-access, lateral-movement, poisoned-pdf, resource-exhaustion, ship, stolen-credentials, supply-chain"
            ),
            "{err}"
        );
        let err = sources.resolve("ship").unwrap_err().to_string();
        assert!(err.starts_with(&format!("{}:8:", path.display())), "{err}");
        assert!(err.contains("unknown topology \"ship\""), "{err}");
    }

    #[test]
    fn one_folder_reached_twice_is_one_layer_named_by_the_higher() {
        let dir = tempdir();
        write(dir.path(), "scenarios/stolen-credentials.ron", STOLEN);
        let sources = Sources::new(vec![Layer::data(dir.path()), Layer::repository(dir.path())]);
        assert_eq!(sources.layers().len(), 1);
        assert_eq!(
            sources.scenario("stolen-credentials").unwrap().origin,
            Origin::Data
        );
    }

    #[test]
    fn check_covers_every_file_on_disk_and_the_built_ins_in_use() {
        let (user, repo) = (tempdir(), tempdir());
        write(user.path(), "scenarios/stolen-credentials.ron", STOLEN);
        write(repo.path(), "scenarios/stolen-credentials.ron", STOLEN);
        let sources = Sources::new(vec![
            Layer::user(user.path()),
            Layer::repository(repo.path()),
        ]);
        let files = sources.files_to_check();
        for entry in &files {
            sources
                .check(entry)
                .unwrap_or_else(|e| panic!("{}: {e}", entry.name));
        }
        let names: Vec<String> = files.into_iter().map(|e| e.name).collect();
        assert_eq!(names.len(), 10, "{names:?}");
        assert!(names.contains(&"built-in:labs/topologies/company.ron".to_string()));
        assert!(names.contains(&"built-in:labs/topologies/saas.ron".to_string()));
        assert!(!names.contains(&"built-in:scenarios/stolen-credentials.ron".to_string()));
        let folder = Sources::folder(repo.path());
        assert_eq!(folder.files_to_check().len(), 1);
    }

    fn tempdir() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }
}
