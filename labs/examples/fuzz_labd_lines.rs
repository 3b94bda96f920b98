//! The long fuzz run of the host's reader of labd's log lines (`parse_labd_line`): a million
//! mutated or generated lines (by default) under `catch_unwind`, with inputs, panics and
//! inputs per second. It stops after the count or the time limit. Exits 1 on any panic.
//!
//! `cargo run --release -p bulkhead-labs --example fuzz_labd_lines -- [--inputs N] [--seconds S]`
//!
//! labs/tests/parsers.rs includes this file for its seeds (so `main` is unused there).

#![allow(dead_code)]

#[path = "../../engine/examples/common/mutate.rs"]
pub mod mutate;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use bulkhead_labs::telemetry::parse_labd_line;

/// One line of every event labd logs (labs/agent/PROTOCOL.md).
pub const LINES: &[&str] = &[
    r#"{"ts_ms":1700000000123,"service":"web","event":"login","identity":"alice","source":"198.51.100.23","ok":true,"trace":17}"#,
    r#"{"ts_ms":1700000000200,"service":"gateway","event":"request","identity":"alice","source":"10.20.0.11","endpoint":"/api/orders","status":200,"trace":18}"#,
    r#"{"ts_ms":1700000000300,"service":"datastore","event":"data_access","identity":"bob","source":"10.20.0.12","dataset":"payroll","records":800,"ok":true,"trace":19}"#,
    r#"{"ts_ms":5,"service":"web","event":"credential","identity":"alice","by":"admin","credential":"key-0011aabb","change":"revoked"}"#,
    r#"{"ts_ms":6,"service":"gateway","event":"flow","source":"203.0.113.9","upstream":"web","requests":1200,"denied":3,"errors":1}"#,
    r#"{"ts_ms":5,"service":"attacker","event":"outcome","trace":9,"ok":false,"status":403,"records":0,"detail":"403"}"#,
    r#"{"ts_ms":5,"service":"web","event":"ready","role":"web"}"#,
    r#"{"ts_ms":1700000000250,"service":"tenant-a","event":"metrics","cpu_ns":125000000,"memory_bytes":10485760,"pids":3,"pids_max":64,"throttled_periods":2,"rx_bytes":1024,"tx_bytes":512}"#,
];

fn main() {
    let mut inputs: u64 = 1_000_000;
    let mut seconds = 600;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .and_then(|v| v.replace('_', "").parse::<u64>().ok());
        match (flag.as_str(), value) {
            ("--inputs", Some(v)) => inputs = v,
            ("--seconds", Some(v)) => seconds = v,
            _ => {
                eprintln!("usage: fuzz_labd_lines [--inputs N] [--seconds S]");
                std::process::exit(2);
            }
        }
    }
    std::panic::set_hook(Box::new(|_| {}));
    let seeds: Vec<Vec<u8>> = LINES.iter().map(|l| l.as_bytes().to_vec()).collect();
    let mut rng = mutate::Rng::new(0x109);
    let (mut n, mut understood, mut panics) = (0u64, 0u64, 0u64);
    let started = Instant::now();
    while n < inputs {
        if n.is_multiple_of(1024) && started.elapsed() > Duration::from_secs(seconds) {
            break;
        }
        let input = mutate::input(&seeds, &mut rng);
        // The host reads labd's stdout as text, replacing what is not UTF-8.
        let line = String::from_utf8_lossy(&input);
        n += 1;
        match catch_unwind(AssertUnwindSafe(|| parse_labd_line(&line))) {
            Ok(Some(_)) => understood += 1,
            Ok(None) => {}
            Err(_) => {
                if panics == 0 {
                    eprintln!("parse_labd_line panics on {line:?}");
                }
                panics += 1;
            }
        }
    }
    let rate = n as f64 / started.elapsed().as_secs_f64().max(1e-9);
    println!(
        "{:<22} {n:>9} inputs {understood:>8} accepted {panics:>4} panics {:>4} wrong {rate:>10.0} inputs/s",
        "labd log line", 0
    );
    if panics > 0 {
        std::process::exit(1);
    }
}
