//! Render tests: offscreen screenshots of the live screen and the debrief through `run`, checked
//! for content and for nodes drawn where `layout()` puts them. They need a Vulkan adapter
//! (lavapipe will do): without one they skip loudly, unless BULKHEAD_REQUIRE_RENDER=1.
//!
//! Each picture is taken in a child process (this test binary, running the ignored
//! `render_child` test): bevy's renderer is set up once per process, and a missing GPU panics
//! inside bevy, which the parent turns into a skip.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use bevy::math::Vec2;
use bulkhead_engine::defender::Bot;
use bulkhead_engine::{Backend, Loaded, Record, RecordWriter, Session, SimLab};
use bulkhead_game::live::regions;
use bulkhead_game::map::camera::{frame, world_to_screen};
use bulkhead_game::map::layout::{NODE_RADIUS, layout};
use bulkhead_game::{GameConfig, LocalSeat, ReplaySource, ScreenshotConfig, SeatSource, run};

const W: u32 = 1280;
const H: u32 = 720;
/// The node disc's colour while running (see map/draw.rs), sRGB.
const DISC: [u8; 3] = [0x1f, 0x2e, 0x3e];
const BG: [u8; 3] = [0x0e, 0x13, 0x1a];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn loaded() -> Loaded {
    bulkhead_engine::format::load_scenario(
        &root().join("scenarios/stolen-credentials.ron"),
        &root(),
    )
    .unwrap()
}

/// Runs in the child: one screenshot, as the parent asked through the environment.
#[test]
#[ignore = "run by render_live_and_debrief in a child process"]
fn render_child() {
    let path = PathBuf::from(std::env::var("BULKHEAD_RENDER_PATH").unwrap());
    let after_s: f64 = std::env::var("BULKHEAD_RENDER_AFTER")
        .unwrap()
        .parse()
        .unwrap();
    let seat = match std::env::var("BULKHEAD_RENDER_REPLAY") {
        Ok(record) => SeatSource::Replay(ReplaySource {
            record: Box::new(Record::read(Path::new(&record)).unwrap()),
            path: record,
            speed: 10.0,
        }),
        Err(_) => SeatSource::Local(LocalSeat {
            scenarios: vec![loaded()],
            make_lab: Arc::new(|l: &Loaded, seed| {
                Ok(Box::new(SimLab::new(l.topology.clone(), &l.scenario, seed))
                    as Box<dyn bulkhead_engine::Lab>)
            }),
            backend: Backend::Sim,
            backend_hint: String::new(),
            seed: Some(7),
            time_scale: 1.0,
            records: None,
        }),
    };
    let config = GameConfig {
        seat,
        start: Some("stolen-credentials".into()),
        screenshot: Some(ScreenshotConfig {
            path,
            after_s,
            width: W,
            height: H,
        }),
        report_fps: false,
        scores_file: None,
    };
    run(config).expect("the screenshot run");
}

enum Shot {
    Taken(PathBuf),
    NoGpu(String),
}

/// A picture of a local session (`replay: None`) or of a record played back.
fn shoot(dir: &Path, name: &str, after_s: f64, replay: Option<&Path>) -> Shot {
    let path = dir.join(format!("{name}.png"));
    let mut child = Command::new(std::env::current_exe().unwrap());
    child
        .args(["render_child", "--exact", "--ignored", "--nocapture"])
        .env("BULKHEAD_RENDER_PATH", &path)
        .env("BULKHEAD_RENDER_AFTER", after_s.to_string());
    if let Some(record) = replay {
        child.env("BULKHEAD_RENDER_REPLAY", record);
    }
    let out = child.output().expect("spawn the render child");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        let no_gpu = ["Unable to find a GPU", "No suitable adapter", "no adapter"]
            .iter()
            .any(|m| log.contains(m));
        if no_gpu {
            return Shot::NoGpu(log);
        }
        panic!("the {name} render failed:\n{log}");
    }
    Shot::Taken(path)
}

struct Png {
    width: u32,
    height: u32,
    rgb: Vec<u8>,
}

impl Png {
    fn read(path: &Path) -> Png {
        let decoder =
            png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        let channels = info.color_type.samples();
        let rgb = buf[..info.buffer_size()]
            .chunks(channels)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect();
        Png {
            width: info.width,
            height: info.height,
            rgb,
        }
    }

    fn at(&self, x: f32, y: f32) -> [u8; 3] {
        let (x, y) = (x.round() as usize, y.round() as usize);
        let i = (y * self.width as usize + x) * 3;
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }

    fn distinct(&self) -> usize {
        let mut set = std::collections::HashSet::new();
        for p in self.rgb.chunks(3) {
            set.insert([p[0], p[1], p[2]]);
        }
        set.len()
    }

    /// Share of pixels that differ from the background colour.
    fn drawn(&self) -> f64 {
        let n = self.rgb.len() / 3;
        let other = self
            .rgb
            .chunks(3)
            .filter(|p| !near(&[p[0], p[1], p[2]], &BG, 6))
            .count();
        other as f64 / n as f64
    }
}

fn near(a: &[u8; 3], b: &[u8; 3], tolerance: i32) -> bool {
    a.iter()
        .zip(b)
        .all(|(x, y)| (i32::from(*x) - i32::from(*y)).abs() <= tolerance)
}

