//! A compact psychoacoustic model: how strongly the music in one frame masks
//! a change to itself, band by band.
//!
//! Per channel, the power spectrum is grouped into bands at most half a Bark
//! wide; band energies are spread across bands with Schroeder's spreading
//! function (about +25 dB/Bark below a masker, −10 dB/Bark above it);
//! a local spectral-flatness measure estimates tonality, and the masking
//! offset moves between 5.5 dB (noise masking) and 14.5 + z dB (tone masking),
//! after Johnston's model. A watermark whose power stays below the resulting
//! threshold in every channel is masked.

/// Fast natural logarithm (absolute error below 2e-5) for per-bin loops.
/// `x` must be positive and finite.
#[inline]
pub fn fast_ln(x: f32) -> f32 {
    let bits = x.to_bits();
    let exp = ((bits >> 23) & 0xFF) as i32 - 127;
    let m = f32::from_bits((bits & 0x007F_FFFF) | 0x3F80_0000); // [1, 2)
                                                                // ln(m) on [1, 2): least-squares polynomial in (m - 1), |error| < 1e-5.
    let t = m - 1.0;
    let p = t
        * (0.999_494_55
            + t * (-0.491_902_74 + t * (0.289_462_7 + t * (-0.136_054_14 + t * 0.032_156_8))));
    p + exp as f32 * std::f32::consts::LN_2
}

/// Lanes of the widest vectors the per-band loops are written for (AVX2,
/// `f32`).
const LANES: usize = 8;

/// Fast `e^x` for per-band loops: relative error below 1e-7 (at most one
/// unit in the last place from `f32::exp`) for `x` in [−87, 88], to which `x`
/// is clamped. No branches, no table, no call, so a loop of it vectorises.
#[inline]
pub fn fast_exp(x: f32) -> f32 {
    // x = k·ln 2 + r with |r| <= ln(2)/2; ln 2 split in two (Cody and Waite)
    // so r is exact enough.
    let x = x.clamp(-87.0, 88.0);
    // Round to nearest without a rounding instruction (|x·log2 e| < 2^22):
    // the sum's low mantissa bits then hold k itself.
    const SHIFTER: f32 = 12_582_912.0; // 1.5 · 2^23
    let shifted = x * std::f32::consts::LOG2_E + SHIFTER;
    let k = shifted - SHIFTER;
    let r = x - k * 0.693_359_4 + k * 2.121_944_4e-4;
    // e^r on [−ln(2)/2, ln(2)/2] (Cephes expf polynomial).
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 0.5;
    let y = p * (r * r) + r + 1.0;
    // 2^k, k in [−126, 127]: a normal float built from its exponent bits
    // (integer arithmetic on the bits, so it vectorises).
    let biased = shifted
        .to_bits()
        .wrapping_sub(SHIFTER.to_bits())
        .wrapping_add(127);
    y * f32::from_bits(biased << 23)
}

/// Bark scale (Zwicker).
fn bark(hz: f64) -> f64 {
    13.0 * libm::atan(0.00076 * hz) + 3.5 * libm::atan((hz / 7500.0) * (hz / 7500.0))
}

/// Masking bands and scratch buffers, built once per stream.
#[derive(Debug, Clone)]
pub struct MaskingModel {
    /// Band `b` covers bins `edges[b]..edges[b + 1]`.
    edges: Vec<usize>,
    /// Bin range used to estimate each band's tonality, and 1 / its length.
    tonal_span: Vec<(usize, usize)>,
    tonal_inv_len: Vec<f64>,
    /// Band centre in Bark.
    z: Vec<f32>,
    energy: Vec<f32>,
    /// Log power of `ln_bins`, one frame's scratch.
    ln_power: Vec<f32>,
    /// The active bands rounded up to whole vectors of [`LANES`]: lane `i`
    /// of the per-band arrays below is band `active.start + i`.
    lanes: usize,
    /// `reach[(m - energy_bands.start) * lanes + i]`: the spreading factor
    /// (linear power) from band `m` to the band of lane `i`, where it is
    /// above −40 dB (weaker contributions change a threshold by well under
    /// 0.1 dB), zero elsewhere and in the padding lanes.
    reach: Vec<f32>,
    /// Band centre in Bark, per lane.
    lane_z: Vec<f32>,
    /// Per lane, one frame's scratch: the maskers' spread energy, the mean
    /// log power and mean power of the tonality span, and the threshold.
    masked: Vec<f32>,
    mean_ln: Vec<f32>,
    mean: Vec<f32>,
    threshold: Vec<f32>,
    /// Prefix sums over `ln_bins` of log power and power.
    cum_ln: Vec<f64>,
    cum_p: Vec<f64>,
    /// Bands whose thresholds are computed (those overlapping the bins of interest).
    active: std::ops::Range<usize>,
    /// Bins whose log power is needed (tonality spans of active bands).
    ln_bins: std::ops::Range<usize>,
    /// Bands whose energy some active band's threshold needs.
    energy_bands: std::ops::Range<usize>,
}

