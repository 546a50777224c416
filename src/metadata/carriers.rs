//! Writing the declaration into every carrier of a container, and reading all
//! of them back.
//!
//! Tags go through `lofty` by read–modify–write of the container's concrete
//! tag types (its generic tag view would drop custom keys), so every existing
//! frame, comment, atom and picture is kept; only the fields earmark owns are
//! replaced. The XMP homes lofty lacks are written by `chunks.rs`.

use super::chunks;
use super::xmp::{self, XmpFields};
use super::{Declaration, MetadataError, MANIFEST_KEY};
use crate::audio::FlacBlock;
use crate::audio::RiffChunk;
use crate::container::{self, riff, Container};
use lofty::config::{ParseOptions, ParsingMode, WriteOptions};
use lofty::file::{AudioFile, TaggedFile, TaggedFileExt};
use lofty::id3::v2::{
    BinaryFrame, ExtendedTextFrame, Frame, FrameId, Id3v2Tag, PrivateFrame, TextInformationFrame,
    UrlLinkFrame,
};
use lofty::iff::aiff::{AiffFile, AiffTextChunks};
use lofty::iff::wav::{RiffInfoList, WavFile};
use lofty::mp4::{Atom, AtomData, AtomIdent, Ilst, Mp4File};
use lofty::ogg::tag::VorbisComments;
use lofty::ogg::{OpusFile, VorbisFile};
use lofty::tag::{Accessor, ItemKey, Tag, TagExt};
use lofty::TextEncoding;
use serde::Serialize;
use std::borrow::Cow;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};

/// Vorbis comment / `TXXX` / freeform names of the machine-readable fields.
const DATA_MINING: &str = "DATA_MINING";
const TDM_RESERVATION: &str = "TDM_RESERVATION";
const TDM_POLICY: &str = "TDM_POLICY";
/// Freeform MP4 atoms live under this "mean" (the iTunes convention).
const ITUNES_MEAN: &str = "com.apple.iTunes";
/// ID3 `PRIV` owner for an XMP packet.
const XMP_OWNER: &str = "XMP";

fn parse_options() -> ParseOptions {
    ParseOptions::new()
        .read_properties(false)
        .parsing_mode(ParsingMode::BestAttempt)
}

fn write_options() -> WriteOptions {
    WriteOptions::default().preferred_padding(1024)
}

/// Freeform item that only pads the MP4 tag list (see
/// [`avoid_eight_byte_gap`]).
const MP4_PADDING_ITEM: &str = "EARMARK_PADDING";

/// lofty 0.25 panics (`size > ATOM_HEADER_LEN` in its `free` atom writer)
/// when the new tag list is exactly 8 bytes smaller than the room the old
/// one had: it fills the gap with a `free` box, and the smallest box is 8
/// bytes of header alone. Such a list gets a small padding item, which
/// moves its size off that one value. Reported upstream in the issue note.
fn avoid_eight_byte_gap<F: Read + Seek>(file: &mut F, ilst: &mut Ilst) -> io::Result<()> {
    let Some(room) = crate::container::mp4::ilst_room(file)? else {
        return Ok(());
    };
    let size = |ilst: &Ilst| -> io::Result<u64> {
        let mut bytes = Vec::new();
        ilst.dump_to(&mut bytes, write_options())
            .map_err(|e| io::Error::other(e.to_string()))?;
        Ok(bytes.len() as u64)
    };
    if room.checked_sub(size(ilst)?) == Some(8) {
        ilst.insert(Atom::new(
            AtomIdent::Freeform {
                mean: "com.apple.iTunes".into(),
                name: MP4_PADDING_ITEM.into(),
            },
            AtomData::UTF8(" ".repeat(16)),
        ));
    }
    Ok(())
}

/// Standard tags read from a source file, to carry into an output of another
/// container (`stamp` writes WAV or FLAC whatever the input was).
#[derive(Clone)]
pub struct CarriedTags {
    tag: Tag,
}

impl std::fmt::Debug for CarriedTags {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CarriedTags")
            .field("items", &self.tag.item_count())
            .field("pictures", &self.tag.picture_count())
            .finish()
    }
}

