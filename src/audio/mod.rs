//! Audio input and output.
//!
//! This module decodes any format symphonia understands into interleaved
//! `f32` samples, writes WAV (via hound) and FLAC (via flacenc), stores and
//! reads back small key/value tags, and defines the canonical PCM hash. It
//! knows nothing about watermarks or cryptography.
//!
//! Units: a *frame* is one sample per channel; a *sample* is one value of one
//! channel. Interleaved buffers hold `frames * channels` samples.
//!
//! * [`decode`]: the streaming [`AudioReader`] and the [`decode_file`] /
//!   [`decode_bytes`] conveniences.
//! * [`wav`] / [`flac`]: streaming writers to any `Write + Seek`, unified by
//!   [`PcmWriter`].
//! * [`pcm`]: the shared quantiser and the [`PcmHasher`].
//!
//! Errors are [`AudioError`]. They never contain a path: like ripgrep, the
//! caller that knows the path adds it when reporting (for example
//! `format!("{}: {err}", path.display())`).

pub mod decode;
pub mod flac;
pub mod pcm;
pub mod stream;
pub mod wav;

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

pub use decode::{decode_bytes, decode_file, AudioReader};
pub use flac::FlacWriter;
pub use pcm::{quantize, PcmHasher};
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
    /// A tag key or value cannot be stored.
    #[error("invalid tag: {0}")]
    InvalidTag(String),
    /// The tags do not fit in the space reserved in the FLAC header.
    #[error("tags too large: {needed} bytes needed, {available} bytes reserved")]
    TagsTooLarge {
        /// Bytes the tag block needs.
        needed: usize,
        /// Bytes reserved for it.
        available: usize,
    },
    /// The FLAC encoder rejected its input (an internal error).
    #[error("flac encoder error: {0}")]
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

/// A streaming PCM writer for either output format.
///
/// Feed interleaved `f32` samples with [`write_interleaved`](Self::write_interleaved)
/// (any slicing: a call may end mid-frame), then call [`finish`](Self::finish)
/// with the tags to store. Memory use does not grow with the length of the
/// recording. Dropping the writer without `finish` leaves an incomplete file.
///
/// Samples are quantised with [`quantize`], exactly like [`PcmHasher`].
#[derive(Debug)]
pub struct PcmWriter<W: Write + Seek> {
    inner: WriterInner<W>,
}

#[derive(Debug)]
enum WriterInner<W: Write + Seek> {
    Wav(WavWriter<W>),
    Flac(Box<FlacWriter<W>>),
}

