//! This container's own resource use, read from its cgroup (v1 or v2) and `/proc/net/dev` every
//! `LABD_METRICS_MS`, and reported as `metrics` log lines of cumulative counters, so the driver
//! computes rates over whatever interval it sees and a skipped or lost line loses no usage.
//! A reading becomes a line when it moved (see `Reporter`), else once a second: a quiet lab
//! costs its host a quarter of the lines, a hog still shows within one reading.
//!
//! Why here and not only Docker's stats stream: Docker samples once a second and delivers late
//! under load (2.4-2.9 s from a hog to its alert was measured); a file read every 250 ms inside the
//! container costs microseconds and rides the log stream the driver already follows.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use crate::log::Log;

/// One reading. Counters (`cpu_ns`, `throttled_periods`, bytes) only grow while the container
/// lives; the driver turns two readings into rates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Sample {
    /// CPU time used by every process of the container, in ns.
    pub cpu_ns: u64,
    /// Memory in use, without the page cache (what `docker stats` shows).
    pub memory_bytes: u64,
    pub pids: u64,
    /// The pids limit; `None` when unlimited.
    pub pids_max: Option<u64>,
    /// CFS periods in which the CPU quota held the container back.
    pub throttled_periods: u64,
    /// Bytes received and sent on every interface but loopback.
    pub rx_bytes: u64,
    pub tx_bytes: u64,
}

/// Where this container's cgroup files are: Docker mounts the container's own cgroup at the
/// root of `/sys/fs/cgroup` (one folder per controller on v1, one unified folder on v2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cgroup {
    V1 {
        cpuacct: PathBuf,
        cpu: PathBuf,
        memory: PathBuf,
        pids: PathBuf,
    },
    V2 {
        dir: PathBuf,
    },
}

impl Cgroup {
    /// The layout under `root` (`/sys/fs/cgroup` in a container), or `None` when there is none.
    pub fn find(root: &Path) -> Option<Self> {
        if root.join("cgroup.controllers").exists() {
            return Some(Cgroup::V2 {
                dir: root.to_path_buf(),
            });
        }
        // v1 controllers are co-mounted under combined names on most hosts (`cpu,cpuacct`);
        // the single names are usually symlinks to them, but not everywhere.
        let first = |names: &[&str]| {
            names
                .iter()
                .map(|n| root.join(n))
                .find(|p| p.is_dir())
                .unwrap_or_else(|| root.join(names[0]))
        };
        let cpuacct = first(&["cpuacct", "cpu,cpuacct", "cpuacct,cpu"]);
        if !cpuacct.join("cpuacct.usage").exists() {
            return None;
        }
        Some(Cgroup::V1 {
            cpu: first(&["cpu", "cpu,cpuacct", "cpuacct,cpu"]),
            cpuacct,
            memory: root.join("memory"),
            pids: root.join("pids"),
        })
    }

