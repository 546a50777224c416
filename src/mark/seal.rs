//! The seal layer: a second, slower marker layer that carries a 64-byte
//! signature (and a policy code) inside the audio itself, so a bare copy with
//! no tags, sidecar or catalogue can still prove who stamped it.
//!
//! The main layer (see [`super::layout`]) carries a 64-bit payload in the
//! 0.6–4.4 kHz band and is found in seconds. The seal lives above it, in the
//! [`SEAL_BIN_LO`]..[`SEAL_BIN_HI`] bins (≈ 4.6–8.7 kHz), on the *same* frame
//! and unit grid: each unit (2.3 s) holds 99 × 24 = 2376 seal cells of
//! 4 bins × 2 frames, and every cell carries data; there are no seal sync
//! cells because the main layer's synchronisation gives the unit phase.
//!
//! Bit budget per unit:
//!
//! | layer | cells | sync | data cells | message | coded bits | cells per bit |
//! |---|---|---|---|---|---|---|
//! | main | 2178 | 648 | 1530 | 64 payload + 32 CRC = 96 | 306 | 5.0 |
//! | seal | 2376 | 0 | 2376 | 512 signature + 8 policy + 32 CRC = 552 | 1674 | 1.42 |
//!
//! Both use the rate-1/3, K = 7 convolutional code (see [`super::code`]).
//! One unit of seal is far too weak to read on its own; the reader folds
//! every unit of the track onto one (as the main detector does), so a
//! 2-minute track adds up 52 repeats, about 74 cells per coded bit. The
//! CRC says whether the read worked; whether the signature is *valid* is the
//! provenance layer's business (this module knows no cryptography: the 64
//! bytes are opaque here).
//!
//! The embedder modulates seal cells exactly like main cells (see
//! [`super::embed`]), with its own masking thresholds for the seal band.

use super::code::{coded_len, crc32, Viterbi};
use super::detect::{downmix, Scale};
use super::key::{SealPattern, WatermarkKey};
use super::layout::{
    Layout, CANONICAL_RATE, FRAME, HOP, SEAL_BIN_LO, SEAL_CELL_BINS, SEAL_FREQ_CELLS, SILENCE_POWER,
};
use super::masking::fast_ln;
use super::resample::Resampler;
use super::stft::FrameFft;

/// Bytes of the signature the seal carries (an Ed25519 signature).
pub const SIGNATURE_BYTES: usize = 64;
/// Message bytes: signature, policy code, CRC-32.
const MESSAGE_BYTES: usize = SIGNATURE_BYTES + 1 + 4;
/// Message bits before channel coding.
pub const SEAL_MESSAGE_BITS: usize = MESSAGE_BYTES * 8;
/// Coded bits per unit.
pub const SEAL_CODED_BITS: usize = coded_len(SEAL_MESSAGE_BITS);
/// Seal cells per unit.
pub const SEAL_CELLS: usize = SEAL_FREQ_CELLS * Layout::V1.time_cells;
/// The rate the reader analyses at: twice the canonical rate, so frames of
/// `2 * FRAME` samples have the canonical bin spacing and reach 11 kHz.
const READ_RATE: u32 = 2 * CANONICAL_RATE;
/// Reader frame length at [`READ_RATE`].
const READ_FRAME: usize = 2 * FRAME;
/// Reader rows per canonical hop (a row every 5.8 ms).
const ROWS_PER_HOP: usize = 2;
/// Length of audio the seal is designed to be read from, seconds: a
/// full-length track (52 units). Shorter excerpts may read, but not reliably.
pub const FULL_TRACK_SECONDS: f64 = 120.0;
/// Lowest input rate whose spectrum reaches the top of the seal band.
pub const MIN_SEAL_RATE: u32 = 17_600;

/// What the seal carries: a signature and a policy code, both opaque here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealMessage {
    /// The signature bytes.
    pub signature: [u8; SIGNATURE_BYTES],
    /// A policy code chosen by the caller.
    pub policy: u8,
}

