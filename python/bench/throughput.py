"""Throughput of the Python package on this machine: `screen` over ten-second MP3
clips and `detect` on ten-second arrays in memory.

    python python/bench/throughput.py [--clips 1000] [--workers N] [--cache DIR]

The clips are made once (and kept in --cache, default target/py-bench under the
repository): every test-audio track is stamped with a fresh key through this
package, then ten-second windows at staggered offsets are cut from the stamped
and the original tracks and encoded to MP3 at 128 kbit/s by ffmpeg, half marked
and half not, as a scraped dataset would mix them. Everything is timed in this
process, wall clock, after one warm-up pass over a few clips; the report gives
clips/s with the speed/tempo/pitch search on (the default) and off, for marked
and unmarked clips apart, and the process's resident memory as the count grows.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

import earmark

REPO = Path(__file__).resolve().parents[2]
CLIP_SECONDS = 10.0


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def make_clips(cache: Path, count: int) -> tuple[list[Path], list[Path]]:
    """`count` MP3 clips: (marked, unmarked) lists, made once."""
    tracks = sorted((REPO / "test-audio").glob("*.ogg"))
    marked_dir, plain_dir = cache / "marked", cache / "unmarked"
    want_each = count // 2
    have = (sorted(marked_dir.glob("*.mp3")), sorted(plain_dir.glob("*.mp3")))
    if len(have[0]) >= want_each and len(have[1]) >= count - want_each:
        return have[0][:want_each], have[1][: count - want_each]
    marked_dir.mkdir(parents=True, exist_ok=True)
    plain_dir.mkdir(parents=True, exist_ok=True)
    key = earmark.keygen("earmark benchmark")
    sources = []
    for i, t in enumerate(tracks):
        stamped = cache / f"{t.stem}.earmark.flac"
        if not stamped.exists():
            earmark.stamp(t, key.private_pem, stamped, track_id=1000 + i, c2pa=False, force=True)
        sources.append((stamped, marked_dir, want_each))
        sources.append((t, plain_dir, count - want_each))
    jobs = []
    for src, folder, n in sources:
        per_track = -(-n // len(tracks))
        duration = float(subprocess.run(
            ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
             str(src)], capture_output=True, text=True, check=True).stdout)
        span = max(duration - CLIP_SECONDS, 0.0)
        for k in range(per_track):
            start = span * k / max(per_track - 1, 1)
            out = folder / f"{src.name.split('.')[0]}-{k:03d}.mp3"
            jobs.append((src, start, out))

    def encode(job):
        src, start, out = job
        if not out.exists():
            subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-ss", f"{start:.3f}",
                            "-t", str(CLIP_SECONDS), "-i", str(src), "-ac", "2", "-ar", "44100",
                            "-b:a", "128k", str(out)], check=True)

    with ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        list(pool.map(encode, jobs))
    have = (sorted(marked_dir.glob("*.mp3")), sorted(plain_dir.glob("*.mp3")))
    return have[0][:want_each], have[1][: count - want_each]


def time_screen(paths: list[Path], workers: int, search: bool) -> dict:
    rss = []
    t0 = time.perf_counter()
    marked = errors = 0
    for i, r in enumerate(earmark.screen(paths, workers=workers, search=search, progress=False)):
        marked += r.marked
        errors += r.error is not None
        if (i + 1) % max(len(paths) // 4, 1) == 0:
            rss.append(round(rss_mib(), 1))
    dt = time.perf_counter() - t0
    return {"clips": len(paths), "seconds": round(dt, 2), "clips_per_s": round(len(paths) / dt, 1),
            "marked": marked, "errors": errors, "rss_mib_by_quarter": rss}


def decode(path: Path, rate: int, channels: int) -> np.ndarray:
    raw = subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(path), "-f", "f32le",
                          "-ac", str(channels), "-ar", str(rate), "-"],
                         capture_output=True, check=True).stdout
    x = np.frombuffer(raw, dtype=np.float32)
    return x if channels == 1 else x.reshape(-1, channels)


def time_detect(arrays: list[np.ndarray], rate: int, threads: int, search: bool) -> dict:
    def one(x):
        return earmark.detect(x, rate, search=search) is not None

    t0 = time.perf_counter()
    if threads == 1:
        found = sum(one(x) for x in arrays)
    else:
        with ThreadPoolExecutor(threads) as pool:
            found = sum(pool.map(one, arrays))
    dt = time.perf_counter() - t0
    return {"arrays": len(arrays), "clips_per_s": round(len(arrays) / dt, 1), "found": found}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clips", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--arrays", type=int, default=200, help="arrays per detect case")
    ap.add_argument("--cache", type=Path, default=REPO / "target" / "py-bench")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args()

    marked, unmarked = make_clips(args.cache, args.clips)
    everything = [p for pair in zip(marked, unmarked) for p in pair]
    list(earmark.screen(everything[:8], workers=args.workers, progress=False))  # warm-up
    report: dict = {"machine": {"cpus": os.cpu_count(), "workers": args.workers},
                    "earmark": earmark.__version__}
    report["screen"] = {
        "all, search on (default)": time_screen(everything, args.workers, True),
        "all, search off": time_screen(everything, args.workers, False),
        "marked only, search on": time_screen(marked, args.workers, True),
        "unmarked only, search on": time_screen(unmarked, args.workers, True),
        "unmarked only, search off": time_screen(unmarked, args.workers, False),
    }
    detect = {}
    for rate, channels in ((16_000, 1), (44_100, 2)):
        base = [decode(p, rate, channels) for p in (marked[:10] + unmarked[:10])]
        arrays = [base[i % len(base)] for i in range(args.arrays)]
        m = [a for i, a in enumerate(arrays) if i % len(base) < 10]
        u = [a for i, a in enumerate(arrays) if i % len(base) >= 10]
        name = f"{rate} Hz x {channels}"
        detect[f"{name}, marked, 1 thread"] = time_detect(m, rate, 1, True)
        detect[f"{name}, marked, {args.workers} threads"] = time_detect(m, rate, args.workers, True)
        detect[f"{name}, unmarked, {args.workers} threads, search on"] = time_detect(
            u, rate, args.workers, True)
        detect[f"{name}, unmarked, {args.workers} threads, search off"] = time_detect(
            u, rate, args.workers, False)
    report["detect"] = detect
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"earmark {report['earmark']}: {args.workers} workers on {os.cpu_count()} CPUs")
    print(f"\nscreen: {args.clips} ten-second MP3 clips (128 kbit/s, 44.1 kHz stereo)")
    for k, v in report["screen"].items():
        print(f"  {k:<28} {v['clips_per_s']:>7.1f} clips/s  ({v['clips']} in {v['seconds']} s, "
              f"{v['marked']} marked, {v['errors']} errors; RSS MiB by quarter {v['rss_mib_by_quarter']})")
    print("\ndetect: ten-second float32 arrays in memory")
    for k, v in detect.items():
        print(f"  {k:<46} {v['clips_per_s']:>7.1f} arrays/s  ({v['found']}/{v['arrays']} found)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