impl CarriedTags {
    /// The primary tag of a parsed file (else its first tag), if it has one.
    fn of(tagged: &TaggedFile) -> Option<CarriedTags> {
        // earmark's own fields among them are replaced when declared.
        let tag = tagged.primary_tag().or_else(|| tagged.first_tag())?.clone();
        Some(CarriedTags { tag })
    }

    /// Title, if any.
    pub fn title(&self) -> Option<String> {
        self.tag.title().map(Cow::into_owned)
    }

    /// Artist, if any.
    pub fn artist(&self) -> Option<String> {
        self.tag.artist().map(Cow::into_owned)
    }
}

fn id(s: &'static str) -> FrameId<'static> {
    FrameId::Valid(Cow::Borrowed(s))
}

/// Replaces earmark's ID3v2 frames. `with_xmp` adds the `PRIV` XMP frame
/// (MP3 only: in WAV/AIFF the XMP has its own chunk, and readers would show
/// it twice).
fn declare_id3(tag: &mut Id3v2Tag, d: &Declaration, manifest: Option<&str>, with_xmp: bool) {
    let ours = [MANIFEST_KEY, DATA_MINING, TDM_RESERVATION, TDM_POLICY];
    let replace_tcop = d.copyright.is_some();
    tag.retain(|f| match f {
        Frame::UserText(t) => !ours.contains(&t.description.as_ref()),
        Frame::Private(p) => p.owner != XMP_OWNER,
        Frame::Text(t) => !(replace_tcop && t.id().as_str() == "TCOP"),
        Frame::Url(u) => u.id().as_str() != "WCOP",
        Frame::Binary(b) => b.id().as_str() != "USER",
        _ => true,
    });
    let p = &d.policy;
    if let Some(c) = &d.copyright {
        tag.insert(Frame::Text(TextInformationFrame::new(
            id("TCOP"),
            TextEncoding::UTF8,
            c.clone(),
        )));
    }
    if let Some(url) = &p.terms_url {
        tag.insert(Frame::Url(UrlLinkFrame::new(id("WCOP"), url.clone())));
    }
    // USER: encoding, language, text (lofty has no typed frame for it).
    let mut user = vec![3u8];
    user.extend_from_slice(b"eng");
    user.extend_from_slice(p.notice.as_bytes());
    tag.insert(Frame::Binary(BinaryFrame::new(id("USER"), user)));
    let mut txxx = |k: &str, v: String| {
        tag.insert(Frame::UserText(ExtendedTextFrame::new(
            TextEncoding::UTF8,
            k.to_string(),
            v,
        )));
    };
    txxx(DATA_MINING, p.plus_data_mining.clone());
    txxx(TDM_RESERVATION, p.tdm_reservation.to_string());
    if let Some(url) = &p.terms_url {
        txxx(TDM_POLICY, url.clone());
    }
    if let Some(m) = manifest {
        txxx(MANIFEST_KEY, m.to_string());
    }
    if with_xmp {
        let mut body = xmp::packet(d).into_bytes();
        body.shrink_to_fit();
        tag.insert(Frame::Private(PrivateFrame::new(XMP_OWNER, body)));
    }
}

fn declare_vorbis(vc: &mut VorbisComments, d: &Declaration, manifest: Option<&str>) {
    let p = &d.policy;
    vc.insert(DATA_MINING.into(), p.plus_data_mining.clone());
    vc.insert(TDM_RESERVATION.into(), p.tdm_reservation.to_string());
    let _ = vc.remove(TDM_POLICY).count();
    if let Some(url) = &p.terms_url {
        vc.insert(TDM_POLICY.into(), url.clone());
    }
    if let Some(c) = &d.copyright {
        vc.insert("COPYRIGHT".into(), c.clone());
    }
    vc.insert("LICENSE".into(), p.notice.clone());
    let _ = vc.remove(MANIFEST_KEY).count();
    if let Some(m) = manifest {
        vc.insert(MANIFEST_KEY.into(), m.to_string());
    }
}

fn declare_riff_info(info: &mut RiffInfoList, d: &Declaration) {
    info.insert("ICOP".into(), d.rights_text());
    if info.get("ICMT").is_none_or(str::is_empty) {
        info.insert("ICMT".into(), d.policy.notice.clone());
    }
}

fn declare_aiff_text(text: &mut AiffTextChunks, d: &Declaration) {
    text.copyright = Some(d.rights_text());
    let notice = d.policy.notice.clone();
    let annotations = text.annotations.get_or_insert_with(Vec::new);
    if !annotations.contains(&notice) {
        annotations.retain(|a| !a.contains("training") && !a.contains("data mining"));
        annotations.push(notice);
    }
}

fn freeform(name: &str) -> AtomIdent<'static> {
    AtomIdent::Freeform {
        mean: Cow::Borrowed(ITUNES_MEAN),
        name: Cow::Owned(name.to_string()),
    }
}

