//! Stamping: the marker and the seal embedded in the audio, the signed
//! manifest and the no-AI declaration written into the output.
//!
//! One engine, three ways in:
//!
//! * [`Stamper`]: interleaved `f32` chunks in, marked chunks out, the signed
//!   manifest at the end (for callers that already have PCM). Memory does
//!   not grow with the length of the audio.
//! * [`stamp`] (any `Read + Seek` in, FLAC or WAV to any `Write + Seek`),
//!   [`stamp_bytes`] (bytes in, bytes out) and [`stamp_to_stream`] (to a
//!   `Write` that cannot seek, such as a pipe: two passes over the input):
//!   decode once, embed, write with the declaration and the manifest inside.
//! * [`stamp_file`]: paths; adds only a temporary file, a read-back of the
//!   result, the sidecar manifest and the rename into place.
//!
//! Every way gives the same bytes for the same input, options, track id and
//! time ([`StampOptions::created`]).

use std::io::{BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::audio::{
    pack_le, quantize_into, AudioReader, FlacMd5, KnownOutput, OutputFormat, OutputTags, PcmHasher,
    PcmWriter, WriterSpec,
};
use crate::container::Container;
use crate::error::{Error, ErrorKind, Result};
use crate::mark::seal::SealMessage;
use crate::mark::{layout::Layout, Detector, EmbedOptions, EmbedStats, Embedder, WatermarkKey};
use crate::metadata::{self, CarriedTags, Declaration};
use crate::naming;
use crate::output::{self, FileOutput};
use crate::payload::{random_track_id, Payload};
use crate::policy::{policy_code, Policy};
use crate::progress::{Meter, Progress};
use crate::provenance::{
    sign_seal, utc_timestamp, AudioDigest, HashBasis, Manifest, SignedManifest, SigningKeyPair,
};

/// Largest marker strength accepted (+12 dB over the tuned default).
pub const MAX_STRENGTH: f32 = 4.0;

/// Bitrates (kbit/s) an MP3 output can have ([`StampOptions::mp3_kbps`]).
pub const MP3_BITRATES: [u32; 13] = [32, 40, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320];

/// What to stamp with.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StampOptions {
    /// The artist's Ed25519 key: signs the manifest and the seal; its
    /// fingerprint goes into the marker.
    pub signing_key: SigningKeyPair,
    /// The watermark key. Default: the built-in public key, so anyone can verify.
    pub wm_key: WatermarkKey,
    /// Title recorded in the manifest. Default: the input's title tag.
    pub title: Option<String>,
    /// Artist recorded in the manifest. Default: the input's artist tag.
    pub artist: Option<String>,
    /// Track id carried by the marker. Default: a random 32-bit number.
    pub track_id: Option<u32>,
    /// Marker strength relative to the masking threshold, in (0, 4]:
    /// 1 is the tuned default, 2 is 6 dB stronger, 0.5 6 dB weaker.
    /// Default: 1.0.
    pub strength: f32,
    /// Also embed the seal: the signature over the payload and policy, in a
    /// band above the marker, so a bare copy of the whole track proves its
    /// signer (see [`crate::mark`]). Default: true.
    pub seal: bool,
    /// The AI-training policy declared in the manifest and in every metadata
    /// carrier of the output. Default: no AI training.
    pub policy: Policy,
    /// Copyright owner for the declaration's copyright line. Default: the
    /// artist (option, else the input's artist tag); none if neither is known.
    pub owner: Option<String>,
    /// Output container of [`stamp`], [`stamp_bytes`] and
    /// [`stamp_to_stream`] ([`stamp_file`] takes it from the output's
    /// extension). Default: FLAC.
    pub format: OutputFormat,
    /// The time the manifest records. Default: when stamping starts.
    pub created: Option<SystemTime>,
    /// Bitrate, kbit/s, of an MP3 output ([`stamp_file`] to a `.mp3`
    /// path; constant bitrate, one of [`MP3_BITRATES`]). Default: 320.
    pub mp3_kbps: u32,
    /// Content Credentials ([`stamp_file`] and [`stamp_bytes`]; [`stamp`]
    /// and [`stamp_to_stream`] cannot read their output back to bind it):
    /// the X.509 chain that
    /// certifies [`signing_key`](Self::signing_key), to sign a C2PA manifest
    /// into the output with (see [`crate::credentials`]); `None` leaves it
    /// out. Default: the key's self-issued chain
    /// ([`CertificateChain::self_issued`](crate::credentials::CertificateChain::self_issued)).
    #[cfg(feature = "c2pa")]
    pub credentials: Option<crate::credentials::CertificateChain>,
    /// Told how far the stamp has got (see [`Progress`]). Default: none.
    pub progress: Option<Progress>,
}

impl StampOptions {
    /// Defaults for everything but the signing key.
    pub fn new(signing_key: SigningKeyPair) -> Self {
        #[cfg(feature = "c2pa")]
        let credentials = Some(crate::credentials::CertificateChain::self_issued_default(
            &signing_key,
        ));
        StampOptions {
            #[cfg(feature = "c2pa")]
            credentials,
            signing_key,
            wm_key: WatermarkKey::public(),
            title: None,
            artist: None,
            track_id: None,
            strength: 1.0,
            seal: true,
            policy: Policy::default(),
            owner: None,
            format: OutputFormat::Flac,
            created: None,
            mp3_kbps: 320,
            progress: None,
        }
    }

