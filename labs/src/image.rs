//! The lab image, made with no registry and no Docker build: a static `labd` (carried by a
//! release build, see [`crate::embedded`], or compiled with cargo in a developer build) put into
//! a one-layer image archive written here and loaded through the Docker API (`POST
//! /images/load`), for the architecture the daemon reports. The image is tagged and labelled
//! with a hash of what went into it, so an unchanged `labd` is never loaded twice and a changed
//! one never runs stale.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::query_parameters::ImportImageOptionsBuilder;
use futures_util::StreamExt;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::embedded::{self, Arch};
use crate::error::{LabError, is_not_found};
use crate::labels;

/// Repository of the lab image; the tag is the first 12 hex digits of the content hash.
pub const REPOSITORY: &str = "bulkhead/labd";
/// The (non-root) user every lab container runs as; the image declares it too.
pub const LAB_USER: &str = "10001:10001";
/// [`LAB_USER`]'s uid and gid, the owner of its state directory.
const LAB_UID: u64 = 10001;

/// Where the `labd` of a lab image came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabdOrigin {
    /// Carried inside this `bulkhead` binary (a release build).
    Embedded,
    /// Compiled with cargo from the sources at this path (a developer build).
    Built(PathBuf),
}

/// The outcome of [`ensure_image`].
#[derive(Debug, Clone)]
pub struct LabImage {
    /// `bulkhead/labd:<hash12>`: what containers are created from.
    pub reference: String,
    /// sha256 (hex) of the binary followed by the image config.
    pub content_hash: String,
    /// The architecture the daemon runs and the image is for.
    pub arch: Arch,
    /// Whether this call loaded the image into Docker (false: an image with this hash existed).
    pub built: bool,
    /// Where its `labd` came from.
    pub labd: LabdOrigin,
    /// Time spent in cargo (zero for an embedded `labd`, or when this process had built it).
    pub cargo_time: Duration,
    /// Time spent loading the image into Docker (zero when not `built`).
    pub docker_time: Duration,
    /// The whole call: what a lab start waits for the image.
    pub took: Duration,
}

/// The root of the Bulkhead sources: `BULKHEAD_SOURCE_DIR`, else the workspace this crate was
/// compiled from. Only a developer build (no embedded `labd`) needs it.
pub fn source_dir() -> PathBuf {
    match std::env::var_os("BULKHEAD_SOURCE_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(".")),
    }
}

/// Where the static build goes: its own target dir (different RUSTFLAGS would otherwise make
/// cargo rebuild the shared `target/` back and forth). `BULKHEAD_LABD_TARGET_DIR` overrides it
/// (the benchmark uses a fresh one to time a cold build).
pub fn target_dir(source: &Path) -> PathBuf {
    match std::env::var_os("BULKHEAD_LABD_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => source.join("target-labd"),
    }
}

/// Where cargo leaves the static `labd` for `arch`.
pub fn binary_path(source: &Path, arch: Arch) -> PathBuf {
    target_dir(source)
        .join(arch.rust_target())
        .join("release")
        .join("labd")
}

/// The image's config, without its labels: what `FROM scratch`, `COPY labd /labd`, `USER`,
/// `HEALTHCHECK` and `ENTRYPOINT` would have said. The role is the container's Cmd.
///
/// `labd health` is the health check, every 30 s: it is for people reading `docker ps`, not for
/// the range, which waits for readiness itself (`lab_up::wait_ready`, from the host). Each
/// check is an exec, which costs dockerd, containerd and runc tens of milliseconds of CPU: at
/// one a second, seven containers a lab made the checks alone cost a lab about a fifth of a
/// core, the largest share of what capped a host at five labs.
pub fn image_config(arch: Arch, layer_digest: &str) -> Value {
    const SECOND_NS: u64 = 1_000_000_000;
    json!({
        "architecture": arch.docker_name(),
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {
            "User": LAB_USER,
            "Entrypoint": ["/labd"],
            "Healthcheck": {
                "Test": ["CMD", "/labd", "health"],
                "Interval": 30 * SECOND_NS,
                "Timeout": 2 * SECOND_NS,
                "Retries": 3,
            },
        },
        "rootfs": { "type": "layers", "diff_ids": [format!("sha256:{layer_digest}")] },
        "history": [{ "created": "1970-01-01T00:00:00Z", "created_by": "bulkhead: COPY labd /labd" }],
    })
}

