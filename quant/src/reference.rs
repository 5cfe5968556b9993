//! The float reference: an `f32` forward pass over a FLOAT model file (f16 tensors are
//! widened to f32) for every architecture, with PyTorch's semantics (`nn.GRU`, `nn.LSTM`,
//! `nn.RNN` with tanh, and the n-gram MLP).
//!
//! `mynah eval` and `mynah sample` use it for float files; the quantizer uses it as its
//! calibration engine and as the yardstick for the integer runtime.

use std::fmt;

use mynah_format::{
    Activation, Arch, Cell, DType, FormatError, Hyper, Model, ModelWriter, Tensor, WeightsKind,
};
use mynah_text::Vocab;

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

/// A row-major `[rows, cols]` float matrix (a vector is `[n, 1]`).
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
    /// A `rows × cols` matrix of zeros.
    pub fn zeros(rows: usize, cols: usize) -> Matrix {
        Matrix {
            rows,
            cols,
            data: vec![0.0; rows * cols],
        }
    }

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

/// One recurrent layer's parameters (PyTorch layout, gates stacked in PyTorch's order).
#[derive(Debug, Clone, PartialEq)]
pub struct FloatLayer {
    /// `weight_ih_l{k}`: `[G·H, in]`.
    pub w_ih: Matrix,
    /// `weight_hh_l{k}`: `[G·H, H]`.
    pub w_hh: Matrix,
    /// `bias_ih_l{k}`: `[G·H]`.
    pub b_ih: Vec<f32>,
    /// `bias_hh_l{k}`: `[G·H]`.
    pub b_hh: Vec<f32>,
}

/// What sits between the embedding and the projection.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// Stacked recurrent layers.
    Recurrent(Vec<FloatLayer>),
    /// The n-gram MLP's hidden layer over the concatenated context embeddings.
    Ngram {
        /// `hidden.weight`: `[H, context·E]`, context positions oldest first.
        w: Matrix,
        /// `hidden.bias`: `[H]`.
        b: Vec<f32>,
    },
}

/// A float model held as `f32` in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct FloatModel {
    /// The header: architecture, special tokens, sizes, records flag.
    pub hyper: Hyper,
    /// The vocabulary.
    pub vocab: Vocab,
    /// `embed.weight`: `[V, E]`.
    pub embed: Matrix,
    /// The layers.
    pub body: Body,
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
    let missing = || FormatError::MissingTensor {
        name: mynah_format::TensorName::new(name),
    };
    let t = model.tensor(name).ok_or_else(missing)?;
    let (rows, cols) = match *t.shape() {
        [r, c] => (r as usize, c as usize),
        [r] => (r as usize, 1),
        _ => return Err(missing().into()),
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

/// Where [`FloatModel::step_observed`] shows its inputs, for calibration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Site {
    /// The input of recurrent layer `k` (its `W_ih`), and that layer's previous hidden
    /// vector (its `W_hh`'s input).
    Layer(usize),
    /// The input of the projection (the top hidden vector, or the n-gram's hidden
    /// activations).
    Proj,
}

/// Called with each site's inputs: `(site, x, h_prev)` (`h_prev` empty at [`Site::Proj`]).
pub type Observer<'o> = dyn FnMut(Site, &[f32], &[f32]) + 'o;

