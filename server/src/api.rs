//! The JSON routes: health for anyone, the seats and their codes for the facilitator.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bulkhead_host::PROTOCOL_VERSION;
use serde_json::json;

use crate::facilitator::Facilitator;
use crate::refusal::refusal;
use crate::workshop::Workshop;

/// `GET /api/health`: the server answers; what it hosts, without any secret.
pub async fn health(State(workshop): State<Arc<Workshop>>) -> Response {
    Json(json!({
        "status": "ok",
        "workshop": workshop.name,
        "seats": workshop.seat_count(),
        "protocol": PROTOCOL_VERSION,
        "version": env!("CARGO_PKG_VERSION"),
    }))
    .into_response()
}

/// `GET /api/seats` (facilitator): every seat's trainee, scenario, phase, clock, counts, final
/// score and join code.
pub async fn seats(_: Facilitator, State(workshop): State<Arc<Workshop>>) -> Response {
    Json(workshop.rows()).into_response()
}

/// `GET /api/nodes` (facilitator): the machines the labs run on and their load (empty where
/// the labs run on the server's own machine).
pub async fn nodes(_: Facilitator, State(workshop): State<Arc<Workshop>>) -> Response {
    Json(workshop.nodes()).into_response()
}

/// `POST /api/seats/{seat}/code` (facilitator): a new join code for the seat; whoever holds it
/// is dropped (their session goes on for the next join).
pub async fn reset_code(
    _: Facilitator,
    State(workshop): State<Arc<Workshop>>,
    Path(seat): Path<u32>,
) -> Response {
    match workshop.reset_code(seat) {
        Some(code) => {
            tracing::info!(seat, "join code reset by the facilitator");
            Json(json!({ "seat": seat, "code": code })).into_response()
        }
        None => refusal(
            StatusCode::NOT_FOUND,
            &format!("no seat {seat}: seats are numbered from 1"),
        ),
    }
}

/// Anything else.
pub async fn not_found() -> Response {
    refusal(
        StatusCode::NOT_FOUND,
        "no such route: see /api/health, /api/seats, /api/join",
    )
}
