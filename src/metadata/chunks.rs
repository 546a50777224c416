//! The XMP homes that `lofty` does not write: the WAV `_PMX` chunk, the AIFF
//! `APPL` chunk with signature `XMP `, and the MP4 top-level `uuid` box
//! `BE7ACFCB-97A9-42E8-9C71-999491E3AFAC`.
//!
//! All three writers work in place and never move audio data: an existing
//! XMP chunk or box keeps its size and is retyped to a filler that every
//! reader skips (`JUNK` in RIFF and AIFF, `free` in MP4), and the new packet is
//! appended at the end of the file, with the container size fixed. So sample
//! offsets, MP4 chunk-offset tables and everything else stay valid. Only
//! top-level chunks and boxes are read; nothing here loads the audio.

use std::io::{self, Read, Seek, SeekFrom, Write};

/// The MP4 `uuid` box user type for XMP (ISO 16684-1 / Adobe XMP part 3).
pub const MP4_XMP_UUID: [u8; 16] = [
    0xBE, 0x7A, 0xCF, 0xCB, 0x97, 0xA9, 0x42, 0xE8, 0x9C, 0x71, 0x99, 0x94, 0x91, 0xE3, 0xAF, 0xAC,
];

/// Largest packet read back from a file (XMP packets are a few KiB; a huge
/// one is a broken or hostile file).
const MAX_XMP: u64 = 4 << 20;

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Byte order of an IFF-style container's sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    /// RIFF/WAVE: little-endian.
    Little,
    /// FORM/AIFF: big-endian.
    Big,
}

impl Order {
    fn read(self, b: [u8; 4]) -> u32 {
        match self {
            Order::Little => u32::from_le_bytes(b),
            Order::Big => u32::from_be_bytes(b),
        }
    }
    fn write(self, v: u32) -> [u8; 4] {
        match self {
            Order::Little => v.to_le_bytes(),
            Order::Big => v.to_be_bytes(),
        }
    }
}

/// One top-level chunk: where its header starts, its id and data length.
#[derive(Debug, Clone, Copy)]
struct Chunk {
    at: u64,
    id: [u8; 4],
    len: u64,
}

/// Lists the top-level chunks of a RIFF (`RIFF....WAVE`) or IFF
/// (`FORM....AIFF`/`AIFC`) file. Stops quietly at a truncated last chunk.
fn list_chunks<F: Read + Seek>(f: &mut F, order: Order) -> io::Result<(Vec<Chunk>, u64)> {
    let file_len = f.seek(SeekFrom::End(0))?;
    f.seek(SeekFrom::Start(0))?;
    let mut head = [0u8; 12];
    f.read_exact(&mut head)?;
    let ok = match order {
        Order::Little => &head[0..4] == b"RIFF" && &head[8..12] == b"WAVE",
        Order::Big => &head[0..4] == b"FORM" && matches!(&head[8..12], b"AIFF" | b"AIFC"),
    };
    if !ok {
        return Err(invalid("not a RIFF/WAVE or FORM/AIFF file"));
    }
    let mut chunks = Vec::new();
    let mut at = 12u64;
    while at + 8 <= file_len {
        f.seek(SeekFrom::Start(at))?;
        let mut h = [0u8; 8];
        f.read_exact(&mut h)?;
        let len = u64::from(order.read([h[4], h[5], h[6], h[7]]));
        let id = [h[0], h[1], h[2], h[3]];
        chunks.push(Chunk { at, id, len });
        at += 8 + len + (len & 1);
    }
    Ok((chunks, file_len))
}

fn read_chunk_data<F: Read + Seek>(f: &mut F, c: &Chunk, file_len: u64) -> io::Result<Vec<u8>> {
    if c.len > MAX_XMP {
        return Err(invalid(format!(
            "{} chunk of {} bytes is too large for metadata",
            String::from_utf8_lossy(&c.id),
            c.len
        )));
    }
    let end = (c.at + 8 + c.len).min(file_len);
    f.seek(SeekFrom::Start(c.at + 8))?;
    let mut data = vec![0u8; (end - c.at - 8) as usize];
    f.read_exact(&mut data)?;
    Ok(data)
}

fn is_xmp_chunk(order: Order, id: &[u8; 4], data_head: &[u8]) -> bool {
    match order {
        Order::Little => id == b"_PMX",
        Order::Big => id == b"APPL" && data_head.starts_with(b"XMP "),
    }
}

