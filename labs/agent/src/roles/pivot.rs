//! `POST /pivot`, on the control API of every role: code running in this container reaching
//! another service, directly or through a firewall, as an intruder moving laterally would. It
//! reports what the network did with the attempt; it decides nothing and logs nothing (the
//! firewall and the target log what they see). A pivot that carries `bytes` is an exfiltration
//! attempt: a `POST` of that many bytes, usually to an address outside the lab, which the
//! network never lets out; the firewall's `crossing` line is where it shows.

use std::sync::OnceLock;
use std::time::Duration;

use hyper::body::Bytes;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HOST};
use hyper::http::uri::PathAndQuery;
use hyper::{Method, Request, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::time::Instant;

use crate::dial::{self, DialError, HostPort};
use crate::http::{self, Answer, BadBody, Body, Req, Resp};
use crate::needs::Degraded;

pub const PATH: &str = "/pivot";

/// Name to last byte. Longer than a firewall's relay (1.5 s), so that the firewall's own `502`
/// comes back rather than this timeout; shorter than `labd ctl`'s wait for the answer.
pub const TIMEOUT: Duration = Duration::from_secs(2);

/// The most `bytes` a pivot may send: the largest request body any labd accepts. A bigger one
/// would be refused by the firewall's HTTP server (`413`) before the relay judges it, so no
/// `crossing` line would show the attempt, and the pivot would take that `413` for the
/// target's answer.
pub const MAX_BYTES: usize = http::MAX_REQUEST_BODY;

/// `bytes` bytes of filler (zeros) for an exfiltrating pivot's body: slices of one buffer,
/// allocated on the first exfiltration and shared by every one after, so that concurrent
/// attempts cost no more memory than one. (Not a zeroed `static`: that would sit in
/// `.rodata` and add 4 MiB to every lab image.)
fn filler(bytes: usize) -> Bytes {
    static FILLER: OnceLock<Bytes> = OnceLock::new();
    if bytes == 0 {
        return Bytes::new();
    }
    FILLER
        .get_or_init(|| Bytes::from(vec![0; MAX_BYTES]))
        // `from_json` caps `bytes`; a `Pivot` built by hand must not panic here either.
        .slice(..bytes.min(MAX_BYTES))
}

/// The body of `POST /pivot`, as the driver writes it. Strict: a misspelt `via` would
/// otherwise turn a pivot through the firewall into a direct one.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PivotRequest {
    pub to: String,
    pub path: String,
    #[serde(default)]
    pub via: Option<String>,
    #[serde(default)]
    pub trace: Option<u64>,
    /// A body of this many bytes to send (a `POST`); absent, null or 0: a `GET` with none.
    #[serde(default)]
    pub bytes: Option<u64>,
}

/// A pivot whose hops and path are known to be well formed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pivot {
    pub to: HostPort,
    /// The firewall to go through, or none: straight to `to`.
    pub via: Option<HostPort>,
    /// Path and query, starting with `/`.
    pub path: String,
    pub trace: Option<u64>,
    /// The length of the body to send, at most [`MAX_BYTES`]; 0: a `GET` without one.
    pub bytes: usize,
}

/// The answer to `POST /pivot`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The target itself answered, whatever its status, unless to say it cannot do its work
    /// (a degraded refusal, `crate::needs`).
    pub ok: bool,
    /// The HTTP status that came back (the target's, or the firewall's refusal), 0 when none.
    pub status: u16,
    /// Why not `ok`: a firewall's `reason`, or how the connection failed.
    pub cause: Option<String>,
    pub detail: String,
    /// `direct` or `firewall`.
    pub via: &'static str,
}

/// `POST /pivot` → `200` with a [`Report`]; `400` for a bad body.
pub async fn answer(service: &str, req: &Req) -> Resp {
    if req.method != Method::POST {
        return http::error(StatusCode::METHOD_NOT_ALLOWED, "POST /pivot");
    }
    match Pivot::from_json(&req.body) {
        Ok(pivot) => http::json(StatusCode::OK, &pivot.run(service).await),
        Err(bad) => bad.into_response(),
    }
}

