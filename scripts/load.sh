#!/usr/bin/env bash
# Load figures for `earmark serve` on loopback (README, "For platforms"):
#   byBinding lookups on a catalogue of ROWS rows (SQLite, and PostgreSQL when
#   EARMARK_TEST_POSTGRES names a server, as `.ci/postgres` prints it), and
#   byContent with a 10 s MP3 clip of a stamped track.
# Needs the release binary (`cargo build --release`), wrk, ffmpeg, python3,
# and psql for the PostgreSQL half. Run: scripts/load.sh
# Knobs: ROWS (1000000), DURATION (20 s per run), CONNECTIONS (32),
# UPLOADERS (4), EARMARK_BIN (target/release/earmark).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${EARMARK_BIN:-target/release/earmark}"
rows="${ROWS:-1000000}"
duration="${DURATION:-20}"
connections="${CONNECTIONS:-32}"
uploaders="${UPLOADERS:-4}"
port="${PORT:-18400}"
for tool in wrk ffmpeg python3 "$bin"; do
    command -v "$tool" >/dev/null || { echo "load.sh: $tool is missing" >&2; exit 1; }
done
work=$(mktemp -d)
pg_db=""
cleanup() {
    kill $(jobs -p) 2>/dev/null || true
    wait 2>/dev/null || true
    [ -n "$pg_db" ] && psql -q "$EARMARK_TEST_POSTGRES/postgres" -c "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT

# One real stamped track, a 10 s MP3 clip of it without its tags, and its key.
"$bin" keygen --out "$work/k.pem" >/dev/null 2>&1
mkdir "$work/lib"
ffmpeg -loglevel error -i test-audio/rock-supertuxkart-bay.ogg -t 30 "$work/lib/rock.wav"
"$bin" stamp "$work/lib" --key "$work/k.pem" --out-dir "$work/out" --quiet >/dev/null
ffmpeg -loglevel error -i "$work/out/lib/rock.earmark.flac" -ss 5 -t 10 -map_metadata -1 -b:a 128k "$work/clip.mp3"
key=$("$bin" catalogue export "$work/out/earmark-catalogue.db" --format jsonl |
    python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["key_fingerprint"])')

# The catalogues: the real row plus ROWS synthetic ones of the same key.
cp "$work/out/earmark-catalogue.db" "$work/sqlite.db"
rm -f "$work/out/earmark-catalogue.db-wal" "$work/out/earmark-catalogue.db-shm"
python3 scripts/load/fill.py "$work/sqlite.db" "$key" 1000 "$rows" >/dev/null
locations=("sqlite=$work/sqlite.db")
if [ -n "${EARMARK_TEST_POSTGRES:-}" ]; then
    command -v psql >/dev/null || { echo "load.sh: psql is missing" >&2; exit 1; }
    pg_db="earmark_load_$$"
    psql -q "$EARMARK_TEST_POSTGRES/postgres" -c "CREATE DATABASE $pg_db" >/dev/null
    pg="$EARMARK_TEST_POSTGRES/$pg_db"
    "$bin" catalogue migrate "$work/out/earmark-catalogue.db" "$pg" >/dev/null
    psql -q "$pg" -c "INSERT INTO stamps (key_fingerprint, track_id, source_path, source_sha256,
        output_path, output_sha256, title, artist, policy, manifest, stamped_at)
        SELECT '$key', n, '/catalogue/in/' || n || '.wav', lpad(to_hex(n), 64, '0'),
               '/catalogue/out/' || n || '.earmark.flac', lpad(to_hex(n + 1), 64, '0'),
               'Track ' || n, 'Load Test', 'no-ai-training', '{\"synthetic\":true}',
               '2026-12-07T00:00:00Z'
        FROM generate_series(1000, 1000 + $rows - 1) AS n; ANALYZE stamps;" >/dev/null
    locations+=("postgres=$pg")
fi

# Runs wrk and prints "requests/s p50 p99" (milliseconds).
measure() {
    wrk -t1 "$@" --latency "http://127.0.0.1:$port" | python3 -c '
import re, sys
text = sys.stdin.read()
def ms(p):
    m = re.search(r"^\s+%s%%\s+([\d.]+)(us|ms|s)\s*$" % p, text, re.M)
    v, unit = float(m.group(1)), m.group(2)
    return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
print("%.0f %.2f %.2f %s" % (rps, ms(50), ms(99), errors.group(1) if errors else 0))'
}

printf '%-10s %-12s %12s %9s %9s %9s\n' backend route "requests/s" "p50 ms" "p99 ms" "errors"
for entry in "${locations[@]}"; do
    name="${entry%%=*}"
    location="${entry#*=}"
    "$bin" serve --catalogue "$location" --listen "127.0.0.1:$port" --quiet 2>"$work/serve.log" &
    pid=$!
    for _ in $(seq 100); do
        curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
        sleep 0.1
    done
    export EARMARK_LOAD_KEY="$key" EARMARK_LOAD_FIRST=1000 EARMARK_LOAD_ROWS="$rows"
    read -r rps p50 p99 bad < <(measure -c"$connections" -d"${duration}s" -s scripts/load/by-binding.lua)
    printf '%-10s %-12s %12s %9s %9s %9s\n' "$name" byBinding "$rps" "$p50" "$p99" "$bad"
    export EARMARK_LOAD_CLIP="$work/clip.mp3"
    read -r rps p50 p99 bad < <(measure -c"$uploaders" -d"${duration}s" -s scripts/load/by-content.lua)
    printf '%-10s %-12s %12s %9s %9s %9s\n' "$name" byContent "$rps" "$p50" "$p99" "$bad"
    kill -TERM "$pid"
    wait "$pid"
done
echo "($rows rows; wrk -t1, $connections connections for byBinding, $uploaders for byContent with a 10 s 128 kb/s MP3 clip, ${duration} s each; $(nproc) CPUs shared by wrk and the service)"
