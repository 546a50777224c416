//! Helpers shared by the benchmarks.

use std::time::{Duration, Instant};

/// The real track every benchmark loops (44.1 kHz stereo rock).
pub const TRACK: &str = "test-audio/rock-openarena-oa02.ogg";
/// Frames per chunk handed to the engine and writers, as `stamp` does.
pub const CHUNK_FRAMES: usize = 4096;

/// Median wall time of `runs` calls of `f`, after one warm-up call.
pub fn median_time(runs: usize, mut f: impl FnMut()) -> Duration {
    f();
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}
