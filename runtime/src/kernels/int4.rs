//! The int4 × int16 kernels: the portable dot product over packed nibbles, the matrix
//! product with its requantization (eight rows at a time with AVX2,
//! `kernels::x86_avx2::i4`), and on ARMv7E-M the `SMLAD` kernel over nibbles unpacked to
//! halfword pairs (`kernels::arm_dsp::i4`), with its portable model.
//!
//! An `i4` row of `cols` weights is `ceil(cols / 2)` bytes, two weights per byte, the
//! earlier column in the low nibble, each row starting on a new byte (`format/SPEC.md`).
//! Every kernel adds the same integer products as [`dot_i4_i16`], so the results are the
//! same on every target (see each kernel for the argument).

use super::{requantize_in_range, Xp, XpMut};

/// Bytes per block of the portable dot product: 32 columns, whose products sum to less
/// than `32 · 8 · 32768 = 2^23`.
const BLOCK_BYTES: usize = 16;

/// The two weights of a byte, sign-extended: (low nibble, high nibble) = (the earlier
/// column, the later one).
#[inline(always)]
pub const fn nibbles(b: u8) -> (i32, i32) {
    (((b << 4) as i8 >> 4) as i32, (b as i8 >> 4) as i32)
}

/// `Σ_j w_j · x[j]` over `j < min(2·w.len(), x.len())`, `w_j` the `j`-th nibble of `w`
/// (low nibble first), accumulated in `i32`.
///
/// Exact for up to [`super::MAX_COLS`] terms with activations in `±ACT_MAX` (each product
/// is at most `8 · 32767`); longer inputs wrap instead of panicking. Written in blocks of
/// 16 bytes (32 columns) so that the compiler vectorizes the unpacking on x86_64.
#[inline]
pub fn dot_i4_i16(w: &[u8], x: &[i16]) -> i32 {
    let n = x.len().min(2 * w.len());
    let (pairs, odd) = (n / 2, n % 2 == 1);
    let (w_pairs, x_pairs) = (
        w.get(..pairs).unwrap_or(&[]),
        x.get(..2 * pairs).unwrap_or(&[]),
    );
    let wb = w_pairs.chunks_exact(BLOCK_BYTES);
    let xb = x_pairs.chunks_exact(2 * BLOCK_BYTES);
    let (wt, xt) = (wb.remainder(), xb.remainder());
    let mut acc: i32 = 0;
    for (wc, xc) in wb.zip(xb) {
        let (Ok(wc), Ok(xc)) = (
            <&[u8; BLOCK_BYTES]>::try_from(wc),
            <&[i16; 2 * BLOCK_BYTES]>::try_from(xc),
        ) else {
            continue; // unreachable: chunks_exact yields full blocks
        };
        // |block sum| < 2^23: plain `+` cannot overflow here.
        let mut s: i32 = 0;
        for k in 0..BLOCK_BYTES {
            let (lo, hi) = nibbles(wc[k]);
            s += lo * i32::from(xc[2 * k]) + hi * i32::from(xc[2 * k + 1]);
        }
        acc = acc.wrapping_add(s);
    }
    for (&b, x) in wt.iter().zip(xt.chunks_exact(2)) {
        let (lo, hi) = nibbles(b);
        if let [x0, x1] = x {
            acc = acc
                .wrapping_add(lo * i32::from(*x0))
                .wrapping_add(hi * i32::from(*x1));
        }
    }
    if odd {
        let lo = w.get(pairs).map_or(0, |&b| nibbles(b).0);
        let last = x.get(2 * pairs).copied().unwrap_or(0);
        acc = acc.wrapping_add(lo * i32::from(last));
    }
    acc
}

/// Bytes of an `i4` row of `cols` weights (0 columns count as 1, as in [`super::QuantRows`]).
#[inline]
pub const fn row_bytes(cols: usize) -> usize {
    if cols == 0 {
        1
    } else {
        cols.div_ceil(2)
    }
}

