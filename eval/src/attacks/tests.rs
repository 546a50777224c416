//! Tests for the attacks. Most signals are generated from fixed seeds; the time-scale tests
//! also read excerpts of the real tracks in `test-audio/`.

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

use super::*;
use earmark::audio::Audio;

/// Build an `Audio` without relying on any derive of the shared type.
fn audio(samples: Vec<f32>, sample_rate: u32, channels: u16) -> Audio {
    Audio {
        samples,
        sample_rate,
        channels,
    }
}

fn frames(a: &Audio) -> usize {
    a.samples.len() / usize::from(a.channels)
}

fn channel(a: &Audio, c: usize) -> Vec<f32> {
    a.samples
        .iter()
        .skip(c)
        .step_by(usize::from(a.channels))
        .copied()
        .collect()
}

/// Music-like, non-periodic test signal: seeded colored noise (two one-pole low-passes of
/// white noise) plus a few drifting tones, under a bursty envelope, different per channel.
/// RMS about 0.1, peaks well below 1.
fn test_signal(seconds: f32, rate: u32, channels: u16, seed: u64) -> Audio {
    let n = (seconds * rate as f32) as usize;
    let ch = usize::from(channels);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut uni = move || (rng.next_u64() >> 11) as f32 / (1u64 << 53) as f32 * 2.0 - 1.0;
    let mut samples = vec![0.0f32; n * ch];
    for c in 0..ch {
        let (mut lp1, mut lp2) = (0.0f32, 0.0f32);
        let tones: Vec<(f32, f32)> = (0..4)
            .map(|k| {
                (
                    200.0 + 700.0 * k as f32 + 150.0 * c as f32 + 50.0 * uni(),
                    0.02,
                )
            })
            .collect();
        let mut env = 0.5f32;
        for i in 0..n {
            let t = i as f32 / rate as f32;
            if i % (rate as usize / 8).max(1) == 0 {
                env = 0.3 + 0.7 * uni().abs();
            }
            lp1 += 0.3 * (uni() - lp1);
            lp2 += 0.05 * (uni() - lp2);
            let hiss = 0.02 * uni();
            let tone: f32 = tones
                .iter()
                .map(|&(f, a)| a * (2.0 * std::f32::consts::PI * f * t * (1.0 + 0.01 * t)).sin())
                .sum();
            samples[i * ch + c] = env * (0.15 * lp1 + 0.25 * lp2 + hiss) + tone;
        }
    }
    audio(samples, rate, channels)
}

fn sine(freq: f32, amp: f32, seconds: f32, rate: u32) -> Vec<f32> {
    let n = (seconds * rate as f32) as usize;
    // Phase in f64: f32 phase error at large sample indices would add broadband noise.
    (0..n)
        .map(|i| {
            let phase = 2.0 * std::f64::consts::PI * f64::from(freq) * i as f64 / f64::from(rate);
            amp * phase.sin() as f32
        })
        .collect()
}

fn rms(x: &[f32]) -> f64 {
    (x.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / x.len().max(1) as f64).sqrt()
}

/// Lag (in samples) at which `test` best matches `reference` around `center`, searching
/// `-max_lag..=max_lag`, with the normalised correlation there. A positive lag means `test`
/// is late.
fn best_lag(
    reference: &[f32],
    test: &[f32],
    center: usize,
    win: usize,
    max_lag: usize,
) -> (isize, f64) {
    let start = center - win / 2;
    let r = &reference[start..start + win];
    let r_norm = r.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>().sqrt();
    let mut best = (0isize, f64::MIN);
    for lag in -(max_lag as isize)..=max_lag as isize {
        let s = (start as isize + lag) as usize;
        let Some(t) = test.get(s..s + win) else {
            continue;
        };
        let (mut dot, mut t_norm) = (0.0f64, 0.0f64);
        for (&a, &b) in r.iter().zip(t) {
            dot += f64::from(a) * f64::from(b);
            t_norm += f64::from(b) * f64::from(b);
        }
        let c = dot / (r_norm * t_norm.sqrt()).max(1e-30);
        if c > best.1 {
            best = (lag, c);
        }
    }
    best
}

/// Check `out` is as long as `input`, has the expected channels and is aligned (cross-
/// correlation peak at lag 0 ± 1) near the start and near the end, on every channel.
fn assert_aligned(label: &str, input: &Audio, out: &Audio, min_corr: f64) {
    assert_eq!(frames(out), frames(input), "{label}: length");
    assert_eq!(out.sample_rate, input.sample_rate, "{label}: rate");
    let rate = input.sample_rate as usize;
    let n = frames(input);
    for c in 0..usize::from(out.channels) {
        let r = channel(input, c);
        let t = channel(out, c);
        for center in [rate, n - rate] {
            let (lag, corr) = best_lag(&r, &t, center, 4096, 1500);
            println!("{label} ch{c} @{center}: lag {lag}, corr {corr:.4}");
            assert!(
                lag.abs() <= 1,
                "{label} ch{c} @{center}: lag {lag} (corr {corr:.3})"
            );
            assert!(
                corr >= min_corr,
                "{label} ch{c} @{center}: corr {corr:.3} < {min_corr}"
            );
        }
    }
}

#[test]
fn measured_codec_delays() {
    for rate in [22050u32, 32000, 44100, 48000] {
        let input = test_signal(3.0, rate, 2, 7);
        let bytes = codec::mp3_encode(&input.samples, rate, 2, if rate < 32000 { 64 } else { 128 })
            .expect("mp3 encode");
        let raw = codec::decode(bytes, "mp3", rate, 2).expect("mp3 decode");
        let (lag, corr) = best_lag(
            &channel(&input, 0),
            &channel(&raw, 0),
            rate as usize,
            4096,
            3000,
        );
        println!(
            "mp3 @ {rate} Hz: decoded {} frames for {} in, delay {lag}, corr {corr:.3}",
            frames(&raw),
            frames(&input)
        );
        assert_eq!(lag, MP3_DELAY_FRAMES as isize, "mp3 delay at {rate} Hz");
        // The flush emits enough frames that nothing has to be zero-padded after alignment.
        assert!(
            frames(&raw) >= frames(&input) + MP3_DELAY_FRAMES,
            "mp3 stream too short"
        );

        let bytes = codec::vorbis_encode(&input.samples, rate, 2, VORBIS_LOWEST_QUALITY)
            .expect("vorbis encode");
        let raw = codec::decode(bytes, "ogg", rate, 2).expect("vorbis decode");
        let (lag, corr) = best_lag(
            &channel(&input, 0),
            &channel(&raw, 0),
            rate as usize,
            4096,
            3000,
        );
        println!(
            "vorbis @ {rate} Hz: decoded {} frames for {} in, delay {lag}, corr {corr:.3}",
            frames(&raw),
            frames(&input)
        );
        assert_eq!(
            lag,
            codec::VORBIS_DELAY_FRAMES as isize,
            "vorbis delay at {rate} Hz"
        );
        assert!(frames(&raw) >= frames(&input), "vorbis stream too short");
    }
}

