//! The crate's error type: every failure names the file it concerns.

use std::fmt;
use std::path::{Path, PathBuf};

/// What went wrong, without the path (see [`Error`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The audio could not be decoded or written.
    #[error("{0}")]
    Audio(#[from] crate::audio::AudioError),
    /// Tags or metadata chunks could not be read or written.
    #[error("{0}")]
    Metadata(#[from] crate::metadata::MetadataError),
    /// A key file could not be read or written.
    #[error("{0}")]
    Key(String),
    /// An embedded or sidecar manifest could not be parsed.
    #[error("{0}")]
    Manifest(#[from] crate::provenance::ManifestError),
    /// A file-system operation failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The output path already exists and overwriting was not allowed.
    #[error("output exists (use --force to overwrite)")]
    OutputExists,
    /// The output path would replace the input.
    #[error("output path is the input file; choose another --out")]
    OutputIsInput,
    /// The requested output format is not supported.
    #[error("unsupported output format {0:?} (use .wav or .flac)")]
    UnsupportedOutput(String),
    /// Anything else, described in words.
    #[error("{0}")]
    Other(String),
}

/// An error about one file: displayed as `path: cause`.
#[derive(Debug)]
pub struct Error {
    path: PathBuf,
    kind: ErrorKind,
}

impl Error {
    /// Creates an error about `path`.
    pub fn new(path: impl AsRef<Path>, kind: impl Into<ErrorKind>) -> Self {
        Error {
            path: path.as_ref().to_path_buf(),
            kind: kind.into(),
        }
    }

    /// The file the error concerns.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The cause.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.kind)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.kind.source()
    }
}

impl From<crate::provenance::KeyError> for Error {
    fn from(e: crate::provenance::KeyError) -> Self {
        // KeyError already carries its path when it has one.
        let path = e.path().map(Path::to_path_buf).unwrap_or_default();
        let text = e.to_string();
        let cause = match e.path() {
            Some(p) => text
                .strip_prefix(&format!("{}: ", p.display()))
                .unwrap_or(&text)
                .to_string(),
            None => text,
        };
        Error::new(path, ErrorKind::Key(cause))
    }
}

/// Shorthand for results with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
