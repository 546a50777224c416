//! The watermark key and the keyed pattern derived from it.

use super::code::{CODED_BITS, MESSAGE_BITS};
use super::layout::Layout;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use sha2::{Digest, Sha256};

/// A secret (or public) key that determines the marker pattern. Without the
/// key the pattern cannot be told apart from noise, and a marker embedded
/// with one key is invisible to a detector holding another.
#[derive(Clone, PartialEq, Eq)]
pub struct WatermarkKey([u8; 32]);

impl std::fmt::Debug for WatermarkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WatermarkKey({})", self.id())
    }
}

impl WatermarkKey {
    /// The built-in public key: anyone can verify markers made with it.
    pub fn public() -> Self {
        Self::from_bytes(b"earmark public watermark key v1")
    }

    /// Derives a key from arbitrary secret bytes (e.g. the contents of a key file).
    pub fn from_bytes(secret: &[u8]) -> Self {
        let mut h = Sha256::new();
        h.update(b"earmark/watermark-key/v1\0");
        h.update(secret);
        WatermarkKey(h.finalize().into())
    }

    /// A short, non-secret identifier for display (8 hex digits of a hash of the key).
    pub fn id(&self) -> String {
        let d = Sha256::digest(self.0);
        format!("{:02x}{:02x}{:02x}{:02x}", d[0], d[1], d[2], d[3])
    }

    /// Whether this is the built-in public key.
    pub fn is_public(&self) -> bool {
        *self == Self::public()
    }
}

/// One cell of the pattern: its index in the unit and its sign (±1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cell {
    /// `time_cell * freq_cells + freq_cell`.
    pub index: u32,
    /// Pseudo-random sign, ±1.
    pub sign: f32,
}

/// The keyed pattern for one layout: which cells synchronise, which carry
/// which coded bit, their pseudo-random signs, and the message whitening mask.
#[derive(Debug, Clone)]
pub struct Pattern {
    /// The geometry this pattern fills.
    pub layout: Layout,
    /// Synchronisation cells with their known signs.
    pub sync: Vec<Cell>,
    /// Data cells, grouped by coded bit: bit `b` owns
    /// `data[data_start[b] as usize .. data_start[b + 1] as usize]`.
    pub data: Vec<Cell>,
    /// Offsets into `data`, `CODED_BITS + 1` entries.
    pub data_start: Vec<u32>,
    /// Whitening mask XOR-ed onto the message bits.
    pub mask: [u8; MESSAGE_BITS],
}

impl Pattern {
    /// Derives the pattern for `layout` from `key`.
    ///
    /// # Panics
    /// Panics when the layout has fewer data cells than coded bits.
    pub fn new(key: &WatermarkKey, layout: Layout) -> Self {
        let cells = layout.cells();
        assert!(cells >= layout.sync_cells + CODED_BITS, "layout too small");
        let mut rng = ChaCha20Rng::from_seed(key.0);
        let order = shuffled(&mut rng, cells);
        let mut sign = || if rng.next_u32() & 1 == 1 { 1.0 } else { -1.0 };
        let sync: Vec<Cell> = order[..layout.sync_cells]
            .iter()
            .map(|&index| Cell {
                index,
                sign: sign(),
            })
            .collect();
        let (data, data_start) =
            spread_over_bits(&mut rng, &order[layout.sync_cells..], CODED_BITS);
        let mut mask = [0u8; MESSAGE_BITS];
        for m in mask.iter_mut() {
            *m = (rng.next_u32() & 1) as u8;
        }
        Pattern {
            layout,
            sync,
            data,
            data_start,
            mask,
        }
    }

    /// The cells of coded bit `bit`.
    pub fn bit_cells(&self, bit: usize) -> &[Cell] {
        &self.data[self.data_start[bit] as usize..self.data_start[bit + 1] as usize]
    }

    /// Sign of every cell of a unit (indexed by cell index) for the given coded bits.
    pub fn cell_signs(&self, coded: &[u8; CODED_BITS]) -> Vec<f32> {
        let mut signs = vec![0f32; self.layout.cells()];
        for c in &self.sync {
            signs[c.index as usize] = c.sign;
        }
        for (bit, &value) in coded.iter().enumerate() {
            let polarity = if value == 1 { 1.0 } else { -1.0 };
            for c in self.bit_cells(bit) {
                signs[c.index as usize] = c.sign * polarity;
            }
        }
        signs
    }
}

