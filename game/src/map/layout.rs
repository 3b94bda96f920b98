//! Where the network map puts things: a pure function of the topology, so tests can check it.
//!
//! Trust zones become a grid of boxes: the column is the zone's distance from the outside
//! (zones are neighbours when a service sits in both), zones at the same distance stack, and
//! zones nothing reaches share the shortest column. Each company service is drawn in the first
//! zone it lists (its home). World units, y up, centred on the origin.

use std::collections::{BTreeMap, VecDeque};

use bevy::math::{Rect, Vec2};
use bulkhead_engine::format::topology::{Role, Topology};

use crate::bridge::FlowEnd;

/// Horizontal distance between nodes of one zone.
pub const NODE_SPACING: f32 = 132.0;
/// Radius of a node's disc.
pub const NODE_RADIUS: f32 = 30.0;
const ZONE_PAD: f32 = 24.0;
const ZONE_HEIGHT: f32 = 236.0;
const GAP: f32 = 24.0;
/// A zone with no company service (the Internet) still needs room for its label and ingress.
const EMPTY_ZONE_WIDTH: f32 = 124.0;
/// Nodes per row inside a zone before wrapping.
const PER_ROW: usize = 3;

#[derive(Debug, Clone, PartialEq)]
pub struct ZoneBox {
    pub id: String,
    pub title: String,
    pub outside: bool,
    pub center: Vec2,
    pub size: Vec2,
}

