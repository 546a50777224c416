//! The canonical quantiser and PCM hash.
//!
//! [`quantize`] is the single function that turns `f32` samples into the
//! integers stored in files; the WAV and FLAC writers and [`PcmHasher`] all
//! use it, so a hash computed while writing equals a hash of the samples
//! decoded back from the file.

use sha2::{Digest, Sha256};

use super::{SampleFormat, WriterSpec};

/// Full scale of 16-bit samples (`2^15`).
const SCALE_I16: f32 = 32_768.0;
/// Full scale of 24-bit samples (`2^23`).
const SCALE_I24: f32 = 8_388_608.0;

/// Quantises one sample to the integer stored for `format`.
///
/// * [`SampleFormat::I16`]: `round(x * 32768)` clamped to `[-32768, 32767]`.
/// * [`SampleFormat::I24`]: `round(x * 8388608)` clamped to
///   `[-8388608, 8388607]`.
/// * [`SampleFormat::F32`]: the bit pattern of `x`, unchanged
///   (`x.to_bits() as i32`).
///
/// Rounding is half away from zero; NaN quantises to 0 for the integer
/// formats. The scaling is by a power of two, so it is exact and
/// `quantize(q as f32 / 32768.0, I16) == q` for every 16-bit `q` (likewise
/// for 24 bits): decoding a file and quantising again gives back exactly the
/// stored integers.
#[inline]
pub fn quantize(x: f32, format: SampleFormat) -> i32 {
    match format {
        // `as i32` saturates and maps NaN to 0.
        SampleFormat::I16 => (x * SCALE_I16).round().clamp(-32_768.0, 32_767.0) as i32,
        SampleFormat::I24 => (x * SCALE_I24).round().clamp(-8_388_608.0, 8_388_607.0) as i32,
        SampleFormat::F32 => x.to_bits() as i32,
    }
}

/// Quantises interleaved samples for `format` (exactly [`quantize`] on each),
/// replacing the contents of `out`.
///
/// Written so the compiler vectorises it: `f32::round` is a library call on
/// baseline x86-64, so rounding half away from zero is done as
/// `(y + copysign(0.49999997, y)) as i32`, the largest `f32` below one half
/// (the expansion LLVM itself uses for `round`). It is exact wherever the
/// result is not clamped: below 2^23 every `y + 0.49999997` either is exact
/// or rounds to the next integer exactly when `y` ends in `.5`.
pub fn quantize_into(samples: &[f32], format: SampleFormat, out: &mut Vec<i32>) {
    const BELOW_HALF: f32 = 0.499_999_97;
    let (scale, lo, hi) = match format {
        SampleFormat::I16 => (SCALE_I16, -32_768.0, 32_767.0),
        SampleFormat::I24 => (SCALE_I24, -8_388_608.0, 8_388_607.0),
        SampleFormat::F32 => {
            out.clear();
            out.extend(samples.iter().map(|x| x.to_bits() as i32));
            return;
        }
    };
    out.resize(samples.len(), 0);
    for (q, &x) in out.iter_mut().zip(samples) {
        let y = x * scale;
        let r = y + BELOW_HALF.copysign(y);
        // NaN quantises to 0, like `quantize`; clamping before truncating
        // gives the same integer as clamping after.
        let r = if r.is_nan() { 0.0 } else { r.clamp(lo, hi) };
        // SAFETY: `r` is finite and within the range of `i32`.
        *q = unsafe { r.to_int_unchecked::<i32>() };
    }
}

/// Writes quantised samples as a file stores them, replacing `out`:
/// little-endian integers of 2 ([`SampleFormat::I16`]) or 3
/// ([`SampleFormat::I24`]) bytes, or the 4 bytes of the `f32` bits
/// ([`SampleFormat::F32`]). This is a WAV `data` chunk's layout and the
/// layout FLAC's MD5 covers.
pub fn pack_le(samples: &[i32], format: SampleFormat, out: &mut Vec<u8>) {
    let width = usize::from(format.bits() / 8);
    out.resize(samples.len() * width, 0);
    match format {
        SampleFormat::I16 => {
            for (d, &v) in out.chunks_exact_mut(2).zip(samples) {
                d.copy_from_slice(&(v as i16).to_le_bytes());
            }
        }
        SampleFormat::I24 => {
            for (d, &v) in out.chunks_exact_mut(3).zip(samples) {
                let b = v.to_le_bytes();
                d.copy_from_slice(&[b[0], b[1], b[2]]);
            }
        }
        SampleFormat::F32 => {
            for (d, &v) in out.chunks_exact_mut(4).zip(samples) {
                d.copy_from_slice(&v.to_le_bytes());
            }
        }
    }
}

