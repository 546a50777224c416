//! The batch runner: stamp or verify whole folder trees in parallel, with a
//! catalogue, a per-file report and a progress callback, losing nothing when
//! a file is bad or the run is killed.
//!
//! * [`mod@discover`]: which files, where their outputs go, sharding.
//! * [`stamp_batch`]: files in parallel on a rayon pool of `jobs` threads
//!   (inner parallel work such as FLAC encoding shares that pool). A file
//!   already in the catalogue with the same source hash, key and policy is
//!   skipped; every other output is (re)written atomically, then recorded.
//! * [`verify_batch`]: `verify_file` on every file in parallel, results in
//!   input order.
//!
//! The library reports progress through [`Progress`]; drawing a bar is the
//! CLI's business.

pub mod discover;

use crate::catalogue::registry::Registry;
use crate::catalogue::{sha256_file, Catalogue, Entry, Location};
use crate::error::{Error, ErrorKind, Result};
use crate::output::FileOutput;
use crate::payload::Payload;
use crate::stamp::{stamp_file, StampOptions};
use crate::verify::{verify_file, Verification, VerifyOptions};
use discover::{discover, plan, Found, Job, Shard};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

/// Receives progress while a batch runs (called from worker threads).
pub trait Progress: Sync {
    /// The batch has `files` files totalling `bytes` bytes.
    fn start(&self, files: usize, bytes: u64);
    /// One file finished (whatever its status); it had `bytes` bytes and
    /// `audio_seconds` of audio (0 when unknown).
    fn file_done(&self, path: &Path, bytes: u64, audio_seconds: f64);
}

/// Progress that goes nowhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _: usize, _: u64) {}
    fn file_done(&self, _: &Path, _: u64, _: f64) {}
}

/// What happened to one input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Stamped now.
    Stamped,
    /// Already stamped with this key and policy (catalogue and output agree).
    Skipped,
    /// Could not be stamped; see the error.
    Failed,
}

/// One line of the batch report.
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    /// The input file.
    #[serde(rename = "path")]
    pub input: PathBuf,
    /// What happened.
    pub status: Status,
    /// The stamped file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<PathBuf>,
    /// The marker payload.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<Payload>,
    /// SHA-256 of the input file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_sha256: Option<String>,
    /// SHA-256 of the output file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_sha256: Option<String>,
    /// Audio length, seconds.
    pub seconds: f64,
    /// Wall time spent on this file, seconds.
    #[serde(rename = "elapsed_seconds")]
    pub elapsed: f64,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Warnings from stamping.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl Record {
    fn failed(input: &Path, error: String) -> Record {
        Record {
            input: input.to_path_buf(),
            status: Status::Failed,
            output: None,
            payload: None,
            source_sha256: None,
            output_sha256: None,
            seconds: 0.0,
            elapsed: 0.0,
            error: Some(error),
            warnings: Vec::new(),
        }
    }
}

/// Options of a batch stamp.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct BatchOptions {
    /// Per-file options (key, watermark key, strength, policy, owner). Their
    /// `out`, `track_id` and `force` are set per file.
    pub stamp: StampOptions,
    /// Policy name recorded in the catalogue (part of "already stamped").
    pub policy_name: String,
    /// Output folder; the input tree is mirrored under it.
    pub out_dir: PathBuf,
    /// The catalogue: a SQLite file or a PostgreSQL database shared with
    /// other machines. Default: `out_dir/earmark-catalogue.db`.
    pub catalogue: Option<Location>,
    /// Worker threads (0: one per CPU).
    pub jobs: usize,
    /// Re-stamp files the catalogue already has.
    pub force: bool,
    /// This run's share of the files.
    pub shard: Shard,
    /// Output format extension: `flac`, `wav` or `mp3`.
    pub extension: String,
    /// The machine's track-id registry (see [`Registry`]). Default:
    /// [`Registry::default_path`] (`$EARMARK_REGISTRY` or the user's data
    /// folder).
    pub registry: Option<PathBuf>,
}