/// `POST /pivot` from a service that cannot do its work: a [`Report`] of the refusal, made
/// without dialling (`400` for a bad body, as always).
pub fn refused(degraded: &Degraded, req: &Req) -> Resp {
    if req.method != Method::POST {
        return http::error(StatusCode::METHOD_NOT_ALLOWED, "POST /pivot");
    }
    match Pivot::from_json(&req.body) {
        Ok(pivot) => {
            let detail = format!("{}: {}", pivot.attempt(), degraded.body()["error"]);
            let report = pivot.report(false, 503, Some(degraded.word()), detail);
            http::json(StatusCode::OK, &report)
        }
        Err(bad) => bad.into_response(),
    }
}

impl Pivot {
    pub fn from_json(body: &[u8]) -> Result<Self, BadBody> {
        let asked: PivotRequest = serde_json::from_slice(body)
            .map_err(|e| BadBody(format!("request body is not the expected JSON: {e}")))?;
        let hop = |text: &str, field: &str| {
            HostPort::parse(text).map_err(|why| BadBody(format!("{field}: {why}")))
        };
        let path_ok = asked.path.starts_with('/')
            && !asked
                .path
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
            && asked.path.parse::<PathAndQuery>().is_ok();
        if !path_ok {
            return Err(BadBody(format!(
                "path {:?} must be a path starting with /",
                asked.path
            )));
        }
        Ok(Self {
            to: hop(&asked.to, "to")?,
            via: asked.via.as_deref().map(|v| hop(v, "via")).transpose()?,
            path: asked.path,
            trace: asked.trace,
            bytes: body_length(asked.bytes)?,
        })
    }

    /// `POST` when there is a body to send, else `GET`.
    pub fn method(&self) -> Method {
        if self.bytes > 0 {
            Method::POST
        } else {
            Method::GET
        }
    }

    /// Makes the attempt as service `service` and says what became of it.
    pub async fn run(&self, service: &str) -> Report {
        let deadline = Instant::now() + TIMEOUT;
        match self.send(service, deadline).await {
            Ok(answer) => self.answered(&answer),
            Err(e) => {
                let what = match &self.via {
                    Some(via) => format!("cannot reach the firewall {via}"),
                    None => format!("cannot reach {}", self.to),
                };
                self.report(false, 0, Some(e.cause().into()), format!("{what}: {e}"))
            }
        }
    }

    /// The first hop: the firewall when there is one, else the target.
    fn hop(&self) -> &HostPort {
        self.via.as_ref().unwrap_or(&self.to)
    }

    async fn send(&self, service: &str, deadline: Instant) -> Result<Answer, DialError> {
        let hop = self.hop();
        let slow_dns = DialError::Unresolved(format!("{} did not resolve in time", hop.host));
        let addrs = dial::by(deadline, slow_dns, dial::resolve(hop)).await?;
        let stream = dial::by(deadline, DialError::Timeout, dial::connect(&addrs)).await?;
        let req = self.request(service)?;
        dial::by(deadline, DialError::Timeout, dial::exchange(stream, req)).await
    }

    fn request(&self, service: &str) -> Result<Request<Body>, DialError> {
        let mut builder = Request::builder()
            .method(self.method())
            .uri(self.path.as_str())
            .header(HOST, self.hop().text.as_str())
            .header(http::SOURCE, service);
        if self.bytes > 0 {
            builder = builder
                .header(CONTENT_TYPE, "application/octet-stream")
                .header(CONTENT_LENGTH, self.bytes);
        }
        if self.via.is_some() {
            builder = builder.header(http::TO, self.to.text.as_str());
        }
        if let Some(trace) = self.trace {
            builder = builder.header(http::REQUEST_ID, trace.to_string());
        }
        // Only a service id that is no header value can fail here.
        builder
            .body(Body::new(filler(self.bytes)))
            .map_err(|e| DialError::Unreachable(format!("cannot build the request: {e}")))
    }

