//! Command-line front end: it parses arguments, calls the library, prints
//! the results and exits with the status the library decides (see
//! `earmark::exit`). It holds no watermark, crypto or container logic.

/// `println!` that ignores a closed stdout (e.g. `earmark verify … | head -1`)
/// instead of panicking, and prints nothing under `-q`; the exit code still
/// reflects the results.
macro_rules! out {
    ($($arg:tt)*) => {{
        if !$crate::cli::quiet() {
            use std::io::Write as _;
            let _ = writeln!(std::io::stdout(), $($arg)*);
        }
    }};
}

/// Prints a note or warning on stderr, unless `-q` (errors go through
/// `fail`, always).
macro_rules! note {
    ($($arg:tt)*) => {{
        if !$crate::cli::quiet() {
            eprintln!($($arg)*);
        }
    }};
}

mod args;
mod print;
mod progress;

use args::{Cli, Command};
use clap::Parser;
use earmark::exit::Status;
use earmark::keyfile;
use earmark::output::FileOutput;
use earmark::provenance;
use earmark::Policy;
use std::path::Path;

/// Exit code for errors.
const EXIT_ERROR: i32 = 2;

/// `-q`: nothing but errors.
static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether `-q` was given.
pub(crate) fn quiet() -> bool {
    QUIET.load(std::sync::atomic::Ordering::Relaxed)
}

/// Runs the command line and returns the process exit code.
pub fn run() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_ERROR } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    QUIET.store(cli.quiet, std::sync::atomic::Ordering::Relaxed);
    // A panic inside a per-file job becomes that file's error (see
    // earmark::error::per_file): only panics nothing catches are printed.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !earmark::error::panic_is_caught() {
            default_hook(info);
        }
    }));
    // Ctrl-C or a kill: remove this run's temporary files (a long stamp
    // can have hundreds of MB in one), then exit as interrupted. The
    // service handles both signals itself: it finishes what is in flight.
    if !matches!(cli.command, Command::Serve(_)) {
        let _ = ctrlc::set_handler(|| {
            eprintln!("earmark: interrupted; temporary files removed");
            earmark::output::exit_removing_temps(130)
        });
    }
    match cli.command {
        Command::Keygen(a) => keygen(&a),
        Command::Stamp(a) => stamp(&a),
        Command::Verify(a) => verify(&a),
        Command::Tag(a) => tag(&a),
        Command::Inspect(a) => inspect(&a),
        Command::Catalogue(c) => catalogue(c),
        Command::Serve(a) => serve(&a),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "earmark", &mut std::io::stdout());
            0
        }
        Command::Man => {
            use clap::CommandFactory;
            match clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout()) {
                Ok(()) => 0,
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
                Err(e) => fail(format!("cannot write the man page: {e}")),
            }
        }
        Command::External(words) => external(&words),
    }
}

fn fail(msg: impl std::fmt::Display) -> i32 {
    eprintln!("earmark: {msg}");
    EXIT_ERROR
}

fn keygen(a: &args::KeygenArgs) -> i32 {
    let key = provenance::SigningKeyPair::generate();
    let public_path = provenance::public_key_path_for(&a.out);
    // Check both first so a refusal leaves nothing half-written.
    let cert_path = keyfile::certificate_path_for(&a.out);
    for p in [&a.out, &public_path, &cert_path] {
        if !a.force && p.exists() {
            return fail(format!(
                "{}: file exists (use --force to overwrite)",
                p.display()
            ));
        }
    }
    if let Err(e) = provenance::write_private_key_pem(&a.out, &key, a.force) {
        return fail(e);
    }
    if let Err(e) = provenance::write_public_key_pem(&public_path, &key.public_key(), a.force) {
        return fail(e);
    }
    let pk = key.public_key();
    let name = a
        .name
        .clone()
        .unwrap_or_else(|| earmark::credentials::CertificateChain::default_name(&pk));
    let chain = earmark::credentials::CertificateChain::self_issued(&key, &name);
    let cert_path = keyfile::certificate_path_for(&a.out);
    if let Err(e) = keyfile::write_certificate_chain(&cert_path, &chain, a.force) {
        return fail(e);
    }
    out!(
        "private key  {} (keep it secret; mode 0600)",
        a.out.display()
    );
    out!(
        "public key   {} (share it: verifiers pass it to --trust)",
        public_path.display()
    );
    out!(
        "certificate  {} (self-issued for \"{name}\"; C2PA validators show it as valid, issuer not on a trust list)",
        cert_path.display()
    );
    out!("fingerprint  {}", pk.short_fingerprint());
    out!("marker id    {:08x}", pk.fingerprint32());
    0
}

