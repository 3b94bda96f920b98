//! Property tests of labd's request handling: raw requests read as the roles read them
//! (headers, query, percent-decoding, JSON bodies into the executor's `Action`), labd's JSON
//! configuration, and whole requests over loopback to labd's own HTTP server. Nothing may
//! panic. A short run; the long one is `cargo run --release -p bulkhead-labs --example fuzz_labd`,
//! whose targets this file includes so that both feed the same code.

#[path = "../../examples/fuzz_labd.rs"]
mod fuzz_labd;

use std::sync::OnceLock;
use std::sync::atomic::Ordering;

use proptest::prelude::*;

use fuzz_labd::mutate::{self, Rng};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn wire() -> &'static fuzz_labd::Wire {
    static WIRE: OnceLock<fuzz_labd::Wire> = OnceLock::new();
    WIRE.get_or_init(|| fuzz_labd::Wire::start(false))
}

fn fine(result: Result<bool, String>) -> Result<(), TestCaseError> {
    result.map(|_| ()).map_err(TestCaseError::fail)
}

#[test]
fn the_seeds_are_what_labd_accepts() {
    for body in fuzz_labd::ACTIONS {
        assert_eq!(fuzz_labd::action(body.as_bytes()), Ok(true), "{body}");
    }
    for raw in fuzz_labd::requests().iter().take(fuzz_labd::ACTIONS.len()) {
        assert_eq!(
            wire().send(raw),
            Ok(true),
            "{}",
            String::from_utf8_lossy(raw)
        );
    }
}

#[test]
fn a_sign_is_not_a_hex_digit() {
    assert_eq!(labd::http::percent_decode("%+1"), "% 1");
    assert_eq!(
        labd::http::query_param("a=%+1", "a").as_deref(),
        Some("% 1")
    );
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn request_mutants(seed in any::<u64>()) {
        let input = mutate::input(&fuzz_labd::requests(), &mut Rng::new(seed));
        fine(fuzz_labd::request(&input))?;
    }

    #[test]
    fn arbitrary_requests(raw in proptest::collection::vec(any::<u8>(), 0..400)) {
        fine(fuzz_labd::request(&raw))?;
    }

    #[test]
    fn action_mutants(seed in any::<u64>()) {
        let input = mutate::input(&fuzz_labd::action_seeds(), &mut Rng::new(seed));
        fine(fuzz_labd::action(&input))?;
    }

    #[test]
    fn arbitrary_action_bodies(text in any::<String>()) {
        fine(fuzz_labd::action(text.as_bytes()))?;
    }

    #[test]
    fn percent_decoding_of_mutants(seed in any::<u64>()) {
        let input = mutate::input(&fuzz_labd::query_seeds(), &mut Rng::new(seed));
        fine(fuzz_labd::percent(&input))?;
    }

    #[test]
    fn percent_decoding_of_arbitrary_text(text in any::<String>()) {
        fine(fuzz_labd::percent(text.as_bytes()))?;
    }

    #[test]
    fn config_mutants(seed in any::<u64>()) {
        let input = mutate::input(&fuzz_labd::config_seeds(), &mut Rng::new(seed));
        fine(fuzz_labd::config(&input))?;
    }

    #[test]
    fn requests_over_loopback(seed in any::<u64>()) {
        let before = fuzz_labd::PANICS.load(Ordering::Relaxed);
        let input = mutate::input(&fuzz_labd::requests(), &mut Rng::new(seed));
        fine(wire().send(&input))?;
        prop_assert_eq!(fuzz_labd::PANICS.load(Ordering::Relaxed), before, "the server panicked");
    }
}
