//! End-to-end tests of the `earmark` command line: keygen, stamp and verify on
//! real music, tampering, clips after MP3, a speed change, wrong keys, bad
//! input, silence, input formats and `--json`.
//!
//! Audio is kept short (8–12 s excerpts made here through the library) because
//! the crate itself is built without optimisation in the test profile.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use common::*;
use earmark::audio::{Audio, OutputFormat, SampleFormat};
use earmark::provenance::{read_public_key, SignedManifest};
use serde_json::Value;

const ROCK: &str = "rock-supertuxkart-bay.ogg";
const PIANO: &str = "piano-supertuxkart-alien-signal.ogg";
const ELECTRONIC_48K: &str = "electronic-neverball-title-48k.ogg";
const SPEECH: &str = "speech-festival-kal.ogg";
const ORCHESTRAL: &str = "orchestral-supertuxkart-gran-batalla.ogg";

fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("these tests need the `openssl` command-line tool on PATH");
    assert!(
        out.status.success(),
        "openssl {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `earmark verify --json FILE [extra]`: the run and its single JSON object.
fn verify_json(file: &Path, extra: &[&str]) -> (Run, Value) {
    let mut args = vec!["verify", "--json", s(file)];
    args.extend_from_slice(extra);
    let run = earmark(&args);
    let v = run.no_panic().json();
    (run, v)
}

fn str_field<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {pointer} in {v}"))
}

// ---------------------------------------------------------------------------
// 1. keygen

#[test]
fn keygen_writes_keys_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let private = dir.path().join("artist.pem");
    let public = dir.path().join("artist.pub.pem");

    let run = earmark(["keygen", "--out", s(&private)]);
    run.expect_code(0);
    let mode = fs::metadata(&private).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "private key mode {mode:o}");
    let pem = fs::read_to_string(&private).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{pem}");
    let pub_pem = fs::read_to_string(&public).unwrap();
    assert!(
        pub_pem.starts_with("-----BEGIN PUBLIC KEY-----\n"),
        "{pub_pem}"
    );

    // The printed fingerprint and marker id are those of the written key.
    let key = read_public_key(&public).unwrap();
    assert!(
        run.stdout
            .contains(&format!("fingerprint  {}", key.short_fingerprint())),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains(&format!("marker id    {:08x}", key.fingerprint32())),
        "{}",
        run.stdout
    );
    assert_contains(&run.stdout, s(&public));

    // A second keygen without --force is refused and changes nothing.
    let run = earmark(["keygen", "--out", s(&private)]);
    run.expect_one_line_error(&[s(&private), "exists", "--force"]);
    assert_eq!(fs::read_to_string(&private).unwrap(), pem);
    assert_eq!(fs::read_to_string(&public).unwrap(), pub_pem);

    // Only the public half exists: still refused, naming that file, and no
    // private key is created.
    let other = dir.path().join("other.pem");
    let other_pub = dir.path().join("other.pub.pem");
    fs::write(&other_pub, "keep me").unwrap();
    earmark(["keygen", "--out", s(&other)]).expect_one_line_error(&[s(&other_pub), "exists"]);
    assert!(!other.exists(), "private key written despite the refusal");
    assert_eq!(fs::read_to_string(&other_pub).unwrap(), "keep me");

    // --force replaces both, and the private key stays 0600.
    let run = earmark(["keygen", "--force", "--out", s(&private)]);
    run.expect_code(0);
    let pem2 = fs::read_to_string(&private).unwrap();
    assert_ne!(pem2, pem, "--force did not write a new key");
    let key2 = read_public_key(&public).unwrap();
    assert_ne!(key2, key, "public key not replaced");
    assert_eq!(read_public_key(&private).unwrap(), key2, "halves disagree");
    let mode = fs::metadata(&private).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "private key mode after --force {mode:o}");
    assert!(run.stdout.contains(&key2.short_fingerprint()));
    assert_no_temp_files(dir.path());
}

#[test]
fn keys_interoperate_with_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (ours, _, _) = keygen(d, "artist");
    openssl(&["pkey", "-in", s(&ours), "-noout"]);

    // A key made by OpenSSL signs with `earmark stamp`...
    let k = d.join("k.pem");
    let k_pub = d.join("k.pub.pem");
    openssl(&["genpkey", "-algorithm", "ed25519", "-out", s(&k)]);
    openssl(&["pkey", "-in", s(&k), "-pubout", "-out", s(&k_pub)]);
    let song = d.join("song.wav");
    write_wav16(&song, &excerpt(&test_audio(ROCK), 3.0, 8.0));
    let out = d.join("song.earmark.flac");
    earmark(["stamp", s(&song), "--key", s(&k), "--track-id", "7"]).expect_code(0);
    assert!(out.is_file());

    // ...and its OpenSSL-written public key is a trust anchor for `verify`.
    let (run, v) = verify_json(&out, &["--trust", s(&k_pub)]);
    run.expect_code(0);
    let key = read_public_key(&k_pub).unwrap();
    assert_eq!(v["marked"], true);
    assert_eq!(
        str_field(&v, "/markers/0/payload/key_fingerprint"),
        format!("{:08x}", key.fingerprint32())
    );
    assert_eq!(v["manifest"]["trusted"], true);
    assert_eq!(v["manifest"]["verdict"], "valid signature, trusted signer");
    let human = earmark(["verify", s(&out), "--trust", s(&k_pub)]);
    human.expect_code(0);
    assert_contains(
        &human.stdout,
        "manifest    valid signature, trusted signer (embedded)",
    );
}

// ---------------------------------------------------------------------------
// 2. stamp + verify on real music

#[test]
fn stamp_and_verify_real_music() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (key, key_pub, marker_id) = keygen(d, "artist");
    let (_, other_pub, _) = keygen(d, "stranger");
    let song = d.join("song.wav");
    let original = excerpt(&test_audio(ROCK), 2.0, 10.0);
    write_wav16(&song, &original);
    let before = sha256_file(&song);

    let run = earmark([
        "stamp",
        s(&song),
        "--key",
        s(&key),
        "--track-id",
        "42",
        "--title",
        "Bay",
        "--artist",
        "0zone0ne",
    ]);
    run.expect_code(0);
    assert_eq!(sha256_file(&song), before, "the input was modified");
    let out = d.join("song.earmark.flac");
    let sidecar = d.join("song.flac.earmark.json");
    assert!(out.is_file() && sidecar.is_file(), "{:?}", list_dir(d));
    assert!(
        run.stdout
            .contains(&format!("stamped   {} -> {}", s(&song), s(&out))),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(&format!(
            "marker    {marker_id}:42 (key {marker_id}, track 42)"
        )),
        "{}",
        run.stdout
    );
    assert_contains(&run.stdout, s(&sidecar));
    assert_no_temp_files(d);

    // Output: same length and layout as the input, and a 16-bit source stays s16.
    let stamped = decode(&out);
    assert_eq!(stamped.frames(), original.frames());
    assert_eq!(stamped.channels, original.channels);
    assert_eq!(stamped.sample_rate, original.sample_rate);
    assert_ne!(stamped.samples, decode(&song).samples, "no marker added");

    // The sidecar holds the same signed manifest as the embedded tag.
    let side = SignedManifest::parse(&fs::read_to_string(&sidecar).unwrap()).unwrap();
    let meta = earmark::metadata::read_metadata_file(&out).unwrap();
    let embedded =
        SignedManifest::parse(meta.manifests.first().expect("embedded manifest")).unwrap();
    assert_eq!(side.signature, embedded.signature);
    assert_eq!(side.manifest.title.as_deref(), Some("Bay"));
    assert_eq!(side.manifest.artist.as_deref(), Some("0zone0ne"));
    assert_eq!(side.manifest.audio.sample_format, "s16");
    assert_eq!(side.manifest.audio.frames, original.frames() as u64);

    // Human output.
    let run = earmark(["verify", s(&out)]);
    run.expect_code(0);
    assert!(
        run.stdout.starts_with(&format!("{}: MARKED\n", s(&out))),
        "{}",
        run.stdout
    );
    // One line labelled "audio" (the length); the manifest's check is "content".
    assert_eq!(
        run.stdout
            .lines()
            .filter(|l| l.starts_with("  audio "))
            .count(),
        1,
        "{}",
        run.stdout
    );
    for needle in [
        &format!("payload     {marker_id}:42 (key {marker_id}, track 42)"),
        "manifest    valid signature (embedded)",
        "matches     the marker payload",
        "bit-identical to what was stamped",
        "title       Bay",
        "artist      0zone0ne",
        "AI/ML training prohibited",
    ] {
        assert!(
            run.stdout.contains(needle),
            "{needle:?} missing:\n{}",
            run.stdout
        );
    }

    // JSON output.
    let (run, v) = verify_json(&out, &[]);
    run.expect_code(0);
    assert_eq!(v["marked"], true);
    assert_eq!(
        str_field(&v, "/markers/0/payload/key_fingerprint"),
        marker_id
    );
    assert_eq!(v["markers"][0]["payload"]["track_id"], 42);
    assert_eq!(v["manifest"]["signature_valid"], true);
    assert_eq!(v["manifest"]["audio_identical"], true);
    assert_eq!(v["manifest"]["matches_marker"], true);
    assert_eq!(v["manifest"]["source"], "embedded");
    assert_eq!(v["manifest"]["trusted"], Value::Null);
    let signer = read_public_key(&key_pub).unwrap();
    assert_eq!(
        v["manifest"]["signer"].as_str(),
        Some(format!("{:08x}", signer.fingerprint32()).as_str())
    );

    // Trusting the signer, then trusting only someone else.
    let (run, v) = verify_json(&out, &["--trust", s(&key_pub)]);
    run.expect_code(0);
    assert_eq!(v["manifest"]["trusted"], true);
    assert_eq!(v["manifest"]["verdict"], "valid signature, trusted signer");
    assert_eq!(v["trusted_signer"], true);
    let (run, v) = verify_json(&out, &["--trust", s(&other_pub)]);
    // Untrusted but consistent: not invalid (3), but not a pass either:
    // `verify --trust me.pub.pem x && publish` must refuse someone else's
    // stamp, so it has a code of its own (4).
    run.expect_code(4);
    assert_eq!(v["manifest"]["trusted"], false);
    assert_eq!(v["manifest"]["signature_valid"], true);
    assert_eq!(v["trusted_signer"], false);
    assert_eq!(
        v["manifest"]["verdict"],
        "valid signature, signer not trusted"
    );
    let run = earmark(["verify", s(&out), "--trust", s(&other_pub)]);
    run.expect_code(4);
    assert_contains(&run.stdout, "MARKED, NOT BY A KEY YOU TRUST");
    assert_contains(
        &run.stdout,
        "manifest    valid signature, signer not trusted (embedded)",
    );
    assert!(!run.stdout.contains("invalid"), "{}", run.stdout);
    // Without --trust nothing is claimed about trust: exit 0, no verdict.
    let (run, v) = verify_json(&out, &[]);
    run.expect_code(0);
    assert_eq!(v["trusted_signer"], Value::Null);
    // With several files the worst wins: an unmarked file (1) with an
    // untrusted one (4) gives 4.
    let plain = d.join("plain.wav");
    write_wav16(&plain, &excerpt(&test_audio(ROCK), 0.0, 4.0));
    earmark(["verify", s(&out), s(&plain), "--trust", s(&other_pub)]).expect_code(4);

    // A private key is refused by --trust, alone or in a folder.
    earmark(["verify", s(&out), "--trust", s(&key)])
        .expect_code(2)
        .expect_one_line_error(&[s(&key), "private key", "--trust takes public keys"]);
    // A bundle of public keys: every key in it is trusted, not only the first.
    let bundle = d.join("bundle.pem");
    let other_text = fs::read_to_string(&other_pub).unwrap();
    let own_text = fs::read_to_string(&key_pub).unwrap();
    fs::write(&bundle, format!("{other_text}{own_text}")).unwrap();
    let (run, v) = verify_json(&out, &["--trust", s(&bundle)]);
    run.expect_code(0);
    assert_eq!(
        v["manifest"]["trusted"], true,
        "the second key of the bundle"
    );
    // A folder of .pem files (certificate chains in it are skipped).
    let trusted_dir = d.join("trusted");
    fs::create_dir(&trusted_dir).unwrap();
    fs::copy(&other_pub, trusted_dir.join("a.pub.pem")).unwrap();
    fs::copy(&key_pub, trusted_dir.join("b.pub.pem")).unwrap();
    fs::write(
        trusted_dir.join("c.cert.pem"),
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let (run, v) = verify_json(&out, &["--trust", s(&trusted_dir)]);
    run.expect_code(0);
    assert_eq!(v["manifest"]["trusted"], true, "a key from the folder");
    fs::copy(&key, trusted_dir.join("oops.pem")).unwrap();
    earmark(["verify", s(&out), "--trust", s(&trusted_dir)])
        .expect_code(2)
        .expect_one_line_error(&["oops.pem", "private key"]);
    let empty_dir = d.join("empty");
    fs::create_dir(&empty_dir).unwrap();
    earmark(["verify", s(&out), "--trust", s(&empty_dir)])
        .expect_code(2)
        .expect_one_line_error(&["empty", "no public key"]);
    // A PEM key given as the watermark key is refused with what to give.
    earmark(["verify", s(&out), "--wm-key", s(&key_pub)])
        .expect_code(2)
        .expect_one_line_error(&[s(&key_pub), "--wm-key takes the private watermark key"]);

    // The original, unstamped input has no marker and no manifest.
    let run = earmark(["verify", s(&song)]);
    run.expect_code(1);
    assert_contains(&run.stdout, "NO MARKER FOUND");
    assert_eq!(sha256_file(&song), before);
}

