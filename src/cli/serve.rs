//! `bulkhead serve`: host a workshop's seats on this machine. Prints where to join and the
//! facilitator's secret, then serves until Ctrl+C or SIGTERM, when every session ends (records
//! written on this machine, labs removed).

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bulkhead_engine::Loaded;
use bulkhead_host::{LabFactory, Records, SeatConfig};
use bulkhead_server::ServerConfig;
use clap::Args;

use super::backend::{self, BackendChoice};
use super::{EXIT_BAD_INPUT, EXIT_FAILURE, Exit, report, signals};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address and port to listen on. The default answers this machine only. Another address
    /// (e.g. 0.0.0.0:7420 for a classroom) exposes the join route, the pages (scoreboard,
    /// facilitator console, mentor pages) and the facilitator API, in plain HTTP without TLS,
    /// to every machine that can reach it: do that on a network you trust, and keep the
    /// facilitator link to yourself.
    #[arg(long, default_value = "127.0.0.1:7420")]
    pub listen: SocketAddr,
    /// Which lab each seat runs (default: Docker where a daemon answers, else the simulated lab).
    #[arg(long, value_enum)]
    pub backend: Option<BackendChoice>,
    /// How many seats (trainees) to host.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=500))]
    pub seats: u32,
    /// A scenario the seats offer (repeat for more; default: every valid scenario).
    #[arg(long = "scenario", value_name = "ID")]
    pub scenarios: Vec<String>,
    /// Session seconds per wall second: 1 is real time, 10 plays a 10-minute scenario in one.
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f64,
    /// The workshop's name, shown to trainees when they join.
    #[arg(long, default_value = "Bulkhead workshop")]
    pub name: String,
    /// Seed of every session (random per session when omitted, and recorded either way).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Folder for the sessions' records (default: the user's data folder, bulkhead/records).
    #[arg(long, value_name = "DIR")]
    pub records: Option<PathBuf>,
    /// Minutes a seat's lab stays up with nobody connected and the session not running.
    #[arg(long, default_value_t = 30)]
    pub idle_minutes: u64,
    /// Join attempts one address may make per minute.
    #[arg(long, default_value = "30")]
    pub joins_per_minute: NonZeroU32,
    /// The Docker API of another node of the swarm (repeat for each; --backend swarm only):
    /// unix:///path (a socket, such as one `ssh -nNT -L /run/bulkhead/n2.sock:/var/run/docker.sock
    /// n2` forwards) or tcp://host:port. Labs go to those nodes too, driven through them.
    #[arg(long = "node", value_name = "ENGINE")]
    pub nodes: Vec<String>,
}

pub fn serve(args: &ServeArgs) -> Result<(), Exit> {
    if !(args.time_scale > 0.0 && args.time_scale <= 1000.0) {
        eprintln!(
            "error: --time-scale {} is out of range\n  help: use a number above 0 and at most 1000 (1 is real time)",
            args.time_scale
        );
        return Err(Exit(EXIT_BAD_INPUT));
    }
    let catalogue = Arc::new(catalogue(&args.scenarios)?);
    let records = records_dir(args.records.as_ref())?;
    let choice = backend::resolve(args.backend);
    if !args.nodes.is_empty() && choice != BackendChoice::Swarm {
        eprintln!(
            "error: --node gives the engines of a swarm's other nodes\n  help: add --backend swarm, or leave --node out"
        );
        return Err(Exit(EXIT_BAD_INPUT));
    }
    let config = ServerConfig {
        listen: args.listen,
        workshop: args.name.clone(),
        seats: (1..=args.seats)
            .map(|seat| seat_config(args, seat, choice, &catalogue, &records))
            .collect(),
        joins_per_minute: args.joins_per_minute,
        nodes: (choice == BackendChoice::Swarm).then(backend::swarm_nodes),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("error: cannot start the server's runtime: {e}");
            Exit(EXIT_FAILURE)
        })?;
    let stopping = Arc::new(tokio::sync::Notify::new());
    let notify = stopping.clone();
    let stop = signals::install(move |_| notify.notify_one());
    runtime.block_on(async {
        backend::use_node_engines(&args.nodes).await?;
        let running = bulkhead_server::start(config).await.map_err(|e| {
            eprintln!(
                "error: cannot listen on {}: {e}\n  help: is another server on that port? choose another with --listen",
                args.listen
            );
            Exit(EXIT_FAILURE)
        })?;
        announce(args, &running, choice, &catalogue, &records);
        stopping.notified().await;
        let signal = stop.signal().map_or("stop", |s| s.name());
        eprintln!("{signal}: ending every session and removing the labs");
        running.stop().await;
        eprintln!("stopped; records are in {}", records.display());
        Ok(())
    })
}

