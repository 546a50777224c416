//! The seal section of the robustness report: on full-length tracks, is the
//! signature carried by the audio recovered, and does it verify, after the
//! attacks a re-upload goes through?
//!
//! Each trial stamps a track with the engine (a payload naming the report's
//! signing key and a fresh track id, the seal signed by that key), attacks
//! it, then verifies the bare copy with the engine, that key trusted: what
//! `earmark verify --trust KEY` says. A trial counts only when the engine
//! reports the seal valid for the decoded payload.

use super::{attack_error, mix, Check, ReportError, RobustnessOptions, Track, REQUIRED_FULL_RATE};
use crate::attacks::{self, Attack};
use crate::engine;
use earmark::audio::Audio;
use earmark::mark::SealMessage;
use earmark::provenance::SigningKeyPair;
use earmark::verify::SealStatus;
use earmark::{PolicyKind, StampOptions, VerifyOptions};
use rayon::prelude::*;
use serde::Serialize;

/// Shortest track the seal section uses, seconds (a full-length track).
pub const SEAL_MIN_SECONDS: f64 = earmark::mark::FULL_TRACK_SECONDS;
/// Required rate of valid seals after MP3 128 kbps on full-length tracks.
pub const REQUIRED_SEAL_RATE: f64 = 0.95;
/// The attack the requirement applies to.
pub const SEAL_REQUIRED_ATTACK: Attack = Attack::Mp3 { kbps: 128 };

/// Domain tag for [`mix`].
const TAG_SEAL: u64 = 4;

/// One attack's seal results.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct SealRow {
    /// Attack name (`clean` for none).
    pub attack: String,
    /// Trials (tracks × payloads).
    pub trials: usize,
    /// Trials whose main-layer payload was recovered exactly.
    pub payload_recovered: usize,
    /// Trials whose seal was read (CRC) and verified with the signer's key.
    pub seal_valid: usize,
    /// Trials whose seal read but did not verify (never expected).
    pub seal_invalid: usize,
    /// Mean raw bit error rate of the seal's coded bits (before decoding).
    pub mean_raw_ber: f64,
    /// Worst raw bit error rate.
    pub max_raw_ber: f64,
    /// Mean seconds to detect the payload and read the seal per trial.
    pub mean_read_seconds: f64,
}

impl SealRow {
    /// Fraction of trials with a valid seal.
    pub fn rate(&self) -> f64 {
        if self.trials == 0 {
            0.0
        } else {
            self.seal_valid as f64 / self.trials as f64
        }
    }
}

/// The seal section.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct SealSection {
    /// Tracks long enough (at least [`SEAL_MIN_SECONDS`]).
    pub tracks: usize,
    /// Tracks skipped as too short.
    pub skipped_short: usize,
    /// Shortest and longest track used, seconds.
    pub seconds_range: (f64, f64),
    /// One row per attack, `clean` first.
    pub rows: Vec<SealRow>,
}

impl SealSection {
    /// The seal requirements: a valid seal on at least
    /// [`REQUIRED_SEAL_RATE`] of the trials after `SEAL_REQUIRED_ATTACK`
    /// (and clean), no seal that reads but fails to verify, and the main
    /// payload still recovered on at least [`REQUIRED_FULL_RATE`] of the same
    /// trials (the seal must not cost the main layer).
    pub fn checks(&self) -> Vec<Check> {
        let mut checks = Vec::new();
        for label in ["clean".to_string(), SEAL_REQUIRED_ATTACK.name()] {
            let Some(r) = self.rows.iter().find(|r| r.attack == label) else {
                checks.push(Check {
                    requirement: format!("seal, full-length tracks, {label}"),
                    measured: "not run".to_string(),
                    pass: false,
                });
                continue;
            };
            checks.push(Check {
                requirement: format!(
                    "seal, full-length tracks, {label}: valid signature >= {:.0}%",
                    100.0 * REQUIRED_SEAL_RATE
                ),
                measured: format!("{:.1}% ({}/{})", 100.0 * r.rate(), r.seal_valid, r.trials),
                pass: r.trials > 0 && r.rate() >= REQUIRED_SEAL_RATE,
            });
            let payload_rate = r.payload_recovered as f64 / r.trials.max(1) as f64;
            checks.push(Check {
                requirement: format!(
                    "seal, full-length tracks, {label}: main payload >= {:.0}%",
                    100.0 * REQUIRED_FULL_RATE
                ),
                measured: format!(
                    "{:.1}% ({}/{})",
                    100.0 * payload_rate,
                    r.payload_recovered,
                    r.trials
                ),
                pass: r.trials > 0 && payload_rate >= REQUIRED_FULL_RATE,
            });
        }
        let invalid: usize = self.rows.iter().map(|r| r.seal_invalid).sum();
        checks.push(Check {
            requirement: "seal: no seal that reads but fails to verify".to_string(),
            measured: format!("{invalid}"),
            pass: invalid == 0,
        });
        checks
    }

