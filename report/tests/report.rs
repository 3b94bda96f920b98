//! The after-action report of real sessions: every shipped scenario played on the simulated lab
//! by the analyst bot and by an idle defender, its record read back from bytes, and the page
//! checked as a browser parses it (well formed, self-contained, every step and alert on the
//! timeline, a chart per company container, the card's score); then drawn by a real headless
//! chromium. Each record is played once per test binary and shared.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bulkhead_engine::defender::{Bot, Idle};
use bulkhead_engine::format;
use bulkhead_engine::record::LabFault;
use bulkhead_engine::score::{Truth, alert_truths};
use bulkhead_engine::{
    Command, Defender, EffectKind, MemoryRecord, Origin, Phase, Record, RecordLine, ScoreCard,
    Session, SimLab, Verdict, score,
};
use scraper::{ElementRef, Html, Selector};

const SCENARIOS: [&str; 4] = [
    "stolen-credentials",
    "resource-exhaustion",
    "insider-access",
    "poisoned-pdf",
];
const SEED: u64 = 3;
/// What a 10-minute session's page may weigh at most.
const MAX_BYTES: usize = 2 * 1024 * 1024;

/// One played session and its report.
struct Played {
    name: String,
    record: Record,
    card: ScoreCard,
    html: String,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Play a scenario on the simulated lab (`mentor` acts after every tick) and read its record
/// back from the bytes written.
fn play(
    id: &str,
    defender: &mut dyn Defender,
    name: &str,
    mut mentor: impl FnMut(&mut Session),
) -> Played {
    let root = root();
    let loaded = format::load_scenario(&root.join(format!("scenarios/{id}.ron")), &root)
        .unwrap_or_else(|e| panic!("{id} does not load: {e}"))
        .variant(SEED)
        .unwrap();
    let lab = SimLab::new(loaded.topology.clone(), &loaded.scenario, SEED);
    let buffer = MemoryRecord::default();
    let writer = buffer.writer();
    let mut session = Session::new(
        loaded.scenario,
        loaded.topology,
        Box::new(lab),
        SEED,
        writer,
    );
    // What `Session::run` does, with the mentor's turn after each tick.
    session.begin();
    loop {
        session.consult(defender);
        let more = session.tick();
        mentor(&mut session);
        if !more {
            break;
        }
    }
    drop(session);
    let bytes = buffer.bytes();
    let record = Record::from_reader(bytes.as_slice(), name).unwrap();
    let card = score(&record.scenario, &record.topology, &record.lines, None);
    let html = bulkhead_report::html(&record, &card);
    // To look at the pages: BULKHEAD_REPORT_KEEP=DIR keeps each one there.
    if let Some(dir) = std::env::var_os("BULKHEAD_REPORT_KEEP") {
        let file = name.replace(" (", "-").replace(')', "").replace(' ', "-");
        std::fs::write(Path::new(&dir).join(format!("{file}.html")), &html).unwrap();
    }
    Played {
        name: name.to_string(),
        record,
        card,
        html,
    }
}

/// Every scenario played by the bot and by an idle defender, in parallel, once.
fn all() -> &'static [Played] {
    static PLAYED: OnceLock<Vec<Played>> = OnceLock::new();
    PLAYED.get_or_init(|| {
        std::thread::scope(|s| {
            let runs: Vec<_> = SCENARIOS
                .iter()
                .flat_map(|id| [(*id, true), (*id, false)])
                .map(|(id, bot)| {
                    s.spawn(move || {
                        let name = format!("{id} ({})", if bot { "bot" } else { "idle" });
                        if bot {
                            play(id, &mut Bot::default(), &name, |_| {})
                        } else {
                            play(id, &mut Idle, &name, |_| {})
                        }
                    })
                })
                .collect();
            runs.into_iter().map(|r| r.join().unwrap()).collect()
        })
    })
}

fn sel(css: &str) -> Selector {
    Selector::parse(css).unwrap_or_else(|e| panic!("bad selector {css}: {e}"))
}

fn select<'a>(doc: &'a Html, css: &str) -> Vec<ElementRef<'a>> {
    doc.select(&sel(css)).collect()
}

