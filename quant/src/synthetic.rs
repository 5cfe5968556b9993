//! Deterministic synthetic models for tests and fixtures: pseudo-random weights from a
//! seed (SplitMix64), so any machine rebuilds exactly the same float model.

use mynah_format::{FormatError, Hyper, ModelWriter, WeightsKind};

use crate::reference::{FloatGru, FloatLayer, Matrix};

/// SplitMix64: a fixed, dependency-free generator.
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// The next 64 bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[-a, a)`, exactly representable (24 random bits).
    pub fn uniform(&mut self, a: f32) -> f32 {
        let u = (self.next_u64() >> 40) as f32 / (1u32 << 24) as f32; // [0, 1), exact
        (2.0 * u - 1.0) * a
    }
}

/// Shape and character set of a synthetic model.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticSpec {
    /// The characters (sorted, distinct).
    pub chars: Vec<char>,
    /// Embedding width.
    pub embed: usize,
    /// Hidden width.
    pub hidden: usize,
    /// Layers.
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
        data: (0..rows * cols).map(|_| rng.uniform(a)).collect(),
    }
}

fn vector(rng: &mut SplitMix64, n: usize, a: f32) -> Vec<f32> {
    (0..n).map(|_| rng.uniform(a)).collect()
}

/// A float GRU with pseudo-random weights (uniform, PyTorch-like scale times the gains).
pub fn synthetic_gru(spec: &SyntheticSpec) -> FloatGru {
    let mut rng = SplitMix64(spec.seed);
    let v = spec.chars.len() + 3;
    let h = spec.hidden;
    let k = spec.gain / (h as f32).sqrt();
    let embed = matrix(&mut rng, v, spec.embed, 1.0);
    let layers = (0..spec.layers)
        .map(|l| {
            let input = if l == 0 { spec.embed } else { h };
            FloatLayer {
                w_ih: matrix(&mut rng, 3 * h, input, k),
                w_hh: matrix(&mut rng, 3 * h, h, k),
                b_ih: vector(&mut rng, 3 * h, k),
                b_hh: vector(&mut rng, 3 * h, k),
            }
        })
        .collect();
    let kp = spec.proj_gain / (h as f32).sqrt();
    FloatGru {
        vocab_size: v,
        hidden: h,
        records: spec.records,
        chars: spec.chars.clone(),
        embed,
        proj_w: matrix(&mut rng, v, h, kp),
        proj_b: vector(&mut rng, v, kp),
        layers,
    }
}

/// The header of a float model.
pub fn float_hyper(gru: &FloatGru) -> Hyper {
    Hyper {
        vocab_size: gru.vocab_size as u32,
        embed_dim: gru.embed.cols as u32,
        hidden_dim: gru.hidden as u32,
        num_layers: gru.layers.len() as u32,
        records: gru.records,
        weights: WeightsKind::Float,
    }
}

/// A FLOAT model file (f32 tensors) holding `gru`.
pub fn float_file(gru: &FloatGru) -> Result<Vec<u8>, FormatError> {
    let mut w = ModelWriter::new(float_hyper(gru), &gru.chars)?;
    let dims = |m: &Matrix| [m.rows as u32, m.cols as u32];
    w.add_f32("embed.weight", &dims(&gru.embed), &gru.embed.data)?;
    for (k, l) in gru.layers.iter().enumerate() {
        w.add_f32(&format!("rnn.weight_ih_l{k}"), &dims(&l.w_ih), &l.w_ih.data)?;
        w.add_f32(&format!("rnn.weight_hh_l{k}"), &dims(&l.w_hh), &l.w_hh.data)?;
        w.add_f32(
            &format!("rnn.bias_ih_l{k}"),
            &[l.b_ih.len() as u32],
            &l.b_ih,
        )?;
        w.add_f32(
            &format!("rnn.bias_hh_l{k}"),
            &[l.b_hh.len() as u32],
            &l.b_hh,
        )?;
    }
    w.add_f32("proj.weight", &dims(&gru.proj_w), &gru.proj_w.data)?;
    w.add_f32("proj.bias", &[gru.proj_b.len() as u32], &gru.proj_b)?;
    w.to_bytes()
}

/// The spec of the golden fixture `tests/fixtures/tiny-int8.mynah`: 2 layers of 32 units
/// over 26 lowercase letters, space, ',' and '.' (records mode), seed 2024.
pub fn fixture_spec() -> SyntheticSpec {
    let mut chars: Vec<char> = ('a'..='z').collect();
    chars.extend([' ', ',', '.']);
    chars.sort_unstable();
    SyntheticSpec {
        chars,
        embed: 8,
        hidden: 32,
        layers: 2,
        records: true,
        seed: 2024,
        gain: 2.0,
        proj_gain: 6.0,
    }
}
