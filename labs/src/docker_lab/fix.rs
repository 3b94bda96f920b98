//! Fixing a weakness of a company service on the Docker lab (`Mitigation::Fix`), as an operator
//! would: its declared limits set in place, or its container recreated under the same name from
//! a corrected spec, then confirmed by a fresh audit of what Docker reports.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, EndpointIpamConfig, EndpointSettings,
    NetworkingConfig,
};
use bollard::query_parameters::StopContainerOptionsBuilder;
use bulkhead_engine::Cause;
use bulkhead_engine::format::scenario::SAFE_CAPABILITIES;
use bulkhead_engine::format::topology::Limits;
use bulkhead_engine::posture::WeaknessKind;

use super::accounts;
use super::recovery::reapply;
use super::{Shared, refresh_address};
use crate::audit::{audit_inspected, kind_of};
use crate::drive::{self, Done};
use crate::image::LAB_USER;
use crate::lab_up::{self, MANAGEMENT_VAR, READY_TIMEOUT, hardened_host_config};
use crate::layers::{self, BakedFile};
use crate::spec::ContainerInfo;
use crate::telemetry;
use bulkhead_engine::format::scenario::names_a_secret;

/// Seconds labd gets to stop on its own before the old container is killed.
const STOP_GRACE_S: i32 = 2;

impl Shared {
    /// Remember a container the lab is about to replace: its `die` is the fix's doing, not a
    /// fault to restore, and its other events no longer describe the service.
    fn retire(&self, id: &str) {
        if let Ok(mut retired) = self.retired.lock() {
            retired.insert(id.to_owned());
        }
    }

    /// Whether the lab replaced this container (see `retire`).
    pub(super) fn retired(&self, id: &str) -> bool {
        self.retired.lock().is_ok_and(|r| r.contains(id))
    }
}

/// Fix `weakness` of `service`: `Ok(what was done)` once a fresh audit of the container no
/// longer finds it, else why not.
pub(super) async fn fix(shared: &Shared, service: &str, weakness: WeaknessKind) -> Done {
    // One at a time, each from the container as the last one left it.
    let _one_at_a_time = shared.fixing.lock().await;
    let name = (shared.container(service).map(str::to_owned))
        .ok_or_else(|| format!("no container {service}"))?;
    let before = inspect(shared, &name).await?;
    if found(shared, service, &before, weakness).await?.is_empty() {
        return Err(format!("{service} has no \"{weakness}\" to fix"));
    }
    refuse_undoing(shared, service, &before, weakness)?;
    let started = Instant::now();
    let done = if weakness == WeaknessKind::DefaultPassword {
        accounts::rotate_factory_passwords(shared, service).await?
    } else if weakness.recreates() {
        recreate(shared, service, &name, &before, weakness).await?
    } else {
        set_limits(shared, service, &name, &before).await?
    };
    tracing::info!(service, %weakness, took_ms = started.elapsed().as_millis() as u64, "fixed");
    let after = inspect(shared, &name).await?;
    match found(shared, service, &after, weakness).await?.as_slice() {
        [] => Ok(format!("{done}; a fresh audit no longer finds it")),
        still => Err(format!(
            "{done}, but a fresh audit still finds: {}",
            still.join("; ")
        )),
    }
}

async fn inspect(shared: &Shared, name: &str) -> Result<ContainerInspectResponse, String> {
    (shared.docker.inspect_container(name, None).await)
        .map_err(|e| format!("cannot inspect {name}: {e}"))
}

/// What the audit (of its inspection and its image's layers) finds of `weakness` in a
/// container, in its words.
async fn found(
    shared: &Shared,
    service: &str,
    inspect: &ContainerInspectResponse,
    weakness: WeaknessKind,
) -> Result<Vec<String>, String> {
    let findings = (audit_inspected(&shared.docker, &shared.labd, service, inspect).await)
        .map_err(|e| format!("cannot audit {service}: {e}"))?;
    Ok((findings.into_iter())
        .filter(|f| kind_of(&f.issue) == Some(weakness))
        .map(|f| f.issue.to_string())
        .collect())
}