impl ZoneBox {
    pub fn rect(&self) -> Rect {
        Rect::from_center_size(self.center, self.size)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct NodeSpot {
    pub service: String,
    pub title: String,
    pub role: Role,
    pub zone: String,
    pub pos: Vec2,
}

/// A path traffic takes, drawn as a line with animated flows.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    pub from: FlowEnd,
    pub to: FlowEnd,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct MapLayout {
    pub zones: Vec<ZoneBox>,
    /// Company services in topology order (range-only machinery is not drawn).
    pub nodes: Vec<NodeSpot>,
    pub links: Vec<Link>,
    /// Where outside traffic enters the map (the first outside zone), if there is one.
    pub ingress: Option<Vec2>,
    /// Everything drawn, for framing the camera.
    pub bounds: Rect,
}

impl MapLayout {
    pub fn node(&self, service: &str) -> Option<&NodeSpot> {
        self.nodes.iter().find(|n| n.service == service)
    }

    /// World position of a flow end.
    pub fn position(&self, end: &FlowEnd) -> Option<Vec2> {
        match end {
            FlowEnd::Ingress => self.ingress,
            FlowEnd::Service(s) => self.node(s).map(|n| n.pos),
        }
    }

    /// The node under a world position, if any (clicks).
    pub fn node_at(&self, world: Vec2) -> Option<&NodeSpot> {
        self.nodes
            .iter()
            .filter(|n| n.pos.distance(world) <= NODE_RADIUS * 1.3)
            .min_by(|a, b| a.pos.distance(world).total_cmp(&b.pos.distance(world)))
    }
}

/// Lay the topology out on the map.
pub fn layout(topology: &Topology) -> MapLayout {
    let zone_ids: Vec<&str> = topology.zones.iter().map(|z| z.id.as_str()).collect();
    let index = |id: &str| zone_ids.iter().position(|z| *z == id);

    // Zones sharing a service are neighbours.
    let mut neighbours = vec![Vec::new(); zone_ids.len()];
    for s in &topology.services {
        let zs: Vec<usize> = s.zones.iter().filter_map(|z| index(z)).collect();
        for &a in &zs {
            for &b in &zs {
                if a != b && !neighbours[a].contains(&b) {
                    neighbours[a].push(b);
                }
            }
        }
    }
    let mut depth: Vec<Option<usize>> = vec![None; zone_ids.len()];
    let mut queue = VecDeque::new();
    for (i, z) in topology.zones.iter().enumerate() {
        if z.outside {
            depth[i] = Some(0);
            queue.push_back(i);
        }
    }
    if queue.is_empty() && !zone_ids.is_empty() {
        depth[0] = Some(0);
        queue.push_back(0);
    }
    while let Some(a) = queue.pop_front() {
        for &b in &neighbours[a] {
            if depth[b].is_none() {
                depth[b] = depth[a].map(|d| d + 1);
                queue.push_back(b);
            }
        }
    }
    let reached = depth.iter().flatten().copied().max().unwrap_or(0);
    let mut columns: Vec<Vec<usize>> = vec![Vec::new(); reached + 1];
    for (i, d) in depth.iter().enumerate() {
        if let Some(d) = d {
            columns[*d].push(i);
        }
    }
    // Unreached zones (isolated tenants) go where there is most room, never beside the Internet.
    for (i, d) in depth.iter().enumerate() {
        if d.is_none() {
            let col = (1..columns.len())
                .min_by_key(|&c| (columns[c].len(), std::cmp::Reverse(c)))
                .unwrap_or_else(|| {
                    columns.push(Vec::new());
                    columns.len() - 1
                });
            columns[col].push(i);
        }
    }

    // Company services per home zone.
    let mut homes: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (si, s) in topology.services.iter().enumerate() {
        if s.range_only {
            continue;
        }
        if let Some(z) = s.zones.first().and_then(|z| index(z)) {
            homes.entry(z).or_default().push(si);
        }
    }
    let zone_size = |z: usize| -> Vec2 {
        let n = homes.get(&z).map_or(0, Vec::len);
        if n == 0 {
            return Vec2::new(EMPTY_ZONE_WIDTH, ZONE_HEIGHT);
        }
        let per_row = n.min(PER_ROW);
        let rows = n.div_ceil(PER_ROW);
        Vec2::new(
            per_row as f32 * NODE_SPACING + ZONE_PAD,
            ZONE_HEIGHT + (rows - 1) as f32 * (ZONE_HEIGHT - 40.0),
        )
    };
    let col_width: Vec<f32> = columns
        .iter()
        .map(|c| c.iter().map(|&z| zone_size(z).x).fold(0.0, f32::max))
        .collect();
    let col_height: Vec<f32> = columns
        .iter()
        .map(|c| {
            c.iter().map(|&z| zone_size(z).y).sum::<f32>() + c.len().saturating_sub(1) as f32 * GAP
        })
        .collect();
    let total_h = col_height.iter().copied().fold(0.0, f32::max);
    let total_w = col_width.iter().sum::<f32>() + columns.len().saturating_sub(1) as f32 * GAP;

    let mut zones = Vec::new();
    let mut nodes = Vec::new();
    let mut x = -total_w / 2.0;
    for (c, col) in columns.iter().enumerate() {
        let w = col_width[c];
        // Zones of a column share its height, in proportion to what they hold.
        let natural: f32 = col.iter().map(|&z| zone_size(z).y).sum();
        let spare = total_h - col_height[c];
        let mut y = total_h / 2.0;
        for &z in col {
            let own = zone_size(z).y;
            let h = own + spare * own / natural.max(1.0);
            let center = Vec2::new(x + w / 2.0, y - h / 2.0);
            let zone = &topology.zones[z];
            zones.push(ZoneBox {
                id: zone.id.clone(),
                title: zone.title.clone(),
                outside: zone.outside,
                center,
                size: Vec2::new(w, h),
            });
            if let Some(members) = homes.get(&z) {
                let rows = members.len().div_ceil(PER_ROW);
                for (k, &si) in members.iter().enumerate() {
                    let (row, col_in_row) = (k / PER_ROW, k % PER_ROW);
                    let in_row = (members.len() - row * PER_ROW).min(PER_ROW);
                    let dx = (col_in_row as f32 - (in_row as f32 - 1.0) / 2.0) * NODE_SPACING;
                    let dy = -((row as f32) - (rows as f32 - 1.0) / 2.0) * (ZONE_HEIGHT - 40.0);
                    let s = &topology.services[si];
                    nodes.push((
                        si,
                        NodeSpot {
                            service: s.id.clone(),
                            title: s.title.clone(),
                            role: s.role,
                            zone: zone.id.clone(),
                            // A little below the centre: the zone's title sits on top.
                            pos: center + Vec2::new(dx, dy - 4.0),
                        },
                    ));
                }
            }
            y -= h + GAP;
        }
        x += w + GAP;
    }
    nodes.sort_by_key(|(si, _)| *si);
    let nodes: Vec<NodeSpot> = nodes.into_iter().map(|(_, n)| n).collect();

    let ingress = zones.iter().find(|z| z.outside).map(|z| z.center);
    // The request paths: Internet → each gateway → its web tier → that tier's datastore.
    let mut links = Vec::new();
    for gateway in topology.services_with_role(Role::Gateway) {
        let web = topology.upstream_of(gateway);
        let store = web.and_then(|w| topology.upstream_of(w));
        let path = [
            ingress.map(|_| FlowEnd::Ingress),
            Some(FlowEnd::Service(gateway.id.clone())),
            web.map(|w| FlowEnd::Service(w.id.clone())),
            store.map(|d| FlowEnd::Service(d.id.clone())),
        ];
        for pair in path.windows(2) {
            if let [Some(a), Some(b)] = pair {
                let link = Link {
                    from: a.clone(),
                    to: b.clone(),
                };
                // Two gateways to one tier, or two tiers on one store, share a link.
                if !links.contains(&link) {
                    links.push(link);
                }
            }
        }
    }
    let bounds = zones
        .iter()
        .map(ZoneBox::rect)
        .reduce(|a, b| a.union(b))
        .unwrap_or_default();
    MapLayout {
        zones,
        nodes,
        links,
        ingress,
        bounds,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn company() -> Topology {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        bulkhead_engine::format::load_topology(&root.join("labs/topologies/company.ron")).unwrap()
    }

    /// Every shipped topology, and a crowded one: 16 company services, 12 of them in one zone,
    /// across five zones chained through services in two zones each.
    fn topologies() -> Vec<Topology> {
        let mut all: Vec<Topology> = bulkhead_engine::format::builtin::TOPOLOGIES
            .iter()
            .map(|b| {
                let file = bulkhead_engine::format::load::SourceFile::new(b.path, b.text);
                bulkhead_engine::format::topology_from_source(&file).unwrap()
            })
            .collect();
        let mut crowded = company();
        let template = crowded.service("tenant-a").unwrap().clone();
        for i in 0..11 {
            let mut s = template.clone();
            s.id = format!("worker-{i}");
            s.zones = vec![if i < 10 { "tenants" } else { "data" }.into()];
            crowded.services.push(s);
        }
        all.push(crowded);
        all
    }

    #[test]
    fn every_company_service_sits_inside_its_home_zone_and_machinery_is_hidden() {
        for t in topologies() {
            let map = layout(&t);
            let company: Vec<_> = t.services.iter().filter(|s| !s.range_only).collect();
            assert_eq!(map.nodes.len(), company.len(), "{}", t.id);
            for (node, service) in map.nodes.iter().zip(&company) {
                assert_eq!(node.service, service.id);
                let zone = map.zones.iter().find(|z| z.id == node.zone).unwrap();
                let inner = zone.rect().inflate(-NODE_RADIUS);
                assert!(
                    inner.contains(node.pos),
                    "{}: {} outside {}",
                    t.id,
                    node.service,
                    zone.id
                );
                assert_eq!(Some(&node.zone), service.zones.first());
            }
            assert!(map.node("attacker").is_none() && map.node("traffic").is_none());
            assert_eq!(map.zones.len(), t.zones.len());
        }
    }

    #[test]
    fn zones_and_nodes_do_not_overlap_and_the_internet_is_leftmost() {
        let all = topologies();
        assert!(
            all.iter()
                .any(|t| t.services.iter().filter(|s| !s.range_only).count() >= 16)
        );
        for t in all {
            let map = layout(&t);
            for (i, a) in map.zones.iter().enumerate() {
                for b in &map.zones[i + 1..] {
                    let overlap = a.rect().intersect(b.rect());
                    assert!(overlap.is_empty(), "{}: {} overlaps {}", t.id, a.id, b.id);
                }
            }
            for (i, a) in map.nodes.iter().enumerate() {
                for b in &map.nodes[i + 1..] {
                    assert!(
                        a.pos.distance(b.pos) > 2.5 * NODE_RADIUS,
                        "{}: {} and {} crowd each other",
                        t.id,
                        a.service,
                        b.service
                    );
                }
            }
            let outside = map.zones.iter().find(|z| z.outside).unwrap();
            assert!(map.zones.iter().all(|z| z.center.x >= outside.center.x));
            assert_eq!(map.ingress, Some(outside.center));
            // Internet → each gateway → its web tier → that tier's datastore, as declared.
            let gateways = t.services_with_role(Role::Gateway).count();
            let from_internet = map.links.iter().filter(|l| l.from == FlowEnd::Ingress);
            assert_eq!(from_internet.count(), gateways, "{}", t.id);
            assert_eq!(map.links.len(), 3 * gateways, "{}: {:?}", t.id, map.links);
            for link in &map.links {
                if let (FlowEnd::Service(a), FlowEnd::Service(b)) = (&link.from, &link.to) {
                    let next = t.service(a).and_then(|a| t.upstream_of(a));
                    assert_eq!(next.map(|n| n.id.as_str()), Some(b.as_str()), "{}", t.id);
                }
            }
            assert!(map.bounds.contains(Vec2::ZERO));
            assert!((map.bounds.center()).length() < 1.0);
        }
    }

    #[test]
    fn clicks_find_the_nearest_node_only_near_it() {
        let map = layout(&company());
        let web = map.node("web").unwrap().pos;
        assert_eq!(
            map.node_at(web + Vec2::new(5.0, -5.0)).unwrap().service,
            "web"
        );
        assert!(
            map.node_at(web + Vec2::new(0.0, NODE_RADIUS * 2.0))
                .is_none()
        );
    }
}
