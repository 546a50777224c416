//! Streaming decoder over symphonia.
//!
//! [`AudioReader`] opens a file or an in-memory buffer, picks the first track
//! with a known codec, and yields interleaved `f32` samples one packet at a
//! time. [`decode_file`] and [`decode_bytes`] collect a whole recording.
//!
//! # Robustness
//!
//! * A packet that fails to decode is skipped and counted
//!   ([`AudioReader::skipped_packets`]), as symphonia's own player does. If
//!   no packet at all decodes, the stream is reported as corrupt.
//! * `ResetRequired` re-creates the decoder and carries on.
//! * A change of channel count or sample rate mid-stream is an
//!   [`AudioError::StreamChanged`] error.
//! * For lossless codecs (PCM, FLAC, ALAC, WavPack) whose container states
//!   the length, a stream that ends more than 64 frames early is reported as
//!   [`AudioError::Corrupt`] *at the end*: every decodable sample has been
//!   delivered by then, so a caller that tolerates truncation can stop at
//!   that error and keep what it has. Lossy streams are not checked (their
//!   stated lengths are estimates; e.g. symphonia 0.5 does not trim AAC
//!   priming/padding in MP4, so AAC decodes slightly longer than stated).
//! * symphonia 0.5 can panic on some malformed inputs (index arithmetic in
//!   demuxers and decoders). [`AudioReader::open`] and
//!   [`AudioReader::read_chunk`] run symphonia under
//!   [`std::panic::catch_unwind`] and turn a panic into
//!   [`AudioError::Corrupt`]; like after any other error, the reader is
//!   stopped (every later call returns an error). The process's panic hook still runs, so a
//!   message may appear on stderr. This does not help with `panic = "abort"`
//!   builds.
//! * symphonia 0.5 sizes some allocations from header fields. An allocation
//!   that fails aborts the process and cannot be caught. The worst case
//!   found, MP4 sample tables whose entry counts exceed their box (one
//!   corrupted `stsc` count asks for 64 GiB), is checked before symphonia
//!   sees the file (see `mp4_tables_fit`). Other containers are not
//!   pre-checked; to contain a hostile file completely, decode in a child
//!   process.

use std::fs::File;
use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use symphonia::core::audio::{AudioBufferRef, SampleBuffer};
use symphonia::core::codecs::{self, CodecType, Decoder, DecoderOptions, CODEC_TYPE_NULL};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::{FormatOptions, FormatReader, Track};
use symphonia::core::io::{MediaSource, MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

use super::{Audio, AudioError, AudioSpec, Result, SampleFormat};

/// Missing frames at the end of a lossless stream that are not reported as
/// truncation (see [`AudioReader::read_chunk`]).
const TRUNCATION_TOLERANCE: u64 = 64;

/// A streaming decoder producing interleaved `f32` samples.
///
/// ```no_run
/// # use std::path::Path;
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use earmark::audio::AudioReader;
/// let mut reader = AudioReader::open(Path::new("in.mp3"))?;
/// let spec = reader.spec().clone();
/// let mut buf = Vec::new();
/// while reader.read_chunk(&mut buf)? > 0 {
///     // `buf` holds the next packet: frames * spec.channels samples.
/// }
/// # Ok(()) }
/// ```
pub struct AudioReader {
    format: Box<dyn FormatReader>,
    decoder: Box<dyn Decoder>,
    track_id: u32,
    codec_type: CodecType,
    spec: AudioSpec,
    /// Conversion buffer, re-created only when a packet outgrows it.
    sample_buf: Option<SampleBuffer<f32>>,
    /// Samples of the first packet, decoded by `open` to learn the spec.
    pending: Vec<f32>,
    has_pending: bool,
    frames_decoded: u64,
    /// Frames handed out by `read_chunk` so far.
    frames_out: u64,
    /// The true length of an AIFF stream (from `COMM`): symphonia 0.5 reads
    /// 8 bytes past the end of `SSND`, which turns the start of a following
    /// chunk (an `ID3 ` tag, say) into a loud click. Output stops here.
    frame_limit: Option<u64>,
    skipped: u64,
    last_skip: Option<String>,
    /// The feature, if the most recent skip was an "unsupported" decode error.
    last_skip_unsupported: Option<String>,
    /// Whether more packets may be read.
    state: State,
}

#[derive(Debug, Clone, PartialEq)]
enum State {
    Running,
    /// The end was reached; `read_chunk` returns 0.
    Ended,
    /// An error (or a panic inside symphonia) stopped the reader;
    /// `read_chunk` returns `Corrupt` with this message.
    Poisoned(String),
}

impl std::fmt::Debug for AudioReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AudioReader")
            .field("spec", &self.spec)
            .field("track_id", &self.track_id)
            .field("frames_decoded", &self.frames_decoded)
            .field("skipped", &self.skipped)
            .finish_non_exhaustive()
    }
}