/// The certificate chain `--cert`/`--no-c2pa` ask for (see
/// [`keyfile::credentials_chain`]).
fn credentials_chain(
    key_path: &Path,
    key: &provenance::SigningKeyPair,
    a: &args::CredentialsArgs,
) -> Result<Option<earmark::credentials::CertificateChain>, earmark::Error> {
    if a.no_c2pa {
        return Ok(None);
    }
    keyfile::credentials_chain(key_path, key, a.cert.as_deref()).map(Some)
}

fn stamp(a: &args::StampArgs) -> i32 {
    let key = match keyfile::read_signing_key(&a.key) {
        Ok(k) => k,
        Err(e) => return fail(e),
    };
    let wm = match keyfile::watermark_key_or_public(a.wm_key.as_deref()) {
        Ok(k) => k,
        Err(e) => return fail(e),
    };
    let chain = match credentials_chain(&a.key, &key, &a.credentials) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let mut opts = earmark::StampOptions::new(key);
    opts.credentials = chain;
    opts.wm_key = wm;
    opts.title = a.title.clone();
    opts.artist = a.artist.clone();
    opts.track_id = a.track_id;
    opts.strength = a.strength;
    opts.seal = !a.no_seal;
    opts.policy = policy(&a.declare);
    opts.owner = a.declare.owner.clone();
    opts.mp3_kbps = a.bitrate;
    let format = match output_format(a) {
        Ok(f) => f,
        Err(e) => return fail(e),
    };
    match source_date_epoch() {
        Ok(t) => opts.created = t,
        Err(e) => return fail(e),
    }
    if let Err(e) = opts.validate() {
        return fail(e);
    }
    if let Some(dir) = &a.batch.out_dir {
        // Name only the option that was given.
        if a.out.is_some() {
            return fail(
                "--out names one output file; with --out-dir the outputs are named after the inputs (give one or the other)",
            );
        }
        if a.track_id.is_some() {
            return fail(
                "--track-id is for one file; with --out-dir the catalogue allocates a track id per file",
            );
        }
        let mut b = earmark::batch::BatchOptions::new(opts, dir.clone());
        b.policy_name = a.declare.policy.name().to_string();
        b.catalogue = a.batch.catalogue.clone();
        b.jobs = a.batch.jobs;
        b.force = a.force;
        b.extension = format.to_string();
        if let Some(s) = &a.batch.shard {
            match earmark::batch::discover::Shard::parse(s) {
                Ok(s) => b.shard = s,
                Err(e) => return fail(e),
            }
        }
        return stamp_batch(&a.inputs, &b, a);
    }
    if a.inputs.len() > 1 {
        return fail("several inputs: give --out-dir DIR for the stamped copies");
    }
    if a.inputs[0].is_dir() {
        return fail(format!(
            "{}: is a directory; to stamp every audio file in it, give --out-dir DIR",
            a.inputs[0].display()
        ));
    }
    let given = &a.inputs[0];
    let to_stdout = a.out.as_deref() == Some(Path::new("-"));
    // `-` (or /dev/stdin): the input arrives on standard input and is
    // spooled to a temporary file first (decoding needs to seek).
    let spooled = if is_stdin(given) {
        if a.out.is_none() {
            return fail(
                "stamping standard input needs --out FILE (or --out - for standard output)",
            );
        }
        match spool_stdin_named() {
            Ok(t) => Some(t),
            Err(e) => return fail(e),
        }
    } else {
        None
    };
    let input = spooled.as_ref().map_or(given.as_path(), |t| t.path());
    // The track id comes from (or is checked against) the machine's
    // registry, so no two songs of one key share a payload.
    let source = match &spooled {
        Some(_) => match earmark::catalogue::registry::file_source("standard input", input) {
            Ok(source) => source,
            Err(e) => return fail(format!("-: {e}")),
        },
        None => {
            let abs = std::path::absolute(input).unwrap_or_else(|_| input.to_path_buf());
            abs.to_string_lossy().into_owned()
        }
    };
    match registered_track_id(&opts, &source) {
        Ok(id) => opts.track_id = Some(id),
        Err(e) => return fail(e),
    }
    if to_stdout {
        if format != "flac" {
            return fail(format!(
                "--out - writes FLAC; to get {format}, give --out FILE.{format}"
            ));
        }
        return stamp_to_stdout(input, given, &opts, a.json);
    }
    // --format without --out: the default name with that extension.
    let out_path = a.out.clone().or_else(|| {
        (spooled.is_none() && format != "flac")
            .then(|| earmark::naming::stamped_path(given).with_extension(format))
    });
    let out = FileOutput::to(out_path).force(a.force);
    match earmark::error::per_file(given, || earmark::stamp_file(input, &out, &opts)) {
        Ok(mut outcome) => {
            outcome.input = given.clone();
            print::stamp(&outcome, a.json);
            0
        }
        Err(e) => fail(e.instead_of(input, given)),
    }
}

