//! The `web` role: storefront, login, API, data reads through the datastore, API keys and the
//! admin API; the one place identities and credentials live.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hyper::body::Bytes;
use hyper::{Method, StatusCode};
use rand::Rng;
use serde::Deserialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use super::{Listeners, Role};
use crate::config::{ConfigError, Credential, Env, parse_credentials};
use crate::http::{self, Client, ClientError, Req, Resp};
use crate::log::Log;
use crate::needs::Degraded;

/// Shorter than the gateway's own upstream timeout, so a slow datastore shows up as this
/// role's `502` rather than as a gateway error.
const DATASTORE_TIMEOUT: Duration = Duration::from_millis(1500);
const DEFAULT_RECORDS: u64 = 10;

#[derive(Debug, Clone)]
pub struct WebConfig {
    /// `host:port` of the datastore.
    pub upstream: String,
    pub credentials: Vec<Credential>,
    pub admin_token: Option<String>,
    /// A management endpoint left on (`/actuator`): everything under it answers anyone.
    pub management: Option<String>,
}

impl WebConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            upstream: Env::require(&env.upstream, "LABD_UPSTREAM", "web")?,
            credentials: match &env.credentials {
                Some(text) => parse_credentials(text)?,
                None => Vec::new(),
            },
            admin_token: env.admin_token.clone(),
            management: env.management.clone(),
        })
    }
}

struct Account {
    password: String,
    admin: bool,
    revoked: bool,
}

struct ApiKey {
    id: String,
    identity: String,
}

#[derive(Default)]
struct Store {
    accounts: BTreeMap<String, Account>,
    /// session token → identity
    sessions: HashMap<String, String>,
    /// key secret → key
    keys: HashMap<String, ApiKey>,
    /// Session tokens and key secrets taken away by a revocation → their identity, so that a
    /// client presenting one is told it was revoked (not that it never was valid).
    revoked: HashMap<String, String>,
}

/// The body of a login, and of the admin's rotation of a password.
#[derive(Deserialize)]
struct IdentityPassword {
    identity: String,
    password: String,
}

/// A change to one credential of an account, as its `credential` line reports it.
struct CredentialChange<'a> {
    identity: &'a str,
    /// The identity that made it, or `admin` for the operator's token.
    by: &'a str,
    /// `password`, or an API key's id.
    credential: &'a str,
    /// `created`, `rotated` or `revoked`.
    change: &'static str,
}

/// Who a request acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Caller {
    Anonymous,
    /// Presented a credential that never was valid.
    Rejected,
    /// Presented a credential of this identity that was revoked.
    Revoked(String),
    User {
        identity: String,
        admin: bool,
    },
    /// The driver's `LABD_ADMIN_TOKEN`.
    Admin,
}

struct Web {
    cfg: WebConfig,
    log: Log,
    client: Client,
    store: Mutex<Store>,
    /// Set, it answers nobody but the range's operator (the audit, the fixes): the
    /// application cannot run without what the container lacks.
    degraded: Option<Degraded>,
}

pub async fn run(cfg: WebConfig, log: Log, listeners: Listeners) {
    let mut store = Store::default();
    for c in &cfg.credentials {
        store.accounts.insert(
            c.identity.clone(),
            Account {
                password: c.password.clone(),
                admin: c.admin,
                revoked: false,
            },
        );
    }
    let me = Arc::new(Web {
        cfg,
        log: log.clone(),
        client: Client::new(DATASTORE_TIMEOUT),
        store: Mutex::new(store),
        degraded: listeners.refusing_work(),
    });
    let service = move |req: Req| {
        let me = me.clone();
        async move { me.handle(req).await }
    };
    let control = |req: Req| async move { super::healthz(&req).unwrap_or_else(http::not_found) };
    super::serve_both(Role::Web, &log, listeners, service, control).await;
}

impl Web {
    fn store(&self) -> MutexGuard<'_, Store> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that
        // matters more than refusing all further requests would.
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every answered request logs exactly one `request` line, whatever else it logs.
    async fn handle(&self, req: Req) -> Resp {
        let started = Instant::now();
        let (resp, identity) = self.route(&req).await;
        self.log.emit(
            "request",
            req.trace(),
            json!({
                "identity": identity,
                "source": req.source(),
                "method": req.method.as_str(),
                "endpoint": req.path,
                "status": resp.status().as_u16(),
                "latency_ms": u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            }),
        );
        resp
    }

