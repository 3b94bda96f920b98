//! The workshop's pages: server-rendered HTML (maud, compiled in), one stylesheet and one small
//! script served from here (nothing from the internet), live updates by Server-Sent Events and
//! a plain reload where scripts are off.

pub mod export;
pub mod facilitator;
pub mod home;
pub mod live;
pub mod mentor;
pub mod report;
pub mod scoreboard;

use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use bulkhead_engine::{Millis, Phase};
use maud::{DOCTYPE, Markup, html};

use crate::refusal::{self, refusal_page};

const STYLE: &str = include_str!("../../assets/style.css");
const SCRIPT: &str = include_str!("../../assets/live.js");

/// How a page is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    #[default]
    Normal,
    /// Large type, no navigation: the scoreboard on a projector.
    Wall,
}

/// A whole page around `body`.
pub fn page(title: &str, workshop: &str, layout: Layout, body: Markup) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (workshop) }
                link rel="stylesheet" href="/assets/style.css";
                script src="/assets/live.js" defer {}
            }
            body class=(if layout == Layout::Wall { "wall" } else { "" }) {
                @if layout == Layout::Normal {
                    header.top {
                        a.brand href="/" { "Bulkhead" }
                        span.workshop { (workshop) }
                        nav { a href="/scoreboard" { "Scoreboard" } }
                    }
                }
                main { (body) }
            }
        }
    };
    refusal::with_policy(Html(markup.into_string()).into_response())
}

/// `GET /assets/style.css`
pub async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

/// `GET /assets/live.js`
pub async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        body,
    )
        .into_response()
}

/// A region of a page that its stream keeps current (`live.js` swaps in each event's HTML).
pub fn live_region(id: &str, stream: &str, content: Markup) -> Markup {
    html! {
        div id=(id) data-live=(stream) { (content) }
        noscript { meta http-equiv="refresh" content="5"; }
    }
}

/// A page form's fields, from a url-encoded body whatever its declared type (a script's
/// `curl -X POST` with no body sends none); a body that does not parse is a 400 page.
pub struct Fields<T>(pub T);

/// The largest form body read: a whisper and the anti-forgery value fit many times over.
const MAX_FORM_BYTES: usize = 8 * 1024;

impl<S, T> axum::extract::FromRequest<S> for Fields<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = Response;

    async fn from_request(request: axum::extract::Request, _: &S) -> Result<Self, Self::Rejection> {
        let body = axum::body::to_bytes(request.into_body(), MAX_FORM_BYTES)
            .await
            .map_err(|_| {
                refusal_page(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "Form too large",
                    "A form of these pages is a few hundred bytes: send less.",
                )
            })?;
        serde_urlencoded::from_bytes(&body)
            .map(Fields)
            .map_err(|e| {
                refusal_page(
                    StatusCode::BAD_REQUEST,
                    "Check the form",
                    &format!("The form could not be read: {e}"),
                )
            })
    }
}

/// `mm:ss` of a session time.
pub fn clock(ms: Millis) -> String {
    let s = ms / 1000;
    format!("{:02}:{:02}", s / 60, s % 60)
}

/// This server as the browser reached it, for the join command a page shows.
pub fn base_url(headers: &axum::http::HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
        })
        .unwrap_or("127.0.0.1:7420");
    format!("http://{host}")
}

pub fn phase_title(phase: Option<Phase>) -> &'static str {
    phase.map_or("waiting", Phase::title)
}
