//! Semantic checks after parsing: every reference resolves, ids are unique, timelines are
//! ordered and numbers are in range. Each problem points at the offending text.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use super::rules::{Condition, Rule};
use crate::action::Action;
use crate::format::load::{FormatError, SourceFile};
use crate::format::scenario::{Scenario, Step, Weakness};
use crate::format::topology::{Role, Topology};
use crate::format::variants::{Pick, VariantError, resolve_pick};
use crate::observation::EntityRef;
use crate::posture::WeaknessKind;

pub const SCHEMA_VERSION: u32 = 2;

/// Version 1 files (one way in, no routes) still load as they are; version 2 adds routes,
/// firewalls and lateral movement.
fn check_schema_version(c: &mut Checker, version: u32) {
    if !(1..=SCHEMA_VERSION).contains(&version) {
        c.fail(
            None,
            "schema_version",
            format!("unsupported schema_version {version}"),
            &format!("this version of Bulkhead reads schema_version 1 to {SCHEMA_VERSION}"),
        );
    }
}

/// Collects problems in one file.
struct Checker<'a> {
    file: &'a SourceFile,
    errors: Vec<FormatError>,
}

impl<'a> Checker<'a> {
    fn new(file: &'a SourceFile) -> Self {
        Checker {
            file,
            errors: Vec::new(),
        }
    }

    fn fail(&mut self, anchor: Option<&str>, needle: &str, message: String, help: &str) {
        let span = self.file.find(anchor, needle);
        let label = if needle.starts_with('"') {
            "this value".to_string()
        } else {
            "here".to_string()
        };
        self.errors.push(
            self.file
                .error(span, message, label, Some(help.to_string())),
        );
    }

    fn range<T: PartialOrd + std::fmt::Display + Copy>(
        &mut self,
        anchor: Option<&str>,
        field: &str,
        value: T,
        min: T,
        max: T,
    ) {
        if value < min || value > max {
            self.fail(
                anchor,
                field,
                format!("`{field}` is {value}, out of range"),
                &format!("use a value from {min} to {max}"),
            );
        }
    }

    fn unique<'s>(&mut self, what: &str, ids: impl IntoIterator<Item = &'s str>) {
        let mut seen = HashSet::new();
        for id in ids {
            if !seen.insert(id) {
                let needle = format!("id: \"{id}\"");
                // Point at the second occurrence (searched after the first, whose end is a
                // char boundary of the text), else at the first.
                let first = self.file.find(None, &needle);
                let after = first.end;
                let span = self
                    .file
                    .text
                    .get(after..)
                    .and_then(|rest| rest.find(&needle))
                    .map_or(first, |i| after + i..after + i + needle.len());
                self.errors.push(self.file.error(
                    span,
                    format!("duplicate {what} id \"{id}\""),
                    "declared again here",
                    Some(format!("every {what} needs its own id")),
                ));
            }
        }
    }
}

fn anchor_of(id: &str) -> String {
    format!("id: \"{id}\"")
}

fn quoted(s: &str) -> String {
    format!("\"{s}\"")
}

/// Validate a topology on its own.
pub fn check_topology(t: &Topology, file: &SourceFile) -> Vec<FormatError> {
    let mut c = Checker::new(file);
    check_schema_version(&mut c, t.schema_version);
    c.unique(
        "topology",
        t.zones
            .iter()
            .map(|z| z.id.as_str())
            .chain(t.services.iter().map(|s| s.id.as_str()))
            .chain(t.identities.iter().map(|i| i.id.as_str()))
            .chain(t.datasets.iter().map(|d| d.id.as_str()))
            .chain(t.conditions.iter().map(|d| d.id.as_str())),
    );
    c.unique("rule", t.rules.iter().map(|r| r.id.as_str()));
    for s in &t.services {
        let a = anchor_of(&s.id);
        if s.zones.is_empty() {
            c.fail(
                Some(&a),
                "zones",
                format!("service \"{}\" joins no zone", s.id),
                "list at least one zone id",
            );
        }
        for z in &s.zones {
            if t.zone(z).is_none() {
                c.fail(
                    Some(&a),
                    &quoted(z),
                    format!("service \"{}\" names unknown zone \"{z}\"", s.id),
                    "use a zone id declared under `zones`",
                );
            }
        }
        if t.identity(&s.owner).is_none() {
            c.fail(
                Some(&a),
                &quoted(&s.owner),
                format!("service \"{}\" has unknown owner \"{}\"", s.id, s.owner),
                "use an identity id declared under `identities`",
            );
        }
        c.range(Some(&a), "cpu_cores", s.limits.cpu_cores, 0.05, 16.0);
        c.range(Some(&a), "memory_mib", s.limits.memory_mib, 8, 65536);
        c.range(Some(&a), "pids", s.limits.pids, 8, 32768);
        if s.role == Role::Attacker && !s.zones.iter().any(|z| t.zone(z).is_some_and(|z| z.outside))
        {
            c.fail(
                Some(&a),
                "zones",
                format!("attacker service \"{}\" is not in an outside zone", s.id),
                "put the attacker in a zone with `outside: true`",
            );
        }
    }
    check_roles(&mut c, t);
    check_tiers(&mut c, t);
    check_routes(&mut c, t);
    for i in &t.identities {
        let (start, end) = i.work_hours;
        if start >= end || end > 24 {
            c.fail(
                Some(&anchor_of(&i.id)),
                "work_hours",
                format!("identity \"{}\" has work_hours ({start}, {end})", i.id),
                "use (start, end) with start < end <= 24",
            );
        }
    }
    for d in &t.datasets {
        c.range(Some(&anchor_of(&d.id)), "records", d.records, 1, 10_000_000);
    }
    for n in &t.conditions {
        check_condition(&mut c, t, &n.when, &anchor_of(&n.id));
        if recurses(t, &n.id, &n.when, 0) {
            c.fail(
                Some(&anchor_of(&n.id)),
                &quoted(&n.id),
                format!("condition \"{}\" refers to itself", n.id),
                "break the cycle between named conditions",
            );
        }
    }
    for r in &t.rules {
        check_rule(&mut c, t, r);
    }
    c.errors
}

/// The range needs one traffic generator and one attacker, and a company at least one way in:
/// a gateway, a web tier and a datastore.
fn check_roles(c: &mut Checker, t: &Topology) {
    for (role, exactly_one) in [
        (Role::Gateway, false),
        (Role::Web, false),
        (Role::Datastore, false),
        (Role::Traffic, true),
        (Role::Attacker, true),
    ] {
        let n = t.services_with_role(role).count();
        if n == 0 || (exactly_one && n > 1) {
            let (want, help) = if exactly_one {
                (
                    "exactly one",
                    "declare one service of this role: the range's own machinery",
                )
            } else {
                (
                    "at least one",
                    "declare a Gateway in front of a Web tier that reads a Datastore",
                )
            };
            c.fail(
                None,
                "services",
                format!("the lab needs {want} {} service, found {n}", role.label()),
                help,
            );
        }
    }
}

/// Each gateway forwards to one web tier and each web tier reads one datastore, over a zone
/// they share (on Docker, a name resolves only there); each dataset is kept in one datastore.
fn check_tiers(c: &mut Checker, t: &Topology) {
    for s in &t.services {
        let a = anchor_of(&s.id);
        let next = match s.role {
            Role::Gateway => Role::Web,
            Role::Web => Role::Datastore,
            _ => {
                if let Some(up) = &s.upstream {
                    c.fail(
                        Some(&a),
                        &quoted(up),
                        format!(
                            "service \"{}\" is a {} and has no upstream",
                            s.id,
                            s.role.label()
                        ),
                        "only gateways (to a web tier) and web tiers (to a datastore) have one",
                    );
                }
                continue;
            }
        };
        let Some(up) = t.upstream_of(s) else {
            let all: Vec<&str> = t.services_with_role(next).map(|x| x.id.as_str()).collect();
            match &s.upstream {
                Some(id) => c.fail(
                    Some(&a),
                    &quoted(id),
                    format!(
                        "upstream \"{id}\" of \"{}\" is not a {} service",
                        s.id,
                        next.label()
                    ),
                    &format!("name one of: {}", all.join(", ")),
                ),
                None if all.len() > 1 => c.fail(
                    Some(&a),
                    &quoted(&s.id),
                    format!(
                        "{} \"{}\" needs an `upstream`: the lab has several {} services",
                        s.role.label(),
                        s.id,
                        next.label()
                    ),
                    &format!("add `upstream: \"…\"` naming one of: {}", all.join(", ")),
                ),
                // No service of the next role: check_roles says so.
                None => {}
            }
            continue;
        };
        if !s.zones.iter().any(|z| up.zones.contains(z)) {
            c.fail(
                Some(&a),
                "zones",
                format!("\"{}\" and its upstream \"{}\" share no zone", s.id, up.id),
                "put both in a common zone: a service reaches only the zones it sits in",
            );
        }
    }
    for d in &t.datasets {
        if t.store_of(d).is_some() {
            continue;
        }
        let stores: Vec<&str> = (t.services_with_role(Role::Datastore))
            .map(|x| x.id.as_str())
            .collect();
        let (needle, message) = match &d.store {
            Some(id) => (
                quoted(id),
                format!("store \"{id}\" of dataset \"{}\" is not a datastore", d.id),
            ),
            None if stores.len() > 1 => (
                quoted(&d.id),
                format!(
                    "dataset \"{}\" needs a `store`: the lab has several datastores",
                    d.id
                ),
            ),
            None => continue,
        };
        c.fail(
            Some(&anchor_of(&d.id)),
            &needle,
            message,
            &format!("name one of: {}", stores.join(", ")),
        );
    }
}

