//! Formats people actually have: Opus in (Ogg and WebM, the format of most
//! streaming re-uploads) and MP3 out (what artists upload), end to end
//! through the `earmark` binary, with ffmpeg/libopus and ffprobe as the
//! independent makers and readers.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::*;
use earmark::audio::Audio;
use serde_json::Value;

const ROCK: &str = "rock-supertuxkart-bay.ogg";
const PIANO: &str = "piano-supertuxkart-alien-signal.ogg";

/// Signal-to-noise ratio, dB, of `ours` against `reference` (same layout).
fn snr_db(reference: &[f32], ours: &[f32]) -> f64 {
    let n = reference.len().min(ours.len());
    let (mut s, mut e) = (0f64, 0f64);
    for i in 0..n {
        s += f64::from(reference[i]).powi(2);
        e += f64::from(reference[i] - ours[i]).powi(2);
    }
    10.0 * (s / e.max(1e-20)).log10()
}

/// libopus's decode of `path` (through ffmpeg) as interleaved f32 at 48 kHz.
fn ffmpeg_decode(path: &Path) -> Vec<f32> {
    let out = Command::new("ffmpeg")
        .args([
            "-nostdin",
            "-loglevel",
            "error",
            "-c:a",
            "libopus",
            "-i",
            s(path),
        ])
        .args(["-f", "f32le", "-ar", "48000", "-"])
        .output()
        .expect("run ffmpeg");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// Channel `c` of interleaved audio.
fn channel(samples: &[f32], channels: usize, c: usize) -> Vec<f32> {
    samples.iter().skip(c).step_by(channels).copied().collect()
}

/// Opus decodes as libopus (through ffmpeg) decodes it: the same length
/// and the same samples, channel by channel, for a stereo stream and a 5.1
/// multistream (whose Vorbis channel order is kept). The streams are the
/// Opus fixtures re-encoded 12 dB quieter: at full level libopus
/// soft-clips its float output (`opus_pcm_soft_clip`), which a decoder
/// need not do and which would hide real differences.
#[test]
fn opus_decodes_as_libopus_does() {
    if !have("ffmpeg") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let quieter = |name: &str, extra: &[&str]| {
        let (src, out) = (fixture(name), dir.path().join(name));
        let mut a = vec!["-i", s(&src), "-af", "volume=-12dB"];
        a.extend(["-c:a", "libopus", "-b:a", "128k"]);
        a.extend(extra);
        a.push(s(&out));
        ffmpeg(&a);
        out
    };
    let stereo = quieter("opus-stereo-48000.opus", &[]);
    let ours = decode(&stereo);
    let theirs = ffmpeg_decode(&stereo);
    assert_eq!((ours.sample_rate, ours.channels), (48_000, 2));
    assert_eq!(
        ours.samples.len(),
        theirs.len(),
        "length differs from libopus's"
    );
    let snr = snr_db(&theirs, &ours.samples);
    assert!(snr > 60.0, "stereo SNR against libopus {snr:.1} dB");

    let six = quieter("opus-6ch-48000.opus", &["-mapping_family", "1"]);
    let ours = decode(&six);
    let theirs = ffmpeg_decode(&six);
    assert_eq!((ours.sample_rate, ours.channels), (48_000, 6));
    assert_eq!(ours.samples.len(), theirs.len());
    // Ogg/Vorbis order FL FC FR BL BR LFE; ffmpeg's 5.1 is FL FR FC LFE BL BR.
    for (o, f) in [(0, 0), (1, 2), (2, 1), (3, 4), (4, 5), (5, 3)] {
        let snr = snr_db(&channel(&theirs, 6, f), &channel(&ours.samples, 6, o));
        assert!(snr > 60.0, "5.1 channel {o}: SNR {snr:.1} dB");
    }
}

/// A stamped track re-encoded to Ogg Opus and to Opus in WebM (what
/// streaming re-uploads are) is found, named and signed; an Opus file is
/// stamped like any other input, alone and in a batch.
#[test]
fn opus_copies_are_verified_and_opus_inputs_stamped() {
    if !have("ffmpeg") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (key, public, id) = fixed_key(d, "artist", 41);
    let input = d.join("in.wav");
    write_wav16(&input, &excerpt(&test_audio(ROCK), 2.0, 12.0));
    let stamped = d.join("stamped.flac");
    earmark([
        "stamp",
        s(&input),
        "-k",
        s(&key),
        "--out",
        s(&stamped),
        "--track-id",
        "4101",
    ])
    .expect_code(0);
    for (name, args) in [
        ("copy.opus", vec!["-c:a", "libopus", "-b:a", "96k"]),
        ("copy.webm", vec!["-c:a", "libopus", "-b:a", "64k"]),
    ] {
        let copy = d.join(name);
        let mut a = vec!["-i", s(&stamped), "-map_metadata", "-1"];
        a.extend(args);
        a.push(s(&copy));
        ffmpeg(&a);
        let run = earmark(["verify", "--json", s(&copy), "--trust", s(&public)]);
        let v = run.no_panic().json();
        run.expect_code(0);
        assert_eq!(v["marked"], true, "{name}: {v}");
        assert_eq!(
            v["markers"][0]["payload"],
            serde_json::json!({"key_fingerprint": id, "track_id": 4101}),
            "{name}"
        );
        assert_eq!(v["sample_rate"], 48_000, "{name}");
    }

    // An Opus input, stamped to FLAC, verifies with its manifest.
    let opus = d.join("song.opus");
    ffmpeg(&["-i", s(&input), "-c:a", "libopus", "-b:a", "128k", s(&opus)]);
    let before = sha256_file(&opus);
    let out = d.join("song.flac");
    earmark(["stamp", s(&opus), "-k", s(&key), "--out", s(&out)]).expect_code(0);
    assert_eq!(sha256_file(&opus), before, "the input was modified");
    let run = earmark(["verify", "--json", s(&out), "--trust", s(&public)]);
    let v = run.no_panic().json();
    run.expect_code(0);
    assert_eq!(v["manifest"]["audio_identical"], true, "{v}");

    // A batch with an Opus file in it stamps it (it used to exit 2).
    let lib = d.join("lib");
    fs::create_dir(&lib).unwrap();
    fs::copy(&opus, lib.join("a.opus")).unwrap();
    fs::copy(&input, lib.join("b.wav")).unwrap();
    let outdir = d.join("out");
    let run = earmark(["stamp", s(&lib), "-k", s(&key), "--out-dir", s(&outdir)]);
    run.expect_code(0);
    // The batch mirrors the input folder under the output folder.
    let mirrored = outdir.join("lib");
    assert!(
        mirrored.join("a.earmark.flac").is_file(),
        "{:?}",
        list_dir(&mirrored)
    );
    assert!(mirrored.join("b.earmark.flac").is_file());
}

/// ffprobe's view of an MP3: (codec, sample rate, channels, bit rate).
fn probe(path: &Path) -> (String, u32, u16, u32) {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "a:0", "-of", "json"])
        .args([
            "-show_entries",
            "stream=codec_name,sample_rate,channels,bit_rate",
        ])
        .arg(path)
        .output()
        .expect("run ffprobe");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let st = &v["streams"][0];
    let num = |k: &str| -> u32 { st[k].as_str().and_then(|x| x.parse().ok()).unwrap_or(0) };
    (
        st["codec_name"].as_str().unwrap_or("").to_string(),
        num("sample_rate"),
        st["channels"].as_u64().unwrap_or(0) as u16,
        num("bit_rate"),
    )
}

