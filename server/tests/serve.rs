//! A real server on a loopback socket, with simulated-lab seats, joined by the real WebSocket
//! client: served play scores and records exactly as local play; every refusal (code, seat in
//! use, version, name, token, frames, rate) has its status and changes nothing; a dropped
//! client resumes; stopping the server ends every session with its record written.

mod harness;

use std::path::Path;
use std::time::Duration;

use bulkhead_engine::defender::{Bot, Idle};
use bulkhead_engine::record::RecordLine;
use bulkhead_engine::{MemoryRecord, Phase, Session, SimLab};
use bulkhead_host::client::{self, Quiet};
use bulkhead_host::protocol::{Hello, MAX_CLIENT_FRAME, encode};
use bulkhead_host::remote::{self, ConnectError};
use bulkhead_host::{ClientMsg, Connection, ErrorKind, PROTOCOL_VERSION, Pace, ServerMsg};
use harness::{Server, begin_clocked, load, next, refusal, wait_for};
use tungstenite::Message;

fn record_beside_the_bot(id: &str, seed: u64) -> (bulkhead_engine::ScoreCard, Vec<u8>) {
    let loaded = load(id);
    let sink = MemoryRecord::default();
    let mut session = Session::new(
        loaded.scenario.clone(),
        loaded.topology.clone(),
        Box::new(SimLab::new(loaded.topology.clone(), &loaded.scenario, seed)),
        seed,
        sink.writer(),
    );
    let card = session.run(&mut Bot::default(), |_| {});
    drop(session);
    let bytes = sink.bytes();
    (card, bytes)
}

#[test]
fn a_served_session_scores_and_records_exactly_as_local_play() {
    let server = Server::start(1, 0.0, 30);
    let conn = server.join(1, "Ada");
    let played = client::play(
        &conn,
        "stolen-credentials",
        Pace::Lockstep,
        &mut Bot::default(),
        &mut Quiet,
    )
    .unwrap();
    let (card, record) = record_beside_the_bot("stolen-credentials", 11);
    assert_eq!(played.card, card);
    let path = played.record.expect("the server keeps the record");
    assert!(
        Path::new(&path).starts_with(server.records.path()),
        "{path}"
    );
    assert!(
        std::fs::read(&path).unwrap() == record,
        "the served record differs from the local one"
    );
    let (status, seats) = server.http(
        "GET",
        "/api/seats",
        Some(server.running().facilitator_token()),
    );
    assert_eq!(status, 200);
    assert_eq!(seats[0]["trainee"], "Ada");
    assert_eq!(seats[0]["score"], card.total);
    assert_eq!(seats[0]["phase"], "debrief");
}

#[test]
fn three_seats_play_at_once_each_scored_as_its_own() {
    let server = Server::start(3, 0.0, 30);
    let url = server.url();
    let players: Vec<_> = (1..=3)
        .map(|seat| {
            let (url, code) = (url.clone(), server.code(seat));
            std::thread::spawn(move || {
                let conn = remote::connect(&url, &code, &format!("trainee {seat}")).unwrap();
                let scenario = if seat == 3 {
                    "insider-access"
                } else {
                    "stolen-credentials"
                };
                let mut bot = Bot::default();
                let defender: &mut dyn bulkhead_engine::Defender =
                    if seat == 2 { &mut Idle } else { &mut bot };
                client::play(&conn, scenario, Pace::Lockstep, defender, &mut Quiet)
                    .unwrap()
                    .card
                    .total
            })
        })
        .collect();
    let totals: Vec<u32> = players.into_iter().map(|p| p.join().unwrap()).collect();
    assert_eq!(
        totals[0],
        record_beside_the_bot("stolen-credentials", 11).0.total
    );
    assert_eq!(totals[1], 0, "idle scores nothing");
    assert_eq!(
        totals[2],
        record_beside_the_bot("insider-access", 11).0.total
    );
    let (_, seats) = server.http(
        "GET",
        "/api/seats",
        Some(server.running().facilitator_token()),
    );
    let scores: Vec<_> = (0..3)
        .map(|i| seats[i]["score"].as_u64().unwrap() as u32)
        .collect();
    assert_eq!(scores, totals);
    assert_eq!(server.records().len(), 3, "one record per seat");
}

