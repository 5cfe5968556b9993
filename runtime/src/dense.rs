//! One quantized matrix product ([`Dense`]) read in place from a model file, the checks
//! that load it, and the kernel that runs it on each target.

use mynah_format::{DType, Model, Shape, TensorName};

#[cfg(any(test, mynah_dsp))]
use crate::kernels::{matvec_acc_i4_xp, matvec_acc_xp, requantize_in_range};
#[cfg(any(test, not(mynah_dsp)))]
use crate::kernels::{matvec_requant, matvec_requant_i4};
use crate::kernels::{
    nibbles, requantize_bound, QuantRows, QuantRows4, Xp, XpMut, MAX_SHIFT, PRE_FRAC, PRE_MAX,
};
use crate::names;
use crate::{forms, RuntimeError};

/// The weights of a [`Dense`]: `i8` (INT8 files) or packed `i4` (INT4 files).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Weights<'a> {
    /// Row-major `[rows, cols]`, `i8` in `[-127, 127]` as the quantizer writes them.
    I8(&'a [i8]),
    /// Row-major `[rows, cols]`, two per byte, rows of `ceil(cols / 2)` bytes.
    I4(&'a [u8]),
}

/// One int8 or int4 matrix with its per-row requantization and Q16 bias, borrowed from the
/// file. (The weights' bytes and their kind are kept apart, the kind next to the column
/// count, so that a model of four layers stays within `MYNAH_MODEL_BYTES` of the C ABI.)
#[derive(Clone, Copy, Debug)]
pub(crate) struct Dense<'a> {
    /// The weights' bytes: `i8`s, or packed `i4`s when `i4`.
    w: &'a [u8],
    /// Per-row multiplier: the real factor is `mult * 2^-shift`.
    mult: &'a [i32],
    /// Per-row shift, validated to `0..=62`.
    shift: &'a [i8],
    /// Per-row Q16 bias.
    bias: &'a [i32],
    /// Columns (at most 512).
    cols: u32,
    /// Whether the weights are packed `i4`.
    i4: bool,
}