fn assert_not_blank(png: &Png, name: &str) {
    assert_eq!((png.width, png.height), (W, H), "{name} size");
    let distinct = png.distinct();
    let drawn = png.drawn();
    assert!(distinct > 400, "{name}: only {distinct} distinct colours");
    assert!(
        drawn > 0.2,
        "{name}: only {:.0}% of pixels drawn",
        drawn * 100.0
    );
}

#[test]
fn render_live_and_debrief() {
    let required = std::env::var("BULKHEAD_REQUIRE_RENDER").is_ok_and(|v| v == "1");
    let dir = tempfile::tempdir().unwrap();
    let keep = std::env::var_os("BULKHEAD_RENDER_KEEP").map(PathBuf::from);
    let out = keep.as_deref().unwrap_or(dir.path());

    // Live: 30 s into the live phase of stolen-credentials (warm-up is 120 s).
    let live = match shoot(out, "live", 150.0, None) {
        Shot::Taken(p) => p,
        Shot::NoGpu(log) => {
            if required {
                panic!("BULKHEAD_REQUIRE_RENDER=1 but no Vulkan adapter:\n{log}");
            }
            // Written straight to stderr: the test harness captures eprintln! of passing tests.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "\n=== SKIPPED render tests: no Vulkan adapter (install mesa-vulkan-drivers for \
                 lavapipe; set BULKHEAD_REQUIRE_RENDER=1 to make this fail) ===\n"
            );
            return;
        }
    };
    let png = Png::read(&live);
    assert_not_blank(&png, "live");

    nodes_drawn(&png, "live");
    let live_bar = violet_in_bar(&png);

    // Debrief: past the end of the session.
    let debrief = match shoot(out, "debrief", 700.0, None) {
        Shot::Taken(p) => p,
        Shot::NoGpu(log) => panic!("the second render found no GPU after the first did:\n{log}"),
    };
    let png = Png::read(&debrief);
    assert_not_blank(&png, "debrief");

    // Replay: a bot's record of the same scenario, held 80 s into the live phase. The same
    // live screen (nodes where the layout puts them), with the replay bar over the map's foot.
    let record = out.join("bot.jsonl");
    write_bot_record(&record);
    let replay = match shoot(out, "replay", 200.0, Some(&record)) {
        Shot::Taken(p) => p,
        Shot::NoGpu(log) => panic!("the replay render found no GPU after the first did:\n{log}"),
    };
    let png = Png::read(&replay);
    assert_not_blank(&png, "replay");
    nodes_drawn(&png, "replay");
    let replay_bar = violet_in_bar(&png);
    assert!(
        replay_bar > 200 && replay_bar > live_bar * 4,
        "the replay bar's violet (pill, played part) is missing: {replay_bar} pixels, {live_bar} on the live screen"
    );
}

/// Nodes are drawn where layout() puts them, framed by the camera into the map region.
fn nodes_drawn(png: &Png, name: &str) {
    let l = loaded();
    let map = layout(&l.topology);
    let screen = Vec2::new(W as f32, H as f32);
    let f = frame(map.bounds, regions(screen).map, screen);
    for node in &map.nodes {
        let c = world_to_screen(&f, screen, node.pos);
        // Inside the disc, clear of the icon: the disc's colour.
        let r = NODE_RADIUS * 0.85 / f.scale;
        let samples = [
            Vec2::new(c.x + r, c.y),
            Vec2::new(c.x - r, c.y),
            Vec2::new(c.x, c.y + r * 0.9),
        ];
        let hits = samples
            .iter()
            .filter(|p| near(&png.at(p.x, p.y), &DISC, 10))
            .count();
        assert!(
            hits >= 2,
            "{name}: node {} not drawn at {c}: {:?}",
            node.service,
            samples.map(|p| png.at(p.x, p.y))
        );
        // Well outside the disc the colour is something else (a zone, a label).
        let away = png.at(
            c.x + NODE_RADIUS * 1.6 / f.scale,
            c.y + NODE_RADIUS * 0.2 / f.scale,
        );
        assert!(
            !near(&away, &DISC, 3),
            "{name}: node {} looks too big",
            node.service
        );
    }
}

/// Pixels of the replay bar's violet in the strip over the foot of the map, where the bar goes.
fn violet_in_bar(png: &Png) -> usize {
    const VIOLET: [u8; 3] = [0xa0, 0x8c, 0xf0];
    let map = regions(Vec2::new(W as f32, H as f32)).map;
    let mut n = 0;
    for y in (map.max.y - 70.0) as u32..map.max.y as u32 {
        for x in map.min.x as u32..map.max.x as u32 {
            let p = png.at(x as f32, y as f32);
            if near(&p, &VIOLET, 40) || near(&p, &VIOLET.map(|c| (f32::from(c) * 0.7) as u8), 25) {
                n += 1;
            }
        }
    }
    n
}

/// A bot's session of stolen-credentials on the simulated lab, its record written to `path`.
fn write_bot_record(path: &Path) {
    let l = loaded();
    let file = std::fs::File::create(path).unwrap();
    let mut session = Session::new(
        l.scenario.clone(),
        l.topology.clone(),
        Box::new(SimLab::new(l.topology.clone(), &l.scenario, 7)),
        7,
        RecordWriter::new(Box::new(file)),
    );
    session.run(&mut Bot::default(), |_| {});
}