    /// Checks the options that have a range.
    pub fn validate(&self) -> Result<()> {
        if !MP3_BITRATES.contains(&self.mp3_kbps) {
            return Err(Error::unnamed(ErrorKind::InvalidOption(format!(
                "--bitrate {}k is not an MP3 bitrate; choose one of {}",
                self.mp3_kbps,
                MP3_BITRATES.map(|b| format!("{b}k")).join(", ")
            ))));
        }
        if !(self.strength > 0.0 && self.strength <= MAX_STRENGTH) {
            return Err(Error::unnamed(ErrorKind::InvalidOption(format!(
                "--strength must be in (0, {MAX_STRENGTH}], got {}",
                self.strength
            ))));
        }
        #[cfg(feature = "c2pa")]
        if let Some(chain) = &self.credentials {
            chain
                .check_certifies(&self.signing_key.public_key())
                .map_err(|why| Error::unnamed(ErrorKind::Key(why)))?;
        }
        Ok(())
    }
}

/// What stamping produced.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Stamped {
    /// The payload the marker carries.
    pub payload: Payload,
    /// The signed manifest (also inside the output).
    pub manifest: SignedManifest,
    /// The seal embedded in the audio (signature and policy code), unless
    /// [`StampOptions::seal`] was off.
    pub seal: Option<SealMessage>,
    /// What the embedder did.
    pub stats: EmbedStats,
    /// Audio length, seconds.
    pub seconds: f64,
    /// The samples as stored (rate, channels, sample format).
    pub spec: WriterSpec,
    /// Things the user should know (weak marker, clipping, skipped packets).
    pub warnings: Vec<String>,
}

/// Stamps interleaved `f32` audio as it streams through.
///
/// ```
/// use earmark::audio::{SampleFormat, WriterSpec};
/// use earmark::provenance::SigningKeyPair;
/// use earmark::{StampOptions, Stamper};
///
/// let mut options = StampOptions::new(SigningKeyPair::generate());
/// options.track_id = Some(7);
/// let spec = WriterSpec { sample_rate: 44_100, channels: 2, sample_format: SampleFormat::I16 };
/// let mut stamper = Stamper::new(spec, &options)?;
/// let music: Vec<f32> = (0..44_100 * 2 * 3).map(|i| ((i as f32) * 0.031).sin() * 0.3).collect();
/// let mut marked = Vec::new();
/// for chunk in music.chunks(4096 * 2) {
///     stamper.process(chunk, &mut marked);
/// }
/// let stamped = stamper.finish(&mut marked);
/// assert_eq!(marked.len(), music.len());
/// assert_eq!(stamped.payload.track_id, 7);
/// assert_eq!(stamped.manifest.manifest.payload, stamped.payload);
/// # Ok::<(), earmark::Error>(())
/// ```
///
/// The manifest's audio hash covers the output quantised to
/// `spec.sample_format` (see [`crate::audio::quantize`]) and laid out as a
/// file stores it ([`crate::audio::pack_le`]; basis `stored`): store the
/// samples that way and the manifest matches them.
#[derive(Debug)]
pub struct Stamper {
    embedder: Embedder,
    out: Signer,
    /// The watermark key (to look for a marker already in the input).
    wm_key: WatermarkKey,
}

/// Everything but the embedder: what hashes the output and signs for it.
#[derive(Debug)]
struct Signer {
    hasher: PcmHasher,
    spec: WriterSpec,
    payload: Payload,
    seal: Option<SealMessage>,
    signing_key: SigningKeyPair,
    policy: Policy,
    title: Option<String>,
    artist: Option<String>,
    created: String,
    /// Quantised output of [`Stamper::process`] (reused).
    quantized: Vec<i32>,
    /// Marked output of [`Stamper::process_quantized`] (reused).
    marked: Vec<f32>,
    /// The last output, packed as stored (see [`Stamper::packed`]).
    packed: Vec<u8>,
    /// Output samples above full scale that an integer format clips.
    over_full_scale: u64,
}

impl Stamper {
    /// A stamper for audio of `spec` (the sample format is the one the
    /// output will store; the manifest hashes that).
    pub fn new(spec: WriterSpec, opts: &StampOptions) -> Result<Stamper> {
        opts.validate()?;
        if spec.channels == 0 || spec.sample_rate == 0 {
            return Err(Error::unnamed(ErrorKind::InvalidOption(format!(
                "cannot stamp audio with {} channels at {} Hz",
                spec.channels, spec.sample_rate
            ))));
        }
        let payload = Payload::new(
            opts.signing_key.public_key().fingerprint32(),
            opts.track_id.unwrap_or_else(random_track_id),
        );
        let seal = opts.seal.then(|| {
            let code = policy_code(opts.policy.kind());
            SealMessage {
                signature: sign_seal(&opts.signing_key, payload, code),
                policy: code,
            }
        });
        let mut embed = EmbedOptions::with_strength(opts.strength);
        if let Some(message) = seal {
            embed = embed.with_seal(message);
        }
        let embedder = Embedder::new(
            &opts.wm_key,
            payload.to_bytes(),
            spec.sample_rate,
            usize::from(spec.channels),
            embed,
        );
        Ok(Stamper {
            embedder,
            wm_key: opts.wm_key.clone(),
            out: Signer {
                hasher: PcmHasher::new(&spec),
                spec,
                payload,
                seal,
                signing_key: opts.signing_key.clone(),
                policy: opts.policy.clone(),
                title: opts.title.clone(),
                artist: opts.artist.clone(),
                created: utc_timestamp(opts.created.unwrap_or_else(SystemTime::now)),
                quantized: Vec::new(),
                marked: Vec::new(),
                packed: Vec::new(),
                over_full_scale: 0,
            },
        })
    }

    /// The payload the marker carries.
    pub fn payload(&self) -> Payload {
        self.out.payload
    }

