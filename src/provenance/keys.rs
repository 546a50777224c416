//! Ed25519 keys: generation, PEM files OpenSSL can read and write, and fingerprints.
//!
//! # File formats
//!
//! - Private keys are PKCS#8 v1 (RFC 8410) in a `-----BEGIN PRIVATE KEY-----` PEM block, the
//!   form `openssl genpkey -algorithm ed25519` writes. PKCS#8 v2 (with the public key embedded,
//!   as `ed25519-dalek`'s `to_pkcs8_pem` writes) is read but never written, because OpenSSL 3.0
//!   rejects it.
//! - Public keys are SubjectPublicKeyInfo in a `-----BEGIN PUBLIC KEY-----` PEM block, the form
//!   `openssl pkey -pubout` writes. [`read_public_key`] also accepts a private key file and
//!   derives the public key from it.
//!
//! Encrypted private keys, OpenSSH keys and keys of other algorithms are rejected with an
//! error that says so.
//!
//! # Fingerprints
//!
//! All fingerprints hash the 32 raw bytes of the public key (its RFC 8032 encoding), not a
//! PEM or DER wrapper:
//!
//! - [`PublicKey::fingerprint32`]: the first 4 bytes of SHA-256, big-endian. The watermark
//!   carries this value.
//! - [`PublicKey::fingerprint_hex`]: the whole SHA-256 as 64 lowercase hex digits.
//! - [`PublicKey::short_fingerprint`]: `"ed25519:"` followed by the first 16 of those digits.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::spki::SubjectPublicKeyInfoRef;
use ed25519_dalek::pkcs8::{
    EncodePrivateKey, EncodePublicKey, KeypairBytes, PrivateKeyInfo, PublicKeyBytes,
    SecretDocument, ALGORITHM_OID,
};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::hex;

/// An Ed25519 private key, with its public key.
///
/// `Debug` shows only the public key's short fingerprint, never the secret.
#[derive(Clone)]
pub struct SigningKeyPair(SigningKey);

/// An Ed25519 public key.
///
/// Two keys are equal when their 32-byte encodings are equal. `Display` shows
/// [`PublicKey::short_fingerprint`].
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(VerifyingKey);

impl SigningKeyPair {
    /// Generates a new key from the operating system's random number generator.
    ///
    /// # Panics
    ///
    /// Panics if the operating system cannot provide randomness (as `getrandom` does).
    pub fn generate() -> SigningKeyPair {
        SigningKeyPair(SigningKey::generate(&mut rand_core::OsRng))
    }

    /// Builds the key from its 32-byte secret (the RFC 8032 private key, or "seed").
    ///
    /// Meant for deterministic tests and for keys held elsewhere; use
    /// [`SigningKeyPair::generate`] to make a new key.
    pub fn from_bytes(secret: &[u8; 32]) -> SigningKeyPair {
        SigningKeyPair(SigningKey::from_bytes(secret))
    }

    /// The public half of this key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// Signs `message` with pure Ed25519 (RFC 8032, no pre-hashing, no context).
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }

    /// A second key derived from this one and `label` (the first 32 bytes of
    /// SHA-512 over the label and the secret): the same pair always gives
    /// the same key, and it reveals nothing about this one. The self-issued
    /// certificate authority of an artist's key is made this way, so its
    /// certificate chain is the same every time it is issued.
    pub fn derive(&self, label: &str) -> SigningKeyPair {
        let mut h = sha2::Sha512::new();
        h.update(label.as_bytes());
        h.update([0u8]);
        h.update(self.0.to_bytes());
        let digest = h.finalize();
        let mut secret = [0u8; 32];
        secret.copy_from_slice(&digest[..32]);
        SigningKeyPair::from_bytes(&secret)
    }

    /// Parses a private key from PEM text: PKCS#8 v1 or v2, Ed25519 only.
    ///
    /// The first block labelled as a private key is used; other blocks are skipped.
    pub fn from_pem(text: &str) -> Result<SigningKeyPair, KeyError> {
        decode_private_pem(text)
            .map(SigningKeyPair)
            .map_err(KeyError::from)
    }

    /// Encodes the key as PKCS#8 v1 PEM (`-----BEGIN PRIVATE KEY-----`, LF line endings), the
    /// exact bytes `openssl pkey` writes for the same key.
    ///
    /// The returned string holds the secret key: don't log it.
    pub fn to_pem(&self) -> String {
        self.to_pem_inner().to_string()
    }

    fn to_pem_inner(&self) -> ed25519_dalek::pkcs8::spki::der::zeroize::Zeroizing<String> {
        // v1 on purpose: OpenSSL 3.0 rejects the v2 form (with the public key embedded).
        let bytes = KeypairBytes {
            secret_key: self.0.to_bytes(),
            public_key: None,
        };
        bytes
            .to_pkcs8_pem(LineEnding::LF)
            .expect("encoding a 32-byte Ed25519 key as PKCS#8 cannot fail")
    }
}

