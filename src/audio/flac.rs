//! Streaming FLAC writer (flacenc frames, hand-written metadata) and
//! VORBIS_COMMENT tag reader.
//!
//! # Layout and streaming
//!
//! [`FlacWriter::new`] writes `fLaC`, a placeholder STREAMINFO block and a
//! [`TAG_SPACE`]-byte PADDING block. Samples are buffered eight
//! blocks ([`BLOCK_SIZE`] frames each) at a time; each batch is encoded with
//! `flacenc::encode_fixed_size_frame`, one block per task on rayon's thread
//! pool (the current pool, so `ThreadPool::install` and `RAYON_NUM_THREADS`
//! limit it), and written out in order, so memory does not grow with the
//! recording's length. Frames are independent, so the output bytes do not
//! depend on the number of threads. [`FlacWriter::finish`] encodes the last
//! batch, whose final block may be short, seeks back, rewrites STREAMINFO (total
//! samples, MD5, frame size bounds) and replaces the reserved padding with a
//! VORBIS_COMMENT block (vendor `earmark`) followed by a smaller PADDING
//! block. Tags that do not fit are an [`AudioError::TagsTooLarge`] error.
//!
//! # The flacenc 0.5.1 short-last-block trap
//!
//! `flacenc::encode_with_fixed_block_size` lets the short last frame lower
//! STREAMINFO's *minimum* block size (flacenc-rs issue 242). With
//! `min != max` the stream looks variable-blocksize, while the frame headers
//! carry frame numbers (fixed-blocksize): symphonia then rejects the last
//! frame and stops with "end of stream", and `flac -t` warns the file is not
//! seekable. The FLAC spec says a fixed-blocksize stream keeps
//! `min == max == blocksize` and only its last frame may be shorter. This
//! writer builds STREAMINFO itself with `min == max == BLOCK_SIZE`, and each
//! frame header (made by flacenc) states that frame's own block size, so a
//! short final frame is valid. The round-trip tests decode lengths that are
//! not multiples of the block size (including tails shorter than 16 frames)
//! bit-exactly.
//!
//! # Oversized frames
//!
//! flacenc 0.5.1's partitioned-rice parameter search overflows its 32-bit
//! bit-count tables on loud, noisy blocks (easy to hit with 24-bit noise) and
//! can then choose a rice parameter that makes a 4096-frame block take
//! gigabytes; it also keeps a predictor subframe even when it is larger than
//! verbatim. Every encoded frame's size is therefore checked against the
//! verbatim size, and a frame that is larger is re-encoded with predictors
//! and stereo decorrelation disabled (verbatim or constant subframes only).
//! The check costs a bit count, not a write.
//!
//! The MD5 in STREAMINFO is computed by flacenc's `source::Context` over the
//! quantised samples (one little-endian byte buffer per batch, hashed while
//! the batch is being encoded).
//!
//! # Encoder settings and speed
//!
//! flacenc's defaults except that fixed predictors are not tried: every
//! subframe is constant, LPC (order 10, 15-bit coefficients, Tukey window)
//! or verbatim, with the best of independent, left/side, right/side and
//! mid/side stereo. On the nine tracks in `test-audio` (16-bit) fixed
//! predictors never saved more than 0.1% of the PCM size, and skipping them
//! saves about 8% of the encoding time. About 60% of the time is LPC
//! analysis, whatever the order: flacenc computes autocorrelations with
//! `f64::mul_add`, which is a library call, not an instruction, on the
//! baseline x86-64 target. Measured on 3 minutes of rock (`cargo bench
//! --bench pipeline writer`), one thread: LPC order 10 gives 55.4% of the
//! PCM size at about 80x real time (libFLAC 1.4 `-5`: 56.5%, `-8`: 51.7%);
//! order 8, 56.6%; fixed predictors only, 66.8% (libFLAC `-2`: 66.7%) at
//! about three times the speed.

use std::fmt;
use std::io::{Read, Seek, SeekFrom, Write};

use flacenc::bitsink::MemSink;
use flacenc::component::{BitRepr, StreamInfo};
use flacenc::error::{Verified, Verify};
use flacenc::source::{Context, Fill, FrameBuf};
use rayon::prelude::*;

