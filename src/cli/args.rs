//! Argument definitions (clap derive). Validation only; no work here.

use clap::{Args, Parser, Subcommand};
use earmark::catalogue::Location;
use earmark::PolicyKind;
use std::ffi::OsString;
use std::path::PathBuf;

/// Protect recordings before upload: an inaudible keyed watermark, a signed
/// provenance manifest and a "no AI training" declaration; verify suspect
/// files and clips.
#[derive(Debug, Parser)]
#[command(name = "earmark", version, about, long_about = None)]
#[command(
    after_help = "Exit codes: 0 success (verify: marked and consistent, or a consistent signed \
declaration without a marker), 1 no marker found, \
2 error, 3 marker found but the manifest or seal is invalid or does not match, 4 (verify \
--trust) marked but not by a key you trust. With several files the most serious wins: \
2, 3, 4, 1, 0."
)]
pub struct Cli {
    /// Print nothing but errors: the exit status says the result, as with
    /// grep -q (serve keeps its one "serving on" line and drops the request log).
    #[arg(long, short, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create an Ed25519 signing key (PKCS#8 PEM) and its public key.
    Keygen(KeygenArgs),
    /// Embed the marker, a signed manifest and the no-AI declaration into a
    /// track (writes FLAC or WAV); with --out-dir, into a whole catalogue.
    Stamp(StampArgs),
    /// Look for the marker and check the manifest of one or more files.
    Verify(VerifyArgs),
    /// Write the no-AI declaration and a signed manifest into files' metadata
    /// without re-encoding the audio (MP3, FLAC, Ogg Vorbis/Opus, M4A, WAV, AIFF).
    Tag(TagArgs),
    /// Show everything earmark can read about a file: the declaration in each
    /// metadata carrier, the manifest and its checks, and any marker.
    Inspect(InspectArgs),
    /// List, show, export, merge or migrate stamp catalogues.
    #[command(subcommand)]
    Catalogue(CatalogueCommand),
    /// Serve screening and catalogue lookups over HTTP: the C2PA Soft Binding
    /// Resolution API (/matches/byBinding, /matches/byContent, /manifests)
    /// and POST /v1/verify, for platforms (see /openapi.json).
    Serve(ServeArgs),
    /// Print a shell completion script: `earmark completions bash >
    /// ~/.local/share/bash-completion/completions/earmark` (zsh, fish,
    /// elvish and powershell too).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff): `earmark man > ~/.local/share/man/man1/earmark.1`.
    Man,
    /// Any other word runs `earmark-WORD` (found next to this binary or on
    /// PATH) with the remaining arguments, as git and cargo do: `earmark
    /// robustness` runs the robustness report of the evaluation tools.
    #[command(external_subcommand)]
    External(Vec<OsString>),
}

