"""The Python package against real audio: a track stamped by the CLI is found
in arrays at dataset rates and after MP3, verified with and without trust;
what Python stamps the CLI finds; screening goes on past bad files; bad
arrays and arguments raise clear exceptions."""

from __future__ import annotations

import datetime
import shutil
import wave
from pathlib import Path

import numpy as np
import pytest

import earmark
from conftest import (TEST_AUDIO, TRACK, TRACK_ID, UNMARKED, cli_verify, decode,
                      encode_mp3, run_cli)


def payload_of(detection: earmark.Detection) -> tuple[str, int]:
    return detection.key_fingerprint, detection.track_id


# --- detect: arrays as datasets hold them -----------------------------------

@pytest.mark.parametrize("rate,channels", [(44_100, 2), (16_000, 1), (24_000, 1)])
def test_detect_in_arrays(ffmpeg, stamped, fingerprint, rate, channels):
    x = decode(ffmpeg, stamped, rate, channels, start=4.0, seconds=10.0)
    assert x.dtype == np.float32 and x.ndim == (2 if channels == 2 else 1)
    d = earmark.detect(x, rate)
    assert d is not None, f"no marker at {rate} Hz x {channels}"
    assert payload_of(d) == (fingerprint, TRACK_ID)
    assert d.payload == f"{fingerprint}:{TRACK_ID}"
    assert d.sync_z > 5 and d.bit_agreement > 0.6
    assert d.report["sample_rate"] == rate and d.report["channels"] == channels


def test_detect_after_mp3_round_trip(ffmpeg, stamped, fingerprint, workdir):
    mp3 = encode_mp3(ffmpeg, stamped, workdir / "clip.mp3", start=6.0, seconds=10.0)
    x = decode(ffmpeg, mp3, 16_000, 1)
    d = earmark.detect(x, 16_000)
    assert d is not None and payload_of(d) == (fingerprint, TRACK_ID)


def test_detect_other_dtypes_and_layouts(ffmpeg, stamped, fingerprint):
    x = decode(ffmpeg, stamped, 44_100, 2, start=2.0, seconds=8.0)
    int16 = np.round(x * 32_767).astype(np.int16)
    for variant in (x.astype(np.float64), int16, np.asfortranarray(x), x[::1, :]):
        d = earmark.detect(variant, 44_100)
        assert d is not None and payload_of(d) == (fingerprint, TRACK_ID)
    # A strided view (every other frame) is half the rate.
    d = earmark.detect(x[::2], 22_050)
    assert d is not None and payload_of(d) == (fingerprint, TRACK_ID)


def test_detect_unmarked_gives_none(ffmpeg):
    x = decode(ffmpeg, UNMARKED, 16_000, 1, seconds=10.0)
    assert earmark.detect(x, 16_000) is None
    assert earmark.detect(x, 16_000, search=False) is None


def test_detect_checks_the_seal_against_trust(ffmpeg, long_stamped, public_key):
    x = decode(ffmpeg, long_stamped, 44_100, 2)
    unchecked = earmark.detect(x, 44_100)
    assert unchecked.seal == "unchecked" and unchecked.trusted is None
    trusted = earmark.detect(x, 44_100, trust=[public_key.read_text()])
    assert trusted.seal == "valid" and trusted.trusted is True
    assert trusted.policy == "no-ai-training"


@pytest.mark.parametrize(
    "samples,rate,error,words",
    [
        (np.zeros(0, np.float32), 44_100, ValueError, "empty"),
        (np.zeros((0, 2), np.float32), 44_100, ValueError, "empty"),
        (np.full(44_100, np.nan, np.float32), 44_100, ValueError, "NaN"),
        (np.array([0.0, np.inf] * 1000, np.float64), 44_100, ValueError, "NaN or infinite"),
        (np.zeros(44_100, np.int32), 44_100, TypeError, "float32, float64 or int16"),
        (np.zeros(44_100, np.complex64), 44_100, TypeError, "float32, float64 or int16"),
        (np.array(["a", "b"]), 44_100, TypeError, "float32, float64 or int16"),
        (np.zeros((2, 44_100), np.float32), 44_100, ValueError, "samples.T"),
        (np.zeros((4, 4, 4), np.float32), 44_100, ValueError, "(n,) for mono"),
        (np.zeros(44_100, np.float32), 0, ValueError, "positive"),
        (np.zeros(44_100, np.float32), -8000, ValueError, "positive"),
        (np.zeros(44_100, np.float32), 100, ValueError, "between 4000"),
        (np.zeros(44_100, np.float32), 44_100.5, TypeError, "integer"),
        ([0.0] * 1000, 44_100, TypeError, "numpy.ndarray"),
    ],
)
def test_detect_rejects_bad_input_clearly(samples, rate, error, words):
    with pytest.raises(error, match=None) as info:
        earmark.detect(samples, rate)
    assert words in str(info.value)


