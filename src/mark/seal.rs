//! The seal layer: a second, slower marker layer that carries a 64-byte
//! signature (and a policy code) inside the audio itself, so a bare copy with
//! no tags, sidecar or catalogue can still prove who stamped it.
//!
//! The main layer (see [`super::layout`]) carries a 64-bit payload in the
//! 0.6–4.4 kHz band and is found in seconds. The seal lives in the *same*
//! cells, as a chip across each cell's four bins ([`SEAL_CHIP`]): a seal sign
//! of +1 raises the cell's lower two bins and lowers its upper two, −1 the
//! reverse, at [`SEAL_DEPTH`] times the marker's depth. The marker reads a
//! cell's *mean* log power, which the chip leaves unchanged; the seal reads
//! the *difference* between the halves, which the marker's sign leaves
//! unchanged. Every cell carries seal data; there are no seal sync cells,
//! because the main layer's synchronisation gives the unit phase.
//!
//! Because the seal shares the marker's band, it survives what the marker
//! survives: codecs that cut everything above 5 kHz, resampling to 16 kHz
//! mono (the form most audio datasets store) and down to 8 kHz.
//!
//! Bit budget per unit:
//!
//! | layer | cells | sync | data cells | message | coded bits | cells per bit |
//! |---|---|---|---|---|---|---|
//! | main | 2178 | 648 | 1530 | 64 payload + 32 CRC = 96 | 306 | 5.0 |
//! | seal | 2178 | 0 | 2178 | 512 signature + 8 policy + 32 CRC = 552 | 1674 | 1.30 |
//!
//! Both use the rate-1/3, K = 7 convolutional code (see [`super::code`]).
//! One unit of seal is far too weak to read on its own; the reader folds
//! every unit of the track onto one (as the main detector does), so a
//! 2-minute track adds up 52 repeats, about 68 cells per coded bit. The
//! CRC says whether the read worked; whether the signature is *valid* is the
//! provenance layer's business (this module knows no cryptography: the 64
//! bytes are opaque here).
//!
//! **Version-1 stamps** carried the seal in a band of its own, 4.6–8.7 kHz,
//! one sign per 4-bin cell. The reader still reads that band when the rate
//! has it, so those stamps keep their seal; nothing writes it any more.

use super::code::{coded_len, crc32, Viterbi};
use super::detect::{downmix, Scale};
use super::key::{SealPattern, WatermarkKey};
use super::layout::{Layout, CANONICAL_RATE, FRAME, SEAL_CHIP, SILENCE_POWER};
use super::masking::fast_ln;
use super::resample::Resampler;
use super::stft::FrameFft;

#[cfg(doc)]
use super::layout::SEAL_DEPTH;

/// Bytes of the signature the seal carries (an Ed25519 signature).
pub const SIGNATURE_BYTES: usize = 64;
/// Message bytes: signature, policy code, CRC-32.
const MESSAGE_BYTES: usize = SIGNATURE_BYTES + 1 + 4;
/// Message bits before channel coding.
pub const SEAL_MESSAGE_BITS: usize = MESSAGE_BYTES * 8;
/// Coded bits per unit.
pub const SEAL_CODED_BITS: usize = coded_len(SEAL_MESSAGE_BITS);
/// Reader rows per canonical hop (a row every 5.8 ms).
const ROWS_PER_HOP: usize = 2;
/// Length of audio the seal is designed to be read from, seconds: a
/// full-length track (52 units). Shorter excerpts may read, but not reliably.
pub const FULL_TRACK_SECONDS: f64 = 120.0;
/// Lowest input rate the seal is read at: the marker band's, 8 kHz
/// telephone audio (whose top 0.4 kHz of the band is gone).
pub const MIN_SEAL_RATE: u32 = 8_000;

/// Where a seal lives and how the reader sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SealBand {
    /// Chips inside the marker's cells (what stamps carry now).
    Marker,
    /// Version-1 stamps: a band of its own, 4.6–8.7 kHz, one sign per
    /// 4-bin cell; read only.
    Upper,
}

