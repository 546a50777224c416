//! The XMP homes that `lofty` does not write: the WAV `_PMX` chunk, the AIFF
//! `APPL` chunk with signature `XMP `, and the MP4 top-level `uuid` box
//! `BE7ACFCB-97A9-42E8-9C71-999491E3AFAC`, plus moving lofty's RIFF/AIFF tag
//! chunks into a file without rewriting it.
//!
//! All writers work in place and never move audio data: an existing chunk
//! or box is retyped to a filler that every reader skips (`JUNK` in RIFF and
//! AIFF, `free` in MP4) and the new one is appended at the end of the file,
//! with the container size fixed (see [`crate::container`]). So sample
//! offsets, MP4 chunk-offset tables and everything else stay valid. Nothing
//! here loads the audio.

use crate::audio::RiffChunk;
use crate::container::{mp4, riff};
use std::io::{self, Read, Seek, Write};

/// The MP4 `uuid` box user type for XMP (ISO 16684-1 / Adobe XMP part 3).
pub const MP4_XMP_UUID: [u8; 16] = [
    0xBE, 0x7A, 0xCF, 0xCB, 0x97, 0xA9, 0x42, 0xE8, 0x9C, 0x71, 0x99, 0x94, 0x91, 0xE3, 0xAF, 0xAC,
];

/// Largest packet read back from a file (XMP packets are a few KiB; a huge
/// one is a broken or hostile file).
const MAX_XMP: u64 = 4 << 20;

fn is_xmp_chunk(order: riff::Order, id: &[u8; 4], data_head: &[u8]) -> bool {
    match order {
        riff::Order::Little => id == b"_PMX",
        riff::Order::Big => id == b"APPL" && data_head.starts_with(b"XMP "),
    }
}

/// The XMP packets in a WAV (`_PMX`) or AIFF (`APPL`/`XMP `) file, in file order.
pub fn iff_read_xmp<F: Read + Seek + ?Sized>(f: &mut F) -> io::Result<Vec<Vec<u8>>> {
    let chunks = riff::list(f)?;
    let mut out = Vec::new();
    for c in &chunks.list {
        if !matches!(&c.id, b"_PMX" | b"APPL") {
            continue;
        }
        let head = riff::data_head(f, c)?;
        if is_xmp_chunk(chunks.order, &c.id, &head) {
            let data = riff::read_data(f, c, MAX_XMP)?;
            out.push(match chunks.order {
                riff::Order::Little => data,
                riff::Order::Big => data[4..].to_vec(),
            });
        }
    }
    Ok(out)
}

