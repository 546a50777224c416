//! Verifying: find the marker in the audio, read the seal, find the manifest
//! and check it against both.
//!
//! One engine, three ways in:
//!
//! * [`Verifier`]: interleaved `f32` chunks in, a [`Verification`] out (for
//!   callers that already have PCM). Memory stays bounded whatever the
//!   length: the detector folds the audio as it goes and keeps only the
//!   first 60 s for the speed/tempo/pitch search.
//! * [`verify`] (any `Read + Seek`) and [`verify_bytes`]: the container is
//!   sniffed once, its tags read once (the embedded manifest), the audio
//!   decoded once (the encoded packets hashed on the way when the manifest
//!   signed them).
//! * [`verify_file`]: adds the path and the sidecar manifest
//!   (`NAME.EXT.earmark.json`) when the file has none inside.
//!
//! After a speed, tempo or pitch change the seal's bins moved too: reading
//! the seal then takes a second pass over the audio with the change undone
//! ([`Finished::SealPass`]); the stream functions do it themselves.

use std::io::{Read, Seek};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::audio::decode::{ReadOptions, SharedSource};
use crate::audio::{
    AudioReader, AudioSpec, PcmHasher, PcmLayout, SampleFormat, StreamDigest, WriterSpec,
};
use crate::container::Container;
use crate::error::{Error, Result};
use crate::exit::Status;
use crate::mark::seal::{ScaledSealReader, SealMessage, SealRead, SealReader, FULL_TRACK_SECONDS};
use crate::mark::search::{search_kept, ESTIMATE_SECONDS};
use crate::mark::{Candidate, DetectReport, Detector, Scale, WatermarkKey};
use crate::metadata::{self, FileMetadata};
use crate::payload::Payload;
use crate::policy::policy_from_code;
use crate::progress::{Meter, Progress};
use crate::provenance::{check_seal, HashBasis, PublicKey, SealVerdict, SignedManifest, Verdict};

/// Largest sidecar manifest read, bytes (a manifest is about 1.5 KiB).
const MAX_SIDECAR_BYTES: u64 = 1 << 20;

/// What to verify with.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct VerifyOptions {
    /// The watermark key. Default: the built-in public key.
    pub wm_key: WatermarkKey,
    /// Signers the user trusts. Default: none (signatures are checked, trust is not).
    pub trusted: Vec<PublicKey>,
    /// Root certificates (PEM) whose chains make a C2PA signer trusted.
    /// Default: none (C2PA signatures are validated; their issuers are
    /// reported as not on a trust list).
    #[cfg(feature = "c2pa")]
    pub c2pa_trust: Option<String>,
    /// When the plain detector finds no marker, search for a speed, tempo
    /// or pitch change (the speed/tempo/pitch search). Most of the time spent
    /// on unmarked audio goes here; turning it off screens unmarked clips
    /// several times faster but misses sped-up, slowed and pitch-shifted
    /// copies. Default: true.
    pub search: bool,
    /// Told how far the check has got (see [`Progress`]): the pass that
    /// looks for the marker. Default: none.
    pub progress: Option<Progress>,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            wm_key: WatermarkKey::public(),
            trusted: Vec::new(),
            search: true,
            progress: None,
            #[cfg(feature = "c2pa")]
            c2pa_trust: None,
        }
    }
}

/// A marker payload found in the audio.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct FoundMarker {
    /// The decoded payload (key fingerprint and track id).
    pub payload: Payload,
    /// Synchronisation z-score: a marker needs
    /// [`Z_DECODE`](crate::mark::Z_DECODE) (4.0) or more.
    pub sync_z: f32,
    /// Fraction of coded bits that agree with the decoded payload (0.5 = chance).
    pub bit_agreement: f32,
    /// Start times, seconds, of the units detectable on their own.
    pub unit_starts: Vec<f64>,
}

/// Whether the seal's signature checked out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SealStatus {
    /// Signed by the key the payload names, over this payload and policy.
    Valid,
    /// The named key is known and the signature does not verify: forged or
    /// altered.
    Invalid,
    /// The named key was not given (`--trust`) and the file has no manifest
    /// naming it, so the signature could not be checked.
    Unchecked,
}

/// The seal read from the audio itself (see [`crate::mark`]): a
/// signature over the payload and the policy, which survives when every tag,
/// sidecar and catalogue entry is gone.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct SealReport {
    /// Whether the signature checked out.
    pub status: SealStatus,
    /// Fingerprint (8 hex digits) of the key the payload names as signer.
    pub signer: String,
    /// Whether that key is in `--trust` (absent when no trust list was given
    /// or the signature could not be checked).
    pub trusted: Option<bool>,
    /// The policy the seal declares: a CLI policy name, or `"custom"`.
    pub policy: String,
}

/// The manifest found for a file and what checking it showed.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct ManifestReport {
    /// Where it was found: `"embedded"` or the sidecar path.
    pub source: String,
    /// One-line verdict on the signature and trust.
    pub verdict: String,
    /// The signature verifies.
    pub signature_valid: bool,
    /// Whether the signer is in `--trust` (absent when no trust list was given).
    pub trusted: Option<bool>,
    /// The signer's key fingerprint (8 hex digits, as in the payload).
    pub signer: String,
    /// Whether the manifest's payload is the one the marker carries
    /// (absent when no marker was found).
    pub matches_marker: Option<bool>,
    /// Whether the audio is bit-identical to what was stamped.
    pub audio_identical: bool,
    /// The manifest itself.
    pub document: SignedManifest,
    #[serde(skip)]
    verdict_kind: Option<Verdict>,
}