/// What one stream keeps between steps.
#[derive(Debug, Clone, PartialEq)]
pub enum FloatState {
    /// Each layer's hidden vector and (LSTM) cell state.
    Recurrent {
        /// Hidden vectors.
        h: Vec<Vec<f32>>,
        /// LSTM cell states (empty for other cells).
        c: Vec<Vec<f32>>,
    },
    /// The last `context` token ids, oldest first.
    Ngram(Vec<u32>),
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

impl FloatModel {
    /// Reads a FLOAT model (the file was validated by [`Model::parse`]).
    pub fn from_model(model: &Model<'_>) -> Result<Self, ReferenceError> {
        let hy = model.hyper();
        if hy.weights != WeightsKind::Float {
            return Err(ReferenceError::NotFloat);
        }
        let body = match hy.arch {
            Arch::Recurrent(_) => Body::Recurrent(
                (0..hy.num_layers)
                    .map(|k| {
                        Ok(FloatLayer {
                            w_ih: matrix(model, &format!("rnn.weight_ih_l{k}"))?,
                            w_hh: matrix(model, &format!("rnn.weight_hh_l{k}"))?,
                            b_ih: vector(model, &format!("rnn.bias_ih_l{k}"))?,
                            b_hh: vector(model, &format!("rnn.bias_hh_l{k}"))?,
                        })
                    })
                    .collect::<Result<_, ReferenceError>>()?,
            ),
            Arch::Ngram { .. } => Body::Ngram {
                w: matrix(model, "hidden.weight")?,
                b: vector(model, "hidden.bias")?,
            },
        };
        let v = model.vocab();
        let vocab = Vocab::new(v.specials(), v.chars().collect()).map_err(|_| {
            ReferenceError::Format(FormatError::VocabCountMismatch {
                expected: hy.vocab_size,
                found: v.char_count(),
            })
        })?;
        Ok(FloatModel {
            hyper: hy,
            vocab,
            embed: matrix(model, "embed.weight")?,
            body,
            proj_w: matrix(model, "proj.weight")?,
            proj_b: vector(model, "proj.bias")?,
        })
    }

    /// `vocab_size`.
    pub fn vocab_size(&self) -> usize {
        self.hyper.vocab_size as usize
    }

    /// `hidden_dim`.
    pub fn hidden(&self) -> usize {
        self.hyper.hidden_dim as usize
    }

    /// Every tensor of the float table with its name and shape, in table order.
    pub fn tensors(&self) -> Vec<(String, Vec<u32>, &[f32])> {
        let mut out = Vec::new();
        for spec in self.hyper.table().specs {
            for k in 0..self.hyper.num_layers {
                if !spec.layers.has(k, self.hyper.num_layers) {
                    continue;
                }
                let name = mynah_format::tensor_name(spec, k);
                let data = self.tensor(&name).unwrap_or(&[]);
                let shape = self.hyper.shape_of(spec, k).dims().to_vec();
                out.push((name, shape, data));
            }
        }
        out
    }

    /// The values of the float tensor `name` (PyTorch's names).
    pub fn tensor(&self, name: &str) -> Option<&[f32]> {
        match name {
            "embed.weight" => return Some(&self.embed.data),
            "proj.weight" => return Some(&self.proj_w.data),
            "proj.bias" => return Some(&self.proj_b),
            _ => {}
        }
        match &self.body {
            Body::Ngram { w, b } => match name {
                "hidden.weight" => Some(&w.data),
                "hidden.bias" => Some(b),
                _ => None,
            },
            Body::Recurrent(layers) => {
                let (kind, k) = name.strip_prefix("rnn.")?.rsplit_once("_l")?;
                let l = layers.get(k.parse::<usize>().ok()?)?;
                match kind {
                    "weight_ih" => Some(&l.w_ih.data),
                    "weight_hh" => Some(&l.w_hh.data),
                    "bias_ih" => Some(&l.b_ih),
                    "bias_hh" => Some(&l.b_hh),
                    _ => None,
                }
            }
        }
    }

    /// A FLOAT model file (f32 tensors, or f16 with `half`) holding this model.
    pub fn to_file(&self, half: bool) -> Result<Vec<u8>, FormatError> {
        let hyper = Hyper {
            weights: WeightsKind::Float,
            ..self.hyper
        };
        let mut w = ModelWriter::new(hyper, self.vocab.chars())?;
        for (name, shape, data) in self.tensors() {
            if half {
                let h: Vec<_> = data
                    .iter()
                    .map(|&x| mynah_format::half::f16::from_f32(x))
                    .collect();
                w.add_f16(&name, &shape, &h)?;
            } else {
                w.add_f32(&name, &shape, data)?;
            }
        }
        w.to_bytes()
    }

