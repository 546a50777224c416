//! The marker and the seal under real attacks on real music, through the
//! engine (`Stamper`/`Verifier` via `earmark_eval::engine`): what `earmark
//! verify` promises once a copy went through the codecs and time-scale
//! changes of `earmark_eval::attacks`. (They need LAME and libvorbis, so
//! they run here, in the evaluation crate.)

use earmark::audio::{decode_file, Audio};
use earmark::mark::{Detector, Scale, WatermarkKey, CANDIDATES};
use earmark::provenance::SigningKeyPair;
use earmark::verify::SealStatus;
use earmark::{StampOptions, VerifyOptions};
use earmark_eval::attacks::{apply, time_scale_suite, Attack};
use earmark_eval::engine;

fn test_audio(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../test-audio")
        .join(name)
}

/// The first `seconds` of a test track.
fn excerpt(name: &str, seconds: usize) -> Audio {
    let mut a = decode_file(&test_audio(name)).unwrap();
    a.samples
        .truncate(seconds * a.sample_rate as usize * usize::from(a.channels));
    a
}

fn options(seed: u8, track_id: u32) -> StampOptions {
    let mut o = StampOptions::new(SigningKeyPair::from_bytes(&[seed; 32]));
    o.track_id = Some(track_id);
    o
}

/// The DSP building block under the search: after a speed, tempo or pitch
/// change the plain detector finds nothing, and the detector told the
/// change finds the payload, with times in the attacked audio's timeline.
#[test]
fn a_known_scale_change_is_undone_on_real_music() {
    let audio = excerpt("rock-supertuxkart-bay.ogg", 14);
    let ch = usize::from(audio.channels);
    let (stamped, s) = engine::stamp(&audio, &options(1, 77)).unwrap();
    let payload = s.payload.to_bytes();
    let key = WatermarkKey::public();
    let speed = |f| Scale {
        speed: f,
        tempo: 1.0,
    };
    let tempo = |f| Scale {
        speed: 1.0,
        tempo: f,
    };
    for (attack, scale) in [
        (Attack::Speed { factor: 1.05 }, speed(1.05)),
        (Attack::Speed { factor: 0.95 }, speed(0.95)),
        (Attack::Tempo { factor: 0.95 }, tempo(0.95)),
        (Attack::Tempo { factor: 1.05 }, tempo(1.05)),
        (Attack::Pitch { semitones: 1.0 }, Scale::pitch(1.0)),
        (Attack::Pitch { semitones: -1.0 }, Scale::pitch(-1.0)),
    ] {
        let a = apply(&attack, &stamped, 0).unwrap().audio;
        let run = |scale: Scale| {
            let mut d = Detector::with_scale(&key, a.sample_rate, ch, scale);
            for chunk in a.samples.chunks(4096 * ch) {
                d.process(chunk);
            }
            d.finish()
        };
        let plain = run(Scale::IDENTITY);
        assert!(
            plain.detections.is_empty(),
            "{}: detection should fail without the scale",
            attack.name()
        );
        let undone = run(scale);
        assert!(
            undone.detections.iter().any(|d| d.payload == payload),
            "{}: not found with {scale:?}",
            attack.name()
        );
        let secs = a.duration_secs();
        assert!(
            (undone.seconds - secs).abs() < 0.1,
            "{}: {} s vs {secs} s",
            attack.name(),
            undone.seconds
        );
    }
}

