//! The float reference: an `f32` forward pass over a FLOAT model file (f16 tensors are
//! widened to f32), with PyTorch's GRU semantics.
//!
//! `mynah eval` and `mynah sample` use it for float files; the quantizer uses it as its
//! calibration engine and as the yardstick for the integer runtime.

use std::fmt;

use mynah_format::{DType, FormatError, Model, Tensor, WeightsKind};

/// Why a file cannot be run by the float reference.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReferenceError {
    /// The file holds INT8 weights.
    NotFloat,
    /// A tensor is missing or malformed.
    Format(FormatError),
    /// A token id is not below `vocab_size`.
    TokenOutOfRange {
        /// The token.
        token: u32,
        /// The model's `vocab_size`.
        vocab: usize,
    },
}

impl fmt::Display for ReferenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReferenceError::NotFloat => {
                f.write_str("the model is INT8; the float reference needs a FLOAT file")
            }
            ReferenceError::Format(e) => write!(f, "{e}"),
            ReferenceError::TokenOutOfRange { token, vocab } => {
                write!(f, "token {token} is not below vocab_size {vocab}")
            }
        }
    }
}

// Transparent: Display is the inner error's, so the inner error is not also a `source`.
impl std::error::Error for ReferenceError {}

impl From<FormatError> for ReferenceError {
    fn from(e: FormatError) -> Self {
        ReferenceError::Format(e)
    }
}

/// A row-major `[rows, cols]` float matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// `rows * cols` values, row after row.
    pub data: Vec<f32>,
}

impl Matrix {
    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }

    /// `out[i] = bias[i] + Σ_j self[i][j] x[j]`.
    pub fn matvec_into(&self, x: &[f32], bias: &[f32], out: &mut [f32]) {
        for (i, o) in out.iter_mut().enumerate().take(self.rows) {
            *o = bias[i] + dot(self.row(i), x);
        }
    }
}

/// A dot product with eight partial sums (so LLVM can vectorize it).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let ac = a.chunks_exact(8);
    let bc = b.chunks_exact(8);
    let tail: f32 = ac
        .remainder()
        .iter()
        .zip(bc.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ac.zip(bc) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// One GRU layer's parameters (PyTorch layout, gates stacked r, z, n).
#[derive(Debug, Clone, PartialEq)]
pub struct FloatLayer {
    /// `weight_ih_l{k}`: `[3H, in]`.
    pub w_ih: Matrix,
    /// `weight_hh_l{k}`: `[3H, H]`.
    pub w_hh: Matrix,
    /// `bias_ih_l{k}`: `[3H]`.
    pub b_ih: Vec<f32>,
    /// `bias_hh_l{k}`: `[3H]`.
    pub b_hh: Vec<f32>,
}

/// A float model held as `f32` in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct FloatGru {
    /// `vocab_size` including specials.
    pub vocab_size: usize,
    /// `hidden_dim`.
    pub hidden: usize,
    /// Whether the model was trained on records.
    pub records: bool,
    /// The vocabulary characters (ids 3, 4, …).
    pub chars: Vec<char>,
    /// `embed.weight`: `[V, E]`.
    pub embed: Matrix,
    /// The GRU layers.
    pub layers: Vec<FloatLayer>,
    /// `proj.weight`: `[V, H]`.
    pub proj_w: Matrix,
    /// `proj.bias`: `[V]`.
    pub proj_b: Vec<f32>,
}

/// Reads an f32 or f16 tensor as `f32`.
pub fn read_f32(t: &Tensor<'_>) -> Result<Vec<f32>, FormatError> {
    match t.dtype() {
        DType::F16 => Ok(t.f16s()?.iter().map(|v| v.to_f32()).collect()),
        _ => Ok(t.f32s()?.to_vec()),
    }
}

fn matrix(model: &Model<'_>, name: &str) -> Result<Matrix, ReferenceError> {
    let t = model.tensor(name).ok_or(FormatError::MissingTensor {
        name: mynah_format::TensorName::new(name),
    })?;
    let shape = t.shape();
    let (rows, cols) = match *shape {
        [r, c] => (r as usize, c as usize),
        [r] => (r as usize, 1),
        _ => {
            return Err(ReferenceError::Format(FormatError::MissingTensor {
                name: mynah_format::TensorName::new(name),
            }))
        }
    };
    Ok(Matrix {
        rows,
        cols,
        data: read_f32(&t)?,
    })
}

