//! The catalogue: a record of every stamp, so a label or a platform can find
//! out later what a decoded marker payload points to, even in a clip whose
//! metadata was stripped.
//!
//! One row per output file, in one of two backends behind one interface
//! ([`Catalogue`]): a SQLite file (the embedded default, [`Location::Sqlite`])
//! or a PostgreSQL database shared by many machines ([`Location::Postgres`],
//! feature `postgres`, a `postgres://…` URL).
//!
//! Track ids are allocated here, per signing key, in the database itself
//! (one transaction on a per-key counter): they never repeat for the same
//! key within a catalogue, even when several processes on several machines
//! stamp into one PostgreSQL catalogue at once, and an id handed out for a
//! file that then failed is never handed out again. With sharding
//! (`--shard I/N`) shard `I` only takes ids `≡ I (mod N)`, so separate SQLite
//! shard catalogues merge without conflicts. Each row is written in one
//! transaction after its output file has been renamed into place; a file
//! without a row is not done and is stamped again on the next run.
//!
//! This module knows nothing about audio: it stores what `stamp` reports.

pub mod registry;
mod sqlite;

#[cfg(feature = "postgres")]
mod postgres;

use serde::Serialize;
use std::fmt;
use std::path::{Path, PathBuf};

/// Default catalogue file name inside an output folder.
pub const DEFAULT_NAME: &str = "earmark-catalogue.db";

/// Rows read per query when a whole catalogue is walked (list, export,
/// merge, migrate): memory stays flat in the catalogue's size.
const PAGE: u32 = 1000;

/// Where a catalogue lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL database, as a `postgres://` or `postgresql://` URL.
    Postgres(String),
}

impl Location {
    /// Reads a command-line catalogue argument: a `postgres://` or
    /// `postgresql://` URL, otherwise a SQLite file path.
    pub fn parse(s: &str) -> Location {
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            Location::Postgres(s.to_string())
        } else {
            Location::Sqlite(PathBuf::from(s))
        }
    }

    /// The SQLite file, if this is one.
    pub fn as_path(&self) -> Option<&Path> {
        match self {
            Location::Sqlite(p) => Some(p),
            Location::Postgres(_) => None,
        }
    }
}

impl std::str::FromStr for Location {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Location, Self::Err> {
        Ok(Location::parse(s))
    }
}

impl From<&Path> for Location {
    fn from(p: &Path) -> Location {
        Location::Sqlite(p.to_path_buf())
    }
}

impl From<&PathBuf> for Location {
    fn from(p: &PathBuf) -> Location {
        Location::Sqlite(p.clone())
    }
}

impl From<PathBuf> for Location {
    fn from(p: PathBuf) -> Location {
        Location::Sqlite(p)
    }
}

/// Shows a SQLite path as it is and a PostgreSQL URL without its password,
/// so a location can go into messages and logs.
impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Sqlite(p) => write!(f, "{}", p.display()),
            Location::Postgres(url) => f.write_str(&redact_password(url)),
        }
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`, and a
/// `password=` query parameter likewise.
fn redact_password(url: &str) -> String {
    let url = redact_userinfo(url);
    match url.split_once('?') {
        Some((base, query)) => {
            let params: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => kv.to_string(),
                })
                .collect();
            format!("{base}?{}", params.join("&"))
        }
        None => url,
    }
}

fn redact_userinfo(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_string();
    };
    match rest[..at].find(':') {
        Some(colon) => format!(
            "{}{}:***{}",
            &url[..scheme_end],
            &rest[..colon],
            &rest[at..]
        ),
        None => url.to_string(),
    }
}

/// A catalogue failure, without the location (the caller adds it).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogueError {
    /// SQLite reported an error.
    #[error("catalogue: {0}")]
    Sql(#[from] rusqlite::Error),
    /// The PostgreSQL server refused a statement.
    #[error("catalogue: {0}")]
    Database(String),
    /// The PostgreSQL server cannot be reached, or the connection was lost.
    /// Worth retrying later: nothing was written.
    #[error("catalogue unavailable: {0}")]
    Unavailable(String),
    /// A `postgres://` catalogue in a build without the `postgres` feature.
    #[error("this build of earmark has no PostgreSQL support (feature `postgres`)")]
    NoPostgres,
    /// Every track id of a key has been used.
    #[error("no free track id left for key {0}")]
    Exhausted(String),
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