fn hex(digest: impl AsRef<[u8]>) -> String {
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// sha256 of the binary followed by the image config for `arch`, in hex.
pub fn content_hash(binary: &[u8], arch: Arch) -> String {
    let layer = layer_tar(binary).unwrap_or_default();
    let config = image_config(arch, &hex(Sha256::digest(&layer)));
    let mut h = Sha256::new();
    h.update(binary);
    h.update(config.to_string().as_bytes());
    hex(h.finalize())
}

/// `bulkhead/labd:<first 12 hex digits of the hash>`.
pub fn reference_for(hash: &str) -> String {
    format!("{REPOSITORY}:{}", &hash[..hash.len().min(12)])
}

/// Whether an image with this content hash exists (under its reference, with its label).
pub async fn image_present(docker: &Docker, hash: &str) -> Result<bool, LabError> {
    let reference = reference_for(hash);
    match docker.inspect_image(&reference).await {
        Ok(image) => Ok(image
            .config
            .and_then(|c| c.labels)
            .and_then(|l| l.get(labels::CONTENT_HASH).cloned())
            .is_some_and(|h| h == hash)),
        Err(e) if is_not_found(&e) => Ok(false),
        Err(e) => Err(LabError::docker("inspect image", reference, e)),
    }
}

/// The architecture the daemon runs containers on (`GET /version`).
pub async fn daemon_arch(docker: &Docker) -> Result<Arch, LabError> {
    let version = docker
        .version()
        .await
        .map_err(|e| LabError::docker("version", "the daemon", e))?;
    let name = version.arch.unwrap_or_default();
    Arch::from_docker(&name).ok_or_else(|| LabError::Build {
        stage: "lab image",
        detail: format!("the Docker daemon runs on {name:?}; labs run on amd64 and arm64 only"),
        tail: String::new(),
    })
}

/// What this process already made sure of: later calls only check the image is still there.
/// The lock also serializes concurrent calls (tests run in parallel): one cargo, one load.
static ENSURED: tokio::sync::Mutex<Option<LabImage>> = tokio::sync::Mutex::const_new(None);

/// Make sure the current lab image exists for the daemon's architecture: take the embedded
/// `labd` (a release build) or build it with cargo (a developer build; cargo decides whether
/// anything changed), hash it, and load the image only when no image has that hash.
/// `progress` receives cargo's output and what happens, line by line.
pub async fn ensure_image(
    docker: &Docker,
    mut progress: impl FnMut(&str),
) -> Result<LabImage, LabError> {
    let started = Instant::now();
    let mut ensured = ENSURED.lock().await;
    if let Some(known) = ensured.as_ref()
        && image_present(docker, &known.content_hash).await?
    {
        return Ok(LabImage {
            built: false,
            cargo_time: Duration::ZERO,
            docker_time: Duration::ZERO,
            took: started.elapsed(),
            ..known.clone()
        });
    }
    let Labd {
        arch,
        bytes,
        origin,
        cargo_time,
    } = current_labd(docker, &mut progress).await?;
    let hash = content_hash(&bytes, arch);
    let reference = reference_for(&hash);
    let loading = Instant::now();
    let built = if image_present(docker, &hash).await? {
        progress(&format!("image {reference} is up to date"));
        false
    } else {
        progress(&format!("loading {reference} ({})", arch.docker_name()));
        load_image(docker, &bytes, arch).await?;
        true
    };
    let image = LabImage {
        reference,
        content_hash: hash,
        arch,
        built,
        labd: origin,
        cargo_time,
        docker_time: if built {
            loading.elapsed()
        } else {
            Duration::ZERO
        },
        took: started.elapsed(),
    };
    *ensured = Some(image.clone());
    Ok(image)
}

/// The `labd` a lab on this daemon runs, and where it came from.
#[derive(Debug)]
pub struct Labd {
    /// The daemon's architecture.
    pub arch: Arch,
    /// The static binary.
    pub bytes: Vec<u8>,
    /// Embedded, or built by cargo.
    pub origin: LabdOrigin,
    /// Time spent in cargo (zero for an embedded one).
    pub cargo_time: Duration,
}

/// The `labd` for the daemon's architecture: the embedded one, else a cargo build (which
/// cargo skips when nothing changed).
pub async fn current_labd(
    docker: &Docker,
    progress: &mut impl FnMut(&str),
) -> Result<Labd, LabError> {
    let arch = daemon_arch(docker).await?;
    if let Some(bytes) = embedded::labd(arch) {
        return Ok(Labd {
            arch,
            bytes: bytes.to_vec(),
            origin: LabdOrigin::Embedded,
            cargo_time: Duration::ZERO,
        });
    }
    let started = Instant::now();
    let binary = build_labd(&source_dir(), arch, progress).await?;
    let bytes = tokio::fs::read(&binary)
        .await
        .map_err(|e| LabError::io(format!("reading {}", binary.display()), e))?;
    Ok(Labd {
        arch,
        bytes,
        origin: LabdOrigin::Built(binary),
        cargo_time: started.elapsed(),
    })
}

/// Run the static cargo build of `labd` for `arch` into [`target_dir`], streaming its output,
/// and return the binary's path.
pub async fn build_labd(
    source: &Path,
    arch: Arch,
    progress: &mut impl FnMut(&str),
) -> Result<PathBuf, LabError> {
    build_labd_into(source, &target_dir(source), arch, progress).await
}

/// [`build_labd`] into a given target dir (a fresh one times a cold build).
pub async fn build_labd_into(
    source: &Path,
    target_dir: &Path,
    arch: Arch,
    progress: &mut impl FnMut(&str),
) -> Result<PathBuf, LabError> {
    let manifest = source.join("labs/agent/Cargo.toml");
    if !manifest.is_file() {
        return Err(LabError::SourceMissing {
            path: source.to_path_buf(),
            detail: format!(
                "{} does not exist, and this bulkhead carries no labd for {} Docker \
                 (a release build from scripts/dist.sh does)",
                manifest.display(),
                arch.docker_name()
            ),
        });
    }
    let target = arch.rust_target();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = tokio::process::Command::new(&cargo);
    cmd.current_dir(source)
        .args(["build", "--release", "-p", "labd", "--target", target])
        .args(["--color", "never"])
        .arg("--target-dir")
        .arg(target_dir)
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        // These would override RUSTFLAGS or the target dir when inherited from an outer cargo.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if arch == Arch::Aarch64 && cfg!(target_arch = "x86_64") {
        // Debian's cross linker (gcc-aarch64-linux-gnu, static glibc from libc6-dev-arm64-cross).
        cmd.env(
            "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER",
            "aarch64-linux-gnu-gcc",
        );
    }
    let mut child = cmd.spawn().map_err(|e| LabError::Build {
        stage: "cargo build labd",
        detail: format!("cannot run {}: {e}", Path::new(&cargo).display()),
        tail: "install Rust with rustup (https://rustup.rs), or put cargo on PATH; a release \
               build of bulkhead (scripts/dist.sh) needs neither"
            .into(),
    })?;
    // Cargo reports progress on stderr; stdout stays empty without --message-format. Read both
    // into one ordered stream of lines.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    if let Some(out) = child.stdout.take() {
        tokio::spawn(forward_lines(out, tx.clone()));
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(forward_lines(err, tx.clone()));
    }
    drop(tx);
    let mut tail = Tail::new(40);
    while let Some(line) = rx.recv().await {
        progress(&line);
        tail.push(line);
    }
    let status = child.wait().await.map_err(|e| LabError::Build {
        stage: "cargo build labd",
        detail: format!("waiting for cargo: {e}"),
        tail: tail.text(),
    })?;
    if !status.success() {
        return Err(LabError::Build {
            stage: "cargo build labd",
            detail: format!(
                "cargo exited with {status} (a static build needs the {target} target: \
                 `rustup target add {target}`, and static glibc: `apt-get install libc6-dev`)"
            ),
            tail: tail.text(),
        });
    }
    let binary = target_dir.join(target).join("release").join("labd");
    if !binary.is_file() {
        return Err(LabError::Build {
            stage: "cargo build labd",
            detail: format!("cargo succeeded but {} is missing", binary.display()),
            tail: tail.text(),
        });
    }
    Ok(binary)
}

