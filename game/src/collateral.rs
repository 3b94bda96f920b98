//! What a mitigation is expected to cost, in words, derived from the topology and what the
//! analyst knows (criticality, role, who depends on it, asset notes, the change calendar).
//!
//! It only describes: it never says whether the mitigation is right, because that would
//! give the answer away.

use bulkhead_engine::format::scenario::Context;
use bulkhead_engine::format::topology::{Criticality, Role, Service, Topology};
use bulkhead_engine::{EntityRef, Mitigation};

/// What breaks for whom when a service is unavailable, by its role.
fn loss(service: &Service, topology: &Topology) -> String {
    match service.role {
        Role::Gateway => match topology.upstream_of(service) {
            Some(web) if topology.services_with_role(Role::Web).count() > 1 => format!(
                "every request to {} enters through it: that tier goes dark",
                web.id
            ),
            _ => "every customer and employee request enters through it: the whole shop goes dark"
                .into(),
        },
        Role::Web => "every customer request, login and API call to it fails".into(),
        Role::Datastore => {
            let users: Vec<&str> = topology
                .services_with_role(Role::Web)
                .filter(|w| topology.upstream_of(w).is_some_and(|d| d.id == service.id))
                .map(|s| s.id.as_str())
                .collect();
            format!(
                "{} can no longer read or write data: orders and logins fail",
                if users.is_empty() {
                    "nothing".to_string()
                } else {
                    users.join(", ")
                }
            )
        }
        Role::Worker => {
            let owner = topology
                .identity(&service.owner)
                .map_or(service.owner.clone(), |i| {
                    format!("{} ({})", i.name, i.title)
                });
            format!("its batch jobs stop; {owner} will notice")
        }
        Role::Firewall => {
            "every route it carries between zones is cut, the legitimate ones too".into()
        }
        Role::Traffic | Role::Attacker => "range machinery: no company impact".into(),
    }
}

/// Who loses a route: the company services that sit in `from_zone` (they open the
/// connections the route carried).
fn route_users(from_zone: &str, topology: &Topology) -> String {
    let users: Vec<&str> = topology
        .services
        .iter()
        .filter(|s| {
            !s.range_only && s.role != Role::Firewall && s.zones.iter().any(|z| z == from_zone)
        })
        .map(|s| s.id.as_str())
        .collect();
    if users.is_empty() {
        "nothing in it".into()
    } else {
        users.join(", ")
    }
}

/// Who shares `zone` with `id`: what a detachment of `id` from it cuts off. The range's
/// machinery in an outside zone is, to the company, the internet.
fn zone_neighbours(id: &str, zone: &str, topology: &Topology) -> String {
    if topology.zone(zone).is_some_and(|z| z.outside) {
        return "clients on the internet".into();
    }
    let mut neighbours: Vec<&str> = topology
        .services
        .iter()
        .filter(|s| s.id != id && s.zones.iter().any(|z| z == zone))
        .map(|s| {
            if s.range_only {
                "customers and employees"
            } else {
                s.id.as_str()
            }
        })
        .collect();
    neighbours.dedup();
    if neighbours.is_empty() {
        "nothing else in it".into()
    } else {
        neighbours.join(", ")
    }
}

fn criticality(service: &Service) -> &'static str {
    match service.criticality {
        Criticality::High => "high criticality",
        Criticality::Medium => "medium criticality",
        Criticality::Low => "low criticality",
    }
}

