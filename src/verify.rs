//! Verifying one file: find the marker, read the manifest (embedded or
//! sidecar), check its signature, and compare it with the marker and the audio.
//!
//! The file is decoded once, streamed through the [`Detector`] and the PCM
//! hasher. When the plain detector finds nothing, the speed/tempo/pitch
//! search ([`crate::mark::search`]) runs on what the detector kept of the
//! first [`ESTIMATE_SECONDS`] (analysis rows and 11 025 Hz mono samples): no
//! second decode, and memory stays bounded whatever the file's length.

use crate::audio::{stream_digest, AudioReader, PcmHasher, SampleFormat, WriterSpec};
use crate::error::{Error, Result};
use crate::mark::seal::{ScaledSealReader, SealReader, FULL_TRACK_SECONDS};
use crate::mark::search::{search_kept, ESTIMATE_SECONDS};
use crate::mark::{Detector, Scale, WatermarkKey};
use crate::provenance::{
    check_seal, policy_from_code, HashBasis, Payload, PublicKey, SealVerdict, SignedManifest,
    Verdict,
};
use crate::stamp::sidecar_path;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// What to verify with.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct VerifyOptions {
    /// The watermark key. Default: the built-in public key.
    pub wm_key: WatermarkKey,
    /// Signers the user trusts. Default: none (signatures are checked, trust is not).
    pub trusted: Vec<PublicKey>,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            wm_key: WatermarkKey::public(),
            trusted: Vec::new(),
        }
    }
}

/// A marker payload found in the audio.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct FoundMarker {
    /// The decoded payload (key fingerprint and track id).
    pub payload: Payload,
    /// Synchronisation z-score (unmarked audio: below about 4).
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

/// The seal read from the audio itself (see [`crate::mark::seal`]): a
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
    /// Short fingerprint of the signer key.
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

/// Everything verification found about one file.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct VerifyOutcome {
    /// The file.
    pub path: PathBuf,
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
    /// The manifest, if the file or a sidecar has one.
    pub manifest: Option<ManifestReport>,
    /// Why a manifest that was present could not be read.
    pub manifest_error: Option<String>,
    /// SHA-256 of the decoded audio in the manifest's sample format.
    pub audio_sha256: String,
}

impl VerifyOutcome {
    /// Exit status for the CLI: 0 marked and consistent, 1 no marker,
    /// 3 marked but the manifest is invalid or contradicts the marker.
    pub fn exit_code(&self) -> i32 {
        if !self.marked {
            1
        } else if self.manifest_error.is_some()
            || self.manifest.as_ref().is_some_and(|m| !m.consistent())
            || self
                .seal
                .as_ref()
                .is_some_and(|s| s.status == SealStatus::Invalid)
        {
            3
        } else {
            0
        }
    }
}

fn parse_format(name: &str) -> Option<SampleFormat> {
    match name {
        "s16" => Some(SampleFormat::I16),
        "s24" => Some(SampleFormat::I24),
        "f32" => Some(SampleFormat::F32),
        _ => None,
    }
}

/// Finds the manifest: in the file's own metadata first, then the sidecar.
pub(crate) fn find_manifest(path: &Path) -> (Option<(String, SignedManifest)>, Option<String>) {
    let embedded = crate::metadata::read_metadata(path)
        .ok()
        .and_then(|m| m.manifests.into_iter().next());
    let (source, text) = match embedded {
        Some(text) => ("embedded".to_string(), text),
        None => {
            let side = sidecar_path(path);
            match std::fs::read_to_string(&side) {
                Ok(text) if side != path => (side.display().to_string(), text),
                _ => return (None, None),
            }
        }
    };
    match SignedManifest::parse(&text) {
        Ok(m) => (Some((source, m)), None),
        Err(e) => (None, Some(format!("{source} manifest: {e}"))),
    }
}

