//! Tagging any file: the input is written under the extension the first
//! byte picks, then tagged (every carrier rewritten, packets hashed, C2PA
//! attached, the result read back) into a second file.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: earmark_fuzz::Capped = earmark_fuzz::Capped;

struct Setup {
    dir: std::path::PathBuf,
    opts: earmark::TagOptions,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("earmark-fuzz-tag-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch folder");
        Setup {
            dir,
            opts: earmark::TagOptions::new(earmark_fuzz::signing_key()),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    earmark_fuzz::init();
    let (ext, bytes) = earmark_fuzz::split(data);
    let s = setup();
    let input = s.dir.join(format!("in.{ext}"));
    let output = s.dir.join(format!("out.{ext}"));
    if std::fs::write(&input, bytes).is_err() {
        return;
    }
    let out = earmark::output::FileOutput::to(Some(output.clone())).force(true);
    if let Ok(o) = earmark::tag_file(&input, &out, &s.opts) {
        let _ = o.to_json();
    }
    let _ = std::fs::remove_file(&input);
    let _ = std::fs::remove_file(&output);
});
