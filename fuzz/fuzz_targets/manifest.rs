//! Signed manifests from untrusted text (embedded tags, sidecars, rows
//! published to the service): parsing, the signature check, re-encoding.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: earmark_fuzz::Capped = earmark_fuzz::Capped;

fuzz_target!(|data: &[u8]| {
    earmark_fuzz::init();
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(m) = earmark::provenance::SignedManifest::parse(text) {
        let check = m.check(&[earmark_fuzz::signing_key().public_key()]);
        let _ = check.verdict();
        let again = m.to_json_compact();
        // What parses must survive its own re-encoding.
        assert!(earmark::provenance::SignedManifest::parse(&again).is_ok());
    }
});
