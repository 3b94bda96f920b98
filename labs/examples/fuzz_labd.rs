//! The long fuzz run of labd's request handling: raw requests taken apart into `Req`s and read
//! as the roles read them (headers, query, percent-decoding, JSON bodies into the executor's
//! `Action`), labd's JSON configuration, and whole requests over loopback to labd's own HTTP
//! server. A million inputs (by default) per parser under `catch_unwind`, a line per parser of
//! inputs, panics, wrong answers and inputs per second; it stops after the count or the time
//! limit per parser. Exits 1 if anything failed.
//!
//! `cargo run --release -p bulkhead-labs --example fuzz_labd -- [--inputs N] [--seconds S]`
//!
//! labd's property tests (labs/agent/tests/parsers.rs) include this file for its targets, so
//! the short and the long run feed the same code.

#![allow(dead_code)]

#[path = "../../engine/examples/common/mutate.rs"]
pub mod mutate;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hyper::body::Bytes;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, StatusCode};
use labd::config::{parse_credentials, parse_datasets};
use labd::http::{self, Req, percent_decode, percent_encode, query_param};
use labd::roles::executor::Action;

use mutate::Rng;

/// `POST /act` bodies of every kind, as the driver sends them.
pub const ACTIONS: &[&str] = &[
    r#"{"trace":1,"identity":"alice","password":"alice-pw","source":"198.51.100.23","do":{"kind":"login"}}"#,
    r#"{"trace":2,"identity":"alice","source":"10.20.0.11","do":{"kind":"request","endpoint":"/api/orders?n=5"}}"#,
    r#"{"trace":3,"identity":"bob","password":"bob-pw","do":{"kind":"read_data","dataset":"orders","records":250}}"#,
    r#"{"trace":4,"identity":"root","password":"root-pw","source":"198.51.100.23","do":{"kind":"create_key"}}"#,
    r#"{"trace":5,"source":"203.0.113.9","do":{"kind":"flood","rps":200,"seconds":30,"endpoint":"/public/catalog"}}"#,
    r#"{"do":{"kind":"read_data","dataset":"payroll"},"driver_note":{"step":"exfil"}}"#,
];

/// labd's JSON configuration (LABD_CREDENTIALS, LABD_DATASETS).
pub const CONFIGS: &[&str] = &[
    r#"[{"identity":"alice","password":"alice-pw"},{"identity":"root","password":"r","admin":true}]"#,
    r#"{"orders":5000,"payroll":800,"customers":120000}"#,
];

/// Query strings as the roles receive them.
pub const QUERIES: &[&str] = &[
    "records=250",
    "identity=al%69ce+b&n=5&flag",
    "q=%E2%82%AC%20and%20more&page=2&",
    "source=198.51.100.23&dataset=orders&records=10",
];