impl CatalogueError {
    /// Whether the database could not be reached (a service answers 503 and
    /// a client may retry), as opposed to a refused or failed operation.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, CatalogueError::Unavailable(_))
    }
}

/// One stamped file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
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
    /// The Content Credentials' manifest label (`urn:c2pa:…`), when the
    /// stamp made them: the manifest id the resolution service gives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub c2pa_manifest_id: Option<String>,
    /// The C2PA manifest store itself (`application/c2pa`; base64 in JSON).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "base64_bytes"
    )]
    pub c2pa_store: Option<Vec<u8>>,
}

/// The SHA-256 of the file at `path`, as lowercase hex, read in a stream
/// (catalogue rows record their source and output files by it; the
/// registry names content without a path by it).
pub(crate) fn sha256_file(path: &Path) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    std::io::copy(&mut std::fs::File::open(path)?, &mut h)?;
    Ok(crate::hex::encode(&h.finalize()))
}

/// Optional bytes as a base64 string in JSON.
mod base64_bytes {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(b)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|t| {
                base64::engine::general_purpose::STANDARD
                    .decode(t.trim())
                    .map_err(serde::de::Error::custom)
            })
            .transpose()
    }
}

impl Entry {
    /// The entry as JSON for people and reports (`verify --json`,
    /// `catalogue show`, the service's `/v1/verify`): everything but the
    /// C2PA store's bytes, which only `catalogue export` and publishing
    /// carry, with the manifest as an object rather than JSON text.
    pub fn summary_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let Some(obj) = v.as_object_mut() {
            if let Some(store) = &self.c2pa_store {
                obj.remove("c2pa_store");
                obj.insert("c2pa_store_bytes".into(), store.len().into());
            }
            // The manifest as an object, not JSON in a string.
            if let Ok(doc) = serde_json::from_str::<serde_json::Value>(&self.manifest) {
                obj.insert("manifest".into(), doc);
            }
        }
        v
    }

    /// Checks the fields a catalogue relies on (a row from elsewhere, such
    /// as one published to `earmark serve`): the key as 8 lowercase hex
    /// digits, both SHA-256 as 64, and no empty path, policy, manifest or
    /// time.
    pub fn check(&self) -> Result<(), String> {
        let hex = |s: &str, n: usize| {
            s.len() == n
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        if !hex(&self.key_fingerprint, 8) {
            return Err(format!(
                "key_fingerprint {:?} is not 8 lowercase hex digits",
                self.key_fingerprint
            ));
        }
        for (name, v) in [
            ("source_sha256", &self.source_sha256),
            ("output_sha256", &self.output_sha256),
        ] {
            if !hex(v, 64) {
                return Err(format!("{name} {v:?} is not 64 lowercase hex digits"));
            }
        }
        for (name, v) in [
            ("source_path", &self.source_path),
            ("output_path", &self.output_path),
            ("policy", &self.policy),
            ("manifest", &self.manifest),
            ("stamped_at", &self.stamped_at),
        ] {
            if v.trim().is_empty() {
                return Err(format!("{name} is empty"));
            }
        }
        // Neither backend stores a NUL in text (PostgreSQL refuses it).
        let texts = [
            Some(&self.source_path),
            Some(&self.output_path),
            Some(&self.policy),
            Some(&self.manifest),
            Some(&self.stamped_at),
            self.title.as_ref(),
            self.artist.as_ref(),
            self.c2pa_manifest_id.as_ref(),
        ];
        if texts.into_iter().flatten().any(|t| t.contains('\0')) {
            return Err("a text field holds a NUL character".into());
        }
        if let Some(id) = &self.c2pa_manifest_id {
            if id.len() > 256 || !id.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(format!("c2pa_manifest_id {id:?} is not a manifest label"));
            }
        }
        Ok(())
    }

    /// How this entry contradicts a verified file: the file carries its own
    /// signed manifest (embedded or sidecar) for this entry's payload, and
    /// it is not the manifest the catalogue recorded. Then one of the two
    /// is not telling the truth about the track, and neither should be
    /// taken as the answer. `None` when they agree, or when the file has no
    /// manifest for this payload.
    pub fn contradiction(&self, v: &crate::Verification) -> Option<String> {
        let found = &v.manifest.as_ref()?.document;
        let payload = self.payload()?;
        if found.manifest.payload != payload {
            return None;
        }
        let name = format!("{}:{}", self.key_fingerprint, self.track_id);
        let Ok(recorded) = crate::provenance::SignedManifest::parse(&self.manifest) else {
            return Some(format!(
                "the catalogue's manifest for {name} does not parse, and the file carries one"
            ));
        };
        if recorded.signature == found.signature {
            return None;
        }
        let describe = |m: &crate::provenance::SignedManifest| {
            format!(
                "{} stamped {}",
                m.manifest.title.as_deref().unwrap_or("(no title)"),
                m.manifest.created
            )
        };
        Some(format!(
            "the file's manifest for {name} ({}) is not the one the catalogue recorded ({})",
            describe(found),
            describe(&recorded)
        ))
    }

    /// The payload this entry's marker carries.
    pub fn payload(&self) -> Option<crate::Payload> {
        let key = u32::from_str_radix(&self.key_fingerprint, 16).ok()?;
        Some(crate::Payload::new(key, self.track_id))
    }
}