/// The output format `stamp` writes: `--format`, else `--out`'s extension,
/// else FLAC; the two must agree when both are given.
fn output_format(a: &args::StampArgs) -> Result<&'static str, String> {
    let known = |f: &str| match f.to_ascii_lowercase().as_str() {
        "flac" => Some("flac"),
        "wav" | "wave" => Some("wav"),
        "mp3" => Some("mp3"),
        _ => None,
    };
    let given = match &a.batch.format {
        Some(f) => {
            Some(known(f).ok_or_else(|| format!("--format must be flac, wav or mp3, got {f:?}"))?)
        }
        None => None,
    };
    let from_out = a
        .out
        .as_deref()
        .filter(|p| *p != Path::new("-"))
        .and_then(|p| p.extension())
        .and_then(|e| known(&e.to_string_lossy()));
    match (given, from_out) {
        (Some(f), Some(o)) if f != o => Err(format!(
            "--format {f} and --out {} disagree; give one of them",
            a.out.as_deref().unwrap_or(Path::new("")).display()
        )),
        (Some(f), _) | (None, Some(f)) => Ok(f),
        (None, None) => Ok("flac"),
    }
}

/// Whether a command-line path means standard input: `-`, or one of the
/// names the system gives it.
fn is_stdin(p: &Path) -> bool {
    ["-", "/dev/stdin", "/dev/fd/0", "/proc/self/fd/0"]
        .iter()
        .any(|name| p == Path::new(name))
}

/// Standard input, refused when it is a terminal (nothing was piped in).
fn piped_stdin() -> Result<std::io::Stdin, String> {
    use std::io::IsTerminal as _;
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Err(
            "-: standard input is a terminal; pipe a file in (earmark verify - < clip.mp3)".into(),
        );
    }
    Ok(stdin)
}

/// Standard input copied into an unlinked temporary file, at its start.
fn spool_stdin() -> Result<std::fs::File, String> {
    use std::io::Seek as _;
    let stdin = piped_stdin()?;
    let mut file =
        tempfile::tempfile().map_err(|e| format!("-: cannot spool standard input: {e}"))?;
    std::io::copy(&mut stdin.lock(), &mut file)
        .and_then(|_| file.rewind())
        .map_err(|e| format!("-: cannot read standard input: {e}"))?;
    Ok(file)
}

/// Standard input copied into a named temporary file (removed when
/// dropped), for the steps that open their input by path.
fn spool_stdin_named() -> Result<tempfile::NamedTempFile, String> {
    let stdin = piped_stdin()?;
    let mut file = tempfile::Builder::new()
        .prefix(".earmark-stdin-")
        .tempfile()
        .map_err(|e| format!("-: cannot spool standard input: {e}"))?;
    std::io::copy(&mut stdin.lock(), file.as_file_mut())
        .map_err(|e| format!("-: cannot read standard input: {e}"))?;
    Ok(file)
}