impl SealMessage {
    /// The whitened message bits (signature, policy, CRC-32 of both).
    fn bits(&self, mask: &[u8]) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(MESSAGE_BYTES);
        bytes.extend_from_slice(&self.signature);
        bytes.push(self.policy);
        let crc = crc32(&bytes);
        bytes.extend_from_slice(&crc.to_be_bytes());
        (0..SEAL_MESSAGE_BITS)
            .map(|i| ((bytes[i / 8] >> (7 - i % 8)) & 1) ^ mask[i])
            .collect()
    }

    /// Inverse of [`SealMessage::bits`]; `None` when the CRC fails.
    fn from_bits(bits: &[u8], mask: &[u8]) -> Option<SealMessage> {
        let mut bytes = [0u8; MESSAGE_BYTES];
        for (i, (&b, &m)) in bits.iter().zip(mask).enumerate() {
            bytes[i / 8] |= (b ^ m) << (7 - i % 8);
        }
        let (body, crc) = bytes.split_at(SIGNATURE_BYTES + 1);
        if crc32(body).to_be_bytes() != crc {
            return None;
        }
        let mut signature = [0u8; SIGNATURE_BYTES];
        signature.copy_from_slice(&body[..SIGNATURE_BYTES]);
        Some(SealMessage {
            signature,
            policy: body[SIGNATURE_BYTES],
        })
    }
}

fn pattern(key: &WatermarkKey) -> SealPattern {
    SealPattern::new(key, SEAL_CELLS, SEAL_CODED_BITS, SEAL_MESSAGE_BITS)
}

/// Coded sign (±1) of every seal cell of a unit for `message`, indexed by
/// `time_cell * SEAL_FREQ_CELLS + freq_cell`.
pub fn seal_signs(key: &WatermarkKey, message: &SealMessage) -> Vec<f32> {
    let pattern = pattern(key);
    let mut coded = vec![0u8; SEAL_CODED_BITS];
    super::code::encode_into(&message.bits(&pattern.mask), &mut coded);
    let mut signs = vec![0f32; SEAL_CELLS];
    for (bit, &value) in coded.iter().enumerate() {
        let polarity = if value == 1 { 1.0 } else { -1.0 };
        for c in pattern.bit_cells(bit) {
            signs[c.index as usize] = c.sign * polarity;
        }
    }
    signs
}

/// The outcome of reading the seal.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SealRead {
    /// The message, when the CRC matched.
    pub message: Option<SealMessage>,
    /// Soft value of every coded bit at the phase tried first (positive =
    /// 1), for bit-error measurements.
    pub soft: Vec<f32>,
    /// Seconds of audio the fold holds.
    pub seconds: f64,
}

impl SealRead {
    /// Fraction of coded bits whose hard decision matches `message`'s coding
    /// under `key` (1.0 = no raw bit errors, 0.5 = chance).
    pub fn agreement(&self, key: &WatermarkKey, message: &SealMessage) -> f64 {
        let pattern = pattern(key);
        let mut coded = vec![0u8; SEAL_CODED_BITS];
        super::code::encode_into(&message.bits(&pattern.mask), &mut coded);
        let same = self
            .soft
            .iter()
            .zip(&coded)
            .filter(|(s, &c)| (**s > 0.0) == (c == 1))
            .count();
        same as f64 / SEAL_CODED_BITS as f64
    }
}

/// Streaming reader of the seal band: folds every unit of the input onto
/// one, then decodes it at the unit phase the main detector found.
pub struct SealReader {
    channels: usize,
    down: Resampler,
    mono: Vec<f32>,
    buf: Vec<f32>,
    /// Position of the next row in `buf` (rounded to a sample when read).
    pos: f64,
    /// Samples between rows (the row hop, divided by the tempo undone).
    row_step: f64,
    /// Observed seconds per original second (`1 / (speed * tempo)`).
    time_factor: f64,
    fft: FrameFft,
    row: Vec<f32>,
    /// `fold[r * SEAL_FREQ_CELLS + f]`: sum of row values at row `r` modulo
    /// the unit.
    fold: Vec<f32>,
    rows: u64,
}

impl std::fmt::Debug for SealReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealReader")
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

