//! The log-line writer: one JSON object per line (`ts_ms`, `service`, `event`, `trace`, fields).
//!
//! The sink is injectable so tests can capture lines in memory instead of reading stdout.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::Value;

/// Where finished lines go. A line never contains a newline; the sink adds it.
pub trait Sink: Send + Sync {
    fn write_line(&self, line: &str);
}

/// Stdout, flushed per line: the driver tails container logs and must see each event as it
/// happens, not when a buffer fills.
#[derive(Debug, Default)]
pub struct StdoutSink;

impl Sink for StdoutSink {
    fn write_line(&self, line: &str) {
        let mut out = std::io::stdout().lock();
        // A closed stdout must not take the service down with it, so errors are dropped.
        let _ = out.write_all(line.as_bytes());
        let _ = out.write_all(b"\n");
        let _ = out.flush();
    }
}

/// Keeps every line in memory, for tests.
#[derive(Debug, Default)]
pub struct MemorySink {
    lines: Mutex<Vec<String>>,
}

impl MemorySink {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Every line so far, parsed.
    pub fn values(&self) -> Vec<Value> {
        let lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        lines
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The parsed lines whose `event` is `event`.
    pub fn events(&self, event: &str) -> Vec<Value> {
        self.values()
            .into_iter()
            .filter(|v| v["event"] == event)
            .collect()
    }
}

impl Sink for MemorySink {
    fn write_line(&self, line: &str) {
        self.lines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(line.to_owned());
    }
}

/// A cheap, cloneable handle that stamps every line with the service id.
#[derive(Clone)]
pub struct Log {
    service: Arc<str>,
    sink: Arc<dyn Sink>,
}

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Log")
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct Line<'a> {
    ts_ms: u64,
    service: &'a str,
    event: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    trace: Option<u64>,
    #[serde(flatten)]
    fields: &'a serde_json::Map<String, Value>,
}

impl Log {
    pub fn new(service: &str, sink: Arc<dyn Sink>) -> Self {
        Self {
            service: service.into(),
            sink,
        }
    }

    pub fn stdout(service: &str) -> Self {
        Self::new(service, Arc::new(StdoutSink))
    }

    pub fn service(&self) -> &str {
        &self.service
    }

    /// Writes one line. `fields` should be a JSON object; anything else is logged under `value`
    /// rather than dropped, so a programming slip still leaves a trace.
    pub fn emit(&self, event: &str, trace: Option<u64>, fields: Value) {
        self.emit_at(now_ms(), event, trace, fields);
    }

    /// Writes one line stamped `ts_ms` (a reading taken earlier, written now).
    pub fn emit_at(&self, ts_ms: u64, event: &str, trace: Option<u64>, fields: Value) {
        let fields = match fields {
            Value::Object(map) => map,
            Value::Null => serde_json::Map::new(),
            other => {
                let mut map = serde_json::Map::new();
                map.insert("value".into(), other);
                map
            }
        };
        let line = Line {
            ts_ms,
            service: &self.service,
            event,
            trace,
            fields: &fields,
        };
        if let Ok(text) = serde_json::to_string(&line) {
            self.sink.write_line(&text);
        }
    }
}

/// Unix time in milliseconds; a clock before 1970 reads as 0 rather than failing.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lines_carry_the_header_fields_and_the_trace_only_when_known() {
        let sink = MemorySink::new();
        let log = Log::new("web", sink.clone());
        log.emit("login", Some(17), json!({"identity": "alice", "ok": true}));
        log.emit("ready", None, json!({"role": "web"}));
        let lines = sink.values();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["service"], "web");
        assert_eq!(lines[0]["event"], "login");
        assert_eq!(lines[0]["trace"], 17);
        assert_eq!(lines[0]["identity"], "alice");
        assert!(lines[0]["ts_ms"].as_u64().unwrap() > 1_600_000_000_000);
        assert!(lines[1].get("trace").is_none());
        assert_eq!(sink.events("ready").len(), 1);
    }

    #[test]
    fn header_fields_come_first_on_the_line() {
        let sink = MemorySink::new();
        Log::new("gw", sink.clone()).emit("flow", None, json!({"bytes": 1}));
        let raw = sink.lines.lock().unwrap()[0].clone();
        assert!(raw.starts_with("{\"ts_ms\":"), "{raw}");
        assert!(!raw.contains('\n'));
    }
}
