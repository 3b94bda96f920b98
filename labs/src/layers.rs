//! Image layers: a service's image built as a layer on the lab image (a scenario's
//! `SecretInImage`, `UnneededTool` and `UnverifiedScript` weaknesses bake files into one), and the
//! audit of what an image's layers hold, read from the image as Docker exports it (`docker save`),
//! every layer on its own.
//!
//! Every layer, not the merged file system: a file a later layer deletes still ships in the
//! layer that added it, to anyone who can pull or save the image (CIS Docker Benchmark 4.10).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read;
use std::sync::{Mutex, OnceLock};

use bollard::Docker;
use bollard::query_parameters::BuildImageOptionsBuilder;
use futures_util::StreamExt;

use bulkhead_engine::format::scenario::{TOOLS, names_a_secret};
use bulkhead_engine::posture::WeaknessKind;

use crate::error::LabError;
use crate::labels;

/// The repository of images built on the lab image for one lab's service (not `image`'s
/// repository, whose stale tags are removed as older builds of labd).
pub const REPOSITORY: &str = "bulkhead/layer";

/// Files larger than this are not read for secrets: configuration is small, binaries are not.
const MAX_TEXT_FILE: u64 = 64 * 1024;

/// What a layer of an image holds that an audit reports, each file by its absolute path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum LayerFinding {
    /// A file setting a secret variable.
    Secret { path: String, var: String },
    /// An executable named as a tool an intruder uses (`TOOLS`).
    Tool { path: String },
    /// A script that pipes what it downloads from `source` into a shell, unverified.
    Script { path: String, source: String },
}

/// A file a layer adds to an image: its absolute path there, what it holds, its mode, and the
/// weakness it is (what a fix of that kind takes out again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BakedFile {
    pub path: String,
    pub content: Vec<u8>,
    pub mode: u32,
    pub kind: WeaknessKind,
}

/// The build context of an image that adds `files` to `base`, readable by the lab's
/// unprivileged user and writable by nobody but root, labelled `image_labels`: a Dockerfile and
/// the files. The labels are one `LABEL` instruction: the API's `labels` parameter costs the
/// classic builder a commit per label (10 labels, 10 s here).
pub fn layer_context(
    base: &str,
    files: &[BakedFile],
    image_labels: &BTreeMap<String, String>,
) -> Result<Vec<u8>, LabError> {
    let mut dockerfile = format!("FROM {base}\n");
    if !image_labels.is_empty() {
        let quoted = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
        let pairs: Vec<String> = (image_labels.iter())
            .map(|(k, v)| format!("{}={}", quoted(k), quoted(v)))
            .collect();
        dockerfile.push_str(&format!("LABEL {}\n", pairs.join(" ")));
    }
    let mut tar = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8], mode: u32| {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_mtime(0);
        header.set_cksum();
        tar.append_data(&mut header, name, data)
    };
    let mut added = Ok(());
    for (i, file) in files.iter().enumerate() {
        // COPY keeps the context's mode: a tool stays executable.
        dockerfile.push_str(&format!("COPY baked-{i} {}\n", file.path));
        added = added.and_then(|()| add(&format!("baked-{i}"), &file.content, file.mode));
    }
    added
        .and_then(|()| add("Dockerfile", dockerfile.as_bytes(), 0o644))
        .map_err(|e| LabError::io("making an image layer's build context", e))?;
    tar.into_inner()
        .map_err(|e| LabError::io("making an image layer's build context", e))
}

/// Build `tag` from `base` with layers adding `files`, labelled as the lab's (`object_labels`:
/// its session and owner, so teardown and the reaper find it). Docker's classic builder uses
/// `base` as it is here: nothing is pulled.
pub async fn build_layer(
    docker: &Docker,
    base: &str,
    tag: &str,
    files: &[BakedFile],
    object_labels: &HashMap<String, String>,
) -> Result<(), LabError> {
    let mut image_labels: BTreeMap<String, String> = object_labels.clone().into_iter().collect();
    // Built on the lab image, whose labels it inherits: it is not one of labd's builds.
    image_labels.insert(labels::IMAGE.into(), "layer".into());
    image_labels.insert(labels::CONTENT_HASH.into(), String::new());
    let context = layer_context(base, files, &image_labels)?;
    let options = BuildImageOptionsBuilder::default()
        .t(tag)
        .rm(true)
        .forcerm(true)
        .build();
    let failed = |detail: String| LabError::Build {
        stage: "image layer",
        detail,
        tail: String::new(),
    };
    let mut stream = docker.build_image(options, None, Some(bollard::body_full(context.into())));
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| failed(e.to_string()))?;
        if let Some(message) = info.error_detail.and_then(|d| d.message) {
            return Err(failed(message));
        }
    }
    Ok(())
}

