//! Content Credentials (C2PA) end to end, checked from outside: earmark's
//! outputs are read by c2pa-python (the SDK's Python wheel from PyPI, a
//! reader this project does not build), files signed by c2pa-python's
//! Builder are read by `earmark verify`, and tampered files are never
//! reported as valid.
//!
//! The Python is `EARMARK_C2PA_PYTHON`, else `~/.cache/earmark/c2pa-venv`
//! (which `.ci/run` makes). Without it the checks that need it are skipped
//! with a note, or fail when `CI` is set.

mod common;

use common::*;
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Python with the `c2pa` package, if there is one.
fn python() -> Option<PathBuf> {
    let candidate = std::env::var_os("EARMARK_C2PA_PYTHON")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .map(|h| PathBuf::from(h).join(".cache/earmark/c2pa-venv/bin/python"))
        })?;
    let ok = Command::new(&candidate)
        .args(["-c", "import c2pa, cryptography"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "{} cannot import c2pa; .ci/run installs c2pa-python into that virtualenv",
            candidate.display()
        );
        eprintln!("note: c2pa-python not installed; skipping the check that needs it");
        return None;
    }
    Some(candidate)
}

fn script(name: &str) -> PathBuf {
    Path::new(ROOT).join("tests/c2pa").join(name)
}

