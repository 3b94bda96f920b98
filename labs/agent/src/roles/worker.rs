//! The `worker` role: burns CPU, memory and pids on request (`/hog`, `/backup`, `/stop`), the
//! noisy neighbour that resource caps are meant to contain.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use hyper::{Method, StatusCode};
use serde::Deserialize;
use serde_json::json;

use super::{Listeners, Role};
use crate::http::{self, Req, Resp};
use crate::log::Log;
use crate::needs::Degraded;

/// Upper bounds on one job. They keep a typo in a scenario from wedging the host; the
/// container's own cgroup limits are what the lesson is about.
pub const MAX_CPU_WORKERS: u32 = 64;
pub const MAX_MEMORY_MIB: u64 = 16 * 1024;
pub const MAX_THREADS: u32 = 4096;
pub const MAX_SECONDS: u64 = 3600;

const BACKUP_MEMORY_MIB: u64 = 96;
const PAGE: usize = 4096;
const MIB: usize = 1 << 20;
/// How often sleeping threads and the job's own thread look at the stop flag.
const POLL: Duration = Duration::from_millis(50);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hog {
    #[serde(default)]
    pub cpu_workers: u32,
    #[serde(default)]
    pub memory_mib: u64,
    #[serde(default)]
    pub threads: u32,
    pub seconds: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct Backup {
    seconds: u64,
}

struct Worker {
    log: Log,
    /// Stop flags of running jobs; a finished job removes its own.
    jobs: Mutex<Vec<(u64, Arc<AtomicBool>)>>,
    next_id: Mutex<u64>,
    /// Set, the service's own job (`/backup`) is refused, whatever it lacks (a tool it runs,
    /// or more); a hog is someone else's process and runs regardless.
    degraded: Option<Degraded>,
}

pub async fn run(log: Log, listeners: Listeners) {
    let me = Arc::new(Worker {
        log: log.clone(),
        jobs: Mutex::new(Vec::new()),
        next_id: Mutex::new(0),
        degraded: listeners.degraded.clone(),
    });
    let control = move |req: Req| {
        let me = me.clone();
        async move { me.control(&req) }
    };
    super::serve_both(Role::Worker, &log, listeners, super::idle_service, control).await;
}

impl Worker {
    fn control(self: &Arc<Self>, req: &Req) -> Resp {
        if let Some(resp) = super::healthz(req) {
            return resp;
        }
        if req.method != Method::POST {
            return match req.path.as_str() {
                "/hog" | "/backup" | "/stop" => {
                    http::error(StatusCode::METHOD_NOT_ALLOWED, "use POST")
                }
                _ => http::not_found(),
            };
        }
        match req.path.as_str() {
            "/hog" => match req.json::<Hog>() {
                Ok(hog) => self.start("hog", hog, req.trace()),
                Err(bad) => bad.into_response(),
            },
            "/backup" => match req.json::<Backup>() {
                Ok(_) if let Some(d) = &self.degraded => d.refusal(),
                Ok(b) => self.start(
                    "backup",
                    Hog {
                        cpu_workers: 1,
                        memory_mib: BACKUP_MEMORY_MIB,
                        threads: 0,
                        seconds: b.seconds,
                    },
                    req.trace(),
                ),
                Err(bad) => bad.into_response(),
            },
            "/stop" => {
                let jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
                for (_, stop) in jobs.iter() {
                    stop.store(true, Ordering::Relaxed);
                }
                http::json(StatusCode::OK, &json!({ "stopping": jobs.len() }))
            }
            _ => http::not_found(),
        }
    }

    /// Runs the job on a thread of its own: allocation and thread creation block, and the
    /// async runtime must stay free to answer `/stop` and `/healthz`.
    fn start(self: &Arc<Self>, job: &'static str, asked: Hog, trace: Option<u64>) -> Resp {
        let stop = Arc::new(AtomicBool::new(false));
        let id = {
            let mut next = self.next_id.lock().unwrap_or_else(|e| e.into_inner());
            *next += 1;
            *next
        };
        self.jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((id, stop.clone()));
        let me = self.clone();
        let spawned = thread::Builder::new()
            .name(format!("{job}-{id}"))
            .spawn(move || {
                me.run_job(job, asked, trace, &stop);
                me.jobs
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .retain(|(j, _)| *j != id);
            });
        match spawned {
            Ok(_) => http::json(StatusCode::OK, &json!({ "job": job, "started": true })),
            Err(e) => {
                self.jobs
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .retain(|(j, _)| *j != id);
                // Most likely the pids limit: exactly the cap this role exists to hit.
                http::error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &format!("cannot start the {job} job: {e}"),
                )
            }
        }
    }

    /// Logs `started` before taking anything, so a job that gets its container OOM-killed
    /// still shows up; what was actually held is reported on the `stopped` line.
    fn run_job(&self, job: &str, asked: Hog, trace: Option<u64>, stop: &Arc<AtomicBool>) {
        let limits = Hog {
            cpu_workers: asked.cpu_workers.min(MAX_CPU_WORKERS),
            memory_mib: asked.memory_mib.min(MAX_MEMORY_MIB),
            threads: asked.threads.min(MAX_THREADS),
            seconds: asked.seconds.min(MAX_SECONDS),
        };
        let deadline = Instant::now() + Duration::from_secs(limits.seconds);
        let mut plan = format!(
            "cpu_workers={} memory_mib={} threads={} seconds={}",
            limits.cpu_workers, limits.memory_mib, limits.threads, limits.seconds
        );
        if limits != asked {
            plan.push_str(" (capped)");
        }
        self.log.emit(
            "job",
            trace,
            json!({ "job": job, "state": "started", "detail": plan }),
        );

        let (memory, memory_note) = touch_memory(limits.memory_mib, stop);
        let mut notes: Vec<String> = memory_note.into_iter().collect();
        let mut handles = Vec::new();
        let mut spin_failures = 0;
        for i in 0..limits.cpu_workers {
            let stop = stop.clone();
            match thread::Builder::new()
                .name(format!("{job}-cpu-{i}"))
                .stack_size(64 * 1024)
                .spawn(move || spin(&stop, deadline))
            {
                Ok(h) => handles.push(h),
                Err(_) => spin_failures += 1,
            }
        }
        let mut sleep_failures = 0;
        for i in 0..limits.threads {
            let stop = stop.clone();
            match thread::Builder::new()
                .name(format!("{job}-idle-{i}"))
                .stack_size(64 * 1024)
                .spawn(move || idle(&stop, deadline))
            {
                Ok(h) => handles.push(h),
                Err(_) => sleep_failures += 1,
            }
        }
        if spin_failures + sleep_failures > 0 {
            notes.push(format!(
                "could not start {spin_failures} busy and {sleep_failures} sleeping threads (pids limit?)"
            ));
        }
        let held = format!(
            "held cpu_workers={} memory_mib={} threads={}",
            limits.cpu_workers - spin_failures,
            memory.len(),
            limits.threads - sleep_failures,
        );
        idle(stop, deadline);
        stop.store(true, Ordering::Relaxed);
        for h in handles {
            let _ = h.join();
        }
        drop(memory);
        let detail = std::iter::once(held)
            .chain(notes)
            .collect::<Vec<_>>()
            .join("; ");
        self.log.emit(
            "job",
            trace,
            json!({ "job": job, "state": "stopped", "detail": detail }),
        );
    }
}