/// A fix must not silently undo the trainee's containment: a recreated container runs again,
/// unpaused, on every network of its zones, and limits that can only be set by a restart
/// (`drive::cap`) unpause it. The trainee lifts the containment first.
fn refuse_undoing(
    shared: &Shared,
    service: &str,
    before: &ContainerInspectResponse,
    weakness: WeaknessKind,
) -> Result<(), String> {
    let hop = shared.hop(service);
    let running = before.state.as_ref().and_then(|s| s.running) == Some(true);
    let recreates = weakness.recreates();
    let (state, undo) = if hop.paused {
        ("paused".to_string(), "unpause it")
    } else if !recreates {
        return Ok(());
    } else if hop.stopped {
        ("stopped".to_string(), "restart it")
    } else if !running {
        ("not running".to_string(), "restart it")
    } else if hop.isolated {
        ("isolated".to_string(), "reconnect it")
    } else if let Some(zone) = hop.detached.iter().next() {
        (format!("detached from {zone}"), "attach it again")
    } else {
        return Ok(());
    };
    let why = if recreates {
        "since a fix recreates the container"
    } else {
        "since setting its limits may restart it"
    };
    Err(format!(
        "{service} is {state}: {undo} before fixing it, {why}"
    ))
}

/// `NoLimits`: the topology's declared limits, through the same update as a trainee's cap. A
/// cap the trainee set tighter is kept.
async fn set_limits(
    shared: &Shared,
    service: &str,
    name: &str,
    before: &ContainerInspectResponse,
) -> Done {
    let declared = (shared.topology.service(service).map(|s| s.limits))
        .ok_or_else(|| format!("{service} is not in the topology"))?;
    let (cpu, memory, pids) = tighter(&declared, before);
    let capped = drive::cap(&shared.docker, name, Some(cpu), Some(memory), Some(pids)).await?;
    if capped.contains("restarted") {
        // Its memory was above the limit: the restart ended whatever ran in it.
        let cause = fixed(service, WeaknessKind::NoLimits);
        shared.end_jobs(service, "container restarted under its limits", Some(cause));
    }
    Ok(format!(
        "{service} limited to {cpu} cores, {memory} MiB, {pids} pids"
    ))
}

fn fixed(service: &str, weakness: WeaknessKind) -> Cause {
    Cause::Fixed {
        service: service.to_owned(),
        weakness,
    }
}

/// The declared limits, or the container's own where they are tighter (a trainee's cap).
fn tighter(declared: &Limits, inspect: &ContainerInspectResponse) -> (f32, u32, u32) {
    let host = inspect.host_config.clone().unwrap_or_default();
    let set = |v: Option<i64>| v.filter(|v| *v > 0);
    let cpu = set(host.nano_cpus).map_or(declared.cpu_cores, |n| {
        declared.cpu_cores.min((n as f64 / 1e9) as f32)
    });
    let mib = set(host.memory).map_or(declared.memory_mib, |b| {
        declared
            .memory_mib
            .min(u32::try_from(b / (1024 * 1024)).unwrap_or(u32::MAX))
    });
    let pids = set(host.pids_limit).map_or(declared.pids, |p| {
        declared.pids.min(u32::try_from(p).unwrap_or(u32::MAX))
    });
    (cpu, mib, pids)
}

/// A container spec a fix creates, and the networks it joins after creation.
#[derive(Debug, Clone)]
struct Respec {
    body: ContainerCreateBody,
    /// Network name → endpoint, the home network's (already in `body`) first.
    networks: Vec<(String, EndpointSettings)>,
}

