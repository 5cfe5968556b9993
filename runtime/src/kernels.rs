//! The integer kernels: the int8 × int16 dot product, requantization, sigmoid, tanh and
//! the fixed-point exponential used by the softmax.
//!
//! Number formats (see `runtime/QUANTIZATION.md` for the why):
//! - activations (hidden states, layer inputs): `i16` in Q15, kept in `[-32767, 32767]`;
//! - weights: `i8` in `[-127, 127]` with one scale per output row;
//! - gate pre-activations and logits: `i32` in Q16 ([`PRE_FRAC`] fractional bits);
//! - gate outputs r, z: `i32` in Q15 in `[0, 32768]` (32768 is exactly 1).
//!
//! Every right shift that drops bits rounds half away from zero ([`round_shift`]), the
//! same rule as the float `round` the exporter uses for everything it stores.

use crate::tables::{EXP2_NEG_Q30, EXP2_STEP_BITS, TANH_Q15, TANH_STEP_BITS};

// The ARMv7E-M kernel: inline assembly, each `unsafe` block proven sound
// where it stands.
#[cfg(mynah_dsp)]
#[allow(unsafe_code)]
mod arm_dsp;

// The host's AVX2 kernels, used when the CPU has AVX2: `unsafe` calls of `#[target_feature]`
// functions behind a token that only run-time detection makes, and the table gathers.
#[cfg(all(target_arch = "x86_64", feature = "avx2"))]
mod x86_avx2;

// WebAssembly SIMD128 (the web page's build): the dot product, safe code.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod wasm_simd;

// The int4 kernels: portable, with the AVX2 and SMLAD forms in the modules above.
mod int4;

pub(crate) use int4::matvec_acc_i4_xp;
pub use int4::{
    dot_i4_i16, matvec_requant_i4, matvec_requant_i4_rows, nibbles, pair_count,
    row_bytes as int4_row_bytes, QuantRows4,
};

/// Fractional bits of gate pre-activations, biases and logits (`i32`, Q16).
pub const PRE_FRAC: u32 = 16;

/// Fractional bits of activations (`i16`, Q15).
pub const ACT_FRAC: u32 = 15;

/// One in the Q15 format of the gates r and z.
pub const ONE_Q15: i32 = 1 << ACT_FRAC;

/// Largest magnitude an activation may have: the range is symmetric so that even a
/// weight of -128 times an activation cannot reach `i32::MIN` in a [`MAX_COLS`] sum.
pub const ACT_MAX: i32 = i16::MAX as i32;

/// Longest dot product the `i32` accumulator provably cannot overflow:
/// `512 * 128 * 32767 = 2_147_418_112 < 2^31 - 1`.
pub const MAX_COLS: usize = 512;

/// Largest shift a requantization may use: `|acc * mult| <= 2^62`, so a rounding offset
/// of at most `2^61` still fits an `i64`.
pub const MAX_SHIFT: u32 = 62;

/// Largest magnitude (Q16, i.e. 8192.0) a requantized product with its bias, or a token
/// table entry, may reach. [`crate::IntModel::new`] refuses files whose weights could
/// exceed it for any input, so the sums the step forms (at most four such terms) always
/// fit an `i32` and the hot loop needs no saturation. Trained models stay below ~50.
pub const PRE_MAX: u64 = 1 << 29;

/// Width of one block of the dot product: 32 `i8` weights are two SSE registers (one
/// AVX2 register) and the block's products sum to well under 2^27.
const BLOCK: usize = 32;

/// The kernels this CPU runs the matrix products and the gates with, for reports: `"avx2"`
/// (x86_64 with AVX2, detected at run time), `"smlad"` (ARMv7E-M) or `"portable"`. The
/// output is the same whichever it is.
pub fn kernel_set() -> &'static str {
    #[cfg(all(target_arch = "x86_64", feature = "avx2"))]
    if x86_avx2::Avx2::detect().is_some() {
        return "avx2";
    }
    if cfg!(mynah_dsp) {
        "smlad"
    } else {
        "portable"
    }
}

/// `x / 2^shift`, rounded half away from zero.
///
/// Callers keep `|x| <= 2^62` so that adding the rounding offset cannot overflow.
#[inline]
pub const fn round_shift(x: i64, shift: u32) -> i64 {
    if shift == 0 {
        return x;
    }
    let half = 1i64 << (shift - 1);
    // `- (x < 0)` turns "add half, floor" (half up) into half away from zero.
    (x + half - (x < 0) as i64) >> shift
}

/// `x` saturated to the `i32` range.
#[inline]
pub const fn saturate_i32(x: i64) -> i32 {
    if x > i32::MAX as i64 {
        i32::MAX
    } else if x < i32::MIN as i64 {
        i32::MIN
    } else {
        x as i32
    }
}

/// `x` clamped to the activation range `[-ACT_MAX, ACT_MAX]`.
#[inline]
pub const fn saturate_act(x: i32) -> i16 {
    if x > ACT_MAX {
        ACT_MAX as i16
    } else if x < -ACT_MAX {
        -ACT_MAX as i16
    } else {
        x as i16
    }
}

/// `Σ w[j] * x[j]` over the common length, accumulated in `i32`.
///
/// Exact (no rounding, no saturation) for up to [`MAX_COLS`] terms with activations in
/// `[-ACT_MAX, ACT_MAX]`; longer inputs wrap instead of panicking. Written in blocks of 32
/// so that LLVM turns each block into `pmaddwd` (SSE2) / `vpmaddwd` (AVX2) on x86_64; on a
/// Cortex-M it becomes `ldrsb` + `ldrsh` + one multiply-accumulate per term (ARMv7E-M runs
/// the `SMLAD` kernel [`matvec_acc`] instead).
#[inline]
pub fn dot_i8_i16(w: &[i8], x: &[i16]) -> i32 {
    let n = w.len().min(x.len());
    let (w, x) = (&w[..n], &x[..n]);
    let wb = w.chunks_exact(BLOCK);
    let xb = x.chunks_exact(BLOCK);
    let (wt, xt) = (wb.remainder(), xb.remainder());
    let mut acc: i32 = 0;
    for (wc, xc) in wb.zip(xb) {
        let (Ok(wc), Ok(xc)) = (<&[i8; BLOCK]>::try_from(wc), <&[i16; BLOCK]>::try_from(xc)) else {
            continue; // unreachable: chunks_exact yields full blocks
        };
        // |block sum| <= BLOCK * 128 * 32768 = 2^27: plain `+` cannot overflow here.
        let mut s: i32 = 0;
        for k in 0..BLOCK {
            s += i32::from(wc[k]) * i32::from(xc[k]);
        }
        acc = acc.wrapping_add(s);
    }
    for (&a, &b) in wt.iter().zip(xt) {
        acc = acc.wrapping_add(i32::from(a) * i32::from(b));
    }
    acc
}

