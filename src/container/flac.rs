//! The native FLAC stream around the audio frames: the `fLaC` marker,
//! metadata block headers, the STREAMINFO block, and the list of blocks in a
//! file (RFC 9639, section 8).

use super::{id3, invalid, read_up_to};
use crate::audio::FlacBlock;
use std::io::{self, Read, Seek, SeekFrom};

/// STREAMINFO block type.
pub(crate) const STREAMINFO: u8 = 0;
/// PADDING block type.
pub(crate) const PADDING: u8 = 1;
/// VORBIS_COMMENT block type.
pub(crate) const VORBIS_COMMENT: u8 = 4;
/// PICTURE block type.
pub(crate) const PICTURE: u8 = 6;
/// Length of the STREAMINFO body.
pub(crate) const STREAMINFO_LEN: usize = 34;
/// Largest metadata block body (24-bit length field).
pub(crate) const MAX_BLOCK_LEN: usize = (1 << 24) - 1;

/// Appends a metadata block header (last-block flag, 7-bit type, 24-bit
/// length).
pub(crate) fn push_block_header(out: &mut Vec<u8>, last: bool, kind: u8, len: usize) {
    debug_assert!(len <= MAX_BLOCK_LEN);
    out.push(if last { 0x80 } else { 0 } | kind);
    out.extend_from_slice(&(len as u32).to_be_bytes()[1..]);
}

/// What STREAMINFO states about a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StreamInfo {
    /// Smallest and largest block size in frames.
    pub block_size: (u16, u16),
    /// Smallest and largest frame in bytes (0: unknown).
    pub frame_bytes: (u32, u32),
    /// Sample rate, Hz (up to 2^20 - 1).
    pub sample_rate: u32,
    /// Channels, 1 to 8.
    pub channels: u8,
    /// Bits per sample, 4 to 32.
    pub bits: u8,
    /// Total frames (interchannel samples); 0: unknown.
    pub total_frames: u64,
    /// MD5 of the samples; all zero: unknown.
    pub md5: [u8; 16],
}

impl StreamInfo {
    /// The 34-byte STREAMINFO body.
    pub(crate) fn to_bytes(self) -> [u8; STREAMINFO_LEN] {
        let mut b = [0u8; STREAMINFO_LEN];
        b[0..2].copy_from_slice(&self.block_size.0.to_be_bytes());
        b[2..4].copy_from_slice(&self.block_size.1.to_be_bytes());
        b[4..7].copy_from_slice(&self.frame_bytes.0.min(0xFF_FFFF).to_be_bytes()[1..]);
        b[7..10].copy_from_slice(&self.frame_bytes.1.min(0xFF_FFFF).to_be_bytes()[1..]);
        // 20 bits rate | 3 bits channels-1 | 5 bits bits-1 | 36 bits total.
        let packed: u64 = (u64::from(self.sample_rate) << 44)
            | (u64::from(self.channels - 1) << 41)
            | (u64::from(self.bits - 1) << 36)
            | (self.total_frames & ((1 << 36) - 1));
        b[10..18].copy_from_slice(&packed.to_be_bytes());
        b[18..34].copy_from_slice(&self.md5);
        b
    }
}

/// True for a FLAC header whose STREAMINFO states 0 total frames (a valid
/// empty FLAC file, which decoders cannot open).
pub(crate) fn declares_no_frames(head: &[u8]) -> bool {
    // "fLaC", block header (type 0), then STREAMINFO: the 36-bit total sits
    // in the low 4 bits of byte 13 and bytes 14..18 of the block body.
    head.len() >= 8 + 18
        && head.starts_with(b"fLaC")
        && head[4] & 0x7f == STREAMINFO
        && head[8 + 13] & 0x0f == 0
        && head[8 + 14..8 + 18].iter().all(|&b| b == 0)
}

/// One metadata block of a FLAC file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Block {
    /// Offset of its 4-byte header.
    pub at: u64,
    /// Block type (0 STREAMINFO, 1 PADDING, 4 VORBIS_COMMENT, 6 PICTURE, ...).
    pub kind: u8,
    /// Body length in bytes.
    pub len: u64,
}