/// Bins per seal cell (both geometries).
const CELL_BINS: usize = 4;

impl SealBand {
    /// Analysis rate: the canonical rate, or twice it for the upper band
    /// (frames twice as long keep the canonical bin spacing up to 11 kHz).
    fn read_rate(self) -> u32 {
        match self {
            SealBand::Marker => CANONICAL_RATE,
            SealBand::Upper => 2 * CANONICAL_RATE,
        }
    }
    fn frame(self) -> usize {
        match self {
            SealBand::Marker => FRAME,
            SealBand::Upper => 2 * FRAME,
        }
    }
    /// Samples at the read rate between rows.
    fn row_hop(self) -> usize {
        self.frame() / 2 / ROWS_PER_HOP
    }
    /// First bin of the band, at the canonical bin spacing.
    fn bin_lo(self) -> usize {
        match self {
            SealBand::Marker => Layout::V1.bin_lo,
            SealBand::Upper => 107,
        }
    }
    fn freq_cells(self) -> usize {
        match self {
            SealBand::Marker => Layout::V1.freq_cells,
            SealBand::Upper => 24,
        }
    }
    fn bin_hi(self) -> usize {
        self.bin_lo() + CELL_BINS * self.freq_cells()
    }
    /// Seal cells per unit.
    fn cells(self) -> usize {
        self.freq_cells() * Layout::V1.time_cells
    }
    /// Lowest input rate (before a speed change) that holds the band.
    fn min_rate(self) -> u32 {
        match self {
            SealBand::Marker => MIN_SEAL_RATE,
            SealBand::Upper => 17_600,
        }
    }
    /// Power of a frame at the read rate in canonical units.
    fn power_scale(self) -> f32 {
        (FRAME as f32 / self.frame() as f32).powi(2)
    }
    /// A cell's value from its bins' log powers: the chip's correlation
    /// (the marker band), or their mean (the upper band).
    fn cell_value(self, logs: &[f32]) -> f32 {
        let v: f32 = match self {
            SealBand::Marker => logs.iter().zip(SEAL_CHIP).map(|(l, c)| l * c).sum(),
            SealBand::Upper => logs.iter().sum(),
        };
        v / CELL_BINS as f32
    }
    fn pattern(self, key: &WatermarkKey) -> SealPattern {
        SealPattern::new(key, self.cells(), SEAL_CODED_BITS, SEAL_MESSAGE_BITS)
    }
    /// Coded sign (±1) of every cell of a unit of this geometry for
    /// `message`, indexed by `time_cell * freq_cells + freq_cell`.
    fn signs(self, key: &WatermarkKey, message: &SealMessage) -> Vec<f32> {
        let pattern = self.pattern(key);
        let coded = message.coded(&pattern);
        let mut signs = vec![0f32; self.cells()];
        for (bit, &value) in coded.iter().enumerate() {
            let polarity = if value == 1 { 1.0 } else { -1.0 };
            for c in pattern.bit_cells(bit) {
                signs[c.index as usize] = c.sign * polarity;
            }
        }
        signs
    }
    /// Frequency corrections tried around a scale the main layer's search
    /// found: the main layer tolerates about ±2.5 % of frequency error, the
    /// seal's chips (half cells) about ±0.8 % at the top of the marker band
    /// and the upper band's cells about ±0.4 %, so readers 1.4 % (0.7 %)
    /// apart cover what the search can leave (the time factor is kept).
    fn freq_steps(self) -> &'static [f64] {
        match self {
            SealBand::Marker => &[1.0, 0.986, 1.014, 0.972, 1.028],
            SealBand::Upper => &[1.0, 0.993, 1.007, 0.986, 1.014, 0.979, 1.021, 0.972, 1.028],
        }
    }
}

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

    /// The coded bits of this message in `band`'s pattern under `key`.
    fn coded(&self, pattern: &SealPattern) -> Vec<u8> {
        let mut coded = vec![0u8; SEAL_CODED_BITS];
        super::code::encode_into(&self.bits(&pattern.mask), &mut coded);
        coded
    }
}

