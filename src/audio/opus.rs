//! Opus decoding for symphonia, which demuxes Opus (Ogg, Matroska/WebM) but
//! has no Opus decoder of its own.
//!
//! [`OpusDecoder`] implements symphonia's [`Decoder`] over the pure-Rust
//! `opus-rs` decoder (a port of libopus 1.6: no C, so the engine's no-C and
//! WebAssembly builds read Opus too), and [`codecs`] is symphonia's codec
//! registry with it added. Channel mapping family 0 (mono, stereo) and the
//! multistream families (RFC 7845 §5.1.1, up to 8 channels) are decoded;
//! the header's output gain is applied, and its pre-skip dropped. With the
//! end trimming symphonia's Ogg reader does (`trim_end`), the samples are
//! exactly the encoder's input span, as libopus gives them.

use std::sync::OnceLock;

use symphonia::core::audio::{AsAudioBufferRef, AudioBuffer, AudioBufferRef, Signal, SignalSpec};
use symphonia::core::codecs::{
    CodecDescriptor, CodecParameters, CodecRegistry, Decoder, DecoderOptions, FinalizeResult,
    CODEC_TYPE_OPUS,
};
use symphonia::core::errors::{decode_error, unsupported_error, Result};
use symphonia::core::formats::Packet;

/// Opus always decodes at 48 kHz here (every Opus stream can).
const RATE: u32 = 48_000;

/// The longest Opus packet: 120 ms at 48 kHz, per channel.
const MAX_FRAMES: usize = 5_760;

/// symphonia's codec registry with every codec symphonia enables plus Opus.
pub fn codecs() -> &'static CodecRegistry {
    static REGISTRY: OnceLock<CodecRegistry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut registry = CodecRegistry::new();
        symphonia::default::register_enabled_codecs(&mut registry);
        registry.register_all::<OpusDecoder>();
        registry
    })
}

/// The two shapes of Opus stream.
enum Inner {
    /// Mapping family 0: one elementary stream, 1 or 2 channels.
    Single(Box<opus_rs::OpusDecoder>),
    /// Families 1, 2, 255: several elementary streams mapped to channels.
    Multi(Box<opus_rs::multistream::MultistreamDecoder>),
}

/// A symphonia [`Decoder`] for Opus packets.
pub struct OpusDecoder {
    params: CodecParameters,
    inner: Inner,
    channels: usize,
    /// Linear output gain from the identification header.
    gain: f32,
    /// Frames of the header's pre-skip still to drop.
    pre_skip_left: usize,
    /// No packet decoded yet.
    first: bool,
    /// Interleaved decode scratch (`MAX_FRAMES * channels`).
    scratch: Vec<f32>,
    buf: AudioBuffer<f32>,
}

impl OpusDecoder {
    fn decode_packet(&mut self, packet: &Packet) -> Result<()> {
        let data = packet.buf();
        let frames = match &mut self.inner {
            Inner::Single(d) => d.decode(data, MAX_FRAMES, &mut self.scratch),
            Inner::Multi(d) => d.decode(data, MAX_FRAMES, &mut self.scratch),
        }
        .map_err(|_| symphonia::core::errors::Error::DecodeError("opus: invalid packet"))?;
        let frames = frames.min(MAX_FRAMES);
        // The container's trimming, in frames at 48 kHz: symphonia's Ogg
        // reader trims the end from the last granule position but not the
        // header's pre-skip (its timestamps count the pre-skip in), and
        // Matroska has no trimming at all; the pre-skip is dropped here
        // unless the demuxer already trimmed the first packet.
        if std::mem::take(&mut self.first) && packet.trim_start > 0 {
            self.pre_skip_left = 0;
        }
        let mut start = (packet.trim_start as usize).min(frames);
        let end = frames.saturating_sub(packet.trim_end as usize).max(start);
        let skip = self.pre_skip_left.min(end - start);
        self.pre_skip_left -= skip;
        start += skip;
        let ch = self.channels;
        self.buf.clear();
        self.buf.render_reserved(Some(end - start));
        for c in 0..ch {
            let plane = self.buf.chan_mut(c);
            for (i, f) in (start..end).enumerate() {
                plane[i] = self.scratch[f * ch + c] * self.gain;
            }
        }
        Ok(())
    }
}

