//! One matrix product quantized: per-row scales as a multiplier and a shift, `i8` or `i4`
//! weights, Q16 biases with bias correction; and a factored model's `i8` embedding.

use mynah_runtime::kernels::MAX_SHIFT;
use mynah_runtime::kernels::PRE_FRAC;

use super::QuantizeError;
use crate::reference::Matrix;

/// The integer weights of a quantized file: `i8` in `[-127, 127]` (INT8) or `i4` in
/// `[-7, 7]` (INT4, two per byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum QuantDtype {
    /// `i8` weights, one scale per row: `s = max|w| / 127`.
    #[default]
    Int8,
    /// `i4` weights, one scale per row: `s = max|w| / 7`.
    Int4,
}

impl QuantDtype {
    /// The largest stored magnitude: a row's `max|w|` maps to it.
    pub const fn levels(self) -> i8 {
        match self {
            QuantDtype::Int8 => 127,
            QuantDtype::Int4 => 7,
        }
    }

    /// The file's weights kind.
    pub const fn weights_kind(self) -> mynah_format::WeightsKind {
        match self {
            QuantDtype::Int8 => mynah_format::WeightsKind::Int8,
            QuantDtype::Int4 => mynah_format::WeightsKind::Int4,
        }
    }

    /// `int8` or `int4` (the `--dtype` names).
    pub const fn name(self) -> &'static str {
        match self {
            QuantDtype::Int8 => "int8",
            QuantDtype::Int4 => "int4",
        }
    }

    /// The dtype called `name` (`int8`, `int4`).
    pub fn from_name(name: &str) -> Option<QuantDtype> {
        [QuantDtype::Int8, QuantDtype::Int4]
            .into_iter()
            .find(|d| d.name() == name)
    }
}

impl std::fmt::Display for QuantDtype {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One quantized matrix product: `i8` (or `i4`) weights, per-row multiplier and shift, Q16
/// bias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuantDense {
    /// Row-major weights in `[-127, 127]` (`i8`) or `[-7, 7]` (`i4`, one per element here;
    /// the writer packs them).
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

pub(super) fn check_finite(name: &str, v: &[f32]) -> Result<(), QuantizeError> {
    if v.iter().all(|x| x.is_finite()) {
        Ok(())
    } else {
        Err(QuantizeError::NonFinite {
            tensor: name.to_owned(),
        })
    }
}

pub(super) fn q16(name: &str, v: f64) -> Result<i32, QuantizeError> {
    let q = (v * f64::from(1u32 << PRE_FRAC)).round();
    if q.abs() > f64::from(i32::MAX) {
        return Err(QuantizeError::ValueOutOfRange {
            tensor: name.to_owned(),
            value: v,
        });
    }
    Ok(q as i32)
}

/// A matrix's inputs, as the runtime sees them: the scale of their Q15 integers and their
/// means on calibration data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DenseInput<'a> {
    /// The real value of a Q15 input `x` is `x / 32768 · scale`: 1 for the hidden states
    /// (and every layer input), `2^(7 - f)` for a factored model's embedding of
    /// `frac_bits` `f`, widened as `q << 8`.
    pub scale: f64,
    /// The mean float input per column on calibration data (bias correction), if any.
    pub mean: Option<&'a [f64]>,
    /// The mean of the inputs the runtime sees, when they are rounded themselves (a
    /// factored model's embedding); `None`: the same as `mean`.
    pub mean_seen: Option<&'a [f64]>,
}

impl DenseInput<'_> {
    /// Q15 activations (scale 1) with no calibration.
    pub const ACTIVATIONS: DenseInput<'static> = DenseInput {
        scale: 1.0,
        mean: None,
        mean_seen: None,
    };
}