impl fmt::Debug for SigningKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeyPair")
            .field("public_key", &self.public_key())
            .finish_non_exhaustive()
    }
}

impl PublicKey {
    /// Builds a key from its 32-byte RFC 8032 encoding.
    ///
    /// Fails if the bytes are not the encoding of a point on the curve.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<PublicKey, KeyError> {
        VerifyingKey::from_bytes(bytes)
            .map(PublicKey)
            .map_err(|_| KeyErrorKind::Malformed("not a valid Ed25519 public key".into()).into())
    }

    /// The 32-byte RFC 8032 encoding of the key.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// Checks an Ed25519 signature over `message` with strict verification
    /// (`verify_strict`: rejects non-canonical signatures and small-order keys).
    ///
    /// Returns `false` for a signature of the wrong length.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match Signature::from_slice(signature) {
            Ok(sig) => self.0.verify_strict(message, &sig).is_ok(),
            Err(_) => false,
        }
    }

    /// SHA-256 of the 32 raw public key bytes.
    fn sha256(&self) -> [u8; 32] {
        Sha256::digest(self.0.as_bytes()).into()
    }

    /// The 32-bit fingerprint the watermark carries.
    ///
    /// Formula (a public contract): the first 4 bytes of SHA-256 over the 32 raw public key
    /// bytes, read as a big-endian `u32`.
    pub fn fingerprint32(&self) -> u32 {
        let h = self.sha256();
        u32::from_be_bytes([h[0], h[1], h[2], h[3]])
    }

    /// The full fingerprint: SHA-256 over the 32 raw public key bytes, as 64 lowercase hex
    /// digits.
    pub fn fingerprint_hex(&self) -> String {
        hex::encode(&self.sha256())
    }

    /// The fingerprint for display: `"ed25519:"` followed by the first 16 hex digits of
    /// [`PublicKey::fingerprint_hex`] (so the first 8 digits spell
    /// [`PublicKey::fingerprint32`]).
    pub fn short_fingerprint(&self) -> String {
        let mut hex = self.fingerprint_hex();
        hex.truncate(16);
        format!("ed25519:{hex}")
    }

    /// Parses a public key from PEM text.
    ///
    /// Accepts a SubjectPublicKeyInfo block (`-----BEGIN PUBLIC KEY-----`) or a PKCS#8 private
    /// key block, from which the public key is derived. The first such block is used.
    pub fn from_pem(text: &str) -> Result<PublicKey, KeyError> {
        decode_public_pem(text)
            .map(PublicKey)
            .map_err(KeyError::from)
    }

    /// Encodes the key as SubjectPublicKeyInfo PEM (`-----BEGIN PUBLIC KEY-----`, LF line
    /// endings), the exact bytes `openssl pkey -pubout` writes.
    pub fn to_pem(&self) -> String {
        PublicKeyBytes(self.to_bytes())
            .to_public_key_pem(LineEnding::LF)
            .expect("encoding a 32-byte Ed25519 key as SubjectPublicKeyInfo cannot fail")
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.short_fingerprint())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.short_fingerprint())
    }
}

