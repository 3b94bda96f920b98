//! The lab image, built from source with no registry: `labd` compiled statically with cargo,
//! then copied into one `FROM scratch` image through the Docker build API (tar context made
//! here). The image is tagged and labelled with a hash of what went into it, so an unchanged
//! `labd` is never rebuilt and a changed one never runs stale.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::query_parameters::{BuildImageOptionsBuilder, ListImagesOptionsBuilder};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::error::{LabError, is_not_found};
use crate::labels;

/// Repository of the lab image; the tag is the first 12 hex digits of the content hash.
pub const REPOSITORY: &str = "bulkhead/labd";
/// The (non-root) user every lab container runs as; the image declares it too.
pub const LAB_USER: &str = "10001:10001";
/// The only target whose static build is known to run from an empty root (see NOTES.md).
pub const TARGET: &str = "x86_64-unknown-linux-gnu";

/// The image's recipe. `labd health` is the health check; the role is the container's Cmd.
pub const DOCKERFILE: &str = "FROM scratch\n\
COPY labd /labd\n\
USER 10001:10001\n\
HEALTHCHECK --interval=1s --timeout=1s --retries=30 CMD [\"/labd\",\"health\"]\n\
ENTRYPOINT [\"/labd\"]\n";

/// The outcome of [`ensure_image`].
#[derive(Debug, Clone)]
pub struct LabImage {
    /// `bulkhead/labd:<hash12>`: what containers are created from.
    pub reference: String,
    /// sha256 (hex) of the binary followed by the Dockerfile.
    pub content_hash: String,
    /// Whether this call ran the Docker build (false: an image with this hash existed).
    pub built: bool,
    /// The static `labd` the image holds.
    pub binary: PathBuf,
    /// Time spent in cargo (zero when this process had already built it).
    pub cargo_time: Duration,
    /// Time spent in the Docker build (zero when not `built`).
    pub docker_time: Duration,
}

/// The root of the Bulkhead sources: `BULKHEAD_SOURCE_DIR`, else the workspace this crate was
/// compiled from.
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

/// Where cargo leaves the static `labd`.
pub fn binary_path(source: &Path) -> PathBuf {
    target_dir(source).join(TARGET).join("release").join("labd")
}

