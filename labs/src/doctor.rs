//! `diagnose`: what this machine has and lacks for real labs and for the game window, each as
//! a check with a fix the user can act on. Pure data: the CLI prints it. Quick (a Docker ping
//! with a short timeout, file look-ups, one `rustc` call) and never builds anything.

use std::path::{Path, PathBuf};

use crate::image;

/// One line of the diagnosis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    /// What was found.
    pub detail: String,
    /// What to do when not ok.
    pub fix: Option<String>,
}

impl Check {
    fn ok(name: &str, detail: impl Into<String>) -> Self {
        Check {
            name: name.into(),
            ok: true,
            detail: detail.into(),
            fix: None,
        }
    }

    fn fail(name: &str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Check {
            name: name.into(),
            ok: false,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

/// Run every check.
pub async fn diagnose() -> Vec<Check> {
    let mut checks = Vec::new();
    let docker = crate::docker::connect().await;
    checks.push(match &docker {
        Ok(d) => match crate::docker::api_version(d).await {
            Ok((version, api)) => Check::ok(
                "Docker",
                format!(
                    "daemon {version} (API {api}) at {}",
                    crate::docker::endpoint()
                ),
            ),
            Err(e) => Check::fail(
                "Docker",
                e.to_string(),
                "check the daemon's health: `docker version`",
            ),
        },
        Err(e) => Check::fail(
            "Docker",
            e.to_string().lines().next().unwrap_or_default().to_owned(),
            "start Docker (`sudo systemctl start docker`) or set DOCKER_HOST, and make sure this \
             user may use it (group `docker`); without Docker, sessions run on the simulated lab",
        ),
    });
    let (image_check, loaded) = lab_image(docker.as_ref().ok()).await;
    checks.push(image_check);
    checks.push(swarm(docker.as_ref().ok(), loaded.as_deref()).await);
    checks.extend(other_nodes(docker.as_ref().ok(), loaded.as_deref()).await);
    checks.push(static_build());
    checks.push(host_shield());
    checks.push(vulkan(&[
        PathBuf::from("/usr/share/vulkan/icd.d"),
        PathBuf::from("/etc/vulkan/icd.d"),
    ]));
    checks.push(display(
        std::env::var_os("DISPLAY").is_some_and(|v| !v.is_empty()),
        std::env::var_os("WAYLAND_DISPLAY").is_some_and(|v| !v.is_empty()),
    ));
    checks
}

/// Is the image for the current `labd` loaded? Judged from the embedded `labd` (a release
/// build) or the binary cargo last built (a developer build; a source change since then
/// triggers a rebuild at the next lab start), without running cargo. With the check, the
/// image's reference when it is loaded.
async fn lab_image(docker: Option<&bollard::Docker>) -> (Check, Option<String>) {
    const NAME: &str = "Lab image";
    let Some(docker) = docker else {
        return (
            Check::fail(NAME, "unknown, no Docker", "start Docker first"),
            None,
        );
    };
    let arch = match image::daemon_arch(docker).await {
        Ok(arch) => arch,
        Err(e) => {
            let fix = "labs need an amd64 or arm64 daemon";
            return (Check::fail(NAME, e.to_string(), fix), None);
        }
    };
    let bytes = match crate::embedded::labd(arch) {
        Some(bytes) => bytes.to_vec(),
        None => {
            let binary = image::binary_path(&image::source_dir(), arch);
            match std::fs::read(&binary) {
                Ok(bytes) => bytes,
                Err(_) => {
                    let check = Check::fail(
                        NAME,
                        format!(
                            "labd has not been built yet ({} is missing)",
                            binary.display()
                        ),
                        "nothing to do: it is built on the first Docker lab start (a few \
                         minutes, once)",
                    );
                    return (check, None);
                }
            }
        }
    };
    let hash = image::content_hash(&bytes, arch);
    let reference = image::reference_for(&hash);
    match image::image_present(docker, &hash).await {
        Ok(true) => (
            Check::ok(NAME, format!("{reference} is loaded and current")),
            Some(reference),
        ),
        Ok(false) => (
            Check::fail(
                NAME,
                format!("{reference} is not loaded yet"),
                "nothing to do: it is loaded on the next Docker lab start (about a second)",
            ),
            None,
        ),
        Err(e) => (
            Check::fail(NAME, e.to_string(), "check the daemon: `docker images`"),
            None,
        ),
    }
}

/// Can `--backend swarm` place labs here: is this engine a Swarm manager, and does its daemon
/// enforce no-new-privileges (a probe container from the loaded lab `image` says)? Not being a
/// manager is fine: labs then run on this host.
async fn swarm(docker: Option<&bollard::Docker>, image: Option<&str>) -> Check {
    const NAME: &str = "Swarm";
    let Some(docker) = docker else {
        return Check::ok(NAME, "not checked: no Docker");
    };
    let node = match crate::swarm::local_manager(docker).await {
        Ok(node) => node,
        Err(_) => {
            return Check::ok(
                NAME,
                "not a Swarm manager: labs run on this host (--backend swarm needs one; README, \
                 \"Labs on Docker Swarm\")",
            );
        }
    };
    let nodes = crate::swarm::node_loads(docker)
        .await
        .map_or(0, |n| n.len());
    let Some(image) = image else {
        return Check::ok(
            NAME,
            format!(
                "manager of {nodes} node(s); no-new-privileges is checked once the lab image is \
                 loaded"
            ),
        );
    };
    match crate::swarm::enforces_no_new_privileges(docker, image, &node).await {
        Ok(()) => Check::ok(
            NAME,
            format!(
                "manager of {nodes} node(s); node {} enforces no-new-privileges: it takes labs",
                node.hostname
            ),
        ),
        Err(e) => Check::fail(
            NAME,
            e.to_string().lines().next().unwrap_or_default().to_owned(),
            "start its Docker daemon with no-new-privileges (\"no-new-privileges\": true in \
             /etc/docker/daemon.json, then restart dockerd; scripts/one-node-swarm.sh up does \
             it), or serve with --backend docker",
        ),
    }
}

/// The swarm's other nodes given (`--node`): each engine answers as a node of this swarm, and,
/// once the lab image `image` is there, its daemon enforces no-new-privileges.
async fn other_nodes(docker: Option<&bollard::Docker>, image: Option<&str>) -> Vec<Check> {
    let Some(docker) = docker else {
        return Vec::new();
    };
    let engines = match crate::swarm::nodes::connect_all(docker).await {
        Ok(engines) => engines,
        Err(e) => {
            let mut lines = e.to_string().lines().map(str::to_owned).collect::<Vec<_>>();
            let detail = lines.remove(0);
            let fix = lines
                .join(" ")
                .trim()
                .trim_start_matches("what to do: ")
                .to_owned();
            return vec![Check::fail("Swarm node", detail, fix)];
        }
    };
    let mut checks = Vec::new();
    for engine in engines {
        checks.push(node_check(&engine, image).await);
    }
    checks
}

/// One other node: its engine answers, and once the lab image `image` is there, its daemon
/// enforces no-new-privileges (a probe container says).
async fn node_check(engine: &crate::swarm::nodes::NodeEngine, image: Option<&str>) -> Check {
    let name = format!("Swarm node {}", engine.node.hostname);
    let held = match image {
        Some(image) if engine.docker.inspect_image(image).await.is_ok() => image,
        _ => {
            let detail = format!(
                "engine at {}; the lab image is loaded there, and no-new-privileges checked, at \
                 its first lab",
                engine.endpoint
            );
            return Check::ok(&name, detail);
        }
    };
    match crate::swarm::enforces_no_new_privileges(&engine.docker, held, &engine.node).await {
        Ok(()) => Check::ok(
            &name,
            format!(
                "engine at {}; enforces no-new-privileges: it takes labs",
                engine.endpoint
            ),
        ),
        Err(e) => Check::fail(
            &name,
            e.to_string().lines().next().unwrap_or_default().to_owned(),
            "start its Docker daemon with no-new-privileges (\"no-new-privileges\": true in \
             /etc/docker/daemon.json, then restart dockerd)",
        ),
    }
}

/// Can `labd` be built statically: the Rust target's standard library and static glibc.
fn static_build() -> Check {
    const NAME: &str = "Static labd build";
    if crate::embedded::carries_labd() {
        return Check::ok(
            NAME,
            format!(
                "not needed: this bulkhead carries {}",
                crate::embedded::summary()
            ),
        );
    }
    let target = crate::embedded::Arch::X86_64.rust_target();
    let sysroot = std::process::Command::new("rustc")
        .args(["--print", "sysroot"])
        .output();
    let sysroot = match sysroot {
        Ok(out) if out.status.success() => {
            PathBuf::from(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        }
        _ => {
            return Check::fail(
                NAME,
                "rustc is not on PATH",
                "install Rust with rustup (https://rustup.rs)",
            );
        }
    };
    // The target's std is installed where `rustup target add` puts it.
    let std_dir = sysroot.join("lib/rustlib").join(target).join("lib");
    let has_std = std::fs::read_dir(&std_dir)
        .map(|d| {
            d.flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("libstd-"))
        })
        .unwrap_or(false);
    if !has_std {
        return Check::fail(
            NAME,
            format!("the {target} standard library is not installed"),
            format!("rustup target add {target}"),
        );
    }
    let libc = [
        "/usr/lib/x86_64-linux-gnu/libc.a",
        "/usr/lib64/libc.a",
        "/usr/lib/libc.a",
    ];
    if !libc.iter().any(|p| Path::new(p).is_file()) {
        return Check::fail(
            NAME,
            "static glibc (libc.a) is missing",
            "apt-get install libc6-dev (Fedora: dnf install glibc-static)",
        );
    }
    if !image::source_dir().join("labs/agent/Cargo.toml").is_file() {
        return Check::fail(
            NAME,
            format!("no labd sources under {}", image::source_dir().display()),
            "set BULKHEAD_SOURCE_DIR to a Bulkhead checkout",
        );
    }
    Check::ok(
        NAME,
        format!(
            "{target} target and static glibc present; sources in {}",
            image::source_dir().display()
        ),
    )
}

/// Lab networks are internal (no route off the machine, none between labs), but the host has
/// an address on each lab bridge, so a lab container can open connections to services the
/// host runs on all interfaces. One firewall rule closes that while the host still reaches the
/// containers. It cannot be read without root, so this only reports it when it can tell.
fn host_shield() -> Check {
    const NAME: &str = "Host shielded from labs";
    let fix = format!(
        "run a lab once as root (it adds the rule), or `sudo iptables -I {}`: it keeps lab \
         containers from connecting to services on this host (the host still reaches them)",
        crate::shield::RULE.join(" ")
    );
    match crate::shield::status() {
        crate::shield::Shield::Present => Check::ok(
            NAME,
            "lab bridges (bh-*) may not open connections to the host",
        ),
        crate::shield::Shield::Missing => Check::fail(
            NAME,
            "lab containers can connect to services this host runs on all interfaces",
            fix,
        ),
        crate::shield::Shield::Unknown => Check::fail(
            NAME,
            "cannot tell (iptables is not usable by this user)",
            fix,
        ),
    }
}

/// Vulkan drivers are found through their ICD manifests; bevy needs one adapter.
fn vulkan(dirs: &[PathBuf]) -> Check {
    const NAME: &str = "Vulkan adapter";
    if let Some(list) =
        std::env::var_os("VK_ICD_FILENAMES").or_else(|| std::env::var_os("VK_DRIVER_FILES"))
        && !list.is_empty()
    {
        return Check::ok(
            NAME,
            format!(
                "drivers named by the environment: {}",
                list.to_string_lossy()
            ),
        );
    }
    let mut found: Vec<String> = dirs
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flat_map(|d| d.flatten())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
        .collect();
    found.sort();
    if found.is_empty() {
        Check::fail(
            NAME,
            "no Vulkan driver manifest (ICD) found; the game window cannot open",
            "apt-get install mesa-vulkan-drivers (a software renderer is enough); \
             `bulkhead run` works without it",
        )
    } else {
        Check::ok(NAME, format!("driver manifests: {}", found.join(", ")))
    }
}

fn display(x11: bool, wayland: bool) -> Check {
    const NAME: &str = "Display";
    match (x11, wayland) {
        (true, _) | (_, true) => Check::ok(
            NAME,
            if wayland {
                "WAYLAND_DISPLAY is set"
            } else {
                "DISPLAY is set"
            },
        ),
        _ => Check::fail(
            NAME,
            "neither DISPLAY nor WAYLAND_DISPLAY is set",
            "run the game under a desktop session, or headless with `xvfb-run -a bulkhead ...` \
             (apt-get install xvfb xauth)",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vulkan_finds_manifests_and_says_what_to_install() {
        let dir = tempfile::tempdir().unwrap();
        let none = vulkan(&[dir.path().to_path_buf(), PathBuf::from("/no/such/dir")]);
        if std::env::var_os("VK_ICD_FILENAMES").is_none()
            && std::env::var_os("VK_DRIVER_FILES").is_none()
        {
            assert!(!none.ok);
            assert!(none.fix.unwrap().contains("mesa-vulkan-drivers"));
            std::fs::write(dir.path().join("lvp_icd.x86_64.json"), "{}").unwrap();
            let some = vulkan(&[dir.path().to_path_buf()]);
            assert!(some.ok, "{some:?}");
            assert!(some.detail.contains("lvp_icd.x86_64.json"));
        }
    }

    #[test]
    fn display_mentions_xvfb_when_absent() {
        assert!(display(true, false).ok);
        assert!(display(false, true).ok);
        let none = display(false, false);
        assert!(!none.ok && none.fix.unwrap().contains("xvfb-run"));
    }
}
