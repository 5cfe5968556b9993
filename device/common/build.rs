//! Chooses the embedded model and the sampling settings at build time.
//!
//! Environment (all optional):
//! - `MYNAH_MODEL`: the INT8 or INT4 model file (default:
//!   `device/models/synthetic-1x128.int8.mynah`);
//!   a relative path is taken from the repository root.
//! - `MYNAH_SEED` (default 1), `MYNAH_TEMPERATURE` (default 0.5), `MYNAH_PRIME` (default
//!   `ROMEO:`), `MYNAH_MAX_LEN` (characters per sample, default 300), `MYNAH_COUNT`
//!   (samples, default 1), `MYNAH_TOP_K` (default 0, all): `mynah sample`'s options, with
//!   the defaults of `make demo`'s first `mynah sample`.
//!
//! It reads the model header (format version 1, 2 or 3, `format/SPEC.md`) for the
//! architecture, the special tokens and the sizes, and generates the runtime type of
//! exactly that model (`IntModel<'static, Cell, H, V, L>` with the model's cell, or
//! `NgramModel<'static, H, V, N>`), with capacities equal to the model's hidden width,
//! vocabulary, layers and context: the firmware links only that architecture's code, and
//! its RAM is what this model needs and no more.
//!
//! It refuses at build time what would only fail on the device, where nobody reads a long
//! error message: a file that is not a quantized (INT8 or INT4) mynah model, a factored
//! model whose embedding is wider than its hidden layer (the exact-fit scratch holds
//! neither), a prime with a character outside the vocabulary, and an empty prime for a
//! model without `<BOS>` (which starts from text).

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
    let b = bytes
        .get(off..off + 4)
        .expect("offset inside the checked header");
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// What the build needs from the header (`format/SPEC.md`, "Header"; every field the
/// boot-time `Model::parse` validates again, with the CRC).
struct Header {
    version: u16,
    /// The runtime type, e.g. `mynah_runtime::IntModel<'static, mynah_runtime::Gru, HIDDEN,
    /// VOCAB, LAYERS>`.
    model_type: &'static str,
    /// `mynah_format::Arch` as a constant expression.
    arch_expr: String,
    /// `gru`, `lstm`, `rnn` or `ngram` (`Arch::name`).
    arch_name: &'static str,
    vocab: u32,
    hidden: u32,
    layers: u32,
    /// The width of layer 0's input vector: `embed_dim` for a factored model, else 0
    /// (`runtime::Footprint::of`'s `input`).
    input: u32,
    /// `INT8` or `INT4`.
    weights: &'static str,
    /// The file's form, `mynah_runtime::forms` as a constant expression: the runtime type
    /// runs only it, so the firmware links no other weights' kernels or input path.
    form: String,
    /// The n-gram context (0 for a recurrent model).
    context: u32,
    /// The `specials` bit field (7 for every version-1 file).
    specials: u32,
}

/// `specials` bit of `<BOS>`.
const SPECIAL_BOS: u32 = 2;