/// sha256 of the binary followed by the Dockerfile, in hex.
pub fn content_hash(binary: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(binary);
    h.update(DOCKERFILE.as_bytes());
    h.finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
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

/// What this process already made sure of: later calls only check the image is still there.
/// The lock also serializes concurrent calls (tests run in parallel): one cargo, one build.
static ENSURED: tokio::sync::Mutex<Option<LabImage>> = tokio::sync::Mutex::const_new(None);

/// Make sure the current lab image exists: build `labd` (cargo decides whether anything
/// changed), hash it, and run the Docker build only when no image has that hash.
/// `progress` receives cargo's and Docker's output line by line.
pub async fn ensure_image(
    docker: &Docker,
    mut progress: impl FnMut(&str),
) -> Result<LabImage, LabError> {
    let mut ensured = ENSURED.lock().await;
    if let Some(known) = ensured.as_ref()
        && image_present(docker, &known.content_hash).await?
    {
        return Ok(LabImage {
            built: false,
            cargo_time: Duration::ZERO,
            docker_time: Duration::ZERO,
            ..known.clone()
        });
    }
    let source = source_dir();
    let started = Instant::now();
    let binary = build_labd(&source, &mut progress).await?;
    let cargo_time = started.elapsed();
    let bytes = tokio::fs::read(&binary)
        .await
        .map_err(|e| LabError::io(format!("reading {}", binary.display()), e))?;
    let hash = content_hash(&bytes);
    let reference = reference_for(&hash);
    let started = Instant::now();
    let built = if image_present(docker, &hash).await? {
        progress(&format!("image {reference} is up to date"));
        false
    } else {
        docker_build(docker, bytes, &hash, &reference, &mut progress).await?;
        true
    };
    let image = LabImage {
        reference,
        content_hash: hash,
        built,
        binary,
        cargo_time,
        docker_time: if built {
            started.elapsed()
        } else {
            Duration::ZERO
        },
    };
    *ensured = Some(image.clone());
    Ok(image)
}

/// Run the static cargo build of `labd` into [`target_dir`], streaming its output, and return
/// the binary's path.
pub async fn build_labd(
    source: &Path,
    progress: &mut impl FnMut(&str),
) -> Result<PathBuf, LabError> {
    build_labd_into(source, &target_dir(source), progress).await
}

/// [`build_labd`] into a given target dir (a fresh one times a cold build).
pub async fn build_labd_into(
    source: &Path,
    target_dir: &Path,
    progress: &mut impl FnMut(&str),
) -> Result<PathBuf, LabError> {
    let manifest = source.join("labs/agent/Cargo.toml");
    if !manifest.is_file() {
        return Err(LabError::SourceMissing {
            path: source.to_path_buf(),
            detail: format!("{} does not exist", manifest.display()),
        });
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = tokio::process::Command::new(&cargo);
    cmd.current_dir(source)
        .args([
            "build",
            "--release",
            "-p",
            "labd",
            "--target",
            TARGET,
            "--color",
            "never",
        ])
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
    let mut child = cmd.spawn().map_err(|e| LabError::Build {
        stage: "cargo build labd",
        detail: format!("cannot run {}: {e}", Path::new(&cargo).display()),
        tail: "install Rust with rustup (https://rustup.rs), or put cargo on PATH".into(),
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
                "cargo exited with {status} (a static build needs the {TARGET} target: \
                 `rustup target add {TARGET}`, and static glibc: `apt-get install libc6-dev`)"
            ),
            tail: tail.text(),
        });
    }
    let binary = target_dir.join(TARGET).join("release").join("labd");
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

/// The tar context of the Docker build: the Dockerfile and the binary, with fixed metadata.
pub fn build_context(binary: &[u8]) -> Result<Vec<u8>, LabError> {
    let mut tar = tar::Builder::new(Vec::with_capacity(binary.len() + 4096));
    let mut add = |name: &str, mode: u32, data: &[u8]| -> std::io::Result<()> {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_mtime(0);
        header.set_cksum();
        tar.append_data(&mut header, name, data)
    };
    add("Dockerfile", 0o644, DOCKERFILE.as_bytes())
        .and_then(|()| add("labd", 0o755, binary))
        .map_err(|e| LabError::io("making the image's build context", e))?;
    tar.into_inner()
        .map_err(|e| LabError::io("making the image's build context", e))
}

/// Run the Docker build of the image holding `binary`, whether or not it exists already, and
/// return its reference.
pub async fn build_image_from(
    docker: &Docker,
    binary: Vec<u8>,
    progress: &mut impl FnMut(&str),
) -> Result<String, LabError> {
    let hash = content_hash(&binary);
    let reference = reference_for(&hash);
    docker_build(docker, binary, &hash, &reference, progress).await?;
    Ok(reference)
}

async fn docker_build(
    docker: &Docker,
    binary: Vec<u8>,
    hash: &str,
    reference: &str,
    progress: &mut impl FnMut(&str),
) -> Result<(), LabError> {
    let context = build_context(&binary)?;
    drop(binary);
    let image_labels =
        std::collections::HashMap::from([(labels::IMAGE, "labd"), (labels::CONTENT_HASH, hash)]);
    let options = BuildImageOptionsBuilder::default()
        .dockerfile("Dockerfile")
        .t(reference)
        .labels(&image_labels)
        // Only ever run when no image has this content: a cache hit could only be a stale
        // layer, and the COPY of a few MB costs nothing to redo.
        .nocache(true)
        .rm(true)
        .forcerm(true)
        .build();
    let mut stream = docker.build_image(options, None, Some(bollard::body_full(context.into())));
    let mut tail = Tail::new(40);
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| LabError::Build {
            stage: "docker build",
            detail: e.to_string(),
            tail: tail.text(),
        })?;
        for text in [info.stream.as_deref(), info.status.as_deref()]
            .into_iter()
            .flatten()
        {
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                progress(line);
                tail.push(line.to_owned());
            }
        }
        let error = info
            .error_detail
            .and_then(|d| d.message)
            .map(|m| m.to_string());
        if let Some(message) = error {
            return Err(LabError::Build {
                stage: "docker build",
                detail: message,
                tail: tail.text(),
            });
        }
    }
    // The stream ending without an error is the daemon's success; confirm the tag landed.
    if image_present(docker, hash).await? {
        Ok(())
    } else {
        Err(LabError::Build {
            stage: "docker build",
            detail: format!("the build finished but {reference} is not there"),
            tail: tail.text(),
        })
    }
}

/// Remove lab images other than `keep` (older builds of `labd`). Images a container still
/// uses are left alone (Docker refuses without force). Returns the references removed.
pub async fn remove_stale_images(docker: &Docker, keep: &str) -> Result<Vec<String>, LabError> {
    let filters =
        std::collections::HashMap::from([("label", vec![format!("{}=labd", labels::IMAGE)])]);
    let images = docker
        .list_images(Some(
            ListImagesOptionsBuilder::default()
                .filters(&filters)
                .build(),
        ))
        .await
        .map_err(|e| LabError::docker("list images", "bulkhead/labd", e))?;
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

    #[test]
    fn context_holds_the_dockerfile_and_an_executable_binary() {
        let tar_bytes = build_context(b"\x7fELF fake").unwrap();
        let mut archive = tar::Archive::new(&tar_bytes[..]);
        let entries: Vec<(String, u32, u64)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().to_string_lossy().into_owned(),
                    h.mode().unwrap(),
                    h.size().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            entries,
            vec![
                ("Dockerfile".into(), 0o644, DOCKERFILE.len() as u64),
                ("labd".into(), 0o755, 9)
            ]
        );
    }

    #[test]
    fn hash_covers_binary_and_names_the_tag() {
        let a = content_hash(b"one");
        assert_eq!(a.len(), 64);
        assert_ne!(a, content_hash(b"two"));
        assert_eq!(reference_for(&a), format!("bulkhead/labd:{}", &a[..12]));
        assert!(DOCKERFILE.contains("USER 10001:10001"));
    }
}