    /// Marks `input` (interleaved, whole frames) and appends the marked
    /// samples that are ready to `output`. Output trails input by about one
    /// analysis frame (23 ms); [`finish`](Self::finish) flushes the rest.
    ///
    /// # Panics
    /// If `input.len()` is not a multiple of the channel count.
    pub fn process(&mut self, input: &[f32], output: &mut Vec<f32>) {
        let start = output.len();
        self.embedder.process(input, output);
        let mut quantized = std::mem::take(&mut self.out.quantized);
        self.out.account(&output[start..], &mut quantized);
        self.out.quantized = quantized;
    }

    /// Flushes the last samples into `output` and signs the manifest.
    pub fn finish(self, output: &mut Vec<f32>) -> Stamped {
        let Stamper {
            embedder, mut out, ..
        } = self;
        let start = output.len();
        let stats = embedder.finish(output);
        let mut quantized = std::mem::take(&mut out.quantized);
        out.account(&output[start..], &mut quantized);
        out.stamped(stats)
    }

    /// As [`process`](Self::process), giving the output quantised (for a
    /// writer) in `out`, which is replaced.
    pub(crate) fn process_quantized(&mut self, input: &[f32], quantized: &mut Vec<i32>) {
        let mut marked = std::mem::take(&mut self.out.marked);
        marked.clear();
        self.embedder.process(input, &mut marked);
        self.out.account(&marked, quantized);
        self.out.marked = marked;
    }

    /// As [`finish`](Self::finish), giving the last samples quantised (in
    /// `quantized`) and packed as stored (returned).
    /// The marked samples themselves are returned too.
    pub(crate) fn finish_packed(self, quantized: &mut Vec<i32>) -> (Stamped, Vec<u8>, Vec<f32>) {
        let Stamper {
            embedder, mut out, ..
        } = self;
        let mut marked = std::mem::take(&mut out.marked);
        marked.clear();
        let stats = embedder.finish(&mut marked);
        out.account(&marked, quantized);
        let packed = std::mem::take(&mut out.packed);
        (out.stamped(stats), packed, marked)
    }

    /// The marked samples the last
    /// [`process_quantized`](Self::process_quantized) gave.
    pub(crate) fn marked(&self) -> &[f32] {
        &self.out.marked
    }

    /// The samples the last [`process_quantized`](Self::process_quantized)
    /// gave, packed as a file stores them.
    pub(crate) fn packed(&self) -> &[u8] {
        &self.out.packed
    }

    /// A manifest at least as long as the real one will be (the frame count
    /// at its widest), to reserve room for it before the audio is known.
    pub(crate) fn longest_manifest(&self) -> SignedManifest {
        self.out.manifest("0".repeat(64), u64::MAX)
    }
}

impl Signer {
    /// Hashes samples just produced: quantises them into `quantized`
    /// (replaced) and packs them as stored into `self.packed`.
    fn account(&mut self, samples: &[f32], quantized: &mut Vec<i32>) {
        if self.spec.sample_format != crate::audio::SampleFormat::F32 {
            // Above full scale (only a float master gets here): clipped by
            // the integer format, counted for the warning.
            self.over_full_scale += samples
                .iter()
                .fold(0u64, |n, x| n + u64::from(x.abs() > 1.0));
        }
        quantize_into(samples, self.spec.sample_format, quantized);
        pack_le(quantized, self.spec.sample_format, &mut self.packed);
        self.hasher.update_packed(&self.packed, quantized.len());
    }

    /// Frames hashed so far.
    fn frames(&self) -> u64 {
        self.hasher.samples() / u64::from(self.spec.channels)
    }

    /// The manifest for audio with this digest.
    fn manifest(&self, sha256: String, frames: u64) -> SignedManifest {
        let digest = AudioDigest::new(
            sha256,
            frames,
            self.spec.sample_rate,
            self.spec.channels,
            self.spec.sample_format.name(),
        )
        .with_basis(HashBasis::Stored);
        let mut m = Manifest::created_at(
            self.payload,
            digest,
            self.policy.clone(),
            self.created.clone(),
        );
        m.title = self.title.clone();
        m.artist = self.artist.clone();
        m.sign(&self.signing_key)
    }

    fn stamped(self, stats: EmbedStats) -> Stamped {
        let frames = self.frames();
        let sha = crate::hex::encode(&self.hasher.clone().finish());
        let manifest = self.manifest(sha, frames);
        let seconds = frames as f64 / f64::from(self.spec.sample_rate);
        let warnings = embed_warnings(&stats, frames, seconds, &self.spec, self.over_full_scale);
        Stamped {
            payload: self.payload,
            manifest,
            seal: self.seal,
            stats,
            seconds,
            spec: self.spec,
            warnings,
        }
    }
}

