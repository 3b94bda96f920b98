//! The containers, as Docker and labd's workers run them: execs, jobs (hogs and backups), CPU
//! contention on the shared host, memory growth and OOM kills, each hostile job judged once a
//! second, and the trainee's pause, stop, restart and caps.

use rand::Rng;

use super::{HOST_CPU_PCT, Job, RunState, SimLab, SimService, WEB_CAPACITY_RPS};
use crate::action::{Cause, Mitigation, Outcome};
use crate::format::topology::Role;
use crate::lab::LabOutput;
use crate::observation::{LifecycleState, LogEvent, Millis};

impl SimLab {
    pub(super) fn exec(
        &mut self,
        t: Millis,
        effect: u64,
        service: &str,
        identity: &str,
        command: &str,
    ) {
        let Some(i) = self.idx(service) else {
            return self.failed(t, effect, "no such container", Cause::Lab);
        };
        if self.services[i].state != RunState::Running {
            return self.not_running(t, effect, i);
        }
        self.observe(
            t,
            LogEvent::Exec {
                service: service.to_owned(),
                identity: identity.to_owned(),
                command: command.to_owned(),
                trace: Some(effect),
            },
        );
        self.outcome(t, effect, true, 0, "exec session opened");
    }

    pub(super) fn start_job(&mut self, t: Millis, effect: u64, service: &str, job: Job) {
        let Some(i) = self.idx(service) else {
            return self.failed(t, effect, "no such container", Cause::Lab);
        };
        if self.services[i].state != RunState::Running {
            return self.not_running(t, effect, i);
        }
        // A service that cannot do its work runs none of its own jobs; a hog is someone
        // else's process and runs regardless (as labd's degraded worker).
        if let Some(cause) = self.services[i].job_refusal().filter(|_| !job.hostile) {
            return self.failed(t, effect, "the service cannot do its work", cause);
        }
        // A hog reports every second whether it still takes more than it should; a benign
        // job succeeded when it started.
        if !job.hostile {
            self.outcome(t, effect, true, 0, "job started");
        }
        self.services[i].jobs.retain(|j| j.effect != effect);
        self.services[i].jobs.push(job);
    }

    /// Kill every job of a container (stop, restart, OOM): a hostile job's attack stops
    /// succeeding there and then, for the reason `cause` gives.
    pub(super) fn kill_jobs(&mut self, t: Millis, i: usize, why: &str, cause: Cause) {
        // A benign job (a backup) loses its work too: collateral when a trainee caused it.
        let jobs = std::mem::take(&mut self.services[i].jobs);
        for j in jobs {
            self.failed(t, j.effect, why, cause.clone());
        }
    }

    /// CPU contention on the shared host this second: the share of its demand each container
    /// gets, and each web tier's health (starved of CPU or of capacity, it drops requests).
    pub(super) fn share_host_cpu(&mut self) -> f32 {
        let demand: f32 = self.services.iter().map(SimService::demand_cpu).sum();
        let share = if demand > HOST_CPU_PCT {
            HOST_CPU_PCT / demand
        } else {
            1.0
        };
        // Starved of CPU below 90 % of its share, a web tier starts dropping requests.
        let cpu_health = (share / 0.9).min(1.0).powi(2);
        for web in self.services.iter_mut().filter(|s| s.role == Role::Web) {
            let load = web.requests_this_second as f32;
            let overload = if load > WEB_CAPACITY_RPS {
                WEB_CAPACITY_RPS / load
            } else {
                1.0
            };
            web.health = (cpu_health * overload).clamp(0.02, 1.0);
            web.requests_this_second = 0;
        }
        share
    }

    /// This second in every container, given its `share` of the CPU it asks for.
    pub(super) fn run_containers(&mut self, t: Millis, share: f32) {
        for i in 0..self.services.len() {
            self.run_container(t, i, share);
            self.judge_hostile_jobs(t, i);
        }
    }

    /// CPU and memory use, OOM kills and jobs that ended, in container `i`.
    fn run_container(&mut self, t: Millis, i: usize, share: f32) {
        let cpu = self.services[i].demand_cpu() * share;
        let noise = 1.0 + (self.rng.random::<f32>() - 0.5) * 0.2;
        let s = &mut self.services[i];
        s.cpu_now = match s.role {
            Role::Gateway | Role::Web => cpu + s.rx_bytes / 600.0 * 0.12,
            _ => cpu,
        } * noise;
        if s.state == RunState::Running {
            let target = s.base_memory + s.jobs.iter().map(|j| j.memory_mib).sum::<f32>();
            // Memory grows towards what the jobs want, 64 MiB a second at most.
            s.memory_now = if target > s.memory_now {
                (s.memory_now + 64.0).min(target)
            } else {
                target
            };
        }
        let oom = s.enforced.1.is_some_and(|m| s.memory_now > m as f32);
        let mut ended = Vec::new();
        s.jobs.retain(|j| {
            if t >= j.until {
                ended.push((j.effect, j.hostile));
                false
            } else {
                true
            }
        });
        if oom {
            s.state = RunState::Stopped;
            s.oom_killed = true;
            s.memory_now = 0.0;
            let cause = Cause::OomKilled {
                service: self.services[i].id.clone(),
            };
            self.kill_jobs(t, i, "OOM-killed", cause);
            self.lifecycle(t, i, LifecycleState::OomKilled);
        }
        for (effect, hostile) in ended {
            if !hostile {
                self.outcome(t, effect, true, 0, "job finished");
            }
        }
    }

