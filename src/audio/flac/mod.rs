//! Streaming FLAC writer: the stream around the frames (STREAMINFO, the
//! metadata blocks, the MD5) around the frames of earmark's own frame
//! encoder (`frames.rs`: pure Rust, runtime-dispatched SIMD).
//!
//! # Layout
//!
//! `fLaC`, STREAMINFO, the metadata blocks, a PADDING block, then the audio
//! frames, [`BLOCK_SIZE`] frames each (the last may be shorter; STREAMINFO
//! keeps `min == max == BLOCK_SIZE`, as a fixed-blocksize stream must).
//!
//! Two ways to write it:
//!
//! * [`FlacWriter::new`] on a `Write + Seek` output reserves room for the
//!   metadata after STREAMINFO, streams the frames, and at
//!   [`FlacWriter::finish`] seeks back to fill in STREAMINFO (length, MD5,
//!   frame sizes) and the metadata blocks, padding the rest of the reserve.
//! * [`FlacWriter::with_header`] on any `Write` writes the final header
//!   first (length and MD5 known from an earlier pass; frame sizes left
//!   "unknown") and needs no seeking.
//!
//! Memory does not grow with the recording: one block of samples is
//! buffered at a time.

mod frames;

use std::fmt;
use std::io::{Seek, SeekFrom, Write};

use super::{AudioError, FlacBlock, FlacMd5, Result, SampleFormat, WriterSpec};
use crate::container::flac::{
    push_block_header, StreamInfo, MAX_BLOCK_LEN, PADDING, STREAMINFO, STREAMINFO_LEN,
};
use frames::{FrameEncoder, FrameSpec};

/// Frames per FLAC block (the FLAC and libFLAC default).
pub const BLOCK_SIZE: usize = 4096;

/// Bytes of PADDING a stamped file keeps after its metadata, so a tag
/// editor can grow the tags without rewriting the audio (`flac` leaves
/// 8 KiB; `metaflac` and taggers use it).
pub const PADDING_BYTES: usize = 4096;

/// Length of a header made of `blocks` plus a PADDING block of `padding`
/// body bytes (everything before the first frame).
pub(crate) fn header_len(blocks: &[FlacBlock], padding: usize) -> usize {
    4 + 4 + STREAMINFO_LEN + blocks.iter().map(|(_, b)| 4 + b.len()).sum::<usize>() + 4 + padding
}

/// Streaming FLAC writer: 16- or 24-bit, 1 to 8 channels, sample rates
/// 1..=655350 Hz. A [`SampleFormat::F32`] spec is written as 24-bit.
pub struct FlacWriter<W: Write> {
    writer: W,
    spec: WriterSpec,
    /// Stream position of the `fLaC` magic.
    start: u64,
    /// Bytes reserved after STREAMINFO for metadata blocks, besides the
    /// final PADDING block's header (seekable mode).
    reserve: usize,
    encoder: FrameEncoder,
    /// MD5 of the samples.
    md5: FlacMd5,
    /// Quantised interleaved samples of the block being filled.
    block: Vec<i32>,
    /// The frame being written.
    frame: Vec<u8>,
    frame_number: u64,
    /// Samples (not frames) accepted so far.
    samples: u64,
    min_frame_bytes: u32,
    max_frame_bytes: u32,
}

impl<W: Write> fmt::Debug for FlacWriter<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlacWriter")
            .field("spec", &self.spec)
            .field("start", &self.start)
            .field("frame_number", &self.frame_number)
            .field("samples", &self.samples)
            .finish_non_exhaustive()
    }
}

/// The spec FLAC stores for `spec` (float becomes 24-bit), checked.
fn flac_spec(spec: WriterSpec) -> Result<WriterSpec> {
    let spec = WriterSpec {
        sample_format: match spec.sample_format {
            SampleFormat::F32 => SampleFormat::I24,
            f => f,
        },
        ..spec
    };
    if !(1..=8).contains(&spec.channels) {
        return Err(AudioError::UnsupportedOutput(format!(
            "flac supports 1 to 8 channels, got {}",
            spec.channels
        )));
    }
    if !(1..=655_350).contains(&spec.sample_rate) {
        return Err(AudioError::UnsupportedOutput(format!(
            "flac supports sample rates 1 to 655350 hz, got {}",
            spec.sample_rate
        )));
    }
    Ok(spec)
}

fn stream_info(
    spec: &WriterSpec,
    total_frames: u64,
    md5: [u8; 16],
    sizes: (u32, u32),
) -> StreamInfo {
    StreamInfo {
        block_size: (BLOCK_SIZE as u16, BLOCK_SIZE as u16),
        frame_bytes: sizes,
        sample_rate: spec.sample_rate,
        channels: spec.channels as u8,
        bits: spec.sample_format.bits() as u8,
        total_frames,
        md5,
    }
}

