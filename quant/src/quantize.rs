//! FLOAT → INT8 or INT4: the exporter side of `runtime/QUANTIZATION.md`, for every
//! architecture.
//!
//! Weights become `i8` (or `i4`) with one symmetric scale per output row; every scale is
//! turned into an integer multiplier and shift here, biases into Q16 integers, and the
//! first layer's input product into a table per token (per context position and token for
//! the n-gram MLP) or, factored, into an `i8` embedding and a matrix over it, so the
//! runtime never sees a float. Everything stored is rounded half away from zero
//! (`f64::round`), the runtime's rule too.

use std::fmt;

use mynah_format::{Arch, FormatError, Model, ModelWriter};
use mynah_runtime::kernels::{ACT_MAX, MAX_COLS, PRE_FRAC, PRE_MAX};
use mynah_runtime::{names, MAX_HIDDEN_EXP};

use crate::engine::{compare, Agreement, EngineError, FloatRunner, HostModel, IntRunner};
use crate::reference::{Body, FloatLayer, FloatModel, Matrix, ReferenceError, Site};

mod dense;
pub mod gptq;
mod plan;

use dense::check_finite;
pub use dense::{
    decode_multiplier, encode_multiplier, quantize_dense, quantize_dense_as,
    quantize_dense_rounded, quantize_embedding, DenseInput, QuantDense, QuantDtype, QuantEmbedding,
    RoundedRows,
};
pub use plan::{plan_weights, WeightPlan};

/// Choices of the quantizer. The defaults are what `runtime/QUANTIZATION.md` measured best
/// for INT8 files.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuantizeOptions {
    /// Add to each row's bias the mean error its quantized weights make on the
    /// calibration activations (`Σ_j (w_j − ŵ_j) E[x_j]`); needs calibration streams.
    pub bias_correction: bool,
    /// `i8` weights (an INT8 file) or `i4` (INT4).
    pub dtype: QuantDtype,
    /// A factored input layer (recurrent models only): an `i8` embedding and layer 0's
    /// input matrix instead of the per-token table (the `FACTORED` flag).
    pub factored: bool,
    /// How the weights are rounded to their codes.
    pub rounding: Rounding,
}

/// How a row's weights become codes (the stored form is the same either way).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rounding {
    /// Each weight to its nearest code; with bias correction (the INT8 default: its
    /// rounding error is already below 0.05%).
    #[default]
    Nearest,
    /// Error-compensating ([`gptq`]): each row's codes keep its output on the calibration
    /// inputs (the projection's weighted by how much each logit matters to the loss). The
    /// INT4 choice: it removes about 60% of the nearest codes' loss. Needs calibration
    /// streams; without them it rounds to nearest.
    Compensated,
}

impl Rounding {
    /// `nearest` or `compensated` (the `--rounding` names).
    pub const fn name(self) -> &'static str {
        match self {
            Rounding::Nearest => "nearest",
            Rounding::Compensated => "compensated",
        }
    }

    /// The rounding `--rounding NAME` asks for with `dtype`: `nearest`, `compensated`, or
    /// `auto` (compensated for INT4, nearest for INT8); `None` for any other name.
    pub fn from_name(name: &str, dtype: QuantDtype) -> Option<Rounding> {
        match name {
            "auto" if dtype == QuantDtype::Int4 => Some(Rounding::Compensated),
            "auto" => Some(Rounding::Nearest),
            _ => [Rounding::Nearest, Rounding::Compensated]
                .into_iter()
                .find(|r| r.name() == name),
        }
    }
}

impl Default for QuantizeOptions {
    fn default() -> Self {
        QuantizeOptions {
            bias_correction: true,
            dtype: QuantDtype::Int8,
            factored: false,
            rounding: Rounding::Nearest,
        }
    }
}