fn declare_ilst(ilst: &mut Ilst, d: &Declaration, manifest: Option<&str>) {
    let p = &d.policy;
    let mut set = |ident: AtomIdent<'static>, v: String| {
        ilst.replace_atom(Atom::new(ident, AtomData::UTF8(v)));
    };
    if let Some(c) = &d.copyright {
        set(AtomIdent::Fourcc(*b"cprt"), c.clone());
    }
    set(freeform(DATA_MINING), p.plus_data_mining.clone());
    set(freeform(TDM_RESERVATION), p.tdm_reservation.to_string());
    if let Some(url) = &p.terms_url {
        set(freeform(TDM_POLICY), url.clone());
    }
    set(freeform("LICENSE"), p.notice.clone());
    if let Some(m) = manifest {
        set(freeform(MANIFEST_KEY), m.to_string());
    }
}

/// Saves `file`'s tags into `empty` (a minimal file of the same kind, in
/// memory) and returns the result.
fn write_into_donor<A: AudioFile>(file: &A, empty: Vec<u8>) -> Result<Vec<u8>, MetadataError> {
    let mut donor = std::io::Cursor::new(empty);
    file.save_to(&mut donor, write_options())?;
    Ok(donor.into_inner())
}

/// The ID3v2 tag and RIFF INFO list a WAV gets: its own when it has them,
/// else the carried tags; with earmark's fields declared.
fn declared_wav(
    wav: &mut WavFile,
    decl: &Declaration,
    manifest: Option<&str>,
    carried: Option<&CarriedTags>,
) {
    // A new ID3 chunk starts from the INFO list, so both show the title.
    let from_info = wav
        .riff_info()
        .filter(|t| !t.is_empty())
        .map(|i| Id3v2Tag::from(Tag::from(i.clone())));
    let mut id3 = wav
        .id3v2()
        .cloned()
        .filter(|t| !t.is_empty())
        .or(from_info)
        .or_else(|| carried.map(|c| Id3v2Tag::from(c.tag.clone())))
        .unwrap_or_default();
    declare_id3(&mut id3, decl, manifest, false);
    wav.set_id3v2(id3);
    let mut info = wav
        .riff_info()
        .cloned()
        .filter(|t| !t.is_empty())
        .or_else(|| carried.map(|c| RiffInfoList::from(c.tag.clone())))
        .unwrap_or_default();
    declare_riff_info(&mut info, decl);
    wav.set_riff_info(info);
}

/// As [`declared_wav`], for AIFF's ID3v2 tag and text chunks.
fn declared_aiff(
    aiff: &mut AiffFile,
    decl: &Declaration,
    manifest: Option<&str>,
    carried: Option<&CarriedTags>,
) {
    let from_text = aiff
        .text_chunks()
        .filter(|t| !t.is_empty())
        .map(|t| Id3v2Tag::from(Tag::from(t.clone())));
    let mut id3 = aiff
        .id3v2()
        .cloned()
        .filter(|t| !t.is_empty())
        .or(from_text)
        .or_else(|| carried.map(|c| Id3v2Tag::from(c.tag.clone())))
        .unwrap_or_default();
    declare_id3(&mut id3, decl, manifest, false);
    aiff.set_id3v2(id3);
    let mut text = aiff
        .text_chunks()
        .cloned()
        .filter(|t| !t.is_empty())
        .or_else(|| carried.map(|c| AiffTextChunks::from(c.tag.clone())))
        .unwrap_or_default();
    declare_aiff_text(&mut text, decl);
    aiff.set_text_chunks(text);
}

/// The Vorbis comments a FLAC file gets: its own when it has them, else the
/// carried tags (artwork included); with earmark's fields declared.
fn declared_flac(
    flac: &mut lofty::flac::FlacFile,
    decl: &Declaration,
    manifest: Option<&str>,
    carried: Option<&CarriedTags>,
) {
    let mut vc = flac
        .vorbis_comments()
        .cloned()
        .filter(|t| !t.is_empty())
        .or_else(|| carried.map(|c| VorbisComments::from(c.tag.clone())))
        .unwrap_or_default();
    declare_vorbis(&mut vc, decl, manifest);
    flac.set_vorbis_comments(vc);
}

