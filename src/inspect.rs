//! Inspecting one file: everything earmark can read about it — the
//! declaration in each metadata carrier (and whether they agree), the signed
//! manifest and its checks, and any marker in the audio.

use crate::error::{Error, Result};
use crate::metadata::{self, FileMetadata};
use crate::verify::{
    check_manifest, find_manifest, FoundMarker, ManifestReport, SealReport, SealStatus,
    VerifyOptions,
};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// What [`inspect_file`] found.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct InspectOutcome {
    /// The file.
    pub path: PathBuf,
    /// Its metadata, when the container is one earmark reads.
    pub metadata: Option<FileMetadata>,
    /// Why the metadata could not be read.
    pub metadata_error: Option<String>,
    /// Every carrier that states a policy states the same one.
    pub carriers_agree: bool,
    /// The manifest (embedded or sidecar) and what checking it showed.
    pub manifest: Option<ManifestReport>,
    /// Why a manifest that was present could not be read.
    pub manifest_error: Option<String>,
    /// Whether the carriers state the manifest's signed policy (absent
    /// without a manifest or without carriers).
    pub declaration_matches_manifest: Option<bool>,
    /// Markers found in the audio.
    pub markers: Vec<FoundMarker>,
    /// The seal read from the audio (see [`crate::verify::SealReport`]).
    pub seal: Option<SealReport>,
    /// Why no seal was read although a marker was found.
    pub seal_missing: Option<String>,
    /// Why the audio could not be searched for a marker (e.g. no decoder).
    pub audio_error: Option<String>,
}

impl InspectOutcome {
    /// Exit status for the CLI: 0 nothing wrong found, 3 a manifest that is
    /// invalid, contradicts the marker or does not match this file's audio,
    /// a seal whose signature does not verify, or carriers that disagree.
    pub fn exit_code(&self) -> i32 {
        let manifest_bad = self.manifest_error.is_some()
            || self
                .manifest
                .as_ref()
                .is_some_and(|m| !m.consistent() || !m.audio_identical);
        let seal_bad = self
            .seal
            .as_ref()
            .is_some_and(|s| s.status == SealStatus::Invalid);
        if manifest_bad
            || seal_bad
            || !self.carriers_agree
            || self.declaration_matches_manifest == Some(false)
        {
            3
        } else {
            0
        }
    }
}

/// Inspects one file. Fails only when the file cannot be read at all.
pub fn inspect_file(path: &Path, opts: &VerifyOptions) -> Result<InspectOutcome> {
    if let Err(e) = std::fs::File::open(path) {
        return Err(Error::new(path, e));
    }
    let (meta, metadata_error) = match metadata::read_metadata(path) {
        Ok(m) => (Some(m), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let (markers, seal, seal_missing, manifest, manifest_error, audio_error) =
        match crate::verify::verify_file(path, opts) {
            Ok(v) => (
                v.markers,
                v.seal,
                v.seal_missing,
                v.manifest,
                v.manifest_error,
                None,
            ),
            Err(e) => {
                // No decoder (e.g. Opus) or damaged audio: the manifest can
                // still be checked against the encoded packets.
                let (found, manifest_error) = find_manifest(path);
                let report = found
                    .map(|(source, m)| check_manifest(path, source, m, &opts.trusted, &[], None));
                let cause = e.kind().to_string();
                (Vec::new(), None, None, report, manifest_error, Some(cause))
            }
        };
    let carriers_agree = meta.as_ref().is_none_or(FileMetadata::carriers_agree);
    let declaration_matches_manifest = match (&meta, &manifest) {
        (Some(meta), Some(m)) if !meta.carriers.is_empty() => {
            let policy = &m.document.manifest.policy;
            Some(meta.carriers_agree() && meta.data_mining() == Some(&policy.plus_data_mining))
        }
        _ => None,
    };
    Ok(InspectOutcome {
        path: path.to_path_buf(),
        metadata: meta,
        metadata_error,
        carriers_agree,
        manifest,
        manifest_error,
        declaration_matches_manifest,
        markers,
        seal,
        seal_missing,
        audio_error,
    })
}
