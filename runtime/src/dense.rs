//! One quantized matrix product ([`Dense`]) read in place from a model file, the checks
//! that load it, and the kernel that runs it on each target.

use mynah_format::{DType, Model, Shape, TensorName};

#[cfg(any(test, not(mynah_dsp)))]
use crate::kernels::matvec_requant;
#[cfg(any(test, mynah_dsp))]
use crate::kernels::{matvec_acc_xp, requantize_in_range};
use crate::kernels::{requantize_bound, QuantRows, Xp, XpMut, MAX_SHIFT, PRE_FRAC, PRE_MAX};
use crate::names;
use crate::RuntimeError;

/// One int8 matrix with its per-row requantization and Q16 bias, borrowed from the file.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Dense<'a> {
    /// Row-major `[rows, cols]`, `i8` in `[-127, 127]`.
    w: &'a [i8],
    /// Per-row multiplier: the real factor is `mult * 2^-shift`.
    mult: &'a [i32],
    /// Per-row shift, validated to `0..=62`.
    shift: &'a [i8],
    /// Per-row Q16 bias.
    bias: &'a [i32],
    cols: usize,
}

impl Dense<'_> {
    pub(crate) const EMPTY: Dense<'static> = Dense {
        w: &[],
        mult: &[],
        shift: &[],
        bias: &[],
        cols: 0,
    };

    /// `out[i] = (W x)[first + i]` in Q16 (bias included) for `out.len()` rows, for a Q15 `x`
    /// of length `cols`; `xp` holds `x` reordered ([`prepare`]) on targets whose kernel reads
    /// it. Identical results on every target.
    #[inline]
    pub(crate) fn matvec(&self, x: &[i16], xp: Xp<'_>, first: usize, out: &mut [i32]) {
        #[cfg(mynah_dsp)]
        {
            let _ = x;
            self.matvec_reordered(xp, first, out);
        }
        #[cfg(not(mynah_dsp))]
        {
            let _ = xp;
            self.matvec_rows(x, first, out);
        }
    }

    /// The rows `first..first + n` with their multipliers, shifts and biases.
    #[inline]
    pub(crate) fn rows(&self, first: usize, n: usize) -> QuantRows<'_> {
        let cols = self.cols.max(1);
        QuantRows {
            w: self.w.get(first * cols..(first + n) * cols).unwrap_or(&[]),
            cols: self.cols,
            mult: self.mult.get(first..first + n).unwrap_or(&[]),
            shift: self.shift.get(first..first + n).unwrap_or(&[]),
            bias: self.bias.get(first..first + n).unwrap_or(&[]),
        }
    }

    /// [`Dense::matvec`] with [`matvec_requant`]: row by row with
    /// [`dot_i8_i16`](crate::kernels::dot_i8_i16) (vectorized, `pmaddwd` on x86_64), eight
    /// rows at a time with AVX2.
    #[cfg(any(test, not(mynah_dsp)))]
    #[inline]
    fn matvec_rows(&self, x: &[i16], first: usize, out: &mut [i32]) {
        // In range by the load-time proof: no saturation needed.
        matvec_requant(self.rows(first, out.len()), x, out);
    }

    /// [`Dense::matvec`] with [`matvec_acc`] (rows four at a time, the `SMLAD` kernel on
    /// ARMv7E-M) against the reordered `xp`, then the requantization of every row.
    #[cfg(any(test, mynah_dsp))]
    #[inline]
    fn matvec_reordered(&self, xp: Xp<'_>, first: usize, out: &mut [i32]) {
        let QuantRows {
            w,
            mult,
            shift,
            bias,
            ..
        } = self.rows(first, out.len());
        matvec_acc_xp(w, self.cols, xp, out);
        let rows = out.iter_mut().zip(mult).zip(shift).zip(bias);
        for (((o, &m), &s), &b) in rows {
            // In range by the load-time proof: no saturation needed.
            *o = requantize_in_range(*o, m, u32::from(s as u8)).wrapping_add(b);
        }
    }
}

/// Makes `xp` hold `x` in the order [`Dense::matvec`]'s kernel reads, once per matrix
/// product: reordered ([`crate::kernels::Reordered::set`]) on ARMv7E-M, nothing elsewhere (the portable
/// kernel reads `x` itself).
#[inline]
pub(crate) fn prepare(x: &[i16], xp: &mut XpMut<'_>) {
    #[cfg(mynah_dsp)]
    xp.set(x);
    #[cfg(not(mynah_dsp))]
    let _ = (x, xp);
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

/// Loads one `[rows, cols]` int8 matrix with its multipliers, shifts and bias.
pub(crate) fn dense<'a>(
    model: &Model<'a>,
    n: names::DenseNames,
    rows: u32,
    cols: u32,
) -> Result<Dense<'a>, RuntimeError> {
    let (matrix, vector, q16) = ([rows, cols], [rows], PRE_FRAC as i32);
    // The four tensors checked in one loop: one copy of the error paths (flash is scarce
    // on the devices), and only slices kept (so is the stack during loading).
    let specs: [(&TensorName, DType, &[u32], i32); 4] = [
        (&n.weight, DType::I8, &matrix, 0),
        (&n.mult, DType::I32, &vector, 0),
        (&n.shift, DType::I8, &vector, 0),
        (&n.bias, DType::I32, &vector, q16),
    ];
    let (mut ws, mut shifts): (&[i8], &[i8]) = (&[], &[]);
    let (mut mults, mut biases): (&[i32], &[i32]) = (&[], &[]);
    for (i, &(&name, dtype, shape, fb)) in specs.iter().enumerate() {
        let t = tensor(model, name, dtype, shape)?;
        frac(&t, name, fb, fb)?;
        match i {
            0 => ws = t.i8s()?,
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
    let rows_iter = ws
        .chunks_exact((cols as usize).max(1))
        .zip(mults)
        .zip(shifts)
        .zip(biases);
    for (row, (((wr, &m), &s), &b)) in rows_iter.enumerate() {
        let l1: u64 = wr.iter().map(|&q| u64::from(q.unsigned_abs())).sum();
        if requantize_bound(l1, m, s as u32) + u64::from(b.unsigned_abs()) > PRE_MAX {
            return Err(RuntimeError::OutOfRange {
                name: n.weight,
                row: row as u32,
            });
        }
    }
    Ok(Dense {
        w: ws,
        mult: mults,
        shift: shifts,
        bias: biases,
        cols: cols as usize,
    })
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
            let d = Dense { w: &w, mult: &mult, shift: &shift, bias: &bias, cols };
            let x: Vec<i16> = (0..cols).map(|j| (seed.rotate_left(j as u32) as i16) | 1).collect();
            let mut r = crate::kernels::Reordered::<H>::new();
            r.set(&x);
            let mut xp = XpMut::of(&mut r);
            let first = first_frac * rows / 100;
            let n = rows - first;
            let (mut want, mut got) = (vec![0; n], vec![0; n]);
            d.matvec_rows(&x, first, &mut want);
            d.matvec_reordered(xp.get(), first, &mut got);
            proptest::prop_assert_eq!(&got, &want);
            let mut via = vec![0; n];
            prepare(&x, &mut xp);
            d.matvec(&x, xp.get(), first, &mut via);
            proptest::prop_assert_eq!(via, want);
        }
    }
}
