//! The robustness report: stamps real recordings, attacks them and measures how
//! well the watermark survives.
//!
//! [`run`] decodes every track, stamps it with several seeded random payloads
//! (one [`WatermarkKey`] for all), applies every attack of
//! [`attacks::standard_suite`] to each stamped copy, cuts 10 s and 5 s clips at
//! random offsets out of the MP3-128 copy, and runs the blind detector on
//! everything. Per attack it measures:
//!
//! * **exact-payload recovery**: the detector reports the stamped payload, all
//!   64 bits (a detection is CRC-checked, so no partial matches exist);
//! * **raw bit error rate**: the fraction of the 306 coded bits whose soft
//!   decision in the best synchronisation candidate disagrees with the stamped
//!   coded bits, i.e. the error rate *before* Viterbi error correction;
//! * **detect time**: wall-clock time of the detector alone (not decoding,
//!   not the attack), measured while the other worker threads are busy too;
//! * **false payloads**: detections of any payload other than the stamped one.
//!
//! It also measures the false-positive rate on unmarked audio: the original
//! (unstamped) tracks and their MP3-128 copies, cut into 5 s windows every
//! second, each window analysed on its own with several keys (the public key
//! first), with the speed/tempo/pitch search after plain detection, as
//! `verify` does. Every payload detected there is a false payload. A
//! detection needs a CRC-32 match, and a candidate is only decoded and
//! CRC-checked when its sync z-score reaches the detector's gate; the sync
//! cells and the data cells are disjoint, so on unmarked audio whether a check
//! happens says nothing about whether it passes, and the probability of a
//! false payload per window is `E[CRC checks] × 2^-32`
//! ([`DetectReport::crc_checks`](earmark::mark::DetectReport::crc_checks), summed over every pass of a search). The
//! report measures the mean (and largest) number of CRC checks per window and
//! requires `mean × 2^-32 ≤` [`REQUIRED_FP_BOUND`]; it also prints the
//! worst case, as if every analysis decoded both of its candidates
//! (`2 × analyses × 2^-32`), and the detect time per window (mean and
//! largest).
//!
//! [`RobustnessReport`] serialises to JSON and renders as text tables through
//! [`std::fmt::Display`]; [`RobustnessReport::passed`] applies the acceptance
//! criteria (see [`RobustnessReport::checks`]).
//!
//! ```no_run
//! use earmark_eval::report::{run, RobustnessOptions};
//! let opts = RobustnessOptions::new(vec!["test-audio".into()]);
//! let report = run(&opts)?;
//! println!("{report}");
//! std::process::exit(if report.passed() { 0 } else { 1 });
//! # Ok::<(), earmark_eval::report::ReportError>(())
//! ```

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::Serialize;

mod seal;
pub use seal::{SealRow, SealSection, REQUIRED_SEAL_RATE, SEAL_MIN_SECONDS};

use crate::attacks::{self, Attack, AttackError};
use crate::engine;
use crate::peaq::Peaq;
use earmark::audio::{self, Audio, AudioError, SampleFormat};
use earmark::mark::{coded_bits, WatermarkKey, CANDIDATES};
use earmark::provenance::SigningKeyPair;
use earmark::{StampOptions, Verification, VerifyOptions};

/// Synchronisation candidates the detector decodes per analysis.
const DECODES_PER_ANALYSIS: f64 = CANDIDATES as f64;

/// Required exact-payload recovery rate on full tracks after each attack of
/// [`attacks::standard_suite`] (and without attack).
pub const REQUIRED_FULL_RATE: f64 = 0.99;
/// Required exact-payload recovery rate on full tracks after each speed,
/// tempo and pitch change of [`attacks::time_scale_suite`] (with and without
/// MP3 128 first), when those rows are run.
pub const REQUIRED_TIME_SCALE_FULL_RATE: f64 = 0.95;
/// Required rate on 10-second clips of the MP3-128 copy after each of them.
pub const REQUIRED_TIME_SCALE_CLIP_RATE: f64 = 0.90;
/// Longest a 10-second clip may take to detect, search included, seconds.
pub const REQUIRED_CLIP_DETECT_SECONDS: f64 = 0.2;
/// Required exact-payload recovery rate on 5-second clips of the MP3-128 copy.
pub const REQUIRED_CLIP_RATE: f64 = 0.95;
/// Lowest PEAQ ODG (advanced model, GstPEAQ) allowed for any stamped
/// track against its original. An identical pair scores about +0.2.
pub const REQUIRED_ODG_WORST: f64 = -0.10;
/// Lowest mean PEAQ ODG over the stamped tracks.
pub const REQUIRED_ODG_MEAN: f64 = 0.0;
/// Clip length, in seconds, that [`REQUIRED_CLIP_RATE`] applies to.
pub const REQUIRED_CLIP_SECONDS: f32 = 5.0;
/// Unmarked windows the false-positive measurement must analyse.
pub const REQUIRED_FP_WINDOWS: usize = 10_000;
/// Length of an unmarked window in the false-positive measurement, seconds.
pub const FP_WINDOW_SECONDS: f64 = 5.0;
/// Hop between unmarked windows in the false-positive measurement, seconds.
pub const FP_HOP_SECONDS: f64 = 1.0;
/// Largest acceptable false-payload probability per unmarked window, from the
/// measured CRC checks (see [`FpRow::crc_bound_per_window`]).
pub const REQUIRED_FP_BOUND: f64 = 1e-9;

/// The attack whose output the clips are cut from.
const CLIP_SOURCE: Attack = Attack::Mp3 { kbps: 128 };

/// What to measure. Build it with [`RobustnessOptions::new`] and adjust the
/// fields; [`Default`] has no tracks.
#[derive(Debug, Clone)]
pub struct RobustnessOptions {
    /// Audio files, or folders whose audio files (by extension, see
    /// [`earmark::container::AUDIO_EXTENSIONS`]) are used; folders are not
    /// scanned recursively.
    pub tracks: Vec<PathBuf>,
    /// Different seeded random payloads stamped into each track, so that the
    /// recovery rate has more trials than there are tracks. Default 4.
    pub payloads_per_track: usize,
    /// Clips cut (at seeded random offsets) per clip length, track and
    /// payload. Default 20.
    pub clips_per_track: usize,
    /// Clip lengths in seconds; clips are cut from the MP3 128 kbps copy of
    /// the stamped track. Default `[10.0, 5.0]`.
    pub clip_seconds: Vec<f32>,
    /// Attacks applied to every full stamped track; `None` means
    /// [`attacks::standard_suite`]. Restricting the list makes
    /// [`RobustnessReport::passed`] fail (required rows are missing).
    pub attacks: Option<Vec<Attack>>,
    /// Unmarked windows to analyse for false positives (0 skips the
    /// measurement). Default [`REQUIRED_FP_WINDOWS`].
    pub fp_windows: usize,
    /// Key used for stamping and detecting. Default [`WatermarkKey::public`].
    pub key: WatermarkKey,
    /// Seed for the payloads, noise and clip offsets; the same seed gives the
    /// same trials. Default 0.
    pub seed: u64,
    /// Embedding strength (see [`StampOptions::strength`]). Default 1.0.
    pub strength: f32,
    /// If set, each track's decoded original and its first stamped version
    /// are written there as 16-bit WAV (`<stem>.orig.wav`,
    /// `<stem>.stamped.wav`) for external quality scoring. Default `None`.
    pub stamped_dir: Option<PathBuf>,
    /// If set, every whole-track trial's attacked audio is written there as
    /// a 32-bit float WAV (`<stem>.p<N>.<attack>.wav`, the exact samples the
    /// report verified) and its verdict recorded in
    /// [`RobustnessReport::verdicts`], so `earmark verify` can be run on the
    /// same files and compared. Default `None`.
    pub attacked_dir: Option<PathBuf>,
    /// Also run the speed, tempo and pitch attacks of
    /// [`attacks::time_scale_suite`] on the stamped track, on its MP3-128
    /// copy and on 10 s clips of that copy, detected with the scale search
    /// ([`earmark::mark::detect_any_scale`]). Their requirements: see [`REQUIRED_TIME_SCALE_FULL_RATE`].
    /// Default `false`.
    pub time_scale: bool,
    /// Stamp the main rows' trials with the seal too, as `earmark stamp`
    /// does (see [`earmark::mark::SealMessage`]); the seal section always does.
    /// Default `true`.
    pub seal: bool,
    /// Run only the seal section (full-length tracks of at least
    /// [`seal::SEAL_MIN_SECONDS`]), skipping the main rows and the
    /// false-positive measurement. Default `false`.
    pub seal_only: bool,
    /// GstPEAQ's `peaq` program (`PREFIX/bin/peaq`, built outside this
    /// project, see [`crate::peaq`]): when set, each track's first stamped
    /// version is scored against its original with PEAQ's advanced model
    /// and the ODG requirements are checked. Default `None` (not scored).
    pub peaq: Option<PathBuf>,
    /// Only stamp each track and measure quality (SNR, PEAQ when
    /// [`RobustnessOptions::peaq`] is set): no attacks, no false-positive
    /// measurement, no seal section. Default `false`.
    pub quality_only: bool,
    /// Worker threads; 0 uses one per CPU. Default 0.
    pub threads: usize,
    /// Print one progress line per finished track and payload to stderr.
    /// Default `false`.
    pub progress: bool,
}

