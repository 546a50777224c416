//! Tagging one file: the no-AI declaration and a signed manifest written
//! into the file's own metadata, without touching the audio.
//!
//! The input is copied to a temporary file next to the output, every carrier
//! is written there (see [`crate::metadata`]), and the result is checked
//! before it takes its final name: its tags must read back with the new
//! declaration and manifest, and its encoded audio packets must hash to
//! exactly what the input's do. The manifest signs that packet hash
//! ([`HashBasis::Encoded`]), so it does not depend on any decoder.

use crate::audio::stream::stream_digest_of;
use crate::audio::stream_digest;
use crate::container::Container;
use crate::error::{Error, ErrorKind, Result};
use crate::hex;
use crate::metadata::{self, Declaration, FileMetadata};
use crate::naming;
use crate::output::{self, FileOutput};
use crate::payload::{random_track_id, Payload};
use crate::policy::Policy;
use crate::provenance::{AudioDigest, HashBasis, Manifest, SignedManifest, SigningKeyPair};
use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// What to tag with.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TagOptions {
    /// The artist's Ed25519 key: signs the manifest.
    pub signing_key: SigningKeyPair,
    /// The declared policy (notice and terms URL included). Default: no AI training.
    pub policy: Policy,
    /// Copyright owner; default: the artist (option, else the file's artist tag).
    pub owner: Option<String>,
    /// Title for the manifest; default: the file's title tag.
    pub title: Option<String>,
    /// Artist for the manifest; default: the file's artist tag.
    pub artist: Option<String>,
    /// Track id recorded in the manifest's payload. Default: the one the
    /// marker in the audio carries, when the audio was stamped with this
    /// key; else random.
    pub track_id: Option<u32>,
    /// Content Credentials: the X.509 chain that certifies
    /// [`signing_key`](Self::signing_key), to sign a C2PA manifest with (in
    /// the file for WAV, MP3, FLAC and M4A; a sidecar `NAME.c2pa` for AIFF
    /// and Ogg). `None` leaves it out. Default: the key's self-issued chain.
    #[cfg(feature = "c2pa")]
    pub credentials: Option<crate::credentials::CertificateChain>,
}

impl TagOptions {
    /// Defaults for everything but the signing key.
    pub fn new(signing_key: SigningKeyPair) -> Self {
        #[cfg(feature = "c2pa")]
        let credentials = Some(crate::credentials::CertificateChain::self_issued_default(
            &signing_key,
        ));
        TagOptions {
            #[cfg(feature = "c2pa")]
            credentials,
            signing_key,
            policy: Policy::default(),
            owner: None,
            title: None,
            artist: None,
            track_id: None,
        }
    }
}

/// The result of tagging one file.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TagOutcome {
    /// The input file (unchanged).
    pub input: PathBuf,
    /// The tagged copy.
    pub output: PathBuf,
    /// Its container.
    pub container: Container,
    /// The signed manifest written into it.
    pub manifest: SignedManifest,
    /// The carriers as read back from the output.
    pub metadata: FileMetadata,
    /// The marker found in the audio, if any (tagging does not add one).
    pub marker: Option<Payload>,
    /// The C2PA manifest store written (see [`TagOptions::credentials`]).
    #[cfg(feature = "c2pa")]
    pub credentials: Option<crate::credentials::CredentialsWritten>,
    /// Things the user should know (existing tags that could not be kept).
    pub warnings: Vec<String>,
}

impl TagOutcome {
    /// The result as the JSON record `earmark tag --json` prints (see
    /// [`crate::records`]).
    pub fn to_json(&self) -> serde_json::Value {
        #[cfg(feature = "c2pa")]
        let credentials = serde_json::to_value(&self.credentials).unwrap_or_default();
        #[cfg(not(feature = "c2pa"))]
        let credentials = serde_json::Value::Null;
        crate::records::record(
            "tag",
            serde_json::json!({
                "path": self.input,
                "output": self.output,
                "container": self.container,
                "carriers": self.metadata.carriers,
                "warnings": self.warnings,
                "manifest": self.manifest,
                "marker": self.marker,
                "credentials": credentials,
            }),
        )
    }
}

