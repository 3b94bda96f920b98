//! What a service needs from its container to do its work (`LABD_NEEDS`), checked for real at
//! start: a writable root file system, running as root, a capability, a tool its jobs run. A
//! scenario declares these, as risks the business accepted or as what a fix will cost; once a
//! fix took one away, the recreated container lacks it, and labd serves degraded: its health
//! still answers (the container runs), but its work (requests, its own calls out, its jobs; for
//! a missing tool, only its jobs) is refused with a `503` that says what it lacks
//! (PROTOCOL.md), which the driver scores as the fix's collateral.

use std::fmt;

use hyper::StatusCode;
use serde_json::json;

use crate::http::{self, Resp};

/// Where a service writes its state in place (a journal, a cache): owned by the lab user in
/// the image, so it is writable exactly when the root file system is.
pub const STATE_DIR: &str = "/var/lib/labd";

/// One need, as `LABD_NEEDS` spells it (comma-separated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    /// `writable-root`: writes its state on its root file system.
    WritableRoot,
    /// `root`: runs as uid 0.
    Root,
    /// `cap:NAME`: holds this capability (`cap:NET_BIND_SERVICE`).
    Capability(String),
    /// `tool:/PATH`: a program its jobs run is in the image. Without it only those jobs fail;
    /// the service itself still answers.
    Tool(String),
}

impl Need {
    /// Whether lacking it stops the service's work altogether (else only its jobs).
    pub fn stops_the_service(&self) -> bool {
        !matches!(self, Need::Tool(_))
    }
}

impl fmt::Display for Need {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Need::WritableRoot => f.write_str("writable-root"),
            Need::Root => f.write_str("root"),
            Need::Capability(name) => write!(f, "cap:{name}"),
            Need::Tool(path) => write!(f, "tool:{path}"),
        }
    }
}

/// `LABD_NEEDS`: `writable-root,root,cap:NET_BIND_SERVICE`; an unknown word is an error that
/// names the variable (the configuration wraps it in its own error type).
pub fn parse_needs(text: &str) -> Result<Vec<Need>, String> {
    let bad = |word: &str| {
        format!(
            "LABD_NEEDS: {word:?} is not a need (writable-root, root, cap:NAME with NAME one of the capabilities labd knows, or tool:/ABSOLUTE/PATH)"
        )
    };
    (text.split(',').map(str::trim).filter(|w| !w.is_empty()))
        .map(|word| match word {
            "writable-root" => Ok(Need::WritableRoot),
            "root" => Ok(Need::Root),
            _ if let Some(name) = word.strip_prefix("cap:") => match capability_bit(name) {
                Some(_) => Ok(Need::Capability(name.to_owned())),
                None => Err(bad(word)),
            },
            _ if let Some(path) = word.strip_prefix("tool:") => {
                let plain = path.starts_with('/') && !path.contains(char::is_whitespace);
                if plain && !path.split('/').any(|part| part == "..") {
                    Ok(Need::Tool(path.to_owned()))
                } else {
                    Err(bad(word))
                }
            }
            _ => Err(bad(word)),
        })
        .collect()
}

/// The bit of a capability in `CapEff` (linux/capability.h), for the ones a lab may add (the
/// engine's `SAFE_CAPABILITIES`).
fn capability_bit(name: &str) -> Option<u32> {
    Some(match name {
        "CHOWN" => 0,
        "FOWNER" => 3,
        "KILL" => 5,
        "SETGID" => 6,
        "SETUID" => 7,
        "NET_BIND_SERVICE" => 10,
        "NET_RAW" => 13,
        "AUDIT_WRITE" => 29,
        _ => return None,
    })
}

/// What the container lacks that its service needs: the service cannot do its work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Degraded {
    pub service: String,
    pub need: Need,
    /// What the check saw, for the operator ("read-only file system").
    pub why: String,
}