fn read_header(bytes: &[u8], model: &Path) -> Header {
    let name = model.display();
    assert!(
        bytes.len() >= 64 && &bytes[..8] == b"MYNAHGRU",
        "{name} is not a mynah model"
    );
    let version = u16::from_le_bytes([bytes[8], bytes[9]]);
    // Version 1: a GRU with <PAD>, <BOS>, <EOS>; versions 2 and 3 record arch and specials.
    let (arch, specials, context, activation) = match version {
        1 => (0, 7, 0, 0),
        2 | 3 => {
            assert!(
                bytes.len() >= 128,
                "{name}: truncated version-{version} header"
            );
            (
                u32_at(bytes, 64),
                u32_at(bytes, 68),
                u32_at(bytes, 72),
                u32_at(bytes, 76),
            )
        }
        v => panic!("{name}: format version {v} is unknown to this build"),
    };
    let weights = match u32_at(bytes, 16) {
        1 => "INT8",
        2 => "INT4",
        _ => panic!(
            "{name} is not an INT8 or INT4 model: the device runs the integer runtime \
             (`mynah quantize` or `mynah-train export --dtype int8|int4` make one)"
        ),
    };
    // Flag bit 1, FACTORED (version 3): layer 0's input is the embedding row.
    let factored = u32_at(bytes, 12) & 2 != 0;
    let (embed, hidden) = (u32_at(bytes, 24), u32_at(bytes, 28));
    assert!(
        !factored || embed <= hidden,
        "{name}: a factored model whose embed_dim ({embed}) is wider than its hidden layer \
         ({hidden}) does not fit the device's exact-fit scratch; export it with the token table"
    );
    let recurrent =
        |cell: &str| format!("mynah_format::Arch::Recurrent(mynah_format::Cell::{cell})");
    let (model_type, arch_expr, arch_name) = match arch {
        0 => (
            "mynah_runtime::IntModel<'static, mynah_runtime::Gru, HIDDEN, VOCAB, LAYERS, FORM>",
            recurrent("Gru"),
            "gru",
        ),
        1 => (
            "mynah_runtime::IntModel<'static, mynah_runtime::Lstm, HIDDEN, VOCAB, LAYERS, FORM>",
            recurrent("Lstm"),
            "lstm",
        ),
        2 => (
            "mynah_runtime::IntModel<'static, mynah_runtime::Rnn, HIDDEN, VOCAB, LAYERS, FORM>",
            recurrent("Rnn"),
            "rnn",
        ),
        3 => {
            let activation = match activation {
                1 => "Relu",
                2 => "Tanh",
                a => panic!("{name}: unknown n-gram activation {a}"),
            };
            (
                "mynah_runtime::NgramModel<'static, HIDDEN, VOCAB, CONTEXT, FORM>",
                format!(
                    "mynah_format::Arch::Ngram {{ context: CONTEXT as u32, activation: \
                     mynah_format::Activation::{activation} }}"
                ),
                "ngram",
            )
        }
        a => panic!("{name}: unknown architecture code {a}"),
    };
    Header {
        version,
        model_type,
        arch_expr,
        arch_name,
        vocab: u32_at(bytes, 20),
        hidden,
        layers: u32_at(bytes, 32),
        input: if factored { embed } else { 0 },
        weights,
        form: format!(
            "mynah_runtime::forms::{} | mynah_runtime::forms::{}",
            weights,
            if factored { "FACTORED" } else { "TABLE" }
        ),
        context,
        specials,
    }
}

/// The temperature in thousandths, rounded exactly as `mynah sample --temperature` does
/// (`mynah_quant::sampling::parse_temperature`: f64, `round(t * 1000)`), so both sides
/// sample alike.
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

/// The token ids of the prime's characters (`format/SPEC.md`, "Token ids": the special
/// tokens take the first ids, the characters follow in the vocabulary's order), so the
/// device feeds them without looking characters up. Refuses, at build time, a character
/// outside the model's vocabulary: on the device there is nobody to read a long error
/// message. (The vocabulary is validated at boot, with the rest of the file.)
fn prime_ids(bytes: &[u8], h: &Header, prime: &str, model: &Path) -> Vec<u32> {
    let off = u32_at(bytes, 36) as usize;
    let len = u32_at(bytes, 40) as usize;
    let vocab: Vec<char> = bytes
        .get(off..off + len)
        .and_then(|v| std::str::from_utf8(v).ok())
        .unwrap_or_else(|| panic!("{}: unreadable vocabulary", model.display()))
        .chars()
        .collect();
    prime
        .chars()
        .map(|c| match vocab.iter().position(|&v| v == c) {
            Some(i) => h.specials.count_ones() + i as u32,
            None => panic!(
                "MYNAH_PRIME={prime:?}: {c:?} is not in the vocabulary of {}",
                model.display()
            ),
        })
        .collect()
}

