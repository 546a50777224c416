//! Windowed real FFT of one canonical frame, with plans and scratch built once.

use super::layout::{BINS, FRAME};
use realfft::num_complex::Complex32;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};
use std::sync::Arc;

/// Sine window of [`FRAME`] samples; used for analysis and synthesis, its
/// square sums to one at 50 % overlap.
pub fn sine_window() -> Vec<f32> {
    (0..FRAME)
        .map(|n| (std::f64::consts::PI * (n as f64 + 0.5) / FRAME as f64).sin() as f32)
        .collect()
}

/// Forward and inverse FFT of one frame, allocation-free after construction.
pub struct FrameFft {
    fwd: Arc<dyn RealToComplex<f32>>,
    inv: Arc<dyn ComplexToReal<f32>>,
    window: Vec<f32>,
    time: Vec<f32>,
    spec: Vec<Complex32>,
    scratch_fwd: Vec<Complex32>,
    scratch_inv: Vec<Complex32>,
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
    /// Plans the transforms for [`FRAME`] samples.
    pub fn new() -> Self {
        let mut planner = RealFftPlanner::<f32>::new();
        let fwd = planner.plan_fft_forward(FRAME);
        let inv = planner.plan_fft_inverse(FRAME);
        let scratch_fwd = fwd.make_scratch_vec();
        let scratch_inv = inv.make_scratch_vec();
        FrameFft {
            window: sine_window(),
            time: vec![0.0; FRAME],
            spec: vec![Complex32::default(); BINS],
            scratch_fwd,
            scratch_inv,
            fwd,
            inv,
        }
    }

    /// Windows `frame` (length [`FRAME`]) and returns its spectrum ([`BINS`] bins).
    pub fn forward(&mut self, frame: &[f32]) -> &[Complex32] {
        for ((t, &x), &w) in self.time.iter_mut().zip(frame).zip(&self.window) {
            *t = x * w;
        }
        self.fwd
            .process_with_scratch(&mut self.time, &mut self.spec, &mut self.scratch_fwd)
            .expect("buffer sizes fixed at construction");
        &self.spec
    }

    /// Inverse-transforms `spec` (modified in place as scratch), applies the
    /// synthesis window and the 1/FRAME normalisation, and adds the result to
    /// `out` (length [`FRAME`]).
    pub fn inverse_add(&mut self, spec: &mut [Complex32], out: &mut [f32]) {
        // A real signal's DC and Nyquist bins must be real.
        spec[0].im = 0.0;
        spec[BINS - 1].im = 0.0;
        self.inv
            .process_with_scratch(spec, &mut self.time, &mut self.scratch_inv)
            .expect("buffer sizes fixed at construction");
        let scale = 1.0 / FRAME as f32;
        for ((o, &t), &w) in out.iter_mut().zip(&self.time).zip(&self.window) {
            *o += t * w * scale;
        }
    }
}
