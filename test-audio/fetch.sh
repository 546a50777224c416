#!/usr/bin/env bash
# fetch.sh - re-create earmark's test-audio excerpts from Debian packages.
#
# What it does
#   1. downloads the Debian (bookworm) packages listed in PKGS below with
#      `apt-get download` (pinned versions; falls back to the current version
#      with a warning if the pinned one is gone) and unpacks them with
#      `dpkg -x` into a scratch directory (nothing is installed from them);
#   2. checks the SHA-256 of every original file against the value recorded
#      below (SOURCES.md lists the same values);
#   3. cuts the excerpts with exactly the ffmpeg commands listed in SOURCES.md
#      and writes them next to this script (or to $OUT);
#   4. derives the tiny decode fixtures in formats/ from one excerpt;
#   5. prints duration / sample rate / channels / loudness of every output and
#      fails if an excerpt is mostly silent.
#
# Requirements
#   Debian bookworm, network access to the Debian archive, run as root (or
#   with ffmpeg, unzip, festival and festvox-kallpc16k already installed:
#   the script `apt-get install`s them when it runs as root and they are
#   missing). Speech synthesis needs festival + festvox-kallpc16k installed,
#   since text2wave is a program, not just data.
#   Disk: ~2.7 GB in the scratch directory (supertuxkart-data alone is a
#   628 MB .deb that unpacks to ~700 MB; hedgewars-data and flare-game,
#   for one difficult excerpt each, are 145 MB and 123 MB .debs).
#
# Usage
#   sudo bash test-audio/fetch.sh            # regenerate into test-audio/
#   OUT=/tmp/ta WORK=/tmp/ta-work bash fetch.sh
#   KEEP_WORK=1 bash fetch.sh                # keep the scratch directory
#
# Environment
#   OUT        output directory (default: the directory of this script)
#   WORK       scratch directory (default: a new mktemp -d directory, deleted
#              at the end; a WORK you pass in is never deleted)
#   KEEP_WORK  1 = keep the mktemp scratch directory
#   ALLOW_HASH_MISMATCH  1 = only warn when a source file's SHA-256 differs
#
# Notes
#   Vorbis/AAC/MP3 output is not guaranteed to be byte-identical across
#   ffmpeg/libvorbis versions (the committed files were made with Debian
#   bookworm's ffmpeg 5.1.x); the sources are verified by hash, the outputs
#   by duration/format/loudness. CI does not need to run this script.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${OUT:-$HERE}
if [ -z "${WORK:-}" ]; then WORK=$(mktemp -d /tmp/earmark-test-audio.XXXXXX); OWN_WORK=1; else OWN_WORK=0; fi
mkdir -p "$OUT" "$OUT/formats" "$OUT/licenses" "$WORK"
OUT=$(cd "$OUT" && pwd)
# only ever delete a scratch directory this script created itself
cleanup() { if [ "$OWN_WORK" = 1 ] && [ "${KEEP_WORK:-0}" != 1 ]; then rm -rf "$WORK"; fi; }
trap cleanup EXIT

log() { printf '>> %s\n' "$*" >&2; }
run() { printf '$ %s\n' "$*" >&2; "$@"; }

