//! MP3 encoding (LAME 3.100, through `mp3lame-encoder`): a streaming
//! encoder from interleaved `f32` samples to MPEG-1 Layer III frames.
//!
//! The output is constant-bitrate MPEG-1 (32, 44.1 or 48 kHz), so every
//! bitrate from 32 to 320 kbit/s (but 56, which the binding lacks) is available whatever the input: other
//! input rates are resampled by LAME (88.2 and 176.4 kHz to 44.1 kHz, the
//! rest to 48 kHz or 44.1 kHz, whichever is a simpler ratio). The first
//! frame is a LAME/Info tag with the encoder delay and padding, so players
//! and decoders that honour it (symphonia, ffmpeg) play exactly the input's
//! length. LAME is C; this module exists only in builds with the `mp3`
//! feature (the CLI's), never in the no-C engine.

use std::io::{Seek, SeekFrom, Write};
use std::num::NonZeroU32;

use mp3lame_encoder::{Bitrate, Builder, FlushGap, InterleavedPcm, Mode, MonoPcm, Quality};

/// Bitrates (kbit/s) MPEG-1 Layer III can code.
pub const BITRATES: [u32; 13] = [32, 40, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320];

/// The default bitrate: what artists upload when they upload MP3.
pub const DEFAULT_KBPS: u32 = 320;

/// Why an MP3 cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum Mp3Error {
    /// LAME codes mono or stereo only.
    #[error("MP3 holds 1 or 2 channels and this audio has {0}: write FLAC or WAV instead")]
    Channels(u16),
    /// Not an MPEG-1 Layer III bitrate.
    #[error("{0} kbit/s is not an MP3 bitrate; choose one of 32, 40, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320")]
    Bitrate(u32),
    /// LAME refused a setting or failed.
    #[error("the MP3 encoder (LAME) failed: {0}")]
    Lame(String),
    /// Writing the output failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// The sample rate an MP3 of audio at `rate` is written at (MPEG-1 only).
pub fn output_rate(rate: u32) -> u32 {
    match rate {
        32_000 | 44_100 | 48_000 => rate,
        r if r % 11_025 == 0 => 44_100,
        _ => 48_000,
    }
}

/// A streaming MP3 encoder writing to `W`.
pub struct Mp3Writer<W: Write + Seek> {
    encoder: mp3lame_encoder::Encoder,
    out: W,
    channels: usize,
    buf: Vec<u8>,
    /// Where the placeholder for the LAME tag frame starts.
    start: u64,
}

impl<W: Write + Seek> Mp3Writer<W> {
    /// An encoder for `channels` channels at `rate` Hz, `kbps` constant
    /// bitrate, writing from `out`'s current position.
    pub fn new(mut out: W, rate: u32, channels: u16, kbps: u32) -> Result<Self, Mp3Error> {
        let lame = |e: &dyn std::fmt::Display| Mp3Error::Lame(e.to_string());
        if !(1..=2).contains(&channels) {
            return Err(Mp3Error::Channels(channels));
        }
        let bitrate = bitrate(kbps).ok_or(Mp3Error::Bitrate(kbps))?;
        let mut b = Builder::new().ok_or_else(|| Mp3Error::Lame("out of memory".into()))?;
        b.set_num_channels(channels as u8).map_err(|e| lame(&e))?;
        b.set_sample_rate(rate).map_err(|e| lame(&e))?;
        b.set_output_sample_rate(NonZeroU32::new(output_rate(rate)))
            .map_err(|e| lame(&e))?;
        b.set_brate(bitrate).map_err(|e| lame(&e))?;
        b.set_mode(if channels == 1 {
            Mode::Mono
        } else {
            Mode::JointStereo
        })
        .map_err(|e| lame(&e))?;
        // LAME's recommended high-quality setting (-q 2).
        b.set_quality(Quality::NearBest).map_err(|e| lame(&e))?;
        b.set_to_write_vbr_tag(true).map_err(|e| lame(&e))?;
        let encoder = b.build().map_err(|e| {
            Mp3Error::Lame(format!("{kbps} kbit/s at {rate} Hz, {channels} ch: {e}"))
        })?;
        let start = out.stream_position()?;
        Ok(Mp3Writer {
            encoder,
            out,
            channels: usize::from(channels),
            buf: Vec::new(),
            start,
        })
    }

