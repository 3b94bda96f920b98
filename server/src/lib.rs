//! `bulkhead serve`: a workshop's seats hosted by one process. Trainees' clients (the game,
//! `bulkhead run --join`) join a seat over WebSocket with its code and speak the session
//! host's protocol; the facilitator reads the seats over a JSON API with a secret token. The
//! seats' sessions, labs and records live here, on the server; clients never see ground truth
//! before their session's debrief.

mod api;
mod facilitator;
mod join;
pub mod secrets;
mod workshop;

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use bulkhead_host::{Seat, SeatConfig};
use tokio::sync::oneshot;

pub use bulkhead_host::remote::JOIN_PATH;
pub use workshop::{JoinRefusal, SeatRow, Workshop};

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
}

/// A server that is listening.
#[derive(Debug)]
pub struct Running {
    pub addr: SocketAddr,
    workshop: Arc<Workshop>,
    stop: oneshot::Sender<()>,
    served: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// The routes, over a workshop.
pub fn router(workshop: Arc<Workshop>) -> Router {
    Router::new()
        .route("/api/health", get(api::health))
        .route("/api/seats", get(api::seats))
        .route("/api/seats/{seat}/code", post(api::reset_code))
        .route(JOIN_PATH, get(join::join))
        .fallback(api::not_found)
        .with_state(workshop)
}

/// Spawn the seats and listen. Must be called inside a tokio runtime.
pub async fn start(config: ServerConfig) -> std::io::Result<Running> {
    let mut seats = Vec::with_capacity(config.seats.len());
    for seat in config.seats {
        seats.push(Seat::spawn(seat)?);
    }
    let workshop = Arc::new(Workshop::new(
        config.workshop,
        seats,
        config.joins_per_minute,
    ));
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let app = router(workshop.clone()).into_make_service_with_connect_info::<SocketAddr>();
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
            stop,
            served,
            ..
        } = self;
        let _ = stop.send(());
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
