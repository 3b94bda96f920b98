//! `/facilitator` (facilitator token): the whole room at a glance and its controls. Every seat
//! with its trainee, phase, clock, alerts, actions and lab health, flags where attention is due,
//! and the actions a facilitator takes (start, pause, extend, end, remove a lab, renew a code or
//! a mentor link), plus the results as CSV and JSON.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use bulkhead_engine::{NodeLoad, Phase};
use bulkhead_host::{LabStatus, SeatControl};
use maud::{Markup, html};
use serde::Deserialize;

use crate::App;
use crate::access::{Viewer, admit_form, admit_page, admit_reader};
use crate::pages::{Fields, Layout, clock, live_region, page, phase_title, report};
use crate::refusal::refusal_page;
use crate::workshop::{SeatRow, Workshop};

pub const PATH: &str = "/facilitator";
pub const EVENTS: &str = "/facilitator/events";

/// A running session whose trainee has sent nothing for this long is flagged.
const IDLE_FLAG: Duration = Duration::from_secs(3 * 60);
/// Telemetry this far behind the session clock is flagged.
const LAG_FLAG_MS: u64 = 5_000;
const BACK: Back<'static> = Back::Always(PATH);
/// What one press of "extend" adds.
const EXTEND_BY_S: u32 = 120;
/// How long a form waits for its seat's answer.
const ANSWER_WAIT: Duration = Duration::from_secs(5);

/// `GET /facilitator`
pub async fn show(State(app): State<App>, headers: HeaderMap, uri: Uri) -> Response {
    let workshop = &app.workshop;
    if let Err(response) = admit_page(workshop, &headers, &uri, None) {
        return *response;
    }
    let secret = workshop.form_secret();
    let body = html! {
        h1 { "Facilitator" }
        div.toolbar {
            form method="post" action="/facilitator/start-all" {
                input type="hidden" name="form" value=(secret);
                button.primary { "Start all" }
            }
            a.button href="/facilitator/export.csv" download { "Results (CSV)" }
            a.button href="/facilitator/export.json" download { "Results (JSON)" }
        }
        (live_region("seats", EVENTS, fragment(workshop, &workshop.rows())))
    };
    page("Facilitator", &workshop.name, Layout::Normal, body)
}

/// `GET /facilitator/events`
pub async fn events(State(app): State<App>, headers: HeaderMap) -> Response {
    // With no seat named, only the facilitator's token admits.
    match admit_reader(&app.workshop, &headers, None) {
        Ok(_) => app.live.facilitator().into_response(),
        Err(response) => *response,
    }
}

/// What needs the facilitator's eyes on a seat.
pub fn flags(row: &SeatRow) -> Vec<String> {
    let st = &row.status;
    let running = matches!(
        st.phase,
        Some(Phase::Hardening | Phase::Warmup | Phase::Live)
    ) && !st.paused;
    let mut flags = Vec::new();
    if running && st.last_activity.0.elapsed() >= IDLE_FLAG {
        flags.push(format!(
            "idle {} min",
            st.last_activity.0.elapsed().as_secs() / 60
        ));
    }
    if running && st.trainee.is_some() && !st.connected {
        flags.push("trainee disconnected".into());
    }
    if st.lab == LabStatus::Failed {
        flags.push("lab failed".into());
    }
    if let Some(e) = &st.lab_error {
        flags.push(format!("lab: {e}"));
    }
    if st.lab == LabStatus::Up && st.health.services_up < st.health.services {
        flags.push(format!(
            "{} of {} services down",
            st.health.services - st.health.services_up,
            st.health.services
        ));
    }
    if running && st.health.telemetry_lag_ms.is_some_and(|l| l > LAG_FLAG_MS) {
        flags.push(format!(
            "telemetry {} s behind",
            st.health.telemetry_lag_ms.unwrap_or(0) / 1000
        ));
    }
    for what in &st.health.disruptive {
        flags.push(format!("disruptive: {what}"));
    }
    flags
}

fn action(seat: u32, act: &str, label: &str, secret: &str) -> Markup {
    html! {
        form.inline method="post" action=(format!("/facilitator/seats/{seat}/{act}")) {
            input type="hidden" name="form" value=(secret);
            button data-act=(act) { (label) }
        }
    }
}

