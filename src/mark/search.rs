//! Finding the marker after a speed, tempo or pitch change.
//!
//! The v1 detector tolerates a residual time-scale error of about ±0.5 % and
//! a frequency-scale error of about ±2.5 % (measured on the test tracks), so
//! a changed copy needs the change estimated first:
//!
//! 1. **Time scale, keyless.** The marker unit repeats every
//!    [`Layout::unit_fine_frames`] analysis rows. The autocorrelation of the
//!    (time-high-passed) rows over lags ±10 % around that period peaks at the
//!    observed period; `period / observed` is the combined time factor
//!    (speed × tempo). Loops in the music make peaks too, so the best few
//!    peaks are candidates, not answers, and the keyed sync and CRC decide.
//! 2. **Frequency scale, keyed.** For each time candidate τ the detector is
//!    run with the frequency factor τ (a speed change), 1 (a tempo change)
//!    and a ±4.5 % grid (pitch shifts up to about ±1.2 semitones), each with
//!    the matching tempo correction (see [`Scale`]).
//!
//! The plain pass keeps its analysis rows and its canonical samples (mono,
//! 11 025 Hz) of the first [`ESTIMATE_SECONDS`] (see
//! [`Detector::keep_for_search`]); the estimate uses the rows and every
//! scaled pass re-analyses the canonical samples, never the native-rate
//! input, so a search costs a bounded amount of time and memory whatever the
//! file's length, rate and channels, and a streaming caller (`verify`) needs
//! no second decode. The passes stop at the first payload.
//!
//! **False payloads.** Every pass is a full detector pass whose CRC checks
//! ([`DetectReport::crc_checks`]) each pass by chance with probability
//! 2^-32; the search sums the checks (and analyses) of all its passes, so the
//! chance of a false payload is the *expected* number of checks × 2^-32.
//! [`MAX_PASSES`] caps the passes.

use super::detect::{DetectReport, Detector, Kept, Scale};
use super::key::WatermarkKey;
use super::layout::{Layout, CANONICAL_RATE};

/// Time-scale candidates taken from the autocorrelation.
const TIME_CANDIDATES: usize = 3;
/// Frequency factors tried besides the time factor itself and 1.
const FREQ_GRID: [f64; 2] = [0.955, 1.045];
/// Search range of the time factor.
const TIME_RANGE: (f64, f64) = (0.9, 1.1);
/// Seconds of input (from the start) the search uses: the rows of the
/// period estimate and the canonical samples of the scaled passes.
pub const ESTIMATE_SECONDS: f64 = 60.0;
/// Most detector passes one search runs (plain detection included).
pub const MAX_PASSES: usize = 16;
/// Half-width, in rows, of the moving average removed along time.
const TIME_HIGHPASS: usize = 16;

/// The strongest candidates for the combined time factor (speed × tempo;
/// above 1 means faster) from `rows` (`cells` values per analysis row),
/// best first. Empty when the rows are too short to hold two units.
pub fn time_scale_candidates(rows: &[f32], cells: usize, count: usize) -> Vec<f64> {
    let unit = Layout::V1.unit_fine_frames() as f64;
    let n = rows.len() / cells.max(1);
    let lag_lo = (unit / TIME_RANGE.1).floor() as usize;
    let lag_hi = (unit / TIME_RANGE.0).ceil() as usize;
    if n < lag_hi + unit as usize / 2 {
        return Vec::new();
    }
    // High-pass along time: subtract the moving average of ±TIME_HIGHPASS rows.
    let mut x = vec![0f32; n * cells];
    let mut acc = vec![0f32; cells];
    let mut count_in = 0usize;
    let (mut lo, mut hi) = (0usize, 0usize);
    for t in 0..n {
        while hi < n && hi <= t + TIME_HIGHPASS {
            for (a, v) in acc.iter_mut().zip(&rows[hi * cells..(hi + 1) * cells]) {
                *a += v;
            }
            hi += 1;
            count_in += 1;
        }
        while lo + TIME_HIGHPASS < t {
            for (a, v) in acc.iter_mut().zip(&rows[lo * cells..(lo + 1) * cells]) {
                *a -= v;
            }
            lo += 1;
            count_in -= 1;
        }
        let inv = 1.0 / count_in as f32;
        for c in 0..cells {
            x[t * cells + c] = rows[t * cells + c] - acc[c] * inv;
        }
    }
    let r: Vec<f64> = (lag_lo..=lag_hi)
        .map(|lag| {
            let m = n - lag;
            let dot: f32 = x[..m * cells]
                .iter()
                .zip(&x[lag * cells..])
                .map(|(a, b)| a * b)
                .sum();
            f64::from(dot) / m as f64
        })
        .collect();
    // Interior local maxima, strongest first, refined by a parabola.
    let mut peaks: Vec<(f64, f64)> = (1..r.len() - 1)
        .filter(|&i| r[i] > r[i - 1] && r[i] >= r[i + 1])
        .map(|i| {
            let (a, b, c) = (r[i - 1], r[i], r[i + 1]);
            let denom = a - 2.0 * b + c;
            let shift = if denom.abs() > 1e-12 {
                (0.5 * (a - c) / denom).clamp(-0.5, 0.5)
            } else {
                0.0
            };
            ((lag_lo + i) as f64 + shift, b)
        })
        .collect();
    peaks.sort_by(|a, b| b.1.total_cmp(&a.1));
    peaks
        .into_iter()
        .take(count)
        .map(|(lag, _)| unit / lag)
        .collect()
}