#[test]
fn codecs_and_resampling_are_aligned_and_same_length() {
    let input = test_signal(10.0, 44100, 2, 1);
    for (attack, min_corr) in [
        (Attack::Mp3 { kbps: 128 }, 0.9),
        (Attack::Mp3 { kbps: 64 }, 0.85),
        (
            Attack::Vorbis {
                quality: VORBIS_LOWEST_QUALITY,
            },
            0.6,
        ),
        (Attack::Resample { via_hz: 48000 }, 0.999),
        (Attack::Resample { via_hz: 22050 }, 0.95),
        (Attack::LowPass { hz: 5000.0 }, 0.9),
    ] {
        let out = apply(&attack, &input, 0).expect("attack");
        assert_eq!(out.audio.channels, 2);
        assert_eq!(out.offset_frames, 0);
        println!(
            "{}: SNR {:.1} dB",
            attack.name(),
            snr_db(&input.samples, &out.audio.samples)
        );
        assert_aligned(&attack.name(), &input, &out.audio, min_corr);
    }
}

#[test]
fn resample_via_48k_is_nearly_transparent() {
    // Content below 20 kHz passes a 44.1 -> 48 -> 44.1 kHz round trip almost untouched.
    let broadband = test_signal(2.0, 44100, 1, 3);
    let input = apply(&Attack::LowPass { hz: 19000.0 }, &broadband, 0)
        .unwrap()
        .audio;
    let out = apply(&Attack::Resample { via_hz: 48000 }, &input, 0).unwrap();
    let snr = snr_db(&input.samples, &out.audio.samples);
    println!("resample-48000 on content below 20 kHz: SNR {snr:.1} dB");
    assert!(snr > 60.0, "SNR {snr}");
    // Absurd ratios and incommensurate rates are refused instead of allocating gigabytes.
    for via_hz in [0, 100, 44_100_000, 4_000_000_007] {
        assert!(
            matches!(
                apply(&Attack::Resample { via_hz }, &input, 0),
                Err(AttackError::InvalidParameter { .. })
            ),
            "via {via_hz}"
        );
    }
    assert!(apply(&Attack::Resample { via_hz: 44_099 }, &input, 0).is_ok());
    // A 1 kHz tone keeps its level through a downsampling round trip.
    let tone = audio(sine(1000.0, 0.5, 1.0, 44100), 44100, 1);
    let out = apply(&Attack::Resample { via_hz: 22050 }, &tone, 0).unwrap();
    let mid = 4410..39690;
    let ratio = rms(&out.audio.samples[mid.clone()]) / rms(&tone.samples[mid]);
    assert!((20.0 * ratio.log10()).abs() < 0.05, "level change {ratio}");
}

#[test]
fn store_at_keeps_the_new_rate_aligned_and_the_content_below_it() {
    // A 1 kHz tone stored at 16 kHz is the same tone at 16 kHz, aligned with the input.
    let tone = audio(sine(1000.0, 0.5, 1.0, 44100), 44100, 1);
    let out = apply(&Attack::StoreAt { hz: 16_000 }, &tone, 0)
        .unwrap()
        .audio;
    assert_eq!(out.sample_rate, 16_000);
    assert_eq!(out.channels, 1);
    assert_eq!(frames(&out), 16_000);
    let want = sine(1000.0, 0.5, 1.0, 16_000);
    let mid = 1600..14_400;
    let snr = snr_db(&want[mid.clone()], &out.samples[mid]);
    assert!(
        snr > 40.0,
        "SNR {snr} dB against a 1 kHz tone made at 16 kHz"
    );
    // A tone above the new Nyquist frequency is gone.
    let high = audio(sine(9000.0, 0.5, 1.0, 44100), 44100, 1);
    let out = apply(&Attack::StoreAt { hz: 16_000 }, &high, 0)
        .unwrap()
        .audio;
    assert!(rms(&out.samples[1600..14_400]) < 1e-3);
    assert!(matches!(
        apply(&Attack::StoreAt { hz: 0 }, &tone, 0),
        Err(AttackError::InvalidParameter { .. })
    ));
}

#[test]
fn mp3_downmixes_more_than_two_channels_to_stereo() {
    let input = test_signal(4.0, 48000, 6, 4);
    let out = apply(&Attack::Mp3 { kbps: 128 }, &input, 0).unwrap().audio;
    assert_eq!(out.channels, 2);
    assert_eq!(frames(&out), frames(&input));
    let stereo = audio(dsp::downmix_to_stereo(&input.samples, 6), 48000, 2);
    assert_aligned("mp3 6ch", &stereo, &out, 0.9);
}

#[test]
fn mp3_at_a_rate_lame_cannot_write_goes_via_a_carrier_rate() {
    let input = test_signal(3.0, 96000, 1, 5);
    let out = apply(&Attack::Mp3 { kbps: 128 }, &input, 0).unwrap().audio;
    assert_eq!(out.sample_rate, 96000);
    assert_eq!(out.channels, 1);
    assert_aligned("mp3 96k", &input, &out, 0.9);
}

#[test]
fn mp3_keeps_lower_mpeg_rates() {
    let input = test_signal(3.0, 22050, 2, 6);
    let out = apply(&Attack::Mp3 { kbps: 64 }, &input, 0).unwrap().audio;
    assert_aligned("mp3-64 22k", &input, &out, 0.9);
}

