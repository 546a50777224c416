//! Pure signal-processing attacks and helpers: gain, noise, low-pass, downmix, resampling.
//!
//! Everything here works on planar `Vec<Vec<f32>>` (one vector per channel) or on
//! interleaved slices, never on `Audio` directly, so it is easy to test in isolation.

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};
use rubato::{FftFixedInOut, Resampler};

use super::AttackError;

/// Split interleaved samples into one vector per channel.
pub(super) fn deinterleave(samples: &[f32], channels: usize) -> Vec<Vec<f32>> {
    let frames = samples.len() / channels;
    let mut planar = vec![Vec::with_capacity(frames); channels];
    for frame in samples.chunks_exact(channels) {
        for (ch, &s) in planar.iter_mut().zip(frame) {
            ch.push(s);
        }
    }
    planar
}

/// Interleave equally long channel vectors.
pub(super) fn interleave(planar: &[Vec<f32>]) -> Vec<f32> {
    let channels = planar.len();
    let frames = planar.first().map_or(0, Vec::len);
    let mut out = Vec::with_capacity(frames * channels);
    for i in 0..frames {
        for ch in planar {
            out.push(ch[i]);
        }
    }
    out
}

/// Multiply by `10^(db/20)` and hard-clip to [-1, 1].
pub(super) fn gain(samples: &[f32], db: f32) -> Vec<f32> {
    let g = 10f32.powf(db / 20.0);
    samples.iter().map(|&s| (s * g).clamp(-1.0, 1.0)).collect()
}

/// Average all channels of interleaved audio into one.
pub(super) fn to_mono(samples: &[f32], channels: usize) -> Vec<f32> {
    let inv = 1.0 / channels as f32;
    samples
        .chunks_exact(channels)
        .map(|frame| frame.iter().sum::<f32>() * inv)
        .collect()
}

/// Downmix interleaved audio with more than two channels to stereo.
///
/// Audio carries no channel layout, so the rule is layout-agnostic: channel 0 goes left,
/// channel 1 goes right, and every further channel is split equally (0.5 each) into both.
/// Each output is then divided by its total gain `1 + 0.5 (n - 2)` so that a signal common
/// to all channels keeps its level.
pub(super) fn downmix_to_stereo(samples: &[f32], channels: usize) -> Vec<f32> {
    debug_assert!(channels > 2);
    let norm = 1.0 / (1.0 + 0.5 * (channels - 2) as f32);
    let mut out = Vec::with_capacity(samples.len() / channels * 2);
    for frame in samples.chunks_exact(channels) {
        let shared: f32 = frame[2..].iter().sum::<f32>() * 0.5;
        out.push((frame[0] + shared) * norm);
        out.push((frame[1] + shared) * norm);
    }
    out
}

/// Add white Gaussian noise whose power is `snr_db` below the mean signal power, measured
/// over all samples of all channels together (one noise level for the whole signal).
/// Silent input is returned unchanged, since no noise level can be derived from it.
pub(super) fn add_noise(samples: &[f32], snr_db: f32, seed: u64) -> Vec<f32> {
    if samples.is_empty() {
        return Vec::new();
    }
    let power = samples.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / samples.len() as f64;
    if power == 0.0 {
        return samples.to_vec();
    }
    let sigma = (power / 10f64.powf(f64::from(snr_db) / 10.0)).sqrt();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut gauss = GaussianPairs::default();
    samples
        .iter()
        .map(|&s| (f64::from(s) + sigma * gauss.next(&mut rng)) as f32)
        .collect()
}

/// Box–Muller standard normal generator that uses both values of each pair.
#[derive(Default)]
struct GaussianPairs {
    spare: Option<f64>,
}

