//! What every fuzz target shares: an allocator that turns a huge single
//! allocation into a crash (libFuzzer's `-malloc_limit_mb` needs a
//! sanitizer's malloc hooks; this works in the stable, uninstrumented-heap
//! build too), and the file extensions an input may be given.

use std::alloc::{GlobalAlloc, Layout, System};

/// The largest single allocation a target may make: more than any real
/// input earmark is given here (fuzz inputs are at most a few MB) needs.
pub const ALLOCATION_LIMIT: usize = 256 << 20;

/// The system allocator, aborting on any allocation above
/// [`ALLOCATION_LIMIT`]: such an allocation sized from a header field is a
/// finding (it aborts the real tool under a memory limit), so the fuzzer
/// must report it instead of passing.
pub struct Capped;

unsafe impl GlobalAlloc for Capped {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        System.alloc_zeroed(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        check(new_size);
        System.realloc(ptr, layout, new_size)
    }
}

fn check(size: usize) {
    if size > ALLOCATION_LIMIT {
        use std::io::Write as _;
        // No allocation on the way out: a fixed message, then abort.
        let _ = std::io::stderr().write_all(
            b"earmark-fuzz: single allocation over the 256 MiB limit (sized from input?)\n",
        );
        std::process::abort();
    }
}

/// File extensions the first input byte chooses among, so the format hints
/// (and the sniffing that overrides a wrong one) are fuzzed too.
pub const EXTENSIONS: [&str; 12] = [
    "wav", "flac", "mp3", "ogg", "opus", "m4a", "aiff", "webm", "mka", "caf", "bin", "",
];

/// Splits an input into the extension its first byte picks and the rest.
pub fn split(data: &[u8]) -> (&'static str, &[u8]) {
    match data.split_first() {
        Some((b, rest)) => (EXTENSIONS[usize::from(*b) % EXTENSIONS.len()], rest),
        None => ("", data),
    }
}

/// Call first in every target: restores the default panic hook that
/// libfuzzer-sys replaced with one that aborts on *any* panic. earmark
/// catches the panics of the decoders and the C2PA SDK it calls and turns
/// them into per-file errors (`error::catch_quietly`), by design; only a
/// panic that escapes earmark is a finding, and libfuzzer-sys still aborts
/// on those (it catches the unwind at the target's boundary).
pub fn init() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = std::panic::take_hook();
    });
}

/// A fixed signing key (the targets that stamp or tag need one).
pub fn signing_key() -> earmark::provenance::SigningKeyPair {
    earmark::provenance::SigningKeyPair::from_bytes(&[7; 32])
}

/// Verify options for the targets that verify or inspect: the defaults,
/// without the speed/tempo/pitch search (it runs the same detector again
/// at other scales, and would make each iteration many times longer).
pub fn verify_options() -> earmark::verify::VerifyOptions {
    let mut opts = earmark::verify::VerifyOptions::default();
    opts.search = false;
    opts
}
