//! `/` (public): the workshop's front page: what it offers and how to join.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use maud::html;

use crate::App;
use crate::pages::{Layout, base_url, page};

/// `GET /`
pub async fn show(State(app): State<App>, headers: HeaderMap) -> Response {
    let workshop = &app.workshop;
    let base = base_url(&headers);
    let body = html! {
        h1 { (workshop.name) }
        section {
            h2 { "Join" }
            p { "Your facilitator hands you a code. With Bulkhead installed, run:" }
            pre.command { code { "bulkhead play --join " (base) " --code YOUR-CODE --name \"Your name\"" } }
            p.small { "Headless practice: " code { "bulkhead run SCENARIO --join " (base) " --code YOUR-CODE" } }
        }
        section {
            h2 { "Scenarios" }
            ul.offers {
                @for offer in &workshop.offers {
                    li {
                        strong { (offer.title) }
                        " · " (format!("{:?}", offer.difficulty)) " · " (offer.minutes) " min"
                        ul.lessons { @for lesson in &offer.lessons { li { (lesson.title()) } } }
                    }
                }
            }
        }
        p { a.button href="/scoreboard" { "Scoreboard" } " " a href="/scoreboard?wall=1" { "wall mode" } }
        p.small { (workshop.seat_count()) " seats · Bulkhead " (env!("CARGO_PKG_VERSION")) }
    };
    page("Workshop", &workshop.name, Layout::Normal, body)
}
