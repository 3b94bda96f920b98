//! HTTP plumbing shared by the roles: a plain HTTP/1 server loop, a pooled client with a
//! hard timeout, helpers for the headers every role reads (`X-Request-Id`,
//! `X-Bulkhead-Source`), and what the relaying roles (gateway, firewall) share: which headers
//! belong to one hop only.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE, HOST, HeaderMap, HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::client::legacy::{self, connect::HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::net::TcpListener;

pub type Body = Full<Bytes>;
pub type Resp = Response<Body>;

pub const REQUEST_ID: &str = "x-request-id";
pub const SOURCE: &str = "x-bulkhead-source";
/// The `host:port` a firewall is asked to relay a request to.
pub const TO: &str = "x-bulkhead-to";
/// Set by a firewall on the answers it makes itself (refusals, failures to reach the target),
/// never on the target's answers it relays, so a client can tell the two apart: a target's
/// own `403` or `502` can carry a `reason` too.
pub const FIREWALL: &str = "x-bulkhead-firewall";

/// Headers that describe one hop, not the message (RFC 9110 §7.6.1), plus those the client
/// library sets itself.
const HOP_BY_HOP: [&str; 10] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
];

/// Request bodies larger than this are refused: every API here takes small JSON documents,
/// and the gateway must not be an easy way to exhaust a capped container's memory.
pub const MAX_REQUEST_BODY: usize = 4 << 20;
/// Answers larger than this are treated as failures; the biggest legitimate one is a
/// datastore batch of a few MiB.
pub const MAX_ANSWER_BODY: usize = 64 << 20;

/// A request with its body already read, plus the peer it came from.
#[derive(Debug)]
pub struct Req {
    pub method: Method,
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub peer: SocketAddr,
}

impl Req {
    /// The driver's request id, when it sent a decimal one.
    pub fn trace(&self) -> Option<u64> {
        header_str(&self.headers, REQUEST_ID).and_then(|v| v.trim().parse().ok())
    }

    /// The client's apparent source: the label the client claims, else the TCP peer's address.
    /// Trusting the header is the point: the lab simulates many source addresses from a
    /// handful of containers.
    pub fn source(&self) -> String {
        header_str(&self.headers, SOURCE)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| self.peer.ip().to_string())
    }

    pub fn query_param(&self, name: &str) -> Option<String> {
        query_param(&self.query, name)
    }

    pub fn path_and_query(&self) -> String {
        if self.query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{}", self.path, self.query)
        }
    }

    /// The body as JSON, or what is wrong with it.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, BadBody> {
        serde_json::from_slice(&self.body)
            .map_err(|e| BadBody(format!("request body is not the expected JSON: {e}")))
    }
}

/// A request body that does not parse; answered with `400` and the parser's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadBody(pub String);

impl BadBody {
    pub fn into_response(self) -> Resp {
        error(StatusCode::BAD_REQUEST, &self.0)
    }
}

pub fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

pub fn text(status: StatusCode, body: &str) -> Resp {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_owned())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

pub fn json<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Resp {
    match serde_json::to_vec(value) {
        Ok(bytes) => raw_json(status, Bytes::from(bytes)),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

pub fn raw_json(status: StatusCode, body: Bytes) -> Resp {
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

/// `{"error": message}` with the given status.
pub fn error(status: StatusCode, message: &str) -> Resp {
    json(status, &serde_json::json!({ "error": message }))
}

pub fn not_found() -> Resp {
    error(StatusCode::NOT_FOUND, "no such endpoint")
}

fn is_hop_by_hop(name: &HeaderName) -> bool {
    HOP_BY_HOP.contains(&name.as_str())
}

/// The headers of a request worth passing to the next hop: neither hop-by-hop nor `Host`
/// (the next hop has its own), nor any of `also_dropped` (lower case), which the relay
/// replaces or consumes.
pub fn end_to_end<'a>(
    headers: &'a HeaderMap,
    also_dropped: &'a [&'a str],
) -> impl Iterator<Item = (&'a HeaderName, &'a HeaderValue)> + 'a {
    headers.iter().filter(move |(name, _)| {
        !is_hop_by_hop(name) && *name != HOST && !also_dropped.contains(&name.as_str())
    })
}

/// An upstream's answer passed on as this hop's own: same status and body, end-to-end
/// headers only, less any of `also_dropped` (lower case).
pub fn relayed(answer: Answer, also_dropped: &[&str]) -> Resp {
    let mut resp = Response::new(Full::new(answer.body));
    *resp.status_mut() = answer.status;
    for (name, value) in &answer.headers {
        if !is_hop_by_hop(name) && !also_dropped.contains(&name.as_str()) {
            resp.headers_mut().append(name, value.clone());
        }
    }
    resp
}

