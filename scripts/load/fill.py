"""Adds N synthetic rows for one key to an earmark SQLite catalogue (whose
tables earmark made), in one transaction: a catalogue of a million tracks
for the load script without stamping a million files. Their manifest is a
short placeholder; the load test only resolves payloads to ids."""
import sqlite3
import sys

path, key, first, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
db = sqlite3.connect(path)
rows = (
    (
        key,
        track,
        f"/catalogue/in/{track:08d}.wav",
        f"{track:064x}",
        f"/catalogue/out/{track:08d}.earmark.flac",
        f"{track + 1:064x}",
        f"Track {track}",
        "Load Test",
        "no-ai-training",
        '{"synthetic":true}',
        "2026-12-07T00:00:00Z",
    )
    for track in range(first, first + count)
)
with db:
    db.executemany(
        "INSERT INTO stamps (key_fingerprint, track_id, source_path, source_sha256, output_path,"
        " output_sha256, title, artist, policy, manifest, stamped_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
print(db.execute("SELECT count(*) FROM stamps").fetchone()[0])
