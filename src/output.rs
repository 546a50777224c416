//! Atomic output files: written to a temporary file in the destination
//! folder, checked, then renamed into place, so a crash or an error never
//! leaves a partial file under the final name.
//!
//! Temporary files are hidden (`.earmark-[TAG-]XXXXXXXXXXXX.tmp`), private
//! (mode 0600 until they are renamed into place) and removed when dropped
//! without being persisted.

use crate::error::{Error, ErrorKind, Result};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Prefix of earmark's temporary files (hidden; safe to delete).
pub const TEMP_PREFIX: &str = ".earmark-";

/// A temporary file next to its destination, removed on drop unless
/// [`persist`]ed.
#[derive(Debug)]
pub struct TempFile {
    path: PathBuf,
    file: File,
    keep: bool,
}

impl TempFile {
    /// The temporary file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open file (read and write).
    pub fn as_file(&self) -> &File {
        &self.file
    }

    /// A second handle on the same file.
    pub fn reopen(&self) -> std::io::Result<File> {
        OpenOptions::new().read(true).write(true).open(&self.path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Where a file front end writes, and how.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct FileOutput {
    /// The output path. Default: next to the input (see [`crate::naming`]).
    pub path: Option<PathBuf>,
    /// Replace an existing output. Default: false.
    pub force: bool,
    /// Extra tag in temporary file names (a batch uses its shard, so a
    /// re-run removes only its own leftovers). Default: none.
    pub temp_tag: Option<String>,
}

impl FileOutput {
    /// Writing to `path` (or the default when `None`), refusing to replace
    /// an existing file.
    pub fn to(path: Option<PathBuf>) -> FileOutput {
        FileOutput {
            path,
            ..FileOutput::default()
        }
    }

    /// The same, replacing an existing file when `force` is set.
    #[must_use]
    pub fn force(mut self, force: bool) -> FileOutput {
        self.force = force;
        self
    }
}

/// Opens an input file for reading (buffered): a directory or an empty file
/// is an error naming it.
pub fn open_input(path: &Path) -> Result<std::io::BufReader<File>> {
    let unreadable = |e| Error::new(path, crate::audio::AudioError::Read(e));
    let file = File::open(path).map_err(unreadable)?;
    let meta = file.metadata().map_err(unreadable)?;
    if meta.is_dir() {
        return Err(unreadable(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "is a directory",
        )));
    }
    Ok(std::io::BufReader::with_capacity(1 << 16, file))
}

/// Creates a temporary file next to `dest`.
pub fn temp_for(dest: &Path) -> Result<TempFile> {
    temp_tagged(dest, None)
}

/// Creates a temporary file next to `dest` whose name carries `tag`
/// (`.earmark-TAG-XXXXXXXXXXXX.tmp`), so a batch can find its own leftovers.
pub fn temp_tagged(dest: &Path, tag: Option<&str>) -> Result<TempFile> {
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let prefix = match tag {
        Some(t) => format!("{TEMP_PREFIX}{t}-"),
        None => TEMP_PREFIX.to_string(),
    };
    let mut last = None;
    // A name collision is astronomically unlikely; retry a few times anyway.
    for _ in 0..8 {
        let path = dir.join(format!("{prefix}{:012x}.tmp", random_u64() >> 16));
        let mut options = OpenOptions::new();
        options.read(true).write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        match options.open(&path) {
            Ok(file) => {
                return Ok(TempFile {
                    path,
                    file,
                    keep: false,
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(Error::new(dest, e)),
        }
    }
    Err(Error::new(
        dest,
        last.unwrap_or_else(|| std::io::Error::other("no temporary name available")),
    ))
}

fn random_u64() -> u64 {
    use rand_core::RngCore;
    rand_core::OsRng.next_u64()
}

/// Whether `a` and `b` name the same file (equal paths, or the same file
/// once both are resolved; a path that does not exist yet matches only
/// itself).
pub fn same_file(a: &Path, b: &Path) -> bool {
    a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}

/// Refuses to go on if `dest` exists and `force` is not set.
pub fn check_writable(dest: &Path, force: bool) -> Result<()> {
    if !force && dest.exists() {
        return Err(Error::new(dest, ErrorKind::OutputExists));
    }
    Ok(())
}

/// Renames a finished temporary file to `dest` (replacing it only with
/// `force`; without it an existing `dest` is never overwritten, not even by
/// a race). The file gets ordinary permissions (0644 on Unix) rather than
/// the private mode temporary files are created with.
pub fn persist(mut temp: TempFile, dest: &Path, force: bool) -> Result<()> {
    let err = |e| Error::new(dest, e);
    temp.file.sync_all().map_err(err)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        temp.file
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(err)?;
    }
    if force {
        std::fs::rename(&temp.path, dest).map_err(err)?;
    } else {
        // A hard link fails if `dest` exists: an atomic no-clobber rename.
        match std::fs::hard_link(&temp.path, dest) {
            Ok(()) => {
                let _ = std::fs::remove_file(&temp.path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(Error::new(dest, ErrorKind::OutputExists))
            }
            // File systems without hard links: check, then rename.
            Err(_) => {
                check_writable(dest, false)?;
                std::fs::rename(&temp.path, dest).map_err(err)?;
            }
        }
    }
    temp.keep = true;
    Ok(())
}

/// Reads the whole of a small file (a key, a certificate chain, a
/// manifest): more than `limit` bytes is an error saying `N bytes is too
/// large for WHAT`.
pub fn read_bounded(path: &Path, limit: u64, what: &str) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let len = std::fs::metadata(path)?.len();
    let too_large =
        |len: u64| std::io::Error::other(format!("{len} bytes is too large for {what}"));
    if len > limit {
        return Err(too_large(len));
    }
    let mut bytes = Vec::new();
    // The file may grow between the two looks: read no more than allowed.
    File::open(path)?.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

/// Writes `bytes` to a temporary file next to `dest`, ready for [`persist`].
pub fn temp_with(dest: &Path, bytes: &[u8]) -> Result<TempFile> {
    temp_with_tagged(dest, bytes, None)
}

/// As [`temp_with`], with a tag in the temporary name (see [`temp_tagged`]).
pub fn temp_with_tagged(dest: &Path, bytes: &[u8], tag: Option<&str>) -> Result<TempFile> {
    let temp = temp_tagged(dest, tag)?;
    (&temp.file)
        .write_all(bytes)
        .map_err(|e| Error::new(dest, e))?;
    Ok(temp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_files_are_removed_unless_persisted_and_never_clobber() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.flac");
        let t = temp_tagged(&dest, Some("s0")).unwrap();
        let p = t.path().to_path_buf();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with(".earmark-s0-") && name.ends_with(".tmp"),
            "{name}"
        );
        assert!(p.exists());
        drop(t);
        assert!(!p.exists(), "dropped temp files are removed");

        persist(temp_with(&dest, b"one").unwrap(), &dest, false).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"one");
        let again = temp_with(&dest, b"two").unwrap();
        let again_path = again.path().to_path_buf();
        let e = persist(again, &dest, false).unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::OutputExists), "{e}");
        assert!(!again_path.exists(), "a refused temp file is removed");
        assert_eq!(std::fs::read(&dest).unwrap(), b"one");
        persist(temp_with(&dest, b"three").unwrap(), &dest, true).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"three");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&dest).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o644);
        }
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "only the output remains");
    }
}
