//! End-to-end test of `bulkhead play --screenshot`: the binary renders the live and debrief
//! screens offscreen (no window) and writes PNGs, on a seat of its own and on a seat of a
//! `bulkhead serve` server. Needs a Vulkan adapter: skips loudly where none exists, and is
//! required where BULKHEAD_REQUIRE_RENDER=1 (CI).

#[macro_use]
mod common;

use std::path::Path;
use std::process::Command;

use common::Served;

fn vulkan_here(test: &str) -> bool {
    let found = ["/usr/share/vulkan/icd.d", "/etc/vulkan/icd.d"]
        .iter()
        .any(|d| {
            std::fs::read_dir(d).is_ok_and(|mut entries| {
                entries.any(|e| e.is_ok_and(|e| e.path().extension().is_some_and(|x| x == "json")))
            })
        });
    if !found {
        if std::env::var("BULKHEAD_REQUIRE_RENDER").is_ok_and(|v| v == "1") {
            panic!(
                "BULKHEAD_REQUIRE_RENDER=1 but no Vulkan driver is installed (apt-get install mesa-vulkan-drivers)"
            );
        }
        bulkhead_labs::docker::announce_skip(
            test,
            "no Vulkan driver here (apt-get install mesa-vulkan-drivers)",
            "This test did NOT run; set BULKHEAD_REQUIRE_RENDER=1 to make it fail instead",
        );
    }
    found
}

/// Width, height and size of a PNG, read from its header.
fn png_facts(path: &Path) -> (u32, u32, usize) {
    let bytes = std::fs::read(path).expect("the screenshot was written");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let be = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    (be(16), be(20), bytes.len())
}

#[test]
fn play_renders_the_live_and_debrief_screens_offscreen() {
    if !vulkan_here("play_renders_the_live_and_debrief_screens_offscreen") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (name, after) in [("live.png", "150"), ("debrief.png", "700")] {
        let path = dir.path().join(name);
        let out = Command::new(env!("CARGO_BIN_EXE_bulkhead"))
            .args([
                "play",
                "stolen-credentials",
                "--backend",
                "sim",
                "--seed",
                "3",
                "--time-scale",
                "200",
            ])
            .args(["--screenshot", path.to_str().unwrap(), "--after", after])
            .env("BULKHEAD_DATA", env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (w, h, size) = png_facts(&path);
        assert_eq!((w, h), (1280, 720), "{name}");
        // A blank frame compresses to a few kilobytes; a drawn screen does not.
        assert!(size > 40_000, "{name} is nearly empty: {size} bytes");
    }
}

#[test]
fn play_joins_a_served_seat_and_renders_its_live_screen() {
    let test = "play_joins_a_served_seat_and_renders_its_live_screen";
    if !vulkan_here(test) {
        return;
    }
    let mut served = Served::start(&[
        "--backend",
        "sim",
        "--seats",
        "1",
        "--time-scale",
        "20",
        "--seed",
        "3",
        "--scenario",
        "stolen-credentials",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("joined.png");
    let out = Command::new(env!("CARGO_BIN_EXE_bulkhead"))
        .args(["play", "stolen-credentials", "--join", &served.url])
        .args(["--code", &served.codes[0], "--name", "Ada"])
        .args(["--screenshot", path.to_str().unwrap(), "--after", "150"])
        .env("BULKHEAD_DATA", env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (w, h, size) = png_facts(&path);
    assert_eq!((w, h), (1280, 720));
    assert!(
        size > 40_000,
        "the joined live screen is nearly empty: {size} bytes"
    );
    // The server saw the trainee and played their session: it is live, past the warm-up.
    let seats = common::seats_json(&served.url, &served.token);
    assert_eq!(seats[0]["trainee"], "Ada");
    assert_eq!(seats[0]["scenario"], "stolen-credentials");
    assert!(
        seats[0]["now_ms"].as_u64().unwrap() >= 150_000,
        "{}",
        seats[0]
    );
    assert_eq!(served.stop(), Some(0), "{}", served.run.output());
}
