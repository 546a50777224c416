"""Shared fixtures: the earmark CLI, ffmpeg, a key and a track stamped by the CLI.

The CLI is found as $EARMARK_BIN (what the workspace's tests/python.rs
passes), else `earmark` on PATH, else the workspace's target/ builds.
ffmpeg makes the MP3 copies and decodes audio into arrays, as a dataset
pipeline would.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
TEST_AUDIO = REPO / "test-audio"
TRACK = TEST_AUDIO / "rock-openarena-oa02.ogg"
UNMARKED = TEST_AUDIO / "piano-supertuxkart-alien-signal.ogg"
TRACK_ID = 424242


def _find_cli() -> str:
    env = os.environ.get("EARMARK_BIN")
    if env:
        return env
    for p in ("target/release/earmark", "target/debug/earmark"):
        if (REPO / p).is_file():
            return str(REPO / p)
    found = shutil.which("earmark")
    if found:
        return found
    pytest.fail("no earmark CLI: set EARMARK_BIN or run `cargo build` in the repository")


@pytest.fixture(scope="session")
def cli() -> str:
    return _find_cli()


@pytest.fixture(scope="session")
def ffmpeg() -> str:
    path = shutil.which("ffmpeg")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("ffmpeg is missing (CI is set)")
        pytest.skip("ffmpeg is not installed")
    return path


def run_cli(cli: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([cli, *args], capture_output=True, text=True, check=check)


def cli_verify(cli: str, path: Path, *extra: str) -> dict:
    out = run_cli(cli, "verify", "--json", str(path), *extra, check=False)
    assert out.returncode in (0, 1, 3), out.stderr
    return json.loads(out.stdout)


def decode(ffmpeg: str, path: Path, rate: int, channels: int, start: float = 0.0,
           seconds: float | None = None) -> np.ndarray:
    """The audio of `path` as float32 at `rate` Hz, (n,) or (n, channels)."""
    args = [ffmpeg, "-nostdin", "-loglevel", "error", "-ss", str(start), "-i", str(path)]
    if seconds is not None:
        args += ["-t", str(seconds)]
    args += ["-f", "f32le", "-ac", str(channels), "-ar", str(rate), "-"]
    raw = subprocess.run(args, capture_output=True, check=True).stdout
    x = np.frombuffer(raw, dtype=np.float32)
    return x if channels == 1 else x.reshape(-1, channels)


def encode_mp3(ffmpeg: str, src: Path, dst: Path, start: float = 0.0,
               seconds: float | None = None, kbps: int = 128) -> Path:
    args = [ffmpeg, "-nostdin", "-loglevel", "error", "-y", "-ss", str(start), "-i", str(src)]
    if seconds is not None:
        args += ["-t", str(seconds)]
    subprocess.run(args + ["-b:a", f"{kbps}k", str(dst)], check=True)
    return dst


@pytest.fixture(scope="session")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("earmark")


@pytest.fixture(scope="session")
def key(cli: str, workdir: Path) -> Path:
    path = workdir / "artist.pem"
    run_cli(cli, "keygen", "--out", str(path))
    return path


@pytest.fixture(scope="session")
def public_key(key: Path) -> Path:
    return key.with_name("artist.pub.pem")


@pytest.fixture(scope="session")
def stamped(cli: str, key: Path, workdir: Path) -> Path:
    """A real test-audio track stamped by the CLI (FLAC, track id TRACK_ID)."""
    out = workdir / "rock.earmark.flac"
    run_cli(cli, "stamp", str(TRACK), "--key", str(key), "--out", str(out),
            "--track-id", str(TRACK_ID))
    return out


@pytest.fixture(scope="session")
def fingerprint(cli: str, stamped: Path) -> str:
    return cli_verify(cli, stamped)["markers"][0]["payload"]["key_fingerprint"]


@pytest.fixture(scope="session")
def long_stamped(cli: str, ffmpeg: str, key: Path, workdir: Path) -> Path:
    """A 140 s track (the test track five times over) stamped by the CLI: long
    enough for the seal, which needs about 120 s, to be read reliably."""
    long = workdir / "rock-x5.wav"
    subprocess.run([ffmpeg, "-nostdin", "-loglevel", "error", "-y", "-stream_loop", "4",
                    "-i", str(TRACK), str(long)], check=True)
    out = workdir / "rock-x5.earmark.flac"
    # Another input, so another track id: the CLI's track-id registry
    # refuses one key's id for two songs.
    run_cli(cli, "stamp", str(long), "--key", str(key), "--out", str(out),
            "--track-id", str(TRACK_ID + 1))
    return out