/// The spec of the container `inspect` shows, corrected of `weakness` (`None`: as it was),
/// on `home` first. The host configuration is made afresh by the lab's own hardening: only the
/// limits (a trainee's cap included), a writable root, capabilities of the safe list, the user
/// and the environment carry over, so the new container cannot gain anything the lab never
/// gives. `pin`: ask for the same address on each network (the range maps addresses to
/// services).
fn respec(
    inspect: &ContainerInspectResponse,
    home: &str,
    weakness: Option<WeaknessKind>,
    pin: bool,
) -> Result<Respec, String> {
    let config = inspect.config.clone().unwrap_or_default();
    let old = inspect.host_config.clone().unwrap_or_default();
    let fixing = |kind| weakness == Some(kind);
    let mut host = hardened_host_config(home, None);
    (host.memory, host.memory_swap) = (old.memory, old.memory_swap);
    (host.nano_cpus, host.pids_limit) = (old.nano_cpus, old.pids_limit);
    host.readonly_rootfs =
        Some(old.readonly_rootfs == Some(true) || fixing(WeaknessKind::WritableRoot));
    let safe = (old.cap_add.unwrap_or_default().into_iter())
        .filter(|c| SAFE_CAPABILITIES.contains(&c.to_uppercase().trim_start_matches("CAP_")));
    let caps: Vec<String> = safe.collect();
    host.cap_add = (!fixing(WeaknessKind::ExtraCapabilities) && !caps.is_empty()).then_some(caps);
    let user = config
        .user
        .filter(|u| !u.is_empty() && !fixing(WeaknessKind::RunsAsRoot));
    let env = (config.env.unwrap_or_default().into_iter()).filter(|kv| {
        let name = kv.split('=').next().unwrap_or_default();
        !(fixing(WeaknessKind::SecretInEnv) && names_a_secret(name)
            || fixing(WeaknessKind::ExposedManagement) && name == MANAGEMENT_VAR)
    });
    let networks = endpoints(inspect, home, pin)?;
    Ok(Respec {
        body: ContainerCreateBody {
            image: inspect.image.clone(),
            cmd: config.cmd,
            env: Some(env.collect()),
            user: Some(user.unwrap_or_else(|| LAB_USER.into())),
            hostname: config.hostname,
            labels: config.labels,
            host_config: Some(host),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(HashMap::from([networks[0].clone()])),
            }),
            ..Default::default()
        },
        networks,
    })
}

/// The container's endpoints as it has them (aliases, and the address where `pin`), home
/// first. Docker's own alias (the short container id) is the old container's, so it is left.
fn endpoints(
    inspect: &ContainerInspectResponse,
    home: &str,
    pin: bool,
) -> Result<Vec<(String, EndpointSettings)>, String> {
    let id = inspect.id.clone().unwrap_or_default();
    let attached = (inspect.network_settings.clone())
        .and_then(|n| n.networks)
        .unwrap_or_default();
    let mut networks: Vec<(String, EndpointSettings)> = (attached.into_iter())
        .map(|(network, ep)| {
            let aliases = (ep.aliases.unwrap_or_default().into_iter())
                .filter(|a| !a.is_empty() && !id.starts_with(a.as_str()))
                .collect();
            let address = ep.ip_address.filter(|ip| pin && !ip.is_empty());
            let endpoint = EndpointSettings {
                aliases: Some(aliases),
                ipam_config: address.map(|ip| EndpointIpamConfig {
                    ipv4_address: Some(ip),
                    ..Default::default()
                }),
                ..Default::default()
            };
            (network, endpoint)
        })
        .collect();
    networks.sort_by_key(|(network, _)| (network != home, network.clone()));
    match networks.first() {
        Some((first, _)) if first == home => Ok(networks),
        _ => Err(format!("not attached to its home network {home}")),
    }
}

/// Replace the container: the old one stopped and removed, its successor created under the
/// same name and addresses from the corrected spec, started, and ready.
async fn recreate(
    shared: &Shared,
    service: &str,
    name: &str,
    before: &ContainerInspectResponse,
    weakness: WeaknessKind,
) -> Done {
    let home = home_network(shared, service)?;
    let rebuilt = rebuilt_image(shared, service, name, before, weakness).await?;
    let vetted = |mut spec: Respec| {
        if let Some((image, _)) = &rebuilt {
            spec.body.image = Some(image.clone());
        }
        spec
    };
    let corrected = vetted(respec(before, &home, Some(weakness), true)?);
    retire_and_remove(shared, name, before.id.as_deref().unwrap_or(name)).await?;
    let cause = fixed(service, weakness);
    shared.end_jobs(service, "container recreated by a fix", Some(cause));
    let mut made = start_from(shared, service, name, corrected).await;
    if made.is_err() {
        // Its address may have been taken meanwhile: any address is better than none.
        let unpinned = vetted(respec(before, &home, Some(weakness), false)?);
        made = start_from(shared, service, name, unpinned).await;
    }
    if let Err(why) = made {
        return Err(put_back(shared, service, name, before, &home, &why).await);
    }
    after_start(shared, service).await;
    if let Some((_, left)) = rebuilt
        && let Ok(mut baked) = shared.baked.lock()
    {
        baked.insert(service.to_owned(), left);
    }
    Ok(format!("{service} recreated without \"{weakness}\""))
}