impl AudioReader {
    /// Opens and probes a file; the extension is used as a format hint.
    ///
    /// Decodes the first packet to learn the exact stream parameters, so a
    /// stream without any decodable sample fails here
    /// ([`AudioError::ZeroLength`] or [`AudioError::Corrupt`]).
    ///
    /// The error carries no path; add it when reporting.
    pub fn open(path: &Path) -> Result<AudioReader> {
        let file = File::open(path).map_err(AudioError::Read)?;
        let meta = file.metadata().map_err(AudioError::Read)?;
        if meta.is_dir() {
            return Err(AudioError::Read(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "is a directory",
            )));
        }
        if meta.len() == 0 {
            return Err(AudioError::Empty);
        }
        let ext = path.extension().and_then(|e| e.to_str());
        let mut head = [0u8; 64];
        let n = {
            use std::io::{Seek, SeekFrom};
            let mut f = &file;
            let n = super::read_up_to(&mut f, &mut head)?;
            f.seek(SeekFrom::Start(0)).map_err(AudioError::Read)?;
            n
        };
        Self::open_source(Box::new(file), ext, &head[..n])
    }

    /// Decodes from bytes in memory (e.g. the output of an attack), with an
    /// optional extension hint such as `"mp3"`.
    pub fn from_bytes(bytes: Vec<u8>, ext_hint: Option<&str>) -> Result<AudioReader> {
        if bytes.is_empty() {
            return Err(AudioError::Empty);
        }
        let head: Vec<u8> = bytes.iter().take(64).copied().collect();
        Self::open_source(Box::new(Cursor::new(bytes)), ext_hint, &head)
    }

    fn open_source(
        source: Box<dyn MediaSource>,
        ext: Option<&str>,
        head: &[u8],
    ) -> Result<AudioReader> {
        let result = match catch_unwind(AssertUnwindSafe(|| Self::open_inner(source, ext, head))) {
            Ok(r) => r,
            Err(payload) => Err(AudioError::Corrupt(panic_message(&*payload))),
        };
        match result {
            // symphonia's probe scans up to 1 MiB for a container marker, so
            // arbitrary bytes often "match" a stray MP3/ADTS sync word and
            // then fail. Input that does not start like any container
            // symphonia reads is reported as not audio.
            Err(
                AudioError::Corrupt(_)
                | AudioError::NoTrack
                | AudioError::ZeroLength
                | AudioError::UnsupportedCodec(_),
            ) if !has_known_magic(head) => Err(AudioError::NotAudio),
            other => other,
        }
    }

    fn open_inner(
        mut source: Box<dyn MediaSource>,
        ext: Option<&str>,
        head: &[u8],
    ) -> Result<AudioReader> {
        if is_mp4(head) {
            mp4_tables_fit(&mut source)?;
        }
        let aiff_frames = if is_aiff(head) {
            aiff_sample_frames(&mut source)?
        } else {
            None
        };
        let mut hint = Hint::new();
        if let Some(ext) = ext {
            hint.with_extension(ext);
        }
        let mss = MediaSourceStream::new(source, MediaSourceStreamOptions::default());
        let format_opts = FormatOptions {
            enable_gapless: true,
            ..Default::default()
        };
        let probed = symphonia::default::get_probe()
            .format(&hint, mss, &format_opts, &MetadataOptions::default())
            .map_err(|e| probe_error(e, head))?;
        let format = probed.format;
        let track = first_track(format.tracks()).ok_or(AudioError::NoTrack)?;
        let track_id = track.id;
        let params = track.codec_params.clone();
        let decoder = make_decoder(track)?;
        let codec = codec_name(params.codec);

        let mut reader = AudioReader {
            format,
            decoder,
            track_id,
            codec_type: params.codec,
            spec: AudioSpec {
                sample_rate: params.sample_rate.unwrap_or(0),
                channels: params.channels.map_or(0, |c| c.count() as u16),
                sample_format: SampleFormat::F32,
                frames: params.n_frames,
                codec,
            },
            sample_buf: None,
            pending: Vec::new(),
            has_pending: false,
            frames_decoded: 0,
            frames_out: 0,
            frame_limit: None,
            skipped: 0,
            last_skip: None,
            last_skip_unsupported: None,
            state: State::Running,
        };

        // Decode the first packet: its buffer is the authority on channels,
        // rate and sample type.
        let mut first = Vec::new();
        let mut decoded_format = None;
        let n = reader.decode_next(&mut first, Some(&mut decoded_format))?;
        if n == 0 {
            return Err(reader.nothing_decoded_error());
        }
        reader.spec.sample_format =
            pick_sample_format(&params, decoded_format.unwrap_or(DecodedKind::Float));
        if let Some(frames) = aiff_frames {
            reader.frame_limit = Some(frames);
            reader.spec.frames = Some(frames);
        }
        reader.pending = first;
        reader.has_pending = true;
        Ok(reader)
    }

    /// The stream parameters.
    pub fn spec(&self) -> &AudioSpec {
        &self.spec
    }

    /// Packets skipped because they failed to decode.
    pub fn skipped_packets(&self) -> u64 {
        self.skipped
    }

    /// Why the most recent packet was skipped, if any was.
    pub fn last_skip_reason(&self) -> Option<&str> {
        self.last_skip.as_deref()
    }

    /// Frames delivered so far (including the packet decoded by `open`).
    pub fn frames_decoded(&self) -> u64 {
        self.frames_decoded
    }

    /// Clears `out` and fills it with the next decoded packet as interleaved
    /// `f32`; returns the number of frames (samples per channel) in it, or 0
    /// at the end of the stream (after which it keeps returning 0).
    ///
    /// A lossless stream that ends well short of its stated length returns
    /// [`AudioError::Corrupt`] instead of the final 0 (see the module docs).
    /// After any error the reader is stopped: later calls return
    /// [`AudioError::Corrupt`] naming the first error.
    ///
    /// Once `out` and the internal conversion buffer have grown to the
    /// largest packet, no further allocation happens here (symphonia's
    /// demuxers still allocate each packet's compressed bytes).
    pub fn read_chunk(&mut self, out: &mut Vec<f32>) -> Result<usize> {
        let mut n = self.read_chunk_raw(out)?;
        if let Some(limit) = self.frame_limit {
            let left = limit.saturating_sub(self.frames_out) as usize;
            if n > left {
                n = left;
                out.truncate(n * usize::from(self.spec.channels));
            }
        }
        self.frames_out += n as u64;
        Ok(n)
    }

    fn read_chunk_raw(&mut self, out: &mut Vec<f32>) -> Result<usize> {
        out.clear();
        match &self.state {
            State::Poisoned(msg) => return Err(AudioError::Corrupt(msg.clone())),
            State::Ended => return Ok(0),
            State::Running => {}
        }
        if self.has_pending {
            self.has_pending = false;
            std::mem::swap(out, &mut self.pending);
            return Ok(out.len() / usize::from(self.spec.channels));
        }
        let result = match catch_unwind(AssertUnwindSafe(|| self.decode_next(out, None))) {
            Ok(Ok(0)) => {
                self.state = State::Ended;
                self.check_complete().map(|()| 0)
            }
            Ok(r) => r,
            Err(payload) => {
                let msg = panic_message(&*payload);
                self.state = State::Poisoned(msg.clone());
                Err(AudioError::Corrupt(msg))
            }
        };
        if let Err(e) = &result {
            out.clear();
            if !matches!(self.state, State::Poisoned(_)) {
                self.state =
                    State::Poisoned(format!("reader stopped after an earlier error ({e})"));
            }
        }
        result
    }

    /// At the end of a lossless stream with a stated length, reports a short
    /// stream. A shortfall of up to [`TRUNCATION_TOLERANCE`] frames is
    /// ignored: symphonia 0.5's AIFF reader overstates the length by the
    /// 8-byte `SSND` offset/block-size header.
    fn check_complete(&self) -> Result<()> {
        if let Some(expected) = self.spec.frames {
            if is_lossless(self.codec_type) && self.frames_decoded + TRUNCATION_TOLERANCE < expected
            {
                return Err(AudioError::Corrupt(format!(
                    "stream ended after {} of {} frames",
                    self.frames_decoded, expected
                )));
            }
        }
        Ok(())
    }

    /// The error for a stream that produced no samples at all.
    fn nothing_decoded_error(&self) -> AudioError {
        if let Some(feature) = &self.last_skip_unsupported {
            return AudioError::UnsupportedCodec(format!("{} ({feature})", self.spec.codec));
        }
        match &self.last_skip {
            Some(reason) => AudioError::Corrupt(format!(
                "no packet could be decoded ({} skipped, last: {reason})",
                self.skipped
            )),
            None => AudioError::ZeroLength,
        }
    }

    /// Decodes packets until one yields samples; appends them to `out` and
    /// returns its frame count (0 at the end of the stream).
    fn decode_next(
        &mut self,
        out: &mut Vec<f32>,
        mut kind: Option<&mut Option<DecodedKind>>,
    ) -> Result<usize> {
        loop {
            let packet = match self.format.next_packet() {
                Ok(p) => p,
                Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return Ok(0);
                }
                Err(SymError::ResetRequired) => {
                    self.reset_decoder()?;
                    continue;
                }
                Err(e) => return Err(stream_error(e, &self.spec.codec)),
            };
            if packet.track_id() != self.track_id {
                continue;
            }
            let decoded = match self.decoder.decode(&packet) {
                Ok(d) => d,
                // symphonia's MP3 decoder reports a change of channel mode
                // this way (its buffer is fixed at the first frame's spec).
                Err(SymError::DecodeError(msg)) if msg.contains("signal spec") => {
                    return Err(AudioError::StreamChanged(format!(
                        "channel layout or sample rate ({msg})"
                    )));
                }
                Err(SymError::DecodeError(msg)) => {
                    self.skip(format!("malformed packet: {msg}"));
                    continue;
                }
                Err(SymError::IoError(e)) => {
                    self.skip(format!("packet cut short: {e}"));
                    continue;
                }
                Err(SymError::Unsupported(msg)) => {
                    // A corrupt packet can look like an unsupported feature;
                    // only a stream where nothing decodes is "unsupported".
                    self.skip(format!("unsupported feature: {}", one_line(msg)));
                    self.last_skip_unsupported = Some(one_line(msg));
                    continue;
                }
                Err(SymError::ResetRequired) => {
                    self.reset_decoder()?;
                    continue;
                }
                Err(e) => return Err(stream_error(e, &self.spec.codec)),
            };
            let frames = decoded.frames();
            if frames == 0 {
                continue;
            }
            let sig = *decoded.spec();
            let channels = sig.channels.count() as u16;
            if self.frames_decoded == 0 {
                // First samples: they define the stream.
                self.spec.channels = channels;
                self.spec.sample_rate = sig.rate;
            } else if channels != self.spec.channels {
                return Err(AudioError::StreamChanged(format!(
                    "channel count {} -> {}",
                    self.spec.channels, channels
                )));
            } else if sig.rate != self.spec.sample_rate {
                return Err(AudioError::StreamChanged(format!(
                    "sample rate {} -> {} hz",
                    self.spec.sample_rate, sig.rate
                )));
            }
            if let Some(k) = kind.as_deref_mut() {
                *k = Some(DecodedKind::of(&decoded));
            }
            let capacity = decoded.capacity() as u64;
            let buf = match &mut self.sample_buf {
                Some(b) if b.capacity() >= decoded.capacity() * usize::from(channels) => b,
                slot => slot.insert(SampleBuffer::new(capacity, sig)),
            };
            buf.copy_interleaved_ref(decoded);
            out.extend_from_slice(buf.samples());
            self.frames_decoded += frames as u64;
            return Ok(frames);
        }
    }

    fn skip(&mut self, reason: String) {
        self.skipped += 1;
        self.last_skip = Some(reason);
        self.last_skip_unsupported = None;
    }

    /// Re-creates the decoder after `ResetRequired` (the track list may have
    /// changed: keep our track if it still exists, else take the first).
    fn reset_decoder(&mut self) -> Result<()> {
        let tracks = self.format.tracks();
        let track = tracks
            .iter()
            .find(|t| t.id == self.track_id)
            .or_else(|| first_track(tracks))
            .ok_or(AudioError::NoTrack)?;
        self.track_id = track.id;
        self.decoder = make_decoder(track)?;
        Ok(())
    }
}

