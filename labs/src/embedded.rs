//! The static `labd` binaries a release build carries (see `labs/build.rs` and
//! `scripts/dist.sh`), one per lab architecture, so a lab starts with no Rust toolchain and no
//! source tree. A developer build carries none and builds `labd` with cargo instead.

use sha2::{Digest, Sha256};

mod generated {
    include!(concat!(env!("OUT_DIR"), "/embedded_labd.rs"));
}

/// A CPU architecture a lab can run on, as Docker names it in `GET /version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// `amd64`: Linux PCs and servers.
    X86_64,
    /// `arm64`: Apple-silicon laptops' Docker VMs, ARM servers.
    Aarch64,
}

impl Arch {
    /// Every architecture a release carries a `labd` for.
    pub const ALL: [Arch; 2] = [Arch::X86_64, Arch::Aarch64];

    /// From Docker's name (`amd64`, `arm64`; `x86_64`/`aarch64` accepted too).
    pub fn from_docker(name: &str) -> Option<Arch> {
        match name {
            "amd64" | "x86_64" => Some(Arch::X86_64),
            "arm64" | "aarch64" => Some(Arch::Aarch64),
            _ => None,
        }
    }

    /// Docker's name: the image config's `architecture`.
    pub fn docker_name(self) -> &'static str {
        match self {
            Arch::X86_64 => "amd64",
            Arch::Aarch64 => "arm64",
        }
    }

    /// The Rust target `labd` is built for.
    pub fn rust_target(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64-unknown-linux-gnu",
            Arch::Aarch64 => "aarch64-unknown-linux-gnu",
        }
    }
}

/// The `labd` this binary carries for `arch`, if any.
pub fn labd(arch: Arch) -> Option<&'static [u8]> {
    match arch {
        Arch::X86_64 => generated::X86_64,
        Arch::Aarch64 => generated::AARCH64,
    }
}

/// Whether this binary carries any `labd` (a release build) or builds it from source.
pub fn carries_labd() -> bool {
    Arch::ALL.iter().any(|a| labd(*a).is_some())
}

/// One line for `bulkhead --version`: which `labd` builds are inside, by the first 12 hex
/// digits of their sha256 (the same digits name `sha256sum` of the files `scripts/dist.sh`
/// embedded).
pub fn summary() -> String {
    let carried: Vec<String> = Arch::ALL
        .iter()
        .filter_map(|arch| {
            labd(*arch).map(|bytes| {
                let digest = Sha256::digest(bytes);
                let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
                format!("{} {hex} ({} KiB)", arch.docker_name(), bytes.len() / 1024)
            })
        })
        .collect();
    if carried.is_empty() {
        "labd: none embedded (a developer build: the first Docker lab builds it with cargo)".into()
    } else {
        format!("labd: {}", carried.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_names_round_trip() {
        for arch in Arch::ALL {
            assert_eq!(Arch::from_docker(arch.docker_name()), Some(arch));
        }
        assert_eq!(Arch::from_docker("s390x"), None);
    }

    #[test]
    fn summary_names_what_is_carried() {
        let line = summary();
        assert!(line.starts_with("labd: "), "{line}");
        for arch in Arch::ALL {
            assert_eq!(
                labd(arch).is_some(),
                line.contains(arch.docker_name()),
                "{line}"
            );
        }
    }
}
