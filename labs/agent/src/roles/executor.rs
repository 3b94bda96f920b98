//! The action executor behind the `traffic` and `attacker` roles: `POST /act` runs one
//! scripted client action against the gateway in the background and logs its `outcome`.
//!
//! Both roles are the same program on purpose: benign users and intruders use the same
//! protocol, and only what they are told to do (and from which source) tells them apart.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use hyper::body::Bytes;
use hyper::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::{Listeners, Role};
use crate::config::{ConfigError, Env};
use crate::http::{self, Answer, Client, ClientError, Req, Resp};
use crate::log::Log;

pub const MAX_RPS: u32 = 5000;
pub const MAX_FLOOD_SECONDS: u64 = 3600;

#[derive(Debug, Clone)]
pub struct ExecutorConfig {
    /// `host:port` of the gateway's service port.
    pub gateway: String,
    /// Per request, connect to last byte. Short, so a blocked or isolated path fails fast.
    pub timeout: Duration,
    /// Flood requests in flight at once; past it a due request is skipped, not queued, so an
    /// unanswered flood cannot pile up sockets and memory.
    pub max_in_flight: usize,
}

impl ExecutorConfig {
    pub fn from_env(env: &Env, role: Role) -> Result<Self, ConfigError> {
        Ok(Self {
            gateway: Env::require(&env.gateway, "LABD_GATEWAY", role.name())?,
            timeout: Duration::from_secs(2),
            max_in_flight: 64,
        })
    }
}

/// One `POST /act` body. Unknown top-level fields are ignored so the driver can add its own
/// bookkeeping; the fields of `do` are strict, where a typo would silently change the action.
#[derive(Debug, Clone, Deserialize)]
pub struct Action {
    #[serde(default)]
    pub trace: Option<u64>,
    #[serde(default)]
    pub identity: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub source: Option<String>,
    /// `host:port` of the gateway to go through (the one in front of the web tier the action
    /// is for); absent: `LABD_GATEWAY`.
    #[serde(default)]
    pub gateway: Option<String>,
    #[serde(rename = "do")]
    pub what: Do,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Do {
    // Empty braces rather than unit variants: serde only rejects unknown fields of struct
    // variants.
    Login {},
    Request {
        endpoint: String,
    },
    ReadData {
        dataset: String,
        #[serde(default = "default_records")]
        records: u64,
    },
    CreateKey {},
    Flood {
        rps: u32,
        seconds: u64,
        #[serde(default = "default_flood_endpoint")]
        endpoint: String,
    },
}

fn default_records() -> u64 {
    10
}

fn default_flood_endpoint() -> String {
    "/public/catalog".into()
}

impl Action {
    /// Rejects what would only fail later, in the background, where the driver cannot see why.
    fn validate(&self) -> Result<(), String> {
        let path_ok =
            |p: &str| p.starts_with('/') && !p.chars().any(|c| c.is_whitespace() || c.is_control());
        match &self.what {
            Do::Request { endpoint } | Do::Flood { endpoint, .. } if !path_ok(endpoint) => {
                return Err(format!(
                    "endpoint {endpoint:?} must be a path starting with /"
                ));
            }
            Do::ReadData { dataset, .. } if dataset.is_empty() => {
                return Err("dataset must not be empty".into());
            }
            Do::Flood { rps, seconds, .. } => {
                if !(1..=MAX_RPS).contains(rps) {
                    return Err(format!("rps must be 1..={MAX_RPS}"));
                }
                if !(1..=MAX_FLOOD_SECONDS).contains(seconds) {
                    return Err(format!("seconds must be 1..={MAX_FLOOD_SECONDS}"));
                }
            }
            _ => {}
        }
        if let Some(source) = &self.source
            && hyper::header::HeaderValue::from_str(source).is_err()
        {
            return Err("source must be a printable label".into());
        }
        if let Some(gateway) = &self.gateway
            && !valid_host_port(gateway)
        {
            return Err(format!("gateway {gateway:?} must be host:port"));
        }
        Ok(())
    }
}

/// A `host:port` a client may connect to: a name or address, a colon, a port number.
fn valid_host_port(text: &str) -> bool {
    let Some((host, port)) = text.rsplit_once(':') else {
        return false;
    };
    !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        && port.parse::<u16>().is_ok_and(|p| p > 0)
}

/// What one attempt came to, as logged in its `outcome` line.
#[derive(Debug, Default)]
struct Outcome {
    ok: bool,
    status: u16,
    records: u64,
    notes: Vec<String>,
    /// Why it failed, in the vocabulary of PROTOCOL.md; the latest evidence wins.
    cause: Option<String>,
}

/// Credentials the executor has obtained, per (gateway, identity): each web tier issues and
/// knows its own tokens and keys.
#[derive(Default)]
struct Memory {
    tokens: HashMap<(String, String), String>,
    keys: HashMap<(String, String), String>,
}

struct Executor {
    cfg: ExecutorConfig,
    log: Log,
    client: Client,
    memory: Mutex<Memory>,
}

pub async fn run(role: Role, cfg: ExecutorConfig, log: Log, listeners: Listeners) {
    let me = Arc::new(Executor {
        client: Client::new(cfg.timeout),
        cfg,
        log: log.clone(),
        memory: Mutex::new(Memory::default()),
    });
    let control = move |req: Req| {
        let me = me.clone();
        async move { me.control(&req) }
    };
    super::serve_both(role, &log, listeners, super::idle_service, control).await;
}

impl Executor {
    fn memory(&self) -> MutexGuard<'_, Memory> {
        self.memory.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The gateway an action goes through.
    fn gateway<'a>(&'a self, action: &'a Action) -> &'a str {
        action.gateway.as_deref().unwrap_or(&self.cfg.gateway)
    }

