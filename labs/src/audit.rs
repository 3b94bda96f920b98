//! The posture audit of a running lab: what a reviewer finds by inspecting each company
//! container as Docker reports it (and each web tier's accounts and management endpoint, as
//! the tier reports them), each finding named by the CIS Docker Benchmark (v1.6.0) item it maps
//! to, where one exists. It is the evidence the hardening phase shows the trainee, and a
//! test holds it to exactly what a scenario declares as its weaknesses.
//!
//! The range's own plumbing is not the company's posture and is left out: the containers the
//! range runs for itself (traffic, attacker), and the `LABD_` variables through which every
//! container is handed its role and the run's credentials at start (nothing a trainee could
//! or should change).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use bollard::Docker;
use bollard::models::ContainerInspectResponse;
use bulkhead_engine::format::scenario::{
    DEFAULT_PASSWORDS, Weakness, default_password_evidence, exposed_management_evidence,
    names_a_secret,
};
use bulkhead_engine::format::topology::Topology;
use bulkhead_engine::posture::{Finding as PostureFinding, WeaknessKind};
use serde::Serialize;

use crate::drive::Labd;
use crate::error::LabError;
use crate::layers::LayerFinding;
use crate::spec::RunningLab;

/// What is wrong with a container's configuration.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case", tag = "issue", content = "detail")]
pub enum Issue {
    MemoryUnlimited,
    CpuUnlimited,
    PidsUnlimited,
    /// Capabilities added back (`--cap-add`).
    CapabilitiesAdded(Vec<String>),
    /// Not every capability dropped (no `--cap-drop ALL`).
    CapabilitiesKept,
    Privileged,
    /// A host path mounted in (bind mount or volume source).
    HostPath(String),
    /// The Docker socket (or `DOCKER_HOST`) handed to the container.
    DockerSocket(String),
    /// A namespace shared with the host: `pid`, `ipc`, `uts`, `userns`, `network`.
    HostNamespace(String),
    WritableRoot,
    /// `no-new-privileges` not set: a setuid binary could raise privileges.
    NewPrivileges,
    RunsAsRoot,
    /// A secret in an environment variable: readable by anyone who can inspect the container.
    SecretInEnv(String),
    /// A secret in a file an image layer holds: readable by anyone who can read the image.
    SecretInImage {
        path: String,
        var: String,
    },
    /// An executable an intruder reaches for (`curl`, `nc`, ...) in an image layer.
    UnneededTool {
        path: String,
    },
    /// A script in an image layer that runs code it downloads, unverified.
    UnverifiedScript {
        path: String,
        source: String,
    },
    /// An account of the web tier logs in with a vendor's factory password.
    DefaultPassword {
        identity: String,
    },
    /// The web tier answers a management endpoint to anyone.
    ExposedManagement {
        path: String,
    },
    /// A port published on the host.
    PublishedPort(String),
}

impl Issue {
    /// The CIS Docker Benchmark v1.6.0 item it breaks, where one exists.
    pub fn cis(&self) -> Option<&'static str> {
        Some(match self {
            Issue::MemoryUnlimited => "5.11",
            Issue::CpuUnlimited => "5.12",
            Issue::PidsUnlimited => "5.29",
            Issue::CapabilitiesAdded(_) | Issue::CapabilitiesKept => "5.4",
            Issue::Privileged => "5.5",
            Issue::HostPath(_) => "5.6",
            Issue::DockerSocket(_) => "5.32",
            Issue::HostNamespace(ns) => match ns.as_str() {
                "network" => "5.10",
                "pid" => "5.16",
                "ipc" => "5.17",
                "uts" => "5.21",
                "userns" => "5.31",
                _ => return None,
            },
            Issue::WritableRoot => "5.13",
            Issue::NewPrivileges => "5.26",
            Issue::RunsAsRoot => "4.1",
            Issue::PublishedPort(_) => "5.9",
            Issue::SecretInImage { .. } => "4.10",
            Issue::UnneededTool { .. } => "4.3",
            Issue::UnverifiedScript { .. } => "4.11",
            Issue::SecretInEnv(_)
            | Issue::DefaultPassword { .. }
            | Issue::ExposedManagement { .. } => return None,
        })
    }
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Issue::MemoryUnlimited => write!(f, "no memory limit"),
            Issue::CpuUnlimited => write!(f, "no CPU limit"),
            Issue::PidsUnlimited => write!(f, "no pids limit"),
            Issue::CapabilitiesAdded(caps) => write!(f, "capabilities added: {}", caps.join(", ")),
            Issue::CapabilitiesKept => write!(f, "capabilities not all dropped"),
            Issue::Privileged => write!(f, "runs privileged"),
            Issue::HostPath(path) => write!(f, "host path mounted: {path}"),
            Issue::DockerSocket(what) => write!(f, "Docker socket handed in: {what}"),
            Issue::HostNamespace(ns) => write!(f, "shares the host's {ns} namespace"),
            Issue::WritableRoot => write!(f, "root file system writable"),
            Issue::NewPrivileges => write!(f, "may gain new privileges (no no-new-privileges)"),
            Issue::RunsAsRoot => write!(f, "runs as root"),
            Issue::SecretInEnv(var) => write!(f, "secret in environment variable {var}"),
            Issue::SecretInImage { path, var } => {
                write!(f, "secret {var} in {path}, baked into an image layer")
            }
            Issue::UnverifiedScript { path, source } => write!(
                f,
                "{path} runs code fetched from {source}, unverified (no checksum, no signature)"
            ),
            Issue::UnneededTool { path } => {
                write!(
                    f,
                    "{path} in an image layer: a tool the service does not use"
                )
            }
            Issue::DefaultPassword { identity } => {
                f.write_str(&default_password_evidence(identity))
            }
            Issue::ExposedManagement { path } => f.write_str(&exposed_management_evidence(path)),
            Issue::PublishedPort(port) => write!(f, "port published on the host: {port}"),
        }
    }
}