#[test]
fn joins_with_a_wrong_code_version_or_name_or_to_a_held_seat_are_refused() {
    let server = Server::start(2, 1.0, 30);
    let url = server.url();
    assert_eq!(
        refusal(remote::connect(&url, "AAAAAAAA", "Eve")),
        ErrorKind::BadCode
    );
    assert_eq!(
        refusal(remote::connect(&url, "", "Eve")),
        ErrorKind::BadCode
    );
    assert_eq!(
        refusal(remote::connect(&url, &server.code(1), "  ")),
        ErrorKind::BadName
    );
    let held = server.join(1, "Ada");
    assert_eq!(
        refusal(remote::connect(&url, &server.code(1), "Eve")),
        ErrorKind::InUse
    );
    // A code typed in lower case, with a dash, still finds its seat.
    let code = server.code(2).to_lowercase();
    let typed = format!("{}-{}", &code[..4], &code[4..]);
    let other = remote::connect(&url, &typed, "Bob").unwrap();
    assert!(matches!(next(&other), ServerMsg::Welcome { seat: 2, .. }));
    assert!(matches!(next(&held), ServerMsg::Welcome { seat: 1, .. }));
    // Another protocol version is refused at the hello.
    let mut raw = raw_socket(&server);
    let hello = Hello {
        protocol: PROTOCOL_VERSION + 1,
        code: server.code(2),
        name: "Old".into(),
    };
    raw.send(Message::text(encode(&hello))).unwrap();
    assert_eq!(error_kind(&mut raw), ErrorKind::Version);
    let (_, seats) = server.http(
        "GET",
        "/api/seats",
        Some(server.running().facilitator_token()),
    );
    assert_eq!(seats[0]["trainee"], "Ada", "refused joins change no seat");
    assert_eq!(seats[1]["trainee"], "Bob");
}

