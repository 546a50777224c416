//! Streaming WAV writer.
//!
//! The RIFF/`fmt ` header comes from hound (which picks
//! `WAVE_FORMAT_EXTENSIBLE` for more than two channels or more than 16 bits);
//! sample data is written in bulk; metadata chunks (`LIST`/`INFO`, `ID3 `,
//! `_PMX`, ...) follow the `data` chunk. On a seekable output the sizes are
//! patched at [`WavWriter::finish`]; [`WavWriter::with_sizes`] writes them
//! up front (known from an earlier pass) for outputs that cannot seek.

use std::io::{Seek, SeekFrom, Write};

use super::pcm::pack_le;
use super::{AudioError, Result, RiffChunk, SampleFormat, WriterSpec};
use crate::container::riff::{self, Order};

/// Samples converted per bulk write.
const BATCH: usize = 8192;

/// Bytes `chunks` take in a RIFF file (headers and pad bytes included).
fn chunks_len(chunks: &[RiffChunk]) -> u64 {
    chunks
        .iter()
        .map(|(_, d)| 8 + d.len() as u64 + (d.len() as u64 & 1))
        .sum()
}

/// Streaming WAV writer: 16-bit or 24-bit integer, or 32-bit float, any
/// channel count. Memory use is constant.
///
/// RIFF sizes are 32-bit, so the whole file must stay under 4 GiB; writing
/// more is an [`AudioError::UnsupportedOutput`] error.
#[derive(Debug)]
pub struct WavWriter<W: Write> {
    writer: W,
    spec: WriterSpec,
    /// Stream position of the `RIFF` magic.
    start: u64,
    /// Bytes of the header (everything before the sample data).
    header_len: u64,
    /// Sample data bytes written so far.
    data_bytes: u64,
    /// Samples written so far (not frames).
    samples: u64,
    /// Reusable bytes of one batch.
    bytes: Vec<u8>,
}

impl<W: Write> WavWriter<W> {
    fn begin(
        mut writer: W,
        spec: WriterSpec,
        start: u64,
        sizes: Option<(u32, u32)>,
    ) -> Result<Self> {
        if spec.channels == 0 {
            return Err(AudioError::UnsupportedOutput(
                "wav needs at least 1 channel".into(),
            ));
        }
        if spec.sample_rate == 0 {
            return Err(AudioError::UnsupportedOutput("sample rate 0 hz".into()));
        }
        let mut header = hound_header(&spec)?;
        if let Some((riff_size, data_size)) = sizes {
            let n = header.len();
            header[4..8].copy_from_slice(&riff_size.to_le_bytes());
            header[n - 4..].copy_from_slice(&data_size.to_le_bytes());
        }
        writer.write_all(&header).map_err(AudioError::Write)?;
        let bytes_per_sample = usize::from(spec.sample_format.bits() / 8);
        Ok(WavWriter {
            writer,
            spec,
            start,
            header_len: header.len() as u64,
            data_bytes: 0,
            samples: 0,
            bytes: Vec::with_capacity(BATCH * bytes_per_sample),
        })
    }

    /// Writes a header whose sizes already count `frames` frames and the
    /// metadata `chunks` [`finish_streamed`](Self::finish_streamed) will
    /// append, so `writer` need not seek.
    pub fn with_sizes(
        writer: W,
        spec: WriterSpec,
        frames: u64,
        chunks: &[RiffChunk],
    ) -> Result<Self> {
        let header_len = hound_header(&spec)?.len() as u64;
        let data = frames * u64::from(spec.channels) * u64::from(spec.sample_format.bits() / 8);
        let total = header_len + data + (data & 1) + chunks_len(chunks);
        let too_big = || {
            AudioError::UnsupportedOutput(
                "wav output would exceed the 4 gib riff size limit".into(),
            )
        };
        let riff_size = u32::try_from(total - 8).map_err(|_| too_big())?;
        let data_size = u32::try_from(data).map_err(|_| too_big())?;
        Self::begin(writer, spec, 0, Some((riff_size, data_size)))
    }

    /// The spec being written.
    pub fn spec(&self) -> WriterSpec {
        self.spec
    }

    /// Complete frames written so far.
    pub fn frames_written(&self) -> u64 {
        self.samples / u64::from(self.spec.channels)
    }

    /// Writes interleaved samples already quantised for this spec (`f32`
    /// samples as their bit patterns).
    pub fn write_quantized(&mut self, samples: &[i32]) -> Result<()> {
        let mut bytes = std::mem::take(&mut self.bytes);
        let mut result = Ok(());
        for chunk in samples.chunks(BATCH) {
            pack_le(chunk, self.spec.sample_format, &mut bytes);
            result = self.write_packed(&bytes, chunk.len());
            if result.is_err() {
                break;
            }
        }
        self.bytes = bytes;
        result
    }

