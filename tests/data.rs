//! Where the binary finds its scenarios: built into it when run from anywhere, overridden and
//! added to by the user's data folder, with errors in the user's files located in them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A place with no repository: an empty working folder, empty home and data folders, and the
/// binary beside none of the repository's folders.
struct Elsewhere {
    dir: tempfile::TempDir,
    exe: PathBuf,
}

impl Elsewhere {
    fn new() -> Elsewhere {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["work", "home", "xdg", "bin"] {
            std::fs::create_dir(dir.path().join(sub)).unwrap();
        }
        let exe = dir.path().join("bin/bulkhead");
        // A hard link puts the binary here as a copy would, without copying a debug build's
        // gigabyte per test; a copy where linking is refused (another file system).
        if std::fs::hard_link(env!("CARGO_BIN_EXE_bulkhead"), &exe).is_err() {
            std::fs::copy(env!("CARGO_BIN_EXE_bulkhead"), &exe).unwrap();
        }
        Elsewhere { dir, exe }
    }

    fn path(&self, sub: &str) -> PathBuf {
        self.dir.path().join(sub)
    }

    /// The user's data folder, as `XDG_DATA_HOME` makes it.
    fn user_data(&self) -> PathBuf {
        self.path("xdg/bulkhead")
    }

    /// Put a file in the user's data folder.
    fn user_file(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.user_data().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut command = Command::new(&self.exe);
        command.args(args).current_dir(self.path("work"));
        isolated(&mut command, self)
            .output()
            .expect("the binary runs")
    }
}

/// Nothing of the caller's environment that says where data is.
fn isolated<'a>(command: &'a mut Command, place: &Elsewhere) -> &'a mut Command {
    command
        .env_remove("BULKHEAD_DATA")
        .env("HOME", place.path("home"))
        .env("XDG_DATA_HOME", place.path("xdg"))
        .env("NO_COLOR", "1")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn stolen_credentials() -> String {
    std::fs::read_to_string(repository().join("scenarios/stolen-credentials.ron")).unwrap()
}

/// The line of `list` about one scenario.
fn listed<'a>(list: &'a str, id: &str) -> &'a str {
    list.lines()
        .find(|l| l.split_whitespace().next() == Some(id))
        .unwrap_or_else(|| panic!("{id} not listed\n{list}"))
}

const RUN: [&str; 7] = [
    "run",
    "stolen-credentials",
    "--backend",
    "sim",
    "--seed",
    "3",
    "--json",
];

#[test]
fn from_anywhere_the_shipped_scenarios_are_built_in() {
    let place = Elsewhere::new();
    let out = place.run(&["list"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let list = String::from_utf8_lossy(&out.stdout);
    for id in [
        "insider-access",
        "resource-exhaustion",
        "stolen-credentials",
    ] {
        assert!(listed(&list, id).ends_with(" built-in"), "{list}");
    }
    assert_eq!(list.lines().count(), 3, "{list}");
    let out = place.run(&["check"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("ok      built-in:scenarios/stolen-credentials.ron"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_built_in_scenario_scores_as_the_repositorys_file_does() {
    let place = Elsewhere::new();
    let out = place.run(&RUN);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let built_in: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");

    let mut command = Command::new(env!("CARGO_BIN_EXE_bulkhead"));
    command.args(RUN).current_dir(repository());
    let out = isolated(&mut command, &place).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let repo: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");

    assert!(built_in["total"].is_u64(), "{built_in}");
    assert_eq!(built_in["total"], repo["total"]);
    assert_eq!(built_in["components"], repo["components"]);
}

#[test]
fn the_users_copy_overrides_the_built_in_one_and_new_ones_add() {
    let place = Elsewhere::new();
    let retitled = stolen_credentials().replacen(
        "title: \"Stolen credentials\"",
        "title: \"Our own drill\"",
        1,
    );
    let path = place.user_file("scenarios/stolen-credentials.ron", &retitled);
    let added = retitled.replacen("id: \"stolen-credentials\"", "id: \"night-shift\"", 1);
    let added_path = place.user_file("scenarios/night-shift.ron", &added);
    let out = place.run(&["list"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let list = String::from_utf8_lossy(&out.stdout);
    let line = listed(&list, "stolen-credentials");
    assert!(line.contains("Our own drill"), "{list}");
    assert!(
        line.ends_with(&format!("user: {}", path.display())),
        "{list}"
    );
    assert!(
        listed(&list, "night-shift").ends_with(&format!("user: {}", added_path.display())),
        "{list}"
    );
    assert!(
        listed(&list, "insider-access").ends_with(" built-in"),
        "{list}"
    );
    // The user's copy is the one that runs.
    let out = place.run(&RUN);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

/// Where `needle` first occurs in `text`, as `line:column` (1-based).
fn location_of(text: &str, needle: &str) -> String {
    let at = text.find(needle).unwrap();
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    format!("{line}:{column}")
}

#[test]
fn a_broken_user_scenario_is_bad_input_located_in_the_users_file() {
    let place = Elsewhere::new();
    let broken = stolen_credentials().replacen("difficulty: Beginner", "difficulty: Easy", 1);
    let path = place.user_file("scenarios/stolen-credentials.ron", &broken);
    let located = format!("{}:{}", path.display(), location_of(&broken, "Easy"));
    for args in [&RUN[..], &["check"], &["list"]] {
        let out = place.run(args);
        let all = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}\n{all}");
        assert!(!all.contains("panicked"), "{args:?}\n{all}");
        assert!(all.contains(&located), "{args:?}: no {located}\n{all}");
    }
}

#[test]
fn bulkhead_data_lies_above_the_users_folder() {
    let place = Elsewhere::new();
    place.user_file("scenarios/stolen-credentials.ron", &stolen_credentials());
    let data = place.path("data");
    let ours = data.join("scenarios/stolen-credentials.ron");
    std::fs::create_dir_all(ours.parent().unwrap()).unwrap();
    std::fs::write(&ours, stolen_credentials()).unwrap();
    let mut command = Command::new(&place.exe);
    command.arg("list").current_dir(place.path("work"));
    let out = isolated(&mut command, &place)
        .env("BULKHEAD_DATA", &data)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let list = String::from_utf8_lossy(&out.stdout);
    let line = listed(&list, "stolen-credentials");
    assert!(
        line.ends_with(&format!("BULKHEAD_DATA: {}", ours.display())),
        "{list}"
    );
    let missing: &Path = &place.path("no-such-folder");
    let mut command = Command::new(&place.exe);
    command.arg("list").current_dir(place.path("work"));
    let out = isolated(&mut command, &place)
        .env("BULKHEAD_DATA", missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("is not a folder"), "{}", text(&out));
}
