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
    /// Track id recorded in the manifest's payload. Default: random.
    pub track_id: Option<u32>,
}

impl TagOptions {
    /// Defaults for everything but the signing key.
    pub fn new(signing_key: SigningKeyPair) -> Self {
        TagOptions {
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
    /// Things the user should know (existing tags that could not be kept).
    pub warnings: Vec<String>,
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
    let payload = Payload::new(
        opts.signing_key.public_key().fingerprint32(),
        opts.track_id.unwrap_or_else(random_track_id),
    );
    let audio = AudioDigest::new(
        hex::encode(&digest.sha256),
        digest.frames,
        digest.sample_rate,
        digest.channels,
        digest.codec.clone(),
    )
    .with_basis(HashBasis::Encoded);
    let mut manifest = Manifest::new(payload, audio, opts.policy.clone());
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
    source
        .seek(SeekFrom::Start(0))
        .map_err(|e| Error::new(input, e))?;
    std::io::copy(&mut source, &mut dst).map_err(|e| Error::new(&output, e))?;
    let json = signed.to_json_compact();
    let warnings = metadata::write_declaration(&mut dst, container, &decl, Some(&json), None)
        .map_err(|e| Error::new(&output, e))?;
    drop(dst);
    let written = check_written(temp.path(), &json, &decl, &digest.sha256)
        .map_err(|why| Error::new(&output, ErrorKind::Other(why)))?;
    output::persist(temp, &output, out.force)?;
    Ok(TagOutcome {
        input: input.to_path_buf(),
        output,
        container,
        manifest: signed,
        metadata: written,
        warnings,
    })
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
