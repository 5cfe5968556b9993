//! The int4 matrix product with AVX2: eight rows per pass as in the int8 kernel, 32
//! columns per step. The activations of a step are split once (shared by the eight rows)
//! into their even and odd columns; each row's 16 bytes of weights are sign-extended to
//! sixteen `i16` lanes (`vpmovsxbw`), whose arithmetic shifts give the low nibbles (`<< 12`
//! then `>> 12`: the even columns) and the high nibbles (`>> 4`: the odd columns), and two
//! `vpmaddwd` multiply them with the even and the odd activations; the last columns of a row
//! make one more step, zero-padded. The sums are the terms of
//! [`crate::kernels::dot_i4_i16`] added in another order (wrapping `i32` addition is associative and
//! commutative), and the requantization is the int8 kernel's: equal results.

use core::arch::x86_64::*;

use super::{reduce8, requantize8, Avx2, ROWS};
use crate::kernels::int4::{row_bytes, QuantRows4};
use crate::kernels::{requantize_in_range, MAX_SHIFT};

/// Columns per step: 16 bytes of weights.
const COLS: usize = 32;

/// Bytes of weights per step.
const BYTES: usize = COLS / 2;

impl Avx2 {
    /// [`crate::kernels::matvec_requant_i4`] for the leading multiple of eight of the rows
    /// that `rows` and `out` both have; returns how many rows it wrote.
    #[inline]
    pub(crate) fn matvec_requant_i4(
        self,
        rows: QuantRows4<'_>,
        x: &[i16],
        out: &mut [i32],
    ) -> usize {
        // SAFETY: calling a `#[target_feature(enable = "avx2")]` function is sound on a CPU
        // with AVX2, and the `Avx2` token exists only where `detect` found it. The function
        // itself is safe code (bounds-checked slices, no raw pointers).
        #[allow(unsafe_code)]
        unsafe {
            matvec_requant_i4_avx2(rows, x, out)
        }
    }
}

/// The even columns `x[0], x[2], …, x[30]` and the odd ones `x[1], …, x[31]` of 32
/// activations, each as sixteen `i16` lanes in order.
///
/// Each 32-bit lane holds an even column in its low half and the next odd one in its high
/// half: the arithmetic shifts sign-extend either to 32 bits, `vpackssdw` packs them back
/// (no saturation: they are `i16` values) with the 64-bit quarters in the order 0, 2, 1, 3,
/// which `vpermq` puts right.
#[inline]
#[target_feature(enable = "avx2")]
fn split_even_odd(x: &[i16; COLS]) -> (__m256i, __m256i) {
    let [a, b]: [__m256i; 2] = bytemuck::cast(*x);
    let even_a = _mm256_srai_epi32::<16>(_mm256_slli_epi32::<16>(a));
    let even_b = _mm256_srai_epi32::<16>(_mm256_slli_epi32::<16>(b));
    let odd_a = _mm256_srai_epi32::<16>(a);
    let odd_b = _mm256_srai_epi32::<16>(b);
    (
        _mm256_permute4x64_epi64::<0b11_01_10_00>(_mm256_packs_epi32(even_a, even_b)),
        _mm256_permute4x64_epi64::<0b11_01_10_00>(_mm256_packs_epi32(odd_a, odd_b)),
    )
}

/// `acc + ` the products of 32 packed weights and the 32 activations `(even, odd)`, summed
/// into 8 lanes.
#[inline]
#[target_feature(enable = "avx2")]
fn mac(acc: __m256i, w: &[u8; BYTES], even: __m256i, odd: __m256i) -> __m256i {
    // Lane k: byte k sign-extended, 16·hi + lo with lo unsigned.
    let v = _mm256_cvtepi8_epi16(bytemuck::cast(*w));
    let lo = _mm256_srai_epi16::<12>(_mm256_slli_epi16::<12>(v)); // column 2k
    let hi = _mm256_srai_epi16::<4>(v); // column 2k + 1
    _mm256_add_epi32(
        acc,
        _mm256_add_epi32(_mm256_madd_epi16(lo, even), _mm256_madd_epi16(hi, odd)),
    )
}