/// Column order of the CSV export, and of every query (followed by
/// [`C2PA_COLUMNS`]).
const COLUMNS: &str = "key_fingerprint, track_id, source_path, source_sha256, output_path, \
     output_sha256, title, artist, policy, manifest, stamped_at";

/// The Content Credentials columns (added after the first catalogues).
const C2PA_COLUMNS: &str = "c2pa_manifest_id, c2pa_store";

/// What one backend does; [`Catalogue`] adds what is common to both.
trait Store: Send {
    /// The entry for `key` (8 hex digits) and `track`.
    fn lookup(&mut self, key: &str, track: u32) -> Result<Option<Entry>, CatalogueError>;
    /// The earliest entry whose output or source path is `path`.
    fn by_path(&mut self, path: &str) -> Result<Option<Entry>, CatalogueError>;
    /// The entry whose Content Credentials have this manifest label.
    fn by_c2pa_id(&mut self, id: &str) -> Result<Option<Entry>, CatalogueError>;
    /// The entry for this source, key, policy and output.
    fn find_done(
        &mut self,
        source_sha256: &str,
        key: &str,
        policy: &str,
        output_path: &str,
    ) -> Result<Option<Entry>, CatalogueError>;
    /// Records `e` in one transaction, replacing a row for the same output.
    fn record(&mut self, e: &Entry) -> Result<(), CatalogueError>;
    /// Up to `limit` entries recorded after row `after`, with their row ids.
    fn page(&mut self, after: i64, limit: u32) -> Result<Vec<(i64, Entry)>, CatalogueError>;
    /// Number of rows.
    fn len(&mut self) -> Result<u64, CatalogueError>;
    /// Takes the next track id for `key` in one transaction: the smallest id
    /// `≡ shard (mod shards)` above `floor` and every id used or handed out
    /// before.
    fn allocate(
        &mut self,
        key: &str,
        shard: u32,
        shards: u32,
        floor: u32,
    ) -> Result<u32, CatalogueError>;
    /// Adds every entry `next_page` yields in one transaction (see
    /// [`Catalogue::merge_from`]). Returns rows added.
    fn merge(&mut self, next_page: &mut NextPage<'_>) -> Result<u64, CatalogueError>;
}

/// Pulls the source catalogue's next page of a merge.
type NextPage<'a> = dyn FnMut(i64) -> Result<Vec<(i64, Entry)>, CatalogueError> + 'a;

/// The smallest id `> floor` with `id % shards == shard` (ids start at 1).
fn next_in_shard(key: &str, floor: u32, shard: u32, shards: u32) -> Result<u32, CatalogueError> {
    let shards = shards.max(1);
    let exhausted = || CatalogueError::Exhausted(key.to_string());
    let mut id = (floor - floor % shards)
        .checked_add(shard % shards)
        .ok_or_else(exhausted)?;
    while id <= floor || id == 0 {
        id = id.checked_add(shards).ok_or_else(exhausted)?;
    }
    Ok(id)
}

/// What a merge does with one incoming entry, given the rows the target
/// already has for its payload (their output) and for its output (their
/// payload): `Ok(true)` inserts it, `Ok(false)` skips a row both have.
fn merge_decision(
    e: &Entry,
    by_payload: Option<String>,
    by_output: Option<(String, u32)>,
) -> Result<bool, CatalogueError> {
    match (by_payload, by_output) {
        (Some(out), _) if out == e.output_path => Ok(false),
        (Some(out), _) => Err(CatalogueError::Conflict {
            key_fingerprint: e.key_fingerprint.clone(),
            track_id: e.track_id,
            a: out,
            b: e.output_path.clone(),
        }),
        (None, Some((k, t))) => Err(CatalogueError::Conflict {
            key_fingerprint: k,
            track_id: t,
            a: e.output_path.clone(),
            b: format!(
                "{} (payload {}:{})",
                e.output_path, e.key_fingerprint, e.track_id
            ),
        }),
        (None, None) => Ok(true),
    }
}

/// An open catalogue, on either backend.
pub struct Catalogue {
    store: Box<dyn Store>,
    location: Location,
}

impl fmt::Debug for Catalogue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Catalogue")
            .field("location", &self.location.to_string())
            .finish_non_exhaustive()
    }
}

