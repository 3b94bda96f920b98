//! Lateral movement in a real lab: a pivot is labd's `POST /pivot` run inside the origin
//! container (`docker exec … labd ctl /pivot`), directly or through the firewall the topology
//! puts between the zones (`bulkhead_engine::reach`); its report becomes an outcome whose cause
//! reads the way the engine's simulated lab names it (`engine/src/sim/movement.rs`).

use bollard::Docker;
use bulkhead_engine::Cause;
use bulkhead_engine::reach::Way;
use serde::Deserialize;
use serde_json::json;

use crate::drive;
use crate::spec::SERVICE_PORT;

/// The trace of the driver's own probes (a segmentation checked by trying the route): no
/// effect has it (sessions number effects from 1), and the driver keeps what it causes (the
/// crossing, the target's request) away from the detector.
pub const PROBE_TRACE: u64 = 0;

/// What labd's pivot reported (PROTOCOL.md, "Pivots").
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PivotReport {
    pub ok: bool,
    #[serde(default)]
    pub status: u16,
    #[serde(default)]
    pub cause: Option<String>,
    #[serde(default)]
    pub detail: String,
}

/// `labd ctl` prints `<status> <body>`; the body is the report.
pub fn parse_report(output: &str) -> Result<PivotReport, String> {
    let body = output
        .trim()
        .split_once(' ')
        .map_or(output.trim(), |(_, body)| body);
    serde_json::from_str(body).map_err(|e| format!("unreadable pivot report ({e}): {output}"))
}

/// One connection attempt from inside a container: to `to` (a service id or an address) on
/// `port`, asking for `path`, through the firewall `via` or directly; with `bytes` > 0 a `POST`
/// of that many bytes (an exfiltration).
#[derive(Debug, Clone, Copy)]
pub struct Attempt<'a> {
    pub to: &'a str,
    pub port: u16,
    pub path: &'a str,
    pub via: Option<&'a str>,
    pub bytes: u32,
    pub trace: u64,
}

impl<'a> Attempt<'a> {
    /// A `GET` of `path` on a service's API port.
    pub fn get(to: &'a str, path: &'a str, via: Option<&'a str>, trace: u64) -> Self {
        Attempt {
            to,
            port: SERVICE_PORT,
            path,
            via,
            bytes: 0,
            trace,
        }
    }
}

/// Run one attempt inside `container` (labd's `POST /pivot`).
pub async fn pivot(
    docker: &Docker,
    container: &str,
    attempt: &Attempt<'_>,
    on_created: impl FnOnce(&str),
) -> Result<PivotReport, String> {
    let body = json!({
        "to": format!("{}:{}", attempt.to, attempt.port),
        "path": attempt.path,
        "via": attempt.via.map(|v| format!("{v}:{SERVICE_PORT}")),
        "trace": attempt.trace,
        "bytes": attempt.bytes,
    });
    let output = drive::job(docker, container, "/pivot", &body, on_created).await?;
    parse_report(&output)
}

/// The firewall to ask, when the way goes through one. Where the networks do not connect the
/// pivot goes straight for the target, and the network refuses it.
pub fn via<'a>(way: &Way<'a>) -> Option<&'a str> {
    match way {
        Way::Firewall { via, .. } => Some(via.id.as_str()),
        Way::Direct { .. } | Way::Unreachable => None,
    }
}

/// Why a pivot that did not arrive failed, named as the simulated lab names it: the firewall's
/// own refusal first, then the first service on the way the lab knows to be down (the origin,
/// the firewall, the target), then the network's design.
pub fn cause_of(
    word: Option<&str>,
    way: &Way<'_>,
    from: &str,
    to: &str,
    down: impl Fn(&str) -> Option<Cause>,
) -> Cause {
    match (word, way) {
        (
            Some("segmented"),
            Way::Firewall {
                from_zone, to_zone, ..
            },
        ) => {
            return Cause::Segmented {
                from_zone: from_zone.to_string(),
                to_zone: to_zone.to_string(),
            };
        }
        (Some("no_route"), _) => return Cause::NoRoute,
        // The origin or the target could not do its work: what the fix that took its need
        // is named for.
        (Some(word), _) if word.starts_with("degraded:") => {
            return crate::telemetry::cause_of_word(word, None, None).unwrap_or(Cause::Lab);
        }
        _ => {}
    }
    if let Some(cause) = down(from) {
        return cause;
    }
    match way {
        Way::Unreachable => Cause::NoRoute,
        Way::Direct { .. } => down(to).unwrap_or(Cause::Lab),
        Way::Firewall { via, .. } => down(&via.id).or_else(|| down(to)).unwrap_or(Cause::Lab),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bulkhead_engine::format::topology::{Criticality, Limits, Role, Service};

    fn firewall() -> Service {
        Service {
            id: "fw".into(),
            title: "fw".into(),
            role: Role::Firewall,
            zones: vec!["jobs".into(), "data".into()],
            limits: Limits {
                cpu_cores: 0.5,
                memory_mib: 64,
                pids: 64,
            },
            criticality: Criticality::High,
            owner: "o".into(),
            tags: vec![],
            range_only: false,
            upstream: None,
        }
    }

    #[test]
    fn labd_ctl_output_reads_as_a_report() {
        let out = r#"200 {"ok":false,"status":403,"cause":"segmented","detail":"refused","via":"firewall"}"#;
        let report = parse_report(out).unwrap();
        assert!(!report.ok);
        assert_eq!(report.cause.as_deref(), Some("segmented"));
        assert!(parse_report("200 not json").is_err());
    }

    #[test]
    fn causes_are_named_as_the_simulated_lab_names_them() {
        let fw = firewall();
        let through = Way::Firewall {
            via: &fw,
            from_zone: "jobs",
            to_zone: "data",
            route: None,
        };
        let up = |_: &str| None;
        let isolated = |who: &'static str| {
            move |s: &str| {
                (s == who).then(|| Cause::Isolated {
                    service: s.to_string(),
                })
            }
        };
        assert_eq!(
            cause_of(Some("segmented"), &through, "w", "db", up),
            Cause::Segmented {
                from_zone: "jobs".into(),
                to_zone: "data".into()
            }
        );
        assert_eq!(
            cause_of(Some("no_route"), &through, "w", "db", up),
            Cause::NoRoute
        );
        for who in ["w", "fw", "db"] {
            assert_eq!(
                cause_of(Some("unreachable"), &through, "w", "db", isolated(who)),
                Cause::Isolated {
                    service: who.into()
                }
            );
        }
        // Where the networks do not connect, a down target is not why: nothing led there.
        assert_eq!(
            cause_of(
                Some("unresolved"),
                &Way::Unreachable,
                "w",
                "db",
                isolated("db")
            ),
            Cause::NoRoute
        );
        assert_eq!(
            cause_of(Some("timeout"), &Way::Direct { zone: "jobs" }, "w", "x", up),
            Cause::Lab
        );
    }
}
