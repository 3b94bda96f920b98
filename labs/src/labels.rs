//! Docker labels that tie every lab object to its session and to the process that owns it, so
//! that teardown finds everything by label and the reaper can tell a live lab from an orphan.
//!
//! Ownership is `pid` plus the process start time (field 22 of `/proc/<pid>/stat`), because a
//! pid alone is reused; plus the pid namespace, because a pid read in another namespace (the
//! daemon is shared by containers and hosts) says nothing about our own processes; plus the
//! machine and its boot, because a swarm's other nodes hold labs of servers on other machines,
//! whose pids say nothing here either (and every machine's first pid namespace reads the same).

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The session id; every object a lab creates carries it.
pub const SESSION: &str = "bulkhead.session";
/// The topology id of the lab.
pub const LAB: &str = "bulkhead.lab";
/// When the reaper may remove the object regardless of its owner (unix seconds).
pub const EXPIRES: &str = "bulkhead.expires";
/// The pid of the owning process.
pub const PID: &str = "bulkhead.pid";
/// The owning process's start time, in clock ticks since boot (`/proc/<pid>/stat` field 22).
pub const PID_START: &str = "bulkhead.pid_start";
/// The owner's pid namespace (`/proc/self/ns/pid` link text, e.g. `pid:[4026531836]`).
pub const PID_NS: &str = "bulkhead.pid_ns";
/// The owner's machine and boot: `<machine id>:<boot id>` (`/etc/machine-id`,
/// `/proc/sys/kernel/random/boot_id`).
pub const OWNER_BOOT: &str = "bulkhead.owner_boot";
/// On containers: the topology service it runs.
pub const SERVICE: &str = "bulkhead.service";
/// On containers: the labd role (`web`, `gateway`, ...).
pub const ROLE: &str = "bulkhead.role";
/// On networks: the trust zone.
pub const ZONE: &str = "bulkhead.zone";
/// On images: which image (`labd`).
pub const IMAGE: &str = "bulkhead.image";
/// On images: sha256 of what went into it (binary and Dockerfile).
pub const CONTENT_HASH: &str = "bulkhead.content-hash";

/// A process, identified so that a reused pid is not mistaken for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessStamp {
    pub pid: u32,
    /// Clock ticks after boot at which it started.
    pub start: u64,
}

/// This process's stamp, or `None` where `/proc` is unreadable (then labs carry no owner and
/// only their expiry ends them).
pub fn this_process() -> Option<ProcessStamp> {
    let pid = std::process::id();
    let start = start_time(&std::fs::read_to_string("/proc/self/stat").ok()?)?;
    Some(ProcessStamp { pid, start })
}

/// The labels of every object of one session (containers add [`SERVICE`] and [`ROLE`],
/// networks [`ZONE`]).
pub fn session_labels(session: &str, lab: &str, ttl: Duration) -> HashMap<String, String> {
    let expires = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .saturating_add(ttl)
        .as_secs();
    let mut labels = HashMap::from([
        (SESSION.to_owned(), session.to_owned()),
        (LAB.to_owned(), lab.to_owned()),
        (EXPIRES.to_owned(), expires.to_string()),
    ]);
    if let Some(me) = this_process() {
        labels.insert(PID.to_owned(), me.pid.to_string());
        labels.insert(PID_START.to_owned(), me.start.to_string());
    }
    if let Some(ns) = pid_namespace("self") {
        labels.insert(PID_NS.to_owned(), ns);
    }
    if let Some(boot) = this_boot() {
        labels.insert(OWNER_BOOT.to_owned(), boot);
    }
    labels
}

/// This machine and boot, as [`OWNER_BOOT`] holds them; `None` where either is unreadable.
fn this_boot() -> Option<String> {
    let read = |path: &str| {
        let text = std::fs::read_to_string(path).ok()?;
        Some(text.trim().to_owned()).filter(|t| !t.is_empty())
    };
    let machine = read("/etc/machine-id")?;
    let boot = read("/proc/sys/kernel/random/boot_id")?;
    Some(format!("{machine}:{boot}"))
}

/// Whether the process that created an object may still be running. `true` unless the labels
/// name an owner in our pid namespace on this machine and `/proc` shows that process gone, a
/// zombie, or a different process under the same pid, or an owner on an earlier boot of this
/// machine. Labels that cannot be judged (another machine's owner) count as alive: the expiry
/// still ends such a lab.
pub fn owner_alive(labels: &HashMap<String, String>) -> bool {
    owner_alive_on(labels, this_boot().as_deref())
}

