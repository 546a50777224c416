//! Shared helpers for the end-to-end tests: running the `earmark` binary,
//! making short excerpts of the real test audio, keys, hashes and JSON.

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use earmark::audio::{
    decode_file, Audio, OutputFormat, OutputTags, PcmWriter, SampleFormat, WriterSpec,
};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The crate root (where `test-audio/` lives).
pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Path of a file in `test-audio/`.
pub fn test_audio(name: &str) -> PathBuf {
    Path::new(ROOT).join("test-audio").join(name)
}

/// Path of a fixture in `test-audio/formats/`.
pub fn fixture(name: &str) -> PathBuf {
    test_audio("formats").join(name)
}

/// The result of one run of the binary.
#[derive(Debug)]
pub struct Run {
    /// Exit code (`None` if killed by a signal).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// A finished process's exit code and output (for runs made another way
/// than [`earmark`], e.g. under a shell's `ulimit` or with a watchdog).
impl From<std::process::Output> for Run {
    fn from(out: std::process::Output) -> Run {
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Run {
    /// Asserts the exit code, showing both streams when it differs.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "unexpected exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self.no_panic()
    }

    /// Asserts that nothing on stderr looks like a Rust panic.
    #[track_caller]
    pub fn no_panic(&self) -> &Self {
        assert!(
            !self.stderr.contains("panicked") && !self.stderr.contains("RUST_BACKTRACE"),
            "the binary panicked:\n{}",
            self.stderr
        );
        self
    }

    /// Asserts an error run: exit 2, exactly one line on stderr starting with
    /// `earmark: ` that contains every string in `needles`, nothing on stdout.
    #[track_caller]
    pub fn expect_one_line_error(&self, needles: &[&str]) -> &Self {
        self.expect_code(2);
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(
            lines.len(),
            1,
            "expected a one-line error, got:\n{}",
            self.stderr
        );
        assert!(
            lines[0].starts_with("earmark: "),
            "error line lacks the program name: {}",
            lines[0]
        );
        for n in needles {
            assert!(
                lines[0].contains(n),
                "error line {:?} does not contain {n:?}",
                lines[0]
            );
        }
        assert!(self.stdout.is_empty(), "unexpected stdout: {}", self.stdout);
        self
    }

    /// Parses stdout as one JSON object per line.
    #[track_caller]
    pub fn json_lines(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {l}"))
            })
            .collect()
    }

    /// Parses stdout as exactly one JSON object on one line.
    #[track_caller]
    pub fn json(&self) -> Value {
        let mut v = self.json_lines();
        assert_eq!(v.len(), 1, "expected one JSON line:\n{}", self.stdout);
        v.remove(0)
    }
}

/// Runs `earmark ARGS` in `cwd`.
pub fn earmark_in<I, S>(cwd: &Path, args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    earmark_with(cwd, args, &[])
}

/// Runs `earmark ARGS` in the current directory with these environment
/// variables set.
pub fn earmark_env<I, S>(args: I, env: &[(&str, &str)]) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    earmark_with(Path::new("."), args, env)
}

fn earmark_with<I, S>(cwd: &Path, args: I, env: &[(&str, &str)]) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    // Tests that run the binary are built with the `cli` feature (see the
    // [[test]] entries in Cargo.toml); the others share these helpers.
    let Some(exe) = option_env!("CARGO_BIN_EXE_earmark") else {
        panic!("this test runs the earmark binary: build it with the cli feature");
    };
    let out = Command::new(exe)
        .args(args)
        .current_dir(cwd)
        .env_remove("RUST_BACKTRACE")
        .env_remove("SOURCE_DATE_EPOCH")
        .env("EARMARK_REGISTRY", test_registry())
        .envs(env.iter().copied())
        .output()
        .expect("cannot run the earmark binary");
    Run::from(out)
}

/// The track-id registry the binary uses in tests: one per test process
/// (its tests share it, as runs on one machine do), never the user's own.
pub fn test_registry() -> PathBuf {
    std::env::temp_dir().join(format!("earmark-test-registry-{}.db", std::process::id()))
}

/// Runs `earmark ARGS` in the current directory.
pub fn earmark<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    earmark_in(Path::new("."), args)
}

