//! Embedding: adds the marker to interleaved PCM, streaming.
//!
//! Per canonical frame the channels' spectra feed the masking model; the mono
//! mix's spectrum `X[k]` is scaled cell by cell to `X[k] * (1 + s * β)` where
//! `s = ±1` is the cell's sign and `β` the band's masked modulation depth.
//! Only the difference (the watermark signal) is synthesised, resampled to the
//! native rate and added to every channel; the music itself never passes
//! through the FFT, so the output differs from the input by exactly the
//! watermark.

use super::code::{encode, message_bits};
use super::key::{Pattern, WatermarkKey};
use super::layout::{Layout, BINS, CANONICAL_RATE, FRAME, HOP};
use super::masking::MaskingModel;
use super::resample::Resampler;
use super::stft::FrameFft;
use realfft::num_complex::Complex32;
use std::collections::VecDeque;

/// Largest modulation depth β at strength 1 (≈ +2.3 / −3.1 dB).
const BETA_CAP: f32 = 0.3;
/// Safety margin below the masking threshold at strength 1, in dB.
const MARGIN_DB: f32 = 3.0;
/// Per-bin power (canonical FFT units) below which a band is treated as
/// silence and left untouched: about −85 dB relative to full-scale noise.
const SILENCE_POWER: f32 = 1e-7;
/// An onset louder than this ratio (in band energy) over the previous frame
/// gets a proportionally weaker marker, to avoid pre-echo.
const ONSET_RATIO: f32 = 8.0;

/// Embedding options.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct EmbedOptions {
    /// Marker strength relative to the masking threshold: 1.0 is the tuned
    /// default, 2.0 doubles the modulation depth (+6 dB), 0.5 halves it.
    /// Default: 1.0.
    pub strength: f32,
}

impl EmbedOptions {
    /// Options with the given strength (see [`EmbedOptions::strength`]).
    pub fn with_strength(strength: f32) -> Self {
        EmbedOptions { strength }
    }
}

impl Default for EmbedOptions {
    fn default() -> Self {
        EmbedOptions { strength: 1.0 }
    }
}

/// What the embedder did, for warnings and reports.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[non_exhaustive]
pub struct EmbedStats {
    /// Canonical frames analysed.
    pub frames: u64,
    /// Frames loud enough to carry the marker.
    pub active_frames: u64,
    /// Mean modulation depth over active frames' marker bins.
    pub mean_beta: f64,
    /// Audio length, in native frames (samples per channel).
    pub input_frames: u64,
    /// Samples that the marker pushed past full scale (the input was within
    /// ±1.0 there); they are limited to ±1.0.
    pub clipped: u64,
}

impl EmbedStats {
    /// Fraction of the track that carries the marker (0–1).
    pub fn active_fraction(&self) -> f64 {
        if self.frames == 0 {
            0.0
        } else {
            self.active_frames as f64 / self.frames as f64
        }
    }
}

/// Streaming marker embedder for interleaved `f32` audio.
///
/// Feed blocks with [`Embedder::process`] and end with [`Embedder::finish`];
/// the output has exactly as many frames as the input, delayed internally by
/// a few hundred milliseconds of latency (outputs trail inputs).
pub struct Embedder {
    channels: usize,
    layout: Layout,
    /// Sign of every cell of a unit for this payload.
    signs: Vec<f32>,
    strength: f32,
    down: Vec<Resampler>,
    up: Resampler,
    /// Per channel, canonical samples from the current frame start on.
    canon: Vec<Vec<f32>>,
    /// Start of the current frame within `canon`.
    pos: usize,
    fft: FrameFft,
    spectra: Vec<Vec<Complex32>>,
    mix: Vec<Complex32>,
    power: Vec<f32>,
    masking: MaskingModel,
    thresholds: Vec<f32>,
    allowed: Vec<f32>,
    beta: Vec<f32>,
    ola: Vec<f32>,
    w_canon: Vec<f32>,
    w_native: VecDeque<f32>,
    native_tmp: Vec<f32>,
    pending: VecDeque<f32>,
    deinterleaved: Vec<f32>,
    frame: u64,
    prev_energy: f32,
    beta_sum: f64,
    beta_count: u64,
    stats: EmbedStats,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder")
            .field("channels", &self.channels)
            .field("frame", &self.frame)
            .finish_non_exhaustive()
    }
}

