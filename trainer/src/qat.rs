//! Quantization-aware training (`train --qat int8|int4`): the forward pass sees every weight
//! matrix the export quantizes as the integer runtime will, and the gradients pass straight
//! through to the float weights.
//!
//! Which tensors: the recurrent weights `rnn.weight_hh_l{k}`, the input weights of the upper
//! layers `rnn.weight_ih_l{k}` (k ≥ 1) and `proj.weight`, one symmetric scale per row as
//! `mynah_quant::quantize::quantize_dense` computes it (`s = max|w| / L`, `q = clamp(round(w /
//! s), ±L)`, L = 127 for int8 and 7 for int4, rounded half away from zero in f64). Layer 0's
//! `rnn.weight_ih_l0` and the embedding only when the export is factored (`--factored on`):
//! otherwise they become the exact i16 token table. The n-gram's `hidden.weight` always goes
//! into its table. In a factored file the embedding is i8 with one power-of-two scale: `f`
//! the largest with `max|e| · 2^f ≤ 127`, `q = round(e · 2^f)`.
//!
//! The fake-quantized value is `q · s` computed in f64 and rounded once to f32; the runtime
//! applies `mult · 2^-shift / 2`, within 2^-30 of `s` (relative). The straight-through
//! estimator is written `fq + (w − w.detach())`: exactly `fq` in value (`w − w` is `+0`), the
//! identity in gradient.

use crate::choices::Named;
use mynah_quant::quantize::QuantDtype;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

/// The integer weights of an export: `--qat`, and `--dtype` of a size budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QuantKind {
    /// i8 in `[-127, 127]`.
    Int8,
    /// 4-bit, two per byte, in `[-7, 7]`.
    Int4,
}

impl QuantKind {
    /// The exporter's weight type: its levels, names and weights kind are the quantizer's,
    /// this enum only records the choice in `config.json`.
    pub fn dtype(self) -> QuantDtype {
        match self {
            QuantKind::Int8 => QuantDtype::Int8,
            QuantKind::Int4 => QuantDtype::Int4,
        }
    }

    /// The largest stored magnitude `L`: rows are scaled so that `max|w|` maps to it.
    pub fn levels(self) -> f64 {
        f64::from(self.dtype().levels())
    }
}

impl Named for QuantKind {
    const FLAG: &'static str = "--qat";
    const CHOICES: &'static str = "int8 or int4";
    fn name(self) -> &'static str {
        self.dtype().name()
    }
    fn from_name(name: &str) -> Option<Self> {
        [QuantKind::Int8, QuantKind::Int4]
            .into_iter()
            .find(|k| k.name() == name)
    }
}

impl std::fmt::Display for QuantKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a QAT model fake-quantizes: the kind, and whether the export is factored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QatSpec {
    /// int8 or int4.
    pub kind: QuantKind,
    /// Layer 0's input weights and the embedding are quantized too (no token table).
    pub factored: bool,
}

/// How one tensor is fake-quantized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FakeQuant {
    /// Left as it is (biases, tables, the n-gram's hidden layer).
    None,
    /// One symmetric scale per row, `L` levels.
    Rows(QuantKind),
    /// One power-of-two scale for the whole tensor, i8 (a factored file's embedding).
    Pow2,
}

impl QatSpec {
    /// How the parameter `name` (PyTorch's name) is fake-quantized.
    pub fn of(&self, name: &str) -> FakeQuant {
        let rows = FakeQuant::Rows(self.kind);
        match name {
            "proj.weight" => rows,
            "rnn.weight_ih_l0" | "embed.weight" if !self.factored => FakeQuant::None,
            "rnn.weight_ih_l0" => rows,
            "embed.weight" => FakeQuant::Pow2,
            n if n.starts_with("rnn.weight_") => rows,
            _ => FakeQuant::None,
        }
    }

    /// `w` as the forward pass of a QAT model sees it.
    pub fn apply(&self, name: &str, w: &Tensor) -> Tensor {
        match self.of(name) {
            FakeQuant::None => w.shallow_clone(),
            FakeQuant::Rows(kind) => straight_through(w, &quantize_rows(w, kind)),
            FakeQuant::Pow2 => straight_through(w, &quantize_pow2(w)),
        }
    }
}

/// The value of `fq`, the gradient of `w`.
fn straight_through(w: &Tensor, fq: &Tensor) -> Tensor {
    fq + (w - w.detach())
}

/// Rounds half away from zero, as `f64::round` and the exporter do (libtorch's `round` is
/// half to even). `x − trunc(x)` is exact, so the comparison with one half is too.
pub fn round_half_away(x: &Tensor) -> Tensor {
    let t = x.trunc();
    let up = (x - &t).abs().ge(0.5).to_kind(x.kind());
    t + x.sign() * up
}

/// `encode_multiplier` stores a row whose runtime factor `2s` is below 2^-32 as zeros.
const SMALLEST_SCALE: f64 = 1.0 / 8_589_934_592.0; // 2^-33

/// `q · s` per row of a matrix (no gradient), computed in f64 as the exporter does.
pub fn quantize_rows(w: &Tensor, kind: QuantKind) -> Tensor {
    tch::no_grad(|| {
        let (q, s) = rows_q_and_scale(w, kind);
        (q * s).to_kind(w.kind())
    })
}

/// The integers `q` (f64 tensor) and per-row scales `s` (`[rows, 1]`, f64) of `w`.
pub fn rows_q_and_scale(w: &Tensor, kind: QuantKind) -> (Tensor, Tensor) {
    let levels = kind.levels();
    let wd = w.detach().to_kind(Kind::Double);
    let max = wd.abs().amax([1i64].as_slice(), true);
    let s = max / levels;
    let live = s.ge(SMALLEST_SCALE);
    let safe = s.where_self(&live, &s.ones_like());
    let q = round_half_away(&(&wd / &safe)).clamp(-levels, levels) * live.to_kind(Kind::Double);
    (q, s)
}

/// The exponent `f` of a power-of-two i8 tensor: the largest with `max · 2^f ≤ 127`
/// (within the format's fractional bits, ±31).
pub fn pow2_exponent(max: f64) -> i32 {
    if max.is_nan() || max <= 0.0 {
        return 31;
    }
    let mut f = (127.0 / max).log2().floor().clamp(-31.0, 31.0) as i32;
    while f > -31 && max * 2f64.powi(f) > 127.0 {
        f -= 1;
    }
    while f < 31 && max * 2f64.powi(f + 1) <= 127.0 {
        f += 1;
    }
    f
}

/// `round(e · 2^f) · 2^-f` for the whole tensor (no gradient).
pub fn quantize_pow2(e: &Tensor) -> Tensor {
    tch::no_grad(|| {
        let ed = e.detach().to_kind(Kind::Double);
        let f = pow2_exponent(ed.abs().max().double_value(&[]));
        let k = 2f64.powi(f);
        (round_half_away(&(ed * k)).clamp(-127.0, 127.0) / k).to_kind(e.kind())
    })
}

#[cfg(test)]
#[path = "qat_tests.rs"]
mod tests;