    /// A hostile job succeeds while its container takes more than the service should have.
    fn judge_hostile_jobs(&mut self, t: Millis, i: usize) {
        let s = &self.services[i];
        let over = s.state == RunState::Running
            && s.declared.exceeded_by(s.cpu_now, s.memory_now, s.pids());
        let hostile: Vec<u64> = s
            .jobs
            .iter()
            .filter(|j| j.hostile)
            .map(|j| j.effect)
            .collect();
        let detail = format!(
            "{:.0}% cpu, {:.0} MiB, {} pids",
            s.cpu_now,
            s.memory_now,
            s.pids()
        );
        // Not taking more than it should: held down by the trainee's cap, frozen by a pause,
        // or simply starved or small (nobody's doing, so no cause).
        let cause = if over {
            None
        } else if s.state == RunState::Paused {
            Some(Cause::Paused {
                service: s.id.clone(),
            })
        } else if s.capped && s.clipped() {
            Some(Cause::Capped {
                service: s.id.clone(),
            })
        } else {
            None
        };
        for effect in hostile {
            self.push(
                t,
                LabOutput::Outcome(Outcome {
                    t_ms: t,
                    effect,
                    ok: over,
                    records: 0,
                    detail: detail.clone(),
                    cause: cause.clone(),
                }),
            );
        }
    }

    /// New limits on container `i` (`None`: that one unchanged). The kernel refuses a memory
    /// limit below what is in use, so the container is restarted under it (what a real lab
    /// does too), ending whatever hogged it.
    pub(super) fn cap(
        &mut self,
        t: Millis,
        i: usize,
        (cpu_cores, memory_mib, pids): (Option<f32>, Option<u32>, Option<u32>),
        m: &Mitigation,
    ) -> String {
        let s = &mut self.services[i];
        s.capped = true;
        if let Some(c) = cpu_cores {
            s.enforced.0 = Some(c);
        }
        if let Some(mem) = memory_mib {
            s.enforced.1 = Some(mem);
        }
        if let Some(p) = pids {
            s.enforced.2 = Some(p);
        }
        self.lifecycle(t, i, LifecycleState::Capped);
        if memory_mib.is_some_and(|mem| self.services[i].memory_now > mem as f32) {
            // The cap ended the job, so the cap is what the trainee is credited with.
            let cause = Cause::Capped {
                service: self.services[i].id.clone(),
            };
            self.kill_jobs(t, i, "container restarted under its new limits", cause);
            self.services[i].memory_now = self.services[i].base_memory;
            self.lifecycle(t, i, LifecycleState::Died);
            self.lifecycle(t, i, LifecycleState::Started);
            return "limits applied; its memory was above the new limit, so it was restarted under it".into();
        }
        format!("limits now {}", m.summary())
    }

    pub(super) fn pause(&mut self, t: Millis, i: usize) -> Result<String, String> {
        if self.services[i].state != RunState::Running {
            return Err("not running".into());
        }
        self.services[i].state = RunState::Paused;
        self.lifecycle(t, i, LifecycleState::Paused);
        Ok("paused".into())
    }

    pub(super) fn unpause(&mut self, t: Millis, i: usize) -> Result<String, String> {
        if self.services[i].state != RunState::Paused {
            return Err("not paused".into());
        }
        self.services[i].state = RunState::Running;
        self.lifecycle(t, i, LifecycleState::Unpaused);
        Ok("running again".into())
    }

    pub(super) fn stop(&mut self, t: Millis, i: usize) -> Result<String, String> {
        if self.services[i].state == RunState::Stopped {
            return Err("already stopped".into());
        }
        self.services[i].state = RunState::Stopped;
        let cause = Cause::Stopped {
            service: self.services[i].id.clone(),
        };
        self.kill_jobs(t, i, "container stopped", cause);
        self.services[i].memory_now = 0.0;
        self.lifecycle(t, i, LifecycleState::Stopped);
        Ok("stopped".into())
    }

    pub(super) fn restart(&mut self, t: Millis, i: usize) -> String {
        let cause = Cause::Stopped {
            service: self.services[i].id.clone(),
        };
        self.kill_jobs(t, i, "container restarted", cause);
        let s = &mut self.services[i];
        s.state = RunState::Running;
        s.oom_killed = false;
        s.memory_now = s.base_memory;
        self.lifecycle(t, i, LifecycleState::Started);
        "restarted".into()
    }
}
