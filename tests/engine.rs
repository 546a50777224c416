//! The engine's in-memory and streaming API: bytes in and bytes out, any
//! `Read + Seek`, PCM in chunks, and the same output whichever way in.

mod common;

use common::*;
use earmark::audio::{quantize_into, OutputFormat, SampleFormat, WriterSpec};
use earmark::output::FileOutput;
use earmark::provenance::{AudioDigest, HashBasis, Manifest, SigningKeyPair};
use earmark::verify::SealStatus;
use earmark::{
    stamp, stamp_bytes, stamp_file, stamp_samples, stamp_to_stream, verify, verify_bytes, Finished,
    Policy, StampOptions, Stamper, Verifier, VerifyOptions,
};
use sha2::{Digest, Sha256};
use std::io::{Cursor, Read, Seek, SeekFrom};
use std::time::{Duration, UNIX_EPOCH};

const ROCK: &str = "rock-supertuxkart-bay.ogg";

/// A 12 s excerpt of real music as 16-bit WAV bytes.
fn wav_bytes(dir: &std::path::Path) -> Vec<u8> {
    let path = dir.join("in.wav");
    write_wav16(&path, &excerpt(&test_audio(ROCK), 2.0, 12.0));
    std::fs::read(&path).unwrap()
}

/// Options with a fixed key, track id and time.
fn pinned(format: OutputFormat) -> StampOptions {
    let mut o = StampOptions::new(SigningKeyPair::from_bytes(&[7; 32]));
    o.track_id = Some(31_337);
    o.created = Some(UNIX_EPOCH + Duration::from_secs(1_800_000_000));
    o.title = Some("Bay".into());
    o.format = format;
    // Content Credentials carry fresh instance ids, so the byte-for-byte
    // comparisons run without them (tested on their own below).
    #[cfg(feature = "c2pa")]
    {
        o.credentials = None;
    }
    o
}

fn trusting(key: &SigningKeyPair) -> VerifyOptions {
    let mut v = VerifyOptions::default();
    v.trusted = vec![key.public_key()];
    v
}

#[test]
fn bytes_in_bytes_out_verify_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let wav = wav_bytes(dir.path());
    for format in [OutputFormat::Flac, OutputFormat::Wav] {
        let opts = pinned(format);
        let (out, stamped) = stamp_bytes(&wav, &opts).unwrap();
        let magic: &[u8] = match format {
            OutputFormat::Flac => b"fLaC",
            OutputFormat::Wav => b"RIFF",
        };
        assert!(out.starts_with(magic), "{format:?}");
        let v = verify_bytes(&out, &trusting(&opts.signing_key)).unwrap();
        assert!(v.marked, "{format:?}");
        assert_eq!(v.markers[0].payload, stamped.payload);
        assert_eq!(v.path, None, "no file, no path");
        let m = v.manifest.as_ref().expect("embedded manifest");
        assert_eq!(m.source, "embedded");
        assert!(
            m.signature_valid && m.audio_identical && m.consistent(),
            "{format:?}"
        );
        assert_eq!(m.trusted, Some(true));
        assert_eq!(m.document, stamped.manifest);
        assert_eq!(m.document.manifest.created, "2027-01-15T08:00:00Z");
        assert_eq!(v.exit_code(), 0);
        // The input was not touched, and a non-audio input is a clear error.
        let err = verify_bytes(b"definitely not audio", &VerifyOptions::default()).unwrap_err();
        assert!(err.path().is_none());
        assert_eq!(
            err.with_path("upload.bin").to_string(),
            "upload.bin: not a recognised audio format"
        );
    }
}

#[cfg(feature = "c2pa")]
#[test]
fn bytes_in_bytes_out_carry_content_credentials() {
    use earmark::credentials::CredentialsState;
    let dir = tempfile::tempdir().unwrap();
    let wav = wav_bytes(dir.path());
    let mut opts = pinned(OutputFormat::Flac);
    let key = opts.signing_key.clone();
    opts.credentials = Some(earmark::credentials::CertificateChain::self_issued(
        &key,
        "Bay Artist",
    ));
    let (out, stamped) = stamp_bytes(&wav, &opts).unwrap();
    let v = verify_bytes(&out, &trusting(&key)).unwrap();
    assert_eq!(v.exit_code(), 0);
    let c = v.credentials.as_ref().expect("credentials in the output");
    assert_eq!(c.state, CredentialsState::Valid, "{:?}", c.failures);
    assert_eq!(c.signer.as_deref(), Some("Bay Artist"));
    assert_eq!(c.matches_marker, Some(true));
    assert_eq!(c.soft_bindings[0].payload, Some(stamped.payload));
    assert_eq!(c.title.as_deref(), Some("Bay"));
    assert_eq!(
        c.actions,
        ["c2pa.opened", "c2pa.transcoded", "c2pa.watermarked"]
    );
    // A key the chain does not certify is refused before any work.
    opts.signing_key = SigningKeyPair::from_bytes(&[8; 32]);
    let e = stamp_bytes(&wav, &opts).unwrap_err();
    assert!(e.to_string().contains("another key"), "{e}");
}