/// One finding: a service and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Finding {
    pub service: String,
    #[serde(flatten)]
    pub issue: Issue,
}

/// What Docker's inspection of one container shows wrong with it.
pub fn audit_container(service: &str, inspect: &ContainerInspectResponse) -> Vec<Finding> {
    let host = inspect.host_config.clone().unwrap_or_default();
    let config = inspect.config.clone().unwrap_or_default();
    let mut issues = Vec::new();
    if host.memory.unwrap_or(0) <= 0 {
        issues.push(Issue::MemoryUnlimited);
    }
    if host.nano_cpus.unwrap_or(0) <= 0 && host.cpu_quota.unwrap_or(0) <= 0 {
        issues.push(Issue::CpuUnlimited);
    }
    if host.pids_limit.unwrap_or(0) <= 0 {
        issues.push(Issue::PidsUnlimited);
    }
    // Docker keeps the names as given: `NET_RAW` or `CAP_NET_RAW`.
    let added: Vec<String> = (host.cap_add.unwrap_or_default().iter())
        .map(|c| c.to_uppercase().trim_start_matches("CAP_").to_string())
        .collect();
    if !added.is_empty() {
        issues.push(Issue::CapabilitiesAdded(added));
    }
    if !host.cap_drop.unwrap_or_default().iter().any(|c| c == "ALL") {
        issues.push(Issue::CapabilitiesKept);
    }
    if host.privileged == Some(true) {
        issues.push(Issue::Privileged);
    }
    let mounted = (host.binds.unwrap_or_default().into_iter())
        .filter_map(|b| b.split(':').next().map(str::to_string))
        .chain((inspect.mounts.clone().unwrap_or_default().into_iter()).filter_map(|m| m.source))
        .filter(|source| !source.is_empty())
        .collect::<BTreeSet<_>>();
    for source in mounted {
        issues.push(if source.ends_with("docker.sock") {
            Issue::DockerSocket(source)
        } else {
            Issue::HostPath(source)
        });
    }
    for (ns, mode) in [
        ("pid", host.pid_mode.as_deref()),
        ("ipc", host.ipc_mode.as_deref()),
        ("uts", host.uts_mode.as_deref()),
        ("userns", host.userns_mode.as_deref()),
        ("network", host.network_mode.as_deref()),
    ] {
        if mode == Some("host") {
            issues.push(Issue::HostNamespace(ns.to_string()));
        }
    }
    if host.readonly_rootfs != Some(true) {
        issues.push(Issue::WritableRoot);
    }
    let no_new_privileges = (host.security_opt.unwrap_or_default().iter())
        .any(|o| o == "no-new-privileges" || o == "no-new-privileges:true");
    if !no_new_privileges {
        issues.push(Issue::NewPrivileges);
    }
    let user = config.user.unwrap_or_default();
    let uid = user.split(':').next().unwrap_or_default();
    if uid.is_empty() || uid == "0" || uid == "root" {
        issues.push(Issue::RunsAsRoot);
    }
    for var in config.env.unwrap_or_default() {
        let name = var.split('=').next().unwrap_or_default();
        if name == "DOCKER_HOST" {
            issues.push(Issue::DockerSocket(var.clone()));
        } else if names_a_secret(name) {
            issues.push(Issue::SecretInEnv(name.to_string()));
        }
    }
    for (port, bindings) in host.port_bindings.unwrap_or_default() {
        if bindings.is_some_and(|b| !b.is_empty()) {
            issues.push(Issue::PublishedPort(port));
        }
    }
    if host.publish_all_ports == Some(true) {
        issues.push(Issue::PublishedPort("all".into()));
    }
    issues
        .into_iter()
        .map(|issue| Finding {
            service: service.to_string(),
            issue,
        })
        .collect()
}

