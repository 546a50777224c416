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
    #[error("unsupported output format {0:?} (use .flac, .wav or .mp3)")]
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

    /// The same error about `to` when it is about `from` or about no file:
    /// a front end that worked on a stand-in (standard input spooled to a
    /// temporary file) names what the user gave.
    pub fn instead_of(self, from: &Path, to: impl AsRef<Path>) -> Self {
        match &self.path {
            Some(p) if p != from => self,
            _ => Error::new(to, self.kind),
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

thread_local! {
    /// Whether this thread is inside [`catch_quietly`] (a panic there is
    /// turned into an error, so a panic hook need not print it).
    static CATCHING: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Runs `f`, catching a panic (in earmark or in a library it calls on
/// untrusted input) instead of letting it unwind further. While it runs,
/// [`panic_is_caught`] is true on this thread, so a front end's panic hook
/// can stay silent about panics that become errors.
pub fn catch_quietly<T>(f: impl FnOnce() -> T) -> std::thread::Result<T> {
    CATCHING.with(|c| c.set(c.get() + 1));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    CATCHING.with(|c| c.set(c.get() - 1));
    result
}

/// Whether a panic on this thread now would be caught by [`catch_quietly`].
pub fn panic_is_caught() -> bool {
    CATCHING.with(|c| c.get() > 0)
}

/// The text of a caught panic.
pub fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// Runs one per-file job, turning a panic anywhere in it into an error
/// naming `path`, so one bad file never stops the others (or the process).
pub fn per_file<T>(path: &Path, f: impl FnOnce() -> Result<T>) -> Result<T> {
    match catch_quietly(f) {
        Ok(result) => result,
        Err(payload) => Err(Error::new(
            path,
            ErrorKind::Other(format!(
                "internal error while processing this file (a bug in earmark; please report it): {}",
                panic_text(&*payload)
            )),
        )),
    }
}

#[cfg(test)]
mod panic_tests {
    use super::*;

    #[test]
    fn a_panic_in_a_per_file_job_is_that_files_error() {
        assert!(!panic_is_caught());
        let path = Path::new("song.m4a");
        let err = per_file::<()>(path, || {
            assert!(panic_is_caught(), "inside the job a panic is caught");
            panic!("assertion failed: size > ATOM_HEADER_LEN");
        })
        .unwrap_err();
        assert!(!panic_is_caught(), "and no longer after it");
        assert_eq!(err.path(), Some(path));
        let text = err.to_string();
        assert!(text.starts_with("song.m4a: internal error"), "{text}");
        assert!(text.contains("size > ATOM_HEADER_LEN"), "{text}");
        // A job that does not panic is passed through untouched.
        assert_eq!(per_file(path, || Ok(7)).unwrap(), 7);
        let e = per_file::<()>(path, || Err(Error::unnamed(ErrorKind::OutputExists))).unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::OutputExists));
    }
}
