//! A workshop's state, shared by every route: its seats with their join codes and mentor keys,
//! the facilitator's token, the pages' anti-forgery secret and the per-address limit on join
//! attempts.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Mutex, MutexGuard};

use bulkhead_engine::NodeLoad;
use bulkhead_host::{Connection, ControlReply, Offer, Seat, SeatControl, SeatStatus, Watching};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::Serialize;

use crate::secrets;

/// One seat, the code that joins it and the key of its mentor link.
struct Place {
    seat: Seat,
    code: Mutex<String>,
    mentor_key: Mutex<String>,
    /// The anti-forgery value of this seat's mentor forms, renewed with the key: a mentor of
    /// one seat must not learn what another's (or the facilitator's) forms carry.
    mentor_form: Mutex<String>,
}

/// A seat as the facilitator sees it: its status (the final score included) and its code.
#[derive(Debug, Clone, Serialize)]
pub struct SeatRow {
    #[serde(flatten)]
    pub status: SeatStatus,
    pub code: String,
}

/// Why a join was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinRefusal {
    /// No seat has this code.
    BadCode,
    /// The seat's code is right, but another client holds the seat.
    InUse,
}

pub struct Workshop {
    pub name: String,
    /// What the seats offer (every seat offers the same), for the pages.
    pub offers: Vec<Offer>,
    token: String,
    /// Every form the pages post carries this; a page of another site cannot know it.
    form_secret: String,
    places: Vec<Place>,
    joins: DefaultKeyedRateLimiter<IpAddr>,
    /// What facilitators and mentors did lately, newest last, for the console.
    log: Mutex<VecDeque<String>>,
    /// The machines the labs run on, as last read (empty: the server's own machine).
    nodes: Mutex<Vec<NodeLoad>>,
}

/// Lines of the console's activity log kept.
const LOG_KEPT: usize = 12;

