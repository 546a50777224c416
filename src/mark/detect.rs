//! Detection: finds marker units anywhere in a signal, blind (no original).
//!
//! The mono mix is resampled to the canonical rate and analysed every
//! `HOP / sub` samples. Each analysis row holds, per frequency cell, the mean
//! log power of the cell's bins, high-passed across frequency (so spectral
//! tilt, EQ and gain cancel) and normalised. Because units repeat with a fixed
//! period, rows are *folded* modulo the unit length: summing all repeats
//! before searching makes long excerpts stronger than short ones for free.
//! Synchronisation tests every unit phase (at `HOP / sub` resolution) against
//! the keyed sync cells; the best phases are decoded with the soft Viterbi
//! decoder and accepted only if the CRC matches. Before decoding, each
//! frequency cell's data cells are weighted by how reliably its sync cells
//! read (maximal ratio combining), so a part of the band that noise or a
//! codec drowned counts for less.
//!
//! Detection runs over sliding windows of four units (≈ 9.2 s, half
//! overlapping) and once more over the fold of the whole signal, so a clip
//! and a full track are handled by the same code.
//!
//! **False payloads.** A candidate is decoded and CRC-checked only when its
//! sync z-score reaches [`Z_DECODE`]; on unmarked audio a decode passes the
//! CRC-32 by chance with probability 2^-32. The sync cells and the data cells
//! are disjoint, so whether a decode is attempted says nothing about its bits,
//! and the chance of a false payload is `E[checks] × 2^-32`, where `checks`
//! is the number of CRC checks actually made ([`DetectReport::crc_checks`];
//! at most [`CANDIDATES`] per analysis, far fewer on unmarked audio, where
//! sync scores rarely reach the gate).

use super::code::{encode, payload_from_bits, Viterbi, CODED_BITS, MESSAGE_BITS};
use super::key::{Pattern, WatermarkKey};
use super::layout::{Layout, BINS, CANONICAL_RATE, FRAME, QUIET_POWER, SILENCE_POWER};
use super::masking::fast_ln;
use super::resample::Resampler;
use super::stft::FrameFft;

/// Sync score a phase needs before it is decoded (and CRC-checked).
pub const Z_DECODE: f32 = 4.0;
/// Sync score a single unit needs to be listed as "found here".
const Z_UNIT: f32 = 3.5;
/// Synchronisation candidates decoded per analysis (best first), if their
/// sync score reaches 4 (`Z_DECODE`). Each decode can pass the CRC-32 by chance
/// with probability 2^-32, so this caps the CRC checks per analysis (see
/// [`DetectReport::crc_checks`]).
pub const CANDIDATES: usize = 2;
/// How far the data cells' weights follow each frequency cell's measured
/// reliability (see [`freq_weights`]) rather than being equal: 0 = equal,
/// 1 = the measured ratio alone. Measured with `earmark robustness
/// --payloads 1 --clips 10`: 1.0 reads noise at 20 dB SNR on 2 more of 13
/// tracks but adds 3 % raw bit errors on MP3 clips, 0.6 keeps the first
/// and not the second.
const FREQ_WEIGHTING: f32 = 0.6;
/// Most frequency cells a layout may have (fixed-size scratch arrays).
const MAX_FREQ_CELLS: usize = 64;
/// Window length and hop, in units.
const WINDOW_UNITS: usize = 4;
const WINDOW_HOP_UNITS: usize = 2;
/// Cells on each side averaged by the high-pass across time.
const TIME_NEIGHBOURS: usize = 2;

/// A time/frequency change the detector should undo before analysis: the
/// audio is assumed to have been played `speed` times faster (durations
/// divided and frequencies multiplied by `speed`, like `sox speed`) and then
/// time-stretched `tempo` times faster with its pitch kept. A pitch shift by
/// a factor `p` with the tempo kept is `Scale { speed: p, tempo: 1.0 / p }`.
/// [`Scale::IDENTITY`] is plain detection.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Scale {
    /// Playback speed factor (time and pitch together).
    pub speed: f64,
    /// Tempo factor (time only).
    pub tempo: f64,
}

impl Scale {
    /// No change.
    pub const IDENTITY: Scale = Scale {
        speed: 1.0,
        tempo: 1.0,
    };

    /// A pitch shift by `semitones` with the tempo kept.
    pub fn pitch(semitones: f64) -> Scale {
        let p = libm::exp2(semitones / 12.0);
        Scale {
            speed: p,
            tempo: 1.0 / p,
        }
    }

