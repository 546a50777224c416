//! Integration tests for audio I/O: bit-exact round trips through symphonia,
//! tags, the PCM hash, fixtures, and hostile inputs.

mod common;

use std::io::{Cursor, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use earmark::audio::{
    decode_bytes, decode_file, quantize, AudioError, AudioReader, OutputFormat, OutputTags,
    PcmHasher, PcmWriter, SampleFormat, WriterSpec,
};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/test-audio/formats");

/// Deterministic test signal: tones, noise, silence, and out-of-range peaks.
fn signal(frames: usize, channels: u16, seed: u64) -> Vec<f32> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut noise = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    };
    let mut out = Vec::with_capacity(frames * usize::from(channels));
    for i in 0..frames {
        for c in 0..channels {
            let t = i as f32 / 44_100.0;
            let x = match (i / 5000) % 4 {
                0 => 0.6 * (t * 440.0 * (c as f32 + 1.0) * std::f32::consts::TAU).sin(),
                1 => 0.3 * noise(),
                2 => 0.0,
                _ => 1.3 * (t * 97.0 * std::f32::consts::TAU).sin() + 0.01 * noise(),
            };
            out.push(x);
        }
    }
    if let Some(first) = out.first_mut() {
        *first = 1.0;
    }
    if out.len() > 1 {
        out[1] = -1.0;
    }
    out
}

fn spec(rate: u32, channels: u16, fmt: SampleFormat) -> WriterSpec {
    WriterSpec {
        sample_rate: rate,
        channels,
        sample_format: fmt,
    }
}

/// Writes `samples` in uneven slices (some ending mid-frame) to memory.
fn write_mem(
    format: OutputFormat,
    spec: WriterSpec,
    samples: &[f32],
    tags: &OutputTags,
) -> Vec<u8> {
    let mut w = PcmWriter::new(Cursor::new(Vec::new()), format, spec, tags.flac_len()).unwrap();
    let mut rest = samples;
    let mut step = 1;
    while !rest.is_empty() {
        let n = step.min(rest.len());
        w.write_interleaved(&rest[..n]).unwrap();
        rest = &rest[n..];
        step = step * 3 + 7;
    }
    w.finish(tags).unwrap().into_inner()
}

/// The value a decoder must return for `x` written as `fmt`.
fn expected(x: f32, fmt: SampleFormat) -> f32 {
    match fmt {
        SampleFormat::I16 => quantize(x, fmt) as f32 / 32_768.0,
        SampleFormat::I24 => quantize(x, fmt) as f32 / 8_388_608.0,
        SampleFormat::F32 => x,
    }
}

fn assert_roundtrip(format: OutputFormat, ws: WriterSpec, frames: usize) {
    let x = signal(frames, ws.channels, frames as u64 + u64::from(ws.channels));
    let bytes = write_mem(format, ws, &x, &OutputTags::none(format));
    let eff = ws.effective_for(format);
    let mut reader = AudioReader::from_bytes(bytes, Some(format.extension())).unwrap();
    let rs = reader.spec().clone();
    assert_eq!(rs.sample_rate, ws.sample_rate);
    assert_eq!(rs.channels, ws.channels);
    assert_eq!(rs.sample_format, eff.sample_format, "{format:?} {ws:?}");
    assert_eq!(rs.frames, Some(frames as u64));
    let mut got = Vec::new();
    let mut chunk = Vec::new();
    while reader.read_chunk(&mut chunk).unwrap() > 0 {
        got.extend_from_slice(&chunk);
    }
    assert_eq!(reader.skipped_packets(), 0);
    assert_eq!(got.len(), x.len(), "{format:?} {ws:?} frames={frames}");
    for (i, (&a, &b)) in x.iter().zip(&got).enumerate() {
        let e = expected(a, eff.sample_format);
        assert!(
            e.to_bits() == b.to_bits(),
            "{format:?} {ws:?} frames={frames}: sample {i}: wrote {a}, expected {e}, got {b}"
        );
    }
}

#[test]
fn wav_roundtrips_bit_exact() {
    for fmt in [SampleFormat::I16, SampleFormat::I24, SampleFormat::F32] {
        for (rate, ch, frames) in [
            (44_100, 2, 44_100 * 3 + 17),
            (48_000, 1, 4_097),
            (48_000, 6, 1_001),
            (44_100, 1, 1),
            (44_100, 3, 333),
        ] {
            assert_roundtrip(OutputFormat::Wav, spec(rate, ch, fmt), frames);
        }
    }
}

#[test]
fn flac_roundtrips_bit_exact() {
    for fmt in [SampleFormat::I16, SampleFormat::I24] {
        for (rate, ch, frames) in [
            (44_100, 2, 44_100 * 3 + 17),
            (48_000, 1, 4_096 * 2 + 1),
            (48_000, 6, 4_096 + 15),
            (44_100, 2, 4_096),
            (44_100, 1, 1),
            (44_100, 2, 16),
            (48_000, 8, 5_000),
            (22_050, 1, 3_000),
            (96_000, 2, 10_000),
            (11_025, 1, 700),
        ] {
            assert_roundtrip(OutputFormat::Flac, spec(rate, ch, fmt), frames);
        }
    }
}