impl Degraded {
    /// What this process lacks of its needs, checked for real: the first need whose lack
    /// stops the service, else the first lacked at all.
    pub fn check(service: &str, needs: &[Need]) -> Option<Self> {
        if needs.is_empty() {
            return None;
        }
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let lacked: Vec<Self> = (needs.iter())
            .filter_map(|need| {
                let why = match need {
                    Need::WritableRoot => can_write(STATE_DIR).err()?,
                    Need::Root => lacks_root(&status)?,
                    Need::Capability(name) => lacks_capability(&status, name)?,
                    Need::Tool(path) => lacks_tool(path)?,
                };
                Some(Self {
                    service: service.to_owned(),
                    need: need.clone(),
                    why,
                })
            })
            .collect();
        let stopping = lacked.iter().position(|d| d.need.stops_the_service());
        lacked.into_iter().nth(stopping.unwrap_or(0))
    }

    /// Whether the service refuses all its work (else only its jobs, `Need::Tool`).
    pub fn stops_the_service(&self) -> bool {
        self.need.stops_the_service()
    }

    /// The answer to any work asked of this service: `503`, naming it and what it lacks.
    pub fn refusal(&self) -> Resp {
        http::json(StatusCode::SERVICE_UNAVAILABLE, &self.body())
    }

    /// The refusal's JSON: `reason` `degraded`, the `hop` that is, and its `need`.
    pub fn body(&self) -> serde_json::Value {
        json!({
            "error": format!("{} cannot do its work: it needs {} ({})", self.service, self.need, self.why),
            "reason": "degraded",
            "hop": self.service,
            "need": self.need.to_string(),
        })
    }

    /// The cause word a client reports for it (PROTOCOL.md): `degraded:<service>:<need>`.
    pub fn word(&self) -> String {
        format!("degraded:{}:{}", self.service, self.need)
    }
}

/// The cause word for a degraded refusal's JSON body, if the body is one.
pub fn word_of(body: &serde_json::Value) -> Option<String> {
    if body.get("reason")?.as_str()? != "degraded" {
        return None;
    }
    let field = |k: &str| body.get(k).and_then(serde_json::Value::as_str);
    Some(format!("degraded:{}:{}", field("hop")?, field("need")?))
}

/// A degraded refusal's JSON, if these bytes are one (what a forwarder passes on).
pub fn refusal_in(body: &[u8]) -> Option<serde_json::Value> {
    let body: serde_json::Value = serde_json::from_slice(body).ok()?;
    word_of(&body).map(|_| body)
}

/// Creates and removes a file in `dir`: what a service writing its state in place does.
fn can_write(dir: &str) -> Result<(), String> {
    let probe = std::path::Path::new(dir).join(".labd-needs");
    std::fs::write(&probe, b"ok").map_err(|e| format!("cannot write {dir}: {e}"))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

fn lacks_tool(path: &str) -> Option<String> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => None,
        Ok(_) => Some(format!("{path} is not a file")),
        Err(e) => Some(format!("{path}: {e}")),
    }
}

fn lacks_root(status: &str) -> Option<String> {
    let uid = crate::checks::parse_uid(status);
    (uid != Some(0)).then(|| match uid {
        Some(uid) => format!("runs as uid {uid}"),
        None => "cannot read its uid".into(),
    })
}

