//! Audio input and output.
//!
//! This module decodes any format symphonia understands (and uncompressed
//! WAV/AIFF directly) into interleaved `f32` samples, writes WAV and FLAC
//! with metadata serialised elsewhere, and defines the canonical PCM hash
//! and the digest of encoded packets. It knows nothing about watermarks or
//! cryptography.
//!
//! Units: a *frame* is one sample per channel; a *sample* is one value of one
//! channel. Interleaved buffers hold `frames * channels` samples.
//!
//! * [`decode`]: the streaming [`AudioReader`] and the [`decode_file`] /
//!   [`decode_bytes`] conveniences; `pcm_file` reads WAV/AIFF samples
//!   directly.
//! * [`wav`] / [`flac`]: streaming writers, unified by [`PcmWriter`].
//! * [`pcm`]: the shared quantiser and the [`PcmHasher`].
//! * [`stream`]: the digest of the encoded audio ([`stream_digest`]).
//!
//! Errors are [`AudioError`]. They never contain a path: like ripgrep, the
//! caller that knows the path adds it when reporting (for example
//! `format!("{}: {err}", path.display())`).

pub mod decode;
pub mod flac;
#[cfg(feature = "mp3")]
pub mod mp3;
pub mod opus;
pub mod pcm;
mod pcm_file;
pub mod stream;
pub mod wav;

use std::fs::File;
use std::io::{BufWriter, Seek, Write};
use std::path::Path;

pub use decode::{decode_bytes, decode_file, AudioReader};
pub use flac::FlacWriter;
pub use pcm::{pack_le, quantize, quantize_into, PcmHasher, PcmLayout};
pub use stream::{stream_digest, StreamDigest};
pub use wav::WavWriter;

/// Sample formats the writers can produce.
///
/// Decoded sources are mapped to the nearest of these so that re-encoding
/// keeps the source bit depth: 8- and 16-bit integer sources report
/// [`SampleFormat::I16`], 17- to 32-bit integer sources report
/// [`SampleFormat::I24`] (32-bit integer audio is rare, is decoded through
/// `f32` anyway, and 24 bits keeps it writable as FLAC), and floating point or
/// lossy sources (MP3, AAC, Vorbis, ...) report [`SampleFormat::F32`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SampleFormat {
    /// Signed 16-bit integer.
    I16,
    /// Signed 24-bit integer.
    I24,
    /// 32-bit IEEE float.
    F32,
}

impl SampleFormat {
    /// Bits per sample as stored in a file (16, 24 or 32).
    pub fn bits(self) -> u16 {
        match self {
            SampleFormat::I16 => 16,
            SampleFormat::I24 => 24,
            SampleFormat::F32 => 32,
        }
    }

    /// Short name, as manifests record it: `"s16"`, `"s24"` or `"f32"`.
    pub fn name(self) -> &'static str {
        match self {
            SampleFormat::I16 => "s16",
            SampleFormat::I24 => "s24",
            SampleFormat::F32 => "f32",
        }
    }

    /// The format a [`name`](Self::name) names.
    pub fn from_name(name: &str) -> Option<SampleFormat> {
        [SampleFormat::I16, SampleFormat::I24, SampleFormat::F32]
            .into_iter()
            .find(|f| f.name() == name)
    }
}

/// Parameters of a decoded stream, as reported by [`AudioReader::spec`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioSpec {
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Number of channels.
    pub channels: u16,
    /// Nearest writable sample format of the source (see [`SampleFormat`]).
    pub sample_format: SampleFormat,
    /// Total length in frames as the container states it, if it does.
    ///
    /// Exact for PCM, FLAC and ALAC; only an estimate for lossy streams
    /// (symphonia 0.5 does not trim AAC padding in MP4 and misreports some
    /// Matroska/WebM durations). Use it as a hint, not a promise.
    pub frames: Option<u64>,
    /// Short codec name, e.g. `"mp3"`, `"flac"`, `"pcm_s16le"`, `"aac"`.
    pub codec: String,
}

impl AudioSpec {
    /// The writer parameters that keep this source's rate, channels and depth.
    pub fn writer_spec(&self) -> WriterSpec {
        WriterSpec {
            sample_rate: self.sample_rate,
            channels: self.channels,
            sample_format: self.sample_format,
        }
    }
}

/// A whole decoded recording: interleaved `f32` samples, nominally in
/// `[-1, 1]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Audio {
    /// Interleaved samples (`frames * channels` values).
    pub samples: Vec<f32>,
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Number of channels.
    pub channels: u16,
}

impl Audio {
    /// Length in frames (samples per channel).
    pub fn frames(&self) -> usize {
        if self.channels == 0 {
            0
        } else {
            self.samples.len() / usize::from(self.channels)
        }
    }

