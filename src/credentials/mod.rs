//! C2PA Content Credentials: the provenance format platforms, browsers and
//! dataset tools read.
//!
//! `stamp` and `tag` add a C2PA manifest store to every output (beside, not
//! instead of, earmark's own manifest, the XMP and the seal), signed with
//! the artist's Ed25519 key and an X.509 chain ([`CertificateChain`]). It
//! holds:
//!
//! * the hard binding the SDK computes over the finished file (a data hash;
//!   for MP4 the BMFF hash), so every other tag is written first;
//! * `c2pa.actions.v2`: `c2pa.opened` (the input, as the parent ingredient,
//!   with its own credentials if it had any), then `c2pa.transcoded` and
//!   `c2pa.watermarked` for `stamp`, or `c2pa.edited.metadata` for `tag`;
//! * `c2pa.soft-binding` with algorithm [`SOFT_BINDING_ALG`] (`io.earmark.v1`):
//!   one block whose value is the 64-bit marker payload as 16 hex digits
//!   (key fingerprint, then track id) and whose scope is the marked time
//!   span in milliseconds. A copy stripped of its metadata still carries
//!   the marker, and the payload leads back to this manifest;
//! * `cawg.training-mining`: the declared policy, in the vocabulary the
//!   XMP and earmark's manifest use;
//! * `cawg.metadata`: `dc:title` and `dc:creator` (C2PA's own
//!   `c2pa.metadata` may not carry names).
//!
//! WAV, MP3, FLAC and M4A carry the store inside; AIFF and Ogg (which the
//! SDK cannot embed into yet) get it as a sidecar `NAME.c2pa` whose hard
//! binding is a hash of the whole file.
//!
//! [`read_credentials`] reads anyone's manifest with the SDK's validator
//! ([`Credentials`]). This module knows C2PA and certificates; it knows
//! nothing of audio beyond a payload and a time span.

mod certificate;
mod files;
mod read;
mod write;

pub use certificate::{CertificateChain, MAX_CHAIN_PEM_BYTES};
pub use files::{attach, Attached, CredentialsWritten};
pub use read::{
    read_credentials, store_label, Credentials, CredentialsError, CredentialsState,
    SoftBindingEntry,
};
pub use write::{
    embed, sidecar, Claim, ClaimSigner, Operation, Parent, ReadSeek, ReservedStore, SoftBinding,
};

pub use crate::payload::SOFT_BINDING_ALG;

/// The CAWG training-and-data-mining assertion's label.
pub const TRAINING_MINING_LABEL: &str = crate::policy::TrainingMining::LABEL;

/// Largest sidecar manifest store read, bytes.
pub const MAX_STORE_BYTES: u64 = 64 << 20;