#[test]
fn stamp_to_wav_keeps_the_bit_depth() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (key, _, marker_id) = fixed_key(d, "artist", 11);
    let audio = excerpt(&test_audio(PIANO), 4.0, 8.0);
    let cases = [
        (SampleFormat::I16, 16, hound::SampleFormat::Int, "s16"),
        (SampleFormat::I24, 24, hound::SampleFormat::Int, "s24"),
        (SampleFormat::F32, 32, hound::SampleFormat::Float, "f32"),
    ];
    for (i, (fmt, bits, kind, name)) in cases.into_iter().enumerate() {
        let input = d.join(format!("in-{name}.wav"));
        write_audio(&input, &audio, OutputFormat::Wav, fmt);
        let before = sha256_file(&input);
        let out = d.join(format!("out-{name}.wav"));
        let track = (100 + i).to_string();
        let run = earmark([
            "stamp",
            s(&input),
            "--key",
            s(&key),
            "--out",
            s(&out),
            "--track-id",
            &track,
            "--json",
        ]);
        run.expect_code(0);
        assert_eq!(sha256_file(&input), before, "{name}: input modified");
        let stamp = run.json();
        assert_eq!(stamp["output"].as_str(), Some(s(&out)));
        // WAV output: the sidecar is NAME.wav.earmark.json.
        let sidecar = d.join(format!("out-{name}.wav.earmark.json"));
        assert_eq!(stamp["sidecar"].as_str(), Some(s(&sidecar)));
        assert!(sidecar.is_file());
        assert_eq!(
            str_field(&stamp, "/manifest/manifest/audio/sample_format"),
            name
        );

        let reader = hound::WavReader::open(&out).unwrap();
        let spec = reader.spec();
        assert_eq!(spec.bits_per_sample, bits, "{name}");
        assert_eq!(spec.sample_format, kind, "{name}");
        assert_eq!(spec.channels, audio.channels);
        assert_eq!(spec.sample_rate, audio.sample_rate);
        assert_eq!(reader.duration() as usize, audio.frames(), "{name}");
        assert_eq!(decode(&out).frames(), audio.frames(), "{name}");

        let (run, v) = verify_json(&out, &[]);
        run.expect_code(0);
        assert_eq!(
            str_field(&v, "/markers/0/payload/key_fingerprint"),
            marker_id
        );
        assert_eq!(v["markers"][0]["payload"]["track_id"], 100 + i);
        assert_eq!(v["manifest"]["source"], "embedded");
        assert_eq!(v["manifest"]["audio_identical"], true, "{name}");
    }
}

// ---------------------------------------------------------------------------
// 3. Tampering

#[test]
fn tampered_manifests_and_audio() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (key, _, marker_id) = fixed_key(d, "artist", 12);
    let a_in = d.join("a-src.wav");
    write_wav16(&a_in, &excerpt(&test_audio(ROCK), 12.0, 9.0));
    let a = d.join("a.wav");
    earmark([
        "stamp",
        s(&a_in),
        "--key",
        s(&key),
        "--out",
        s(&a),
        "--title",
        "Title-AAAA",
        "--track-id",
        "1",
    ])
    .expect_code(0);
    let a_sidecar = d.join("a.wav.earmark.json");
    let a_audio = decode(&a);

    // (a) The stamped audio with one sample changed, without tags, next to
    // the original's sidecar: the manifest is found and valid, but the audio
    // is no longer what was signed. The marker still matches: exit 0.
    let edited = d.join("edited.wav");
    let mut changed = a_audio.clone();
    let x = changed.samples[1000];
    changed.samples[1000] = if x > 0.0 { x - 0.25 } else { x + 0.25 };
    write_wav16(&edited, &changed);
    let diff = decode(&edited)
        .samples
        .iter()
        .zip(&a_audio.samples)
        .filter(|(p, q)| p != q)
        .count();
    assert_eq!(diff, 1, "the edit should change exactly one sample");
    let edited_sidecar = d.join("edited.earmark.json");
    fs::copy(&a_sidecar, &edited_sidecar).unwrap();
    let (run, v) = verify_json(&edited, &[]);
    run.expect_code(0);
    assert_eq!(v["marked"], true);
    assert_eq!(v["manifest"]["source"].as_str(), Some(s(&edited_sidecar)));
    assert_eq!(v["manifest"]["signature_valid"], true);
    assert_eq!(v["manifest"]["matches_marker"], true);
    assert_eq!(v["manifest"]["audio_identical"], false);
    let run = earmark(["verify", s(&edited)]);
    run.expect_code(0);
    assert_contains(&run.stdout, "differs from what was stamped");
    // Control: the same audio unchanged is reported as identical.
    let copy = d.join("copy.wav");
    write_wav16(&copy, &a_audio);
    fs::copy(&a_sidecar, d.join("copy.earmark.json")).unwrap();
    let (run, v) = verify_json(&copy, &[]);
    run.expect_code(0);
    assert_eq!(v["manifest"]["audio_identical"], true);

    // (b) One character of the title changed in the sidecar: invalid
    // signature, exit 3.
    let text = fs::read_to_string(&a_sidecar).unwrap();
    assert_eq!(text.matches("Title-AAAA").count(), 1, "{text}");
    fs::write(
        d.join("copy.earmark.json"),
        text.replace("Title-AAAA", "Title-AAAB"),
    )
    .unwrap();
    let (run, v) = verify_json(&copy, &[]);
    run.expect_code(3);
    assert_eq!(v["marked"], true);
    assert_eq!(v["manifest"]["signature_valid"], false);
    assert_eq!(v["manifest"]["verdict"], "invalid signature");
    let run = earmark(["verify", s(&copy)]);
    run.expect_code(3);
    assert_contains(&run.stdout, "manifest    invalid signature");
    assert_contains(&run.stdout, "title       Title-AAAB");

    // The same edit inside the WAV's embedded manifest (its ID3 chunk; same
    // length, so the RIFF stays well-formed): invalid, exit 3.
    let mut bytes = fs::read(&a).unwrap();
    let pos = bytes
        .windows(10)
        .position(|w| w == b"Title-AAAA")
        .expect("title in the embedded manifest");
    bytes[pos + 9] = b'B';
    let tampered = d.join("tampered.wav");
    fs::write(&tampered, &bytes).unwrap();
    let (run, v) = verify_json(&tampered, &[]);
    run.expect_code(3);
    assert_eq!(v["manifest"]["source"], "embedded");
    assert_eq!(v["manifest"]["signature_valid"], false);
    // The audio itself was not touched.
    assert_eq!(v["manifest"]["audio_identical"], true);

    // (c) A valid manifest of A next to B, a different stamped track (other
    // payload) whose own embedded manifest was stripped: it does not match
    // B's marker, exit 3.
    let b_in = d.join("b-src.wav");
    write_wav16(&b_in, &excerpt(&test_audio(ORCHESTRAL), 5.0, 9.0));
    let b = d.join("b.flac");
    earmark([
        "stamp",
        s(&b_in),
        "--key",
        s(&key),
        "--out",
        s(&b),
        "--track-id",
        "2",
    ])
    .expect_code(0);
    let b_bare = d.join("b-bare.wav");
    write_wav16(&b_bare, &decode(&b));
    fs::copy(&a_sidecar, d.join("b-bare.earmark.json")).unwrap();
    let (run, v) = verify_json(&b_bare, &[]);
    run.expect_code(3);
    assert_eq!(v["marked"], true);
    assert_eq!(
        str_field(&v, "/markers/0/payload/key_fingerprint"),
        marker_id
    );
    assert_eq!(v["markers"][0]["payload"]["track_id"], 2);
    assert_eq!(v["manifest"]["signature_valid"], true);
    assert_eq!(v["manifest"]["matches_marker"], false);
    assert_eq!(v["manifest"]["audio_identical"], false);
    let run = earmark(["verify", s(&b_bare)]);
    run.expect_code(3);
    assert!(
        run.stdout.contains(&format!(
            "matches     NO: manifest says {marker_id}:1 (key {marker_id}, track 1)"
        )),
        "{}",
        run.stdout
    );

    // A sidecar that is not a manifest at all: marked, manifest unreadable, exit 3.
    fs::write(d.join("b-bare.earmark.json"), "{ not json").unwrap();
    let run = earmark(["verify", s(&b_bare)]);
    run.expect_code(3);
    assert_contains(&run.stdout, "manifest    UNREADABLE");
}

