//! Time-scale attacks: speed change (resampling), tempo change (WSOLA) and pitch shift
//! (WSOLA followed by resampling).
//!
//! Like [`super::dsp`], everything here works on planar `Vec<Vec<f32>>` (one vector per
//! channel, all equally long).
//!
//! # Speed
//!
//! Playing `factor` times faster is resampling: output frame `m` is the input at position
//! `m * factor`. The ratio is realised as a fraction `p / q` (see [`ratio_approx`]) and run
//! through the crate's synchronous FFT resampler ([`dsp::resample`]), whose delay is removed
//! exactly, so the output starts where the input starts.
//!
//! # Tempo: WSOLA
//!
//! Waveform-similarity overlap-add (Verhelst and Roelands, ICASSP 1993). The output is built
//! from Hann-windowed input segments [`WSOLA_WINDOW_SECONDS`] long, overlap-added at a fixed
//! synthesis hop of half a window (periodic Hann at 50 % overlap sums to exactly 1). Output
//! segment `k` is centred at output frame `k * hop`; its nominal source is centred at input
//! frame `k * hop * factor`. The actual source may move up to [`WSOLA_SEARCH_SECONDS`] either
//! way: WSOLA picks the position whose segment best resembles the *natural continuation* of
//! the previous source segment (the input that followed it, one hop later), so consecutive
//! segments join in phase. Similarity is the cross-correlation normalised by the candidate's
//! energy, computed on the mono mix for all candidates at once by FFT; the chosen positions
//! are applied to every channel, so the channels stay coherent (identical channels stay
//! identical).
//!
//! # Pitch
//!
//! WSOLA-stretch by `r = 2^(semitones / 12)` (`r` times longer, pitch kept), then resample
//! by `r` back to the input's length: the tempo is kept and every frequency is multiplied by
//! `r`.

use realfft::RealFftPlanner;

use super::{dsp, AttackError};

/// Largest numerator and denominator of the fraction that stands for a speed ratio.
pub(super) const MAX_RATIO_TERM: u32 = 4096;

/// Relative error up to which [`ratio_approx`] prefers a simpler fraction (0.017 cent, or
/// 0.28 ms of drift over a 28 s track).
pub(super) const RATIO_TOLERANCE: f64 = 1e-5;

/// WSOLA segment (Hann window) length in seconds; the synthesis hop is half of it.
pub(super) const WSOLA_WINDOW_SECONDS: f64 = 0.040;

/// How far, either way, WSOLA may move a segment's source from its nominal position, in
/// seconds.
pub(super) const WSOLA_SEARCH_SECONDS: f64 = 0.010;

/// Mean square (per mono sample) below which a segment counts as silent: -100 dBFS.
const SILENCE_POWER: f64 = 1e-10;

/// A fraction `p / q` for the ratio `x`, in lowest terms, with `p` and `q` at most
/// [`MAX_RATIO_TERM`]: the one with the smallest denominator within [`RATIO_TOLERANCE`] of
/// `x` (relative), or failing that the closest one.
///
/// Small terms keep the FFT resampler's chunks short and their FFT lengths free of large
/// prime factors (2^(1/12) as 196/185, error 3.4e-6, resamples twice as fast as the closest
/// fraction 3221/3040). Simple ratios come out exact: 1.05 gives 21/20, which also absorbs
/// `1.05f32`'s rounding. For any `x` in 0.5..=2 the relative error is below 1.3e-4
/// (0.2 cent), the worst case being right next to a simple fraction such as 1.
pub(super) fn ratio_approx(x: f64) -> (u32, u32) {
    debug_assert!(x.is_finite() && x > 0.0);
    let max = f64::from(MAX_RATIO_TERM);
    let mut best = (1, 1);
    let mut best_err = f64::INFINITY;
    for q in 1..=MAX_RATIO_TERM {
        let p = (x * f64::from(q)).round();
        if !(1.0..=max).contains(&p) {
            continue;
        }
        let err = (p / f64::from(q) / x - 1.0).abs();
        if err < best_err {
            best_err = err;
            best = (p as u32, q);
            if err <= RATIO_TOLERANCE {
                break;
            }
        }
    }
    best
}

