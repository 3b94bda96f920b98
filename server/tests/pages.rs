//! The workshop's pages over real sockets: who may open each page, stream and export and post
//! each form (nobody, a wrong secret, another seat's, the right one), that forms need the
//! page's anti-forgery value and the same origin, that public pages and streams carry no
//! secret, and that the facilitator's and mentor's controls act on the seat: pause, extend, end
//! and export; whisper, hint and inject reaching the trainee's client and the record.

mod harness;

use std::time::{Duration, Instant};

use bulkhead_engine::Phase;
use bulkhead_engine::score::MomentKind;
use bulkhead_host::remote::{self, ConnectError};
use bulkhead_host::{ClientMsg, ErrorKind, Pace, ServerMsg};
use harness::{SEED, Server, form_secret, inject_source, mentor_key, request, wait_for};

const CONSOLE: &str = "/facilitator";

fn bearer(secret: &str) -> String {
    format!("Bearer {secret}")
}

fn cookie(name: &str, value: &str) -> String {
    format!("{name}={value}")
}

/// The console as the facilitator sees it.
fn console(server: &Server) -> String {
    let token = server.running().facilitator_token().to_string();
    let page = request(
        server,
        "GET",
        CONSOLE,
        &[("authorization", &bearer(&token))],
        None,
    );
    assert_eq!(page.status, 200);
    page.body
}

fn seat_status(server: &Server, seat: u32) -> serde_json::Value {
    let token = server.running().facilitator_token().to_string();
    let (status, seats) = server.http("GET", "/api/seats", Some(&token));
    assert_eq!(status, 200);
    seats.as_array().unwrap()[seat as usize - 1].clone()
}

