//! The no-AI declaration and the signed manifest in file metadata: `tag`,
//! `stamp` and `inspect` on every container, checked from outside with
//! ExifTool, ffprobe and ffmpeg (installed by `.ci/run`), and the provenance
//! checks (tampered, copied and untrusted manifests).
//!
//! The fixtures in `test-audio/tagged/` carry existing tags (title, artist,
//! album, ISRC, artwork) in ID3v2.2/2.3/2.4, Vorbis comments, MP4 `ilst`,
//! RIFF INFO and AIFF ID3 chunks, plus broken and awkward files.

mod common;

use common::*;
use earmark::audio::stream_digest;
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const URI_AIML: &str = "http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED-AIMLTRAINING";
const URI_GENAI: &str = "http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED-GENAIMLTRAINING";

fn tagged(name: &str) -> PathBuf {
    test_audio("tagged").join(name)
}

fn tool_json(cmd: &mut Command) -> Value {
    let out = cmd.output().expect("run tool");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("tool JSON")
}

/// ExifTool's view of one file (`-j -G1 -a`).
fn exiftool(path: &Path) -> Value {
    let v = tool_json(Command::new("exiftool").args(["-j", "-G1", "-a", s(path)]));
    v[0].clone()
}

/// ffprobe's tags: format tags merged with the audio stream's tags.
fn ffprobe_tags(path: &Path) -> serde_json::Map<String, Value> {
    let v = tool_json(Command::new("ffprobe").args([
        "-v",
        "error",
        "-show_format",
        "-show_streams",
        "-of",
        "json",
        s(path),
    ]));
    let mut tags = v["format"]["tags"].as_object().cloned().unwrap_or_default();
    if let Some(st) = v["streams"][0]["tags"].as_object() {
        tags.extend(st.clone());
    }
    tags
}