/// Checks a manifest against the trust list, the markers found and the audio.
/// `pcm` is the decoded audio's hash and shape, when it was decoded; a
/// manifest over the encoded packets ([`HashBasis::Encoded`]) is checked
/// against the file's packets instead.
pub(crate) fn check_manifest(
    path: &Path,
    source: String,
    m: SignedManifest,
    trusted: &[PublicKey],
    markers: &[FoundMarker],
    pcm: Option<(&str, u64, u32, u16)>,
) -> ManifestReport {
    let check = m.check(trusted);
    let verdict = check.verdict();
    let a = &m.manifest.audio;
    let audio_identical = match a.basis {
        HashBasis::Encoded => stream_digest(path).is_ok_and(|d| {
            m.manifest
                .matches_audio_sha256(&crate::provenance::hex::encode(&d.sha256))
                && d.frames == a.frames
        }),
        HashBasis::Pcm => pcm.is_some_and(|(sha, frames, rate, channels)| {
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
            .map(|k| k.short_fingerprint())
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

/// What reading the seal gave.
enum SealRead {
    /// The sample rate has no seal band.
    NoBand,
    /// A changed copy too short to be worth decoding again.
    TooShort,
    /// The reader ran; the message if its CRC matched.
    Message(Option<crate::mark::seal::SealMessage>),
}

/// Checks a seal read from the audio against `keys` for `payload`. Returns
/// the seal, or why there is none.
fn read_seal(
    read: SealRead,
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
        SealRead::NoBand => {
            return (
                None,
                Some("the sample rate is too low to hold the seal band (4.6-8.7 kHz)".into()),
            )
        }
        SealRead::TooShort => return (None, Some(too_short())),
        SealRead::Message(None) if seconds < FULL_TRACK_SECONDS => {
            return (None, Some(too_short()))
        }
        SealRead::Message(None) => {
            return (
                None,
                Some("not recovered: stamped without a seal, or too damaged".into()),
            )
        }
        SealRead::Message(Some(m)) => m,
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

/// Decodes `path` again through seal readers around `scale` (see
/// [`ScaledSealReader`]) and returns the message, if one reads.
fn rescan_for_seal(
    path: &Path,
    scale: Scale,
    wm_key: &WatermarkKey,
    phase: f64,
) -> Result<Option<crate::mark::seal::SealMessage>> {
    let mut reader = AudioReader::open(path).map_err(|e| Error::new(path, e))?;
    let spec = reader.spec().clone();
    let Some(mut seal) = ScaledSealReader::new(spec.sample_rate, usize::from(spec.channels), scale)
    else {
        return Ok(None);
    };
    let mut chunk = Vec::new();
    while reader
        .read_chunk(&mut chunk)
        .map_err(|e| Error::new(path, e))?
        > 0
    {
        seal.process(&chunk);
    }
    Ok(seal.finish(wm_key, phase).message)
}

/// Verifies one file.
pub fn verify_file(path: &Path, opts: &VerifyOptions) -> Result<VerifyOutcome> {
    let mut reader = AudioReader::open(path).map_err(|e| Error::new(path, e))?;
    let spec = reader.spec().clone();
    let (manifest, manifest_error) = find_manifest(path);
    // Hash in the format the manifest was made from, so equal audio gives equal hashes.
    let mut wspec: WriterSpec = spec.writer_spec();
    if let Some(f) = manifest
        .as_ref()
        .and_then(|(_, m)| parse_format(&m.manifest.audio.sample_format))
    {
        wspec.sample_format = f;
    }
    let mut hasher = PcmHasher::new(&wspec);
    let mut detector = Detector::new(&opts.wm_key, spec.sample_rate, usize::from(spec.channels))
        .keep_for_search(ESTIMATE_SECONDS);
    let mut seal_reader = SealReader::new(spec.sample_rate, usize::from(spec.channels));
    let mut chunk = Vec::new();
    let mut frames = 0u64;
    loop {
        let n = reader
            .read_chunk(&mut chunk)
            .map_err(|e| Error::new(path, e))?;
        if n == 0 {
            break;
        }
        frames += n as u64;
        detector.process(&chunk);
        if let Some(r) = &mut seal_reader {
            r.process(&chunk);
        }
        hasher.update(&chunk);
    }
    let (plain, kept) = detector.finish_kept();
    // Nothing found plainly: look for a speed, tempo or pitch change.
    let (report, scale) = search_kept(&opts.wm_key, plain, &kept);
    drop(kept);
    let scale = (scale != Scale::IDENTITY).then_some(scale);
    let audio_sha256 = crate::provenance::hex::encode(&hasher.finish());
    let markers: Vec<FoundMarker> = report
        .detections
        .iter()
        .map(|d| FoundMarker {
            payload: Payload::from_bytes(d.payload),
            sync_z: d.sync_z,
            bit_agreement: d.agreement,
            unit_starts: d.unit_starts.clone(),
        })
        .collect();
    let seconds = frames as f64 / f64::from(spec.sample_rate);
    let (seal, seal_missing) = match markers.first() {
        None => (None, None),
        Some(marker) => {
            // The manifest's own key may check the seal too (its signature
            // says whether that key is trusted).
            let mut keys = opts.trusted.clone();
            keys.extend(
                manifest
                    .as_ref()
                    .and_then(|(_, m)| m.manifest.signer_key().ok()),
            );
            let phase = report.best.as_ref().map_or(0.0, |b| b.phase_seconds);
            // After a speed/tempo/pitch change the seal band moved too: read
            // it again with the change undone (a second decode, only for a
            // changed copy long enough to carry a seal).
            let message = match scale {
                Some(sc) if seconds >= FULL_TRACK_SECONDS / 2.0 => {
                    SealRead::Message(rescan_for_seal(path, sc, &opts.wm_key, phase)?)
                }
                Some(_) => SealRead::TooShort,
                None => match seal_reader {
                    Some(r) => SealRead::Message(r.finish(&opts.wm_key, phase).message),
                    None => SealRead::NoBand,
                },
            };
            read_seal(message, marker.payload, &keys, &opts.trusted, seconds)
        }
    };
    let manifest = manifest.map(|(source, m)| {
        check_manifest(
            path,
            source,
            m,
            &opts.trusted,
            &markers,
            Some((&audio_sha256, frames, spec.sample_rate, spec.channels)),
        )
    });
    Ok(VerifyOutcome {
        path: path.to_path_buf(),
        seconds,
        sample_rate: spec.sample_rate,
        channels: spec.channels,
        marked: !markers.is_empty(),
        best_sync_z: report.best.as_ref().map_or(0.0, |b| b.sync_z),
        too_quiet: report.too_quiet(),
        too_short: report.too_short(),
        markers,
        change: scale.map(|s| s.describe()),
        scale,
        seal,
        seal_missing,
        manifest,
        manifest_error,
        audio_sha256,
    })
}
