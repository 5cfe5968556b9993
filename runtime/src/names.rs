//! Names of the tensors of a quantized (INT8 or INT4) file (the tables in
//! `runtime/QUANTIZATION.md`; the format checks them with `mynah_format::layout::table`).

use mynah_format::TensorName;

/// `[V, G·H]` `i16`: per token, `W_ih0 · embed[tok] + b_ih0`, `frac_bits` in `0..=16`.
pub const INPUT_TABLE: &str = "rnn.input_table";
/// `[V, E]` `i8`: a factored model's embedding, value `q · 2^-frac_bits`.
pub const EMBED: &str = "rnn.embed";
/// Prefix of layer k's `[G·H, H]` input weights (layers 1 and up; layer 0 of a factored
/// model too, `[G·H, E]`), `i8` or `i4`.
pub const WEIGHT_IH: &str = "rnn.weight_ih_l";
/// Prefix of layer k's `[3H]` `i32` input-product multipliers (layers 1 and up).
pub const MULT_IH: &str = "rnn.mult_ih_l";
/// Prefix of layer k's `[3H]` `i8` input-product shifts (layers 1 and up).
pub const SHIFT_IH: &str = "rnn.shift_ih_l";
/// Prefix of layer k's `[3H]` `i32` Q16 input bias (layers 1 and up).
pub const BIAS_IH: &str = "rnn.bias_ih_l";
/// Prefix of layer k's `[3H, H]` `i8` recurrent weights.
pub const WEIGHT_HH: &str = "rnn.weight_hh_l";
/// Prefix of layer k's `[3H]` `i32` recurrent-product multipliers.
pub const MULT_HH: &str = "rnn.mult_hh_l";
/// Prefix of layer k's `[3H]` `i8` recurrent-product shifts.
pub const SHIFT_HH: &str = "rnn.shift_hh_l";
/// Prefix of layer k's `[3H]` `i32` Q16 recurrent bias (`b_hn` stays inside `r ⊙ (…)`).
pub const BIAS_HH: &str = "rnn.bias_hh_l";
/// `[context·V, H]` `i16`: the n-gram's hidden product per (position, token), the hidden
/// bias folded into the newest position, `frac_bits` in `0..=16`.
pub const NGRAM_TABLE: &str = "ngram.input_table";
/// `[1]` `i8`: ReLU hidden activations are Q15 of `value / 2^exp` (0 for tanh).
pub const NGRAM_HIDDEN_EXP: &str = "ngram.hidden_exp";
/// `[V, H]` `i8` output projection.
pub const PROJ_WEIGHT: &str = "proj.weight";
/// `[V]` `i32` output-projection multipliers.
pub const PROJ_MULT: &str = "proj.mult";
/// `[V]` `i8` output-projection shifts.
pub const PROJ_SHIFT: &str = "proj.shift";
/// `[V]` `i32` Q16 output bias.
pub const PROJ_BIAS: &str = "proj.bias";

/// The four tensors of one int8 matrix product.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DenseNames {
    /// `i8` weights, `[rows, cols]`.
    pub weight: TensorName,
    /// `i32` multipliers, `[rows]`.
    pub mult: TensorName,
    /// `i8` shifts, `[rows]`.
    pub shift: TensorName,
    /// `i32` Q16 bias, `[rows]`.
    pub bias: TensorName,
}

/// Layer `k`'s input product (k >= 1; k = 0 in a factored model).
pub fn ih(k: u32) -> DenseNames {
    DenseNames {
        weight: TensorName::with_layer(WEIGHT_IH, k),
        mult: TensorName::with_layer(MULT_IH, k),
        shift: TensorName::with_layer(SHIFT_IH, k),
        bias: TensorName::with_layer(BIAS_IH, k),
    }
}

/// Layer `k`'s recurrent product.
pub fn hh(k: u32) -> DenseNames {
    DenseNames {
        weight: TensorName::with_layer(WEIGHT_HH, k),
        mult: TensorName::with_layer(MULT_HH, k),
        shift: TensorName::with_layer(SHIFT_HH, k),
        bias: TensorName::with_layer(BIAS_HH, k),
    }
}

/// The output projection.
pub fn proj() -> DenseNames {
    DenseNames {
        weight: TensorName::new(PROJ_WEIGHT),
        mult: TensorName::new(PROJ_MULT),
        shift: TensorName::new(PROJ_SHIFT),
        bias: TensorName::new(PROJ_BIAS),
    }
}