/// Tags `input` and writes the result atomically to `out` (default:
/// `NAME.earmark.EXT` next to the input).
pub fn tag_file(input: &Path, out: &FileOutput, opts: &TagOptions) -> Result<TagOutcome> {
    // One open: sniffed, tags read, packets hashed and copied from here.
    let mut source = output::open_input(input)?;
    let container = Container::of_reader(&mut source)
        .map_err(|e| Error::new(input, e))?
        .filter(|c| c.is_taggable())
        .ok_or_else(|| Error::new(input, metadata::MetadataError::Unsupported))?;
    let output = out
        .path
        .clone()
        .unwrap_or_else(|| naming::tagged_path(input));
    if output::same_file(input, &output) {
        return Err(Error::new(&output, ErrorKind::OutputIsInput));
    }
    if let Some(ext) = output.extension().and_then(|e| e.to_str()) {
        let ext = ext.to_ascii_lowercase();
        if !container.extensions().contains(&ext.as_str()) {
            return Err(Error::new(
                &output,
                ErrorKind::Other(format!(
                    "tag keeps the audio as it is, so the output must stay {} (.{}), not .{ext}",
                    container,
                    container.extension()
                )),
            ));
        }
    }
    output::check_writable(&output, out.force)?;

    let ext = input.extension().and_then(|e| e.to_str());
    let packets = source
        .get_ref()
        .try_clone()
        .map_err(|e| Error::new(input, e))?;
    let digest = stream_digest_of(Box::new(packets), ext).map_err(|e| Error::new(input, e))?;
    let existing =
        metadata::read_metadata(&mut source, container).map_err(|e| Error::new(input, e))?;
    let title = opts.title.clone().or(existing.title.clone());
    let artist = opts.artist.clone().or(existing.artist.clone());
    let mut warnings = Vec::new();
    let fingerprint = opts.signing_key.public_key().fingerprint32();
    let found = find_marker(input);
    let marker = found.map(|(m, _)| m);
    // The manifest names the marker the audio carries, when this key made it.
    let own = marker.filter(|m| m.key_fingerprint == fingerprint);
    if let Some(m) = marker.filter(|m| m.key_fingerprint != fingerprint) {
        warnings.push(format!(
            "the audio carries another key's marker ({}); the manifest and credentials do not bind it",
            m.reference()
        ));
    }
    let payload = match (opts.track_id, own) {
        (Some(id), _) => Payload::new(fingerprint, id),
        (None, Some(m)) => m,
        (None, None) => Payload::new(fingerprint, random_track_id()),
    };
    let audio = AudioDigest::new(
        hex::encode(&digest.sha256),
        digest.frames,
        digest.sample_rate,
        digest.channels,
        digest.codec.clone(),
    )
    .with_basis(HashBasis::Encoded);
    let mut manifest = Manifest::new(payload, audio, opts.policy.clone());
    // Tagging embeds nothing: the manifest names a marker only when this
    // key's marker is already in the audio.
    manifest.marker_embedded = own == Some(payload);
    manifest.title = title;
    manifest.artist = artist.clone();
    let signed = manifest.sign(&opts.signing_key);
    let owner = opts.owner.clone().or(artist);
    let decl = Declaration::new(
        opts.policy.clone(),
        owner.as_deref(),
        metadata::current_year(),
    );

    let temp = output::temp_tagged(&output, out.temp_tag.as_deref())?;
    let mut dst = temp.reopen().map_err(|e| Error::new(&output, e))?;
    // An ID3v2 tag in front of a FLAC stream (where C2PA tools keep their
    // manifest store) is not copied: the tag writer cannot edit such a file,
    // and the old store is replaced (it stays in the new one's parent
    // ingredient) or, with no credentials written, dropped.
    let start = if container == Container::Flac {
        crate::container::flac::stream_start(&mut source).map_err(|e| Error::new(input, e))?
    } else {
        0
    };
    #[cfg(feature = "c2pa")]
    let replaced = opts.credentials.is_some();
    #[cfg(not(feature = "c2pa"))]
    let replaced = false;
    if start > 0 && !replaced {
        warnings.push(format!(
            "the ID3v2 tag in front of the FLAC stream ({start} bytes, e.g. an older C2PA manifest store) was not copied"
        ));
    }
    source
        .seek(SeekFrom::Start(start))
        .map_err(|e| Error::new(input, e))?;
    std::io::copy(&mut source, &mut dst).map_err(|e| Error::new(&output, e))?;
    let json = signed.to_json_compact();
    warnings.extend(
        metadata::write_declaration(&mut dst, container, &decl, Some(&json), None)
            .map_err(|e| Error::new(&output, e))?,
    );
    drop(dst);
    // Content Credentials last: their hard binding covers every other byte.
    #[cfg(feature = "c2pa")]
    let (temp, c2pa_sidecar, credentials) = match &opts.credentials {
        Some(chain) => {
            let signer = crate::credentials::ClaimSigner::checked(&opts.signing_key, chain)?;
            let bound = found.filter(|(m, _)| own == Some(*m) && *m == payload);
            let claim = tag_claim(input, &signed, bound);
            let attached =
                crate::credentials::attach(temp, &output, out, container, input, &claim, &signer)?;
            (attached.file, attached.sidecar, Some(attached.written))
        }
        None => (temp, None, None),
    };
    let written = check_written(temp.path(), &json, &decl, &digest.sha256)
        .map_err(|why| Error::new(&output, ErrorKind::Other(why)))?;
    output::persist(temp, &output, out.force)?;
    #[cfg(feature = "c2pa")]
    if let Some((temp, path)) = c2pa_sidecar {
        if let Err(e) = output::persist(temp, &path, out.force) {
            let _ = std::fs::remove_file(&output);
            return Err(e);
        }
    }
    Ok(TagOutcome {
        input: input.to_path_buf(),
        output,
        container,
        manifest: signed,
        metadata: written,
        marker,
        #[cfg(feature = "c2pa")]
        credentials,
        warnings,
    })
}