impl BatchOptions {
    /// Defaults around the per-file options and the output folder.
    pub fn new(stamp: StampOptions, out_dir: PathBuf) -> BatchOptions {
        BatchOptions {
            stamp,
            policy_name: "no-ai-training".into(),
            out_dir,
            catalogue: None,
            jobs: 0,
            force: false,
            shard: Shard::ALL,
            extension: "flac".into(),
            registry: None,
        }
    }
}

/// The result of a batch.
#[derive(Debug, Clone, Serialize)]
pub struct BatchSummary {
    /// One record per input, in discovery order.
    pub records: Vec<Record>,
    /// Wall time of the whole batch, seconds.
    pub elapsed: f64,
    /// The catalogue used (a PostgreSQL URL without its password).
    pub catalogue: Option<String>,
}

impl BatchSummary {
    /// Number of records with `status`.
    pub fn count(&self, status: Status) -> usize {
        self.records.iter().filter(|r| r.status == status).count()
    }

    /// Seconds of audio processed (stamped now).
    pub fn audio_seconds(&self) -> f64 {
        self.records
            .iter()
            .filter(|r| r.status == Status::Stamped)
            .fold(0.0, |sum, r| sum + r.seconds)
    }
}

fn pool(jobs: usize) -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .build()
        .map_err(|e| {
            Error::new(
                "",
                ErrorKind::Other(format!("cannot start worker threads: {e}")),
            )
        })
}

