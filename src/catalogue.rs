//! The catalogue: a SQLite record of every stamp, so a label can find out
//! later what a decoded marker payload points to, even in a clip whose
//! metadata was stripped.
//!
//! One row per output file. Track ids are allocated here, per signing key,
//! and never repeat for the same key within a catalogue: with sharding
//! (`--shard I/N`) shard `I` only hands out ids `≡ I (mod N)`, so shard
//! catalogues merge without conflicts. Each row is written in one
//! transaction after its output file has been renamed into place; a file
//! without a row is not done and is stamped again on the next run.
//!
//! This module knows nothing about audio: it stores what `stamp` reports.

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Default catalogue file name inside an output folder.
pub const DEFAULT_NAME: &str = "earmark-catalogue.db";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS stamps (
    id              INTEGER PRIMARY KEY,
    key_fingerprint TEXT    NOT NULL,
    track_id        INTEGER NOT NULL,
    source_path     TEXT    NOT NULL,
    source_sha256   TEXT    NOT NULL,
    output_path     TEXT    NOT NULL UNIQUE,
    output_sha256   TEXT    NOT NULL,
    title           TEXT,
    artist          TEXT,
    policy          TEXT    NOT NULL,
    manifest        TEXT    NOT NULL,
    stamped_at      TEXT    NOT NULL,
    UNIQUE (key_fingerprint, track_id)
);
CREATE INDEX IF NOT EXISTS stamps_by_source ON stamps (source_sha256, key_fingerprint, policy);
";

/// A catalogue failure, without a path (the caller adds it).
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    /// SQLite reported an error.
    #[error("catalogue: {0}")]
    Sql(#[from] rusqlite::Error),
    /// Merging would give one payload to two different tracks.
    #[error(
        "track id {track_id} of key {key_fingerprint} is {a} in one catalogue and {b} in another"
    )]
    Conflict {
        /// Key fingerprint (8 hex digits).
        key_fingerprint: String,
        /// The track id both use.
        track_id: u32,
        /// Output path in the first catalogue.
        a: String,
        /// Output path in the second.
        b: String,
    },
}

/// One stamped file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// Key fingerprint, 8 lowercase hex digits (the marker's first half).
    pub key_fingerprint: String,
    /// Track id (the marker's second half).
    pub track_id: u32,
    /// The input file.
    pub source_path: String,
    /// SHA-256 of the input file's bytes.
    pub source_sha256: String,
    /// The stamped file.
    pub output_path: String,
    /// SHA-256 of the stamped file's bytes.
    pub output_sha256: String,
    /// Title, if known.
    pub title: Option<String>,
    /// Artist, if known.
    pub artist: Option<String>,
    /// Policy name, e.g. `no-ai-training`.
    pub policy: String,
    /// The signed manifest (compact JSON).
    pub manifest: String,
    /// When it was stamped, UTC RFC 3339.
    pub stamped_at: String,
}

/// An open catalogue.
#[derive(Debug)]
pub struct Catalogue {
    conn: Connection,
    path: PathBuf,
}

fn entry(row: &rusqlite::Row<'_>) -> rusqlite::Result<Entry> {
    Ok(Entry {
        key_fingerprint: row.get(0)?,
        track_id: row.get(1)?,
        source_path: row.get(2)?,
        source_sha256: row.get(3)?,
        output_path: row.get(4)?,
        output_sha256: row.get(5)?,
        title: row.get(6)?,
        artist: row.get(7)?,
        policy: row.get(8)?,
        manifest: row.get(9)?,
        stamped_at: row.get(10)?,
    })
}

/// Inserts one row (in the caller's transaction).
fn insert(conn: &Connection, e: &Entry) -> rusqlite::Result<()> {
    conn.execute(
        &format!(
            "INSERT INTO stamps ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
        ),
        params![
            e.key_fingerprint,
            e.track_id,
            e.source_path,
            e.source_sha256,
            e.output_path,
            e.output_sha256,
            e.title,
            e.artist,
            e.policy,
            e.manifest,
            e.stamped_at
        ],
    )?;
    Ok(())
}

const COLUMNS: &str = "key_fingerprint, track_id, source_path, source_sha256, output_path, \
     output_sha256, title, artist, policy, manifest, stamped_at";