/// A key error, with the path of the file involved when there is one.
///
/// Displays as one lowercase line, `path: cause` (or just `cause` for in-memory input), e.g.
/// `artist.pem: unsupported key algorithm (expected Ed25519)`.
#[derive(Debug)]
pub struct KeyError {
    path: Option<PathBuf>,
    kind: KeyErrorKind,
}

impl KeyError {
    fn at(path: &Path, kind: KeyErrorKind) -> KeyError {
        KeyError {
            path: Some(path.to_path_buf()),
            kind,
        }
    }

    fn with_path(mut self, path: &Path) -> KeyError {
        self.path = Some(path.to_path_buf());
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> &KeyErrorKind {
        &self.kind
    }

    /// The file involved, if the key came from or was going to a file.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }
}

impl From<KeyErrorKind> for KeyError {
    fn from(kind: KeyErrorKind) -> KeyError {
        KeyError { path: None, kind }
    }
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(path) => write!(f, "{}: {}", path.display(), self.kind),
            None => write!(f, "{}", self.kind),
        }
    }
}

/// The message already includes the cause, so `source()` is `None`; the underlying
/// `io::Error`, if any, is in [`KeyErrorKind::Io`].
impl std::error::Error for KeyError {}

/// The cause of a [`KeyError`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyErrorKind {
    /// Reading or writing the file failed.
    #[error("{}", io_cause(.0))]
    Io(io::Error),
    /// The file exists and overwriting was not asked for.
    #[error("file exists (use --force to overwrite)")]
    Exists,
    /// No PEM block of the expected kind; `found` is the label of the first block seen, if
    /// any.
    #[error("not a PEM {expected} ({})", found_label(.found))]
    NotPem {
        /// `"private key"` or `"public key"`.
        expected: &'static str,
        /// The label of the first PEM block in the input, e.g. `"CERTIFICATE"`.
        found: Option<String>,
    },
    /// The private key is encrypted (`-----BEGIN ENCRYPTED PRIVATE KEY-----`).
    #[error("encrypted private keys are not supported (decrypt it with `openssl pkey`)")]
    Encrypted,
    /// The key is well-formed but not an Ed25519 key.
    #[error("unsupported key algorithm (expected Ed25519)")]
    UnsupportedAlgorithm,
    /// The PEM or DER structure is damaged.
    #[error("malformed key: {0}")]
    Malformed(String),
}

fn found_label(found: &Option<String>) -> String {
    match found {
        Some(label) => format!("found \"BEGIN {label}\""),
        None => "no PEM block found".to_string(),
    }
}

/// `io::Error`'s own text starts with a capital; keep messages lowercase.
fn io_cause(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "no such file".to_string(),
        io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => {
            let text = e.to_string();
            let mut chars = text.chars();
            match chars.next() {
                Some(first) => first.to_lowercase().chain(chars).collect(),
                None => text,
            }
        }
    }
}

/// Splits PEM text into `(label, block)` pairs, where `block` runs from `-----BEGIN` to the
/// end of the matching `-----END label-----` line. Text between blocks is ignored.
fn pem_blocks(text: &str) -> Vec<(&str, &str)> {
    const BEGIN: &str = "-----BEGIN ";
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let from_begin = &rest[start..];
        let after = &from_begin[BEGIN.len()..];
        let Some(label_len) = after.find("-----") else {
            break;
        };
        let label = &after[..label_len];
        let end_marker = format!("-----END {label}-----");
        let block_len = match from_begin.find(&end_marker) {
            Some(i) => i + end_marker.len(),
            None => from_begin.len(),
        };
        blocks.push((label, &from_begin[..block_len]));
        rest = &from_begin[block_len..];
    }
    blocks
}

fn is_private_label(label: &str) -> bool {
    label.ends_with("PRIVATE KEY")
}