#[test]
fn files_bytes_and_streams_write_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let wav = wav_bytes(dir.path());
    let input = dir.path().join("in.wav");
    for format in [OutputFormat::Flac, OutputFormat::Wav] {
        let opts = pinned(format);
        let (in_memory, _) = stamp_bytes(&wav, &opts).unwrap();
        let path = dir.path().join(format!("out-{0}.{0}", format.extension()));
        let outcome = stamp_file(&input, &FileOutput::to(Some(path.clone())), &opts).unwrap();
        assert_eq!(
            outcome.stamped.manifest,
            stamp_bytes(&wav, &opts).unwrap().1.manifest
        );
        assert_eq!(
            std::fs::read(&path).unwrap(),
            in_memory,
            "{format:?}: file vs bytes"
        );
        // A stream that cannot seek: two passes, the same file, but for the
        // frame sizes FLAC's STREAMINFO can only state after the fact.
        let mut piped = Vec::new();
        stamp_to_stream(Cursor::new(wav.clone()), &mut piped, &opts).unwrap();
        let mut expected = in_memory.clone();
        if format == OutputFormat::Flac {
            // STREAMINFO body starts at byte 8; min/max frame size are its bytes 4..10.
            expected[12..18].fill(0);
        }
        assert_eq!(piped, expected, "{format:?}: stream vs bytes");
        // And from any Read + Seek to any Write + Seek.
        let mut out = Cursor::new(Vec::new());
        stamp(Cursor::new(wav.clone()), &mut out, &opts).unwrap();
        assert_eq!(out.into_inner(), in_memory);
    }
}

#[test]
fn pcm_in_chunks_stamps_and_verifies_like_files() {
    let audio = excerpt(&test_audio(ROCK), 2.0, 12.0);
    let ch = usize::from(audio.channels);
    let spec = WriterSpec {
        sample_rate: audio.sample_rate,
        channels: audio.channels,
        sample_format: SampleFormat::I16,
    };
    let opts = pinned(OutputFormat::Wav);
    let run = |chunk_frames: usize| {
        let mut s = Stamper::new(spec, &opts).unwrap();
        let mut out = Vec::new();
        for c in audio.samples.chunks(chunk_frames * ch) {
            s.process(c, &mut out);
        }
        let stamped = s.finish(&mut out);
        (out, stamped)
    };
    let (a, sa) = run(4096);
    let (b, sb) = run(333);
    assert_eq!(a.len(), audio.samples.len(), "as many samples out as in");
    assert_eq!(a, b, "chunking does not change the output");
    assert_eq!(sa.manifest, sb.manifest);
    // The manifest hashes the output as 16-bit samples, as stored.
    let mut q = Vec::new();
    quantize_into(&a, SampleFormat::I16, &mut q);
    let bytes: Vec<u8> = q.iter().flat_map(|&v| (v as i16).to_le_bytes()).collect();
    assert_eq!(sa.manifest.manifest.audio.sha256, sha256_hex(&bytes));
    assert_eq!(sa.manifest.manifest.audio.basis, HashBasis::Stored);
    assert_eq!(sa.manifest.manifest.audio.frames, audio.frames() as u64);

    // Verify the chunks, with the manifest given: found, and the audio
    // identical once stored as 16 bit.
    let stored: Vec<f32> = q.iter().map(|&v| v as f32 / 32_768.0).collect();
    let mut v = Verifier::new(
        audio.sample_rate,
        audio.channels,
        &trusting(&opts.signing_key),
    )
    .unwrap()
    .with_manifest("given", &sa.manifest.to_json_compact());
    for c in stored.chunks(1000 * ch) {
        v.process(c);
    }
    let found = match v.finish() {
        Finished::Complete(v) => v,
        Finished::SealPass(_) => panic!("no change was undone"),
    };
    assert_eq!(found.markers[0].payload, sa.payload);
    let m = found.manifest.unwrap();
    assert!(m.audio_identical && m.signature_valid, "{m:?}");
    assert_eq!(m.source, "given");
    // Unmarked audio, or chunks of another rate: nothing found.
    let mut v =
        Verifier::new(audio.sample_rate, audio.channels, &VerifyOptions::default()).unwrap();
    v.process(&audio.samples);
    assert!(!v.finish().without_second_pass().marked);
    assert!(Verifier::new(0, 2, &VerifyOptions::default()).is_err());
}

