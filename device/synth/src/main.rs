//! `mynah-synth OUT [--arch A] [--hidden H] [--layers L] [--context C] [--activation F]
//! [--specials BITS] [--seed S] [--gain G] [--proj-gain P] [--dtype int8|int4]
//! [--factored] [--legacy-v1]`: writes a synthetic INT8 (or INT4) model.
//!
//! It stands in for a trained model wherever only bit-exactness matters (device vs host),
//! and it is small enough to be checked in. The vocabulary is tiny shakespeare's 65
//! characters after the special tokens `BITS` (the header's bit field: 1 `<PAD>`, 2
//! `<BOS>`, 4 `<EOS>`, 8 `<UNK>`; default 7).
//!
//! Every architecture (`--arch gru|lstm|rnn|ngram`) goes through `mynah-quant`: a float
//! model with seeded pseudo-random weights (`synthetic::synthetic_model`), quantized by the
//! exporter's own quantizer without calibration, so the bytes depend only on the options.
//! The n-gram MLP takes `--context` and `--activation relu|tanh`. `--dtype int4` writes `i4`
//! weights, `--factored` (recurrent models) the factored input layer: both format
//! version 3.
//!
//! `--legacy-v1` is the generator that made the two checked-in GRU models
//! (`synthetic-1x128`, `synthetic-2x48`): int8 weights drawn directly with a trained
//! model's scales, written as a format version-1 file (which keeps version 1 covered on
//! the devices). GRU only, specials 7.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use mynah_format::layout::{self, header};
use mynah_format::{Activation, Arch, Cell, Hyper, ModelWriter, Specials, WeightsKind};
use mynah_quant::quantize::{quantize_model, QuantDtype, QuantizeOptions};
use mynah_quant::synthetic::{synthetic_model, SyntheticSpec};
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

