//! The WebSocket transport: a `Connection` to a seat on a `bulkhead serve` server. One thread
//! per connection carries frames both ways, so the game and headless runs use the same
//! `Connection` as for a seat in their own process.

use std::net::{TcpStream, ToSocketAddrs};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::time::Duration;

use tungstenite::{Message, WebSocket};

use crate::connection::Connection;
use crate::protocol::{
    ClientMsg, ErrorKind, Hello, PROTOCOL_VERSION, ServerMsg, decode_server, encode,
};

/// The route a trainee's client joins on.
pub const JOIN_PATH: &str = "/api/join";

/// How long the socket thread waits for a frame before looking for outgoing messages: bounds
/// the delay a command waits to leave.
const READ_SLICE: Duration = Duration::from_millis(5);
/// How long to wait for the server's greeting.
const GREETING_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("{url}: {why}")]
    Url { url: String, why: String },
    #[error("cannot reach {addr}: {source}")]
    Io {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{addr} did not accept a WebSocket: {why}")]
    Handshake { addr: String, why: String },
    #[error("the server refused to join: {message}")]
    Refused { kind: ErrorKind, message: String },
    #[error("the server closed the connection before greeting")]
    NoGreeting,
}

/// Turn what a facilitator hands out (`http://host:7420`, `ws://host:7420/api/join`) into the
/// join URL and the address to dial.
pub fn join_url(given: &str) -> Result<(String, String), ConnectError> {
    let bad = |why: &str| ConnectError::Url {
        url: given.to_string(),
        why: why.to_string(),
    };
    let url = url::Url::parse(given).map_err(|e| bad(&format!("not a URL ({e})")))?;
    let scheme = match url.scheme() {
        "http" | "ws" => "ws",
        "https" | "wss" => {
            return Err(bad(
                "TLS is not supported yet: use the server's http:// address on a trusted network",
            ));
        }
        other => {
            return Err(bad(&format!(
                "unknown scheme {other}; use http://HOST:PORT"
            )));
        }
    };
    let host = url.host_str().ok_or_else(|| bad("no host"))?;
    let port = url.port().unwrap_or(7420);
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    let addr = format!("{host}:{port}");
    Ok((format!("{scheme}://{addr}{JOIN_PATH}"), addr))
}

/// Join a served seat: say hello with the code and name, wait for the welcome.
pub fn connect(url: &str, code: &str, name: &str) -> Result<Connection, ConnectError> {
    let (join, addr) = join_url(url)?;
    let io = |source| ConnectError::Io {
        addr: addr.clone(),
        source,
    };
    let target = addr
        .to_socket_addrs()
        .map_err(io)?
        .next()
        .ok_or_else(|| io(std::io::Error::other("the name resolves to no address")))?;
    let stream = TcpStream::connect_timeout(&target, GREETING_WAIT).map_err(io)?;
    stream.set_nodelay(true).map_err(io)?;
    let (mut ws, _) = tungstenite::client::client(join.as_str(), stream).map_err(|e| {
        ConnectError::Handshake {
            addr: addr.clone(),
            why: e.to_string(),
        }
    })?;
    let hello = Hello {
        protocol: PROTOCOL_VERSION,
        code: code.to_string(),
        name: name.to_string(),
    };
    ws.send(Message::text(encode(&hello)))
        .map_err(|e| io(std::io::Error::other(e)))?;
    ws.get_ref()
        .set_read_timeout(Some(GREETING_WAIT))
        .map_err(io)?;
    let greeting = loop {
        match ws.read() {
            Ok(Message::Text(text)) => break decode_server(&text).ok(),
            Ok(Message::Close(_)) | Err(_) => break None,
            Ok(_) => continue,
        }
    };
    let welcome = match greeting {
        Some(ServerMsg::Error { kind, message }) => {
            return Err(ConnectError::Refused { kind, message });
        }
        Some(welcome @ ServerMsg::Welcome { .. }) => welcome,
        _ => return Err(ConnectError::NoGreeting),
    };
    ws.get_ref()
        .set_read_timeout(Some(READ_SLICE))
        .map_err(io)?;
    let (out_tx, out_rx) = mpsc::channel::<ClientMsg>();
    let (in_tx, in_rx) = mpsc::channel();
    let _ = in_tx.send(welcome);
    std::thread::Builder::new()
        .name(format!("join {addr}"))
        .spawn(move || carry(ws, out_rx, in_tx))
        .map_err(io)?;
    Ok(Connection::new(
        move |msg| out_tx.send(msg).is_ok(),
        in_rx,
        || {},
    ))
}

/// Carry frames until either side goes: the server closes, or the `Connection` is dropped (then
/// the socket is closed properly, so the server detaches the seat at once).
fn carry(mut ws: WebSocket<TcpStream>, out: Receiver<ClientMsg>, incoming: Sender<ServerMsg>) {
    loop {
        loop {
            match out.try_recv() {
                Ok(msg) => {
                    if ws.send(Message::text(encode(&msg))).is_err() {
                        return;
                    }
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    let _ = ws.close(None);
                    // Read until the server answers the close (or the socket times out).
                    for _ in 0..200 {
                        match ws.read() {
                            Err(tungstenite::Error::Io(e)) if is_timeout(&e) => {}
                            Err(_) => return,
                            Ok(_) => {}
                        }
                    }
                    return;
                }
            }
        }
        match ws.read() {
            Ok(Message::Text(text)) => match decode_server(&text) {
                Ok(msg) => {
                    if incoming.send(msg).is_err() {
                        return;
                    }
                    // A client often answers what it just got (a lockstep client decides and
                    // steps on every view): wait for that answer here rather than in the next
                    // read, so that it leaves at once instead of after a read slice.
                    if let Ok(msg) = out.recv_timeout(READ_SLICE)
                        && ws.send(Message::text(encode(&msg))).is_err()
                    {
                        return;
                    }
                }
                Err(e) => tracing::warn!("ignoring a frame the server sent: {e}"),
            },
            Ok(Message::Close(_)) => return,
            Ok(_) => {}
            Err(tungstenite::Error::Io(e)) if is_timeout(&e) => {}
            Err(e) => {
                tracing::debug!("connection closed: {e}");
                return;
            }
        }
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_urls_come_from_what_a_facilitator_hands_out() {
        assert_eq!(
            join_url("http://127.0.0.1:7420").unwrap().0,
            "ws://127.0.0.1:7420/api/join"
        );
        assert_eq!(
            join_url("ws://host.example:9000/anything").unwrap(),
            (
                "ws://host.example:9000/api/join".to_string(),
                "host.example:9000".to_string()
            )
        );
        assert_eq!(join_url("http://[::1]:7420").unwrap().1, "[::1]:7420");
        assert!(join_url("https://x").is_err());
        assert!(join_url("7420").is_err());
        assert!(join_url("ftp://x").is_err());
    }
}
