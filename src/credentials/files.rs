//! Content Credentials for the files `stamp` and `tag` write: the last step
//! before a finished temporary file takes its name.
//!
//! * WAV (32-bit RIFF) and FLAC as earmark writes them: earmark reserves
//!   the store's bytes itself (a `C2PA` chunk appended in place; an ID3v2
//!   tag with a `GEOB` frame put in front of the FLAC stream, as the SDK
//!   does), hashes the rest of the file in one streaming pass and writes
//!   the signed store into the reserved bytes. Memory stays bounded.
//! * MP3, M4A, and WAV/FLAC that already carry an ID3 tag or RF64 sizes:
//!   the SDK copies the file with the store inserted (it buffers the file).
//! * AIFF, Ogg: a sidecar `NAME.c2pa`.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{embed, sidecar, Claim, ClaimSigner, CredentialsError, Parent, ReservedStore};
use crate::container::{id3, riff, Container};
use crate::error::{Error, ErrorKind, Result};
use crate::naming;
use crate::output::{self, FileOutput, TempFile};

/// Where a file's C2PA manifest store went, and what it names.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct CredentialsWritten {
    /// `"embedded"`, or the sidecar's path (AIFF, Ogg: the SDK cannot embed
    /// into those yet). JSON: `source`, as where credentials were read.
    #[serde(rename = "source")]
    pub location: String,
    /// The signing certificate's common name. JSON: `signer_name` (a
    /// `signer` is a key fingerprint in earmark's records).
    #[serde(rename = "signer_name")]
    pub signer: String,
    /// The soft binding's value (the marker payload, 16 hex digits), if any.
    pub soft_binding: Option<String>,
    /// The active manifest's label (`urn:c2pa:…`), its identifier for the
    /// Soft Binding Resolution API.
    pub manifest_id: Option<String>,
    /// The manifest store's bytes (`application/c2pa`), for a catalogue
    /// that serves them.
    #[serde(skip)]
    pub store: Vec<u8>,
}

/// A finished output with its credentials: the file to rename into place
/// and, for a sidecar, its temporary file and final path.
#[derive(Debug)]
pub struct Attached {
    /// The output file to persist.
    pub file: TempFile,
    /// The sidecar store to persist beside it, and where.
    pub sidecar: Option<(TempFile, PathBuf)>,
    /// What was written.
    pub written: CredentialsWritten,
}

/// The `GEOB` frame fields C2PA tools write for a manifest store.
const GEOB_MIME: &str = "application/c2pa";
const GEOB_FILE_NAME: &str = "c2pa";
const GEOB_DESCRIPTION: &str = "c2pa manifest store";

/// How a container gets its store.
enum Placement {
    /// A `C2PA` chunk appended in place.
    RiffChunk,
    /// An ID3v2 tag with a `GEOB` frame in front of a FLAC stream.
    Id3InFront,
    /// The SDK's own embedding (a copy).
    Sdk,
    /// A sidecar `NAME.c2pa`.
    Sidecar,
}

fn placement(container: Container, file: &mut File) -> std::io::Result<Placement> {
    let mut head = [0u8; 4];
    file.seek(SeekFrom::Start(0))?;
    let n = crate::container::read_up_to(file, &mut head)?;
    Ok(match (container, &head[..n]) {
        (Container::Wav, b"RIFF") => Placement::RiffChunk,
        (Container::Flac, b"fLaC") => Placement::Id3InFront,
        (c, _) if c.embeds_c2pa() => Placement::Sdk,
        _ => Placement::Sidecar,
    })
}