/// `stamp … --out -`: FLAC on standard output, written front to back. A
/// pipe cannot be read back, so no Content Credentials and no sidecar; what
/// was stamped goes to stderr (stdout carries the audio).
fn stamp_to_stdout(input: &Path, given: &Path, opts: &earmark::StampOptions, json: bool) -> i32 {
    use std::io::{IsTerminal as _, Write as _};
    let stdout = std::io::stdout();
    if stdout.is_terminal() {
        return fail(
            "--out -: standard output is a terminal; redirect it (> stamped.flac) or pipe it",
        );
    }
    let file = match std::fs::File::open(input) {
        Ok(f) => f,
        Err(e) => return fail(format!("{}: {e}", given.display())),
    };
    let mut sink = std::io::BufWriter::new(stdout.lock());
    let stamped = earmark::error::per_file(given, || {
        earmark::stamp_to_stream(std::io::BufReader::new(file), &mut sink, opts)
    })
    .map_err(|e| e.instead_of(input, given));
    let flushed = sink.flush();
    match (stamped, flushed) {
        (Ok(st), Ok(())) => {
            for w in &st.warnings {
                note!("earmark: warning: {}: {w}", given.display());
            }
            if json {
                note!("{}", st.to_json());
            } else {
                note!(
                    "earmark: stamped {} to standard output (FLAC, {:.1} s): marker {:08x}:{}; no Content Credentials or sidecar on a stream",
                    given.display(),
                    st.seconds,
                    st.payload.key_fingerprint,
                    st.payload.track_id
                );
            }
            0
        }
        (Err(e), _) => fail(e),
        (_, Err(e)) => fail(format!("standard output: {e}")),
    }
}

/// A single-file stamp's track id: the one asked for (refused if this
/// machine gave it to another song, i.e. another input, of the same key
/// before), else the id this input had before, else a random one the
/// registry never gave out (see the library's `single_stamp_track_id`).
fn registered_track_id(opts: &earmark::StampOptions, source: &str) -> Result<u32, String> {
    earmark::catalogue::registry::single_stamp_track_id(
        opts.signing_key.public_key().fingerprint32(),
        opts.track_id,
        source,
    )
    .map_err(|e| e.replace("leave out the track id", "leave out --track-id"))
}

/// The time a manifest records when `SOURCE_DATE_EPOCH` (the
/// reproducible-builds convention: Unix seconds) is set, so the same input,
/// key and track id give the same bytes on every run and from every front
/// end; `None` (now) when it is not.
fn source_date_epoch() -> Result<Option<std::time::SystemTime>, String> {
    let Some(v) = std::env::var_os("SOURCE_DATE_EPOCH") else {
        return Ok(None);
    };
    let text = v.to_string_lossy();
    let secs: u64 = text
        .trim()
        .parse()
        .map_err(|_| format!("SOURCE_DATE_EPOCH must be whole seconds since 1970, got {text:?}"))?;
    Ok(Some(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs),
    ))
}

/// The policy the declaration options describe.
fn policy(d: &args::DeclareArgs) -> Policy {
    let mut p = Policy::from_kind(d.policy);
    if let Some(url) = &d.terms_url {
        p.terms_url = Some(url.clone());
    }
    if let Some(n) = &d.notice {
        p.notice = n.clone();
    }
    p
}

fn tag(a: &args::TagArgs) -> i32 {
    let key = match keyfile::read_signing_key(&a.key) {
        Ok(k) => k,
        Err(e) => return fail(e),
    };
    let out_dir = a.out.as_ref().filter(|o| a.files.len() > 1 || o.is_dir());
    if let Some(dir) = out_dir {
        if !dir.is_dir() {
            return fail(format!(
                "{}: with several inputs --out must be an existing folder",
                dir.display()
            ));
        }
    }
    let chain = match credentials_chain(&a.key, &key, &a.credentials) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let mut opts = earmark::TagOptions::new(key);
    opts.credentials = chain;
    opts.policy = policy(&a.declare);
    opts.owner = a.declare.owner.clone();
    opts.title = a.title.clone();
    opts.artist = a.artist.clone();
    let mut status = Status::Ok;
    for input in &a.files {
        let path = match out_dir {
            Some(dir) => earmark::naming::tagged_path(input)
                .file_name()
                .map(|n| dir.join(n)),
            None => a.out.clone(),
        };
        let out = FileOutput::to(path).force(a.force);
        match earmark::error::per_file(input, || earmark::tag_file(input, &out, &opts)) {
            Ok(o) => print::tag(&o, a.json),
            Err(e) => {
                if a.json {
                    print::json_error("tag", input, &e);
                }
                fail(&e);
                status = status.worst(Status::Error);
            }
        }
    }
    status.code()
}

