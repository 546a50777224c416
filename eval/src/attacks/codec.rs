//! Lossy codec round trips: MP3 (LAME via `mp3lame-encoder`) and Ogg Vorbis (aoTuV via
//! `vorbis_rs`), both decoded back with `earmark::audio::decode_bytes` (symphonia).

use std::num::{NonZeroU32, NonZeroU8};

use mp3lame_encoder::{Bitrate, Builder, FlushGap, InterleavedPcm, Mode, MonoPcm, Quality};
use vorbis_rs::{VorbisBitrateManagementStrategy, VorbisEncoderBuilder};

use super::AttackError;
use earmark::audio::{decode_bytes, Audio};

/// Total MP3 round-trip delay in frames: LAME's encoder delay (576) plus the MP3 synthesis
/// filterbank's decoder delay (528 + 1). Measured by cross-correlation in
/// `tests::measured_codec_delays`; the same at every sample rate tested.
///
/// It does not depend on the decoder's gapless setting because the encoder writes no
/// Xing/LAME tag, so symphonia has no delay/padding information to trim.
pub(super) const MP3_DELAY_FRAMES: usize = 1105;

/// Sample rates LAME can write without resampling (MPEG-1, MPEG-2 and MPEG-2.5 layer III).
const MP3_RATES: [u32; 9] = [8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000];

/// Encode interleaved mono or stereo audio to CBR MP3 bytes (no Xing/LAME tag).
pub(super) fn mp3_encode(
    samples: &[f32],
    rate: u32,
    channels: u16,
    kbps: u32,
) -> Result<Vec<u8>, AttackError> {
    let enc_err = |what: &str, e: &dyn std::fmt::Display| AttackError::Encode {
        codec: "mp3",
        message: format!("{what}: {e}"),
    };
    let bitrate = mp3_bitrate(kbps, rate)?;
    let lame_channels = match channels {
        1 => 1u8,
        2 => 2,
        _ => {
            return Err(AttackError::Encode {
                codec: "mp3",
                message: format!("LAME codes 1 or 2 channels, got {channels}"),
            })
        }
    };
    let mut builder = Builder::new().ok_or_else(|| AttackError::Encode {
        codec: "mp3",
        message: "LAME could not allocate an encoder".into(),
    })?;
    builder
        .set_num_channels(lame_channels)
        .map_err(|e| enc_err("channels", &e))?;
    builder
        .set_sample_rate(rate)
        .map_err(|e| enc_err("sample rate", &e))?;
    builder
        .set_output_sample_rate(NonZeroU32::new(rate))
        .map_err(|e| enc_err("output sample rate", &e))?;
    builder
        .set_brate(bitrate)
        .map_err(|e| enc_err("bitrate", &e))?;
    builder
        .set_mode(if channels == 1 {
            Mode::Mono
        } else {
            Mode::JointStereo
        })
        .map_err(|e| enc_err("mode", &e))?;
    builder
        .set_quality(Quality::NearBest)
        .map_err(|e| enc_err("quality", &e))?;
    builder
        .set_to_write_vbr_tag(false)
        .map_err(|e| enc_err("vbr tag", &e))?;
    let mut enc = builder.build().map_err(|e| {
        enc_err(
            &format!("LAME rejected {kbps} kbps at {rate} Hz, {channels} ch"),
            &e,
        )
    })?;

    // Feed in blocks so each output reservation stays small.
    const BLOCK: usize = 8192;
    let frames = samples.len() / usize::from(channels);
    let expected_bytes = frames as u64 * u64::from(kbps) * 125 / u64::from(rate);
    let mut out = Vec::with_capacity(expected_bytes as usize + 16384);
    for block in samples.chunks(BLOCK * usize::from(channels)) {
        let block_frames = block.len() / usize::from(channels);
        out.reserve(mp3lame_encoder::max_required_buffer_size(block_frames));
        let res = if channels == 1 {
            enc.encode_to_vec(MonoPcm(block), &mut out)
        } else {
            enc.encode_to_vec(InterleavedPcm(block), &mut out)
        };
        res.map_err(|e| enc_err("encode", &e))?;
    }
    out.reserve(mp3lame_encoder::max_required_buffer_size(0));
    enc.flush_to_vec::<FlushGap>(&mut out)
        .map_err(|e| enc_err("flush", &e))?;
    Ok(out)
}

