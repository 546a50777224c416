//! The X.509 certificate chain a C2PA signature carries: a self-issued one
//! for an artist's Ed25519 key, or one from a real CA read from PEM.
//!
//! The self-issued chain has two certificates, both Ed25519:
//!
//! * a local root (a CA certificate: basicConstraints CA, keyCertSign), whose
//!   key is derived from the artist's key ([`SigningKeyPair::derive`]), so the
//!   same key always gets the same root and the same chain;
//! * the signing certificate for the artist's own key, issued by that root,
//!   with what the C2PA certificate profile asks of a claim signer: v3, not
//!   a CA, keyUsage digitalSignature (critical), extendedKeyUsage
//!   `c2pa-kp-claimSigning` and `id-kp-emailProtection`, subject and
//!   authority key identifiers.
//!
//! Validators check the signature and the profile and report the issuer as
//! untrusted (it is on no trust list): "valid, untrusted". A label that
//! wants "trusted" has its own CA issue the signing certificate and passes
//! the chain with `--cert`.

use std::time::Duration;

use sha2::{Digest, Sha256};
use x509_cert::der::asn1::{
    Any, BitString, GeneralizedTime, ObjectIdentifier, OctetString, SetOfVec, UtcTime,
    Utf8StringRef,
};
use x509_cert::der::oid::db::{rfc4519, rfc5280};
use x509_cert::der::oid::AssociatedOid;
use x509_cert::der::pem::LineEnding;
use x509_cert::der::{Decode, Encode};
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages,
    SubjectKeyIdentifier,
};
use x509_cert::ext::Extension;
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::time::{Time, Validity};
use x509_cert::{Certificate, TbsCertificate, Version};

use crate::provenance::{PublicKey, SigningKeyPair};

/// The Ed25519 algorithm identifier (RFC 8410).
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
/// `c2pa-kp-claimSigning`, the C2PA claim-signing extended key usage.
const C2PA_CLAIM_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.62558.2.1");
/// What [`SigningKeyPair::derive`] is given to make the local root's key.
const ROOT_KEY_LABEL: &str = "earmark self-issued C2PA root v1";
/// Start of a self-issued chain's validity: 2025-01-01T00:00:00Z (fixed, so
/// the chain is the same whenever it is issued).
const NOT_BEFORE_UNIX: u64 = 1_735_689_600;
/// End of a self-issued chain's validity: 2075-01-01T00:00:00Z.
const NOT_AFTER_UNIX: u64 = 3_313_526_400;
/// Largest chain file read, bytes.
pub const MAX_CHAIN_PEM_BYTES: usize = 1 << 20;

/// An X.509 certificate chain, signing certificate first.
#[derive(Clone, PartialEq, Eq)]
pub struct CertificateChain {
    ders: Vec<Vec<u8>>,
}

impl std::fmt::Debug for CertificateChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateChain")
            .field("subject", &self.subject())
            .field("certificates", &self.ders.len())
            .finish()
    }
}

impl CertificateChain {
    /// The self-issued chain for `key`: a local root and a signing
    /// certificate whose subject common name is `name` (see the module
    /// documentation). Deterministic: the same key and name give the same
    /// bytes.
    pub fn self_issued(key: &SigningKeyPair, name: &str) -> CertificateChain {
        let root_key = key.derive(ROOT_KEY_LABEL);
        let root_public = root_key.public_key();
        let root_name = subject(name, &format!("{name} (earmark self-issued root)"));
        let root = issue(
            root_name.clone(),
            root_name.clone(),
            &root_public,
            &root_key,
            true,
        );
        let leaf = issue(
            subject(name, name),
            root_name,
            &key.public_key(),
            &root_key,
            false,
        );
        CertificateChain {
            ders: vec![leaf, root],
        }
    }

    /// The self-issued chain of `key` under [`default_name`](Self::default_name):
    /// what signs when no name or chain is given.
    pub fn self_issued_default(key: &SigningKeyPair) -> CertificateChain {
        CertificateChain::self_issued(key, &CertificateChain::default_name(&key.public_key()))
    }

    /// The default subject for a key with no name given: `earmark artist`
    /// and the key's short fingerprint.
    pub fn default_name(key: &PublicKey) -> String {
        format!("earmark artist {}", key.short_fingerprint())
    }

