//! The `datastore` role: serves synthetic records per dataset (`GET /records/<dataset>?n=N`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use hyper::body::Bytes;
use hyper::{Method, StatusCode};
use serde_json::json;

use super::{Listeners, Role};
use crate::config::{ConfigError, Env, parse_datasets};
use crate::http::{self, Req, Resp};
use crate::log::Log;
use crate::needs::Degraded;

/// Each record line is padded to about this many bytes, so record counts translate into
/// predictable traffic volumes for the detector.
const RECORD_BYTES: usize = 100;
/// When the caller does not say how many records it wants.
const DEFAULT_RECORDS: u64 = 10;

#[derive(Debug, Clone)]
pub struct DatastoreConfig {
    pub datasets: BTreeMap<String, u64>,
}

impl DatastoreConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let text = Env::require(&env.datasets, "LABD_DATASETS", "datastore")?;
        Ok(Self {
            datasets: parse_datasets(&text)?,
        })
    }
}

struct Datastore {
    cfg: DatastoreConfig,
    log: Log,
    /// Set, it serves no records: it cannot keep its journal (or whatever else it lacks).
    degraded: Option<Degraded>,
}

pub async fn run(cfg: DatastoreConfig, log: Log, listeners: Listeners) {
    let me = Arc::new(Datastore {
        cfg,
        log: log.clone(),
        degraded: listeners.refusing_work(),
    });
    let service = move |req: Req| {
        let me = me.clone();
        async move { me.handle(&req) }
    };
    let control = |req: Req| async move { super::healthz(&req).unwrap_or_else(http::not_found) };
    super::serve_both(Role::Datastore, &log, listeners, service, control).await;
}

impl Datastore {
    fn handle(&self, req: &Req) -> Resp {
        let Some(dataset) = req.path.strip_prefix("/records/") else {
            return super::healthz(req).unwrap_or_else(http::not_found);
        };
        if let Some(d) = &self.degraded {
            return d.refusal();
        }
        if req.method != Method::GET {
            return http::error(StatusCode::METHOD_NOT_ALLOWED, "use GET");
        }
        let dataset = http::percent_decode(dataset);
        let Some(&size) = self.cfg.datasets.get(&dataset) else {
            return http::error(StatusCode::NOT_FOUND, &format!("no dataset {dataset:?}"));
        };
        let wanted = match req.query_param("n") {
            None => DEFAULT_RECORDS,
            Some(n) => match n.parse::<u64>() {
                Ok(n) => n,
                Err(_) => {
                    return http::error(
                        StatusCode::BAD_REQUEST,
                        "n must be a non-negative integer",
                    );
                }
            },
        };
        // A dataset cannot yield more records than it holds; this also bounds the answer.
        let n = wanted.min(size);
        self.log.emit(
            "query",
            req.trace(),
            json!({ "dataset": dataset, "records": n }),
        );
        let mut body = String::with_capacity(usize::try_from(n).unwrap_or(0) * (RECORD_BYTES + 1));
        for id in 1..=n {
            body.push_str(&record(&dataset, id));
            body.push('\n');
        }
        let mut resp = http::raw_json(StatusCode::OK, Bytes::from(body));
        resp.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("application/x-ndjson"),
        );
        resp
    }
}

/// One synthetic record as a JSON line of about [`RECORD_BYTES`] bytes; the same
/// (dataset, id) always gives the same record.
pub fn record(dataset: &str, id: u64) -> String {
    let seed = dataset.bytes().fold(0u64, |acc, b| mix(acc ^ u64::from(b)));
    let h = mix(id ^ seed);
    let mut line = String::with_capacity(RECORD_BYTES + 16);
    let _ = write!(
        line,
        "{{\"id\":{id},\"dataset\":{},\"customer\":\"c-{:05}\",\"amount_cents\":{},\"note\":\"",
        serde_json::Value::from(dataset),
        h % 100_000,
        (h >> 20) % 1_000_000
    );
    let closing = "\"}";
    while line.len() + closing.len() < RECORD_BYTES {
        line.push('x');
    }
    line.push_str(closing);
    line
}

/// splitmix64's finaliser: cheap, well-spread pseudo-random values from an id.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_valid_json_of_about_100_bytes_and_stable() {
        for id in [1, 42, 99_999] {
            let r = record("orders", id);
            let v: serde_json::Value = serde_json::from_str(&r).unwrap();
            assert_eq!(v["id"], id);
            assert_eq!(v["dataset"], "orders");
            assert!((95..=110).contains(&r.len()), "{} bytes", r.len());
            assert_eq!(r, record("orders", id));
        }
        assert_ne!(record("orders", 1), record("payroll", 1));
    }

    #[test]
    fn odd_dataset_names_stay_valid_json() {
        let r = record("we\"ird\\name", 3);
        assert!(serde_json::from_str::<serde_json::Value>(&r).is_ok());
    }
}