fn decode_private_pem(text: &str) -> Result<SigningKey, KeyErrorKind> {
    let blocks = pem_blocks(text);
    match blocks.iter().find(|(label, _)| is_private_label(label)) {
        Some((label, block)) => decode_private_block(label, block),
        None => Err(KeyErrorKind::NotPem {
            expected: "private key",
            found: blocks.first().map(|(label, _)| label.to_string()),
        }),
    }
}

fn decode_private_block(label: &str, block: &str) -> Result<SigningKey, KeyErrorKind> {
    match label {
        "PRIVATE KEY" => {}
        "ENCRYPTED PRIVATE KEY" => return Err(KeyErrorKind::Encrypted),
        "RSA PRIVATE KEY" | "EC PRIVATE KEY" | "DSA PRIVATE KEY" => {
            return Err(KeyErrorKind::UnsupportedAlgorithm)
        }
        other => {
            return Err(KeyErrorKind::NotPem {
                expected: "private key",
                found: Some(other.to_string()),
            })
        }
    }
    // SecretDocument zeroes the DER bytes when dropped.
    let (_, der) = SecretDocument::from_pem(block)
        .map_err(|e| KeyErrorKind::Malformed(format!("bad PEM encoding: {e}")))?;
    let info = PrivateKeyInfo::try_from(der.as_bytes())
        .map_err(|e| KeyErrorKind::Malformed(format!("bad PKCS#8 structure: {e}")))?;
    if info.algorithm.oid != ALGORITHM_OID {
        return Err(KeyErrorKind::UnsupportedAlgorithm);
    }
    let bytes = KeypairBytes::try_from(info)
        .map_err(|e| KeyErrorKind::Malformed(format!("bad Ed25519 private key: {e}")))?;
    // For PKCS#8 v2 this also checks the embedded public key against the private key.
    SigningKey::try_from(&bytes).map_err(|_| {
        KeyErrorKind::Malformed("embedded public key does not match the private key".into())
    })
}

fn decode_public_pem(text: &str) -> Result<VerifyingKey, KeyErrorKind> {
    let blocks = pem_blocks(text);
    let wanted = blocks
        .iter()
        .find(|(label, _)| label.ends_with("PUBLIC KEY") || is_private_label(label));
    let Some(&(label, block)) = wanted else {
        return Err(KeyErrorKind::NotPem {
            expected: "public key",
            found: blocks.first().map(|(label, _)| label.to_string()),
        });
    };
    if is_private_label(label) {
        return decode_private_block(label, block).map(|key| key.verifying_key());
    }
    if label != "PUBLIC KEY" {
        return Err(KeyErrorKind::UnsupportedAlgorithm);
    }
    let (_, der) = ed25519_dalek::pkcs8::Document::from_pem(block)
        .map_err(|e| KeyErrorKind::Malformed(format!("bad PEM encoding: {e}")))?;
    let info = SubjectPublicKeyInfoRef::try_from(der.as_bytes())
        .map_err(|e| KeyErrorKind::Malformed(format!("bad SubjectPublicKeyInfo: {e}")))?;
    if info.algorithm.oid != ALGORITHM_OID {
        return Err(KeyErrorKind::UnsupportedAlgorithm);
    }
    let bytes = PublicKeyBytes::try_from(info)
        .map_err(|e| KeyErrorKind::Malformed(format!("bad Ed25519 public key: {e}")))?;
    VerifyingKey::from_bytes(&bytes.to_bytes())
        .map_err(|_| KeyErrorKind::Malformed("not a valid Ed25519 public key".into()))
}

/// Reads an Ed25519 private key from a PEM file (see [`SigningKeyPair::from_pem`]).
pub fn read_signing_key(path: impl AsRef<Path>) -> Result<SigningKeyPair, KeyError> {
    let path = path.as_ref();
    let text = read_text(path)?;
    SigningKeyPair::from_pem(&text).map_err(|e| e.with_path(path))
}

