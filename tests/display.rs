//! The game without a display: `bulkhead` and `bulkhead play` say what is missing and how to go
//! on (xvfb-run, `bulkhead run`, `--screenshot`), exit with 2, and never show winit's panic.

use std::process::{Command, Output};

/// Run the binary as if on a machine with no display server at all.
fn without_display(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bulkhead"))
        .args(args)
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env("BULKHEAD_DATA", env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .output()
        .expect("the binary runs")
}

fn assert_clear_refusal(args: &[&str]) {
    let out = without_display(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}\n{err}");
    for missing in ["DISPLAY", "WAYLAND_DISPLAY"] {
        assert!(
            err.contains(missing),
            "{args:?}: does not name {missing}\n{err}"
        );
    }
    assert!(err.contains("xvfb-run -a bulkhead"), "{args:?}\n{err}");
    assert!(err.contains("bulkhead run"), "{args:?}\n{err}");
    for noise in ["panicked", "backtrace", "RUST_BACKTRACE"] {
        assert!(!err.contains(noise), "{args:?}: {noise}\n{err}");
    }
}

#[test]
fn the_game_without_a_display_says_what_to_do() {
    assert_clear_refusal(&[]);
    assert_clear_refusal(&["play", "--backend", "sim"]);
    assert_clear_refusal(&["play", "stolen-credentials", "--backend", "sim"]);
}
