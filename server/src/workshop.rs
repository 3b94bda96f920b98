//! A workshop's state, shared by every route: its seats with their join codes, the facilitator's
//! token and the per-address limit on join attempts.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Mutex, MutexGuard};

use bulkhead_host::{Connection, Seat, SeatStatus};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::Serialize;

use crate::secrets;

/// One seat and the code that joins it.
struct Place {
    seat: Seat,
    code: Mutex<String>,
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
    token: String,
    places: Vec<Place>,
    joins: DefaultKeyedRateLimiter<IpAddr>,
}

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
    pub fn new(name: String, seats: Vec<Seat>, joins_per_minute: NonZeroU32) -> Workshop {
        let mut places: Vec<Place> = Vec::with_capacity(seats.len());
        for seat in seats {
            let code = Mutex::new(unique_code(places.iter().map(|p| lock(&p.code).clone())));
            places.push(Place { seat, code });
        }
        Workshop {
            name,
            token: secrets::new_token(),
            places,
            joins: RateLimiter::keyed(Quota::per_minute(joins_per_minute)),
        }
    }

    pub fn facilitator_token(&self) -> &str {
        &self.token
    }

    pub fn is_facilitator(&self, given: &str) -> bool {
        secrets::same_secret(given, &self.token)
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
        let place = self.places.iter().find(|p| p.seat.status().seat == seat)?;
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