    /// Read every counter, CPU time first: the caller stamps the reading just before, and a
    /// CPU rate is only as good as that stamp (labd runs inside the container it measures, so
    /// a CPU cap can hold it back for a whole quota period between two file reads). A file
    /// that cannot be read counts as zero (a controller the host does not mount must not stop
    /// the others from being reported).
    pub fn read(&self, net_dev: &Path) -> Sample {
        let text = |p: PathBuf| std::fs::read_to_string(p).unwrap_or_default();
        match self {
            Cgroup::V1 {
                cpuacct,
                cpu,
                memory,
                pids,
            } => {
                let cpu_ns = parse_number(&text(cpuacct.join("cpuacct.usage")));
                let (rx_bytes, tx_bytes) = parse_net_dev(&text(net_dev.to_path_buf()));
                let usage = parse_number(&text(memory.join("memory.usage_in_bytes")));
                let stat = text(memory.join("memory.stat"));
                Sample {
                    cpu_ns,
                    memory_bytes: usage.saturating_sub(stat_value(&stat, "cache")),
                    pids: parse_number(&text(pids.join("pids.current"))),
                    pids_max: parse_limit(&text(pids.join("pids.max"))),
                    throttled_periods: stat_value(&text(cpu.join("cpu.stat")), "nr_throttled"),
                    rx_bytes,
                    tx_bytes,
                }
            }
            Cgroup::V2 { dir } => {
                let cpu_stat = text(dir.join("cpu.stat"));
                let (rx_bytes, tx_bytes) = parse_net_dev(&text(net_dev.to_path_buf()));
                let usage = parse_number(&text(dir.join("memory.current")));
                let stat = text(dir.join("memory.stat"));
                Sample {
                    cpu_ns: stat_value(&cpu_stat, "usage_usec").saturating_mul(1000),
                    memory_bytes: usage.saturating_sub(stat_value(&stat, "inactive_file")),
                    pids: parse_number(&text(dir.join("pids.current"))),
                    pids_max: parse_limit(&text(dir.join("pids.max"))),
                    throttled_periods: stat_value(&cpu_stat, "nr_throttled"),
                    rx_bytes,
                    tx_bytes,
                }
            }
        }
    }
}

/// A file holding one number; anything else reads as 0.
pub fn parse_number(text: &str) -> u64 {
    text.trim().parse().unwrap_or(0)
}

/// `pids.max`: a number, or `max` for no limit (also `None` for anything unreadable).
pub fn parse_limit(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// The value of `key` in a `key value` per line file (`memory.stat`, `cpu.stat`); 0 if absent.
pub fn stat_value(text: &str, key: &str) -> u64 {
    text.lines()
        .filter_map(|l| l.split_once(' '))
        .find(|(k, _)| *k == key)
        .map_or(0, |(_, v)| parse_number(v))
}

/// Total received and sent bytes over every interface but `lo`, from `/proc/net/dev`: two
/// header lines, then `iface: rx_bytes packets errs drop fifo frame compressed multicast
/// tx_bytes ...`.
pub fn parse_net_dev(text: &str) -> (u64, u64) {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(iface, _)| iface.trim() != "lo")
        .filter_map(|(_, counters)| {
            let fields: Vec<&str> = counters.split_whitespace().collect();
            let rx = fields.first()?.parse::<u64>().ok()?;
            let tx = fields.get(8)?.parse::<u64>().ok()?;
            Some((rx, tx))
        })
        .fold((0, 0), |(r, t), (rx, tx)| {
            (r.saturating_add(rx), t.saturating_add(tx))
        })
}

/// A quiet container still writes a line this often, so the driver can tell labd is alive
/// (it falls back to Docker's stats after 1.5 s of silence).
pub const HEARTBEAT_MS: u64 = 1000;
/// A change of CPU, in percent of one core, over one reading interval that is written at once.
pub const CPU_BAND_PCT: f64 = 5.0;
/// A change of network rate (either direction), in KiB/s, that is written at once.
pub const NET_BAND_KIB_S: f64 = 50.0;
/// A change of memory in use that is written at once.
pub const MEMORY_BAND_BYTES: u64 = 4 << 20;

/// Rates over one reading interval, to compare readings with the last one written.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Rates {
    cpu_pct: f64,
    rx_kib_s: f64,
    tx_kib_s: f64,
}

impl Rates {
    const IDLE: Rates = Rates {
        cpu_pct: 0.0,
        rx_kib_s: 0.0,
        tx_kib_s: 0.0,
    };

    /// `None` when the counters went back (the cgroup was reset) or the clock did not advance.
    fn between(then: (u64, Sample), now: (u64, Sample)) -> Option<Self> {
        let ((t0, a), (t1, b)) = (then, now);
        if t1 <= t0 || b.cpu_ns < a.cpu_ns || b.rx_bytes < a.rx_bytes || b.tx_bytes < a.tx_bytes {
            return None;
        }
        let secs = (t1 - t0) as f64 / 1000.0;
        Some(Rates {
            cpu_pct: (b.cpu_ns - a.cpu_ns) as f64 / 1e7 / secs,
            rx_kib_s: (b.rx_bytes - a.rx_bytes) as f64 / 1024.0 / secs,
            tx_kib_s: (b.tx_bytes - a.tx_bytes) as f64 / 1024.0 / secs,
        })
    }

