//! The PostgreSQL backend: one database shared by every machine that stamps
//! (batch shards) or reads (`verify`, `serve` replicas).
//!
//! Track ids come from a per-key counter row locked for the length of one
//! transaction (`SELECT … FOR UPDATE`), so concurrent writers on any number
//! of machines never get the same id. A lost connection is reopened on the
//! next call; until the server answers, calls fail with
//! [`CatalogueError::Unavailable`].

use super::{
    merge_decision, next_in_shard, CatalogueError, Entry, NextPage, Store, C2PA_COLUMNS, COLUMNS,
};
use postgres::{Client, Config, NoTls, Row, ToStatement};
use std::time::Duration;

/// Same tables as the SQLite backend; `track_id` is BIGINT because
/// PostgreSQL has no unsigned 32-bit type.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS stamps (
    id              BIGSERIAL PRIMARY KEY,
    key_fingerprint TEXT      NOT NULL,
    track_id        BIGINT    NOT NULL CHECK (track_id BETWEEN 0 AND 4294967295),
    source_path     TEXT      NOT NULL,
    source_sha256   TEXT      NOT NULL,
    output_path     TEXT      NOT NULL UNIQUE,
    output_sha256   TEXT      NOT NULL,
    title           TEXT,
    artist          TEXT,
    policy          TEXT      NOT NULL,
    manifest        TEXT      NOT NULL,
    stamped_at      TEXT      NOT NULL,
    c2pa_manifest_id TEXT,
    c2pa_store      BYTEA,
    UNIQUE (key_fingerprint, track_id)
);
ALTER TABLE stamps ADD COLUMN IF NOT EXISTS c2pa_manifest_id TEXT;
ALTER TABLE stamps ADD COLUMN IF NOT EXISTS c2pa_store BYTEA;
CREATE INDEX IF NOT EXISTS stamps_by_c2pa_id ON stamps (c2pa_manifest_id);
CREATE INDEX IF NOT EXISTS stamps_by_source ON stamps (source_sha256, key_fingerprint, policy);
CREATE INDEX IF NOT EXISTS stamps_by_source_path ON stamps (source_path);
CREATE TABLE IF NOT EXISTS track_ids (
    key_fingerprint TEXT   PRIMARY KEY,
    last_id         BIGINT NOT NULL
);
";

/// Serialises schema creation between processes that open a new database
/// at the same moment (`CREATE TABLE IF NOT EXISTS` alone can race).
const SCHEMA_LOCK: i64 = 0x0065_6172_6d61_726b; // "earmark" in ASCII

/// How long a connection attempt may take when the URL does not say.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A PostgreSQL catalogue.
pub(super) struct Postgres {
    config: Config,
    client: Client,
}

/// Maps a driver error: the server's own refusal is [`CatalogueError::Database`]
/// (with its detail); anything that went wrong on the connection is
/// [`CatalogueError::Unavailable`].
fn pg(e: postgres::Error) -> CatalogueError {
    if let Some(db) = e.as_db_error() {
        let mut msg = db.message().to_string();
        if let Some(detail) = db.detail() {
            msg = format!("{msg} ({detail})");
        }
        if db.code() == &postgres::error::SqlState::UNDEFINED_TABLE {
            msg = format!("no earmark catalogue in this database: {msg}");
        }
        return CatalogueError::Database(msg);
    }
    let mut msg = e.to_string();
    let mut io = e.is_closed();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        io |= s.is::<std::io::Error>();
        msg = format!("{msg}: {s}");
        source = s.source();
    }
    if io || msg.starts_with("error connecting") || msg.starts_with("error communicating") {
        CatalogueError::Unavailable(msg)
    } else {
        CatalogueError::Database(msg)
    }
}