    /// The change in plain words, for people who are not audio engineers: a
    /// *speed change* moves tempo and pitch together (a tape or record played
    /// faster), a *tempo change* keeps the pitch, a *pitch shift* keeps the
    /// tempo. Factors within 0.5 % of 1 count as unchanged (the detector
    /// tolerates that much).
    pub fn describe(&self) -> String {
        let unchanged = |x: f64| (x - 1.0).abs() < 0.005;
        let (s, t) = (self.speed, self.tempo);
        if unchanged(s) && unchanged(t) {
            "no speed, tempo or pitch change".to_string()
        } else if unchanged(s) {
            format!("tempo change of about ×{t:.2} (pitch kept)")
        } else if unchanged(t) {
            format!("speed change of about ×{s:.2} (tempo and pitch together)")
        } else if unchanged(s * t) {
            let semitones = 12.0 * s.log2();
            format!("pitch shift of about {semitones:+.1} semitones (tempo kept)")
        } else {
            format!("speed change of about ×{s:.2} and tempo change of about ×{t:.2}")
        }
    }
}

impl Default for Scale {
    fn default() -> Self {
        Scale::IDENTITY
    }
}

/// A payload found in the signal.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Detection {
    /// The 8 payload bytes (CRC-checked).
    pub payload: [u8; 8],
    /// Synchronisation score of the best analysis that decoded it (a z-score:
    /// ≈ N(0, 1) on unmarked audio).
    pub sync_z: f32,
    /// Fraction of coded bits whose soft decision agrees with the re-encoded
    /// payload (1.0 = no raw bit errors).
    pub agreement: f32,
    /// Start times (seconds from the start of the signal) of the units that
    /// are individually detectable.
    pub unit_starts: Vec<f64>,
    /// Number of analyses (windows, and the whole-signal fold) that decoded it.
    pub hits: usize,
}

/// The best synchronisation candidate of the whole-signal fold, with its raw
/// soft bits, for diagnostics and bit-error measurements.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Candidate {
    /// Unit phase, seconds (start of the first unit modulo the unit length).
    pub phase_seconds: f64,
    /// Synchronisation z-score.
    pub sync_z: f32,
    /// Soft value of every coded bit (positive = 1).
    pub soft: Vec<f32>,
}

/// Everything the detector found.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct DetectReport {
    /// Distinct payloads found, strongest first.
    pub detections: Vec<Detection>,
    /// Seconds of audio analysed.
    pub seconds: f64,
    /// Fraction of the analysis rows above silence.
    pub active_fraction: f64,
    /// Fraction of the analysis rows loud enough for a marker to be robust.
    pub loud_fraction: f64,
    /// Best synchronisation candidate of the whole-signal fold.
    pub best: Option<Candidate>,
    /// Number of analyses run (windows plus the whole-signal fold).
    pub analyses: usize,
    /// Number of Viterbi decodes that were CRC-checked (candidates whose sync
    /// score reached 4; at most [`CANDIDATES`] per analysis). On
    /// unmarked audio each passes by chance with probability 2^-32, so the
    /// expected false payloads are `crc_checks × 2^-32`. A search sums it,
    /// like `analyses`, over all its passes.
    pub crc_checks: usize,
}

impl DetectReport {
    /// Whether most of the signal is too quiet to hold a robust marker, so
    /// "not found" would be a guess.
    pub fn too_quiet(&self) -> bool {
        self.loud_fraction < 0.25
    }

    /// Whether the signal is shorter than one marker unit, so "not found"
    /// would be a guess.
    pub fn too_short(&self) -> bool {
        self.seconds < Layout::V1.unit_seconds()
    }
}

/// Streaming blind detector.
pub struct Detector {
    pattern: Pattern,
    layout: Layout,
    channels: usize,
    down: Resampler,
    mono: Vec<f32>,
    canon: Vec<f32>,
    fft: FrameFft,
    /// Canonical samples between analysis rows (the fine hop, divided by the
    /// tempo factor being undone) and the next row's position in `canon`.
    row_step: f64,
    row_pos: f64,
    /// Observed seconds per canonical-timeline second (`1 / (speed * tempo)`).
    time_factor: f64,
    /// A copy of the first analysis rows and canonical samples (see
    /// [`Detector::keep_for_search`]), and their caps.
    kept: Vec<f32>,
    keep_cap: usize,
    kept_canonical: Vec<f32>,
    keep_canonical_cap: usize,
    /// Rows of the current window, `freq_cells` values each.
    rows: Vec<f32>,
    rows_start: u64,
    next_row: u64,
    active_rows: u64,
    loud_rows: u64,
    fold_global: Vec<f32>,
    fold: Vec<f32>,
    cellsum: Vec<f32>,
    scratch: Vec<f32>,
    cell_row: Vec<f32>,
    /// Log power of the band bins of the current row.
    log_power: Vec<f32>,
    /// Sum of a row's neighbouring cells (time high-pass).
    neighbours: Vec<f32>,
    scores: Vec<f32>,
    /// Sync cells as (row offset within the unit, frequency cell, sign).
    sync_cells: Vec<(usize, usize, f32)>,
    columns: Vec<f32>,
    squares: Vec<f32>,
    acc: Vec<f32>,
    energy: Vec<f32>,
    soft: Vec<f32>,
    viterbi: Viterbi,
    found: Vec<Detection>,
    analyses: usize,
    crc_checks: usize,
    windows_done: u64,
    /// Whether the resampler's tail has been flushed.
    flushed: bool,
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detector")
            .field("rows", &self.next_row)
            .finish_non_exhaustive()
    }
}

