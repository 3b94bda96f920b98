//! The session on one time axis, as an SVG of swimlanes: attack steps and decoys as they ran,
//! alerts as they fired (by severity, coloured by what they turned out to be), the trainee's
//! verdicts and attributions, mitigations with the lab's answer, hints and a mentor's acts;
//! the phases shaded behind. Every mark carries a tooltip (`<title>`) and a `data-` attribute
//! naming what it is, so a test (or a curious reader of the source) can find it.

use std::collections::BTreeMap;

use bulkhead_engine::format::rules::Severity;
use bulkhead_engine::score::Truth;
use bulkhead_engine::{Millis, Verdict};
use maud::{Markup, html};

use crate::digest::{Confirmation, Digest, HelpKind, StepRun};
use crate::svg::{Axis, clock, n, short, text_width, ticks};

pub const WIDTH: f64 = 1200.0;
const GUTTER: f64 = 190.0;
const RIGHT: f64 = 1185.0;
/// Room above the lanes for the phases' names and the detection markers' labels.
const TOP: f64 = 48.0;
const ROW: f64 = 20.0;
const HEADER: f64 = 20.0;
const BOTTOM: f64 = 24.0;
const FONT: f64 = 11.0;

pub fn axis(d: &Digest) -> Axis {
    Axis {
        end_ms: d.end_ms,
        x0: GUTTER,
        x1: RIGHT,
    }
}

/// Rows handed out top to bottom; what a lane draws goes at the row's y.
struct Layout {
    y: f64,
    rows: usize,
}

impl Layout {
    /// A lane's title row; returns its y.
    fn lane(&mut self) -> f64 {
        self.y += 6.0;
        let y = self.y;
        self.y += HEADER;
        y
    }

    /// One row of marks; returns its top y.
    fn row(&mut self) -> f64 {
        let y = self.y;
        self.y += ROW;
        self.rows += 1;
        y
    }
}

/// Keeps labels on one line from overlapping: a label goes right of its mark if it fits,
/// else left of it, else it is left out (the mark's tooltip still says it).
#[derive(Default)]
struct Labels {
    taken: Vec<(f64, f64)>,
}

impl Labels {
    /// Labels that must keep clear of these marks too (each about 8 px wide).
    fn around(xs: impl Iterator<Item = f64>) -> Labels {
        Labels {
            taken: xs.map(|x| (x - 4.0, x + 4.0)).collect(),
        }
    }

    /// Where a label of `text` beside a mark at `x` goes: (x, anchor), if anywhere.
    fn place(&mut self, x: f64, text: &str) -> Option<(f64, &'static str)> {
        self.place_at(x, text, 10.0)
    }

    /// As `place`, `gap` from the mark (negative: starting under it).
    fn place_at(&mut self, x: f64, text: &str, gap: f64) -> Option<(f64, &'static str)> {
        let w = text_width(text, FONT);
        let free = |a: f64, b: f64, taken: &[(f64, f64)]| {
            a >= GUTTER
                && b <= WIDTH - 2.0
                && taken.iter().all(|&(l, r)| b + 5.0 < l || a > r + 5.0)
        };
        let (right, left) = ((x + gap, x + gap + w), (x - gap - w, x - gap));
        let spot = if free(right.0, right.1, &self.taken) {
            Some((right, "start"))
        } else if free(left.0, left.1, &self.taken) {
            Some((left, "end"))
        } else {
            None
        };
        let ((a, b), anchor) = spot?;
        self.taken.push((a, b));
        Some((if anchor == "start" { a } else { b }, anchor))
    }
}

/// A mark's label, placed by `labels`, at the middle of the row at `y`.
fn label(labels: &mut Labels, x: f64, y: f64, text: &str) -> Markup {
    match labels.place(x, text) {
        Some((lx, anchor)) => html! {
            text.mark-label x=(n(lx)) y=(n(y + ROW / 2.0 + 4.0)) text-anchor=(anchor) { (text) }
        },
        None => html! {},
    }
}

/// A mark's label beside it on its row, else on the lane's spare row under it.
fn label_or_under(rows: &mut [Labels; 2], x: f64, y: f64, text: &str) -> Markup {
    let beside = rows[0].place(x, text).map(|(lx, anchor)| (lx, anchor, y));
    let spot = beside.or_else(|| {
        let under = rows[1].place_at(x, text, -4.0);
        under.map(|(lx, anchor)| (lx, anchor, y + ROW - 3.0))
    });
    match spot {
        Some((lx, anchor, ly)) => html! {
            text.mark-label x=(n(lx)) y=(n(ly + ROW / 2.0 + 4.0)) text-anchor=(anchor) { (text) }
        },
        None => html! {},
    }
}