impl Catalogue {
    /// Opens (creating the file or the tables if needed) the catalogue at
    /// `location`: a SQLite path, or a PostgreSQL URL.
    pub fn open(location: impl Into<Location>) -> Result<Catalogue, CatalogueError> {
        let location = location.into();
        let store: Box<dyn Store> = match &location {
            Location::Sqlite(p) => Box::new(sqlite::Sqlite::open(p)?),
            Location::Postgres(url) => postgres_store(url, true)?,
        };
        Ok(Catalogue { store, location })
    }

    /// Opens an existing catalogue for reading (`verify`, `list`, `export`,
    /// the source of a merge): a SQLite file is opened read-only and never
    /// created; a PostgreSQL database must already hold a catalogue.
    pub fn open_read_only(location: impl Into<Location>) -> Result<Catalogue, CatalogueError> {
        let location = location.into();
        let store: Box<dyn Store> = match &location {
            Location::Sqlite(p) => Box::new(sqlite::Sqlite::open_read_only(p)?),
            Location::Postgres(url) => postgres_store(url, false)?,
        };
        Ok(Catalogue { store, location })
    }

    /// Where this catalogue lives.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// The next free track id for `key_fingerprint` that is `≡ shard (mod
    /// shards)`, taken in one transaction so that no other process, on this
    /// machine or another, gets it too. An id once taken is never taken
    /// again, even if its file is never recorded.
    pub fn allocate_track_id(
        &mut self,
        key_fingerprint: &str,
        shard: u32,
        shards: u32,
    ) -> Result<u32, CatalogueError> {
        self.store.allocate(key_fingerprint, shard, shards, 0)
    }

    /// [`Catalogue::allocate_track_id`], above `floor` as well (the ids the
    /// machine's [`registry::Registry`] gave out elsewhere).
    pub fn allocate_track_id_above(
        &mut self,
        key_fingerprint: &str,
        shard: u32,
        shards: u32,
        floor: u32,
    ) -> Result<u32, CatalogueError> {
        self.store.allocate(key_fingerprint, shard, shards, floor)
    }

