//! How far a job has got, for front ends that draw a progress bar (the
//! browser page, the Python package): a callback told the fraction of the
//! input's audio processed so far.

use std::sync::Arc;

/// A callback that receives the fraction (`0.0..=1.0`) of the input's audio
/// a stamp or verify has processed so far. It is called at most once per
/// percent, with fractions that only grow, and with `1.0` at the end of the
/// audio; not at all when the container does not state its length.
#[derive(Clone)]
pub struct Progress(Arc<dyn Fn(f64) + Send + Sync>);

impl Progress {
    /// Wraps `report` as a progress callback.
    pub fn new(report: impl Fn(f64) + Send + Sync + 'static) -> Self {
        Progress(Arc::new(report))
    }
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Progress(..)")
    }
}

/// Counts the frames of one pass over the audio and reports them to a
/// [`Progress`], mapped into `span` of the whole job (a job that reads the
/// audio twice gives each pass half).
pub(crate) struct Meter<'a> {
    progress: Option<&'a Progress>,
    total: Option<u64>,
    channels: usize,
    frames: u64,
    span: (f64, f64),
    percent: u32,
}

impl<'a> Meter<'a> {
    /// A meter for a pass over `total` frames (if the container states it)
    /// of interleaved `channels`.
    pub(crate) fn new(progress: Option<&'a Progress>, total: Option<u64>, channels: u16) -> Self {
        Meter {
            progress,
            total: total.filter(|&t| t > 0),
            channels: usize::from(channels.max(1)),
            frames: 0,
            span: (0.0, 1.0),
            percent: 0,
        }
    }

    /// This pass is the part `from..to` of the whole job.
    pub(crate) fn within(mut self, from: f64, to: f64) -> Self {
        self.span = (from, to);
        self.percent = (from * 100.0) as u32;
        self
    }

    /// `samples` more interleaved samples (whole frames) were processed.
    pub(crate) fn add(&mut self, samples: usize) {
        self.frames += (samples / self.channels) as u64;
        if let Some(total) = self.total {
            let done = (self.frames as f64 / total as f64).min(1.0);
            self.report(self.span.0 + done * (self.span.1 - self.span.0));
        }
    }

    /// The pass reached the end of the audio.
    pub(crate) fn finish(&mut self) {
        if self.total.is_some() {
            self.report(self.span.1);
        }
    }

    fn report(&mut self, fraction: f64) {
        let percent = (fraction * 100.0).floor() as u32;
        if percent > self.percent {
            self.percent = percent;
            if let Some(p) = self.progress {
                (p.0)(f64::from(percent) / 100.0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn recorder() -> (Progress, Arc<Mutex<Vec<f64>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = Arc::clone(&seen);
        (Progress::new(move |f| s.lock().unwrap().push(f)), seen)
    }

    #[test]
    fn reports_each_percent_once_and_ends_at_one() {
        let (p, seen) = recorder();
        let mut m = Meter::new(Some(&p), Some(1000), 2);
        for _ in 0..400 {
            m.add(2);
        }
        m.add(1200);
        m.finish();
        let seen = seen.lock().unwrap();
        // 1 % .. 40 % one by one, then the jump to the end reported once.
        assert_eq!(seen.len(), 41);
        assert_eq!(seen[0], 0.01);
        assert_eq!(seen[39], 0.4);
        assert_eq!(seen[40], 1.0);
        assert!(seen.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn a_second_pass_continues_where_the_first_ended() {
        let (p, seen) = recorder();
        let mut first = Meter::new(Some(&p), Some(10), 1).within(0.0, 0.5);
        first.add(10);
        first.finish();
        let mut second = Meter::new(Some(&p), Some(10), 1).within(0.5, 1.0);
        second.add(5);
        second.finish();
        assert_eq!(*seen.lock().unwrap(), vec![0.5, 0.75, 1.0]);
    }

    #[test]
    fn an_unknown_length_reports_nothing() {
        let (p, seen) = recorder();
        let mut m = Meter::new(Some(&p), None, 1);
        m.add(100);
        m.finish();
        assert!(seen.lock().unwrap().is_empty());
    }
}