    fn moved_from(&self, written: &Rates) -> bool {
        (self.cpu_pct - written.cpu_pct).abs() > CPU_BAND_PCT
            || (self.rx_kib_s - written.rx_kib_s).abs() > NET_BAND_KIB_S
            || (self.tx_kib_s - written.tx_kib_s).abs() > NET_BAND_KIB_S
    }
}

/// Decides which readings become lines. A reading is written when its rates moved beyond a
/// band from the interval last written, when memory, pids or the pids limit changed, when the
/// CPU quota held the container back, or when `HEARTBEAT_MS` passed since the last line. When a
/// reading moved, the reading before it is written too (if it was not): the driver then sees
/// the jump over one reading interval, not diluted over the second before it.
#[derive(Debug, Clone, Default)]
pub struct Reporter {
    /// The previous reading, and whether it was written.
    previous: Option<((u64, Sample), bool)>,
    /// The last reading written, and the rates of the interval that ended with it.
    written: Option<((u64, Sample), Option<Rates>)>,
}

impl Reporter {
    /// The readings to write now (oldest first) for a reading of `sample` at `at_ms`.
    pub fn decide(&mut self, at_ms: u64, sample: Sample) -> Vec<(u64, Sample)> {
        let now = (at_ms, sample);
        let previous = self.previous.replace((now, false));
        let rates = previous.and_then(|(p, _)| Rates::between(p, now));
        let moved = match (self.written, previous) {
            (None, _) | (_, None) => true,
            // The counters went back, or the clock: a new series starts here.
            (_, Some(_)) if rates.is_none() => true,
            (Some(((_, last), written_rates)), Some(_)) => {
                last.memory_bytes.abs_diff(sample.memory_bytes) > MEMORY_BAND_BYTES
                    || last.pids != sample.pids
                    || last.pids_max != sample.pids_max
                    || sample.throttled_periods > last.throttled_periods
                    // No rates were known when the last line was written (the first line, or
                    // a reset): compare with an idle container.
                    || rates.is_some_and(|r| r.moved_from(&written_rates.unwrap_or(Rates::IDLE)))
            }
        };
        let due = self
            .written
            .is_none_or(|((t, _), _)| at_ms.saturating_sub(t) >= HEARTBEAT_MS);
        if !moved && !due {
            return Vec::new();
        }
        let mut lines = Vec::with_capacity(2);
        if let Some((p, false)) = previous
            && moved
            && rates.is_some()
        {
            lines.push(p);
        }
        lines.push(now);
        self.previous = Some((now, true));
        self.written = Some((now, rates));
        lines
    }
}

