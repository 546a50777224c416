//! Engine speed in memory: embedding, clip verification, full-track
//! verification, and the FLAC writer (earmark's own frame encoder: speed
//! and size), on real audio (44.1 kHz stereo), one thread. Run with
//! `cargo bench --bench engine [CASE]` (cases: embed, verify, flac, decode).
//!
//! Figures exclude decoding and file I/O; `cargo bench --bench pipeline`
//! measures the release binary, everything included.

mod common;
use common::{time_runs, Timing, CHUNK_FRAMES, TRACK};
use earmark::audio::{
    decode_file, Audio, OutputFormat, OutputTags, PcmWriter, SampleFormat, WriterSpec,
};
use earmark::mark::{embed_buffer, Detector, EmbedOptions, Embedder, WatermarkKey};
use earmark::mark::{SealMessage, SealReader};
use std::hint::black_box;
use std::path::Path;

/// Prints one result line: case, median and best time, and the median's
/// speed in x real time.
fn row(case: &str, t: Timing, audio_secs: f64) {
    println!(
        "{:<34} {:>10.1} ms {:>10.1} ms {:>10.0}x rt {:>8.0}x",
        case,
        t.median.as_secs_f64() * 1e3,
        t.best.as_secs_f64() * 1e3,
        audio_secs / t.median.as_secs_f64(),
        audio_secs / t.best.as_secs_f64()
    );
}

fn looped(audio: &Audio, seconds: f64) -> Vec<f32> {
    let ch = usize::from(audio.channels);
    let want = (seconds * f64::from(audio.sample_rate)) as usize * ch;
    audio.samples.iter().copied().cycle().take(want).collect()
}

fn embed_streaming(
    key: &WatermarkKey,
    x: &[f32],
    rate: u32,
    ch: usize,
    options: EmbedOptions,
    out: &mut Vec<f32>,
) {
    let mut e = Embedder::new(key, [1, 2, 3, 4, 5, 6, 7, 8], rate, ch, options);
    out.clear();
    for chunk in x.chunks(CHUNK_FRAMES * ch) {
        e.process(chunk, out);
        // A real writer would consume `out` here; keep the buffer bounded.
        black_box(&out);
        out.clear();
    }
    e.finish(out);
}

fn detect_streaming(key: &WatermarkKey, x: &[f32], rate: u32, ch: usize) -> usize {
    let mut d = Detector::new(key, rate, ch);
    for chunk in x.chunks(CHUNK_FRAMES * ch) {
        d.process(chunk);
    }
    d.finish().detections.len()
}

/// The main detector and the seal reader side by side, as `verify` runs them.
fn detect_and_read_seal(key: &WatermarkKey, x: &[f32], rate: u32, ch: usize) -> bool {
    let mut d = Detector::new(key, rate, ch);
    let mut seal = SealReader::new(rate, ch).expect("44.1 kHz holds the seal");
    for chunk in x.chunks(CHUNK_FRAMES * ch) {
        d.process(chunk);
        seal.process(chunk);
    }
    let report = d.finish();
    let phase = report.best.map_or(0.0, |b| b.phase_seconds);
    seal.finish(key, phase).message.is_some()
}

/// A fixed seal message (the bench measures speed, not signatures).
fn seal_message() -> SealMessage {
    SealMessage {
        signature: [0x5a; 64],
        policy: 1,
    }
}

fn main() {
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let want = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
    let audio = decode_file(Path::new(TRACK)).expect("decode test track");
    let (rate, ch) = (audio.sample_rate, usize::from(audio.channels));
    let key = WatermarkKey::public();
    println!("earmark engine benchmark — {TRACK} ({rate} Hz, {ch} ch), one thread");
    println!(
        "{:<34} {:>13} {:>13} {:>13} {:>9}",
        "case", "median", "best", "speed", "best"
    );

    let x = looped(&audio, 180.0);
    let secs = 180.0;
    if want("embed") {
        let mut out = Vec::new();
        let main_only = EmbedOptions::default();
        let t = time_runs(9, || {
            embed_streaming(&key, &x, rate, ch, main_only, &mut out)
        });
        row("embed 3 min (streamed)", t, secs);
        let sealed = EmbedOptions::default().with_seal(seal_message());
        let t = time_runs(9, || embed_streaming(&key, &x, rate, ch, sealed, &mut out));
        row("embed 3 min + seal (streamed)", t, secs);
    }
    if want("verify") {
        let (marked, _) = embed_buffer(
            &key,
            [1, 2, 3, 4, 5, 6, 7, 8],
            &x,
            rate,
            ch,
            EmbedOptions::default().with_seal(seal_message()),
        );
        let clip = &marked[(37 * rate as usize) * ch..(47 * rate as usize) * ch];
        let t = time_runs(11, || {
            black_box(detect_streaming(&key, clip, rate, ch));
        });
        row("verify 10 s clip", t, 10.0);
        let t = time_runs(5, || {
            black_box(detect_streaming(&key, &marked, rate, ch));
        });
        row("verify 3 min track", t, secs);
        let t = time_runs(5, || {
            assert!(detect_and_read_seal(&key, &marked, rate, ch), "seal read");
        });
        row("verify 3 min track + read seal", t, secs);
    }
    if want("flac") {
        // 120 s, quantised to 16 bits once outside the timing, as `stamp` does.
        let x = looped(&audio, 120.0);
        let mut q = Vec::new();
        earmark::audio::quantize_into(&x, SampleFormat::I16, &mut q);
        let spec = WriterSpec {
            sample_rate: rate,
            channels: audio.channels,
            sample_format: SampleFormat::I16,
        };
        let mut size = 0;
        let t = time_runs(7, || {
            let mut w = PcmWriter::new(
                std::io::Cursor::new(Vec::new()),
                OutputFormat::Flac,
                spec,
                0,
            )
            .expect("writer");
            for chunk in q.chunks(CHUNK_FRAMES * ch) {
                w.write_quantized(chunk).expect("write");
            }
            size = black_box(
                w.finish(&OutputTags::none(OutputFormat::Flac))
                    .expect("finish"),
            )
            .into_inner()
            .len();
        });
        row("FLAC writer 120 s (frames + MD5)", t, 120.0);
        println!(
            "{:<34} {:>10.2} MiB = {:.1} % of the 16-bit PCM",
            "  FLAC size",
            size as f64 / (1024.0 * 1024.0),
            100.0 * size as f64 / (q.len() * 2) as f64
        );
    }
    if want("decode") {
        let t = time_runs(3, || {
            black_box(decode_file(Path::new(TRACK)).unwrap());
        });
        let s = audio.duration_secs();
        row("decode (Vorbis, symphonia) 28 s", t, s);
    }
}