/// Coded sign (±1) of every seal cell of a unit for `message`, indexed by
/// `time_cell * freq_cells + freq_cell` like the marker's cells (the chip
/// each sign multiplies is the embedder's business).
pub fn seal_signs(key: &WatermarkKey, message: &SealMessage) -> Vec<f32> {
    SealBand::Marker.signs(key, message)
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
    /// Whether the message came from a version-1 stamp's upper band.
    pub version_1: bool,
}

impl SealRead {
    /// Fraction of coded bits whose hard decision matches `message`'s coding
    /// under `key` (1.0 = no raw bit errors, 0.5 = chance).
    pub fn agreement(&self, key: &WatermarkKey, message: &SealMessage) -> f64 {
        let band = if self.version_1 {
            SealBand::Upper
        } else {
            SealBand::Marker
        };
        let coded = message.coded(&band.pattern(key));
        let same = self
            .soft
            .iter()
            .zip(&coded)
            .filter(|(s, &c)| (**s > 0.0) == (c == 1))
            .count();
        same as f64 / SEAL_CODED_BITS as f64
    }
}

/// Reads one seal geometry: resamples, analyses rows and folds every unit
/// onto one.
struct BandReader {
    band: SealBand,
    down: Resampler,
    buf: Vec<f32>,
    /// Position of the next row in `buf` (rounded to a sample when read).
    pos: f64,
    /// Samples between rows (the row hop, divided by the tempo undone).
    row_step: f64,
    /// Observed seconds per original second (`1 / (speed * tempo)`).
    time_factor: f64,
    fft: FrameFft,
    logs: Vec<f32>,
    row: Vec<f32>,
    /// `fold[r * freq_cells + f]`: sum of row values at row `r` modulo the
    /// unit.
    fold: Vec<f32>,
    rows: u64,
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

impl BandReader {
    /// A reader of `band` undoing `scale`, or `None` when the input's rate
    /// cannot hold the band or the scale is out of range.
    fn new(band: SealBand, sample_rate: u32, scale: Scale) -> Option<Self> {
        let valid = (0.5..=2.0).contains(&scale.speed) && (0.5..=2.0).contains(&scale.tempo);
        if !valid || f64::from(sample_rate) / scale.speed < f64::from(band.min_rate()) {
            return None;
        }
        Some(BandReader {
            band,
            down: Resampler::undoing_speed(sample_rate, band.read_rate(), scale.speed),
            buf: Vec::new(),
            pos: 0.0,
            row_step: band.row_hop() as f64 / scale.tempo,
            time_factor: 1.0 / (scale.speed * scale.tempo),
            fft: FrameFft::with_len(band.frame()),
            logs: vec![0.0; band.bin_hi() - band.bin_lo()],
            row: vec![0.0; band.freq_cells()],
            fold: vec![0.0; unit_rows() * band.freq_cells()],
            rows: 0,
        })
    }

    fn process(&mut self, mono: &[f32]) {
        self.down.push(mono, &mut self.buf);
        self.run_rows();
    }