/// The kind of buffer the decoder produced for the first packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DecodedKind {
    /// Integer samples of this many bits.
    Int(u32),
    Float,
}

impl DecodedKind {
    fn of(buf: &AudioBufferRef<'_>) -> DecodedKind {
        match buf {
            AudioBufferRef::U8(_) | AudioBufferRef::S8(_) => DecodedKind::Int(8),
            AudioBufferRef::U16(_) | AudioBufferRef::S16(_) => DecodedKind::Int(16),
            AudioBufferRef::U24(_) | AudioBufferRef::S24(_) => DecodedKind::Int(24),
            AudioBufferRef::U32(_) | AudioBufferRef::S32(_) => DecodedKind::Int(32),
            AudioBufferRef::F32(_) | AudioBufferRef::F64(_) => DecodedKind::Float,
        }
    }
}

/// Maps the source to the nearest writable format (see [`SampleFormat`]).
///
/// Float buffers (float PCM and every lossy decoder) give F32. ADPCM decodes
/// to 16-bit resolution: I16. Otherwise the source bit depth is the codec's
/// stated bits per sample, or for ALAC the depth in its magic cookie (FLAC
/// and ALAC decode into 32-bit buffers whatever the depth), else the
/// buffer's width: up to 16 bits gives I16, anything wider I24.
fn pick_sample_format(params: &codecs::CodecParameters, kind: DecodedKind) -> SampleFormat {
    let width = match kind {
        DecodedKind::Float => return SampleFormat::F32,
        DecodedKind::Int(width) => width,
    };
    if codec_name(params.codec).starts_with("adpcm") {
        return SampleFormat::I16;
    }
    let bits = params
        .bits_per_sample
        .or_else(|| alac_bit_depth(params))
        .unwrap_or(width);
    if bits <= 16 {
        SampleFormat::I16
    } else {
        SampleFormat::I24
    }
}

