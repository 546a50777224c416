//! The digest of a file's *encoded* audio: every compressed packet of its
//! audio track, in order, exactly as the container stores it.
//!
//! Tag edits (ID3, Vorbis comments, MP4 `ilst`, RIFF chunks) never change
//! these bytes, so the digest proves that `earmark tag` left the audio alone
//! and lets a manifest signed for a lossy file be checked without depending
//! on any decoder's output. Nothing is decoded.

use super::decode::{
    codec_name, first_track, is_mp4, mp4_tables_fit, panic_message, probe_error, stream_error,
};
use super::{AudioError, Result};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::Read;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

/// What [`stream_digest`] measured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamDigest {
    /// SHA-256 over the packets' bytes, concatenated in stream order.
    pub sha256: [u8; 32],
    /// Number of packets.
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
    let mut file = File::open(path).map_err(AudioError::Read)?;
    let mut head = [0u8; 64];
    let n = file.read(&mut head).map_err(AudioError::Read)?;
    if n == 0 {
        return Err(AudioError::Empty);
    }
    let file = File::open(path).map_err(AudioError::Read)?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_string);
    match catch_unwind(AssertUnwindSafe(|| {
        digest_inner(file, path, ext.as_deref(), &head[..n])
    })) {
        Ok(r) => r,
        Err(payload) => Err(AudioError::Corrupt(panic_message(&*payload))),
    }
}

fn digest_inner(file: File, path: &Path, ext: Option<&str>, head: &[u8]) -> Result<StreamDigest> {
    let mut source: Box<dyn symphonia::core::io::MediaSource> = Box::new(file);
    if is_mp4(head) {
        mp4_tables_fit(&mut source)?;
    }
    let mut hint = Hint::new();
    if let Some(ext) = ext {
        hint.with_extension(ext);
    }
    let mss = MediaSourceStream::new(source, MediaSourceStreamOptions::default());
    let probed = symphonia::default::get_probe()
        .format(
            &hint,
            mss,
            &FormatOptions::default(),
            &MetadataOptions::default(),
        )
        .map_err(|e| probe_error(e, head))?;
    let mut format = probed.format;
    let track = first_track(format.tracks()).ok_or(AudioError::NoTrack)?;
    let (track_id, params) = (track.id, track.codec_params.clone());
    let codec = codec_name(params.codec);
    let mut hasher = Sha256::new();
    let (mut packets, mut frames) = (0u64, 0u64);
    if let Some(d) = pcm_chunk_digest(path, head)? {
        // WAV/AIFF: the sample chunk itself (symphonia's AIFF reader runs
        // 8 bytes past `SSND`, into whatever chunk follows).
        return Ok(StreamDigest {
            sha256: d.0,
            packets: 1,
            frames: d.1,
            sample_rate: params.sample_rate.unwrap_or(0),
            channels: params.channels.map_or(0, |c| c.count() as u16),
            codec,
        });
    }
    loop {
        match format.next_packet() {
            Ok(p) if p.track_id() == track_id => {
                hasher.update(p.buf());
                packets += 1;
                frames += p.dur;
            }
            Ok(_) => {}
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(SymError::ResetRequired) => break,
            Err(e) => return Err(stream_error(e, &codec)),
        }
    }
    if packets == 0 {
        return Err(AudioError::ZeroLength);
    }
    Ok(StreamDigest {
        sha256: hasher.finalize().into(),
        packets,
        frames,
        sample_rate: params.sample_rate.unwrap_or(0),
        channels: params.channels.map_or(0, |c| c.count() as u16),
        codec,
    })
}

/// For WAV and AIFF, SHA-256 of the sample bytes (`data`, or `SSND` after its
/// 8-byte offset/block-size header) and the frame count (`data` length over
/// the block alignment / `COMM` frames). `None` for other containers.
fn pcm_chunk_digest(path: &Path, head: &[u8]) -> Result<Option<([u8; 32], u64)>> {
    use std::io::{Seek, SeekFrom};
    let riff = head.len() >= 12 && &head[0..4] == b"RIFF" && &head[8..12] == b"WAVE";
    let aiff =
        head.len() >= 12 && &head[0..4] == b"FORM" && matches!(&head[8..12], b"AIFF" | b"AIFC");
    if !riff && !aiff {
        return Ok(None);
    }
    let mut f = File::open(path).map_err(AudioError::Read)?;
    let len = f.seek(SeekFrom::End(0)).map_err(AudioError::Read)?;
    let size = |b: [u8; 4]| {
        u64::from(if riff {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    };
    let (mut at, mut data, mut frames, mut block) = (12u64, None, None, None);
    while at + 8 <= len {
        f.seek(SeekFrom::Start(at)).map_err(AudioError::Read)?;
        let mut h = [0u8; 24];
        let n = f.read(&mut h).map_err(AudioError::Read)?;
        if n < 8 {
            break;
        }
        let id = [h[0], h[1], h[2], h[3]];
        let sz = size([h[4], h[5], h[6], h[7]]);
        match &id {
            b"fmt " if riff && n >= 22 => {
                block = Some(u64::from(u16::from_le_bytes([h[20], h[21]])))
            }
            b"COMM" if aiff && n >= 14 => {
                frames = Some(u64::from(u32::from_be_bytes([h[10], h[11], h[12], h[13]])))
            }
            b"data" if riff => data = Some((at + 8, sz.min(len - at - 8))),
            b"SSND" if aiff => {
                let offset = u64::from(u32::from_be_bytes([h[8], h[9], h[10], h[11]]));
                let start = at + 16 + offset;
                data = Some((start, (at + 8 + sz).min(len).saturating_sub(start)))
            }
            _ => {}
        }
        at += 8 + sz + (sz & 1);
    }
    let Some((start, n)) = data else {
        return Err(AudioError::NoTrack);
    };
    let frames = frames.unwrap_or_else(|| n / block.unwrap_or(1).max(1));
    f.seek(SeekFrom::Start(start)).map_err(AudioError::Read)?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut f.take(n), &mut hasher).map_err(AudioError::Read)?;
    Ok(Some((hasher.finalize().into(), frames)))
}
