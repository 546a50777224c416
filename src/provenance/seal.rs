//! The seal: an Ed25519 signature over the watermark payload and the policy
//! kind, short enough (64 bytes plus a one-byte policy code) to be carried by
//! the audio itself (see `mark::seal`), so a copy stripped of every tag can
//! still prove who stamped it.
//!
//! The signed bytes are [`SEAL_DOMAIN`], the 8 payload bytes and the policy
//! code. The payload names the signer's key fingerprint, so given a set of
//! public keys the checker knows which one must have signed.

use super::keys::{PublicKey, SigningKeyPair};
use crate::payload::Payload;

/// Domain separation prefix of the signed bytes (never valid as a manifest).
pub const SEAL_DOMAIN: &[u8] = b"earmark/seal/v1\0";

fn signed_bytes(payload: Payload, policy_code: u8) -> Vec<u8> {
    let mut m = SEAL_DOMAIN.to_vec();
    m.extend_from_slice(&payload.to_bytes());
    m.push(policy_code);
    m
}

/// Signs the seal for `payload` and `policy_code` (deterministic: Ed25519).
pub fn sign_seal(key: &SigningKeyPair, payload: Payload, policy_code: u8) -> [u8; 64] {
    key.sign(&signed_bytes(payload, policy_code))
}

/// What checking a seal against a set of public keys showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealVerdict {
    /// The key the payload names signed exactly this payload and policy.
    Valid(PublicKey),
    /// A key with the payload's fingerprint is known, and the signature does
    /// not verify with it: forged or altered.
    Invalid(PublicKey),
    /// No key with the payload's fingerprint was given, so the signature
    /// cannot be checked.
    UnknownSigner,
}

/// Checks `signature` over `payload` and `policy_code` with whichever of
/// `keys` has the payload's key fingerprint.
pub fn check_seal(
    keys: &[PublicKey],
    payload: Payload,
    policy_code: u8,
    signature: &[u8; 64],
) -> SealVerdict {
    let message = signed_bytes(payload, policy_code);
    let mut named = keys
        .iter()
        .filter(|k| k.fingerprint32() == payload.key_fingerprint);
    let Some(first) = named.next() else {
        return SealVerdict::UnknownSigner;
    };
    // Two keys may share a 32-bit fingerprint; any of them verifying counts.
    for key in std::iter::once(first).chain(named) {
        if key.verify(&message, signature) {
            return SealVerdict::Valid(*key);
        }
    }
    SealVerdict::Invalid(*first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{policy_code, PolicyKind};

    #[test]
    fn seal_verifies_only_for_its_payload_policy_and_key() {
        let key = SigningKeyPair::generate();
        let other = SigningKeyPair::generate();
        let payload = Payload::new(key.public_key().fingerprint32(), 7);
        let code = policy_code(Some(PolicyKind::NoAiTraining));
        let sig = sign_seal(&key, payload, code);
        let keys = [other.public_key(), key.public_key()];
        assert_eq!(
            check_seal(&keys, payload, code, &sig),
            SealVerdict::Valid(key.public_key())
        );
        // Another track id, another policy or a flipped bit: invalid.
        let moved = Payload::new(payload.key_fingerprint, 8);
        assert!(matches!(
            check_seal(&keys, moved, code, &sig),
            SealVerdict::Invalid(_)
        ));
        assert!(matches!(
            check_seal(&keys, payload, policy_code(Some(PolicyKind::Allow)), &sig),
            SealVerdict::Invalid(_)
        ));
        let mut bad = sig;
        bad[10] ^= 1;
        assert!(matches!(
            check_seal(&keys, payload, code, &bad),
            SealVerdict::Invalid(_)
        ));
        // Without the signer's key: cannot tell.
        assert_eq!(
            check_seal(&[other.public_key()], payload, code, &sig),
            SealVerdict::UnknownSigner
        );
    }
}