fn text(e: &ElementRef) -> String {
    e.text().collect::<String>()
}

/// The page, parsed as a browser would: it must parse without a single error.
fn parse(p: &Played) -> Html {
    let doc = Html::parse_document(&p.html);
    assert!(
        doc.errors.is_empty(),
        "{}: the page is not well formed: {:?}",
        p.name,
        doc.errors
    );
    doc
}

const SECTIONS: [&str; 7] = [
    "score",
    "timeline",
    "response",
    "review",
    "containers",
    "alerts",
    "debrief",
];

#[test]
fn every_report_is_well_formed_small_and_has_every_section_and_one_timeline() {
    for p in all() {
        let doc = parse(p);
        assert_eq!(select(&doc, "svg#timeline-svg").len(), 1, "{}", p.name);
        assert_eq!(select(&doc, "svg.timeline").len(), 1, "{}", p.name);
        for id in SECTIONS {
            let heading = select(&doc, &format!("section#{id} > h2"));
            assert_eq!(heading.len(), 1, "{}: #{id}", p.name);
        }
        let size = p.html.len();
        assert!(size < MAX_BYTES, "{}: {size} bytes", p.name);
    }
}

/// One chart: a polyline of at most 300 points, and a band that says it is the warm-up range.
fn check_chart(p: &Played, service: &str, chart: &ElementRef) {
    let lines: Vec<_> = chart.select(&sel("svg polyline.series")).collect();
    assert_eq!(lines.len(), 1, "{}: {service} has samples", p.name);
    let points = lines[0].attr("points").unwrap().split(' ').count();
    let what = format!("{}: {service}: {points} points", p.name);
    assert!((2..=300).contains(&points), "{what}");
    let band = chart.select(&sel("g.warmup-range title")).next();
    let says = band.is_some_and(|t| text(&t).starts_with("warm-up range"));
    assert!(says, "{}: {service}: the band says what it is", p.name);
}

#[test]
fn every_company_container_has_its_four_charts_with_a_warmup_band() {
    for p in all() {
        let doc = parse(p);
        let company: Vec<&str> = p
            .record
            .topology
            .services
            .iter()
            .filter(|s| !s.range_only)
            .map(|s| s.id.as_str())
            .collect();
        let sections = select(&doc, "section.service");
        assert_eq!(sections.len(), company.len(), "{}", p.name);
        for service in company {
            let charts = select(&doc, &format!("figure.chart[data-service=\"{service}\"]"));
            let metrics: Vec<&str> = charts
                .iter()
                .filter_map(|c| c.attr("data-metric"))
                .collect();
            assert_eq!(
                metrics,
                ["cpu", "memory", "net-rx", "net-tx"],
                "{}: {service}",
                p.name
            );
            for chart in &charts {
                check_chart(p, service, chart);
            }
        }
    }
}

#[test]
fn a_report_fetches_nothing_and_links_only_inside_itself() {
    const BANNED: [&str; 8] = [
        "http://",
        "https://",
        "<script",
        "<img",
        "<iframe",
        "@import",
        "url(",
        "@font-face",
    ];
    for p in all() {
        let lower = p.html.to_lowercase();
        for banned in BANNED {
            assert!(
                !lower.contains(banned),
                "{}: the page holds {banned}",
                p.name
            );
        }
        let doc = parse(p);
        for e in doc
            .root_element()
            .descendants()
            .filter_map(ElementRef::wrap)
        {
            for (name, value) in e.value().attrs() {
                let name = name.to_lowercase();
                let inside = value.starts_with('#') || value.starts_with("data:");
                if name == "src" || name.ends_with("href") {
                    let tag = e.value().name();
                    assert!(
                        inside,
                        "{}: <{tag} {name}=\"{value}\"> points outside",
                        p.name
                    );
                }
            }
        }
        // Every fragment a link names is on the page.
        for a in select(&doc, "a[href^='#']") {
            let target = &a.attr("href").unwrap()[1..];
            let found = select(&doc, &format!("[id=\"{target}\"]")).len();
            assert_eq!(found, 1, "{}: #{target}", p.name);
        }
    }
}