/// Why a float model could not be quantized.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum QuantizeError {
    /// The input is not a FLOAT model, or a tensor is malformed.
    Reference(ReferenceError),
    /// `hidden_dim` is wider than the runtime's exact-accumulation limit (512).
    HiddenTooWide {
        /// The model's `hidden_dim`.
        hidden: u32,
    },
    /// A factored model's `embed_dim` is wider than the runtime's exact-accumulation limit.
    EmbedTooWide {
        /// The model's `embed_dim`.
        embed: u32,
    },
    /// A weight or bias is NaN or infinite.
    NonFinite {
        /// The float tensor.
        tensor: String,
    },
    /// A row's scale cannot be expressed as a multiplier and a shift in `0..=62`.
    ScaleOutOfRange {
        /// The float tensor.
        tensor: String,
        /// The row.
        row: usize,
    },
    /// A bias (or layer-0 input table entry) does not fit its Q16 (or i16) range.
    ValueOutOfRange {
        /// The float tensor (or `rnn.input_table`).
        tensor: String,
        /// The offending value.
        value: f64,
    },
    /// A calibration token is not below `vocab_size`.
    CalibToken {
        /// The token.
        token: u32,
        /// The model's `vocab_size`.
        vocab: usize,
    },
    /// Codes and scales given for a matrix do not fit it.
    Rounding {
        /// The float tensor.
        tensor: String,
        /// What does not fit.
        reason: String,
    },
    /// Writing the file failed.
    Format(FormatError),
    /// The written file does not load in the runtime (weights so large that a
    /// pre-activation could pass ±8192, see `RuntimeError::OutOfRange`).
    Verify(String),
}

impl fmt::Display for QuantizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QuantizeError::Reference(e) => write!(f, "{e}"),
            QuantizeError::HiddenTooWide { hidden } => write!(
                f,
                "hidden_dim {hidden} is wider than {MAX_COLS}, the widest the integer runtime accumulates exactly"
            ),
            QuantizeError::EmbedTooWide { embed } => write!(
                f,
                "embed_dim {embed} is wider than {MAX_COLS}, the widest the integer runtime accumulates exactly: a factored input layer cannot hold it (use the token table)"
            ),
            QuantizeError::NonFinite { tensor } => write!(f, "tensor {tensor} holds NaN or infinity"),
            QuantizeError::ScaleOutOfRange { tensor, row } => {
                write!(f, "tensor {tensor} row {row}: scale outside what a multiplier and shift can express")
            }
            QuantizeError::ValueOutOfRange { tensor, value } => {
                write!(f, "tensor {tensor}: value {value} does not fit its fixed-point format")
            }
            QuantizeError::CalibToken { token, vocab } => {
                write!(f, "calibration token {token} is not below vocab_size {vocab}")
            }
            QuantizeError::Rounding { tensor, reason } => {
                write!(f, "tensor {tensor}: the rounded weights given do not fit it: {reason}")
            }
            QuantizeError::Format(e) => write!(f, "{e}"),
            QuantizeError::Verify(e) => write!(f, "the quantized file does not load: {e}"),
        }
    }
}

// Transparent: Display is the inner error's, so the inner error is not also a `source`.
impl std::error::Error for QuantizeError {}

impl From<ReferenceError> for QuantizeError {
    fn from(e: ReferenceError) -> Self {
        QuantizeError::Reference(e)
    }
}

impl From<FormatError> for QuantizeError {
    fn from(e: FormatError) -> Self {
        QuantizeError::Format(e)
    }
}

impl From<EngineError> for QuantizeError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Reference(e) => QuantizeError::Reference(e),
            other => QuantizeError::Verify(other.to_string()),
        }
    }
}

/// The largest number of fractional bits (at most 16) with which every value fits `i16`.
fn table_frac(name: &str, vals: &[f64]) -> Result<i32, QuantizeError> {
    let max = vals.iter().fold(0f64, |m, &x| m.max(x.abs()));
    if max > f64::from(ACT_MAX) {
        return Err(QuantizeError::ValueOutOfRange {
            tensor: name.to_owned(),
            value: max,
        });
    }
    let mut frac = PRE_FRAC as i32;
    while frac > 0 && (max * f64::from(1u32 << frac)).round() > f64::from(ACT_MAX) {
        frac -= 1;
    }
    Ok(frac)
}