/// The expected collateral of a mitigation, one or two short sentences.
pub fn collateral(m: &Mitigation, topology: &Topology, context: &Context) -> String {
    let service = |id: &str| topology.service(id);
    let note = |id: &str| {
        context
            .assets
            .iter()
            .find(|a| a.service == id)
            .map(|a| format!(" Note: {}", a.note))
            .unwrap_or_default()
    };
    let text = match m {
        Mitigation::Fix {
            service: id,
            weakness,
        } => {
            let restart = match service(id) {
                Some(s) if weakness.recreates() => format!(
                    " A few seconds of downtime on {id} ({}); what it held in memory is lost.",
                    criticality(s)
                ),
                _ => String::new(),
            };
            format!("Will {}.{restart}{}", weakness.fix(), note(id))
        }
        Mitigation::Isolate { service: id } => match service(id) {
            Some(s) => format!(
                "Cuts {id} off every network ({}): {}. Its processes keep running for forensics.{}",
                criticality(s),
                loss(s, topology),
                note(id)
            ),
            None => format!("Cuts {id} off every network."),
        },
        Mitigation::Stop { service: id } => match service(id) {
            Some(s) => format!(
                "{id} goes down ({}): {}. Whatever runs in it is lost.{}",
                criticality(s),
                loss(s, topology),
                note(id)
            ),
            None => format!("{id} goes down."),
        },
        Mitigation::Pause { service: id } => match service(id) {
            Some(s) => format!(
                "{id} freezes ({}): {} until you unpause it; nothing is lost.{}",
                criticality(s),
                loss(s, topology),
                note(id)
            ),
            None => format!("{id} freezes until unpaused."),
        },
        Mitigation::Restart { service: id } => match service(id) {
            Some(s) => format!(
                "A few seconds of downtime on {id} ({}); sessions in memory are lost. \
                 Stored credentials and keys survive a restart.",
                criticality(s)
            ),
            None => format!("A few seconds of downtime on {id}."),
        },
        Mitigation::Cap {
            service: id,
            cpu_cores,
            memory_mib,
            pids,
        } => {
            let limits = service(id).map(|s| s.limits);
            let mut parts = Vec::new();
            if let Some(c) = cpu_cores {
                parts.push(format!(
                    "cpu {c} cores{}",
                    limits.map_or(String::new(), |l| format!(" (now {})", l.cpu_cores))
                ));
            }
            if let Some(mem) = memory_mib {
                parts.push(format!(
                    "memory {mem} MiB{}",
                    limits.map_or(String::new(), |l| format!(" (now {})", l.memory_mib))
                ));
            }
            if let Some(p) = pids {
                parts.push(format!("{p} pids"));
            }
            format!(
                "Lowers {id}'s limits to {}: it slows under load and a process over the memory cap is killed. Its neighbours get their share back.",
                parts.join(", ")
            )
        }
        Mitigation::Revoke { identity } => match topology.identity(identity) {
            Some(i) => format!(
                "{} ({}) is logged out everywhere; their password and API keys stop working until reset.{}{}",
                i.name,
                i.title,
                if i.admin {
                    " One of the few administrators."
                } else {
                    ""
                },
                calendar(&EntityRef::Identity(identity.clone()), context)
            ),
            None => format!("{identity} is logged out and their credentials stop working."),
        },
        Mitigation::Block { source } => format!(
            "The gateway refuses everything from {source}. Anyone legitimate behind that address is cut off too.{}",
            calendar(&EntityRef::Source(source.clone()), context)
        ),
        Mitigation::Reconnect { service: id } => {
            format!("Undoes the isolation: {id} rejoins its networks.")
        }
        Mitigation::Unpause { service: id } => format!("Undoes the pause: {id} runs again."),
        Mitigation::Unblock { source } => format!("Undoes the block: {source} may connect again."),
        Mitigation::Segment { from_zone, to_zone } => {
            let allowed: Vec<String> = topology
                .routes
                .iter()
                .filter(|r| r.from == *from_zone && r.to == *to_zone)
                .map(|r| {
                    if r.endpoints.is_empty() {
                        "any path".to_string()
                    } else {
                        r.endpoints.join(", ")
                    }
                })
                .collect();
            format!(
                "The firewall refuses every connection from {from_zone} into {to_zone}: {} lose{} what the route carried ({}). Everything else keeps running.",
                route_users(from_zone, topology),
                if route_users(from_zone, topology).contains(", ") {
                    ""
                } else {
                    "s"
                },
                if allowed.is_empty() {
                    "no route was declared, so nothing legitimate".to_string()
                } else {
                    allowed.join("; ")
                }
            )
        }
        Mitigation::Detach { service: id, zone } => {
            let keeps: Vec<&str> = service(id)
                .map(|s| {
                    s.zones
                        .iter()
                        .filter(|z| *z != zone)
                        .map(String::as_str)
                        .collect()
                })
                .unwrap_or_default();
            format!(
                "Cuts {id} off the {zone} network only: {} can no longer reach it there, nor it them. It keeps {}.{}",
                zone_neighbours(id, zone, topology),
                if keeps.is_empty() {
                    "no other network: this isolates it".to_string()
                } else {
                    keeps.join(", ")
                },
                note(id)
            )
        }
        Mitigation::Attach { service: id, zone } => {
            format!("Undoes the detachment: {id} rejoins the {zone} network.")
        }
        Mitigation::Unsegment { from_zone, to_zone } => {
            format!(
                "Undoes the segmentation: {from_zone} may reach {to_zone} again as its routes allow."
            )
        }
    };
    text.trim().to_string()
}