/// Audit every company container of a running lab, in service order.
pub async fn audit(
    docker: &Docker,
    labd: &Labd,
    lab: &RunningLab,
    topology: &Topology,
) -> Result<Vec<Finding>, LabError> {
    let mut findings = Vec::new();
    for service in topology.services.iter().filter(|s| !s.range_only) {
        let Some(container) = lab.containers.get(&service.id) else {
            continue;
        };
        // By name: a fix recreates a container under the same name, with a new id.
        let inspect = docker
            .inspect_container(&container.name, None)
            .await
            .map_err(|e| LabError::docker("inspect container", &container.name, e))?;
        findings.extend(audit_inspected(docker, labd, &service.id, &inspect).await?);
    }
    findings.sort();
    Ok(findings)
}

/// What a container's inspection, its image's layers and (for a web tier) its accounts show
/// wrong with it (`labd`: the path to the lab's labd).
pub async fn audit_inspected(
    docker: &Docker,
    labd: &Labd,
    service: &str,
    inspect: &ContainerInspectResponse,
) -> Result<Vec<Finding>, LabError> {
    let mut findings = audit_container(service, inspect);
    let told = asked_of_the_web_tier(labd, service, inspect).await?;
    findings.extend(told.into_iter().map(|issue| Finding {
        service: service.to_string(),
        issue,
    }));
    if let Some(image) = inspect.image.as_deref() {
        let in_layers = crate::layers::layer_findings(docker, image).await?;
        findings.extend(in_layers.into_iter().map(|found| Finding {
            service: service.to_string(),
            issue: match found {
                LayerFinding::Secret { path, var } => Issue::SecretInImage { path, var },
                LayerFinding::Tool { path } => Issue::UnneededTool { path },
                LayerFinding::Script { path, source } => Issue::UnverifiedScript { path, source },
            },
        }));
    }
    Ok(findings)
}

/// What a web tier's admin API (with the operator's token it was started with) reports wrong:
/// accounts that log in with a vendor's factory password, and a management endpoint left on.
/// Asked of the running service, since it is the service's state: the account table lives in
/// labd's memory, so neither the environment nor the image would tell a rotated password from
/// a factory one. Not a web tier (no admin token): nothing.
pub async fn asked_of_the_web_tier(
    labd: &Labd,
    service: &str,
    inspect: &ContainerInspectResponse,
) -> Result<Vec<Issue>, LabError> {
    let env = (inspect.config.as_ref())
        .and_then(|c| c.env.clone())
        .unwrap_or_default();
    let Some(token) = env
        .iter()
        .find_map(|kv| kv.strip_prefix("LABD_ADMIN_TOKEN="))
    else {
        return Ok(Vec::new());
    };
    let unanswered = |detail: String| LabError::Unanswered {
        service: service.to_string(),
        detail,
    };
    let address = (inspect.network_settings.as_ref())
        .and_then(|n| n.networks.as_ref())
        .and_then(|nets| {
            (nets.values()).find_map(|ep| ep.ip_address.as_deref().and_then(|ip| ip.parse().ok()))
        })
        .ok_or_else(|| unanswered("it has no address on any network".into()))?;
    let mut accounts = (labd
        .password_audit(address, token, &DEFAULT_PASSWORDS)
        .await)
        .map_err(&unanswered)?;
    accounts.sort();
    let endpoints = labd.management(address, token).await.map_err(unanswered)?;
    let factory = (accounts.into_iter()).map(|identity| Issue::DefaultPassword { identity });
    let left_on = (endpoints.into_iter()).map(|path| Issue::ExposedManagement { path });
    Ok(factory.chain(left_on).collect())
}