/// The whole timeline: lanes, with the phases, ticks and detection markers behind them.
pub fn svg(d: &Digest) -> Markup {
    let axis = axis(d);
    let mut lay = Layout { y: TOP, rows: 0 };
    let lanes = html! {
        (steps_lane(d, &axis, &mut lay, true))
        (steps_lane(d, &axis, &mut lay, false))
        (alerts_lane(d, &axis, &mut lay))
        (triage_lane(d, &axis, &mut lay))
        (mitigation_lane(d, &axis, &mut lay))
        (help_lane(d, &axis, &mut lay))
        (faults_lane(d, &axis, &mut lay))
    };
    let bottom = lay.y + 6.0;
    let height = bottom + BOTTOM;
    html! {
        svg #timeline-svg .timeline viewBox=(format!("0 0 {WIDTH} {}", n(height)))
            role="img" aria-labelledby="timeline-title" {
            title #timeline-title { "Timeline of the session: " (lay.rows) " rows of marks on one time axis" }
            (phase_bands(d, &axis, bottom))
            (grid(&axis, bottom))
            (lanes)
            (markers(d, &axis, bottom))
        }
    }
}

fn phase_bands(d: &Digest, axis: &Axis, bottom: f64) -> Markup {
    html! {
        @for p in &d.phases {
            @let (x, w) = axis.span(p.from, p.to, 0.0);
            @if w > 0.5 {
                g.phase data-phase=(p.phase.title()) {
                    title { (p.phase.title()) ": " (clock(p.from)) " to " (clock(p.to)) }
                    rect class=(format!("band band-{:?}", p.phase).to_lowercase()) x=(n(x)) y="0" width=(n(w)) height=(n(bottom)) {}
                    text.phase-label x=(n(x + 6.0)) y="14" { (p.phase.title()) }
                }
            }
        }
    }
}

fn grid(axis: &Axis, bottom: f64) -> Markup {
    html! {
        g.grid {
            @for t in ticks(axis.end_ms, 12) {
                @let x = axis.x(t);
                line x1=(n(x)) x2=(n(x)) y1=(n(TOP - 4.0)) y2=(n(bottom)) {}
                text.tick x=(n(x)) y=(n(bottom + 16.0)) text-anchor="middle" { (clock(t)) }
            }
        }
    }
}

/// When the attack began, par for detection, and when the standing escalation was made.
fn markers(d: &Digest, axis: &Axis, bottom: f64) -> Markup {
    let facts = &d.card.facts;
    let attack_began = d.attack_steps().map(|s| s.first_ms).min();
    let par = attack_began.map(|t| t + u64::from(d.record.scenario.objectives.detect_par_s) * 1000);
    let marks: [(Option<Millis>, &str, &str); 3] = [
        (facts.detected_ms, "detected", "detected"),
        (attack_began, "attack-began", "attack began"),
        (par, "detect-par", "detect par"),
    ];
    // Two label lines under the phases' names; each label takes the first with room.
    let mut lines = [Labels::default(), Labels::default()];
    let mut out = Vec::new();
    for (t, class, text) in marks {
        let Some(t) = t else { continue };
        let x = axis.x(t);
        let spot = lines.iter_mut().enumerate().find_map(|(i, labels)| {
            labels
                .place(x - 4.0, text)
                .map(|(lx, anchor)| (lx, 25.0 + 11.0 * i as f64, anchor))
        });
        out.push((t, x, class, text, spot));
    }
    html! {
        @for (t, x, class, text, spot) in out {
            g.marker data-marker=(class) {
                title { (text) " at " (clock(t)) }
                line class=(class) x1=(n(x)) x2=(n(x)) y1=(n(TOP - 14.0)) y2=(n(bottom)) {}
                @if let Some((lx, ly, anchor)) = spot {
                    text class=(format!("marker-label {class}")) x=(n(lx)) y=(n(ly)) text-anchor=(anchor) { (text) }
                }
            }
        }
    }
}

fn lane_title(lay: &mut Layout, title: &str, note: &str) -> Markup {
    let y = lay.lane();
    html! {
        line.lane-rule x1="0" x2=(WIDTH) y1=(n(y)) y2=(n(y)) {}
        text.lane-title x="8" y=(n(y + 14.0)) { (title) }
        text.lane-note x=(n(GUTTER + 6.0)) y=(n(y + 14.0)) { (note) }
    }
}