/// Read the cgroup every `every` until the process ends, and write the readings `Reporter`
/// picks as `metrics` lines stamped with their reading time. Without a cgroup to read (labd
/// run by hand outside a container) it says so once and reports nothing.
pub async fn report(log: Log, every: Duration) {
    let Some(cgroup) = Cgroup::find(Path::new("/sys/fs/cgroup")) else {
        log.emit(
            "metrics_unavailable",
            None,
            json!({"reason": "no cgroup under /sys/fs/cgroup"}),
        );
        return;
    };
    let net_dev = Path::new("/proc/net/dev");
    let mut tick = tokio::time::interval(every);
    // A container frozen by `docker pause` wakes with missed ticks: one reading, not a burst.
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut reporter = Reporter::default();
    loop {
        tick.tick().await;
        let read_at = crate::log::now_ms();
        let sample = cgroup.read(net_dev);
        for (at_ms, sample) in reporter.decide(read_at, sample) {
            log.emit_at(
                at_ms,
                "metrics",
                None,
                serde_json::to_value(sample).unwrap_or_default(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NET_DEV: &str = "Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:    1000      10    0    0    0     0          0         0     1000      10    0    0    0     0       0          0
  eth0:  123456     100    0    0    0     0          0         0    65432      90    0    0    0     0       0          0
  eth1:     100       1    0    0    0     0          0         0       50       1    0    0    0     0       0          0
";

    #[test]
    fn net_dev_sums_every_interface_but_loopback() {
        assert_eq!(parse_net_dev(NET_DEV), (123_556, 65_482));
        assert_eq!(parse_net_dev(""), (0, 0));
    }

    #[test]
    fn stat_files_and_limits_read_as_the_kernel_writes_them() {
        let stat = "cache 4096\nrss 8192\ntotal_cache 4096\n";
        assert_eq!(stat_value(stat, "cache"), 4096);
        assert_eq!(stat_value(stat, "rss"), 8192);
        assert_eq!(stat_value(stat, "missing"), 0);
        assert_eq!(parse_limit("max\n"), None);
        assert_eq!(parse_limit("64\n"), Some(64));
        assert_eq!(parse_number("123\n"), 123);
    }

    fn write(dir: &Path, file: &str, text: &str) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(file), text).unwrap();
    }

    #[test]
    fn a_v1_hierarchy_reads_usage_without_the_page_cache() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        write(&r.join("cpu,cpuacct"), "cpuacct.usage", "5000000\n");
        write(
            &r.join("cpu,cpuacct"),
            "cpu.stat",
            "nr_periods 9\nnr_throttled 3\n",
        );
        write(&r.join("memory"), "memory.usage_in_bytes", "10485760\n");
        write(&r.join("memory"), "memory.stat", "cache 2097152\n");
        write(&r.join("pids"), "pids.current", "4\n");
        write(&r.join("pids"), "pids.max", "64\n");
        write(r, "net_dev", NET_DEV);
        let cgroup = Cgroup::find(r).expect("a v1 layout");
        assert!(matches!(cgroup, Cgroup::V1 { .. }));
        let s = cgroup.read(&r.join("net_dev"));
        assert_eq!(
            s,
            Sample {
                cpu_ns: 5_000_000,
                memory_bytes: 8 << 20,
                pids: 4,
                pids_max: Some(64),
                throttled_periods: 3,
                rx_bytes: 123_556,
                tx_bytes: 65_482,
            }
        );
    }

    #[test]
    fn a_v2_hierarchy_reads_microseconds_as_nanoseconds() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        write(r, "cgroup.controllers", "cpu memory pids\n");
        write(r, "cpu.stat", "usage_usec 2500\nnr_throttled 1\n");
        write(r, "memory.current", "3145728\n");
        write(r, "memory.stat", "anon 1\ninactive_file 1048576\n");
        write(r, "pids.current", "2\n");
        write(r, "pids.max", "max\n");
        let s = Cgroup::find(r).expect("a v2 layout").read(&r.join("none"));
        assert_eq!(s.cpu_ns, 2_500_000);
        assert_eq!(s.memory_bytes, 2 << 20);
        assert_eq!((s.pids, s.pids_max, s.throttled_periods), (2, None, 1));
        assert_eq!((s.rx_bytes, s.tx_bytes), (0, 0));
    }

    #[test]
    fn no_cgroup_is_none() {
        let root = tempfile::tempdir().unwrap();
        assert_eq!(Cgroup::find(root.path()), None);
    }

    /// Readings every 250 ms of a container using `cpu_pct` of a core from `from_tick` on
    /// (idle before), with memory and network steady.
    fn readings(ticks: u64, from_tick: u64, cpu_pct: u64) -> Vec<(u64, Sample)> {
        let mut cpu_ns = 0;
        (0..ticks)
            .map(|i| {
                if i >= from_tick {
                    cpu_ns += cpu_pct * 10_000_000 / 4;
                }
                let sample = Sample {
                    cpu_ns,
                    memory_bytes: 8 << 20,
                    pids: 3,
                    ..Sample::default()
                };
                (1_000 + i * 250, sample)
            })
            .collect()
    }

    fn written(readings: &[(u64, Sample)]) -> Vec<u64> {
        let mut reporter = Reporter::default();
        readings
            .iter()
            .flat_map(|(at, s)| reporter.decide(*at, *s))
            .map(|(at, _)| at)
            .collect()
    }

    #[test]
    fn a_quiet_container_writes_once_a_second() {
        let at = written(&readings(40, u64::MAX, 0));
        assert_eq!(at.len(), 10, "{at:?}");
        assert!(at.windows(2).all(|w| w[1] - w[0] == HEARTBEAT_MS), "{at:?}");
    }

    #[test]
    fn a_hog_is_written_at_the_reading_it_starts_with_the_reading_before() {
        // Idle for 2.5 s, then a full core: the readings at 3250 ms (before) and 3500 ms (the
        // first interval with the hog) are written at once, then it is steady again.
        let at = written(&readings(40, 10, 100));
        assert!(at.contains(&3_250) && at.contains(&3_500), "{at:?}");
        let after: Vec<u64> = at.iter().copied().filter(|&t| t > 3_500).collect();
        assert_eq!(after.first(), Some(&4_500), "steady again: {at:?}");
    }

    #[test]
    fn throttling_memory_and_pids_changes_are_written_at_once() {
        let base = Sample {
            memory_bytes: 8 << 20,
            pids: 3,
            ..Sample::default()
        };
        let mut reporter = Reporter::default();
        assert_eq!(reporter.decide(1_000, base).len(), 1);
        assert!(reporter.decide(1_250, base).is_empty());
        for (at, changed) in [
            (
                1_500,
                Sample {
                    throttled_periods: 1,
                    ..base
                },
            ),
            (1_750, Sample { pids: 4, ..base }),
            (
                2_000,
                Sample {
                    memory_bytes: 20 << 20,
                    ..base
                },
            ),
        ] {
            let lines = reporter.decide(at, changed);
            assert_eq!(lines.last(), Some(&(at, changed)), "{changed:?}");
        }
    }

    proptest! {
        #[test]
        fn lines_come_in_order_and_never_further_apart_than_the_heartbeat(
            steps in proptest::collection::vec((0u64..400_000_000, 0u64..1 << 24, 0u64..200_000, any::<bool>()), 1..200),
        ) {
            let mut reporter = Reporter::default();
            let mut sample = Sample::default();
            let mut lines = Vec::new();
            let mut last_at = 0;
            for (i, (cpu, memory, bytes, reset)) in steps.iter().enumerate() {
                sample = if *reset {
                    Sample::default()
                } else {
                    Sample {
                        cpu_ns: sample.cpu_ns + cpu,
                        memory_bytes: *memory,
                        rx_bytes: sample.rx_bytes + bytes,
                        tx_bytes: sample.tx_bytes + bytes / 2,
                        ..sample
                    }
                };
                last_at = 1_000 + i as u64 * 250;
                lines.extend(reporter.decide(last_at, sample));
            }
            prop_assert_eq!(lines.first().map(|l| l.0), Some(1_000));
            prop_assert!(lines.windows(2).all(|w| w[0].0 < w[1].0), "out of order: {:?}", lines);
            prop_assert!(
                lines.windows(2).all(|w| w[1].0 - w[0].0 <= HEARTBEAT_MS),
                "a gap beyond the heartbeat: {:?}", lines
            );
            prop_assert!(last_at - lines.last().map_or(0, |l| l.0) < HEARTBEAT_MS);
        }

        #[test]
        fn the_parsers_never_panic(text in ".{0,400}", key in "[a-z_]{0,12}") {
            let _ = parse_net_dev(&text);
            let _ = stat_value(&text, &key);
            let _ = parse_limit(&text);
            let _ = parse_number(&text);
        }
    }
}