fn entry(row: &Row) -> Result<Entry, CatalogueError> {
    let track: i64 = row.try_get(1).map_err(pg)?;
    Ok(Entry {
        key_fingerprint: row.try_get(0).map_err(pg)?,
        track_id: u32::try_from(track)
            .map_err(|_| CatalogueError::Database(format!("track id {track} out of range")))?,
        source_path: row.try_get(2).map_err(pg)?,
        source_sha256: row.try_get(3).map_err(pg)?,
        output_path: row.try_get(4).map_err(pg)?,
        output_sha256: row.try_get(5).map_err(pg)?,
        title: row.try_get(6).map_err(pg)?,
        artist: row.try_get(7).map_err(pg)?,
        policy: row.try_get(8).map_err(pg)?,
        manifest: row.try_get(9).map_err(pg)?,
        stamped_at: row.try_get(10).map_err(pg)?,
        c2pa_manifest_id: row.try_get(11).map_err(pg)?,
        c2pa_store: row.try_get(12).map_err(pg)?,
    })
}

const INSERT: &str = "INSERT INTO stamps (key_fingerprint, track_id, source_path, source_sha256, \
     output_path, output_sha256, title, artist, policy, manifest, stamped_at, c2pa_manifest_id, \
     c2pa_store) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";

/// Inserts `e` with `statement` ([`INSERT`], as text or prepared).
fn insert<S: ?Sized + ToStatement>(
    tx: &mut postgres::Transaction<'_>,
    statement: &S,
    e: &Entry,
) -> Result<(), CatalogueError> {
    tx.execute(
        statement,
        &[
            &e.key_fingerprint,
            &i64::from(e.track_id),
            &e.source_path,
            &e.source_sha256,
            &e.output_path,
            &e.output_sha256,
            &e.title,
            &e.artist,
            &e.policy,
            &e.manifest,
            &e.stamped_at,
            &e.c2pa_manifest_id,
            &e.c2pa_store,
        ],
    )
    .map_err(pg)?;
    Ok(())
}

