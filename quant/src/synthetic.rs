//! Deterministic synthetic models for tests and fixtures, every architecture: pseudo-random
//! weights from a seed ([`SplitMix64`]), so any machine rebuilds exactly the same float
//! model.

use mynah_format::{Activation, Arch, Cell, FormatError, Hyper, Specials, WeightsKind};
use mynah_runtime::SplitMix64;
use mynah_text::Vocab;

use crate::reference::{Body, FloatLayer, FloatModel, Matrix};

/// Uniform in `[-a, a)`, exactly representable (24 random bits).
pub fn uniform(rng: &mut SplitMix64, a: f32) -> f32 {
    let u = (rng.next_u64() >> 40) as f32 / (1u32 << 24) as f32; // [0, 1), exact
    (2.0 * u - 1.0) * a
}

/// Shape and character set of a synthetic model.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticSpec {
    /// The architecture.
    pub arch: Arch,
    /// The special tokens.
    pub specials: Specials,
    /// The characters (sorted, distinct).
    pub chars: Vec<char>,
    /// Embedding width.
    pub embed: usize,
    /// Hidden width.
    pub hidden: usize,
    /// Layers (1 for the n-gram MLP).
    pub layers: usize,
    /// Records mode flag.
    pub records: bool,
    /// Seed of the weights.
    pub seed: u64,
    /// Scale of the recurrent and input weights relative to PyTorch's `1/sqrt(H)` init:
    /// above 1 the state carries more memory and saturates gates more often.
    pub gain: f32,
    /// Scale of the projection weights: above 1 the next-character distributions are
    /// peakier, as in a trained model.
    pub proj_gain: f32,
}

fn matrix(rng: &mut SplitMix64, rows: usize, cols: usize, a: f32) -> Matrix {
    Matrix {
        rows,
        cols,
        data: (0..rows * cols).map(|_| uniform(rng, a)).collect(),
    }
}

fn vector(rng: &mut SplitMix64, n: usize, a: f32) -> Vec<f32> {
    (0..n).map(|_| uniform(rng, a)).collect()
}

/// A float model with pseudo-random weights (uniform, PyTorch-like scale times the gains),
/// drawn in PyTorch's `state_dict` order: the embedding, each layer's `weight_ih`,
/// `weight_hh`, `bias_ih`, `bias_hh` (or the n-gram's hidden layer), the projection.
pub fn synthetic_model(spec: &SyntheticSpec) -> FloatModel {
    let mut rng = SplitMix64::new(spec.seed);
    let vocab = Vocab::new(spec.specials, spec.chars.clone()).expect("sorted, distinct chars");
    let v = vocab.size();
    let h = spec.hidden;
    let embed = matrix(&mut rng, v, spec.embed, 1.0);
    let (body, layers) = match spec.arch {
        Arch::Recurrent(cell) => {
            let g = cell.gates() as usize * h;
            let k = spec.gain / (h as f32).sqrt();
            let layers = (0..spec.layers)
                .map(|l| {
                    let input = if l == 0 { spec.embed } else { h };
                    FloatLayer {
                        w_ih: matrix(&mut rng, g, input, k),
                        w_hh: matrix(&mut rng, g, h, k),
                        b_ih: vector(&mut rng, g, k),
                        b_hh: vector(&mut rng, g, k),
                    }
                })
                .collect();
            (Body::Recurrent(layers), spec.layers)
        }
        Arch::Ngram { context, .. } => {
            let fan = context as usize * spec.embed;
            let k = spec.gain / (fan as f32).sqrt();
            let w = matrix(&mut rng, h, fan, k);
            let b = vector(&mut rng, h, k);
            (Body::Ngram { w, b }, 1)
        }
    };
    let kp = spec.proj_gain / (h as f32).sqrt();
    FloatModel {
        hyper: Hyper {
            vocab_size: v as u32,
            embed_dim: spec.embed as u32,
            hidden_dim: h as u32,
            num_layers: layers as u32,
            records: spec.records,
            weights: WeightsKind::Float,
            arch: spec.arch,
            specials: spec.specials,
            factored: false,
        },
        vocab,
        embed,
        body,
        proj_w: matrix(&mut rng, v, h, kp),
        proj_b: vector(&mut rng, v, kp),
    }
}

/// A FLOAT model file (f32 tensors) holding `m`.
pub fn float_file(m: &FloatModel) -> Result<Vec<u8>, FormatError> {
    m.to_file(false)
}

/// The spec of the golden fixture of `arch` (`tests/fixtures/tiny-*.mynah`): over 26
/// lowercase letters, space, ',' and '.' (records mode). The GRU (`tiny-int8`) has 2 layers
/// of 32 units, seed 2024; the LSTM 2 layers of 24, the RNN 1 layer of 32, the n-gram MLP
/// a context of 4 and 32 hidden units.
pub fn fixture_spec(arch: Arch) -> SyntheticSpec {
    let mut chars: Vec<char> = ('a'..='z').collect();
    chars.extend([' ', ',', '.']);
    chars.sort_unstable();
    let (hidden, layers, seed, gain) = match arch {
        Arch::Recurrent(Cell::Gru) => (32, 2, 2024, 2.0),
        Arch::Recurrent(Cell::Lstm) => (24, 2, 2025, 2.0),
        Arch::Recurrent(Cell::Rnn) => (32, 1, 2026, 1.5),
        Arch::Ngram { .. } => (32, 1, 2027, 2.0),
    };
    SyntheticSpec {
        arch,
        specials: Specials::DEFAULT,
        chars,
        embed: 8,
        hidden,
        layers,
        records: true,
        seed,
        gain,
        proj_gain: 6.0,
    }
}

/// The four architectures of the golden fixtures, with their file stems in
/// `tests/fixtures/`.
pub fn fixture_archs() -> [(&'static str, Arch); 4] {
    [
        ("tiny-int8", Arch::GRU),
        ("tiny-lstm-int8", Arch::Recurrent(Cell::Lstm)),
        ("tiny-rnn-int8", Arch::Recurrent(Cell::Rnn)),
        (
            "tiny-ngram-int8",
            Arch::Ngram {
                context: 4,
                activation: Activation::Relu,
            },
        ),
    ]
}

/// The golden fixtures beyond one INT8 file per architecture, with the quantizer's options
/// they are made with: an INT4 GRU (`tiny-int4`, [`fixture_spec`]'s GRU) and a factored
/// INT4 LSTM (`tiny-lstm-factored-int4`, its LSTM).
pub fn fixture_variants() -> [(&'static str, Arch, crate::quantize::QuantizeOptions); 2] {
    use crate::quantize::{QuantDtype, QuantizeOptions};
    let int4 = QuantizeOptions {
        dtype: QuantDtype::Int4,
        ..QuantizeOptions::default()
    };
    [
        ("tiny-int4", Arch::GRU, int4),
        (
            "tiny-lstm-factored-int4",
            Arch::Recurrent(Cell::Lstm),
            QuantizeOptions {
                factored: true,
                ..int4
            },
        ),
    ]
}
