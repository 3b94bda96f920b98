//! `/mentor/SEAT` (the seat's mentor link, or the facilitator's token): one trainee's session
//! live, their screen beside the lab's truth, and the mentor's means to step in: a whisper, the
//! scenario's next hint, an inject. Everything done here lands in the seat's record.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use bulkhead_engine::score::Truth;
use bulkhead_host::{MentorView, SeatControl};
use maud::{Markup, html};
use serde::Deserialize;

use crate::App;
use crate::access::{admit_form, admit_page, admit_reader, mentor_path};
use crate::pages::facilitator::{Back, answered, ask};
use crate::pages::{Fields, Layout, clock, live_region, page};
use crate::refusal::refusal_page;

/// How often a mentor's stream looks for a newer view (the seat rebuilds it at most 4 times a
/// second).
const REFRESH: Duration = Duration::from_millis(250);

fn no_seat() -> Response {
    refusal_page(
        StatusCode::NOT_FOUND,
        "No such seat",
        "Seats are numbered from 1: use the mentor link from the facilitator's page.",
    )
}

/// `GET /mentor/{seat}`
pub async fn show(
    State(app): State<App>,
    headers: HeaderMap,
    uri: Uri,
    Path(seat): Path<u32>,
) -> Response {
    let workshop = &app.workshop;
    let Some(secret) = workshop.mentor_form_secret(seat) else {
        return no_seat();
    };
    if let Err(response) = admit_page(workshop, &headers, &uri, Some(seat)) {
        return *response;
    }
    // The seat builds its view on its next turn once watched: wait a moment for it, so that
    // the page (and its no-script reload) shows the session at once.
    let Some(watching) = workshop.watch(seat) else {
        return no_seat();
    };
    let mut view = watching.view();
    for _ in 0..12 {
        if view.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
        view = watching.view();
    }
    let base = mentor_path(seat);
    let body = html! {
        h1 { "Mentor · seat " (seat) }
        // The seat's record so far, and its after-action report (404 until a session opens).
        p.small {
            a href=(super::report::report_href(seat)) target="_blank" { "After-action report" }
            " · "
            a href=(super::report::record_href(seat)) { "Record (JSON Lines)" }
        }
        (live_region("mentor", &format!("{base}/events"), fragment(seat, view.as_deref(), &secret)))
        section.panel {
            h2 { "Whisper" }
            form.whisper method="post" action=(format!("{base}/whisper")) {
                input type="hidden" name="form" value=(secret);
                textarea name="text" maxlength="500" rows="2" required placeholder="A nudge in your own words" {}
                label { "Cost in points " input type="number" name="cost" min="0" max="100" value="0"; }
                button.primary { "Send to the trainee" }
            }
        }
    };
    page(
        &format!("Mentor seat {seat}"),
        &workshop.name,
        Layout::Normal,
        body,
    )
}

/// `GET /mentor/{seat}/events`
pub async fn events(State(app): State<App>, headers: HeaderMap, Path(seat): Path<u32>) -> Response {
    let workshop = app.workshop.clone();
    let Some(secret) = workshop.mentor_form_secret(seat) else {
        return no_seat();
    };
    if let Err(response) = admit_reader(&workshop, &headers, Some(seat)) {
        return *response;
    }
    let Some(watching) = workshop.watch(seat) else {
        return no_seat();
    };
    crate::pages::live::polled(REFRESH, app.live.stopping(), move || {
        Some(fragment(seat, watching.view().as_deref(), &secret).into_string())
    })
    .into_response()
}

fn truth_label(truth: Option<&Truth>) -> Markup {
    match truth {
        Some(Truth::Attack) => html! { span.truth.attack { "attack" } },
        Some(Truth::Decoy) => html! { span.truth.decoy { "decoy" } },
        Some(Truth::Noise) => html! { span.truth.noise { "noise" } },
        None => html! { span.truth { "?" } },
    }
}

