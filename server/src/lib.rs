//! `bulkhead serve`: a workshop's seats hosted by one process. Trainees' clients (the game,
//! `bulkhead run --join`) join a seat over WebSocket with its code and speak the session
//! host's protocol; the facilitator reads the seats over a JSON API with a secret token. The
//! seats' sessions, labs and records live here, on the server; clients never see ground truth
//! before their session's debrief.

mod access;
mod api;
mod facilitator;
mod join;
mod pages;
mod refusal;
pub mod secrets;
mod workshop;

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::Router;
use axum::extract::FromRef;
use axum::routing::{get, post};
use bulkhead_engine::NodeLoad;
use bulkhead_host::{Seat, SeatConfig};
use tokio::sync::oneshot;

pub use bulkhead_host::remote::JOIN_PATH;
pub use pages::export::{SeatResult, csv as results_csv, results};
pub use pages::live::POLL as LIVE_POLL;
pub use workshop::{JoinRefusal, SeatRow, Workshop};

/// What every route may read: the workshop and the pages' live streams.
#[derive(Debug, Clone)]
pub struct App {
    pub workshop: Arc<Workshop>,
    pub live: Arc<pages::live::Live>,
}

impl FromRef<App> for Arc<Workshop> {
    fn from_ref(app: &App) -> Arc<Workshop> {
        app.workshop.clone()
    }
}

/// What a server hosts and where.
#[derive(Debug)]
pub struct ServerConfig {
    /// Where to listen; port 0 picks a free one (see `Running::addr`).
    pub listen: SocketAddr,
    pub workshop: String,
    /// One per seat, numbered as they say.
    pub seats: Vec<SeatConfig>,
    /// Join attempts one address may make per minute (every attempt counts).
    pub joins_per_minute: NonZeroU32,
    /// Where to read the load of the machines the labs run on (a swarm's nodes), shown to the
    /// facilitator; `None`: the labs run on this machine.
    pub nodes: Option<NodeSource>,
}

/// Reads the load of every machine labs run on; called every [`NODES_EVERY`].
#[derive(Clone)]
pub struct NodeSource(pub Arc<dyn Fn() -> NodesRead + Send + Sync>);

/// One read of the nodes' load.
pub type NodesRead = std::pin::Pin<Box<dyn std::future::Future<Output = Vec<NodeLoad>> + Send>>;

impl std::fmt::Debug for NodeSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NodeSource")
    }
}

/// How often the facilitator's node view is read again.
pub const NODES_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// A server that is listening.
#[derive(Debug)]
pub struct Running {
    pub addr: SocketAddr,
    workshop: Arc<Workshop>,
    live: Arc<pages::live::Live>,
    refresher: tokio::task::JoinHandle<()>,
    /// Reads the nodes' load, where labs run on a swarm.
    nodes_reader: Option<tokio::task::JoinHandle<()>>,
    stop: oneshot::Sender<()>,
    served: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// The routes: the JSON API, the join socket and the pages.
pub fn router(app: App) -> Router {
    use pages::{export, facilitator, home, mentor, report, scoreboard};
    Router::new()
        .route("/api/health", get(api::health))
        .route("/api/seats", get(api::seats))
        .route("/api/nodes", get(api::nodes))
        .route("/api/seats/{seat}/code", post(api::reset_code))
        .route(JOIN_PATH, get(join::join))
        .route("/", get(home::show))
        .route("/assets/style.css", get(pages::style))
        .route("/assets/live.js", get(pages::script))
        .route("/scoreboard", get(scoreboard::show))
        .route(scoreboard::EVENTS, get(scoreboard::events))
        .route(facilitator::PATH, get(facilitator::show))
        .route(facilitator::EVENTS, get(facilitator::events))
        .route("/facilitator/start-all", post(facilitator::start_all))
        .route("/facilitator/seats/{seat}/{act}", post(facilitator::act))
        .route("/facilitator/export.csv", get(export::export_csv))
        .route("/facilitator/export.json", get(export::export_json))
        .route("/mentor/{seat}", get(mentor::show))
        .route(report::REPORT, get(report::report))
        .route(report::RECORD, get(report::record))
        .route("/mentor/{seat}/events", get(mentor::events))
        .route("/mentor/{seat}/{act}", post(mentor::act))
        .fallback(api::not_found)
        .with_state(app)
}

/// Spawn the seats and listen. Must be called inside a tokio runtime.
pub async fn start(config: ServerConfig) -> std::io::Result<Running> {
    let offers = config.seats.first().map_or_else(Vec::new, |seat| {
        seat.catalogue
            .iter()
            .map(|l| bulkhead_host::Offer::of(&l.scenario))
            .collect()
    });
    let mut seats = Vec::with_capacity(config.seats.len());
    for seat in config.seats {
        seats.push(Seat::spawn(seat)?);
    }
    let workshop = Arc::new(Workshop::new(
        config.workshop,
        offers,
        seats,
        config.joins_per_minute,
    ));
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let nodes_reader = config.nodes.map(|source| {
        let workshop = workshop.clone();
        tokio::spawn(async move {
            loop {
                workshop.set_nodes((source.0)().await);
                tokio::time::sleep(NODES_EVERY).await;
            }
        })
    });
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let (live, refresher) = pages::live::Live::start(workshop.clone());
    let app = App {
        workshop: workshop.clone(),
        live: live.clone(),
    };
    let app = router(app).into_make_service_with_connect_info::<SocketAddr>();
    let served = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    tracing::info!(%addr, "serving");
    Ok(Running {
        addr,
        workshop,
        live,
        refresher,
        nodes_reader,
        stop,
        served,
    })
}

impl Running {
    pub fn facilitator_token(&self) -> &str {
        self.workshop.facilitator_token()
    }

    /// Seat numbers and their join codes.
    pub fn codes(&self) -> Vec<(u32, String)> {
        self.workshop.codes()
    }

    pub fn workshop(&self) -> &Arc<Workshop> {
        &self.workshop
    }

    /// Stop listening, end every seat's session (records closed, labs removed) and wait for
    /// it all. Connected clients are told the server is stopping.
    pub async fn stop(self) {
        let Running {
            workshop,
            live,
            refresher,
            nodes_reader,
            stop,
            served,
            ..
        } = self;
        let _ = stop.send(());
        if let Some(reader) = nodes_reader {
            reader.abort();
        }
        // Open page streams end now, or the graceful stop would wait on every browser.
        live.stop();
        let _ = refresher.await;
        // Seats end on their own threads: a Docker lab's teardown blocks for about a second.
        let ending = workshop.clone();
        let _ = tokio::task::spawn_blocking(move || ending.shut_down()).await;
        // Open WebSockets end once their seats have let them go; the listener is already closed.
        if tokio::time::timeout(std::time::Duration::from_secs(5), served)
            .await
            .is_err()
        {
            tracing::warn!("some connections did not close within 5 s of the stop");
        }
    }
}
