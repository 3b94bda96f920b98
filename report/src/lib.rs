//! Bulkhead's after-action report: one self-contained, offline HTML page of a session record
//! (inline CSS and SVG; no script, font, image or link to anything outside the page), so that
//! it opens from a USB stick on a plane. It explains the score card it is given; it never
//! scores a second time.

mod card;
mod charts;
mod digest;
mod response;
mod review;
mod svg;
mod timeline;

use bulkhead_engine::format::scenario::Scenario;
use bulkhead_engine::{Record, ScoreCard};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use digest::Digest;
use svg::took;

const STYLE: &str = include_str!("style.css");

/// The page's sections, in order: (fragment id, title in the table of contents).
const SECTIONS: [(&str, &str); 7] = [
    ("score", "Score"),
    ("timeline", "Timeline"),
    ("response", "Response per step"),
    ("review", "Missed and cost"),
    ("containers", "Containers"),
    ("alerts", "Alerts"),
    ("debrief", "Debrief"),
];

/// The after-action report of a record, as one self-contained HTML page.
pub fn html(record: &Record, card: &ScoreCard) -> String {
    let d = Digest::gather(record, card);
    let scenario = &record.scenario;
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                // An empty icon: a browser asks for none from anywhere.
                link rel="icon" href="data:,";
                title { "After-action report: " (scenario.title) " (seed " (record.seed) ")" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                (header(&d))
                main {
                    (section("score", "Score", html! { (card::summary(card)) (card::components(card)) (card::facts(&d)) }))
                    (section("timeline", "Timeline", timeline_body(&d)))
                    (section("response", "Response per attack step", response::section(&d)))
                    (section("review", "What you missed, what cost you", review_body(&d)))
                    (section("containers", "Containers", html! {
                        p.small { "Each company container's resources over the session. The shaded band is the warm-up range: the lowest to the highest value of that series during the warm-up, when the detector learned what normal looks like. Triangles under the axis are alerts about the container; squares above the plot are mitigations applied to it." }
                        (charts::section(&d))
                    }))
                    (section("alerts", "Alerts", card::alerts(&d)))
                    (section("debrief", "Debrief", debrief(scenario)))
                }
                footer.small { "Bulkhead " (env!("CARGO_PKG_VERSION")) " after-action report. Times are session time (m:ss) from the start of the warm-up." }
            }
        }
    };
    page.into_string()
}

fn header(d: &Digest) -> Markup {
    let (record, card) = (d.record, d.card);
    let s = &record.scenario;
    html! {
        header.top {
            p.kicker { "After-action report" }
            h1 { (s.title) }
            p.meta {
                (s.id) " · " (format!("{:?}", s.difficulty)) " · " (record.topology.title) " · "
                (record.backend.title()) " · seed " (record.seed) @if let Some(h) = &s.hardening { " · hardening " (took(u64::from(h.budget_s) * 1000)) }
                " · warm-up " (took(u64::from(s.timing.warmup_s) * 1000))
                ", live " (took(u64::from(s.timing.live_s) * 1000))
                @if card.facts.extended_s > 0 { " (+" (card.facts.extended_s) " s added)" }
                " · score " b { (card.total) " / " (card.max) } ", grade " b { (card.grade) }
            }
            nav.toc {
                @for (id, title) in SECTIONS {
                    a href=(format!("#{id}")) { (title) }
                }
            }
        }
    }
}

fn section(id: &str, title: &str, body: Markup) -> Markup {
    html! {
        section id=(id) {
            h2 { (title) }
            (body)
        }
    }
}

fn timeline_body(d: &Digest) -> Markup {
    html! {
        div.scroll { (timeline::svg(d)) }
        ul.legend {
            li { span.swatch.s-attack {} "attack step (ticks: attempts, dark when they worked)" }
            li { span.swatch.s-decoy {} "decoy" }
            li { span.swatch.s-contained {} "contained" }
            li { span.swatch.s-par {} "par" }
            li { span.dot.truth-attack {} "alert of the attack" }
            li { span.dot.truth-decoy {} "alert of a decoy" }
            li { span.dot.truth-noise {} "noise" }
            li { span.swatch.s-escalated {} "escalated (incident)" }
            li { span.swatch.s-dismissed {} "dismissed (benign)" }
            li { span.swatch.s-confirmed {} "mitigation confirmed" }
            li { span.swatch.s-failed {} "mitigation failed" }
            li { span.swatch.s-unanswered {} "unanswered or refused" }
        }
        p.small { "Hover a mark for what it was. H: a hint asked for; M: a hint a mentor revealed; W: a mentor's whisper; I: an inject fired; +: time added; !: a fault of the range (a restored container, the lab unreachable, a network made again)." }
    }
}

fn review_body(d: &Digest) -> Markup {
    html! {
        div.columns {
            div { h3 { "What you missed" } (review::missed(d)) }
            div { h3 { "What cost you" } (review::cost(d)) }
        }
    }
}

fn debrief(scenario: &Scenario) -> Markup {
    html! {
        div.debrief { (scenario.debrief) }
        h3 { "Lessons" }
        ul.lessons {
            @for lesson in &scenario.lessons { li { (lesson.title()) } }
        }
        @if !scenario.hints.is_empty() {
            h3 { "The scenario's hints" }
            ol.hints {
                @for h in &scenario.hints { li { (h.text) " " span.muted { "(costs " (h.cost) ")" } } }
            }
        }
        details {
            summary { "The briefing" }
            div.debrief { (scenario.briefing) }
        }
    }
}
