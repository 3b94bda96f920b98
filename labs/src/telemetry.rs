//! Telemetry from a real lab turned into the engine's observations: labd's JSON log lines,
//! Docker's stats stream, and the clock that maps wall time to session time.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bollard::models::ContainerStatsResponse;
use bulkhead_engine::observation::CredentialChange;
use bulkhead_engine::posture::WeaknessKind;
use bulkhead_engine::{Cause, LogEvent, Metrics, Millis, Outcome};
use serde_json::Value;

/// Maps wall time to session time, compressed by the time scale.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    started: Instant,
    started_unix_ms: u64,
    scale: f64,
}

/// Now, in ns since the epoch: the resolution of Docker's event times.
pub fn unix_ns_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

pub fn unix_ms_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Clock {
    /// Session time 0 is now.
    pub fn start(scale: f64) -> Self {
        Clock {
            started: Instant::now(),
            started_unix_ms: unix_ms_now(),
            scale: scale.max(0.001),
        }
    }

    pub fn scale(&self) -> f64 {
        self.scale
    }

    pub fn now(&self) -> Millis {
        (self.started.elapsed().as_secs_f64() * 1000.0 * self.scale) as Millis
    }

    /// Session time of a Unix timestamp in ms (before the start: 0).
    pub fn of_unix_ms(&self, ts_ms: u64) -> Millis {
        (ts_ms.saturating_sub(self.started_unix_ms) as f64 * self.scale) as Millis
    }

    /// The wall instant when the session reaches `t`.
    pub fn instant_of(&self, t: Millis) -> Instant {
        self.started + Duration::from_secs_f64(t as f64 / 1000.0 / self.scale)
    }

    /// A duration in session seconds, as wall time (at least one second: labd counts seconds).
    pub fn wall_seconds(&self, session_s: u32) -> u32 {
        ((f64::from(session_s) / self.scale).round() as u32).max(1)
    }
}

impl Clock {
    /// Move the start later by `d`: session time stood still for `d` of wall time.
    fn delay(&mut self, d: Duration) {
        self.started += d;
        self.started_unix_ms += d.as_millis() as u64;
    }
}

/// A lab's clock that can be held: while the lab's engine cannot be reached, session time
/// stands still, and it runs on from there once the engine answers again.
#[derive(Debug)]
pub struct HeldClock {
    inner: std::sync::Mutex<(Clock, Option<Instant>)>,
}

impl HeldClock {
    /// Session time 0 is now.
    pub fn start(scale: f64) -> Self {
        HeldClock {
            inner: std::sync::Mutex::new((Clock::start(scale), None)),
        }
    }

    /// The clock as if it ran on now, and since when it is held.
    fn read(&self) -> (Clock, Option<Instant>) {
        match self.inner.lock() {
            Ok(inner) => *inner,
            Err(poisoned) => *poisoned.into_inner(),
        }
    }

    /// The clock with the hold so far taken out: what it will read once released now.
    fn released(&self) -> Clock {
        let (mut clock, held) = self.read();
        if let Some(since) = held {
            clock.delay(since.elapsed());
        }
        clock
    }

    pub fn scale(&self) -> f64 {
        self.read().0.scale()
    }

    /// Session time now (while held: when the hold began).
    pub fn now(&self) -> Millis {
        self.released().now()
    }

    /// Session time of a Unix timestamp in ms.
    pub fn of_unix_ms(&self, ts_ms: u64) -> Millis {
        self.released().of_unix_ms(ts_ms)
    }

    /// The wall instant when the session reaches `t`, if the clock runs on from now.
    pub fn instant_of(&self, t: Millis) -> Instant {
        self.released().instant_of(t)
    }

    pub fn wall_seconds(&self, session_s: u32) -> u32 {
        self.read().0.wall_seconds(session_s)
    }

    /// Stop session time now (no change if it is held already).
    pub fn hold(&self) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.1.get_or_insert_with(Instant::now);
        }
    }

    /// How long it has been held, if it is.
    pub fn held_for(&self) -> Option<Duration> {
        self.read().1.map(|since| since.elapsed())
    }

    /// Let session time run on from where it stopped; returns how long it stood still.
    pub fn release(&self) -> Duration {
        let Ok(mut inner) = self.inner.lock() else {
            return Duration::ZERO;
        };
        let Some(since) = inner.1.take() else {
            return Duration::ZERO;
        };
        let held = since.elapsed();
        inner.0.delay(held);
        held
    }
}

