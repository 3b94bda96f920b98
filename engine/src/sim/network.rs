//! The network, as labd's gateway and Docker's networks make it: requests through the gateway to
//! web (block rules, a tier that does not answer, an overloaded web), floods, the gateway's flow
//! logs, and the trainee's isolation of a container, detachment from one zone's network, and
//! block of a source.

use rand::Rng;

use super::{Door, Flood, SimLab};
use crate::action::{Cause, Outcome};
use crate::format::topology::{Role, Service};
use crate::lab::LabOutput;
use crate::observation::{LifecycleState, LogEvent, Millis};
use crate::reach;

/// Why an isolated container is not attached to one zone: reconnecting restores them all.
pub const ISOLATED_NOT_ATTACHED: &str = "isolated: reconnect it to restore its networks";

impl SimLab {
    /// Through the door's gateway to its web tier: `Err((detail, cause))` when the request does
    /// not arrive.
    pub(super) fn reach_web(
        &mut self,
        (hostile, door): (bool, Door),
        source: &str,
        (t, effect, endpoint): (Millis, u64, &str),
    ) -> Result<(), (String, Cause)> {
        let origin = self.role_idx(if hostile {
            Role::Attacker
        } else {
            Role::Traffic
        });
        if !self.services[origin].reachable() {
            // The client is range machinery: nobody's mitigation can take it off the network.
            return Err(("client cannot reach the network".into(), Cause::Lab));
        }
        let Door { gateway: gw, web } = door;
        // A gateway detached from the client's zone never sees the request: no flow, no block.
        if let Some(cause) = self.link_cut(origin, gw) {
            return Err(("gateway unreachable".into(), cause));
        }
        let to_web = self.link_cut(gw, web);
        let flow = self.flows.entry((gw, source.to_string())).or_default();
        flow.requests += 1;
        if self.blocked.contains(source) {
            flow.denied += 1;
            let cause = Cause::Blocked {
                source: source.into(),
            };
            return Err(("403 blocked at the gateway".into(), cause));
        }
        if !self.services[gw].reachable() {
            flow.errors += 1;
            return Err(("gateway unreachable".into(), self.services[gw].down_cause()));
        }
        if !self.services[web].reachable() {
            flow.errors += 1;
            return Err((
                "502 web unreachable".into(),
                self.services[web].down_cause(),
            ));
        }
        if let Some(cause) = to_web {
            flow.errors += 1;
            return Err(("502 web unreachable".into(), cause));
        }
        // Up, but unable to work: it answers 503 and logs it, as labd's degraded web does
        // (the gateway relays an answer: no error in its flow).
        if let Some(cause) = self.services[web].refusal() {
            let service = self.services[web].id.clone();
            let (source, endpoint) = (source.to_owned(), endpoint.to_owned());
            let refused = LogEvent::Request {
                service,
                identity: None,
                source,
                endpoint,
                status: 503,
                trace: Some(effect),
            };
            self.observe(t, refused);
            return Err(("503 web cannot do its work".into(), cause));
        }
        self.services[gw].rx_bytes += 600.0;
        self.services[web].rx_bytes += 600.0;
        self.services[web].requests_this_second += 1;
        let health = self.services[web].health;
        if self.rng.random::<f32>() > health {
            flow.errors += 1;
            let service = self.services[web].id.clone();
            return Err(("503 web overloaded".into(), Cause::Overloaded { service }));
        }
        Ok(())
    }

