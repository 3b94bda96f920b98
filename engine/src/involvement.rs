//! Who and what an attack step involves, and what its attempts pass through: the one
//! definition that alert truth, attribution, the innocent-mitigated penalty, containment and
//! the scenario validator all read.

use std::collections::BTreeSet;

use crate::action::Action;
use crate::format::scenario::{Scenario, Step};
use crate::format::topology::{Service, Topology};
use crate::observation::EntityRef;
use crate::reach::{Way, scan_targets, way, way_out};

/// The tiers a request through the front door passes: the gateway, the web tier and, for a
/// read, the datastore behind it.
fn front_door_tiers(action: &Action, topology: &Topology) -> Vec<EntityRef> {
    if !action.through_front_door() {
        return Vec::new();
    }
    let Some((gateway, web)) = topology.front_door(action.via()) else {
        return Vec::new();
    };
    let mut tiers = vec![gateway, web];
    if matches!(action, Action::ReadData { .. }) {
        tiers.extend(topology.upstream_of(web));
    }
    tiers
        .into_iter()
        .map(|s| EntityRef::Service(s.id.clone()))
        .collect()
}

/// The entities an action involves: who acts (identity, source), where it runs (the container
/// of an exec or a job) and what it is aimed at (the tiers a flood hits, the datastore a read
/// drains, the services a scan tries). Lateral movement also involves the zone it leaves, the
/// one a segmentation closes. An alert about one of these, while the step acts, is about the
/// step; naming or mitigating one of them is never "touching an innocent".
pub fn involved(action: &Action, topology: &Topology) -> BTreeSet<EntityRef> {
    let mut set: BTreeSet<EntityRef> = action.entities().into_iter().collect();
    let tiers = front_door_tiers(action, topology);
    match action {
        // A flood is aimed at the tiers it floods, a read at the datastore it drains.
        Action::Flood { .. } => set.extend(tiers.into_iter().take(2)),
        Action::ReadData { .. } => set.extend(tiers.into_iter().skip(2)),
        _ => {}
    }
    set.extend(movement(action, topology));
    set
}

/// The ways lateral movement takes: to each service it tries, and how it gets there.
fn ways<'a>(action: &'a Action, topology: &'a Topology) -> Vec<(&'a str, Way<'a>)> {
    let Some(from) = (match action {
        Action::Pivot { from, .. } | Action::Scan { from, .. } => topology.service(from),
        _ => None,
    }) else {
        return Vec::new();
    };
    let targets: Vec<&Service> = match action {
        Action::Pivot { to, .. } => topology.service(to).into_iter().collect(),
        Action::Scan { zone, .. } => scan_targets(topology, &from.id, zone),
        _ => Vec::new(),
    };
    targets
        .into_iter()
        .map(|t| (t.id.as_str(), way(topology, from, t)))
        .collect()
}

/// What lateral movement involves: the services a scan tries and every zone it leaves
/// through a firewall (the one a segmentation closes).
fn movement(action: &Action, topology: &Topology) -> Vec<EntityRef> {
    let scan = matches!(action, Action::Scan { .. });
    let mut out = Vec::new();
    for (target, w) in ways(action, topology) {
        if scan {
            out.push(EntityRef::Service(target.to_string()));
        }
        if let Way::Firewall { from_zone, .. } = w {
            out.push(EntityRef::Zone(from_zone.to_string()));
        }
    }
    out
}

/// The entities an action's attempts depend on: what it involves plus every company service it
/// passes through. A mitigation on one of these can be what made an attempt fail.
pub fn path(action: &Action, topology: &Topology) -> BTreeSet<EntityRef> {
    let mut set = involved(action, topology);
    set.extend(front_door_tiers(action, topology));
    // Lateral movement passes the firewalls between the zones it crosses; an exfiltration the
    // firewall of its zone.
    set.extend(
        ways(action, topology)
            .into_iter()
            .filter_map(|(_, w)| match w {
                Way::Firewall { via, .. } => Some(EntityRef::Service(via.id.clone())),
                _ => None,
            }),
    );
    if let Action::Exfiltrate { from, .. } = action
        && let Some((via, _)) = topology.service(from).and_then(|f| way_out(topology, f))
    {
        set.insert(EntityRef::Service(via.id.clone()));
    }
    set
}

/// The entities a step's attempts depend on: its action's path, and the service whose weakness
/// it exploits (a fix there is what made an attempt fail, wherever the action went).
pub fn step_path(step: &Step, topology: &Topology) -> BTreeSet<EntityRef> {
    let mut set = path(&step.action, topology);
    if let Some(exploited) = &step.exploits {
        set.insert(EntityRef::Service(exploited.service.clone()));
    }
    set
}

/// Every entity any attack step of the scenario involves (injects left out: they may never
/// fire, so the scenario's objectives cannot rely on them).
pub fn involved_in_attack(scenario: &Scenario, topology: &Topology) -> BTreeSet<EntityRef> {
    involved_in_attack_with(scenario, topology, &[])
}

/// Every entity the attack involved, with the attack steps of the injects a mentor fired.
pub fn involved_in_attack_with(
    scenario: &Scenario,
    topology: &Topology,
    fired: &[String],
) -> BTreeSet<EntityRef> {
    scenario
        .attack_steps(fired)
        .flat_map(|s| involved(&s.action, topology))
        .collect()
}
