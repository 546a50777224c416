//! Real FFTs for spectra that matter only in a band of low bins.
//!
//! The embedder analyses native-rate frames (1024 samples at 44.1 kHz) but
//! only the lowest [`super::layout::BINS`] bins carry the marker, and the
//! watermark it synthesises is zero outside its band. A general real FFT
//! spends as long on its pre- and post-processing of all `n / 2` bins as on
//! the complex transform itself; [`BandFft`] does that step only for the bins
//! in use.
//!
//! Both directions use the standard half-length trick: a real frame `x` of
//! even length `n` is packed as `z[m] = x[2m] + i·x[2m+1]` and transformed
//! with one complex FFT of length `M = n / 2`. With `W = e^{-2πi/n}`:
//!
//! - forward: `X[k] = E[k] + W^k·O[k]` where
//!   `E[k] = (Z[k] + conj Z[M−k]) / 2` and `O[k] = (Z[k] − conj Z[M−k]) / 2i`;
//! - inverse: `Z[k] = E[k] + i·O[k]` where `E[k] = (X[k] + conj X[M−k]) / 2`
//!   and `O[k] = (X[k] − conj X[M−k])·W^{−k} / 2`, so only the `k` for which
//!   `X[k]` or `X[M−k]` is non-zero need any work.

use rustfft::num_complex::Complex32;
use rustfft::{Fft, FftDirection};
use std::sync::Arc;

/// A packed buffer seen as the real samples it holds: `packed[m]` is
/// `x[2m] + i·x[2m+1]`, so the `f32`s in memory order are `x` itself.
pub(crate) fn as_real(packed: &[Complex32]) -> &[f32] {
    // SAFETY: `Complex<f32>` is `#[repr(C)]` with exactly two `f32` fields
    // (`re`, `im`), so it has the size and alignment of `[f32; 2]` and no
    // padding; the returned slice covers exactly the same memory and borrows it
    // for the same lifetime.
    unsafe { std::slice::from_raw_parts(packed.as_ptr().cast::<f32>(), packed.len() * 2) }
}

/// Mutable form of [`as_real`].
pub(crate) fn as_real_mut(packed: &mut [Complex32]) -> &mut [f32] {
    // SAFETY: as in `as_real`; the unique borrow of `packed` is handed on to
    // the returned slice, so nothing else can alias it.
    unsafe { std::slice::from_raw_parts_mut(packed.as_mut_ptr().cast::<f32>(), packed.len() * 2) }
}

/// Plans the forward and inverse complex FFTs of length `m` with the same
/// arithmetic on every machine earmark's stamps are compared across: rustfft's
/// 128-bit SIMD plans, SSE4.1 on x86_64 and SIMD128 in WebAssembly, choose the
/// same algorithms and round every operation alike, so the marked samples are
/// the same bits from the CLI, the Python package and the browser. (rustfft's
/// default planner would take its AVX plans on x86_64, which make the
/// embedder about twice as fast — `cargo bench --bench engine embed`: 47
/// against 96 ms for 3 minutes — but factor and round differently.)
/// Elsewhere (NEON on ARM, which fuses multiply-adds, or no SIMD) the
/// default planner.
fn plan(m: usize) -> (Arc<dyn Fft<f32>>, Arc<dyn Fft<f32>>) {
    #[cfg(target_arch = "x86_64")]
    if let Ok(mut p) = rustfft::FftPlannerSse::new() {
        return (
            p.plan_fft(m, FftDirection::Forward),
            p.plan_fft(m, FftDirection::Inverse),
        );
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    if let Ok(mut p) = rustfft::FftPlannerWasmSimd::new() {
        return (
            p.plan_fft(m, FftDirection::Forward),
            p.plan_fft(m, FftDirection::Inverse),
        );
    }
    let mut p = rustfft::FftPlanner::new();
    (
        p.plan_fft(m, FftDirection::Forward),
        p.plan_fft(m, FftDirection::Inverse),
    )
}

/// Forward and inverse real FFT of one even length, computing (forward) or
/// reading (inverse) only a band of bins. Plans and buffers are built once;
/// no call allocates. Results are bit-identical on x86_64 and in
/// WebAssembly (see [`plan`]; twiddles come from the portable `libm`).
pub struct BandFft {
    n: usize,
    fwd: Arc<dyn Fft<f32>>,
    inv: Arc<dyn Fft<f32>>,
    /// `W^k`, `k` in `0..=M`.
    twiddles: Vec<Complex32>,
    scratch: Vec<Complex32>,
}

impl std::fmt::Debug for BandFft {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BandFft").field("n", &self.n).finish()
    }
}

