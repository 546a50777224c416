#!/usr/bin/env bash
# quality-setup.sh - create the Python venv that scripts/quality.py runs in.
#
# Creates ${EARMARK_VENV:-.venv-quality} (relative to the repo root unless absolute)
# and installs visqol-python (ViSQOL v3, Python port) with its numba and pyFFTW
# accelerators (same scores, ~5x faster), all pinned. Idempotent: when the venv already has exactly these pins it does nothing.
# Works on a fresh Debian bookworm as root with only PyPI + Debian reachable: it
# apt-get installs python3-venv (for `python3 -m venv`) and g++ (libsvm-official, a
# visqol-python dependency, is source-only on Linux and compiles one C++ file) when
# they are missing. Prints the venv's python path last.
#
# Env: EARMARK_VENV (venv dir), PYTHON (interpreter to build the venv from, default python3).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${EARMARK_VENV:-.venv-quality}"
case "$VENV" in /*) ;; *) VENV="$REPO/$VENV" ;; esac
PYTHON="${PYTHON:-python3}"

# Exact pins (the versions checked against Google's C++ ViSQOL; see scripts/quality.py).
PINS=(
  visqol-python==3.8.0
  numpy==2.4.6
  scipy==1.17.1
  soundfile==0.14.0
  cffi==2.1.1
  pycparser==3.12
  libsvm-official==3.37.0
  numba==0.68.1
  llvmlite==0.50.0
  pyfftw==0.15.1
)
STAMP="$VENV/.earmark-quality-pins"
WANT="$(printf '%s\n' "${PINS[@]}")"

if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] \
   && "$VENV/bin/python" -c 'import visqol, numba, pyfftw, numpy, scipy, soundfile' 2>/dev/null; then
  echo "quality venv up to date: $VENV" >&2
  echo "$VENV/bin/python"
  exit 0
fi

APT_UPDATED=0
apt_install() {
  if ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" != 0 ]; then
    echo "error: need Debian package(s) $*; install them (apt-get install -y $*) and re-run" >&2
    exit 1
  fi
  if [ "$APT_UPDATED" = 0 ]; then apt-get update -qq; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

command -v "$PYTHON" >/dev/null 2>&1 || apt_install python3 python3-venv
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null || apt_install python3-venv
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
fi
[ -f "$VENV/.gitignore" ] || echo '*' > "$VENV/.gitignore"   # keep the venv out of git
command -v g++ >/dev/null 2>&1 || apt_install g++

echo "installing into $VENV: ${PINS[*]}" >&2
"$VENV/bin/python" -m pip install --disable-pip-version-check -q "${PINS[@]}" >&2
"$VENV/bin/python" -c 'import visqol, numba, pyfftw, numpy, scipy, soundfile'
printf '%s\n' "$WANT" > "$STAMP"
echo "$VENV/bin/python"
