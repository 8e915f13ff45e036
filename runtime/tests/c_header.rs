//! `include/edgeq.h` is what cbindgen makes of `src/capi.rs`: the C header cannot drift from
//! the code. `EDGEQ_BLESS=1 cargo test -p edgeq-runtime --test c_header` rewrites it.
#![cfg(target_arch = "x86_64")]

use std::path::Path;

#[test]
fn header_matches_capi_source() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("cbindgen.toml");
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_config(config)
        .with_src(root.join("src/capi.rs"))
        .generate()
        .expect("cbindgen parses src/capi.rs")
        .write(&mut generated);
    let header_path = root.join("include/edgeq.h");
    if std::env::var_os("EDGEQ_BLESS").is_some() {
        std::fs::write(&header_path, &generated).expect("writing include/edgeq.h");
    }
    let committed = std::fs::read(&header_path).unwrap_or_default();
    assert!(
        committed == generated,
        "include/edgeq.h is stale; regenerate it with \
         `EDGEQ_BLESS=1 cargo test -p edgeq-runtime --test c_header`. cbindgen says:\n{}",
        String::from_utf8_lossy(&generated)
    );
}
