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
//! * [`xmp`]: the XMP packet and a tolerant reader.
//! * [`chunks`]: the `_PMX` / `APPL` / `uuid` writers that `lofty` lacks.
//! * [`carriers`]: everything written through `lofty`, and reading it all back.

pub mod carriers;
pub mod chunks;
pub mod xmp;

use crate::provenance::Policy;
use serde::Serialize;
use std::fmt;
use std::io::Read;
use std::path::Path;

pub use carriers::{read_metadata, write_declaration, CarriedTags, Carrier, FileMetadata};

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
    let secs = std::time::SystemTime::now()
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

/// Containers earmark can tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Container {
    /// RIFF/WAVE.
    Wav,
    /// FORM/AIFF or AIFC.
    Aiff,
    /// MPEG audio with ID3v2.
    Mp3,
    /// Native FLAC.
    Flac,
    /// Ogg Vorbis.
    OggVorbis,
    /// Ogg Opus.
    Opus,
    /// MP4/M4A (AAC, ALAC).
    Mp4,
}

impl Container {
    /// Short name.
    pub fn name(self) -> &'static str {
        match self {
            Container::Wav => "WAV",
            Container::Aiff => "AIFF",
            Container::Mp3 => "MP3",
            Container::Flac => "FLAC",
            Container::OggVorbis => "Ogg Vorbis",
            Container::Opus => "Ogg Opus",
            Container::Mp4 => "MP4/M4A",
        }
    }

    /// Recognises a container from the first bytes of a file (at least 64
    /// are looked at when present); `None` when earmark cannot tag it.
    pub fn sniff(head: &[u8]) -> Option<Container> {
        let at = |i: usize, m: &[u8]| head.get(i..i + m.len()) == Some(m);
        if at(0, b"RIFF") && at(8, b"WAVE") {
            return Some(Container::Wav);
        }
        if at(0, b"FORM") && (at(8, b"AIFF") || at(8, b"AIFC")) {
            return Some(Container::Aiff);
        }
        if at(0, b"fLaC") {
            return Some(Container::Flac);
        }
        if at(4, b"ftyp") {
            return Some(Container::Mp4);
        }
        if at(0, b"OggS") {
            // The first packet starts after the 27-byte header and the segment table.
            let segments = usize::from(*head.get(26)?);
            let p = 27 + segments;
            if at(p, b"\x01vorbis") {
                return Some(Container::OggVorbis);
            }
            if at(p, b"OpusHead") {
                return Some(Container::Opus);
            }
            return None;
        }
        if at(0, b"ID3") {
            // An ID3v2 tag can precede FLAC as well as MP3.
            let size = head.get(6..10)?;
            let len = size
                .iter()
                .fold(0usize, |a, &b| (a << 7) | usize::from(b & 0x7f));
            let after = 10 + len + if head[5] & 0x10 != 0 { 10 } else { 0 };
            if head.get(after..after + 4) == Some(b"fLaC") {
                return Some(Container::Flac);
            }
            return Some(Container::Mp3);
        }
        // A bare MPEG audio frame header: 11 sync bits, layer III.
        if head.len() >= 2 && head[0] == 0xFF && head[1] & 0xE0 == 0xE0 && head[1] & 0x06 == 0x02 {
            return Some(Container::Mp3);
        }
        None
    }

    /// Reads enough of `path` to recognise its container.
    pub fn of_file(path: &Path) -> std::io::Result<Option<Container>> {
        let mut f = std::fs::File::open(path)?;
        let mut head = vec![0u8; 4096];
        let mut n = 0;
        while n < head.len() {
            let k = f.read(&mut head[n..])?;
            if k == 0 {
                break;
            }
            n += k;
        }
        head.truncate(n);
        Ok(Container::sniff(&head))
    }

    /// The usual file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Container::Wav => "wav",
            Container::Aiff => "aiff",
            Container::Mp3 => "mp3",
            Container::Flac => "flac",
            Container::OggVorbis => "ogg",
            Container::Opus => "opus",
            Container::Mp4 => "m4a",
        }
    }
}

impl fmt::Display for Container {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A metadata failure. Like [`crate::audio::AudioError`] it names no path;
/// the caller adds it.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    /// The file is not a container earmark can tag.
    #[error("not a WAV, AIFF, MP3, FLAC, Ogg Vorbis, Opus or MP4/M4A file")]
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
    fn sniffs_every_container_from_real_headers() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("test-audio/formats");
        for (file, want) in [
            ("pcm16-stereo-44100.aiff", Some(Container::Aiff)),
            ("aac-stereo-44100.m4a", Some(Container::Mp4)),
            ("alac-stereo-44100.m4a", Some(Container::Mp4)),
            ("flac24-6ch-48000.flac", Some(Container::Flac)),
            ("mp3-stereo-44100.mp3", Some(Container::Mp3)),
            ("vorbis-mono-22050.ogg", Some(Container::OggVorbis)),
            ("not-audio.mp3", None),
            ("empty.wav", None),
        ] {
            assert_eq!(Container::of_file(&dir.join(file)).unwrap(), want, "{file}");
        }
    }

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
