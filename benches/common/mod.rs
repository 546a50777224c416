//! Helpers shared by the benchmarks.

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
    #[allow(dead_code)] // the pipeline bench reports medians only
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