    /// Reads a chain from PEM text (`-----BEGIN CERTIFICATE-----` blocks,
    /// signing certificate first; other blocks are skipped).
    pub fn from_pem(text: &str) -> Result<CertificateChain, String> {
        let mut ders = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("-----BEGIN CERTIFICATE-----") {
            let block = &rest[start..];
            let end = block
                .find("-----END CERTIFICATE-----")
                .ok_or("a CERTIFICATE block has no END line")?
                + "-----END CERTIFICATE-----".len();
            // PEM to DER first, then DER: der 0.7's streaming PEM reader
            // (`Certificate::from_pem`) loops forever on some malformed
            // blocks (found by fuzzing the key readers).
            let n = ders.len() + 1;
            let (label, der) = x509_cert::der::pem::decode_vec(&block.as_bytes()[..end])
                .map_err(|e| format!("certificate {n} is not valid PEM: {e}"))?;
            if label != "CERTIFICATE" {
                return Err(format!("certificate {n} is a {label} block"));
            }
            let cert = Certificate::from_der(&der)
                .map_err(|e| format!("certificate {n} does not parse: {e}"))?;
            ders.push(cert.to_der().map_err(|e| e.to_string())?);
            rest = &block[end..];
        }
        if ders.is_empty() {
            return Err("no CERTIFICATE block found".into());
        }
        Ok(CertificateChain { ders })
    }

    /// The chain as PEM text, signing certificate first.
    pub fn to_pem(&self) -> String {
        self.ders
            .iter()
            .map(|der| {
                x509_cert::der::pem::encode_string("CERTIFICATE", LineEnding::LF, der)
                    .expect("PEM-encoding DER bytes cannot fail")
            })
            .collect()
    }

    /// The certificates, DER, signing certificate first.
    pub fn ders(&self) -> &[Vec<u8>] {
        &self.ders
    }

    /// The signing certificate's subject, as text (`CN=...`).
    pub fn subject(&self) -> String {
        self.leaf()
            .map(|c| c.tbs_certificate.subject.to_string())
            .unwrap_or_default()
    }

    /// The signing certificate's common name (else its whole subject): the
    /// signer validators show.
    pub fn common_name(&self) -> String {
        let Ok(leaf) = self.leaf() else {
            return String::new();
        };
        leaf.tbs_certificate
            .subject
            .0
            .iter()
            .flat_map(|rdn| rdn.0.iter())
            .filter(|atv| atv.oid == rfc4519::CN)
            .find_map(|atv| {
                Utf8StringRef::try_from(&atv.value)
                    .map(|s| s.as_str().to_string())
                    .ok()
            })
            .unwrap_or_else(|| self.subject())
    }

    /// Checks that the signing certificate certifies `key` (an Ed25519
    /// public key equal to it).
    pub fn check_certifies(&self, key: &PublicKey) -> Result<(), String> {
        let leaf = self.leaf().map_err(|e| e.to_string())?;
        let spki = &leaf.tbs_certificate.subject_public_key_info;
        if spki.algorithm.oid != ED25519 {
            return Err(format!(
                "the signing certificate's key is not Ed25519 (algorithm {}); earmark signs with the artist's Ed25519 key",
                spki.algorithm.oid
            ));
        }
        if spki.subject_public_key.raw_bytes() != key.to_bytes() {
            return Err(format!(
                "the signing certificate ({}) is for another key than the signing key ({})",
                self.subject(),
                key.short_fingerprint()
            ));
        }
        Ok(())
    }

    fn leaf(&self) -> x509_cert::der::Result<Certificate> {
        Certificate::from_der(&self.ders[0])
    }
}

/// A name with an organisation and a common name (C2PA validators show the
/// organisation as the issuer and need one).
fn subject(organisation: &str, common_name: &str) -> Name {
    let rdn = |oid, text: &str| {
        // Any Rust string is a valid UTF8String.
        let value = Any::from(Utf8StringRef::new(text).expect("UTF-8 text"));
        let atv = x509_cert::attr::AttributeTypeAndValue { oid, value };
        RelativeDistinguishedName(SetOfVec::try_from(vec![atv]).expect("one attribute"))
    };
    RdnSequence(vec![
        rdn(rfc4519::O, organisation),
        rdn(rfc4519::CN, common_name),
    ])
}

/// A key identifier: the first 20 bytes of SHA-256 of the public key (RFC
/// 7093 method 1).
fn key_id(key: &PublicKey) -> OctetString {
    OctetString::new(&Sha256::digest(key.to_bytes())[..20]).expect("20 bytes fit")
}

fn extension<T: Encode + AssociatedOid>(critical: bool, value: &T) -> Extension {
    Extension {
        extn_id: T::OID,
        critical,
        extn_value: OctetString::new(value.to_der().expect("extensions encode"))
            .expect("extension fits"),
    }
}