    /// The answer, and the identity to log it under.
    async fn route(&self, req: &Req) -> (Resp, Option<String>) {
        let path = req.path.as_str();
        if let Some(d) = &self.degraded
            && path != "/healthz"
            && self.authenticate(req) != Caller::Admin
        {
            return (d.refusal(), None);
        }
        if path.starts_with("/public/") || path == "/public" {
            return (
                only(req, &Method::GET).unwrap_or_else(|| public(path)),
                None,
            );
        }
        if path == "/login" {
            return match only(req, &Method::POST) {
                Some(resp) => (resp, None),
                None => self.login(req),
            };
        }
        if path == "/healthz" {
            return (http::text(StatusCode::OK, "ok"), None);
        }
        if let Some(endpoint) = self.cfg.management.as_deref().filter(|m| under(path, m)) {
            return (
                only(req, &Method::GET)
                    .unwrap_or_else(|| management(endpoint, path, &self.cfg.upstream)),
                None,
            );
        }
        let caller = self.authenticate(req);
        if path.starts_with("/admin/") {
            return self.admin(req, caller);
        }
        let Caller::User { identity, .. } = caller else {
            let resp = if path.starts_with("/api/") || path.starts_with("/data/") || path == "/keys"
            {
                let reason = if matches!(caller, Caller::Revoked(_)) {
                    "revoked"
                } else {
                    "invalid"
                };
                refusal(
                    StatusCode::UNAUTHORIZED,
                    "a valid bearer token or API key is required",
                    reason,
                )
            } else {
                http::not_found()
            };
            return (resp, None);
        };
        let resp = if let Some(endpoint) = path.strip_prefix("/api/") {
            only(req, &Method::GET).unwrap_or_else(|| api(endpoint, &identity))
        } else if let Some(dataset) = path.strip_prefix("/data/") {
            match only(req, &Method::GET) {
                Some(resp) => resp,
                None => self.read_data(req, &identity, dataset).await,
            }
        } else if path == "/keys" {
            only(req, &Method::POST).unwrap_or_else(|| self.create_key(req, &identity))
        } else {
            http::not_found()
        };
        (resp, Some(identity))
    }