/// MD5 of the audio packets as ffmpeg demuxes them (`-c copy`): an
/// independent check that tagging did not touch the audio bytes.
fn ffmpeg_packet_md5(path: &Path) -> String {
    let out = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-i",
            s(path),
            "-map",
            "0:a",
            "-c",
            "copy",
            "-f",
            "md5",
            "-",
        ])
        .output()
        .expect("run ffmpeg");
    assert!(
        out.status.success(),
        "ffmpeg -c copy failed on {}",
        path.display()
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// ffmpeg decodes the whole file without a single error message.
#[track_caller]
fn assert_ffmpeg_decodes(path: &Path) {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i", s(path), "-f", "null", "-"])
        .output()
        .expect("run ffmpeg");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "ffmpeg cannot decode {} cleanly: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn inspect_json(path: &Path, trust: &Path) -> (Option<i32>, Value) {
    let run = earmark(["inspect", s(path), "--trust", s(trust), "--json"]);
    run.no_panic();
    (run.code, run.json())
}

fn tag_into(dir: &Path, input: &Path, key: &Path, extra: &[&str]) -> PathBuf {
    let mut args = vec!["tag", s(input), "--key", s(key), "--out"];
    // Prefixed with the extension: tagged.aiff and tagged.ogg would share
    // the C2PA sidecar tagged.earmark.c2pa.
    let name = earmark::naming::tagged_path(input);
    let ext = input.extension().unwrap().to_string_lossy();
    let out = dir.join(format!(
        "{ext}-{}",
        name.file_name().unwrap().to_string_lossy()
    ));
    args.push(s(&out));
    args.extend_from_slice(extra);
    let run = earmark(&args);
    run.expect_code(0);
    assert!(run.stderr.is_empty(), "unexpected warning: {}", run.stderr);
    out
}

#[test]
fn tag_writes_every_carrier_without_touching_the_audio() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public, _) = keygen(dir.path(), "artist");
    let exif = have("exiftool");
    let ff = have("ffprobe") && have("ffmpeg");
    for (name, album, isrc, art) in [
        ("id3v23-art.mp3", true, true, true),
        ("id3v24.mp3", true, false, false),
        ("id3v22.mp3", true, false, false),
        ("tagged.m4a", true, false, true),
        ("tagged.flac", true, true, true),
        ("tagged.ogg", true, false, false),
        ("tagged.opus", true, false, false),
        ("tagged.wav", false, false, false),
        ("tagged.aiff", true, false, false),
    ] {
        let input = tagged(name);
        let before = fs::read(&input).unwrap();
        let out = tag_into(
            dir.path(),
            &input,
            &key,
            &[
                "--owner",
                "Test Owner",
                "--terms-url",
                "https://example.org/terms",
            ],
        );
        assert_eq!(fs::read(&input).unwrap(), before, "{name}: input modified");
        // The encoded audio is byte-identical (our digest and ffmpeg's).
        assert_eq!(
            stream_digest(&input).unwrap().sha256,
            stream_digest(&out).unwrap().sha256,
            "{name}: audio packets changed"
        );
        let (code, v) = inspect_json(&out, &public);
        assert_eq!(code, Some(0), "{name}: inspect exit code\n{v:#}");
        let meta = &v["metadata"];
        assert_eq!(v["carriers_agree"], true, "{name}");
        assert_eq!(v["declaration_matches_manifest"], true, "{name}");
        assert_eq!(v["manifest"]["signature_valid"], true, "{name}");
        assert_eq!(v["manifest"]["trusted"], true, "{name}");
        assert_eq!(v["manifest"]["audio_identical"], true, "{name}");
        assert_eq!(
            meta["xmp_packets"].as_u64().unwrap(),
            u64::from(!name.ends_with("flac") && !name.ends_with("ogg") && !name.ends_with("opus")),
            "{name}: XMP packets"
        );
        let carriers = meta["carriers"].as_array().unwrap();
        assert!(
            carriers.iter().any(|c| c["data_mining"] == URI_AIML),
            "{name}: no carrier states the policy: {carriers:?}"
        );
        assert!(
            carriers.iter().any(|c| c["copyright"]
                .as_str()
                .is_some_and(|t| t.contains("Test Owner. All rights reserved."))),
            "{name}: no copyright line"
        );
        // Existing tags survive.
        assert!(
            meta["title"].as_str().is_some_and(|t| t.starts_with("Caf")),
            "{name}: title lost: {meta:#}"
        );
        let want_artist = if name == "id3v22.mp3" {
            "Old Artist"
        } else {
            "Tagged Artist"
        };
        assert_eq!(meta["artist"], want_artist, "{name}: artist");
        if album {
            assert!(meta["album"].as_str().is_some(), "{name}: album lost");
        }
        if isrc {
            assert_eq!(meta["isrc"], "GBAYE2600001", "{name}: ISRC lost");
        }
        if art {
            assert_eq!(meta["pictures"], 1, "{name}: artwork lost");
        }
        if ff {
            assert_eq!(ffmpeg_packet_md5(&input), ffmpeg_packet_md5(&out), "{name}");
            assert_ffmpeg_decodes(&out);
            let tags = ffprobe_tags(&out);
            let lower: std::collections::HashMap<String, String> = tags
                .iter()
                .map(|(k, v)| {
                    (
                        k.to_ascii_lowercase(),
                        v.as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect();
            let expect = |k: &str, v: &str| {
                assert!(
                    lower.get(k).is_some_and(|x| x.contains(v)),
                    "{name}: ffprobe tag {k} should contain {v:?}; tags: {lower:?}"
                );
            };
            match name.rsplit('.').next().unwrap() {
                // RIFF INFO ICOP / ICMT
                "wav" => {
                    expect("copyright", "Test Owner");
                    expect("comment", "AI/ML training prohibited");
                }
                // ID3 text frames (TCOP, TXXX) and Vorbis comments / MP4 atoms
                _ => {
                    expect("copyright", "Test Owner");
                    expect("data_mining", URI_AIML);
                    expect("tdm_reservation", "1");
                    expect("tdm_policy", "https://example.org/terms");
                }
            }
        }
        if !name.ends_with("opus") {
            // symphonia reads the output back (it has no Opus decoder) to the
            // same samples: a tag chunk after the AIFF/WAV sample data must not
            // turn into audio.
            let a = earmark::audio::decode_file(&input).unwrap();
            let b = earmark::audio::decode_file(&out)
                .unwrap_or_else(|e| panic!("{name}: symphonia cannot read the output: {e}"));
            assert!(a.samples == b.samples, "{name}: decoded audio differs");
            if name.ends_with("aiff") || name.ends_with("wav") {
                assert_eq!(b.samples.len(), 44_100 * 2, "{name}: 1 s of stereo");
            }
        }
        if exif && (name.ends_with("mp3") || name.ends_with("m4a") || name.ends_with("wav")) {
            let e = exiftool(&out);
            let dm = e["XMP-plus:DataMining"].as_str().unwrap_or_default();
            assert!(
                dm == "Prohibited for AI/ML training" || dm == URI_AIML,
                "{name}: ExifTool XMP-plus:DataMining = {dm:?}"
            );
            assert_eq!(
                e["XMP-tdm:Reservation"], 1,
                "{name}: ExifTool XMP-tdm:Reservation"
            );
            assert_eq!(e["XMP-tdm:Policy"], "https://example.org/terms", "{name}");
        }
    }
    assert_no_temp_files(dir.path());
}

#[test]
fn stamp_declares_and_carries_the_input_tags() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public, _) = keygen(dir.path(), "artist");
    let input = tagged("tagged.m4a");
    for ext in ["flac", "wav"] {
        let out = dir.path().join(format!("stamped-{ext}.{ext}"));
        earmark([
            "stamp",
            s(&input),
            "--key",
            s(&key),
            "--out",
            s(&out),
            "--policy",
            "no-genai-training",
        ])
        .expect_code(0);
        let (code, v) = inspect_json(&out, &public);
        // Two seconds are too short to find the marker; the rest must hold.
        assert_eq!(code, Some(0), "{ext}\n{v:#}");
        let meta = &v["metadata"];
        assert_eq!(meta["title"], "Café Tagged", "{ext}");
        assert_eq!(meta["artist"], "Tagged Artist", "{ext}");
        assert_eq!(meta["album"], "Tagged Album", "{ext}");
        assert_eq!(meta["pictures"], 1, "{ext}: artwork");
        assert_eq!(v["declaration_matches_manifest"], true);
        assert_eq!(v["manifest"]["audio_identical"], true);
        assert_eq!(
            v["manifest"]["document"]["manifest"]["artist"], "Tagged Artist",
            "the manifest takes the artist from the input's tags"
        );
        let carriers = meta["carriers"].as_array().unwrap();
        assert!(carriers
            .iter()
            .all(|c| c["data_mining"].is_null() || c["data_mining"] == URI_GENAI));
        assert!(carriers
            .iter()
            .any(|c| c["copyright"].as_str().is_some_and(
                |t| t.starts_with("20") && t.contains("Tagged Artist. All rights reserved.")
            )));
        if ext == "wav" && have("exiftool") {
            let e = exiftool(&out);
            assert_eq!(
                e["XMP-plus:DataMining"]
                    .as_str()
                    .map(|d| d == URI_GENAI || d.contains("Generative")),
                Some(true)
            );
            assert_eq!(e["XMP-tdm:Reservation"], 1);
        }
        if have("ffmpeg") {
            assert_ffmpeg_decodes(&out);
        }
    }
}

