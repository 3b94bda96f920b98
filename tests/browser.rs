//! The workshop's pages in a real browser: Debian's chromium, driven over WebDriver
//! (chromedriver) by fantoccini, against a real `bulkhead serve` on the simulated lab played by
//! real `bulkhead run --join` clients. The scoreboard updates live without a reload and gives no
//! secret away; the facilitator console renews a code, pauses, resumes, ends and exports what
//! the clients scored; the mentor page whispers to the trainee and fires an inject that lands in
//! the record. Without chromium and chromedriver each test skips loudly, unless
//! `BULKHEAD_REQUIRE_BROWSER=1` makes that a failure.

#[macro_use]
mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Run, Served, browser_here, joined_run, seats_json, stderr, stdout, step_source};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// The longest a page or a client is given to show what the test waits for. Generous: the
/// three tests share two cores with their servers, clients and browsers.
const LIMIT: Duration = Duration::from_secs(90);

/// A chromedriver child in its own process group, with the headless chromium it drives.
struct Browser {
    client: Option<Client>,
    driver: Child,
    /// The driver's log (`--log-path`), shown when something goes wrong.
    log: tempfile::TempDir,
}

impl Browser {
    /// Start chromedriver on a free port and open a headless chromium session through it.
    async fn open() -> Browser {
        use std::os::unix::process::CommandExt;
        let log = tempfile::tempdir().unwrap();
        let port = common::free_port();
        let driver = Command::new(common::CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg(format!(
                "--log-path={}",
                log.path().join("driver.log").display()
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own group: dropping the Browser ends the driver and every chromium process
            // it started, even when the test panicked before closing the session.
            .process_group(0)
            .spawn()
            .expect("chromedriver starts");
        let mut browser = Browser {
            client: None,
            driver,
            log,
        };
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": common::on_path(common::CHROMIUM).unwrap(),
                // As root (CI is) chromium needs --no-sandbox.
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900"],
            }),
        );
        let webdriver = format!("http://127.0.0.1:{port}");
        let mut builder =
            ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
        builder.capabilities(capabilities);
        // The driver listens a moment after it starts: retry the session until it answers.
        let client = until("a chromedriver session", LIMIT, async || {
            if let Ok(Some(status)) = browser.driver.try_wait() {
                panic!(
                    "chromedriver ended ({status})\n{}",
                    driver_log(&browser.log)
                );
            }
            builder.connect(&webdriver).await.map_err(|e| e.to_string())
        })
        .await;
        browser.client = Some(client);
        browser
    }

    fn c(&self) -> &Client {
        self.client.as_ref().unwrap()
    }

    async fn goto(&self, url: &str) {
        self.c().goto(url).await.unwrap();
    }