    /// Encodes interleaved samples (whole frames).
    pub fn write(&mut self, samples: &[f32]) -> Result<(), Mp3Error> {
        // Blocks of 8192 frames keep the output reservation small.
        for block in samples.chunks(8192 * self.channels) {
            let frames = block.len() / self.channels;
            self.buf.clear();
            self.buf
                .reserve(mp3lame_encoder::max_required_buffer_size(frames));
            let res = if self.channels == 1 {
                self.encoder.encode_to_vec(MonoPcm(block), &mut self.buf)
            } else {
                self.encoder
                    .encode_to_vec(InterleavedPcm(block), &mut self.buf)
            };
            res.map_err(|e| Mp3Error::Lame(e.to_string()))?;
            self.out.write_all(&self.buf)?;
        }
        Ok(())
    }

    /// Flushes the last frames, writes the LAME tag over its placeholder
    /// and returns the writer (positioned at the end).
    pub fn finish(mut self) -> Result<W, Mp3Error> {
        self.buf.clear();
        self.buf
            .reserve(mp3lame_encoder::max_required_buffer_size(0));
        self.encoder
            .flush_to_vec::<FlushGap>(&mut self.buf)
            .map_err(|e| Mp3Error::Lame(e.to_string()))?;
        self.out.write_all(&self.buf)?;
        let end = self.out.stream_position()?;
        let mut tag = Vec::with_capacity(self.encoder.lame_tag_size());
        if self.encoder.lame_tag_encode_to_vec(&mut tag).is_some() {
            self.out.seek(SeekFrom::Start(self.start))?;
            self.out.write_all(&tag)?;
            self.out.seek(SeekFrom::Start(end))?;
        }
        self.out.flush()?;
        Ok(self.out)
    }
}

fn bitrate(kbps: u32) -> Option<Bitrate> {
    Some(match kbps {
        32 => Bitrate::Kbps32,
        40 => Bitrate::Kbps40,
        48 => Bitrate::Kbps48,
        64 => Bitrate::Kbps64,
        80 => Bitrate::Kbps80,
        96 => Bitrate::Kbps96,
        112 => Bitrate::Kbps112,
        128 => Bitrate::Kbps128,
        160 => Bitrate::Kbps160,
        192 => Bitrate::Kbps192,
        224 => Bitrate::Kbps224,
        256 => Bitrate::Kbps256,
        320 => Bitrate::Kbps320,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A second of a tone, written as MP3, decodes back at the same length
    /// (the LAME tag's delay and padding honoured) and level.
    #[test]
    fn an_encoded_tone_decodes_to_the_same_length() {
        let rate = 44_100;
        let tone: Vec<f32> = (0..rate * 2)
            .flat_map(|i| {
                let x = 0.5 * (i as f32 * 440.0 * std::f32::consts::TAU / rate as f32).sin();
                [x, x]
            })
            .collect();
        let mut w = Mp3Writer::new(std::io::Cursor::new(Vec::new()), rate, 2, 192).unwrap();
        w.write(&tone).unwrap();
        let bytes = w.finish().unwrap().into_inner();
        let audio = crate::audio::decode_bytes(bytes, Some("mp3")).unwrap();
        assert_eq!(audio.sample_rate, 44_100);
        assert_eq!(audio.frames(), rate as usize * 2);
        let peak = audio.samples.iter().fold(0f32, |m, s| m.max(s.abs()));
        assert!((0.45..0.56).contains(&peak), "peak {peak}");
    }

    #[test]
    fn rates_and_bitrates_mp3_cannot_hold_are_handled() {
        assert_eq!(output_rate(96_000), 48_000);
        assert_eq!(output_rate(88_200), 44_100);
        assert_eq!(output_rate(22_050), 44_100);
        assert_eq!(output_rate(16_000), 48_000);
        let cur = || std::io::Cursor::new(Vec::new());
        assert!(matches!(
            Mp3Writer::new(cur(), 44_100, 6, 320),
            Err(Mp3Error::Channels(6))
        ));
        assert!(matches!(
            Mp3Writer::new(cur(), 44_100, 2, 300),
            Err(Mp3Error::Bitrate(300))
        ));
        // 96 kHz in, 48 kHz out.
        let mut w = Mp3Writer::new(cur(), 96_000, 1, 128).unwrap();
        w.write(&vec![0.1; 96_000]).unwrap();
        let audio =
            crate::audio::decode_bytes(w.finish().unwrap().into_inner(), Some("mp3")).unwrap();
        assert_eq!(audio.sample_rate, 48_000);
        assert!(
            (47_000..=49_000).contains(&audio.frames()),
            "{}",
            audio.frames()
        );
    }
}