// ---------------------------------------------------------------------------
// 4. Clips after MP3

#[test]
fn five_second_clips_after_mp3_are_found() {
    // Takes a few seconds: stamps a whole 28 s excerpt and encodes it to MP3.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (key, _, marker_id) = fixed_key(d, "artist", 13);
    let src = d.join("xeon.ogg");
    fs::copy(test_audio("electronic-supertuxkart-xeon6.ogg"), &src).unwrap();
    let stamped = d.join("xeon.flac");
    earmark([
        "stamp",
        s(&src),
        "--key",
        s(&key),
        "--out",
        s(&stamped),
        "--track-id",
        "90210",
    ])
    .expect_code(0);
    let audio = decode(&stamped);
    assert!(audio.duration_secs() > 27.9);
    if !have("ffmpeg") {
        return;
    }
    let mp3_path = d.join("xeon-mp3.wav");
    mp3_round_trip(&stamped, &mp3_path, 128);
    let mp3 = decode(&mp3_path);
    assert!(mp3.duration_secs() > 27.5, "{}", mp3.duration_secs());

    let clips: Vec<(f64, Audio)> = [1.3, 11.0, 14.37, 21.7]
        .into_iter()
        .map(|t| (t, slice(&mp3, t, 5.0)))
        .collect();
    for (i, (t, clip)) in clips.iter().enumerate() {
        let path = d.join(format!("clip{i}.wav"));
        write_wav16(&path, clip);
        let (run, v) = verify_json(&path, &[]);
        eprintln!("clip at {t:.2} s: sync z {}", v["markers"][0]["sync_z"]);
        // Marked and no manifest anywhere: exit 0.
        run.expect_code(0);
        assert_eq!(v["marked"], true, "clip at {t:.2} s: {v}");
        assert_eq!(
            str_field(&v, "/markers/0/payload/key_fingerprint"),
            marker_id,
            "clip at {t:.2} s"
        );
        assert_eq!(v["markers"][0]["payload"]["track_id"], 90210);
        assert_eq!(v["markers"].as_array().unwrap().len(), 1, "{v}");
        assert_eq!(v["manifest"], Value::Null);
        assert_eq!(v["manifest_error"], Value::Null);
        if i == 0 {
            let run = earmark(["verify", s(&path)]);
            run.expect_code(0);
            assert_contains(&run.stdout, "MARKED");
            assert_contains(
                &run.stdout,
                "manifest    none (no embedded manifest, no sidecar)",
            );
        }
    }
}

/// A sped-up copy (x1.04: shorter and higher) is found by the scale search,
/// and the output says which change was undone; the unmarked source still
/// gives "no marker" (exit 1) with the search running.
#[test]
fn verify_finds_the_marker_after_a_speed_change() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (key, _, marker_id) = fixed_key(d, "artist", 15);
    let src = d.join("rock.wav");
    write_wav16(&src, &excerpt(&test_audio(ROCK), 4.0, 13.0));
    let stamped = d.join("rock.flac");
    earmark([
        "stamp",
        s(&src),
        "--key",
        s(&key),
        "--out",
        s(&stamped),
        "--track-id",
        "4242",
    ])
    .expect_code(0);
    let (_, v) = verify_json(&stamped, &[]);
    assert_eq!(v["marked"], true, "{v}");
    assert_eq!(v["scale"], Value::Null, "found plainly: {v}");
    assert_eq!(v["change"], Value::Null, "{v}");

    if !have("ffmpeg") {
        return;
    }
    let path = d.join("faster.wav");
    speed_change(&stamped, &path, 1.04);
    let (run, v) = verify_json(&path, &[]);
    // Marked, no manifest for this copy: exit 0.
    run.expect_code(0);
    assert_eq!(v["marked"], true, "{v}");
    assert_eq!(
        str_field(&v, "/markers/0/payload/key_fingerprint"),
        marker_id
    );
    assert_eq!(v["markers"][0]["payload"]["track_id"], 4242);
    let speed = v["scale"]["speed"].as_f64().expect("scale.speed");
    let tempo = v["scale"]["tempo"].as_f64().expect("scale.tempo");
    assert!((speed - 1.04).abs() < 0.01, "{v}");
    assert!((tempo - 1.0).abs() < 0.005, "{v}");
    assert_contains(str_field(&v, "/change"), "speed change");

    let run = earmark(["verify", s(&path)]);
    run.expect_code(0);
    assert_contains(&run.stdout, "MARKED");
    assert_contains(
        &run.stdout,
        "change      found after a speed change of about ×1.04 (tempo and pitch together)",
    );

    // --no-search skips the search: the changed copy is missed (exit 1,
    // no change reported); the untouched stamp is still found plainly.
    let (run, v) = verify_json(&path, &["--no-search"]);
    run.expect_code(1);
    assert_eq!(v["marked"], false, "{v}");
    assert_eq!(v["change"], Value::Null, "{v}");
    let (run, v) = verify_json(&stamped, &["--no-search"]);
    run.expect_code(0);
    assert_eq!(v["markers"][0]["payload"]["track_id"], 4242, "{v}");

    // The unmarked source: the search runs and finds nothing.
    let run = earmark(["verify", s(&src)]);
    run.expect_code(1);
    assert_contains(&run.stdout, "NO MARKER FOUND");
    assert!(!run.stdout.contains("change"), "{}", run.stdout);
}

/// A bare copy of a whole track (MP3 128 kbps, decoded to a WAV with no tags,
/// no sidecar, no catalogue) still proves its signer: the seal read from the
/// audio verifies with the public key alone; without the key, verify names
/// the signer and says what is missing; with another key trusted, the seal
/// is valid but the signer not trusted. `--no-seal` leaves it out.
#[test]
fn a_bare_reencoded_full_track_proves_its_signer() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (key, public, marker_id) = fixed_key(d, "artist", 21);
    let (_, other_public, _) = fixed_key(d, "other", 22);
    // Four real excerpts back to back: 112 s of music, a "full-length" track.
    let mut track = decode(&test_audio(ROCK));
    for name in [
        "rock-openarena-oa02.ogg",
        "electronic-supertuxkart-xeon6.ogg",
        "acoustic-neverball-track1.ogg",
    ] {
        let part = decode(&test_audio(name));
        track.samples.extend_from_slice(&part.samples);
    }
    let src = d.join("album-track.wav");
    write_wav16(&src, &track);
    let stamped = d.join("album-track.flac");
    earmark(["stamp", s(&src), "--key", s(&key), "--out", s(&stamped)]).expect_code(0);
    let unsealed = d.join("album-track-unsealed.flac");
    earmark([
        "stamp",
        s(&src),
        "--key",
        s(&key),
        "--no-seal",
        "--out",
        s(&unsealed),
    ])
    .expect_code(0);

    // The re-upload: MP3 128 kbps, decoded, written without any tags.
    if !have("ffmpeg") {
        return;
    }
    let bare = |from: &Path, name: &str| {
        let path = d.join(name);
        mp3_round_trip(from, &path, 128);
        path
    };
    let copy = bare(&stamped, "bare-copy.wav");
    let (run, v) = verify_json(&copy, &["--trust", s(&public)]);
    run.expect_code(0);
    assert_eq!(v["manifest"], Value::Null, "the copy has no manifest: {v}");
    assert_eq!(str_field(&v, "/seal/status"), "valid", "{v}");
    assert_eq!(str_field(&v, "/seal/signer"), marker_id);
    assert_eq!(str_field(&v, "/seal/policy"), "no-ai-training");
    assert_eq!(v["seal"]["trusted"], true, "{v}");
    let run = earmark(["verify", s(&copy), "--trust", s(&public)]);
    assert_contains(
        &run.stdout,
        &format!("seal        signed by key {marker_id}, signature valid, signer trusted"),
    );
    // inspect shows the seal too.
    let run = earmark(["inspect", s(&copy), "--trust", s(&public)]);
    assert_contains(
        &run.stdout,
        &format!("seal        signed by key {marker_id}, signature valid"),
    );
    // No key given: the signer is named, the signature unchecked.
    let (_, v) = verify_json(&copy, &[]);
    assert_eq!(str_field(&v, "/seal/status"), "unchecked", "{v}");
    let run = earmark(["verify", s(&copy)]);
    assert_contains(&run.stdout, "give its public key with --trust");
    // Another key trusted: the seal cannot be checked with it either, and
    // nothing trusted stands behind the marker: exit 4.
    let (run, v) = verify_json(&copy, &["--trust", s(&other_public)]);
    assert_eq!(str_field(&v, "/seal/status"), "unchecked", "{v}");
    assert_eq!(v["trusted_signer"], false, "{v}");
    run.expect_code(4);
    let (run, v) = verify_json(&copy, &["--trust", s(&public)]);
    assert_eq!(v["trusted_signer"], true, "{v}");
    run.expect_code(0);

    // Sped up by 4 % after the MP3: the search undoes the change, and the
    // seal is read again with it undone.
    let fast_path = d.join("bare-faster.wav");
    speed_change(&copy, &fast_path, 1.04);
    let (_, v) = verify_json(&fast_path, &["--trust", s(&public)]);
    assert_contains(str_field(&v, "/change"), "speed change");
    assert_eq!(str_field(&v, "/seal/status"), "valid", "{v}");

    // Stamped without the seal: the marker is there, the seal is not.
    // Nothing signed to check, so the marker's key fingerprint decides
    // whether a trusted key stands behind it.
    let copy = bare(&unsealed, "bare-unsealed.wav");
    let (run, v) = verify_json(&copy, &["--trust", s(&public)]);
    run.expect_code(0);
    assert_eq!(v["marked"], true, "{v}");
    assert_eq!(v["seal"], Value::Null, "{v}");
    assert_eq!(v["trusted_signer"], true, "{v}");
    assert_contains(str_field(&v, "/seal_missing"), "not recovered");
    let (run, v) = verify_json(&copy, &["--trust", s(&other_public)]);
    assert_eq!(v["trusted_signer"], false, "{v}");
    run.expect_code(4);

    // A 10 s clip of the MP3 copy: the seal is built for whole tracks. If
    // it reads at all it must be valid; if not, verify says why.
    let clip = d.join("clip.wav");
    let copy = d.join("bare-copy.wav");
    write_wav16(&clip, &slice(&decode(&copy), 30.0, 10.0));
    let (_, v) = verify_json(&clip, &["--trust", s(&public)]);
    assert_eq!(v["marked"], true, "{v}");
    match v["seal"]["status"].as_str() {
        Some(status) => assert_eq!(status, "valid", "{v}"),
        None => assert_contains(str_field(&v, "/seal_missing"), "needs about 120 s"),
    }
}