    /// Run a script in the page and return what it returns (`arguments[i]` are `args`).
    async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.c().execute(script, args).await.unwrap()
    }

    /// The trimmed text of the first element `css` selects, if any.
    async fn text(&self, css: &str) -> Option<String> {
        let found = self
            .js(
                "const e = document.querySelector(arguments[0]); return e ? e.textContent.trim() : null;",
                vec![json!(css)],
            )
            .await;
        found.as_str().map(str::to_owned)
    }

    /// Where the browser is and what it shows, for a failure's message.
    async fn describe(&self) -> String {
        let url = self.c().current_url().await.map(|u| u.to_string());
        let text = self
            .js(
                "return document.body ? document.body.innerText : '';",
                vec![],
            )
            .await;
        format!(
            "the browser at {}, showing:\n{}",
            url.unwrap_or_else(|e| e.to_string()),
            text.as_str().unwrap_or_default()
        )
    }

    /// How many elements `css` selects.
    async fn count(&self, css: &str) -> u64 {
        self.js(
            "return document.querySelectorAll(arguments[0]).length;",
            vec![json!(css)],
        )
        .await
        .as_u64()
        .unwrap()
    }

    /// A real click on the element `css` selects. A live region swaps its HTML a few times a
    /// second, so the element found may be gone by the click: find it again until a click lands.
    async fn click(&self, css: &str) {
        until(&format!("a click on {css}"), LIMIT, async || {
            let element = self
                .c()
                .find(Locator::Css(css))
                .await
                .map_err(|e| e.to_string())?;
            element.click().await.map_err(|e| e.to_string())
        })
        .await;
    }

    /// Send a page's form by a real click on its button `css`, and check that the server
    /// answered as a page's form is answered: a redirect back to the page `back`, not a refusal.
    async fn submit(&self, css: &str, back: &str) {
        // Gone once the browser shows another document: the form's answer.
        self.js("window.bulkheadBeforeSubmit = true;", vec![]).await;
        self.click(css).await;
        let path = until("the page after the form", LIMIT, async || {
            let state = self
                .c()
                .execute(
                    "return [window.bulkheadBeforeSubmit === true, document.readyState, location.pathname];",
                    vec![],
                )
                .await
                .map_err(|e| e.to_string())?;
            if state[0] == json!(false) && state[1] == json!("complete") {
                Ok(state[2].as_str().unwrap_or_default().to_owned())
            } else {
                Err(state.to_string())
            }
        })
        .await;
        assert_eq!(
            path,
            back,
            "the form of {css} was not answered with its page; {}",
            self.describe().await
        );
    }

    /// `GET path` from inside the page (its cookies go along): status and body.
    async fn fetch(&self, path: &str) -> (u64, String) {
        let got = self
            .c()
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 fetch(arguments[0]).then(r => r.text().then(t => done([r.status, t])))
                     .catch(e => done([0, String(e)]));",
                vec![json!(path)],
            )
            .await
            .unwrap();
        (
            got[0].as_u64().unwrap(),
            got[1].as_str().unwrap().to_owned(),
        )
    }

    /// End the session (chromium quits) and the driver.
    async fn close(mut self) {
        if let Some(client) = self.client.take() {
            let _ = client.close().await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The group of the driver this test started (its id is the driver's pid): the driver
        // and any chromium it left behind.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.driver.id())])
            .status();
        let _ = self.driver.wait();
    }
}

/// The browser tests run one at a time: each drives a server, its clients and a browser, and
/// three at once on a 2-core host starve the clients (seen: a lockstep trainee stalled and a
/// session left waiting while its page waited for it).
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The last lines of a driver's log.
fn driver_log(dir: &tempfile::TempDir) -> String {
    let text = std::fs::read_to_string(dir.path().join("driver.log")).unwrap_or_default();
    let tail: Vec<&str> = text.lines().rev().take(30).collect();
    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
}

/// Poll `probe` every 100 ms until it returns `Ok`; past `limit`, fail with what it last saw.
async fn until<T>(
    what: &str,
    limit: Duration,
    mut probe: impl AsyncFnMut() -> Result<T, String>,
) -> T {
    let started = Instant::now();
    loop {
        match probe().await {
            Ok(value) => return value,
            Err(seen) => assert!(
                started.elapsed() < limit,
                "no {what} after {limit:?}; last seen: {seen}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Wait for a client to exit; its exit code.
async fn exited(run: &mut Run, what: &str) -> Option<i32> {
    until(what, LIMIT, async || match run.child.try_wait().unwrap() {
        Some(status) => Ok(status.code()),
        None => Err(run.output()),
    })
    .await
}

/// A client's score card: the JSON object its `--json` prints once its session is over.
async fn card_of(run: &mut Run, what: &str) -> Value {
    let code = exited(run, what).await;
    assert_eq!(code, Some(0), "{what}\n{}", run.output());
    serde_json::from_str(&stdout(run)).unwrap_or_else(|e| panic!("{what}: {e}\n{}", run.output()))
}

/// `bulkhead run ... --join` to completion: its exit code and stderr.
fn run_to_end(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_bulkhead"))
        .args(args)
        .env("BULKHEAD_DATA", env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The points of a score cell: "981 / 1000" is 981.
fn points(cell: &str) -> Option<u64> {
    let (score, max) = cell.split_once(" / ")?;
    (max.trim() == "1000").then_some(())?;
    score.trim().parse().ok()
}

/// A CSV's records, with quoted fields (RFC 4180) read as the export writes them.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => field.push(c),
        }
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push(record);
    }
    records
}

/// The CSV's rows as maps from its header's names.
fn csv_rows(text: &str) -> Vec<std::collections::BTreeMap<String, String>> {
    let mut records = parse_csv(text).into_iter();
    let head = records.next().expect("a header line");
    records
        .map(|r| {
            assert_eq!(r.len(), head.len(), "a row as wide as the header: {r:?}");
            head.iter().cloned().zip(r).collect()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scoreboard_updates_live_without_reload() {
    if !browser_here("scoreboard_updates_live_without_reload") {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().await;
    let started = Instant::now();
    let served = Served::start_sim(&["--seats", "3", "--time-scale", "20"]);
    let browser = Browser::open().await;
    browser.goto(&format!("{}/scoreboard", served.url)).await;
    assert_eq!(
        browser
            .count("div#board[data-live=\"/scoreboard/events\"]")
            .await,
        1
    );
    // Gone if anything reloads the page: the updates must arrive as events into this one.
    browser.js("window.bulkheadMarker = 42;", vec![]).await;
    let mut clients: Vec<Run> = served
        .codes
        .iter()
        .map(|code| joined_run(&served.url, code, "stolen-credentials", "bot"))
        .collect();
    // The public board never shows a secret: not while sessions run, not once they are over.
    let secrets: Vec<&str> = std::iter::once(served.token.as_str())
        .chain(served.codes.iter().map(String::as_str))
        .collect();
    let mut saw_running = false;
    let scores = until("three scores on the board", LIMIT, async || {
        let source = browser.c().source().await.unwrap();
        for secret in &secrets {
            assert!(
                !source.contains(secret),
                "the scoreboard shows a secret:\n{source}"
            );
        }
        let mut scores = Vec::new();
        for seat in 1..=3 {
            let row = format!("#board table.board tbody tr[data-seat=\"{seat}\"]");
            let score = browser.text(&format!("{row} td.score")).await;
            if score.as_deref() == Some("hidden") {
                saw_running = true;
            }
            scores.push(score.as_deref().and_then(points));
        }
        scores
            .iter()
            .copied()
            .collect::<Option<Vec<u64>>>()
            .ok_or(format!("scores {scores:?}"))
    })
    .await;
    figure!(
        "browser: three seats scored on the live scoreboard {:.1} s after the server started",
        started.elapsed().as_secs_f64()
    );
    assert!(
        saw_running,
        "the board never showed a running session (score hidden)"
    );
    assert_eq!(
        browser.js("return window.bulkheadMarker;", vec![]).await,
        json!(42),
        "the scoreboard reloaded"
    );
    let updates = browser
        .js(
            "return Number(document.getElementById('board').dataset.updates || 0);",
            vec![],
        )
        .await;
    assert!(updates.as_u64().unwrap() > 1, "live updates: {updates}");
    for (seat, client) in clients.iter_mut().enumerate() {
        let card = card_of(client, &format!("seat {}'s client", seat + 1)).await;
        assert_eq!(
            Some(scores[seat]),
            card["total"].as_u64(),
            "seat {}: the board's score and the client's card",
            seat + 1
        );
        let row = format!("#board tr[data-seat=\"{}\"]", seat + 1);
        assert_eq!(
            browser.text(&format!("{row} td.phase")).await.as_deref(),
            Some("Debrief")
        );
        assert_eq!(
            browser.text(&format!("{row} td.grade")).await.as_deref(),
            card["grade"].as_str()
        );
    }
    // The projector's layout of the same board.
    browser
        .goto(&format!("{}/scoreboard?wall=1", served.url))
        .await;
    assert_eq!(browser.count("body.wall table.board tbody tr").await, 3);
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facilitator_console_resets_code_pauses_and_exports() {
    if !browser_here("facilitator_console_resets_code_pauses_and_exports") {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().await;
    // The clients here play lockstep (a simulated seat), as fast as they run: the session
    // moves only while one is attached and stepping, whatever --time-scale says; every step
    // below waits for what it needs, and a 10-minute session outlasts them.
    let served = Served::start_sim(&["--seats", "3", "--time-scale", "20"]);
    let url = served.url.as_str();
    let browser = Browser::open().await;
    browser
        .goto(&format!("{url}/facilitator?token={}", served.token))
        .await;
    // The token went into a cookie and out of the address bar.
    let here = browser.c().current_url().await.unwrap();
    assert_eq!(here.path(), "/facilitator");
    assert_eq!(here.query(), None, "{here}");
    assert_eq!(
        browser
            .count("div#seats[data-live=\"/facilitator/events\"]")
            .await,
        1
    );
    assert_eq!(
        browser
            .count("#seats table.seats tbody tr[data-seat]")
            .await,
        3
    );
    let seat1 = "#seats table.seats tbody tr[data-seat=\"1\"]";
    let old = browser
        .text(&format!("{seat1} td.code code"))
        .await
        .unwrap();
    assert_eq!(
        old, served.codes[0],
        "seat 1's code as the server printed it"
    );

    let mut first = joined_run(url, &old, "stolen-credentials", "idle");
    until("seat 1 joined on the console", LIMIT, async || {
        let phase = browser
            .text(&format!("{seat1} td.phase"))
            .await
            .unwrap_or_default();
        if phase == "waiting" {
            Err(phase)
        } else {
            Ok(())
        }
    })
    .await;

    browser
        .submit(
            &format!("{seat1} button[data-act=\"code\"]"),
            "/facilitator",
        )
        .await;
    let new = until("a new code on the console", LIMIT, async || {
        let code = browser
            .text(&format!("{seat1} td.code code"))
            .await
            .unwrap_or_default();
        if code != old && code.len() == 8 {
            Ok(code)
        } else {
            Err(format!("code {code:?}; {}", browser.describe().await))
        }
    })
    .await;
    // The old code joins nothing now: the user's mistake to fix (2), not a failure (1).
    let (code, text) = run_to_end(&["run", "stolen-credentials", "--join", url, "--code", &old]);
    assert_eq!(code, Some(2), "the old code\n{text}");
    // Whoever held the seat was dropped; the new code takes the seat over.
    let dropped = exited(&mut first, "the dropped client's exit").await;
    figure!("browser: the client dropped by a code reset exited with {dropped:?}");
    let mut second = joined_run(url, &new, "stolen-credentials", "idle");

    until("seat 1 running with a pause button", LIMIT, async || {
        let phase = browser
            .text(&format!("{seat1} td.phase"))
            .await
            .unwrap_or_default();
        let pause = browser
            .count(&format!("{seat1} button[data-act=\"pause\"]"))
            .await;
        let connected = seats_json(url, &served.token)[0]["connected"] == json!(true);
        if (phase == "Warm-up" || phase == "Live") && pause == 1 && connected {
            Ok(())
        } else {
            Err(format!(
                "phase {phase:?}, pause buttons {pause}, connected {connected}"
            ))
        }
    })
    .await;
    browser
        .submit(
            &format!("{seat1} button[data-act=\"pause\"]"),
            "/facilitator",
        )
        .await;
    let paused_at = until("seat 1 paused on the console", LIMIT, async || {
        let phase = browser
            .text(&format!("{seat1} td.phase"))
            .await
            .unwrap_or_default();
        let resume = browser
            .count(&format!("{seat1} button[data-act=\"resume\"]"))
            .await;
        if phase.ends_with("(paused)") && resume == 1 {
            Ok(browser.text(&format!("{seat1} td.clock")).await.unwrap())
        } else {
            Err(format!("phase {phase:?}, resume buttons {resume}"))
        }
    })
    .await;
    // Paused means the clock stands still: read it for 2 s, over a minute of session time at
    // the pace the client stepped it before.
    let watch = Instant::now();
    while watch.elapsed() < Duration::from_secs(2) {
        let clock = browser.text(&format!("{seat1} td.clock")).await.unwrap();
        assert_eq!(clock, paused_at, "the clock of a paused seat moved");
        assert!(
            browser
                .text(&format!("{seat1} td.phase"))
                .await
                .unwrap()
                .ends_with("(paused)")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    figure!("browser: seat 1's clock stood at {paused_at} for 2 s while paused");

    browser
        .submit(
            &format!("{seat1} button[data-act=\"resume\"]"),
            "/facilitator",
        )
        .await;
    until("seat 1's clock running again", LIMIT, async || {
        let phase = browser
            .text(&format!("{seat1} td.phase"))
            .await
            .unwrap_or_default();
        let clock = browser
            .text(&format!("{seat1} td.clock"))
            .await
            .unwrap_or_default();
        if !phase.contains("paused") && clock != paused_at {
            Ok(())
        } else {
            Err(format!("phase {phase:?}, clock {clock}"))
        }
    })
    .await;

    browser
        .submit(&format!("{seat1} button[data-act=\"end\"]"), "/facilitator")
        .await;
    let card = card_of(&mut second, "the ended seat's client").await;
    until("seat 1 in its debrief on the console", LIMIT, async || {
        let phase = browser
            .text(&format!("{seat1} td.phase"))
            .await
            .unwrap_or_default();
        if phase == "Debrief" {
            Ok(())
        } else {
            Err(phase)
        }
    })
    .await;
    // The log line is written once the seat has answered, which may be a poll after the
    // session's end reached the page.
    until(
        "the activity log naming the code, pause and end",
        LIMIT,
        async || {
            let log = browser.text("#seats ul.log").await.unwrap_or_default();
            if ["new code", "pause", "end"]
                .iter()
                .all(|done| log.contains(done))
            {
                Ok(())
            } else {
                Err(log)
            }
        },
    )
    .await;

    // The results, downloaded with the browser's cookie.
    let (status, csv) = browser.fetch("/facilitator/export.csv").await;
    assert_eq!(status, 200, "{csv}");
    let rows = csv_rows(&csv);
    assert_eq!(rows.len(), 3, "{csv}");
    let total = card["total"].as_u64().unwrap().to_string();
    assert_eq!(rows[0]["seat"], "1");
    assert_eq!(rows[0]["score"], total, "seat 1's score in the CSV\n{csv}");
    assert_eq!(rows[0]["max"], card["max"].as_u64().unwrap().to_string());
    assert_eq!(rows[0]["grade"], card["grade"].as_str().unwrap());
    for component in card["components"].as_array().unwrap() {
        let key = component["key"].as_str().unwrap();
        assert_eq!(
            rows[0].get(key).map(String::as_str),
            Some(component["points"].to_string().as_str()),
            "seat 1's {key} in the CSV\n{csv}"
        );
    }
    for row in &rows[1..] {
        assert_eq!(row["score"], "", "a seat nobody played has no score\n{csv}");
    }
    let (status, text) = browser.fetch("/facilitator/export.json").await;
    assert_eq!(status, 200, "{text}");
    let results: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(results[0]["score"], card["total"], "{text}");
    assert_eq!(
        results[0]["card"]["components"], card["components"],
        "{text}"
    );
    let api = seats_json(url, &served.token);
    assert_eq!(api[0]["score"], card["total"]);
    assert_eq!(api[0]["code"], json!(new));
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mentor_page_whispers_and_fires_an_inject() {
    if !browser_here("mentor_page_whispers_and_fires_an_inject") {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().await;
    let served = Served::start_sim(&["--seats", "2", "--time-scale", "20"]);
    let url = served.url.as_str();
    let browser = Browser::open().await;
    browser
        .goto(&format!("{url}/facilitator?token={}", served.token))
        .await;
    let href = |seat: u32| {
        format!(
            "const a = document.querySelector('#seats tr[data-seat=\"{seat}\"] a.mentor'); return a ? a.getAttribute('href') : null;"
        )
    };
    let mentor1 = browser
        .js(&href(1), vec![])
        .await
        .as_str()
        .unwrap()
        .to_owned();
    let mentor2 = browser
        .js(&href(2), vec![])
        .await
        .as_str()
        .unwrap()
        .to_owned();
    assert!(mentor1.starts_with("/mentor/1?key="), "{mentor1}");
    let key2 = mentor2
        .strip_prefix("/mentor/2?key=")
        .expect("seat 2's mentor link");

    // From here on the mentor's link is the only credential: without the facilitator's cookie
    // (which opens every mentor page too), the page and the record say "mentor".
    browser.c().delete_all_cookies().await.unwrap();
    browser.goto(&format!("{url}{mentor1}")).await;
    let here = browser.c().current_url().await.unwrap();
    assert_eq!((here.path(), here.query()), ("/mentor/1", None), "{here}");
    // The trainee starts only now, with the mentor watching: a headless client on a simulated
    // seat plays lockstep, as fast as it runs (the server's --time-scale paces clocked seats
    // only), so its ten minutes last seconds, and the browser's start must not eat them. The
    // session then reaches the open page by its stream, without a reload.
    assert_eq!(browser.count("#mentor span.phase").await, 0);
    let trainee = joined_run(url, &served.codes[0], "stolen-credentials", "idle");
    until("the session on the mentor page", LIMIT, async || {
        let phase = browser.text("#mentor span.phase").await;
        phase.ok_or(stderr(&trainee))
    })
    .await;

    let words = "Who else logs in from where today?";
    let textarea = browser
        .c()
        .find(Locator::Css("form.whisper textarea[name=\"text\"]"))
        .await
        .unwrap();
    textarea.send_keys(words).await.unwrap();
    assert_eq!(browser.count("form.whisper input[name=\"cost\"]").await, 1);
    browser.submit("form.whisper button", "/mentor/1").await;
    let said = format!("Your mentor says: {words}");
    until("the whisper on the trainee's stderr", LIMIT, async || {
        let text = stderr(&trainee);
        if text.lines().any(|l| l.trim() == said) {
            Ok(())
        } else {
            Err(format!("stderr:\n{text}\n{}", browser.describe().await))
        }
    })
    .await;

    let inject = "#mentor button[data-inject=\"new-source\"]";
    until("the live phase on the mentor page", LIMIT, async || {
        let phase = browser.text("#mentor span.phase").await.unwrap_or_default();
        let ready = browser
            .js(
                "const b = document.querySelector(arguments[0]); return !!b && !b.disabled;",
                vec![json!(inject)],
            )
            .await;
        if phase == "Live" && ready == json!(true) {
            Ok(())
        } else {
            Err(format!("phase {phase:?}, inject enabled {ready}"))
        }
    })
    .await;
    // Every telemetry source in full, for the mentor: web's logs among them, lines counted.
    let web_logs = browser
        .js(
            "const r = document.querySelector('#mentor table.telemetry tr[data-source=\"web logs\"]'); return r ? Number(r.children[1].textContent) : null;",
            vec![],
        )
        .await;
    assert!(
        web_logs.as_u64().is_some_and(|n| n > 0),
        "web logs: {web_logs}"
    );
    // Each alert row: its id, its text, the truth the mentor sees and the trainee's verdict.
    let alert_rows = "return Array.from(document.querySelectorAll('#mentor table.alerts tr[data-alert]')).map(r => [r.dataset.alert, r.textContent, (r.querySelector('span.truth') || {}).textContent, (r.querySelector('td.verdict') || {}).textContent]);";
    let before = browser.js(alert_rows, vec![]).await;
    browser.submit(inject, "/mentor/1").await;
    until("the inject's button disabled", LIMIT, async || {
        let disabled = browser
            .js(
                "const b = document.querySelector(arguments[0]); return b ? b.disabled : null;",
                vec![json!(inject)],
            )
            .await;
        if disabled == json!(true) {
            Ok(())
        } else {
            Err(disabled.to_string())
        }
    })
    .await;
    // The record, kept on the server: where the inject must land, and what to show if the
    // page misses its alert.
    let record = seats_json(url, &served.token)[0]["record"]
        .as_str()
        .expect("seat 1's record path")
        .to_owned();
    // The injected login comes from the seat's variant's second address, which nothing else
    // in the scenario uses: the record's effect says which once the inject acts.
    let new_source = || {
        let text = std::fs::read_to_string(&record).unwrap_or_default();
        step_source(&text, "new-source-login")
    };
    let injected_lines = || {
        let text = match std::fs::read_to_string(&record) {
            Ok(text) => text,
            Err(e) => return format!("cannot read {record}: {e}"),
        };
        let source = new_source().unwrap_or_else(|| "(no effect yet)".into());
        let lines: Vec<String> = text
            .lines()
            .filter(|l| l.contains(&source) || l.contains("\"kind\":\"mentor\""))
            .map(|l| l.chars().take(300).collect())
            .collect();
        lines.join("\n")
    };
    // The inject's alert: a row the page had not shown before, naming the new source, true to
    // the attack (the mentor sees the truth) and untriaged (the idle trainee did nothing).
    let row = until("the inject's alert on the mentor page", LIMIT, async || {
        let now = browser.js(alert_rows, vec![]).await;
        let seen_before = |id: &Value| before.as_array().unwrap().iter().any(|b| &b[0] == id);
        let source = new_source();
        let new = now.as_array().unwrap().iter().find(|row| {
            let text = row[1].as_str().unwrap();
            !seen_before(&row[0]) && source.as_ref().is_some_and(|s| text.contains(s.as_str()))
        });
        new.cloned().ok_or_else(|| {
            format!(
                "alerts before {before}, now {now}; the record's inject and mentor lines:\n{}",
                injected_lines()
            )
        })
    })
    .await;
    assert_eq!(row[2], "attack", "{row}");
    assert_eq!(row[3], "untriaged", "{row}");

    // The record has the inject as the mentor's act.
    until("the inject in the record", LIMIT, async || {
        let text = std::fs::read_to_string(&record).unwrap_or_default();
        let fired = text.lines().any(|line| {
            let line: Value = serde_json::from_str(line).unwrap_or_default();
            line["kind"] == "mentor"
                && line["by"] == "mentor"
                && line["act"]["kind"] == "inject"
                && line["act"]["id"] == "new-source"
        });
        if fired {
            Ok(())
        } else {
            Err(format!(
                "{} lines; inject and mentor lines:\n{}",
                text.lines().count(),
                injected_lines()
            ))
        }
    })
    .await;

    // Seat 2's key opens no other seat, though this browser holds seat 1's mentor cookie.
    let wrong = format!("/mentor/1?key={key2}");
    browser.goto(&format!("{url}{wrong}")).await;
    assert_eq!(
        browser.count("#mentor").await,
        0,
        "seat 1's session under seat 2's key"
    );
    let (status, page) = browser.fetch(&wrong).await;
    assert_eq!(status, 403, "{page}");
    assert!(browser.text("h1").await.is_some_and(|h| !h.is_empty()));
    browser.close().await;
}