#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Private key file to create; the public key goes next to it as
    /// NAME.pub.pem, and a self-issued certificate chain for Content
    /// Credentials (C2PA) as NAME.cert.pem.
    #[arg(long, short)]
    pub out: PathBuf,
    /// Your name as the certificate names you: the signer C2PA validators
    /// show [default: "earmark artist" and the key's fingerprint].
    #[arg(long)]
    pub name: Option<String>,
    /// Overwrite existing key files.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct StampArgs {
    /// Audio file to stamp (WAV, FLAC, MP3, Ogg Vorbis, AAC/M4A, ALAC, AIFF);
    /// with --out-dir, any number of files and folders (searched recursively).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Your Ed25519 private key (from `earmark keygen` or `openssl genpkey -algorithm ed25519`).
    #[arg(long, short)]
    pub key: PathBuf,
    /// Output file, .flac, .wav or .mp3 [default: NAME.earmark.flac next
    /// to the input, or the --format's extension]. An .mp3 is a lossy
    /// re-encode of the marked audio (LAME, constant --bitrate), checked
    /// for its marker before it is written.
    #[arg(long, short)]
    pub out: Option<PathBuf>,
    /// Bitrate of an MP3 output, kbit/s: 32k to 320k.
    #[arg(long, value_name = "KBPS", default_value = "320k", value_parser = parse_bitrate)]
    pub bitrate: u32,
    /// Title recorded in the signed manifest.
    #[arg(long)]
    pub title: Option<String>,
    /// Artist recorded in the signed manifest.
    #[arg(long)]
    pub artist: Option<String>,
    /// Track id carried by the marker (32-bit) [default: random].
    #[arg(long)]
    pub track_id: Option<u32>,
    /// Marker strength: 1 is the tuned default; 2 is 6 dB stronger (more robust,
    /// less transparent), 0.5 is 6 dB weaker.
    #[arg(long, default_value_t = 1.0)]
    pub strength: f32,
    /// Leave out the seal (the signature carried in the audio itself, in a
    /// band above the marker): slightly more transparent, but a copy
    /// stripped of its tags can no longer prove who signed it.
    #[arg(long)]
    pub no_seal: bool,
    #[command(flatten)]
    pub declare: DeclareArgs,
    #[command(flatten)]
    pub credentials: CredentialsArgs,
    /// Private watermark key file (any file of at least 16 random bytes)
    /// [default: the built-in public key, so anyone can verify].
    #[arg(long)]
    pub wm_key: Option<PathBuf>,
    /// Replace existing output files (batch: re-stamp files the catalogue has).
    #[arg(long)]
    pub force: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub batch: BatchArgs,
}

/// Options of batch runs (`stamp --out-dir`, `verify` on folders).
#[derive(Debug, Args)]
pub struct BatchArgs {
    /// Stamp a whole catalogue: mirror the inputs' folders under DIR.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    /// Catalogue of stamps: a SQLite file, or a postgres://USER@HOST/DB URL
    /// shared by many machines [default: OUT_DIR/earmark-catalogue.db].
    #[arg(long, value_name = "PATH|URL")]
    pub catalogue: Option<Location>,
    /// Write one JSON record per input to this file (JSON Lines).
    #[arg(long, value_name = "FILE.jsonl")]
    pub report: Option<PathBuf>,
    /// Files processed at once [default: one per CPU].
    #[arg(long, short = 'j', default_value_t = 0, hide_default_value = true)]
    pub jobs: usize,
    /// Only this share of the files: I/N (0-based), by a stable hash of each
    /// file's relative path, for array jobs on a cluster.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Output format of stamps: flac, wav or mp3 (a lossy re-encode at
    /// --bitrate) [default: flac, or --out's extension].
    #[arg(long)]
    pub format: Option<String>,
}