/// For a weakness in the image, the image the successor runs, as a rebuild from the vetted base
/// gives it: the lab image, with a layer of the service's other baked files only (none left:
/// the lab image itself); and those files. `None`: the container keeps its image.
async fn rebuilt_image(
    shared: &Shared,
    service: &str,
    name: &str,
    before: &ContainerInspectResponse,
    weakness: WeaknessKind,
) -> Result<Option<(String, Vec<BakedFile>)>, String> {
    if !weakness.in_image() {
        return Ok(None);
    }
    let baked = (shared.baked.lock().ok())
        .and_then(|b| b.get(service).cloned())
        .unwrap_or_default();
    let left: Vec<BakedFile> = baked.into_iter().filter(|f| f.kind != weakness).collect();
    if left.is_empty() {
        return Ok(Some((shared.lab_image.clone(), left)));
    }
    // A new tag for each rebuild: the old image stays until its container is gone.
    let tag = format!("{}:{name}-{}", layers::REPOSITORY, telemetry::unix_ns_now());
    let labels = (before.config.as_ref())
        .and_then(|c| c.labels.clone())
        .unwrap_or_default();
    layers::build_layer(&shared.docker, &shared.lab_image, &tag, &left, &labels)
        .await
        .map_err(|e| format!("cannot rebuild the image of {service}: {e}"))?;
    Ok(Some((tag, left)))
}

/// After a failed recreation, the service as it was (weakness and all) rather than none.
async fn put_back(
    shared: &Shared,
    service: &str,
    name: &str,
    before: &ContainerInspectResponse,
    home: &str,
    why: &str,
) -> String {
    let back = match respec(before, home, None, false) {
        Ok(back) => start_from(shared, service, name, back).await,
        Err(e) => Err(e),
    };
    after_start(shared, service).await;
    match back {
        Ok(()) => format!("{service} could not be recreated ({why}); it was put back as it was"),
        Err(e) => format!("{service} could not be recreated ({why}) nor put back ({e})"),
    }
}

/// The network of the service's first zone, where it is created.
fn home_network(shared: &Shared, service: &str) -> Result<String, String> {
    let zone = (shared.topology.service(service))
        .and_then(|s| s.zones.first())
        .ok_or_else(|| format!("{service} joins no zone"))?;
    Ok(lab_up::network_name(&shared.lab.session, zone))
}

/// Stop (labd ends on SIGTERM) and remove a container, retired first so that its `die` is
/// known for the fix's doing.
async fn retire_and_remove(shared: &Shared, name: &str, id: &str) -> Result<(), String> {
    shared.retire(id);
    let stop = StopContainerOptionsBuilder::default()
        .t(STOP_GRACE_S)
        .build();
    // A failed stop is not fatal: the forced removal kills it.
    let _ = shared.docker.stop_container(id, Some(stop)).await;
    (crate::lab_down::remove_container(&shared.docker, id, name).await).map_err(|e| e.to_string())
}

/// Create, connect, start, and wait until labd answers; a container that fails on the way is
/// removed, so the name is free for the next try.
async fn start_from(
    shared: &Shared,
    service: &str,
    name: &str,
    spec: Respec,
) -> Result<(), String> {
    let docker = &shared.docker;
    let id = lab_up::create(docker, name, spec.body)
        .await
        .map_err(|e| e.to_string())?;
    let result = async {
        for (network, endpoint) in spec.networks.into_iter().skip(1) {
            lab_up::connect(docker, &id, name, &network, endpoint).await?;
        }
        let inspect = lab_up::start_inspected(docker, &id, name).await?;
        let info = ContainerInfo {
            id: id.clone(),
            name: name.to_owned(),
            service: service.to_owned(),
            addresses: lab_up::addresses(&inspect, &zone_of(shared, service)),
        };
        let one = BTreeMap::from([(service.to_owned(), info)]);
        lab_up::wait_ready(
            docker,
            &shared.labd,
            &shared.lab.session,
            &one,
            READY_TIMEOUT,
        )
        .await
    }
    .await;
    if let Err(e) = result {
        let _ = retire_and_remove(shared, name, &id).await;
        return Err(e.to_string());
    }
    Ok(())
}

