//! Property tests of every engine parser of outside input (topology and scenario files with
//! their validator, scripted defender files, session records): whatever the bytes, nothing
//! panics, and an error names a location inside its input. A short run by default; the long
//! run is `cargo run --release -p bulkhead-engine --example fuzz_parsers`.

#[path = "../examples/common/mutate.rs"]
mod mutate;
#[path = "../examples/common/targets.rs"]
mod targets;

use std::sync::OnceLock;

use bulkhead_engine::format::load::{LoadError, SourceFile};
use bulkhead_engine::format::{self, scenario_from_source};
use proptest::prelude::*;

use mutate::Rng;
use targets::Corpus;

fn corpus() -> &'static Corpus {
    static CORPUS: OnceLock<Corpus> = OnceLock::new();
    CORPUS.get_or_init(Corpus::load)
}

/// Few enough cases for seconds per parser in a debug build.
fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// The text of the first scenario of the repository, with `edit` applied.
fn scenario_text(edit: impl Fn(&str) -> String) -> String {
    let text = String::from_utf8(corpus().scenarios[0].clone()).unwrap();
    let edited = edit(&text);
    assert_ne!(edited, text, "the edit must change the scenario");
    edited
}

fn scenario_error(text: &str) -> String {
    let file = SourceFile::new("scenarios/x.ron", text);
    let err = scenario_from_source(&file, &corpus().topology).unwrap_err();
    targets::check_load_error("scenarios/x.ron", text, &err).unwrap();
    err.to_string()
}

#[test]
fn a_hint_in_any_language_is_checked_without_panicking() {
    let text = scenario_text(|t| {
        t.replacen(
            "hints: [",
            "hints: [\n        Hint(text: \"Look at logins — ééé, then the \\\"admin\\\" ones\", cost: 900),",
            1,
        )
    });
    let err = scenario_error(&text);
    assert!(err.contains("`cost` is 900"), "{err}");
    // It points at the cost of that hint, not at the first `cost` of the file.
    let at = text.find("cost: 900").unwrap();
    let line = text[..at].matches('\n').count() + 1;
    assert!(
        err.starts_with(&format!("scenarios/x.ron:{line}:")),
        "{err}"
    );
}

#[test]
fn a_mitre_id_with_multibyte_characters_is_an_error_not_a_panic() {
    let text = String::from_utf8(corpus().topologies[0].clone()).unwrap();
    let edited = text.replacen(
        "mitre: [",
        "mitre: [\"T12é4\", \"T123é\", \"T1234é67\", ",
        1,
    );
    assert_ne!(edited, text, "the topology has a rule with MITRE ids");
    let err = format::topology_from_source(&SourceFile::new("t.ron", edited.as_str())).unwrap_err();
    targets::check_load_error("t.ron", &edited, &err).unwrap();
    let shown = err.to_string();
    assert!(shown.contains("\"T12é4\" is not a MITRE"), "{shown}");
    let line = edited[..edited.find("T12é4").unwrap()]
        .matches('\n')
        .count()
        + 1;
    assert!(shown.starts_with(&format!("t.ron:{line}:")), "{shown}");
}

#[test]
fn a_scenario_file_that_is_not_utf8_fails_at_its_first_bad_byte() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = corpus().scenarios[0].clone();
    let line3 = bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .nth(1)
        .unwrap()
        .0
        + 1;
    bytes.insert(line3 + 2, 0xff);
    let path = dir.path().join("bad.ron");
    std::fs::write(&path, &bytes).unwrap();
    let err = format::load_scenario(&path, &targets::root()).unwrap_err();
    assert!(matches!(err, LoadError::Format(_)), "{err:?}");
    let shown = err.to_string();
    let expected = format!(
        "{}:3:3: not UTF-8 text: byte 0xff at byte offset {}",
        path.display(),
        line3 + 2
    );
    assert!(shown.starts_with(&expected), "{shown}");
}

#[test]
fn mutual_named_conditions_validate_in_linear_time() {
    // Twenty conditions each naming the next one many times over: an exponential walk of the
    // references would not finish.
    let text = String::from_utf8(corpus().topologies[0].clone()).unwrap();
    let macros: String = (0..20)
        .map(|i| {
            let next = format!("Macro(\"m{}\")", i + 1);
            let refs = vec![next; 6].join(", ");
            format!("NamedCondition(id: \"m{i}\", when: Any([{refs}])),\n")
        })
        .collect();
    let text = text.replacen("conditions: [", &format!("conditions: [\n{macros}"), 1);
    assert!(text.contains("m19"), "the topology has a `conditions` list");
    let started = std::time::Instant::now();
    let _ = format::topology_from_source(&SourceFile::new("t.ron", text));
    assert!(started.elapsed().as_secs() < 5);
}

