//! Verification of any bytes: decode, marker detection, seal, embedded
//! manifests (every carrier) and C2PA stores. The speed/tempo/pitch search
//! is off to keep an iteration short; it runs the same detector.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: earmark_fuzz::Capped = earmark_fuzz::Capped;

fuzz_target!(|data: &[u8]| {
    earmark_fuzz::init();
    let (_, bytes) = earmark_fuzz::split(data);
    let opts = earmark_fuzz::verify_options();
    if let Ok(v) = earmark::verify::verify_bytes(bytes, &opts) {
        let _ = v.to_json();
        let _ = v.status();
    }
});
