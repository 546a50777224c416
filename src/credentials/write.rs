//! Writing a C2PA manifest: what earmark claims about a file it made, signed
//! with the artist's key and certificate chain, embedded by the SDK (which
//! computes the hard binding over the finished file) or returned as a
//! sidecar manifest store.

use std::io::{Read, Seek, Write};

use c2pa::assertions::DataHash;
use c2pa::{Builder, BuilderIntent, Context, SigningAlg};
use serde_json::{json, Value};

use super::{CertificateChain, CredentialsError, SOFT_BINDING_ALG};
use crate::container::Container;
use crate::payload::Payload;
use crate::policy::TrainingMining;
use crate::provenance::{Manifest, SigningKeyPair};

/// What earmark did to the file the manifest is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Operation {
    /// `stamp`: decoded, watermarked, encoded again.
    Stamp {
        /// The output container differs from the input's.
        transcoded: bool,
    },
    /// `tag`: metadata written, the encoded audio left as it was.
    Tag,
}

/// The watermark a soft binding names, and the part of the audio it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SoftBinding {
    /// The marker payload.
    pub payload: Payload,
    /// Start of the marked span, milliseconds from the start of the audio.
    pub start_ms: u64,
    /// End of the marked span, milliseconds.
    pub end_ms: u64,
}

impl SoftBinding {
    /// The value a soft-binding block carries for `payload`: its 64 bits
    /// as 16 lowercase hex digits (key fingerprint, then track id).
    pub fn value(payload: &Payload) -> String {
        crate::hex::encode(&payload.to_bytes())
    }
}

/// Everything the manifest states, apart from the hard binding the SDK
/// computes.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Claim {
    /// The manifest's title (the track title, else the file name).
    pub title: String,
    /// The artist, recorded as `dc:creator` in `cawg.metadata`.
    pub artist: Option<String>,
    /// What earmark did.
    pub operation: Operation,
    /// The marker the audio carries, if any.
    pub soft_binding: Option<SoftBinding>,
    /// The `cawg.training-mining` entries (the declared policy).
    pub training_mining: TrainingMining,
}

impl Claim {
    /// A claim with no artist and no soft binding.
    pub fn new(title: impl Into<String>, operation: Operation, policy: TrainingMining) -> Claim {
        Claim {
            title: title.into(),
            artist: None,
            operation,
            soft_binding: None,
            training_mining: policy,
        }
    }

    /// The claim that goes with earmark's own `manifest`: its title (else
    /// `fallback_title`), artist and policy, and a soft binding to `marker`
    /// (the payload and the audio's length, seconds) when the audio carries it.
    pub fn for_manifest(
        manifest: &Manifest,
        fallback_title: &str,
        operation: Operation,
        marker: Option<(Payload, f64)>,
    ) -> Claim {
        let title = manifest
            .title
            .clone()
            .unwrap_or_else(|| fallback_title.to_string());
        let mut claim = Claim::new(
            title,
            operation,
            manifest.policy.cawg_training_mining.clone(),
        );
        claim.artist = manifest.artist.clone();
        claim.soft_binding = marker.map(|(payload, seconds)| SoftBinding {
            payload,
            start_ms: 0,
            end_ms: (seconds * 1000.0).round() as u64,
        });
        claim
    }
}

/// The input the output was made from: recorded as the manifest's parent
/// ingredient, with its own Content Credentials when it has any.
pub struct Parent<'a> {
    /// Its name (the file name).
    pub title: String,
    /// Its container, if recognised.
    pub container: Option<Container>,
    /// Its bytes.
    pub stream: &'a mut (dyn ReadSeek + 'a),
}

impl<'a> Parent<'a> {
    /// The input in `stream`, its container sniffed.
    pub fn sniffed(title: impl Into<String>, stream: &'a mut (dyn ReadSeek + 'a)) -> Parent<'a> {
        let container = Container::of_reader(stream).ok().flatten();
        Parent {
            title: title.into(),
            container,
            stream,
        }
    }
}

/// `Read + Seek + Send`, as one object-safe trait.
pub trait ReadSeek: Read + Seek + Send {}
impl<T: Read + Seek + Send> ReadSeek for T {}

/// Signs C2PA claims with an artist's Ed25519 key and the certificate chain
/// that certifies it.
#[derive(Debug, Clone)]
pub struct ClaimSigner {
    key: SigningKeyPair,
    chain: CertificateChain,
}