    /// An answer from the target is `ok`; a firewall's own answer (marked as such) is its
    /// refusal, whose `reason` is the cause.
    fn answered(&self, answer: &Answer) -> Report {
        let status = answer.status.as_u16();
        let target = self.attempt();
        let refused_by_firewall = self.via.is_some() && answer.headers.contains_key(http::FIREWALL);
        let body: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
        if !refused_by_firewall {
            // The target answered; a degraded one, only to say it cannot do its work.
            return match crate::needs::word_of(&body) {
                Some(word) => self.report(false, status, Some(word), format!("{target}: {status}")),
                None => self.report(true, status, None, format!("{target}: {status}")),
            };
        }
        let reason = body["reason"].as_str().map(str::to_owned);
        let detail = format!(
            "{target}: the firewall answered {status} {}: {}",
            reason.as_deref().unwrap_or("without a reason"),
            body["error"].as_str().unwrap_or_default()
        );
        self.report(false, status, reason, detail)
    }

    /// What was tried, for a `detail`: `GET /records on data-store:8080`, or
    /// `POST /upload (1048576 bytes) on 203.0.113.5:443`.
    fn attempt(&self) -> String {
        let body = match self.bytes {
            0 => String::new(),
            n => format!(" ({n} bytes)"),
        };
        format!("{} {}{body} on {}", self.method(), self.path, self.to)
    }

    fn report(&self, ok: bool, status: u16, cause: Option<String>, detail: String) -> Report {
        Report {
            ok,
            status,
            cause,
            detail,
            via: if self.via.is_some() {
                "firewall"
            } else {
                "direct"
            },
        }
    }
}

/// The body length a pivot asked for, refused over [`MAX_BYTES`] like any other bad body.
fn body_length(asked: Option<u64>) -> Result<usize, BadBody> {
    let asked = asked.unwrap_or(0);
    usize::try_from(asked)
        .ok()
        .filter(|n| *n <= MAX_BYTES)
        .ok_or_else(|| {
            BadBody(format!(
                "bytes: {asked} is more than the {MAX_BYTES} a pivot may send"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pivot_body_is_strict_and_checked() {
        let p = Pivot::from_json(
            br#"{"to":"data-store:8080","path":"/records/customers?n=3","via":"fw:8080","trace":17}"#,
        )
        .unwrap();
        assert_eq!((p.to.host.as_str(), p.to.port), ("data-store", 8080));
        assert_eq!(p.via.as_ref().unwrap().text, "fw:8080");
        assert_eq!((p.bytes, p.method()), (0, Method::GET), "no bytes: a GET");
        assert_eq!(
            (p.path.as_str(), p.trace),
            ("/records/customers?n=3", Some(17))
        );
        let direct =
            Pivot::from_json(br#"{"to":"a:1","path":"/","via":null,"trace":null,"bytes":null}"#)
                .unwrap();
        assert_eq!((direct.via, direct.trace, direct.bytes), (None, None, 0));
        let exfil =
            Pivot::from_json(br#"{"to":"203.0.113.5:443","path":"/u","bytes":4194304}"#).unwrap();
        assert_eq!((exfil.bytes, exfil.method()), (MAX_BYTES, Method::POST));
        assert_eq!(exfil.to.host, "203.0.113.5");
        assert_eq!(
            exfil.attempt(),
            "POST /u (4194304 bytes) on 203.0.113.5:443"
        );
        for bad in [
            r#"{"to":"a:1","path":"/","vai":"fw:8080"}"#,
            r#"{"to":"a:1","path":"records"}"#,
            r#"{"to":"a:1","path":"/a b"}"#,
            r#"{"to":"a","path":"/"}"#,
            r#"{"to":"a:1","path":"/","via":"fw"}"#,
            r#"{"path":"/"}"#,
            r#"{"to":"a:1","path":"/","bytes":4194305}"#,
            r#"{"to":"a:1","path":"/","bytes":18446744073709551615}"#,
            r#"{"to":"a:1","path":"/","bytes":-1}"#,
            r#"{"to":"a:1","path":"/","bytes":1.5}"#,
            r#"{"to":"a:1","path":"/","bytes":"10"}"#,
            "",
        ] {
            let err = Pivot::from_json(bad.as_bytes()).unwrap_err();
            assert!(!err.0.is_empty(), "{bad}");
        }
    }
}