/// Whether the container was granted the capability: its bounding set (`CapBnd`), which the
/// lab's `cap_drop ALL` empties and `cap_add` fills. Not the effective set: a non-root process
/// starts with none effective, and a real service gets its one capability from a file
/// capability on its binary, which the kernel grants only within the bounding set.
fn lacks_capability(status: &str, name: &str) -> Option<String> {
    let granted = (status.lines())
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok());
    let bit = capability_bit(name)?;
    match granted {
        Some(caps) if caps & (1 << bit) != 0 => None,
        Some(_) => Some(format!("CAP_{name} is not in its bounding set")),
        None => Some("cannot read its capabilities".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_parse_and_print_back() {
        let needs =
            parse_needs("writable-root, root,cap:NET_BIND_SERVICE,tool:/usr/bin/socat,").unwrap();
        assert_eq!(
            needs,
            vec![
                Need::WritableRoot,
                Need::Root,
                Need::Capability("NET_BIND_SERVICE".into()),
                Need::Tool("/usr/bin/socat".into()),
            ]
        );
        let printed: Vec<String> = needs.iter().map(Need::to_string).collect();
        assert_eq!(
            printed.join(","),
            "writable-root,root,cap:NET_BIND_SERVICE,tool:/usr/bin/socat"
        );
        for bad in [
            "rot",
            "cap:",
            "cap:SYS_ADMIN",
            "writable root",
            "tool:",
            "tool:bin/x",
            "tool:/a/../b",
        ] {
            let err = parse_needs(bad).unwrap_err();
            assert!(err.starts_with("LABD_NEEDS") && err.contains(bad), "{err}");
        }
        assert!(parse_needs("").unwrap().is_empty());
    }

    #[test]
    fn root_and_capabilities_are_read_from_the_status() {
        let user = "Uid:\t10001\t10001\t10001\t10001\nCapEff:\t0000000000000000\nCapBnd:\t0000000000000400\n";
        let root = "Uid:\t0\t0\t0\t0\nCapEff:\t0000000000000400\nCapBnd:\t0000000000000000\n";
        assert!(lacks_root(user).is_some_and(|w| w.contains("10001")));
        assert_eq!(lacks_root(root), None);
        assert_eq!(lacks_capability(user, "NET_BIND_SERVICE"), None);
        assert!(lacks_capability(root, "NET_BIND_SERVICE").is_some());
        assert!(lacks_capability(user, "NET_RAW").is_some());
        assert!(lacks_capability("Uid:\t0\n", "NET_RAW").is_some());
    }

    #[test]
    fn a_missing_tool_fails_only_the_jobs_unless_something_stops_the_service() {
        let dir = tempfile::tempdir().unwrap();
        let tool = dir.path().join("socat");
        std::fs::write(&tool, b"#!").unwrap();
        let there = Need::Tool(tool.to_string_lossy().into_owned());
        let gone = Need::Tool(dir.path().join("gone").to_string_lossy().into_owned());
        assert_eq!(Degraded::check("w", std::slice::from_ref(&there)), None);
        let jobs_only = Degraded::check("w", &[there, gone.clone()]).unwrap();
        assert_eq!(jobs_only.need, gone);
        assert!(!jobs_only.stops_the_service());
        // A lack that stops the service wins over one that only fails jobs.
        let missing_dir = Need::WritableRoot;
        if can_write(STATE_DIR).is_err() {
            let both = Degraded::check("w", &[gone, missing_dir.clone()]).unwrap();
            assert_eq!(both.need, missing_dir);
            assert!(both.stops_the_service());
        }
    }

    #[test]
    fn a_state_dir_is_writable_or_says_why_not() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(can_write(dir.path().to_str().unwrap()), Ok(()));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        let missing = dir.path().join("absent");
        let err = can_write(missing.to_str().unwrap()).unwrap_err();
        assert!(err.contains("cannot write"), "{err}");
    }

    #[test]
    fn this_process_is_checked_for_real() {
        // This test's own process: whatever it is, the check agrees with procfs.
        let uid = crate::checks::uid();
        let degraded = Degraded::check("svc", &[Need::Root]);
        assert_eq!(degraded.is_some(), uid != Some(0), "{degraded:?}");
        let writable = Degraded::check("svc", &[Need::WritableRoot]);
        assert_eq!(writable.is_none(), can_write(STATE_DIR).is_ok());
    }

    #[test]
    fn a_refusal_names_the_service_and_its_need() {
        let d = Degraded {
            service: "ledger-db".into(),
            need: Need::WritableRoot,
            why: "cannot write /var/lib/labd: Read-only file system".into(),
        };
        assert_eq!(d.word(), "degraded:ledger-db:writable-root");
        assert_eq!(word_of(&d.body()).as_deref(), Some(d.word().as_str()));
        assert_eq!(word_of(&json!({"reason": "timeout", "hop": "x"})), None);
        assert_eq!(d.refusal().status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
