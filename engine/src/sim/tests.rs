//! The simulated lab's own tests: each mitigation and failure says what happened and why.

use super::*;
use crate::format::{self, Loaded};
use crate::observation::CredentialChange;

fn lab(id: &str) -> (Loaded, SimLab) {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let l = format::load_scenario(&root.join(format!("scenarios/{id}.ron")), &root).unwrap();
    let lab = SimLab::new(l.topology.clone(), &l.scenario, 1);
    (l, lab)
}

fn act(id: u64, action: Action) -> Effect {
    Effect {
        id,
        origin: Origin::Attack { step: "t".into() },
        kind: EffectKind::Act(action),
    }
}

fn mitigate(id: u64, m: Mitigation) -> Effect {
    Effect {
        id,
        origin: Origin::Defender,
        kind: EffectKind::Mitigate(m),
    }
}

fn outcomes(out: &[LabOutput], effect: u64) -> Vec<bool> {
    out.iter()
        .filter_map(|o| match o {
            LabOutput::Outcome(o) if o.effect == effect => Some(o.ok),
            _ => None,
        })
        .collect()
}

fn causes(out: &[LabOutput], effect: u64) -> Vec<Option<Cause>> {
    out.iter()
        .filter_map(|o| match o {
            LabOutput::Outcome(o) if o.effect == effect => Some(o.cause.clone()),
            _ => None,
        })
        .collect()
}

fn svc(m: fn(String) -> Mitigation, service: &str) -> Mitigation {
    m(service.into())
}

fn hog(service: &str, seconds: u32) -> Action {
    Action::Hog {
        service: service.into(),
        cpu_workers: 3,
        memory_mib: 100,
        threads: 10,
        seconds,
    }
}

fn read(identity: &str, source: &str) -> Action {
    Action::ReadData {
        identity: identity.into(),
        source: source.into(),
        dataset: "customers".into(),
        records: 50,
        via: None,
    }
}

#[test]
fn a_blocked_source_and_a_revoked_identity_stop_reads_and_say_so() {
    let (_, mut lab) = lab("stolen-credentials");
    let mut out = Vec::new();
    lab.apply(0, &act(1, read("alice", "198.51.100.23")));
    lab.apply(
        100,
        &mitigate(
            2,
            Mitigation::Block {
                source: "198.51.100.23".into(),
            },
        ),
    );
    lab.apply(200, &act(3, read("alice", "198.51.100.23")));
    lab.apply(300, &act(4, read("alice", "10.20.0.11")));
    lab.apply(
        400,
        &mitigate(
            5,
            Mitigation::Revoke {
                identity: "alice".into(),
            },
        ),
    );
    lab.apply(500, &act(6, read("alice", "10.20.0.11")));
    lab.apply(
        600,
        &mitigate(
            7,
            Mitigation::Block {
                source: "198.51.100.23".into(),
            },
        ),
    );
    lab.advance(1000, &mut out);
    assert_eq!(outcomes(&out, 1), vec![true]);
    assert_eq!(outcomes(&out, 2), vec![true]);
    assert_eq!(outcomes(&out, 3), vec![false], "blocked at the gateway");
    assert_eq!(outcomes(&out, 4), vec![true], "another source still works");
    assert_eq!(outcomes(&out, 6), vec![false], "revoked");
    assert_eq!(
        outcomes(&out, 7),
        vec![false],
        "blocking twice is reported, not hidden"
    );
    let blocked = Cause::Blocked {
        source: "198.51.100.23".into(),
    };
    let revoked = Cause::Revoked {
        identity: "alice".into(),
    };
    assert_eq!(causes(&out, 1), vec![None], "a success carries no cause");
    assert_eq!(causes(&out, 3), vec![Some(blocked)]);
    assert_eq!(causes(&out, 6), vec![Some(revoked)]);
    let revoked = out.iter().any(|o| {
        matches!(
            o,
            LabOutput::Observation(Observation {
                body: ObservationBody::Event(LogEvent::Credential {
                    change: CredentialChange::Revoked,
                    ..
                }),
                ..
            })
        )
    });
    assert!(revoked);
}

