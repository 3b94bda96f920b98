//! Property tests of the host's reader of labd's log lines (`parse_labd_line`): a line that is
//! damaged, truncated, full of multibyte text or not JSON at all is skipped, never a panic. A
//! short run; the long one is `cargo run --release -p bulkhead-labs --example fuzz_labd_lines`.

#[path = "../examples/fuzz_labd_lines.rs"]
mod fuzz_labd_lines;

use bulkhead_labs::telemetry::{LabdLine, parse_labd_line};
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
        event in prop::sample::select(vec!["login", "request", "data_access", "credential", "flow", "outcome"]),
        value in prop::sample::select(vec!["1e999", "-1", "18446744073709551616", "\"x\"", "null", "[]", "{}", "true", "1.5", "\"é—𝕏\""]),
        field in prop::sample::select(vec!["ts_ms", "trace", "status", "records", "requests", "ok", "identity", "source", "change"]),
    ) {
        let line = format!(r#"{{"ts_ms":5,"service":"web","event":"{event}","identity":"a","trace":1,"{field}":{value}}}"#);
        let _ = parse_labd_line(&line);
    }
}