/// A row's shading and its name in the gutter.
fn row_frame(y: f64, name: &str, full: &str) -> Markup {
    html! {
        rect.row x="0" y=(n(y)) width=(WIDTH) height=(ROW) {}
        text.row-label x=(n(GUTTER - 8.0)) y=(n(y + ROW / 2.0 + 4.0)) text-anchor="end" {
            title { (full) }
            (short(name, 28))
        }
    }
}

fn steps_lane(d: &Digest, axis: &Axis, lay: &mut Layout, hostile: bool) -> Markup {
    let runs: Vec<&StepRun> = d.steps.iter().filter(|s| s.hostile == hostile).collect();
    let (title, none) = if hostile {
        ("Attack", "no attack step ran")
    } else {
        ("Decoys", "no decoy ran")
    };
    html! {
        (lane_title(lay, title, if runs.is_empty() { none } else { "" }))
        @for run in runs {
            (step_row(d, axis, lay.row(), run))
        }
    }
}

/// One step: a bar while it acted, a tick per attempt (dark when it worked), and for an
/// objective step its par and when it was contained.
fn step_row(d: &Digest, axis: &Axis, y: f64, run: &StepRun) -> Markup {
    let kind = if run.hostile { "attack" } else { "decoy" };
    let (x, w) = axis.span(run.first_ms, run.last_ms, 3.0);
    let goal = d
        .record
        .scenario
        .objectives
        .contain
        .iter()
        .find(|c| c.step == run.id);
    let contained = d.card.facts.contained_ms.get(run.id).copied().flatten();
    let ok = run.attempts.iter().filter(|a| a.ok).count();
    html! {
        g.step data-step=(run.id) data-kind=(kind) {
            (row_frame(y, run.id, &format!("{kind} step {}: {}", run.id, run.narrative())))
            title {
                (kind) " step " (run.id) ": " (run.narrative()) " (" (clock(run.first_ms)) " to "
                (clock(run.last_ms)) "; " (ok) " of " (run.attempts.len()) " attempts worked)"
            }
            rect class=(format!("bar {kind}")) x=(n(x)) y=(n(y + 5.0)) width=(n(w)) height="10" rx="2" {}
            @for (ax, ok) in attempt_ticks(axis, run) {
                line class=(if ok { "attempt ok" } else { "attempt failed" })
                    x1=(n(ax)) x2=(n(ax)) y1=(n(y + 4.0)) y2=(n(y + 16.0)) {}
            }
            @if let Some(goal) = goal {
                @let px = axis.x(run.first_ms + u64::from(goal.par_s) * 1000);
                g.par {
                    title { "par to contain " (run.id) ": " (goal.par_s) " s after it began" }
                    line.par x1=(n(px)) x2=(n(px)) y1=(n(y)) y2=(n(y + ROW)) {}
                }
            }
            @if let Some(t) = contained {
                @let cx = axis.x(t);
                polygon.contained points=(diamond(cx, y + ROW / 2.0, 6.0)) {
                    title { (run.id) " contained at " (clock(t)) }
                }
            }
        }
    }
}

/// One tick per 2-pixel column of attempts (a flood makes thousands): dark where most of the
/// column's attempts worked.
fn attempt_ticks(axis: &Axis, run: &StepRun) -> Vec<(f64, bool)> {
    let mut columns: BTreeMap<i64, (usize, usize)> = BTreeMap::new();
    for a in &run.attempts {
        let column = columns
            .entry((axis.x(a.t_ms) / 2.0).round() as i64)
            .or_default();
        column.0 += usize::from(a.ok);
        column.1 += 1;
    }
    columns
        .into_iter()
        .map(|(c, (ok, all))| (c as f64 * 2.0, ok * 2 >= all))
        .collect()
}

fn diamond(x: f64, y: f64, r: f64) -> String {
    crate::svg::points([(x, y - r), (x + r, y), (x, y + r), (x - r, y)].into_iter())
}

pub fn truth_class(truth: Truth) -> &'static str {
    match truth {
        Truth::Attack => "truth-attack",
        Truth::Decoy => "truth-decoy",
        Truth::Noise => "truth-noise",
    }
}

pub fn truth_word(truth: Truth) -> &'static str {
    match truth {
        Truth::Attack => "the attack",
        Truth::Decoy => "a decoy",
        Truth::Noise => "noise",
    }
}

