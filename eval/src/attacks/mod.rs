//! Signal-processing attacks for robustness testing: lossy codecs, resampling, gain, noise,
//! filtering, downmixing, clipping (cutting an excerpt) and time-scale changes (speed, tempo,
//! pitch).
//!
//! Every attack is deterministic: the random ones (noise, clip offset) take an explicit
//! `seed` and draw from [`rand_chacha::ChaCha8Rng`]. Every attack except [`Attack::Clip`]
//! and the time-scale attacks [`Attack::Speed`], [`Attack::Tempo`] and [`Attack::Pitch`]
//! returns audio that is **time-aligned with its input and exactly as long** (in frames),
//! so a detector can compare positions directly; codec and resampler delays are measured
//! and removed (see the variant docs). The time-scale attacks change the time axis itself
//! (see [`time_scale_suite`]). Every output is hard-limited to [-1, 1], as an
//! export to integer PCM would be. Outputs are ordinary [`Audio`], so attacks chain:
//! `apply(&Attack::Clip { .. }, &apply(&Attack::Mp3 { .. }, &a, s)?.audio, s)`.
//!
//! ```no_run
//! # use earmark_eval::attacks::{apply, standard_suite};
//! # fn demo(audio: &earmark::audio::Audio) -> Result<(), earmark_eval::attacks::AttackError> {
//! for attack in standard_suite() {
//!     let attacked = apply(&attack, audio, 42)?;
//!     println!("{}: {} frames", attack.name(), attacked.audio.samples.len());
//! }
//! # Ok(())
//! # }
//! ```

mod codec;
mod dsp;
mod stretch;
#[cfg(test)]
mod tests;

use std::fmt;

use earmark::audio::Audio;

/// Lowest Vorbis quality the bundled aoTuV encoder accepts (libvorbis' `-q` scale divided by
/// 10, so this is `oggenc -q -2`). Anything lower is rejected by the encoder.
pub const VORBIS_LOWEST_QUALITY: f32 = -0.2;

/// MP3 round-trip delay that [`Attack::Mp3`] removes, in frames (LAME 3.100 encoder delay 576
/// plus decoder delay 529; measured, identical at 22.05, 32, 44.1 and 48 kHz).
pub const MP3_DELAY_FRAMES: usize = codec::MP3_DELAY_FRAMES;

