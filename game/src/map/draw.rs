//! Spawning and animating the map's shapes: zones as tinted boxes, nodes as discs with a role
//! icon, live state, cpu and memory gauges, an alert ring that pulses, and dots that run along
//! links at the rate traffic was observed.
//!
//! Everything is a sprite. Round shapes use small textures anti-aliased when they are made, so
//! the camera can run without MSAA: under a software rasterizer MSAA halves the frame rate.

use bevy::asset::RenderAssetUsages;
use bevy::image::{CompressedImageFormats, ImageSampler, ImageType};
use bevy::prelude::*;
use bevy::render::render_resource::{Extent3d, TextureDimension, TextureFormat};
use bevy::sprite::Anchor;
use bevy::text::{Justify, LineBreak, TextBounds, TextLayout};
use bulkhead_engine::format::rules::Severity;
use bulkhead_engine::format::topology::{Role, Topology};
use bulkhead_engine::{EntityRef, Verdict};

use crate::bridge::SessionView;
use crate::live::LiveUi;
use crate::map::layout::{NODE_RADIUS, NODE_SPACING, layout};
use crate::map::{MapState, camera};
use crate::screens::Screen;
use crate::theme;

/// Dots per link: enough to show a flood, few enough to stay cheap.
const DOTS: usize = 10;
/// Share of a link a dot covers per second.
const DOT_SPEED: f32 = 0.55;
/// Escalated alerts keep a node pulsing while they recurred this recently (session time).
const PULSE_MS: u64 = 60_000;
const GAUGE_W: f32 = 66.0;
const GAUGE_H: f32 = 6.0;
/// Alert ring and selection ring, as (inner, outer) radii.
const ALERT_RING: (f32, f32) = (NODE_RADIUS + 3.0, NODE_RADIUS + 8.0);
const SELECT_RING: (f32, f32) = (NODE_RADIUS + 10.0, NODE_RADIUS + 12.5);

/// The disc colour of a running node (render tests look for it).
pub const DISC: Color = Color::srgb_u8(0x1f, 0x2e, 0x3e);

/// Textures of the map: role icons (drawn by `assets/icons/make_icons.py`, embedded so no asset
/// path can be wrong at run time) and anti-aliased shapes made at start-up.
#[derive(Resource)]
struct Art {
    gateway: Handle<Image>,
    web: Handle<Image>,
    datastore: Handle<Image>,
    worker: Handle<Image>,
    internet: Handle<Image>,
    disc: Handle<Image>,
    alert_ring: Handle<Image>,
    select_ring: Handle<Image>,
    line: Handle<Image>,
}

impl Art {
    fn icon(&self, role: Role) -> Handle<Image> {
        match role {
            // A firewall is a gateway between inside zones: the same kind of box.
            Role::Gateway | Role::Firewall => self.gateway.clone(),
            Role::Web => self.web.clone(),
            Role::Datastore => self.datastore.clone(),
            _ => self.worker.clone(),
        }
    }
}

fn png(images: &mut Assets<Image>, bytes: &[u8]) -> Handle<Image> {
    match Image::from_buffer(
        bytes,
        ImageType::Extension("png"),
        CompressedImageFormats::NONE,
        true,
        ImageSampler::linear(),
        RenderAssetUsages::RENDER_WORLD,
    ) {
        Ok(image) => images.add(image),
        // A broken icon is cosmetic: draw nothing rather than fail the game.
        Err(_) => Handle::default(),
    }
}

/// A white ring (or disc, with `inner` 0) whose radii are fractions of half the texture, with
/// edges anti-aliased over one texel.
fn ring(images: &mut Assets<Image>, size: u32, inner: f32) -> Handle<Image> {
    let half = size as f32 / 2.0;
    let (r_out, r_in) = (half - 1.0, inner * (half - 1.0));
    let mut data = Vec::with_capacity((size * size * 4) as usize);
    for y in 0..size {
        for x in 0..size {
            let d = Vec2::new(x as f32 + 0.5 - half, y as f32 + 0.5 - half).length();
            let outside = (r_out - d + 0.5).clamp(0.0, 1.0);
            let hole = if inner > 0.0 {
                (d - r_in + 0.5).clamp(0.0, 1.0)
            } else {
                1.0
            };
            data.extend_from_slice(&[255, 255, 255, (255.0 * outside * hole) as u8]);
        }
    }
    images.add(texture(size, size, data))
}