impl Detector {
    /// Creates a detector for `key`, for audio of `channels` channels at
    /// `sample_rate` Hz.
    ///
    /// # Panics
    /// Panics if `channels` or `sample_rate` is zero.
    pub fn new(key: &WatermarkKey, sample_rate: u32, channels: usize) -> Self {
        Self::with_scale(key, sample_rate, channels, Scale::IDENTITY)
    }

    /// Creates a detector that first undoes `scale` (see [`Scale`]): the
    /// speed change through the resampler (treating the input as if it ran at
    /// `sample_rate / speed`), the tempo change by spacing analysis rows
    /// `tempo` times closer. Reported times are in the input's own timeline.
    ///
    /// # Panics
    /// Panics if `channels` or `sample_rate` is zero, or a factor is outside
    /// 0.5–2.
    pub fn with_scale(key: &WatermarkKey, sample_rate: u32, channels: usize, scale: Scale) -> Self {
        assert!(channels > 0, "channels must be positive");
        assert!(
            (0.5..=2.0).contains(&scale.speed) && (0.5..=2.0).contains(&scale.tempo),
            "scale factors must be within 0.5-2"
        );
        let layout = Layout::V1;
        let u = layout.unit_fine_frames();
        let j = layout.freq_cells;
        let pattern = Pattern::new(key, layout);
        let cell_step = layout.cell_frames * layout.sub;
        let sync_cells = pattern
            .sync
            .iter()
            .map(|c| {
                let (ti, fi) = (c.index as usize / j, c.index as usize % j);
                (ti * cell_step, fi, c.sign)
            })
            .collect();
        Detector {
            pattern,
            sync_cells,
            columns: vec![0.0; u * j],
            squares: vec![0.0; u * j],
            acc: vec![0.0; u],
            energy: vec![0.0; u],
            layout,
            channels,
            down: Resampler::undoing_speed(sample_rate, CANONICAL_RATE, scale.speed),
            mono: Vec::new(),
            canon: Vec::new(),
            fft: FrameFft::new(),
            row_step: layout.fine_hop() as f64 / scale.tempo,
            row_pos: 0.0,
            time_factor: 1.0 / (scale.speed * scale.tempo),
            kept: Vec::new(),
            keep_cap: 0,
            kept_canonical: Vec::new(),
            keep_canonical_cap: 0,
            rows: Vec::new(),
            rows_start: 0,
            next_row: 0,
            active_rows: 0,
            loud_rows: 0,
            fold_global: vec![0.0; u * j],
            fold: vec![0.0; u * j],
            cellsum: vec![0.0; u * j],
            scratch: vec![0.0; u * j],
            cell_row: vec![0.0; j],
            log_power: vec![0.0; j * layout.cell_bins],
            neighbours: vec![0.0; j],
            scores: vec![0.0; u],
            soft: vec![0.0; CODED_BITS],
            viterbi: Viterbi::new(),
            found: Vec::new(),
            analyses: 0,
            crc_checks: 0,
            windows_done: 0,
            flushed: false,
        }
    }

    /// Keeps a copy of the analysis rows and of the canonical samples (mono,
    /// 11.025 kHz) of the first `seconds` of input, for
    /// [`Detector::finish_kept`]: the scale search estimates the unit period
    /// from the rows and runs its passes on the samples, so it needs neither
    /// the input again nor more memory than `seconds` of it (about 4.4 MB
    /// per minute).
    pub fn keep_for_search(mut self, seconds: f64) -> Self {
        let seconds = seconds.max(0.0);
        let per_second = f64::from(CANONICAL_RATE) / self.layout.fine_hop() as f64;
        self.keep_cap = (seconds * per_second) as usize * self.layout.freq_cells;
        self.keep_canonical_cap = (seconds * f64::from(CANONICAL_RATE)) as usize;
        self
    }

    /// Like [`Detector::finish`], also returning what
    /// [`Detector::keep_for_search`] kept.
    pub fn finish_kept(mut self) -> (DetectReport, Kept) {
        // Flush the resampler first so the canonical copy has the tail of a
        // short input. `kept` never exceeds its cap (whole rows, a multiple
        // of the cells); rows the final flush adds are not needed.
        self.flush_resampler();
        let kept = Kept {
            rows: std::mem::take(&mut self.kept),
            canonical: std::mem::take(&mut self.kept_canonical),
        };
        self.keep_cap = 0;
        (self.finish(), kept)
    }

