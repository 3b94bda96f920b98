//! In-process tests of the roles working together over loopback: datastore ← web ← gateway ←
//! executor, with every log line captured in memory.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::Method;
use hyper::body::Bytes;
use labd::config::Credential;
use labd::http::Client;
use labd::log::{Log, MemorySink};
use labd::needs::{Degraded, Need};
use labd::roles::{Listeners, Role, datastore, executor, gateway, web, worker};
use serde_json::{Value, json};

const ADMIN_TOKEN: &str = "driver-admin-token";
const SOURCE: &str = "198.51.100.23";

struct Lab {
    sink: Arc<MemorySink>,
    gateway: SocketAddr,
    gateway_control: SocketAddr,
    web: SocketAddr,
    datastore: SocketAddr,
    actor: SocketAddr,
    client: Client,
}

/// Starts datastore, web, gateway and an attacker executor on ephemeral loopback ports.
async fn lab() -> Lab {
    lab_lacking(&[]).await
}

/// [`lab`], with these services lacking what they need (as `LABD_NEEDS` checked at start).
async fn lab_lacking(lacking: &[(&str, Need)]) -> Lab {
    let sink = MemorySink::new();
    let log = |service: &str| Log::new(service, sink.clone());
    let listeners = async |service: &str| {
        let mut l = Listeners::loopback().await.unwrap();
        l.degraded = (lacking.iter().find(|(s, _)| *s == service)).map(|(_, need)| Degraded {
            service: service.into(),
            need: need.clone(),
            why: "the test says so".into(),
        });
        l
    };

    let ds = listeners("datastore").await;
    let ds_addr = ds.service_addr();
    let datasets = BTreeMap::from([("orders".to_owned(), 5000), ("payroll".to_owned(), 800)]);
    tokio::spawn(datastore::run(
        datastore::DatastoreConfig { datasets },
        log("datastore"),
        ds,
    ));

    let w = listeners("web").await;
    let web_addr = w.service_addr();
    let credential = |identity: &str, password: &str, admin: bool| Credential {
        identity: identity.into(),
        password: password.into(),
        admin,
    };
    tokio::spawn(web::run(
        web::WebConfig {
            upstream: ds_addr.to_string(),
            credentials: vec![
                credential("alice", "alice-pw", false),
                credential("bob", "bob-pw", false),
                credential("root", "root-pw", true),
            ],
            admin_token: Some(ADMIN_TOKEN.into()),
            management: Some("/actuator".into()),
        },
        log("web"),
        w,
    ));

    let g = Listeners::loopback().await.unwrap();
    let (gw_addr, gw_control) = (g.service_addr(), g.control_addr());
    tokio::spawn(gateway::run(
        gateway::GatewayConfig {
            upstream: web_addr.to_string(),
            flow_window: Duration::from_secs(1),
        },
        log("gateway"),
        g,
    ));

    let a = Listeners::loopback().await.unwrap();
    let actor = a.control_addr();
    tokio::spawn(executor::run(
        Role::Attacker,
        executor::ExecutorConfig {
            gateway: gw_addr.to_string(),
            timeout: Duration::from_secs(2),
            max_in_flight: 64,
        },
        log("attacker"),
        a,
    ));

    let lab = Lab {
        sink,
        gateway: gw_addr,
        gateway_control: gw_control,
        web: web_addr,
        datastore: ds_addr,
        actor,
        client: Client::new(Duration::from_secs(5)),
    };
    // Every role logs `ready` once both of its listeners serve.
    lab.wait_for("all roles ready", |l| l.sink.events("ready").len() == 4)
        .await;
    lab
}

