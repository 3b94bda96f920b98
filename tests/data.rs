//! The binary alone, anywhere: its scenarios are built into it, overridden and added to by the
//! user's data folder (with errors in the user's files located in them), and a release build
//! starts a Docker lab from the `labd` it carries, with no cargo and no source tree.

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
        "baked-secret",
        "insider-access",
        "lateral-movement",
        "poisoned-pdf",
        "resource-exhaustion",
        "stolen-credentials",
        "supply-chain",
    ] {
        assert!(listed(&list, id).ends_with(" built-in"), "{list}");
    }
    assert_eq!(list.lines().count(), 7, "{list}");
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

/// The directories of `PATH` without any that holds a `cargo` (rustup's `~/.cargo/bin`).
fn path_without_cargo() -> std::ffi::OsString {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let kept: Vec<PathBuf> = std::env::split_paths(&path)
        .filter(|dir| !dir.join("cargo").exists())
        .collect();
    std::env::join_paths(kept).unwrap()
}

fn card(out: &Output, what: &str) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{what}: {:?}\n{}",
        out.status,
        text(out)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{what}: {e}\n{}", text(out)))
}

fn points(card: &serde_json::Value, key: &str) -> i64 {
    card["components"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["key"] == key))
        .and_then(|c| c["points"].as_i64())
        .unwrap_or_else(|| panic!("no {key} in {card}"))
}

#[test]
fn a_release_build_alone_plays_on_docker_without_cargo_or_sources() {
    const TEST: &str = "a_release_build_alone_plays_on_docker_without_cargo_or_sources";
    if !bulkhead_labs::embedded::carries_labd() {
        assert!(
            std::env::var("BULKHEAD_REQUIRE_RELEASE").as_deref() != Ok("1"),
            "{TEST}: BULKHEAD_REQUIRE_RELEASE=1 but this build carries no labd \
             (build with the variables scripts/build-labd.sh prints, as .ci/run does)"
        );
        bulkhead_labs::docker::announce_skip(
            TEST,
            "this build carries no labd (a developer build)",
            "scripts/build-labd.sh prints the variables that make one; \
             BULKHEAD_REQUIRE_RELEASE=1 makes this a failure",
        );
        return;
    }
    let here = Elsewhere::new();
    let version = here.run(&["--version"]);
    let version = text(&version);
    assert!(
        version.contains("amd64") && version.contains("arm64"),
        "{version}"
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    if rt
        .block_on(bulkhead_labs::docker::docker_or_skip(TEST))
        .is_none()
    {
        return;
    }
    let args = ["run", "stolen-credentials", "--seed", "7", "--json"];
    let on = |backend: &[&str]| {
        let mut command = Command::new(&here.exe);
        command
            .args(args)
            .args(backend)
            .current_dir(here.path("work"))
            .env("PATH", path_without_cargo())
            .env_remove("CARGO")
            .env_remove("BULKHEAD_SOURCE_DIR")
            .env_remove("BULKHEAD_LABD_TARGET_DIR");
        isolated(&mut command, &here)
            .output()
            .expect("the binary runs")
    };
    let docker = on(&["--backend", "docker", "--time-scale", "20"]);
    let docker_card = card(&docker, "on Docker");
    let sim_card = card(&on(&["--backend", "sim"]), "on the simulated lab");
    assert!(
        !text(&docker).contains("Compiling"),
        "cargo ran on the lab start path:\n{}",
        text(&docker)
    );
    assert_eq!(docker_card["backend"], "docker");
    // The lab's timings: one line on stderr and the card's `lab`.
    let lab = &docker_card["lab"];
    for key in ["image_s", "up_s", "ready_s", "down_s"] {
        assert!(lab[key].as_f64().is_some_and(|s| s > 0.0), "{key}: {lab}");
    }
    assert!(
        String::from_utf8_lossy(&docker.stderr).contains("lab ready in "),
        "{}",
        text(&docker)
    );
    assert!(
        sim_card.get("lab").is_none(),
        "the simulated lab has no timings"
    );
    for key in ["detection", "containment"] {
        assert!(
            points(&docker_card, key) > 0,
            "{key} on Docker: {docker_card}"
        );
    }
    assert_eq!(
        points(&docker_card, "attribution"),
        points(&sim_card, "attribution")
    );
    let (on_docker, on_sim) = (
        docker_card["total"].as_i64().unwrap(),
        sim_card["total"].as_i64().unwrap(),
    );
    assert!(
        (on_docker - on_sim).abs() <= 100,
        "Docker scored {on_docker}, the simulated lab {on_sim}"
    );
}