use super::pcm::quantize;
use super::{split_tag, validate_tag, AudioError, Result, SampleFormat, WriterSpec};

/// Frames per FLAC block (the FLAC and flacenc default).
pub const BLOCK_SIZE: usize = 4096;

/// Blocks gathered before they are encoded (in parallel) and written: 8
/// blocks are 0.74 s at 44.1 kHz, 256 KiB of stereo samples.
const BATCH_BLOCKS: usize = 8;

/// Bytes reserved after STREAMINFO for the VORBIS_COMMENT block and the
/// PADDING block that follows it (both including their 4-byte headers).
pub const TAG_SPACE: usize = 16 * 1024;

/// Vendor string of the VORBIS_COMMENT block.
pub const VENDOR: &str = "earmark";

const BLOCK_STREAMINFO: u8 = 0;
const BLOCK_PADDING: u8 = 1;
const BLOCK_VORBIS_COMMENT: u8 = 4;
const STREAMINFO_LEN: usize = 34;

/// Streaming FLAC writer: 16- or 24-bit, 1 to 8 channels, sample rates
/// 1..=655350 Hz. A [`SampleFormat::F32`] spec is written as 24-bit.
pub struct FlacWriter<W: Write + Seek> {
    writer: W,
    spec: WriterSpec,
    /// Stream position of the `fLaC` magic.
    start: u64,
    config: Verified<flacenc::config::Encoder>,
    /// Predictor-free configuration for the verbatim fallback.
    verbatim_config: Verified<flacenc::config::Encoder>,
    stream_info: StreamInfo,
    /// MD5 of the quantised samples.
    md5: Context,
    /// Little-endian bytes of a batch, for the MD5.
    md5_bytes: Vec<u8>,
    /// Interleaved quantised samples of the batch being filled (at most
    /// `BATCH_BLOCKS` blocks).
    pending: Vec<i32>,
    /// Encoding state of each block of a batch.
    slots: Vec<Slot>,
    /// Frame number of the first block of `pending`.
    frame_number: usize,
    /// Samples (not frames) accepted so far.
    samples: u64,
    min_frame_bytes: u32,
    max_frame_bytes: u32,
}

impl<W: Write + Seek> fmt::Debug for FlacWriter<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlacWriter")
            .field("spec", &self.spec)
            .field("start", &self.start)
            .field("frame_number", &self.frame_number)
            .field("samples", &self.samples)
            .finish_non_exhaustive()
    }
}

impl<W: Write + Seek> FlacWriter<W> {
    /// Writes the FLAC header (with placeholders) at the writer's current
    /// position.
    pub fn new(mut writer: W, spec: WriterSpec) -> Result<Self> {
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
        let channels = usize::from(spec.channels);
        let bits = usize::from(spec.sample_format.bits());
        let enc_err = |e: &dyn fmt::Display| AudioError::Encode(e.to_string());
        let mut config = flacenc::config::Encoder::default();
        config.block_size = BLOCK_SIZE;
        // Blocks are encoded in parallel here, not inside flacenc.
        config.multithread = false;
        // See the module docs: no measurable size gain, 8% of the time.
        config.subframe_coding.use_fixed = false;
        let mut verbatim = config.clone();
        verbatim.subframe_coding.use_fixed = false;
        verbatim.subframe_coding.use_lpc = false;
        verbatim.stereo_coding.use_leftside = false;
        verbatim.stereo_coding.use_rightside = false;
        verbatim.stereo_coding.use_midside = false;
        let config = config.into_verified().map_err(|(_, e)| enc_err(&e))?;
        let verbatim_config = verbatim.into_verified().map_err(|(_, e)| enc_err(&e))?;
        let stream_info =
            StreamInfo::new(spec.sample_rate as usize, channels, bits).map_err(|e| enc_err(&e))?;
        let slots = (0..BATCH_BLOCKS)
            .map(|_| {
                Ok(Slot {
                    fb: FrameBuf::with_size(channels, BLOCK_SIZE).map_err(|e| enc_err(&e))?,
                    sink: MemSink::with_capacity(BLOCK_SIZE * channels * 32),
                })
            })
            .collect::<Result<Vec<_>>>()?;

        let start = writer.stream_position().map_err(AudioError::Write)?;
        let mut header = Vec::with_capacity(8 + STREAMINFO_LEN + TAG_SPACE);
        header.extend_from_slice(b"fLaC");
        push_block_header(&mut header, false, BLOCK_STREAMINFO, STREAMINFO_LEN);
        header.extend_from_slice(&streaminfo_bytes(&spec, 0, [0; 16], 0, 0));
        push_block_header(&mut header, true, BLOCK_PADDING, TAG_SPACE - 4);
        header.resize(8 + STREAMINFO_LEN + TAG_SPACE, 0);
        writer.write_all(&header).map_err(AudioError::Write)?;

        Ok(FlacWriter {
            writer,
            spec,
            start,
            config,
            verbatim_config,
            stream_info,
            md5: Context::new(bits, channels),
            md5_bytes: Vec::new(),
            pending: Vec::with_capacity(BATCH_BLOCKS * BLOCK_SIZE * channels),
            slots,
            frame_number: 0,
            samples: 0,
            min_frame_bytes: u32::MAX,
            max_frame_bytes: 0,
        })
    }