/// flacenc 0.5.1 can blow a loud noisy block up to gigabytes; the writer
/// must fall back to verbatim frames and stay near the raw PCM size.
#[test]
fn flac_full_scale_noise_stays_small_and_exact() {
    for fmt in [SampleFormat::I16, SampleFormat::I24] {
        let frames = 3 * 4096 + 100;
        let mut state = 99u64;
        let x: Vec<f32> = (0..frames * 2)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect();
        let ws = spec(48_000, 2, fmt);
        let bytes = write_mem(
            OutputFormat::Flac,
            ws,
            &x,
            &OutputTags::none(OutputFormat::Flac),
        );
        let raw = frames * 2 * usize::from(fmt.bits()) / 8;
        assert!(
            bytes.len() < raw + raw / 20 + 20_000,
            "{fmt:?}: {} bytes",
            bytes.len()
        );
        let audio = decode_bytes(bytes, None).unwrap();
        assert_eq!(audio.samples.len(), x.len());
        for (a, b) in x.iter().zip(&audio.samples) {
            assert_eq!(expected(*a, fmt).to_bits(), b.to_bits());
        }
    }
}

#[test]
fn flac_from_f32_spec_writes_24_bit() {
    let ws = spec(48_000, 2, SampleFormat::F32);
    assert_eq!(
        ws.effective_for(OutputFormat::Flac).sample_format,
        SampleFormat::I24
    );
    let w = PcmWriter::new(Cursor::new(Vec::new()), OutputFormat::Flac, ws, 0).unwrap();
    assert_eq!(w.spec().sample_format, SampleFormat::I24);
    assert_roundtrip(OutputFormat::Flac, ws, 12_345);
}

#[test]
fn writer_respects_start_offset() {
    for format in [OutputFormat::Wav, OutputFormat::Flac] {
        let ws = spec(44_100, 2, SampleFormat::I16);
        let x = signal(5_000, 2, 9);
        let mut cur = Cursor::new(vec![0xAAu8; 100]);
        cur.seek(SeekFrom::End(0)).unwrap();
        let mut w = PcmWriter::new(cur, format, ws, 0).unwrap();
        w.write_interleaved(&x).unwrap();
        let bytes = w.finish(&OutputTags::none(format)).unwrap().into_inner();
        assert!(bytes[..100].iter().all(|&b| b == 0xAA));
        let audio = decode_bytes(bytes[100..].to_vec(), None).unwrap();
        assert_eq!(audio.frames(), 5_000);
    }
}

#[test]
fn slicing_does_not_change_output() {
    for format in [OutputFormat::Wav, OutputFormat::Flac] {
        let ws = spec(44_100, 2, SampleFormat::I24);
        let x = signal(9_999, 2, 3);
        let a = write_mem(format, ws, &x, &OutputTags::none(format));
        let mut w = PcmWriter::new(Cursor::new(Vec::new()), format, ws, 0).unwrap();
        w.write_interleaved(&x).unwrap();
        assert_eq!(w.frames_written(), 9_999);
        let b = w.finish(&OutputTags::none(format)).unwrap().into_inner();
        assert_eq!(a, b, "{format:?}");
    }
}

#[test]
fn incomplete_frame_is_an_error() {
    for format in [OutputFormat::Wav, OutputFormat::Flac] {
        let mut w = PcmWriter::new(
            Cursor::new(Vec::new()),
            format,
            spec(44_100, 2, SampleFormat::I16),
            0,
        )
        .unwrap();
        w.write_interleaved(&[0.1, 0.2, 0.3]).unwrap();
        let err = w.finish(&OutputTags::none(format)).unwrap_err();
        assert!(err.to_string().contains("incomplete final frame"), "{err}");
    }
}

#[test]
fn unsupported_outputs_are_rejected() {
    let c = || Cursor::new(Vec::new());
    for (format, ws) in [
        (OutputFormat::Flac, spec(44_100, 9, SampleFormat::I16)),
        (OutputFormat::Flac, spec(0, 2, SampleFormat::I16)),
        (OutputFormat::Flac, spec(700_000, 2, SampleFormat::I16)),
        (OutputFormat::Wav, spec(44_100, 0, SampleFormat::I16)),
        (OutputFormat::Wav, spec(0, 1, SampleFormat::I16)),
    ] {
        let err = PcmWriter::new(c(), format, ws, 0).unwrap_err();
        assert!(matches!(err, AudioError::UnsupportedOutput(_)), "{err}");
    }
    // Many channels are fine in WAV.
    assert_roundtrip(OutputFormat::Wav, spec(48_000, 12, SampleFormat::I16), 500);
}