/// What the user should know about how the marker went in.
fn embed_warnings(
    stats: &EmbedStats,
    frames: u64,
    seconds: f64,
    spec: &WriterSpec,
    over_full_scale: u64,
) -> Vec<String> {
    let channels = spec.channels;
    let mut warnings = Vec::new();
    if stats.active_frames == 0 {
        warnings.push("the track is silent: no marker could be embedded".to_string());
    } else if stats.loud_fraction() < 0.5 {
        warnings.push(format!(
            "only {:.0}% of the track is loud enough for a robust marker: it may be weak",
            100.0 * stats.loud_fraction()
        ));
    }
    let unit = Layout::V1.unit_seconds();
    if seconds < 2.0 * unit {
        warnings.push(format!(
            "the track is {seconds:.1} s long; markers need at least {:.1} s to be found reliably",
            2.0 * unit
        ));
    }
    // Holding the marker back at a loud master's peaks changes nothing
    // audible (the marker is far below the music there); say so only when
    // it happens to more than one sample in a hundred, where the marker
    // itself is weakened.
    let samples = frames * u64::from(channels);
    if stats.clipped * 100 > samples {
        // The embedder never takes a sample beyond full scale or beyond
        // the master's own level there, whichever is higher.
        warnings.push(format!(
            "the marker would have pushed {} samples ({:.2}%) of this loud master past full scale; it was held back there",
            stats.clipped,
            100.0 * stats.clipped as f64 / samples.max(1) as f64
        ));
    }
    if over_full_scale > 0 {
        // Only a float master has them; an integer output must clip them.
        warnings.push(format!(
            "{over_full_scale} samples of this float master are above full scale, and the {}-bit output clips them; write a .wav to keep the float headroom",
            spec.sample_format.bits()
        ));
    }
    warnings
}

/// Where errors go: the input's and the output's names, when known.
#[derive(Debug, Clone, Copy, Default)]
struct Names<'a> {
    input: Option<&'a Path>,
    output: Option<&'a Path>,
}

impl Names<'_> {
    fn input_err(&self, kind: impl Into<ErrorKind>) -> Error {
        named(self.input, kind)
    }

    fn output_err(&self, kind: impl Into<ErrorKind>) -> Error {
        named(self.output, kind)
    }
}

fn named(path: Option<&Path>, kind: impl Into<ErrorKind>) -> Error {
    match path {
        Some(p) => Error::new(p, kind),
        None => Error::unnamed(kind),
    }
}

/// The input's tags, and the options with the input's title and artist
/// filled in (read once, before decoding).
struct Prepared {
    opts: StampOptions,
    carried: Option<CarriedTags>,
    declaration: Declaration,
}

fn prepare<R: Read + Seek>(input: &mut R, opts: &StampOptions, names: &Names) -> Result<Prepared> {
    opts.validate()?;
    let container = Container::of_reader(input).map_err(|e| names.input_err(e))?;
    // Tags that cannot be read are not a reason to refuse the audio.
    let meta = container
        .filter(|c| c.is_taggable())
        .and_then(|c| metadata::read_metadata(input, c).ok());
    input
        .seek(std::io::SeekFrom::Start(0))
        .map_err(|e| names.input_err(e))?;
    let carried = meta.and_then(|m| m.carried);
    let mut opts = opts.clone();
    opts.title = opts
        .title
        .or_else(|| carried.as_ref().and_then(CarriedTags::title));
    opts.artist = opts
        .artist
        .or_else(|| carried.as_ref().and_then(CarriedTags::artist));
    // A second pass must draw the same payload and the same time.
    opts.track_id = Some(opts.track_id.unwrap_or_else(random_track_id));
    let created = *opts.created.get_or_insert_with(SystemTime::now);
    let owner = opts.owner.clone().or_else(|| opts.artist.clone());
    // The copyright year is the stamp's own (what SOURCE_DATE_EPOCH or the
    // caller pins), so the same input, key, id and time give the same bytes.
    let declaration = Declaration::new(
        opts.policy.clone(),
        owner.as_deref(),
        metadata::year_of(created),
    );
    Ok(Prepared {
        opts,
        carried,
        declaration,
    })
}

impl Prepared {
    /// Room after STREAMINFO for the metadata with the longest manifest this
    /// stamp can sign, plus [`PADDING_BYTES`](crate::audio::flac::PADDING_BYTES).
    fn reserve(&self, stamper: &Stamper, names: &Names) -> Result<usize> {
        Ok(self.tags(&stamper.longest_manifest(), names)?.flac_len()
            + crate::audio::flac::PADDING_BYTES)
    }

    /// The output's metadata with `manifest` inside.
    fn tags(&self, manifest: &SignedManifest, names: &Names) -> Result<OutputTags> {
        let json = manifest.to_json_compact();
        let carried = self.carried.as_ref();
        let rendered = match self.opts.format {
            OutputFormat::Flac => {
                metadata::render_flac_blocks(&self.declaration, Some(&json), carried)
                    .map(OutputTags::Flac)
            }
            OutputFormat::Wav => {
                metadata::render_wav_chunks(&self.declaration, Some(&json), carried)
                    .map(OutputTags::Wav)
            }
        };
        rendered.map_err(|e| names.output_err(e))
    }
}

/// Opens the decoder on `input` (after [`prepare`]).
fn open_audio<R>(input: R, names: &Names) -> Result<AudioReader>
where
    R: Read + Seek + Send + 'static,
{
    let ext = names
        .input
        .and_then(|p| p.extension())
        .and_then(|e| e.to_str());
    AudioReader::with_options(Box::new(input), ext, Default::default())
        .map_err(|e| names.input_err(e))
}

/// Warnings about the input itself.
fn reader_warnings(reader: &AudioReader, stamped: &mut Stamped) {
    stamped.warnings.extend(reader.warnings());
}

