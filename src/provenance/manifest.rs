//! The signed provenance manifest: what was marked, by whom, and what use is declared.
//!
//! A [`SignedManifest`] is a small JSON document:
//!
//! ```json
//! {
//!   "manifest": {
//!     "format": "earmark.manifest/1",
//!     "payload": { "key_fingerprint": "1a2b3c4d", "track_id": 42 },
//!     "signer": "<64 lowercase hex digits: the 32-byte Ed25519 public key>",
//!     "audio": { "sha256": "<64 hex digits>", "frames": 441000, "sample_rate": 44100,
//!                "channels": 2, "sample_format": "s16" },
//!     "title": "Song", "artist": "Artist",
//!     "created": "2026-11-21T22:05:00Z",
//!     "tool": "earmark 0.1.0",
//!     "policy": {
//!       "plus_data_mining": "http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED-AIMLTRAINING",
//!       "tdm_reservation": 1,
//!       "cawg_training_mining": { "entries": {
//!         "cawg.ai_training": { "use": "notAllowed" },
//!         "cawg.ai_generative_training": { "use": "notAllowed" },
//!         "cawg.data_mining": { "use": "notAllowed" },
//!         "cawg.ai_inference": { "use": "allowed" } } },
//!       "notice": "AI/ML training prohibited. Text and data mining rights reserved (Art. 4(3) Directive (EU) 2019/790)."
//!     }
//!   },
//!   "signature": "<128 lowercase hex digits: the 64-byte Ed25519 signature>"
//! }
//! ```
//!
//! `title`, `artist` and `policy.terms_url` are omitted when absent. Unknown fields are
//! rejected, so everything a parsed manifest says is covered by its signature.
//!
//! # Binary encodings
//!
//! `signer` and `signature` are lowercase hex (two digits per byte, no prefix); so is
//! `payload.key_fingerprint` (exactly 8 digits, the big-endian `u32`). Uppercase digits are
//! rejected so that every value has exactly one spelling.
//!
//! # Canonical form and signature (a public contract)
//!
//! The signature covers the manifest's content, not the bytes of the file it came in. Its
//! canonical byte form is:
//!
//! 1. the `manifest` object (without the `signature` wrapper) as serialised by this module's
//!    serde rules (above: absent optional fields omitted, the fingerprint as hex, every other
//!    number a JSON integer);
//! 2. written as compact JSON: no whitespace anywhere; the members of every object sorted
//!    by key in ascending byte order of the UTF-8 keys, at every level; strings escaped as
//!    serde_json escapes them (`"` and `\` backslash-escaped, U+0008, U+0009, U+000A, U+000C
//!    and U+000D as `\b \t \n \f \r`, other characters below U+0020 as `\u00xx` with
//!    lowercase hex digits, everything else, non-ASCII included, as raw UTF-8); integers in
//!    plain decimal;
//! 3. UTF-8, with no trailing newline.
//!
//! The signed message is [`SIGNING_DOMAIN`] (`b"earmark-manifest-v1\0"`, 20 bytes) followed by
//! those bytes, signed with pure Ed25519 (RFC 8032) by the key in `signer`, and verified
//! with strict verification. Because the verifier recomputes the canonical form from the
//! parsed manifest, the pretty sidecar file and the compact copy embedded in tags carry the
//! same signature. The key order is sorted explicitly, so it does not depend on serde_json's
//! `preserve_order` feature.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::keys::{PublicKey, SigningKeyPair};
use crate::hex::{self, HexError};
use crate::payload::Payload;
use crate::policy::Policy;

/// The value of [`Manifest::format`] this version writes and accepts.
pub const FORMAT: &str = "earmark.manifest/1";

/// The domain-separation prefix of the signed message; see the module docs.
pub const SIGNING_DOMAIN: &[u8] = b"earmark-manifest-v1\0";