/// `stamp --out x.mp3`: a constant-bitrate MP3 (LAME) whose marker, seal
/// and manifest verify, the manifest signing the encoded packets and the
/// declaration in the ID3 tag; `--format mp3 --bitrate 128k` names the
/// output itself; batches write MP3 too.
#[test]
fn stamp_writes_mp3() {
    if !have("ffprobe") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (key, public, id) = fixed_key(d, "artist", 42);
    let input = d.join("song.wav");
    write_wav16(&input, &excerpt(&test_audio(PIANO), 5.0, 12.0));
    let before = sha256_file(&input);

    let mp3 = d.join("song.mp3");
    let run = earmark([
        "stamp",
        s(&input),
        "-k",
        s(&key),
        "--out",
        s(&mp3),
        "--json",
    ]);
    run.expect_code(0);
    let stamped = run.json();
    assert_eq!(sha256_file(&input), before, "the input was modified");
    assert_eq!(probe(&mp3), ("mp3".into(), 44_100, 2, 320_000));
    assert!(d.join("song.mp3.earmark.json").is_file());
    assert_no_temp_files(d);

    let run = earmark(["verify", "--json", s(&mp3), "--trust", s(&public)]);
    let v = run.no_panic().json();
    run.expect_code(0);
    assert_eq!(v["markers"][0]["payload"]["key_fingerprint"], id.as_str());
    assert_eq!(v["markers"][0]["payload"], stamped["payload"]);
    let m = &v["manifest"];
    assert_eq!(m["source"], "embedded", "{v}");
    assert_eq!(m["matches_marker"], true);
    assert_eq!(m["audio_identical"], true, "{v}");
    assert_eq!(m["document"]["manifest"]["audio"]["basis"], "encoded");
    assert_eq!(m["document"]["manifest"]["audio"]["sample_format"], "mp3");
    // The decoded MP3 is the input's length: LAME's delay and padding are
    // in its Info tag and honoured.
    let decoded: Audio = decode(&mp3);
    assert_eq!(decoded.frames(), 12 * 44_100);
    if have("exiftool") {
        let out = Command::new("exiftool")
            .args(["-s", "-DataMining"])
            .arg(&mp3)
            .output();
        let text = String::from_utf8_lossy(&out.unwrap().stdout).into_owned();
        assert_contains(&text, "DMI-PROHIBITED-AIMLTRAINING");
    }

    // --format and --bitrate without --out: NAME.earmark.mp3 at 128 kbit/s.
    let (key2, _, _) = fixed_key(d, "second", 43);
    let other = d.join("other");
    fs::create_dir(&other).unwrap();
    let input = other.join("song.wav");
    fs::copy(d.join("song.wav"), &input).unwrap();
    earmark([
        "stamp",
        s(&input),
        "-k",
        s(&key2),
        "--format",
        "mp3",
        "--bitrate",
        "128k",
    ])
    .expect_code(0);
    let named = other.join("song.earmark.mp3");
    assert_eq!(probe(&named).3, 128_000);
    earmark(["verify", s(&named)]).expect_code(0);

    // A batch with --format mp3.
    let lib = d.join("lib");
    fs::create_dir(&lib).unwrap();
    fs::copy(&input, lib.join("a.wav")).unwrap();
    let outdir = d.join("out");
    earmark([
        "stamp",
        s(&lib),
        "-k",
        s(&key),
        "--out-dir",
        s(&outdir),
        "--format",
        "mp3",
    ])
    .expect_code(0);
    assert_eq!(probe(&outdir.join("lib").join("a.earmark.mp3")).0, "mp3");
}

