//! Sets `cfg(mynah_dsp)` when compiling for ARMv7E-M (`thumbv7em-*`: Cortex-M4, M7), whose
//! DSP extension has the dual 16-bit multiply-accumulate `SMLAD` and `SXTB16` that
//! `kernels::arm_dsp` uses. Rust's own `target_feature = "dsp"` is unstable, and on stable
//! the ARM target features are not reported to build scripts (`CARGO_CFG_TARGET_FEATURE`
//! has none for these targets), so the target name decides. Every other target
//! (x86_64, thumbv6m, thumbv7m, ...) compiles the portable kernels.

use std::env;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo::rustc-check-cfg=cfg(mynah_dsp)");
    let target = env::var("TARGET").unwrap_or_default();
    let features = env::var("CARGO_CFG_TARGET_FEATURE").unwrap_or_default();
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    // The kernel is Thumb-2 assembly: ARMv7E-M by name, or a Thumb target that reports the
    // feature should a future stable compiler start reporting it.
    let thumb_dsp = target.starts_with("thumbv7em")
        || (arch == "arm"
            && target.starts_with("thumb")
            && features.split(',').any(|f| f == "dsp"));
    if thumb_dsp {
        println!("cargo:rustc-cfg=mynah_dsp");
    }
}