/// The metadata chunks of a stamped WAV, serialised: `LIST`/`INFO`, `ID3 `
/// (with the manifest) and `_PMX` (the XMP packet), in that order, for a
/// writer to put after the audio. `carried` supplies the standard tags
/// (title, artist, album, ISRC, ...).
pub fn render_wav_chunks(
    decl: &Declaration,
    manifest: Option<&str>,
    carried: Option<&CarriedTags>,
) -> Result<Vec<RiffChunk>, MetadataError> {
    let mut empty = std::io::Cursor::new(riff::empty_wav());
    let mut wav = WavFile::read_from(&mut empty, parse_options())?;
    declared_wav(&mut wav, decl, manifest, carried);
    let donor = write_into_donor(&wav, riff::empty_wav())?;
    let mut out = chunks::tag_chunks_of(&donor)?;
    out.push(chunks::xmp_chunk(
        riff::Order::Little,
        xmp::packet(decl).as_bytes(),
    ));
    Ok(out)
}

/// The metadata blocks of a stamped FLAC file, serialised as `(type, body)`:
/// VORBIS_COMMENT (with the manifest) and any PICTURE blocks of the carried
/// artwork, for a writer to put after STREAMINFO.
pub fn render_flac_blocks(
    decl: &Declaration,
    manifest: Option<&str>,
    carried: Option<&CarriedTags>,
) -> Result<Vec<FlacBlock>, MetadataError> {
    use container::flac::{PICTURE, VORBIS_COMMENT};
    let mut empty = std::io::Cursor::new(container::flac::empty_file());
    let mut flac = lofty::flac::FlacFile::read_from(&mut empty, parse_options())?;
    declared_flac(&mut flac, decl, manifest, carried);
    let donor = write_into_donor(&flac, container::flac::empty_file())?;
    Ok(container::flac::blocks_in(&donor)?
        .into_iter()
        .filter(|(kind, _)| matches!(*kind, VORBIS_COMMENT | PICTURE))
        .collect())
}

