//! The digest of a file's *encoded* audio: every compressed packet of its
//! audio track, in order, exactly as the container stores it (for WAV and
//! AIFF: the bytes of the sample chunk).
//!
//! Tag edits (ID3, Vorbis comments, MP4 `ilst`, RIFF chunks) never change
//! these bytes, so the digest proves that `earmark tag` left the audio alone
//! and lets a manifest signed for a lossy file be checked without depending
//! on any decoder's output. [`stream_digest`] demuxes without decoding; the
//! decoder computes the same digest on the way when asked to (see
//! `AudioReader`'s read options), so `verify` reads a file once.

use super::decode::{
    codec_name, first_track, panic_message, probe_format, stream_error, EncodedDigest,
};
use super::pcm_file::{self, PcmFile};
use super::{AudioError, Result};
use std::io::{Seek, SeekFrom};
use std::path::Path;
use symphonia::core::errors::Error as SymError;
use symphonia::core::io::MediaSource;

/// What [`stream_digest`] measured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamDigest {
    /// SHA-256 over the packets' bytes, concatenated in stream order.
    pub sha256: [u8; 32],
    /// Number of packets (1 for a PCM file's sample chunk).
    pub packets: u64,
    /// Total duration of the packets in frames (before any gapless trimming).
    pub frames: u64,
    /// Sample rate, Hz (0 when the container does not say).
    pub sample_rate: u32,
    /// Channels (0 when the container does not say).
    pub channels: u16,
    /// Short codec name, e.g. `"mp3"`, `"opus"`.
    pub codec: String,
}

/// Hashes the encoded audio packets of the first audio track of `path`.
pub fn stream_digest(path: &Path) -> Result<StreamDigest> {
    let file = std::fs::File::open(path).map_err(AudioError::Read)?;
    let ext = path.extension().and_then(|e| e.to_str());
    stream_digest_of(Box::new(file), ext)
}

/// [`stream_digest`] of any seekable stream (read from its start).
pub(crate) fn stream_digest_of(
    mut source: Box<dyn MediaSource>,
    ext: Option<&str>,
) -> Result<StreamDigest> {
    source.seek(SeekFrom::Start(0)).map_err(AudioError::Read)?;
    let mut head = [0u8; 64];
    let n = crate::container::read_up_to(&mut source, &mut head).map_err(AudioError::Read)?;
    if n == 0 {
        return Err(AudioError::Empty);
    }
    source.seek(SeekFrom::Start(0)).map_err(AudioError::Read)?;
    if let Some(layout) = pcm_file::probe(&mut source)? {
        // WAV/AIFF: the sample chunk itself.
        let mut pcm = PcmFile::new(source, layout)?;
        pcm.hash_raw();
        let mut buf = Vec::new();
        while pcm.read_chunk(&mut buf)? > 0 {}
        return pcm.raw_digest().ok_or(AudioError::NoTrack);
    }
    let head = head[..n].to_vec();
    match crate::error::catch_quietly(|| digest_packets(source, ext, &head)) {
        Ok(r) => r,
        Err(payload) => Err(AudioError::Corrupt(panic_message(&*payload))),
    }
}

fn digest_packets(
    source: Box<dyn MediaSource>,
    ext: Option<&str>,
    head: &[u8],
) -> Result<StreamDigest> {
    let mut format = probe_format(source, ext, head, false)?;
    let track = first_track(format.tracks()).ok_or(AudioError::NoTrack)?;
    let (track_id, params) = (track.id, track.codec_params.clone());
    let codec = codec_name(params.codec);
    let mut digest = EncodedDigest::default();
    loop {
        match format.next_packet() {
            Ok(p) if p.track_id() == track_id => digest.update(&p),
            Ok(_) => {}
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(SymError::ResetRequired) => break,
            Err(e) => return Err(stream_error(e, &codec)),
        }
    }
    if digest.packets() == 0 {
        return Err(AudioError::ZeroLength);
    }
    Ok(digest.finish(&params))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::decode::ReadOptions;
    use crate::audio::AudioReader;

    /// The digest the decoder computes on the way (gapless trimming on)
    /// equals the demux-only one (off): trimming never changes packets.
    #[test]
    fn decoding_and_demuxing_give_the_same_digest() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("test-audio");
        for name in [
            "formats/mp3-stereo-44100.mp3",
            "formats/aac-stereo-44100.m4a",
            "formats/alac-stereo-44100.m4a",
            "formats/vorbis-mono-22050.ogg",
            "formats/flac24-6ch-48000.flac",
            "formats/pcm16-stereo-44100.aiff",
            "tagged/tagged.wav",
            "tagged/id3v23-art.mp3",
        ] {
            let path = dir.join(name);
            let alone = stream_digest(&path).unwrap();
            let bytes = std::fs::read(&path).unwrap();
            let mut r = AudioReader::with_options(
                Box::new(std::io::Cursor::new(bytes)),
                None,
                ReadOptions { hash_encoded: true },
            )
            .unwrap();
            let mut buf = Vec::new();
            while r.read_chunk(&mut buf).unwrap() > 0 {}
            assert_eq!(r.encoded_digest().unwrap(), alone, "{name}");
        }
    }
}
