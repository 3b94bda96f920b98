//! Fixing a lab's weaknesses on real containers (the local Docker engine, never a mock): each
//! kind of `Mitigation::Fix` through the `DockerLab`, confirmed by the lab's audit, by Docker's
//! inspection and by the kernel's view of the container, while the lab keeps its addresses, its
//! telemetry and the trainee's other mitigations, and mistakes no recreation for a fault.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bulkhead_engine::format::scenario::{AcceptedRisk, Hardening, Weakness};
use bulkhead_engine::format::{self, Loaded};
use bulkhead_engine::observation::{CredentialChange, LifecycleState};
use bulkhead_engine::posture::WeaknessKind;
use bulkhead_engine::{
    Action, Cause, EffectKind, LabOutput, LogEvent, Mitigation, Observation, ObservationBody,
    Origin, Outcome,
};
use bulkhead_labs::LabOptions;
use bulkhead_labs::docker_lab::DockerLab;
use bulkhead_labs::spec::{CONTROL_PORT, SERVICE_PORT};
use common::{Probe, docker_here, docker_out, gateway_blocks, inspect, leftovers};

mod common;

/// The longest a fix (or any effect here) may take to report its outcome.
const OUTCOME_WITHIN: Duration = Duration::from_secs(60);

const SECRET: &str = "BACKUP_API_KEY";
const BAKED: &str = "DEPLOY_TOKEN";
const BAKED_AT: &str = "/opt/tenant-b/release.env";
const TOOL_AT: &str = "/usr/local/bin/socat";
const SCRIPT_AT: &str = "/opt/vendor/agent-update";
const FACTORY: &str = "changeme";

/// Whether an image's history shows a layer that added the file at `path`.
fn layered(image: &str, path: &str) -> bool {
    docker_out(&["history", "--no-trunc", "--format", "{{.CreatedBy}}", image]).contains(path)
}

/// The company lab with every weakness of a worker on tenant-b, a writable root on the gateway
/// (a service of three networks whose labd holds the trainee's blocks), and on web a factory
/// password (held in its labd's memory), root (a recreation that must not bring it back) and
/// a management endpoint left on.
fn weak_company() -> Loaded {
    let root = bulkhead_labs::image::source_dir();
    let mut loaded = format::resolve_scenario(&root, "stolen-credentials").unwrap();
    assert_eq!(loaded.topology.id, "company");
    let mut scenario = (*loaded.scenario).clone();
    let b = || "tenant-b".to_string();
    scenario.weaknesses = vec![
        Weakness::NoLimits { service: b() },
        Weakness::WritableRoot { service: b() },
        Weakness::RunsAsRoot { service: b() },
        Weakness::ExtraCapabilities {
            service: b(),
            caps: vec!["NET_RAW".into(), "CHOWN".into()],
        },
        Weakness::SecretInEnv {
            service: b(),
            var: SECRET.into(),
        },
        Weakness::SecretInImage {
            service: b(),
            path: BAKED_AT.into(),
            var: BAKED.into(),
        },
        Weakness::UnneededTool {
            service: b(),
            path: TOOL_AT.into(),
        },
        Weakness::UnverifiedScript {
            service: b(),
            path: SCRIPT_AT.into(),
            source: "https://get.metrics-vendor.example/agent.sh".into(),
        },
        Weakness::WritableRoot {
            service: "gateway".into(),
        },
        Weakness::DefaultPassword {
            service: "web".into(),
            identity: "alice".into(),
            password: FACTORY.into(),
        },
        Weakness::RunsAsRoot {
            service: "web".into(),
        },
        Weakness::ExposedManagement {
            service: "web".into(),
            path: "/debug".into(),
        },
    ];
    // The business relies on tenant-b's root and capabilities: labd is told so (LABD_NEEDS),
    // and once a fix takes them it refuses tenant-b's work.
    let accept = |weakness| AcceptedRisk {
        service: b(),
        weakness,
        reason: "R".into(),
        breaks: "B".into(),
    };
    scenario.hardening = Some(Hardening {
        budget_s: 60,
        accepted: vec![
            accept(WeaknessKind::RunsAsRoot),
            accept(WeaknessKind::ExtraCapabilities),
        ],
        collateral: vec![],
    });
    loaded.scenario = Arc::new(scenario);
    loaded
}

