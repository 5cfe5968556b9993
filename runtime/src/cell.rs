//! The recurrent cells: the one place where a GRU, an LSTM and a tanh RNN differ. Each says
//! how many gate rows it has, what memory a stream keeps beyond its hidden vectors, how its
//! step's work rows are laid out, and its gate math. Everything else (the matrix products,
//! the token table, loading, sampling) is shared.
//!
//! The cell is a type parameter ([`crate::IntModel`]`<C, ..>`), so a firmware for one model
//! links only that model's gate math.

use core::fmt::Debug;

use mynah_format::Cell as CellKind;

use crate::kernels::{
    gru_units_rows, mul_q15, round_shift, sigmoid_q15, tanh_q15, ACT_FRAC, ACT_MAX, PRE_FRAC,
};

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Gru {}
    impl Sealed for super::Lstm {}
    impl Sealed for super::Rnn {}
}

/// A recurrent cell of the integer runtime. Implemented by [`Gru`], [`Lstm`] and [`Rnn`].
pub trait Cell: sealed::Sealed + Copy + Debug + Default + Eq + 'static {
    /// Which cell this is in a model file.
    const KIND: CellKind;
    /// Gate rows per hidden unit (3, 4, 1): the matrices have `GATES · hidden` rows.
    const GATES: usize;
    /// Whether the last gate's recurrent product stays apart from its input product (the
    /// GRU's reset gate multiplies only `W_hn h + b_hn`), in the row after the input
    /// products; every other gate's recurrent product is added to its input product as soon
    /// as it is computed.
    const SEPARATE_RECURRENT: bool;
    /// Work rows of `hidden` `i32` a step uses ([`Cell::Rows`]): 4, 5, 2.
    const ROWS: usize;
    /// Whether a stream keeps a cell state beyond its hidden vectors (the LSTM's).
    const MEMORY: bool;
    /// What a stream keeps per layer beyond its hidden vector: the LSTM's cell state
    /// (`[[i32; H]; L]`, Q16), nothing for the others ([`NoMemory`]).
    type Memory<const H: usize, const L: usize>: AsRef<[[i32; H]]>
        + AsMut<[[i32; H]]>
        + Clone
        + Debug
        + PartialEq
        + Eq;
    /// The step's Q16 work rows: the input products of each gate, then one row for the
    /// recurrent product of the gate at hand (GRU: 3 + 1, where it keeps `W_hn h + b_hn`;
    /// LSTM: 4 + 1, RNN: 1 + 1).
    type Rows<const H: usize>: AsRef<[[i32; H]]> + AsMut<[[i32; H]]> + Clone + Debug;

    /// The zero memory of a stream.
    fn zero_memory<const H: usize, const L: usize>() -> Self::Memory<H, L>;
    /// Zeroed work rows.
    fn zero_rows<const H: usize>() -> Self::Rows<H>;

    /// Updates one layer's hidden units `h` (Q15) and memory `c` in place from the gate
    /// pre-activations (Q16, biases included) in `rows`, row `r` at `r · stride`: rows
    /// `0..GATES` hold the input products with the recurrent products added (but the last
    /// gate's if [`Cell::SEPARATE_RECURRENT`]: row `GATES` holds it, GRU only). Only the
    /// first `h.len()` units are touched; units past a short row are left as they are.
    fn units(h: &mut [i16], c: &mut [i32], rows: &[i32], stride: usize);
}

/// Row `r` of `rows` (rows `stride` apart), `n` entries (fewer at the end of `rows`).
#[inline(always)]
fn row(rows: &[i32], r: usize, stride: usize, n: usize) -> &[i32] {
    let start = r.saturating_mul(stride);
    let rest = rows.get(start..).unwrap_or(&[]);
    rest.get(..n).unwrap_or(rest)
}

/// The memory of a cell that keeps nothing beyond its hidden vector: no bytes, and no
/// alignment (an empty `[[i32; H]; 0]` would still align the state to 4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoMemory;

impl<const H: usize> AsRef<[[i32; H]]> for NoMemory {
    fn as_ref(&self) -> &[[i32; H]] {
        &[]
    }
}

impl<const H: usize> AsMut<[[i32; H]]> for NoMemory {
    fn as_mut(&mut self) -> &mut [[i32; H]] {
        &mut []
    }
}

/// PyTorch's `nn.GRU`: `r = σ(W_ir x + b_ir + W_hr h + b_hr)`,
/// `z = σ(W_iz x + b_iz + W_hz h + b_hz)`, `n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))`,
/// `h' = (1 − z) ⊙ n + z ⊙ h`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Gru;

