//! earmark: stamp recordings with an inaudible keyed watermark (the
//! *marker*), the artist's signature in the audio (the *seal*), a signed
//! provenance manifest and a machine-readable "no AI training"
//! declaration; verify suspect files and clips.
//!
//! Every front end (the `earmark` command, batches, and anything built on
//! this crate) calls the same engine:
//!
//! | | stamp | verify |
//! |---|---|---|
//! | PCM in chunks | [`Stamper`] | [`Verifier`] |
//! | PCM in memory | [`stamp_samples`] | [`verify_pcm`] |
//! | bytes | [`stamp_bytes`] | [`verify_bytes`] |
//! | any `Read + Seek` | [`stamp()`] (to `Write + Seek`), [`stamp_to_stream`] (to `Write`) | [`verify()`] |
//! | files | [`stamp_file`] | [`verify_file`] |
//!
//! plus [`tag_file`] (the declaration and a manifest without re-encoding)
//! and [`inspect()`] / [`inspect_file`] (everything earmark can read about a
//! file).
//!
//! # Example: stamp and verify in memory
//!
//! ```
//! use earmark::provenance::SigningKeyPair;
//! use earmark::{stamp_bytes, verify_bytes, StampOptions, VerifyOptions};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let wav_bytes = {
//! #     let spec = hound::WavSpec { channels: 2, sample_rate: 44_100, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
//! #     let mut c = std::io::Cursor::new(Vec::new());
//! #     let mut w = hound::WavWriter::new(&mut c, spec)?;
//! #     let mut seed = 1u32;
//! #     for i in 0..44_100 * 2 * 6 {
//! #         seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
//! #         let noise = (seed >> 16) as f32 / 65_536.0 - 0.5;
//! #         let tone = ((i / 2) as f32 * 0.05).sin();
//! #         w.write_sample(((0.2 * tone + 0.3 * noise) * 12_000.0) as i16)?;
//! #     }
//! #     w.finalize()?;
//! #     c.into_inner()
//! # };
//! // The artist's key (in practice: earmark::keyfile::read_signing_key).
//! let key = SigningKeyPair::generate();
//! let mut options = StampOptions::new(key.clone());
//! options.title = Some("Song".into());
//!
//! // Any audio earmark decodes in, FLAC (the default) out, with the
//! // declaration and the signed manifest inside.
//! let (flac, stamped) = stamp_bytes(&wav_bytes, &options)?;
//!
//! // Anyone can check a copy: the marker, the manifest, the signature.
//! let mut check = VerifyOptions::default();
//! check.trusted.push(key.public_key());
//! let found = verify_bytes(&flac, &check)?;
//! assert!(found.marked);
//! assert_eq!(found.markers[0].payload, stamped.payload);
//! let manifest = found.manifest.as_ref().expect("embedded manifest");
//! assert!(manifest.signature_valid && manifest.audio_identical);
//! assert_eq!(found.exit_code(), 0);
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! * `cli` (default): the `earmark` binary; implies `catalogue`.
//! * `catalogue`: [`batch`] runs over whole folders and the SQLite
//!   [`catalogue`] (SQLite is C, built from source).
//!
//! With `--no-default-features` the whole engine (decoding, the marker and
//! the seal, provenance, metadata writing, FLAC/WAV output) builds without
//! compiling any C.
#![warn(missing_docs)]

pub mod audio;
#[cfg(feature = "catalogue")]
pub mod batch;
#[cfg(feature = "catalogue")]
pub mod catalogue;
pub mod container;
#[cfg(feature = "c2pa")]
pub mod credentials;
pub mod error;
pub mod exit;
mod hex;
pub mod inspect;
pub mod keyfile;
pub mod mark;
pub mod metadata;
pub mod naming;
pub mod output;
pub mod payload;
pub mod policy;
pub mod progress;
pub mod provenance;
pub mod records;
#[cfg(feature = "serve")]
pub mod serve;
pub mod stamp;
pub mod tag;
pub mod verify;

pub use error::{Error, ErrorKind, Result};
pub use inspect::{inspect, inspect_file, Inspection};
pub use payload::Payload;
pub use policy::{Policy, PolicyKind};
pub use stamp::{
    stamp, stamp_bytes, stamp_file, stamp_samples, stamp_to_stream, StampOptions, StampOutcome,
    Stamped, Stamper,
};
pub use tag::{tag_file, TagOptions, TagOutcome};
pub use verify::{
    verify, verify_bytes, verify_file, verify_pcm, Finished, SealPass, Verification, Verifier,
    VerifyOptions,
};