/// Bit depth from an ALAC magic cookie (24 or 48 bytes; byte 5).
fn alac_bit_depth(params: &codecs::CodecParameters) -> Option<u32> {
    if params.codec != codecs::CODEC_TYPE_ALAC {
        return None;
    }
    let cookie = params.extra_data.as_deref()?;
    match cookie.len() {
        24 | 48 => Some(u32::from(cookie[5])).filter(|&b| b > 0),
        _ => None,
    }
}

/// The first track with a non-null codec.
pub(super) fn first_track(tracks: &[Track]) -> Option<&Track> {
    tracks
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
}

fn make_decoder(track: &Track) -> Result<Box<dyn Decoder>> {
    let codecs = symphonia::default::get_codecs();
    codecs
        .make(&track.codec_params, &DecoderOptions::default())
        .map_err(|e| match e {
            // No decoder for this codec at all: just its name.
            SymError::Unsupported(_) if codecs.get_codec(track.codec_params.codec).is_none() => {
                AudioError::UnsupportedCodec(codec_name(track.codec_params.codec))
            }
            // A decoder exists but rejects this stream's setup.
            SymError::Unsupported(msg) => AudioError::UnsupportedCodec(format!(
                "{} ({})",
                codec_name(track.codec_params.codec),
                one_line(msg)
            )),
            other => stream_error(other, &codec_name(track.codec_params.codec)),
        })
}

