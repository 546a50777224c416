//! RIFF/WAVE (and its 64-bit forms RF64 and BW64) and IFF FORM/AIFF chunk
//! lists: where each top-level chunk is and how long it is, and editing
//! those lists in place without moving audio.
//!
//! RIFF sizes are little-endian, IFF sizes big-endian; a chunk whose length
//! is odd is followed by one pad byte. RF64/BW64 files store `0xFFFFFFFF` in
//! the 32-bit size fields and the real sizes in a `ds64` chunk that comes
//! first; a plain RIFF file whose `data` size is `0xFFFFFFFF` (as streaming
//! writers leave it) has its data run to the end of the file.

use super::{invalid, read_up_to};
use crate::audio::RiffChunk;
use std::io::{self, Read, Seek, SeekFrom, Write};

/// Most chunks a file may have before it is rejected (real files have a
/// dozen; a hostile one could declare millions of empty ones).
const MAX_CHUNKS: usize = 100_000;

/// Byte order of a chunk file's sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Order {
    /// RIFF/WAVE, RF64, BW64: little-endian.
    Little,
    /// FORM/AIFF, AIFC: big-endian.
    Big,
}

impl Order {
    pub(crate) fn u32(self, b: [u8; 4]) -> u32 {
        match self {
            Order::Little => u32::from_le_bytes(b),
            Order::Big => u32::from_be_bytes(b),
        }
    }

    pub(crate) fn u32_bytes(self, v: u32) -> [u8; 4] {
        match self {
            Order::Little => v.to_le_bytes(),
            Order::Big => v.to_be_bytes(),
        }
    }
}

/// One top-level chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Chunk {
    /// Offset of its 8-byte header.
    pub at: u64,
    /// Its four-character id.
    pub id: [u8; 4],
    /// Bytes of data that exist in the file (at most what the header declares).
    pub len: u64,
    /// Bytes of data the header (or `ds64`) declares; `None` for a RIFF
    /// `data` chunk of unknown length (size `0xFFFFFFFF`, read to the end).
    pub declared: Option<u64>,
}

impl Chunk {
    /// Offset of its first data byte.
    pub fn data_at(&self) -> u64 {
        self.at + 8
    }

    /// Offset just after it, pad byte included.
    pub fn end(&self) -> u64 {
        self.data_at() + self.len + (self.len & 1)
    }

    /// Whether the file ends before the data the header declares.
    pub fn is_truncated(&self) -> bool {
        self.declared.is_some_and(|d| d > self.len)
    }
}

/// The top-level chunks of a RIFF or IFF file.
#[derive(Debug, Clone)]
pub(crate) struct Chunks {
    /// Byte order.
    pub order: Order,
    /// The form type: `WAVE`, `AIFF` or `AIFC`.
    pub form: [u8; 4],
    /// Whether sizes live in a `ds64` chunk (RF64/BW64).
    pub is_64: bool,
    /// The chunks in file order.
    pub list: Vec<Chunk>,
    /// Length of the whole stream.
    pub file_len: u64,
    /// A WAVE `data` chunk whose size field is wrong: it declares this many
    /// bytes, but what follows them is not a chunk (audio runs on to the end
    /// of the file: a WAV over 4 GiB whose 32-bit size wrapped, or a stream
    /// whose writer never came back to fill the size in). Its chunk is then
    /// listed to the end of the file.
    pub data_size_wrong: Option<u64>,
}

impl Chunks {
    /// The first chunk with this id.
    pub fn find(&self, id: &[u8; 4]) -> Option<&Chunk> {
        self.list.iter().find(|c| &c.id == id)
    }

    /// Where the last whole chunk ends (what follows is a truncated tail).
    pub fn end(&self) -> u64 {
        self.list
            .iter()
            .map(|c| c.end().min(self.file_len))
            .max()
            .unwrap_or(12)
    }
}

