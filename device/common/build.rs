//! Chooses the embedded model and the sampling settings at build time.
//!
//! Environment (all optional):
//! - `MYNAH_MODEL`: the INT8 model file (default: `device/models/synthetic-1x128.int8.mynah`);
//!   a relative path is taken from the repository root.
//! - `MYNAH_SEED` (default 1), `MYNAH_TEMPERATURE` (default 0.5), `MYNAH_PRIME` (default
//!   `ROMEO:`), `MYNAH_MAX_LEN` (characters per sample, default 300), `MYNAH_COUNT`
//!   (samples, default 1), `MYNAH_TOP_K` (default 0, all): `mynah sample`'s options, with
//!   the defaults of `make demo`'s first `mynah sample`.
//!
//! It reads the model header to size the runtime's capacities exactly (hidden width,
//! vocabulary, layers), so the firmware's RAM is what this model needs and no more.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

const DEFAULT_MODEL: &str = "device/models/synthetic-1x128.int8.mynah";

fn var(name: &str) -> Option<String> {
    println!("cargo:rerun-if-env-changed={name}");
    env::var(name).ok().filter(|v| !v.is_empty())
}

fn u32_at(bytes: &[u8], off: usize) -> u32 {
    let b = bytes.get(off..off + 4).expect("model header is 64 bytes");
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// The temperature in thousandths, rounded exactly as `mynah sample --temperature` does
/// (`tools/src/sampling.rs`: f64, `round(t * 1000)`), so both sides sample alike.
fn temperature_milli(text: &str) -> u32 {
    let t: f64 = text
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("MYNAH_TEMPERATURE={text:?} is not a number"));
    assert!(
        t.is_finite() && (0.0..=1000.0).contains(&t),
        "MYNAH_TEMPERATURE={text:?} is out of range"
    );
    (t * 1000.0).round() as u32
}

/// Refuses, at build time, a prime with a character outside the model's vocabulary:
/// on the device there is nobody to read a long error message.
fn check_prime(bytes: &[u8], prime: &str, model: &Path) {
    let off = u32_at(bytes, 36) as usize;
    let len = u32_at(bytes, 40) as usize;
    let vocab = bytes
        .get(off..off + len)
        .and_then(|v| std::str::from_utf8(v).ok())
        .unwrap_or_else(|| panic!("{}: unreadable vocabulary", model.display()));
    if let Some(c) = prime.chars().find(|&c| !vocab.contains(c)) {
        panic!(
            "MYNAH_PRIME={prime:?}: {c:?} is not in the vocabulary of {}",
            model.display()
        );
    }
}

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let root = manifest.join("../..");
    let model = var("MYNAH_MODEL").unwrap_or_else(|| DEFAULT_MODEL.to_string());
    let model = Path::new(&model);
    let model = if model.is_absolute() {
        model.to_path_buf()
    } else {
        root.join(model)
    };
    let model = model
        .canonicalize()
        .unwrap_or_else(|e| panic!("MYNAH_MODEL {}: {e}", model.display()));
    println!("cargo:rerun-if-changed={}", model.display());
    let bytes = fs::read(&model).unwrap_or_else(|e| panic!("{}: {e}", model.display()));
    assert!(
        bytes.len() >= 64 && &bytes[..8] == b"MYNAHGRU",
        "{} is not a mynah model",
        model.display()
    );
    // Full validation happens at boot (Model::parse + IntModel::new); these fields size
    // the const-generic capacities.
    let vocab = u32_at(&bytes, 20);
    let hidden = u32_at(&bytes, 28);
    let layers = u32_at(&bytes, 32);

    let seed: u64 = var("MYNAH_SEED")
        .map(|s| s.parse().expect("MYNAH_SEED must be an unsigned integer"))
        .unwrap_or(1);
    let temperature = temperature_milli(&var("MYNAH_TEMPERATURE").unwrap_or("0.5".into()));
    // An empty prime is a valid choice (sampling right after <BOS>): only unset means default.
    println!("cargo:rerun-if-env-changed=MYNAH_PRIME");
    let prime = env::var("MYNAH_PRIME").unwrap_or_else(|_| "ROMEO:".into());
    let max_len: u32 = var("MYNAH_MAX_LEN")
        .map(|s| {
            s.parse()
                .expect("MYNAH_MAX_LEN must be an unsigned integer")
        })
        .unwrap_or(300);
    let count: u32 = var("MYNAH_COUNT")
        .map(|s| s.parse().expect("MYNAH_COUNT must be an unsigned integer"))
        .unwrap_or(1);
    let top_k: u32 = var("MYNAH_TOP_K")
        .map(|s| s.parse().expect("MYNAH_TOP_K must be an unsigned integer"))
        .unwrap_or(0);
    check_prime(&bytes, &prime, &model);

    let mut out = String::new();
    let w = &mut out;
    writeln!(
        w,
        "/// Hidden width of the embedded model (exact-fit capacity `H`)."
    )
    .unwrap();
    writeln!(w, "pub const HIDDEN: usize = {hidden};").unwrap();
    writeln!(
        w,
        "/// Vocabulary size of the embedded model (capacity `V`)."
    )
    .unwrap();
    writeln!(w, "pub const VOCAB: usize = {vocab};").unwrap();
    writeln!(w, "/// Layers of the embedded model (capacity `L`).").unwrap();
    writeln!(w, "pub const LAYERS: usize = {layers};").unwrap();
    writeln!(w, "/// Bytes of the embedded model file.").unwrap();
    writeln!(w, "pub const MODEL_BYTES: usize = {};", bytes.len()).unwrap();
    writeln!(w, "/// PCG32 seed.").unwrap();
    writeln!(w, "pub const SEED: u64 = {seed};").unwrap();
    writeln!(w, "/// Sampling temperature in thousandths (0 = greedy).").unwrap();
    writeln!(w, "pub const TEMPERATURE_MILLI: u32 = {temperature};").unwrap();
    writeln!(w, "/// Text fed before sampling (and printed first).").unwrap();
    writeln!(w, "pub const PRIME: &str = {prime:?};").unwrap();
    writeln!(w, "/// Characters to sample per sample.").unwrap();
    writeln!(w, "pub const MAX_LEN: u32 = {max_len};").unwrap();
    writeln!(w, "/// Number of samples.").unwrap();
    writeln!(w, "pub const COUNT: u32 = {count};").unwrap();
    writeln!(
        w,
        "/// Sample among the K most likely tokens only (0: all)."
    )
    .unwrap();
    writeln!(w, "pub const TOP_K: u32 = {top_k};").unwrap();
    writeln!(w, "/// Path of the embedded model at build time.").unwrap();
    writeln!(
        w,
        "pub const MODEL_PATH: &str = {:?};",
        model.display().to_string()
    )
    .unwrap();
    let dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets it"));
    fs::write(dir.join("config.rs"), out).expect("write config.rs");
    // `include_bytes!` needs a literal: hand the path over as an environment variable.
    println!("cargo:rustc-env=MYNAH_MODEL_FILE={}", model.display());
}