/// The seats' table and the activity log: the region its stream replaces.
pub fn fragment(workshop: &Workshop, rows: &[SeatRow]) -> Markup {
    html! {
        div.scroll { table.seats {
            thead { tr {
                th { "Seat" } th { "Trainee" } th { "Code" } th { "Scenario" } th { "Phase" }
                th { "Clock" } th.num { "Alerts open" } th.num { "Actions" } th { "Lab" }
                th { "Attention" } th { "Controls" }
            } }
            tbody { @for row in rows { (seat_row(workshop, row)) } }
        } }
        @let nodes = workshop.nodes();
        @if !nodes.is_empty() { (nodes_table(&nodes)) }
        @let log = workshop.log();
        @if !log.is_empty() {
            h2 { "Activity" }
            ul.log { @for line in log.iter().rev() { li { (line) } } }
        }
    }
}

/// The machines the labs run on (a swarm's nodes): whether labs may go there, how many run
/// there, and what they reserve of the node, so the facilitator sees a node filling up.
fn nodes_table(nodes: &[NodeLoad]) -> Markup {
    html! {
        h2 { "Nodes" }
        div.scroll { table.nodes {
            thead { tr {
                th { "Node" } th { "State" } th { "Takes labs" } th.num { "Lab services" }
                th.num { "CPU reserved" } th.num { "Memory reserved" }
            } }
            tbody { @for node in nodes {
                tr data-node=(node.hostname) {
                    td { (node.hostname) }
                    td { (node.state) }
                    td { @if node.admitted { "yes" } @else { "no" } }
                    td.num { (node.services) }
                    td.num { (format!("{:.2} of {:.0} cores", node.cpus_reserved, node.cpus)) }
                    td.num { (node.memory_reserved_mib) " of " (node.memory_mib) " MiB" }
                }
            } }
        } }
    }
}

/// One seat's line of the console.
fn seat_row(workshop: &Workshop, row: &SeatRow) -> Markup {
    let st = &row.status;
    let open = st.alerts.saturating_sub(st.alerts_triaged);
    let flags = flags(row);
    html! {
        tr data-seat=(st.seat) class=(if flags.is_empty() { "" } else { "attention" }) {
            td { (st.seat) }
            td { span class=(if st.connected { "dot on" } else { "dot" }) {} " "
                 (st.trainee.as_deref().unwrap_or("—")) }
            td.code { code { (row.code) } }
            td { (workshop.scenario_title(st.scenario.as_deref())) }
            td.phase { (phase_title(st.phase)) @if st.paused { " (paused)" } }
            td.clock { (clock(st.now_ms)) " / " (clock(st.total_ms)) }
            td.num.open-alerts { (open) " / " (st.alerts) }
            td.num { (st.actions) }
            td.lab { (format!("{:?}", st.lab).to_lowercase())
                @if let Some(node) = &st.node { " · on " span.node { (node) } }
                @if st.lab == LabStatus::Up {
                    " · " (st.health.services_up) "/" (st.health.services) " up"
                    @if let Some(lag) = st.health.telemetry_lag_ms { " · lag " (format!("{:.1}", lag as f64 / 1000.0)) " s" }
                }
            }
            td.flags { @for f in &flags { span.flag { (f) } } }
            td.controls { (controls(workshop, row)) }
        }
    }
}

/// A seat's buttons and its mentor link.
fn controls(workshop: &Workshop, row: &SeatRow) -> Markup {
    let st = &row.status;
    let secret = workshop.form_secret();
    html! {
        (action(st.seat, "start", "Start", secret))
        @if st.can_pause && st.lab == LabStatus::Up {
            @if st.paused { (action(st.seat, "resume", "Resume", secret)) }
            @else { (action(st.seat, "pause", "Pause", secret)) }
        }
        (action(st.seat, "extend", &format!("+{} min", EXTEND_BY_S / 60), secret))
        (action(st.seat, "end", "End", secret))
        (action(st.seat, "remove", "Remove lab", secret))
        (action(st.seat, "code", "New code", secret))
        (action(st.seat, "mentor-key", "New mentor link", secret))
        @if let Some(key) = workshop.mentor_key(st.seat) {
            a.mentor href=(format!("/mentor/{}?key={key}", st.seat)) { "Mentor" }
        }
        @if st.record.is_some() {
            a.report href=(report::report_href(st.seat)) target="_blank" { "Report" }
            a.record href=(report::record_href(st.seat)) { "Record" }
        }
    }
}