async fn forward_lines(
    stream: impl tokio::io::AsyncRead + Unpin,
    tx: tokio::sync::mpsc::UnboundedSender<String>,
) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if tx.send(line).is_err() {
            break;
        }
    }
}

/// Append one regular file with fixed metadata (root-owned, mtime 0): the same bytes always
/// make the same archive.
fn append_file(
    tar: &mut tar::Builder<Vec<u8>>,
    name: &str,
    mode: u32,
    data: &[u8],
) -> std::io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(mode);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_cksum();
    tar.append_data(&mut header, name, data)
}

/// `var/`, `var/lib/` (root's) and `var/lib/labd/` (the lab user's), fixed metadata.
fn append_state_dirs(tar: &mut tar::Builder<Vec<u8>>) -> std::io::Result<()> {
    for (name, uid) in [("var/", 0), ("var/lib/", 0), ("var/lib/labd/", LAB_UID)] {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_size(0);
        header.set_mode(0o755);
        header.set_uid(uid);
        header.set_gid(uid);
        header.set_mtime(0);
        header.set_cksum();
        tar.append_data(&mut header, name, std::io::empty())?;
    }
    Ok(())
}

/// The image's one layer: `/labd`, executable, and `/var/lib/labd`, the lab user's: where a
/// service writes its state in place, so writable exactly when the root file system is (what a
/// service needing `writable-root` checks, PROTOCOL.md).
pub fn layer_tar(binary: &[u8]) -> Result<Vec<u8>, LabError> {
    let mut tar = tar::Builder::new(Vec::with_capacity(binary.len() + 4096));
    append_file(&mut tar, "labd", 0o755, binary)
        .and_then(|()| append_state_dirs(&mut tar))
        .map_err(|e| LabError::io("making the image's layer", e))?;
    tar.into_inner()
        .map_err(|e| LabError::io("making the image's layer", e))
}