/// `vals` as `i16` with `frac` fractional bits.
fn to_i16(vals: &[f64], frac: i32) -> Vec<i16> {
    let scale = f64::from(1u32 << frac);
    let m = f64::from(ACT_MAX);
    vals.iter()
        .map(|&v| (v * scale).round().clamp(-m, m) as i16)
        .collect()
}

/// `Σ_j w[i][cols + j] · e[j]` for every row `i`, over `e.len()` columns from `cols`, in f64.
fn product(w: &Matrix, cols: usize, e: &[f32], out: &mut Vec<f64>) {
    for i in 0..w.rows {
        let row = &w.row(i)[cols..cols + e.len()];
        let dot: f64 = row
            .iter()
            .zip(e)
            .map(|(&a, &b)| f64::from(a) * f64::from(b))
            .sum();
        out.push(dot);
    }
}

/// A recurrent model's layer-0 input table `[V, G·H]`: per token `W_ih0 · embed[tok] +
/// b_ih0` as `i16` with the most fractional bits (at most 16) that fit the largest entry.
/// Returns the table and its `frac_bits`.
pub fn input_table(m: &FloatModel) -> Result<(Vec<i16>, i32), QuantizeError> {
    let Body::Recurrent(layers) = &m.body else {
        return Err(QuantizeError::Verify("not a recurrent model".into()));
    };
    let l0 = &layers[0];
    check_finite("embed.weight", &m.embed.data)?;
    check_finite("rnn.weight_ih_l0", &l0.w_ih.data)?;
    check_finite("rnn.bias_ih_l0", &l0.b_ih)?;
    let mut vals = Vec::with_capacity(m.vocab_size() * l0.w_ih.rows);
    for t in 0..m.vocab_size() {
        let start = vals.len();
        product(&l0.w_ih, 0, m.embed.row(t), &mut vals);
        for (v, &b) in vals[start..].iter_mut().zip(&l0.b_ih) {
            *v += f64::from(b);
        }
    }
    let frac = table_frac(names::INPUT_TABLE, &vals)?;
    Ok((to_i16(&vals, frac), frac))
}

/// The n-gram MLP's input table `[context·V, H]`: row `p·V + t` is `hidden.weight`'s columns
/// of position `p` times `embed[t]` (plus `hidden.bias` for the newest position), as `i16`;
/// returns it with its `frac_bits` and each hidden unit's largest possible pre-activation.
pub fn ngram_table(m: &FloatModel) -> Result<(Vec<i16>, i32, Vec<f64>), QuantizeError> {
    let Body::Ngram { w, b } = &m.body else {
        return Err(QuantizeError::Verify("not an n-gram model".into()));
    };
    check_finite("embed.weight", &m.embed.data)?;
    check_finite("hidden.weight", &w.data)?;
    check_finite("hidden.bias", b)?;
    let (n, v, e, h) = (
        m.hyper.arch.context() as usize,
        m.vocab_size(),
        m.embed.cols,
        w.rows,
    );
    let mut vals = Vec::with_capacity(n * v * h);
    for p in 0..n {
        for t in 0..v {
            let start = vals.len();
            product(w, p * e, m.embed.row(t), &mut vals);
            if p + 1 == n {
                for (x, &bias) in vals[start..].iter_mut().zip(b) {
                    *x += f64::from(bias);
                }
            }
        }
    }
    let frac = table_frac(names::NGRAM_TABLE, &vals)?;
    let table = to_i16(&vals, frac);
    let step = 2f64.powi(-frac);
    // The largest pre-activation each unit can reach: the largest entry of each position.
    let mut bound = vec![0f64; h];
    for p in 0..n {
        for (i, bd) in bound.iter_mut().enumerate() {
            let best = (0..v)
                .map(|t| f64::from(table[(p * v + t) * h + i]) * step)
                .fold(f64::NEG_INFINITY, f64::max);
            *bd += best;
        }
    }
    Ok((table, frac, bound))
}