#[test]
fn mp3_rejects_bad_bitrates() {
    let input = test_signal(0.5, 44100, 2, 6);
    assert!(matches!(
        apply(&Attack::Mp3 { kbps: 100 }, &input, 0),
        Err(AttackError::InvalidParameter { .. })
    ));
    // Bitrates the rate's MPEG version lacks would be silently changed by LAME: refused.
    for (rate, kbps) in [(22050, 320), (8000, 128), (44100, 8), (44100, 56)] {
        let input = test_signal(0.2, rate, 2, 6);
        assert!(
            matches!(
                apply(&Attack::Mp3 { kbps }, &input, 0),
                Err(AttackError::InvalidParameter { .. })
            ),
            "{kbps} kbps at {rate} Hz"
        );
    }
    for (rate, kbps) in [(22050, 160), (8000, 64), (44100, 32), (48000, 320)] {
        let input = test_signal(0.2, rate, 2, 6);
        let out = apply(&Attack::Mp3 { kbps }, &input, 0).unwrap();
        assert_eq!(
            frames(&out.audio),
            frames(&input),
            "{kbps} kbps at {rate} Hz"
        );
    }
}

#[test]
fn vorbis_handles_multichannel_and_keeps_channel_order() {
    // High quality, so that lossy channel coupling does not blur the channels together.
    let input = test_signal(3.0, 48000, 5, 8);
    let out = apply(&Attack::Vorbis { quality: 0.9 }, &input, 0)
        .unwrap()
        .audio;
    assert_eq!(out.channels, 5);
    assert_aligned("vorbis 5ch", &input, &out, 0.95);
    // 5.1: every output channel matches its own input channel best (the LFE channel, 3 in
    // symphonia's order, is band-limited by the encoder, so it only has to win).
    let input = test_signal(3.0, 48000, 6, 8);
    let out = apply(&Attack::Vorbis { quality: 0.9 }, &input, 0)
        .unwrap()
        .audio;
    assert_eq!(out.channels, 6);
    for o in 0..6 {
        let t = channel(&out, o);
        let corr: Vec<f64> = (0..6)
            .map(|i| best_lag(&channel(&input, i), &t, 48000, 12000, 0).1)
            .collect();
        let best = (0..6).max_by(|&a, &b| corr[a].total_cmp(&corr[b])).unwrap();
        assert_eq!(
            best, o,
            "output channel {o} correlates with inputs as {corr:.2?}"
        );
    }
    // More channels than symphonia can decode: a clear error, not a panic.
    let nine = test_signal(0.2, 48000, 9, 8);
    assert!(matches!(
        apply(&Attack::Vorbis { quality: 0.5 }, &nine, 0),
        Err(AttackError::Encode { .. })
    ));
}

#[test]
fn vorbis_lowest_quality_is_the_encoders_minimum() {
    let lowest = Attack::Vorbis {
        quality: VORBIS_LOWEST_QUALITY,
    };
    let below = Attack::Vorbis {
        quality: VORBIS_LOWEST_QUALITY - 0.01,
    };
    for (rate, ch) in [
        (8000, 1),
        (22050, 2),
        (32000, 2),
        (44100, 2),
        (48000, 1),
        (96000, 2),
    ] {
        let input = test_signal(0.5, rate, ch, 9);
        assert!(apply(&lowest, &input, 0).is_ok(), "{rate} Hz x{ch}");
        let refused = apply(&below, &input, 0);
        assert!(
            matches!(refused, Err(AttackError::Encode { .. })),
            "{rate} Hz x{ch}"
        );
    }
    let input = test_signal(0.5, 44100, 2, 9);
    assert!(matches!(
        apply(&Attack::Vorbis { quality: f32::NAN }, &input, 0),
        Err(AttackError::InvalidParameter { .. })
    ));
}

#[test]
fn gain_scales_and_positive_gain_saturates() {
    let input = audio(sine(440.0, 0.9, 0.5, 44100), 44100, 1);
    let quiet = apply(&Attack::Gain { db: -10.0 }, &input, 0).unwrap().audio;
    let g = 10f32.powf(-0.5);
    for (a, b) in input.samples.iter().zip(&quiet.samples) {
        assert!((a * g - b).abs() < 1e-6);
    }
    let loud = apply(&Attack::Gain { db: 6.0 }, &input, 0).unwrap().audio;
    let peak = loud.samples.iter().fold(0.0f32, |m, &s| m.max(s.abs()));
    assert_eq!(peak, 1.0);
    let clipped = loud.samples.iter().filter(|s| s.abs() == 1.0).count();
    // 0.9 * 1.995 > 1 for about 70 % of a sine's samples.
    assert!(clipped > loud.samples.len() / 2, "{clipped} clipped");
    assert_eq!(frames(&loud), frames(&input));
}

#[test]
fn noise_hits_the_requested_snr_and_is_seeded() {
    let input = test_signal(3.0, 44100, 2, 10);
    for target in [10.0f32, 20.0, 35.0] {
        let out = apply(&Attack::Noise { snr_db: target }, &input, 123)
            .unwrap()
            .audio;
        let snr = snr_db(&input.samples, &out.samples);
        assert!(
            (snr - f64::from(target)).abs() < 0.5,
            "target {target}, got {snr}"
        );
        assert_eq!(out.samples.len(), input.samples.len());
    }
    let a = apply(&Attack::Noise { snr_db: 20.0 }, &input, 1)
        .unwrap()
        .audio;
    let b = apply(&Attack::Noise { snr_db: 20.0 }, &input, 1)
        .unwrap()
        .audio;
    let c = apply(&Attack::Noise { snr_db: 20.0 }, &input, 2)
        .unwrap()
        .audio;
    assert!(a.samples == b.samples);
    assert!(a.samples != c.samples);
    let silent = audio(vec![0.0; 1000], 44100, 1);
    let out = apply(&Attack::Noise { snr_db: 20.0 }, &silent, 1)
        .unwrap()
        .audio;
    assert!(out.samples.iter().all(|&s| s == 0.0));
}