/// A white bar that fades out across its width, for smooth links at any angle.
fn line(images: &mut Assets<Image>) -> Handle<Image> {
    let profile = [0u8, 90, 255, 255, 255, 255, 90, 0];
    let mut data = Vec::new();
    for a in profile {
        for _ in 0..4 {
            data.extend_from_slice(&[255, 255, 255, a]);
        }
    }
    images.add(texture(4, profile.len() as u32, data))
}

fn texture(width: u32, height: u32, data: Vec<u8>) -> Image {
    let mut image = Image::new(
        Extent3d {
            width,
            height,
            depth_or_array_layers: 1,
        },
        TextureDimension::D2,
        data,
        TextureFormat::Rgba8UnormSrgb,
        RenderAssetUsages::RENDER_WORLD,
    );
    image.sampler = ImageSampler::linear();
    image
}

fn load_art(mut commands: Commands, mut images: ResMut<Assets<Image>>) {
    let images = images.as_mut();
    commands.insert_resource(Art {
        gateway: png(images, include_bytes!("../../../assets/icons/gateway.png")),
        web: png(images, include_bytes!("../../../assets/icons/web.png")),
        datastore: png(
            images,
            include_bytes!("../../../assets/icons/datastore.png"),
        ),
        worker: png(images, include_bytes!("../../../assets/icons/worker.png")),
        internet: png(images, include_bytes!("../../../assets/icons/internet.png")),
        disc: ring(images, 128, 0.0),
        alert_ring: ring(images, 160, ALERT_RING.0 / ALERT_RING.1),
        select_ring: ring(images, 192, SELECT_RING.0 / SELECT_RING.1),
        line: line(images),
    });
}

pub fn plugin(app: &mut App) {
    app.add_systems(Startup, load_art)
        .add_systems(OnEnter(Screen::Live), spawn)
        .add_systems(OnExit(Screen::Live), camera::reset)
        .add_systems(
            Update,
            (node_state, alert_rings, selection, gauges, flows)
                .after(crate::bridge::BridgeSet)
                .run_if(in_state(Screen::Live)),
        );
}

/// Parts of a node that change with its state; each knows its service.
#[derive(Component)]
struct Disc(String);
#[derive(Component)]
struct AlertRing(String);
#[derive(Component)]
struct SelectRing(String);
#[derive(Component)]
struct StateLabel(String);
#[derive(Component)]
struct Gauge {
    service: String,
    memory: bool,
}
#[derive(Component)]
struct NodeIcon(String);
#[derive(Component)]
struct LinkLine(usize);
#[derive(Component)]
struct FlowDot {
    link: usize,
    k: usize,
}

/// (fill, border, title) of a zone.
fn zone_colors(outside: bool, id: &str) -> (Color, Color, Color) {
    if outside {
        (
            Color::srgb_u8(0x22, 0x17, 0x1c),
            Color::srgb_u8(0x5a, 0x2e, 0x36),
            Color::srgb_u8(0xe0, 0x8a, 0x8f),
        )
    } else if id.contains("tenant") {
        (
            Color::srgb_u8(0x1b, 0x19, 0x2b),
            Color::srgb_u8(0x3d, 0x36, 0x62),
            Color::srgb_u8(0xb4, 0xa8, 0xf0),
        )
    } else {
        (
            Color::srgb_u8(0x15, 0x20, 0x2b),
            Color::srgb_u8(0x2a, 0x3d, 0x50),
            Color::srgb_u8(0x8f, 0xb4, 0xd8),
        )
    }
}

fn role_color(role: Role) -> Color {
    theme::to_bevy(match role {
        Role::Gateway | Role::Firewall => theme::ACCENT,
        Role::Web => theme::BLUE,
        Role::Datastore => theme::VIOLET,
        _ => bevy_egui::egui::Color32::from_rgb(0x7f, 0xc8, 0x8c),
    })
}

/// A node's name on the map: its number (the key that selects it) and its service.
fn node_label(index: usize, service: &str) -> String {
    format!("{} {service}", index + 1)
}

/// A node's label as large as fits between it and its neighbours: long service names at the
/// full size ran into the next node's ("invoice-worker" beside "export-worker"). The map's font
/// (Bevy's default, Fira Mono) advances 0.6 em per character.
fn node_label_size(label: &str) -> f32 {
    const FULL: f32 = 18.0;
    const SMALLEST: f32 = 12.0;
    let room = NODE_SPACING - 6.0;
    (room / (0.6 * label.chars().count().max(1) as f32)).clamp(SMALLEST, FULL)
}

