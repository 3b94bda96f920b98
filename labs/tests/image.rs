//! The lab image made from `labd`'s bytes through the Docker API (no Docker build, no
//! registry), for each architecture a release carries: it loads, says what it is for, and its
//! `labd` runs (the arm64 one under qemu-user through binfmt on an x86_64 host).

use std::time::Duration;

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    RemoveImageOptions, WaitContainerOptions,
};
use bulkhead_labs::docker::{announce_skip, docker_or_skip};
use bulkhead_labs::embedded::{self, Arch};
use bulkhead_labs::{image, labels};
use futures_util::StreamExt;

/// Set by `.ci/run`, which builds both `labd`s and compiles them in: a build that carries
/// neither must fail there rather than skip.
fn release_required() -> bool {
    std::env::var("BULKHEAD_REQUIRE_RELEASE").is_ok_and(|v| v == "1")
}

/// The `labd` bytes for `arch`: embedded, or (x86_64 only, a developer build) built by cargo.
async fn labd_for(arch: Arch, test: &str) -> Option<Vec<u8>> {
    if let Some(bytes) = embedded::labd(arch) {
        return Some(bytes.to_vec());
    }
    assert!(
        !release_required(),
        "{test}: BULKHEAD_REQUIRE_RELEASE=1 but this build carries no labd for {} \
         (build with BULKHEAD_LABD_X86_64 / BULKHEAD_LABD_AARCH64 set, as .ci/run does)",
        arch.docker_name()
    );
    if arch != Arch::X86_64 {
        announce_skip(
            test,
            &format!("this build carries no labd for {}", arch.docker_name()),
            "scripts/dist.sh (or BULKHEAD_LABD_AARCH64 at build time) embeds one; \
             BULKHEAD_REQUIRE_RELEASE=1 makes this a failure",
        );
        return None;
    }
    let binary = image::build_labd(&image::source_dir(), arch, &mut |_| {})
        .await
        .unwrap_or_else(|e| panic!("{test}: {e}"));
    Some(std::fs::read(binary).unwrap())
}

/// Whether this host can run `arch` binaries: its own, or one qemu-user handles via binfmt.
fn runs_here(arch: Arch) -> bool {
    let native = if cfg!(target_arch = "x86_64") {
        Arch::X86_64
    } else {
        Arch::Aarch64
    };
    if arch == native {
        return true;
    }
    let entry = format!(
        "/proc/sys/fs/binfmt_misc/qemu-{}",
        arch.rust_target().split('-').next().unwrap_or("")
    );
    std::fs::read_to_string(entry).is_ok_and(|s| s.starts_with("enabled"))
}

/// Run `labd --version` in a container of `reference`, with no network, no capabilities and a
/// read-only root, and return its output.
async fn run_version(docker: &Docker, reference: &str, platform: &str) -> String {
    let name = format!("bh-imagetest-{}", std::process::id());
    let body = ContainerCreateBody {
        image: Some(reference.into()),
        cmd: Some(vec!["--version".into()]),
        labels: Some([(labels::IMAGE.to_string(), "test".to_string())].into()),
        host_config: Some(HostConfig {
            network_mode: Some("none".into()),
            cap_drop: Some(vec!["ALL".into()]),
            readonly_rootfs: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    };
    let options = CreateContainerOptionsBuilder::default()
        .name(&name)
        .platform(platform)
        .build();
    let id = docker
        .create_container(Some(options), body)
        .await
        .expect("create")
        .id;
    docker.start_container(&id, None).await.expect("start");
    let mut wait = docker.wait_container(&id, None::<WaitContainerOptions>);
    let waited = tokio::time::timeout(Duration::from_secs(60), wait.next()).await;
    let logs: Vec<String> = docker
        .logs(
            &id,
            Some(
                LogsOptionsBuilder::default()
                    .stdout(true)
                    .stderr(true)
                    .build(),
            ),
        )
        .filter_map(|l| async move { l.ok().map(|l| l.to_string()) })
        .collect()
        .await;
    let remove = RemoveContainerOptionsBuilder::default().force(true).build();
    let _ = docker.remove_container(&id, Some(remove)).await;
    assert!(waited.is_ok(), "labd --version did not exit within 60 s");
    logs.concat()
}

#[tokio::test]
async fn the_lab_image_loads_from_labd_bytes_for_every_architecture_and_runs() {
    const TEST: &str = "the_lab_image_loads_from_labd_bytes_for_every_architecture_and_runs";
    let Some(docker) = docker_or_skip(TEST).await else {
        return;
    };
    for arch in Arch::ALL {
        let Some(bytes) = labd_for(arch, TEST).await else {
            continue;
        };
        let reference = image::load_image(&docker, &bytes, arch)
            .await
            .unwrap_or_else(|e| panic!("{TEST}: loading the {} image: {e}", arch.docker_name()));
        let inspect = docker.inspect_image(&reference).await.expect("inspect");
        assert_eq!(inspect.architecture.as_deref(), Some(arch.docker_name()));
        let config = inspect.config.expect("config");
        assert_eq!(config.user.as_deref(), Some(image::LAB_USER));
        assert_eq!(config.entrypoint, Some(vec!["/labd".to_string()]));
        let health = config.healthcheck.and_then(|h| h.test).unwrap_or_default();
        assert_eq!(health, ["CMD", "/labd", "health"]);
        assert_eq!(
            config.labels.unwrap_or_default().get(labels::CONTENT_HASH),
            Some(&image::content_hash(&bytes, arch))
        );

        if runs_here(arch) {
            let platform = format!("linux/{}", arch.docker_name());
            let output = run_version(&docker, &reference, &platform).await;
            assert!(
                output.contains(&format!("labd {}", env!("CARGO_PKG_VERSION"))),
                "{} labd --version said {output:?}",
                arch.docker_name()
            );
        } else {
            assert!(
                !release_required(),
                "{TEST}: BULKHEAD_REQUIRE_RELEASE=1 but this host cannot run {} binaries \
                 (install qemu-user-static and binfmt-support, as .ci/run does)",
                arch.docker_name()
            );
            announce_skip(
                TEST,
                &format!("this host cannot run {} binaries", arch.docker_name()),
                "qemu-user-static + binfmt-support let it; BULKHEAD_REQUIRE_RELEASE=1 makes \
                 this a failure",
            );
        }
        // The daemon's own architecture's image is the one labs use: keep it.
        if image::daemon_arch(&docker).await.ok() != Some(arch) {
            let _ = docker
                .remove_image(&reference, None::<RemoveImageOptions>, None)
                .await;
        }
    }
}

#[tokio::test]
async fn a_developer_build_makes_labd_with_cargo_and_loads_it() {
    const TEST: &str = "a_developer_build_makes_labd_with_cargo_and_loads_it";
    let Some(docker) = docker_or_skip(TEST).await else {
        return;
    };
    let arch = image::daemon_arch(&docker).await.expect("arch");
    // What a build from source without embedded binaries does at its first lab start.
    let binary = image::build_labd(&image::source_dir(), arch, &mut |_| {})
        .await
        .unwrap_or_else(|e| panic!("{TEST}: {e}"));
    let bytes = std::fs::read(&binary).unwrap();
    let reference = image::load_image(&docker, &bytes, arch)
        .await
        .unwrap_or_else(|e| panic!("{TEST}: {e}"));
    assert!(
        image::image_present(&docker, &image::content_hash(&bytes, arch))
            .await
            .unwrap(),
        "{reference} is not there after loading"
    );
}
