//! The track-id registry: every track id this machine has given out, per
//! signing key, whatever catalogue or single-file stamp it went to. Two
//! batches into two folders, or a batch and a single-file stamp, can then
//! never give two songs the same payload. (Across machines, the shared
//! PostgreSQL catalogue is the authority; the registry only raises the
//! floor it allocates above.)
//!
//! A small SQLite file at `$EARMARK_REGISTRY`, else
//! `$XDG_DATA_HOME/earmark/track-ids.db`, else
//! `~/.local/share/earmark/track-ids.db`. Every allocation is one
//! `BEGIN IMMEDIATE` transaction, so concurrent runs on the machine take
//! turns.

use super::CatalogueError;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::path::{Path, PathBuf};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS counters (
    key_fingerprint TEXT    PRIMARY KEY,
    last_id         INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS used (
    key_fingerprint TEXT    NOT NULL,
    track_id        INTEGER NOT NULL,
    source          TEXT    NOT NULL,
    at              TEXT    NOT NULL,
    PRIMARY KEY (key_fingerprint, track_id)
);
";

/// The environment variable that names the registry file.
pub const REGISTRY_ENV: &str = "EARMARK_REGISTRY";

/// An open registry.
pub struct Registry {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("path", &self.path)
            .finish()
    }
}

/// What the registry says about a track id someone asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Free: now recorded as used for this source.
    Taken,
    /// Already given to this same source (another stamp of the same song,
    /// to another output or format).
    Same,
    /// Given to another source before: another song.
    UsedFor(String),
}

impl Registry {
    /// Where the registry lives: `$EARMARK_REGISTRY`, else the user's data
    /// folder. `None` when neither is known.
    pub fn default_path() -> Option<PathBuf> {
        if let Some(p) = std::env::var_os(REGISTRY_ENV).filter(|p| !p.is_empty()) {
            return Some(PathBuf::from(p));
        }
        let data = std::env::var_os("XDG_DATA_HOME")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME")
                    .filter(|p| !p.is_empty())
                    .map(|h| PathBuf::from(h).join(".local/share"))
            })?;
        Some(data.join("earmark").join("track-ids.db"))
    }

    /// Opens (creating it and its folder if needed) the registry at `path`.
    pub fn open(path: &Path) -> Result<Registry, CatalogueError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                CatalogueError::Database(format!("cannot make {}: {e}", dir.display()))
            })?;
        }
        let new = !path.exists();
        let conn = Connection::open(path)?;
        // It lists the user's input paths: a new registry is theirs alone
        // (before WAL mode, whose files take the same mode). One that exists
        // keeps its mode, so a team can share one on purpose.
        #[cfg(unix)]
        if new {
            use std::os::unix::fs::PermissionsExt as _;
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
        }
        #[cfg(not(unix))]
        let _ = new;
        conn.busy_timeout(std::time::Duration::from_secs(60))?;
        super::sqlite::retry_busy(|| conn.pragma_update(None, "journal_mode", "WAL"))?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        super::sqlite::retry_busy(|| conn.execute_batch(SCHEMA))?;
        Ok(Registry {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// Opens the registry at [`Registry::default_path`].
    pub fn open_default() -> Result<Registry, CatalogueError> {
        let path = Registry::default_path().ok_or_else(|| {
            CatalogueError::Database(format!(
                "no place for the track-id registry: set {REGISTRY_ENV} (or HOME)"
            ))
        })?;
        Registry::open(&path)
    }

    /// The registry's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Allocates the next sequential id for `key` for the song at `source`:
    /// `allocate(floor)` must return an id above `floor` (the catalogue
    /// does that, in its own transaction); ids this machine already gave
    /// out (single-file stamps take random ones) are skipped. The whole
    /// step holds the registry's write lock.
    pub fn allocate(
        &mut self,
        key: &str,
        source: &str,
        mut allocate: impl FnMut(u32) -> Result<u32, CatalogueError>,
    ) -> Result<u32, CatalogueError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let last: i64 = tx
            .query_row(
                "SELECT last_id FROM counters WHERE key_fingerprint = ?1",
                [key],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0);
        let mut floor = u32::try_from(last).map_err(|_| CatalogueError::Exhausted(key.into()))?;
        let id = loop {
            let id = allocate(floor)?;
            let used: Option<i64> = tx
                .query_row(
                    "SELECT 1 FROM used WHERE key_fingerprint = ?1 AND track_id = ?2",
                    params![key, id],
                    |r| r.get(0),
                )
                .optional()?;
            if used.is_none() {
                break id;
            }
            floor = id;
        };
        tx.execute(
            "INSERT INTO counters (key_fingerprint, last_id) VALUES (?1, ?2) \
             ON CONFLICT (key_fingerprint) DO UPDATE SET last_id = max(last_id, excluded.last_id)",
            params![key, id],
        )?;
        tx.execute(
            "INSERT INTO used (key_fingerprint, track_id, source, at) VALUES (?1, ?2, ?3, ?4)",
            params![key, id, source, now()],
        )?;
        tx.commit()?;
        Ok(id)
    }

    /// Records a track id a single-file stamp of the song at `source` asked
    /// for (`--track-id`).
    pub fn claim(&mut self, key: &str, id: u32, source: &str) -> Result<Claim, CatalogueError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let before: Option<String> = tx
            .query_row(
                "SELECT source FROM used WHERE key_fingerprint = ?1 AND track_id = ?2",
                params![key, id],
                |r| r.get(0),
            )
            .optional()?;
        let claim = match before {
            Some(o) if o == source => Claim::Same,
            Some(o) => Claim::UsedFor(o),
            None => {
                tx.execute(
                    "INSERT INTO used (key_fingerprint, track_id, source, at) VALUES (?1, ?2, ?3, ?4)",
                    params![key, id, source, now()],
                )?;
                Claim::Taken
            }
        };
        tx.commit()?;
        Ok(claim)
    }

    /// The track id this machine gave `source` for `key` before (the same
    /// song stamped again, to another output or format, keeps its
    /// payload); else a random one it never gave out, recorded as used for
    /// `source`.
    pub fn claim_random(&mut self, key: &str, source: &str) -> Result<u32, CatalogueError> {
        let before: Option<u32> = self
            .conn
            .query_row(
                "SELECT track_id FROM used WHERE key_fingerprint = ?1 AND source = ?2
                 ORDER BY at LIMIT 1",
                params![key, source],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(id) = before {
            return Ok(id);
        }
        loop {
            let id = crate::payload::random_track_id();
            if self.claim(key, id, source)? == Claim::Taken {
                return Ok(id);
            }
        }
    }
}

