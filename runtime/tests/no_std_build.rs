//! The runtime builds for a bare-metal Cortex-M4F without `std` or `alloc`. A check of the
//! build host's cargo, so it runs on the x86-64 host only, not again under qemu.
#![cfg(target_arch = "x86_64")]

use std::process::Command;

#[test]
fn builds_for_thumbv7em_without_std() {
    let target_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/no_std");
    let out = Command::new(env!("CARGO"))
        .args([
            "build",
            "-p",
            "edgeq-runtime",
            "--no-default-features",
            "--release",
            "--target",
            "thumbv7em-none-eabihf",
            "--target-dir",
        ])
        .arg(&target_dir)
        .output()
        .expect("running cargo");
    assert!(
        out.status.success(),
        "no_std build failed (is the target installed? `rustup target add thumbv7em-none-eabihf`):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