/// An activation vector laid out for the dual 16-bit multiply-accumulate of ARMv7E-M
/// (`SMLAD`): in every group of 4 within the leading multiple of 8 entries, the order
/// `x0 x2 x1 x3`; the last `len % 8` entries as they are. Word-aligned, so that a group
/// is two 32-bit words `[x0, x2]`, `[x1, x3]` (low half first), one `LDRD`.
///
/// Why that order: a word of 4 int8 weights `[w0 w1 w2 w3]` splits with `SXTB16` into
/// `[w0, w2]` and, rotated by 8, `[w1, w3]`; `SMLAD` multiplies the halves pairwise, so each
/// weight meets its own activation with no repacking in the loop. The vector is reordered
/// once per matrix product ([`Reordered::set`]) and the weights are read as stored: the
/// file format is the same on every target.
///
/// This is the compile-time-sized form; a [`crate::ScratchView`] holds the same layout in
/// memory carved at run time.
#[repr(C, align(4))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reordered<const H: usize> {
    v: [i16; H],
}

impl<const H: usize> Reordered<H> {
    /// All zero.
    pub const fn new() -> Self {
        Reordered { v: [0; H] }
    }

    /// Stores `x` (its first `H` entries) in the kernel's order.
    pub fn set(&mut self, x: &[i16]) {
        XpMut::of(self).set(x);
    }

    /// Stores `x` (its first `H` entries) in the order of the int4 kernel
    /// ([`matvec_acc_i4`]): `x0 x4 x2 x6 x1 x5 x3 x7` in every group of 8 within the
    /// leading multiple of 8 entries, the rest as it is.
    pub fn set_i4(&mut self, x: &[i16]) {
        XpMut::of(self).set_i4(x);
    }

    /// The stored entries in the kernel's order.
    pub fn as_slice(&self) -> &[i16; H] {
        &self.v
    }
}

impl<const H: usize> Default for Reordered<H> {
    fn default() -> Self {
        Self::new()
    }
}

/// A word-aligned `i16` buffer holding a reordered input ([`Reordered`]'s layout), borrowed
/// from a [`Reordered`] or carved from words: the only two constructors, so the alignment
/// the `LDRD` of the ARMv7E-M kernel needs holds by construction.
#[derive(Debug)]
pub(crate) struct XpMut<'s>(&'s mut [i16]);

/// A shared [`XpMut`]: what the kernels read (word-aligned by construction).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Xp<'s>(&'s [i16]);

impl<'s> XpMut<'s> {
    /// The buffer of a [`Reordered`]: its `v` is at offset 0 of a `repr(C, align(4))` struct.
    pub(crate) fn of<const H: usize>(r: &'s mut Reordered<H>) -> Self {
        XpMut(&mut r.v)
    }

    /// Words viewed as twice as many `i16` (a `u32` slice is word-aligned).
    pub(crate) fn from_words(words: &'s mut [u32]) -> Self {
        XpMut(bytemuck::try_cast_slice_mut(words).unwrap_or(&mut []))
    }

    /// Capacity in entries.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Stores `x` (as much as fits) in the kernel's order.
    pub(crate) fn set(&mut self, x: &[i16]) {
        let n = x.len().min(self.0.len());
        let body = n & !7;
        let (xb, xt) = x.split_at(body);
        let (vb, vt) = self.0.split_at_mut(body);
        for (o, i) in vb.chunks_exact_mut(4).zip(xb.chunks_exact(4)) {
            if let ([o0, o1, o2, o3], [i0, i1, i2, i3]) = (o, i) {
                (*o0, *o1, *o2, *o3) = (*i0, *i2, *i1, *i3);
            }
        }
        // `vt` and `xt` are `len - body` and `x.len() - body` long: the zip copies `n - body`.
        for (o, &i) in vt.iter_mut().zip(xt) {
            *o = i;
        }
    }

    /// Stores the `i8` values `e` (as many as fit) widened to Q15, `q << 8` (the Q15 of
    /// `q / 128`), in their own order; the entries after them are left as they are.
    pub(crate) fn set_widened(&mut self, e: &[i8]) {
        for (o, &q) in self.0.iter_mut().zip(e) {
            *o = i16::from(q) << 8;
        }
    }

    /// Puts the first `n` entries (as stored by [`XpMut::set_widened`]) in the int8
    /// kernel's order, as [`XpMut::set`] would have stored them.
    #[cfg(any(test, mynah_dsp))]
    pub(crate) fn reorder(&mut self, n: usize) {
        let body = n.min(self.0.len()) & !7;
        for g in self
            .0
            .get_mut(..body)
            .unwrap_or(&mut [])
            .chunks_exact_mut(4)
        {
            g.swap(1, 2);
        }
    }

    /// Puts the first `n` entries in the int4 kernel's order, as [`XpMut::set_i4`] would
    /// have stored them.
    #[cfg(any(test, mynah_dsp))]
    pub(crate) fn reorder_i4(&mut self, n: usize) {
        let body = n.min(self.0.len()) & !7;
        for g in self
            .0
            .get_mut(..body)
            .unwrap_or(&mut [])
            .chunks_exact_mut(8)
        {
            if let [x0, x1, x2, x3, x4, x5, x6, x7] = *g {
                g.copy_from_slice(&[x0, x4, x2, x6, x1, x5, x3, x7]);
            }
        }
    }

    /// Reads it.
    pub(crate) fn get(&self) -> Xp<'_> {
        Xp(self.0)
    }

    /// A shorter-lived borrow of the same buffer.
    pub(crate) fn reborrow(&mut self) -> XpMut<'_> {
        XpMut(self.0)
    }
}

impl<'s> Xp<'s> {
    /// The entries (word-aligned).
    pub(crate) fn as_slice(&self) -> &'s [i16] {
        self.0
    }
}