impl Default for RobustnessOptions {
    fn default() -> Self {
        RobustnessOptions {
            tracks: Vec::new(),
            payloads_per_track: 4,
            clips_per_track: 20,
            clip_seconds: vec![10.0, REQUIRED_CLIP_SECONDS],
            attacks: None,
            fp_windows: REQUIRED_FP_WINDOWS,
            key: WatermarkKey::public(),
            seed: 0,
            strength: 1.0,
            stamped_dir: None,
            attacked_dir: None,
            time_scale: false,
            seal: true,
            seal_only: false,
            peaq: None,
            quality_only: false,
            threads: 0,
            progress: false,
        }
    }
}

impl RobustnessOptions {
    /// The default options for these tracks (files or folders).
    pub fn new(tracks: Vec<PathBuf>) -> Self {
        RobustnessOptions {
            tracks,
            ..Self::default()
        }
    }
}

/// Why the report could not be produced.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// A track could not be decoded.
    #[error("{}: {error}", path.display())]
    Decode {
        /// The track.
        path: PathBuf,
        /// The decoder's error.
        error: AudioError,
    },
    /// An attack failed on a track.
    #[error("{}: attack {attack}: {error}", path.display())]
    Attack {
        /// The track.
        path: PathBuf,
        /// The attack's [`Attack::name`].
        attack: String,
        /// The attack's error.
        error: AttackError,
    },
    /// A stamped or original WAV could not be written.
    #[error("{}: {error}", path.display())]
    Write {
        /// The file being written.
        path: PathBuf,
        /// The writer's error.
        error: AudioError,
    },
    /// A path could not be read, or a folder listed or created.
    #[error("{}: {error}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
    /// No audio tracks were given or found.
    #[error("no audio tracks to test")]
    NoTracks,
    /// An option is out of range.
    #[error("invalid option: {0}")]
    InvalidOption(String),
    /// The worker thread pool could not be started.
    #[error("cannot start worker threads: {0}")]
    Threads(String),
    /// PEAQ could not score a track.
    #[error("{}: PEAQ: {error}", path.display())]
    Peaq {
        /// The track.
        path: PathBuf,
        /// What failed.
        error: crate::peaq::PeaqError,
    },
    /// The engine refused to stamp or verify.
    #[error("{}: {error}", path.display())]
    Engine {
        /// The track.
        path: PathBuf,
        /// The engine's error.
        error: String,
    },
}

/// Results for one attack (one table row).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttackRow {
    /// Row label: `clean`, an [`Attack::name`], or `mp3-128 clip-5s` for clips
    /// of the MP3-128 copy.
    pub attack: String,
    /// Detections run.
    pub trials: usize,
    /// Trials that reported the stamped payload.
    pub recovered: usize,
    /// `recovered / trials` (0 without trials).
    pub rate: f64,
    /// Mean raw (pre-correction) bit error rate of the best candidate.
    pub mean_raw_ber: f64,
    /// Largest raw bit error rate.
    pub max_raw_ber: f64,
    /// Mean detect time, milliseconds.
    pub mean_detect_ms: f64,
    /// Largest detect time, milliseconds.
    pub max_detect_ms: f64,
    /// Mean length of the analysed audio, seconds.
    pub mean_seconds: f64,
    /// Detections of a payload other than the stamped one, over all trials.
    pub false_payloads: usize,
    /// Mean synchronisation z-score of the best candidate.
    pub mean_sync_z: f64,
    /// Smallest synchronisation z-score of the best candidate.
    pub min_sync_z: f64,
    /// Trials not run because the track is shorter than the clip.
    pub skipped: usize,
}

/// Per-track results (one row of the track table).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrackRow {
    /// File name.
    pub name: String,
    /// Full path as given or found.
    pub path: String,
    /// Length, seconds.
    pub seconds: f64,
    /// Sample rate, Hz.
    pub sample_rate: u32,
    /// Channels.
    pub channels: u16,
    /// SNR of the stamped track against the original, dB (mean over payloads).
    pub snr_db: f64,
    /// Smallest SNR over the payloads, dB.
    pub min_snr_db: f64,
    /// PEAQ ODG (advanced model) of the first stamped version against the
    /// original, when [`RobustnessOptions::peaq`] was set.
    pub odg: Option<f64>,
    /// Fraction of the track loud enough to carry the marker.
    pub active_fraction: f64,
    /// Mean modulation depth β of the active marker bins.
    pub mean_beta: f64,
    /// Trials on this track (all attacks and clips, all payloads).
    pub trials: usize,
    /// Trials that recovered the stamped payload.
    pub recovered: usize,
    /// False payloads over all trials on this track.
    pub false_payloads: usize,
}

/// The false-positive measurement on unmarked audio.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FpRow {
    /// Window analyses run (window × key).
    pub windows: usize,
    /// Keys used (the public key, then `fp-key-1`, `fp-key-2`, ...).
    pub keys: usize,
    /// Distinct windows per key (originals and their MP3-128 copies).
    pub windows_per_key: usize,
    /// Window length, seconds.
    pub window_seconds: f64,
    /// Window hop, seconds.
    pub hop_seconds: f64,
    /// Payloads detected (every one is false).
    pub false_payloads: usize,
    /// Windows with at least one detection.
    pub false_windows: usize,
    /// Largest synchronisation z-score of a best candidate.
    pub max_sync_z: f64,
    /// Mean synchronisation z-score of the best candidates.
    pub mean_sync_z: f64,
    /// Mean detector analyses per window (all passes of a search).
    pub mean_analyses: f64,
    /// Most detector analyses in one window.
    pub max_analyses: usize,
    /// Mean CRC checks per window (decodes of candidates whose sync score
    /// reached the gate, all passes of a search; see
    /// [`earmark::verify::Diagnostics::crc_checks`]).
    pub mean_crc_checks: f64,
    /// Most CRC checks in one window.
    pub max_crc_checks: usize,
    /// Probability of a false payload per window: `mean_crc_checks × 2^-32`
    /// (a random decode passes the CRC-32 with probability 2^-32, and on
    /// unmarked audio whether a decode is attempted is independent of its
    /// bits). Required to be at most [`REQUIRED_FP_BOUND`].
    pub crc_bound_per_window: f64,
    /// The worst case, as if every analysis decoded all its candidates:
    /// `2 × max_analyses × 2^-32`. Informative only.
    pub worst_case_bound_per_window: f64,
    /// Mean detect time per window, milliseconds.
    pub mean_detect_ms: f64,
    /// Largest detect time of a window, milliseconds.
    pub max_detect_ms: f64,
}

/// One acceptance criterion and whether it is met.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// What is required, e.g. `mp3-128: exact recovery >= 99%`.
    pub requirement: String,
    /// What was measured, e.g. `100.0% (36/36)`.
    pub measured: String,
    /// Whether the requirement is met.
    pub pass: bool,
}

/// Parameters of the run, for the report header.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunInfo {
    /// Tracks tested.
    pub tracks: usize,
    /// Payloads stamped per track.
    pub payloads_per_track: usize,
    /// Clips per clip length, track and payload.
    pub clips_per_track: usize,
    /// Identifier of the key (see [`WatermarkKey::id`]).
    pub key_id: String,
    /// Embedding strength.
    pub strength: f32,
    /// Seed.
    pub seed: u64,
    /// Worker threads used.
    pub threads: usize,
    /// Folder the stamped and original WAVs were written to, if any.
    pub stamped_dir: Option<String>,
    /// The PEAQ program used, if any.
    pub peaq: Option<String>,
    /// Whether only quality was measured (no attacks).
    pub quality_only: bool,
    /// Wall-clock time of the whole run, seconds.
    pub elapsed_seconds: f64,
}

