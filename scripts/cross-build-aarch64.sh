#!/usr/bin/env bash
# Cross-builds the addon for aarch64-unknown-linux-gnu on an x86_64 Debian/Ubuntu
# host with the distribution's GNU cross toolchain, and writes
# npm/linux-arm64-gnu/nquic.linux-arm64-gnu.node.
#
# One-time setup:
#   sudo apt-get install -y gcc-aarch64-linux-gnu g++-aarch64-linux-gnu cmake clang libclang-dev
#   rustup target add aarch64-unknown-linux-gnu
#
# How the pieces find the cross toolchain:
# - rustc links with CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER.
# - the `cc` crate (ring, and boring-sys's own C shims) reads CC_/CXX_/AR_<target>.
# - boring-sys builds BoringSSL with cmake. For a linux/aarch64 target it passes its own
#   toolchain file (boring-sys/cmake/aarch64-linux.cmake: CMAKE_SYSTEM_NAME=Linux,
#   CMAKE_SYSTEM_PROCESSOR=aarch64) plus CMAKE_C_COMPILER / CMAKE_CXX_COMPILER taken from
#   CC_<target> / CXX_<target> (or TARGET_CC / TARGET_CXX). Setting CMAKE_TOOLCHAIN_FILE_<target>
#   instead would replace all of that with your own file.
# - bindgen (inside boring-sys) runs libclang with --target=aarch64-unknown-linux-gnu; Debian's
#   clang finds the cross headers in /usr/aarch64-linux-gnu/include through gcc-cross, so no
#   sysroot is needed. (Do NOT set BORING_BSSL_SYSROOT=/usr/aarch64-linux-gnu: boring-sys would
#   also pass it to gcc as CMAKE_SYSROOT, and gcc would then look in .../usr/include.)
#
# Env: CARGO_TARGET_DIR (default /tmp/nquic-aarch64), OUT_DIR_NODE (default npm/linux-arm64-gnu).
# A cold build (BoringSSL included) takes about 15 minutes on 2 cores; the same recipe with
# arm-linux-gnueabihf-* and armv7-unknown-linux-gnueabihf builds 32-bit ARM.
set -euo pipefail

TARGET=aarch64-unknown-linux-gnu
TRIPLE_GCC=aarch64-linux-gnu
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/tmp/nquic-aarch64}"
OUT="${OUT_DIR_NODE:-$ROOT/npm/linux-arm64-gnu}"

for tool in "$TRIPLE_GCC-gcc" "$TRIPLE_GCC-g++" "$TRIPLE_GCC-ar" cmake clang cargo; do
  command -v "$tool" >/dev/null || { echo "missing $tool (see the header of $0)" >&2; exit 1; }
done
rustup target list --installed 2>/dev/null | grep -qx "$TARGET" || rustup target add "$TARGET"

export CC_aarch64_unknown_linux_gnu="$TRIPLE_GCC-gcc"
export CXX_aarch64_unknown_linux_gnu="$TRIPLE_GCC-g++"
export AR_aarch64_unknown_linux_gnu="$TRIPLE_GCC-ar"
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER="$TRIPLE_GCC-gcc"

cd "$ROOT"
node scripts/patch-quiche.js
cargo build --release --lib --target "$TARGET"

mkdir -p "$OUT"
cp "$CARGO_TARGET_DIR/$TARGET/release/libnquic.so" "$OUT/nquic.linux-arm64-gnu.node"
"$TRIPLE_GCC-strip" --strip-unneeded "$OUT/nquic.linux-arm64-gnu.node" 2>/dev/null || true
file "$OUT/nquic.linux-arm64-gnu.node"
