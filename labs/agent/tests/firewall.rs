//! In-process tests of zones over loopback: a firewall between zone `tenants` (127.0.0.1) and
//! zone `data` (127.0.0.2), a datastore in `data`, and pivots from an attacker in `tenants`.
//! All of 127.0.0.0/8 is loopback on Linux, so a client bound to 127.0.0.9 is a peer in no
//! zone, and a target on 127.0.0.5 is outside the lab (an exfiltration's destination). Every
//! log line is captured in memory.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use labd::config;
use labd::dial;
use labd::http::{self, Body, Client, Req};
use labd::log::{Log, MemorySink};
use labd::roles::{Listeners, Role, datastore, executor, firewall, gateway, pivot};
use labd::zones::Policy;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpSocket};

const TENANTS: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
const DATA: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
const NOWHERE: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 9));
/// In none of the firewall's zones: where exfiltration attempts send their bytes.
const OUTSIDE: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 5));

struct Range {
    sink: Arc<MemorySink>,
    /// The firewall's relay and control ports (it listens on 127.0.0.1, in `tenants`).
    firewall: SocketAddr,
    firewall_control: SocketAddr,
    /// The datastore's service port, in `data`.
    store: SocketAddr,
    store_control: SocketAddr,
    /// The attacker's control port, in `tenants`: where pivots are asked for.
    attacker: SocketAddr,
    client: Client,
}

/// What came back from a request, with whether the firewall marked it as its own.
#[derive(Debug)]
struct Reply {
    status: u16,
    body: Value,
    text: String,
    from_firewall: bool,
}