/// What the signed audio is, as measured by the caller. This module never looks at audio.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct AudioDigest {
    /// SHA-256 of the audio as the audio layer defines it, as 64 lowercase hex digits.
    pub sha256: String,
    /// Length in frames (one sample per channel).
    pub frames: u64,
    /// Frames per second.
    pub sample_rate: u32,
    /// Number of channels.
    pub channels: u16,
    /// Sample format name, e.g. `"s16"`, `"s24"`, `"f32"`; for
    /// [`HashBasis::Encoded`] the codec name, e.g. `"mp3"`.
    pub sample_format: String,
    /// What `sha256` covers; omitted from JSON for the default, [`HashBasis::Pcm`].
    #[serde(default, skip_serializing_if = "HashBasis::is_pcm")]
    pub basis: HashBasis,
}

/// What an [`AudioDigest`]'s SHA-256 is computed over.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HashBasis {
    /// The decoded samples, quantised to `sample_format`, each as a
    /// little-endian 32-bit integer (what `stamp` signed before `stored`).
    #[default]
    Pcm,
    /// The encoded audio packets exactly as the container stores them
    /// (`tag`, which never re-encodes): independent of any decoder.
    Encoded,
    /// The decoded samples, quantised to `sample_format`, each at its stored
    /// width (2 bytes `s16`, 3 bytes `s24`, the 4 bytes of `f32`),
    /// little-endian: for a WAV output, its `data` chunk byte for byte
    /// (`stamp`).
    Stored,
}

impl HashBasis {
    /// Whether this is [`HashBasis::Pcm`].
    pub fn is_pcm(&self) -> bool {
        *self == HashBasis::Pcm
    }
}

impl AudioDigest {
    /// Builds a digest from the caller's measurements.
    pub fn new(
        sha256: impl Into<String>,
        frames: u64,
        sample_rate: u32,
        channels: u16,
        sample_format: impl Into<String>,
    ) -> AudioDigest {
        AudioDigest {
            sha256: sha256.into(),
            frames,
            sample_rate,
            channels,
            sample_format: sample_format.into(),
            basis: HashBasis::Pcm,
        }
    }

    /// The same digest, computed over `basis` instead.
    pub fn with_basis(mut self, basis: HashBasis) -> AudioDigest {
        self.basis = basis;
        self
    }
}

/// The manifest body: everything the signature covers. See the module docs for the JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Manifest {
    /// Always [`FORMAT`] (`"earmark.manifest/1"`).
    pub format: String,
    /// The bits embedded in the audio.
    pub payload: Payload,
    /// The signer's 32-byte Ed25519 public key as 64 lowercase hex digits; set by
    /// [`Manifest::sign`].
    pub signer: String,
    /// What audio was signed.
    pub audio: AudioDigest,
    /// Track title; omitted from JSON when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Artist name; omitted from JSON when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artist: Option<String>,
    /// When the manifest was made, UTC, RFC 3339 to the second: `"2026-11-21T22:05:00Z"`.
    pub created: String,
    /// The tool that made it: `"earmark <version>"`.
    pub tool: String,
    /// The declared AI training and data mining policy.
    pub policy: Policy,
    /// Whether the audio carries the marker [`payload`](Self::payload)
    /// names. `false` only in a manifest `tag` wrote over audio without
    /// this key's marker: the payload then identifies the declaration, not
    /// a marker anyone could find. Omitted from JSON when `true` (every
    /// stamp), so manifests made before the field keep their bytes.
    #[serde(default = "marker_default", skip_serializing_if = "is_true")]
    pub marker_embedded: bool,
}

fn marker_default() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

impl Manifest {
    /// A manifest created now by this version of earmark, with no title or artist and no
    /// signer yet.
    ///
    /// `payload.key_fingerprint` should be the signing key's
    /// [`PublicKey::fingerprint32`]; [`SignedManifest::check`] reports whether it is.
    pub fn new(payload: Payload, audio: AudioDigest, policy: Policy) -> Manifest {
        Manifest::created_at(payload, audio, policy, utc_timestamp(SystemTime::now()))
    }

    /// As [`new`](Self::new), created at `created` (an RFC 3339 UTC time,
    /// see [`utc_timestamp`]): reads no clock.
    pub fn created_at(
        payload: Payload,
        audio: AudioDigest,
        policy: Policy,
        created: String,
    ) -> Manifest {
        Manifest {
            format: FORMAT.to_string(),
            payload,
            signer: String::new(),
            audio,
            title: None,
            artist: None,
            created,
            tool: concat!("earmark ", env!("CARGO_PKG_VERSION")).to_string(),
            policy,
            marker_embedded: true,
        }
    }

