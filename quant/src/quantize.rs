//! FLOAT → INT8: the exporter side of `runtime/QUANTIZATION.md`.
//!
//! Weights become `i8` with one symmetric scale per output row; every scale is turned
//! into an integer multiplier and shift here, biases into Q16 integers, and layer 0's
//! input product into a per-token table, so the runtime never sees a float. Everything
//! stored is rounded half away from zero (`f64::round`), the runtime's rule too.

use std::fmt;

use mynah_format::{FormatError, Hyper, Model, ModelWriter, WeightsKind};
use mynah_runtime::kernels::{MAX_COLS, MAX_SHIFT, PRE_FRAC};
use mynah_runtime::names;

use crate::engine::{compare, Agreement, EngineError, FloatRunner, HostIntModel, IntRunner};
use crate::reference::{FloatGru, Matrix, ReferenceError};

/// Choices of the quantizer. The defaults are what `runtime/QUANTIZATION.md` measured best.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuantizeOptions {
    /// Add to each row's bias the mean error its quantized weights make on the
    /// calibration activations (`Σ_j (w_j − ŵ_j) E[x_j]`); needs calibration streams.
    pub bias_correction: bool,
}

impl Default for QuantizeOptions {
    fn default() -> Self {
        QuantizeOptions {
            bias_correction: true,
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
                "hidden_dim {hidden} is wider than {MAX_COLS}, the widest the int8 runtime accumulates exactly"
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

/// One quantized matrix product: `i8` weights, per-row multiplier and shift, Q16 bias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuantDense {
    /// Row-major `i8` weights in `[-127, 127]`.
    pub weight: Vec<i8>,
    /// Per-row multiplier in `[2^30, 2^31)` (0 for an all-zero row).
    pub mult: Vec<i32>,
    /// Per-row shift in `0..=62`.
    pub shift: Vec<i8>,
    /// Per-row Q16 bias.
    pub bias: Vec<i32>,
}

/// Encodes a positive real factor `m` as `mult * 2^-shift` with `mult` in `[2^30, 2^31)`.
///
/// Factors below `2^-32` cannot change a product of an `i32` accumulator after rounding
/// and encode as `(0, 0)`; `None` when `m` is too large (shift would be negative).
pub fn encode_multiplier(m: f64) -> Option<(i32, u32)> {
    if m.is_nan() || m < 2f64.powi(-32) {
        return Some((0, 0));
    }
    let mut e = m.log2().floor() as i32;
    // Guard against log2 rounding: keep m * 2^(30-e) inside [2^30, 2^31).
    while m * 2f64.powi(30 - e) >= 2f64.powi(31) {
        e += 1;
    }
    while m * 2f64.powi(30 - e) < 2f64.powi(30) {
        e -= 1;
    }
    let mut mult = (m * 2f64.powi(30 - e)).round() as i64;
    if mult == 1 << 31 {
        mult = 1 << 30;
        e += 1;
    }
    let shift = 30 - e;
    if shift < 0 {
        return None;
    }
    if shift > MAX_SHIFT as i32 {
        return Some((0, 0));
    }
    Some((mult as i32, shift as u32))
}

/// The real factor `mult * 2^-shift`.
pub fn decode_multiplier(mult: i32, shift: u32) -> f64 {
    f64::from(mult) * 2f64.powi(-(shift as i32))
}

fn check_finite(name: &str, v: &[f32]) -> Result<(), QuantizeError> {
    if v.iter().all(|x| x.is_finite()) {
        Ok(())
    } else {
        Err(QuantizeError::NonFinite {
            tensor: name.to_owned(),
        })
    }
}

fn q16(name: &str, v: f64) -> Result<i32, QuantizeError> {
    let q = (v * f64::from(1u32 << PRE_FRAC)).round();
    if q.abs() > f64::from(i32::MAX) {
        return Err(QuantizeError::ValueOutOfRange {
            tensor: name.to_owned(),
            value: v,
        });
    }
    Ok(q as i32)
}

/// Quantizes `w x + bias` for Q15 inputs and a Q16 result. With `mean_x` (the mean of the
/// inputs on calibration data) the bias absorbs the mean error of the rounded weights.
pub fn quantize_dense(
    name: &str,
    w: &Matrix,
    bias: &[f32],
    mean_x: Option<&[f64]>,
) -> Result<QuantDense, QuantizeError> {
    check_finite(name, &w.data)?;
    check_finite(name, bias)?;
    let mut out = QuantDense {
        weight: Vec::with_capacity(w.data.len()),
        mult: Vec::with_capacity(w.rows),
        shift: Vec::with_capacity(w.rows),
        bias: Vec::with_capacity(w.rows),
    };
    for (i, &b0) in bias.iter().enumerate().take(w.rows) {
        let row = w.row(i);
        let max = row.iter().fold(0f64, |m, &x| m.max(f64::from(x).abs()));
        let scale = max / 127.0;
        // acc · scale · 2^-15 in Q16 is acc · 2·scale.
        let (mult, shift) =
            encode_multiplier(2.0 * scale).ok_or_else(|| QuantizeError::ScaleOutOfRange {
                tensor: name.to_owned(),
                row: i,
            })?;
        let eff = decode_multiplier(mult, shift) / 2.0; // the scale the runtime applies
        let mut b = f64::from(b0);
        for (j, &x) in row.iter().enumerate() {
            let q = if mult == 0 {
                0
            } else {
                (f64::from(x) / scale).round().clamp(-127.0, 127.0) as i8
            };
            out.weight.push(q);
            if let Some(mx) = mean_x {
                b += (f64::from(x) - f64::from(q) * eff) * mx[j];
            }
        }
        out.mult.push(mult);
        out.shift.push(shift as i8);
        out.bias.push(q16(name, b)?);
    }
    Ok(out)
}

/// Layer 0's input table `[V, 3H]`: per token `W_ih0 · embed[tok] + b_ih0` as `i16` with the
/// most fractional bits (at most 16) that fit the largest entry. Returns the table and its
/// `frac_bits`.
pub fn input_table(gru: &FloatGru) -> Result<(Vec<i16>, i32), QuantizeError> {
    let l0 = &gru.layers[0];
    check_finite("embed.weight", &gru.embed.data)?;
    check_finite("rnn.weight_ih_l0", &l0.w_ih.data)?;
    check_finite("rnn.bias_ih_l0", &l0.b_ih)?;
    let g = l0.w_ih.rows;
    let mut vals = Vec::with_capacity(gru.vocab_size * g);
    for t in 0..gru.vocab_size {
        let e = gru.embed.row(t);
        for i in 0..g {
            let dot: f64 = l0
                .w_ih
                .row(i)
                .iter()
                .zip(e)
                .map(|(&a, &b)| f64::from(a) * f64::from(b))
                .sum();
            vals.push(dot + f64::from(l0.b_ih[i]));
        }
    }
    let max = vals.iter().fold(0f64, |m, &x| m.max(x.abs()));
    if max > 32767.0 {
        return Err(QuantizeError::ValueOutOfRange {
            tensor: names::INPUT_TABLE.to_owned(),
            value: max,
        });
    }
    let mut frac = PRE_FRAC as i32;
    while frac > 0 && (max * f64::from(1u32 << frac)).round() > 32767.0 {
        frac -= 1;
    }
    let scale = f64::from(1u32 << frac);
    Ok((
        vals.iter()
            .map(|&v| (v * scale).round().clamp(-32767.0, 32767.0) as i16)
            .collect(),
        frac,
    ))
}

/// Mean layer inputs on the calibration streams: per layer `k` the mean of the input of
/// `W_ih` and of `h_prev`, and the mean top hidden vector (projection input).
#[derive(Debug, Clone, Default)]
struct Means {
    x: Vec<Vec<f64>>,
    h: Vec<Vec<f64>>,
    top: Vec<f64>,
    steps: usize,
}

fn calibrate(gru: &FloatGru, calib: &[Vec<u32>]) -> Result<Means, QuantizeError> {
    let l = gru.layers.len();
    let hd = gru.hidden;
    let mut m = Means {
        x: gru
            .layers
            .iter()
            .map(|ly| vec![0.0; ly.w_ih.cols])
            .collect(),
        h: vec![vec![0.0; hd]; l],
        top: vec![0.0; hd],
        steps: 0,
    };
    let mut logits = vec![0f32; gru.vocab_size];
    for seq in calib {
        let mut state = gru.zero_state();
        for &tok in seq {
            if tok as usize >= gru.vocab_size {
                return Err(QuantizeError::CalibToken {
                    token: tok,
                    vocab: gru.vocab_size,
                });
            }
            gru.step_observed(&mut state, tok, &mut logits, &mut |k, x, h| {
                if k == l {
                    m.top
                        .iter_mut()
                        .zip(x)
                        .for_each(|(a, &b)| *a += f64::from(b));
                } else {
                    m.x[k]
                        .iter_mut()
                        .zip(x)
                        .for_each(|(a, &b)| *a += f64::from(b));
                    m.h[k]
                        .iter_mut()
                        .zip(h)
                        .for_each(|(a, &b)| *a += f64::from(b));
                }
            })?;
            m.steps += 1;
        }
    }
    let n = m.steps.max(1) as f64;
    for v in
        m.x.iter_mut()
            .chain(m.h.iter_mut())
            .chain(std::iter::once(&mut m.top))
    {
        v.iter_mut().for_each(|a| *a /= n);
    }
    Ok(m)
}

fn add_dense(
    w: &mut ModelWriter,
    n: names::DenseNames,
    rows: u32,
    cols: u32,
    q: &QuantDense,
) -> Result<(), FormatError> {
    w.add_i8(n.weight.as_str(), &[rows, cols], &q.weight, 0)?;
    w.add_i32(n.mult.as_str(), &[rows], &q.mult, 0)?;
    w.add_i8(n.shift.as_str(), &[rows], &q.shift, 0)?;
    w.add_i32(n.bias.as_str(), &[rows], &q.bias, PRE_FRAC as i32)
}

/// Quantizes a FLOAT model into an INT8 file (the bytes of a complete, validated file).
///
/// `calib` holds token streams, each fed from a zero state exactly as given (start them
/// with `<BOS>`, as the evaluation convention does); with
/// [`QuantizeOptions::bias_correction`] their mean activations correct the biases, and
/// an empty `calib` simply skips that correction.
pub fn quantize(
    float: &Model<'_>,
    calib: &[Vec<u32>],
    opts: &QuantizeOptions,
) -> Result<Vec<u8>, QuantizeError> {
    let gru = FloatGru::from_model(float)?;
    let hy = float.hyper();
    quantize_gru(&gru, hy, calib, opts)
}

/// [`quantize`] from an in-memory float model with the header fields of `hy`.
pub fn quantize_gru(
    gru: &FloatGru,
    hy: Hyper,
    calib: &[Vec<u32>],
    opts: &QuantizeOptions,
) -> Result<Vec<u8>, QuantizeError> {
    if hy.hidden_dim as usize > MAX_COLS {
        return Err(QuantizeError::HiddenTooWide {
            hidden: hy.hidden_dim,
        });
    }
    let means = if opts.bias_correction && !calib.is_empty() {
        Some(calibrate(gru, calib)?)
    } else {
        None
    };
    let (v, h) = (hy.vocab_size, hy.hidden_dim);
    let g = 3 * h;
    let mut w = ModelWriter::new(
        Hyper {
            weights: WeightsKind::Int8,
            ..hy
        },
        &gru.chars,
    )?;
    let (table, frac) = input_table(gru)?;
    w.add_i16(names::INPUT_TABLE, &[v, g], &table, frac)?;
    for (k, layer) in gru.layers.iter().enumerate() {
        let k32 = k as u32;
        if k > 0 {
            let name = format!("rnn.weight_ih_l{k}");
            let mx = means.as_ref().map(|m| m.x[k].as_slice());
            let q = quantize_dense(&name, &layer.w_ih, &layer.b_ih, mx)?;
            add_dense(&mut w, names::ih(k32), g, h, &q)?;
        }
        let name = format!("rnn.weight_hh_l{k}");
        // b_hn sits inside r ⊙ (W_hn h + b_hn): correcting it there is still exact in mean.
        let mh = means.as_ref().map(|m| m.h[k].as_slice());
        let q = quantize_dense(&name, &layer.w_hh, &layer.b_hh, mh)?;
        add_dense(&mut w, names::hh(k32), g, h, &q)?;
    }
    let mt = means.as_ref().map(|m| m.top.as_slice());
    let q = quantize_dense("proj.weight", &gru.proj_w, &gru.proj_b, mt)?;
    add_dense(&mut w, names::proj(), v, h, &q)?;
    let bytes = w.to_bytes()?;
    // Prove the runtime accepts what we wrote.
    let aligned = mynah_format::AlignedBytes::copy_from(&bytes);
    let model = aligned
        .model()
        .map_err(|e| QuantizeError::Verify(e.to_string()))?;
    HostIntModel::new(&model).map_err(|e| QuantizeError::Verify(e.to_string()))?;
    Ok(bytes)
}

/// How the quantized model compares with the float one on some token streams.
pub fn agreement(
    float: &FloatGru,
    int8_file: &[u8],
    streams: &[Vec<u32>],
) -> Result<Agreement, QuantizeError> {
    let aligned = mynah_format::AlignedBytes::copy_from(int8_file);
    let model = aligned.model()?;
    let int = HostIntModel::new(&model).map_err(|e| QuantizeError::Verify(e.to_string()))?;
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
}