impl Embedder {
    /// Creates an embedder for `payload` (8 bytes) with `key`, for audio of
    /// `channels` channels at `sample_rate` Hz.
    ///
    /// # Panics
    /// Panics if `channels` or `sample_rate` is zero.
    pub fn new(
        key: &WatermarkKey,
        payload: [u8; 8],
        sample_rate: u32,
        channels: usize,
        options: EmbedOptions,
    ) -> Self {
        assert!(channels > 0, "channels must be positive");
        let layout = Layout::V1;
        let pattern = Pattern::new(key, layout);
        let coded = encode(&message_bits(payload, &pattern.mask));
        let signs = pattern.cell_signs(&coded);
        let masking = MaskingModel::new();
        let bands = masking.bands();
        Embedder {
            channels,
            layout,
            signs,
            strength: options.strength.max(0.0),
            down: (0..channels)
                .map(|_| Resampler::new(sample_rate, CANONICAL_RATE))
                .collect(),
            up: Resampler::new(CANONICAL_RATE, sample_rate),
            canon: vec![Vec::with_capacity(4 * FRAME); channels],
            pos: 0,
            fft: FrameFft::new(),
            spectra: vec![vec![Complex32::default(); BINS]; channels],
            mix: vec![Complex32::default(); BINS],
            power: vec![0.0; BINS],
            masking,
            thresholds: vec![0.0; bands],
            allowed: vec![0.0; bands],
            beta: vec![0.0; BINS],
            ola: vec![0.0; FRAME],
            w_canon: Vec::with_capacity(4 * FRAME),
            w_native: VecDeque::new(),
            native_tmp: Vec::new(),
            pending: VecDeque::new(),
            deinterleaved: Vec::new(),
            frame: 0,
            prev_energy: 0.0,
            beta_sum: 0.0,
            beta_count: 0,
            stats: EmbedStats::default(),
        }
    }

    /// Statistics so far (complete after [`Embedder::finish`]).
    pub fn stats(&self) -> EmbedStats {
        let mut s = self.stats;
        s.mean_beta = if self.beta_count == 0 {
            0.0
        } else {
            self.beta_sum / self.beta_count as f64
        };
        s
    }

    /// Embeds into `input` (interleaved, whole frames) and appends every
    /// finished output sample to `out`.
    ///
    /// # Panics
    /// Panics if `input.len()` is not a multiple of the channel count.
    pub fn process(&mut self, input: &[f32], out: &mut Vec<f32>) {
        assert_eq!(
            input.len() % self.channels,
            0,
            "input must hold whole frames"
        );
        self.stats.input_frames += (input.len() / self.channels) as u64;
        self.pending.extend(input.iter().copied());
        for c in 0..self.channels {
            self.deinterleaved.clear();
            self.deinterleaved
                .extend(input.iter().skip(c).step_by(self.channels).copied());
            self.down[c].push(&self.deinterleaved, &mut self.canon[c]);
        }
        self.run_frames();
        self.emit(out, false);
    }

    /// Flushes the tail; after this the output has as many frames as the input.
    pub fn finish(mut self, out: &mut Vec<f32>) -> EmbedStats {
        for c in 0..self.channels {
            self.down[c].finish(&mut self.canon[c]);
        }
        // Every frame that starts before the end of the audio is processed,
        // zero-padded as needed.
        let mut real = self.canon[0].len() - self.pos;
        while real > 0 {
            let need = self.pos + FRAME;
            for ch in &mut self.canon {
                ch.resize(need.max(ch.len()), 0.0);
            }
            self.process_frame();
            self.advance();
            real = real.saturating_sub(HOP);
        }
        // What is left in the overlap-add buffer is final too.
        self.w_canon.extend_from_slice(&self.ola);
        self.push_watermark();
        self.up.finish(&mut self.native_tmp);
        self.w_native.extend(self.native_tmp.drain(..));
        self.emit(out, true);
        self.stats()
    }

    /// Processes every complete frame.
    fn run_frames(&mut self) {
        while self.canon[0].len() - self.pos >= FRAME {
            self.process_frame();
            self.advance();
        }
        for ch in &mut self.canon {
            ch.drain(..self.pos);
        }
        self.pos = 0;
        self.push_watermark();
    }

    /// Moves on by one hop: the first hop of the overlap-add buffer is final.
    fn advance(&mut self) {
        self.pos += HOP;
        self.w_canon.extend_from_slice(&self.ola[..HOP]);
        self.ola.copy_within(HOP.., 0);
        self.ola[FRAME - HOP..].fill(0.0);
    }