/// Verify options from `--wm-key`, `--trust` and `--c2pa-trust` (shared
/// by verify and inspect).
fn verify_options(
    wm: Option<&Path>,
    trust: &[std::path::PathBuf],
    c2pa_trust: Option<&Path>,
) -> Result<earmark::VerifyOptions, earmark::Error> {
    let mut opts = earmark::VerifyOptions::default();
    opts.wm_key = keyfile::watermark_key_or_public(wm)?;
    opts.trusted = keyfile::read_trusted(trust)?;
    opts.c2pa_trust = c2pa_trust.map(keyfile::read_c2pa_trust).transpose()?;
    Ok(opts)
}

fn serve(a: &args::ServeArgs) -> i32 {
    use earmark::serve::{ServeOptions, Server};
    let mut opts = ServeOptions::new(a.catalogue.clone());
    opts.listen = a.listen;
    opts.verify = match verify_options(a.wm_key.as_deref(), &a.trust, a.c2pa_trust.as_deref()) {
        Ok(o) => o,
        Err(e) => return fail(e),
    };
    opts.verify.search = !a.no_search;
    let tokens =
        |p: &Option<std::path::PathBuf>| p.as_deref().map(keyfile::read_tokens).transpose();
    match (tokens(&a.write_token_file), tokens(&a.read_token_file)) {
        (Ok(w), Ok(r)) => {
            opts.write_tokens = w.unwrap_or_default();
            opts.read_tokens = r.unwrap_or_default();
        }
        (Err(e), _) | (_, Err(e)) => return fail(e),
    }
    opts.max_upload = a.max_upload;
    if !(a.request_timeout.is_finite() && a.request_timeout > 0.0) {
        return fail(format!(
            "--request-timeout must be a positive number of seconds, got {}",
            a.request_timeout
        ));
    }
    opts.request_timeout = std::time::Duration::from_secs_f64(a.request_timeout);
    if let Some(d) = &a.spool_dir {
        opts.spool_dir = d.clone();
    }
    if a.decoders > 0 {
        opts.decoders = a.decoders;
    }
    opts.log = !quiet();
    let (reads, writes) = (
        if opts.read_tokens.is_empty() {
            "reads open"
        } else {
            "reads need a token"
        },
        if opts.write_tokens.is_empty() {
            "writes off"
        } else {
            "writes need a token"
        },
    );
    let server = match Server::bind(opts) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    match server.local_addr() {
        Ok(addr) => eprintln!(
            "earmark: serving {} on http://{addr} ({reads}, {writes}); SIGTERM or Ctrl-C stops",
            a.catalogue
        ),
        Err(e) => return fail(e),
    }
    match server.run() {
        Ok(()) => {
            eprintln!("earmark: stopped; every request in flight was answered");
            0
        }
        Err(e) => fail(e),
    }
}

fn inspect(a: &args::InspectArgs) -> i32 {
    let opts = match verify_options(a.wm_key.as_deref(), &a.trust, a.c2pa_trust.as_deref()) {
        Ok(o) => o,
        Err(e) => return fail(e),
    };
    let mut status = Status::Ok;
    for path in &a.files {
        let s = match earmark::error::per_file(path, || earmark::inspect_file(path, &opts)) {
            Ok(o) => {
                print::inspect(&o, a.json);
                o.status()
            }
            Err(e) => {
                if a.json {
                    print::json_error("inspect", path, &e);
                }
                fail(e);
                Status::Error
            }
        };
        status = status.worst(s);
    }
    status.code()
}