/// Lists the top-level chunks of a RIFF/RF64/BW64 `WAVE` or an IFF
/// `AIFF`/`AIFC` file. A chunk that runs past the end of the stream is
/// listed with the bytes that exist (and [`Chunk::is_truncated`]); the walk
/// stops there. Not such a file: an `InvalidData` error.
pub(crate) fn list<R: Read + Seek + ?Sized>(r: &mut R) -> io::Result<Chunks> {
    let file_len = r.seek(SeekFrom::End(0))?;
    r.seek(SeekFrom::Start(0))?;
    let mut head = [0u8; 12];
    if read_up_to(r, &mut head)? < 12 {
        return Err(invalid("not a RIFF/WAVE or FORM/AIFF file (too short)"));
    }
    let (order, is_64) = match (&head[0..4], &head[8..12]) {
        (b"RIFF", b"WAVE") => (Order::Little, false),
        (b"RF64" | b"BW64", b"WAVE") => (Order::Little, true),
        (b"FORM", b"AIFF" | b"AIFC") => (Order::Big, false),
        _ => return Err(invalid("not a RIFF/WAVE or FORM/AIFF file")),
    };
    let form = [head[8], head[9], head[10], head[11]];
    let mut list = Vec::new();
    let mut ds64_data: Option<u64> = None;
    let mut data_size_wrong = None;
    let mut at = 12u64;
    while at + 8 <= file_len {
        if list.len() == MAX_CHUNKS {
            return Err(invalid(format!("more than {MAX_CHUNKS} chunks")));
        }
        r.seek(SeekFrom::Start(at))?;
        let mut h = [0u8; 8];
        r.read_exact(&mut h)?;
        let id = [h[0], h[1], h[2], h[3]];
        let size = order.u32([h[4], h[5], h[6], h[7]]);
        let declared = if is_64 && size == u32::MAX && &id == b"data" {
            Some(
                ds64_data
                    .ok_or_else(|| invalid("RF64 data chunk without a ds64 chunk before it"))?,
            )
        } else if !is_64 && order == Order::Little && size == u32::MAX && &id == b"data" {
            // A streaming writer never came back to fill in the size.
            None
        } else {
            Some(u64::from(size))
        };
        if is_64 && &id == b"ds64" && list.is_empty() {
            // riffSize (8), dataSize (8), sampleCount (8), ...
            let mut d = [0u8; 16];
            if read_up_to(r, &mut d)? == 16 {
                ds64_data = Some(u64::from_le_bytes([
                    d[8], d[9], d[10], d[11], d[12], d[13], d[14], d[15],
                ]));
            }
        }
        let room = file_len - at - 8;
        let len = declared.map_or(room, |d| d.min(room));
        let mut chunk = Chunk {
            at,
            id,
            len,
            declared,
        };
        if &id == b"data" && !is_64 && order == Order::Little && !chunk.is_truncated() {
            // An empty data chunk with more after it is a stream whose size
            // was never filled in, even if the audio starts with silence.
            if let Some(d) = declared.filter(|&d| !follows_a_chunk(r, chunk.end(), file_len, d > 0))
            {
                data_size_wrong = Some(d);
                chunk.len = room;
                chunk.declared = None;
            }
        }
        list.push(chunk);
        if chunk.is_truncated() || chunk.declared.is_none() {
            break;
        }
        at = chunk.end();
    }
    Ok(Chunks {
        order,
        form,
        is_64,
        list,
        file_len,
        data_size_wrong,
    })
}

