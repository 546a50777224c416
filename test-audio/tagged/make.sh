#!/usr/bin/env bash
# make.sh - builds the tag fixtures in this folder from the rock excerpt.
#
# Each file is 2 s (lossless ones 1 s) of test-audio/rock-openarena-oa02.ogg (seconds 10-12), so
# it keeps that excerpt's license (see ../SOURCES.md). They carry existing
# tags (title, artist, album, ISRC, artwork) in every container `earmark tag`
# handles, plus a few deliberately awkward files. Needs ffmpeg and python3.
# Usage: bash test-audio/tagged/make.sh   (writes next to this script)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
src="$here/../rock-openarena-oa02.ogg"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
FF=(ffmpeg -hide_banner -loglevel error -y -bitexact)
IN=(-ss 10 -i "$src")
AF=(-af asetpts=N/SR/TB,atrim=duration=2)
AF1=(-af asetpts=N/SR/TB,atrim=duration=1)   # lossless files: 1 s keeps them small
META=(-metadata "title=Café Tagged" -metadata "artist=Tagged Artist" -metadata "album=Tagged Album")

# A 16x16 cover picture.
"${FF[@]}" -f lavfi -i color=c=0x3366cc:s=16x16 -frames:v 1 "$tmp/cover.png"
ART=(-i "$tmp/cover.png" -map 0:a -map 1:v -c:v copy -disposition:v attached_pic)

# MP3 with ID3v2.3 (UTF-16 text), ISRC and artwork; and with ID3v2.4.
"${FF[@]}" "${IN[@]}" "${ART[@]}" "${AF[@]}" -c:a libmp3lame -b:a 128k -id3v2_version 3 "${META[@]}" \
    -metadata TSRC=GBAYE2600001 -metadata:s:v comment="Cover (front)" "$here/id3v23-art.mp3"
"${FF[@]}" "${IN[@]}" "${AF[@]}" -c:a libmp3lame -b:a 128k -id3v2_version 4 "${META[@]}" "$here/id3v24.mp3"
# MP3 without tags, for the hand-made ID3v2.2 and broken-tag files below.
"${FF[@]}" "${IN[@]}" "${AF[@]}" -c:a libmp3lame -b:a 128k -id3v2_version 0 -write_xing 0 "$tmp/bare.mp3"

# M4A (AAC) with tags and artwork.
"${FF[@]}" "${IN[@]}" "${ART[@]}" "${AF[@]}" -c:a aac -b:a 96k "${META[@]}" "$here/tagged.m4a"
# FLAC with Vorbis comments, ISRC and a PICTURE block.
"${FF[@]}" "${IN[@]}" "${ART[@]}" "${AF1[@]}" -c:a flac -sample_fmt s16 "${META[@]}" -metadata ISRC=GBAYE2600001 \
    "$here/tagged.flac"
# Ogg Vorbis and Ogg Opus with comments.
"${FF[@]}" "${IN[@]}" "${AF[@]}" -c:a libvorbis -q:a 0 "${META[@]}" "$here/tagged.ogg"
"${FF[@]}" "${IN[@]}" "${AF[@]}" -c:a libopus -b:a 64k "${META[@]}" "$here/tagged.opus"
# WAV with RIFF INFO; AIFF with an ID3 chunk.
"${FF[@]}" "${IN[@]}" "${AF1[@]}" -c:a pcm_s16le "${META[@]}" "$here/tagged.wav"
"${FF[@]}" "${IN[@]}" "${AF1[@]}" -c:a pcm_s16be -write_id3v2 1 "${META[@]}" "$here/tagged.aiff"

python3 - "$here" "$tmp/bare.mp3" <<'PY'
import struct, sys
here, bare = sys.argv[1], open(sys.argv[2], 'rb').read()

def syncsafe(n):
    return bytes([(n >> 21) & 0x7f, (n >> 14) & 0x7f, (n >> 7) & 0x7f, n & 0x7f])

# ID3v2.2: three-letter frames, Latin-1 text (0xE9 is e-acute, not UTF-8).
def f22(fid, text):
    body = b'\x00' + text
    return fid + len(body).to_bytes(3, 'big') + body
frames = f22(b'TT2', b'Caf\xe9 v2.2') + f22(b'TP1', b'Old Artist') + f22(b'TAL', b'Old Album')
open(here + '/id3v22.mp3', 'wb').write(b'ID3\x02\x00\x00' + syncsafe(len(frames)) + frames + bare)

# ID3v2.3 whose TIT2 frame claims 16 MiB inside a 40-byte tag.
bad = b'TIT2' + struct.pack('>I', 16 << 20) + b'\x00\x00' + b'\x00Broken' + b'\x00' * 19
open(here + '/broken-id3.mp3', 'wb').write(b'ID3\x03\x00\x00' + syncsafe(len(bad)) + bad + bare)

# WAV with two XMP (_PMX) packets that disagree.
wav = open(here + '/tagged.wav', 'rb').read()
def chunk(cid, data):
    return cid + struct.pack('<I', len(data)) + data + (b'\x00' if len(data) % 2 else b'')
x1 = (b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
      b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
      b'xmlns:plus="http://ns.useplus.org/ldf/xmp/1.0/" '
      b'plus:DataMining="http://ns.useplus.org/ldf/vocab/DMI-ALLOWED"/></rdf:RDF></x:xmpmeta>'
      b'<?xpacket end="w"?>')
x2 = x1.replace(b'DMI-ALLOWED', b'DMI-UNSPECIFIED')
body = wav[12:] + chunk(b'_PMX', x1) + chunk(b'_PMX', x2)
open(here + '/dup-xmp.wav', 'wb').write(b'RIFF' + struct.pack('<I', 4 + len(body)) + b'WAVE' + body)

# FLAC whose ARTIST comment holds invalid UTF-8.
flac = bytearray(open(here + '/tagged.flac', 'rb').read())
i = flac.lower().find(b'artist=tagged artist')
assert 0 < i < 4096, 'ARTIST comment not found in the FLAC header'
flac[i + 19] = 0xff  # the final 't' becomes a byte that is never UTF-8
open(here + '/bad-utf8.flac', 'wb').write(bytes(flac))
PY
ls -l "$here"