/// Mean inputs on the calibration streams: per recurrent layer the mean of the input of
/// `W_ih` and of `h_prev`, the mean input of the projection, and how often each token was
/// fed (as a fraction of the steps).
#[derive(Debug, Clone, Default)]
struct Means {
    x: Vec<Vec<f64>>,
    h: Vec<Vec<f64>>,
    top: Vec<f64>,
    tokens: Vec<f64>,
    steps: usize,
}

fn add_into(sum: &mut Vec<f64>, x: &[f32]) {
    if sum.len() < x.len() {
        sum.resize(x.len(), 0.0);
    }
    sum.iter_mut().zip(x).for_each(|(a, &b)| *a += f64::from(b));
}

fn calibrate(m: &FloatModel, calib: &[Vec<u32>]) -> Result<Means, QuantizeError> {
    let layers = m.hyper.num_layers as usize;
    let mut means = Means {
        x: vec![Vec::new(); layers],
        h: vec![Vec::new(); layers],
        tokens: vec![0.0; m.vocab_size()],
        ..Means::default()
    };
    let mut logits = vec![0f32; m.vocab_size()];
    for seq in calib {
        let mut state = m.zero_state();
        for &tok in seq {
            if tok as usize >= m.vocab_size() {
                return Err(QuantizeError::CalibToken {
                    token: tok,
                    vocab: m.vocab_size(),
                });
            }
            m.step_observed(&mut state, tok, &mut logits, &mut |site, x, h| match site {
                Site::Proj => add_into(&mut means.top, x),
                Site::Layer(k) => {
                    add_into(&mut means.x[k], x);
                    add_into(&mut means.h[k], h);
                }
            })?;
            means.tokens[tok as usize] += 1.0;
            means.steps += 1;
        }
    }
    let n = means.steps.max(1) as f64;
    for v in means
        .x
        .iter_mut()
        .chain(means.h.iter_mut())
        .chain([&mut means.top, &mut means.tokens])
    {
        v.iter_mut().for_each(|a| *a /= n);
    }
    Ok(means)
}

fn add_dense(
    w: &mut ModelWriter,
    n: names::DenseNames,
    rows: u32,
    cols: u32,
    q: &QuantDense,
    dtype: QuantDtype,
) -> Result<(), FormatError> {
    match dtype {
        QuantDtype::Int8 => w.add_i8(n.weight.as_str(), &[rows, cols], &q.weight, 0)?,
        QuantDtype::Int4 => w.add_i4(n.weight.as_str(), &[rows, cols], &q.weight, 0)?,
    }
    w.add_i32(n.mult.as_str(), &[rows], &q.mult, 0)?;
    w.add_i8(n.shift.as_str(), &[rows], &q.shift, 0)?;
    w.add_i32(n.bias.as_str(), &[rows], &q.bias, PRE_FRAC as i32)
}

/// Quantizes a FLOAT model into an INT8 or INT4 file, with the token table or factored
/// ([`QuantizeOptions`]): the bytes of a complete, validated file.
///
/// `calib` holds token streams, each fed from a zero state exactly as given (as the
/// evaluation convention does: `<BOS>` first when the model has one); with
/// [`QuantizeOptions::bias_correction`] their mean activations correct the biases, and
/// an empty `calib` simply skips that correction.
pub fn quantize(
    float: &Model<'_>,
    calib: &[Vec<u32>],
    opts: &QuantizeOptions,
) -> Result<Vec<u8>, QuantizeError> {
    quantize_model(&FloatModel::from_model(float)?, calib, opts)
}