/// What the change calendar says about an entity, if anything.
fn calendar(entity: &EntityRef, context: &Context) -> String {
    context
        .calendar
        .iter()
        .filter(|c| c.entities.contains(entity))
        .map(|c| format!(" Calendar: {}", c.text))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn loaded() -> bulkhead_engine::Loaded {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        bulkhead_engine::format::load_scenario(
            &root.join("scenarios/stolen-credentials.ron"),
            &root,
        )
        .unwrap()
    }

    #[test]
    fn a_detachment_names_who_is_cut_off_and_what_the_service_keeps() {
        let l = loaded();
        let (t, s) = (&l.topology, &l.scenario.context);
        let detach = |service: &str, zone: &str| {
            let m = Mitigation::Detach {
                service: service.into(),
                zone: zone.into(),
            };
            collateral(&m, t, s)
        };
        let web = detach("web", "data");
        assert!(web.contains("datastore can no longer reach it"), "{web}");
        assert!(web.contains("It keeps app."), "{web}");
        let edge = detach("gateway", "outside");
        assert!(edge.contains("clients on the internet"), "{edge}");
        assert!(edge.contains("It keeps edge, app."), "{edge}");
        let alone = detach("datastore", "data");
        assert!(alone.contains("this isolates it"), "{alone}");
    }

    #[test]
    fn collateral_names_who_pays() {
        let l = loaded();
        let (t, s) = (&l.topology, &l.scenario.context);
        let stop_web = collateral(
            &Mitigation::Stop {
                service: "web".into(),
            },
            t,
            s,
        );
        assert!(stop_web.contains("every customer request"), "{stop_web}");
        assert!(stop_web.contains("high criticality"));
        let db = collateral(
            &Mitigation::Isolate {
                service: "datastore".into(),
            },
            t,
            s,
        );
        assert!(db.contains("web can no longer read"), "{db}");
        let worker = collateral(
            &Mitigation::Pause {
                service: "tenant-a".into(),
            },
            t,
            s,
        );
        assert!(worker.contains("Ivan Petrov"), "{worker}");
        let carol = collateral(
            &Mitigation::Block {
                source: "192.0.2.44".into(),
            },
            t,
            s,
        );
        assert!(carol.contains("Lisbon"), "{carol}");
        let admin = collateral(
            &Mitigation::Revoke {
                identity: "olivia".into(),
            },
            t,
            s,
        );
        assert!(admin.contains("administrators"), "{admin}");
        let undo = collateral(
            &Mitigation::Unblock {
                source: "1.2.3.4".into(),
            },
            t,
            s,
        );
        assert!(undo.starts_with("Undoes"));
    }
}
