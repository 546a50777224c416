//! Embedding: adds the marker to interleaved PCM, streaming.
//!
//! Per canonical frame the channels' spectra feed the masking model; the mono
//! mix's spectrum `X[k]` is scaled bin by bin to `X[k] * (1 + s_k * β_k)`
//! where `s_k` is the bin's sign (its cell's marker sign ±1, plus the seal's
//! chip, ±[`SEAL_DEPTH`]) and `β_k` the depth: the band's masked depth `β`,
//! shaped across the band's bins as `β * sqrt(mean power / bin power)` (a
//! flat watermark spectrum within the band, same power) and capped.
//! Only the difference (the watermark signal) is synthesised and added to
//! every channel; the music itself never passes through the FFT, so the output
//! differs from the input by exactly the watermark.
//!
//! The STFT runs at the file's own rate with frames of `FRAME * rate /
//! CANONICAL_RATE` samples (1024 at 44.1 kHz), placed on the canonical frame
//! grid, so its first 129 bins are the canonical bins and no resampling is
//! needed. At rates that are not a multiple of 11.025 kHz the frame length is
//! rounded to an even number of samples (48 kHz: 1114, a 0.05 % bin-spacing
//! difference that detection does not notice) while frame *positions* follow
//! the canonical grid exactly, so units never drift.
//!
//! Each channel's spectrum feeds its share of the masking decision: the mono
//! mix's masking threshold is scaled by the smallest ratio of channel to mix
//! energy in each band, so a sound panned hard to one side does not hide a
//! marker that the silent side would reveal.

use super::band_fft::{as_real, as_real_mut, BandFft};
use super::code::{encode, message_bits};
use super::key::{Pattern, WatermarkKey};
use super::layout::{
    Layout, BINS, CANONICAL_RATE, FRAME, HOP, QUIET_POWER, SEAL_CHIP, SEAL_DEPTH, SILENCE_POWER,
};
use super::masking::MaskingModel;
use super::seal::{seal_signs, SealMessage};
use rustfft::num_complex::Complex32;

/// Largest modulation depth β at strength 1 (≈ +2.3 / −3.1 dB).
const BETA_CAP: f32 = 0.3;
/// Safety margin below the masking threshold at strength 1: 3 dB, as a
/// power factor 10^(−3/10).
const MARGIN: f32 = 0.501_187_2;
/// Largest depth of one bin at strength 1, after the depth is shaped
/// across the band's bins (see [`BandModulation::update`]).
const BIN_CAP: f32 = 0.5;
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
    /// The seal layer's message (a signature and policy code, see
    /// [`SealMessage`]), embedded as a chip inside the marker's cells; `None`
    /// embeds the marker only. Default: `None`.
    pub seal: Option<SealMessage>,
}

impl EmbedOptions {
    /// Options with the given strength (see [`EmbedOptions::strength`]).
    pub fn with_strength(strength: f32) -> Self {
        EmbedOptions {
            strength,
            ..Self::default()
        }
    }

    /// These options with the seal layer carrying `message`.
    pub fn with_seal(self, message: SealMessage) -> Self {
        EmbedOptions {
            seal: Some(message),
            ..self
        }
    }
}

impl Default for EmbedOptions {
    fn default() -> Self {
        EmbedOptions {
            strength: 1.0,
            seal: None,
        }
    }
}

/// What the embedder did, for warnings and reports.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[non_exhaustive]
pub struct EmbedStats {
    /// Canonical frames analysed.
    pub frames: u64,
    /// Frames with any band above silence (these carry the marker).
    pub active_frames: u64,
    /// Frames loud enough for the marker to survive 16-bit export and codecs
    /// (mean power per marker bin of at least 1e-5, about −66 dB).
    pub loud_frames: u64,
    /// Mean modulation depth over active frames' marker bins, per masking
    /// band (before the depth is shaped across each band's bins).
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

    /// Fraction of the track loud enough for the marker to be robust (0–1).
    pub fn loud_fraction(&self) -> f64 {
        if self.frames == 0 {
            0.0
        } else {
            self.loud_frames as f64 / self.frames as f64
        }
    }
}