/// Where a request through the front door goes (`via`, a web tier), and for a read whether that
/// tier's datastore keeps the dataset.
fn check_door(
    c: &mut Checker,
    t: &Topology,
    a: Option<&str>,
    via: Option<&str>,
    dataset: Option<&str>,
) {
    let tiers: Vec<&str> = t
        .services_with_role(Role::Web)
        .map(|x| x.id.as_str())
        .collect();
    let Some(web) = t.web_tier(via) else {
        match via {
            Some(id) => c.fail(
                a,
                &quoted(id),
                format!("via \"{id}\" is not a web tier"),
                &format!("name one of: {}", tiers.join(", ")),
            ),
            None if tiers.len() > 1 => c.fail(
                a,
                "source",
                "the lab has several web tiers: this request needs a `via`".into(),
                &format!("add `via: Some(\"…\")` naming one of: {}", tiers.join(", ")),
            ),
            None => {}
        }
        return;
    };
    if t.gateway_of(&web.id).is_none() {
        c.fail(
            a,
            via.map_or("source".into(), quoted).as_str(),
            format!("no gateway forwards to web tier \"{}\"", web.id),
            "name a web tier that a Gateway has as its upstream",
        );
    }
    let (Some(dataset), Some(store)) = (dataset.and_then(|d| t.dataset(d)), t.upstream_of(web))
    else {
        return;
    };
    if let Some(kept) = t.store_of(dataset).filter(|kept| kept.id != store.id) {
        c.fail(
            a,
            &quoted(&dataset.id),
            format!(
                "dataset \"{}\" is kept in \"{}\", and web tier \"{}\" reads \"{}\"",
                dataset.id, kept.id, web.id, store.id
            ),
            "go through a web tier whose upstream keeps the dataset (`via`)",
        );
    }
}

/// Whether the named condition `target` can reach itself through `cond`, or through a chain of
/// more than 16 named conditions (which matching would cut short). Each named condition is
/// visited once, so a file of many conditions that name each other several times over costs
/// linear time instead of an exponential walk.
fn recurses(t: &Topology, target: &str, cond: &Condition, depth: u8) -> bool {
    let mut seen = HashSet::new();
    reaches(t, target, cond, depth, &mut seen)
}

fn reaches(
    t: &Topology,
    target: &str,
    cond: &Condition,
    depth: u8,
    seen: &mut HashSet<String>,
) -> bool {
    if depth > 16 {
        return true;
    }
    let mut refs = Vec::new();
    cond.references(&mut refs);
    refs.into_iter().any(|(what, id)| {
        what == "condition"
            && (id == target
                || (seen.insert(id.clone())
                    && t.condition(&id)
                        .is_some_and(|c| reaches(t, target, c, depth + 1, seen))))
    })
}

fn check_condition(c: &mut Checker, t: &Topology, cond: &Condition, anchor: &str) {
    let mut refs = Vec::new();
    cond.references(&mut refs);
    for (what, id) in refs {
        let known = match what {
            "service" => t.service(&id).is_some(),
            "zone" => t.zone(&id).is_some(),
            "identity" => t.identity(&id).is_some(),
            _ => t.condition(&id).is_some(),
        };
        if !known {
            c.fail(
                Some(anchor),
                &quoted(&id),
                format!("unknown {what} \"{id}\""),
                &format!("use a {what} id declared in the topology"),
            );
        }
    }
}

fn check_rule(c: &mut Checker, t: &Topology, r: &Rule) {
    let a = anchor_of(&r.id);
    check_condition(c, t, &r.when, &a);
    for m in &r.mitre {
        let ok = is_technique_id(m);
        if !ok {
            c.fail(
                Some(&a),
                &quoted(m),
                format!("\"{m}\" is not a MITRE ATT&CK technique id"),
                "write it as T1234 or T1234.001",
            );
        }
    }
}

/// `T1234` or `T1234.001`. Compared as bytes: an id with multibyte characters is simply
/// wrong, and byte slices cannot split a character.
fn is_technique_id(m: &str) -> bool {
    let b = m.as_bytes();
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    match b.len() {
        5 => b[0] == b'T' && digits(&b[1..5]),
        9 => b[0] == b'T' && digits(&b[1..5]) && b[5] == b'.' && digits(&b[6..]),
        _ => false,
    }
}

/// The start of a hint's text as it is written in the file, to find that hint by: at most 20
/// characters (not bytes: the text may be any language), and only up to the first character
/// that RON would write as an escape, since the escaped form is not what the file holds.
fn hint_anchor(text: &str) -> String {
    let written: String = text
        .chars()
        .take_while(|c| *c != '"' && *c != '\\' && !c.is_control())
        .take(20)
        .collect();
    // No closing quote: the text usually goes on past these characters.
    format!("\"{written}")
}

/// What a weakness must say to be set up safely and found by an audit: capabilities from the
/// safe list only; a secret's variable named as a secret, and not the range's own `LABD_`; a
/// default password and a management endpoint from the lists an audit asks about.
fn weakness(c: &mut Checker, w: &crate::format::scenario::Weakness) {
    use crate::format::scenario::{
        DEFAULT_PASSWORDS, MANAGEMENT_ENDPOINTS, SAFE_CAPABILITIES, TOOLS,
    };
    match w {
        Weakness::ExtraCapabilities { caps, .. } => {
            if caps.is_empty() {
                c.fail(
                    Some("ExtraCapabilities"),
                    "caps",
                    "ExtraCapabilities adds no capability".into(),
                    "list the capabilities the service gets back",
                );
            }
            for cap in caps {
                if !SAFE_CAPABILITIES.contains(&cap.as_str()) {
                    c.fail(
                        Some("ExtraCapabilities"),
                        &quoted(cap),
                        format!("capability \"{cap}\" may reach past the container"),
                        &format!("use one of {}", SAFE_CAPABILITIES.join(", ")),
                    );
                }
            }
        }
        Weakness::SecretInEnv { var, .. } => secret_name(c, "SecretInEnv", var),
        Weakness::SecretInImage { path, var, .. } => {
            secret_name(c, "SecretInImage", var);
            layer_path(c, "SecretInImage", path);
        }
        Weakness::UnneededTool { path, .. } => {
            let name = path.rsplit('/').next().unwrap_or_default();
            if !image_file_path(path) || !TOOLS.contains(&name) {
                c.fail(
                    Some("UnneededTool"),
                    &quoted(path),
                    format!("\"{path}\" is not a tool an audit of the image would find"),
                    &format!(
                        "use an absolute path whose file name is one of {}",
                        TOOLS.join(", ")
                    ),
                );
            }
        }
        Weakness::UnverifiedScript { path, source, .. } => {
            layer_path(c, "UnverifiedScript", path);
            let url = (source
                .strip_prefix("https://")
                .or(source.strip_prefix("http://")))
            .is_some_and(|rest| !rest.is_empty());
            let plain = source.len() <= 200
                && !source
                    .chars()
                    .any(|ch| ch.is_whitespace() || "\"'`$;|&<>\\".contains(ch));
            if !url || !plain {
                c.fail(
                    Some("UnverifiedScript"),
                    &quoted(source),
                    format!("\"{source}\" is not a URL a script could fetch from"),
                    "use an http:// or https:// URL without spaces, quotes or shell characters",
                );
            }
        }
        Weakness::DefaultPassword { password, .. } => {
            if !DEFAULT_PASSWORDS.contains(&password.as_str()) {
                c.fail(
                    Some("DefaultPassword"),
                    &quoted(password),
                    format!("\"{password}\" is not a default password an audit would try"),
                    &format!("use one of {}", DEFAULT_PASSWORDS.join(", ")),
                );
            }
        }
        Weakness::ExposedManagement { path, .. } => {
            if !MANAGEMENT_ENDPOINTS.contains(&path.as_str()) {
                c.fail(
                    Some("ExposedManagement"),
                    &quoted(path),
                    format!("\"{path}\" is not a management endpoint an audit would ask about"),
                    &format!("use one of {}", MANAGEMENT_ENDPOINTS.join(", ")),
                );
            }
        }
        Weakness::NoLimits { .. } | Weakness::WritableRoot { .. } | Weakness::RunsAsRoot { .. } => {
        }
    }
}

/// A secret's variable must be named as one, for an audit to read it as one.
fn secret_name(c: &mut Checker, kind: &str, var: &str) {
    use crate::format::scenario::{SECRET_WORDS, names_a_secret};
    let shaped = !var.is_empty()
        && var
            .chars()
            .all(|ch| ch.is_ascii_uppercase() || ch.is_ascii_digit() || ch == '_');
    if !shaped || !names_a_secret(var) {
        c.fail(
            Some(kind),
            &quoted(var),
            format!("\"{var}\" is not a secret's variable name an audit would read as one"),
            &format!(
                "use UPPER_SNAKE_CASE containing one of {} (not LABD_, the range's own)",
                SECRET_WORDS.join(", ")
            ),
        );
    }
}

