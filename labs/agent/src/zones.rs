//! Trust zones, the routes between them, and whether one crossing may go through: the
//! firewall's decisions as pure functions, apart from its sockets.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use ipnet::Ipv4Net;
use serde::Deserialize;

/// The zones a firewall sits in, each with its subnet (one Docker network per zone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zones {
    subnets: BTreeMap<String, Ipv4Net>,
}

impl Zones {
    /// Refuses what Docker never hands out, so a mistake in the driver shows at start-up
    /// instead of as a crossing logged in the wrong zone: no zones, empty ids, overlapping
    /// subnets (two networks never share addresses).
    pub fn new(subnets: BTreeMap<String, Ipv4Net>) -> Result<Self, String> {
        if subnets.is_empty() {
            return Err("names no zone".into());
        }
        if subnets.keys().any(|id| id.trim().is_empty()) {
            return Err("has an empty zone id".into());
        }
        let subnets: BTreeMap<String, Ipv4Net> = subnets
            .into_iter()
            .map(|(id, net)| (id, net.trunc()))
            .collect();
        let nets: Vec<(&String, &Ipv4Net)> = subnets.iter().collect();
        for (i, (a, net_a)) in nets.iter().enumerate() {
            // Two CIDR blocks overlap exactly when one holds the other.
            if let Some((b, net_b)) = nets[i + 1..]
                .iter()
                .find(|(_, net_b)| net_a.contains(*net_b) || net_b.contains(*net_a))
            {
                return Err(format!(
                    "has overlapping zones `{a}` ({net_a}) and `{b}` ({net_b})"
                ));
            }
        }
        Ok(Self { subnets })
    }

    pub fn contains(&self, id: &str) -> bool {
        self.subnets.contains_key(id)
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.subnets.keys().map(String::as_str)
    }

    /// The zone whose subnet holds `ip` (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn zone_of(&self, ip: IpAddr) -> Option<&str> {
        let v4 = match ip {
            IpAddr::V4(v4) => v4,
            IpAddr::V6(v6) => v6.to_ipv4_mapped()?,
        };
        self.zone_of_v4(v4)
    }

    fn zone_of_v4(&self, ip: Ipv4Addr) -> Option<&str> {
        self.subnets
            .iter()
            .find(|(_, net)| net.contains(&ip))
            .map(|(id, _)| id.as_str())
    }

    /// The first of `addrs` (in the resolver's order) that lies in one of the zones, and that
    /// zone. A service in several zones resolves to several addresses; the firewall reaches it
    /// through the first it can.
    pub fn first_inside(&self, addrs: &[SocketAddr]) -> Option<(SocketAddr, &str)> {
        addrs.iter().find_map(|addr| match addr.ip() {
            IpAddr::V4(v4) => self.zone_of_v4(v4).map(|zone| (*addr, zone)),
            IpAddr::V6(_) => None,
        })
    }
}

/// Connections `from` one zone may open `to` another, for paths under `endpoints` (any path
/// when empty).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    pub from: String,
    pub to: String,
    #[serde(default)]
    pub endpoints: Vec<String>,
}

impl Route {
    /// Whether `path` is under one of the endpoints, segment by segment: `/records` admits
    /// `/records` and `/records/customers`, not `/recordsets`.
    pub fn admits(&self, path: &str) -> bool {
        if self.endpoints.is_empty() {
            return true;
        }
        // The target may resolve dot segments (`/records/../admin`); a path that has any
        // cannot be judged by its prefix.
        if has_dot_segment(path) {
            return false;
        }
        self.endpoints
            .iter()
            .any(|prefix| under_prefix(path, prefix))
    }
}

fn under_prefix(path: &str, prefix: &str) -> bool {
    match path.strip_prefix(prefix) {
        None => false,
        Some(rest) => rest.is_empty() || rest.starts_with('/') || prefix.ends_with('/'),
    }
}

fn has_dot_segment(path: &str) -> bool {
    path.split('/').any(|segment| {
        let decoded = crate::http::percent_decode(segment);
        decoded == "." || decoded == ".."
    })
}

/// Why a crossing did not go through: the `reason` of the firewall's answer and of its
/// `crossing` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The peer is in none of the firewall's zones.
    UnknownZone,
    /// The target does not resolve to an address in any zone, or did not accept a connection.
    Unreachable,
    /// Peer and target are in the same zone: that is no crossing, they talk directly.
    SameZone,
    /// No route from the peer's zone to the target's admits the path.
    NoRoute,
    /// The pair of zones is segmented (a mitigation), whatever the routes say.
    Segmented,
    /// The target accepted the crossing but did not answer in time.
    Timeout,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnknownZone => "unknown_zone",
            Self::Unreachable => "unreachable",
            Self::SameZone => "same_zone",
            Self::NoRoute => "no_route",
            Self::Segmented => "segmented",
            Self::Timeout => "timeout",
        }
    }
}

/// The zones and the routes between them: everything a crossing is judged by except the
/// segments, which change at run time.
#[derive(Debug, Clone)]
pub struct Policy {
    pub zones: Zones,
    pub routes: Vec<Route>,
}

impl Policy {
    /// Refuses routes that could never apply, which are surely the driver's mistake.
    pub fn new(zones: Zones, routes: Vec<Route>) -> Result<Self, String> {
        for route in &routes {
            for zone in [&route.from, &route.to] {
                if !zones.contains(zone) {
                    let known: Vec<&str> = zones.ids().collect();
                    return Err(format!(
                        "route {} → {} names zone `{zone}`, which is not one of this firewall's \
                         zones ({})",
                        route.from,
                        route.to,
                        known.join(", ")
                    ));
                }
            }
            if route.from == route.to {
                return Err(format!("route {0} → {0} does not cross zones", route.from));
            }
            if let Some(bad) = route.endpoints.iter().find(|e| !e.starts_with('/')) {
                return Err(format!(
                    "route {} → {} has endpoint {bad:?}, which is not a path starting with /",
                    route.from, route.to
                ));
            }
        }
        Ok(Self { zones, routes })
    }