/// `out[i] = Σ_j w[i·cols + j] · x[j]` over `j < min(cols, H)`, accumulated in `i32`, for
/// a row-major `w` and the vector `x` that `xp` holds ([`Reordered::set`] with exactly
/// those entries). Rows missing from `w` give 0.
///
/// Equal to [`dot_i8_i16`] row by row for every input: both are the same sums modulo 2^32
/// (wrapping `i32` addition is associative and commutative), and exact (no wrap) under
/// its conditions (at most [`MAX_COLS`] columns, activations within `±ACT_MAX`).
///
/// Rows go four at a time through the leading multiple of 8 columns ([`quad_count`]
/// groups of four rows), each remaining row as a group of four copies of itself, then
/// every row's last `cols % 8` columns one by one. On ARMv7E-M the groups run in `SMLAD`
/// assembly (`kernels::arm_dsp`: per 4 columns of four rows one `LDRD` of activations
/// and per row one `LDR` of 4 weights, two `SXTB16`, two `SMLAD`: 1.31 instructions per
/// multiply-accumulate, 1.34 with the loop); elsewhere a portable model of that loop
/// computes the same terms in the same order.
pub fn matvec_acc<const H: usize>(w: &[i8], cols: usize, xp: &Reordered<H>, out: &mut [i32]) {
    matvec_acc_xp(w, cols, Xp(&xp.v), out);
}

/// [`matvec_acc`] for packed `i4` weights (rows of `ceil(cols / 2)` bytes) and the vector
/// `xp` holds in the int4 order ([`Reordered::set_i4`]): `out[i] = Σ_j w_ij · x[j]` over
/// `j < min(cols, H)`, equal to [`dot_i4_i16`] row by row for the runtime's inputs (at
/// most [`MAX_COLS`] columns, activations within `±ACT_MAX`). Two rows per pass of the
/// `SMLAD` assembly on ARMv7E-M (`kernels::arm_dsp::i4`), its portable model elsewhere.
pub fn matvec_acc_i4<const H: usize>(w: &[u8], cols: usize, xp: &Reordered<H>, out: &mut [i32]) {
    matvec_acc_i4_xp(w, cols, Xp(&xp.v), out);
}

/// [`matvec_acc`] against a reordered input of any length (`xp`'s).
#[inline]
pub(crate) fn matvec_acc_xp(w: &[i8], cols: usize, xp: Xp<'_>, out: &mut [i32]) {
    let n = cols.min(xp.0.len());
    let groups = n / 8;
    let body = 8 * groups;
    let (c2, c4) = (cols.saturating_mul(2), cols.saturating_mul(4));
    let done = 4 * quad_sums(w, cols, c2, c4, groups, xp, out);
    // The rows after the last group of four (or every row, with fewer than 8 columns).
    for (i, o) in out.iter_mut().enumerate().skip(done) {
        let row = w.get(i.saturating_mul(cols)..).unwrap_or(&[]);
        let mut four = [0; 4];
        *o = if quad_sums(row, 0, 0, cols, groups, xp, &mut four) == 1 {
            four[0]
        } else {
            0
        };
    }
    if body < n {
        let x = xp.0.get(body..n).unwrap_or(&[]);
        for (i, o) in out.iter_mut().enumerate() {
            let start = i.saturating_mul(cols);
            let row = w.get(start.saturating_add(body)..start.saturating_add(n));
            for (&a, &b) in row.unwrap_or(&[]).iter().zip(x) {
                *o = o.wrapping_add(i32::from(a) * i32::from(b));
            }
        }
    }
}

/// How many groups of four rows the kernel may run: the largest `q` with `4q <= out_len`
/// and every row it reads inside `w`. Group `k` reads the rows at `k·stride + {0, b_off,
/// c_off, c_off + b_off}`, each `8·groups` bytes; 0 when `groups` is 0 or more than
/// `h / 8`, or when `stride < 8·groups`.
///
/// Guarantees, when the result `q` is not 0: `1 <= groups`, `8·groups <= h`,
/// `stride >= 8·groups`, `4q <= out_len`, and
/// `(q - 1)·stride + c_off + b_off + 8·groups <= w_len` (the last row of the last group
/// ends inside `w`; every other row read ends before it).
pub const fn quad_count(
    w_len: usize,
    b_off: usize,
    c_off: usize,
    stride: usize,
    groups: usize,
    out_len: usize,
    h: usize,
) -> usize {
    if groups == 0 || groups > h / 8 {
        return 0;
    }
    let body = 8 * groups; // <= h: no overflow
    if stride < body {
        return 0;
    }
    let need = match b_off.checked_add(c_off) {
        Some(o) => match o.checked_add(body) {
            Some(n) => n,
            None => return 0,
        },
        None => return 0,
    };
    if w_len < need {
        return 0;
    }
    // stride >= body >= 8: no division by zero.
    let fit = (w_len - need) / stride + 1;
    let room = out_len / 4;
    if fit < room {
        fit
    } else {
        room
    }
}

/// The four-row kernel: for `k < q = quad_count(..)`, `out[4k..4k + 4]` are the sums over
/// the first `8·groups` columns of the rows of `w` at `k·stride`, `k·stride + b_off`,
/// `k·stride + c_off` and `k·stride + c_off + b_off`. Returns `q`.
#[inline]
fn quad_sums(
    w: &[i8],
    b_off: usize,
    c_off: usize,
    stride: usize,
    groups: usize,
    xp: Xp<'_>,
    out: &mut [i32],
) -> usize {
    #[cfg(mynah_dsp)]
    return arm_dsp::quad_sums(w, b_off, c_off, stride, groups, xp, out);
    #[cfg(not(mynah_dsp))]
    return quad_sums_model(w, b_off, c_off, stride, groups, xp.as_slice(), out);
}

/// `SXTB16`: the bytes 0 and 2 of `w`, sign-extended, as the (low, high) halves.
#[cfg(any(test, not(mynah_dsp)))]
#[inline]
const fn sxtb16(w: u32) -> (i32, i32) {
    (w as u8 as i8 as i32, (w >> 16) as u8 as i8 as i32)
}

/// `SMLAD`: `acc + lo(a)·lo(x) + hi(a)·hi(x)` (wrapping, as the instruction's sum).
#[cfg(any(test, not(mynah_dsp)))]
#[inline]
const fn smlad(acc: i32, a: (i32, i32), x: (i32, i32)) -> i32 {
    acc.wrapping_add(a.0 * x.0).wrapping_add(a.1 * x.1)
}