    fn run_rows(&mut self) {
        let u = unit_rows();
        let band = self.band;
        let (lo, hi, j, frame) = (
            band.bin_lo(),
            band.bin_hi(),
            band.freq_cells(),
            band.frame(),
        );
        let scale = band.power_scale();
        loop {
            let at = self.pos.round() as usize;
            if at + frame > self.buf.len() {
                break;
            }
            let spec = self.fft.forward(&self.buf[at..at + frame]);
            let power: f32 = spec[lo..hi].iter().map(|c| c.norm_sqr()).sum();
            let mean = power / (hi - lo) as f32;
            if mean * scale >= SILENCE_POWER {
                let floor = mean * 1e-6;
                for (l, c) in self.logs.iter_mut().zip(&spec[lo..hi]) {
                    *l = fast_ln(c.norm_sqr() + floor);
                }
                for (v, logs) in self.row.iter_mut().zip(self.logs.chunks_exact(CELL_BINS)) {
                    *v = band.cell_value(logs);
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
    fn seconds(&self) -> f64 {
        self.rows as f64 * self.band.row_hop() as f64 / f64::from(self.band.read_rate())
            * self.time_factor
    }

    /// Ends the stream and decodes at `phase_seconds` (see
    /// [`SealReader::finish`]), trying the nearest rows on each side too.
    fn finish(mut self, key: &WatermarkKey, phase_seconds: f64) -> SealRead {
        self.down.finish(&mut self.buf);
        self.run_rows();
        let u = unit_rows();
        // The phase is in the input's timeline; rows are in the original's.
        let row_seconds =
            self.band.row_hop() as f64 / f64::from(self.band.read_rate()) * self.time_factor;
        let p0 = (phase_seconds / row_seconds).round().rem_euclid(u as f64) as usize;
        let pattern = self.band.pattern(key);
        let mut decoder = Decoder::new(self.band);
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
            version_1: self.band == SealBand::Upper,
        }
    }
}

/// Band readers fed together from one downmix: for each seal geometry the
/// rate holds, one reader per frequency correction.
struct BandReaders {
    channels: usize,
    mono: Vec<f32>,
    readers: Vec<BandReader>,
}

impl BandReaders {
    /// Readers undoing `scale` times each of `steps(band)` (a frequency
    /// correction: the speed multiplied, the tempo divided, so the time
    /// factor is kept), current seals first; `None` when no geometry fits
    /// the rate.
    fn new(
        sample_rate: u32,
        channels: usize,
        scale: Scale,
        steps: fn(SealBand) -> &'static [f64],
    ) -> Option<Self> {
        if channels == 0 {
            return None;
        }
        let readers: Vec<BandReader> = [SealBand::Marker, SealBand::Upper]
            .into_iter()
            .flat_map(|band| {
                steps(band).iter().filter_map(move |f| {
                    let s = Scale {
                        speed: scale.speed * f,
                        tempo: scale.tempo / f,
                    };
                    BandReader::new(band, sample_rate, s)
                })
            })
            .collect();
        (!readers.is_empty()).then_some(BandReaders {
            channels,
            mono: Vec::new(),
            readers,
        })
    }

    fn process(&mut self, input: &[f32]) {
        assert_eq!(input.len() % self.channels, 0, "whole frames");
        downmix(input, self.channels, &mut self.mono);
        for r in &mut self.readers {
            r.process(&self.mono);
        }
    }

    /// Decodes every reader in order; the first read whose CRC passes, else
    /// the first reader's read.
    fn finish(self, key: &WatermarkKey, phase_seconds: f64) -> SealRead {
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

/// Streaming seal reader: folds every unit of the input onto one, then
/// decodes it at the unit phase the main detector found. It reads the
/// current seal and, when the rate has its band, a version-1 stamp's.
pub struct SealReader(BandReaders);

impl std::fmt::Debug for SealReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealReader")
            .field("rows", &self.0.readers[0].rows)
            .finish_non_exhaustive()
    }
}

impl SealReader {
    /// A reader for `channels` channels at `sample_rate` Hz, or `None` when
    /// the rate is too low for the seal to exist.
    pub fn new(sample_rate: u32, channels: usize) -> Option<Self> {
        Self::with_scale(sample_rate, channels, Scale::IDENTITY)
    }

    /// A reader that first undoes a speed and tempo change (see [`Scale`];
    /// the main detector's search finds it), as [`Detector::with_scale`]
    /// does: the speed through the resampler, the tempo by spacing rows.
    /// `None` when the seal cannot exist at this rate.
    ///
    /// [`Detector::with_scale`]: super::Detector::with_scale
    pub fn with_scale(sample_rate: u32, channels: usize, scale: Scale) -> Option<Self> {
        BandReaders::new(sample_rate, channels, scale, |_| &[1.0]).map(SealReader)
    }

    /// Feeds interleaved samples.
    ///
    /// # Panics
    /// Panics if `input.len()` is not a multiple of the channel count.
    pub fn process(&mut self, input: &[f32]) {
        self.0.process(input);
    }

    /// Seconds of input folded so far (in the input's own timeline).
    pub fn seconds(&self) -> f64 {
        self.0.readers[0].seconds()
    }

    /// Ends the stream and decodes the seal for `key`, with units starting
    /// `phase_seconds` (modulo the unit length, in the input's timeline)
    /// after the start of the input, as the main detector reports it. Tries
    /// the nearest reader rows on each side of the phase too.
    pub fn finish(self, key: &WatermarkKey, phase_seconds: f64) -> SealRead {
        self.0.finish(key, phase_seconds)
    }
}

/// Seal readers around a speed/tempo/pitch change the main layer's search
/// found, each with a slightly different frequency correction, fed
/// together; the first whose CRC passes gives the message. Each costs about
/// as much as one [`SealReader`].
pub struct ScaledSealReader(BandReaders);

impl std::fmt::Debug for ScaledSealReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScaledSealReader")
            .field("readers", &self.0.readers.len())
            .finish_non_exhaustive()
    }
}

impl ScaledSealReader {
    /// Readers for `channels` channels at `sample_rate` Hz around `scale`;
    /// `None` when the seal cannot exist at this rate.
    pub fn new(sample_rate: u32, channels: usize, scale: Scale) -> Option<Self> {
        BandReaders::new(sample_rate, channels, scale, SealBand::freq_steps).map(ScaledSealReader)
    }

