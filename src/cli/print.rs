//! Human and JSON output of command results.

use earmark::batch::{BatchSummary, Status};
use earmark::catalogue::Entry;
use earmark::credentials::{Credentials, CredentialsWritten};
use earmark::metadata::Carrier;
use earmark::provenance::{PublicKey, SignedManifest};
use earmark::verify::{ManifestReport, SealReport, SealStatus};
use earmark::Payload;
use earmark::{Inspection, StampOutcome, TagOutcome, Verification};
use serde_json::json;
use std::path::Path;

/// A file name for output (`-` for a stream with no name).
fn display_path(p: Option<&Path>) -> String {
    p.map_or_else(|| "-".to_string(), |p| p.display().to_string())
}

/// A payload as people read it: the `KEY:TRACK` form that `catalogue show`
/// and the Python package take, then both parts in words.
fn payload_line(p: &Payload) -> String {
    format!(
        "{} (key {:08x}, track {})",
        p.reference(),
        p.key_fingerprint,
        p.track_id
    )
}

/// Prints each warning about `input` to stderr.
fn warnings(input: &Path, list: &[String]) {
    for w in list {
        note!("earmark: warning: {}: {w}", input.display());
    }
}

/// Prints a stamp result.
pub fn stamp(o: &StampOutcome, as_json: bool) {
    let s = &o.stamped;
    warnings(&o.input, &s.warnings);
    if as_json {
        out!("{}", o.to_json());
        return;
    }
    let m = &s.manifest.manifest;
    out!("stamped   {} -> {}", o.input.display(), o.output.display());
    out!("marker    {}", payload_line(&s.payload));
    out!(
        "audio     {:.1} s, {} Hz, {} ch, {}; marker in {:.0}% of frames",
        s.seconds,
        m.audio.sample_rate,
        m.audio.channels,
        m.audio.sample_format,
        100.0 * s.stats.active_fraction()
    );
    let signer = m
        .signer_key()
        .map(|k| k.short_fingerprint())
        .unwrap_or_default();
    out!(
        "manifest  signed by {signer}; also in {}",
        o.sidecar.display()
    );
    written_credentials_line(o.credentials.as_ref());
    out!("policy    {}", m.policy.notice);
}

/// The `c2pa` line of `stamp` and `tag` output.
fn written_credentials_line(c: Option<&CredentialsWritten>) {
    match c {
        Some(c) => {
            let binds = c
                .soft_binding
                .as_deref()
                .map(|v| {
                    format!(
                        ", soft binding {} {v}",
                        earmark::credentials::SOFT_BINDING_ALG
                    )
                })
                .unwrap_or_else(|| ", no soft binding (no marker of this key in the audio)".into());
            let place = if c.location == "embedded" {
                "embedded".to_string()
            } else {
                format!(
                    "in sidecar {} (C2PA tools cannot embed into this container yet)",
                    c.location
                )
            };
            out!(
                "c2pa      Content Credentials {place}, signed as {}{binds}",
                c.signer
            );
        }
        None => out!("c2pa      none (--no-c2pa)"),
    }
}

/// The Content Credentials lines of `verify` and `inspect` output.
fn credentials_lines(c: Option<&Credentials>, error: Option<&str>) {
    if let Some(e) = error {
        out!("  c2pa        BROKEN: {e}");
        return;
    }
    let Some(c) = c else {
        out!("  c2pa        no Content Credentials");
        return;
    };
    let place = if c.source == "embedded" {
        String::new()
    } else {
        format!(" (from {})", c.source)
    };
    out!("  c2pa        {}{place}", c.summary());
    if let Some(g) = &c.generator {
        out!("  c2pa made   by {g}");
    }
    if !c.actions.is_empty() {
        out!("  c2pa did    {}", c.actions.join(", "));
    }
    if let Some(t) = &c.digital_source_type {
        let kind = t.rsplit('/').next().unwrap_or(t);
        if c.ai_generated {
            out!("  c2pa source AI-GENERATED ({kind})");
        } else {
            out!("  c2pa source {kind}");
        }
    }
    if !c.training_mining.is_empty() {
        let entries: Vec<String> = c
            .training_mining
            .iter()
            .map(|(k, v)| format!("{} {v}", k.trim_start_matches("cawg.")))
            .collect();
        out!("  c2pa policy {}", entries.join(", "));
    }
    for b in &c.soft_bindings {
        let what = match &b.payload {
            Some(p) => format!("marker {}", p.reference()),
            None => format!("{} {}", b.alg, b.value),
        };
        let verdict = match (b.payload.is_some(), c.matches_marker) {
            (true, Some(true)) => ": the audio carries it",
            (true, Some(false)) => ": NOT the marker in the audio",
            (true, None) => ": not found in the audio (cannot tell)",
            _ => "",
        };
        out!("  c2pa binds  {what}{verdict}");
    }
}