/// Streaming marker embedder for interleaved `f32` audio.
///
/// Feed blocks with [`Embedder::process`] and end with [`Embedder::finish`];
/// the output has exactly as many frames as the input. Output trails input by
/// about one STFT frame (23 ms).
pub struct Embedder {
    channels: usize,
    rate: u64,
    layout: Layout,
    strength: f32,
    /// Native frame length and number of bins.
    n: usize,
    fft: BandFft,
    window: Vec<f32>,
    /// Per channel, the windowed frame packed as `x[2m] + i·x[2m+1]`
    /// (destroyed by the FFT).
    times: Vec<Vec<Complex32>>,
    /// The synthesised watermark frame, packed the same way.
    time: Vec<Complex32>,
    spectra: Vec<Vec<Complex32>>,
    mix: Vec<Complex32>,
    out_spec: Vec<Complex32>,
    /// Native power to canonical FFT units.
    power_scale: f32,
    /// Mix power per bin in canonical units, over `power_bins`.
    power: Vec<f32>,
    power_bins: std::ops::Range<usize>,
    /// Per channel, power per bin in native units, over `channel_bins`.
    channel_power: Vec<Vec<f32>>,
    channel_bins: std::ops::Range<usize>,
    /// The band's masking state and signs (the marker's, plus the seal's
    /// chips when sealing).
    main: BandModulation,
    /// Bins of the native spectrum the band needs.
    used: usize,
    /// Input (interleaved) from native frame `base` on.
    input: Vec<f32>,
    /// Watermark (mono, overlap-added) from native frame `base` on.
    w: Vec<f32>,
    base: u64,
    total_in: u64,
    frame: u64,
    beta_sum: f64,
    beta_count: u64,
    stats: EmbedStats,
    /// Run the AVX2 build of the per-frame code (the CPU has AVX2 and FMA).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    avx2: bool,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder")
            .field("channels", &self.channels)
            .field("frame", &self.frame)
            .finish_non_exhaustive()
    }
}