/// One row per severity, most severe on top; each alert a dot coloured by what it was.
fn alerts_lane(d: &Digest, axis: &Axis, lay: &mut Layout) -> Markup {
    let severities = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
    ];
    let note = if d.alerts.is_empty() {
        "no alert fired".to_string()
    } else {
        format!("{} alerts", d.alerts.len())
    };
    html! {
        (lane_title(lay, "Alerts", &note))
        @for severity in severities {
            (alert_row(d, axis, lay.row(), severity))
        }
    }
}

fn alert_row(d: &Digest, axis: &Axis, y: f64, severity: Severity) -> Markup {
    let alerts: Vec<_> = d
        .alerts
        .iter()
        .filter(|a| a.alert.severity == severity)
        .collect();
    let mut labels = Labels::around(alerts.iter().map(|a| axis.x(a.alert.t_ms)));
    let name = format!("{severity:?}");
    html! {
        g.severity data-severity=(name.to_lowercase()) {
            (row_frame(y, &name, &format!("alerts of severity {name}")))
            @for a in alerts {
                @let x = axis.x(a.alert.t_ms);
                g.alert data-alert=(a.alert.id) data-truth=(truth_word(a.truth)) {
                    title { (alert_tooltip(a)) }
                    circle class=(truth_class(a.truth)) cx=(n(x)) cy=(n(y + ROW / 2.0)) r="5" {}
                    (label(&mut labels, x, y, &format!("#{}", a.alert.id)))
                }
            }
        }
    }
}

fn alert_tooltip(a: &crate::digest::AlertView) -> String {
    let verdict = match a.standing() {
        Some((t, v)) => format!("{} at {}", v.word(), clock(t)),
        None => "never triaged".to_string(),
    };
    format!(
        "#{} at {} ({:?}): {} [{}]; about {}; it was {}; verdict: {verdict}",
        a.alert.id,
        clock(a.alert.t_ms),
        a.alert.severity,
        a.alert.title,
        a.alert.rule,
        a.alert.entity,
        truth_word(a.truth),
    )
}

/// Verdicts (up: incident, down: benign) and attributions.
fn triage_lane(d: &Digest, axis: &Axis, lay: &mut Layout) -> Markup {
    let title = lane_title(lay, "Triage", "");
    let (verdict_y, named_y) = (lay.row(), lay.row());
    let mut labels = Labels::around(d.triages.iter().map(|(t, ..)| axis.x(*t)));
    let mut named_labels = Labels::around(d.attributions.iter().map(|(t, _)| axis.x(*t)));
    html! {
        (title)
        (row_frame(verdict_y, "verdicts", "the trainee's verdicts on alerts"))
        @for (t, id, verdict) in &d.triages {
            @let x = axis.x(*t);
            @let cy = verdict_y + ROW / 2.0;
            @let (shape, class) = match verdict {
                Verdict::Incident => (crate::svg::points([(x, cy - 6.0), (x + 6.0, cy + 5.0), (x - 6.0, cy + 5.0)].into_iter()), "escalated"),
                Verdict::Benign => (crate::svg::points([(x - 6.0, cy - 5.0), (x + 6.0, cy - 5.0), (x, cy + 6.0)].into_iter()), "dismissed"),
            };
            g.triage data-triage=(id) data-verdict=(verdict.word()) {
                title { "alert #" (id) " triaged as " (verdict.word()) " at " (clock(*t))
                    @if let Some(a) = d.alert(*id) { " (it was " (truth_word(a.truth)) ")" } }
                polygon class=(class) points=(shape) {}
                (label(&mut labels, x, verdict_y, &format!("#{id}")))
            }
        }
        (row_frame(named_y, "attributions", "entities the trainee named as involved"))
        @for (t, entity) in &d.attributions {
            @let x = axis.x(*t);
            g.attribution data-entity=(entity.name()) {
                title { "named " (entity) " at " (clock(*t)) }
                polygon.named points=(diamond(x, named_y + ROW / 2.0, 5.0)) {}
                (label(&mut named_labels, x, named_y, entity.name()))
            }
        }
    }
}

