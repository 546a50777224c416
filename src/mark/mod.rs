//! The watermark engine: pure DSP on sample buffers, no files, no crypto.
//!
//! Two layers share one frame grid (see `ARCHITECTURE.md` for the design):
//!
//! * the **marker**: a 64-bit payload (key fingerprint and track id) with a
//!   CRC-32 in the 0.6–4.4 kHz band, repeated every 2.3 s unit, found blind
//!   in any clip ([`Embedder`], [`Detector`]);
//! * the **seal**: a 64-byte signature and a policy code carried by a chip
//!   inside the marker's cells (so it lives wherever the marker does, down
//!   to 16 and 8 kHz copies), read from a whole track at the marker's phase
//!   ([`SealMessage`], [`SealReader`], [`ScaledSealReader`] after a
//!   speed/tempo/pitch change).
//!
//! The stamping and verifying engine ([`crate::Stamper`],
//! [`crate::Verifier`]) is built on these; use it rather than these types
//! unless you are measuring the DSP itself.

pub(crate) mod band_fft;
pub(crate) mod code;
pub(crate) mod detect;
pub(crate) mod embed;
pub(crate) mod key;
pub(crate) mod layout;
pub(crate) mod masking;
pub(crate) mod resample;
pub(crate) mod seal;
pub(crate) mod search;
pub(crate) mod stft;

pub use detect::{
    detect_buffer, Candidate, DetectReport, Detection, Detector, Scale, CANDIDATES, Z_DECODE,
};
pub use embed::{embed_buffer, EmbedOptions, EmbedStats, Embedder};
pub use key::WatermarkKey;
pub use seal::{ScaledSealReader, SealMessage, SealRead, SealReader, FULL_TRACK_SECONDS};
pub use search::detect_any_scale;

/// Length of one marker unit (one complete copy of the payload), seconds.
pub fn unit_seconds() -> f64 {
    layout::Layout::V1.unit_seconds()
}

/// The coded bits the marker carries for `payload` under `key` (one per
/// entry, 0 or 1), in the order [`Candidate::soft`] reports their soft
/// values: for measuring raw bit error rates.
pub fn coded_bits(key: &WatermarkKey, payload: [u8; 8]) -> Vec<u8> {
    let pattern = key::Pattern::new(key, layout::Layout::V1);
    code::encode(&code::message_bits(payload, &pattern.mask)).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::{RngCore, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Seeded noise with a music-like falling spectrum and a slow loudness
    /// envelope, `channels` partly correlated channels.
    fn test_signal(rate: u32, channels: usize, seconds: f64, seed: u64) -> Vec<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let frames = (seconds * f64::from(rate)) as usize;
        let mut state = vec![0f32; channels + 1];
        let mut out = Vec::with_capacity(frames * channels);
        for i in 0..frames {
            let env = 0.5 + 0.4 * (i as f32 / rate as f32 * 1.3).sin();
            let mut white = || (rng.next_u32() as f32 / u32::MAX as f32) * 2.0 - 1.0;
            // One-pole low-pass per channel over a shared component.
            state[channels] = 0.9 * state[channels] + 0.1 * white();
            for c in 0..channels {
                state[c] = 0.7 * state[c] + 0.3 * white();
                out.push(env * (0.6 * state[channels] * 3.0 + 0.4 * state[c]));
            }
        }
        out
    }

    const PAYLOAD: [u8; 8] = [0xde, 0xad, 0xbe, 0xef, 0, 0, 1, 2];

    #[test]
    fn round_trip_at_many_rates_and_channel_counts() {
        let key = WatermarkKey::public();
        for &(rate, ch) in &[
            (44_100, 2),
            (48_000, 2),
            (22_050, 1),
            (96_000, 2),
            (44_100, 6),
            (16_000, 1),
        ] {
            let x = test_signal(rate, ch, 7.0, u64::from(rate) + ch as u64);
            let (y, stats) = embed_buffer(&key, PAYLOAD, &x, rate, ch, EmbedOptions::default());
            assert_eq!(y.len(), x.len(), "{rate} Hz {ch} ch: length");
            assert!(stats.active_fraction() > 0.9);
            let r = detect_buffer(&key, &y, rate, ch);
            assert_eq!(
                r.detections.first().map(|d| d.payload),
                Some(PAYLOAD),
                "{rate} Hz {ch} ch: best z {:?}",
                r.best.map(|b| b.sync_z)
            );
            // Units start at multiples of the unit length from sample 0.
            let unit = layout::Layout::V1.unit_seconds();
            for t in &r.detections[0].unit_starts {
                let k = (t / unit).round();
                assert!((t - k * unit).abs() < 0.01, "unit start {t}");
            }
        }
    }

    #[test]
    fn below_nyquist_rates_do_not_panic() {
        let key = WatermarkKey::public();
        let x = test_signal(8_000, 1, 3.0, 1);
        let (y, _) = embed_buffer(&key, PAYLOAD, &x, 8_000, 1, EmbedOptions::default());
        assert_eq!(y.len(), x.len());
    }

    #[test]
    fn streaming_matches_whole_buffer() {
        let key = WatermarkKey::public();
        let x = test_signal(44_100, 2, 3.0, 5);
        let (whole, _) = embed_buffer(&key, PAYLOAD, &x, 44_100, 2, EmbedOptions::default());
        let mut e = Embedder::new(&key, PAYLOAD, 44_100, 2, EmbedOptions::default());
        let mut out = Vec::new();
        for chunk in x.chunks(2 * 777) {
            e.process(chunk, &mut out);
        }
        e.finish(&mut out);
        assert_eq!(out.len(), whole.len());
        let max = out
            .iter()
            .zip(&whole)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(max < 1e-6, "max difference {max}");
    }

    #[test]
    fn unmarked_wrong_key_and_silence_find_nothing() {
        let key = WatermarkKey::public();
        let x = test_signal(44_100, 2, 7.0, 9);
        assert!(detect_buffer(&key, &x, 44_100, 2).detections.is_empty());
        let (y, _) = embed_buffer(&key, PAYLOAD, &x, 44_100, 2, EmbedOptions::default());
        let other = WatermarkKey::from_bytes(b"someone else's key");
        assert!(detect_buffer(&other, &y, 44_100, 2).detections.is_empty());
        let silence = vec![0f32; 44_100 * 2 * 5];
        let (s, stats) = embed_buffer(&key, PAYLOAD, &silence, 44_100, 2, EmbedOptions::default());
        assert_eq!(stats.active_frames, 0);
        assert!(s.iter().all(|&v| v == 0.0), "silence must stay silent");
        let r = detect_buffer(&key, &s, 44_100, 2);
        assert!(r.detections.is_empty() && r.too_quiet());
    }

    #[test]
    fn marker_is_a_small_change() {
        let key = WatermarkKey::public();
        let x = test_signal(44_100, 2, 4.0, 3);
        let (y, _) = embed_buffer(&key, PAYLOAD, &x, 44_100, 2, EmbedOptions::default());
        let s: f64 = x.iter().map(|&v| f64::from(v).powi(2)).sum();
        let n: f64 = x
            .iter()
            .zip(&y)
            .map(|(&a, &b)| f64::from(a - b).powi(2))
            .sum();
        let snr = 10.0 * (s / n).log10();
        assert!(snr > 15.0, "SNR {snr} dB");
    }
}
