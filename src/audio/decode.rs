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
//!   sees the file (see `probe_format`), and so are the length fields of
//!   FLAC metadata blocks and Ogg comment headers (found by fuzzing
//!   `AudioReader` itself: a picture block claiming 4 GiB). symphonia's
//!   probe would find a container's magic anywhere in the first MiB; input
//!   that does not start with one is only searched for MP3 and ADTS frames,
//!   so no unchecked demuxer sees it. Other containers are not pre-checked; to contain a hostile file completely, decode in a
//!   child process.

use std::fs::File;
use std::io::Cursor;
use std::path::Path;

use symphonia::core::audio::{AudioBufferRef, SampleBuffer};
use symphonia::core::codecs::{self, CodecType, Decoder, DecoderOptions, CODEC_TYPE_NULL};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::{FormatOptions, FormatReader, Track};
use symphonia::core::io::{MediaSource, MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::{Hint, Probe};

use super::pcm_file::PcmFile;
use super::{Audio, AudioError, AudioSpec, Result, SampleFormat, StreamDigest};
use crate::container::{mp4, riff, Container};
use sha2::{Digest, Sha256};

/// Missing frames at the end of a lossless stream that are not reported as
/// truncation (see [`AudioReader::read_chunk`]).
const TRUNCATION_TOLERANCE: u64 = 64;

/// A streaming decoder producing interleaved `f32` samples.
///
/// Uncompressed WAV/RF64/AIFF are read directly (see `pcm_file`); every
/// other format goes through symphonia.
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
    inner: Inner,
    /// Another handle on the stream, to read it again from the start.
    source: SharedSource,
    /// Frames handed out so far.
    frames_out: u64,
    /// The reader stopped at an error: later calls repeat it.
    poisoned: Option<String>,
    ended: bool,
    /// NaN or infinite source samples given out as 0.
    non_finite: u64,
}

enum Inner {
    Pcm(Box<PcmFile<SharedSource>>),
    Sym(Box<SymphoniaReader>),
}

/// Anything readable and seekable that can move between threads.
pub(crate) trait ReadSeek: std::io::Read + std::io::Seek + Send {}
impl<T: std::io::Read + std::io::Seek + Send> ReadSeek for T {}

/// A seekable stream several readers can hold (one at a time reads it):
/// symphonia takes ownership of its source, and a second pass needs it
/// back.
#[derive(Clone)]
pub(crate) struct SharedSource {
    inner: std::sync::Arc<std::sync::Mutex<Box<dyn ReadSeek>>>,
    len: u64,
}

impl SharedSource {
    pub(crate) fn new(mut source: Box<dyn ReadSeek>) -> std::io::Result<SharedSource> {
        use std::io::SeekFrom;
        let len = source.seek(SeekFrom::End(0))?;
        source.seek(SeekFrom::Start(0))?;
        Ok(SharedSource {
            inner: std::sync::Arc::new(std::sync::Mutex::new(source)),
            len,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Box<dyn ReadSeek>> {
        // A panic while reading (caught by the decoder) leaves the stream
        // usable: positions are re-sought before every use.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl std::io::Read for SharedSource {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.lock().read(buf)
    }
}

impl std::io::Seek for SharedSource {
    fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
        self.lock().seek(pos)
    }
}

impl MediaSource for SharedSource {
    fn is_seekable(&self) -> bool {
        true
    }

    fn byte_len(&self) -> Option<u64> {
        Some(self.len)
    }
}

/// How to read a stream.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ReadOptions {
    /// Also hash the encoded audio (every packet of the track, or a PCM
    /// file's sample bytes) while decoding: see [`super::stream_digest`].
    pub hash_encoded: bool,
}

/// The symphonia decode loop.
struct SymphoniaReader {
    format: Box<dyn FormatReader>,
    /// The track's codec parameters.
    params: codecs::CodecParameters,
    /// The encoded packets' digest, when asked for.
    encoded: Option<EncodedDigest>,
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
            .field("spec", &self.spec())
            .field("frames_out", &self.frames_out)
            .field("skipped", &self.skipped_packets())
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
        let ext = path.extension().and_then(|e| e.to_str());
        Self::with_options(Box::new(file), ext, ReadOptions::default())
    }

    /// Decodes from bytes in memory, with an optional extension hint such
    /// as `"mp3"`.
    pub fn from_bytes(bytes: Vec<u8>, ext_hint: Option<&str>) -> Result<AudioReader> {
        Self::with_options(
            Box::new(Cursor::new(bytes)),
            ext_hint,
            ReadOptions::default(),
        )
    }