/// A file an image layer adds must be at a path it may add (`image_file_path`).
fn layer_path(c: &mut Checker, kind: &str, path: &str) {
    if !image_file_path(path) {
        c.fail(
            Some(kind),
            &quoted(path),
            format!("\"{path}\" is not a file path an image layer may add"),
            "use an absolute path of plain segments (letters, digits, . _ -), not under /proc, /sys or /dev and not /labd",
        );
    }
}

/// Whether a layer may add a file at `path`: absolute, plain segments (no `..`, no spaces a
/// Dockerfile would split on), and nowhere the kernel or the range's own labd lives.
fn image_file_path(path: &str) -> bool {
    let Some(relative) = path.strip_prefix('/') else {
        return false;
    };
    let segments: Vec<&str> = relative.split('/').collect();
    let plain = |seg: &&str| {
        !seg.is_empty()
            && *seg != "."
            && *seg != ".."
            && seg
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '.' | '_' | '-'))
    };
    segments.iter().all(plain)
        && !matches!(segments[0], "proc" | "sys" | "dev" | "labd")
        && path.len() <= 200
}

/// A hardening phase's budget, and that what accepted risks and attack steps name is a
/// weakness the scenario declares (else nothing in the lab would match it).
fn hardening(c: &mut Checker, s: &Scenario) {
    let declared: Vec<_> = s.weaknesses.iter().map(|w| w.of()).collect();
    let undeclared = |w: &crate::posture::WeaknessRef| !declared.contains(w);
    let help = "declare it under weaknesses, or name one that is declared";
    if let Some(h) = &s.hardening {
        c.range(Some("hardening"), "budget_s", h.budget_s, 10, 1800);
        let relied_on = (h.accepted.iter())
            .map(|a| ("accepted", "accepted risk", a.of()))
            .chain(
                h.collateral
                    .iter()
                    .map(|f| ("collateral", "collateral of fixing", f.of())),
            );
        for (anchor, what, w) in relied_on {
            let service = quoted(&w.service);
            if !WeaknessKind::NEEDED.contains(&w.weakness) {
                let kinds: Vec<String> = (WeaknessKind::NEEDED.iter())
                    .map(|k| format!("{k:?}"))
                    .collect();
                let why = format!(
                    "{what} \"{w}\": a lab can only hold a service to needing {}",
                    kinds.join(", ")
                );
                let help = "name one of those, or leave this weakness a finding to fix";
                c.fail(Some(anchor), &service, why, help);
            } else if undeclared(&w) {
                let why = format!("{what} \"{w}\" is not a weakness of this scenario");
                c.fail(Some(anchor), &service, why, help);
            } else if anchor == "collateral" && h.accepted(&w).is_some() {
                let why = format!("\"{w}\" is both an accepted risk and a fix with a cost");
                let help = "an accepted risk is not to be fixed: keep it under accepted only";
                c.fail(Some(anchor), &service, why, help);
            }
        }
    }
    let injected = s.injects.iter().flat_map(|i| i.steps().map(|(st, _)| st));
    for st in s.attack.iter().chain(&s.decoys).chain(injected) {
        if let Some(w) = st.exploits.as_ref().filter(|w| undeclared(w)) {
            c.fail(
                Some(&anchor_of(&st.id)),
                "exploits",
                format!(
                    "step \"{}\" exploits \"{w}\", not a weakness of this scenario",
                    st.id
                ),
                help,
            );
        }
    }
}

fn valid_source(s: &str) -> bool {
    s.parse::<Ipv4Addr>().is_ok()
}

/// Most variants a scenario may declare: each one is validated at load.
pub const MAX_VARIANTS: usize = 512;

/// Validate a scenario against the topology it names: as written, or, when it declares
/// variants, every one of them (a problem shared by several is reported once).
pub fn check_scenario(s: &Scenario, file: &SourceFile, t: &Topology) -> Vec<FormatError> {
    if s.variants.is_empty() {
        return check_plain_scenario(s, file, t);
    }
    let mut c = Checker::new(file);
    check_choices(&mut c, s);
    if !c.errors.is_empty() {
        return c.errors;
    }
    let Some(picks) = Pick::all(&s.variants, MAX_VARIANTS) else {
        c.fail(
            None,
            "variants",
            format!("more than {MAX_VARIANTS} variants (every combination of candidates)"),
            "declare fewer choices or fewer candidates",
        );
        return c.errors;
    };
    for pick in picks {
        match resolve_pick(s, &pick) {
            Err(VariantError::UnknownPlaceholder(name)) => {
                let message = format!("unknown placeholder {{{name}}}");
                if !c.errors.iter().any(|e| e.message == message) {
                    c.fail(
                        None,
                        &format!("{{{name}}}"),
                        message,
                        "name a field of a choice declared under `variants`, as {choice.field}",
                    );
                }
            }
            Err(e @ VariantError::Internal(_)) => {
                c.fail(None, "variants", e.to_string(), "report this as a bug");
            }
            Ok(variant) => {
                for e in check_plain_scenario(&variant, file, t) {
                    let seen = c.errors.iter().any(|x| {
                        x.message == e.message && x.location.to_string() == e.location.to_string()
                    });
                    if !seen {
                        c.errors.push(e);
                    }
                }
            }
        }
    }
    c.errors
}

/// What the lab image provides to run (`labs/src/image.rs` builds it `FROM scratch` with
/// `labd` alone): each program and the subcommands it takes. An exec of anything else would
/// fail in the real lab, so the validator refuses it up front.
pub const IMAGE_PROGRAMS: &[(&str, &[&str])] = &[("/labd", &["probe", "health", "ctl"])];

/// An exec's command: a program of the lab image, with one of its subcommands.
fn check_command(c: &mut Checker, a: Option<&str>, command: &str) {
    let mut words = command.split_whitespace();
    let (program, sub) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let offered = || {
        IMAGE_PROGRAMS
            .iter()
            .map(|(p, subs)| format!("{p} ({})", subs.join(", ")))
            .collect::<Vec<_>>()
            .join("; ")
    };
    match IMAGE_PROGRAMS.iter().find(|(p, _)| *p == program) {
        None => c.fail(
            a,
            &quoted(command),
            format!("the lab image has no program \"{program}\""),
            &format!("exec what the image holds: {}", offered()),
        ),
        Some((_, subs)) if !subs.contains(&sub) => c.fail(
            a,
            &quoted(command),
            format!("{program} has no subcommand \"{sub}\""),
            &format!("exec what the image holds: {}", offered()),
        ),
        Some(_) => {}
    }
}

