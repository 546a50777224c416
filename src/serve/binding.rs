//! What the resolution API's identifiers look like for earmark: soft-binding
//! values (a marker payload) and manifest ids.

use crate::catalogue::Entry;
use crate::payload::{Payload, SOFT_BINDING_ALG};
use base64::Engine as _;

/// Prefix of earmark's own manifest ids: `urn:earmark:KEY:TRACK` names the
/// signed earmark manifest of the track with that payload.
pub(crate) const EARMARK_ID_PREFIX: &str = "urn:earmark:";

/// Reads a soft-binding value for [`SOFT_BINDING_ALG`]. The API's form is
/// base64 (standard or URL-safe, padded or not) of the payload's 8 bytes;
/// earmark also takes the 16 hex digits its soft-binding assertion holds
/// (or their base64) and the `KEY:TRACK` form its tools print.
pub(crate) fn parse_value(value: &str) -> Result<Payload, String> {
    // A `+` of base64 sent unescaped in a query string arrives as a space.
    let unescaped = value.replace(' ', "+");
    let unescaped = unescaped.trim();
    let v = unescaped;
    if let Some(p) = hex16(v) {
        return Ok(p);
    }
    if let Ok(p) = v.parse::<Payload>() {
        return Ok(p);
    }
    let engines = [
        base64::engine::general_purpose::STANDARD,
        base64::engine::general_purpose::STANDARD_NO_PAD,
        base64::engine::general_purpose::URL_SAFE,
        base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ];
    for engine in engines {
        if let Ok(bytes) = engine.decode(v) {
            if let Ok(b) = <[u8; 8]>::try_from(bytes.as_slice()) {
                return Ok(Payload::from_bytes(b));
            }
            if let Some(p) = std::str::from_utf8(&bytes).ok().and_then(hex16) {
                return Ok(p);
            }
        }
    }
    Err(format!(
        "{value:?} is not a {SOFT_BINDING_ALG} value: expected base64 of the 8-byte marker \
         payload (e.g. {}), 16 hex digits or KEY:TRACK",
        encode_value(&Payload::new(0x1a2b_3c4d, 42))
    ))
}

/// The API form of a payload: base64 of its 8 bytes.
pub(crate) fn encode_value(p: &Payload) -> String {
    base64::engine::general_purpose::STANDARD.encode(p.to_bytes())
}

fn hex16(s: &str) -> Option<Payload> {
    if s.len() != 16 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let n = u64::from_str_radix(s, 16).ok()?;
    Some(Payload::from_bytes(n.to_be_bytes()))
}

/// earmark's manifest id for a catalogue entry.
pub(crate) fn earmark_id(e: &Entry) -> String {
    format!("{EARMARK_ID_PREFIX}{}:{}", e.key_fingerprint, e.track_id)
}

/// The payload an earmark manifest id names.
pub(crate) fn parse_earmark_id(id: &str) -> Option<Payload> {
    id.strip_prefix(EARMARK_ID_PREFIX)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_in_every_documented_form() {
        let p = Payload::new(0x1a2b_3c4d, 42);
        assert_eq!(encode_value(&p), "Gis8TQAAACo=");
        for form in [
            "Gis8TQAAACo=",
            "Gis8TQAAACo",
            "1a2b3c4d0000002a",
            "1A2B3C4D0000002A",
            "1a2b3c4d:42",
            "MWEyYjNjNGQwMDAwMDAyYQ==",
        ] {
            assert_eq!(parse_value(form), Ok(p), "{form}");
        }
        // `+` as a query string decodes it: a space.
        let plus = Payload::new(0xfb00_0000, 0);
        assert_eq!(encode_value(&plus), "+wAAAAAAAAA=");
        for form in ["+wAAAAAAAAA=", " wAAAAAAAAA="] {
            assert_eq!(parse_value(form), Ok(plus), "{form}");
        }
        for bad in ["", "xyz", "Gis8TQAAAC", "1a2b3c4d000000", "AAAA"] {
            assert!(parse_value(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn earmark_ids_round_trip() {
        assert_eq!(
            parse_earmark_id("urn:earmark:1a2b3c4d:42"),
            Some(Payload::new(0x1a2b_3c4d, 42))
        );
        assert_eq!(parse_earmark_id("urn:c2pa:1234"), None);
    }
}