/// The portable model of the `SMLAD` loop (`kernels::arm_dsp::quad_sums`), step by step:
/// per 4 columns the activations as the words `[x0, x2]`, `[x1, x3]`; each row's 4
/// weights as one little-endian word split by `SXTB16` into `[w0, w2]` and (after
/// `ROR #8`) `[w1, w3]`, two `SMLAD` per row; columns in ascending order. Host tests check
/// it against [`dot_i8_i16`]; `make device-check` (the firmware against `mynah sample`,
/// and `kernel-bench`) checks the assembly.
#[cfg(any(test, not(mynah_dsp)))]
fn quad_sums_model(
    w: &[i8],
    b_off: usize,
    c_off: usize,
    stride: usize,
    groups: usize,
    xp: &[i16],
    out: &mut [i32],
) -> usize {
    let quads = quad_count(w.len(), b_off, c_off, stride, groups, out.len(), xp.len());
    let body = 8 * groups;
    let x = xp.get(..body).unwrap_or(&[]);
    for (k, o) in out.chunks_exact_mut(4).take(quads).enumerate() {
        let offsets = [0, b_off, c_off, c_off + b_off];
        for (o, off) in o.iter_mut().zip(offsets) {
            let start = k * stride + off;
            let row = w.get(start..start + body).unwrap_or(&[]);
            let mut acc = 0i32;
            for (r, x) in row.chunks_exact(4).zip(x.chunks_exact(4)) {
                if let ([w0, w1, w2, w3], [x0, x2, x1, x3]) = (r, x) {
                    let word = u32::from_le_bytes([*w0 as u8, *w1 as u8, *w2 as u8, *w3 as u8]);
                    let x02 = (i32::from(*x0), i32::from(*x2));
                    let x13 = (i32::from(*x1), i32::from(*x3));
                    acc = smlad(acc, sxtb16(word), x02);
                    acc = smlad(acc, sxtb16(word.rotate_right(8)), x13);
                }
            }
            *o = acc;
        }
    }
    quads
}

/// Int8 rows with their requantization, borrowed from a model: what [`matvec_requant`]
/// multiplies. Row `i` is `w[i·cols..(i + 1)·cols]`; its result is
/// `round(acc · mult[i] / 2^shift[i]) + bias[i]`.
#[derive(Clone, Copy, Debug)]
pub struct QuantRows<'a> {
    /// Row-major weights, `cols` per row.
    pub w: &'a [i8],
    /// Columns per row (0 counts as 1).
    pub cols: usize,
    /// Per-row multipliers.
    pub mult: &'a [i32],
    /// Per-row shifts (`0..=62`; others are clamped by the requantization).
    pub shift: &'a [i8],
    /// Per-row Q16 biases.
    pub bias: &'a [i32],
}

impl<'a> QuantRows<'a> {
    /// How many whole rows every slice has.
    #[inline]
    pub fn len(&self) -> usize {
        let by_w = self.w.len() / self.cols.max(1);
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
    pub fn from(&self, first: usize) -> QuantRows<'a> {
        QuantRows {
            w: self
                .w
                .get(first.saturating_mul(self.cols.max(1))..)
                .unwrap_or(&[]),
            cols: self.cols,
            mult: self.mult.get(first..).unwrap_or(&[]),
            shift: self.shift.get(first..).unwrap_or(&[]),
            bias: self.bias.get(first..).unwrap_or(&[]),
        }
    }
}

/// `out[i] = requantize_in_range(dot_i8_i16(row i, x), mult[i], shift[i]) + bias[i]`
/// (wrapping) for every row that `rows` and `out` both have; other entries of `out` are
/// left as they are.
///
/// One row at a time on most targets; with AVX2 eight rows share each activation load, the
/// lane reduction and a vector requantization (`kernels::x86_avx2`), with equal results.
#[inline]
pub fn matvec_requant(rows: QuantRows<'_>, x: &[i16], out: &mut [i32]) {
    #[cfg(all(target_arch = "x86_64", feature = "avx2"))]
    let (rows, out) = {
        let done = x86_avx2::Avx2::detect().map_or(0, |k| k.matvec_requant(rows, x, out));
        (rows.from(done), out.get_mut(done..).unwrap_or(&mut []))
    };
    matvec_requant_rows(rows, x, out);
}

/// [`matvec_requant`] one row at a time with [`dot_i8_i16`]: the portable form, and the
/// reference the AVX2 kernel is tested against.
#[inline]
pub fn matvec_requant_rows(rows: QuantRows<'_>, x: &[i16], out: &mut [i32]) {
    let QuantRows {
        w,
        cols,
        mult,
        shift,
        bias,
    } = rows;
    let rows = w.chunks_exact(cols.max(1)).zip(mult).zip(shift).zip(bias);
    for (o, (((w, &m), &s), &b)) in out.iter_mut().zip(rows) {
        // WebAssembly with SIMD128: 16 columns per step (`kernels::wasm_simd`), equal sums.
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        let acc = wasm_simd::dot_i8_i16(w, x);
        #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
        let acc = dot_i8_i16(w, x);
        *o = requantize_in_range(acc, m, s as u32).wrapping_add(b);
    }
}

/// Requantizes a dot product: `round(acc * mult / 2^shift)`, saturated to `i32`.
///
/// `mult` and `shift` encode the real factor `mult * 2^-shift` the exporter computed
/// (`2 * row_scale` for Q15 inputs and a Q16 result); `shift` must be `<= MAX_SHIFT`
/// (larger values are treated as `MAX_SHIFT`).
#[inline]
pub fn requantize(acc: i32, mult: i32, shift: u32) -> i32 {
    let shift = if shift > MAX_SHIFT { MAX_SHIFT } else { shift };
    // |acc * mult| <= 2^31 * 2^31 = 2^62: fits, and so does the rounding offset.
    saturate_i32(round_shift(i64::from(acc) * i64::from(mult), shift))
}

/// [`requantize`] without the saturation, for results known to fit: `IntModel::new`
/// proves `|result| <= PRE_MAX` for every row it accepts (see [`requantize_bound`]).
/// Out-of-range results wrap instead of panicking: the result is the low 32 bits of
/// `round_shift(acc * mult, shift)` for every input.
///
/// Computed with 32-bit shifts only, as a 32-bit core does it without a call to a 64-bit
/// shift routine: with `t = p - [p < 0]` (`p = acc * mult`), rounding half away from zero
/// is `floor((t + 2^(s-1)) / 2^s) = (t >> s) + bit s-1 of t`, and only the low word of
/// `t >> s` is kept.
#[inline]
pub fn requantize_in_range(acc: i32, mult: i32, shift: u32) -> i32 {
    #[cfg(any(target_pointer_width = "64", target_arch = "wasm32"))]
    if shift.wrapping_sub(1) < MAX_SHIFT {
        // A 64-bit core (and WebAssembly, whose i64 operations are native) shifts the
        // 64-bit product directly, without branches: the same
        // `(q >> 1) + (q & 1)` with `q = t >> (shift - 1)`, then the low 32 bits.
        let p = i64::from(acc) * i64::from(mult);
        let q = (p - i64::from(p < 0)) >> (shift - 1);
        return ((q >> 1) + (q & 1)) as i32;
    }
    requantize_in_range_32(acc, mult, shift)
}