/// Bitrates (kbit/s) of MPEG-1 layer III (32, 44.1 and 48 kHz).
const MPEG1_KBPS: [u32; 14] = [
    32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
];
/// Bitrates of MPEG-2 layer III (16, 22.05 and 24 kHz).
const MPEG2_KBPS: [u32; 14] = [8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];
/// Bitrates LAME allows for MPEG-2.5 (8, 11.025 and 12 kHz).
const MPEG25_KBPS: [u32; 8] = [8, 16, 24, 32, 40, 48, 56, 64];

/// Map `kbps` to LAME's bitrate for an MPEG sample rate. LAME itself would silently replace
/// a bitrate the rate's MPEG version lacks by the nearest one it has, which would mislabel
/// the attack, so such bitrates are refused here instead.
fn mp3_bitrate(kbps: u32, rate: u32) -> Result<Bitrate, AttackError> {
    let (version, allowed): (&str, &[u32]) = match rate {
        32000.. => ("MPEG-1 (32 to 48 kHz)", &MPEG1_KBPS),
        16000.. => ("MPEG-2 (16 to 24 kHz)", &MPEG2_KBPS),
        _ => ("MPEG-2.5 (8 to 12 kHz)", &MPEG25_KBPS),
    };
    let bitrate = match kbps {
        8 => Some(Bitrate::Kbps8),
        16 => Some(Bitrate::Kbps16),
        24 => Some(Bitrate::Kbps24),
        32 => Some(Bitrate::Kbps32),
        40 => Some(Bitrate::Kbps40),
        48 => Some(Bitrate::Kbps48),
        64 => Some(Bitrate::Kbps64),
        80 => Some(Bitrate::Kbps80),
        96 => Some(Bitrate::Kbps96),
        112 => Some(Bitrate::Kbps112),
        128 => Some(Bitrate::Kbps128),
        160 => Some(Bitrate::Kbps160),
        192 => Some(Bitrate::Kbps192),
        224 => Some(Bitrate::Kbps224),
        256 => Some(Bitrate::Kbps256),
        320 => Some(Bitrate::Kbps320),
        // 56 and 144 exist in MPEG but not in mp3lame-encoder's `Bitrate`.
        _ => None,
    };
    match bitrate {
        Some(b) if allowed.contains(&kbps) => Ok(b),
        _ => Err(AttackError::InvalidParameter {
            attack: format!("mp3-{kbps}"),
            reason: format!(
                "{kbps} kbps is not an {version} bitrate supported here; use one of {:?}",
                allowed
                    .iter()
                    .filter(|&&k| k != 56 && k != 144)
                    .collect::<Vec<_>>()
            ),
        }),
    }
}

/// The MPEG rate an unsupported input rate is carried at: 44.1 kHz for multiples of
/// 11025 Hz, otherwise 48 kHz.
pub(super) fn mp3_carrier_rate(rate: u32) -> u32 {
    if MP3_RATES.contains(&rate) {
        rate
    } else if rate % 11025 == 0 {
        44100
    } else {
        48000
    }
}

/// MP3 round trip of interleaved mono/stereo audio at an MPEG sample rate, time-aligned and
/// trimmed to the input's length.
pub(super) fn mp3_roundtrip(
    samples: &[f32],
    rate: u32,
    channels: u16,
    kbps: u32,
) -> Result<Vec<f32>, AttackError> {
    let bytes = mp3_encode(samples, rate, channels, kbps)?;
    let decoded = decode(bytes, "mp3", rate, channels)?;
    Ok(align(&decoded, channels, MP3_DELAY_FRAMES, samples.len()))
}