/// [`quantize`] from an in-memory float model.
pub fn quantize_model(
    m: &FloatModel,
    calib: &[Vec<u32>],
    opts: &QuantizeOptions,
) -> Result<Vec<u8>, QuantizeError> {
    quantize_model_with(m, calib, opts, None)
}

/// [`quantize_model`] with the codes and scales of `plan` ([`plan_weights`], perhaps tuned)
/// for the matrices it names: their biases are `m`'s as they are (no bias correction), and
/// the other matrices are rounded as `opts` says.
pub fn quantize_model_with(
    m: &FloatModel,
    calib: &[Vec<u32>],
    opts: &QuantizeOptions,
    plan: Option<&WeightPlan>,
) -> Result<Vec<u8>, QuantizeError> {
    let hy = m.hyper;
    if hy.hidden_dim as usize > MAX_COLS {
        return Err(QuantizeError::HiddenTooWide {
            hidden: hy.hidden_dim,
        });
    }
    if opts.factored && hy.embed_dim as usize > MAX_COLS {
        return Err(QuantizeError::EmbedTooWide {
            embed: hy.embed_dim,
        });
    }
    let computed;
    let plan = match plan {
        Some(p) => Some(p),
        None if opts.rounding == Rounding::Compensated && !calib.is_empty() => {
            computed = plan_weights(m, calib, opts)?;
            Some(&computed)
        }
        None => None,
    };
    let means = if opts.bias_correction && !calib.is_empty() {
        Some(calibrate(m, calib)?)
    } else {
        None
    };
    let dense = Dense {
        plan,
        dtype: opts.dtype,
    };
    let (v, h) = (hy.vocab_size, hy.hidden_dim);
    // A factored n-gram or float file is refused here (`FactoredUnsupported`).
    let mut w = ModelWriter::new(
        mynah_format::Hyper {
            weights: opts.dtype.weights_kind(),
            factored: opts.factored,
            ..hy
        },
        m.vocab.chars(),
    )?;
    let mean_top = means.as_ref().map(|mm| mm.top.as_slice());
    let dt = opts.dtype;
    match &m.body {
        Body::Recurrent(layers) => {
            let g = hy.arch.gates() * h;
            let first = if opts.factored {
                Some(factored_input(
                    &mut w,
                    m,
                    &layers[0],
                    means.as_ref(),
                    &dense,
                )?)
            } else {
                let (table, frac) = input_table(m)?;
                w.add_i16(names::INPUT_TABLE, &[v, g], &table, frac)?;
                None
            };
            for (k, layer) in layers.iter().enumerate() {
                let k32 = k as u32;
                let name = format!("rnn.weight_hh_l{k}");
                // The GRU's b_hn sits inside r ⊙ (W_hn h + b_hn): correcting it there is
                // still exact in the mean.
                let input = DenseInput {
                    mean: means.as_ref().map(|mm| mm.h[k].as_slice()),
                    ..DenseInput::ACTIVATIONS
                };
                let q = dense.quantize(&name, &layer.w_hh, &layer.b_hh, &input, 1.0)?;
                add_dense(&mut w, names::hh(k32), g, h, &q, dt)?;
                if k == 0 {
                    if let Some((cols, q)) = &first {
                        add_dense(&mut w, names::ih(0), g, *cols, q, dt)?;
                    }
                } else {
                    let name = format!("rnn.weight_ih_l{k}");
                    let input = DenseInput {
                        mean: means.as_ref().map(|mm| mm.x[k].as_slice()),
                        ..DenseInput::ACTIVATIONS
                    };
                    let q = dense.quantize(&name, &layer.w_ih, &layer.b_ih, &input, 1.0)?;
                    add_dense(&mut w, names::ih(k32), g, h, &q, dt)?;
                }
            }
            let input = DenseInput {
                mean: mean_top,
                ..DenseInput::ACTIVATIONS
            };
            let q = dense.quantize("proj.weight", &m.proj_w, &m.proj_b, &input, 1.0)?;
            add_dense(&mut w, names::proj(), v, h, &q, dt)?;
        }
        Body::Ngram { .. } => {
            let (table, frac, bound) = ngram_table(m)?;
            let n = hy.arch.context();
            w.add_i16(names::NGRAM_TABLE, &[n * v, h], &table, frac)?;
            let exp = hidden_exp(hy.arch, &bound)?;
            w.add_i8(names::NGRAM_HIDDEN_EXP, &[1], &[exp as i8], 0)?;
            // The activations are Q15 of value / 2^exp: the projection sees them 2^exp larger.
            let k = 2f32.powi(exp);
            let scaled = Matrix {
                data: m.proj_w.data.iter().map(|&x| x * k).collect(),
                ..m.proj_w.clone()
            };
            let mean: Option<Vec<f64>> =
                mean_top.map(|t| t.iter().map(|&x| x / f64::from(k)).collect());
            let input = DenseInput {
                mean: mean.as_deref(),
                ..DenseInput::ACTIVATIONS
            };
            let q = dense.quantize("proj.weight", &scaled, &m.proj_b, &input, f64::from(k))?;
            add_dense(&mut w, names::proj(), v, h, &q, dt)?;
        }
    }
    let bytes = w.to_bytes()?;
    // Prove the runtime accepts what we wrote.
    let aligned = mynah_format::AlignedBytes::copy_from(&bytes);
    let model = aligned
        .model()
        .map_err(|e| QuantizeError::Verify(e.to_string()))?;
    HostModel::new(&model).map_err(|e| QuantizeError::Verify(e.to_string()))?;
    Ok(bytes)
}