    /// The finished stamp of this source with this key and policy, if its
    /// output still exists.
    pub fn find_done(
        &mut self,
        source_sha256: &str,
        key_fingerprint: &str,
        policy: &str,
        output_path: &str,
    ) -> Result<Option<Entry>, CatalogueError> {
        let e = self
            .store
            .find_done(source_sha256, key_fingerprint, policy, output_path)?;
        Ok(e.filter(|e| Path::new(&e.output_path).exists()))
    }

    /// Records a finished stamp in one transaction, replacing any older row
    /// for the same output.
    pub fn record(&mut self, e: &Entry) -> Result<(), CatalogueError> {
        self.store.record(e)
    }

    /// The entry for a decoded payload.
    pub fn lookup(
        &mut self,
        key_fingerprint: u32,
        track_id: u32,
    ) -> Result<Option<Entry>, CatalogueError> {
        self.store
            .lookup(&format!("{key_fingerprint:08x}"), track_id)
    }

    /// The entry whose C2PA manifest has the label `manifest_id`.
    pub fn find_c2pa(&mut self, manifest_id: &str) -> Result<Option<Entry>, CatalogueError> {
        self.store.by_c2pa_id(manifest_id)
    }

    /// The entry `what` names: a payload as `KEY:TRACK` (see
    /// [`crate::Payload`]'s `FromStr`), or an output or source path.
    pub fn find(&mut self, what: &str) -> Result<Option<Entry>, CatalogueError> {
        if let Ok(p) = what.parse::<crate::Payload>() {
            return self.lookup(p.key_fingerprint, p.track_id);
        }
        self.store.by_path(what)
    }

    /// The entries the markers found in a verified file point to.
    pub fn entries_for(&mut self, v: &crate::Verification) -> Result<Vec<Entry>, CatalogueError> {
        let mut found = Vec::new();
        for m in &v.markers {
            if let Some(e) = self.lookup(m.payload.key_fingerprint, m.payload.track_id)? {
                found.push(e);
            }
        }
        Ok(found)
    }

    /// Calls `f` with every entry in the order they were recorded, reading
    /// a page at a time.
    pub fn for_each<E: From<CatalogueError>>(
        &mut self,
        mut f: impl FnMut(Entry) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut after = 0;
        loop {
            let page = self.store.page(after, PAGE)?;
            let Some(&(last, _)) = page.last() else {
                return Ok(());
            };
            after = last;
            for (_, e) in page {
                f(e)?;
            }
        }
    }

    /// Every entry, in the order they were recorded (in memory: use
    /// [`Catalogue::for_each`] for large catalogues).
    pub fn entries(&mut self) -> Result<Vec<Entry>, CatalogueError> {
        let mut all = Vec::new();
        self.for_each(|e| {
            all.push(e);
            Ok::<_, CatalogueError>(())
        })?;
        Ok(all)
    }

    /// Number of rows.
    pub fn len(&mut self) -> Result<u64, CatalogueError> {
        self.store.len()
    }

    /// Whether the catalogue has no rows.
    pub fn is_empty(&mut self) -> Result<bool, CatalogueError> {
        Ok(self.len()? == 0)
    }

    /// Copies every entry of `other` into this catalogue in one transaction,
    /// whatever the two backends are (this is also `catalogue migrate`).
    /// An entry already present (same output, same payload) is skipped; the
    /// same payload for a different output, or the same output with another
    /// payload, is a conflict and nothing is merged. Returns rows added.
    pub fn merge_from(&mut self, other: &mut Catalogue) -> Result<u64, CatalogueError> {
        let source = &mut other.store;
        self.store.merge(&mut |after| source.page(after, PAGE))
    }

    /// Adds `entries` in one transaction, with the rules of
    /// [`Catalogue::merge_from`] (what another machine publishes to a
    /// service). Returns rows added.
    pub fn merge_entries(&mut self, entries: &[Entry]) -> Result<u64, CatalogueError> {
        let mut sent = false;
        self.store.merge(&mut |_| {
            if std::mem::replace(&mut sent, true) {
                return Ok(Vec::new());
            }
            Ok(entries
                .iter()
                .enumerate()
                .map(|(i, e)| (i as i64 + 1, e.clone()))
                .collect())
        })
    }
}

