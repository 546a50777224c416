//! The marker's payload: the 64 bits the audio carries, and the track ids
//! in it.
//!
//! A payload is written `KEY:TRACK` wherever people read or type it (the
//! fingerprint as 8 hex digits, the track id in decimal): `1a2b3c4d:42`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The 64 bits the watermark carries: who marked the audio, and which track this is.
///
/// In JSON: `{"key_fingerprint": "1a2b3c4d", "track_id": 42}`, the fingerprint as exactly 8
/// lowercase hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Payload {
    /// [`crate::provenance::PublicKey::fingerprint32`] of the signer's key.
    #[serde(with = "fingerprint_hex")]
    pub key_fingerprint: u32,
    /// A number the signer chooses to tell their tracks apart.
    pub track_id: u32,
}

impl Payload {
    /// Builds a payload.
    pub fn new(key_fingerprint: u32, track_id: u32) -> Payload {
        Payload {
            key_fingerprint,
            track_id,
        }
    }

    /// The 8 bytes embedded in the audio: the fingerprint then the track id, both big-endian.
    pub fn to_bytes(&self) -> [u8; 8] {
        let mut out = [0u8; 8];
        out[..4].copy_from_slice(&self.key_fingerprint.to_be_bytes());
        out[4..].copy_from_slice(&self.track_id.to_be_bytes());
        out
    }

    /// The inverse of [`Payload::to_bytes`].
    pub fn from_bytes(bytes: [u8; 8]) -> Payload {
        let [a, b, c, d, e, f, g, h] = bytes;
        Payload::new(
            u32::from_be_bytes([a, b, c, d]),
            u32::from_be_bytes([e, f, g, h]),
        )
    }
}

/// Shows both halves as 8 hex digits: `fp=1a2b3c4d track=0000002a`.
impl fmt::Display for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "fp={:08x} track={:08x}",
            self.key_fingerprint, self.track_id
        )
    }
}

/// Serde for `Payload::key_fingerprint`: exactly 8 lowercase hex digits.
mod fingerprint_hex {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(fingerprint: &u32, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{fingerprint:08x}"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
        let text = String::deserialize(d)?;
        crate::hex::decode::<4>(&text)
            .map(u32::from_be_bytes)
            .map_err(|_| {
                D::Error::custom(format!(
                    "invalid key_fingerprint {text:?} (expected 8 lowercase hex digits)"
                ))
            })
    }
}

/// A random 32-bit track id (used when none is given).
pub fn random_track_id() -> u32 {
    use rand_core::RngCore;
    rand_core::OsRng.next_u32()
}

impl Payload {
    /// The `KEY:TRACK` form, e.g. `1a2b3c4d:42`.
    pub fn reference(&self) -> String {
        format!("{:08x}:{}", self.key_fingerprint, self.track_id)
    }
}

/// The soft-binding algorithm name of earmark's marker (in C2PA soft-binding
/// assertions and the Soft Binding Resolution API), versioned with the
/// marker's format. Its value is the payload's 8 bytes
/// ([`Payload::to_bytes`]).
pub const SOFT_BINDING_ALG: &str = "io.earmark.v1";

impl FromStr for Payload {
    type Err = String;

    /// Parses `KEY:TRACK`: 8 hex digits (either case), a colon, a decimal
    /// track id (a `0x` prefix takes hex).
    fn from_str(text: &str) -> Result<Payload, String> {
        let bad = || format!("{text:?} is not KEY:TRACK (e.g. 1a2b3c4d:42)");
        let (k, t) = text.trim().split_once(':').ok_or_else(bad)?;
        if k.len() != 8 {
            return Err(bad());
        }
        let key = u32::from_str_radix(k, 16).map_err(|_| bad())?;
        let track = match t.strip_prefix("0x") {
            Some(hex) => u32::from_str_radix(hex, 16),
            None => t.parse(),
        }
        .map_err(|_| bad())?;
        Ok(Payload::new(key, track))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn payload_bytes_display_and_json() {
        let p = Payload::new(0x1a2b_3c4d, 42);
        assert_eq!(p.to_bytes(), [0x1a, 0x2b, 0x3c, 0x4d, 0, 0, 0, 42]);
        assert_eq!(Payload::from_bytes(p.to_bytes()), p);
        assert_eq!(p.to_string(), "fp=1a2b3c4d track=0000002a");
        let v = serde_json::to_value(p).expect("serialises");
        assert_eq!(v, json!({"key_fingerprint": "1a2b3c4d", "track_id": 42}));
        assert_eq!(serde_json::from_value::<Payload>(v).expect("parses"), p);
        let small = serde_json::to_value(Payload::new(0xab, 0)).expect("serialises");
        assert_eq!(small["key_fingerprint"], "000000ab");
        for bad in ["1A2B3C4D", "1a2b3c4", "1a2b3c4d0", "0x1a2b3c"] {
            let v = json!({"key_fingerprint": bad, "track_id": 1});
            assert!(serde_json::from_value::<Payload>(v).is_err(), "{bad}");
        }
    }

    #[test]
    fn references_round_trip() {
        let p = Payload::new(0x1a2b_3c4d, 42);
        assert_eq!(p.reference(), "1a2b3c4d:42");
        assert_eq!("1a2b3c4d:42".parse::<Payload>(), Ok(p));
        assert_eq!("1A2B3C4D:0x2a".parse::<Payload>(), Ok(p));
        for bad in ["1a2b3c4d", "1a2b3c:42", "1a2b3c4d:x", "zzzzzzzz:1", ""] {
            assert!(bad.parse::<Payload>().is_err(), "{bad}");
        }
        assert_eq!(Payload::from_bytes(p.to_bytes()), p);
    }
}