/// Decodes `reader` through `stamper`, handing each marked chunk to `sink`
/// (as samples, quantised, and packed as a file stores it).
fn pump(
    reader: &mut AudioReader,
    mut stamper: Stamper,
    names: &Names,
    (progress, from, to): (Option<&Progress>, f64, f64),
    mut sink: impl FnMut(&[f32], &[i32], &[u8]) -> Result<()>,
) -> Result<Stamped> {
    let (mut chunk, mut quantized) = (Vec::new(), Vec::new());
    let spec = reader.spec();
    let mut meter = Meter::new(progress, spec.frames, spec.channels).within(from, to);
    let mut earlier = EarlierMarker::new(&stamper, spec.sample_rate, spec.channels);
    while reader
        .read_chunk(&mut chunk)
        .map_err(|e| names.input_err(e))?
        > 0
    {
        if let Some(found) = earlier.feed(&chunk) {
            return Err(names.input_err(ErrorKind::Other(earlier_marker_message(
                found,
                stamper.out.payload.key_fingerprint,
            ))));
        }
        stamper.process_quantized(&chunk, &mut quantized);
        sink(stamper.marked(), &quantized, stamper.packed())?;
        meter.add(chunk.len());
    }
    if let Some(found) = earlier.finish() {
        return Err(names.input_err(ErrorKind::Other(earlier_marker_message(
            found,
            stamper.out.payload.key_fingerprint,
        ))));
    }
    let (stamped, packed, marked) = stamper.finish_packed(&mut quantized);
    sink(&marked, &quantized, &packed)?;
    meter.finish();
    Ok(stamped)
}

/// Stamps audio already in memory: `samples` interleaved (whole frames of
/// `spec.channels`), `spec.sample_format` the format they will be stored in
/// (the manifest hashes the output quantised to it, see [`Stamper`]).
/// Returns the marked samples (same length) and what stamping produced.
/// As [`stamp`], audio that already carries a marker in its first
/// [`EARLIER_MARKER_SECONDS`] is refused, and non-finite samples are an
/// error (a marker cannot be shaped around them).
pub fn stamp_samples(
    samples: &[f32],
    spec: WriterSpec,
    opts: &StampOptions,
) -> Result<(Vec<f32>, Stamped)> {
    let ch = usize::from(spec.channels);
    let invalid = |why: String| Error::unnamed(ErrorKind::InvalidOption(why));
    if ch == 0 || samples.len() % ch != 0 {
        return Err(invalid(format!(
            "{} samples are not whole frames of {} channels",
            samples.len(),
            spec.channels
        )));
    }
    if samples.is_empty() {
        return Err(invalid("no samples to stamp".into()));
    }
    if let Some(i) = samples.iter().position(|x| !x.is_finite()) {
        return Err(invalid(format!(
            "sample {i} (frame {}, channel {}) is NaN or infinite",
            i / ch,
            i % ch
        )));
    }
    let mut stamper = Stamper::new(spec, opts)?;
    let mut earlier = EarlierMarker::new(&stamper, spec.sample_rate, spec.channels);
    let mut out = Vec::with_capacity(samples.len() + 8192);
    // Chunks of about 0.1 s keep the hashing buffers small.
    let chunk = ch * 4096;
    for part in samples.chunks(chunk) {
        if let Some(found) = earlier.feed(part) {
            return Err(invalid(earlier_marker_message(
                found,
                stamper.out.payload.key_fingerprint,
            )));
        }
        stamper.process(part, &mut out);
    }
    if let Some(found) = earlier.finish() {
        return Err(invalid(earlier_marker_message(
            found,
            stamper.out.payload.key_fingerprint,
        )));
    }
    let stamped = stamper.finish(&mut out);
    Ok((out, stamped))
}

/// Seconds at the start of an input searched for a marker already in it
/// (2.6 marker units: the robustness report finds 5 s clips after MP3,
/// resampling and noise in every trial).
pub const EARLIER_MARKER_SECONDS: f64 = 6.0;

/// Looks for a marker already in the input, over its first
/// [`EARLIER_MARKER_SECONDS`], while the same chunks are stamped: a stamped
/// file stamped again would carry two markers and verify as contradicting
/// its own manifest.
struct EarlierMarker {
    detector: Option<Detector>,
    samples_left: usize,
}

impl EarlierMarker {
    fn new(stamper: &Stamper, sample_rate: u32, channels: u16) -> EarlierMarker {
        let ch = usize::from(channels.max(1));
        EarlierMarker {
            detector: (sample_rate > 0).then(|| Detector::new(&stamper.wm_key, sample_rate, ch)),
            samples_left: (EARLIER_MARKER_SECONDS * f64::from(sample_rate)) as usize * ch,
        }
    }

    /// Feeds a chunk; once the budget is used, the payload found, if any.
    fn feed(&mut self, chunk: &[f32]) -> Option<Payload> {
        let detector = self.detector.as_mut()?;
        let take = chunk.len().min(self.samples_left);
        detector.process(&chunk[..take]);
        self.samples_left -= take;
        if self.samples_left == 0 {
            self.finish()
        } else {
            None
        }
    }

    /// The payload found in what was fed (an input shorter than the budget).
    fn finish(&mut self) -> Option<Payload> {
        let report = self.detector.take()?.finish();
        report
            .detections
            .first()
            .map(|d| Payload::from_bytes(d.payload))
    }
}

/// Why an input that already carries a marker is not stamped.
fn earlier_marker_message(found: Payload, own_fingerprint: u32) -> String {
    if found.key_fingerprint == own_fingerprint {
        format!(
            "already stamped with this key (marker {}): stamp the original recording instead; a second marker would make the file contradict its own manifest",
            found.reference()
        )
    } else {
        format!(
            "already carries another key's marker ({}): that earlier claim stays in the audio whatever is added; stamp the original recording if it is yours, or run `earmark verify` on this file to see whose claim it is",
            found.reference()
        )
    }
}