/// One attack on an audio signal. Apply it with [`apply`]; label it with [`Attack::name`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Attack {
    /// Encode to constant-bitrate MP3 with LAME 3.100 (`-q 2`, joint stereo, no Xing/LAME
    /// tag) and decode back with symphonia; the [`MP3_DELAY_FRAMES`] delay is removed and
    /// the output trimmed to the input's length.
    ///
    /// Keeps the sample rate: rates LAME cannot write (anything but 8, 11.025, 12, 16,
    /// 22.05, 24, 32, 44.1 and 48 kHz) are resampled to 44.1 kHz (multiples of 11025 Hz)
    /// or 48 kHz around the codec, as by [`Attack::Resample`]. LAME codes only mono and
    /// stereo, so more than two channels are first downmixed to stereo (channel 0 left,
    /// channel 1 right, as in symphonia's order FL, FR, FC, LFE, ...; every other channel
    /// goes half into each side; normalised so a signal common to all channels keeps its
    /// level), and the output then has **2 channels**.
    /// The bitrate must exist for the MPEG version of the (carrier) rate: 32–320 kbps at
    /// 32–48 kHz, 8–160 kbps at 16–24 kHz, 8–64 kbps at 8–12 kHz (56 and 144 are not
    /// available); otherwise [`AttackError::InvalidParameter`] (LAME would silently pick
    /// another bitrate).
    Mp3 {
        /// Constant bitrate in kbit/s.
        kbps: u32,
    },
    /// Encode to Ogg Vorbis (aoTuV, quality VBR) and decode back with symphonia. Vorbis
    /// adds no delay (measured); the output is trimmed to the input's length. Supports 1 to
    /// 8 channels (symphonia decodes no Vorbis channel map beyond 8), in symphonia's
    /// interleaved channel order, which is kept; the quality range is
    /// [`VORBIS_LOWEST_QUALITY`] to 1.0.
    Vorbis {
        /// Quality on libvorbis' API scale (`oggenc -q` divided by 10).
        quality: f32,
    },
    /// Resample to `via_hz` and back to the original rate with rubato's synchronous FFT
    /// resampler (FFT length ≥ 2048 frames, Blackman–Harris² anti-alias filter). Both
    /// resampler delays are removed exactly; the output has the input's length. The ratio
    /// must stay within 1:256 either way, and the two rates must share a divisor large
    /// enough to keep the FFT under 4 Mi frames (any two common audio rates do).
    Resample {
        /// Intermediate sample rate in Hz.
        via_hz: u32,
    },
    /// Resample to `hz` with the resampler of [`Attack::Resample`] and *keep* that rate, as
    /// audio datasets store it (most at 16 kHz): the output has the new rate and
    /// `ceil(frames * hz / rate)` frames, aligned with the input.
    StoreAt {
        /// The new sample rate in Hz.
        hz: u32,
    },
    /// Multiply by `10^(db/20)`, then hard-clip to [-1, 1] (so positive gains saturate).
    Gain {
        /// Gain in dB.
        db: f32,
    },
    /// Add white Gaussian noise at `snr_db` below the mean signal power, measured over all
    /// channels together (one noise level for the whole signal, independent noise per
    /// sample and channel). Silent input is returned unchanged.
    Noise {
        /// Signal-to-noise ratio in dB.
        snr_db: f32,
    },
    /// Steep linear-phase low-pass: a Kaiser-windowed-sinc FIR with its -6 dB point at
    /// `hz`, a transition band `0.1 * hz` wide (at least 50 Hz) centred there and 80 dB
    /// stopband attenuation (443 taps for 5 kHz at 44.1 kHz), applied by FFT overlap-save.
    /// Its group delay is removed, so the result is zero-phase and time-aligned.
    /// A cutoff at or above the Nyquist frequency leaves the signal unchanged.
    LowPass {
        /// Cutoff frequency in Hz.
        hz: f32,
    },
    /// Average all channels into one; the output has 1 channel.
    ToMono,
    /// Cut an excerpt of `seconds` (rounded to whole frames) at a random offset drawn
    /// uniformly, from the seed, over all valid frame offsets. The offset is returned in
    /// [`Attacked::offset_frames`]. Fails with [`AttackError::TooShort`] if the input is
    /// shorter than the excerpt.
    Clip {
        /// Excerpt length in seconds.
        seconds: f32,
    },
    /// Change the playback speed like `sox speed`: tempo and pitch change together. The
    /// input is resampled as if played `factor` times faster (output frame `m` is the input
    /// at `m * factor`, so every frequency is multiplied by `factor`), at the same sample
    /// rate, with the synchronous FFT resampler of [`Attack::Resample`]; when speeding up,
    /// input content above `rate / (2 * factor)` is filtered out (it would land above the
    /// Nyquist frequency). The ratio is realised as a fraction with terms up to 4096, the
    /// simplest within 1e-5 of it if there is one (exact for factors like 0.95 or 1.05;
    /// relative error below 1.3e-4 for any).
    ///
    /// The output has `len / factor` frames (rounded up) and is **not time-aligned** with
    /// the input: both start together (the resampler delay is removed), then output frame
    /// `m` is input frame `m * factor`. `factor` must be in 0.5..=2; 1 returns the input.
    Speed {
        /// Speed ratio: above 1 is faster (shorter and higher).
        factor: f32,
    },
    /// Change the tempo and keep the pitch, by WSOLA (waveform-similarity overlap-add):
    /// 40 ms Hann-windowed segments of the input, each moved up to ±10 ms from its nominal
    /// position to continue the previous one in phase (best normalised cross-correlation on
    /// the mono mix), overlap-added at 50 %. The same segment positions are used for every
    /// channel, so channels stay coherent.
    ///
    /// The output has `len / factor` frames (rounded) and is **not time-aligned** with the
    /// input: output frame `m` comes from near input frame `m * factor` (within about
    /// 10 ms plus a window's drift). `factor` must be in 0.5..=2; 1 returns the input.
    Tempo {
        /// Tempo ratio: above 1 is faster (shorter), e.g. 1.05 is 5 % faster.
        factor: f32,
    },
    /// Shift the pitch and keep the tempo: stretch by `r = 2^(semitones / 12)` as
    /// [`Attack::Tempo`] does, then resample by `r` as [`Attack::Speed`] does, so every
    /// frequency is multiplied by `r`.
    ///
    /// The output is exactly as long as the input and follows it on average, but is **not
    /// time-aligned** with it: each 40 ms segment may be displaced by up to about 10 ms.
    /// `semitones` must be in -12..=12; 0 returns the input.
    Pitch {
        /// Pitch shift in semitones: positive is higher.
        semitones: f32,
    },
}