    /// Whether a connection from zone `from` to zone `to` for `path` may go through, when the
    /// pair is `segmented` or not. A segment wins over any route.
    pub fn check(&self, from: &str, to: &str, path: &str, segmented: bool) -> Result<(), Reason> {
        if from == to {
            return Err(Reason::SameZone);
        }
        if segmented {
            return Err(Reason::Segmented);
        }
        let routed = self
            .routes
            .iter()
            .any(|r| r.from == from && r.to == to && r.admits(path));
        if routed { Ok(()) } else { Err(Reason::NoRoute) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zones(pairs: &[(&str, &str)]) -> Result<Zones, String> {
        Zones::new(
            pairs
                .iter()
                .map(|(id, net)| ((*id).to_owned(), net.parse().unwrap()))
                .collect(),
        )
    }

    fn route(from: &str, to: &str, endpoints: &[&str]) -> Route {
        Route {
            from: from.into(),
            to: to.into(),
            endpoints: endpoints.iter().map(|e| (*e).to_owned()).collect(),
        }
    }

    fn policy() -> Policy {
        let z = zones(&[
            ("tenants", "10.201.3.0/24"),
            ("data", "10.201.4.0/24"),
            ("dmz", "10.201.1.0/24"),
        ])
        .unwrap();
        Policy::new(
            z,
            vec![
                route("tenants", "data", &["/records"]),
                route("dmz", "tenants", &[]),
            ],
        )
        .unwrap()
    }

    #[test]
    fn an_address_is_in_the_zone_whose_subnet_holds_it() {
        let z = policy().zones;
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(z.zone_of(ip("10.201.3.7")), Some("tenants"));
        assert_eq!(z.zone_of(ip("10.201.4.255")), Some("data"));
        assert_eq!(z.zone_of(ip("::ffff:10.201.4.9")), Some("data"));
        assert_eq!(z.zone_of(ip("10.201.5.1")), None);
        assert_eq!(z.zone_of(ip("fe80::1")), None);
    }

    #[test]
    fn the_first_address_inside_a_zone_is_the_one_reached() {
        let z = policy().zones;
        let a = |s: &str| s.parse::<SocketAddr>().unwrap();
        let addrs = [
            a("[::1]:80"),
            a("192.0.2.1:80"),
            a("10.201.4.5:80"),
            a("10.201.3.5:80"),
        ];
        assert_eq!(z.first_inside(&addrs), Some((a("10.201.4.5:80"), "data")));
        assert_eq!(z.first_inside(&addrs[..2]), None);
    }

    #[test]
    fn zones_that_docker_could_not_have_made_are_refused() {
        assert!(zones(&[]).is_err());
        assert!(zones(&[(" ", "10.0.0.0/24")]).is_err());
        let overlap = zones(&[("a", "10.0.0.0/8"), ("b", "10.1.0.0/16")]).unwrap_err();
        assert!(
            overlap.contains("`a`") && overlap.contains("`b`"),
            "{overlap}"
        );
        // Host bits are dropped rather than refused: 10.0.0.5/24 is the 10.0.0.0/24 network.
        let z = zones(&[("a", "10.0.0.5/24")]).unwrap();
        assert_eq!(z.zone_of("10.0.0.200".parse().unwrap()), Some("a"));
    }

    #[test]
    fn endpoints_are_prefixes_on_whole_segments() {
        let r = route("a", "b", &["/records", "/api/"]);
        for ok in ["/records", "/records/customers", "/api/x", "/api/"] {
            assert!(r.admits(ok), "{ok}");
        }
        for no in [
            "/recordsets",
            "/",
            "/admin",
            "/api",
            "/records/../admin",
            "/records/%2E%2E/admin",
        ] {
            assert!(!r.admits(no), "{no}");
        }
        assert!(route("a", "b", &[]).admits("/anything/../at/all"));
        assert!(route("a", "b", &["/"]).admits("/admin"));
    }

    #[test]
    fn a_crossing_needs_a_route_for_its_path_and_no_segment() {
        let p = policy();
        assert_eq!(
            p.check("tenants", "data", "/records/customers", false),
            Ok(())
        );
        assert_eq!(
            p.check("tenants", "data", "/admin", false),
            Err(Reason::NoRoute)
        );
        // Routes are directional.
        assert_eq!(
            p.check("data", "tenants", "/records", false),
            Err(Reason::NoRoute)
        );
        assert_eq!(p.check("dmz", "tenants", "/anything", false), Ok(()));
        // A segment wins, with or without a route.
        assert_eq!(
            p.check("tenants", "data", "/records", true),
            Err(Reason::Segmented)
        );
        assert_eq!(
            p.check("tenants", "data", "/admin", true),
            Err(Reason::Segmented)
        );
        assert_eq!(
            p.check("data", "data", "/records", false),
            Err(Reason::SameZone)
        );
    }

    #[test]
    fn routes_that_could_never_apply_are_refused() {
        let z = || policy().zones;
        let unknown = Policy::new(z(), vec![route("tenants", "mars", &[])]).unwrap_err();
        assert!(
            unknown.contains("`mars`") && unknown.contains("tenants"),
            "{unknown}"
        );
        assert!(Policy::new(z(), vec![route("data", "data", &[])]).is_err());
        assert!(Policy::new(z(), vec![route("tenants", "data", &["records"])]).is_err());
    }
}
