//! What the robustness report costs per track: every standard attack once on
//! a real 28 s track (44.1 kHz stereo), one thread.
//! Run with `cargo bench -p earmark-eval --bench attacks`.

use earmark::audio::decode_file;
use earmark_eval::attacks::{apply, standard_suite};
use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

fn main() {
    let track = Path::new(env!("CARGO_MANIFEST_DIR")).join("../test-audio/rock-openarena-oa02.ogg");
    let audio = decode_file(&track).expect("decode test track");
    let secs = audio.duration_secs();
    println!(
        "earmark attack benchmark — {} ({} Hz, {} ch, {secs:.1} s), one thread",
        track.display(),
        audio.sample_rate,
        audio.channels
    );
    println!("{:<28} {:>10} {:>12}", "attack", "best of 3", "speed");
    for attack in standard_suite() {
        let best = (0..3)
            .map(|_| {
                let t = Instant::now();
                black_box(apply(&attack, &audio, 0).expect("attack"));
                t.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min);
        println!(
            "{:<28} {:>8.1} ms {:>10.0}x rt",
            attack.name(),
            best * 1e3,
            secs / best
        );
    }
}