/// Stamps `input` (any container earmark decodes) into `output` as
/// `opts.format`, with the declaration and the signed manifest in the
/// output's metadata. One decode; memory does not grow with the length.
/// An input that already carries a marker (found in its first
/// [`EARLIER_MARKER_SECONDS`]) is refused; the output then holds nothing
/// usable.
pub fn stamp<R, W>(input: R, output: W, opts: &StampOptions) -> Result<Stamped>
where
    R: Read + Seek + Send + 'static,
    W: Write + Seek,
{
    stamp_named(input, output, opts, &Names::default())
}

fn stamp_named<R, W>(mut input: R, output: W, opts: &StampOptions, names: &Names) -> Result<Stamped>
where
    R: Read + Seek + Send + 'static,
    W: Write + Seek,
{
    let prepared = prepare(&mut input, opts, names)?;
    let mut reader = open_audio(input, names)?;
    let format = prepared.opts.format;
    let spec = reader.spec().writer_spec().effective_for(format);
    let stamper = Stamper::new(spec, &prepared.opts)?;
    let reserve = prepared.reserve(&stamper, names)?;
    // The input's length, when its header states it: a WAV output over
    // 4 GiB is then written as RF64.
    let expected = reader.spec().frames;
    let mut writer = PcmWriter::expecting(output, format, spec, reserve, expected)
        .map_err(|e| names.output_err(e))?;
    let mut stamped = pump(
        &mut reader,
        stamper,
        names,
        (prepared.opts.progress.as_ref(), 0.0, 1.0),
        |_, q, p| {
            writer
                .write_quantized_packed(q, p)
                .map_err(|e| names.output_err(e))
        },
    )?;
    let tags = prepared.tags(&stamped.manifest, names)?;
    writer.finish(&tags).map_err(|e| names.output_err(e))?;
    reader_warnings(&reader, &mut stamped);
    Ok(stamped)
}

/// [`stamp`] from bytes in memory to bytes in memory (see the crate
/// documentation for an example).
/// With [`StampOptions::credentials`] set, the output also carries Content
/// Credentials (as [`stamp_file`]'s does).
pub fn stamp_bytes(input: &[u8], opts: &StampOptions) -> Result<(Vec<u8>, Stamped)> {
    let mut out = std::io::Cursor::new(Vec::with_capacity(input.len()));
    let stamped = stamp(std::io::Cursor::new(input.to_vec()), &mut out, opts)?;
    #[cfg(feature = "c2pa")]
    if let Some(chain) = &opts.credentials {
        use crate::credentials::{embed, ClaimSigner, Parent};
        use std::io::Cursor;
        let err = |e: crate::credentials::CredentialsError| {
            Error::unnamed(ErrorKind::Other(e.to_string()))
        };
        let signer = ClaimSigner::checked(&opts.signing_key, chain)?;
        let mut parent_stream = Cursor::new(input);
        let parent = Parent::sniffed("input", &mut parent_stream);
        let claim = stamp_claim("input", parent.container, opts.format.container(), &stamped);
        let mut signed = Cursor::new(Vec::with_capacity(out.get_ref().len() + 16_384));
        let mime = opts.format.container().mime();
        embed(&claim, &signer, mime, parent, &mut out, &mut signed).map_err(err)?;
        return Ok((signed.into_inner(), stamped));
    }
    Ok((out.into_inner(), stamped))
}

/// [`stamp`] to an output that cannot seek (a pipe, a socket): the input is
/// decoded twice, first to learn the manifest and the header, then to write
/// the file front to back. The second pass must give the same samples; if
/// the input changed in between, this fails.
pub fn stamp_to_stream<R, W>(input: R, output: W, opts: &StampOptions) -> Result<Stamped>
where
    R: Read + Seek + Send + 'static,
    W: Write,
{
    let names = Names::default();
    let mut input = input;
    let prepared = prepare(&mut input, opts, &names)?;
    let mut reader = open_audio(input, &names)?;
    let format = prepared.opts.format;
    let spec = reader.spec().writer_spec().effective_for(format);
    // Pass 1: the manifest, the length and the FLAC MD5.
    let stamper = Stamper::new(spec, &prepared.opts)?;
    let reserve = prepared.reserve(&stamper, &names)?;
    let mut md5 = FlacMd5::new(&spec);
    let first = pump(
        &mut reader,
        stamper,
        &names,
        (prepared.opts.progress.as_ref(), 0.0, 0.5),
        |_, _, packed| {
            md5.update_packed(packed);
            Ok(())
        },
    )?;
    let tags = prepared.tags(&first.manifest, &names)?;
    let known = KnownOutput {
        frames: first.manifest.manifest.audio.frames,
        md5: md5.finish(),
        // The padding the seekable writer leaves, so both write the same bytes.
        padding: reserve - tags.flac_len(),
        tags,
    };
    // Pass 2: the same samples, written out.
    let mut reader = reader
        .rewind(None, Default::default())
        .map_err(|e| names.input_err(e))?;
    let stamper = Stamper::new(spec, &prepared.opts)?;
    let mut writer = PcmWriter::streamed(output, spec, &known).map_err(|e| names.output_err(e))?;
    let mut stamped = pump(
        &mut reader,
        stamper,
        &names,
        (prepared.opts.progress.as_ref(), 0.5, 1.0),
        |_, q, p| {
            writer
                .write_quantized_packed(q, p)
                .map_err(|e| names.output_err(e))
        },
    )?;
    writer
        .finish_streamed(&known)
        .map_err(|e| names.output_err(e))?;
    if stamped.manifest != first.manifest {
        return Err(names.input_err(ErrorKind::Other(
            "the input changed between the two passes".into(),
        )));
    }
    reader_warnings(&reader, &mut stamped);
    Ok(stamped)
}