    /// What a credential of `identity` obtained for this action is remembered under.
    fn remembered_as(&self, action: &Action, identity: &str) -> (String, String) {
        (self.gateway(action).to_owned(), identity.to_owned())
    }

    fn control(self: &Arc<Self>, req: &Req) -> Resp {
        if let Some(resp) = super::healthz(req) {
            return resp;
        }
        if req.path != "/act" {
            return http::not_found();
        }
        if req.method != Method::POST {
            return http::error(StatusCode::METHOD_NOT_ALLOWED, "POST /act");
        }
        let action: Action = match req.json() {
            Ok(a) => a,
            Err(bad) => return bad.into_response(),
        };
        if let Err(why) = action.validate() {
            return http::error(StatusCode::BAD_REQUEST, &why);
        }
        let me = self.clone();
        tokio::spawn(async move { me.perform(action).await });
        http::json(StatusCode::ACCEPTED, &json!({ "accepted": true }))
    }

    async fn perform(self: Arc<Self>, action: Action) {
        let outcome = match &action.what {
            Do::Login {} => self.login_action(&action).await,
            Do::Request { endpoint } => {
                let mut o = self.authed(&action, Method::GET, endpoint).await.0;
                o.records = 0;
                o
            }
            Do::ReadData { dataset, records } => {
                let path = format!("/data/{}?records={records}", http::percent_encode(dataset));
                let (mut o, body) = self.authed(&action, Method::GET, &path).await;
                o.records = if o.ok {
                    json_field(body.as_ref(), "records")
                } else {
                    0
                };
                o
            }
            Do::CreateKey {} => self.create_key(&action).await,
            Do::Flood {
                rps,
                seconds,
                endpoint,
            } => return self.flood(&action, *rps, *seconds, endpoint).await,
        };
        self.report(&action, &outcome);
    }

    fn report(&self, action: &Action, o: &Outcome) {
        self.log.emit(
            "outcome",
            action.trace,
            json!({
                "ok": o.ok,
                "status": o.status,
                "records": o.records,
                "detail": o.notes.join("; "),
                // A failure always says why; nothing the executor saw is `refused`.
                "cause": (!o.ok).then(|| o.cause.clone().unwrap_or_else(|| REFUSED.into())),
                "source": action.source,
                "identity": action.identity,
            }),
        );
    }