/// After each time-scale attack (and after MP3 128 then the attack, on a
/// 10 s clip) verification finds the payload with no hint and says which
/// change it undid; on the unmarked original it finds nothing, and every
/// pass of the search is counted in the CRC checks.
#[test]
fn verify_finds_the_marker_after_speed_tempo_and_pitch_changes() {
    let original = excerpt("acoustic-neverball-track1.ogg", 16);
    let (stamped, s) = engine::stamp(&original, &options(2, 4242)).unwrap();
    let vo = VerifyOptions::default();
    let none = engine::verify(&original, &vo).unwrap();
    assert!(!none.marked, "unmarked audio gave a payload");
    let d = &none.diagnostics;
    assert!(d.analyses > 1, "the search ran: {} analyses", d.analyses);
    assert!(d.crc_checks <= CANDIDATES * d.analyses);
    let mp3 = apply(&Attack::Mp3 { kbps: 128 }, &stamped, 0)
        .unwrap()
        .audio;
    for attack in time_scale_suite() {
        let a = apply(&attack, &stamped, 0).unwrap().audio;
        let v = engine::verify(&a, &vo).unwrap();
        assert!(
            v.markers.iter().any(|m| m.payload == s.payload),
            "{}: not found (undid {:?})",
            attack.name(),
            v.scale
        );
        assert!(v.scale.is_some() && v.change.is_some(), "{}", attack.name());
        let d = &v.diagnostics;
        assert!(d.crc_checks >= 1 && d.crc_checks <= CANDIDATES * d.analyses);
        // A 10 s clip of the MP3 copy after the change.
        let b = apply(&attack, &mp3, 0).unwrap().audio;
        let ch = usize::from(b.channels);
        let rate = b.sample_rate as usize;
        let clip = Audio {
            samples: b.samples[3 * rate * ch..13 * rate * ch].to_vec(),
            ..b.clone()
        };
        let v = engine::verify(&clip, &vo).unwrap();
        assert!(
            v.markers.iter().any(|m| m.payload == s.payload),
            "mp3-128 then {} (10 s clip): not found (undid {:?})",
            attack.name(),
            v.scale
        );
    }
}

/// On real music (four 28 s excerpts back to back, 112 s: the seal is
/// meant for whole tracks) the seal verifies, also after MP3 128 kbps and
/// in a 16 kHz mono copy of that;
/// stamped without the seal there is none; with another watermark key
/// nothing is found; without the signer's key the seal is unchecked.
#[test]
fn the_seal_verifies_on_real_music_after_mp3() {
    let mut audio: Option<Audio> = None;
    for name in [
        "rock-supertuxkart-bay",
        "rock-openarena-oa02",
        "electronic-supertuxkart-xeon6",
        "acoustic-neverball-track1",
    ] {
        let part = decode_file(&test_audio(&format!("{name}.ogg"))).unwrap();
        match &mut audio {
            None => audio = Some(part),
            Some(a) => a.samples.extend_from_slice(&part.samples),
        }
    }
    let audio = audio.unwrap();
    let key = SigningKeyPair::from_bytes(&[3; 32]);
    let mut so = StampOptions::new(key.clone());
    so.track_id = Some(9);
    let (sealed, s) = engine::stamp(&audio, &so).unwrap();
    so.seal = false;
    let (plain, _) = engine::stamp(&audio, &so).unwrap();
    let mut trusted = VerifyOptions::default();
    trusted.trusted = vec![key.public_key()];

    let v = engine::verify(&sealed, &trusted).unwrap();
    assert_eq!(v.markers[0].payload, s.payload);
    assert_eq!(
        v.seal.as_ref().map(|s| s.status),
        Some(SealStatus::Valid),
        "{v:?}"
    );
    let mp3 = apply(&Attack::Mp3 { kbps: 128 }, &sealed, 0).unwrap().audio;
    let v = engine::verify(&mp3, &trusted).unwrap();
    assert_eq!(v.seal.as_ref().map(|s| s.status), Some(SealStatus::Valid));
    assert_eq!(v.seal.as_ref().and_then(|s| s.trusted), Some(true));
    // A 16 kHz mono copy of the MP3, as audio datasets store it, keeps the
    // seal (it lives in the marker's cells, below 4.4 kHz).
    let mono = apply(&Attack::ToMono, &mp3, 0).unwrap().audio;
    let small = apply(&Attack::StoreAt { hz: 16_000 }, &mono, 0)
        .unwrap()
        .audio;
    assert_eq!((small.sample_rate, small.channels), (16_000, 1));
    let v = engine::verify(&small, &trusted).unwrap();
    assert_eq!(
        v.seal.as_ref().map(|s| s.status),
        Some(SealStatus::Valid),
        "16 kHz mono: {v:?}"
    );
    // Unchecked without the key.
    let v = engine::verify(&mp3, &VerifyOptions::default()).unwrap();
    assert_eq!(
        v.seal.as_ref().map(|s| s.status),
        Some(SealStatus::Unchecked)
    );
    // Marked without a seal: the marker, no seal, and why.
    let v = engine::verify(&plain, &trusted).unwrap();
    assert!(
        v.marked && v.seal.is_none() && v.seal_missing.is_some(),
        "{v:?}"
    );
    // Another watermark key finds nothing.
    let mut other = trusted.clone();
    other.wm_key = WatermarkKey::from_bytes(b"another key entirely");
    assert!(!engine::verify(&sealed, &other).unwrap().marked);
}