/// Int4 rows with their requantization, borrowed from a model: what
/// [`matvec_requant_i4`] multiplies. Row `i` is the `ceil(cols / 2)` bytes from
/// `i · ceil(cols / 2)`; its result is `round(acc · mult[i] / 2^shift[i]) + bias[i]`.
#[derive(Clone, Copy, Debug)]
pub struct QuantRows4<'a> {
    /// Packed weights, rows of `ceil(cols / 2)` bytes.
    pub w: &'a [u8],
    /// Columns per row (0 counts as 1).
    pub cols: usize,
    /// Per-row multipliers.
    pub mult: &'a [i32],
    /// Per-row shifts (`0..=62`; others are clamped by the requantization).
    pub shift: &'a [i8],
    /// Per-row Q16 biases.
    pub bias: &'a [i32],
}

impl<'a> QuantRows4<'a> {
    /// How many whole rows every slice has.
    #[inline]
    pub fn len(&self) -> usize {
        let by_w = self.w.len() / row_bytes(self.cols);
        by_w.min(self.mult.len())
            .min(self.shift.len())
            .min(self.bias.len())
    }

    /// Whether there is no whole row.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The rows from `first` on (none if `first` is past the end).
    #[inline]
    pub fn from(&self, first: usize) -> QuantRows4<'a> {
        let start = first.saturating_mul(row_bytes(self.cols));
        QuantRows4 {
            w: self.w.get(start..).unwrap_or(&[]),
            cols: self.cols,
            mult: self.mult.get(first..).unwrap_or(&[]),
            shift: self.shift.get(first..).unwrap_or(&[]),
            bias: self.bias.get(first..).unwrap_or(&[]),
        }
    }
}

/// `out[i] = requantize_in_range(dot_i4_i16(row i, x[..min(cols, x.len())]), mult[i],
/// shift[i]) + bias[i]` (wrapping) for every row that `rows` and `out` both have; other
/// entries of `out` are left as they are. A row's padding nibble is never read.
///
/// One row at a time on most targets; with AVX2 eight rows share each activation load,
/// the lane reduction and a vector requantization (`kernels::x86_avx2::i4`), with equal
/// results.
#[inline]
pub fn matvec_requant_i4(rows: QuantRows4<'_>, x: &[i16], out: &mut [i32]) {
    #[cfg(all(target_arch = "x86_64", feature = "avx2"))]
    let (rows, out) = {
        let done = super::x86_avx2::Avx2::detect().map_or(0, |k| k.matvec_requant_i4(rows, x, out));
        (rows.from(done), out.get_mut(done..).unwrap_or(&mut []))
    };
    matvec_requant_i4_rows(rows, x, out);
}

/// [`matvec_requant_i4`] one row at a time with [`dot_i4_i16`]: the portable form, and
/// the reference the AVX2 kernel is tested against.
#[inline]
pub fn matvec_requant_i4_rows(rows: QuantRows4<'_>, x: &[i16], out: &mut [i32]) {
    let QuantRows4 {
        w,
        cols,
        mult,
        shift,
        bias,
    } = rows;
    let x = x.get(..cols.min(x.len())).unwrap_or(x);
    let rows = w
        .chunks_exact(row_bytes(cols))
        .zip(mult)
        .zip(shift)
        .zip(bias);
    for (o, (((w, &m), &s), &b)) in out.iter_mut().zip(rows) {
        *o = requantize_in_range(dot_i4_i16(w, x), m, s as u32).wrapping_add(b);
    }
}

