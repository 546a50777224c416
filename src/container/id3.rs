//! The ID3v2 tag header: how many bytes a tag at the start of a file takes;
//! and the one tag earmark writes itself, an ID3v2.4 tag holding a single
//! `GEOB` frame (how C2PA stores a manifest store in FLAC and MP3).

/// A 28-bit ID3v2 "synchsafe" integer (7 bits per byte).
#[cfg(feature = "c2pa")]
fn synchsafe(n: u32) -> [u8; 4] {
    [
        ((n >> 21) & 0x7f) as u8,
        ((n >> 14) & 0x7f) as u8,
        ((n >> 7) & 0x7f) as u8,
        (n & 0x7f) as u8,
    ]
}

/// An ID3v2.4 tag with one `GEOB` (general encapsulated object) frame of
/// `mime`, `filename` and `description` (ASCII) holding `data`; returns the
/// tag and the offset of `data` in it. `None` if the tag would exceed
/// ID3v2's 256 MiB limit.
#[cfg(feature = "c2pa")]
pub(crate) fn geob_tag(
    mime: &str,
    filename: &str,
    description: &str,
    data: &[u8],
) -> Option<(Vec<u8>, usize)> {
    let mut body = vec![0u8]; // text encoding: ISO-8859-1
    for text in [mime, filename, description] {
        body.extend_from_slice(text.as_bytes());
        body.push(0);
    }
    let data_in_body = body.len();
    body.extend_from_slice(data);
    let frame_len = u32::try_from(body.len()).ok().filter(|&n| n < 1 << 28)?;
    let tag_len = frame_len.checked_add(10).filter(|&n| n < 1 << 28)?;
    let mut tag = Vec::with_capacity(20 + body.len());
    tag.extend_from_slice(b"ID3\x04\x00\x00");
    tag.extend_from_slice(&synchsafe(tag_len));
    tag.extend_from_slice(b"GEOB");
    tag.extend_from_slice(&synchsafe(frame_len));
    tag.extend_from_slice(&[0, 0]);
    let data_at = tag.len() + data_in_body;
    tag.extend_from_slice(&body);
    Some((tag, data_at))
}

/// Length of the ID3v2 tag `head` starts with (10-byte header, the
/// synchsafe size, and the 10-byte footer when its flag is set); `None` if
/// `head` does not start with a complete ID3v2 header.
pub(crate) fn tag_len(head: &[u8]) -> Option<u64> {
    if head.len() < 10 || &head[0..3] != b"ID3" {
        return None;
    }
    let size = head[6..10]
        .iter()
        .fold(0u64, |a, &b| (a << 7) | u64::from(b & 0x7f));
    let footer = if head[5] & 0x10 != 0 { 10 } else { 0 };
    Some(10 + size + footer)
}

#[cfg(test)]
mod tests {
    #[test]
    fn synchsafe_size_and_footer() {
        assert_eq!(
            super::tag_len(b"ID3\x04\x00\x00\x00\x00\x02\x01"),
            Some(10 + 257)
        );
        assert_eq!(super::tag_len(b"ID3\x04\x00\x10\x00\x00\x00\x00"), Some(20));
        assert_eq!(super::tag_len(b"ID3\x04"), None);
        assert_eq!(super::tag_len(b"fLaC\0\0\0\0\0\0"), None);
    }

    #[cfg(feature = "c2pa")]
    #[test]
    fn geob_tag_lays_out_one_frame() {
        let (tag, at) = super::geob_tag("application/c2pa", "c2pa", "store", b"JUMBF").unwrap();
        assert_eq!(super::tag_len(&tag), Some(tag.len() as u64));
        assert_eq!(&tag[at..], b"JUMBF");
        assert_eq!(&tag[10..14], b"GEOB");
        assert_eq!(&tag[21..38], b"application/c2pa\0");
    }
}