    /// Sets [`Manifest::signer`] to `key`'s public key and signs the result.
    pub fn sign(mut self, key: &SigningKeyPair) -> SignedManifest {
        self.signer = hex::encode(&key.public_key().to_bytes());
        let signature = hex::encode(&key.sign(&self.signing_message()));
        SignedManifest {
            manifest: self,
            signature,
        }
    }

    /// The canonical byte form defined in the module docs.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let value =
            serde_json::to_value(self).expect("a Manifest always serialises to a JSON value");
        let mut out = String::new();
        write_canonical(&value, &mut out);
        out.into_bytes()
    }

    /// The exact message signed: [`SIGNING_DOMAIN`] then [`Manifest::canonical_bytes`].
    pub fn signing_message(&self) -> Vec<u8> {
        let mut message = SIGNING_DOMAIN.to_vec();
        message.extend_from_slice(&self.canonical_bytes());
        message
    }

    /// Decodes [`Manifest::signer`].
    pub fn signer_key(&self) -> Result<PublicKey, ManifestError> {
        let bytes = decode_hex_field::<32>("manifest.signer", &self.signer)?;
        PublicKey::from_bytes(&bytes).map_err(|_| ManifestError::BadSigner)
    }

    /// Whether `payload` (e.g. decoded from the watermark) is the one this manifest records.
    pub fn matches_payload(&self, payload: &Payload) -> bool {
        self.payload == *payload
    }

    /// Whether `sha256` (hex, either case) is the audio digest this manifest records.
    pub fn matches_audio_sha256(&self, sha256: &str) -> bool {
        self.audio.sha256.eq_ignore_ascii_case(sha256)
    }
}

/// A manifest with its signature: `{"manifest": {…}, "signature": "<128 hex digits>"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedManifest {
    /// The signed content.
    pub manifest: Manifest,
    /// The 64-byte Ed25519 signature over [`Manifest::signing_message`], as 128 lowercase hex
    /// digits.
    pub signature: String,
}

impl SignedManifest {
    /// Multi-line JSON for the sidecar file (two-space indent, fields in declaration order, no
    /// trailing newline).
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).expect("a SignedManifest always serialises to JSON")
    }

    /// One-line JSON for embedding in file tags (fields in declaration order).
    pub fn to_json_compact(&self) -> String {
        serde_json::to_string(self).expect("a SignedManifest always serialises to JSON")
    }

    /// Parses and checks the shape of a signed manifest (pretty or compact).
    ///
    /// This checks the format version, every field, and the encodings and lengths of
    /// `signer` and `signature`; it does not verify the signature: use
    /// [`SignedManifest::check`].
    pub fn parse(text: &str) -> Result<SignedManifest, ManifestError> {
        let signed: SignedManifest = serde_json::from_str(text).map_err(|e| diagnose(text, &e))?;
        if signed.manifest.format != FORMAT {
            return Err(ManifestError::UnsupportedFormat {
                found: signed.manifest.format,
            });
        }
        signed.manifest.signer_key()?;
        decode_hex_field::<64>("signature", &signed.signature)?;
        Ok(signed)
    }

    /// Verifies the signature and compares the signer with `trusted` and with the payload.
    ///
    /// Pass an empty slice when there is no trust list. Comparing the payload and audio with
    /// what was found in the audio is the caller's job ([`Manifest::matches_payload`],
    /// [`Manifest::matches_audio_sha256`]).
    pub fn check(&self, trusted: &[PublicKey]) -> ManifestCheck {
        let signer = self.manifest.signer_key().ok();
        let signature = hex::decode::<64>(&self.signature).ok();
        let signature_valid = match (&signer, &signature) {
            (Some(key), Some(sig)) => key.verify(&self.manifest.signing_message(), sig),
            _ => false,
        };
        ManifestCheck {
            signature_valid,
            signer,
            trusted: match trusted.is_empty() {
                true => None,
                false => Some(signer.is_some_and(|key| trusted.contains(&key))),
            },
            payload_matches_signer: signer
                .is_some_and(|key| key.fingerprint32() == self.manifest.payload.key_fingerprint),
        }
    }
}