/// Quantizes `w x + bias` for Q15 inputs and a Q16 result, `i8` weights. With `mean_x`
/// (the mean of the inputs on calibration data) the bias absorbs the mean error of the
/// rounded weights.
pub fn quantize_dense(
    name: &str,
    w: &Matrix,
    bias: &[f32],
    mean_x: Option<&[f64]>,
) -> Result<QuantDense, QuantizeError> {
    let input = DenseInput {
        mean: mean_x,
        ..DenseInput::ACTIVATIONS
    };
    quantize_dense_as(name, w, bias, &input, QuantDtype::Int8)
}

/// A matrix's integer codes and the real scale of each row (`q · scale`), before the
/// scales become multipliers: what rounding chose, and what the trainer may tune.
#[derive(Debug, Clone, PartialEq)]
pub struct RoundedRows {
    /// Row-major codes in `[-L, L]`.
    pub codes: Vec<i8>,
    /// One scale per row (0 for an all-zero row).
    pub scales: Vec<f64>,
}

impl RoundedRows {
    /// Per row `s = max|w| / L` and `q = clamp(round(w / s), ±L)`, rounded half away from
    /// zero.
    pub fn nearest(w: &Matrix, dtype: QuantDtype) -> RoundedRows {
        RoundedRows::with(w, dtype, |_, row, s, levels| nearest_codes(row, s, levels))
    }

    /// Per row `s = max|w| / L` and the codes `round_row(row index, row, s, L)` gives.
    pub fn with(
        w: &Matrix,
        dtype: QuantDtype,
        mut round_row: impl FnMut(usize, &[f32], f64, f64) -> Vec<i8>,
    ) -> RoundedRows {
        let levels = f64::from(dtype.levels());
        let mut out = RoundedRows {
            codes: Vec::with_capacity(w.data.len()),
            scales: Vec::with_capacity(w.rows),
        };
        for i in 0..w.rows {
            let row = w.row(i);
            let max = row.iter().fold(0f64, |m, &x| m.max(f64::from(x).abs()));
            let s = max / levels;
            if s > 0.0 {
                out.codes.extend(round_row(i, row, s, levels));
            } else {
                out.codes.extend(std::iter::repeat_n(0, row.len()));
            }
            out.scales.push(s);
        }
        out
    }

    /// Refuses codes and scales that do not fit a `rows × cols` matrix (codes beyond ±127,
    /// negative or non-finite scales): they may come from outside this crate.
    fn check(&self, name: &str, rows: usize, cols: usize) -> Result<(), QuantizeError> {
        let fail = |reason: String| QuantizeError::Rounding {
            tensor: name.to_owned(),
            reason,
        };
        if self.codes.len() != rows * cols || self.scales.len() != rows {
            return Err(fail(format!(
                "{} codes and {} scales for a {rows}×{cols} matrix",
                self.codes.len(),
                self.scales.len()
            )));
        }
        if self.codes.contains(&i8::MIN) {
            return Err(fail("a code of -128".into()));
        }
        match self
            .scales
            .iter()
            .position(|s| !(s.is_finite() && *s >= 0.0))
        {
            Some(i) => Err(fail(format!("row {i} has scale {}", self.scales[i]))),
            None => Ok(()),
        }
    }
}

/// Each weight of `row` to its nearest code of scale `s`, clamped to `±levels`.
pub(super) fn nearest_codes(row: &[f32], s: f64, levels: f64) -> Vec<i8> {
    row.iter()
        .map(|&x| (f64::from(x) / s).round().clamp(-levels, levels) as i8)
        .collect()
}

/// Quantizes `w x + bias` with `dtype` weights for inputs described by `input` and a Q16
/// result. Per row: `s = max|w| / L` (`L` = 127 or 7), `q = clamp(round(w / s), ±L)`
/// rounded half away from zero, the runtime factor `M = 2 · s · input.scale` as a
/// multiplier and a shift; the bias in Q16 plus, with calibration means,
/// `Σ_j (w_j · mean_j − q_j · s' · mean_seen_j)` (`s'` the scale the runtime applies): the
/// mean error of the row on the calibration data, its weights' rounding and (for a
/// factored embedding) its inputs' rounding together.
pub fn quantize_dense_as(
    name: &str,
    w: &Matrix,
    bias: &[f32],
    input: &DenseInput<'_>,
    dtype: QuantDtype,
) -> Result<QuantDense, QuantizeError> {
    check_finite(name, &w.data)?;
    quantize_dense_rounded(name, w, bias, input, &RoundedRows::nearest(w, dtype))
}