#[target_feature(enable = "avx2")]
fn matvec_requant_i4_avx2(rows: QuantRows4<'_>, x: &[i16], out: &mut [i32]) -> usize {
    let QuantRows4 {
        w,
        cols,
        mult,
        shift,
        bias,
    } = rows;
    let rb = row_bytes(cols);
    let n = cols.min(x.len());
    let rows = rows.len().min(out.len());
    let (xv, xt) = x[..n].as_chunks::<COLS>();
    let chunks = xv.len();
    let groups = rows / ROWS;
    // As in the int8 kernel: a shift of 0 sends the product through the scalar form.
    let vector_shifts = shift[..rows]
        .iter()
        .fold(true, |ok, &s| ok & (s >= 1) & (s as u32 <= MAX_SHIFT));
    for g in 0..groups {
        let first = g * ROWS;
        // Each row's bytes and its whole steps (`rb >= 16·chunks`: n <= cols).
        let r: [&[u8]; ROWS] = [
            &w[first * rb..][..rb],
            &w[(first + 1) * rb..][..rb],
            &w[(first + 2) * rb..][..rb],
            &w[(first + 3) * rb..][..rb],
            &w[(first + 4) * rb..][..rb],
            &w[(first + 5) * rb..][..rb],
            &w[(first + 6) * rb..][..rb],
            &w[(first + 7) * rb..][..rb],
        ];
        let c: [&[[u8; BYTES]]; ROWS] = [
            &r[0].as_chunks().0[..chunks],
            &r[1].as_chunks().0[..chunks],
            &r[2].as_chunks().0[..chunks],
            &r[3].as_chunks().0[..chunks],
            &r[4].as_chunks().0[..chunks],
            &r[5].as_chunks().0[..chunks],
            &r[6].as_chunks().0[..chunks],
            &r[7].as_chunks().0[..chunks],
        ];
        let mut acc = [_mm256_setzero_si256(); ROWS];
        for (j, xj) in xv.iter().enumerate() {
            let (even, odd) = split_even_odd(xj);
            acc[0] = mac(acc[0], &c[0][j], even, odd);
            acc[1] = mac(acc[1], &c[1][j], even, odd);
            acc[2] = mac(acc[2], &c[2][j], even, odd);
            acc[3] = mac(acc[3], &c[3][j], even, odd);
            acc[4] = mac(acc[4], &c[4][j], even, odd);
            acc[5] = mac(acc[5], &c[5][j], even, odd);
            acc[6] = mac(acc[6], &c[6][j], even, odd);
            acc[7] = mac(acc[7], &c[7][j], even, odd);
        }
        if !xt.is_empty() {
            // The last columns as one more step, zero-padded: the padded activations are 0,
            // so neither the padded weights nor a row's padding nibble add anything.
            let mut xpad = [0i16; COLS];
            xpad[..xt.len()].copy_from_slice(xt);
            let (even, odd) = split_even_odd(&xpad);
            let tail = (xt.len()).div_ceil(2);
            for (a, rk) in acc.iter_mut().zip(&r) {
                let mut wpad = [0u8; BYTES];
                wpad[..tail].copy_from_slice(&rk[BYTES * chunks..][..tail]);
                *a = mac(*a, &wpad, even, odd);
            }
        }
        let sums = reduce8(acc);
        let range = first..first + ROWS;
        let (Ok(m), Ok(sh), Ok(b), Ok(o)) = (
            <&[i32; ROWS]>::try_from(&mult[range.clone()]),
            <&[i8; ROWS]>::try_from(&shift[range.clone()]),
            <&[i32; ROWS]>::try_from(&bias[range.clone()]),
            <&mut [i32; ROWS]>::try_from(&mut out[range]),
        ) else {
            continue; // unreachable: `rows` is at most each slice's length
        };
        *o = if vector_shifts {
            bytemuck::cast(requantize8(sums, m, sh, b))
        } else {
            let sums: [i32; ROWS] = bytemuck::cast(sums);
            let mut o = [0; ROWS];
            for (k, o) in o.iter_mut().enumerate() {
                *o = requantize_in_range(sums[k], m[k], sh[k] as u32).wrapping_add(b[k]);
            }
            o
        };
    }
    groups * ROWS
}