/// `labd ctl /backup` in a worker: the service's own job, refused when it lacks a need.
fn backup(container: &str) -> std::process::Output {
    let ctl = [
        "exec",
        container,
        "/labd",
        "ctl",
        "/backup",
        r#"{"seconds":1}"#,
    ];
    std::process::Command::new("docker")
        .args(ctl)
        .output()
        .unwrap()
}

/// What the hardening test asks of a `Probe` beyond applying effects.
impl Probe {
    fn step(&mut self) {
        self.run_for(50, 50);
    }

    fn wait(&mut self, ms: u64) {
        self.run_for(ms, 50);
    }

    /// Apply a defender's mitigation and wait for its outcome; with the wall time it took.
    fn mitigate(&mut self, m: Mitigation) -> (Outcome, Duration) {
        let started = Instant::now();
        let id = self.apply(Origin::Defender, EffectKind::Mitigate(m.clone()));
        while started.elapsed() < OUTCOME_WITHIN {
            if let Some(o) = self.outcome_of(id) {
                return (o.clone(), started.elapsed());
            }
            self.step();
        }
        panic!("no outcome for {} within {OUTCOME_WITHIN:?}", m.summary());
    }

    /// The lab's audit of tenant-b (or another service): the kinds it finds.
    fn found(&mut self, service: &str) -> BTreeSet<WeaknessKind> {
        let findings = self.lab.audit().expect("the lab audits");
        (findings.into_iter())
            .filter(|f| f.service == service)
            .map(|f| f.weakness)
            .collect()
    }

    fn events_after(&self, t: u64) -> impl Iterator<Item = &LogEvent> {
        self.outputs.iter().filter_map(move |o| match o {
            LabOutput::Observation(Observation {
                t_ms,
                body: ObservationBody::Event(e),
            }) if *t_ms > t => Some(e),
            _ => None,
        })
    }
}

fn fix(service: &str, weakness: WeaknessKind) -> Mitigation {
    Mitigation::Fix {
        service: service.into(),
        weakness,
    }
}

/// Network name → address, as Docker reports the container's endpoints.
fn addresses(container: &str) -> BTreeSet<String> {
    let format = "{{range $n, $e := .NetworkSettings.Networks}}{{$n}}={{$e.IPAddress}} {{end}}";
    inspect(container, format)
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// A field of the container's main process as the kernel reports it (`/proc/<pid>/status`),
/// or `None` where this process may not read it.
fn kernel(container: &str, file: &str) -> Option<String> {
    let pid = inspect(container, "{{.State.Pid}}");
    std::fs::read_to_string(format!("/proc/{pid}/{file}")).ok()
}

fn status_field(container: &str, key: &str) -> Option<String> {
    let status = kernel(container, "status")?;
    (status.lines())
        .find_map(|l| l.strip_prefix(key))
        .map(|v| v.trim().to_string())
}

/// One request from the host to a lab container's address, answered by its status (0: no
/// answer) and its JSON body (`Null` where it has none).
fn http(
    container: &str,
    port: u16,
    path: &str,
    build: impl FnOnce(reqwest::Client, String) -> reqwest::RequestBuilder,
) -> (u16, serde_json::Value) {
    let url = format!("http://{}:{port}{path}", address_of(container));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let Ok(answer) = build(client, url).send().await else {
            return (0, serde_json::Value::Null);
        };
        let status = answer.status().as_u16();
        (status, answer.json().await.unwrap_or_default())
    })
}

/// Whether labd in the container answers its health check on the container's address.
fn healthy(container: &str) -> bool {
    let (status, _) = http(container, CONTROL_PORT, "/healthz", |c, url| c.get(url));
    status == 200
}

/// The first address Docker reports for a container.
fn address_of(container: &str) -> String {
    let ip = inspect(
        container,
        "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
    );
    ip.split_whitespace().next().unwrap_or_default().to_string()
}

/// A session token of `identity` from web's login with `password`, or `None` when refused.
fn login(web: &str, identity: &str, password: &str) -> Option<String> {
    let body = serde_json::json!({ "identity": identity, "password": password });
    let (_, answer) = http(web, SERVICE_PORT, "/login", |c, url| {
        c.post(url).json(&body)
    });
    answer["token"].as_str().map(str::to_owned)
}

/// The status web answers an anonymous GET of `path` with, straight to its address.
fn status_of(web: &str, path: &str) -> u16 {
    http(web, SERVICE_PORT, path, |c, url| c.get(url)).0
}

