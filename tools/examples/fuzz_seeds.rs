//! Writes the fuzz seed corpus: small, real model files made by the writer (FLOAT) and the
//! int8 quantizer (INT8), so that the fuzzers start from inputs that reach every check.
//!
//! The files are checked in under `fuzz/seeds/`; the output is deterministic, so rerunning
//! this after a format or quantizer change shows up as a diff:
//!
//! ```text
//! cargo run -p mynah-tools --example fuzz_seeds -- fuzz/seeds
//! ```
//!
//! `fuzz/seeds/parse/` gets every file, `fuzz/seeds/runtime/` the INT8 ones. Each model is
//! a few KB: the fuzzers mutate whole files, and small inputs mean many executions.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use mynah_format::half::f16;
use mynah_format::{layout, tensor_name, AlignedBytes, Hyper, ModelWriter, WeightsKind, BOS};
use mynah_tools::quantize::{quantize, QuantizeOptions};

/// One seed model.
struct Seed {
    /// File stem; the INT8 file is `int8-<stem>.mynah`, the FLOAT one `float-<stem>.mynah`.
    stem: &'static str,
    chars: &'static str,
    embed: u32,
    hidden: u32,
    layers: u32,
    records: bool,
    /// Store the float weights as f16 instead of f32.
    f16: bool,
}

const SEEDS: &[Seed] = &[
    Seed {
        stem: "1x8",
        chars: " aehlot",
        embed: 4,
        hidden: 8,
        layers: 1,
        records: false,
        f16: false,
    },
    // Non-ASCII characters take the vocabulary's slow path; records allow <EOS>.
    Seed {
        stem: "2x4-records",
        chars: "abcé→",
        embed: 3,
        hidden: 4,
        layers: 2,
        records: true,
        f16: true,
    },
    // The most layers the format allows.
    Seed {
        stem: "4x2",
        chars: "01",
        embed: 2,
        hidden: 2,
        layers: 4,
        records: false,
        f16: false,
    },
];

/// A tiny deterministic generator (xorshift32) for the weights.
struct XorShift(u32);

impl XorShift {
    /// Uniform in `[-bound, bound)`.
    fn uniform(&mut self, bound: f32) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        (self.0 as f32 / u32::MAX as f32 * 2.0 - 1.0) * bound
    }
}

fn float_file(s: &Seed) -> Result<Vec<u8>> {
    let chars: Vec<char> = s.chars.chars().collect();
    let hyper = Hyper {
        vocab_size: chars.len() as u32 + 3,
        embed_dim: s.embed,
        hidden_dim: s.hidden,
        num_layers: s.layers,
        records: s.records,
        weights: WeightsKind::Float,
        arch: mynah_format::Arch::GRU,
        specials: mynah_format::Specials::DEFAULT,
    };
    let mut w = ModelWriter::new(hyper, &chars)?;
    let mut rng = XorShift(0x9E37_79B9 ^ s.hidden ^ (s.layers << 8));
    // PyTorch's GRU init scale, larger for the embedding so the gates see real inputs.
    let bound = 1.0 / (s.hidden as f32).sqrt();
    for spec in layout::FLOAT_TENSORS {
        let layers = if spec.per_layer { s.layers } else { 1 };
        for k in 0..layers {
            let shape = hyper.shape_of(spec, k);
            let n: u32 = shape.dims().iter().product();
            let scale = if spec.name == "embed.weight" {
                1.0
            } else {
                bound
            };
            let data: Vec<f32> = (0..n).map(|_| rng.uniform(scale)).collect();
            let name = tensor_name(spec, k);
            if s.f16 {
                let data: Vec<f16> = data.iter().map(|&x| f16::from_f32(x)).collect();
                w.add_f16(&name, shape.dims(), &data)?;
            } else {
                w.add_f32(&name, shape.dims(), &data)?;
            }
        }
    }
    Ok(w.to_bytes()?)
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
    for s in SEEDS {
        let float = float_file(s)?;
        write(parse.join(format!("float-{}.mynah", s.stem)), &float)?;
        // Calibration: every token once after <BOS>, so bias correction runs too.
        let vocab = s.chars.chars().count() as u32 + 3;
        let calib = vec![std::iter::once(BOS).chain(3..vocab).collect::<Vec<_>>()];
        let aligned = AlignedBytes::copy_from(&float);
        let model = aligned.model()?;
        let int8 = quantize(&model, &calib, &QuantizeOptions::default())
            .with_context(|| format!("quantizing {}", s.stem))?;
        let name = format!("int8-{}.mynah", s.stem);
        write(parse.join(&name), &int8)?;
        write(runtime.join(&name), &int8)?;
    }
    Ok(())
}
