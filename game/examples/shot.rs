//! A developer's harness for the game without the CLI: play on the simulated lab, or take one
//! offscreen screenshot. `cargo run -p bulkhead-game --example shot -- [SCENARIO] [--shot PNG]
//! [--after S] [--scale F] [--fps] [--size WxH]`

use std::path::PathBuf;
use std::sync::Arc;

use bulkhead_engine::{Backend, SimLab};
use bulkhead_game::{GameConfig, LocalSeat, ScreenshotConfig, SeatSource, run};

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BULKHEAD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let scenarios: Vec<_> = bulkhead_engine::format::load_all(&root)
        .into_iter()
        .filter_map(|(_, r)| r.ok())
        .collect();
    let mut args = std::env::args().skip(1);
    let (mut start, mut shot, mut after, mut scale, mut fps, mut size) =
        (None, None, 150.0, 1.0, false, (1280, 720));
    while let Some(a) = args.next() {
        match a.as_str() {
            "--shot" => shot = args.next().map(PathBuf::from),
            "--after" => after = args.next().and_then(|v| v.parse().ok()).unwrap_or(after),
            "--scale" => scale = args.next().and_then(|v| v.parse().ok()).unwrap_or(scale),
            "--fps" => fps = true,
            "--size" => {
                if let Some((w, h)) = args.next().as_deref().and_then(|v| v.split_once('x')) {
                    size = (w.parse().unwrap_or(1280), h.parse().unwrap_or(720));
                }
            }
            id => start = Some(id.to_string()),
        }
    }
    let config = GameConfig {
        seat: SeatSource::Local(LocalSeat {
            scenarios,
            make_lab: Arc::new(|l, seed| {
                Ok(Box::new(SimLab::new(l.topology.clone(), &l.scenario, seed)) as _)
            }),
            backend: Backend::Sim,
            backend_hint: "run with --backend docker for real containers".into(),
            seed: Some(7),
            time_scale: scale,
            records: None,
        }),
        start,
        screenshot: shot.map(|path| ScreenshotConfig {
            path,
            after_s: after,
            width: size.0,
            height: size.1,
        }),
        report_fps: fps,
        scores_file: Some(std::env::temp_dir().join("bulkhead-dev-scores.json")),
    };
    if let Err(e) = run(config) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