fn verify(a: &args::VerifyArgs) -> i32 {
    let mut opts = match verify_options(a.wm_key.as_deref(), &a.trust, a.c2pa_trust.as_deref()) {
        Ok(o) => o,
        Err(e) => return fail(e),
    };
    opts.search = !a.no_search;
    let mut catalogue = match &a.catalogue {
        Some(l) => match earmark::catalogue::Catalogue::open_read_only(l.clone()) {
            Ok(c) => Some(c),
            Err(e) => return fail(format!("{l}: {e}")),
        },
        None => None,
    };
    let bar = progress::Bar::new(quiet() || a.files.len() == 1);
    let items = if a.files.iter().any(|f| is_stdin(f)) {
        // `-`: one file from standard input.
        if a.files.len() > 1 {
            return fail("- (standard input) is one file: give it alone");
        }
        let file = match spool_stdin() {
            Ok(f) => f,
            Err(e) => return fail(e),
        };
        let stdin = Path::new("-");
        match earmark::error::per_file(stdin, || earmark::verify(file, &opts)) {
            Ok(v) => vec![earmark::batch::VerifyItem::Done(Box::new(v))],
            Err(e) => vec![earmark::batch::VerifyItem::Failed(
                stdin.to_path_buf(),
                e.instead_of(stdin, stdin),
            )],
        }
    } else {
        match earmark::batch::verify_batch(&a.files, &opts, a.jobs, &bar) {
            Ok(items) => items,
            Err(e) => return fail(e),
        }
    };
    bar.finish();
    let mut status = Status::Ok;
    let mut report = Vec::new();
    let (mut marked, mut consistent, mut unmarked, mut errors) = (0, 0, 0, 0);
    for item in &items {
        let s = match item {
            earmark::batch::VerifyItem::Done(outcome) => {
                let entries = match catalogue.as_mut().map(|c| c.entries_for(outcome)) {
                    Some(Ok(found)) => found,
                    Some(Err(e)) => {
                        eprintln!(
                            "earmark: warning: {}: catalogue lookup failed: {e}",
                            a.catalogue
                                .as_ref()
                                .map(|l| l.to_string())
                                .unwrap_or_default()
                        );
                        Vec::new()
                    }
                    None => Vec::new(),
                };
                print::verify(outcome, a.json, &entries, &opts.trusted);
                report.push(print::verify_json(outcome, &entries));
                // A catalogue that contradicts the file's own manifest: one
                // of them is wrong about the track.
                let contradicted = !print::split_contradictions(outcome, &entries).1.is_empty();
                let s = if contradicted {
                    Status::Invalid
                } else {
                    outcome.status()
                };
                match s {
                    _ if !outcome.marked => unmarked += 1,
                    Status::Ok => {
                        marked += 1;
                        consistent += 1;
                    }
                    _ => marked += 1,
                }
                s
            }
            earmark::batch::VerifyItem::Failed(path, e) => {
                if a.json {
                    print::json_error("verify", path, e);
                }
                report.push(earmark::records::error_record("verify", path, e));
                errors += 1;
                fail(e);
                Status::Error
            }
        };
        status = status.worst(s);
    }
    if items.len() > 1 && !a.json {
        note!(
            "earmark: {} files: {marked} marked ({consistent} consistent), {unmarked} not marked, {errors} {}",
            items.len(),
            if errors == 1 { "error" } else { "errors" }
        );
    }
    if let Some(path) = &a.report {
        if let Err(e) = write_jsonl(path, &report) {
            return fail(e);
        }
    }
    status.code()
}

/// Removes a SQLite catalogue this run created, with its journal files.
fn remove_catalogue_files(path: &Path) {
    let _ = std::fs::remove_file(path);
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut name = path.as_os_str().to_os_string();
        name.push(suffix);
        let _ = std::fs::remove_file(std::path::PathBuf::from(name));
    }
}

/// Writes JSON Lines atomically (temporary file, then rename).
fn write_jsonl(path: &Path, records: &[serde_json::Value]) -> Result<(), String> {
    let mut text = String::new();
    for r in records {
        text.push_str(&r.to_string());
        text.push('\n');
    }
    let temp = earmark::output::temp_with(path, text.as_bytes()).map_err(|e| e.to_string())?;
    earmark::output::persist(temp, path, true).map_err(|e| e.to_string())
}

