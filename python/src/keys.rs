//! Keys as Python hands them over: PEM text or a path, raw watermark-key
//! bytes or a path. Everything is parsed by the engine's own key readers,
//! so the rules (no private key in `trust`, no PEM as a watermark key) and
//! the error wording are the CLI's.

use std::path::{Path, PathBuf};

use earmark::keyfile;
use earmark::mark::WatermarkKey;
use earmark::provenance::{PublicKey, SigningKeyPair};
use pyo3::prelude::*;

use crate::Failure;

/// Whether `s` is PEM text rather than a path.
fn is_pem(s: &str) -> bool {
    s.contains("-----BEGIN")
}

/// The public keys to trust: each item is PEM text (one key or a bundle) or
/// the path of a PEM file or of a folder of them.
pub(crate) fn trusted(items: &[String]) -> Result<Vec<PublicKey>, Failure> {
    let mut keys = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let found = if is_pem(item) {
            keyfile::trusted_from_pem(&format!("trust[{i}]"), item)
        } else {
            keyfile::read_trusted(&[Path::new(item)])
        };
        keys.extend(found.map_err(|e| Failure::engine(&e, None))?);
    }
    Ok(keys)
}

/// A private watermark key: raw bytes (at least 16 random bytes), or the
/// path of a file holding them.
#[derive(FromPyObject)]
pub(crate) enum WatermarkKeyArg {
    Bytes(Vec<u8>),
    Path(PathBuf),
}

/// The watermark key to use (the built-in public key when none is given).
pub(crate) fn watermark_key(arg: Option<&WatermarkKeyArg>) -> Result<WatermarkKey, Failure> {
    match arg {
        None => Ok(WatermarkKey::public()),
        Some(WatermarkKeyArg::Path(p)) => {
            keyfile::read_watermark_key(p).map_err(|e| Failure::engine(&e, None))
        }
        Some(WatermarkKeyArg::Bytes(b)) => {
            if b.starts_with(b"-----BEGIN") {
                return Err(Failure::new(
                    Some("wm_key".into()),
                    "is PEM text (a signing key or certificate): wm_key takes the private watermark key, random bytes (e.g. os.urandom(32))",
                ));
            }
            if b.len() < keyfile::MIN_WATERMARK_KEY_BYTES {
                return Err(Failure::new(
                    Some("wm_key".into()),
                    format!(
                        "too short ({} bytes; use at least {} random bytes)",
                        b.len(),
                        keyfile::MIN_WATERMARK_KEY_BYTES
                    ),
                ));
            }
            Ok(WatermarkKey::from_bytes(b))
        }
    }
}

/// The artist's signing key (PEM text or the path of a PEM file), and the
/// file it came from.
pub(crate) fn signing_key(key: &str) -> Result<(SigningKeyPair, Option<PathBuf>), Failure> {
    if is_pem(key) {
        if key.contains("-----BEGIN PUBLIC KEY-----") && !key.contains("PRIVATE KEY-----") {
            return Err(Failure::new(
                Some("key".into()),
                "is a public key: stamping needs the private key (the NAME.pem that keygen made, not NAME.pub.pem)",
            ));
        }
        let pair = SigningKeyPair::from_pem(key)
            .map_err(|e| Failure::new(Some("key".into()), e.to_string()))?;
        return Ok((pair, None));
    }
    let path = PathBuf::from(key);
    let pair = keyfile::read_signing_key(&path).map_err(|e| Failure::engine(&e, None))?;
    Ok((pair, Some(path)))
}

/// The X.509 chain that signs Content Credentials for `key`: `cert` (PEM
/// text or a path), else the `NAME.cert.pem` beside a key file, else the
/// key's self-issued chain.
pub(crate) fn certificate_chain(
    key: &SigningKeyPair,
    key_path: Option<&Path>,
    cert: Option<&str>,
) -> Result<earmark::credentials::CertificateChain, Failure> {
    use earmark::credentials::CertificateChain;
    match cert {
        Some(text) if is_pem(text) => {
            let chain = CertificateChain::from_pem(text).map_err(|e| {
                Failure::new(Some("cert".into()), format!("not a certificate chain: {e}"))
            })?;
            chain
                .check_certifies(&key.public_key())
                .map_err(|why| Failure::new(Some("cert".into()), why))?;
            Ok(chain)
        }
        // Given as a path, or beside a key file: the CLI's own lookup (the
        // key path only matters for finding NAME.cert.pem beside it).
        Some(path) => keyfile::credentials_chain(
            key_path.unwrap_or(Path::new("key")),
            key,
            Some(Path::new(path)),
        )
        .map_err(|e| Failure::engine(&e, None)),
        None => match key_path {
            Some(kp) => {
                keyfile::credentials_chain(kp, key, None).map_err(|e| Failure::engine(&e, None))
            }
            None => Ok(CertificateChain::self_issued_default(key)),
        },
    }
}

/// Makes a new Ed25519 signing key: `(private_pem, public_pem,
/// certificate_chain_pem, fingerprint)`, the texts `earmark keygen` writes
/// to `NAME.pem`, `NAME.pub.pem` and `NAME.cert.pem`.
#[pyfunction]
#[pyo3(signature = (name=None))]
pub(crate) fn keygen(name: Option<String>) -> (String, String, String, String) {
    use earmark::credentials::CertificateChain;
    let key = SigningKeyPair::generate();
    let public = key.public_key();
    let name = name.unwrap_or_else(|| CertificateChain::default_name(&public));
    let chain = CertificateChain::self_issued(&key, &name);
    (
        key.to_pem(),
        public.to_pem(),
        chain.to_pem(),
        public.fingerprint_hex(),
    )
}
