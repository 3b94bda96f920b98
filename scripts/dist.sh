#!/usr/bin/env bash
# Make the release artifact: one `bulkhead` binary that carries the static labd for x86_64 and
# aarch64 labs, the shipped scenarios, topologies and game assets, so it runs with no Rust
# toolchain and no source tree. Output: dist/bulkhead-<version>-<arch>-linux.tar.gz (and the
# unpacked folder beside it). Usage: scripts/dist.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck disable=SC2046
export $(scripts/build-labd.sh)
echo "== bulkhead (release, labd embedded)" >&2
cargo build --release --locked --bin bulkhead

version="$(target/release/bulkhead --version | head -1 | awk '{print $2}')"
name="bulkhead-$version-$(uname -m)-linux"
rm -rf "dist/$name" && mkdir -p "dist/$name"
cp target/release/bulkhead "dist/$name/"
# Symbols are most of the binary's size (bevy, wgpu); errors and backtraces need none of them.
strip "dist/$name/bulkhead"
cp README.md "dist/$name/"
tar -C dist -czf "dist/$name.tar.gz" "$name"
"dist/$name/bulkhead" --version
sha256sum "dist/$name.tar.gz"