/// c2pa-python's reading of `file` (with a sidecar store, if given).
fn py_read(py: &Path, file: &Path, sidecar: Option<&Path>) -> Value {
    let mut cmd = Command::new(py);
    cmd.arg(script("read.py")).arg(file);
    if let Some(s) = sidecar {
        cmd.arg(s);
    }
    let out = cmd.output().expect("runs python");
    assert!(
        out.status.success(),
        "read.py {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("read.py prints JSON")
}

/// Asserts c2pa-python finds earmark's manifest valid apart from trust, with
/// its assertions and their values.
#[track_caller]
fn assert_earmark_manifest(v: &Value, action: &str, payload_hex: Option<&str>) {
    assert_eq!(v["state"], "Valid", "{v}");
    assert_eq!(
        v["failures"],
        serde_json::json!(["signingCredential.untrusted"]),
        "{v}"
    );
    assert_eq!(v["signer"], "Test Artist", "{v}");
    let a = &v["assertions"];
    let actions: Vec<&str> = a["c2pa.actions.v2"]["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .filter_map(|x| x["action"].as_str())
        .collect();
    assert_eq!(actions[0], "c2pa.opened", "{v}");
    assert!(actions.contains(&action), "{actions:?}");
    let tm = &a["cawg.training-mining"]["entries"];
    assert_eq!(tm["cawg.ai_training"]["use"], "notAllowed", "{v}");
    assert_eq!(
        tm["cawg.ai_generative_training"]["use"], "notAllowed",
        "{v}"
    );
    assert_eq!(tm["cawg.data_mining"]["use"], "notAllowed", "{v}");
    match payload_hex {
        Some(hex) => {
            let sb = &a["c2pa.soft-binding"];
            assert_eq!(sb["alg"], "io.earmark.v1", "{v}");
            assert_eq!(sb["blocks"][0]["value"], hex, "{v}");
            assert_eq!(sb["blocks"][0]["scope"]["timespan"]["start"], 0, "{v}");
            assert!(
                sb["blocks"][0]["scope"]["timespan"]["end"].as_u64() > Some(5_000),
                "{v}"
            );
        }
        None => assert!(a.get("c2pa.soft-binding").is_none(), "{v}"),
    }
    assert_eq!(a["cawg.metadata"]["dc:creator"][0], "Test Artist", "{v}");
}

/// A key, its self-issued chain named "Test Artist", and a 12 s excerpt.
fn setup(dir: &Path) -> (PathBuf, PathBuf) {
    let key = dir.join("artist.pem");
    earmark(["keygen", "--out", s(&key), "--name", "Test Artist"]).expect_code(0);
    assert!(dir.join("artist.cert.pem").is_file());
    let wav = dir.join("song.wav");
    write_wav16(
        &wav,
        &excerpt(&test_audio("rock-openarena-oa02.ogg"), 3.0, 12.0),
    );
    (key, wav)
}

fn payload_hex(stamp_json: &Value) -> String {
    let p = &stamp_json["payload"];
    format!(
        "{}{:08x}",
        p["key_fingerprint"].as_str().expect("fingerprint"),
        p["track_id"].as_u64().expect("track id")
    )
}

#[test]
fn earmark_outputs_read_valid_in_c2pa_python() {
    let Some(py) = python() else { return };
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let (key, wav) = setup(dir);

    // stamp: WAV and FLAC carry the store inside.
    let flac = dir.join("song.earmark.flac");
    let stamped = earmark([
        "stamp",
        s(&wav),
        "--key",
        s(&key),
        "--artist",
        "Test Artist",
        "--json",
    ])
    .expect_code(0)
    .json();
    assert_eq!(stamped["credentials"]["source"], "embedded");
    let hex = payload_hex(&stamped);
    assert_earmark_manifest(&py_read(&py, &flac, None), "c2pa.watermarked", Some(&hex));
    let out_wav = dir.join("as-wav.wav");
    let run = earmark([
        "stamp",
        s(&wav),
        "--key",
        s(&key),
        "--artist",
        "Test Artist",
        "--out",
        s(&out_wav),
        "--json",
        "--track-id",
        "7",
    ]);
    let j = run.expect_code(0).json();
    assert_earmark_manifest(
        &py_read(&py, &out_wav, None),
        "c2pa.watermarked",
        Some(&payload_hex(&j)),
    );

    // Re-tagging a stamped WAV or FLAC replaces its store (one store, valid,
    // the old one kept in the parent ingredient).
    for stamped in [&flac, &out_wav] {
        let ext = stamped.extension().and_then(|e| e.to_str()).expect("ext");
        let again = dir.join(format!("again.{ext}"));
        earmark(["tag", s(stamped), "--key", s(&key), "--out", s(&again)]).expect_code(0);
        let v = py_read(&py, &again, None);
        assert_eq!(v["state"], "Valid", "{ext}: {v}");
        let bytes = fs::read(&again).expect("reads");
        let stores = bytes.windows(4).filter(|w| *w == b"c2pa").count();
        let original = fs::read(stamped).expect("reads");
        let before = original.windows(4).filter(|w| *w == b"c2pa").count();
        assert!(
            stores > before,
            "{ext}: the new store holds the old one as an ingredient"
        );
        let v = earmark(["verify", s(&again), "--json"])
            .expect_code(0)
            .json();
        assert_eq!(
            v["credentials"]["actions"][1], "c2pa.edited.metadata",
            "{v}"
        );
    }

    // tag: MP3 and M4A made from the stamped track, so the marker is in
    // the audio and the soft binding names it.
    if !have("ffmpeg") {
        return;
    }
    for (ext, codec) in [("mp3", "libmp3lame"), ("m4a", "aac")] {
        let lossy = dir.join(format!("lossy.{ext}"));
        ffmpeg(&["-i", s(&flac), "-c:a", codec, "-b:a", "192k", s(&lossy)]);
        let tagged = dir.join(format!("lossy.earmark.{ext}"));
        let t = earmark([
            "tag",
            s(&lossy),
            "--key",
            s(&key),
            "--artist",
            "Test Artist",
            "--json",
        ])
        .expect_code(0)
        .json();
        assert_eq!(t["credentials"]["soft_binding"], hex.as_str(), "{t}");
        assert_earmark_manifest(
            &py_read(&py, &tagged, None),
            "c2pa.edited.metadata",
            Some(&hex),
        );
        // And earmark reads its own credentials back, bound to the marker.
        let v = earmark(["verify", s(&tagged), "--json"])
            .expect_code(0)
            .json();
        assert_eq!(v["credentials"]["state"], "valid", "{v}");
        assert_eq!(v["credentials"]["matches_marker"], true, "{v}");
    }

    // tag on AIFF: a sidecar store, which c2pa-python validates against the file.
    let aiff = dir.join("plain.aiff");
    ffmpeg(&["-i", s(&wav), s(&aiff)]);
    let t = earmark([
        "tag",
        s(&aiff),
        "--key",
        s(&key),
        "--artist",
        "Test Artist",
        "--json",
    ])
    .expect_code(0)
    .json();
    let store = dir.join("plain.earmark.c2pa");
    assert_eq!(t["credentials"]["source"], s(&store), "{t}");
    let v = py_read(&py, &dir.join("plain.earmark.aiff"), Some(&store));
    assert_earmark_manifest(&v, "c2pa.edited.metadata", None);
}

#[test]
fn verify_reads_credentials_made_by_another_tool() {
    let Some(py) = python() else { return };
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let wav = dir.join("generated.wav");
    write_wav16(
        &wav,
        &excerpt(&test_audio("rock-openarena-oa02.ogg"), 3.0, 6.0),
    );
    let signed = dir.join("signed.wav");
    let out = Command::new(&py)
        .arg(script("sign.py"))
        .args([s(&wav), s(&signed), "audio/wav", "trainedAlgorithmicMedia"])
        .output()
        .expect("runs python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // No marker (exit 1), but the credentials are read and validated.
    let v = earmark(["verify", s(&signed), "--json"])
        .expect_code(1)
        .json();
    let c = &v["credentials"];
    assert_eq!(c["state"], "valid", "{v}");
    assert_eq!(c["signer_name"], "Test Music Generator", "{v}");
    assert_eq!(c["ai_generated"], true, "{v}");
    assert!(
        c["digital_source_type"]
            .as_str()
            .is_some_and(|t| t.ends_with("/trainedAlgorithmicMedia")),
        "{v}"
    );
    assert_eq!(c["actions"], serde_json::json!(["c2pa.created"]), "{v}");
    assert_eq!(c["training_mining"]["cawg.ai_training"], "allowed", "{v}");
    assert_eq!(
        c["training_mining"]["cawg.ai_generative_training"], "notAllowed",
        "{v}"
    );
    assert!(c["failures"]
        .as_array()
        .is_some_and(|f| f.iter().any(|x| x == "signingCredential.untrusted")));
    let human = earmark(["verify", s(&signed)])
        .expect_code(1)
        .stdout
        .clone();
    assert_contains(&human, "AI-GENERATED (trainedAlgorithmicMedia)");
    assert_contains(&human, "signed by Test Music Generator");

    // A digital capture is reported as what it is.
    let capture = dir.join("capture.wav");
    let out = Command::new(&py)
        .arg(script("sign.py"))
        .args([s(&wav), s(&capture), "audio/wav", "digitalCapture"])
        .output()
        .expect("runs python");
    assert!(out.status.success());
    let v = earmark(["inspect", s(&capture), "--json"])
        .expect_code(0)
        .json();
    assert_eq!(v["credentials"]["ai_generated"], false, "{v}");

    // Stamping an AI-generated file keeps its credentials as the parent
    // ingredient: the output still says where the audio came from.
    let key = dir.join("k.pem");
    earmark(["keygen", "--out", s(&key)]).expect_code(0);
    let stamped = dir.join("stamped.flac");
    earmark(["stamp", s(&signed), "--key", s(&key), "--out", s(&stamped)]).expect_code(0);
    let v = earmark(["verify", s(&stamped), "--json"])
        .expect_code(0)
        .json();
    assert_eq!(v["credentials"]["ai_generated"], true, "{v}");
    assert_eq!(v["credentials"]["matches_marker"], true, "{v}");
}

/// The soft-binding value in the manifest store of a file stamped with
/// track id 1: 16 hex digits ending in ...00000001.
fn soft_binding_value(store: &[u8]) -> String {
    let text = String::from_utf8_lossy(store);
    let end = text.find("00000001").expect("track id 1 in the store") + 8;
    text[end - 16..end].to_string()
}

/// Appends a RIFF chunk to a WAV file and fixes the RIFF size.
fn append_chunk(wav: &mut Vec<u8>, id: &[u8; 4], body: &[u8]) {
    wav.extend_from_slice(id);
    wav.extend_from_slice(&(body.len() as u32).to_le_bytes());
    wav.extend_from_slice(body);
    if body.len() % 2 == 1 {
        wav.push(0);
    }
    let size = (wav.len() - 8) as u32;
    wav[4..8].copy_from_slice(&size.to_le_bytes());
}

/// The body of the first chunk `id` of a WAV file, and the file without it.
fn take_chunk(wav: &[u8], id: &[u8; 4]) -> (Vec<u8>, Vec<u8>) {
    let mut at = 12;
    while at + 8 <= wav.len() {
        let len = u32::from_le_bytes(wav[at + 4..at + 8].try_into().expect("4 bytes")) as usize;
        let end = (at + 8 + len + (len & 1)).min(wav.len());
        if &wav[at..at + 4] == id {
            let mut rest = wav[..at].to_vec();
            rest.extend_from_slice(&wav[end..]);
            let size = (rest.len() - 8) as u32;
            rest[4..8].copy_from_slice(&size.to_le_bytes());
            return (wav[at + 8..at + 8 + len].to_vec(), rest);
        }
        at = end;
    }
    panic!("no {} chunk", String::from_utf8_lossy(id));
}

#[test]
fn tampered_credentials_are_never_valid() {
    let py = python();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let (key, wav) = setup(dir);
    let a = dir.join("a.wav");
    let b = dir.join("b.wav");
    earmark([
        "stamp",
        s(&wav),
        "--key",
        s(&key),
        "--out",
        s(&a),
        "--track-id",
        "1",
    ])
    .expect_code(0);
    earmark([
        "stamp",
        s(&wav),
        "--key",
        s(&key),
        "--out",
        s(&b),
        "--track-id",
        "2",
    ])
    .expect_code(0);
    let a_bytes = fs::read(&a).expect("reads");
    let b_bytes = fs::read(&b).expect("reads");
    let check = |name: &str, bytes: &[u8], expect_failure: &str| {
        let path = dir.join(name);
        fs::write(&path, bytes).expect("writes");
        let run = earmark(["verify", s(&path), "--json"]);
        run.expect_code(3).no_panic();
        let v = run.json();
        let c = &v["credentials"];
        let broken = v["credentials_error"].is_string();
        assert!(
            broken || c["state"] == "invalid" || c["matches_marker"] == false,
            "{name}: {v}"
        );
        if !expect_failure.is_empty() {
            assert!(
                c["failures"].as_array().is_some_and(|f| f
                    .iter()
                    .any(|x| x.as_str().is_some_and(|x| x.contains(expect_failure)))),
                "{name}: {v}"
            );
        }
        let human = earmark(["verify", s(&path)]).stdout;
        assert!(
            human.contains("c2pa        INVALID")
                || human.contains("c2pa        BROKEN")
                || human.contains("NOT the marker"),
            "{name}: {human}"
        );
        if let Some(py) = &py {
            // The independent reader does not call it valid either.
            let out = Command::new(py)
                .arg(script("read.py"))
                .arg(&path)
                .output()
                .expect("runs");
            if out.status.success() {
                let v: Value = serde_json::from_slice(&out.stdout).expect("json");
                assert_ne!(v["state"], "Valid", "{name}: c2pa-python: {v}");
                assert_ne!(v["state"], "Trusted", "{name}: c2pa-python: {v}");
            }
        }
    };

    // The audio edited after signing: one sample near the middle.
    let mut edited = a_bytes.clone();
    let mid = edited.len() / 2;
    edited[mid] ^= 0x10;
    check("edited.wav", &edited, "dataHash");

    // Bytes of the manifest store changed: the soft binding's value (an
    // assertion), then the claim generator's name (the signed claim).
    let (store, _) = take_chunk(&a_bytes, b"C2PA");
    let find = |bytes: &[u8], needle: &[u8]| {
        bytes
            .windows(needle.len())
            .position(|w| w == needle)
            .unwrap_or_else(|| panic!("{} not in the file", String::from_utf8_lossy(needle)))
    };
    let value = soft_binding_value(&store);
    let store_at = find(&a_bytes, &store[..64]);
    let mut flipped = a_bytes.clone();
    let at = store_at + find(&store, value.as_bytes());
    flipped[at + 15] = if flipped[at + 15] == b'1' { b'2' } else { b'1' };
    check("assertion-flipped.wav", &flipped, "");
    let mut flipped = a_bytes.clone();
    let at = store_at + find(&store, b"earmark");
    flipped[at] = b'E';
    check("claim-flipped.wav", &flipped, "");

    // A's manifest store transplanted into B (whose own store is removed).
    let (_, mut b_bare) = take_chunk(&b_bytes, b"C2PA");
    append_chunk(&mut b_bare, b"C2PA", &store);
    check("transplant.wav", &b_bare, "");
}

#[test]
fn no_c2pa_and_foreign_certificates() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let (key, wav) = setup(dir);
    let out = dir.join("plain.flac");
    let j = earmark([
        "stamp",
        s(&wav),
        "--key",
        s(&key),
        "--out",
        s(&out),
        "--no-c2pa",
        "--json",
    ])
    .expect_code(0)
    .json();
    assert!(j["credentials"].is_null(), "{j}");
    let v = earmark(["verify", s(&out), "--json"]).expect_code(0).json();
    assert!(
        v["credentials"].is_null() && v["credentials_error"].is_null(),
        "{v}"
    );
    assert_contains(
        &earmark(["verify", s(&out)]).stdout,
        "no Content Credentials",
    );

    // A chain issued for another key, and junk as a chain: refused, naming the file.
    let other = dir.join("other.pem");
    earmark(["keygen", "--out", s(&other)]).expect_code(0);
    let junk = dir.join("junk.pem");
    fs::write(&junk, "hello").expect("writes");
    for (cert, out, why) in [
        (
            dir.join("other.cert.pem"),
            "x.flac",
            ["other.cert.pem", "another key"],
        ),
        (junk, "y.flac", ["junk.pem", "certificate"]),
    ] {
        let out = dir.join(out);
        earmark([
            "stamp",
            s(&wav),
            "--key",
            s(&key),
            "--cert",
            s(&cert),
            "--out",
            s(&out),
        ])
        .expect_code(2)
        .expect_one_line_error(&why);
    }
    assert_no_temp_files(dir);

    // The label's root as a trust anchor turns "valid" into "trusted".
    let signed = dir.join("signed.flac");
    earmark(["stamp", s(&wav), "--key", s(&key), "--out", s(&signed)]).expect_code(0);
    let chain = fs::read_to_string(dir.join("artist.cert.pem")).expect("reads");
    let root = &chain[chain
        .rfind("-----BEGIN CERTIFICATE-----")
        .expect("two certs")..];
    let anchors = dir.join("roots.pem");
    fs::write(&anchors, root).expect("writes");
    let v = earmark(["verify", s(&signed), "--c2pa-trust", s(&anchors), "--json"])
        .expect_code(0)
        .json();
    assert_eq!(v["credentials"]["state"], "trusted", "{v}");
}

#[test]
fn openssl_keys_get_a_self_issued_chain() {
    // Like tests/provenance_openssl.rs, this needs the openssl tool.
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let key = dir.join("openssl.pem");
    let ok = Command::new("openssl")
        .args(["genpkey", "-algorithm", "ed25519", "-out", s(&key)])
        .status()
        .expect("cannot run openssl: this test needs the OpenSSL 3 command-line tool");
    assert!(ok.success());
    let wav = dir.join("song.wav");
    write_wav16(
        &wav,
        &excerpt(&test_audio("rock-openarena-oa02.ogg"), 3.0, 6.0),
    );
    let j = earmark(["stamp", s(&wav), "--key", s(&key), "--json"])
        .expect_code(0)
        .json();
    assert!(
        j["credentials"]["signer_name"]
            .as_str()
            .is_some_and(|s| s.contains("earmark artist")),
        "{j}"
    );
    let v = earmark(["verify", s(&dir.join("song.earmark.flac")), "--json"])
        .expect_code(0)
        .json();
    assert_eq!(v["credentials"]["state"], "valid", "{v}");
}