/// Natural output length of [`speed`] for `len` input frames: `len / factor`, rounded up
/// (with `factor` as its fraction from [`ratio_approx`]).
pub(super) fn speed_len(len: usize, factor: f64) -> usize {
    let (p, q) = ratio_approx(factor);
    dsp::resampled_len(len, p, q)
}

/// Play `planar` `factor` times faster: output frame `m` is the input at `m * factor`
/// (band-limited to the output's Nyquist frequency when speeding up). The output has
/// `out_len` frames, zero-padded past the end of the input.
pub(super) fn speed(
    planar: &[Vec<f32>],
    factor: f64,
    out_len: usize,
) -> Result<Vec<Vec<f32>>, AttackError> {
    let (p, q) = ratio_approx(factor);
    dsp::resample(planar, p, q, out_len)
}

/// Output length of [`wsola`] for `len` input frames: `len / factor`, rounded.
pub(super) fn wsola_len(len: usize, factor: f64) -> usize {
    (len as f64 / factor).round() as usize
}

/// Change the tempo of `planar` by `factor` (above 1 is faster, i.e. shorter) and keep its
/// pitch, by WSOLA (see the module docs). The output has [`wsola_len`] frames.
pub(super) fn wsola(planar: &[Vec<f32>], rate: u32, factor: f64) -> Vec<Vec<f32>> {
    let len = planar.first().map_or(0, Vec::len);
    let out_len = wsola_len(len, factor);
    if len == 0 || out_len == 0 || factor == 1.0 {
        return planar
            .iter()
            .map(|c| {
                let mut c = c.clone();
                c.resize(out_len, 0.0);
                c
            })
            .collect();
    }
    let rate = f64::from(rate);
    let hop = ((WSOLA_WINDOW_SECONDS * rate / 2.0).round() as usize).max(1);
    let win = 2 * hop;
    let delta = (WSOLA_SEARCH_SECONDS * rate).round() as usize;
    let analysis_hop = hop as f64 * factor;
    // Segment k covers output frames k*hop - hop .. k*hop + hop; the first one overlaps the
    // start, the last one starts before the end.
    let segments = (out_len + hop).div_ceil(hop);
    // Nominal input start of segment k (centred at input frame k * analysis_hop).
    let nominal = |k: usize| (k as f64 * analysis_hop).round() as isize - hop as isize;

    // Zero-padded copies, input frame i at index pad + i, long enough that every segment,
    // search span and natural continuation can be read without bounds checks.
    let pad = hop + delta;
    let furthest = nominal(segments - 1) + (delta + hop + win) as isize;
    let padded_len = pad + furthest.max(len as isize) as usize;
    let channels: Vec<Vec<f32>> = planar
        .iter()
        .map(|x| {
            let mut v = vec![0.0f32; padded_len];
            v[pad..pad + len].copy_from_slice(x);
            v
        })
        .collect();
    let mut mono = vec![0.0f32; padded_len];
    for c in &channels {
        for (m, &s) in mono.iter_mut().zip(c) {
            *m += s;
        }
    }
    let inv = 1.0 / channels.len() as f32;
    mono.iter_mut().for_each(|m| *m *= inv);
    // energy[i] = sum of mono[..i]^2, so any window's energy is one subtraction.
    let mut energy = Vec::with_capacity(padded_len + 1);
    let mut acc = 0.0f64;
    energy.push(acc);
    for &m in &mono {
        acc += f64::from(m) * f64::from(m);
        energy.push(acc);
    }
    let window_energy = |start: usize| energy[start + win] - energy[start];
    let silence = SILENCE_POWER * win as f64;

    // Periodic Hann: w[j] + w[j + hop] = 1.
    let window: Vec<f32> = (0..win)
        .map(|j| {
            let x = 2.0 * std::f64::consts::PI * j as f64 / win as f64;
            (0.5 - 0.5 * x.cos()) as f32
        })
        .collect();

    // Cross-correlation of a template (win frames) with a span (win + 2 delta frames) at all
    // 2 delta + 1 lags, by FFT: no wrap-around as long as fft_len >= win + 2 delta.
    let span = win + 2 * delta;
    let fft_len = span.next_power_of_two();
    let mut planner = RealFftPlanner::<f32>::new();
    let forward = planner.plan_fft_forward(fft_len);
    let inverse = planner.plan_fft_inverse(fft_len);
    let mut span_buf = forward.make_input_vec();
    let mut template_buf = forward.make_input_vec();
    let mut span_spec = forward.make_output_vec();
    let mut template_spec = forward.make_output_vec();
    let mut corr = inverse.make_output_vec();
    let mut scratch_fw = forward.make_scratch_vec();
    let mut scratch_inv = inverse.make_scratch_vec();

    let mut out = vec![vec![0.0f32; out_len]; channels.len()];
    let mut previous: Option<usize> = None;
    for k in 0..segments {
        // Padded index of the nominal start; nominal(k) >= -hop, so this is >= delta.
        let tau = (pad as isize + nominal(k)) as usize;
        let start = match previous {
            None => tau,
            Some(prev) => {
                let natural = prev + hop;
                if window_energy(natural) <= silence {
                    // Nothing to match: keep the nominal timing.
                    tau
                } else {
                    let lo = tau - delta;
                    template_buf[..win].copy_from_slice(&mono[natural..natural + win]);
                    template_buf[win..].fill(0.0);
                    span_buf[..span].copy_from_slice(&mono[lo..lo + span]);
                    span_buf[span..].fill(0.0);
                    forward
                        .process_with_scratch(&mut span_buf, &mut span_spec, &mut scratch_fw)
                        .expect("buffers come from the plan");
                    forward
                        .process_with_scratch(
                            &mut template_buf,
                            &mut template_spec,
                            &mut scratch_fw,
                        )
                        .expect("buffers come from the plan");
                    for (s, t) in span_spec.iter_mut().zip(&template_spec) {
                        *s *= t.conj();
                    }
                    span_spec[0].im = 0.0;
                    if let Some(last) = span_spec.last_mut() {
                        last.im = 0.0;
                    }
                    inverse
                        .process_with_scratch(&mut span_spec, &mut corr, &mut scratch_inv)
                        .expect("buffers come from the plan");
                    // corr[d] = sum_j template[j] * mono[lo + d + j]; normalise by the
                    // candidate's energy. Ties keep the nominal position (d = delta).
                    let score =
                        |d: usize| f64::from(corr[d]) / (window_energy(lo + d) + silence).sqrt();
                    let mut best_d = delta;
                    let mut best = score(delta);
                    for d in 0..=2 * delta {
                        let s = score(d);
                        if s > best {
                            best = s;
                            best_d = d;
                        }
                    }
                    lo + best_d
                }
            }
        };
        previous = Some(start);

        // Overlap-add, clipped to the output.
        let first = (k * hop) as isize - hop as isize;
        let j0 = (-first).max(0) as usize;
        let j1 = (out_len as isize - first).clamp(0, win as isize) as usize;
        if j0 >= j1 {
            continue;
        }
        let o0 = (first + j0 as isize) as usize;
        for (dst, src) in out.iter_mut().zip(&channels) {
            let dst = &mut dst[o0..o0 + (j1 - j0)];
            let src = &src[start + j0..start + j1];
            for ((y, &x), &w) in dst.iter_mut().zip(src).zip(&window[j0..j1]) {
                *y += w * x;
            }
        }
    }
    out
}

/// Shift the pitch of `planar` by `semitones` and keep its tempo and length: WSOLA-stretch
/// by `r = 2^(semitones / 12)`, then play `r` times faster. `r` is taken as its fraction from
/// [`ratio_approx`] for both steps, so they cancel in time exactly.
pub(super) fn pitch(
    planar: &[Vec<f32>],
    rate: u32,
    semitones: f64,
) -> Result<Vec<Vec<f32>>, AttackError> {
    let len = planar.first().map_or(0, Vec::len);
    let (p, q) = ratio_approx(2f64.powf(semitones / 12.0));
    if p == q || len == 0 {
        return Ok(planar.to_vec());
    }
    let stretched = wsola(planar, rate, f64::from(q) / f64::from(p));
    dsp::resample(&stretched, p, q, len)
}