/// Allocates up to `mib` MiB one MiB at a time, writing every page so the memory is really
/// resident (and charged to the cgroup), not just reserved. Stops early, without panicking,
/// when an allocation is refused or the job is stopped.
fn touch_memory(mib: u64, stop: &AtomicBool) -> (Vec<Vec<u8>>, Option<String>) {
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    if chunks
        .try_reserve_exact(usize::try_from(mib).unwrap_or(0))
        .is_err()
    {
        return (chunks, Some(format!("could not allocate {mib} MiB")));
    }
    for _ in 0..mib {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let mut chunk: Vec<u8> = Vec::new();
        if chunk.try_reserve_exact(MIB).is_err() {
            let got = chunks.len();
            return (
                chunks,
                Some(format!("allocation refused after {got} of {mib} MiB")),
            );
        }
        // One non-zero byte per page is enough to fault the page in; zero pages could be
        // shared with the kernel's zero page and never count.
        chunk.resize(MIB, 0);
        for page in chunk.chunks_mut(PAGE) {
            page[0] = 0xA5;
        }
        chunks.push(chunk);
    }
    (chunks, None)
}

fn spin(stop: &AtomicBool, deadline: Instant) {
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    loop {
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
        }
        std::hint::black_box(x);
        if stop.load(Ordering::Relaxed) || Instant::now() >= deadline {
            return;
        }
    }
}

fn idle(stop: &AtomicBool, deadline: Instant) {
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        thread::sleep(POLL);
    }
}