/// Checks the frames of the ID3v2 tag `r` starts with (if any) against the
/// tag: a frame whose declared size exceeds what is left of the tag is
/// refused (`InvalidData`) before any reader allocates that size (symphonia
/// reads an ID3v2.3 frame's 32-bit size straight into an allocation: 4 GiB
/// for a 60-byte file). An unsynchronised tag is decoded first (in memory,
/// at most its real length). Leaves the stream anywhere.
pub(crate) fn check_frames<R: std::io::Read + std::io::Seek + ?Sized>(
    r: &mut R,
) -> std::io::Result<()> {
    use std::io::{Error, ErrorKind, Read as _, SeekFrom};
    r.seek(SeekFrom::Start(0))?;
    let mut head = [0u8; 10];
    if super::read_up_to(r, &mut head)? < 10 || &head[0..3] != b"ID3" {
        return Ok(());
    }
    let (version, flags) = (head[3], head[5]);
    if !(2..=4).contains(&version) {
        return Ok(());
    }
    let size = head[6..10]
        .iter()
        .fold(0u64, |a, &b| (a << 7) | u64::from(b & 0x7f));
    let mut raw = Vec::new();
    r.take(size).read_to_end(&mut raw)?;
    let body = if flags & 0x80 != 0 && version < 4 {
        // Unsynchronisation: every 0xFF 0x00 stands for 0xFF.
        let mut out = Vec::with_capacity(raw.len());
        let mut i = 0;
        while i < raw.len() {
            out.push(raw[i]);
            i += if raw[i] == 0xFF && raw.get(i + 1) == Some(&0) {
                2
            } else {
                1
            };
        }
        out
    } else {
        raw
    };
    let mut at = 0usize;
    if flags & 0x40 != 0 && version >= 3 {
        // The extended header: its own size (v2.3 excludes the 4 size bytes).
        let Some(b) = body.get(0..4) else {
            return Ok(());
        };
        at = match version {
            3 => 4 + u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize,
            _ => b
                .iter()
                .fold(0usize, |a, &x| (a << 7) | usize::from(x & 0x7f)),
        };
    }
    let header = if version == 2 { 6 } else { 10 };
    while at + header <= body.len() {
        let h = &body[at..at + header];
        if h[0] == 0 {
            break; // padding
        }
        let (id, frame) = match version {
            2 => (
                &h[0..3],
                u64::from(u32::from_be_bytes([0, h[3], h[4], h[5]])),
            ),
            3 => (
                &h[0..4],
                u64::from(u32::from_be_bytes([h[4], h[5], h[6], h[7]])),
            ),
            _ => (
                &h[0..4],
                h[4..8]
                    .iter()
                    .fold(0u64, |a, &x| (a << 7) | u64::from(x & 0x7f)),
            ),
        };
        let left = (body.len() - at - header) as u64;
        if frame > left {
            return Err(Error::new(
                ErrorKind::InvalidData,
                format!(
                    "corrupt ID3v2 tag: frame {} claims {frame} bytes; only {left} are left in the tag",
                    String::from_utf8_lossy(id).escape_default()
                ),
            ));
        }
        at += header + frame as usize;
    }
    Ok(())
}

#[cfg(test)]
mod frame_tests {
    use super::check_frames;
    use std::io::Cursor;

    fn tag(version: u8, frames: &[u8]) -> Vec<u8> {
        let n = frames.len() as u32;
        let mut t = vec![b'I', b'D', b'3', version, 0, 0];
        t.extend([
            (n >> 21) as u8 & 0x7f,
            (n >> 14) as u8 & 0x7f,
            (n >> 7) as u8 & 0x7f,
            n as u8 & 0x7f,
        ]);
        t.extend_from_slice(frames);
        t
    }

    #[test]
    fn frames_larger_than_their_tag_are_refused() {
        let mut ok = b"TIT2\x00\x00\x00\x03\x00\x00\x00ab".to_vec();
        ok.extend_from_slice(&[0; 8]); // padding
        assert!(check_frames(&mut Cursor::new(tag(3, &ok))).is_ok());
        let huge = b"TIT2\xff\xff\xff\xf0\x00\x00\x00ab";
        let e = check_frames(&mut Cursor::new(tag(3, huge))).unwrap_err();
        assert!(
            e.to_string().contains("frame TIT2 claims 4294967280 bytes"),
            "{e}"
        );
        let v22 = b"TT2\xff\xff\xf0\x00ab";
        assert!(check_frames(&mut Cursor::new(tag(2, v22))).is_err());
        // Not a tag at all: nothing to check.
        assert!(check_frames(&mut Cursor::new(b"fLaC".to_vec())).is_ok());
    }
}