impl Attack {
    /// Short label for tables and file names, e.g. `mp3-128`, `vorbis-q-0.2`,
    /// `resample-48000`, `gain-10db`, `gain+6db-clip`, `noise-20db`, `lowpass-5k`, `mono`,
    /// `clip-5s`, `speed-x1.05`, `tempo-x0.95`, `pitch+1st`, `pitch-1st`.
    pub fn name(&self) -> String {
        match self {
            Attack::Mp3 { kbps } => format!("mp3-{kbps}"),
            Attack::Vorbis { quality } => format!("vorbis-q{quality}"),
            Attack::Resample { via_hz } => format!("resample-{via_hz}"),
            Attack::StoreAt { hz } => format!("store-at-{hz}"),
            Attack::Gain { db } if *db > 0.0 => format!("gain+{db}db-clip"),
            Attack::Gain { db } => format!("gain{db}db"),
            Attack::Noise { snr_db } => format!("noise-{snr_db}db"),
            Attack::LowPass { hz } => format!("lowpass-{}k", hz / 1000.0),
            Attack::ToMono => "mono".to_string(),
            Attack::Clip { seconds } => format!("clip-{seconds}s"),
            Attack::Speed { factor } => format!("speed-x{factor}"),
            Attack::Tempo { factor } => format!("tempo-x{factor}"),
            Attack::Pitch { semitones } if *semitones > 0.0 => format!("pitch+{semitones}st"),
            Attack::Pitch { semitones } => format!("pitch{semitones}st"),
        }
    }
}

impl fmt::Display for Attack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// The result of [`apply`].
pub struct Attacked {
    /// The attacked audio.
    pub audio: Audio,
    /// For [`Attack::Clip`], the input frame where the excerpt starts; 0 for every other
    /// attack (their output is aligned with the input, except for the time-scale attacks
    /// [`Attack::Speed`], [`Attack::Tempo`] and [`Attack::Pitch`], whose output starts where
    /// the input starts but is not aligned with it after that).
    pub offset_frames: u64,
}

impl fmt::Debug for Attacked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let channels = usize::from(self.audio.channels.max(1));
        f.debug_struct("Attacked")
            .field("sample_rate", &self.audio.sample_rate)
            .field("channels", &self.audio.channels)
            .field("frames", &(self.audio.samples.len() / channels))
            .field("offset_frames", &self.offset_frames)
            .finish()
    }
}

/// Why an attack could not be applied.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AttackError {
    /// The input audio is malformed (no channels, zero sample rate, sample count not a
    /// multiple of the channel count, or non-finite samples). Fix the input.
    #[error("invalid input audio: {0}")]
    InvalidAudio(String),
    /// The attack's parameter is out of range. Fix the attack.
    #[error("invalid parameter for {attack}: {reason}")]
    InvalidParameter {
        /// The attack's [`Attack::name`].
        attack: String,
        /// What is wrong.
        reason: String,
    },
    /// The input is too short for the attack (only [`Attack::Clip`]). Skip this input.
    #[error("{attack} needs {needed_frames} frames, input has {actual_frames}")]
    TooShort {
        /// The attack's [`Attack::name`].
        attack: String,
        /// Frames the attack needs.
        needed_frames: u64,
        /// Frames the input has.
        actual_frames: u64,
    },
    /// The encoder rejected the settings or failed.
    #[error("{codec} encoder: {message}")]
    Encode {
        /// `mp3` or `vorbis`.
        codec: &'static str,
        /// The encoder's message.
        message: String,
    },
    /// Decoding the encoded stream back failed or changed its format.
    #[error("{codec} decoder: {message}")]
    Decode {
        /// File extension of the stream: `mp3` or `ogg`.
        codec: &'static str,
        /// The decoder's message.
        message: String,
    },
    /// The resampler could not be built or failed.
    #[error("resampler: {0}")]
    Resample(String),
}

/// The standard robustness suite, in report order: MP3 128 and 64 kbps, Vorbis at its lowest
/// quality, resampling via 48 kHz and 22.05 kHz, gain -10 dB and +6 dB (clipping), white
/// noise at 20 dB SNR, low-pass at 5 kHz and downmix to mono.
pub fn standard_suite() -> Vec<Attack> {
    vec![
        Attack::Mp3 { kbps: 128 },
        Attack::Mp3 { kbps: 64 },
        Attack::Vorbis {
            quality: VORBIS_LOWEST_QUALITY,
        },
        Attack::Resample { via_hz: 48000 },
        Attack::Resample { via_hz: 22050 },
        Attack::Gain { db: -10.0 },
        Attack::Gain { db: 6.0 },
        Attack::Noise { snr_db: 20.0 },
        Attack::LowPass { hz: 5000.0 },
        Attack::ToMono,
    ]
}