#[test]
fn tampered_copied_and_untrusted_manifests_are_told_apart() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public, _) = keygen(dir.path(), "artist");
    let (_, other_public, _) = keygen(dir.path(), "other");
    let a = tag_into(dir.path(), &tagged("id3v24.mp3"), &key, &[]);

    // One byte of the embedded signature changed: invalid.
    let mut bytes = fs::read(&a).unwrap();
    let at = bytes
        .windows(13)
        .position(|w| w == b"\"signature\":\"")
        .expect("manifest in the file")
        + 13;
    bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
    let tampered = dir.path().join("tampered.mp3");
    fs::write(&tampered, bytes).unwrap();
    let (code, v) = inspect_json(&tampered, &public);
    assert_eq!(code, Some(3));
    assert_eq!(v["manifest"]["signature_valid"], false);
    let human = earmark(["inspect", s(&tampered)]);
    assert_contains(&human.stdout, "invalid signature");

    // A valid manifest copied from A into B: valid signature, wrong audio.
    let manifest = earmark::metadata::read_metadata_file(&a).unwrap().manifests[0].clone();
    let b = dir.path().join("b.ogg");
    fs::copy(tagged("tagged.ogg"), &b).unwrap();
    let decl = earmark::metadata::Declaration::new(Default::default(), None, 2026);
    let mut file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&b)
        .unwrap();
    earmark::metadata::write_declaration(
        &mut file,
        earmark::container::Container::OggVorbis,
        &decl,
        Some(&manifest),
        None,
    )
    .unwrap();
    drop(file);
    let (code, v) = inspect_json(&b, &public);
    assert_eq!(code, Some(3), "{v:#}");
    assert_eq!(v["manifest"]["signature_valid"], true);
    assert_eq!(v["manifest"]["audio_identical"], false);
    assert_contains(
        &earmark(["inspect", s(&b)]).stdout,
        "differs from what was signed",
    );

    // Signed by a key that is not trusted: valid but untrusted, not invalid.
    let (code, v) = inspect_json(&a, &other_public);
    assert_eq!(code, Some(0));
    assert_eq!(v["manifest"]["signature_valid"], true);
    assert_eq!(v["manifest"]["trusted"], false);
    assert_contains(
        &earmark(["inspect", s(&a), "--trust", s(&other_public)]).stdout,
        "valid signature, signer not trusted",
    );
}