/// A factored model's embedding, added to `w` as `rnn.embed`, and layer 0's input product
/// over it, quantized (to be added after `rnn.weight_hh_l0`): its input is the embedding
/// row widened to Q15 (`q << 8`), so its row multipliers hold the embedding's scale
/// (`DenseInput::scale` = `2^(7 - f)`). Returns `(E, the product)`.
fn factored_input(
    w: &mut ModelWriter,
    m: &FloatModel,
    l0: &FloatLayer,
    means: Option<&Means>,
    dense: &Dense<'_>,
) -> Result<(u32, QuantDense), QuantizeError> {
    let (v, e) = (m.hyper.vocab_size, m.hyper.embed_dim);
    let emb = quantize_embedding(names::EMBED, &m.embed)?;
    w.add_i8(names::EMBED, &[v, e], &emb.q, emb.frac)?;
    // The mean of the rounded embedding the runtime sees, over the calibration tokens.
    let seen: Option<Vec<f64>> = means.map(|mm| {
        let mut mean = vec![0f64; e as usize];
        for (t, &p) in mm.tokens.iter().enumerate() {
            let row = emb
                .q
                .get(t * e as usize..(t + 1) * e as usize)
                .unwrap_or(&[]);
            for (a, &q) in mean.iter_mut().zip(row) {
                *a += p * emb.value(q);
            }
        }
        mean
    });
    let input = DenseInput {
        scale: 2f64.powi(7 - emb.frac),
        mean: means.map(|mm| mm.x[0].as_slice()),
        mean_seen: seen.as_deref(),
    };
    let q = dense.quantize("rnn.weight_ih_l0", &l0.w_ih, &l0.b_ih, &input, 1.0)?;
    Ok((e, q))
}

/// How each matrix is quantized: with the plan's codes and scales when it names the matrix
/// (no bias correction: the plan's biases are final), else rounded to nearest.
struct Dense<'p> {
    plan: Option<&'p WeightPlan>,
    dtype: QuantDtype,
}