#[test]
fn empty_output_is_valid_and_decodes_as_zero_length() {
    for format in [OutputFormat::Wav, OutputFormat::Flac] {
        let bytes = write_mem(
            format,
            spec(44_100, 2, SampleFormat::I16),
            &[],
            &OutputTags::none(format),
        );
        let err = decode_bytes(bytes, None).unwrap_err();
        assert!(matches!(err, AudioError::ZeroLength), "{format:?}: {err}");
        assert_eq!(err.to_string(), "zero-length audio (no samples decoded)");
    }
}

fn hash_of(fmt: &WriterSpec, samples: &[f32]) -> [u8; 32] {
    let mut h = PcmHasher::new(fmt);
    h.update(samples);
    h.finish()
}

#[test]
fn pcm_hash_survives_file_roundtrip_and_detects_one_lsb() {
    let cases = [
        (OutputFormat::Wav, SampleFormat::I16),
        (OutputFormat::Wav, SampleFormat::I24),
        (OutputFormat::Wav, SampleFormat::F32),
        (OutputFormat::Flac, SampleFormat::I16),
        (OutputFormat::Flac, SampleFormat::I24),
        (OutputFormat::Flac, SampleFormat::F32),
    ];
    for (format, fmt) in cases {
        let ws = spec(44_100, 2, fmt);
        let x = signal(20_001, 2, 42);
        let mut w = PcmWriter::new(Cursor::new(Vec::new()), format, ws, 0).unwrap();
        let eff = w.spec();
        let mut hasher = PcmHasher::new(&eff);
        for c in x.chunks(777) {
            w.write_interleaved(c).unwrap();
            hasher.update(c);
        }
        let written = hasher.finish();
        let bytes = w.finish(&OutputTags::none(format)).unwrap().into_inner();
        let decoded = decode_bytes(bytes, None).unwrap();
        assert_eq!(
            hash_of(&eff, &decoded.samples),
            written,
            "{format:?} {fmt:?}"
        );
        // One LSB up on one sample changes the hash.
        let mut y = decoded.samples.clone();
        let i = 12_345;
        y[i] = match eff.sample_format {
            SampleFormat::I16 => (quantize(y[i], SampleFormat::I16) + 1) as f32 / 32_768.0,
            SampleFormat::I24 => (quantize(y[i], SampleFormat::I24) + 1) as f32 / 8_388_608.0,
            SampleFormat::F32 => f32::from_bits(y[i].to_bits() + 1),
        };
        assert_ne!(hash_of(&eff, &y), written, "{format:?} {fmt:?}");
    }
}

/// The declaration and a manifest, serialised for `format`.
fn declaration_tags(format: OutputFormat, manifest: &str) -> OutputTags {
    let decl = earmark::metadata::Declaration::new(Default::default(), Some("Ada"), 2026);
    match format {
        OutputFormat::Flac => OutputTags::Flac(
            earmark::metadata::render_flac_blocks(&decl, Some(manifest), None).unwrap(),
        ),
        OutputFormat::Wav => OutputTags::Wav(
            earmark::metadata::render_wav_chunks(&decl, Some(manifest), None).unwrap(),
        ),
    }
}

#[test]
fn metadata_round_trips_in_wav_and_flac() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = format!("{{\"m\": \"héllo ✓ {}\"}}", "z".repeat(5_000));
    for (format, fmt) in [
        (OutputFormat::Wav, SampleFormat::I24),
        (OutputFormat::Wav, SampleFormat::I16),
        (OutputFormat::Flac, SampleFormat::I16),
    ] {
        // 24-bit mono with an odd frame count makes the data chunk odd-sized.
        let ws = spec(48_000, 1, fmt);
        let x = signal(4_001, 1, 5);
        let path = dir.path().join(format!("t.{}", format.extension()));
        let tags = declaration_tags(format, &manifest);
        std::fs::write(&path, write_mem(format, ws, &x, &tags)).unwrap();
        let meta = earmark::metadata::read_metadata_file(&path).unwrap();
        assert_eq!(meta.manifests, vec![manifest.clone()], "{format:?}");
        assert!(
            meta.carriers_agree() && !meta.carriers.is_empty(),
            "{format:?}"
        );
        // Still decodes, full length.
        let audio = decode_file(&path).unwrap();
        assert_eq!(audio.frames(), 4_001);
        if format == OutputFormat::Wav {
            // Other readers skip the extra chunks too.
            let r = hound::WavReader::open(&path).unwrap();
            assert_eq!(r.duration(), 4_001);
            // RIFF size matches the file.
            let bytes = std::fs::read(&path).unwrap();
            let riff = u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize;
            assert_eq!(riff + 8, bytes.len());
        }
    }
}