#[test]
fn lowpass_removes_7k_and_keeps_1k() {
    for rate in [44100u32, 48000] {
        let keep = audio(sine(1000.0, 0.5, 1.0, rate), rate, 1);
        let kill = audio(sine(7000.0, 0.5, 1.0, rate), rate, 1);
        let lp = Attack::LowPass { hz: 5000.0 };
        let kept = apply(&lp, &keep, 0).unwrap().audio;
        let killed = apply(&lp, &kill, 0).unwrap().audio;
        // Measure away from the edges, where the filter sees the signal start and stop.
        let mid = rate as usize / 10..rate as usize * 9 / 10;
        let keep_db =
            20.0 * (rms(&kept.samples[mid.clone()]) / rms(&keep.samples[mid.clone()])).log10();
        let kill_db = 20.0 * (rms(&killed.samples[mid.clone()]) / rms(&kill.samples[mid])).log10();
        println!("lowpass-5k @ {rate}: 1 kHz {keep_db:.4} dB, 7 kHz {kill_db:.1} dB");
        assert!(keep_db.abs() < 0.5, "1 kHz changed by {keep_db} dB");
        assert!(kill_db < -40.0, "7 kHz only down {kill_db} dB");
        assert_eq!(frames(&kept), frames(&keep));
        // Zero phase: the 1 kHz tone is returned sample-aligned.
        let snr = snr_db(&keep.samples[4410..39690], &kept.samples[4410..39690]);
        assert!(snr > 60.0, "1 kHz tone altered, SNR {snr}");
    }
    // Cutoff above Nyquist: unchanged. Invalid cutoffs: errors.
    let x = test_signal(0.2, 8000, 1, 11);
    let out = apply(&Attack::LowPass { hz: 5000.0 }, &x, 0).unwrap().audio;
    assert!(out.samples == x.samples);
    assert!(apply(&Attack::LowPass { hz: 0.0 }, &x, 0).is_err());
    assert!(apply(&Attack::LowPass { hz: f32::NAN }, &x, 0).is_err());
}

#[test]
fn to_mono_averages_channels() {
    let input = audio(vec![0.2, 0.4, -1.0, 0.0, 0.5, 0.5], 44100, 2);
    let out = apply(&Attack::ToMono, &input, 0).unwrap().audio;
    assert_eq!(out.channels, 1);
    assert_eq!(out.samples, vec![0.3, -0.5, 0.5]);
    let mono = audio(vec![0.1, 0.2], 8000, 1);
    assert_eq!(
        apply(&Attack::ToMono, &mono, 0).unwrap().audio.samples,
        vec![0.1, 0.2]
    );
}

#[test]
fn clip_offsets_are_in_range_and_deterministic() {
    let input = test_signal(8.0, 44100, 2, 12);
    let n = frames(&input);
    let attack = Attack::Clip { seconds: 5.0 };
    let len = 5 * 44100;
    let mut offsets = std::collections::BTreeSet::new();
    for seed in 0..50u64 {
        let out = apply(&attack, &input, seed).unwrap();
        let off = out.offset_frames as usize;
        assert!(off <= n - len, "offset {off} out of range");
        assert_eq!(frames(&out.audio), len);
        assert_eq!(out.audio.channels, 2);
        assert!(out.audio.samples[..] == input.samples[off * 2..(off + len) * 2]);
        let again = apply(&attack, &input, seed).unwrap();
        assert_eq!(again.offset_frames, out.offset_frames);
        offsets.insert(off);
    }
    assert!(offsets.len() > 40, "offsets barely vary: {offsets:?}");
    // Exactly as long as the input: the only offset is 0.
    let exact = audio(vec![0.1; 44100], 44100, 1);
    assert_eq!(
        apply(&Attack::Clip { seconds: 1.0 }, &exact, 9)
            .unwrap()
            .offset_frames,
        0
    );
    // Longer than the input: a clear error.
    match apply(&Attack::Clip { seconds: 10.0 }, &input, 0) {
        Err(AttackError::TooShort {
            needed_frames,
            actual_frames,
            ..
        }) => {
            assert_eq!(needed_frames, 441000);
            assert_eq!(actual_frames, n as u64);
        }
        other => panic!(
            "expected TooShort, got {:?}",
            other.map(|a| a.offset_frames)
        ),
    }
    assert!(apply(&Attack::Clip { seconds: 0.0 }, &input, 0).is_err());
    assert!(apply(&Attack::Clip { seconds: 1e-6 }, &input, 0).is_err());
}

#[test]
fn uniform_offsets_cover_the_range_evenly() {
    let mut counts = [0u32; 4];
    for seed in 0..4000 {
        counts[dsp::uniform_inclusive(seed, 3) as usize] += 1;
    }
    assert!(
        counts.iter().all(|&c| (850..1150).contains(&c)),
        "{counts:?}"
    );
    assert_eq!(dsp::uniform_inclusive(5, 0), 0);
}

#[test]
fn attacks_chain_clip_of_mp3() {
    let input = test_signal(6.0, 44100, 2, 13);
    let mp3 = apply(&Attack::Mp3 { kbps: 128 }, &input, 0).unwrap();
    let clip = apply(&Attack::Clip { seconds: 2.0 }, &mp3.audio, 77).unwrap();
    let off = clip.offset_frames as usize;
    assert_eq!(frames(&clip.audio), 88200);
    assert!(clip.audio.samples[..] == mp3.audio.samples[off * 2..(off + 88200) * 2]);
    // The excerpt is where the offset says it is in the original, too.
    let excerpt = audio(input.samples[off * 2..(off + 88200) * 2].to_vec(), 44100, 2);
    assert_aligned("clip of mp3", &excerpt, &clip.audio, 0.9);
    // And a second codec on top still works.
    let again = apply(&Attack::Vorbis { quality: 0.0 }, &clip.audio, 0).unwrap();
    assert_eq!(frames(&again.audio), 88200);
}