impl MaskingModel {
    /// Builds the model for the canonical FFT size; thresholds are computed
    /// for the bands that overlap `bins` (canonical bin indices).
    #[cfg(test)]
    pub fn new(bins: std::ops::Range<usize>) -> Self {
        Self::with_spectrum(super::layout::BINS, bins)
    }

    /// Builds the model for spectra of `total` bins at the canonical bin
    /// spacing (≈ 43 Hz; more than [`BINS`] reach above the canonical
    /// Nyquist frequency, as the seal layer needs); thresholds are computed
    /// for the bands that overlap `bins`.
    pub fn with_spectrum(total: usize, bins: std::ops::Range<usize>) -> Self {
        let hz = |k: usize| {
            k as f64 * f64::from(super::layout::CANONICAL_RATE) / super::layout::FRAME as f64
        };
        let mut edges = vec![1usize];
        let mut start_z = bark(hz(1));
        for k in 2..total {
            if bark(hz(k)) - start_z >= 0.5 {
                edges.push(k);
                start_z = bark(hz(k));
            }
        }
        edges.push(total);
        let bands = edges.len() - 1;
        let z: Vec<f32> = (0..bands)
            .map(|b| bark(hz(edges[b]) * 0.5 + hz(edges[b + 1] - 1) * 0.5) as f32)
            .collect();
        let zk: Vec<f64> = (0..total).map(|k| bark(hz(k))).collect();
        let tonal_span: Vec<(usize, usize)> = (0..bands)
            .map(|b| {
                let zc = f64::from(z[b]);
                let lo = (1..total).find(|&k| zk[k] >= zc - 0.75).unwrap_or(1);
                let hi = (1..total)
                    .rev()
                    .find(|&k| zk[k] <= zc + 0.75)
                    .unwrap_or(total - 1)
                    + 1;
                // At least 7 bins so flatness is meaningful at low frequencies.
                let (mut lo, mut hi) = (lo, hi.max(lo + 1));
                while hi - lo < 7 {
                    lo = lo.saturating_sub(1).max(1);
                    hi = (hi + 1).min(total);
                }
                (lo, hi)
            })
            .collect();
        let mut spread = vec![0f32; bands * bands];
        for m in 0..bands {
            for e in 0..bands {
                let dz = f64::from(z[e] - z[m]) + 0.474;
                let db = 15.81 + 7.5 * dz - 17.5 * (1.0 + dz * dz).sqrt();
                spread[e * bands + m] = libm::pow(10.0, db / 10.0) as f32;
            }
        }
        let active_bands: Vec<usize> = (0..bands)
            .filter(|&b| edges[b] < bins.end && edges[b + 1] > bins.start)
            .collect();
        let active = match (active_bands.first(), active_bands.last()) {
            (Some(&a), Some(&b)) => a..b + 1,
            _ => 0..0,
        };
        let maskers: Vec<std::ops::Range<usize>> = (0..bands)
            .map(|e| {
                let reaches = |m: &usize| spread[e * bands + *m] > 1e-4;
                let lo = (0..bands).find(reaches).unwrap_or(e);
                let hi = (0..bands).rev().find(reaches).unwrap_or(e) + 1;
                lo..hi
            })
            .collect();
        let ln_bins = if active.is_empty() {
            0..0
        } else {
            let lo = active.clone().map(|b| tonal_span[b].0).min().unwrap_or(0);
            let hi = active.clone().map(|b| tonal_span[b].1).max().unwrap_or(0);
            lo..hi
        };
        let energy_bands = if active.is_empty() {
            0..0
        } else {
            let lo = active.clone().map(|e| maskers[e].start).min().unwrap_or(0);
            let hi = active.clone().map(|e| maskers[e].end).max().unwrap_or(0);
            lo.min(active.start)..hi.max(active.end)
        };
        // Per-band work runs in whole vectors across the active bands
        // (padding lanes compute harmless values that are never used).
        let lanes = active.len().div_ceil(LANES) * LANES;
        let mut reach = vec![0f32; energy_bands.len() * lanes];
        for (m, row) in energy_bands.clone().zip(reach.chunks_exact_mut(lanes)) {
            for (e, f) in active.clone().zip(row) {
                if maskers[e].contains(&m) {
                    *f = spread[e * bands + m];
                }
            }
        }
        let mut lane_z = vec![0f32; lanes];
        lane_z[..active.len()].copy_from_slice(&z[active.clone()]);
        MaskingModel {
            energy_bands,
            edges,
            tonal_inv_len: tonal_span
                .iter()
                .map(|&(lo, hi)| 1.0 / (hi - lo) as f64)
                .collect(),
            tonal_span,
            z,
            energy: vec![0.0; bands],
            ln_power: vec![0.0; ln_bins.len()],
            lanes,
            reach,
            lane_z,
            masked: vec![0.0; lanes],
            mean_ln: vec![0.0; lanes],
            mean: vec![1.0; lanes],
            threshold: vec![0.0; lanes],
            cum_ln: vec![0.0; ln_bins.len() + 1],
            cum_p: vec![0.0; ln_bins.len() + 1],
            active,
            ln_bins,
        }
    }