/// Everything [`run`] measured. Serialises to JSON; `Display` renders text
/// tables.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RobustnessReport {
    /// Run parameters.
    pub info: RunInfo,
    /// One row per attack: `clean` first, then the full-track attacks, then
    /// the clips.
    pub rows: Vec<AttackRow>,
    /// One row per track.
    pub tracks: Vec<TrackRow>,
    /// The false-positive measurement.
    pub fp: FpRow,
    /// The seal section, run on the tracks of at least
    /// [`seal::SEAL_MIN_SECONDS`] (`None` when there were none).
    pub seal: Option<SealSection>,
    /// The acceptance criteria, evaluated.
    pub checks: Vec<Check>,
    /// The verdict on every whole-track trial written to
    /// [`RobustnessOptions::attacked_dir`] (empty without it).
    pub verdicts: Vec<TrialVerdict>,
}

/// The engine's verdict on one attacked copy the report wrote out.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrialVerdict {
    /// The WAV file holding the attacked copy.
    pub file: PathBuf,
    /// Row label of the attack.
    pub attack: String,
    /// The payload stamped, `KEY:TRACK`.
    pub stamped: String,
    /// The payloads found, `KEY:TRACK`, strongest first.
    pub found: Vec<String>,
    /// The seal's status, when one was read.
    pub seal: Option<earmark::verify::SealStatus>,
    /// The speed/tempo/pitch change undone, in words.
    pub change: Option<String>,
}

impl RobustnessReport {
    /// Whether every acceptance criterion is met: ≥ 99 % exact recovery
    /// without attack and after every attack of [`attacks::standard_suite`],
    /// ≥ 95 % on 5-second clips of the MP3-128 copy, no false payload on the
    /// stamped tracks, at least [`REQUIRED_FP_WINDOWS`] unmarked windows
    /// analysed, no false payload on them and a false-payload probability per
    /// window (from the measured CRC checks) of at most [`REQUIRED_FP_BOUND`].
    /// A required row that was not run counts as failed.
    pub fn passed(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(|c| c.pass)
    }

    /// The row labelled `attack`, if it was run.
    pub fn row(&self, attack: &str) -> Option<&AttackRow> {
        self.rows.iter().find(|r| r.attack == attack)
    }

    /// The inaudibility criteria, when the tracks were scored with PEAQ:
    /// every track's ODG at least [`REQUIRED_ODG_WORST`], their mean at
    /// least [`REQUIRED_ODG_MEAN`]. Empty when no track has a score.
    pub fn quality_checks(tracks: &[TrackRow]) -> Vec<Check> {
        let scored: Vec<(&str, f64)> = tracks
            .iter()
            .filter_map(|t| Some((t.name.as_str(), t.odg?)))
            .collect();
        let Some(&(worst_name, worst)) = scored.iter().min_by(|a, b| a.1.total_cmp(&b.1)) else {
            return Vec::new();
        };
        let mean = scored.iter().map(|s| s.1).sum::<f64>() / scored.len() as f64;
        vec![
            Check {
                requirement: format!(
                    "PEAQ ODG (advanced) of every stamped track >= {REQUIRED_ODG_WORST:.2}"
                ),
                measured: format!("worst {worst:+.3} ({worst_name})"),
                pass: worst >= REQUIRED_ODG_WORST,
            },
            Check {
                requirement: format!(
                    "PEAQ ODG (advanced), mean over tracks >= {REQUIRED_ODG_MEAN:.2}"
                ),
                measured: format!("{mean:+.3} over {} track(s)", scored.len()),
                pass: mean >= REQUIRED_ODG_MEAN,
            },
        ]
    }

    /// Evaluates the acceptance criteria on `rows` and `fp`.
    pub fn checks(rows: &[AttackRow], fp: &FpRow) -> Vec<Check> {
        let mut checks = Vec::new();
        let mut rate_check = |label: String, required: f64| {
            let row = rows.iter().find(|r| r.attack == label);
            let (measured, pass) = match row {
                Some(r) if r.trials > 0 => (
                    format!("{:.1}% ({}/{})", 100.0 * r.rate, r.recovered, r.trials),
                    r.rate >= required,
                ),
                Some(_) => ("no trials".to_string(), false),
                None => ("not run".to_string(), false),
            };
            checks.push(Check {
                requirement: format!("{label}: exact recovery >= {:.0}%", 100.0 * required),
                measured,
                pass,
            });
        };
        rate_check("clean".to_string(), REQUIRED_FULL_RATE);
        for attack in attacks::standard_suite() {
            rate_check(attack.name(), REQUIRED_FULL_RATE);
        }
        rate_check(clip_label(REQUIRED_CLIP_SECONDS), REQUIRED_CLIP_RATE);
        // Speed, tempo and pitch changes, when those rows were run.
        let time_scale_run = attacks::time_scale_suite()
            .iter()
            .any(|a| rows.iter().any(|r| r.attack == a.name()));
        if time_scale_run {
            for a in attacks::time_scale_suite() {
                rate_check(a.name(), REQUIRED_TIME_SCALE_FULL_RATE);
                let after_mp3 = RowKind::AfterMp3(a.clone(), None).label();
                rate_check(after_mp3, REQUIRED_TIME_SCALE_FULL_RATE);
                let clips = RowKind::AfterMp3(a, Some(10.0)).label();
                rate_check(clips, REQUIRED_TIME_SCALE_CLIP_RATE);
            }
        }
        let ten = Attack::Clip { seconds: 10.0 }.name();
        let clip_ms = rows
            .iter()
            .filter(|r| r.attack.ends_with(&ten) && r.trials > 0)
            .map(|r| r.max_detect_ms)
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
        if let Some(ms) = clip_ms {
            checks.push(Check {
                requirement: format!(
                    "10 s clips: detect time <= {:.0} ms (slowest clip, search included)",
                    1e3 * REQUIRED_CLIP_DETECT_SECONDS
                ),
                measured: format!("{ms:.0} ms"),
                pass: ms <= 1e3 * REQUIRED_CLIP_DETECT_SECONDS,
            });
        }
        let stamped_false: usize = rows.iter().map(|r| r.false_payloads).sum();
        let stamped_trials: usize = rows.iter().map(|r| r.trials).sum();
        checks.push(Check {
            requirement: "stamped tracks: 0 false payloads".to_string(),
            measured: format!("{stamped_false} in {stamped_trials} trials"),
            pass: stamped_false == 0 && stamped_trials > 0,
        });
        checks.push(Check {
            requirement: format!("unmarked windows analysed >= {REQUIRED_FP_WINDOWS}"),
            measured: fp.windows.to_string(),
            pass: fp.windows >= REQUIRED_FP_WINDOWS,
        });
        checks.push(Check {
            requirement: "unmarked windows: 0 false payloads".to_string(),
            measured: format!("{} in {} windows", fp.false_payloads, fp.windows),
            pass: fp.false_payloads == 0 && fp.windows > 0,
        });
        checks.push(Check {
            requirement: format!(
                "unmarked windows: false-payload probability <= {REQUIRED_FP_BOUND:.0e}"
            ),
            measured: format!(
                "{:.1e} ({:.2} CRC checks per window)",
                fp.crc_bound_per_window, fp.mean_crc_checks
            ),
            pass: fp.windows > 0 && fp.crc_bound_per_window <= REQUIRED_FP_BOUND,
        });
        checks
    }
}

/// Row label of clips of `seconds` cut from the MP3-128 copy.
fn clip_label(seconds: f32) -> String {
    format!("{} {}", CLIP_SOURCE.name(), Attack::Clip { seconds }.name())
}

/// Expands `paths` into audio files: files are kept as given (in order),
/// folders contribute their files with an extension in
/// [`earmark::container::AUDIO_EXTENSIONS`]
/// (sorted by name, not recursive, so subfolders such as `formats/` are
/// skipped). Duplicates are dropped.
pub fn find_tracks(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ReportError> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let io = |path: &Path, error| ReportError::Io {
        path: path.to_path_buf(),
        error,
    };
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|e| io(path, e))?;
        if meta.is_dir() {
            let mut found = Vec::new();
            for entry in std::fs::read_dir(path).map_err(|e| io(path, e))? {
                let entry = entry.map_err(|e| io(path, e))?;
                let p = entry.path();
                let is_file = entry.file_type().map_err(|e| io(&p, e))?.is_file()
                    || std::fs::metadata(&p).is_ok_and(|m| m.is_file());
                let audio_ext = earmark::container::has_audio_extension(&p);
                if is_file && audio_ext {
                    found.push(p);
                }
            }
            found.sort();
            for p in found {
                if seen.insert(p.clone()) {
                    out.push(p);
                }
            }
        } else if seen.insert(path.clone()) {
            out.push(path.clone());
        }
    }
    Ok(out)
}

/// A decoded track.
struct Track {
    path: PathBuf,
    name: String,
    stem: String,
    audio: Audio,
}