impl<W: Write + Seek> PcmWriter<W> {
    /// Starts a file of the given format at the writer's current position.
    ///
    /// For FLAC an [`SampleFormat::F32`] request is written as 24-bit (see
    /// [`WriterSpec::effective_for`]). For speed, `writer` should be buffered
    /// (e.g. a `BufWriter<File>`).
    pub fn new(writer: W, format: OutputFormat, spec: WriterSpec) -> Result<Self> {
        let inner = match format {
            OutputFormat::Wav => WriterInner::Wav(WavWriter::new(writer, spec)?),
            OutputFormat::Flac => WriterInner::Flac(Box::new(FlacWriter::new(writer, spec)?)),
        };
        Ok(PcmWriter { inner })
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

    /// Quantises and writes interleaved samples.
    pub fn write_interleaved(&mut self, samples: &[f32]) -> Result<()> {
        match &mut self.inner {
            WriterInner::Wav(w) => w.write_interleaved(samples),
            WriterInner::Flac(w) => w.write_interleaved(samples),
        }
    }

    /// Completes the file, storing `tags` (FLAC: a VORBIS_COMMENT block; WAV:
    /// one `emrk` chunk per tag), and returns the underlying writer.
    ///
    /// Fails if the samples written do not form whole frames, a tag is
    /// invalid (see [`validate_tag`]), or the tags exceed the FLAC reserve.
    pub fn finish(self, tags: &[(String, String)]) -> Result<W> {
        match self.inner {
            WriterInner::Wav(w) => w.finish(tags),
            WriterInner::Flac(w) => w.finish(tags),
        }
    }
}

impl PcmWriter<BufWriter<File>> {
    /// Creates (truncating) the file at `path` and starts writing to it.
    pub fn create(path: &Path, format: OutputFormat, spec: WriterSpec) -> Result<Self> {
        let file = File::create(path).map_err(AudioError::Write)?;
        PcmWriter::new(BufWriter::with_capacity(1 << 16, file), format, spec)
    }
}

/// Checks that a tag can be stored in both WAV `emrk` chunks and FLAC vorbis
/// comments.
///
/// The key must be 1 or more ASCII characters in `0x20..=0x7D` other than
/// `=` (the vorbis comment field-name rule). The value may be any UTF-8.
pub fn validate_tag(key: &str, _value: &str) -> Result<()> {
    if key.is_empty() {
        return Err(AudioError::InvalidTag("empty key".into()));
    }
    if let Some(c) = key
        .chars()
        .find(|&c| !('\x20'..='\x7d').contains(&c) || c == '=')
    {
        return Err(AudioError::InvalidTag(format!(
            "key {key:?} contains {c:?} (allowed: printable ascii except '=' and '~')"
        )));
    }
    Ok(())
}

/// Reads back the tags stored by [`PcmWriter::finish`] from a file.
///
/// See [`read_tags_from`].
pub fn read_tags(path: &Path) -> Result<Vec<(String, String)>> {
    let file = File::open(path).map_err(AudioError::Read)?;
    read_tags_from(std::io::BufReader::new(file))
}

/// Reads back the tags stored by [`PcmWriter::finish`] from bytes in memory.
///
/// See [`read_tags_from`].
pub fn read_tags_bytes(bytes: &[u8]) -> Result<Vec<(String, String)>> {
    read_tags_from(std::io::Cursor::new(bytes))
}

/// Reads back tags from a reader positioned at the start of a file.
///
/// WAV: every `emrk` chunk (`KEY=VALUE`). FLAC: every comment of the
/// VORBIS_COMMENT block, including comments written by other tools (an
/// ID3v2 tag before `fLaC` is skipped). Any other input, including an empty
/// one, has no tags: the result is an empty list.
/// Only the headers are read, never the audio. Tags are returned in file
/// order; entries that are not valid UTF-8 or lack `=` are a `Corrupt`
/// error.
pub fn read_tags_from<R: Read + Seek>(mut reader: R) -> Result<Vec<(String, String)>> {
    let mut magic = [0u8; 12];
    let n = read_up_to(&mut reader, &mut magic)?;
    let magic = &magic[..n];
    reader.seek(SeekFrom::Start(0)).map_err(AudioError::Read)?;
    if magic.len() >= 12 && &magic[0..4] == b"RIFF" && &magic[8..12] == b"WAVE" {
        wav::read_tags(reader)
    } else if magic.starts_with(b"fLaC") || magic.starts_with(b"ID3") {
        flac::read_tags(reader)
    } else {
        Ok(Vec::new())
    }
}

/// Reads until `buf` is full or EOF; returns the count read.
fn read_up_to<R: Read + ?Sized>(reader: &mut R, buf: &mut [u8]) -> Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(AudioError::Read(e)),
        }
    }
    Ok(filled)
}

/// Splits a stored `KEY=VALUE` entry.
fn split_tag(entry: &[u8], what: &str) -> Result<(String, String)> {
    let text = std::str::from_utf8(entry)
        .map_err(|_| AudioError::Corrupt(format!("{what} tag is not valid utf-8")))?;
    let (k, v) = text
        .split_once('=')
        .ok_or_else(|| AudioError::Corrupt(format!("{what} tag has no '=': {text:?}")))?;
    Ok((k.to_string(), v.to_string()))
}