impl ManifestReport {
    /// The signature verdict.
    pub fn verdict_kind(&self) -> Option<Verdict> {
        self.verdict_kind
    }

    /// Whether everything checked out (valid signature, the marker it names, not tampered).
    pub fn consistent(&self) -> bool {
        self.signature_valid
            && !matches!(self.verdict_kind, Some(Verdict::SignerMismatch))
            && self.matches_marker != Some(false)
    }
}

/// Measurements behind the verdict, for reports and benchmarks (not part of
/// the JSON output).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Diagnostics {
    /// The best synchronisation candidate (with its soft coded bits).
    pub best: Option<Candidate>,
    /// Detector analyses run (the speed/tempo/pitch search included).
    pub analyses: usize,
    /// Candidates CRC-checked: the expected false payloads are this × 2^-32.
    pub crc_checks: usize,
    /// The seal as read (soft bits included), when a marker was found and
    /// the rate can hold the seal.
    pub seal: Option<SealRead>,
}

/// Everything verification found about one input.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Verification {
    /// The file, when the input was one (or a name the caller gave it).
    pub path: Option<PathBuf>,
    /// Audio length, seconds.
    pub seconds: f64,
    /// Native sample rate, Hz.
    pub sample_rate: u32,
    /// Channels.
    pub channels: u16,
    /// Whether a marker was found.
    pub marked: bool,
    /// Markers found (normally one payload).
    pub markers: Vec<FoundMarker>,
    /// Why no marker was found although a valid manifest names one: a
    /// private watermark key, or a manifest written by `tag`, which embeds
    /// no marker.
    pub marker_note: Option<String>,
    /// The speed, tempo or pitch change that was undone to find the markers
    /// (see [`Scale`]); `None` when they were found without one, or not found.
    pub scale: Option<Scale>,
    /// `scale` in plain words (see [`Scale::describe`]), e.g.
    /// `"speed change of about ×1.04 (tempo and pitch together)"`.
    pub change: Option<String>,
    /// The seal, when it was read from the audio.
    pub seal: Option<SealReport>,
    /// Why no seal was read although a marker was found.
    pub seal_missing: Option<String>,
    /// Best synchronisation score seen, marker or not.
    pub best_sync_z: f32,
    /// Most of the audio is too quiet to carry a robust marker: "not found"
    /// means "cannot tell" here.
    pub too_quiet: bool,
    /// The audio is shorter than one marker unit (2.3 s): "not found" means
    /// "cannot tell" here.
    pub too_short: bool,
    /// Whether a key you trust stands behind the marker; `None` when no
    /// trust list was given or no marker was found. True when the seal or
    /// the manifest verifies with a trusted key, or, with neither to check
    /// (a short clip with no tags), when the marker names a trusted key's
    /// fingerprint; false otherwise (someone else's stamp: exit code 4).
    pub trusted_signer: Option<bool>,
    /// The manifest, if the file or a sidecar has one.
    pub manifest: Option<ManifestReport>,
    /// Why a manifest that was present could not be read.
    pub manifest_error: Option<String>,
    /// The file carries several different manifests (see `manifest_error`):
    /// invalid (exit 3) whether or not a marker is found.
    pub conflicting_manifests: bool,
    /// The file's C2PA Content Credentials (embedded, or a sidecar
    /// `NAME.c2pa`), made by earmark or not, and whether their soft binding
    /// names the marker found.
    #[cfg(feature = "c2pa")]
    pub credentials: Option<Box<crate::credentials::Credentials>>,
    /// Why Content Credentials that are there could not be read (set by
    /// the C2PA reader, or by a front end whose reader failed: invalid,
    /// exit 3, either way).
    pub credentials_error: Option<String>,
    /// SHA-256 of the decoded audio, quantised to the manifest's sample
    /// format (else the source's) and laid out as its basis says (else as
    /// stored: see [`crate::audio::PcmLayout`]).
    pub audio_sha256: String,
    /// Things skipped on the way that the user should know about (e.g. a
    /// FIFO or device where a sidecar would be).
    pub warnings: Vec<String>,
    /// Measurements behind the verdict.
    #[serde(skip)]
    pub diagnostics: Diagnostics,
}