/// What one detection measured.
#[derive(Debug, Clone, Copy)]
struct Trial {
    recovered: bool,
    false_payloads: usize,
    raw_ber: f64,
    detect_ms: f64,
    seconds: f64,
    sync_z: f64,
}

/// Results of one (track, payload) job.
struct Job {
    track: usize,
    snr_db: f64,
    odg: Option<f64>,
    active_fraction: f64,
    mean_beta: f64,
    /// Per row: the trials, and how many were skipped.
    rows: Vec<(Vec<Trial>, usize)>,
    /// Verdicts on the attacked copies written out.
    verdicts: Vec<TrialVerdict>,
}

/// One kind of row.
#[derive(Debug, Clone)]
enum RowKind {
    Clean,
    Full(Attack),
    Clip(f32),
    /// A time-scale attack on the MP3-128 copy, whole or as clips of `clip` s.
    AfterMp3(Attack, Option<f32>),
}

impl RowKind {
    fn label(&self) -> String {
        match self {
            RowKind::Clean => "clean".to_string(),
            RowKind::Full(a) => a.name(),
            RowKind::Clip(s) => clip_label(*s),
            RowKind::AfterMp3(a, None) => format!("{} {}", CLIP_SOURCE.name(), a.name()),
            RowKind::AfterMp3(a, Some(s)) => format!(
                "{} {} {}",
                CLIP_SOURCE.name(),
                a.name(),
                Attack::Clip { seconds: *s }.name()
            ),
        }
    }
}

/// Runs the whole measurement (see the module documentation). Work is spread
/// over `opts.threads` threads, one (track, payload) pair at a time; all
/// decoded tracks are held in memory.
pub fn run(opts: &RobustnessOptions) -> Result<RobustnessReport, ReportError> {
    let started = Instant::now();
    if opts.payloads_per_track == 0 {
        return Err(ReportError::InvalidOption(
            "payloads per track must be at least 1".into(),
        ));
    }
    if !(opts.strength.is_finite() && opts.strength > 0.0) {
        return Err(ReportError::InvalidOption(format!(
            "strength must be a positive number, not {}",
            opts.strength
        )));
    }
    if let Some(s) = opts
        .clip_seconds
        .iter()
        .find(|s| !(s.is_finite() && **s > 0.0))
    {
        return Err(ReportError::InvalidOption(format!(
            "clip length must be a positive number of seconds, not {s}"
        )));
    }
    if opts.seal_only && !opts.seal {
        return Err(ReportError::InvalidOption(
            "the seal section always stamps with the seal: --no-seal applies to the main rows, \
             not to --seal-only"
                .into(),
        ));
    }
    let paths = find_tracks(&opts.tracks)?;
    if paths.is_empty() {
        return Err(ReportError::NoTracks);
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads)
        .build()
        .map_err(|e| ReportError::Threads(e.to_string()))?;
    let threads = pool.current_num_threads();
    for dir in [&opts.stamped_dir, &opts.attacked_dir]
        .into_iter()
        .flatten()
    {
        std::fs::create_dir_all(dir).map_err(|error| ReportError::Io {
            path: dir.clone(),
            error,
        })?;
    }
    if opts.quality_only && opts.seal_only {
        return Err(ReportError::InvalidOption(
            "--quality-only scores the stamped tracks and --seal-only runs only the seal \
             section: choose one"
                .into(),
        ));
    }
    let mut kinds = vec![RowKind::Clean];
    kinds.extend(
        opts.attacks
            .clone()
            .unwrap_or_else(attacks::standard_suite)
            .into_iter()
            .map(RowKind::Full),
    );
    kinds.extend(opts.clip_seconds.iter().map(|&s| RowKind::Clip(s)));
    if opts.time_scale {
        for a in attacks::time_scale_suite() {
            kinds.push(RowKind::Full(a));
        }
        for a in attacks::time_scale_suite() {
            kinds.push(RowKind::AfterMp3(a.clone(), None));
            kinds.push(RowKind::AfterMp3(a, Some(10.0)));
        }
    }
    if opts.quality_only {
        kinds.clear();
    }

    pool.install(|| {
        let tracks = decode_tracks(&paths)?;
        // The main rows (not in a seal-only run).
        let main_tracks = if opts.seal_only { 0 } else { tracks.len() };
        let jobs: Vec<(usize, usize)> = (0..main_tracks)
            .flat_map(|t| (0..opts.payloads_per_track).map(move |p| (t, p)))
            .collect();
        let total = jobs.len();
        let done = std::sync::atomic::AtomicUsize::new(0);
        let results: Vec<Job> = jobs
            .par_iter()
            .map(|&(t, p)| {
                let job = stamp_and_attack(opts, &kinds, &tracks[t], t, p)?;
                if opts.progress {
                    let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                    let (trials, ok) = job.rows.iter().flat_map(|r| &r.0).fold(
                        (0, 0),
                        |(n, ok), tr| (n + 1, ok + usize::from(tr.recovered)),
                    );
                    eprintln!(
                        "robustness: [{n}/{total}] {} payload {}: {ok}/{trials} recovered ({:.0} s)",
                        tracks[t].name,
                        p + 1,
                        started.elapsed().as_secs_f64()
                    );
                }
                Ok(job)
            })
            .collect::<Result<_, ReportError>>()?;
        let fp = if opts.seal_only || opts.quality_only {
            false_positives(&RobustnessOptions { fp_windows: 0, ..opts.clone() }, &tracks)?
        } else {
            false_positives(opts, &tracks)?
        };
        let rows = if opts.seal_only {
            Vec::new()
        } else {
            aggregate_rows(&kinds, &results)
        };
        let track_rows = if opts.seal_only {
            Vec::new()
        } else {
            aggregate_tracks(&tracks, &results)
        };
        let seal = if opts.quality_only {
            None
        } else {
            let seal = seal::seal_section(opts, &tracks)?;
            (seal.tracks > 0).then_some(seal)
        };
        let mut checks = if opts.seal_only || opts.quality_only {
            Vec::new()
        } else {
            RobustnessReport::checks(&rows, &fp)
        };
        checks.extend(RobustnessReport::quality_checks(&track_rows));
        if let Some(section) = &seal {
            checks.extend(section.checks());
        } else if opts.seal_only {
            checks.push(Check {
                requirement: format!("seal: tracks of at least {SEAL_MIN_SECONDS:.0} s"),
                measured: "none".to_string(),
                pass: false,
            });
        }
        Ok(RobustnessReport {
            info: RunInfo {
                tracks: tracks.len(),
                payloads_per_track: opts.payloads_per_track,
                clips_per_track: opts.clips_per_track,
                key_id: opts.key.id(),
                strength: opts.strength,
                seed: opts.seed,
                threads,
                stamped_dir: opts
                    .stamped_dir
                    .as_ref()
                    .map(|d| d.display().to_string()),
                peaq: opts.peaq.as_ref().map(|p| p.display().to_string()),
                quality_only: opts.quality_only,
                elapsed_seconds: started.elapsed().as_secs_f64(),
            },
            rows,
            tracks: track_rows,
            fp,
            seal,
            checks,
            verdicts: results.iter().flat_map(|j| j.verdicts.clone()).collect(),
        })
    })
}

/// Decodes every track in parallel and gives each a unique output stem.
fn decode_tracks(paths: &[PathBuf]) -> Result<Vec<Track>, ReportError> {
    let audios: Vec<Audio> = paths
        .par_iter()
        .map(|p| {
            audio::decode_file(p).map_err(|error| ReportError::Decode {
                path: p.clone(),
                error,
            })
        })
        .collect::<Result<_, _>>()?;
    let mut stems = HashSet::new();
    Ok(paths
        .iter()
        .zip(audios)
        .map(|(path, audio)| {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| path.display().to_string());
            let base = path
                .file_stem()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "track".to_string());
            let mut stem = base.clone();
            let mut n = 1;
            while !stems.insert(stem.clone()) {
                n += 1;
                stem = format!("{base}-{n}");
            }
            Track {
                path: path.clone(),
                name,
                stem,
                audio,
            }
        })
        .collect())
}

/// SplitMix64 of a seed and a list of indices: independent seeds per trial.
fn mix(seed: u64, parts: &[u64]) -> u64 {
    let mut x = seed;
    for &p in parts {
        x = x.wrapping_add(p).wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x = z ^ (z >> 31);
    }
    x
}

/// Domain tags for [`mix`].
const TAG_PAYLOAD: u64 = 1;
const TAG_ATTACK: u64 = 2;
const TAG_CLIP: u64 = 3;