    /// Length in seconds.
    pub fn duration_secs(&self) -> f64 {
        if self.sample_rate == 0 {
            0.0
        } else {
            self.frames() as f64 / f64::from(self.sample_rate)
        }
    }
}

/// Errors from decoding, writing and tag reading.
///
/// Messages are lowercase, one line, and contain no path; callers add the
/// path (see the module documentation).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AudioError {
    /// The input has no bytes at all.
    #[error("empty file (0 bytes)")]
    Empty,
    /// No demuxer recognised the input.
    #[error("not a recognised audio format")]
    NotAudio,
    /// The container was recognised but its codec cannot be decoded.
    #[error("unsupported codec: {0}")]
    UnsupportedCodec(String),
    /// The stream is damaged, cut short, or made the decoder fail.
    #[error("truncated or corrupt stream: {0}")]
    Corrupt(String),
    /// The container holds no decodable audio track.
    #[error("no audio track")]
    NoTrack,
    /// The stream decoded to nothing.
    #[error("zero-length audio (no samples decoded)")]
    ZeroLength,
    /// The channel count or sample rate changed in the middle of the stream.
    #[error("stream parameters changed mid-stream: {0}")]
    StreamChanged(String),
    /// Reading the input failed (the message includes the I/O error).
    #[error("cannot read: {0}")]
    Read(std::io::Error),
    /// Writing the output failed (the message includes the I/O error).
    #[error("cannot write: {0}")]
    Write(std::io::Error),
    /// The requested output cannot be produced (bad rate, channel count, ...).
    #[error("unsupported output: {0}")]
    UnsupportedOutput(String),
    /// The tags do not fit in the space reserved in the FLAC header.
    #[error("tags too large: {needed} bytes needed, {available} bytes reserved")]
    TagsTooLarge {
        /// Bytes the tag block needs.
        needed: usize,
        /// Bytes reserved for it.
        available: usize,
    },
    /// The encoder rejected its input, or a second pass differed from the
    /// first.
    #[error("encoder error: {0}")]
    Encode(String),
}

/// Convenience alias for results in this module.
pub type Result<T, E = AudioError> = std::result::Result<T, E>;

/// Output container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutputFormat {
    /// RIFF WAVE (16/24-bit integer or 32-bit float, any channel count).
    Wav,
    /// FLAC (16 or 24 bit, 1 to 8 channels).
    Flac,
}

impl OutputFormat {
    /// Usual file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            OutputFormat::Wav => "wav",
            OutputFormat::Flac => "flac",
        }
    }

    /// The container it writes.
    pub fn container(self) -> crate::container::Container {
        match self {
            OutputFormat::Wav => crate::container::Container::Wav,
            OutputFormat::Flac => crate::container::Container::Flac,
        }
    }
}

/// Parameters for a writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WriterSpec {
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Number of channels.
    pub channels: u16,
    /// Sample format to store.
    pub sample_format: SampleFormat,
}

impl WriterSpec {
    /// The spec a writer for `format` will actually use: FLAC cannot store
    /// float samples, so [`SampleFormat::F32`] becomes [`SampleFormat::I24`]
    /// for FLAC. Everything else is unchanged.
    ///
    /// Give this (or [`PcmWriter::spec`]) to [`PcmHasher::new`] so the hash
    /// matches what is written.
    pub fn effective_for(self, format: OutputFormat) -> WriterSpec {
        match (format, self.sample_format) {
            (OutputFormat::Flac, SampleFormat::F32) => WriterSpec {
                sample_format: SampleFormat::I24,
                ..self
            },
            _ => self,
        }
    }
}

/// A FLAC metadata block: its type (4 VORBIS_COMMENT, 6 PICTURE, ...) and
/// its body.
pub type FlacBlock = (u8, Vec<u8>);

/// A RIFF chunk: its four-character id and its data.
pub type RiffChunk = ([u8; 4], Vec<u8>);

/// Metadata for an output file, serialised for its container by
/// [`crate::metadata::render_flac_blocks`] or
/// [`crate::metadata::render_wav_chunks`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputTags {
    /// FLAC metadata blocks `(type, body)`, placed after STREAMINFO.
    Flac(Vec<FlacBlock>),
    /// RIFF chunks `(id, data)`, placed after the audio.
    Wav(Vec<RiffChunk>),
}

impl OutputTags {
    /// No metadata, for `format`.
    pub fn none(format: OutputFormat) -> OutputTags {
        match format {
            OutputFormat::Flac => OutputTags::Flac(Vec::new()),
            OutputFormat::Wav => OutputTags::Wav(Vec::new()),
        }
    }