    /// Writes the seal table (part of the report's text form).
    pub(super) fn write_table(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "seal (signature in the audio), {} full-length track(s) of {:.0}-{:.0} s ({} shorter skipped):",
            self.tracks, self.seconds_range.0, self.seconds_range.1, self.skipped_short
        )?;
        let w = self
            .rows
            .iter()
            .map(|r| r.attack.len())
            .chain(["attack".len()])
            .max()
            .unwrap_or(6);
        writeln!(
            f,
            "{:<w$}  {:>6}  {:>7}  {:>10}  {:>7}  {:>7}  {:>8}  {:>7}  {:>8}",
            "attack",
            "trials",
            "payload",
            "seal valid",
            "rate",
            "invalid",
            "BER mean",
            "BER max",
            "read ms"
        )?;
        writeln!(f, "{}", "-".repeat(w + 80))?;
        for r in &self.rows {
            writeln!(
                f,
                "{:<w$}  {:>6}  {:>7}  {:>10}  {:>6.1}%  {:>7}  {:>8.4}  {:>7.4}  {:>8.0}",
                r.attack,
                r.trials,
                r.payload_recovered,
                r.seal_valid,
                100.0 * r.rate(),
                r.seal_invalid,
                r.mean_raw_ber,
                r.max_raw_ber,
                1e3 * r.mean_read_seconds
            )?;
        }
        writeln!(
            f,
            "(payload: main-layer payload recovered; seal valid: signature read and verified with \
             the key the decoded payload names; BER: raw seal coded-bit error rate; read: detect \
             and seal read per trial)"
        )
    }
}

/// The attacks the seal section runs (after the clean row), each a chain
/// applied in order: the codecs, gain and a 16 kHz mono copy, then a speed, tempo and pitch
/// change of the MP3-128 copy (found by the scale search, as `verify` does).
pub fn seal_attacks() -> Vec<Vec<Attack>> {
    let mut chains = vec![
        vec![SEAL_REQUIRED_ATTACK],
        vec![Attack::Mp3 { kbps: 64 }],
        vec![Attack::Vorbis {
            quality: attacks::VORBIS_LOWEST_QUALITY,
        }],
        vec![Attack::Gain { db: -10.0 }],
        // What most audio AI datasets store: 16 kHz mono.
        vec![Attack::ToMono, Attack::StoreAt { hz: 16_000 }],
    ];
    for change in [
        Attack::Speed { factor: 1.05 },
        Attack::Tempo { factor: 0.95 },
        Attack::Pitch { semitones: 1.0 },
    ] {
        chains.push(vec![SEAL_REQUIRED_ATTACK, change]);
    }
    chains
}

/// Row label of a chain of attacks.
fn chain_label(chain: &[Attack]) -> String {
    if chain.is_empty() {
        return "clean".to_string();
    }
    chain.iter().map(Attack::name).collect::<Vec<_>>().join(" ")
}

struct SealTrial {
    payload_ok: bool,
    verdict: Option<SealStatus>,
    raw_ber: f64,
    seconds: f64,
}

