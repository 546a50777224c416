//! Provenance: Ed25519 keys, the 64-bit watermark payload and the signed manifest.
//!
//! This module knows nothing about audio. Callers hash the audio and decode the watermark
//! themselves, then hand the results in as plain values ([`AudioDigest`], [`Payload`]).
//!
//! - [`keys`]: generate, read and write Ed25519 keys as PEM files that OpenSSL 3 reads and
//!   writes too, and the key fingerprints the watermark carries.
//! - [`manifest`]: the signed JSON manifest, its canonical byte form, and the no-AI-training
//!   [`Policy`] it declares.
//! - [`seal`]: the short signature over payload and policy kind that the audio itself carries.
//!
//! ```
//! use earmark::provenance::{AudioDigest, Manifest, Payload, Policy, PolicyKind, SigningKeyPair};
//!
//! let key = SigningKeyPair::generate();
//! let payload = Payload::new(key.public_key().fingerprint32(), 42);
//! let audio = AudioDigest::new("00".repeat(32), 44_100, 44_100, 2, "s16");
//! let signed = Manifest::new(payload, audio, Policy::from_kind(PolicyKind::NoAiTraining))
//!     .sign(&key);
//!
//! let parsed = earmark::provenance::SignedManifest::parse(&signed.to_json_compact())?;
//! let check = parsed.check(&[key.public_key()]);
//! assert!(check.signature_valid && check.payload_matches_signer);
//! assert_eq!(check.trusted, Some(true));
//! # Ok::<(), earmark::provenance::ManifestError>(())
//! ```

pub mod keys;
pub mod manifest;
pub mod seal;

pub use keys::{
    public_key_path_for, read_public_key, read_signing_key, write_private_key_pem,
    write_public_key_pem, KeyError, KeyErrorKind, PublicKey, SigningKeyPair,
};
pub use manifest::{
    utc_timestamp, AudioDigest, HashBasis, Manifest, ManifestCheck, ManifestError,
    ParsePolicyError, Payload, Policy, PolicyKind, SignedManifest, TrainingMining,
    TrainingMiningEntries, TrainingMiningEntry, Usage, Verdict, FORMAT, SIGNING_DOMAIN,
};
pub use seal::{check_seal, policy_code, policy_from_code, sign_seal, SealVerdict};

/// Lowercase hexadecimal, written by hand (no dependency).
pub(crate) mod hex {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";

    /// Encodes `bytes` as lowercase hex, two digits per byte.
    pub(crate) fn encode(bytes: &[u8]) -> String {
        let mut out = String::with_capacity(bytes.len() * 2);
        for &b in bytes {
            out.push(char::from(DIGITS[usize::from(b >> 4)]));
            out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
        }
        out
    }

    /// Why [`decode`] rejected its input.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) enum HexError {
        /// The byte at this offset is not one of `0-9a-f`.
        NotHex(usize),
        /// All digits are valid but there are this many of them instead of `2 * N`.
        Length(usize),
    }

    /// Decodes exactly `N` bytes from `2 * N` lowercase hex digits.
    ///
    /// Uppercase is rejected on purpose: every value then has exactly one spelling, so a
    /// signed document cannot be altered by changing the case of a digit.
    pub(crate) fn decode<const N: usize>(text: &str) -> Result<[u8; N], HexError> {
        fn nibble(c: u8) -> Option<u8> {
            match c {
                b'0'..=b'9' => Some(c - b'0'),
                b'a'..=b'f' => Some(c - b'a' + 10),
                _ => None,
            }
        }
        let bytes = text.as_bytes();
        let mut nibbles = Vec::with_capacity(bytes.len());
        for (offset, &c) in bytes.iter().enumerate() {
            nibbles.push(nibble(c).ok_or(HexError::NotHex(offset))?);
        }
        if nibbles.len() != 2 * N {
            return Err(HexError::Length(nibbles.len()));
        }
        let mut out = [0u8; N];
        for (o, pair) in out.iter_mut().zip(nibbles.chunks_exact(2)) {
            *o = (pair[0] << 4) | pair[1];
        }
        Ok(out)
    }

    #[cfg(test)]
    mod tests {
        use super::HexError;

        #[test]
        fn round_trip_and_strictness() {
            let bytes = [0x00, 0x1a, 0xff, 0x7e];
            assert_eq!(super::encode(&bytes), "001aff7e");
            assert_eq!(super::decode::<4>("001aff7e"), Ok(bytes));
            assert_eq!(super::decode::<4>("001AFF7E"), Err(HexError::NotHex(3)));
            assert_eq!(super::decode::<4>("001aff7"), Err(HexError::Length(7)));
            assert_eq!(super::decode::<4>("001aff7e00"), Err(HexError::Length(10)));
            assert_eq!(super::decode::<4>("001aff7g"), Err(HexError::NotHex(7)));
            assert_eq!(super::decode::<2>("é1a"), Err(HexError::NotHex(0)));
        }
    }
}
