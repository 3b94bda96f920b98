//! Configuration from the `LABD_*` environment variables that the driver sets per container.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Deserialize;

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
    pub datasets: Option<String>,
    /// `LABD_METRICS_MS`: report this container's resource use that often (unset: never).
    pub metrics_every: Option<Duration>,
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
            datasets: non_empty("LABD_DATASETS"),
            metrics_every: metrics_every(non_empty("LABD_METRICS_MS"))?,
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
}