/// A bitrate in kbit/s: `320k`, `320K` or `320`.
fn parse_bitrate(s: &str) -> Result<u32, String> {
    let digits = s.strip_suffix(['k', 'K']).unwrap_or(s);
    digits
        .parse::<u32>()
        .ok()
        .filter(|b| earmark::stamp::MP3_BITRATES.contains(b))
        .ok_or_else(|| {
            format!(
                "{s:?} is not an MP3 bitrate; choose one of {}",
                earmark::stamp::MP3_BITRATES
                    .map(|b| format!("{b}k"))
                    .join(", ")
            )
        })
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Files or folders to check (folders are searched recursively, in parallel).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Name the track a decoded payload points to from this catalogue (a
    /// SQLite file or a postgres:// URL).
    #[arg(long, value_name = "PATH|URL")]
    pub catalogue: Option<Location>,
    /// Write one JSON record per file to this file (JSON Lines).
    #[arg(long, value_name = "FILE.jsonl")]
    pub report: Option<PathBuf>,
    /// Files checked at once [default: one per CPU].
    #[arg(long, short = 'j', default_value_t = 0, hide_default_value = true)]
    pub jobs: usize,
    /// Public keys you trust: a PEM file (one key or a bundle) or a folder of
    /// .pem files; repeatable. Signatures by other keys are reported as untrusted.
    #[arg(long)]
    pub trust: Vec<PathBuf>,
    /// Private watermark key the files were stamped with [default: the built-in public key].
    #[arg(long)]
    pub wm_key: Option<PathBuf>,
    /// Root certificates (PEM) you trust for Content Credentials (C2PA):
    /// signers whose chains lead to one are reported as trusted.
    #[arg(long, value_name = "ROOTS.pem")]
    pub c2pa_trust: Option<PathBuf>,
    /// Skip the speed, tempo and pitch search that runs when no marker is
    /// found plainly: unmarked files are checked several times faster, but
    /// sped-up, slowed or pitch-shifted copies are missed.
    #[arg(long)]
    pub no_search: bool,
    /// One JSON object per file on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The catalogue to resolve payloads in: a SQLite file or a
    /// postgres://USER@HOST/DB URL (several replicas can share one).
    #[arg(long, value_name = "PATH|URL")]
    pub catalogue: Location,
    /// Address and port to listen on (0.0.0.0:8080 for every interface).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR:PORT")]
    pub listen: std::net::SocketAddr,
    /// Bearer tokens (one per line) that may publish rows with POST
    /// /v1/catalogue/entries [default: writes are refused].
    #[arg(long, value_name = "FILE")]
    pub write_token_file: Option<PathBuf>,
    /// Bearer tokens (one per line) needed for every read [default: reads are
    /// open]. Write tokens read too.
    #[arg(long, value_name = "FILE", alias = "read-token")]
    pub read_token_file: Option<PathBuf>,
    /// Largest upload, in bytes or with a K, M or G suffix (binary).
    #[arg(long, default_value = "1G", value_parser = parse_size, value_name = "SIZE")]
    pub max_upload: u64,
    /// Longest a request may take, upload included, in seconds.
    #[arg(long, default_value_t = 120.0, value_name = "SECONDS")]
    pub request_timeout: f64,
    /// Folder for uploads in progress (unlinked files: nothing is left
    /// behind) [default: the system's temporary folder].
    #[arg(long, value_name = "DIR")]
    pub spool_dir: Option<PathBuf>,
    /// Uploads decoded at once [default: one per CPU].
    #[arg(long, default_value_t = 0, hide_default_value = true)]
    pub decoders: usize,
    /// Public keys you trust (as verify --trust).
    #[arg(long)]
    pub trust: Vec<PathBuf>,
    /// Private watermark key the catalogue's files were stamped with.
    #[arg(long)]
    pub wm_key: Option<PathBuf>,
    /// Root certificates (PEM) you trust for Content Credentials (C2PA).
    #[arg(long, value_name = "ROOTS.pem")]
    pub c2pa_trust: Option<PathBuf>,
    /// Skip the speed, tempo and pitch search on uploads without a plain marker.
    #[arg(long)]
    pub no_search: bool,
}

/// Reads `1048576`, `512K`, `64M`, `1G` (binary multiples).
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (digits, shift) = match t.char_indices().last() {
        Some((i, 'k' | 'K')) => (&t[..i], 10),
        Some((i, 'm' | 'M')) => (&t[..i], 20),
        Some((i, 'g' | 'G')) => (&t[..i], 30),
        _ => (t, 0),
    };
    digits
        .trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1u64 << shift))
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("{s:?} is not a size (e.g. 1G, 512M, 1048576)"))
}

/// The declaration options shared by `stamp` and `tag`.
#[derive(Debug, Args)]
pub struct DeclareArgs {
    /// What the declaration says: no-ai-training (all AI/ML training prohibited),
    /// no-genai-training, no-data-mining, search-only, or allow.
    #[arg(long, default_value = "no-ai-training", value_parser = parse_policy)]
    pub policy: PolicyKind,
    /// Copyright owner, written as "YEAR OWNER. All rights reserved."
    /// [default: the artist, if known].
    #[arg(long)]
    pub owner: Option<String>,
    /// URL of your full terms (TDMRep policy, ID3 WCOP, XMP web statement).
    #[arg(long)]
    pub terms_url: Option<String>,
    /// Human-readable notice [default: generated from the policy].
    #[arg(long)]
    pub notice: Option<String>,
}

