//! Puts `memory.x` where cortex-m-rt's `link.x` finds it, and sets `cfg(mynah_dsp)` on
//! targets with the DSP extension (ARMv7E-M: `thumbv7em-*`), where `SMLAD` and `SXTB16`
//! exist (Rust's own `target_feature = "dsp"` is not available on stable).

use std::env;
use std::fs;
use std::path::PathBuf;

fn main() {
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::write(out.join("memory.x"), include_bytes!("memory.x")).expect("write memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo::rustc-check-cfg=cfg(mynah_dsp)");
    if env::var("TARGET").is_ok_and(|t| t.starts_with("thumbv7em")) {
        println!("cargo:rustc-cfg=mynah_dsp");
    }
}
