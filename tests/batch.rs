//! Whole-catalogue runs: `stamp --out-dir` on folder trees of real audio,
//! the catalogue, reports, re-runs, a SIGKILL in the middle of a batch,
//! sharding and merging, and batch verify with catalogue lookups.

mod common;

use common::*;
use earmark::catalogue::{Catalogue, Location};
use serde_json::Value;
use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TRACKS: [&str; 5] = [
    "acoustic-neverball-track1.ogg",
    "electronic-supertuxkart-xeon6.ogg",
    "orchestral-supertuxkart-gran-batalla.ogg",
    "piano-supertuxkart-alien-signal.ogg",
    "rock-supertuxkart-bay.ogg",
];

/// A library tree of `n` distinct 4-second WAV excerpts of real music in
/// nested folders, plus things a batch must skip or report.
fn library(root: &Path, n: usize) -> Vec<PathBuf> {
    let mut inputs = Vec::new();
    for i in 0..n {
        let track = TRACKS[i % TRACKS.len()];
        let sub = root.join(format!("artist{}/album{}", i % 2, i % 3));
        fs::create_dir_all(&sub).unwrap();
        let path = sub.join(format!("{:02}-{}.wav", i, track.trim_end_matches(".ogg")));
        write_wav16(
            &path,
            &excerpt(&test_audio(track), 2.0 + i as f64 * 0.37, 4.0),
        );
        inputs.push(path);
    }
    inputs
}

fn extras(root: &Path) {
    fs::write(root.join("artist0/notes.txt"), "liner notes").unwrap();
    fs::create_dir_all(root.join(".cache")).unwrap();
    fs::copy(
        fixture("mp3-stereo-44100.mp3"),
        root.join(".cache/hidden.mp3"),
    )
    .unwrap();
    fs::copy(
        fixture("mp3-stereo-44100.mp3"),
        root.join("artist1/.hidden.mp3"),
    )
    .unwrap();
    fs::copy(
        fixture("mp3-stereo-44100.mp3"),
        root.join("artist1/old.earmark.flac"),
    )
    .unwrap();
    fs::write(root.join("artist1/broken.mp3"), "this is not audio").unwrap();
}

fn report(path: &Path) -> Vec<Value> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn files_named(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in walk(dir) {
        if e.to_string_lossy().ends_with(suffix) {
            out.push(e);
        }
    }
    out.sort();
    out
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

fn temps(dir: &Path) -> Vec<PathBuf> {
    walk(dir)
        .into_iter()
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with(".earmark-") || n.ends_with(".tmp")
        })
        .collect()
}