    /// The spec being written (F32 already mapped to I24).
    pub fn spec(&self) -> WriterSpec {
        self.spec
    }

    /// Complete frames written so far.
    pub fn frames_written(&self) -> u64 {
        self.samples / u64::from(self.spec.channels)
    }

    /// Quantises and writes interleaved samples (a call may end mid-frame).
    pub fn write_interleaved(&mut self, samples: &[f32]) -> Result<()> {
        let full = BATCH_BLOCKS * BLOCK_SIZE * usize::from(self.spec.channels);
        let format = self.spec.sample_format;
        let mut rest = samples;
        while !rest.is_empty() {
            let take = (full - self.pending.len()).min(rest.len());
            self.pending
                .extend(rest[..take].iter().map(|&x| quantize(x, format)));
            rest = &rest[take..];
            if self.pending.len() == full {
                self.encode_pending()?;
            }
        }
        self.samples += samples.len() as u64;
        Ok(())
    }

    /// Encodes and writes the buffered blocks (the last may be short), hashing
    /// them for the MD5 at the same time.
    fn encode_pending(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let ch = usize::from(self.spec.channels);
        let bits = usize::from(self.spec.sample_format.bits());
        let block_len = BLOCK_SIZE * ch;
        let blocks = self.pending.len().div_ceil(block_len);
        let first = self.frame_number;
        let (pending, config, verbatim, info) = (
            &self.pending,
            &self.config,
            &self.verbatim_config,
            &self.stream_info,
        );
        let (md5, md5_bytes) = (&mut self.md5, &mut self.md5_bytes);
        let (hashed, encoded) = rayon::join(
            || {
                let bytes_per_sample = bits / 8;
                md5_bytes.clear();
                for v in pending {
                    md5_bytes.extend_from_slice(&v.to_le_bytes()[..bytes_per_sample]);
                }
                md5.fill_le_bytes(md5_bytes, bytes_per_sample)
                    .map_err(|e| AudioError::Encode(e.to_string()))
            },
            || {
                self.slots[..blocks]
                    .par_iter_mut()
                    .zip(pending.par_chunks(block_len))
                    .enumerate()
                    .try_for_each(|(i, (slot, block))| {
                        slot.encode(block, first + i, config, verbatim, info, ch, bits)
                    })
            },
        );
        hashed?;
        encoded?;
        for slot in &self.slots[..blocks] {
            let bytes = slot.sink.as_slice();
            self.writer.write_all(bytes).map_err(AudioError::Write)?;
            let n = bytes.len() as u32;
            self.min_frame_bytes = self.min_frame_bytes.min(n);
            self.max_frame_bytes = self.max_frame_bytes.max(n);
        }
        self.frame_number += blocks;
        self.pending.clear();
        Ok(())
    }

