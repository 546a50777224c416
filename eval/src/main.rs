//! `earmark-robustness` (also reachable as `earmark robustness`): stamps real
//! tracks with the earmark engine, attacks them (MP3, Vorbis, resampling,
//! noise, filters, clips, speed/tempo/pitch), verifies them with the same
//! engine and prints how often the marker and the seal survive, plus the
//! false-positive measurement on unmarked audio.
//!
//! Exit codes: 0 every requirement passes, 1 at least one fails, 2 error.

use clap::Parser;
use std::io::Write as _;
use std::path::PathBuf;

/// Stamp real tracks, attack them and report how often the marker survives;
/// also counts false positives on unmarked audio.
#[derive(Debug, Parser)]
#[command(name = "earmark robustness", version, about, long_about = None)]
#[command(after_help = "Exit codes: 0 every requirement passes, 1 a requirement fails, 2 error.")]
struct Args {
    /// Audio files or folders (folders are scanned, not recursively).
    #[arg(default_value = "test-audio")]
    paths: Vec<PathBuf>,
    /// Different payloads stamped into each track.
    #[arg(long, default_value_t = 4)]
    payloads: usize,
    /// Random clips per clip length, track and payload.
    #[arg(long, default_value_t = 20)]
    clips: usize,
    /// Unmarked windows to analyse for false positives.
    #[arg(long, default_value_t = 10_000)]
    fp_windows: usize,
    /// Marker strength to test.
    #[arg(long, default_value_t = 1.0)]
    strength: f32,
    /// Seed for payloads, noise and clip offsets.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write each track's original and stamped audio as WAV here (for ViSQOL).
    #[arg(long)]
    stamped_dir: Option<PathBuf>,
    /// Write every whole-track trial's attacked copy here (32-bit float WAV)
    /// with the report's verdict in the JSON output, to check with
    /// `earmark verify`.
    #[arg(long)]
    attacked_dir: Option<PathBuf>,
    /// Worker threads [default: one per CPU].
    #[arg(long, short = 'j', default_value_t = 0, hide_default_value = true)]
    jobs: usize,
    /// Also attack with speed (x0.95, x1.05), tempo (x0.95, x1.05) and pitch
    /// (-1, +1 semitone) changes, on full tracks, their MP3-128 copies and
    /// 10 s clips of those, found with the scale search `verify` uses.
    #[arg(long)]
    time_scale: bool,
    /// Run only the seal section: whether the signature carried in the audio
    /// is recovered and valid on full-length tracks (at least 2 minutes;
    /// scripts/fetch-full-tracks.sh fetches some) after MP3 and other attacks.
    #[arg(long)]
    seal_only: bool,
    /// Stamp the main rows' trials without the seal, as `earmark stamp
    /// --no-seal` does (to compare; the seal section always uses the seal).
    #[arg(long)]
    no_seal: bool,
    /// GstPEAQ's `peaq` program (PREFIX/bin/peaq, built from its public
    /// source outside this project): score each track's stamp against its
    /// original with PEAQ's advanced model (ODG) and check the inaudibility
    /// requirements.
    #[arg(long, value_name = "PATH")]
    peaq: Option<PathBuf>,
    /// Only stamp each track and measure its quality (SNR, and ODG with
    /// --peaq): no attacks, no false-positive or seal measurement.
    #[arg(long, conflicts_with = "seal_only")]
    quality_only: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

fn main() {
    std::process::exit(run());
}

fn run() -> i32 {
    let a = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    let mut opts = earmark_eval::report::RobustnessOptions::new(a.paths.clone());
    opts.payloads_per_track = a.payloads;
    opts.clips_per_track = a.clips;
    opts.fp_windows = a.fp_windows;
    opts.strength = a.strength;
    opts.seed = a.seed;
    opts.stamped_dir = a.stamped_dir.clone();
    opts.attacked_dir = a.attacked_dir.clone();
    opts.threads = a.jobs;
    opts.progress = !a.json;
    opts.time_scale = a.time_scale;
    opts.seal_only = a.seal_only;
    opts.seal = !a.no_seal;
    opts.peaq = a.peaq.clone();
    opts.quality_only = a.quality_only;
    let report = match earmark_eval::report::run(&opts) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("earmark robustness: {e}");
            return 2;
        }
    };
    let text = if a.json {
        match serde_json::to_string_pretty(&report) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("earmark robustness: {e}");
                return 2;
            }
        }
    } else {
        report.to_string()
    };
    // A closed stdout (`| head`) is not an error worth a panic.
    let _ = writeln!(std::io::stdout(), "{text}");
    if report.passed() {
        0
    } else {
        1
    }
}
