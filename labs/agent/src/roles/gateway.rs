//! The `gateway` role: a reverse proxy that enforces source blocks and logs per-second flows.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use hyper::header::HeaderValue;
use hyper::{Method, Request, StatusCode};
use serde::Deserialize;
use serde_json::json;

use super::{Listeners, Role};
use crate::config::{ConfigError, Env};
use crate::http::{self, Client, ClientError, Req, Resp};
use crate::log::{Log, now_ms};

/// Longer than web's datastore timeout (so web's own `502` gets through) and shorter than the
/// clients' 2 s (so clients see the gateway's `502` rather than their own timeout).
const UPSTREAM_TIMEOUT: Duration = Duration::from_millis(1800);

#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// `host:port` of the next hop.
    pub upstream: String,
    /// Length of a flow window; one second in production, shorter only if a test wants it.
    pub flow_window: Duration,
}

impl GatewayConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            upstream: Env::require(&env.upstream, "LABD_UPSTREAM", "gateway")?,
            flow_window: Duration::from_secs(1),
        })
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Counters {
    requests: u64,
    denied: u64,
    errors: u64,
    bytes: u64,
}

struct Gateway {
    cfg: GatewayConfig,
    log: Log,
    client: Client,
    blocks: Mutex<BTreeSet<String>>,
    /// source → counters for the current window; swapped out by the flow task.
    flows: Mutex<BTreeMap<String, Counters>>,
}

pub async fn run(cfg: GatewayConfig, log: Log, listeners: Listeners) {
    let me = Arc::new(Gateway {
        cfg,
        log: log.clone(),
        client: Client::new(UPSTREAM_TIMEOUT),
        blocks: Mutex::new(BTreeSet::new()),
        flows: Mutex::new(BTreeMap::new()),
    });
    let flows = tokio::spawn(me.clone().flow_task());
    let service = {
        let me = me.clone();
        move |req: Req| {
            let me = me.clone();
            async move { me.forward(req).await }
        }
    };
    let control = {
        let me = me.clone();
        move |req: Req| {
            let me = me.clone();
            async move { me.control(&req) }
        }
    };
    super::serve_both(Role::Gateway, &log, listeners, service, control).await;
    flows.abort();
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Gateway {
    async fn forward(&self, req: Req) -> Resp {
        let source = req.source();
        let request_bytes = req.body.len() as u64;
        if lock(&self.blocks).contains(&source) {
            // `reason` lets the client tell a block from any other 403 (PROTOCOL.md).
            let resp = http::json(
                StatusCode::FORBIDDEN,
                &json!({ "error": "source blocked by the gateway", "reason": "blocked" }),
            );
            self.count(&source, request_bytes, |c| c.denied += 1);
            return resp;
        }
        let mut builder = Request::builder().method(req.method.clone()).uri(format!(
            "http://{}{}",
            self.cfg.upstream,
            req.path_and_query()
        ));
        // The gateway relabels the source with the one it used (PROTOCOL.md).
        for (name, value) in http::end_to_end(&req.headers, &[http::SOURCE]) {
            builder = builder.header(name, value);
        }
        builder = builder.header(http::SOURCE, source.as_str());
        let upstream_req = match builder.body(http_body_util::Full::new(req.body.clone())) {
            Ok(r) => r,
            Err(e) => {
                // Only a malformed source label can get here; that is the client's fault.
                self.count(&source, request_bytes, |_| {});
                return http::error(StatusCode::BAD_REQUEST, &format!("cannot forward: {e}"));
            }
        };
        match self.client.send(upstream_req).await {
            Ok(answer) => {
                self.count(&source, request_bytes + answer.body.len() as u64, |_| {});
                http::relayed(answer, &[])
            }
            Err(e) => {
                self.count(&source, request_bytes, |c| c.errors += 1);
                let reason = if e == ClientError::Timeout {
                    "timeout"
                } else {
                    "unreachable"
                };
                super::hop_error(
                    &format!("upstream {}: {e}", self.cfg.upstream),
                    reason,
                    &self.cfg.upstream,
                )
            }
        }
    }

    fn count(&self, source: &str, bytes: u64, also: impl FnOnce(&mut Counters)) {
        let mut flows = lock(&self.flows);
        let c = flows.entry(source.to_owned()).or_default();
        c.requests += 1;
        c.bytes += bytes;
        also(c);
    }

    /// Emits the finished window at each wall-clock window boundary, so every gateway's
    /// seconds line up with each other's and with the driver's clock.
    async fn flow_task(self: Arc<Self>) {
        let window = u64::try_from(self.cfg.flow_window.as_millis())
            .unwrap_or(1000)
            .max(1);
        loop {
            let now = now_ms();
            let next = (now / window + 1) * window;
            tokio::time::sleep(Duration::from_millis(next - now)).await;
            let finished = std::mem::take(&mut *lock(&self.flows));
            for (source, c) in finished {
                if c.requests == 0 {
                    continue;
                }
                self.log.emit(
                    "flow",
                    None,
                    json!({
                        "source": source,
                        "upstream": self.cfg.upstream,
                        "requests": c.requests,
                        "denied": c.denied,
                        "errors": c.errors,
                        "bytes": c.bytes,
                    }),
                );
            }
        }
    }

    fn control(&self, req: &Req) -> Resp {
        if let Some(resp) = super::healthz(req) {
            return resp;
        }
        match (&req.method, req.path.as_str()) {
            (&Method::GET, "/blocks") => {
                let blocks: Vec<String> = lock(&self.blocks).iter().cloned().collect();
                http::json(StatusCode::OK, &blocks)
            }
            (&Method::POST, "/blocks") => {
                #[derive(Deserialize)]
                struct Body {
                    source: String,
                }
                let body: Body = match req.json() {
                    Ok(b) => b,
                    Err(bad) => return bad.into_response(),
                };
                let source = body.source.trim().to_owned();
                if source.is_empty() || HeaderValue::from_str(&source).is_err() {
                    return http::error(
                        StatusCode::BAD_REQUEST,
                        "source must be a non-empty label",
                    );
                }
                let added = lock(&self.blocks).insert(source.clone());
                if added {
                    self.log.emit(
                        "block",
                        req.trace(),
                        json!({ "source": source, "change": "added" }),
                    );
                }
                http::json(
                    StatusCode::OK,
                    &json!({ "source": source, "blocked": true, "changed": added }),
                )
            }
            (&Method::DELETE, path) if path.starts_with("/blocks/") => {
                let source = http::percent_decode(&path["/blocks/".len()..]);
                let removed = lock(&self.blocks).remove(&source);
                if removed {
                    self.log.emit(
                        "block",
                        req.trace(),
                        json!({ "source": source, "change": "removed" }),
                    );
                }
                http::json(
                    StatusCode::OK,
                    &json!({ "source": source, "blocked": false, "changed": removed }),
                )
            }
            (_, "/blocks") => http::error(StatusCode::METHOD_NOT_ALLOWED, "GET or POST /blocks"),
            _ => http::not_found(),
        }
    }
}