/// A verify result as one JSON object, with the catalogue entries that
/// agree with the file (`catalogue`) and, instead of those that do not,
/// why (`catalogue_contradictions`).
pub fn verify_json(o: &Verification, entries: &[Entry]) -> serde_json::Value {
    let mut v = o.to_json();
    let (agree, contradictions) = split_contradictions(o, entries);
    if !agree.is_empty() {
        v["catalogue"] = agree.iter().map(|e| e.summary_json()).collect();
    }
    if !contradictions.is_empty() {
        v["catalogue_contradictions"] = contradictions.into();
    }
    v
}

/// The catalogue entries that agree with the file, and the contradictions
/// of those that do not.
pub fn split_contradictions<'a>(
    o: &Verification,
    entries: &'a [Entry],
) -> (Vec<&'a Entry>, Vec<String>) {
    let mut agree = Vec::new();
    let mut contradictions = Vec::new();
    for e in entries {
        match e.contradiction(o) {
            Some(why) => contradictions.push(why),
            None => agree.push(e),
        }
    }
    (agree, contradictions)
}

/// Prints a verify result.
pub fn verify(o: &Verification, as_json: bool, entries: &[Entry], trusted: &[PublicKey]) {
    for w in &o.warnings {
        note!("earmark: warning: {w}");
    }
    if as_json {
        out!("{}", verify_json(o, entries));
        return;
    }
    let contradicted = !split_contradictions(o, entries).1.is_empty();
    let status = if contradicted {
        "MARKED, BUT THE CATALOGUE CONTRADICTS THE FILE"
    } else {
        o.headline()
    };
    out!("{}: {status}", display_path(o.path.as_deref()));
    out!(
        "  audio       {:.1} s, {} Hz, {} ch",
        o.seconds,
        o.sample_rate,
        o.channels
    );
    for f in &o.markers {
        out!("  payload     {}", payload_line(&f.payload));
        out!(
            "  confidence  sync z {:.1} (a marker needs {:.1} or more), {:.0}% of coded bits agree",
            f.sync_z,
            earmark::mark::Z_DECODE,
            100.0 * f.bit_agreement
        );
        if f.unit_starts.is_empty() {
            out!("  found       by combining all units (none strong enough alone)");
        } else {
            let shown: Vec<String> = f
                .unit_starts
                .iter()
                .take(8)
                .map(|t| format!("{t:.2}"))
                .collect();
            let more = f.unit_starts.len().saturating_sub(8);
            out!(
                "  units at    {} s{}",
                shown.join(", "),
                if more > 0 {
                    format!(" (+{more} more)")
                } else {
                    String::new()
                }
            );
        }
    }
    if let Some(change) = &o.change {
        out!("  change      found after a {change}");
    }
    if let Some(note) = &o.marker_note {
        out!("  why         {note}");
    }
    seal_line(o.seal.as_ref(), o.seal_missing.as_deref());
    if !o.marked && !o.too_quiet {
        out!(
            "  best sync   z {:.1} (a marker needs {:.1} or more)",
            o.best_sync_z,
            earmark::mark::Z_DECODE
        );
    }
    manifest_lines(o.manifest.as_ref(), o.manifest_error.as_deref());
    credentials_lines(o.credentials.as_deref(), o.credentials_error.as_deref());
    let (agree, contradictions) = split_contradictions(o, entries);
    for why in &contradictions {
        out!("  catalogue   CONTRADICTS THE FILE: {why}");
    }
    for e in agree {
        out!(
            "  catalogue   {}{} (stamped {} from {} as {})",
            e.title.as_deref().unwrap_or("(no title)"),
            e.artist
                .as_deref()
                .map(|a| format!(" by {a}"))
                .unwrap_or_default(),
            e.stamped_at,
            e.source_path,
            e.output_path
        );
        let check =
            SignedManifest::parse(&e.manifest).map(|m| m.check(trusted).verdict().to_string());
        out!(
            "  catalogued  manifest: {}",
            check.unwrap_or_else(|err| format!("unreadable ({err})"))
        );
    }
}

