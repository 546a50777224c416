//! Streaming WAV writer.
//!
//! The RIFF/`fmt ` header comes from hound (which picks
//! `WAVE_FORMAT_EXTENSIBLE` for more than two channels or more than 16 bits);
//! sample data is written in bulk; metadata chunks (`LIST`/`INFO`, `ID3 `,
//! `_PMX`, ...) follow the `data` chunk. On a seekable output the sizes are
//! patched at [`WavWriter::finish`]; [`WavWriter::with_sizes`] writes them
//! up front (known from an earlier pass) for outputs that cannot seek.
//!
//! A file that will not fit RIFF's 32-bit sizes (4 GiB) is written as RF64
//! (EBU Tech 3306): `RF64` instead of `RIFF`, `0xFFFFFFFF` in the 32-bit
//! RIFF and `data` sizes, and the real sizes in a `ds64` chunk before
//! `fmt `. Smaller files stay plain RIFF, byte for byte as before.

use std::io::{Seek, SeekFrom, Write};

use super::pcm::pack_le;
use super::{AudioError, Result, RiffChunk, SampleFormat, WriterSpec};
use crate::container::riff::{self, Order};

/// Samples converted per bulk write.
const BATCH: usize = 8192;

/// Bytes of sample data above which a file is written as RF64: the 32-bit
/// RIFF size less room for the header and the metadata chunks.
const RIFF_DATA_LIMIT: u64 = u32::MAX as u64 - (1 << 20);

