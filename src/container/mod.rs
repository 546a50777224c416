//! Container knowledge, in one place: which container a file is (from its
//! bytes, or from its name), which file names count as audio, and walkers
//! over the structures other modules edit or check (crate-internal): RIFF/RF64
//! and IFF chunks (`riff.rs`), MP4 boxes (`mp4.rs`), FLAC metadata blocks
//! (`flac.rs`), Ogg pages up to the comment header (`ogg.rs`) and the ID3v2
//! header (`id3.rs`).
//!
//! Nothing here decodes audio or parses tags: decoding is `audio`'s job,
//! tags are `metadata`'s. Walkers read headers only and never allocate from
//! a size field without checking it against the bytes that exist.

pub(crate) mod flac;
pub(crate) mod id3;
pub(crate) mod mp4;
pub(crate) mod ogg;
pub(crate) mod riff;

use serde::Serialize;
use std::fmt;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

/// Bytes looked at to recognise a container ([`Container::sniff`]).
pub const SNIFF_BYTES: usize = 64;

/// Every file extension earmark treats as audio (lowercase, no dot). A file
/// with one of these names is audio even when its content is not recognised,
/// so a damaged `.mp3` in a batch is reported as failed rather than skipped.
pub const AUDIO_EXTENSIONS: &[&str] = &[
    "wav", "wave", "rf64", "bwf", "aif", "aiff", "aifc", "flac", "mp3", "ogg", "oga", "opus",
    "m4a", "m4b", "mp4", "aac", "caf", "mka", "mkv", "webm",
];

/// The containers earmark recognises.
///
/// Metadata (the declaration, the manifest) can be written into the first
/// seven ([`Container::is_taggable`]); the others are read for their audio
/// only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Container {
    /// RIFF/WAVE, RF64 and BW64.
    Wav,
    /// FORM/AIFF or AIFC.
    Aiff,
    /// MPEG audio (with or without ID3v2).
    Mp3,
    /// Native FLAC (with or without an ID3v2 tag in front).
    Flac,
    /// Ogg Vorbis.
    OggVorbis,
    /// Ogg Opus.
    Opus,
    /// MP4/M4A (AAC, ALAC).
    Mp4,
    /// Another codec in Ogg (FLAC or Speex in Ogg, say).
    Ogg,
    /// Apple Core Audio Format.
    Caf,
    /// Matroska or WebM.
    Matroska,
    /// Raw AAC in ADTS frames.
    Adts,
}

impl Container {
    /// Every container, taggable ones first.
    pub const ALL: [Container; 11] = [
        Container::Wav,
        Container::Aiff,
        Container::Mp3,
        Container::Flac,
        Container::OggVorbis,
        Container::Opus,
        Container::Mp4,
        Container::Ogg,
        Container::Caf,
        Container::Matroska,
        Container::Adts,
    ];