/// Maps a probe failure; `head` is the first bytes of the input.
pub(super) fn probe_error(e: SymError, head: &[u8]) -> AudioError {
    match e {
        SymError::Unsupported(msg) if msg.contains("no suitable format reader") => {
            AudioError::NotAudio
        }
        // A recognised container with an unsupported variant ("wav:
        // unsupported wave format") versus one whose structure is broken
        // ("mkv: invalid ebml file", "wav: missing data chunk").
        SymError::Unsupported(msg) if msg.contains("unsupported") => {
            AudioError::UnsupportedCodec(one_line(msg))
        }
        SymError::Unsupported(msg) => AudioError::Corrupt(one_line(msg)),
        // The probe scans for container markers and can run out of bytes
        // while doing so ("not audio"); a matched container whose header is
        // cut short fails the same way. Tell them apart by the magic at the
        // start of the input.
        SymError::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            if flac_declares_no_frames(head) {
                AudioError::ZeroLength
            } else if has_known_magic(head) {
                AudioError::Corrupt("header cut short".into())
            } else {
                AudioError::NotAudio
            }
        }
        other => stream_error(other, "unknown"),
    }
}

/// Maps a fatal symphonia error during demuxing or decoding.
pub(super) fn stream_error(e: SymError, codec: &str) -> AudioError {
    match e {
        SymError::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            AudioError::Corrupt("unexpected end of stream".into())
        }
        // symphonia reports bitstream errors as synthetic io::Errors; only
        // errors from the operating system are real read failures.
        SymError::IoError(e) if e.raw_os_error().is_some() => AudioError::Read(e),
        SymError::IoError(e) => AudioError::Corrupt(one_line(&e.to_string())),
        SymError::DecodeError(msg) => AudioError::Corrupt(msg.to_string()),
        SymError::Unsupported(msg) => {
            AudioError::UnsupportedCodec(format!("{codec} ({})", one_line(msg)))
        }
        SymError::LimitError(msg) => AudioError::Corrupt(format!("limit reached: {msg}")),
        SymError::SeekError(_) => AudioError::Corrupt("unexpected seek error".into()),
        SymError::ResetRequired => AudioError::Corrupt("unexpected decoder reset".into()),
    }
}

