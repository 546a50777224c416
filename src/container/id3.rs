//! The ID3v2 tag header: how many bytes a tag at the start of a file takes.

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
}