/// Reads an Ed25519 public key from a PEM file holding either a public key or a private key
/// (see [`PublicKey::from_pem`]), so users can pass either file to `--trust`.
pub fn read_public_key(path: impl AsRef<Path>) -> Result<PublicKey, KeyError> {
    let path = path.as_ref();
    let text = read_text(path)?;
    PublicKey::from_pem(&text).map_err(|e| e.with_path(path))
}

/// Largest key file read, bytes (a PEM key is under 200 bytes; bundles of
/// public keys stay far below this).
const MAX_KEY_FILE_BYTES: u64 = 1 << 20;

fn read_text(path: &Path) -> Result<String, KeyError> {
    // Regular files only, and bounded: a FIFO or /dev/zero given as a key
    // fails at once instead of blocking or filling memory.
    let bytes = crate::output::read_bounded(path, MAX_KEY_FILE_BYTES, "a key file")
        .map_err(|e| KeyError::at(path, KeyErrorKind::Io(e)))?;
    // Lossy: a binary (e.g. DER) file then simply has no PEM block in it.
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Writes `key` as a PKCS#8 PEM file (see [`SigningKeyPair::to_pem`]) readable only by its
/// owner (mode 0600 on Unix).
///
/// Without `force`, fails with [`KeyErrorKind::Exists`] if `path` exists; the check and the
/// creation are one step (`O_EXCL`), so there is no race. With `force`, the key is written to
/// a new temporary file in the same directory, then renamed over `path`, so `path` always
/// holds either the old key or the whole new one, and always with mode 0600.
pub fn write_private_key_pem(
    path: impl AsRef<Path>,
    key: &SigningKeyPair,
    force: bool,
) -> Result<(), KeyError> {
    write_new_file(path.as_ref(), key.to_pem_inner().as_bytes(), 0o600, force)
}

/// Writes `key` as a SubjectPublicKeyInfo PEM file (see [`PublicKey::to_pem`]) with mode 0644
/// on Unix. Overwriting works as for [`write_private_key_pem`].
pub fn write_public_key_pem(
    path: impl AsRef<Path>,
    key: &PublicKey,
    force: bool,
) -> Result<(), KeyError> {
    write_new_file(path.as_ref(), key.to_pem().as_bytes(), 0o644, force)
}

/// The default public key path for a private key path: a trailing `.pem` is replaced by
/// `.pub.pem`, anything else gets `.pub.pem` appended (`artist.pem` -> `artist.pub.pem`,
/// `artist.key` -> `artist.key.pub.pem`).
pub fn public_key_path_for(private: &Path) -> PathBuf {
    if private.extension().is_some_and(|ext| ext == "pem") {
        private.with_extension("pub.pem")
    } else {
        let mut name = private.as_os_str().to_os_string();
        name.push(".pub.pem");
        PathBuf::from(name)
    }
}

fn write_new_file(path: &Path, contents: &[u8], mode: u32, force: bool) -> Result<(), KeyError> {
    let io_err = |e: io::Error| {
        let kind = if e.kind() == io::ErrorKind::AlreadyExists {
            KeyErrorKind::Exists
        } else {
            KeyErrorKind::Io(e)
        };
        KeyError::at(path, kind)
    };
    if !force {
        let file = create_new(path, mode).map_err(io_err)?;
        return write_and_sync(file, contents).map_err(|e| {
            let _ = fs::remove_file(path);
            io_err(e)
        });
    }
    let (tmp_path, file) = create_temp_beside(path, mode).map_err(io_err)?;
    write_and_sync(file, contents)
        .and_then(|()| fs::rename(&tmp_path, path))
        .map_err(|e| {
            let _ = fs::remove_file(&tmp_path);
            io_err(e)
        })
}

fn create_new(path: &Path, mode: u32) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    options.open(path)
}