/// The stamp options of trial `p` on track `t`: a seeded signing key (so
/// the key fingerprint half of the payload is random too) and track id, the
/// report's watermark key and strength, the seal unless switched off.
fn trial_options(opts: &RobustnessOptions, t: usize, p: usize) -> StampOptions {
    let mut rng = ChaCha8Rng::seed_from_u64(mix(opts.seed, &[TAG_PAYLOAD, t as u64, p as u64]));
    let mut secret = [0u8; 32];
    rng.fill_bytes(&mut secret);
    let mut so = StampOptions::new(SigningKeyPair::from_bytes(&secret));
    so.track_id = Some(rng.next_u32());
    so.wm_key = opts.key.clone();
    so.strength = opts.strength;
    so.seal = opts.seal;
    so
}

/// Verify options with the report's watermark key.
fn verify_options(key: &WatermarkKey) -> VerifyOptions {
    let mut vo = VerifyOptions::default();
    vo.wm_key = key.clone();
    vo
}

/// The error for `attack` failing on the track at `path`.
fn attack_error(path: &Path, attack: &Attack, error: AttackError) -> ReportError {
    ReportError::Attack {
        path: path.to_path_buf(),
        attack: attack.name(),
        error,
    }
}

/// Stamps track `t` with payload `p` and runs every row's trials on it.
fn stamp_and_attack(
    opts: &RobustnessOptions,
    kinds: &[RowKind],
    track: &Track,
    t: usize,
    p: usize,
) -> Result<Job, ReportError> {
    let key = &opts.key;
    let orig = &track.audio;
    let (stamped, result) =
        engine::stamp(orig, &trial_options(opts, t, p)).map_err(|error| ReportError::Engine {
            path: track.path.clone(),
            error: error.to_string(),
        })?;
    let payload = result.payload;
    let stats = result.stats;
    let coded = coded_bits(key, payload.to_bytes());
    let verify_opts = verify_options(key);
    let snr_db = attacks::snr_db(&orig.samples, &stamped.samples);
    let mut odg = None;
    if p == 0 {
        if let Some(dir) = &opts.stamped_dir {
            write_wav(&dir.join(format!("{}.orig.wav", track.stem)), orig)?;
            write_wav(&dir.join(format!("{}.stamped.wav", track.stem)), &stamped)?;
        }
        if let Some(program) = &opts.peaq {
            let score =
                Peaq::new(program)
                    .odg(orig, &stamped)
                    .map_err(|error| ReportError::Peaq {
                        path: track.path.clone(),
                        error,
                    })?;
            odg = Some(score);
        }
    }
    let attack_err = |attack: &Attack, error| attack_error(&track.path, attack, error);
    // Every trial is what `earmark verify` does: plain detection, the
    // speed/tempo/pitch search when that finds nothing, the seal.
    let verdicts = std::sync::Mutex::new(Vec::new());
    // A whole-track trial: measured, and written out with its verdict when
    // asked to.
    let whole = |label: &str, a: &Audio| -> Result<Trial, ReportError> {
        let (trial, v) = measure(&verify_opts, payload, &coded, a)?;
        if let Some(dir) = &opts.attacked_dir {
            let file = dir.join(format!(
                "{}.p{p}.{}.wav",
                track.stem,
                label.replace(' ', "+")
            ));
            write_wav_as(&file, a, SampleFormat::F32)?;
            verdicts
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(TrialVerdict {
                    file,
                    attack: label.to_string(),
                    stamped: payload.reference(),
                    found: v.markers.iter().map(|m| m.payload.reference()).collect(),
                    seal: v.seal.as_ref().map(|s| s.status),
                    change: v.change.clone(),
                });
        }
        Ok(trial)
    };
    let trial = |a: &Audio| measure(&verify_opts, payload, &coded, a).map(|(t, _)| t);
    // `clips_per_track` clips of `seconds` cut from `source` at seeded offsets;
    // returns the trials and how many clips did not fit.
    let clip_trials = |source: &Audio, seconds: f32, i: usize| {
        let clip = Attack::Clip { seconds };
        let mut trials = Vec::with_capacity(opts.clips_per_track);
        let mut skipped = 0;
        for c in 0..opts.clips_per_track {
            let seed = mix(
                opts.seed,
                &[TAG_CLIP, t as u64, p as u64, i as u64, c as u64],
            );
            match attacks::apply(&clip, source, seed) {
                Ok(a) => trials.push(trial(&a.audio)?),
                Err(AttackError::TooShort { .. }) => skipped += 1,
                Err(e) => return Err(attack_err(&clip, e)),
            }
        }
        Ok((trials, skipped))
    };
    let mut clip_source: Option<Audio> = None;
    let mut rows = Vec::with_capacity(kinds.len());
    for (i, kind) in kinds.iter().enumerate() {
        if matches!(kind, RowKind::Clip(_) | RowKind::AfterMp3(..)) && clip_source.is_none() {
            clip_source = Some(
                attacks::apply(&CLIP_SOURCE, &stamped, 0)
                    .map_err(|e| attack_err(&CLIP_SOURCE, e))?
                    .audio,
            );
        }
        let row = match kind {
            RowKind::Clean => (vec![whole("clean", &stamped)?], 0),
            RowKind::Full(attack) => {
                let seed = mix(opts.seed, &[TAG_ATTACK, t as u64, p as u64, i as u64]);
                let attacked = attacks::apply(attack, &stamped, seed)
                    .map_err(|e| attack_err(attack, e))?
                    .audio;
                let tr = whole(&kind.label(), &attacked)?;
                if *attack == CLIP_SOURCE && clip_source.is_none() {
                    clip_source = Some(attacked);
                }
                (vec![tr], 0)
            }
            RowKind::AfterMp3(attack, clip) => {
                let source = clip_source.as_ref().expect("set above");
                let seed = mix(opts.seed, &[TAG_ATTACK, t as u64, p as u64, i as u64]);
                let attacked = attacks::apply(attack, source, seed)
                    .map_err(|e| attack_err(attack, e))?
                    .audio;
                match clip {
                    None => (vec![whole(&kind.label(), &attacked)?], 0),
                    Some(seconds) => clip_trials(&attacked, *seconds, i)?,
                }
            }
            RowKind::Clip(seconds) => {
                let source = clip_source.as_ref().expect("set above");
                clip_trials(source, *seconds, i)?
            }
        };
        rows.push(row);
    }
    Ok(Job {
        track: t,
        snr_db,
        odg,
        active_fraction: stats.active_fraction(),
        mean_beta: stats.mean_beta,
        rows,
        verdicts: verdicts.into_inner().unwrap_or_else(|e| e.into_inner()),
    })
}

/// Verifies `audio` with the engine and scores the verdict against
/// `payload` (`coded`: its coded bits, for the raw bit error rate).
fn measure(
    opts: &VerifyOptions,
    payload: earmark::Payload,
    coded: &[u8],
    audio: &Audio,
) -> Result<(Trial, Verification), ReportError> {
    let (v, detect_ms) = timed_verify(opts, audio)?;
    let raw_ber = v.diagnostics.best.as_ref().map_or(0.5, |b| {
        let wrong = b
            .soft
            .iter()
            .zip(coded.iter())
            .filter(|(s, &c)| (**s > 0.0) != (c == 1))
            .count();
        wrong as f64 / coded.len() as f64
    });
    let trial = Trial {
        recovered: v.markers.iter().any(|m| m.payload == payload),
        false_payloads: v.markers.iter().filter(|m| m.payload != payload).count(),
        raw_ber,
        detect_ms,
        seconds: audio.duration_secs(),
        sync_z: f64::from(v.best_sync_z),
    };
    Ok((trial, v))
}

/// Verifies `audio` with the engine, timing it (milliseconds).
fn timed_verify(opts: &VerifyOptions, audio: &Audio) -> Result<(Verification, f64), ReportError> {
    let start = Instant::now();
    let v = engine::verify(audio, opts).map_err(|error| ReportError::Engine {
        path: PathBuf::from("(attacked audio)"),
        error: error.to_string(),
    })?;
    Ok((v, start.elapsed().as_secs_f64() * 1e3))
}

/// Writes `audio` as a 16-bit WAV.
fn write_wav(path: &Path, audio: &Audio) -> Result<(), ReportError> {
    write_wav_as(path, audio, SampleFormat::I16)
}

/// Writes `audio` as a WAV of `format`.
fn write_wav_as(path: &Path, audio: &Audio, format: SampleFormat) -> Result<(), ReportError> {
    engine::write_wav(path, audio, format).map_err(|error| ReportError::Write {
        path: path.to_path_buf(),
        error,
    })
}

