//! ISO base media (MP4/M4A) boxes: the top-level box list, `uuid` boxes,
//! and a check of the sample tables that decoders size allocations from.

use super::{invalid, read_up_to};
use std::io::{self, Read, Seek, SeekFrom, Write};

/// Deepest box nesting the table check follows.
const MAX_DEPTH: u32 = 16;
/// Most top-level boxes listed before a file is rejected.
const MAX_BOXES: usize = 100_000;

/// Whether `head` starts like an ISO-BMFF file (a known first box type).
pub(crate) fn looks_like_mp4(head: &[u8]) -> bool {
    matches!(
        head.get(4..8),
        Some(b"ftyp" | b"moov" | b"mdat" | b"free" | b"skip" | b"wide")
    )
}

/// One top-level box.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mp4Box {
    /// Offset of its header.
    pub at: u64,
    /// Its four-character type.
    pub kind: [u8; 4],
    /// Header length (8, or 16 with a 64-bit size).
    pub header: u64,
    /// Whole box length, header included.
    pub len: u64,
    /// The size field was 0 ("to the end of the file").
    pub to_end: bool,
}

/// Reads one box header at `at`; `None` at the end of the data.
fn header_at<R: Read + Seek + ?Sized>(r: &mut R, at: u64, end: u64) -> io::Result<Option<Mp4Box>> {
    if at + 8 > end {
        return Ok(None);
    }
    r.seek(SeekFrom::Start(at))?;
    let mut h = [0u8; 16];
    if read_up_to(r, &mut h[..8])? < 8 {
        return Ok(None);
    }
    let size = u64::from(u32::from_be_bytes([h[0], h[1], h[2], h[3]]));
    let kind = [h[4], h[5], h[6], h[7]];
    let (header, len, to_end) = match size {
        0 => (8, end - at, true),
        1 => {
            if read_up_to(r, &mut h[8..16])? < 8 {
                return Ok(None);
            }
            let mut b = [0u8; 8];
            b.copy_from_slice(&h[8..16]);
            (16, u64::from_be_bytes(b), false)
        }
        n => (8, n, false),
    };
    Ok(Some(Mp4Box {
        at,
        kind,
        header,
        len,
        to_end,
    }))
}

/// The top-level boxes (the first must be `ftyp`). A box with an impossible
/// size is an `InvalidData` error.
pub(crate) fn list_top<R: Read + Seek + ?Sized>(r: &mut R) -> io::Result<(Vec<Mp4Box>, u64)> {
    let file_len = r.seek(SeekFrom::End(0))?;
    let mut boxes = Vec::new();
    let mut at = 0u64;
    while let Some(b) = header_at(r, at, file_len)? {
        if b.len < b.header {
            return Err(invalid(format!(
                "MP4 box '{}' at byte {at} has an impossible size {}",
                String::from_utf8_lossy(&b.kind),
                b.len
            )));
        }
        if boxes.len() == MAX_BOXES {
            return Err(invalid(format!(
                "more than {MAX_BOXES} top-level MP4 boxes"
            )));
        }
        boxes.push(b);
        at = at.saturating_add(b.len);
    }
    if boxes.first().map(|b| &b.kind) != Some(b"ftyp") {
        return Err(invalid("not an MP4/M4A file (no leading ftyp box)"));
    }
    Ok((boxes, file_len))
}

/// The boxes inside `parent`, from `skip` bytes after its header (4 for a
/// full box such as `meta`).
fn children<R: Read + Seek + ?Sized>(
    r: &mut R,
    parent: &Mp4Box,
    skip: u64,
) -> io::Result<Vec<Mp4Box>> {
    let end = parent.at.saturating_add(parent.len);
    let mut at = parent.at + parent.header + skip;
    let mut out = Vec::new();
    while let Some(b) = header_at(r, at, end)? {
        if b.len < b.header || b.at.saturating_add(b.len) > end || out.len() == MAX_BOXES {
            return Err(invalid(format!(
                "MP4 box '{}' at byte {at} has an impossible size {}",
                String::from_utf8_lossy(&b.kind),
                b.len
            )));
        }
        out.push(b);
        at = b.at + b.len;
    }
    Ok(out)
}