    /// Short name, e.g. `"WAV"`, `"Ogg Vorbis"`.
    pub fn name(self) -> &'static str {
        match self {
            Container::Wav => "WAV",
            Container::Aiff => "AIFF",
            Container::Mp3 => "MP3",
            Container::Flac => "FLAC",
            Container::OggVorbis => "Ogg Vorbis",
            Container::Opus => "Ogg Opus",
            Container::Mp4 => "MP4/M4A",
            Container::Ogg => "Ogg",
            Container::Caf => "CAF",
            Container::Matroska => "Matroska/WebM",
            Container::Adts => "AAC (ADTS)",
        }
    }

    /// The usual file extension, without the dot.
    pub fn extension(self) -> &'static str {
        self.extensions()[0]
    }

    /// Every extension files of this container carry (lowercase, usual one
    /// first).
    pub fn extensions(self) -> &'static [&'static str] {
        match self {
            Container::Wav => &["wav", "wave", "rf64", "bwf"],
            Container::Aiff => &["aiff", "aif", "aifc"],
            Container::Mp3 => &["mp3"],
            Container::Flac => &["flac"],
            Container::OggVorbis => &["ogg", "oga"],
            Container::Opus => &["opus", "ogg", "oga"],
            Container::Mp4 => &["m4a", "mp4", "m4b", "aac"],
            Container::Ogg => &["ogg", "oga"],
            Container::Caf => &["caf"],
            Container::Matroska => &["mka", "mkv", "webm"],
            Container::Adts => &["aac"],
        }
    }

    /// The MIME type naming this container to C2PA tools.
    pub fn mime(self) -> &'static str {
        match self {
            Container::Wav => "audio/wav",
            Container::Aiff => "audio/aiff",
            Container::Mp3 => "audio/mpeg",
            Container::Flac => "audio/flac",
            Container::OggVorbis | Container::Ogg => "audio/ogg",
            Container::Opus => "audio/opus",
            Container::Mp4 => "audio/mp4",
            Container::Caf => "audio/x-caf",
            Container::Matroska => "audio/x-matroska",
            Container::Adts => "audio/aac",
        }
    }

    /// Whether a C2PA manifest store can be embedded in this container (the
    /// SDK's WAV `C2PA` chunk, ID3 `GEOB` frame in MP3 and FLAC, MP4 `uuid`
    /// box). The others get a sidecar `NAME.c2pa`.
    pub fn embeds_c2pa(self) -> bool {
        matches!(
            self,
            Container::Wav | Container::Mp3 | Container::Flac | Container::Mp4
        )
    }

    /// Whether earmark writes the declaration and manifest into this
    /// container's own metadata (`tag`, and `stamp` for its WAV and FLAC
    /// outputs).
    pub fn is_taggable(self) -> bool {
        matches!(
            self,
            Container::Wav
                | Container::Aiff
                | Container::Mp3
                | Container::Flac
                | Container::OggVorbis
                | Container::Opus
                | Container::Mp4
        )
    }

    /// Recognises a container from the first bytes of a file
    /// ([`SNIFF_BYTES`] are enough, except after a long ID3v2 tag: see
    /// [`Container::of_reader`]); `None` for anything else.
    pub fn sniff(head: &[u8]) -> Option<Container> {
        let at = |i: usize, m: &[u8]| head.get(i..i + m.len()) == Some(m);
        if (at(0, b"RIFF") || at(0, b"RF64") || at(0, b"BW64")) && at(8, b"WAVE") {
            return Some(Container::Wav);
        }
        if at(0, b"FORM") && (at(8, b"AIFF") || at(8, b"AIFC")) {
            return Some(Container::Aiff);
        }
        if at(0, b"fLaC") {
            return Some(Container::Flac);
        }
        if mp4::looks_like_mp4(head) {
            return Some(Container::Mp4);
        }
        if at(0, b"OggS") {
            // The first packet starts after the 27-byte header and the segment table.
            let p = 27 + usize::from(*head.get(26)?);
            return Some(if at(p, b"\x01vorbis") {
                Container::OggVorbis
            } else if at(p, b"OpusHead") {
                Container::Opus
            } else {
                Container::Ogg
            });
        }
        if at(0, b"caff") {
            return Some(Container::Caf);
        }
        if at(0, &[0x1a, 0x45, 0xdf, 0xa3]) {
            return Some(Container::Matroska);
        }
        if at(0, b"ID3") {
            // An ID3v2 tag can precede FLAC as well as MP3.
            let after = id3::tag_len(head)?;
            if at(after as usize, b"fLaC") {
                return Some(Container::Flac);
            }
            return Some(Container::Mp3);
        }
        if head.len() >= 2 && head[0] == 0xFF && head[1] & 0xF6 == 0xF0 {
            // An ADTS header: 12 sync bits, then MPEG version and layer 00.
            return Some(Container::Adts);
        }
        // A bare MPEG audio frame header: 11 sync bits, layer III.
        if head.len() >= 2 && head[0] == 0xFF && head[1] & 0xE0 == 0xE0 && head[1] & 0x06 == 0x02 {
            return Some(Container::Mp3);
        }
        None
    }

    /// Whether `head` starts like any container earmark decodes, including
    /// one whose header is cut too short for [`Container::sniff`] (so a
    /// truncated file is reported as damaged audio, not as "not audio").
    pub fn starts_like_one(head: &[u8]) -> bool {
        const MAGICS: [&[u8]; 8] = [
            b"RIFF",
            b"RF64",
            b"fLaC",
            b"OggS",
            b"FORM",
            b"ID3",
            b"caff",
            &[0x1a, 0x45, 0xdf, 0xa3],
        ];
        Container::sniff(head).is_some()
            || MAGICS.iter().any(|m| head.starts_with(m))
            || mp4::looks_like_mp4(head)
            || (head.len() >= 2 && head[0] == 0xff && head[1] & 0xe0 == 0xe0)
    }

    /// Recognises the container of a stream positioned anywhere: reads its
    /// start (and, after an ID3v2 tag, the bytes that follow the tag) and
    /// leaves it at the start. A FLAC file whose comment or picture blocks,
    /// or an Ogg Vorbis/Opus file whose comment header, declare lengths they
    /// do not hold is an `InvalidData` error here, before any reader
    /// allocates for them.
    pub fn of_reader<R: Read + Seek + ?Sized>(r: &mut R) -> io::Result<Option<Container>> {
        r.seek(SeekFrom::Start(0))?;
        let mut head = [0u8; SNIFF_BYTES];
        let n = read_up_to(r, &mut head)?;
        let mut found = Container::sniff(&head[..n]);
        if found == Some(Container::Mp3) {
            if let Some(len) = id3::tag_len(&head[..n]) {
                // A long tag (cover art) hides what follows it from `sniff`.
                r.seek(SeekFrom::Start(len))?;
                let mut magic = [0u8; 4];
                if read_up_to(r, &mut magic)? == 4 && &magic == b"fLaC" {
                    found = Some(Container::Flac);
                }
            }
        }
        // Before any reader allocates what a length field declares.
        match found {
            Some(Container::Flac) => flac::check_metadata(r)?,
            Some(Container::OggVorbis | Container::Opus) => ogg::check_comments(r)?,
            _ => {}
        }
        r.seek(SeekFrom::Start(0))?;
        Ok(found)
    }

    /// Whether a stream of this container holds a C2PA manifest store where
    /// C2PA tools put one (a WAV `C2PA` chunk; a `GEOB` frame of type
    /// `application/c2pa` in the ID3v2 tag in front of MP3 or FLAC; the MP4
    /// `uuid` box of C2PA's user type), reading only headers and that tag.
    /// Lets readers skip the C2PA SDK, which reads much more, for the many
    /// files that have none. Leaves the stream at the start.
    pub fn may_hold_c2pa<R: Read + Seek + ?Sized>(self, r: &mut R) -> io::Result<bool> {
        /// C2PA's MP4 `uuid` box user type.
        const C2PA_UUID: [u8; 16] = [
            0xd8, 0xfe, 0xc3, 0xd6, 0x1b, 0x0e, 0x48, 0x3c, 0x92, 0x97, 0x58, 0x28, 0x87, 0x7e,
            0xc4, 0x81,
        ];
        /// Largest ID3v2 tag searched (cover art makes tags of a few MB).
        const MAX_TAG: u64 = 64 << 20;
        let found = match self {
            Container::Wav => riff::list(r).map(|c| c.find(b"C2PA").is_some())?,
            Container::Mp3 | Container::Flac => {
                r.seek(SeekFrom::Start(0))?;
                let mut head = [0u8; 10];
                let n = read_up_to(r, &mut head)?;
                match id3::tag_len(&head[..n]) {
                    Some(len) => {
                        let mut tag = Vec::new();
                        r.seek(SeekFrom::Start(0))?;
                        r.take(len.min(MAX_TAG)).read_to_end(&mut tag)?;
                        [
                            &b"application/c2pa"[..],
                            b"application/x-c2pa-manifest-store",
                        ]
                        .iter()
                        .any(|m| tag.windows(m.len()).any(|w| w == *m))
                    }
                    None => false,
                }
            }
            Container::Mp4 => mp4::has_uuid_box(r, &C2PA_UUID)?,
            _ => false,
        };
        r.seek(SeekFrom::Start(0))?;
        Ok(found)
    }

    /// Reads enough of the file at `path` to recognise its container.
    pub fn of_file(path: &Path) -> io::Result<Option<Container>> {
        Container::of_reader(&mut std::fs::File::open(path)?)
    }

    /// The container a file name suggests, from its extension (`.ogg` is
    /// taken as Vorbis and `.aac` as MP4, the common cases).
    pub fn from_extension(path: &Path) -> Option<Container> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        // The first container with the extension: Vorbis before Opus and
        // other Ogg, MP4 before raw ADTS.
        Container::ALL
            .into_iter()
            .find(|c| c.extensions().contains(&ext.as_str()))
    }
}