/// Writes the declaration (and the manifest, when given) into every carrier
/// of `file`, a `container` file, in place. `carried` supplies standard tags
/// for carriers the file does not have yet.
///
/// Call it on a temporary copy: a failure can leave the file half-written.
/// Returns warnings about existing tags that could not be read (and so were
/// not kept), e.g. text that is not valid UTF-8.
pub fn write_declaration(
    file: &mut File,
    container: Container,
    decl: &Declaration,
    manifest: Option<&str>,
    carried: Option<&CarriedTags>,
) -> Result<Vec<String>, MetadataError> {
    if !container.is_taggable() {
        return Err(MetadataError::Unsupported);
    }
    let warnings = strict_read_problem(file)
        .map(|e| {
            vec![format!(
                "some existing tags could not be read and were not kept ({e})"
            )]
        })
        .unwrap_or_default();
    file.seek(SeekFrom::Start(0))?;
    let opts = parse_options();
    let packet = xmp::packet(decl);
    match container {
        Container::Wav => {
            let mut wav = WavFile::read_from(file, opts)?;
            declared_wav(&mut wav, decl, manifest, carried);
            // lofty rewrites a WAV whole and in memory; write the tags into a
            // tiny WAV instead and move its chunks over, so memory stays flat.
            let donor = write_into_donor(&wav, riff::empty_wav())?;
            chunks::iff_set_tags(file, chunks::tag_chunks_of(&donor)?, packet.as_bytes())?;
        }
        Container::Aiff => {
            let mut aiff = AiffFile::read_from(file, opts)?;
            declared_aiff(&mut aiff, decl, manifest, carried);
            let donor = write_into_donor(&aiff, riff::empty_aiff())?;
            chunks::iff_set_tags(file, chunks::tag_chunks_of(&donor)?, packet.as_bytes())?;
        }
        Container::Mp3 => {
            let mut mp3 = lofty::mpeg::MpegFile::read_from(file, opts)?;
            let mut id3 = mp3
                .id3v2()
                .cloned()
                .filter(|t| !t.is_empty())
                .or_else(|| carried.map(|c| Id3v2Tag::from(c.tag.clone())))
                .unwrap_or_default();
            declare_id3(&mut id3, decl, manifest, true);
            mp3.set_id3v2(id3);
            file.seek(SeekFrom::Start(0))?;
            mp3.save_to(file, write_options())?;
        }
        Container::Flac => {
            let mut flac = lofty::flac::FlacFile::read_from(file, opts)?;
            declared_flac(&mut flac, decl, manifest, carried);
            file.seek(SeekFrom::Start(0))?;
            flac.save_to(file, write_options())?;
        }
        Container::OggVorbis => {
            let mut ogg = VorbisFile::read_from(file, opts)?;
            declare_vorbis(ogg.vorbis_comments_mut(), decl, manifest);
            file.seek(SeekFrom::Start(0))?;
            ogg.save_to(file, write_options())?;
        }
        Container::Opus => {
            let mut ogg = OpusFile::read_from(file, opts)?;
            declare_vorbis(ogg.vorbis_comments_mut(), decl, manifest);
            file.seek(SeekFrom::Start(0))?;
            ogg.save_to(file, write_options())?;
        }
        Container::Mp4 => {
            let mut mp4 = Mp4File::read_from(file, opts)?;
            let mut ilst = mp4
                .ilst()
                .cloned()
                .filter(|t| !t.is_empty())
                .or_else(|| carried.map(|c| Ilst::from(c.tag.clone())))
                .unwrap_or_default();
            declare_ilst(&mut ilst, decl, manifest);
            file.seek(SeekFrom::Start(0))?;
            avoid_eight_byte_gap(file, &mut ilst)?;
            mp4.set_ilst(ilst);
            file.seek(SeekFrom::Start(0))?;
            mp4.save_to(file, write_options())?;
            let end = chunks::mp4_set_xmp(file, packet.as_bytes())?;
            file.set_len(end)?;
        }
        _ => return Err(MetadataError::Unsupported),
    }
    file.sync_all()?;
    Ok(warnings)
}

/// What a strict parse of the tags objects to, if anything: earmark reads
/// leniently so a damaged tag does not block tagging, and says what it lost.
fn strict_read_problem(file: &mut File) -> Option<String> {
    let strict = ParseOptions::new()
        .read_properties(false)
        .parsing_mode(ParsingMode::Strict);
    file.seek(SeekFrom::Start(0)).ok()?;
    // Content decides the type: the temporary copy's name ends in `.tmp`.
    let probe = lofty::probe::Probe::new(std::io::BufReader::new(file))
        .guess_file_type()
        .ok()?;
    match probe.options(strict).read() {
        Ok(_) => None,
        Err(e) => Some(e.to_string()),
    }
}

/// One place in a file that carries (part of) the declaration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Carrier {
    /// Where it is, e.g. `"XMP (_PMX chunk)"`, `"ID3v2"`, `"Vorbis comments"`.
    pub name: String,
    /// PLUS Data Mining URI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_mining: Option<String>,
    /// TDMRep reservation (`"1"` or `"0"`). JSON: the number when it is
    /// one, else the text as found.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "number_if_numeric"
    )]
    pub tdm_reservation: Option<String>,
    /// TDMRep policy URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tdm_policy: Option<String>,
    /// Copyright or rights text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub copyright: Option<String>,
    /// Human-readable notice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
}

/// A tag value that holds a number is written as one.
fn number_if_numeric<S: serde::Serializer>(v: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    match v.as_deref().map(str::trim) {
        Some(t) => match t.parse::<i64>() {
            Ok(n) => s.serialize_i64(n),
            Err(_) => s.serialize_str(t),
        },
        None => s.serialize_none(),
    }
}

impl Carrier {
    fn named(name: &str) -> Carrier {
        Carrier {
            name: name.to_string(),
            ..Carrier::default()
        }
    }

    fn from_xmp(name: &str, f: XmpFields) -> Carrier {
        Carrier {
            name: name.to_string(),
            data_mining: f.data_mining,
            tdm_reservation: f.tdm_reservation,
            tdm_policy: f.tdm_policy,
            copyright: f.rights,
            notice: f.notice,
        }
    }