/// `fLaC`, STREAMINFO, `blocks` and a PADDING block of `padding` bytes.
fn header(info: StreamInfo, blocks: &[FlacBlock], padding: usize) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(header_len(blocks, padding));
    out.extend_from_slice(b"fLaC");
    push_block_header(&mut out, false, STREAMINFO, STREAMINFO_LEN);
    out.extend_from_slice(&info.to_bytes());
    for (kind, body) in blocks {
        if body.len() > MAX_BLOCK_LEN {
            return Err(AudioError::UnsupportedOutput(format!(
                "a flac metadata block of {} bytes is over the 16 mib limit",
                body.len()
            )));
        }
        push_block_header(&mut out, false, *kind, body.len());
        out.extend_from_slice(body);
    }
    push_block_header(&mut out, true, PADDING, padding);
    out.resize(out.len() + padding, 0);
    Ok(out)
}

impl<W: Write> FlacWriter<W> {
    fn start(writer: W, spec: WriterSpec, start: u64, reserve: usize) -> Result<Self> {
        let channels = usize::from(spec.channels);
        let encoder = FrameEncoder::new(FrameSpec {
            sample_rate: spec.sample_rate,
            channels: spec.channels as u8,
            bits_per_sample: spec.sample_format.bits() as u8,
            block_size: BLOCK_SIZE as u16,
        })
        .map_err(|e| AudioError::Encode(e.to_string()))?;
        Ok(FlacWriter {
            writer,
            spec,
            start,
            reserve,
            encoder,
            md5: FlacMd5::new(&spec),
            block: Vec::with_capacity(BLOCK_SIZE * channels),
            frame: Vec::with_capacity(BLOCK_SIZE * channels * 4),
            frame_number: 0,
            samples: 0,
            min_frame_bytes: u32::MAX,
            max_frame_bytes: 0,
        })
    }

    /// Writes the complete header first (`total_frames` and `md5` known from
    /// an earlier pass over the same samples, frame sizes left unknown, then
    /// `blocks` and `padding` bytes of PADDING), so `writer` need not seek.
    /// [`finish_streamed`](Self::finish_streamed) then checks that the
    /// samples matched.
    pub fn with_header(
        mut writer: W,
        spec: WriterSpec,
        total_frames: u64,
        md5: [u8; 16],
        blocks: &[FlacBlock],
        padding: usize,
    ) -> Result<Self> {
        let spec = flac_spec(spec)?;
        let head = header(
            stream_info(&spec, total_frames, md5, (0, 0)),
            blocks,
            padding,
        )?;
        writer.write_all(&head).map_err(AudioError::Write)?;
        Self::start(writer, spec, 0, 0)
    }

    /// The spec being written (F32 already mapped to I24).
    pub fn spec(&self) -> WriterSpec {
        self.spec
    }

    /// Complete frames written so far.
    pub fn frames_written(&self) -> u64 {
        self.samples / u64::from(self.spec.channels)
    }

    /// Writes interleaved samples already quantised for this spec (see
    /// [`super::pcm::quantize`]).
    pub fn write_quantized(&mut self, samples: &[i32]) -> Result<()> {
        self.md5.update(samples);
        self.push(samples)
    }

    /// As [`write_quantized`](Self::write_quantized), with the samples also
    /// packed by [`super::pcm::pack_le`] (hashed for the MD5 as they are).
    pub fn write_quantized_packed(&mut self, samples: &[i32], packed: &[u8]) -> Result<()> {
        self.md5.update_packed(packed);
        self.push(samples)
    }

    /// Buffers samples into blocks, encoding each full one.
    fn push(&mut self, samples: &[i32]) -> Result<()> {
        let full = BLOCK_SIZE * usize::from(self.spec.channels);
        let mut rest = samples;
        while !rest.is_empty() {
            let take = (full - self.block.len()).min(rest.len());
            self.block.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.block.len() == full {
                self.encode_block()?;
            }
        }
        self.samples += samples.len() as u64;
        Ok(())
    }

    /// Encodes and writes the buffered block (the last one may be short).
    fn encode_block(&mut self) -> Result<()> {
        if self.block.is_empty() {
            return Ok(());
        }
        self.frame.clear();
        self.encoder
            .encode_frame(&self.block, self.frame_number, &mut self.frame);
        self.writer
            .write_all(&self.frame)
            .map_err(AudioError::Write)?;
        let n = self.frame.len() as u32;
        self.min_frame_bytes = self.min_frame_bytes.min(n);
        self.max_frame_bytes = self.max_frame_bytes.max(n);
        self.frame_number += 1;
        self.block.clear();
        Ok(())
    }