    /// Feeds interleaved samples.
    ///
    /// # Panics
    /// Panics if `input.len()` is not a multiple of the channel count.
    pub fn process(&mut self, input: &[f32]) {
        assert_eq!(
            input.len() % self.channels,
            0,
            "input must hold whole frames"
        );
        downmix(input, self.channels, &mut self.mono);
        let before = self.canon.len();
        self.down.push(&self.mono, &mut self.canon);
        self.keep_canonical(before);
        self.run_rows(false);
    }

    /// Copies `canon[from..]` (new resampler output) into the kept
    /// canonical samples, up to their cap.
    fn keep_canonical(&mut self, from: usize) {
        let room = self.keep_canonical_cap - self.kept_canonical.len();
        if room > 0 {
            let new = &self.canon[from..];
            self.kept_canonical
                .extend_from_slice(&new[..new.len().min(room)]);
        }
    }

    /// Flushes the resampler's tail into `canon` (once).
    fn flush_resampler(&mut self) {
        if !self.flushed {
            self.flushed = true;
            let before = self.canon.len();
            self.down.finish(&mut self.canon);
            self.keep_canonical(before);
        }
    }

    /// Ends the stream and returns what was found.
    pub fn finish(mut self) -> DetectReport {
        self.flush_resampler();
        self.run_rows(true);
        let l = self.layout;
        let u = l.unit_fine_frames() as u64;
        // Analyse what the sliding windows have not covered yet (all of a
        // short clip), then the fold of everything.
        let covered = self.windows_done * WINDOW_HOP_UNITS as u64 * u
            + if self.windows_done > 0 {
                (WINDOW_UNITS - WINDOW_HOP_UNITS) as u64 * u
            } else {
                0
            };
        if self.next_row > covered || self.windows_done == 0 {
            self.analyse_rows();
        }
        // The fold of everything: the strongest evidence for a long track.
        let fold = std::mem::take(&mut self.fold_global);
        let best = self.analyse_fold(&fold, None);
        let seconds = self.next_row as f64 * l.fine_hop() as f64 / f64::from(CANONICAL_RATE)
            * self.time_factor;
        let mut detections = self.found;
        detections.sort_by(|a, b| b.sync_z.total_cmp(&a.sync_z));
        for d in &mut detections {
            d.unit_starts.sort_by(f64::total_cmp);
            // The same unit seen at neighbouring fine offsets (13.79 and
            // 13.80 s) is one unit: units are a unit length apart.
            let near = l.unit_seconds() * self.time_factor / 4.0;
            d.unit_starts.dedup_by(|a, b| (*a - *b).abs() < near);
        }
        DetectReport {
            detections,
            seconds,
            active_fraction: fraction(self.active_rows, self.next_row),
            loud_fraction: fraction(self.loud_rows, self.next_row),
            best,
            analyses: self.analyses,
            crc_checks: self.crc_checks,
        }
    }

    /// Turns canonical samples into analysis rows, one every `row_step`
    /// samples (rounded to the nearest sample).
    fn run_rows(&mut self, flush: bool) {
        let real = self.canon.len();
        if flush {
            // Zero-pad so the last frames that are at least half real are analysed.
            self.canon.resize(real + FRAME, 0.0);
        }
        loop {
            let pos = self.row_pos.round() as usize;
            if pos + FRAME > self.canon.len() || (flush && pos + FRAME / 2 >= real) {
                break;
            }
            self.push_row(pos, pos + FRAME);
            self.row_pos += self.row_step;
        }
        let drop = (self.row_pos.floor() as usize).min(self.canon.len());
        self.canon.drain(..drop);
        self.row_pos -= drop as f64;
    }