/// The room the tag list has in place: the bytes of `moov.udta.meta.ilst`
/// together with the `free` boxes right before and after it (what a tag
/// writer may reuse without moving the audio); `None` when there is no
/// `ilst`.
pub(crate) fn ilst_room<R: Read + Seek + ?Sized>(r: &mut R) -> io::Result<Option<u64>> {
    let (top, _) = list_top(r)?;
    let find = |list: &[Mp4Box], kind: &[u8; 4]| list.iter().find(|b| &b.kind == kind).copied();
    let Some(moov) = find(&top, b"moov") else {
        return Ok(None);
    };
    let Some(udta) = find(&children(r, &moov, 0)?, b"udta") else {
        return Ok(None);
    };
    let Some(meta) = find(&children(r, &udta, 0)?, b"meta") else {
        return Ok(None);
    };
    let inside = children(r, &meta, 4)?;
    let Some(i) = inside.iter().position(|b| &b.kind == b"ilst") else {
        return Ok(None);
    };
    let mut first = i;
    while first > 0 && &inside[first - 1].kind == b"free" {
        first -= 1;
    }
    let mut last = i;
    while last + 1 < inside.len() && &inside[last + 1].kind == b"free" {
        last += 1;
    }
    Ok(Some(inside[first..=last].iter().map(|b| b.len).sum()))
}

/// Whether `b` is a `uuid` box with user type `uuid`.
fn is_uuid<R: Read + Seek + ?Sized>(r: &mut R, b: &Mp4Box, uuid: &[u8; 16]) -> io::Result<bool> {
    if &b.kind != b"uuid" || b.len < b.header + 16 {
        return Ok(false);
    }
    r.seek(SeekFrom::Start(b.at + b.header))?;
    let mut u = [0u8; 16];
    r.read_exact(&mut u)?;
    Ok(&u == uuid)
}