#[derive(Deserialize)]
pub struct FormSecret {
    form: Option<String>,
}

/// `POST /facilitator/seats/{seat}/{act}`
pub async fn act(
    State(app): State<App>,
    headers: HeaderMap,
    Path((seat, act)): Path<(u32, String)>,
    Fields(form): Fields<FormSecret>,
) -> Response {
    let workshop = &app.workshop;
    if let Err(response) = admit_form(workshop, &headers, None, form.form.as_deref()) {
        return *response;
    }
    if workshop.mentor_key(seat).is_none() {
        return refusal_page(
            StatusCode::NOT_FOUND,
            "No such seat",
            "Seats are numbered from 1.",
        );
    }
    let control = match act.as_str() {
        "start" => SeatControl::Start { scenario: None },
        "pause" => SeatControl::Pause(true),
        "resume" => SeatControl::Pause(false),
        "extend" => SeatControl::Extend {
            seconds: EXTEND_BY_S,
        },
        "end" => SeatControl::End,
        "remove" => SeatControl::RemoveLab,
        "code" => {
            let said = match workshop.reset_code(seat) {
                Some(code) => Ok(format!("new join code {code}")),
                None => Err("no such seat".to_string()),
            };
            return answered(
                workshop,
                &headers,
                &format!("seat {seat}: new code"),
                said,
                BACK,
            );
        }
        "mentor-key" => {
            let said = workshop
                .revoke_mentor_key(seat)
                .map(|_| "the old mentor link no longer works".to_string())
                .ok_or_else(|| "no such seat".to_string());
            let what = format!("seat {seat}: new mentor link");
            return answered(workshop, &headers, &what, said, BACK);
        }
        _ => {
            return refusal_page(
                StatusCode::NOT_FOUND,
                "No such action",
                "Use the console's buttons.",
            );
        }
    };
    let what = format!("seat {seat}: {}", control.name());
    let said = ask(workshop, seat, control, Viewer::Facilitator).await;
    answered(workshop, &headers, &what, said, BACK)
}

/// `POST /facilitator/start-all`
pub async fn start_all(
    State(app): State<App>,
    headers: HeaderMap,
    Fields(form): Fields<FormSecret>,
) -> Response {
    let workshop = &app.workshop;
    if let Err(response) = admit_form(workshop, &headers, None, form.form.as_deref()) {
        return *response;
    }
    let mut started = 0;
    for seat in workshop.seat_numbers() {
        let start = SeatControl::Start { scenario: None };
        if ask(workshop, seat, start, Viewer::Facilitator)
            .await
            .is_ok()
        {
            started += 1;
        }
    }
    let said = Ok(format!("{started} seat(s) starting"));
    answered(workshop, &headers, "start all", said, BACK)
}

/// Send a control to a seat and wait (off the runtime's threads) for its answer.
pub async fn ask(
    workshop: &Workshop,
    seat: u32,
    control: SeatControl,
    viewer: Viewer,
) -> Result<String, String> {
    let Some(answer) = workshop.control(seat, control, viewer.by()) else {
        return Err("no such seat".into());
    };
    tokio::task::spawn_blocking(move || answer.recv_timeout(ANSWER_WAIT))
        .await
        .map_err(|e| format!("the seat's answer was lost: {e}"))?
        .map_err(|_| "the seat did not answer in time".to_string())?
}

