//! PEAQ (ITU-R BS.1387) scores of stamped audio against its original, from
//! an external GstPEAQ build.
//!
//! PEAQ's Objective Difference Grade (ODG) runs from 0 (difference
//! imperceptible) to −4 (very annoying); GstPEAQ's advanced model gives an
//! identical pair about +0.2. It is the finer instrument for marks this close
//! to transparent, and the one the best open peer's test scripts use.
//!
//! GstPEAQ is GPL C code that the user builds from its public source
//! outside this project (README, "What we measured"); the report only runs
//! its `peaq` program. Both inputs are
//! handed over as 32-bit float WAV at their own rate and channel count, so
//! nothing is clipped or requantised on the way (the program resamples to
//! the 48 kHz its model needs). Traps measured on this instrument: it is level
//! dependent (a −0.5 dB gain alone moves an identical pair from +0.21 to
//! +0.03) and alignment dependent (a one-sample delay costs 0.07), so the
//! pair must be the exact samples the engine read and wrote.

use earmark::audio::{Audio, SampleFormat};
use std::path::{Path, PathBuf};

use crate::engine::write_wav;
use std::process::Command;

/// Why a PEAQ score could not be produced.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PeaqError {
    /// The program could not be started.
    #[error("{program}: cannot run GstPEAQ's peaq program: {error}")]
    Start {
        /// The program.
        program: PathBuf,
        /// The cause.
        error: std::io::Error,
    },
    /// The program failed or printed no grade.
    #[error("{program}: {detail}")]
    Failed {
        /// The program.
        program: PathBuf,
        /// Its exit status and the end of its output.
        detail: String,
    },
    /// The temporary WAVs could not be written.
    #[error("writing the WAVs to score: {0}")]
    Write(String),
}

/// GstPEAQ's `peaq` program, scoring with the advanced model.
#[derive(Debug, Clone)]
pub struct Peaq {
    program: PathBuf,
    plugin_path: Option<PathBuf>,
}

impl Peaq {
    /// The `peaq` program at `program` (as built: `PREFIX/bin/peaq`). When
    /// `GST_PLUGIN_PATH` is unset and `PREFIX/lib/gstreamer-1.0` exists, the
    /// program is run with that plugin folder, so an install under any
    /// prefix works without setting the environment.
    pub fn new(program: &Path) -> Self {
        let plugin_path = std::env::var_os("GST_PLUGIN_PATH")
            .is_none()
            .then(|| {
                let prefix = program.parent()?.parent()?;
                let dir = prefix.join("lib").join("gstreamer-1.0");
                dir.is_dir().then_some(dir)
            })
            .flatten();
        Peaq {
            program: program.to_path_buf(),
            plugin_path,
        }
    }

    /// The program this runs.
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// The advanced model's ODG of `test` against `reference` (same rate
    /// and channel count; only their common length is compared).
    pub fn odg(&self, reference: &Audio, test: &Audio) -> Result<f64, PeaqError> {
        let dir = tempfile::tempdir().map_err(|e| PeaqError::Write(e.to_string()))?;
        let ref_path = dir.path().join("reference.wav");
        let test_path = dir.path().join("test.wav");
        for (path, audio) in [(&ref_path, reference), (&test_path, test)] {
            write_wav(path, audio, SampleFormat::F32)
                .map_err(|e| PeaqError::Write(format!("{}: {e}", path.display())))?;
        }
        let mut cmd = Command::new(&self.program);
        cmd.arg("--advanced").arg(&ref_path).arg(&test_path);
        if let Some(dir) = &self.plugin_path {
            cmd.env("GST_PLUGIN_PATH", dir);
        }
        let out = cmd.output().map_err(|error| PeaqError::Start {
            program: self.program.clone(),
            error,
        })?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        match (out.status.success(), parse_odg(&stdout)) {
            (true, Some(odg)) => Ok(odg),
            _ => {
                let stderr = String::from_utf8_lossy(&out.stderr);
                let tail: Vec<&str> = stdout.lines().chain(stderr.lines()).collect();
                let tail = tail[tail.len().saturating_sub(3)..].join(" / ");
                Err(PeaqError::Failed {
                    program: self.program.clone(),
                    detail: format!("{} and no grade printed: {tail}", out.status),
                })
            }
        }
    }
}

/// The grade in the program's output (`Objective Difference Grade: -0.123`).
fn parse_odg(stdout: &str) -> Option<f64> {
    stdout.lines().find_map(|line| {
        line.strip_prefix("Objective Difference Grade:")?
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grade_is_read_from_the_programs_output() {
        let out = "Objective Difference Grade: -0.163\nDistortion Index: 2.011\n";
        assert_eq!(parse_odg(out), Some(-0.163));
        assert_eq!(
            parse_odg("Objective Difference Grade: 0.211\n"),
            Some(0.211)
        );
        assert_eq!(parse_odg("Distortion Index: 2.0\n"), None);
        assert_eq!(parse_odg("Objective Difference Grade: nan\n"), None);
    }

    #[test]
    fn a_missing_program_is_named_in_the_error() {
        let audio = Audio {
            samples: vec![0.0; 4410],
            sample_rate: 44_100,
            channels: 1,
        };
        let p = Peaq::new(Path::new("/nonexistent/bin/peaq"));
        let e = p.odg(&audio, &audio).unwrap_err();
        assert!(matches!(e, PeaqError::Start { .. }), "{e}");
        assert!(e.to_string().contains("/nonexistent/bin/peaq"), "{e}");
    }
}
