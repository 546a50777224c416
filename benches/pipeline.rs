//! Pipeline speed and memory: whole-file stamping and verification on real
//! audio (44.1 kHz stereo, 16-bit), decoding and file writing included.
//! Run with `cargo bench --bench pipeline`.
//!
//! Cases (pass a name to run only the cases containing it):
//!
//! * `writer`: the FLAC and WAV writers alone on 3 minutes of samples held in
//!   memory (speed, and the FLAC size against the 16-bit PCM size).
//! * `stamp`: `stamp_file` of a 3-minute WAV to WAV and to FLAC.
//! * `verify`: `verify_file` of the stamped 3-minute FLAC (full track).
//! * `memory` (about a minute on 2 cores; writes 635 MB): the release
//!   `earmark` binary stamps a 1-hour WAV to FLAC in a child process; prints
//!   its peak RSS (budget: 200 MB). Only this case:
//!   `cargo bench --bench pipeline -- memory`; everything but this case:
//!   `EARMARK_BENCH_MEMORY=0 cargo bench --bench pipeline`.
//!
//! Decoding, embedding and hashing run on one thread; FLAC frames are encoded
//! on rayon's pool (`RAYON_NUM_THREADS=1` for a one-thread figure).
//!
//! `cargo bench` builds the `earmark` binary with the bench profile (which
//! inherits `release`) before running a benchmark, and passes its path in
//! `CARGO_BIN_EXE_earmark`, so the memory case needs no separate build.
//!
//! Temporary files go to a folder under `target/` and are deleted at the end.

mod common;
use common::{mb, run_measured, time_runs, write_looped_wav, TempDir, CHUNK_FRAMES, TRACK};
use earmark::audio::{decode_file, Audio, OutputFormat, PcmWriter, SampleFormat, WriterSpec};
use earmark::provenance::SigningKeyPair;
use earmark::{stamp_file, verify_file, StampOptions, VerifyOptions};
use std::hint::black_box;
use std::io::Cursor;
use std::path::Path;
use std::time::{Duration, Instant};

const SHORT_SECS: f64 = 180.0;
const LONG_SECS: f64 = 3600.0;
const RSS_BUDGET_MB: f64 = 200.0;

fn row(case: &str, t: Duration, audio_secs: f64, extra: &str) {
    println!(
        "{:<36} {:>10.3} s {:>10.0}x rt  {}",
        case,
        t.as_secs_f64(),
        audio_secs / t.as_secs_f64(),
        extra
    );
}

/// Encodes `samples` with a `PcmWriter` into memory; returns the byte count.
fn write_in_memory(format: OutputFormat, spec: WriterSpec, samples: &[f32]) -> usize {
    let mut w = PcmWriter::new(Cursor::new(Vec::new()), format, spec).expect("writer");
    for chunk in samples.chunks(CHUNK_FRAMES * usize::from(spec.channels)) {
        w.write_interleaved(chunk).expect("write");
    }
    w.finish(&[]).expect("finish").into_inner().len()
}

fn stamp_options(key: &SigningKeyPair, out: &Path) -> StampOptions {
    let mut o = StampOptions::new(key.clone());
    o.out = Some(out.to_path_buf());
    o.track_id = Some(0x0bad_cafe);
    o.force = true;
    o
}