/// Adds a C2PA manifest store for `claim` to `finished` (the complete file
/// bound for `output`, of container `container`), with `input` as the
/// parent ingredient. `out` gives the temporary names and whether a sidecar
/// may replace an existing one.
pub fn attach(
    finished: TempFile,
    output: &Path,
    out: &FileOutput,
    container: Container,
    input: &Path,
    claim: &Claim,
    signer: &ClaimSigner,
) -> Result<Attached> {
    let io = |e: std::io::Error| Error::new(output, e);
    let fail = |e: CredentialsError| Error::new(output, ErrorKind::Other(e.to_string()));
    let mut file = finished.reopen().map_err(io)?;
    let mut input_file = output::open_input(input)?;
    let title = input
        .file_name()
        .map_or_else(|| "input".into(), |n| n.to_string_lossy().into_owned());
    let parent = Parent::sniffed(title, &mut input_file);
    let written = |location: String, store: Vec<u8>| CredentialsWritten {
        location,
        signer: signer.chain().common_name(),
        soft_binding: claim
            .soft_binding
            .map(|s| super::SoftBinding::value(&s.payload)),
        manifest_id: super::store_label(&store),
        store,
    };
    let mime = container.mime();
    match placement(container, &mut file).map_err(io)? {
        Placement::RiffChunk => {
            let store = ReservedStore::new(claim, signer, mime, parent).map_err(fail)?;
            let len = store.len();
            let at = riff::reserve_chunk(&mut file, b"C2PA", len).map_err(io)?;
            // As C2PA tools do: the exclusion is the whole chunk, header included.
            let excluded = len as u64 + 8;
            let sha = sha256_outside(&mut file, at, excluded).map_err(io)?;
            let bytes = store.sign(signer, at, excluded, sha).map_err(fail)?;
            file.seek(SeekFrom::Start(at + 8)).map_err(io)?;
            file.write_all(&bytes).map_err(io)?;
            Ok(Attached {
                file: finished,
                sidecar: None,
                written: written("embedded".into(), bytes),
            })
        }
        Placement::Id3InFront => {
            let store = ReservedStore::new(claim, signer, mime, parent).map_err(fail)?;
            let len = store.len();
            let (tag, data_at) =
                id3::geob_tag(GEOB_MIME, GEOB_FILE_NAME, GEOB_DESCRIPTION, &vec![0; len])
                    .ok_or_else(|| {
                        fail(CredentialsError::other("C2PA: manifest store too large"))
                    })?;
            let signed = output::temp_tagged(output, out.temp_tag.as_deref())?;
            let mut dest = signed.reopen().map_err(io)?;
            let mut hasher = Sha256::new();
            hasher.update(&tag[..data_at]);
            hasher.update(&tag[data_at + len..]);
            dest.write_all(&tag).map_err(io)?;
            file.seek(SeekFrom::Start(0)).map_err(io)?;
            copy_hashing(&mut file, &mut dest, &mut hasher).map_err(io)?;
            let sha = hasher.finalize().to_vec();
            let bytes = store
                .sign(signer, data_at as u64, len as u64, sha)
                .map_err(fail)?;
            dest.seek(SeekFrom::Start(data_at as u64)).map_err(io)?;
            dest.write_all(&bytes).map_err(io)?;
            drop(finished);
            Ok(Attached {
                file: signed,
                sidecar: None,
                written: written("embedded".into(), bytes),
            })
        }
        Placement::Sdk => {
            let signed = output::temp_tagged(output, out.temp_tag.as_deref())?;
            let mut dest = signed.reopen().map_err(io)?;
            let store = embed(claim, signer, mime, parent, &mut file, &mut dest).map_err(fail)?;
            drop(finished);
            Ok(Attached {
                file: signed,
                sidecar: None,
                written: written("embedded".into(), store),
            })
        }
        Placement::Sidecar => {
            let path = naming::c2pa_sidecar_path(output);
            if output::same_file(input, &path) {
                return Err(Error::new(&path, ErrorKind::OutputIsInput));
            }
            output::check_writable(&path, out.force)?;
            let store = sidecar(claim, signer, mime, parent, &mut file).map_err(fail)?;
            let temp = output::temp_with_tagged(&path, &store, out.temp_tag.as_deref())?;
            Ok(Attached {
                file: finished,
                sidecar: Some((temp, path.clone())),
                written: written(path.display().to_string(), store),
            })
        }
    }
}

/// Buffer for the streaming passes.
const CHUNK: usize = 1 << 18;

/// SHA-256 of `file` without the `len` bytes at `at`.
fn sha256_outside(file: &mut File, at: u64, len: u64) -> std::io::Result<Vec<u8>> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    file.seek(SeekFrom::Start(0))?;
    let mut pos = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        let (start, end) = (pos, pos + n as u64);
        // The part of [start, end) outside [at, at + len).
        let cut_from = at.clamp(start, end) - start;
        let cut_to = (at + len).clamp(start, end) - start;
        hasher.update(&buf[..cut_from as usize]);
        hasher.update(&buf[cut_to as usize..n]);
        pos = end;
    }
    Ok(hasher.finalize().to_vec())
}

/// Copies `from` to `to`, hashing what passes.
fn copy_hashing(from: &mut File, to: &mut File, hasher: &mut Sha256) -> std::io::Result<()> {
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = from.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        hasher.update(&buf[..n]);
        to.write_all(&buf[..n])?;
    }
}