/// The trainee's screen beside the truth: the region the stream replaces.
pub fn fragment(seat: u32, view: Option<&MentorView>, secret: &str) -> Markup {
    let Some(m) = view else {
        return html! { p.empty { "No session is open on this seat yet." } };
    };
    let v = &m.view;
    html! {
        p.status {
            strong { (m.trainee.as_deref().unwrap_or("(not joined)")) } " · " (m.scenario_title)
            " · " span.phase { (v.phase.title()) } @if v.paused { " (paused)" }
            " · " span.clock { (clock(v.now_ms)) " / " (clock(v.total_ms)) }
        }
        div.columns {
            (trainee_panel(m))
            (truth_panel(seat, m, secret))
        }
    }
}

/// A session time as the live phase counts it (negative in the warm-up).
fn live_s(m: &MentorView, t_ms: u64) -> String {
    format!("{:+.0} s", m.view.live_s(t_ms))
}

/// What the trainee's own screens show, each alert with its truth beside their verdict.
fn trainee_panel(m: &MentorView) -> Markup {
    let v = &m.view;
    html! {
        section.panel {
            h2 { "What the trainee sees" }
            h3 { "Map" }
            ul.services { @for (id, svc) in &v.services {
                li data-service=(id) { strong { (id) } " " (service_state(svc))
                    @if let Some(last) = &svc.last { " · cpu " (format!("{:.0}", last.cpu_pct)) " %" } }
            } }
            h3 { "Alerts" }
            @if v.alerts.is_empty() { p.empty { "none yet" } }
            @else { table.alerts {
                thead { tr { th { "#" } th { "Live" } th { "Alert" } th { "Trainee's verdict" } th { "Truth" } } }
                tbody { @for a in &v.alerts { tr data-alert=(a.alert.id) {
                    td { (a.alert.id) }
                    td { (live_s(m, a.alert.t_ms)) }
                    td { (a.alert.title) @if a.count > 1 { " ×" (a.count) } }
                    td.verdict { @match a.verdict { Some(verdict) => (verdict.word()), None => "untriaged" } }
                    td { (truth_label(m.alert_truths.get(&a.alert.id))) }
                } } }
            } }
            h3 { "Actions" }
            @if v.mitigations.is_empty() && v.attributed.is_empty() { p.empty { "none yet" } }
            ul { @for mi in &v.mitigations {
                li { (live_s(m, mi.t_ms)) " " (mi.mitigation.summary()) " — "
                    @match &mi.result { Some((true, _)) => "confirmed", Some((false, why)) => (why), None => "pending" } }
            } @for e in &v.attributed { li { "named as involved: " (format!("{e:?}")) } } }
            h3 { "Hints revealed" }
            @if v.hints.is_empty() { p.empty { "none" } }
            ul { @for h in &v.hints { li { (h.text) " (−" (h.cost) ")" } } }
            @if !v.findings.is_empty() {
                h3 { "Posture audit (as last run)" }
                ul.findings { @for f in &v.findings {
                    li data-finding=(format!("{} {:?}", f.service, f.weakness)) {
                        strong { (f.service) } ": " (f.weakness.title()) " — " (f.evidence)
                        @if !f.cis.is_empty() { " (CIS " (f.cis.join(", ")) ")" }
                    }
                } }
            }
            (telemetry_table(v))
        }
    }
}

/// Every telemetry source in full (the trainee sees only those lagging now), and whether the
/// lab is unreachable: what a mentor needs to tell a slow trainee from a slow range.
fn telemetry_table(v: &bulkhead_host::Snapshot) -> Markup {
    html! {
        h3 { "Telemetry" }
        @if let Some(why) = &v.held { p.held { "Lab unreachable, clock held: " (why) } }
        @if v.telemetry.is_empty() { p.empty { "nothing received yet" } }
        @else { table.telemetry {
            thead { tr { th { "Source" } th { "Lines" } th { "Late" } th { "Worst lag" } } }
            tbody { @for s in &v.telemetry {
                tr data-source=(format!("{} {}", s.service, s.feed.title())) {
                    td { (s.service) " " (s.feed.title()) }
                    td { (s.lines) }
                    td { (s.late) }
                    td { (format!("{:.1} s", s.worst_lag_ms as f64 / 1000.0)) }
                }
            } }
        } }
    }
}

