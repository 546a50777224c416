#!/usr/bin/env bash
# Builds the browser page's WebAssembly packages (then serve web/ with any
# static file server, e.g. `python3 -m http.server -d web`):
#   web/pkg/       the engine without Content Credentials: loaded with the page
#                  (under 3 MB);
#   web/pkg-c2pa/  the same API built with the C2PA SDK (feature `c2pa`),
#                  which the page loads only for files that carry a manifest
#                  store (`mayHoldCredentials`).
#
# Toolchain: rustup's wasm32-unknown-unknown target when it is installed
# (`rustup target add wasm32-unknown-unknown`); otherwise Debian's rustc-web
# with its std source and -Zbuild-std (machines where rustup cannot download
# targets: apt-get install rustc-web cargo-web rust-web-src rust-web-llvm
# lld-22). wasm-bindgen-cli is installed at exactly the version web/Cargo.toml
# pins, into ~/.cache/earmark/wasm-tools (override: WASM_TOOLS); wasm-opt
# (Debian's binaryen) shrinks the module before wasm-bindgen, which older
# binaryen releases need.
#
# `scripts/build-web.sh --check` builds nothing: it says whether everything
# the build needs is already here (exit 0) or what is missing (exit 1).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
tools="${WASM_TOOLS:-$HOME/.cache/earmark/wasm-tools}"
export CARGO_TARGET_DIR="${WEB_TARGET_DIR:-$HOME/.cache/earmark/web-target}"
# WebAssembly SIMD (128-bit): rustfft's SIMD128 plans, the same arithmetic as
# its SSE4.1 plans in the native build (src/mark/band_fft.rs), and LLVM
# vectorises the DSP loops. Every browser since 2021 runs it.
export RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+simd128"
# The C2PA SDK's getrandom 0.3 takes the browser's crypto.getRandomValues
# only with this cfg; both builds get it, so they share their compiled
# dependencies.
export RUSTFLAGS="$RUSTFLAGS --cfg getrandom_backend=\"wasm_js\""
version=$(sed -n 's/^wasm-bindgen = "=\(.*\)"/\1/p' web/Cargo.toml)

have_target() { rustup target list --installed 2>/dev/null | grep -q '^wasm32-unknown-unknown$'; }
have_debian() {
    [ -x /usr/bin/cargo ] && [ -d /usr/lib/rustlib/src/rust/library ] \
        && { [ -x /usr/bin/rust-lld ] || ls /usr/lib/llvm-*/bin/lld >/dev/null 2>&1; }
}
have_bindgen() { "$tools/bin/wasm-bindgen" --version 2>/dev/null | grep -q " $version\$"; }
if [ "${1:-}" = "--check" ]; then
    missing=()
    have_target || have_debian || missing+=("a wasm32 target (rustup target add wasm32-unknown-unknown, or apt-get install rustc-web cargo-web rust-web-src rust-web-llvm lld-22)")
    have_bindgen || missing+=("wasm-bindgen-cli $version in $tools (this script installs it)")
    if [ "${#missing[@]}" -gt 0 ]; then
        printf 'missing: %s\n' "${missing[@]}" >&2
        exit 1
    fi
    exit 0
fi

if ! have_bindgen; then
    echo "installing wasm-bindgen-cli $version into $tools" >&2
    cargo install wasm-bindgen-cli --version "=$version" --root "$tools"
fi

# build FEATURES OUT: one flavour of the package into web/OUT.
build() {
    local features=$1 out=$2
    if have_target; then
        (cd web && cargo build --release --target wasm32-unknown-unknown --features "$features")
    else
        have_debian || {
            echo "no wasm32 target: install rustup's, or Debian's rustc-web cargo-web rust-web-src rust-web-llvm lld-22" >&2
            exit 1
        }
        # Debian's toolchain ahead of rustup's proxies; std built from source.
        (cd web && PATH=/usr/bin:$PATH RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 \
            /usr/bin/cargo build --release --target wasm32-unknown-unknown \
            -Zbuild-std=std,panic_abort --features "$features")
    fi
    local raw="$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/earmark_web.wasm"
    local opt="$CARGO_TARGET_DIR/earmark_web.$out.wasm"
    # wasm-opt takes minutes on the C2PA build: skipped when the module it
    # would optimise is the one it optimised last time.
    local sum
    sum=$(sha256sum "$raw" | cut -d' ' -f1)
    if [ -f "$opt" ] && [ "$(cat "$opt.source" 2>/dev/null)" = "$sum" ]; then
        :
    elif command -v wasm-opt >/dev/null; then
        wasm-opt -O3 --enable-simd --enable-bulk-memory --enable-nontrapping-float-to-int \
            --enable-sign-ext --enable-mutable-globals "$raw" -o "$opt"
        echo "$sum" >"$opt.source"
    else
        echo "wasm-opt not found (apt-get install binaryen): the module stays unoptimised" >&2
        cp "$raw" "$opt"
        rm -f "$opt.source"
    fi
    rm -rf "web/$out"
    "$tools/bin/wasm-bindgen" --target web --no-typescript --out-dir "web/$out" --out-name earmark "$opt"
    ls -l "web/$out/earmark_bg.wasm" | awk -v o="$out" '{printf "web/%s/earmark_bg.wasm: %.2f MB\n", o, $5 / 1e6}'
}
build "" pkg
build c2pa pkg-c2pa