/// Poll a seat's status until `ok` holds (at most 20 s).
fn until(server: &Server, seat: u32, what: &str, ok: impl Fn(&serde_json::Value) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = seat_status(server, seat);
        if ok(&status) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {status}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn every_page_stream_and_export_wants_its_own_credential() {
    let server = Server::start(2, 0.0, 100);
    let token = server.running().facilitator_token().to_string();
    let page = console(&server);
    let (key1, key2) = (mentor_key(&page, 1), mentor_key(&page, 2));
    let code = server.code(1);
    let facilitator_only = [
        CONSOLE,
        "/facilitator/events",
        "/facilitator/export.csv",
        "/facilitator/export.json",
    ];
    for path in facilitator_only {
        let get = |headers: &[(&str, &str)]| request(&server, "GET", path, headers, None).status;
        assert_eq!(get(&[]), 401, "{path} without a credential");
        assert_eq!(get(&[("authorization", "Bearer nope")]), 403, "{path}");
        assert_eq!(
            get(&[("authorization", &bearer(&code))]),
            403,
            "{path}: a join code"
        );
        assert_eq!(
            get(&[("authorization", &bearer(&key1))]),
            403,
            "{path}: a mentor key"
        );
        let wrong_cookie = cookie("bulkhead_facilitator", &key1);
        assert_eq!(
            get(&[("cookie", &wrong_cookie)]),
            403,
            "{path}: a wrong cookie"
        );
        assert_eq!(get(&[("authorization", &bearer(&token))]), 200, "{path}");
        let right_cookie = cookie("bulkhead_facilitator", &token);
        assert_eq!(get(&[("cookie", &right_cookie)]), 200, "{path}");
    }
    for path in ["/mentor/1", "/mentor/1/events"] {
        let get = |headers: &[(&str, &str)]| request(&server, "GET", path, headers, None).status;
        assert_eq!(get(&[]), 401, "{path} without a credential");
        assert_eq!(
            get(&[("authorization", &bearer(&key2))]),
            403,
            "{path}: seat 2's key"
        );
        let misplaced = cookie("bulkhead_mentor_1", &key2);
        assert_eq!(
            get(&[("cookie", &misplaced)]),
            403,
            "{path}: seat 2's key as seat 1's"
        );
        let other_seat = cookie("bulkhead_mentor_2", &key2);
        assert_ne!(
            get(&[("cookie", &other_seat)]),
            200,
            "{path}: seat 2's cookie"
        );
        assert_eq!(
            get(&[("authorization", &bearer(&code))]),
            403,
            "{path}: a join code"
        );
        assert_eq!(get(&[("authorization", &bearer(&key1))]), 200, "{path}");
        assert_eq!(get(&[("cookie", &cookie("bulkhead_mentor_1", &key1))]), 200);
        assert_eq!(
            get(&[("authorization", &bearer(&token))]),
            200,
            "{path}: facilitator"
        );
    }
    let missing = request(
        &server,
        "GET",
        "/mentor/9",
        &[("authorization", &bearer(&token))],
        None,
    );
    assert_eq!(missing.status, 404);

    // Every action, as a script would call it: nobody, a wrong secret, a join code and another
    // seat's mentor key are refused before the seat hears of it; the right one is answered.
    let actions = [
        ("/facilitator/start-all", token.as_str()),
        ("/facilitator/seats/1/pause", token.as_str()),
        ("/facilitator/seats/1/code", token.as_str()),
        ("/mentor/1/whisper", key1.as_str()),
        ("/mentor/1/hint", key1.as_str()),
        ("/mentor/1/inject", key1.as_str()),
    ];
    for (path, right) in actions {
        let post = |headers: &[(&str, &str)]| {
            request(&server, "POST", path, headers, Some("text=hi&id=x")).status
        };
        assert_eq!(post(&[]), 401, "{path} without a credential");
        assert_eq!(post(&[("authorization", "Bearer nope")]), 403, "{path}");
        assert_eq!(
            post(&[("authorization", &bearer(&code))]),
            403,
            "{path}: a join code"
        );
        assert_eq!(
            post(&[("authorization", &bearer(&key2))]),
            403,
            "{path}: seat 2's key"
        );
        let answered = post(&[("authorization", &bearer(right))]);
        assert!(matches!(answered, 200 | 409), "{path}: {answered}");
    }
}

#[test]
fn a_link_is_swapped_for_a_strict_cookie_and_dropped_from_the_address() {
    let server = Server::start(2, 0.0, 100);
    let token = server.running().facilitator_token().to_string();
    let link = request(
        &server,
        "GET",
        &format!("{CONSOLE}?token={token}"),
        &[],
        None,
    );
    assert_eq!(link.status, 303);
    assert_eq!(link.header("location"), CONSOLE);
    let set = link.header("set-cookie");
    for part in [
        "bulkhead_facilitator=",
        "HttpOnly",
        "SameSite=Strict",
        "Path=/",
    ] {
        assert!(set.contains(part), "{set}");
    }
    let wrong = request(&server, "GET", &format!("{CONSOLE}?token=abc"), &[], None);
    assert_eq!(wrong.status, 403);
    assert!(wrong.header("set-cookie").is_empty());

    let key2 = mentor_key(&console(&server), 2);
    let elsewhere = request(&server, "GET", &format!("/mentor/1?key={key2}"), &[], None);
    assert_eq!(elsewhere.status, 403, "seat 2's link does not open seat 1");
    let own = request(&server, "GET", &format!("/mentor/2?key={key2}"), &[], None);
    assert_eq!(own.status, 303);
    let set = own.header("set-cookie");
    assert!(
        set.contains("bulkhead_mentor_2=") && set.contains("Path=/mentor/2"),
        "{set}"
    );

    // A renewed mentor link: the old key no longer opens the page.
    let renew = request(
        &server,
        "POST",
        "/facilitator/seats/2/mentor-key",
        &[("authorization", &bearer(&token))],
        None,
    );
    assert_eq!(renew.status, 200, "{}", renew.body);
    let old = request(
        &server,
        "GET",
        "/mentor/2",
        &[("authorization", &bearer(&key2))],
        None,
    );
    assert_eq!(old.status, 403);
}

#[test]
fn forms_need_the_pages_anti_forgery_value_and_the_same_origin() {
    let server = Server::start(2, 0.0, 100);
    let token = server.running().facilitator_token().to_string();
    let page = console(&server);
    let secret = form_secret(&page);
    let key1 = mentor_key(&page, 1);
    let mentor_page = request(
        &server,
        "GET",
        "/mentor/1",
        &[("authorization", &bearer(&key1))],
        None,
    );
    let mentor_secret = form_secret(&mentor_page.body);
    assert_ne!(
        secret, mentor_secret,
        "a mentor never learns the console's value"
    );
    let session = cookie("bulkhead_facilitator", &token);
    let host = server.addr().to_string();
    let post = |path: &str, headers: &[(&str, &str)], form: &str| {
        request(&server, "POST", path, headers, Some(form)).status
    };
    let renew = "/facilitator/seats/1/code";
    assert_eq!(post(renew, &[("cookie", &session)], ""), 403, "no value");
    assert_eq!(
        post(renew, &[("cookie", &session)], "form=abc"),
        403,
        "a wrong value"
    );
    let theirs = format!("form={mentor_secret}");
    assert_eq!(
        post(renew, &[("cookie", &session)], &theirs),
        403,
        "a mentor form's value"
    );
    let ours = format!("form={secret}");
    let evil = [
        ("cookie", session.as_str()),
        ("origin", "http://evil.example"),
    ];
    assert_eq!(post(renew, &evil, &ours), 403, "another origin");
    let cross = [
        ("cookie", session.as_str()),
        ("sec-fetch-site", "cross-site"),
    ];
    assert_eq!(post(renew, &cross, &ours), 403, "a cross-site request");
    let null = [("cookie", session.as_str()), ("origin", "null")];
    assert_eq!(
        post(renew, &null, &ours),
        403,
        "an opaque origin, no fetch metadata"
    );
    // Chromium's own form post from the console under a strict referrer policy.
    let chromium = [
        ("cookie", session.as_str()),
        ("origin", "null"),
        ("sec-fetch-site", "same-origin"),
    ];
    assert_eq!(
        post("/facilitator/seats/2/code", &chromium, &ours),
        303,
        "a same-origin post"
    );
    let key2 = mentor_key(&page, 2);
    let as_mentor = [("authorization", bearer(&key2))];
    let as_mentor: Vec<(&str, &str)> = as_mentor.iter().map(|(n, v)| (*n, v.as_str())).collect();
    assert_eq!(post(renew, &as_mentor, &ours), 403, "a mentor's key");
    let old_code = server.code(1);
    let origin = format!("http://{host}");
    let same = [("cookie", session.as_str()), ("origin", origin.as_str())];
    assert_eq!(post(renew, &same, &ours), 303, "the console's own form");
    let refused = remote::connect(&server.url(), &old_code, "Ada");
    assert!(
        matches!(
            refused,
            Err(ConnectError::Refused {
                kind: ErrorKind::BadCode,
                ..
            })
        ),
        "the old code is refused once renewed"
    );
    remote::connect(&server.url(), &server.code(1), "Ada").expect("the new code joins");

    // A mentor's cookie with another seat's form value is refused; with its own it is answered
    // (409: nothing is open to whisper to).
    let mentor_cookie = cookie("bulkhead_mentor_1", &key1);
    let seat2_page = request(
        &server,
        "GET",
        "/mentor/2",
        &[("authorization", &bearer(&key2))],
        None,
    );
    let seat2_secret = form_secret(&seat2_page.body);
    let whisper = |secret: &str| format!("form={secret}&text=hello&cost=0");
    let mentor = [("cookie", mentor_cookie.as_str())];
    assert_eq!(
        post("/mentor/1/whisper", &mentor, &whisper(&seat2_secret)),
        403
    );
    assert_eq!(post("/mentor/1/whisper", &mentor, &whisper(&secret)), 403);
    assert_eq!(
        post("/mentor/1/whisper", &mentor, &whisper(&mentor_secret)),
        409
    );
}

#[test]
fn public_pages_and_their_stream_carry_no_secret_and_escape_names() {
    let server = Server::start(2, 0.0, 100);
    let token = server.running().facilitator_token().to_string();
    let page = console(&server);
    let mut secrets = vec![token.clone(), form_secret(&page)];
    secrets.extend([1, 2].map(|s| mentor_key(&page, s)));
    secrets.extend([1, 2].map(|s| server.code(s)));
    let _held = remote::connect(&server.url(), &server.code(1), "<b>Ada</b>").unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let stream = loop {
        let stream = request(&server, "GET", "/scoreboard/events", &[], None);
        if stream.body.contains("Ada") || Instant::now() > deadline {
            break stream;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        stream
            .header("content-type")
            .starts_with("text/event-stream")
    );
    assert!(
        stream.body.contains("&lt;b&gt;Ada&lt;/b&gt;"),
        "{}",
        stream.body
    );
    for path in ["/", "/scoreboard", "/scoreboard?wall=1"] {
        let public = request(&server, "GET", path, &[], None);
        assert_eq!(public.status, 200, "{path}");
        assert!(
            public
                .header("content-security-policy")
                .contains("script-src 'self'")
        );
        assert!(!public.body.contains("<b>Ada"), "{path} escapes names");
        for secret in &secrets {
            assert!(
                !public.body.contains(secret.as_str()),
                "{path} shows a secret"
            );
        }
    }
    for secret in &secrets {
        assert!(
            !stream.body.contains(secret.as_str()),
            "the scoreboard stream shows a secret"
        );
    }
    let wall = request(&server, "GET", "/scoreboard?wall=1", &[], None);
    assert!(wall.body.contains("class=\"wall\""));
}

#[test]
fn the_facilitator_starts_pauses_extends_ends_and_exports_a_seat() {
    let server = Server::start(2, 20.0, 100);
    let token = server.running().facilitator_token().to_string();
    let act = |seat: u32, what: &str| {
        let path = format!("/facilitator/seats/{seat}/{what}");
        request(
            &server,
            "POST",
            &path,
            &[("authorization", &bearer(&token))],
            None,
        )
    };
    assert_eq!(act(1, "pause").status, 409, "nothing to pause yet");
    let started = act(1, "start");
    assert_eq!(started.status, 200, "{}", started.body);
    until(&server, 1, "the warm-up runs", |s| {
        s["phase"] == "warmup" && s["now_ms"].as_u64() > Some(2_000)
    });
    assert_eq!(act(1, "pause").status, 200);
    let held = seat_status(&server, 1)["now_ms"].as_u64().unwrap();
    std::thread::sleep(Duration::from_millis(600));
    let later = seat_status(&server, 1);
    assert_eq!(
        later["now_ms"].as_u64(),
        Some(held),
        "a paused clock stands still"
    );
    assert_eq!(later["paused"], true);
    assert_eq!(act(1, "resume").status, 200);
    until(&server, 1, "the clock runs again", |s| {
        s["now_ms"].as_u64() > Some(held)
    });
    let total = seat_status(&server, 1)["total_ms"].as_u64().unwrap();
    assert_eq!(act(1, "extend").status, 200);
    let extended = seat_status(&server, 1)["total_ms"].as_u64().unwrap();
    assert_eq!(extended, total + 120_000, "one press adds two minutes");
    assert_eq!(
        act(1, "start").status,
        409,
        "a running session is not started twice"
    );
    assert_eq!(act(1, "end").status, 200);
    until(&server, 1, "the score is in", |s| s["score"].is_u64());
    let score = seat_status(&server, 1)["score"].as_u64().unwrap();

    let csv = request(
        &server,
        "GET",
        "/facilitator/export.csv",
        &[("authorization", &bearer(&token))],
        None,
    );
    assert!(csv.header("content-disposition").contains("attachment"));
    let mut rows = csv::Reader::from_reader(csv.body.as_bytes());
    let head = rows.headers().unwrap().clone();
    let col = |name: &str| head.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = rows.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2, "one row per seat");
    assert_eq!(rows[0][col("seat")].to_string(), "1");
    assert_eq!(rows[0][col("score")].parse::<u64>().unwrap(), score);
    assert!(
        head.iter().any(|h| h == "detection"),
        "a column per component: {head:?}"
    );
    assert_eq!(rows[1][col("score")].to_string(), "", "seat 2 never played");

    let json = request(
        &server,
        "GET",
        "/facilitator/export.json",
        &[("authorization", &bearer(&token))],
        None,
    );
    let results: serde_json::Value = serde_json::from_str(&json.body).unwrap();
    let card = &results[0]["card"];
    assert_eq!(card["total"].as_u64(), Some(score));
    let components: i64 = card["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["points"].as_i64().unwrap())
        .sum();
    assert_eq!(
        components as u64, score,
        "the components add up to the score"
    );
    seat_report_and_record(&server, score);
    assert_eq!(act(1, "remove").status, 200);
    until(&server, 1, "the lab is down", |s| s["lab"] == "down");

    let all = request(
        &server,
        "POST",
        "/facilitator/start-all",
        &[("authorization", &bearer(&token))],
        None,
    );
    assert_eq!(all.status, 200, "{}", all.body);
    assert!(all.body.contains("2 seat(s) starting"), "{}", all.body);
    until(&server, 2, "seat 2 runs", |s| s["phase"] == "warmup");
    let page = console(&server);
    assert!(
        page.contains("seat 1: start: "),
        "the activity log says what was done"
    );
}

#[test]
fn a_mentor_whispers_reveals_a_hint_and_fires_an_inject_into_the_record() {
    let server = Server::start(2, 40.0, 100);
    let token = server.running().facilitator_token().to_string();
    let key = mentor_key(&console(&server), 1);
    let conn = server.join(1, "Ada");
    conn.send(ClientMsg::Open {
        scenario: "stolen-credentials".into(),
        pace: Pace::Clocked,
    })
    .unwrap();
    wait_for(&conn, "the lab", |m| {
        matches!(m, ServerMsg::LabReady { .. })
    });
    conn.send(ClientMsg::Begin).unwrap();
    let mentor = |what: &str, form: &str| {
        let path = format!("/mentor/1/{what}");
        request(
            &server,
            "POST",
            &path,
            &[("authorization", &bearer(&key))],
            Some(form),
        )
    };
    let said = mentor("whisper", "text=Look+at+who+logs+in+from+where&cost=5");
    assert_eq!(said.status, 200, "{}", said.body);
    let heard = wait_for(&conn, "the whisper", |m| {
        matches!(m, ServerMsg::Whisper { .. })
    });
    assert_eq!(
        heard,
        ServerMsg::Whisper {
            from: "Your mentor".into(),
            text: "Look at who logs in from where".into()
        }
    );
    assert_eq!(
        mentor("whisper", "text=+++").status,
        409,
        "an empty whisper"
    );
    assert_eq!(mentor("whisper", "text=x&cost=lots").status, 400);
    assert_eq!(
        mentor("inject", "id=new-source").status,
        409,
        "injects wait for the live phase"
    );
    assert_eq!(mentor("hint", "").status, 200);
    wait_for(
        &conn,
        "the hint in view",
        |m| matches!(m, ServerMsg::View(v) if v.hints.len() == 1),
    );
    let live = wait_for(
        &conn,
        "the live phase",
        |m| matches!(m, ServerMsg::View(v) if v.phase == Phase::Live),
    );
    let ServerMsg::View(live) = live else {
        unreachable!()
    };
    assert_eq!(mentor("inject", "id=nope").status, 409, "an unknown inject");
    let fired = mentor("inject", "id=new-source");
    assert_eq!(fired.status, 200, "{}", fired.body);
    assert_eq!(
        mentor("inject", "id=new-source").status,
        409,
        "an inject fires once"
    );
    // The inject's new source reaches the trainee as an alert.
    let new_source = inject_source("stolen-credentials", "new-source", SEED);
    wait_for(&conn, "an alert on the inject's source", |m| {
        matches!(m, ServerMsg::View(v) if v.alerts.iter().any(|a| {
            a.alert.t_ms > live.now_ms && format!("{:?}", a.alert).contains(&new_source)
        }))
    });
    // The mentor page shows the inject as fired.
    let page = request(
        &server,
        "GET",
        "/mentor/1",
        &[("authorization", &bearer(&token))],
        None,
    );
    assert!(
        page.body.contains("(fired)"),
        "the page marks the inject fired"
    );
    assert!(
        page.body.contains("data-service=\"web\"") && page.body.contains(&new_source),
        "the mentor sees the trainee's map and the inject's source"
    );
    let over = wait_for(&conn, "the end", |m| matches!(m, ServerMsg::Over { .. }));
    let ServerMsg::Over { card, record, .. } = over else {
        unreachable!()
    };
    let mentor_moments: Vec<&str> = card
        .timeline
        .iter()
        .filter(|m| m.kind == MomentKind::Mentor)
        .map(|m| m.text.as_str())
        .collect();
    assert_eq!(mentor_moments.len(), 3, "{mentor_moments:?}");
    let hints = card.component("hints").unwrap();
    assert!(
        hints.points < -5,
        "the whisper's 5 and the hint's cost: {hints:?}"
    );
    let text = std::fs::read_to_string(record.unwrap()).unwrap();
    let acts: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("\"kind\":\"mentor\""))
        .collect();
    assert_eq!(acts.len(), 3, "every mentor act is in the record");
    assert!(acts.iter().any(|l| l.contains("new-source")));
}

#[test]
fn a_mentor_opening_the_page_cold_sees_the_session_at_once() {
    // Real time: the seat ticks every 250 ms, slower than the page waits for a first view.
    let server = Server::start(1, 1.0, 100);
    let token = server.running().facilitator_token().to_string();
    let auth = [("authorization", bearer(&token))];
    let auth: Vec<(&str, &str)> = auth.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let started = request(&server, "POST", "/facilitator/seats/1/start", &auth, None);
    assert_eq!(started.status, 200, "{}", started.body);
    until(&server, 1, "the warm-up runs", |s| s["phase"] == "warmup");
    for attempt in 0..5 {
        let page = request(&server, "GET", "/mentor/1", &auth, None);
        assert!(
            page.body.contains("class=\"phase\""),
            "open {attempt}: the first render shows the session"
        );
    }
}

/// Seat 1 has played (scored `score`), seat 2 has not: the report and record of a seat open for
/// the facilitator and that seat's mentor only, and say so where there is none yet.
fn seat_report_and_record(server: &Server, score: u64) {
    let token = server.running().facilitator_token().to_string();
    let page = console(server);
    assert!(
        page.contains("/mentor/1/report.html"),
        "the console links seat 1's report"
    );
    assert!(
        !page.contains("/mentor/2/report.html"),
        "seat 2 kept no record"
    );
    let (mentor_1, mentor_2) = (mentor_key(&page, 1), mentor_key(&page, 2));
    let get = |path: &str, secret: Option<&str>| {
        let auth = secret.map(bearer);
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("authorization", a.as_str())).collect();
        request(server, "GET", path, &headers, None)
    };
    for path in ["/mentor/1/report.html", "/mentor/1/record.jsonl"] {
        assert_eq!(get(path, None).status, 401, "{path} without a credential");
        assert_eq!(
            get(path, Some("not-the-token")).status,
            403,
            "{path}, a wrong one"
        );
        assert_eq!(
            get(path, Some(&mentor_2)).status,
            403,
            "{path}, another seat's mentor"
        );
        assert_eq!(
            get(path, Some(&mentor_1)).status,
            200,
            "{path}, the seat's mentor"
        );
    }
    let report = get("/mentor/1/report.html", Some(&token));
    assert_eq!(report.status, 200);
    assert!(report.header("content-type").starts_with("text/html"));
    assert!(report.body.contains("After-action report"));
    assert!(
        report.body.contains(&format!(">{score}<")),
        "the report shows the score {score}"
    );
    assert!(!report.body.contains("https://") && !report.body.contains("<script"));
    let record = get("/mentor/1/record.jsonl", Some(&token));
    assert!(record.header("content-disposition").contains("attachment"));
    let lines: Vec<serde_json::Value> = (record.body.lines())
        .map(|l| serde_json::from_str(l).expect("every line is whole JSON"))
        .collect();
    assert_eq!(lines[0]["kind"], "header");
    assert!(lines.len() > 10, "{} lines", lines.len());
    let none = get("/mentor/2/report.html", Some(&token));
    assert_eq!(none.status, 404);
    assert!(none.body.contains("no record yet"), "{}", none.body);
}