impl Dense<'_> {
    /// `w` (the float tensor `name` times `gain`, whose plan is in the tensor's units).
    fn quantize(
        &self,
        name: &str,
        w: &Matrix,
        bias: &[f32],
        input: &DenseInput<'_>,
        gain: f64,
    ) -> Result<QuantDense, QuantizeError> {
        match self.plan.and_then(|p| p.get(name)) {
            Some(rows) => {
                let rows = RoundedRows {
                    codes: rows.codes.clone(),
                    scales: rows.scales.iter().map(|s| s * gain).collect(),
                };
                let input = DenseInput {
                    mean: None,
                    mean_seen: None,
                    ..*input
                };
                quantize_dense_rounded(name, w, bias, &input, &rows)
            }
            None => quantize_dense_as(name, w, bias, input, self.dtype),
        }
    }
}

/// The exponent of the n-gram's ReLU activations: the smallest `e` with every unit's
/// largest possible pre-activation below `2^e` (so Q15 of `value / 2^e` never clips);
/// 0 for tanh, whose outputs are within ±1 already.
fn hidden_exp(arch: Arch, bound: &[f64]) -> Result<i32, QuantizeError> {
    if !matches!(
        arch,
        Arch::Ngram {
            activation: mynah_format::Activation::Relu,
            ..
        }
    ) {
        return Ok(0);
    }
    let max = bound.iter().copied().fold(0f64, f64::max);
    if max * 65536.0 > PRE_MAX as f64 {
        return Err(QuantizeError::ValueOutOfRange {
            tensor: names::NGRAM_TABLE.to_owned(),
            value: max,
        });
    }
    let mut exp = 0;
    while exp < MAX_HIDDEN_EXP && max >= 2f64.powi(exp) * f64::from(ACT_MAX) / 32768.0 {
        exp += 1;
    }
    Ok(exp)
}

/// How the quantized model (an INT8 or INT4 file) compares with the float one on some
/// token streams.
pub fn agreement(
    float: &FloatModel,
    int_file: &[u8],
    streams: &[Vec<u32>],
) -> Result<Agreement, QuantizeError> {
    let aligned = mynah_format::AlignedBytes::copy_from(int_file);
    let model = aligned.model()?;
    let int = HostModel::new(&model).map_err(|e| QuantizeError::Verify(e.to_string()))?;
    let mut a = FloatRunner::new(float.clone());
    let mut b = IntRunner::new(&int);
    Ok(compare(&mut a, &mut b, streams)?)
}

