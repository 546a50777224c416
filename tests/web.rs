//! The browser page and the WebAssembly package (web/, tests/web/): the page
//! is rebuilt from this checkout (`scripts/build-web.sh`, incremental) and
//! its tests run under Node.js — the package's `verify`/`stamp` API, byte
//! for byte against the `earmark` binary built here — and end to end in
//! Debian's Chromium driven by playwright-core (stamp, download, verify in
//! the page and with the CLI, a 5 s MP3 clip, unmarked audio, a non-audio
//! file, a key made in the page, no request to another origin).
//!
//! Needs the wasm toolchain and wasm-bindgen-cli (`scripts/build-web.sh
//! --check`), Node.js with npm, Chromium (`/usr/bin/chromium` or
//! `CHROMIUM`) and ffmpeg; `.ci/run` installs them. Without them the test
//! is skipped with a note, or fails when `CI` is set.

mod common;

use common::ROOT;
use std::path::Path;
use std::process::Command;

/// What is missing to build and test the page, if anything.
fn missing() -> Vec<String> {
    let mut missing = Vec::new();
    let check = Command::new(Path::new(ROOT).join("scripts/build-web.sh"))
        .arg("--check")
        .output();
    match check {
        Ok(o) if o.status.success() => {}
        Ok(o) => missing.push(String::from_utf8_lossy(&o.stderr).trim().to_string()),
        Err(e) => missing.push(format!("scripts/build-web.sh: {e}")),
    }
    for tool in ["node", "npm", "ffmpeg"] {
        if Command::new(tool).arg("--version").output().is_err() {
            missing.push(format!("{tool} is not installed"));
        }
    }
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() {
        missing.push(format!("no Chromium at {chromium}"));
    }
    missing
}

#[test]
fn page_and_package_pass_their_tests() {
    let missing = missing();
    if !missing.is_empty() {
        assert!(
            std::env::var_os("CI").is_none(),
            "cannot test the page: {}; .ci/run installs all of it",
            missing.join("; ")
        );
        eprintln!("note: skipping the page's tests: {}", missing.join("; "));
        return;
    }
    let registry = tempfile::tempdir().unwrap();
    // scripts/test-web.sh: rebuild the page, npm install, node --test.
    let status = Command::new(Path::new(ROOT).join("scripts/test-web.sh"))
        .env("EARMARK_BIN", env!("CARGO_BIN_EXE_earmark"))
        // The CLI's track-id registry: this run's own, never the user's.
        .env("EARMARK_REGISTRY", registry.path().join("track-ids.db"))
        .status()
        .expect("runs scripts/test-web.sh");
    assert!(
        status.success(),
        "the page's tests failed (node's report is above)"
    );
}
