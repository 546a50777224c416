//! The Python package (python/), built from this checkout and tested with
//! pytest against the `earmark` binary built here: arrays at dataset rates,
//! MP3 round trips, `stamp_array` output read by the CLI, `screen` over a
//! folder with bad files, bad arrays, and the Dask and Ray examples on real
//! local clusters (python/tests/).
//!
//! The Python is `EARMARK_PY_VENV/bin/python`, else
//! `~/.cache/earmark/py-venv` (which `.ci/run` makes with maturin, numpy,
//! pytest, Dask, Ray and datasets). The package is reinstalled from the
//! source first (an incremental build: a no-op when nothing changed), so
//! the tests never run a stale extension. Without the virtualenv the test
//! is skipped with a note, or fails when `CI` is set.

mod common;

use common::ROOT;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The virtualenv's Python, if it has what the tests need.
fn python() -> Option<PathBuf> {
    let venv = std::env::var_os("EARMARK_PY_VENV")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/earmark/py-venv"))
        })?;
    let py = venv.join("bin/python");
    let ok = Command::new(&py)
        .args(["-c", "import maturin, numpy, pytest"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "{} cannot import maturin, numpy and pytest; .ci/run makes that virtualenv",
            py.display()
        );
        eprintln!("note: no Python virtualenv for the package; skipping python/tests");
        return None;
    }
    Some(py)
}

/// Where the extension is compiled: `CARGO_TARGET_DIR` if set, else a cache
/// outside the checkout (kept between CI runs of clean clones).
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/earmark/py-target"))
        })
        .unwrap_or_else(|| Path::new(ROOT).join("python/target"))
}

/// `PATH` with the virtualenv's `bin/` first.
fn with_venv_bin(py: &Path) -> std::ffi::OsString {
    let bin = py.parent().map(Path::to_path_buf).unwrap_or_default();
    let rest = std::env::var_os("PATH").unwrap_or_default();
    std::env::join_paths(std::iter::once(bin).chain(std::env::split_paths(&rest))).unwrap_or(rest)
}

#[test]
fn python_package_passes_its_tests() {
    let Some(py) = python() else { return };
    let install = Command::new(&py)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--no-build-isolation",
            "--force-reinstall",
        ])
        .arg(Path::new(ROOT).join("python"))
        .env("CARGO_TARGET_DIR", target_dir())
        // The build backend runs the `maturin` program beside this Python.
        .env("PATH", with_venv_bin(&py))
        .status()
        .expect("runs pip");
    assert!(install.success(), "pip install ./python failed");
    let registry = tempfile::tempdir().unwrap();
    let status = Command::new(&py)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .arg(Path::new(ROOT).join("python/tests"))
        // Not the source tree: the installed package is the one under test.
        .current_dir(std::env::temp_dir())
        .env("EARMARK_BIN", env!("CARGO_BIN_EXE_earmark"))
        // The CLI's track-id registry: this run's own, never the user's.
        .env("EARMARK_REGISTRY", registry.path().join("track-ids.db"))
        .status()
        .expect("runs pytest");
    assert!(
        status.success(),
        "python/tests failed (pytest's report is above)"
    );
}