/// What the layers of `image` (an id or reference) hold that an audit reports. An image never
/// changes under its id, so each is read once per process.
pub async fn layer_findings(docker: &Docker, image: &str) -> Result<Vec<LayerFinding>, LabError> {
    static READ: OnceLock<Mutex<HashMap<String, Vec<LayerFinding>>>> = OnceLock::new();
    let read = READ.get_or_init(Default::default);
    let id = (docker.inspect_image(image).await)
        .map_err(|e| LabError::docker("inspect image", image, e))?
        .id
        .unwrap_or_else(|| image.to_owned());
    if let Some(known) = read.lock().ok().and_then(|r| r.get(&id).cloned()) {
        return Ok(known);
    }
    let mut archive = Vec::new();
    let mut stream = docker.export_image(&id);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| LabError::docker("save image", &id, e))?;
        archive.extend_from_slice(&chunk);
    }
    let found = findings_in_archive(&archive);
    if let Ok(mut read) = read.lock() {
        read.insert(id, found.clone());
    }
    Ok(found)
}

/// What every layer of an image archive holds, as `docker save` writes it (each layer a
/// tar inside the tar, `<id>/layer.tar`, or `blobs/sha256/<digest>` in the OCI layout of newer
/// engines). What cannot be read is skipped: the archive is the daemon's, not ours to trust.
pub fn findings_in_archive(archive: &[u8]) -> Vec<LayerFinding> {
    let mut found = BTreeSet::new();
    let mut outer = tar::Archive::new(archive);
    let Ok(entries) = outer.entries() else {
        return Vec::new();
    };
    for mut entry in entries.flatten() {
        let layer_like = entry.path().is_ok_and(|p| {
            let p = p.to_string_lossy();
            p.ends_with("layer.tar") || p.starts_with("blobs/")
        });
        let size = entry.header().size().unwrap_or(0);
        // A layer over 1 GiB is no lab image's.
        if !layer_like || size > 1 << 30 {
            continue;
        }
        let mut layer = Vec::new();
        if entry.read_to_end(&mut layer).is_ok() {
            found.extend(findings_in_layer(&layer));
        }
    }
    found.into_iter().collect()
}

/// What one layer's files hold: small text files with a `NAME=value` line whose name says it
/// is a secret (`names_a_secret`, the rule an audit of the environment uses), and
/// executables named as a tool an intruder reaches for.
pub fn findings_in_layer(layer: &[u8]) -> Vec<LayerFinding> {
    let mut found = Vec::new();
    let mut files = tar::Archive::new(layer);
    let Ok(entries) = files.entries() else {
        return found;
    };
    for mut entry in entries.flatten() {
        let header = entry.header();
        let file = header.entry_type().is_file();
        let small_file = file && header.size().is_ok_and(|s| s <= MAX_TEXT_FILE);
        let executable = file && header.mode().is_ok_and(|m| m & 0o111 != 0);
        let Some(path) = entry.path().ok().map(|p| p.to_string_lossy().into_owned()) else {
            continue;
        };
        let path = format!("/{}", path.trim_start_matches("./").trim_start_matches('/'));
        let name = path.rsplit('/').next().unwrap_or_default();
        if executable && TOOLS.contains(&name) {
            found.push(LayerFinding::Tool { path: path.clone() });
        }
        let mut text = String::new();
        if !small_file || entry.read_to_string(&mut text).is_err() {
            continue;
        }
        if let Some(source) = fetched_and_run(&text) {
            found.push(LayerFinding::Script {
                path: path.clone(),
                source,
            });
        }
        for var in secret_assignments(&text) {
            found.push(LayerFinding::Secret {
                path: path.clone(),
                var,
            });
        }
    }
    found
}

/// Where a script downloads code it runs unverified from: a `curl` or `wget` line piped into a
/// shell (`... https://x/install.sh | sh`), the URL it names.
fn fetched_and_run(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let line = line.trim();
        let fetches = line.starts_with("curl ") || line.starts_with("wget ");
        let (fetch, run) = line.split_once('|')?;
        let shell = run.split_whitespace().next()?;
        let runs = ["sh", "bash", "/bin/sh", "/bin/bash"].contains(&shell);
        let url = (fetch.split_whitespace())
            .find(|w| w.starts_with("https://") || w.starts_with("http://"))?;
        (fetches && runs).then(|| url.to_string())
    })
}