impl Catalogue {
    /// Opens (creating if needed) the catalogue at `path`.
    pub fn open(path: &Path) -> Result<Catalogue, CatalogueError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        // WAL: readers never block the writer; FULL sync: a committed row
        // survives a crash or power cut.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(SCHEMA)?;
        Ok(Catalogue {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// Opens an existing catalogue read-only (for `verify`, `list`, `export`).
    pub fn open_read_only(path: &Path) -> Result<Catalogue, CatalogueError> {
        let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        // Fails here, not later, if the file is not a catalogue.
        conn.query_row("SELECT count(*) FROM stamps", [], |r| r.get::<_, i64>(0))?;
        Ok(Catalogue {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// The catalogue's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The next free track id for `key_fingerprint` that is `≡ shard (mod
    /// shards)` and above every id in use or in `reserved` (ids handed out
    /// for files still in progress).
    pub fn next_track_id(
        &self,
        key_fingerprint: &str,
        shard: u32,
        shards: u32,
        reserved: u32,
    ) -> Result<u32, CatalogueError> {
        let max: Option<u32> = self.conn.query_row(
            "SELECT max(track_id) FROM stamps WHERE key_fingerprint = ?1",
            [key_fingerprint],
            |r| r.get(0),
        )?;
        let floor = max.unwrap_or(0).max(reserved);
        let shards = shards.max(1);
        // Smallest id > floor with id % shards == shard (ids start at 1).
        let mut id = floor - floor % shards + shard;
        while id <= floor || id == 0 {
            id += shards;
        }
        Ok(id)
    }

    /// The finished stamp of this source with this key and policy, if its
    /// output still exists.
    pub fn find_done(
        &self,
        source_sha256: &str,
        key_fingerprint: &str,
        policy: &str,
        output_path: &str,
    ) -> Result<Option<Entry>, CatalogueError> {
        let e = self
            .conn
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM stamps WHERE source_sha256 = ?1 \
                     AND key_fingerprint = ?2 AND policy = ?3 AND output_path = ?4"
                ),
                params![source_sha256, key_fingerprint, policy, output_path],
                entry,
            )
            .optional()?;
        Ok(e.filter(|e| Path::new(&e.output_path).exists()))
    }

    /// Records a finished stamp in one transaction, replacing any older row
    /// for the same output.
    pub fn record(&mut self, e: &Entry) -> Result<(), CatalogueError> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "DELETE FROM stamps WHERE output_path = ?1",
            [&e.output_path],
        )?;
        insert(&tx, e)?;
        tx.commit()?;
        Ok(())
    }

    /// The entry for a decoded payload.
    pub fn lookup(
        &self,
        key_fingerprint: u32,
        track_id: u32,
    ) -> Result<Option<Entry>, CatalogueError> {
        Ok(self
            .conn
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM stamps WHERE key_fingerprint = ?1 AND track_id = ?2"
                ),
                params![format!("{key_fingerprint:08x}"), track_id],
                entry,
            )
            .optional()?)
    }

    /// The entry `what` names: a payload as `KEY:TRACK` (see
    /// [`crate::Payload`]'s `FromStr`), or an output or source path.
    pub fn find(&self, what: &str) -> Result<Option<Entry>, CatalogueError> {
        if let Ok(p) = what.parse::<crate::Payload>() {
            return self.lookup(p.key_fingerprint, p.track_id);
        }
        Ok(self
            .entries()?
            .into_iter()
            .find(|e| e.output_path == what || e.source_path == what))
    }

    /// The entries the markers found in a verified file point to.
    pub fn entries_for(&self, v: &crate::Verification) -> Vec<Entry> {
        v.markers
            .iter()
            .filter_map(|m| {
                self.lookup(m.payload.key_fingerprint, m.payload.track_id)
                    .ok()
                    .flatten()
            })
            .collect()
    }

    /// Every entry, in the order they were recorded.
    pub fn entries(&self) -> Result<Vec<Entry>, CatalogueError> {
        let mut st = self
            .conn
            .prepare(&format!("SELECT {COLUMNS} FROM stamps ORDER BY id"))?;
        let rows = st.query_map([], entry)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Number of rows.
    pub fn len(&self) -> Result<u64, CatalogueError> {
        let n: i64 = self
            .conn
            .query_row("SELECT count(*) FROM stamps", [], |r| r.get(0))?;
        Ok(n.max(0) as u64)
    }

    /// Whether the catalogue has no rows.
    pub fn is_empty(&self) -> Result<bool, CatalogueError> {
        Ok(self.len()? == 0)
    }

    /// Copies every entry of `other` into this catalogue in one transaction.
    /// An entry already present (same output, same payload) is skipped; the
    /// same payload for a different output, or the same output with another
    /// payload, is a conflict and nothing is merged. Returns rows added.
    pub fn merge_from(&mut self, other: &Catalogue) -> Result<u64, CatalogueError> {
        let incoming = other.entries()?;
        let tx = self.conn.transaction()?;
        let mut added = 0;
        for e in &incoming {
            let by_payload: Option<String> = tx
                .query_row(
                    "SELECT output_path FROM stamps WHERE key_fingerprint = ?1 AND track_id = ?2",
                    params![e.key_fingerprint, e.track_id],
                    |r| r.get(0),
                )
                .optional()?;
            let by_output: Option<(String, u32)> = tx
                .query_row(
                    "SELECT key_fingerprint, track_id FROM stamps WHERE output_path = ?1",
                    [&e.output_path],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            match (by_payload, by_output) {
                (Some(out), _) if out == e.output_path => continue,
                (Some(out), _) => {
                    return Err(CatalogueError::Conflict {
                        key_fingerprint: e.key_fingerprint.clone(),
                        track_id: e.track_id,
                        a: out,
                        b: e.output_path.clone(),
                    })
                }
                (None, Some((k, t))) => {
                    return Err(CatalogueError::Conflict {
                        key_fingerprint: k,
                        track_id: t,
                        a: e.output_path.clone(),
                        b: format!(
                            "{} (payload {}:{})",
                            e.output_path, e.key_fingerprint, e.track_id
                        ),
                    })
                }
                (None, None) => {}
            }
            insert(&tx, e)?;
            added += 1;
        }
        tx.commit()?;
        Ok(added)
    }
}

/// Quotes a CSV field (RFC 4180).
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Writes entries as CSV with a header row (the manifest column included).
pub fn write_csv(entries: &[Entry], out: &mut impl std::io::Write) -> std::io::Result<()> {
    writeln!(out, "{}", COLUMNS.replace(' ', ""))?;
    for e in entries {
        let fields = [
            e.key_fingerprint.clone(),
            e.track_id.to_string(),
            e.source_path.clone(),
            e.source_sha256.clone(),
            e.output_path.clone(),
            e.output_sha256.clone(),
            e.title.clone().unwrap_or_default(),
            e.artist.clone().unwrap_or_default(),
            e.policy.clone(),
            e.manifest.clone(),
            e.stamped_at.clone(),
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        writeln!(out, "{}", line.join(","))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(key: &str, id: u32, out: &str) -> Entry {
        Entry {
            key_fingerprint: key.into(),
            track_id: id,
            source_path: format!("in/{out}"),
            source_sha256: "00".repeat(32),
            output_path: out.into(),
            output_sha256: "11".repeat(32),
            title: Some("T, \"quoted\"".into()),
            artist: None,
            policy: "no-ai-training".into(),
            manifest: "{}".into(),
            stamped_at: "2026-11-22T00:00:00Z".into(),
        }
    }

    #[test]
    fn ids_follow_the_shard_and_never_repeat() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Catalogue::open(&dir.path().join("c.db")).unwrap();
        assert_eq!(c.next_track_id("aa", 0, 1, 0).unwrap(), 1);
        assert_eq!(c.next_track_id("aa", 2, 3, 0).unwrap(), 2);
        assert_eq!(c.next_track_id("aa", 0, 3, 0).unwrap(), 3);
        c.record(&e("aa", 7, "x")).unwrap();
        assert_eq!(c.next_track_id("aa", 0, 1, 0).unwrap(), 8);
        assert_eq!(c.next_track_id("aa", 1, 4, 0).unwrap(), 9);
        assert_eq!(c.next_track_id("aa", 0, 1, 20).unwrap(), 21);
        assert_eq!(c.next_track_id("bb", 0, 1, 0).unwrap(), 1);
        // Re-recording an output replaces its row.
        c.record(&e("aa", 8, "x")).unwrap();
        assert_eq!(c.len().unwrap(), 1);
        assert_eq!(
            c.lookup(0xaa, 8).unwrap(),
            None,
            "key is stored as 8 hex digits"
        );
    }

    #[test]
    fn merge_adds_new_rows_and_refuses_conflicts() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = Catalogue::open(&dir.path().join("a.db")).unwrap();
        let mut b = Catalogue::open(&dir.path().join("b.db")).unwrap();
        a.record(&e("0000aaaa", 1, "one")).unwrap();
        b.record(&e("0000aaaa", 2, "two")).unwrap();
        b.record(&e("0000aaaa", 1, "one")).unwrap();
        assert_eq!(a.merge_from(&b).unwrap(), 1);
        assert_eq!(a.len().unwrap(), 2);
        assert_eq!(a.lookup(0xaaaa, 2).unwrap().unwrap().output_path, "two");
        let mut c = Catalogue::open(&dir.path().join("c.db")).unwrap();
        c.record(&e("0000aaaa", 2, "other")).unwrap();
        let err = a.merge_from(&c).unwrap_err();
        assert!(
            matches!(err, CatalogueError::Conflict { track_id: 2, .. }),
            "{err}"
        );
        assert_eq!(a.len().unwrap(), 2, "nothing merged on conflict");
    }

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let mut out = Vec::new();
        write_csv(&[e("aa", 1, "o")], &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("key_fingerprint,track_id,"));
        assert!(text.contains("\"T, \"\"quoted\"\"\""));
    }
}