impl XpMut<'_> {
    /// Stores `x` (as much as fits) in the order of the int4 `SMLAD` kernel: in every group
    /// of 8 within the leading multiple of 8 entries, `x0 x4 x2 x6 x1 x5 x3 x7` (the words
    /// `[x0, x4] [x2, x6] [x1, x5] [x3, x7]`), the last `len % 8` entries as they are.
    pub(crate) fn set_i4(&mut self, x: &[i16]) {
        let n = x.len().min(self.0.len());
        let body = n & !7;
        let (xb, xt) = x.split_at(body);
        let (vb, vt) = self.0.split_at_mut(body);
        for (o, i) in vb.chunks_exact_mut(8).zip(xb.chunks_exact(8)) {
            if let ([o0, o1, o2, o3, o4, o5, o6, o7], [i0, i1, i2, i3, i4, i5, i6, i7]) = (o, i) {
                (*o0, *o1, *o2, *o3) = (*i0, *i4, *i2, *i6);
                (*o4, *o5, *o6, *o7) = (*i1, *i5, *i3, *i7);
            }
        }
        for (o, &i) in vt.iter_mut().zip(xt) {
            *o = i;
        }
    }
}

/// `out[i] = Σ_j w_ij · x[j]` over `j < min(cols, xp capacity)` for the packed `i4`
/// row-major `w` and the vector `x` that `xp` holds ([`XpMut::set_i4`] with exactly those
/// entries). Rows missing from `w` give 0.
///
/// Rows go two at a time through the leading multiple of 8 columns ([`pair_count`]
/// pairs), each remaining row as a pair of copies of itself, then every row's last
/// `cols % 8` columns one by one. The pairs compute `16 ·` the sums (each weight is
/// unpacked as `16 · w`, see [`pair_sums_model`]), which are shifted back by 4: exact as
/// long as the scaled sums do not wrap, which holds for the runtime's inputs (at most 512
/// columns, activations within `±32767`: `512 · 128 · 32767 < 2^31`). Equal to
/// [`dot_i4_i16`] row by row under those conditions.
#[inline]
pub(crate) fn matvec_acc_i4_xp(w: &[u8], cols: usize, xp: Xp<'_>, out: &mut [i32]) {
    let x = xp.as_slice();
    let n = cols.min(x.len());
    let groups = n / 8;
    let body = 8 * groups;
    let rb = row_bytes(cols);
    let done = 2 * pair_sums(w, rb, rb.saturating_mul(2), groups, xp, out);
    // The rows after the last pair (or every row, with fewer than 8 columns).
    for (i, o) in out.iter_mut().enumerate().skip(done) {
        let row = w.get(i.saturating_mul(rb)..).unwrap_or(&[]);
        let mut two = [0; 2];
        *o = if pair_sums(row, 0, rb, groups, xp, &mut two) == 1 {
            two[0]
        } else {
            0
        };
    }
    let tail = x.get(body..n).unwrap_or(&[]);
    for (i, o) in out.iter_mut().enumerate() {
        let mut acc = *o >> 4;
        let row = w.get(i.saturating_mul(rb)..).unwrap_or(&[]);
        for (j, &xj) in (body..).zip(tail) {
            let (lo, hi) = row.get(j / 2).map_or((0, 0), |&b| nibbles(b));
            let wj = if j % 2 == 0 { lo } else { hi };
            acc = acc.wrapping_add(wj * i32::from(xj));
        }
        *o = acc;
    }
}

/// How many pairs of rows the int4 kernel may run: the largest `q` with `2q <= out_len`
/// and every row it reads inside `w`. Pair `k` reads the rows at `k·stride` and
/// `k·stride + b_off`, each `4·groups` bytes; 0 when `groups` is 0 or more than `h / 8`,
/// or when `stride < 4·groups`.
///
/// Guarantees, when the result `q` is not 0: `1 <= groups`, `8·groups <= h`,
/// `stride >= 4·groups`, `2q <= out_len`, and `(q - 1)·stride + b_off + 4·groups <= w_len`
/// (the later row of the last pair ends inside `w`; every other row read ends before it
/// or, with `b_off` 0, at the same place).
pub const fn pair_count(
    w_len: usize,
    b_off: usize,
    stride: usize,
    groups: usize,
    out_len: usize,
    h: usize,
) -> usize {
    if groups == 0 || groups > h / 8 {
        return 0;
    }
    let body = 4 * groups; // <= h / 2: no overflow
    if stride < body {
        return 0;
    }
    let need = match b_off.checked_add(body) {
        Some(n) => n,
        None => return 0,
    };
    if w_len < need {
        return 0;
    }
    // stride >= body >= 4: no division by zero.
    let fit = (w_len - need) / stride + 1;
    let room = out_len / 2;
    if fit < room {
        fit
    } else {
        room
    }
}