/// Bytes of the `ds64` chunk's body: RIFF size, `data` size and sample
/// count (64-bit each), and an empty table of other chunk sizes.
const DS64_BODY: usize = 28;

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
/// RIFF sizes are 32-bit: a file that will not fit 4 GiB is written as RF64
/// when its length is known before the first sample
/// ([`with_expected_frames`](Self::with_expected_frames),
/// [`with_sizes`](Self::with_sizes)); otherwise writing past 4 GiB is an
/// [`AudioError::UnsupportedOutput`] error.
#[derive(Debug)]
pub struct WavWriter<W: Write> {
    writer: W,
    spec: WriterSpec,
    /// Whether the header is RF64's (sizes in `ds64`).
    rf64: bool,
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
        rf64: bool,
        sizes: Option<(u64, u64)>,
    ) -> Result<Self> {
        if spec.channels == 0 {
            return Err(AudioError::UnsupportedOutput(
                "wav needs at least 1 channel".into(),
            ));
        }
        if spec.sample_rate == 0 {
            return Err(AudioError::UnsupportedOutput("sample rate 0 hz".into()));
        }
        let mut header = header(&spec, rf64)?;
        if let Some((riff_size, data_size)) = sizes {
            let frames = data_size / frame_bytes(&spec);
            patch_sizes(&mut header, rf64, riff_size, data_size, frames);
        }
        writer.write_all(&header).map_err(AudioError::Write)?;
        let bytes_per_sample = usize::from(spec.sample_format.bits() / 8);
        Ok(WavWriter {
            writer,
            spec,
            rf64,
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
        let data = frames * frame_bytes(&spec);
        let total = |rf64| -> Result<u64> {
            let header_len = header(&spec, rf64)?.len() as u64;
            Ok(header_len + data + (data & 1) + chunks_len(chunks))
        };
        let rf64 = data > RIFF_DATA_LIMIT || total(false)? - 8 > u64::from(u32::MAX);
        Self::begin(writer, spec, 0, rf64, Some((total(rf64)? - 8, data)))
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
        if !self.rf64 && self.header_len + new_total > RIFF_DATA_LIMIT {
            return Err(AudioError::UnsupportedOutput(
                "wav output would exceed the 4 gib riff size limit (its length was not known before writing, so it could not be written as rf64)".into(),
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
    pub fn new(writer: W, spec: WriterSpec) -> Result<Self> {
        Self::with_expected_frames(writer, spec, None)
    }

    /// Writes the WAV header at the writer's current position for about
    /// `frames` frames (when known): RF64's if they will not fit 4 GiB.
    /// The sizes written at [`finish`](Self::finish) are the real ones.
    pub fn with_expected_frames(
        mut writer: W,
        spec: WriterSpec,
        frames: Option<u64>,
    ) -> Result<Self> {
        let start = writer.stream_position().map_err(AudioError::Write)?;
        let data = frames.map_or(0, |f| f.saturating_mul(frame_bytes(&spec)));
        Self::begin(writer, spec, start, data > RIFF_DATA_LIMIT, None)
    }

    /// Appends `chunks` (each `(id, data)`) after the samples, patches the
    /// RIFF and `data` sizes (RF64's `ds64` sizes when the header is
    /// RF64's), flushes, and returns the writer positioned at the end of
    /// the file.
    pub fn finish(mut self, chunks: &[RiffChunk]) -> Result<W> {
        self.write_tail(chunks)?;
        let frames = self.frames_written();
        let w = &mut self.writer;
        let end = w.stream_position().map_err(AudioError::Write)?;
        let riff_size = end - self.start - 8;
        if !self.rf64 && riff_size > u64::from(u32::MAX) {
            return Err(AudioError::UnsupportedOutput(
                "wav output exceeds the 4 gib riff size limit".into(),
            ));
        }
        // The header again, sizes filled in (checked against the limit in
        // `write_packed`).
        let mut head = header(&self.spec, self.rf64)?;
        patch_sizes(&mut head, self.rf64, riff_size, self.data_bytes, frames);
        w.seek(SeekFrom::Start(self.start))
            .map_err(AudioError::Write)?;
        w.write_all(&head).map_err(AudioError::Write)?;
        w.seek(SeekFrom::Start(end)).map_err(AudioError::Write)?;
        w.flush().map_err(AudioError::Write)?;
        Ok(self.writer)
    }
}

/// Bytes of one frame of `spec`.
fn frame_bytes(spec: &WriterSpec) -> u64 {
    u64::from(spec.channels) * u64::from(spec.sample_format.bits() / 8)
}

/// The header up to and including the `data` chunk's size field: hound's
/// RIFF header, or with `rf64` the same as RF64 with an (empty) `ds64`
/// chunk after `WAVE`.
fn header(spec: &WriterSpec, rf64: bool) -> Result<Vec<u8>> {
    let riff = hound_header(spec)?;
    if !rf64 {
        return Ok(riff);
    }
    let mut h = Vec::with_capacity(riff.len() + 8 + DS64_BODY);
    h.extend_from_slice(b"RF64");
    h.extend_from_slice(&u32::MAX.to_le_bytes());
    h.extend_from_slice(b"WAVE");
    h.extend_from_slice(b"ds64");
    h.extend_from_slice(&(DS64_BODY as u32).to_le_bytes());
    h.extend_from_slice(&[0; DS64_BODY]);
    h.extend_from_slice(&riff[12..]);
    let n = h.len();
    h[n - 4..].copy_from_slice(&u32::MAX.to_le_bytes());
    Ok(h)
}

/// Fills the sizes into a [`header`]: the 32-bit RIFF and `data` sizes, or
/// for RF64 the `ds64` chunk's (the 32-bit fields stay `0xFFFFFFFF`).
fn patch_sizes(header: &mut [u8], rf64: bool, riff_size: u64, data_size: u64, frames: u64) {
    let n = header.len();
    if rf64 {
        header[20..28].copy_from_slice(&riff_size.to_le_bytes());
        header[28..36].copy_from_slice(&data_size.to_le_bytes());
        header[36..44].copy_from_slice(&frames.to_le_bytes());
    } else {
        // Callers keep plain RIFF files within 32-bit sizes.
        header[4..8].copy_from_slice(&(riff_size as u32).to_le_bytes());
        header[n - 4..].copy_from_slice(&(data_size as u32).to_le_bytes());
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

    /// Samples of a WAV/RF64 file as the crate's reader decodes them.
    fn decoded(bytes: Vec<u8>) -> (crate::audio::AudioSpec, Vec<f32>) {
        let mut r = crate::audio::AudioReader::from_bytes(bytes, Some("wav")).unwrap();
        let mut all = Vec::new();
        let mut chunk = Vec::new();
        while r.read_chunk(&mut chunk).unwrap() > 0 {
            all.extend_from_slice(&chunk);
        }
        (r.spec(), all)
    }

    #[test]
    fn a_file_expected_over_4_gib_is_rf64_with_its_real_sizes() {
        let spec = WriterSpec {
            sample_rate: 48_000,
            channels: 2,
            sample_format: SampleFormat::I16,
        };
        // 4 bytes a frame: this many frames would not fit RIFF's 32 bits.
        let over = u64::from(u32::MAX) / 4 + 1;
        let q: Vec<i32> = (0..2 * 1001).map(|i| (i % 200) * 100 - 10_000).collect();
        let chunks = vec![(*b"LIST", b"INFOabc".to_vec())];
        let write = |hint| {
            let mut w =
                WavWriter::with_expected_frames(std::io::Cursor::new(Vec::new()), spec, hint)
                    .unwrap();
            w.write_quantized(&q).unwrap();
            w.finish(&chunks).unwrap().into_inner()
        };
        let rf64 = write(Some(over));
        let riff = write(Some(1001));
        assert_eq!(riff, write(None), "a known small length changes nothing");
        assert_eq!(&riff[0..4], b"RIFF");
        assert_eq!(&rf64[0..4], b"RF64");
        assert_eq!(&rf64[4..8], &u32::MAX.to_le_bytes());
        assert_eq!(&rf64[12..20], b"ds64\x1c\0\0\0");
        let u64_at = |i: usize| u64::from_le_bytes(rf64[i..i + 8].try_into().unwrap());
        assert_eq!(u64_at(20), rf64.len() as u64 - 8, "ds64 RIFF size");
        assert_eq!(u64_at(28), 4 * 1001, "ds64 data size");
        assert_eq!(u64_at(36), 1001, "ds64 sample count");
        assert_eq!(rf64.len(), riff.len() + 36);
        // The same samples and metadata as the RIFF file, read back.
        let (a, x) = decoded(rf64.clone());
        let (b, y) = decoded(riff);
        assert_eq!(
            (a.frames, a.sample_rate, a.channels),
            (Some(1001), 48_000, 2)
        );
        assert_eq!((b.frames, x.len()), (Some(1001), y.len()));
        assert_eq!(x, y);
        let found = riff::chunks_in(&rf64).unwrap();
        assert_eq!(found.last().unwrap().1, b"INFOabc".to_vec());
    }

    #[test]
    fn a_streamed_file_over_4_gib_gets_an_rf64_header() {
        let spec = WriterSpec {
            sample_rate: 44_100,
            channels: 2,
            sample_format: SampleFormat::I24,
        };
        let frames = u64::from(u32::MAX) / 6 + 1;
        let w = WavWriter::with_sizes(Vec::new(), spec, frames, &[]).unwrap();
        let head = w.writer;
        assert_eq!(&head[0..4], b"RF64");
        assert_eq!(&head[12..16], b"ds64");
        let u64_at = |i: usize| u64::from_le_bytes(head[i..i + 8].try_into().unwrap());
        assert_eq!(u64_at(28), frames * 6);
        assert_eq!(u64_at(36), frames);
        assert_eq!(u64_at(20), head.len() as u64 + frames * 6 - 8);
        assert_eq!(&head[head.len() - 8..head.len() - 4], b"data");
        assert_eq!(&head[head.len() - 4..], &u32::MAX.to_le_bytes());
    }
}