/// The XMP packets in a WAV (`_PMX`) or AIFF (`APPL`/`XMP `) file, in file order.
fn iff_read_xmp<F: Read + Seek>(f: &mut F, order: Order) -> io::Result<Vec<Vec<u8>>> {
    let (chunks, file_len) = list_chunks(f, order)?;
    let mut out = Vec::new();
    for c in chunks {
        let candidate = match order {
            Order::Little => &c.id == b"_PMX",
            Order::Big => &c.id == b"APPL",
        };
        if !candidate {
            continue;
        }
        let data = read_chunk_data(f, &c, file_len)?;
        if is_xmp_chunk(order, &c.id, &data) {
            let body = match order {
                Order::Little => data,
                Order::Big => data[4..].to_vec(),
            };
            out.push(body);
        }
    }
    Ok(out)
}

/// Retypes every top-level chunk for which `retire(id, first 4 data bytes)`
/// holds to `JUNK` (same size, so nothing moves), appends `new` chunks at the
/// end and fixes the container size. The position is left at the new end.
fn iff_replace<F: Read + Write + Seek>(
    f: &mut F,
    order: Order,
    retire: impl Fn(&[u8; 4], &[u8]) -> bool,
    new: &[([u8; 4], Vec<u8>)],
) -> io::Result<()> {
    let (chunks, file_len) = list_chunks(f, order)?;
    let mut end = 12u64;
    for c in &chunks {
        let head_len = c.len.min(4).min(file_len.saturating_sub(c.at + 8)) as usize;
        f.seek(SeekFrom::Start(c.at + 8))?;
        let mut head = vec![0u8; head_len];
        f.read_exact(&mut head)?;
        if retire(&c.id, &head) {
            f.seek(SeekFrom::Start(c.at))?;
            f.write_all(b"JUNK")?;
        }
        end = end.max((c.at + 8 + c.len + (c.len & 1)).min(file_len));
    }
    // Anything after the last whole chunk (a truncated tail) is overwritten.
    let mut at = end;
    if at % 2 == 1 {
        f.seek(SeekFrom::Start(at))?;
        f.write_all(&[0])?;
        at += 1;
    }
    f.seek(SeekFrom::Start(at))?;
    for (id, data) in new {
        let len = u32::try_from(data.len()).map_err(|_| invalid("metadata chunk too large"))?;
        f.write_all(id)?;
        f.write_all(&order.write(len))?;
        f.write_all(data)?;
        if data.len() % 2 == 1 {
            f.write_all(&[0])?;
        }
    }
    let new_len = f.stream_position()?;
    let form = u32::try_from(new_len - 8)
        .map_err(|_| invalid("file too large for a 32-bit RIFF/FORM size"))?;
    f.seek(SeekFrom::Start(4))?;
    f.write_all(&order.write(form))?;
    f.seek(SeekFrom::Start(new_len))?;
    Ok(())
}

/// Replaces every XMP chunk with `JUNK` of the same size and appends one new
/// XMP chunk holding `packet`; fixes the container size.
fn iff_set_xmp<F: Read + Write + Seek>(f: &mut F, order: Order, packet: &[u8]) -> io::Result<()> {
    let chunk = match order {
        Order::Little => (*b"_PMX", packet.to_vec()),
        Order::Big => {
            let mut data = b"XMP ".to_vec();
            data.extend_from_slice(packet);
            (*b"APPL", data)
        }
    };
    iff_replace(f, order, |id, head| is_xmp_chunk(order, id, head), &[chunk])
}

/// The top-level chunks of an in-memory RIFF/WAVE or FORM/AIFF file.
fn chunks_in(bytes: &[u8], order: Order) -> io::Result<Vec<([u8; 4], Vec<u8>)>> {
    let mut cursor = io::Cursor::new(bytes);
    let (chunks, len) = list_chunks(&mut cursor, order)?;
    Ok(chunks
        .iter()
        .map(|c| {
            let start = (c.at + 8) as usize;
            let end = ((c.at + 8 + c.len).min(len)) as usize;
            (c.id, bytes[start..end].to_vec())
        })
        .collect())
}

