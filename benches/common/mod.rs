//! Helpers shared by the benchmarks (each bench uses a subset).
#![allow(dead_code)]

use earmark::audio::{Audio, OutputFormat, OutputTags, PcmWriter, SampleFormat, WriterSpec};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The real track every benchmark loops (44.1 kHz stereo rock).
pub const TRACK: &str = "test-audio/rock-openarena-oa02.ogg";
/// Frames per chunk handed to the engine and writers, as `stamp` does.
pub const CHUNK_FRAMES: usize = 4096;

/// Wall times of repeated runs of one case.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// The median run: the figure the issues' targets are checked against.
    pub median: Duration,
    /// The fastest run: what the code does when the shared VM is not
    /// slowing it down (runs here vary by up to ±30 %).
    pub best: Duration,
}

/// Times `runs` calls of `f`, after one warm-up call.
pub fn time_runs(runs: usize, mut f: impl FnMut()) -> Timing {
    f();
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    Timing {
        median: times[runs / 2],
        best: times[0],
    }
}

/// Writes `seconds` of `audio`, looped, as 16-bit WAV, one chunk at a time
/// (memory does not grow with `seconds`).
pub fn write_looped_wav(audio: &Audio, seconds: f64, path: &Path) {
    let ch = usize::from(audio.channels);
    let spec = WriterSpec {
        sample_rate: audio.sample_rate,
        channels: audio.channels,
        sample_format: SampleFormat::I16,
    };
    let mut w = PcmWriter::create(path, OutputFormat::Wav, spec).expect("create wav");
    let mut left = (seconds * f64::from(audio.sample_rate)) as usize * ch;
    let mut src = audio.samples.iter().copied().cycle();
    let mut chunk = Vec::with_capacity(CHUNK_FRAMES * 16 * ch);
    while left > 0 {
        chunk.clear();
        let n = left.min(chunk.capacity());
        chunk.extend(src.by_ref().take(n));
        w.write_interleaved(&chunk).expect("write wav");
        left -= n;
    }
    w.finish(&OutputTags::none(OutputFormat::Wav))
        .expect("finish wav");
}

/// Bytes in MiB.
pub fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Deletes the folder when dropped (also on panic).
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target")
            .join(format!("{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Peak RSS of a child process, in kB, and its wall time.
pub struct ChildRun {
    pub peak_kb: u64,
    pub elapsed: Duration,
    pub how: &'static str,
}

/// Runs `program` to completion and measures its peak RSS: with `/usr/bin/time -v`
/// when available, otherwise by polling `VmHWM` in `/proc/PID/status`.
pub fn run_measured(program: &Path, args: &[&std::ffi::OsStr]) -> ChildRun {
    let gnu_time = Path::new("/usr/bin/time");
    if gnu_time.exists() {
        let t = Instant::now();
        let out = Command::new(gnu_time)
            .arg("-v")
            .arg(program)
            .args(args)
            .stdout(Stdio::null())
            .output()
            .expect("run /usr/bin/time");
        let elapsed = t.elapsed();
        let report = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "child failed:\n{report}");
        let peak_kb = report
            .lines()
            .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):"))
            .and_then(|v| v.trim().parse().ok())
            .expect("no peak RSS in /usr/bin/time output");
        return ChildRun {
            peak_kb,
            elapsed,
            how: "/usr/bin/time -v",
        };
    }
    let t = Instant::now();
    let mut child = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn earmark");
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak_kb = 0u64;
    loop {
        // VmHWM is the kernel's own high-water mark, so sampling misses nothing
        // except the final instants before exit.
        if let Ok(s) = std::fs::read_to_string(&status_path) {
            if let Some(kb) = s
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            {
                peak_kb = peak_kb.max(kb);
            }
        }
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(status.success(), "earmark stamp failed: {status}");
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    ChildRun {
        peak_kb,
        elapsed: t.elapsed(),
        how: "VmHWM polled every 50 ms",
    }
}