def test_detect_handles_silence_and_tiny_arrays():
    assert earmark.detect(np.zeros(16_000 * 5, np.float32), 16_000) is None
    assert earmark.detect(np.zeros(1, np.float32), 16_000) is None


# --- verify: files and bytes --------------------------------------------------

def test_verify_with_and_without_trust(stamped, public_key, fingerprint, cli):
    plain = earmark.verify(stamped)
    assert plain["marked"] and plain["exit_code"] == 0
    assert plain["markers"][0]["payload"] == {"key_fingerprint": fingerprint,
                                              "track_id": TRACK_ID}
    assert plain["manifest"]["signature_valid"] and plain["manifest"]["trusted"] is None
    trusted = earmark.verify(stamped, trust=[public_key])
    assert trusted["manifest"]["trusted"] is True and trusted["seal"]["trusted"] is True
    # The CLI's --json object, field for field (paths aside).
    from_cli = cli_verify(cli, stamped, "--trust", str(public_key))
    assert set(from_cli) <= set(trusted)
    for k in ("marked", "markers", "seal", "audio_sha256", "seconds", "change"):
        assert trusted[k] == from_cli[k], k


def test_verify_someone_elses_key_is_untrusted(stamped, cli, workdir):
    other = workdir / "other.pem"
    run_cli(cli, "keygen", "--out", str(other))
    r = earmark.verify(stamped, trust=other.with_name("other.pub.pem").read_text())
    assert r["marked"] and r["manifest"]["trusted"] is False


def test_verify_bytes_and_name(stamped, fingerprint):
    r = earmark.verify(stamped.read_bytes(), name="upload-17")
    assert r["marked"] and r["path"] == "upload-17"
    assert r["markers"][0]["payload"]["key_fingerprint"] == fingerprint


def test_verify_errors_name_the_file(tmp_path):
    with pytest.raises(earmark.EarmarkError) as info:
        earmark.verify(tmp_path / "missing.mp3")
    assert info.value.path == str(tmp_path / "missing.mp3")
    assert "cannot read" in info.value.reason
    junk = tmp_path / "junk.mp3"
    junk.write_bytes(b"this is not audio at all" * 10)
    with pytest.raises(earmark.EarmarkError) as info:
        earmark.verify(junk)
    assert str(junk) in str(info.value)
    with pytest.raises(earmark.EarmarkError, match="private key"):
        earmark.verify(junk, trust=["-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n"])
    with pytest.raises(TypeError):
        earmark.verify(12345)


def test_verify_reads_the_formats_datasets_use(ffmpeg, stamped, fingerprint, workdir):
    for ext, args in [(".ogg", ["-c:a", "libvorbis", "-q:a", "3"]),
                      (".m4a", ["-c:a", "aac", "-b:a", "128k"])]:
        out = workdir / f"copy{ext}"
        import subprocess
        done = subprocess.run([ffmpeg, "-nostdin", "-loglevel", "error", "-y", "-i",
                               str(stamped), *args, str(out)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"this ffmpeg cannot write {ext}: {done.stderr[-200:]!r}")
        r = earmark.verify(out)
        assert r["marked"], ext
        assert r["markers"][0]["payload"]["key_fingerprint"] == fingerprint


# --- stamp and stamp_array ------------------------------------------------------

def write_wav(path: Path, samples: np.ndarray, rate: int) -> None:
    channels = 1 if samples.ndim == 1 else samples.shape[1]
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.astype("<i2").tobytes())


def test_stamp_array_is_found_by_the_cli(ffmpeg, cli, key, public_key, workdir):
    x = decode(ffmpeg, UNMARKED, 44_100, 2)
    pcm = np.round(x * 32_767).astype(np.int16)
    marked, info = earmark.stamp_array(pcm, 44_100, key, track_id=77, title="Alien signal",
                                       with_info=True)
    assert marked.dtype == np.int16 and marked.shape == pcm.shape
    assert not np.array_equal(marked, pcm)
    assert info["payload"]["track_id"] == 77
    assert info["manifest"]["manifest"]["title"] == "Alien signal"
    out = workdir / "stamped-array.wav"
    write_wav(out, marked, 44_100)
    r = cli_verify(cli, out, "--trust", str(public_key))
    assert r["marked"], r
    assert r["markers"][0]["payload"] == info["payload"]
    # A 28 s track is too short for the seal to be read reliably (it needs
    # about 120 s); when it is read, it must check out.
    assert r["seal"] is None or (r["seal"]["status"] == "valid" and r["seal"]["trusted"])