/// `earmark keygen --out DIR/NAME.pem`; returns (private, public, marker id as
/// the 8 hex digits the tool prints).
pub fn keygen(dir: &Path, name: &str) -> (PathBuf, PathBuf, String) {
    let private = dir.join(format!("{name}.pem"));
    let run = earmark(["keygen", "--out", s(&private)]);
    run.expect_code(0);
    let public = dir.join(format!("{name}.pub.pem"));
    assert!(
        public.is_file(),
        "keygen did not write {}",
        public.display()
    );
    let id = run
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("marker id"))
        .map(|s| s.trim().to_string())
        .expect("keygen prints the marker id");
    (private, public, id)
}

/// Writes a fixed Ed25519 key pair (from `seed`) as DIR/NAME.pem and
/// DIR/NAME.pub.pem, so tests that depend on the marker payload are
/// reproducible; returns (private, public, marker id in hex).
pub fn fixed_key(dir: &Path, name: &str, seed: u8) -> (PathBuf, PathBuf, String) {
    use earmark::provenance::{write_private_key_pem, write_public_key_pem, SigningKeyPair};
    let key = SigningKeyPair::from_bytes(&[seed; 32]);
    let private = dir.join(format!("{name}.pem"));
    let public = dir.join(format!("{name}.pub.pem"));
    write_private_key_pem(&private, &key, false).unwrap();
    write_public_key_pem(&public, &key.public_key(), false).unwrap();
    (
        private,
        public,
        format!("{:08x}", key.public_key().fingerprint32()),
    )
}