/// The attack (or decoy) steps that ran: those the record holds an effect of.
fn steps_run(record: &Record, hostile: bool) -> BTreeSet<String> {
    record
        .lines
        .iter()
        .filter_map(|l| match l {
            RecordLine::Effect { effect, .. } => match &effect.origin {
                Origin::Attack { step } if hostile => Some(step.clone()),
                Origin::Decoy { step } if !hostile => Some(step.clone()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// Lines of the record that `f` picks.
fn count(record: &Record, f: impl Fn(&RecordLine) -> bool) -> usize {
    record.lines.iter().filter(|l| f(l)).count()
}

#[test]
fn the_timeline_holds_every_step_that_ran_and_every_alert() {
    for p in all() {
        let doc = parse(p);
        let timeline = doc.select(&sel("svg#timeline-svg")).next().unwrap();
        let within = |css: &str| timeline.select(&sel(css)).count();
        assert!(
            !steps_run(&p.record, true).is_empty(),
            "{}: the attack ran",
            p.name
        );
        for (hostile, kind) in [(true, "attack"), (false, "decoy")] {
            for step in steps_run(&p.record, hostile) {
                let css = format!("g.step[data-step=\"{step}\"][data-kind=\"{kind}\"]");
                assert_eq!(within(&css), 1, "{}: {kind} step {step}", p.name);
            }
        }
        for line in &p.record.lines {
            let RecordLine::Alert(a) = line else { continue };
            let mark = within(&format!("g.alert[data-alert=\"{}\"]", a.id));
            assert_eq!(mark, 1, "{}: alert #{} on the timeline", p.name, a.id);
            let row = select(&doc, &format!("tr#alert-{}", a.id)).len();
            assert_eq!(row, 1, "{}: alert #{} in the table", p.name, a.id);
        }
        let alerts = count(&p.record, |l| matches!(l, RecordLine::Alert(_)));
        assert_eq!(within("g.alert"), alerts, "{}", p.name);
        // Phases are shaded bands behind the lanes.
        assert_eq!(within("g.phase[data-phase=\"Warm-up\"]"), 1, "{}", p.name);
        assert_eq!(within("g.phase[data-phase=\"Live\"]"), 1, "{}", p.name);
    }
}

#[test]
fn the_timeline_holds_every_verdict_and_mitigation() {
    for p in all() {
        let doc = parse(p);
        let timeline = doc.select(&sel("svg#timeline-svg")).next().unwrap();
        let within = |css: &str| timeline.select(&sel(css)).count();
        let triages = count(&p.record, |l| {
            matches!(
                l,
                RecordLine::Command {
                    command: Command::Triage { .. },
                    refused: None,
                    ..
                }
            )
        });
        assert_eq!(within("g.triage"), triages, "{}: verdicts", p.name);
        let mitigations = count(&p.record, |l| {
            matches!(l, RecordLine::Effect { effect, .. }
                if effect.origin == Origin::Defender && matches!(effect.kind, EffectKind::Mitigate(_)))
        });
        assert_eq!(
            within("g.mitigation"),
            mitigations,
            "{}: mitigations",
            p.name
        );
        let confirmed = within("g.mitigation[data-confirmed=\"confirmed\"]");
        if p.name.contains("(bot)") {
            assert!(
                confirmed > 0,
                "{}: the bot's mitigations took effect",
                p.name
            );
        } else {
            assert_eq!(triages + mitigations, 0, "{}: idle did nothing", p.name);
        }
    }
}

#[test]
fn the_score_shown_is_the_cards_with_every_line() {
    for p in all() {
        let doc = parse(p);
        let total = select(&doc, "#score-total");
        assert_eq!(total.len(), 1);
        assert_eq!(
            text(&total[0]).trim(),
            p.card.total.to_string(),
            "{}",
            p.name
        );
        let grade = text(&select(&doc, "#score-grade")[0]);
        assert_eq!(grade.trim(), p.card.grade, "{}", p.name);
        assert_eq!(
            select(&doc, "li.badge").len(),
            p.card.badges.len(),
            "{}",
            p.name
        );
        for c in &p.card.components {
            let css = format!("tbody.component[data-component=\"{}\"]", c.key);
            let body = select(&doc, &css);
            assert_eq!(body.len(), 1, "{}: {}", p.name, c.key);
            let head = text(&body[0].select(&sel("td.points")).next().unwrap());
            let shown = head.starts_with(&c.points.to_string());
            assert!(shown, "{}: {}: {head}", p.name, c.key);
            let lines: Vec<String> = body[0]
                .select(&sel("tr.line td.text"))
                .map(|e| text(&e))
                .collect();
            let expected: Vec<&str> = c.lines.iter().map(|l| l.text.as_str()).collect();
            assert_eq!(lines, expected, "{}: {}", p.name, c.key);
        }
    }
}

#[test]
fn the_response_table_has_a_row_per_attack_step_with_when_it_was_contained() {
    for p in all() {
        let doc = parse(p);
        for step in &p.record.scenario.attack {
            let row = select(&doc, &format!("tr[data-response=\"{}\"]", step.id));
            assert_eq!(row.len(), 1, "{}: {}", p.name, step.id);
            let cells = text(&row[0]);
            let what = format!("{}: {}: {cells}", p.name, step.id);
            match p.card.facts.contained_ms.get(&step.id) {
                Some(Some(t)) => {
                    let clock = format!("{}:{:02}", t / 60_000, t / 1000 % 60);
                    assert!(cells.contains(&clock), "contained at {clock}: {what}");
                }
                Some(None) => assert!(cells.contains("not contained"), "{what}"),
                None => assert!(cells.contains("not an objective"), "{what}"),
            }
        }
    }
}

/// The verdict standing on each alert at the end of the record.
fn standing(record: &Record) -> BTreeMap<u32, Verdict> {
    let mut standing = BTreeMap::new();
    for l in &record.lines {
        if let RecordLine::Command {
            command: Command::Triage { alert, verdict },
            refused: None,
            ..
        } = l
        {
            standing.insert(alert.id().unwrap(), *verdict);
        }
    }
    standing
}

#[test]
fn missed_and_cost_list_what_the_truth_and_the_card_say() {
    for p in all() {
        let doc = parse(p);
        let truths = alert_truths(&p.record.scenario, &p.record.topology, &p.record.lines);
        let warmup = p.record.scenario.live_start_ms();
        let standing = standing(&p.record);
        let listed = |css: String| select(&doc, &css).len();
        for l in &p.record.lines {
            let RecordLine::Alert(a) = l else { continue };
            let live = a.t_ms >= warmup;
            let escalated = standing.get(&a.id) == Some(&Verdict::Incident);
            let attack = truths[&a.id] == Truth::Attack;
            let missed = listed(format!("#missed-list li[data-missed-alert=\"{}\"]", a.id));
            assert_eq!(
                missed,
                usize::from(live && attack && !escalated),
                "{}: #{}",
                p.name,
                a.id
            );
            let cost = listed(format!("#cost-list li[data-false-escalation=\"{}\"]", a.id));
            assert_eq!(
                cost,
                usize::from(live && !attack && escalated),
                "{}: #{}",
                p.name,
                a.id
            );
        }
        let card_lines = p.card.components.iter().flat_map(|c| &c.lines);
        let deductions = card_lines.filter(|l| l.points < 0).count();
        assert_eq!(
            listed("#cost-list li.deduction".into()),
            deductions,
            "{}",
            p.name
        );
        for (step, contained) in &p.card.facts.contained_ms {
            let css = format!("#missed-list li[data-uncontained=\"{step}\"]");
            assert_eq!(
                listed(css),
                usize::from(contained.is_none()),
                "{}: {step}",
                p.name
            );
        }
    }
    // The idle defender contains nothing: every objective step is listed as missed.
    let idle = all().iter().filter(|p| p.name.contains("idle"));
    assert!(
        idle.into_iter()
            .all(|p| p.html.contains("data-uncontained"))
    );
}

const NASTY: &str = "look at <script>alert(1)</script> & \"logins\"";

/// Stolen credentials defended by the bot, with a mentor who whispers (markup), fires the
/// `new-source` inject, reveals a hint and adds a minute.
fn with_mentor() -> Played {
    let mut acted = 0;
    play(
        "stolen-credentials",
        &mut Bot::default(),
        "with a mentor",
        |s: &mut Session| {
            let live_s = s.now().saturating_sub(s.scenario().live_start_ms()) / 1000;
            if s.phase() != Phase::Live || live_s < 60 + 40 * acted {
                return;
            }
            match acted {
                0 => s.whisper(NASTY.into(), 5, "ana"),
                1 => s.inject("new-source", "ana").unwrap(),
                2 => {
                    s.reveal_hint("ana").unwrap();
                }
                3 => s.extend_live(60, "ana").unwrap(),
                _ => return,
            }
            acted += 1;
        },
    )
}

#[test]
fn a_mentors_acts_and_an_inject_are_on_the_timeline_and_their_text_is_escaped() {
    let p = with_mentor();
    let doc = parse(&p);
    for kind in ["whisper", "inject", "revealed-hint", "extend"] {
        let css = format!("svg#timeline-svg g.help[data-help=\"{kind}\"]");
        assert_eq!(select(&doc, &css).len(), 1, "{kind}");
    }
    assert!(
        select(&doc, "script").is_empty(),
        "the whisper's text stays text"
    );
    let whisper = text(&select(&doc, "g.help[data-help=\"whisper\"] title")[0]);
    assert!(whisper.contains(NASTY), "{whisper}");
    // The inject's steps ran as the attack: on the timeline and in the response table.
    assert_eq!(p.card.facts.injects_fired, ["new-source"]);
    for step in ["new-source-login", "new-source-scrape"] {
        let mark = format!("svg#timeline-svg g.step[data-step=\"{step}\"][data-kind=\"attack\"]");
        assert_eq!(select(&doc, &mark).len(), 1, "{step}");
        assert_eq!(
            select(&doc, &format!("tr[data-response=\"{step}\"]")).len(),
            1,
            "{step}"
        );
    }
    // The whisper and the revealed hint cost: listed under what cost you, as on the card.
    let hints = p.card.component("hints").unwrap();
    let costs = hints.lines.iter().filter(|l| l.points < 0).count();
    assert!(costs >= 2, "{hints:?}");
    let listed: Vec<String> = select(&doc, "#cost-list li.deduction")
        .iter()
        .map(text)
        .collect();
    for line in hints.lines.iter().filter(|l| l.points < 0) {
        assert!(listed.iter().any(|l| l.contains(&line.text)), "{listed:?}");
    }
}

#[test]
fn a_record_cut_short_still_makes_a_page() {
    let base = &all()[0];
    for keep in [0, 1, base.record.lines.len() / 3] {
        let mut record = base.record.clone();
        record.lines.truncate(keep);
        let card = score(&record.scenario, &record.topology, &record.lines, None);
        let html = bulkhead_report::html(&record, &card);
        let p = Played {
            name: format!("first {keep} lines"),
            record,
            card,
            html,
        };
        let doc = parse(&p);
        assert_eq!(select(&doc, "svg#timeline-svg").len(), 1, "{}", p.name);
        assert_eq!(
            text(&select(&doc, "#score-total")[0]),
            p.card.total.to_string()
        );
    }
}

/// Where chromium is: on `PATH`, else Debian's place for it.
fn chromium() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("chromium"))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| Some(PathBuf::from("/usr/bin/chromium")).filter(|p| p.is_file()))
}

/// The child's exit, or `None` once `limit` passed (then its process group is killed).
fn wait_or_kill(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let group = format!("-{}", child.id());
    let _ = std::process::Command::new("kill")
        .args(["-KILL", "--", &group])
        .status();
    let _ = child.wait();
    None
}

/// Chromium's screenshot of the page, or `None` (said loudly) where there is no chromium.
fn screenshot(page: &Path, png: &Path, profile: &Path) -> Option<Vec<u8>> {
    let test = "chromium_draws_the_report";
    let Some(chromium) = chromium() else {
        if std::env::var("BULKHEAD_REQUIRE_BROWSER").is_ok_and(|v| v == "1") {
            panic!(
                "{test}: BULKHEAD_REQUIRE_BROWSER=1 but no chromium on PATH (Debian: apt-get install chromium)"
            );
        }
        // Straight to stderr, past the test harness's capture: a skip must be seen.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "\n!!!!! SKIPPED {test}: no chromium on PATH.\n!!!!! This test did NOT run; install chromium, or set BULKHEAD_REQUIRE_BROWSER=1 to make it fail instead.\n"
        );
        return None;
    };
    use std::os::unix::process::CommandExt;
    let mut child = std::process::Command::new(chromium)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
        ])
        .args(["--no-first-run", "--window-size=1280,900"])
        // A profile of its own: other tests may run chromium at the same time.
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", page.display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        // Its own process group, so that a hung chromium is ended with all its helpers.
        .process_group(0)
        .spawn()
        .expect("chromium starts");
    let status = wait_or_kill(&mut child, Duration::from_secs(90));
    assert!(png.is_file(), "chromium wrote no screenshot ({status:?})");
    Some(std::fs::read(png).unwrap())
}

