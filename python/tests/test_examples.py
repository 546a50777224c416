"""The distributed examples, run for real: a Dask LocalCluster with 2 worker
processes and a local Ray instance screen a folder of test-audio clips (and the
same clips as a Hugging Face dataset) into Parquet tables of verdicts."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import TEST_AUDIO, TRACK_ID, UNMARKED, encode_mp3

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def need(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        if os.environ.get("CI"):
            pytest.fail(f"{module} is not installed (CI is set)")
        pytest.skip(f"{module} is not installed")


@pytest.fixture(scope="module")
def clip_folder(ffmpeg, stamped, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("clips")
    for i, start in enumerate((0, 6, 12)):
        encode_mp3(ffmpeg, stamped, folder / f"marked-{i}.mp3", start=start, seconds=10)
    encode_mp3(ffmpeg, UNMARKED, folder / "unmarked.mp3", seconds=10)
    shutil.copy(TEST_AUDIO / "formats" / "not-audio.mp3", folder / "broken.mp3")
    return folder


@pytest.fixture(scope="module")
def hf_dataset(clip_folder, tmp_path_factory) -> Path:
    need("datasets")
    import datasets

    files = sorted(str(p) for p in clip_folder.iterdir())
    ds = datasets.Dataset.from_dict({"audio": files}).cast_column(
        "audio", datasets.Audio(decode=False))
    out = tmp_path_factory.mktemp("hf") / "clips"
    ds.save_to_disk(str(out))
    return out


def run_example(script: str, *args: str) -> str:
    done = subprocess.run([sys.executable, str(EXAMPLES / script), *args],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def check_table(path: Path, fingerprint: str) -> None:
    import pandas as pd

    table = pd.read_parquet(path)
    assert len(table) == 5
    rows = {Path(p).name: r for p, r in zip(table["path"], table.to_dict("records"))}
    assert set(rows) == {"marked-0.mp3", "marked-1.mp3", "marked-2.mp3", "unmarked.mp3",
                         "broken.mp3"}
    for i in range(3):
        r = rows[f"marked-{i}.mp3"]
        assert bool(r["marked"]) and r["payload"] == f"{fingerprint}:{TRACK_ID}", r
        assert r["confidence"] > 5 and r["declaration"] == "no-ai-training"
        assert pd.isna(r["error"])
    assert not bool(rows["unmarked.mp3"]["marked"]) and pd.isna(rows["unmarked.mp3"]["error"])
    assert "broken.mp3" in rows["broken.mp3"]["error"] and not bool(rows["broken.mp3"]["marked"])


def test_dask_example_on_a_local_cluster(clip_folder, fingerprint, tmp_path):
    need("dask")
    need("distributed")
    out = tmp_path / "verdicts.parquet"
    stdout = run_example("screen_dask.py", str(clip_folder), str(out), "--workers", "2",
                         "--partition-size", "2")
    assert "5 inputs: 3 marked, 1 not marked, 1 errors" in stdout
    check_table(out, fingerprint)


def test_dask_example_on_a_hugging_face_dataset(hf_dataset, fingerprint, tmp_path):
    need("dask")
    out = tmp_path / "verdicts-hf.parquet"
    run_example("screen_dask.py", "--hf-dataset", str(hf_dataset), str(out), "--workers", "2",
                "--partition-size", "2")
    check_table(out, fingerprint)


def test_ray_example(clip_folder, hf_dataset, fingerprint, tmp_path):
    need("ray")
    out = tmp_path / "verdicts-ray"
    stdout = run_example("screen_ray.py", str(clip_folder), str(out), "--num-cpus", "2",
                         "--batch-size", "2")
    assert "5 inputs: 3 marked, 1 not marked, 1 errors" in stdout
    check_table(out, fingerprint)
    out_hf = tmp_path / "verdicts-ray-hf"
    run_example("screen_ray.py", "--hf-dataset", str(hf_dataset), str(out_hf), "--num-cpus",
                "2", "--batch-size", "2")
    check_table(out_hf, fingerprint)
