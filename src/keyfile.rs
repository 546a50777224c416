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

/// The certificate chain `earmark keygen` writes next to a private key:
/// `NAME.cert.pem` for `NAME.pem` (else `NAME.cert.pem` appended).
#[cfg(feature = "c2pa")]
pub fn certificate_path_for(private: &Path) -> std::path::PathBuf {
    if private.extension().is_some_and(|ext| ext == "pem") {
        private.with_extension("cert.pem")
    } else {
        let mut name = private.as_os_str().to_os_string();
        name.push(".cert.pem");
        std::path::PathBuf::from(name)
    }
}

/// Reads an X.509 certificate chain from PEM, signing certificate first.
#[cfg(feature = "c2pa")]
pub fn read_certificate_chain(path: &Path) -> Result<crate::credentials::CertificateChain> {
    use crate::credentials::{CertificateChain, MAX_CHAIN_PEM_BYTES};
    let bad = |why: String| Error::new(path, ErrorKind::Key(why));
    let len = std::fs::metadata(path)
        .map_err(|e| bad(format!("cannot read certificate chain: {e}")))?
        .len();
    if len > MAX_CHAIN_PEM_BYTES as u64 {
        return Err(bad(format!(
            "{len} bytes is too large for a certificate chain"
        )));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| bad(format!("cannot read certificate chain: {e}")))?;
    CertificateChain::from_pem(&text).map_err(|e| bad(format!("not a certificate chain: {e}")))
}

/// The chain a front end signs Content Credentials with: `cert` if given,
/// else the chain `earmark keygen` wrote beside the key
/// ([`certificate_path_for`]), else the key's self-issued chain made on
/// the spot. Fails, naming the file, when the chain does not certify `key`.
#[cfg(feature = "c2pa")]
pub fn credentials_chain(
    key_path: &Path,
    key: &SigningKeyPair,
    cert: Option<&Path>,
) -> Result<crate::credentials::CertificateChain> {
    use crate::credentials::CertificateChain;
    let beside = certificate_path_for(key_path);
    let path = cert.or_else(|| beside.is_file().then_some(beside.as_path()));
    let Some(path) = path else {
        let name = CertificateChain::default_name(&key.public_key());
        return Ok(CertificateChain::self_issued(key, &name));
    };
    let chain = read_certificate_chain(path)?;
    chain.check_certifies(&key.public_key()).map_err(|why| {
        Error::new(
            path,
            ErrorKind::Key(format!(
                "{why}; give the chain issued for this key with --cert"
            )),
        )
    })?;
    Ok(chain)
}

/// Writes `chain` as PEM to `path` (atomically; an existing file only with
/// `force`).
#[cfg(feature = "c2pa")]
pub fn write_certificate_chain(
    path: &Path,
    chain: &crate::credentials::CertificateChain,
    force: bool,
) -> Result<()> {
    crate::output::check_writable(path, force)?;
    let temp = crate::output::temp_with(path, chain.to_pem().as_bytes())?;
    crate::output::persist(temp, path, force)
}

/// Reads root certificates to trust for Content Credentials (PEM; checked
/// to hold at least one certificate).
#[cfg(feature = "c2pa")]
pub fn read_c2pa_trust(path: &Path) -> Result<String> {
    Ok(read_certificate_chain(path)?.to_pem())
}