    /// Encodes the last batch, rewrites STREAMINFO, stores `tags` in a
    /// VORBIS_COMMENT block, flushes, and returns the writer positioned at
    /// the end of the file.
    pub fn finish(mut self, tags: &[(String, String)]) -> Result<W> {
        let ch = u64::from(self.spec.channels);
        if self.samples % ch != 0 {
            return Err(AudioError::UnsupportedOutput(format!(
                "incomplete final frame: {} samples is not a multiple of {} channels",
                self.samples, ch
            )));
        }
        let meta = tag_blocks(tags)?;
        self.encode_pending()?;
        let total_frames = self.samples / ch;
        if total_frames >= 1 << 36 {
            return Err(AudioError::UnsupportedOutput(
                "flac cannot record more than 2^36 frames".into(),
            ));
        }
        let (min_f, max_f) = if self.frame_number == 0 {
            (0, 0)
        } else {
            (self.min_frame_bytes, self.max_frame_bytes)
        };
        let info = streaminfo_bytes(
            &self.spec,
            total_frames,
            self.md5.md5_digest(),
            min_f,
            max_f,
        );
        let w = &mut self.writer;
        let end = w.stream_position().map_err(AudioError::Write)?;
        w.seek(SeekFrom::Start(self.start + 8))
            .map_err(AudioError::Write)?;
        w.write_all(&info).map_err(AudioError::Write)?;
        w.write_all(&meta).map_err(AudioError::Write)?;
        w.seek(SeekFrom::Start(end)).map_err(AudioError::Write)?;
        w.flush().map_err(AudioError::Write)?;
        Ok(self.writer)
    }
}

/// Per-block encoding state; one per block of a batch, so that blocks can be
/// encoded in parallel.
struct Slot {
    /// Deinterleaving frame buffer.
    fb: FrameBuf,
    /// The encoded frame.
    sink: MemSink<u8>,
}

impl Slot {
    /// Encodes one block (interleaved, `ch` channels, at most [`BLOCK_SIZE`]
    /// frames) as frame `frame_number` into `self.sink`.
    #[allow(clippy::too_many_arguments)]
    fn encode(
        &mut self,
        block: &[i32],
        frame_number: usize,
        config: &Verified<flacenc::config::Encoder>,
        verbatim: &Verified<flacenc::config::Encoder>,
        stream_info: &StreamInfo,
        ch: usize,
        bits: usize,
    ) -> Result<()> {
        let enc_err = |e: &dyn fmt::Display| AudioError::Encode(e.to_string());
        self.fb.fill_interleaved(block).map_err(|e| enc_err(&e))?;
        let encode = |config| {
            flacenc::encode_fixed_size_frame(config, &self.fb, frame_number, stream_info)
                .map_err(|e| enc_err(&e))
        };
        let mut frame = encode(config)?;
        if frame.count_bits() > verbatim_bound_bits(block.len() / ch, ch, bits) {
            // flacenc 0.5.1 can pick absurd rice parameters for loud, noisy
            // blocks (see the module docs); store such a block verbatim.
            frame = encode(verbatim)?;
        }
        self.sink.clear();
        frame.write(&mut self.sink).map_err(|e| enc_err(&e))
    }
}

/// An upper bound on the size of a block of `frames` frames stored verbatim:
/// frame header (at most 16 bytes) + CRC-16 + per channel a subframe header
/// and one sample of `bits + 1` (side channel) per frame.
fn verbatim_bound_bits(frames: usize, ch: usize, bits: usize) -> usize {
    16 * 8 + 16 + ch * (8 + frames * (bits + 1))
}

/// Appends a metadata block header (last flag, 7-bit type, 24-bit length).
fn push_block_header(out: &mut Vec<u8>, last: bool, kind: u8, len: usize) {
    debug_assert!(len < 1 << 24);
    out.push(if last { 0x80 } else { 0 } | kind);
    out.extend_from_slice(&(len as u32).to_be_bytes()[1..]);
}

