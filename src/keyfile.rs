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

/// Largest key file or bundle read, bytes.
const MAX_KEY_FILE_BYTES: u64 = 1 << 20;

/// Reads the public keys to trust: each path is a PEM file with one or more
/// public keys (a bundle), or a folder whose `.pem` files are read (files
/// with no public key in them, such as certificate chains, are skipped).
/// A private key is refused: trust is given with public keys, and a
/// private key has no business being handed around.
pub fn read_trusted(paths: &[impl AsRef<Path>]) -> Result<Vec<PublicKey>> {
    let mut keys = Vec::new();
    for p in paths {
        let p = p.as_ref();
        if p.is_dir() {
            let mut files: Vec<_> = std::fs::read_dir(p)
                .map_err(|e| Error::new(p, ErrorKind::Key(format!("cannot list folder: {e}"))))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.is_file() && f.extension().is_some_and(|x| x == "pem"))
                .collect();
            files.sort();
            let before = keys.len();
            for f in &files {
                let text = read_key_text(f)?;
                if has_public_key(&text) || has_private_key(&text) {
                    keys.extend(public_keys_in(f, &text)?);
                }
            }
            if keys.len() == before {
                return Err(Error::new(
                    p,
                    ErrorKind::Key("no public key (.pem) in this folder".into()),
                ));
            }
        } else {
            let text = read_key_text(p)?;
            keys.extend(public_keys_in(p, &text)?);
        }
    }
    Ok(keys)
}

/// The public keys to trust in PEM text held in memory (one key or a
/// bundle; `name` says where it came from, for errors). As with
/// [`read_trusted`], a private key is refused.
pub fn trusted_from_pem(name: &str, text: &str) -> Result<Vec<PublicKey>> {
    if !has_public_key(text) && !has_private_key(text) {
        return Err(Error::new(
            name,
            ErrorKind::Key(
                "no PEM public key in it (-----BEGIN PUBLIC KEY-----, as in NAME.pub.pem from `earmark keygen`)"
                    .into(),
            ),
        ));
    }
    public_keys_in(Path::new(name), text)
}

fn has_public_key(text: &str) -> bool {
    text.contains("-----BEGIN PUBLIC KEY-----")
}

fn has_private_key(text: &str) -> bool {
    text.contains("PRIVATE KEY-----")
}

/// The text of a key file (at most [`MAX_KEY_FILE_BYTES`]).
fn read_key_text(path: &Path) -> Result<String> {
    let bad = |why: String| Error::new(path, ErrorKind::Key(why));
    if std::fs::metadata(path).is_err() {
        // The key reader words an unreadable file the way it does for --key.
        return Err(provenance::read_public_key(path)
            .map(|_| bad("cannot read".into()))
            .unwrap_or_else(|e| Error::new(path, e)));
    }
    let bytes = crate::output::read_bounded(path, MAX_KEY_FILE_BYTES, "a key file")
        .map_err(|e| bad(e.to_string()))?;
    // Lossy: a binary (DER) file then has no PEM block and gets the key
    // reader's own message.
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Every public key in the PEM text of `path` (one or a bundle).
fn public_keys_in(path: &Path, text: &str) -> Result<Vec<PublicKey>> {
    if has_private_key(text) {
        return Err(Error::new(
            path,
            ErrorKind::Key(
                "holds a private key: --trust takes public keys (NAME.pub.pem from `earmark keygen`); keep private keys to yourself"
                    .into(),
            ),
        ));
    }
    const END: &str = "-----END PUBLIC KEY-----";
    let mut keys = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN PUBLIC KEY-----") {
        let block = &rest[start..];
        let Some(end) = block.find(END) else { break };
        let pem = &block[..end + END.len()];
        keys.push(PublicKey::from_pem(pem).map_err(|e| {
            Error::new(
                path,
                ErrorKind::Key(format!("public key {}: {e}", keys.len() + 1)),
            )
        })?);
        rest = &block[end + END.len()..];
    }
    if keys.is_empty() {
        // No public key block: the single-key reader says what the file is.
        return provenance::read_public_key(path)
            .map(|k| vec![k])
            .map_err(|e| Error::new(path, e));
    }
    Ok(keys)
}

/// Reads a private watermark key: any file of at least
/// [`MIN_WATERMARK_KEY_BYTES`] random bytes.
pub fn read_watermark_key(path: &Path) -> Result<WatermarkKey> {
    let bytes =
        crate::output::read_bounded(path, MAX_KEY_FILE_BYTES, "a watermark key").map_err(|e| {
            Error::new(
                path,
                ErrorKind::Key(format!("cannot read watermark key: {e}")),
            )
        })?;
    if bytes.starts_with(b"-----BEGIN") {
        return Err(Error::new(
            path,
            ErrorKind::Key(
                "is a PEM file (a signing key or certificate): --wm-key takes the private watermark key, a file of random bytes (e.g. head -c 32 /dev/urandom > wm.key)"
                    .into(),
            ),
        ));
    }
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
    let bytes =
        crate::output::read_bounded(path, MAX_CHAIN_PEM_BYTES as u64, "a certificate chain")
            .map_err(|e| bad(format!("cannot read certificate chain: {e}")))?;
    let text =
        String::from_utf8(bytes).map_err(|_| bad("not a certificate chain: not text".into()))?;
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
        return Ok(CertificateChain::self_issued_default(key));
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

/// Shortest bearer token accepted: anything shorter is guessable.
pub const MIN_TOKEN_LEN: usize = 16;

/// Reads a token file for `earmark serve`: one bearer token per line
/// (blank lines and `#` comments skipped), each at least
/// [`MIN_TOKEN_LEN`] visible ASCII characters. Errors name the file and
/// the line, never the token.
pub fn read_tokens(path: &Path) -> Result<Vec<String>> {
    let bytes = crate::output::read_bounded(path, 64 << 10, "a token file")
        .map_err(|e| Error::new(path, ErrorKind::Key(e.to_string())))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| Error::new(path, ErrorKind::Key("a token file must be text".into())))?;
    let mut tokens = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if t.len() < MIN_TOKEN_LEN || !t.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::new(
                path,
                ErrorKind::Key(format!(
                    "line {}: a token must be at least {MIN_TOKEN_LEN} visible ASCII characters without spaces (e.g. `openssl rand -hex 32`)",
                    i + 1
                )),
            ));
        }
        tokens.push(t.to_string());
    }
    if tokens.is_empty() {
        return Err(Error::new(
            path,
            ErrorKind::Key("no token in this file (one per line)".into()),
        ));
    }
    Ok(tokens)
}