/// [`requantize_in_range`] with 32-bit shifts only (every target; the only form on 32-bit
/// cores).
#[inline]
pub fn requantize_in_range_32(acc: i32, mult: i32, shift: u32) -> i32 {
    let p = i64::from(acc) * i64::from(mult);
    // |p| <= 2^62: no overflow.
    let t = p - i64::from(p < 0);
    let (lo, hi) = (t as u32, (t >> 32) as i32);
    let k = shift.wrapping_sub(33);
    if k <= MAX_SHIFT - 33 {
        // The usual case, 33 <= shift <= 62 (the exporter's are about 36-46): with
        // `q = t >> (shift - 1)`, the high word shifted by k, the result is
        // `(t >> shift) + bit shift-1 = (q >> 1) + (q & 1)`.
        let q = hi >> k;
        return (q >> 1) + (q & 1);
    }
    let s = if shift > MAX_SHIFT { MAX_SHIFT } else { shift };
    if s > 32 {
        let q = hi >> (s - 33);
        (q >> 1) + (q & 1)
    } else if s == 32 {
        hi.wrapping_add((lo >> 31) as i32)
    } else if s > 0 {
        let q = (lo >> s) | ((hi as u32) << (32 - s));
        q.wrapping_add((lo >> (s - 1)) & 1) as i32
    } else {
        p as i32
    }
}

/// An upper bound of `|requantize(acc, mult, shift)|` over every input of a row whose
/// weights have absolute sum `l1` (at most `512 · 128`), given `|x_j| <= ACT_MAX`:
/// `ceil(l1 · 32767 · |mult| / 2^shift)`.
pub const fn requantize_bound(l1: u64, mult: i32, shift: u32) -> u64 {
    let shift = if shift > MAX_SHIFT { MAX_SHIFT } else { shift };
    // l1 · 32767 < 2^31 and |mult| <= 2^31: the product stays below 2^62.
    let p = l1 * ACT_MAX as u64 * mult.unsigned_abs() as u64;
    (p + (1 << shift) - 1) >> shift
}

/// `round(a * b / 2^15)` for a Q15 gate `a` in `[0, 32768]` and any `i32` `b`.
///
/// The result's magnitude never exceeds `|b|`, so it fits an `i32`.
#[inline(always)]
pub fn mul_q15(a: i32, b: i32) -> i32 {
    saturate_i32(round_shift(i64::from(a) * i64::from(b), ACT_FRAC))
}

/// tanh of a fixed-point number `x` with `frac` fractional bits (`7 <= frac <= 24`), as Q15.
///
/// Table lookup in [`TANH_Q15`] (step 1/128 over `[0, 8]`) with linear interpolation,
/// odd symmetry for negative inputs, and 32767 beyond 8 (`tanh(8) * 32768 > 32767.99`).
/// Error against the true tanh: at most 1.2 LSB (table rounding 0.5, interpolation 0.19,
/// result rounding 0.5). `frac` outside the range is clamped into it.
#[inline(always)]
pub fn tanh_q15(x: i32, frac: u32) -> i16 {
    let frac = frac.clamp(TANH_STEP_BITS, 24);
    let sub = frac - TANH_STEP_BITS; // fractional bits below one table step
    let mag = x.unsigned_abs();
    let limit = 8u32 << frac; // 2^27 at most: no overflow
    let y = if mag >= limit {
        ACT_MAX
    } else {
        let idx = (mag >> sub) as usize;
        let f = (mag & ((1u32 << sub) - 1)) as i32;
        let lo = i32::from(TANH_Q15.get(idx).copied().unwrap_or(i16::MAX));
        let hi = i32::from(TANH_Q15.get(idx + 1).copied().unwrap_or(i16::MAX));
        // The table increases; (hi - lo) <= 256 and f < 2^17, so the product fits.
        let step = if sub == 0 {
            0
        } else {
            ((hi - lo) * f + (1 << (sub - 1))) >> sub
        };
        lo + step
    };
    if x < 0 {
        -y as i16
    } else {
        y as i16
    }
}

/// The logistic sigmoid of a Q16 pre-activation, as Q15 in `[1, 32768]`.
///
/// `σ(x) = (1 + tanh(x / 2)) / 2`: reading the Q16 input as Q17 halves it without losing
/// a bit, so one table serves both functions (as in RNNoise). Error: at most 1.1 LSB.
#[inline(always)]
pub fn sigmoid_q15(x: i32) -> i32 {
    let t = i32::from(tanh_q15(x, PRE_FRAC + 1));
    // (32768 + t) / 2 rounded half up; t is in [-32767, 32767].
    (ONE_Q15 + t + 1) >> 1
}

/// One GRU unit's new hidden value: `h' = n + z * (h - n)` (= `(1 - z) n + z h`), Q15.
///
/// `z` is Q15 in `[0, 32768]`; `|z * (h - n)| < 2^31`, so `i32` is exact.
#[inline(always)]
pub fn gru_blend(z: i32, h: i16, n: i16) -> i16 {
    let d = i32::from(h) - i32::from(n);
    let zd = z * d;
    // Half away from zero, as `round_shift` does, in i32.
    let r = (zd + (1 << 14) - i32::from(zd < 0)) >> ACT_FRAC;
    saturate_act(i32::from(n) + r)
}

/// The GRU's update of the hidden units `h` (Q15, in place) from the gate pre-activations
/// (Q16, biases included) `g = [g_r, g_z, g_n]` and the reset gate's recurrent product
/// `gh_n`: `g_r` and `g_z` hold the sums of the input and recurrent products
/// (`W_ir x + b_ir + W_hr h + b_hr`, and z's), `g_n` the input product only. For each unit,
/// `r = σ(g_r)`, `z = σ(g_z)`, `n = tanh(g_n + r·gh_n)` and `h' = (1 − z)·n + z·h`.
///
/// Each sum is of terms at most [`PRE_MAX`] in magnitude (proven at load), so it fits; any
/// other input wraps instead of panicking. Units past the shortest slice are left as they
/// are. Eight units at a time with AVX2 (`kernels::x86_avx2`), with equal results.
#[inline(always)]
pub fn gru_units<const H: usize>(h: &mut [i16], g: &[[i32; H]; 3], gh_n: &[i32; H]) {
    gru_units_rows(h, g.each_ref().map(|g| &g[..]), gh_n);
}