/// How a [`PcmHasher`] lays out each sample before hashing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PcmLayout {
    /// As a file stores it (see [`pack_le`]): for a WAV output, the SHA-256
    /// of its `data` chunk. What `stamp` signs.
    #[default]
    Stored,
    /// Every sample as a little-endian `i32` (4 bytes; `f32` as its bits):
    /// what manifests signed before the stored layout cover.
    Widened,
}

/// SHA-256 over the quantised samples, interleaved, in a [`PcmLayout`].
///
/// Each sample is quantised with [`quantize`] for the format; only samples
/// are hashed (the rate, channel count and format are not mixed in). Build
/// it with the spec the writer actually uses ([`crate::audio::PcmWriter::spec`]
/// or [`WriterSpec::effective_for`]; for FLAC, F32 becomes I24), so the hash
/// of what is written equals the hash of the samples decoded back.
#[derive(Debug, Clone)]
pub struct PcmHasher {
    sha: Sha256,
    format: SampleFormat,
    layout: PcmLayout,
    samples: u64,
    /// Quantised samples of one batch (reused).
    scratch: Vec<i32>,
    /// Their bytes (reused).
    bytes: Vec<u8>,
}

impl PcmHasher {
    /// A hasher for samples written with `spec`, in the stored layout.
    pub fn new(spec: &WriterSpec) -> Self {
        Self::with_layout(spec, PcmLayout::Stored)
    }

    /// A hasher for samples written with `spec`, in `layout`.
    pub fn with_layout(spec: &WriterSpec, layout: PcmLayout) -> Self {
        PcmHasher {
            sha: Sha256::new(),
            format: spec.sample_format,
            layout,
            samples: 0,
            scratch: Vec::new(),
            bytes: Vec::new(),
        }
    }

    /// Adds interleaved samples (any slicing).
    pub fn update(&mut self, samples: &[f32]) {
        const BATCH: usize = 4096;
        let mut q = std::mem::take(&mut self.scratch);
        for chunk in samples.chunks(BATCH) {
            quantize_into(chunk, self.format, &mut q);
            self.update_quantized(&q);
        }
        self.scratch = q;
    }

    /// Adds interleaved samples already quantised for this hasher's format
    /// (by [`quantize_into`]).
    pub fn update_quantized(&mut self, samples: &[i32]) {
        const BATCH: usize = 16_384;
        for chunk in samples.chunks(BATCH) {
            match self.layout {
                PcmLayout::Stored => pack_le(chunk, self.format, &mut self.bytes),
                PcmLayout::Widened => {
                    self.bytes.resize(chunk.len() * 4, 0);
                    for (d, &v) in self.bytes.chunks_exact_mut(4).zip(chunk) {
                        d.copy_from_slice(&v.to_le_bytes());
                    }
                }
            }
            self.sha.update(&self.bytes);
        }
        self.samples += samples.len() as u64;
    }

    /// Adds samples already packed for the stored layout by [`pack_le`]
    /// (`count` of them). Only for [`PcmLayout::Stored`].
    ///
    /// # Panics
    /// With the widened layout.
    pub fn update_packed(&mut self, packed: &[u8], count: usize) {
        assert_eq!(
            self.layout,
            PcmLayout::Stored,
            "packed samples are stored-layout"
        );
        self.sha.update(packed);
        self.samples += count as u64;
    }

