//! The JSON records every front end prints (`--json` in the CLI, the
//! Python package, the service's `/v1/verify`), in one place so they keep
//! one shape, described by `schema/earmark-output.schema.json`:
//!
//! * every record starts with `schema_version` ([`SCHEMA_VERSION`]) and
//!   `command` (`stamp`, `verify`, `inspect`, `tag`, `batch`);
//! * the file a record is about is `path`; what was written is `output`;
//! * a signer is named by its key fingerprint, 8 hex digits (the form of
//!   `payload.key_fingerprint` and of `KEY:TRACK`); a C2PA certificate's
//!   name is `signer_name`;
//! * measurements are numbers rounded to 3 decimals (seconds to the
//!   millisecond);
//! * a file that could not be processed is an error record:
//!   `{"schema_version", "command", "path", "status": "error",
//!   "exit_code": 2, "error": "…"}`.
//!
//! A change that renames or removes a field, or changes its type, raises
//! [`SCHEMA_VERSION`]; adding a field does not.

use serde_json::{Map, Value};
use std::path::Path;

/// Version of the records' shape (see the module documentation).
pub const SCHEMA_VERSION: u32 = 1;

/// `fields` as a record of `command`: `schema_version` and `command` first,
/// every float rounded to 3 decimals.
pub fn record(command: &str, fields: Value) -> Value {
    let mut out = Map::new();
    out.insert("schema_version".into(), SCHEMA_VERSION.into());
    out.insert("command".into(), command.into());
    match fields {
        Value::Object(map) => {
            for (k, v) in map {
                out.insert(k, v);
            }
        }
        other => {
            out.insert("value".into(), other);
        }
    }
    let mut v = Value::Object(out);
    round_floats(&mut v);
    v
}

/// The record of a file `command` could not process.
pub fn error_record(command: &str, path: &Path, error: &dyn std::fmt::Display) -> Value {
    record(
        command,
        serde_json::json!({
            "path": path,
            "status": "error",
            "exit_code": crate::exit::Status::Error.code(),
            "error": error.to_string(),
        }),
    )
}

/// Rounds every non-integer number in `v` to 3 decimals.
pub fn round_floats(v: &mut Value) {
    match v {
        Value::Number(n) if n.is_f64() => {
            if let Some(x) = n.as_f64() {
                let r = (x * 1000.0).round() / 1000.0;
                if let Some(m) = serde_json::Number::from_f64(r) {
                    *n = m;
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(round_floats),
        Value::Object(map) => map.values_mut().for_each(round_floats),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn records_lead_with_their_version_and_round_floats() {
        let r = record(
            "verify",
            json!({"path": "a.wav", "x": 2.298_775_510_204_081_7, "n": 3, "l": [0.123_456_f32]}),
        );
        let keys: Vec<&String> = r.as_object().unwrap().keys().collect();
        assert_eq!(keys[..2], ["schema_version", "command"]);
        assert_eq!(r["x"], json!(2.299));
        assert_eq!(r["n"], json!(3));
        assert_eq!(r["l"][0], json!(0.123));
        let e = error_record("stamp", Path::new("b.mp3"), &"not an audio file");
        assert_eq!(e["status"], "error");
        assert_eq!(e["exit_code"], 2);
        assert_eq!(e["path"], "b.mp3");
    }
}
