//! The roles a container can play, and what they all share: listeners, `/healthz`, `ready`.

pub mod datastore;
pub mod executor;
pub mod gateway;
pub mod web;
pub mod worker;

use std::future::Future;
use std::net::SocketAddr;

use hyper::{Method, StatusCode};
use serde_json::json;
use tokio::net::TcpListener;

use crate::config::{ConfigError, Env};
use crate::http::{self, Req, Resp};
use crate::log::Log;

/// The roles `labd <role>` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Web,
    Gateway,
    Datastore,
    Worker,
    Traffic,
    Attacker,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Self::Web => "web",
            Self::Gateway => "gateway",
            Self::Datastore => "datastore",
            Self::Worker => "worker",
            Self::Traffic => "traffic",
            Self::Attacker => "attacker",
        }
    }
}

/// The two sockets every role listens on, bound before the role starts so tests can use
/// ephemeral ports and learn them first.
#[derive(Debug)]
pub struct Listeners {
    pub service: TcpListener,
    pub control: TcpListener,
}

impl Listeners {
    /// `0.0.0.0:<LABD_PORT>` and `0.0.0.0:<LABD_CONTROL_PORT>`.
    pub async fn from_env(env: &Env) -> std::io::Result<Self> {
        Ok(Self {
            service: http::bind_all(env.port).await?,
            control: http::bind_all(env.control_port).await?,
        })
    }

    /// Two ephemeral ports on 127.0.0.1, for tests.
    pub async fn loopback() -> std::io::Result<Self> {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        Ok(Self {
            service: TcpListener::bind(any).await?,
            control: TcpListener::bind(any).await?,
        })
    }

    pub fn service_addr(&self) -> SocketAddr {
        self.service
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    pub fn control_addr(&self) -> SocketAddr {
        self.control
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }
}

/// Runs `role` until the process ends. Returns early only when the environment does not
/// configure the role well enough to start.
pub async fn run(role: Role, env: &Env, log: Log, listeners: Listeners) -> Result<(), ConfigError> {
    match role {
        Role::Web => web::run(web::WebConfig::from_env(env)?, log, listeners).await,
        Role::Gateway => {
            gateway::run(gateway::GatewayConfig::from_env(env)?, log, listeners).await;
        }
        Role::Datastore => {
            datastore::run(datastore::DatastoreConfig::from_env(env)?, log, listeners).await;
        }
        Role::Worker => worker::run(log, listeners).await,
        Role::Traffic | Role::Attacker => {
            executor::run(
                role,
                executor::ExecutorConfig::from_env(env, role)?,
                log,
                listeners,
            )
            .await;
        }
    }
    Ok(())
}

/// `GET /healthz` → `200 ok`; every control API starts with this.
/// A `502` that names the hop that did not answer and how (`reason`: `timeout`,
/// `unreachable` or `error`), so that the client can say which tier failed it (PROTOCOL.md).
pub fn hop_error(message: &str, reason: &str, upstream: &str) -> Resp {
    let hop = upstream.rsplit_once(':').map_or(upstream, |(host, _)| host);
    http::json(
        StatusCode::BAD_GATEWAY,
        &json!({ "error": message, "reason": reason, "hop": hop }),
    )
}

pub fn healthz(req: &Req) -> Option<Resp> {
    (req.method == Method::GET && req.path == "/healthz").then(|| http::text(StatusCode::OK, "ok"))
}

/// Starts both servers, logs `ready`, then waits forever. The service port of roles without a
/// service API still answers `/healthz`, so the driver can test reachability on either port.
pub async fn serve_both<S, SF, C, CF>(
    role: Role,
    log: &Log,
    listeners: Listeners,
    service: S,
    control: C,
) where
    S: Fn(Req) -> SF + Clone + Send + Sync + 'static,
    SF: Future<Output = Resp> + Send + 'static,
    C: Fn(Req) -> CF + Clone + Send + Sync + 'static,
    CF: Future<Output = Resp> + Send + 'static,
{
    let service_task = tokio::spawn(http::serve(listeners.service, service));
    let control_task = tokio::spawn(http::serve(listeners.control, control));
    log.emit("ready", None, json!({ "role": role.name() }));
    // The accept loops never end on their own; if one panics, the other keeps the role alive
    // only partly, which is worse than exiting, so stop when either stops.
    tokio::select! {
        _ = service_task => {}
        _ = control_task => {}
    }
}

/// The service API of roles that have none: `/healthz`, and `404` for the rest.
pub async fn idle_service(req: Req) -> Resp {
    healthz(&req).unwrap_or_else(http::not_found)
}