    /// Feeds interleaved samples to every reader.
    ///
    /// # Panics
    /// Panics if `input.len()` is not a multiple of the channel count.
    pub fn process(&mut self, input: &[f32]) {
        self.0.process(input);
    }

    /// The read of the first reader whose CRC passes (current seals before
    /// version-1 ones), else the read of the reader at the found scale
    /// itself (see [`SealReader::finish`]).
    pub fn finish(self, key: &WatermarkKey, phase_seconds: f64) -> SealRead {
        self.0.finish(key, phase_seconds)
    }
}

/// Turns a fold into soft bits and decodes them.
struct Decoder {
    band: SealBand,
    cells: Vec<f32>,
    viterbi: Viterbi,
    bits: Vec<u8>,
}

impl Decoder {
    fn new(band: SealBand) -> Self {
        Decoder {
            band,
            cells: vec![0.0; band.cells()],
            viterbi: Viterbi::new(),
            bits: vec![0; SEAL_MESSAGE_BITS],
        }
    }

    /// Soft coded bits for units starting at reader row `phase` of the fold.
    fn soft(&mut self, fold: &[f32], phase: usize, pattern: &SealPattern) -> Vec<f32> {
        let (u, j) = (unit_rows(), self.band.freq_cells());
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
        // cell, and a mean over all 99 cells (unlike a local high-pass,
        // measured: twice the raw bit errors of the chips) adds almost no
        // interference between the seal's own cells.
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
        assert_eq!(signs.len(), SealBand::Marker.cells());
        assert!(signs.iter().all(|&s| s == 1.0 || s == -1.0));
        let p = SealBand::Marker.pattern(&WatermarkKey::public());
        let counts: Vec<usize> = (0..SEAL_CODED_BITS).map(|b| p.bit_cells(b).len()).collect();
        assert_eq!(counts.iter().sum::<usize>(), SealBand::Marker.cells());
        assert!(counts.iter().all(|&n| n == 1 || n == 2));
        // Independent of the main pattern's key stream: another key differs.
        let q = SealBand::Marker.pattern(&WatermarkKey::from_bytes(b"other"));
        assert_ne!(p.data, q.data);
    }