#[test]
fn an_rf64_output_keeps_its_tags_and_samples() {
    // A WAV whose expected length will not fit 4 GiB is written as RF64
    // from the start; a short one shows the same layout.
    let dir = tempfile::tempdir().unwrap();
    let manifest = "{\"m\": \"rf64\"}".to_string();
    let tags = declaration_tags(OutputFormat::Wav, &manifest);
    let ws = spec(48_000, 2, SampleFormat::I24);
    let x = signal(3_001, 2, 9);
    let huge = u64::from(u32::MAX) / 6 + 1;
    let mut w = PcmWriter::expecting(
        Cursor::new(Vec::new()),
        OutputFormat::Wav,
        ws,
        0,
        Some(huge),
    )
    .unwrap();
    w.write_interleaved(&x).unwrap();
    let bytes = w.finish(&tags).unwrap().into_inner();
    assert_eq!(&bytes[0..4], b"RF64");
    let path = dir.path().join("long.wav");
    std::fs::write(&path, &bytes).unwrap();
    let meta = earmark::metadata::read_metadata_file(&path).unwrap();
    assert_eq!(meta.manifests, vec![manifest]);
    assert!(
        meta.carriers_agree() && meta.carriers.len() >= 2,
        "{:?}",
        meta.carriers
    );
    let audio = decode_file(&path).unwrap();
    assert_eq!(audio.frames(), 3_001);
    for (a, b) in audio.samples.iter().zip(&x) {
        assert_eq!(*a, expected(*b, SampleFormat::I24));
    }
}

#[test]
fn flac_metadata_must_fit_the_reserve() {
    let tags = declaration_tags(OutputFormat::Flac, "{}");
    let mut w = PcmWriter::new(
        Cursor::new(Vec::new()),
        OutputFormat::Flac,
        spec(8_000, 1, SampleFormat::I16),
        tags.flac_len() - 1,
    )
    .unwrap();
    w.write_interleaved(&[0.0; 4]).unwrap();
    let err = w.finish(&tags).unwrap_err();
    assert!(matches!(err, AudioError::TagsTooLarge { .. }), "{err}");
    // Tags for the other container are a programming error, reported.
    let w = PcmWriter::new(
        Cursor::new(Vec::new()),
        OutputFormat::Wav,
        spec(8_000, 1, SampleFormat::I16),
        0,
    )
    .unwrap();
    assert!(w.finish(&tags).is_err());
}

#[test]
fn reports_source_spec() {
    let cases = [
        (OutputFormat::Wav, SampleFormat::I16, "pcm_s16le"),
        (OutputFormat::Wav, SampleFormat::I24, "pcm_s24le"),
        (OutputFormat::Wav, SampleFormat::F32, "pcm_f32le"),
        (OutputFormat::Flac, SampleFormat::I16, "flac"),
        (OutputFormat::Flac, SampleFormat::I24, "flac"),
    ];
    for (format, fmt, codec) in cases {
        let bytes = write_mem(
            format,
            spec(48_000, 2, fmt),
            &signal(1_000, 2, 1),
            &OutputTags::none(format),
        );
        let r = AudioReader::from_bytes(bytes, None).unwrap();
        let s = r.spec();
        assert_eq!(s.codec, codec);
        assert_eq!(s.sample_format, fmt);
        assert_eq!(s.frames, Some(1_000));
        assert_eq!(s.writer_spec(), spec(48_000, 2, fmt));
    }
}

#[test]
fn reader_and_writer_are_send() {
    fn send<T: Send>() {}
    send::<AudioReader>();
    send::<PcmWriter<std::io::BufWriter<std::fs::File>>>();
    send::<PcmHasher>();
}

#[test]
fn read_chunk_reuses_buffers_once_warm() {
    let bytes = write_mem(
        OutputFormat::Flac,
        spec(44_100, 2, SampleFormat::I16),
        &signal(44_100 * 2, 2, 7),
        &OutputTags::none(OutputFormat::Flac),
    );
    let mut r = AudioReader::from_bytes(bytes, None).unwrap();
    let mut out = Vec::new();
    let mut total = 0;
    let mut caps = Vec::new();
    loop {
        let n = r.read_chunk(&mut out).unwrap();
        if n == 0 {
            break;
        }
        assert_eq!(out.len(), n * 2);
        total += n;
        caps.push((out.capacity(), out.as_ptr() as usize));
    }
    assert_eq!(total, 44_100 * 2);
    assert_eq!(r.frames_decoded(), 44_100 * 2);
    // After the first two chunks (the pre-decoded one is swapped in), the
    // caller's buffer neither grows nor moves.
    let warm = &caps[2..];
    assert!(warm.windows(2).all(|w| w[0] == w[1]), "{caps:?}");
    // Reading past the end keeps returning 0.
    assert_eq!(r.read_chunk(&mut out).unwrap(), 0);
    assert!(out.is_empty());
}

/// Silent MPEG-1 Layer III frames (128 kbit/s, 44.1 kHz): header, all-zero
/// side info and main data.
fn silent_mp3_frames(stereo: bool, count: usize) -> Vec<u8> {
    let mode = if stereo { 0x00 } else { 0xC0 };
    let mut frame = vec![0u8; 417];
    frame[..4].copy_from_slice(&[0xFF, 0xFB, 0x90, mode]);
    frame.repeat(count)
}

