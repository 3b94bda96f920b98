//! Attribution: naming the entities the scenario asks for. Naming one the attack did not
//! involve (the same definition alert truth and the innocent-mitigated penalty use, fired
//! injects included) costs 25. An attack the trainee's fixes prevented left nobody to name,
//! and earns the whole of it (see `prevention`).

use std::collections::BTreeSet;

use crate::format::scenario::Scenario;
use crate::format::topology::Topology;
use crate::observation::EntityRef;

use super::history::History;
use super::prevention::Prevented;
use super::{ATTRIBUTION, ScoreLine, line};
use crate::involvement::involved_in_attack_with;

const UNINVOLVED_NAMED: f64 = -25.0;

pub(super) fn score(
    h: &History,
    scenario: &Scenario,
    topology: &Topology,
    prevented: Option<&Prevented>,
) -> Vec<ScoreLine> {
    let expected: BTreeSet<&EntityRef> = scenario.objectives.attribute.iter().collect();
    let involved = involved_in_attack_with(scenario, topology, &h.fired);
    let per = ATTRIBUTION / expected.len().max(1) as f64;
    let mut lines = Vec::new();
    // A prevented attack is credited with what there was to name, not more.
    let prevented = prevented.filter(|_| !expected.is_empty());
    if let Some(p) = prevented {
        let why = format!("nothing reached the lab to name: {}", p.why());
        lines.push(line(ATTRIBUTION, why));
    }
    for e in expected.iter().filter(|_| prevented.is_none()) {
        if h.attributed.contains(e) {
            lines.push(line(per, format!("named {e}")));
        } else {
            lines.push(line(0.0, format!("did not name {e}")));
        }
    }
    for e in h.attributed.iter().filter(|e| !expected.contains(e)) {
        if involved.contains(e) {
            lines.push(line(
                0.0,
                format!("named {e}: involved, but not one asked for"),
            ));
        } else {
            lines.push(line(
                UNINVOLVED_NAMED,
                format!("named {e}, which the attack did not involve"),
            ));
        }
    }
    if expected.is_empty() && h.attributed.is_empty() {
        lines.push(line(0.0, "nothing to attribute in this scenario"));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use crate::observation::EntityRef;

    #[test]
    fn naming_everyone_involved_earns_everything_and_innocents_cost() {
        let mut r = Rec::new();
        assert_eq!(points(&r.score(), "attribution"), 0);
        r.attribute(at_live(40), EntityRef::Source(INTRUDER.into()));
        assert_eq!(points(&r.score(), "attribution"), 50);
        r.attribute(at_live(41), EntityRef::Identity("alice".into()));
        assert_eq!(points(&r.score(), "attribution"), 100);
        r.attribute(at_live(42), EntityRef::Identity("carol".into()));
        let card = r.score();
        assert_eq!(points(&card, "attribution"), 75);
        assert!(text(&card, "attribution").contains("did not involve"));
    }

    #[test]
    fn naming_an_involved_target_not_asked_for_costs_nothing() {
        let mut r = Rec::new();
        // The scrape drains the datastore: involved, though the scenario does not ask for it.
        r.attribute(at_live(42), EntityRef::Service("datastore".into()));
        assert_eq!(points(&r.score(), "attribution"), 0);
        assert!(text(&r.score(), "attribution").contains("not one asked for"));
    }
}
