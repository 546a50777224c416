#!/usr/bin/env bash
# fetch-full-tracks.sh: fetch the full-length music tracks for the robustness report.
#
# The tracks are NOT committed to the repo. This script takes them at run time from
# Debian 12 (bookworm) binary packages: `apt-get download PKG=VERSION` (pinned
# versions), `dpkg -x` into a scratch directory (nothing is installed), then a plain
# copy of the original files (no re-encoding) into DIR under descriptive names. Every
# copied file is checked against the SHA-256 recorded below, so every run gets the
# same bytes. test-audio/FULL-TRACKS.md documents each track: package and version,
# path inside the package, author, license stanza and duration.
#
# Usage: scripts/fetch-full-tracks.sh [DIR]
#   DIR defaults to target/full-tracks under the repo root.
#   Messages go to stderr. The last (and only) line on stdout is DIR as an
#   absolute path, so `dir=$(scripts/fetch-full-tracks.sh)` works.
#
# Idempotent: if DIR already holds every track with the right SHA-256 (and the
# copyright files in DIR/licenses/), the script downloads nothing and only prints
# DIR. A missing or damaged track makes it fetch only the package that holds it.
#
# Needs: apt-get, dpkg, dpkg-deb, sha256sum; root if the apt package lists must be
# refreshed (the script runs `apt-get update` once, and only when a pinned version
# is not in the lists it has). ffprobe is optional (used for the durations in the
# summary). Download: 7 packages, about 596 MB in all; scratch space about 350 MB
# (each package is unpacked, used and deleted in turn).
#
# Environment:
#   ALLOW_OTHER_VERSION=1  if a pinned package version is no longer in the archive,
#                          download the current one instead of failing. The SHA-256
#                          checks still apply, so this only works if the tracks in
#                          the new version are byte-identical.
#   TMPDIR                 where the scratch directory is made (default /tmp).
#
# Exit status: 0 all tracks present and verified; 1 anything else (package or
# version not available, file missing from a package, SHA-256 mismatch, ...).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR=${1:-$ROOT/target/full-tracks}

log() { printf 'fetch-full-tracks: %s\n' "$*" >&2; }
die() { printf 'fetch-full-tracks: ERROR: %s\n' "$*" >&2; exit 1; }

# ------------------------------------------------------------------ pinned data
# Debian bookworm packages: "name version" (download size in bytes, from the archive).
PKGS=(
    "asc-music 1.3-6"                           #  10,317,876
    "flare-game 1.14-1"                         # 122,515,912
    "hedgewars-data 1.0.2-6"                    # 145,330,284
    "lincity-ng-data 2.9~git20150314-5"         #  44,782,216
    "marsshooter-data 0.7.6-7"                  #  68,377,444
    "singularity-music 007-2"                   #  51,636,048
    "wesnoth-1.16-music 1:1.16.9-1"             # 153,244,368
)