/// The false-positive measurement (see [`FpRow`]).
fn false_positives(opts: &RobustnessOptions, tracks: &[Track]) -> Result<FpRow, ReportError> {
    let mut row = FpRow {
        windows: 0,
        keys: 0,
        windows_per_key: 0,
        window_seconds: FP_WINDOW_SECONDS,
        hop_seconds: FP_HOP_SECONDS,
        false_payloads: 0,
        false_windows: 0,
        max_sync_z: 0.0,
        mean_sync_z: 0.0,
        mean_analyses: 0.0,
        max_analyses: 0,
        mean_crc_checks: 0.0,
        max_crc_checks: 0,
        crc_bound_per_window: 0.0,
        worst_case_bound_per_window: 0.0,
        mean_detect_ms: 0.0,
        max_detect_ms: 0.0,
    };
    if opts.fp_windows == 0 {
        return Ok(row);
    }
    // Unmarked material: every original and its MP3-128 copy.
    let sources: Vec<Audio> = tracks
        .par_iter()
        .map(|t| {
            attacks::apply(&CLIP_SOURCE, &t.audio, 0)
                .map(|a| a.audio)
                .map_err(|error| ReportError::Attack {
                    path: t.path.clone(),
                    attack: CLIP_SOURCE.name(),
                    error,
                })
        })
        .collect::<Result<_, _>>()?;
    let sources: Vec<&Audio> = tracks.iter().map(|t| &t.audio).chain(&sources).collect();
    // (source, first frame, frames) of every window.
    let mut windows = Vec::new();
    for (s, a) in sources.iter().enumerate() {
        let rate = f64::from(a.sample_rate);
        let len = (FP_WINDOW_SECONDS * rate).round() as usize;
        let hop = ((FP_HOP_SECONDS * rate).round() as usize).max(1);
        let mut start = 0;
        while len > 0 && start + len <= a.frames() {
            windows.push((s, start, len));
            start += hop;
        }
    }
    if windows.is_empty() {
        return Ok(row);
    }
    let keys_needed = opts.fp_windows.div_ceil(windows.len());
    let keys: Vec<WatermarkKey> = (0..keys_needed)
        .map(|k| {
            if k == 0 {
                WatermarkKey::public()
            } else {
                WatermarkKey::from_bytes(format!("fp-key-{k}").as_bytes())
            }
        })
        .collect();
    let work: Vec<(usize, usize)> = (0..opts.fp_windows)
        .map(|i| (i / windows.len(), i % windows.len()))
        .collect();
    // (payloads, best sync z, analyses, CRC checks, detect ms) per window.
    let results: Vec<(usize, f64, usize, usize, f64)> = work
        .par_iter()
        .map(|&(k, w)| {
            let (s, start, len) = windows[w];
            let a = sources[s];
            let ch = usize::from(a.channels);
            let window = Audio {
                samples: a.samples[start * ch..(start + len) * ch].to_vec(),
                sample_rate: a.sample_rate,
                channels: a.channels,
            };
            // What `verify` does: plain detection, then the scale search.
            let (v, ms) = timed_verify(&verify_options(&keys[k]), &window)?;
            Ok((
                v.markers.len(),
                f64::from(v.best_sync_z),
                v.diagnostics.analyses,
                v.diagnostics.crc_checks,
                ms,
            ))
        })
        .collect::<Result<_, ReportError>>()?;
    let n = results.len() as f64;
    row.windows = results.len();
    row.keys = keys.len();
    row.windows_per_key = windows.len();
    row.false_payloads = results.iter().map(|r| r.0).sum();
    row.false_windows = results.iter().filter(|r| r.0 > 0).count();
    row.max_sync_z = results
        .iter()
        .map(|r| r.1)
        .fold(f64::NEG_INFINITY, f64::max);
    row.mean_sync_z = results.iter().map(|r| r.1).sum::<f64>() / n;
    row.mean_analyses = results.iter().map(|r| r.2 as f64).sum::<f64>() / n;
    row.max_analyses = results.iter().map(|r| r.2).max().unwrap_or(0);
    row.mean_crc_checks = results.iter().map(|r| r.3 as f64).sum::<f64>() / n;
    row.max_crc_checks = results.iter().map(|r| r.3).max().unwrap_or(0);
    row.crc_bound_per_window = row.mean_crc_checks / 2f64.powi(32);
    row.worst_case_bound_per_window =
        DECODES_PER_ANALYSIS * row.max_analyses as f64 / 2f64.powi(32);
    row.mean_detect_ms = results.iter().map(|r| r.4).sum::<f64>() / n;
    row.max_detect_ms = results.iter().map(|r| r.4).fold(0.0, f64::max);
    Ok(row)
}

/// Sums the jobs' trials per row.
fn aggregate_rows(kinds: &[RowKind], jobs: &[Job]) -> Vec<AttackRow> {
    kinds
        .iter()
        .enumerate()
        .map(|(i, kind)| {
            let trials: Vec<&Trial> = jobs.iter().flat_map(|j| &j.rows[i].0).collect();
            let skipped = jobs.iter().map(|j| j.rows[i].1).sum();
            let n = trials.len();
            let mean = |f: fn(&Trial) -> f64| {
                if n == 0 {
                    0.0
                } else {
                    trials.iter().map(|t| f(t)).sum::<f64>() / n as f64
                }
            };
            let max = |f: fn(&Trial) -> f64| trials.iter().map(|t| f(t)).fold(0.0, f64::max);
            let recovered = trials.iter().filter(|t| t.recovered).count();
            AttackRow {
                attack: kind.label(),
                trials: n,
                recovered,
                rate: if n == 0 {
                    0.0
                } else {
                    recovered as f64 / n as f64
                },
                mean_raw_ber: mean(|t| t.raw_ber),
                max_raw_ber: max(|t| t.raw_ber),
                mean_detect_ms: mean(|t| t.detect_ms),
                max_detect_ms: max(|t| t.detect_ms),
                mean_seconds: mean(|t| t.seconds),
                false_payloads: trials.iter().map(|t| t.false_payloads).sum(),
                mean_sync_z: mean(|t| t.sync_z),
                min_sync_z: if n == 0 {
                    0.0
                } else {
                    trials
                        .iter()
                        .map(|t| t.sync_z)
                        .fold(f64::INFINITY, f64::min)
                },
                skipped,
            }
        })
        .collect()
}

/// Per-track summaries.
fn aggregate_tracks(tracks: &[Track], jobs: &[Job]) -> Vec<TrackRow> {
    tracks
        .iter()
        .enumerate()
        .map(|(t, track)| {
            let mine: Vec<&Job> = jobs.iter().filter(|j| j.track == t).collect();
            let n = mine.len().max(1) as f64;
            let trials = || mine.iter().flat_map(|j| j.rows.iter().flat_map(|r| &r.0));
            TrackRow {
                name: track.name.clone(),
                path: track.path.display().to_string(),
                seconds: track.audio.duration_secs(),
                sample_rate: track.audio.sample_rate,
                channels: track.audio.channels,
                snr_db: mine.iter().map(|j| j.snr_db).sum::<f64>() / n,
                min_snr_db: mine.iter().map(|j| j.snr_db).fold(f64::INFINITY, f64::min),
                odg: mine.iter().find_map(|j| j.odg),
                active_fraction: mine.iter().map(|j| j.active_fraction).sum::<f64>() / n,
                mean_beta: mine.iter().map(|j| j.mean_beta).sum::<f64>() / n,
                trials: trials().count(),
                recovered: trials().filter(|t| t.recovered).count(),
                false_payloads: trials().map(|t| t.false_payloads).sum(),
            }
        })
        .collect()
}

impl RobustnessReport {
    /// Writes the attack, track and false-positive tables.
    fn write_main(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.rows.is_empty() {
            self.write_attacks(f)?;
        }
        self.write_tracks(f)?;
        if !self.info.quality_only {
            self.write_false_positives(f)?;
        }
        Ok(())
    }