/// True if `head` starts like a container symphonia reads.
fn has_known_magic(head: &[u8]) -> bool {
    const MAGICS: [&[u8]; 7] = [
        b"RIFF",
        b"fLaC",
        b"OggS",
        b"FORM",
        b"ID3",
        b"caff",
        &[0x1a, 0x45, 0xdf, 0xa3],
    ];
    MAGICS.iter().any(|m| head.starts_with(m))
        || is_mp4(head)
        || (head.len() >= 2 && head[0] == 0xff && head[1] & 0xe0 == 0xe0)
}

/// True for a FLAC header whose STREAMINFO states 0 total frames (a valid
/// empty FLAC file, which symphonia's reader cannot open).
fn flac_declares_no_frames(head: &[u8]) -> bool {
    // "fLaC", block header (type 0), then STREAMINFO: the 36-bit total sits
    // in the low 4 bits of byte 13 and bytes 14..18 of the block body.
    head.len() >= 8 + 18
        && head.starts_with(b"fLaC")
        && head[4] & 0x7f == 0
        && head[8 + 13] & 0x0f == 0
        && head[8 + 14..8 + 18].iter().all(|&b| b == 0)
}

/// True if `head` looks like an ISO-BMFF (MP4/M4A/MOV) file.
pub(super) fn is_aiff(head: &[u8]) -> bool {
    head.len() >= 12 && &head[0..4] == b"FORM" && matches!(&head[8..12], b"AIFF" | b"AIFC")
}