/// The result of [`SignedManifest::check`]. [`ManifestCheck::verdict`] sums it up.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ManifestCheck {
    /// The signature verifies (strictly) with the embedded signer key over the canonical form.
    pub signature_valid: bool,
    /// The embedded signer key; `None` only if `signer` is not a valid key, which
    /// [`SignedManifest::parse`] already rejects.
    pub signer: Option<PublicKey>,
    /// Whether the signer is in the trust list, whatever the signature; `None` when no trust
    /// list was given.
    pub trusted: Option<bool>,
    /// `payload.key_fingerprint` equals the signer's [`PublicKey::fingerprint32`].
    pub payload_matches_signer: bool,
}

impl ManifestCheck {
    /// The outcome in one value; see [`Verdict`] for the order of the checks.
    pub fn verdict(&self) -> Verdict {
        if !self.signature_valid {
            Verdict::Invalid
        } else if !self.payload_matches_signer {
            Verdict::SignerMismatch
        } else {
            match self.trusted {
                None => Verdict::Valid,
                Some(true) => Verdict::Trusted,
                Some(false) => Verdict::Untrusted,
            }
        }
    }
}

/// The outcome of a [`ManifestCheck`], first matching rule wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Verdict {
    /// The signature does not verify: the manifest was altered or not signed by `signer`.
    Invalid,
    /// The signature is valid but the payload names a different key than the signer.
    SignerMismatch,
    /// Valid, but the signer is not in the trust list.
    Untrusted,
    /// Valid; no trust list was given.
    Valid,
    /// Valid, and the signer is in the trust list.
    Trusted,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Invalid => "invalid signature",
            Verdict::SignerMismatch => "valid signature, but the payload names another key",
            Verdict::Untrusted => "valid signature, signer not trusted",
            Verdict::Valid => "valid signature",
            Verdict::Trusted => "valid signature, trusted signer",
        })
    }
}

/// Why [`SignedManifest::parse`] rejected a document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// The text is not JSON.
    #[error("not JSON: {0}")]
    NotJson(String),
    /// `manifest.format` is not [`FORMAT`].
    #[error("unsupported manifest format {found:?} (expected {:?})", FORMAT)]
    UnsupportedFormat {
        /// The format found (JSON text if it was not a string).
        found: String,
    },
    /// A required field is missing.
    #[error("missing field `{0}`")]
    MissingField(String),
    /// A hex field has a character outside `0-9a-f`.
    #[error("{field}: not lowercase hex (at offset {offset})")]
    BadHex {
        /// `"manifest.signer"` or `"signature"`.
        field: &'static str,
        /// Byte offset of the first bad character.
        offset: usize,
    },
    /// A hex field has the wrong number of digits.
    #[error("{field}: wrong length (expected {expected} bytes, found {found_digits} hex digits)")]
    BadLength {
        /// `"manifest.signer"` or `"signature"`.
        field: &'static str,
        /// Bytes expected (32 for the key, 64 for the signature).
        expected: usize,
        /// Hex digits found.
        found_digits: usize,
    },
    /// `manifest.signer` is 32 bytes but not an Ed25519 public key.
    #[error("manifest.signer: not a valid Ed25519 public key")]
    BadSigner,
    /// Any other mismatch with the schema (wrong type, unknown field, bad fingerprint…).
    #[error("invalid manifest: {0}")]
    Invalid(String),
}

fn decode_hex_field<const N: usize>(
    field: &'static str,
    text: &str,
) -> Result<[u8; N], ManifestError> {
    hex::decode::<N>(text).map_err(|e| match e {
        HexError::NotHex(offset) => ManifestError::BadHex { field, offset },
        HexError::Length(found_digits) => ManifestError::BadLength {
            field,
            expected: N,
            found_digits,
        },
    })
}