    /// Writes the attack table.
    fn write_attacks(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = self
            .rows
            .iter()
            .map(|r| r.attack.len())
            .chain(["attack".len()])
            .max()
            .unwrap_or(6);
        writeln!(
            f,
            "{:<w$}  {:>6}  {:>9}  {:>7}  {:>8}  {:>7}  {:>8}  {:>8}  {:>6}  {:>6}  {:>5}",
            "attack",
            "trials",
            "recovered",
            "rate",
            "BER mean",
            "BER max",
            "det ms",
            "det max",
            "z mean",
            "z min",
            "false"
        )?;
        writeln!(f, "{}", "-".repeat(w + 92))?;
        for r in &self.rows {
            writeln!(
                f,
                "{:<w$}  {:>6}  {:>9}  {:>6.1}%  {:>8.4}  {:>7.4}  {:>8.1}  {:>8.1}  {:>6.1}  {:>6.1}  {:>5}",
                r.attack,
                r.trials,
                r.recovered,
                100.0 * r.rate,
                r.mean_raw_ber,
                r.max_raw_ber,
                r.mean_detect_ms,
                r.max_detect_ms,
                r.mean_sync_z,
                r.min_sync_z,
                r.false_payloads
            )?;
        }
        for r in self.rows.iter().filter(|r| r.skipped > 0) {
            writeln!(
                f,
                "note: {}: {} trial(s) skipped (track shorter than the clip)",
                r.attack, r.skipped
            )?;
        }
        writeln!(
            f,
            "(BER: raw coded-bit error rate of the best candidate before error correction; \
             det: detector wall time per trial, ms; z: sync z-score)"
        )?;
        writeln!(f)
    }

    /// Writes the track table (with PEAQ ODG when scored).
    fn write_tracks(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.info;
        let w = self
            .tracks
            .iter()
            .map(|t| t.name.len())
            .chain(["track".len()])
            .max()
            .unwrap_or(5);
        writeln!(
            f,
            "{:<w$}  {:>7}  {:>6}  {:>2}  {:>7}  {:>7}  {:>6}  {:>6}  {:>6}  {:>11}  {:>5}",
            "track",
            "seconds",
            "rate",
            "ch",
            "SNR dB",
            "min SNR",
            "ODG",
            "active",
            "beta",
            "recovered",
            "false"
        )?;
        writeln!(f, "{}", "-".repeat(w + 87))?;
        for t in &self.tracks {
            writeln!(
                f,
                "{:<w$}  {:>7.1}  {:>6}  {:>2}  {:>7.1}  {:>7.1}  {:>6}  {:>5.0}%  {:>6.3}  {:>11}  {:>5}",
                t.name,
                t.seconds,
                t.sample_rate,
                t.channels,
                t.snr_db,
                t.min_snr_db,
                t.odg.map_or("-".to_string(), |o| format!("{o:+.3}")),
                100.0 * t.active_fraction,
                t.mean_beta,
                format!("{}/{}", t.recovered, t.trials),
                t.false_payloads
            )?;
        }
        match &i.stamped_dir {
            Some(dir) => writeln!(
                f,
                "(stamped and original WAVs in {dir}; ViSQOL MOS-LQO: scripts/robustness-report.sh)"
            )?,
            None => writeln!(
                f,
                "(ViSQOL MOS-LQO: run scripts/robustness-report.sh, which writes and scores the stamped WAVs)"
            )?,
        }
        match &i.peaq {
            Some(program) => writeln!(
                f,
                "(ODG: PEAQ advanced model, {program}, first payload's stamp against the \
                 original; an identical pair scores about +0.2)"
            )?,
            None => writeln!(
                f,
                "(ODG: not scored; --peaq PATH scores with GstPEAQ, see the README)"
            )?,
        }
        writeln!(f)
    }

    /// Writes the false-positive measurement.
    fn write_false_positives(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // False positives.
        let fp = &self.fp;
        if fp.windows == 0 {
            writeln!(f, "false positives: not measured")?;
        } else {
            writeln!(
                f,
                "false positives: {} false payload(s) in {} window analyses ({} window(s) hit)",
                fp.false_payloads, fp.windows, fp.false_windows
            )?;
            writeln!(
                f,
                "  unmarked audio: {} windows of {} s every {} s (originals and their mp3-128 \
                 copies) x {} key(s) (public, fp-key-1, ...)",
                fp.windows_per_key, fp.window_seconds, fp.hop_seconds, fp.keys
            )?;
            writeln!(
                f,
                "  sync z of best candidate: max {:.2}, mean {:.2}",
                fp.max_sync_z, fp.mean_sync_z
            )?;
            writeln!(
                f,
                "  detect time per window: mean {:.1} ms, max {:.1} ms",
                fp.mean_detect_ms, fp.max_detect_ms
            )?;
            writeln!(
                f,
                "  false-payload probability per window = {:.1e} (CRC-32: mean {:.3} CRC \
                 checks per window (max {}) x 2^-32)",
                fp.crc_bound_per_window, fp.mean_crc_checks, fp.max_crc_checks
            )?;
            writeln!(
                f,
                "  worst case if every candidate were decoded: {:.1e} ({} analyses x {} \
                 decodes x 2^-32)",
                fp.worst_case_bound_per_window, fp.max_analyses, DECODES_PER_ANALYSIS
            )?;
        }
        writeln!(f)?;
        Ok(())
    }
}

