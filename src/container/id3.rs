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