#[test]
fn short_and_empty_inputs_do_not_panic() {
    let mut attacks = standard_suite();
    attacks.push(Attack::Resample { via_hz: 8000 });
    attacks.push(Attack::Clip { seconds: 0.001 });
    for (n, rate, ch) in [
        (100usize, 44100u32, 2u16),
        (1, 48000, 1),
        (100, 16000, 6),
        (0, 44100, 2),
    ] {
        let input = audio(
            sine(440.0, 0.5, 1.0, rate)[..n * usize::from(ch)].to_vec(),
            rate,
            ch,
        );
        for attack in &attacks {
            match apply(attack, &input, 3) {
                Ok(out) => {
                    let expected = match attack {
                        Attack::Clip { seconds } => (*seconds * rate as f32).round() as usize,
                        _ => n,
                    };
                    assert_eq!(frames(&out.audio), expected, "{attack} on {n} frames");
                }
                Err(e) => {
                    // Only a clip longer than the input may fail.
                    assert!(
                        matches!(e, AttackError::TooShort { .. }),
                        "{attack} on {n} frames @ {rate} Hz x{ch}: {e}"
                    );
                }
            }
        }
    }
}

#[test]
fn malformed_input_is_rejected() {
    for db in [f32::NAN, f32::INFINITY] {
        let ok = audio(vec![0.0; 4], 44100, 2);
        assert!(matches!(
            apply(&Attack::Gain { db }, &ok, 0),
            Err(AttackError::InvalidParameter { .. })
        ));
    }
    let attack = Attack::Gain { db: 0.0 };
    for bad in [
        audio(vec![0.0; 4], 44100, 0),
        audio(vec![0.0; 4], 0, 2),
        audio(vec![0.0; 3], 44100, 2),
        audio(vec![0.0, f32::NAN], 44100, 2),
        audio(vec![f32::INFINITY, 0.0], 44100, 1),
    ] {
        assert!(matches!(
            apply(&attack, &bad, 0),
            Err(AttackError::InvalidAudio(_))
        ));
    }
}

#[test]
fn names_are_short_labels() {
    let names: Vec<String> = standard_suite().iter().map(Attack::name).collect();
    assert_eq!(
        names,
        [
            "mp3-128",
            "mp3-64",
            "vorbis-q-0.2",
            "resample-48000",
            "resample-22050",
            "gain-10db",
            "gain+6db-clip",
            "noise-20db",
            "lowpass-5k",
            "mono"
        ]
    );
    assert_eq!(Attack::Vorbis { quality: -0.1 }.name(), "vorbis-q-0.1");
    assert_eq!(Attack::Clip { seconds: 5.0 }.name(), "clip-5s");
    assert_eq!(Attack::Clip { seconds: 2.5 }.to_string(), "clip-2.5s");
    assert_eq!(Attack::LowPass { hz: 3500.0 }.name(), "lowpass-3.5k");
}

#[test]
fn snr_db_basics() {
    let r = [1.0f32, -1.0, 1.0, -1.0];
    assert_eq!(snr_db(&r, &r), f64::INFINITY);
    let t: Vec<f32> = r.iter().map(|v| v * 1.1).collect();
    assert!((snr_db(&r, &t) - 20.0).abs() < 1e-4);
    assert_eq!(snr_db(&[0.0, 0.0], &[0.1, 0.0]), f64::NEG_INFINITY);
    assert_eq!(snr_db(&[], &[]), f64::INFINITY);
}

#[test]
fn outputs_stay_within_full_scale() {
    let input = test_signal(2.0, 44100, 2, 14);
    let hot = apply(&Attack::Gain { db: 12.0 }, &input, 0).unwrap().audio;
    for attack in standard_suite() {
        let out = apply(&attack, &hot, 0).unwrap().audio;
        assert!(
            out.samples.iter().all(|s| (-1.0..=1.0).contains(s)),
            "{attack}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Time-scale attacks: speed, tempo, pitch.

const TEST_AUDIO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../test-audio");

/// `seconds` of a real test track (from `test-audio/`), starting 4 s in.
fn track_excerpt(name: &str, seconds: f64) -> Audio {
    let a = earmark::audio::decode_file(&std::path::Path::new(TEST_AUDIO).join(name))
        .expect("test track decodes");
    let ch = usize::from(a.channels);
    let start = 4 * a.sample_rate as usize;
    let len = (seconds * f64::from(a.sample_rate)) as usize;
    assert!(frames(&a) >= start + len, "{name} is too short");
    audio(
        a.samples[start * ch..(start + len) * ch].to_vec(),
        a.sample_rate,
        a.channels,
    )
}

/// Frequency of the strongest peak in the spectrum of the middle 2^15 samples of `x` (Hann
/// window), refined by a parabola through the log magnitudes of the peak bin and its two
/// neighbours (accurate to a small fraction of a bin, 1.35 Hz at 44.1 kHz).
fn dominant_hz(x: &[f32], rate: u32) -> f64 {
    let n = 1 << 15;
    assert!(x.len() >= n, "{} samples are too few", x.len());
    let start = (x.len() - n) / 2;
    let fft = realfft::RealFftPlanner::<f64>::new().plan_fft_forward(n);
    let mut buf: Vec<f64> = x[start..start + n]
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let w = 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n as f64).cos();
            f64::from(v) * w
        })
        .collect();
    let mut spec = fft.make_output_vec();
    fft.process(&mut buf, &mut spec).unwrap();
    let mag: Vec<f64> = spec.iter().map(|c| c.norm().max(1e-300).ln()).collect();
    let k = (1..mag.len() - 1)
        .max_by(|&a, &b| mag[a].total_cmp(&mag[b]))
        .unwrap();
    let (a, b, c) = (mag[k - 1], mag[k], mag[k + 1]);
    let shift = 0.5 * (a - c) / (a - 2.0 * b + c);
    (k as f64 + shift) * f64::from(rate) / n as f64
}

/// Lowest and highest level, in dB relative to the RMS of `reference_rms`, of 10 ms blocks
/// of `x`, ignoring the first and last 50 ms.
fn block_levels_db(x: &[f32], rate: u32, reference_rms: f64) -> (f64, f64) {
    let block = rate as usize / 100;
    let skip = rate as usize / 20;
    x[skip..x.len() - skip]
        .chunks_exact(block)
        .map(|b| 20.0 * (rms(b) / reference_rms).log10())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), db| {
            (lo.min(db), hi.max(db))
        })
}