    fn push_row(&mut self, start: usize, end: usize) {
        let l = self.layout;
        let spec = self.fft.forward(&self.canon[start..end]);
        let (lo, hi) = (l.bin_lo, l.bin_hi());
        let band_power: f32 = spec[lo..hi].iter().map(|c| c.norm_sqr()).sum();
        let j = l.freq_cells;
        let active = band_power / ((hi - lo) as f32) >= SILENCE_POWER;
        if active {
            self.active_rows += 1;
            if band_power / ((hi - lo) as f32) >= QUIET_POWER {
                self.loud_rows += 1;
            }
            let floor = band_power / (hi - lo) as f32 * 1e-6;
            // Log power of every band bin in one pass (vectorises), then the
            // mean of each cell's bins.
            let log_power = &mut self.log_power[..hi - lo];
            for (p, c) in log_power.iter_mut().zip(&spec[lo..hi]) {
                *p = c.norm_sqr() + floor;
            }
            for p in log_power.iter_mut() {
                *p = fast_ln(*p);
            }
            for (v, bins) in self
                .cell_row
                .iter_mut()
                .zip(log_power.chunks_exact(l.cell_bins))
            {
                *v = bins.iter().sum::<f32>() / l.cell_bins as f32;
            }
            detrend_normalise(&mut self.cell_row);
        } else {
            self.cell_row.fill(0.0);
        }
        debug_assert_eq!(BINS, spec.len());
        let u = l.unit_fine_frames();
        let phase = (self.next_row % u as u64) as usize;
        for (g, &v) in self.fold_global[phase * j..(phase + 1) * j]
            .iter_mut()
            .zip(&self.cell_row)
        {
            *g += v;
        }
        self.rows.extend_from_slice(&self.cell_row);
        if self.kept.len() < self.keep_cap {
            self.kept.extend_from_slice(&self.cell_row);
        }
        self.next_row += 1;
        let window = (WINDOW_UNITS * u) as u64;
        if self.next_row - self.rows_start == window {
            self.analyse_rows();
            self.windows_done += 1;
            let drop = WINDOW_HOP_UNITS * u;
            self.rows.drain(..drop * j);
            self.rows_start += drop as u64;
        }
    }

    /// Folds the buffered rows and analyses them.
    fn analyse_rows(&mut self) {
        let l = self.layout;
        let (u, j) = (l.unit_fine_frames(), l.freq_cells);
        let mut fold = std::mem::take(&mut self.fold);
        fold.fill(0.0);
        for (r, row) in self.rows.chunks_exact(j).enumerate() {
            let phase = ((self.rows_start + r as u64) % u as u64) as usize;
            for (f, &v) in fold[phase * j..(phase + 1) * j].iter_mut().zip(row) {
                *f += v;
            }
        }
        let rows = (self.rows_start, self.rows.len() / j);
        self.analyse_fold(&fold, Some(rows));
        self.fold = fold;
    }

    /// Synchronises and decodes one fold; records detections. `rows` gives
    /// the absolute first row and row count when the rows are still buffered
    /// (for per-unit localisation). Returns the best candidate.
    fn analyse_fold(&mut self, fold: &[f32], rows: Option<(u64, usize)>) -> Option<Candidate> {
        self.analyses += 1;
        let l = self.layout;
        let (u, j) = (l.unit_fine_frames(), l.freq_cells);
        let cell_step = l.cell_frames * l.sub;
        // Sum each cell's frames: cellsum[phase] = value of a cell starting
        // there. Whole rows at a time (one index wrap per row, not per value).
        for (phase, dst) in self.cellsum.chunks_exact_mut(j).enumerate() {
            dst.fill(0.0);
            for q in 0..l.cell_frames {
                let r = (phase + q * l.sub) % u;
                for (d, &v) in dst.iter_mut().zip(&fold[r * j..(r + 1) * j]) {
                    *d += v;
                }
            }
        }
        // High-pass across time: subtract the neighbouring cells' mean, which
        // removes what the music sustains from one cell to the next.
        self.scratch.copy_from_slice(&self.cellsum);
        let row = |r: usize| r * j..(r + 1) * j;
        for (phase, dst) in self.cellsum.chunks_exact_mut(j).enumerate() {
            // Rows `m` cells later and earlier, m = 1..=TIME_NEIGHBOURS.
            let mut later = [0usize; TIME_NEIGHBOURS];
            let mut earlier = [0usize; TIME_NEIGHBOURS];
            for m in 1..=TIME_NEIGHBOURS {
                later[m - 1] = (phase + m * cell_step) % u;
                earlier[m - 1] = (phase + u - m * cell_step % u) % u;
            }
            let sum = &mut self.neighbours;
            sum.fill(0.0);
            for m in 0..TIME_NEIGHBOURS {
                let (a, b) = (&self.scratch[row(later[m])], &self.scratch[row(earlier[m])]);
                for ((s, &x), &y) in sum.iter_mut().zip(a).zip(b) {
                    *s += x + y;
                }
            }
            for (d, &s) in dst.iter_mut().zip(sum.iter()) {
                *d -= s / (2 * TIME_NEIGHBOURS) as f32;
            }
        }
        self.sync_scores();
        // Best phases (local maxima), strongest first.
        let mut order: Vec<usize> = (0..u).collect();
        order.sort_by(|&a, &b| self.scores[b].total_cmp(&self.scores[a]));
        let mut picked: Vec<usize> = Vec::with_capacity(CANDIDATES);
        for &p in &order {
            if picked.len() == CANDIDATES {
                break;
            }
            let near = picked
                .iter()
                .any(|&q| circular_distance(p, q, u) < cell_step);
            if !near {
                picked.push(p);
            }
        }
        let mut best = None;
        for (rank, &phase) in picked.iter().enumerate() {
            let z = self.scores[phase];
            self.soft_bits(phase);
            if rank == 0 {
                best = Some(Candidate {
                    phase_seconds: phase as f64 * l.fine_hop() as f64 / f64::from(CANONICAL_RATE)
                        * self.time_factor,
                    sync_z: z,
                    soft: self.soft.clone(),
                });
            }
            if z < Z_DECODE {
                continue;
            }
            let bits = self.viterbi.decode(&self.soft);
            self.crc_checks += 1;
            let Some(payload) = payload_from_bits(&bits, &self.pattern.mask) else {
                continue;
            };
            let agreement = agreement(&self.soft, &bits);
            let starts = match rows {
                Some((first, count)) => self.unit_starts(phase, first, count),
                None => Vec::new(),
            };
            self.record(payload, z, agreement, starts);
        }
        best
    }