/// Whether the running CPU has AVX2 and FMA (the embedder then runs its
/// per-frame code compiled for them); always false off x86-64.
fn avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Native STFT frame length for a sample rate: `FRAME * rate / CANONICAL_RATE`
/// rounded to an even number of samples (at least 16).
pub fn native_frame_len(sample_rate: u32) -> usize {
    let exact = FRAME as f64 * f64::from(sample_rate) / f64::from(CANONICAL_RATE);
    ((exact / 2.0).round() as usize * 2).max(16)
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
        assert!(
            channels > 0 && sample_rate > 0,
            "channels and rate must be positive"
        );
        let layout = Layout::V1;
        let pattern = Pattern::new(key, layout);
        let coded = encode(&message_bits(payload, &pattern.mask));
        let n = native_frame_len(sample_rate);
        let bins = n / 2 + 1;
        // Every bin's sign: its cell's marker sign, plus the seal's chip
        // (the cell's seal sign times SEAL_CHIP across its bins) at
        // SEAL_DEPTH when sealing.
        let marker = pattern.cell_signs(&coded);
        let seal = options.seal.map(|m| seal_signs(key, &m));
        let bin_signs: Vec<f32> = marker
            .iter()
            .enumerate()
            .flat_map(|(cell, &s)| {
                let chip = seal.as_ref().map_or(0.0, |seal| SEAL_DEPTH * seal[cell]);
                SEAL_CHIP.map(|c| s + chip * c)
            })
            .collect();
        // At low rates the top of the band does not exist (bins below
        // Nyquist only).
        let main = BandModulation::new(BINS, layout.bin_lo..layout.bin_hi(), bin_signs, n / 2);
        // Spectra are at least this long (zero above Nyquist at low rates)
        // so band arithmetic never runs off the end.
        let spectrum = BINS;
        let power_bins = main.needed.clone();
        let channel_bins = main.band_bins.clone();
        // Power in canonical units: a native frame is n/FRAME times longer.
        let power_scale = (FRAME as f32 / n as f32).powi(2);
        Embedder {
            channels,
            rate: u64::from(sample_rate),
            layout,
            strength: options.strength.max(0.0),
            n,
            fft: BandFft::new(n),
            window: super::stft::sine_window(n),
            times: vec![vec![Complex32::default(); n / 2]; channels],
            time: vec![Complex32::default(); n / 2],
            spectra: vec![vec![Complex32::default(); bins.max(spectrum)]; channels],
            mix: vec![Complex32::default(); bins.max(spectrum)],
            out_spec: vec![Complex32::default(); bins],
            power_scale,
            power: vec![0.0; spectrum],
            power_bins,
            channel_power: vec![vec![0.0; bins.max(spectrum)]; channels],
            channel_bins,
            main,
            used: spectrum.min(bins),
            input: Vec::new(),
            w: Vec::new(),
            base: 0,
            total_in: 0,
            frame: 0,
            beta_sum: 0.0,
            beta_count: 0,
            stats: EmbedStats::default(),
            avx2: avx2_fma(),
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

    /// Native sample where canonical frame `f` starts (exact canonical grid).
    fn frame_start(&self, f: u64) -> u64 {
        let num = f * HOP as u64 * self.rate;
        let den = u64::from(CANONICAL_RATE);
        (2 * num + den) / (2 * den)
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
        let frames = (input.len() / self.channels) as u64;
        self.stats.input_frames += frames;
        self.total_in += frames;
        self.input.extend_from_slice(input);
        self.w.resize((self.total_in - self.base) as usize, 0.0);
        while self.frame_start(self.frame) + self.n as u64 <= self.total_in {
            self.process_frame();
        }
        // Samples before the next frame's start get nothing more.
        let done = self.frame_start(self.frame).min(self.total_in);
        self.emit(done, out);
    }

    /// Flushes the tail; after this the output has as many frames as the input.
    pub fn finish(mut self, out: &mut Vec<f32>) -> EmbedStats {
        // Every frame that starts before the end is processed, zero-padded.
        let real = self.input.len();
        while self.frame_start(self.frame) < self.total_in {
            let end = (self.frame_start(self.frame) - self.base) as usize + self.n;
            self.input.resize(end * self.channels, 0.0);
            self.w.resize(end, 0.0);
            self.process_frame();
        }
        self.input.truncate(real);
        let total = self.total_in;
        self.emit(total, out);
        self.stats()
    }

    /// Analyses and marks one frame, with the AVX2 build when the CPU has it.
    fn process_frame(&mut self) {
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: `avx2` is only true when the running CPU supports AVX2
            // and FMA (`Embedder::new` checks with `avx2_fma`).
            unsafe { self.process_frame_avx2() };
            return;
        }
        self.process_frame_body();
    }

    /// [`Embedder::process_frame`] compiled for AVX2 and FMA: the body and
    /// the helpers it inlines (`#[inline(always)]`) are vectorised 8 wide.
    /// No floating-point operation is contracted or reordered, so the
    /// result is bit-identical to the baseline build.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn process_frame_avx2(&mut self) {
        self.process_frame_body();
    }

    #[inline(always)]
    fn process_frame_body(&mut self) {
        let ch = self.channels;
        let start = (self.frame_start(self.frame) - self.base) as usize;
        let frame_in = &self.input[start * ch..(start + self.n) * ch];
        // De-interleave and window: each packed buffer seen as `f32`s is the
        // channel's windowed frame (mono and stereo get tight loops).
        let win = &self.window;
        match self.times.as_mut_slice() {
            [t] => {
                for ((t, &x), &w) in as_real_mut(t).iter_mut().zip(frame_in).zip(win) {
                    *t = x * w;
                }
            }
            [l, r] => {
                for (((l, r), x), &w) in as_real_mut(l)
                    .iter_mut()
                    .zip(as_real_mut(r))
                    .zip(frame_in.chunks_exact(2))
                    .zip(win)
                {
                    *l = x[0] * w;
                    *r = x[1] * w;
                }
            }
            times => {
                for (c, t) in times.iter_mut().enumerate() {
                    for ((t, x), &w) in as_real_mut(t)
                        .iter_mut()
                        .zip(frame_in.chunks_exact(ch))
                        .zip(win)
                    {
                        *t = x[c] * w;
                    }
                }
            }
        }
        // Only the bins the bands need are computed (fewer exist at low rates).
        let used = self.used;
        let inv_ch = 1.0 / ch as f32;
        let mix = &mut self.mix[..used];
        mix.fill(Complex32::default());
        for (t, spec) in self.times.iter_mut().zip(&mut self.spectra) {
            let spec = &mut spec[..used];
            self.fft.forward(t, spec);
            for (m, s) in mix.iter_mut().zip(spec.iter()) {
                *m += s * inv_ch;
            }
        }
        // Mix power in canonical units, and each channel's own power, for
        // the bins the bands read.
        let power_scale = self.power_scale;
        let bins = self.power_bins.clone();
        for (p, m) in self.power[bins.clone()].iter_mut().zip(&self.mix[bins]) {
            *p = m.norm_sqr() * power_scale;
        }
        let bins = self.channel_bins.clone();
        for (power, spec) in self.channel_power.iter_mut().zip(&self.spectra) {
            for (p, s) in power[bins.clone()].iter_mut().zip(&spec[bins.clone()]) {
                *p = s.norm_sqr();
            }
        }
        let strength = self.strength;
        let frame = self
            .main
            .update(&self.power, &self.channel_power, power_scale, strength);
        self.stats.frames += 1;
        if frame.active {
            self.stats.active_frames += 1;
        }
        let (lo, hi) = (self.main.modulated.start, self.main.modulated.end);
        let band_bins = (hi - lo).max(1) as f32;
        if frame.energy / band_bins >= QUIET_POWER {
            self.stats.loud_frames += 1;
        }
        let l = self.layout;
        let unit_frame = (self.frame % l.unit_frames() as u64) as usize;
        let time_cell = unit_frame / l.cell_frames;
        // `out_spec` is zero outside the bands, and `modulate` rewrites every
        // bin of them each frame.
        self.main
            .modulate(&mut self.out_spec, &self.mix, time_cell, frame.onset_scale);
        let (sum, count) = self.main.beta_stats(frame.onset_scale);
        self.beta_sum += sum;
        self.beta_count += count;
        self.fft
            .inverse_band(&self.out_spec, lo..hi, &mut self.time);
        let scale = 1.0 / self.n as f32;
        for ((w, &t), &win) in self.w[start..start + self.n]
            .iter_mut()
            .zip(as_real(&self.time))
            .zip(&self.window)
        {
            *w += t * win * scale;
        }
        self.frame += 1;
    }

    /// Writes out the frames before native frame `until`. A sample the
    /// marker would push past full scale is limited to full scale (input that
    /// was already beyond it, as float files may be, is left as it was).
    fn emit(&mut self, until: u64, out: &mut Vec<f32>) {
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: as in `process_frame`.
            unsafe { self.emit_avx2(until, out) };
            return;
        }
        self.emit_body(until, out);
    }

    /// [`Embedder::emit`] compiled for AVX2 and FMA (bit-identical result).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn emit_avx2(&mut self, until: u64, out: &mut Vec<f32>) {
        self.emit_body(until, out);
    }

    #[inline(always)]
    fn emit_body(&mut self, until: u64, out: &mut Vec<f32>) {
        let ch = self.channels;
        let frames = (until - self.base) as usize;
        let start = out.len();
        out.extend_from_slice(&self.input[..frames * ch]);
        // Input plus watermark in one pass; a sample the marker pushes past
        // full scale is limited to it. Branch-free so it vectorises (loud
        // masters clip often); a NaN sum counts as over.
        let mark = |y: &mut f32, w: f32| -> u32 {
            let x = *y;
            let limit = x.abs().max(1.0);
            let sum = x + w;
            let limited = sum.max(-limit).min(limit);
            *y = limited;
            u32::from(limited != sum)
        };
        let mut clipped = 0u64;
        // Counted in blocks so a u32 never overflows.
        const BLOCK: usize = 1 << 16;
        let w = &self.w[..frames];
        for (ys, ws) in out[start..].chunks_mut(BLOCK * ch).zip(w.chunks(BLOCK)) {
            let mut count = 0u32;
            match ch {
                1 => {
                    for (y, &w) in ys.iter_mut().zip(ws) {
                        count += mark(y, w);
                    }
                }
                2 => {
                    for (y, &w) in ys.chunks_exact_mut(2).zip(ws) {
                        count += mark(&mut y[0], w) + mark(&mut y[1], w);
                    }
                }
                _ => {
                    for (y, &w) in ys.chunks_exact_mut(ch).zip(ws) {
                        count += y.iter_mut().map(|y| mark(y, w)).sum::<u32>();
                    }
                }
            }
            clipped += u64::from(count);
        }
        self.stats.clipped += clipped;
        self.input.drain(..frames * ch);
        self.w.drain(..frames);
        self.base = until;
    }
}