    /// Decodes from any seekable stream (a file, a `Cursor` over bytes),
    /// with an optional extension hint such as `"mp3"`.
    pub fn new<R>(source: R, ext_hint: Option<&str>) -> Result<AudioReader>
    where
        R: std::io::Read + std::io::Seek + Send + 'static,
    {
        Self::with_options(Box::new(source), ext_hint, ReadOptions::default())
    }

    /// Opens `source` (from its start) with `options`.
    pub(crate) fn with_options<R>(
        source: Box<R>,
        ext: Option<&str>,
        options: ReadOptions,
    ) -> Result<AudioReader>
    where
        R: std::io::Read + std::io::Seek + Send + 'static,
    {
        let source = SharedSource::new(source).map_err(AudioError::Read)?;
        Self::open_shared(source, ext, options)
    }

    pub(crate) fn open_shared(
        mut source: SharedSource,
        ext: Option<&str>,
        options: ReadOptions,
    ) -> Result<AudioReader> {
        use std::io::{Seek, SeekFrom};
        source.seek(SeekFrom::Start(0)).map_err(AudioError::Read)?;
        if source.len == 0 {
            return Err(AudioError::Empty);
        }
        let handle = source.clone();
        let inner = match super::pcm_file::probe(&mut source)? {
            Some(layout) if layout.frames() > 0 => {
                let mut pcm = PcmFile::new(source, layout)?;
                if options.hash_encoded {
                    pcm.hash_raw();
                }
                Inner::Pcm(Box::new(pcm))
            }
            Some(_) => return Err(AudioError::ZeroLength),
            None => {
                let mut head = [0u8; 64];
                let n = crate::container::read_up_to(&mut source, &mut head)
                    .map_err(AudioError::Read)?;
                source.seek(SeekFrom::Start(0)).map_err(AudioError::Read)?;
                Inner::Sym(Box::new(SymphoniaReader::open_source(
                    Box::new(source),
                    ext,
                    &head[..n],
                    options,
                )?))
            }
        };
        Ok(AudioReader {
            inner,
            source: handle,
            frames_out: 0,
            poisoned: None,
            ended: false,
            non_finite: 0,
        })
    }

    /// The same stream, from its start again (for a second pass).
    pub(crate) fn rewind(self, ext: Option<&str>, options: ReadOptions) -> Result<AudioReader> {
        let source = self.source.clone();
        drop(self);
        Self::open_shared(source, ext, options)
    }

    /// The stream parameters.
    pub fn spec(&self) -> AudioSpec {
        match &self.inner {
            Inner::Pcm(p) => p.spec(),
            Inner::Sym(s) => s.spec.clone(),
        }
    }

    /// Samples that were NaN or infinite in the source (a float file) and
    /// were given out as 0.
    pub fn non_finite_samples(&self) -> u64 {
        self.non_finite
    }

    /// What the user should know about how the input was read: a header
    /// size that was not believed, NaN or infinite samples given out as 0,
    /// undecodable packets skipped.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Inner::Pcm(p) = &self.inner {
            out.extend(p.size_note().map(str::to_string));
        }
        if self.skipped_packets() > 0 {
            out.push(format!(
                "{} undecodable packets in the input were skipped",
                self.skipped_packets()
            ));
        }
        if self.non_finite > 0 {
            out.push(format!(
                "{} samples of the input were NaN or infinite; they were read as silence (0), as no file should hold them",
                self.non_finite
            ));
        }
        out
    }

    /// Packets skipped because they failed to decode.
    pub fn skipped_packets(&self) -> u64 {
        match &self.inner {
            Inner::Pcm(_) => 0,
            Inner::Sym(s) => s.skipped,
        }
    }

    /// Why the most recent packet was skipped, if any was.
    pub fn last_skip_reason(&self) -> Option<&str> {
        match &self.inner {
            Inner::Pcm(_) => None,
            Inner::Sym(s) => s.last_skip.as_deref(),
        }
    }

    /// Frames delivered so far.
    pub fn frames_decoded(&self) -> u64 {
        self.frames_out
    }

    /// The digest of the encoded audio read so far (complete once
    /// [`read_chunk`](Self::read_chunk) returned 0), when the reader was
    /// opened with [`ReadOptions::hash_encoded`].
    pub(crate) fn encoded_digest(&self) -> Option<StreamDigest> {
        match &self.inner {
            Inner::Pcm(p) => p.raw_digest(),
            Inner::Sym(s) => s.encoded.as_ref().map(|e| e.finish(&s.params)),
        }
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
        out.clear();
        if let Some(msg) = &self.poisoned {
            return Err(AudioError::Corrupt(msg.clone()));
        }
        if self.ended {
            return Ok(0);
        }
        let result = match &mut self.inner {
            Inner::Sym(s) => s.read_chunk(out),
            Inner::Pcm(p) => match p.read_chunk(out) {
                Ok(0) => match p.missing_frames() {
                    m if m > TRUNCATION_TOLERANCE => {
                        let declared = p.spec().frames.unwrap_or(0);
                        Err(AudioError::Corrupt(format!(
                            "stream ended after {} of {declared} frames",
                            declared - m
                        )))
                    }
                    _ => Ok(0),
                },
                other => other,
            },
        };
        match result {
            Ok(0) => self.ended = true,
            Ok(n) => {
                self.frames_out += n as u64;
                // A float source can hold NaN and ±Inf, which no stage
                // downstream can use (one would spread over a whole analysis
                // frame): they become silence, counted for a warning.
                if out.iter().any(|x| !x.is_finite()) {
                    for x in out.iter_mut().filter(|x| !x.is_finite()) {
                        *x = 0.0;
                        self.non_finite += 1;
                    }
                }
            }
            Err(ref e) => {
                out.clear();
                self.poisoned = Some(format!("reader stopped after an earlier error ({e})"));
            }
        }
        result
    }
}