    /// Normalised correlation of the sync cells with a unit starting at each
    /// phase (`scores[phase]`, a z-score). Works column by column so the
    /// inner loops run over contiguous memory.
    fn sync_scores(&mut self) {
        let l = self.layout;
        let (u, j) = (l.unit_fine_frames(), l.freq_cells);
        // Transpose cellsum to one column per frequency cell, and its squares.
        for (phase, row) in self.cellsum.chunks_exact(j).enumerate() {
            for (f, &v) in row.iter().enumerate() {
                self.columns[f * u + phase] = v;
                self.squares[f * u + phase] = v * v;
            }
        }
        let (acc, energy) = (&mut self.acc, &mut self.energy);
        acc.fill(0.0);
        energy.fill(0.0);
        for &(off, f, sign) in &self.sync_cells {
            let col = &self.columns[f * u..(f + 1) * u];
            let sq = &self.squares[f * u..(f + 1) * u];
            // phase + off wraps around the unit.
            let split = u - off;
            for ((a, e), (&v, &s)) in acc[..split]
                .iter_mut()
                .zip(&mut energy[..split])
                .zip(col[off..].iter().zip(&sq[off..]))
            {
                *a += sign * v;
                *e += s;
            }
            for ((a, e), (&v, &s)) in acc[split..]
                .iter_mut()
                .zip(&mut energy[split..])
                .zip(col[..off].iter().zip(&sq[..off]))
            {
                *a += sign * v;
                *e += s;
            }
        }
        for ((z, &a), &e) in self.scores.iter_mut().zip(acc.iter()).zip(energy.iter()) {
            *z = if e > 0.0 { a / e.sqrt() } else { 0.0 };
        }
    }

    /// Soft value of each coded bit for a unit phase, from `cellsum`.
    fn soft_bits(&mut self, phase: usize) {
        let l = self.layout;
        let (u, j) = (l.unit_fine_frames(), l.freq_cells);
        let cell_step = l.cell_frames * l.sub;
        let weight = freq_weights(&self.cellsum, &self.sync_cells, phase, u, j);
        for bit in 0..CODED_BITS {
            let mut s = 0.0;
            for c in self.pattern.bit_cells(bit) {
                let (ti, fi) = (c.index as usize / j, c.index as usize % j);
                s += weight[fi] * c.sign * self.cellsum[((phase + ti * cell_step) % u) * j + fi];
            }
            self.soft[bit] = s;
        }
        let rms = (self.soft.iter().map(|v| v * v).sum::<f32>() / CODED_BITS as f32).sqrt();
        if rms > 0.0 {
            self.soft.iter_mut().for_each(|v| *v /= rms);
        }
    }

    /// Start times of the complete units in the buffered rows, at `phase`,
    /// whose own sync score passes [`Z_UNIT`].
    fn unit_starts(&self, phase: usize, first: u64, count: usize) -> Vec<f64> {
        let l = self.layout;
        let (u, j) = (l.unit_fine_frames() as u64, l.freq_cells);
        let cell_step = (l.cell_frames * l.sub) as u64;
        let mut out = Vec::new();
        // First unit start at or after `first` with the right phase.
        let mut start = first + (phase as u64 + u - first % u) % u;
        while start + u <= first + count as u64 {
            let (mut acc, mut energy) = (0.0f32, 0.0f32);
            for c in &self.pattern.sync {
                let (ti, fi) = (u64::from(c.index) / j as u64, c.index as usize % j);
                let mut v = 0.0;
                for q in 0..l.cell_frames as u64 {
                    let r = (start + ti * cell_step + q * l.sub as u64 - first) as usize;
                    v += self.rows[r * j + fi];
                }
                acc += c.sign * v;
                energy += v * v;
            }
            if energy > 0.0 && acc / energy.sqrt() >= Z_UNIT {
                out.push(
                    start as f64 * l.fine_hop() as f64 / f64::from(CANONICAL_RATE)
                        * self.time_factor,
                );
            }
            start += u;
        }
        out
    }