#[test]
fn channel_change_mid_stream_is_an_error() {
    let plain = silent_mp3_frames(true, 40);
    let audio = decode_bytes(plain, Some("mp3")).unwrap();
    assert_eq!(audio.channels, 2);
    assert!(audio.frames() > 30 * 1152, "{}", audio.frames());

    let mut bytes = silent_mp3_frames(true, 20);
    bytes.extend(silent_mp3_frames(false, 20));
    let err = decode_bytes(bytes, Some("mp3")).unwrap_err();
    assert!(matches!(err, AudioError::StreamChanged(_)), "{err}");
    assert!(
        err.to_string()
            .starts_with("stream parameters changed mid-stream: "),
        "{err}"
    );
}

// ---- hostile inputs -------------------------------------------------------

#[test]
fn empty_and_missing_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.wav");
    std::fs::File::create(&empty).unwrap();
    let err = decode_file(&empty).unwrap_err();
    assert!(matches!(err, AudioError::Empty));
    assert_eq!(err.to_string(), "empty file (0 bytes)");
    assert!(matches!(
        decode_bytes(Vec::new(), None).unwrap_err(),
        AudioError::Empty
    ));
    let err = decode_file(&dir.path().join("missing.wav")).unwrap_err();
    assert!(matches!(err, AudioError::Read(_)), "{err}");
    assert!(err.to_string().starts_with("cannot read: "), "{err}");
    let err = decode_file(dir.path()).unwrap_err();
    assert!(matches!(err, AudioError::Read(_)), "{err}");
}

#[test]
fn text_is_not_audio() {
    let text =
        b"This is a plain text file.\nIt is not audio at all, whatever its name says.\n".repeat(20);
    for hint in [None, Some("mp3"), Some("wav"), Some("flac")] {
        let err = decode_bytes(text.clone(), hint).unwrap_err();
        assert!(matches!(err, AudioError::NotAudio), "{hint:?}: {err}");
        assert_eq!(err.to_string(), "not a recognised audio format");
    }
    let err = decode_bytes(b"hi".to_vec(), None).unwrap_err();
    assert!(matches!(err, AudioError::NotAudio), "{err}");
}

#[test]
fn random_bytes_never_panic() {
    let mut state = 0x1234_5678_9abc_def0u64;
    for len in [1usize, 2, 3, 7, 16, 100, 1_000, 10_000, 100_000] {
        for _ in 0..8 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect();
            for hint in [None, Some("mp3")] {
                let _ = decode_bytes(bytes.clone(), hint);
            }
        }
    }
}

/// Every prefix length of `bytes` in a spread of lengths decodes or fails
/// cleanly.
fn truncations_never_panic(bytes: &[u8], hint: &str) -> usize {
    let mut lengths: Vec<usize> = (0..64.min(bytes.len())).collect();
    let mut l = 64;
    while l < bytes.len() {
        lengths.push(l);
        l = l * 5 / 4 + 13;
    }
    lengths.push(bytes.len() - 1);
    let mut errors = 0;
    for len in lengths {
        let cut = bytes[..len].to_vec();
        if decode_bytes(cut.clone(), Some(hint)).is_err() {
            errors += 1;
        }
    }
    errors
}

#[test]
fn truncated_generated_files_never_panic() {
    for (format, fmt) in [
        (OutputFormat::Wav, SampleFormat::I16),
        (OutputFormat::Flac, SampleFormat::I24),
    ] {
        let tags = declaration_tags(format, "{}");
        let bytes = write_mem(format, spec(44_100, 2, fmt), &signal(20_000, 2, 3), &tags);
        truncations_never_panic(&bytes, format.extension());
    }
}

#[test]
fn truncated_flac_is_reported_as_truncated() {
    let bytes = write_mem(
        OutputFormat::Flac,
        spec(44_100, 2, SampleFormat::I16),
        &signal(50_000, 2, 3),
        &OutputTags::none(OutputFormat::Flac),
    );
    let cut = bytes[..bytes.len() * 2 / 3].to_vec();
    let err = decode_bytes(cut.clone(), Some("flac")).unwrap_err();
    assert!(matches!(err, AudioError::Corrupt(_)), "{err}");
    assert!(
        err.to_string().starts_with("truncated or corrupt stream: "),
        "{err}"
    );
    // Streaming callers get every decodable sample before the error.
    let mut r = AudioReader::from_bytes(cut, Some("flac")).unwrap();
    let mut buf = Vec::new();
    let mut frames = 0;
    let err = loop {
        match r.read_chunk(&mut buf) {
            Ok(0) => panic!("truncation not reported"),
            Ok(n) => frames += n,
            Err(e) => break e,
        }
    };
    assert!(frames > 20_000, "{frames}");
    assert!(err.to_string().contains("of 50000 frames"), "{err}");
    // The reader stays stopped.
    let again = r.read_chunk(&mut buf).unwrap_err();
    assert!(again.to_string().contains("earlier error"), "{again}");

    // Cut inside the header.
    let err = decode_bytes(bytes[..30].to_vec(), Some("flac")).unwrap_err();
    assert!(matches!(err, AudioError::Corrupt(_)), "{err}");
}