/// The scales to try for time candidates `taus`, in order, without
/// near-duplicates and without the identity (already tried).
pub fn scale_candidates(taus: &[f64]) -> Vec<Scale> {
    let mut out: Vec<Scale> = Vec::new();
    let mut push = |speed: f64, tempo: f64| {
        let s = Scale { speed, tempo };
        let near = |a: &Scale| {
            (a.speed / s.speed - 1.0).abs() < 0.004 && (a.tempo / s.tempo - 1.0).abs() < 0.004
        };
        if !near(&Scale::IDENTITY) && !out.iter().any(near) {
            out.push(s);
        }
    };
    let mut times = taus.to_vec();
    times.push(1.0);
    for &tau in &times {
        let mut freqs = vec![tau, 1.0];
        freqs.extend(FREQ_GRID);
        for f in freqs {
            // Undo frequency f by a speed change, the rest of the time factor
            // by a tempo change.
            push(f, tau / f);
        }
    }
    out
}

/// Runs the detector over `samples`, and if it finds nothing, searches for a
/// speed, tempo or pitch change (see the module docs).
pub fn detect_any_scale(
    key: &WatermarkKey,
    samples: &[f32],
    sample_rate: u32,
    channels: usize,
) -> (DetectReport, Scale) {
    let mut d = Detector::new(key, sample_rate, channels).keep_for_search(ESTIMATE_SECONDS);
    for chunk in samples.chunks(4096 * channels) {
        d.process(chunk);
    }
    let (plain, kept) = d.finish_kept();
    search_kept(key, plain, &kept)
}

/// The search after a plain pass: `plain` is that pass's report and `kept`
/// what it kept (see [`Detector::keep_for_search`]). If `plain` found a
/// payload it is returned as is; otherwise the scaled passes run on the kept
/// canonical samples until one finds a payload. Returns the report of that
/// pass (its `seconds` and fractions cover the kept samples only) and the
/// scale it undid, or `plain` and [`Scale::IDENTITY`]; either way `analyses`
/// and `crc_checks` are summed over every pass, the plain one included.
pub fn search_kept(key: &WatermarkKey, plain: DetectReport, kept: &Kept) -> (DetectReport, Scale) {
    if !plain.detections.is_empty() {
        return (plain, Scale::IDENTITY);
    }
    let (mut analyses, mut crc_checks) = (plain.analyses, plain.crc_checks);
    let taus = time_scale_candidates(&kept.rows, Layout::V1.freq_cells, TIME_CANDIDATES);
    let mut found = None;
    for scale in scale_candidates(&taus).into_iter().take(MAX_PASSES - 1) {
        let mut d = Detector::with_scale(key, CANONICAL_RATE, 1, scale);
        for chunk in kept.canonical.chunks(4096) {
            d.process(chunk);
        }
        let report = d.finish();
        analyses += report.analyses;
        crc_checks += report.crc_checks;
        if !report.detections.is_empty() {
            found = Some((report, scale));
            break;
        }
    }
    let (mut report, scale) = found.unwrap_or((plain, Scale::IDENTITY));
    report.analyses = analyses;
    report.crc_checks = crc_checks;
    (report, scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_cover_speed_tempo_and_pitch() {
        let c = scale_candidates(&[1.05]);
        let has = |speed: f64, tempo: f64| {
            c.iter()
                .any(|s| (s.speed - speed).abs() < 1e-9 && (s.tempo - tempo).abs() < 1e-9)
        };
        assert!(has(1.05, 1.0), "speed change");
        assert!(has(1.0, 1.05), "tempo change");
        assert!(has(0.955, 1.0 / 0.955), "pitch down at tau 1");
        assert!(has(1.045, 1.0 / 1.045), "pitch up at tau 1");
        assert!(!has(1.0, 1.0), "identity is not repeated");
        assert!(c.len() < MAX_PASSES);
    }

    #[test]
    fn too_few_rows_give_no_time_candidates() {
        assert!(time_scale_candidates(&[0.0; 22 * 100], 22, 3).is_empty());
    }

    /// What the plain pass keeps for the search: capped rows and canonical
    /// samples, the latter equal to the mono mix resampled on its own.
    #[test]
    fn kept_samples_are_capped_and_canonical() {
        use crate::mark::resample::Resampler;
        let key = WatermarkKey::public();
        let (rate, ch) = (44_100u32, 2usize);
        let x: Vec<f32> = (0..3 * rate as usize * ch)
            .map(|i| ((i as f32 * 0.37).sin() + (i as f32 * 0.011).cos()) * 0.3)
            .collect();
        let keep = |seconds: f64| {
            let mut d = Detector::new(&key, rate, ch).keep_for_search(seconds);
            for chunk in x.chunks(1000 * ch) {
                d.process(chunk);
            }
            d.finish_kept().1
        };
        let short = keep(1.0);
        assert_eq!(short.canonical.len(), CANONICAL_RATE as usize);
        let per_second = f64::from(CANONICAL_RATE) / Layout::V1.fine_hop() as f64;
        assert_eq!(
            short.rows.len(),
            per_second as usize * Layout::V1.freq_cells
        );
        // Longer than the input: everything, the resampler's tail included.
        let all = keep(10.0);
        let mono: Vec<f32> = x.chunks(ch).map(|f| (f[0] + f[1]) * 0.5).collect();
        let mut expect = Vec::new();
        let mut r = Resampler::new(rate, CANONICAL_RATE);
        r.push(&mono, &mut expect);
        r.finish(&mut expect);
        assert_eq!(all.canonical, expect);
        assert_eq!(
            &all.canonical[..short.canonical.len()],
            &short.canonical[..]
        );
    }
}
