#!/usr/bin/env bash
# Build the static labd for each lab architecture (x86_64 and aarch64 Linux) into target-labd/,
# and print `VAR=path` lines a release build of bulkhead embeds (see labs/build.rs).
# Needs: rustup targets x86_64-unknown-linux-gnu and aarch64-unknown-linux-gnu, static glibc
# (libc6-dev), and on x86_64 Debian's cross tools: gcc-aarch64-linux-gnu libc6-dev-arm64-cross.
set -euo pipefail
cd "$(dirname "$0")/.."

target_dir="${BULKHEAD_LABD_TARGET_DIR:-target-labd}"
# Absolute, so the printed paths hold from any folder (an absolute override stays as it is).
case "$target_dir" in /*) ;; *) target_dir="$PWD/$target_dir" ;; esac
for target in x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu; do
  linker_var="CARGO_TARGET_$(echo "$target" | tr 'a-z-' 'A-Z_')_LINKER"
  linker=""
  if [ "$target" = aarch64-unknown-linux-gnu ] && [ "$(uname -m)" != aarch64 ]; then
    linker=aarch64-linux-gnu-gcc
  fi
  echo "== labd for $target" >&2
  env ${linker:+"$linker_var=$linker"} RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build --release -p labd --target "$target" --target-dir "$target_dir" >&2
done
echo "BULKHEAD_LABD_X86_64=$target_dir/x86_64-unknown-linux-gnu/release/labd"
echo "BULKHEAD_LABD_AARCH64=$target_dir/aarch64-unknown-linux-gnu/release/labd"