/// Whether what follows a `data` chunk ending at `end` is the end of the
/// file or something that can be a chunk (a header with a printable id, or,
/// when `zeros_pad`, zero padding some writers leave). Bytes that are
/// neither are audio the size field failed to count.
fn follows_a_chunk<R: Read + Seek + ?Sized>(
    r: &mut R,
    end: u64,
    file_len: u64,
    zeros_pad: bool,
) -> bool {
    if end >= file_len {
        return true;
    }
    let mut id = [0u8; 4];
    let got = r
        .seek(SeekFrom::Start(end))
        .and_then(|_| read_up_to(r, &mut id))
        .unwrap_or(0);
    let id = &id[..got];
    (zeros_pad && id.iter().all(|&b| b == 0)) || id.iter().all(|&b| (0x20..=0x7e).contains(&b))
}

/// Reads a chunk's data, refusing anything longer than `max` bytes (chunks
/// read into memory hold metadata, never audio).
pub(crate) fn read_data<R: Read + Seek + ?Sized>(
    r: &mut R,
    c: &Chunk,
    max: u64,
) -> io::Result<Vec<u8>> {
    if c.len > max {
        return Err(invalid(format!(
            "{} chunk of {} bytes is too large for metadata",
            String::from_utf8_lossy(&c.id),
            c.len
        )));
    }
    r.seek(SeekFrom::Start(c.data_at()))?;
    let mut data = vec![0u8; c.len as usize];
    r.read_exact(&mut data)?;
    Ok(data)
}

/// Up to the first 4 data bytes of a chunk (a `LIST`'s list type, an
/// `APPL`'s signature).
pub(crate) fn data_head<R: Read + Seek + ?Sized>(r: &mut R, c: &Chunk) -> io::Result<Vec<u8>> {
    r.seek(SeekFrom::Start(c.data_at()))?;
    let mut head = vec![0u8; c.len.min(4) as usize];
    r.read_exact(&mut head)?;
    Ok(head)
}

/// Retypes every top-level chunk for which `retire(id, first 4 data bytes)`
/// holds to `JUNK` (same size, so nothing moves), appends `new` chunks after
/// the last whole chunk and fixes the container size. Returns the new end of
/// the file (the caller truncates a file there). 32-bit RIFF/FORM only.
pub(crate) fn replace<F: Read + Write + Seek + ?Sized>(
    f: &mut F,
    retire: impl Fn(&[u8; 4], &[u8]) -> bool,
    new: &[RiffChunk],
) -> io::Result<u64> {
    let chunks = list(f)?;
    if chunks.is_64 {
        return Err(invalid("editing RF64 metadata chunks is not supported"));
    }
    if chunks.list.iter().any(|c| c.declared.is_none()) {
        return Err(invalid(
            "the data chunk has no length (a streamed WAV): nothing can follow it",
        ));
    }
    let order = chunks.order;
    for c in &chunks.list {
        let head = data_head(f, c)?;
        if retire(&c.id, &head) {
            f.seek(SeekFrom::Start(c.at))?;
            f.write_all(b"JUNK")?;
        }
    }
    // Anything after the last whole chunk (a truncated tail) is overwritten.
    let mut at = chunks.end();
    if at % 2 == 1 {
        f.seek(SeekFrom::Start(at))?;
        f.write_all(&[0])?;
        at += 1;
    }
    f.seek(SeekFrom::Start(at))?;
    for (id, data) in new {
        write_chunk(f, order, id, data)?;
    }
    let new_len = f.stream_position()?;
    let form = u32::try_from(new_len - 8)
        .map_err(|_| invalid("file too large for a 32-bit RIFF/FORM size"))?;
    f.seek(SeekFrom::Start(4))?;
    f.write_all(&order.u32_bytes(form))?;
    f.seek(SeekFrom::Start(new_len))?;
    Ok(new_len)
}

/// Reserves `len` zero bytes in a chunk `id` at the end of a 32-bit RIFF
/// file (earlier chunks with that id become `JUNK`), truncates the file
/// after it and returns the offset of the chunk's header.
#[cfg(feature = "c2pa")]
pub(crate) fn reserve_chunk(f: &mut std::fs::File, id: &[u8; 4], len: usize) -> io::Result<u64> {
    let end = replace(f, |c, _| c == id, &[(*id, vec![0; len])])?;
    f.set_len(end)?;
    Ok(end - 8 - len as u64 - (len % 2) as u64)
}

