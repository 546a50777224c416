//! Reading the C2PA manifest store of any file (made by earmark or not)
//! with the SDK's validator, and summarising what a user needs: who signed,
//! whether it validates, what was done, whether it declares AI generation,
//! the training-and-mining entries and the soft bindings.

use std::collections::BTreeMap;
use std::io::{Read, Seek};

use c2pa::{Context, Reader, ValidationState};
use serde::Serialize;
use serde_json::{json, Value};

use super::{SOFT_BINDING_ALG, TRAINING_MINING_LABEL};
use crate::payload::Payload;

/// IPTC digital source types that mean "made by a generative model".
const AI_SOURCE_TYPES: [&str; 2] = [
    "trainedAlgorithmicMedia",
    "compositeWithTrainedAlgorithmicMedia",
];
/// The validation code for a signer whose certificate chains to no trust anchor.
const UNTRUSTED: &str = "signingCredential.untrusted";

/// How the active manifest validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CredentialsState {
    /// Signature, hard binding and assertions check out, and the signer
    /// chains to a trust anchor the user gave.
    Trusted,
    /// Signature, hard binding and assertions check out; the signer's
    /// issuer is on no trust list given (a self-issued chain, say).
    Valid,
    /// Something fails: see the failure codes (e.g. `assertion.dataHash.mismatch`
    /// when the file was edited after signing).
    Invalid,
}

/// One soft binding in the manifest: a watermark or fingerprint that points
/// back to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SoftBindingEntry {
    /// The algorithm (`io.earmark.v1` for earmark's marker).
    pub alg: String,
    /// The value, as the manifest states it.
    pub value: String,
    /// The span it covers, milliseconds, when stated.
    pub start_ms: Option<u64>,
    /// End of that span, milliseconds.
    pub end_ms: Option<u64>,
    /// The earmark payload the value names (only for earmark's algorithm).
    pub payload: Option<Payload>,
}

/// What a file's Content Credentials say, and whether they validate.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Credentials {
    /// Where they were found: `"embedded"`, or the sidecar's path.
    pub source: String,
    /// How the active manifest validated.
    pub state: CredentialsState,
    /// Failure codes of the active manifest (the untrusted-issuer code
    /// included, for the record).
    pub failures: Vec<String>,
    /// The signer: the signing certificate's common name (else its issuer).
    /// JSON: `signer_name` (a `signer` is a key fingerprint in earmark's
    /// records).
    #[serde(rename = "signer_name")]
    pub signer: Option<String>,
    /// The signing certificate's issuer.
    pub issuer: Option<String>,
    /// When it was signed (only present with a time stamp).
    pub signed_at: Option<String>,
    /// The tool that made the manifest (`claim_generator_info` name and version).
    pub generator: Option<String>,
    /// The manifest's title.
    pub title: Option<String>,
    /// The actions, in order (`c2pa.opened`, `c2pa.watermarked`, ...).
    pub actions: Vec<String>,
    /// The IPTC digital source type the actions state, in this manifest
    /// or, when it states none, in the manifests of its ingredients.
    pub digital_source_type: Option<String>,
    /// The digital source type says a generative model made the content
    /// (`trainedAlgorithmicMedia` or `compositeWithTrainedAlgorithmicMedia`).
    pub ai_generated: bool,
    /// The `cawg.training-mining` entries: entry name to `allowed`,
    /// `notAllowed` or `constrained`.
    pub training_mining: BTreeMap<String, String>,
    /// The soft bindings.
    pub soft_bindings: Vec<SoftBindingEntry>,
    /// Whether an earmark soft binding names a marker found in the audio
    /// (absent when the manifest has none, or the audio was not searched).
    pub matches_marker: Option<bool>,
}

impl Credentials {
    /// The payloads of this manifest's earmark soft bindings.
    pub fn bound_payloads(&self) -> impl Iterator<Item = &Payload> {
        self.soft_bindings.iter().filter_map(|s| s.payload.as_ref())
    }

    /// Sets [`matches_marker`](Self::matches_marker) from the payloads
    /// found in the audio: `None` when the audio was not searched or no
    /// marker was found (too short, too quiet, another watermark key: that
    /// cannot tell), else whether a bound payload is among them.
    pub fn compare_markers(&mut self, found: Option<&[Payload]>) {
        let bound: Vec<&Payload> = self.bound_payloads().collect();
        self.matches_marker = match found {
            Some(found) if !bound.is_empty() && !found.is_empty() => {
                Some(bound.iter().any(|b| found.contains(b)))
            }
            _ => None,
        };
    }