#[test]
fn truncated_wav_is_reported_as_truncated() {
    let bytes = write_mem(
        OutputFormat::Wav,
        spec(44_100, 2, SampleFormat::I16),
        &signal(10_000, 2, 3),
        &OutputTags::none(OutputFormat::Wav),
    );
    let err = decode_bytes(bytes[..bytes.len() / 2].to_vec(), Some("wav")).unwrap_err();
    assert!(matches!(err, AudioError::Corrupt(_)), "{err}");
}

/// The first 209 bytes of a WebM file (header cut short). symphonia-format-mkv
/// 0.5.5 panics on it ("EBML header must be read before calling this
/// function"); the reader must turn that into an error.
#[test]
fn symphonia_panic_becomes_an_error() {
    let hex: String = [
        "1a45dfa39f4286810142f7810142f2810442f381084282847765626d42878102",
        "42858102185380670100000000001f74114d9b74ba4dbb8b53ab841549a96653",
        "ac81a14dbb8b53ab841654ae6b53ac81d84dbb8c53ab841254c36753ac82109c",
        "4dbb8c53ab841c53bb6b53ac821f5eec0100000000000059",
    ]
    .concat();
    let mut bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    bytes.resize(bytes.len() + 89, 0);
    assert_eq!(bytes.len(), 209);
    let err = decode_bytes(bytes, Some("webm")).unwrap_err();
    assert!(matches!(err, AudioError::Corrupt(_)), "{err}");
    assert!(err.to_string().contains("panicked"), "{err}");
}

/// An MP4 whose `stsc` entry count is 2^32-1 would make symphonia 0.5.5
/// allocate 64 GiB and abort the process; the pre-check rejects it.
#[test]
fn mp4_with_oversized_sample_table_is_rejected() {
    fn bx(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut v = ((8 + payload.len()) as u32).to_be_bytes().to_vec();
        v.extend_from_slice(kind);
        v.extend_from_slice(payload);
        v
    }
    let mut stsc = vec![0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff];
    stsc.extend_from_slice(&[0, 0, 0, 1, 0, 0, 4, 0, 0, 0, 0, 1]);
    let moov = bx(
        b"moov",
        &bx(
            b"trak",
            &bx(b"mdia", &bx(b"minf", &bx(b"stbl", &bx(b"stsc", &stsc)))),
        ),
    );
    let mut file = bx(b"ftyp", b"M4A \0\0\0\0isomM4A ");
    file.extend_from_slice(&moov);
    let err = decode_bytes(file, Some("m4a")).unwrap_err();
    assert!(matches!(err, AudioError::Corrupt(_)), "{err}");
    assert!(err.to_string().contains("stsc table claims"), "{err}");
}

// ---- fixtures -------------------------------------------------------------

fn fixture(name: &str) -> Option<PathBuf> {
    let p = Path::new(FIXTURES).join(name);
    if p.exists() {
        Some(p)
    } else {
        eprintln!("skipping: fixture {} not present", p.display());
        None
    }
}

/// Expected (channels, rate, format, codec-name prefix) from names like
/// `flac24-6ch-48000.flac`; `None` for names that do not follow the pattern.
fn expectation(name: &str) -> Option<(u16, u32, SampleFormat, &'static str)> {
    let stem = name.rsplit_once('.')?.0;
    let mut parts = stem.split('-');
    let codec = parts.next()?;
    let layout = parts.next()?;
    let rate: u32 = parts.next()?.parse().ok()?;
    let channels = match layout {
        "mono" => 1,
        "stereo" => 2,
        l => l.strip_suffix("ch")?.parse().ok()?,
    };
    let (fmt, prefix) = match codec {
        "aac" => (SampleFormat::F32, "aac"),
        "mp3" => (SampleFormat::F32, "mp3"),
        "vorbis" => (SampleFormat::F32, "vorbis"),
        "opus" => (SampleFormat::F32, "opus"),
        "alac" | "alac16" => (SampleFormat::I16, "alac"),
        "alac24" => (SampleFormat::I24, "alac"),
        "pcm8" => (SampleFormat::I16, "pcm_"),
        "pcm16" => (SampleFormat::I16, "pcm_s16"),
        "pcm24" => (SampleFormat::I24, "pcm_s24"),
        "pcm32" => (SampleFormat::I24, "pcm_s32"),
        "pcmf32" => (SampleFormat::F32, "pcm_f32"),
        "adpcm" => (SampleFormat::I16, "adpcm"),
        "flac" | "flac16" => (SampleFormat::I16, "flac"),
        "flac24" => (SampleFormat::I24, "flac"),
        _ => return None,
    };
    Some((channels, rate, fmt, prefix))
}

