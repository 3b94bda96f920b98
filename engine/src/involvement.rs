//! Who and what an attack step involves, and what its attempts pass through: the one
//! definition that alert truth, attribution, the innocent-mitigated penalty, containment and
//! the scenario validator all read.

use std::collections::BTreeSet;

use crate::action::Action;
use crate::format::scenario::Scenario;
use crate::format::topology::{Role, Topology};
use crate::observation::EntityRef;

fn role(topology: &Topology, role: Role) -> Option<EntityRef> {
    topology
        .services_with_role(role)
        .next()
        .map(|s| EntityRef::Service(s.id.clone()))
}

/// The entities an action involves: who acts (identity, source), where it runs (the container
/// of an exec or a job) and what it is aimed at (the tiers a flood hits, the datastore a read
/// drains). An alert about one of these, while the step acts, is about the step; naming or
/// mitigating one of them is never "touching an innocent".
pub fn involved(action: &Action, topology: &Topology) -> BTreeSet<EntityRef> {
    let mut set: BTreeSet<EntityRef> = action.entities().into_iter().collect();
    let targets: &[Role] = match action {
        Action::Flood { .. } => &[Role::Gateway, Role::Web],
        Action::ReadData { .. } => &[Role::Datastore],
        _ => &[],
    };
    set.extend(targets.iter().filter_map(|r| role(topology, *r)));
    set
}

/// The entities an action's attempts depend on: what it involves plus every company service it
/// passes through. A mitigation on one of these can be what made an attempt fail.
pub fn path(action: &Action, topology: &Topology) -> BTreeSet<EntityRef> {
    let mut set = involved(action, topology);
    let through: &[Role] = match action {
        Action::Login { .. }
        | Action::Request { .. }
        | Action::CreateKey { .. }
        | Action::Flood { .. } => &[Role::Gateway, Role::Web],
        Action::ReadData { .. } => &[Role::Gateway, Role::Web, Role::Datastore],
        Action::Exec { .. } | Action::Hog { .. } | Action::Backup { .. } => &[],
    };
    set.extend(through.iter().filter_map(|r| role(topology, *r)));
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
