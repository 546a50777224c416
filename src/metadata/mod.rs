//! Metadata writers and readers: the "no AI training" declaration in every
//! carrier a container offers, and the signed manifest stored in the file.
//!
//! This module edits tags and metadata chunks only; it never decodes or
//! re-encodes audio and knows nothing about watermarks or signatures (the
//! manifest is an opaque JSON string here).
//!
//! | container | machine-readable | visible in tag editors |
//! |---|---|---|
//! | WAV  | `_PMX` chunk (XMP) | `LIST/INFO` `ICOP`, `ICMT`; `ID3 ` chunk `TCOP` `WCOP` `USER` `TXXX` |
//! | AIFF | `APPL` chunk `XMP ` | `(c) `, `ANNO`; `ID3 ` chunk as for WAV |
//! | MP3  | ID3v2 `PRIV` owner `XMP` | ID3v2 `TCOP` `WCOP` `USER` `TXXX` |
//! | FLAC, Ogg Vorbis, Opus | Vorbis comments `DATA_MINING` `TDM_RESERVATION` `TDM_POLICY` | `COPYRIGHT`, `LICENSE` |
//! | M4A  | top-level `uuid` box (XMP) | `cprt`; freeform `----:com.apple.iTunes:…` |
//!
//! The manifest goes into `TXXX:EARMARK_MANIFEST` (ID3), the Vorbis comment
//! `EARMARK_MANIFEST`, or the freeform atom `----:com.apple.iTunes:EARMARK_MANIFEST`.
//!
//! * `xmp.rs`: the XMP packet and a tolerant reader.
//! * `chunks.rs`: the `_PMX` / `APPL` / `uuid` writers that `lofty` lacks.
//! * `carriers.rs`: everything written through `lofty`, and reading it all back.

mod carriers;
pub(crate) mod chunks;
mod xmp;

use crate::policy::Policy;

pub use carriers::{
    read_metadata, read_metadata_file, render_flac_blocks, render_wav_chunks, write_declaration,
    CarriedTags, Carrier, FileMetadata,
};

/// Tag name (ID3 `TXXX` description, Vorbis comment key, MP4 freeform name)
/// of the signed manifest.
pub const MANIFEST_KEY: &str = "EARMARK_MANIFEST";

/// What is declared about a file: the policy (with its notice and terms URL)
/// and an optional copyright line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declaration {
    /// The machine-readable policy and its human notice.
    pub policy: Policy,
    /// `"2026 Name. All rights reserved."`; `None` leaves existing copyright
    /// fields as they are.
    pub copyright: Option<String>,
}

impl Declaration {
    /// A declaration of `policy` with the copyright line for `owner` in `year`.
    pub fn new(policy: Policy, owner: Option<&str>, year: i32) -> Declaration {
        Declaration {
            policy,
            copyright: owner
                .map(str::trim)
                .filter(|o| !o.is_empty())
                .map(|o| copyright_line(o, year)),
        }
    }

    /// Text for fields that hold "rights" in general (XMP `dc:rights`, RIFF
    /// `ICOP`, AIFF `(c) `): the copyright line and the notice.
    pub fn rights_text(&self) -> String {
        match &self.copyright {
            Some(c) => format!("{c} {}", self.policy.notice),
            None => self.policy.notice.clone(),
        }
    }
}

/// `"YEAR OWNER. All rights reserved."` (ID3 `TCOP` must start with a year and a space).
pub fn copyright_line(owner: &str, year: i32) -> String {
    let owner = owner.trim().trim_end_matches('.');
    format!("{year} {owner}. All rights reserved.")
}

/// The current UTC year.
pub fn current_year() -> i32 {
    year_of(std::time::SystemTime::now())
}

/// The UTC year of `time` (the copyright year of a stamp made then).
pub fn year_of(time: std::time::SystemTime) -> i32 {
    let secs = time
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // Days to civil year (Howard Hinnant's algorithm), enough for a year.
    let days = (secs / 86_400) as i64 + 719_468;
    let era = days.div_euclid(146_097);
    let doe = days - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2)) as i32
}

/// A metadata failure. Like [`crate::audio::AudioError`] it names no path;
/// the caller adds it.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    /// The file is not a container earmark can tag.
    #[error(
        "not a WAV, AIFF, MP3, FLAC, Ogg Vorbis, Opus or MP4/M4A file: no metadata can be written"
    )]
    Unsupported,
    /// Reading or writing failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The tags could not be parsed or written.
    #[error("tags: {0}")]
    Tags(String),
}

impl From<lofty::error::FileParseError> for MetadataError {
    fn from(e: lofty::error::FileParseError) -> Self {
        MetadataError::Tags(e.to_string())
    }
}

impl From<lofty::error::FileEncodingError> for MetadataError {
    fn from(e: lofty::error::FileEncodingError) -> Self {
        MetadataError::Tags(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copyright_line_starts_with_the_year() {
        assert_eq!(
            copyright_line(" Ada Lovelace. ", 2026),
            "2026 Ada Lovelace. All rights reserved."
        );
        let d = Declaration::new(Policy::default(), Some("  "), 2026);
        assert_eq!(d.copyright, None);
        let y = current_year();
        assert!((2025..2200).contains(&y), "{y}");
    }
}
