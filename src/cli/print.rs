//! Human and JSON output of command results.

use earmark::provenance::Payload;
use earmark::{StampOutcome, VerifyOutcome};
use serde_json::json;
use std::path::Path;

fn payload_line(p: &Payload) -> String {
    format!(
        "key {:08x}, track {:08x} ({})",
        p.key_fingerprint, p.track_id, p.track_id
    )
}

/// Prints a stamp result.
pub fn stamp(o: &StampOutcome, as_json: bool) {
    for w in &o.warnings {
        eprintln!("earmark: warning: {}: {w}", o.input.display());
    }
    if as_json {
        let v = json!({
            "input": o.input,
            "output": o.output,
            "sidecar": o.sidecar,
            "payload": o.payload,
            "seconds": o.seconds,
            "marked_fraction": o.stats.active_fraction(),
            "loud_fraction": o.stats.loud_fraction(),
            "warnings": o.warnings,
            "manifest": o.manifest,
        });
        out!("{v}");
        return;
    }
    let m = &o.manifest.manifest;
    out!("stamped   {} -> {}", o.input.display(), o.output.display());
    out!("marker    {}", payload_line(&o.payload));
    out!(
        "audio     {:.1} s, {} Hz, {} ch, {}; marker in {:.0}% of frames",
        o.seconds,
        m.audio.sample_rate,
        m.audio.channels,
        m.audio.sample_format,
        100.0 * o.stats.active_fraction()
    );
    let signer = m
        .signer_key()
        .map(|k| k.short_fingerprint())
        .unwrap_or_default();
    out!(
        "manifest  signed by {signer}; also in {}",
        o.sidecar.display()
    );
    out!("policy    {}", m.policy.notice);
}

/// Prints a verify result.
pub fn verify(o: &VerifyOutcome, as_json: bool) {
    if as_json {
        out!(
            "{}",
            serde_json::to_string(o).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
        );
        return;
    }
    let status = if o.marked {
        "MARKED"
    } else if o.too_short {
        "CANNOT TELL (shorter than one marker unit of 2.3 s)"
    } else if o.too_quiet {
        "CANNOT TELL (too quiet to hold a marker)"
    } else {
        "NO MARKER FOUND"
    };
    out!("{}: {status}", o.path.display());
    out!(
        "  audio       {:.1} s, {} Hz, {} ch",
        o.seconds,
        o.sample_rate,
        o.channels
    );
    for f in &o.markers {
        out!("  payload     {}", payload_line(&f.payload));
        out!(
            "  confidence  sync z {:.1} (unmarked audio stays below about 5), {:.0}% of coded bits agree",
            f.sync_z,
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
    if !o.marked && !o.too_quiet {
        out!(
            "  best sync   z {:.1} (a marker needs about 4 or more)",
            o.best_sync_z
        );
    }
    if let Some(e) = &o.manifest_error {
        out!("  manifest    UNREADABLE: {e}");
    }
    match &o.manifest {
        None if o.manifest_error.is_none() => {
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
            out!(
                "  audio       {}",
                if m.audio_identical {
                    "bit-identical to what was stamped"
                } else {
                    "differs from what was stamped (re-encoded, edited or another file)"
                }
            );
            if let Some(t) = &doc.title {
                out!("  title       {t}");
            }
            if let Some(a) = &doc.artist {
                out!("  artist      {a}");
            }
            out!("  stamped     {} by {}", doc.created, doc.tool);
            out!("  policy      {}", doc.policy.notice);
        }
    }
}

/// Prints a JSON error record for a file (so `--json` output has one object per file).
pub fn json_error(path: &Path, e: &earmark::Error) {
    out!("{}", json!({ "path": path, "error": e.to_string() }));
}