#[test]
fn chromium_draws_the_report() {
    let p = all()
        .iter()
        .find(|p| p.name.starts_with("stolen-credentials (bot"))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("report.html");
    std::fs::write(&page, &p.html).unwrap();
    let Some(bytes) = screenshot(
        &page,
        &dir.path().join("shot.png"),
        &dir.path().join("profile"),
    ) else {
        return;
    };
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (1280, 900));
    let channels = info.color_type.samples();
    let pixels: Vec<&[u8]> = buf[..info.buffer_size()].chunks(channels).collect();
    let colours: BTreeSet<&[u8]> = pixels.iter().copied().collect();
    assert!(
        colours.len() >= 64,
        "only {} colours: a blank page?",
        colours.len()
    );
    // Text was drawn: a fair share of dark pixels (ink), and not a page of one colour.
    let dark = pixels
        .iter()
        .filter(|px| px[..3].iter().all(|&c| c < 96))
        .count();
    assert!(
        dark * 200 > pixels.len(),
        "{dark} dark pixels of {}",
        pixels.len()
    );
}

#[test]
fn the_range_s_faults_have_a_lane_of_their_own_only_when_there_were_any() {
    for p in all() {
        let doc = parse(p);
        assert!(
            select(&doc, "svg#timeline-svg g.fault").is_empty(),
            "{}",
            p.name
        );
    }
    // A session of the bot whose lab was held for a while and lost a network on the way.
    let played = &all()[0];
    let mut record = played.record.clone();
    let live = record.scenario.live_start_ms();
    let faults = [
        (
            live + 60_000,
            LabFault::Held {
                why: "Docker does not answer".into(),
            },
        ),
        (live + 60_000, LabFault::Resumed { held_s: 6.5 }),
        (
            live + 90_000,
            LabFault::NetworkRestored {
                zone: "data".into(),
                services: vec!["web".into(), "datastore".into()],
            },
        ),
    ];
    for (t_ms, fault) in faults {
        let at = (record.lines.iter()).position(|l| l.t_ms().is_some_and(|t| t > t_ms));
        let at = at.unwrap_or(record.lines.len());
        record.lines.insert(at, RecordLine::Fault { t_ms, fault });
    }
    let card = score(&record.scenario, &record.topology, &record.lines, None);
    let html = bulkhead_report::html(&record, &card);
    let doc = Html::parse_document(&html);
    assert!(doc.errors.is_empty(), "{:?}", doc.errors);
    let marks = select(&doc, "svg#timeline-svg g.fault title");
    let titles: Vec<String> = marks.iter().map(text).collect();
    assert_eq!(titles.len(), 3, "{titles:?}");
    assert!(titles[0].contains("clock is held"), "{titles:?}");
    assert!(titles[1].contains("after 6.5 s"), "{titles:?}");
    assert!(
        titles[2].contains("reconnected web, datastore"),
        "{titles:?}"
    );
    // The score section lists them too, none costing a point.
    let listed = select(&doc, "ul.faults li");
    assert_eq!(listed.len(), 3);
    assert_eq!(card.total, played.card.total, "faults cost nothing");
}
