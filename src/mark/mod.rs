//! The watermark engine: pure DSP on sample buffers, no files, no crypto.
//!
//! See [`layout`] for where the marker lives, [`embed`] for how it is added
//! and [`detect`] for how it is found again.

pub mod code;
pub mod detect;
pub mod embed;
pub mod key;
pub mod layout;
pub mod masking;
pub mod resample;
pub mod stft;

pub use detect::{detect_buffer, Candidate, DetectReport, Detection, Detector};
pub use embed::{embed_buffer, EmbedOptions, EmbedStats, Embedder};
pub use key::WatermarkKey;