/// The track id a single-file stamp of the song `source` (an absolute
/// path, or a description with a content hash) gets from this machine's
/// registry ([`Registry::default_path`]) for the key with this
/// fingerprint: `requested` when it is free or already this song's (an
/// error naming the other song when it is not); without one, the id the
/// song had before, else a new random one. Every front end that stamps a
/// single file calls this.
pub fn single_stamp_track_id(
    key_fingerprint: u32,
    requested: Option<u32>,
    source: &str,
) -> Result<u32, String> {
    let path = Registry::default_path().ok_or_else(|| {
        format!("no place for the track-id registry: set {REGISTRY_ENV} (or HOME)")
    })?;
    let mut registry =
        Registry::open(&path).map_err(|e| format!("{}: track-id registry: {e}", path.display()))?;
    let key = format!("{key_fingerprint:08x}");
    let registered = match requested {
        None => registry.claim_random(&key, source),
        Some(id) => match registry.claim(&key, id, source) {
            Ok(Claim::UsedFor(other)) => {
                return Err(format!(
                    "track id {id} of key {key} was already given to {other} on this machine \
                     (registry {}): two songs would carry the same payload; \
                     leave out the track id to get a new one",
                    path.display()
                ))
            }
            Ok(_) => Ok(id),
            Err(e) => Err(e),
        },
    };
    registered.map_err(|e| format!("{}: track-id registry: {e}", path.display()))
}

/// How the registry names a song that has no path: `what` and the
/// SHA-256 of its bytes (`"bytes, SHA-256 …"`), so the same content
/// stamped again keeps its track id.
pub fn content_source(what: &str, bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    format!(
        "{what}, SHA-256 {}",
        crate::hex::encode(&Sha256::digest(bytes))
    )
}

/// [`content_source`] of the file at `path`, read in a stream (standard
/// input spooled to a file, say).
pub fn file_source(what: &str, path: &Path) -> std::io::Result<String> {
    Ok(format!("{what}, SHA-256 {}", super::sha256_file(path)?))
}

/// [`content_source`] of samples (hashed as little-endian `f32`).
pub fn samples_source(what: &str, samples: &[f32]) -> String {
    use sha2::{Digest, Sha256};
    let mut sha = Sha256::new();
    let mut buf = Vec::with_capacity(4 * 4096);
    for chunk in samples.chunks(4096) {
        buf.clear();
        buf.extend(chunk.iter().flat_map(|x| x.to_le_bytes()));
        sha.update(&buf);
    }
    format!("{what}, SHA-256 {}", crate::hex::encode(&sha.finalize()))
}

fn now() -> String {
    crate::provenance::utc_timestamp(std::time::SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequential_ids_skip_what_single_stamps_took() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = Registry::open(&dir.path().join("deep/er/r.db")).unwrap();
        // A catalogue that simply counts up from the floor.
        let next = |floor: u32| Ok(floor + 1);
        assert_eq!(r.allocate("k", "a", next).unwrap(), 1);
        assert_eq!(r.claim("k", 2, "single").unwrap(), Claim::Taken);
        assert_eq!(r.allocate("k", "b", next).unwrap(), 3, "2 was taken");
        assert_eq!(r.claim("k", 2, "single").unwrap(), Claim::Same);
        assert_eq!(
            r.claim("k", 3, "other").unwrap(),
            Claim::UsedFor("b".into())
        );
        // Another key counts on its own; reopening keeps everything.
        assert_eq!(r.allocate("j", "c", next).unwrap(), 1);
        drop(r);
        let mut r = Registry::open(&dir.path().join("deep/er/r.db")).unwrap();
        assert_eq!(r.allocate("k", "d", next).unwrap(), 4);
        let id = r.claim_random("k", "e").unwrap();
        assert_eq!(r.claim("k", id, "f").unwrap(), Claim::UsedFor("e".into()));
        // The same song again keeps its id; another song gets another.
        assert_eq!(r.claim_random("k", "e").unwrap(), id);
        assert_ne!(r.claim_random("k", "g").unwrap(), id);
    }

    #[cfg(unix)]
    #[test]
    fn a_new_registry_is_private_and_an_existing_one_keeps_its_mode() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let fresh = dir.path().join("fresh.db");
        drop(Registry::open(&fresh).unwrap());
        assert_eq!(mode(&fresh), 0o600);
        let shared = dir.path().join("shared.db");
        drop(Registry::open(&shared).unwrap());
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o660)).unwrap();
        drop(Registry::open(&shared).unwrap());
        assert_eq!(mode(&shared), 0o660);
    }
}
