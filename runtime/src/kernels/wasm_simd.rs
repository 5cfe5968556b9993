//! The int8 × int16 dot product with WebAssembly SIMD128 (`wasm32` built with
//! `-C target-feature=+simd128`, as `make web` does): 16 columns per step, the weights
//! sign-extended to two `i16x8` vectors and multiplied pairwise into `i32x4` lanes by
//! `i32x4.dot_i16x8_s` (x86's `pmaddwd`, which the browser compiles it to).
//!
//! Safe code only: the intrinsics are safe to call where the feature is enabled at compile
//! time, and slices become vectors by value (`bytemuck::cast` of arrays).
//!
//! Equal to [`super::dot_i8_i16`] for every input: the same products, added in another
//! order with wrapping `i32` additions, which are associative and commutative, so the sums
//! are equal modulo 2^32 — and exact for the runtime's inputs (at most 512 columns,
//! activations within ±32767), so neither ever wraps.

use core::arch::wasm32::{
    i16x8_extend_high_i8x16, i16x8_extend_low_i8x16, i32x4_add, i32x4_dot_i16x8,
    i32x4_extract_lane, i32x4_splat, v128,
};

/// Columns per step.
const STEP: usize = 16;

/// `Σ w[j] · x[j]` over the common length, wrapping in `i32`.
#[inline]
pub(super) fn dot_i8_i16(w: &[i8], x: &[i16]) -> i32 {
    let n = w.len().min(x.len());
    let (w, x) = (w.get(..n).unwrap_or(&[]), x.get(..n).unwrap_or(&[]));
    let wb = w.chunks_exact(STEP);
    let xb = x.chunks_exact(STEP);
    let (wt, xt) = (wb.remainder(), xb.remainder());
    let mut acc = i32x4_splat(0);
    for (wc, xc) in wb.zip(xb) {
        let (Ok(wc), Ok(xc)) = (<[i8; STEP]>::try_from(wc), <[i16; STEP]>::try_from(xc)) else {
            continue; // unreachable: chunks_exact yields full steps
        };
        let wv: v128 = bytemuck::cast(wc);
        let [x0, x1]: [v128; 2] = bytemuck::cast(xc);
        acc = i32x4_add(acc, i32x4_dot_i16x8(i16x8_extend_low_i8x16(wv), x0));
        acc = i32x4_add(acc, i32x4_dot_i16x8(i16x8_extend_high_i8x16(wv), x1));
    }
    let mut s = i32x4_extract_lane::<0>(acc)
        .wrapping_add(i32x4_extract_lane::<1>(acc))
        .wrapping_add(i32x4_extract_lane::<2>(acc))
        .wrapping_add(i32x4_extract_lane::<3>(acc));
    for (&a, &b) in wt.iter().zip(xt) {
        s = s.wrapping_add(i32::from(a) * i32::from(b));
    }
    s
}