def test_stamp_array_float_keeps_dtype_and_shape(ffmpeg, key):
    x = decode(ffmpeg, UNMARKED, 22_050, 1, seconds=12.0)
    for samples in (x, x.astype(np.float64)):
        marked = earmark.stamp_array(samples, 22_050, key, track_id=5)
        assert marked.dtype == samples.dtype and marked.shape == samples.shape
        d = earmark.detect(marked, 22_050)
        assert d is not None and d.track_id == 5
        # The same music with a mark well below it (not a rescaled or shifted copy).
        err = marked.astype(np.float64) - samples
        assert np.sqrt(np.mean(err**2)) < 0.2 * np.sqrt(np.mean(samples.astype(np.float64) ** 2))


def test_stamp_array_refuses_stamped_audio_and_bad_keys(ffmpeg, stamped, key, public_key):
    x = decode(ffmpeg, stamped, 44_100, 2, seconds=10.0)
    with pytest.raises(earmark.EarmarkError, match="already stamped"):
        earmark.stamp_array(x, 44_100, key)
    with pytest.raises(earmark.EarmarkError, match="public key"):
        earmark.stamp_array(x, 44_100, public_key.read_text())
    with pytest.raises(earmark.EarmarkError):
        earmark.stamp_array(x, 44_100, "/no/such/key.pem")
    with pytest.raises(ValueError, match="NaN"):
        earmark.stamp_array(np.full(1000, np.nan, np.float32), 44_100, key)
    with pytest.raises(earmark.EarmarkError, match="strength"):
        earmark.stamp_array(np.zeros(44_100, np.float32), 44_100, key, strength=9.0)


def test_stamp_files_and_bytes_like_the_cli(cli, key, public_key, workdir):
    out = workdir / "py-stamped.flac"
    info = earmark.stamp(UNMARKED, key, out, track_id=9,
                         created=datetime.datetime(2026, 1, 2, tzinfo=datetime.timezone.utc))
    assert Path(info["output"]) == out and Path(info["sidecar"]).is_file()
    assert info["manifest"]["manifest"]["created"].startswith("2026-01-02")
    assert info["credentials"]["source"] == "embedded"
    r = cli_verify(cli, out, "--trust", str(public_key))
    assert r["marked"] and r["manifest"]["trusted"] and r["markers"][0]["payload"]["track_id"] == 9
    with pytest.raises(earmark.EarmarkError, match="exists"):
        earmark.stamp(UNMARKED, key, out)
    data, info = earmark.stamp(UNMARKED.read_bytes(), key.read_text(), format="wav",
                               track_id=10, c2pa=False)
    assert data[:4] == b"RIFF" and info["payload"]["track_id"] == 10
    assert earmark.verify(data, trust=public_key)["markers"][0]["payload"]["track_id"] == 10


def test_stamp_writes_mp3_the_cli_verifies(cli, key, public_key, workdir):
    out = workdir / "py-stamped.mp3"
    info = earmark.stamp(UNMARKED, key, out, bitrate=192, c2pa=False)
    assert out.read_bytes()[:3] == b"ID3"
    assert info["manifest"]["manifest"]["audio"]["basis"] == "encoded"
    r = cli_verify(cli, out, "--trust", str(public_key))
    assert r["status"] == "ok" and r["markers"][0]["payload"] == info["payload"], r
    with pytest.raises(earmark.EarmarkError, match="not an MP3 bitrate"):
        earmark.stamp(UNMARKED, key, workdir / "bad.mp3", bitrate=300)


def test_stamps_go_through_the_machines_track_id_registry(cli, key, workdir):
    """Python's stamps take their track ids from the registry the CLI uses:
    the same song keeps its id, another song cannot take it (not from
    Python, not from the CLI), and ids are never handed out twice."""
    song = UNMARKED.read_bytes()
    _, first = earmark.stamp(song, key, c2pa=False)
    _, again = earmark.stamp(song, key, c2pa=False)
    assert again["payload"] == first["payload"]
    other = workdir / "other-song.ogg"
    shutil.copy(TEST_AUDIO / "acoustic-neverball-track1.ogg", other)
    taken = first["payload"]["track_id"]
    with pytest.raises(earmark.EarmarkError, match="already given to bytes"):
        earmark.stamp(other, key, workdir / "other.flac", track_id=taken, c2pa=False)
    r = run_cli(cli, "stamp", str(other), "--key", str(key), "--out",
                str(workdir / "other-cli.flac"), "--track-id", str(taken), check=False)
    assert r.returncode == 2 and "already given" in r.stderr, r.stderr
    info = earmark.stamp(other, key, workdir / "other.flac", c2pa=False)
    assert info["payload"]["track_id"] != taken


