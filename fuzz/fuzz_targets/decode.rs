//! Decoding: any bytes, with any format hint, through the streaming reader
//! (symphonia, the direct WAV/AIFF reader, the Opus decoder, the container
//! pre-checks) until the end or 20 M samples.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: earmark_fuzz::Capped = earmark_fuzz::Capped;

fuzz_target!(|data: &[u8]| {
    earmark_fuzz::init();
    let (ext, bytes) = earmark_fuzz::split(data);
    let hint = (!ext.is_empty()).then_some(ext);
    let Ok(mut reader) = earmark::audio::AudioReader::from_bytes(bytes.to_vec(), hint) else {
        return;
    };
    let mut buf = Vec::new();
    let mut total = 0usize;
    while let Ok(n) = reader.read_chunk(&mut buf) {
        if n == 0 || total > 20_000_000 {
            break;
        }
        total += buf.len();
    }
});