/// The 34-byte STREAMINFO body, with `min == max == BLOCK_SIZE` (see the
/// module documentation for why).
fn streaminfo_bytes(
    spec: &WriterSpec,
    total_frames: u64,
    md5: [u8; 16],
    min_frame: u32,
    max_frame: u32,
) -> [u8; STREAMINFO_LEN] {
    let mut b = [0u8; STREAMINFO_LEN];
    b[0..2].copy_from_slice(&(BLOCK_SIZE as u16).to_be_bytes());
    b[2..4].copy_from_slice(&(BLOCK_SIZE as u16).to_be_bytes());
    b[4..7].copy_from_slice(&min_frame.min(0xFF_FFFF).to_be_bytes()[1..]);
    b[7..10].copy_from_slice(&max_frame.min(0xFF_FFFF).to_be_bytes()[1..]);
    // 20 bits rate | 3 bits channels-1 | 5 bits bps-1 | 36 bits total.
    let packed: u64 = (u64::from(spec.sample_rate) << 44)
        | (u64::from(spec.channels - 1) << 41)
        | (u64::from(spec.sample_format.bits() - 1) << 36)
        | (total_frames & ((1 << 36) - 1));
    b[10..18].copy_from_slice(&packed.to_be_bytes());
    b[18..34].copy_from_slice(&md5);
    b
}

/// The bytes that replace the reserved [`TAG_SPACE`]: a VORBIS_COMMENT block
/// followed by PADDING (or by nothing, if it fills the space exactly).
///
/// This is the single place where FLAC tags are serialised.
fn tag_blocks(tags: &[(String, String)]) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    body.extend_from_slice(&(VENDOR.len() as u32).to_le_bytes());
    body.extend_from_slice(VENDOR.as_bytes());
    body.extend_from_slice(&(tags.len() as u32).to_le_bytes());
    for (k, v) in tags {
        validate_tag(k, v)?;
        let len = k.len() + 1 + v.len();
        body.extend_from_slice(&(len as u32).to_le_bytes());
        body.extend_from_slice(k.as_bytes());
        body.push(b'=');
        body.extend_from_slice(v.as_bytes());
    }
    let needed = 4 + body.len();
    let fits_exactly = needed == TAG_SPACE;
    if !fits_exactly && needed + 4 > TAG_SPACE {
        return Err(AudioError::TagsTooLarge {
            needed,
            available: TAG_SPACE,
        });
    }
    let mut out = Vec::with_capacity(TAG_SPACE);
    push_block_header(&mut out, fits_exactly, BLOCK_VORBIS_COMMENT, body.len());
    out.extend_from_slice(&body);
    if !fits_exactly {
        push_block_header(&mut out, true, BLOCK_PADDING, TAG_SPACE - needed - 4);
        out.resize(TAG_SPACE, 0);
    }
    Ok(out)
}

/// Reads the comments of the first VORBIS_COMMENT block, in file order.
///
/// An ID3v2 tag before `fLaC` is skipped; if no `fLaC` follows it, the input
/// is not FLAC and has no tags. A FLAC file without a VORBIS_COMMENT block
/// has no tags; malformed metadata is a `Corrupt` error.
pub(crate) fn read_tags<R: Read + Seek>(mut r: R) -> Result<Vec<(String, String)>> {
    let corrupt = |what: &str| AudioError::Corrupt(format!("flac metadata: {what}"));
    let eof = |e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            AudioError::Corrupt("flac metadata: unexpected end of file".into())
        } else {
            AudioError::Read(e)
        }
    };
    let mut magic = [0u8; 10];
    r.read_exact(&mut magic[..4]).map_err(eof)?;
    if &magic[..3] == b"ID3" {
        r.read_exact(&mut magic[4..10]).map_err(eof)?;
        let size = magic[6..10]
            .iter()
            .fold(0u64, |acc, &b| (acc << 7) | u64::from(b & 0x7f));
        let footer = if magic[5] & 0x10 != 0 { 10 } else { 0 };
        r.seek(SeekFrom::Start(10 + size + footer))
            .map_err(AudioError::Read)?;
        r.read_exact(&mut magic[..4]).map_err(eof)?;
    }
    if &magic[..4] != b"fLaC" {
        // e.g. an MP3 with an ID3v2 tag: not FLAC, so no tags.
        return Ok(Vec::new());
    }
    loop {
        let mut head = [0u8; 4];
        r.read_exact(&mut head).map_err(eof)?;
        let last = head[0] & 0x80 != 0;
        let kind = head[0] & 0x7f;
        let len = u64::from(u32::from_be_bytes([0, head[1], head[2], head[3]]));
        if kind == BLOCK_VORBIS_COMMENT {
            let mut body = vec![0u8; len as usize];
            r.read_exact(&mut body).map_err(eof)?;
            return parse_vorbis_comment(&body);
        }
        if last {
            return Ok(Vec::new());
        }
        if kind == 127 {
            return Err(corrupt("invalid metadata block type 127"));
        }
        r.seek(SeekFrom::Current(len as i64))
            .map_err(AudioError::Read)?;
    }
}