impl fmt::Display for RobustnessReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.info;
        writeln!(
            f,
            "earmark robustness report: {} track(s) x {} payload(s), {} clip(s) per length, \
             key {}, strength {}, seed {}, {} thread(s), {:.0} s",
            i.tracks,
            i.payloads_per_track,
            i.clips_per_track,
            i.key_id,
            i.strength,
            i.seed,
            i.threads,
            i.elapsed_seconds
        )?;
        writeln!(f)?;
        // The main rows (absent in a seal-only run).
        if !self.tracks.is_empty() {
            self.write_main(f)?;
        }
        match &self.seal {
            Some(section) => section.write_table(f)?,
            None if i.quality_only => {}
            None => writeln!(
                f,
                "seal: no track of at least {SEAL_MIN_SECONDS:.0} s (full-length tracks: \
                 scripts/fetch-full-tracks.sh, then earmark robustness target/full-tracks --seal-only)"
            )?,
        }
        writeln!(f)?;
        // Requirements.
        writeln!(f, "requirements:")?;
        let w = self
            .checks
            .iter()
            .map(|c| c.requirement.len())
            .max()
            .unwrap_or(0);
        for c in &self.checks {
            writeln!(
                f,
                "  {}  {:<w$}  {}",
                if c.pass { "PASS" } else { "FAIL" },
                c.requirement,
                c.measured
            )?;
        }
        let passed = self.checks.iter().filter(|c| c.pass).count();
        write!(
            f,
            "result: {} ({passed}/{} requirements met)",
            if self.passed() { "PASS" } else { "FAIL" },
            self.checks.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEST_AUDIO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../test-audio");

    /// Writes a `seconds`-long excerpt of a real test track to `dir` as WAV.
    fn excerpt(dir: &Path, seconds: f64) -> PathBuf {
        let a = audio::decode_file(&Path::new(TEST_AUDIO).join("rock-openarena-oa02.ogg"))
            .expect("test track decodes");
        let ch = usize::from(a.channels);
        let start = 4 * a.sample_rate as usize;
        let len = (seconds * f64::from(a.sample_rate)) as usize;
        let cut = Audio {
            samples: a.samples[start * ch..(start + len) * ch].to_vec(),
            sample_rate: a.sample_rate,
            channels: a.channels,
        };
        let path = dir.join("excerpt.wav");
        write_wav(&path, &cut).expect("excerpt written");
        path
    }

    #[test]
    fn tiny_run_has_every_row_and_renders() {
        let dir = tempfile::tempdir().unwrap();
        let track = excerpt(dir.path(), 6.0);
        let stamped = dir.path().join("stamped");
        let opts = RobustnessOptions {
            payloads_per_track: 1,
            clips_per_track: 1,
            clip_seconds: vec![10.0, 5.0],
            attacks: Some(vec![Attack::Gain { db: -10.0 }]),
            fp_windows: 6,
            stamped_dir: Some(stamped.clone()),
            threads: 2,
            ..RobustnessOptions::new(vec![track])
        };
        let report = run(&opts).unwrap();
        let labels: Vec<&str> = report.rows.iter().map(|r| r.attack.as_str()).collect();
        assert_eq!(
            labels,
            ["clean", "gain-10db", "mp3-128 clip-10s", "mp3-128 clip-5s"]
        );
        assert_eq!(report.rows[0].trials, 1);
        assert_eq!(report.rows[1].trials, 1);
        // The 6 s excerpt is too short for a 10 s clip.
        assert_eq!((report.rows[2].trials, report.rows[2].skipped), (0, 1));
        assert_eq!((report.rows[3].trials, report.rows[3].skipped), (1, 0));
        for r in &report.rows {
            assert!(r.recovered <= r.trials);
            assert!((0.0..=1.0).contains(&r.mean_raw_ber));
        }
        assert_eq!(report.tracks.len(), 1);
        let t = &report.tracks[0];
        assert_eq!(
            (t.name.as_str(), t.channels, t.trials),
            ("excerpt.wav", 2, 3)
        );
        assert!((t.seconds - 6.0).abs() < 0.01);
        assert!(t.snr_db.is_finite() && t.snr_db > 0.0);
        // Windows: 2 per version (0-5 s, 1-6 s), original and mp3 copy.
        assert_eq!(report.fp.windows_per_key, 4);
        assert_eq!((report.fp.windows, report.fp.keys), (6, 2));
        assert!(report.fp.worst_case_bound_per_window > 0.0);
        assert!(report.fp.crc_bound_per_window <= report.fp.worst_case_bound_per_window);
        assert!(report.fp.max_detect_ms >= report.fp.mean_detect_ms);
        // Restricted attacks and few windows cannot pass.
        assert!(!report.passed());
        assert!(stamped.join("excerpt.orig.wav").is_file());
        assert!(stamped.join("excerpt.stamped.wav").is_file());
        let back = audio::decode_file(&stamped.join("excerpt.stamped.wav")).unwrap();
        assert_eq!(back.frames(), 6 * 44_100);

        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["rows"].as_array().unwrap().len(), 4);
        assert_eq!(json["fp"]["windows"], 6);
        let text = report.to_string();
        for needle in [
            "attack",
            "trials",
            "BER mean",
            "track",
            "SNR dB",
            "false positives",
            "requirements:",
            "FAIL",
            "result: FAIL",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
    }

    #[test]
    fn decode_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.wav");
        std::fs::write(&bad, b"definitely not audio").unwrap();
        let err = run(&RobustnessOptions::new(vec![bad.clone()])).unwrap_err();
        assert!(matches!(err, ReportError::Decode { .. }));
        assert!(
            err.to_string().starts_with(&bad.display().to_string()),
            "{err}"
        );
        let missing = dir.path().join("missing.ogg");
        let err = run(&RobustnessOptions::new(vec![missing.clone()])).unwrap_err();
        assert!(err.to_string().contains("missing.ogg"), "{err}");
        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        let err = run(&RobustnessOptions::new(vec![empty])).unwrap_err();
        assert!(matches!(err, ReportError::NoTracks));
    }

    #[test]
    fn folders_are_scanned_for_audio_only() {
        let found = find_tracks(&[PathBuf::from(TEST_AUDIO)]).unwrap();
        assert!(!found.is_empty());
        assert!(found.windows(2).all(|w| w[0] < w[1]), "sorted");
        for p in &found {
            assert_eq!(p.extension().unwrap(), "ogg", "{}", p.display());
            assert_eq!(p.parent().unwrap(), Path::new(TEST_AUDIO), "not recursive");
        }
        // Explicit files are kept even without an audio extension; duplicates drop.
        let md = PathBuf::from(TEST_AUDIO).join("SOURCES.md");
        let again = find_tracks(&[md.clone(), PathBuf::from(TEST_AUDIO), md.clone()]).unwrap();
        assert_eq!(again.len(), found.len() + 1);
        assert_eq!(again[0], md);
    }

    #[test]
    fn checks_require_every_row() {
        let row = |attack: String, trials, recovered| AttackRow {
            attack,
            trials,
            recovered,
            rate: recovered as f64 / trials as f64,
            mean_raw_ber: 0.0,
            max_raw_ber: 0.0,
            mean_detect_ms: 0.0,
            max_detect_ms: 0.0,
            mean_seconds: 0.0,
            false_payloads: 0,
            mean_sync_z: 0.0,
            min_sync_z: 0.0,
            skipped: 0,
        };
        let mut rows = vec![row("clean".into(), 100, 100)];
        rows.extend(
            attacks::standard_suite()
                .iter()
                .map(|a| row(a.name(), 100, 99)),
        );
        rows.push(row(clip_label(10.0), 100, 10));
        rows.push(row(clip_label(5.0), 100, 95));
        let fp = FpRow {
            windows: REQUIRED_FP_WINDOWS,
            keys: 1,
            windows_per_key: REQUIRED_FP_WINDOWS,
            window_seconds: FP_WINDOW_SECONDS,
            hop_seconds: FP_HOP_SECONDS,
            false_payloads: 0,
            false_windows: 0,
            max_sync_z: 3.0,
            mean_sync_z: 1.0,
            mean_analyses: 2.0,
            max_analyses: 2,
            mean_crc_checks: 0.1,
            max_crc_checks: 2,
            crc_bound_per_window: 0.1 / 2f64.powi(32),
            worst_case_bound_per_window: 4.0 / 2f64.powi(32),
            mean_detect_ms: 1.0,
            max_detect_ms: 2.0,
        };
        let info = RunInfo {
            tracks: 1,
            payloads_per_track: 1,
            clips_per_track: 1,
            key_id: "00000000".into(),
            strength: 1.0,
            seed: 0,
            threads: 1,
            stamped_dir: None,
            peaq: None,
            quality_only: false,
            elapsed_seconds: 0.0,
        };
        let report = |rows: Vec<AttackRow>, fp: FpRow| RobustnessReport {
            info: info.clone(),
            checks: RobustnessReport::checks(&rows, &fp),
            rows,
            tracks: Vec::new(),
            fp,
            seal: None,
            verdicts: Vec::new(),
        };
        let good = report(rows.clone(), fp.clone());
        assert!(good.passed(), "{good}");
        // 10 s clips carry no requirement; 5 s clips need 95 %.
        let mut worse = rows.clone();
        worse.last_mut().unwrap().recovered = 94;
        worse.last_mut().unwrap().rate = 0.94;
        assert!(!report(worse, fp.clone()).passed());
        let mut missing = rows.clone();
        missing.retain(|r| r.attack != "mono");
        let r = report(missing, fp.clone());
        assert!(!r.passed());
        assert!(r.checks.iter().any(|c| c.measured == "not run"));
        let mut false_hit = rows.clone();
        false_hit[3].false_payloads = 1;
        assert!(!report(false_hit, fp.clone()).passed());
        let few = FpRow {
            windows: 20,
            ..fp.clone()
        };
        assert!(!report(rows.clone(), few).passed());
        let many_checks = FpRow {
            mean_crc_checks: 5.0,
            crc_bound_per_window: 5.0 / 2f64.powi(32),
            ..fp.clone()
        };
        assert!(!report(rows.clone(), many_checks).passed());
        let fp_hit = FpRow {
            false_payloads: 1,
            ..fp
        };
        let r = report(rows, fp_hit);
        assert!(!r.passed());
        assert!(
            r.to_string()
                .ends_with("result: FAIL (16/17 requirements met)"),
            "{r}"
        );
    }

    #[test]
    fn payloads_and_seeds_are_deterministic_and_distinct() {
        let opts = |seed| RobustnessOptions {
            seed,
            ..RobustnessOptions::default()
        };
        let payload = |seed, t, p| {
            let o = trial_options(&opts(seed), t, p);
            (o.signing_key.public_key().fingerprint32(), o.track_id)
        };
        assert_eq!(payload(7, 1, 2), payload(7, 1, 2));
        assert_ne!(payload(7, 1, 2), payload(7, 2, 1));
        assert_ne!(payload(7, 1, 2), payload(8, 1, 2));
        assert_ne!(mix(0, &[1, 2]), mix(0, &[2, 1]));
    }
    /// The ODG requirements: every track at least -0.10, the mean at least
    /// 0; nothing to check when no track was scored.
    #[test]
    fn quality_checks_follow_the_odg_targets() {
        let row = |name: &str, odg: Option<f64>| TrackRow {
            name: name.into(),
            path: name.into(),
            seconds: 28.0,
            sample_rate: 44_100,
            channels: 2,
            snr_db: 25.0,
            min_snr_db: 25.0,
            odg,
            active_fraction: 1.0,
            mean_beta: 0.2,
            trials: 0,
            recovered: 0,
            false_payloads: 0,
        };
        assert!(RobustnessReport::quality_checks(&[row("a", None)]).is_empty());
        let good = [row("a", Some(0.05)), row("b", Some(-0.04)), row("c", None)];
        let checks = RobustnessReport::quality_checks(&good);
        assert_eq!(checks.len(), 2);
        assert!(checks.iter().all(|c| c.pass), "{checks:?}");
        assert!(checks[0].measured.contains("-0.040 (b)"), "{checks:?}");
        // One track below -0.10 fails the first; a negative mean the second.
        let bad = [row("a", Some(0.15)), row("b", Some(-0.12))];
        let checks = RobustnessReport::quality_checks(&bad);
        assert!(!checks[0].pass && checks[1].pass, "{checks:?}");
        let bad = [row("a", Some(-0.05)), row("b", Some(-0.06))];
        let checks = RobustnessReport::quality_checks(&bad);
        assert!(checks[0].pass && !checks[1].pass, "{checks:?}");
    }
}