#[derive(Debug, Args)]
pub struct TagArgs {
    /// Files to tag.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Your Ed25519 private key (signs the manifest).
    #[arg(long, short)]
    pub key: PathBuf,
    /// Output file (one input) or existing folder (several inputs)
    /// [default: NAME.earmark.EXT next to each input].
    #[arg(long, short)]
    pub out: Option<PathBuf>,
    /// Title recorded in the manifest [default: the file's title tag].
    #[arg(long)]
    pub title: Option<String>,
    /// Artist recorded in the manifest [default: the file's artist tag].
    #[arg(long)]
    pub artist: Option<String>,
    #[command(flatten)]
    pub declare: DeclareArgs,
    #[command(flatten)]
    pub credentials: CredentialsArgs,
    /// Replace existing output files.
    #[arg(long)]
    pub force: bool,
    /// One JSON object per file on stdout.
    #[arg(long)]
    pub json: bool,
}

/// The Content Credentials (C2PA) options shared by `stamp` and `tag`.
#[derive(Debug, Args)]
pub struct CredentialsArgs {
    /// Certificate chain (PEM, signing certificate first) for your key, from
    /// your label's or a public CA, to sign the C2PA manifest with
    /// [default: NAME.cert.pem beside the key, from `earmark keygen`; else a
    /// self-issued chain made from the key].
    #[arg(long, value_name = "CHAIN.pem")]
    pub cert: Option<PathBuf>,
    /// Leave out the C2PA manifest (Content Credentials).
    #[arg(long, conflicts_with = "cert")]
    pub no_c2pa: bool,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Files to inspect.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Public keys you trust: a PEM file (one key or a bundle) or a folder of
    /// .pem files; repeatable.
    #[arg(long)]
    pub trust: Vec<PathBuf>,
    /// Private watermark key [default: the built-in public key].
    #[arg(long)]
    pub wm_key: Option<PathBuf>,
    /// Root certificates (PEM) you trust for Content Credentials (C2PA).
    #[arg(long, value_name = "ROOTS.pem")]
    pub c2pa_trust: Option<PathBuf>,
    /// One JSON object per file on stdout.
    #[arg(long)]
    pub json: bool,
}

fn parse_policy(s: &str) -> Result<PolicyKind, String> {
    s.parse::<PolicyKind>().map_err(|e| e.to_string())
}

#[derive(Debug, Subcommand)]
pub enum CatalogueCommand {
    /// One line per stamped file.
    List {
        /// The catalogue (a SQLite file or a postgres:// URL).
        catalogue: Location,
    },
    /// Everything recorded for one payload (KEY:TRACK, as verify prints them,
    /// e.g. 1a2b3c4d:42) or one output file.
    Show {
        /// The catalogue (a SQLite file or a postgres:// URL).
        catalogue: Location,
        /// KEY:TRACK or an output path.
        what: String,
    },
    /// Every row as CSV or JSON Lines, to stdout or --out.
    Export {
        /// The catalogue (a SQLite file or a postgres:// URL).
        catalogue: Location,
        /// csv or jsonl.
        #[arg(long, default_value = "csv")]
        format: String,
        /// Output file [default: stdout].
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Merge shard catalogues into one; refuses a track id given to two tracks.
    Merge {
        /// Catalogues to merge (SQLite files or postgres:// URLs).
        #[arg(required = true)]
        inputs: Vec<Location>,
        /// The merged catalogue (created if missing).
        #[arg(long, value_name = "PATH|URL")]
        into: Location,
    },
    /// Copy every row of one catalogue into another, SQLite <-> PostgreSQL
    /// (rows already there are skipped; a conflicting row stops it with
    /// nothing copied).
    Migrate {
        /// The catalogue to copy from.
        #[arg(value_name = "SRC")]
        from: Location,
        /// The catalogue to copy into (created if missing).
        #[arg(value_name = "DST")]
        into: Location,
    },
}