// ---------------------------------------------------------------------------
// 5. Not marked, and private watermark keys

#[test]
fn unmarked_audio_and_watermark_keys() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (key, _, marker_id) = fixed_key(d, "artist", 14);
    let plain = d.join("plain.wav");
    write_wav16(&plain, &excerpt(&test_audio(PIANO), 10.0, 10.0));
    let run = earmark(["verify", s(&plain)]);
    run.expect_code(1);
    assert!(
        run.stdout
            .starts_with(&format!("{}: NO MARKER FOUND\n", s(&plain))),
        "{}",
        run.stdout
    );
    assert_contains(&run.stdout, "best sync   z");
    assert_contains(&run.stdout, "manifest    none");

    let wm1 = d.join("wm1.key");
    let wm2 = d.join("wm2.key");
    write_random_key(&wm1, 1, 32);
    write_random_key(&wm2, 2, 32);
    let stamped = d.join("private.flac");
    earmark([
        "stamp",
        s(&plain),
        "--key",
        s(&key),
        "--out",
        s(&stamped),
        "--wm-key",
        s(&wm1),
        "--track-id",
        "5",
    ])
    .expect_code(0);

    let (run, v) = verify_json(&stamped, &["--wm-key", s(&wm1)]);
    run.expect_code(0);
    assert_eq!(
        str_field(&v, "/markers/0/payload/key_fingerprint"),
        marker_id
    );
    assert_eq!(v["markers"][0]["payload"]["track_id"], 5);

    for extra in [vec!["--wm-key", s(&wm2)], vec![]] {
        let (run, v) = verify_json(&stamped, &extra);
        run.expect_code(1);
        assert_eq!(v["marked"], false, "{extra:?}");
        assert_eq!(v["too_quiet"], false, "{extra:?}");
        // The manifest is still found and valid; there is just no marker to
        // compare it with.
        assert_eq!(v["manifest"]["signature_valid"], true);
        assert_eq!(v["manifest"]["matches_marker"], Value::Null);
        // ... and it says why: the audio is as stamped, so the marker is
        // there under another watermark key.
        let note = v["marker_note"].as_str().unwrap_or_default();
        assert!(note.contains("private watermark key"), "{extra:?}: {v}");
        assert!(note.contains(":5 "), "names the marker: {note}");
    }
    let run = earmark(["verify", s(&stamped), "--wm-key", s(&wm2)]);
    run.expect_code(1);
    assert_contains(&run.stdout, "NO MARKER FOUND");
    assert_contains(&run.stdout, "why         the manifest names marker");
    assert_contains(&earmark(["inspect", s(&stamped)]).stdout, "--wm-key FILE");
    // A tagged (never stamped) file: its signed manifest says no marker
    // was embedded, and verify and inspect agree it is a consistent
    // declaration (0), with a note on why there is no marker.
    let plain = d.join("plain.wav");
    write_wav16(&plain, &excerpt(&test_audio(ROCK), 20.0, 6.0));
    let tagged = d.join("plain.earmark.wav");
    earmark(["tag", s(&plain), "--key", s(&key), "--no-c2pa"]).expect_code(0);
    let (run, v) = verify_json(&tagged, &[]);
    run.expect_code(0);
    assert_eq!(v["marked"], false);
    assert_eq!(v["declared_without_marker"], true, "{v}");
    assert_eq!(
        v["manifest"]["document"]["manifest"]["marker_embedded"], false,
        "the signed manifest says so: {v}"
    );
    assert!(
        v["marker_note"]
            .as_str()
            .is_some_and(|n| n.contains("no marker was embedded")),
        "{v}"
    );
    let human = earmark(["verify", s(&tagged)]);
    human.expect_code(0);
    assert_contains(&human.stdout, "DECLARED WITHOUT A MARKER");
    earmark(["inspect", s(&tagged)]).expect_code(0);
    // Not the trusted key: 4, as for a marked file.
    let (_, other_pub, _) = keygen(d, "stranger");
    verify_json(&tagged, &["--trust", s(&other_pub)])
        .0
        .expect_code(4);
    // Its audio changed (samples edited, tags kept): no longer the signed
    // declaration's audio, so no marker and nothing declared: 1.
    let mut bytes = fs::read(&tagged).unwrap();
    let data = bytes.windows(4).position(|w| w == b"data").unwrap() + 8;
    for b in &mut bytes[data + 1000..data + 1100] {
        *b ^= 0x40;
    }
    let edited = d.join("edited.wav");
    fs::write(&edited, &bytes).unwrap();
    let (run, v) = verify_json(&edited, &[]);
    assert_eq!(v["declared_without_marker"], false, "{v}");
    assert_eq!(run.code, Some(1), "{v}");
    // A stamped file keeps its bytes: no marker_embedded field in its
    // manifest (only a tag-only one has it).
    let (_, v) = verify_json(&d.join("song.earmark.flac"), &[]);
    if v["manifest"].is_object() {
        assert!(
            v["manifest"]["document"]["manifest"]
                .get("marker_embedded")
                .is_none(),
            "{v}"
        );
    }

    // A watermark key shorter than 16 bytes is an error.
    let short = d.join("short.key");
    write_random_key(&short, 3, 15);
    earmark(["verify", s(&stamped), "--wm-key", s(&short)])
        .expect_one_line_error(&[s(&short), "too short"]);
}

// ---------------------------------------------------------------------------
// 6. Bad input

/// Stamps and verifies `input` (in its own folder, with the key elsewhere):
/// both must fail with exit 2 and a one-line message naming the file and
/// containing `cause`, and the folder must be unchanged.
fn assert_rejected(input: &Path, key: &Path, cause: &str) {
    let folder = input.parent().unwrap();
    let listing = list_dir(folder);
    let name = input.display().to_string();
    earmark(["stamp", s(input), "--key", s(key)]).expect_one_line_error(&[&name, cause]);
    assert_eq!(list_dir(folder), listing, "stamp {name} left files behind");
    let out = folder.join("explicit.wav");
    earmark(["stamp", s(input), "--key", s(key), "--out", s(&out)])
        .expect_one_line_error(&[&name, cause]);
    assert_eq!(list_dir(folder), listing, "stamp --out left files behind");
    earmark(["verify", s(input)]).expect_one_line_error(&[&name, cause]);
}

#[test]
fn bad_inputs_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let (key, _, _) = keygen(dir.path(), "artist");
    let case = |name: &str| {
        let folder = dir.path().join(format!("case-{name}"));
        fs::create_dir(&folder).unwrap();
        folder.join(name)
    };

    for (name, cause) in [
        ("empty.wav", "empty file"),
        ("truncated.flac", "truncated or corrupt"),
        ("not-audio.mp3", "not a recognised audio format"),
    ] {
        let input = case(name);
        fs::copy(fixture(name), &input).unwrap();
        assert_rejected(&input, &key, cause);
        // inspect too has nothing to show for a file with neither tags
        // nor audio it can read: an error (2), not an empty report.
        if name != "truncated.flac" {
            earmark(["inspect", s(&input)]).expect_one_line_error(&[s(&input), cause]);
        }
    }

    let missing = case("missing.wav");
    assert_rejected(&missing, &key, "cannot read");
    assert!(!missing.exists());

    let folder_input = case("folder.wav");
    fs::create_dir(&folder_input).unwrap();
    assert_rejected(&folder_input, &key, "is a directory");

    // A WAV with a valid header and no frames.
    let zero = case("zero.wav");
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 44_100,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    hound::WavWriter::create(&zero, spec)
        .unwrap()
        .finalize()
        .unwrap();
    assert_rejected(&zero, &key, "zero-length audio");

    // An unreadable file: root reads it anyway, so this only runs as a user.
    let locked = case("locked.wav");
    write_wav16(
        &locked,
        &excerpt(&fixture("pcm16-stereo-44100.aiff"), 0.0, 0.5),
    );
    if running_as_root(dir.path()) {
        // Tests run as root here: permissions cannot make the file unreadable.
    } else {
        fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).unwrap();
        assert_rejected(&locked, &key, "cannot read");
        fs::set_permissions(&locked, fs::Permissions::from_mode(0o644)).unwrap();
    }

    // A bad signing key is reported, naming the key file.
    let input = case("good.aiff");
    fs::copy(fixture("pcm16-stereo-44100.aiff"), &input).unwrap();
    let public = dir.path().join("artist.pub.pem");
    earmark(["stamp", s(&input), "--key", s(&public)])
        .expect_one_line_error(&[s(&public), "not a PEM private key"]);
    let nokey = dir.path().join("nokey.pem");
    earmark(["stamp", s(&input), "--key", s(&nokey)])
        .expect_one_line_error(&[s(&nokey), "no such file"]);
    earmark(["stamp", s(&input), "--key", s(&key), "--strength", "0"])
        .expect_one_line_error(&["--strength"]);
    assert_eq!(list_dir(input.parent().unwrap()), vec!["good.aiff"]);
    earmark(["verify", s(&input), "--trust", s(&nokey)])
        .expect_one_line_error(&[s(&nokey), "no such file"]);
}

#[test]
fn existing_outputs_same_path_and_unsupported_format() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (key, _, _) = keygen(d, "artist");
    let song = d.join("song.wav");
    write_wav16(&song, &excerpt(&test_audio(SPEECH), 2.0, 3.0));
    let song_hash = sha256_file(&song);

    // Existing output without --force: refused, untouched, nothing else written.
    let out = d.join("song.earmark.flac");
    fs::write(&out, b"precious").unwrap();
    earmark(["stamp", s(&song), "--key", s(&key)]).expect_one_line_error(&[
        s(&out),
        "output exists",
        "--force",
    ]);
    assert_eq!(fs::read(&out).unwrap(), b"precious");
    assert!(!d.join("song.flac.earmark.json").exists());
    assert_no_temp_files(d);

    // Existing sidecar only: refused before any audio is written.
    fs::remove_file(&out).unwrap();
    let sidecar = d.join("song.flac.earmark.json");
    fs::write(&sidecar, b"old sidecar").unwrap();
    earmark(["stamp", s(&song), "--key", s(&key)])
        .expect_one_line_error(&[s(&sidecar), "output exists"]);
    assert!(!out.exists());
    assert_eq!(fs::read(&sidecar).unwrap(), b"old sidecar");
    assert_no_temp_files(d);

    // --force replaces both.
    fs::write(&out, b"precious").unwrap();
    earmark(["stamp", s(&song), "--key", s(&key), "--force"]).expect_code(0);
    assert_eq!(decode(&out).frames(), decode(&song).frames());
    assert!(SignedManifest::parse(&fs::read_to_string(&sidecar).unwrap()).is_ok());
    assert_no_temp_files(d);

    // --out equal to the input, spelled the same way or differently.
    let dotted = d.join(".").join("song.wav");
    for same in [&song, &dotted] {
        earmark([
            "stamp",
            s(&song),
            "--key",
            s(&key),
            "--out",
            s(same),
            "--force",
        ])
        .expect_one_line_error(&["output path is the input file"]);
        assert_eq!(sha256_file(&song), song_hash);
    }
    // Also when run from the folder with a relative path.
    earmark_in(
        d,
        [
            "stamp",
            "song.wav",
            "--key",
            "artist.pem",
            "--out",
            "./song.wav",
        ],
    )
    .expect_one_line_error(&["song.wav", "output path is the input file"]);
    assert_eq!(sha256_file(&song), song_hash);

    // An output folder that does not exist.
    let nowhere = d.join("no-such-folder").join("out.wav");
    earmark(["stamp", s(&song), "--key", s(&key), "--out", s(&nowhere)])
        .expect_one_line_error(&[s(&nowhere)]);
    assert!(!d.join("no-such-folder").exists());

    // An output format that cannot be written.
    let ogg = d.join("foo.ogg");
    earmark(["stamp", s(&song), "--key", s(&key), "--out", s(&ogg)]).expect_one_line_error(&[
        s(&ogg),
        "unsupported output format",
        "ogg",
    ]);
    assert!(!ogg.exists());
    assert!(!earmark::naming::sidecar_path(&ogg).exists());
    assert!(!d.join("foo.earmark.json").exists());
    assert_no_temp_files(d);
    assert_eq!(sha256_file(&song), song_hash);
}

