//! Command-line front end. Holds no watermark or crypto logic: it turns
//! arguments into library options, calls the library, prints the results
//! and chooses the exit code.
//!
//! Exit codes: 0 success (for `verify`: every file marked, manifest
//! consistent), 1 no marker found in at least one file, 2 error (bad input,
//! unreadable file, bad arguments), 3 a marker was found but its manifest is
//! invalid or contradicts it. `robustness` exits 0 when every requirement
//! passes and 1 otherwise.

/// `println!` that ignores a closed stdout (e.g. `earmark verify … | head -1`)
/// instead of panicking; the exit code still reflects the results.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

mod args;
mod print;

use args::{Cli, Command};
use clap::Parser;
use earmark::mark::WatermarkKey;
use earmark::provenance::{self, Policy};
use std::path::Path;

/// Exit code for errors.
const EXIT_ERROR: i32 = 2;

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
    match cli.command {
        Command::Keygen(a) => keygen(&a),
        Command::Stamp(a) => stamp(&a),
        Command::Verify(a) => verify(&a),
        Command::Tag(a) => tag(&a),
        Command::Inspect(a) => inspect(&a),
        Command::Robustness(a) => robustness(&a),
    }
}

fn fail(msg: impl std::fmt::Display) -> i32 {
    eprintln!("earmark: {msg}");
    EXIT_ERROR
}

fn wm_key(path: Option<&Path>) -> Result<WatermarkKey, String> {
    match path {
        None => Ok(WatermarkKey::public()),
        Some(p) => {
            let bytes = std::fs::read(p)
                .map_err(|e| format!("{}: cannot read watermark key: {e}", p.display()))?;
            if bytes.len() < 16 {
                return Err(format!(
                    "{}: watermark key too short ({} bytes; use at least 16 random bytes)",
                    p.display(),
                    bytes.len()
                ));
            }
            Ok(WatermarkKey::from_bytes(&bytes))
        }
    }
}

fn keygen(a: &args::KeygenArgs) -> i32 {
    let key = provenance::SigningKeyPair::generate();
    let public_path = provenance::public_key_path_for(&a.out);
    // Check both first so a refusal leaves nothing half-written.
    for p in [&a.out, &public_path] {
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
    out!(
        "private key  {} (keep it secret; mode 0600)",
        a.out.display()
    );
    out!(
        "public key   {} (share it: verifiers pass it to --trust)",
        public_path.display()
    );
    out!("fingerprint  {}", pk.short_fingerprint());
    out!("marker id    {:08x}", pk.fingerprint32());
    0
}

fn stamp(a: &args::StampArgs) -> i32 {
    let key = match provenance::read_signing_key(&a.key) {
        Ok(k) => k,
        Err(e) => return fail(e),
    };
    let wm = match wm_key(a.wm_key.as_deref()) {
        Ok(k) => k,
        Err(e) => return fail(e),
    };
    if !(a.strength > 0.0 && a.strength <= 4.0) {
        return fail(format!("--strength must be in (0, 4], got {}", a.strength));
    }
    let mut opts = earmark::StampOptions::new(key);
    opts.wm_key = wm;
    opts.out = a.out.clone();
    opts.title = a.title.clone();
    opts.artist = a.artist.clone();
    opts.track_id = a.track_id;
    opts.strength = a.strength;
    opts.policy = policy(&a.declare);
    opts.owner = a.declare.owner.clone();
    opts.force = a.force;
    match earmark::stamp_file(&a.input, &opts) {
        Ok(outcome) => {
            print::stamp(&outcome, a.json);
            0
        }
        Err(e) => fail(e),
    }
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
    let key = match provenance::read_signing_key(&a.key) {
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
    let mut code = 0;
    for input in &a.files {
        let mut opts = earmark::tag::TagOptions::new(key.clone());
        opts.policy = policy(&a.declare);
        opts.owner = a.declare.owner.clone();
        opts.title = a.title.clone();
        opts.artist = a.artist.clone();
        opts.force = a.force;
        opts.out = match out_dir {
            Some(dir) => {
                let name = earmark::tag::default_tag_output(input);
                name.file_name().map(|n| dir.join(n))
            }
            None => a.out.clone(),
        };
        match earmark::tag::tag_file(input, &opts) {
            Ok(o) => print::tag(&o, a.json),
            Err(e) => {
                if a.json {
                    print::json_error(input, &e);
                }
                code = fail(e);
            }
        }
    }
    code
}

fn inspect(a: &args::InspectArgs) -> i32 {
    let mut opts = earmark::VerifyOptions::default();
    match wm_key(a.wm_key.as_deref()) {
        Ok(k) => opts.wm_key = k,
        Err(e) => return fail(e),
    }
    for t in &a.trust {
        match provenance::read_public_key(t) {
            Ok(k) => opts.trusted.push(k),
            Err(e) => return fail(e),
        }
    }
    let mut code = 0;
    for path in &a.files {
        let c = match earmark::inspect::inspect_file(path, &opts) {
            Ok(o) => {
                print::inspect(&o, a.json);
                o.exit_code()
            }
            Err(e) => {
                if a.json {
                    print::json_error(path, &e);
                }
                fail(e)
            }
        };
        code = worst(code, c);
    }
    code
}

fn verify(a: &args::VerifyArgs) -> i32 {
    let mut opts = earmark::VerifyOptions::default();
    match wm_key(a.wm_key.as_deref()) {
        Ok(k) => opts.wm_key = k,
        Err(e) => return fail(e),
    }
    for t in &a.trust {
        match provenance::read_public_key(t) {
            Ok(k) => opts.trusted.push(k),
            Err(e) => return fail(e),
        }
    }
    let mut code = 0;
    for path in &a.files {
        let c = match earmark::verify_file(path, &opts) {
            Ok(outcome) => {
                print::verify(&outcome, a.json);
                outcome.exit_code()
            }
            Err(e) => {
                if a.json {
                    print::json_error(path, &e);
                }
                fail(e)
            }
        };
        // Errors outrank everything; then invalid manifests; then "no marker".
        code = worst(code, c);
    }
    code
}

fn worst(a: i32, b: i32) -> i32 {
    let rank = |c: i32| match c {
        0 => 0,
        1 => 1,
        3 => 2,
        _ => 3,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

fn robustness(a: &args::RobustnessArgs) -> i32 {
    let mut opts = earmark::report::RobustnessOptions::new(a.paths.clone());
    opts.payloads_per_track = a.payloads;
    opts.clips_per_track = a.clips;
    opts.fp_windows = a.fp_windows;
    opts.strength = a.strength;
    opts.seed = a.seed;
    opts.stamped_dir = a.stamped_dir.clone();
    opts.threads = a.jobs;
    opts.progress = !a.json;
    match earmark::report::run(&opts) {
        Ok(report) => {
            if a.json {
                match serde_json::to_string_pretty(&report) {
                    Ok(s) => out!("{s}"),
                    Err(e) => return fail(e),
                }
            } else {
                out!("{report}");
            }
            if report.passed() {
                0
            } else {
                1
            }
        }
        Err(e) => fail(e),
    }
}