impl ClaimSigner {
    /// A signer; fails when the chain's signing certificate is not for `key`.
    pub fn new(key: SigningKeyPair, chain: CertificateChain) -> Result<ClaimSigner, String> {
        chain.check_certifies(&key.public_key())?;
        Ok(ClaimSigner { key, chain })
    }

    /// The chain it signs with.
    pub fn chain(&self) -> &CertificateChain {
        &self.chain
    }
}

impl ClaimSigner {
    /// [`new`](Self::new) with the error as the crate's.
    pub(crate) fn checked(key: &SigningKeyPair, chain: &CertificateChain) -> crate::Result<Self> {
        ClaimSigner::new(key.clone(), chain.clone())
            .map_err(|why| crate::Error::unnamed(crate::ErrorKind::Key(why)))
    }
}

impl c2pa::Signer for ClaimSigner {
    fn sign(&self, data: &[u8]) -> c2pa::Result<Vec<u8>> {
        Ok(self.key.sign(data).to_vec())
    }

    fn alg(&self) -> SigningAlg {
        SigningAlg::Ed25519
    }

    fn certs(&self) -> c2pa::Result<Vec<Vec<u8>>> {
        Ok(self.chain.ders().to_vec())
    }

    fn reserve_size(&self) -> usize {
        // COSE structure, signature and the chain, with room to spare.
        4096 + self.chain.ders().iter().map(Vec::len).sum::<usize>()
    }
}

/// The manifest definition (JSON the SDK's builder takes) for `claim`.
fn definition(claim: &Claim, format: &str) -> Value {
    let mut actions = Vec::new();
    match claim.operation {
        Operation::Stamp { transcoded } => {
            if transcoded {
                actions.push(json!({"action": "c2pa.transcoded", "softwareAgent": agent()}));
            }
            actions.push(json!({
                "action": "c2pa.watermarked",
                "softwareAgent": agent(),
                "description": "earmark marker (inaudible keyed watermark) and seal embedded in the audio",
            }));
        }
        Operation::Tag => actions.push(json!({
            "action": "c2pa.edited.metadata",
            "softwareAgent": agent(),
            "description": "no-AI-training declaration and signed earmark manifest written into the metadata; audio unchanged",
        })),
    }
    let mut assertions = vec![
        json!({"label": "c2pa.actions.v2", "data": {"actions": actions}}),
        json!({"label": super::TRAINING_MINING_LABEL, "data": claim.training_mining}),
    ];
    if let Some(sb) = &claim.soft_binding {
        assertions.push(json!({
            "label": "c2pa.soft-binding",
            "data": {
                "alg": SOFT_BINDING_ALG,
                "name": "earmark marker payload: key fingerprint (32 bits) and track id (32 bits), hex",
                "blocks": [{
                    "scope": {"timespan": {"start": sb.start_ms, "end": sb.end_ms}},
                    "value": SoftBinding::value(&sb.payload),
                }],
            },
        }));
    }
    let mut metadata = json!({
        "@context": {"dc": "http://purl.org/dc/elements/1.1/"},
        "dc:title": claim.title,
    });
    if let Some(artist) = &claim.artist {
        metadata["dc:creator"] = json!([artist]);
    }
    assertions.push(json!({"label": "cawg.metadata", "kind": "Json", "data": metadata}));
    json!({
        "claim_generator_info": [{"name": "earmark", "version": env!("CARGO_PKG_VERSION")}],
        "title": claim.title,
        "format": format,
        "assertions": assertions,
    })
}

fn agent() -> Value {
    json!({"name": "earmark", "version": env!("CARGO_PKG_VERSION")})
}

/// A builder for `claim`, with `parent` as its parent ingredient (C2PA
/// wants an edit to name what it opened).
fn builder(claim: &Claim, format: &str, parent: Parent<'_>) -> Result<Builder, CredentialsError> {
    let context = Context::new();
    let mut builder = Builder::from_context(context)
        .with_definition(definition(claim, format).to_string().as_str())
        .map_err(CredentialsError::sdk)?;
    builder.set_intent(BuilderIntent::Edit);
    let ingredient = json!({"title": parent.title, "relationship": "parentOf"}).to_string();
    // Containers the SDK does not read are ingredients without credentials.
    let format = parent
        .container
        .filter(|c| c.embeds_c2pa())
        .map_or("application/octet-stream", Container::mime);
    let mut stream = parent.stream;
    stream.rewind().map_err(CredentialsError::io)?;
    builder
        .add_ingredient_from_stream(ingredient, format, &mut stream)
        .map_err(CredentialsError::sdk)?;
    Ok(builder)
}