/// `numSampleFrames` from an AIFF file's `COMM` chunk (then rewinds).
fn aiff_sample_frames<R: std::io::Read + std::io::Seek + ?Sized>(r: &mut R) -> Result<Option<u64>> {
    use std::io::SeekFrom;
    let len = r.seek(SeekFrom::End(0)).map_err(AudioError::Read)?;
    let mut at = 12u64;
    let mut found = None;
    while at + 8 <= len {
        r.seek(SeekFrom::Start(at)).map_err(AudioError::Read)?;
        let mut h = [0u8; 14];
        let n = r.read(&mut h).map_err(AudioError::Read)?;
        if n < 8 {
            break;
        }
        let size = u64::from(u32::from_be_bytes([h[4], h[5], h[6], h[7]]));
        if &h[0..4] == b"COMM" && n >= 14 {
            found = Some(u64::from(u32::from_be_bytes([h[10], h[11], h[12], h[13]])));
            break;
        }
        at += 8 + size + (size & 1);
    }
    r.seek(SeekFrom::Start(0)).map_err(AudioError::Read)?;
    Ok(found)
}

pub(super) fn is_mp4(head: &[u8]) -> bool {
    matches!(
        head.get(4..8),
        Some(b"ftyp" | b"moov" | b"mdat" | b"free" | b"skip" | b"wide")
    )
}

/// Checks that every MP4 sample table (`stts`, `ctts`, `stsc`, `stsz`,
/// `stco`, `co64`) fits inside its box, so a corrupted entry count cannot
/// make symphonia attempt a giant allocation (which aborts). Rewinds the
/// source afterwards.
pub(super) fn mp4_tables_fit<R: std::io::Read + std::io::Seek + ?Sized>(r: &mut R) -> Result<()> {
    use std::io::SeekFrom;
    let len = r.seek(SeekFrom::End(0)).map_err(AudioError::Read)?;
    let result = mp4_walk(r, 0, len, 0);
    r.seek(SeekFrom::Start(0)).map_err(AudioError::Read)?;
    result
}

fn mp4_walk<R: std::io::Read + std::io::Seek + ?Sized>(
    r: &mut R,
    start: u64,
    end: u64,
    depth: u32,
) -> Result<()> {
    use std::io::SeekFrom;
    const CONTAINERS: [&[u8; 4]; 9] = [
        b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"mvex", b"moof", b"traf",
    ];
    let mut pos = start;
    while depth < 16 && pos + 8 <= end {
        r.seek(SeekFrom::Start(pos)).map_err(AudioError::Read)?;
        let mut h = [0u8; 16];
        if super::read_up_to(r, &mut h[..8])? < 8 {
            return Ok(());
        }
        let size32 = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
        let kind = [h[4], h[5], h[6], h[7]];
        let (size, header) = match size32 {
            0 => (end - pos, 8),
            1 => {
                if super::read_up_to(r, &mut h[8..16])? < 8 {
                    return Ok(());
                }
                let mut b = [0u8; 8];
                b.copy_from_slice(&h[8..16]);
                (u64::from_be_bytes(b), 16)
            }
            n => (u64::from(n), 8),
        };
        if size < header {
            // symphonia reports this itself.
            return Ok(());
        }
        // A box running past its parent (or a truncated file) is clamped.
        let box_end = pos.saturating_add(size).min(end);
        let body = pos + header;
        if CONTAINERS.contains(&&kind) {
            mp4_walk(r, body, box_end, depth + 1)?;
        } else if let Some(entry) = mp4_table_entry(&kind) {
            // version/flags, [stsz: sample size], entry count.
            let mut t = [0u8; 12];
            let got = super::read_up_to(r, &mut t)?;
            let (constant_size, count_at) = if &kind == b"stsz" {
                (got >= 8 && t[4..8] != [0; 4], 8)
            } else {
                (false, 4)
            };
            if got >= count_at + 4 && !constant_size {
                let c = &t[count_at..count_at + 4];
                let count = u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
                let room = box_end.saturating_sub(body + count_at as u64 + 4);
                if count * entry > room {
                    return Err(AudioError::Corrupt(format!(
                        "mp4: {} table claims {count} entries but its box holds at most {}",
                        String::from_utf8_lossy(&kind),
                        room / entry
                    )));
                }
            }
        }
        pos = box_end;
    }
    Ok(())
}