/// In a hardening phase the trainee's view carries the audit's findings and nothing of what
/// they mean to the attack; the mentor's page shows the same findings, and the posture so far
/// with which weaknesses the attack needs and which risks the business accepted.
#[test]
fn the_mentor_sees_which_findings_matter_and_the_trainee_only_the_findings() {
    let server = Server::start(1, 1.0, 600);
    let trainee = server.join(1, "dana");
    trainee
        .send(ClientMsg::Open {
            scenario: "lateral-movement".into(),
            pace: Pace::Clocked,
        })
        .unwrap();
    wait_for(&trainee, "lab", |m| matches!(m, ServerMsg::LabReady { .. }));
    trainee.send(ClientMsg::Begin).unwrap();
    let view = wait_for(
        &trainee,
        "the audit",
        |m| matches!(m, ServerMsg::View(v) if v.phase == Phase::Hardening && v.findings.len() == 6),
    );
    let seen = serde_json::to_string(&view).unwrap();
    assert!(
        !seen.contains("needed it") && !seen.contains("exploits"),
        "{seen}"
    );
    let key = mentor_key(&console(&server), 1);
    let page = request(
        &server,
        "GET",
        "/mentor/1",
        &[("cookie", &cookie("bulkhead_mentor_1", &key))],
        None,
    );
    assert_eq!(page.status, 200);
    assert_eq!(
        page.body.matches("data-finding=").count(),
        6,
        "{}",
        page.body
    );
    assert!(page.body.contains("invoice-worker SecretInEnv"));
    assert!(page.body.contains("Posture 0 / 200"), "{}", page.body);
    assert!(
        page.body.contains("the attack&#39;s steal needed it")
            || page.body.contains("the attack's steal needed it"),
        "{}",
        page.body
    );
    assert!(page.body.contains("kept, as the business asked"));
}
