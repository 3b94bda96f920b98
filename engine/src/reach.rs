//! How code running in one service reaches another: over a zone both sit in, through the
//! firewall between their zones, or not at all. The one definition the simulated lab, the
//! Docker driver (which tells labd which way to go) and the validator share.

use crate::action::Cause;
use crate::format::topology::{Role, Route, Service, Topology};

/// The way from one service to another.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Way<'a> {
    /// Both sit in `zone`: a direct connection that crosses no boundary and no firewall sees.
    Direct { zone: &'a str },
    /// Through the firewall `via`, from `from_zone` into `to_zone`. `route` is the declared
    /// route the firewall will apply, `None` when the firewall joins both zones but no route
    /// allows the crossing (it refuses, and logs the attempt).
    Firewall {
        via: &'a Service,
        from_zone: &'a str,
        to_zone: &'a str,
        route: Option<&'a Route>,
    },
    /// No zone in common and no firewall between them: the networks do not connect.
    Unreachable,
}

/// The way from `from` to `to`, chosen the same way every time: a shared zone first; else a
/// declared route (in declaration order) between a zone of each; else any firewall that
/// joins a zone of each (zones in the services' order).
pub fn way<'a>(topology: &'a Topology, from: &Service, to: &Service) -> Way<'a> {
    way_where(topology, from, to, |_, _| true)
}

/// The way as [`way`] finds it over the networks services are still `attached` to (a service
/// the trainee detached from a zone has no network there): code inside a container can only
/// use the networks it has, so both backends choose the way through this one function.
pub fn way_where<'a>(
    topology: &'a Topology,
    from: &Service,
    to: &Service,
    attached: impl Fn(&Service, &str) -> bool,
) -> Way<'a> {
    let has = |s: &Service, zone: &str| s.zones.iter().any(|z| z == zone) && attached(s, zone);
    if let Some(zone) = from.zones.iter().find(|z| has(from, z) && has(to, z)) {
        let zone = topology.zone(zone).map_or("", |z| z.id.as_str());
        return Way::Direct { zone };
    }
    for route in &topology.routes {
        if has(from, &route.from)
            && has(to, &route.to)
            && let Some(via) = topology.service(&route.via)
            && has(via, &route.from)
            && has(via, &route.to)
        {
            return Way::Firewall {
                via,
                from_zone: &route.from,
                to_zone: &route.to,
                route: Some(route),
            };
        }
    }
    for from_zone in from.zones.iter().filter(|z| has(from, z)) {
        for to_zone in to.zones.iter().filter(|z| has(to, z)) {
            let firewall = topology
                .services_with_role(Role::Firewall)
                .find(|f| has(f, from_zone) && has(f, to_zone) && f.id != from.id);
            if let Some(via) = firewall {
                return Way::Firewall {
                    via,
                    from_zone: topology.zone(from_zone).map_or("", |z| z.id.as_str()),
                    to_zone: topology.zone(to_zone).map_or("", |z| z.id.as_str()),
                    route: None,
                };
            }
        }
    }
    Way::Unreachable
}

/// Whether two services that share zones (a tier and the one it forwards to) lost every
/// shared network to a detachment: `Some((service, zone))` names the first zone they share and
/// the one of them detached from it. `None` while any shared zone still joins them, or when
/// they never shared one.
pub fn link_cut<'a>(
    a: &'a Service,
    b: &'a Service,
    attached: impl Fn(&Service, &str) -> bool,
) -> Option<(&'a str, &'a str)> {
    let mut shared = a.zones.iter().filter(|z| b.zones.contains(z));
    let first = shared.clone().next()?;
    if shared.any(|z| attached(a, z) && attached(b, z)) {
        return None;
    }
    let service = if attached(a, first) { b } else { a };
    Some((service.id.as_str(), first.as_str()))
}

/// Why `from` no longer reaches `to` when the declared networks would connect them: the first
/// service on the declared way that was detached from a zone that way needs, and that zone.
/// `None` where nothing is detached on the way (or there never was one).
pub fn detachment_on<'a>(
    topology: &'a Topology,
    from: &'a Service,
    to: &'a Service,
    attached: impl Fn(&Service, &str) -> bool,
) -> Option<(&'a str, &'a str)> {
    let hops: Vec<(&Service, &str)> = match way(topology, from, to) {
        Way::Direct { zone } => vec![(from, zone), (to, zone)],
        Way::Firewall {
            via,
            from_zone,
            to_zone,
            ..
        } => vec![
            (from, from_zone),
            (via, from_zone),
            (via, to_zone),
            (to, to_zone),
        ],
        Way::Unreachable => Vec::new(),
    };
    hops.into_iter()
        .find(|(service, zone)| !attached(service, zone))
        .map(|(service, zone)| (service.id.as_str(), zone))
}

/// The way out of `from` for traffic to an address outside the lab: the first firewall of its
/// zones (its own zones in order), the only thing that sees such an attempt; `None` where no
/// firewall stands in any of its zones (the network refuses, and nobody sees it).
pub fn way_out<'a>(topology: &'a Topology, from: &Service) -> Option<(&'a Service, &'a str)> {
    from.zones.iter().find_map(|zone| {
        topology
            .services_with_role(Role::Firewall)
            .find(|f| f.id != from.id && f.zones.contains(zone))
            .map(|f| (f, topology.zone(zone).map_or("", |z| z.id.as_str())))
    })
}

/// The firewalls that stand between two zones: where a segmentation of the pair is applied.
pub fn firewalls_between<'a>(
    topology: &'a Topology,
    from_zone: &'a str,
    to_zone: &'a str,
) -> impl Iterator<Item = &'a Service> + 'a {
    topology
        .services_with_role(Role::Firewall)
        .filter(move |f| {
            f.zones.iter().any(|z| z == from_zone) && f.zones.iter().any(|z| z == to_zone)
        })
}

