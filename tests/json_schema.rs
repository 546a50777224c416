//! Every command's JSON output validates against the repository's JSON
//! Schema (`schema/earmark-output.schema.json`): stamp, verify, inspect and
//! tag with `--json` (results and error records), a stamp batch's summary
//! and `--report` lines, verify's `--report` lines and `catalogue show`.
//! The schema closes every record (`additionalProperties: false`), so a
//! field added without being documented fails here too.

mod common;

use std::fs;
use std::path::Path;

use common::*;
use serde_json::Value;

const ROCK: &str = "rock-supertuxkart-bay.ogg";

fn schema() -> Value {
    let text = fs::read_to_string(Path::new(ROOT).join("schema/earmark-output.schema.json"))
        .expect("schema/earmark-output.schema.json");
    serde_json::from_str(&text).expect("the schema is JSON")
}

/// A validator for the whole schema, or for one of its `$defs`.
fn validator(def: Option<&str>) -> jsonschema::Validator {
    let mut s = schema();
    if let Some(name) = def {
        s["$ref"] = Value::String(format!("#/$defs/{name}"));
        s.as_object_mut().unwrap().remove("oneOf");
    }
    jsonschema::draft202012::new(&s).expect("the schema compiles")
}

#[track_caller]
fn assert_valid(v: &jsonschema::Validator, record: &Value, what: &str) {
    let errors: Vec<String> = v
        .iter_errors(record)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} does not match the schema:\n  {}\nrecord: {record}",
        errors.join("\n  ")
    );
}

#[track_caller]
fn lines_of(run: &Run) -> Vec<Value> {
    assert!(!run.stdout.trim().is_empty(), "no JSON printed");
    run.json_lines()
}

#[test]
fn every_commands_json_matches_the_schema() {
    let all = validator(None);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (key, public, _) = fixed_key(d, "artist", 51);
    let input = d.join("song.wav");
    write_wav16(&input, &excerpt(&test_audio(ROCK), 2.0, 10.0));
    let junk = fixture("not-audio.mp3");
    let mut seen = std::collections::BTreeSet::new();
    let mut check = |run: &Run, what: &str| {
        for r in lines_of(run) {
            assert_valid(&all, &r, what);
            assert_eq!(r["schema_version"], 1, "{what}: {r}");
            seen.insert(format!(
                "{}{}",
                r["command"].as_str().unwrap_or("?"),
                if r["status"] == "error" { " error" } else { "" }
            ));
        }
    };

    // stamp (one file), and its error record.
    let stamped = d.join("song.flac");
    let run = earmark([
        "stamp",
        s(&input),
        "-k",
        s(&key),
        "--out",
        s(&stamped),
        "--json",
    ]);
    run.expect_code(0);
    check(&run, "stamp --json");

    // verify: marked and trusted, unmarked, several files with an error.
    let run = earmark(["verify", "--json", s(&stamped), "--trust", s(&public)]);
    run.expect_code(0);
    check(&run, "verify --json (marked)");
    let run = earmark(["verify", "--json", s(&input), s(&junk)]);
    run.expect_code(2);
    let lines = run.json_lines();
    assert_eq!(lines.len(), 2, "{}", run.stdout);
    assert_eq!(lines[0]["status"], "no-marker");
    assert_eq!(lines[0]["exit_code"], 1);
    assert_eq!(lines[1]["status"], "error");
    assert_eq!(lines[1]["path"], s(&junk));
    check(&run, "verify --json (unmarked, not audio)");

    // Unit starts are each unit once, and measurements are rounded.
    let v = earmark(["verify", "--json", s(&stamped)]).json();
    let starts: Vec<f64> = v["markers"][0]["unit_starts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert!(starts.windows(2).all(|w| w[1] - w[0] > 1.0), "{starts:?}");
    for x in starts
        .iter()
        .chain([v["markers"][0]["sync_z"].as_f64().unwrap()].iter())
    {
        assert_eq!((x * 1000.0).round() / 1000.0, *x, "not rounded: {x}");
    }

    // inspect and tag, and their error records.
    let run = earmark(["inspect", "--json", s(&stamped)]);
    run.expect_code(0);
    check(&run, "inspect --json");
    let run = earmark(["inspect", "--json", s(&junk)]);
    run.expect_code(2);
    check(&run, "inspect --json (not audio)");
    let tagged = d.join("tagged.wav");
    let run = earmark([
        "tag",
        s(&input),
        "-k",
        s(&key),
        "--out",
        s(&tagged),
        "--json",
    ]);
    run.expect_code(0);
    let t = run.json();
    assert!(t["carriers"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["tdm_reservation"] == 1));
    check(&run, "tag --json");
    let run = earmark(["tag", s(&junk), "-k", s(&key), "--json"]);
    run.expect_code(2);
    check(&run, "tag --json (not audio)");

    // A stamp batch: the summary on stdout, one record per file in --report.
    let lib = d.join("lib");
    fs::create_dir(&lib).unwrap();
    fs::copy(&input, lib.join("a.wav")).unwrap();
    fs::copy(&junk, lib.join("b.mp3")).unwrap();
    let out = d.join("out");
    let report = d.join("report.jsonl");
    let run = earmark([
        "stamp",
        s(&lib),
        "-k",
        s(&key),
        "--out-dir",
        s(&out),
        "--report",
        s(&report),
        "--json",
    ]);
    run.expect_code(2);
    check(&run, "stamp --out-dir --json");
    let lines: Vec<Value> = fs::read_to_string(&report)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    for r in &lines {
        assert_valid(&all, r, "stamp --report line");
    }

    // verify over the batch's output with its catalogue: the entry is an
    // object, manifest included; --report lines are verify records.
    let catalogue = out.join("earmark-catalogue.db");
    let vreport = d.join("verify.jsonl");
    let run = earmark([
        "verify",
        "--json",
        s(&out),
        "--catalogue",
        s(&catalogue),
        "--report",
        s(&vreport),
    ]);
    run.expect_code(0);
    let v = run.json();
    assert!(v["catalogue"][0]["manifest"].is_object(), "{v}");
    check(&run, "verify --json --catalogue");
    for l in fs::read_to_string(&vreport).unwrap().lines() {
        assert_valid(
            &all,
            &serde_json::from_str(l).unwrap(),
            "verify --report line",
        );
    }

    // catalogue show prints one entry.
    let payload = format!(
        "{}:{}",
        v["markers"][0]["payload"]["key_fingerprint"]
            .as_str()
            .unwrap(),
        v["markers"][0]["payload"]["track_id"]
    );
    let run = earmark(["catalogue", "show", s(&catalogue), &payload]);
    run.expect_code(0);
    let entry: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_valid(
        &validator(Some("catalogue_entry")),
        &entry,
        "catalogue show",
    );

    let expected = [
        "batch-summary",
        "inspect",
        "inspect error",
        "stamp",
        "tag",
        "tag error",
        "verify",
        "verify error",
    ];
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), expected);
}

/// The schema is strict: records of the old shape, or with a field it does
/// not document, do not pass.
#[test]
fn the_schema_rejects_what_it_does_not_describe() {
    let all = validator(None);
    let old_error = serde_json::json!({"path": "x.mp3", "error": "not audio"});
    assert!(!all.is_valid(&old_error));
    let mut error = serde_json::json!({
        "schema_version": 1, "command": "verify", "path": "x.mp3",
        "status": "error", "exit_code": 2, "error": "x.mp3: not an audio file",
    });
    assert!(all.is_valid(&error));
    error["undocumented"] = Value::Bool(true);
    assert!(!all.is_valid(&error));
}