    /// Bytes these tags take in a FLAC header after STREAMINFO, block
    /// headers included (0 for WAV chunks).
    pub fn flac_len(&self) -> usize {
        match self {
            OutputTags::Flac(b) => b.iter().map(|(_, d)| 4 + d.len()).sum(),
            OutputTags::Wav(_) => 0,
        }
    }

    fn flac_blocks(&self) -> Result<&[FlacBlock]> {
        match self {
            OutputTags::Flac(b) => Ok(b),
            OutputTags::Wav(_) => Err(AudioError::Encode("wav tags given to a flac writer".into())),
        }
    }

    fn wav_chunks(&self) -> Result<&[RiffChunk]> {
        match self {
            OutputTags::Wav(c) => Ok(c),
            OutputTags::Flac(_) => {
                Err(AudioError::Encode("flac tags given to a wav writer".into()))
            }
        }
    }
}

/// A streaming PCM writer for either output format.
///
/// Feed interleaved `f32` samples with [`write_interleaved`](Self::write_interleaved)
/// (any slicing: a call may end mid-frame) or integers already quantised
/// with [`quantize_into`] with [`write_quantized`](Self::write_quantized),
/// then call [`finish`](Self::finish) with the metadata to store. Memory use
/// does not grow with the length of the recording. Dropping the writer
/// without `finish` leaves an incomplete file.
#[derive(Debug)]
pub struct PcmWriter<W: Write> {
    inner: WriterInner<W>,
    /// Scratch for quantising.
    quantized: Vec<i32>,
}

#[derive(Debug)]
enum WriterInner<W: Write> {
    Wav(WavWriter<W>),
    Flac(Box<FlacWriter<W>>),
}

impl<W: Write + Seek> PcmWriter<W> {
    /// Starts a file of the given format at the writer's current position.
    ///
    /// For FLAC, `reserve` bytes after STREAMINFO are kept for the metadata
    /// blocks [`finish`](Self::finish) writes (see [`OutputTags::flac_len`]);
    /// an [`SampleFormat::F32`] request is written as 24-bit (see
    /// [`WriterSpec::effective_for`]). For speed, `writer` should be buffered
    /// (e.g. a `BufWriter<File>`).
    pub fn new(writer: W, format: OutputFormat, spec: WriterSpec, reserve: usize) -> Result<Self> {
        Self::expecting(writer, format, spec, reserve, None)
    }

    /// [`new`](Self::new) for about `frames` frames, when the length is
    /// known beforehand (e.g. [`AudioSpec::frames`]): a WAV that will not
    /// fit RIFF's 4 GiB is then written as RF64 (see [`WavWriter`]).
    pub fn expecting(
        writer: W,
        format: OutputFormat,
        spec: WriterSpec,
        reserve: usize,
        frames: Option<u64>,
    ) -> Result<Self> {
        let inner = match format {
            OutputFormat::Wav => {
                WriterInner::Wav(WavWriter::with_expected_frames(writer, spec, frames)?)
            }
            OutputFormat::Flac => {
                WriterInner::Flac(Box::new(FlacWriter::new(writer, spec, reserve)?))
            }
        };
        Ok(PcmWriter {
            inner,
            quantized: Vec::new(),
        })
    }

    /// Completes the file with `tags` (which must be for this format) and
    /// returns the underlying writer.
    ///
    /// Fails if the samples written do not form whole frames or the tags do
    /// not fit the FLAC reserve.
    pub fn finish(self, tags: &OutputTags) -> Result<W> {
        match self.inner {
            WriterInner::Wav(w) => w.finish(tags.wav_chunks()?),
            WriterInner::Flac(w) => w.finish(tags.flac_blocks()?),
        }
    }
}

/// What a writer that cannot seek must know before the first sample: the
/// length, the FLAC MD5 and the metadata (from a first pass).
#[derive(Debug, Clone)]
pub struct KnownOutput {
    /// Frames that will be written.
    pub frames: u64,
    /// MD5 of the samples as FLAC defines it ([`FlacMd5`]).
    pub md5: [u8; 16],
    /// The metadata.
    pub tags: OutputTags,
    /// Bytes of FLAC PADDING after the metadata.
    pub padding: usize,
}

impl<W: Write> PcmWriter<W> {
    /// Starts a file whose header is final from the start (length, MD5 and
    /// metadata known from an earlier pass), for outputs that cannot seek
    /// (a pipe). Complete it with [`finish_streamed`](Self::finish_streamed).
    pub fn streamed(writer: W, spec: WriterSpec, known: &KnownOutput) -> Result<Self> {
        let inner = match &known.tags {
            OutputTags::Wav(c) => {
                WriterInner::Wav(WavWriter::with_sizes(writer, spec, known.frames, c)?)
            }
            OutputTags::Flac(b) => WriterInner::Flac(Box::new(FlacWriter::with_header(
                writer,
                spec,
                known.frames,
                known.md5,
                b,
                known.padding,
            )?)),
        };
        Ok(PcmWriter {
            inner,
            quantized: Vec::new(),
        })
    }