/// Binds `0.0.0.0:<port>` (all interfaces: the container's address is not known in advance).
pub async fn bind_all(port: u16) -> std::io::Result<TcpListener> {
    TcpListener::bind(SocketAddr::from(([0, 0, 0, 0], port))).await
}

/// Serves `handler` on `listener` until the task is dropped.
pub async fn serve<H, F>(listener: TcpListener, handler: H)
where
    H: Fn(Req) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Resp> + Send + 'static,
{
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(pair) => pair,
            Err(_) => {
                // Usually EMFILE under a flood: back off instead of spinning on the error.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: Request<Incoming>| {
                let handler = handler.clone();
                async move { Ok::<_, Infallible>(dispatch(req, peer, handler).await) }
            });
            let _ = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn dispatch<H, F>(req: Request<Incoming>, peer: SocketAddr, handler: H) -> Resp
where
    H: Fn(Req) -> F,
    F: Future<Output = Resp>,
{
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_REQUEST_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            return error(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
        }
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("unreadable body: {e}")),
    };
    handler(Req {
        method: parts.method,
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        headers: parts.headers,
        body,
        peer,
    })
    .await
}

/// What came back from an upstream.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientError {
    /// No complete answer within the client's timeout.
    Timeout,
    /// Connection refused, name not resolved, reset, bad URL...
    Failed(String),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Timeout => f.write_str("timed out"),
            Self::Failed(why) => f.write_str(why),
        }
    }
}

/// A pooled HTTP/1 client whose every exchange (connect, headers and body) is bounded by one
/// timeout, so an isolated or blocked peer costs a fixed wait instead of piling up.
#[derive(Clone)]
pub struct Client {
    inner: legacy::Client<HttpConnector, Body>,
    timeout: Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Client {
    pub fn new(timeout: Duration) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(timeout));
        connector.set_nodelay(true);
        let inner = legacy::Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(5))
            .pool_max_idle_per_host(64)
            .build(connector);
        Self { inner, timeout }
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub async fn send(&self, req: Request<Body>) -> Result<Answer, ClientError> {
        let exchange = async {
            let resp = self
                .inner
                .request(req)
                .await
                .map_err(|e| ClientError::Failed(error_chain(&e)))?;
            let (parts, body) = resp.into_parts();
            let body = Limited::new(body, MAX_ANSWER_BODY)
                .collect()
                .await
                .map_err(|e| ClientError::Failed(format!("reading the answer: {e}")))?
                .to_bytes();
            Ok(Answer {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .unwrap_or(Err(ClientError::Timeout))
    }

    /// Builds and sends one request to `http://{host_port}{path}`.
    pub async fn call(
        &self,
        method: Method,
        host_port: &str,
        path: &str,
        headers: &[(&str, String)],
        body: Bytes,
    ) -> Result<Answer, ClientError> {
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("http://{host_port}{path}"));
        for (name, value) in headers {
            builder = builder.header(*name, value.as_str());
        }
        if !body.is_empty() {
            builder = builder.header(CONTENT_TYPE, "application/json");
        }
        let req = builder
            .body(Full::new(body))
            .map_err(|e| ClientError::Failed(format!("cannot build the request: {e}")))?;
        self.send(req).await
    }
}

pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// The first value of `name` in a query string, percent-decoded.
pub fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k) == name).then(|| percent_decode(v))
    })
}

/// Decodes `%XX` escapes and `+` (as a space); malformed escapes are kept as written.
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                // Two hex digits exactly: `u8::from_str_radix` alone would also take a sign,
                // decoding "%+1" to a control byte.
                let hex = (bytes[i + 1].is_ascii_hexdigit() && bytes[i + 2].is_ascii_hexdigit())
                    .then(|| std::str::from_utf8(&bytes[i + 1..i + 3]).ok())
                    .flatten()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes everything outside the URL-safe unreserved set, for a query value or a
/// path segment.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_params_are_found_and_decoded() {
        assert_eq!(query_param("n=5&x=1", "n").as_deref(), Some("5"));
        assert_eq!(
            query_param("identity=al%69ce+b", "identity").as_deref(),
            Some("alice b")
        );
        assert_eq!(query_param("flag", "flag").as_deref(), Some(""));
        assert_eq!(query_param("", "n"), None);
    }

    #[test]
    fn malformed_escapes_survive_decoding() {
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%E2%82%AC"), "€");
        assert_eq!(percent_decode("%+1%-1"), "% 1%-1");
        // A lone byte of a multibyte character decodes to the replacement character, not
        // to invalid text.
        assert_eq!(percent_decode("%E2x"), "\u{fffd}x");
    }

    #[test]
    fn encoding_round_trips() {
        for s in ["198.51.100.23", "2001:db8::1", "a b/c?d&e", "€"] {
            assert_eq!(percent_decode(&percent_encode(s)), s);
        }
    }
}