fn vector(model: &Model<'_>, name: &str) -> Result<Vec<f32>, ReferenceError> {
    Ok(matrix(model, name)?.data)
}

/// Called before each layer with `(layer, input, h_prev)`; see [`FloatGru::step_observed`].
pub type Observer<'o> = dyn FnMut(usize, &[f32], &[f32]) + 'o;

/// The hidden vectors of one stream, one per layer.
pub type FloatState = Vec<Vec<f32>>;

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

impl FloatGru {
    /// Reads a FLOAT model (the file was validated by [`Model::parse`]).
    pub fn from_model(model: &Model<'_>) -> Result<Self, ReferenceError> {
        let hy = model.hyper();
        if hy.weights != WeightsKind::Float {
            return Err(ReferenceError::NotFloat);
        }
        let mut layers = Vec::new();
        for k in 0..hy.num_layers {
            layers.push(FloatLayer {
                w_ih: matrix(model, &format!("rnn.weight_ih_l{k}"))?,
                w_hh: matrix(model, &format!("rnn.weight_hh_l{k}"))?,
                b_ih: vector(model, &format!("rnn.bias_ih_l{k}"))?,
                b_hh: vector(model, &format!("rnn.bias_hh_l{k}"))?,
            });
        }
        Ok(FloatGru {
            vocab_size: hy.vocab_size as usize,
            hidden: hy.hidden_dim as usize,
            records: hy.records,
            chars: model.vocab().chars().collect(),
            embed: matrix(model, "embed.weight")?,
            layers,
            proj_w: matrix(model, "proj.weight")?,
            proj_b: vector(model, "proj.bias")?,
        })
    }

    /// The zero state.
    pub fn zero_state(&self) -> FloatState {
        vec![vec![0.0; self.hidden]; self.layers.len()]
    }

    /// Feeds `token`, writes the next token's logits into `logits` (`vocab_size` entries).
    pub fn step(
        &self,
        state: &mut FloatState,
        token: u32,
        logits: &mut [f32],
    ) -> Result<(), ReferenceError> {
        self.step_observed(state, token, logits, &mut |_, _, _| {})
    }

    /// [`FloatGru::step`], calling `observe(layer, input, h_prev)` before each layer
    /// (`layer == num_layers` is the projection, whose input is the top hidden vector).
    pub fn step_observed(
        &self,
        state: &mut FloatState,
        token: u32,
        logits: &mut [f32],
        observe: &mut Observer<'_>,
    ) -> Result<(), ReferenceError> {
        let t = token as usize;
        if t >= self.vocab_size {
            return Err(ReferenceError::TokenOutOfRange {
                token,
                vocab: self.vocab_size,
            });
        }
        let h = self.hidden;
        let mut x: Vec<f32> = self.embed.row(t).to_vec();
        let mut gi = vec![0f32; 3 * h];
        let mut gh = vec![0f32; 3 * h];
        for (k, layer) in self.layers.iter().enumerate() {
            let hp = &mut state[k];
            observe(k, &x, hp);
            layer.w_ih.matvec_into(&x, &layer.b_ih, &mut gi);
            layer.w_hh.matvec_into(hp, &layer.b_hh, &mut gh);
            for i in 0..h {
                let r = sigmoid(gi[i] + gh[i]);
                let z = sigmoid(gi[h + i] + gh[h + i]);
                let n = (gi[2 * h + i] + r * gh[2 * h + i]).tanh();
                hp[i] = (1.0 - z) * n + z * hp[i];
            }
            x.clone_from(hp);
        }
        observe(self.layers.len(), &x, &x);
        self.proj_w.matvec_into(&x, &self.proj_b, logits);
        Ok(())
    }
}

/// `log_softmax(logits)[target]` in f64.
pub fn log_prob(logits: &[f64], target: usize) -> f64 {
    let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let lse = max + logits.iter().map(|&l| (l - max).exp()).sum::<f64>().ln();
    logits[target] - lse
}

/// Softmax of `logits` in f64.
pub fn softmax(logits: &[f64]) -> Vec<f64> {
    let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = logits.iter().map(|&l| (l - max).exp()).collect();
    let s: f64 = e.iter().sum();
    e.into_iter().map(|v| v / s).collect()
}