/// The time-scale suite, in report order: speed 0.95 and 1.05 (tempo and pitch together,
/// ±5 %), tempo 0.95 and 1.05 (pitch kept), and pitch -1 and +1 semitone (tempo kept).
///
/// Kept apart from [`standard_suite`] because these outputs are **not time-aligned** with
/// their input (speed and tempo also change the length), so a detector has to search for
/// the watermark's timing and scale instead of comparing positions directly.
pub fn time_scale_suite() -> Vec<Attack> {
    vec![
        Attack::Speed { factor: 0.95 },
        Attack::Speed { factor: 1.05 },
        Attack::Tempo { factor: 0.95 },
        Attack::Tempo { factor: 1.05 },
        Attack::Pitch { semitones: -1.0 },
        Attack::Pitch { semitones: 1.0 },
    ]
}

/// Apply `attack` to `audio`. `seed` drives the random attacks ([`Attack::Noise`],
/// [`Attack::Clip`]) and is ignored by the others; the same inputs always give the same
/// output. The input is not modified.
///
/// Empty input (0 frames) gives empty output for every attack but [`Attack::Clip`].
pub fn apply(attack: &Attack, audio: &Audio, seed: u64) -> Result<Attacked, AttackError> {
    validate(audio)?;
    let rate = audio.sample_rate;
    let channels = audio.channels;
    let ch = usize::from(channels);
    let frames = audio.samples.len() / ch;
    let invalid = |reason: &str| AttackError::InvalidParameter {
        attack: attack.name(),
        reason: reason.to_string(),
    };
    let mut offset_frames = 0u64;
    let mut out_rate = rate;
    let (samples, out_channels) = match *attack {
        Attack::Mp3 { kbps } => {
            let (input, mp3_channels) = if ch > 2 {
                (dsp::downmix_to_stereo(&audio.samples, ch), 2u16)
            } else {
                (audio.samples.clone(), channels)
            };
            (mp3(&input, rate, mp3_channels, kbps)?, mp3_channels)
        }
        Attack::Vorbis { quality } => {
            if !quality.is_finite() {
                return Err(invalid("quality must be a finite number"));
            }
            let out = if frames == 0 {
                Vec::new()
            } else {
                codec::vorbis_roundtrip(&audio.samples, rate, channels, quality)?
            };
            (out, channels)
        }
        Attack::Resample { via_hz } => {
            if let Err(e) = dsp::check_resample_rates(rate, via_hz)
                .and_then(|()| dsp::check_resample_rates(via_hz, rate))
            {
                return Err(invalid(&e.to_string()));
            }
            let planar = dsp::deinterleave(&audio.samples, ch);
            let via_len = dsp::resampled_len(frames, rate, via_hz);
            let there = dsp::resample(&planar, rate, via_hz, via_len)?;
            let back = dsp::resample(&there, via_hz, rate, frames)?;
            (dsp::interleave(&back), channels)
        }
        Attack::StoreAt { hz } => {
            if let Err(e) = dsp::check_resample_rates(rate, hz) {
                return Err(invalid(&e.to_string()));
            }
            let planar = dsp::deinterleave(&audio.samples, ch);
            let there = dsp::resample(&planar, rate, hz, dsp::resampled_len(frames, rate, hz))?;
            out_rate = hz;
            (dsp::interleave(&there), channels)
        }
        Attack::Gain { db } => {
            if !db.is_finite() {
                return Err(invalid("gain must be a finite number of dB"));
            }
            (dsp::gain(&audio.samples, db), channels)
        }
        Attack::Noise { snr_db } => {
            if !snr_db.is_finite() {
                return Err(invalid("SNR must be a finite number"));
            }
            (dsp::add_noise(&audio.samples, snr_db, seed), channels)
        }
        Attack::LowPass { hz } => {
            if !(hz.is_finite() && hz > 0.0) {
                return Err(invalid("cutoff must be a positive frequency"));
            }
            let out = if f64::from(hz) >= f64::from(rate) / 2.0 {
                audio.samples.clone()
            } else {
                let fir =
                    dsp::ZeroDelayFir::new(&dsp::design_lowpass(f64::from(hz), f64::from(rate)));
                let planar: Vec<Vec<f32>> = dsp::deinterleave(&audio.samples, ch)
                    .iter()
                    .map(|x| fir.apply(x))
                    .collect();
                dsp::interleave(&planar)
            };
            (out, channels)
        }
        Attack::ToMono => (dsp::to_mono(&audio.samples, ch), 1),
        Attack::Clip { seconds } => {
            if !(seconds.is_finite() && seconds > 0.0) {
                return Err(invalid("length must be a positive number of seconds"));
            }
            let len = (f64::from(seconds) * f64::from(rate)).round();
            if len < 1.0 {
                return Err(invalid("length is shorter than one frame"));
            }
            if len > frames as f64 {
                return Err(AttackError::TooShort {
                    attack: attack.name(),
                    needed_frames: len as u64,
                    actual_frames: frames as u64,
                });
            }
            let len = len as usize;
            let offset = dsp::uniform_inclusive(seed, (frames - len) as u64) as usize;
            offset_frames = offset as u64;
            (
                audio.samples[offset * ch..(offset + len) * ch].to_vec(),
                channels,
            )
        }
        Attack::Speed { factor } => {
            if !(0.5..=2.0).contains(&factor) {
                return Err(invalid("speed factor must be between 0.5 and 2"));
            }
            let factor = f64::from(factor);
            let planar = dsp::deinterleave(&audio.samples, ch);
            let out = stretch::speed(&planar, factor, stretch::speed_len(frames, factor))?;
            (dsp::interleave(&out), channels)
        }
        Attack::Tempo { factor } => {
            if !(0.5..=2.0).contains(&factor) {
                return Err(invalid("tempo factor must be between 0.5 and 2"));
            }
            let planar = dsp::deinterleave(&audio.samples, ch);
            let out = stretch::wsola(&planar, rate, f64::from(factor));
            (dsp::interleave(&out), channels)
        }
        Attack::Pitch { semitones } => {
            if !(-12.0..=12.0).contains(&semitones) {
                return Err(invalid("pitch shift must be between -12 and 12 semitones"));
            }
            let planar = dsp::deinterleave(&audio.samples, ch);
            let out = stretch::pitch(&planar, rate, f64::from(semitones))?;
            (dsp::interleave(&out), channels)
        }
    };
    let samples = samples.into_iter().map(|s| s.clamp(-1.0, 1.0)).collect();
    Ok(Attacked {
        audio: Audio {
            samples,
            sample_rate: out_rate,
            channels: out_channels,
        },
        offset_frames,
    })
}