/// Check `out` is `expected_hz` (±0.5 %) with a steady level (every 10 ms block within
/// ±0.5 dB of the input tone's), and return its dominant frequency.
fn assert_steady_tone(label: &str, out: &[f32], rate: u32, expected_hz: f64, amp: f32) {
    let hz = dominant_hz(out, rate);
    let (lo, hi) = block_levels_db(out, rate, f64::from(amp) / 2f64.sqrt());
    println!("{label}: {hz:.2} Hz (expected {expected_hz:.2}), blocks {lo:+.3}..{hi:+.3} dB");
    assert!(
        (hz / expected_hz - 1.0).abs() < 0.005,
        "{label}: dominant frequency {hz:.2} Hz, expected {expected_hz:.2} Hz"
    );
    assert!(
        lo > -0.5 && hi < 0.5,
        "{label}: level varies {lo:.2}..{hi:.2} dB"
    );
}

#[test]
fn speed_scales_frequency_and_length() {
    for rate in [44100u32, 48000] {
        let input = audio(sine(1000.0, 0.5, 3.0, rate), rate, 1);
        let n = frames(&input) as f64;
        for factor in [1.05f32, 0.95, 1.1, 0.9] {
            let out = apply(&Attack::Speed { factor }, &input, 0).unwrap();
            assert_eq!(out.offset_frames, 0);
            assert_eq!(out.audio.sample_rate, rate);
            assert_eq!(out.audio.channels, 1);
            let len = frames(&out.audio) as f64;
            let want = n / f64::from(factor);
            assert!(
                (len / want - 1.0).abs() < 0.005,
                "speed {factor} @ {rate}: {len} frames, expected {want:.0}"
            );
            assert_steady_tone(
                &format!("speed {factor} @ {rate}"),
                &out.audio.samples,
                rate,
                1000.0 * f64::from(factor),
                0.5,
            );
        }
    }
}

#[test]
fn tempo_keeps_frequency_and_scales_length() {
    // 1000 Hz fits a whole number of periods into the 20 ms hops (so segments join in phase
    // even at their nominal positions); 443.7 Hz does not, so only the similarity search
    // can keep its level steady.
    for (rate, hz) in [(44100u32, 1000.0f32), (48000, 1000.0), (44100, 443.7)] {
        let input = audio(sine(hz, 0.5, 3.0, rate), rate, 1);
        let n = frames(&input) as f64;
        for factor in [1.05f32, 0.95, 1.1, 0.9] {
            let out = apply(&Attack::Tempo { factor }, &input, 0).unwrap();
            assert_eq!(out.offset_frames, 0);
            assert_eq!(out.audio.channels, 1);
            let len = frames(&out.audio) as f64;
            let want = n / f64::from(factor);
            assert!(
                (len / want - 1.0).abs() < 0.01,
                "tempo {factor} @ {rate}: {len} frames, expected {want:.0}"
            );
            // A steady level means every segment was joined in phase: a wrong similarity
            // search leaves dips where segments cancel.
            assert_steady_tone(
                &format!("tempo {factor} @ {rate}, {hz} Hz"),
                &out.audio.samples,
                rate,
                f64::from(hz),
                0.5,
            );
        }
    }
}

#[test]
fn pitch_shifts_frequency_and_keeps_length() {
    let rate = 44100;
    let input = audio(sine(1000.0, 0.5, 3.0, rate), rate, 1);
    for semitones in [1.0f32, -1.0, 12.0, -12.0, 0.5] {
        let out = apply(&Attack::Pitch { semitones }, &input, 0).unwrap();
        assert_eq!(out.offset_frames, 0);
        let n = frames(&input) as f64;
        let len = frames(&out.audio) as f64;
        assert!(
            (len / n - 1.0).abs() < 0.01,
            "pitch {semitones}: {len} frames, expected {n}"
        );
        assert_steady_tone(
            &format!("pitch {semitones}"),
            &out.audio.samples,
            rate,
            1000.0 * 2f64.powf(f64::from(semitones) / 12.0),
            0.5,
        );
    }
}

#[test]
fn time_scale_attacks_keep_identical_channels_identical() {
    // A real track's mono mix, copied to both channels.
    let track = track_excerpt("rock-openarena-oa02.ogg", 4.0);
    let mono = dsp::to_mono(&track.samples, usize::from(track.channels));
    let stereo = audio(
        mono.iter().flat_map(|&s| [s, s]).collect(),
        track.sample_rate,
        2,
    );
    for attack in time_scale_suite() {
        let out = apply(&attack, &stereo, 0).unwrap().audio;
        assert_eq!(out.channels, 2);
        assert!(channel(&out, 0) == channel(&out, 1), "{attack}");
        // Same input, same output.
        assert!(apply(&attack, &stereo, 1).unwrap().audio.samples == out.samples);
    }
}

/// Position in `x` near `center` where `seg` (centred there) matches best, searching
/// `-max_lag..=max_lag`: the lag and the normalised correlation there.
fn match_segment(x: &[f32], seg: &[f32], center: usize, max_lag: usize) -> (isize, f64) {
    let start = center - seg.len() / 2;
    let s_norm = seg
        .iter()
        .map(|&v| f64::from(v).powi(2))
        .sum::<f64>()
        .sqrt();
    let mut best = (0isize, f64::MIN);
    for lag in -(max_lag as isize)..=max_lag as isize {
        let s = (start as isize + lag) as usize;
        let Some(t) = x.get(s..s + seg.len()) else {
            continue;
        };
        let (mut dot, mut t_norm) = (0.0f64, 0.0f64);
        for (&a, &b) in seg.iter().zip(t) {
            dot += f64::from(a) * f64::from(b);
            t_norm += f64::from(b) * f64::from(b);
        }
        let c = dot / (s_norm * t_norm.sqrt()).max(1e-30);
        if c > best.1 {
            best = (lag, c);
        }
    }
    best
}

