//! Finding the audio files under the paths a user gives, and planning where
//! each one's output goes.

use crate::container::{has_audio_extension, Container};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// One input file found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The file.
    pub path: PathBuf,
    /// Its path relative to the output folder: the folder argument's own
    /// name, then the path inside it (a file argument: just its name).
    pub rel: PathBuf,
    /// Size in bytes.
    pub bytes: u64,
}

/// A deterministic slice of a batch: shard `index` of `count` (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This shard, `0..count`.
    pub index: u32,
    /// Number of shards, at least 1.
    pub count: u32,
}

impl Shard {
    /// The whole batch.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Parses `I/N` (0-based, `I < N`).
    pub fn parse(text: &str) -> Result<Shard, String> {
        let bad = || format!("invalid shard {text:?} (expected I/N with 0 <= I < N, e.g. 3/8)");
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let (index, count): (u32, u32) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// Whether the file with relative path `rel` belongs to this shard: a
    /// stable 64-bit FNV-1a hash of the path's UTF-8 bytes (with `/`
    /// separators), modulo the shard count. The same tree always splits the
    /// same way, on any machine.
    pub fn contains(&self, rel: &Path) -> bool {
        if self.count <= 1 {
            return true;
        }
        let text = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in text.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        (h % u64::from(self.count)) as u32 == self.index
    }
}

fn is_hidden(name: &str) -> bool {
    name.starts_with('.')
}

/// Whether a file name is one earmark writes (stamped audio, sidecars,
/// catalogues, reports in progress).
pub fn is_earmark_output(name: &str) -> bool {
    name.contains(".earmark.") || name.starts_with(crate::catalogue::DEFAULT_NAME)
}

/// Audio by name (so a damaged `.mp3` is reported as failed, not silently
/// ignored) or by content.
fn looks_like_audio(path: &Path) -> bool {
    has_audio_extension(path) || matches!(Container::of_file(path), Ok(Some(_)))
}

/// Walks `paths`: files are taken as given, folders recursively (sorted, so
/// runs are repeatable), keeping audio files picked by content or extension
/// and skipping hidden entries, anything under `exclude` (the output folder)
/// and, with `skip_outputs`, earmark's own outputs (a stamp batch skips them;
/// verify wants them). Returns the files and, per path that could not be
/// read, the path and the reason.
pub fn discover(
    paths: &[PathBuf],
    exclude: &[PathBuf],
    skip_outputs: bool,
) -> (Vec<Found>, Vec<(PathBuf, String)>) {
    let excluded: Vec<PathBuf> = exclude
        .iter()
        .filter_map(|p| p.canonicalize().ok())
        .collect();
    let under_excluded = |p: &Path| {
        p.canonicalize()
            .is_ok_and(|c| excluded.iter().any(|e| c.starts_with(e)))
    };
    let (mut found, mut errors) = (Vec::new(), Vec::new());
    for root in paths {
        let meta = match std::fs::metadata(root) {
            Ok(m) => m,
            Err(e) => {
                errors.push((root.clone(), e.to_string()));
                continue;
            }
        };
        if meta.is_file() {
            let name = root.file_name().map(PathBuf::from).unwrap_or_default();
            found.push(Found {
                path: root.clone(),
                rel: name,
                bytes: meta.len(),
            });
            continue;
        }
        let base = root
            .canonicalize()
            .ok()
            .and_then(|c| c.file_name().map(PathBuf::from))
            .unwrap_or_default();
        let walker = walkdir::WalkDir::new(root)
            .follow_links(false)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| e.depth() == 0 || !is_hidden(&e.file_name().to_string_lossy()));
        for entry in walker {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    let p = e
                        .path()
                        .map(Path::to_path_buf)
                        .unwrap_or_else(|| root.clone());
                    errors.push((p, e.to_string()));
                    continue;
                }
            };
            if !entry.file_type().is_file() {
                continue;
            }
            let name = entry.file_name().to_string_lossy();
            if (skip_outputs && is_earmark_output(&name)) || under_excluded(entry.path()) {
                continue;
            }
            if !looks_like_audio(entry.path()) {
                continue;
            }
            let inner = entry.path().strip_prefix(root).unwrap_or(entry.path());
            found.push(Found {
                path: entry.path().to_path_buf(),
                rel: base.join(inner),
                bytes: entry.metadata().map_or(0, |m| m.len()),
            });
        }
    }
    (found, errors)
}

