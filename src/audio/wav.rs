//! Streaming WAV writer and `emrk` tag reader.
//!
//! The RIFF/`fmt ` header comes from hound (which picks
//! `WAVE_FORMAT_EXTENSIBLE` for more than two channels or more than 16 bits);
//! sample data is quantised with [`quantize`] and written in bulk; at
//! [`WavWriter::finish`] the sizes are patched and each tag is appended as
//! its own RIFF chunk with id `emrk` and data `KEY=VALUE` (UTF-8, padded to
//! an even length, pad byte not counted in the chunk size).

use std::io::{Read, Seek, SeekFrom, Write};

use super::pcm::quantize;
use super::{split_tag, validate_tag, AudioError, Result, SampleFormat, WriterSpec};

/// RIFF chunk id of one earmark tag.
pub const TAG_CHUNK_ID: [u8; 4] = *b"emrk";

/// Samples quantised per bulk write.
const BATCH: usize = 8192;

/// Streaming WAV writer: 16-bit or 24-bit integer, or 32-bit float, any
/// channel count. Memory use is constant.
///
/// RIFF sizes are 32-bit, so the whole file must stay under 4 GiB; writing
/// more is an [`AudioError::UnsupportedOutput`] error.
#[derive(Debug)]
pub struct WavWriter<W: Write + Seek> {
    writer: W,
    spec: WriterSpec,
    /// Stream position of the `RIFF` magic.
    start: u64,
    /// Stream position of the `data` chunk's size field.
    data_len_pos: u64,
    /// Bytes of the header (everything before the sample data).
    header_len: u64,
    /// Sample data bytes written so far.
    data_bytes: u64,
    /// Samples written so far (not frames).
    samples: u64,
    /// Reusable byte buffer for one batch.
    bytes: Vec<u8>,
}

impl<W: Write + Seek> WavWriter<W> {
    /// Writes the WAV header at the writer's current position.
    pub fn new(mut writer: W, spec: WriterSpec) -> Result<Self> {
        if spec.channels == 0 {
            return Err(AudioError::UnsupportedOutput(
                "wav needs at least 1 channel".into(),
            ));
        }
        if spec.sample_rate == 0 {
            return Err(AudioError::UnsupportedOutput("sample rate 0 hz".into()));
        }
        let header = hound_header(&spec)?;
        let start = writer.stream_position().map_err(AudioError::Write)?;
        writer.write_all(&header).map_err(AudioError::Write)?;
        let header_len = header.len() as u64;
        let bytes_per_sample = usize::from(spec.sample_format.bits() / 8);
        Ok(WavWriter {
            writer,
            spec,
            start,
            data_len_pos: start + header_len - 4,
            header_len,
            data_bytes: 0,
            samples: 0,
            bytes: Vec::with_capacity(BATCH * bytes_per_sample),
        })
    }

    /// The spec being written.
    pub fn spec(&self) -> WriterSpec {
        self.spec
    }

    /// Complete frames written so far.
    pub fn frames_written(&self) -> u64 {
        self.samples / u64::from(self.spec.channels)
    }

    /// Quantises and writes interleaved samples (a call may end mid-frame).
    pub fn write_interleaved(&mut self, samples: &[f32]) -> Result<()> {
        let bps = u64::from(self.spec.sample_format.bits() / 8);
        let new_total = self.data_bytes + samples.len() as u64 * bps;
        // Leave room for the pad byte and a few tag chunks within the 32-bit
        // RIFF size.
        if self.header_len + new_total > u64::from(u32::MAX) - (1 << 16) {
            return Err(AudioError::UnsupportedOutput(
                "wav output would exceed the 4 gib riff size limit".into(),
            ));
        }
        let format = self.spec.sample_format;
        for chunk in samples.chunks(BATCH) {
            self.bytes.clear();
            match format {
                SampleFormat::I16 => {
                    for &x in chunk {
                        self.bytes
                            .extend_from_slice(&(quantize(x, format) as i16).to_le_bytes());
                    }
                }
                SampleFormat::I24 => {
                    for &x in chunk {
                        self.bytes
                            .extend_from_slice(&quantize(x, format).to_le_bytes()[..3]);
                    }
                }
                SampleFormat::F32 => {
                    for &x in chunk {
                        self.bytes.extend_from_slice(&x.to_le_bytes());
                    }
                }
            }
            self.writer
                .write_all(&self.bytes)
                .map_err(AudioError::Write)?;
        }
        self.data_bytes = new_total;
        self.samples += samples.len() as u64;
        Ok(())
    }