impl Verification {
    /// The result as the JSON object `earmark verify --json` prints (every
    /// front end gives this same object): a [`crate::records`] record with
    /// the verdict's `status` and `exit_code`, measurements rounded to 3
    /// decimals.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_string(self)
            .and_then(|text| serde_json::from_str(&text))
            .unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() }));
        if let Some(obj) = v.as_object_mut() {
            obj.insert(
                "declared_without_marker".into(),
                self.declared_without_marker().is_some().into(),
            );
            let status = self.status();
            obj.insert("verdict".into(), self.headline().into());
            obj.insert("status".into(), status.name().into());
            obj.insert("exit_code".into(), status.code().into());
        }
        crate::records::record("verify", v)
    }

    /// The exit status (see [`crate::exit`]): 0 marked and consistent (or a
    /// consistent signed declaration without a marker, see
    /// [`declared_without_marker`](Self::declared_without_marker)), 1 no
    /// marker, 3 marked but the manifest is invalid or contradicts the
    /// marker, or the seal does not verify; 3 also, marker or not, for
    /// C2PA credentials that fail to validate or whose soft binding names a
    /// marker the audio does not carry.
    pub fn status(&self) -> Status {
        if self.credentials_contradicted() || self.conflicting_manifests {
            Status::Invalid
        } else if !self.marked {
            match self.declared_without_marker() {
                Some(m) if m.trusted == Some(false) => Status::Untrusted,
                Some(_) => Status::Ok,
                None => Status::NoMarker,
            }
        } else if self.manifest_error.is_some()
            || self.manifest.as_ref().is_some_and(|m| !m.consistent())
            || self
                .seal
                .as_ref()
                .is_some_and(|s| s.status == SealStatus::Invalid)
        {
            Status::Invalid
        } else if self.trusted_signer == Some(false) {
            Status::Untrusted
        } else {
            Status::Ok
        }
    }

    /// The verdict in the words every front end shows (the CLI's first
    /// line, the page's heading, the JSON record's `verdict`): `MARKED`,
    /// `NO MARKER FOUND`, `MARKED, NOT BY A KEY YOU TRUST (--trust)`, …
    pub fn headline(&self) -> &'static str {
        let declared = self.declared_without_marker();
        if declared.is_some_and(|m| m.trusted == Some(false)) {
            "DECLARED WITHOUT A MARKER, NOT BY A KEY YOU TRUST (--trust)"
        } else if declared.is_some() {
            "DECLARED WITHOUT A MARKER (a signed tag-only declaration; its audio was not stamped)"
        } else if self.marked && self.trusted_signer == Some(false) {
            "MARKED, NOT BY A KEY YOU TRUST (--trust)"
        } else if self.marked {
            "MARKED"
        } else if self.too_short {
            "CANNOT TELL (shorter than one marker unit of 2.3 s)"
        } else if self.too_quiet {
            "CANNOT TELL (too quiet to hold a marker)"
        } else {
            "NO MARKER FOUND"
        }
    }

    /// [`status`](Self::status) as a process exit code.
    pub fn exit_code(&self) -> i32 {
        self.status().code()
    }

    /// The file's manifest when the file is a signed declaration without a
    /// marker (what `earmark tag` writes over audio that was never
    /// stamped): the manifest says no marker was embedded, its signature
    /// verifies, and the audio is the audio it signed. `verify` then
    /// answers 0 (or 4 with an untrusted signer), as `inspect` does.
    pub fn declared_without_marker(&self) -> Option<&ManifestReport> {
        self.manifest.as_ref().filter(|m| {
            !self.marked
                && self.manifest_error.is_none()
                && !m.document.manifest.marker_embedded
                && m.consistent()
                && m.audio_identical
        })
    }

    /// Whether the file's C2PA credentials are broken, fail to validate or
    /// contradict the audio.
    pub fn credentials_contradicted(&self) -> bool {
        #[cfg(feature = "c2pa")]
        let contradicted = self.credentials.as_ref().is_some_and(|c| c.contradicted());
        #[cfg(not(feature = "c2pa"))]
        let contradicted = false;
        self.credentials_error.is_some() || contradicted
    }
}

/// A manifest found for an input: where, and the document or why it could
/// not be parsed.
#[derive(Debug, Clone)]
struct FoundManifest {
    source: String,
    parsed: std::result::Result<SignedManifest, String>,
}

impl FoundManifest {
    fn parse(source: String, text: &str) -> FoundManifest {
        let parsed = SignedManifest::parse(text).map_err(|e| format!("{source} manifest: {e}"));
        FoundManifest { source, parsed }
    }

    fn document(&self) -> Option<&SignedManifest> {
        self.parsed.as_ref().ok()
    }
}

/// Checks a manifest against the trust list, the markers found and the
/// audio: `pcm` is the decoded audio's hash and shape, when it was decoded;
/// `encoded` the encoded packets' digest, when it was taken.
fn check_manifest(
    source: String,
    m: SignedManifest,
    trusted: &[PublicKey],
    markers: &[FoundMarker],
    pcm: Option<(&str, u64, u32, u16)>,
    encoded: Option<&StreamDigest>,
) -> ManifestReport {
    let check = m.check(trusted);
    let verdict = check.verdict();
    let a = &m.manifest.audio;
    let audio_identical = match a.basis {
        HashBasis::Encoded => encoded.is_some_and(|d| {
            m.manifest
                .matches_audio_sha256(&crate::hex::encode(&d.sha256))
                && d.frames == a.frames
        }),
        HashBasis::Pcm | HashBasis::Stored => pcm.is_some_and(|(sha, frames, rate, channels)| {
            m.manifest.matches_audio_sha256(sha)
                && a.frames == frames
                && a.sample_rate == rate
                && a.channels == channels
        }),
    };
    ManifestReport {
        source,
        verdict: verdict.to_string(),
        signature_valid: check.signature_valid,
        trusted: check.trusted,
        signer: check
            .signer
            .map(|k| format!("{:08x}", k.fingerprint32()))
            .unwrap_or_default(),
        matches_marker: (!markers.is_empty()).then(|| {
            markers
                .iter()
                .any(|f| m.manifest.matches_payload(&f.payload))
        }),
        audio_identical,
        document: m,
        verdict_kind: Some(verdict),
    }
}

/// What a valid manifest says about a marker that was not found.
fn missing_marker_note(m: &ManifestReport) -> Option<String> {
    if !m.signature_valid {
        return None;
    }
    let reference = m.document.manifest.payload.reference();
    if !m.document.manifest.marker_embedded {
        return Some(
            "a signed declaration without a marker: the manifest (from `earmark tag`, which writes metadata only) says no marker was embedded".to_string(),
        );
    }
    Some(match m.document.manifest.audio.basis {
        HashBasis::Encoded => format!(
            "the manifest (from `earmark tag`, which writes metadata only) names {reference}, but tagging embeds no marker: this audio was never stamped, or was stamped with a private watermark key"
        ),
        _ if m.audio_identical => format!(
            "the manifest names marker {reference} and the audio is bit-identical to what was stamped, so the marker is there: it was made with a private watermark key; verify with that key (--wm-key FILE)"
        ),
        _ => format!(
            "the manifest names marker {reference}, which was not found: the file was stamped with a private watermark key (give it with --wm-key), or its audio was changed too much to carry the marker"
        ),
    })
}