/// One labd log line, understood.
#[derive(Debug, Clone, PartialEq)]
pub enum LabdLine {
    Event {
        ts_ms: u64,
        event: LogEvent,
    },
    /// An actor's own view of an effect (ground truth, never shown to the detector).
    Outcome {
        ts_ms: u64,
        /// `cause` is filled in when the executor's own evidence settles it.
        outcome: Outcome,
        /// What the lab's state must settle (see `Evidence`); `None` when the line did.
        evidence: Option<Evidence>,
    },
    /// The container's own resource counters (`LABD_METRICS_MS`).
    Metrics {
        ts_ms: u64,
        service: String,
        sample: CgroupSample,
    },
    /// Lines with nothing for the session (ready, query, job, block).
    Other,
}

/// One `metrics` line of labd: cumulative counters read from the container's cgroup.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CgroupSample {
    pub cpu_ns: u64,
    pub memory_bytes: u64,
    pub pids: u64,
    /// `None`: no pids limit.
    pub pids_max: Option<u64>,
    pub throttled_periods: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
}

/// A container's use over the interval between two `metrics` lines.
#[derive(Debug, Clone, PartialEq)]
pub struct CgroupReading {
    pub metrics: Metrics,
    /// The kernel held the container back during the interval: the CFS quota throttled it,
    /// or it sits at its pids limit (what tells a capped hog from a small one).
    pub held: bool,
}

/// The previous `metrics` line of one container, to turn counters into rates.
#[derive(Debug, Clone, Copy, Default)]
pub struct CgroupRates {
    last: Option<(u64, CgroupSample)>,
}

impl CgroupRates {
    /// Use over the interval since the previous line. `None` for the first line, and for
    /// a line not later than the previous one or whose counters went back (the container
    /// restarted): it starts a new interval.
    pub fn next(
        &mut self,
        service: &str,
        ts_ms: u64,
        sample: CgroupSample,
    ) -> Option<CgroupReading> {
        let previous = self.last.replace((ts_ms, sample));
        let (then, before) = previous?;
        let grew = sample.cpu_ns >= before.cpu_ns
            && sample.rx_bytes >= before.rx_bytes
            && sample.tx_bytes >= before.tx_bytes;
        if ts_ms <= then || !grew {
            return None;
        }
        let secs = (ts_ms - then) as f64 / 1000.0;
        let kib_per_s = |now: u64, was: u64| ((now - was) as f64 / 1024.0 / secs) as f32;
        let metrics = Metrics {
            service: service.to_string(),
            cpu_pct: ((sample.cpu_ns - before.cpu_ns) as f64 / 1e7 / secs) as f32,
            memory_mib: (sample.memory_bytes as f64 / (1024.0 * 1024.0)) as f32,
            pids: u32::try_from(sample.pids).unwrap_or(u32::MAX),
            net_rx_kbps: kib_per_s(sample.rx_bytes, before.rx_bytes),
            net_tx_kbps: kib_per_s(sample.tx_bytes, before.tx_bytes),
        };
        let held = sample.throttled_periods > before.throttled_periods
            || sample
                .pids_max
                .is_some_and(|max| max > 0 && sample.pids >= max);
        Some(CgroupReading { metrics, held })
    }
}