def test_stamp_with_the_same_time_gives_the_same_bytes_as_the_cli(cli, key, workdir):
    ts = datetime.datetime(2026, 3, 4, 5, 6, 7, tzinfo=datetime.timezone.utc)
    cli_out = workdir / "cli-same.flac"
    import os
    import subprocess
    subprocess.run([cli, "stamp", str(UNMARKED), "--key", str(key), "--out", str(cli_out),
                    "--track-id", "31", "--no-c2pa"], check=True, capture_output=True,
                   env={**os.environ, "SOURCE_DATE_EPOCH": str(int(ts.timestamp()))})
    py_out = workdir / "py-same.flac"
    earmark.stamp(UNMARKED, key, py_out, track_id=31, created=ts, c2pa=False)
    assert py_out.read_bytes() == cli_out.read_bytes()


def test_keygen_makes_keys_the_cli_uses(cli, workdir):
    k = earmark.keygen("Test Artist")
    path = workdir / "made-in-python.pem"
    k.save(path)
    assert (path.stat().st_mode & 0o777) == 0o600
    out = workdir / "by-python-key.flac"
    run_cli(cli, "stamp", str(UNMARKED), "--key", str(path), "--out", str(out))
    r = earmark.verify(out, trust=k.public_pem)
    assert r["manifest"]["trusted"] is True
    assert r["markers"][0]["payload"]["key_fingerprint"] == k.fingerprint[:8]
    with pytest.raises(FileExistsError):
        k.save(path)


# --- screen -------------------------------------------------------------------------

def test_screen_a_folder_with_bad_files(ffmpeg, stamped, fingerprint, workdir):
    folder = workdir / "screen"
    folder.mkdir()
    for i, start in enumerate((0, 5, 10, 15)):
        encode_mp3(ffmpeg, stamped, folder / f"marked-{i}.mp3", start=start, seconds=10)
    encode_mp3(ffmpeg, UNMARKED, folder / "unmarked.mp3", seconds=10)
    shutil.copy(TEST_AUDIO / "formats" / "not-audio.mp3", folder / "not-audio.mp3")
    shutil.copy(TEST_AUDIO / "formats" / "truncated.flac", folder / "truncated.flac")
    (folder / "notes.txt").write_text("not picked up: not an audio extension")
    results = list(earmark.screen(folder, workers=2, progress=False))
    by_name = {Path(r.name).name: r for r in results}
    assert set(by_name) == {"marked-0.mp3", "marked-1.mp3", "marked-2.mp3", "marked-3.mp3",
                            "unmarked.mp3", "not-audio.mp3", "truncated.flac"}
    bad = by_name["not-audio.mp3"]
    assert isinstance(bad.error, earmark.EarmarkError) and bad.report is None
    assert bad.error.path.endswith("not-audio.mp3") and bad.error.reason
    assert not bad.marked and bad.row()["error"]
    for i in range(4):
        r = by_name[f"marked-{i}.mp3"]
        assert r.error is None and r.marked, r.name
        assert r.payload == f"{fingerprint}:{TRACK_ID}"
        assert r.declaration == "no-ai-training"
    assert not by_name["unmarked.mp3"].marked and by_name["unmarked.mp3"].error is None
    assert sorted(r.index for r in results) == list(range(len(results)))


def test_screen_takes_arrays_bytes_and_dataset_rows_lazily(ffmpeg, stamped, fingerprint):
    clip = decode(ffmpeg, stamped, 16_000, 1, start=3.0, seconds=10.0)
    rows = [
        {"array": clip, "sampling_rate": 16_000, "path": "row-0.wav"},
        (clip.astype(np.float64), 16_000),
        stamped.read_bytes(),
        {"bytes": stamped.read_bytes(), "path": "row-3.flac"},
        {"array": np.full(100, np.nan, np.float32), "sampling_rate": 16_000, "path": "nan.wav"},
        {"nothing": 1},
        42,
    ]
    consumed = []

    def lazily():
        for i, row in enumerate(rows):
            consumed.append(i)
            yield row

    results = list(earmark.screen(lazily(), workers=2, ordered=True, progress=False))
    assert [r.index for r in results] == list(range(len(rows)))
    for r in results[:4]:
        assert r.marked and r.payload == f"{fingerprint}:{TRACK_ID}", r
    assert results[0].name == "row-0.wav" and results[0].report["path"] == "row-0.wav"
    assert results[4].error is not None and "NaN" in str(results[4].error)
    assert results[5].error is not None and results[6].error is not None


def test_screen_keeps_few_inputs_in_flight():
    """Memory stays flat: the input is pulled only as workers free up."""
    pulled = 0

    def endless():
        nonlocal pulled
        while True:
            pulled += 1
            yield np.zeros(16_000 * 3, np.float32), 16_000

    seen = 0
    for _ in earmark.screen(endless(), workers=2, progress=False):
        seen += 1
        if seen == 10:
            break
    assert pulled <= seen + 2 * 2 + 1