fn memory_case(audio: &Audio) {
    let dir = TempDir::new("pipeline-bench-memory");
    let big = dir.0.join("BIG.wav");
    let out = dir.0.join("BIG.earmark.flac");
    let key_path = dir.0.join("bench-key.pem");
    std::fs::write(&key_path, SigningKeyPair::generate().to_pem()).expect("write key");
    let t = Instant::now();
    write_looped_wav(audio, LONG_SECS, &big);
    let wav_bytes = std::fs::metadata(&big).map(|m| m.len()).unwrap_or(0);
    println!(
        "{:<36} {:>10.3} s  ({:.0} MiB, streamed)",
        "write 1 h WAV input",
        t.elapsed().as_secs_f64(),
        mb(wav_bytes)
    );
    let exe = Path::new(env!("CARGO_BIN_EXE_earmark"));
    let run = run_measured(
        exe,
        &[
            "stamp".as_ref(),
            big.as_os_str(),
            "--key".as_ref(),
            key_path.as_os_str(),
            "--out".as_ref(),
            out.as_os_str(),
            "--track-id".as_ref(),
            "195939070".as_ref(),
        ],
    );
    let flac_bytes = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
    row(
        "stamp 1 h WAV -> FLAC (binary)",
        run.elapsed,
        LONG_SECS,
        &format!("{:.0} MiB out", mb(flac_bytes)),
    );
    let peak = run.peak_kb as f64 / 1024.0;
    println!(
        "{:<36} {:>10.1} MiB (budget {RSS_BUDGET_MB:.0} MiB: {}; {})",
        "  peak RSS of the child",
        peak,
        if peak < RSS_BUDGET_MB { "ok" } else { "OVER" },
        run.how
    );
    // `dir` is dropped here: the 635 MB input and the output are deleted.
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let filter = args.first().cloned();
    let memory_off = std::env::var_os("EARMARK_BENCH_MEMORY").is_some_and(|v| v == "0");
    let want = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));

    let audio = decode_file(Path::new(TRACK)).expect("decode test track");
    let (rate, ch) = (audio.sample_rate, usize::from(audio.channels));
    println!(
        "earmark pipeline benchmark — {TRACK} looped ({rate} Hz, {ch} ch, 16-bit); \
         FLAC encoding on {} rayon thread(s)",
        rayon::current_num_threads()
    );
    println!("{:<36} {:>12} {:>12}", "case", "median", "speed");

    if want("writer") {
        let want_len = (SHORT_SECS * f64::from(rate)) as usize * ch;
        let x: Vec<f32> = audio
            .samples
            .iter()
            .copied()
            .cycle()
            .take(want_len)
            .collect();
        let spec = WriterSpec {
            sample_rate: rate,
            channels: audio.channels,
            sample_format: SampleFormat::I16,
        };
        let pcm_bytes = x.len() * 2;
        let mut size = 0;
        let t = time_runs(3, || {
            size = black_box(write_in_memory(OutputFormat::Flac, spec, &x))
        })
        .median;
        row(
            "FLAC writer 3 min (in memory)",
            t,
            SHORT_SECS,
            &format!(
                "{:.2} MiB = {:.1}% of PCM",
                mb(size as u64),
                100.0 * size as f64 / pcm_bytes as f64
            ),
        );
        let t = time_runs(3, || {
            black_box(write_in_memory(OutputFormat::Wav, spec, &x));
        })
        .median;
        row("WAV writer 3 min (in memory)", t, SHORT_SECS, "");
    }

    if want("stamp") || want("verify") {
        let dir = TempDir::new("pipeline-bench");
        let input = dir.0.join("input-3min.wav");
        write_looped_wav(&audio, SHORT_SECS, &input);
        let key = SigningKeyPair::generate();
        let wav_out = dir.0.join("out.wav");
        let flac_out = dir.0.join("out.earmark.flac");
        if want("stamp") {
            let t = time_runs(3, || {
                black_box(stamp_file(&input, &stamp_options(&key, &wav_out)).expect("stamp wav"));
            })
            .median;
            row("stamp 3 min WAV -> WAV", t, SHORT_SECS, "");
        }
        let t = time_runs(3, || {
            black_box(stamp_file(&input, &stamp_options(&key, &flac_out)).expect("stamp flac"));
        })
        .median;
        if want("stamp") {
            let size = std::fs::metadata(&flac_out).map(|m| m.len()).unwrap_or(0);
            row(
                "stamp 3 min WAV -> FLAC",
                t,
                SHORT_SECS,
                &format!("{:.2} MiB out", mb(size)),
            );
        }
        if want("verify") {
            let mut marked = false;
            let t = time_runs(3, || {
                let v = verify_file(&flac_out, &VerifyOptions::default()).expect("verify");
                marked = v.marked;
                black_box(v);
            })
            .median;
            row(
                "verify 3 min FLAC (decode incl.)",
                t,
                SHORT_SECS,
                if marked {
                    "marker found"
                } else {
                    "MARKER NOT FOUND"
                },
            );
        }
    }

    if want("memory") {
        if memory_off {
            println!(
                "(1-hour peak-RSS case skipped by EARMARK_BENCH_MEMORY=0; \
                 run it alone with `cargo bench --bench pipeline -- memory`)"
            );
        } else {
            memory_case(&audio);
        }
    }
}
