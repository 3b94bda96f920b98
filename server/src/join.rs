//! `GET /api/join`: a trainee's client joins a seat over WebSocket. The first frame is a
//! `Hello` (protocol version, join code, display name); after it, `ClientMsg`s go to the seat
//! and the seat's `ServerMsg`s come back, as JSON text frames.
//!
//! A malformed or oversized message after the hello is answered with a protocol error and the
//! connection stays usable; a refused hello (bad code, seat in use, too many tries, wrong
//! version, bad name) is answered with its error and the connection closes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{ConnectInfo, State};
use axum::response::Response;
use bulkhead_host::protocol::{self, MAX_CLIENT_FRAME, check_name, decode_client};
use bulkhead_host::{ClientMsg, ErrorKind, Hello, Outbox, PROTOCOL_VERSION, ServerMsg};
use tokio::sync::mpsc;

use crate::workshop::{JoinRefusal, Workshop};

/// Frames up to this size are read and refused with `TooLarge`; a larger one ends the
/// connection at the transport (close code 1009) without being buffered whole.
const MAX_TRANSPORT_FRAME: usize = 4 * MAX_CLIENT_FRAME;
/// A client has this long to say hello.
const HELLO_WAIT: Duration = Duration::from_secs(10);
/// How often the server pings a quiet client, and how long silence lasts before it is dropped
/// (a laptop that went to sleep must not hold its seat forever).
const PING_EVERY: Duration = Duration::from_secs(15);
const SILENCE_LIMIT: Duration = Duration::from_secs(45);
/// How often the seat-side forwarder checks that the socket side is still there.
const FORWARD_POLL: Duration = Duration::from_millis(250);

pub async fn join(
    ws: WebSocketUpgrade,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    State(workshop): State<Arc<Workshop>>,
) -> Response {
    ws.max_message_size(MAX_TRANSPORT_FRAME)
        .max_frame_size(MAX_TRANSPORT_FRAME)
        .on_upgrade(move |socket| serve_client(socket, workshop, peer))
}

async fn send(socket: &mut WebSocket, msg: &ServerMsg) -> bool {
    socket
        .send(Message::Text(protocol::encode(msg).into()))
        .await
        .is_ok()
}

/// Send a final error and close the socket properly.
async fn refuse(mut socket: WebSocket, kind: ErrorKind, message: String) {
    tracing::info!(?kind, "join refused: {message}");
    let _ = send(&mut socket, &ServerMsg::error(kind, message)).await;
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code: close_code::POLICY,
            reason: "refused".into(),
        })))
        .await;
}

async fn serve_client(mut socket: WebSocket, workshop: Arc<Workshop>, peer: SocketAddr) {
    if !workshop.may_try_join(peer.ip()) {
        let why = "too many join attempts from this address: wait a minute and try again";
        return refuse(socket, ErrorKind::RateLimited, why.into()).await;
    }
    let hello = match read_hello(&mut socket).await {
        Ok(hello) => hello,
        Err((kind, why)) => return refuse(socket, kind, why).await,
    };
    if hello.protocol != PROTOCOL_VERSION {
        let why = format!(
            "this server speaks protocol {PROTOCOL_VERSION}, the client {}: use the same Bulkhead version as the server",
            hello.protocol
        );
        return refuse(socket, ErrorKind::Version, why).await;
    }
    let name = match check_name(&hello.name) {
        Ok(name) => name,
        Err(why) => return refuse(socket, ErrorKind::BadName, why).await,
    };
    let (seat, conn) = match workshop.join(&hello.code, name.clone()) {
        Ok(joined) => joined,
        Err(JoinRefusal::BadCode) => {
            let why = "no seat has this join code: check it with your facilitator";
            return refuse(socket, ErrorKind::BadCode, why.into()).await;
        }
        Err(JoinRefusal::InUse) => {
            let why = "another client holds this seat: close it first, or ask your facilitator to reset the code";
            return refuse(socket, ErrorKind::InUse, why.into()).await;
        }
    };
    tracing::info!(seat, %peer, trainee = %name, "joined");
    let (outbox, incoming) = conn.split();
    let (to_socket, from_seat) = mpsc::unbounded_channel();
    tokio::task::spawn_blocking(move || forward(incoming, to_socket));
    carry(socket, outbox, from_seat).await;
    tracing::info!(seat, %peer, "left");
}