/// `owner_alive`, on the machine and boot `ours`.
fn owner_alive_on(labels: &HashMap<String, String>, ours: Option<&str>) -> bool {
    if let (Some(theirs), Some(ours)) = (labels.get(OWNER_BOOT), ours)
        && theirs != ours
    {
        let machine = |stamp: &str| stamp.split(':').next().map(str::to_owned);
        // The same machine since rebooted: every process of that boot is gone.
        return machine(theirs) != machine(ours);
    }
    let parse = |key: &str| labels.get(key).and_then(|v| v.trim().parse::<u64>().ok());
    let (Some(pid), Some(start)) = (parse(PID), parse(PID_START)) else {
        return true;
    };
    match (labels.get(PID_NS), pid_namespace("self")) {
        (Some(theirs), Some(ours)) if *theirs == ours => {}
        _ => return true,
    }
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // A zombie (`Z`) or dead (`X`) process holds its pid until reaped but owns nothing.
    if matches!(state(&stat), Some('Z' | 'X')) {
        return false;
    }
    start_time(&stat) == Some(start)
}

/// Whether an object's `bulkhead.expires` has passed. Missing or garbled: not expired.
pub fn expired(labels: &HashMap<String, String>, now: SystemTime) -> bool {
    let now = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    labels
        .get(EXPIRES)
        .and_then(|v| v.trim().parse::<u64>().ok())
        .is_some_and(|at| at <= now)
}

/// The pid namespace of a process (`self` or a pid), as the `/proc/<p>/ns/pid` link reads.
fn pid_namespace(process: &str) -> Option<String> {
    std::fs::read_link(format!("/proc/{process}/ns/pid"))
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

/// The fields after the command name: the name (field 2) is in parentheses and may itself hold
/// spaces and parentheses, so split after the last `)`.
fn fields_after_comm(stat: &str) -> Option<Vec<&str>> {
    let rest = &stat[stat.rfind(')')? + 1..];
    Some(rest.split_whitespace().collect())
}

/// Field 3 of `/proc/<pid>/stat`: the process state.
fn state(stat: &str) -> Option<char> {
    fields_after_comm(stat)?.first()?.chars().next()
}

/// Field 22 of `/proc/<pid>/stat`: start time in clock ticks after boot.
fn start_time(stat: &str) -> Option<u64> {
    // Field 3 is the first after the name, so field 22 is at index 22 - 3.
    fields_after_comm(stat)?.get(22 - 3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "31934 (my (odd) name) R 31932 31932 25353 0 -1 4194304 97 0 0 0 0 0 0 0 \
                        20 0 1 0 238660 3133440 381 18446744073709551615";

    #[test]
    fn parses_state_and_start_time_past_an_odd_command_name() {
        assert_eq!(state(STAT), Some('R'));
        assert_eq!(start_time(STAT), Some(238660));
        assert_eq!(start_time("garbage"), None);
        assert_eq!(start_time("1 (x) S 2"), None);
    }

    #[test]
    fn this_process_is_alive_and_a_reused_pid_is_not() {
        let labels = session_labels("bh-test", "company", Duration::from_secs(60));
        assert!(labels.contains_key(PID) && labels.contains_key(PID_START));
        assert!(owner_alive(&labels));

        let mut reused = labels.clone();
        let start: u64 = labels[PID_START].parse().unwrap();
        reused.insert(PID_START.into(), (start + 1).to_string());
        assert!(!owner_alive(&reused));

        let mut gone = labels.clone();
        // Above the kernel's pid_max limit (4194304), so never a live process.
        gone.insert(PID.into(), "4194305".into());
        assert!(!owner_alive(&gone));

        let mut elsewhere = gone.clone();
        elsewhere.insert(PID_NS.into(), "pid:[1]".into());
        assert!(
            owner_alive(&elsewhere),
            "another namespace cannot be judged"
        );

        let mut garbled = labels;
        garbled.insert(PID.into(), "not a pid".into());
        assert!(owner_alive(&garbled));
    }

    #[test]
    fn an_owner_on_another_machine_is_not_judged_and_one_on_an_earlier_boot_is_gone() {
        let mut labels = session_labels("bh-test", "company", Duration::from_secs(60));
        // Above pid_max: dead, were it judged here.
        labels.insert(PID.into(), "4194305".into());
        labels.insert(OWNER_BOOT.into(), "m1:b1".into());
        assert!(
            !owner_alive_on(&labels, Some("m1:b1")),
            "this machine, gone"
        );
        assert!(owner_alive_on(&labels, Some("m2:b7")), "another machine's");
        assert!(!owner_alive_on(&labels, Some("m1:b2")), "rebooted since");
        assert!(
            !owner_alive_on(&labels, None),
            "no stamp here: the pid judges"
        );
        if this_boot().is_some() {
            let ours = session_labels("bh-test", "company", Duration::from_secs(60));
            assert!(ours.contains_key(OWNER_BOOT));
            assert!(owner_alive(&ours));
        }
    }

    #[test]
    fn expiry_is_in_unix_seconds() {
        let labels = session_labels("bh-test", "company", Duration::from_secs(60));
        assert!(!expired(&labels, SystemTime::now()));
        assert!(expired(
            &labels,
            SystemTime::now() + Duration::from_secs(61)
        ));
        assert!(!expired(&HashMap::new(), SystemTime::now()));
    }
}