// ---------------------------------------------------------------------------
// 7. Silence

#[test]
fn silence_warns_and_verify_cannot_tell() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (key, _, _) = keygen(d, "artist");
    let silence = d.join("silence.wav");
    let audio = Audio {
        samples: vec![0.0; 44_100 * 10 * 2],
        sample_rate: 44_100,
        channels: 2,
    };
    write_wav16(&silence, &audio);
    let out = d.join("silence.earmark.flac");
    let run = earmark(["stamp", s(&silence), "--key", s(&key)]);
    run.expect_code(0);
    assert!(
        run.stderr.contains(&format!(
            "earmark: warning: {}: the track is silent: no marker could be embedded",
            s(&silence)
        )),
        "{}",
        run.stderr
    );
    let stamped = decode(&out);
    assert_eq!(stamped.frames(), audio.frames());
    assert!(stamped.samples.iter().all(|&x| x == 0.0), "silence changed");

    let run = earmark(["verify", s(&out)]);
    run.expect_code(1);
    assert_contains(&run.stdout, "CANNOT TELL (too quiet to hold a marker)");
    assert!(!run.stdout.contains("NO MARKER FOUND"), "{}", run.stdout);
    let (_, v) = verify_json(&out, &[]);
    assert_eq!(v["too_quiet"], true);
    assert_eq!(v["marked"], false);

    // Near-silence: a real excerpt 90 dB down (24-bit, so it is not rounded
    // to zero) gets a weak-marker warning and a "cannot tell".
    let mut quiet = excerpt(&test_audio(ROCK), 5.0, 10.0);
    for x in &mut quiet.samples {
        *x *= 10f32.powf(-90.0 / 20.0);
    }
    let quiet_in = d.join("quiet.wav");
    write_audio(&quiet_in, &quiet, OutputFormat::Wav, SampleFormat::I24);
    let run = earmark(["stamp", s(&quiet_in), "--key", s(&key)]);
    run.expect_code(0);
    assert!(
        run.stderr
            .contains(&format!("earmark: warning: {}: only ", s(&quiet_in)))
            && run
                .stderr
                .contains("loud enough for a robust marker: it may be weak"),
        "no weak-marker warning: {}",
        run.stderr
    );
    let run = earmark(["verify", s(&d.join("quiet.earmark.flac"))]);
    run.expect_code(1);
    assert_contains(&run.stdout, "CANNOT TELL");
}

// ---------------------------------------------------------------------------
// 8. Input formats

#[test]
fn every_decodable_fixture_can_be_stamped() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (key, _, _) = keygen(d, "artist");
    // (file, exact frames for lossless sources (SOURCES.md), manifest sample format)
    let fixtures = [
        ("aac-stereo-44100.m4a", None, "s24"),
        ("alac-stereo-44100.m4a", Some(44_100), "s16"),
        ("pcm16-stereo-44100.aiff", Some(44_100), "s16"),
        ("mp3-stereo-44100.mp3", None, "s24"),
        ("vorbis-mono-22050.ogg", None, "s24"),
        ("flac24-6ch-48000.flac", Some(48_000), "s24"),
    ];
    for (name, lossless_frames, sample_format) in fixtures {
        let input = d.join(name);
        fs::copy(fixture(name), &input).unwrap();
        let before = sha256_file(&input);
        let run = earmark(["stamp", s(&input), "--key", s(&key), "--json"]);
        run.expect_code(0);
        assert_eq!(sha256_file(&input), before, "{name}: input modified");
        // 1–2 s is too short for a reliable marker, and the tool says so.
        assert!(
            run.stderr.contains("markers need at least"),
            "{name}: {}",
            run.stderr
        );
        let j = run.json();
        let out = Path::new(j["output"].as_str().unwrap()).to_path_buf();
        assert_eq!(
            out.file_name().unwrap().to_str().unwrap(),
            format!("{}.earmark.flac", name.rsplit_once('.').unwrap().0)
        );
        let src = decode(&input);
        let got = decode(&out);
        assert_eq!(got.channels, src.channels, "{name}");
        assert_eq!(got.sample_rate, src.sample_rate, "{name}");
        assert_eq!(got.frames(), src.frames(), "{name}");
        if let Some(frames) = lossless_frames {
            assert_eq!(got.frames(), frames, "{name}");
        }
        assert_eq!(
            str_field(&j, "/manifest/manifest/audio/sample_format"),
            sample_format,
            "{name}"
        );
        // The stamped file verifies its own manifest (no marker expected).
        let (run, v) = verify_json(&out, &[]);
        assert!(
            run.code == Some(0) || run.code == Some(1),
            "{name}: {run:?}"
        );
        assert_eq!(v["manifest"]["signature_valid"], true, "{name}");
        assert_eq!(v["manifest"]["audio_identical"], true, "{name}");
    }
    assert_no_temp_files(d);
}

#[test]
fn stamp_48k_stereo_and_mono_excerpts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (key, _, marker_id) = fixed_key(d, "artist", 15);
    let cases = [
        (ELECTRONIC_48K, 8.0, 48_000, 2, "title48k.flac"),
        (SPEECH, 4.0, 44_100, 1, "speech.flac"),
        (
            "speech-openarena-announcer.ogg",
            0.0,
            44_100,
            1,
            "announcer.wav",
        ),
    ];
    for (i, (src, start, rate, channels, name)) in cases.into_iter().enumerate() {
        let audio = excerpt(&test_audio(src), start, 10.0);
        assert_eq!(audio.sample_rate, rate);
        assert_eq!(audio.channels, channels);
        let input = d.join(format!("in-{i}.wav"));
        write_wav16(&input, &audio);
        let out = d.join(name);
        let track = (1000 + i).to_string();
        earmark([
            "stamp",
            s(&input),
            "--key",
            s(&key),
            "--out",
            s(&out),
            "--track-id",
            &track,
        ])
        .expect_code(0);
        let got = decode(&out);
        assert_eq!(
            (got.sample_rate, got.channels, got.frames()),
            (rate, channels, audio.frames()),
            "{src}"
        );
        let (run, v) = verify_json(&out, &[]);
        run.expect_code(0);
        assert_eq!(v["sample_rate"], rate, "{src}");
        assert_eq!(v["channels"], channels, "{src}");
        assert_eq!(
            str_field(&v, "/markers/0/payload/key_fingerprint"),
            marker_id
        );
        assert_eq!(v["markers"][0]["payload"]["track_id"], 1000 + i, "{src}");
    }
}

// ---------------------------------------------------------------------------
// 9. --json

#[test]
fn verify_json_prints_one_object_per_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (key, _, marker_id) = keygen(d, "artist");
    let song = d.join("song.wav");
    write_wav16(&song, &excerpt(&test_audio(ROCK), 15.0, 8.0));
    let stamped = d.join("song.earmark.flac");
    earmark(["stamp", s(&song), "--key", s(&key)]).expect_code(0);
    let broken = d.join("broken.flac");
    fs::copy(fixture("truncated.flac"), &broken).unwrap();
    // An unmarked file with no sidecar (song.wav itself would pick up
    // song.earmark.json, had its stamped copy been made by an earlier
    // version, which named sidecars that way).
    let plain = d.join("plain.wav");
    fs::copy(&song, &plain).unwrap();

    // Marked + unmarked: worst code is 1, two lines.
    let run = earmark(["verify", "--json", s(&stamped), s(&plain)]);
    run.expect_code(1);
    let v = run.json_lines();
    assert_eq!(v.len(), 2, "{}", run.stdout);
    assert_eq!(v[0]["path"].as_str(), Some(s(&stamped)));
    assert_eq!(v[0]["marked"], true);
    assert_eq!(
        str_field(&v[0], "/markers/0/payload/key_fingerprint"),
        marker_id
    );
    assert_eq!(v[1]["path"].as_str(), Some(s(&plain)));
    assert_eq!(v[1]["marked"], false);
    assert_eq!(v[1]["manifest"], Value::Null);

    // With a broken file in the middle: an error object for it, exit 2, and
    // the error also goes to stderr as one line.
    let run = earmark(["verify", "--json", s(&stamped), s(&broken), s(&plain)]);
    run.expect_code(2);
    let v = run.json_lines();
    assert_eq!(v.len(), 3, "{}", run.stdout);
    assert_eq!(v[0]["marked"], true);
    assert_eq!(v[1]["path"].as_str(), Some(s(&broken)));
    let err = v[1]["error"].as_str().expect("error field");
    assert!(err.contains("truncated or corrupt"), "{err}");
    assert!(v[1].get("marked").is_none());
    assert_eq!(v[2]["marked"], false);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    assert!(lines[0].contains(s(&broken)), "{}", run.stderr);

    // Without --json: errors go to stderr only, the others still print.
    let run = earmark(["verify", s(&broken), s(&stamped)]);
    run.expect_code(2);
    assert!(run.stdout.contains(&format!("{}: MARKED", s(&stamped))));
    assert!(!run.stdout.contains(s(&broken)), "{}", run.stdout);
}

// ---------------------------------------------------------------------------
// Known bugs: these fail today and are ignored so the suite stays green. Run
// them with `cargo test --test cli -- --ignored`.