/// [`quantize_dense_as`] with codes and scales chosen elsewhere (`rounded`); `w` is the
/// float matrix the bias correction of `input`'s means compares them with.
pub fn quantize_dense_rounded(
    name: &str,
    w: &Matrix,
    bias: &[f32],
    input: &DenseInput<'_>,
    rounded: &RoundedRows,
) -> Result<QuantDense, QuantizeError> {
    check_finite(name, &w.data)?;
    check_finite(name, bias)?;
    rounded.check(name, w.rows, w.cols)?;
    let mut out = QuantDense {
        weight: Vec::with_capacity(w.data.len()),
        mult: Vec::with_capacity(w.rows),
        shift: Vec::with_capacity(w.rows),
        bias: Vec::with_capacity(w.rows),
    };
    let seen = input.mean_seen.or(input.mean);
    for (i, &b0) in bias.iter().enumerate().take(w.rows) {
        let row = w.row(i);
        let codes = &rounded.codes[i * w.cols..(i + 1) * w.cols];
        let scale = rounded.scales[i];
        // acc · scale · input.scale · 2^-15 in Q16 is acc · 2·scale·input.scale.
        let (mult, shift) = encode_multiplier(2.0 * scale * input.scale).ok_or_else(|| {
            QuantizeError::ScaleOutOfRange {
                tensor: name.to_owned(),
                row: i,
            }
        })?;
        // The scale the runtime applies.
        let eff = decode_multiplier(mult, shift) / (2.0 * input.scale);
        let mut b = f64::from(b0);
        for (j, (&x, &code)) in row.iter().zip(codes).enumerate() {
            let q = if mult == 0 { 0 } else { code };
            out.weight.push(q);
            if let (Some(mx), Some(ms)) = (input.mean, seen) {
                b += f64::from(x) * mx[j] - f64::from(q) * eff * ms[j];
            }
        }
        out.mult.push(mult);
        out.shift.push(shift as i8);
        out.bias.push(q16(name, b)?);
    }
    Ok(out)
}

/// A factored model's embedding as `i8`: `q = round(e · 2^f)` with `f` the largest
/// number of fractional bits (at most 31) with `max|e| · 2^f <= 127`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuantEmbedding {
    /// Row-major `[V, E]` values in `[-127, 127]`.
    pub q: Vec<i8>,
    /// The fractional bits `f`: `q` stands for `q · 2^-f`.
    pub frac: i32,
}

impl QuantEmbedding {
    /// The real value of `q`.
    pub fn value(&self, q: i8) -> f64 {
        f64::from(q) * 2f64.powi(-self.frac)
    }
}

/// Quantizes a `[V, E]` embedding to `i8` with one power-of-two scale (see
/// [`QuantEmbedding`]); an embedding larger than `127 · 2^31` is out of range.
pub fn quantize_embedding(name: &str, e: &Matrix) -> Result<QuantEmbedding, QuantizeError> {
    check_finite(name, &e.data)?;
    let max = e.data.iter().fold(0f64, |m, &x| m.max(f64::from(x).abs()));
    let (lo, hi) = mynah_format::layout::FRAC_BITS_RANGE;
    let mut frac = hi;
    while frac > lo && max * 2f64.powi(frac) > 127.0 {
        frac -= 1;
    }
    if max * 2f64.powi(frac) > 127.0 {
        return Err(QuantizeError::ValueOutOfRange {
            tensor: name.to_owned(),
            value: max,
        });
    }
    let k = 2f64.powi(frac);
    let q = e
        .data
        .iter()
        .map(|&x| (f64::from(x) * k).round().clamp(-127.0, 127.0) as i8)
        .collect();
    Ok(QuantEmbedding { q, frac })
}