    fn record(&mut self, payload: [u8; 8], z: f32, agreement: f32, starts: Vec<f64>) {
        if let Some(d) = self.found.iter_mut().find(|d| d.payload == payload) {
            d.hits += 1;
            if z > d.sync_z {
                d.sync_z = z;
                d.agreement = agreement;
            }
            d.unit_starts.extend(starts);
        } else {
            self.found.push(Detection {
                payload,
                sync_z: z,
                agreement,
                unit_starts: starts,
                hits: 1,
            });
        }
    }
}

/// Weight of each frequency cell's data cells for a unit phase: maximal
/// ratio combining, from the sync cells. In frequency cell `f` the sync
/// cells give the marker's mean contribution `a` (their values times their
/// known signs) and the variance around it; `a / variance` is the weight
/// that maximises the soft bits' signal-to-noise ratio when the cells'
/// reliability differs across frequency (noise, which drowns the treble
/// first; a codec or filter that removes part of the band). Estimated from
/// about 30 cells per frequency cell, so it is smoothed over neighbouring
/// cells and shrunk towards equal weights by [`FREQ_WEIGHTING`]. Weights
/// average about 1.
fn freq_weights(
    cellsum: &[f32],
    sync_cells: &[(usize, usize, f32)],
    phase: usize,
    u: usize,
    j: usize,
) -> [f32; MAX_FREQ_CELLS] {
    let (mut sum, mut squares, mut n) = (
        [0f32; MAX_FREQ_CELLS],
        [0f32; MAX_FREQ_CELLS],
        [0f32; MAX_FREQ_CELLS],
    );
    for &(off, f, sign) in sync_cells {
        let v = cellsum[((phase + off) % u) * j + f];
        sum[f] += sign * v;
        squares[f] += v * v;
        n[f] += 1.0;
    }
    let mut ratio = [0f32; MAX_FREQ_CELLS];
    for f in 0..j {
        let count = n[f].max(1.0);
        let a = sum[f] / count;
        let variance = (squares[f] / count - a * a).max(1e-12);
        ratio[f] = a.max(0.0) / variance;
    }
    let mean = ratio[..j].iter().sum::<f32>() / j as f32;
    let mut weight = [1f32; MAX_FREQ_CELLS];
    if mean > 0.0 {
        for (f, w) in weight[..j].iter_mut().enumerate() {
            let near = &ratio[f.saturating_sub(1)..(f + 2).min(j)];
            let smooth = near.iter().sum::<f32>() / near.len() as f32;
            *w = (1.0 - FREQ_WEIGHTING) + FREQ_WEIGHTING * smooth / mean;
        }
    }
    weight
}

/// Replaces `mono` with the mean of `channels` interleaved channels of
/// `input` (a copy for mono input). Shared by the detector and the seal
/// reader.
pub(crate) fn downmix(input: &[f32], channels: usize, mono: &mut Vec<f32>) {
    mono.clear();
    if channels == 1 {
        mono.extend_from_slice(input);
    } else {
        let scale = 1.0 / channels as f32;
        mono.extend(
            input
                .chunks_exact(channels)
                .map(|f| f.iter().sum::<f32>() * scale),
        );
    }
}

/// High-passes a row across frequency (subtracts the mean of up to two
/// neighbours on each side) and scales it to unit RMS, clamped to ±3.
fn detrend_normalise(row: &mut [f32]) {
    let n = row.len();
    let mut tmp = [0f32; MAX_FREQ_CELLS];
    debug_assert!(n <= tmp.len());
    for i in 0..n {
        let (a, b) = (i.saturating_sub(2), (i + 3).min(n));
        let sum: f32 = row[a..b].iter().sum::<f32>() - row[i];
        tmp[i] = row[i] - sum / (b - a - 1) as f32;
    }
    let rms = (tmp[..n].iter().map(|v| v * v).sum::<f32>() / n as f32).sqrt();
    let inv = if rms > 0.0 { 1.0 / rms } else { 0.0 };
    for (r, t) in row.iter_mut().zip(&tmp[..n]) {
        *r = (t * inv).clamp(-3.0, 3.0);
    }
}

fn fraction(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

fn circular_distance(a: usize, b: usize, n: usize) -> usize {
    let d = a.abs_diff(b);
    d.min(n - d)
}

/// Fraction of soft decisions that agree with the re-encoded message.
fn agreement(soft: &[f32], bits: &[u8; MESSAGE_BITS]) -> f32 {
    let coded = encode(bits);
    let same = soft
        .iter()
        .zip(coded.iter())
        .filter(|(s, &c)| (**s > 0.0) == (c == 1))
        .count();
    same as f32 / CODED_BITS as f32
}

/// What [`Detector::keep_for_search`] kept of the start of the input.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Kept {
    /// Analysis rows, `freq_cells` values each.
    pub rows: Vec<f32>,
    /// The mono mix resampled to [`CANONICAL_RATE`], time-aligned with the
    /// input (sample `n` is at `n / CANONICAL_RATE` seconds).
    pub canonical: Vec<f32>,
}