fn is_wav_tag_chunk(id: &[u8; 4], head: &[u8]) -> bool {
    (id == b"LIST" && head == b"INFO") || id == b"ID3 " || id == b"id3 "
}

fn is_aiff_tag_chunk(id: &[u8; 4], _head: &[u8]) -> bool {
    matches!(
        id,
        b"NAME" | b"AUTH" | b"(c) " | b"ANNO" | b"COMT" | b"ID3 " | b"id3 "
    )
}

/// Moves the tag chunks (`LIST`/`INFO`, `ID3 `) of `donor`, a small WAV file
/// in memory, into the WAV file `f`: its own tag chunks become `JUNK` and the
/// donor's are appended. Nothing is read into memory but chunk headers, so
/// this works on files of any length (lofty rewrites a WAV whole, in memory).
pub fn wav_transplant_tags(f: &mut std::fs::File, donor: &[u8]) -> io::Result<()> {
    let new: Vec<_> = chunks_in(donor, Order::Little)?
        .into_iter()
        .filter(|(id, data)| is_wav_tag_chunk(id, &data[..data.len().min(4)]))
        .collect();
    iff_replace(f, Order::Little, is_wav_tag_chunk, &new)?;
    let len = f.stream_position()?;
    f.set_len(len)
}

/// As [`wav_transplant_tags`], for AIFF text chunks (`NAME`, `AUTH`, `(c) `,
/// `ANNO`, `COMT`) and the `ID3 ` chunk.
pub fn aiff_transplant_tags(f: &mut std::fs::File, donor: &[u8]) -> io::Result<()> {
    let new: Vec<_> = chunks_in(donor, Order::Big)?
        .into_iter()
        .filter(|(id, data)| is_aiff_tag_chunk(id, &data[..data.len().min(4)]))
        .collect();
    iff_replace(f, Order::Big, is_aiff_tag_chunk, &new)?;
    let len = f.stream_position()?;
    f.set_len(len)
}

/// A minimal valid WAV (16-bit stereo PCM, no samples) to write tags into.
pub fn empty_wav() -> Vec<u8> {
    let mut v = b"RIFF".to_vec();
    v.extend_from_slice(&36u32.to_le_bytes());
    v.extend_from_slice(b"WAVEfmt ");
    v.extend_from_slice(&16u32.to_le_bytes());
    v.extend_from_slice(&[1, 0, 2, 0]);
    v.extend_from_slice(&44_100u32.to_le_bytes());
    v.extend_from_slice(&(44_100u32 * 4).to_le_bytes());
    v.extend_from_slice(&[4, 0, 16, 0]);
    v.extend_from_slice(b"data");
    v.extend_from_slice(&0u32.to_le_bytes());
    v
}

/// A minimal valid AIFF (16-bit stereo, no samples) to write tags into.
pub fn empty_aiff() -> Vec<u8> {
    let mut v = b"FORM".to_vec();
    v.extend_from_slice(&46u32.to_be_bytes());
    v.extend_from_slice(b"AIFFCOMM");
    v.extend_from_slice(&18u32.to_be_bytes());
    v.extend_from_slice(&2u16.to_be_bytes());
    v.extend_from_slice(&0u32.to_be_bytes());
    v.extend_from_slice(&16u16.to_be_bytes());
    // 44100 as an 80-bit IEEE extended float.
    v.extend_from_slice(&[0x40, 0x0E, 0xAC, 0x44, 0, 0, 0, 0, 0, 0]);
    v.extend_from_slice(b"SSND");
    v.extend_from_slice(&8u32.to_be_bytes());
    v.extend_from_slice(&[0; 8]);
    v
}

/// XMP packets in a WAV file's `_PMX` chunks.
pub fn wav_read_xmp<F: Read + Seek>(f: &mut F) -> io::Result<Vec<Vec<u8>>> {
    iff_read_xmp(f, Order::Little)
}

/// XMP packets in an AIFF file's `APPL` chunks with signature `XMP `.
pub fn aiff_read_xmp<F: Read + Seek>(f: &mut F) -> io::Result<Vec<Vec<u8>>> {
    iff_read_xmp(f, Order::Big)
}

/// Makes `packet` the WAV file's only `_PMX` chunk.
pub fn wav_set_xmp(f: &mut std::fs::File, packet: &[u8]) -> io::Result<()> {
    iff_set_xmp(f, Order::Little, packet)?;
    let len = f.stream_position()?;
    f.set_len(len)
}