#[test]
fn closed_stdout_does_not_panic() {
    // `earmark verify FILE | head -1` closes the pipe early; a CLI should
    // exit quietly (or with an error line), not panic.
    let child = Command::new(env!("CARGO_BIN_EXE_earmark"))
        .env("EARMARK_REGISTRY", test_registry())
        .args(["verify", s(&fixture("mp3-stereo-44100.mp3"))])
        .env_remove("RUST_BACKTRACE")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = child;
    drop(child.stdout.take()); // the reader goes away before anything is printed
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_ne!(out.status.code(), Some(101), "{stderr}");
}

#[test]
fn quiet_music_is_either_marked_or_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (key, _, _) = fixed_key(d, "artist", 16);
    let mut quiet = excerpt(&test_audio(ROCK), 5.0, 10.0);
    for x in &mut quiet.samples {
        *x *= 10f32.powf(-70.0 / 20.0);
    }
    let input = d.join("quiet.wav");
    write_audio(&input, &quiet, OutputFormat::Wav, SampleFormat::I24);
    let stamp = earmark(["stamp", s(&input), "--key", s(&key)]);
    stamp.expect_code(0);
    let verify = earmark(["verify", s(&d.join("quiet.earmark.flac"))]);
    assert!(
        verify.code == Some(0) || stamp.stderr.contains("warning"),
        "stamped silently, yet verify says:\n{}",
        verify.stdout
    );
}

#[test]
fn failed_stamp_leaves_no_sidecar() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (key, _, _) = keygen(d, "artist");
    let input = d.join("in.aiff");
    fs::copy(fixture("pcm16-stereo-44100.aiff"), &input).unwrap();
    // The output name is taken by a folder: with --force the pre-checks pass,
    // the final rename fails.
    let out = d.join("taken.wav");
    fs::create_dir(&out).unwrap();
    earmark([
        "stamp",
        s(&input),
        "--key",
        s(&key),
        "--out",
        s(&out),
        "--force",
    ])
    .expect_one_line_error(&[s(&out)]);
    assert_no_temp_files(d);
    assert!(
        !d.join("taken.wav.earmark.json").exists(),
        "a manifest was left for audio that was never written"
    );
}

/// Stamping one input to x.wav and x.flac in one folder gives each output
/// its own sidecar, and verify pairs each file with its own; a sidecar
/// named the old way (NAME.earmark.json) is still read.
#[test]
fn each_output_has_its_own_sidecar() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (key, _, _) = fixed_key(d, "artist", 21);
    let input = d.join("in.wav");
    write_wav16(&input, &excerpt(&test_audio(ROCK), 4.0, 6.0));
    for (ext, track) in [("wav", "5"), ("flac", "6")] {
        let out = d.join(format!("x.{ext}"));
        earmark([
            "stamp",
            s(&input),
            "--key",
            s(&key),
            "--out",
            s(&out),
            "--track-id",
            track,
        ])
        .expect_code(0);
        assert!(d.join(format!("x.{ext}.earmark.json")).is_file());
    }
    for (ext, track) in [("wav", 5), ("flac", 6)] {
        let out = d.join(format!("x.{ext}"));
        let json = fs::read_to_string(d.join(format!("x.{ext}.earmark.json"))).unwrap();
        assert!(
            json.contains(&format!("\"track_id\": {track}")),
            "{ext}: {json}"
        );
        // A bare copy of the audio reads its manifest from the sidecar.
        let bare = d.join(format!("bare-{ext}.wav"));
        write_wav16(&bare, &decode(&out));
        fs::copy(
            d.join(format!("x.{ext}.earmark.json")),
            d.join(format!("bare-{ext}.earmark.json")),
        )
        .unwrap();
        let (run, v) = verify_json(&bare, &[]);
        run.expect_code(0);
        assert_eq!(v["manifest"]["matches_marker"], true, "{ext}: {v}");
        assert_eq!(
            v["manifest"]["document"]["manifest"]["payload"]["track_id"],
            track
        );
    }
}

/// A file that already carries a marker is not stamped again: with the same
/// key the user is told to stamp the original, with another key that the
/// earlier claim stays in the audio. Nothing is written either way.
#[test]
fn stamped_files_are_not_stamped_again() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (key, _, marker_id) = fixed_key(d, "artist", 31);
    let (other, _, _) = fixed_key(d, "other", 32);
    let input = d.join("song.wav");
    write_wav16(&input, &excerpt(&test_audio(ROCK), 4.0, 20.0));
    let once = d.join("once.flac");
    earmark([
        "stamp",
        s(&input),
        "--key",
        s(&key),
        "--out",
        s(&once),
        "--track-id",
        "9",
    ])
    .expect_code(0);
    let before = list_dir(d);
    earmark([
        "stamp",
        s(&once),
        "--key",
        s(&key),
        "--out",
        s(&d.join("twice.flac")),
    ])
    .expect_code(2)
    .expect_one_line_error(&[
        "once.flac",
        "already stamped with this key",
        &format!("{marker_id}:9"),
        "stamp the original",
    ]);
    // Through MP3 and back, and under another key: still refused, and why.
    let mp3 = d.join("once-mp3.wav");
    if have("ffmpeg") {
        mp3_round_trip(&once, &mp3, 192);
        earmark([
            "stamp",
            s(&mp3),
            "--key",
            s(&other),
            "--out",
            s(&d.join("theirs.flac")),
        ])
        .expect_code(2)
        .expect_one_line_error(&[
            "once-mp3.wav",
            "another key's marker",
            "stays in the audio",
        ]);
    }
    let mut after = list_dir(d);
    after.retain(|n| n != "once-mp3.wav");
    assert_eq!(after, before, "nothing written");
    assert_no_temp_files(d);
}

/// `SOURCE_DATE_EPOCH` pins the manifest's time, so two stamps of the same
/// input with the same key and track id are byte-identical (what another
/// front end, such as the Python package, is compared against); a value
/// that is not whole seconds is refused.
#[test]
fn source_date_epoch_makes_stamps_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (key, _, _) = fixed_key(d, "artist", 21);
    let src = d.join("rock.wav");
    write_wav16(&src, &excerpt(&test_audio(ROCK), 1.0, 6.0));
    let stamp_at = |name: &str, epoch: &str| {
        let out = d.join(name);
        let run = earmark_env(
            [
                "stamp",
                s(&src),
                "--key",
                s(&key),
                "--out",
                s(&out),
                "--track-id",
                "7",
                "--no-c2pa",
            ],
            &[("SOURCE_DATE_EPOCH", epoch)],
        );
        (run, out)
    };
    let (run, a) = stamp_at("a.flac", "1790000000");
    run.expect_code(0);
    let (run, b) = stamp_at("b.flac", "1790000000");
    run.expect_code(0);
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    let (_, v) = verify_json(&a, &[]);
    assert_eq!(
        str_field(&v, "/manifest/document/manifest/created"),
        "2026-09-21T14:13:20Z"
    );
    let (run, c) = stamp_at("c.flac", "1790000001");
    run.expect_code(0);
    assert_ne!(std::fs::read(&a).unwrap(), std::fs::read(&c).unwrap());
    let (run, _) = stamp_at("d.flac", "yesterday");
    run.expect_code(2);
    assert_contains(&run.stderr, "SOURCE_DATE_EPOCH must be whole seconds");
}

/// Runs `earmark ARGS`, failing the test if it has not finished within 60 s
/// (a hang is the bug these tests look for).
fn earmark_within_a_minute(args: &[&str]) -> Run {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    let mut child = Command::new(env!("CARGO_BIN_EXE_earmark"))
        .env("EARMARK_REGISTRY", test_registry())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("earmark {args:?} hung");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Run::from(child.wait_with_output().unwrap())
}

/// Makes a named pipe at `path`.
fn mkfifo(path: &Path) {
    let name = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    assert_eq!(
        unsafe { libc::mkfifo(name.as_ptr(), 0o644) },
        0,
        "mkfifo {}",
        path.display()
    );
}

/// FIFOs and devices where files are expected: never opened (a FIFO blocks,
/// /dev/zero never ends), a clear error for an input or a key, a warning
/// for a sidecar that is skipped.
#[test]
fn fifos_and_devices_are_refused_not_waited_on() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (key, public, _) = fixed_key(d, "artist", 31);
    let fifo = d.join("pipe.mp3");
    mkfifo(&fifo);
    for cmd in ["verify", "inspect"] {
        earmark_within_a_minute(&[cmd, s(&fifo)]).expect_one_line_error(&[
            s(&fifo),
            "FIFO",
            "not a regular file",
        ]);
    }
    earmark_within_a_minute(&["stamp", s(&fifo), "--key", s(&key)])
        .expect_one_line_error(&[s(&fifo), "FIFO"]);

    // Keys that are devices or FIFOs fail at once.
    let zero = Path::new("/dev/zero");
    let src = d.join("song.wav");
    write_wav16(&src, &excerpt(&test_audio(ROCK), 0.0, 3.0));
    earmark_within_a_minute(&["stamp", s(&src), "--key", "/dev/zero"])
        .expect_one_line_error(&["/dev/zero", "device"]);
    earmark_within_a_minute(&["verify", s(&src), "--trust", s(zero)])
        .expect_one_line_error(&["/dev/zero", "device"]);
    earmark_within_a_minute(&["verify", s(&src), "--wm-key", s(zero)])
        .expect_one_line_error(&["/dev/zero", "device"]);
    earmark_within_a_minute(&["verify", s(&src), "--trust", s(&fifo)])
        .expect_one_line_error(&[s(&fifo), "FIFO"]);

    // A stamped file whose sidecar is a FIFO, then a link to /dev/zero:
    // the sidecar is skipped with a warning, the audio still verified.
    let stamped = d.join("song.flac");
    earmark([
        "stamp",
        s(&src),
        "--key",
        s(&key),
        "--out",
        s(&stamped),
        "--no-c2pa",
    ])
    .expect_code(0);
    let plain = d.join("plain.wav");
    fs::copy(&src, &plain).unwrap();
    let sidecar = d.join("plain.wav.earmark.json");
    mkfifo(&sidecar);
    let run = earmark_within_a_minute(&["verify", s(&plain), "--trust", s(&public)]);
    run.expect_code(1);
    assert_contains(&run.stderr, "warning");
    assert_contains(
        &run.stderr,
        "FIFO (named pipe), not a regular file: not read as a sidecar",
    );
    fs::remove_file(&sidecar).unwrap();
    std::os::unix::fs::symlink(zero, &sidecar).unwrap();
    let run = earmark_within_a_minute(&["verify", s(&plain), "--json"]);
    run.expect_code(1);
    let v = run.json();
    assert_contains(
        v["warnings"][0].as_str().unwrap_or_default(),
        "is a device, not a regular file",
    );
    // The stamped file itself verifies as before.
    earmark_within_a_minute(&["verify", s(&stamped), "--trust", s(&public)]).expect_code(0);
}