#[test]
fn a_hog_without_limits_starves_the_host_until_it_is_capped() {
    let (_, mut lab) = lab("resource-exhaustion");
    let mut out = Vec::new();
    let hog = Action::Hog {
        service: "tenant-a".into(),
        cpu_workers: 3,
        memory_mib: 100,
        threads: 10,
        seconds: 60,
    };
    lab.apply(0, &act(1, hog));
    lab.advance(5000, &mut out);
    assert!(
        outcomes(&out, 1).iter().all(|ok| *ok),
        "unlimited, the hog takes more than it should"
    );
    let cpu = |out: &[LabOutput]| {
        out.iter()
            .rev()
            .find_map(|o| match o {
                LabOutput::Observation(Observation {
                    body: ObservationBody::Metrics(m),
                    ..
                }) if m.service == "tenant-a" => Some(m.cpu_pct),
                _ => None,
            })
            .unwrap()
    };
    assert!(cpu(&out) > 100.0);
    out.clear();
    lab.apply(
        5000,
        &mitigate(
            2,
            Mitigation::Cap {
                service: "tenant-a".into(),
                cpu_cores: Some(0.5),
                memory_mib: Some(256),
                pids: Some(64),
            },
        ),
    );
    lab.advance(10_000, &mut out);
    assert_eq!(outcomes(&out, 2), vec![true]);
    let after = outcomes(&out, 1);
    assert!(
        !after.is_empty() && after.iter().all(|ok| !*ok),
        "capped, the hog fails: {after:?}"
    );
    assert!(cpu(&out) <= 60.0, "cpu falls to the cap: {}", cpu(&out));
    let capped = Some(Cause::Capped {
        service: "tenant-a".into(),
    });
    assert!(
        causes(&out, 1).iter().all(|c| *c == capped),
        "held down by the trainee's cap: {:?}",
        causes(&out, 1)
    );
}

#[test]
fn isolating_a_tier_fails_what_needs_it_and_reconnecting_restores_it() {
    let (_, mut lab) = lab("stolen-credentials");
    let mut out = Vec::new();
    lab.apply(
        0,
        &mitigate(
            1,
            Mitigation::Isolate {
                service: "web".into(),
            },
        ),
    );
    lab.apply(10, &act(2, read("bob", "10.20.0.12")));
    lab.apply(
        20,
        &mitigate(
            3,
            Mitigation::Reconnect {
                service: "web".into(),
            },
        ),
    );
    lab.apply(30, &act(4, read("bob", "10.20.0.12")));
    lab.advance(1000, &mut out);
    assert_eq!(outcomes(&out, 2), vec![false]);
    assert_eq!(outcomes(&out, 4), vec![true]);
}