    /// The state every sequence starts from: zero vectors, or a context of `<BOS>`.
    pub fn zero_state(&self) -> FloatState {
        let h = self.hidden();
        match (&self.body, self.hyper.arch) {
            (Body::Recurrent(layers), arch) => FloatState::Recurrent {
                h: vec![vec![0.0; h]; layers.len()],
                c: if arch == Arch::Recurrent(Cell::Lstm) {
                    vec![vec![0.0; h]; layers.len()]
                } else {
                    Vec::new()
                },
            },
            (Body::Ngram { .. }, arch) => {
                FloatState::Ngram(vec![self.vocab.bos().unwrap_or(0); arch.context() as usize])
            }
        }
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

    /// [`FloatModel::step`], calling `observe` with the inputs of every matrix product.
    pub fn step_observed(
        &self,
        state: &mut FloatState,
        token: u32,
        logits: &mut [f32],
        observe: &mut Observer<'_>,
    ) -> Result<(), ReferenceError> {
        let t = token as usize;
        if t >= self.vocab_size() {
            return Err(ReferenceError::TokenOutOfRange {
                token,
                vocab: self.vocab_size(),
            });
        }
        let top = match (&self.body, state) {
            (Body::Recurrent(layers), FloatState::Recurrent { h, c }) => {
                let cell = self.hyper.arch.cell().unwrap_or(Cell::Gru);
                let mut x: Vec<f32> = self.embed.row(t).to_vec();
                for (k, layer) in layers.iter().enumerate() {
                    observe(Site::Layer(k), &x, &h[k]);
                    let ck = c.get_mut(k).map_or(&mut [][..], |v| &mut v[..]);
                    recurrent_step(cell, layer, &x, &mut h[k], ck);
                    x.clone_from(&h[k]);
                }
                x
            }
            (Body::Ngram { w, b }, FloatState::Ngram(ring)) => {
                ring.rotate_left(1);
                if let Some(last) = ring.last_mut() {
                    *last = token;
                }
                let input: Vec<f32> = ring
                    .iter()
                    .flat_map(|&id| self.embed.row(id as usize).iter().copied())
                    .collect();
                let mut hidden = vec![0f32; w.rows];
                w.matvec_into(&input, b, &mut hidden);
                let relu = matches!(
                    self.hyper.arch,
                    Arch::Ngram {
                        activation: Activation::Relu,
                        ..
                    }
                );
                for v in &mut hidden {
                    *v = if relu { v.max(0.0) } else { v.tanh() };
                }
                hidden
            }
            // A state of another architecture: start it over.
            (_, s) => {
                *s = self.zero_state();
                return self.step_observed(s, token, logits, observe);
            }
        };
        observe(Site::Proj, &top, &[]);
        self.proj_w.matvec_into(&top, &self.proj_b, logits);
        Ok(())
    }
}

/// One recurrent layer's step, PyTorch's equations for each cell, `h` (and the LSTM's `c`)
/// updated in place.
fn recurrent_step(cell: Cell, layer: &FloatLayer, x: &[f32], h: &mut [f32], c: &mut [f32]) {
    let n = h.len();
    let g = layer.w_ih.rows;
    let mut gi = vec![0f32; g];
    let mut gh = vec![0f32; g];
    layer.w_ih.matvec_into(x, &layer.b_ih, &mut gi);
    layer.w_hh.matvec_into(h, &layer.b_hh, &mut gh);
    match cell {
        Cell::Gru => {
            for i in 0..n {
                let r = sigmoid(gi[i] + gh[i]);
                let z = sigmoid(gi[n + i] + gh[n + i]);
                let nn = (gi[2 * n + i] + r * gh[2 * n + i]).tanh();
                h[i] = (1.0 - z) * nn + z * h[i];
            }
        }
        Cell::Lstm => {
            let pre = |k: usize, i: usize| gi[k * n + i] + gh[k * n + i];
            for i in 0..n {
                let ig = sigmoid(pre(0, i));
                let fg = sigmoid(pre(1, i));
                let gg = pre(2, i).tanh();
                let og = sigmoid(pre(3, i));
                c[i] = fg * c[i] + ig * gg;
                h[i] = og * c[i].tanh();
            }
        }
        Cell::Rnn => {
            for i in 0..n {
                h[i] = (gi[i] + gh[i]).tanh();
            }
        }
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
