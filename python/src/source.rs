//! Files and bytes: `verify` and `stamp` on what a caller hands over (a
//! path, or the bytes of a file in memory).

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use earmark::audio::OutputFormat;
use earmark::output::FileOutput;
use earmark::{PolicyKind, StampOptions, Verification, VerifyOptions};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::PyBytes;

use crate::keys::{self, WatermarkKeyArg};
use crate::{guarded, Failure};

/// An input: the bytes of a file, or its path.
#[derive(FromPyObject)]
pub(crate) enum Source {
    Bytes(PyBackedBytes),
    Path(PathBuf),
}

/// The verify options every front end builds the same way.
pub(crate) fn verify_options(
    trust: &[String],
    wm_key: Option<&WatermarkKeyArg>,
    c2pa_trust: Option<&str>,
    search: bool,
) -> Result<VerifyOptions, Failure> {
    let mut opts = VerifyOptions::default();
    opts.search = search;
    opts.trusted = keys::trusted(trust)?;
    opts.wm_key = keys::watermark_key(wm_key)?;
    opts.c2pa_trust = match c2pa_trust {
        None => None,
        Some(text) if text.contains("-----BEGIN") => Some(text.to_string()),
        Some(path) => Some(
            earmark::keyfile::read_c2pa_trust(std::path::Path::new(path))
                .map_err(|e| Failure::engine(&e, None))?,
        ),
    };
    Ok(opts)
}

/// Verifies a file (by path) or the bytes of one; `name` names bytes in
/// errors and in the result's `path`.
pub(crate) fn verify_one(
    input: &Input,
    opts: &VerifyOptions,
    name: Option<&str>,
) -> Result<Verification, Failure> {
    guarded(name, || {
        let mut v = match input {
            Input::Path(p) => earmark::verify_file(p, opts),
            Input::Bytes(b) => earmark::verify_bytes(b, opts),
        }
        .map_err(|e| Failure::engine(&e, name))?;
        if let (Some(n), None) = (name, &v.path) {
            v.path = Some(PathBuf::from(n));
        }
        Ok(v)
    })
}

/// What [`verify_one`] works on, owned or borrowed from Python.
pub(crate) enum Input<'a> {
    Path(PathBuf),
    Bytes(&'a [u8]),
}

/// A verification as `(json, exit_code)`: the JSON object `earmark verify
/// --json` prints and the exit code the command would give.
pub(crate) fn report(v: &Verification) -> (String, i32) {
    (v.to_json().to_string(), v.exit_code())
}

/// verify(source, trust=[], wm_key=None, c2pa_trust=None, name=None, search=True) -> (json, exit_code)
#[pyfunction]
#[pyo3(signature = (source, trust=Vec::new(), wm_key=None, c2pa_trust=None, name=None, search=true))]
pub(crate) fn verify(
    py: Python<'_>,
    source: Source,
    trust: Vec<String>,
    wm_key: Option<WatermarkKeyArg>,
    c2pa_trust: Option<String>,
    name: Option<String>,
    search: bool,
) -> PyResult<(String, i32)> {
    let run = || {
        let opts = verify_options(&trust, wm_key.as_ref(), c2pa_trust.as_deref(), search)?;
        let input = match &source {
            Source::Path(p) => Input::Path(p.clone()),
            Source::Bytes(b) => Input::Bytes(b),
        };
        verify_one(&input, &opts, name.as_deref()).map(|v| report(&v))
    };
    py.detach(run).map_err(|f| f.to_py(py))
}

/// Everything `stamp` can be told, as the CLI's options.
#[derive(Default)]
pub(crate) struct StampArgs {
    pub title: Option<String>,
    pub artist: Option<String>,
    pub owner: Option<String>,
    pub track_id: Option<u32>,
    pub strength: Option<f32>,
    pub seal: bool,
    pub policy: Option<String>,
    pub terms_url: Option<String>,
    pub notice: Option<String>,
    pub created: Option<f64>,
    pub c2pa: bool,
    pub cert: Option<String>,
}

/// The stamp options for `key` (PEM text or a path) and `args`.
pub(crate) fn stamp_options(
    key: &str,
    args: &StampArgs,
    wm_key: Option<&WatermarkKeyArg>,
) -> Result<StampOptions, Failure> {
    let (pair, key_path) = keys::signing_key(key)?;
    let chain = if args.c2pa {
        Some(keys::certificate_chain(
            &pair,
            key_path.as_deref(),
            args.cert.as_deref(),
        )?)
    } else {
        None
    };
    let mut opts = StampOptions::new(pair);
    opts.credentials = chain;
    opts.wm_key = keys::watermark_key(wm_key)?;
    opts.title = args.title.clone();
    opts.artist = args.artist.clone();
    opts.owner = args.owner.clone();
    opts.track_id = args.track_id;
    if let Some(s) = args.strength {
        opts.strength = s;
    }
    opts.seal = args.seal;
    let kind = match &args.policy {
        Some(name) => name
            .parse::<PolicyKind>()
            .map_err(|e| Failure::new(Some("policy".into()), e.to_string()))?,
        None => PolicyKind::default(),
    };
    let mut policy = earmark::Policy::from_kind(kind);
    policy.terms_url = args.terms_url.clone();
    if let Some(n) = &args.notice {
        policy.notice = n.clone();
    }
    opts.policy = policy;
    if let Some(t) = args.created {
        if !(t.is_finite() && t >= 0.0) {
            return Err(Failure::new(
                Some("created".into()),
                format!("must be a time after 1970, got {t}"),
            ));
        }
        opts.created = Some(SystemTime::UNIX_EPOCH + Duration::from_secs_f64(t));
    }
    opts.validate().map_err(|e| Failure::engine(&e, None))?;
    Ok(opts)
}