/// Network name → zone, for the service's zones.
fn zone_of(shared: &Shared, service: &str) -> HashMap<String, String> {
    let zones = shared.topology.service(service).map(|s| s.zones.clone());
    (zones.unwrap_or_default().into_iter())
        .map(|zone| (lab_up::network_name(&shared.lab.session, &zone), zone))
        .collect()
}

/// The new container is the service now: the driver reaches it at its address, and the
/// mitigations the old labd held in memory (blocks, revocations, segments) hold in it too.
async fn after_start(shared: &Shared, service: &str) {
    refresh_address(shared, service).await;
    // Boxed: applying a mitigation again is itself a mitigation, which may be a fix.
    Box::pin(reapply(shared, service)).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{Issue, audit_container};
    use crate::lab_up::tests::{assert_no_host_access, every_weakness, planned};
    use bollard::models::{ContainerConfig, HostConfig};

    /// An inspection of a container created from `body` on `networks`, as Docker reports one.
    fn inspected(body: &ContainerCreateBody, networks: &[String]) -> ContainerInspectResponse {
        let endpoint = |i: usize| EndpointSettings {
            aliases: Some(vec!["tenant-b".into(), "0123456789ab".into()]),
            ip_address: Some(format!("10.99.{i}.7")),
            ..Default::default()
        };
        ContainerInspectResponse {
            id: Some("0123456789abcdef".into()),
            image: Some("sha256:feed".into()),
            config: Some(ContainerConfig {
                cmd: body.cmd.clone(),
                env: body.env.clone(),
                user: body.user.clone(),
                hostname: body.hostname.clone(),
                labels: body.labels.clone(),
                ..Default::default()
            }),
            host_config: body.host_config.clone(),
            network_settings: Some(bollard::models::NetworkSettings {
                networks: Some(
                    (networks.iter().enumerate())
                        .map(|(i, n)| (n.clone(), endpoint(i)))
                        .collect(),
                ),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// The kinds a container's configuration shows (not those in its image's layers, nor a
    /// web tier's, which only the running service tells).
    fn config_kinds() -> Vec<WeaknessKind> {
        (WeaknessKind::ALL.into_iter())
            .filter(|w| !w.in_image() && !w.told_by_the_service())
            .collect()
    }

    fn kinds(inspect: &ContainerInspectResponse) -> Vec<WeaknessKind> {
        let mut kinds: Vec<WeaknessKind> = (audit_container("tenant-b", inspect).iter())
            .filter_map(|f| kind_of(&f.issue))
            .collect();
        kinds.sort();
        kinds.dedup();
        kinds
    }

    fn names(respec: &Respec) -> Vec<String> {
        respec.networks.iter().map(|(n, _)| n.clone()).collect()
    }

    /// Each recreating fix, from a container with every weakness: that one is gone, the others
    /// stay, everything else is kept, and the spec keeps every hardening of the lab.
    #[test]
    fn a_corrected_spec_removes_only_its_weakness_and_stays_hardened() {
        let (body, networks) =
            planned("stolen-credentials", every_weakness("tenant-b"), "tenant-b");
        let before = inspected(&body, &networks);
        assert_eq!(kinds(&before), config_kinds());
        for weakness in config_kinds().into_iter().filter(|w| w.recreates()) {
            let fixed = respec(&before, &networks[0], Some(weakness), true).unwrap();
            assert_no_host_access(&fixed.body, &names(&fixed), &format!("{weakness}"));
            let after = inspected(&fixed.body, &networks);
            let left: Vec<WeaknessKind> = (config_kinds().into_iter())
                .filter(|w| *w != weakness)
                .collect();
            assert_eq!(kinds(&after), left, "fixing {weakness}");
            assert_eq!(fixed.body.image.as_deref(), Some("sha256:feed"));
            assert_eq!(fixed.body.cmd, body.cmd);
            assert_eq!(fixed.body.labels, body.labels);
            assert_eq!(fixed.body.hostname.as_deref(), Some("tenant-b"));
            let labd = |env: &Option<Vec<String>>| -> Vec<String> {
                (env.iter().flatten())
                    .filter(|e| e.starts_with("LABD_"))
                    .cloned()
                    .collect()
            };
            assert_eq!(labd(&fixed.body.env), labd(&body.env));
            // Same network, same alias (not the old container's id), same address.
            let (home, endpoint) = &fixed.networks[0];
            assert_eq!(home, &networks[0]);
            assert_eq!(endpoint.aliases, Some(vec!["tenant-b".to_string()]));
            let pinned = endpoint
                .ipam_config
                .as_ref()
                .and_then(|c| c.ipv4_address.clone());
            assert_eq!(pinned.as_deref(), Some("10.99.0.7"));
        }
        // As it was: nothing corrected, nothing pinned.
        let back = respec(&before, &networks[0], None, false).unwrap();
        assert_eq!(kinds(&inspected(&back.body, &networks)), config_kinds());
        assert!(back.networks[0].1.ipam_config.is_none());
    }

    /// A container that drifted from the lab's hardening (privileged, a host namespace, a host
    /// path, a capability off the safe list) does not pass any of it on to its successor.
    #[test]
    fn a_corrected_spec_never_carries_host_access_over() {
        let (body, networks) =
            planned("stolen-credentials", every_weakness("tenant-b"), "tenant-b");
        let mut drifted = inspected(&body, &networks);
        drifted.host_config = Some(HostConfig {
            privileged: Some(true),
            pid_mode: Some("host".into()),
            binds: Some(vec!["/var/run/docker.sock:/var/run/docker.sock".into()]),
            cap_add: Some(vec!["SYS_ADMIN".into(), "NET_RAW".into()]),
            cap_drop: None,
            security_opt: None,
            memory: Some(64 << 20),
            ..Default::default()
        });
        let fixed = respec(&drifted, &networks[0], Some(WeaknessKind::RunsAsRoot), true).unwrap();
        assert_no_host_access(&fixed.body, &names(&fixed), "drifted");
        let host = fixed.body.host_config.clone().unwrap();
        assert_eq!(host.cap_add, Some(vec!["NET_RAW".to_string()]));
        assert_eq!(host.memory, Some(64 << 20), "the limits carry over");
        let after = inspected(&fixed.body, &networks);
        assert!(
            !audit_container("tenant-b", &after)
                .iter()
                .any(|f| matches!(f.issue, Issue::Privileged | Issue::HostNamespace(_))),
        );
    }

    #[test]
    fn a_service_detached_from_its_home_network_cannot_be_respecified() {
        let (body, networks) =
            planned("stolen-credentials", every_weakness("tenant-b"), "tenant-b");
        let before = inspected(&body, &networks);
        let err = respec(&before, "elsewhere", Some(WeaknessKind::RunsAsRoot), true).unwrap_err();
        assert!(err.contains("home network elsewhere"), "{err}");
    }

    #[test]
    fn limits_are_the_declared_ones_unless_the_trainee_capped_tighter() {
        let declared = Limits {
            cpu_cores: 0.5,
            memory_mib: 128,
            pids: 64,
        };
        let with = |nano, memory, pids| ContainerInspectResponse {
            host_config: Some(HostConfig {
                nano_cpus: nano,
                memory,
                pids_limit: pids,
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            tighter(&declared, &with(None, Some(0), Some(-1))),
            (0.5, 128, 64)
        );
        let capped = with(Some(250_000_000), Some(32 << 20), None);
        assert_eq!(tighter(&declared, &capped), (0.25, 32, 64));
        let looser = with(Some(2_000_000_000), Some(1 << 30), Some(4096));
        assert_eq!(tighter(&declared, &looser), (0.5, 128, 64));
    }
}