async fn range() -> Range {
    let sink = MemorySink::new();
    let log = |service: &str| Log::new(service, sink.clone());

    let ds = Listeners::ephemeral(DATA).await.unwrap();
    let (store, store_control) = (ds.service_addr(), ds.control_addr());
    let datasets = BTreeMap::from([("customers".to_owned(), 100)]);
    tokio::spawn(datastore::run(
        datastore::DatastoreConfig { datasets },
        log("data-store"),
        ds,
    ));

    let fw = Listeners::ephemeral(TENANTS).await.unwrap();
    let (firewall, firewall_control) = (fw.service_addr(), fw.control_addr());
    let zones = config::parse_zones(r#"{"tenants": "127.0.0.1/32", "data": "127.0.0.2/32"}"#);
    let routes =
        config::parse_routes(r#"[{"from": "tenants", "to": "data", "endpoints": ["/records"]}]"#);
    let policy = Policy::new(zones.unwrap(), routes.unwrap()).unwrap();
    tokio::spawn(firewall::run(
        firewall::FirewallConfig { policy },
        log("fw"),
        fw,
    ));

    let a = Listeners::ephemeral(TENANTS).await.unwrap();
    let attacker = a.control_addr();
    tokio::spawn(executor::run(
        Role::Attacker,
        executor::ExecutorConfig {
            gateway: firewall.to_string(),
            timeout: Duration::from_secs(2),
            max_in_flight: 8,
        },
        log("tenant-a"),
        a,
    ));

    let range = Range {
        sink,
        firewall,
        firewall_control,
        store,
        store_control,
        attacker,
        client: Client::new(Duration::from_secs(5)),
    };
    range
        .wait_for("all roles ready", |r| r.sink.events("ready").len() == 3)
        .await;
    range
}

impl Range {
    /// A relay request to the firewall from a client bound to `from`.
    async fn relay(&self, from: IpAddr, to: &str, path: &str, trace: u64) -> Reply {
        self.relay_body(from, to, path, trace, Bytes::new()).await
    }

    /// A relay request carrying `body` (a `POST` when there is one, else a `GET`).
    async fn relay_body(
        &self,
        from: IpAddr,
        to: &str,
        path: &str,
        trace: u64,
        body: Bytes,
    ) -> Reply {
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::new(from, 0)).unwrap();
        let stream = socket.connect(self.firewall).await.unwrap();
        let method = if body.is_empty() {
            Method::GET
        } else {
            Method::POST
        };
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.firewall.to_string())
            .header("x-bulkhead-to", to)
            .header("x-request-id", trace.to_string())
            .body(Body::new(body))
            .unwrap();
        let answer = dial::exchange(stream, req).await.unwrap();
        Reply {
            status: answer.status.as_u16(),
            body: serde_json::from_slice(&answer.body).unwrap_or(Value::Null),
            text: String::from_utf8_lossy(&answer.body).into_owned(),
            from_firewall: answer.headers.contains_key("x-bulkhead-firewall"),
        }
    }

    async fn call(&self, method: Method, to: SocketAddr, path: &str, body: Option<Value>) -> Reply {
        let body = body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string()));
        let headers = [("x-request-id", "7".to_owned())];
        let a = self
            .client
            .call(method, &to.to_string(), path, &headers, body)
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        Reply {
            status: a.status.as_u16(),
            body: serde_json::from_slice(&a.body).unwrap_or(Value::Null),
            text: String::from_utf8_lossy(&a.body).into_owned(),
            from_firewall: a.headers.contains_key("x-bulkhead-firewall"),
        }
    }

    /// `POST /pivot` on the attacker's control API; the report.
    async fn pivot(&self, body: Value) -> Value {
        let reply = self
            .call(Method::POST, self.attacker, "/pivot", Some(body))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        reply.body
    }

    /// The one `crossing` line with this trace.
    fn crossing(&self, trace: u64) -> Value {
        let lines: Vec<Value> = self
            .sink
            .events("crossing")
            .into_iter()
            .filter(|v| v["trace"] == trace)
            .collect();
        assert_eq!(
            lines.len(),
            1,
            "one crossing line for trace {trace}: {lines:#?}"
        );
        lines[0].clone()
    }

    fn queries(&self, trace: u64) -> usize {
        self.sink
            .events("query")
            .iter()
            .filter(|v| v["trace"] == trace)
            .count()
    }

    /// Polls `done` for up to 10 s; lines are written by background tasks.
    async fn wait_for(&self, what: &str, done: impl Fn(&Range) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done(self) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; lines: {:#?}",
                self.sink.values()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A port on `ip` that was free a moment ago: nothing answers there.
fn closed_port(ip: IpAddr) -> SocketAddr {
    std::net::TcpListener::bind(SocketAddr::new(ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
}

/// What a [`RecordingTarget`] saw of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Received {
    method: Method,
    content_length: Option<String>,
    /// The length of the body actually read.
    body: usize,
    trace: Option<u64>,
}

/// A service that answers every request `200` and keeps what it received, to check what a
/// pivot delivered.
struct RecordingTarget {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
}

impl RecordingTarget {
    async fn start(ip: IpAddr) -> Self {
        let listener = TcpListener::bind(SocketAddr::new(ip, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let record = received.clone();
        tokio::spawn(http::serve(listener, move |req: Req| {
            record.lock().unwrap().push(Received {
                method: req.method.clone(),
                content_length: http::header_str(&req.headers, "content-length").map(Into::into),
                body: req.body.len(),
                trace: req.trace(),
            });
            async { http::text(StatusCode::OK, "stored") }
        }));
        Self { addr, received }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

/// Whether anything connected to `listener` (which accepts nothing on its own): a connection
/// made before now is already waiting in the backlog, so a short wait is enough.
async fn was_connected_to(listener: &TcpListener) -> bool {
    tokio::time::timeout(Duration::from_millis(200), listener.accept())
        .await
        .is_ok()
}

fn fields(line: &Value, names: &[&str]) -> Value {
    names
        .iter()
        .map(|n| ((*n).to_owned(), line[*n].clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allowed_crossing_is_relayed_and_logged_with_its_zones() {
    let r = range().await;
    let to = r.store.to_string();
    let reply = r.relay(TENANTS, &to, "/records/customers?n=3", 31).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.text.lines().count(), 3, "{}", reply.text);
    assert!(
        !reply.from_firewall,
        "the target's answer is not the firewall's own"
    );
    assert_eq!(
        r.queries(31),
        1,
        "the trace follows the request to the target"
    );
    let line = r.crossing(31);
    assert_eq!(
        fields(
            &line,
            &[
                "service",
                "peer",
                "from_zone",
                "to",
                "to_zone",
                "endpoint",
                "bytes",
                "allowed",
                "reason",
                "status"
            ]
        ),
        json!({
            "service": "fw", "peer": "127.0.0.1", "from_zone": "tenants", "to": "127.0.0.2",
            "to_zone": "data", "endpoint": "/records/customers", "bytes": 0, "allowed": true,
            "reason": null, "status": 200,
        })
    );
    // A name resolves like an address; `localhost` is 127.0.0.1, in the peer's own zone.
    let port = r.firewall_control.port();
    let same = r
        .relay(TENANTS, &format!("localhost:{port}"), "/healthz", 32)
        .await;
    assert_eq!(
        (same.status, &same.body["reason"]),
        (400, &json!("same_zone"))
    );
    assert!(same.from_firewall);
    let line = r.crossing(32);
    assert_eq!(
        (&line["to"], &line["to_zone"]),
        (&json!("localhost"), &json!("tenants"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_path_outside_the_routes_endpoints_has_no_route() {
    let r = range().await;
    let to = r.store.to_string();
    for (trace, path) in [
        (41, "/admin"),
        (42, "/recordsets"),
        (43, "/records/../admin"),
    ] {
        let reply = r.relay(TENANTS, &to, path, trace).await;
        assert_eq!(reply.status, 403, "{path}: {}", reply.text);
        assert_eq!(reply.body["reason"], "no_route", "{path}");
        assert!(reply.from_firewall);
        let line = r.crossing(trace);
        assert_eq!(
            fields(
                &line,
                &["from_zone", "to_zone", "allowed", "reason", "status"]
            ),
            json!({
                "from_zone": "tenants", "to_zone": "data", "allowed": false,
                "reason": "no_route", "status": 403,
            })
        );
        assert_eq!(r.queries(trace), 0, "{path} never reached the target");
    }
    // Routes are directional: data may not open connections into tenants.
    let back = r
        .relay(DATA, &r.firewall_control.to_string(), "/healthz", 44)
        .await;
    assert_eq!(
        (back.status, &back.body["reason"]),
        (403, &json!("no_route"))
    );
    assert_eq!(r.crossing(44)["from_zone"], "data");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_segment_refuses_the_crossing_until_it_is_removed() {
    let r = range().await;
    let to = r.store.to_string();
    let segment = json!({ "from": "tenants", "to": "data" });
    let add = r
        .call(
            Method::POST,
            r.firewall_control,
            "/segments",
            Some(segment.clone()),
        )
        .await;
    assert_eq!(add.status, 200, "{}", add.text);
    assert_eq!(add.body["segmented"], true);
    let again = r
        .call(
            Method::POST,
            r.firewall_control,
            "/segments",
            Some(segment.clone()),
        )
        .await;
    assert_eq!(
        (again.status, &again.body["error"]),
        (409, &json!("already segmented"))
    );
    let listed = r
        .call(Method::GET, r.firewall_control, "/segments", None)
        .await;
    assert_eq!(
        listed.body,
        json!([segment]),
        "directional: data → tenants is not segmented"
    );

    let refused = r.relay(TENANTS, &to, "/records/customers", 51).await;
    assert_eq!(
        (refused.status, &refused.body["reason"]),
        (403, &json!("segmented"))
    );
    // A segment wins over the missing route too.
    let both = r.relay(TENANTS, &to, "/admin", 52).await;
    assert_eq!(both.body["reason"], "segmented");
    assert_eq!(r.crossing(51)["reason"], "segmented");
    assert_eq!(r.queries(51), 0);

    let del = r
        .call(
            Method::DELETE,
            r.firewall_control,
            "/segments/tenants/data",
            None,
        )
        .await;
    assert_eq!((del.status, &del.body["segmented"]), (200, &json!(false)));
    let passes = r.relay(TENANTS, &to, "/records/customers", 53).await;
    assert_eq!(passes.status, 200, "{}", passes.text);
    assert_eq!(r.crossing(53)["allowed"], true);
    let gone = r
        .call(
            Method::DELETE,
            r.firewall_control,
            "/segments/tenants/data",
            None,
        )
        .await;
    assert_eq!(gone.status, 404);

    let changes: Vec<Value> = r
        .sink
        .events("segment")
        .iter()
        .map(|l| fields(l, &["service", "trace", "from", "to", "change"]))
        .collect();
    let line = |change: &str| json!({ "service": "fw", "trace": 7, "from": "tenants", "to": "data", "change": change });
    assert_eq!(
        changes,
        [line("added"), line("removed")],
        "one line per change, none for 409/404"
    );

    for bad in [
        json!({ "from": "tenants", "to": "mars" }),
        json!({ "from": "data", "to": "data" }),
        json!({ "from": "data" }),
    ] {
        let reply = r
            .call(
                Method::POST,
                r.firewall_control,
                "/segments",
                Some(bad.clone()),
            )
            .await;
        assert_eq!(reply.status, 400, "{bad}: {}", reply.text);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_targets_and_peers_in_no_zone_are_refused() {
    let r = range().await;
    let outside = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 5)), r.store.port());
    for (trace, to, hop) in [
        (61, outside.to_string(), "127.0.0.5"),
        (
            62,
            "nonexistent.invalid:8080".to_owned(),
            "nonexistent.invalid",
        ),
    ] {
        let reply = r.relay(TENANTS, &to, "/records/customers", trace).await;
        assert_eq!(reply.status, 502, "{to}: {}", reply.text);
        assert_eq!(
            (&reply.body["reason"], &reply.body["hop"]),
            (&json!("unreachable"), &json!(hop))
        );
        let line = r.crossing(trace);
        assert_eq!(
            fields(
                &line,
                &["from_zone", "to", "to_zone", "allowed", "reason", "status"]
            ),
            json!({
                "from_zone": "tenants", "to": hop, "to_zone": null, "allowed": false,
                "reason": "unreachable", "status": 502,
            })
        );
    }

    let stranger = r
        .relay(NOWHERE, &r.store.to_string(), "/records/customers", 63)
        .await;
    assert_eq!(
        (stranger.status, &stranger.body["reason"]),
        (403, &json!("unknown_zone"))
    );
    let line = r.crossing(63);
    assert_eq!(
        fields(&line, &["peer", "from_zone", "allowed", "reason"]),
        json!({
            "peer": "127.0.0.9", "from_zone": null, "allowed": false, "reason": "unknown_zone",
        })
    );
    assert_eq!(r.queries(63), 0);

    // No X-Bulkhead-To: no connection to judge, nothing logged.
    let before = r.sink.events("crossing").len();
    assert_eq!(
        r.call(Method::GET, r.firewall, "/records/customers", None)
            .await
            .status,
        400
    );
    assert_eq!(
        r.call(Method::GET, r.firewall, "/healthz", None)
            .await
            .status,
        200
    );
    assert_eq!(r.sink.events("crossing").len(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allowed_crossing_whose_target_fails_is_a_502_that_stays_allowed() {
    let r = range().await;
    let closed = closed_port(DATA);
    let reply = r
        .relay(TENANTS, &closed.to_string(), "/records/customers", 71)
        .await;
    assert_eq!(
        (reply.status, &reply.body["reason"]),
        (502, &json!("unreachable"))
    );
    let line = r.crossing(71);
    assert_eq!(
        (&line["allowed"], &line["reason"], &line["to_zone"]),
        (&json!(true), &json!("unreachable"), &json!("data"))
    );

    // A target that takes the connection and never answers.
    let silent = TcpListener::bind(SocketAddr::new(DATA, 0)).await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    let asked = Instant::now();
    let reply = r
        .relay(TENANTS, &silent_addr.to_string(), "/records/customers", 72)
        .await;
    assert_eq!(
        (reply.status, &reply.body["reason"]),
        (502, &json!("timeout"))
    );
    // 1.5 s by design; the upper bound is loose because CI machines are busy.
    let waited = asked.elapsed();
    assert!(
        waited >= Duration::from_millis(1400) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    assert_eq!(r.crossing(72)["reason"], "timeout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_pivot_reports_what_the_network_did() {
    let r = range().await;
    let store = r.store.to_string();
    let ok = r
        .pivot(json!({ "to": store, "path": "/records/customers?n=2", "via": null, "trace": 81 }))
        .await;
    assert_eq!(
        fields(&ok, &["ok", "status", "cause", "via"]),
        json!({ "ok": true, "status": 200, "cause": null, "via": "direct" })
    );
    assert_eq!(r.queries(81), 1, "the target saw the pivot, with its trace");
    // Any answer of the target is a success of the pivot, even a 404.
    let missing = r
        .pivot(json!({ "to": store, "path": "/records/nope" }))
        .await;
    assert_eq!(
        (&missing["ok"], &missing["status"]),
        (&json!(true), &json!(404))
    );

    let closed = closed_port(DATA).to_string();
    let refused = r.pivot(json!({ "to": closed, "path": "/" })).await;
    assert_eq!(
        fields(&refused, &["ok", "status", "cause", "via"]),
        json!({ "ok": false, "status": 0, "cause": "refused", "via": "direct" })
    );
    let unresolved = r
        .pivot(json!({ "to": "nonexistent.invalid:8080", "path": "/" }))
        .await;
    assert_eq!(
        fields(&unresolved, &["ok", "status", "cause"]),
        json!({ "ok": false, "status": 0, "cause": "unresolved" })
    );
    assert!(
        unresolved["detail"]
            .as_str()
            .unwrap()
            .contains("nonexistent.invalid"),
        "{unresolved}"
    );
    assert!(
        r.sink.events("crossing").is_empty(),
        "direct pivots never meet the firewall"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pivot_through_the_firewall_is_judged_by_it() {
    let r = range().await;
    let (store, fw) = (r.store.to_string(), r.firewall.to_string());
    let ok = r
        .pivot(json!({ "to": store, "path": "/records/customers", "via": fw, "trace": 91 }))
        .await;
    assert_eq!(
        fields(&ok, &["ok", "status", "cause", "via"]),
        json!({ "ok": true, "status": 200, "cause": null, "via": "firewall" })
    );
    let line = r.crossing(91);
    assert_eq!(
        fields(&line, &["source", "from_zone", "to_zone", "allowed"]),
        json!({ "source": "tenant-a", "from_zone": "tenants", "to_zone": "data", "allowed": true }),
        "the pivot says which service it comes from"
    );
    assert_eq!(r.queries(91), 1);

    let denied = r
        .pivot(json!({ "to": store, "path": "/admin", "via": fw, "trace": 92 }))
        .await;
    assert_eq!(
        fields(&denied, &["ok", "status", "cause", "via"]),
        json!({ "ok": false, "status": 403, "cause": "no_route", "via": "firewall" })
    );
    assert!(
        denied["detail"].as_str().unwrap().contains("no route"),
        "{denied}"
    );
    assert_eq!(r.crossing(92)["reason"], "no_route");

    let closed = closed_port(DATA).to_string();
    let dead = r
        .pivot(json!({ "to": closed, "path": "/records/x", "via": fw }))
        .await;
    assert_eq!(
        fields(&dead, &["ok", "status", "cause"]),
        json!({ "ok": false, "status": 502, "cause": "unreachable" })
    );
    let no_firewall = closed_port(TENANTS).to_string();
    let nothing = r
        .pivot(json!({ "to": store, "path": "/records/x", "via": no_firewall }))
        .await;
    assert_eq!(
        fields(&nothing, &["ok", "status", "cause"]),
        json!({ "ok": false, "status": 0, "cause": "refused" })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_targets_own_refusal_through_the_firewall_is_still_an_answer() {
    let r = range().await;
    // A gateway in `data` whose upstream is down answers 502 with a `reason` of its own.
    let g = Listeners::ephemeral(DATA).await.unwrap();
    let gateway_addr = g.service_addr();
    tokio::spawn(gateway::run(
        gateway::GatewayConfig {
            upstream: closed_port(DATA).to_string(),
            flow_window: Duration::from_secs(1),
        },
        Log::new("gateway", r.sink.clone()),
        g,
    ));
    let (to, via) = (gateway_addr.to_string(), r.firewall.to_string());
    let body = json!({ "to": to, "path": "/records/x", "via": via });
    let report = r.pivot(body).await;
    assert_eq!(
        fields(&report, &["ok", "status", "cause"]),
        json!({ "ok": true, "status": 502, "cause": null }),
        "the gateway answered; the firewall let it through"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_answers_pivots_on_its_control_api() {
    let r = range().await;
    let closed = closed_port(DATA).to_string();
    for control in [r.attacker, r.firewall_control, r.store_control] {
        let pivot = json!({ "to": closed, "path": "/" });
        let reply = r.call(Method::POST, control, "/pivot", Some(pivot)).await;
        assert_eq!(
            (reply.status, &reply.body["cause"]),
            (200, &json!("refused")),
            "{control}"
        );
        let bad = json!({ "to": closed, "path": "/", "through": "fw:1" });
        let reply = r.call(Method::POST, control, "/pivot", Some(bad)).await;
        assert_eq!(reply.status, 400, "{control}: unknown fields are refused");
        assert!(
            reply.body["error"].as_str().unwrap().contains("through"),
            "{}",
            reply.text
        );
        assert_eq!(
            r.call(Method::GET, control, "/pivot", None).await.status,
            405
        );
        // The role's own control API is still there.
        assert_eq!(
            r.call(Method::GET, control, "/healthz", None).await.status,
            200
        );
    }
    assert!(
        r.sink.values().iter().all(|l| l["event"] == "ready"),
        "a pivot logs nothing in its own container: {:#?}",
        r.sink.values()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exfiltrating_pivot_posts_exactly_its_bytes_and_the_crossing_counts_them() {
    let r = range().await;
    let target = RecordingTarget::start(DATA).await;
    let (to, fw) = (target.addr.to_string(), r.firewall.to_string());
    for (trace, bytes) in [(101, 100_000), (102, pivot::MAX_BYTES)] {
        let body = json!({ "to": to, "path": "/records/upload", "via": fw, "trace": trace, "bytes": bytes });
        let report = r.pivot(body).await;
        assert_eq!(
            fields(&report, &["ok", "status", "cause", "via"]),
            json!({ "ok": true, "status": 200, "cause": null, "via": "firewall" }),
            "{bytes} bytes: {report}"
        );
        assert!(
            report["detail"]
                .as_str()
                .unwrap()
                .starts_with(&format!("POST /records/upload ({bytes} bytes) on {to}")),
            "{report}"
        );
        assert_eq!(
            fields(
                &r.crossing(trace),
                &["to_zone", "endpoint", "bytes", "allowed", "status"]
            ),
            json!({
                "to_zone": "data", "endpoint": "/records/upload", "bytes": bytes,
                "allowed": true, "status": 200,
            })
        );
    }
    let delivered = |trace: u64, bytes: usize| Received {
        method: Method::POST,
        content_length: Some(bytes.to_string()),
        body: bytes,
        trace: Some(trace),
    };
    assert_eq!(
        target.received(),
        [delivered(101, 100_000), delivered(102, pivot::MAX_BYTES)],
        "the firewall relays the body whole; the cap is a body every labd accepts"
    );

    // Straight to the target, the same POST arrives.
    let direct = r
        .pivot(json!({ "to": to, "path": "/upload", "trace": 103, "bytes": 10 }))
        .await;
    assert_eq!(
        fields(&direct, &["ok", "status", "via"]),
        json!({ "ok": true, "status": 200, "via": "direct" })
    );
    assert_eq!(target.received()[2], delivered(103, 10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_firewall_never_connects_outside_its_zones() {
    let r = range().await;
    // Something does listen outside: only the firewall's rule keeps the bytes in.
    let outside = TcpListener::bind(SocketAddr::new(OUTSIDE, 0))
        .await
        .unwrap();
    let to = outside.local_addr().unwrap().to_string();
    let fw = r.firewall.to_string();
    let expected = |to: &str, bytes: usize| {
        json!({
            "from_zone": "tenants", "to": to, "to_zone": null, "bytes": bytes,
            "allowed": false, "reason": "unreachable", "status": 502,
        })
    };
    let crossing = |trace: u64| {
        fields(
            &r.crossing(trace),
            &[
                "from_zone",
                "to",
                "to_zone",
                "bytes",
                "allowed",
                "reason",
                "status",
            ],
        )
    };

    let report = r
        .pivot(json!({ "to": to, "path": "/upload", "via": fw, "trace": 111, "bytes": 65536 }))
        .await;
    assert_eq!(
        fields(&report, &["ok", "status", "cause", "via"]),
        json!({ "ok": false, "status": 502, "cause": "unreachable", "via": "firewall" }),
        "{report}"
    );
    assert_eq!(crossing(111), expected("127.0.0.5", 65536));

    let relayed = r
        .relay_body(TENANTS, &to, "/upload", 112, Bytes::from(vec![7; 1000]))
        .await;
    assert_eq!(
        (
            relayed.status,
            &relayed.body["reason"],
            relayed.from_firewall
        ),
        (502, &json!("unreachable"), true),
        "{}",
        relayed.text
    );
    assert_eq!(crossing(112), expected("127.0.0.5", 1000));
    assert!(
        !was_connected_to(&outside).await,
        "the firewall opened a connection outside its zones"
    );

    // An address outside the lab, as a scenario writes one.
    let report = r
        .pivot(json!({ "to": "203.0.113.5:443", "path": "/", "via": fw, "trace": 113, "bytes": 1 }))
        .await;
    assert_eq!(
        (&report["status"], &report["cause"]),
        (&json!(502), &json!("unreachable")),
        "{report}"
    );
    assert_eq!(crossing(113), expected("203.0.113.5", 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exfiltrating_pivot_fails_as_any_pivot_and_its_bytes_are_capped() {
    let r = range().await;
    let closed = closed_port(DATA).to_string();
    let refused = r
        .pivot(json!({ "to": closed, "path": "/upload", "bytes": 4096 }))
        .await;
    assert_eq!(
        fields(&refused, &["ok", "status", "cause", "via"]),
        json!({ "ok": false, "status": 0, "cause": "refused", "via": "direct" })
    );

    let over_the_cap = [json!(pivot::MAX_BYTES + 1), json!(u64::MAX)];
    let not_a_length = [json!(-1), json!(2.5), json!("10")];
    for bytes in over_the_cap.iter().chain(&not_a_length) {
        let body = json!({ "to": closed, "path": "/upload", "bytes": bytes });
        let reply = r.call(Method::POST, r.attacker, "/pivot", Some(body)).await;
        assert_eq!(reply.status, 400, "{bytes}: {}", reply.text);
        // The parser's own messages do not name the field; the cap's does.
        if over_the_cap.contains(bytes) {
            let error = reply.body["error"].as_str().unwrap();
            assert!(
                error.contains("bytes") && error.contains("4194304"),
                "{error}"
            );
        }
    }
    assert!(
        r.sink.events("crossing").is_empty(),
        "a refused body is no attempt"
    );
}