impl fmt::Display for Container {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether a file name has one of the [`AUDIO_EXTENSIONS`].
pub fn has_audio_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| AUDIO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Reads until `buf` is full or the stream ends; returns the count read.
pub(crate) fn read_up_to<R: Read + ?Sized>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// An `InvalidData` I/O error with a message.
pub(crate) fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "c2pa")]
    #[test]
    fn finds_a_c2pa_store_only_where_one_is() {
        use std::io::Cursor;
        let mut wav = riff::empty_wav();
        assert!(!Container::Wav
            .may_hold_c2pa(&mut Cursor::new(&wav))
            .unwrap());
        let end = riff::replace(
            &mut Cursor::new(&mut wav),
            |_, _| false,
            &[(*b"C2PA", vec![1; 5])],
        )
        .unwrap();
        wav.truncate(end as usize);
        assert!(Container::Wav
            .may_hold_c2pa(&mut Cursor::new(&wav))
            .unwrap());
        let (tag, _) = id3::geob_tag("application/c2pa", "c2pa", "store", b"jumb").unwrap();
        let mut flac = tag.clone();
        flac.extend_from_slice(b"fLaC");
        assert!(Container::Flac
            .may_hold_c2pa(&mut Cursor::new(&flac))
            .unwrap());
        let (other, _) = id3::geob_tag("image/png", "x", "art", b"png").unwrap();
        assert!(!Container::Mp3
            .may_hold_c2pa(&mut Cursor::new(&other))
            .unwrap());
        assert!(!Container::Flac
            .may_hold_c2pa(&mut Cursor::new(b"fLaC"))
            .unwrap());
    }

    #[test]
    fn sniffs_every_container_from_real_headers() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("test-audio/formats");
        for (file, want) in [
            ("pcm16-stereo-44100.aiff", Some(Container::Aiff)),
            ("aac-stereo-44100.m4a", Some(Container::Mp4)),
            ("alac-stereo-44100.m4a", Some(Container::Mp4)),
            ("flac24-6ch-48000.flac", Some(Container::Flac)),
            ("mp3-stereo-44100.mp3", Some(Container::Mp3)),
            ("vorbis-mono-22050.ogg", Some(Container::OggVorbis)),
            ("not-audio.mp3", None),
            ("empty.wav", None),
        ] {
            assert_eq!(Container::of_file(&dir.join(file)).unwrap(), want, "{file}");
        }
    }

    #[test]
    fn flac_behind_a_long_id3_tag_is_flac() {
        // A 10 KiB ID3v2 tag (synchsafe size) in front of "fLaC".
        let body = 10 * 1024;
        let mut bytes = b"ID3\x04\x00\x00".to_vec();
        bytes.extend_from_slice(&[
            ((body >> 21) & 0x7f) as u8,
            ((body >> 14) & 0x7f) as u8,
            ((body >> 7) & 0x7f) as u8,
            (body & 0x7f) as u8,
        ]);
        bytes.resize(10 + body, 0);
        bytes.extend_from_slice(b"fLaC\x80\x00\x00\x22");
        assert_eq!(
            Container::sniff(&bytes[..SNIFF_BYTES]),
            Some(Container::Mp3)
        );
        let mut r = io::Cursor::new(&bytes);
        assert_eq!(Container::of_reader(&mut r).unwrap(), Some(Container::Flac));
        assert_eq!(r.position(), 0, "left at the start");
    }

    #[test]
    fn every_extension_of_a_container_is_an_audio_extension() {
        for c in Container::ALL {
            for e in c.extensions() {
                assert!(AUDIO_EXTENSIONS.contains(e), "{c}: .{e}");
                assert!(has_audio_extension(Path::new(&format!(
                    "x.{}",
                    e.to_uppercase()
                ))));
            }
        }
        assert_eq!(
            Container::from_extension(Path::new("a/b.AIF")),
            Some(Container::Aiff)
        );
        assert!(!has_audio_extension(Path::new("notes.txt")));
    }
}
