//! earmark: stamp recordings with an inaudible keyed watermark and a signed
//! provenance manifest, and verify suspect files and clips.
#![warn(missing_docs)]

pub mod attacks;
pub mod audio;
pub mod batch;
pub mod catalogue;
pub mod error;
pub mod inspect;
pub mod mark;
pub mod metadata;
pub mod output;
pub mod provenance;
pub mod report;
pub mod stamp;
pub mod tag;
pub mod verify;

pub use error::{Error, ErrorKind, Result};
pub use stamp::{stamp_file, StampOptions, StampOutcome};
pub use verify::{verify_file, VerifyOptions, VerifyOutcome};
