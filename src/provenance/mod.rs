//! Provenance: Ed25519 keys, the 64-bit watermark payload and the signed manifest.
//!
//! This module knows nothing about audio. Callers hash the audio and decode the watermark
//! themselves, then hand the results in as plain values ([`AudioDigest`], [`crate::Payload`]).
//!
//! - [`keys`]: generate, read and write Ed25519 keys as PEM files that OpenSSL 3 reads and
//!   writes too, and the key fingerprints the watermark carries.
//! - [`manifest`]: the signed JSON manifest, its canonical byte form, and the no-AI-training
//!   [`crate::Policy`] it declares.
//! - [`seal`]: the short signature over payload and policy kind that the audio itself carries.
//!
//! ```
//! use earmark::provenance::{AudioDigest, Manifest, SigningKeyPair};
//! use earmark::{Payload, Policy, PolicyKind};
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
    utc_timestamp, AudioDigest, HashBasis, Manifest, ManifestCheck, ManifestError, SignedManifest,
    Verdict, FORMAT, SIGNING_DOMAIN,
};
pub use seal::{check_seal, sign_seal, SealVerdict};