impl std::fmt::Debug for Workshop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workshop")
            .field("name", &self.name)
            .field("seats", &self.places.len())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Workshop {
    /// A workshop over running seats, each given a fresh code; `joins_per_minute` bounds the
    /// join attempts one address may make (a burst of that many, refilled over a minute).
    pub fn new(
        name: String,
        offers: Vec<Offer>,
        seats: Vec<Seat>,
        joins_per_minute: NonZeroU32,
    ) -> Workshop {
        let mut places: Vec<Place> = Vec::with_capacity(seats.len());
        for seat in seats {
            let code = Mutex::new(unique_code(places.iter().map(|p| lock(&p.code).clone())));
            places.push(Place {
                seat,
                code,
                mentor_key: Mutex::new(secrets::new_token()),
                mentor_form: Mutex::new(secrets::new_token()),
            });
        }
        Workshop {
            name,
            offers,
            token: secrets::new_token(),
            form_secret: secrets::new_token(),
            places,
            joins: RateLimiter::keyed(Quota::per_minute(joins_per_minute)),
            log: Mutex::new(VecDeque::new()),
            nodes: Mutex::new(Vec::new()),
        }
    }

    pub fn facilitator_token(&self) -> &str {
        &self.token
    }

    pub fn is_facilitator(&self, given: &str) -> bool {
        secrets::same_secret(given, &self.token)
    }

    /// The anti-forgery value every page form carries.
    pub fn form_secret(&self) -> &str {
        &self.form_secret
    }

    pub fn is_form_secret(&self, given: &str) -> bool {
        secrets::same_secret(given, &self.form_secret)
    }

    fn place(&self, seat: u32) -> Option<&Place> {
        self.places.iter().find(|p| p.seat.status().seat == seat)
    }

    /// The key of a seat's mentor link (for the facilitator's page).
    pub fn mentor_key(&self, seat: u32) -> Option<String> {
        self.place(seat).map(|p| lock(&p.mentor_key).clone())
    }

    /// Whether `given` is this seat's mentor key; another seat's key is not.
    pub fn is_mentor(&self, seat: u32, given: &str) -> bool {
        self.place(seat)
            .is_some_and(|p| secrets::same_secret(given, &lock(&p.mentor_key)))
    }

    /// A new mentor key for the seat: the old link stops working at once.
    pub fn revoke_mentor_key(&self, seat: u32) -> Option<String> {
        let place = self.place(seat)?;
        let fresh = secrets::new_token();
        *lock(&place.mentor_key) = fresh.clone();
        *lock(&place.mentor_form) = secrets::new_token();
        Some(fresh)
    }

    /// The anti-forgery value of the seat's mentor forms.
    pub fn mentor_form_secret(&self, seat: u32) -> Option<String> {
        self.place(seat).map(|p| lock(&p.mentor_form).clone())
    }

    pub fn is_mentor_form_secret(&self, seat: u32, given: &str) -> bool {
        self.place(seat)
            .is_some_and(|p| secrets::same_secret(given, &lock(&p.mentor_form)))
    }

    /// Ask a seat to do something; `None`: no such seat.
    pub fn control(
        &self,
        seat: u32,
        control: SeatControl,
        by: &str,
    ) -> Option<std::sync::mpsc::Receiver<ControlReply>> {
        Some(self.place(seat)?.seat.control(control, by))
    }

    /// Watch a seat as its mentor; `None`: no such seat.
    pub fn watch(&self, seat: u32) -> Option<Watching> {
        Some(self.place(seat)?.seat.watch())
    }

    /// Note something a facilitator or mentor did (or was refused), for the console.
    pub fn note(&self, line: String) {
        let mut log = lock(&self.log);
        log.push_back(line);
        while log.len() > LOG_KEPT {
            log.pop_front();
        }
    }

    pub fn log(&self) -> Vec<String> {
        lock(&self.log).iter().cloned().collect()
    }

    /// A scenario's title, by id (the id itself if the seats do not offer it).
    pub fn scenario_title(&self, id: Option<&str>) -> String {
        let Some(id) = id else { return String::new() };
        self.offers
            .iter()
            .find(|o| o.id == id)
            .map_or_else(|| id.to_string(), |o| o.title.clone())
    }

    pub fn seat_numbers(&self) -> Vec<u32> {
        self.places.iter().map(|p| p.seat.status().seat).collect()
    }

    pub fn seat_count(&self) -> usize {
        self.places.len()
    }

    /// Seat numbers and their codes, for the facilitator.
    pub fn codes(&self) -> Vec<(u32, String)> {
        self.places
            .iter()
            .map(|p| (p.seat.status().seat, lock(&p.code).clone()))
            .collect()
    }

    /// The machines the labs run on, as last read.
    pub fn nodes(&self) -> Vec<NodeLoad> {
        lock(&self.nodes).clone()
    }

    pub fn set_nodes(&self, nodes: Vec<NodeLoad>) {
        *lock(&self.nodes) = nodes;
    }

    pub fn rows(&self) -> Vec<SeatRow> {
        self.places
            .iter()
            .map(|p| SeatRow {
                status: p.seat.status(),
                code: lock(&p.code).clone(),
            })
            .collect()
    }

    /// Whether this address may try to join now; every try counts.
    pub fn may_try_join(&self, from: IpAddr) -> bool {
        self.joins.check_key(&from).is_ok()
    }

    /// Attach a client to the seat whose code this is. Every seat's code is compared, each in
    /// constant time, so the answer's timing says nothing about which seat or how close.
    pub fn join(&self, typed_code: &str, name: String) -> Result<(u32, Connection), JoinRefusal> {
        let code = secrets::normalise_code(typed_code);
        let mut found = None;
        for place in &self.places {
            if secrets::same_secret(&code, &lock(&place.code)) {
                found = Some(place);
            }
        }
        let place = found.ok_or(JoinRefusal::BadCode)?;
        let conn = place
            .seat
            .try_attach(Some(name))
            .ok_or(JoinRefusal::InUse)?;
        Ok((place.seat.status().seat, conn))
    }

    /// Give a seat a new code and drop whoever holds it (their client is told the seat closed);
    /// the session goes on for whoever joins with the new code. `None`: no such seat.
    pub fn reset_code(&self, seat: u32) -> Option<String> {
        let others: Vec<String> = self.places.iter().map(|p| lock(&p.code).clone()).collect();
        let place = self.place(seat)?;
        let fresh = unique_code(others.into_iter());
        *lock(&place.code) = fresh.clone();
        place.seat.kick();
        Some(fresh)
    }

    /// End every seat's session (records written, labs removed), all at once: a Docker lab
    /// takes about a second to come down, and a room's worth must not queue.
    pub fn shut_down(&self) {
        for place in &self.places {
            place.seat.stop();
        }
        for place in &self.places {
            place.seat.join();
        }
    }
}

fn unique_code(taken: impl Iterator<Item = String>) -> String {
    let taken: Vec<String> = taken.collect();
    loop {
        let code = secrets::new_code();
        if !taken.contains(&code) {
            return code;
        }
    }
}
