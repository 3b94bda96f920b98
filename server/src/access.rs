//! Who may open the workshop's pages and post their forms. The facilitator's token and a seat's
//! mentor key arrive once in a link (`?token=`, `?key=`), are exchanged for an HttpOnly,
//! SameSite=Strict cookie and dropped from the address bar; scripts may send them as
//! `Authorization: Bearer`. A form is accepted only from a page of this server: it must carry
//! the page's anti-forgery value, and a browser's cross-site markers refuse it outright.

use axum::extract::Query;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use serde::Deserialize;

use crate::refusal::refusal_page;
use crate::workshop::Workshop;

/// A request turned away (or redirected): the response to send instead. Boxed, as responses
/// are large and the happy path should not carry one.
pub type Turned = Box<Response>;

pub const FACILITATOR_COOKIE: &str = "bulkhead_facilitator";

/// A seat's mentor cookie: named and scoped per seat, so one seat's link opens no other.
pub fn mentor_cookie(seat: u32) -> String {
    format!("bulkhead_mentor_{seat}")
}

pub fn mentor_path(seat: u32) -> String {
    format!("/mentor/{seat}")
}

/// Who is looking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewer {
    Facilitator,
    /// The mentor of this seat.
    Mentor(u32),
}

impl Viewer {
    /// How the record and the logs name them.
    pub fn by(self) -> &'static str {
        match self {
            Viewer::Facilitator => "facilitator",
            Viewer::Mentor(_) => "mentor",
        }
    }
}

#[derive(Deserialize, Default)]
struct LinkQuery {
    token: Option<String>,
    key: Option<String>,
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string())
}

fn session_cookie(name: String, value: String, path: String) -> Cookie<'static> {
    Cookie::build((name, value))
        .path(path)
        .http_only(true)
        .same_site(SameSite::Strict)
        .build()
}

/// A credential presented as a header or cookie, judged for `seat`'s page (`None`: a
/// facilitator-only page). `Ok(None)`: none presented.
fn judge(
    workshop: &Workshop,
    headers: &HeaderMap,
    seat: Option<u32>,
) -> Result<Option<Viewer>, ()> {
    let jar = CookieJar::from_headers(headers);
    let mut presented = false;
    let mentor = seat.and_then(|s| {
        jar.get(&mentor_cookie(s))
            .map(|c| (s, c.value().to_string()))
    });
    let candidates = bearer(headers)
        .into_iter()
        .chain(jar.get(FACILITATOR_COOKIE).map(|c| c.value().to_string()));
    for given in candidates {
        presented = true;
        if workshop.is_facilitator(&given) {
            return Ok(Some(Viewer::Facilitator));
        }
        if let Some(s) = seat
            && workshop.is_mentor(s, &given)
        {
            return Ok(Some(Viewer::Mentor(s)));
        }
    }
    if let Some((s, given)) = mentor {
        presented = true;
        if workshop.is_mentor(s, &given) {
            return Ok(Some(Viewer::Mentor(s)));
        }
    }
    if presented { Err(()) } else { Ok(None) }
}

fn unauthorized(seat: Option<u32>) -> Response {
    let what = match seat {
        None => {
            "This page is the facilitator's: open the facilitator link `bulkhead serve` printed."
        }
        Some(_) => {
            "This page is the seat's mentor's: open the mentor link from the facilitator's page."
        }
    };
    refusal_page(StatusCode::UNAUTHORIZED, "Sign-in needed", what)
}

fn forbidden(seat: Option<u32>) -> Response {
    tracing::warn!(?seat, "a page was opened with a wrong credential");
    refusal_page(
        StatusCode::FORBIDDEN,
        "Wrong link",
        "That token or key is not valid here (it may have been renewed): ask the facilitator for the current link.",
    )
}

