//! Inspection of any bytes: every metadata carrier, the declaration, the
//! manifest, C2PA, and the marker.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: earmark_fuzz::Capped = earmark_fuzz::Capped;

fuzz_target!(|data: &[u8]| {
    earmark_fuzz::init();
    let (_, bytes) = earmark_fuzz::split(data);
    let opts = earmark_fuzz::verify_options();
    if let Ok(i) = earmark::inspect::inspect(std::io::Cursor::new(bytes.to_vec()), &opts) {
        let _ = i.to_json();
    }
});