#[test]
fn policies_terms_and_notice_reach_every_carrier() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public, _) = keygen(dir.path(), "artist");
    for (policy, uri, reservation) in [
        (
            "no-data-mining",
            "http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED",
            1,
        ),
        (
            "search-only",
            "http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED-EXCEPTSEARCHENGINEINDEXING",
            1,
        ),
        ("allow", "http://ns.useplus.org/ldf/vocab/DMI-ALLOWED", 0),
    ] {
        let sub = dir.path().join(policy);
        fs::create_dir(&sub).unwrap();
        let out = tag_into(
            &sub,
            &tagged("tagged.wav"),
            &key,
            &[
                "--policy",
                policy,
                "--notice",
                "Ask first: rights@example.org",
            ],
        );
        let (code, v) = inspect_json(&out, &public);
        assert_eq!(code, Some(0));
        let carriers = v["metadata"]["carriers"].as_array().unwrap();
        let xmp = carriers
            .iter()
            .find(|c| c["name"] == "XMP (_PMX chunk)")
            .unwrap();
        assert_eq!(xmp["data_mining"], uri, "{policy}");
        // A number in JSON (the tag holds the text "1" or "0").
        assert_eq!(xmp["tdm_reservation"], reservation, "{policy}");
        assert_eq!(xmp["notice"], "Ask first: rights@example.org");
        let doc = &v["manifest"]["document"]["manifest"]["policy"];
        assert_eq!(doc["plus_data_mining"], uri);
        assert!(doc["cawg_training_mining"]["entries"]["cawg.ai_training"]["use"].is_string());
    }
}

#[test]
fn bad_inputs_give_clear_errors_and_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (key, _, _) = keygen(dir.path(), "artist");
    let out = dir.path().join("out.mp3");
    // Not audio at all.
    earmark([
        "tag",
        s(&fixture("not-audio.mp3")),
        "--key",
        s(&key),
        "--out",
        s(&out),
    ])
    .expect_one_line_error(&["not-audio.mp3"]);
    assert!(!out.exists());
    // An ID3 frame that claims 16 MiB inside a 40-byte tag: the audio is
    // read from after the tag, the tag is rewritten, and the result
    // verifies with the same MP3 frames.
    let repaired = dir.path().join("repaired.mp3");
    earmark([
        "tag",
        s(&tagged("broken-id3.mp3")),
        "--key",
        s(&key),
        "--out",
        s(&repaired),
    ])
    .expect_code(0);
    let v = earmark(["verify", "--json", s(&repaired)]).json();
    assert_eq!(v["manifest"]["audio_identical"], true, "{v}");
    assert_eq!(v["declared_without_marker"], true, "{v}");
    // The output would replace the input.
    let copy = dir.path().join("in.flac");
    fs::copy(tagged("tagged.flac"), &copy).unwrap();
    earmark(["tag", s(&copy), "--key", s(&key), "--out", s(&copy)])
        .expect_one_line_error(&["in.flac", "input"]);
    // A lossy file cannot become another container by tagging.
    earmark([
        "tag",
        s(&copy),
        "--key",
        s(&key),
        "--out",
        s(&dir.path().join("x.mp3")),
    ])
    .expect_one_line_error(&["x.mp3", "FLAC"]);
    // A folder nobody may write to.
    let ro = dir.path().join("ro");
    fs::create_dir(&ro).unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&ro, fs::Permissions::from_mode(0o555)).unwrap();
    if !running_as_root(dir.path()) {
        earmark([
            "tag",
            s(&copy),
            "--key",
            s(&key),
            "--out",
            s(&ro.join("x.flac")),
        ])
        .expect_one_line_error(&["x.flac"]);
        assert!(list_dir(&ro).is_empty());
    }
    fs::set_permissions(&ro, fs::Permissions::from_mode(0o755)).unwrap();
    assert_no_temp_files(dir.path());
}