/// One modulated band: its masking state, the depth per masking band and
/// per bin, the onset guard's memory, and the payload's sign for every bin.
#[derive(Debug)]
struct BandModulation {
    masking: MaskingModel,
    thresholds: Vec<f32>,
    /// Modulation depth per masking band (zero outside the active bands).
    band_beta: Vec<f32>,
    /// Modulation depth per bin (zero outside the active bands' bins).
    beta: Vec<f32>,
    prev_energy: f32,
    /// Bins whose mix power the masking model and the band read.
    needed: std::ops::Range<usize>,
    /// Bins of the active masking bands (whose channel power is read).
    band_bins: std::ops::Range<usize>,
    /// Bins that are modulated: the band, below Nyquist.
    modulated: std::ops::Range<usize>,
    /// Sign of every bin of the band in every time cell of a unit: row `t`
    /// (`row` bins: each cell's marker sign, plus the seal's chip) is time
    /// cell `t`.
    bin_signs: Vec<f32>,
    row: usize,
}

/// What [`BandModulation::update`] found in one frame.
#[derive(Debug, Clone, Copy)]
struct BandFrame {
    /// Band energy (canonical units).
    energy: f32,
    /// Whether any masking band is above silence.
    active: bool,
    /// Factor the onset guard applies to every β of this frame.
    onset_scale: f32,
}