/// The first scenario of the repository with its `injects` list holding `block`.
fn with_injects(block: &str) -> String {
    let text = String::from_utf8(corpus().scenarios[0].clone()).unwrap();
    let end = text
        .find("    objectives: Objectives(")
        .expect("the scenario has objectives");
    let start = text.find("    injects: [").unwrap_or(end);
    format!(
        "{}    injects: [{block}],\n{}",
        &text[..start],
        &text[end..]
    )
}

/// An inject from generated parts; `repeat` is `(every_s, until_s)`.
fn inject_text(
    id: &str,
    step: &str,
    source: &str,
    at_s: u32,
    repeat: Option<(u32, u32)>,
) -> String {
    let repeat = repeat.map_or(String::new(), |(every, until)| {
        format!("repeat: Some(Repeat(every_s: {every}, until_s: {until})), ")
    });
    format!(
        "Inject(id: \"{id}\", title: \"t\", description: \"d\", attack: [Step(id: \"{step}\", at_s: {at_s}, {repeat}action: Login(identity: \"dave\", source: \"{source}\"), narrative: \"n\")]),"
    )
}

#[test]
fn a_generated_valid_inject_loads() {
    let text = with_injects(&inject_text("i", "s", "198.51.100.9", 5, Some((10, 60))));
    fine(targets::scenario(text.as_bytes(), &corpus().topology)).unwrap();
    let file = SourceFile::new("s.ron", text);
    let scenario = scenario_from_source(&file, &corpus().topology).unwrap();
    assert_eq!(scenario.injects.len(), 1);
}

fn fine(result: Result<bool, String>) -> Result<(), TestCaseError> {
    result.map(|_| ()).map_err(TestCaseError::fail)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn topology_mutants(seed in any::<u64>()) {
        let input = mutate::input(&corpus().topologies, &mut Rng::new(seed));
        fine(targets::topology(&input))?;
    }

    #[test]
    fn scenario_mutants(seed in any::<u64>()) {
        let input = mutate::input(&corpus().scenarios, &mut Rng::new(seed));
        fine(targets::scenario(&input, &corpus().topology))?;
    }

    /// Single value changes mostly keep the file parseable: this exercises the validator on
    /// data that is well-formed but wrong.
    #[test]
    fn scenario_values_changed(seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        let mut input = rng.pick(&corpus().scenarios).clone();
        mutate::mutate_once(&mut input, &mut rng);
        fine(targets::scenario(&input, &corpus().topology))?;
    }

    #[test]
    fn topology_values_changed(seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        let mut input = rng.pick(&corpus().topologies).clone();
        mutate::mutate_once(&mut input, &mut rng);
        fine(targets::topology(&input))?;
    }

    #[test]
    fn arbitrary_text_as_topology_or_scenario(text in any::<String>()) {
        fine(targets::topology(text.as_bytes()))?;
        fine(targets::scenario(text.as_bytes(), &corpus().topology))?;
    }

    /// Injects of any names, addresses and times: checked with located errors, never a panic.
    #[test]
    fn generated_injects(
        ids in proptest::collection::vec("[a-z0-9 é\\-]{0,6}", 0..3),
        step in "[a-z0-9\\-]{0,6}",
        source in "[0-9a-z.]{0,15}",
        at_s in any::<u32>(),
        repeat in proptest::option::of((any::<u32>(), any::<u32>())),
    ) {
        let block: String = ids
            .iter()
            .map(|id| inject_text(id, &step, &source, at_s, repeat))
            .collect();
        fine(targets::scenario(with_injects(&block).as_bytes(), &corpus().topology))?;
    }

    /// Any text where a scenario's injects go.
    #[test]
    fn arbitrary_text_as_injects(text in any::<String>()) {
        fine(targets::scenario(with_injects(&text).as_bytes(), &corpus().topology))?;
    }

    #[test]
    fn arbitrary_bytes_as_scenario(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        fine(targets::scenario(&bytes, &corpus().topology))?;
    }

    #[test]
    fn defender_mutants(seed in any::<u64>()) {
        let input = mutate::input(&corpus().defenders, &mut Rng::new(seed));
        fine(targets::defender(&input))?;
    }

    #[test]
    fn arbitrary_text_as_defender(text in any::<String>()) {
        fine(targets::defender(text.as_bytes()))?;
    }

    #[test]
    fn record_mutants(seed in any::<u64>()) {
        let input = mutate::input(&corpus().records, &mut Rng::new(seed));
        fine(targets::record(&input))?;
    }

    #[test]
    fn arbitrary_bytes_as_record(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        fine(targets::record(&bytes))?;
    }
}
