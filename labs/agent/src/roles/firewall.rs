//! The `firewall` role: sits in several zones, relays connections between them along the
//! allowed routes, refuses the rest, and logs every crossing; its control API segments one
//! zone from another (a mitigation).

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use hyper::header::{HOST, HeaderValue};
use hyper::{Method, Request, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::time::Instant;

use super::{Listeners, Role};
use crate::config::{self, ConfigError, Env};
use crate::dial::{self, DialError, HostPort};
use crate::http::{self, Body, Req, Resp};
use crate::log::Log;
use crate::zones::{Policy, Reason};

/// Name to the target's last byte. Shorter than a pivot's 2 s, so that the client hears the
/// firewall's `502` rather than its own timeout.
const RELAY_TIMEOUT: Duration = Duration::from_millis(1500);

#[derive(Debug, Clone)]
pub struct FirewallConfig {
    pub policy: Policy,
}

impl FirewallConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let zones = config::parse_zones(&Env::require(&env.zones, "LABD_ZONES", "firewall")?)?;
        let routes = match &env.routes {
            Some(text) => config::parse_routes(text)?,
            None => Vec::new(),
        };
        let policy =
            Policy::new(zones, routes).map_err(|why| ConfigError(format!("LABD_ROUTES: {why}")))?;
        Ok(Self { policy })
    }
}

/// A directed pair of zones: `POST /segments` takes one, `GET /segments` lists them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Segment {
    pub from: String,
    pub to: String,
}

struct Firewall {
    cfg: FirewallConfig,
    log: Log,
    /// The `X-Bulkhead-Firewall` value on the answers this firewall makes itself.
    marker: HeaderValue,
    segments: Mutex<BTreeSet<Segment>>,
}

/// What the `crossing` line says about one relay request, filled in as the decision goes.
struct Crossing {
    peer: IpAddr,
    source: String,
    from_zone: Option<String>,
    to: HostPort,
    to_zone: Option<String>,
    /// The path, without the query.
    endpoint: String,
    /// The length of the request body the client sent (0 for a `GET`): what an exfiltration
    /// attempt tried to carry across, whether or not it went through.
    bytes: usize,
    /// The routes and segments let it through (the target may still have failed it).
    allowed: bool,
    reason: Option<Reason>,
}