/// The seal line of `verify` output: the signature carried by the audio.
fn seal_line(seal: Option<&SealReport>, missing: Option<&str>) {
    if let Some(why) = missing {
        out!("  seal        none: {why}");
    }
    let Some(s) = seal else { return };
    let trust = match s.trusted {
        Some(true) => ", signer trusted",
        Some(false) => ", signer NOT in --trust",
        None => "",
    };
    match s.status {
        SealStatus::Valid => out!(
            "  seal        signed by key {}, signature valid{trust} (policy {}; read from the audio itself)",
            s.signer,
            s.policy
        ),
        SealStatus::Invalid => out!(
            "  seal        INVALID: the audio carries a signature that key {} did not make",
            s.signer
        ),
        SealStatus::Unchecked => out!(
            "  seal        signed by key {} (policy {}); give its public key with --trust to check the signature",
            s.signer,
            s.policy
        ),
    }
}

/// The manifest part of `verify` and `inspect` output.
fn manifest_lines(manifest: Option<&ManifestReport>, manifest_error: Option<&str>) {
    if let Some(e) = manifest_error {
        out!("  manifest    UNREADABLE: {e}");
    }
    match manifest {
        None if manifest_error.is_none() => {
            out!("  manifest    none (no embedded manifest, no sidecar)")
        }
        None => {}
        Some(m) => {
            let doc = &m.document.manifest;
            out!("  manifest    {} ({})", m.verdict, m.source);
            out!("  signer      {}", m.signer);
            match m.matches_marker {
                Some(true) => out!("  matches     the marker payload"),
                Some(false) => out!(
                    "  matches     NO: manifest says {}, the audio carries another payload",
                    payload_line(&doc.payload)
                ),
                None => out!("  matches     (no marker to compare with)"),
            }
            let tagged = doc.audio.basis == earmark::provenance::HashBasis::Encoded;
            // Not "audio": that line already gives the length and rate.
            out!(
                "  content     {}",
                match (m.audio_identical, tagged) {
                    (true, false) => "bit-identical to what was stamped",
                    (true, true) => "the encoded audio is byte-identical to what was signed",
                    (false, false) => {
                        "differs from what was stamped (re-encoded, edited or another file)"
                    }
                    (false, true) =>
                        "differs from what was signed (re-encoded, edited or another file)",
                }
            );
            if let Some(t) = &doc.title {
                out!("  title       {t}");
            }
            if let Some(a) = &doc.artist {
                out!("  artist      {a}");
            }
            out!("  signed      {} by {}", doc.created, doc.tool);
            out!("  policy      {}", doc.policy.notice);
        }
    }
}

/// Prints a JSON error record for a file `command` could not process (so
/// `--json` output has one record per file).
pub fn json_error(command: &str, path: &Path, e: &earmark::Error) {
    out!("{}", earmark::records::error_record(command, path, e));
}

/// Prints a tag result.
pub fn tag(o: &TagOutcome, as_json: bool) {
    warnings(&o.input, &o.warnings);
    if as_json {
        out!("{}", o.to_json());
        return;
    }
    let m = &o.manifest.manifest;
    out!(
        "tagged    {} -> {} ({}, audio bytes unchanged)",
        o.input.display(),
        o.output.display(),
        o.container
    );
    let names: Vec<&str> = o
        .metadata
        .carriers
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    out!("carriers  {}", names.join(", "));
    let signer = m
        .signer_key()
        .map(|k| k.short_fingerprint())
        .unwrap_or_default();
    out!("manifest  signed by {signer}, {}", payload_line(&m.payload));
    written_credentials_line(o.credentials.as_ref());
    out!("policy    {}", m.policy.notice);
}

fn carrier_line(c: &Carrier) {
    out!("    {}", c.name);
    let field = |label: &str, v: &Option<String>| {
        if let Some(v) = v {
            out!("      {label:<15} {v}");
        }
    };
    field("data mining", &c.data_mining);
    field("TDM reservation", &c.tdm_reservation);
    field("TDM policy", &c.tdm_policy);
    field("copyright", &c.copyright);
    field("notice", &c.notice);
}