/// Creates a fresh file named `.<name>.tmp<pid>-<n>` next to `path`.
fn create_temp_beside(path: &Path, mode: u32) -> io::Result<(PathBuf, File)> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file path"))?;
    for n in 0..100u32 {
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".tmp{}-{n}", std::process::id()));
        let tmp_path = dir.join(tmp_name);
        match create_new(&tmp_path, mode) {
            Ok(file) => return Ok((tmp_path, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other("could not create a temporary file"))
}

fn write_and_sync(mut file: File, contents: &[u8]) -> io::Result<()> {
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: [u8; 32] = [7; 32];

    #[test]
    fn pem_round_trips() {
        let key = SigningKeyPair::from_bytes(&SEED);
        let pem = key.to_pem();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        assert!(pem.ends_with("-----END PRIVATE KEY-----\n"));
        let back = SigningKeyPair::from_pem(&pem).expect("reads own private key");
        assert_eq!(back.public_key(), key.public_key());

        let public = key.public_key();
        let pem = public.to_pem();
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        assert_eq!(
            PublicKey::from_pem(&pem).expect("reads own public key"),
            public
        );
        // A private key file works where a public key is expected.
        assert_eq!(
            PublicKey::from_pem(&key.to_pem()).expect("derives public key"),
            public
        );
    }

    #[test]
    fn writes_pkcs8_v1_without_public_key() {
        // 48 bytes of DER (v1) encode to exactly 64 base64 characters, one line.
        let pem = SigningKeyPair::from_bytes(&SEED).to_pem();
        let body: Vec<&str> = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        assert_eq!(body.len(), 1);
        assert_eq!(body[0].len(), 64);
        assert!(
            body[0].starts_with("MC4CAQAw"),
            "version 0 (v1): {}",
            body[0]
        );
    }

    #[test]
    fn reads_pkcs8_v2_from_dalek() {
        use ed25519_dalek::pkcs8::EncodePrivateKey;
        let dalek = SigningKey::from_bytes(&SEED);
        let v2 = dalek.to_pkcs8_pem(LineEnding::LF).expect("dalek encodes");
        let key = SigningKeyPair::from_pem(&v2).expect("reads PKCS#8 v2");
        assert_eq!(
            key.public_key().to_bytes(),
            dalek.verifying_key().to_bytes()
        );
    }

    #[test]
    fn rejects_v2_with_mismatched_public_key() {
        use ed25519_dalek::pkcs8::EncodePrivateKey;
        let other = SigningKey::from_bytes(&[9; 32]).verifying_key().to_bytes();
        let bytes = KeypairBytes {
            secret_key: SEED,
            public_key: Some(PublicKeyBytes(other)),
        };
        let pem = bytes.to_pkcs8_pem(LineEnding::LF).expect("encodes");
        let err = SigningKeyPair::from_pem(&pem).expect_err("mismatch");
        assert!(matches!(err.kind(), KeyErrorKind::Malformed(_)), "{err}");
    }

    #[test]
    fn skips_text_and_other_blocks() {
        let key = SigningKeyPair::from_bytes(&SEED);
        let text = format!(
            "some notes\n{}\n{}",
            key.public_key().to_pem(),
            key.to_pem()
        );
        assert_eq!(
            SigningKeyPair::from_pem(&text)
                .expect("finds private key")
                .public_key(),
            key.public_key()
        );
        assert_eq!(
            PublicKey::from_pem(&text).expect("finds public key"),
            key.public_key()
        );
        let crlf = key.to_pem().replace('\n', "\r\n");
        assert!(SigningKeyPair::from_pem(&crlf).is_ok());
    }

    #[test]
    fn error_messages() {
        let cert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        let err = SigningKeyPair::from_pem(cert).expect_err("certificate");
        assert_eq!(
            err.to_string(),
            "not a PEM private key (found \"BEGIN CERTIFICATE\")"
        );
        let err = PublicKey::from_pem(cert).expect_err("certificate");
        assert_eq!(
            err.to_string(),
            "not a PEM public key (found \"BEGIN CERTIFICATE\")"
        );
        let err = SigningKeyPair::from_pem("hello").expect_err("not PEM");
        assert_eq!(
            err.to_string(),
            "not a PEM private key (no PEM block found)"
        );

        // openssl genpkey -algorithm x25519: right format, wrong algorithm.
        let x25519 = "-----BEGIN PRIVATE KEY-----\n\
                      MC4CAQAwBQYDK2VuBCIEINjWHtNaYgLsFVk0isZ13DvTDdRhTTt7urxREh1JoD5k\n\
                      -----END PRIVATE KEY-----\n";
        let err = SigningKeyPair::from_pem(x25519).expect_err("x25519");
        assert_eq!(
            err.to_string(),
            "unsupported key algorithm (expected Ed25519)"
        );
        let err = PublicKey::from_pem(x25519).expect_err("x25519");
        assert!(matches!(err.kind(), KeyErrorKind::UnsupportedAlgorithm));

        let rsa = "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n";
        let err = SigningKeyPair::from_pem(rsa).expect_err("rsa");
        assert!(matches!(err.kind(), KeyErrorKind::UnsupportedAlgorithm));

        let enc =
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n";
        let err = SigningKeyPair::from_pem(enc).expect_err("encrypted");
        assert!(matches!(err.kind(), KeyErrorKind::Encrypted));

        let damaged = "-----BEGIN PRIVATE KEY-----\nMC4C!!!\n-----END PRIVATE KEY-----\n";
        let err = SigningKeyPair::from_pem(damaged).expect_err("damaged");
        assert!(err.to_string().starts_with("malformed key: "), "{err}");
    }

    #[test]
    fn file_errors_name_the_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("artist.pem");
        let err = read_signing_key(&missing).expect_err("missing");
        assert_eq!(
            err.to_string(),
            format!("{}: no such file", missing.display())
        );
        assert_eq!(err.path(), Some(missing.as_path()));

        let key = SigningKeyPair::from_bytes(&SEED);
        write_private_key_pem(&missing, &key, false).expect("writes");
        let err = write_private_key_pem(&missing, &key, false).expect_err("exists");
        assert_eq!(
            err.to_string(),
            format!(
                "{}: file exists (use --force to overwrite)",
                missing.display()
            )
        );
    }

    #[test]
    fn fingerprints() {
        let public = SigningKeyPair::from_bytes(&SEED).public_key();
        let full = public.fingerprint_hex();
        assert_eq!(full.len(), 64);
        let digest = Sha256::digest(public.to_bytes());
        assert_eq!(full, hex::encode(&digest));
        assert_eq!(format!("{:08x}", public.fingerprint32()), full[..8]);
        assert_eq!(
            public.short_fingerprint(),
            format!("ed25519:{}", &full[..16])
        );
        assert_eq!(public.to_string(), public.short_fingerprint());
        let debug = format!("{:?}", SigningKeyPair::from_bytes(&SEED));
        assert!(
            debug.contains(&full[..16]) && !debug.contains("secret"),
            "{debug}"
        );
    }

    #[test]
    fn signatures() {
        let key = SigningKeyPair::from_bytes(&SEED);
        let sig = key.sign(b"hello");
        assert!(key.public_key().verify(b"hello", &sig));
        assert!(!key.public_key().verify(b"hellp", &sig));
        assert!(!key.public_key().verify(b"hello", &sig[..63]));
        let other = SigningKeyPair::from_bytes(&[8; 32]).public_key();
        assert!(!other.verify(b"hello", &sig));
    }

    #[test]
    fn public_key_paths() {
        assert_eq!(
            public_key_path_for(Path::new("artist.pem")),
            Path::new("artist.pub.pem")
        );
        assert_eq!(
            public_key_path_for(Path::new("keys/artist.pem")),
            Path::new("keys/artist.pub.pem")
        );
        assert_eq!(
            public_key_path_for(Path::new("artist")),
            Path::new("artist.pub.pem")
        );
        assert_eq!(
            public_key_path_for(Path::new("artist.key")),
            Path::new("artist.key.pub.pem")
        );
    }
}
