//! `mynah-synth OUT [--hidden H] [--layers L] [--seed S]`: writes a synthetic INT8 model.
//!
//! The weights are seeded pseudo-random numbers with the scales a trained model has, so
//! sampling produces varied text and every kernel is exercised. It stands in for a trained
//! model wherever only bit-exactness matters (device vs host), and it is small enough to be
//! checked in. The vocabulary is tiny shakespeare's 65 characters.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use mynah_format::{Hyper, ModelWriter, WeightsKind};
use mynah_runtime::names;

/// The 65 characters of tiny shakespeare, sorted.
const CHARS: &str = "\n !$&',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// SplitMix64: a tiny, well-mixed generator so the file depends only on the seed.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[-1, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }

    /// Uniform integer in `[-m, m]`.
    fn int(&mut self, m: i64) -> i64 {
        (self.next() % (2 * m as u64 + 1)) as i64 - m
    }
}

/// `factor` as `(mult, shift)` with `mult` in `[2^30, 2^31)`: `factor ≈ mult · 2^-shift`.
fn mult_shift(factor: f64) -> (i32, i8) {
    let mut shift = 0i32;
    let mut m = factor;
    while m < (1u64 << 30) as f64 && shift < 62 {
        m *= 2.0;
        shift += 1;
    }
    (m.round().min(i32::MAX as f64) as i32, shift as i8)
}

/// Writes the four tensors of one `[rows, cols]` int8 product whose float weights are
/// uniform in `±limit` (Q15 inputs, Q16 outputs), with a Q16 bias uniform in `±bias`.
fn dense(
    w: &mut ModelWriter,
    rng: &mut SplitMix,
    n: names::DenseNames,
    (rows, cols): (u32, u32),
    limit: f64,
    bias: f64,
) -> Result<(), String> {
    let weights: Vec<i8> = (0..rows * cols).map(|_| rng.int(127) as i8).collect();
    let mut mult = Vec::new();
    let mut shift = Vec::new();
    for _ in 0..rows {
        // Per-row scale: float weight = q · scale; Q15 in and Q16 out make the factor 2·scale.
        let scale = limit * (1.0 + 0.25 * rng.unit()) / 127.0;
        let (m, s) = mult_shift(2.0 * scale);
        mult.push(m);
        shift.push(s);
    }
    let b: Vec<i32> = (0..rows)
        .map(|_| (bias * rng.unit() * 65536.0).round() as i32)
        .collect();
    let e = |e: mynah_format::FormatError| e.to_string();
    w.add_i8(n.weight.as_str(), &[rows, cols], &weights, 0)
        .map_err(e)?;
    w.add_i32(n.mult.as_str(), &[rows], &mult, 0).map_err(e)?;
    w.add_i8(n.shift.as_str(), &[rows], &shift, 0).map_err(e)?;
    w.add_i32(n.bias.as_str(), &[rows], &b, 16).map_err(e)?;
    Ok(())
}

fn build(hidden: u32, layers: u32, seed: u64) -> Result<ModelWriter, String> {
    let chars: Vec<char> = CHARS.chars().collect();
    let vocab = chars.len() as u32 + 3;
    let hyper = Hyper {
        vocab_size: vocab,
        embed_dim: 16,
        hidden_dim: hidden,
        num_layers: layers,
        records: false,
        weights: WeightsKind::Int8,
    };
    let mut w = ModelWriter::new(hyper, &chars).map_err(|e| e.to_string())?;
    let mut rng = SplitMix(seed);
    let g = 3 * hidden;
    // Token table in Q12: gate inputs within ±1.
    let table: Vec<i16> = (0..vocab * g)
        .map(|_| (rng.unit() * 4096.0).round() as i16)
        .collect();
    w.add_i16(names::INPUT_TABLE, &[vocab, g], &table, 12)
        .map_err(|e| e.to_string())?;
    let limit = 4.0 / f64::from(hidden).sqrt();
    for k in 0..layers {
        if k > 0 {
            dense(&mut w, &mut rng, names::ih(k), (g, hidden), limit, 0.2)?;
        }
        dense(&mut w, &mut rng, names::hh(k), (g, hidden), limit, 0.2)?;
    }
    // A sharper projection, so the distributions are peaked like a trained model's.
    dense(&mut w, &mut rng, names::proj(), (vocab, hidden), 0.4, 0.1)?;
    Ok(w)
}

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let mut out: Option<PathBuf> = None;
    let (mut hidden, mut layers, mut seed) = (64u32, 1u32, 1u64);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--hidden" => {
                hidden = value("--hidden")?
                    .parse()
                    .map_err(|e| format!("--hidden: {e}"))?
            }
            "--layers" => {
                layers = value("--layers")?
                    .parse()
                    .map_err(|e| format!("--layers: {e}"))?
            }
            "--seed" => {
                seed = value("--seed")?
                    .parse()
                    .map_err(|e| format!("--seed: {e}"))?
            }
            _ if a.starts_with('-') => return Err(format!("unknown option {a}")),
            _ => out = Some(PathBuf::from(a)),
        }
    }
    let out = out.ok_or("usage: mynah-synth OUT [--hidden H] [--layers L] [--seed S]")?;
    let w = build(hidden, layers, seed)?;
    w.write_atomic(&out)
        .map_err(|e| format!("{}: {e}", out.display()))?;
    // Prove the runtime accepts it (capacities generous enough for any synth model).
    let bytes = mynah_format::read_aligned(&out).map_err(|e| e.to_string())?;
    let model = mynah_format::Model::parse(&bytes).map_err(|e| e.to_string())?;
    mynah_runtime::IntModel::<512, 128, 4>::new(&model).map_err(|e| e.to_string())?;
    println!(
        "{}: {} bytes, {hidden}x{layers}, seed {seed}",
        out.display(),
        bytes.len()
    );
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