/// Signs `claim` and writes `source` (a finished file of C2PA format
/// `format`) to `dest` with the manifest store embedded. Everything else
/// in the file must already be written: the hard binding covers it all.
/// Returns the manifest store's bytes.
pub fn embed<R, W>(
    claim: &Claim,
    signer: &ClaimSigner,
    format: &str,
    parent: Parent<'_>,
    source: &mut R,
    dest: &mut W,
) -> Result<Vec<u8>, CredentialsError>
where
    R: Read + Seek + Send,
    W: Write + Read + Seek + Send,
{
    let mut builder = builder(claim, format, parent)?;
    source.rewind().map_err(CredentialsError::io)?;
    builder
        .sign(signer, format, source, dest)
        .map_err(CredentialsError::sdk)
}

/// A manifest store earmark places in a file itself, for containers it
/// writes (WAV, FLAC): the file reserves [`len`](Self::len) bytes, hashes
/// everything else as it goes, and [`sign`](Self::sign) returns the store
/// to write into the reserved bytes. Memory stays bounded whatever the
/// file's length (the SDK's own embedding buffers the file).
pub struct ReservedStore {
    builder: Builder,
    len: usize,
}

impl std::fmt::Debug for ReservedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReservedStore")
            .field("len", &self.len)
            .finish()
    }
}

/// The hard binding as earmark computes it: SHA-256 of the file outside
/// the manifest store.
fn data_hash(exclusion_at: u64, exclusion_len: u64, sha256: Vec<u8>) -> DataHash {
    let mut hash = DataHash::new("jumbf manifest", "sha256");
    hash.add_exclusion(c2pa::HashRange::new(exclusion_at, exclusion_len));
    hash.set_hash(sha256);
    hash
}

impl ReservedStore {
    /// Prepares the manifest for `claim` and learns its size: a store
    /// signed over a placeholder hard binding whose numbers take the most
    /// room they can (the final one is padded to the same size).
    pub fn new(
        claim: &Claim,
        signer: &ClaimSigner,
        format: &str,
        parent: Parent<'_>,
    ) -> Result<ReservedStore, CredentialsError> {
        let mut builder = builder(claim, format, parent)?;
        let placeholder = data_hash(u64::MAX >> 1, u64::MAX >> 1, vec![0; 32]);
        builder
            .add_assertion(c2pa::assertions::labels::DATA_HASH, &placeholder)
            .map_err(CredentialsError::sdk)?;
        let len = builder
            .sign_data_hashed_embeddable(signer, &placeholder, "application/c2pa")
            .map_err(CredentialsError::sdk)?
            .len();
        Ok(ReservedStore { builder, len })
    }

    /// How many bytes the store takes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: a store is never empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The signed store, [`len`](Self::len) bytes, for a file whose bytes
    /// outside `exclusion_len` bytes at `exclusion_at` hash (SHA-256) to
    /// `sha256`.
    pub fn sign(
        mut self,
        signer: &ClaimSigner,
        exclusion_at: u64,
        exclusion_len: u64,
        sha256: Vec<u8>,
    ) -> Result<Vec<u8>, CredentialsError> {
        let hash = data_hash(exclusion_at, exclusion_len, sha256);
        let store = self
            .builder
            .sign_data_hashed_embeddable(signer, &hash, "application/c2pa")
            .map_err(CredentialsError::sdk)?;
        if store.len() != self.len {
            return Err(CredentialsError::other(format!(
                "C2PA: the signed manifest store has {} bytes, {} were reserved",
                store.len(),
                self.len
            )));
        }
        Ok(store)
    }
}

/// Signs `claim` for a file the SDK cannot embed into (AIFF, Ogg): returns
/// a manifest store for a sidecar `NAME.c2pa`, whose hard binding is the
/// SHA-256 of the whole of `source`.
pub fn sidecar<R>(
    claim: &Claim,
    signer: &ClaimSigner,
    format: &str,
    parent: Parent<'_>,
    source: &mut R,
) -> Result<Vec<u8>, CredentialsError>
where
    R: Read + Seek + Send,
{
    let mut builder = builder(claim, format, parent)?;
    builder.set_no_embed(true);
    let mut hash = DataHash::new("jumbf manifest", "sha256");
    source.rewind().map_err(CredentialsError::io)?;
    hash.gen_hash_from_stream(source)
        .map_err(CredentialsError::sdk)?;
    builder
        .add_assertion(c2pa::assertions::labels::DATA_HASH, &hash)
        .map_err(CredentialsError::sdk)?;
    builder
        .sign_data_hashed_embeddable(signer, &hash, "application/c2pa")
        .map_err(CredentialsError::sdk)
}
