//! Configuration from the `LABD_*` environment variables that the driver sets per container.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use ipnet::Ipv4Net;
use serde::Deserialize;

use crate::needs::{Need, parse_needs};
use crate::zones::{Route, Zones};

pub const DEFAULT_PORT: u16 = 8080;
pub const DEFAULT_CONTROL_PORT: u16 = 7070;

/// A configuration mistake, phrased so the driver's operator can fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Credential {
    pub identity: String,
    pub password: String,
    #[serde(default)]
    pub admin: bool,
}

/// Everything any role may read. Role-specific values are checked by [`Env::require`] and
/// the parsers below, when the role starts.
#[derive(Debug, Clone)]
pub struct Env {
    pub service: String,
    pub port: u16,
    pub control_port: u16,
    pub upstream: Option<String>,
    pub gateway: Option<String>,
    pub credentials: Option<String>,
    pub admin_token: Option<String>,
    /// `LABD_MANAGEMENT` (web): a management endpoint's path, answered to anyone (a weakness).
    pub management: Option<String>,
    pub datasets: Option<String>,
    /// `LABD_ZONES` (firewall): zone id → IPv4 subnet, as JSON.
    pub zones: Option<String>,
    /// `LABD_ROUTES` (firewall): the routes between zones, as JSON.
    pub routes: Option<String>,
    /// `LABD_METRICS_MS`: report this container's resource use that often (unset: never).
    pub metrics_every: Option<Duration>,
    /// `LABD_NEEDS`: what the service needs from its container (`crate::needs`).
    pub needs: Vec<Need>,
    /// `LABD_REQUIRE_NO_NEW_PRIVS=1`: refuse to serve unless the container runs with
    /// no-new-privileges. The range sets it on every lab container, so a Swarm node whose
    /// daemon does not enforce it runs no lab (PROTOCOL.md).
    pub require_no_new_privs: bool,
}

impl Env {
    pub fn from_process() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads through `lookup` so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let non_empty = |k: &str| lookup(k).filter(|v| !v.trim().is_empty());
        Ok(Self {
            service: non_empty("LABD_SERVICE").unwrap_or_else(|| "labd".into()),
            port: port(non_empty("LABD_PORT"), "LABD_PORT", DEFAULT_PORT)?,
            control_port: port(
                non_empty("LABD_CONTROL_PORT"),
                "LABD_CONTROL_PORT",
                DEFAULT_CONTROL_PORT,
            )?,
            upstream: non_empty("LABD_UPSTREAM"),
            gateway: non_empty("LABD_GATEWAY"),
            credentials: non_empty("LABD_CREDENTIALS"),
            admin_token: non_empty("LABD_ADMIN_TOKEN"),
            management: non_empty("LABD_MANAGEMENT"),
            datasets: non_empty("LABD_DATASETS"),
            zones: non_empty("LABD_ZONES"),
            routes: non_empty("LABD_ROUTES"),
            metrics_every: metrics_every(non_empty("LABD_METRICS_MS"))?,
            needs: parse_needs(&non_empty("LABD_NEEDS").unwrap_or_default())
                .map_err(ConfigError)?,
            require_no_new_privs: flag(
                non_empty("LABD_REQUIRE_NO_NEW_PRIVS"),
                "LABD_REQUIRE_NO_NEW_PRIVS",
            )?,
        })
    }

    /// The value of a variable this role cannot run without.
    pub fn require(value: &Option<String>, name: &str, role: &str) -> Result<String, ConfigError> {
        value
            .clone()
            .ok_or_else(|| ConfigError(format!("{name} must be set for role `{role}`")))
    }
}

fn port(value: Option<String>, name: &str, default: u16) -> Result<u16, ConfigError> {
    match value {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| ConfigError(format!("{name}={v:?} is not a port number (1-65535)"))),
    }
}

/// 50 ms to 10 s: faster would cost the container more than it tells; slower is what Docker's
/// stats already give.
fn metrics_every(value: Option<String>) -> Result<Option<Duration>, ConfigError> {
    let Some(v) = value else {
        return Ok(None);
    };
    v.trim()
        .parse::<u64>()
        .ok()
        .filter(|ms| (50..=10_000).contains(ms))
        .map(|ms| Some(Duration::from_millis(ms)))
        .ok_or_else(|| {
            ConfigError(format!(
                "LABD_METRICS_MS={v:?} is not a period in ms (50-10000)"
            ))
        })
}

/// `1` or `0` (unset: `0`).
fn flag(value: Option<String>, name: &str) -> Result<bool, ConfigError> {
    match value.as_deref().map(str::trim) {
        None | Some("0") => Ok(false),
        Some("1") => Ok(true),
        Some(other) => Err(ConfigError(format!("{name}={other:?} is not 0 or 1"))),
    }
}

pub fn parse_credentials(text: &str) -> Result<Vec<Credential>, ConfigError> {
    serde_json::from_str(text).map_err(|e| {
        ConfigError(format!(
            "LABD_CREDENTIALS is not a JSON list of {{\"identity\",\"password\",\"admin\"}}: {e}"
        ))
    })
}

pub fn parse_datasets(text: &str) -> Result<BTreeMap<String, u64>, ConfigError> {
    serde_json::from_str(text).map_err(|e| {
        ConfigError(format!(
            "LABD_DATASETS is not a JSON object of dataset name to record count: {e}"
        ))
    })
}