/// Writes one chunk (header, data, pad byte).
pub(crate) fn write_chunk<W: Write + ?Sized>(
    w: &mut W,
    order: Order,
    id: &[u8; 4],
    data: &[u8],
) -> io::Result<()> {
    let len = u32::try_from(data.len()).map_err(|_| invalid("chunk too large"))?;
    w.write_all(id)?;
    w.write_all(&order.u32_bytes(len))?;
    w.write_all(data)?;
    if data.len() % 2 == 1 {
        w.write_all(&[0])?;
    }
    Ok(())
}

/// The top-level chunks of a small file in memory, as `(id, data)`.
pub(crate) fn chunks_in(bytes: &[u8]) -> io::Result<Vec<RiffChunk>> {
    let mut cursor = io::Cursor::new(bytes);
    let chunks = list(&mut cursor)?;
    Ok(chunks
        .list
        .iter()
        .map(|c| {
            let start = c.data_at() as usize;
            (c.id, bytes[start..start + c.len as usize].to_vec())
        })
        .collect())
}

/// `numSampleFrames` from an AIFF `COMM` chunk.
pub(crate) fn aiff_frames<R: Read + Seek + ?Sized>(
    r: &mut R,
    chunks: &Chunks,
) -> io::Result<Option<u64>> {
    let Some(comm) = chunks.find(b"COMM") else {
        return Ok(None);
    };
    let head = read_data(
        r,
        &Chunk {
            len: comm.len.min(6),
            ..*comm
        },
        6,
    )?;
    Ok((head.len() == 6)
        .then(|| u64::from(u32::from_be_bytes([head[2], head[3], head[4], head[5]]))))
}