/// Whether web's API takes this session token.
fn session_works(web: &str, token: &str) -> bool {
    let with_token = |c: reqwest::Client, url| c.get(url).bearer_auth(token);
    http(web, SERVICE_PORT, "/api/orders", with_token).0 == 200
}

/// What each recreating fix must show in the kernel's view and Docker's inspection.
fn assert_fixed_in_container(container: &str, weakness: WeaknessKind) {
    let unreadable =
        || eprintln!("note: /proc of {container} not readable here: kernel view skipped");
    match weakness {
        WeaknessKind::NoLimits => {
            let limits =
                "{{.HostConfig.NanoCpus}} {{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}";
            assert_eq!(inspect(container, limits), "500000000 134217728 64");
        }
        WeaknessKind::WritableRoot => {
            assert_eq!(inspect(container, "{{.HostConfig.ReadonlyRootfs}}"), "true");
            match kernel(container, "mounts") {
                Some(mounts) => {
                    let root = mounts.lines().find(|l| l.split(' ').nth(1) == Some("/"));
                    let options = root.and_then(|l| l.split(' ').nth(3)).unwrap_or_default();
                    assert!(options.starts_with("ro,"), "root mounted {options}");
                }
                None => unreadable(),
            }
        }
        WeaknessKind::RunsAsRoot => {
            assert_eq!(inspect(container, "{{.Config.User}}"), "10001:10001");
            match status_field(container, "Uid:") {
                Some(uid) => assert!(uid.starts_with("10001"), "uid {uid}"),
                None => unreadable(),
            }
        }
        WeaknessKind::ExtraCapabilities => {
            assert_eq!(inspect(container, "{{.HostConfig.CapAdd}}"), "[]");
            match status_field(container, "CapEff:") {
                Some(caps) => assert_eq!(caps, "0000000000000000"),
                None => unreadable(),
            }
        }
        WeaknessKind::SecretInEnv => {
            let env = inspect(container, "{{json .Config.Env}}");
            assert!(!env.contains(SECRET), "{env}");
            assert!(
                env.contains("LABD_SERVICE="),
                "the range's own variables stay: {env}"
            );
            match kernel(container, "environ") {
                Some(environ) => assert!(!environ.contains(SECRET)),
                None => unreadable(),
            }
        }
        // The three in the image are fixed in this order, each rebuilding the image without
        // its file only: the lab image itself once none is left.
        WeaknessKind::SecretInImage => {
            let image = inspect(container, "{{.Config.Image}}");
            assert!(image.starts_with("bulkhead/layer:"), "rebuilt: {image}");
            assert!(
                !layered(&image, BAKED_AT),
                "no layer adds the secret's file"
            );
            assert!(layered(&image, TOOL_AT) && layered(&image, SCRIPT_AT));
        }
        WeaknessKind::UnneededTool => {
            let image = inspect(container, "{{.Config.Image}}");
            assert!(image.starts_with("bulkhead/layer:"), "rebuilt: {image}");
            assert!(!layered(&image, TOOL_AT), "no layer adds the tool");
            assert!(layered(&image, SCRIPT_AT), "the script is another fix's");
        }
        WeaknessKind::UnverifiedScript => {
            let image = inspect(container, "{{.Config.Image}}");
            assert!(
                image.starts_with("bulkhead/labd:"),
                "the vetted image: {image}"
            );
            assert!(!layered(&image, SCRIPT_AT), "no layer adds the script");
        }
        // In web's memory, not the container: the test logs in to see it.
        WeaknessKind::DefaultPassword => {}
        WeaknessKind::ExposedManagement => {
            let env = inspect(container, "{{json .Config.Env}}");
            assert!(!env.contains("LABD_MANAGEMENT="), "{env}");
            assert!(env.contains("LABD_ADMIN_TOKEN="), "the rest stays: {env}");
        }
    }
    // Every recreation keeps the lab's hardening.
    assert_eq!(inspect(container, "{{.HostConfig.CapDrop}}"), "[ALL]");
    assert_eq!(
        inspect(container, "{{.HostConfig.SecurityOpt}}"),
        "[no-new-privileges]"
    );
    assert_eq!(inspect(container, "{{.HostConfig.Privileged}}"), "false");
    if let Some(nnp) = status_field(container, "NoNewPrivs:") {
        assert_eq!(nnp, "1");
    }
}

