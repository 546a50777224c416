//! Uncompressed PCM in WAV (RIFF, RF64, BW64) and AIFF/AIFC files, read
//! directly: the bytes of the `data`/`SSND` chunk converted to `f32` in bulk,
//! about ten times faster than going through a general demuxer and decoder,
//! and reading what those get wrong: RF64's 64-bit sizes, streamed WAVs
//! whose `data` size was never filled in (read to the end of the file), and
//! AIFF's exact length from `COMM`.
//!
//! Conversions to `f32` are exactly symphonia's (so both paths give the same
//! samples, bit for bit): integers are divided by 2^(bits-1) of their
//! container (8-bit is unsigned, offset by 128), 32-bit integers through
//! `f64`, 64-bit floats rounded to `f32`. Formats this module does not read
//! (ADPCM, A-law, µ-law, ...) are left to the general decoder.

use super::{AudioError, AudioSpec, Result, SampleFormat};
use crate::container::riff::{self, Chunks, Order};
use sha2::{Digest, Sha256};
use std::io::{Read, Seek, SeekFrom};

/// Bytes read per [`PcmFile::read_chunk`] call (whole frames of it): at
/// least a `BufReader`'s default capacity, so reads pass straight through
/// one instead of being copied twice.
const CHUNK_BYTES: usize = 64 * 1024;

/// How each stored sample is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    /// Unsigned 8-bit (WAV).
    U8,
    /// Signed integers of this many bytes (1 to 4), in `order`.
    Int(usize),
    /// IEEE float of 4 or 8 bytes, in `order`.
    Float(usize),
}

impl Encoding {
    /// Bytes per stored sample.
    fn bytes(self) -> usize {
        match self {
            Encoding::U8 => 1,
            Encoding::Int(n) | Encoding::Float(n) => n,
        }
    }
}

/// What the header says about the sample data.
#[derive(Debug, Clone)]
pub(crate) struct PcmLayout {
    encoding: Encoding,
    order: Order,
    channels: u16,
    sample_rate: u32,
    /// Bits per sample as stated (for the nearest writable format).
    bits: u16,
    /// Offset of the first sample byte.
    data_at: u64,
    /// Sample bytes present in the stream (whole frames).
    data_len: u64,
    /// Frames the header declares, when it does.
    declared_frames: Option<u64>,
    /// Why the header's size was not believed (see
    /// [`crate::container::riff::Chunks::data_size_wrong`]).
    size_note: Option<String>,
}

impl PcmLayout {
    fn frame_bytes(&self) -> u64 {
        (self.encoding.bytes() * usize::from(self.channels)) as u64
    }

    /// Codec name for reports, e.g. `"pcm_s16le"` (symphonia's names).
    fn codec(&self) -> String {
        let end = match self.order {
            Order::Little => "le",
            Order::Big => "be",
        };
        match self.encoding {
            Encoding::U8 => "pcm_u8".to_string(),
            Encoding::Int(n) => format!("pcm_s{}{end}", 8 * n),
            Encoding::Float(n) => format!("pcm_f{}{end}", 8 * n),
        }
    }

    /// Frames present in the stream.
    pub(crate) fn frames(&self) -> u64 {
        self.data_len / self.frame_bytes()
    }
}

/// Reads the layout of a WAV or AIFF stream whose samples this module can
/// convert; `Ok(None)` for other formats (the general decoder takes them).
/// Leaves the stream at its start.
pub(crate) fn probe<R: Read + Seek + ?Sized>(r: &mut R) -> Result<Option<PcmLayout>> {
    let layout = match riff::list(r) {
        Ok(chunks) => match chunks.order {
            Order::Little => wav_layout(r, &chunks),
            Order::Big => aiff_layout(r, &chunks),
        },
        Err(_) => Ok(None),
    };
    r.seek(SeekFrom::Start(0)).map_err(AudioError::Read)?;
    layout
}