/// A keyed Fisher-Yates permutation of `0..cells`.
fn shuffled(rng: &mut ChaCha20Rng, cells: usize) -> Vec<u32> {
    let mut order: Vec<u32> = (0..cells as u32).collect();
    for i in (1..cells).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    order
}

/// Spreads `cells` (already in keyed random order) round-robin over `bits`
/// coded bits, each cell with a keyed sign, and groups them by bit: returns
/// the cells and the offsets (`bits + 1` entries) where each bit's run starts.
fn spread_over_bits(rng: &mut ChaCha20Rng, cells: &[u32], bits: usize) -> (Vec<Cell>, Vec<u32>) {
    let mut per_bit: Vec<Vec<Cell>> = vec![Vec::new(); bits];
    for (i, &index) in cells.iter().enumerate() {
        let sign = if rng.next_u32() & 1 == 1 { 1.0 } else { -1.0 };
        per_bit[i % bits].push(Cell { index, sign });
    }
    let mut data = Vec::with_capacity(cells.len());
    let mut data_start = Vec::with_capacity(bits + 1);
    for bit_cells in per_bit {
        data_start.push(data.len() as u32);
        data.extend(bit_cells);
    }
    data_start.push(data.len() as u32);
    (data, data_start)
}

/// The keyed pattern of the seal layer (see [`super::seal`]): every seal
/// cell carries a coded bit (no sync cells: the seal uses the main
/// layer's unit phase), with a keyed sign, plus the message whitening mask.
/// It comes from a separate stream of the key's generator, so it is
/// independent of the main [`Pattern`].
#[derive(Debug, Clone)]
pub struct SealPattern {
    /// Cells grouped by coded bit: bit `b` owns
    /// `data[data_start[b] as usize .. data_start[b + 1] as usize]`; a cell's
    /// index is `time_cell * freq_cells + freq_cell` in the seal's geometry.
    pub data: Vec<Cell>,
    /// Offsets into `data`, one per coded bit plus one.
    pub data_start: Vec<u32>,
    /// Whitening mask XOR-ed onto the message bits.
    pub mask: Vec<u8>,
}

impl SealPattern {
    /// Derives the seal pattern for `cells` cells per unit carrying
    /// `coded_bits` coded bits of a `message_bits`-bit message.
    ///
    /// # Panics
    /// Panics when there are fewer cells than coded bits.
    pub fn new(key: &WatermarkKey, cells: usize, coded_bits: usize, message_bits: usize) -> Self {
        assert!(cells >= coded_bits, "seal layout too small");
        let mut rng = ChaCha20Rng::from_seed(key.0);
        rng.set_stream(SEAL_STREAM);
        let order = shuffled(&mut rng, cells);
        let (data, data_start) = spread_over_bits(&mut rng, &order, coded_bits);
        let mask = (0..message_bits)
            .map(|_| (rng.next_u32() & 1) as u8)
            .collect();
        SealPattern {
            data,
            data_start,
            mask,
        }
    }

    /// Number of coded bits.
    pub fn coded_bits(&self) -> usize {
        self.data_start.len() - 1
    }

    /// The cells of coded bit `bit`.
    pub fn bit_cells(&self, bit: usize) -> &[Cell] {
        &self.data[self.data_start[bit] as usize..self.data_start[bit + 1] as usize]
    }
}

/// Generator stream of the seal pattern (the main pattern uses stream 0).
const SEAL_STREAM: u64 = 0x5ea1;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_are_keyed_and_cover_every_cell_once() {
        let l = Layout::V1;
        let a = Pattern::new(&WatermarkKey::public(), l);
        let b = Pattern::new(&WatermarkKey::from_bytes(b"other"), l);
        let mut seen = vec![0u8; l.cells()];
        for c in a.sync.iter().chain(a.data.iter()) {
            seen[c.index as usize] += 1;
        }
        assert!(seen.iter().all(|&n| n == 1));
        assert_ne!(a.sync, b.sync);
        // The same key always gives the same pattern.
        assert_eq!(a.sync, Pattern::new(&WatermarkKey::public(), l).sync);
        // Every coded bit gets a fair share of cells.
        let min = (0..CODED_BITS).map(|b| a.bit_cells(b).len()).min().unwrap();
        assert!(min >= (l.cells() - l.sync_cells) / CODED_BITS);
    }
}