/// The scenarios the seats offer, loaded and validated now, so that a bad one fails at start.
fn catalogue(asked: &[String]) -> Result<Vec<Loaded>, Exit> {
    let sources = super::run::sources()?;
    if asked.is_empty() {
        let all: Vec<Loaded> = sources
            .load_all()
            .into_iter()
            .filter_map(|(entry, loaded)| match loaded {
                Ok(l) => Some(l),
                Err(_) => {
                    eprintln!("skipping {} (run `bulkhead check` for details)", entry.name);
                    None
                }
            })
            .collect();
        if all.is_empty() {
            eprintln!(
                "error: no valid scenario to offer\n  help: `bulkhead check` says what is wrong"
            );
            return Err(Exit(EXIT_BAD_INPUT));
        }
        return Ok(all);
    }
    asked
        .iter()
        .map(|id| sources.resolve(id).map_err(|e| report(e, EXIT_BAD_INPUT)))
        .collect()
}

fn records_dir(asked: Option<&PathBuf>) -> Result<PathBuf, Exit> {
    let dir = match asked {
        Some(dir) => dir.clone(),
        None => directories::ProjectDirs::from("", "", "bulkhead")
            .map(|d| d.data_dir().join("records"))
            .ok_or_else(|| {
                eprintln!("error: no home folder to keep records in\n  help: pass --records DIR");
                Exit(EXIT_BAD_INPUT)
            })?,
    };
    std::fs::create_dir_all(&dir).map_err(|e| {
        eprintln!(
            "error: cannot create the records folder {}: {e}\n  help: pass --records with a writable folder",
            dir.display()
        );
        Exit(EXIT_BAD_INPUT)
    })?;
    Ok(dir)
}

fn seat_config(
    args: &ServeArgs,
    seat: u32,
    choice: BackendChoice,
    catalogue: &Arc<Vec<Loaded>>,
    records: &std::path::Path,
) -> SeatConfig {
    let scale = args.time_scale;
    let make_lab: LabFactory = Arc::new(move |loaded, seed| {
        backend::make_lab(choice, loaded, seed, scale, &mut |msg| {
            tracing::info!(seat, "{msg}")
        })
    });
    SeatConfig {
        seat,
        workshop: args.name.clone(),
        backend: choice.recorded(),
        catalogue: catalogue.clone(),
        make_lab,
        seed: args.seed,
        time_scale: scale,
        stop_at: None,
        // Ten views a second is smooth enough for gauges and cheap for a room of seats.
        publish_every: Duration::from_millis(100),
        records: Records::Dir(records.to_path_buf()),
        idle_timeout: Some(Duration::from_secs(args.idle_minutes.saturating_mul(60))),
    }
}

/// Tell the facilitator what is served and how to join.
fn announce(
    args: &ServeArgs,
    running: &bulkhead_server::Running,
    choice: BackendChoice,
    catalogue: &[Loaded],
    records: &std::path::Path,
) {
    let url = format!("http://{}", running.addr);
    let reach = if running.addr.ip().is_loopback() {
        "this machine only; --listen 0.0.0.0:7420 opens it to the network"
    } else {
        "open to the network, plain HTTP"
    };
    let ids: Vec<&str> = catalogue.iter().map(|l| l.scenario.id.as_str()).collect();
    println!(
        "Bulkhead workshop \"{}\": {} seat(s) on the {}",
        args.name,
        args.seats,
        choice.title()
    );
    println!("scenarios: {}", ids.join(", "));
    println!("listening: {url} ({reach})");
    println!(
        "facilitator: {url}/facilitator?token={} (keep it secret)",
        running.facilitator_token()
    );
    println!("scoreboard: {url}/scoreboard (public; {url}/scoreboard?wall=1 for a projector)");
    for (seat, code) in running.codes() {
        println!("seat {seat}: code {code}  join: bulkhead play --join {url} --code {code}");
    }
    println!("records: {}", records.display());
    println!(
        "Ctrl+C stops the server: every session ends, its record is written, its lab removed."
    );
    use std::io::Write;
    let _ = std::io::stdout().flush();
}
