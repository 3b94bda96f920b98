//! Lateral movement, as labd's pivot client and firewall role make it: code in one service
//! reaching another directly over a zone they share, or through the firewall between their
//! zones (which logs every crossing and refuses what no route allows or a segmentation
//! closed), or not at all where the networks do not connect.

use super::SimLab;
use crate::action::{Cause, EXFILTRATION_PATH};
use crate::format::scenario::Weakness;
use crate::format::topology::Role;
use crate::format::topology::Service;
use crate::observation::{LogEvent, Millis};
use crate::reach::{Way, detachment_on, scan_targets, scan_verdict, way_out, way_where};

/// What web answers an anonymous `GET` of `endpoint` (labd's web role does the same).
pub(super) fn anonymous_status(endpoint: &str, management: Option<&str>) -> u16 {
    let path = endpoint.split('?').next().unwrap_or(endpoint);
    let managed = management.is_some_and(|m| under(path, m));
    if path == "/public" || path.starts_with("/public/") || path == "/healthz" || managed {
        200
    } else if path == "/login" {
        405
    } else if path.starts_with("/admin/")
        || path.starts_with("/api/")
        || path.starts_with("/data/")
        || path == "/keys"
    {
        401
    } else {
        404
    }
}

/// Whether `path` is `prefix` or below it (`/actuator/env` under `/actuator`).
pub(super) fn under(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

impl SimLab {
    /// The management endpoint the web tier `web` (an index) still answers to anyone: an
    /// `ExposedManagement` weakness not fixed yet.
    pub(super) fn management_at(&self, web: usize) -> Option<String> {
        let id = &self.services[web].id;
        self.weaknesses.iter().find_map(|w| match w {
            Weakness::ExposedManagement { service, path } if service == id => Some(path.clone()),
            _ => None,
        })
    }

    /// A pivot: one outcome, telemetry at the firewall crossed and at the target.
    pub(super) fn pivot(&mut self, t: Millis, effect: u64, from: &str, to: &str, endpoint: &str) {
        match self.reach(t, effect, from, to, endpoint) {
            Ok(()) => self.outcome(t, effect, true, 0, format!("{to} answered")),
            Err(cause) => {
                let detail = format!("{to} not reached: {}", cause.summary());
                self.failed(t, effect, detail, cause);
            }
        }
    }

    /// A scan: a `GET /` to every company service of the zone; it succeeds when one answers.
    pub(super) fn scan(&mut self, t: Millis, effect: u64, from: &str, zone: &str) {
        let topology = self.topology.clone();
        let targets = scan_targets(&topology, from, zone);
        let mut reached = Vec::new();
        let mut first_failure = None;
        for target in &targets {
            match self.reach(t, effect, from, &target.id, "/") {
                Ok(()) => reached.push(target.id.as_str()),
                Err(cause) => {
                    first_failure.get_or_insert(cause);
                }
            }
        }
        match scan_verdict(zone, targets.len(), &reached, first_failure) {
            (Some(cause), detail) => self.failed(t, effect, detail, cause),
            (None, detail) => self.outcome(t, effect, true, reached.len() as u32, detail),
        }
    }

    /// One connection from `from` to `to` asking for `endpoint`: `Err(why)` when it does not
    /// arrive. The checks run in the order the real lab meets them: the origin must run code,
    /// then the network decides the way, then the firewall finds the target, then its routes.
    fn reach(
        &mut self,
        t: Millis,
        effect: u64,
        from: &str,
        to: &str,
        endpoint: &str,
    ) -> Result<(), Cause> {
        let topology = self.topology.clone();
        let (Some(from_svc), Some(to_svc)) = (topology.service(from), topology.service(to)) else {
            return Err(Cause::Lab);
        };
        // Logs name the path, as labd's do; the query only matters to the target.
        let path = endpoint.split('?').next().unwrap_or(endpoint);
        let (Some(f), Some(target)) = (self.idx(from), self.idx(to)) else {
            return Err(Cause::Lab);
        };
        if !self.services[f].reachable() {
            return Err(self.services[f].down_cause());
        }
        // A service that cannot do its work makes no calls of its own.
        if let Some(cause) = self.services[f].refusal() {
            return Err(cause);
        }
        let attached = |s: &Service, zone: &str| self.is_attached(&s.id, zone);
        match way_where(&topology, from_svc, to_svc, attached) {
            Way::Unreachable => {
                return Err(match detachment_on(&topology, from_svc, to_svc, attached) {
                    Some((service, zone)) => Cause::Detached {
                        service: service.into(),
                        zone: zone.into(),
                    },
                    None => Cause::NoRoute,
                });
            }
            Way::Direct { .. } => {
                if !self.services[target].reachable() {
                    return Err(self.services[target].down_cause());
                }
            }
            Way::Firewall {
                via,
                from_zone,
                to_zone,
                route,
            } => {
                let firewall = self.idx(&via.id).ok_or(Cause::Lab)?;
                if !self.services[firewall].reachable() {
                    return Err(self.services[firewall].down_cause());
                }
                let lost = self.services[target].isolated
                    || self.services[target].state == super::RunState::Stopped;
                let segmented = self
                    .segments
                    .contains(&(from_zone.to_string(), to_zone.to_string()));
                let allowed = !lost && !segmented && route.is_some_and(|r| r.allows(endpoint));
                self.services[firewall].rx_bytes += 400.0;
                self.observe(
                    t,
                    LogEvent::Crossing {
                        service: via.id.clone(),
                        from: from.to_string(),
                        from_zone: from_zone.to_string(),
                        to: to.to_string(),
                        to_zone: (!lost).then(|| to_zone.to_string()),
                        endpoint: path.to_string(),
                        bytes: 0,
                        allowed,
                        trace: Some(effect),
                    },
                );
                if lost {
                    return Err(self.services[target].down_cause());
                }
                if segmented {
                    return Err(Cause::Segmented {
                        from_zone: from_zone.to_string(),
                        to_zone: to_zone.to_string(),
                    });
                }
                if !allowed {
                    return Err(Cause::NoRoute);
                }
                if !self.services[target].reachable() {
                    return Err(self.services[target].down_cause());
                }
            }
        }
        self.services[target].rx_bytes += 400.0;
        let refusal = self.services[target].refusal();
        if self.services[target].role == Role::Web {
            let status = match refusal {
                Some(_) => 503,
                None => anonymous_status(path, self.management_at(target).as_deref()),
            };
            self.observe(
                t,
                LogEvent::Request {
                    service: to.to_string(),
                    identity: None,
                    source: from.to_string(),
                    endpoint: path.to_string(),
                    status,
                    trace: Some(effect),
                },
            );
        }
        // It answered, only to say it cannot do its work.
        refusal.map_or(Ok(()), Err)
    }

    /// An exfiltration: `bytes` posted from `from` to an address outside the lab. Lab networks
    /// have no route out, so it fails; the firewall of the zone, if any, logs the attempt.
    pub(super) fn exfiltrate(&mut self, t: Millis, effect: u64, from: &str, to: &str, bytes: u32) {
        let topology = self.topology.clone();
        let Some((f, from_svc)) = self.idx(from).zip(topology.service(from)) else {
            return self.failed(t, effect, format!("no container {from}"), Cause::Lab);
        };
        if !self.services[f].reachable() {
            let cause = self.services[f].down_cause();
            return self.failed(t, effect, "the code cannot run there", cause);
        }
        let Some((via, from_zone)) = way_out(&topology, from_svc) else {
            let detail = "no route out of the lab: the network refused";
            return self.failed(t, effect, detail, Cause::NoRoute);
        };
        if !self.is_attached(from, from_zone) {
            let cause = Cause::Detached {
                service: from.into(),
                zone: from_zone.into(),
            };
            return self.failed(
                t,
                effect,
                format!("{from} has no network in {from_zone}"),
                cause,
            );
        }
        let firewall = self.idx(&via.id).unwrap_or(f);
        if !self.services[firewall].reachable() {
            let cause = self.services[firewall].down_cause();
            return self.failed(t, effect, format!("{} did not answer", via.id), cause);
        }
        self.services[firewall].rx_bytes += bytes as f32;
        self.services[f].tx_bytes += bytes as f32;
        self.observe(
            t,
            LogEvent::Crossing {
                service: via.id.clone(),
                from: from.to_string(),
                from_zone: from_zone.to_string(),
                to: to.to_string(),
                to_zone: None,
                endpoint: EXFILTRATION_PATH.to_string(),
                bytes: u64::from(bytes),
                allowed: false,
                trace: Some(effect),
            },
        );
        let detail = format!("{} refused: {to} is outside every zone", via.id);
        self.failed(t, effect, detail, Cause::NoRoute);
    }

    /// Whether `service` still has its network in `zone` (the trainee may have detached it).
    pub(super) fn is_attached(&self, service: &str, zone: &str) -> bool {
        self.idx(service)
            .is_none_or(|i| !self.services[i].detached.contains(zone))
    }

    pub(super) fn segment(&mut self, from_zone: &str, to_zone: &str) -> Result<String, String> {
        if !self
            .segments
            .insert((from_zone.to_string(), to_zone.to_string()))
        {
            return Err("already segmented".into());
        }
        Ok(format!("the route from {from_zone} to {to_zone} is closed"))
    }

    pub(super) fn unsegment(&mut self, from_zone: &str, to_zone: &str) -> Result<String, String> {
        if !self
            .segments
            .remove(&(from_zone.to_string(), to_zone.to_string()))
        {
            return Err("not segmented".into());
        }
        Ok(format!(
            "the route from {from_zone} to {to_zone} is open again"
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::action::{Action, Effect, EffectKind, Mitigation, Origin};
    use crate::format;
    use crate::lab::{Lab, LabOutput};
    use crate::observation::ObservationBody;

    /// The SaaS lab: workers in `jobs`, the console in `ops`, the firewall between them and
    /// `data`, routes jobs→data (`/records` only) and ops→data.
    fn saas() -> SimLab {
        let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let topology = format::load_topology(&root.join("labs/topologies/saas.ron")).unwrap();
        let scenario = format::load_scenario(&root.join("scenarios/stolen-credentials.ron"), &root)
            .unwrap()
            .scenario;
        SimLab::new(Arc::new(topology), &scenario, 1)
    }

    fn run(lab: &mut SimLab, id: u64, kind: EffectKind) -> Vec<LabOutput> {
        let now = lab.now;
        let origin = Origin::Attack { step: "t".into() };
        lab.apply(now, &Effect { id, origin, kind });
        let mut out = Vec::new();
        lab.advance(now + 100, &mut out);
        out
    }

    fn pivot(lab: &mut SimLab, id: u64, from: &str, to: &str, endpoint: &str) -> Vec<LabOutput> {
        let action = Action::Pivot {
            from: from.into(),
            to: to.into(),
            endpoint: endpoint.into(),
        };
        run(lab, id, EffectKind::Act(action))
    }

    fn outcome(out: &[LabOutput]) -> (bool, Option<Cause>) {
        out.iter()
            .find_map(|o| match o {
                LabOutput::Outcome(o) => Some((o.ok, o.cause.clone())),
                _ => None,
            })
            .expect("an outcome")
    }

    fn events(out: &[LabOutput]) -> Vec<LogEvent> {
        out.iter()
            .filter_map(|o| match o {
                LabOutput::Observation(o) => match &o.body {
                    ObservationBody::Event(e) => Some(e.clone()),
                    ObservationBody::Metrics(_) => None,
                },
                _ => None,
            })
            .collect()
    }

    fn crossings(out: &[LabOutput]) -> Vec<(String, Option<String>, bool)> {
        events(out)
            .into_iter()
            .filter_map(|e| match e {
                LogEvent::Crossing {
                    service,
                    from_zone,
                    to_zone,
                    allowed,
                    ..
                } => {
                    assert_eq!(service, "firewall");
                    Some((from_zone, to_zone, allowed))
                }
                _ => None,
            })
            .collect()
    }

    fn segment(from_zone: &str, to_zone: &str) -> EffectKind {
        EffectKind::Mitigate(Mitigation::Segment {
            from_zone: from_zone.into(),
            to_zone: to_zone.into(),
        })
    }

    #[test]
    fn a_declared_route_lets_a_pivot_through_and_the_firewall_logs_the_crossing() {
        let mut lab = saas();
        let out = pivot(
            &mut lab,
            1,
            "invoice-worker",
            "ledger-db",
            "/records/invoices",
        );
        assert_eq!(outcome(&out), (true, None));
        assert_eq!(
            crossings(&out),
            [("jobs".into(), Some("data".into()), true)]
        );
    }

    #[test]
    fn a_path_outside_the_route_and_a_zone_without_one_are_refused_and_logged() {
        let mut lab = saas();
        // jobs→data allows /records only: the API's admin endpoints are out of bounds.
        let out = pivot(&mut lab, 1, "invoice-worker", "api", "/admin/users");
        assert_eq!(outcome(&out), (false, Some(Cause::NoRoute)));
        assert_eq!(
            crossings(&out),
            [("jobs".into(), Some("data".into()), false)]
        );
        assert!(
            !events(&out)
                .iter()
                .any(|e| matches!(e, LogEvent::Request { .. })),
            "the API never saw it"
        );
        // Nothing routes into ops: the firewall sits between jobs and ops and refuses.
        let out = pivot(&mut lab, 2, "invoice-worker", "ops-console", "/");
        assert_eq!(outcome(&out), (false, Some(Cause::NoRoute)));
        assert_eq!(
            crossings(&out),
            [("jobs".into(), Some("ops".into()), false)]
        );
    }

    #[test]
    fn services_sharing_a_zone_meet_directly_and_no_firewall_sees_it() {
        let mut lab = saas();
        let out = pivot(&mut lab, 1, "invoice-worker", "export-worker", "/");
        assert_eq!(outcome(&out), (true, None));
        assert!(crossings(&out).is_empty());
        // The API sits in data too: the datastore reaches it directly, and it logs the request.
        let out = pivot(&mut lab, 2, "ledger-db", "api", "/admin/users");
        assert_eq!(outcome(&out), (true, None));
        let requests: Vec<(String, u16)> = events(&out)
            .into_iter()
            .filter_map(|e| match e {
                LogEvent::Request { source, status, .. } => Some((source, status)),
                _ => None,
            })
            .collect();
        assert_eq!(requests, [("ledger-db".to_string(), 401)]);
    }

    #[test]
    fn segmenting_a_route_closes_it_names_the_cause_and_unsegmenting_reopens_it() {
        let mut lab = saas();
        let out = run(&mut lab, 1, segment("jobs", "data"));
        assert!(outcome(&out).0);
        let out = pivot(
            &mut lab,
            2,
            "invoice-worker",
            "ledger-db",
            "/records/invoices",
        );
        let closed = Cause::Segmented {
            from_zone: "jobs".into(),
            to_zone: "data".into(),
        };
        assert_eq!(outcome(&out), (false, Some(closed.clone())));
        assert!(closed.explained_by(&Mitigation::Segment {
            from_zone: "jobs".into(),
            to_zone: "data".into()
        }));
        assert_eq!(
            crossings(&out),
            [("jobs".into(), Some("data".into()), false)]
        );
        // The other route into data stays open.
        let out = pivot(&mut lab, 3, "ops-console", "ledger-db", "/records/invoices");
        assert_eq!(outcome(&out), (true, None));
        assert!(!outcome(&run(&mut lab, 4, segment("jobs", "data"))).0);
        let reopen = EffectKind::Mitigate(Mitigation::Unsegment {
            from_zone: "jobs".into(),
            to_zone: "data".into(),
        });
        assert!(outcome(&run(&mut lab, 5, reopen)).0);
        let out = pivot(
            &mut lab,
            6,
            "invoice-worker",
            "ledger-db",
            "/records/invoices",
        );
        assert_eq!(outcome(&out), (true, None));
    }

    #[test]
    fn an_isolated_origin_or_firewall_or_target_is_named_as_the_cause() {
        let isolate = |s: &str| EffectKind::Mitigate(Mitigation::Isolate { service: s.into() });
        for (who, seen_by_firewall) in [
            ("invoice-worker", false),
            ("firewall", false),
            ("ledger-db", true),
        ] {
            let mut lab = saas();
            assert!(outcome(&run(&mut lab, 1, isolate(who))).0);
            let out = pivot(&mut lab, 2, "invoice-worker", "ledger-db", "/records/x");
            let cause = Cause::Isolated {
                service: who.into(),
            };
            assert_eq!(outcome(&out), (false, Some(cause)), "{who}");
            // The firewall logs an attempt at a target it cannot find, with no zone.
            let expected = if seen_by_firewall {
                vec![("jobs".to_string(), None, false)]
            } else {
                vec![]
            };
            assert_eq!(crossings(&out), expected, "{who}");
        }
    }

    #[test]
    fn a_scan_tries_every_service_of_the_zone_and_succeeds_when_one_answers() {
        let mut lab = saas();
        let scan = EffectKind::Act(Action::Scan {
            from: "invoice-worker".into(),
            zone: "data".into(),
        });
        let out = run(&mut lab, 1, scan);
        // `/` is not under /records: the firewall refuses both.
        assert_eq!(outcome(&out), (false, Some(Cause::NoRoute)));
        assert_eq!(crossings(&out).len(), 2);
        let scan = EffectKind::Act(Action::Scan {
            from: "ops-console".into(),
            zone: "data".into(),
        });
        let out = run(&mut lab, 2, scan);
        let reached = out.iter().find_map(|o| match o {
            LabOutput::Outcome(o) => Some((o.ok, o.records)),
            _ => None,
        });
        assert_eq!(reached, Some((true, 2)), "the API and the datastore answer");
    }

    #[test]
    fn an_exfiltration_never_leaves_and_the_zones_firewall_logs_what_it_tried_to_carry() {
        let mut lab = saas();
        let exfiltrate = |from: &str| {
            EffectKind::Act(Action::Exfiltrate {
                from: from.into(),
                to: "203.0.113.5".into(),
                bytes: 250_000,
            })
        };
        let out = run(&mut lab, 1, exfiltrate("invoice-worker"));
        assert_eq!(outcome(&out), (false, Some(Cause::NoRoute)));
        let seen: Vec<(String, Option<String>, u64)> = events(&out)
            .into_iter()
            .filter_map(|e| match e {
                LogEvent::Crossing {
                    to, to_zone, bytes, ..
                } => Some((to, to_zone, bytes)),
                _ => None,
            })
            .collect();
        assert_eq!(seen, [("203.0.113.5".to_string(), None, 250_000)]);
        // The API's zones (app, data): data has the firewall.
        assert_eq!(crossings(&run(&mut lab, 2, exfiltrate("api"))).len(), 1);
        // The gateway's zones have no firewall: refused by the network, seen by nobody.
        let out = run(&mut lab, 3, exfiltrate("gateway"));
        assert_eq!(outcome(&out), (false, Some(Cause::NoRoute)));
        assert!(crossings(&out).is_empty());
    }

    #[test]
    fn web_answers_anonymous_requests_as_labd_does() {
        assert_eq!(anonymous_status("/public/home", None), 200);
        assert_eq!(anonymous_status("/healthz", None), 200);
        assert_eq!(anonymous_status("/login", None), 405);
        assert_eq!(anonymous_status("/admin/users", None), 401);
        assert_eq!(anonymous_status("/api/orders?x=1", None), 401);
        assert_eq!(anonymous_status("/keys", None), 401);
        assert_eq!(anonymous_status("/", None), 404);
        // A management endpoint answers only where it was left on, and only under its path.
        assert_eq!(anonymous_status("/actuator/env", None), 404);
        assert_eq!(anonymous_status("/actuator/env", Some("/actuator")), 200);
        assert_eq!(anonymous_status("/actuator", Some("/actuator")), 200);
        assert_eq!(anonymous_status("/actuators", Some("/actuator")), 404);
    }
}
