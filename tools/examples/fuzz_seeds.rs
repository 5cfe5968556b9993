//! Writes the fuzz seed corpus: small, real model files of every architecture (GRU, LSTM,
//! tanh RNN, n-gram MLP) and several special-token layouts, FLOAT (seeded weights from
//! `mynah_quant::synthetic`, f32 or f16) and INT8 (the quantizer, with calibration), so
//! that the fuzzers start from inputs that reach every check.
//!
//! The files are checked in under `fuzz/seeds/`; the output is deterministic, so rerunning
//! this after a format or quantizer change shows up as a diff:
//!
//! ```text
//! cargo run -p mynah-tools --example fuzz_seeds -- fuzz/seeds
//! ```
//!
//! `fuzz/seeds/parse/` gets every file, `fuzz/seeds/runtime/` the INT8 ones. Each model is
//! a few KB: the fuzzers mutate whole files, and small inputs mean many executions. The
//! seeds without an architecture in their name (`*-1x8`, `*-2x4-records`, `*-4x2`) are
//! format version-1 GRUs written by this program before version 2; it leaves them as they
//! are (see `fuzz/seeds/README.md`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use mynah_format::{Activation, AlignedBytes, Arch, Cell, Specials};
use mynah_quant::quantize::{quantize, QuantizeOptions};
use mynah_quant::synthetic::{synthetic_model, SyntheticSpec};

/// One seed model.
struct Seed {
    /// File stem; the INT8 file is `int8-<stem>.mynah`, the FLOAT one `float-<stem>.mynah`.
    stem: &'static str,
    arch: Arch,
    /// The header's special-token bit field (1 `<PAD>`, 2 `<BOS>`, 4 `<EOS>`, 8 `<UNK>`).
    specials: u32,
    chars: &'static str,
    embed: usize,
    hidden: usize,
    layers: usize,
    records: bool,
    /// Store the float weights as f16 instead of f32.
    f16: bool,
}

const LSTM: Arch = Arch::Recurrent(Cell::Lstm);
const RNN: Arch = Arch::Recurrent(Cell::Rnn);

const SEEDS: &[Seed] = &[
    // <UNK> too: characters from id 4.
    Seed {
        stem: "gru-2x4-unk",
        arch: Arch::GRU,
        specials: 15,
        chars: " aehlot",
        embed: 3,
        hidden: 4,
        layers: 2,
        records: false,
        f16: false,
    },
    Seed {
        stem: "lstm-1x8",
        arch: LSTM,
        specials: 7,
        chars: " aehlot",
        embed: 4,
        hidden: 8,
        layers: 1,
        records: false,
        f16: false,
    },
    // Non-ASCII characters take the vocabulary's slow path; records allow <EOS>.
    Seed {
        stem: "lstm-2x4-records",
        arch: LSTM,
        specials: 7,
        chars: "abcé→",
        embed: 3,
        hidden: 4,
        layers: 2,
        records: true,
        f16: true,
    },
    // No special token at all: no <BOS>, so sampling starts from a prime.
    Seed {
        stem: "rnn-1x8-nospecials",
        arch: RNN,
        specials: 0,
        chars: " aehlot",
        embed: 4,
        hidden: 8,
        layers: 1,
        records: false,
        f16: false,
    },
    // The most layers the format allows.
    Seed {
        stem: "rnn-4x2",
        arch: RNN,
        specials: 7,
        chars: "01",
        embed: 2,
        hidden: 2,
        layers: 4,
        records: false,
        f16: true,
    },
    Seed {
        stem: "ngram-c3x8",
        arch: Arch::Ngram {
            context: 3,
            activation: Activation::Relu,
        },
        specials: 7,
        chars: " aehlot",
        embed: 4,
        hidden: 8,
        layers: 1,
        records: false,
        f16: false,
    },
    // <BOS> and <EOS> only (ids 0 and 1); the runtime target's longest context (8).
    Seed {
        stem: "ngram-c8x4-tanh-records",
        arch: Arch::Ngram {
            context: 8,
            activation: Activation::Tanh,
        },
        specials: 6,
        chars: "abcé→",
        embed: 2,
        hidden: 4,
        layers: 1,
        records: true,
        f16: true,
    },
];

fn float_file(s: &Seed, seed: u64) -> Result<Vec<u8>> {
    let spec = SyntheticSpec {
        arch: s.arch,
        specials: Specials::from_bits(s.specials).context("specials")?,
        chars: s.chars.chars().collect(),
        embed: s.embed,
        hidden: s.hidden,
        layers: s.layers,
        records: s.records,
        seed,
        gain: 1.5,
        proj_gain: 3.0,
    };
    Ok(synthetic_model(&spec).to_file(s.f16)?)
}

fn write(path: PathBuf, bytes: &[u8]) -> Result<()> {
    std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    println!("{:>6} bytes  {}", bytes.len(), path.display());
    Ok(())
}

fn main() -> Result<()> {
    let out = std::env::args()
        .nth(1)
        .context("usage: fuzz_seeds <DIR> (normally fuzz/seeds)")?;
    let out = Path::new(&out);
    let (parse, runtime) = (out.join("parse"), out.join("runtime"));
    std::fs::create_dir_all(&parse)?;
    std::fs::create_dir_all(&runtime)?;
    for (i, s) in SEEDS.iter().enumerate() {
        let float = float_file(s, 0x5eed + i as u64)?;
        write(parse.join(format!("float-{}.mynah", s.stem)), &float)?;
        let aligned = AlignedBytes::copy_from(&float);
        let model = aligned.model()?;
        // Calibration: <BOS> (if any), then every character once, so bias correction
        // runs too.
        let vocab = model.vocab();
        let calib = vec![vocab
            .bos()
            .into_iter()
            .chain(vocab.first_char_id()..vocab.len() as u32)
            .collect::<Vec<_>>()];
        let int8 = quantize(&model, &calib, &QuantizeOptions::default())
            .with_context(|| format!("quantizing {}", s.stem))?;
        let name = format!("int8-{}.mynah", s.stem);
        write(parse.join(&name), &int8)?;
        write(runtime.join(&name), &int8)?;
    }
    Ok(())
}