    fn is_empty(&self) -> bool {
        self.data_mining.is_none()
            && self.tdm_reservation.is_none()
            && self.tdm_policy.is_none()
            && self.copyright.is_none()
            && self.notice.is_none()
    }
}

/// Everything earmark reads from a file's metadata.
#[derive(Debug, Clone, Serialize)]
pub struct FileMetadata {
    /// The container.
    pub container: Container,
    /// Every carrier with at least one declaration field, in a fixed order.
    pub carriers: Vec<Carrier>,
    /// Signed manifests found (JSON text), normally one.
    #[serde(skip)]
    pub manifests: Vec<String>,
    /// Number of XMP packets (more than one is a broken file; earmark writes one).
    pub xmp_packets: usize,
    /// Title tag, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Artist tag, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artist: Option<String>,
    /// Album tag, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub album: Option<String>,
    /// ISRC, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub isrc: Option<String>,
    /// Embedded pictures (artwork).
    pub pictures: usize,
    /// Problems met while reading (a carrier that could not be parsed).
    pub warnings: Vec<String>,
    /// The standard tags, to carry into a stamped copy.
    #[serde(skip)]
    pub carried: Option<CarriedTags>,
}

impl FileMetadata {
    /// Whether every carrier that states a PLUS Data Mining value or a TDM
    /// reservation states the same one.
    pub fn carriers_agree(&self) -> bool {
        let same = |get: fn(&Carrier) -> Option<&String>| {
            let mut values = self.carriers.iter().filter_map(get);
            match values.next() {
                Some(first) => values.all(|v| v == first),
                None => true,
            }
        };
        same(|c| c.data_mining.as_ref()) && same(|c| c.tdm_reservation.as_ref())
    }

    /// The PLUS Data Mining URI the carriers state, if they agree on one.
    pub fn data_mining(&self) -> Option<&str> {
        if !self.carriers_agree() {
            return None;
        }
        self.carriers.iter().find_map(|c| c.data_mining.as_deref())
    }
}

fn id3_carrier(tag: &Id3v2Tag, name: &str) -> (Carrier, Vec<String>, Vec<String>) {
    let mut c = Carrier::named(name);
    c.data_mining = tag.get_user_text(DATA_MINING).map(str::to_string);
    c.tdm_reservation = tag.get_user_text(TDM_RESERVATION).map(str::to_string);
    c.tdm_policy = tag.get_user_text(TDM_POLICY).map(str::to_string);
    c.copyright = tag.get_text(&id("TCOP")).map(str::to_string);
    let mut xmp_packets = Vec::new();
    // Every TXXX:EARMARK_MANIFEST (normally one; more is a conflict that
    // verify reports).
    let mut manifests = Vec::new();
    for f in tag.iter() {
        match f {
            Frame::Binary(b) if b.id().as_str() == "USER" && b.data.len() > 4 => {
                let text = &b.data[4..];
                c.notice = Some(match b.data[0] {
                    // UTF-16 with BOM (1) or big-endian (2): decode; else UTF-8/Latin-1.
                    1 | 2 => {
                        let units: Vec<u16> = text
                            .chunks_exact(2)
                            .map(|p| {
                                if b.data[0] == 2 || text.starts_with(&[0xFE, 0xFF]) {
                                    u16::from_be_bytes([p[0], p[1]])
                                } else {
                                    u16::from_le_bytes([p[0], p[1]])
                                }
                            })
                            .collect();
                        String::from_utf16_lossy(&units)
                            .trim_start_matches('\u{feff}')
                            .to_string()
                    }
                    _ => String::from_utf8_lossy(text).into_owned(),
                });
            }
            Frame::Private(p) if p.owner == XMP_OWNER => {
                xmp_packets.push(String::from_utf8_lossy(&p.private_data).into_owned());
            }
            Frame::UserText(t) if t.description == MANIFEST_KEY => {
                manifests.push(t.content.to_string());
            }
            _ => {}
        }
    }
    (c, manifests, xmp_packets)
}

