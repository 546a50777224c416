//! Atomic output files: written to a temporary file in the destination
//! folder, checked, then renamed into place, so a crash or an error never
//! leaves a partial file under the final name.

use crate::error::{Error, ErrorKind, Result};
use std::io::Write;
use std::path::{Path, PathBuf};
use tempfile::NamedTempFile;

/// Prefix of earmark's temporary files (hidden; safe to delete).
pub const TEMP_PREFIX: &str = ".earmark-";

/// Creates a temporary file next to `dest`.
pub fn temp_for(dest: &Path) -> Result<NamedTempFile> {
    temp_tagged(dest, None)
}

/// Creates a temporary file next to `dest` whose name carries `tag`
/// (`.earmark-TAG-XXXXXX.tmp`), so a batch can find its own leftovers.
pub fn temp_tagged(dest: &Path, tag: Option<&str>) -> Result<NamedTempFile> {
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let prefix = match tag {
        Some(t) => format!("{TEMP_PREFIX}{t}-"),
        None => TEMP_PREFIX.to_string(),
    };
    tempfile::Builder::new()
        .prefix(&prefix)
        .suffix(".tmp")
        .tempfile_in(&dir)
        .map_err(|e| Error::new(dest, e))
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

/// Renames a finished temporary file to `dest` (replacing it only with `force`).
/// The file gets ordinary permissions (0644 on Unix) rather than the private
/// mode temporary files are created with.
pub fn persist(temp: NamedTempFile, dest: &Path, force: bool) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        temp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(|e| Error::new(dest, e))?;
    }
    let result = if force {
        temp.persist(dest).map(|_| ())
    } else {
        temp.persist_noclobber(dest).map(|_| ())
    };
    result.map_err(|e| {
        if e.error.kind() == std::io::ErrorKind::AlreadyExists {
            Error::new(dest, ErrorKind::OutputExists)
        } else {
            Error::new(dest, e.error)
        }
    })
}

/// Writes `bytes` to a temporary file next to `dest`, ready for [`persist`].
pub fn temp_with(dest: &Path, bytes: &[u8]) -> Result<NamedTempFile> {
    temp_with_tagged(dest, bytes, None)
}

/// As [`temp_with`], with a tag in the temporary name (see [`temp_tagged`]).
pub fn temp_with_tagged(dest: &Path, bytes: &[u8], tag: Option<&str>) -> Result<NamedTempFile> {
    let mut temp = temp_tagged(dest, tag)?;
    temp.write_all(bytes)
        .and_then(|_| temp.as_file().sync_all())
        .map_err(|e| Error::new(dest, e))?;
    Ok(temp)
}