/// MP3 round trip of mono/stereo interleaved audio, via an MPEG sample rate if needed.
fn mp3(samples: &[f32], rate: u32, channels: u16, kbps: u32) -> Result<Vec<f32>, AttackError> {
    if samples.is_empty() {
        return Ok(Vec::new());
    }
    let carrier = codec::mp3_carrier_rate(rate);
    if carrier == rate {
        return codec::mp3_roundtrip(samples, rate, channels, kbps);
    }
    let ch = usize::from(channels);
    let frames = samples.len() / ch;
    let planar = dsp::deinterleave(samples, ch);
    let carrier_len = dsp::resampled_len(frames, rate, carrier);
    let there = dsp::interleave(&dsp::resample(&planar, rate, carrier, carrier_len)?);
    let coded = codec::mp3_roundtrip(&there, carrier, channels, kbps)?;
    let back = dsp::resample(&dsp::deinterleave(&coded, ch), carrier, rate, frames)?;
    Ok(dsp::interleave(&back))
}

fn validate(audio: &Audio) -> Result<(), AttackError> {
    if audio.channels == 0 {
        return Err(AttackError::InvalidAudio("0 channels".into()));
    }
    if audio.sample_rate == 0 {
        return Err(AttackError::InvalidAudio("sample rate is 0".into()));
    }
    if audio.samples.len() % usize::from(audio.channels) != 0 {
        return Err(AttackError::InvalidAudio(format!(
            "{} samples is not a whole number of {}-channel frames",
            audio.samples.len(),
            audio.channels
        )));
    }
    if let Some(i) = audio.samples.iter().position(|s| !s.is_finite()) {
        return Err(AttackError::InvalidAudio(format!(
            "sample {i} is not finite ({})",
            audio.samples[i]
        )));
    }
    Ok(())
}

/// Signal-to-noise ratio, in dB, of `test` against `reference`:
/// `10 log10(Σ reference² / Σ (test − reference)²)`.
///
/// Both are compared sample by sample (interleaved is fine); if the lengths differ, only
/// the common prefix is used. Identical inputs give `+∞`; a silent reference with a
/// non-silent difference gives `−∞`.
pub fn snr_db(reference: &[f32], test: &[f32]) -> f64 {
    let (mut signal, mut noise) = (0.0f64, 0.0f64);
    for (&r, &t) in reference.iter().zip(test) {
        let (r, t) = (f64::from(r), f64::from(t));
        signal += r * r;
        noise += (t - r) * (t - r);
    }
    if noise == 0.0 {
        f64::INFINITY
    } else if signal == 0.0 {
        f64::NEG_INFINITY
    } else {
        10.0 * (signal / noise).log10()
    }
}
