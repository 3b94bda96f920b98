//! The host shield: lab networks are internal (no route off the machine, none between labs),
//! but the host has an address on every lab bridge, so a lab container could open connections
//! to services the host runs on all interfaces. One firewall rule on the lab bridges (`bh-*`)
//! closes that; replies to connections the host opens still pass, so the driver reaches labs.

use std::process::{Command, Stdio};

/// The rule, as `iptables` arguments after the verb.
pub const RULE: [&str; 9] = [
    "INPUT",
    "-i",
    "bh-+",
    "-m",
    "conntrack",
    "--ctstate",
    "NEW",
    "-j",
    "REJECT",
];

/// What `iptables -C` says about the rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shield {
    Present,
    Missing,
    /// iptables is missing or this user may not use it.
    Unknown,
}

fn iptables(verb: &str) -> Option<std::process::ExitStatus> {
    Command::new("iptables")
        .arg(verb)
        .args(RULE)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()
}

pub fn status() -> Shield {
    match iptables("-C") {
        Some(s) if s.success() => Shield::Present,
        // `iptables -C` exits 1 for "no such rule"; other codes mean it could not look.
        Some(s) if s.code() == Some(1) => Shield::Missing,
        _ => Shield::Unknown,
    }
}

/// Put the rule in place when it is missing and this process may (root). Returns whether the
/// host is shielded now; a lab without the shield still runs, and `bulkhead doctor` says why.
pub fn ensure() -> bool {
    match status() {
        Shield::Present => true,
        Shield::Missing => {
            let added = iptables("-I").is_some_and(|s| s.success());
            if !added {
                tracing::warn!(
                    "cannot add the host shield rule: lab containers can reach services on this host (see `bulkhead doctor`)"
                );
            }
            added
        }
        Shield::Unknown => {
            tracing::warn!(
                "cannot check the host shield rule (iptables not usable): see `bulkhead doctor`"
            );
            false
        }
    }
}
