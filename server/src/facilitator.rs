//! Who may call the facilitator's routes: whoever presents the workshop's token, as
//! `Authorization: Bearer TOKEN` or as `?token=TOKEN` (so the URL the server prints opens in a
//! browser). No token is 401; a wrong one, a join code included, is 403.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts, Query};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::refusal::refusal;
use crate::workshop::Workshop;

/// Proof that the request carries the facilitator's token.
#[derive(Debug)]
pub struct Facilitator;

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

fn presented(parts: &Parts) -> Option<String> {
    let bearer = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string());
    bearer.or_else(|| {
        Query::<TokenQuery>::try_from_uri(&parts.uri)
            .ok()
            .and_then(|q| q.0.token)
    })
}

impl<S> FromRequestParts<S> for Facilitator
where
    Arc<Workshop>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let workshop = Arc::<Workshop>::from_ref(state);
        match presented(parts) {
            None => {
                let mut response = refusal(
                    StatusCode::UNAUTHORIZED,
                    "this route is the facilitator's: send `Authorization: Bearer TOKEN` with the token `bulkhead serve` printed",
                );
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, "Bearer".parse().expect("static"));
                Err(response)
            }
            Some(token) if workshop.is_facilitator(&token) => Ok(Facilitator),
            Some(_) => {
                tracing::warn!("a facilitator route was called with a wrong token");
                Err(refusal(
                    StatusCode::FORBIDDEN,
                    "wrong facilitator token: use the one `bulkhead serve` printed",
                )
                .into_response())
            }
        }
    }
}
