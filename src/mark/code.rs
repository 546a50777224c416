//! Channel coding for the marker message: CRC-32 integrity check, a rate-1/3
//! convolutional code and its soft-decision Viterbi decoder.
//!
//! The message is the 64-bit payload followed by a CRC-32 of it (96 bits),
//! XOR-ed with a keyed whitening mask, then encoded with the constraint-length-7,
//! rate-1/3 code with generators 133, 171, 165 (octal) and a six-bit zero tail:
//! `(96 + 6) * 3 = 306` coded bits.
//!
//! A decode is accepted only when the CRC matches, so no database is needed to
//! tell a real payload from noise: a random decode passes with probability 2^-32.

/// Payload bits carried by the marker.
pub const PAYLOAD_BITS: usize = 64;
/// CRC bits appended to the payload.
pub const CRC_BITS: usize = 32;
/// Message bits before channel coding: payload plus CRC.
pub const MESSAGE_BITS: usize = PAYLOAD_BITS + CRC_BITS;
const K: usize = 7;
const TAIL: usize = K - 1;
const STATES: usize = 1 << (K - 1);
const GENERATORS: [u32; 3] = [0o133, 0o171, 0o165];
/// Coded bits per marker unit.
pub const CODED_BITS: usize = (MESSAGE_BITS + TAIL) * GENERATORS.len();

/// CRC-32 (IEEE 802.3 polynomial, reflected, init and final XOR `0xFFFF_FFFF`).
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

/// Builds the 96 message bits (0/1) for a payload, whitened with `mask`.
pub fn message_bits(payload: [u8; 8], mask: &[u8; MESSAGE_BITS]) -> [u8; MESSAGE_BITS] {
    let crc = crc32(&payload).to_be_bytes();
    let mut bits = [0u8; MESSAGE_BITS];
    for (i, bit) in bits.iter_mut().enumerate() {
        let byte = if i < PAYLOAD_BITS {
            payload[i / 8]
        } else {
            crc[(i - PAYLOAD_BITS) / 8]
        };
        *bit = ((byte >> (7 - i % 8)) & 1) ^ mask[i];
    }
    bits
}

/// Inverse of [`message_bits`]: removes the mask and checks the CRC.
/// Returns the payload when the CRC matches.
pub fn payload_from_bits(bits: &[u8; MESSAGE_BITS], mask: &[u8; MESSAGE_BITS]) -> Option<[u8; 8]> {
    let mut bytes = [0u8; MESSAGE_BITS / 8];
    for i in 0..MESSAGE_BITS {
        bytes[i / 8] |= (bits[i] ^ mask[i]) << (7 - i % 8);
    }
    let mut payload = [0u8; 8];
    payload.copy_from_slice(&bytes[..8]);
    let crc = u32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    (crc32(&payload) == crc).then_some(payload)
}

fn parity(x: u32) -> u8 {
    (x.count_ones() & 1) as u8
}

/// Coded length of a message of `message_bits` bits (with its zero tail).
pub const fn coded_len(message_bits: usize) -> usize {
    (message_bits + TAIL) * GENERATORS.len()
}

/// Convolutionally encodes the message bits (with a zero tail) into
/// [`CODED_BITS`] bits.
pub fn encode(message: &[u8; MESSAGE_BITS]) -> [u8; CODED_BITS] {
    let mut out = [0u8; CODED_BITS];
    encode_into(message, &mut out);
    out
}

/// Convolutionally encodes a message of any length (bits 0/1, with a zero
/// tail) into `out`, which must be [`coded_len`]`(message.len())` long.
///
/// # Panics
/// Panics when `out` has the wrong length (a programming error).
pub fn encode_into(message: &[u8], out: &mut [u8]) {
    assert_eq!(out.len(), coded_len(message.len()), "coded output length");
    let mut reg = 0u32;
    let tail = [0u8; TAIL];
    for (step, &bit) in message.iter().chain(tail.iter()).enumerate() {
        reg = ((reg << 1) | u32::from(bit)) & ((1 << K) - 1);
        for (g, &gen) in GENERATORS.iter().enumerate() {
            out[step * GENERATORS.len() + g] = parity(reg & gen);
        }
    }
}

/// Soft-decision Viterbi decoder with buffers allocated once.
#[derive(Debug, Clone)]
pub struct Viterbi {
    metric: Vec<f32>,
    next: Vec<f32>,
    /// Survivor decisions: one bit per state per step (the bit shifted out).
    decisions: Vec<u64>,
    /// Expected outputs (+1/-1) for every register value, per generator.
    outputs: Vec<[f32; 3]>,
}

impl Default for Viterbi {
    fn default() -> Self {
        Self::new()
    }
}

impl Viterbi {
    /// Creates a decoder.
    pub fn new() -> Self {
        let outputs = (0..(1u32 << K))
            .map(|reg| {
                let mut o = [0f32; 3];
                for (g, &gen) in GENERATORS.iter().enumerate() {
                    o[g] = if parity(reg & gen) == 1 { 1.0 } else { -1.0 };
                }
                o
            })
            .collect();
        Viterbi {
            metric: vec![0.0; STATES],
            next: vec![0.0; STATES],
            decisions: vec![0; MESSAGE_BITS + TAIL],
            outputs,
        }
    }