/// [`gru_units`] over rows of any length: `g = [g_r, g_z, g_n]` and `gh_n`; units past the
/// shortest slice are left as they are.
#[inline(always)]
pub fn gru_units_rows(h: &mut [i16], g: [&[i32]; 3], gh_n: &[i32]) {
    #[cfg(all(target_arch = "x86_64", feature = "avx2"))]
    let (h, g, gh_n) = {
        let done = x86_avx2::Avx2::detect().map_or(0, |avx2| avx2.gru_units(h, g, gh_n));
        let rest = h.get_mut(done..).unwrap_or(&mut []);
        (rest, gates_from(g, done), gh_n.get(done..).unwrap_or(&[]))
    };
    let [g_r, g_z, g_n] = g;
    let units = h.iter_mut().zip(g_r).zip(g_z).zip(g_n).zip(gh_n);
    for ((((hp, &gr), &gz), &inn), &hn) in units {
        let r = sigmoid_q15(gr);
        let z = sigmoid_q15(gz);
        let n = tanh_q15(inn.wrapping_add(mul_q15(r, hn)), PRE_FRAC);
        *hp = gru_blend(z, *hp, n);
    }
}

/// Each gate's entries from `start` on.
#[cfg(all(target_arch = "x86_64", feature = "avx2"))]
#[inline]
fn gates_from(g: [&[i32]; 3], start: usize) -> [&[i32]; 3] {
    g.map(|g| g.get(start..).unwrap_or(&[]))
}

/// [`gru_units`] one unit at a time over slices, with the scalar functions only: the
/// reference the AVX2 kernel is tested against.
#[cfg(all(test, target_arch = "x86_64", feature = "avx2"))]
fn gru_units_scalar(h: &mut [i16], g: [&[i32]; 3], gh_n: &[i32]) {
    for (i, hp) in h.iter_mut().enumerate() {
        let (Some(&gr), Some(&gz), Some(&inn)) = (g[0].get(i), g[1].get(i), g[2].get(i)) else {
            return;
        };
        let Some(&hn) = gh_n.get(i) else {
            return;
        };
        let r = sigmoid_q15(gr);
        let z = sigmoid_q15(gz);
        let n = tanh_q15(inn.wrapping_add(mul_q15(r, hn)), PRE_FRAC);
        *hp = gru_blend(z, *hp, n);
    }
}

/// Fractional bits of the exponent `y` in [`exp2_neg_q30`].
pub const EXP2_FRAC: u32 = 24;

/// `2^-y` for `y >= 0` in Q24 ([`EXP2_FRAC`]), as Q30 (`2^30` is one).
///
/// The fractional part comes from [`EXP2_NEG_Q30`] (step 1/256, linear interpolation,
/// relative error below 1e-6), the integer part is a right shift rounded half up; results
/// under `2^-30` are 0.
#[inline]
pub fn exp2_neg_q30(y: u64) -> u32 {
    let int = y >> EXP2_FRAC;
    if int > 30 {
        return 0;
    }
    let frac = y & ((1 << EXP2_FRAC) - 1);
    let sub = EXP2_FRAC - EXP2_STEP_BITS;
    let idx = (frac >> sub) as usize;
    let f = frac & ((1 << sub) - 1);
    let lo = u64::from(EXP2_NEG_Q30.get(idx).copied().unwrap_or(0));
    let hi = u64::from(EXP2_NEG_Q30.get(idx + 1).copied().unwrap_or(0));
    // The table decreases; (lo - hi) < 2^22 and f < 2^16: the product fits easily.
    let v = lo - (((lo - hi) * f + (1 << (sub - 1))) >> sub);
    // v <= 2^30 (the table's first entry), so v + 2^29 fits a u32: 32-bit shifts suffice.
    let (v, int) = (v as u32, int as u32);
    if int == 0 {
        v
    } else {
        (v + (1 << (int - 1))) >> int
    }
}

/// `log2(e)` in Q30: `round(1.4426950408889634 * 2^30)`.
pub const LOG2E_Q30: u64 = 1_549_082_005;

/// Inputs of [`exp_neg_q30`] at or beyond 44 (Q16) give 0: `e^-44 < 2^-63`.
const EXP_CUTOFF_Q16: u64 = 44 << 16;

/// `e^-x` for `x >= 0` in Q16, as Q30: `2^-(x · log2 e)`, the exponent kept in Q24.
#[inline]
pub fn exp_neg_q30(x: u64) -> u32 {
    if x >= EXP_CUTOFF_Q16 {
        return 0;
    }
    // x < 2^22, LOG2E_Q30 < 2^31: the product < 2^53; Q16 · Q30 >> 22 is Q24.
    let y = (x * LOG2E_Q30 + (1 << 21)) >> 22;
    exp2_neg_q30(y)
}

/// A temperature turned into the constants of [`SoftmaxScale::weight`], computed once per
/// sampled token so that each logit costs a multiply and a table lookup, no division.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SoftmaxScale {
    /// `round(1000 · log2(e) · 2^40 / T_milli)`: Q16 logit gap → Q24 exponent, scaled 2^32.
    factor: u64,
    /// Logit gaps (Q16) at or above this give weight 0 (`gap / T >= 44`).
    cutoff: u64,
}

impl SoftmaxScale {
    /// The constants for a temperature of `temperature_milli / 1000` (0 is treated as 1).
    pub const fn new(temperature_milli: u32) -> Self {
        let t = if temperature_milli == 0 {
            1
        } else {
            temperature_milli as u64
        };
        // 1000 · LOG2E_Q30 · 2^10 < 2^51: no overflow; rounded half up.
        let num = (1000 * LOG2E_Q30) << 10;
        SoftmaxScale {
            factor: (num + t / 2) / t,
            cutoff: (44 * 65536 * t).div_ceil(1000),
        }
    }

    /// `e^-((max - logit) / T)` in Q30; `max` is the largest logit considered.
    ///
    /// The exponent `(max - logit) / T · log2 e` is formed in Q24 (rounded half up) and
    /// handed to [`exp2_neg_q30`]; gaps of 44 temperatures or more give 0.
    #[inline]
    pub fn weight(&self, max: i32, logit: i32) -> u32 {
        let d = (i64::from(max) - i64::from(logit)).max(0) as u64; // < 2^32
        if d >= self.cutoff {
            return 0;
        }
        // d < 44 · 65536 · T / 1000 + 1, so d · factor < 2^62.
        exp2_neg_q30((d * self.factor + (1 << 31)) >> 32)
    }
}

