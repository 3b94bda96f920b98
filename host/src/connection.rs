//! A client's end of a seat: send `ClientMsg`s, receive `ServerMsg`s. The same type whether the
//! seat runs in this process (an in-process channel) or on a server (a WebSocket thread), so the
//! game and headless runs have one code path for both.

use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::time::Duration;

use crate::protocol::{ClientMsg, ServerMsg};

/// The seat is gone: its thread ended or the connection closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the connection to the seat is closed")]
pub struct Closed;

type SendFn = Box<dyn Fn(ClientMsg) -> bool + Send + Sync>;

/// One client's connection to a seat. Dropping it detaches the client; the seat's session goes
/// on (a served seat) or is ended by whoever owns the seat (local play).
pub struct Connection {
    send: SendFn,
    incoming: Receiver<ServerMsg>,
    on_drop: Option<Box<dyn FnOnce() + Send>>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").finish_non_exhaustive()
    }
}

impl Connection {
    pub fn new(
        send: impl Fn(ClientMsg) -> bool + Send + Sync + 'static,
        incoming: Receiver<ServerMsg>,
        on_drop: impl FnOnce() + Send + 'static,
    ) -> Connection {
        Connection {
            send: Box::new(send),
            incoming,
            on_drop: Some(Box::new(on_drop)),
        }
    }

    pub fn send(&self, msg: ClientMsg) -> Result<(), Closed> {
        if (self.send)(msg) {
            Ok(())
        } else {
            Err(Closed)
        }
    }

    /// The next message, if one has arrived.
    pub fn try_recv(&self) -> Result<Option<ServerMsg>, Closed> {
        match self.incoming.try_recv() {
            Ok(msg) => Ok(Some(msg)),
            Err(TryRecvError::Empty) => Ok(None),
            Err(TryRecvError::Disconnected) => Err(Closed),
        }
    }

    /// The next message, waiting at most `wait`.
    pub fn recv_timeout(&self, wait: Duration) -> Result<Option<ServerMsg>, Closed> {
        match self.incoming.recv_timeout(wait) {
            Ok(msg) => Ok(Some(msg)),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => Err(Closed),
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        if let Some(f) = self.on_drop.take() {
            f();
        }
    }
}