fn wav_layout<R: Read + Seek + ?Sized>(r: &mut R, chunks: &Chunks) -> Result<Option<PcmLayout>> {
    let Some(fmt) = chunks.find(b"fmt ") else {
        return Ok(None);
    };
    let f = riff::read_data(r, fmt, 1 << 16).map_err(AudioError::Read)?;
    if f.len() < 16 {
        return Ok(None);
    }
    let u16_at = |i: usize| u16::from_le_bytes([f[i], f[i + 1]]);
    let mut tag = u16_at(0);
    let channels = u16_at(2);
    let sample_rate = u32::from_le_bytes([f[4], f[5], f[6], f[7]]);
    let block_align = usize::from(u16_at(12));
    let mut bits = u16_at(14);
    if tag == 0xFFFE && f.len() >= 40 {
        // WAVE_FORMAT_EXTENSIBLE: valid bits, channel mask, sub-format GUID.
        let valid = u16_at(18);
        if valid > 0 {
            bits = valid;
        }
        tag = u16_at(24);
    }
    if channels == 0 || sample_rate == 0 || block_align == 0 {
        return Ok(None);
    }
    let container_bytes = block_align / usize::from(channels);
    if container_bytes * usize::from(channels) != block_align {
        return Ok(None);
    }
    let encoding = match (tag, container_bytes) {
        (1, 1) => Encoding::U8,
        (1, 2..=4) => Encoding::Int(container_bytes),
        (3, 4 | 8) => Encoding::Float(container_bytes),
        _ => return Ok(None),
    };
    let Some(data) = chunks.find(b"data") else {
        return Err(AudioError::Corrupt("wav: missing data chunk".into()));
    };
    let frame = block_align as u64;
    Ok(Some(PcmLayout {
        encoding,
        order: Order::Little,
        channels,
        sample_rate,
        bits,
        data_at: data.data_at(),
        data_len: data.len / frame * frame,
        declared_frames: data.declared.map(|d| d / frame),
        size_note: chunks.data_size_wrong.map(|declared| {
            format!(
                "the WAV data chunk declares {declared} bytes, but audio runs on to the end of the file ({} bytes): read to the end (a WAV over 4 GiB, or one whose writer never filled in its size)",
                data.len
            )
        }),
    }))
}

/// An 80-bit IEEE 754 extended float (AIFF's sample rate) as an integer rate.
fn extended_to_rate(b: &[u8]) -> Option<u32> {
    let exp = i32::from(u16::from_be_bytes([b[0], b[1]]) & 0x7fff) - 16383;
    let mantissa = u64::from_be_bytes([b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9]]);
    if b[0] & 0x80 != 0 || !(0..32).contains(&exp) {
        return None;
    }
    let rate = (mantissa >> (63 - exp)) as u32;
    (rate > 0).then_some(rate)
}