# "output name|package|path inside the package|sha256"
# Keep in sync with test-audio/FULL-TRACKS.md.
TRACKS=(
    "orchestral-wesnoth-the-dangerous-symphony.ogg|wesnoth-1.16-music|/usr/share/games/wesnoth/1.16/data/core/music/the_dangerous_symphony.ogg|d85a3cdceadb9f05bdca597cd9631e84ed77be7f65994fe8cc99708bedb925bf"
    "orchestral-wesnoth-traveling-minstrels.ogg|wesnoth-1.16-music|/usr/share/games/wesnoth/1.16/data/core/music/traveling_minstrels.ogg|3599c51b74373ec1f5fa04f8b20dcb90ef55360851cbbff4c23f06c87e0c1167"
    "strings-wesnoth-elvish-theme.ogg|wesnoth-1.16-music|/usr/share/games/wesnoth/1.16/data/core/music/elvish-theme.ogg|2242cc00fb6bbc08cee5f0adc9b3366a6e8fad478ff873ccda8bde3b48010639"
    "rock-vocal-marsshooter-ezer-ev.ogg|marsshooter-data|/usr/share/games/marsshooter/audio/music/01_-_Ezer_Ev.ogg|a59964f98cfaed11698bf9fa4c60522d52cfe60fdf2565c2bc868c89f0dd38c0"
    "metal-marsshooter-orphanage.ogg|marsshooter-data|/usr/share/games/marsshooter/audio/music/02_orphanage.ogg|58bd75ace1fd74993dbad07b1c4ab908cdf886e4a6ed47a02abd89d5d770d9f0"
    "electronic-singularity-a-new-journey.ogg|singularity-music|/usr/share/games/singularity/music/A New Journey.ogg|16e5d28350fc21e25f9a6620ab04ba4440fac3e758d7fece19b7b8a2e7e747c4"
    "ambient-singularity-orbital-elevator.ogg|singularity-music|/usr/share/games/singularity/music/Orbital Elevator.ogg|0d5280307ff73d1dbb7eebbc1cf1c8cd7ccfb0659786cd5aa3428b9ff08c9b50"
    "guitar-singularity-advanced-simulacra.ogg|singularity-music|/usr/share/games/singularity/music/Advanced Simulacra.ogg|049514d4ab888307b3e5fd2d4faec067b1bb5ebc4805181a9d677214d8b87c0e"
    "piano-lincity-architectural-contemplations.ogg|lincity-ng-data|/usr/share/games/lincity-ng/music/default/03 - Robert van Herk - Architectural Contemplations.ogg|472e87b40fdf7aecbb4203720560e3fddc1379822fb0958a041f2a7432ea648b"
    "piano-strings-lincity-city-blues.ogg|lincity-ng-data|/usr/share/games/lincity-ng/music/default/02 - Robert van Herk - City Blues.ogg|16760321bc51b92b6bc07859b470002aaae879cb89317887718ab5ac5570599b"
    "dance-lincity-pronobozo-lincity.ogg|lincity-ng-data|/usr/share/games/lincity-ng/music/default/01 - pronobozo - lincity.ogg|5ae2f878032f2ce77565bc9c4f27db133b510312aad331d15d1a2a309df9d3a4"
    "electronic-asc-machine-wars.mp3|asc-music|/usr/share/games/asc/music/machine_wars.mp3|e7b0337656a1dd9c4809bb9a620a015c1bc3898d7dde6ba2e2a0e7c0ce12313b"
    "guitar-flute-hedgewars-sheep.ogg|hedgewars-data|/usr/share/games/hedgewars/Data/Music/Sheep.ogg|53650b213ed023c756254132dac12023bb09bbc0fbd53b4673c2ed219f63531f"
    "synthpad-hedgewars-snow.ogg|hedgewars-data|/usr/share/games/hedgewars/Data/Music/snow.ogg|5823f31293d3e90de12a5562672722abd4327d548db7ce0eced82744711c3856"
    "synthpad-hedgewars-freeway.ogg|hedgewars-data|/usr/share/games/hedgewars/Data/Music/Freeway.ogg|06b4a37f5268ba9208f1799e9a56581fa94eed2c787e22d63a49985df209896b"
    "sparse-flare-unrest-theme-full.ogg|flare-game|/usr/share/games/flare/mods/fantasycore/music/unrest_theme.ogg|aef047d40fe82fa580d04576fd6fbc04d03c85bad7d91c4f2a2796bc02b983e3"
)

# ------------------------------------------------------------------ helpers
sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

pinned_version() {  # package -> pinned version
    local entry
    for entry in "${PKGS[@]}"; do
        if [ "${entry%% *}" = "$1" ]; then echo "${entry#* }"; return 0; fi
    done
    return 1
}

# Is DIR/name present with the expected hash?
track_ok() {  # name sha256
    [ -f "$DIR/$1" ] && [ "$(sha256_of "$DIR/$1")" = "$2" ]
}

# Packages whose tracks (or copyright file) are missing or wrong in DIR, in PKGS order.
packages_needed() {
    local entry p name pkg path sha need
    for entry in "${PKGS[@]}"; do
        p=${entry%% *}
        need=0
        [ -f "$DIR/licenses/$p.copyright" ] || need=1
        for t in "${TRACKS[@]}"; do
            IFS='|' read -r name pkg path sha <<<"$t"
            [ "$pkg" = "$p" ] || continue
            track_ok "$name" "$sha" || need=1
        done
        if [ $need = 1 ]; then echo "$p"; fi
    done
}

