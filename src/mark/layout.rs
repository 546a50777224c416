//! The marker's time–frequency layout: every constant that fixes where the
//! marker lives, in one place.
//!
//! All DSP runs in a *canonical domain*: mono, [`CANONICAL_RATE`] Hz. Frames
//! are [`FRAME`] samples long (23.2 ms) with a [`HOP`] of half a frame; FFT
//! bins are `CANONICAL_RATE / FRAME` ≈ 43.07 Hz apart. The marker occupies
//! the bins `bin_lo .. bin_lo + freq_cells * cell_bins` (≈ 600–4400 Hz by
//! default), a band that survives MP3/Vorbis coding, low-pass filtering at
//! 5 kHz and resampling down to 22.05 kHz.
//!
//! Bins and frames are grouped into *cells* of `cell_bins × cell_frames`; a
//! cell carries one sign (+1 raises its log-magnitude, −1 lowers it). One
//! *unit* is `time_cells` cells long in time and holds the complete message;
//! units repeat back to back from the first sample of the file.

/// Sample rate of the canonical analysis domain, Hz.
pub const CANONICAL_RATE: u32 = 11_025;
/// STFT frame length in canonical samples.
pub const FRAME: usize = 256;
/// STFT hop in canonical samples (50 % overlap, sine window).
pub const HOP: usize = FRAME / 2;
/// Number of non-redundant real-FFT bins per frame.
pub const BINS: usize = FRAME / 2 + 1;

/// Mean power per marker bin (canonical FFT units, where full-scale white
/// noise has about 43) below which audio counts as silence and is left
/// untouched: about −106 dB relative to full-scale noise, under the noise
/// floor of 16-bit audio.
pub const SILENCE_POWER: f32 = 1e-9;
/// Mean power per marker bin below which audio counts as *quiet*: about
/// −66 dB relative to full-scale noise. The marker is still embedded there,
/// but 16-bit quantisation and codecs may erase it.
pub const QUIET_POWER: f32 = 1e-5;

/// The seal's chip across the bins of a marker cell (see [`super::seal`]):
/// a seal sign of +1 raises the cell's lower two bins and lowers its upper
/// two (−1 the reverse), which leaves the cell's mean log power, what the
/// marker reads, unchanged to first order.
pub const SEAL_CHIP: [f32; 4] = [1.0, 1.0, -1.0, -1.0];
/// Depth of the seal relative to the marker's depth in the same bin: every
/// bin's factor is `1 + β (s_marker + SEAL_DEPTH · s_seal · chip)`, so the
/// seal adds `SEAL_DEPTH²` (36 %, 1.3 dB) to the marker's power.
pub const SEAL_DEPTH: f32 = 0.6;

/// Geometry of the marker in the canonical domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Layout {
    /// First FFT bin used by the marker.
    pub bin_lo: usize,
    /// Bins per cell.
    pub cell_bins: usize,
    /// Cells across frequency.
    pub freq_cells: usize,
    /// Frames (hops) per cell.
    pub cell_frames: usize,
    /// Cells across time in one unit.
    pub time_cells: usize,
    /// Cells of each unit reserved for the synchronisation pattern.
    pub sync_cells: usize,
    /// Detection evaluates `sub` sub-hop offsets per hop (hop / sub samples apart).
    pub sub: usize,
}

impl Layout {
    /// The layout used by marker version 1.
    pub const V1: Layout = Layout {
        bin_lo: 14,
        cell_bins: 4,
        freq_cells: 22,
        cell_frames: 2,
        time_cells: 99,
        sync_cells: 648,
        sub: 4,
    };

    /// One past the last marker bin.
    pub fn bin_hi(&self) -> usize {
        self.bin_lo + self.cell_bins * self.freq_cells
    }
    /// Cells per unit.
    pub fn cells(&self) -> usize {
        self.freq_cells * self.time_cells
    }
    /// Frames (hops) per unit.
    pub fn unit_frames(&self) -> usize {
        self.cell_frames * self.time_cells
    }
    /// Canonical samples per unit.
    pub fn unit_samples(&self) -> usize {
        self.unit_frames() * HOP
    }
    /// Unit length in seconds.
    pub fn unit_seconds(&self) -> f64 {
        self.unit_samples() as f64 / f64::from(CANONICAL_RATE)
    }
    /// Detection hop in canonical samples.
    pub fn fine_hop(&self) -> usize {
        HOP / self.sub
    }
    /// Fine (detection) frames per unit.
    pub fn unit_fine_frames(&self) -> usize {
        self.unit_frames() * self.sub
    }
}

impl Default for Layout {
    fn default() -> Self {
        Layout::V1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_band_and_unit_length() {
        let l = Layout::V1;
        assert!(l.bin_hi() < BINS);
        let hz = |bin: usize| bin as f64 * f64::from(CANONICAL_RATE) / FRAME as f64;
        assert!(hz(l.bin_lo) > 500.0 && hz(l.bin_hi()) < 4500.0);
        // Any 5-second window must contain one complete unit.
        assert!(2.0 * l.unit_seconds() < 5.0, "unit {} s", l.unit_seconds());
        assert!(l.sync_cells < l.cells());
        assert_eq!(HOP % l.sub, 0);
        // The seal's chip spans one cell and has no mean.
        assert_eq!(SEAL_CHIP.len(), l.cell_bins);
        assert_eq!(SEAL_CHIP.iter().sum::<f32>(), 0.0);
    }
}