impl<'a> Dense<'a> {
    pub(crate) const EMPTY: Dense<'static> = Dense {
        w: &[],
        mult: &[],
        shift: &[],
        bias: &[],
        cols: 0,
        i4: false,
    };

    /// The weights, by kind.
    #[inline]
    fn weights(&self) -> Weights<'a> {
        if self.i4 {
            Weights::I4(self.w)
        } else {
            Weights::I8(bytemuck::cast_slice(self.w))
        }
    }

    /// `out[i] = (W x)[first + i]` in Q16 (bias included) for `out.len()` rows, for a Q15 `x`
    /// of length `cols`; `xp` holds `x` as [`Dense::prepare`] left it on targets whose kernel
    /// reads it. Identical results on every target. `F` ([`crate::forms`]) is the forms the
    /// model type runs: the kernels of weights outside it are not compiled in.
    #[inline]
    pub(crate) fn matvec<const F: u8>(&self, x: &[i16], xp: Xp<'_>, first: usize, out: &mut [i32]) {
        let i4 = forms::int4(F, self.i4);
        #[cfg(mynah_dsp)]
        {
            let _ = x;
            self.matvec_reordered(i4, xp, first, out);
        }
        #[cfg(not(mynah_dsp))]
        {
            let _ = xp;
            self.matvec_rows(i4, x, first, out);
        }
    }

    /// Makes `xp` hold `x` in the order [`Dense::matvec`]'s kernel reads, once per matrix
    /// product: on ARMv7E-M reordered for the int8 ([`crate::kernels::Reordered::set`]) or
    /// the int4 ([`crate::kernels::Reordered::set_i4`]) kernel, nothing elsewhere (the
    /// portable kernels read `x` itself). Every matrix of a model has the same weights, so
    /// one prepared vector serves all the products over it.
    #[inline]
    pub(crate) fn prepare<const F: u8>(&self, x: &[i16], xp: &mut XpMut<'_>) {
        #[cfg(mynah_dsp)]
        match forms::int4(F, self.i4) {
            false => xp.set(x),
            true => xp.set_i4(x),
        }
        #[cfg(not(mynah_dsp))]
        let _ = (x, xp);
    }

    /// Makes `xp` hold a factored model's embedding row `e` widened to Q15 (`q << 8`, the
    /// Q15 of `q / 128`) in the order [`Dense::matvec`]'s kernel reads; returns the Q15
    /// vector `x` to pass with it (the unordered entries: the portable kernels read them,
    /// ARMv7E-M reads only `xp`). Entries of `xp` past `e.len()` are left as they are.
    #[inline]
    pub(crate) fn prepare_embedding<'x, const F: u8>(
        &self,
        e: &[i8],
        xp: &'x mut XpMut<'_>,
    ) -> Xp<'x> {
        xp.set_widened(e);
        #[cfg(mynah_dsp)]
        match forms::int4(F, self.i4) {
            false => xp.reorder(e.len()),
            true => xp.reorder_i4(e.len()),
        }
        xp.get()
    }

    /// The rows `first..first + n` of an int8 matrix with their multipliers, shifts and
    /// biases (no rows for an int4 one).
    #[inline]
    pub(crate) fn rows(&self, first: usize, n: usize) -> QuantRows<'_> {
        let cols = self.cols as usize;
        let w = match self.weights() {
            Weights::I8(w) => w,
            Weights::I4(_) => &[],
        };
        let c = cols.max(1);
        QuantRows {
            w: w.get(first * c..(first + n) * c).unwrap_or(&[]),
            cols,
            mult: self.mult.get(first..first + n).unwrap_or(&[]),
            shift: self.shift.get(first..first + n).unwrap_or(&[]),
            bias: self.bias.get(first..first + n).unwrap_or(&[]),
        }
    }

    /// The rows `first..first + n` of an int4 matrix (no rows for an int8 one).
    #[inline]
    pub(crate) fn rows4(&self, first: usize, n: usize) -> QuantRows4<'_> {
        let cols = self.cols as usize;
        let rb = crate::kernels::int4_row_bytes(cols);
        let w = match self.weights() {
            Weights::I4(w) => w,
            Weights::I8(_) => &[],
        };
        QuantRows4 {
            w: w.get(first * rb..(first + n) * rb).unwrap_or(&[]),
            cols,
            mult: self.mult.get(first..first + n).unwrap_or(&[]),
            shift: self.shift.get(first..first + n).unwrap_or(&[]),
            bias: self.bias.get(first..first + n).unwrap_or(&[]),
        }
    }

    /// [`Dense::matvec`] with [`matvec_requant`] or [`matvec_requant_i4`]: row by row
    /// (vectorized, `pmaddwd` on x86_64), eight rows at a time with AVX2.
    #[cfg(any(test, not(mynah_dsp)))]
    #[inline]
    fn matvec_rows(&self, i4: bool, x: &[i16], first: usize, out: &mut [i32]) {
        // In range by the load-time proof: no saturation needed.
        match i4 {
            false => matvec_requant(self.rows(first, out.len()), x, out),
            true => matvec_requant_i4(self.rows4(first, out.len()), x, out),
        }
    }

    /// [`Dense::matvec`] with the `SMLAD` kernels on ARMv7E-M (int8: rows four at a time,
    /// [`crate::kernels::matvec_acc`]; int4: two at a time,
    /// [`crate::kernels::matvec_acc_i4`]) against the reordered `xp`, then the
    /// requantization of every row.
    #[cfg(any(test, mynah_dsp))]
    #[inline]
    fn matvec_reordered(&self, i4: bool, xp: Xp<'_>, first: usize, out: &mut [i32]) {
        let (n, cols) = (out.len(), self.cols as usize);
        match i4 {
            false => matvec_acc_xp(self.rows(first, n).w, cols, xp, out),
            true => matvec_acc_i4_xp(self.rows4(first, n).w, cols, xp, out),
        }
        let mult = self.mult.get(first..first + n).unwrap_or(&[]);
        let shift = self.shift.get(first..first + n).unwrap_or(&[]);
        let bias = self.bias.get(first..first + n).unwrap_or(&[]);
        let rows = out.iter_mut().zip(mult).zip(shift).zip(bias);
        for (((o, &m), &s), &b) in rows {
            // In range by the load-time proof: no saturation needed.
            *o = requantize_in_range(*o, m, u32::from(s as u8)).wrapping_add(b);
        }
    }
}

/// Looks `name` up and checks its dtype and exact shape.
pub(crate) fn tensor<'a>(
    model: &Model<'a>,
    name: TensorName,
    dtype: DType,
    shape: &[u32],
) -> Result<mynah_format::Tensor<'a>, RuntimeError> {
    let t = model.tensor(name.as_str()).ok_or(RuntimeError::Format(
        mynah_format::FormatError::MissingTensor { name },
    ))?;
    if t.dtype() != dtype {
        return Err(RuntimeError::WrongDType {
            name,
            expected: dtype,
            found: t.dtype(),
        });
    }
    if t.shape() != shape {
        return Err(RuntimeError::WrongShape {
            name,
            expected: Shape::new(shape),
            found: Shape::new(t.shape()),
        });
    }
    Ok(t)
}

/// Checks `frac_bits` of `t` is within `min..=max`.
pub(crate) fn frac(
    t: &mynah_format::Tensor<'_>,
    name: TensorName,
    min: i32,
    max: i32,
) -> Result<i32, RuntimeError> {
    let found = t.frac_bits();
    if found < min || found > max {
        return Err(RuntimeError::WrongFracBits {
            name,
            min,
            max,
            found,
        });
    }
    Ok(found)
}

