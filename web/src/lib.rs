//! earmark in the browser: the engine's `verify`, `stamp` and key
//! generation for JavaScript (the page in `web/`, its Web Worker, or any
//! caller of the package, Node.js included). Everything runs where it is
//! called: no audio and no key leaves the machine.
//!
//! Every result is the engine's own: `verify` returns the JSON record
//! `earmark verify --json` prints, `stamp` the bytes and manifest
//! `earmark stamp --no-c2pa` writes for the same input, key, track id and
//! time.

use wasm_bindgen::prelude::*;

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

/// Verifies a file's bytes: returns `earmark verify --json`'s record as
/// JSON text. `trust` is PEM text holding the public keys to trust (one or
/// several, or empty); `name` is the file's name, shown as its `path`.
#[wasm_bindgen]
pub fn verify(bytes: &[u8], trust: &str, name: &str) -> Result<String, JsError> {
    let mut opts = VerifyOptions::default();
    if !trust.trim().is_empty() {
        opts.trusted = earmark::keyfile::trusted_from_pem("trusted keys", trust).map_err(err)?;
    }
    let mut v = earmark::verify::verify_bytes(bytes, &opts).map_err(|e| err(named(name, e)))?;
    v.path = Some(name.into());
    Ok(v.to_json().to_string())
}

/// An error about an input, naming it as the CLI does (`name: cause`).
fn named(name: &str, e: earmark::Error) -> String {
    let text = e.to_string();
    if name.is_empty() {
        text
    } else {
        format!("{name}: {text}")
    }
}

/// What `stamp` produced.
#[wasm_bindgen]
pub struct Stamped {
    bytes: Vec<u8>,
    json: String,
    sidecar: String,
}

#[wasm_bindgen]
impl Stamped {
    /// The stamped file.
    #[wasm_bindgen(getter)]
    pub fn bytes(&self) -> Vec<u8> {
        self.bytes.clone()
    }

    /// `earmark stamp --json`'s fields that are not about files (payload,
    /// length, warnings, the signed manifest), as JSON text.
    #[wasm_bindgen(getter)]
    pub fn json(&self) -> String {
        self.json.clone()
    }

    /// The sidecar manifest file's text (`NAME.EXT.earmark.json`).
    #[wasm_bindgen(getter)]
    pub fn sidecar(&self) -> String {
        self.sidecar.clone()
    }
}

/// Stamps a file's bytes with the private key `key_pem` (PKCS#8 PEM, as
/// `earmark keygen` writes). `options` is JSON: `created` (Unix seconds,
/// required: the time the manifest records), `format` (`"flac"` or
/// `"wav"`), `title`, `artist`, `owner`, `policy` (a CLI policy name),
/// `track_id` (default random), `strength`.
#[wasm_bindgen]
pub fn stamp(bytes: &[u8], key_pem: &str, options: &str, name: &str) -> Result<Stamped, JsError> {
    let o: serde_json::Value = serde_json::from_str(options).map_err(err)?;
    let key = SigningKeyPair::from_pem(key_pem).map_err(|e| err(format!("the signing key: {e}")))?;
    let mut opts = earmark::StampOptions::new(key);
    let created = o["created"]
        .as_f64()
        .filter(|t| t.is_finite() && *t >= 0.0)
        .ok_or_else(|| err("options.created (Unix seconds) is required"))?;
    opts.created = Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(created as u64));
    opts.format = match o["format"].as_str().unwrap_or("flac") {
        "flac" => earmark::audio::OutputFormat::Flac,
        "wav" => earmark::audio::OutputFormat::Wav,
        f => return Err(err(format!("format must be flac or wav, got {f:?}"))),
    };
    let text = |k: &str| o[k].as_str().filter(|s| !s.trim().is_empty()).map(str::to_string);
    opts.title = text("title");
    opts.artist = text("artist");
    opts.owner = text("owner");
    if let Some(p) = text("policy") {
        let kind: earmark::policy::PolicyKind = p.parse().map_err(err)?;
        opts.policy = earmark::Policy::from_kind(kind);
    }
    if let Some(id) = o["track_id"].as_u64() {
        opts.track_id = Some(u32::try_from(id).map_err(|_| err("track_id must fit in 32 bits"))?);
    }
    if let Some(s) = o["strength"].as_f64() {
        opts.strength = s as f32;
    }
    let (out, stamped) = earmark::stamp_bytes(bytes, &opts).map_err(|e| err(named(name, e)))?;
    Ok(Stamped {
        bytes: out,
        json: stamped.to_json().to_string(),
        sidecar: format!("{}\n", stamped.manifest.to_json_pretty()),
    })
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
