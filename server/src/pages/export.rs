//! The workshop's results for the facilitator, as CSV (one row per seat, one column per score
//! component) and JSON (the same, with every seat's whole score card).

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use bulkhead_engine::Millis;
use serde::Serialize;

use crate::App;
use crate::access::admit_reader;
use crate::workshop::{SeatRow, Workshop};

/// One seat's results.
#[derive(Debug, Serialize)]
pub struct SeatResult {
    pub seat: u32,
    pub trainee: Option<String>,
    pub scenario: Option<String>,
    pub phase: Option<String>,
    pub score: Option<u32>,
    pub max: Option<u32>,
    pub grade: Option<String>,
    /// Points per score component, by key.
    pub components: BTreeMap<String, i32>,
    /// Session times (ms) of the first attack step, of detection and of each containment.
    pub attack_start_ms: Option<Millis>,
    pub detected_ms: Option<Millis>,
    pub contained_ms: BTreeMap<String, Option<Millis>>,
    pub hints: usize,
    pub actions: usize,
    pub alerts: usize,
    pub alerts_triaged: usize,
    pub badges: Vec<String>,
    pub record: Option<String>,
    /// The whole card, every explanation line included (JSON only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub card: Option<bulkhead_engine::ScoreCard>,
}

pub fn results(workshop: &Workshop, rows: &[SeatRow]) -> Vec<SeatResult> {
    rows.iter()
        .map(|row| {
            let st = &row.status;
            let card = st.card.as_deref();
            SeatResult {
                seat: st.seat,
                trainee: st.trainee.clone(),
                scenario: st.scenario.clone().map(|id| {
                    let title = workshop.scenario_title(Some(&id));
                    if title == id {
                        id
                    } else {
                        format!("{id}: {title}")
                    }
                }),
                phase: st.phase.map(|p| p.title().to_string()),
                score: card.map(|c| c.total),
                max: card.map(|c| c.max),
                grade: card.map(|c| c.grade.clone()),
                components: card
                    .map(|c| {
                        c.components
                            .iter()
                            .map(|k| (k.key.clone(), k.points))
                            .collect()
                    })
                    .unwrap_or_default(),
                attack_start_ms: card.map(|c| c.facts.attack_start_ms),
                detected_ms: card.and_then(|c| c.facts.detected_ms),
                contained_ms: card
                    .map(|c| c.facts.contained_ms.clone())
                    .unwrap_or_default(),
                hints: st.hints_used,
                actions: st.actions,
                alerts: st.alerts,
                alerts_triaged: st.alerts_triaged,
                badges: card
                    .map(|c| c.badges.iter().map(|b| b.title.clone()).collect())
                    .unwrap_or_default(),
                record: st.record.clone(),
                card: card.cloned(),
            }
        })
        .collect()
}

/// The CSV: fixed columns, then one per component key any card has (in the cards' order).
pub fn csv(results: &[SeatResult]) -> Result<String, csv::Error> {
    let mut keys: Vec<String> = Vec::new();
    for r in results {
        if let Some(card) = &r.card {
            for c in &card.components {
                if !keys.contains(&c.key) {
                    keys.push(c.key.clone());
                }
            }
        }
    }
    let mut out = csv::Writer::from_writer(Vec::new());
    let mut head: Vec<String> = [
        "seat", "trainee", "scenario", "phase", "score", "max", "grade",
    ]
    .map(String::from)
    .to_vec();
    head.extend(keys.iter().cloned());
    head.extend(
        [
            "attack_start_s",
            "detected_s",
            "contained_s",
            "hints",
            "actions",
            "alerts",
            "alerts_triaged",
            "badges",
            "record",
        ]
        .map(String::from),
    );
    out.write_record(&head)?;
    let secs = |ms: Option<Millis>| {
        ms.map(|m| format!("{:.1}", m as f64 / 1000.0))
            .unwrap_or_default()
    };
    for r in results {
        let mut row = vec![
            r.seat.to_string(),
            r.trainee.clone().unwrap_or_default(),
            r.scenario.clone().unwrap_or_default(),
            r.phase.clone().unwrap_or_default(),
            r.score.map(|s| s.to_string()).unwrap_or_default(),
            r.max.map(|s| s.to_string()).unwrap_or_default(),
            r.grade.clone().unwrap_or_default(),
        ];
        row.extend(keys.iter().map(|k| {
            r.components
                .get(k)
                .map(|p| p.to_string())
                .unwrap_or_default()
        }));
        let contained: Vec<String> = r
            .contained_ms
            .iter()
            .map(|(step, at)| format!("{step}={}", secs(*at)))
            .collect();
        row.extend([
            secs(r.attack_start_ms),
            secs(r.detected_ms),
            contained.join(" "),
            r.hints.to_string(),
            r.actions.to_string(),
            r.alerts.to_string(),
            r.alerts_triaged.to_string(),
            r.badges.join("; "),
            r.record.clone().unwrap_or_default(),
        ]);
        out.write_record(&row)?;
    }
    let bytes = out.into_inner().map_err(|e| e.into_error())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn download(content_type: &'static str, name: &str, body: String) -> Response {
    let disposition = format!("attachment; filename=\"{name}\"");
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        body,
    )
        .into_response()
}

/// `GET /facilitator/export.csv`
pub async fn export_csv(State(app): State<App>, headers: HeaderMap) -> Response {
    if let Err(response) = admit_reader(&app.workshop, &headers, None) {
        return *response;
    }
    let results = results(&app.workshop, &app.workshop.rows());
    match csv(&results) {
        Ok(text) => download("text/csv; charset=utf-8", "bulkhead-results.csv", text),
        Err(e) => crate::refusal::refusal(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            &format!("could not write the CSV: {e}"),
        ),
    }
}

/// `GET /facilitator/export.json`
pub async fn export_json(State(app): State<App>, headers: HeaderMap) -> Response {
    if let Err(response) = admit_reader(&app.workshop, &headers, None) {
        return *response;
    }
    let results = results(&app.workshop, &app.workshop.rows());
    let text =
        serde_json::to_string_pretty(&results).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
    download("application/json", "bulkhead-results.json", text)
}