/// Subtracts a row's mean and scales it to unit RMS, clamped to ±3, so loud
/// and quiet frames weigh the same. (Unlike the main detector's local
/// high-pass across frequency, the mean adds almost no interference between
/// neighbouring seal cells, which would not average out over repeats.)
fn centre_normalise(row: &mut [f32]) {
    let n = row.len() as f32;
    let mean = row.iter().sum::<f32>() / n;
    row.iter_mut().for_each(|v| *v -= mean);
    let rms = (row.iter().map(|v| v * v).sum::<f32>() / n).sqrt();
    let inv = if rms > 0.0 { 1.0 / rms } else { 0.0 };
    row.iter_mut()
        .for_each(|v| *v = (*v * inv).clamp(-3.0, 3.0));
}

/// Reader rows per unit.
fn unit_rows() -> usize {
    Layout::V1.unit_frames() * ROWS_PER_HOP
}

/// Samples at [`READ_RATE`] between reader rows.
const ROW_HOP: usize = 2 * HOP / ROWS_PER_HOP;

impl SealReader {
    /// A reader for `channels` channels at `sample_rate` Hz, or `None` when
    /// the rate is too low for the seal band to exist.
    pub fn new(sample_rate: u32, channels: usize) -> Option<Self> {
        Self::with_scale(sample_rate, channels, Scale::IDENTITY)
    }

    /// A reader that first undoes a speed and tempo change (see [`Scale`];
    /// the main detector's search finds it), as [`Detector::with_scale`]
    /// does: the speed through the resampler, the tempo by spacing rows.
    /// `None` when the seal band cannot exist at this rate.
    ///
    /// [`Detector::with_scale`]: super::Detector::with_scale
    pub fn with_scale(sample_rate: u32, channels: usize, scale: Scale) -> Option<Self> {
        let valid = (0.5..=2.0).contains(&scale.speed) && (0.5..=2.0).contains(&scale.tempo);
        if f64::from(sample_rate) / scale.speed < f64::from(MIN_SEAL_RATE)
            || channels == 0
            || !valid
        {
            return None;
        }
        Some(SealReader {
            channels,
            down: Resampler::undoing_speed(sample_rate, READ_RATE, scale.speed),
            mono: Vec::new(),
            buf: Vec::new(),
            pos: 0.0,
            row_step: ROW_HOP as f64 / scale.tempo,
            time_factor: 1.0 / (scale.speed * scale.tempo),
            fft: FrameFft::with_len(READ_FRAME),
            row: vec![0.0; SEAL_FREQ_CELLS],
            fold: vec![0.0; unit_rows() * SEAL_FREQ_CELLS],
            rows: 0,
        })
    }

    /// Feeds interleaved samples.
    ///
    /// # Panics
    /// Panics if `input.len()` is not a multiple of the channel count.
    pub fn process(&mut self, input: &[f32]) {
        assert_eq!(input.len() % self.channels, 0, "whole frames");
        downmix(input, self.channels, &mut self.mono);
        self.down.push(&self.mono, &mut self.buf);
        self.run_rows();
    }

    fn run_rows(&mut self) {
        let u = unit_rows();
        let (lo, j) = (SEAL_BIN_LO, SEAL_FREQ_CELLS);
        let hi = lo + j * SEAL_CELL_BINS;
        loop {
            let at = self.pos.round() as usize;
            if at + READ_FRAME > self.buf.len() {
                break;
            }
            let spec = self.fft.forward(&self.buf[at..at + READ_FRAME]);
            let band: f32 = spec[lo..hi].iter().map(|c| c.norm_sqr()).sum();
            // Power in canonical units: the frame is twice as long.
            let mean = band / ((hi - lo) as f32) * 0.25;
            if mean >= SILENCE_POWER {
                let floor = band / (hi - lo) as f32 * 1e-6;
                for (cell, v) in self.row.iter_mut().enumerate() {
                    let b0 = lo + cell * SEAL_CELL_BINS;
                    let s: f32 = spec[b0..b0 + SEAL_CELL_BINS]
                        .iter()
                        .map(|c| fast_ln(c.norm_sqr() + floor))
                        .sum();
                    *v = s / SEAL_CELL_BINS as f32;
                }
                centre_normalise(&mut self.row);
                let r = (self.rows % u as u64) as usize;
                for (f, &v) in self.fold[r * j..(r + 1) * j].iter_mut().zip(&self.row) {
                    *f += v;
                }
            }
            self.rows += 1;
            self.pos += self.row_step;
        }
        let drop = (self.pos.floor() as usize).min(self.buf.len());
        self.buf.drain(..drop);
        self.pos -= drop as f64;
    }