/// Makes `packet` the AIFF file's only `APPL`/`XMP ` chunk.
pub fn aiff_set_xmp(f: &mut std::fs::File, packet: &[u8]) -> io::Result<()> {
    iff_set_xmp(f, Order::Big, packet)?;
    let len = f.stream_position()?;
    f.set_len(len)
}

/// One top-level MP4 box.
#[derive(Debug, Clone, Copy)]
struct Mp4Box {
    at: u64,
    kind: [u8; 4],
    /// Header length (8, 16 for a 64-bit size).
    header: u64,
    /// Whole box length, header included.
    len: u64,
    /// The size field was 0 ("to the end of the file").
    to_end: bool,
}

fn list_boxes<F: Read + Seek>(f: &mut F) -> io::Result<(Vec<Mp4Box>, u64)> {
    let file_len = f.seek(SeekFrom::End(0))?;
    let mut boxes = Vec::new();
    let mut at = 0u64;
    while at + 8 <= file_len {
        f.seek(SeekFrom::Start(at))?;
        let mut h = [0u8; 8];
        f.read_exact(&mut h)?;
        let size = u64::from(u32::from_be_bytes([h[0], h[1], h[2], h[3]]));
        let kind = [h[4], h[5], h[6], h[7]];
        let (header, len, to_end) = match size {
            0 => (8, file_len - at, true),
            1 => {
                let mut l = [0u8; 8];
                f.read_exact(&mut l)?;
                (16, u64::from_be_bytes(l), false)
            }
            n => (8, n, false),
        };
        if len < header {
            return Err(invalid(format!(
                "MP4 box '{}' at byte {at} has an impossible size {len}",
                String::from_utf8_lossy(&kind)
            )));
        }
        boxes.push(Mp4Box {
            at,
            kind,
            header,
            len,
            to_end,
        });
        at += len;
    }
    if boxes.first().map(|b| &b.kind) != Some(b"ftyp") {
        return Err(invalid("not an MP4/M4A file (no leading ftyp box)"));
    }
    Ok((boxes, file_len))
}

fn is_xmp_box<F: Read + Seek>(f: &mut F, b: &Mp4Box) -> io::Result<bool> {
    if &b.kind != b"uuid" || b.len < b.header + 16 {
        return Ok(false);
    }
    f.seek(SeekFrom::Start(b.at + b.header))?;
    let mut u = [0u8; 16];
    f.read_exact(&mut u)?;
    Ok(u == MP4_XMP_UUID)
}

/// XMP packets in an MP4 file's top-level XMP `uuid` boxes.
pub fn mp4_read_xmp<F: Read + Seek>(f: &mut F) -> io::Result<Vec<Vec<u8>>> {
    let (boxes, file_len) = list_boxes(f)?;
    let mut out = Vec::new();
    for b in boxes {
        if !is_xmp_box(f, &b)? {
            continue;
        }
        let start = b.at + b.header + 16;
        let end = (b.at + b.len).min(file_len);
        if end - start > MAX_XMP {
            return Err(invalid("XMP uuid box is too large for metadata"));
        }
        f.seek(SeekFrom::Start(start))?;
        let mut data = vec![0u8; (end - start) as usize];
        f.read_exact(&mut data)?;
        out.push(data);
    }
    Ok(out)
}