fn raw_socket(server: &Server) -> tungstenite::WebSocket<std::net::TcpStream> {
    let stream = std::net::TcpStream::connect(server.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let url = format!("ws://{}/api/join", server.addr());
    tungstenite::client::client(url.as_str(), stream).unwrap().0
}

fn read_msg(raw: &mut tungstenite::WebSocket<std::net::TcpStream>) -> Option<ServerMsg> {
    loop {
        match raw.read() {
            Ok(Message::Text(text)) => return bulkhead_host::protocol::decode_server(&text).ok(),
            Ok(Message::Ping(_) | Message::Pong(_)) => continue,
            _ => return None,
        }
    }
}

fn error_kind(raw: &mut tungstenite::WebSocket<std::net::TcpStream>) -> ErrorKind {
    match read_msg(raw) {
        Some(ServerMsg::Error { kind, .. }) => kind,
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn bad_frames_get_a_protocol_error_and_the_connection_stays_usable() {
    let server = Server::start(1, 1.0, 30);
    let mut raw = raw_socket(&server);
    let hello = Hello {
        protocol: PROTOCOL_VERSION,
        code: server.code(1),
        name: "Ada".into(),
    };
    raw.send(Message::text(encode(&hello))).unwrap();
    assert!(matches!(
        read_msg(&mut raw),
        Some(ServerMsg::Welcome { .. })
    ));
    for (frame, kind) in [
        (Message::text("{not json"), ErrorKind::Malformed),
        (
            Message::text(r#"{"launch":"missiles"}"#),
            ErrorKind::Malformed,
        ),
        (
            Message::binary(vec![0u8, 159, 146, 150]),
            ErrorKind::Malformed,
        ),
        (
            Message::text("x".repeat(MAX_CLIENT_FRAME + 1)),
            ErrorKind::TooLarge,
        ),
        (Message::text(encode(&ClientMsg::Begin)), ErrorKind::NotNow),
    ] {
        raw.send(frame).unwrap();
        assert_eq!(error_kind(&mut raw), kind);
    }
    // Still usable: a valid message is served.
    raw.send(Message::text(encode(&ClientMsg::Open {
        scenario: "stolen-credentials".into(),
        pace: Pace::Clocked,
    })))
    .unwrap();
    assert!(matches!(read_msg(&mut raw), Some(ServerMsg::Opened { .. })));
    // A frame far past the limit ends this connection at the transport, and nothing else.
    let _ = raw.send(Message::text("y".repeat(1024 * 1024)));
    let mut closed = false;
    for _ in 0..1000 {
        match raw.read() {
            Ok(Message::Close(_)) | Err(_) => {
                closed = true;
                break;
            }
            Ok(_) => {}
        }
    }
    assert!(closed, "the connection stayed open after a 1 MiB frame");
    let (status, health) = server.http("GET", "/api/health", None);
    assert_eq!((status, health["status"].as_str()), (200, Some("ok")));
    // The seat was let go and can be joined again, its session still there.
    let again = server.join(1, "Ada");
    assert!(matches!(next(&again), ServerMsg::Welcome { .. }));
    assert!(matches!(next(&again), ServerMsg::Opened { .. }));
}

#[test]
fn the_facilitator_api_wants_the_token_and_nothing_else() {
    let server = Server::start(2, 1.0, 30);
    let token = server.running().facilitator_token().to_string();
    assert_eq!(server.http("GET", "/api/seats", None).0, 401);
    assert_eq!(server.http("GET", "/api/seats", Some("wrong")).0, 403);
    // A trainee's credential is not the facilitator's.
    assert_eq!(
        server.http("GET", "/api/seats", Some(&server.code(1))).0,
        403
    );
    assert_eq!(
        server
            .http("POST", "/api/seats/1/code", Some(&server.code(1)))
            .0,
        403
    );
    assert_eq!(server.http("POST", "/api/seats/1/code", None).0, 401);
    // The nodes' load (a swarm's), the same: the facilitator's alone.
    assert_eq!(server.http("GET", "/api/nodes", None).0, 401);
    assert_eq!(server.http("GET", "/api/nodes", Some("wrong")).0, 403);
    assert_eq!(
        server.http("GET", "/api/nodes", Some(&server.code(1))).0,
        403
    );
    let (status, nodes) = server.http("GET", "/api/nodes", Some(&token));
    assert_eq!(status, 200);
    assert_eq!(
        nodes,
        serde_json::json!([]),
        "labs on this machine: no nodes"
    );
    let (status, seats) = server.http("GET", "/api/seats", Some(&token));
    assert_eq!(status, 200);
    assert_eq!(seats.as_array().unwrap().len(), 2);
    assert_eq!(seats[0]["code"], server.code(1));
    // The token also works as a query parameter, as the printed URL carries it.
    let (status, _) = server.http("GET", &format!("/api/seats?token={token}"), None);
    assert_eq!(status, 200);
    assert_eq!(
        server.http("POST", "/api/seats/9/code", Some(&token)).0,
        404
    );
    // Health is public and holds no secret.
    let (status, health) = server.http("GET", "/api/health", None);
    assert_eq!(status, 200);
    let text = health.to_string();
    assert!(
        !text.contains(&token) && !text.contains(&server.code(1)),
        "{text}"
    );
    assert_eq!(server.http("GET", "/nothing/here", None).0, 404);
}

#[test]
fn a_reset_code_drops_the_holder_and_the_new_code_resumes_the_session() {
    let server = Server::start(1, 1.0, 30);
    let token = server.running().facilitator_token().to_string();
    let old = server.code(1);
    let first = server.join(1, "Ada");
    let before = begin_clocked(&first, 1000);
    let (status, body) = server.http("POST", "/api/seats/1/code", Some(&token));
    assert_eq!(status, 200);
    let fresh = body["code"].as_str().unwrap().to_string();
    assert_ne!(fresh, old);
    let closed = wait_for(&first, "the seat closing", |m| {
        matches!(m, ServerMsg::Error { .. })
    });
    assert!(
        matches!(
            closed,
            ServerMsg::Error {
                kind: ErrorKind::Closed,
                ..
            }
        ),
        "{closed:?}"
    );
    assert_eq!(
        refusal(remote::connect(&server.url(), &old, "Ada")),
        ErrorKind::BadCode
    );
    // Nobody watches for a second (of session time, at 1x); the session goes on.
    std::thread::sleep(Duration::from_secs(1));
    let second = remote::connect(&server.url(), &fresh, "Ada").unwrap();
    assert!(matches!(next(&second), ServerMsg::Welcome { .. }));
    assert!(matches!(next(&second), ServerMsg::Opened { .. }));
    assert!(matches!(next(&second), ServerMsg::LabReady { .. }));
    // The session went on while nobody watched: the clock is past where the first client left.
    match wait_for(&second, "a view", |m| matches!(m, ServerMsg::View(_))) {
        ServerMsg::View(v) => assert!(v.now_ms >= before + 750, "{} vs {before}", v.now_ms),
        _ => unreachable!(),
    }
}

#[test]
fn a_dropped_client_reconnects_with_its_code_and_resumes() {
    let server = Server::start(1, 20.0, 30);
    let first = server.join(1, "Ada");
    let left_at = begin_clocked(&first, 5000);
    drop(first);
    // The server notices the close and frees the seat for the same code.
    let mut second = None;
    for _ in 0..100 {
        match remote::connect(&server.url(), &server.code(1), "Ada") {
            Ok(conn) => {
                second = Some(conn);
                break;
            }
            Err(ConnectError::Refused {
                kind: ErrorKind::InUse,
                ..
            }) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => panic!("{e}"),
        }
    }
    let second = second.expect("the seat was never freed");
    assert!(matches!(next(&second), ServerMsg::Welcome { .. }));
    assert!(matches!(next(&second), ServerMsg::Opened { .. }));
    assert!(matches!(next(&second), ServerMsg::LabReady { .. }));
    match next(&second) {
        ServerMsg::View(v) => assert!(v.now_ms >= left_at, "{} < {left_at}", v.now_ms),
        other => panic!("{other:?}"),
    }
    // The resumed session is this client's to end: it is scored as any other.
    second.send(ClientMsg::Finish).unwrap();
    match wait_for(&second, "the score", |m| {
        matches!(m, ServerMsg::Over { .. })
    }) {
        ServerMsg::Over { card, .. } => assert_eq!(card.total, 0, "nobody defended"),
        _ => unreachable!(),
    }
}

#[test]
fn join_attempts_past_the_limit_are_refused_until_it_refills() {
    let server = Server::start(1, 1.0, 3);
    let url = server.url();
    for _ in 0..3 {
        assert_eq!(
            refusal(remote::connect(&url, "WRONGONE", "Eve")),
            ErrorKind::BadCode
        );
    }
    // The right code does not help a guesser over the limit.
    assert_eq!(
        refusal(remote::connect(&url, &server.code(1), "Eve")),
        ErrorKind::RateLimited
    );
}

#[test]
fn stopping_the_server_ends_every_session_and_writes_its_record() {
    let mut server = Server::start(2, 1.0, 30);
    let conns: Vec<Connection> = (1..=2).map(|seat| server.join(seat, "Ada")).collect();
    for conn in &conns {
        begin_clocked(conn, 1000);
    }
    let addr = server.addr();
    server.stop();
    for conn in &conns {
        let closed = wait_for(conn, "the server closing", |m| {
            matches!(m, ServerMsg::Error { .. })
        });
        assert!(matches!(
            closed,
            ServerMsg::Error {
                kind: ErrorKind::Closed,
                ..
            }
        ));
    }
    let records = server.records();
    assert_eq!(records.len(), 2);
    for path in records {
        let record = bulkhead_engine::record::Record::read(&path).unwrap();
        let closing = record.lines.last().unwrap();
        assert!(
            matches!(
                closing,
                RecordLine::Phase {
                    phase: Phase::Debrief,
                    ..
                }
            ),
            "{}: the record has no closing line: {closing:?}",
            path.display()
        );
    }
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "still listening"
    );
}
