//! The SQLite backend: one file, WAL journal, every write its own
//! transaction with `synchronous = FULL`.

use super::{
    merge_decision, next_in_shard, CatalogueError, Entry, NextPage, Store, C2PA_COLUMNS, COLUMNS,
};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::path::Path;

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
    c2pa_manifest_id TEXT,
    c2pa_store      BLOB,
    UNIQUE (key_fingerprint, track_id)
);
CREATE INDEX IF NOT EXISTS stamps_by_source ON stamps (source_sha256, key_fingerprint, policy);
CREATE INDEX IF NOT EXISTS stamps_by_source_path ON stamps (source_path);
CREATE TABLE IF NOT EXISTS track_ids (
    key_fingerprint TEXT    PRIMARY KEY,
    last_id         INTEGER NOT NULL
);
";

/// What a catalogue made before the Content Credentials columns lacks.
const ADD_C2PA: &str = "
ALTER TABLE stamps ADD COLUMN c2pa_manifest_id TEXT;
ALTER TABLE stamps ADD COLUMN c2pa_store BLOB;
";

/// Made once the columns exist.
const C2PA_INDEX: &str =
    "CREATE INDEX IF NOT EXISTS stamps_by_c2pa_id ON stamps (c2pa_manifest_id);";

/// How long a catalogue waits for another process's write.
const BUSY: std::time::Duration = std::time::Duration::from_secs(30);

/// Runs `f` again while SQLite says another connection holds the lock,
/// for up to [`BUSY`] (for the steps its busy handler does not cover).
pub(super) fn retry_busy<T>(mut f: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let t0 = std::time::Instant::now();
    loop {
        match f() {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) && t0.elapsed() < BUSY =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

/// A SQLite catalogue file.
pub(super) struct Sqlite {
    conn: Connection,
    /// What the queries select: every column, or NULL for the C2PA ones
    /// of an older catalogue opened read-only.
    select: String,
}

/// Whether the table has the Content Credentials columns.
fn has_c2pa_columns(conn: &Connection) -> bool {
    conn.prepare("SELECT c2pa_manifest_id, c2pa_store FROM stamps LIMIT 0")
        .is_ok()
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
        c2pa_manifest_id: row.get(11)?,
        c2pa_store: row.get(12)?,
    })
}

/// Inserts one row (in the caller's transaction).
fn insert(conn: &Connection, e: &Entry) -> rusqlite::Result<()> {
    conn.prepare_cached(&format!(
        "INSERT INTO stamps ({COLUMNS}, {C2PA_COLUMNS}) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
    ))?
    .execute(params![
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
        e.stamped_at,
        e.c2pa_manifest_id,
        e.c2pa_store
    ])?;
    Ok(())
}

impl Sqlite {
    pub(super) fn open(path: &Path) -> Result<Sqlite, CatalogueError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(BUSY)?;
        // WAL: readers never block the writer; FULL sync: a committed row
        // survives a crash or power cut. Switching to WAL is refused while
        // another process sets the same new file up, whatever the busy
        // timeout: it is retried.
        retry_busy(|| conn.pragma_update(None, "journal_mode", "WAL"))?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        // Tables and the columns added since, in one write transaction:
        // two processes opening a new or older file at once take turns.
        retry_busy(|| {
            conn.execute_batch("BEGIN IMMEDIATE")?;
            let made = conn.execute_batch(SCHEMA).and_then(|()| {
                if !has_c2pa_columns(&conn) {
                    conn.execute_batch(ADD_C2PA)?;
                }
                conn.execute_batch(C2PA_INDEX)
            });
            match made {
                Ok(()) => conn.execute_batch("COMMIT"),
                Err(e) => {
                    let _ = conn.execute_batch("ROLLBACK");
                    Err(e)
                }
            }
        })?;
        Ok(Sqlite::with(conn))
    }

    fn with(conn: Connection) -> Sqlite {
        let c2pa = if has_c2pa_columns(&conn) {
            C2PA_COLUMNS
        } else {
            "NULL, NULL"
        };
        Sqlite {
            select: format!("{COLUMNS}, {c2pa}"),
            conn,
        }
    }

    pub(super) fn open_read_only(path: &Path) -> Result<Sqlite, CatalogueError> {
        let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        conn.busy_timeout(BUSY)?;
        // Fails here, not later, if the file is not a catalogue.
        conn.query_row("SELECT count(*) FROM stamps", [], |r| r.get::<_, i64>(0))?;
        Ok(Sqlite::with(conn))
    }

    fn one(&self, filter: &str, args: impl rusqlite::Params) -> rusqlite::Result<Option<Entry>> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {} FROM stamps WHERE {filter} ORDER BY id LIMIT 1",
                self.select
            ))?
            .query_row(args, entry)
            .optional()
    }
}