    /// The headers every request carries, plus `extra`.
    fn headers(
        action: &Action,
        extra: Option<(&'static str, String)>,
    ) -> Vec<(&'static str, String)> {
        let mut headers = Vec::with_capacity(3);
        if let Some(source) = &action.source {
            headers.push((http::SOURCE, source.clone()));
        }
        if let Some(trace) = action.trace {
            headers.push((http::REQUEST_ID, trace.to_string()));
        }
        headers.extend(extra);
        headers
    }

    async fn call(
        &self,
        action: &Action,
        method: Method,
        path: &str,
        auth: Option<(&'static str, String)>,
        body: Bytes,
    ) -> Result<Answer, ClientError> {
        let headers = Self::headers(action, auth);
        self.client
            .call(method, self.gateway(action), path, &headers, body)
            .await
    }

    /// `POST /login`; remembers the token. `None` when there is no token to be had, with the
    /// reason noted in `o`.
    async fn login(&self, action: &Action, o: &mut Outcome) -> Option<String> {
        let (Some(identity), Some(password)) = (&action.identity, &action.password) else {
            o.notes.push("no password to log in with".into());
            o.cause.get_or_insert_with(|| REFUSED.into());
            return None;
        };
        let body = json!({ "identity": identity, "password": password }).to_string();
        match self
            .call(action, Method::POST, "/login", None, Bytes::from(body))
            .await
        {
            Ok(a) => {
                o.status = a.status.as_u16();
                let token = (a.status == StatusCode::OK)
                    .then(|| json_str(&a.body, "token"))
                    .flatten();
                match &token {
                    Some(t) => {
                        o.notes.push("logged in".into());
                        let remembered = self.remembered_as(action, identity);
                        self.memory().tokens.insert(remembered, t.clone());
                    }
                    None => {
                        o.notes.push(format!("login refused ({})", o.status));
                        o.cause = Some(cause_of(&a).unwrap_or_else(|| REFUSED.into()));
                    }
                }
                token
            }
            Err(e) => {
                o.status = 0;
                o.notes.push(format!("login failed: {e}"));
                o.cause = Some(cause_of_error(&e, self.gateway(action)));
                None
            }
        }
    }

    async fn login_action(&self, action: &Action) -> Outcome {
        let mut o = Outcome::default();
        o.ok = self.login(action, &mut o).await.is_some();
        o
    }

    /// A request as `action.identity`: with the remembered token (logging in first when there
    /// is none, or again when it is rejected), then with a remembered API key.
    async fn authed(
        &self,
        action: &Action,
        method: Method,
        path: &str,
    ) -> (Outcome, Option<Bytes>) {
        let mut o = Outcome::default();
        let Some(identity) = action.identity.clone() else {
            let r = self.call(action, method, path, None, Bytes::new()).await;
            let body = settle(&mut o, r, ("anonymous", self.gateway(action)));
            return (o, body);
        };
        let remembered_as = self.remembered_as(action, &identity);
        let remembered = self.memory().tokens.get(&remembered_as).cloned();
        let mut fresh = false;
        let mut token = match remembered {
            Some(t) => Some(t),
            None => {
                fresh = true;
                self.login(action, &mut o).await
            }
        };
        while let Some(t) = token.take() {
            let r = self
                .call(
                    action,
                    method.clone(),
                    path,
                    Some(("authorization", format!("Bearer {t}"))),
                    Bytes::new(),
                )
                .await;
            if let Ok(a) = &r
                && a.status == StatusCode::UNAUTHORIZED
            {
                o.status = StatusCode::UNAUTHORIZED.as_u16();
                o.cause = cause_of(a);
                o.notes.push("token rejected".into());
                self.memory().tokens.remove(&remembered_as);
                if !fresh {
                    fresh = true;
                    token = self.login(action, &mut o).await;
                }
                continue;
            }
            let body = settle(&mut o, r, ("token", self.gateway(action)));
            return (o, body);
        }
        let key = self.memory().keys.get(&remembered_as).cloned();
        if let Some(k) = key {
            let r = self
                .call(action, method, path, Some(("x-api-key", k)), Bytes::new())
                .await;
            if matches!(&r, Ok(a) if a.status == StatusCode::UNAUTHORIZED) {
                self.memory().keys.remove(&remembered_as);
            }
            let body = settle(&mut o, r, ("api key", self.gateway(action)));
            return (o, body);
        }
        o.ok = false;
        o.notes.push("no valid credential".into());
        // Whatever refused the last credential tried (a revocation, a block) is why.
        o.cause.get_or_insert_with(|| REFUSED.into());
        (o, None)
    }

    async fn create_key(&self, action: &Action) -> Outcome {
        let (mut o, body) = self.authed(action, Method::POST, "/keys").await;
        let key = body.as_ref().and_then(|b| json_str(b, "key"));
        match (o.ok, key, &action.identity) {
            (true, Some(key), Some(identity)) => {
                let id = body
                    .as_ref()
                    .and_then(|b| json_str(b, "id"))
                    .unwrap_or_default();
                o.notes.push(format!("created {id}"));
                let remembered = self.remembered_as(action, identity);
                self.memory().keys.insert(remembered, key);
            }
            (true, _, _) => {
                o.ok = false;
                o.notes.push("no key in the answer".into());
            }
            _ => {}
        }
        o
    }

    /// Anonymous GETs paced at `rps`, one `outcome` per second. A second is reported once all
    /// of its requests have answered or timed out, in order.
    async fn flood(&self, action: &Action, rps: u32, seconds: u64, endpoint: &str) {
        let semaphore = Arc::new(Semaphore::new(self.cfg.max_in_flight));
        let headers = Self::headers(action, None);
        // Per request: the status when it was answered, and why it failed when it did.
        type Second = (u64, JoinSet<(Option<u16>, Option<String>)>, u32, u32);
        let (tx, mut rx) = mpsc::unbounded_channel::<Second>();
        let log = self.log.clone();
        let trace = action.trace;
        let source = action.source.clone();
        let reporter = tokio::spawn(async move {
            while let Some((second, mut set, issued, skipped)) = rx.recv().await {
                let (mut answered, mut good, mut last) = (0u32, 0u64, 0u16);
                let mut why = Tally::default();
                while let Some(done) = set.join_next().await {
                    let (status, cause) = done.unwrap_or((None, Some(ERROR.into())));
                    if let Some(status) = status {
                        answered += 1;
                        last = status;
                    }
                    match cause {
                        Some(cause) => why.add(cause),
                        None => good += 1,
                    }
                }
                let ok = good * 2 > u64::from(issued);
                log.emit(
                    "outcome",
                    trace,
                    json!({
                        "ok": ok,
                        "cause": if ok { None } else { why.dominant() },
                        "source": source,
                        "status": last,
                        "records": good,
                        "detail": format!(
                            "flood second {}/{seconds}: {issued} due, {answered} answered, {good} 2xx, {skipped} skipped at the in-flight cap",
                            second + 1
                        ),
                    }),
                );
            }
        });
        let start = Instant::now();
        let per_request = Duration::from_secs_f64(1.0 / f64::from(rps));
        // Waking for every request at high rates costs more than it buys; send in small bursts.
        let min_sleep = Duration::from_millis(5);
        for second in 0..seconds {
            let second_start = start + Duration::from_secs(second);
            let mut set = JoinSet::new();
            let (mut issued, mut skipped) = (0u32, 0u32);
            while issued < rps {
                let due_at = second_start + per_request * issued;
                let now = Instant::now();
                if due_at > now {
                    tokio::time::sleep_until(due_at.max(now + min_sleep)).await;
                }
                let now = Instant::now();
                while issued < rps && second_start + per_request * issued <= now {
                    issued += 1;
                    let Ok(permit) = semaphore.clone().try_acquire_owned() else {
                        skipped += 1;
                        continue;
                    };
                    let client = self.client.clone();
                    let gateway = self.gateway(action).to_owned();
                    let path = endpoint.to_owned();
                    let headers = headers.clone();
                    set.spawn(async move {
                        let r = client
                            .call(Method::GET, &gateway, &path, &headers, Bytes::new())
                            .await;
                        drop(permit);
                        match r {
                            Ok(a) => (Some(a.status.as_u16()), cause_of(&a)),
                            Err(e) => (None, Some(cause_of_error(&e, &gateway))),
                        }
                    });
                }
            }
            let _ = tx.send((second, set, issued, skipped));
            tokio::time::sleep_until(second_start + Duration::from_secs(1)).await;
        }
        drop(tx);
        let _ = reporter.await;
    }
}

/// Folds one final exchange into the outcome and hands back the body of a success.
fn settle(
    o: &mut Outcome,
    r: Result<Answer, ClientError>,
    (via, gateway): (&str, &str),
) -> Option<Bytes> {
    match r {
        Ok(a) => {
            o.status = a.status.as_u16();
            o.ok = a.status.is_success();
            o.cause = cause_of(&a);
            o.notes.push(format!("{via}: {}", o.status));
            o.ok.then_some(a.body)
        }
        Err(e) => {
            o.status = 0;
            o.ok = false;
            o.cause = Some(cause_of_error(&e, gateway));
            o.notes.push(format!("{via}: {e}"));
            None
        }
    }
}

/// The application (or the gateway) said no for its own reasons: a wrong or missing
/// credential, a forbidden endpoint, a bad request.
const REFUSED: &str = "refused";
/// A server error that names no hop.
const ERROR: &str = "error";

/// Why an answer is a failure, in PROTOCOL.md's vocabulary (`None` for a 2xx). The servers'
/// JSON `reason` (and, for a `502`, `hop`) is the evidence; the status alone is the fallback.
pub fn cause_of(a: &Answer) -> Option<String> {
    if a.status.is_success() {
        return None;
    }
    let body: Option<Value> = serde_json::from_slice(&a.body).ok();
    let field = |k: &str| {
        body.as_ref()
            .and_then(|v| v.get(k))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let reason = field("reason");
    Some(match (a.status.as_u16(), reason.as_deref()) {
        (_, Some("degraded")) => body
            .as_ref()
            .and_then(crate::needs::word_of)
            .unwrap_or_else(|| ERROR.into()),
        (_, Some("blocked")) => "blocked".into(),
        (_, Some("revoked")) => "revoked".into(),
        (502 | 504, Some(how @ ("timeout" | "unreachable" | "error"))) => match field("hop") {
            Some(hop) => format!("{how}:{hop}"),
            None => ERROR.into(),
        },
        (503, _) => "overloaded".into(),
        (400..=499, _) => REFUSED.into(),
        _ => ERROR.into(),
    })
}

/// Why the gateway itself (`host:port`) did not answer: it timed out, or could not be reached
/// at all. The hop is named by its host, the gateway's service id.
pub fn cause_of_error(e: &ClientError, gateway: &str) -> String {
    let host = gateway.rsplit_once(':').map_or(gateway, |(host, _)| host);
    match e {
        ClientError::Timeout => format!("timeout:{host}"),
        ClientError::Failed(_) => format!("unreachable:{host}"),
    }
}

/// Counts of failure causes in first-seen order, so that ties resolve the same way each run.
#[derive(Default)]
struct Tally(Vec<(String, u32)>);

impl Tally {
    fn add(&mut self, cause: String) {
        match self.0.iter_mut().find(|(c, _)| *c == cause) {
            Some((_, n)) => *n += 1,
            None => self.0.push((cause, 1)),
        }
    }

    /// The cause most failures had (`None` when nothing failed).
    fn dominant(&self) -> Option<String> {
        let mut best: Option<&(String, u32)> = None;
        for entry in &self.0 {
            if best.is_none_or(|b| entry.1 > b.1) {
                best = Some(entry);
            }
        }
        best.map(|(c, _)| c.clone())
    }
}

fn json_str(body: &[u8], field: &str) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    v.get(field)?.as_str().map(str::to_owned)
}

fn json_field(body: Option<&Bytes>, field: &str) -> u64 {
    body.and_then(|b| serde_json::from_slice::<Value>(b).ok())
        .and_then(|v| v.get(field).and_then(Value::as_u64))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Action, serde_json::Error> {
        serde_json::from_str(text)
    }

    #[test]
    fn actions_parse_as_in_the_protocol() {
        let a = parse(r#"{"trace": 17, "identity": "alice", "password": "pw", "source": "198.51.100.23", "do": {"kind": "login"}}"#).unwrap();
        assert_eq!(a.trace, Some(17));
        assert!(matches!(a.what, Do::Login {}));
        let a =
            parse(r#"{"do": {"kind": "read_data", "dataset": "orders", "records": 200}}"#).unwrap();
        assert!(matches!(a.what, Do::ReadData { records: 200, .. }));
        let a = parse(r#"{"do": {"kind": "flood", "rps": 200, "seconds": 10, "endpoint": "/public/catalog"}}"#).unwrap();
        assert!(a.validate().is_ok());
        assert!(parse(r#"{"do": {"kind": "teleport"}}"#).is_err());
        assert!(parse(r#"{"do": {"kind": "request"}}"#).is_err());
        assert!(parse(r#"{"do": {"kind": "login", "endpoint": "/x"}}"#).is_err());
        assert!(parse(r#"{"note": "driver's own", "do": {"kind": "login"}}"#).is_ok());
    }

    #[test]
    fn nonsense_is_rejected_before_it_runs() {
        let bad = [
            r#"{"do": {"kind": "flood", "rps": 0, "seconds": 10}}"#,
            r#"{"do": {"kind": "flood", "rps": 10, "seconds": 0}}"#,
            r#"{"do": {"kind": "request", "endpoint": "api/orders"}}"#,
            r#"{"do": {"kind": "read_data", "dataset": ""}}"#,
            r#"{"source": "a\nb", "do": {"kind": "login"}}"#,
        ];
        for text in bad {
            assert!(parse(text).unwrap().validate().is_err(), "{text}");
        }
    }

    fn answer(status: u16, body: Value) -> Answer {
        Answer {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            headers: hyper::HeaderMap::new(),
            body: Bytes::from(body.to_string()),
        }
    }

    #[test]
    fn failures_are_named_from_the_servers_own_evidence() {
        let cases = [
            (200, json!({}), None),
            (
                403,
                json!({"error": "x", "reason": "blocked"}),
                Some("blocked"),
            ),
            (
                403,
                json!({"error": "the admin API needs an admin identity"}),
                Some("refused"),
            ),
            (
                401,
                json!({"error": "x", "reason": "revoked"}),
                Some("revoked"),
            ),
            (
                401,
                json!({"error": "x", "reason": "invalid"}),
                Some("refused"),
            ),
            (
                502,
                json!({"reason": "timeout", "hop": "datastore"}),
                Some("timeout:datastore"),
            ),
            (
                502,
                json!({"reason": "unreachable", "hop": "web"}),
                Some("unreachable:web"),
            ),
            (502, json!({"error": "no hop named"}), Some("error")),
            (503, json!({}), Some("overloaded")),
            (500, json!({}), Some("error")),
        ];
        for (status, body, want) in cases {
            let got = cause_of(&answer(status, body.clone()));
            assert_eq!(got.as_deref(), want, "{status} {body}");
        }
        let timeout = cause_of_error(&ClientError::Timeout, "gateway:8080");
        assert_eq!(timeout, "timeout:gateway");
        assert_eq!(
            cause_of_error(&ClientError::Failed("refused".into()), "partner-gw:8080"),
            "unreachable:partner-gw"
        );
    }

    #[test]
    fn the_dominant_cause_is_the_most_frequent_and_ties_go_to_the_first() {
        let mut t = Tally::default();
        assert_eq!(t.dominant(), None);
        for c in ["overloaded", "blocked", "blocked", "overloaded"] {
            t.add(c.into());
        }
        assert_eq!(t.dominant().as_deref(), Some("overloaded"));
        t.add("blocked".into());
        assert_eq!(t.dominant().as_deref(), Some("blocked"));
    }
}