/// Raw HTTP/1.1 requests: one per role API, with the headers every role reads.
pub fn requests() -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = ACTIONS
        .iter()
        .map(|body| {
            format!(
                "POST /act HTTP/1.1\r\nHost: attacker:7070\r\nX-Request-Id: 17\r\nX-Bulkhead-Source: 198.51.100.23\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes()
        })
        .collect();
    for q in QUERIES {
        out.push(
            format!(
                "GET /data/orders?{q} HTTP/1.1\r\nHost: datastore:8080\r\nX-Request-Id: 9\r\n\r\n"
            )
            .into_bytes(),
        );
    }
    out.push(b"GET /healthz HTTP/1.1\r\nHost: web\r\n\r\n".to_vec());
    out.push(
        b"POST /login HTTP/1.1\r\nHost: web\r\nX-Bulkhead-Source: 10.20.0.11\r\nContent-Length: 43\r\n\r\n{\"identity\":\"alice\",\"password\":\"alice-pw\"}"
            .to_vec(),
    );
    // The admin API's bodies the range's audit and fix send.
    for (path, body) in [
        (
            "/admin/password-audit",
            r#"{"candidates":["admin","changeme"]}"#,
        ),
        (
            "/admin/rotate",
            r#"{"identity":"shopadmin","password":"a-generated-password"}"#,
        ),
    ] {
        out.push(
            format!(
                "POST {path} HTTP/1.1\r\nHost: web:8080\r\nAuthorization: Bearer 00ff\r\nX-Bulkhead-Source: console\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes(),
        );
    }
    out
}

fn as_bytes(items: &[&str]) -> Vec<Vec<u8>> {
    items.iter().map(|s| s.as_bytes().to_vec()).collect()
}

pub fn action_seeds() -> Vec<Vec<u8>> {
    as_bytes(ACTIONS)
}

pub fn config_seeds() -> Vec<Vec<u8>> {
    as_bytes(CONFIGS)
}

pub fn query_seeds() -> Vec<Vec<u8>> {
    as_bytes(QUERIES)
}

/// A request of arbitrary bytes taken apart as leniently as possible, so that the roles'
/// readers see every kind of method, path, query, header value and body.
pub fn req_of(raw: &[u8]) -> Req {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or((raw, &b""[..]), |i| (&raw[..i], &raw[i + 4..]));
    let (head, body) = split;
    let head = String::from_utf8_lossy(head);
    let mut lines = head.split("\r\n");
    let first = lines.next().unwrap_or_default();
    let mut words = first.split(' ');
    let method =
        Method::from_bytes(words.next().unwrap_or_default().as_bytes()).unwrap_or(Method::GET);
    let target = words.next().unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut headers = HeaderMap::new();
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.trim().as_bytes()),
            HeaderValue::from_bytes(value.trim().as_bytes()),
        ) {
            headers.append(n, v);
        }
    }
    Req {
        method,
        path: path.to_owned(),
        query: query.to_owned(),
        headers,
        body: Bytes::copy_from_slice(body),
        peer: SocketAddr::from(([10, 20, 0, 5], 40000)),
    }
}

/// What the roles read of a request: ids, source, query parameters, the JSON body.
pub fn read_request(req: &Req) -> Result<bool, String> {
    let _ = req.trace();
    if req.source().is_empty() {
        return Err("an empty source".into());
    }
    let pq = req.path_and_query();
    if !pq.starts_with(&req.path) {
        return Err(format!(
            "path_and_query {pq:?} lost the path {:?}",
            req.path
        ));
    }
    for name in ["n", "records", "identity", "dataset", "source", "page"] {
        let _ = req.query_param(name);
    }
    for pair in req.query.split('&').take(8) {
        let key = pair.split_once('=').map_or(pair, |(k, _)| k);
        let _ = req.query_param(&percent_decode(key));
    }
    let _ = http::header_str(&req.headers, http::REQUEST_ID);
    let _ = req.json::<serde_json::Value>();
    Ok(req.json::<Action>().is_ok())
}

/// Raw bytes as a request, read as the roles read it.
pub fn request(raw: &[u8]) -> Result<bool, String> {
    read_request(&req_of(raw))
}

/// A `POST /act` body: parsed into an `Action` as the executor does (a bad body is a 400
/// carrying the parser's message).
pub fn action(body: &[u8]) -> Result<bool, String> {
    let req = Req {
        method: Method::POST,
        path: "/act".into(),
        query: String::new(),
        headers: HeaderMap::new(),
        body: Bytes::copy_from_slice(body),
        peer: SocketAddr::from(([10, 20, 0, 5], 40000)),
    };
    match req.json::<Action>() {
        Ok(a) => {
            // What the executor does next with an accepted action's fields.
            if let Some(s) = &a.source {
                let _ = HeaderValue::from_str(s);
            }
            Ok(true)
        }
        Err(bad) => {
            if bad.0.is_empty() {
                return Err("a rejection without a reason".into());
            }
            let resp = bad.into_response();
            if resp.status() != StatusCode::BAD_REQUEST {
                return Err(format!("a bad body answered {}", resp.status()));
            }
            Ok(false)
        }
    }
}

/// labd's JSON configuration values.
pub fn config(text: &[u8]) -> Result<bool, String> {
    let text = String::from_utf8_lossy(text);
    let a = parse_credentials(&text).is_ok();
    let b = parse_datasets(&text).is_ok();
    Ok(a || b)
}