/// The extension of a sidecar manifest store (`song.aiff` → `song.c2pa`).
pub const SIDECAR_EXTENSION: &str = "c2pa";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::Payload;
    use crate::policy::Policy;
    use crate::provenance::SigningKeyPair;
    use std::io::Cursor;

    fn wav(seconds: u32) -> Vec<u8> {
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 44_100,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut out = Cursor::new(Vec::new());
        let mut w = hound::WavWriter::new(&mut out, spec).expect("writer");
        for i in 0..44_100 * seconds * 2 {
            w.write_sample(((i * 7919) % 20_000) as i16 - 10_000)
                .expect("sample");
        }
        w.finalize().expect("finalise");
        out.into_inner()
    }

    fn signer() -> ClaimSigner {
        let key = SigningKeyPair::from_bytes(&[3; 32]);
        let chain = CertificateChain::self_issued(&key, "Test Artist");
        ClaimSigner::new(key, chain).expect("chain certifies key")
    }

    /// The input as parent ingredient (leaked: tests only).
    fn parent(input: &[u8]) -> Parent<'static> {
        Parent {
            title: "input.wav".into(),
            container: Some(crate::container::Container::Wav),
            stream: Box::leak(Box::new(Cursor::new(input.to_vec()))),
        }
    }

    fn claim() -> Claim {
        let mut claim = Claim::new(
            "Song",
            Operation::Stamp { transcoded: false },
            Policy::default().cawg_training_mining,
        );
        claim.artist = Some("Test Artist".into());
        claim.soft_binding = Some(SoftBinding {
            payload: Payload::new(0x1234_5678, 42),
            start_ms: 0,
            end_ms: 3000,
        });
        claim
    }

    #[test]
    fn embedded_manifest_reads_back_valid_with_every_assertion() {
        let input = wav(3);
        let mut parent = Cursor::new(input.clone());
        let mut out = Cursor::new(Vec::new());
        embed(
            &claim(),
            &signer(),
            "audio/wav",
            Parent {
                title: "song.wav".into(),
                container: Some(crate::container::Container::Wav),
                stream: &mut parent,
            },
            &mut Cursor::new(input),
            &mut out,
        )
        .expect("embeds");
        let mut c = read_credentials("audio/wav", Cursor::new(out.into_inner()), None, None)
            .expect("reads")
            .expect("has credentials");
        assert_eq!(c.state, CredentialsState::Valid, "{:?}", c.failures);
        assert!(
            c.summary().contains("issuer not on a trust list"),
            "{}",
            c.summary()
        );
        assert_eq!(c.signer.as_deref(), Some("Test Artist"));
        assert!(
            c.actions.contains(&"c2pa.watermarked".to_string()),
            "{:?}",
            c.actions
        );
        assert!(
            c.actions.contains(&"c2pa.opened".to_string()),
            "{:?}",
            c.actions
        );
        assert_eq!(c.training_mining["cawg.ai_training"], "notAllowed");
        assert_eq!(c.soft_bindings.len(), 1);
        assert_eq!(c.soft_bindings[0].value, "123456780000002a");
        assert_eq!(c.soft_bindings[0].end_ms, Some(3000));
        c.compare_markers(Some(&[Payload::new(0x1234_5678, 42)]));
        assert_eq!(c.matches_marker, Some(true));
        c.compare_markers(Some(&[Payload::new(0x1234_5678, 43)]));
        assert!(c.contradicted());
        assert!(!c.ai_generated);
    }

    #[test]
    fn edited_audio_and_flipped_manifest_bytes_are_invalid() {
        let input = wav(2);
        let mut out = Cursor::new(Vec::new());
        embed(
            &claim(),
            &signer(),
            "audio/wav",
            parent(&input),
            &mut Cursor::new(input.clone()),
            &mut out,
        )
        .expect("embeds");
        let signed = out.into_inner();
        // One sample changed.
        let mut edited = signed.clone();
        edited[1000] ^= 0x40;
        let c = read_credentials("audio/wav", Cursor::new(edited), None, None)
            .expect("reads")
            .expect("still has credentials");
        assert_eq!(c.state, CredentialsState::Invalid);
        assert!(
            c.failures.iter().any(|f| f.contains("dataHash")),
            "{:?}",
            c.failures
        );
        // A byte inside the manifest store flipped.
        let at = signed
            .windows(4)
            .position(|w| w == b"c2pa")
            .expect("store present");
        let mut flipped = signed.clone();
        flipped[at + 200] ^= 0xff;
        match read_credentials("audio/wav", Cursor::new(flipped), None, None) {
            Ok(Some(c)) => assert_eq!(c.state, CredentialsState::Invalid, "{:?}", c.failures),
            Ok(None) => panic!("a damaged store read as no credentials"),
            Err(_) => {}
        }
    }

    #[test]
    fn sidecar_binds_the_whole_file() {
        let input = wav(2);
        let store = sidecar(
            &claim(),
            &signer(),
            "audio/aiff",
            parent(&input),
            &mut Cursor::new(input.clone()),
        )
        .expect("signs");
        let c = read_credentials(
            "application/octet-stream",
            Cursor::new(input.clone()),
            Some(("song.c2pa", &store)),
            None,
        )
        .expect("reads")
        .expect("has credentials");
        assert_eq!(c.state, CredentialsState::Valid, "{:?}", c.failures);
        assert_eq!(c.source, "song.c2pa");
        let mut edited = input;
        edited[5000] ^= 1;
        let c = read_credentials(
            "application/octet-stream",
            Cursor::new(edited),
            Some(("song.c2pa", &store)),
            None,
        )
        .expect("reads")
        .expect("has credentials");
        assert_eq!(c.state, CredentialsState::Invalid);
    }

    #[test]
    fn a_plain_file_has_no_credentials() {
        assert!(
            read_credentials("audio/wav", Cursor::new(wav(1)), None, None)
                .expect("reads")
                .is_none()
        );
        assert!(
            read_credentials("audio/wav", Cursor::new(b"RIFF junk".to_vec()), None, None)
                .expect("reads")
                .is_none()
        );
    }

    #[test]
    fn trust_anchor_makes_the_self_issued_chain_trusted() {
        let s = signer();
        let root = CertificateChain::from_pem(&s.chain().to_pem()).expect("parses");
        let root_pem = root.to_pem();
        let mut out = Cursor::new(Vec::new());
        let input = wav(1);
        embed(
            &claim(),
            &s,
            "audio/wav",
            parent(&input),
            &mut Cursor::new(input.clone()),
            &mut out,
        )
        .expect("embeds");
        let c = read_credentials(
            "audio/wav",
            Cursor::new(out.into_inner()),
            None,
            Some(&root_pem),
        )
        .expect("reads")
        .expect("has credentials");
        assert_eq!(c.state, CredentialsState::Trusted, "{:?}", c.failures);
    }
}