    /// Seconds of input folded so far (in the input's own timeline).
    pub fn seconds(&self) -> f64 {
        self.rows as f64 * ROW_HOP as f64 / f64::from(READ_RATE) * self.time_factor
    }

    /// Ends the stream and decodes the seal for `key`, with units starting
    /// `phase_seconds` (modulo the unit length, in the input's timeline)
    /// after the start of the input, as the main detector reports it. Tries the nearest reader rows on
    /// each side of the phase too.
    pub fn finish(mut self, key: &WatermarkKey, phase_seconds: f64) -> SealRead {
        self.down.finish(&mut self.buf);
        self.run_rows();
        let u = unit_rows();
        // The phase is in the input's timeline; rows are in the original's.
        let row_seconds = ROW_HOP as f64 / f64::from(READ_RATE) * self.time_factor;
        let p0 = (phase_seconds / row_seconds).round().rem_euclid(u as f64) as usize;
        let pattern = pattern(key);
        let mut decoder = Decoder::new();
        let mut first_soft = None;
        let mut message = None;
        for d in [0, 1, u - 1] {
            let soft = decoder.soft(&self.fold, (p0 + d) % u, &pattern);
            message = decoder.decode(&soft, &pattern);
            if first_soft.is_none() {
                first_soft = Some(soft);
            }
            if message.is_some() {
                break;
            }
        }
        SealRead {
            message,
            soft: first_soft.unwrap_or_default(),
            seconds: self.seconds(),
        }
    }
}

/// Frequency corrections tried around a scale found by the main layer's
/// search: the main layer tolerates about ±2.5 % of frequency error, the
/// seal's higher band only about ±0.4 %, so readers 0.7 % apart cover what
/// the search can leave (the time factor is kept).
pub const SCALED_FREQ_STEPS: [f64; 9] =
    [1.0, 0.993, 1.007, 0.986, 1.014, 0.979, 1.021, 0.972, 1.028];

/// Seal readers around a speed/tempo/pitch change the main layer's search
/// found, each with a slightly different frequency correction, fed together; the first whose CRC
/// passes gives the message. Each costs as much as one [`SealReader`].
#[derive(Debug)]
pub struct ScaledSealReader {
    readers: Vec<SealReader>,
}

impl ScaledSealReader {
    /// Readers for `channels` channels at `sample_rate` Hz around `scale`;
    /// `None` when the seal band cannot exist at this rate.
    pub fn new(sample_rate: u32, channels: usize, scale: Scale) -> Option<Self> {
        let readers: Vec<SealReader> = SCALED_FREQ_STEPS
            .iter()
            .filter_map(|f| {
                let s = Scale {
                    speed: scale.speed * f,
                    tempo: scale.tempo / f,
                };
                SealReader::with_scale(sample_rate, channels, s)
            })
            .collect();
        (!readers.is_empty()).then_some(ScaledSealReader { readers })
    }

    /// Feeds interleaved samples to every reader.
    pub fn process(&mut self, input: &[f32]) {
        for r in &mut self.readers {
            r.process(input);
        }
    }

    /// The read of the first reader whose CRC passes, else the read of the
    /// reader at the found scale itself (see [`SealReader::finish`]).
    pub fn finish(self, key: &WatermarkKey, phase_seconds: f64) -> SealRead {
        let mut first = None;
        for r in self.readers {
            let read = r.finish(key, phase_seconds);
            if read.message.is_some() {
                return read;
            }
            first.get_or_insert(read);
        }
        first.expect("at least one reader")
    }
}

/// Turns a fold into soft bits and decodes them.
struct Decoder {
    cells: Vec<f32>,
    viterbi: Viterbi,
    bits: Vec<u8>,
}