/// Where a browser goes once a form is answered.
#[derive(Debug, Clone, Copy)]
pub enum Back<'a> {
    /// Back to this page, refused or not (the facilitator's activity log says how it went).
    Always(&'a str),
    /// Back to this page when done; a refusal is a page of its own (a mentor sees no log).
    WhenDone(&'a str),
}

/// Log what happened and answer: a script (bearer) gets JSON, a browser goes back.
pub fn answered(
    workshop: &Workshop,
    headers: &HeaderMap,
    what: &str,
    said: Result<String, String>,
    back: Back<'_>,
) -> Response {
    let line = match &said {
        Ok(text) => format!("{what}: {text}"),
        Err(why) => format!("{what} refused: {why}"),
    };
    tracing::info!("{line}");
    workshop.note(line);
    if headers.contains_key(header::AUTHORIZATION) {
        let (status, body) = match said {
            Ok(text) => (
                StatusCode::OK,
                serde_json::json!({ "ok": true, "message": text }),
            ),
            Err(why) => (
                StatusCode::CONFLICT,
                serde_json::json!({ "ok": false, "error": why }),
            ),
        };
        return (status, axum::Json(body)).into_response();
    }
    match (back, said) {
        (Back::WhenDone(_), Err(why)) => refusal_page(StatusCode::CONFLICT, "Not done", &why),
        (Back::Always(path) | Back::WhenDone(path), _) => Redirect::to(path).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use bulkhead_host::oversight::Activity;
    use bulkhead_host::{Health, SeatStatus};

    use super::*;

    /// The nodes' table says which node takes labs and how full each is.
    #[test]
    fn the_nodes_table_shows_each_node_and_its_load() {
        let node = |hostname: &str, admitted: bool, services: usize| NodeLoad {
            hostname: hostname.into(),
            state: "ready".into(),
            admitted,
            services,
            cpus_reserved: 0.5,
            cpus: 2.0,
            memory_reserved_mib: 1408,
            memory_mib: 24105,
        };
        let html = nodes_table(&[node("lab-1", true, 14), node("lab-2", false, 0)]).into_string();
        assert!(html.contains("<h2>Nodes</h2>"), "{html}");
        assert!(html.contains(r#"data-node="lab-1""#) && html.contains(r#"data-node="lab-2""#));
        assert!(html.contains("0.50 of 2 cores"), "{html}");
        assert!(html.contains("1408 of 24105 MiB"), "{html}");
        let row = |name: &str| {
            let start = html.find(&format!(r#"data-node="{name}""#)).unwrap();
            html[start..].split("</tr>").next().unwrap().to_owned()
        };
        assert!(row("lab-1").contains("<td>yes</td>") && row("lab-1").contains(">14<"));
        assert!(row("lab-2").contains("<td>no</td>"), "{}", row("lab-2"));
    }

    fn running_seat() -> SeatRow {
        SeatRow {
            status: SeatStatus {
                seat: 1,
                trainee: Some("Ada".into()),
                connected: true,
                phase: Some(Phase::Live),
                lab: LabStatus::Up,
                health: Health {
                    services_up: 5,
                    services: 5,
                    telemetry_lag_ms: Some(1_000),
                    disruptive: vec![],
                },
                ..Default::default()
            },
            code: "ACDEFGHJ".into(),
        }
    }

    #[test]
    fn a_healthy_busy_seat_raises_no_flag() {
        assert_eq!(flags(&running_seat()), Vec::<String>::new());
    }

    #[test]
    fn each_reason_for_attention_is_flagged() {
        let mut row = running_seat();
        let four_minutes_ago = Instant::now() - Duration::from_secs(4 * 60);
        row.status.last_activity = Activity(four_minutes_ago);
        row.status.connected = false;
        row.status.health.services_up = 3;
        row.status.health.telemetry_lag_ms = Some(9_000);
        row.status.health.disruptive = vec!["stop web".into()];
        assert_eq!(
            flags(&row),
            [
                "idle 4 min",
                "trainee disconnected",
                "2 of 5 services down",
                "telemetry 9 s behind",
                "disruptive: stop web"
            ]
        );
        row.status.lab = LabStatus::Failed;
        row.status.lab_error = Some("no Docker".into());
        assert!(flags(&row).contains(&"lab failed".to_string()));
        assert!(flags(&row).contains(&"lab: no Docker".to_string()));
    }

    #[test]
    fn a_paused_or_finished_seat_is_not_idle() {
        let mut row = running_seat();
        row.status.last_activity = Activity(Instant::now() - Duration::from_secs(600));
        row.status.paused = true;
        assert!(flags(&row).iter().all(|f| !f.starts_with("idle")));
        row.status.paused = false;
        row.status.phase = Some(Phase::Debrief);
        assert!(flags(&row).iter().all(|f| !f.starts_with("idle")));
    }
}