impl Decoder for OpusDecoder {
    fn try_new(params: &CodecParameters, _options: &DecoderOptions) -> Result<Self> {
        let head = params.extra_data.as_deref().unwrap_or(&[]);
        if head.len() < 19 || &head[..8] != b"OpusHead" {
            return unsupported_error("opus: missing or short identification header");
        }
        let channels = usize::from(head[9]);
        let gain_q8 = i16::from_le_bytes([head[16], head[17]]);
        let family = head[18];
        if channels == 0 || channels > 8 {
            return unsupported_error("opus: channel count not in 1..=8");
        }
        let inner = if family == 0 {
            if channels > 2 {
                return decode_error("opus: mapping family 0 with more than 2 channels");
            }
            opus_rs::OpusDecoder::new(RATE as i32, channels)
                .map(|d| Inner::Single(Box::new(d)))
                .or_else(|_| decode_error("opus: decoder setup failed"))?
        } else {
            let table = opus_rs::multistream::ChannelMappingTable::parse(
                family,
                channels as u8,
                &head[19..],
            );
            let Some(table) = table.filter(|t| t.stream_count > 0) else {
                return decode_error("opus: channel mapping table cut short or empty");
            };
            opus_rs::multistream::MultistreamDecoder::new(RATE as i32, table)
                .map(|d| Inner::Multi(Box::new(d)))
                .or_else(|_| decode_error("opus: invalid channel mapping table"))?
        };
        let layout = params.channels.filter(|c| c.count() == channels);
        let Some(layout) = layout.or_else(|| channel_bits(channels)) else {
            return unsupported_error("opus: unknown channel layout");
        };
        let spec = SignalSpec::new(RATE, layout);
        Ok(OpusDecoder {
            params: params.clone(),
            inner,
            channels,
            gain: 10f32.powf(f32::from(gain_q8) / 256.0 / 20.0),
            pre_skip_left: usize::from(u16::from_le_bytes([head[10], head[11]])),
            first: true,
            scratch: vec![0.0; MAX_FRAMES * channels],
            buf: AudioBuffer::new(MAX_FRAMES as u64, spec),
        })
    }

    fn supported_codecs() -> &'static [CodecDescriptor] {
        &[symphonia::core::support_codec!(
            CODEC_TYPE_OPUS,
            "opus",
            "Opus"
        )]
    }

    fn reset(&mut self) {
        // A fresh decoder: state from before a seek must not leak in.
        if let Ok(d) = Self::try_new(&self.params, &DecoderOptions::default()) {
            *self = d;
        }
    }

    fn codec_params(&self) -> &CodecParameters {
        &self.params
    }

    fn decode(&mut self, packet: &Packet) -> Result<AudioBufferRef<'_>> {
        if let Err(e) = self.decode_packet(packet) {
            self.buf.clear();
            return Err(e);
        }
        Ok(self.buf.as_audio_buffer_ref())
    }

    fn finalize(&mut self) -> FinalizeResult {
        FinalizeResult::default()
    }

    fn last_decoded(&self) -> AudioBufferRef<'_> {
        self.buf.as_audio_buffer_ref()
    }
}

/// A channel layout for `n` channels when the container gave none.
fn channel_bits(n: usize) -> Option<symphonia::core::audio::Channels> {
    let bits = if n >= 32 {
        return None;
    } else {
        (1u32 << n) - 1
    };
    symphonia::core::audio::Channels::from_bits(bits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn test_audio(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("test-audio")
            .join(name)
    }

    /// A real Ogg Opus file (made by libopus) decodes to its stated length
    /// at 48 kHz, with sound in it, through the ordinary reader.
    #[test]
    fn a_real_ogg_opus_file_decodes_to_its_length() {
        let audio = crate::audio::decode_file(&test_audio("tagged/tagged.opus")).unwrap();
        assert_eq!(audio.sample_rate, 48_000);
        assert_eq!(audio.channels, 2);
        // ffprobe: 2.01 s; the pre-skip is trimmed, so not a frame more.
        let seconds = audio.frames() as f64 / 48_000.0;
        assert!((2.0..=2.011).contains(&seconds), "{seconds} s");
        let peak = audio.samples.iter().fold(0f32, |m, s| m.max(s.abs()));
        assert!(peak > 0.01, "silent decode, peak {peak}");
    }

    #[test]
    fn a_header_that_is_not_opus_is_refused() {
        let mut params = CodecParameters::new();
        params
            .for_codec(CODEC_TYPE_OPUS)
            .with_extra_data(Box::from(&b"OpusHea"[..]));
        assert!(OpusDecoder::try_new(&params, &DecoderOptions::default()).is_err());
        let mut head = b"OpusHead".to_vec();
        head.extend_from_slice(&[1, 3, 0, 0, 0x80, 0xbb, 0, 0, 0, 0, 0]);
        params.with_extra_data(head.into_boxed_slice());
        // Three channels in family 0 is not a valid stream.
        assert!(OpusDecoder::try_new(&params, &DecoderOptions::default()).is_err());
    }
}
