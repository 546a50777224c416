//! earmark: stamp recordings with an inaudible keyed watermark, a signed
//! provenance manifest and a machine-readable "no AI training" declaration,
//! and verify suspect files and clips.
#![warn(missing_docs)]

pub mod audio;
#[cfg(feature = "catalogue")]
pub mod batch;
#[cfg(feature = "catalogue")]
pub mod catalogue;
pub mod container;
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
pub mod provenance;
pub mod stamp;
pub mod tag;
pub mod verify;

pub use error::{Error, ErrorKind, Result};
pub use inspect::{inspect, inspect_file, Inspection};
pub use payload::Payload;
pub use policy::{Policy, PolicyKind};
pub use stamp::{
    stamp, stamp_bytes, stamp_file, stamp_to_stream, StampOptions, StampOutcome, Stamped, Stamper,
};
pub use tag::{tag_file, TagOptions, TagOutcome};
pub use verify::{
    verify, verify_bytes, verify_file, Finished, SealPass, Verification, Verifier, VerifyOptions,
};