/// Wait for the client's `Hello`.
async fn read_hello(socket: &mut WebSocket) -> Result<Hello, (ErrorKind, String)> {
    let first = tokio::time::timeout(HELLO_WAIT, async {
        loop {
            match socket.recv().await {
                Some(Ok(Message::Text(text))) => return Some(text),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                _ => return None,
            }
        }
    })
    .await;
    let text = match first {
        Ok(Some(text)) => text,
        Ok(None) => {
            return Err((
                ErrorKind::Malformed,
                "the first message must be a hello (a JSON text frame)".into(),
            ));
        }
        Err(_) => {
            return Err((
                ErrorKind::Malformed,
                format!("no hello within {} s", HELLO_WAIT.as_secs()),
            ));
        }
    };
    decode_client::<Hello>(text.as_str()).map_err(|e| (e.kind(), format!("hello: {e}")))
}

/// Seat to socket: a blocking thread reading the seat's channel. Ends when the seat drops the
/// client (a kick, the server stopping) or the socket side is gone.
fn forward(incoming: Receiver<ServerMsg>, to_socket: mpsc::UnboundedSender<ServerMsg>) {
    loop {
        match incoming.recv_timeout(FORWARD_POLL) {
            Ok(msg) => {
                if to_socket.send(msg).is_err() {
                    return;
                }
            }
            Err(RecvTimeoutError::Timeout) if to_socket.is_closed() => return,
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// What happened to the connection, to end it the right way.
enum End {
    /// The client closed or vanished.
    ClientGone,
    /// The seat let the client go (code reset, server stopping): say so, then close.
    SeatClosed,
}

/// Carry frames both ways until either side goes.
async fn carry(
    mut socket: WebSocket,
    outbox: Outbox,
    mut from_seat: mpsc::UnboundedReceiver<ServerMsg>,
) {
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    let mut heard = Instant::now();
    let end = loop {
        tokio::select! {
            frame = socket.recv() => {
                heard = Instant::now();
                match hear(&outbox, frame) {
                    Heard::Nothing => {}
                    Heard::Answer(reply) => {
                        if !send(&mut socket, &reply).await {
                            break End::ClientGone;
                        }
                    }
                    Heard::Gone => break End::ClientGone,
                }
            }
            msg = from_seat.recv() => match msg {
                Some(msg) => {
                    if !send(&mut socket, &msg).await {
                        break End::ClientGone;
                    }
                }
                None => break End::SeatClosed,
            },
            _ = ping.tick() => {
                if heard.elapsed() > SILENCE_LIMIT {
                    tracing::info!("dropping a client silent for {} s", SILENCE_LIMIT.as_secs());
                    break End::ClientGone;
                }
                if socket.send(Message::Ping(Vec::new().into())).await.is_err() {
                    break End::ClientGone;
                }
            }
        }
    };
    drop(outbox);
    if let End::SeatClosed = end {
        let why = "the seat closed this connection: the facilitator reset its code, or the server is stopping";
        let _ = send(&mut socket, &ServerMsg::error(ErrorKind::Closed, why)).await;
        let _ = socket.send(Message::Close(None)).await;
    }
}

/// What one frame from the client calls for.
enum Heard {
    Nothing,
    /// Answer with this (a refusal: the frame was not a message of the protocol).
    Answer(ServerMsg),
    /// The client closed or the connection failed.
    Gone,
}

/// Take one frame from the client: messages go to the seat, anything else is answered or ends
/// the connection.
fn hear(outbox: &Outbox, frame: Option<Result<Message, axum::Error>>) -> Heard {
    match frame {
        Some(Ok(Message::Text(text))) => {
            take_client_message(outbox, text.as_str()).map_or(Heard::Nothing, Heard::Answer)
        }
        Some(Ok(Message::Binary(_))) => Heard::Answer(ServerMsg::error(
            ErrorKind::Malformed,
            "send JSON text frames, not binary ones",
        )),
        Some(Ok(Message::Ping(_) | Message::Pong(_))) => Heard::Nothing,
        Some(Ok(Message::Close(_))) | None => Heard::Gone,
        Some(Err(e)) => {
            tracing::debug!("client connection failed: {e}");
            Heard::Gone
        }
    }
}

/// Pass a client's frame to the seat; returns the error to answer with, if it was refused.
fn take_client_message(outbox: &Outbox, text: &str) -> Option<ServerMsg> {
    match decode_client::<ClientMsg>(text) {
        Ok(msg) => match outbox.send(msg) {
            Ok(()) => None,
            Err(_) => Some(ServerMsg::error(ErrorKind::Closed, "the seat is closed")),
        },
        Err(e) => Some(ServerMsg::error(e.kind(), e.to_string())),
    }
}
