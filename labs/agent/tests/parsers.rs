//! Property tests of labd's request handling: raw requests read as the roles read them
//! (headers, query, percent-decoding, JSON bodies into the executor's `Action`), labd's JSON
//! configuration (zones, routes and needs included), pivot and segment bodies, and whole requests over
//! loopback to labd's own HTTP server. Nothing may panic. A short run; the long one is `cargo run --release -p bulkhead-labs --example fuzz_labd`,
//! whose targets this file includes so that both feed the same code.

#[path = "../../examples/fuzz_labd.rs"]
mod fuzz_labd;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::OnceLock;
use std::sync::atomic::Ordering;

use proptest::prelude::*;

use fuzz_labd::mutate::{self, Rng};
use labd::config::{parse_routes, parse_zones};
use labd::needs::parse_needs;
use labd::roles::firewall::Segment;
use labd::roles::pivot::{self, Pivot};

/// LABD_ZONES and LABD_ROUTES as the driver writes them.
const ZONE_CONFIGS: &[&str] = &[
    r#"{"tenants":"10.201.3.0/24","data":"10.201.4.0/24","dmz":"10.201.1.0/24"}"#,
    r#"[{"from":"tenants","to":"data","endpoints":["/records"]},{"from":"dmz","to":"tenants","endpoints":[]}]"#,
];

/// `POST /pivot` and `POST /segments` bodies as the driver writes them.
const PIVOTS: &[&str] = &[
    r#"{"to":"data-store:8080","path":"/records/customers","via":"fw-tenants-data:8080","trace":17}"#,
    r#"{"to":"web:8080","path":"/admin/users?x=1","via":null,"trace":null}"#,
    r#"{"to":"10.201.4.5:8080","path":"/"}"#,
    r#"{"to":"203.0.113.5:443","path":"/upload","via":"fw-tenants-data:8080","trace":18,"bytes":1048576}"#,
    r#"{"to":"198.51.100.7:80","path":"/","via":null,"bytes":0}"#,
];
const SEGMENTS: &[&str] = &[r#"{"from":"tenants","to":"data"}"#];

fn seeds(items: &[&str]) -> Vec<Vec<u8>> {
    items.iter().map(|s| s.as_bytes().to_vec()).collect()
}

/// Zones and routes are parsed as the firewall parses them at start-up; an error must name
/// its variable.
fn zones_and_routes(text: &[u8]) -> Result<(), TestCaseError> {
    let text = String::from_utf8_lossy(text);
    if let Err(e) = parse_zones(&text) {
        prop_assert!(e.0.starts_with("LABD_ZONES"), "{}", e);
    }
    if let Err(e) = parse_routes(&text) {
        prop_assert!(e.0.starts_with("LABD_ROUTES"), "{}", e);
    }
    Ok(())
}

/// A pivot body is accepted only with both hops and the path well formed, and a body length
/// within the cap.
fn pivot_body(body: &[u8]) -> Result<(), TestCaseError> {
    match Pivot::from_json(body) {
        Ok(p) => {
            prop_assert!(p.path.starts_with('/'), "{:?}", p.path);
            prop_assert!(p.to.port != 0 && !p.to.host.is_empty(), "{:?}", p.to);
            prop_assert!(p.bytes <= pivot::MAX_BYTES, "{}", p.bytes);
        }
        Err(bad) => prop_assert!(!bad.0.is_empty()),
    }
    Ok(())
}

fn segment_body(body: &[u8]) {
    let _ = serde_json::from_slice::<Segment>(body);
}

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
fn the_zone_seeds_are_what_labd_accepts() {
    assert!(parse_zones(ZONE_CONFIGS[0]).is_ok());
    assert!(parse_routes(ZONE_CONFIGS[1]).is_ok());
    for body in PIVOTS {
        assert!(Pivot::from_json(body.as_bytes()).is_ok(), "{body}");
    }
    assert!(serde_json::from_str::<Segment>(SEGMENTS[0]).is_ok());
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

    /// `LABD_NEEDS` reads back as written, or says which variable is wrong.
    #[test]
    fn needs_round_trip_or_name_their_variable(text in "[a-z:_A-Z, -]{0,40}") {
        match parse_needs(&text) {
            Ok(needs) => {
                let printed: Vec<String> = needs.iter().map(ToString::to_string).collect();
                prop_assert_eq!(parse_needs(&printed.join(",")).unwrap(), needs);
            }
            Err(e) => prop_assert!(e.starts_with("LABD_NEEDS"), "{}", e),
        }
    }

    #[test]
    fn zone_and_route_mutants(seed in any::<u64>()) {
        zones_and_routes(&mutate::input(&seeds(ZONE_CONFIGS), &mut Rng::new(seed)))?;
    }

    #[test]
    fn arbitrary_zone_and_route_text(text in any::<String>()) {
        zones_and_routes(text.as_bytes())?;
    }

    /// Accepted zones never overlap: every subnet's own addresses are in its own zone.
    #[test]
    fn accepted_zones_hold_their_own_subnets(
        written in proptest::collection::btree_map("[a-c]{1,2}", (any::<u32>(), 0u8..=32), 0..5)
    ) {
        let cidrs: BTreeMap<&String, String> = written
            .iter()
            .map(|(zone, (ip, len))| (zone, format!("{}/{len}", Ipv4Addr::from(*ip))))
            .collect();
        let text = serde_json::to_string(&cidrs).unwrap();
        match parse_zones(&text) {
            Ok(zones) => {
                for (zone, (ip, len)) in &written {
                    let mask = u32::MAX.checked_shl(32 - u32::from(*len)).unwrap_or(0);
                    let network = Ipv4Addr::from(ip & mask);
                    prop_assert_eq!(zones.zone_of(network.into()), Some(zone.as_str()), "{}", text);
                    prop_assert_eq!(zones.zone_of(Ipv4Addr::from(*ip).into()), Some(zone.as_str()));
                }
            }
            Err(e) => prop_assert!(e.0.starts_with("LABD_ZONES"), "{}", e),
        }
    }

    #[test]
    fn pivot_mutants(seed in any::<u64>()) {
        pivot_body(&mutate::input(&seeds(PIVOTS), &mut Rng::new(seed)))?;
    }

    #[test]
    fn arbitrary_pivot_bodies(text in any::<String>()) {
        pivot_body(text.as_bytes())?;
    }

    #[test]
    fn segment_mutants(seed in any::<u64>()) {
        segment_body(&mutate::input(&seeds(SEGMENTS), &mut Rng::new(seed)));
    }

    #[test]
    fn arbitrary_segment_bodies(text in any::<String>()) {
        segment_body(text.as_bytes());
    }

    #[test]
    fn requests_over_loopback(seed in any::<u64>()) {
        let before = fuzz_labd::PANICS.load(Ordering::Relaxed);
        let input = mutate::input(&fuzz_labd::requests(), &mut Rng::new(seed));
        fine(wire().send(&input))?;
        prop_assert_eq!(fuzz_labd::PANICS.load(Ordering::Relaxed), before, "the server panicked");
    }
}