/// Parses a VORBIS_COMMENT body (vendor, then `KEY=VALUE` entries).
fn parse_vorbis_comment(body: &[u8]) -> Result<Vec<(String, String)>> {
    let short = || AudioError::Corrupt("flac vorbis comment is truncated".into());
    let mut pos = 0usize;
    let next_u32 = |pos: &mut usize| -> Result<usize> {
        let b = body.get(*pos..*pos + 4).ok_or_else(short)?;
        *pos += 4;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let vendor_len = next_u32(&mut pos)?;
    pos = pos.checked_add(vendor_len).ok_or_else(short)?;
    let count = next_u32(&mut pos)?;
    let mut tags = Vec::with_capacity(count.min(1024));
    for _ in 0..count {
        let len = next_u32(&mut pos)?;
        let end = pos.checked_add(len).ok_or_else(short)?;
        let entry = body.get(pos..end).ok_or_else(short)?;
        tags.push(split_tag(entry, "flac vorbis comment")?);
        pos = end;
    }
    Ok(tags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaminfo_packing() {
        let spec = WriterSpec {
            sample_rate: 44_100,
            channels: 2,
            sample_format: SampleFormat::I16,
        };
        let b = streaminfo_bytes(&spec, 123_456, [7; 16], 10, 20);
        assert_eq!(&b[0..4], &[0x10, 0x00, 0x10, 0x00]);
        assert_eq!(&b[4..10], &[0, 0, 10, 0, 0, 20]);
        // 44100 = 0x0AC44 -> 0x0A 0xC4 0x4(2 ch -> 001, 16 bit -> 01111)
        assert_eq!(b[10], 0x0A);
        assert_eq!(b[11], 0xC4);
        assert_eq!(b[12], 0x42);
        assert_eq!(b[13] >> 4, 0xF);
        assert_eq!(&b[18..], &[7; 16]);
    }

    #[test]
    fn tag_blocks_fill_reserve_exactly() {
        let tags = vec![("A".to_string(), "b".repeat(100))];
        assert_eq!(tag_blocks(&tags).unwrap().len(), TAG_SPACE);
        let none = tag_blocks(&[]).unwrap();
        assert_eq!(none.len(), TAG_SPACE);
        assert_eq!(
            parse_vorbis_comment(&none[4..4 + 4 + 7 + 4]).unwrap(),
            vec![]
        );
        // Exactly filling the reserve: 4 hdr + 4 + 7 + 4 + 4 + len.
        let exact = TAG_SPACE - (4 + 4 + VENDOR.len() + 4 + 4) - 2;
        let tags = vec![("K".to_string(), "v".repeat(exact))];
        let b = tag_blocks(&tags).unwrap();
        assert_eq!(b.len(), TAG_SPACE);
        assert_eq!(b[0], 0x80 | BLOCK_VORBIS_COMMENT);
        let tags = vec![("K".to_string(), "v".repeat(exact - 2))];
        assert!(matches!(
            tag_blocks(&tags),
            Err(AudioError::TagsTooLarge { .. })
        ));
        let tags = vec![("K".to_string(), "v".repeat(exact - 4))];
        assert_eq!(tag_blocks(&tags).unwrap().len(), TAG_SPACE);
    }
}
