//! Names of the files earmark writes next to its inputs: stamped copies,
//! tagged copies and manifest sidecars.

use crate::audio::OutputFormat;
use crate::error::{Error, ErrorKind, Result};
use std::path::{Path, PathBuf};

/// The stem of `path`'s file name, or `fallback`.
pub(crate) fn stem_of(path: &Path, fallback: &str) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| fallback.into())
}

/// The default output of `stamp`: `NAME.earmark.flac` in the input's folder.
pub fn stamped_path(input: &Path) -> PathBuf {
    input.with_file_name(format!("{}.earmark.flac", stem_of(input, "audio")))
}

/// The default output of `tag`: `NAME.earmark.EXT` next to the input (the
/// audio is kept as it is, so the extension is too).
pub fn tagged_path(input: &Path) -> PathBuf {
    let stem = stem_of(input, "audio");
    match input.extension() {
        Some(ext) if !ext.is_empty() => {
            input.with_file_name(format!("{stem}.earmark.{}", ext.to_string_lossy()))
        }
        _ => input.with_file_name(format!("{stem}.earmark")),
    }
}

/// The sidecar manifest of an output: `NAME.EXT.earmark.json`
/// (`song.earmark.flac` → `song.flac.earmark.json`, `x.wav` →
/// `x.wav.earmark.json`): one per output, so `x.wav` and `x.flac` stamped
/// side by side do not share one.
pub fn sidecar_path(output: &Path) -> PathBuf {
    let stem = stem_of(output, "");
    let stem = stem.strip_suffix(".earmark").unwrap_or(&stem);
    match output.extension() {
        Some(ext) if !ext.is_empty() => {
            output.with_file_name(format!("{stem}.{}.earmark.json", ext.to_string_lossy()))
        }
        _ => output.with_file_name(format!("{stem}.earmark.json")),
    }
}

/// The sidecar name earlier versions wrote, `NAME.earmark.json`, which
/// `verify` still reads when the current one is not there.
pub fn legacy_sidecar_path(output: &Path) -> PathBuf {
    let stem = stem_of(output, "");
    let stem = stem.strip_suffix(".earmark").unwrap_or(&stem);
    output.with_file_name(format!("{stem}.earmark.json"))
}

/// The sidecar C2PA manifest store of a file whose container cannot hold
/// one: `NAME.c2pa` (the C2PA convention: same name, `.c2pa` extension).
pub fn c2pa_sidecar_path(output: &Path) -> PathBuf {
    output.with_extension("c2pa")
}

/// True when `path` names an MP3 (`.mp3`): stamped as a lossy re-encode.
pub fn is_mp3(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("mp3"))
}

/// The output format a path asks for, from its extension (`.flac`, `.wav`).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_next_to_the_input() {
        assert_eq!(
            stamped_path(Path::new("a/song.mp3")),
            Path::new("a/song.earmark.flac")
        );
        assert_eq!(
            tagged_path(Path::new("a/song.mp3")),
            Path::new("a/song.earmark.mp3")
        );
        assert_eq!(
            tagged_path(Path::new("a/song")),
            Path::new("a/song.earmark")
        );
        assert_eq!(
            sidecar_path(Path::new("a/song.earmark.flac")),
            Path::new("a/song.flac.earmark.json")
        );
        assert_eq!(
            sidecar_path(Path::new("out.wav")),
            Path::new("out.wav.earmark.json")
        );
        assert_ne!(
            sidecar_path(Path::new("x.wav")),
            sidecar_path(Path::new("x.flac"))
        );
        assert_eq!(
            legacy_sidecar_path(Path::new("a/song.earmark.flac")),
            Path::new("a/song.earmark.json")
        );
        assert_eq!(
            output_format(Path::new("x.WAV")).unwrap(),
            OutputFormat::Wav
        );
        assert!(output_format(Path::new("x.mp3")).is_err());
    }
}