    /// Appends one `emrk` chunk per tag, patches the RIFF and `data` sizes,
    /// flushes, and returns the writer positioned at the end of the file.
    pub fn finish(mut self, tags: &[(String, String)]) -> Result<W> {
        let ch = u64::from(self.spec.channels);
        if self.samples % ch != 0 {
            return Err(AudioError::UnsupportedOutput(format!(
                "incomplete final frame: {} samples is not a multiple of {} channels",
                self.samples, ch
            )));
        }
        for (k, v) in tags {
            validate_tag(k, v)?;
        }
        let w = &mut self.writer;
        if self.data_bytes % 2 == 1 {
            w.write_all(&[0]).map_err(AudioError::Write)?;
        }
        write_tag_chunks(w, tags)?;
        let end = w.stream_position().map_err(AudioError::Write)?;
        let riff_size = u32::try_from(end - self.start - 8).map_err(|_| {
            AudioError::UnsupportedOutput("wav output exceeds the 4 gib riff size limit".into())
        })?;
        // Checked against the limit in `write_interleaved`.
        let data_size = self.data_bytes as u32;
        w.seek(SeekFrom::Start(self.start + 4))
            .map_err(AudioError::Write)?;
        w.write_all(&riff_size.to_le_bytes())
            .map_err(AudioError::Write)?;
        w.seek(SeekFrom::Start(self.data_len_pos))
            .map_err(AudioError::Write)?;
        w.write_all(&data_size.to_le_bytes())
            .map_err(AudioError::Write)?;
        w.seek(SeekFrom::Start(end)).map_err(AudioError::Write)?;
        w.flush().map_err(AudioError::Write)?;
        Ok(self.writer)
    }
}

/// The RIFF header up to and including the `data` chunk's (zero) size field,
/// as hound writes it for `spec`.
fn hound_header(spec: &WriterSpec) -> Result<Vec<u8>> {
    let hspec = hound::WavSpec {
        channels: spec.channels,
        sample_rate: spec.sample_rate,
        bits_per_sample: spec.sample_format.bits(),
        sample_format: match spec.sample_format {
            SampleFormat::F32 => hound::SampleFormat::Float,
            SampleFormat::I16 | SampleFormat::I24 => hound::SampleFormat::Int,
        },
    };
    let mut cursor = std::io::Cursor::new(Vec::with_capacity(80));
    let w = hound::WavWriter::new(&mut cursor, hspec)
        .map_err(|e| AudioError::UnsupportedOutput(format!("wav header: {e}")))?;
    w.finalize()
        .map_err(|e| AudioError::UnsupportedOutput(format!("wav header: {e}")))?;
    let header = cursor.into_inner();
    let n = header.len();
    if n < 12 || &header[n - 8..n - 4] != b"data" {
        return Err(AudioError::Encode(
            "unexpected wav header layout from hound".into(),
        ));
    }
    Ok(header)
}

/// Writes one `emrk` chunk per tag (`KEY=VALUE`, padded to even length).
///
/// This is the single place where WAV tags are serialised.
fn write_tag_chunks<W: Write>(w: &mut W, tags: &[(String, String)]) -> Result<()> {
    for (k, v) in tags {
        let len = k.len() + 1 + v.len();
        let len32 = u32::try_from(len)
            .map_err(|_| AudioError::InvalidTag(format!("value of {k:?} is too long")))?;
        let mut chunk = Vec::with_capacity(8 + len + 1);
        chunk.extend_from_slice(&TAG_CHUNK_ID);
        chunk.extend_from_slice(&len32.to_le_bytes());
        chunk.extend_from_slice(k.as_bytes());
        chunk.push(b'=');
        chunk.extend_from_slice(v.as_bytes());
        if len % 2 == 1 {
            chunk.push(0);
        }
        w.write_all(&chunk).map_err(AudioError::Write)?;
    }
    Ok(())
}

/// Reads every `emrk` chunk of a RIFF/WAVE file, in file order.
///
/// The walk is lenient about the end of the file: a chunk that claims to run
/// past the end (for example the `data` chunk of a file whose writer was
/// interrupted) stops the walk and the tags found so far are returned.
pub(crate) fn read_tags<R: Read + Seek>(mut r: R) -> Result<Vec<(String, String)>> {
    let file_len = r.seek(SeekFrom::End(0)).map_err(AudioError::Read)?;
    let mut pos = 12u64;
    let mut tags = Vec::new();
    while pos + 8 <= file_len {
        r.seek(SeekFrom::Start(pos)).map_err(AudioError::Read)?;
        let mut head = [0u8; 8];
        r.read_exact(&mut head).map_err(AudioError::Read)?;
        let size = u64::from(u32::from_le_bytes([head[4], head[5], head[6], head[7]]));
        let body = pos + 8;
        if body + size > file_len {
            break;
        }
        if head[0..4] == TAG_CHUNK_ID {
            let mut data = vec![0u8; size as usize];
            r.read_exact(&mut data).map_err(AudioError::Read)?;
            tags.push(split_tag(&data, "wav emrk")?);
        }
        pos = body + size + (size & 1);
    }
    Ok(tags)
}