impl GaussianPairs {
    fn next(&mut self, rng: &mut ChaCha8Rng) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        // 53 random bits mapped into (0, 1]: never 0, so ln() is finite.
        let u1 = ((rng.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64;
        let u2 = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let r = (-2.0 * u1.ln()).sqrt();
        let theta = 2.0 * std::f64::consts::PI * u2;
        self.spare = Some(r * theta.sin());
        r * theta.cos()
    }
}

/// Uniform integer in `0..=max` from a seeded ChaCha8 stream (rejection sampling, no bias).
pub(super) fn uniform_inclusive(seed: u64, max: u64) -> u64 {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    if max == u64::MAX {
        return rng.next_u64();
    }
    let range = max + 1;
    // Largest multiple of `range` that fits in u64 arithmetic: reject values at or above it.
    let zone = u64::MAX - (u64::MAX % range + 1) % range;
    loop {
        let v = rng.next_u64();
        if v <= zone {
            return v % range;
        }
    }
}

/// Stopband attenuation of the low-pass FIR, in dB.
pub(super) const LOWPASS_STOPBAND_DB: f64 = 80.0;

/// Design a linear-phase Kaiser-windowed-sinc low-pass FIR.
///
/// The cutoff (-6 dB point) is at `hz`; the transition band is `0.1 * hz` wide (at least
/// 50 Hz), centred on `hz`; the stopband is attenuated by [`LOWPASS_STOPBAND_DB`]. The
/// returned filter has odd length, so its group delay `(len - 1) / 2` is a whole number of
/// samples.
pub(super) fn design_lowpass(hz: f64, sample_rate: f64) -> Vec<f32> {
    let transition = (0.1 * hz).max(50.0);
    let a = LOWPASS_STOPBAND_DB;
    let beta = 0.1102 * (a - 8.7);
    let dw = 2.0 * std::f64::consts::PI * transition / sample_rate;
    let mut len = ((a - 7.95) / (2.285 * dw)).ceil() as usize + 1;
    if len % 2 == 0 {
        len += 1;
    }
    let mid = (len / 2) as f64;
    let fc = hz / sample_rate; // cycles per sample
    let i0_beta = bessel_i0(beta);
    let mut taps: Vec<f64> = (0..len)
        .map(|n| {
            let x = n as f64 - mid;
            let sinc = if x == 0.0 {
                2.0 * fc
            } else {
                (2.0 * std::f64::consts::PI * fc * x).sin() / (std::f64::consts::PI * x)
            };
            let r = x / mid;
            let w = bessel_i0(beta * (1.0 - r * r).max(0.0).sqrt()) / i0_beta;
            sinc * w
        })
        .collect();
    // Unity gain at DC.
    let sum: f64 = taps.iter().sum();
    taps.iter_mut().for_each(|t| *t /= sum);
    taps.into_iter().map(|t| t as f32).collect()
}

/// Zeroth-order modified Bessel function of the first kind (power series).
fn bessel_i0(x: f64) -> f64 {
    let mut sum = 1.0;
    let mut term = 1.0;
    let q = x * x / 4.0;
    for k in 1..200 {
        term *= q / (k * k) as f64;
        sum += term;
        if term < sum * 1e-17 {
            break;
        }
    }
    sum
}

/// A symmetric odd-length FIR applied by FFT overlap-save, with its group delay removed:
/// the output has the input's length and is time-aligned with it (zero-phase response).
pub(super) struct ZeroDelayFir {
    taps_len: usize,
    fft_len: usize,
    forward: std::sync::Arc<dyn RealToComplex<f32>>,
    inverse: std::sync::Arc<dyn ComplexToReal<f32>>,
    /// Spectrum of the zero-padded taps, already scaled by 1 / fft_len.
    spectrum: Vec<Complex<f32>>,
}

impl ZeroDelayFir {
    pub(super) fn new(taps: &[f32]) -> Self {
        debug_assert!(taps.len() % 2 == 1);
        let fft_len = (4 * taps.len()).next_power_of_two().max(4096);
        let mut planner = RealFftPlanner::<f32>::new();
        let forward = planner.plan_fft_forward(fft_len);
        let inverse = planner.plan_fft_inverse(fft_len);
        let mut padded = forward.make_input_vec();
        padded[..taps.len()].copy_from_slice(taps);
        let mut spectrum = forward.make_output_vec();
        forward
            .process(&mut padded, &mut spectrum)
            .expect("buffers come from the plan");
        let scale = 1.0 / fft_len as f32;
        spectrum.iter_mut().for_each(|c| *c *= scale);
        Self {
            taps_len: taps.len(),
            fft_len,
            forward,
            inverse,
            spectrum,
        }
    }