/// A float master with samples above full scale, and NaN and ±Inf (a broken
/// export): to a float WAV the headroom is kept (never clipped) and the
/// message says so; to FLAC (integer) it is limited and the message says
/// that; NaN and Inf never reach a file and are counted in a warning.
#[test]
fn float_masters_keep_headroom_and_never_write_nan_or_inf() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (key, _, _) = fixed_key(d, "artist", 41);
    let music = excerpt(&test_audio(ROCK), 0.0, 8.0);
    let src = d.join("hot.wav");
    let spec = hound::WavSpec {
        channels: music.channels,
        sample_rate: music.sample_rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(&src, spec).unwrap();
    for (i, &x) in music.samples.iter().enumerate() {
        // 6 dB hot: a good share of the peaks above 1.0.
        let v = match i {
            10_000 => f32::NAN,
            20_000 => f32::INFINITY,
            30_000 => f32::NEG_INFINITY,
            _ => x * 2.0,
        };
        w.write_sample(v).unwrap();
    }
    w.finalize().unwrap();
    let peak_in = music.samples.iter().fold(0f32, |m, x| m.max(2.0 * x.abs()));
    assert!(peak_in > 1.2, "the test needs a hot master ({peak_in})");

    let out = d.join("hot.earmark.wav");
    let run = earmark([
        "stamp",
        s(&src),
        "--key",
        s(&key),
        "--out",
        s(&out),
        "--no-c2pa",
    ]);
    run.expect_code(0);
    assert_contains(&run.stderr, "3 samples of the input were NaN or infinite");
    assert!(!run.stderr.contains("clips them"), "{}", run.stderr);
    let stamped: Vec<f32> = hound::WavReader::open(&out)
        .unwrap()
        .samples::<f32>()
        .map(Result::unwrap)
        .collect();
    assert!(stamped.iter().all(|x| x.is_finite()), "NaN or Inf written");
    let peak_out = stamped.iter().fold(0f32, |m, x| m.max(x.abs()));
    assert!(peak_out > 1.2, "headroom was cut: peak {peak_out}");

    let flac = d.join("hot.earmark.flac");
    let run = earmark([
        "stamp",
        s(&src),
        "--key",
        s(&key),
        "--out",
        s(&flac),
        "--no-c2pa",
    ]);
    run.expect_code(0);
    assert_contains(&run.stderr, "3 samples of the input were NaN or infinite");
    assert_contains(
        &run.stderr,
        "above full scale, and the 24-bit output clips them",
    );
    let back = decode(&flac);
    assert!(back.samples.iter().all(|x| x.is_finite() && x.abs() <= 1.0));
}

/// Temporary files: a SIGINT or SIGTERM during a long stamp removes this
/// run's (exit 130); after a SIGKILL, which nothing can catch, the next run
/// on the same output removes the leftover.
#[test]
fn interrupted_stamps_leave_no_temporary_files() {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (key, _, _) = fixed_key(d, "artist", 51);
    // Ten minutes of real music (the excerpt looped, mono) so that the
    // stamp is still running when the signal comes.
    let piece = excerpt(&test_audio(ROCK), 0.0, 20.0);
    let mono: Vec<f32> = piece
        .samples
        .chunks(usize::from(piece.channels))
        .map(|f| f.iter().sum::<f32>() / f.len() as f32)
        .collect();
    let mut long = piece.clone();
    long.channels = 1;
    long.samples = mono.iter().copied().cycle().take(mono.len() * 30).collect();
    let src = d.join("long.wav");
    write_wav16(&src, &long);
    let out_dir = d.join("out");
    fs::create_dir(&out_dir).unwrap();
    let out = out_dir.join("long.flac");
    let temps = || -> Vec<String> {
        fs::read_dir(&out_dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".earmark-"))
            .collect()
    };
    let start_stamp = || {
        Command::new(env!("CARGO_BIN_EXE_earmark"))
            .env("EARMARK_REGISTRY", test_registry())
            .args([
                "stamp",
                s(&src),
                "--key",
                s(&key),
                "--out",
                s(&out),
                "--no-c2pa",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    // Waits until the run has a temporary file; false if it finished first.
    let caught = |child: &mut std::process::Child| {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(60) {
            if child.try_wait().unwrap().is_some() {
                return false;
            }
            if !temps().is_empty() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        panic!("no temporary file appeared");
    };
    for (signal, name) in [(libc::SIGINT, "SIGINT"), (libc::SIGTERM, "SIGTERM")] {
        let mut child = start_stamp();
        if !caught(&mut child) {
            eprintln!("note: the stamp finished before {name} could be sent");
            let _ = fs::remove_file(&out);
            let _ = fs::remove_file(out_dir.join("long.flac.earmark.json"));
            continue;
        }
        unsafe { libc::kill(child.id() as i32, signal) };
        let status = child.wait_with_output().unwrap();
        assert_eq!(status.status.code(), Some(130), "{name}");
        assert_contains(&String::from_utf8_lossy(&status.stderr), "interrupted");
        assert!(temps().is_empty(), "{name} left {:?}", temps());
        assert!(!out.exists(), "{name} left a partial output");
    }
    let mut child = start_stamp();
    if caught(&mut child) {
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!temps().is_empty(), "SIGKILL leaves the temporary file");
        earmark([
            "stamp",
            s(&src),
            "--key",
            s(&key),
            "--out",
            s(&out),
            "--no-c2pa",
        ])
        .expect_code(0);
        assert!(temps().is_empty(), "the next run removed {:?}", temps());
        assert!(out.exists());
    }
}

/// FLAC and Ogg files of a few dozen bytes whose Vorbis comment or picture
/// declares a 4 GiB field: under a 2 GB address-space limit every command
/// fails with a one-line error naming the file (before the fix symphonia
/// tried to allocate the 4 GiB and the process aborted, exit 134).
#[test]
fn hostile_flac_metadata_lengths_are_refused_before_allocating() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (key, _, _) = fixed_key(d, "artist", 61);
    let flac = |name: &str, kind: u8, body: &[u8]| {
        let mut out = flac_head();
        out.extend(flac_block(kind, true, body));
        let path = d.join(name);
        fs::write(&path, out).unwrap();
        path
    };
    let huge = 0xFFFF_FFF0u32;
    let mut comment = 4u32.to_le_bytes().to_vec();
    comment.extend_from_slice(b"abcd");
    comment.extend_from_slice(&1u32.to_le_bytes());
    comment.extend_from_slice(&huge.to_le_bytes());
    let mut picture = 3u32.to_be_bytes().to_vec();
    picture.extend_from_slice(&huge.to_be_bytes());
    picture.extend_from_slice(b"abcd");
    // The same in an Ogg Vorbis comment header (symphonia allocated it too).
    let mut vorbis_comment = b"\x03vorbis".to_vec();
    vorbis_comment.extend_from_slice(&comment);
    vorbis_comment.extend_from_slice(b"xx");
    let mut ident = b"\x01vorbis".to_vec();
    ident.extend_from_slice(&0u32.to_le_bytes());
    ident.push(2);
    ident.extend_from_slice(&44_100u32.to_le_bytes());
    ident.extend_from_slice(&[0, 0, 0, 0, 0x00, 0xf4, 0x01, 0x00, 0, 0, 0, 0, 0xb8, 1]);
    let ogg = d.join("comment.ogg");
    let mut bytes = ogg_page(&ident, 0, 2);
    bytes.extend(ogg_page(&vorbis_comment, 1, 0));
    fs::write(&ogg, bytes).unwrap();
    let cases = [
        (
            flac("comment.flac", 4, &comment),
            "comment 1 claims 4294967280 bytes",
        ),
        (
            flac("picture.flac", 6, &picture),
            "picture MIME type claims 4294967280 bytes",
        ),
        (ogg, "comment 1 claims 4294967280 bytes"),
    ];
    for (path, cause) in &cases {
        for args in [
            vec!["verify", s(path)],
            vec!["inspect", s(path)],
            vec!["tag", s(path), "--key", s(&key)],
            vec!["stamp", s(path), "--key", s(&key)],
        ] {
            let script = format!(
                "ulimit -v 2000000; exec {} {}",
                env!("CARGO_BIN_EXE_earmark"),
                args.iter()
                    .map(|a| format!("'{a}'"))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            let out = Command::new("sh")
                .args(["-c", &script])
                .env("EARMARK_REGISTRY", test_registry())
                .output()
                .unwrap();
            Run::from(out).expect_one_line_error(&[s(path), "corrupt", cause]);
        }
    }
}

/// One Ogg page (serial 1) holding `packet` whole, with its CRC.
fn ogg_page(packet: &[u8], sequence: u32, header_type: u8) -> Vec<u8> {
    let mut page = b"OggS".to_vec();
    page.extend_from_slice(&[0, header_type]);
    page.extend_from_slice(&0u64.to_le_bytes());
    page.extend_from_slice(&1u32.to_le_bytes());
    page.extend_from_slice(&sequence.to_le_bytes());
    page.extend_from_slice(&[0; 4]);
    let mut segments = vec![255u8; packet.len() / 255];
    segments.push((packet.len() % 255) as u8);
    page.push(segments.len() as u8);
    page.extend_from_slice(&segments);
    page.extend_from_slice(packet);
    let mut crc = 0u32;
    for &b in &page {
        crc ^= u32::from(b) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04c1_1db7
            } else {
                crc << 1
            };
        }
    }
    page[22..26].copy_from_slice(&crc.to_le_bytes());
    page
}

/// A WAV whose data size field undercounts the audio (a wrapped 32-bit
/// size past 4 GiB, or 0 from a stream that was never finished) is read to
/// the end, with a warning, by verify and stamp alike: never silently cut.
#[test]
fn wav_sizes_that_undercount_the_audio_are_reported_and_read_to_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (key, _, _) = fixed_key(d, "artist", 71);
    let full = d.join("full.wav");
    write_wav16(&full, &excerpt(&test_audio(ROCK), 0.0, 8.0));
    let bytes = fs::read(&full).unwrap();
    let at = bytes.windows(4).position(|w| w == b"data").unwrap() + 4;
    let size = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    for (name, declared) in [("wrapped.wav", size / 2), ("unfinished.wav", 0)] {
        let mut b = bytes.clone();
        b[at..at + 4].copy_from_slice(&declared.to_le_bytes());
        let path = d.join(name);
        fs::write(&path, b).unwrap();
        let run = earmark(["verify", s(&path), "--json"]);
        run.expect_code(1);
        let v = run.json();
        assert!((v["seconds"].as_f64().unwrap() - 8.0).abs() < 0.01, "{v}");
        assert_contains(
            v["warnings"][0].as_str().unwrap_or_default(),
            &format!("declares {declared} bytes, but audio runs on to the end of the file"),
        );
        assert_contains(&run.stderr, "warning");
        let out = d.join(format!("{name}.flac"));
        let run = earmark([
            "stamp",
            s(&path),
            "--key",
            s(&key),
            "--out",
            s(&out),
            "--no-c2pa",
        ]);
        run.expect_code(0);
        assert_contains(&run.stderr, "audio runs on to the end of the file");
        let back = decode(&out);
        assert_eq!(back.frames(), 8 * back.sample_rate as usize);
    }
}

