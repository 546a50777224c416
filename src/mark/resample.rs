//! Streaming rational resampler (polyphase, Kaiser-windowed sinc) between a
//! file's native sample rate and the canonical marker domain.
//!
//! Output sample `n` is centred on input time `n * down / up` (in input
//! samples): the filter is linear-phase and non-causal, so the resampled
//! signal is time-aligned with the input and needs no delay compensation by
//! callers. The pass band reaches the lower rate's Nyquist frequency; the
//! marker band ends well below it (≈ 4.4 kHz of 5.5 kHz), which is what the
//! transition band is sized for.

/// Half-length of the filter, in samples of the lower of the two rates.
const HALF_TAPS_AT_LOW_RATE: usize = 6;
/// Kaiser window β (≈ 45 dB stop band).
const KAISER_BETA: f64 = 4.5;

/// A streaming single-channel resampler. Feed input with [`Resampler::push`],
/// call [`Resampler::finish`] once at the end; together they produce exactly
/// `ceil(input_len * up / down)` output samples.
#[derive(Debug, Clone)]
pub struct Resampler {
    up: u64,
    down: u64,
    /// Taps per phase, padded to a multiple of 8.
    taps: usize,
    half: i64,
    /// `up` phases × `taps` coefficients.
    bank: Vec<f32>,
    /// Input history; `buf[0]` is absolute input index `base`.
    buf: Vec<f32>,
    base: i64,
    next_out: u64,
    total_in: u64,
}

/// Greatest common divisor.
pub(super) fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// The fraction `p / q` (both at most `max`) closest to `x > 0`, by
/// continued fractions.
fn ratio(x: f64, max: u64) -> (u64, u64) {
    let (mut p0, mut q0, mut p1, mut q1) = (0u64, 1u64, 1u64, 0u64);
    let mut v = x;
    for _ in 0..64 {
        let a = v.floor();
        let a_int = a as u64;
        let (p2, q2) = (a_int * p1 + p0, a_int * q1 + q0);
        if p2 > max || q2 > max {
            break;
        }
        (p0, q0, p1, q1) = (p1, q1, p2, q2);
        let frac = v - a;
        if frac < 1e-12 {
            break;
        }
        v = 1.0 / frac;
    }
    if q1 == 0 {
        (x.round().max(1.0) as u64, 1)
    } else {
        (p1.max(1), q1)
    }
}

/// Modified Bessel function of the first kind, order 0.
fn bessel_i0(x: f64) -> f64 {
    let mut sum = 1.0;
    let mut term = 1.0;
    let q = x * x / 4.0;
    for k in 1..50 {
        term *= q / (k * k) as f64;
        sum += term;
        if term < 1e-12 * sum {
            break;
        }
    }
    sum
}

