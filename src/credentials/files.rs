//! Content Credentials for the files `stamp` and `tag` write: the last step
//! before a finished temporary file takes its name. The manifest store goes
//! into a second temporary file (the SDK copies the file and inserts it),
//! or, for containers that cannot hold one, into a sidecar `NAME.c2pa`.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{embed, sidecar, Claim, ClaimSigner, Parent};
use crate::container::Container;
use crate::error::{Error, ErrorKind, Result};
use crate::naming;
use crate::output::{self, FileOutput, TempFile};

/// Where a file's C2PA manifest store went, and what it names.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct CredentialsWritten {
    /// `"embedded"`, or the sidecar's path (AIFF, Ogg: the SDK cannot embed
    /// into those yet).
    pub location: String,
    /// The signing certificate's common name.
    pub signer: String,
    /// The soft binding's value (the marker payload, 16 hex digits), if any.
    pub soft_binding: Option<String>,
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
    let temp_tag = out.temp_tag.as_deref();
    let fail = |e: super::CredentialsError| Error::new(output, ErrorKind::Other(e.to_string()));
    let mut source = finished.reopen().map_err(|e| Error::new(output, e))?;
    let mut input_file = output::open_input(input)?;
    let input_format = Container::of_reader(&mut input_file)
        .ok()
        .flatten()
        .filter(|c| c.embeds_c2pa())
        .map(Container::mime);
    let parent = Parent {
        title: input
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "input".into()),
        format: input_format,
        stream: &mut input_file,
    };
    let written = |location: String| CredentialsWritten {
        location,
        signer: signer.chain().common_name(),
        soft_binding: claim
            .soft_binding
            .map(|s| super::SoftBinding::value(&s.payload)),
    };
    if container.embeds_c2pa() {
        let signed = output::temp_tagged(output, temp_tag)?;
        let mut dest = signed.reopen().map_err(|e| Error::new(output, e))?;
        embed(
            claim,
            signer,
            container.mime(),
            parent,
            &mut source,
            &mut dest,
        )
        .map_err(fail)?;
        drop(finished);
        Ok(Attached {
            file: signed,
            sidecar: None,
            written: written("embedded".into()),
        })
    } else {
        let path = naming::c2pa_sidecar_path(output);
        if output::same_file(input, &path) {
            return Err(Error::new(&path, ErrorKind::OutputIsInput));
        }
        output::check_writable(&path, out.force)?;
        let store = sidecar(claim, signer, container.mime(), parent, &mut source).map_err(fail)?;
        let temp = output::temp_with_tagged(&path, &store, temp_tag)?;
        Ok(Attached {
            file: finished,
            sidecar: Some((temp, path.clone())),
            written: written(path.display().to_string()),
        })
    }
}