fn mitigation_lane(d: &Digest, axis: &Axis, lay: &mut Layout) -> Markup {
    let note = if d.mitigations.is_empty() && d.refused.is_empty() {
        "no mitigation"
    } else {
        ""
    };
    let title = lane_title(lay, "Mitigations", note);
    let y = lay.row();
    // A spare row under the marks for the labels that do not fit beside them.
    lay.row();
    let xs = d.mitigations.iter().map(|m| m.t_ms);
    let refused = d.refused.iter().map(|r| r.t_ms);
    let mut labels = [
        Labels::around(xs.chain(refused).map(|t| axis.x(t))),
        Labels::default(),
    ];
    html! {
        (title)
        (row_frame(y, "applied", "mitigations: filled when the lab confirmed them"))
        @for m in &d.mitigations {
            @let x = axis.x(m.t_ms);
            @let (class, answer) = match m.confirmation {
                Confirmation::Confirmed(t) => ("confirmed", format!("confirmed at {}", clock(t))),
                Confirmation::Failed(t) => ("failed", format!("did not take effect ({}) at {}", m.detail, clock(t))),
                Confirmation::Unanswered => ("unanswered", "no answer from the lab in the record".to_string()),
            };
            g.mitigation data-mitigation=(m.mitigation.verb()) data-confirmed=(class) {
                title { (m.mitigation.summary()) " at " (clock(m.t_ms)) ": " (answer) }
                rect class=(class) x=(n(x - 5.0)) y=(n(y + 5.0)) width="10" height="10" {}
                (label_or_under(&mut labels, x, y, &m.mitigation.summary()))
            }
        }
        @for r in &d.refused {
            @let x = axis.x(r.t_ms);
            g.refused data-refused=(r.command.summary()) {
                title { "refused: " (r.command.summary()) " at " (clock(r.t_ms)) ": " (r.why) }
                rect.refused x=(n(x - 5.0)) y=(n(y + 5.0)) width="10" height="10" {}
                line.refused x1=(n(x - 5.0)) y1=(n(y + 15.0)) x2=(n(x + 5.0)) y2=(n(y + 5.0)) {}
            }
        }
    }
}

/// The letter on a help mark: H a hint asked for, M one a mentor revealed, W a whisper, I an
/// inject, + time added.
fn glyph(kind: HelpKind) -> &'static str {
    match kind {
        HelpKind::Hint => "H",
        HelpKind::RevealedHint => "M",
        HelpKind::Whisper => "W",
        HelpKind::Inject => "I",
        HelpKind::Extend => "+",
    }
}

fn help_lane(d: &Digest, axis: &Axis, lay: &mut Layout) -> Markup {
    let note = if d.help.is_empty() {
        "no hint, no mentor"
    } else {
        ""
    };
    let title = lane_title(lay, "Hints & mentor", note);
    let y = lay.row();
    lay.row();
    let mut labels = [
        Labels::around(d.help.iter().map(|h| axis.x(h.t_ms))),
        Labels::default(),
    ];
    html! {
        (title)
        (row_frame(y, "help", "hints asked for, and what a mentor did"))
        @for h in &d.help {
            @let x = axis.x(h.t_ms);
            @let letter = glyph(h.kind);
            g.help data-help=(h.kind.key()) {
                title { (clock(h.t_ms)) ": " (h.text) }
                rect class=(h.kind.key()) x=(n(x - 6.0)) y=(n(y + 4.0)) width="12" height="12" rx="3" {}
                text.glyph x=(n(x)) y=(n(y + 13.5)) text-anchor="middle" { (letter) }
                (label_or_under(&mut labels, x, y, &h.label))
            }
        }
    }
}

/// The range's own faults (a container it restored, the lab unreachable and its clock held, a
/// network made again, the session lost), so that whoever reads the session sees what the
/// range did beside what the trainee did. A session without faults has no such lane.
fn faults_lane(d: &Digest, axis: &Axis, lay: &mut Layout) -> Markup {
    let faults = &d.card.faults;
    if faults.is_empty() {
        return html! {};
    }
    let title = lane_title(lay, "Range faults", "none held against the trainee");
    let y = lay.row();
    lay.row();
    let mut labels = [
        Labels::around(faults.iter().map(|f| axis.x(f.t_ms))),
        Labels::default(),
    ];
    html! {
        (title)
        (row_frame(y, "faults", "what the range lived through"))
        @for f in faults {
            @let x = axis.x(f.t_ms);
            g.fault {
                title { (clock(f.t_ms)) ": " (f.text) }
                rect.fault x=(n(x - 6.0)) y=(n(y + 4.0)) width="12" height="12" rx="3" {}
                text.glyph x=(n(x)) y=(n(y + 13.5)) text-anchor="middle" { "!" }
                (label_or_under(&mut labels, x, y, &fault_label(&f.text)))
            }
        }
    }
}
/// The first clause of a fault's text, for its label on the lane (the whole text is its title).
fn fault_label(text: &str) -> String {
    let head = text.split([';', '(', ':']).next().unwrap_or(text).trim();
    short(head, 28)
}
