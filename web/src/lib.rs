//! earmark in the browser: the engine's `verify`, `stamp` and key
//! generation for JavaScript (the page in `web/`, its Web Worker, or any
//! caller of the package, Node.js included). Everything runs where it is
//! called: no audio and no key leaves the machine.
//!
//! Every result is the engine's own: `verify` returns the JSON record
//! `earmark verify --json` prints, `stamp` the bytes and manifest
//! `earmark stamp --no-c2pa` writes for the same input, key, track id and
//! time.
//!
//! Built twice (scripts/build-web.sh): `pkg/` without Content Credentials
//! (small, loaded with the page) and, with the `c2pa` feature, `pkg-c2pa/`,
//! whose `verify` also reads and validates a file's C2PA manifest store as
//! `earmark verify` does. [`may_hold_credentials`] tells a caller of the
//! first when the second is worth loading.

use std::cell::RefCell;

use js_sys::{Function, Object, Reflect, Uint8Array, JSON};
use wasm_bindgen::prelude::*;

use earmark::progress::Progress;
use earmark::provenance::{PublicKey, SigningKeyPair};
use earmark::verify::VerifyOptions;

fn err(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

/// The engine's version (`earmark 0.1.0`).
#[wasm_bindgen]
pub fn version() -> String {
    concat!("earmark ", env!("CARGO_PKG_VERSION")).to_string()
}

/// `options[key]`, if it is there and not `undefined` or `null`.
fn field(options: &JsValue, key: &str) -> Option<JsValue> {
    if !options.is_object() {
        return None;
    }
    Reflect::get(options, &JsValue::from_str(key))
        .ok()
        .filter(|v| !v.is_undefined() && !v.is_null())
}

/// `options[key]` as text (missing or blank: `None`); anything else there
/// is an error naming the option.
fn text(options: &JsValue, key: &str) -> Result<Option<String>, JsError> {
    match field(options, key) {
        None => Ok(None),
        Some(v) => match v.as_string() {
            Some(s) if s.trim().is_empty() => Ok(None),
            Some(s) => Ok(Some(s)),
            None => Err(err(format!("options.{key} must be a string"))),
        },
    }
}

/// `options[key]` as a number, if given; anything else is an error.
fn number(options: &JsValue, key: &str) -> Result<Option<f64>, JsError> {
    match field(options, key) {
        None => Ok(None),
        Some(v) => v
            .as_f64()
            .filter(|x| x.is_finite())
            .map(Some)
            .ok_or_else(|| err(format!("options.{key} must be a number"))),
    }
}

thread_local! {
    /// The caller's `onProgress` for the call under way (WebAssembly runs
    /// one call at a time on a thread, so one slot is enough).
    static ON_PROGRESS: RefCell<Option<Function>> = const { RefCell::new(None) };
}

/// The engine's progress reports for `options.onProgress`, if it is a
/// function: set for the duration of `work`, then cleared.
fn with_progress<T>(options: &JsValue, work: impl FnOnce(Option<Progress>) -> T) -> T {
    let f = field(options, "onProgress").and_then(|v| v.dyn_into::<Function>().ok());
    let progress = f.is_some().then(|| {
        Progress::new(|fraction| {
            ON_PROGRESS.with(|p| {
                if let Some(f) = p.borrow().as_ref() {
                    // A throwing callback must not stop the work.
                    let _ = f.call1(&JsValue::NULL, &JsValue::from_f64(fraction));
                }
            })
        })
    });
    ON_PROGRESS.with(|p| *p.borrow_mut() = f);
    let out = work(progress);
    ON_PROGRESS.with(|p| *p.borrow_mut() = None);
    out
}

/// An error about an input, naming it as the CLI does (`name: cause`).
fn named(name: &str, e: earmark::Error) -> JsError {
    err(if name.is_empty() {
        e
    } else {
        e.with_path(name)
    })
}

/// JSON text as a JavaScript value.
fn parsed(json: &str) -> Result<JsValue, JsError> {
    JSON::parse(json).map_err(|_| err("internal error: the engine's JSON did not parse"))
}

/// Whether the file's container holds a C2PA manifest store where C2PA
/// tools put one (reading only its headers and tags): when it does, the
/// `pkg-c2pa` build's [`verify`] reads it.
#[wasm_bindgen(js_name = mayHoldCredentials)]
pub fn may_hold_credentials(bytes: &[u8]) -> bool {
    let mut r = std::io::Cursor::new(bytes);
    match earmark::container::Container::of_reader(&mut r) {
        Ok(Some(c)) => c.may_hold_c2pa(&mut r).unwrap_or(false),
        _ => false,
    }
}

/// Whether this build reads Content Credentials (the `pkg-c2pa` one).
#[wasm_bindgen(js_name = readsCredentials)]
pub fn reads_credentials() -> bool {
    cfg!(feature = "c2pa")
}

/// Verifies a file's bytes and returns `earmark verify --json`'s record as
/// an object. `options` (all optional): `trust`, PEM text holding the public
/// keys to trust (one or several); `c2paTrust`, PEM root certificates whose
/// Content Credentials signers count as trusted (as `--c2pa-trust`; only
/// the `pkg-c2pa` build reads credentials); `name`, the file's name, shown
/// as its `path` and in errors; `onProgress`, a function called with the
/// fraction of the audio checked so far (0..1, each percent once);
/// `credentialsError`, why the caller could not read the file's Content
/// Credentials (the record is then invalid, as `earmark verify` makes it
/// for broken credentials).
#[wasm_bindgen]
pub fn verify(bytes: &[u8], options: JsValue) -> Result<JsValue, JsError> {
    let name = text(&options, "name")?.unwrap_or_default();
    let mut opts = VerifyOptions::default();
    if let Some(trust) = text(&options, "trust")? {
        opts.trusted = earmark::keyfile::trusted_from_pem("trusted keys", &trust).map_err(err)?;
    }
    if let Some(roots) = text(&options, "c2paTrust")? {
        #[cfg(feature = "c2pa")]
        {
            let chain = earmark::credentials::CertificateChain::from_pem(&roots)
                .map_err(|e| err(format!("options.c2paTrust: {e}")))?;
            opts.c2pa_trust = Some(chain.to_pem());
        }
        #[cfg(not(feature = "c2pa"))]
        let _ = roots;
    }
    let mut v = with_progress(&options, |progress| {
        opts.progress = progress;
        earmark::verify::verify_bytes(bytes, &opts)
    })
    .map_err(|e| named(&name, e))?;
    if !name.is_empty() {
        v.path = Some(name.into());
    }
    if let Some(why) = text(&options, "credentialsError")? {
        v.credentials_error = Some(why);
    }
    parsed(&v.to_json().to_string())
}

/// Stamps a file's bytes with the private key `key_pem` (PKCS#8 PEM, as
/// `earmark keygen` writes). `options`: `created` (Unix seconds, required:
/// the time the manifest records), and optionally `format` (`"flac"`, the
/// default, or `"wav"`), `title`, `artist`, `owner`, `policy` (a CLI policy
/// name), `trackId` (default random), `strength`, `name` (the input's file
/// name, for errors) and `onProgress` (as for [`verify`]).
///
/// Returns `{ bytes, manifest, record, sidecar }`: the stamped file
/// (`Uint8Array`), the signed manifest (object), `earmark stamp --json`'s
/// fields that are not about files (object), and the sidecar file's text
/// (`NAME.EXT.earmark.json`). For the same input, key, track id and time the
/// bytes are the CLI's (`earmark stamp --no-c2pa`, with `SOURCE_DATE_EPOCH`).
#[wasm_bindgen]
pub fn stamp(bytes: &[u8], key_pem: &str, options: JsValue) -> Result<JsValue, JsError> {
    let name = text(&options, "name")?.unwrap_or_default();
    let key =
        SigningKeyPair::from_pem(key_pem).map_err(|e| err(format!("the signing key: {e}")))?;
    let mut opts = earmark::StampOptions::new(key);
    let created = number(&options, "created")?
        .filter(|t| *t >= 0.0)
        .ok_or_else(|| err("options.created (Unix seconds) is required"))?;
    opts.created = Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(created as u64));
    opts.format = match text(&options, "format")?.as_deref().unwrap_or("flac") {
        "flac" => earmark::audio::OutputFormat::Flac,
        "wav" => earmark::audio::OutputFormat::Wav,
        f => {
            return Err(err(format!(
                "options.format must be \"flac\" or \"wav\", got {f:?}"
            )))
        }
    };
    opts.title = text(&options, "title")?;
    opts.artist = text(&options, "artist")?;
    opts.owner = text(&options, "owner")?;
    if let Some(p) = text(&options, "policy")? {
        let kind: earmark::policy::PolicyKind = p.parse().map_err(err)?;
        opts.policy = earmark::Policy::from_kind(kind);
    }
    if let Some(id) = number(&options, "trackId")? {
        if id.fract() != 0.0 || !(0.0..=f64::from(u32::MAX)).contains(&id) {
            return Err(err(
                "options.trackId must be a whole number that fits in 32 bits",
            ));
        }
        opts.track_id = Some(id as u32);
    }
    if let Some(s) = number(&options, "strength")? {
        opts.strength = s as f32;
    }
    // The CLI's `--no-c2pa` bytes, from either build.
    #[cfg(feature = "c2pa")]
    {
        opts.credentials = None;
    }
    let (out, stamped) = with_progress(&options, |progress| {
        opts.progress = progress;
        earmark::stamp_bytes(bytes, &opts)
    })
    .map_err(|e| named(&name, e))?;
    let fields = [
        ("bytes", Uint8Array::from(out.as_slice()).into()),
        ("manifest", parsed(&stamped.manifest.to_json_compact())?),
        ("record", parsed(&stamped.to_json().to_string())?),
        (
            "sidecar",
            JsValue::from_str(&format!("{}\n", stamped.manifest.to_json_pretty())),
        ),
    ];
    let result = Object::new();
    for (k, v) in fields {
        Reflect::set(&result, &JsValue::from_str(k), &v)
            .map_err(|_| err("internal error: could not build the result"))?;
    }
    Ok(result.into())
}