/// Admit a page request. A link's secret is swapped for a cookie and a redirect to the same
/// page without it (`Err` holds that redirect, or the refusal).
pub fn admit_page(
    workshop: &Workshop,
    headers: &HeaderMap,
    uri: &Uri,
    seat: Option<u32>,
) -> Result<Viewer, Turned> {
    let link = Query::<LinkQuery>::try_from_uri(uri)
        .map(|q| q.0)
        .unwrap_or_default();
    if let Some(token) = link.token {
        if !workshop.is_facilitator(&token) {
            return Err(Box::new(forbidden(seat)));
        }
        let jar =
            CookieJar::new().add(session_cookie(FACILITATOR_COOKIE.into(), token, "/".into()));
        return Err(Box::new((jar, Redirect::to(uri.path())).into_response()));
    }
    if let (Some(key), Some(s)) = (link.key, seat) {
        if !workshop.is_mentor(s, &key) {
            return Err(Box::new(forbidden(seat)));
        }
        let jar = CookieJar::new().add(session_cookie(mentor_cookie(s), key, mentor_path(s)));
        return Err(Box::new((jar, Redirect::to(uri.path())).into_response()));
    }
    match judge(workshop, headers, seat) {
        Ok(Some(viewer)) => Ok(viewer),
        Ok(None) => Err(Box::new(unauthorized(seat))),
        Err(()) => Err(Box::new(forbidden(seat))),
    }
}

/// Admit a stream or export: a credential only, no link exchange.
pub fn admit_reader(
    workshop: &Workshop,
    headers: &HeaderMap,
    seat: Option<u32>,
) -> Result<Viewer, Turned> {
    match judge(workshop, headers, seat) {
        Ok(Some(viewer)) => Ok(viewer),
        Ok(None) => Err(Box::new(unauthorized(seat))),
        Err(()) => Err(Box::new(forbidden(seat))),
    }
}

/// Whether the browser says the request comes from another site (`Sec-Fetch-Site`), or, from
/// a browser that does not send that header, its `Origin` names another host (or none).
fn cross_site(headers: &HeaderMap) -> bool {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    // A browser sets `Sec-Fetch-Site` itself (no page can forge it); where it says
    // same-origin that is the answer, whatever `Origin` holds (chromium sends `Origin: null`
    // on a same-origin form post under a strict referrer policy).
    match text("sec-fetch-site") {
        Some("same-origin") => return false,
        Some("cross-site" | "same-site") => return true,
        _ => {}
    }
    match (text("origin"), text("host")) {
        (Some(origin), Some(host)) => {
            let origin_host = origin.split("://").nth(1).unwrap_or(origin);
            origin == "null" || origin_host != host
        }
        (Some(_), None) => true,
        _ => false,
    }
}

/// Admit a form post. A script with a bearer credential needs no anti-forgery value (a page
/// of another site cannot set that header); a browser's cookie does, and it must match the
/// form's scope: the facilitator's forms, or this seat's mentor forms.
pub fn admit_form(
    workshop: &Workshop,
    headers: &HeaderMap,
    seat: Option<u32>,
    form_secret: Option<&str>,
) -> Result<Viewer, Turned> {
    if cross_site(headers) {
        tracing::warn!("a cross-site form post was refused");
        return Err(Box::new(refusal_page(
            StatusCode::FORBIDDEN,
            "Refused",
            "This form can only be sent from the workshop's own pages.",
        )));
    }
    let viewer = admit_reader(workshop, headers, seat)?;
    if bearer(headers).is_some() {
        return Ok(viewer);
    }
    let given = form_secret.unwrap_or_default();
    let valid = match seat {
        Some(s) => workshop.is_mentor_form_secret(s, given),
        None => workshop.is_form_secret(given),
    };
    if valid {
        Ok(viewer)
    } else {
        Err(Box::new(refusal_page(
            StatusCode::FORBIDDEN,
            "Refused",
            "The form is out of date or did not come from this workshop's pages: reload the page and try again.",
        )))
    }
}
