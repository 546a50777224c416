//! Stamping one file: decode, embed the marker, write WAV or FLAC with the
//! signed manifest inside, and a sidecar copy of the manifest.
//!
//! Audio flows through in chunks (decode → embed → write + hash), so memory
//! does not grow with the length of the track.

use crate::audio::{AudioReader, OutputFormat, PcmHasher, PcmWriter, SampleFormat};
use crate::error::{Error, ErrorKind, Result};
use crate::mark::seal::SealMessage;
use crate::mark::{layout::Layout, EmbedOptions, EmbedStats, Embedder, WatermarkKey};
use crate::metadata::{self, current_year, CarriedTags, Declaration};
use crate::output;
use crate::provenance::{
    policy_code, sign_seal, AudioDigest, Manifest, Payload, Policy, SignedManifest, SigningKeyPair,
};
use std::path::{Path, PathBuf};

/// Tag (FLAC Vorbis comment / ID3 `TXXX` description) that holds the signed manifest.
pub const MANIFEST_TAG: &str = crate::metadata::MANIFEST_KEY;

/// What to stamp with.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StampOptions {
    /// The artist's Ed25519 key: signs the manifest; its fingerprint goes into the marker.
    pub signing_key: SigningKeyPair,
    /// The watermark key. Default: the built-in public key, so anyone can verify.
    pub wm_key: WatermarkKey,
    /// Output path (`.wav` or `.flac`). Default: `NAME.earmark.flac` next to the input.
    pub out: Option<PathBuf>,
    /// Title recorded in the manifest.
    pub title: Option<String>,
    /// Artist recorded in the manifest.
    pub artist: Option<String>,
    /// Track id carried by the marker. Default: a random 32-bit number.
    pub track_id: Option<u32>,
    /// Marker strength (see [`EmbedOptions::strength`]). Default: 1.0.
    pub strength: f32,
    /// Also embed the seal: the signature over the payload and policy, in a
    /// band above the marker, so a bare copy of the whole track proves its
    /// signer (see [`crate::mark::seal`]). Default: true.
    pub seal: bool,
    /// The AI-training policy declared in the manifest and in every metadata
    /// carrier of the output. Default: no AI training.
    pub policy: Policy,
    /// Copyright owner for the declaration's copyright line. Default: the
    /// artist (option, else the input's artist tag); none if neither is known.
    pub owner: Option<String>,
    /// Replace an existing output file. Default: false.
    pub force: bool,
    /// Extra tag in temporary file names (a batch uses its shard, so a re-run
    /// removes only its own leftovers). Default: none.
    pub temp_tag: Option<String>,
}

impl StampOptions {
    /// Defaults for everything but the signing key.
    pub fn new(signing_key: SigningKeyPair) -> Self {
        StampOptions {
            signing_key,
            wm_key: WatermarkKey::public(),
            out: None,
            title: None,
            artist: None,
            track_id: None,
            strength: 1.0,
            seal: true,
            policy: Policy::default(),
            owner: None,
            force: false,
            temp_tag: None,
        }
    }
}

/// The result of stamping one file.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StampOutcome {
    /// The input file.
    pub input: PathBuf,
    /// The stamped audio file.
    pub output: PathBuf,
    /// The sidecar manifest file.
    pub sidecar: PathBuf,
    /// The payload the marker carries.
    pub payload: Payload,
    /// The signed manifest (also inside the output and the sidecar).
    pub manifest: SignedManifest,
    /// What the embedder did.
    pub stats: EmbedStats,
    /// Audio length, seconds.
    pub seconds: f64,
    /// Things the user should know (weak marker, clipping, skipped packets).
    pub warnings: Vec<String>,
}

/// The default output for `input`: `NAME.earmark.flac` in the same folder.
pub fn default_output(input: &Path) -> PathBuf {
    let stem = input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "audio".into());
    input.with_file_name(format!("{stem}.earmark.flac"))
}

