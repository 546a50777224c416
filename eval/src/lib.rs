//! Evaluation tools for earmark: the attacks a re-uploaded recording goes
//! through, and the robustness report that stamps real tracks with the
//! earmark engine, attacks them and verifies them with the same engine.
//!
//! This crate is not part of the product: it needs LAME and libvorbis (C) for
//! the MP3 and Vorbis attacks, so it lives in its own workspace member and a
//! user of the `earmark` library never compiles it.
//!
//! * [`attacks`]: lossy codecs, resampling, gain, noise, filters, downmixes,
//!   clips, and speed/tempo/pitch changes, deterministic and in Rust.
//! * [`engine`]: the earmark engine fed from memory, the one way the report
//!   stamps and verifies.
//! * [`peaq`]: PEAQ scores of stamped audio, from an external GstPEAQ build.
//! * [`report`]: the robustness report behind `earmark robustness`.
#![warn(missing_docs)]

pub mod attacks;
pub mod engine;
pub mod peaq;
pub mod report;