/// Runs the seal section on the full-length tracks among `tracks`.
pub(super) fn seal_section(
    opts: &RobustnessOptions,
    tracks: &[Track],
) -> Result<SealSection, ReportError> {
    let long: Vec<&Track> = tracks
        .iter()
        .filter(|t| t.audio.duration_secs() >= SEAL_MIN_SECONDS)
        .collect();
    let signer = SigningKeyPair::from_bytes(&[0x5e; 32]);
    let public = signer.public_key();
    let kinds: Vec<Vec<Attack>> = std::iter::once(Vec::new()).chain(seal_attacks()).collect();
    let jobs: Vec<(usize, usize)> = (0..long.len())
        .flat_map(|t| (0..opts.payloads_per_track).map(move |p| (t, p)))
        .collect();
    let results: Vec<Vec<SealTrial>> = jobs
        .par_iter()
        .map(|&(t, p)| {
            let track = long[t];
            let mut so = StampOptions::new(signer.clone());
            so.track_id = Some(mix(opts.seed, &[TAG_SEAL, t as u64, p as u64]) as u32);
            so.wm_key = opts.key.clone();
            so.strength = opts.strength;
            so.policy = earmark::Policy::from_kind(PolicyKind::NoAiTraining);
            let (stamped, result) =
                engine::stamp(&track.audio, &so).map_err(|error| ReportError::Engine {
                    path: track.path.clone(),
                    error: error.to_string(),
                })?;
            let payload = result.payload;
            let message = result.seal.expect("the report stamps with the seal");
            kinds
                .iter()
                .map(|chain| {
                    let mut attacked = stamped.clone();
                    for a in chain {
                        let seed = mix(opts.seed, &[TAG_SEAL, t as u64, p as u64, 1]);
                        attacked = attacks::apply(a, &attacked, seed)
                            .map_err(|e| attack_error(&track.path, a, e))?
                            .audio;
                    }
                    read_trial(opts, &attacked, payload, &message, &public)
                })
                .collect::<Result<Vec<_>, ReportError>>()
        })
        .collect::<Result<_, _>>()?;
    let rows = kinds
        .iter()
        .enumerate()
        .map(|(k, kind)| {
            let trials: Vec<&SealTrial> = results.iter().map(|r| &r[k]).collect();
            let n = trials.len().max(1) as f64;
            SealRow {
                attack: chain_label(kind),
                trials: trials.len(),
                payload_recovered: trials.iter().filter(|t| t.payload_ok).count(),
                seal_valid: trials
                    .iter()
                    .filter(|t| t.verdict == Some(SealStatus::Valid))
                    .count(),
                seal_invalid: trials
                    .iter()
                    .filter(|t| t.verdict == Some(SealStatus::Invalid))
                    .count(),
                mean_raw_ber: trials.iter().map(|t| t.raw_ber).sum::<f64>() / n,
                max_raw_ber: trials.iter().map(|t| t.raw_ber).fold(0.0, f64::max),
                mean_read_seconds: trials.iter().map(|t| t.seconds).sum::<f64>() / n,
            }
        })
        .collect();
    let secs: Vec<f64> = long.iter().map(|t| t.audio.duration_secs()).collect();
    Ok(SealSection {
        tracks: long.len(),
        skipped_short: tracks.len() - long.len(),
        seconds_range: (
            secs.iter().copied().fold(f64::INFINITY, f64::min),
            secs.iter().copied().fold(0.0, f64::max),
        ),
        rows,
    })
}

/// `earmark verify --trust KEY` on a bare copy, through the engine; the
/// raw seal bit error rate is measured against the stamped message.
fn read_trial(
    opts: &RobustnessOptions,
    audio: &Audio,
    payload: earmark::Payload,
    message: &SealMessage,
    public: &earmark::provenance::PublicKey,
) -> Result<SealTrial, ReportError> {
    let started = std::time::Instant::now();
    let mut vo = VerifyOptions::default();
    vo.wm_key = opts.key.clone();
    vo.trusted = vec![*public];
    let v = engine::verify(audio, &vo).map_err(|error| ReportError::Engine {
        path: "(attacked audio)".into(),
        error: error.to_string(),
    })?;
    let found = v.markers.first().map(|m| m.payload);
    Ok(SealTrial {
        payload_ok: found == Some(payload),
        verdict: v.seal.as_ref().map(|s| s.status),
        raw_ber: v
            .diagnostics
            .seal
            .as_ref()
            .map_or(0.5, |r| 1.0 - r.agreement(&opts.key, message)),
        seconds: started.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(attack: &str, valid: usize, invalid: usize, payload: usize) -> SealRow {
        SealRow {
            attack: attack.to_string(),
            trials: 24,
            payload_recovered: payload,
            seal_valid: valid,
            seal_invalid: invalid,
            mean_raw_ber: 0.01,
            max_raw_ber: 0.03,
            mean_read_seconds: 0.4,
        }
    }

    fn section(rows: Vec<SealRow>) -> SealSection {
        SealSection {
            tracks: 12,
            skipped_short: 0,
            seconds_range: (129.0, 327.0),
            rows,
        }
    }

    #[test]
    fn checks_need_valid_seals_after_mp3_no_invalid_ones_and_the_payload() {
        let mp3 = SEAL_REQUIRED_ATTACK.name();
        let pass = |s: &SealSection| s.checks().iter().all(|c| c.pass);
        assert!(pass(&section(vec![
            row("clean", 24, 0, 24),
            row(&mp3, 23, 0, 24)
        ])));
        // 22/24 = 91.7 % after MP3 128: below 95 %.
        assert!(!pass(&section(vec![
            row("clean", 24, 0, 24),
            row(&mp3, 22, 0, 24)
        ])));
        // One seal that reads but does not verify, even under another attack.
        assert!(!pass(&section(vec![
            row("clean", 24, 0, 24),
            row(&mp3, 24, 0, 24),
            row("mp3-64", 20, 1, 24),
        ])));
        // The main payload lost on a trial.
        assert!(!pass(&section(vec![
            row("clean", 24, 0, 24),
            row(&mp3, 24, 0, 23)
        ])));
        // The required row missing entirely counts as failed.
        let only_clean = section(vec![row("clean", 24, 0, 24)]);
        assert!(!pass(&only_clean));
        assert!(only_clean.checks().iter().any(|c| c.measured == "not run"));
    }
}