impl BandFft {
    /// Plans both transforms for frames of `n` real samples.
    ///
    /// # Panics
    /// Panics if `n` is odd or smaller than 4.
    pub fn new(n: usize) -> Self {
        assert!(n >= 4 && n % 2 == 0, "BandFft needs an even length >= 4");
        let m = n / 2;
        let (fwd, inv) = plan(m);
        let scratch_len = fwd
            .get_inplace_scratch_len()
            .max(inv.get_inplace_scratch_len());
        let twiddles = (0..=m)
            .map(|k| {
                let phase = -2.0 * std::f64::consts::PI * k as f64 / n as f64;
                Complex32::new(libm::cos(phase) as f32, libm::sin(phase) as f32)
            })
            .collect();
        BandFft {
            n,
            fwd,
            inv,
            twiddles,
            scratch: vec![Complex32::default(); scratch_len],
        }
    }

    /// Forward transform of a packed frame.
    ///
    /// `packed[m]` must hold `x[2m] + i·x[2m+1]` (length `n / 2`);
    /// it is destroyed. Writes bins `0..out.len()` of the real spectrum of `x`
    /// (unnormalised, as `realfft` would) to `out`, which may be at most
    /// `n / 2 + 1` long.
    // Inlined so the embedder's AVX2 build of its frame code covers it.
    #[inline(always)]
    pub fn forward(&mut self, packed: &mut [Complex32], out: &mut [Complex32]) {
        let m = self.n / 2;
        assert!(packed.len() == m && out.len() <= m + 1, "BandFft sizes");
        self.fwd.process_with_scratch(packed, &mut self.scratch);
        let bin = |x: &mut Complex32, a: Complex32, b: Complex32, w: Complex32| {
            let even = (a + b) * 0.5;
            let d = (a - b) * 0.5;
            // (a − b) / 2i = −i·(a − b) / 2
            *x = even + w * Complex32::new(d.im, -d.re);
        };
        let (head, rest) = out.split_at_mut(1.min(out.len()));
        if let Some(x) = head.first_mut() {
            bin(x, packed[0], packed[0].conj(), self.twiddles[0]);
        }
        // Bins 1..M pair Z[k] with Z[M − k]; bin M pairs Z[0] with itself.
        // (Slices walked forwards and backwards, so the loop vectorises.)
        let inner = rest.len().min(m - 1);
        for (((x, w), &a), b) in rest[..inner]
            .iter_mut()
            .zip(&self.twiddles[1..=inner])
            .zip(&packed[1..=inner])
            .zip(packed[m - inner..m].iter().rev())
        {
            bin(x, a, b.conj(), *w);
        }
        if let Some(x) = rest.get_mut(m - 1) {
            bin(x, packed[0], packed[0].conj(), self.twiddles[m]);
        }
    }

