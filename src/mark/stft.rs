//! Windowed real FFT of one canonical frame (the detector's analysis), with
//! the plan and scratch built once.

use super::layout::FRAME;
use realfft::num_complex::Complex32;
use realfft::{RealFftPlanner, RealToComplex};
use std::sync::Arc;

/// Sine window of `len` samples; used for analysis and synthesis, its square
/// sums to one at 50 % overlap.
pub fn sine_window(len: usize) -> Vec<f32> {
    (0..len)
        .map(|n| (std::f64::consts::PI * (n as f64 + 0.5) / len as f64).sin() as f32)
        .collect()
}

/// Forward FFT of one frame, allocation-free after construction.
pub struct FrameFft {
    fwd: Arc<dyn RealToComplex<f32>>,
    window: Vec<f32>,
    time: Vec<f32>,
    spec: Vec<Complex32>,
    scratch_fwd: Vec<Complex32>,
}

impl std::fmt::Debug for FrameFft {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FrameFft")
    }
}

impl Default for FrameFft {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameFft {
    /// Plans the transform for [`FRAME`] samples.
    pub fn new() -> Self {
        Self::with_len(FRAME)
    }

    /// Plans the transform for frames of `len` samples (even).
    pub fn with_len(len: usize) -> Self {
        let mut planner = RealFftPlanner::<f32>::new();
        let fwd = planner.plan_fft_forward(len);
        let scratch_fwd = fwd.make_scratch_vec();
        FrameFft {
            window: sine_window(len),
            time: vec![0.0; len],
            spec: vec![Complex32::default(); len / 2 + 1],
            scratch_fwd,
            fwd,
        }
    }

    /// Windows `frame` (the planned length, [`FRAME`] by default) and returns
    /// its spectrum (`len / 2 + 1` bins, [`super::layout::BINS`] by default).
    pub fn forward(&mut self, frame: &[f32]) -> &[Complex32] {
        for ((t, &x), &w) in self.time.iter_mut().zip(frame).zip(&self.window) {
            *t = x * w;
        }
        self.fwd
            .process_with_scratch(&mut self.time, &mut self.spec, &mut self.scratch_fwd)
            .expect("buffer sizes fixed at construction");
        &self.spec
    }
}