/// Removes this shard's leftover temporary files (from a killed run) under
/// `dir`. Other shards' files are never touched.
fn remove_stale_temps(dir: &Path, tag: &str) {
    let prefix = format!("{}{tag}-", crate::output::TEMP_PREFIX);
    for e in walkdir::WalkDir::new(dir).into_iter().flatten() {
        let name = e.file_name().to_string_lossy();
        if e.file_type().is_file() && name.starts_with(&prefix) && name.ends_with(".tmp") {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Refuses an output folder inside an input folder (its outputs would be
/// inputs of the next run) and an output folder that is an input file.
fn check_out_dir(paths: &[PathBuf], out_dir: &Path) -> Result<()> {
    let out = out_dir
        .canonicalize()
        .unwrap_or_else(|_| std::path::absolute(out_dir).unwrap_or(out_dir.to_path_buf()));
    for p in paths {
        let Ok(input) = p.canonicalize() else {
            continue;
        };
        if input.is_dir() && out.starts_with(&input) {
            return Err(Error::new(
                out_dir,
                ErrorKind::Other(format!(
                    "the output folder is inside the input folder {}; choose one outside it",
                    p.display()
                )),
            ));
        }
        if input == out {
            return Err(Error::new(out_dir, ErrorKind::OutputIsInput));
        }
    }
    Ok(())
}

/// Stamps every audio file under `paths` into `opts.out_dir`.
///
/// Fails as a whole only when the output folder or catalogue cannot be used;
/// a bad input file becomes a `Failed` record and the others go on.
pub fn stamp_batch(
    paths: &[PathBuf],
    opts: &BatchOptions,
    progress: &dyn Progress,
) -> Result<BatchSummary> {
    let started = Instant::now();
    check_out_dir(paths, &opts.out_dir)?;
    std::fs::create_dir_all(&opts.out_dir).map_err(|e| Error::new(&opts.out_dir, e))?;
    let location = opts
        .catalogue
        .clone()
        .unwrap_or_else(|| Location::Sqlite(opts.out_dir.join(crate::catalogue::DEFAULT_NAME)));
    let catalogue = Catalogue::open(location.clone())
        .map_err(|e| Error::new(location.to_string(), ErrorKind::Other(e.to_string())))?;
    let registry_path = opts
        .registry
        .clone()
        .or_else(Registry::default_path)
        .ok_or_else(|| {
            Error::new(
                "",
                ErrorKind::Other(format!(
                    "no place for the track-id registry: set {} (or HOME)",
                    crate::catalogue::registry::REGISTRY_ENV
                )),
            )
        })?;
    let registry = Registry::open(&registry_path).map_err(|e| {
        Error::new(
            &registry_path,
            ErrorKind::Other(format!("track-id registry: {e}")),
        )
    })?;
    let tag = format!("s{}of{}", opts.shard.index, opts.shard.count);
    remove_stale_temps(&opts.out_dir, &tag);

    let (found, walk_errors) = discover(paths, std::slice::from_ref(&opts.out_dir), true);
    let (jobs, clashes) = plan(found, &opts.out_dir, opts.shard, &opts.extension);
    let total_bytes = jobs.iter().map(|j| j.input.bytes).sum();
    progress.start(jobs.len(), total_bytes);

    let key_fp = format!(
        "{:08x}",
        opts.stamp.signing_key.public_key().fingerprint32()
    );
    let shared = Mutex::new((catalogue, registry));
    let run_one = |job: &Job| -> Record {
        let t0 = Instant::now();
        // A panic in one file's job is that file's failure.
        let mut rec = crate::error::catch_quietly(|| stamp_one(job, opts, &key_fp, &tag, &shared))
            .unwrap_or_else(|payload| {
                let input = &job.input.path;
                Record::failed(
                    input,
                    format!(
                        "{}: internal error while processing this file (a bug in earmark; please report it): {}",
                        input.display(),
                        crate::error::panic_text(&*payload)
                    ),
                )
            });
        rec.elapsed = t0.elapsed().as_secs_f64();
        progress.file_done(&job.input.path, job.input.bytes, rec.seconds);
        rec
    };
    let workers = pool(opts.jobs)?;
    let mut records: Vec<Record> = workers.install(|| {
        use rayon::prelude::*;
        jobs.par_iter().map(run_one).collect()
    });
    for (path, why) in walk_errors.into_iter().chain(clashes) {
        records.push(Record::failed(&path, format!("{}: {why}", path.display())));
    }
    Ok(BatchSummary {
        records,
        elapsed: started.elapsed().as_secs_f64(),
        catalogue: Some(location.to_string()),
    })
}

/// The catalogue and the machine's registry, used together under one lock.
type Shared = Mutex<(Catalogue, Registry)>;

fn stamp_one(job: &Job, opts: &BatchOptions, key_fp: &str, tag: &str, shared: &Shared) -> Record {
    let input = &job.input.path;
    let source_sha256 = match sha256_file(input) {
        Ok(h) => h,
        Err(e) => return Record::failed(input, format!("{}: {e}", input.display())),
    };
    let output_str = job.output.to_string_lossy().into_owned();
    // Skip what is already done; otherwise take the next track id.
    let track_id = {
        let mut guard = shared.lock().unwrap_or_else(|p| p.into_inner());
        let (catalogue, registry) = &mut *guard;
        if !opts.force {
            match catalogue.find_done(&source_sha256, key_fp, &opts.policy_name, &output_str) {
                Ok(Some(e)) => {
                    return Record {
                        input: input.clone(),
                        status: Status::Skipped,
                        output: Some(job.output.clone()),
                        payload: e.payload(),
                        source_sha256: Some(source_sha256),
                        output_sha256: Some(e.output_sha256),
                        seconds: 0.0,
                        elapsed: 0.0,
                        error: None,
                        warnings: Vec::new(),
                    }
                }
                Ok(None) => {}
                Err(e) => return Record::failed(input, format!("catalogue: {e}")),
            }
        }
        // Above every id this machine gave out for the key (other
        // catalogues, single-file stamps), and taken in the catalogue too.
        let source = std::path::absolute(input).unwrap_or_else(|_| input.clone());
        let allocated = registry.allocate(key_fp, &source.to_string_lossy(), |floor| {
            catalogue.allocate_track_id_above(key_fp, opts.shard.index, opts.shard.count, floor)
        });
        match allocated {
            Ok(id) => id,
            Err(e) => return Record::failed(input, format!("catalogue: {e}")),
        }
    };
    if let Some(parent) = job.output.parent() {
        if let Err(e) = std::fs::create_dir_all(parent) {
            return Record::failed(input, format!("{}: {e}", parent.display()));
        }
    }
    let mut so = opts.stamp.clone();
    so.track_id = Some(track_id);
    // An output without a catalogue row is left over from an interrupted
    // run (or a --force re-stamp): it is replaced.
    let mut out = FileOutput::to(Some(job.output.clone())).force(true);
    out.temp_tag = Some(tag.to_string());
    let outcome = match stamp_file(input, &out, &so) {
        Ok(o) => o,
        Err(e) => return Record::failed(input, e.to_string()),
    };
    let output_sha256 = match sha256_file(&outcome.output) {
        Ok(h) => h,
        Err(e) => return Record::failed(input, format!("{}: {e}", outcome.output.display())),
    };
    let stamped = &outcome.stamped;
    let m = &stamped.manifest.manifest;
    let entry = Entry {
        key_fingerprint: key_fp.to_string(),
        track_id,
        source_path: input.to_string_lossy().into_owned(),
        source_sha256: source_sha256.clone(),
        output_path: output_str,
        output_sha256: output_sha256.clone(),
        title: m.title.clone(),
        artist: m.artist.clone(),
        policy: opts.policy_name.clone(),
        manifest: stamped.manifest.to_json_compact(),
        stamped_at: m.created.clone(),
        #[cfg(feature = "c2pa")]
        c2pa_manifest_id: outcome
            .credentials
            .as_ref()
            .and_then(|c| c.manifest_id.clone()),
        #[cfg(not(feature = "c2pa"))]
        c2pa_manifest_id: None,
        #[cfg(feature = "c2pa")]
        c2pa_store: outcome.credentials.as_ref().map(|c| c.store.clone()),
        #[cfg(not(feature = "c2pa"))]
        c2pa_store: None,
    };
    {
        let mut guard = shared.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = guard.0.record(&entry) {
            return Record::failed(input, format!("catalogue: {e}"));
        }
    }
    Record {
        input: input.clone(),
        status: Status::Stamped,
        output: Some(outcome.output),
        payload: Some(outcome.stamped.payload),
        source_sha256: Some(source_sha256),
        output_sha256: Some(output_sha256),
        seconds: outcome.stamped.seconds,
        elapsed: 0.0,
        error: None,
        warnings: outcome.stamped.warnings,
    }
}

/// The result of verifying one file in a batch.
#[derive(Debug)]
pub enum VerifyItem {
    /// Verified (marked or not).
    Done(Box<Verification>),
    /// Could not be read.
    Failed(PathBuf, Error),
}

/// Verifies every audio file under `paths` (folders recursively, earmark's
/// outputs included) on `jobs` threads; results come back in input order.
pub fn verify_batch(
    paths: &[PathBuf],
    opts: &VerifyOptions,
    jobs: usize,
    progress: &dyn Progress,
) -> Result<Vec<VerifyItem>> {
    let mut found = Vec::new();
    let mut failures = Vec::new();
    for p in paths {
        if p.is_dir() {
            // earmark's own outputs are what one usually verifies.
            let (f, errors) = discover(std::slice::from_ref(p), &[], false);
            if f.is_empty() && errors.is_empty() {
                failures.push((p.clone(), "is a directory with no audio files in it".into()));
            }
            found.extend(f);
            failures.extend(errors);
        } else {
            found.push(Found {
                path: p.clone(),
                rel: p.clone(),
                bytes: std::fs::metadata(p).map_or(0, |m| m.len()),
            });
        }
    }
    progress.start(found.len(), found.iter().map(|f| f.bytes).sum());
    let workers = pool(jobs)?;
    let mut items: Vec<VerifyItem> = workers.install(|| {
        use rayon::prelude::*;
        found
            .par_iter()
            .map(|f| {
                let item = match crate::error::per_file(&f.path, || verify_file(&f.path, opts)) {
                    Ok(o) => VerifyItem::Done(Box::new(o)),
                    Err(e) => VerifyItem::Failed(f.path.clone(), e),
                };
                let secs = match &item {
                    VerifyItem::Done(o) => o.seconds,
                    VerifyItem::Failed(..) => 0.0,
                };
                progress.file_done(&f.path, f.bytes, secs);
                item
            })
            .collect()
    });
    for (p, why) in failures {
        items.push(VerifyItem::Failed(
            p.clone(),
            Error::new(&p, ErrorKind::Other(why)),
        ));
    }
    Ok(items)
}
