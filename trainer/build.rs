//! Links libtorch so that `mynah-train` runs without `LD_LIBRARY_PATH` and really uses CUDA.

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let Ok(lib_dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        return;
    };
    // Binaries find libtorch where it was at build time (the repo's .venv).
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib_dir}");
    // Nothing references libtorch_cuda's symbols directly, so `--as-needed` would drop it and
    // CUDA would silently be unavailable: keep it in DT_NEEDED whenever this libtorch has it.
    let cuda = std::path::Path::new(&lib_dir).join("libtorch_cuda.so");
    if cuda.exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
    }
}
