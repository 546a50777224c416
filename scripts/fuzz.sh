#!/usr/bin/env bash
# Coverage-guided fuzzing of every input path (fuzz/fuzz_targets/: decode,
# verify, inspect, tag, manifest, keys, and serve: raw HTTP requests to the
# service) with libFuzzer, on the stable
# toolchain: the targets are built with LLVM's SanitizerCoverage passes
# (the flags cargo-fuzz passes, all stable) and no sanitizer runtime; the
# targets' own allocator turns a single allocation over 256 MiB into a
# crash (libFuzzer's -malloc_limit_mb needs a sanitizer), and -rss_limit_mb
# bounds the whole process. With a nightly toolchain, `cargo fuzz run
# TARGET` in fuzz/ runs the same targets under AddressSanitizer.
#
#   scripts/fuzz.sh                 every target, 300 s each
#   SECONDS_PER_TARGET=20 scripts/fuzz.sh decode verify
#
# Corpora live in target/fuzz/corpus/TARGET (seeded from test-audio/ and
# fuzz/seeds/), findings in target/fuzz/artifacts/TARGET; the script exits
# non-zero when any target finds a crash, a leak of time (-timeout) or
# memory (-rss_limit_mb), and prints each target's coverage at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
seconds="${SECONDS_PER_TARGET:-300}"
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=(decode verify inspect tag manifest keys serve)
out="${FUZZ_DIR:-$root/target/fuzz}"
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$out/build}"
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
# An explicit --target keeps the flags off build scripts and proc macros
# (which would need libFuzzer's symbols), as cargo-fuzz does.
host=$(rustc -vV | sed -n 's/^host: //p')
(cd fuzz && cargo build --release --locked --bins --target "$host")
bin="$CARGO_TARGET_DIR/$host/release"

seed() { # TARGET: the seed corpus
    local dir="$out/corpus/$1"
    mkdir -p "$dir"
    case $1 in
        decode|verify|inspect|tag)
            # Real files of every container, each also as the first byte
            # that picks its own extension (see fuzz/src/lib.rs).
            local i=0 f ext
            for f in test-audio/formats/* test-audio/tagged/*.{wav,flac,mp3,ogg,opus,m4a,aiff}; do
                [ -s "$f" ] && [ "$(stat -c %s "$f")" -lt 1000000 ] || continue
                ext="${f##*.}"
                case $ext in wav) b=0;; flac) b=1;; mp3) b=2;; ogg) b=3;; opus) b=4;; m4a) b=5;; aiff) b=6;; *) b=10;; esac
                { printf "\\x$(printf %02x $b)"; cat "$f"; } > "$dir/seed-$i"
                i=$((i + 1))
            done;;
        manifest|keys) cp fuzz/seeds/"$1"/* "$dir/";;
        serve)
            # Raw HTTP requests: the committed ones (no audio), plus small
            # real files as a raw /v1/verify body and as a multipart form.
            cp fuzz/seeds/serve/* "$dir/"
            local f=test-audio/formats/mp3-stereo-44100.mp3 b=earmark-fuzz-boundary
            { printf 'POST /v1/verify HTTP/1.1\r\nHost: localhost\r\nContent-Type: audio/mpeg\r\n'
              printf 'Content-Length: %s\r\n\r\n' "$(stat -c %s "$f")"; cat "$f"; } > "$dir/verify-raw.http"
            local form="$dir/.form"
            { printf -- '--%s\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n' "$b"
              printf -- '--%s\r\nContent-Disposition: form-data; name="file"; filename="a.ogg"\r\n' "$b"
              printf 'Content-Type: audio/ogg\r\n\r\n'; cat test-audio/formats/vorbis-mono-22050.ogg
              printf '\r\n--%s--\r\n' "$b"; } > "$form"
            { printf 'POST /matches/byContent HTTP/1.1\r\nHost: localhost\r\n'
              printf 'Content-Type: multipart/form-data; boundary=%s\r\n' "$b"
              printf 'Content-Length: %s\r\n\r\n' "$(stat -c %s "$form")"; cat "$form"; } > "$dir/by-content-form.http"
            rm -f "$form";;
    esac
}

status=0
summary=()
for t in "${targets[@]}"; do
    seed "$t"
    mkdir -p "$out/artifacts/$t"
    log="$out/$t.log"
    echo "fuzzing $t for ${seconds}s" >&2
    if ! "$bin/$t" "$out/corpus/$t" \
            -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2048 -max_len=1048576 \
            -artifact_prefix="$out/artifacts/$t/" -print_final_stats=1 > "$log" 2>&1; then
        status=1
        echo "$t: FINDING (see $log and $out/artifacts/$t/)" >&2
        # The cause first: caught panics (turned into errors by earmark, not
        # findings) are printed by the panic hook too, so only the last one
        # before the crash is shown.
        grep -E "allocation over|ERROR:|SUMMARY|Test unit written" "$log" | head -4 >&2 || true
        grep "panicked" "$log" | tail -1 | sed 's/^/last panic (may have been caught): /' >&2 || true
    fi
    cov=$(grep -oE "cov: [0-9]+ ft: [0-9]+ corp: [0-9]+" "$log" | tail -1)
    runs=$(grep -oE "stat::number_of_executed_units: *[0-9]+" "$log" | grep -oE "[0-9]+$" || echo "?")
    summary+=("$t: ${seconds}s, $runs runs, $cov")
done
printf '%s\n' "${summary[@]}"
exit "$status"