/// PyTorch's `nn.LSTM` (gates i, f, g, o): `i = σ(..)`, `f = σ(..)`, `g = tanh(..)`,
/// `o = σ(..)`, each of `W_i· x + b_i· + W_h· h + b_h·`; `c' = f ⊙ c + i ⊙ g`,
/// `h' = o ⊙ tanh(c')`. The cell state is `i32` Q16 ([`CELL_MAX`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lstm;

/// PyTorch's `nn.RNN` with its default tanh: `h' = tanh(W_ih x + b_ih + W_hh h + b_hh)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rnn;

/// Largest magnitude of the LSTM's Q16 cell state: 32767.98 in real terms. It keeps
/// `round(f·c / 2^15) + round(i·g / 2^14)` inside `i32` (the first term is at most `|c|`,
/// the second at most 65536). Since `|c'| ≤ |c| + 1` in real terms from a zero state, the
/// clamp can only act after more than 32767 steps of a forget gate at 1.
pub const CELL_MAX: i32 = i32::MAX - (1 << 16);

impl Cell for Gru {
    const KIND: CellKind = CellKind::Gru;
    const GATES: usize = 3;
    const SEPARATE_RECURRENT: bool = true;
    const ROWS: usize = 4;
    const MEMORY: bool = false;
    type Memory<const H: usize, const L: usize> = NoMemory;
    type Rows<const H: usize> = [[i32; H]; 4];

    fn zero_memory<const H: usize, const L: usize>() -> Self::Memory<H, L> {
        NoMemory
    }

    fn zero_rows<const H: usize>() -> Self::Rows<H> {
        // A constant, so that the scratch is zeroed in place rather than built in a
        // temporary and copied (which costs its size again in stack on a device).
        const { [[0; H]; 4] }
    }

    #[inline]
    fn units(h: &mut [i16], _c: &mut [i32], rows: &[i32], stride: usize) {
        let n = h.len();
        let (r, z) = (row(rows, 0, stride, n), row(rows, 1, stride, n));
        let (nn, hn) = (row(rows, 2, stride, n), row(rows, 3, stride, n));
        gru_units_rows(h, [r, z, nn], hn);
    }
}

impl Cell for Lstm {
    const KIND: CellKind = CellKind::Lstm;
    const GATES: usize = 4;
    const SEPARATE_RECURRENT: bool = false;
    const ROWS: usize = 5;
    const MEMORY: bool = true;
    type Memory<const H: usize, const L: usize> = [[i32; H]; L];
    type Rows<const H: usize> = [[i32; H]; 5];

    fn zero_memory<const H: usize, const L: usize>() -> Self::Memory<H, L> {
        const { [[0; H]; L] }
    }

    fn zero_rows<const H: usize>() -> Self::Rows<H> {
        // A constant, so that the scratch is zeroed in place rather than built in a
        // temporary and copied (which costs its size again in stack on a device).
        const { [[0; H]; 5] }
    }

    #[inline]
    fn units(h: &mut [i16], c: &mut [i32], rows: &[i32], stride: usize) {
        let n = h.len();
        let (gi_i, gi_f) = (row(rows, 0, stride, n), row(rows, 1, stride, n));
        let (gi_g, gi_o) = (row(rows, 2, stride, n), row(rows, 3, stride, n));
        let units = h
            .iter_mut()
            .zip(c.iter_mut())
            .zip(gi_i.iter().zip(gi_f))
            .zip(gi_g.iter().zip(gi_o));
        for (((hp, cp), (&pi, &pf)), (&pg, &po)) in units {
            (*hp, *cp) = lstm_unit(pi, pf, pg, po, *cp);
        }
    }
}

/// One LSTM unit from its four Q16 gate pre-activations and its Q16 cell state: the new
/// hidden value (Q15) and cell state.
///
/// `f·c` (Q15 × Q16) and `i·g` (Q15 × Q15) are rounded to Q16 half away from zero; the sum
/// is clamped to `±CELL_MAX`; `h' = round(o · tanh(c') / 2^15)`.
#[inline(always)]
pub fn lstm_unit(pi: i32, pf: i32, pg: i32, po: i32, c: i32) -> (i16, i32) {
    let i = sigmoid_q15(pi);
    let f = sigmoid_q15(pf);
    let g = i32::from(tanh_q15(pg, PRE_FRAC));
    let o = sigmoid_q15(po);
    // |f·c| ≤ 2^15 · 2^31 < 2^62 and |i·g| < 2^30: both shifts are in range.
    let fc = round_shift(i64::from(f) * i64::from(c), ACT_FRAC);
    let ig = round_shift(i64::from(i) * i64::from(g), 2 * ACT_FRAC - PRE_FRAC);
    let cell = (fc + ig).clamp(-i64::from(CELL_MAX), i64::from(CELL_MAX)) as i32;
    let t = i32::from(tanh_q15(cell, PRE_FRAC));
    // o ≤ 32768 and |t| ≤ 32767, so |o·t / 2^15| ≤ 32767.
    let h = mul_q15(o, t).clamp(-ACT_MAX, ACT_MAX) as i16;
    (h, cell)
}