impl BandModulation {
    /// State for spectra of `spectrum` bins, modulating `bins` (cut at
    /// `top`, the Nyquist bin) with `bin_signs`: one factor per bin of the
    /// band for each time cell of a unit, time cell by time cell.
    fn new(spectrum: usize, bins: std::ops::Range<usize>, bin_signs: Vec<f32>, top: usize) -> Self {
        let masking = MaskingModel::with_spectrum(spectrum, bins.clone());
        let bands = masking.bands();
        // The bands' own bins too (their energy and channel ratios).
        let model = masking.needed_bins();
        let needed = model.start.min(bins.start)..model.end.max(bins.end).min(spectrum);
        let active = masking.active_bands();
        let band_bins = if active.is_empty() {
            0..0
        } else {
            masking.band_bins(active.start).start..masking.band_bins(active.end - 1).end
        };
        BandModulation {
            needed,
            band_bins,
            masking,
            thresholds: vec![0.0; bands],
            band_beta: vec![0.0; bands],
            beta: vec![0.0; spectrum],
            prev_energy: 0.0,
            row: bins.len(),
            modulated: bins.start..bins.end.min(top),
            bin_signs,
        }
    }

    /// Sets the depths for one frame from the mix power (canonical units,
    /// over `needed`) and each channel's power (native units, scaled by
    /// `power_scale`, over `band_bins`).
    #[inline(always)]
    fn update(
        &mut self,
        power: &[f32],
        channel_power: &[Vec<f32>],
        power_scale: f32,
        strength: f32,
    ) -> BandFrame {
        // Masking threshold of the mix.
        self.masking.thresholds(power, &mut self.thresholds);
        let mut energy = 0.0f32;
        let mut active = false;
        for b in self.masking.active_bands() {
            let bins = self.masking.band_bins(b);
            // The model's band energy: the sum of `power` over the band.
            let e = self.masking.band_energy(b);
            energy += e;
            let beta = if e / (bins.len() as f32) < SILENCE_POWER {
                0.0
            } else {
                active = true;
                // The quietest channel (relative to the mix) limits each band.
                let mut r = f32::INFINITY;
                match channel_power {
                    // Both sums in one loop: two chains side by side.
                    [a, b] => {
                        let (ea, eb) = a[bins.clone()]
                            .iter()
                            .zip(&b[bins.clone()])
                            .fold((-0.0f32, -0.0f32), |(ea, eb), (&x, &y)| (ea + x, eb + y));
                        r = r.min(ea * power_scale).min(eb * power_scale);
                    }
                    _ => {
                        for p in channel_power {
                            let e: f32 = p[bins.clone()].iter().sum();
                            r = r.min(e * power_scale);
                        }
                    }
                }
                let ratio = (r / e).min(1.0);
                let allowed = self.thresholds[b] * ratio * MARGIN;
                (allowed / e).sqrt().min(BETA_CAP) * strength
            };
            self.band_beta[b] = beta;
            // Within the band, depth goes inversely with each bin's
            // amplitude (a flat watermark spectrum across the band): the
            // band's watermark power stays `beta² e` (less where a bin's
            // depth is capped), but the detector, which reads every bin's
            // log power alike, gets more of it, and the band's loudness (its
            // strongest bins) is modulated less.
            let mean = e / bins.len() as f32;
            let cap = BIN_CAP * strength;
            for (d, &p) in self.beta[bins.clone()].iter_mut().zip(&power[bins]) {
                *d = (beta * (mean / p.max(mean * 1e-6)).sqrt()).min(cap);
            }
        }
        // Pre-echo guard: weaken the marker on sharp onsets.
        let onset_scale = if energy > ONSET_RATIO * self.prev_energy && energy > 0.0 {
            (ONSET_RATIO * self.prev_energy / energy).sqrt()
        } else {
            1.0
        };
        self.prev_energy = energy;
        BandFrame {
            energy,
            active,
            onset_scale,
        }
    }