/// Verifies interleaved `f32` audio as it streams through.
///
/// ```
/// use earmark::{Finished, Verifier, VerifyOptions};
///
/// let noise: Vec<f32> = (0..44_100 * 2 * 4)
///     .map(|i| (((i as u32).wrapping_mul(2_654_435_761) >> 8) as f32 / 8_388_608.0 - 1.0) * 0.2)
///     .collect();
/// let mut verifier = Verifier::new(44_100, 2, &VerifyOptions::default())?;
/// for chunk in noise.chunks(4096 * 2) {
///     verifier.process(chunk);
/// }
/// let found = match verifier.finish() {
///     Finished::Complete(v) => v,
///     // Only after a speed/tempo/pitch change: feed the audio once more.
///     Finished::SealPass(mut pass) => {
///         pass.process(&noise);
///         pass.finish()
///     }
/// };
/// assert!(!found.marked);
/// # Ok::<(), earmark::Error>(())
/// ```
#[derive(Debug)]
pub struct Verifier {
    detector: Detector,
    seal: Option<SealReader>,
    hasher: PcmHasher,
    sample_rate: u32,
    channels: u16,
    frames: u64,
    opts: VerifyOptions,
    manifest: Option<FoundManifest>,
    encoded: Option<StreamDigest>,
    /// What the PCM hash quantises to, and how it lays samples out.
    hash_format: (SampleFormat, PcmLayout),
}

impl Verifier {
    /// A verifier for `channels` interleaved channels at `sample_rate` Hz.
    pub fn new(sample_rate: u32, channels: u16, opts: &VerifyOptions) -> Result<Verifier> {
        if sample_rate == 0 || channels == 0 {
            return Err(Error::unnamed(crate::error::ErrorKind::InvalidOption(
                format!("cannot verify audio with {channels} channels at {sample_rate} Hz"),
            )));
        }
        let ch = usize::from(channels);
        let spec = WriterSpec {
            sample_rate,
            channels,
            sample_format: SampleFormat::F32,
        };
        Ok(Verifier {
            detector: if opts.search {
                Detector::new(&opts.wm_key, sample_rate, ch).keep_for_search(ESTIMATE_SECONDS)
            } else {
                Detector::new(&opts.wm_key, sample_rate, ch)
            },
            seal: SealReader::new(sample_rate, ch),
            hasher: PcmHasher::new(&spec),
            sample_rate,
            channels,
            frames: 0,
            opts: opts.clone(),
            manifest: None,
            encoded: None,
            hash_format: (SampleFormat::F32, PcmLayout::Stored),
        })
    }

    /// Hashes the audio as `format` would store it, in `layout` (so it can
    /// be compared with a manifest made from such a file). Default: 32-bit
    /// float, stored layout.
    #[must_use]
    pub fn hashing_as(mut self, format: SampleFormat, layout: PcmLayout) -> Verifier {
        self.hasher = PcmHasher::with_layout(
            &WriterSpec {
                sample_rate: self.sample_rate,
                channels: self.channels,
                sample_format: format,
            },
            layout,
        );
        self.hash_format = (format, layout);
        self
    }

    /// Checks this manifest (JSON text, e.g. a sidecar's; `source` says
    /// where it came from) against what the audio holds; the hash follows
    /// the manifest's sample format.
    #[must_use]
    pub fn with_manifest(self, source: &str, text: &str) -> Verifier {
        self.with_found(Some(FoundManifest::parse(source.to_string(), text)))
    }

    fn with_found(mut self, found: Option<FoundManifest>) -> Verifier {
        if let Some(audio) = found
            .as_ref()
            .and_then(FoundManifest::document)
            .map(|m| &m.manifest.audio)
        {
            let format =
                SampleFormat::from_name(&audio.sample_format).unwrap_or(self.hash_format.0);
            let layout = match audio.basis {
                HashBasis::Pcm => PcmLayout::Widened,
                HashBasis::Stored | HashBasis::Encoded => PcmLayout::Stored,
            };
            self = self.hashing_as(format, layout);
        }
        self.manifest = found;
        self
    }

    /// Adds interleaved samples (whole frames).
    pub fn process(&mut self, interleaved: &[f32]) {
        self.frames += (interleaved.len() / usize::from(self.channels)) as u64;
        self.detector.process(interleaved);
        if let Some(r) = &mut self.seal {
            r.process(interleaved);
        }
        self.hasher.update(interleaved);
    }