impl Postgres {
    /// Connects; with `create`, makes the tables if they are missing,
    /// otherwise checks that they are there.
    pub(super) fn connect(url: &str, create: bool) -> Result<Postgres, CatalogueError> {
        let mut config: Config = url
            .parse()
            .map_err(|e| CatalogueError::Database(format!("not a PostgreSQL URL: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        config.keepalives(true);
        let mut client = config.connect(NoTls).map_err(pg)?;
        if create {
            let mut tx = client.transaction().map_err(pg)?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
                .map_err(pg)?;
            tx.batch_execute(SCHEMA).map_err(pg)?;
            tx.commit().map_err(pg)?;
        } else {
            client
                .query_opt("SELECT 1 FROM stamps LIMIT 1", &[])
                .map_err(pg)?;
        }
        Ok(Postgres { config, client })
    }

    /// The client, reconnected first if the server dropped the connection.
    fn client(&mut self) -> Result<&mut Client, CatalogueError> {
        if self.client.is_closed() {
            self.client = self.config.connect(NoTls).map_err(pg)?;
        }
        Ok(&mut self.client)
    }

    fn one(
        &mut self,
        filter: &str,
        args: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<Option<Entry>, CatalogueError> {
        let sql = format!(
            "SELECT {COLUMNS}, {C2PA_COLUMNS} FROM stamps WHERE {filter} ORDER BY id LIMIT 1"
        );
        let row = self.client()?.query_opt(&sql, args).map_err(pg)?;
        row.as_ref().map(entry).transpose()
    }
}

impl Store for Postgres {
    fn lookup(&mut self, key: &str, track: u32) -> Result<Option<Entry>, CatalogueError> {
        self.one(
            "key_fingerprint = $1 AND track_id = $2",
            &[&key, &i64::from(track)],
        )
    }

    fn by_path(&mut self, path: &str) -> Result<Option<Entry>, CatalogueError> {
        self.one("output_path = $1 OR source_path = $1", &[&path])
    }

    fn by_c2pa_id(&mut self, id: &str) -> Result<Option<Entry>, CatalogueError> {
        self.one("c2pa_manifest_id = $1", &[&id])
    }

    fn find_done(
        &mut self,
        source_sha256: &str,
        key: &str,
        policy: &str,
        output_path: &str,
    ) -> Result<Option<Entry>, CatalogueError> {
        self.one(
            "source_sha256 = $1 AND key_fingerprint = $2 AND policy = $3 AND output_path = $4",
            &[&source_sha256, &key, &policy, &output_path],
        )
    }

    fn record(&mut self, e: &Entry) -> Result<(), CatalogueError> {
        let mut tx = self.client()?.transaction().map_err(pg)?;
        tx.execute(
            "DELETE FROM stamps WHERE output_path = $1",
            &[&e.output_path],
        )
        .map_err(pg)?;
        insert(&mut tx, INSERT, e)?;
        tx.commit().map_err(pg)
    }

    fn page(&mut self, after: i64, limit: u32) -> Result<Vec<(i64, Entry)>, CatalogueError> {
        let sql = format!(
            "SELECT {COLUMNS}, {C2PA_COLUMNS}, id FROM stamps WHERE id > $1 ORDER BY id LIMIT $2"
        );
        let rows = self
            .client()?
            .query(&sql, &[&after, &i64::from(limit)])
            .map_err(pg)?;
        rows.iter()
            .map(|r| Ok((r.try_get(13).map_err(pg)?, entry(r)?)))
            .collect()
    }

    fn len(&mut self) -> Result<u64, CatalogueError> {
        let n: i64 = self
            .client()?
            .query_one("SELECT count(*) FROM stamps", &[])
            .map_err(pg)?
            .get(0);
        Ok(n.max(0) as u64)
    }

    fn allocate(
        &mut self,
        key: &str,
        shard: u32,
        shards: u32,
        at_least: u32,
    ) -> Result<u32, CatalogueError> {
        let mut tx = self.client()?.transaction().map_err(pg)?;
        tx.execute(
            "INSERT INTO track_ids (key_fingerprint, last_id) VALUES ($1, 0) \
             ON CONFLICT (key_fingerprint) DO NOTHING",
            &[&key],
        )
        .map_err(pg)?;
        // The row lock is held until commit: every other allocation for
        // this key, from any connection, waits here.
        let last: i64 = tx
            .query_one(
                "SELECT last_id FROM track_ids WHERE key_fingerprint = $1 FOR UPDATE",
                &[&key],
            )
            .map_err(pg)?
            .get(0);
        let used: i64 = tx
            .query_one(
                "SELECT coalesce(max(track_id), 0) FROM stamps WHERE key_fingerprint = $1",
                &[&key],
            )
            .map_err(pg)?
            .get(0);
        let floor =
            u32::try_from(last.max(used)).map_err(|_| CatalogueError::Exhausted(key.into()))?;
        let id = next_in_shard(key, floor.max(at_least), shard, shards)?;
        tx.execute(
            "UPDATE track_ids SET last_id = $2 WHERE key_fingerprint = $1",
            &[&key, &i64::from(id)],
        )
        .map_err(pg)?;
        tx.commit().map_err(pg)?;
        Ok(id)
    }

    fn merge(&mut self, next_page: &mut NextPage<'_>) -> Result<u64, CatalogueError> {
        let mut tx = self.client()?.transaction().map_err(pg)?;
        let by_payload = tx
            .prepare("SELECT output_path FROM stamps WHERE key_fingerprint = $1 AND track_id = $2")
            .map_err(pg)?;
        let by_output = tx
            .prepare("SELECT key_fingerprint, track_id FROM stamps WHERE output_path = $1")
            .map_err(pg)?;
        let add = tx.prepare(INSERT).map_err(pg)?;
        let mut added = 0;
        let mut after = 0;
        loop {
            let page = next_page(after)?;
            let Some(&(last, _)) = page.last() else {
                break;
            };
            after = last;
            for (_, e) in &page {
                let p: Option<String> = tx
                    .query_opt(&by_payload, &[&e.key_fingerprint, &i64::from(e.track_id)])
                    .map_err(pg)?
                    .map(|r| r.get(0));
                let o: Option<(String, u32)> = tx
                    .query_opt(&by_output, &[&e.output_path])
                    .map_err(pg)?
                    .map(|r| (r.get(0), u32::try_from(r.get::<_, i64>(1)).unwrap_or(0)));
                if merge_decision(e, p, o)? {
                    insert(&mut tx, &add, e)?;
                    added += 1;
                }
            }
        }
        tx.commit().map_err(pg)?;
        Ok(added)
    }
}
