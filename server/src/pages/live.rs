//! Live updates for the pages: one task reads the seats a few times a second and, when the
//! scoreboard (or, while a facilitator watches, the console) would look different, renders it
//! once and hands the same HTML to every open stream. A viewer costs a receiver, not a render.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::pages::{facilitator, scoreboard};
use crate::workshop::Workshop;

/// How often the seats are read. A change reaches the browsers within this plus a render.
pub const POLL: Duration = Duration::from_millis(200);

/// The rendered fragments the streams carry.
pub struct Live {
    scoreboard: watch::Sender<Arc<str>>,
    facilitator: watch::Sender<Arc<str>>,
    stopping: watch::Sender<bool>,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live")
            .field("scoreboard_viewers", &self.scoreboard.receiver_count())
            .field("facilitator_viewers", &self.facilitator.receiver_count())
            .finish()
    }
}

impl Live {
    /// Render the first fragments and start the task that keeps them current.
    pub fn start(workshop: Arc<Workshop>) -> (Arc<Live>, JoinHandle<()>) {
        let rows = workshop.rows();
        let live = Arc::new(Live {
            scoreboard: watch::Sender::new(render(scoreboard::fragment(&workshop, &rows))),
            facilitator: watch::Sender::new(render(facilitator::fragment(&workshop, &rows))),
            stopping: watch::Sender::new(false),
        });
        let task = tokio::spawn(refresh(workshop, live.clone()));
        (live, task)
    }

    /// The scoreboard's stream: its columns only, for anyone.
    pub fn scoreboard(&self) -> Sse<impl Stream<Item = Result<Event, Infallible>> + use<>> {
        stream_of(self.scoreboard.subscribe(), self.stopping.subscribe())
    }

    /// The facilitator console's stream (the caller has checked the token).
    pub fn facilitator(&self) -> Sse<impl Stream<Item = Result<Event, Infallible>> + use<>> {
        stream_of(self.facilitator.subscribe(), self.stopping.subscribe())
    }

    /// A receiver that turns true when the server stops: every open stream ends then, so
    /// that the stop does not wait on browsers.
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.stopping.subscribe()
    }

    pub fn stop(&self) {
        self.stopping.send_replace(true);
    }
}

fn render(markup: maud::Markup) -> Arc<str> {
    Arc::from(markup.into_string())
}

async fn refresh(workshop: Arc<Workshop>, live: Arc<Live>) {
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut stopping = live.stopping.subscribe();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopping.wait_for(|s| *s) => return,
        }
        let rows = workshop.rows();
        publish(
            &live.scoreboard,
            render(scoreboard::fragment(&workshop, &rows)),
        );
        // Nobody watches the console most of the time: render it only for someone.
        if live.facilitator.receiver_count() > 0 {
            publish(
                &live.facilitator,
                render(facilitator::fragment(&workshop, &rows)),
            );
        }
    }
}

fn publish(channel: &watch::Sender<Arc<str>>, html: Arc<str>) {
    channel.send_if_modified(|current| {
        if **current == *html {
            false
        } else {
            *current = html;
            true
        }
    });
}

/// An SSE stream of a fragment: the current one at once, then each change, until the server
/// stops.
fn stream_of(
    fragments: watch::Receiver<Arc<str>>,
    stopping: watch::Receiver<bool>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>> + use<>> {
    let stream = futures_util::stream::unfold(
        (fragments, stopping, true),
        |(mut fragments, mut stopping, first)| async move {
            if !first {
                tokio::select! {
                    changed = fragments.changed() => changed.ok()?,
                    _ = stopping.wait_for(|s| *s) => return None,
                }
            }
            let html = fragments.borrow_and_update().clone();
            Some((
                Ok(Event::default().data(&*html)),
                (fragments, stopping, false),
            ))
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// An SSE stream that asks `render` for a fragment every `every` and sends it when it changed
/// (the mentor's page: one seat, whose view the seat itself rebuilds), until the server stops.
pub fn polled<F>(
    every: Duration,
    stopping: watch::Receiver<bool>,
    render: F,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>>
where
    F: FnMut() -> Option<String> + Send + 'static,
{
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let stream = futures_util::stream::unfold(
        (tick, None::<String>, render, stopping),
        |(mut tick, mut last, mut render, mut stopping)| async move {
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stopping.wait_for(|s| *s) => return None,
                }
                if let Some(html) = render()
                    && last.as_deref() != Some(html.as_str())
                {
                    last = Some(html.clone());
                    let event = Event::default().data(html);
                    return Some((Ok(event), (tick, last, render, stopping)));
                }
            }
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::default())
}