/// The image archive `docker load` reads (`docker save`'s layout): `manifest.json` naming the
/// config and the tag, the config (`<sha256>.json`), and the layer (`<sha256>/layer.tar`).
pub fn image_archive(binary: &[u8], arch: Arch) -> Result<(Vec<u8>, String), LabError> {
    let layer = layer_tar(binary)?;
    let layer_digest = hex(Sha256::digest(&layer));
    let hash = content_hash(binary, arch);
    let reference = reference_for(&hash);
    let mut config = image_config(arch, &layer_digest);
    config["config"]["Labels"] = json!({ labels::IMAGE: "labd", labels::CONTENT_HASH: hash });
    let config = serde_json::to_vec(&config)
        .map_err(|e| LabError::io("making the image's config", std::io::Error::other(e)))?;
    let config_name = format!("{}.json", hex(Sha256::digest(&config)));
    let layer_name = format!("{layer_digest}/layer.tar");
    let manifest =
        json!([{ "Config": config_name, "RepoTags": [reference], "Layers": [layer_name] }]);
    let mut tar = tar::Builder::new(Vec::with_capacity(layer.len() + 8192));
    let made = append_file(
        &mut tar,
        "manifest.json",
        0o644,
        manifest.to_string().as_bytes(),
    )
    .and_then(|()| append_file(&mut tar, &config_name, 0o644, &config))
    .and_then(|()| append_file(&mut tar, &layer_name, 0o644, &layer))
    .and_then(|()| tar.into_inner());
    let archive = made.map_err(|e| LabError::io("making the image archive", e))?;
    Ok((archive, reference))
}

/// Load the image holding `binary` for `arch` into Docker, whether or not it exists already,
/// and return its reference.
pub async fn load_image(docker: &Docker, binary: &[u8], arch: Arch) -> Result<String, LabError> {
    let (archive, reference) = image_archive(binary, arch)?;
    let options = ImportImageOptionsBuilder::default().quiet(true).build();
    let mut stream = docker.import_image(options, bollard::body_full(archive.into()), None);
    let mut tail = Tail::new(10);
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| LabError::Build {
            stage: "docker load",
            detail: e.to_string(),
            tail: tail.text(),
        })?;
        if let Some(text) = info.stream.as_deref().or(info.status.as_deref()) {
            tail.push(text.trim().to_owned());
        }
        if let Some(message) = info.error_detail.and_then(|d| d.message) {
            return Err(LabError::Build {
                stage: "docker load",
                detail: message,
                tail: tail.text(),
            });
        }
    }
    // The stream ending without an error is the daemon's success; confirm the tag landed.
    if image_present(docker, &content_hash(binary, arch)).await? {
        Ok(reference)
    } else {
        Err(LabError::Build {
            stage: "docker load",
            detail: format!("the load finished but {reference} is not there"),
            tail: tail.text(),
        })
    }
}

/// Remove lab images other than `keep` (older builds of `labd`). Images a container still
/// uses are left alone (Docker refuses without force). Returns the references removed.
pub async fn remove_stale_images(docker: &Docker, keep: &str) -> Result<Vec<String>, LabError> {
    let filters =
        std::collections::HashMap::from([("label", vec![format!("{}=labd", labels::IMAGE)])]);
    let images = crate::lab_down::images_matching(docker, &filters, "bulkhead/labd").await?;
    let mut removed = Vec::new();
    let stale = images
        .into_iter()
        .flat_map(|i| i.repo_tags)
        .filter(|tag| tag != keep && tag.starts_with(REPOSITORY));
    for tag in stale {
        let options = None::<bollard::query_parameters::RemoveImageOptions>;
        if docker.remove_image(&tag, options, None).await.is_ok() {
            removed.push(tag);
        }
    }
    Ok(removed)
}

