//! Ogg pages, as far as the comment header: enough to check the lengths a
//! Vorbis or Opus comment header declares against the packet that holds
//! them, before a decoder allocates what they declare.

use super::{invalid, read_up_to};
use std::io::{self, Read, Seek, SeekFrom};

/// Most bytes of pages read to reach the comment header (cover art makes
/// comment headers of a few MB; past this the check gives up, harmlessly).
const MAX_SCAN: u64 = 64 << 20;

/// The first two packets of the first logical stream (identification and
/// comment headers), the second possibly cut short at the end of the file;
/// `None` if the pages are not well formed enough to find them.
fn header_packets<R: Read + Seek + ?Sized>(r: &mut R) -> io::Result<Option<Vec<Vec<u8>>>> {
    r.seek(SeekFrom::Start(0))?;
    let mut packets: Vec<Vec<u8>> = vec![Vec::new()];
    let mut serial = None;
    let mut scanned = 0u64;
    loop {
        let mut h = [0u8; 27];
        if read_up_to(r, &mut h)? < 27 || &h[..4] != b"OggS" {
            // The end of the file (or junk): the comment header so far.
            return Ok((packets.len() >= 2).then_some(packets));
        }
        let page_serial = u32::from_le_bytes([h[14], h[15], h[16], h[17]]);
        let mut table = vec![0u8; usize::from(h[26])];
        if read_up_to(r, &mut table)? < table.len() {
            return Ok((packets.len() >= 2).then_some(packets));
        }
        let body: u64 = table.iter().map(|&s| u64::from(s)).sum();
        scanned += 27 + table.len() as u64 + body;
        if scanned > MAX_SCAN {
            return Ok(None);
        }
        if *serial.get_or_insert(page_serial) != page_serial {
            // Another logical stream's page (multiplexed): skip it.
            r.seek(SeekFrom::Current(body as i64))?;
            continue;
        }
        for &seg in &table {
            let mut part = vec![0u8; usize::from(seg)];
            let got = read_up_to(r, &mut part)?;
            part.truncate(got);
            if let Some(last) = packets.last_mut() {
                last.extend_from_slice(&part);
            }
            if got < usize::from(seg) {
                return Ok((packets.len() >= 2).then_some(packets));
            }
            if seg < 255 {
                // The packet ends here.
                if packets.len() == 2 {
                    return Ok(Some(packets));
                }
                packets.push(Vec::new());
            }
        }
    }
}

/// Checks the comment header of an Ogg Vorbis or Opus stream: the vendor
/// string, the comment count and every comment length must fit the packet.
/// An `InvalidData` error names the field; anything that is not such a
/// stream, or pages too broken to follow, is left to the readers.
pub(crate) fn check_comments<R: Read + Seek + ?Sized>(r: &mut R) -> io::Result<()> {
    let packets = header_packets(r)?;
    r.seek(SeekFrom::Start(0))?;
    let Some(packets) = packets else {
        return Ok(());
    };
    let comment = &packets[1];
    let body = if let Some(rest) = comment.strip_prefix(b"\x03vorbis") {
        rest
    } else if let Some(rest) = comment.strip_prefix(b"OpusTags") {
        rest
    } else {
        return Ok(());
    };
    let bad = |what: String| invalid(format!("corrupt Ogg comment header: {what}"));
    let mut at = 0usize;
    let u32_at = |what: &str, at: &mut usize| -> io::Result<u32> {
        let b = body
            .get(*at..*at + 4)
            .ok_or_else(|| bad(format!("{what} runs past the end of the header")))?;
        *at += 4;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let skip = |len: u32, what: &str, at: &mut usize| -> io::Result<()> {
        let left = body.len() - *at;
        if len as usize > left {
            return Err(bad(format!(
                "{what} claims {len} bytes; only {left} are left in the header"
            )));
        }
        *at += len as usize;
        Ok(())
    };
    let vendor = u32_at("the vendor string length", &mut at)?;
    skip(vendor, "the vendor string", &mut at)?;
    let count = u32_at("the comment count", &mut at)?;
    if u64::from(count) * 4 > (body.len() - at) as u64 {
        return Err(bad(format!(
            "it declares {count} comments, more than its {} bytes can hold",
            body.len()
        )));
    }
    for i in 1..=count {
        let len = u32_at("a comment length", &mut at)?;
        skip(len, &format!("comment {i}"), &mut at)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real files: the walker reaches the comment header (which starts as
    /// Vorbis or Opus says it must) and finds every length in bounds.
    #[test]
    fn real_vorbis_and_opus_comment_headers_are_found_and_pass() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("test-audio");
        for (name, magic) in [
            ("rock-openarena-oa02.ogg", &b"\x03vorbis"[..]),
            ("tagged/tagged.ogg", b"\x03vorbis"),
            ("tagged/tagged.opus", b"OpusTags"),
        ] {
            let mut f = std::fs::File::open(root.join(name)).unwrap();
            let packets = header_packets(&mut f).unwrap().expect(name);
            assert!(packets[1].starts_with(magic), "{name}");
            check_comments(&mut f).unwrap();
        }
    }

    /// A comment header cut one byte short of its last comment is refused.
    #[test]
    fn a_length_past_the_header_is_refused() {
        let mut comment = b"\x03vorbis".to_vec();
        comment.extend_from_slice(&3u32.to_le_bytes());
        comment.extend_from_slice(b"abc");
        comment.extend_from_slice(&1u32.to_le_bytes());
        comment.extend_from_slice(&6u32.to_le_bytes());
        comment.extend_from_slice(b"A=12");
        let mut pages = page(b"\x01vorbis-ident", 0);
        pages.extend(page(&comment, 1));
        let err = check_comments(&mut std::io::Cursor::new(pages)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "corrupt Ogg comment header: comment 1 claims 6 bytes; only 4 are left in the header"
        );
    }

    /// An Ogg page (CRC not set: the walker does not check it) with one packet.
    fn page(packet: &[u8], sequence: u32) -> Vec<u8> {
        let mut p = b"OggS".to_vec();
        p.extend_from_slice(&[0, 0]);
        p.extend_from_slice(&0u64.to_le_bytes());
        p.extend_from_slice(&7u32.to_le_bytes());
        p.extend_from_slice(&sequence.to_le_bytes());
        p.extend_from_slice(&[0; 4]);
        let mut segments = vec![255u8; packet.len() / 255];
        segments.push((packet.len() % 255) as u8);
        p.push(segments.len() as u8);
        p.extend_from_slice(&segments);
        p.extend_from_slice(packet);
        p
    }
}