/// Loads one `[rows, cols]` matrix of the model's weight dtype (`i8` or `i4`; a type built
/// for one of them, `F`, reads only that) with its multipliers, shifts and bias, and proves
/// that no input can push a row's result past [`PRE_MAX`].
pub(crate) fn dense<'a, const F: u8>(
    model: &Model<'a>,
    n: names::DenseNames,
    rows: u32,
    cols: u32,
) -> Result<Dense<'a>, RuntimeError> {
    let file_i4 = model.hyper().weights == mynah_format::WeightsKind::Int4;
    let dtype = if forms::int4(F, file_i4) {
        DType::I4
    } else {
        DType::I8
    };
    let (matrix, vector, q16) = ([rows, cols], [rows], PRE_FRAC as i32);
    // The four tensors checked in one loop: one copy of the error paths (flash is scarce
    // on the devices), and only slices kept (so is the stack during loading).
    let specs: [(&TensorName, DType, &[u32], i32); 4] = [
        (&n.weight, dtype, &matrix, 0),
        (&n.mult, DType::I32, &vector, 0),
        (&n.shift, DType::I8, &vector, 0),
        (&n.bias, DType::I32, &vector, q16),
    ];
    let mut w: &[u8] = &[];
    let mut shifts: &[i8] = &[];
    let (mut mults, mut biases): (&[i32], &[i32]) = (&[], &[]);
    for (i, &(&name, dtype, shape, fb)) in specs.iter().enumerate() {
        let t = tensor(model, name, dtype, shape)?;
        frac(&t, name, fb, fb)?;
        match i {
            0 if forms::int4(F, file_i4) => w = t.packed_i4s()?,
            0 => w = bytemuck::cast_slice(t.i8s()?),
            1 => mults = t.i32s()?,
            2 => shifts = t.i8s()?,
            _ => biases = t.i32s()?,
        }
    }
    for (row, &s) in shifts.iter().enumerate() {
        if s < 0 || s as u32 > MAX_SHIFT {
            return Err(RuntimeError::BadShift {
                name: n.shift,
                row: row as u32,
                shift: s,
            });
        }
    }
    // Prove every row's result fits PRE_MAX, so the step can add without saturating.
    let d = Dense {
        w,
        mult: mults,
        shift: shifts,
        bias: biases,
        cols,
        i4: dtype == DType::I4,
    };
    let terms = mults.iter().zip(shifts).zip(biases).enumerate();
    for (row, ((&m, &s), &b)) in terms {
        let l1 = if forms::int4(F, d.i4) {
            row_l1_i4(d.w, row, cols as usize)
        } else {
            row_l1_i8(d.w, row, cols as usize)
        };
        if requantize_bound(l1, m, s as u32) + u64::from(b.unsigned_abs()) > PRE_MAX {
            return Err(RuntimeError::OutOfRange {
                name: n.weight,
                row: row as u32,
            });
        }
    }
    Ok(d)
}

/// `Σ_j |w_j|` of row `row` of `i8` weights (`cols` of them).
fn row_l1_i8(w: &[u8], row: usize, cols: usize) -> u64 {
    let r = w.get(row * cols..(row + 1) * cols).unwrap_or(&[]);
    r.iter().map(|&q| u64::from((q as i8).unsigned_abs())).sum()
}