/// Encode interleaved audio to Ogg Vorbis bytes in quality-VBR mode.
pub(super) fn vorbis_encode(
    samples: &[f32],
    rate: u32,
    channels: u16,
    quality: f32,
) -> Result<Vec<u8>, AttackError> {
    let enc_err = |e: vorbis_rs::VorbisError| AttackError::Encode {
        codec: "vorbis",
        message: format!("quality {quality} at {rate} Hz, {channels} ch: {e}"),
    };
    let ch = u8::try_from(channels)
        .ok()
        .filter(|&c| u16::from(c) <= VORBIS_MAX_CHANNELS)
        .and_then(NonZeroU8::new)
        .ok_or_else(|| AttackError::Encode {
            codec: "vorbis",
            message: format!(
                "the Vorbis round trip supports 1 to {VORBIS_MAX_CHANNELS} channels, got {channels}"
            ),
        })?;
    let sr = NonZeroU32::new(rate)
        .ok_or_else(|| AttackError::InvalidAudio("sample rate is 0".into()))?;
    // A fixed stream serial keeps the output bytes deterministic.
    let mut builder = VorbisEncoderBuilder::new_with_serial(sr, ch, Vec::new(), 0x6561_726d);
    builder.bitrate_management_strategy(VorbisBitrateManagementStrategy::QualityVbr {
        target_quality: quality,
    });
    let mut enc = builder.build().map_err(enc_err)?;
    let mut planar = super::dsp::deinterleave(samples, usize::from(channels));
    // Vorbis stores surround channels in its own order (e.g. L, C, R, ... for 3 to 8
    // channels); symphonia maps them back to its canonical order (FL, FR, FC, LFE, ...) when
    // decoding. Put each input channel where the decoder will return it to its own place.
    let n = planar.len();
    let planar: Vec<Vec<f32>> = (0..n)
        .map(|i| std::mem::take(&mut planar[vorbis_to_canonical(n, i)]))
        .collect();
    const BLOCK: usize = 4096;
    let frames = planar.first().map_or(0, Vec::len);
    let mut start = 0;
    while start < frames {
        let end = (start + BLOCK).min(frames);
        let block: Vec<&[f32]> = planar.iter().map(|c| &c[start..end]).collect();
        enc.encode_audio_block(&block).map_err(enc_err)?;
        start = end;
    }
    enc.finish().map_err(enc_err)
}

/// Most channels a Vorbis round trip supports: symphonia 0.5's Vorbis decoder knows no
/// channel map beyond the eight defined by the Vorbis I specification.
pub(super) const VORBIS_MAX_CHANNELS: u16 = 8;

/// Position, in symphonia's canonical interleaved order, of Vorbis channel `i` of `n`
/// (Vorbis I spec section 4.3.9; the same table as symphonia's `map_vorbis_channel`).
fn vorbis_to_canonical(n: usize, i: usize) -> usize {
    let map: &[usize] = match n {
        3 => &[0, 2, 1],
        5 => &[0, 2, 1, 3, 4],
        6 => &[0, 2, 1, 4, 5, 3],
        7 => &[0, 2, 1, 5, 6, 4, 3],
        8 => &[0, 2, 1, 6, 7, 4, 5, 3],
        _ => return i,
    };
    map[i]
}

/// Vorbis round-trip delay in frames. Vorbis has none in the signal path: the encoder's
/// granule positions start at zero and the decoder discards the first half-block, so the
/// decoded audio starts exactly at input frame 0 (measured in
/// `tests::measured_codec_delays`, with symphonia's gapless trimming on and off). Without
/// gapless trimming the decoded stream merely ends with extra padding, which `align` cuts.
pub(super) const VORBIS_DELAY_FRAMES: usize = 0;

/// Vorbis round trip, time-aligned and trimmed to the input's length.
pub(super) fn vorbis_roundtrip(
    samples: &[f32],
    rate: u32,
    channels: u16,
    quality: f32,
) -> Result<Vec<f32>, AttackError> {
    let bytes = vorbis_encode(samples, rate, channels, quality)?;
    let decoded = decode(bytes, "ogg", rate, channels)?;
    Ok(align(
        &decoded,
        channels,
        VORBIS_DELAY_FRAMES,
        samples.len(),
    ))
}

/// Decode with `earmark::audio::decode_bytes` and check the stream kept rate and channels.
pub(super) fn decode(
    bytes: Vec<u8>,
    ext: &'static str,
    rate: u32,
    channels: u16,
) -> Result<Audio, AttackError> {
    let audio = decode_bytes(bytes, Some(ext)).map_err(|e| AttackError::Decode {
        codec: ext,
        message: e.to_string(),
    })?;
    if audio.sample_rate != rate || audio.channels != channels {
        return Err(AttackError::Decode {
            codec: ext,
            message: format!(
                "decoded {} Hz, {} ch; expected {rate} Hz, {channels} ch",
                audio.sample_rate, audio.channels
            ),
        });
    }
    Ok(audio)
}

/// Drop `delay` frames from the start of the decoded audio and cut or zero-pad it to
/// `len` interleaved samples.
fn align(decoded: &Audio, channels: u16, delay: usize, len: usize) -> Vec<f32> {
    let skip = (delay * usize::from(channels)).min(decoded.samples.len());
    let mut out: Vec<f32> = decoded.samples[skip..].iter().take(len).copied().collect();
    out.resize(len, 0.0);
    out
}