/// One planned stamp: input, output and its place in the batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// The input.
    pub input: Found,
    /// Where the stamped file goes: `out_dir/REL/NAME.earmark.flac`.
    pub output: PathBuf,
}

/// Maps found files to outputs under `out_dir`, keeps this shard's, and
/// reports inputs that would share an output (the later ones are refused).
pub fn plan(
    found: Vec<Found>,
    out_dir: &Path,
    shard: Shard,
    extension: &str,
) -> (Vec<Job>, Vec<(PathBuf, String)>) {
    let mut seen: HashMap<PathBuf, PathBuf> = HashMap::new();
    let (mut jobs, mut errors) = (Vec::new(), Vec::new());
    for f in found {
        if !shard.contains(&f.rel) {
            continue;
        }
        let stem = f
            .rel
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "audio".into());
        let output = out_dir
            .join(f.rel.parent().unwrap_or(Path::new("")))
            .join(format!("{stem}.earmark.{extension}"));
        if let Some(first) = seen.get(&output) {
            errors.push((
                f.path.clone(),
                format!(
                    "would write the same output as {} ({})",
                    first.display(),
                    output.display()
                ),
            ));
            continue;
        }
        seen.insert(output.clone(), f.path.clone());
        jobs.push(Job { input: f, output });
    }
    (jobs, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_and_parse() {
        assert_eq!(Shard::parse("2/5").unwrap(), Shard { index: 2, count: 5 });
        for bad in ["5/5", "1", "a/2", "0/0", "-1/3"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
        let paths: Vec<PathBuf> = (0..200)
            .map(|i| PathBuf::from(format!("lib/a{i}.wav")))
            .collect();
        let mut counts = [0usize; 4];
        for p in &paths {
            let owners: Vec<u32> = (0..4)
                .filter(|&i| Shard { index: i, count: 4 }.contains(p))
                .collect();
            assert_eq!(owners.len(), 1, "{p:?} belongs to exactly one shard");
            counts[owners[0] as usize] += 1;
        }
        assert!(counts.iter().all(|&c| c > 25), "{counts:?}");
    }

    #[test]
    fn discovery_skips_hidden_outputs_and_non_audio_and_mirrors_paths() {
        let dir = tempfile::tempdir().unwrap();
        let lib = dir.path().join("lib");
        std::fs::create_dir_all(lib.join("album/.hidden")).unwrap();
        let wav = std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("test-audio/formats/pcm16-stereo-44100.aiff"),
        )
        .unwrap();
        std::fs::write(lib.join("album/song"), &wav).unwrap(); // audio, no extension
        std::fs::write(lib.join("album/broken.mp3"), b"not audio").unwrap();
        std::fs::write(lib.join("album/notes.txt"), b"hello").unwrap();
        std::fs::write(lib.join("album/.hidden/x.aiff"), &wav).unwrap();
        std::fs::write(lib.join("album/.dot.aiff"), &wav).unwrap();
        std::fs::write(lib.join("album/song.earmark.flac"), &wav).unwrap();
        let (found, errors) = discover(&[lib.clone(), dir.path().join("missing")], &[], true);
        let rels: Vec<String> = found.iter().map(|f| f.rel.display().to_string()).collect();
        assert_eq!(rels, vec!["lib/album/broken.mp3", "lib/album/song"]);
        assert_eq!(errors.len(), 1);
        let (jobs, clashes) = plan(found, Path::new("out"), Shard::ALL, "flac");
        assert!(clashes.is_empty());
        assert_eq!(jobs[1].output, Path::new("out/lib/album/song.earmark.flac"));
    }
}