/// The result of stamping one file.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StampOutcome {
    /// The input file.
    pub input: PathBuf,
    /// The stamped audio file.
    pub output: PathBuf,
    /// The sidecar manifest file.
    pub sidecar: PathBuf,
    /// What stamping produced.
    pub stamped: Stamped,
    /// The C2PA manifest store written (see [`StampOptions::credentials`]).
    #[cfg(feature = "c2pa")]
    pub credentials: Option<crate::credentials::CredentialsWritten>,
}

impl Stamped {
    /// What stamping produced as JSON: the payload, the length, how much of
    /// the audio carries the marker, warnings and the signed manifest (the
    /// fields of `earmark stamp --json` that are not about files).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "payload": self.payload,
            "seconds": self.seconds,
            "marked_fraction": self.stats.active_fraction(),
            "loud_fraction": self.stats.loud_fraction(),
            "warnings": self.warnings,
            "manifest": self.manifest,
        })
    }
}

impl StampOutcome {
    /// The result as the JSON record `earmark stamp --json` prints (see
    /// [`crate::records`]): the input (`path`), output and sidecar paths,
    /// [`Stamped::to_json`]'s fields and the Content Credentials written.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "path": self.input,
            "output": self.output,
            "sidecar": self.sidecar,
        });
        if let (Some(all), serde_json::Value::Object(fields)) =
            (v.as_object_mut(), self.stamped.to_json())
        {
            all.extend(fields);
        }
        #[cfg(feature = "c2pa")]
        {
            v["credentials"] = serde_json::to_value(&self.credentials).unwrap_or_default();
        }
        crate::records::record("stamp", v)
    }
}

/// Stamps the file `input` into `out` (default: `NAME.earmark.flac` next to
/// it; `.wav` or `.flac`, which sets the format), with a sidecar copy of the
/// manifest (`NAME.flac.earmark.json`). Both are written to temporary files, the
/// audio is read back, and only then are both renamed into place.
pub fn stamp_file(input: &Path, out: &FileOutput, opts: &StampOptions) -> Result<StampOutcome> {
    let output = out
        .path
        .clone()
        .unwrap_or_else(|| naming::stamped_path(input));
    let mut opts = opts.clone();
    let mp3 = naming::is_mp3(&output);
    if !mp3 {
        opts.format = naming::output_format(&output)?;
    }
    #[cfg(feature = "c2pa")]
    let container = if mp3 {
        Container::Mp3
    } else {
        opts.format.container()
    };
    if output::same_file(input, &output) {
        return Err(Error::new(&output, ErrorKind::OutputIsInput));
    }
    let sidecar = naming::sidecar_path(&output);
    if output::same_file(input, &sidecar) {
        return Err(Error::new(&sidecar, ErrorKind::OutputIsInput));
    }
    output::check_writable(&output, out.force)?;
    output::check_writable(&sidecar, out.force)?;
    let source = output::open_input(input)?;
    let names = Names {
        input: Some(input),
        output: Some(&output),
    };
    let temp = output::temp_tagged(&output, out.temp_tag.as_deref())?;
    let stamped = if mp3 {
        stamp_mp3(source, &temp, &opts, &names)?
    } else {
        let file = temp.reopen().map_err(|e| Error::new(&output, e))?;
        let mut writer = BufWriter::with_capacity(1 << 16, file);
        let stamped = stamp_named(source, &mut writer, &opts, &names)?;
        writer.flush().map_err(|e| Error::new(&output, e))?;
        stamped
    };
    // Content Credentials last: their hard binding covers every other byte.
    #[cfg(feature = "c2pa")]
    let (temp, c2pa_sidecar, credentials) = match &opts.credentials {
        Some(chain) => {
            let signer = crate::credentials::ClaimSigner::checked(&opts.signing_key, chain)?;
            let name = naming::stem_of(input, "untitled");
            let input_container = Container::of_file(input).ok().flatten();
            let claim = stamp_claim(&name, input_container, container, &stamped);
            let attached =
                crate::credentials::attach(temp, &output, out, container, input, &claim, &signer)?;
            (attached.file, attached.sidecar, Some(attached.written))
        }
        None => (temp, None, None),
    };
    read_back(temp.path(), &stamped.manifest)
        .map_err(|why| Error::new(&output, ErrorKind::Other(why)))?;
    // The sidecar is prepared first but renamed last, so a failure leaves
    // neither file behind.
    let json = format!("{}\n", stamped.manifest.to_json_pretty());
    let sidecar_temp =
        output::temp_with_tagged(&sidecar, json.as_bytes(), out.temp_tag.as_deref())?;
    output::persist(temp, &output, out.force)?;
    if let Err(e) = output::persist(sidecar_temp, &sidecar, out.force) {
        let _ = std::fs::remove_file(&output);
        return Err(e);
    }
    #[cfg(feature = "c2pa")]
    if let Some((temp, path)) = c2pa_sidecar {
        if let Err(e) = output::persist(temp, &path, out.force) {
            let _ = std::fs::remove_file(&output);
            let _ = std::fs::remove_file(&sidecar);
            return Err(e);
        }
    }
    Ok(StampOutcome {
        input: input.to_path_buf(),
        output,
        sidecar,
        stamped,
        #[cfg(feature = "c2pa")]
        credentials,
    })
}