/// A whole buffer in memory: `stamp_samples` gives what the chunked
/// `Stamper` gives, refuses audio that already carries a marker and
/// samples that are not finite; the verdict's JSON is the CLI's, with
/// single-precision figures in their short form.
#[test]
fn samples_in_memory_stamp_like_chunks_and_refuse_a_second_stamp() {
    let audio = excerpt(&test_audio(ROCK), 2.0, 12.0);
    let spec = WriterSpec {
        sample_rate: audio.sample_rate,
        channels: audio.channels,
        sample_format: SampleFormat::I16,
    };
    let opts = pinned(OutputFormat::Wav);
    let (marked, stamped) = stamp_samples(&audio.samples, spec, &opts).unwrap();
    let mut s = Stamper::new(spec, &opts).unwrap();
    let mut chunked = Vec::new();
    s.process(&audio.samples, &mut chunked);
    let by_chunks = s.finish(&mut chunked);
    assert_eq!(marked, chunked);
    assert_eq!(stamped.manifest, by_chunks.manifest);

    let again = stamp_samples(&marked, spec, &pinned(OutputFormat::Wav)).unwrap_err();
    assert!(again.to_string().contains("already stamped"), "{again}");
    let mut bad = audio.samples.clone();
    bad[1001] = f32::NAN;
    let err = stamp_samples(&bad, spec, &opts).unwrap_err();
    assert!(err.to_string().contains("sample 1001"), "{err}");
    assert!(stamp_samples(&audio.samples[..3], spec, &opts).is_err());
    assert!(stamp_samples(&[], spec, &opts).is_err());

    let mut v =
        Verifier::new(audio.sample_rate, audio.channels, &VerifyOptions::default()).unwrap();
    v.process(&marked);
    let found = v.finish().without_second_pass();
    let json = found.to_json();
    assert_eq!(json["markers"][0]["payload"]["track_id"], 31_337);
    // Measurements are rounded to 3 decimals in every JSON record.
    let z = f64::from(found.markers[0].sync_z);
    assert_eq!(
        json["markers"][0]["sync_z"].as_f64(),
        Some((z * 1000.0).round() / 1000.0)
    );
}

