//! The catalogue's two backends, SQLite and PostgreSQL (a real server:
//! `.ci/postgres`), held to the same behaviour: every test runs on both.

mod common;

use common::*;
use earmark::catalogue::{Catalogue, CatalogueError, Entry, Location};
use std::collections::HashSet;

fn entry(key: &str, id: u32, out: &str) -> Entry {
    Entry {
        key_fingerprint: key.into(),
        track_id: id,
        source_path: format!("in/{out}"),
        source_sha256: "00".repeat(32),
        output_path: out.into(),
        output_sha256: "11".repeat(32),
        title: Some("T, \"quoted\"".into()),
        artist: None,
        policy: "no-ai-training".into(),
        manifest: "{}".into(),
        stamped_at: "2026-11-22T00:00:00Z".into(),
        c2pa_manifest_id: Some(format!("urn:c2pa:test-{key}-{id}")),
        c2pa_store: Some(vec![0xC2, 0xBA, id as u8, 0, 255]),
    }
}

#[test]
fn track_ids_follow_the_shard_and_are_never_handed_out_twice() {
    for t in TestCatalogue::both() {
        let mut c = t.open();
        let b = t.backend();
        assert_eq!(c.allocate_track_id("0000aaaa", 0, 1).unwrap(), 1, "{b}");
        // An id handed out is gone even though no row was recorded for it.
        assert_eq!(c.allocate_track_id("0000aaaa", 0, 1).unwrap(), 2, "{b}");
        assert_eq!(c.allocate_track_id("0000aaaa", 2, 3).unwrap(), 5, "{b}");
        assert_eq!(c.allocate_track_id("0000aaaa", 0, 3).unwrap(), 6, "{b}");
        // A recorded row above the counter (from a merge) raises the floor.
        c.record(&entry("0000aaaa", 40, "x")).unwrap();
        assert_eq!(c.allocate_track_id("0000aaaa", 1, 4).unwrap(), 41, "{b}");
        assert_eq!(c.allocate_track_id("0000aaaa", 0, 1).unwrap(), 42, "{b}");
        // Keys count separately.
        assert_eq!(c.allocate_track_id("0000bbbb", 0, 1).unwrap(), 1, "{b}");
        // The counter survives reopening.
        drop(c);
        let mut c = t.open();
        assert_eq!(c.allocate_track_id("0000aaaa", 0, 1).unwrap(), 43, "{b}");
        // The last id is handed out once, then the key is full.
        c.record(&entry("0000cccc", u32::MAX - 1, "y")).unwrap();
        assert_eq!(
            c.allocate_track_id("0000cccc", 0, 1).unwrap(),
            u32::MAX,
            "{b}"
        );
        let err = c.allocate_track_id("0000cccc", 0, 1).unwrap_err();
        assert!(matches!(err, CatalogueError::Exhausted(_)), "{b}: {err}");
    }
}

#[test]
fn concurrent_writers_never_get_the_same_track_id() {
    for t in TestCatalogue::both() {
        let per_thread = 60;
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let location = t.location.clone();
                std::thread::spawn(move || {
                    // Each writer has its own connection, as separate
                    // processes on separate machines would.
                    let mut c = Catalogue::open(Location::parse(&location)).unwrap();
                    (0..per_thread)
                        .map(|_| c.allocate_track_id("0000aaaa", 0, 1).unwrap())
                        .collect::<Vec<u32>>()
                })
            })
            .collect();
        let ids: Vec<u32> = threads
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        let unique: HashSet<u32> = ids.iter().copied().collect();
        assert_eq!(
            unique.len(),
            ids.len(),
            "{}: an id was given twice",
            t.backend()
        );
        assert_eq!(
            unique,
            (1..=4 * per_thread).collect::<HashSet<u32>>(),
            "{}: no gaps when nothing fails",
            t.backend()
        );
    }
}

#[test]
fn rows_are_found_by_payload_and_path_and_replaced_per_output() {
    for t in TestCatalogue::both() {
        let b = t.backend();
        let mut c = t.open();
        assert!(c.is_empty().unwrap(), "{b}");
        c.record(&entry("0000aaaa", 7, "out/x.flac")).unwrap();
        c.record(&entry("0000aaaa", 8, "out/y.flac")).unwrap();
        let e = c.lookup(0xaaaa, 7).unwrap().unwrap();
        assert_eq!(e, entry("0000aaaa", 7, "out/x.flac"), "{b}: round trip");
        assert_eq!(
            c.find("0000aaaa:8").unwrap().unwrap().output_path,
            "out/y.flac"
        );
        assert_eq!(c.find("out/x.flac").unwrap().unwrap().track_id, 7, "{b}");
        assert_eq!(c.find("in/out/y.flac").unwrap().unwrap().track_id, 8, "{b}");
        assert_eq!(c.find("nothing").unwrap(), None, "{b}");
        assert_eq!(
            c.lookup(0xaa, 7).unwrap(),
            None,
            "{b}: keys are 8 hex digits"
        );
        // Re-recording an output replaces its row.
        c.record(&entry("0000aaaa", 9, "out/x.flac")).unwrap();
        assert_eq!(c.len().unwrap(), 2, "{b}");
        assert_eq!(c.lookup(0xaaaa, 7).unwrap(), None, "{b}");
        // The same payload for another output is refused.
        let err = c.record(&entry("0000aaaa", 8, "out/z.flac")).unwrap_err();
        assert!(err.to_string().contains("catalogue"), "{b}: {err}");
        assert_eq!(c.len().unwrap(), 2, "{b}: nothing half-written");
    }
}

