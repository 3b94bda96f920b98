//! A seat's record for whoever may see the truth: the facilitator and that seat's mentor (never
//! the trainee, whose code opens no page). The record itself as a download, and its
//! after-action report as a page; under the mentor's path, so the mentor's cookie reaches it.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bulkhead_engine::{Record, score};

use crate::App;
use crate::access::{Turned, admit_reader};
use crate::refusal::refusal;

pub const REPORT: &str = "/mentor/{seat}/report.html";
pub const RECORD: &str = "/mentor/{seat}/record.jsonl";

/// The links to a seat's report and record.
pub fn report_href(seat: u32) -> String {
    format!("/mentor/{seat}/report.html")
}

pub fn record_href(seat: u32) -> String {
    format!("/mentor/{seat}/record.jsonl")
}

/// The complete lines of the seat's latest record: a session still running may be writing its
/// last line as it is read.
fn record_bytes(app: &App, seat: u32) -> Result<Vec<u8>, Turned> {
    let turned = |status, why: &str| Box::new(refusal(status, why));
    let status = (app.workshop.rows().into_iter())
        .map(|row| row.status)
        .find(|status| status.seat == seat)
        .ok_or_else(|| turned(StatusCode::NOT_FOUND, &format!("there is no seat {seat}")))?;
    let path = status.record.ok_or_else(|| {
        let why = format!("seat {seat} has kept no record yet: it starts with the session");
        turned(StatusCode::NOT_FOUND, &why)
    })?;
    let mut bytes = std::fs::read(&path).map_err(|e| {
        let why = format!("the record of seat {seat} cannot be read: {e}");
        turned(StatusCode::INTERNAL_SERVER_ERROR, &why)
    })?;
    let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    bytes.truncate(complete);
    Ok(bytes)
}

/// `GET /mentor/{seat}/report.html`: the after-action report of the seat's latest session.
pub async fn report(State(app): State<App>, Path(seat): Path<u32>, headers: HeaderMap) -> Response {
    if let Err(turned) = admit_reader(&app.workshop, &headers, Some(seat)) {
        return *turned;
    }
    let bytes = match record_bytes(&app, seat) {
        Ok(bytes) => bytes,
        Err(turned) => return *turned,
    };
    let name = format!("seat {seat}'s record");
    let record = match Record::from_reader(&bytes[..], &name) {
        Ok(record) => record,
        Err(e) => return refusal(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    // Scoring and drawing a long record takes milliseconds; off the async workers all the same.
    let page = tokio::task::spawn_blocking(move || {
        let card = score(&record.scenario, &record.topology, &record.lines, None);
        bulkhead_report::html(&record, &card)
    })
    .await;
    match page {
        Ok(page) => (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            page,
        )
            .into_response(),
        Err(e) => refusal(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

/// `GET /mentor/{seat}/record.jsonl`: the seat's latest record, as a download.
pub async fn record(State(app): State<App>, Path(seat): Path<u32>, headers: HeaderMap) -> Response {
    if let Err(turned) = admit_reader(&app.workshop, &headers, Some(seat)) {
        return *turned;
    }
    match record_bytes(&app, seat) {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, "application/x-ndjson".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"seat{seat}-record.jsonl\""),
                ),
                (header::CACHE_CONTROL, "no-store".to_string()),
            ],
            bytes,
        )
            .into_response(),
        Err(turned) => *turned,
    }
}