    /// Flushes the last block; returns the total frames and the MD5.
    fn flush_last(&mut self) -> Result<(u64, [u8; 16])> {
        let ch = u64::from(self.spec.channels);
        if self.samples % ch != 0 {
            return Err(AudioError::UnsupportedOutput(format!(
                "incomplete final frame: {} samples is not a multiple of {ch} channels",
                self.samples
            )));
        }
        self.encode_block()?;
        let total = self.samples / ch;
        if total >= 1 << 36 {
            return Err(AudioError::UnsupportedOutput(
                "flac cannot record more than 2^36 frames".into(),
            ));
        }
        Ok((total, self.md5.clone().finish()))
    }

    /// Completes a stream started with [`with_header`](Self::with_header):
    /// fails if the samples were not the `total_frames` and `md5` the header
    /// promised.
    pub fn finish_streamed(mut self, total_frames: u64, md5: [u8; 16]) -> Result<W> {
        let got = self.flush_last()?;
        if got != (total_frames, md5) {
            return Err(AudioError::Encode(
                "the samples differ from the first pass (the input changed while it was read)"
                    .into(),
            ));
        }
        self.writer.flush().map_err(AudioError::Write)?;
        Ok(self.writer)
    }
}

impl<W: Write + Seek> FlacWriter<W> {
    /// Starts a FLAC stream at the writer's current position, reserving
    /// `reserve` bytes after STREAMINFO for the metadata blocks
    /// [`finish`](Self::finish) writes (their headers included; see
    /// [`super::OutputTags::flac_len`]). What they leave of it becomes a
    /// PADDING block.
    pub fn new(mut writer: W, spec: WriterSpec, reserve: usize) -> Result<Self> {
        let spec = flac_spec(spec)?;
        let start = writer.stream_position().map_err(AudioError::Write)?;
        let head = header(stream_info(&spec, 0, [0; 16], (0, 0)), &[], reserve)?;
        writer.write_all(&head).map_err(AudioError::Write)?;
        Self::start(writer, spec, start, reserve)
    }

    /// Encodes the last block, then seeks back to write STREAMINFO and
    /// `blocks` (each `(type, body)`) into the reserve, padding what is left;
    /// returns the writer positioned at the end of the stream.
    ///
    /// Fails if the samples written do not form whole frames or the blocks
    /// do not fit in the reserve.
    pub fn finish(mut self, blocks: &[FlacBlock]) -> Result<W> {
        let (total, md5) = self.flush_last()?;
        let sizes = if self.frame_number == 0 {
            (0, 0)
        } else {
            (self.min_frame_bytes, self.max_frame_bytes)
        };
        let needed = header_len(blocks, 0) - (8 + STREAMINFO_LEN + 4);
        if needed > self.reserve {
            return Err(AudioError::TagsTooLarge {
                needed,
                available: self.reserve,
            });
        }
        let padding = self.reserve - needed;
        let head = header(stream_info(&self.spec, total, md5, sizes), blocks, padding)?;
        let w = &mut self.writer;
        let end = w.stream_position().map_err(AudioError::Write)?;
        w.seek(SeekFrom::Start(self.start))
            .map_err(AudioError::Write)?;
        w.write_all(&head).map_err(AudioError::Write)?;
        w.seek(SeekFrom::Start(end)).map_err(AudioError::Write)?;
        w.flush().map_err(AudioError::Write)?;
        Ok(self.writer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::flac::{blocks_in, VORBIS_COMMENT};

    #[test]
    fn metadata_fills_the_reserve_exactly() {
        let spec = WriterSpec {
            sample_rate: 44_100,
            channels: 2,
            sample_format: SampleFormat::I16,
        };
        let blocks = vec![(VORBIS_COMMENT, vec![7u8; 100])];
        let reserve = 4 + 100 + 50;
        let mut w = FlacWriter::new(std::io::Cursor::new(Vec::new()), spec, reserve).unwrap();
        w.write_quantized(&[8192; 2 * 5000]).unwrap();
        let bytes = w.finish(&blocks).unwrap().into_inner();
        let found = blocks_in(&bytes).unwrap();
        let kinds: Vec<(u8, usize)> = found.iter().map(|(k, b)| (*k, b.len())).collect();
        assert_eq!(
            kinds,
            vec![(STREAMINFO, 34), (VORBIS_COMMENT, 100), (PADDING, 50)]
        );
        // Too large for the reserve: refused, not written past it.
        let mut w = FlacWriter::new(std::io::Cursor::new(Vec::new()), spec, 103).unwrap();
        w.write_quantized(&[0; 20]).unwrap();
        assert!(matches!(
            w.finish(&blocks),
            Err(AudioError::TagsTooLarge { .. })
        ));
    }
}