/// The secret variables a text assigns a value (`NAME=value`, `export NAME=value`).
fn secret_assignments(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            let line = line.strip_prefix("export ").unwrap_or(line);
            let (name, value) = line.split_once('=')?;
            let name = name.trim();
            (names_a_secret(name) && !value.trim().is_empty()).then(|| name.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tar_of(files: &[(&str, &[u8], u32)]) -> Vec<u8> {
        let mut tar = tar::Builder::new(Vec::new());
        for (name, data, mode) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(*mode);
            header.set_cksum();
            tar.append_data(&mut header, name, *data).unwrap();
        }
        tar.into_inner().unwrap()
    }

    /// A `docker save` archive of two layers: the binary, then files in a second layer.
    fn saved(second: &[(&str, &[u8], u32)]) -> Vec<u8> {
        let binary = tar_of(&[(
            "labd",
            b"\x7fELF DB_PASSWORD=not-text\xff\xfe".as_slice(),
            0o755,
        )]);
        let layer = tar_of(second);
        tar_of(&[
            ("manifest.json", b"[]".as_slice(), 0o644),
            ("aaa/layer.tar", &binary, 0o644),
            ("bbb/layer.tar", &layer, 0o644),
        ])
    }

    #[test]
    fn a_secret_in_a_layer_s_file_is_found_with_its_path() {
        let archive = saved(&[(
            "etc/ledger/deploy.env",
            b"# deploy\nREGION=eu\nexport LEDGER_DEPLOY_TOKEN=s3cr3t\n".as_slice(),
            0o644,
        )]);
        assert_eq!(
            findings_in_archive(&archive),
            vec![LayerFinding::Secret {
                path: "/etc/ledger/deploy.env".into(),
                var: "LEDGER_DEPLOY_TOKEN".into()
            }]
        );
    }

    #[test]
    fn binaries_plain_settings_and_the_range_s_own_variables_are_not_secrets() {
        let archive = saved(&[
            (
                "etc/app.conf",
                b"GREETING=hello\nDB_PASSWORD=\n".as_slice(),
                0o644,
            ),
            (
                "etc/range.env",
                b"LABD_ADMIN_TOKEN=plumbing\n".as_slice(),
                0o644,
            ),
        ]);
        assert_eq!(findings_in_archive(&archive), vec![]);
    }

    #[test]
    fn an_executable_named_as_an_intruder_s_tool_is_found_and_nothing_else() {
        let archive = saved(&[
            ("usr/bin/curl", b"#!/bin/sh\n".as_slice(), 0o755),
            ("usr/share/doc/wget", b"a manual page".as_slice(), 0o644),
            ("usr/bin/report", b"#!/bin/sh\n".as_slice(), 0o755),
        ]);
        assert_eq!(
            findings_in_archive(&archive),
            vec![LayerFinding::Tool {
                path: "/usr/bin/curl".into()
            }]
        );
    }

    #[test]
    fn a_script_that_pipes_a_download_into_a_shell_is_found_with_its_source() {
        let archive = saved(&[
            (
                "opt/vendor/update.sh",
                b"#!/bin/sh\n# from the install guide\ncurl -fsSL https://get.vendor.example/a.sh | sh\n"
                    .as_slice(),
                0o755,
            ),
            // Downloaded and kept, or verified first: not run blind.
            (
                "opt/vendor/fetch.sh",
                b"curl -fsSLo /tmp/a.sh https://get.vendor.example/a.sh\nsha256sum -c a.sum\n"
                    .as_slice(),
                0o755,
            ),
        ]);
        assert_eq!(
            findings_in_archive(&archive),
            vec![LayerFinding::Script {
                path: "/opt/vendor/update.sh".into(),
                source: "https://get.vendor.example/a.sh".into()
            }]
        );
    }

    #[test]
    fn the_build_context_adds_the_files_on_the_base_with_their_modes() {
        let secret = BakedFile {
            path: "/etc/x.env".into(),
            content: b"API_TOKEN=1\n".to_vec(),
            mode: 0o644,
            kind: WeaknessKind::SecretInImage,
        };
        let tool = BakedFile {
            path: "/usr/bin/nc".into(),
            content: b"#!/bin/sh\n".to_vec(),
            mode: 0o755,
            kind: WeaknessKind::UnneededTool,
        };
        let labels = BTreeMap::from([
            ("bulkhead.session".to_string(), "s1".to_string()),
            ("note".to_string(), "say \"hi\"".to_string()),
        ]);
        let context = layer_context("bulkhead/labd:abc", &[secret, tool], &labels).unwrap();
        let mut archive = tar::Archive::new(context.as_slice());
        let mut files = HashMap::new();
        for mut entry in archive.entries().unwrap().flatten() {
            let mode = entry.header().mode().unwrap();
            let mut text = String::new();
            entry.read_to_string(&mut text).unwrap();
            files.insert(
                entry.path().unwrap().to_string_lossy().into_owned(),
                (text, mode),
            );
        }
        assert_eq!(
            files["Dockerfile"].0,
            "FROM bulkhead/labd:abc\nLABEL \"bulkhead.session\"=\"s1\" \"note\"=\"say \\\"hi\\\"\"\nCOPY baked-0 /etc/x.env\nCOPY baked-1 /usr/bin/nc\n"
        );
        assert_eq!(files["baked-0"], ("API_TOKEN=1\n".to_string(), 0o644));
        assert_eq!(files["baked-1"], ("#!/bin/sh\n".to_string(), 0o755));
    }

    proptest! {
        /// The archive is the daemon's: no bytes make the audit panic.
        #[test]
        fn any_archive_is_read_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
            let _ = findings_in_archive(&bytes);
            let _ = findings_in_layer(&bytes);
        }

        /// Nor do any files in a well-formed archive.
        #[test]
        fn any_files_are_read_without_panicking(
            name in "[a-z_]{1,8}(/[a-z_]{1,8}){0,3}(\\.env)?",
            text in ".{0,200}",
            mode in 0u32..0o1000,
        ) {
            let _ = findings_in_archive(&saved(&[(&name, text.as_bytes(), mode)]));
        }
    }
}