/// A new signing key.
#[wasm_bindgen]
pub struct Keys {
    private_pem: String,
    public_pem: String,
    fingerprint: String,
}

#[wasm_bindgen]
impl Keys {
    /// The private key, PKCS#8 PEM (`NAME.pem`): keep it secret.
    #[wasm_bindgen(getter)]
    pub fn private_pem(&self) -> String {
        self.private_pem.clone()
    }

    /// The public key, SPKI PEM (`NAME.pub.pem`): give it to verifiers.
    #[wasm_bindgen(getter)]
    pub fn public_pem(&self) -> String {
        self.public_pem.clone()
    }

    /// The key fingerprint the marker carries (8 hex digits).
    #[wasm_bindgen(getter)]
    pub fn fingerprint(&self) -> String {
        self.fingerprint.clone()
    }
}

/// Makes a new Ed25519 signing key, as `earmark keygen` does.
#[wasm_bindgen]
pub fn keygen() -> Keys {
    let key = SigningKeyPair::generate();
    let public = key.public_key();
    Keys {
        private_pem: key.to_pem(),
        public_pem: public.to_pem(),
        fingerprint: format!("{:08x}", public.fingerprint32()),
    }
}

/// The fingerprint (8 hex digits) of a public or private key's PEM text.
#[wasm_bindgen]
pub fn fingerprint(pem: &str) -> Result<String, JsError> {
    let public = match PublicKey::from_pem(pem) {
        Ok(k) => k,
        Err(_) => SigningKeyPair::from_pem(pem).map_err(err)?.public_key(),
    };
    Ok(format!("{:08x}", public.fingerprint32()))
}