#[test]
fn decodes_every_fixture() {
    let Ok(dir) = std::fs::read_dir(FIXTURES) else {
        eprintln!("skipping: {FIXTURES} not present");
        return;
    };
    let mut checked = 0;
    for entry in dir {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let Some((channels, rate, fmt, codec)) = expectation(&name) else {
            continue;
        };
        let audio = decode_file(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let r = AudioReader::open(&path).unwrap();
        let s = r.spec();
        assert_eq!(s.channels, channels, "{name}");
        assert_eq!(s.sample_rate, rate, "{name}");
        assert_eq!(s.sample_format, fmt, "{name}");
        assert!(s.codec.starts_with(codec), "{name}: {}", s.codec);
        assert_eq!(audio.channels, channels);
        assert!(audio.frames() > 0, "{name}");
        assert!(
            audio
                .samples
                .iter()
                .all(|x| x.is_finite() && x.abs() <= 2.0),
            "{name}"
        );
        checked += 1;
    }
    eprintln!("checked {checked} fixtures");
}

#[test]
fn bad_fixtures_give_specific_errors() {
    if let Some(p) = fixture("empty.wav") {
        let err = decode_file(&p).unwrap_err();
        assert!(
            matches!(err, AudioError::Empty | AudioError::ZeroLength),
            "{err}"
        );
    }
    if let Some(p) = fixture("not-audio.mp3") {
        let err = decode_file(&p).unwrap_err();
        assert!(matches!(err, AudioError::NotAudio), "{err}");
    }
    if let Some(p) = fixture("truncated.flac") {
        let err = decode_file(&p).unwrap_err();
        assert!(matches!(err, AudioError::Corrupt(_)), "{err}");
        assert!(
            err.to_string().starts_with("truncated or corrupt stream: "),
            "{err}"
        );
    }
}

#[test]
fn fixture_truncations_never_panic() {
    let Ok(dir) = std::fs::read_dir(FIXTURES) else {
        return;
    };
    for entry in dir {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        if bytes.len() < 2 || bytes.len() > 2_000_000 {
            continue;
        }
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        truncations_never_panic(&bytes, ext);
        // And a few corrupted copies (bytes flipped after the header).
        for k in 0..4usize {
            let mut c = bytes.clone();
            let stride = 97 + k * 31;
            for i in (bytes.len() / 8..bytes.len()).step_by(stride) {
                c[i] ^= 0x5A;
            }
            let _ = decode_bytes(c, Some(ext));
        }
    }
}

#[test]
fn file_writer_flushes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.flac");
    let mut w = PcmWriter::create(
        &path,
        OutputFormat::Flac,
        spec(44_100, 2, SampleFormat::I16),
    )
    .unwrap();
    w.write_interleaved(&signal(10_000, 2, 1)).unwrap();
    let mut inner = w.finish(&OutputTags::none(OutputFormat::Flac)).unwrap();
    inner.flush().unwrap();
    drop(inner);
    assert_eq!(decode_file(&path).unwrap().frames(), 10_000);
}

/// The body of a FLAC picture block whose MIME type claims 4 GiB (the
/// length field symphonia allocates from).
fn huge_picture() -> Vec<u8> {
    let mut picture = 3u32.to_be_bytes().to_vec();
    picture.extend_from_slice(&0xFFFF_FFF0u32.to_be_bytes());
    picture.extend_from_slice(b"abcd");
    picture
}

/// The decoder itself (not only the commands, which sniff first) refuses a
/// FLAC metadata block whose length field exceeds the block before
/// symphonia allocates it: found by fuzzing `AudioReader` (a picture
/// claiming 4 GiB aborted the fuzz target's allocation limit).
#[test]
fn hostile_flac_metadata_is_refused_by_the_decoder_itself() {
    let picture = huge_picture();
    let mut flac = common::flac_head();
    let mut broken_after = flac.clone();
    flac.extend(common::flac_block(6, true, &picture));
    for hint in [Some("flac"), None, Some("mp3")] {
        let err = decode_bytes(flac.clone(), hint).unwrap_err();
        assert!(
            err.to_string().contains("claims 4294967280 bytes"),
            "{hint:?}: {err}"
        );
    }
    // The same picture, not last, in front of a block that runs past the
    // end of the file (the fuzzer's second find): still checked.
    broken_after.extend(common::flac_block(6, false, &picture));
    broken_after.extend_from_slice(&[0x82, 0x42, 0x60, 0x82]);
    let err = decode_bytes(broken_after, Some("flac")).unwrap_err();
    assert!(err.to_string().contains("claims 4294967280 bytes"), "{err}");
}