/// Calibration streams: the first `max_chars` characters of the training part of
/// `corpus`, by the evaluation convention (`<BOS>` first; records end in `<EOS>`).
/// Characters outside `vocab` are skipped.
pub fn calibration_streams(
    corpus: &mynah_text::Corpus,
    vocab: &mynah_text::Vocab,
    max_chars: usize,
) -> Result<Vec<Vec<u32>>, mynah_text::TextError> {
    let mut seqs = corpus
        .part(mynah_text::Split::Train)
        .eval_sequences(vocab, mynah_text::UnkPolicy::Skip)?;
    let mut left = max_chars;
    seqs.retain_mut(|s| {
        if left == 0 {
            return false;
        }
        let chars = s.len().saturating_sub(1);
        if chars > left {
            s.truncate(left + 1);
        }
        left = left.saturating_sub(chars);
        true
    });
    Ok(seqs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mynah_runtime::kernels::MAX_SHIFT;

    #[test]
    fn multipliers_round_trip() {
        for &m in &[1e-9, 3.1e-5, 0.004, 0.5, 1.0, 1.5, 7.0, 1234.5] {
            let (mult, shift) = encode_multiplier(m).unwrap();
            assert!((1 << 30..=i32::MAX).contains(&mult), "{m}: {mult}");
            assert!(shift <= MAX_SHIFT);
            let back = decode_multiplier(mult, shift);
            assert!((back - m).abs() / m < 1e-9, "{m} -> {back}");
        }
        assert_eq!(encode_multiplier(0.0), Some((0, 0)));
        assert_eq!(encode_multiplier(1e-12), Some((0, 0)));
        assert_eq!(encode_multiplier(3e9), None);
    }

    #[test]
    fn dense_rows_use_the_full_int8_range() {
        let w = Matrix {
            rows: 2,
            cols: 3,
            data: vec![0.5, -0.25, 0.1, 0.0, 0.0, 0.0],
        };
        let q = quantize_dense("t", &w, &[1.0, -2.0], None).unwrap();
        assert_eq!(q.weight, vec![127, -64, 25, 0, 0, 0]);
        assert_eq!(q.mult[1], 0);
        assert_eq!(q.bias, vec![65536, -131072]);
        let s = decode_multiplier(q.mult[0], q.shift[0] as u32) / 2.0;
        assert!((s - 0.5 / 127.0).abs() < 1e-12);
    }

    #[test]
    fn int4_rows_use_seven_levels_rounding_half_away() {
        let w = Matrix {
            rows: 2,
            cols: 4,
            data: vec![0.7, -0.35, 0.05, -0.05, 0.0, 0.0, 0.0, 0.0],
        };
        let input = DenseInput::ACTIVATIONS;
        let q = quantize_dense_as("t", &w, &[0.5, 0.0], &input, QuantDtype::Int4).unwrap();
        // s = 0.7 / 7 = 0.1: -0.35 / 0.1 = -3.5 rounds away from zero to -4; ±0.5 to ±1.
        assert_eq!(q.weight, vec![7, -4, 1, -1, 0, 0, 0, 0]);
        assert_eq!(q.mult[1], 0);
        assert_eq!(q.bias, vec![32768, 0]);
        let s = decode_multiplier(q.mult[0], q.shift[0] as u32) / 2.0;
        assert!((s - f64::from(0.7f32) / 7.0).abs() < 1e-10, "{s}");
    }

    #[test]
    fn embeddings_take_the_largest_power_of_two_that_fits() {
        let e = |data: Vec<f32>| Matrix {
            rows: 1,
            cols: data.len(),
            data,
        };
        // max 1.5: 1.5 · 2^6 = 96 <= 127 < 192.
        let q = quantize_embedding("e", &e(vec![1.5, -0.25, 0.0078125])).unwrap();
        assert_eq!((q.frac, q.q.clone()), (6, vec![96, -16, 1]));
        assert_eq!(q.value(96), 1.5);
        // Exactly 127 · 2^-3 fits at 3 bits.
        let q = quantize_embedding("e", &e(vec![-15.875])).unwrap();
        assert_eq!((q.frac, q.q), (3, vec![-127]));
        // Large embeddings get negative frac_bits; all-zero ones the most the format has.
        assert_eq!(quantize_embedding("e", &e(vec![1000.0])).unwrap().frac, -3);
        assert_eq!(quantize_embedding("e", &e(vec![0.0])).unwrap().frac, 31);
        assert!(matches!(
            quantize_embedding("e", &e(vec![1e12])),
            Err(QuantizeError::ValueOutOfRange { .. })
        ));
        assert!(matches!(
            quantize_embedding("e", &e(vec![f32::NAN])),
            Err(QuantizeError::NonFinite { .. })
        ));
    }

    #[test]
    fn factored_multipliers_hold_the_embedding_scale() {
        // Row scale s = 1 / 127, embedding frac_bits 5: M = 2 · s · 2^(7 - 5).
        let w = Matrix {
            rows: 1,
            cols: 2,
            data: vec![1.0, -0.5],
        };
        let input = DenseInput {
            scale: 4.0,
            ..DenseInput::ACTIVATIONS
        };
        let q = quantize_dense_as("t", &w, &[0.0], &input, QuantDtype::Int8).unwrap();
        let m = decode_multiplier(q.mult[0], q.shift[0] as u32);
        assert!((m / (8.0 / 127.0) - 1.0).abs() < 1e-9, "{m}");
        assert_eq!(q.weight, vec![127, -64]);
    }
}