/// Shell completions and the man page come from the same definitions as
/// the parser: every subcommand and option is in them, and the bash script
/// is valid bash.
#[test]
fn completions_and_man_page_cover_every_command() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let run = earmark(["completions", shell]);
        run.expect_code(0);
        for word in [
            "stamp",
            "verify",
            "inspect",
            "catalogue",
            "trust",
            "no-search",
        ] {
            assert_contains(&run.stdout, word);
        }
        if shell == "bash" {
            let script = dir.path().join("earmark.bash");
            fs::write(&script, &run.stdout).unwrap();
            let check = Command::new("bash")
                .arg("-n")
                .arg(&script)
                .output()
                .unwrap();
            assert!(
                check.status.success(),
                "{}",
                String::from_utf8_lossy(&check.stderr)
            );
        }
    }
    earmark(["completions", "tcsh"]).expect_code(2);
    let man = earmark(["man"]);
    man.expect_code(0);
    assert!(man.stdout.starts_with(".ie"), "roff: {}", &man.stdout[..40]);
    assert_contains(&man.stdout, ".TH earmark 1");
    for word in ["stamp", "verify", "completions", "Exit codes"] {
        assert_contains(&man.stdout, word);
    }
}

/// 192 kHz masters stamp to the default FLAC (FLAC allows up to 655 kHz;
/// an older encoder refused anything above 96 kHz) and verify.
#[test]
fn high_rate_masters_stamp_to_flac() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (key, public, _) = fixed_key(d, "artist", 81);
    let mut hi = excerpt(&test_audio(ROCK), 0.0, 20.0);
    hi.sample_rate = 192_000;
    let src = d.join("hi.wav");
    write_audio(&src, &hi, OutputFormat::Wav, SampleFormat::I24);
    let out = d.join("hi.flac");
    earmark([
        "stamp",
        s(&src),
        "--key",
        s(&key),
        "--out",
        s(&out),
        "--no-c2pa",
    ])
    .expect_code(0);
    let back = decode(&out);
    assert_eq!(back.sample_rate, 192_000);
    assert_eq!(back.frames(), hi.frames());
    let (run, v) = verify_json(&out, &["--trust", s(&public)]);
    run.expect_code(0);
    assert_eq!(v["sample_rate"], 192_000);
    assert_eq!(v["manifest"]["audio_identical"], true, "{v}");
}

/// `-q` prints nothing but errors, on every command, as grep -q and
/// ripgrep do: the exit status carries the result.
#[test]
fn quiet_prints_nothing_but_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (key, public, _) = keygen(d, "artist");
    let src = d.join("rock.wav");
    write_wav16(&src, &excerpt(&test_audio(ROCK), 1.0, 8.0));
    let stamped = d.join("rock.earmark.flac");
    let silent = |run: &Run, code: i32| {
        run.expect_code(code);
        assert_eq!(run.stdout, "", "stdout under -q");
        assert_eq!(run.stderr, "", "stderr under -q");
    };
    // Before a subcommand or after it, short or long.
    silent(&earmark(["-q", "keygen", "--out", s(&d.join("k2.pem"))]), 0);
    silent(
        &earmark([
            "stamp",
            s(&src),
            "--key",
            s(&key),
            "--out",
            s(&stamped),
            "--quiet",
        ]),
        0,
    );
    assert!(stamped.is_file());
    silent(
        &earmark(["verify", "-q", s(&stamped), "--trust", s(&public)]),
        0,
    );
    silent(&earmark(["verify", "-q", s(&stamped), "--json"]), 0);
    silent(&earmark(["verify", "-q", s(&src)]), 1);
    silent(&earmark(["inspect", "-q", s(&stamped)]), 0);
    silent(
        &earmark([
            "tag",
            "-q",
            s(&src),
            "--key",
            s(&key),
            "--out",
            s(&d.join("t.wav")),
        ]),
        0,
    );
    // Several files: no summary line either; the worst status wins.
    silent(&earmark(["verify", "-q", s(&stamped), s(&src)]), 1);
    // A batch: no progress, no summary.
    let lib = d.join("lib");
    fs::create_dir_all(&lib).unwrap();
    fs::copy(&src, lib.join("a.wav")).unwrap();
    silent(
        &earmark([
            "-q",
            "stamp",
            s(&lib),
            "--key",
            s(&key),
            "--out-dir",
            s(&d.join("out")),
        ]),
        0,
    );
    // Errors still say what went wrong.
    let run = earmark(["verify", "-q", s(&d.join("missing.flac"))]);
    run.expect_one_line_error(&["missing.flac"]);
    // A warning is not an error: silent too (a 3 s track is short).
    let short = d.join("short.wav");
    write_wav16(&short, &excerpt(&test_audio(ROCK), 1.0, 3.0));
    let without = earmark([
        "stamp",
        s(&short),
        "--key",
        s(&key),
        "--out",
        s(&d.join("s1.flac")),
    ]);
    assert_contains(&without.stderr, "warning");
    silent(
        &earmark([
            "stamp",
            "-q",
            s(&short),
            "--key",
            s(&key),
            "--out",
            s(&d.join("s2.flac")),
        ]),
        0,
    );
}

/// With --out-dir, a single-file option is refused by its own name: the
/// message blames only the option that was given.
#[test]
fn out_dir_refuses_single_file_options_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (key, _, _) = keygen(d, "artist");
    let lib = d.join("lib");
    fs::create_dir_all(&lib).unwrap();
    let out_dir = d.join("out");
    let base = ["stamp", s(&lib), "--key", s(&key), "--out-dir", s(&out_dir)];
    let run = earmark(base.iter().copied().chain(["--out", "x.flac"]));
    run.expect_one_line_error(&["--out names one output file"]);
    assert!(!run.stderr.contains("--track-id"), "{}", run.stderr);
    let run = earmark(base.iter().copied().chain(["--track-id", "7"]));
    run.expect_one_line_error(&["--track-id is for one file"]);
    assert!(!run.stderr.contains("--out "), "{}", run.stderr);
    assert!(!out_dir.exists(), "nothing started");
}

/// `-` is standard input and, for `stamp --out`, standard output, as with
/// ffmpeg and audiowmark; `/dev/stdin` is read as the stream it is.
#[test]
fn dash_reads_stdin_and_writes_stdout() {
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (key, public, _) = keygen(d, "artist");
    let src = d.join("rock.wav");
    write_wav16(&src, &excerpt(&test_audio(ROCK), 1.0, 8.0));
    // Runs the binary with a file on stdin and, if given, a file as stdout.
    let piped = |args: &[&str], stdin: &Path, stdout: Option<&Path>| -> Run {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_earmark"));
        cmd.env("EARMARK_REGISTRY", test_registry())
            .args(args)
            .stdin(fs::File::open(stdin).unwrap());
        match stdout {
            Some(p) => {
                cmd.stdout(fs::File::create(p).unwrap());
            }
            None => {
                cmd.stdout(Stdio::piped());
            }
        }
        Run::from(cmd.stderr(Stdio::piped()).output().unwrap())
    };
    // stdin in, stdout out: a FLAC that verifies, with its manifest inside.
    let streamed = d.join("streamed.flac");
    let run = piped(
        &["stamp", "-", "--key", s(&key), "--out", "-"],
        &src,
        Some(&streamed),
    );
    run.expect_code(0);
    assert_contains(&run.stderr, "to standard output");
    let v = earmark(["verify", s(&streamed), "--trust", s(&public), "--json"]).json();
    assert_eq!(v["marked"], true);
    assert_eq!(v["manifest"]["audio_identical"], true, "{v}");
    // stdin in, a file out: named after what the user gave, not a temp file.
    let out = d.join("from-stdin.flac");
    let run = piped(
        &["stamp", "-", "--key", s(&key), "--out", s(&out)],
        &src,
        None,
    );
    run.expect_code(0);
    assert_contains(&run.stdout, "stamped   - -> ");
    assert!(!run.stdout.contains(".earmark-stdin-"), "{}", run.stdout);
    // verify - and verify /dev/stdin read the stream.
    for name in ["-", "/dev/stdin"] {
        let run = piped(&["verify", name, "--json"], &out, None);
        run.expect_code(0);
        assert_eq!(run.json()["marked"], true, "{name}");
    }
    piped(&["verify", "-"], &src, None).expect_code(1);
    // Errors name `-`; nothing to read is said so; - goes alone.
    let junk = d.join("junk.txt");
    fs::write(&junk, "not audio at all").unwrap();
    piped(&["verify", "-"], &junk, None)
        .expect_one_line_error(&["-: ", "not a recognised audio format"]);
    let run = piped(
        &[
            "stamp",
            "-",
            "--key",
            s(&key),
            "--out",
            s(&d.join("j.flac")),
        ],
        &junk,
        None,
    );
    run.expect_one_line_error(&["-: "]);
    assert!(!run.stderr.contains("earmark-stdin"), "{}", run.stderr);
    let empty = d.join("empty");
    fs::write(&empty, "").unwrap();
    piped(&["verify", "-"], &empty, None).expect_one_line_error(&["-: ", "0 bytes"]);
    piped(&["verify", "-", s(&out)], &out, None).expect_one_line_error(&["give it alone"]);
    piped(&["stamp", "-", "--key", s(&key)], &src, None).expect_one_line_error(&["needs --out"]);
}

/// What a new user sees on the README's first run: stamping the shipped
/// sample warns about nothing, verify's report has one `audio` line, and
/// the confidence threshold reads the same whether a marker is found or not.
#[test]
fn first_run_output_is_plain_and_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (key, public, _) = fixed_key(d, "artist", 61);
    let out = d.join("rock.earmark.flac");
    let sample = test_audio("rock-openarena-oa02.ogg");
    let run = earmark(["stamp", s(&sample), "--key", s(&key), "--out", s(&out)]);
    run.expect_code(0);
    assert!(
        !run.stderr.contains("warning"),
        "the first run warns: {}",
        run.stderr
    );
    let threshold = "(a marker needs 4.0 or more)";
    let marked = earmark(["verify", s(&out), "--trust", s(&public)]);
    marked.expect_code(0);
    let audio_lines = |text: &str| {
        text.lines()
            .filter(|l| l.trim_start().starts_with("audio"))
            .count()
    };
    assert_eq!(audio_lines(&marked.stdout), 1, "{}", marked.stdout);
    assert_contains(&marked.stdout, threshold);
    let unmarked = earmark(["verify", s(&test_audio(PIANO))]);
    unmarked.expect_code(1);
    assert_eq!(audio_lines(&unmarked.stdout), 1, "{}", unmarked.stdout);
    assert_contains(&unmarked.stdout, threshold);
}