/// Whether a top-level `uuid` box of user type `uuid` is there.
pub(crate) fn has_uuid_box<R: Read + Seek + ?Sized>(
    r: &mut R,
    uuid: &[u8; 16],
) -> io::Result<bool> {
    let (boxes, _) = list_top(r)?;
    for b in boxes {
        if is_uuid(r, &b, uuid)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The payloads of every top-level `uuid` box with user type `uuid`, each
/// at most `max` bytes.
pub(crate) fn read_uuid_boxes<R: Read + Seek + ?Sized>(
    r: &mut R,
    uuid: &[u8; 16],
    max: u64,
) -> io::Result<Vec<Vec<u8>>> {
    let (boxes, file_len) = list_top(r)?;
    let mut out = Vec::new();
    for b in boxes {
        if !is_uuid(r, &b, uuid)? {
            continue;
        }
        let start = b.at + b.header + 16;
        let end = b.at.saturating_add(b.len).min(file_len);
        if end.saturating_sub(start) > max {
            return Err(invalid("uuid box is too large for metadata"));
        }
        r.seek(SeekFrom::Start(start))?;
        let mut data = vec![0u8; end.saturating_sub(start) as usize];
        r.read_exact(&mut data)?;
        out.push(data);
    }
    Ok(out)
}

/// Makes `payload` the only top-level `uuid` box of user type `uuid`: old
/// ones become `free` boxes of the same size (nothing moves, so chunk
/// offsets stay valid) and the new one is appended. Returns the new end of
/// the file (the caller truncates a file there).
pub(crate) fn set_uuid_box<F: Read + Write + Seek + ?Sized>(
    f: &mut F,
    uuid: &[u8; 16],
    payload: &[u8],
) -> io::Result<u64> {
    let (boxes, file_len) = list_top(f)?;
    let mut end = 0u64;
    for b in &boxes {
        if is_uuid(f, b, uuid)? {
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
        end = end.max(b.at.saturating_add(b.len).min(file_len));
    }
    let len = u32::try_from(8 + 16 + payload.len()).map_err(|_| invalid("uuid box too large"))?;
    f.seek(SeekFrom::Start(end))?;
    f.write_all(&len.to_be_bytes())?;
    f.write_all(b"uuid")?;
    f.write_all(uuid)?;
    f.write_all(payload)?;
    f.stream_position()
}

/// Checks that every sample table (`stts`, `ctts`, `stsc`, `stsz`, `stco`,
/// `co64`) fits inside its box, so a corrupted entry count cannot make a
/// decoder attempt a giant allocation (which aborts the process). Leaves the
/// stream at the start.
pub(crate) fn tables_fit<R: Read + Seek + ?Sized>(r: &mut R) -> io::Result<()> {
    let len = r.seek(SeekFrom::End(0))?;
    let result = walk_tables(r, 0, len, 0, len, Walk::Boxes);
    r.seek(SeekFrom::Start(0))?;
    result
}

/// What the boxes being walked are.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Walk {
    /// Ordinary boxes: containers are entered, sample tables checked.
    Boxes,
    /// The children of `ilst`: one box per tag, each holding atoms.
    Ilst,
    /// The atoms of one tag (`data`, `mean`, `name`): read whole by the
    /// demuxer, so one larger than its tag is refused.
    Item,
}

fn walk_tables<R: Read + Seek + ?Sized>(
    r: &mut R,
    start: u64,
    end: u64,
    depth: u32,
    file_len: u64,
    walk: Walk,
) -> io::Result<()> {
    const CONTAINERS: [&[u8; 4]; 10] = [
        b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"mvex", b"moof", b"traf", b"udta",
    ];
    if depth >= MAX_DEPTH {
        return Ok(());
    }
    let mut pos = start;
    loop {
        let Some(b) = header_at(r, pos, end)? else {
            return Ok(());
        };
        if b.len < b.header {
            // The decoder reports this itself.
            return Ok(());
        }
        if walk != Walk::Boxes && !b.to_end && pos.saturating_add(b.len) > end {
            // symphonia reads a tag atom whole at its declared size (found
            // by fuzzing: a `data` atom of 4 GiB in a 25 kB file).
            return Err(invalid(format!(
                "mp4: tag atom {} claims {} bytes; only {} are left in its parent",
                String::from_utf8_lossy(&b.kind).escape_default(),
                b.len,
                end - pos
            )));
        }
        // A box running past its parent (or a truncated file) is clamped.
        let box_end = pos.saturating_add(b.len).min(end);
        let body = pos + b.header;
        if walk == Walk::Ilst {
            walk_tables(r, body, box_end, depth + 1, file_len, Walk::Item)?;
        } else if walk == Walk::Item {
            // Atoms hold data, not boxes.
        } else if CONTAINERS.contains(&&b.kind) {
            walk_tables(r, body, box_end, depth + 1, file_len, Walk::Boxes)?;
        } else if &b.kind == b"meta" {
            // A full box (version and flags first) in MP4; QuickTime's has
            // its `hdlr` right away.
            r.seek(SeekFrom::Start(body))?;
            let mut h = [0u8; 8];
            let full = read_up_to(r, &mut h)? < 8 || &h[4..8] != b"hdlr";
            let first = if full { body + 4 } else { body };
            walk_tables(r, first, box_end, depth + 1, file_len, Walk::Boxes)?;
        } else if &b.kind == b"ilst" {
            walk_tables(r, body, box_end, depth + 1, file_len, Walk::Ilst)?;
        } else if let Some(entry) = table_entry(&b.kind) {
            // version/flags, [stsz: sample size], entry count.
            r.seek(SeekFrom::Start(body))?;
            let mut t = [0u8; 12];
            let got = read_up_to(r, &mut t)?;
            let (constant_size, count_at) = if &b.kind == b"stsz" {
                (got >= 8 && t[4..8] != [0; 4], 8)
            } else {
                (false, 4)
            };
            if got >= count_at + 4 && !constant_size {
                let c = &t[count_at..count_at + 4];
                let count = u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
                let room = box_end.saturating_sub(body + count_at as u64 + 4);
                if count * entry > room {
                    return Err(invalid(format!(
                        "mp4: {} table claims {count} entries but its box holds at most {}",
                        String::from_utf8_lossy(&b.kind),
                        room / entry
                    )));
                }
                if &b.kind == b"stsz" {
                    sample_sizes_fit(r, body + 12, count, file_len)?;
                }
            }
            if constant_size {
                // One size for every sample: the demuxer reads a packet of it.
                let size = u64::from(u32::from_be_bytes([t[4], t[5], t[6], t[7]]));
                if size > file_len {
                    return Err(invalid(format!(
                        "mp4: stsz gives every sample {size} bytes; the file has {file_len}"
                    )));
                }
            }
        }
        pos = box_end;
    }
}

/// Checks the `count` sample sizes of an `stsz` table at `at`: the demuxer
/// allocates each packet as declared (found by fuzzing: one sample of
/// 4 GiB in a 25 kB file), so none may exceed the file.
fn sample_sizes_fit<R: Read + Seek + ?Sized>(
    r: &mut R,
    at: u64,
    count: u64,
    file_len: u64,
) -> io::Result<()> {
    r.seek(SeekFrom::Start(at))?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut left = count;
    let mut index = 0u64;
    while left > 0 {
        let want = (left.min(buf.len() as u64 / 4) * 4) as usize;
        let got = read_up_to(r, &mut buf[..want])?;
        for size in buf[..got - got % 4].chunks_exact(4) {
            let size = u64::from(u32::from_be_bytes([size[0], size[1], size[2], size[3]]));
            if size > file_len {
                return Err(invalid(format!(
                    "mp4: stsz gives sample {index} {size} bytes; the file has {file_len}"
                )));
            }
            index += 1;
        }
        if got < want {
            break;
        }
        left -= (got / 4) as u64;
    }
    Ok(())
}

/// Entry size in bytes of the sample tables decoders preallocate.
fn table_entry(kind: &[u8; 4]) -> Option<u64> {
    match kind {
        b"stts" | b"ctts" | b"co64" => Some(8),
        b"stsc" => Some(12),
        b"stsz" | b"stco" => Some(4),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UUID: [u8; 16] = [7; 16];

    #[test]
    fn uuid_box_replaced_and_last_box_gets_a_size() {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&16u32.to_be_bytes());
        bytes.extend_from_slice(b"ftypM4A \0\0\0\0");
        let old = b"old payload";
        bytes.extend_from_slice(&((8 + 16 + old.len()) as u32).to_be_bytes());
        bytes.extend_from_slice(b"uuid");
        bytes.extend_from_slice(&UUID);
        bytes.extend_from_slice(old);
        bytes.extend_from_slice(&0u32.to_be_bytes());
        bytes.extend_from_slice(b"mdat");
        bytes.extend_from_slice(&[9; 10]);
        let mut f = io::Cursor::new(bytes);
        let end = set_uuid_box(&mut f, &UUID, b"new").unwrap();
        assert_eq!(end as usize, f.get_ref().len());
        assert_eq!(
            read_uuid_boxes(&mut f, &UUID, 100).unwrap(),
            vec![b"new".to_vec()]
        );
        let (boxes, _) = list_top(&mut f).unwrap();
        let kinds: Vec<&[u8; 4]> = boxes.iter().map(|b| &b.kind).collect();
        assert_eq!(kinds, vec![b"ftyp", b"free", b"mdat", b"uuid"]);
        assert!(boxes.iter().all(|b| !b.to_end));
        assert_eq!(boxes[2].len, 18, "mdat keeps its bytes");
    }

    #[test]
    fn an_oversized_sample_table_is_refused() {
        // moov > trak > mdia > minf > stbl > stsc claiming 2^32-1 entries.
        let stsc = [&[0u8; 4][..], &u32::MAX.to_be_bytes()].concat();
        let mut inner = [&(8 + stsc.len() as u32).to_be_bytes()[..], b"stsc", &stsc].concat();
        for kind in [b"stbl", b"minf", b"mdia", b"trak", b"moov"] {
            inner = [&(8 + inner.len() as u32).to_be_bytes()[..], kind, &inner].concat();
        }
        let file = [&16u32.to_be_bytes()[..], b"ftypM4A \0\0\0\0", &inner].concat();
        let e = tables_fit(&mut io::Cursor::new(file)).unwrap_err();
        assert!(e.to_string().contains("stsc table claims"), "{e}");
    }
}