#[test]
fn a_tree_is_stamped_mirrored_catalogued_and_resumed() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public, marker_id) = keygen(dir.path(), "label");
    let lib = dir.path().join("lib");
    let inputs = library(&lib, 5);
    extras(&lib);
    let before: Vec<(PathBuf, Vec<u8>)> = walk(&lib)
        .into_iter()
        .map(|p| {
            let b = fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    let out = dir.path().join("out");
    let rep = dir.path().join("run1.jsonl");
    let run = earmark([
        "stamp",
        s(&lib),
        "--key",
        s(&key),
        "--out-dir",
        s(&out),
        "--report",
        s(&rep),
        "-j",
        "2",
    ]);
    // One bad file: reported, exit 2, the others done.
    run.expect_code(2);
    assert_contains(&run.stdout, "stamped 5, skipped 0");
    assert_contains(&run.stdout, "broken.mp3");
    let records = report(&rep);
    assert_eq!(records.len(), 6, "one record per input: {records:#?}");
    let failed: Vec<&Value> = records.iter().filter(|r| r["status"] == "failed").collect();
    assert_eq!(failed.len(), 1);
    assert_contains(failed[0]["error"].as_str().unwrap(), "broken.mp3");
    // Mirrored outputs, one per input, and the inputs untouched.
    for input in &inputs {
        let rel = input.strip_prefix(dir.path()).unwrap();
        let stem = rel.file_stem().unwrap().to_string_lossy();
        let expected = out
            .join(rel.parent().unwrap())
            .join(format!("{stem}.earmark.flac"));
        assert!(expected.exists(), "missing {}", expected.display());
    }
    for (p, b) in &before {
        assert_eq!(&fs::read(p).unwrap(), b, "{} was modified", p.display());
    }
    assert_eq!(files_named(&out, ".earmark.flac").len(), 5);
    assert!(temps(&out).is_empty());
    // The catalogue: one row per output, distinct track ids, this key.
    let mut cat = Catalogue::open_read_only(out.join("earmark-catalogue.db")).unwrap();
    let entries = cat.entries().unwrap();
    assert_eq!(entries.len(), 5);
    let ids: HashSet<u32> = entries.iter().map(|e| e.track_id).collect();
    assert_eq!(ids.len(), 5);
    assert!(entries.iter().all(|e| e.key_fingerprint == marker_id));
    for r in records.iter().filter(|r| r["status"] == "stamped") {
        let sha = r["output_sha256"].as_str().unwrap();
        let output = r["output"].as_str().unwrap();
        assert_eq!(
            sha,
            sha256_file(Path::new(output)),
            "report hash of {output}"
        );
        assert!(entries
            .iter()
            .any(|e| e.output_path == output && e.output_sha256 == sha));
    }
    // Every output verifies against the label's key.
    let v = earmark(["verify", s(&out), "--trust", s(&public), "--json"]);
    v.expect_code(0);
    let lines = v.json_lines();
    assert_eq!(lines.len(), 5);
    assert!(lines
        .iter()
        .all(|l| l["marked"] == true && l["manifest"]["trusted"] == true));

    // Re-run: nothing to do but the bad file.
    let run = earmark(["stamp", s(&lib), "--key", s(&key), "--out-dir", s(&out)]);
    run.expect_code(2);
    assert_contains(&run.stdout, "stamped 0, skipped 5");
    // Nothing stamped: no "0x real time".
    assert!(!run.stdout.contains("real time"), "{}", run.stdout);
    // The human summary of a folder with one bad file: "1 error", not "1 errors".
    let human = earmark(["verify", s(&lib), "--trust", s(&public)]);
    assert!(human.stderr.contains(" 1 error"), "{}", human.stderr);
    assert!(!human.stderr.contains("1 errors"), "{}", human.stderr);
    // --force re-stamps; still one row per output.
    let run = earmark([
        "stamp",
        s(&lib),
        "--key",
        s(&key),
        "--out-dir",
        s(&out),
        "--force",
    ]);
    run.expect_code(2);
    assert_contains(&run.stdout, "stamped 5, skipped 0");
    assert_eq!(
        Catalogue::open_read_only(out.join("earmark-catalogue.db"))
            .unwrap()
            .len()
            .unwrap(),
        5
    );
}

#[test]
fn the_output_folder_may_not_be_inside_an_input_folder() {
    let dir = tempfile::tempdir().unwrap();
    let (key, _, _) = keygen(dir.path(), "k");
    let lib = dir.path().join("lib");
    library(&lib, 1);
    let inside = lib.join("stamped");
    earmark(["stamp", s(&lib), "--key", s(&key), "--out-dir", s(&inside)])
        .expect_one_line_error(&["stamped", "inside the input folder"]);
    assert!(!inside.exists());
    earmark(["stamp", s(&lib), s(&lib), "--key", s(&key)]).expect_one_line_error(&["--out-dir"]);
}

#[test]
fn a_killed_batch_resumes_with_every_file_stamped_once() {
    for t in TestCatalogue::both() {
        killed_and_resumed(&t);
    }
}

/// SIGKILL in the middle of a batch writing into `t`, then a re-run: one
/// output, sidecar and catalogue row per input, nothing redone.
fn killed_and_resumed(t: &TestCatalogue) {
    let b = t.backend();
    let dir = tempfile::tempdir().unwrap();
    let (key, _, _) = keygen(dir.path(), "k");
    let lib = dir.path().join("lib");
    let n = 12;
    library(&lib, n);
    let out = dir.path().join("out");
    let mut child = Command::new(env!("CARGO_BIN_EXE_earmark"))
        .env("EARMARK_REGISTRY", test_registry())
        .args([
            "stamp",
            s(&lib),
            "--key",
            s(&key),
            "--out-dir",
            s(&out),
            "--catalogue",
            &t.location,
            "-j",
            "2",
            "--quiet",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it (SIGKILL) once some, but not all, outputs exist.
    let t0 = Instant::now();
    loop {
        let done = files_named(&out, ".earmark.flac").len();
        if done >= 2 || t0.elapsed() > Duration::from_secs(120) {
            break;
        }
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let after_kill = files_named(&out, ".earmark.flac").len();
    assert!(
        after_kill < n,
        "{b}: the batch finished before it could be killed"
    );
    let rows_after_kill = Catalogue::open_read_only(Location::parse(&t.location))
        .map(|mut c| c.len().unwrap())
        .unwrap_or(0) as usize;

    eprintln!("{b}: killed with {after_kill} outputs and {rows_after_kill} catalogue rows");
    let rep = dir.path().join("resume.jsonl");
    earmark([
        "stamp",
        s(&lib),
        "--key",
        s(&key),
        "--out-dir",
        s(&out),
        "--catalogue",
        &t.location,
        "--report",
        s(&rep),
    ])
    .expect_code(0);
    let records = report(&rep);
    let stamped = records.iter().filter(|r| r["status"] == "stamped").count();
    let skipped = records.iter().filter(|r| r["status"] == "skipped").count();
    assert_eq!(
        skipped, rows_after_kill,
        "{b}: files recorded before the kill are not redone"
    );
    assert_eq!(stamped + skipped, n);
    // Exactly one output, sidecar and row per input; no temporary files.
    let outputs = files_named(&out, ".earmark.flac");
    assert_eq!(outputs.len(), n);
    assert_eq!(files_named(&out, ".earmark.json").len(), n);
    assert!(temps(&out).is_empty(), "left behind: {:?}", temps(&out));
    let entries = t.open().entries().unwrap();
    assert_eq!(entries.len(), n, "{b}: one row per file");
    let paths: HashSet<&str> = entries.iter().map(|e| e.output_path.as_str()).collect();
    assert_eq!(paths.len(), n);
    for o in &outputs {
        let e = entries
            .iter()
            .find(|e| Path::new(&e.output_path) == o)
            .unwrap();
        assert_eq!(
            e.output_sha256,
            sha256_file(o),
            "{}: catalogue hash",
            o.display()
        );
    }
    let ids: HashSet<u32> = entries.iter().map(|e| e.track_id).collect();
    assert_eq!(ids.len(), n, "{b}: track ids never repeat");
}

/// Two shards of one batch running at the same time, as two machines would,
/// both writing into one catalogue: every file stamped once, no track id
/// used twice, each shard's ids in its own residue class.
#[test]
fn two_shards_at_once_share_one_catalogue() {
    for t in TestCatalogue::both() {
        let b = t.backend();
        let dir = tempfile::tempdir().unwrap();
        let (key, _, _) = keygen(dir.path(), "k");
        let lib = dir.path().join("lib");
        let n = 8;
        library(&lib, n);
        let out = dir.path().join("out");
        let shards: Vec<_> = (0..2)
            .map(|i| {
                Command::new(env!("CARGO_BIN_EXE_earmark"))
                    .env("EARMARK_REGISTRY", test_registry())
                    .args([
                        "stamp",
                        s(&lib),
                        "--key",
                        s(&key),
                        "--out-dir",
                        s(&out),
                        "--catalogue",
                        &t.location,
                        "--shard",
                        &format!("{i}/2"),
                        "-j",
                        "1",
                        "--quiet",
                    ])
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in shards {
            let done = child.wait_with_output().unwrap();
            assert!(
                done.status.success(),
                "{b}: {}",
                String::from_utf8_lossy(&done.stderr)
            );
        }
        let entries = t.open().entries().unwrap();
        assert_eq!(entries.len(), n, "{b}: every file once");
        let sources: HashSet<&str> = entries.iter().map(|e| e.source_path.as_str()).collect();
        assert_eq!(sources.len(), n, "{b}: no file stamped twice");
        let ids: HashSet<u32> = entries.iter().map(|e| e.track_id).collect();
        assert_eq!(ids.len(), n, "{b}: no track id reused");
        assert_eq!(files_named(&out, ".earmark.flac").len(), n);
        assert!(
            ids.iter().any(|i| i % 2 == 0) && ids.iter().any(|i| i % 2 == 1),
            "{b}: both shards wrote: {ids:?}"
        );
    }
}

#[test]
fn shards_split_the_work_and_merge_back() {
    let dir = tempfile::tempdir().unwrap();
    let (key, _, _) = keygen(dir.path(), "k");
    let lib = dir.path().join("lib");
    library(&lib, 6);
    let out = dir.path().join("out");
    let mut seen = Vec::new();
    for i in 0..2 {
        let cat = dir.path().join(format!("shard{i}.db"));
        let shard = format!("{i}/2");
        earmark([
            "stamp",
            s(&lib),
            "--key",
            s(&key),
            "--out-dir",
            s(&out),
            "--shard",
            &shard,
            "--catalogue",
            s(&cat),
            "--quiet",
        ])
        .expect_code(0);
        let entries = Catalogue::open_read_only(&cat).unwrap().entries().unwrap();
        assert!(entries.iter().all(|e| e.track_id % 2 == i), "shard {i} ids");
        seen.extend(entries.into_iter().map(|e| e.output_path));
    }
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(seen.len(), 6, "every file in exactly one shard");
    assert_eq!(unique.len(), 6);
    // The same split every time.
    let again = dir.path().join("again.db");
    earmark([
        "stamp",
        s(&lib),
        "--key",
        s(&key),
        "--out-dir",
        s(&dir.path().join("out2")),
        "--shard",
        "0/2",
        "--catalogue",
        s(&again),
        "--quiet",
        "--format",
        "wav",
    ])
    .expect_code(0);
    let out2 = dir.path().join("out2");
    assert!(!files_named(&out2, ".earmark.wav").is_empty());
    assert!(files_named(&out2, ".earmark.flac").is_empty());
    let first: Vec<String> = Catalogue::open_read_only(dir.path().join("shard0.db"))
        .unwrap()
        .entries()
        .unwrap()
        .into_iter()
        .map(|e| e.source_path)
        .collect();
    let second: Vec<String> = Catalogue::open_read_only(&again)
        .unwrap()
        .entries()
        .unwrap()
        .into_iter()
        .map(|e| e.source_path)
        .collect();
    let (a, b): (HashSet<_>, HashSet<_>) =
        (first.into_iter().collect(), second.into_iter().collect());
    assert_eq!(a, b);

    let all = dir.path().join("all.db");
    let run = earmark([
        "catalogue",
        "merge",
        s(&dir.path().join("shard0.db")),
        s(&dir.path().join("shard1.db")),
        "--into",
        s(&all),
    ]);
    run.expect_code(0);
    assert_eq!(Catalogue::open_read_only(&all).unwrap().len().unwrap(), 6);
    // Merging again adds nothing.
    earmark([
        "catalogue",
        "merge",
        s(&dir.path().join("shard1.db")),
        "--into",
        s(&all),
    ])
    .expect_code(0);
    assert_eq!(Catalogue::open_read_only(&all).unwrap().len().unwrap(), 6);
    // A catalogue stamped on another machine (its own registry) reuses
    // ids 1, 2, ...: refused.
    let other = dir.path().join("other");
    library(&other, 2);
    let other_cat = dir.path().join("other.db");
    let elsewhere = dir.path().join("elsewhere-registry.db");
    earmark_env(
        [
            "stamp",
            s(&other),
            "--key",
            s(&key),
            "--out-dir",
            s(&dir.path().join("out3")),
            "--catalogue",
            s(&other_cat),
            "--quiet",
        ],
        &[("EARMARK_REGISTRY", s(&elsewhere))],
    )
    .expect_code(0);
    earmark(["catalogue", "merge", s(&other_cat), "--into", s(&all)])
        .expect_one_line_error(&["other.db", "track id"]);
    assert_eq!(Catalogue::open_read_only(&all).unwrap().len().unwrap(), 6);

    // A failed merge into a catalogue that did not exist leaves none behind:
    // a junk input, a missing one, or a conflict between the inputs.
    let junk = dir.path().join("junk.db");
    fs::write(&junk, b"this is not a SQLite database, just text").unwrap();
    let fresh = dir.path().join("fresh.db");
    let run = earmark(["catalogue", "merge", s(&junk), "--into", s(&fresh)]);
    run.expect_code(2);
    assert_contains(&run.stderr, "junk.db");
    let missing = dir.path().join("missing.db");
    earmark(["catalogue", "merge", s(&missing), "--into", s(&fresh)]).expect_code(2);
    earmark([
        "catalogue",
        "merge",
        s(&all),
        s(&other_cat),
        "--into",
        s(&fresh),
    ])
    .expect_one_line_error(&["other.db", "track id"]);
    let left: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("fresh"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn batch_verify_names_stripped_clips_from_the_catalogue() {
    let dir = tempfile::tempdir().unwrap();
    let (key, _, _) = keygen(dir.path(), "k");
    let lib = dir.path().join("lib");
    fs::create_dir_all(&lib).unwrap();
    let song = lib.join("song.wav");
    write_wav16(
        &song,
        &excerpt(&test_audio("rock-supertuxkart-bay.ogg"), 0.0, 12.0),
    );
    let out = dir.path().join("out");
    earmark([
        "stamp",
        s(&lib),
        "--key",
        s(&key),
        "--out-dir",
        s(&out),
        "--title",
        "Bay",
        "--quiet",
    ])
    .expect_code(0);
    let stamped = out.join("lib/song.earmark.flac");
    // A suspect folder: an MP3 clip with no tags and an unmarked file.
    let suspects = dir.path().join("suspects");
    fs::create_dir_all(&suspects).unwrap();
    if !have("ffmpeg") {
        return;
    }
    let whole = dir.path().join("whole-mp3.wav");
    mp3_round_trip(&stamped, &whole, 128);
    write_wav16(
        &suspects.join("clip.wav"),
        &slice(&decode(&whole), 3.0, 6.0),
    );
    fs::remove_file(&whole).unwrap();
    write_wav16(
        &suspects.join("unmarked.wav"),
        &excerpt(&test_audio("piano-supertuxkart-alien-signal.ogg"), 0.0, 6.0),
    );
    let rep = dir.path().join("v.jsonl");
    let run = earmark([
        "verify",
        s(&suspects),
        "--catalogue",
        s(&out.join("earmark-catalogue.db")),
        "--json",
        "--report",
        s(&rep),
    ]);
    run.expect_code(1); // one file has no marker
    let lines = run.json_lines();
    assert_eq!(lines.len(), 2);
    let clip_line = lines
        .iter()
        .find(|l| l["path"].as_str().unwrap().ends_with("clip.wav"))
        .unwrap();
    assert_eq!(clip_line["marked"], true);
    assert!(
        clip_line["manifest"].is_null(),
        "the clip carries no metadata"
    );
    assert_eq!(clip_line["catalogue"][0]["title"], "Bay");
    assert_eq!(clip_line["catalogue"][0]["output_path"], s(&stamped));
    assert_eq!(report(&rep).len(), 2);
    // catalogue list / show / export
    let cat = out.join("earmark-catalogue.db");
    let list = earmark(["catalogue", "list", s(&cat)]);
    list.expect_code(0);
    assert_contains(&list.stdout, "song.earmark.flac");
    let payload = format!(
        "{}:{}",
        clip_line["markers"][0]["payload"]["key_fingerprint"]
            .as_str()
            .unwrap(),
        clip_line["markers"][0]["payload"]["track_id"]
    );
    let show = earmark(["catalogue", "show", s(&cat), &payload]);
    show.expect_code(0);
    assert_contains(&show.stdout, "\"title\": \"Bay\"");
    let csv = earmark(["catalogue", "export", s(&cat), "--format", "csv"]);
    csv.expect_code(0);
    assert_eq!(csv.stdout.lines().count(), 2);
    assert!(csv.stdout.starts_with("key_fingerprint,track_id,"));
    let jsonl = earmark(["catalogue", "export", s(&cat), "--format", "jsonl"]);
    assert_eq!(jsonl.json_lines()[0]["title"], "Bay");
    earmark(["catalogue", "show", s(&cat), "00000000:9"]).expect_one_line_error(&["no entry"]);
    earmark(["catalogue", "list", s(&song)]).expect_one_line_error(&["song.wav"]);
}

/// Two batches with one key into two folders (two catalogues), and a
/// single-file stamp, on one machine: no two songs get the same payload,
/// because every run takes its ids from the machine's registry. A track id
/// asked for by hand that the machine gave to another file is refused.
#[test]
fn track_ids_never_repeat_across_catalogues_on_one_machine() {
    let dir = tempfile::tempdir().unwrap();
    let registry = dir.path().join("registry.db");
    let env = [("EARMARK_REGISTRY", s(&registry))];
    let (key, _, _) = keygen(dir.path(), "k");
    let mut ids = Vec::new();
    for run in ["a", "b"] {
        let lib = dir.path().join(format!("lib-{run}"));
        library(&lib, 3);
        let out = dir.path().join(format!("out-{run}"));
        earmark_env(
            [
                "stamp",
                s(&lib),
                "--key",
                s(&key),
                "--out-dir",
                s(&out),
                "--quiet",
            ],
            &env,
        )
        .expect_code(0);
        let entries = Catalogue::open_read_only(out.join("earmark-catalogue.db"))
            .unwrap()
            .entries()
            .unwrap();
        ids.extend(entries.iter().map(|e| e.track_id));
    }
    let unique: HashSet<u32> = ids.iter().copied().collect();
    assert_eq!(unique.len(), 6, "a payload given twice: {ids:?}");
    // A single-file stamp asking for an id a batch used: refused, nothing written.
    let single = dir.path().join("single.wav");
    write_wav16(&single, &excerpt(&test_audio(TRACKS[0]), 5.0, 4.0));
    let taken = ids[4].to_string();
    let out = dir.path().join("single.earmark.flac");
    let run = earmark_env(
        [
            "stamp",
            s(&single),
            "--key",
            s(&key),
            "--track-id",
            &taken,
            "--out",
            s(&out),
        ],
        &env,
    );
    run.expect_one_line_error(&["track id", &taken, "already given to", "registry"]);
    assert!(!out.exists());
    // Without --track-id it gets one nobody has, and re-stamping the same
    // output with that id is allowed.
    let v = earmark_env(
        [
            "stamp",
            s(&single),
            "--key",
            s(&key),
            "--out",
            s(&out),
            "--json",
        ],
        &env,
    )
    .expect_code(0)
    .json();
    let id = v["payload"]["track_id"].as_u64().unwrap() as u32;
    assert!(!unique.contains(&id));
    earmark_env(
        [
            "stamp",
            s(&single),
            "--key",
            s(&key),
            "--out",
            s(&out),
            "--force",
            "--track-id",
            &id.to_string(),
        ],
        &env,
    )
    .expect_code(0);
    // Another key counts on its own.
    let (other, _, _) = keygen(dir.path(), "other");
    earmark_env(
        [
            "stamp",
            s(&single),
            "--key",
            s(&other),
            "--track-id",
            &taken,
            "--out",
            s(&dir.path().join("other.earmark.flac")),
        ],
        &env,
    )
    .expect_code(0);
}

/// A catalogue that names another song for the payload a file carries
/// (here: two machines, each with its own registry and catalogue, gave one
/// key's track 1 to two songs) is not taken as the answer: verify reports
/// the contradiction between the file's own manifest and the catalogue,
/// and exits 3. The catalogue that made the file agrees with it.
#[test]
fn verify_flags_a_catalogue_that_contradicts_the_files_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let (key, _, _) = keygen(dir.path(), "k");
    let mut outputs = Vec::new();
    for (machine, track) in [("a", TRACKS[0]), ("b", TRACKS[3])] {
        let lib = dir.path().join(format!("lib-{machine}"));
        fs::create_dir_all(&lib).unwrap();
        write_wav16(
            &lib.join("song.wav"),
            &excerpt(&test_audio(track), 3.0, 6.0),
        );
        let out = dir.path().join(format!("out-{machine}"));
        let registry = dir.path().join(format!("registry-{machine}.db"));
        earmark_env(
            [
                "stamp",
                s(&lib),
                "--key",
                s(&key),
                "--out-dir",
                s(&out),
                "--quiet",
            ],
            &[("EARMARK_REGISTRY", s(&registry))],
        )
        .expect_code(0);
        outputs.push(out);
    }
    let file_b = files_named(&outputs[1], ".earmark.flac").remove(0);
    let cat_a = outputs[0].join("earmark-catalogue.db");
    let cat_b = outputs[1].join("earmark-catalogue.db");
    // Both catalogues hold the payload: the registries did not know of each other.
    let a = Catalogue::open_read_only(cat_a.clone())
        .unwrap()
        .entries()
        .unwrap();
    let b = Catalogue::open_read_only(cat_b.clone())
        .unwrap()
        .entries()
        .unwrap();
    assert_eq!(a[0].track_id, b[0].track_id);

    let run = earmark(["verify", s(&file_b), "--catalogue", s(&cat_a), "--json"]);
    run.expect_code(3);
    let v = run.json();
    assert!(
        v.get("catalogue").is_none(),
        "the other song is not the answer: {v}"
    );
    let why = v["catalogue_contradictions"][0].as_str().unwrap();
    assert!(why.contains("not the one the catalogue recorded"), "{why}");
    let human = earmark(["verify", s(&file_b), "--catalogue", s(&cat_a)]);
    human.expect_code(3);
    assert_contains(&human.stdout, "CATALOGUE CONTRADICTS THE FILE");
    assert!(
        !human.stdout.contains(&a[0].source_path),
        "{}",
        human.stdout
    );

    let run = earmark(["verify", s(&file_b), "--catalogue", s(&cat_b), "--json"]);
    run.expect_code(0);
    let v = run.json();
    assert_eq!(v["catalogue"][0]["source_path"], b[0].source_path.as_str());
    assert!(v.get("catalogue_contradictions").is_none());
}