#[test]
fn tempo_on_real_audio_follows_the_input_with_the_same_offsets_on_both_channels() {
    let input = track_excerpt("rock-openarena-oa02.ogg", 8.0);
    assert_eq!(input.channels, 2);
    let rate = input.sample_rate as usize;
    let (in_l, in_r) = (channel(&input, 0), channel(&input, 1));
    for factor in [1.05f32, 0.95] {
        let out = apply(&Attack::Tempo { factor }, &input, 0).unwrap().audio;
        let (out_l, out_r) = (channel(&out, 0), channel(&out, 1));
        // Output frame t comes from near input frame t * factor: within the ±10 ms search
        // plus the drift inside a 40 ms segment (±20 ms * |1 - factor|).
        let max_lag = rate / 100 + rate / 50 / 10 + 16;
        // Matched: both channels found with correlation > 0.9. Where the output is one
        // input segment (or a coherent join of two), the correlation is near 1 and both
        // channels must sit at the same lag (±2 for the crossfade's blur); elsewhere two
        // segments are crossfaded and the channels' best lags may differ more.
        let (mut checked, mut matched, mut copied) = (0, 0, 0);
        for t in (rate / 2..frames(&out) - rate / 2).step_by(rate / 4) {
            let nominal = (t as f64 * f64::from(factor)).round() as usize;
            let (lag_l, corr_l) = match_segment(&in_l, &out_l[t - 256..t + 256], nominal, max_lag);
            let (lag_r, corr_r) = match_segment(&in_r, &out_r[t - 256..t + 256], nominal, max_lag);
            println!(
                "tempo {factor} @ {t}: L lag {lag_l} ({corr_l:.3}), R lag {lag_r} ({corr_r:.3})"
            );
            checked += 1;
            if corr_l > 0.9 && corr_r > 0.9 {
                matched += 1;
            }
            if corr_l > 0.99 && corr_r > 0.99 {
                copied += 1;
                assert!(
                    lag_l.abs_diff(lag_r) <= 2,
                    "tempo {factor} @ {t}: channels at lags {lag_l} and {lag_r}"
                );
            }
        }
        println!("tempo {factor}: {matched}/{checked} matched, {copied} copied");
        assert!(
            matched * 100 >= checked * 85,
            "tempo {factor}: only {matched}/{checked} matched"
        );
        assert!(
            copied * 2 >= checked,
            "tempo {factor}: only {copied}/{checked} copied"
        );
    }
}

#[test]
fn speed_round_trip_on_real_audio_restores_the_signal() {
    // Below 18 kHz, so that nothing is lost above the Nyquist frequency at 1.05x speed.
    let track = track_excerpt("orchestral-supertuxkart-gran-batalla.ogg", 6.0);
    let input = apply(&Attack::LowPass { hz: 18000.0 }, &track, 0)
        .unwrap()
        .audio;
    let fast = apply(&Attack::Speed { factor: 1.05 }, &input, 0)
        .unwrap()
        .audio;
    let back = apply(
        &Attack::Speed {
            factor: 20.0 / 21.0,
        },
        &fast,
        0,
    )
    .unwrap()
    .audio;
    let n = frames(&input);
    assert_eq!(frames(&fast), (n * 20).div_ceil(21));
    assert!(frames(&back).abs_diff(n) <= 1, "{} vs {n}", frames(&back));
    // Any error in the time mapping would ruin the sample-by-sample comparison.
    let ch = usize::from(input.channels);
    let edge = input.sample_rate as usize / 10 * ch;
    let end = n * ch - edge;
    let snr = snr_db(&input.samples[edge..end], &back.samples[edge..end]);
    println!("speed 1.05 then 1/1.05: SNR {snr:.1} dB");
    assert!(snr > 40.0, "round trip SNR {snr:.1} dB");
}

/// Long-term power spectrum of the mono mix (Hann-windowed 8192-frame blocks, half
/// overlapping), as `ln` power on a log-frequency grid from 200 Hz to 8 kHz with
/// `steps` points per semitone.
fn log_spectrum(a: &Audio, steps: usize) -> Vec<f64> {
    let mono = dsp::to_mono(&a.samples, usize::from(a.channels));
    let n = 8192;
    let fft = realfft::RealFftPlanner::<f64>::new().plan_fft_forward(n);
    let window: Vec<f64> = (0..n)
        .map(|i| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n as f64).cos())
        .collect();
    let mut power = vec![0.0f64; n / 2 + 1];
    let mut buf = fft.make_input_vec();
    let mut spec = fft.make_output_vec();
    for start in (0..=mono.len() - n).step_by(n / 2) {
        for ((b, &x), &w) in buf.iter_mut().zip(&mono[start..start + n]).zip(&window) {
            *b = f64::from(x) * w;
        }
        fft.process(&mut buf, &mut spec).unwrap();
        for (p, c) in power.iter_mut().zip(&spec) {
            *p += c.norm_sqr();
        }
    }
    let bin_hz = f64::from(a.sample_rate) / n as f64;
    let points = (12.0 * steps as f64 * (8000.0f64 / 200.0).log2()) as usize;
    (0..points)
        .map(|i| {
            let b = 200.0 * 2f64.powf(i as f64 / (12 * steps) as f64) / bin_hz;
            let (k, t) = (b.floor() as usize, b.fract());
            ((1.0 - t) * power[k] + t * power[k + 1] + 1e-30).ln()
        })
        .collect()
}

/// How many semitones `out`'s long-term spectrum is shifted from `input`'s: the shift of
/// the log-frequency spectra (searched over ±2 semitones in 1/20 steps) that correlates
/// best.
fn spectral_shift_semitones(input: &Audio, out: &Audio) -> f64 {
    let steps = 20;
    let a = log_spectrum(input, steps);
    let b = log_spectrum(out, steps);
    let pearson = |x: &[f64], y: &[f64]| {
        let n = x.len() as f64;
        let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
        let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
        for (&u, &v) in x.iter().zip(y) {
            sxy += (u - mx) * (v - my);
            sxx += (u - mx) * (u - mx);
            syy += (v - my) * (v - my);
        }
        sxy / (sxx * syy).sqrt()
    };
    let max = 2 * steps as isize; // ±2 semitones in grid steps
    let mut best = (0isize, f64::MIN);
    for s in -max..=max {
        // Output point i + s should look like input point i.
        let (x, y) = if s >= 0 {
            (&a[..a.len() - s as usize], &b[s as usize..])
        } else {
            (&a[(-s) as usize..], &b[..b.len() - (-s) as usize])
        };
        let c = pearson(x, y);
        if c > best.1 {
            best = (s, c);
        }
    }
    best.0 as f64 / steps as f64
}