fn text(value: impl Into<String>, size: f32, color: Color) -> (Text2d, TextFont, TextColor) {
    (
        Text2d::new(value),
        TextFont::from_font_size(size),
        TextColor(color),
    )
}

fn sprite(image: &Handle<Image>, color: Color, size: Vec2) -> Sprite {
    Sprite {
        image: image.clone(),
        color,
        custom_size: Some(size),
        ..default()
    }
}

fn spawn(
    mut commands: Commands,
    view: Res<SessionView>,
    art: Option<Res<Art>>,
    mut map: ResMut<MapState>,
) {
    let (Some(brief), Some(art)) = (&view.brief, art) else {
        return;
    };
    let topology: &Topology = &brief.topology;
    map.layout = layout(topology);
    let l = &map.layout;
    let scoped = DespawnOnExit(Screen::Live);
    let at = |p: Vec2, z: f32| Transform::from_translation(p.extend(z));

    for zone in &l.zones {
        let (fill, border, title) = zone_colors(zone.outside, &zone.id);
        commands.spawn((
            Sprite::from_color(fill, zone.size),
            at(zone.center, 0.1),
            scoped.clone(),
        ));
        // The border as four edges, not a box under the fill: half the pixels to draw.
        let (w, h) = (zone.size.x / 2.0, zone.size.y / 2.0);
        for (offset, size) in [
            (Vec2::new(0.0, h), Vec2::new(zone.size.x + 2.0, 2.0)),
            (Vec2::new(0.0, -h), Vec2::new(zone.size.x + 2.0, 2.0)),
            (Vec2::new(-w, 0.0), Vec2::new(2.0, zone.size.y + 2.0)),
            (Vec2::new(w, 0.0), Vec2::new(2.0, zone.size.y + 2.0)),
        ] {
            commands.spawn((
                Sprite::from_color(border, size),
                at(zone.center + offset, 0.2),
                scoped.clone(),
            ));
        }
        let top_left = zone.center + Vec2::new(-zone.size.x / 2.0 + 10.0, zone.size.y / 2.0 - 8.0);
        commands.spawn((
            text(zone.title.to_uppercase(), 13.0, title),
            Anchor::TOP_LEFT,
            TextBounds::new_horizontal(zone.size.x - 20.0),
            TextLayout::new(Justify::Left, LineBreak::WordBoundary),
            at(top_left, 5.0),
            scoped.clone(),
        ));
    }

    if let Some(p) = l.ingress {
        commands.spawn((
            sprite(
                &art.internet,
                Color::srgb_u8(0xc0, 0x80, 0x86),
                Vec2::splat(44.0),
            ),
            at(p, 3.0),
            scoped.clone(),
        ));
        commands.spawn((
            text("any source", 13.0, Color::srgb_u8(0xa0, 0x70, 0x76)),
            Anchor::TOP_CENTER,
            at(p + Vec2::new(0.0, -26.0), 5.0),
            scoped.clone(),
        ));
    }

    for (i, link) in l.links.iter().enumerate() {
        let (Some(a), Some(b)) = (l.position(&link.from), l.position(&link.to)) else {
            continue;
        };
        let d = b - a;
        commands.spawn((
            sprite(
                &art.line,
                theme::to_bevy(theme::LINE),
                Vec2::new(d.length(), 6.0),
            ),
            at((a + b) / 2.0, 1.0).with_rotation(Quat::from_rotation_z(d.y.atan2(d.x))),
            LinkLine(i),
            scoped.clone(),
        ));
        for k in 0..DOTS {
            commands.spawn((
                sprite(&art.disc, theme::to_bevy(theme::ACCENT), Vec2::splat(8.0)),
                at(a, 2.0),
                Visibility::Hidden,
                FlowDot { link: i, k },
                scoped.clone(),
            ));
        }
    }

    for (i, node) in l.nodes.iter().enumerate() {
        let id = node.service.clone();
        let here = |offset: Vec2, z: f32| at(node.pos + offset, z);
        commands.spawn((
            sprite(
                &art.select_ring,
                theme::to_bevy(theme::ACCENT),
                Vec2::splat(SELECT_RING.1 * 2.0),
            ),
            here(Vec2::ZERO, 3.0),
            Visibility::Hidden,
            SelectRing(id.clone()),
            scoped.clone(),
        ));
        commands.spawn((
            sprite(
                &art.alert_ring,
                theme::to_bevy(theme::BAD),
                Vec2::splat(ALERT_RING.1 * 2.0),
            ),
            here(Vec2::ZERO, 3.1),
            Visibility::Hidden,
            AlertRing(id.clone()),
            scoped.clone(),
        ));
        commands.spawn((
            sprite(&art.disc, DISC, Vec2::splat(NODE_RADIUS * 2.0)),
            here(Vec2::ZERO, 3.2),
            Disc(id.clone()),
            scoped.clone(),
        ));
        commands.spawn((
            sprite(
                &art.icon(node.role),
                role_color(node.role),
                Vec2::splat(NODE_RADIUS * 1.25),
            ),
            here(Vec2::ZERO, 3.3),
            NodeIcon(id.clone()),
            scoped.clone(),
        ));
        let label = node_label(i, &node.service);
        commands.spawn((
            text(
                label.clone(),
                node_label_size(&label),
                theme::to_bevy(theme::TEXT),
            ),
            Anchor::TOP_CENTER,
            here(Vec2::new(0.0, -NODE_RADIUS - 6.0), 5.0),
            scoped.clone(),
        ));
        commands.spawn((
            text("", 14.0, theme::to_bevy(theme::WARN)),
            Anchor::BOTTOM_CENTER,
            here(Vec2::new(0.0, NODE_RADIUS + 16.0), 5.0),
            StateLabel(id.clone()),
            scoped.clone(),
        ));
        for (row, memory) in [(0.0, false), (1.0, true)] {
            let y = -NODE_RADIUS - 36.0 - row * (GAUGE_H + 5.0);
            commands.spawn((
                Sprite::from_color(
                    Color::srgb_u8(0x0b, 0x10, 0x16),
                    Vec2::new(GAUGE_W, GAUGE_H),
                ),
                here(Vec2::new(0.0, y), 4.0),
                scoped.clone(),
            ));
            // The fill grows from the gauge's left edge.
            commands.spawn((
                Sprite::from_color(
                    theme::to_bevy(if memory { theme::BLUE } else { theme::ACCENT }),
                    Vec2::new(0.0, GAUGE_H),
                ),
                Anchor::CENTER_LEFT,
                here(Vec2::new(-GAUGE_W / 2.0, y), 4.1),
                Gauge {
                    service: id.clone(),
                    memory,
                },
                scoped.clone(),
            ));
            commands.spawn((
                text(
                    if memory { "mem" } else { "cpu" },
                    11.0,
                    theme::to_bevy(theme::DIM),
                ),
                Anchor::CENTER_RIGHT,
                here(Vec2::new(-GAUGE_W / 2.0 - 4.0, y), 5.0),
                scoped.clone(),
            ));
        }
    }
}