/// The last lines of a tool's output, for error messages.
struct Tail {
    lines: std::collections::VecDeque<String>,
    max: usize,
}

impl Tail {
    fn new(max: usize) -> Self {
        Tail {
            lines: std::collections::VecDeque::with_capacity(max),
            max,
        }
    }

    fn push(&mut self, line: String) {
        if self.lines.len() == self.max {
            self.lines.pop_front();
        }
        self.lines.push_back(line);
    }

    fn text(&self) -> String {
        self.lines
            .iter()
            .map(|l| format!("  | {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(tar_bytes: &[u8]) -> Vec<(String, u32, Vec<u8>)> {
        let mut archive = tar::Archive::new(tar_bytes);
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let name = e.path().unwrap().to_string_lossy().into_owned();
                let mode = e.header().mode().unwrap();
                let mut data = Vec::new();
                std::io::Read::read_to_end(&mut e, &mut data).unwrap();
                (name, mode, data)
            })
            .collect()
    }

    #[test]
    fn the_layer_holds_labd_and_the_lab_users_state_dir() {
        let layer = layer_tar(b"\x7fELF fake").unwrap();
        let mut archive = tar::Archive::new(layer.as_slice());
        let listed: Vec<(String, u64, bool)> = (archive.entries().unwrap())
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                let name = e.path().unwrap().to_string_lossy().into_owned();
                (name, h.uid().unwrap(), h.entry_type().is_dir())
            })
            .collect();
        let expected = [
            ("labd", 0, false),
            ("var/", 0, true),
            ("var/lib/", 0, true),
            ("var/lib/labd/", 10001, true),
        ];
        let expected: Vec<(String, u64, bool)> = (expected.iter())
            .map(|(n, u, d)| (n.to_string(), *u, *d))
            .collect();
        assert_eq!(listed, expected);
    }

    #[test]
    fn archive_is_what_docker_load_reads() {
        let binary = b"\x7fELF fake";
        let (archive, reference) = image_archive(binary, Arch::Aarch64).unwrap();
        let files = entries(&archive);
        let names: Vec<&str> = files.iter().map(|(n, _, _)| n.as_str()).collect();
        assert_eq!(names[0], "manifest.json");
        let manifest: Value = serde_json::from_slice(&files[0].2).unwrap();
        assert_eq!(manifest[0]["RepoTags"][0], reference.as_str());
        let config_name = manifest[0]["Config"].as_str().unwrap();
        let layer_name = manifest[0]["Layers"][0].as_str().unwrap();
        assert_eq!(names[1..], [config_name, layer_name]);
        // Docker checks the layer's digest against the config's diff_ids.
        let config: Value = serde_json::from_slice(&files[1].2).unwrap();
        let layer = &files[2].2;
        assert_eq!(
            config["rootfs"]["diff_ids"][0],
            format!("sha256:{}", hex(Sha256::digest(layer)))
        );
        assert_eq!(config["architecture"], "arm64");
        assert_eq!(config["config"]["User"], LAB_USER);
        assert_eq!(
            config["config"]["Labels"][labels::CONTENT_HASH],
            content_hash(binary, Arch::Aarch64)
        );
        // The binary, then the state directories (the other test checks their owners).
        assert_eq!(entries(layer)[0], ("labd".into(), 0o755, binary.to_vec()));
        // What the scenario validator lets an exec run is what the layer holds as files.
        let programs: Vec<&str> = bulkhead_engine::format::validate::IMAGE_PROGRAMS
            .iter()
            .map(|(program, _)| *program)
            .collect();
        let held: Vec<String> = entries(layer)
            .into_iter()
            .filter(|(name, _, _)| !name.ends_with('/'))
            .map(|(name, _, _)| format!("/{name}"))
            .collect();
        assert_eq!(programs, held);
    }

    #[test]
    fn hash_covers_binary_and_architecture_and_names_the_tag() {
        let a = content_hash(b"one", Arch::X86_64);
        assert_eq!(a.len(), 64);
        assert_ne!(a, content_hash(b"two", Arch::X86_64));
        assert_ne!(a, content_hash(b"one", Arch::Aarch64));
        assert_eq!(a, content_hash(b"one", Arch::X86_64));
        assert_eq!(reference_for(&a), format!("bulkhead/labd:{}", &a[..12]));
    }
}