/// The same hostile FLAC behind a line of text (or an ID3v2 tag and junk):
/// symphonia's probe would find "fLaC" anywhere in the first MiB and hand it
/// to the FLAC demuxer, past the check above (found by fuzzing `decode`).
/// Input that does not start with a container is searched only for MP3 and
/// ADTS frames, so this is not audio at all.
#[test]
fn a_container_behind_junk_is_not_searched_for() {
    let mut flac = common::flac_head();
    flac.extend(common::flac_block(6, true, &huge_picture()));
    let mut behind_text = b"This is not an MP3 file. It is plain text.\n".to_vec();
    behind_text.extend_from_slice(&flac);
    let mut behind_tag = b"ID3\x04\x00\x00\x00\x00\x00\x0a".to_vec();
    behind_tag.extend_from_slice(&[0; 10]);
    behind_tag.extend_from_slice(b"junk");
    behind_tag.extend_from_slice(&flac);
    for hint in [Some("flac"), None, Some("mp3")] {
        let err = decode_bytes(behind_text.clone(), hint).unwrap_err();
        assert!(matches!(err, AudioError::NotAudio), "{hint:?}: {err}");
        // An ID3v2 tag with no MPEG frames after it: a damaged MP3.
        let err = decode_bytes(behind_tag.clone(), hint).unwrap_err();
        assert!(
            matches!(&err, AudioError::Corrupt(m) if m == "header cut short"),
            "{hint:?}: {err}"
        );
    }
    // A real FLAC behind junk is refused the same way, not decoded.
    let real = std::fs::read(Path::new(FIXTURES).join("flac24-6ch-48000.flac")).unwrap();
    let mut behind = b"junk\n".to_vec();
    behind.extend_from_slice(&real);
    assert!(matches!(
        decode_bytes(behind, None).unwrap_err(),
        AudioError::NotAudio
    ));
    // An MP3 behind junk still decodes: frame-sync formats may start late.
    let mp3 = std::fs::read(Path::new(FIXTURES).join("mp3-stereo-44100.mp3")).unwrap();
    let mut behind = b"junk\n".to_vec();
    behind.extend_from_slice(&mp3);
    let plain = decode_bytes(mp3, Some("mp3")).unwrap();
    let late = decode_bytes(behind, Some("mp3")).unwrap();
    assert_eq!(late.frames(), plain.frames());
}

/// An MP3 whose ID3v2.3 tag holds a frame claiming 4 GiB (symphonia
/// allocated it as declared: found by fuzzing `inspect`) still decodes:
/// the audio is read from after the tag.
#[test]
fn an_id3_frame_larger_than_its_tag_is_skipped_not_allocated() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("test-audio/tagged/broken-id3.mp3");
    let mut bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[10..14], b"TIT2");
    bytes[14..18].copy_from_slice(&0xFFFF_FFF0u32.to_be_bytes());
    let audio = decode_bytes(bytes, Some("mp3")).unwrap();
    assert!(audio.frames() > 10_000, "{} frames", audio.frames());
}

/// An MP4 whose `stsz` gives one sample 4 GiB is refused before the
/// demuxer allocates that packet (found by fuzzing `decode`).
#[test]
fn an_mp4_sample_larger_than_the_file_is_refused() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("test-audio/formats/aac-stereo-44100.m4a");
    let mut bytes = std::fs::read(path).unwrap();
    let at = bytes
        .windows(4)
        .position(|w| w == b"stsz")
        .expect("an stsz box");
    // version/flags (4), sample size 0 (4), count (4), then the sizes.
    let first = at + 4 + 12;
    assert_eq!(
        &bytes[at + 8..at + 12],
        &[0, 0, 0, 0],
        "per-sample sizes expected"
    );
    bytes[first + 8..first + 12].copy_from_slice(&0xFC00_0000u32.to_be_bytes());
    let err = decode_bytes(bytes, Some("m4a")).unwrap_err();
    assert!(
        err.to_string()
            .contains("stsz gives sample 2 4227858432 bytes"),
        "{err}"
    );
}

/// An M4A tag atom claiming more than its tag holds is refused before the
/// demuxer reads it whole (found by fuzzing `decode`: a `data` atom of
/// 1.5 GB in a 25 kB file).
#[test]
fn an_mp4_tag_atom_larger_than_its_tag_is_refused() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("test-audio/tagged/tagged.m4a");
    let clean = std::fs::read(path).unwrap();
    assert!(decode_bytes(clean.clone(), Some("m4a")).is_ok());
    let ilst = clean
        .windows(4)
        .position(|w| w == b"ilst")
        .expect("an ilst box");
    let data = ilst
        + clean[ilst..]
            .windows(4)
            .position(|w| w == b"data")
            .expect("a data atom");
    let mut bytes = clean;
    bytes[data - 4..data].copy_from_slice(&0x5D00_0000u32.to_be_bytes());
    let err = decode_bytes(bytes, Some("m4a")).unwrap_err();
    assert!(err.to_string().contains("tag atom data claims"), "{err}");
}