fn stamp_batch(
    inputs: &[std::path::PathBuf],
    b: &earmark::batch::BatchOptions,
    a: &args::StampArgs,
) -> i32 {
    let bar = progress::Bar::new(quiet() || a.json);
    let summary = match earmark::batch::stamp_batch(inputs, b, &bar) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    bar.finish();
    print::batch_summary(&summary, a.json);
    if let Some(path) = &a.batch.report {
        let records: Vec<serde_json::Value> = summary
            .records
            .iter()
            .map(|r| earmark::records::record("batch", serde_json::to_value(r).unwrap_or_default()))
            .collect();
        if let Err(e) = write_jsonl(path, &records) {
            return fail(e);
        }
    }
    if summary.count(earmark::batch::Status::Failed) > 0 {
        EXIT_ERROR
    } else {
        0
    }
}

fn catalogue(c: args::CatalogueCommand) -> i32 {
    use earmark::catalogue::{Catalogue, Location};
    let open = |l: &Location| Catalogue::open_read_only(l.clone()).map_err(|e| format!("{l}: {e}"));
    match c {
        args::CatalogueCommand::List { catalogue } => {
            let mut cat = match open(&catalogue) {
                Ok(c) => c,
                Err(e) => return fail(e),
            };
            let mut n = 0u64;
            let listed = cat.for_each(|e| {
                n += 1;
                out!(
                    "{}:{:<10} {}  {}{}",
                    e.key_fingerprint,
                    e.track_id,
                    e.output_path,
                    e.title.as_deref().unwrap_or("(no title)"),
                    e.artist
                        .as_deref()
                        .map(|a| format!(" - {a}"))
                        .unwrap_or_default()
                );
                Ok::<_, earmark::catalogue::CatalogueError>(())
            });
            match listed {
                Ok(()) => {
                    note!("earmark: {n} stamped file(s)");
                    0
                }
                Err(e) => fail(format!("{catalogue}: {e}")),
            }
        }
        args::CatalogueCommand::Show { catalogue, what } => {
            let mut cat = match open(&catalogue) {
                Ok(c) => c,
                Err(e) => return fail(e),
            };
            match cat.find(&what) {
                Ok(Some(e)) => {
                    out!(
                        "{}",
                        serde_json::to_string_pretty(&e.summary_json()).unwrap_or_default()
                    );
                    0
                }
                Ok(None) => fail(format!("{catalogue}: no entry for {what:?}")),
                Err(e) => fail(format!("{catalogue}: {e}")),
            }
        }
        args::CatalogueCommand::Export {
            catalogue,
            format,
            out,
        } => export(&catalogue, &format, out.as_deref()),
        args::CatalogueCommand::Merge { inputs, into } => merge(&inputs, &into, "merged"),
        args::CatalogueCommand::Migrate { from, into } => {
            merge(std::slice::from_ref(&from), &into, "copied")
        }
    }
}

/// `catalogue export`: every row as CSV or JSON Lines, streamed a page at a
/// time into stdout or a temporary file renamed over `out`.
fn export(catalogue: &earmark::catalogue::Location, format: &str, out: Option<&Path>) -> i32 {
    use earmark::catalogue::Catalogue;
    use std::io::Write as _;
    let csv = match format {
        "csv" => true,
        "jsonl" => false,
        other => return fail(format!("--format must be csv or jsonl, got {other:?}")),
    };
    let mut cat = match Catalogue::open_read_only(catalogue.clone()) {
        Ok(c) => c,
        Err(e) => return fail(format!("{catalogue}: {e}")),
    };
    let written = match out {
        Some(path) => {
            let temp = match earmark::output::temp_for(path) {
                Ok(t) => t,
                Err(e) => return fail(e),
            };
            let mut w = std::io::BufWriter::new(temp.as_file());
            let r = write_export(&mut cat, csv, &mut w)
                .and_then(|()| w.flush().map_err(ExportFailure::Write));
            drop(w);
            r.and_then(|()| {
                earmark::output::persist(temp, path, true).map_err(ExportFailure::Output)
            })
            .map_err(|e| (e, path.display().to_string()))
        }
        None => {
            let mut w = std::io::BufWriter::new(std::io::stdout().lock());
            write_export(&mut cat, csv, &mut w)
                .and_then(|()| w.flush().map_err(ExportFailure::Write))
                .map_err(|e| (e, "stdout".to_string()))
        }
    };
    match written {
        Ok(()) => 0,
        Err((ExportFailure::Catalogue(e), _)) => fail(format!("{catalogue}: {e}")),
        Err((ExportFailure::Write(e), sink)) => fail(format!("{sink}: {e}")),
        Err((ExportFailure::Output(e), _)) => fail(e),
    }
}

