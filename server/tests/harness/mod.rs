//! The servers the integration tests run: a real server on a free loopback port with
//! simulated-lab seats and its own runtime (the test thread is the client), and the small
//! helpers every test of it needs.

#![allow(dead_code)] // Each test file uses its own part.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bulkhead_engine::{Backend, Loaded, SimLab};
use bulkhead_host::remote::{self, ConnectError};
use bulkhead_host::{
    ClientMsg, Connection, ErrorKind, LabFactory, Pace, Records, SeatConfig, ServerMsg,
};
use bulkhead_server::{Running, ServerConfig};

/// The seed of every seat (the variant each plays).
pub const SEED: u64 = 11;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn load(id: &str) -> Loaded {
    bulkhead_engine::format::resolve_scenario(&root(), id).unwrap()
}

/// Where the login of `inject` comes from in the variant of `seed` (each seed draws its own).
pub fn inject_source(scenario: &str, inject: &str, seed: u64) -> String {
    let variant = load(scenario).variant(seed).unwrap();
    let inject = variant.scenario.injects.iter().find(|i| i.id == inject);
    let mut steps = inject.unwrap().attack.iter().map(|s| &s.action);
    steps
        .find_map(|a| match a {
            bulkhead_engine::Action::Login { source, .. } => Some(source.clone()),
            _ => None,
        })
        .expect("the inject logs in")
}

pub fn sim_lab() -> LabFactory {
    Arc::new(|loaded: &Loaded, seed| {
        Ok(Box::new(SimLab::new(loaded.topology.clone(), &loaded.scenario, seed)) as _)
    })
}

/// A server on a free loopback port, with its own runtime; the test thread is the client.
pub struct Server {
    pub runtime: tokio::runtime::Runtime,
    pub running: Option<Running>,
    pub records: tempfile::TempDir,
}

impl Server {
    pub fn start(seats: u32, time_scale: f64, joins_per_minute: u32) -> Server {
        let records = tempfile::tempdir().unwrap();
        let catalogue = Arc::new(vec![
            load("stolen-credentials"),
            load("insider-access"),
            load("lateral-movement"),
        ]);
        let seats = (1..=seats)
            .map(|seat| SeatConfig {
                seat,
                workshop: "test workshop".into(),
                backend: Backend::Sim,
                catalogue: catalogue.clone(),
                make_lab: sim_lab(),
                seed: Some(SEED),
                time_scale,
                stop_at: None,
                publish_every: Duration::from_millis(20),
                records: Records::Dir(records.path().to_path_buf()),
                idle_timeout: None,
            })
            .collect();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let running = runtime
            .block_on(bulkhead_server::start(ServerConfig {
                listen: "127.0.0.1:0".parse().unwrap(),
                workshop: "test workshop".into(),
                seats,
                joins_per_minute: NonZeroU32::new(joins_per_minute).unwrap(),
                nodes: None,
            }))
            .unwrap();
        Server {
            runtime,
            running: Some(running),
            records,
        }
    }

    pub fn running(&self) -> &Running {
        self.running.as_ref().unwrap()
    }

    pub fn addr(&self) -> SocketAddr {
        self.running().addr
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    pub fn code(&self, seat: u32) -> String {
        let codes = self.running().codes();
        codes.into_iter().find(|(s, _)| *s == seat).unwrap().1
    }

    pub fn join(&self, seat: u32, name: &str) -> Connection {
        remote::connect(&self.url(), &self.code(seat), name).unwrap()
    }

    /// GET or POST a route; returns the status and the JSON body.
    pub fn http(&self, method: &str, path: &str, token: Option<&str>) -> (u16, serde_json::Value) {
        let url = format!("{}{path}", self.url());
        self.runtime.block_on(async {
            let client = reqwest::Client::new();
            let mut request = match method {
                "POST" => client.post(&url),
                _ => client.get(&url),
            };
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json().await.unwrap_or_default())
        })
    }

    pub fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            self.runtime.block_on(running.stop());
        }
    }

    pub fn records(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.records.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        files
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn refusal(result: Result<Connection, ConnectError>) -> ErrorKind {
    match result {
        Err(ConnectError::Refused { kind, .. }) => kind,
        Err(e) => panic!("refused without a protocol error: {e}"),
        Ok(_) => panic!("the join was accepted"),
    }
}

pub fn next(conn: &Connection) -> ServerMsg {
    conn.recv_timeout(Duration::from_secs(10))
        .unwrap()
        .expect("the server said nothing for 10 s")
}

pub fn wait_for(conn: &Connection, what: &str, f: impl Fn(&ServerMsg) -> bool) -> ServerMsg {
    for _ in 0..100_000 {
        let msg = next(conn);
        if f(&msg) {
            return msg;
        }
    }
    panic!("no {what}");
}

/// Open stolen-credentials on the clock, begin it, and wait for a view at or past `past_ms`;
/// returns that view's session time.
pub fn begin_clocked(conn: &Connection, past_ms: u64) -> u64 {
    conn.send(ClientMsg::Open {
        scenario: "stolen-credentials".into(),
        pace: Pace::Clocked,
    })
    .unwrap();
    wait_for(conn, "lab", |m| matches!(m, ServerMsg::LabReady { .. }));
    conn.send(ClientMsg::Begin).unwrap();
    match wait_for(
        conn,
        "a view far enough",
        |m| matches!(m, ServerMsg::View(v) if v.now_ms >= past_ms),
    ) {
        ServerMsg::View(v) => v.now_ms,
        _ => unreachable!(),
    }
}

/// An HTTP answer: status, headers and body text.
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    }
}

/// A request as a browser or a script would send it: any headers, an optional form body, and
/// redirects not followed (the tests look at them).
pub fn request(
    server: &Server,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    form: Option<&str>,
) -> Answer {
    let url = format!("{}{path}", server.url());
    server.runtime.block_on(async {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let mut request = match method {
            "POST" => client.post(&url),
            _ => client.get(&url),
        };
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = form {
            request = request
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        // A stream never ends: read only what arrives within a moment.
        let body = if headers.get("content-type").is_some_and(|v| {
            v.to_str()
                .unwrap_or_default()
                .starts_with("text/event-stream")
        }) {
            first_chunk(response).await
        } else {
            response.text().await.unwrap_or_default()
        };
        Answer {
            status,
            headers,
            body,
        }
    })
}

async fn first_chunk(mut response: reqwest::Response) -> String {
    match tokio::time::timeout(Duration::from_secs(5), response.chunk()).await {
        Ok(Ok(Some(bytes))) => String::from_utf8_lossy(&bytes).into_owned(),
        _ => String::new(),
    }
}

/// The value of the first `name="form"` field of a page: its anti-forgery value.
pub fn form_secret(page: &str) -> String {
    let at = page
        .find("name=\"form\" value=\"")
        .expect("the page has a form");
    let rest = &page[at + "name=\"form\" value=\"".len()..];
    rest[..rest.find('"').unwrap()].to_string()
}

/// The mentor key in the facilitator's page for `seat`.
pub fn mentor_key(console: &str, seat: u32) -> String {
    let marker = format!("/mentor/{seat}?key=");
    let at = console
        .find(&marker)
        .expect("the console links the mentor page");
    let rest = &console[at + marker.len()..];
    rest[..rest.find('"').unwrap()].to_string()
}