    /// The bands whose thresholds [`MaskingModel::thresholds`] computes.
    pub fn active_bands(&self) -> std::ops::Range<usize> {
        self.active.clone()
    }

    /// The bins whose power [`MaskingModel::thresholds`] reads (the
    /// maskers' bands, the active bands and their tonality spans); the
    /// rest of the spectrum may be left unset.
    pub fn needed_bins(&self) -> std::ops::Range<usize> {
        if self.active.is_empty() {
            return 0..0;
        }
        let lo = self.edges[self.energy_bands.start].min(self.ln_bins.start);
        let hi = self.edges[self.energy_bands.end].max(self.ln_bins.end);
        lo..hi
    }

    /// Number of masking bands.
    pub fn bands(&self) -> usize {
        self.z.len()
    }

    /// Bins of band `b`.
    pub fn band_bins(&self, b: usize) -> std::ops::Range<usize> {
        self.edges[b]..self.edges[b + 1]
    }

    /// Energy of band `b` (the sum of its bins' power) in the spectrum of the
    /// last [`MaskingModel::thresholds`] call; set for the active bands and
    /// the bands that mask them.
    pub fn band_energy(&self, b: usize) -> f32 {
        self.energy[b]
    }

    /// Computes the masking threshold (total power that can be added to the
    /// band unheard) of every active band (see [`MaskingModel::active_bands`])
    /// for a power spectrum (at least the model's `total` bins long), writing `thresholds[b]`.
    /// Other entries are left untouched.
    // Inlined so the embedder's AVX2 build of its frame code covers it.
    #[inline(always)]
    pub fn thresholds(&mut self, power: &[f32], thresholds: &mut [f32]) {
        for b in self.energy_bands.clone() {
            self.energy[b] = power[self.edges[b]..self.edges[b + 1]].iter().sum();
        }
        // Log power of the tonality bins (a loop of its own, so it vectorises).
        let ln_power = &power[self.ln_bins.clone()];
        for (l, &p) in self.ln_power.iter_mut().zip(ln_power) {
            *l = fast_ln(p + 1e-20);
        }
        // Prefix sums (f64: power spans many decades) of log power and power
        // over the tonality spans, so each band's means cost O(1).
        let start = self.ln_bins.start;
        let (mut acc_ln, mut acc_p) = (0.0f64, 0.0f64);
        for (((cum_ln, cum_p), &l), &p) in self.cum_ln[1..]
            .iter_mut()
            .zip(&mut self.cum_p[1..])
            .zip(&self.ln_power)
            .zip(ln_power)
        {
            acc_ln += f64::from(l);
            acc_p += f64::from(p);
            *cum_ln = acc_ln;
            *cum_p = acc_p;
        }
        // Spread energy of the maskers, one vector of active bands at a time
        // (summed in registers): each band adds its maskers in the same order
        // as it would alone, and the zero factors of bands out of reach add
        // exact zeros.
        let energy = &self.energy[self.energy_bands.clone()];
        for (v, masked) in self.masked.chunks_exact_mut(LANES).enumerate() {
            let mut sum = [0f32; LANES];
            for (&energy, reach) in energy.iter().zip(self.reach.chunks_exact(self.lanes)) {
                for (s, &f) in sum.iter_mut().zip(&reach[v * LANES..(v + 1) * LANES]) {
                    *s += energy * f;
                }
            }
            masked.copy_from_slice(&sum);
        }
        // Mean log power and mean power over each tonality span.
        for ((e, mean_ln), mean) in self
            .active
            .clone()
            .zip(&mut self.mean_ln)
            .zip(&mut self.mean)
        {
            let (lo, hi) = self.tonal_span[e];
            let inv_n = self.tonal_inv_len[e];
            let (a, b) = (lo - start, hi - start);
            *mean_ln = ((self.cum_ln[b] - self.cum_ln[a]) * inv_n) as f32;
            *mean = ((self.cum_p[b] - self.cum_p[a]) * inv_n) as f32 + 1e-20;
        }
        // The rest band by band, in whole vectors.
        for ((((t, &s), &mean_ln), &mean), &z) in self
            .threshold
            .iter_mut()
            .zip(&self.masked)
            .zip(&self.mean_ln)
            .zip(&self.mean)
            .zip(&self.lane_z)
        {
            // Tonality from local spectral flatness (in dB, <= 0).
            let sfm_db = 4.342_945 * (mean_ln - fast_ln(mean));
            let alpha = ((-sfm_db - 2.5) / 12.0).clamp(0.0, 1.0);
            let offset_db = alpha * (14.5 + z) + (1.0 - alpha) * 5.5;
            // 10^(-offset/10) = e^(-offset * ln(10) / 10)
            *t = s * fast_exp(-offset_db * 0.230_258_5);
        }
        let active = self.active.clone();
        thresholds[active.clone()].copy_from_slice(&self.threshold[..active.len()]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mark::layout::BINS;

    /// The thresholds straight from the model's definition: per band, the
    /// masker sum, the tonality means summed directly (f64) and `f32::exp`.
    fn reference_thresholds(m: &MaskingModel, power: &[f32]) -> Vec<f32> {
        let bands = m.bands();
        let energy: Vec<f32> = (0..bands)
            .map(|b| power[m.band_bins(b)].iter().sum())
            .collect();
        let spread = |masker: usize, maskee: usize| {
            let dz = f64::from(m.z[maskee] - m.z[masker]) + 0.474;
            let db = 15.81 + 7.5 * dz - 17.5 * (1.0 + dz * dz).sqrt();
            libm::pow(10.0, db / 10.0) as f32
        };
        let mut t = vec![0f32; bands];
        for e in m.active_bands() {
            let reaches: Vec<usize> = (0..bands).filter(|&k| spread(k, e) > 1e-4).collect();
            let maskers = reaches[0]..reaches[reaches.len() - 1] + 1;
            let s = maskers.fold(0f32, |s, k| s + energy[k] * spread(k, e));
            let (lo, hi) = m.tonal_span[e];
            let n = (hi - lo) as f64;
            let ln: f64 = power[lo..hi]
                .iter()
                .map(|&p| f64::from(fast_ln(p + 1e-20)))
                .sum();
            let p: f64 = power[lo..hi].iter().map(|&p| f64::from(p)).sum();
            let sfm_db = 4.342_945 * ((ln / n) as f32 - fast_ln((p / n) as f32 + 1e-20));
            let alpha = ((-sfm_db - 2.5) / 12.0).clamp(0.0, 1.0);
            let offset_db = alpha * (14.5 + m.z[e]) + (1.0 - alpha) * 5.5;
            t[e] = s * libm::expf(-offset_db * 0.230_258_5);
        }
        t
    }

    /// The vectorised thresholds (masker sums across bands, prefix sums,
    /// fast_exp) agree with the definition on seeded music-like spectra.
    #[test]
    fn thresholds_match_the_definition() {
        use rand_chacha::rand_core::{RngCore, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        // The main layer's model and the seal's, as the embedder builds them.
        for (total, bins) in [(BINS, 14..102), (232, 107..203)] {
            let mut m = MaskingModel::with_spectrum(total, bins);
            for frame in 0..50 {
                // A falling spectrum with random peaks and a silent frame.
                let power: Vec<f32> = (0..total)
                    .map(|k| {
                        let u = rng.next_u32() as f32 / u32::MAX as f32;
                        let peak = if rng.next_u32() % 9 == 0 { 300.0 } else { 1.0 };
                        let level = if frame == 3 { 0.0 } else { 1.0 };
                        level * peak * u * 1e3 / (1.0 + k as f32).powi(2)
                    })
                    .collect();
                let mut got = vec![0f32; m.bands()];
                m.thresholds(&power, &mut got);
                let want = reference_thresholds(&m, &power);
                for b in m.active_bands() {
                    assert!(
                        (got[b] - want[b]).abs() <= 1e-6 * want[b].abs() + 1e-30,
                        "spectrum {total}, frame {frame}, band {b}: {} vs reference {}",
                        got[b],
                        want[b]
                    );
                }
            }
        }
    }

    #[test]
    fn fast_exp_is_accurate() {
        // Dense over the range the masking offsets use, sparse beyond it.
        let dense = (0..=200_000).map(|i| -12.0 + 12.0 * i as f32 / 200_000.0);
        let sparse = (0..=20_000).map(|i| -87.0 + 175.0 * i as f32 / 20_000.0);
        for x in dense.chain(sparse) {
            let want = f64::from(x).exp();
            let got = f64::from(fast_exp(x));
            assert!(
                ((got - want) / want).abs() < 1e-7,
                "x {x}: {got} vs {want} (f32::exp {})",
                x.exp()
            );
        }
    }

    #[test]
    fn fast_ln_is_accurate() {
        for &x in &[1e-12f32, 1e-3, 0.5, 1.0, 1.5, 1.999, 2.0, 3.0, 1e6] {
            assert!(
                (fast_ln(x) - x.ln()).abs() < 2e-4,
                "{x}: {} vs {}",
                fast_ln(x),
                x.ln()
            );
        }
    }

    #[test]
    fn tones_mask_less_than_noise() {
        let mut m = MaskingModel::new(1..BINS);
        let bands = m.bands();
        let mut t_noise = vec![0f32; bands];
        let mut t_tone = vec![0f32; bands];
        // Flat "noise" spectrum vs. the same energy concentrated in one bin per band.
        let noise = vec![1.0f32; BINS];
        let mut tone = vec![1e-6f32; BINS];
        for b in 0..bands {
            let r = m.band_bins(b);
            tone[r.start] = r.len() as f32;
        }
        m.thresholds(&noise, &mut t_noise);
        m.thresholds(&tone, &mut t_tone);
        let b = (0..bands).find(|&b| m.band_bins(b).contains(&40)).unwrap();
        assert!(
            t_noise[b] > 3.0 * t_tone[b],
            "noise {} tone {}",
            t_noise[b],
            t_tone[b]
        );
        // Thresholds sit below the band energy (the masker itself).
        let e: f32 = noise[m.band_bins(b)].iter().sum();
        assert!(t_noise[b] < e);
    }

    #[test]
    fn masking_spreads_upward_more_than_downward() {
        let mut m = MaskingModel::new(1..BINS);
        let bands = m.bands();
        let mut p = vec![1e-9f32; BINS];
        p[40] = 1.0;
        let mut t = vec![0f32; bands];
        m.thresholds(&p, &mut t);
        let b = (0..bands).find(|&b| m.band_bins(b).contains(&40)).unwrap();
        // Two Bark away: about -12 dB above the masker, -28 dB below it.
        assert!(
            t[b + 4] > t[b - 4] * 10.0,
            "up {} down {}",
            t[b + 4],
            t[b - 4]
        );
    }
}
