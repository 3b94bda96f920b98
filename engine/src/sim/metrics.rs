//! What each company container reports once a second, as labd's cgroup readings do on Docker:
//! CPU, memory, pids and network rates (the range's own actors report nothing).

use rand::Rng;

use super::{RunState, SimLab};
use crate::lab::LabOutput;
use crate::observation::{Metrics, Millis, Observation, ObservationBody};

impl SimLab {
    pub(super) fn report_metrics(&mut self, t: Millis) {
        for i in 0..self.services.len() {
            if self.services[i].range_only {
                continue;
            }
            let jitter = self.rng.random::<f32>();
            let s = &mut self.services[i];
            let (rx, tx) = (s.rx_bytes, s.tx_bytes + s.rx_bytes * 2.0);
            s.rx_bytes = 0.0;
            s.tx_bytes = 0.0;
            let metrics = Metrics {
                service: s.id.clone(),
                cpu_pct: if s.state == RunState::Running {
                    s.cpu_now
                } else {
                    0.0
                },
                memory_mib: s.memory_now + jitter,
                pids: s.pids(),
                net_rx_kbps: rx / 1024.0 + jitter * 0.5,
                net_tx_kbps: tx / 1024.0 + jitter * 0.5,
            };
            self.push(
                t,
                LabOutput::Observation(Observation {
                    t_ms: t,
                    body: ObservationBody::Metrics(metrics),
                }),
            );
        }
    }
}