/// Detects in a whole buffer at once (convenience over [`Detector`]).
pub fn detect_buffer(
    key: &WatermarkKey,
    samples: &[f32],
    sample_rate: u32,
    channels: usize,
) -> DetectReport {
    let mut d = Detector::new(key, sample_rate, channels);
    d.process(samples);
    d.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_are_described_in_plain_words() {
        let d = |speed, tempo| Scale { speed, tempo }.describe();
        assert_eq!(
            d(1.04, 1.0),
            "speed change of about ×1.04 (tempo and pitch together)"
        );
        assert_eq!(d(1.0, 0.95), "tempo change of about ×0.95 (pitch kept)");
        assert_eq!(
            Scale::pitch(-1.0).describe(),
            "pitch shift of about -1.0 semitones (tempo kept)"
        );
        assert_eq!(
            d(0.955, 1.0 / 0.955 * 1.003),
            "pitch shift of about -0.8 semitones (tempo kept)"
        );
        assert_eq!(
            d(1.05, 0.98),
            "speed change of about ×1.05 and tempo change of about ×0.98"
        );
        assert_eq!(
            Scale::IDENTITY.describe(),
            "no speed, tempo or pitch change"
        );
    }

    #[test]
    fn frequency_cells_that_read_reliably_weigh_more() {
        use rand_chacha::rand_core::{RngCore, SeedableRng};
        let l = Layout::V1;
        let (u, j) = (l.unit_fine_frames(), l.freq_cells);
        let pattern = Pattern::new(&WatermarkKey::public(), l);
        let step = l.cell_frames * l.sub;
        let sync: Vec<(usize, usize, f32)> = pattern
            .sync
            .iter()
            .map(|c| ((c.index as usize / j) * step, c.index as usize % j, c.sign))
            .collect();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut noise = || (rng.next_u32() as f32 / u32::MAX as f32 - 0.5) * 2.0;
        // Every cell holds noise; the sync cells of the lower half also hold
        // their sign, those of the upper half hold nothing more.
        let phase = 40;
        let mut cellsum: Vec<f32> = (0..u * j).map(|_| noise()).collect();
        for &(off, f, sign) in &sync {
            let v = &mut cellsum[((phase + off) % u) * j + f];
            *v = noise() + if f < j / 2 { sign } else { 0.0 };
        }
        let w = freq_weights(&cellsum, &sync, phase, u, j);
        let mean = w[..j].iter().sum::<f32>() / j as f32;
        assert!((mean - 1.0).abs() < 0.02, "mean weight {mean}");
        // Away from the edge where smoothing mixes the halves.
        let (low, high) = (&w[..j / 2 - 1], &w[j / 2 + 1..j]);
        assert!(low.iter().all(|&x| x > 1.2), "{low:?}");
        assert!(
            high.iter().all(|&x| x < 1.0 - FREQ_WEIGHTING / 2.0),
            "{high:?}"
        );
        // Equally reliable cells keep nearly equal weights; no signal at
        // all (unmarked audio) keeps them equal.
        for &(off, f, sign) in &sync {
            cellsum[((phase + off) % u) * j + f] += if f < j / 2 { 0.0 } else { sign };
        }
        let w = freq_weights(&cellsum, &sync, phase, u, j);
        assert!(w[..j].iter().all(|&x| (x - 1.0).abs() < 0.3), "{w:?}");
        let silent = vec![0.0; u * j];
        let w = freq_weights(&silent, &sync, phase, u, j);
        assert!(w[..j].iter().all(|&x| x == 1.0));
    }

    #[test]
    fn crc_checks_are_counted_within_their_cap() {
        // Seeded white noise: few (usually no) candidates reach the gate.
        let mut state = 7u32;
        let x: Vec<f32> = (0..11_025 * 12)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (state >> 8) as f32 / (1u32 << 24) as f32 - 0.5
            })
            .collect();
        let r = detect_buffer(&WatermarkKey::public(), &x, CANONICAL_RATE, 1);
        assert!(r.detections.is_empty());
        assert!(r.analyses >= 2);
        assert!(r.crc_checks <= CANDIDATES * r.analyses);
        // Only candidates at or above the gate are checked.
        if r.best.as_ref().is_some_and(|b| b.sync_z < Z_DECODE) {
            assert!(r.crc_checks < CANDIDATES * r.analyses);
        }
    }
}