#[test]
fn whole_catalogues_are_read_a_page_at_a_time_in_order() {
    for t in TestCatalogue::both() {
        let b = t.backend();
        let mut c = t.open();
        // More rows than one page (1000), recorded through a merge (one
        // transaction) rather than 2,100 separate commits.
        let src = TestCatalogue::sqlite();
        let mut s = src.open();
        for i in 1..=2100 {
            s.record(&entry("0000aaaa", i, &format!("o{i}")))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        assert_eq!(c.merge_from(&mut s).unwrap(), 2100, "{b}");
        let ids: Vec<u32> = c.entries().unwrap().iter().map(|e| e.track_id).collect();
        assert_eq!(ids, (1..=2100).collect::<Vec<u32>>(), "{b}: all, in order");
    }
}

#[test]
fn merges_add_new_rows_refuse_conflicts_and_cross_backends() {
    for t in TestCatalogue::both() {
        let b = t.backend();
        let mut a = t.open();
        let other = TestCatalogue::sqlite();
        let mut o = other.open();
        a.record(&entry("0000aaaa", 1, "one")).unwrap();
        o.record(&entry("0000aaaa", 2, "two")).unwrap();
        o.record(&entry("0000aaaa", 1, "one")).unwrap();
        assert_eq!(a.merge_from(&mut o).unwrap(), 1, "{b}");
        assert_eq!(a.len().unwrap(), 2, "{b}");
        assert_eq!(a.lookup(0xaaaa, 2).unwrap().unwrap().output_path, "two");
        // Merging again adds nothing.
        assert_eq!(a.merge_from(&mut o).unwrap(), 0, "{b}");
        // One payload for two outputs: refused, and nothing of that merge
        // is kept, not even its rows before the conflict.
        let bad = TestCatalogue::sqlite();
        let mut c = bad.open();
        c.record(&entry("0000aaaa", 3, "three")).unwrap();
        c.record(&entry("0000aaaa", 2, "other")).unwrap();
        let err = a.merge_from(&mut c).unwrap_err();
        assert!(
            matches!(err, CatalogueError::Conflict { track_id: 2, .. }),
            "{b}: {err}"
        );
        assert_eq!(a.len().unwrap(), 2, "{b}: nothing merged on conflict");
        // And back the other way, into a SQLite file.
        let back = TestCatalogue::sqlite();
        let mut z = back.open();
        assert_eq!(z.merge_from(&mut a).unwrap(), 2, "{b}");
        assert_eq!(z.entries().unwrap(), a.entries().unwrap(), "{b}");
    }
}

/// `catalogue migrate` copies a stamped batch's SQLite catalogue into
/// PostgreSQL and back; every row survives, and verify names a stripped
/// clip's track from the PostgreSQL copy.
#[test]
fn migrate_copies_sqlite_to_postgres_and_back() {
    let Some(pg) = TestCatalogue::postgres() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (key, _, _) = keygen(dir.path(), "k");
    let lib = dir.path().join("lib");
    two_track_library(&lib, 6.0);
    let out = dir.path().join("out");
    earmark([
        "stamp",
        s(&lib),
        "--key",
        s(&key),
        "--out-dir",
        s(&out),
        "--quiet",
    ])
    .expect_code(0);
    let sqlite = out.join("earmark-catalogue.db");
    let run = earmark(["catalogue", "migrate", s(&sqlite), &pg.location]);
    run.expect_code(0);
    assert_contains(&run.stdout, "2 row(s) added");
    // Again: nothing new.
    earmark(["catalogue", "migrate", s(&sqlite), &pg.location])
        .expect_code(0)
        .stdout
        .contains("0 row(s) added")
        .then_some(())
        .expect("a second migrate adds nothing");
    let back = dir.path().join("back.db");
    earmark(["catalogue", "migrate", &pg.location, s(&back)]).expect_code(0);
    let export = |l: &str| {
        earmark(["catalogue", "export", l, "--format", "jsonl"])
            .expect_code(0)
            .stdout
            .clone()
    };
    let original = export(s(&sqlite));
    assert_eq!(original.lines().count(), 2);
    assert_eq!(export(&pg.location), original);
    assert_eq!(export(s(&back)), original);

    // A bare 5 s MP3 clip of a stamped file, named from PostgreSQL.
    let first: serde_json::Value = original
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["source_path"] == s(&lib.join("0.wav")))
        .unwrap();
    let stamped = std::path::PathBuf::from(first["output_path"].as_str().unwrap());
    let clip = dir.path().join("clip.mp3");
    ffmpeg(&[
        "-i",
        s(&stamped),
        "-ss",
        "0.5",
        "-t",
        "5",
        "-map_metadata",
        "-1",
        "-b:a",
        "128k",
        s(&clip),
    ]);
    let run = earmark(["verify", s(&clip), "--catalogue", &pg.location, "--json"]);
    let v = run.json();
    assert_eq!(
        v["catalogue"][0]["source_path"],
        serde_json::json!(s(&lib.join("0.wav"))),
        "{}",
        run.stdout
    );
}

