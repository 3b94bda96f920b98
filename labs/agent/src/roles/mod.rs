//! The roles a container can play, and what they all share: listeners, `/healthz`, `ready`,
//! and `POST /pivot` on the control API.

pub mod datastore;
pub mod executor;
pub mod firewall;
pub mod gateway;
pub mod pivot;
pub mod web;
pub mod worker;

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use hyper::{Method, StatusCode};
use serde_json::json;
use tokio::net::TcpListener;

use crate::config::{ConfigError, Env};
use crate::http::{self, Req, Resp};
use crate::log::Log;
use crate::needs::Degraded;

/// The roles `labd <role>` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Web,
    Gateway,
    Firewall,
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
            Self::Firewall => "firewall",
            Self::Datastore => "datastore",
            Self::Worker => "worker",
            Self::Traffic => "traffic",
            Self::Attacker => "attacker",
        }
    }
}

/// The two sockets every role listens on, bound before the role starts so tests can use
/// ephemeral ports and learn them first, and whether the service can do its work there.
#[derive(Debug)]
pub struct Listeners {
    pub service: TcpListener,
    pub control: TcpListener,
    /// What the container lacks that the service needs (`LABD_NEEDS`), checked at start: the
    /// role then refuses its work (`crate::needs`) but still answers its health.
    pub degraded: Option<Degraded>,
}

impl Listeners {
    /// `0.0.0.0:<LABD_PORT>` and `0.0.0.0:<LABD_CONTROL_PORT>`.
    pub async fn from_env(env: &Env) -> std::io::Result<Self> {
        Ok(Self {
            service: http::bind_all(env.port).await?,
            control: http::bind_all(env.control_port).await?,
            degraded: Degraded::check(&env.service, &env.needs),
        })
    }

    /// Two ephemeral ports on 127.0.0.1, for tests.
    pub async fn loopback() -> std::io::Result<Self> {
        Self::ephemeral(IpAddr::V4(Ipv4Addr::LOCALHOST)).await
    }

    /// Two ephemeral ports on `ip`: tests place services in different "zones" by giving them
    /// different loopback addresses (all of 127.0.0.0/8 is loopback on Linux).
    pub async fn ephemeral(ip: IpAddr) -> std::io::Result<Self> {
        let any = SocketAddr::new(ip, 0);
        Ok(Self {
            service: TcpListener::bind(any).await?,
            control: TcpListener::bind(any).await?,
            degraded: None,
        })
    }

    pub fn service_addr(&self) -> SocketAddr {
        self.service
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// What stops the service's work, if anything (a missing tool fails only a worker's jobs,
    /// which the worker reads from `degraded` itself).
    pub fn refusing_work(&self) -> Option<Degraded> {
        (self.degraded.clone()).filter(Degraded::stops_the_service)
    }

    pub fn control_addr(&self) -> SocketAddr {
        self.control
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }
}

/// A role with its configuration read from the environment: everything it needs but sockets.
/// Read before anything is bound, so a bad configuration is always reported as one.
#[derive(Debug, Clone)]
pub enum Configured {
    Web(web::WebConfig),
    Gateway(gateway::GatewayConfig),
    Firewall(firewall::FirewallConfig),
    Datastore(datastore::DatastoreConfig),
    Worker,
    /// `traffic` or `attacker`.
    Executor(Role, executor::ExecutorConfig),
}

impl Configured {
    /// Fails when the environment does not configure `role` well enough to start.
    pub fn from_env(role: Role, env: &Env) -> Result<Self, ConfigError> {
        Ok(match role {
            Role::Web => Self::Web(web::WebConfig::from_env(env)?),
            Role::Gateway => Self::Gateway(gateway::GatewayConfig::from_env(env)?),
            Role::Firewall => Self::Firewall(firewall::FirewallConfig::from_env(env)?),
            Role::Datastore => Self::Datastore(datastore::DatastoreConfig::from_env(env)?),
            Role::Worker => Self::Worker,
            Role::Traffic | Role::Attacker => {
                Self::Executor(role, executor::ExecutorConfig::from_env(env, role)?)
            }
        })
    }
}

/// Runs the role until the process ends.
pub async fn run(configured: Configured, log: Log, listeners: Listeners) {
    match configured {
        Configured::Web(cfg) => web::run(cfg, log, listeners).await,
        Configured::Gateway(cfg) => gateway::run(cfg, log, listeners).await,
        Configured::Firewall(cfg) => firewall::run(cfg, log, listeners).await,
        Configured::Datastore(cfg) => datastore::run(cfg, log, listeners).await,
        Configured::Worker => worker::run(log, listeners).await,
        Configured::Executor(role, cfg) => executor::run(role, cfg, log, listeners).await,
    }
}

/// A `502` that names the hop that did not answer and how (`reason`: `timeout`,
/// `unreachable` or `error`), so that the client can say which tier failed it (PROTOCOL.md).
pub fn hop_error(message: &str, reason: &str, upstream: &str) -> Resp {
    let hop = upstream.rsplit_once(':').map_or(upstream, |(host, _)| host);
    http::json(
        StatusCode::BAD_GATEWAY,
        &json!({ "error": message, "reason": reason, "hop": hop }),
    )
}

/// `GET /healthz` → `200 ok`; every control API starts with this.
pub fn healthz(req: &Req) -> Option<Resp> {
    (req.method == Method::GET && req.path == "/healthz").then(|| http::text(StatusCode::OK, "ok"))
}

/// Starts both servers, logs `ready`, then waits forever. The service port of roles without a
/// service API still answers `/healthz`, so the driver can test reachability on either port.
/// The control API answers `POST /pivot` here, for every role, before `control` sees anything.
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
    // The log is stamped with LABD_SERVICE: that is who a pivot says it is.
    let me: Arc<str> = log.service().into();
    if let Some(d) = &listeners.degraded {
        log.emit(
            "degraded",
            None,
            json!({ "need": d.need.to_string(), "detail": d.why }),
        );
    }
    // A service that cannot work makes no calls of its own: its pivots are refused before
    // they dial (a missing tool fails only the jobs that run it).
    let degraded = listeners.refusing_work().map(Arc::new);
    let control = move |req: Req| {
        let (control, me, degraded) = (control.clone(), me.clone(), degraded.clone());
        async move {
            if req.path == pivot::PATH {
                match degraded.as_deref() {
                    Some(d) => pivot::refused(d, &req),
                    None => pivot::answer(&me, &req).await,
                }
            } else if req.path == CRASH_PATH {
                crash(&req)
            } else {
                control(req).await
            }
        }
    };
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

/// `POST /crash` on the control API, from inside the container only (`labd ctl /crash {}`):
/// labd exits at once with `CRASH_EXIT`, as a crash would, so that the range's recovery from a
/// dead agent can be tried on purpose (a fault-injection tool, not a feature of any role).
pub const CRASH_PATH: &str = "/crash";

/// The exit status of a crash on request (70: `EX_SOFTWARE`).
pub const CRASH_EXIT: i32 = 70;

fn crash(req: &Req) -> Resp {
    if req.method != Method::POST {
        return http::not_found();
    }
    if !req.peer.ip().is_loopback() {
        return http::text(
            StatusCode::FORBIDDEN,
            "a crash is asked from inside the container",
        );
    }
    eprintln!("labd: crashing on request ({CRASH_PATH})");
    std::process::exit(CRASH_EXIT);
}

/// The service API of roles that have none: `/healthz`, and `404` for the rest.
pub async fn idle_service(req: Req) -> Resp {
    healthz(&req).unwrap_or_else(http::not_found)
}