impl SymphoniaReader {
    fn open_source(
        source: Box<dyn MediaSource>,
        ext: Option<&str>,
        head: &[u8],
        options: ReadOptions,
    ) -> Result<SymphoniaReader> {
        let result =
            match crate::error::catch_quietly(|| Self::open_inner(source, ext, head, options)) {
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
            ) if !Container::starts_like_one(head) => Err(AudioError::NotAudio),
            other => other,
        }
    }

    fn open_inner(
        mut source: Box<dyn MediaSource>,
        ext: Option<&str>,
        head: &[u8],
        options: ReadOptions,
    ) -> Result<SymphoniaReader> {
        let aiff_frames = match riff::list(&mut source) {
            Ok(chunks) if chunks.order == riff::Order::Big => {
                riff::aiff_frames(&mut source, &chunks).map_err(container_error)?
            }
            _ => None,
        };
        let format = probe_format(source, ext, head, true)?;
        let track = first_track(format.tracks()).ok_or(AudioError::NoTrack)?;
        let track_id = track.id;
        let params = track.codec_params.clone();
        let decoder = make_decoder(track)?;
        let codec = codec_name(params.codec);

        let mut reader = SymphoniaReader {
            format,
            decoder,
            track_id,
            encoded: options.hash_encoded.then(EncodedDigest::default),
            params: params.clone(),
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

    /// See [`AudioReader::read_chunk`].
    fn read_chunk(&mut self, out: &mut Vec<f32>) -> Result<usize> {
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
        let result = match crate::error::catch_quietly(|| self.decode_next(out, None)) {
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
            if let Some(e) = &mut self.encoded {
                e.update(&packet);
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

/// A stream seen from byte `start` on (a corrupt ID3v2 tag skipped).
struct After {
    inner: Box<dyn MediaSource>,
    start: u64,
}

impl After {
    fn new(mut inner: Box<dyn MediaSource>, start: u64) -> std::io::Result<After> {
        inner.seek(std::io::SeekFrom::Start(start))?;
        Ok(After { inner, start })
    }
}

impl std::io::Read for After {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf)
    }
}

impl std::io::Seek for After {
    fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
        use std::io::SeekFrom;
        let to = match pos {
            SeekFrom::Start(n) => SeekFrom::Start(self.start.saturating_add(n)),
            other => other,
        };
        let at = self.inner.seek(to)?;
        if at < self.start {
            self.inner.seek(SeekFrom::Start(self.start))?;
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "seek before the start of the stream",
            ));
        }
        Ok(at - self.start)
    }
}

impl MediaSource for After {
    fn is_seekable(&self) -> bool {
        self.inner.is_seekable()
    }

    fn byte_len(&self) -> Option<u64> {
        self.inner.byte_len().map(|n| n.saturating_sub(self.start))
    }
}

