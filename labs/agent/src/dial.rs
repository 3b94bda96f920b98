//! One HTTP/1 request over a fresh connection, step by step (resolve the name, connect, exchange),
//! so that a failure says where it happened. The firewall needs the steps apart (it connects to
//! the address it checked, never to the name again); a pivot reports which step failed.

use std::fmt;
use std::future::Future;
use std::io::ErrorKind;
use std::net::SocketAddr;

use http_body_util::{BodyExt, Limited};
use hyper::Request;
use hyper::client::conn::http1;
use hyper::http::uri::Authority;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::http::{Answer, Body, MAX_ANSWER_BODY};

/// Why a dial failed, in the vocabulary of PROTOCOL.md (`cause` of a pivot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialError {
    /// The name has no address (DNS said so, or did not answer in time).
    Unresolved(String),
    /// The address answered the connection with a reset: nothing listens on that port.
    Refused(String),
    /// No complete answer in time.
    Timeout,
    /// Any other failure to connect (no route, host unreachable) or to get a whole answer.
    Unreachable(String),
}

impl DialError {
    pub fn cause(&self) -> &'static str {
        match self {
            Self::Unresolved(_) => "unresolved",
            Self::Refused(_) => "refused",
            Self::Timeout => "timeout",
            Self::Unreachable(_) => "unreachable",
        }
    }
}

impl fmt::Display for DialError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unresolved(why) | Self::Refused(why) | Self::Unreachable(why) => f.write_str(why),
            Self::Timeout => f.write_str("no answer in time"),
        }
    }
}

/// A `host:port` as written by whoever named it: a service name or an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    /// As written, trimmed: what `Host` carries and what the resolver is asked.
    pub text: String,
    /// The host alone (IPv6 literals keep their brackets).
    pub host: String,
    pub port: u16,
}

impl HostPort {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let wrong = || format!("{text:?} is not host:port");
        let authority: Authority = text.parse().map_err(|_| wrong())?;
        // An authority may also carry `user@`; a relay target never does.
        if authority.as_str().contains('@') || authority.host().is_empty() {
            return Err(wrong());
        }
        let port = authority.port_u16().filter(|p| *p != 0).ok_or_else(wrong)?;
        Ok(Self {
            text: text.to_owned(),
            host: authority.host().to_owned(),
            port,
        })
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Runs one step until `deadline`; a step still running then fails as `late`.
pub async fn by<T>(
    deadline: Instant,
    late: DialError,
    step: impl Future<Output = Result<T, DialError>>,
) -> Result<T, DialError> {
    tokio::time::timeout_at(deadline, step)
        .await
        .unwrap_or(Err(late))
}

/// The addresses of `to`, in the resolver's order (an address literal is its own answer).
pub async fn resolve(to: &HostPort) -> Result<Vec<SocketAddr>, DialError> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(to.text.as_str())
        .await
        .map_err(|e| DialError::Unresolved(format!("cannot resolve {}: {e}", to.host)))?
        .collect();
    if addrs.is_empty() {
        return Err(DialError::Unresolved(format!(
            "{} resolves to no address",
            to.host
        )));
    }
    Ok(addrs)
}

/// A connection to the first of `addrs` that accepts one; when none does, the last failure.
pub async fn connect(addrs: &[SocketAddr]) -> Result<TcpStream, DialError> {
    let mut failure = DialError::Unreachable("no address to connect to".into());
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                failure = DialError::Refused(format!("connection to {addr} refused"));
            }
            Err(e) => failure = DialError::Unreachable(format!("cannot connect to {addr}: {e}")),
        }
    }
    Err(failure)
}

/// Sends `req` (origin-form URI; the caller sets `Host`) on `stream` and reads the whole
/// answer. The connection is closed when this returns or is dropped: nothing outlives a dial.
pub async fn exchange(stream: TcpStream, req: Request<Body>) -> Result<Answer, DialError> {
    let broken = |what: &str, e: &dyn std::error::Error| {
        DialError::Unreachable(format!("{what}: {}", crate::http::error_chain(e)))
    };
    let (mut sender, conn) = http1::handshake::<_, Body>(TokioIo::new(stream))
        .await
        .map_err(|e| broken("handshake", &e))?;
    let answer = async {
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| broken("no answer", &e))?;
        let (parts, body) = resp.into_parts();
        let body = Limited::new(body, MAX_ANSWER_BODY)
            .collect()
            .await
            .map_err(|e| broken("reading the answer", e.as_ref()))?
            .to_bytes();
        Ok(Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    };
    // The connection is driven here rather than in a spawned task, so that dropping this
    // future (a deadline) closes it instead of leaving it behind.
    tokio::pin!(answer, conn);
    tokio::select! {
        biased;
        result = &mut answer => result,
        ended = &mut conn => match ended {
            // The peer closed after a complete answer: what it sent is still to be read.
            Ok(()) => answer.await,
            Err(e) => Err(broken("connection failed", &e)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_takes_names_and_addresses_with_a_port() {
        let t = HostPort::parse(" datastore:8080 ").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.text.as_str()),
            ("datastore", 8080, "datastore:8080")
        );
        assert_eq!(HostPort::parse("10.201.4.5:80").unwrap().host, "10.201.4.5");
        assert_eq!(HostPort::parse("[::1]:80").unwrap().host, "[::1]");
        for bad in [
            "datastore",
            "datastore:",
            ":80",
            "a:0",
            "a:99999",
            "u@a:80",
            "a:80/x",
            "",
        ] {
            assert!(HostPort::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn a_closed_port_is_refused_and_a_bad_name_unresolved() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        assert!(matches!(
            connect(&[closed]).await,
            Err(DialError::Refused(_))
        ));
        let nowhere = HostPort::parse("nonexistent.invalid:8080").unwrap();
        assert!(matches!(
            resolve(&nowhere).await,
            Err(DialError::Unresolved(_))
        ));
    }
}