    /// Inverse transform of a real spectrum that is zero outside `band`.
    ///
    /// `spec` holds bins `0..=n/2` and must be zero outside `band` (bin 0
    /// and the Nyquist bin must be real if they are in it); only the bins
    /// that `band` and its mirror image touch are read. The result is written
    /// packed into `packed` (length `n / 2`): the real sample
    /// `x[2m]` is `packed[m].re` and `x[2m+1]` is `packed[m].im`, scaled by
    /// `n` as `realfft` leaves it.
    #[inline(always)]
    pub fn inverse_band(
        &mut self,
        spec: &[Complex32],
        band: std::ops::Range<usize>,
        packed: &mut [Complex32],
    ) {
        let m = self.n / 2;
        assert!(
            packed.len() == m && spec.len() == m + 1 && band.end <= m + 1,
            "BandFft sizes"
        );
        // Z[k] depends on X[k] and X[M − k]; visit each k with either in band.
        let direct = band.start.min(m)..band.end.min(m);
        let mirror = (m + 1).saturating_sub(band.end)..(m + 1).saturating_sub(band.start).min(m);
        // Everything else is zero.
        if direct.end <= mirror.start {
            packed[..direct.start].fill(Complex32::default());
            packed[direct.end..mirror.start].fill(Complex32::default());
            packed[mirror.end..].fill(Complex32::default());
        } else {
            packed.fill(Complex32::default());
        }
        for range in [direct, mirror] {
            if range.is_empty() {
                continue;
            }
            // X[M − k] for k in `range`, walked backwards.
            let back = &spec[m + 1 - range.end..m + 1 - range.start];
            for (((z, w), &a), b) in packed[range.clone()]
                .iter_mut()
                .zip(&self.twiddles[range.clone()])
                .zip(&spec[range])
                .zip(back.iter().rev())
            {
                let b = b.conj();
                let even = a + b;
                let odd = (a - b) * w.conj();
                // Z = E + i·O, both doubled so the result is scaled by n, not n/2.
                *z = Complex32::new(even.re - odd.im, even.im + odd.re);
            }
        }
        self.inv.process_with_scratch(packed, &mut self.scratch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use realfft::RealFftPlanner;

    fn signal(n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| ((i * 7919 % 1013) as f32 / 1013.0 - 0.5) + (i as f32 * 0.05).sin())
            .collect()
    }

    fn close(a: Complex32, b: Complex32, tol: f32) -> bool {
        (a - b).norm() <= tol * (1.0 + b.norm())
    }

    #[test]
    fn forward_matches_a_full_real_fft() {
        for &n in &[16usize, 1024, 1114, 2048] {
            let x = signal(n);
            let mut full = RealFftPlanner::<f32>::new()
                .plan_fft_forward(n)
                .make_output_vec();
            let mut t = x.clone();
            RealFftPlanner::<f32>::new()
                .plan_fft_forward(n)
                .process(&mut t, &mut full)
                .unwrap();
            let mut f = BandFft::new(n);
            let mut packed: Vec<Complex32> = x
                .chunks_exact(2)
                .map(|p| Complex32::new(p[0], p[1]))
                .collect();
            // All bins, including Nyquist, and a low band only.
            let mut out = vec![Complex32::default(); n / 2 + 1];
            f.forward(&mut packed, &mut out);
            for k in 0..=n / 2 {
                assert!(close(out[k], full[k], 1e-4), "n {n} bin {k}");
            }
        }
    }

    #[test]
    fn inverse_band_matches_a_full_inverse() {
        for &(n, lo, hi) in &[(1024usize, 14usize, 102usize), (1114, 0, 129), (16, 2, 9)] {
            let mut spec = vec![Complex32::default(); n / 2 + 1];
            for (k, s) in spec.iter_mut().enumerate().take(hi).skip(lo) {
                *s = Complex32::new((k as f32 * 0.37).sin(), (k as f32 * 0.11).cos());
            }
            if lo == 0 {
                spec[0].im = 0.0;
            }
            if hi == n / 2 + 1 {
                spec[n / 2].im = 0.0;
            }
            let mut want = vec![0f32; n];
            let mut s = spec.clone();
            RealFftPlanner::<f32>::new()
                .plan_fft_inverse(n)
                .process(&mut s, &mut want)
                .unwrap();
            let mut f = BandFft::new(n);
            let mut packed = vec![Complex32::default(); n / 2];
            f.inverse_band(&spec, lo..hi, &mut packed);
            let peak = want.iter().fold(0f32, |a, v| a.max(v.abs()));
            for (i, p) in packed.iter().enumerate() {
                assert!(
                    (p.re - want[2 * i]).abs() <= 1e-4 * peak,
                    "n {n} sample {}",
                    2 * i
                );
                assert!(
                    (p.im - want[2 * i + 1]).abs() <= 1e-4 * peak,
                    "n {n} sample {}",
                    2 * i + 1
                );
            }
        }
    }
}