/// The marker payload in `input`'s audio and the audio's length, seconds,
/// if it has one that decodes (with the public watermark key; undecodable
/// audio has none to find).
fn find_marker(input: &Path) -> Option<(Payload, f64)> {
    let file = output::open_input(input).ok()?;
    let found = crate::verify::verify(file, &crate::verify::VerifyOptions::default()).ok()?;
    found.markers.first().map(|m| (m.payload, found.seconds))
}

/// What the C2PA manifest of a tagged file claims: the metadata edit, and
/// the marker the audio carries when this key made it.
#[cfg(feature = "c2pa")]
fn tag_claim(
    input: &Path,
    signed: &SignedManifest,
    marker: Option<(Payload, f64)>,
) -> crate::credentials::Claim {
    use crate::credentials::{Claim, Operation};
    let name = naming::stem_of(input, "untitled");
    Claim::for_manifest(&signed.manifest, &name, Operation::Tag, marker)
}

/// Reads a freshly written file back: the declaration and manifest must be
/// there and the encoded audio must be unchanged.
fn check_written(
    path: &Path,
    manifest: &str,
    decl: &Declaration,
    sha256: &[u8; 32],
) -> std::result::Result<FileMetadata, String> {
    let meta = metadata::read_metadata_file(path)
        .map_err(|e| format!("the tagged file does not read back: {e}"))?;
    if !meta.manifests.iter().any(|m| m == manifest) {
        return Err("the tagged file does not read back with its manifest".into());
    }
    if meta.data_mining() != Some(decl.policy.plus_data_mining.as_str()) {
        return Err("the tagged file's carriers do not all read back the declaration".into());
    }
    let after = stream_digest(path).map_err(|e| format!("the tagged file's audio: {e}"))?;
    if &after.sha256 != sha256 {
        return Err("tagging changed the encoded audio; nothing was written".into());
    }
    Ok(meta)
}