/// Where the FLAC stream (`fLaC`) starts: after an ID3v2 tag in front (as
/// C2PA tools put one there to hold a manifest store), else at 0.
pub(crate) fn stream_start<R: Read + Seek + ?Sized>(r: &mut R) -> io::Result<u64> {
    r.seek(SeekFrom::Start(0))?;
    let mut head = [0u8; 10];
    let n = read_up_to(r, &mut head)?;
    Ok(id3::tag_len(&head[..n]).unwrap_or(0))
}

/// The metadata blocks of a FLAC file (an ID3v2 tag in front is skipped),
/// up to the first audio frame. Blocks that run past the end of the stream,
/// a type 127 block, or a missing `fLaC` are `InvalidData` errors.
pub(crate) fn blocks<R: Read + Seek + ?Sized>(r: &mut R) -> io::Result<Vec<Block>> {
    let mut out = Vec::new();
    scan(r, &mut out)?;
    Ok(out)
}

/// The blocks of [`blocks`], pushed to `out` as they are found, so a
/// caller still has the sound ones in front of a broken one.
fn scan<R: Read + Seek + ?Sized>(r: &mut R, out: &mut Vec<Block>) -> io::Result<()> {
    let file_len = r.seek(SeekFrom::End(0))?;
    r.seek(SeekFrom::Start(0))?;
    let mut head = [0u8; 10];
    let n = read_up_to(r, &mut head)?;
    let start = id3::tag_len(&head[..n]).unwrap_or(0);
    r.seek(SeekFrom::Start(start))?;
    let mut magic = [0u8; 4];
    if read_up_to(r, &mut magic)? < 4 || &magic != b"fLaC" {
        return Err(invalid("not a FLAC file"));
    }
    let mut at = start + 4;
    loop {
        let mut h = [0u8; 4];
        r.seek(SeekFrom::Start(at))?;
        if read_up_to(r, &mut h)? < 4 {
            return Err(invalid("FLAC metadata cut short"));
        }
        let kind = h[0] & 0x7f;
        if kind == 127 {
            return Err(invalid("invalid FLAC metadata block type 127"));
        }
        let len = u64::from(u32::from_be_bytes([0, h[1], h[2], h[3]]));
        if at + 4 + len > file_len {
            return Err(invalid("FLAC metadata block runs past the end of the file"));
        }
        out.push(Block { at, kind, len });
        at += 4 + len;
        if h[0] & 0x80 != 0 {
            return Ok(());
        }
    }
}

/// Checks the length fields inside the Vorbis comment and picture blocks
/// against their block before any reader sees them: symphonia allocates
/// what a 32-bit length declares, so a 54-byte file can ask for 4 GiB and
/// abort the process. An `InvalidData` error names the field; a block list
/// that breaks off is left to the readers (they report it), after the
/// blocks before the break are checked.
pub(crate) fn check_metadata<R: Read + Seek + ?Sized>(r: &mut R) -> io::Result<()> {
    // The blocks in front of a broken one are checked too (a fuzzed file
    // hid a 795 MB picture description in front of a block that ran past
    // the end of the file).
    let mut list = Vec::new();
    let _ = scan(r, &mut list);
    for b in list {
        let mut f = Fields {
            r: &mut *r,
            at: b.at + 4,
            end: b.at + 4 + b.len,
        };
        match b.kind {
            VORBIS_COMMENT => {
                let vendor = f.u32_le("the vendor string length")?;
                f.skip(vendor, "the vendor string")?;
                let count = f.u32_le("the comment count")?;
                if u64::from(count) * 4 > f.end - f.at {
                    return Err(bad(format!(
                        "the Vorbis comment block declares {count} comments, more than its {} bytes can hold",
                        b.len
                    )));
                }
                for i in 1..=count {
                    let len = f.u32_le("a comment length")?;
                    f.skip(len, &format!("comment {i}"))?;
                }
            }
            PICTURE => {
                f.u32_be("the picture type")?;
                let mime = f.u32_be("the picture MIME type length")?;
                f.skip(mime, "the picture MIME type")?;
                let desc = f.u32_be("the picture description length")?;
                f.skip(desc, "the picture description")?;
                f.skip(16, "the picture dimensions")?;
                let data = f.u32_be("the picture data length")?;
                f.skip(data, "the picture data")?;
            }
            _ => {}
        }
    }
    r.seek(SeekFrom::Start(0))?;
    Ok(())
}