    /// Resamples the finished canonical watermark to the native rate.
    fn push_watermark(&mut self) {
        self.up.push(&self.w_canon, &mut self.native_tmp);
        self.w_canon.clear();
        self.w_native.extend(self.native_tmp.drain(..));
    }

    fn process_frame(&mut self) {
        let l = self.layout;
        let (lo, hi) = (l.bin_lo, l.bin_hi());
        self.mix.fill(Complex32::default());
        let inv_ch = 1.0 / self.channels as f32;
        self.allowed.fill(f32::INFINITY);
        for c in 0..self.channels {
            let spec = self.fft.forward(&self.canon[c][self.pos..self.pos + FRAME]);
            self.spectra[c].copy_from_slice(spec);
            for (p, s) in self.power.iter_mut().zip(spec) {
                *p = s.norm_sqr();
            }
            for (m, s) in self.mix.iter_mut().zip(spec) {
                *m += s * inv_ch;
            }
            self.masking.thresholds(&self.power, &mut self.thresholds);
            for (a, &t) in self.allowed.iter_mut().zip(&self.thresholds) {
                *a = a.min(t);
            }
        }
        // Modulation depth per masking band, relative to the mono mix.
        let margin = 10f32.powf(-MARGIN_DB / 10.0);
        let mut energy = 0.0f32;
        let mut active = false;
        self.beta.fill(0.0);
        for b in 0..self.masking.bands() {
            let bins = self.masking.band_bins(b);
            if bins.end <= lo || bins.start >= hi {
                continue;
            }
            let e: f32 = self.mix[bins.clone()].iter().map(|c| c.norm_sqr()).sum();
            energy += e;
            if e / (bins.len() as f32) < SILENCE_POWER {
                continue;
            }
            active = true;
            let beta = (self.allowed[b] * margin / e).sqrt().min(BETA_CAP) * self.strength;
            self.beta[bins].fill(beta);
        }
        // Pre-echo guard: weaken the marker on sharp onsets.
        let onset_scale = if energy > ONSET_RATIO * self.prev_energy && energy > 0.0 {
            (ONSET_RATIO * self.prev_energy / energy).sqrt()
        } else {
            1.0
        };
        self.prev_energy = energy;
        self.stats.frames += 1;
        if active {
            self.stats.active_frames += 1;
        }
        let unit_frame = (self.frame % l.unit_frames() as u64) as usize;
        let row = unit_frame / l.cell_frames * l.freq_cells;
        // Reuse spectra[0] as the output spectrum.
        let out = &mut self.spectra[0];
        out.fill(Complex32::default());
        for k in lo..hi {
            let beta = self.beta[k] * onset_scale;
            if beta > 0.0 {
                self.beta_sum += f64::from(beta);
                self.beta_count += 1;
            }
            let sign = self.signs[row + (k - lo) / l.cell_bins];
            out[k] = self.mix[k] * (sign * beta);
        }
        self.fft.inverse_add(out, &mut self.ola);
        self.frame += 1;
    }

    /// Writes out every frame for which the watermark is known.
    fn emit(&mut self, out: &mut Vec<f32>, flush: bool) {
        let ch = self.channels;
        let mut frames = (self.pending.len() / ch).min(self.w_native.len());
        if flush {
            frames = self.pending.len() / ch;
        }
        out.reserve(frames * ch);
        for _ in 0..frames {
            let w = self.w_native.pop_front().unwrap_or(0.0);
            for _ in 0..ch {
                let x = self.pending.pop_front().unwrap_or(0.0);
                let mut y = x + w;
                if y.abs() > 1.0 && x.abs() <= 1.0 {
                    y = y.clamp(-1.0, 1.0);
                    self.stats.clipped += 1;
                }
                out.push(y);
            }
        }
    }
}

/// Embeds into a whole buffer at once (convenience over [`Embedder`]).
pub fn embed_buffer(
    key: &WatermarkKey,
    payload: [u8; 8],
    samples: &[f32],
    sample_rate: u32,
    channels: usize,
    options: EmbedOptions,
) -> (Vec<f32>, EmbedStats) {
    let mut e = Embedder::new(key, payload, sample_rate, channels, options);
    let mut out = Vec::with_capacity(samples.len());
    e.process(samples, &mut out);
    let stats = e.finish(&mut out);
    (out, stats)
}