#[test]
fn time_scale_attacks_shift_the_spectrum_of_real_audio_as_expected() {
    for track in [
        "piano-supertuxkart-alien-signal.ogg",
        "rock-supertuxkart-bay.ogg",
    ] {
        let input = track_excerpt(track, 8.0);
        for (attack, expected) in [
            (Attack::Speed { factor: 1.05 }, 12.0 * 1.05f64.log2()),
            (Attack::Speed { factor: 0.95 }, 12.0 * 0.95f64.log2()),
            (Attack::Tempo { factor: 1.05 }, 0.0),
            (Attack::Tempo { factor: 0.95 }, 0.0),
            (Attack::Pitch { semitones: 1.0 }, 1.0),
            (Attack::Pitch { semitones: -1.0 }, -1.0),
        ] {
            let out = apply(&attack, &input, 0).unwrap().audio;
            let shift = spectral_shift_semitones(&input, &out);
            println!("{track} {attack}: spectrum shifted {shift:+.2} st (expected {expected:+.2})");
            assert!(
                (shift - expected).abs() <= 0.15,
                "{track} {attack}: spectrum shifted {shift:+.2} st, expected {expected:+.2}"
            );
        }
    }
}

#[test]
fn time_scale_parameters_are_validated() {
    let input = test_signal(0.5, 44100, 2, 15);
    for factor in [0.49f32, 2.01, 0.0, -1.0, f32::NAN, f32::INFINITY] {
        for attack in [Attack::Speed { factor }, Attack::Tempo { factor }] {
            assert!(
                matches!(
                    apply(&attack, &input, 0),
                    Err(AttackError::InvalidParameter { .. })
                ),
                "{attack}"
            );
        }
    }
    for semitones in [12.5f32, -12.01, f32::NAN, f32::NEG_INFINITY] {
        assert!(matches!(
            apply(&Attack::Pitch { semitones }, &input, 0),
            Err(AttackError::InvalidParameter { .. })
        ));
    }
    // The limits themselves are accepted; the neutral settings return the input.
    for attack in [
        Attack::Speed { factor: 0.5 },
        Attack::Speed { factor: 2.0 },
        Attack::Tempo { factor: 0.5 },
        Attack::Tempo { factor: 2.0 },
        Attack::Pitch { semitones: -12.0 },
        Attack::Pitch { semitones: 12.0 },
    ] {
        assert!(apply(&attack, &input, 0).is_ok(), "{attack}");
    }
    for attack in [
        Attack::Speed { factor: 1.0 },
        Attack::Tempo { factor: 1.0 },
        Attack::Pitch { semitones: 0.0 },
    ] {
        assert!(apply(&attack, &input, 0).unwrap().audio.samples == input.samples);
    }
}

#[test]
fn time_scale_names_are_short_and_unique() {
    let names: Vec<String> = time_scale_suite().iter().map(Attack::name).collect();
    assert_eq!(
        names,
        [
            "speed-x0.95",
            "speed-x1.05",
            "tempo-x0.95",
            "tempo-x1.05",
            "pitch-1st",
            "pitch+1st"
        ]
    );
    assert_eq!(Attack::Pitch { semitones: 0.5 }.name(), "pitch+0.5st");
    assert_eq!(Attack::Tempo { factor: 1.1 }.to_string(), "tempo-x1.1");
    let mut all: Vec<String> = standard_suite()
        .iter()
        .chain(&time_scale_suite())
        .map(Attack::name)
        .collect();
    let count = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), count, "duplicate names");
    assert!(!standard_suite().iter().any(|a| matches!(
        a,
        Attack::Speed { .. } | Attack::Tempo { .. } | Attack::Pitch { .. }
    )));
}

#[test]
fn time_scale_attacks_on_short_empty_and_hot_inputs() {
    for (n, rate, ch) in [
        (100usize, 44100u32, 2u16),
        (1, 48000, 1),
        (100, 16000, 6),
        (0, 44100, 2),
        (5000, 8000, 1),
    ] {
        let input = audio(
            sine(440.0, 0.5, 1.0, rate)[..n * usize::from(ch)].to_vec(),
            rate,
            ch,
        );
        for attack in time_scale_suite() {
            let out = apply(&attack, &input, 3).unwrap().audio;
            assert_eq!(out.channels, ch, "{attack}");
            let expected = match attack {
                Attack::Speed { factor } | Attack::Tempo { factor } => n as f32 / factor,
                _ => n as f32,
            };
            assert!(
                (frames(&out) as f32 - expected).abs() <= 1.0,
                "{attack} on {n} frames: {} frames",
                frames(&out)
            );
        }
    }
    let input = test_signal(2.0, 44100, 2, 16);
    let hot = apply(&Attack::Gain { db: 12.0 }, &input, 0).unwrap().audio;
    for attack in time_scale_suite() {
        let out = apply(&attack, &hot, 0).unwrap().audio;
        assert!(
            out.samples.iter().all(|s| (-1.0..=1.0).contains(s)),
            "{attack}"
        );
    }
}

#[test]
fn speed_ratios_are_close_fractions() {
    assert_eq!(stretch::ratio_approx(f64::from(1.05f32)), (21, 20));
    assert_eq!(stretch::ratio_approx(f64::from(0.95f32)), (19, 20));
    assert_eq!(stretch::ratio_approx(1.0), (1, 1));
    assert_eq!(stretch::ratio_approx(0.5), (1, 2));
    assert_eq!(stretch::ratio_approx(2.0), (2, 1));
    let semitone = 2f64.powf(1.0 / 12.0);
    assert_eq!(stretch::ratio_approx(semitone), (196, 185));
    // Nothing within the tolerance: the closest fraction with terms up to 4096.
    assert_eq!(stretch::ratio_approx(1.0002), (4096, 4095));
    assert_eq!(stretch::ratio_approx(1.0001), (1, 1));
    assert_eq!(stretch::ratio_approx(1.5 + 1e-6), (3, 2));
    for i in 0..=1500 {
        let x = 0.5 + 1.5 * f64::from(i) / 1500.0 + 1e-4 * f64::from(i % 7);
        let x = x.min(2.0);
        let (p, q) = stretch::ratio_approx(x);
        assert!(p <= stretch::MAX_RATIO_TERM && q <= stretch::MAX_RATIO_TERM);
        let err = (f64::from(p) / f64::from(q) / x - 1.0).abs();
        assert!(err < 1.3e-4, "{x}: {p}/{q}, relative error {err}");
    }
}