/// A service as the trainee's map draws it.
fn service_state(svc: &bulkhead_engine::session::ServiceStatus) -> &'static str {
    match (svc.running, svc.paused, svc.isolated, svc.capped) {
        (false, ..) => "stopped",
        (_, true, ..) => "paused",
        (_, _, true, _) => "isolated",
        (.., true) => "capped",
        _ => "running",
    }
}

/// The truth (score so far, the attack timeline) and the buttons that step in.
fn truth_panel(seat: u32, m: &MentorView, secret: &str) -> Markup {
    html! {
        section.panel.truth {
            h2 { "The lab's truth" }
            p.score { "Score so far: " strong { (m.provisional.total) " / " (m.provisional.max) } }
            // What each weakness means to the attack, and the accepted risks: the trainee sees
            // the findings, not which of them matter.
            @for key in ["posture", "accepted_risks"] {
                @if let Some(c) = m.provisional.component(key) {
                    h3 { (c.title) @if c.max > 0 { " " (c.points) " / " (c.max) } }
                    ul.posture { @for l in &c.lines { li { (format!("{:+}", l.points)) " " (l.text) } } }
                }
            }
            h3 { "Timeline" }
            ol.timeline { @for moment in &m.provisional.timeline {
                li class=(format!("{:?}", moment.kind).to_lowercase()) { span.t { (live_s(m, moment.t_ms)) } " " (moment.text) }
            } }
            h3 { "Step in" }
            form.inline method="post" action=(format!("/mentor/{seat}/hint")) {
                input type="hidden" name="form" value=(secret);
                button disabled[m.hints_left == 0 || m.over] { "Reveal next hint (" (m.hints_left) " left)" }
            }
            @for inject in &m.injects {
                form.inline method="post" action=(format!("/mentor/{seat}/inject")) title=(inject.description) {
                    input type="hidden" name="form" value=(secret);
                    input type="hidden" name="id" value=(inject.id);
                    button data-inject=(inject.id) disabled[inject.fired || m.over] {
                        "Inject: " (inject.title) @if inject.fired { " (fired)" }
                    }
                }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct MentorForm {
    form: Option<String>,
    text: Option<String>,
    cost: Option<String>,
    id: Option<String>,
}

/// `POST /mentor/{seat}/{act}`: `whisper`, `hint` or `inject`.
pub async fn act(
    State(app): State<App>,
    headers: HeaderMap,
    Path((seat, act)): Path<(u32, String)>,
    Fields(form): Fields<MentorForm>,
) -> Response {
    let workshop = &app.workshop;
    if workshop.mentor_form_secret(seat).is_none() {
        return no_seat();
    }
    let viewer = match admit_form(workshop, &headers, Some(seat), form.form.as_deref()) {
        Ok(viewer) => viewer,
        Err(response) => return *response,
    };
    let control = match act.as_str() {
        "whisper" => {
            let cost = match form.cost.as_deref().map(str::trim) {
                None | Some("") => 0,
                Some(text) => match text.parse::<u32>() {
                    Ok(cost) if cost <= 100 => cost,
                    _ => return bad_form("The cost is a whole number of points from 0 to 100."),
                },
            };
            SeatControl::Whisper {
                text: form.text.unwrap_or_default(),
                cost,
            }
        }
        "hint" => SeatControl::RevealHint,
        "inject" => SeatControl::Inject {
            id: form.id.unwrap_or_default(),
        },
        _ => return no_seat(),
    };
    let what = format!("seat {seat}: {} {}", viewer.by(), control.name());
    let said = ask(workshop, seat, control, viewer).await;
    answered(
        workshop,
        &headers,
        &what,
        said,
        Back::WhenDone(&mentor_path(seat)),
    )
}

fn bad_form(why: &str) -> Response {
    refusal_page(StatusCode::BAD_REQUEST, "Check the form", why)
}