impl Decoder {
    fn new() -> Self {
        Decoder {
            cells: vec![0.0; SEAL_CELLS],
            viterbi: Viterbi::new(),
            bits: vec![0; SEAL_MESSAGE_BITS],
        }
    }

    /// Soft coded bits for units starting at reader row `phase` of the fold.
    fn soft(&mut self, fold: &[f32], phase: usize, pattern: &SealPattern) -> Vec<f32> {
        let (u, j) = (unit_rows(), SEAL_FREQ_CELLS);
        let l = Layout::V1;
        let step = l.cell_frames * ROWS_PER_HOP;
        let t_cells = l.time_cells;
        // A cell's value: its frames' rows summed.
        for t in 0..t_cells {
            for f in 0..j {
                let mut s = 0.0;
                for q in 0..l.cell_frames {
                    s += fold[((phase + t * step + q * ROWS_PER_HOP) % u) * j + f];
                }
                self.cells[t * j + f] = s;
            }
        }
        // Remove each frequency cell's mean over the unit: the fold has
        // averaged the music to a level that does not depend on the time
        // cell, and a mean over all 99 cells (unlike a local high-pass) adds
        // almost no interference between the seal's own cells.
        for f in 0..j {
            let mean = (0..t_cells).map(|t| self.cells[t * j + f]).sum::<f32>() / t_cells as f32;
            for t in 0..t_cells {
                self.cells[t * j + f] -= mean;
            }
        }
        let mut soft: Vec<f32> = (0..pattern.coded_bits())
            .map(|b| {
                pattern
                    .bit_cells(b)
                    .iter()
                    .map(|c| c.sign * self.cells[c.index as usize])
                    .sum()
            })
            .collect();
        let rms = (soft.iter().map(|v| v * v).sum::<f32>() / soft.len() as f32).sqrt();
        if rms > 0.0 {
            soft.iter_mut().for_each(|v| *v /= rms);
        }
        soft
    }

    fn decode(&mut self, soft: &[f32], pattern: &SealPattern) -> Option<SealMessage> {
        self.viterbi.decode_into(soft, &mut self.bits);
        SealMessage::from_bits(&self.bits, &pattern.mask)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message() -> SealMessage {
        let mut signature = [0u8; SIGNATURE_BYTES];
        for (i, s) in signature.iter_mut().enumerate() {
            *s = (i as u8).wrapping_mul(37) ^ 0x5a;
        }
        SealMessage {
            signature,
            policy: 1,
        }
    }

    #[test]
    fn message_bits_round_trip_and_crc_rejects_flips() {
        let mask: Vec<u8> = (0..SEAL_MESSAGE_BITS).map(|i| (i % 3 == 0) as u8).collect();
        let m = message();
        let bits = m.bits(&mask);
        assert_eq!(SealMessage::from_bits(&bits, &mask), Some(m));
        for i in (0..SEAL_MESSAGE_BITS).step_by(7) {
            let mut b = bits.clone();
            b[i] ^= 1;
            assert_eq!(SealMessage::from_bits(&b, &mask), None, "flip at {i}");
        }
    }

    #[test]
    fn every_cell_carries_a_sign_and_bits_share_cells_fairly() {
        let signs = seal_signs(&WatermarkKey::public(), &message());
        assert_eq!(signs.len(), SEAL_CELLS);
        assert!(signs.iter().all(|&s| s == 1.0 || s == -1.0));
        let p = pattern(&WatermarkKey::public());
        let counts: Vec<usize> = (0..SEAL_CODED_BITS).map(|b| p.bit_cells(b).len()).collect();
        assert_eq!(counts.iter().sum::<usize>(), SEAL_CELLS);
        assert!(counts.iter().all(|&n| n == 1 || n == 2));
        // Independent of the main pattern's key stream: another key differs.
        let q = pattern(&WatermarkKey::from_bytes(b"other"));
        assert_ne!(p.data, q.data);
    }

    #[test]
    fn too_low_rates_have_no_seal_band() {
        assert!(SealReader::new(16_000, 1).is_none());
        assert!(SealReader::new(22_050, 2).is_some());
    }
}
