//! Loading the key files the front ends are given: the artist's signing key
//! (`--key`), the public keys to trust (`--trust`) and a private watermark
//! key (`--wm-key`). Errors name the file.

use crate::error::{Error, ErrorKind, Result};
use crate::mark::WatermarkKey;
use crate::provenance::{self, PublicKey, SigningKeyPair};
use std::path::Path;

/// Shortest private watermark key accepted, bytes.
pub const MIN_WATERMARK_KEY_BYTES: usize = 16;

/// Reads an Ed25519 private key from a PEM file (`earmark keygen` or
/// `openssl genpkey -algorithm ed25519`).
pub fn read_signing_key(path: &Path) -> Result<SigningKeyPair> {
    provenance::read_signing_key(path).map_err(|e| Error::new(path, e))
}

/// Reads the public keys to trust, one per file (a private key file works
/// too: its public half is used).
pub fn read_trusted(paths: &[impl AsRef<Path>]) -> Result<Vec<PublicKey>> {
    paths
        .iter()
        .map(|p| {
            let p = p.as_ref();
            provenance::read_public_key(p).map_err(|e| Error::new(p, e))
        })
        .collect()
}

/// Reads a private watermark key: any file of at least
/// [`MIN_WATERMARK_KEY_BYTES`] random bytes.
pub fn read_watermark_key(path: &Path) -> Result<WatermarkKey> {
    let bytes = std::fs::read(path).map_err(|e| {
        Error::new(
            path,
            ErrorKind::Key(format!("cannot read watermark key: {e}")),
        )
    })?;
    if bytes.len() < MIN_WATERMARK_KEY_BYTES {
        return Err(Error::new(
            path,
            ErrorKind::Key(format!(
                "watermark key too short ({} bytes; use at least {MIN_WATERMARK_KEY_BYTES} random bytes)",
                bytes.len()
            )),
        ));
    }
    Ok(WatermarkKey::from_bytes(&bytes))
}

/// The watermark key a front end uses: the file's, or the built-in public
/// key when none is given.
pub fn watermark_key_or_public(path: Option<&Path>) -> Result<WatermarkKey> {
    path.map_or_else(|| Ok(WatermarkKey::public()), read_watermark_key)
}
