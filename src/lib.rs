//! Bulkhead, the container-security training range: the command line and the glue between the
//! engine, the labs and the game.

pub mod cli;