    /// A version-1 stamp's seal (one sign per 4-bin cell of the 4.6–8.7 kHz
    /// band, depth 0.3), synthesised the way that embedder shaped it: every
    /// canonical frame's spectrum (random phases, 22.05 kHz, 512-sample
    /// sine-windowed frames, hop 256) scaled cell by cell, then overlap-added.
    fn version_1_stamp(key: &WatermarkKey, message: &SealMessage, seconds: usize) -> Vec<f32> {
        use rand_chacha::rand_core::{RngCore, SeedableRng};
        use realfft::RealFftPlanner;
        let band = SealBand::Upper;
        let signs = band.signs(key, message);
        let (n, hop) = (band.frame(), band.frame() / 2);
        let window = super::super::stft::sine_window(n);
        let inverse = RealFftPlanner::<f32>::new().plan_fft_inverse(n);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let len = seconds * band.read_rate() as usize;
        let mut out = vec![0f32; len + n];
        let l = Layout::V1;
        let mut spectrum = inverse.make_input_vec();
        let mut frame = inverse.make_output_vec();
        for f in 0..len / hop {
            let time_cell = (f % l.unit_frames()) / l.cell_frames;
            for (k, bin) in spectrum.iter_mut().enumerate() {
                let phase = rng.next_u32() as f32 / u32::MAX as f32 * std::f32::consts::TAU;
                // Music-like: falling with frequency, present from 100 Hz.
                let mut amp = if (3..n / 2).contains(&k) {
                    1.0 / (1.0 + k as f32 / 40.0)
                } else {
                    0.0
                };
                if (band.bin_lo()..band.bin_hi()).contains(&k) {
                    let cell = (k - band.bin_lo()) / CELL_BINS;
                    amp *= 1.0 + 0.3 * signs[time_cell * band.freq_cells() + cell];
                }
                *bin = rustfft::num_complex::Complex32::from_polar(amp, phase);
            }
            inverse.process(&mut spectrum, &mut frame).unwrap();
            for ((o, &x), &w) in out[f * hop..].iter_mut().zip(&frame).zip(&window) {
                *o += 0.01 * x * w;
            }
        }
        out.truncate(len);
        out
    }

    #[test]
    fn version_1_seals_are_still_read() {
        let key = WatermarkKey::from_bytes(b"a version-1 stamp");
        let m = message();
        let audio = version_1_stamp(&key, &m, 60);
        let mut reader = SealReader::new(22_050, 1).unwrap();
        for chunk in audio.chunks(10_000) {
            reader.process(chunk);
        }
        let read = reader.finish(&key, 0.0);
        assert_eq!(read.message, Some(m));
        assert!(read.version_1);
        assert!(
            read.agreement(&key, &m) > 0.9,
            "{}",
            read.agreement(&key, &m)
        );
        // Another key reads nothing from it.
        let mut reader = SealReader::new(22_050, 1).unwrap();
        reader.process(&audio);
        let other = WatermarkKey::from_bytes(b"another key");
        assert_eq!(reader.finish(&other, 0.0).message, None);
    }

    #[test]
    fn the_seal_is_read_down_to_8_khz_and_version_1_seals_where_their_band_exists() {
        let bands = |rate| SealReader::new(rate, 1).map(|r| r.0.readers.len());
        assert_eq!(bands(7_999), None);
        assert_eq!(bands(8_000), Some(1));
        assert_eq!(bands(16_000), Some(1));
        assert_eq!(bands(22_050), Some(2));
        // A speed-up by 1.05 needs the band 5 % higher in the copy.
        let fast = Scale {
            speed: 1.05,
            tempo: 1.0,
        };
        assert!(SealReader::with_scale(8_000, 1, fast).is_none());
        assert!(ScaledSealReader::new(44_100, 2, fast).is_some());
    }
}
