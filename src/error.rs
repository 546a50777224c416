//! The crate's error type: every failure names the file it concerns, when
//! there is one.
//!
//! Functions over paths return errors that carry the path; functions over
//! bytes and streams return errors without one, and the caller that knows
//! the name adds it with [`Error::with_path`] (as ripgrep's `WithPath`).

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
    /// An option is out of its range (the message names it).
    #[error("{0}")]
    InvalidOption(String),
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

/// An error, about one file when [`Error::path`] says which: displayed as
/// `path: cause`, or just `cause`.
#[derive(Debug)]
pub struct Error {
    path: Option<PathBuf>,
    kind: ErrorKind,
}

impl Error {
    /// Creates an error about `path`.
    pub fn new(path: impl AsRef<Path>, kind: impl Into<ErrorKind>) -> Self {
        Error {
            path: Some(path.as_ref().to_path_buf()),
            kind: kind.into(),
        }
    }

    /// Creates an error about no file in particular (bytes, a stream).
    pub fn unnamed(kind: impl Into<ErrorKind>) -> Self {
        Error {
            path: None,
            kind: kind.into(),
        }
    }

    /// The same error about `path`, unless it already names a file.
    pub fn with_path(self, path: impl AsRef<Path>) -> Self {
        match self.path {
            Some(_) => self,
            None => Error::new(path, self.kind),
        }
    }

    /// The file the error concerns, if known.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The cause.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }
}

impl<E: Into<ErrorKind>> From<E> for Error {
    fn from(e: E) -> Self {
        Error::unnamed(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(p) => write!(f, "{}: {}", p.display(), self.kind),
            None => write!(f, "{}", self.kind),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.kind.source()
    }
}

impl From<crate::provenance::KeyError> for ErrorKind {
    fn from(e: crate::provenance::KeyError) -> Self {
        // The key error names its path itself; as a kind, keep the cause only.
        let text = e.to_string();
        let cause = match e.path() {
            Some(p) => text
                .strip_prefix(&format!("{}: ", p.display()))
                .unwrap_or(&text)
                .to_string(),
            None => text,
        };
        ErrorKind::Key(cause)
    }
}

/// Shorthand for results with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