/// The XMP chunk of a WAV or AIFF file holding `packet`, as `(id, data)`.
pub fn xmp_chunk(order: riff::Order, packet: &[u8]) -> ([u8; 4], Vec<u8>) {
    match order {
        riff::Order::Little => (*b"_PMX", packet.to_vec()),
        riff::Order::Big => (*b"APPL", [b"XMP ", packet].concat()),
    }
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

/// The tag chunks (WAV: `LIST`/`INFO`, `ID3 `; AIFF: `NAME`, `AUTH`,
/// `(c) `, `ANNO`, `COMT`, `ID3 `) of `donor`, a small WAV or AIFF file in
/// memory that lofty wrote tags into.
pub fn tag_chunks_of(donor: &[u8]) -> io::Result<Vec<RiffChunk>> {
    let aiff = donor.starts_with(b"FORM");
    Ok(riff::chunks_in(donor)?
        .into_iter()
        .filter(|(id, data)| {
            let head = &data[..data.len().min(4)];
            if aiff {
                is_aiff_tag_chunk(id, head)
            } else {
                is_wav_tag_chunk(id, head)
            }
        })
        .collect())
}

/// Largest tag chunk copied out of an RF64 file (cover art makes ID3 tags
/// of a few MB).
const MAX_TAG_CHUNK: u64 = 64 << 20;

/// For an RF64/BW64 file (which lofty does not read), a small RIFF WAV in
/// memory holding its tag chunks (`LIST`/`INFO`, `ID3 `), for lofty to read
/// the tags from; `None` for any other file. Leaves `r` at its start.
pub fn rf64_tags_as_riff<R: Read + Seek + ?Sized>(r: &mut R) -> io::Result<Option<Vec<u8>>> {
    let chunks = match riff::list(r) {
        Ok(c) if c.is_64 => c,
        _ => {
            r.seek(io::SeekFrom::Start(0))?;
            return Ok(None);
        }
    };
    let mut donor = riff::empty_wav();
    for c in &chunks.list {
        if c.is_truncated() || !is_wav_tag_chunk(&c.id, &riff::data_head(r, c)?) {
            continue;
        }
        let data = riff::read_data(r, c, MAX_TAG_CHUNK)?;
        riff::write_chunk(&mut donor, riff::Order::Little, &c.id, &data)?;
    }
    let size = u32::try_from(donor.len() - 8).map_err(io::Error::other)?;
    donor[4..8].copy_from_slice(&size.to_le_bytes());
    r.seek(io::SeekFrom::Start(0))?;
    Ok(Some(donor))
}

/// Replaces the tag chunks and the XMP chunk of the WAV or AIFF file `f`
/// with `tags` (from [`tag_chunks_of`]) and one XMP chunk holding `packet`:
/// the old ones become `JUNK`, the new ones are appended. Only chunk
/// headers are read, so this works on files of any length (lofty rewrites
/// a WAV whole, in memory).
pub fn iff_set_tags(f: &mut std::fs::File, tags: Vec<RiffChunk>, packet: &[u8]) -> io::Result<()> {
    let order = riff::list(f)?.order;
    let mut new = tags;
    new.push(xmp_chunk(order, packet));
    let retire = |id: &[u8; 4], head: &[u8]| {
        is_xmp_chunk(order, id, head)
            || match order {
                riff::Order::Little => is_wav_tag_chunk(id, head),
                riff::Order::Big => is_aiff_tag_chunk(id, head),
            }
    };
    let end = riff::replace(f, retire, &new)?;
    f.set_len(end)
}

/// XMP packets in an MP4 file's top-level XMP `uuid` boxes.
pub fn mp4_read_xmp<F: Read + Seek + ?Sized>(f: &mut F) -> io::Result<Vec<Vec<u8>>> {
    mp4::read_uuid_boxes(f, &MP4_XMP_UUID, MAX_XMP)
}

/// Makes `packet` the MP4 file's only top-level XMP `uuid` box: old ones
/// become `free` boxes of the same size, the new one is appended.
pub fn mp4_set_xmp<F: Read + Write + Seek>(f: &mut F, packet: &[u8]) -> io::Result<u64> {
    mp4::set_uuid_box(f, &MP4_XMP_UUID, packet)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav_bytes(extra: &[(&[u8; 4], &[u8])]) -> Vec<u8> {
        let mut body = b"WAVE".to_vec();
        let mut chunk = |id: &[u8; 4], data: &[u8]| {
            riff::write_chunk(&mut body, riff::Order::Little, id, data).unwrap();
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
    fn wav_xmp_and_tags_are_replaced_not_duplicated_and_audio_is_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.wav");
        std::fs::write(
            &p,
            wav_bytes(&[
                (b"_PMX", b"<?xpacket old1"),
                (b"_PMX", b"old2"),
                (b"LIST", b"INFOINAM\x04\x00\x00\x00old\x00"),
            ]),
        )
        .unwrap();
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&p)
            .unwrap();
        assert_eq!(iff_read_xmp(&mut f).unwrap().len(), 2);
        // A well-formed INFO list: INAM "new".
        let tags = vec![(*b"LIST", b"INFOINAM\x04\x00\x00\x00new\x00".to_vec())];
        iff_set_tags(&mut f, tags, b"<?xpacket new?>").unwrap();
        let packets = iff_read_xmp(&mut f).unwrap();
        assert_eq!(packets, vec![b"<?xpacket new?>".to_vec()]);
        let bytes = std::fs::read(&p).unwrap();
        let riff_size = u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize;
        assert_eq!(riff_size + 8, bytes.len(), "RIFF size covers the file");
        assert_eq!(bytes.len() % 2, 0);
        let ids: Vec<[u8; 4]> = riff::chunks_in(&bytes)
            .unwrap()
            .into_iter()
            .map(|c| c.0)
            .collect();
        assert_eq!(
            ids,
            vec![*b"fmt ", *b"JUNK", *b"JUNK", *b"JUNK", *b"data", *b"LIST", *b"_PMX"]
        );
        // hound still reads the samples.
        let r = hound::WavReader::open(&p).unwrap();
        let s: Vec<i16> = r.into_samples().map(|s| s.unwrap()).collect();
        assert_eq!(s, vec![0x0201, 0x0403]);
    }

    #[test]
    fn aiff_xmp_has_its_signature_and_non_iff_is_refused() {
        let (id, data) = xmp_chunk(riff::Order::Big, b"<x/>");
        assert_eq!((&id, &data[..]), (b"APPL", &b"XMP <x/>"[..]));
        let mut wav = std::io::Cursor::new(wav_bytes(&[]));
        assert!(iff_read_xmp(&mut wav).unwrap().is_empty());
        assert!(mp4_read_xmp(&mut wav).is_err());
    }
}