    /// This second of every running flood: its requests spread over the second, and one
    /// outcome (it succeeds while at least half its requests reach web), which carries the
    /// reason most of its failed requests met.
    pub(super) fn flood_second(&mut self, t: Millis) {
        let floods = std::mem::take(&mut self.floods);
        let mut keep = Vec::new();
        for flood in floods {
            if t > flood.until {
                continue;
            }
            let Flood {
                effect,
                ref source,
                rps,
                door,
                ..
            } = flood;
            let mut arrived = 0;
            let mut served = 0;
            // Why requests failed, in first-seen order so that ties resolve the same every run.
            let mut why: Vec<(Cause, u32)> = Vec::new();
            let web = self.services[door.web].id.clone();
            for k in 0..rps {
                // Spread over the coming second; the queue releases them in time order.
                let at = t + u64::from(k) * 1000 / u64::from(rps.max(1));
                let result = self.reach_web((true, door), source, (at, effect, &flood.endpoint));
                if let Err((_, cause)) = &result {
                    match why.iter_mut().find(|(c, _)| c == cause) {
                        Some((_, n)) => *n += 1,
                        None => why.push((cause.clone(), 1)),
                    }
                }
                let status = match result {
                    Ok(()) => {
                        served += 1;
                        200
                    }
                    Err((_, Cause::Overloaded { .. })) => 503,
                    Err(_) => continue,
                };
                arrived += 1;
                self.observe(
                    at,
                    LogEvent::Request {
                        service: web.clone(),
                        identity: None,
                        source: source.clone(),
                        endpoint: flood.endpoint.clone(),
                        status,
                        trace: Some(effect),
                    },
                );
            }
            let ok = arrived * 2 >= rps;
            let mut dominant: Option<(Cause, u32)> = None;
            for (c, n) in why {
                if dominant.as_ref().is_none_or(|(_, best)| n > *best) {
                    dominant = Some((c, n));
                }
            }
            self.push(
                t,
                LabOutput::Outcome(Outcome {
                    t_ms: t,
                    effect,
                    ok,
                    records: served,
                    detail: format!("{arrived}/{rps} requests reached web"),
                    cause: if ok { None } else { dominant.map(|(c, _)| c) },
                }),
            );
            keep.push(flood);
        }
        self.floods = keep;
    }

    /// Each gateway's flow log of the last second: one line per source.
    pub(super) fn flow_logs(&mut self, t: Millis) {
        for ((gw, source), f) in std::mem::take(&mut self.flows) {
            let gateway = self.services[gw].id.clone();
            let upstream = (self.topology.service(&gateway))
                .and_then(|g| self.topology.upstream_of(g))
                .map(|web| web.id.clone())
                .unwrap_or_default();
            self.observe(
                t,
                LogEvent::Flow {
                    service: gateway,
                    source,
                    upstream,
                    requests: f.requests,
                    denied: f.denied,
                    errors: f.errors,
                },
            );
        }
    }

    pub(super) fn isolate(&mut self, t: Millis, i: usize) -> Result<String, String> {
        if self.services[i].isolated {
            return Err("already isolated".into());
        }
        self.services[i].isolated = true;
        self.lifecycle(t, i, LifecycleState::Isolated);
        Ok("disconnected from all networks".into())
    }

    pub(super) fn reconnect(&mut self, t: Millis, i: usize) -> Result<String, String> {
        if !self.services[i].isolated {
            return Err("not isolated".into());
        }
        self.services[i].isolated = false;
        // Reconnecting connects every zone's network, those detached before too.
        self.services[i].detached.clear();
        self.lifecycle(t, i, LifecycleState::Reconnected);
        Ok("reconnected to its networks".into())
    }

    /// Whether services `a` and `b` still share a network: `Some(why not)` when every zone
    /// they share is one a trainee detached either of them from.
    pub(super) fn link_cut(&self, a: usize, b: usize) -> Option<Cause> {
        let topology = &self.topology;
        let a = topology.service(&self.services[a].id)?;
        let b = topology.service(&self.services[b].id)?;
        let attached = |s: &Service, zone: &str| self.is_attached(&s.id, zone);
        reach::link_cut(a, b, attached).map(|(service, zone)| Cause::Detached {
            service: service.into(),
            zone: zone.into(),
        })
    }

    pub(super) fn detach(&mut self, i: usize, zone: &str) -> Result<String, String> {
        if self.services[i].isolated {
            return Err(format!(
                "not attached to {zone} (already detached or isolated)"
            ));
        }
        if !self.services[i].detached.insert(zone.to_owned()) {
            return Err(format!("already detached from {zone}"));
        }
        Ok(format!("disconnected from the {zone} network"))
    }

    pub(super) fn attach(&mut self, i: usize, zone: &str) -> Result<String, String> {
        if self.services[i].isolated {
            return Err(ISOLATED_NOT_ATTACHED.into());
        }
        if !self.services[i].detached.remove(zone) {
            return Err(format!("not detached from {zone}"));
        }
        Ok(format!("connected to the {zone} network again"))
    }

    pub(super) fn block(&mut self, source: &str) -> Result<String, String> {
        if !self.blocked.insert(source.to_owned()) {
            return Err("already blocked".into());
        }
        Ok(format!("gateway blocks {source}"))
    }

    pub(super) fn unblock(&mut self, source: &str) -> Result<String, String> {
        if !self.blocked.remove(source) {
            return Err("not blocked".into());
        }
        Ok(format!("gateway lets {source} through again"))
    }
}