/// The first track with a non-null codec.
/// symphonia's demuxer for `source` (`head`: its first bytes; `ext`: a
/// format hint), after the MP4 sample-table guard (see the module docs).
/// `gapless` trims encoder delay and padding.
pub(super) fn probe_format(
    mut source: Box<dyn MediaSource>,
    ext: Option<&str>,
    head: &[u8],
    gapless: bool,
) -> Result<Box<dyn FormatReader>> {
    if mp4::looks_like_mp4(head) {
        mp4::tables_fit(&mut source).map_err(container_error)?;
    }
    // FLAC metadata and Ogg comment headers whose declared lengths exceed
    // their block: symphonia would allocate them (up to 4 GiB) first.
    let found = Container::of_reader(&mut source).map_err(container_error)?;
    // symphonia's probe scans up to 1 MiB for any container's magic, so
    // text or junk with "fLaC" inside would reach a FLAC demuxer that never
    // passed the check above. Only the frame-sync formats (MP3, ADTS AAC)
    // legitimately start after junk; input that does not start with a
    // container's magic is searched for those alone.
    let frame_sync = matches!(found, None | Some(Container::Mp3 | Container::Adts));
    // Their ID3v2 tag is skipped here rather than parsed by symphonia
    // (which allocates an ID3v2.3 frame's 32-bit size as declared, and
    // whose frame search could otherwise sync inside cover art): earmark
    // reads the tag's fields with its own tag reader anyway. A tag in
    // front of FLAC whose frames claim more than the tag holds is skipped
    // too.
    if let Some(start) = crate::container::id3::tag_len(head) {
        if frame_sync || crate::container::id3::check_frames(&mut source).is_err() {
            source = Box::new(After::new(source, start).map_err(AudioError::Read)?);
        }
    }
    source
        .seek(std::io::SeekFrom::Start(0))
        .map_err(AudioError::Read)?;
    let probe = if frame_sync {
        frame_sync_probe()
    } else {
        symphonia::default::get_probe()
    };
    let mut hint = Hint::new();
    if let Some(ext) = ext {
        hint.with_extension(ext);
    }
    let mss = MediaSourceStream::new(source, MediaSourceStreamOptions::default());
    let format_opts = FormatOptions {
        enable_gapless: gapless,
        ..Default::default()
    };
    let probed = probe
        .format(&hint, mss, &format_opts, &MetadataOptions::default())
        .map_err(|e| probe_error(e, head))?;
    Ok(probed.format)
}

/// A probe that knows only the frame-sync formats (MP3 and the other MPEG
/// audio layers, ADTS AAC), for input that does not start with a
/// container's magic.
fn frame_sync_probe() -> &'static Probe {
    static PROBE: std::sync::OnceLock<Probe> = std::sync::OnceLock::new();
    PROBE.get_or_init(|| {
        let mut probe = Probe::default();
        probe.register_all::<symphonia::default::formats::MpaReader>();
        probe.register_all::<symphonia::default::formats::AdtsReader>();
        probe
    })
}

pub(super) fn first_track(tracks: &[Track]) -> Option<&Track> {
    tracks
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
}

fn make_decoder(track: &Track) -> Result<Box<dyn Decoder>> {
    let codecs = super::opus::codecs();
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
            if crate::container::flac::declares_no_frames(head) {
                AudioError::ZeroLength
            } else if Container::starts_like_one(head) {
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

/// An error from a container walker, as a decode error.
fn container_error(e: std::io::Error) -> AudioError {
    if e.kind() == std::io::ErrorKind::InvalidData {
        AudioError::Corrupt(e.to_string())
    } else {
        AudioError::Read(e)
    }
}

/// The running digest of a track's encoded packets (see
/// [`super::stream_digest`]).
#[derive(Default)]
pub(super) struct EncodedDigest {
    sha: Sha256,
    packets: u64,
    frames: u64,
}

impl EncodedDigest {
    /// Adds one packet of the track.
    pub(super) fn update(&mut self, p: &symphonia::core::formats::Packet) {
        self.sha.update(p.buf());
        self.packets += 1;
        // With gapless playback on, `dur` leaves out the trimmed frames;
        // the digest counts every frame the packets code.
        self.frames += p.dur + u64::from(p.trim_start) + u64::from(p.trim_end);
    }

    /// Packets hashed so far.
    pub(super) fn packets(&self) -> u64 {
        self.packets
    }

    /// The digest so far.
    pub(super) fn finish(&self, params: &codecs::CodecParameters) -> StreamDigest {
        StreamDigest {
            sha256: self.sha.clone().finalize().into(),
            packets: self.packets,
            frames: self.frames,
            sample_rate: params.sample_rate.unwrap_or(0),
            channels: params.channels.map_or(0, |c| c.count() as u16),
            codec: codec_name(params.codec),
        }
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
    if let Some(d) = super::opus::codecs().get_codec(codec) {
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
    let detail = crate::error::panic_text(payload);
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
