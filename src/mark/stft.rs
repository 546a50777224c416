//! Windowed real FFT of one canonical frame (the detector's analysis), with
//! the plan and scratch built once.

use super::band_fft::{as_real_mut, BandFft};
use super::layout::FRAME;
use rustfft::num_complex::Complex32;

/// Sine window of `len` samples; used for analysis and synthesis, its square
/// sums to one at 50 % overlap.
pub fn sine_window(len: usize) -> Vec<f32> {
    (0..len)
        .map(|n| libm::sin(std::f64::consts::PI * (n as f64 + 0.5) / len as f64) as f32)
        .collect()
}

/// Forward FFT of one frame, allocation-free after construction. Built on
/// [`BandFft`], so the spectrum is the same bits on every platform.
pub struct FrameFft {
    fft: BandFft,
    window: Vec<f32>,
    /// The windowed frame, packed two real samples per complex value.
    time: Vec<Complex32>,
    spec: Vec<Complex32>,
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

    /// Plans the transform for frames of `len` samples (even, at least 4).
    pub fn with_len(len: usize) -> Self {
        FrameFft {
            fft: BandFft::new(len),
            window: sine_window(len),
            time: vec![Complex32::default(); len / 2],
            spec: vec![Complex32::default(); len / 2 + 1],
        }
    }

    /// Windows `frame` (the planned length, [`FRAME`] by default) and returns
    /// its spectrum (`len / 2 + 1` bins, [`super::layout::BINS`] by default).
    pub fn forward(&mut self, frame: &[f32]) -> &[Complex32] {
        for ((t, &x), &w) in as_real_mut(&mut self.time)
            .iter_mut()
            .zip(frame)
            .zip(&self.window)
        {
            *t = x * w;
        }
        self.fft.forward(&mut self.time, &mut self.spec);
        &self.spec
    }
}