/// Where an alert shows on the map: its service, else where its kind of entity enters the
/// company (accounts log in at the web tier, addresses come through the gateway).
fn alert_node(entity: &EntityRef, topology: &Topology) -> Option<String> {
    let role = match entity {
        EntityRef::Service(s) => return Some(s.clone()),
        EntityRef::Identity(_) => Role::Web,
        EntityRef::Source(_) => Role::Gateway,
        // A zone is left through its firewall.
        EntityRef::Zone(_) => Role::Firewall,
    };
    topology
        .services_with_role(role)
        .next()
        .map(|s| s.id.clone())
}

/// The most severe alert per node that still wants attention.
fn alerting(
    snap: &crate::bridge::Snapshot,
    topology: &Topology,
) -> std::collections::BTreeMap<String, Severity> {
    let mut alerting = std::collections::BTreeMap::new();
    for a in &snap.alerts {
        // Untriaged alerts pulse until someone looks at them; escalated ones while they recur.
        let pulsing = match a.verdict {
            None => true,
            Some(Verdict::Incident) => a.last_ms + PULSE_MS >= snap.now_ms,
            Some(Verdict::Benign) => false,
        };
        if !pulsing {
            continue;
        }
        if let Some(node) = alert_node(&a.alert.entity, topology) {
            let e = alerting.entry(node).or_insert(a.alert.severity);
            *e = (*e).max(a.alert.severity);
        }
    }
    alerting
}