/// The kind of weakness an issue is, as a scenario declares and a trainee fixes it (`None`: an
/// issue no scenario may set up, such as a privileged container or a host path).
pub fn kind_of(issue: &Issue) -> Option<WeaknessKind> {
    Some(match issue {
        Issue::MemoryUnlimited | Issue::CpuUnlimited | Issue::PidsUnlimited => {
            WeaknessKind::NoLimits
        }
        Issue::CapabilitiesAdded(_) => WeaknessKind::ExtraCapabilities,
        Issue::WritableRoot => WeaknessKind::WritableRoot,
        Issue::RunsAsRoot => WeaknessKind::RunsAsRoot,
        Issue::SecretInEnv(_) => WeaknessKind::SecretInEnv,
        Issue::SecretInImage { .. } => WeaknessKind::SecretInImage,
        Issue::UnneededTool { .. } => WeaknessKind::UnneededTool,
        Issue::UnverifiedScript { .. } => WeaknessKind::UnverifiedScript,
        Issue::DefaultPassword { .. } => WeaknessKind::DefaultPassword,
        Issue::ExposedManagement { .. } => WeaknessKind::ExposedManagement,
        Issue::CapabilitiesKept
        | Issue::Privileged
        | Issue::HostPath(_)
        | Issue::DockerSocket(_)
        | Issue::HostNamespace(_)
        | Issue::NewPrivileges
        | Issue::PublishedPort(_) => return None,
    })
}

/// An audit's findings as the trainee reviews them: grouped by service and kind (a service's
/// three missing limits are one finding, fixed together), each with its CIS items and what the
/// audit saw. An issue of no fixable kind is a breach of the lab's safety, never a finding to
/// fix: it is logged as an error and left out.
pub fn posture(findings: &[Finding]) -> Vec<PostureFinding> {
    let mut grouped: BTreeMap<(String, WeaknessKind), Vec<&Issue>> = BTreeMap::new();
    for f in findings {
        match kind_of(&f.issue) {
            Some(kind) => grouped
                .entry((f.service.clone(), kind))
                .or_default()
                .push(&f.issue),
            None => tracing::error!(
                service = f.service,
                "the lab breaks its own safety: {} (no scenario may set this up)",
                f.issue
            ),
        }
    }
    grouped
        .into_iter()
        .map(|((service, weakness), issues)| {
            let mut cis: Vec<String> = Vec::new();
            for c in issues.iter().filter_map(|i| i.cis()) {
                if !cis.iter().any(|known| known == c) {
                    cis.push(c.to_string());
                }
            }
            let evidence: Vec<String> = issues.iter().map(|i| i.to_string()).collect();
            PostureFinding {
                service,
                weakness,
                cis,
                evidence: evidence.join("; "),
            }
        })
        .collect()
}