fn bad(what: String) -> io::Error {
    invalid(format!("corrupt FLAC metadata: {what}"))
}

/// A cursor over one block's body that never reads or skips past it.
struct Fields<'a, R: ?Sized> {
    r: &'a mut R,
    at: u64,
    end: u64,
}

impl<R: Read + Seek + ?Sized> Fields<'_, R> {
    fn bytes4(&mut self, what: &str) -> io::Result<[u8; 4]> {
        if self.at + 4 > self.end {
            return Err(bad(format!("{what} runs past the end of its block")));
        }
        self.r.seek(SeekFrom::Start(self.at))?;
        let mut b = [0u8; 4];
        self.r.read_exact(&mut b)?;
        self.at += 4;
        Ok(b)
    }

    fn u32_le(&mut self, what: &str) -> io::Result<u32> {
        self.bytes4(what).map(u32::from_le_bytes)
    }

    fn u32_be(&mut self, what: &str) -> io::Result<u32> {
        self.bytes4(what).map(u32::from_be_bytes)
    }

    fn skip(&mut self, len: u32, what: &str) -> io::Result<()> {
        let left = self.end - self.at;
        if u64::from(len) > left {
            return Err(bad(format!(
                "{what} claims {len} bytes; only {left} are left in its block"
            )));
        }
        self.at += u64::from(len);
        Ok(())
    }
}

/// The metadata blocks of a small FLAC file in memory, as `(type, body)`.
pub(crate) fn blocks_in(bytes: &[u8]) -> io::Result<Vec<FlacBlock>> {
    let list = blocks(&mut io::Cursor::new(bytes))?;
    Ok(list
        .iter()
        .map(|b| {
            let s = (b.at + 4) as usize;
            (b.kind, bytes[s..s + b.len as usize].to_vec())
        })
        .collect())
}

/// A FLAC file with STREAMINFO only (16-bit stereo 44.1 kHz, no frames), to
/// write metadata blocks into and take them out again.
pub(crate) fn empty_file() -> Vec<u8> {
    let info = StreamInfo {
        block_size: (4096, 4096),
        frame_bytes: (0, 0),
        sample_rate: 44_100,
        channels: 2,
        bits: 16,
        total_frames: 0,
        md5: [0; 16],
    };
    let mut v = b"fLaC".to_vec();
    push_block_header(&mut v, true, STREAMINFO, STREAMINFO_LEN);
    v.extend_from_slice(&info.to_bytes());
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaminfo_packing() {
        let info = StreamInfo {
            block_size: (4096, 4096),
            frame_bytes: (10, 20),
            sample_rate: 44_100,
            channels: 2,
            bits: 16,
            total_frames: 123_456,
            md5: [7; 16],
        };
        let b = info.to_bytes();
        assert_eq!(&b[0..4], &[0x10, 0x00, 0x10, 0x00]);
        assert_eq!(&b[4..10], &[0, 0, 10, 0, 0, 20]);
        // 44100 = 0x0AC44 -> 0x0A 0xC4 0x4(2 ch -> 001, 16 bit -> 01111)
        assert_eq!(b[10], 0x0A);
        assert_eq!(b[11], 0xC4);
        assert_eq!(b[12], 0x42);
        assert_eq!(b[13] >> 4, 0xF);
        assert_eq!(&b[18..], &[7; 16]);
        assert!(declares_no_frames(&empty_file()));
    }

    #[test]
    fn lists_blocks_behind_an_id3_tag() {
        let mut bytes = b"ID3\x04\x00\x00\x00\x00\x00\x02xy".to_vec();
        let flac = empty_file();
        bytes.extend_from_slice(&flac[..4]);
        let mut body = flac[4..].to_vec();
        body[0] &= 0x7f; // not last any more
        bytes.extend_from_slice(&body);
        push_block_header(&mut bytes, true, PADDING, 3);
        bytes.extend_from_slice(&[0; 3]);
        let list = blocks(&mut io::Cursor::new(&bytes)).unwrap();
        let kinds: Vec<u8> = list.iter().map(|b| b.kind).collect();
        assert_eq!(kinds, vec![STREAMINFO, PADDING]);
        assert_eq!(list[0].at, 12 + 4);
        bytes.truncate(bytes.len() - 1);
        assert!(blocks(&mut io::Cursor::new(&bytes)).is_err(), "cut short");
    }
}