/// Makes `packet` the MP4 file's only top-level XMP `uuid` box: old ones
/// become `free` boxes of the same size, the new one is appended.
pub fn mp4_set_xmp(f: &mut std::fs::File, packet: &[u8]) -> io::Result<()> {
    let (boxes, file_len) = list_boxes(f)?;
    let mut end = 0u64;
    for b in &boxes {
        if is_xmp_box(f, b)? {
            f.seek(SeekFrom::Start(b.at + 4))?;
            f.write_all(b"free")?;
        }
        if b.to_end {
            // The last box ran "to the end of the file"; once something
            // follows it, it needs its real size.
            let size = u32::try_from(b.len).map_err(|_| {
                invalid("the last MP4 box is larger than 4 GiB and has no explicit size")
            })?;
            f.seek(SeekFrom::Start(b.at))?;
            f.write_all(&size.to_be_bytes())?;
        }
        end = end.max((b.at + b.len).min(file_len));
    }
    let len = u32::try_from(8 + 16 + packet.len()).map_err(|_| invalid("XMP packet too large"))?;
    f.seek(SeekFrom::Start(end))?;
    f.write_all(&len.to_be_bytes())?;
    f.write_all(b"uuid")?;
    f.write_all(&MP4_XMP_UUID)?;
    f.write_all(packet)?;
    let new_len = f.stream_position()?;
    f.set_len(new_len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_with(bytes: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, bytes).unwrap();
        (dir, p)
    }

    fn wav_bytes(extra: &[(&[u8; 4], &[u8])]) -> Vec<u8> {
        let mut body = b"WAVE".to_vec();
        let mut chunk = |id: &[u8; 4], data: &[u8]| {
            body.extend_from_slice(id);
            body.extend_from_slice(&(data.len() as u32).to_le_bytes());
            body.extend_from_slice(data);
            if data.len() % 2 == 1 {
                body.push(0);
            }
        };
        chunk(
            b"fmt ",
            &[1, 0, 1, 0, 0x44, 0xac, 0, 0, 0x88, 0x58, 1, 0, 2, 0, 16, 0],
        );
        for (id, data) in extra {
            chunk(id, data);
        }
        chunk(b"data", &[1, 2, 3, 4]);
        let mut out = b"RIFF".to_vec();
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(&body);
        out
    }

    #[test]
    fn wav_xmp_is_replaced_not_duplicated_and_audio_is_untouched() {
        let (_d, p) = temp_with(&wav_bytes(&[
            (b"_PMX", b"<?xpacket old1"),
            (b"_PMX", b"old2"),
        ]));
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&p)
            .unwrap();
        assert_eq!(wav_read_xmp(&mut f).unwrap().len(), 2);
        wav_set_xmp(&mut f, b"<?xpacket new?>").unwrap();
        let packets = wav_read_xmp(&mut f).unwrap();
        assert_eq!(packets, vec![b"<?xpacket new?>".to_vec()]);
        let bytes = std::fs::read(&p).unwrap();
        let riff = u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize;
        assert_eq!(riff + 8, bytes.len(), "RIFF size covers the file");
        assert_eq!(bytes.len() % 2, 0);
        // hound still reads the samples.
        let r = hound::WavReader::open(&p).unwrap();
        let s: Vec<i16> = r.into_samples().map(|s| s.unwrap()).collect();
        assert_eq!(s, vec![0x0201, 0x0403]);
    }

    #[test]
    fn aiff_and_non_iff_are_told_apart() {
        let (_d, p) = temp_with(&wav_bytes(&[]));
        let mut f = std::fs::File::open(&p).unwrap();
        assert!(aiff_read_xmp(&mut f).is_err());
        assert!(mp4_read_xmp(&mut f).is_err());
    }

    #[test]
    fn mp4_box_to_end_gets_a_size_and_old_xmp_becomes_free() {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&16u32.to_be_bytes());
        bytes.extend_from_slice(b"ftypM4A \0\0\0\0");
        // An old XMP box, then mdat running to the end of the file.
        let old = b"<?xpacket old";
        bytes.extend_from_slice(&((8 + 16 + old.len()) as u32).to_be_bytes());
        bytes.extend_from_slice(b"uuid");
        bytes.extend_from_slice(&MP4_XMP_UUID);
        bytes.extend_from_slice(old);
        bytes.extend_from_slice(&0u32.to_be_bytes());
        bytes.extend_from_slice(b"mdat");
        bytes.extend_from_slice(&[9; 10]);
        let (_d, p) = temp_with(&bytes);
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&p)
            .unwrap();
        mp4_set_xmp(&mut f, b"<?xpacket new").unwrap();
        assert_eq!(
            mp4_read_xmp(&mut f).unwrap(),
            vec![b"<?xpacket new".to_vec()]
        );
        let (boxes, _) = list_boxes(&mut f).unwrap();
        let kinds: Vec<&[u8; 4]> = boxes.iter().map(|b| &b.kind).collect();
        assert_eq!(kinds, vec![b"ftyp", b"free", b"mdat", b"uuid"]);
        assert!(boxes.iter().all(|b| !b.to_end));
        assert_eq!(boxes[2].len, 18, "mdat keeps its bytes");
    }
}