    /// Whether the credentials contradict the file: they do not validate,
    /// or their soft binding names a marker the audio does not carry.
    pub fn contradicted(&self) -> bool {
        self.state == CredentialsState::Invalid || self.matches_marker == Some(false)
    }

    /// One line for people: state, signer, and what stands out.
    pub fn summary(&self) -> String {
        let state = match self.state {
            CredentialsState::Trusted => "valid, trusted signer".to_string(),
            CredentialsState::Valid => {
                if self.failures.iter().any(|c| c == UNTRUSTED) {
                    "valid signature, issuer not on a trust list".to_string()
                } else {
                    "valid".to_string()
                }
            }
            CredentialsState::Invalid => {
                let codes: Vec<&str> = self
                    .failures
                    .iter()
                    .map(String::as_str)
                    .filter(|c| *c != UNTRUSTED)
                    .collect();
                format!("INVALID ({})", codes.join(", "))
            }
        };
        let signer = self.signer.as_deref().unwrap_or("unknown signer");
        format!("{state}; signed by {signer}")
    }
}

/// Why Content Credentials could not be read or written.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct CredentialsError(String);

impl CredentialsError {
    pub(crate) fn sdk(e: c2pa::Error) -> CredentialsError {
        CredentialsError(format!("C2PA: {e}"))
    }

    pub(crate) fn io(e: std::io::Error) -> CredentialsError {
        CredentialsError(format!("C2PA: {e}"))
    }

    pub(crate) fn other(text: impl Into<String>) -> CredentialsError {
        CredentialsError(text.into())
    }
}

/// Reads and validates the manifest store of `stream`, a file of C2PA
/// format `format` (a MIME type), embedded or, with `sidecar`, from those
/// bytes (source named `sidecar_name`). `trust_anchors`: PEM root
/// certificates whose chains count as trusted.
///
/// `Ok(None)`: the file carries no credentials (or its container could not
/// be searched for them). `Err`: credentials are there but do not parse.
pub fn read_credentials<R>(
    format: &str,
    stream: R,
    sidecar: Option<(&str, &[u8])>,
    trust_anchors: Option<&str>,
) -> Result<Option<Credentials>, CredentialsError>
where
    R: Read + Seek + Send,
{
    let mut context = Context::new();
    if let Some(pem) = trust_anchors {
        context = context
            .with_settings(json!({"trust": {"user_anchors": pem}}).to_string().as_str())
            .map_err(CredentialsError::sdk)?;
    }
    // The SDK parses untrusted bytes: a panic in it is a broken manifest,
    // not a crash of the caller.
    let result = crate::error::catch_quietly(|| {
        let reader = Reader::from_context(context);
        match sidecar {
            Some((_, bytes)) => reader.with_manifest_data_and_stream(bytes, format, stream),
            None => reader.with_stream(format, stream),
        }
    })
    .map_err(|_| CredentialsError::other("C2PA: the manifest store could not be parsed"))?;
    let reader = match result {
        Ok(r) => r,
        Err(e) if absent(&e) => return Ok(None),
        Err(e) => return Err(CredentialsError::sdk(e)),
    };
    let source = sidecar.map_or("embedded".to_string(), |(name, _)| name.to_string());
    Ok(Some(summarise(&reader, source)))
}

/// The active manifest's label (`urn:c2pa:…`) of a manifest store on its
/// own (`application/c2pa` bytes); `None` if the SDK cannot parse it.
pub fn store_label(store: &[u8]) -> Option<String> {
    crate::error::catch_quietly(|| {
        Reader::from_context(Context::new())
            .with_stream("application/c2pa", std::io::Cursor::new(store))
            .ok()
            .and_then(|r| r.active_label().map(str::to_string))
    })
    .ok()
    .flatten()
}

/// Errors that mean "no credentials here", not "broken credentials".
fn absent(e: &c2pa::Error) -> bool {
    use c2pa::Error as E;
    matches!(
        e,
        E::JumbfNotFound
            | E::ProvenanceMissing
            | E::UnsupportedType
            | E::NotFound
            | E::IoError(_)
            | E::RiffError(_)
            | E::FlacError(_)
            | E::BmffError(_)
            | E::InvalidAsset(_)
    )
}

