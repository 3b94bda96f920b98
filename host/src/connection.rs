//! A client's end of a seat: send `ClientMsg`s, receive `ServerMsg`s. The same type whether the
//! seat runs in this process (an in-process channel) or on a server (a WebSocket thread), so the
//! game and headless runs have one code path for both.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::time::Duration;

use crate::protocol::{ClientMsg, ServerMsg};

/// The seat is gone: its thread ended or the connection closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the connection to the seat is closed")]
pub struct Closed;

type SendFn = Arc<dyn Fn(ClientMsg) -> bool + Send + Sync>;

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
            send: Arc::new(send),
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

impl Connection {
    /// Split into a sending half that any thread may share and the receiving half, for a
    /// transport that reads and writes on different tasks (the server's WebSocket). The client
    /// detaches when both halves are dropped.
    pub fn split(mut self) -> (Outbox, Receiver<ServerMsg>) {
        let guard = Arc::new(DetachOnDrop(std::sync::Mutex::new(self.on_drop.take())));
        let (placeholder_tx, placeholder_rx) = std::sync::mpsc::channel();
        drop(placeholder_tx);
        let incoming = std::mem::replace(&mut self.incoming, placeholder_rx);
        let outbox = Outbox {
            send: self.send.clone(),
            _detach: guard,
        };
        (outbox, incoming)
    }
}

/// The sending half of a split `Connection`: cheap to clone, usable from any thread.
#[derive(Clone)]
pub struct Outbox {
    send: SendFn,
    _detach: Arc<DetachOnDrop>,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox").finish_non_exhaustive()
    }
}

impl Outbox {
    pub fn send(&self, msg: ClientMsg) -> Result<(), Closed> {
        if (self.send)(msg) {
            Ok(())
        } else {
            Err(Closed)
        }
    }
}

/// Runs a connection's detach once, when the last half holding it goes. (A mutex only so that
/// the halves may be shared between threads; it is never contended.)
struct DetachOnDrop(std::sync::Mutex<Option<Box<dyn FnOnce() + Send>>>);

impl Drop for DetachOnDrop {
    fn drop(&mut self) {
        let taken = match self.0.get_mut() {
            Ok(slot) => slot.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(f) = taken {
            f();
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
