//! The robustness report measures the product: on the very files it
//! attacked, `earmark verify` (the CLI binary) reaches the same verdicts the
//! report counted (payloads found, seal status, change undone).

use earmark_eval::attacks::Attack;
use earmark_eval::report::{run, RobustnessOptions};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The `earmark` binary of this build profile (built if missing, e.g. when
/// only this package's tests run).
fn earmark_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps");
    let bin = profile_dir.join(format!("earmark{}", std::env::consts::EXE_SUFFIX));
    if !bin.exists() {
        let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cargo
            .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
            .args(["build", "-p", "earmark", "--bin", "earmark"]);
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cargo.arg("--release");
        }
        assert!(
            cargo.status().expect("run cargo").success(),
            "cargo build of earmark failed"
        );
    }
    bin
}

#[test]
fn the_report_and_the_cli_agree_on_the_attacked_files() {
    let dir = tempfile::tempdir().unwrap();
    let track =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../test-audio/rock-supertuxkart-bay.ogg");
    let mut opts = RobustnessOptions::new(vec![track]);
    opts.payloads_per_track = 1;
    opts.clips_per_track = 0;
    opts.clip_seconds = Vec::new();
    opts.fp_windows = 0;
    opts.threads = 2;
    opts.attacks = Some(vec![
        Attack::Mp3 { kbps: 128 },
        Attack::Resample { via_hz: 22_050 },
        Attack::Speed { factor: 1.05 },
        Attack::Pitch { semitones: 1.0 },
        // Below the marker's band: nothing is left to find.
        Attack::LowPass { hz: 400.0 },
    ]);
    opts.attacked_dir = Some(dir.path().to_path_buf());
    let report = run(&opts).expect("report");
    assert_eq!(report.verdicts.len(), 6, "clean + 5 attacks");
    let exe = earmark_binary();
    let mut found_some = false;
    let mut missed_some = false;
    for v in &report.verdicts {
        let out = Command::new(&exe)
            .arg("verify")
            .arg("--json")
            .arg(&v.file)
            .output()
            .expect("run earmark verify");
        let cli: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{}: {e}: {}",
                v.file.display(),
                String::from_utf8_lossy(&out.stdout)
            )
        });
        let cli_found: Vec<String> = cli["markers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                format!(
                    "{}:{}",
                    m["payload"]["key_fingerprint"].as_str().unwrap(),
                    m["payload"]["track_id"]
                )
            })
            .collect();
        assert_eq!(cli_found, v.found, "{}: payloads", v.attack);
        let cli_seal = cli["seal"]["status"].as_str().map(str::to_string);
        let report_seal = v.seal.map(|s| {
            serde_json::to_value(s)
                .unwrap()
                .as_str()
                .unwrap()
                .to_string()
        });
        assert_eq!(cli_seal, report_seal, "{}: seal", v.attack);
        assert_eq!(
            cli["change"].as_str(),
            v.change.as_deref(),
            "{}: change",
            v.attack
        );
        // The exit status says the same: 0 found (no manifest to contradict), 1 not.
        let expected = if v.found.is_empty() { 1 } else { 0 };
        assert_eq!(out.status.code(), Some(expected), "{}", v.attack);
        found_some |= v.found.contains(&v.stamped);
        missed_some |= v.found.is_empty();
    }
    assert!(
        found_some && missed_some,
        "both verdicts compared: {:?}",
        report.verdicts
    );
}