/// Issues one certificate for `key`, signed by `issuer_key`.
fn issue(
    subject: Name,
    issuer: Name,
    key: &PublicKey,
    issuer_key: &SigningKeyPair,
    ca: bool,
) -> Vec<u8> {
    let algorithm = AlgorithmIdentifierOwned {
        oid: ED25519,
        parameters: None,
    };
    let validity = Validity {
        not_before: Time::UtcTime(
            UtcTime::from_unix_duration(Duration::from_secs(NOT_BEFORE_UNIX))
                .expect("2025 is a UTCTime"),
        ),
        not_after: Time::GeneralTime(
            GeneralizedTime::from_unix_duration(Duration::from_secs(NOT_AFTER_UNIX))
                .expect("2075 is a GeneralizedTime"),
        ),
    };
    let mut extensions = vec![
        extension(
            true,
            &BasicConstraints {
                ca,
                path_len_constraint: ca.then_some(0),
            },
        ),
        extension(false, &SubjectKeyIdentifier(key_id(key))),
        extension(
            false,
            &AuthorityKeyIdentifier {
                key_identifier: Some(key_id(&issuer_key.public_key())),
                authority_cert_issuer: None,
                authority_cert_serial_number: None,
            },
        ),
    ];
    if ca {
        extensions.push(extension(
            true,
            &KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign),
        ));
    } else {
        extensions.push(extension(
            true,
            &KeyUsage(KeyUsages::DigitalSignature.into()),
        ));
        extensions.push(extension(
            false,
            &ExtendedKeyUsage(vec![C2PA_CLAIM_SIGNING, rfc5280::ID_KP_EMAIL_PROTECTION]),
        ));
    }
    // A positive 16-byte serial, unique per key and role.
    let mut serial = Sha256::digest([&key.to_bytes()[..], &[u8::from(ca)]].concat())[..16].to_vec();
    serial[0] &= 0x7f;
    serial[0] |= 0x01;
    let tbs = TbsCertificate {
        version: Version::V3,
        serial_number: SerialNumber::new(&serial).expect("16 bytes is a valid serial"),
        signature: algorithm.clone(),
        issuer,
        validity,
        subject,
        subject_public_key_info: SubjectPublicKeyInfoOwned {
            algorithm: algorithm.clone(),
            subject_public_key: BitString::from_bytes(&key.to_bytes()).expect("32 bytes"),
        },
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(extensions),
    };
    let signature = issuer_key.sign(&tbs.to_der().expect("the certificate body encodes"));
    Certificate {
        tbs_certificate: tbs,
        signature_algorithm: algorithm,
        signature: BitString::from_bytes(&signature).expect("64 bytes"),
    }
    .to_der()
    .expect("the certificate encodes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_issued_chain_is_deterministic_and_certifies_the_key() {
        let key = SigningKeyPair::from_bytes(&[7; 32]);
        let a = CertificateChain::self_issued(&key, "Test Artist");
        let b = CertificateChain::self_issued(&key, "Test Artist");
        assert_eq!(a, b);
        assert_eq!(a.ders().len(), 2);
        assert_eq!(a.subject(), "CN=Test Artist,O=Test Artist");
        assert_eq!(a.common_name(), "Test Artist");
        a.check_certifies(&key.public_key())
            .expect("certifies its key");
        let other = SigningKeyPair::from_bytes(&[8; 32]);
        let err = a.check_certifies(&other.public_key()).unwrap_err();
        assert!(err.contains("another key"), "{err}");
    }

    #[test]
    fn pem_round_trips_and_rejects_junk() {
        let key = SigningKeyPair::from_bytes(&[7; 32]);
        let chain = CertificateChain::self_issued(&key, "A, B \"C\"");
        let back = CertificateChain::from_pem(&chain.to_pem()).expect("parses");
        assert_eq!(back, chain);
        assert!(CertificateChain::from_pem("not a certificate").is_err());
        let broken = chain.to_pem().replacen("MII", "MIX", 1);
        assert!(CertificateChain::from_pem(&broken).is_err());
    }

    /// A malformed chain (found by fuzzing the key readers) on which der's
    /// streaming PEM reader looped forever: now a prompt error.
    #[test]
    fn a_pem_block_that_hung_the_reader_is_refused_promptly() {
        let text = include_str!("testdata/pem-loop.pem");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(CertificateChain::from_pem(text).is_err());
        });
        let refused = rx
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("from_pem did not return within 20 s");
        assert!(refused);
    }

    #[test]
    fn the_signing_certificate_has_the_c2pa_profile() {
        let key = SigningKeyPair::from_bytes(&[7; 32]);
        let chain = CertificateChain::self_issued(&key, "Test Artist");
        let leaf = Certificate::from_der(&chain.ders()[0]).expect("parses");
        let root = Certificate::from_der(&chain.ders()[1]).expect("parses");
        assert_eq!(leaf.tbs_certificate.version, Version::V3);
        assert_eq!(leaf.tbs_certificate.issuer, root.tbs_certificate.subject);
        let ids: Vec<_> = leaf
            .tbs_certificate
            .extensions
            .as_ref()
            .expect("extensions")
            .iter()
            .map(|e| e.extn_id)
            .collect();
        for oid in [
            BasicConstraints::OID,
            KeyUsage::OID,
            ExtendedKeyUsage::OID,
            SubjectKeyIdentifier::OID,
            AuthorityKeyIdentifier::OID,
        ] {
            assert!(ids.contains(&oid), "missing {oid}");
        }
        // The root signed the leaf.
        let root_key = key.derive(ROOT_KEY_LABEL).public_key();
        let tbs = leaf.tbs_certificate.to_der().expect("encodes");
        assert!(root_key.verify(&tbs, leaf.signature.raw_bytes()));
    }
}
