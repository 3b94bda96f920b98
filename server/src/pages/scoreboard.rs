//! `/scoreboard` (public): who plays what, how far along, and, once a session is over, its
//! score, grade and badges. While a session runs its score stays hidden (it would give answers
//! away to the room): detection and containment show only once the session's end confirms them.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use bulkhead_engine::{Phase, ScoreCard};
use maud::{Markup, html};
use serde::Deserialize;

use crate::App;
use crate::pages::{Layout, base_url, clock, live_region, page, phase_title};
use crate::workshop::{SeatRow, Workshop};

pub const EVENTS: &str = "/scoreboard/events";

#[derive(Deserialize, Default)]
pub struct BoardQuery {
    wall: Option<String>,
}

/// `GET /scoreboard[?wall=1]`
pub async fn show(
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<BoardQuery>,
) -> Response {
    let wall = q.wall.is_some_and(|w| w != "0");
    let workshop = &app.workshop;
    let body = html! {
        h1 { "Scoreboard" }
        @if wall {
            p.join { "Join: " code { "bulkhead play --join " (base_url(&headers)) " --code YOUR-CODE" } }
        }
        (live_region("board", EVENTS, fragment(workshop, &workshop.rows())))
        p.small { "Scores appear when a session ends; while it runs, only its phase and clock show." }
    };
    let layout = if wall { Layout::Wall } else { Layout::Normal };
    page("Scoreboard", &workshop.name, layout, body)
}

/// `GET /scoreboard/events`: the board's rows as they change.
pub async fn events(State(app): State<App>) -> Response {
    app.live.scoreboard().into_response()
}

/// One line of the board.
struct Standing<'a> {
    rank: Option<usize>,
    row: &'a SeatRow,
    card: Option<&'a Arc<ScoreCard>>,
}

/// Finished sessions by score (equal scores share a rank), then those still running by seat.
fn standings(rows: &[SeatRow]) -> Vec<Standing<'_>> {
    let mut finished: Vec<(&SeatRow, &Arc<ScoreCard>)> = rows
        .iter()
        .filter_map(|r| over(r).map(|card| (r, card)))
        .collect();
    finished.sort_by(|a, b| {
        b.1.total
            .cmp(&a.1.total)
            .then(a.0.status.seat.cmp(&b.0.status.seat))
    });
    let mut out = Vec::with_capacity(rows.len());
    let mut previous: Option<(u32, usize)> = None;
    for (i, (row, card)) in finished.into_iter().enumerate() {
        let rank = match previous {
            Some((score, rank)) if score == card.total => rank,
            _ => i + 1,
        };
        previous = Some((card.total, rank));
        out.push(Standing {
            rank: Some(rank),
            row,
            card: Some(card),
        });
    }
    for row in rows {
        let playing = row.status.trainee.is_some() || row.status.scenario.is_some();
        if playing && over(row).is_none() {
            out.push(Standing {
                rank: None,
                row,
                card: None,
            });
        }
    }
    out
}

/// The card of a session that is over (the seat keeps the last one until a new one opens).
fn over(row: &SeatRow) -> Option<&Arc<ScoreCard>> {
    row.status
        .card
        .as_ref()
        .filter(|_| row.status.phase == Some(Phase::Debrief))
}

fn confirmed(card: Option<&Arc<ScoreCard>>, done: impl Fn(&ScoreCard) -> bool) -> Markup {
    match card {
        None => html! { span.pending title="shown when the session ends" { "…" } },
        Some(card) if done(card) => html! { span.done { "done" } },
        Some(_) => html! { span.missed { "missed" } },
    }
}

/// The board's rows: the region its stream replaces.
pub fn fragment(workshop: &Workshop, rows: &[SeatRow]) -> Markup {
    let standings = standings(rows);
    html! {
        @if standings.is_empty() {
            p.empty { "Nobody has joined yet." }
        } @else {
            div.scroll { table.board {
                thead { tr {
                    th { "#" } th { "Trainee" } th { "Scenario" } th { "Phase" } th { "Clock" }
                    th { "Detected" } th { "Contained" } th.num { "Score" } th { "Grade" } th { "Badges" }
                } }
                tbody {
                    @for s in &standings {
                        @let st = &s.row.status;
                        tr data-seat=(st.seat) {
                            td.rank { @if let Some(r) = s.rank { (r) } @else { "–" } }
                            td.trainee { (st.trainee.as_deref().unwrap_or("(seat not joined)")) }
                            td { (workshop.scenario_title(st.scenario.as_deref())) }
                            td.phase { (phase_title(st.phase)) @if st.paused { " (paused)" } }
                            td.clock { (clock(st.now_ms)) " / " (clock(st.total_ms)) }
                            td { (confirmed(s.card, |c| c.facts.detected_ms.is_some())) }
                            td { (confirmed(s.card, contained_all)) }
                            td.num.score { @if let Some(c) = s.card { (c.total) " / " (c.max) } @else { "hidden" } }
                            td.grade { @if let Some(c) = s.card { (c.grade) } }
                            td.badges { @if let Some(c) = s.card {
                                @for b in &c.badges { span.badge title=(b.why) { (b.title) } }
                            } }
                        }
                    }
                }
            } }
        }
    }
}

/// Every containment objective met.
fn contained_all(card: &ScoreCard) -> bool {
    !card.facts.contained_ms.is_empty() && card.facts.contained_ms.values().all(Option::is_some)
}