/// `out[i] = scale.weight(max, logits[i])` over the common length, and the sum of those
/// weights. Every logit must be at most `max` (the softmax's maximum). Eight at a time with
/// AVX2 (`kernels::x86_avx2`), with equal results.
#[cfg(all(target_arch = "x86_64", feature = "avx2"))]
#[inline]
pub fn softmax_weights(scale: &SoftmaxScale, max: i32, logits: &[i32], out: &mut [i32]) -> u64 {
    let avx2 = x86_avx2::Avx2::detect();
    let (done, mut total) = avx2
        .and_then(|k| k.softmax_weights(scale, max, logits, out))
        .unwrap_or((0, 0));
    let rest = logits.get(done..).unwrap_or(&[]);
    for (o, &l) in out.iter_mut().skip(done).zip(rest) {
        let w = scale.weight(max, l);
        *o = w as i32; // w <= 2^30
        total += u64::from(w);
    }
    total
}

#[cfg(test)]
mod tests {
    #[test]
    fn requantize_paths_agree() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..200_000 {
            let (acc, mult) = (next() as i32, next() as i32);
            let shift = (next() % 70) as u32;
            assert_eq!(
                super::requantize_in_range(acc, mult, shift),
                super::requantize_in_range_32(acc, mult, shift),
                "acc {acc} mult {mult} shift {shift}"
            );
        }
        for shift in 0..70 {
            for (acc, mult) in [(i32::MIN, i32::MIN), (i32::MAX, i32::MIN), (-1, 1), (1, -1)] {
                assert_eq!(
                    super::requantize_in_range(acc, mult, shift),
                    super::requantize_in_range_32(acc, mult, shift)
                );
            }
        }
    }

    use super::*;

    #[test]
    fn round_shift_is_half_away_from_zero() {
        assert_eq!(round_shift(5, 1), 3); // 2.5 -> 3
        assert_eq!(round_shift(-5, 1), -3); // -2.5 -> -3
        assert_eq!(round_shift(3, 1), 2); // 1.5 -> 2
        assert_eq!(round_shift(-3, 1), -2);
        assert_eq!(round_shift(-4, 1), -2);
        assert_eq!(round_shift(7, 2), 2); // 1.75
        assert_eq!(round_shift(-7, 2), -2);
        assert_eq!(round_shift(-6, 2), -2); // -1.5 -> -2
        assert_eq!(round_shift(-5, 2), -1); // -1.25 -> -1
        assert_eq!(round_shift(123, 0), 123);
    }

    #[test]
    fn dot_all_max_does_not_overflow() {
        let w = [i8::MIN; MAX_COLS];
        let x = [-(ACT_MAX as i16); MAX_COLS];
        assert_eq!(dot_i8_i16(&w, &x), 512 * 128 * 32767);
        let w = [127i8; MAX_COLS];
        let x = [-(ACT_MAX as i16); MAX_COLS];
        assert_eq!(dot_i8_i16(&w, &x), -512 * 127 * 32767);
    }

    #[test]
    fn dot_matches_naive_with_tail() {
        let w: [i8; 77] = core::array::from_fn(|i| (i as i32 * 37 % 255 - 127) as i8);
        let x: [i16; 77] = core::array::from_fn(|i| (i as i32 * 7919 % 65535 - 32767) as i16);
        let naive: i64 = w
            .iter()
            .zip(&x)
            .map(|(&a, &b)| i64::from(a) * i64::from(b))
            .sum();
        assert_eq!(i64::from(dot_i8_i16(&w, &x)), naive);
    }

    /// `matvec_acc` (on the host: the portable model of the SMLAD loop, plus the rows after
    /// the last group of four and the column tails) equals `dot_i8_i16` row by row, for any
    /// shape (any row count, tails of 0..7 columns, fewer than 8 columns) and any values,
    /// `-128` and `-32768` included.
    fn check_matvec(w: &[i8], cols: usize, x: &[i16]) {
        const H: usize = MAX_COLS + 8;
        let n = cols.min(x.len());
        let mut xp = Reordered::<H>::new();
        xp.set(&x[..n]);
        let rows = w.len().checked_div(n).unwrap_or(3);
        let mut got = vec![7; rows];
        matvec_acc(w, n, &xp, &mut got);
        let want: Vec<i32> = (0..rows)
            .map(|i| {
                if n == 0 {
                    0
                } else {
                    dot_i8_i16(&w[i * n..(i + 1) * n], &x[..n])
                }
            })
            .collect();
        assert_eq!(got, want, "rows {rows} cols {n}");
    }

    #[test]
    fn reordered_layout() {
        let x: [i16; 13] = core::array::from_fn(|i| i as i16);
        let mut xp = Reordered::<16>::new();
        xp.set(&x);
        assert_eq!(
            xp.as_slice(),
            &[0, 2, 1, 3, 4, 6, 5, 7, 8, 9, 10, 11, 12, 0, 0, 0]
        );
        assert_eq!(core::mem::align_of::<Reordered<3>>(), 4);
        assert_eq!(xp.as_slice().as_ptr() as usize % 4, 0);
    }

    #[test]
    fn matvec_acc_extremes() {
        for (wv, xv) in [
            (i8::MIN, -(ACT_MAX as i16)),
            (i8::MIN, i16::MIN), // wraps alike: 512 · 128 · 32768 = 2^31
            (i8::MAX, ACT_MAX as i16),
            (i8::MAX, -(ACT_MAX as i16)),
        ] {
            for cols in [0, 1, 7, 8, 9, 15, 16, 17, 24, 45, 128, 511, MAX_COLS] {
                for rows in [1, 2, 3, 4, 5, 8, 11] {
                    check_matvec(&vec![wv; rows * cols], cols, &vec![xv; cols]);
                }
            }
        }
    }

    #[test]
    fn quad_count_stays_in_bounds() {
        for w_len in 0..60 {
            for b_off in 0..12 {
                for c_off in 0..12 {
                    for stride in 0..20 {
                        for groups in 0..3 {
                            for out_len in 0..10 {
                                let q =
                                    quad_count(w_len, b_off, c_off, stride, groups, out_len, 16);
                                if q == 0 {
                                    continue;
                                }
                                let body = 8 * groups;
                                assert!(groups >= 1 && body <= 16 && stride >= body);
                                assert!(4 * q <= out_len);
                                assert!((q - 1) * stride + c_off + b_off + body <= w_len);
                                // The largest such q.
                                let more = 4 * (q + 1) <= out_len
                                    && q * stride + c_off + b_off + body <= w_len;
                                assert!(!more);
                            }
                        }
                    }
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn matvec_acc_matches_dot(
            rows in 1usize..14,
            cols in 0usize..=MAX_COLS,
            seed in proptest::num::u64::ANY,
        ) {
            let mut s = seed | 1;
            let mut next = || { s ^= s << 13; s ^= s >> 7; s ^= s << 17; s };
            let w: Vec<i8> = (0..rows * cols).map(|_| next() as i8).collect();
            let x: Vec<i16> = (0..cols).map(|_| next() as i16).collect();
            check_matvec(&w, cols, &x);
        }

        #[test]
        fn matvec_acc_matches_dot_small(
            w in proptest::collection::vec(proptest::num::i8::ANY, 0..=300),
            x in proptest::collection::vec(proptest::num::i16::ANY, 1..=40),
        ) {
            check_matvec(&w, x.len(), &x);
        }
    }

    /// The 32-bit formulation of `requantize_in_range` is the low word of `round_shift`.
    fn check_requantize(acc: i32, mult: i32, shift: u32) {
        let s = shift.min(MAX_SHIFT);
        let want = round_shift(i64::from(acc) * i64::from(mult), s) as i32;
        assert_eq!(
            requantize_in_range(acc, mult, shift),
            want,
            "{acc} {mult} {shift}"
        );
    }

    #[test]
    fn requantize_in_range_extremes() {
        let vals = [
            i32::MIN,
            i32::MIN + 1,
            -65537,
            -65536,
            -3,
            -2,
            -1,
            0,
            1,
            2,
            3,
            65535,
            i32::MAX,
        ];
        for &acc in &vals {
            for &mult in &vals {
                for shift in 0..=70 {
                    check_requantize(acc, mult, shift);
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn requantize_in_range_matches_round_shift(
            acc in proptest::num::i32::ANY,
            mult in proptest::num::i32::ANY,
            shift in 0u32..=64,
        ) {
            check_requantize(acc, mult, shift);
            check_requantize(acc >> (shift % 32), mult, shift);
        }
    }

    #[test]
    fn requantize_extremes_saturate() {
        assert_eq!(requantize(i32::MAX, i32::MAX, 0), i32::MAX);
        assert_eq!(requantize(i32::MIN, i32::MAX, 0), i32::MIN);
        assert_eq!(requantize(i32::MIN, i32::MIN, 62), 1);
        assert_eq!(requantize(1 << 20, 1 << 30, 40), 1 << 10);
        assert_eq!(requantize(3, 1 << 30, 31), 2); // 1.5 -> 2
        assert_eq!(requantize(-3, 1 << 30, 31), -2);
        assert_eq!(requantize(5, 5, 200), 0); // shift clamped to 62
    }

    #[test]
    fn tanh_endpoints_and_symmetry() {
        assert_eq!(tanh_q15(0, PRE_FRAC), 0);
        assert_eq!(tanh_q15(i32::MAX, PRE_FRAC), 32767);
        assert_eq!(tanh_q15(i32::MIN, PRE_FRAC), -32767);
        for x in (-(9 << 16)..(9 << 16)).step_by(997) {
            assert_eq!(tanh_q15(-x, PRE_FRAC), -tanh_q15(x, PRE_FRAC));
        }
        let mut prev = i16::MIN;
        for x in (-(9 << 16)..(9 << 16)).step_by(101) {
            let y = tanh_q15(x, PRE_FRAC);
            assert!(y >= prev, "tanh not monotone at {x}");
            prev = y;
        }
    }

    #[test]
    fn sigmoid_endpoints() {
        assert_eq!(sigmoid_q15(0), 16384);
        assert_eq!(sigmoid_q15(i32::MAX), 32768);
        assert_eq!(sigmoid_q15(i32::MIN), 1);
        let mut prev = 0;
        for x in (-(20 << 16)..(20 << 16)).step_by(331) {
            let y = sigmoid_q15(x);
            assert!((1..=32768).contains(&y));
            assert!(y >= prev);
            prev = y;
        }
    }

    #[test]
    fn blend_endpoints() {
        assert_eq!(gru_blend(0, 1000, -2000), -2000);
        assert_eq!(gru_blend(ONE_Q15, 1000, -2000), 1000);
        assert_eq!(gru_blend(ONE_Q15, 32767, -32767), 32767);
        assert_eq!(gru_blend(ONE_Q15, -32767, 32767), -32767);
        assert_eq!(gru_blend(16384, 32767, -32767), 0);
    }

    /// `exp2_neg_q30` rounds its integer part in 32 bits: the same as in 64.
    #[test]
    fn exp2_matches_64_bit_rounding() {
        let reference = |y: u64| -> u32 {
            let int = y >> EXP2_FRAC;
            if int > 30 {
                return 0;
            }
            let frac = y & ((1 << EXP2_FRAC) - 1);
            let sub = EXP2_FRAC - EXP2_STEP_BITS;
            let idx = (frac >> sub) as usize;
            let f = frac & ((1 << sub) - 1);
            let lo = u64::from(EXP2_NEG_Q30[idx]);
            let hi = u64::from(EXP2_NEG_Q30[idx + 1]);
            let v = lo - (((lo - hi) * f + (1 << (sub - 1))) >> sub);
            (if int == 0 {
                v
            } else {
                (v + (1 << (int - 1))) >> int
            }) as u32
        };
        for y in (0..(32u64 << EXP2_FRAC)).step_by(4099) {
            assert_eq!(exp2_neg_q30(y), reference(y), "{y}");
        }
        for int in 0..=31u64 {
            for frac in [0, 1, 65535, 65536, (1 << EXP2_FRAC) - 1] {
                let y = (int << EXP2_FRAC) | frac;
                assert_eq!(exp2_neg_q30(y), reference(y), "{y}");
            }
        }
    }

    #[test]
    fn exp_endpoints() {
        assert_eq!(exp_neg_q30(0), 1 << 30);
        assert_eq!(exp2_neg_q30(1 << 24), 1 << 29);
        assert_eq!(exp2_neg_q30(31 << 24), 0);
        assert_eq!(exp_neg_q30(u64::MAX), 0);
        assert_eq!(SoftmaxScale::new(800).weight(5, 5), 1 << 30);
        assert_eq!(SoftmaxScale::new(1).weight(i32::MAX, i32::MIN), 0);
        // The widest gap at the hottest temperature: e^-(65536 / 4294967.295) ≈ 0.985.
        assert_eq!(
            SoftmaxScale::new(u32::MAX).weight(i32::MAX, i32::MIN) >> 20,
            1008
        );
        // ln 2 at T = 1 halves the weight.
        assert!(SoftmaxScale::new(1000).weight(45_426, 0).abs_diff(1 << 29) < 2000);
        let mut prev = u32::MAX;
        for x in (0..(45u64 << 16)).step_by(977) {
            let y = exp_neg_q30(x);
            assert!(y <= prev);
            prev = y;
        }
    }
}