    fn authenticate(&self, req: &Req) -> Caller {
        let bearer = http::header_str(&req.headers, "authorization")
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim);
        let store = self.store();
        if let Some(token) = bearer {
            if (self.cfg.admin_token.as_deref()).is_some_and(|admin| same_secret(admin, token)) {
                return Caller::Admin;
            }
            return match store.sessions.get(token) {
                Some(identity) => user(&store, identity),
                None => revoked(&store, token),
            };
        }
        if let Some(key) = http::header_str(&req.headers, "x-api-key").map(str::trim) {
            return match store.keys.get(key) {
                Some(k) => user(&store, &k.identity),
                None => revoked(&store, key),
            };
        }
        Caller::Anonymous
    }

    fn login(&self, req: &Req) -> (Resp, Option<String>) {
        let body: IdentityPassword = match req.json() {
            Ok(b) => b,
            Err(bad) => return (bad.into_response(), None),
        };
        let verdict = {
            let mut store = self.store();
            let verdict = match store.accounts.get(&body.identity) {
                None => Err("unknown"),
                Some(a) if a.revoked => Err("revoked"),
                Some(a) if !same_secret(&a.password, &body.password) => Err("bad_password"),
                Some(_) => Ok(random_hex(16)),
            };
            if let Ok(token) = &verdict {
                store.sessions.insert(token.clone(), body.identity.clone());
            }
            verdict
        };
        let mut line = json!({
            "identity": body.identity,
            "source": req.source(),
            "ok": verdict.is_ok(),
        });
        if let Err(reason) = verdict {
            line["reason"] = reason.into();
        }
        self.log.emit("login", req.trace(), line);
        match verdict {
            Ok(token) => (
                http::json(StatusCode::OK, &json!({ "token": token })),
                Some(body.identity),
            ),
            Err(reason) => (
                // Revoked or not, the caller learns only that; which of the others it was
                // (unknown identity, wrong password) stays the server's secret.
                refusal(
                    StatusCode::UNAUTHORIZED,
                    "invalid identity or password",
                    if reason == "revoked" {
                        "revoked"
                    } else {
                        "invalid"
                    },
                ),
                None,
            ),
        }
    }

    async fn read_data(&self, req: &Req, identity: &str, dataset: &str) -> Resp {
        let dataset = http::percent_decode(dataset);
        let wanted = match req.query_param("records") {
            None => DEFAULT_RECORDS,
            Some(n) => match n.parse::<u64>() {
                Ok(n) => n,
                Err(_) => {
                    return http::error(
                        StatusCode::BAD_REQUEST,
                        "records must be a non-negative integer",
                    );
                }
            },
        };
        let mut headers = Vec::new();
        if let Some(trace) = req.trace() {
            headers.push((http::REQUEST_ID, trace.to_string()));
        }
        let path = format!("/records/{}?n={wanted}", http::percent_encode(&dataset));
        let answer = self
            .client
            .call(
                Method::GET,
                &self.cfg.upstream,
                &path,
                &headers,
                Bytes::new(),
            )
            .await;
        let (resp, rows) = match answer {
            Ok(a) if a.status == StatusCode::OK => {
                // Only well-formed records count: what reaches the client is what was lost.
                let rows: Vec<Value> = String::from_utf8_lossy(&a.body)
                    .lines()
                    .filter_map(|l| serde_json::from_str(l).ok())
                    .collect();
                let body = json!({ "dataset": dataset, "records": rows.len(), "rows": rows });
                (
                    http::json(StatusCode::OK, &body),
                    Some(body["records"].as_u64().unwrap_or(0)),
                )
            }
            Ok(a) if a.status == StatusCode::NOT_FOUND => (
                http::error(StatusCode::NOT_FOUND, &format!("no dataset {dataset:?}")),
                None,
            ),
            // The datastore cannot do its work: a 502 naming it and what it lacks.
            Ok(a) if let Some(refusal) = crate::needs::refusal_in(&a.body) => {
                (http::json(StatusCode::BAD_GATEWAY, &refusal), None)
            }
            Ok(a) => (
                super::hop_error(
                    &format!("datastore answered {}", a.status.as_u16()),
                    "error",
                    &self.cfg.upstream,
                ),
                None,
            ),
            Err(e @ (ClientError::Timeout | ClientError::Failed(_))) => (
                super::hop_error(
                    &format!("datastore unreachable: {e}"),
                    if e == ClientError::Timeout {
                        "timeout"
                    } else {
                        "unreachable"
                    },
                    &self.cfg.upstream,
                ),
                None,
            ),
        };
        self.log.emit(
            "data_access",
            req.trace(),
            json!({
                "identity": identity,
                "source": req.source(),
                "dataset": dataset,
                "records": rows.unwrap_or(0),
                "ok": rows.is_some(),
            }),
        );
        resp
    }

    fn create_key(&self, req: &Req, identity: &str) -> Resp {
        let id = format!("key-{}", random_hex(4));
        let secret = random_hex(16);
        self.store().keys.insert(
            secret.clone(),
            ApiKey {
                id: id.clone(),
                identity: identity.to_owned(),
            },
        );
        let change = CredentialChange {
            identity,
            by: identity,
            credential: &id,
            change: "created",
        };
        self.log_credential(req, change);
        http::json(StatusCode::OK, &json!({ "key": secret, "id": id }))
    }

    fn admin(&self, req: &Req, caller: Caller) -> (Resp, Option<String>) {
        let operator = caller == Caller::Admin;
        let actor = match caller {
            Caller::Admin => "admin".to_owned(),
            Caller::User {
                identity,
                admin: true,
            } => identity,
            Caller::User { identity, .. } => {
                return (
                    http::error(
                        StatusCode::FORBIDDEN,
                        "the admin API needs an admin identity",
                    ),
                    Some(identity),
                );
            }
            Caller::Anonymous | Caller::Rejected | Caller::Revoked(_) => {
                return (
                    http::error(StatusCode::UNAUTHORIZED, "the admin API needs a credential"),
                    None,
                );
            }
        };
        let path = req.path.as_str();
        // A password oracle and a password reset: the operator's, not any admin identity's (an
        // intruder logged in as one would learn or take over every account).
        if !operator && ["/admin/password-audit", "/admin/rotate"].contains(&path) {
            let refused = http::error(
                StatusCode::FORBIDDEN,
                "only the operator's token may audit or rotate passwords",
            );
            return (refused, Some(actor));
        }
        let resp = match path {
            "/admin/revoke" => only(req, &Method::POST).unwrap_or_else(|| self.revoke(req, &actor)),
            "/admin/rotate" => only(req, &Method::POST).unwrap_or_else(|| self.rotate(req, &actor)),
            "/admin/management" => only(req, &Method::GET).unwrap_or_else(|| {
                let endpoints: Vec<&String> = self.cfg.management.iter().collect();
                http::json(StatusCode::OK, &json!({ "endpoints": endpoints }))
            }),
            "/admin/password-audit" => {
                only(req, &Method::POST).unwrap_or_else(|| self.password_audit(req))
            }
            "/admin/keys" => only(req, &Method::GET).unwrap_or_else(|| {
                let store = self.store();
                let mut keys: Vec<Value> = store
                    .keys
                    .values()
                    .map(|k| json!({ "id": k.id, "identity": k.identity }))
                    .collect();
                keys.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
                http::json(StatusCode::OK, &keys)
            }),
            "/admin/status" => only(req, &Method::GET).unwrap_or_else(|| {
                let identity = req.query_param("identity").unwrap_or_default();
                match self.store().accounts.get(&identity) {
                    Some(a) => http::json(
                        StatusCode::OK,
                        &json!({ "identity": identity, "revoked": a.revoked }),
                    ),
                    None => {
                        http::error(StatusCode::NOT_FOUND, &format!("no identity {identity:?}"))
                    }
                }
            }),
            "/admin/users" => only(req, &Method::GET).unwrap_or_else(|| {
                let users: Vec<String> = self.store().accounts.keys().cloned().collect();
                http::json(StatusCode::OK, &users)
            }),
            _ => http::not_found(),
        };
        (resp, Some(actor))
    }

    /// Which accounts (not revoked) log in with one of the `candidates`: how an auditor checks
    /// the running service for factory passwords without trying them at the login (which
    /// would log failed logins for the detector to read).
    fn password_audit(&self, req: &Req) -> Resp {
        #[derive(Deserialize)]
        struct Body {
            candidates: Vec<String>,
        }
        let body: Body = match req.json() {
            Ok(b) => b,
            Err(bad) => return bad.into_response(),
        };
        let store = self.store();
        let weak: Vec<&String> = (store.accounts.iter())
            .filter(|(_, a)| {
                // Every candidate compared, so the time taken says nothing of which matched.
                let matched = (body.candidates.iter())
                    .fold(false, |any, c| same_secret(&a.password, c) | any);
                !a.revoked && matched
            })
            .map(|(identity, _)| identity)
            .collect();
        http::json(StatusCode::OK, &json!({ "accounts": weak }))
    }

    /// Give an account a new password (the range generates it): the old one no longer logs
    /// in, and the account's sessions end, since whoever used the old one may hold one.
    fn rotate(&self, req: &Req, actor: &str) -> Resp {
        let body: IdentityPassword = match req.json() {
            Ok(b) => b,
            Err(bad) => return bad.into_response(),
        };
        if body.password.len() < 12 {
            return http::error(
                StatusCode::BAD_REQUEST,
                "a rotated password has at least 12 characters",
            );
        }
        let ended = {
            let mut store = self.store();
            let Some(account) = store.accounts.get_mut(&body.identity) else {
                return http::error(
                    StatusCode::NOT_FOUND,
                    &format!("no identity {:?}", body.identity),
                );
            };
            account.password = body.password;
            let before = store.sessions.len();
            store.sessions.retain(|_, who| *who != body.identity);
            before - store.sessions.len()
        };
        let change = CredentialChange {
            identity: &body.identity,
            by: actor,
            credential: "password",
            change: "rotated",
        };
        self.log_credential(req, change);
        http::json(StatusCode::OK, &json!({ "ended": ended }))
    }

    /// The `credential` line of a change: one shape for a key created, a password rotated and
    /// a credential revoked.
    fn log_credential(&self, req: &Req, c: CredentialChange<'_>) {
        let line = json!({
            "identity": c.identity,
            "by": c.by,
            "credential": c.credential,
            "change": c.change,
            "source": req.source(),
        });
        self.log.emit("credential", req.trace(), line);
    }

    fn revoke(&self, req: &Req, actor: &str) -> Resp {
        #[derive(Deserialize)]
        struct Body {
            identity: String,
        }
        let body: Body = match req.json() {
            Ok(b) => b,
            Err(bad) => return bad.into_response(),
        };
        let (password, keys, sessions) = {
            let mut store = self.store();
            let Some(account) = store.accounts.get_mut(&body.identity) else {
                return http::error(
                    StatusCode::NOT_FOUND,
                    &format!("no identity {:?}", body.identity),
                );
            };
            let password = !account.revoked;
            account.revoked = true;
            let before = store.sessions.len();
            let mut gone: Vec<String> = Vec::new();
            store.sessions.retain(|token, who| {
                let keep = *who != body.identity;
                if !keep {
                    gone.push(token.clone());
                }
                keep
            });
            let sessions = before - store.sessions.len();
            let mut keys: Vec<String> = Vec::new();
            store.keys.retain(|secret, k| {
                let keep = k.identity != body.identity;
                if !keep {
                    keys.push(k.id.clone());
                    gone.push(secret.clone());
                }
                keep
            });
            for secret in gone {
                store.revoked.insert(secret, body.identity.clone());
            }
            keys.sort();
            (password, keys, sessions)
        };
        let credentials = password
            .then(|| "password".to_owned())
            .into_iter()
            .chain(keys.iter().cloned());
        for credential in credentials {
            let change = CredentialChange {
                identity: &body.identity,
                by: actor,
                credential: &credential,
                change: "revoked",
            };
            self.log_credential(req, change);
        }
        let n = usize::from(password) + keys.len() + sessions;
        http::json(StatusCode::OK, &json!({ "revoked": n }))
    }
}