#[test]
fn a_failed_read_names_the_tier_that_did_not_answer_and_why() {
    type Case = (fn(String) -> Mitigation, &'static str, fn(String) -> Cause);
    let cases: [Case; 6] = [
        (
            |s| Mitigation::Isolate { service: s },
            "web",
            |s| Cause::Isolated { service: s },
        ),
        (
            |s| Mitigation::Pause { service: s },
            "web",
            |s| Cause::Paused { service: s },
        ),
        (
            |s| Mitigation::Stop { service: s },
            "web",
            |s| Cause::Stopped { service: s },
        ),
        (
            |s| Mitigation::Isolate { service: s },
            "gateway",
            |s| Cause::Isolated { service: s },
        ),
        (
            |s| Mitigation::Pause { service: s },
            "datastore",
            |s| Cause::Paused { service: s },
        ),
        (
            |s| Mitigation::Stop { service: s },
            "datastore",
            |s| Cause::Stopped { service: s },
        ),
    ];
    for (m, service, cause) in cases {
        let (_, mut lab) = lab("stolen-credentials");
        let mut out = Vec::new();
        lab.apply(0, &mitigate(1, svc(m, service)));
        lab.apply(10, &act(2, read("bob", "10.20.0.12")));
        lab.advance(1000, &mut out);
        assert_eq!(outcomes(&out, 1), vec![true], "{service}");
        assert_eq!(causes(&out, 2), vec![Some(cause(service.into()))]);
    }
}

#[test]
fn refusals_of_the_application_are_not_a_mitigation() {
    let (_, mut lab) = lab("stolen-credentials");
    let mut out = Vec::new();
    let request = |identity: &str, endpoint: &str| Action::Request {
        identity: Some(identity.into()),
        source: "10.20.0.12".into(),
        endpoint: endpoint.into(),
        via: None,
    };
    lab.apply(0, &act(1, request("bob", "/admin/users")));
    lab.apply(10, &act(2, request("nobody", "/orders")));
    lab.advance(1000, &mut out);
    assert_eq!(causes(&out, 1), vec![Some(Cause::Refused)], "403");
    assert_eq!(causes(&out, 2), vec![Some(Cause::Refused)], "never valid");
}

#[test]
fn jobs_and_execs_in_a_frozen_or_stopped_container_say_which() {
    let (_, mut lab) = lab("resource-exhaustion");
    let mut out = Vec::new();
    let exec = |service: &str| Action::Exec {
        service: service.into(),
        identity: "ivan".into(),
        command: "sh".into(),
    };
    lab.apply(0, &act(1, hog("tenant-a", 60)));
    lab.advance(2000, &mut out);
    lab.apply(
        2000,
        &mitigate(2, svc(|s| Mitigation::Pause { service: s }, "tenant-a")),
    );
    lab.apply(2010, &act(3, exec("tenant-a")));
    lab.advance(4000, &mut out);
    lab.apply(
        4000,
        &mitigate(4, svc(|s| Mitigation::Stop { service: s }, "tenant-a")),
    );
    lab.apply(4010, &act(5, exec("tenant-a")));
    lab.advance(6000, &mut out);
    let paused = Some(Cause::Paused {
        service: "tenant-a".into(),
    });
    let stopped = Some(Cause::Stopped {
        service: "tenant-a".into(),
    });
    assert_eq!(causes(&out, 3), vec![paused.clone()]);
    assert_eq!(causes(&out, 5), vec![stopped.clone()]);
    let hog = causes(&out, 1);
    assert_eq!(hog.first(), Some(&None), "unlimited, it takes too much");
    assert!(hog.contains(&paused), "frozen: {hog:?}");
    assert_eq!(hog.last(), Some(&stopped), "killed by the stop: {hog:?}");
}

#[test]
fn a_benign_backup_killed_by_a_stop_fails_and_says_why() {
    let (_, mut lab) = lab("resource-exhaustion");
    let mut out = Vec::new();
    let backup = Effect {
        id: 1,
        origin: Origin::Benign,
        kind: EffectKind::Act(Action::Backup {
            service: "tenant-b".into(),
            seconds: 60,
        }),
    };
    lab.apply(0, &backup);
    lab.advance(2000, &mut out);
    lab.apply(
        2000,
        &mitigate(2, svc(|s| Mitigation::Stop { service: s }, "tenant-b")),
    );
    lab.advance(4000, &mut out);
    assert_eq!(outcomes(&out, 1), vec![true, false], "started, then lost");
    let stopped = Some(Cause::Stopped {
        service: "tenant-b".into(),
    });
    assert_eq!(causes(&out, 1).last(), Some(&stopped));
}

#[test]
fn a_hog_that_ends_by_itself_or_under_its_own_limits_gets_no_trainee_cause() {
    let (_, mut lab) = lab("resource-exhaustion");
    let mut out = Vec::new();
    // tenant-b keeps its hardened limits: they, not a trainee, hold the hog down.
    lab.apply(0, &act(1, hog("tenant-b", 3)));
    lab.apply(0, &act(2, hog("tenant-a", 3)));
    lab.advance(8000, &mut out);
    for effect in [1, 2] {
        let all = causes(&out, effect);
        assert!(!all.is_empty());
        assert!(
            all.iter().flatten().all(|c| c.entity().is_none()),
            "{effect}: {all:?}"
        );
    }
}

#[test]
fn a_flood_second_carries_the_dominant_reason_its_requests_failed() {
    let (_, mut lab) = lab("stolen-credentials");
    let mut out = Vec::new();
    let flood = Action::Flood {
        source: "203.0.113.9".into(),
        rps: 40,
        seconds: 5,
        endpoint: "/".into(),
        via: None,
    };
    lab.apply(0, &act(1, flood));
    lab.advance(2000, &mut out);
    lab.apply(
        2000,
        &mitigate(
            2,
            Mitigation::Block {
                source: "203.0.113.9".into(),
            },
        ),
    );
    lab.advance(5000, &mut out);
    let all = causes(&out, 1);
    assert_eq!(all.first(), Some(&None), "a flood that arrives succeeds");
    assert_eq!(
        all.last(),
        Some(&Some(Cause::Blocked {
            source: "203.0.113.9".into()
        }))
    );
}

#[test]
fn a_memory_cap_that_oom_kills_the_hog_is_named_and_so_is_the_dead_container() {
    let (_, mut lab) = lab("resource-exhaustion");
    let mut out = Vec::new();
    let greedy = Action::Hog {
        service: "tenant-a".into(),
        cpu_workers: 1,
        memory_mib: 600,
        threads: 10,
        seconds: 60,
    };
    lab.apply(0, &act(1, greedy.clone()));
    lab.advance(1000, &mut out);
    let cap = Mitigation::Cap {
        service: "tenant-a".into(),
        cpu_cores: None,
        memory_mib: Some(256),
        pids: None,
    };
    lab.apply(1000, &mitigate(2, cap));
    lab.advance(10_000, &mut out);
    lab.apply(10_000, &act(3, greedy));
    lab.advance(11_000, &mut out);
    let oom = Some(Cause::OomKilled {
        service: "tenant-a".into(),
    });
    assert_eq!(outcomes(&out, 2), vec![true]);
    assert_eq!(causes(&out, 1).last(), Some(&oom), "{:?}", causes(&out, 1));
    assert_eq!(causes(&out, 3), vec![oom], "it stays down out of memory");
}

fn detach(id: u64, service: &str, zone: &str) -> Effect {
    let m = Mitigation::Detach {
        service: service.into(),
        zone: zone.into(),
    };
    mitigate(id, m)
}

fn attach(id: u64, service: &str, zone: &str) -> Effect {
    let m = Mitigation::Attach {
        service: service.into(),
        zone: zone.into(),
    };
    mitigate(id, m)
}

fn login(source: &str) -> Action {
    Action::Login {
        identity: "bob".into(),
        source: source.into(),
        via: None,
    }
}

#[test]
fn detaching_web_from_the_data_zone_stops_reads_but_not_logins_until_attached_again() {
    let (_, mut lab) = lab("stolen-credentials");
    let mut out = Vec::new();
    lab.apply(0, &detach(1, "web", "data"));
    lab.apply(100, &act(2, read("alice", "198.51.100.23")));
    lab.apply(200, &act(3, login("198.51.100.23")));
    lab.apply(300, &detach(4, "web", "data"));
    lab.apply(400, &attach(5, "web", "data"));
    lab.apply(500, &act(6, read("alice", "198.51.100.23")));
    lab.apply(600, &attach(7, "web", "data"));
    lab.advance(1000, &mut out);
    assert_eq!(outcomes(&out, 1), vec![true]);
    let cut = Cause::Detached {
        service: "web".into(),
        zone: "data".into(),
    };
    assert_eq!(
        causes(&out, 2),
        vec![Some(cut.clone())],
        "web cannot reach the data"
    );
    assert!(cut.explained_by(&Mitigation::Detach {
        service: "web".into(),
        zone: "data".into()
    }));
    assert!(!cut.explained_by(&Mitigation::Detach {
        service: "web".into(),
        zone: "app".into()
    }));
    assert_eq!(
        outcomes(&out, 3),
        vec![true],
        "web still answers in its app zone"
    );
    assert_eq!(
        outcomes(&out, 4),
        vec![false],
        "detaching twice is reported"
    );
    assert_eq!(outcomes(&out, 5), vec![true]);
    assert_eq!(outcomes(&out, 6), vec![true], "attached again");
    assert_eq!(
        outcomes(&out, 7),
        vec![false],
        "attaching twice is reported"
    );
}

#[test]
fn a_gateway_detached_from_the_internet_keeps_serving_the_office() {
    let (_, mut lab) = lab("stolen-credentials");
    let mut out = Vec::new();
    lab.apply(0, &detach(1, "gateway", "outside"));
    lab.apply(100, &act(2, login("198.51.100.23")));
    let benign = Effect {
        id: 3,
        origin: Origin::Benign,
        kind: EffectKind::Act(login("10.20.0.12")),
    };
    lab.apply(200, &benign);
    lab.advance(2500, &mut out);
    let cut = Cause::Detached {
        service: "gateway".into(),
        zone: "outside".into(),
    };
    assert_eq!(causes(&out, 2), vec![Some(cut)], "the attacker is outside");
    assert_eq!(
        outcomes(&out, 3),
        vec![true],
        "the office comes in from the edge"
    );
    let seen_from_outside = out.iter().any(|o| {
        matches!(o, LabOutput::Observation(Observation {
            body: ObservationBody::Event(LogEvent::Flow { source, .. }), ..
        }) if source == "198.51.100.23")
    });
    assert!(
        !seen_from_outside,
        "a request that never arrives is in no flow log"
    );
}

#[test]
fn lateral_movement_needs_the_networks_its_way_crosses() {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let l = format::load_scenario(&root.join("scenarios/poisoned-pdf.ron"), &root).unwrap();
    let mut lab = SimLab::new(l.topology.clone(), &l.scenario, 1);
    let pivot = |id| {
        let action = Action::Pivot {
            from: "invoice-worker".into(),
            to: "ledger-db".into(),
            endpoint: "/records".into(),
        };
        act(id, action)
    };
    let mut out = Vec::new();
    lab.apply(0, &pivot(1));
    lab.apply(100, &detach(2, "firewall", "data"));
    lab.apply(200, &pivot(3));
    lab.apply(300, &attach(4, "firewall", "data"));
    lab.apply(400, &detach(5, "invoice-worker", "jobs"));
    lab.apply(500, &pivot(6));
    lab.apply(
        600,
        &mitigate(
            7,
            svc(|service| Mitigation::Isolate { service }, "export-worker"),
        ),
    );
    lab.apply(700, &attach(8, "export-worker", "jobs"));
    lab.advance(1500, &mut out);
    assert_eq!(outcomes(&out, 1), vec![true], "the route carries /records");
    let firewall_cut = Cause::Detached {
        service: "firewall".into(),
        zone: "data".into(),
    };
    assert_eq!(causes(&out, 3), vec![Some(firewall_cut)]);
    let worker_cut = Cause::Detached {
        service: "invoice-worker".into(),
        zone: "jobs".into(),
    };
    assert_eq!(causes(&out, 6), vec![Some(worker_cut)]);
    let refused: Vec<&str> = out
        .iter()
        .filter_map(|o| match o {
            LabOutput::Outcome(o) if o.effect == 8 => Some(o.detail.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        refused,
        [ISOLATED_NOT_ATTACHED],
        "an isolated service is reconnected, not attached"
    );
}

/// An action through the front door of the SaaS lab: to the API, or to the partner portal.
fn at_tier(via: &str, action: Action) -> Action {
    let via = Some(via.to_string());
    match action {
        Action::ReadData {
            identity,
            source,
            dataset,
            records,
            ..
        } => Action::ReadData {
            identity,
            source,
            dataset,
            records,
            via,
        },
        Action::CreateKey {
            identity, source, ..
        } => Action::CreateKey {
            identity,
            source,
            via,
        },
        Action::Flood {
            source,
            rps,
            seconds,
            endpoint,
            ..
        } => Action::Flood {
            source,
            rps,
            seconds,
            endpoint,
            via,
        },
        other => other,
    }
}

fn log_events(out: &[LabOutput]) -> Vec<&LogEvent> {
    out.iter()
        .filter_map(|o| match o {
            LabOutput::Observation(Observation {
                body: ObservationBody::Event(e),
                ..
            }) => Some(e),
            _ => None,
        })
        .collect()
}

#[test]
fn each_web_tier_has_its_own_gateway_store_logins_and_capacity() {
    let (_, mut lab) = lab("poisoned-pdf");
    let mut out = Vec::new();
    let payouts = |records| Action::ReadData {
        identity: "priya".into(),
        source: "192.0.2.60".into(),
        dataset: "payouts".into(),
        records,
        via: None,
    };
    lab.apply(0, &act(1, at_tier("partner-portal", payouts(12))));
    lab.apply(0, &act(2, at_tier("api", read("lena", "10.30.0.21"))));
    let key = Action::CreateKey {
        identity: "priya".into(),
        source: "192.0.2.60".into(),
        via: None,
    };
    lab.apply(0, &act(3, at_tier("partner-portal", key)));
    lab.advance(1500, &mut out);
    assert_eq!(
        outcomes(&out, 1),
        vec![true],
        "the portal reads its own store"
    );
    assert_eq!(outcomes(&out, 2), vec![true], "the API reads the ledger");
    let events = log_events(&out);
    let served_by = |effect: u64| -> Vec<&str> {
        (events.iter())
            .filter(|e| e.trace() == Some(effect))
            .map(|e| e.service())
            .collect()
    };
    assert!(
        served_by(1).iter().all(|s| *s == "partner-portal"),
        "{:?}",
        served_by(1)
    );
    assert!(
        served_by(2).iter().all(|s| *s == "api"),
        "{:?}",
        served_by(2)
    );
    let flows: Vec<(&str, &str, &str)> = (events.iter())
        .filter_map(|e| match e {
            LogEvent::Flow {
                service,
                source,
                upstream,
                ..
            } => Some((service.as_str(), source.as_str(), upstream.as_str())),
            _ => None,
        })
        .collect();
    assert!(
        flows.contains(&("partner-gateway", "192.0.2.60", "partner-portal")),
        "{flows:?}"
    );
    assert!(
        flows.contains(&("gateway", "10.30.0.21", "api")),
        "{flows:?}"
    );

    // A flood on the portal overloads the portal only: the API keeps serving.
    let flood = Action::Flood {
        source: "203.0.113.9".into(),
        rps: 400,
        seconds: 5,
        endpoint: "/public/login".into(),
        via: None,
    };
    lab.apply(1500, &act(4, at_tier("partner-portal", flood)));
    lab.advance(5000, &mut out);
    for (n, at) in [(5, 5000), (6, 5100), (7, 5200), (8, 5300)] {
        lab.apply(at, &act(n, at_tier("api", read("lena", "10.30.0.21"))));
        lab.apply(at, &act(n + 10, at_tier("partner-portal", payouts(5))));
    }
    lab.advance(6500, &mut out);
    let api_ok = (5..=8).filter(|&n| outcomes(&out, n) == vec![true]).count();
    let portal_overloaded = (15..=18)
        .filter(|&n| {
            causes(&out, n)
                == vec![Some(Cause::Overloaded {
                    service: "partner-portal".into(),
                })]
        })
        .count();
    assert_eq!(api_ok, 4, "the API has its own capacity");
    assert!(
        portal_overloaded >= 2,
        "the flooded portal drops most requests"
    );

    // A revocation applies at every tier; the key priya made at the portal goes with it.
    let mut out = Vec::new();
    lab.apply(
        7000,
        &mitigate(
            20,
            Mitigation::Revoke {
                identity: "priya".into(),
            },
        ),
    );
    lab.advance(8000, &mut out);
    let revoked: Vec<(&str, &str)> = (log_events(&out).into_iter())
        .filter_map(|e| match e {
            LogEvent::Credential {
                service,
                credential,
                change: CredentialChange::Revoked,
                ..
            } => Some((service.as_str(), credential.as_str())),
            _ => None,
        })
        .collect();
    assert!(revoked.contains(&("api", "password")), "{revoked:?}");
    assert!(
        revoked.contains(&("partner-portal", "password")),
        "{revoked:?}"
    );
    assert!(
        revoked
            .iter()
            .any(|(s, c)| *s == "partner-portal" && c.starts_with("key-")),
        "{revoked:?}"
    );
    assert!(
        !revoked
            .iter()
            .any(|(s, c)| *s == "api" && c.starts_with("key-")),
        "the API never knew the key"
    );
}

#[test]
fn a_block_holds_at_every_gateway_and_a_detached_portal_store_is_named() {
    let (_, mut lab) = lab("poisoned-pdf");
    let mut out = Vec::new();
    let payouts = Action::ReadData {
        identity: "priya".into(),
        source: "192.0.2.60".into(),
        dataset: "payouts".into(),
        records: 5,
        via: Some("partner-portal".into()),
    };
    let block = Mitigation::Block {
        source: "192.0.2.60".into(),
    };
    lab.apply(0, &mitigate(1, block));
    lab.apply(100, &act(2, payouts.clone()));
    lab.apply(100, &act(3, at_tier("api", read("priya", "192.0.2.60"))));
    let unblock = Mitigation::Unblock {
        source: "192.0.2.60".into(),
    };
    lab.apply(200, &mitigate(4, unblock));
    let detach = Mitigation::Detach {
        service: "payouts-db".into(),
        zone: "partners".into(),
    };
    lab.apply(300, &mitigate(5, detach));
    lab.apply(400, &act(6, payouts));
    lab.advance(1500, &mut out);
    let blocked = Some(Cause::Blocked {
        source: "192.0.2.60".into(),
    });
    assert_eq!(
        causes(&out, 2),
        vec![blocked.clone()],
        "the partner gateway blocks"
    );
    assert_eq!(causes(&out, 3), vec![blocked], "and so does the API's");
    assert_eq!(
        causes(&out, 6),
        vec![Some(Cause::Detached {
            service: "payouts-db".into(),
            zone: "partners".into(),
        })],
        "the portal's read fails for the detachment of its own store"
    );
}