/// Disc and icon colours and the state label follow the container's state.
#[allow(clippy::type_complexity)]
fn node_state(
    view: Res<SessionView>,
    mut discs: Query<(&Disc, &mut Sprite), Without<NodeIcon>>,
    mut icons: Query<(&NodeIcon, &mut Sprite), Without<Disc>>,
    mut labels: Query<(&StateLabel, &mut Text2d, &mut TextColor)>,
) {
    let (Some(snap), Some(brief)) = (&view.snapshot, &view.brief) else {
        return;
    };
    for (disc, mut sprite) in &mut discs {
        let color = match snap.services.get(&disc.0) {
            Some(s) if !s.running => Color::srgb_u8(0x2a, 0x2a, 0x2e),
            Some(s) if s.paused => Color::srgb_u8(0x4a, 0x3c, 0x18),
            Some(s) if s.isolated => Color::srgb_u8(0x2e, 0x25, 0x4c),
            _ => DISC,
        };
        if sprite.color != color {
            sprite.color = color;
        }
    }
    for (icon, mut sprite) in &mut icons {
        let down = snap.services.get(&icon.0).is_some_and(|s| !s.running);
        let role = brief
            .topology
            .service(&icon.0)
            .map_or(Role::Worker, |s| s.role);
        let color = if down {
            Color::srgb_u8(0x60, 0x60, 0x66)
        } else {
            role_color(role)
        };
        if sprite.color != color {
            sprite.color = color;
        }
    }
    for (label, mut text, mut color) in &mut labels {
        let (value, c) = match snap.services.get(&label.0) {
            Some(s) if !s.running => ("STOPPED", theme::BAD),
            Some(s) if s.paused => ("PAUSED", theme::WARN),
            Some(s) if s.isolated => ("ISOLATED", theme::VIOLET),
            Some(s) if s.capped => ("CAPPED", theme::ACCENT),
            _ => ("", theme::DIM),
        };
        if text.0 != value {
            text.0 = value.to_string();
            color.0 = theme::to_bevy(c);
        }
    }
}

/// Alerting nodes pulse in the colour of their worst alert.
fn alert_rings(
    view: Res<SessionView>,
    time: Res<Time>,
    mut rings: Query<(&AlertRing, &mut Sprite, &mut Visibility, &mut Transform)>,
) {
    let (Some(snap), Some(brief)) = (&view.snapshot, &view.brief) else {
        return;
    };
    let alerting = alerting(snap, &brief.topology);
    let pulse = 0.5 + 0.5 * (time.elapsed_secs() * 5.0).sin();
    for (ring, mut sprite, mut vis, mut transform) in &mut rings {
        match alerting.get(&ring.0) {
            Some(sev) => {
                *vis = Visibility::Inherited;
                let c = theme::severity(*sev);
                sprite.color = Color::srgba_u8(c.r(), c.g(), c.b(), (90.0 + 165.0 * pulse) as u8);
                transform.scale = Vec3::splat(1.0 + 0.06 * pulse);
            }
            None => {
                if *vis != Visibility::Hidden {
                    *vis = Visibility::Hidden;
                }
            }
        }
    }
}

fn selection(live: Res<LiveUi>, mut selects: Query<(&SelectRing, &mut Visibility)>) {
    for (select, mut vis) in &mut selects {
        let want = if live.selected_node.as_deref() == Some(select.0.as_str()) {
            Visibility::Inherited
        } else {
            Visibility::Hidden
        };
        if *vis != want {
            *vis = want;
        }
    }
}

/// CPU and memory against the container's limits; red when nearly full.
fn gauges(view: Res<SessionView>, mut gauges: Query<(&Gauge, &mut Sprite)>) {
    let (Some(snap), Some(brief)) = (&view.snapshot, &view.brief) else {
        return;
    };
    for (gauge, mut sprite) in &mut gauges {
        let service = brief.topology.service(&gauge.service);
        let last = snap
            .services
            .get(&gauge.service)
            .and_then(|s| s.last.as_ref());
        let share = match (service, last) {
            (Some(s), Some(m)) if gauge.memory => m.memory_mib / s.limits.memory_mib.max(1) as f32,
            (Some(s), Some(m)) => m.cpu_pct / (s.limits.cpu_cores * 100.0).max(1.0),
            _ => 0.0,
        }
        .clamp(0.0, 1.0);
        let size = Some(Vec2::new(share * GAUGE_W, GAUGE_H));
        if sprite.custom_size != size {
            sprite.custom_size = size;
        }
        let color = theme::to_bevy(if share > 0.85 {
            theme::BAD
        } else if gauge.memory {
            theme::BLUE
        } else {
            theme::ACCENT
        });
        if sprite.color != color {
            sprite.color = color;
        }
    }
}

