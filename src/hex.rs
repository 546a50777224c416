//! Lowercase hexadecimal, written by hand (no dependency).
const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Encodes `bytes` as lowercase hex, two digits per byte.
pub(crate) fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Why [`decode`] rejected its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HexError {
    /// The byte at this offset is not one of `0-9a-f`.
    NotHex(usize),
    /// All digits are valid but there are this many of them instead of `2 * N`.
    Length(usize),
}

/// Decodes exactly `N` bytes from `2 * N` lowercase hex digits.
///
/// Uppercase is rejected on purpose: every value then has exactly one spelling, so a
/// signed document cannot be altered by changing the case of a digit.
pub(crate) fn decode<const N: usize>(text: &str) -> Result<[u8; N], HexError> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    let bytes = text.as_bytes();
    let mut nibbles = Vec::with_capacity(bytes.len());
    for (offset, &c) in bytes.iter().enumerate() {
        nibbles.push(nibble(c).ok_or(HexError::NotHex(offset))?);
    }
    if nibbles.len() != 2 * N {
        return Err(HexError::Length(nibbles.len()));
    }
    let mut out = [0u8; N];
    for (o, pair) in out.iter_mut().zip(nibbles.chunks_exact(2)) {
        *o = (pair[0] << 4) | pair[1];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::HexError;

    #[test]
    fn round_trip_and_strictness() {
        let bytes = [0x00, 0x1a, 0xff, 0x7e];
        assert_eq!(super::encode(&bytes), "001aff7e");
        assert_eq!(super::decode::<4>("001aff7e"), Ok(bytes));
        assert_eq!(super::decode::<4>("001AFF7E"), Err(HexError::NotHex(3)));
        assert_eq!(super::decode::<4>("001aff7"), Err(HexError::Length(7)));
        assert_eq!(super::decode::<4>("001aff7e00"), Err(HexError::Length(10)));
        assert_eq!(super::decode::<4>("001aff7g"), Err(HexError::NotHex(7)));
        assert_eq!(super::decode::<2>("é1a"), Err(HexError::NotHex(0)));
    }
}