/// Routes and firewalls (schema_version 2): a route joins two company zones through a
/// firewall that sits in both; a firewall is company infrastructure.
fn check_routes(c: &mut Checker, t: &Topology) {
    let format_2 = !t.routes.is_empty() || t.services_with_role(Role::Firewall).next().is_some();
    if format_2 && t.schema_version < 2 {
        c.fail(
            None,
            "schema_version",
            "routes and firewalls need schema_version: 2".into(),
            "write schema_version: 2",
        );
    }
    for f in t.services_with_role(Role::Firewall) {
        if f.range_only || f.zones.len() < 2 {
            c.fail(
                Some(&anchor_of(&f.id)),
                "zones",
                format!(
                    "firewall \"{}\" must be a company service in two zones or more",
                    f.id
                ),
                "list the zones it stands between, and leave range_only out",
            );
        }
        // A firewall knows where a connection comes from and goes to by the network it
        // crosses; a service on two of its networks would make that a guess.
        for s in t.services.iter().filter(|s| s.id != f.id) {
            let shared: Vec<&String> = s.zones.iter().filter(|z| f.zones.contains(z)).collect();
            if shared.len() > 1 {
                c.fail(
                    Some(&anchor_of(&s.id)),
                    "zones",
                    format!(
                        "service \"{}\" sits in {} zones of firewall \"{}\" ({})",
                        s.id,
                        shared.len(),
                        f.id,
                        shared
                            .iter()
                            .map(|z| z.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    "a service may share at most one zone with each firewall",
                );
            }
        }
    }
    for r in &t.routes {
        // Routes are written one to a line, `from` then `to`: that locates each one's problems.
        let anchor = format!("from: \"{}\", to: \"{}\"", r.from, r.to);
        let a = Some(anchor.as_str());
        for zone in [&r.from, &r.to] {
            match t.zone(zone) {
                None => c.fail(
                    a,
                    &quoted(zone),
                    format!("route names unknown zone \"{zone}\""),
                    "use a zone id declared under `zones`",
                ),
                Some(z) if z.outside => c.fail(
                    a,
                    &quoted(zone),
                    format!("route touches the outside zone \"{zone}\""),
                    "the way in from outside is the gateway's; routes join company zones",
                ),
                _ => {}
            }
        }
        if r.from == r.to {
            c.fail(
                a,
                &quoted(&r.to),
                format!("route from \"{}\" to itself", r.from),
                "services of one zone reach each other without a route",
            );
        }
        match t.service(&r.via) {
            Some(f)
                if f.role == Role::Firewall
                    && f.zones.contains(&r.from)
                    && f.zones.contains(&r.to) => {}
            _ => c.fail(
                a,
                &quoted(&r.via),
                format!(
                    "route via \"{}\", which is not a firewall in both \"{}\" and \"{}\"",
                    r.via, r.from, r.to
                ),
                "name a service of role Firewall that joins both zones",
            ),
        }
        for e in &r.endpoints {
            if !e.starts_with('/') {
                c.fail(
                    a,
                    &quoted(e),
                    format!("route endpoint \"{e}\" does not start with /"),
                    "write endpoints as path prefixes",
                );
            }
        }
    }
}

/// The choices themselves: unique ids, at least one candidate, the same fields in each; and
/// no placeholder in what the lab starts from (benign traffic and weaknesses are the baseline
/// every variant shares).
fn check_choices(c: &mut Checker, s: &Scenario) {
    for (section, text) in [
        ("traffic", serde_json::to_string(&s.traffic)),
        ("weaknesses", serde_json::to_string(&s.weaknesses)),
    ] {
        let mut placeholder = None;
        crate::format::variants::substitute(
            &text.unwrap_or_default(),
            &Default::default(),
            &mut placeholder,
        );
        if let Some(name) = placeholder {
            c.fail(
                Some(section),
                &format!("{{{name}}}"),
                format!("placeholder {{{name}}} in `{section}`"),
                "benign traffic and weaknesses are the same in every variant: write the values out",
            );
        }
    }
    let variants = &s.variants;
    c.unique("choice", variants.choices.iter().map(|ch| ch.id.as_str()));
    for choice in &variants.choices {
        let anchor = Some(choice.id.as_str());
        let Some(first) = choice.candidates.first() else {
            c.fail(
                anchor,
                "candidates",
                format!("choice \"{}\" has no candidates", choice.id),
                "list at least one candidate",
            );
            continue;
        };
        let fields: Vec<&String> = first.keys().collect();
        if choice
            .candidates
            .iter()
            .any(|cand| cand.keys().collect::<Vec<_>>() != fields)
        {
            c.fail(
                anchor,
                "candidates",
                format!(
                    "the candidates of choice \"{}\" do not all name the same fields",
                    choice.id
                ),
                "give every candidate the same fields, so each placeholder has a value",
            );
        }
    }
}

/// Validate a scenario as written (or one resolved variant of it).
fn check_plain_scenario(s: &Scenario, file: &SourceFile, t: &Topology) -> Vec<FormatError> {
    let mut c = Checker::new(file);
    check_schema_version(&mut c, s.schema_version);
    if s.topology != t.id {
        c.fail(
            None,
            &quoted(&s.topology),
            format!("unknown topology \"{}\"", s.topology),
            "name a file of labs/topologies/ without its .ron",
        );
    }
    if s.lessons.is_empty() {
        c.fail(
            None,
            "lessons",
            "the scenario teaches no lesson".into(),
            "list at least one lesson",
        );
    }
    c.range(None, "warmup_s", s.timing.warmup_s, 30, 3600);
    c.range(None, "live_s", s.timing.live_s, 60, 7200);
    let live = s.timing.live_s;
    c.range(None, "starts_at", s.context.starts_at.0, 0, 23);
    c.range(None, "starts_at", s.context.starts_at.1, 0, 59);

    let service =
        |c: &mut Checker, anchor: Option<&str>, id: &str, company_only: bool| match t.service(id) {
            None => c.fail(
                anchor,
                &quoted(id),
                format!("unknown service \"{id}\""),
                "use a service id of the topology",
            ),
            Some(svc) if company_only && svc.range_only => c.fail(
                anchor,
                &quoted(id),
                format!("service \"{id}\" is range machinery, not part of the company"),
                "name a company service",
            ),
            _ => {}
        };
    let identity = |c: &mut Checker, anchor: Option<&str>, id: &str| {
        if t.identity(id).is_none() {
            c.fail(
                anchor,
                &quoted(id),
                format!("unknown identity \"{id}\""),
                "use an identity id of the topology",
            );
        }
    };
    let source = |c: &mut Checker, anchor: Option<&str>, src: &str| {
        if !valid_source(src) {
            c.fail(
                anchor,
                &quoted(src),
                format!("source \"{src}\" is not an IPv4 address"),
                "write sources as dotted IPv4 addresses, such as \"10.20.0.11\"",
            );
        }
    };
    let entity = |c: &mut Checker, anchor: Option<&str>, e: &EntityRef| match e {
        EntityRef::Service(id) => service(c, anchor, id, true),
        EntityRef::Identity(id) => identity(c, anchor, id),
        EntityRef::Source(src) => source(c, anchor, src),
        EntityRef::Zone(zone) => {
            if t.zone(zone).is_none() {
                c.fail(
                    anchor,
                    &quoted(zone),
                    format!("unknown zone \"{zone}\""),
                    "use a zone id of the topology",
                );
            }
        }
    };

    for a in &s.context.assets {
        service(&mut c, Some("assets"), &a.service, true);
    }
    for p in &s.context.people {
        identity(&mut c, Some("people"), &p.identity);
    }
    for e in &s.context.calendar {
        if e.from_s > e.to_s || e.to_s > live {
            c.fail(
                Some("calendar"),
                "from_s",
                format!(
                    "calendar entry ({}, {}) is not within the live phase",
                    e.from_s, e.to_s
                ),
                &format!("use 0 <= from_s <= to_s <= live_s ({live})"),
            );
        }
        for en in &e.entities {
            entity(&mut c, Some("calendar"), en);
        }
    }
    let mut declared = HashSet::new();
    for w in &s.weaknesses {
        service(&mut c, Some("weaknesses"), w.service(), true);
        weakness(&mut c, w);
        // A finding, a fix and a step's `exploits` name a service's kind of weakness: the
        // Docker audit groups them, and a second one of a kind would be fixed with the first
        // there but not in the simulated lab.
        if !declared.insert(w.of()) {
            let kind = w.kind();
            c.fail(
                Some("weaknesses:"),
                &format!("{kind:?}("),
                format!("weakness \"{}\" is declared twice", w.of()),
                "declare each kind of weakness once per service",
            );
        }
        if let Weakness::DefaultPassword { identity: id, .. } = w {
            identity(&mut c, Some("DefaultPassword"), id);
        }
        // Accounts and management endpoints are a web tier's.
        let on_web = match w {
            Weakness::DefaultPassword { .. } => Some(("DefaultPassword", "accounts")),
            Weakness::ExposedManagement { .. } => Some(("ExposedManagement", "endpoints")),
            _ => None,
        };
        if let Some((kind, what)) = on_web
            && t.service(w.service())
                .is_some_and(|svc| svc.role != Role::Web)
        {
            let web = w.service();
            c.fail(
                Some(kind),
                &quoted(web),
                format!("service \"{web}\" is not a web tier: it has no {what}"),
                &format!("name a web tier (role Web): {what} live there"),
            );
        }
    }
    hardening(&mut c, s);
    for u in &s.traffic.users {
        let a = format!("identity: \"{}\"", u.identity);
        identity(&mut c, Some("users"), &u.identity);
        c.range(Some(&a), "per_minute", u.per_minute, 0.0, 600.0);
        if u.sources.is_empty() {
            c.fail(
                Some(&a),
                "sources",
                "a user needs at least one source".into(),
                "list the user's usual addresses",
            );
        }
        for src in &u.sources {
            source(&mut c, Some(&a), src);
        }
        for e in &u.endpoints {
            if !e.starts_with('/') {
                c.fail(
                    Some(&a),
                    &quoted(e),
                    format!("endpoint \"{e}\" does not start with /"),
                    "write endpoints as paths, such as \"/api/orders\"",
                );
            }
        }
        check_door(&mut c, t, Some(&a), u.via.as_deref(), None);
        for r in &u.reads {
            check_door(&mut c, t, Some(&a), u.via.as_deref(), Some(&r.dataset));
            match t.dataset(&r.dataset) {
                None => c.fail(
                    Some(&a),
                    &quoted(&r.dataset),
                    format!("unknown dataset \"{}\"", r.dataset),
                    "use a dataset id of the topology",
                ),
                Some(d) => {
                    if r.records.0 > r.records.1 || r.records.0 == 0 || r.records.1 > d.records {
                        c.fail(
                            Some(&a),
                            "records",
                            format!(
                                "records ({}, {}) of \"{}\" are out of range",
                                r.records.0, r.records.1, r.dataset
                            ),
                            &format!("use (min, max) with 1 <= min <= max <= {}", d.records),
                        );
                    }
                }
            }
        }
    }
    c.range(
        Some("visitors"),
        "per_second",
        s.traffic.visitors.per_second,
        0.0,
        100.0,
    );
    for src in &s.traffic.visitors.sources {
        source(&mut c, Some("visitors"), src);
    }
    if !s.traffic.visitors.sources.is_empty() {
        check_door(
            &mut c,
            t,
            Some("visitors"),
            s.traffic.visitors.via.as_deref(),
            None,
        );
    }
    for flow in &s.traffic.internal {
        service(&mut c, Some("internal"), &flow.from, true);
        service(&mut c, Some("internal"), &flow.to, true);
        c.range(Some("internal"), "per_minute", flow.per_minute, 0.0, 60.0);
        if !flow.endpoint.starts_with('/') {
            c.fail(
                Some("internal"),
                &quoted(&flow.endpoint),
                format!("endpoint \"{}\" does not start with /", flow.endpoint),
                "write endpoints as paths",
            );
        }
    }

    let injected = s.injects.iter().flat_map(|i| i.steps().map(|(st, _)| st));
    c.unique(
        "step",
        s.attack
            .iter()
            .chain(&s.decoys)
            .chain(injected)
            .map(|st| st.id.as_str()),
    );
    if s.attack.is_empty() {
        c.fail(
            None,
            "attack",
            "the scenario has no attack step".into(),
            "add at least one step to `attack`",
        );
    }
    if s.decoys.is_empty() {
        c.fail(
            None,
            "decoys",
            "the scenario has no decoy".into(),
            "add a benign anomaly to `decoys`: trainees must learn to tell it apart",
        );
    }
    for list in [&s.attack, &s.decoys] {
        check_timeline(&mut c, list, t, live, &service, &identity, &source);
    }
    check_injects(&mut c, s, t, live, &service, &identity, &source);
    for k in &s.objectives.contain {
        if !s.attack.iter().any(|st| st.id == k.step) {
            c.fail(
                Some("contain"),
                &quoted(&k.step),
                format!("objective names unknown attack step \"{}\"", k.step),
                "name a step id of `attack`",
            );
        }
        c.range(Some(&quoted(&k.step)), "par_s", k.par_s, 1, live);
    }
    c.range(
        Some("objectives"),
        "detect_par_s",
        s.objectives.detect_par_s,
        1,
        live,
    );
    c.range(
        Some("objectives"),
        "records_at_risk",
        s.objectives.records_at_risk,
        0,
        10_000_000,
    );
    // Scoring rewards naming the attack's entities and penalises the uninvolved: an objective
    // that asks for an uninvolved one could never be met without a penalty.
    let involved = crate::involvement::involved_in_attack(s, t);
    for e in &s.objectives.attribute {
        let errors_before = c.errors.len();
        entity(&mut c, Some("attribute"), e);
        if c.errors.len() == errors_before && !involved.contains(e) {
            c.fail(
                Some("attribute"),
                &quoted(e.name()),
                format!("objective asks to attribute {e}, which no attack step involves"),
                "name who acts in an attack step (account, source), where it runs, or what it is aimed at",
            );
        }
    }
    for h in &s.hints {
        c.range(Some(&hint_anchor(&h.text)), "cost", h.cost, 0, 500);
    }
    let mut ids: HashSet<&str> = t.rules.iter().map(|r| r.id.as_str()).collect();
    for r in &s.rules {
        if !ids.insert(&r.id) {
            c.fail(
                Some(&anchor_of(&r.id)),
                &quoted(&r.id),
                format!("rule id \"{}\" is already used", r.id),
                "give the rule its own id",
            );
        }
        check_rule(&mut c, t, r);
    }
    c.errors
}

/// Checks that a service id names a service (and, when asked, a company one).
type ServiceCheck<'a> = dyn Fn(&mut Checker, Option<&str>, &str, bool) + 'a;
/// Checks that an identity id or a source address is valid.
type NameCheck<'a> = dyn Fn(&mut Checker, Option<&str>, &str) + 'a;

/// One list of steps (the attack, the decoys, or one of an inject's): in order of `at_s`, and
/// every step valid.
fn check_timeline(
    c: &mut Checker,
    list: &[Step],
    t: &Topology,
    live: u32,
    service: &ServiceCheck<'_>,
    identity: &NameCheck<'_>,
    source: &NameCheck<'_>,
) {
    for pair in list.windows(2) {
        if pair[1].at_s < pair[0].at_s {
            c.fail(
                Some(&anchor_of(&pair[1].id)),
                "at_s",
                format!(
                    "step \"{}\" at {} s comes before \"{}\" at {} s: the timeline is not in order",
                    pair[1].id, pair[1].at_s, pair[0].id, pair[0].at_s
                ),
                "list steps in the order of their at_s",
            );
        }
    }
    for st in list {
        check_step(c, st, t, live, service, identity, source);
    }
}

/// Injects: named, each id once, each with a step; their steps are checked as the main
/// timeline's are (times count from the firing, but must still fit in a live phase).
fn check_injects(
    c: &mut Checker,
    s: &Scenario,
    t: &Topology,
    live: u32,
    service: &ServiceCheck<'_>,
    identity: &NameCheck<'_>,
    source: &NameCheck<'_>,
) {
    c.unique(
        "inject",
        s.injects
            .iter()
            .map(|i| i.id.as_str())
            .filter(|id| !id.is_empty()),
    );
    for inject in &s.injects {
        let a = anchor_of(&inject.id);
        if inject.id.trim().is_empty() {
            c.fail(
                Some("injects"),
                &a,
                "an inject has an empty id".into(),
                "give every inject an id, such as \"new-source\": the mentor fires it by that id",
            );
        }
        if inject.title.trim().is_empty() {
            c.fail(
                Some(&a),
                "title",
                format!("inject \"{}\" has an empty title", inject.id),
                "write what the mentor's button should say",
            );
        }
        if inject.attack.is_empty() && inject.decoys.is_empty() {
            c.fail(
                Some("injects"),
                &a,
                format!("inject \"{}\" has no step", inject.id),
                "add at least one step to its `attack` or `decoys`",
            );
        }
        for list in [&inject.attack, &inject.decoys] {
            check_timeline(c, list, t, live, service, identity, source);
        }
    }
}

fn check_step(
    c: &mut Checker,
    st: &Step,
    t: &Topology,
    live: u32,
    service: &ServiceCheck<'_>,
    identity: &NameCheck<'_>,
    source: &NameCheck<'_>,
) {
    let a = anchor_of(&st.id);
    let a = Some(a.as_str());
    if st.at_s >= live {
        c.fail(
            a,
            "at_s",
            format!(
                "step \"{}\" starts at {} s, after the live phase ends",
                st.id, st.at_s
            ),
            &format!("use at_s below live_s ({live})"),
        );
    }
    if let Some(r) = st.repeat {
        c.range(a, "every_s", r.every_s, 1, 3600);
        if r.until_s < st.at_s || r.until_s > live {
            c.fail(
                a,
                "until_s",
                format!(
                    "step \"{}\" repeats until {} s, outside [{}, {live}]",
                    st.id, r.until_s, st.at_s
                ),
                "repeat until a time between at_s and live_s",
            );
        }
    }
    if st.action.through_front_door() {
        let dataset = match &st.action {
            Action::ReadData { dataset, .. } => Some(dataset.as_str()),
            _ => None,
        };
        check_door(c, t, a, st.action.via(), dataset);
    }
    match &st.action {
        Action::Login {
            identity: i,
            source: s,
            ..
        }
        | Action::CreateKey {
            identity: i,
            source: s,
            ..
        } => {
            identity(c, a, i);
            source(c, a, s);
        }
        Action::Request {
            identity: i,
            source: s,
            endpoint,
            ..
        } => {
            if let Some(i) = i {
                identity(c, a, i);
            }
            source(c, a, s);
            if !endpoint.starts_with('/') {
                c.fail(
                    a,
                    &quoted(endpoint),
                    format!("endpoint \"{endpoint}\" does not start with /"),
                    "write endpoints as paths",
                );
            }
        }
        Action::ReadData {
            identity: i,
            source: s,
            dataset,
            records,
            ..
        } => {
            identity(c, a, i);
            source(c, a, s);
            match t.dataset(dataset) {
                None => c.fail(
                    a,
                    &quoted(dataset),
                    format!("unknown dataset \"{dataset}\""),
                    "use a dataset id of the topology",
                ),
                Some(d) => c.range(a, "records", *records, 1, d.records),
            }
        }
        Action::Exec {
            service: sv,
            identity: i,
            command,
        } => {
            service(c, a, sv, true);
            identity(c, a, i);
            check_command(c, a, command);
        }
        Action::Hog {
            service: sv,
            cpu_workers,
            memory_mib,
            threads,
            seconds,
        } => {
            service(c, a, sv, true);
            c.range(a, "cpu_workers", *cpu_workers, 1, 8);
            c.range(a, "memory_mib", *memory_mib, 0, 4096);
            c.range(a, "threads", *threads, 0, 1024);
            c.range(a, "seconds", *seconds, 1, 3600);
        }
        Action::Backup {
            service: sv,
            seconds,
        } => {
            service(c, a, sv, true);
            c.range(a, "seconds", *seconds, 1, 3600);
        }
        Action::Flood {
            source: s,
            rps,
            seconds,
            endpoint,
            ..
        } => {
            source(c, a, s);
            c.range(a, "rps", *rps, 1, 2000);
            c.range(a, "seconds", *seconds, 1, 3600);
            if !endpoint.starts_with('/') {
                c.fail(
                    a,
                    &quoted(endpoint),
                    format!("endpoint \"{endpoint}\" does not start with /"),
                    "write endpoints as paths",
                );
            }
        }
        Action::Pivot { from, to, endpoint } => {
            service(c, a, from, false);
            service(c, a, to, true);
            if t.service(to).is_some_and(|s| s.role == Role::Gateway) {
                c.fail(
                    a,
                    &quoted(to),
                    format!("pivot to the gateway \"{to}\""),
                    "the gateway is the way in from outside: reach it with Request",
                );
            }
            if !endpoint.starts_with('/') {
                c.fail(
                    a,
                    &quoted(endpoint),
                    format!("endpoint \"{endpoint}\" does not start with /"),
                    "write endpoints as paths",
                );
            }
        }
        Action::Exfiltrate { from, to, bytes } => {
            service(c, a, from, false);
            source(c, a, to);
            // labd's largest request body: a bigger attempt would never reach the firewall.
            c.range(a, "bytes", *bytes, 1, 4 * 1024 * 1024);
        }
        Action::Scan { from, zone } => {
            service(c, a, from, false);
            if t.zone(zone).is_none_or(|z| z.outside) {
                c.fail(
                    a,
                    &quoted(zone),
                    format!("\"{zone}\" is not a company zone"),
                    "scan a zone id of the topology (not the outside)",
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCENARIO: &str = include_str!("../../../scenarios/stolen-credentials.ron");
    const TOPOLOGY: &str = include_str!("../../../labs/topologies/company.ron");

    /// The stolen-credentials scenario with its `injects` list replaced by `block`.
    fn with_injects(block: &str) -> String {
        let end = SCENARIO
            .find("    objectives: Objectives(")
            .expect("the scenario has objectives");
        let start = SCENARIO.find("    injects: [").unwrap_or(end);
        format!(
            "{}    injects: [{block}],\n{}",
            &SCENARIO[..start],
            &SCENARIO[end..]
        )
    }

    /// Every problem of a scenario text, as `(line, message)`.
    fn problems(text: &str) -> Vec<(usize, String)> {
        let file = SourceFile::new("s.ron", text);
        let scenario: Scenario = file.parse("scenario").expect("the text parses");
        let topology: Topology = ron::from_str(TOPOLOGY).expect("the topology parses");
        check_scenario(&scenario, &file, &topology)
            .into_iter()
            .map(|e| (e.location.line, e.message))
            .collect()
    }

    /// The line of the `nth` occurrence (from 0) of `needle`.
    fn line_of(text: &str, needle: &str, nth: usize) -> usize {
        let at = text
            .match_indices(needle)
            .nth(nth)
            .expect("needle present")
            .0;
        text[..at].matches('\n').count() + 1
    }

    const INSIDER: &str = include_str!("../../../scenarios/insider-access.ron");

    const SAAS: &str = include_str!("../../../labs/topologies/saas.ron");

    /// Every problem of a topology text, as `(line, message)`.
    fn topology_problems(text: &str) -> Vec<(usize, String)> {
        let file = SourceFile::new("t.ron", text);
        let topology: Topology = file.parse("topology").expect("the text parses");
        check_topology(&topology, &file)
            .into_iter()
            .map(|e| (e.location.line, e.message))
            .collect()
    }

    #[test]
    fn weaknesses_add_only_safe_capabilities_and_name_secrets_as_secrets() {
        let with = |weaknesses: &str| {
            let anchor = "    timing:";
            assert!(SCENARIO.contains(anchor));
            SCENARIO.replacen(
                anchor,
                &format!("    weaknesses: [{weaknesses}],\n{anchor}"),
                1,
            )
        };
        let fine = with(
            r#"WritableRoot(service: "tenant-a"), RunsAsRoot(service: "tenant-a"),
            ExtraCapabilities(service: "tenant-a", caps: ["NET_RAW"]),
            SecretInEnv(service: "web", var: "DB_PASSWORD"),
            SecretInImage(service: "web", path: "/etc/app/deploy.env", var: "DEPLOY_TOKEN"),
            UnneededTool(service: "web", path: "/usr/bin/curl"),
            UnverifiedScript(service: "web", path: "/opt/vendor/update.sh", source: "https://get.vendor.example/agent.sh"),
            DefaultPassword(service: "web", identity: "alice", password: "changeme"),
            ExposedManagement(service: "web", path: "/actuator")"#,
        );
        assert_eq!(problems(&fine), vec![]);
        for (bad, expect) in [
            (
                r#"ExtraCapabilities(service: "tenant-a", caps: ["SYS_ADMIN"])"#,
                "capability \"SYS_ADMIN\" may reach past the container",
            ),
            (
                r#"ExtraCapabilities(service: "tenant-a", caps: [])"#,
                "adds no capability",
            ),
            (
                r#"SecretInEnv(service: "web", var: "GREETING")"#,
                "\"GREETING\" is not a secret's variable name",
            ),
            (
                r#"SecretInEnv(service: "web", var: "LABD_TOKEN")"#,
                "\"LABD_TOKEN\" is not a secret's variable name",
            ),
            (
                r#"SecretInImage(service: "web", path: "/etc/app.env", var: "GREETING")"#,
                "\"GREETING\" is not a secret's variable name",
            ),
            (
                r#"SecretInImage(service: "web", path: "etc/app.env", var: "API_TOKEN")"#,
                "\"etc/app.env\" is not a file path an image layer may add",
            ),
            (
                r#"SecretInImage(service: "web", path: "/etc/../labd", var: "API_TOKEN")"#,
                "is not a file path an image layer may add",
            ),
            (
                r#"SecretInImage(service: "web", path: "/labd", var: "API_TOKEN")"#,
                "is not a file path an image layer may add",
            ),
            (
                r#"UnneededTool(service: "web", path: "/usr/bin/vim")"#,
                "\"/usr/bin/vim\" is not a tool an audit of the image would find",
            ),
            (
                r#"UnneededTool(service: "web", path: "curl")"#,
                "is not a tool an audit of the image would find",
            ),
            (
                r#"UnverifiedScript(service: "web", path: "/opt/u.sh", source: "https://x.example/a.sh; rm -rf /")"#,
                "is not a URL a script could fetch from",
            ),
            (
                r#"UnverifiedScript(service: "web", path: "/opt/u.sh", source: "ftp://x.example/a.sh")"#,
                "is not a URL a script could fetch from",
            ),
            (r#"RunsAsRoot(service: "traffic")"#, "is range machinery"),
            (
                r#"UnneededTool(service: "web", path: "/usr/bin/curl"), UnneededTool(service: "web", path: "/usr/bin/nc")"#,
                "weakness \"web: unneeded tool in the image\" is declared twice",
            ),
            (
                r#"DefaultPassword(service: "web", identity: "alice", password: "hunter2")"#,
                "\"hunter2\" is not a default password an audit would try",
            ),
            (
                r#"DefaultPassword(service: "web", identity: "mallory", password: "admin")"#,
                "unknown identity \"mallory\"",
            ),
            (
                r#"DefaultPassword(service: "datastore", identity: "alice", password: "admin")"#,
                "service \"datastore\" is not a web tier: it has no accounts",
            ),
            (
                r#"ExposedManagement(service: "web", path: "/admin")"#,
                "\"/admin\" is not a management endpoint an audit would ask about",
            ),
            (
                r#"ExposedManagement(service: "tenant-a", path: "/debug")"#,
                "service \"tenant-a\" is not a web tier: it has no endpoints",
            ),
        ] {
            let text = with(bad);
            let found = problems(&text);
            assert!(
                found.iter().any(
                    |(line, m)| m.contains(expect) && *line == line_of(&text, "weaknesses:", 0)
                ),
                "{bad}: {found:?}"
            );
        }
    }

    #[test]
    fn a_hardening_phase_names_declared_weaknesses_within_its_budget() {
        let with = |hardening: &str, exploits: &str| {
            let text = SCENARIO.replacen(
                "    timing:",
                &format!(
                    "    weaknesses: [RunsAsRoot(service: \"tenant-a\")],\n    hardening: {hardening},\n    timing:"
                ),
                1,
            );
            let login = "Step(id: \"login\",";
            assert!(text.contains(login));
            text.replacen(
                login,
                &format!("Step(id: \"login\", exploits: {exploits},"),
                1,
            )
        };
        let declared = r#"Some(WeaknessRef(service: "tenant-a", weakness: RunsAsRoot))"#;
        let risk = |service: &str| {
            format!(
                r#"Some(Hardening(budget_s: 60, accepted: [AcceptedRisk(service: "{service}", weakness: RunsAsRoot, reason: "R", breaks: "B")]))"#
            )
        };
        assert_eq!(problems(&with(&risk("tenant-a"), declared)), vec![]);
        let text = with(&risk("web"), declared);
        let found = problems(&text);
        assert!(
            found.iter().any(|(line, m)| m
                .contains("accepted risk \"web: runs as root\" is not a weakness")
                && *line == line_of(&text, "accepted:", 0)),
            "{found:?}"
        );
        let stray = r#"Some(WeaknessRef(service: "tenant-b", weakness: RunsAsRoot))"#;
        let text = with(&risk("tenant-a"), stray);
        let found = problems(&text);
        assert!(
            found.iter().any(|(line, m)| m
                .contains("exploits \"tenant-b: runs as root\", not a weakness")
                && *line == line_of(&text, "exploits:", 0)),
            "{found:?}"
        );
        // A risk whose "fix" a lab could not make break anything is refused: the card's cost
        // would be all there is to it.
        let weaker = with(&risk("tenant-a"), declared).replacen(
            "weaknesses: [RunsAsRoot(service: \"tenant-a\")]",
            "weaknesses: [RunsAsRoot(service: \"tenant-a\"), NoLimits(service: \"tenant-a\")]",
            1,
        );
        let text = weaker.replacen(
            "weakness: RunsAsRoot, reason",
            "weakness: NoLimits, reason",
            1,
        );
        let found = problems(&text);
        assert!(
            found.iter().any(|(line, m)| m
                .contains("accepted risk \"tenant-a: no resource limits\": a lab can only hold a service to needing WritableRoot, RunsAsRoot, ExtraCapabilities, UnneededTool")
                && *line == line_of(&text, "accepted:", 0)),
            "{found:?}"
        );
        // A fix with a cost names a declared weakness, and not one the business accepted.
        let both = risk("tenant-a").replacen(
            "]))",
            r#"], collateral: [FixCollateral(service: "tenant-a", weakness: RunsAsRoot, breaks: "B")]))"#,
            1,
        );
        let text = with(&both, declared);
        let found = problems(&text);
        assert!(
            found.iter().any(|(line, m)| m
                .contains("is both an accepted risk and a fix with a cost")
                && *line == line_of(&text, "collateral:", 0)),
            "{found:?}"
        );
        let costly = r#"Some(Hardening(budget_s: 60, collateral: [FixCollateral(service: "tenant-a", weakness: RunsAsRoot, breaks: "B")]))"#;
        assert_eq!(problems(&with(costly, declared)), vec![]);
        let text = with(&costly.replace("tenant-a", "web"), declared);
        assert!(
            problems(&text)
                .iter()
                .any(|(_, m)| m
                    .contains("collateral of fixing \"web: runs as root\" is not a weakness")),
            "{:?}",
            problems(&text)
        );
        let text = with("Some(Hardening(budget_s: 5))", declared);
        let found = problems(&text);
        assert!(
            found
                .iter()
                .any(|(line, m)| m.contains("budget_s") && *line == line_of(&text, "budget_s", 0)),
            "{found:?}"
        );
    }

    #[test]
    fn the_saas_topology_with_its_routes_and_firewall_validates() {
        assert_eq!(topology_problems(SAAS), vec![]);
    }

    #[test]
    fn routes_need_a_firewall_in_both_company_zones_and_paths() {
        let route = r#"Route(from: "jobs", to: "data", via: "firewall", endpoints: ["/records"]),"#;
        assert!(SAAS.contains(route));
        for (bad, expect) in [
            (
                r#"Route(from: "jobs", to: "edge", via: "firewall", endpoints: ["/records"]),"#,
                "not a firewall in both",
            ),
            (
                r#"Route(from: "jobs", to: "data", via: "api", endpoints: ["/records"]),"#,
                "not a firewall in both",
            ),
            (
                r#"Route(from: "jobs", to: "outside", via: "firewall", endpoints: ["/records"]),"#,
                "touches the outside zone",
            ),
            (
                r#"Route(from: "jobs", to: "jobs", via: "firewall", endpoints: ["/records"]),"#,
                "to itself",
            ),
            (
                r#"Route(from: "jobs", to: "vault", via: "firewall", endpoints: ["/records"]),"#,
                "unknown zone \"vault\"",
            ),
            (
                r#"Route(from: "jobs", to: "data", via: "firewall", endpoints: ["records"]),"#,
                "does not start with /",
            ),
        ] {
            let text = SAAS.replace(route, bad);
            let found = topology_problems(&text);
            let line = line_of(&text, bad, 0);
            assert!(
                found.iter().any(|(l, m)| *l == line && m.contains(expect)),
                "{bad}: {found:?}"
            );
        }
    }

    #[test]
    fn a_firewall_is_a_company_service_that_knows_each_neighbours_zone() {
        // The API joins data (a firewall zone); joining jobs too would put it on two of the
        // firewall's networks.
        let api = r#"role: Web, zones: ["app", "data"],"#;
        assert!(SAAS.contains(api));
        let text = SAAS.replace(api, r#"role: Web, zones: ["app", "data", "jobs"],"#);
        let found = topology_problems(&text);
        assert!(
            found
                .iter()
                .any(|(_, m)| m.contains("sits in 2 zones of firewall")),
            "{found:?}"
        );
        let text = SAAS.replace("schema_version: 2,", "schema_version: 1,");
        let found = topology_problems(&text);
        assert!(
            found
                .iter()
                .any(|(l, m)| *l == line_of(&text, "schema_version", 0)
                    && m.contains("need schema_version: 2")),
            "{found:?}"
        );
        let text = SAAS.replace("schema_version: 2,", "schema_version: 3,");
        assert!(
            topology_problems(&text)
                .iter()
                .any(|(_, m)| m.contains("unsupported schema_version 3"))
        );
    }

    #[test]
    fn an_exec_runs_only_what_the_lab_image_holds() {
        let step =
            r#"action: Exec(service: "datastore", identity: "dave", command: "/labd probe"),"#;
        assert!(INSIDER.contains(step));
        for (bad, expect) in [
            ("/bin/sh -c id", "has no program \"/bin/sh\""),
            ("/labd rm-rf", "has no subcommand \"rm-rf\""),
            ("", "has no program \"\""),
        ] {
            let text = INSIDER.replacen(step, &step.replace("/labd probe", bad), 1);
            let found = problems(&text);
            assert!(
                found.iter().any(|(_, m)| m.contains(expect)),
                "{bad}: {found:?}"
            );
        }
    }

    #[test]
    fn pivots_and_scans_name_real_services_and_company_zones() {
        let step = r#"action: Login(identity: "{victim.identity}", source: "{intruder.source}"),"#;
        assert!(SCENARIO.contains(step));
        for (bad, expect) in [
            (
                r#"action: Pivot(from: "tenant-a", to: "nowhere", endpoint: "/"),"#,
                "unknown service \"nowhere\"",
            ),
            (
                r#"action: Pivot(from: "tenant-a", to: "gateway", endpoint: "/"),"#,
                "pivot to the gateway",
            ),
            (
                r#"action: Pivot(from: "tenant-a", to: "web", endpoint: "admin"),"#,
                "does not start with /",
            ),
            (
                r#"action: Scan(from: "tenant-a", zone: "outside"),"#,
                "is not a company zone",
            ),
        ] {
            let text = SCENARIO.replacen(step, bad, 1);
            let found = problems(&text);
            let line = line_of(&text, bad, 0);
            assert!(
                found.iter().any(|(l, m)| *l == line && m.contains(expect)),
                "{bad}: {found:?}"
            );
        }
        let fine = SCENARIO.replacen(
            step,
            r#"action: Pivot(from: "tenant-a", to: "datastore", endpoint: "/records/orders"),"#,
            1,
        );
        assert_eq!(problems(&fine), vec![]);
    }

    #[test]
    fn the_shipped_variants_all_validate() {
        assert!(
            INSIDER.contains("variants: Variants("),
            "insider-access declares variants"
        );
        assert_eq!(problems(INSIDER), vec![]);
    }

    #[test]
    fn a_bad_candidate_an_unknown_placeholder_and_uneven_fields_are_located() {
        // An address that is not one: reported once, at the candidate.
        let text = INSIDER.replacen(
            r#"{"source": "198.51.100.160"}"#,
            r#"{"source": "not-an-ip"}"#,
            1,
        );
        let found = problems(&text);
        let line = line_of(&text, "not-an-ip", 0);
        let about: Vec<_> = found
            .iter()
            .filter(|(_, m)| m.contains("not-an-ip"))
            .collect();
        assert!(
            !about.is_empty() && about.iter().all(|(l, _)| *l == line),
            "{found:?}"
        );
        let distinct: HashSet<_> = about.iter().map(|(_, m)| m).collect();
        assert_eq!(distinct.len(), about.len(), "each problem once: {found:?}");

        let text = INSIDER.replacen(
            "the outsider at {outsider.source} out",
            "the outsider at {outsider.address} out",
            1,
        );
        let found = problems(&text);
        let line = line_of(&text, "{outsider.address}", 0);
        assert_eq!(
            found,
            vec![(line, "unknown placeholder {outsider.address}".to_string())]
        );

        let text = INSIDER.replacen(
            r#"{"source": "203.0.113.201"}"#,
            r#"{"address": "203.0.113.201"}"#,
            1,
        );
        let found = problems(&text);
        assert!(
            found
                .iter()
                .any(|(_, m)| m.contains("do not all name the same fields")),
            "{found:?}"
        );
    }

    #[test]
    fn placeholders_stay_out_of_the_traffic_the_lab_starts_from() {
        let text = INSIDER.replacen(
            r#"sources: ["10.20.0.14"]"#,
            r#"sources: ["{outsider.source}"]"#,
            1,
        );
        let found = problems(&text);
        assert!(
            found
                .iter()
                .any(|(_, m)| m == "placeholder {outsider.source} in `traffic`"),
            "{found:?}"
        );
    }

    fn login(id: &str, at_s: u32, source: &str) -> String {
        format!(
            "Step(id: \"{id}\", at_s: {at_s}, action: Login(identity: \"alice\", source: \"{source}\"), narrative: \"n\")"
        )
    }

    fn inject(id: &str, steps: &str) -> String {
        format!("Inject(id: \"{id}\", title: \"T\", description: \"D\", attack: [{steps}]),\n")
    }

    /// Exactly one problem, containing `message`, on the line of `needle`'s `nth` occurrence.
    fn assert_one(text: &str, message: &str, needle: &str, nth: usize) {
        let found = problems(text);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].1.contains(message), "{found:?}");
        assert_eq!(found[0].0, line_of(text, needle, nth), "{found:?}");
    }

    #[test]
    fn a_valid_inject_and_no_injects_both_pass() {
        assert_eq!(problems(&with_injects("")), vec![]);
        let ok = inject("again", &login("again-login", 0, "198.51.100.77"));
        assert_eq!(problems(&with_injects(&ok)), vec![]);
    }

    #[test]
    fn inject_ids_are_unique() {
        let text = with_injects(&format!(
            "{}{}",
            inject("again", &login("a1", 0, "198.51.100.77")),
            inject("again", &login("a2", 0, "198.51.100.78"))
        ));
        assert_one(&text, "duplicate inject id \"again\"", "id: \"again\"", 1);
    }

    #[test]
    fn an_inject_id_is_not_empty() {
        let text = with_injects(&inject("", &login("a1", 0, "198.51.100.77")));
        assert_one(&text, "an inject has an empty id", "id: \"\"", 0);
    }

    #[test]
    fn an_inject_has_a_title() {
        let text = with_injects(
            &inject("again", &login("a1", 0, "198.51.100.77"))
                .replace("title: \"T\"", "title: \" \""),
        );
        assert_one(
            &text,
            "inject \"again\" has an empty title",
            "title: \" \"",
            0,
        );
    }

    #[test]
    fn an_inject_has_at_least_one_step() {
        let text = with_injects(&inject("again", ""));
        assert_one(&text, "inject \"again\" has no step", "id: \"again\"", 0);
    }

    #[test]
    fn step_ids_are_unique_across_the_attack_the_decoys_and_the_injects() {
        // "scrape" is an attack step of the scenario already.
        let text = with_injects(&inject("again", &login("scrape", 0, "198.51.100.77")));
        assert_one(&text, "duplicate step id \"scrape\"", "id: \"scrape\"", 1);
        let text = with_injects(&format!(
            "{}{}",
            inject("one", &login("same", 0, "198.51.100.77")),
            inject("two", &login("same", 0, "198.51.100.78"))
        ));
        assert_one(&text, "duplicate step id \"same\"", "id: \"same\"", 1);
    }

    #[test]
    fn inject_steps_are_checked_as_the_timeline_is() {
        let bad_source = with_injects(&inject("again", &login("a1", 0, "not-an-ip")));
        assert_one(&bad_source, "is not an IPv4 address", "\"not-an-ip\"", 0);
        let late = with_injects(&inject("again", &login("a1", 9999, "198.51.100.77")));
        assert_one(&late, "after the live phase ends", "at_s: 9999", 0);
        let steps = format!(
            "{}, {}",
            login("a1", 27, "198.51.100.77"),
            login("a2", 13, "198.51.100.77")
        );
        let unordered = with_injects(&inject("again", &steps));
        assert_one(&unordered, "the timeline is not in order", "at_s: 13", 0);
        let unknown = with_injects(
            &inject("again", &login("a1", 0, "198.51.100.77")).replace("alice", "mallory"),
        );
        assert_one(&unknown, "unknown identity \"mallory\"", "\"mallory\"", 0);
    }

    const POISONED: &str = include_str!("../../../scenarios/poisoned-pdf.ron");

    /// Every problem of a scenario text on the SaaS topology (text given), as `(line, message)`.
    fn saas_problems(text: &str, topology: &str) -> Vec<(usize, String)> {
        let file = SourceFile::new("s.ron", text);
        let scenario: Scenario = file.parse("scenario").expect("the text parses");
        let topology: Topology = ron::from_str(topology).expect("the topology parses");
        check_scenario(&scenario, &file, &topology)
            .into_iter()
            .map(|e| (e.location.line, e.message))
            .collect()
    }

    #[test]
    fn several_tiers_each_name_their_upstream_over_a_shared_zone() {
        let declared = r#"upstream: Some("partner-portal"),"#;
        assert!(SAAS.contains(declared));
        for (bad, expect) in [
            ("", "needs an `upstream`: the lab has several web services"),
            (r#"upstream: Some("payouts-db"),"#, "is not a web service"),
            (r#"upstream: Some("api"),"#, "share no zone"),
        ] {
            let text = SAAS.replace(declared, bad);
            let found = topology_problems(&text);
            // On the service's id, or on the upstream it names (the line after).
            let line = line_of(&text, "id: \"partner-gateway\"", 0);
            assert!(
                found
                    .iter()
                    .any(|(l, m)| (line..=line + 1).contains(l) && m.contains(expect)),
                "{bad:?}: {found:?}"
            );
        }
        let kept = r#"store: Some("payouts-db")"#;
        for (bad, expect) in [
            ("", "needs a `store`: the lab has several datastores"),
            (r#"store: Some("api")"#, "is not a datastore"),
        ] {
            let text = match bad {
                "" => SAAS.replace(&format!(", {kept}"), ""),
                bad => SAAS.replace(kept, bad),
            };
            let found = topology_problems(&text);
            let line = line_of(&text, "id: \"payouts\"", 0);
            assert!(
                found.iter().any(|(l, m)| *l == line && m.contains(expect)),
                "{bad:?}: {found:?}"
            );
        }
        // A worker has no upstream; a lab needs at least one tier of each kind of the way in.
        let worker = r#"role: Worker, zones: ["ops"],"#;
        let text = SAAS.replace(worker, &format!(r#"{worker} upstream: Some("api"),"#));
        let found = topology_problems(&text);
        assert!(
            found.iter().any(|(_, m)| m.contains("has no upstream")),
            "{found:?}"
        );
    }

    #[test]
    fn a_request_names_its_web_tier_where_there_are_several_and_reads_what_it_keeps() {
        assert!(saas_problems(POISONED, SAAS).is_empty());
        let lena = r#"BenignUser(identity: "lena", via: Some("api"), "#;
        assert!(POISONED.contains(lena));
        for (bad, expect) in [
            (
                r#"BenignUser(identity: "lena", "#,
                "several web tiers: this request needs a `via`",
            ),
            (
                r#"BenignUser(identity: "lena", via: Some("ledger-db"), "#,
                "via \"ledger-db\" is not a web tier",
            ),
            (
                r#"BenignUser(identity: "lena", via: Some("partner-portal"), "#,
                "dataset \"invoices\" is kept in \"ledger-db\", and web tier \"partner-portal\" reads \"payouts-db\"",
            ),
        ] {
            let text = POISONED.replace(lena, bad);
            let found = saas_problems(&text, SAAS);
            let line = line_of(&text, "identity: \"lena\"", 0);
            assert!(
                found.iter().any(|(l, m)| *l == line && m.contains(expect)),
                "{bad}: {found:?}"
            );
        }
        // An attack step is held to the same: a read through the API of what only the partner
        // portal's store keeps is an authoring mistake, named where the step is.
        let step = r#"Step(id: "knock", at_s: 40, action: Pivot(from: "invoice-worker", to: "ops-console", endpoint: "/"),"#;
        assert!(POISONED.contains(step));
        let read = r#"Step(id: "knock", at_s: 40, action: ReadData(identity: "priya", source: "192.0.2.9", dataset: "payouts", records: 5, via: Some("api")),"#;
        let text = POISONED.replace(step, read);
        let found = saas_problems(&text, SAAS);
        let line = line_of(&text, read, 0);
        assert!(
            found
                .iter()
                .any(|(l, m)| *l == line && m.contains("kept in \"payouts-db\"")),
            "{found:?}"
        );
        // A web tier no gateway forwards to has no way in from outside.
        let fronted =
            r#"zones: ["edge", "outside", "partners"], upstream: Some("partner-portal"),"#;
        assert!(SAAS.contains(fronted));
        let orphan = SAAS.replace(
            fronted,
            r#"zones: ["edge", "outside", "app"], upstream: Some("api"),"#,
        );
        let found = saas_problems(POISONED, &orphan);
        assert!(
            found
                .iter()
                .any(|(_, m)| m.contains("no gateway forwards to web tier \"partner-portal\"")),
            "{found:?}"
        );
    }
}