#[allow(clippy::type_complexity)]
fn flows(
    view: Res<SessionView>,
    map: Res<MapState>,
    time: Res<Time>,
    mut dots: Query<(&FlowDot, &mut Transform, &mut Visibility, &mut Sprite)>,
    mut lines: Query<(&LinkLine, &mut Sprite), Without<FlowDot>>,
) {
    let Some(snap) = &view.snapshot else {
        return;
    };
    let l = &map.layout;
    let rate = |i: usize| -> (f32, f32) {
        l.links
            .get(i)
            .and_then(|link| {
                snap.traffic
                    .iter()
                    .find(|e| e.from == link.from && e.to == link.to)
            })
            .map_or((0.0, 0.0), |e| (e.per_s, e.refused_per_s))
    };
    // Dots shown for a rate: grows like a logarithm so a flood does not drown the map.
    let count = |r: f32| -> usize {
        if r <= 0.01 {
            0
        } else {
            ((1.0 + r).log2() * 1.6).ceil().clamp(1.0, DOTS as f32) as usize
        }
    };
    let t = time.elapsed_secs();
    for (line, mut sprite) in &mut lines {
        let (ok, refused) = rate(line.0);
        let color = if ok + refused > 0.01 {
            Color::srgb_u8(0x2f, 0x5f, 0x64)
        } else {
            theme::to_bevy(theme::LINE)
        };
        if sprite.color != color {
            sprite.color = color;
        }
    }
    for (dot, mut transform, mut vis, mut sprite) in &mut dots {
        let Some(link) = l.links.get(dot.link) else {
            continue;
        };
        let (Some(a), Some(b)) = (l.position(&link.from), l.position(&link.to)) else {
            continue;
        };
        let (ok, refused) = rate(dot.link);
        let n_ok = count(ok);
        let n_ref = count(refused).min(DOTS - n_ok);
        let n = n_ok + n_ref;
        if dot.k >= n {
            if *vis != Visibility::Hidden {
                *vis = Visibility::Hidden;
            }
            continue;
        }
        *vis = Visibility::Inherited;
        let refused_dot = dot.k >= n_ok;
        // Evenly spaced; refused dots stop short of the target: they never get in.
        let phase = (t * DOT_SPEED + dot.k as f32 / n as f32).fract();
        let reach = if refused_dot { 0.82 } else { 1.0 };
        let start = NODE_RADIUS / (b - a).length().max(1.0);
        let s = start + (reach - 2.0 * start).max(0.0) * phase;
        transform.translation = (a + (b - a) * s).extend(2.0);
        let color = theme::to_bevy(if refused_dot {
            theme::BAD
        } else {
            theme::ACCENT
        });
        if sprite.color != color {
            sprite.color = color;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Neighbours in a row of every shipped lab keep their names apart, as the font measures
    /// them (0.6 em a character), whatever length the services' names have.
    #[test]
    fn the_names_of_neighbouring_nodes_do_not_run_into_each_other() {
        let width = |label: &str| 0.6 * node_label_size(label) * label.chars().count() as f32;
        for shipped in bulkhead_engine::format::builtin::TOPOLOGIES {
            let file = bulkhead_engine::format::load::SourceFile::new(shipped.path, shipped.text);
            let topology = bulkhead_engine::format::topology_from_source(&file).unwrap();
            let map = layout(&topology);
            let labels: Vec<(String, Vec2)> = (map.nodes.iter().enumerate())
                .map(|(i, n)| (node_label(i, &n.service), n.pos))
                .collect();
            for (a, at) in &labels {
                for (b, bt) in &labels {
                    let beside = a != b && (at.y - bt.y).abs() < 1.0;
                    if beside && (at.x - bt.x).abs() <= NODE_SPACING + 1.0 {
                        let apart = (at.x - bt.x).abs() - (width(a) + width(b)) / 2.0;
                        assert!(apart > 0.0, "{}: {a} runs into {b}", topology.id);
                    }
                }
            }
        }
        assert_eq!(node_label_size("1 web"), 18.0);
        assert!(node_label_size("5 invoice-worker") < 18.0);
    }
}