/// Refuses an empty prime for a model without `<BOS>`: it has no logits to sample the
/// first character from until it has read some text (`mynah sample` refuses it too).
fn check_start(h: &Header, prime: &str, model: &Path) {
    assert!(
        h.specials & SPECIAL_BOS != 0 || !prime.is_empty(),
        "MYNAH_PRIME is empty, but {} has no <BOS> token, so it starts from text: set \
         MYNAH_PRIME to at least one character (as `mynah sample --prime` needs)",
        model.display()
    );
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
    // Full validation happens at boot (Model::parse + Model::new); these fields choose
    // the runtime type and size its const-generic capacities.
    let h = read_header(&bytes, &model);

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
    let ids = prime_ids(&bytes, &h, &prime, &model);
    check_start(&h, &prime, &model);

    let mut out = String::new();
    let w = &mut out;
    writeln!(
        w,
        "/// Hidden width of the embedded model (exact-fit capacity `H`)."
    )
    .unwrap();
    writeln!(w, "pub const HIDDEN: usize = {};", h.hidden).unwrap();
    writeln!(
        w,
        "/// Vocabulary size of the embedded model (capacity `V`)."
    )
    .unwrap();
    writeln!(w, "pub const VOCAB: usize = {};", h.vocab).unwrap();
    writeln!(
        w,
        "/// Layers of the embedded model (capacity `L`; 1 for the n-gram MLP)."
    )
    .unwrap();
    writeln!(w, "pub const LAYERS: usize = {};", h.layers).unwrap();
    writeln!(
        w,
        "/// Context of the embedded n-gram MLP (capacity `N`; 0 for a recurrent model)."
    )
    .unwrap();
    writeln!(w, "pub const CONTEXT: usize = {};", h.context).unwrap();
    writeln!(
        w,
        "/// Width of layer 0's input vector: the embedding of a factored model, else 0."
    )
    .unwrap();
    writeln!(w, "pub const INPUT: usize = {};", h.input).unwrap();
    writeln!(
        w,
        "/// The embedded model's form (weights, input layer): all the runtime type runs."
    )
    .unwrap();
    writeln!(w, "pub const FORM: u8 = {};", h.form).unwrap();
    writeln!(
        w,
        "/// `INT8` or `INT4`: the weights of the embedded model."
    )
    .unwrap();
    writeln!(w, "pub const WEIGHTS: &str = {:?};", h.weights).unwrap();
    writeln!(w, "/// Architecture of the embedded model.").unwrap();
    writeln!(w, "pub const ARCH: mynah_format::Arch = {};", h.arch_expr).unwrap();
    writeln!(
        w,
        "/// `gru`, `lstm`, `rnn` or `ngram`: the architecture's name (`Arch::name`)."
    )
    .unwrap();
    writeln!(w, "pub const ARCH_NAME: &str = {:?};", h.arch_name).unwrap();
    writeln!(w, "/// Format version of the embedded file (1, 2 or 3).").unwrap();
    writeln!(w, "pub const FORMAT_VERSION: u16 = {};", h.version).unwrap();
    writeln!(
        w,
        "/// The runtime type of the embedded model, capacities exactly its sizes: only its \
         architecture's code is linked."
    )
    .unwrap();
    writeln!(w, "pub type Model = {};", h.model_type).unwrap();
    writeln!(w, "/// Bytes of the embedded model file.").unwrap();
    writeln!(w, "pub const MODEL_BYTES: usize = {};", bytes.len()).unwrap();
    writeln!(w, "/// PCG32 seed.").unwrap();
    writeln!(w, "pub const SEED: u64 = {seed};").unwrap();
    writeln!(w, "/// Sampling temperature in thousandths (0 = greedy).").unwrap();
    writeln!(w, "pub const TEMPERATURE_MILLI: u32 = {temperature};").unwrap();
    writeln!(w, "/// Text fed before sampling (and printed first).").unwrap();
    writeln!(w, "pub const PRIME: &str = {prime:?};").unwrap();
    writeln!(
        w,
        "/// The prime's token ids (from the vocabulary at build time)."
    )
    .unwrap();
    writeln!(w, "pub const PRIME_IDS: &[u16] = &{ids:?};").unwrap();
    writeln!(w, "/// The prime's last character.").unwrap();
    writeln!(
        w,
        "pub const PRIME_LAST: Option<char> = {:?};",
        prime.chars().last()
    )
    .unwrap();
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