/// Stamps `input` into the temporary file `temp` as MP3: the marked
/// samples are encoded by LAME at [`StampOptions::mp3_kbps`], then the
/// manifest is signed over the encoded packets ([`HashBasis::Encoded`], as
/// `tag` does: a decoder's output is not exact) and written with the
/// declaration into the ID3 tag. The written file is decoded again: if the
/// marker did not survive the encoding (a track long enough to carry it,
/// at a low bitrate), the stamp fails rather than hand out an unmarked MP3.
#[cfg(feature = "mp3")]
fn stamp_mp3(
    mut input: std::io::BufReader<std::fs::File>,
    temp: &output::TempFile,
    opts: &StampOptions,
    names: &Names,
) -> Result<Stamped> {
    use crate::audio::mp3::Mp3Writer;
    use crate::audio::SampleFormat;
    let mp3_err =
        |e: crate::audio::mp3::Mp3Error| names.output_err(ErrorKind::Other(e.to_string()));
    let prepared = prepare(&mut input, opts, names)?;
    let mut reader = open_audio(input, names)?;
    // The marked samples go to LAME as they are (float, headroom kept).
    let spec = WriterSpec {
        sample_format: SampleFormat::F32,
        ..reader.spec().writer_spec()
    };
    let file = temp.reopen().map_err(|e| names.output_err(e))?;
    let mut mp3 = Mp3Writer::new(
        BufWriter::with_capacity(1 << 16, file),
        spec.sample_rate,
        spec.channels,
        opts.mp3_kbps,
    )
    .map_err(mp3_err)?;
    let stamper = Stamper::new(spec, &prepared.opts)?;
    let mut stamped = pump(
        &mut reader,
        stamper,
        names,
        (prepared.opts.progress.as_ref(), 0.0, 1.0),
        |marked, _, _| mp3.write(marked).map_err(mp3_err),
    )?;
    let writer = mp3.finish().map_err(mp3_err)?;
    writer
        .into_inner()
        .map_err(|e| names.output_err(e.into_error()))?;
    reader_warnings(&reader, &mut stamped);

    let digest = crate::audio::stream_digest(temp.path()).map_err(|e| names.output_err(e))?;
    let mut manifest = stamped.manifest.manifest.clone();
    manifest.audio = AudioDigest::new(
        crate::hex::encode(&digest.sha256),
        digest.frames,
        digest.sample_rate,
        digest.channels,
        digest.codec.clone(),
    )
    .with_basis(HashBasis::Encoded);
    stamped.manifest = manifest.sign(&prepared.opts.signing_key);
    let json = stamped.manifest.to_json_compact();
    let mut file = temp.reopen().map_err(|e| names.output_err(e))?;
    let warnings = metadata::write_declaration(
        &mut file,
        Container::Mp3,
        &prepared.declaration,
        Some(&json),
        prepared.carried.as_ref(),
    )
    .map_err(|e| names.output_err(e))?;
    stamped.warnings.extend(warnings);
    drop(file);

    let found = marker_in(temp.path(), &opts.wm_key).map_err(|e| names.output_err(e))?;
    if found != Some(stamped.payload) {
        let why = format!(
            "the marker did not survive MP3 encoding at {} kbit/s",
            opts.mp3_kbps
        );
        if stamped.seconds >= 2.0 * Layout::V1.unit_seconds() {
            return Err(names.output_err(ErrorKind::Other(format!(
                "{why}; nothing was written: choose a higher --bitrate, or FLAC"
            ))));
        }
        stamped.warnings.push(format!("{why} (the track is short)"));
    }
    Ok(stamped)
}

#[cfg(not(feature = "mp3"))]
fn stamp_mp3(
    _input: std::io::BufReader<std::fs::File>,
    _temp: &output::TempFile,
    _opts: &StampOptions,
    names: &Names,
) -> Result<Stamped> {
    Err(names.output_err(ErrorKind::Other(
        "MP3 output needs earmark's full build (the `mp3` feature, with LAME); write FLAC or WAV"
            .into(),
    )))
}

/// The payload of the marker in the audio file at `path`, if one is found.
#[cfg(feature = "mp3")]
fn marker_in(
    path: &Path,
    key: &WatermarkKey,
) -> std::result::Result<Option<Payload>, crate::audio::AudioError> {
    let mut reader = AudioReader::open(path)?;
    let spec = reader.spec();
    let mut detector = Detector::new(key, spec.sample_rate, usize::from(spec.channels));
    let mut chunk = Vec::new();
    while reader.read_chunk(&mut chunk)? > 0 {
        detector.process(&chunk);
    }
    let report = detector.finish();
    Ok(report
        .detections
        .first()
        .map(|d| Payload::from_bytes(d.payload)))
}

/// What the C2PA manifest of a stamped file claims (`name`: the title when
/// the track has none; `input`: the input's container, if known;
/// `output`: the container written).
#[cfg(feature = "c2pa")]
fn stamp_claim(
    name: &str,
    input: Option<Container>,
    output: Container,
    stamped: &Stamped,
) -> crate::credentials::Claim {
    use crate::credentials::{Claim, Operation};
    // An MP3 output is always a new encoding, even of an MP3.
    let transcoded = input != Some(output) || output == Container::Mp3;
    Claim::for_manifest(
        &stamped.manifest.manifest,
        name,
        Operation::Stamp { transcoded },
        Some((stamped.payload, stamped.seconds)),
    )
}

/// Checks a freshly written file before it takes its final name: it opens
/// as audio, and its tags hold the manifest.
fn read_back(path: &Path, manifest: &SignedManifest) -> std::result::Result<(), String> {
    let meta = metadata::read_metadata_file(path)
        .map_err(|e| format!("the written file's tags do not read back: {e}"))?;
    if !meta.manifests.contains(&manifest.to_json_compact()) {
        return Err("the written file does not read back with its manifest".into());
    }
    AudioReader::open(path).map_err(|e| format!("written file does not read back: {e}"))?;
    Ok(())
}
