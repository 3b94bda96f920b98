//! `labd`: the one static binary inside every Bulkhead lab container. The roles, the log
//! writer, the HTTP plumbing and the firewall's zone logic live here; `main.rs` only parses
//! the command line.
//!
//! PROTOCOL.md beside this crate is the contract with the driver (the `labs` crate).

pub mod checks;
pub mod config;
pub mod dial;
pub mod http;
pub mod log;
pub mod metrics;
pub mod needs;
pub mod pipe;
pub mod roles;
pub mod zones;