/// `LABD_ZONES`: `{"tenants": "10.201.3.0/24", ...}`, zone id → IPv4 subnet.
pub fn parse_zones(text: &str) -> Result<Zones, ConfigError> {
    let bad = |why: String| ConfigError(format!("LABD_ZONES {why}"));
    let written: BTreeMap<String, String> = serde_json::from_str(text).map_err(|e| {
        bad(format!(
            "is not a JSON object of zone id to IPv4 subnet (like {{\"data\": \"10.201.4.0/24\"}}): {e}"
        ))
    })?;
    let mut subnets = BTreeMap::new();
    for (zone, cidr) in written {
        let net: Ipv4Net = cidr.trim().parse().map_err(|_| {
            bad(format!(
                "gives zone `{zone}` the subnet {cidr:?}, which is not an IPv4 CIDR like 10.201.4.0/24"
            ))
        })?;
        subnets.insert(zone, net);
    }
    Zones::new(subnets).map_err(bad)
}

/// `LABD_ROUTES`: `[{"from": "tenants", "to": "data", "endpoints": ["/records"]}]`. Which zones
/// they may name is checked against `LABD_ZONES` when the firewall starts.
pub fn parse_routes(text: &str) -> Result<Vec<Route>, ConfigError> {
    serde_json::from_str(text).map_err(|e| {
        ConfigError(format!(
            "LABD_ROUTES is not a JSON list of {{\"from\",\"to\",\"endpoints\"}}: {e}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Result<Env, ConfigError> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Env::from_lookup(move |k| {
            pairs
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn defaults_apply_when_unset() {
        let e = env(&[]).unwrap();
        assert_eq!((e.port, e.control_port), (8080, 7070));
        assert_eq!(e.service, "labd");
        assert!(e.upstream.is_none());
    }

    #[test]
    fn bad_ports_are_named_in_the_error() {
        let err = env(&[("LABD_PORT", "http")]).unwrap_err();
        assert!(err.0.contains("LABD_PORT"), "{err}");
        assert!(env(&[("LABD_CONTROL_PORT", "0")]).is_err());
    }

    #[test]
    fn the_metrics_period_is_off_unless_set_and_bounded() {
        assert_eq!(env(&[]).unwrap().metrics_every, None);
        let e = env(&[("LABD_METRICS_MS", "250")]).unwrap();
        assert_eq!(e.metrics_every, Some(Duration::from_millis(250)));
        for bad in ["0", "5", "60000", "fast"] {
            let err = env(&[("LABD_METRICS_MS", bad)]).unwrap_err();
            assert!(err.0.contains("LABD_METRICS_MS"), "{err}");
        }
    }

    #[test]
    fn credentials_and_datasets_parse() {
        let c = parse_credentials(
            r#"[{"identity":"a","password":"p","admin":true},{"identity":"b","password":"q"}]"#,
        )
        .unwrap();
        assert_eq!(c.len(), 2);
        assert!(c[0].admin && !c[1].admin);
        assert!(parse_credentials("{").is_err());
        let d = parse_datasets(r#"{"orders": 5000}"#).unwrap();
        assert_eq!(d["orders"], 5000);
        assert!(parse_datasets(r#"{"orders": -1}"#).is_err());
    }

    #[test]
    fn zones_and_routes_are_read_from_the_environment() {
        let e = env(&[
            (
                "LABD_ZONES",
                r#"{"tenants":"10.201.3.0/24","data":"10.201.4.0/24"}"#,
            ),
            (
                "LABD_ROUTES",
                r#"[{"from":"tenants","to":"data","endpoints":["/records"]}]"#,
            ),
        ])
        .unwrap();
        let zones = parse_zones(e.zones.as_deref().unwrap()).unwrap();
        assert_eq!(zones.ids().collect::<Vec<_>>(), ["data", "tenants"]);
        assert_eq!(zones.zone_of("10.201.4.9".parse().unwrap()), Some("data"));
        let routes = parse_routes(e.routes.as_deref().unwrap()).unwrap();
        assert_eq!(
            (routes[0].from.as_str(), routes[0].to.as_str()),
            ("tenants", "data")
        );
        assert_eq!(routes[0].endpoints, ["/records"]);
        // `endpoints` may be left out: any path.
        assert!(
            parse_routes(r#"[{"from":"a","to":"b"}]"#).unwrap()[0]
                .endpoints
                .is_empty()
        );
    }

    #[test]
    fn bad_zones_and_routes_say_which_variable_and_what_is_wrong() {
        for (text, says) in [
            ("[]", "JSON object"),
            (r#"{"data": "10.201.4.0/33"}"#, "`data`"),
            (r#"{"data": "fd00::/64"}"#, "IPv4"),
            (r#"{"data": 24}"#, "JSON object"),
            ("{}", "no zone"),
            (r#"{"a": "10.0.0.0/8", "b": "10.9.0.0/16"}"#, "overlapping"),
        ] {
            let err = parse_zones(text).unwrap_err();
            assert!(
                err.0.starts_with("LABD_ZONES") && err.0.contains(says),
                "{text}: {err}"
            );
        }
        for text in [
            "{}",
            r#"[{"from":"a"}]"#,
            r#"[{"from":"a","to":"b","ports":[80]}]"#,
        ] {
            let err = parse_routes(text).unwrap_err();
            assert!(err.0.starts_with("LABD_ROUTES"), "{text}: {err}");
        }
    }
}