    /// Ends the audio: the marker search runs (with the speed/tempo/pitch
    /// search when the plain detector finds nothing) and, unless a second
    /// pass is needed for the seal, the verification is complete.
    pub fn finish(self) -> Finished {
        let (plain, kept) = self.detector.finish_kept();
        // Nothing found plainly: look for a speed, tempo or pitch change.
        let (report, scale) = if self.opts.search {
            search_kept(&self.opts.wm_key, plain, &kept)
        } else {
            (plain, Scale::IDENTITY)
        };
        drop(kept);
        let scale = (scale != Scale::IDENTITY).then_some(scale);
        let seconds = self.frames as f64 / f64::from(self.sample_rate);
        let partial = Partial {
            seconds,
            sample_rate: self.sample_rate,
            channels: self.channels,
            frames: self.frames,
            audio_sha256: crate::hex::encode(&self.hasher.finish()),
            report,
            scale,
            opts: self.opts,
            manifest: self.manifest,
            encoded: self.encoded,
        };
        let marked = !partial.report.detections.is_empty();
        match (scale, marked, self.seal) {
            // After a change the seal's bins moved too: read it again with the
            // change undone (only for a copy long enough to carry a seal).
            (Some(sc), true, _) if seconds >= FULL_TRACK_SECONDS / 2.0 => {
                match ScaledSealReader::new(partial.sample_rate, usize::from(partial.channels), sc)
                {
                    Some(reader) => Finished::SealPass(SealPass { reader, partial }),
                    None => Finished::Complete(partial.complete(SealOutcome::NoBand)),
                }
            }
            (Some(_), _, _) => Finished::Complete(partial.complete(SealOutcome::TooShort)),
            (None, _, Some(reader)) => {
                let phase = partial.phase();
                let read = reader.finish(&partial.opts.wm_key, phase);
                Finished::Complete(partial.complete(SealOutcome::Read(read)))
            }
            (None, _, None) => Finished::Complete(partial.complete(SealOutcome::NoBand)),
        }
    }
}

/// Verifies PCM the caller holds and can give again from the start:
/// `feed` is called with a sink for interleaved chunks (whole frames), once,
/// and a second time only when the seal must be read again after a speed,
/// tempo or pitch change ([`SealPass`]). The one loop every in-memory front
/// end needs (arrays, the robustness report).
pub fn verify_pcm<F>(
    sample_rate: u32,
    channels: u16,
    opts: &VerifyOptions,
    mut feed: F,
) -> Result<Verification>
where
    F: FnMut(&mut dyn FnMut(&[f32])),
{
    let mut verifier = Verifier::new(sample_rate, channels, opts)?;
    feed(&mut |chunk| verifier.process(chunk));
    Ok(match verifier.finish() {
        Finished::Complete(v) => v,
        Finished::SealPass(mut pass) => {
            feed(&mut |chunk| pass.process(chunk));
            pass.finish()
        }
    })
}

/// The end of a [`Verifier`]'s work.
#[derive(Debug)]
pub enum Finished {
    /// Everything is known.
    Complete(Verification),
    /// The marker was found after a speed, tempo or pitch change: the seal
    /// needs the audio once more (see [`SealPass`]).
    SealPass(SealPass),
}

impl Finished {
    /// The verification, skipping a second pass if one was asked for (the
    /// seal is then reported as not read, and why).
    pub fn without_second_pass(self) -> Verification {
        match self {
            Finished::Complete(v) => v,
            Finished::SealPass(p) => p.skip(),
        }
    }
}

/// The second pass over the audio that reads the seal after a speed, tempo
/// or pitch change: feed the same audio again, then [`finish`](Self::finish).
#[derive(Debug)]
pub struct SealPass {
    reader: ScaledSealReader,
    partial: Partial,
}

impl SealPass {
    /// Adds interleaved samples of the same audio, from the start.
    pub fn process(&mut self, interleaved: &[f32]) {
        self.reader.process(interleaved);
    }

    /// The verification, with the seal read.
    pub fn finish(self) -> Verification {
        let phase = self.partial.phase();
        let read = self.reader.finish(&self.partial.opts.wm_key, phase);
        self.partial.complete(SealOutcome::Read(read))
    }

    /// The verification without the seal.
    pub fn skip(self) -> Verification {
        self.partial.complete(SealOutcome::Skipped)
    }
}

/// Everything but the seal.
#[derive(Debug)]
struct Partial {
    seconds: f64,
    sample_rate: u32,
    channels: u16,
    frames: u64,
    audio_sha256: String,
    report: DetectReport,
    scale: Option<Scale>,
    opts: VerifyOptions,
    manifest: Option<FoundManifest>,
    encoded: Option<StreamDigest>,
}

/// What reading the seal gave.
enum SealOutcome {
    /// The sample rate is too low to hold the seal.
    NoBand,
    /// A changed copy too short to be worth decoding again.
    TooShort,
    /// The second pass it needed was not made.
    Skipped,
    /// The reader ran.
    Read(SealRead),
}

impl Partial {
    fn phase(&self) -> f64 {
        self.report.best.as_ref().map_or(0.0, |b| b.phase_seconds)
    }