fn summarise(reader: &Reader, source: String) -> Credentials {
    let store: Value = serde_json::from_str(&reader.json()).unwrap_or(Value::Null);
    let active_label = reader.active_label().unwrap_or_default().to_string();
    let manifests = &store["manifests"];
    let active = &manifests[&active_label];
    let state = match reader.validation_state() {
        ValidationState::Trusted => CredentialsState::Trusted,
        ValidationState::Valid => CredentialsState::Valid,
        ValidationState::Invalid => CredentialsState::Invalid,
    };
    let failures = reader
        .validation_results()
        .and_then(|r| r.active_manifest())
        .map(|m| m.failure().iter().map(|s| s.code().to_string()).collect())
        .unwrap_or_default();
    let sig = &active["signature_info"];
    let text = |v: &Value| v.as_str().map(str::to_string);
    let generator = active["claim_generator_info"]
        .as_array()
        .and_then(|a| a.first())
        .map(|g| {
            let name = g["name"].as_str().unwrap_or("unknown");
            match g["version"].as_str() {
                Some(v) => format!("{name} {v}"),
                None => name.to_string(),
            }
        })
        .or_else(|| text(&active["claim_generator"]));
    let mut actions = Vec::new();
    let mut training_mining = BTreeMap::new();
    let mut soft_bindings = Vec::new();
    for assertion in assertions(active) {
        let label = assertion["label"].as_str().unwrap_or_default();
        let data = &assertion["data"];
        if label.starts_with("c2pa.actions") {
            actions.extend(
                data["actions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|a| text(&a["action"])),
            );
        } else if label == TRAINING_MINING_LABEL || label == "c2pa.training-mining" {
            if let Some(entries) = data["entries"].as_object() {
                for (name, entry) in entries {
                    if let Some(usage) = entry["use"].as_str() {
                        training_mining.insert(name.clone(), usage.to_string());
                    }
                }
            }
        } else if label == "c2pa.soft-binding" {
            soft_bindings.extend(soft_binding_entries(data));
        }
    }
    let digital_source_type = source_type(manifests, &active_label, 0);
    let ai_generated = digital_source_type
        .as_deref()
        .is_some_and(|t| AI_SOURCE_TYPES.iter().any(|ai| t.ends_with(ai)));
    Credentials {
        source,
        state,
        failures,
        signer: text(&sig["common_name"]).or_else(|| text(&sig["issuer"])),
        issuer: text(&sig["issuer"]),
        signed_at: text(&sig["time"]),
        generator,
        title: text(&active["title"]),
        actions,
        digital_source_type,
        ai_generated,
        training_mining,
        soft_bindings,
        matches_marker: None,
    }
}

fn assertions(manifest: &Value) -> impl Iterator<Item = &Value> {
    manifest["assertions"].as_array().into_iter().flatten()
}

fn soft_binding_entries(data: &Value) -> Vec<SoftBindingEntry> {
    let alg = data["alg"].as_str().unwrap_or_default().to_string();
    data["blocks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|block| {
            let value = block["value"].as_str().unwrap_or_default().to_string();
            let span = &block["scope"]["timespan"];
            let payload = (alg == SOFT_BINDING_ALG)
                .then(|| {
                    crate::hex::decode::<8>(&value)
                        .ok()
                        .map(Payload::from_bytes)
                })
                .flatten();
            SoftBindingEntry {
                alg: alg.clone(),
                value,
                start_ms: span["start"].as_u64(),
                end_ms: span["end"].as_u64(),
                payload,
            }
        })
        .collect()
}

/// The digital source type of manifest `label`'s actions, else of its
/// ingredients' manifests (depth-limited: a manifest store is untrusted
/// input and could loop).
fn source_type(manifests: &Value, label: &str, depth: usize) -> Option<String> {
    if depth > 16 {
        return None;
    }
    let manifest = &manifests[label];
    for assertion in assertions(manifest) {
        if !assertion["label"]
            .as_str()
            .is_some_and(|l| l.starts_with("c2pa.actions"))
        {
            continue;
        }
        let found = assertion["data"]["actions"]
            .as_array()
            .into_iter()
            .flatten()
            .find_map(|a| a["digitalSourceType"].as_str());
        if let Some(t) = found {
            return Some(t.to_string());
        }
    }
    manifest["ingredients"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["active_manifest"].as_str())
        .find_map(|l| source_type(manifests, l, depth + 1))
}