/// What an audit of a lab finds when it plays these weaknesses: no more, no less.
pub fn expected(weaknesses: &[Weakness]) -> Vec<Finding> {
    let mut findings: Vec<Finding> = weaknesses
        .iter()
        .flat_map(|w| {
            let issues = match w {
                Weakness::NoLimits { .. } => vec![
                    Issue::MemoryUnlimited,
                    Issue::CpuUnlimited,
                    Issue::PidsUnlimited,
                ],
                Weakness::WritableRoot { .. } => vec![Issue::WritableRoot],
                Weakness::RunsAsRoot { .. } => vec![Issue::RunsAsRoot],
                Weakness::ExtraCapabilities { caps, .. } => {
                    vec![Issue::CapabilitiesAdded(caps.clone())]
                }
                Weakness::SecretInEnv { var, .. } => vec![Issue::SecretInEnv(var.clone())],
                Weakness::SecretInImage { path, var, .. } => vec![Issue::SecretInImage {
                    path: path.clone(),
                    var: var.clone(),
                }],
                Weakness::UnneededTool { path, .. } => {
                    vec![Issue::UnneededTool { path: path.clone() }]
                }
                Weakness::UnverifiedScript { path, source, .. } => {
                    vec![Issue::UnverifiedScript {
                        path: path.clone(),
                        source: source.clone(),
                    }]
                }
                Weakness::DefaultPassword { identity, .. } => vec![Issue::DefaultPassword {
                    identity: identity.clone(),
                }],
                Weakness::ExposedManagement { path, .. } => {
                    vec![Issue::ExposedManagement { path: path.clone() }]
                }
            };
            issues.into_iter().map(|issue| Finding {
                service: w.service().to_string(),
                issue,
            })
        })
        .collect();
    findings.sort();
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{ContainerConfig, HostConfig, MountPoint, PortBinding};
    use std::collections::HashMap;

    /// A container as the lab makes one: nothing to find.
    fn hardened() -> ContainerInspectResponse {
        ContainerInspectResponse {
            host_config: Some(crate::lab_up::hardened_host_config(
                "bh-1-app",
                Some(&bulkhead_engine::format::topology::Limits {
                    cpu_cores: 0.5,
                    memory_mib: 64,
                    pids: 64,
                }),
            )),
            config: Some(ContainerConfig {
                user: Some(crate::image::LAB_USER.into()),
                env: Some(vec!["LABD_ADMIN_TOKEN=plumbing".into(), "PATH=/".into()]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn issues(inspect: &ContainerInspectResponse) -> Vec<Issue> {
        audit_container("web", inspect)
            .into_iter()
            .map(|f| f.issue)
            .collect()
    }

    fn with_host(f: impl FnOnce(&mut HostConfig)) -> ContainerInspectResponse {
        let mut inspect = hardened();
        f(inspect.host_config.as_mut().unwrap());
        inspect
    }

    #[test]
    fn the_lab_s_own_hardening_has_nothing_to_find() {
        assert_eq!(issues(&hardened()), vec![]);
    }

    #[test]
    fn each_weakness_is_found_and_named_by_its_cis_item() {
        let cases: Vec<(ContainerInspectResponse, Issue, Option<&str>)> = vec![
            (
                with_host(|h| h.memory = None),
                Issue::MemoryUnlimited,
                Some("5.11"),
            ),
            (
                with_host(|h| h.nano_cpus = Some(0)),
                Issue::CpuUnlimited,
                Some("5.12"),
            ),
            (
                with_host(|h| h.pids_limit = Some(-1)),
                Issue::PidsUnlimited,
                Some("5.29"),
            ),
            (
                with_host(|h| h.cap_add = Some(vec!["NET_ADMIN".into()])),
                Issue::CapabilitiesAdded(vec!["NET_ADMIN".into()]),
                Some("5.4"),
            ),
            (
                with_host(|h| h.cap_drop = None),
                Issue::CapabilitiesKept,
                Some("5.4"),
            ),
            (
                with_host(|h| h.privileged = Some(true)),
                Issue::Privileged,
                Some("5.5"),
            ),
            (
                with_host(|h| h.binds = Some(vec!["/etc:/host-etc:ro".into()])),
                Issue::HostPath("/etc".into()),
                Some("5.6"),
            ),
            (
                with_host(|h| h.pid_mode = Some("host".into())),
                Issue::HostNamespace("pid".into()),
                Some("5.16"),
            ),
            (
                with_host(|h| h.readonly_rootfs = Some(false)),
                Issue::WritableRoot,
                Some("5.13"),
            ),
            (
                with_host(|h| h.security_opt = None),
                Issue::NewPrivileges,
                Some("5.26"),
            ),
            (
                with_host(|h| {
                    h.port_bindings = Some(HashMap::from([(
                        "8080/tcp".into(),
                        Some(vec![PortBinding::default()]),
                    )]))
                }),
                Issue::PublishedPort("8080/tcp".into()),
                Some("5.9"),
            ),
        ];
        for (inspect, issue, cis) in cases {
            assert_eq!(issues(&inspect), vec![issue.clone()], "{issue}");
            assert_eq!(issue.cis(), cis, "{issue}");
        }
    }

    #[test]
    fn root_a_docker_socket_and_a_secret_in_the_environment_are_found() {
        let mut inspect = hardened();
        inspect.mounts = Some(vec![MountPoint {
            source: Some("/var/run/docker.sock".into()),
            ..Default::default()
        }]);
        let config = inspect.config.as_mut().unwrap();
        config.user = Some("0:0".into());
        config.env = Some(vec![
            "DB_PASSWORD=hunter2".into(),
            "LABD_CREDENTIALS=[]".into(),
            "GREETING=hello".into(),
        ]);
        assert_eq!(
            issues(&inspect),
            vec![
                Issue::DockerSocket("/var/run/docker.sock".into()),
                Issue::RunsAsRoot,
                Issue::SecretInEnv("DB_PASSWORD".into()),
            ]
        );
        assert_eq!(Issue::DockerSocket(String::new()).cis(), Some("5.32"));
        assert_eq!(Issue::RunsAsRoot.cis(), Some("4.1"));
    }

    #[test]
    fn a_declared_weakness_expects_exactly_its_findings() {
        let expected = expected(&[Weakness::NoLimits {
            service: "tenant-a".into(),
        }]);
        let issues: Vec<&Issue> = expected.iter().map(|f| &f.issue).collect();
        assert_eq!(
            issues,
            vec![
                &Issue::MemoryUnlimited,
                &Issue::CpuUnlimited,
                &Issue::PidsUnlimited
            ]
        );
        assert!(expected.iter().all(|f| f.service == "tenant-a"));
    }
}