impl Cell for Rnn {
    const KIND: CellKind = CellKind::Rnn;
    const GATES: usize = 1;
    const SEPARATE_RECURRENT: bool = false;
    const ROWS: usize = 2;
    const MEMORY: bool = false;
    type Memory<const H: usize, const L: usize> = NoMemory;
    type Rows<const H: usize> = [[i32; H]; 2];

    fn zero_memory<const H: usize, const L: usize>() -> Self::Memory<H, L> {
        NoMemory
    }

    fn zero_rows<const H: usize>() -> Self::Rows<H> {
        // A constant, so that the scratch is zeroed in place rather than built in a
        // temporary and copied (which costs its size again in stack on a device).
        const { [[0; H]; 2] }
    }

    #[inline]
    fn units(h: &mut [i16], _c: &mut [i32], rows: &[i32], _stride: usize) {
        for (hp, &x) in h.iter_mut().zip(rows) {
            *hp = tanh_q15(x, PRE_FRAC);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q16(x: f64) -> i32 {
        (x * 65536.0).round() as i32
    }

    fn sigmoid(x: f64) -> f64 {
        1.0 / (1.0 + (-x).exp())
    }

    #[test]
    fn lstm_unit_follows_the_float_cell() {
        let mut worst = (0.0f64, 0.0f64);
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64 * 16.0 - 8.0
        };
        for _ in 0..20_000 {
            let (pi, pf, pg, po, c) = (next(), next(), next(), next(), next() * 2.0);
            let (h, cell) = lstm_unit(q16(pi), q16(pf), q16(pg), q16(po), q16(c));
            let c2 = sigmoid(pf) * c + sigmoid(pi) * pg.tanh();
            let h2 = sigmoid(po) * c2.tanh();
            worst.0 = worst.0.max((f64::from(cell) / 65536.0 - c2).abs());
            worst.1 = worst.1.max((f64::from(h) / 32768.0 - h2).abs());
        }
        // Sigmoid and tanh are within ~1.2 LSB of Q15; c carries the forget gate's error
        // times |c| ≤ 16, and h carries c's error (tanh' ≤ 1) plus a few LSB of its own.
        assert!(worst.0 < 16.0 * 3.0 / 32768.0 + 2.0 / 65536.0, "{worst:?}");
        assert!(worst.1 < worst.0 + 4.0 / 32768.0, "{worst:?}");
    }

    #[test]
    fn lstm_cell_state_saturates_at_its_extremes() {
        let big = q16(20.0);
        // A forget gate at 1 and an input of +1 every step: the state grows by about 1 and
        // stops at CELL_MAX, never wrapping.
        let (h, c) = lstm_unit(big, big, big, big, CELL_MAX);
        assert_eq!(c, CELL_MAX);
        assert_eq!(h, 32767);
        let (h, c) = lstm_unit(big, big, -big, big, -CELL_MAX);
        assert_eq!(c, -CELL_MAX);
        assert_eq!(h, -32767);
        // Every pre-activation extreme, every cell-state extreme: defined results in range.
        for &p in &[i32::MIN, -big, 0, big, i32::MAX] {
            for &c in &[-CELL_MAX, -1, 0, 1, CELL_MAX] {
                let (h, c2) = lstm_unit(p, p, p, p, c);
                assert!((-32767..=32767).contains(&h));
                assert!((-CELL_MAX..=CELL_MAX).contains(&c2));
            }
        }
    }

    #[test]
    fn rnn_units_are_tanh() {
        let mut h = [0i16; 3];
        let gi = [q16(0.5), q16(-9.0), 0];
        Rnn::units(&mut h, &mut [], &gi, 3);
        assert_eq!(h[1], -32767);
        assert_eq!(h[2], 0);
        assert!((f64::from(h[0]) / 32768.0 - 0.5f64.tanh()).abs() < 2.0 / 32768.0);
    }
}