/// The two-row kernel: for `k < q = pair_count(..)`, `out[2k]` and `out[2k + 1]` are
/// `16 ·` the sums over the first `8·groups` columns of the rows at `k·stride` and
/// `k·stride + b_off`. Returns `q`.
#[inline]
fn pair_sums(
    w: &[u8],
    b_off: usize,
    stride: usize,
    groups: usize,
    xp: Xp<'_>,
    out: &mut [i32],
) -> usize {
    #[cfg(mynah_dsp)]
    return super::arm_dsp::i4::pair_sums(w, b_off, stride, groups, xp, out);
    #[cfg(not(mynah_dsp))]
    return pair_sums_model(w, b_off, stride, groups, xp.as_slice(), out);
}

/// The portable model of the int4 `SMLAD` loop (`kernels::arm_dsp::i4::pair_sums`), step
/// by step: per 8 columns the activations as the words `[x0, x4] [x2, x6] [x1, x5]
/// [x3, x7]` ([`XpMut::set_i4`]'s order); each row's 8 weights as one little-endian word
/// `W`; `L = (W << 4) & 0xF0F0F0F0` holds the low nibbles as `16 · w` in its bytes
/// (`[16w0, 16w2, 16w4, 16w6]`), `H = W & 0xF0F0F0F0` the high nibbles
/// (`[16w1, 16w3, 16w5, 16w7]`); `SXTB16` of each, and of each rotated by 8, gives the
/// halfword pairs `[16w0, 16w4]`, `[16w2, 16w6]`, `[16w1, 16w5]`, `[16w3, 16w7]`, and four
/// `SMLAD` add their products with the four activation words. Host tests check it against
/// [`dot_i4_i16`]; `make device-check` (the firmware against `mynah sample`, and
/// `kernel-bench`) checks the assembly.
#[cfg(any(test, not(mynah_dsp)))]
fn pair_sums_model(
    w: &[u8],
    b_off: usize,
    stride: usize,
    groups: usize,
    xp: &[i16],
    out: &mut [i32],
) -> usize {
    use super::{smlad, sxtb16};
    const MASK: u32 = 0xF0F0_F0F0;
    let pairs = pair_count(w.len(), b_off, stride, groups, out.len(), xp.len());
    let body = 4 * groups;
    let x = xp.get(..2 * body).unwrap_or(&[]);
    for (k, o) in out.chunks_exact_mut(2).take(pairs).enumerate() {
        for (o, off) in o.iter_mut().zip([0, b_off]) {
            let start = k * stride + off;
            let row = w.get(start..start + body).unwrap_or(&[]);
            let mut acc = 0i32;
            for (r, x) in row.chunks_exact(4).zip(x.chunks_exact(8)) {
                if let ([b0, b1, b2, b3], [x0, x4, x2, x6, x1, x5, x3, x7]) = (r, x) {
                    let word = u32::from_le_bytes([*b0, *b1, *b2, *b3]);
                    let (l, h) = ((word << 4) & MASK, word & MASK);
                    let pair = |a: &i16, b: &i16| (i32::from(*a), i32::from(*b));
                    acc = smlad(acc, sxtb16(l), pair(x0, x4));
                    acc = smlad(acc, sxtb16(l.rotate_right(8)), pair(x2, x6));
                    acc = smlad(acc, sxtb16(h), pair(x1, x5));
                    acc = smlad(acc, sxtb16(h.rotate_right(8)), pair(x3, x7));
                }
            }
            *o = acc;
        }
    }
    pairs
}

#[cfg(test)]
mod tests;