#[test]
fn every_weakness_is_fixed_on_the_live_lab_and_the_lab_carries_on() {
    let test = "every_weakness_is_fixed_on_the_live_lab";
    if !docker_here(test) {
        return;
    }
    let loaded = weak_company();
    let options = LabOptions::default();
    let lab = DockerLab::start(loaded.topology.clone(), &loaded.scenario, &options, |_| {})
        .expect("the lab comes up");
    let session = lab.running().session.clone();
    let name = |service: &str| lab.running().containers[service].name.clone();
    let (tenant, gateway, web) = (name("tenant-b"), name("gateway"), name("web"));
    let mut d = Probe::new(Box::new(lab));
    let all: BTreeSet<WeaknessKind> = (WeaknessKind::ALL.into_iter())
        .filter(|w| !w.told_by_the_service())
        .collect();
    assert_eq!(d.found("tenant-b"), all);
    assert_eq!(
        d.found("gateway"),
        BTreeSet::from([WeaknessKind::WritableRoot])
    );
    // Its own image, the lab image and a layer holding the file, built for this lab.
    let baked_image = inspect(&tenant, "{{.Config.Image}}");
    assert!(baked_image.starts_with("bulkhead/layer:"), "{baked_image}");
    for path in [BAKED_AT, TOOL_AT, SCRIPT_AT] {
        assert!(layered(&baked_image, path), "{path} in {baked_image}");
    }
    let evidence = (d.lab.audit().unwrap().into_iter())
        .find(|f| f.weakness == WeaknessKind::SecretInImage)
        .map(|f| (f.evidence, f.cis));
    assert_eq!(
        evidence,
        Some((
            format!("secret {BAKED} in {BAKED_AT}, baked into an image layer"),
            vec!["4.10".to_string()]
        ))
    );
    let (tenant_at, gateway_at) = (addresses(&tenant), addresses(&gateway));
    assert_eq!(gateway_at.len(), 3, "{gateway_at:?}");

    // Paused by the trainee: a fix would undo that, so it is refused and the pause holds.
    let pause = Mitigation::Pause {
        service: "tenant-b".into(),
    };
    assert!(d.mitigate(pause).0.ok);
    let (refused, _) = d.mitigate(fix("tenant-b", WeaknessKind::SecretInEnv));
    assert!(!refused.ok);
    assert!(
        refused
            .detail
            .contains("tenant-b is paused: unpause it before fixing it"),
        "{}",
        refused.detail
    );
    assert_eq!(inspect(&tenant, "{{.State.Paused}}"), "true");
    let unpause = Mitigation::Unpause {
        service: "tenant-b".into(),
    };
    assert!(d.mitigate(unpause).0.ok);

    // Limits: set in place, the same container.
    let id_before = inspect(&tenant, "{{.Id}}");
    let (limited, took) = d.mitigate(fix("tenant-b", WeaknessKind::NoLimits));
    assert!(limited.ok, "{}", limited.detail);
    assert_eq!(
        limited.detail,
        "tenant-b limited to 0.5 cores, 128 MiB, 64 pids; a fresh audit no longer finds it"
    );
    eprintln!("figure: NoLimits fix {} ms", took.as_millis());
    assert_eq!(inspect(&tenant, "{{.Id}}"), id_before);
    assert_fixed_in_container(&tenant, WeaknessKind::NoLimits);
    let mut left = all.clone();
    left.remove(&WeaknessKind::NoLimits);
    assert_eq!(d.found("tenant-b"), left);

    // An attack's job runs in tenant-b: the first recreation ends it, for the fix.
    let hog = Action::Hog {
        service: "tenant-b".into(),
        cpu_workers: 1,
        memory_mib: 8,
        threads: 2,
        seconds: 120,
    };
    let attack = Origin::Attack { step: "hog".into() };
    let hog = d.apply(attack.clone(), EffectKind::Act(hog));
    d.wait(2500);

    // With root and its capabilities, tenant-b does its work.
    let before = backup(&tenant);
    assert!(before.status.success(), "{before:?}");

    let mut last_fix_at = 0;
    for weakness in [
        WeaknessKind::WritableRoot,
        WeaknessKind::RunsAsRoot,
        WeaknessKind::ExtraCapabilities,
        WeaknessKind::SecretInEnv,
        WeaknessKind::SecretInImage,
        WeaknessKind::UnneededTool,
        WeaknessKind::UnverifiedScript,
    ] {
        let id_was = inspect(&tenant, "{{.Id}}");
        let (done, took) = d.mitigate(fix("tenant-b", weakness));
        assert!(done.ok, "{weakness}: {}", done.detail);
        assert_eq!(
            done.detail,
            format!("tenant-b recreated without \"{weakness}\"; a fresh audit no longer finds it")
        );
        eprintln!(
            "figure: {weakness:?} fix (recreate) {} ms",
            took.as_millis()
        );
        last_fix_at = done.t_ms;
        left.remove(&weakness);
        assert_eq!(d.found("tenant-b"), left, "after fixing {weakness}");
        assert_fixed_in_container(&tenant, weakness);
        assert_ne!(inspect(&tenant, "{{.Id}}"), id_was, "recreated");
        assert_eq!(addresses(&tenant), tenant_at, "same network, same address");
        assert!(
            inspect(
                &tenant,
                "{{range .NetworkSettings.Networks}}{{.Aliases}}{{end}}"
            )
            .contains("tenant-b"),
            "reachable by its service name"
        );
        assert!(healthy(&tenant), "labd answers after fixing {weakness}");
    }
    assert!(left.is_empty());
    let ended = (d.outputs.iter()).any(|o| {
        matches!(o, LabOutput::Outcome(o) if o.effect == hog && !o.ok && o.cause == Some(Cause::Fixed {
            service: "tenant-b".into(),
            weakness: WeaknessKind::WritableRoot,
        }))
    });
    assert!(ended, "the hog ended by the fix of the writable root");

    // Without root (an accepted risk "fixed"), the container runs and answers its health, but
    // labd saw at start what it lacks, said so, and refuses tenant-b's own job.
    let refused = backup(&tenant);
    let said = String::from_utf8_lossy(&refused.stdout);
    assert!(!refused.status.success(), "{refused:?}");
    assert!(
        said.starts_with("503 ")
            && said.contains(r#""reason":"degraded""#)
            && said.contains(r#""need":"root""#),
        "{said}"
    );
    let logs = docker_out(&["logs", &tenant]);
    let degraded = logs.lines().find(|l| l.contains(r#""event":"degraded""#));
    assert!(
        degraded.is_some_and(|l| l.contains("runs as uid 10001")),
        "{logs}"
    );

    // A second fix of a kind already fixed has nothing to do.
    for weakness in [WeaknessKind::NoLimits, WeaknessKind::RunsAsRoot] {
        let (again, _) = d.mitigate(fix("tenant-b", weakness));
        assert!(!again.ok);
        assert_eq!(
            again.detail,
            format!("tenant-b has no \"{weakness}\" to fix")
        );
    }

    // The gateway's labd holds the trainee's block in memory: its successor holds it too.
    let source = "198.51.100.77";
    let block = Mitigation::Block {
        source: source.into(),
    };
    assert!(d.mitigate(block).0.ok);
    let (done, took) = d.mitigate(fix("gateway", WeaknessKind::WritableRoot));
    assert!(done.ok, "{}", done.detail);
    eprintln!(
        "figure: gateway WritableRoot fix (recreate, 3 networks) {} ms",
        took.as_millis()
    );
    let gateway_fixed_at = done.t_ms;
    assert_eq!(gateway_blocks(&gateway), vec![source.to_string()]);
    assert_eq!(addresses(&gateway), gateway_at);
    assert!(d.found("gateway").is_empty());

    // A factory password: found by asking web, rotated in place (same container), and still
    // rotated after a fix recreates web from a spec whose environment has the old one.
    let mut on_web = BTreeSet::from([
        WeaknessKind::RunsAsRoot,
        WeaknessKind::DefaultPassword,
        WeaknessKind::ExposedManagement,
    ]);
    assert_eq!(d.found("web"), on_web);
    let alice = login(&web, "alice", FACTORY).expect("the factory password logs in");
    let web_id = inspect(&web, "{{.Id}}");
    let (rotated, took) = d.mitigate(fix("web", WeaknessKind::DefaultPassword));
    assert!(rotated.ok, "{}", rotated.detail);
    assert_eq!(
        rotated.detail,
        "rotated the password of alice (1 session(s) ended) at web; a fresh audit no longer finds it"
    );
    eprintln!(
        "figure: DefaultPassword fix (rotate) {} ms",
        took.as_millis()
    );
    assert_eq!(
        inspect(&web, "{{.Id}}"),
        web_id,
        "rotated without a restart"
    );
    assert!(
        login(&web, "alice", FACTORY).is_none(),
        "the factory password no longer logs in"
    );
    assert!(!session_works(&web, &alice), "its session ended");
    on_web.remove(&WeaknessKind::DefaultPassword);
    assert_eq!(d.found("web"), on_web);
    let (done, _) = d.mitigate(fix("web", WeaknessKind::RunsAsRoot));
    assert!(done.ok, "{}", done.detail);
    // A management endpoint left on answers anyone; its fix recreates web without it.
    assert_eq!(status_of(&web, "/debug/vars"), 200);
    let (done, took) = d.mitigate(fix("web", WeaknessKind::ExposedManagement));
    assert!(done.ok, "{}", done.detail);
    eprintln!(
        "figure: ExposedManagement fix (recreate) {} ms",
        took.as_millis()
    );
    assert_fixed_in_container(&web, WeaknessKind::ExposedManagement);
    assert_eq!(status_of(&web, "/debug/vars"), 404);
    assert!(
        login(&web, "alice", FACTORY).is_none(),
        "the recreated web rotated it again"
    );
    assert!(d.found("web").is_empty());
    // Read after the recreation, which took seconds: the log line has arrived by then.
    let rotation = (d.events_after(0)).any(|e| {
        matches!(e, LogEvent::Credential { service, identity, change: CredentialChange::Rotated, .. }
            if service == "web" && identity == "alice")
    });
    assert!(rotation, "the rotation is in web's log");

    // Telemetry goes on from the new containers: the gateway's log lines (a company request
    // through it), tenant-b's metrics, and an exec session in tenant-b seen in Docker's events.
    let request = Action::Request {
        identity: None,
        source: "203.0.113.50".into(),
        endpoint: "/public/catalog".into(),
        via: None,
    };
    d.apply(Origin::Benign, EffectKind::Act(request));
    let exec = Action::Exec {
        service: "tenant-b".into(),
        identity: "ben".into(),
        command: "/labd health".into(),
    };
    let exec = d.apply(attack, EffectKind::Act(exec));
    d.wait(4000);
    assert_eq!(
        d.outcome_of(exec).map(|o| o.ok),
        Some(true),
        "exec in tenant-b"
    );
    assert!(
        d.events_after(gateway_fixed_at)
            .any(|e| e.service() == "gateway"),
        "no log line from the recreated gateway"
    );
    assert!(
        d.events_after(last_fix_at)
            .any(|e| matches!(e, LogEvent::Exec { service, .. } if service == "tenant-b")),
        "no exec event from the recreated tenant-b"
    );
    let metrics = (d.outputs.iter())
        .filter(|o| {
            matches!(o, LabOutput::Observation(Observation {
                t_ms,
                body: ObservationBody::Metrics(m),
            }) if m.service == "tenant-b" && *t_ms > last_fix_at)
        })
        .count();
    assert!(
        metrics >= 3,
        "{metrics} readings of tenant-b after its last fix"
    );

    // No recreation was taken for a fault: nothing restored, no fault reported.
    let restored = (d.events_after(0)).any(|e| {
        matches!(
            e,
            LogEvent::Lifecycle {
                state: LifecycleState::Restored,
                ..
            }
        )
    });
    assert!(!restored, "the lab restored a container a fix replaced");
    // What the trainee saw of the recreations: each container ended and its successor started.
    let seen: Vec<(&str, LifecycleState)> = (d.events_after(0))
        .filter_map(|e| match e {
            LogEvent::Lifecycle { service, state } => Some((service.as_str(), *state)),
            _ => None,
        })
        .filter(|(_, s)| matches!(s, LifecycleState::Died | LifecycleState::Started))
        .collect();
    let recreated = |s| [(s, LifecycleState::Died), (s, LifecycleState::Started)];
    let mut expected = [recreated("tenant-b"); 7].concat();
    expected.extend(recreated("gateway"));
    expected.extend([recreated("web"); 2].concat());
    assert_eq!(seen, expected);
    let faults: Vec<&LabOutput> = (d.outputs.iter())
        .filter(|o| matches!(o, LabOutput::Fault { .. }))
        .collect();
    assert!(faults.is_empty(), "{faults:?}");
    assert!(d.lab.audit().unwrap().is_empty());

    d.lab.shutdown().expect("the lab goes down");
    assert_eq!(leftovers(&session), 0, "{}", docker_out(&["ps", "-a"]));
}