/// Prints an inspect result.
pub fn inspect(o: &Inspection, as_json: bool) {
    if as_json {
        out!("{}", o.to_json());
        return;
    }
    out!("{}:", display_path(o.path.as_deref()));
    match (&o.metadata, &o.metadata_error) {
        (Some(m), _) => {
            out!("  container   {}", m.container);
            for (label, v) in [
                ("title", &m.title),
                ("artist", &m.artist),
                ("album", &m.album),
                ("ISRC", &m.isrc),
            ] {
                if let Some(v) = v {
                    out!("  {label:<11} {v}");
                }
            }
            if m.pictures > 0 {
                out!("  artwork     {} picture(s)", m.pictures);
            }
            if m.carriers.is_empty() {
                out!("  declaration none found in any carrier");
            } else {
                out!(
                    "  declaration {} carrier(s), {}",
                    m.carriers.len(),
                    if m.carriers_agree() {
                        "all agree"
                    } else {
                        "THEY DISAGREE"
                    }
                );
                for c in &m.carriers {
                    carrier_line(c);
                }
            }
            for w in &m.warnings {
                out!("  warning     {w}");
            }
        }
        (None, Some(e)) => out!("  metadata    unreadable: {e}"),
        (None, None) => {}
    }
    match o.declaration_matches_manifest {
        Some(true) => out!("  signed      the carriers state the manifest's signed policy"),
        Some(false) => {
            out!("  signed      NO: the carriers do not state the manifest's signed policy")
        }
        None => {}
    }
    manifest_lines(o.manifest.as_ref(), o.manifest_error.as_deref());
    if let Some(e) = &o.audio_error {
        out!("  marker      not searched: {e}");
    } else if o.markers.is_empty() {
        out!("  marker      none found");
        if let Some(note) = &o.marker_note {
            out!("  why         {note}");
        }
    }
    for f in &o.markers {
        out!(
            "  marker      {} (sync z {:.1})",
            payload_line(&f.payload),
            f.sync_z
        );
    }
    seal_line(o.seal.as_ref(), o.seal_missing.as_deref());
    credentials_lines(o.credentials.as_ref(), o.credentials_error.as_deref());
}

/// Prints the end-of-batch summary (JSON: one object with the counts).
pub fn batch_summary(s: &BatchSummary, as_json: bool) {
    let (stamped, skipped, failed) = (
        s.count(Status::Stamped),
        s.count(Status::Skipped),
        s.count(Status::Failed),
    );
    let audio = s.audio_seconds();
    if as_json {
        let v = json!({
            "stamped": stamped,
            "skipped": skipped,
            "failed": failed,
            "audio_seconds": audio,
            "elapsed_seconds": s.elapsed,
            "catalogue": s.catalogue,
        });
        out!("{}", earmark::records::record("batch-summary", v));
        return;
    }
    // No speed for a run that stamped nothing (all skipped or failed).
    let speed = if audio > 0.0 {
        format!(
            ": {:.1} min of audio, {:.0}x real time",
            audio / 60.0,
            audio / s.elapsed.max(1e-3)
        )
    } else {
        String::new()
    };
    out!(
        "stamped {stamped}, skipped {skipped} (already stamped), failed {failed} in {:.1} s{speed}",
        s.elapsed
    );
    for r in s.records.iter().filter(|r| r.status == Status::Failed) {
        out!(
            "  FAILED  {}",
            r.error.as_deref().unwrap_or("unknown error")
        );
    }
    for r in s.records.iter().filter(|r| !r.warnings.is_empty()) {
        for w in &r.warnings {
            out!("  warning {}: {w}", r.input.display());
        }
    }
    let mut done: Vec<_> = s
        .records
        .iter()
        .filter(|r| r.status == Status::Stamped)
        .collect();
    if done.len() > 1 {
        done.sort_by(|a, b| b.elapsed.total_cmp(&a.elapsed));
        let slow: Vec<String> = done
            .iter()
            .take(3)
            .map(|r| format!("{} ({:.1} s)", r.input.display(), r.elapsed))
            .collect();
        out!("  slowest {}", slow.join(", "));
        done.sort_by(|a, b| b.seconds.total_cmp(&a.seconds));
        let long: Vec<String> = done
            .iter()
            .take(3)
            .map(|r| format!("{} ({:.0} s of audio)", r.input.display(), r.seconds))
            .collect();
        out!("  longest {}", long.join(", "));
    }
    if let Some(c) = &s.catalogue {
        out!("  catalogue {c}");
    }
}