    fn complete(self, seal: SealOutcome) -> Verification {
        let markers: Vec<FoundMarker> = self
            .report
            .detections
            .iter()
            .map(|d| FoundMarker {
                payload: Payload::from_bytes(d.payload),
                sync_z: d.sync_z,
                bit_agreement: d.agreement,
                unit_starts: d.unit_starts.clone(),
            })
            .collect();
        let document = self.manifest.as_ref().and_then(FoundManifest::document);
        let (seal_report, seal_missing, seal_read) = match (markers.first(), seal) {
            (None, SealOutcome::Read(r)) => (None, None, Some(r)),
            (None, _) => (None, None, None),
            (Some(marker), outcome) => {
                // The manifest's own key may check the seal too (its
                // signature says whether that key is trusted).
                let mut keys = self.opts.trusted.clone();
                keys.extend(document.and_then(|m| m.manifest.signer_key().ok()));
                let (message, read) = match outcome {
                    SealOutcome::Read(r) => (Ok(r.message), Some(r)),
                    other => (Err(other), None),
                };
                let (report, missing) = seal_verdict(
                    message,
                    marker.payload,
                    &keys,
                    &self.opts.trusted,
                    self.seconds,
                );
                (report, missing, read)
            }
        };
        let (manifest, manifest_error) = match self.manifest {
            None => (None, None),
            Some(FoundManifest { parsed: Err(e), .. }) => (None, Some(e)),
            Some(FoundManifest {
                source,
                parsed: Ok(m),
            }) => (
                Some(check_manifest(
                    source,
                    m,
                    &self.opts.trusted,
                    &markers,
                    Some((
                        &self.audio_sha256,
                        self.frames,
                        self.sample_rate,
                        self.channels,
                    )),
                    self.encoded.as_ref(),
                )),
                None,
            ),
        };
        let trusted_signer = (!self.opts.trusted.is_empty() && !markers.is_empty()).then(|| {
            trusted_signer(
                &markers,
                seal_report.as_ref(),
                manifest.as_ref(),
                &self.opts.trusted,
            )
        });
        let marker_note = if markers.is_empty() && !self.report.too_short() {
            manifest.as_ref().and_then(missing_marker_note)
        } else {
            None
        };
        Verification {
            path: None,
            seconds: self.seconds,
            sample_rate: self.sample_rate,
            channels: self.channels,
            marked: !markers.is_empty(),
            marker_note,
            best_sync_z: self.report.best.as_ref().map_or(0.0, |b| b.sync_z),
            too_quiet: self.report.too_quiet(),
            too_short: self.report.too_short(),
            markers,
            change: self.scale.map(|s| s.describe()),
            scale: self.scale,
            seal: seal_report,
            seal_missing,
            trusted_signer,
            manifest,
            manifest_error,
            conflicting_manifests: false,
            #[cfg(feature = "c2pa")]
            credentials: None,
            credentials_error: None,
            audio_sha256: self.audio_sha256,
            warnings: Vec::new(),
            diagnostics: Diagnostics {
                best: self.report.best.clone(),
                analyses: self.report.analyses,
                crc_checks: self.report.crc_checks,
                seal: seal_read,
            },
        }
    }
}

/// Whether a key in `trusted` stands behind `markers` (see
/// [`Verification::trusted_signer`]).
fn trusted_signer(
    markers: &[FoundMarker],
    seal: Option<&SealReport>,
    manifest: Option<&ManifestReport>,
    trusted: &[PublicKey],
) -> bool {
    let by_seal = seal.is_some_and(|s| s.status == SealStatus::Valid && s.trusted == Some(true));
    let by_manifest = manifest.is_some_and(|m| m.signature_valid && m.trusted == Some(true));
    // Only when nothing signed can be checked does the marker's own key
    // fingerprint decide (the seal is checked with every trusted key, so an
    // unchecked seal already means the marker's key is not among them).
    let checked = seal.is_some_and(|s| s.status != SealStatus::Unchecked)
        || manifest.is_some_and(|m| m.signature_valid);
    let by_fingerprint = !checked
        && markers.iter().any(|m| {
            trusted
                .iter()
                .any(|k| k.fingerprint32() == m.payload.key_fingerprint)
        });
    by_seal || by_manifest || by_fingerprint
}

/// Checks a seal read from the audio against `keys` for `payload`. Returns
/// the seal, or why there is none.
fn seal_verdict(
    read: std::result::Result<Option<SealMessage>, SealOutcome>,
    payload: Payload,
    keys: &[PublicKey],
    trusted: &[PublicKey],
    seconds: f64,
) -> (Option<SealReport>, Option<String>) {
    let too_short = || {
        format!(
            "not recovered: the seal needs about {FULL_TRACK_SECONDS:.0} s of the track, \
             this copy has {seconds:.0} s"
        )
    };
    let message = match read {
        Err(SealOutcome::NoBand) => {
            return (
                None,
                Some("the sample rate is too low to hold the seal (below 8 kHz)".into()),
            )
        }
        Err(SealOutcome::Skipped) => {
            return (
                None,
                Some("not read: it needs a second pass over the audio after the speed/tempo/pitch change".into()),
            )
        }
        Err(_) => return (None, Some(too_short())),
        Ok(None) if seconds < FULL_TRACK_SECONDS => return (None, Some(too_short())),
        Ok(None) => {
            return (
                None,
                Some("not recovered: stamped without a seal, or too damaged".into()),
            )
        }
        Ok(Some(m)) => m,
    };
    let verdict = check_seal(keys, payload, message.policy, &message.signature);
    let (status, trusted) = match &verdict {
        SealVerdict::Valid(k) => (
            SealStatus::Valid,
            (!trusted.is_empty()).then(|| trusted.contains(k)),
        ),
        SealVerdict::Invalid(_) => (SealStatus::Invalid, None),
        SealVerdict::UnknownSigner => (SealStatus::Unchecked, None),
    };
    let policy = policy_from_code(message.policy).map_or("custom", |k| k.name());
    (
        Some(SealReport {
            status,
            signer: format!("{:08x}", payload.key_fingerprint),
            trusted,
            policy: policy.to_string(),
        }),
        None,
    )
}

/// What one pass over an input found: its metadata (when the container
/// has tags earmark reads) and the verification of its audio (or why the
/// audio could not be decoded).
pub(crate) struct Examined {
    pub metadata: std::result::Result<FileMetadata, String>,
    pub audio: Result<Verification>,
    /// The manifest, checked against the encoded audio only, when the audio
    /// could not be decoded.
    pub undecoded_manifest: Option<std::result::Result<ManifestReport, String>>,
    /// The C2PA credentials (compared with the markers when the audio was
    /// searched), or why they could not be read; `Ok(None)`: none.
    #[cfg(feature = "c2pa")]
    pub credentials: std::result::Result<Option<crate::credentials::Credentials>, String>,
}