pub async fn run(cfg: FirewallConfig, log: Log, listeners: Listeners) {
    let me = Arc::new(Firewall {
        cfg,
        marker: HeaderValue::from_str(log.service())
            .unwrap_or_else(|_| HeaderValue::from_static("firewall")),
        log: log.clone(),
        segments: Mutex::new(BTreeSet::new()),
    });
    let service = {
        let me = me.clone();
        move |req: Req| {
            let me = me.clone();
            async move { me.relay(req).await }
        }
    };
    let control = move |req: Req| {
        let me = me.clone();
        async move { me.control(&req) }
    };
    super::serve_both(Role::Firewall, &log, listeners, service, control).await;
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Firewall {
    /// The service port: one relay request, decided, forwarded or refused, and logged. Without
    /// `X-Bulkhead-To` there is no connection to judge: `/healthz`, else `400`, not logged.
    async fn relay(&self, req: Req) -> Resp {
        let to = match req.headers.get(http::TO) {
            None => {
                return super::healthz(&req).unwrap_or_else(|| {
                    self.own(http::error(
                        StatusCode::BAD_REQUEST,
                        "name the target in X-Bulkhead-To: <host>:<port>",
                    ))
                });
            }
            Some(value) => match value.to_str().map(HostPort::parse) {
                Ok(Ok(to)) => to,
                _ => {
                    let why = "X-Bulkhead-To must be <host>:<port>";
                    return self.own(http::error(StatusCode::BAD_REQUEST, why));
                }
            },
        };
        let mut crossing = Crossing {
            peer: req.peer.ip().to_canonical(),
            source: req.source(),
            from_zone: None,
            to,
            to_zone: None,
            endpoint: req.path.clone(),
            bytes: req.body.len(),
            allowed: false,
            reason: None,
        };
        let resp = match self.pass(&req, &mut crossing).await {
            Ok(resp) => resp,
            Err(reason) => {
                crossing.reason = Some(reason);
                self.refusal(&crossing)
            }
        };
        self.log_crossing(&crossing, req.trace(), resp.status());
        resp
    }

    /// Decides in the order of PROTOCOL.md (peer's zone, target's zone, policy) and forwards
    /// what is allowed.
    async fn pass(&self, req: &Req, crossing: &mut Crossing) -> Result<Resp, Reason> {
        let deadline = Instant::now() + RELAY_TIMEOUT;
        let zones = &self.cfg.policy.zones;
        // From the TCP peer, never from a header: the point is that a container cannot claim
        // to be somewhere it is not.
        let from = zones.zone_of(crossing.peer).ok_or(Reason::UnknownZone)?;
        crossing.from_zone = Some(from.to_owned());
        let addrs = dial::by(deadline, DialError::Timeout, dial::resolve(&crossing.to))
            .await
            .map_err(|_| Reason::Unreachable)?;
        // The only address the firewall ever connects to is one inside its zones: a target
        // outside them (code in a zone sending data out of the lab) is refused here, before any
        // connection, so the firewall is never a way out of the lab.
        let (addr, to) = zones.first_inside(&addrs).ok_or(Reason::Unreachable)?;
        crossing.to_zone = Some(to.to_owned());
        let segmented = lock(&self.segments).contains(&Segment {
            from: from.to_owned(),
            to: to.to_owned(),
        });
        self.cfg.policy.check(from, to, &req.path, segmented)?;
        crossing.allowed = true;
        self.forward(req, &crossing.to, addr, deadline).await
    }

    /// Sends the request on to `addr`, the address that was checked (resolving the name again
    /// could give another), and passes the answer back.
    async fn forward(
        &self,
        req: &Req,
        to: &HostPort,
        addr: SocketAddr,
        deadline: Instant,
    ) -> Result<Resp, Reason> {
        let mut builder = Request::builder()
            .method(req.method.clone())
            .uri(req.path_and_query())
            .header(HOST, to.text.as_str());
        for (name, value) in http::end_to_end(&req.headers, &[http::TO]) {
            builder = builder.header(name, value);
        }
        // The parts came from a request hyper accepted, so this cannot fail in practice.
        let outgoing = builder
            .body(Body::new(req.body.clone()))
            .map_err(|_| Reason::Unreachable)?;
        let exchange = async {
            let stream = dial::connect(&[addr]).await?;
            dial::exchange(stream, outgoing).await
        };
        match dial::by(deadline, DialError::Timeout, exchange).await {
            // The target's answer must not pass for the firewall's own.
            Ok(answer) => Ok(http::relayed(answer, &[http::FIREWALL])),
            Err(DialError::Timeout) => Err(Reason::Timeout),
            Err(_) => Err(Reason::Unreachable),
        }
    }

    /// The firewall's own answer for a crossing that did not go through.
    fn refusal(&self, c: &Crossing) -> Resp {
        let reason = c.reason.unwrap_or(Reason::Unreachable);
        let from = c.from_zone.as_deref().unwrap_or("?");
        let to = c.to_zone.as_deref().unwrap_or("?");
        let (status, error) = match reason {
            Reason::UnknownZone => (
                StatusCode::FORBIDDEN,
                format!("{} is in none of this firewall's zones", c.peer),
            ),
            Reason::SameZone => (
                StatusCode::BAD_REQUEST,
                format!(
                    "{} is in zone {from} too: connect to it directly",
                    c.to.host
                ),
            ),
            Reason::NoRoute => (
                StatusCode::FORBIDDEN,
                format!("no route from {from} to {to} admits {}", c.endpoint),
            ),
            Reason::Segmented => (
                StatusCode::FORBIDDEN,
                format!("zone {from} is segmented from zone {to}"),
            ),
            Reason::Unreachable | Reason::Timeout => {
                let error = match (reason, c.allowed) {
                    (Reason::Timeout, _) => format!("{} did not answer in time", c.to),
                    (_, true) => format!("{} did not take the connection", c.to),
                    _ => format!("{} has no address in this firewall's zones", c.to.host),
                };
                return self.own(super::hop_error(&error, reason.as_str(), &c.to.text));
            }
        };
        self.own(http::json(
            status,
            &json!({ "error": error, "reason": reason.as_str() }),
        ))
    }

    /// Marks an answer as the firewall's own (PROTOCOL.md: how a pivot tells it from the
    /// target's).
    fn own(&self, mut resp: Resp) -> Resp {
        resp.headers_mut()
            .insert(http::FIREWALL, self.marker.clone());
        resp
    }

    fn log_crossing(&self, c: &Crossing, trace: Option<u64>, status: StatusCode) {
        self.log.emit(
            "crossing",
            trace,
            json!({
                "peer": c.peer.to_string(),
                "source": c.source,
                "from_zone": c.from_zone,
                "to": c.to.host,
                "to_zone": c.to_zone,
                "endpoint": c.endpoint,
                "bytes": c.bytes,
                "allowed": c.allowed,
                "reason": c.reason.map(Reason::as_str),
                "status": status.as_u16(),
            }),
        );
    }

    fn control(&self, req: &Req) -> Resp {
        if let Some(resp) = super::healthz(req) {
            return resp;
        }
        match (&req.method, req.path.as_str()) {
            (&Method::GET, "/segments") => {
                let segments: Vec<Segment> = lock(&self.segments).iter().cloned().collect();
                http::json(StatusCode::OK, &segments)
            }
            (&Method::POST, "/segments") => self.add_segment(req),
            (&Method::DELETE, path) if path.starts_with("/segments/") => {
                self.remove_segment(req, &path["/segments/".len()..])
            }
            (_, "/segments") => {
                http::error(StatusCode::METHOD_NOT_ALLOWED, "GET or POST /segments")
            }
            _ => http::not_found(),
        }
    }

    fn add_segment(&self, req: &Req) -> Resp {
        let segment: Segment = match req.json() {
            Ok(s) => s,
            Err(bad) => return bad.into_response(),
        };
        let zones = &self.cfg.policy.zones;
        if let Some(unknown) = [&segment.from, &segment.to]
            .into_iter()
            .find(|z| !zones.contains(z))
        {
            let known: Vec<&str> = zones.ids().collect();
            let why = format!(
                "zone {unknown:?} is not one of this firewall's zones ({})",
                known.join(", ")
            );
            return http::error(StatusCode::BAD_REQUEST, &why);
        }
        if segment.from == segment.to {
            return http::error(
                StatusCode::BAD_REQUEST,
                "a zone is not segmented from itself",
            );
        }
        if !lock(&self.segments).insert(segment.clone()) {
            return http::error(StatusCode::CONFLICT, "already segmented");
        }
        self.log_segment(req, &segment, "added");
        http::json(
            StatusCode::OK,
            &json!({ "from": segment.from, "to": segment.to, "segmented": true }),
        )
    }

    /// `DELETE /segments/<from>/<to>`, each part percent-decoded.
    fn remove_segment(&self, req: &Req, pair: &str) -> Resp {
        let Some((from, to)) = pair.split_once('/').filter(|(_, to)| !to.contains('/')) else {
            return http::not_found();
        };
        let segment = Segment {
            from: http::percent_decode(from),
            to: http::percent_decode(to),
        };
        if !lock(&self.segments).remove(&segment) {
            let why = format!("{} → {} is not segmented", segment.from, segment.to);
            return http::error(StatusCode::NOT_FOUND, &why);
        }
        self.log_segment(req, &segment, "removed");
        http::json(
            StatusCode::OK,
            &json!({ "from": segment.from, "to": segment.to, "segmented": false }),
        )
    }

    fn log_segment(&self, req: &Req, segment: &Segment, change: &str) {
        self.log.emit(
            "segment",
            req.trace(),
            json!({ "from": segment.from, "to": segment.to, "change": change }),
        );
    }
}