impl Lab {
    /// One request; returns the status and the body parsed as JSON (`Null` when it is not).
    async fn call(
        &self,
        method: Method,
        to: SocketAddr,
        path: &str,
        headers: &[(&str, String)],
        body: Option<Value>,
    ) -> (u16, Value) {
        let body = body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string()));
        let a = self
            .client
            .call(method, &to.to_string(), path, headers, body)
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        let value = serde_json::from_slice(&a.body).unwrap_or(Value::Null);
        (a.status.as_u16(), value)
    }

    /// Through the gateway, as `SOURCE`, with a trace id.
    async fn via_gateway(
        &self,
        method: Method,
        path: &str,
        trace: u64,
        auth: Option<(&str, String)>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut headers = vec![
            ("x-bulkhead-source", SOURCE.to_owned()),
            ("x-request-id", trace.to_string()),
        ];
        headers.extend(auth);
        self.call(method, self.gateway, path, &headers, body).await
    }

    async fn login(&self, identity: &str, password: &str, trace: u64) -> (u16, Value) {
        self.via_gateway(
            Method::POST,
            "/login",
            trace,
            None,
            Some(json!({ "identity": identity, "password": password })),
        )
        .await
    }

    async fn token(&self, identity: &str, password: &str) -> String {
        let (status, body) = self.login(identity, password, 1).await;
        assert_eq!(status, 200, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }

    async fn act(&self, action: Value) -> u16 {
        self.call(Method::POST, self.actor, "/act", &[], Some(action))
            .await
            .0
    }

    /// The lines of `event` from `service`, with the given trace.
    fn lines(&self, service: &str, event: &str, trace: u64) -> Vec<Value> {
        self.sink
            .events(event)
            .into_iter()
            .filter(|v| v["service"] == service && v["trace"] == trace)
            .collect()
    }

    /// Polls `done` for up to 10 s; lines are written by background tasks.
    async fn wait_for(&self, what: &str, done: impl Fn(&Lab) -> bool) {
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

fn bearer(token: &str) -> Option<(&'static str, String)> {
    Some(("authorization", format!("Bearer {token}")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_succeeds_with_the_right_password_only() {
    let lab = lab().await;
    let (status, body) = lab.login("alice", "alice-pw", 11).await;
    assert_eq!(status, 200);
    assert_eq!(body["token"].as_str().unwrap().len(), 32);
    assert_eq!(lab.login("alice", "wrong", 12).await.0, 401);
    assert_eq!(lab.login("mallory", "x", 13).await.0, 401);

    let ok = &lab.lines("web", "login", 11)[0];
    assert_eq!(
        (&ok["identity"], &ok["ok"], &ok["source"]),
        (&json!("alice"), &json!(true), &json!(SOURCE))
    );
    assert!(ok.get("reason").is_none());
    let bad = &lab.lines("web", "login", 12)[0];
    assert_eq!(
        (&bad["ok"], &bad["reason"]),
        (&json!(false), &json!("bad_password"))
    );
    assert_eq!(lab.lines("web", "login", 13)[0]["reason"], "unknown");
    // The failed login is a request of nobody.
    let request = &lab.lines("web", "request", 12)[0];
    assert_eq!(
        (&request["status"], &request["identity"]),
        (&json!(401), &Value::Null)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_reads_return_the_records_asked_for_and_log_the_access() {
    let lab = lab().await;
    let token = lab.token("alice", "alice-pw").await;
    let (status, body) = lab
        .via_gateway(
            Method::GET,
            "/data/orders?records=200",
            21,
            bearer(&token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["records"], 200);
    assert_eq!(body["rows"].as_array().unwrap().len(), 200);

    let access = &lab.lines("web", "data_access", 21)[0];
    assert_eq!(access["identity"], "alice");
    assert_eq!(access["dataset"], "orders");
    assert_eq!(access["records"], 200);
    assert_eq!(access["ok"], true);
    assert_eq!(access["source"], SOURCE);
    // The trace follows the request all the way to the datastore.
    assert_eq!(lab.lines("datastore", "query", 21)[0]["records"], 200);
    let request = &lab.lines("web", "request", 21)[0];
    assert_eq!(request["endpoint"], "/data/orders");
    assert_eq!(request["status"], 200);

    // A dataset gives no more than it holds.
    let (_, body) = lab
        .via_gateway(
            Method::GET,
            "/data/payroll?records=5000",
            22,
            bearer(&token),
            None,
        )
        .await;
    assert_eq!(body["records"], 800);

    let (status, _) = lab
        .via_gateway(
            Method::GET,
            "/data/nope?records=5",
            23,
            bearer(&token),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let access = &lab.lines("web", "data_access", 23)[0];
    assert_eq!(
        (&access["ok"], &access["records"]),
        (&json!(false), &json!(0))
    );

    let (status, _) = lab
        .via_gateway(Method::GET, "/data/orders?records=5", 24, None, None)
        .await;
    assert_eq!(status, 401);
    assert!(lab.lines("web", "data_access", 24).is_empty());

    let (status, _) = lab
        .via_gateway(
            Method::GET,
            "/data/orders?records=lots",
            25,
            bearer(&token),
            None,
        )
        .await;
    assert_eq!(status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_admins_reach_the_admin_api() {
    let lab = lab().await;
    let alice = lab.token("alice", "alice-pw").await;
    let (status, _) = lab
        .via_gateway(Method::GET, "/admin/users", 31, bearer(&alice), None)
        .await;
    assert_eq!(status, 403);
    let request = &lab.lines("web", "request", 31)[0];
    assert_eq!(
        (&request["status"], &request["identity"]),
        (&json!(403), &json!("alice"))
    );
    assert_eq!(request["endpoint"], "/admin/users");

    let (status, _) = lab
        .via_gateway(Method::GET, "/admin/users", 32, None, None)
        .await;
    assert_eq!(status, 401);

    let root = lab.token("root", "root-pw").await;
    let (status, users) = lab
        .via_gateway(Method::GET, "/admin/users", 33, bearer(&root), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(users, json!(["alice", "bob", "root"]));

    let (status, _) = lab
        .via_gateway(Method::GET, "/admin/users", 34, bearer(ADMIN_TOKEN), None)
        .await;
    assert_eq!(status, 200);
    // The driver's admin token is for the admin API only.
    let (status, _) = lab
        .via_gateway(Method::GET, "/api/orders", 35, bearer(ADMIN_TOKEN), None)
        .await;
    assert_eq!(status, 401);
}

/// A management endpoint left on answers anyone below its path (logged as an anonymous
/// request), and web reports it to the admin API, which is how the range's audit finds it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_management_endpoint_left_on_answers_anyone_and_the_admin_api_reports_it() {
    let lab = lab().await;
    let (status, body) = lab
        .via_gateway(Method::GET, "/actuator/env", 71, None, None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["app"]["name"], "ShopForge");
    let request = &lab.lines("web", "request", 71)[0];
    assert_eq!(
        (
            &request["identity"],
            &request["status"],
            &request["endpoint"]
        ),
        (&Value::Null, &json!(200), &json!("/actuator/env"))
    );
    for (method, path, refused) in [
        (Method::GET, "/actuators", 404),
        (Method::POST, "/actuator/shutdown", 405),
    ] {
        let (status, _) = lab.via_gateway(method, path, 72, None, None).await;
        assert_eq!(status, refused, "{path}");
    }
    let admin = [("authorization", format!("Bearer {ADMIN_TOKEN}"))];
    let (status, reported) = lab
        .call(Method::GET, lab.web, "/admin/management", &admin, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(reported, json!({ "endpoints": ["/actuator"] }));
    let (status, _) = lab
        .via_gateway(Method::GET, "/admin/management", 73, None, None)
        .await;
    assert_eq!(status, 401, "only an admin learns what is left on");
}

/// The audit of factory passwords and their rotation, as the range's fix uses them: straight
/// to web, with the admin token; nobody else may ask.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_audits_passwords_against_a_list_and_rotates_one() {
    let lab = lab().await;
    let admin = |trace: u32| {
        [
            ("authorization", format!("Bearer {ADMIN_TOKEN}")),
            ("x-request-id", trace.to_string()),
        ]
    };
    let candidates = json!({ "candidates": ["bob-pw", "admin", "changeme"] });
    let (status, found) = lab
        .call(
            Method::POST,
            lab.web,
            "/admin/password-audit",
            &admin(51),
            Some(candidates.clone()),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(found, json!({ "accounts": ["bob"] }));
    let alice = lab.token("alice", "alice-pw").await;
    let root = lab.token("root", "root-pw").await;
    for (auth, refused) in [(None, 401), (bearer(&alice), 403), (bearer(&root), 403)] {
        let (status, _) = lab
            .via_gateway(
                Method::POST,
                "/admin/password-audit",
                52,
                auth,
                Some(candidates.clone()),
            )
            .await;
        assert_eq!(status, refused, "only an admin may audit passwords");
    }

    let bob = lab.token("bob", "bob-pw").await;
    let rotate =
        |identity: &str, password: &str| json!({ "identity": identity, "password": password });
    let (status, rotated) = lab
        .call(
            Method::POST,
            lab.web,
            "/admin/rotate",
            &admin(53),
            Some(rotate("bob", "a-generated-password")),
        )
        .await;
    assert_eq!((status, &rotated["ended"]), (200, &json!(1)), "{rotated}");
    let line = &lab.lines("web", "credential", 53)[0];
    assert_eq!(
        (
            &line["identity"],
            &line["change"],
            &line["by"],
            &line["credential"]
        ),
        (
            &json!("bob"),
            &json!("rotated"),
            &json!("admin"),
            &json!("password")
        )
    );
    // The old password and the session it gave no longer work; the new password does.
    assert_eq!(lab.login("bob", "bob-pw", 54).await.0, 401);
    let (status, _) = lab
        .via_gateway(Method::GET, "/api/orders", 55, bearer(&bob), None)
        .await;
    assert_eq!(status, 401);
    assert_eq!(lab.login("bob", "a-generated-password", 56).await.0, 200);
    let (_, found) = lab
        .call(
            Method::POST,
            lab.web,
            "/admin/password-audit",
            &admin(57),
            Some(candidates),
        )
        .await;
    assert_eq!(found, json!({ "accounts": [] }));
    // Other accounts keep theirs; a short password or an unknown identity is refused.
    assert_eq!(lab.login("alice", "alice-pw", 58).await.0, 200);
    for (body, refused) in [
        (rotate("alice", "short"), 400),
        (rotate("mallory", "a-generated-password"), 404),
        (json!({ "identity": "alice" }), 400),
    ] {
        let (status, _) = lab
            .call(
                Method::POST,
                lab.web,
                "/admin/rotate",
                &admin(59),
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, refused, "{body}");
    }
    let (status, _) = lab
        .via_gateway(
            Method::POST,
            "/admin/rotate",
            60,
            bearer(&alice),
            Some(rotate("bob", "a-generated-password")),
        )
        .await;
    assert_eq!(status, 403, "a non-admin may not rotate anyone's password");
    let (status, _) = lab
        .via_gateway(
            Method::POST,
            "/admin/rotate",
            61,
            bearer(&root),
            Some(rotate("bob", "a-generated-password")),
        )
        .await;
    assert_eq!(
        status, 403,
        "nor may an admin identity: only the operator's token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_an_identity_kills_its_password_sessions_and_keys() {
    let lab = lab().await;
    let token = lab.token("alice", "alice-pw").await;
    let (status, created) = lab
        .via_gateway(Method::POST, "/keys", 41, bearer(&token), None)
        .await;
    assert_eq!(status, 200);
    let key = created["key"].as_str().unwrap().to_owned();
    let key_id = created["id"].as_str().unwrap().to_owned();
    assert!(key_id.starts_with("key-"));
    let with_key = Some(("x-api-key", key.clone()));
    assert_eq!(
        lab.via_gateway(Method::GET, "/api/orders", 42, with_key.clone(), None)
            .await
            .0,
        200
    );
    let created_line = &lab.lines("web", "credential", 41)[0];
    assert_eq!(created_line["change"], "created");
    assert_eq!(created_line["by"], "alice");
    assert_eq!(created_line["credential"], key_id.as_str());

    let (_, keys) = lab
        .via_gateway(Method::GET, "/admin/keys", 43, bearer(ADMIN_TOKEN), None)
        .await;
    assert_eq!(keys, json!([{ "id": key_id, "identity": "alice" }]));

    // Revoke as the driver does: straight to web, with the admin token.
    let admin = [
        ("authorization", format!("Bearer {ADMIN_TOKEN}")),
        ("x-request-id", "44".to_owned()),
    ];
    let (status, revoked) = lab
        .call(
            Method::POST,
            lab.web,
            "/admin/revoke",
            &admin,
            Some(json!({ "identity": "alice" })),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(revoked["revoked"], 3, "password, one session and one key");
    let lines = lab.lines("web", "credential", 44);
    let revoked_credentials: Vec<&Value> = lines.iter().map(|l| &l["credential"]).collect();
    assert_eq!(revoked_credentials, [&json!("password"), &json!(key_id)]);
    assert!(
        lines
            .iter()
            .all(|l| l["by"] == "admin" && l["change"] == "revoked")
    );

    let (status, body) = lab.login("alice", "alice-pw", 45).await;
    assert_eq!((status, &body["reason"]), (401, &json!("revoked")));
    assert_eq!(lab.lines("web", "login", 45)[0]["reason"], "revoked");
    for (trace, auth) in [(46, bearer(&token)), (47, with_key)] {
        let (status, body) = lab
            .via_gateway(Method::GET, "/api/orders", trace, auth, None)
            .await;
        assert_eq!(status, 401, "trace {trace}");
        assert_eq!(
            body["reason"], "revoked",
            "a revoked credential says so: {body}"
        );
    }
    // A credential that never was valid is told apart from a revoked one.
    let (_, body) = lab
        .via_gateway(Method::GET, "/api/orders", 48, bearer("nonsense"), None)
        .await;
    assert_eq!(body["reason"], "invalid");
    assert_eq!(lab.login("bob", "wrong", 49).await.1["reason"], "invalid");
    let (_, state) = lab
        .call(
            Method::GET,
            lab.web,
            "/admin/status?identity=alice",
            &admin,
            None,
        )
        .await;
    assert_eq!(state, json!({ "identity": "alice", "revoked": true }));
    let (_, keys) = lab
        .call(Method::GET, lab.web, "/admin/keys", &admin, None)
        .await;
    assert_eq!(keys, json!([]));
    // Other identities are untouched.
    assert_eq!(lab.login("bob", "bob-pw", 48).await.0, 200);
    let (status, _) = lab
        .call(
            Method::POST,
            lab.web,
            "/admin/revoke",
            &admin,
            Some(json!({"identity": 3})),
        )
        .await;
    assert_eq!(status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_blocks_sources_and_aggregates_flows_per_second() {
    let lab = lab().await;
    let other = "203.0.113.9";
    let get = |source: &'static str, trace: u64| {
        let headers = vec![
            ("x-bulkhead-source", source.to_owned()),
            ("x-request-id", trace.to_string()),
        ];
        let lab = &lab;
        async move {
            lab.call(Method::GET, lab.gateway, "/public/catalog", &headers, None)
                .await
                .0
        }
    };
    for i in 0..3 {
        assert_eq!(get(SOURCE, 50 + i).await, 200);
    }
    let control = lab.gateway_control;
    let (status, _) = lab
        .call(
            Method::POST,
            control,
            "/blocks",
            &[("x-request-id", "53".into())],
            Some(json!({ "source": SOURCE })),
        )
        .await;
    assert_eq!(status, 200);
    let added = &lab.lines("gateway", "block", 53)[0];
    assert_eq!(
        (&added["source"], &added["change"]),
        (&json!(SOURCE), &json!("added"))
    );
    assert_eq!(
        lab.call(Method::GET, control, "/blocks", &[], None).await.1,
        json!([SOURCE])
    );

    assert_eq!(get(SOURCE, 54).await, 403);
    let (status, body) = lab
        .via_gateway(Method::GET, "/public/catalog", 55, None, None)
        .await;
    assert_eq!(status, 403);
    assert_eq!(body["reason"], "blocked", "a block is recognisable: {body}");
    assert_eq!(get(other, 56).await, 200);
    // Denied requests never reach web.
    assert!(lab.lines("web", "request", 54).is_empty());

    let (status, _) = lab
        .call(
            Method::DELETE,
            control,
            "/blocks/198.51.100.23",
            &[("x-request-id", "57".into())],
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(lab.lines("gateway", "block", 57)[0]["change"], "removed");
    assert_eq!(
        lab.call(Method::GET, control, "/blocks", &[], None).await.1,
        json!([])
    );
    assert_eq!(get(SOURCE, 58).await, 200);

    let (status, body) = lab
        .call(
            Method::POST,
            control,
            "/blocks",
            &[],
            Some(json!("198.51.100.23")),
        )
        .await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("JSON"), "{body}");

    // 6 requests from SOURCE (2 denied) and 1 from `other`, summed over however many
    // one-second windows they straddled.
    let totals = |lab: &Lab, source: &str| {
        lab.sink
            .events("flow")
            .iter()
            .filter(|f| f["source"] == source)
            .fold([0, 0, 0, 0, 0], |t, f| {
                [
                    t[0] + 1,
                    t[1] + f["requests"].as_u64().unwrap(),
                    t[2] + f["denied"].as_u64().unwrap(),
                    t[3] + f["errors"].as_u64().unwrap(),
                    t[4] + f["bytes"].as_u64().unwrap(),
                ]
            })
    };
    lab.wait_for("flow lines", |l| {
        totals(l, SOURCE)[1] == 6 && totals(l, other)[1] == 1
    })
    .await;
    let [lines, _, denied, errors, bytes] = totals(&lab, SOURCE);
    assert_eq!((denied, errors), (2, 0));
    assert!(
        lines < 6,
        "flows are aggregated, not one per request ({lines} lines)"
    );
    assert!(bytes > 4 * 500, "answers are counted in bytes ({bytes})");
    for flow in lab.sink.events("flow") {
        assert_eq!(flow["upstream"], lab.web.to_string());
        assert!(flow.get("trace").is_none());
        assert!(flow["requests"].as_u64().unwrap() > 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_answers_502_when_upstream_is_down() {
    let sink = MemorySink::new();
    // A port that was free a moment ago: nothing answers there.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let g = Listeners::loopback().await.unwrap();
    let addr = g.service_addr();
    tokio::spawn(gateway::run(
        gateway::GatewayConfig {
            upstream: dead.to_string(),
            flow_window: Duration::from_millis(200),
        },
        Log::new("gateway", sink.clone()),
        g,
    ));
    let client = Client::new(Duration::from_secs(5));
    let a = client
        .call(
            Method::GET,
            &addr.to_string(),
            "/public/x",
            &[],
            Bytes::new(),
        )
        .await
        .unwrap();
    assert_eq!(a.status.as_u16(), 502);
    let body: Value = serde_json::from_slice(&a.body).unwrap();
    assert_eq!(
        (&body["reason"], &body["hop"]),
        (&json!("unreachable"), &json!("127.0.0.1")),
        "the 502 names the hop that did not answer: {body}"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while sink.events("flow").is_empty() {
        assert!(Instant::now() < deadline, "no flow line");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let flow = &sink.events("flow")[0];
    assert_eq!((&flow["requests"], &flow["errors"]), (&json!(1), &json!(1)));
    assert_eq!(
        flow["source"], "127.0.0.1",
        "the peer address when no label is sent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executor_logs_outcomes_of_login_read_data_and_flood() {
    let lab = lab().await;
    let alice = |trace: u64, what: Value| json!({ "trace": trace, "identity": "alice", "password": "alice-pw", "source": SOURCE, "do": what });
    assert_eq!(lab.act(alice(61, json!({ "kind": "login" }))).await, 202);
    let mut wrong = alice(62, json!({ "kind": "login" }));
    wrong["password"] = json!("guess");
    assert_eq!(lab.act(wrong).await, 202);
    lab.wait_for("login outcomes", |l| {
        !l.lines("attacker", "outcome", 61).is_empty()
            && !l.lines("attacker", "outcome", 62).is_empty()
    })
    .await;
    let ok = &lab.lines("attacker", "outcome", 61)[0];
    assert_eq!((&ok["ok"], &ok["status"]), (&json!(true), &json!(200)));
    let refused = &lab.lines("attacker", "outcome", 62)[0];
    assert_eq!(
        (&refused["ok"], &refused["status"], &refused["cause"]),
        (&json!(false), &json!(401), &json!("refused"))
    );
    assert_eq!(
        (&ok["cause"], &refused["source"]),
        (&Value::Null, &json!(SOURCE))
    );
    // The client's source and trace reach web's own lines.
    assert_eq!(lab.lines("web", "login", 61)[0]["source"], SOURCE);

    lab.act(alice(
        63,
        json!({ "kind": "read_data", "dataset": "orders", "records": 200 }),
    ))
    .await;
    lab.wait_for("read_data outcome", |l| {
        !l.lines("attacker", "outcome", 63).is_empty()
    })
    .await;
    let read = &lab.lines("attacker", "outcome", 63)[0];
    assert_eq!(
        (&read["ok"], &read["status"], &read["records"]),
        (&json!(true), &json!(200), &json!(200))
    );
    assert_eq!(lab.lines("web", "data_access", 63)[0]["records"], 200);
    // The token from the login action was reused: no second login.
    assert!(lab.lines("web", "login", 63).is_empty());

    let flood = json!({ "trace": 64, "source": "192.0.2.77",
        "do": { "kind": "flood", "rps": 20, "seconds": 2, "endpoint": "/public/catalog" } });
    assert_eq!(lab.act(flood).await, 202);
    lab.wait_for("two flood outcomes", |l| {
        l.lines("attacker", "outcome", 64).len() == 2
    })
    .await;
    for second in lab.lines("attacker", "outcome", 64) {
        assert_eq!(second["ok"], true, "{second}");
        assert_eq!(second["records"], 20, "{second}");
        assert_eq!(second["status"], 200);
    }
    assert_eq!(lab.lines("web", "request", 64).len(), 40);

    // A blocked flood fails fast and says so.
    let control = lab.gateway_control;
    lab.call(
        Method::POST,
        control,
        "/blocks",
        &[],
        Some(json!({ "source": "192.0.2.78" })),
    )
    .await;
    let flood = json!({ "trace": 65, "source": "192.0.2.78",
        "do": { "kind": "flood", "rps": 10, "seconds": 1 } });
    lab.act(flood).await;
    lab.wait_for("blocked flood outcome", |l| {
        !l.lines("attacker", "outcome", 65).is_empty()
    })
    .await;
    let blocked = &lab.lines("attacker", "outcome", 65)[0];
    assert_eq!(
        (&blocked["ok"], &blocked["status"], &blocked["records"]),
        (&json!(false), &json!(403), &json!(0))
    );
    assert_eq!(blocked["cause"], "blocked");
}

/// A second web tier ("portal") behind a gateway of its own, on the lab's datastore: what a
/// topology with several web tiers runs. Returns the portal gateway's address.
async fn second_tier(lab: &Lab, datastore: SocketAddr) -> SocketAddr {
    let log = |service: &str| Log::new(service, lab.sink.clone());
    let w = Listeners::loopback().await.unwrap();
    let portal = w.service_addr();
    tokio::spawn(web::run(
        web::WebConfig {
            upstream: datastore.to_string(),
            credentials: vec![Credential {
                identity: "alice".into(),
                password: "alice-pw".into(),
                admin: false,
            }],
            admin_token: Some(ADMIN_TOKEN.into()),
            management: None,
        },
        log("portal"),
        w,
    ));
    let g = Listeners::loopback().await.unwrap();
    let portal_gateway = g.service_addr();
    tokio::spawn(gateway::run(
        gateway::GatewayConfig {
            upstream: portal.to_string(),
            flow_window: Duration::from_secs(1),
        },
        log("portal-gateway"),
        g,
    ));
    lab.wait_for("the second tier ready", |l| {
        l.sink.events("ready").len() == 6
    })
    .await;
    portal_gateway
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executor_goes_through_the_gateway_an_action_names_with_credentials_per_tier() {
    let lab = lab().await;
    let portal_gateway = second_tier(&lab, lab.datastore).await;
    let alice = |trace: u64, gateway: Option<String>, what: Value| {
        let mut action = json!({ "trace": trace, "identity": "alice", "password": "alice-pw", "source": SOURCE, "do": what });
        if let Some(g) = gateway {
            action["gateway"] = json!(g);
        }
        action
    };
    let portal = Some(portal_gateway.to_string());
    let request = json!({ "kind": "request", "endpoint": "/api/orders" });
    assert_eq!(
        lab.act(alice(91, None, json!({ "kind": "login" }))).await,
        202
    );
    lab.wait_for("the login", |l| {
        !l.lines("attacker", "outcome", 91).is_empty()
    })
    .await;
    assert_eq!(
        lab.act(alice(92, portal.clone(), request.clone())).await,
        202
    );
    lab.wait_for("the portal request", |l| {
        !l.lines("attacker", "outcome", 92).is_empty()
    })
    .await;
    assert_eq!(lab.lines("attacker", "outcome", 92)[0]["ok"], true);
    // The token of the first tier is not offered to the portal: it logs in there first.
    assert_eq!(lab.lines("portal", "login", 92).len(), 1);
    assert_eq!(
        lab.lines("portal", "request", 92).len(),
        2,
        "the login and the request"
    );
    assert!(
        lab.lines("web", "request", 92).is_empty(),
        "nothing reached the first tier"
    );
    // Each tier's token is remembered for that tier.
    lab.act(alice(93, portal.clone(), request.clone())).await;
    lab.act(alice(94, None, request.clone())).await;
    lab.wait_for("both requests", |l| {
        !l.lines("attacker", "outcome", 93).is_empty()
            && !l.lines("attacker", "outcome", 94).is_empty()
    })
    .await;
    assert!(lab.lines("portal", "login", 93).is_empty());
    assert!(lab.lines("web", "login", 94).is_empty());
    assert_eq!(lab.lines("portal", "request", 93).len(), 1);
    assert_eq!(lab.lines("web", "request", 94).len(), 1);

    // A gateway that does not answer is the hop named by its host.
    lab.act(alice(95, Some("127.0.0.1:1".into()), request.clone()))
        .await;
    lab.wait_for("the dead gateway", |l| {
        !l.lines("attacker", "outcome", 95).is_empty()
    })
    .await;
    assert_eq!(
        lab.lines("attacker", "outcome", 95)[0]["cause"],
        "unreachable:127.0.0.1"
    );
    // Not a host:port: refused at once.
    for bad in ["portal", "portal:http", ":8080", "a b:80", "portal:0"] {
        assert_eq!(
            lab.act(alice(96, Some(bad.into()), request.clone())).await,
            400,
            "{bad}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executor_creates_keys_and_falls_back_through_token_login_and_key() {
    let lab = lab().await;
    let bob = |trace: u64, password: &str, what: Value| json!({ "trace": trace, "identity": "bob", "password": password, "source": SOURCE, "do": what });
    lab.act(bob(71, "bob-pw", json!({ "kind": "create_key" })))
        .await;
    lab.wait_for("create_key outcome", |l| {
        !l.lines("attacker", "outcome", 71).is_empty()
    })
    .await;
    let created = &lab.lines("attacker", "outcome", 71)[0];
    assert_eq!(created["ok"], true, "{created}");
    assert!(created["detail"].as_str().unwrap().contains("key-"));
    assert_eq!(lab.lines("web", "credential", 71)[0]["change"], "created");

    // After a revocation every credential fails: the executor tries the remembered token,
    // logs in again, tries the remembered key, and reports the last 401.
    let admin = [("authorization", format!("Bearer {ADMIN_TOKEN}"))];
    let (status, _) = lab
        .call(
            Method::POST,
            lab.web,
            "/admin/revoke",
            &admin,
            Some(json!({ "identity": "bob" })),
        )
        .await;
    assert_eq!(status, 200);
    lab.act(bob(
        72,
        "bob-pw",
        json!({ "kind": "request", "endpoint": "/api/orders" }),
    ))
    .await;
    lab.wait_for("request outcome", |l| {
        !l.lines("attacker", "outcome", 72).is_empty()
    })
    .await;
    let denied = &lab.lines("attacker", "outcome", 72)[0];
    assert_eq!(
        (&denied["ok"], &denied["status"], &denied["cause"]),
        (&json!(false), &json!(401), &json!("revoked"))
    );
    assert_eq!(denied["identity"], "bob");
    let detail = denied["detail"].as_str().unwrap();
    assert!(
        detail.contains("token rejected") && detail.contains("api key"),
        "{detail}"
    );
    assert_eq!(lab.lines("web", "login", 72)[0]["reason"], "revoked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executor_reuses_remembered_credentials_and_runs_anonymous_actions() {
    let lab = lab().await;
    lab.act(json!({ "trace": 81, "identity": "alice", "password": "alice-pw", "do": { "kind": "create_key" } }))
        .await;
    lab.wait_for("create_key outcome", |l| {
        !l.lines("attacker", "outcome", 81).is_empty()
    })
    .await;
    // No password this time: the token remembered from create_key is enough.
    lab.act(json!({ "trace": 82, "identity": "alice", "do": { "kind": "read_data", "dataset": "payroll", "records": 5 } }))
        .await;
    lab.wait_for("read_data outcome", |l| {
        !l.lines("attacker", "outcome", 82).is_empty()
    })
    .await;
    assert_eq!(lab.lines("attacker", "outcome", 82)[0]["records"], 5);
    assert!(lab.lines("web", "login", 82).is_empty());
    lab.act(json!({ "trace": 83, "do": { "kind": "request", "endpoint": "/api/orders" } }))
        .await;
    lab.wait_for("anonymous outcome", |l| {
        !l.lines("attacker", "outcome", 83).is_empty()
    })
    .await;
    let anonymous = &lab.lines("attacker", "outcome", 83)[0];
    assert_eq!(
        (&anonymous["ok"], &anonymous["status"], &anonymous["cause"]),
        (&json!(false), &json!(401), &json!("refused"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_400_with_a_message_not_a_panic() {
    let lab = lab().await;
    let raw = |to: SocketAddr, path: &'static str, body: &'static str| {
        let client = lab.client.clone();
        async move {
            let a = client
                .call(Method::POST, &to.to_string(), path, &[], Bytes::from(body))
                .await
                .unwrap();
            let v: Value = serde_json::from_slice(&a.body).unwrap();
            (
                a.status.as_u16(),
                v["error"].as_str().unwrap_or_default().to_owned(),
            )
        }
    };
    for (to, path, body) in [
        (lab.actor, "/act", "{not json"),
        (lab.actor, "/act", r#"{"do": {"kind": "teleport"}}"#),
        (
            lab.actor,
            "/act",
            r#"{"do": {"kind": "flood", "rps": 0, "seconds": 1}}"#,
        ),
        (lab.gateway, "/login", "[]"),
        (lab.web, "/login", r#"{"identity": "alice"}"#),
        (lab.gateway_control, "/blocks", r#"{"source": ""}"#),
    ] {
        let (status, message) = raw(to, path, body).await;
        assert_eq!(status, 400, "{path} {body}");
        assert!(!message.is_empty(), "{path} {body}");
    }
    // Everything still answers afterwards.
    assert_eq!(lab.login("alice", "alice-pw", 91).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_jobs_start_stop_and_log() {
    let sink = MemorySink::new();
    let listeners = Listeners::loopback().await.unwrap();
    let control = listeners.control_addr();
    tokio::spawn(worker::run(Log::new("worker", sink.clone()), listeners));
    let client = Client::new(Duration::from_secs(5));
    let post = |path: &'static str, body: Value| {
        let client = client.clone();
        async move {
            client
                .call(
                    Method::POST,
                    &control.to_string(),
                    path,
                    &[("x-request-id", "5".into())],
                    Bytes::from(body.to_string()),
                )
                .await
                .unwrap()
                .status
                .as_u16()
        }
    };
    let wait = |n: usize, state: &'static str| {
        let sink = sink.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(10);
            while sink
                .events("job")
                .iter()
                .filter(|j| j["state"] == state)
                .count()
                < n
            {
                assert!(Instant::now() < deadline, "{:#?}", sink.values());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };

    // A short hog runs out on its own.
    let hog = json!({ "cpu_workers": 1, "memory_mib": 4, "threads": 3, "seconds": 1 });
    assert_eq!(post("/hog", hog).await, 200);
    wait(1, "started").await;
    let started = &sink.events("job")[0];
    assert_eq!(
        (&started["job"], &started["trace"]),
        (&json!("hog"), &json!(5))
    );
    assert!(
        started["detail"].as_str().unwrap().contains("memory_mib=4"),
        "{started}"
    );
    wait(1, "stopped").await;
    let stopped = &sink.events("job")[1];
    assert!(
        stopped["detail"]
            .as_str()
            .unwrap()
            .contains("held cpu_workers=1 memory_mib=4 threads=3"),
        "{stopped}"
    );

    // A long backup ends on /stop, promptly.
    assert_eq!(post("/backup", json!({ "seconds": 600 })).await, 200);
    wait(2, "started").await;
    let asked = Instant::now();
    assert_eq!(post("/stop", json!({})).await, 200);
    wait(2, "stopped").await;
    assert!(asked.elapsed() < Duration::from_secs(3));
    let stopped = sink
        .events("job")
        .into_iter()
        .filter(|j| j["state"] == "stopped")
        .nth(1)
        .unwrap();
    assert_eq!(stopped["job"], "backup");

    // Huge asks are capped, not obeyed.
    let huge = json!({ "cpu_workers": 0, "memory_mib": 0, "threads": 0, "seconds": 10_000_000 });
    assert_eq!(post("/hog", huge).await, 200);
    wait(3, "started").await;
    let capped = &sink
        .events("job")
        .into_iter()
        .filter(|j| j["state"] == "started")
        .nth(2)
        .unwrap();
    assert!(
        capped["detail"].as_str().unwrap().contains("capped"),
        "{capped}"
    );
    assert_eq!(post("/stop", json!({})).await, 200);
    wait(3, "stopped").await;

    assert_eq!(post("/hog", json!({ "cpu_workers": "many" })).await, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_datastore_lacking_what_it_needs_refuses_records_and_web_names_it() {
    let lab = lab_lacking(&[("datastore", Need::WritableRoot)]).await;
    let token = lab.token("alice", "alice-pw").await;
    let (status, body) = lab
        .via_gateway(
            Method::GET,
            "/data/orders?records=5",
            30,
            bearer(&token),
            None,
        )
        .await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(
        (&body["reason"], &body["hop"], &body["need"]),
        (
            &json!("degraded"),
            &json!("datastore"),
            &json!("writable-root")
        )
    );
    assert!(body["error"].as_str().unwrap().contains("the test says so"));
    let access = &lab.lines("web", "data_access", 30)[0];
    assert_eq!(
        (&access["ok"], &access["records"]),
        (&json!(false), &json!(0))
    );
    // It still runs: its health answers, and it said why it cannot work when it started.
    let (health, _) = (lab.call(Method::GET, lab.datastore, "/healthz", &[], None)).await;
    assert_eq!(health, 200);
    let said = lab.sink.events("degraded");
    assert_eq!(said.len(), 1, "{said:?}");
    assert_eq!(
        (&said[0]["service"], &said[0]["need"]),
        (&json!("datastore"), &json!("writable-root"))
    );

    // An executor's read names the hop and the need in its cause word.
    let read = json!({ "trace": 31, "identity": "alice", "password": "alice-pw", "source": SOURCE,
        "do": { "kind": "read_data", "dataset": "orders", "records": 5 } });
    assert_eq!(lab.act(read).await, 202);
    lab.wait_for("read outcome", |l| {
        !l.lines("attacker", "outcome", 31).is_empty()
    })
    .await;
    let outcome = &lab.lines("attacker", "outcome", 31)[0];
    assert_eq!(
        (&outcome["ok"], &outcome["cause"]),
        (&json!(false), &json!("degraded:datastore:writable-root"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_web_tier_lacking_what_it_needs_answers_only_its_health_and_the_operator() {
    let lab = lab_lacking(&[("web", Need::Capability("NET_BIND_SERVICE".into()))]).await;
    for (path, trace) in [("/public/home", 40), ("/api/orders", 41)] {
        let (status, body) = lab.via_gateway(Method::GET, path, trace, None, None).await;
        assert_eq!(
            (status, &body["reason"]),
            (503, &json!("degraded")),
            "{path}"
        );
        assert_eq!(body["need"], "cap:NET_BIND_SERVICE");
        // Every refusal is in web's request log: the business failing shows in telemetry.
        assert_eq!(lab.lines("web", "request", trace)[0]["status"], 503);
    }
    let (status, _) = lab.login("alice", "alice-pw", 42).await;
    assert_eq!(status, 503);
    // The range's own audit still gets through with the operator's token; nobody else's.
    let (status, body) = (lab.call(
        Method::GET,
        lab.web,
        "/admin/management",
        &[bearer(ADMIN_TOKEN).unwrap()],
        None,
    ))
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = (lab.call(
        Method::GET,
        lab.web,
        "/admin/management",
        &[bearer("guess").unwrap()],
        None,
    ))
    .await;
    assert_eq!(status, 503);
    let (health, _) = lab.call(Method::GET, lab.web, "/healthz", &[], None).await;
    assert_eq!(health, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_lacking_what_it_needs_runs_no_backup_and_makes_no_calls() {
    let sink = MemorySink::new();
    let mut l = Listeners::loopback().await.unwrap();
    let control = l.control_addr();
    l.degraded = Some(Degraded {
        service: "export-worker".into(),
        need: Need::Root,
        why: "runs as uid 10001".into(),
    });
    tokio::spawn(worker::run(Log::new("export-worker", sink.clone()), l));
    let client = Client::new(Duration::from_secs(5));
    let post = async |path: &str, body: Value| {
        let a = client
            .call(
                Method::POST,
                &control.to_string(),
                path,
                &[],
                Bytes::from(body.to_string()),
            )
            .await
            .unwrap();
        (
            a.status.as_u16(),
            serde_json::from_slice::<Value>(&a.body).unwrap(),
        )
    };
    let (status, body) = post("/backup", json!({ "seconds": 1 })).await;
    assert_eq!(
        (status, &body["reason"], &body["need"]),
        (503, &json!("degraded"), &json!("root"))
    );
    // A hog is not the service's work: whoever started it, it runs.
    let (status, body) = post(
        "/hog",
        json!({ "cpu_workers": 0, "memory_mib": 0, "threads": 0, "seconds": 1 }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // Its own calls out are refused before they dial (nothing listens on port 9 anyway).
    let (status, report) = post(
        "/pivot",
        json!({ "to": "127.0.0.1:9", "path": "/records/invoices" }),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        (&report["ok"], &report["status"], &report["cause"]),
        (
            &json!(false),
            &json!(503),
            &json!("degraded:export-worker:root")
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pivot_to_a_datastore_lacking_what_it_needs_is_not_an_answer() {
    let lab = lab_lacking(&[("datastore", Need::WritableRoot)]).await;
    let (status, report) = lab
        .call(
            Method::POST,
            lab.actor,
            "/pivot",
            &[],
            Some(json!({ "to": lab.datastore.to_string(), "path": "/records/orders?n=5" })),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        (&report["ok"], &report["status"], &report["cause"]),
        (
            &json!(false),
            &json!(503),
            &json!("degraded:datastore:writable-root")
        )
    );
}