/// The files next to an input that belong to it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Sidecars<'a> {
    /// earmark's manifest, `NAME.EXT.earmark.json`.
    pub manifest: Option<&'a Path>,
    /// A C2PA manifest store, `NAME.c2pa`.
    #[cfg_attr(not(feature = "c2pa"), allow(dead_code))]
    pub c2pa: Option<&'a Path>,
}

/// Reads `input` once: sniffs the container, reads its tags (the embedded
/// manifest, else `sidecar`'s), decodes and verifies the audio (hashing the
/// encoded packets on the way when the manifest signed them), and makes a
/// second pass only when the seal needs one. Fails only when the input
/// cannot be read at all.
pub(crate) fn examine<R>(
    input: R,
    opts: &VerifyOptions,
    hint: Option<&str>,
    sidecars: Sidecars<'_>,
) -> Result<Examined>
where
    R: Read + Seek + Send + 'static,
{
    let mut source = SharedSource::new(Box::new(input)).map_err(Error::unnamed)?;
    let container = Container::of_reader(&mut source).map_err(Error::unnamed)?;
    #[cfg(feature = "c2pa")]
    let credentials = read_credentials(source.clone(), container, sidecars.c2pa, opts);
    let metadata = match container {
        Some(c) if c.is_taggable() => {
            metadata::read_metadata(&mut source, c).map_err(|e| e.to_string())
        }
        _ => Err(metadata::MetadataError::Unsupported.to_string()),
    };
    // Several different manifests in one file: earmark writes one, so the
    // file was altered, and which one a reader takes would depend on tag
    // order. None is used, and the conflict is reported.
    let mut texts: Vec<String> = metadata
        .as_ref()
        .map(|m| m.manifests.clone())
        .unwrap_or_default();
    texts.sort();
    texts.dedup();
    let conflicting_manifests = texts.len() > 1;
    let embedded = if conflicting_manifests {
        Some(FoundManifest {
            source: "embedded".into(),
            parsed: Err(format!(
                "the file carries {} different earmark manifests; earmark writes one, so the file was altered, and none of them is used",
                texts.len()
            )),
        })
    } else {
        texts
            .first()
            .map(|text| FoundManifest::parse("embedded".into(), text))
    };
    let found = embedded.or_else(|| sidecars.manifest.and_then(read_sidecar));
    let encoded_basis = found
        .as_ref()
        .and_then(FoundManifest::document)
        .is_some_and(|m| m.manifest.audio.basis == HashBasis::Encoded);
    let options = ReadOptions {
        hash_encoded: encoded_basis,
    };
    let audio = match AudioReader::open_shared(source.clone(), hint, options) {
        Ok(reader) => verify_audio(reader, opts, found.clone(), hint),
        Err(e) => Err(Error::unnamed(e)),
    }
    .map(|mut v| {
        v.conflicting_manifests = conflicting_manifests;
        v
    });
    // Undecodable audio (Opus, damage): the manifest can still be checked
    // against the encoded packets.
    let undecoded_manifest = match (&audio, found) {
        (Err(_), Some(f)) => Some(f.parsed.map(|m| {
            let digest = if encoded_basis {
                crate::audio::stream::stream_digest_of(Box::new(source), hint).ok()
            } else {
                None
            };
            check_manifest(f.source, m, &opts.trusted, &[], None, digest.as_ref())
        })),
        _ => None,
    };
    #[cfg(feature = "c2pa")]
    let (audio, credentials) = {
        let mut audio = audio;
        let mut credentials = credentials;
        if let Ok(Some(c)) = &mut credentials {
            let found: Option<Vec<Payload>> = audio
                .as_ref()
                .ok()
                .map(|v| v.markers.iter().map(|m| m.payload).collect());
            c.compare_markers(found.as_deref());
        }
        if let Ok(v) = &mut audio {
            match &credentials {
                Ok(c) => v.credentials = c.clone().map(Box::new),
                Err(e) => v.credentials_error = Some(e.clone()),
            }
        }
        (audio, credentials)
    };
    Ok(Examined {
        metadata,
        audio,
        undecoded_manifest,
        #[cfg(feature = "c2pa")]
        credentials,
    })
}

/// Reads the C2PA credentials of `source` (embedded, else those in the
/// sidecar store `sidecar`).
#[cfg(feature = "c2pa")]
fn read_credentials(
    mut source: SharedSource,
    container: Option<Container>,
    sidecar: Option<&Path>,
    opts: &VerifyOptions,
) -> std::result::Result<Option<crate::credentials::Credentials>, String> {
    use crate::credentials::{read_credentials, MAX_STORE_BYTES};
    use std::io::SeekFrom;
    let Some(container) = container else {
        return Ok(None);
    };
    let anchors = opts.c2pa_trust.as_deref();
    // Only a file that has a store gets the SDK's (much longer) read.
    if container.embeds_c2pa() && container.may_hold_c2pa(&mut source).unwrap_or(true) {
        let found = read_credentials(container.mime(), source.clone(), None, anchors)
            .map_err(|e| e.to_string())?;
        if found.is_some() {
            return Ok(found);
        }
    }
    let Some(path) = sidecar.filter(|p| p.is_file()) else {
        return Ok(None);
    };
    let name = path.display().to_string();
    let bytes = crate::output::read_bounded(path, MAX_STORE_BYTES, "a manifest store")
        .map_err(|e| format!("{name}: {e}"))?;
    source
        .seek(SeekFrom::Start(0))
        .map_err(|e| format!("{name}: {e}"))?;
    // The store's hard binding is a hash of the whole file, whatever its
    // container; the SDK is told it is a plain byte stream.
    read_credentials(
        "application/octet-stream",
        source,
        Some((&name, &bytes)),
        anchors,
    )
    .map_err(|e| format!("{name}: {e}"))
}