    /// Filter one channel.
    pub(super) fn apply(&self, x: &[f32]) -> Vec<f32> {
        let (n, l) = (self.fft_len, self.taps_len);
        let delay = l / 2;
        let hop = n - (l - 1);
        // Causal output y_full[i] = sum_k h[k] x[i - k]; the aligned output is
        // y_full[delay..delay + len]. Overlap-save: block b reads x from b*hop - (l - 1) and
        // its last `hop` outputs are y_full[b*hop..(b + 1)*hop].
        let needed = delay + x.len();
        let mut out = Vec::with_capacity(needed + hop);
        let mut time = self.forward.make_input_vec();
        let mut freq = self.forward.make_output_vec();
        let mut scratch_fw = self.forward.make_scratch_vec();
        let mut scratch_inv = self.inverse.make_scratch_vec();
        let mut block_start = 0usize;
        while out.len() < needed {
            // time[j] = x[block_start + j - (l - 1)], zero outside the signal.
            for (j, t) in time.iter_mut().enumerate() {
                *t = (block_start + j)
                    .checked_sub(l - 1)
                    .and_then(|i| x.get(i))
                    .copied()
                    .unwrap_or(0.0);
            }
            self.forward
                .process_with_scratch(&mut time, &mut freq, &mut scratch_fw)
                .expect("buffers come from the plan");
            for (f, h) in freq.iter_mut().zip(&self.spectrum) {
                *f *= *h;
            }
            // DC and Nyquist bins of a real signal are real; clear rounding residue.
            freq[0].im = 0.0;
            if let Some(last) = freq.last_mut() {
                last.im = 0.0;
            }
            self.inverse
                .process_with_scratch(&mut freq, &mut time, &mut scratch_inv)
                .expect("buffers come from the plan");
            out.extend_from_slice(&time[l - 1..]);
            block_start += hop;
        }
        out.drain(..delay);
        out.truncate(x.len());
        out
    }
}

/// Minimum FFT length (input side) of the resampler; longer means a sharper anti-alias filter.
const RESAMPLE_MIN_CHUNK: usize = 2048;

/// Resample planar audio from `from` Hz to `to` Hz with rubato's synchronous FFT resampler.
///
/// The resampler's delay is removed exactly, so output frame `m` sits at time `m / to` like
/// input frame `n` sits at `n / from`. The output has `out_len` frames (zero-padded past the
/// end of the input); [`resampled_len`] gives the natural length `ceil(len * to / from)`.
///
/// Why FFT and not sinc: rubato's `FftFixedInOut` delays by exactly `fft_size_out / 2`
/// output frames, a whole number when both FFT sizes are even (arranged below), whereas the
/// asynchronous sinc resamplers have a fractional delay that `output_delay()` truncates.
pub(super) fn resample(
    planar: &[Vec<f32>],
    from: u32,
    to: u32,
    out_len: usize,
) -> Result<Vec<Vec<f32>>, AttackError> {
    let len = planar.first().map_or(0, Vec::len);
    let want = out_len;
    if from == to || len == 0 {
        return Ok(planar
            .iter()
            .map(|c| {
                let mut c = c.clone();
                c.resize(want, 0.0);
                c
            })
            .collect());
    }
    check_resample_rates(from, to)?;
    let (from_u, to_u) = (from as usize, to as usize);
    let g = gcd(from_u, to_u);
    let min_in = from_u / g;
    // An even number of minimal chunks makes both FFT sizes even.
    let k = 2 * RESAMPLE_MIN_CHUNK.div_ceil(2 * min_in);
    let mut rs = FftFixedInOut::<f32>::new(from_u, to_u, k * min_in, planar.len())
        .map_err(|e| AttackError::Resample(e.to_string()))?;
    let n_in = rs.input_frames_next();
    let n_out = rs.output_frames_next();
    let delay = rs.output_delay();
    debug_assert_eq!(n_in % 2, 0);
    debug_assert_eq!(n_out % 2, 0);
    debug_assert_eq!(delay * 2, n_out);

    let needed = delay + want;
    let mut out: Vec<Vec<f32>> = vec![Vec::with_capacity(needed + n_out); planar.len()];
    let mut inbuf = vec![vec![0.0f32; n_in]; planar.len()];
    let mut outbuf = vec![vec![0.0f32; n_out]; planar.len()];
    let mut pos = 0usize;
    while out[0].len() < needed {
        for (buf, ch) in inbuf.iter_mut().zip(planar) {
            let start = pos.min(len);
            let end = (pos + n_in).min(len);
            buf[..end - start].copy_from_slice(&ch[start..end]);
            buf[end - start..].fill(0.0);
        }
        pos += n_in;
        rs.process_into_buffer(&inbuf, &mut outbuf, None)
            .map_err(|e| AttackError::Resample(e.to_string()))?;
        for (o, b) in out.iter_mut().zip(&outbuf) {
            o.extend_from_slice(b);
        }
    }
    for o in &mut out {
        o.drain(..delay);
        o.truncate(want);
    }
    Ok(out)
}

/// Largest resampling ratio (either direction) accepted.
pub(super) const MAX_RESAMPLE_RATIO: u32 = 256;
/// Largest FFT the resampler may need (frames, either side): bounds memory for rate pairs
/// with a tiny common divisor.
const MAX_RESAMPLE_FFT: usize = 1 << 22;

/// Refuse rate pairs whose FFT resampler would be absurdly large.
pub(super) fn check_resample_rates(from: u32, to: u32) -> Result<(), AttackError> {
    let (from_u, to_u) = (from as usize, to as usize);
    if from == 0 || to == 0 || from / to >= MAX_RESAMPLE_RATIO || to / from >= MAX_RESAMPLE_RATIO {
        return Err(AttackError::Resample(format!(
            "cannot resample {from} Hz to {to} Hz: ratio beyond 1:{MAX_RESAMPLE_RATIO}"
        )));
    }
    let g = gcd(from_u, to_u);
    let k = 2 * RESAMPLE_MIN_CHUNK.div_ceil(2 * (from_u / g));
    if k * (from_u / g).max(to_u / g) > MAX_RESAMPLE_FFT {
        return Err(AttackError::Resample(format!(
            "cannot resample {from} Hz to {to} Hz: the rates share too small a divisor ({g} Hz)"
        )));
    }
    Ok(())
}

/// Frames covering the same duration as `len` frames at `from` Hz, at `to` Hz (rounded up).
pub(super) fn resampled_len(len: usize, from: u32, to: u32) -> usize {
    (len as u64 * u64::from(to)).div_ceil(u64::from(from)) as usize
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}
