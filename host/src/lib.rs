//! Bulkhead's session host: a `Seat` runs one trainee's sessions (lab, pacing, record, views)
//! on its own thread and speaks the versioned `protocol` to one client at a time, in process
//! (the game, `bulkhead run`) or over WebSocket (`bulkhead serve` and its clients). No tokio and
//! no bevy here: the server and the game adapt this to their own worlds.

pub mod client;
pub mod connection;
pub mod oversight;
pub mod protocol;
pub mod remote;
pub mod replay;
pub mod seat;
pub mod view;

pub use connection::{Closed, Connection, Outbox};
pub use oversight::{ControlReply, Health, InjectOffer, MentorView, SeatControl};
pub use protocol::{ClientMsg, ErrorKind, Hello, Offer, PROTOCOL_VERSION, Pace, ServerMsg};
pub use seat::{
    LabFactory, LabStatus, Records, Seat, SeatConfig, SeatStatus, Watching, seed_or_random,
};
pub use view::Snapshot;
