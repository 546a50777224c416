//! Inspecting one input: everything earmark can read about it — the
//! declaration in each metadata carrier (and whether they agree), the signed
//! manifest and its checks, and any marker and seal in the audio — from the
//! same single pass [`crate::verify()`] makes.

use crate::error::Result;
use crate::exit::Status;
use crate::metadata::FileMetadata;
use crate::verify::{
    examine, examine_file, Examined, FoundMarker, ManifestReport, SealReport, SealStatus,
    VerifyOptions,
};
use serde::Serialize;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};

/// What [`inspect_file`] found.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Inspection {
    /// The file (or a name the caller gave the input).
    pub path: Option<PathBuf>,
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
    /// Why no marker was found although a valid manifest names one (see
    /// [`crate::verify::Verification::marker_note`]).
    pub marker_note: Option<String>,
    /// The seal read from the audio (see [`crate::verify::SealReport`]).
    pub seal: Option<SealReport>,
    /// Why no seal was read although a marker was found.
    pub seal_missing: Option<String>,
    /// Why the audio could not be searched for a marker (e.g. no decoder).
    pub audio_error: Option<String>,
    /// The file's C2PA Content Credentials (see
    /// [`crate::verify::Verification::credentials`]).
    #[cfg(feature = "c2pa")]
    pub credentials: Option<crate::credentials::Credentials>,
    /// Why Content Credentials that are there could not be read.
    #[cfg(feature = "c2pa")]
    pub credentials_error: Option<String>,
}

impl Inspection {
    /// The result as the JSON record `earmark inspect --json` prints (see
    /// [`crate::records`]), with the `status` and `exit_code` inspect gives.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self)
            .unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() }));
        if let Some(obj) = v.as_object_mut() {
            let status = self.status();
            obj.insert("status".into(), status.name().into());
            obj.insert("exit_code".into(), status.code().into());
        }
        crate::records::record("inspect", v)
    }

    /// The exit status: 0 nothing wrong found; 3 a manifest that is
    /// invalid, contradicts the marker or does not match this file's audio,
    /// a seal whose signature does not verify, carriers that disagree, or
    /// C2PA credentials that fail to validate or contradict the marker.
    pub fn status(&self) -> Status {
        let manifest_bad = self.manifest_error.is_some()
            || self
                .manifest
                .as_ref()
                .is_some_and(|m| !m.consistent() || !m.audio_identical);
        let seal_bad = self
            .seal
            .as_ref()
            .is_some_and(|s| s.status == SealStatus::Invalid);
        #[cfg(feature = "c2pa")]
        let credentials_bad = self.credentials_error.is_some()
            || self
                .credentials
                .as_ref()
                .is_some_and(crate::credentials::Credentials::contradicted);
        #[cfg(not(feature = "c2pa"))]
        let credentials_bad = false;
        if manifest_bad
            || seal_bad
            || credentials_bad
            || !self.carriers_agree
            || self.declaration_matches_manifest == Some(false)
        {
            Status::Invalid
        } else {
            Status::Ok
        }
    }

    /// [`status`](Self::status) as a process exit code.
    pub fn exit_code(&self) -> i32 {
        self.status().code()
    }
}

/// Inspects `input`. Fails only when it cannot be read at all; undecodable
/// audio is reported in [`Inspection::audio_error`].
pub fn inspect<R>(input: R, opts: &VerifyOptions) -> Result<Inspection>
where
    R: Read + Seek + Send + 'static,
{
    inspection(examine(
        input,
        opts,
        None,
        crate::verify::Sidecars::default(),
    )?)
}

/// Inspects the file at `path` (the sidecar manifest next to it counts when
/// the file has none inside).
pub fn inspect_file(path: &Path, opts: &VerifyOptions) -> Result<Inspection> {
    let mut i = inspection(examine_file(path, opts)?).map_err(|e| e.with_path(path))?;
    i.path = Some(path.to_path_buf());
    Ok(i)
}

/// What the one pass found, as an inspection; an error when neither the
/// tags nor the audio could be read (an empty or non-audio file: nothing
/// to inspect, as `verify` says too). A file whose tags read but whose
/// audio does not (Opus, say) is inspected, with the reason in
/// [`Inspection::audio_error`].
fn inspection(examined: Examined) -> Result<Inspection> {
    let audio = match (examined.metadata.is_err(), examined.audio) {
        (true, Err(e)) => return Err(e),
        (_, audio) => audio,
    };
    #[cfg(feature = "c2pa")]
    let (credentials, credentials_error) = match examined.credentials {
        Ok(c) => (c, None),
        Err(e) => (None, Some(e)),
    };
    let (meta, metadata_error) = match examined.metadata {
        Ok(m) => (Some(m), None),
        Err(e) => (None, Some(e)),
    };
    let marker_note = audio.as_ref().ok().and_then(|v| v.marker_note.clone());
    let (markers, seal, seal_missing, manifest, manifest_error, audio_error) = match audio {
        Ok(v) => (
            v.markers,
            v.seal,
            v.seal_missing,
            v.manifest,
            v.manifest_error,
            None,
        ),
        Err(e) => {
            let (manifest, manifest_error) = match examined.undecoded_manifest {
                Some(Ok(m)) => (Some(m), None),
                Some(Err(e)) => (None, Some(e)),
                None => (None, None),
            };
            let cause = e.kind().to_string();
            (
                Vec::new(),
                None,
                None,
                manifest,
                manifest_error,
                Some(cause),
            )
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
    Ok(Inspection {
        path: None,
        metadata: meta,
        metadata_error,
        carriers_agree,
        manifest,
        manifest_error,
        declaration_matches_manifest,
        markers,
        marker_note,
        seal,
        seal_missing,
        audio_error,
        #[cfg(feature = "c2pa")]
        credentials,
        #[cfg(feature = "c2pa")]
        credentials_error,
    })
}