/// A minimal valid WAV (16-bit stereo PCM, no samples) to write tags into.
pub(crate) fn empty_wav() -> Vec<u8> {
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
pub(crate) fn empty_aiff() -> Vec<u8> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn riff(magic: &[u8; 4], chunks: &[(&[u8; 4], u32, &[u8])]) -> Vec<u8> {
        let mut v = magic.to_vec();
        v.extend_from_slice(&0u32.to_le_bytes());
        v.extend_from_slice(b"WAVE");
        for (id, size, data) in chunks {
            v.extend_from_slice(*id);
            v.extend_from_slice(&size.to_le_bytes());
            v.extend_from_slice(data);
            if data.len() % 2 == 1 {
                v.push(0);
            }
        }
        v
    }

    #[test]
    fn lists_chunks_with_padding_and_truncation() {
        let bytes = riff(
            b"RIFF",
            &[
                (b"fmt ", 3, b"abc"),
                (b"LIST", 4, b"INFO"),
                (b"data", 100, b"xy"),
            ],
        );
        let c = list(&mut io::Cursor::new(&bytes)).unwrap();
        assert_eq!(c.order, Order::Little);
        assert!(!c.is_64);
        let ids: Vec<&[u8; 4]> = c.list.iter().map(|c| &c.id).collect();
        assert_eq!(ids, vec![b"fmt ", b"LIST", b"data"]);
        assert_eq!(c.list[1].at, 12 + 8 + 4, "odd chunk padded");
        let data = c.find(b"data").unwrap();
        assert_eq!((data.len, data.declared), (2, Some(100)));
        assert!(data.is_truncated());
    }

    #[test]
    fn streamed_and_rf64_data_lengths() {
        let streamed = riff(
            b"RIFF",
            &[(b"fmt ", 2, b"ab"), (b"data", u32::MAX, b"0123")],
        );
        let c = list(&mut io::Cursor::new(&streamed)).unwrap();
        let data = c.find(b"data").unwrap();
        assert_eq!((data.len, data.declared), (4, None));

        let mut ds64 = Vec::new();
        ds64.extend_from_slice(&0u64.to_le_bytes());
        ds64.extend_from_slice(&6u64.to_le_bytes());
        ds64.extend_from_slice(&0u64.to_le_bytes());
        ds64.extend_from_slice(&0u32.to_le_bytes());
        let rf64 = riff(
            b"RF64",
            &[
                (b"ds64", 28, &ds64),
                (b"data", u32::MAX, b"012345"),
                (b"LIST", 4, b"INFO"),
            ],
        );
        let c = list(&mut io::Cursor::new(&rf64)).unwrap();
        assert!(c.is_64);
        let data = c.find(b"data").unwrap();
        assert_eq!((data.len, data.declared), (6, Some(6)));
        assert!(
            c.find(b"LIST").is_some(),
            "chunks after a 64-bit data chunk"
        );
        assert!(list(&mut io::Cursor::new(b"RIFX\0\0\0\0WAVE")).is_err());
    }

    /// A data size that leaves audio uncounted (a wrapped 32-bit size, a
    /// stream whose size was left at 0) is not believed: the chunk runs to
    /// the end and the wrong size is reported. A chunk or zero padding after
    /// the declared end is believed.
    #[test]
    fn data_sizes_that_leave_audio_uncounted_are_not_believed() {
        let audio: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(37) | 0x80).collect();
        let wrapped = riff(b"RIFF", &[(b"fmt ", 2, b"ab"), (b"data", 16, &audio)]);
        let c = list(&mut io::Cursor::new(&wrapped)).unwrap();
        assert_eq!(c.data_size_wrong, Some(16));
        let data = c.find(b"data").unwrap();
        assert_eq!((data.len, data.declared), (64, None));

        let mut silent_start = vec![0u8; 8];
        silent_start.extend_from_slice(&audio);
        let unfinished = riff(b"RIFF", &[(b"fmt ", 2, b"ab"), (b"data", 0, &silent_start)]);
        let c = list(&mut io::Cursor::new(&unfinished)).unwrap();
        assert_eq!(c.data_size_wrong, Some(0));
        assert_eq!(c.find(b"data").unwrap().len, 72);

        let honest = riff(
            b"RIFF",
            &[
                (b"fmt ", 2, b"ab"),
                (b"data", 4, b"0123"),
                (b"LIST", 4, b"INFO"),
            ],
        );
        let c = list(&mut io::Cursor::new(&honest)).unwrap();
        assert_eq!(c.data_size_wrong, None);
        assert_eq!(c.find(b"data").unwrap().len, 4);
        let padded = riff(
            b"RIFF",
            &[(b"fmt ", 2, b"ab"), (b"data", 4, b"0123\0\0\0\0\0\0\0\0")],
        );
        let c = list(&mut io::Cursor::new(&padded)).unwrap();
        assert_eq!(c.data_size_wrong, None);
        assert_eq!(c.find(b"data").unwrap().len, 4);
    }

    #[test]
    fn replace_retires_and_appends() {
        let bytes = riff(
            b"RIFF",
            &[
                (b"fmt ", 2, b"ab"),
                (b"_PMX", 3, b"old"),
                (b"data", 2, b"xy"),
            ],
        );
        let mut f = io::Cursor::new(bytes);
        let end = replace(
            &mut f,
            |id, _| id == b"_PMX",
            &[(*b"_PMX", b"new!".to_vec())],
        )
        .unwrap();
        let bytes = f.into_inner();
        assert_eq!(end as usize, bytes.len());
        let c = list(&mut io::Cursor::new(&bytes)).unwrap();
        let ids: Vec<&[u8; 4]> = c.list.iter().map(|c| &c.id).collect();
        assert_eq!(ids, vec![b"fmt ", b"JUNK", b"data", b"_PMX"]);
        let riff_size = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as usize;
        assert_eq!(riff_size + 8, bytes.len());
    }
}