impl Store for Sqlite {
    fn lookup(&mut self, key: &str, track: u32) -> Result<Option<Entry>, CatalogueError> {
        Ok(self.one(
            "key_fingerprint = ?1 AND track_id = ?2",
            params![key, track],
        )?)
    }

    fn by_path(&mut self, path: &str) -> Result<Option<Entry>, CatalogueError> {
        Ok(self.one("output_path = ?1 OR source_path = ?1", [path])?)
    }

    fn by_c2pa_id(&mut self, id: &str) -> Result<Option<Entry>, CatalogueError> {
        if !self.select.contains("c2pa_manifest_id") {
            return Ok(None);
        }
        Ok(self.one("c2pa_manifest_id = ?1", [id])?)
    }

    fn find_done(
        &mut self,
        source_sha256: &str,
        key: &str,
        policy: &str,
        output_path: &str,
    ) -> Result<Option<Entry>, CatalogueError> {
        Ok(self.one(
            "source_sha256 = ?1 AND key_fingerprint = ?2 AND policy = ?3 AND output_path = ?4",
            params![source_sha256, key, policy, output_path],
        )?)
    }

    fn record(&mut self, e: &Entry) -> Result<(), CatalogueError> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "DELETE FROM stamps WHERE output_path = ?1",
            [&e.output_path],
        )?;
        insert(&tx, e)?;
        tx.commit()?;
        Ok(())
    }

    fn page(&mut self, after: i64, limit: u32) -> Result<Vec<(i64, Entry)>, CatalogueError> {
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT {}, id FROM stamps WHERE id > ?1 ORDER BY id LIMIT ?2",
            self.select
        ))?;
        let rows = st.query_map(params![after, limit], |r| Ok((r.get(13)?, entry(r)?)))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn len(&mut self) -> Result<u64, CatalogueError> {
        let n: i64 = self
            .conn
            .query_row("SELECT count(*) FROM stamps", [], |r| r.get(0))?;
        Ok(n.max(0) as u64)
    }

    fn allocate(
        &mut self,
        key: &str,
        shard: u32,
        shards: u32,
        at_least: u32,
    ) -> Result<u32, CatalogueError> {
        // IMMEDIATE: the write lock is taken before the read, so two
        // processes cannot both read the same floor.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let floor: i64 = tx.query_row(
            "SELECT max(coalesce((SELECT last_id FROM track_ids WHERE key_fingerprint = ?1), 0), \
                        coalesce((SELECT max(track_id) FROM stamps WHERE key_fingerprint = ?1), 0))",
            [key],
            |r| r.get(0),
        )?;
        let floor = u32::try_from(floor).map_err(|_| CatalogueError::Exhausted(key.into()))?;
        let id = next_in_shard(key, floor.max(at_least), shard, shards)?;
        tx.execute(
            "INSERT INTO track_ids (key_fingerprint, last_id) VALUES (?1, ?2) \
             ON CONFLICT (key_fingerprint) DO UPDATE SET last_id = excluded.last_id",
            params![key, id],
        )?;
        tx.commit()?;
        Ok(id)
    }

    fn merge(&mut self, next_page: &mut NextPage<'_>) -> Result<u64, CatalogueError> {
        let tx = self.conn.transaction()?;
        let mut added = 0;
        let mut after = 0;
        loop {
            let page = next_page(after)?;
            let Some(&(last, _)) = page.last() else {
                break;
            };
            after = last;
            for (_, e) in &page {
                let by_payload: Option<String> = tx
                    .prepare_cached(
                        "SELECT output_path FROM stamps WHERE key_fingerprint = ?1 AND track_id = ?2",
                    )?
                    .query_row(params![e.key_fingerprint, e.track_id], |r| r.get(0))
                    .optional()?;
                let by_output: Option<(String, u32)> = tx
                    .prepare_cached(
                        "SELECT key_fingerprint, track_id FROM stamps WHERE output_path = ?1",
                    )?
                    .query_row([&e.output_path], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?;
                if merge_decision(e, by_payload, by_output)? {
                    insert(&tx, e)?;
                    added += 1;
                }
            }
        }
        tx.commit()?;
        Ok(added)
    }
}