/// Dot product written so the compiler vectorises it (eight accumulators,
/// fixed-size chunks so no bounds check is left in the loop).
#[inline]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let mut acc = [0f32; 8];
    let (xa, xb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = xa
        .remainder()
        .iter()
        .zip(xb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in xa.zip(xb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

impl Resampler {
    /// A resampler to `to_hz` for audio at `from_hz` that was played
    /// `speed` times faster (durations divided, frequencies multiplied), so
    /// the output is at the original speed: the input is treated as if it
    /// were sampled at `from_hz / speed` (`speed` as a fraction with terms
    /// up to 2000).
    pub fn undoing_speed(from_hz: u32, to_hz: u32, speed: f64) -> Self {
        // speed = p / q: the input behaves as if sampled at from * q / p.
        let (p, q) = ratio(speed, 2000);
        let from = u64::from(from_hz) * q;
        let to = u64::from(to_hz) * p;
        let g = gcd(from, to);
        Resampler::new((from / g) as u32, (to / g) as u32)
    }

    /// Creates a resampler from `from_hz` to `to_hz`.
    ///
    /// # Panics
    /// Panics if either rate is zero.
    pub fn new(from_hz: u32, to_hz: u32) -> Self {
        assert!(from_hz > 0 && to_hz > 0, "sample rates must be positive");
        let g = gcd(u64::from(from_hz), u64::from(to_hz));
        let up = u64::from(to_hz) / g;
        let down = u64::from(from_hz) / g;
        // Cut-off in cycles per input sample, and half-length in input samples.
        let ratio = up as f64 / down as f64;
        let fc = 0.5 * ratio.min(1.0);
        let half = (HALF_TAPS_AT_LOW_RATE as f64 * (1.0 / ratio).max(1.0)).ceil() as i64;
        let raw_taps = (2 * half) as usize;
        let taps = raw_taps.div_ceil(8) * 8;
        let mut bank = vec![0f32; up as usize * taps];
        let norm = bessel_i0(KAISER_BETA);
        for p in 0..up as usize {
            let frac = p as f64 / up as f64;
            let phase = &mut bank[p * taps..p * taps + raw_taps];
            let mut sum = 0.0f64;
            let mut coeffs = vec![0f64; raw_taps];
            for (j, c) in coeffs.iter_mut().enumerate() {
                // Distance from the tap's input sample to the output time.
                let d = j as f64 - (half - 1) as f64 - frac;
                let x = 2.0 * fc * d;
                let sinc = if x.abs() < 1e-12 {
                    1.0
                } else {
                    libm::sin(std::f64::consts::PI * x) / (std::f64::consts::PI * x)
                };
                let r = d / half as f64;
                let w = if r.abs() >= 1.0 {
                    0.0
                } else {
                    bessel_i0(KAISER_BETA * (1.0 - r * r).sqrt()) / norm
                };
                *c = 2.0 * fc * sinc * w;
                sum += *c;
            }
            for (dst, c) in phase.iter_mut().zip(coeffs) {
                *dst = (c / sum) as f32;
            }
        }
        Resampler {
            up,
            down,
            taps,
            half,
            bank,
            buf: vec![0.0; (half - 1) as usize],
            base: -(half - 1),
            next_out: 0,
            total_in: 0,
        }
    }

    /// Output samples produced for `input_len` input samples in total.
    pub fn output_len(&self, input_len: u64) -> u64 {
        (input_len * self.up).div_ceil(self.down)
    }

    /// Appends `input` and writes every output sample that can now be
    /// computed to `out` (appending).
    pub fn push(&mut self, input: &[f32], out: &mut Vec<f32>) {
        self.buf.extend_from_slice(input);
        self.total_in += input.len() as u64;
        self.produce(out);
    }

    /// Flushes the tail: pads with silence and appends the remaining outputs.
    pub fn finish(&mut self, out: &mut Vec<f32>) {
        let pad = self.half as usize + self.taps;
        self.buf.extend(std::iter::repeat_n(0.0, pad));
        self.produce(out);
        debug_assert_eq!(self.next_out, self.output_len(self.total_in));
    }

    /// Writes every output whose (padded) filter support lies inside the
    /// buffered input, up to the output count the input length allows.
    fn produce(&mut self, out: &mut Vec<f32>) {
        let limit = self.output_len(self.total_in);
        if self.next_out >= limit {
            return;
        }
        // Position of the next output, kept incrementally (no division per sample).
        let pos = self.next_out * self.down;
        let mut i0 = (pos / self.up) as i64;
        let mut phase = (pos % self.up) as usize;
        let (up, step_whole, step_frac) = (
            self.up as usize,
            (self.down / self.up) as i64,
            (self.down % self.up) as usize,
        );
        let taps = self.taps;
        let last_start = self.base + self.buf.len() as i64 - taps as i64;
        let mut n = self.next_out;
        // Written into a slice, not pushed: the hot loop then keeps
        // everything in registers instead of reloading the Vec's length.
        let (buf, bank, base, half) = (&self.buf[..], &self.bank[..], self.base, self.half);
        let first = out.len();
        out.resize(first + (limit - n) as usize, 0.0);
        let mut written = 0;
        for slot in out[first..].iter_mut() {
            let start = i0 - half + 1;
            if start > last_start {
                break;
            }
            let s = (start - base) as usize;
            let h = &bank[phase * taps..(phase + 1) * taps];
            *slot = dot(&buf[s..s + taps], h);
            written += 1;
            i0 += step_whole;
            phase += step_frac;
            if phase >= up {
                phase -= up;
                i0 += 1;
            }
        }
        out.truncate(first + written);
        n += written as u64;
        self.next_out = n;
        // Drop history no future output needs (in large steps: it is a memmove).
        let keep_from = i0 - self.half + 1;
        let drop = (keep_from - self.base).clamp(0, self.buf.len() as i64) as usize;
        if drop > 4096 || drop == self.buf.len() {
            self.buf.drain(..drop);
            self.base += drop as i64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(from: u32, to: u32, input: &[f32], chunk: usize) -> Vec<f32> {
        let mut r = Resampler::new(from, to);
        let mut out = Vec::new();
        for c in input.chunks(chunk) {
            r.push(c, &mut out);
        }
        r.finish(&mut out);
        out
    }

    fn tone(rate: u32, hz: f64, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (2.0 * std::f64::consts::PI * hz * i as f64 / rate as f64).sin() as f32)
            .collect()
    }

    #[test]
    fn lengths_and_chunking_do_not_matter() {
        let x = tone(44_100, 1000.0, 44_100 + 37);
        let a = run(44_100, 11_025, &x, 100_000);
        let b = run(44_100, 11_025, &x, 333);
        assert_eq!(a.len(), (44_100 + 37usize).div_ceil(4));
        assert_eq!(a, b);
        let c = run(48_000, 11_025, &tone(48_000, 1000.0, 48_000), 1024);
        assert_eq!(c.len(), 11_025);
    }

    #[test]
    fn in_band_tone_is_kept_and_aligned() {
        for &(from, to) in &[
            (44_100u32, 11_025u32),
            (48_000, 11_025),
            (11_025, 44_100),
            (11_025, 48_000),
        ] {
            let n = from as usize;
            let x = tone(from, 2000.0, n);
            let y = run(from, to, &x, 4096);
            let expect = tone(to, 2000.0, y.len());
            // Compare away from the edges.
            let (lo, hi) = (y.len() / 10, y.len() * 9 / 10);
            let err: f64 = (lo..hi)
                .map(|i| f64::from(y[i] - expect[i]).powi(2))
                .sum::<f64>()
                / (hi - lo) as f64;
            assert!(err < 1e-4, "{from}->{to}: mse {err}");
        }
    }

    #[test]
    fn out_of_band_tone_is_rejected() {
        // 8 kHz cannot exist at 11.025 kHz; it must not alias into the marker band.
        let x = tone(44_100, 8000.0, 44_100);
        let y = run(44_100, 11_025, &x, 4096);
        let rms = (y[1000..10_000].iter().map(|v| v * v).sum::<f32>() / 9000.0).sqrt();
        assert!(rms < 0.01, "rms {rms}");
    }
}