/// The track id a stamp gets from the machine's track-id registry (as the
/// CLI's do): `track_id=` when no other song of the key has it, else the
/// id the song had before, else a new random one.
pub(crate) fn registered_track_id(opts: &StampOptions, source: &str) -> Result<u32, Failure> {
    earmark::catalogue::registry::single_stamp_track_id(
        opts.signing_key.public_key().fingerprint32(),
        opts.track_id,
        source,
    )
    .map_err(|e| Failure::new(Some("track_id".into()), e))
}

/// stamp(source, key, out=None, *, format="flac", force=False, ...) -> (bytes | None, json)
///
/// A path is stamped into `out` (default `NAME.earmark.flac` beside it) with
/// its sidecar, exactly as `earmark stamp`; bytes are stamped into bytes
/// (returned) of `format`.
#[pyfunction]
#[pyo3(signature = (
    source, key, out=None, *, format=None, force=false, title=None, artist=None, owner=None,
    track_id=None, strength=None, seal=true, policy=None, terms_url=None, notice=None,
    created=None, c2pa=true, cert=None, wm_key=None, bitrate=None
))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn stamp<'py>(
    py: Python<'py>,
    source: Source,
    key: String,
    out: Option<PathBuf>,
    format: Option<String>,
    force: bool,
    title: Option<String>,
    artist: Option<String>,
    owner: Option<String>,
    track_id: Option<u32>,
    strength: Option<f32>,
    seal: bool,
    policy: Option<String>,
    terms_url: Option<String>,
    notice: Option<String>,
    created: Option<f64>,
    c2pa: bool,
    cert: Option<String>,
    wm_key: Option<WatermarkKeyArg>,
    bitrate: Option<u32>,
) -> PyResult<(Option<Bound<'py, PyBytes>>, String)> {
    let args = StampArgs {
        title,
        artist,
        owner,
        track_id,
        strength,
        seal,
        policy,
        terms_url,
        notice,
        created,
        c2pa,
        cert,
    };
    let result = py.detach(|| -> Result<(Option<Vec<u8>>, String), Failure> {
        let mut opts = stamp_options(&key, &args, wm_key.as_ref())?;
        if let Some(kbps) = bitrate {
            opts.mp3_kbps = kbps;
            opts.validate().map_err(|e| Failure::engine(&e, None))?;
        }
        match &source {
            Source::Path(input) => {
                if format.is_some() {
                    return Err(Failure::new(
                        Some(input.display().to_string()),
                        "format= is for bytes; a file's output format follows out's extension (.flac, .wav or .mp3)",
                    ));
                }
                let name = input.display().to_string();
                let abs = std::path::absolute(input).unwrap_or_else(|_| input.clone());
                opts.track_id = Some(registered_track_id(&opts, &abs.to_string_lossy())?);
                let target = FileOutput::to(out.clone()).force(force);
                let outcome = guarded(Some(&name), || {
                    earmark::stamp_file(input, &target, &opts)
                        .map_err(|e| Failure::engine(&e, Some(&name)))
                })?;
                Ok((None, outcome.to_json().to_string()))
            }
            Source::Bytes(bytes) => {
                if out.is_some() {
                    return Err(Failure::new(
                        None,
                        "out= needs a file to stamp: bytes are stamped into the bytes returned",
                    ));
                }
                opts.format = match format.as_deref().unwrap_or("flac") {
                    "flac" => OutputFormat::Flac,
                    "wav" => OutputFormat::Wav,
                    other => {
                        return Err(Failure::new(
                            Some("format".into()),
                            format!("must be \"flac\" or \"wav\", got {other:?}"),
                        ))
                    }
                };
                let source = earmark::catalogue::registry::content_source("bytes", bytes);
                opts.track_id = Some(registered_track_id(&opts, &source)?);
                let (stamped_bytes, stamped) = guarded(None, || {
                    earmark::stamp_bytes(bytes, &opts).map_err(|e| Failure::engine(&e, None))
                })?;
                Ok((Some(stamped_bytes), stamped.to_json().to_string()))
            }
        }
    });
    let (bytes, json) = result.map_err(|f| f.to_py(py))?;
    Ok((bytes.map(|b| PyBytes::new(py, &b)), json))
}