fn aiff_layout<R: Read + Seek + ?Sized>(r: &mut R, chunks: &Chunks) -> Result<Option<PcmLayout>> {
    let Some(comm) = chunks.find(b"COMM") else {
        return Ok(None);
    };
    let c = riff::read_data(r, comm, 1 << 16).map_err(AudioError::Read)?;
    if c.len() < 18 {
        return Ok(None);
    }
    let channels = u16::from_be_bytes([c[0], c[1]]);
    let frames = u64::from(u32::from_be_bytes([c[2], c[3], c[4], c[5]]));
    let bits = u16::from_be_bytes([c[6], c[7]]);
    let Some(sample_rate) = extended_to_rate(&c[8..18]) else {
        return Ok(None);
    };
    let compression = if &chunks.form == b"AIFC" && c.len() >= 22 {
        [c[18], c[19], c[20], c[21]]
    } else {
        *b"NONE"
    };
    let bytes = usize::from(bits).div_ceil(8);
    let (encoding, order) = match (&compression, bytes) {
        (b"NONE" | b"twos", 1..=4) => (Encoding::Int(bytes), Order::Big),
        (b"sowt", 2..=4) => (Encoding::Int(bytes), Order::Little),
        (b"fl32" | b"FL32", _) => (Encoding::Float(4), Order::Big),
        (b"fl64" | b"FL64", _) => (Encoding::Float(8), Order::Big),
        _ => return Ok(None),
    };
    if channels == 0 {
        return Ok(None);
    }
    let Some(ssnd) = chunks.find(b"SSND") else {
        return Err(AudioError::Corrupt("aiff: missing SSND chunk".into()));
    };
    // SSND: offset (4), block size (4), then the samples from `offset`.
    let head = riff::read_data(
        r,
        &riff::Chunk {
            len: ssnd.len.min(8),
            ..*ssnd
        },
        8,
    )
    .map_err(AudioError::Read)?;
    if head.len() < 8 {
        return Err(AudioError::Corrupt("aiff: SSND chunk cut short".into()));
    }
    let offset = u64::from(u32::from_be_bytes([head[0], head[1], head[2], head[3]]));
    let data_at = ssnd.data_at() + 8 + offset;
    let present = (ssnd.data_at() + ssnd.len).saturating_sub(data_at);
    let frame = (encoding.bytes() * usize::from(channels)) as u64;
    // COMM states the length; the chunk may carry padding after it.
    let data_len = present.min(frames.saturating_mul(frame)) / frame * frame;
    Ok(Some(PcmLayout {
        encoding,
        order,
        channels,
        sample_rate,
        bits: if matches!(encoding, Encoding::Float(_)) {
            32
        } else {
            bits
        },
        data_at,
        data_len,
        declared_frames: Some(frames),
        size_note: None,
    }))
}

/// A streaming reader of the samples a [`PcmLayout`] describes.
#[derive(Debug)]
pub(crate) struct PcmFile<R> {
    source: R,
    layout: PcmLayout,
    /// Sample bytes not yet read.
    left: u64,
    /// Raw bytes of one chunk.
    raw: Vec<u8>,
    /// SHA-256 of the raw sample bytes, when asked for.
    digest: Option<Sha256>,
}

impl<R: Read + Seek> PcmFile<R> {
    /// Starts reading the samples of `source`, whose layout `probe` found.
    pub(crate) fn new(mut source: R, layout: PcmLayout) -> Result<Self> {
        source
            .seek(SeekFrom::Start(layout.data_at))
            .map_err(AudioError::Read)?;
        let frame_bytes = layout.frame_bytes() as usize;
        Ok(PcmFile {
            source,
            left: layout.data_len,
            raw: vec![0; CHUNK_BYTES.div_ceil(frame_bytes) * frame_bytes],
            layout,
            digest: None,
        })
    }

    /// The stream's parameters.
    pub(crate) fn spec(&self) -> AudioSpec {
        let l = &self.layout;
        AudioSpec {
            sample_rate: l.sample_rate,
            channels: l.channels,
            sample_format: match l.encoding {
                Encoding::Float(_) => SampleFormat::F32,
                _ if l.bits <= 16 => SampleFormat::I16,
                _ => SampleFormat::I24,
            },
            frames: Some(l.declared_frames.unwrap_or_else(|| l.frames())),
            codec: l.codec(),
        }
    }

    /// Hashes the raw sample bytes as they are read (the "encoded" digest
    /// of a PCM file is the SHA-256 of its sample chunk).
    pub(crate) fn hash_raw(&mut self) {
        self.digest = Some(Sha256::new());
    }

    /// The digest of the sample bytes read so far (the whole sample chunk
    /// once the end was reached), when [`hash_raw`](Self::hash_raw) asked
    /// for it.
    pub(crate) fn raw_digest(&self) -> Option<super::StreamDigest> {
        let d = self.digest.clone()?;
        let spec = self.spec();
        Some(super::StreamDigest {
            sha256: d.finalize().into(),
            packets: 1,
            frames: self.layout.frames(),
            sample_rate: spec.sample_rate,
            channels: spec.channels,
            codec: spec.codec,
        })
    }