/// The services a scan from `from` tries in `zone`: every service of the zone but itself, the
/// range's machinery, the gateway and the firewalls (what connections pass through, not what
/// they look for), in declaration order.
pub fn scan_targets<'a>(topology: &'a Topology, from: &'a str, zone: &'a str) -> Vec<&'a Service> {
    topology
        .services
        .iter()
        .filter(|s| {
            s.id != from
                && !s.range_only
                && !matches!(s.role, Role::Gateway | Role::Firewall)
                && s.zones.iter().any(|z| z == zone)
        })
        .collect()
}

/// How a scan went, worded and judged alike on both backends: `(why it failed, detail)`, the
/// cause `None` when a service answered. It fails for the first failure's cause when none did,
/// and for want of a route when the zone held nothing to try.
pub fn scan_verdict(
    zone: &str,
    tried: usize,
    reached: &[&str],
    first_failure: Option<Cause>,
) -> (Option<Cause>, String) {
    let detail = format!(
        "{} of {tried} services of {zone} answered{}{}",
        reached.len(),
        if reached.is_empty() { "" } else { ": " },
        reached.join(", ")
    );
    let cause = match first_failure {
        Some(cause) if reached.is_empty() => Some(cause),
        _ if tried == 0 => Some(Cause::NoRoute),
        _ => None,
    };
    (cause, detail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::topology::{Criticality, Limits, Zone};

    fn service(id: &str, role: Role, zones: &[&str]) -> Service {
        Service {
            id: id.into(),
            title: id.into(),
            role,
            zones: zones.iter().map(|z| z.to_string()).collect(),
            limits: Limits {
                cpu_cores: 0.5,
                memory_mib: 64,
                pids: 64,
            },
            criticality: Criticality::Low,
            owner: "o".into(),
            tags: vec![],
            range_only: false,
            upstream: None,
        }
    }

    fn topology(routes: Vec<Route>) -> Topology {
        Topology {
            schema_version: 2,
            id: "t".into(),
            title: "t".into(),
            zones: ["a", "b", "c"]
                .iter()
                .map(|z| Zone {
                    id: z.to_string(),
                    title: z.to_string(),
                    outside: false,
                })
                .collect(),
            services: vec![
                service("x", Role::Worker, &["a"]),
                service("y", Role::Datastore, &["b"]),
                service("fw", Role::Firewall, &["a", "b"]),
                service("z", Role::Web, &["c", "b"]),
            ],
            identities: vec![],
            datasets: vec![],
            conditions: vec![],
            rules: vec![],
            routes,
        }
    }

    fn route(endpoints: &[&str]) -> Route {
        Route {
            from: "a".into(),
            to: "b".into(),
            via: "fw".into(),
            endpoints: endpoints.iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn a_shared_zone_is_direct_a_route_goes_through_its_firewall_and_nothing_else_connects() {
        let t = topology(vec![route(&[])]);
        let s = |id| t.service(id).unwrap();
        assert_eq!(way(&t, s("z"), s("y")), Way::Direct { zone: "b" });
        match way(&t, s("x"), s("y")) {
            Way::Firewall {
                via,
                from_zone,
                to_zone,
                route,
            } => {
                assert_eq!((via.id.as_str(), from_zone, to_zone), ("fw", "a", "b"));
                assert!(route.is_some());
            }
            other => panic!("{other:?}"),
        }
        // The way back is not declared: the firewall sits between the zones and refuses.
        assert!(matches!(
            way(&t, s("y"), s("x")),
            Way::Firewall { route: None, .. }
        ));
        let no_routes = topology(vec![]);
        let s = |id| no_routes.service(id).unwrap();
        assert!(matches!(
            way(&no_routes, s("x"), s("y")),
            Way::Firewall { route: None, .. }
        ));
        // c and a share neither a zone nor a firewall.
        let mut lonely = topology(vec![]);
        lonely.services[3].zones = vec!["c".into()];
        let s = |id| lonely.service(id).unwrap();
        assert_eq!(way(&lonely, s("x"), s("z")), Way::Unreachable);
    }

    #[test]
    fn a_route_allows_its_prefixes_on_segment_boundaries_only() {
        let r = route(&["/records"]);
        assert!(r.allows("/records"));
        assert!(r.allows("/records/customers"));
        assert!(!r.allows("/recordsx"));
        assert!(!r.allows("/admin/users"));
        assert!(route(&[]).allows("/anything"));
        assert!(route(&["/"]).allows("/anything"));
        assert!(!r.allows("/records/../admin"));
        assert!(!r.allows("/records/%2E%2e/admin"));
        assert!(r.allows("/records/customers?n=5"));
    }

    #[test]
    fn the_way_out_is_the_first_firewall_of_the_services_zones() {
        let t = topology(vec![]);
        let s = |id| t.service(id).unwrap();
        let (via, zone) = way_out(&t, s("x")).unwrap();
        assert_eq!((via.id.as_str(), zone), ("fw", "a"));
        assert!(
            way_out(&t, s("fw")).is_none(),
            "a firewall is its own way out"
        );
        let mut lonely = topology(vec![]);
        lonely.services[3].zones = vec!["c".into()];
        assert!(way_out(&lonely, lonely.service("z").unwrap()).is_none());
    }

    #[test]
    fn a_scan_tries_every_company_service_of_the_zone_but_its_own() {
        let t = topology(vec![]);
        let ids: Vec<&str> = scan_targets(&t, "fw", "b")
            .iter()
            .map(|s| s.id.as_str())
            .collect();
        assert_eq!(ids, ["y", "z"]);
        assert!(
            scan_targets(&t, "x", "a").is_empty(),
            "firewalls are not scanned"
        );
    }
}