/// The carrier and every manifest value (normally one; more is a conflict
/// that verify reports).
fn vorbis_carrier(vc: &VorbisComments) -> (Carrier, Vec<String>) {
    let mut c = Carrier::named("Vorbis comments");
    c.data_mining = vc.get(DATA_MINING).map(str::to_string);
    c.tdm_reservation = vc.get(TDM_RESERVATION).map(str::to_string);
    c.tdm_policy = vc.get(TDM_POLICY).map(str::to_string);
    c.copyright = vc.get("COPYRIGHT").map(str::to_string);
    c.notice = vc.get("LICENSE").map(str::to_string);
    (c, vc.get_all(MANIFEST_KEY).map(str::to_string).collect())
}

fn ilst_text(ilst: &Ilst, ident: &AtomIdent<'_>) -> Option<String> {
    ilst.get(ident)?.data().find_map(|d| match d {
        AtomData::UTF8(s) | AtomData::UTF16(s) => Some(s.clone()),
        _ => None,
    })
}

fn ilst_carrier(ilst: &Ilst) -> (Carrier, Vec<String>) {
    let mut c = Carrier::named("MP4 ilst");
    c.data_mining = ilst_text(ilst, &freeform(DATA_MINING));
    c.tdm_reservation = ilst_text(ilst, &freeform(TDM_RESERVATION));
    c.tdm_policy = ilst_text(ilst, &freeform(TDM_POLICY));
    c.copyright = ilst_text(ilst, &AtomIdent::Fourcc(*b"cprt"));
    c.notice = ilst_text(ilst, &freeform("LICENSE"));
    let manifests = ilst
        .get(&freeform(MANIFEST_KEY))
        .map(|atom| {
            atom.data()
                .filter_map(|d| match d {
                    AtomData::UTF8(s) | AtomData::UTF16(s) => Some(s.clone()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    (c, manifests)
}

/// The standard tags of a parsed file (title, artist, album, ISRC, artwork).
fn read_standard(meta: &mut FileMetadata, tagged: &TaggedFile) {
    // The primary tag first, then any other (a WAV's INFO list, say).
    let primary = tagged.primary_tag().map(Tag::tag_type);
    let mut tags: Vec<&Tag> = tagged.tags().iter().collect();
    tags.sort_by_key(|t| Some(t.tag_type()) != primary);
    for t in tags {
        meta.title = meta.title.take().or_else(|| t.title().map(Cow::into_owned));
        meta.artist = meta
            .artist
            .take()
            .or_else(|| t.artist().map(Cow::into_owned));
        meta.album = meta.album.take().or_else(|| t.album().map(Cow::into_owned));
        meta.isrc = meta
            .isrc
            .take()
            .or_else(|| t.get_string(ItemKey::Isrc).map(str::to_string));
        meta.pictures = meta.pictures.max(t.pictures().len());
    }
    meta.carried = CarriedTags::of(tagged);
}

/// Reads every declaration carrier, the manifests and the standard tags of
/// a `container` stream, parsing its tags once (and its XMP chunk or box).
/// Carriers that cannot be parsed become warnings, not errors. Leaves the
/// stream at its start.
pub fn read_metadata<R: Read + Seek>(
    r: &mut R,
    container: Container,
) -> Result<FileMetadata, MetadataError> {
    if !container.is_taggable() {
        return Err(MetadataError::Unsupported);
    }
    let mut meta = FileMetadata {
        container,
        carriers: Vec::new(),
        manifests: Vec::new(),
        xmp_packets: 0,
        title: None,
        artist: None,
        album: None,
        isrc: None,
        pictures: 0,
        warnings: Vec::new(),
        carried: None,
    };
    // XMP in its own chunk or box first.
    let (xmp_name, xmp_found) = match container {
        Container::Wav => ("XMP (_PMX chunk)", Some(chunks::iff_read_xmp(r))),
        Container::Aiff => ("XMP (APPL chunk)", Some(chunks::iff_read_xmp(r))),
        Container::Mp4 => ("XMP (uuid box)", Some(chunks::mp4_read_xmp(r))),
        _ => ("XMP (ID3 PRIV)", None),
    };
    let mut packets: Vec<String> = Vec::new();
    match xmp_found {
        Some(Ok(found)) => packets.extend(
            found
                .iter()
                .map(|p| String::from_utf8_lossy(p).into_owned()),
        ),
        Some(Err(e)) => meta.warnings.push(format!("XMP: {e}")),
        None => {}
    }
    r.seek(SeekFrom::Start(0))?;
    let opts = parse_options();
    let mut carriers = Vec::new();
    let mut id3_from =
        |tag: Option<&Id3v2Tag>, carriers: &mut Vec<Carrier>, meta: &mut FileMetadata| {
            if let Some(tag) = tag {
                let (c, m, x) = id3_carrier(tag, "ID3v2");
                carriers.push(c);
                meta.manifests.extend(m);
                packets.extend(x);
            }
        };
    // One parse of the concrete type: its carriers, then (moved, not read
    // again) the generic view for the standard tags.
    let tagged: Result<TaggedFile, String> = match container {
        Container::Wav => match chunks::rf64_tags_as_riff(r)? {
            // RF64 (a WAV over 4 GiB): its tag chunks, in a small RIFF.
            Some(donor) => WavFile::read_from(&mut std::io::Cursor::new(donor), opts),
            None => WavFile::read_from(r, opts),
        }
        .map(|wav| {
            id3_from(wav.id3v2(), &mut carriers, &mut meta);
            if let Some(info) = wav.riff_info() {
                let mut c = Carrier::named("RIFF INFO");
                c.copyright = info.get("ICOP").map(str::to_string);
                c.notice = info.get("ICMT").map(str::to_string);
                carriers.push(c);
            }
            wav.into()
        }),
        Container::Aiff => AiffFile::read_from(r, opts).map(|aiff| {
            id3_from(aiff.id3v2(), &mut carriers, &mut meta);
            if let Some(text) = aiff.text_chunks() {
                let mut c = Carrier::named("AIFF text chunks");
                c.copyright = text.copyright.clone();
                c.notice = text.annotations.as_ref().and_then(|a| a.last().cloned());
                carriers.push(c);
            }
            aiff.into()
        }),
        Container::Mp3 => lofty::mpeg::MpegFile::read_from(r, opts).map(|mp3| {
            id3_from(mp3.id3v2(), &mut carriers, &mut meta);
            mp3.into()
        }),
        Container::Flac => lofty::flac::FlacFile::read_from(r, opts).map(|flac| {
            if let Some(vc) = flac.vorbis_comments() {
                let (c, m) = vorbis_carrier(vc);
                carriers.push(c);
                meta.manifests.extend(m);
            }
            flac.into()
        }),
        Container::OggVorbis => VorbisFile::read_from(r, opts).map(|ogg| {
            let (c, m) = vorbis_carrier(ogg.vorbis_comments());
            carriers.push(c);
            meta.manifests.extend(m);
            ogg.into()
        }),
        Container::Opus => OpusFile::read_from(r, opts).map(|ogg| {
            let (c, m) = vorbis_carrier(ogg.vorbis_comments());
            carriers.push(c);
            meta.manifests.extend(m);
            ogg.into()
        }),
        Container::Mp4 => Mp4File::read_from(r, opts).map(|mp4| {
            if let Some(ilst) = mp4.ilst() {
                let (c, m) = ilst_carrier(ilst);
                carriers.push(c);
                meta.manifests.extend(m);
            }
            mp4.into()
        }),
        _ => return Err(MetadataError::Unsupported),
    }
    .map_err(|e| e.to_string());
    match tagged {
        Ok(tagged) => read_standard(&mut meta, &tagged),
        Err(e) => meta
            .warnings
            .push(format!("{} tags could not be read: {e}", container.name())),
    }
    r.seek(SeekFrom::Start(0))?;
    meta.xmp_packets = packets.len();
    if packets.len() > 1 {
        meta.warnings.push(format!(
            "{} XMP packets found; readers may disagree on which one counts",
            packets.len()
        ));
    }
    // XMP leads: it is the standard machine-readable carrier.
    let mut all: Vec<Carrier> = packets
        .iter()
        .filter(|p| xmp::looks_like_xmp(p.as_bytes()))
        .map(|p| Carrier::from_xmp(xmp_name, xmp::parse(p)))
        .collect();
    all.extend(carriers);
    meta.carriers = all.into_iter().filter(|c| !c.is_empty()).collect();
    Ok(meta)
}

/// [`read_metadata`] of the file at `path` (its container from its content).
pub fn read_metadata_file(path: &std::path::Path) -> Result<FileMetadata, MetadataError> {
    let mut file = std::io::BufReader::new(File::open(path)?);
    let container = Container::of_reader(&mut file)?.ok_or(MetadataError::Unsupported)?;
    read_metadata(&mut file, container)
}
