//! The batch progress bar: files done/total, hours of audio, speed in x real
//! time and ETA (by bytes). Hidden when stderr is not a terminal or with
//! `--quiet`.

use earmark::batch::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

pub struct Bar {
    bar: ProgressBar,
    state: Mutex<State>,
}

struct State {
    files: usize,
    done: usize,
    audio_seconds: f64,
    started: Instant,
}

impl Bar {
    pub fn new(quiet: bool) -> Bar {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        if quiet || !std::io::stderr().is_terminal() {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        bar.set_style(
            ProgressStyle::with_template("{bar:28} {percent:>3}% {msg}  ETA {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Bar {
            bar,
            state: Mutex::new(State {
                files: 0,
                done: 0,
                audio_seconds: 0.0,
                started: Instant::now(),
            }),
        }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Progress for Bar {
    fn start(&self, files: usize, bytes: u64) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.files = files;
        s.started = Instant::now();
        self.bar.set_length(bytes.max(1));
        self.bar.set_message(format!("0/{files} files"));
    }

    fn file_done(&self, _path: &Path, bytes: u64, audio_seconds: f64) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.done += 1;
        s.audio_seconds += audio_seconds;
        let wall = s.started.elapsed().as_secs_f64().max(1e-3);
        self.bar.inc(bytes);
        self.bar.set_message(format!(
            "{}/{} files, {:.2} h audio, {:.0}x real time",
            s.done,
            s.files,
            s.audio_seconds / 3600.0,
            s.audio_seconds / wall
        ));
    }
}