/// Whether a presented secret is the expected one, in time that does not depend on where they
/// differ (the length aside), so that timing the answers teaches a guesser nothing.
fn same_secret(expected: &str, given: &str) -> bool {
    expected.as_bytes().ct_eq(given.as_bytes()).into()
}

fn user(store: &Store, identity: &str) -> Caller {
    match store.accounts.get(identity) {
        Some(a) if !a.revoked => Caller::User {
            identity: identity.to_owned(),
            admin: a.admin,
        },
        // Keys of identities missing from the account table cannot be issued, so this is
        // only a revoked account whose credential slipped through.
        _ => Caller::Revoked(identity.to_owned()),
    }
}

/// A token or key the store does not know: one a revocation took away, or never one at all.
fn revoked(store: &Store, secret: &str) -> Caller {
    match store.revoked.get(secret) {
        Some(identity) => Caller::Revoked(identity.clone()),
        None => Caller::Rejected,
    }
}

/// An error whose `reason` tells the client why, in a word (PROTOCOL.md): `revoked` or
/// `invalid` for a refused credential.
fn refusal(status: StatusCode, message: &str, reason: &str) -> Resp {
    http::json(status, &json!({ "error": message, "reason": reason }))
}

/// `None` when the method is the allowed one, else a ready `405`.
fn only(req: &Req, method: &Method) -> Option<Resp> {
    (req.method != method).then(|| {
        http::error(
            StatusCode::METHOD_NOT_ALLOWED,
            &format!("{} {} only", method, req.path),
        )
    })
}