    /// Why the header's data size was not believed, if it was not.
    pub(crate) fn size_note(&self) -> Option<&str> {
        self.layout.size_note.as_deref()
    }

    /// Frames the header declares that the stream does not hold.
    pub(crate) fn missing_frames(&self) -> u64 {
        self.layout
            .declared_frames
            .map_or(0, |d| d.saturating_sub(self.layout.frames()))
    }

    /// Clears `out` and fills it with the next chunk of interleaved
    /// samples; returns the frame count (0 at the end).
    pub(crate) fn read_chunk(&mut self, out: &mut Vec<f32>) -> Result<usize> {
        out.clear();
        let frame_bytes = self.layout.frame_bytes();
        let want = (self.raw.len() as u64).min(self.left) as usize;
        if want == 0 {
            return Ok(0);
        }
        let raw = &mut self.raw[..want];
        let got = crate::container::read_up_to(&mut self.source, raw).map_err(AudioError::Read)?;
        // A stream shorter than its chunk list said (it changed under us):
        // keep the whole frames that arrived.
        let got = got - got % frame_bytes as usize;
        self.left = if got < want {
            0
        } else {
            self.left - got as u64
        };
        let raw = &self.raw[..got];
        if let Some(d) = &mut self.digest {
            d.update(raw);
        }
        convert(raw, self.layout.encoding, self.layout.order, out);
        Ok(got / frame_bytes as usize)
    }
}