/// Either side of an export can fail: the catalogue, or the writing and
/// renaming of the output.
enum ExportFailure {
    Catalogue(earmark::catalogue::CatalogueError),
    Write(std::io::Error),
    Output(earmark::Error),
}

impl From<earmark::catalogue::CatalogueError> for ExportFailure {
    fn from(e: earmark::catalogue::CatalogueError) -> ExportFailure {
        ExportFailure::Catalogue(e)
    }
}

fn write_export(
    cat: &mut earmark::catalogue::Catalogue,
    csv: bool,
    w: &mut impl std::io::Write,
) -> Result<(), ExportFailure> {
    use earmark::catalogue::{write_csv_header, write_csv_row};
    if csv {
        write_csv_header(w).map_err(ExportFailure::Write)?;
    }
    cat.for_each(|e| {
        if csv {
            write_csv_row(&e, w)
        } else {
            writeln!(w, "{}", serde_json::to_string(&e).unwrap_or_default())
        }
        .map_err(ExportFailure::Write)
    })
}

/// `catalogue merge` and `catalogue migrate`: every input opens before the
/// target is touched, each input is copied in one transaction, and a SQLite
/// target this command created is removed again if it fails, so a failed
/// merge leaves no new file behind.
fn merge(
    inputs: &[earmark::catalogue::Location],
    into: &earmark::catalogue::Location,
    verb: &str,
) -> i32 {
    use earmark::catalogue::Catalogue;
    let mut sources = Vec::with_capacity(inputs.len());
    for l in inputs {
        match Catalogue::open_read_only(l.clone()) {
            Ok(c) => sources.push(c),
            Err(e) => return fail(format!("{l}: {e}")),
        }
    }
    let created = into.as_path().filter(|p| !p.exists());
    let mut target = match Catalogue::open(into.clone()) {
        Ok(c) => c,
        Err(e) => return fail(format!("{into}: {e}")),
    };
    let mut total = 0;
    for (l, src) in inputs.iter().zip(&mut sources) {
        match target.merge_from(src) {
            Ok(n) => total += n,
            Err(e) => {
                drop(target);
                if let Some(p) = created {
                    remove_catalogue_files(p);
                }
                return fail(format!("{l}: {e}"));
            }
        }
    }
    out!(
        "{verb} {} catalogue(s) into {into}: {total} row(s) added, {} in total",
        inputs.len(),
        target.len().unwrap_or(0)
    );
    0
}

/// Runs `earmark-WORD` for an unknown subcommand WORD (as git and cargo
/// do), from the folder of this binary first, then from PATH.
fn external(words: &[std::ffi::OsString]) -> i32 {
    let Some((word, rest)) = words.split_first() else {
        return fail("no command given (try --help)");
    };
    let name = format!("earmark-{}", word.to_string_lossy());
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(&name)))
        .filter(|p| p.is_file());
    let program = beside.unwrap_or_else(|| std::path::PathBuf::from(&name));
    match std::process::Command::new(&program).args(rest).status() {
        Ok(status) => status.code().unwrap_or(EXIT_ERROR),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let hint = if word == "robustness" {
                "; the robustness report is part of the evaluation tools: \
                 `cargo install --path eval` installs it, or run \
                 `cargo run -p earmark-eval --release -- ARGS` in the repository"
            } else {
                " (see earmark --help for the commands)"
            };
            fail(format!(
                "unknown command {:?}: no {name} found{hint}",
                word.to_string_lossy()
            ))
        }
        Err(e) => fail(format!("{}: {e}", program.display())),
    }
}