/// What MP3 cannot do is refused in one line naming the problem, before
/// anything is written: six channels, a bitrate MP3 does not have, and
/// --format and --out that disagree.
#[test]
fn mp3_outputs_it_cannot_write_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (key, _, _) = fixed_key(d, "artist", 44);
    let six = fixture("flac24-6ch-48000.flac");
    let out = d.join("six.mp3");
    let run = earmark(["stamp", s(&six), "-k", s(&key), "--out", s(&out)]);
    run.expect_code(2);
    assert_contains(
        &run.stderr,
        "MP3 holds 1 or 2 channels and this audio has 6",
    );
    assert!(!out.exists());
    assert_no_temp_files(d);

    let input = d.join("in.wav");
    write_wav16(&input, &excerpt(&test_audio(ROCK), 2.0, 3.0));
    let run = earmark([
        "stamp",
        s(&input),
        "-k",
        s(&key),
        "--out",
        s(&d.join("x.mp3")),
        "--bitrate",
        "300k",
    ]);
    run.expect_code(2);
    assert_contains(&run.stderr, "\"300k\" is not an MP3 bitrate");

    let run = earmark([
        "stamp",
        s(&input),
        "-k",
        s(&key),
        "--out",
        s(&d.join("x.mp3")),
        "--format",
        "wav",
    ]);
    run.expect_code(2);
    assert_contains(&run.stderr, "--format wav and --out");
    let run = earmark(["stamp", s(&input), "-k", s(&key), "--format", "ogg"]);
    run.expect_code(2);
    assert_contains(&run.stderr, "--format must be flac, wav or mp3");
    assert_eq!(list_dir(d), ["artist.pem", "artist.pub.pem", "in.wav"]);
}
