//! Key and certificate files: private keys (`--key`), public keys and
//! bundles of them (`--trust`), and certificate chains (`--cert`).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: earmark_fuzz::Capped = earmark_fuzz::Capped;

fuzz_target!(|data: &[u8]| {
    earmark_fuzz::init();
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(k) = earmark::provenance::SigningKeyPair::from_pem(text) {
        let _ = earmark::provenance::SigningKeyPair::from_pem(&k.to_pem()).expect("round trip");
    }
    if let Ok(k) = earmark::provenance::PublicKey::from_pem(text) {
        assert_eq!(
            earmark::provenance::PublicKey::from_pem(&k.to_pem()).ok(),
            Some(k)
        );
    }
    let _ = earmark::keyfile::trusted_from_pem("fuzz", text);
    if let Ok(chain) = earmark::credentials::CertificateChain::from_pem(text) {
        let _ = chain.common_name();
        let _ = chain.check_certifies(&earmark_fuzz::signing_key().public_key());
    }
});