/// Entry size in bytes of the MP4 sample tables symphonia preallocates.
fn mp4_table_entry(kind: &[u8; 4]) -> Option<u64> {
    match kind {
        b"stts" | b"ctts" | b"co64" => Some(8),
        b"stsc" => Some(12),
        b"stsz" | b"stco" => Some(4),
        _ => None,
    }
}

/// Keeps a symphonia message on one line.
fn one_line(msg: &str) -> String {
    msg.trim().replace('\n', " ")
}

/// True for codecs whose container length is exact (used to detect
/// truncation).
fn is_lossless(codec: CodecType) -> bool {
    use symphonia::core::codecs::*;
    codec == CODEC_TYPE_FLAC
        || codec == CODEC_TYPE_ALAC
        || codec == CODEC_TYPE_WAVPACK
        || codec_name(codec).starts_with("pcm_")
}

/// Short codec name: the registry's, or a fixed name for known codecs that
/// have no decoder here.
pub(super) fn codec_name(codec: CodecType) -> String {
    use symphonia::core::codecs::*;
    if let Some(d) = symphonia::default::get_codecs().get_codec(codec) {
        return d.short_name.to_string();
    }
    let name = match codec {
        CODEC_TYPE_NULL => "none",
        CODEC_TYPE_OPUS => "opus",
        CODEC_TYPE_SPEEX => "speex",
        CODEC_TYPE_MUSEPACK => "musepack",
        CODEC_TYPE_ATRAC1 => "atrac1",
        CODEC_TYPE_ATRAC3 => "atrac3",
        CODEC_TYPE_ATRAC3PLUS => "atrac3plus",
        CODEC_TYPE_ATRAC9 => "atrac9",
        CODEC_TYPE_EAC3 => "eac3",
        CODEC_TYPE_AC4 => "ac4",
        CODEC_TYPE_DCA => "dts",
        CODEC_TYPE_WMA => "wma",
        CODEC_TYPE_WAVPACK => "wavpack",
        CODEC_TYPE_MONKEYS_AUDIO => "ape",
        CODEC_TYPE_TTA => "tta",
        CODEC_TYPE_ADPCM_G722 => "adpcm_g722",
        CODEC_TYPE_ADPCM_G726 => "adpcm_g726",
        CODEC_TYPE_ADPCM_G726LE => "adpcm_g726le",
        CODEC_TYPE_MP1 => "mp1",
        CODEC_TYPE_MP2 => "mp2",
        CODEC_TYPE_MP3 => "mp3",
        CODEC_TYPE_AAC => "aac",
        CODEC_TYPE_VORBIS => "vorbis",
        CODEC_TYPE_FLAC => "flac",
        CODEC_TYPE_ALAC => "alac",
        other => return format!("codec {other}"),
    };
    name.to_string()
}

/// Text of a caught panic, for [`AudioError::Corrupt`].
pub(super) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    let detail = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    format!(
        "decoder panicked on malformed input: {}",
        detail.replace('\n', " ")
    )
}

/// Decodes a whole file into memory.
///
/// The error carries no path; add it when reporting.
pub fn decode_file(path: &Path) -> Result<Audio> {
    collect(AudioReader::open(path)?)
}

/// Decodes a whole in-memory file (see [`AudioReader::from_bytes`]).
pub fn decode_bytes(bytes: Vec<u8>, ext_hint: Option<&str>) -> Result<Audio> {
    collect(AudioReader::from_bytes(bytes, ext_hint)?)
}

fn collect(mut reader: AudioReader) -> Result<Audio> {
    let spec = reader.spec().clone();
    // Trust the stated length only up to a sane bound (a corrupt header must
    // not trigger a huge allocation).
    let hint = spec
        .frames
        .unwrap_or(0)
        .saturating_mul(u64::from(spec.channels));
    let mut samples = Vec::with_capacity(hint.min(1 << 26) as usize);
    let mut chunk = Vec::new();
    while reader.read_chunk(&mut chunk)? > 0 {
        samples.extend_from_slice(&chunk);
    }
    if samples.is_empty() {
        return Err(AudioError::ZeroLength);
    }
    Ok(Audio {
        samples,
        sample_rate: spec.sample_rate,
        channels: spec.channels,
    })
}