#[test]
fn awkward_tags_give_a_warning_and_a_clean_result() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public, _) = keygen(dir.path(), "artist");
    // Two disagreeing XMP packets: inspect says so; tag leaves exactly one.
    let (code, v) = inspect_json(&tagged("dup-xmp.wav"), &public);
    assert_eq!(code, Some(3), "disagreeing carriers\n{v:#}");
    assert_eq!(v["carriers_agree"], false);
    assert_eq!(v["metadata"]["xmp_packets"], 2);
    let out = tag_into(dir.path(), &tagged("dup-xmp.wav"), &key, &[]);
    let (code, v) = inspect_json(&out, &public);
    assert_eq!(code, Some(0));
    assert_eq!(v["metadata"]["xmp_packets"], 1);
    assert_eq!(v["carriers_agree"], true);

    // A Vorbis comment that is not UTF-8: a warning, the rest kept.
    let run = earmark([
        "tag",
        s(&tagged("bad-utf8.flac")),
        "--key",
        s(&key),
        "--out",
        s(&dir.path().join("u.flac")),
    ]);
    run.expect_code(0);
    assert_contains(&run.stderr, "warning");
    assert_contains(&run.stderr, "bad-utf8.flac");
    let (code, v) = inspect_json(&dir.path().join("u.flac"), &public);
    assert_eq!(code, Some(0));
    assert_eq!(v["metadata"]["title"], "Café Tagged");
    assert_eq!(v["metadata"]["pictures"], 1);
}

#[test]
fn tag_takes_several_files_into_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public, _) = keygen(dir.path(), "artist");
    let out = dir.path().join("tagged");
    fs::create_dir(&out).unwrap();
    let inputs = [
        tagged("id3v24.mp3"),
        tagged("tagged.ogg"),
        fixture("not-audio.mp3"),
    ];
    let run = earmark([
        "tag",
        s(&inputs[0]),
        s(&inputs[1]),
        s(&inputs[2]),
        "--key",
        s(&key),
        "--out",
        s(&out),
        "--json",
    ]);
    // The bad file fails (exit 2) without stopping the others.
    run.expect_code(2);
    assert_contains(&run.stderr, "not-audio.mp3");
    let lines = run.json_lines();
    assert_eq!(lines.len(), 3, "one JSON object per file");
    for name in ["id3v24.earmark.mp3", "tagged.earmark.ogg"] {
        let (code, v) = inspect_json(&out.join(name), &public);
        assert_eq!(code, Some(0), "{name}");
        assert_eq!(v["manifest"]["audio_identical"], true);
    }
    // Ogg cannot hold a C2PA store: its credentials are a sidecar.
    assert_eq!(
        list_dir(&out),
        [
            "id3v24.earmark.mp3",
            "tagged.earmark.c2pa",
            "tagged.earmark.ogg"
        ]
    );
    // Several inputs need a folder that exists.
    earmark([
        "tag",
        s(&inputs[0]),
        s(&inputs[1]),
        "--key",
        s(&key),
        "--out",
        s(&dir.path().join("nope")),
    ])
    .expect_one_line_error(&["nope", "folder"]);
}