    /// Writes `count` samples already packed by [`pack_le`] for this spec.
    pub fn write_packed(&mut self, packed: &[u8], count: usize) -> Result<()> {
        let new_total = self.data_bytes + packed.len() as u64;
        // Leave room for the pad byte and metadata chunks within the 32-bit
        // RIFF size.
        if self.header_len + new_total > u64::from(u32::MAX) - (1 << 20) {
            return Err(AudioError::UnsupportedOutput(
                "wav output would exceed the 4 gib riff size limit".into(),
            ));
        }
        self.writer.write_all(packed).map_err(AudioError::Write)?;
        self.data_bytes = new_total;
        self.samples += count as u64;
        Ok(())
    }

    /// Checks for whole frames, then writes the pad byte and `chunks`.
    fn write_tail(&mut self, chunks: &[RiffChunk]) -> Result<()> {
        let ch = u64::from(self.spec.channels);
        if self.samples % ch != 0 {
            return Err(AudioError::UnsupportedOutput(format!(
                "incomplete final frame: {} samples is not a multiple of {} channels",
                self.samples, ch
            )));
        }
        let w = &mut self.writer;
        if self.data_bytes % 2 == 1 {
            w.write_all(&[0]).map_err(AudioError::Write)?;
        }
        for (id, data) in chunks {
            riff::write_chunk(w, Order::Little, id, data).map_err(AudioError::Write)?;
        }
        Ok(())
    }

    /// Completes a file started with [`with_sizes`](Self::with_sizes):
    /// appends `chunks` (the same ones) and fails if the frame count
    /// differs from the one promised.
    pub fn finish_streamed(mut self, frames: u64, chunks: &[RiffChunk]) -> Result<W> {
        if self.frames_written() != frames {
            return Err(AudioError::Encode(
                "the samples differ from the first pass (the input changed while it was read)"
                    .into(),
            ));
        }
        self.write_tail(chunks)?;
        self.writer.flush().map_err(AudioError::Write)?;
        Ok(self.writer)
    }
}

impl<W: Write + Seek> WavWriter<W> {
    /// Writes the WAV header at the writer's current position.
    pub fn new(mut writer: W, spec: WriterSpec) -> Result<Self> {
        let start = writer.stream_position().map_err(AudioError::Write)?;
        Self::begin(writer, spec, start, None)
    }

    /// Appends `chunks` (each `(id, data)`) after the samples, patches the
    /// RIFF and `data` sizes, flushes, and returns the writer positioned at
    /// the end of the file.
    pub fn finish(mut self, chunks: &[RiffChunk]) -> Result<W> {
        self.write_tail(chunks)?;
        let w = &mut self.writer;
        let end = w.stream_position().map_err(AudioError::Write)?;
        let riff_size = u32::try_from(end - self.start - 8).map_err(|_| {
            AudioError::UnsupportedOutput("wav output exceeds the 4 gib riff size limit".into())
        })?;
        // Checked against the limit in `write_quantized`.
        let data_size = self.data_bytes as u32;
        w.seek(SeekFrom::Start(self.start + 4))
            .map_err(AudioError::Write)?;
        w.write_all(&riff_size.to_le_bytes())
            .map_err(AudioError::Write)?;
        w.seek(SeekFrom::Start(self.start + self.header_len - 4))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seekable_and_streamed_outputs_are_identical() {
        let spec = WriterSpec {
            sample_rate: 8_000,
            channels: 3,
            sample_format: SampleFormat::I24,
        };
        let x: Vec<f32> = (0..3 * 1001)
            .map(|i| (i as f32 * 0.01).sin() * 0.5)
            .collect();
        let chunks = vec![
            (*b"LIST", b"INFOabc".to_vec()),
            (*b"_PMX", b"<x/>".to_vec()),
        ];
        let mut q = Vec::new();
        crate::audio::quantize_into(&x, spec.sample_format, &mut q);
        let mut a = WavWriter::new(std::io::Cursor::new(Vec::new()), spec).unwrap();
        a.write_quantized(&q).unwrap();
        let a = a.finish(&chunks).unwrap().into_inner();
        let mut b = WavWriter::with_sizes(Vec::new(), spec, 1001, &chunks).unwrap();
        b.write_quantized(&q).unwrap();
        let b = b.finish_streamed(1001, &chunks).unwrap();
        assert_eq!(a, b);
        let found = riff::chunks_in(&a).unwrap();
        assert_eq!(found.last().unwrap().1, b"<x/>".to_vec());
        let r = hound::WavReader::new(std::io::Cursor::new(&a)).unwrap();
        assert_eq!(r.len(), 3 * 1001);
    }
}
