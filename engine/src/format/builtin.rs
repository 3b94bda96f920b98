//! The shipped scenarios and topologies, compiled into the binary so that it runs from any
//! folder: the last layer of the data sources, under every folder on disk.

/// One shipped data file: its id, its path in the repository and its text.
#[derive(Debug, Clone, Copy)]
pub struct BuiltIn {
    pub id: &'static str,
    /// Relative to the repository root, e.g. `scenarios/stolen-credentials.ron`.
    pub path: &'static str,
    pub text: &'static str,
}

/// A shipped file by folder and id. Listed by hand: the test below fails when a file is added
/// to (or removed from) the folder and not here, so none is silently left out.
macro_rules! shipped {
    ($dir:literal, $id:literal) => {
        BuiltIn {
            id: $id,
            path: concat!($dir, "/", $id, ".ron"),
            text: include_str!(concat!("../../../", $dir, "/", $id, ".ron")),
        }
    };
}

/// The shipped scenarios (`scenarios/*.ron`), sorted by id.
pub const SCENARIOS: &[BuiltIn] = &[
    shipped!("scenarios", "baked-secret"),
    shipped!("scenarios", "insider-access"),
    shipped!("scenarios", "lateral-movement"),
    shipped!("scenarios", "poisoned-pdf"),
    shipped!("scenarios", "resource-exhaustion"),
    shipped!("scenarios", "stolen-credentials"),
    shipped!("scenarios", "supply-chain"),
];

/// The shipped lab topologies (`labs/topologies/*.ron`), sorted by id.
pub const TOPOLOGIES: &[BuiltIn] = &[
    shipped!("labs/topologies", "company"),
    shipped!("labs/topologies", "saas"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn repository() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    fn ids(list: &[BuiltIn]) -> Vec<String> {
        list.iter().map(|b| b.id.to_string()).collect()
    }

    #[test]
    fn every_shipped_file_is_built_in_and_nothing_else() {
        let scenarios = crate::format::list_ids(&repository().join("scenarios"));
        assert_eq!(
            ids(SCENARIOS),
            scenarios,
            "scenarios/ and format/builtin.rs's SCENARIOS differ: list every shipped scenario there"
        );
        let topologies = crate::format::list_ids(&repository().join("labs/topologies"));
        assert_eq!(
            ids(TOPOLOGIES),
            topologies,
            "labs/topologies/ and format/builtin.rs's TOPOLOGIES differ: list every shipped topology there"
        );
    }

    #[test]
    fn built_in_texts_are_the_files_and_their_paths_name_them() {
        for b in SCENARIOS.iter().chain(TOPOLOGIES) {
            let on_disk = std::fs::read_to_string(repository().join(b.path)).unwrap();
            assert_eq!(b.text, on_disk, "{}", b.path);
        }
    }
}
