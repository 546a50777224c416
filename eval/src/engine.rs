//! The report's only way into earmark: the engine's own [`Stamper`] and
//! [`Verifier`](earmark::Verifier), fed from in-memory [`Audio`] buffers in the chunks the
//! file front ends use. Nothing here decides anything: whether a marker or
//! a seal is found, and what it says, is the engine's verdict, the same one
//! `earmark verify` prints.

use earmark::audio::{
    Audio, AudioError, OutputFormat, OutputTags, PcmWriter, SampleFormat, WriterSpec,
};
use earmark::{StampOptions, Stamped, Stamper, Verification, VerifyOptions};
use std::path::Path;

/// Frames per chunk fed to the engine (as the decoders deliver them).
pub const CHUNK_FRAMES: usize = 4096;

/// Stamps `audio` with the engine; returns the marked audio (as `f32`, the
/// manifest hashing it as 32-bit float) and what stamping produced.
pub fn stamp(audio: &Audio, opts: &StampOptions) -> earmark::Result<(Audio, Stamped)> {
    let spec = WriterSpec {
        sample_rate: audio.sample_rate,
        channels: audio.channels,
        sample_format: SampleFormat::F32,
    };
    let mut stamper = Stamper::new(spec, opts)?;
    let mut samples = Vec::with_capacity(audio.samples.len());
    for chunk in audio
        .samples
        .chunks(CHUNK_FRAMES * usize::from(audio.channels))
    {
        stamper.process(chunk, &mut samples);
    }
    let stamped = stamper.finish(&mut samples);
    Ok((
        Audio {
            samples,
            sample_rate: audio.sample_rate,
            channels: audio.channels,
        },
        stamped,
    ))
}

/// Verifies `audio` with the engine, making the second pass the seal asks
/// for after a speed, tempo or pitch change (as `earmark verify` does).
pub fn verify(audio: &Audio, opts: &VerifyOptions) -> earmark::Result<Verification> {
    let chunk = CHUNK_FRAMES * usize::from(audio.channels);
    earmark::verify_pcm(audio.sample_rate, audio.channels, opts, |sink| {
        audio.samples.chunks(chunk).for_each(&mut *sink)
    })
}

/// Writes `audio` to `path` as a WAV of `format` (the report's stamped and
/// attacked copies, and the pairs handed to PEAQ), with the engine's writer.
pub fn write_wav(path: &Path, audio: &Audio, format: SampleFormat) -> Result<(), AudioError> {
    let spec = WriterSpec {
        sample_rate: audio.sample_rate,
        channels: audio.channels,
        sample_format: format,
    };
    let mut w = PcmWriter::create(path, OutputFormat::Wav, spec)?;
    w.write_interleaved(&audio.samples)?;
    w.finish(&OutputTags::none(OutputFormat::Wav))?;
    Ok(())
}