/// A second, different `EARMARK_MANIFEST` added to a stamped FLAC: the
/// answer must not depend on which comment comes first. Both orders report
/// the conflict and exit 3, for `verify` and `inspect`; the same manifest
/// twice is no conflict.
#[test]
fn conflicting_manifests_in_one_file_are_reported() {
    use lofty::config::WriteOptions;
    use lofty::flac::FlacFile;
    use lofty::prelude::*;
    use std::io::Seek;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (key, public, _) = keygen(d, "artist");
    let src = d.join("song.wav");
    write_wav16(
        &src,
        &excerpt(&test_audio("rock-openarena-oa02.ogg"), 0.0, 6.0),
    );
    let stamp = |out: &Path, track: &str| {
        earmark([
            "stamp",
            s(&src),
            "--key",
            s(&key),
            "--out",
            s(out),
            "--track-id",
            track,
            "--no-c2pa",
        ])
        .expect_code(0);
        earmark::metadata::read_metadata_file(out)
            .unwrap()
            .manifests[0]
            .clone()
    };
    let a = d.join("a.flac");
    let own = stamp(&a, "1");
    let other = stamp(&d.join("b.flac"), "2");
    assert_ne!(own, other);
    let with_comments = |name: &str, manifests: &[&str]| {
        let path = d.join(name);
        fs::copy(&a, &path).unwrap();
        let mut file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        let mut flac = FlacFile::read_from(&mut file, Default::default()).unwrap();
        let vc = flac.vorbis_comments_mut().unwrap();
        let _ = vc.remove("EARMARK_MANIFEST").count();
        for m in manifests {
            vc.push("EARMARK_MANIFEST".into(), (*m).to_string());
        }
        file.rewind().unwrap();
        flac.save_to(&mut file, WriteOptions::default()).unwrap();
        path
    };
    for (name, order) in [("ab.flac", [&own, &other]), ("ba.flac", [&other, &own])] {
        let path = with_comments(name, &[order[0], order[1]]);
        let run = earmark(["verify", s(&path), "--trust", s(&public), "--json"]);
        run.expect_code(3);
        let v = run.json();
        assert_eq!(v["conflicting_manifests"], true, "{v}");
        assert_eq!(v["manifest"], Value::Null, "{v}");
        assert_contains(
            v["manifest_error"].as_str().unwrap(),
            "2 different earmark manifests",
        );
        let human = earmark(["verify", s(&path)]);
        human.expect_code(3);
        assert_contains(&human.stdout, "different earmark manifests");
        let (code, _) = inspect_json(&path, &public);
        assert_eq!(code, Some(3), "inspect {name}");
    }
    let twice = with_comments("twice.flac", &[&own, &own]);
    let run = earmark(["verify", s(&twice), "--trust", s(&public), "--json"]);
    run.expect_code(0);
    assert_eq!(run.json()["conflicting_manifests"], false);
}

/// lofty 0.25 panics when a re-written MP4 tag list is exactly 8 bytes
/// smaller than the room the old one had (it cannot write an 8-byte `free`
/// box). Re-tagging an M4A with every title from 40 characters down to 0
/// shrinks the list a byte at a time (the title is in the manifest), through
/// that case: every run must succeed and read back.
#[test]
fn m4a_tag_lists_that_shrink_by_eight_bytes_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (key, public, _) = keygen(d, "artist");
    let first = d.join("first.m4a");
    earmark([
        "tag",
        s(&tagged("tagged.m4a")),
        "--key",
        s(&key),
        "--out",
        s(&first),
        "--title",
        &"T".repeat(40),
        "--no-c2pa",
    ])
    .expect_code(0);
    for n in (0..40).rev() {
        let title = "t".repeat(n);
        let out = d.join(format!("re-{n}.m4a"));
        let mut args = vec![
            "tag",
            s(&first),
            "--key",
            s(&key),
            "--out",
            s(&out),
            "--no-c2pa",
        ];
        if n > 0 {
            args.extend(["--title", title.as_str()]);
        }
        let run = earmark(&args);
        assert!(
            !run.stderr.contains("panicked"),
            "title of {n} characters: {}",
            run.stderr
        );
        run.expect_code(0);
        let (code, v) = inspect_json(&out, &public);
        assert_eq!(code, Some(0), "title of {n} characters: {v:#}");
        if n > 0 {
            assert_eq!(v["manifest"]["document"]["manifest"]["title"], title);
        }
    }
}