/// Decodes `reader` through a [`Verifier`], with the second pass when the
/// seal needs one.
fn verify_audio(
    mut reader: AudioReader,
    opts: &VerifyOptions,
    found: Option<FoundManifest>,
    hint: Option<&str>,
) -> Result<Verification> {
    let spec: AudioSpec = reader.spec();
    let mut verifier = Verifier::new(spec.sample_rate, spec.channels, opts)?
        .hashing_as(spec.sample_format, PcmLayout::Stored)
        .with_found(found);
    let mut chunk = Vec::new();
    let mut meter = Meter::new(opts.progress.as_ref(), spec.frames, spec.channels);
    while reader.read_chunk(&mut chunk)? > 0 {
        verifier.process(&chunk);
        meter.add(chunk.len());
    }
    meter.finish();
    verifier.encoded = reader.encoded_digest();
    let warnings = reader.warnings();
    let mut v = match verifier.finish() {
        Finished::Complete(v) => v,
        Finished::SealPass(mut pass) => {
            let mut reader = reader.rewind(hint, ReadOptions::default())?;
            while reader.read_chunk(&mut chunk)? > 0 {
                pass.process(&chunk);
            }
            pass.finish()
        }
    };
    v.warnings.extend(warnings);
    Ok(v)
}

/// The sidecar manifest at `path`, if there is one (a regular file of at
/// most [`MAX_SIDECAR_BYTES`]).
fn read_sidecar(path: &Path) -> Option<FoundManifest> {
    let meta = std::fs::metadata(path).ok()?;
    let source = path.display().to_string();
    if !meta.is_file() {
        return None;
    }
    if meta.len() > MAX_SIDECAR_BYTES {
        return Some(FoundManifest {
            source: source.clone(),
            parsed: Err(format!(
                "{source} manifest: {} bytes is too large for a manifest",
                meta.len()
            )),
        });
    }
    let text = std::fs::read(path).ok()?;
    Some(FoundManifest::parse(
        source,
        &String::from_utf8_lossy(&text),
    ))
}

/// Verifies `input` (any container earmark decodes): the marker, the seal
/// and the embedded manifest. An input whose audio cannot be decoded is an
/// error.
pub fn verify<R>(input: R, opts: &VerifyOptions) -> Result<Verification>
where
    R: Read + Seek + Send + 'static,
{
    examine(input, opts, None, Sidecars::default())?.audio
}

/// [`verify`] on bytes in memory.
pub fn verify_bytes(input: &[u8], opts: &VerifyOptions) -> Result<Verification> {
    verify(std::io::Cursor::new(input.to_vec()), opts)
}

/// Verifies the file at `path`; the manifest is the embedded one, else the
/// sidecar `NAME.EXT.earmark.json` (else `NAME.earmark.json`, as earlier
/// versions named it) next to it.
pub fn verify_file(path: &Path, opts: &VerifyOptions) -> Result<Verification> {
    let mut v = examine_file(path, opts)?
        .audio
        .map_err(|e| e.with_path(path))?;
    v.path = Some(path.to_path_buf());
    Ok(v)
}

/// [`examine`] of the file at `path`: its extension as the format hint,
/// the sidecar `NAME.EXT.earmark.json` (else the older `NAME.earmark.json`)
/// next to it.
pub(crate) fn examine_file(path: &Path, opts: &VerifyOptions) -> Result<Examined> {
    let input = crate::output::open_input(path)?;
    let hint = path.extension().and_then(|e| e.to_str());
    let current = crate::naming::sidecar_path(path);
    let legacy = crate::naming::legacy_sidecar_path(path);
    let manifest = if current.exists() || !legacy.exists() {
        current
    } else {
        legacy
    };
    let c2pa = crate::naming::c2pa_sidecar_path(path);
    let mut skipped = Vec::new();
    let sidecars = Sidecars {
        manifest: (manifest != path)
            .then_some(manifest.as_path())
            .and_then(|p| regular_sidecar(p, &mut skipped)),
        c2pa: (c2pa != path)
            .then_some(c2pa.as_path())
            .and_then(|p| regular_sidecar(p, &mut skipped)),
    };
    let mut examined = examine(input, opts, hint, sidecars).map_err(|e| e.with_path(path))?;
    if let Ok(v) = &mut examined.audio {
        v.warnings.extend(skipped);
    }
    Ok(examined)
}

/// `path` if a regular file is there (symlinks followed) to read as a
/// sidecar; a FIFO, device, socket or folder in its place is never opened
/// (a FIFO would block, a device never end) and is reported in `skipped`.
fn regular_sidecar<'a>(path: &'a Path, skipped: &mut Vec<String>) -> Option<&'a Path> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => Some(path),
        Ok(m) => {
            skipped.push(format!(
                "{} is {}, not a regular file: not read as a sidecar",
                path.display(),
                crate::output::describe_file_type(&m)
            ));
            None
        }
        Err(_) => None,
    }
}