fn s(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

fn n(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

fn b(v: &Value, key: &str) -> bool {
    v.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// What an executor could see of a failure but not explain: the driver resolves it from the
/// state of the hop it names (isolated, paused, stopped by a confirmed mitigation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Evidence {
    /// A `503` from web: too busy, unless the lab knows better.
    Overloaded,
    /// `hop` (a service id) did not answer: in time (`timed_out`) or at all.
    Silent { hop: String, timed_out: bool },
}

/// The executor's `cause` word (PROTOCOL.md) as a `Cause`, or the evidence that still needs
/// the lab's state. An unknown word is the lab's own failure: it must not be credited.
pub fn cause_of_word(
    word: &str,
    source: Option<String>,
    identity: Option<String>,
) -> Result<Cause, Evidence> {
    let (how, hop) = word.split_once(':').unwrap_or((word, ""));
    match (how, hop) {
        ("blocked", _) => Ok(source.map_or(Cause::Lab, |source| Cause::Blocked { source })),
        ("revoked", _) => {
            Ok(identity.map_or(Cause::Refused, |identity| Cause::Revoked { identity }))
        }
        ("refused", _) => Ok(Cause::Refused),
        // `degraded:<service>:<need>`: that service lacks what it needs, which a fix took.
        ("degraded", rest) => Ok(degraded(rest).unwrap_or(Cause::Lab)),
        ("overloaded", _) => Err(Evidence::Overloaded),
        ("timeout" | "unreachable" | "error", hop) if !hop.is_empty() => Err(Evidence::Silent {
            hop: hop.to_string(),
            timed_out: how == "timeout",
        }),
        _ => Ok(Cause::Lab),
    }
}

/// `<service>:<need>` of a degraded refusal as the fix that caused it: the weakness that gave
/// the service its need (`cap:NET_BIND_SERVICE` comes from `ExtraCapabilities`).
fn degraded(hop_and_need: &str) -> Option<Cause> {
    let (service, need) = hop_and_need.split_once(':')?;
    Some(Cause::Fixed {
        service: service.to_owned(),
        weakness: WeaknessKind::of_need(need)?,
    })
}

/// The cause in a control command's output (`labd ctl` prints `<status> <json>`) when it is a
/// degraded refusal: a job the service could not run for lack of what it needs.
pub fn degraded_in(output: &str) -> Option<Cause> {
    let json: Value = serde_json::from_str(&output[output.find('{')?..]).ok()?;
    if json.get("reason")?.as_str()? != "degraded" {
        return None;
    }
    let (hop, need) = (json.get("hop")?.as_str()?, json.get("need")?.as_str()?);
    degraded(&format!("{hop}:{need}"))
}

/// Parse one line of labd's stdout (PROTOCOL.md). `None` when it is not a labd line at all.
pub fn parse_labd_line(line: &str) -> Option<LabdLine> {
    let v: Value = serde_json::from_str(line.trim()).ok()?;
    let ts_ms = v.get("ts_ms")?.as_u64()?;
    let service = s(&v, "service")?;
    let trace = v.get("trace").and_then(Value::as_u64);
    let event = s(&v, "event")?;
    let log = |event: LogEvent| Some(LabdLine::Event { ts_ms, event });
    match event.as_str() {
        "login" => log(LogEvent::Login {
            service,
            identity: s(&v, "identity")?,
            source: s(&v, "source").unwrap_or_default(),
            ok: b(&v, "ok"),
            trace,
        }),
        "request" => log(LogEvent::Request {
            service,
            identity: s(&v, "identity"),
            source: s(&v, "source").unwrap_or_default(),
            endpoint: s(&v, "endpoint").unwrap_or_default(),
            status: n(&v, "status") as u16,
            trace,
        }),
        "data_access" => log(LogEvent::DataAccess {
            service,
            identity: s(&v, "identity")?,
            source: s(&v, "source").unwrap_or_default(),
            dataset: s(&v, "dataset").unwrap_or_default(),
            records: n(&v, "records") as u32,
            ok: b(&v, "ok"),
            trace,
        }),
        "credential" => log(LogEvent::Credential {
            service,
            identity: s(&v, "identity")?,
            by: s(&v, "by").unwrap_or_default(),
            credential: s(&v, "credential").unwrap_or_default(),
            change: match s(&v, "change").as_deref() {
                Some("revoked") => CredentialChange::Revoked,
                Some("rotated") => CredentialChange::Rotated,
                _ => CredentialChange::Created,
            },
            source: s(&v, "source").unwrap_or_else(|| "console".into()),
            trace,
        }),
        "flow" => log(LogEvent::Flow {
            service,
            source: s(&v, "source").unwrap_or_default(),
            // labd names the upstream as it dials it (`api:8080`); the lab names services.
            upstream: s(&v, "upstream")
                .map(|u| {
                    u.rsplit_once(':')
                        .map_or(u.clone(), |(host, _)| host.to_owned())
                })
                .unwrap_or_default(),
            requests: n(&v, "requests") as u32,
            denied: n(&v, "denied") as u32,
            errors: n(&v, "errors") as u32,
        }),
        // A connection from an address in none of the firewall's zones has no zone to cross
        // from: nothing in a lab makes one, so it is not the company's telemetry.
        "crossing" => log(LogEvent::Crossing {
            service,
            from: s(&v, "source")?,
            from_zone: s(&v, "from_zone")?,
            to: s(&v, "to").unwrap_or_default(),
            to_zone: s(&v, "to_zone"),
            endpoint: s(&v, "endpoint").unwrap_or_default(),
            bytes: n(&v, "bytes"),
            allowed: b(&v, "allowed"),
            trace,
        }),
        "outcome" => {
            let ok = b(&v, "ok");
            let judged = match s(&v, "cause") {
                Some(word) if !ok => Some(cause_of_word(&word, s(&v, "source"), s(&v, "identity"))),
                _ => None,
            };
            let (cause, evidence) = match judged {
                None => (None, None),
                Some(Ok(cause)) => (Some(cause), None),
                Some(Err(evidence)) => (None, Some(evidence)),
            };
            Some(LabdLine::Outcome {
                ts_ms,
                outcome: Outcome {
                    t_ms: 0,
                    effect: trace?,
                    ok,
                    records: n(&v, "records") as u32,
                    detail: s(&v, "detail").unwrap_or_default(),
                    cause,
                },
                evidence,
            })
        }
        "metrics" => Some(LabdLine::Metrics {
            ts_ms,
            service,
            sample: CgroupSample {
                cpu_ns: n(&v, "cpu_ns"),
                memory_bytes: n(&v, "memory_bytes"),
                pids: n(&v, "pids"),
                pids_max: v.get("pids_max").and_then(Value::as_u64),
                throttled_periods: n(&v, "throttled_periods"),
                rx_bytes: n(&v, "rx_bytes"),
                tx_bytes: n(&v, "tx_bytes"),
            },
        }),
        _ => Some(LabdLine::Other),
    }
}

/// Network byte counters from the previous sample, for rates.
#[derive(Debug, Clone, Copy, Default)]
pub struct NetCounters {
    rx: u64,
    tx: u64,
    at: Option<Instant>,
}

/// One Docker stats sample as metrics. CPU is Δcontainer / Δsystem × online CPUs × 100 (percent
/// of one core); memory in use on cgroup v1 is usage − cache (v2: − inactive_file).
pub fn metrics_from_stats(
    service: &str,
    st: &ContainerStatsResponse,
    net: &mut NetCounters,
) -> Metrics {
    let cpu = st.cpu_stats.as_ref();
    let pre = st.precpu_stats.as_ref();
    let total = |c: Option<&bollard::models::ContainerCpuStats>| {
        c.and_then(|c| c.cpu_usage.as_ref())
            .and_then(|u| u.total_usage)
            .unwrap_or(0)
    };
    let system = |c: Option<&bollard::models::ContainerCpuStats>| {
        c.and_then(|c| c.system_cpu_usage).unwrap_or(0)
    };
    let d_cpu = total(cpu).saturating_sub(total(pre)) as f64;
    let d_sys = system(cpu).saturating_sub(system(pre)) as f64;
    let online = cpu.and_then(|c| c.online_cpus).unwrap_or(1).max(1) as f64;
    let cpu_pct = if d_sys > 0.0 && system(pre) > 0 {
        d_cpu / d_sys * online * 100.0
    } else {
        0.0
    };

    let memory = st.memory_stats.as_ref();
    let usage = memory.and_then(|m| m.usage).unwrap_or(0);
    let cache = memory
        .and_then(|m| m.stats.as_ref())
        .and_then(|s| s.get("cache").or_else(|| s.get("inactive_file")).copied())
        .unwrap_or(0);
    let memory_mib = usage.saturating_sub(cache) as f64 / (1024.0 * 1024.0);

    let (rx, tx) = st
        .networks
        .as_ref()
        .map(|nets| {
            nets.values().fold((0u64, 0u64), |(r, t), n| {
                (r + n.rx_bytes.unwrap_or(0), t + n.tx_bytes.unwrap_or(0))
            })
        })
        .unwrap_or((0, 0));
    let now = Instant::now();
    let (rx_kbps, tx_kbps) = match net.at {
        Some(at) if rx >= net.rx && tx >= net.tx => {
            let secs = now.duration_since(at).as_secs_f64().max(0.05);
            (
                (rx - net.rx) as f64 / 1024.0 / secs,
                (tx - net.tx) as f64 / 1024.0 / secs,
            )
        }
        _ => (0.0, 0.0),
    };
    *net = NetCounters {
        rx,
        tx,
        at: Some(now),
    };

    Metrics {
        service: service.to_string(),
        cpu_pct: cpu_pct as f32,
        memory_mib: memory_mib as f32,
        pids: st.pids_stats.as_ref().and_then(|p| p.current).unwrap_or(0) as u32,
        net_rx_kbps: rx_kbps as f32,
        net_tx_kbps: tx_kbps as f32,
    }
}

/// Whether the kernel held the container back during the last stats interval: the CFS quota
/// throttled it, or it sits at its pids limit. This is the evidence that a cap, and not the
/// job's own restraint (or the job ending), keeps a hog within its limits.
pub fn held_by_limits(st: &ContainerStatsResponse) -> bool {
    let throttled = |c: Option<&bollard::models::ContainerCpuStats>| {
        c.and_then(|c| c.throttling_data.as_ref())
            .and_then(|t| t.throttled_periods)
            .unwrap_or(0)
    };
    let cpu_held = throttled(st.cpu_stats.as_ref()) > throttled(st.precpu_stats.as_ref());
    let pids_held = st
        .pids_stats
        .as_ref()
        .is_some_and(|p| matches!((p.current, p.limit), (Some(c), Some(l)) if l > 0 && c >= l));
    cpu_held || pids_held
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_clock_stands_still_and_runs_on_from_where_it_stopped() {
        // 100× so that a few wall milliseconds are many session ones.
        let clock = HeldClock::start(100.0);
        std::thread::sleep(Duration::from_millis(20));
        clock.hold();
        let at = clock.now();
        assert!(at >= 2_000, "{at}");
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(clock.now(), at, "held: no session time passes");
        // A line stamped during the hold maps to no later than the hold's start.
        assert!(clock.of_unix_ms(unix_ms_now()) <= at + 100);
        let held = clock.release();
        assert!(held >= Duration::from_millis(30), "{held:?}");
        let after = clock.now();
        assert!(
            (at..at + 1_000).contains(&after),
            "runs on from {at}, not from {after} (the 3,000 ms of the hold are taken out)"
        );
        assert_eq!(clock.held_for(), None);
        assert_eq!(
            clock.release(),
            Duration::ZERO,
            "releasing twice is harmless"
        );
    }

    fn judged(line: &str) -> (Option<Cause>, Option<Evidence>) {
        match parse_labd_line(line) {
            Some(LabdLine::Outcome {
                outcome, evidence, ..
            }) => (outcome.cause, evidence),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_degraded_refusal_is_the_fix_that_took_the_services_need() {
        let fixed = |service: &str, weakness| Cause::Fixed {
            service: service.into(),
            weakness,
        };
        let word = |w: &str| cause_of_word(w, None, None);
        assert_eq!(
            word("degraded:ledger-db:writable-root"),
            Ok(fixed("ledger-db", WeaknessKind::WritableRoot))
        );
        assert_eq!(
            word("degraded:ops-console:cap:NET_BIND_SERVICE"),
            Ok(fixed("ops-console", WeaknessKind::ExtraCapabilities))
        );
        assert_eq!(word("degraded:x:wings"), Ok(Cause::Lab));
        assert_eq!(word("degraded:"), Ok(Cause::Lab));
        let ctl = r#"exited Some(1): 503 {"error":"e","reason":"degraded","hop":"export-worker","need":"root"}"#;
        assert_eq!(
            degraded_in(ctl),
            Some(fixed("export-worker", WeaknessKind::RunsAsRoot))
        );
        assert_eq!(degraded_in(r#"503 {"error":"cannot start"}"#), None);
        assert_eq!(degraded_in("exited Some(1): {"), None);
    }

    #[test]
    fn an_outcome_carries_the_executors_cause_or_the_evidence_to_resolve() {
        let line = |ok: bool, cause: &str| {
            format!(
                r#"{{"ts_ms":5,"service":"attacker","event":"outcome","trace":9,"ok":{ok},"cause":{cause},"source":"198.51.100.23","identity":"alice"}}"#
            )
        };
        let blocked = Cause::Blocked {
            source: "198.51.100.23".into(),
        };
        let revoked = Cause::Revoked {
            identity: "alice".into(),
        };
        let silent = |hop: &str, timed_out| Evidence::Silent {
            hop: hop.into(),
            timed_out,
        };
        let cases = [
            (line(false, r#""blocked""#), (Some(blocked), None)),
            (line(false, r#""revoked""#), (Some(revoked), None)),
            (line(false, r#""refused""#), (Some(Cause::Refused), None)),
            (line(false, r#""error""#), (Some(Cause::Lab), None)),
            (line(false, r#""teleported""#), (Some(Cause::Lab), None)),
            (
                line(false, r#""overloaded""#),
                (None, Some(Evidence::Overloaded)),
            ),
            (
                line(false, r#""unreachable:gateway""#),
                (None, Some(silent("gateway", false))),
            ),
            (
                line(false, r#""timeout:datastore""#),
                (None, Some(silent("datastore", true))),
            ),
            (line(false, "null"), (None, None)),
            (line(true, r#""blocked""#), (None, None)),
        ];
        for (text, want) in cases {
            assert_eq!(judged(&text), want, "{text}");
        }
        // Blocked without the source it needs cannot be credited to a block.
        let bare = r#"{"ts_ms":5,"service":"attacker","event":"outcome","trace":9,"ok":false,"cause":"blocked"}"#;
        assert_eq!(judged(bare), (Some(Cause::Lab), None));
    }

    #[test]
    fn a_crossing_names_its_zones_and_one_from_no_zone_is_not_company_telemetry() {
        let line = r#"{"ts_ms":5,"service":"firewall","event":"crossing","peer":"198.18.0.5","source":"invoice-worker","from_zone":"jobs","to":"ledger-db","to_zone":"data","endpoint":"/records/invoices","bytes":0,"allowed":false,"reason":"no_route","status":403,"trace":4}"#;
        let Some(LabdLine::Event { event, .. }) = parse_labd_line(line) else {
            panic!("not an event");
        };
        assert_eq!(
            event,
            LogEvent::Crossing {
                service: "firewall".into(),
                from: "invoice-worker".into(),
                from_zone: "jobs".into(),
                to: "ledger-db".into(),
                to_zone: Some("data".into()),
                endpoint: "/records/invoices".into(),
                bytes: 0,
                allowed: false,
                trace: Some(4),
            }
        );
        let unzoned = line.replace(r#""from_zone":"jobs""#, r#""from_zone":null"#);
        assert!(!matches!(
            parse_labd_line(&unzoned),
            Some(LabdLine::Event { .. })
        ));
    }

    #[test]
    fn labd_lines_become_events_and_outcomes() {
        let login = r#"{"ts_ms":1700000000123,"service":"web","event":"login","identity":"alice","source":"198.51.100.23","ok":true,"trace":17}"#;
        match parse_labd_line(login) {
            Some(LabdLine::Event {
                ts_ms,
                event:
                    LogEvent::Login {
                        identity,
                        source,
                        ok,
                        trace,
                        ..
                    },
            }) => {
                assert_eq!(ts_ms, 1_700_000_000_123);
                assert_eq!(
                    (identity.as_str(), source.as_str(), ok, trace),
                    ("alice", "198.51.100.23", true, Some(17))
                );
            }
            other => panic!("{other:?}"),
        }
        let outcome = r#"{"ts_ms":5,"service":"attacker","event":"outcome","trace":9,"ok":false,"status":403,"records":0,"detail":"403"}"#;
        assert!(matches!(
            parse_labd_line(outcome),
            Some(LabdLine::Outcome {
                outcome: Outcome {
                    effect: 9,
                    ok: false,
                    ..
                },
                ..
            })
        ));
        let revoke = r#"{"ts_ms":5,"service":"web","event":"credential","identity":"alice","by":"admin","credential":"key-0011aabb","change":"revoked"}"#;
        assert!(matches!(
            parse_labd_line(revoke),
            Some(LabdLine::Event {
                event: LogEvent::Credential {
                    change: CredentialChange::Revoked,
                    ..
                },
                ..
            })
        ));
        assert_eq!(
            parse_labd_line(r#"{"ts_ms":5,"service":"web","event":"ready","role":"web"}"#),
            Some(LabdLine::Other)
        );
        assert_eq!(parse_labd_line("not json"), None);
        // A gateway's flow names its upstream as a service, as the simulated lab does.
        let flow = r#"{"ts_ms":5,"service":"partner-gateway","event":"flow","source":"192.0.2.60","upstream":"partner-portal:8080","requests":3,"denied":0,"errors":0,"bytes":900}"#;
        assert!(matches!(
            parse_labd_line(flow),
            Some(LabdLine::Event { event: LogEvent::Flow { upstream, .. }, .. })
                if upstream == "partner-portal"
        ));
        // An outcome without a trace cannot be attributed to an effect.
        assert_eq!(
            parse_labd_line(r#"{"ts_ms":5,"service":"x","event":"outcome","ok":true}"#),
            None
        );
    }

    #[test]
    fn cgroup_counters_become_rates_over_the_interval_between_lines() {
        let line = r#"{"ts_ms":1000,"service":"web","event":"metrics","cpu_ns":0,"memory_bytes":10485760,"pids":3,"pids_max":64,"throttled_periods":0,"rx_bytes":0,"tx_bytes":0}"#;
        let Some(LabdLine::Metrics { ts_ms, sample, .. }) = parse_labd_line(line) else {
            panic!("not a metrics line");
        };
        assert_eq!((ts_ms, sample.pids_max, sample.pids), (1000, Some(64), 3));
        let mut rates = CgroupRates::default();
        assert!(rates.next("web", ts_ms, sample).is_none(), "first line");
        // 250 ms later: 125 ms of CPU (50% of a core), 256 KiB in (1 MiB/s).
        let later = CgroupSample {
            cpu_ns: 125_000_000,
            rx_bytes: 256 * 1024,
            ..sample
        };
        let reading = rates.next("web", 1250, later).expect("a rate");
        let m = &reading.metrics;
        assert!((m.cpu_pct - 50.0).abs() < 0.01, "{}", m.cpu_pct);
        assert!((m.net_rx_kbps - 1024.0).abs() < 0.01, "{}", m.net_rx_kbps);
        assert_eq!((m.memory_mib, m.pids), (10.0, 3));
        assert!(!reading.held, "running free, under its pids limit");
        let throttled = CgroupSample {
            cpu_ns: 200_000_000,
            throttled_periods: 2,
            ..later
        };
        assert!(
            rates.next("web", 1500, throttled).unwrap().held,
            "throttled"
        );
        let at_limit = CgroupSample {
            cpu_ns: 210_000_000,
            pids: 64,
            ..throttled
        };
        assert!(
            rates.next("web", 1750, at_limit).unwrap().held,
            "at its pids limit"
        );
        // A restarted container's counters start again from zero: a new interval, no rate.
        assert!(
            rates.next("web", 2000, sample).is_none(),
            "counters went back"
        );
        assert!(rates.next("web", 2000, later).is_none(), "same instant");
        assert!(rates.next("web", 2250, later).is_some());
    }

    #[test]
    fn the_clock_compresses_session_time() {
        let c = Clock::start(10.0);
        assert_eq!(c.of_unix_ms(c.started_unix_ms + 1500), 15_000);
        assert_eq!(c.wall_seconds(60), 6);
        assert_eq!(c.wall_seconds(3), 1);
        assert!(c.instant_of(10_000) - c.started == Duration::from_secs(1));
    }

    #[test]
    fn a_container_is_held_when_throttled_or_at_its_pids_limit_and_not_otherwise() {
        use bollard::models::{ContainerCpuStats, ContainerPidsStats, ContainerThrottlingData};
        let cpu = |throttled: u64| ContainerCpuStats {
            throttling_data: Some(ContainerThrottlingData {
                throttled_periods: Some(throttled),
                ..Default::default()
            }),
            ..Default::default()
        };
        let sample = |before: u64, after: u64, pids: (u64, u64)| ContainerStatsResponse {
            precpu_stats: Some(cpu(before)),
            cpu_stats: Some(cpu(after)),
            pids_stats: Some(ContainerPidsStats {
                current: Some(pids.0),
                limit: Some(pids.1),
            }),
            ..Default::default()
        };
        assert!(held_by_limits(&sample(10, 14, (3, 64))), "throttled");
        assert!(
            held_by_limits(&sample(10, 10, (64, 64))),
            "at its pids limit"
        );
        assert!(!held_by_limits(&sample(10, 10, (3, 64))), "running free");
        assert!(
            !held_by_limits(&ContainerStatsResponse::default()),
            "no data"
        );
    }
}