# ---------------------------------------------------------------- tools
need_install=()
command -v ffmpeg    >/dev/null || need_install+=(ffmpeg)
command -v ffprobe   >/dev/null || need_install+=(ffmpeg)
command -v unzip     >/dev/null || need_install+=(unzip)
command -v text2wave >/dev/null || need_install+=(festival)
[ -d /usr/share/festival/voices/english/kal_diphone ] || need_install+=(festvox-kallpc16k)
if [ ${#need_install[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        log "installing: ${need_install[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_install[@]}"
    else
        echo "missing tools (${need_install[*]}); run as root or install them" >&2
        exit 1
    fi
fi
ffmpeg -hide_banner -h filter=aresample 2>/dev/null | grep -q soxr \
    || { echo "this ffmpeg has no soxr resampler (needed for the 48 kHz excerpt)" >&2; exit 1; }

# ---------------------------------------------------------------- packages
# name=version (Debian bookworm)
PKGS=(
    supertuxkart-data=1.4+dfsg-2
    neverball-common=1.6.0+git20180603-3
    openarena-088-data=0.8.8-12
    openarena-081-misc=0.8.5split-14
    festvox-kallpc16k=2.4-1
    # difficult excerpts (tonal synth pad, sparse quiet keys, solo flute, one-sided mix)
    extremetuxracer-data=0.8.2-1
    flare-game=1.14-1
    hedgewars-data=1.0.2-6
    freeciv-data=3.0.6-1+deb12u1
)
cd "$WORK"
mkdir -p debs x
for pv in "${PKGS[@]}"; do
    p=${pv%%=*}
    if ! ls debs/"${p}"_*.deb >/dev/null 2>&1; then
        log "downloading $pv"
        (cd debs && { apt-get download "$pv" 2>/dev/null \
            || { echo "WARNING: $pv not available, using current $p" >&2; apt-get download "$p"; }; })
    fi
    mkdir -p "x/$p"
    dpkg -x debs/"${p}"_*.deb "x/$p"
    dpkg-deb -f debs/"${p}"_*.deb Package Version | tr '\n' ' ' >&2; echo >&2
done
# festival itself (for its copyright file; the program is the installed one)
(cd debs && { ls festival_*.deb >/dev/null 2>&1 || apt-get download festival=1:2.5.0-9 2>/dev/null || apt-get download festival; })
mkdir -p x/festival && dpkg -x debs/festival_*.deb x/festival

# OpenArena keeps its data in .pk3 (zip) archives.
mkdir -p pk3/088 pk3/081
run unzip -o -q x/openarena-088-data/usr/share/games/openarena/baseoa/pak6-patch088.pk3 music/OA02.ogg -d pk3/088
run unzip -o -q x/openarena-081-misc/usr/share/games/openarena/baseoa/pak6-misc.pk3 'sound/feedback/*' -d pk3/081

STK=x/supertuxkart-data/usr/share/games/supertuxkart/data
NB=x/neverball-common/usr/share/games/neverball
FB=pk3/081/sound/feedback
ETR=x/extremetuxracer-data/usr/share/games/etr
FLARE=x/flare-game/usr/share/games/flare/mods/fantasycore
HW=x/hedgewars-data/usr/share/games/hedgewars/Data
FC=x/freeciv-data/usr/share/games/freeciv

# ---------------------------------------------------------------- hashes
check() {  # sha256 path
    local got; got=$(sha256sum "$2" | cut -d' ' -f1)
    if [ "$got" != "$1" ]; then
        echo "SHA-256 mismatch for $2: expected $1, got $got" >&2
        [ "${ALLOW_HASH_MISMATCH:-0}" = 1 ] || exit 1
    fi
}
check fc73ba9d6200ce5e92cb033bf0fdd745ac252c02d48788249f1996bae09631d5 $STK/tracks/introcutscene2/intro2.ogg
check defc6a7d6edc83cacdeb545be63f047b87e74c826e36d8ad555889e05f3f5e5f $STK/music/bay.ogg
check 24262dc44872f2dd6c61c5d7182ce11ba985d77f2e17b13bd1f87d9666b2e42a $STK/music/xeon6.ogg
check 1c0917a88eaeac946ddfc5220f987b4dec1d12fc35b2f98c8dc6e6734ee8cdb4 $STK/music/alien_signal.ogg
check d3064dbd82d3fc5e6a392acc2b4ad943199398974ba83642cdab5caeaff38a14 $NB/bgm/title.ogg
check 32783890afe96aff245987102cb94762ce5682251b4e0108b6c586057660da53 $NB/bgm/track1.ogg
check 18e3b769826d6b5cef0c55d02a93a59fd4bb0666e8ab905fc41ec3e91e398ad6 pk3/088/music/OA02.ogg
check 511a8f8b453ea952ea0145104ad2ce1b4603b9155748ee57d165208297da5906 $ETR/music/calmrace-ks.ogg
check aef047d40fe82fa580d04576fd6fbc04d03c85bad7d91c4f2a2796bc02b983e3 $FLARE/music/unrest_theme.ogg
check 53650b213ed023c756254132dac12023bb09bbc0fbd53b4673c2ed219f63531f $HW/Music/Sheep.ogg
check 58d87937f13025670c4ea6ddb9bfceb7a8d755a85305b9847b7730f8d904337b $FC/stdmusic/CullamBruce-Lockhart--Dawning_Fanfare.ogg

# ---------------------------------------------------------------- excerpts
FF=(ffmpeg -nostdin -hide_banner -loglevel error -y)
# no tags, deterministic Ogg serial numbers
ENC_TAIL=(-map_metadata -1 -fflags +bitexact -flags:a +bitexact)
VORBIS=(-c:a libvorbis -q:a 4)

# music SRC START DUR OUTNAME [RATE]: stereo Vorbis, 50 ms fade in/out.
# asetpts renumbers timestamps from the sample count before atrim cuts: with
# plain `-t`, ffmpeg 5.1 carries the source Ogg's (non-monotonic) interpolated
# timestamps over, writes bad granule positions ("Queue input is backward in
# time") and cuts at the wrong length.
music() {
    local src=$1 ss=$2 t=$3 name=$4 rate=${5:-44100}
    local fo; fo=$(awk "BEGIN{printf \"%.2f\", $t-0.05}")
    local af="asetpts=N/SR/TB,atrim=duration=${t}"
    if [ "$rate" != 44100 ]; then af="$af,aresample=${rate}:resampler=soxr"; fi
    af="$af,afade=t=in:d=0.05,afade=t=out:st=${fo}:d=0.05"
    run "${FF[@]}" -ss "$ss" -i "$src" -af "$af" -ac 2 -ar "$rate" \
        "${VORBIS[@]}" "${ENC_TAIL[@]}" "$OUT/$name"
}

log "music excerpts"
music $STK/tracks/introcutscene2/intro2.ogg 45 28 orchestral-supertuxkart-gran-batalla.ogg
music pk3/088/music/OA02.ogg                36 28 rock-openarena-oa02.ogg
music $STK/music/bay.ogg                    54 28 rock-supertuxkart-bay.ogg
music $STK/music/xeon6.ogg                  78 28 electronic-supertuxkart-xeon6.ogg
music $NB/bgm/title.ogg                      6 28 electronic-neverball-title-48k.ogg 48000
music $STK/music/alien_signal.ogg           12 28 piano-supertuxkart-alien-signal.ogg
music $NB/bgm/track1.ogg                     2 28 acoustic-neverball-track1.ogg

log "difficult music excerpts (see SOURCES.md: tonal, sparse, solo, one-sided)"
# calmrace-ks.ogg is 48 kHz: `-ar 44100` resamples it (ffmpeg's default resampler)
music $ETR/music/calmrace-ks.ogg            18 28 synthpad-extremetuxracer-calmrace.ogg
music $FLARE/music/unrest_theme.ogg          2 28 sparse-flare-unrest-theme.ogg
music $HW/Music/Sheep.ogg                  141 28 flute-hedgewars-sheep.ogg
music $FC/stdmusic/CullamBruce-Lockhart--Dawning_Fanfare.ogg 10 28 panned-freeciv-dawning-fanfare.ogg

log "speech: festival kal_diphone (diphone concatenation of recorded speech)"
cat > gettysburg.txt <<'EOF'
Four score and seven years ago our fathers brought forth on this continent, a new nation, conceived in Liberty, and dedicated to the proposition that all men are created equal.
Now we are engaged in a great civil war, testing whether that nation, or any nation so conceived and so dedicated, can long endure. We are met on a great battle-field of that war. We have come to dedicate a portion of that field, as a final resting place for those who here gave their lives that that nation might live.
EOF
run text2wave -eval '(voice_kal_diphone)' gettysburg.txt -o kal.wav
# bookworm's festival 1:2.5.0-9 + festvox-kallpc16k 2.4-1 produce exactly this WAV
[ "$(sha256sum kal.wav | cut -d' ' -f1)" = ec4234cf2957f5885222f5dca19192502d4ca71a56a51687034d5a205360dc8f ] \
    || echo "NOTE: kal.wav differs from the committed version's (other festival/voice version?)" >&2
run "${FF[@]}" -i kal.wav -af aresample=44100:resampler=soxr -ac 1 \
    "${VORBIS[@]}" "${ENC_TAIL[@]}" "$OUT/speech-festival-kal.ogg"

log "speech: OpenArena announcer lines (recorded voice), concatenated"
LINES=(prepare three two one fight excellent impressive accuracy perfect
       takenlead tiedlead lostlead redleads blueleads sudden_death youwin)
inputs=(); labels=""
for i in "${!LINES[@]}"; do inputs+=(-i "$FB/${LINES[$i]}.wav"); labels+="[$i:a]"; done
run "${FF[@]}" "${inputs[@]}" -filter_complex "${labels}concat=n=${#LINES[@]}:v=0:a=1[a]" \
    -map '[a]' -ac 1 -ar 44100 "${VORBIS[@]}" "${ENC_TAIL[@]}" "$OUT/speech-openarena-announcer.ogg"

# ---------------------------------------------------------------- formats/
log "format fixtures (all derived from rock-openarena-oa02.ogg)"
SRC="$OUT/rock-openarena-oa02.ogg"
F="$OUT/formats"
T1=(-ss 10 -i "$SRC" -af asetpts=N/SR/TB,atrim=duration=1)   # seconds 10-11 of the excerpt
T2=(-ss 10 -i "$SRC" -af asetpts=N/SR/TB,atrim=duration=2)   # seconds 10-12
run "${FF[@]}" "${T2[@]}" -c:a aac -b:a 128k "${ENC_TAIL[@]}" "$F/aac-stereo-44100.m4a"
run "${FF[@]}" "${T1[@]}" -c:a alac -sample_fmt s16p "${ENC_TAIL[@]}" "$F/alac-stereo-44100.m4a"
run "${FF[@]}" "${T1[@]}" -c:a pcm_s16be "${ENC_TAIL[@]}" "$F/pcm16-stereo-44100.aiff"
run "${FF[@]}" "${T2[@]}" -c:a libmp3lame -b:a 128k -id3v2_version 0 "${ENC_TAIL[@]}" "$F/mp3-stereo-44100.mp3"
run "${FF[@]}" -ss 10 -i "$SRC" -af asetpts=N/SR/TB,atrim=duration=2,aresample=22050:resampler=soxr \
    -ac 1 -c:a libvorbis -q:a 3 "${ENC_TAIL[@]}" "$F/vorbis-mono-22050.ogg"
# 5.1 with a distinct mix in every channel: L, R, (L+R)/2, (L-R)/2, L/2, R/2
run "${FF[@]}" -ss 10 -i "$SRC" \
    -af "asetpts=N/SR/TB,atrim=duration=1,aresample=48000:resampler=soxr,pan=5.1(side)|FL=c0|FR=c1|FC=0.5*c0+0.5*c1|LFE=0.5*c0-0.5*c1|SL=0.5*c0|SR=0.5*c1" \
    -c:a flac -compression_level 12 -sample_fmt s32 -bits_per_raw_sample 24 "${ENC_TAIL[@]}" "$F/flac24-6ch-48000.flac"
# Opus (libopus): stereo, and 5.1 as a multistream (channel mapping family 1)
run "${FF[@]}" "${T2[@]}" -c:a libopus -b:a 96k "${ENC_TAIL[@]}" "$F/opus-stereo-48000.opus"
run "${FF[@]}" -ss 10 -i "$SRC" -af "asetpts=N/SR/TB,atrim=duration=1,pan=5.1|FL=c0|FR=c1|FC=0.5*c0+0.5*c1|LFE=0.5*c0-0.5*c1|BL=0.5*c0|BR=0.5*c1" \
    -c:a libopus -b:a 192k -mapping_family 1 "${ENC_TAIL[@]}" "$F/opus-6ch-48000.opus"
# broken inputs
printf '%s\n' "This is not an MP3 file. It is plain ASCII text saved with an .mp3 extension" \
    "so that earmark's decoder tests can check that it is rejected cleanly instead of" \
    "crashing or producing noise. (earmark test fixture, public domain)" > "$F/not-audio.mp3"
: > "$F/empty.wav"
head -c 3000 "$F/flac24-6ch-48000.flac" > "$F/truncated.flac"

# ---------------------------------------------------------------- licenses
for p in supertuxkart-data neverball-common openarena-088-data openarena-081-misc festival festvox-kallpc16k \
         extremetuxracer-data flare-game hedgewars-data freeciv-data; do
    cp "x/$p/usr/share/doc/$p/copyright" "$OUT/licenses/$p.copyright"
done
# lexicons text2wave used for pronunciation (installed as dependencies of festival)
for p in festlex-cmu festlex-poslex; do
    cp "/usr/share/doc/$p/copyright" "$OUT/licenses/$p.copyright"
done

# ---------------------------------------------------------------- checks
log "checks"
status=0
for f in "$OUT"/*.ogg "$F"/*.m4a "$F"/*.aiff "$F"/*.mp3 "$F"/*.ogg "$F"/*.opus "$F"/*.flac; do
    case $f in */truncated.flac|*/not-audio.mp3) continue;; esac
    # any decoder/demuxer warning counts as a failure
    errs=$( { ffmpeg -nostdin -hide_banner -v warning -i "$f" -f null - 2>&1 || echo "ffmpeg failed"; } \
        | grep -v 'Guessed Channel Layout' || true)
    if [ -n "$errs" ]; then printf 'DECODE PROBLEM: %s\n%s\n' "$f" "$errs" >&2; status=1; fi
    info=$(ffprobe -v error -show_entries stream=codec_name,sample_rate,channels:format=duration -of csv=p=0 "$f" | tr '\n' ',')
    vol=$(ffmpeg -nostdin -hide_banner -i "$f" -af volumedetect -f null - 2>&1 | grep -oE '(mean|max)_volume: [-0-9.]+ dB' | tr '\n' ' ')
    printf '%-42s %s %s\n' "${f#"$OUT"/}" "$info" "$vol"
    mean=$(echo "$vol" | sed -nE 's/.*mean_volume: ([-0-9.]+) dB.*/\1/p')
    if awk "BEGIN{exit !($mean < -35)}"; then echo "TOO QUIET: $f" >&2; status=1; fi
done
for f in "$F/not-audio.mp3" "$F/empty.wav" "$F/truncated.flac"; do
    if ffmpeg -nostdin -hide_banner -v error -xerror -i "$f" -f null - >/dev/null 2>&1; then
        echo "expected a decode error for $f" >&2; status=1
    else
        printf '%-42s fails to decode, as intended\n' "${f#"$OUT"/}"
    fi
done
du -ah "$OUT" | sort -k2
exit $status
