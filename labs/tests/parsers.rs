//! Property tests of the host's reader of labd's log lines (`parse_labd_line`): a line that is
//! damaged, truncated, full of multibyte text or not JSON at all is skipped, never a panic. A
//! short run; the long one is `cargo run --release -p bulkhead-labs --example fuzz_labd_lines`.

#[path = "../examples/fuzz_labd_lines.rs"]
mod fuzz_labd_lines;

use bulkhead_labs::telemetry::{CgroupRates, CgroupSample, LabdLine, parse_labd_line};
use proptest::prelude::*;

use fuzz_labd_lines::mutate::{self, Rng};

fn seeds() -> Vec<Vec<u8>> {
    fuzz_labd_lines::LINES
        .iter()
        .map(|l| l.as_bytes().to_vec())
        .collect()
}

#[test]
fn every_seed_is_understood() {
    for line in fuzz_labd_lines::LINES {
        assert!(parse_labd_line(line).is_some(), "{line}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_lines(seed in any::<u64>()) {
        let input = mutate::input(&seeds(), &mut Rng::new(seed));
        let _ = parse_labd_line(&String::from_utf8_lossy(&input));
    }

    #[test]
    fn arbitrary_lines(line in any::<String>()) {
        // An event needs its time: text without `ts_ms` is never one.
        let event = matches!(parse_labd_line(&line), Some(LabdLine::Event { .. }));
        prop_assert!(!event || line.contains("ts_ms"), "an event without ts_ms: {:?}", line);
    }

    #[test]
    fn huge_numbers_and_odd_types_in_known_fields(
        event in prop::sample::select(vec!["login", "request", "data_access", "credential", "flow", "outcome", "metrics"]),
        value in prop::sample::select(vec!["1e999", "-1", "18446744073709551616", "\"x\"", "null", "[]", "{}", "true", "1.5", "\"é—𝕏\""]),
        field in prop::sample::select(vec!["ts_ms", "trace", "status", "records", "requests", "ok", "identity", "source", "change", "cpu_ns", "pids_max", "rx_bytes"]),
    ) {
        let line = format!(r#"{{"ts_ms":5,"service":"web","event":"{event}","identity":"a","trace":1,"{field}":{value}}}"#);
        let _ = parse_labd_line(&line);
    }

    /// Counters from a container that restarts, a clock that steps back, or values at the
    /// edge of u64: rates are finite and never negative, and nothing panics.
    #[test]
    fn cgroup_rates_of_any_counters(
        lines in prop::collection::vec((0u64..5_000, any::<[u64; 5]>(), any::<Option<u64>>()), 1..20),
    ) {
        let mut rates = CgroupRates::default();
        for (ts_ms, [cpu_ns, memory_bytes, pids, rx_bytes, tx_bytes], pids_max) in lines {
            let sample = CgroupSample { cpu_ns, memory_bytes, pids, pids_max, throttled_periods: cpu_ns % 7, rx_bytes, tx_bytes };
            if let Some(reading) = rates.next("svc", ts_ms, sample) {
                let m = reading.metrics;
                prop_assert!(!reading.held || sample.throttled_periods > 0 || sample.pids_max.is_some());
                for v in [m.cpu_pct, m.memory_mib, m.net_rx_kbps, m.net_tx_kbps] {
                    prop_assert!(v.is_finite() && v >= 0.0, "{:?}", m);
                }
            }
        }
    }
}