/// SHA-256 of a file's bytes, hex.
pub fn sha256_file(path: &Path) -> String {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Decodes `src` and returns `seconds` of it starting at `start` seconds.
pub fn excerpt(src: &Path, start: f64, seconds: f64) -> Audio {
    let audio = decode_file(src).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
    slice(&audio, start, seconds)
}

/// `seconds` of `audio` starting at `start` seconds.
pub fn slice(audio: &Audio, start: f64, seconds: f64) -> Audio {
    let ch = usize::from(audio.channels);
    let rate = f64::from(audio.sample_rate);
    let a = (start * rate).round() as usize;
    let b = a + (seconds * rate).round() as usize;
    assert!(
        b <= audio.frames(),
        "excerpt {start}+{seconds} s is past the end ({} frames)",
        audio.frames()
    );
    Audio {
        samples: audio.samples[a * ch..b * ch].to_vec(),
        sample_rate: audio.sample_rate,
        channels: audio.channels,
    }
}

/// Writes `audio` to `path` (WAV or FLAC by `format`) with no tags.
pub fn write_audio(path: &Path, audio: &Audio, format: OutputFormat, sample_format: SampleFormat) {
    let spec = WriterSpec {
        sample_rate: audio.sample_rate,
        channels: audio.channels,
        sample_format,
    };
    let mut w =
        PcmWriter::create(path, format, spec).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    w.write_interleaved(&audio.samples).expect("write samples");
    w.finish(&OutputTags::none(format)).expect("finish file");
}

/// Writes a tagless 16-bit WAV.
pub fn write_wav16(path: &Path, audio: &Audio) {
    write_audio(path, audio, OutputFormat::Wav, SampleFormat::I16);
}

/// Decodes `path` (panics with the path on failure).
pub fn decode(path: &Path) -> Audio {
    decode_file(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Sorted file names in `dir`.
pub fn list_dir(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Asserts that no earmark temporary file (`.earmark-*.tmp`) is left in `dir`.
#[track_caller]
pub fn assert_no_temp_files(dir: &Path) {
    let temps: Vec<String> = list_dir(dir)
        .into_iter()
        .filter(|n| n.starts_with(".earmark-") || n.ends_with(".tmp"))
        .collect();
    assert!(temps.is_empty(), "temporary files left behind: {temps:?}");
}

/// Writes `n` pseudo-random bytes (a private watermark key file).
pub fn write_random_key(path: &Path, seed: u64, n: usize) {
    let mut state = seed ^ 0x9e37_79b9_7f4a_7c15;
    let bytes: Vec<u8> = (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 56) as u8
        })
        .collect();
    fs::write(path, bytes).unwrap();
}

/// Whether this process runs as root (file permissions then do not stop reads).
pub fn running_as_root(scratch: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let probe = scratch.join(".uid-probe");
    fs::write(&probe, b"").unwrap();
    let uid = fs::metadata(&probe).unwrap().uid();
    fs::remove_file(&probe).unwrap();
    uid == 0
}

/// `path` as a `&str` (temporary paths are UTF-8).
pub fn s(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// Asserts that `haystack` (a command's output) contains `needle`, showing
/// the whole output when it does not.
#[track_caller]
pub fn assert_contains(haystack: &str, needle: &str) {
    assert!(
        haystack.contains(needle),
        "expected {needle:?} in:\n{haystack}"
    );
}

/// Whether an external tool is present. Missing tools fail the test in CI
/// (`.ci/run` installs them and sets CI); elsewhere the check is skipped
/// with a note on stderr.
pub fn have(tool: &str) -> bool {
    let found = Command::new(tool)
        .arg(if tool == "exiftool" {
            "-ver"
        } else {
            "-version"
        })
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{tool} is missing; .ci/run installs it (libimage-exiftool-perl / ffmpeg)"
        );
        eprintln!("note: {tool} not installed; skipping the check that needs it");
    }
    found
}

/// Runs `ffmpeg -y -loglevel error ARGS`, asserting success.
pub fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-y", "-nostdin", "-loglevel", "error"])
        .args(args)
        .output()
        .expect("run ffmpeg");
    assert!(
        out.status.success(),
        "ffmpeg {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What a re-upload does to a file: MP3 at `kbps` (ffmpeg's LAME encoder),
/// decoded back to a 16-bit WAV without tags at `out`.
pub fn mp3_round_trip(input: &Path, out: &Path, kbps: u32) {
    let mp3 = out.with_extension("tmp.mp3");
    let rate = format!("{kbps}k");
    ffmpeg(&[
        "-i",
        s(input),
        "-map_metadata",
        "-1",
        "-c:a",
        "libmp3lame",
        "-b:a",
        &rate,
        s(&mp3),
    ]);
    ffmpeg(&[
        "-i",
        s(&mp3),
        "-map_metadata",
        "-1",
        "-c:a",
        "pcm_s16le",
        s(out),
    ]);
    let _ = fs::remove_file(mp3);
}

/// A playback-speed change by `factor` (tempo and pitch together, as a
/// turntable or `asetrate` does), written as a 16-bit WAV at `out`.
pub fn speed_change(input: &Path, out: &Path, factor: f64) {
    let rate = decode(input).sample_rate;
    let filter = format!(
        "asetrate={},aresample={rate}",
        (f64::from(rate) * factor).round()
    );
    ffmpeg(&[
        "-i",
        s(input),
        "-map_metadata",
        "-1",
        "-af",
        &filter,
        "-c:a",
        "pcm_s16le",
        s(out),
    ]);
}

#[cfg(feature = "postgres")]
mod catalogues;
#[cfg(feature = "postgres")]
#[allow(unused_imports)] // not every test binary uses it
pub use catalogues::TestCatalogue;

/// A library folder of two real tracks, `0.wav` (rock) and `1.wav` (piano),
/// each `seconds` long from 2 s in.
pub fn two_track_library(lib: &Path, seconds: f64) {
    fs::create_dir_all(lib).unwrap();
    for (i, track) in [
        "rock-supertuxkart-bay.ogg",
        "piano-supertuxkart-alien-signal.ogg",
    ]
    .iter()
    .enumerate()
    {
        write_wav16(
            &lib.join(format!("{i}.wav")),
            &excerpt(&test_audio(track), 2.0, seconds),
        );
    }
}

/// The start of a FLAC file: the `fLaC` marker and a STREAMINFO block
/// (44.1 kHz stereo 16-bit, 100,000 frames, 4096-frame blocks), with no
/// audio; append metadata blocks with [`flac_block`].
pub fn flac_head() -> Vec<u8> {
    let mut info = [0u8; 34];
    info[0..2].copy_from_slice(&4096u16.to_be_bytes());
    info[2..4].copy_from_slice(&4096u16.to_be_bytes());
    let packed: u64 = (44_100u64 << 44) | (1 << 41) | (15 << 36) | 100_000;
    info[10..18].copy_from_slice(&packed.to_be_bytes());
    let mut out = b"fLaC".to_vec();
    out.extend_from_slice(&[0, 0, 0, 34]);
    out.extend_from_slice(&info);
    out
}

/// A FLAC metadata block of type `kind` holding `body` (`last`: the
/// last-block flag), for hand-made hostile files.
pub fn flac_block(kind: u8, last: bool, body: &[u8]) -> Vec<u8> {
    let len = (body.len() as u32).to_be_bytes();
    let mut out = vec![
        if last { 0x80 | kind } else { kind },
        len[1],
        len[2],
        len[3],
    ];
    out.extend_from_slice(body);
    out
}