/// `Σ_j |w_j|` of row `row` of packed `i4` weights (`cols` of them; the padding nibble of
/// an odd row, zero in a valid file, is not counted).
fn row_l1_i4(w: &[u8], row: usize, cols: usize) -> u64 {
    let rb = crate::kernels::int4_row_bytes(cols);
    let r = w.get(row * rb..(row + 1) * rb).unwrap_or(&[]);
    let pairs = r.iter().map(|&b| nibbles(b)).flat_map(|(lo, hi)| [lo, hi]);
    pairs.take(cols).map(|q| u64::from(q.unsigned_abs())).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `rows × cols` matrix with multipliers, shifts and biases from a seeded generator
    /// (values anywhere in their types' ranges; the products wrap alike on both paths).
    fn dense(rows: usize, cols: usize, seed: u64) -> (Vec<i8>, Vec<i32>, Vec<i8>, Vec<i32>) {
        let mut s = seed | 1;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let w = (0..rows * cols).map(|_| next() as i8).collect();
        let m = (0..rows).map(|_| next() as i32).collect();
        let sh = (0..rows).map(|_| (next() % 63) as i8).collect();
        let b = (0..rows).map(|_| next() as i32).collect();
        (w, m, sh, b)
    }

    proptest::proptest! {
        /// Rows four at a time against the reordered vector (what ARMv7E-M runs; here with
        /// the kernel's portable model) give exactly what rows one at a time give: any row
        /// count, column tails, every starting row.
        #[test]
        fn matvec_reordered_matches_rows(
            rows in 1usize..40,
            cols in 1usize..=80,
            first_frac in 0usize..100,
            seed in proptest::num::u64::ANY,
        ) {
            const H: usize = 80;
            let (w, mult, shift, bias) = dense(rows, cols, seed);
            let d = Dense {
                w: bytemuck::cast_slice(&w), mult: &mult, shift: &shift, bias: &bias,
                cols: cols as u32, i4: false,
            };
            let x: Vec<i16> = (0..cols).map(|j| (seed.rotate_left(j as u32) as i16) | 1).collect();
            let mut r = crate::kernels::Reordered::<H>::new();
            r.set(&x);
            let mut xp = XpMut::of(&mut r);
            let first = first_frac * rows / 100;
            let n = rows - first;
            let (mut want, mut got) = (vec![0; n], vec![0; n]);
            d.matvec_rows(false, &x, first, &mut want);
            d.matvec_reordered(false, xp.get(), first, &mut got);
            proptest::prop_assert_eq!(&got, &want);
            let mut via = vec![0; n];
            d.prepare::<{ forms::ALL }>(&x, &mut xp);
            d.matvec::<{ forms::ALL }>(&x, xp.get(), first, &mut via);
            proptest::prop_assert_eq!(via, want);
        }

        /// The same for int4 weights (rows two at a time on ARMv7E-M), with the activations
        /// the runtime has (within ±32767), and for a factored model's embedding row as
        /// the input: widened and reordered in place as ARMv7E-M does it.
        #[test]
        fn matvec_reordered_matches_rows_i4(
            rows in 1usize..40,
            cols in 1usize..=80,
            first_frac in 0usize..100,
            seed in proptest::num::u64::ANY,
        ) {
            const H: usize = 80;
            let (w8, mult, shift, bias) = dense(rows, cols, seed);
            let rb = cols.div_ceil(2);
            let w: Vec<u8> = w8.iter().take(rows * rb).map(|&v| v as u8).collect();
            let d = Dense { w: &w, mult: &mult, shift: &shift, bias: &bias, cols: cols as u32, i4: true };
            let x: Vec<i16> = (0..cols)
                .map(|j| (seed.rotate_left(j as u32) as i16).max(-32767))
                .collect();
            let mut r = crate::kernels::Reordered::<H>::new();
            r.set_i4(&x);
            let mut xp = XpMut::of(&mut r);
            let first = first_frac * rows / 100;
            let n = rows - first;
            let (mut want, mut got) = (vec![0; n], vec![0; n]);
            d.matvec_rows(true, &x, first, &mut want);
            d.matvec_reordered(true, xp.get(), first, &mut got);
            proptest::prop_assert_eq!(&got, &want);
            // An embedding row (i8, -128 excluded) widened to Q15, both ways.
            let e: Vec<i8> = (0..cols).map(|j| (x[j] >> 8).max(-127) as i8).collect();
            let wide: Vec<i16> = e.iter().map(|&q| i16::from(q) << 8).collect();
            xp.set_widened(&e);
            xp.reorder_i4(cols);
            let (mut plain, mut reordered) = (vec![0; n], vec![0; n]);
            d.matvec_rows(true, &wide, first, &mut plain);
            d.matvec_reordered(true, xp.get(), first, &mut reordered);
            proptest::prop_assert_eq!(&plain, &reordered);
            let mut via = vec![0; n];
            let xv = d.prepare_embedding::<{ forms::ALL }>(&e, &mut xp);
            d.matvec::<{ forms::INT4 | forms::FACTORED }>(&xv.as_slice()[..cols], xv, first, &mut via);
            proptest::prop_assert_eq!(via, plain);
        }

        /// Widening an embedding row in place and reordering it gives what `set` gives for
        /// the widened vector (int8 order) and `set_i4` (int4 order).
        #[test]
        fn widened_embeddings_reorder_like_set(
            e in proptest::collection::vec(-127i8..=127, 0..=40),
        ) {
            let wide: Vec<i16> = e.iter().map(|&q| i16::from(q) << 8).collect();
            let (mut a, mut b) = (
                crate::kernels::Reordered::<40>::new(),
                crate::kernels::Reordered::<40>::new(),
            );
            a.set(&wide);
            let mut xb = XpMut::of(&mut b);
            xb.set_widened(&e);
            xb.reorder(e.len());
            proptest::prop_assert_eq!(a.as_slice(), b.as_slice());
            a.set_i4(&wide);
            let mut xb = XpMut::of(&mut b);
            xb.set_widened(&e);
            xb.reorder_i4(e.len());
            proptest::prop_assert_eq!(a.as_slice(), b.as_slice());
        }
    }
}
