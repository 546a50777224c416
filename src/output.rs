//! Atomic output files: written to a temporary file in the destination
//! folder, checked, then renamed into place, so a crash or an error never
//! leaves a partial file under the final name.
//!
//! Temporary files are hidden (`.earmark-[TAG-]NNNNNNNN-pPID-XXXXXXXXXXXX.tmp`,
//! `NNNNNNNN` naming the destination, `PID` the process), private (mode 0600
//! until they are renamed into place) and removed when dropped without being
//! persisted. A process that is killed cannot remove its own: the next one
//! that writes the same destination removes those whose process is gone
//! (or that are over a day old), never a live process's; a batch, whose
//! temporary names carry its shard's tag, removes its shard's leftovers
//! once when it starts instead of listing the folder for every file. A front end that
//! handles SIGINT/SIGTERM calls [`exit_removing_temps`].

use crate::error::{Error, ErrorKind, Result};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Prefix of earmark's temporary files (hidden; safe to delete).
pub const TEMP_PREFIX: &str = ".earmark-";

/// Temporary files of this process not yet persisted or removed.
static LIVE_TEMPS: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

/// Age past which a leftover temporary file is removed even when its
/// process cannot be checked.
const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

fn live_temps() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    LIVE_TEMPS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Removes every temporary file this process still has and exits with
/// `code`: for a SIGINT/SIGTERM handler. The registry stays locked, so no
/// temporary file is renamed into place in between.
pub fn exit_removing_temps(code: i32) -> ! {
    let live = live_temps();
    for p in live.iter() {
        let _ = std::fs::remove_file(p);
    }
    std::process::exit(code)
}

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
        let mut live = live_temps();
        if !self.keep {
            let _ = std::fs::remove_file(&self.path);
        }
        live.retain(|p| p != &self.path);
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

/// What kind of file system entry `meta` describes, in words ("a FIFO", "a
/// directory", ...), for errors about files that are not regular files.
pub fn describe_file_type(meta: &std::fs::Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if t.is_file() {
        "a regular file"
    } else {
        "not a regular file"
    }
}

/// `Ok` for a regular file; for a directory, a FIFO, a device or a socket
/// the error that says which (checked before the path is opened: opening a
/// FIFO blocks until someone writes to it, and a device such as /dev/zero
/// never ends).
fn check_regular(meta: &std::fs::Metadata) -> std::io::Result<()> {
    if meta.is_file() {
        return Ok(());
    }
    let why = if meta.is_dir() {
        "is a directory".to_string()
    } else {
        format!(
            "is {}, not a regular file: earmark reads files it can seek in",
            describe_file_type(meta)
        )
    };
    Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, why))
}

/// Opens an input file for reading (buffered): a directory, a FIFO, a
/// device or a socket is an error naming it (never opened, so never a
/// hang).
pub fn open_input(path: &Path) -> Result<std::io::BufReader<File>> {
    let unreadable = |e| Error::new(path, crate::audio::AudioError::Read(e));
    // A path that does not exist gets File::open's own error below.
    if let Ok(meta) = std::fs::metadata(path) {
        check_regular(&meta).map_err(unreadable)?;
    }
    let file = File::open(path).map_err(unreadable)?;
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
        Some(t) => format!("{TEMP_PREFIX}{t}-{}-", destination_id(dest)),
        None => format!("{TEMP_PREFIX}{}-", destination_id(dest)),
    };
    if tag.is_none() {
        // A batch (tagged temps) removes its shard's leftovers once, when
        // it starts (batch::remove_stale_temps), not with every file.
        remove_stale_temps(&dir, &prefix);
    }
    let pid = std::process::id();
    let mut last = None;
    // A name collision is astronomically unlikely; retry a few times anyway.
    for _ in 0..8 {
        let path = dir.join(format!("{prefix}p{pid}-{:012x}.tmp", random_u64() >> 16));
        let mut options = OpenOptions::new();
        options.read(true).write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        match options.open(&path) {
            Ok(file) => {
                live_temps().push(path.clone());
                return Ok(TempFile {
                    path,
                    file,
                    keep: false,
                });
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

/// Eight hex digits naming a destination's file name in its temporary
/// files' names (so a later run finds the leftovers of the same output).
fn destination_id(dest: &Path) -> String {
    use sha2::{Digest, Sha256};
    let name = dest
        .file_name()
        .map(|n| n.as_encoded_bytes())
        .unwrap_or(b"");
    crate::hex::encode(&Sha256::digest(name)[..4])
}

/// Removes `dir/PREFIX pPID-*.tmp` files whose process is gone (or that
/// are older than [`STALE_AFTER`]): what a killed run on the same output
/// left behind. Files of live processes are never touched.
fn remove_stale_temps(dir: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let own = std::process::id();
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(rest) = name
            .to_str()
            .and_then(|n| n.strip_prefix(prefix))
            .and_then(|n| n.strip_suffix(".tmp"))
            .and_then(|n| n.strip_prefix('p'))
        else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid == own {
            continue;
        }
        let Ok(meta) = e.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        let old = meta
            .modified()
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > STALE_AFTER);
        if old || process_gone(pid) == Some(true) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Whether process `pid` no longer exists; `None` where that cannot be
/// told (then only age decides).
fn process_gone(pid: u32) -> Option<bool> {
    let proc_root = Path::new("/proc");
    if cfg!(target_os = "linux") && proc_root.join("self").exists() {
        Some(!proc_root.join(pid.to_string()).exists())
    } else {
        None
    }
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
    // Held across the rename: a signal handler removing this process's
    // temporary files waits, and never sees a half-persisted one.
    let _live = live_temps();
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
    let meta = std::fs::metadata(path)?;
    check_regular(&meta)?;
    let len = meta.len();
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

    /// What a killed run left for the same output is removed by the next
    /// temporary file for it; a live process's file, another output's, and
    /// anything not earmark's are left alone.
    #[cfg(target_os = "linux")]
    #[test]
    fn leftovers_of_dead_processes_are_removed_by_the_next_run() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("song.flac");
        let prefix = format!("{TEMP_PREFIX}{}-", destination_id(&dest));
        // PIDs above the kernel's limit (2^22) never exist.
        let dead = dir
            .path()
            .join(format!("{prefix}p4194305-0123456789ab.tmp"));
        let parent = std::os::unix::process::parent_id();
        let live = dir
            .path()
            .join(format!("{prefix}p{parent}-0123456789ab.tmp"));
        let other_output = dir.path().join(format!(
            "{TEMP_PREFIX}{}-p4194305-0123456789ab.tmp",
            destination_id(Path::new("other.flac"))
        ));
        let unrelated = dir.path().join("notes.tmp");
        for p in [&dead, &live, &other_output, &unrelated] {
            std::fs::write(p, b"x").unwrap();
        }
        let t = temp_for(&dest).unwrap();
        assert!(!dead.exists(), "a dead process's leftover is removed");
        for p in [&live, &other_output, &unrelated] {
            assert!(p.exists(), "{} must stay", p.display());
        }
        let name = t.path().file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with(&format!("{prefix}p{}-", std::process::id())),
            "{name}"
        );
        drop(t);
        assert_eq!(
            live_temps()
                .iter()
                .filter(|p| p.starts_with(dir.path()))
                .count(),
            0
        );
    }
}