#[cfg(feature = "postgres")]
fn postgres_store(url: &str, create: bool) -> Result<Box<dyn Store>, CatalogueError> {
    Ok(Box::new(postgres::Postgres::connect(url, create)?))
}

#[cfg(not(feature = "postgres"))]
fn postgres_store(_url: &str, _create: bool) -> Result<Box<dyn Store>, CatalogueError> {
    Err(CatalogueError::NoPostgres)
}

/// Quotes a CSV field (RFC 4180).
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The CSV header row [`write_csv_row`] matches.
pub fn write_csv_header(out: &mut impl std::io::Write) -> std::io::Result<()> {
    writeln!(out, "{}", COLUMNS.replace(' ', ""))
}

/// Writes one entry as a CSV row (the manifest column included).
pub fn write_csv_row(e: &Entry, out: &mut impl std::io::Write) -> std::io::Result<()> {
    let track = e.track_id.to_string();
    let fields = [
        e.key_fingerprint.as_str(),
        &track,
        &e.source_path,
        &e.source_sha256,
        &e.output_path,
        &e.output_sha256,
        e.title.as_deref().unwrap_or_default(),
        e.artist.as_deref().unwrap_or_default(),
        &e.policy,
        &e.manifest,
        &e.stamped_at,
    ];
    let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
    writeln!(out, "{}", line.join(","))
}

/// Writes entries as CSV with a header row (the manifest column included).
pub fn write_csv(entries: &[Entry], out: &mut impl std::io::Write) -> std::io::Result<()> {
    write_csv_header(out)?;
    entries.iter().try_for_each(|e| write_csv_row(e, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_urls_or_paths_and_hide_passwords() {
        assert_eq!(
            Location::parse("out/c.db"),
            Location::Sqlite(PathBuf::from("out/c.db"))
        );
        let pg = Location::parse("postgres://earmark:s3cret@db.example:5432/cat?sslmode=disable");
        assert!(matches!(pg, Location::Postgres(_)));
        assert_eq!(
            pg.to_string(),
            "postgres://earmark:***@db.example:5432/cat?sslmode=disable"
        );
        assert_eq!(
            Location::parse("postgresql://u@h/db").to_string(),
            "postgresql://u@h/db"
        );
        assert_eq!(
            Location::parse("postgres://u@h/db?sslmode=disable&password=pw").to_string(),
            "postgres://u@h/db?sslmode=disable&password=***"
        );
        assert_eq!(
            Location::parse("postgres://h/db?x=a:b@c").to_string(),
            "postgres://h/db?x=a:b@c",
            "an @ after the host is not a password"
        );
    }

    #[test]
    fn shard_arithmetic_and_exhaustion() {
        assert_eq!(next_in_shard("k", 0, 0, 1).unwrap(), 1);
        assert_eq!(next_in_shard("k", 0, 2, 3).unwrap(), 2);
        assert_eq!(next_in_shard("k", 0, 0, 3).unwrap(), 3);
        assert_eq!(next_in_shard("k", 7, 1, 4).unwrap(), 9);
        assert_eq!(next_in_shard("k", u32::MAX - 1, 0, 1).unwrap(), u32::MAX);
        assert!(matches!(
            next_in_shard("k", u32::MAX, 0, 1),
            Err(CatalogueError::Exhausted(_))
        ));
    }

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let e = Entry {
            key_fingerprint: "aa".into(),
            track_id: 1,
            source_path: "in/o".into(),
            source_sha256: "00".repeat(32),
            output_path: "o".into(),
            output_sha256: "11".repeat(32),
            title: Some("T, \"quoted\"".into()),
            artist: None,
            policy: "no-ai-training".into(),
            manifest: "{}".into(),
            stamped_at: "2026-11-22T00:00:00Z".into(),
            c2pa_manifest_id: None,
            c2pa_store: None,
        };
        let mut out = Vec::new();
        write_csv(&[e], &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("key_fingerprint,track_id,"));
        assert!(text.contains("\"T, \"\"quoted\"\"\""));
    }
}