/// Turns a serde_json error into the most helpful [`ManifestError`].
fn diagnose(text: &str, error: &serde_json::Error) -> ManifestError {
    if !error.is_data() {
        return ManifestError::NotJson(error.to_string());
    }
    // A different version most likely has a different shape: say so first.
    if let Ok(value) = serde_json::from_str::<Value>(text) {
        if let Some(format) = value.pointer("/manifest/format") {
            if format.as_str() != Some(FORMAT) {
                let found = format
                    .as_str()
                    .map_or_else(|| format.to_string(), str::to_string);
                return ManifestError::UnsupportedFormat { found };
            }
        }
    }
    let mut message = error.to_string();
    if let Some(at) = message.rfind(" at line ") {
        message.truncate(at);
    }
    match message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.strip_suffix('`'))
    {
        Some(field) => ManifestError::MissingField(field.to_string()),
        None => ManifestError::Invalid(message),
    }
}

/// Writes `value` as compact JSON with every object's keys sorted (see the module docs).
fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, member)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(member, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        // Null, booleans, numbers and strings: serde_json's compact form.
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// Formats `time` as UTC RFC 3339 to the whole second, e.g. `"2026-11-21T22:05:00Z"`.
///
/// Fractions of a second are dropped (rounding towards the past).
pub fn utc_timestamp(time: SystemTime) -> String {
    let seconds: i64 = match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => {
            let d = before.duration();
            let whole = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            -whole - i64::from(d.subsec_nanos() > 0)
        }
    };
    let (days, secs_of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs_of_day / 3600,
        secs_of_day % 3600 / 60,
        secs_of_day % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day), after Howard Hinnant's
/// `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of era, 0..=146_096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // year of era, 0..=399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of year from March 1, 0..=365
    let mp = (5 * doy + 2) / 153; // month from March, 0..=11
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // Both are in range by construction (1..=31, 1..=12).
    (year, day_or_month(month), day_or_month(day))
}