/// Percent-decoding and query parameters: decoding undoes encoding, and text without `%` or
/// `+` decodes to itself.
pub fn percent(raw: &[u8]) -> Result<bool, String> {
    let text = String::from_utf8_lossy(raw);
    let decoded = percent_decode(&text);
    if !text.contains(['%', '+']) && decoded != text {
        return Err(format!("{text:?} decoded to {decoded:?}"));
    }
    let round = percent_decode(&percent_encode(&text));
    if round != text {
        return Err(format!("{text:?} encoded and decoded to {round:?}"));
    }
    for pair in text.split('&').take(8) {
        let key = pair.split_once('=').map_or(pair, |(k, _)| k);
        if query_param(&text, &percent_decode(key)).is_none() {
            return Err(format!("query {text:?} lost its key {key:?}"));
        }
    }
    Ok(true)
}

/// Panics anywhere in the process, server tasks included (counted by the hook `Wire` installs).
pub static PANICS: AtomicU64 = AtomicU64::new(0);
/// Connections made so far, to spread them over loopback source addresses.
static CONNECTIONS: AtomicU64 = AtomicU64::new(0);

/// labd's own HTTP server on loopback, with a handler that reads every request as the roles do;
/// inputs go over TCP, so hyper's request parsing is exercised too.
pub struct Wire {
    rt: tokio::runtime::Runtime,
    addr: SocketAddr,
}

impl Wire {
    /// `quiet`: count panics without printing them (the long run reports the count).
    pub fn start(quiet: bool) -> Wire {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::Relaxed);
            if !quiet {
                previous(info);
            }
        }));
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let addr = rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(http::serve(listener, |req: Req| async move {
                match read_request(&req) {
                    Ok(true) => http::json(StatusCode::ACCEPTED, &serde_json::json!({})),
                    Ok(false) => http::error(StatusCode::BAD_REQUEST, "no"),
                    Err(why) => http::error(StatusCode::INTERNAL_SERVER_ERROR, &why),
                }
            }));
            addr
        });
        Wire { rt, addr }
    }

    /// Send raw bytes as one connection; a server that answers 500 read the request wrong.
    pub fn send(&self, raw: &[u8]) -> Result<bool, String> {
        // A million connections from one port range would run out of ports in TIME_WAIT: each
        // comes from its own loopback address and closes with a reset (linger 0).
        let n = CONNECTIONS.fetch_add(1, Ordering::Relaxed);
        let from = SocketAddr::from(([127, 1 + (n >> 16) as u8 % 200, (n >> 8) as u8, n as u8], 0));
        let std_stream = self.rt.block_on(async {
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.set_zero_linger()?;
            socket.bind(from)?;
            socket.connect(self.addr).await?.into_std()
        });
        let mut s = std_stream.map_err(|e| format!("connect: {e}"))?;
        s.set_nonblocking(false).map_err(|e| e.to_string())?;
        // hyper drops a connection whose client half-closes before the answer, so a request
        // that looks complete is left open until its answer is in; any other input is
        // half-closed at once, which hyper answers with 400 or a close.
        let complete = looks_complete(raw);
        s.set_read_timeout(Some(Duration::from_millis(if complete {
            300
        } else {
            5000
        })))
        .ok();
        let _ = s.write_all(raw);
        if !complete {
            let _ = s.shutdown(std::net::Shutdown::Write);
        }
        let mut answer = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            match s.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => {
                    answer.extend_from_slice(&chunk[..n]);
                    if answer_complete(&answer) {
                        break;
                    }
                }
                Err(_) if complete && answer.is_empty() => {
                    // hyper read it differently (chunked, pipelined...): end it like the rest.
                    let _ = s.shutdown(std::net::Shutdown::Write);
                    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
                    let _ = s.read_to_end(&mut answer);
                    break;
                }
                Err(_) => break,
            }
        }
        if answer.starts_with(b"HTTP/1.1 500") {
            return Err(format!(
                "the handler found a wrong answer: {}",
                String::from_utf8_lossy(&answer)
            ));
        }
        Ok(answer.starts_with(b"HTTP/1.1 202"))
    }

    pub fn runtime(&self) -> &tokio::runtime::Runtime {
        &self.rt
    }
}