    /// Completes a file started with [`streamed`](Self::streamed), checking
    /// that the samples were the ones `known` describes.
    pub fn finish_streamed(self, known: &KnownOutput) -> Result<W> {
        match self.inner {
            WriterInner::Wav(w) => w.finish_streamed(known.frames, known.tags.wav_chunks()?),
            WriterInner::Flac(w) => w.finish_streamed(known.frames, known.md5),
        }
    }

    /// The spec actually written (after [`WriterSpec::effective_for`]).
    pub fn spec(&self) -> WriterSpec {
        match &self.inner {
            WriterInner::Wav(w) => w.spec(),
            WriterInner::Flac(w) => w.spec(),
        }
    }

    /// The output format.
    pub fn format(&self) -> OutputFormat {
        match &self.inner {
            WriterInner::Wav(_) => OutputFormat::Wav,
            WriterInner::Flac(_) => OutputFormat::Flac,
        }
    }

    /// Complete frames written so far.
    pub fn frames_written(&self) -> u64 {
        match &self.inner {
            WriterInner::Wav(w) => w.frames_written(),
            WriterInner::Flac(w) => w.frames_written(),
        }
    }

    /// Quantises (see [`quantize`]) and writes interleaved samples (a call
    /// may end mid-frame).
    pub fn write_interleaved(&mut self, samples: &[f32]) -> Result<()> {
        const BATCH: usize = 16_384;
        let mut q = std::mem::take(&mut self.quantized);
        let format = self.spec().sample_format;
        let mut result = Ok(());
        for chunk in samples.chunks(BATCH) {
            quantize_into(chunk, format, &mut q);
            result = self.write_quantized(&q);
            if result.is_err() {
                break;
            }
        }
        self.quantized = q;
        result
    }

    /// Writes interleaved samples already quantised for [`spec`](Self::spec)
    /// by [`quantize_into`].
    pub fn write_quantized(&mut self, samples: &[i32]) -> Result<()> {
        match &mut self.inner {
            WriterInner::Wav(w) => w.write_quantized(samples),
            WriterInner::Flac(w) => w.write_quantized(samples),
        }
    }

    /// As [`write_quantized`](Self::write_quantized), with the same samples
    /// also packed by [`pack_le`] (a WAV writes those bytes, FLAC hashes
    /// them for its MD5), so they are not packed twice.
    ///
    /// # Panics
    /// If `packed` is not `samples` packed at the spec's width.
    pub fn write_quantized_packed(&mut self, samples: &[i32], packed: &[u8]) -> Result<()> {
        let width = usize::from(self.spec().sample_format.bits() / 8);
        assert_eq!(packed.len(), samples.len() * width, "packed samples");
        match &mut self.inner {
            WriterInner::Wav(w) => w.write_packed(packed, samples.len()),
            WriterInner::Flac(w) => w.write_quantized_packed(samples, packed),
        }
    }
}

impl PcmWriter<BufWriter<File>> {
    /// Creates (truncating) the file at `path` and starts writing to it,
    /// with no room for FLAC metadata.
    pub fn create(path: &Path, format: OutputFormat, spec: WriterSpec) -> Result<Self> {
        let file = File::create(path).map_err(AudioError::Write)?;
        PcmWriter::new(BufWriter::with_capacity(1 << 16, file), format, spec, 0)
    }
}

/// The MD5 FLAC's STREAMINFO holds: over the samples quantised for `spec`,
/// as little-endian integers of `bits / 8` bytes, interleaved (see
/// [`pcm::pack_le`]).
#[derive(Debug, Clone)]
pub struct FlacMd5 {
    md5: md5::Md5,
    format: SampleFormat,
    buf: Vec<u8>,
}

impl FlacMd5 {
    /// A hasher for samples quantised for `spec` (FLAC's effective spec).
    pub fn new(spec: &WriterSpec) -> FlacMd5 {
        use md5::Digest;
        FlacMd5 {
            md5: md5::Md5::new(),
            format: spec.sample_format,
            buf: Vec::new(),
        }
    }

    /// Adds quantised interleaved samples.
    pub fn update(&mut self, samples: &[i32]) {
        use md5::Digest;
        pcm::pack_le(samples, self.format, &mut self.buf);
        self.md5.update(&self.buf);
    }

    /// Adds samples already packed by [`pcm::pack_le`].
    pub fn update_packed(&mut self, packed: &[u8]) {
        use md5::Digest;
        self.md5.update(packed);
    }

    /// The digest.
    pub fn finish(self) -> [u8; 16] {
        use md5::Digest;
        self.md5.finalize().into()
    }
}