/// Public keys to trust given as PEM text (a bundle), as the Python package
/// and a web page hand them over; a private key is refused.
#[test]
fn trust_from_pem_text() {
    let a = SigningKeyPair::from_bytes(&[1; 32]).public_key();
    let b = SigningKeyPair::from_bytes(&[2; 32]).public_key();
    let bundle = format!("{}{}", a.to_pem(), b.to_pem());
    let keys = earmark::keyfile::trusted_from_pem("pasted", &bundle).unwrap();
    assert_eq!(keys, vec![a, b]);
    let private = SigningKeyPair::from_bytes(&[3; 32]).to_pem();
    let err = earmark::keyfile::trusted_from_pem("pasted", &private).unwrap_err();
    assert!(
        err.to_string().starts_with("pasted: holds a private key"),
        "{err}"
    );
    let err = earmark::keyfile::trusted_from_pem("pasted", "hello").unwrap_err();
    assert!(err.to_string().contains("no PEM public key"), "{err}");
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A stamped WAV's manifest hashes exactly its `data` chunk, so anyone can
/// check it without earmark; a manifest signed before that layout (every
/// sample as a 32-bit integer, basis `pcm`) still matches its audio.
#[test]
fn the_audio_hash_is_the_data_chunk_and_old_manifests_still_match() {
    let dir = tempfile::tempdir().unwrap();
    let wav = wav_bytes(dir.path());
    let opts = pinned(OutputFormat::Wav);
    let (out, stamped) = stamp_bytes(&wav, &opts).unwrap();
    let data = out
        .windows(4)
        .position(|w| w == b"data")
        .expect("data chunk");
    let len = u32::from_le_bytes(out[data + 4..data + 8].try_into().unwrap()) as usize;
    let chunk = &out[data + 8..data + 8 + len];
    assert_eq!(stamped.manifest.manifest.audio.sha256, sha256_hex(chunk));

    // The same audio under a manifest of the older basis.
    let samples: Vec<i32> = chunk
        .chunks_exact(2)
        .map(|b| i32::from(i16::from_le_bytes([b[0], b[1]])))
        .collect();
    let widened: Vec<u8> = samples.iter().flat_map(|v| v.to_le_bytes()).collect();
    let a = &stamped.manifest.manifest.audio;
    let digest = AudioDigest::new(
        sha256_hex(&widened),
        a.frames,
        a.sample_rate,
        a.channels,
        "s16",
    );
    assert_eq!(digest.basis, HashBasis::Pcm);
    let old = Manifest::new(stamped.payload, digest, Policy::default()).sign(&opts.signing_key);
    let pcm: Vec<f32> = samples.iter().map(|&v| v as f32 / 32_768.0).collect();
    let mut v = Verifier::new(a.sample_rate, a.channels, &trusting(&opts.signing_key))
        .unwrap()
        .with_manifest("old", &old.to_json_compact());
    v.process(&pcm);
    let found = v.finish().without_second_pass();
    let m = found.manifest.expect("manifest");
    assert!(m.audio_identical && m.signature_valid, "{m:?}");
}

/// A `Read + Seek` that counts the bytes read through it.
struct Counting<R> {
    inner: R,
    read: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

impl<R: Seek> Seek for Counting<R> {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        self.inner.seek(pos)
    }
}

/// Verifying and stamping read each input once: tags, container and audio
/// together take little more than the file's size. Content Credentials
/// add the C2PA SDK's own passes (it finds the store, then hashes the file
/// to check the hard binding): at most two more, and none when the file
/// has no credentials.
#[test]
fn inputs_are_read_once() {
    let dir = tempfile::tempdir().unwrap();
    let wav = wav_bytes(dir.path());
    let key = SigningKeyPair::from_bytes(&[9; 32]);
    let (flac, _) = stamp_bytes(&wav, &pinned(OutputFormat::Flac)).unwrap();
    // A tagged MP3 (manifest over the encoded packets): the digest is taken
    // while decoding, not in a second pass.
    let mp3 = dir.path().join("x.mp3");
    std::fs::copy(test_audio("tagged/id3v23-art.mp3"), &mp3).unwrap();
    let tagged = dir.path().join("x.earmark.mp3");
    earmark::tag_file(
        &mp3,
        &FileOutput::to(Some(tagged.clone())),
        &earmark::TagOptions::new(key.clone()),
    )
    .unwrap();
    let tagged = std::fs::read(&tagged).unwrap();
    // The tagged MP3 carries Content Credentials (TagOptions' default).
    for (name, bytes, passes) in [
        ("wav", &wav, 1),
        ("flac", &flac, 1),
        ("tagged mp3", &tagged, 3),
    ] {
        let read = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let input = Counting {
            inner: Cursor::new(bytes.clone()),
            read: read.clone(),
        };
        let v = verify(input, &trusting(&key)).unwrap();
        let total = read.load(std::sync::atomic::Ordering::Relaxed);
        assert!(
            total < bytes.len() as u64 * (10 * passes + 1) / 10 + 65_536,
            "{name}: read {total} bytes of {}",
            bytes.len()
        );
        match name {
            "tagged mp3" => {
                let m = v.manifest.expect("manifest");
                assert!(m.audio_identical, "encoded digest taken in the one pass");
            }
            "flac" => assert!(v.marked),
            _ => assert!(!v.marked, "the unstamped input"),
        }
    }
    let read = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let input = Counting {
        inner: Cursor::new(wav.clone()),
        read: read.clone(),
    };
    stamp(input, Cursor::new(Vec::new()), &pinned(OutputFormat::Flac)).unwrap();
    let total = read.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        total < wav.len() as u64 * 11 / 10 + 65_536,
        "stamp read {total}"
    );
}

#[test]
fn bad_options_are_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let wav = wav_bytes(dir.path());
    for strength in [0.0, -1.0, 4.5, f32::NAN] {
        let mut o = pinned(OutputFormat::Flac);
        o.strength = strength;
        let e = stamp_bytes(&wav, &o).unwrap_err();
        assert!(
            e.to_string().contains("--strength must be in (0, 4]"),
            "{e}"
        );
    }
    // Not audio: an error naming nothing (the caller adds the name).
    let e = stamp_bytes(b"RIFF\x04\0\0\0WAVE", &pinned(OutputFormat::Flac)).unwrap_err();
    assert!(e.path().is_none(), "{e}");
}

/// A whole-track copy's seal verifies through the in-memory API too.
#[test]
fn the_seal_reads_from_bytes() {
    let mut track = decode(&test_audio(ROCK));
    for name in [
        "rock-openarena-oa02.ogg",
        "electronic-supertuxkart-xeon6.ogg",
        "acoustic-neverball-track1.ogg",
    ] {
        track
            .samples
            .extend_from_slice(&decode(&test_audio(name)).samples);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.wav");
    write_wav16(&path, &track);
    let opts = pinned(OutputFormat::Flac);
    let (flac, _) = stamp_bytes(&std::fs::read(&path).unwrap(), &opts).unwrap();
    let v = verify_bytes(&flac, &trusting(&opts.signing_key)).unwrap();
    assert_eq!(v.seal.map(|s| s.status), Some(SealStatus::Valid));
}
