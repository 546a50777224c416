#!/usr/bin/env bash
# robustness-report.sh: the full robustness report of the earmark watermark.
#
# 1. Runs `earmark robustness` (release build) on test-audio/: stamps every track with
#    several seeded payloads, applies every attack (MP3 128/64 kbps, Vorbis lowest
#    quality, resampling via 48 and 22.05 kHz, gain -10/+6 dB, noise at 20 dB SNR,
#    low-pass 5 kHz, mono, 10 s and 5 s clips of the MP3-128 copy), and prints the
#    recovery rate, raw bit error rate and detect time per attack, SNR per track, the
#    false-positive measurement on >= 10,000 unmarked windows, and PASS/FAIL for every
#    requirement. The originals and stamped tracks are written as 16-bit WAVs to the
#    output folder (<stem>.orig.wav, <stem>.stamped.wav); the report goes to
#    report.txt there.
# 2. If scripts/quality-setup.sh and scripts/quality.py exist, sets up their Python venv
#    and prints the SNR and ViSQOL MOS-LQO of every stamped WAV against its original.
#    If that step is unavailable or fails, the script says why and still exits with
#    the Rust report's status.
# 3. Fetches the full-length tracks (scripts/fetch-full-tracks.sh, 596 MB once, cached in
#    target/full-tracks) and runs the seal section on them (`--seal-only --payloads 2`):
#    is the signature carried by the audio recovered and valid after MP3 and other attacks?
#    SKIP_SEAL=1 skips this step.
#
# Usage: scripts/robustness-report.sh [extra `earmark robustness` options...]
#   e.g. scripts/robustness-report.sh --payloads 2 --clips 5 --json
# Environment:
#   ROBUSTNESS_DIR  output folder (default target/robustness)
#   EARMARK         earmark command to run instead of
#                   `cargo run --release -p earmark-eval --` (the report is the
#                   evaluation tools' `earmark-robustness`; an installed
#                   `earmark` runs it as `earmark robustness`)
# Exit status: that of `earmark robustness` (non-zero when a requirement fails).
set -uo pipefail
cd "$(dirname "$0")/.."

out="${ROBUSTNESS_DIR:-target/robustness}"
mkdir -p "$out" || { echo "robustness-report: cannot create $out" >&2; exit 2; }
# Stale WAVs from an earlier run with other tracks would be scored too.
rm -f "$out"/*.orig.wav "$out"/*.stamped.wav

if [[ -n "${EARMARK:-}" ]]; then
    read -r -a earmark <<<"$EARMARK"
else
    earmark=(cargo run --release --quiet -p earmark-eval --bin earmark-robustness --)
fi

# `earmark robustness ARGS` and `earmark-robustness ARGS` are the same report.
if [[ -n "${EARMARK:-}" ]]; then earmark+=(robustness); fi
echo "== earmark robustness (${earmark[*]} test-audio --stamped-dir $out $*)"
"${earmark[@]}" test-audio --stamped-dir "$out" "$@" | tee "$out/report.txt"
status=${PIPESTATUS[0]}
echo
if [[ $status -ne 0 ]]; then
    echo "robustness-report: earmark robustness exited with status $status"
fi

echo "== stamped-file quality (SNR, ViSQOL MOS-LQO)"
quality() {
    if [[ ! -f scripts/quality.py || ! -f scripts/quality-setup.sh ]]; then
        echo "skipped: scripts/quality.py and scripts/quality-setup.sh are needed for ViSQOL"
        return
    fi
    local pairs=() ref
    for ref in "$out"/*.orig.wav; do
        [[ -f "$ref" ]] || continue
        local test="${ref%.orig.wav}.stamped.wav"
        [[ -f "$test" ]] && pairs+=("$ref" "$test")
    done
    if [[ ${#pairs[@]} -eq 0 ]]; then
        echo "skipped: no <stem>.orig.wav / <stem>.stamped.wav pairs in $out (did earmark robustness fail?)"
        return
    fi
    local setup_log="$out/quality-setup.log" python
    if ! python="$(bash scripts/quality-setup.sh 2>"$setup_log" | tail -n 1)" || [[ -z "$python" ]]; then
        echo "skipped: scripts/quality-setup.sh failed (log: $setup_log):"
        tail -n 5 "$setup_log" | sed 's/^/  /'
        return
    fi
    if [[ ! -x "$python" ]]; then
        echo "skipped: scripts/quality-setup.sh printed '$python', which is not an executable python"
        return
    fi
    if ! "$python" scripts/quality.py "${pairs[@]}" | tee "$out/quality.txt"; then
        echo "scripts/quality.py failed; the Rust report above is unaffected"
    fi
}
quality

# 3. The seal (signature in the audio) on full-length tracks, fetched at run time.
echo
if [[ "${SKIP_SEAL:-0}" == 1 ]]; then
    echo "== seal section skipped (SKIP_SEAL=1)"
else
    echo "== seal on full-length tracks (scripts/fetch-full-tracks.sh, then --seal-only)"
    if tracks="$(bash scripts/fetch-full-tracks.sh)"; then
        "${earmark[@]}" "$tracks" --seal-only --payloads 2 | tee "$out/seal-report.txt"
        seal_status=${PIPESTATUS[0]}
        [[ $seal_status -ne 0 && $status -eq 0 ]] && status=$seal_status
    else
        echo "robustness-report: fetching the full-length tracks failed; seal section not run"
        [[ $status -eq 0 ]] && status=2
    fi
fi
exit "$status"
