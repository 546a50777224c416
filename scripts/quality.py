#!/usr/bin/env python3
"""quality.py - objective quality of watermarked (TEST) audio against the original (REF).

Usage:
    python scripts/quality.py REF.wav TEST.wav [REF2.wav TEST2.wav ...] [--json]

For each REF/TEST pair it prints:
  * SNR (dB) of TEST against REF: 10*log10(sum(ref^2) / sum((test-ref)^2)), over the
    common length and all channels, samples as floats in [-1, 1] (int16/32768 for
    16-bit files). "inf" for identical files; "n/a" if the sample rates or channel
    counts differ (no resampling is done for SNR).
  * ViSQOL v3 MOS-LQO, audio mode (SVR model, 48 kHz): about 4.73 for an identical
    pair, lower is worse (roughly: 128 kbps MP3 ~4.5, 64 kbps MP3 ~3.5, noise at
    20 dB SNR ~2.1). ViSQOL scores mono: both files are mixed to mono by averaging
    channels (what Google's ViSQOL does with multichannel WAVs), then resampled to
    48 kHz with scipy.signal.resample_poly if they are at another rate.

Scorer: visqol-python 3.8.0 (PyPI), a Python port of Google's ViSQOL v3.3.3 that
reproduces upstream's conformance values. With its numba + pyFFTW accelerators (installed
by the setup script; same scores) a 30 s pair takes ~9 s on 2 cores; the first run in a
fresh venv also JIT-compiles, ~20 s more.
Checked here against Google's C++ (the speequal 3.3.3.post1 wheel): same MOS-LQO to
4 decimals. That wheel needs glibc >= 2.39 and CPython 3.12/3.14, so Debian bookworm
cannot install it.

Install (once):  bash scripts/quality-setup.sh   (venv in ${EARMARK_VENV:-.venv-quality})
If run with a python that lacks the packages, this script re-runs itself with that venv.

Exit status: 0 if every pair was scored, 1 if any pair failed, 2 on bad usage.
"""
import argparse
import json
import math
import os
import sys
import time

VISQOL_PACKAGE = "visqol-python"
VISQOL_VERSION = "3.8.0"
TARGET_RATE = 48000


def _reexec_in_venv():
    """Re-run with the quality venv's python if the needed packages are missing here."""
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    venv = os.environ.get("EARMARK_VENV", ".venv-quality")
    if not os.path.isabs(venv):
        venv = os.path.join(repo, venv)
    py = os.path.join(venv, "bin", "python")
    if os.path.exists(py) and os.path.realpath(sys.prefix) != os.path.realpath(venv):
        os.execv(py, [py, os.path.abspath(__file__)] + sys.argv[1:])
    sys.exit(
        f"error: {VISQOL_PACKAGE}/numpy/scipy/soundfile are not importable by {sys.executable} "
        f"and there is no venv at {venv}.\n       Run: bash scripts/quality-setup.sh"
    )


try:
    import numpy as np
    import soundfile as sf
    from scipy.signal import resample_poly
    from visqol import VisqolApi
except ImportError:
    _reexec_in_venv()


def read_audio(path):
    """Return (float64 array of shape (frames, channels), sample rate); raise ValueError."""
    if not os.path.isfile(path):
        raise ValueError(f"cannot read {path}: no such file")
    try:
        data, rate = sf.read(path, dtype="float64", always_2d=True)
    except Exception as e:  # soundfile raises several types (LibsndfileError, RuntimeError...)
        raise ValueError(f"cannot read {path}: {e}") from None
    if data.shape[0] == 0:
        raise ValueError(f"cannot use {path}: no audio frames")
    return data, int(rate)


def snr_db(ref, test):
    n = min(len(ref), len(test))
    r, t = ref[:n], test[:n]
    noise = float(np.sum((t - r) ** 2))
    sig = float(np.sum(r ** 2))
    if noise == 0.0:
        return math.inf
    if sig == 0.0:
        return -math.inf
    return 10.0 * math.log10(sig / noise)


def to_mono_48k(data, rate):
    mono = data.mean(axis=1)
    if rate != TARGET_RATE:
        g = math.gcd(TARGET_RATE, rate)
        mono = resample_poly(mono, TARGET_RATE // g, rate // g)
    return np.ascontiguousarray(mono, dtype=np.float64)


def score_pair(api, ref_path, test_path):
    ref, ref_rate = read_audio(ref_path)
    test, test_rate = read_audio(test_path)
    if ref_rate == test_rate and ref.shape[1] == test.shape[1]:
        snr = snr_db(ref, test)
    else:
        snr = None  # not comparable sample-by-sample
    t0 = time.time()
    res = api.measure_from_arrays(to_mono_48k(ref, ref_rate), to_mono_48k(test, test_rate), TARGET_RATE)
    return {
        "ref": ref_path, "test": test_path,
        "ref_rate": ref_rate, "test_rate": test_rate,
        "ref_channels": ref.shape[1], "test_channels": test.shape[1],
        "snr_db": snr, "moslqo": float(res.moslqo), "seconds": round(time.time() - t0, 2),
    }


def fmt_snr(v):
    if v is None:
        return "n/a"
    return f"{v:.2f}" if math.isfinite(v) else ("inf" if v > 0 else "-inf")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 usage="%(prog)s REF TEST [REF2 TEST2 ...] [--json]")
    ap.add_argument("files", nargs="+", help="REF TEST pairs")
    ap.add_argument("--json", action="store_true", help="print a JSON object instead of a table")
    a = ap.parse_args()
    if len(a.files) % 2:
        ap.error("files must come in REF TEST pairs")
    pairs = list(zip(a.files[0::2], a.files[1::2]))

    api = VisqolApi()
    api.create(mode="audio")
    method = (f"ViSQOL v3 audio mode MOS-LQO via {VISQOL_PACKAGE} {VISQOL_VERSION}; "
              f"inputs mixed to mono (channel mean) and resampled to {TARGET_RATE} Hz; "
              "SNR over the common length, all channels")
    if not a.json:
        print(f"# {method}")
        print(f"{'REF':<28} {'TEST':<36} {'SNR dB':>8} {'MOS-LQO':>8} {'time s':>7}")

    results, failed = [], False
    for ref, test in pairs:
        try:
            r = score_pair(api, ref, test)
        except Exception as e:
            failed = True
            r = {"ref": ref, "test": test, "error": str(e)}
            if not a.json:
                print(f"{os.path.basename(ref):<28} {os.path.basename(test):<36} error: {e}", flush=True)
        else:
            if not a.json:
                print(f"{os.path.basename(ref):<28} {os.path.basename(test):<36} "
                      f"{fmt_snr(r['snr_db']):>8} {r['moslqo']:>8.4f} {r['seconds']:>7.1f}", flush=True)
            if r["snr_db"] is not None and not math.isfinite(r["snr_db"]):
                r["snr_db"] = fmt_snr(r["snr_db"])  # JSON has no inf
        results.append(r)

    if a.json:
        print(json.dumps({"method": method, "package": f"{VISQOL_PACKAGE}=={VISQOL_VERSION}",
                          "pairs": results}, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