    /// Writes the watermark spectrum of the band for a frame in time cell
    /// `time_cell`: bin `k` becomes `mix[k] * sign * beta[k] * onset`.
    #[inline(always)]
    fn modulate(&self, out: &mut [Complex32], mix: &[Complex32], time_cell: usize, onset: f32) {
        let bins = self.modulated.clone();
        let signs = &self.bin_signs[time_cell * self.row..][..bins.len()];
        for (((o, &m), &b), &sign) in out[bins.clone()]
            .iter_mut()
            .zip(&mix[bins.clone()])
            .zip(&self.beta[bins])
            .zip(signs)
        {
            *o = m * (sign * (b * onset));
        }
    }

    /// Sum and count of the nonzero depths [`BandModulation::modulate`]
    /// applies with `onset` this frame.
    fn beta_stats(&self, onset: f32) -> (f64, u64) {
        let (mut sum, mut count) = (0.0f64, 0u64);
        for b in self.masking.active_bands() {
            let bins = self.masking.band_bins(b);
            let used = bins
                .end
                .min(self.modulated.end)
                .saturating_sub(bins.start.max(self.modulated.start));
            let beta = self.band_beta[b] * onset;
            if beta > 0.0 {
                sum += used as f64 * f64::from(beta);
                count += used as u64;
            }
        }
        (sum, count)
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

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::{RngCore, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Seeded coloured noise with silence, sudden onsets and passages loud
    /// enough to clip, so every branch of the frame code runs.
    fn signal(rate: u32, channels: usize, seconds: f64, seed: u64) -> Vec<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let frames = (seconds * f64::from(rate)) as usize;
        let mut state = vec![0f32; channels];
        let mut out = Vec::with_capacity(frames * channels);
        for i in 0..frames {
            let t = i as f32 / rate as f32;
            // 0.25 s of silence every second, then a hard onset; some
            // seconds near full scale.
            let level = match (t.fract() < 0.25, t as u32 % 3) {
                (true, _) => 0.0,
                (false, 2) => 0.98,
                _ => 0.3,
            };
            for (c, s) in state.iter_mut().enumerate() {
                let white = (rng.next_u32() as f32 / u32::MAX as f32) * 2.0 - 1.0;
                *s = 0.8 * *s + 0.2 * white;
                let tone = (t * 440.0 * (c + 1) as f32 * std::f32::consts::TAU).sin();
                out.push((level * (0.5 * tone + 2.0 * *s)).clamp(-1.0, 1.0));
            }
        }
        out
    }

    /// The AVX2 build of the frame code must give the baseline build's
    /// output (it is compiled from the same source, with no reordered
    /// floating-point operations, so it is expected to be bit-identical).
    #[test]
    fn avx2_build_matches_baseline() {
        if !avx2_fma() {
            eprintln!("CPU without AVX2/FMA: only the baseline build exists");
            return;
        }
        let key = WatermarkKey::public();
        let seal = SealMessage {
            signature: [0x5a; 64],
            policy: 1,
        };
        for (rate, ch, sealed) in [
            (44_100u32, 2usize, true),
            (48_000, 1, false),
            (22_050, 3, true),
            (8_000, 2, true),
        ] {
            let x = signal(rate, ch, 4.0, u64::from(rate) + ch as u64);
            let options = if sealed {
                EmbedOptions::default().with_seal(seal)
            } else {
                EmbedOptions::default()
            };
            let run = |avx2: bool| {
                let mut e = Embedder::new(&key, [1, 2, 3, 4, 5, 6, 7, 8], rate, ch, options);
                e.avx2 = avx2;
                let mut out = Vec::new();
                for chunk in x.chunks(1000 * ch) {
                    e.process(chunk, &mut out);
                }
                let stats = e.finish(&mut out);
                (out, stats)
            };
            let (want, want_stats) = run(false);
            let (got, got_stats) = run(true);
            assert_eq!(got.len(), want.len());
            let peak = want
                .iter()
                .zip(&x)
                .fold(0f32, |m, (y, x)| m.max((y - x).abs()));
            assert!(peak > 0.0, "rate {rate}: no marker embedded");
            for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (g - w).abs() <= 1e-6 * peak,
                    "rate {rate}, {ch} ch, sample {i}: AVX2 {g} vs baseline {w} (input {})",
                    x[i]
                );
            }
            assert_eq!(got_stats, want_stats, "rate {rate}, {ch} ch");
        }
    }
}