/// A storefront page of about 1 KiB, so floods move a realistic amount of data.
fn public(path: &str) -> Resp {
    let page = path.trim_start_matches("/public").trim_start_matches('/');
    let items: Vec<Value> = (1..=12)
        .map(|i| json!({ "sku": format!("sku-{i:04}"), "name": format!("item {i}"), "price_cents": 499 + 250 * i }))
        .collect();
    http::json(StatusCode::OK, &json!({ "page": page, "items": items }))
}

/// Whether `path` is `prefix` or below it (`/actuator/env` under `/actuator`).
fn under(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// What a management endpoint left on tells anyone who asks: what runs, in which profile, and
/// where its datastore is. No secret: the lesson is what an outsider learns for free.
fn management(endpoint: &str, path: &str, upstream: &str) -> Resp {
    http::json(
        StatusCode::OK,
        &json!({
            "endpoint": endpoint,
            "path": path,
            "app": { "name": "ShopForge", "version": "7.2.1" },
            "profiles": ["prod"],
            "datasource": upstream,
        }),
    )
}

fn api(endpoint: &str, identity: &str) -> Resp {
    let items: Vec<Value> = (1..=5)
        .map(|i| json!({ "id": i, "endpoint": endpoint }))
        .collect();
    http::json(
        StatusCode::OK,
        &json!({ "endpoint": endpoint, "identity": identity, "items": items }),
    )
}

/// `bytes` random bytes as lowercase hex, from the thread-local CSPRNG.
pub fn random_hex(bytes: usize) -> String {
    let mut rng = rand::rng();
    (0..bytes)
        .map(|_| format!("{:02x}", rng.random::<u8>()))
        .collect()
}