/// The sidecar manifest for an output: `NAME.earmark.json` (for
/// `NAME.earmark.flac` or `NAME.wav` alike).
pub fn sidecar_path(output: &Path) -> PathBuf {
    let stem = output
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = stem.strip_suffix(".earmark").unwrap_or(&stem);
    output.with_file_name(format!("{stem}.earmark.json"))
}

/// The output format for a path, from its extension.
pub fn output_format(path: &Path) -> Result<OutputFormat> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "flac" => Ok(OutputFormat::Flac),
        "wav" | "wave" => Ok(OutputFormat::Wav),
        _ => Err(Error::new(path, ErrorKind::UnsupportedOutput(ext))),
    }
}

/// Manifest name of a sample format.
pub fn sample_format_name(f: SampleFormat) -> &'static str {
    match f {
        SampleFormat::I16 => "s16",
        SampleFormat::I24 => "s24",
        SampleFormat::F32 => "f32",
    }
}

/// Stamps `input` and writes the output and sidecar atomically.
pub fn stamp_file(input: &Path, opts: &StampOptions) -> Result<StampOutcome> {
    let output = opts.out.clone().unwrap_or_else(|| default_output(input));
    let format = output_format(&output)?;
    if output::same_file(input, &output) {
        return Err(Error::new(&output, ErrorKind::OutputIsInput));
    }
    let sidecar = sidecar_path(&output);
    if output::same_file(input, &sidecar) {
        return Err(Error::new(&sidecar, ErrorKind::OutputIsInput));
    }
    output::check_writable(&output, opts.force)?;
    output::check_writable(&sidecar, opts.force)?;

    let mut reader = AudioReader::open(input).map_err(|e| Error::new(input, e))?;
    let spec = reader.spec().clone();
    let wspec = spec.writer_spec().effective_for(format);
    let channels = usize::from(spec.channels);
    let payload = Payload::new(
        opts.signing_key.public_key().fingerprint32(),
        opts.track_id.unwrap_or_else(random_track_id),
    );
    let mut embed_options = EmbedOptions::with_strength(opts.strength);
    if opts.seal {
        let code = policy_code(opts.policy.kind());
        embed_options = embed_options.with_seal(SealMessage {
            signature: sign_seal(&opts.signing_key, payload, code),
            policy: code,
        });
    }
    let mut embedder = Embedder::new(
        &opts.wm_key,
        payload.to_bytes(),
        spec.sample_rate,
        channels,
        embed_options,
    );
    let temp = output::temp_tagged(&output, opts.temp_tag.as_deref())?;
    let file = temp.reopen().map_err(|e| Error::new(&output, e))?;
    let mut writer = PcmWriter::new(std::io::BufWriter::new(file), format, wspec)
        .map_err(|e| Error::new(&output, e))?;
    let mut hasher = PcmHasher::new(&wspec);
    let (mut chunk, mut marked) = (Vec::new(), Vec::new());
    let mut write = |marked: &mut Vec<f32>, writer: &mut PcmWriter<_>| -> Result<()> {
        writer
            .write_interleaved(marked)
            .map_err(|e| Error::new(&output, e))?;
        hasher.update(marked);
        marked.clear();
        Ok(())
    };
    loop {
        let frames = reader
            .read_chunk(&mut chunk)
            .map_err(|e| Error::new(input, e))?;
        if frames == 0 {
            break;
        }
        embedder.process(&chunk, &mut marked);
        write(&mut marked, &mut writer)?;
    }
    let stats = embedder.finish(&mut marked);
    write(&mut marked, &mut writer)?;
    let frames = stats.input_frames;
    let digest = AudioDigest::new(
        crate::provenance::hex::encode(&hasher.finish()),
        frames,
        spec.sample_rate,
        spec.channels,
        sample_format_name(wspec.sample_format),
    );
    // Tags of the input (title, artist, album, artwork, ISRC) carry over.
    let carried = CarriedTags::read(input);
    let title = opts
        .title
        .clone()
        .or_else(|| carried.as_ref().and_then(CarriedTags::title));
    let artist = opts
        .artist
        .clone()
        .or_else(|| carried.as_ref().and_then(CarriedTags::artist));
    let mut manifest = Manifest::new(payload, digest, opts.policy.clone());
    manifest.title = title;
    manifest.artist = artist.clone();
    let signed = manifest.sign(&opts.signing_key);
    let buf = writer.finish(&[]).map_err(|e| Error::new(&output, e))?;
    let file = buf
        .into_inner()
        .map_err(|e| Error::new(&output, e.into_error()))?;
    file.sync_all().map_err(|e| Error::new(&output, e))?;
    drop(file);
    // The declaration in every carrier of the output, with the manifest.
    let owner = opts.owner.clone().or(artist);
    let decl = Declaration::new(opts.policy.clone(), owner.as_deref(), current_year());
    let json = signed.to_json_compact();
    let tag_warnings =
        metadata::write_declaration(temp.path(), &decl, Some(&json), carried.as_ref())
            .map_err(|e| Error::new(&output, e))?;
    let back = metadata::read_metadata(temp.path()).map_err(|e| Error::new(&output, e))?;
    if !back.manifests.contains(&json) {
        return Err(Error::new(
            &output,
            ErrorKind::Other("the written file does not read back with its manifest".into()),
        ));
    }
    // Check that the output reads back before it takes the final name.
    AudioReader::open(temp.path()).map_err(|e| {
        Error::new(
            &output,
            ErrorKind::Other(format!("written file does not read back: {e}")),
        )
    })?;
    // The sidecar is prepared first but renamed last, so a failure leaves
    // neither file behind.
    let json = format!("{}\n", signed.to_json_pretty());
    let sidecar_temp =
        output::temp_with_tagged(&sidecar, json.as_bytes(), opts.temp_tag.as_deref())?;
    output::persist(temp, &output, opts.force)?;
    if let Err(e) = output::persist(sidecar_temp, &sidecar, opts.force) {
        let _ = std::fs::remove_file(&output);
        return Err(e);
    }

    let seconds = frames as f64 / f64::from(spec.sample_rate);
    let mut warnings = tag_warnings;
    if stats.active_frames == 0 {
        warnings.push("the track is silent: no marker could be embedded".to_string());
    } else if stats.loud_fraction() < 0.5 {
        warnings.push(format!(
            "only {:.0}% of the track is loud enough for a robust marker: it may be weak",
            100.0 * stats.loud_fraction()
        ));
    }
    let unit = Layout::V1.unit_seconds();
    if seconds < 2.0 * unit {
        warnings.push(format!(
            "the track is {seconds:.1} s long; markers need at least {:.1} s to be found reliably",
            2.0 * unit
        ));
    }
    // A handful of limited peaks in a loud master is inaudible; say so only
    // when it is more than one sample in a thousand.
    if stats.clipped * 1000 > frames * u64::from(spec.channels) {
        warnings.push(format!(
            "the marker pushed {} samples ({:.2}%) of this loud master past full scale; \
             they were limited to full scale",
            stats.clipped,
            100.0 * stats.clipped as f64 / (frames * u64::from(spec.channels)).max(1) as f64
        ));
    }
    if reader.skipped_packets() > 0 {
        warnings.push(format!(
            "{} undecodable packets in the input were skipped",
            reader.skipped_packets()
        ));
    }
    Ok(StampOutcome {
        input: input.to_path_buf(),
        output,
        sidecar,
        payload,
        manifest: signed,
        stats,
        seconds,
        warnings,
    })
}

/// A random 32-bit track id (used when none is given).
pub fn random_track_id() -> u32 {
    use rand_core::RngCore;
    rand_core::OsRng.next_u32()
}