/// Converts raw samples to `f32` exactly as symphonia does, appending to
/// `out`. (Dividing by a power of two is multiplying by its inverse, exactly;
/// the loops write into place so they vectorise.)
fn convert(raw: &[u8], encoding: Encoding, order: Order, out: &mut Vec<f32>) {
    let le = order == Order::Little;
    let width = encoding.bytes();
    let start = out.len();
    out.resize(start + raw.len() / width, 0.0);
    let dst = &mut out[start..];
    match encoding {
        Encoding::U8 => {
            for (d, &b) in dst.iter_mut().zip(raw) {
                *d = f32::from(b) / 128.0 - 1.0;
            }
        }
        Encoding::Int(1) => {
            for (d, &b) in dst.iter_mut().zip(raw) {
                *d = f32::from(b as i8) * (1.0 / 128.0);
            }
        }
        Encoding::Int(2) if le => {
            for (d, b) in dst.iter_mut().zip(raw.chunks_exact(2)) {
                *d = f32::from(i16::from_le_bytes([b[0], b[1]])) * (1.0 / 32_768.0);
            }
        }
        Encoding::Int(2) => {
            for (d, b) in dst.iter_mut().zip(raw.chunks_exact(2)) {
                *d = f32::from(i16::from_be_bytes([b[0], b[1]])) * (1.0 / 32_768.0);
            }
        }
        Encoding::Int(3) => {
            for (d, b) in dst.iter_mut().zip(raw.chunks_exact(3)) {
                let v = if le {
                    i32::from_le_bytes([0, b[0], b[1], b[2]])
                } else {
                    i32::from_be_bytes([b[0], b[1], b[2], 0])
                } >> 8;
                *d = v as f32 * (1.0 / 8_388_608.0);
            }
        }
        Encoding::Int(_) => {
            for (d, b) in dst.iter_mut().zip(raw.chunks_exact(4)) {
                let a = [b[0], b[1], b[2], b[3]];
                let v = if le {
                    i32::from_le_bytes(a)
                } else {
                    i32::from_be_bytes(a)
                };
                *d = (f64::from(v) / 2_147_483_648.0) as f32;
            }
        }
        Encoding::Float(4) => {
            for (d, b) in dst.iter_mut().zip(raw.chunks_exact(4)) {
                let a = [b[0], b[1], b[2], b[3]];
                *d = if le {
                    f32::from_le_bytes(a)
                } else {
                    f32::from_be_bytes(a)
                };
            }
        }
        Encoding::Float(_) => {
            for (d, b) in dst.iter_mut().zip(raw.chunks_exact(8)) {
                let a = [b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]];
                *d = (if le {
                    f64::from_le_bytes(a)
                } else {
                    f64::from_be_bytes(a)
                }) as f32;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn aiff_rates_from_extended_floats() {
        assert_eq!(
            extended_to_rate(&[0x40, 0x0E, 0xAC, 0x44, 0, 0, 0, 0, 0, 0]),
            Some(44_100)
        );
        assert_eq!(
            extended_to_rate(&[0x40, 0x0E, 0xBB, 0x80, 0, 0, 0, 0, 0, 0]),
            Some(48_000)
        );
        assert_eq!(
            extended_to_rate(&[0xC0, 0x0E, 0xAC, 0x44, 0, 0, 0, 0, 0, 0]),
            None
        );
        assert_eq!(
            extended_to_rate(&[0x7F, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0]),
            None
        );
    }

    #[test]
    fn codec_names_follow_symphonia() {
        let named = |encoding, order| {
            PcmLayout {
                encoding,
                order,
                channels: 2,
                sample_rate: 44_100,
                bits: 16,
                data_at: 0,
                data_len: 0,
                declared_frames: None,
                size_note: None,
            }
            .codec()
        };
        assert_eq!(named(Encoding::U8, Order::Little), "pcm_u8");
        assert_eq!(named(Encoding::Int(2), Order::Little), "pcm_s16le");
        assert_eq!(named(Encoding::Int(3), Order::Big), "pcm_s24be");
        assert_eq!(named(Encoding::Int(1), Order::Big), "pcm_s8be");
        assert_eq!(named(Encoding::Float(4), Order::Little), "pcm_f32le");
        assert_eq!(named(Encoding::Float(8), Order::Big), "pcm_f64be");
    }

    #[test]
    fn conversions_match_the_format_ranges() {
        let mut out = Vec::new();
        convert(&[0, 128, 255], Encoding::U8, Order::Little, &mut out);
        assert_eq!(out, vec![-1.0, 0.0, 127.0 / 128.0]);
        out.clear();
        convert(
            &[0x00, 0x80, 0xff, 0x7f],
            Encoding::Int(2),
            Order::Little,
            &mut out,
        );
        assert_eq!(out, vec![-1.0, 32_767.0 / 32_768.0]);
        out.clear();
        convert(&[0x80, 0x00, 0x00], Encoding::Int(3), Order::Big, &mut out);
        assert_eq!(out, vec![-1.0]);
        out.clear();
        convert(
            &[0, 0, 0x80, 0x3f],
            Encoding::Float(4),
            Order::Little,
            &mut out,
        );
        assert_eq!(out, vec![1.0]);
        let streamed = {
            let mut v = b"RIFF\0\0\0\0WAVEfmt \x10\0\0\0\x01\0\x01\0\x44\xac\0\0\x88\x58\x01\0\x02\0\x10\0data\xff\xff\xff\xff".to_vec();
            v.extend_from_slice(&[1, 0, 2, 0, 3]);
            v
        };
        let layout = probe(&mut Cursor::new(&streamed)).unwrap().unwrap();
        assert_eq!(layout.frames(), 2, "read to the end, whole frames");
        assert_eq!(layout.declared_frames, None);
        let mut f = PcmFile::new(Cursor::new(streamed), layout).unwrap();
        assert_eq!(f.read_chunk(&mut out).unwrap(), 2);
        assert_eq!(out, vec![1.0 / 32_768.0, 2.0 / 32_768.0]);
        assert_eq!(f.read_chunk(&mut out).unwrap(), 0);
    }
}
