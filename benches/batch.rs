//! Whole-catalogue speed and memory: the release `earmark` binary stamps 40
//! real 30-second tracks (the test-audio excerpts, looped from different
//! offsets) with `-j 1` and with `-j 2`, under `/usr/bin/time -v`, and then
//! verifies a folder of 200 ten-second clips of the stamped tracks.
//! Run with `cargo bench --bench batch`; it writes about 600 MB under
//! `target/` and deletes it at the end.

mod common;
use common::{mb, run_measured, write_looped_wav, TempDir};
use earmark::audio::{decode_file, Audio, OutputFormat, PcmWriter, SampleFormat, WriterSpec};
use earmark::provenance::SigningKeyPair;
use std::path::Path;

const TRACKS: usize = 40;
const TRACK_SECS: f64 = 30.0;
const CLIPS: usize = 200;
const CLIP_SECS: f64 = 10.0;

fn rotate(audio: &Audio, offset_secs: f64) -> Audio {
    let ch = usize::from(audio.channels);
    let frames = audio.samples.len() / ch;
    let start = ((offset_secs * f64::from(audio.sample_rate)) as usize % frames) * ch;
    let mut samples = audio.samples[start..].to_vec();
    samples.extend_from_slice(&audio.samples[..start]);
    Audio {
        samples,
        ..audio.clone()
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut sources: Vec<_> = std::fs::read_dir(root.join("test-audio"))
        .expect("test-audio")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "ogg"))
        .collect();
    sources.sort();
    let audio: Vec<Audio> = sources
        .iter()
        .map(|p| decode_file(p).expect("decode"))
        .collect();
    let dir = TempDir::new("batch-bench");
    let lib = dir.0.join("lib");
    for i in 0..TRACKS {
        let a = rotate(&audio[i % audio.len()], i as f64 * 1.3);
        let sub = lib.join(format!("disc{}", i % 4));
        std::fs::create_dir_all(&sub).expect("mkdir");
        write_looped_wav(&a, TRACK_SECS, &sub.join(format!("track{i:02}.wav")));
    }
    let key = dir.0.join("label.pem");
    std::fs::write(&key, SigningKeyPair::generate().to_pem()).expect("key");
    let exe = Path::new(env!("CARGO_BIN_EXE_earmark"));
    let audio_secs = TRACKS as f64 * TRACK_SECS;
    println!(
        "earmark batch benchmark — {TRACKS} real tracks of {TRACK_SECS:.0} s (44.1/48 kHz), WAV in, FLAC out"
    );
    println!(
        "{:<28} {:>9} {:>10} {:>11} {:>12}",
        "case", "wall", "files/s", "x realtime", "peak RSS"
    );
    let mut walls = Vec::new();
    for jobs in [1, 2] {
        let out = dir.0.join(format!("out-j{jobs}"));
        let run = run_measured(
            exe,
            &[
                "stamp".as_ref(),
                lib.as_os_str(),
                "--key".as_ref(),
                key.as_os_str(),
                "--out-dir".as_ref(),
                out.as_os_str(),
                "-j".as_ref(),
                jobs.to_string().as_ref(),
                "--quiet".as_ref(),
            ],
        );
        let t = run.elapsed.as_secs_f64();
        walls.push(t);
        println!(
            "{:<28} {:>7.1} s {:>10.2} {:>10.0}x {:>8.1} MiB",
            format!("stamp -j {jobs}"),
            t,
            TRACKS as f64 / t,
            audio_secs / t,
            run.peak_kb as f64 / 1024.0
        );
    }
    println!(
        "{:<28} {:>9.2}x  (target >= 1.9x)",
        "speed-up -j 2 over -j 1",
        walls[0] / walls[1]
    );

    // 200 ten-second clips of the stamped tracks, as 16-bit WAV.
    let clips = dir.0.join("clips");
    std::fs::create_dir_all(&clips).expect("mkdir");
    let mut outputs: Vec<_> = walk(&dir.0.join("out-j2"))
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".earmark.flac"))
        .collect();
    outputs.sort();
    let mut bytes = 0u64;
    for (i, chunk) in (0..CLIPS)
        .collect::<Vec<_>>()
        .chunks(CLIPS / outputs.len().max(1) + 1)
        .enumerate()
    {
        let stamped = decode_file(&outputs[i % outputs.len()]).expect("decode stamped");
        let ch = usize::from(stamped.channels);
        let frames = stamped.samples.len() / ch;
        let len = (CLIP_SECS * f64::from(stamped.sample_rate)) as usize;
        for (k, &n) in chunk.iter().enumerate() {
            let start = (k * len / 3) % (frames - len);
            let spec = WriterSpec {
                sample_rate: stamped.sample_rate,
                channels: stamped.channels,
                sample_format: SampleFormat::I16,
            };
            let path = clips.join(format!("clip{n:03}.wav"));
            let mut w = PcmWriter::create(&path, OutputFormat::Wav, spec).expect("clip");
            w.write_interleaved(&stamped.samples[start * ch..(start + len) * ch])
                .expect("write clip");
            w.finish(&earmark::audio::OutputTags::none(OutputFormat::Wav))
                .expect("finish clip");
            bytes += std::fs::metadata(&path).map_or(0, |m| m.len());
        }
    }
    let run = run_measured(
        exe,
        &[
            "verify".as_ref(),
            clips.as_os_str(),
            "--quiet".as_ref(),
            "--json".as_ref(),
        ],
    );
    let t = run.elapsed.as_secs_f64();
    println!(
        "{:<28} {:>7.1} s {:>10.1} {:>10.0}x {:>8.1} MiB  ({CLIPS} clips, {:.0} MiB)",
        "verify 200 x 10 s clips",
        t,
        CLIPS as f64 / t,
        CLIPS as f64 * CLIP_SECS / t,
        run.peak_kb as f64 / 1024.0,
        mb(bytes)
    );
    println!("(peak RSS via {})", run.how);
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