/// The `--legacy-v1` generator: a GRU whose int8 weights are drawn directly.
fn legacy_gru(hidden: u32, layers: u32, seed: u64) -> Result<Vec<u8>, String> {
    let chars: Vec<char> = CHARS.chars().collect();
    let vocab = chars.len() as u32 + 3;
    let hyper = Hyper {
        vocab_size: vocab,
        embed_dim: 16,
        hidden_dim: hidden,
        num_layers: layers,
        records: false,
        weights: WeightsKind::Int8,
        arch: Arch::GRU,
        specials: Specials::DEFAULT,
        factored: false,
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
    let v2 = w.to_bytes().map_err(|e| e.to_string())?;
    to_v1(&v2)
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

fn put_u32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

/// The same model as a format version-1 file (`format/SPEC.md`, "Versioning"): the first
/// 64 header bytes, then everything after the version-2 header moved 64 bytes down (the
/// directory stays 64-aligned, and tensor offsets count from the data section), the
/// offsets and the size adjusted, a new CRC. Only a GRU with `<PAD>`, `<BOS>`, `<EOS>`
/// has a version-1 form.
fn to_v1(v2: &[u8]) -> Result<Vec<u8>, String> {
    let (h1, h2) = (layout::HEADER_SIZE_V1, layout::HEADER_SIZE);
    let d = (h2 - h1) as u32;
    if u32_at(v2, header::ARCH) != Arch::GRU.code()
        || u32_at(v2, header::SPECIALS) != Specials::DEFAULT.bits()
    {
        return Err("only a GRU with <PAD>, <BOS>, <EOS> can be a version-1 file".into());
    }
    let mut v1 = v2[..h1].to_vec();
    v1.extend_from_slice(&v2[h2..v2.len() - layout::CRC_SIZE]);
    v1[header::VERSION..header::VERSION + 2].copy_from_slice(&1u16.to_le_bytes());
    v1[header::HEADER_SIZE..header::HEADER_SIZE + 2].copy_from_slice(&(h1 as u16).to_le_bytes());
    for field in [
        header::VOCAB_OFFSET,
        header::DIR_OFFSET,
        header::DATA_OFFSET,
        header::FILE_SIZE,
    ] {
        let v = u32_at(&v1, field);
        put_u32(&mut v1, field, v - d);
    }
    let crc = mynah_format::crc32(&v1);
    v1.extend_from_slice(&crc.to_le_bytes());
    Ok(v1)
}

/// What to make.
struct Options {
    arch: Arch,
    hidden: u32,
    layers: u32,
    specials: Specials,
    seed: u64,
    gain: f32,
    proj_gain: f32,
    dtype: QuantDtype,
    factored: bool,
    legacy_v1: bool,
}

/// A model of any architecture through `mynah-quant`: seeded float weights, quantized
/// without calibration.
fn quantized(o: &Options) -> Result<Vec<u8>, String> {
    let spec = SyntheticSpec {
        arch: o.arch,
        specials: o.specials,
        chars: CHARS.chars().collect(),
        embed: 16,
        hidden: o.hidden as usize,
        layers: o.layers as usize,
        records: false,
        seed: o.seed,
        gain: o.gain,
        proj_gain: o.proj_gain,
    };
    let float = synthetic_model(&spec);
    quantize_model(
        &float,
        &[],
        &QuantizeOptions {
            bias_correction: false,
            dtype: o.dtype,
            factored: o.factored,
            ..QuantizeOptions::default()
        },
    )
    .map_err(|e| e.to_string())
}

fn parse<T: std::str::FromStr>(name: &str, v: Option<String>) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    v.ok_or(format!("{name} needs a value"))?
        .parse()
        .map_err(|e| format!("{name}: {e}"))
}

const USAGE: &str = "usage: mynah-synth OUT [--arch gru|lstm|rnn|ngram] [--hidden H] \
    [--layers L] [--context C] [--activation relu|tanh] [--specials BITS] [--seed S] \
    [--gain G] [--proj-gain P] [--dtype int8|int4] [--factored] [--legacy-v1]";

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let mut out: Option<PathBuf> = None;
    let mut arch_name = String::from("gru");
    let (mut context, mut activation) = (4u32, Activation::Relu);
    let mut o = Options {
        arch: Arch::GRU,
        hidden: 64,
        layers: 1,
        specials: Specials::DEFAULT,
        seed: 1,
        gain: 2.0,
        proj_gain: 6.0,
        dtype: QuantDtype::Int8,
        factored: false,
        legacy_v1: false,
    };
    while let Some(a) = args.next() {
        match a.as_str() {
            "--arch" => arch_name = parse("--arch", args.next())?,
            "--hidden" => o.hidden = parse("--hidden", args.next())?,
            "--layers" => o.layers = parse("--layers", args.next())?,
            "--context" => context = parse("--context", args.next())?,
            "--activation" => {
                activation = match parse::<String>("--activation", args.next())?.as_str() {
                    "relu" => Activation::Relu,
                    "tanh" => Activation::Tanh,
                    other => return Err(format!("--activation: relu or tanh, not {other:?}")),
                }
            }
            "--specials" => {
                let bits = parse("--specials", args.next())?;
                o.specials = Specials::from_bits(bits)
                    .ok_or(format!("--specials: {bits} has an unknown bit (1|2|4|8)"))?;
            }
            "--seed" => o.seed = parse("--seed", args.next())?,
            "--gain" => o.gain = parse("--gain", args.next())?,
            "--proj-gain" => o.proj_gain = parse("--proj-gain", args.next())?,
            "--dtype" => {
                let name: String = parse("--dtype", args.next())?;
                o.dtype = QuantDtype::from_name(&name)
                    .ok_or(format!("--dtype: int8 or int4, not {name:?}"))?;
            }
            "--factored" => o.factored = true,
            "--legacy-v1" => o.legacy_v1 = true,
            _ if a.starts_with('-') => return Err(format!("unknown option {a}\n{USAGE}")),
            _ => out = Some(PathBuf::from(a)),
        }
    }
    let out = out.ok_or(USAGE)?;
    o.arch = match arch_name.as_str() {
        "ngram" => Arch::Ngram {
            context,
            activation,
        },
        name => Arch::Recurrent(
            Cell::from_name(name)
                .ok_or(format!("--arch: gru, lstm, rnn or ngram, not {name:?}"))?,
        ),
    };
    let bytes = if o.legacy_v1 {
        if o.arch != Arch::GRU || o.specials != Specials::DEFAULT {
            return Err("--legacy-v1 makes GRUs with specials 7 only".into());
        }
        if o.dtype != QuantDtype::Int8 || o.factored {
            return Err("--legacy-v1 makes INT8 files with the token table only".into());
        }
        legacy_gru(o.hidden, o.layers, o.seed)?
    } else {
        quantized(&o)?
    };
    mynah_format::write_atomic(&out, &bytes).map_err(|e| e.to_string())?;
    // Prove the runtime accepts it, with its own architecture's type.
    let bytes = mynah_format::read_aligned(&out).map_err(|e| e.to_string())?;
    let model = mynah_format::Model::parse(&bytes).map_err(|e| e.to_string())?;
    mynah_runtime::AnyModel::<512, 128, 4, 32>::new(&model).map_err(|e| e.to_string())?;
    let factored = if o.factored { " factored" } else { "" };
    println!(
        "{}: {} bytes, {} {}{factored} {}x{}, specials {}, seed {}, format version {}",
        out.display(),
        bytes.len(),
        model.hyper().weights,
        model.hyper().arch,
        o.hidden,
        o.layers,
        o.specials,
        o.seed,
        model.version()
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
