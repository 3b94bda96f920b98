//! How every route turns a request away: a JSON refusal for the API, a page for a browser
//! (with the pages' security headers), each saying what to do. Below every route module, so
//! that the routes and the checks that guard them need not import each other.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, html};
use serde_json::json;

/// A refusal as every route words it: the status, and what to do in `error`.
pub fn refusal(status: StatusCode, why: &str) -> Response {
    (status, Json(json!({ "error": why }))).into_response()
}

/// Scripts and styles only from this server, no inline script, no framing by other sites.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

/// The pages' security headers on a response.
pub fn with_policy(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A refusal as a page: what happened and what to do.
pub fn refusal_page(status: StatusCode, title: &str, what_to_do: &str) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                link rel="stylesheet" href="/assets/style.css";
            }
            body { main { h1 { (title) } p { (what_to_do) } p { a href="/" { "Workshop home" } } } }
        }
    };
    let mut response = with_policy(Html(markup.into_string()).into_response());
    *response.status_mut() = status;
    response
}