#[test]
fn an_unreachable_or_empty_postgres_is_one_clear_error() {
    // Nothing listens on port 1: refused at once, exit 2, password hidden.
    let url = "postgres://earmark:hunter2@127.0.0.1:1/catalogue";
    let run = earmark(["catalogue", "list", url]);
    run.expect_one_line_error(&["catalogue unavailable", "127.0.0.1:1"]);
    assert!(!run.stderr.contains("hunter2"), "{}", run.stderr);
    let dir = tempfile::tempdir().unwrap();
    let (key, _, _) = keygen(dir.path(), "k");
    let lib = dir.path().join("lib");
    std::fs::create_dir_all(&lib).unwrap();
    write_wav16(
        &lib.join("a.wav"),
        &excerpt(&test_audio("rock-supertuxkart-bay.ogg"), 3.0, 3.0),
    );
    let out = dir.path().join("out");
    earmark([
        "stamp",
        s(&lib),
        "--key",
        s(&key),
        "--out-dir",
        s(&out),
        "--catalogue",
        url,
        "--quiet",
    ])
    .expect_one_line_error(&["catalogue unavailable"]);
    assert!(
        !out.join("a.earmark.flac").exists(),
        "nothing stamped without its catalogue"
    );

    // A database without a catalogue, read: said so, and nothing created.
    let Some(pg) = TestCatalogue::postgres() else {
        return;
    };
    earmark(["catalogue", "list", &pg.location])
        .expect_one_line_error(&["no earmark catalogue in this database"]);
    earmark(["catalogue", "list", &pg.location]).expect_code(2);
}

/// A catalogue written before the Content Credentials columns (by earlier
/// versions) still opens: read-only as it is, and for writing with the
/// columns added; its rows keep working.
#[test]
fn a_catalogue_from_before_content_credentials_still_opens() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old.db");
    // The first version's table, made by Python's own SQLite.
    let made = std::process::Command::new("python3")
        .arg("-c")
        .arg(
            "import sqlite3, sys; db = sqlite3.connect(sys.argv[1]); db.executescript('''
CREATE TABLE stamps (id INTEGER PRIMARY KEY, key_fingerprint TEXT NOT NULL,
  track_id INTEGER NOT NULL, source_path TEXT NOT NULL, source_sha256 TEXT NOT NULL,
  output_path TEXT NOT NULL UNIQUE, output_sha256 TEXT NOT NULL, title TEXT, artist TEXT,
  policy TEXT NOT NULL, manifest TEXT NOT NULL, stamped_at TEXT NOT NULL,
  UNIQUE (key_fingerprint, track_id));
INSERT INTO stamps VALUES (1, '0000aaaa', 7, 'in/x', 'aa', 'out/x', 'bb', 'T', NULL,
  'no-ai-training', '{}', '2026-01-01T00:00:00Z');''')",
        )
        .arg(&old)
        .status()
        .unwrap();
    assert!(made.success());
    let mut ro = Catalogue::open_read_only(old.clone()).unwrap();
    let e = ro.lookup(0xaaaa, 7).unwrap().unwrap();
    assert_eq!(
        (e.output_path.as_str(), e.c2pa_manifest_id),
        ("out/x", None)
    );
    assert_eq!(ro.find_c2pa("urn:c2pa:x").unwrap(), None);
    drop(ro);
    let mut rw = Catalogue::open(old.clone()).unwrap();
    assert_eq!(rw.entries().unwrap().len(), 1);
    rw.record(&entry("0000aaaa", 8, "out/y")).unwrap();
    let y = rw.find_c2pa("urn:c2pa:test-0000aaaa-8").unwrap().unwrap();
    assert_eq!(y, entry("0000aaaa", 8, "out/y"));
    assert_eq!(rw.allocate_track_id("0000aaaa", 0, 1).unwrap(), 9);
}