summary() {
    local name pkg path sha dur total=0
    for t in "${TRACKS[@]}"; do
        IFS='|' read -r name pkg path sha <<<"$t"
        dur=""
        if command -v ffprobe >/dev/null 2>&1; then
            dur=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$DIR/$name" 2>/dev/null || true)
            [ -n "$dur" ] && dur=$(awk -v d="$dur" 'BEGIN{printf "%d:%02d", int(d/60), int(d)%60}')
        fi
        total=$((total + $(stat -c %s "$DIR/$name")))
        printf '  %-48s %6s  %s\n' "$name" "$dur" "$pkg" >&2
    done
    log "${#TRACKS[@]} tracks, $((total / 1000000)) MB, in $DIR"
    # Other audio files in DIR would be picked up by a run over the whole folder.
    local f known extra=()
    for f in "$DIR"/*; do
        [ -f "$f" ] || continue
        known=0
        for t in "${TRACKS[@]}"; do [ "${t%%|*}" = "$(basename "$f")" ] && known=1; done
        [ $known = 1 ] || extra+=("$(basename "$f")")
    done
    if [ ${#extra[@]} -gt 0 ]; then log "note: $DIR also holds files not from this script: ${extra[*]}"; fi
}

# ------------------------------------------------------------------ main
mkdir -p "$DIR/licenses" || die "cannot create $DIR"
DIR=$(cd "$DIR" && pwd)

mapfile -t NEEDED < <(packages_needed)
if [ ${#NEEDED[@]} -eq 0 ]; then
    log "all ${#TRACKS[@]} tracks present with the expected SHA-256; nothing to do"
    summary
    echo "$DIR"
    exit 0
fi
log "need packages: ${NEEDED[*]}"

for tool in apt-get apt-cache dpkg dpkg-deb sha256sum; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found (this script needs Debian's apt and dpkg)"
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/earmark-full-tracks.XXXXXX")
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT
mkdir -p "$WORK/debs" "$WORK/x"
# apt-get download as root drops privileges to _apt when _apt can write the folder
# (no "unsandboxed" warning then).
if [ "$(id -u)" = 0 ] && id _apt >/dev/null 2>&1; then
    chmod 755 "$WORK" && chown _apt "$WORK/debs"
fi

# Make sure every pinned version is in the apt lists; `apt-get update` at most once.
updated=0
# apt-cache show exits 0 for an unknown version of a known package, so look at its
# output. (No `grep -q`: it can stop reading early, and with pipefail the SIGPIPE that
# apt-cache then gets would make the test fail at random.)
available() { apt-cache show "$1=$2" 2>/dev/null | grep '^Package:' >/dev/null; }
for p in "${NEEDED[@]}"; do
    v=$(pinned_version "$p")
    if ! available "$p" "$v" && [ $updated = 0 ]; then
        if [ "$(id -u)" != 0 ]; then
            die "$p=$v is not in the apt lists and refreshing them needs root: run 'apt-get update' as root, or this script as root"
        fi
        log "apt lists lack $p=$v: running apt-get update"
        apt-get update -qq >&2 || die "apt-get update failed"
        updated=1
    fi
done

for p in "${NEEDED[@]}"; do
    v=$(pinned_version "$p")
    spec="$p=$v"
    if ! available "$p" "$v"; then
        cur=$(apt-cache policy "$p" 2>/dev/null | awk '/Candidate:/{print $2}')
        if [ "${ALLOW_OTHER_VERSION:-0}" = 1 ] && [ -n "$cur" ] && [ "$cur" != "(none)" ]; then
            log "WARNING: $p $v is no longer in the archive; trying the current $cur (SHA-256 checks still apply)"
            spec="$p=$cur"
        else
            die "package $p version $v is not available (archive candidate: ${cur:-none}). \
The package version changed: check its tracks, then update PKGS, TRACKS and \
test-audio/FULL-TRACKS.md (or set ALLOW_OTHER_VERSION=1 to try the current version)."
        fi
    fi
    log "downloading $spec"
    (cd "$WORK/debs" && apt-get download -q "$spec" >&2) || die "apt-get download $spec failed"
    deb=$(ls "$WORK/debs/${p}"_*.deb)
    got=$(dpkg-deb -f "$deb" Version)
    log "unpacking $p $got ($(stat -c %s "$deb") bytes)"
    dpkg -x "$deb" "$WORK/x/$p"
    rm -f "$deb"

    for t in "${TRACKS[@]}"; do
        IFS='|' read -r name pkg path sha <<<"$t"
        [ "$pkg" = "$p" ] || continue
        src="$WORK/x/$p$path"
        [ -f "$src" ] || die "$path is missing from $p $got (package version changed?)"
        have=$(sha256_of "$src")
        [ "$have" = "$sha" ] || die "SHA-256 mismatch for $p $got:$path
  expected $sha
  got      $have
The package contents changed: check the track, then update TRACKS and test-audio/FULL-TRACKS.md."
        cp "$src" "$DIR/.$name.part"
        mv -f "$DIR/.$name.part" "$DIR/$name"
        log "  $name <- $path"
    done
    cp "$WORK/x/$p/usr/share/doc/$p/copyright" "$DIR/licenses/$p.copyright"
    rm -rf "${WORK:?}/x/$p"
done

# Final check of everything, including tracks that were already there.
bad=0
for t in "${TRACKS[@]}"; do
    IFS='|' read -r name pkg path sha <<<"$t"
    track_ok "$name" "$sha" || { log "ERROR: $DIR/$name is missing or has the wrong SHA-256"; bad=1; }
done
[ $bad = 0 ] || exit 1
log "all ${#TRACKS[@]} tracks verified"
summary
echo "$DIR"