/// The value of a `Content-Length` header in an HTTP head, when there is one.
fn content_length(head: &[u8]) -> Option<usize> {
    String::from_utf8_lossy(head).split("\r\n").find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse().ok())
            .flatten()
    })
}

/// A request with a whole head and exactly the body its `Content-Length` announces.
fn looks_complete(raw: &[u8]) -> bool {
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = &raw[..end];
    let chunked = String::from_utf8_lossy(head)
        .to_ascii_lowercase()
        .contains("transfer-encoding");
    !chunked && content_length(head).unwrap_or(0) == raw.len() - end - 4
}

/// An answer's head is in, and all of the body its `Content-Length` announces.
fn answer_complete(answer: &[u8]) -> bool {
    answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .is_some_and(|end| answer.len() >= end + 4 + content_length(&answer[..end]).unwrap_or(0))
}

struct Tally {
    inputs: u64,
    accepted: u64,
    panics: u64,
    wrong: u64,
    elapsed: Duration,
}

fn run(
    name: &str,
    inputs: u64,
    seconds: u64,
    seeds: &[Vec<u8>],
    parser: impl Fn(&[u8]) -> Result<bool, String>,
) -> Tally {
    let mut rng = Rng::new(0x1abd ^ name.len() as u64);
    let mut t = Tally {
        inputs: 0,
        accepted: 0,
        panics: 0,
        wrong: 0,
        elapsed: Duration::ZERO,
    };
    let before = PANICS.load(Ordering::Relaxed);
    let started = Instant::now();
    while t.inputs < inputs {
        if t.inputs.is_multiple_of(256) && started.elapsed() > Duration::from_secs(seconds) {
            break;
        }
        let input = mutate::input(seeds, &mut rng);
        t.inputs += 1;
        match catch_unwind(AssertUnwindSafe(|| parser(&input))) {
            Ok(Ok(true)) => t.accepted += 1,
            Ok(Ok(false)) => {}
            Ok(Err(why)) => {
                t.wrong += 1;
                if t.wrong == 1 {
                    eprintln!(
                        "{name}: wrong answer: {why}\n  input: {:?}",
                        String::from_utf8_lossy(&input)
                    );
                }
            }
            Err(_) => {
                if t.panics == 0 {
                    eprintln!("{name}: panic on {:?}", String::from_utf8_lossy(&input));
                }
                t.panics += 1;
            }
        }
    }
    t.elapsed = started.elapsed();
    // Panics of server tasks are not seen by catch_unwind: the hook counted them.
    t.panics = t.panics.max(PANICS.load(Ordering::Relaxed) - before);
    t
}

fn main() {
    let mut inputs = 1_000_000;
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
                eprintln!("usage: fuzz_labd [--inputs N] [--seconds S]");
                std::process::exit(2);
            }
        }
    }
    let wire = Wire::start(true);
    let mut failed = false;
    let mut report = |name: &str, t: Tally| {
        println!(
            "{name:<22} {:>9} inputs {:>8} accepted {:>4} panics {:>4} wrong {:>10.0} inputs/s",
            t.inputs,
            t.accepted,
            t.panics,
            t.wrong,
            t.inputs as f64 / t.elapsed.as_secs_f64().max(1e-9)
        );
        failed |= t.panics > 0 || t.wrong > 0;
    };
    let reqs = requests();
    report(
        "labd request",
        run("request", inputs, seconds, &reqs, request),
    );
    report(
        "labd action json",
        run("action", inputs, seconds, &action_seeds(), action),
    );
    report(
        "labd percent/query",
        run("percent", inputs, seconds, &query_seeds(), percent),
    );
    report(
        "labd config json",
        run("config", inputs, seconds, &config_seeds(), config),
    );
    report(
        "labd http (loopback)",
        run("wire", inputs, seconds, &reqs, |raw| wire.send(raw)),
    );
    if failed {
        eprintln!("FAILED");
        std::process::exit(1);
    }
}