fn day_or_month(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::PolicyKind;
    use serde_json::json;
    use std::time::Duration;

    fn key(seed: u8) -> SigningKeyPair {
        SigningKeyPair::from_bytes(&[seed; 32])
    }

    /// A small fixed manifest, signed by `key(1)`.
    fn sample() -> SignedManifest {
        let key = key(1);
        let payload = Payload::new(key.public_key().fingerprint32(), 42);
        let audio = AudioDigest::new("ab".repeat(32), 441_000, 44_100, 2, "s16");
        let mut manifest = Manifest::new(payload, audio, Policy::default());
        manifest.title = Some("Song \"One\" ✓".to_string());
        manifest.created = "2026-11-21T22:05:00Z".to_string();
        manifest.tool = "earmark 0.1.0".to_string();
        manifest.sign(&key)
    }

    #[test]
    fn canonical_form_is_exact() {
        let signed = sample();
        let canonical = String::from_utf8(signed.manifest.canonical_bytes()).expect("utf-8");
        let expected = format!(
            concat!(
                r#"{{"audio":{{"channels":2,"frames":441000,"sample_format":"s16","#,
                r#""sample_rate":44100,"sha256":"{sha}"}},"created":"2026-11-21T22:05:00Z","#,
                r#""format":"earmark.manifest/1","payload":{{"key_fingerprint":"{fp:08x}","#,
                r#""track_id":42}},"policy":{{"cawg_training_mining":{{"entries":{{"#,
                r#""cawg.ai_generative_training":{{"use":"notAllowed"}},"#,
                r#""cawg.ai_inference":{{"use":"allowed"}},"#,
                r#""cawg.ai_training":{{"use":"notAllowed"}},"#,
                r#""cawg.data_mining":{{"use":"notAllowed"}}}}}},"notice":"{notice}","#,
                r#""plus_data_mining":"http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED-AIMLTRAINING","#,
                r#""tdm_reservation":1}},"signer":"{signer}","title":"Song \"One\" ✓","#,
                r#""tool":"earmark 0.1.0"}}"#
            ),
            sha = "ab".repeat(32),
            fp = key(1).public_key().fingerprint32(),
            notice = PolicyKind::NoAiTraining.notice(),
            signer = hex::encode(&key(1).public_key().to_bytes()),
        );
        assert_eq!(canonical, expected);
        assert!(!canonical.ends_with('\n'));

        let message = signed.manifest.signing_message();
        assert_eq!(&message[..20], b"earmark-manifest-v1\0");
        assert_eq!(&message[20..], canonical.as_bytes());
    }

    #[test]
    fn canonical_form_is_stable() {
        let signed = sample();
        let canonical = signed.manifest.canonical_bytes();
        // Re-parsing the canonical bytes and re-serialising gives the same bytes.
        let reparsed: Manifest = serde_json::from_slice(&canonical).expect("parses");
        assert_eq!(reparsed.canonical_bytes(), canonical);
        // So does a round trip through either JSON form of the signed manifest.
        for text in [signed.to_json_pretty(), signed.to_json_compact()] {
            let parsed = SignedManifest::parse(&text).expect("parses");
            assert_eq!(parsed, signed);
            assert_eq!(parsed.manifest.canonical_bytes(), canonical);
        }
        // Serialisation order (declaration order) is not canonical, but the canonical form
        // does not depend on it.
        assert!(signed
            .to_json_compact()
            .starts_with(r#"{"manifest":{"format":"#));
    }

    #[test]
    fn canonical_sorts_keys_and_escapes_like_serde_json() {
        let value = json!({"b": [1, {"z": null, "a": true}], "a": "x\u{1}\n\"\\/é", "B": -3});
        let mut out = String::new();
        write_canonical(&value, &mut out);
        assert_eq!(
            out,
            r#"{"B":-3,"a":"x\u0001\n\"\\/é","b":[1,{"a":true,"z":null}]}"#
        );
    }

    #[test]
    fn sign_parse_check_round_trip() {
        let signed = sample();
        let parsed = SignedManifest::parse(&signed.to_json_pretty()).expect("parses");
        let check = parsed.check(&[]);
        assert!(check.signature_valid);
        assert!(check.payload_matches_signer);
        assert_eq!(check.trusted, None);
        assert_eq!(check.signer, Some(key(1).public_key()));
        assert_eq!(check.verdict(), Verdict::Valid);
        assert_eq!(
            parsed.check(&[key(1).public_key()]).verdict(),
            Verdict::Trusted
        );
        assert!(parsed
            .manifest
            .matches_payload(&Payload::new(key(1).public_key().fingerprint32(), 42)));
        assert!(!parsed
            .manifest
            .matches_payload(&Payload::new(key(1).public_key().fingerprint32(), 43)));
        assert!(parsed.manifest.matches_audio_sha256(&"AB".repeat(32)));
        assert!(!parsed.manifest.matches_audio_sha256(&"ab".repeat(31)));
    }

    #[test]
    fn every_single_byte_change_is_caught() {
        let signed = sample();
        let compact = signed.to_json_compact().into_bytes();
        let mut rejected = 0;
        for i in 0..compact.len() {
            for replacement in [compact[i] ^ 0x01, compact[i] ^ 0x20, b'0', b' ', b'"', b'}'] {
                if replacement == compact[i] {
                    continue;
                }
                let mut tampered = compact.clone();
                tampered[i] = replacement;
                let Ok(text) = String::from_utf8(tampered) else {
                    rejected += 1;
                    continue;
                };
                match SignedManifest::parse(&text) {
                    Err(_) => rejected += 1,
                    Ok(parsed) => {
                        let check = parsed.check(&[]);
                        assert!(
                            !check.signature_valid,
                            "byte {i} -> {replacement:#04x} still verifies: {text}"
                        );
                    }
                }
            }
        }
        assert!(rejected > 0);
    }

    #[test]
    fn swapped_signer_is_invalid() {
        let mut signed = sample();
        signed.manifest.signer = hex::encode(&key(2).public_key().to_bytes());
        let check = signed.check(&[key(2).public_key()]);
        assert!(!check.signature_valid);
        assert_eq!(check.verdict(), Verdict::Invalid);
    }

    #[test]
    fn valid_but_untrusted_is_distinct_from_invalid() {
        // Someone else signs the same manifest with their own key: a valid signature.
        let other = sample().manifest.sign(&key(2));
        let check = other.check(&[key(1).public_key()]);
        assert!(check.signature_valid);
        assert_eq!(check.trusted, Some(false));
        // Their payload still names key 1, which is reported too.
        assert!(!check.payload_matches_signer);
        assert_eq!(check.verdict(), Verdict::SignerMismatch);

        let mut manifest = sample().manifest;
        manifest.payload.key_fingerprint = key(2).public_key().fingerprint32();
        let other = manifest.sign(&key(2));
        let check = other.check(&[key(1).public_key()]);
        assert_eq!(check.verdict(), Verdict::Untrusted);
        assert_eq!(
            other.check(&[key(2).public_key()]).verdict(),
            Verdict::Trusted
        );

        let mut bad = other.clone();
        bad.manifest.payload.track_id += 1;
        let check = bad.check(&[key(1).public_key()]);
        assert_eq!((check.signature_valid, check.trusted), (false, Some(false)));
        assert_eq!(check.verdict(), Verdict::Invalid);
    }

    #[test]
    fn parse_errors_are_specific() {
        let good = sample().to_json_compact();
        let err = |text: &str| SignedManifest::parse(text).expect_err("should fail");

        assert!(matches!(err("{not json"), ManifestError::NotJson(_)));
        assert!(matches!(err(""), ManifestError::NotJson(_)));

        let v2 = good.replace("earmark.manifest/1", "earmark.manifest/2");
        assert_eq!(
            err(&v2).to_string(),
            "unsupported manifest format \"earmark.manifest/2\" (expected \"earmark.manifest/1\")"
        );
        let v2_other_shape = r#"{"manifest":{"format":"earmark.manifest/2"},"signature":""}"#;
        assert!(matches!(
            err(v2_other_shape),
            ManifestError::UnsupportedFormat { .. }
        ));

        let mut value: Value = serde_json::from_str(&good).expect("json");
        if let Some(audio) = value["manifest"]["audio"].as_object_mut() {
            audio.remove("sha256");
        }
        assert_eq!(
            err(&value.to_string()),
            ManifestError::MissingField("sha256".into())
        );

        let sig = sample().signature;
        let short = good.replace(&sig, &sig[..126]);
        assert_eq!(
            err(&short).to_string(),
            "signature: wrong length (expected 64 bytes, found 126 hex digits)"
        );
        let upper = good.replace(&sig, &sig.to_uppercase());
        assert!(matches!(
            err(&upper),
            ManifestError::BadHex {
                field: "signature",
                ..
            }
        ));
        let signer = sample().manifest.signer;
        let bad_signer = good.replace(&signer, &format!("zz{}", &signer[2..]));
        assert_eq!(
            err(&bad_signer).to_string(),
            "manifest.signer: not lowercase hex (at offset 0)"
        );

        let extra = good.replacen(r#""tool":"#, r#""extra":1,"tool":"#, 1);
        assert!(matches!(err(&extra), ManifestError::Invalid(_)));
        let dup = good.replacen(r#""tool":"#, r#""tool":"x","tool":"#, 1);
        assert!(matches!(err(&dup), ManifestError::Invalid(_)));
        assert!(matches!(err("[1,2]"), ManifestError::Invalid(_)));
    }

    #[test]
    fn timestamps() {
        let at = |secs: u64| utc_timestamp(UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(at(1_795_298_700), "2026-11-21T22:05:00Z");
        assert_eq!(at(4_107_542_399), "2100-02-28T23:59:59Z");
        assert_eq!(at(4_107_542_400), "2100-03-01T00:00:00Z");
        assert_eq!(
            utc_timestamp(UNIX_EPOCH - Duration::from_millis(1)),
            "1969-12-31T23:59:59Z"
        );
        let now = Manifest::new(
            Payload::new(0, 0),
            AudioDigest::new("", 0, 1, 1, "s16"),
            Policy::default(),
        );
        assert_eq!(now.created.len(), 20);
        assert_eq!(now.tool, concat!("earmark ", env!("CARGO_PKG_VERSION")));
    }
}