    /// Samples (not frames) hashed so far.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// The SHA-256 digest.
    pub fn finish(self) -> [u8; 32] {
        self.sha.finalize().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantize_i16_rounding_and_clamping() {
        let f = SampleFormat::I16;
        assert_eq!(quantize(0.0, f), 0);
        assert_eq!(quantize(1.0, f), 32_767);
        assert_eq!(quantize(-1.0, f), -32_768);
        assert_eq!(quantize(2.5, f), 32_767);
        assert_eq!(quantize(-7.0, f), -32_768);
        assert_eq!(quantize(0.5 / 32_768.0, f), 1); // half away from zero
        assert_eq!(quantize(-0.5 / 32_768.0, f), -1);
        assert_eq!(quantize(0.49 / 32_768.0, f), 0);
        assert_eq!(quantize(f32::NAN, f), 0);
        assert_eq!(quantize(f32::INFINITY, f), 32_767);
        for q in -32_768..=32_767 {
            assert_eq!(quantize(q as f32 / 32_768.0, f), q);
        }
    }

    #[test]
    fn quantize_i24_exact_inverse() {
        let f = SampleFormat::I24;
        assert_eq!(quantize(1.0, f), 8_388_607);
        assert_eq!(quantize(-1.0, f), -8_388_608);
        for q in (-8_388_608..=8_388_607).step_by(97) {
            assert_eq!(quantize(q as f32 / 8_388_608.0, f), q);
        }
    }

    #[test]
    fn quantize_into_is_quantize() {
        let mut xs: Vec<f32> = vec![
            0.0,
            -0.0,
            1.0,
            -1.0,
            2.5,
            -7.0,
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            0.5 / 32_768.0,
            -0.5 / 32_768.0,
            0.49999997 / 32_768.0,
            1.5 / 8_388_608.0,
            0.499_999_97,
            f32::MIN_POSITIVE,
            1e-30,
        ];
        let mut state = 0x1234_5678u32;
        for _ in 0..100_000 {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            xs.push(f32::from_bits(state) % 2.0);
            xs.push((state as f32 / u32::MAX as f32) * 2.2 - 1.1);
        }
        for format in [SampleFormat::I16, SampleFormat::I24, SampleFormat::F32] {
            let mut out = Vec::new();
            quantize_into(&xs, format, &mut out);
            for (i, (&x, &q)) in xs.iter().zip(&out).enumerate() {
                assert_eq!(q, quantize(x, format), "{format:?} sample {i}: {x:e}");
            }
        }
    }

    #[test]
    fn quantize_f32_is_bits() {
        for x in [0.0f32, -0.0, 0.25, -1.5, f32::MIN_POSITIVE] {
            assert_eq!(quantize(x, SampleFormat::F32) as u32, x.to_bits());
        }
    }

    #[test]
    fn hasher_slicing_invariant_and_sensitive() {
        let spec = WriterSpec {
            sample_rate: 48_000,
            channels: 2,
            sample_format: SampleFormat::I16,
        };
        let x: Vec<f32> = (0..5000).map(|i| ((i as f32) * 0.01).sin() * 0.5).collect();
        let mut a = PcmHasher::new(&spec);
        a.update(&x);
        let mut b = PcmHasher::new(&spec);
        for c in x.chunks(333) {
            b.update(c);
        }
        assert_eq!(b.samples(), 5000);
        let mut q = Vec::new();
        quantize_into(&x, spec.sample_format, &mut q);
        let mut qh = PcmHasher::new(&spec);
        qh.update_quantized(&q);
        assert_eq!(qh.finish(), a.clone().finish());
        let ha = a.finish();
        assert_eq!(ha, b.finish());
        let mut y = x.clone();
        y[1234] += 1.0 / 32_768.0;
        let mut c = PcmHasher::new(&spec);
        c.update(&y);
        assert_ne!(ha, c.finish());
    }

    /// The two layouts, spelled out: stored is the WAV data chunk's bytes,
    /// widened is a little-endian i32 per sample.
    #[test]
    fn layouts_are_the_documented_bytes() {
        use sha2::Digest;
        let q = [1i32, -2, 32_767, -32_768];
        for (format, stored) in [
            (
                SampleFormat::I16,
                vec![1u8, 0, 0xfe, 0xff, 0xff, 0x7f, 0x00, 0x80],
            ),
            (
                SampleFormat::I24,
                vec![1, 0, 0, 0xfe, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0x80, 0xff],
            ),
        ] {
            let mut packed = Vec::new();
            pack_le(&q, format, &mut packed);
            assert_eq!(packed, stored, "{format:?}");
            let spec = WriterSpec {
                sample_rate: 8_000,
                channels: 1,
                sample_format: format,
            };
            let mut h = PcmHasher::new(&spec);
            h.update_quantized(&q);
            assert_eq!(h.finish(), <[u8; 32]>::from(Sha256::digest(&stored)));
            let mut w = PcmHasher::with_layout(&spec, PcmLayout::Widened);
            w.update_quantized(&q);
            let widened: Vec<u8> = q.iter().flat_map(|v| v.to_le_bytes()).collect();
            assert_eq!(w.finish(), <[u8; 32]>::from(Sha256::digest(&widened)));
        }
    }
}