    /// Decodes soft values (positive means "bit 1 more likely"; magnitude is
    /// confidence) into message bits. `soft.len()` must be [`CODED_BITS`].
    ///
    /// # Panics
    /// Panics when `soft` has the wrong length (a programming error).
    pub fn decode(&mut self, soft: &[f32]) -> [u8; MESSAGE_BITS] {
        let mut bits = [0u8; MESSAGE_BITS];
        self.decode_into(soft, &mut bits);
        bits
    }

    /// Decodes a message of `bits.len()` bits from its soft coded values
    /// (`soft.len()` must be [`coded_len`]`(bits.len())`) into `bits`.
    /// Buffers grow once to the longest message seen.
    ///
    /// # Panics
    /// Panics when `soft` has the wrong length (a programming error).
    pub fn decode_into(&mut self, soft: &[f32], bits: &mut [u8]) {
        let message_bits = bits.len();
        assert_eq!(soft.len(), coded_len(message_bits), "soft input length");
        const NEG: f32 = -1e30;
        let steps = message_bits + TAIL;
        if self.decisions.len() < steps {
            self.decisions.resize(steps, 0);
        }
        self.metric.fill(NEG);
        self.metric[0] = 0.0;
        for step in 0..steps {
            let s = &soft[step * 3..step * 3 + 3];
            self.next.fill(NEG);
            let mut dec = 0u64;
            // The new state is the low K-1 bits of the register; the register
            // is (old_state << 1 | bit); the bit shifted out is old_state's MSB.
            for new_state in 0..STATES {
                let bit = (new_state & 1) as u32;
                if step >= message_bits && bit == 1 {
                    continue; // tail bits are zero
                }
                let mut best = NEG;
                let mut best_out = 0u64;
                for out_bit in 0..2usize {
                    let old = (out_bit << (K - 2)) | (new_state >> 1);
                    let m = self.metric[old];
                    if m <= NEG {
                        continue;
                    }
                    let reg = ((old as u32) << 1) | bit;
                    let o = &self.outputs[reg as usize];
                    let cand = m + o[0] * s[0] + o[1] * s[1] + o[2] * s[2];
                    if cand > best {
                        best = cand;
                        best_out = out_bit as u64;
                    }
                }
                self.next[new_state] = best;
                dec |= best_out << new_state;
            }
            self.decisions[step] = dec;
            std::mem::swap(&mut self.metric, &mut self.next);
        }
        // Trace back from state 0 (the tail forces it).
        let mut state = 0usize;
        for step in (0..steps).rev() {
            let bit = state & 1;
            if step < message_bits {
                bits[step] = bit as u8;
            }
            let out_bit = ((self.decisions[step] >> state) & 1) as usize;
            state = (out_bit << (K - 2)) | (state >> 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::{RngCore, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn gauss(rng: &mut ChaCha8Rng) -> f32 {
        // Box-Muller.
        let u1 = (rng.next_u32() as f64 + 1.0) / (u32::MAX as f64 + 2.0);
        let u2 = rng.next_u32() as f64 / u32::MAX as f64;
        ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
    }

    #[test]
    fn crc32_matches_reference_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn message_round_trip_and_crc_rejects_flips() {
        let mask = [1u8; MESSAGE_BITS];
        let payload = *b"\x12\x34\x56\x78\x00\x00\x00\x2a";
        let bits = message_bits(payload, &mask);
        assert_eq!(payload_from_bits(&bits, &mask), Some(payload));
        for i in 0..MESSAGE_BITS {
            let mut b = bits;
            b[i] ^= 1;
            assert_eq!(payload_from_bits(&b, &mask), None, "flip at {i}");
        }
    }

    #[test]
    fn all_zero_decode_is_not_a_valid_message() {
        // Silence decodes to all zeros; with the CRC's init/xorout that must fail.
        let mask = [0u8; MESSAGE_BITS];
        assert_eq!(payload_from_bits(&[0u8; MESSAGE_BITS], &mask), None);
    }

    #[test]
    fn viterbi_corrects_noisy_soft_bits() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mask = [0u8; MESSAGE_BITS];
        let mut v = Viterbi::new();
        let mut ok = 0;
        let mut raw_errors = 0;
        for trial in 0..200u64 {
            let payload = (trial.wrapping_mul(0x9E37_79B9_7F4A_7C15)).to_be_bytes();
            let coded = encode(&message_bits(payload, &mask));
            // Es/N0 about -1 dB: many raw errors, still decodable.
            let soft: Vec<f32> = coded
                .iter()
                .map(|&c| if c == 1 { 1.0 } else { -1.0 } + 0.85 * gauss(&mut rng))
                .collect();
            raw_errors += soft
                .iter()
                .zip(coded.iter())
                .filter(|(s, &c)| (**s > 0.0) != (c == 1))
                .count();
            if payload_from_bits(&v.decode(&soft), &mask) == Some(payload) {
                ok += 1;
            }
        }
        let ber = raw_errors as f64 / (200 * CODED_BITS) as f64;
        assert!(ber > 0.08, "test channel too clean: raw BER {ber}");
        assert!(ok >= 190, "decoded {ok}/200 at raw BER {ber}");
    }

    #[test]
    fn viterbi_on_pure_noise_never_passes_crc() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let mask = [1u8; MESSAGE_BITS];
        let mut v = Viterbi::new();
        let mut soft = vec![0f32; CODED_BITS];
        for _ in 0..2000 {
            soft.iter_mut().for_each(|s| *s = gauss(&mut rng));
            assert_eq!(payload_from_bits(&v.decode(&soft), &mask), None);
        }
    }
}
