//! The host's kernels with AVX2 intrinsics (x86_64): the matrix product with its
//! requantization, the GRU's gate arithmetic and the softmax weights of sampling. They run
//! when the CPU has AVX2, detected once at run time ([`Avx2::detect`]; a build that targets
//! AVX2 knows it at compile time), and give the same integers as the portable forms, so the
//! output is the same either way.
//!
//! A 1×128 model's rows are 128 columns: eight `vpmaddwd` each, so what a row costs
//! besides them (reducing the vector lanes, requantizing) dominates when rows go one at a
//! time. Here eight rows share each load of the activations and one reduction, and their
//! requantizations run in the vector lanes. The results equal [`super::dot_i8_i16`]
//! followed by [`super::requantize_in_range`] plus the bias, for every input: the sums are
//! the same terms modulo 2^32 (wrapping addition is associative and commutative) and the
//! requantization is the same integer rounding.

use core::arch::x86_64::*;

use super::{
    requantize_in_range, QuantRows, SoftmaxScale, ACT_MAX, EXP2_FRAC, MAX_SHIFT, ONE_Q15, PRE_FRAC,
};
use crate::tables::{EXP2_NEG_Q30, EXP2_STEP_BITS, TANH_Q15, TANH_STEP_BITS};

// The int4 matrix product, with this module's reduction and requantization.
mod i4;

cpufeatures::new!(avx2_cpuid, "avx2");

/// Proof that the CPU running this code has AVX2 (and that the OS saves its registers):
/// only [`Avx2::detect`] makes one. Its methods are the module's safe entry points.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Avx2(());

impl Avx2 {
    /// `Some` on a CPU with AVX2: `cpuid` and `xgetbv` once, then one relaxed atomic load.
    #[inline]
    pub(crate) fn detect() -> Option<Self> {
        avx2_cpuid::get().then_some(Avx2(()))
    }

    /// [`super::matvec_requant`] for the leading multiple of eight of the rows that `rows`
    /// and `out` both have; returns how many rows it wrote.
    #[inline]
    pub(crate) fn matvec_requant(self, rows: QuantRows<'_>, x: &[i16], out: &mut [i32]) -> usize {
        // SAFETY: calling a `#[target_feature(enable = "avx2")]` function is sound on a CPU with
        // AVX2, and the `Avx2` token exists only where `detect` found it. The function itself is
        // safe code (bounds-checked slices, no raw pointers).
        #[allow(unsafe_code)]
        unsafe {
            matvec_requant_avx2(rows, x, out)
        }
    }

    /// [`super::gru_units`] for the leading multiple of eight units (of the shortest slice);
    /// returns how many units it updated. Same integer steps as the scalar form, lane by lane:
    /// [`super::sigmoid_q15`], [`super::tanh_q15`], [`super::mul_q15`], [`super::gru_blend`].
    #[inline]
    pub(crate) fn gru_units(self, h: &mut [i16], g: [&[i32]; 3], gh_n: &[i32]) -> usize {
        // SAFETY: as in `matvec_requant`: the `Avx2` token proves the CPU has AVX2.
        #[allow(unsafe_code)]
        unsafe {
            gru_units_avx2(h, g, gh_n)
        }
    }

    /// `out[i] = scale.weight(max, logits[i])` for the leading multiple of eight of the
    /// common length: how many it wrote, and their sum. `None` (nothing written) when the
    /// temperature is so high (above 1489) that the cutoff does not fit 32 bits, which the
    /// scalar form handles. Every logit must be at most `max`.
    #[inline]
    pub(crate) fn softmax_weights(
        self,
        scale: &SoftmaxScale,
        max: i32,
        logits: &[i32],
        out: &mut [i32],
    ) -> Option<(usize, u64)> {
        let cutoff = u32::try_from(scale.cutoff).ok()?;
        // SAFETY: as in `matvec_requant`: the `Avx2` token proves the CPU has AVX2.
        #[allow(unsafe_code)]
        unsafe {
            Some(softmax_weights_avx2(scale.factor, cutoff, max, logits, out))
        }
    }

    /// [`tanh8`] (`FRAC` 16) or [`sigmoid8`] of eight lanes, for the tests.
    #[cfg(test)]
    fn activation_lanes(self, x: [i32; UNITS], sigmoid: bool) -> [i32; UNITS] {
        // SAFETY: as in `matvec_requant`: the `Avx2` token proves the CPU has AVX2.
        #[allow(unsafe_code)]
        unsafe {
            activation_lanes_avx2(x, sigmoid)
        }
    }
}

/// Rows per pass: eight rows share each activation load, one reduction and one vector
/// requantization, and their eight accumulators are independent chains that hide the
/// latency of the multiply-add.
const ROWS: usize = 8;

/// Columns per `vpmaddwd`.
const LANES: usize = 16;

/// `acc + ` the products of 16 weights and 16 activations, summed in pairs into 8 lanes.
#[inline]
#[target_feature(enable = "avx2")]
fn mac(acc: __m256i, w: &[i8; LANES], x: __m256i) -> __m256i {
    _mm256_add_epi32(
        acc,
        _mm256_madd_epi16(_mm256_cvtepi8_epi16(bytemuck::cast(*w)), x),
    )
}

#[target_feature(enable = "avx2")]
fn matvec_requant_avx2(rows: QuantRows<'_>, x: &[i16], out: &mut [i32]) -> usize {
    let QuantRows {
        w,
        cols,
        mult,
        shift,
        bias,
    } = rows;
    let cols = cols.max(1);
    let n = cols.min(x.len());
    let rows = rows.len().min(out.len());
    let (xv, xt) = x[..n].as_chunks::<LANES>();
    let chunks = xv.len();
    let groups = rows / ROWS;
    // The vector requantization takes shifts 1..=62; a shift of 0 (valid, never exported)
    // sends the whole product through the scalar form.
    // (A fold rather than `all`: without the early exit it compiles to vector compares.)
    let vector_shifts = shift[..rows]
        .iter()
        .fold(true, |ok, &s| ok & (s >= 1) & (s as u32 <= MAX_SHIFT));
    for g in 0..groups {
        let first = g * ROWS;
        // Each row's first `n` columns, and its whole chunks: exactly `chunks` of them, so
        // the loop below needs no bounds checks. (No closures or `array::map` in this
        // function's hot path: they would not inherit `avx2` and stay calls.)
        let r: [&[i8]; ROWS] = [
            &w[first * cols..][..n],
            &w[(first + 1) * cols..][..n],
            &w[(first + 2) * cols..][..n],
            &w[(first + 3) * cols..][..n],
            &w[(first + 4) * cols..][..n],
            &w[(first + 5) * cols..][..n],
            &w[(first + 6) * cols..][..n],
            &w[(first + 7) * cols..][..n],
        ];
        let c: [&[[i8; LANES]]; ROWS] = [
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
        for (j, &xj) in xv.iter().enumerate() {
            let xj: __m256i = bytemuck::cast(xj);
            acc[0] = mac(acc[0], &c[0][j], xj);
            acc[1] = mac(acc[1], &c[1][j], xj);
            acc[2] = mac(acc[2], &c[2][j], xj);
            acc[3] = mac(acc[3], &c[3][j], xj);
            acc[4] = mac(acc[4], &c[4][j], xj);
            acc[5] = mac(acc[5], &c[5][j], xj);
            acc[6] = mac(acc[6], &c[6][j], xj);
            acc[7] = mac(acc[7], &c[7][j], xj);
        }
        let mut sums = reduce8(acc);
        if !xt.is_empty() {
            let mut tails = [0i32; ROWS];
            for (t, rk) in tails.iter_mut().zip(&r) {
                for (&a, &b) in rk[n - xt.len()..].iter().zip(xt) {
                    *t = t.wrapping_add(i32::from(a) * i32::from(b));
                }
            }
            sums = _mm256_add_epi32(sums, bytemuck::cast(tails));
        }
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

/// The sums of the lanes of each of eight accumulators, in order: three rounds of pairwise
/// adds leave rows 0-3 and 4-7 in the two 128-bit halves, each half holding a partial sum.
#[inline]
#[target_feature(enable = "avx2")]
fn reduce8(a: [__m256i; ROWS]) -> __m256i {
    let h01 = _mm256_hadd_epi32(a[0], a[1]);
    let h23 = _mm256_hadd_epi32(a[2], a[3]);
    let h45 = _mm256_hadd_epi32(a[4], a[5]);
    let h67 = _mm256_hadd_epi32(a[6], a[7]);
    // [r0 r1 r2 r3 | r0 r1 r2 r3] partial sums, and the same for rows 4-7.
    let lo = _mm256_hadd_epi32(h01, h23);
    let hi = _mm256_hadd_epi32(h45, h67);
    _mm256_add_epi32(
        _mm256_permute2x128_si256::<0x20>(lo, hi),
        _mm256_permute2x128_si256::<0x31>(lo, hi),
    )
}

/// [`requantize_in_range`] of eight sums, plus the biases: the even lanes and the odd lanes
/// each as four 64-bit products.
#[inline]
#[target_feature(enable = "avx2")]
fn requantize8(sums: __m256i, m: &[i32; ROWS], s: &[i8; ROWS], b: &[i32; ROWS]) -> __m256i {
    let mult: __m256i = bytemuck::cast(*m);
    // Shifts as 64-bit lanes: the even rows' and the odd rows'.
    let s16 = _mm_cvtepi8_epi16(_mm_cvtsi64_si128(i64::from_le_bytes(s.map(|s| s as u8))));
    let s_even = _mm256_cvtepu16_epi64(_mm_shuffle_epi8(
        s16,
        _mm_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, -1, -1, -1, -1, -1, -1, -1, -1),
    ));
    let s_odd = _mm256_cvtepu16_epi64(_mm_shuffle_epi8(
        s16,
        _mm_setr_epi8(2, 3, 6, 7, 10, 11, 14, 15, -1, -1, -1, -1, -1, -1, -1, -1),
    ));
    let even = requantize_lanes(_mm256_mul_epi32(sums, mult), s_even);
    let odd = requantize_lanes(
        _mm256_mul_epi32(_mm256_srli_epi64::<32>(sums), _mm256_srli_epi64::<32>(mult)),
        s_odd,
    );
    _mm256_add_epi32(even_odd(even, odd), bytemuck::cast(*b))
}

/// [`requantize_in_range`] of four 64-bit products `p` (`|p| <= 2^62`) with shifts `s` in
/// `1..=62`, the result in the low 32 bits of each lane.
///
/// The scalar form is `q = (p - [p < 0]) >> (s - 1)`, then `(q >> 1) + (q & 1)`. AVX2 has
/// no 64-bit arithmetic right shift, so the shift is logical on
/// `u = p - [p < 0] + 2^62`, which is never negative (`p > -2^62`) and below 2^63:
/// `v = u >> (s - 1) = q + 2^(63 - s)`, an even offset, so
/// `(v >> 1) + (v & 1) = (q >> 1) + (q & 1) + 2^(62 - s)`, and the offset is subtracted.
#[inline]
#[target_feature(enable = "avx2")]
fn requantize_lanes(p: __m256i, s: __m256i) -> __m256i {
    let negative = _mm256_cmpgt_epi64(_mm256_setzero_si256(), p); // -1 where p < 0
    let offset = _mm256_set1_epi64x(1 << 62);
    let u = _mm256_add_epi64(_mm256_add_epi64(p, negative), offset);
    let v = _mm256_srlv_epi64(u, _mm256_sub_epi64(s, _mm256_set1_epi64x(1)));
    let r = _mm256_add_epi64(
        _mm256_srli_epi64::<1>(v),
        _mm256_and_si256(v, _mm256_set1_epi64x(1)),
    );
    _mm256_sub_epi64(r, _mm256_srlv_epi64(offset, s))
}

/// Units per pass of [`Avx2::gru_units`]: the eight `i32` lanes.
const UNITS: usize = 8;

#[target_feature(enable = "avx2")]
fn gru_units_avx2(h: &mut [i16], g: [&[i32]; 3], gh_n: &[i32]) -> usize {
    let [g_r, g_z, g_n] = g.map(|g| g.as_chunks::<UNITS>().0);
    let gh_n = gh_n.as_chunks::<UNITS>().0;
    let (hv, _) = h.as_chunks_mut::<UNITS>();
    let load = |v: &[i32; UNITS]| -> __m256i { bytemuck::cast(*v) }; // no intrinsics: inlines
    let units = hv.iter_mut().zip(g_r).zip(g_z).zip(g_n.iter().zip(gh_n));
    let mut done = 0;
    for (((hp, gr), gz), (inn, hn)) in units {
        let r = sigmoid8(load(gr));
        let z = sigmoid8(load(gz));
        let n = tanh8::<{ PRE_FRAC }>(_mm256_add_epi32(load(inn), mul_q15_8(r, load(hn))));
        let old = _mm256_cvtepi16_epi32(bytemuck::cast(*hp));
        *hp = blend8(z, old, n);
        done += UNITS;
    }
    done
}

/// [`super::tanh_q15`] of eight inputs with `FRAC` fractional bits (16 or 17), as `i32`
/// lanes in `[-32767, 32767]`.
///
/// The two table entries a lane interpolates between are adjacent, so one 32-bit gather
/// reads both. Inputs at or beyond 8 read the last pair in range and take 32767 instead.
#[inline]
#[target_feature(enable = "avx2")]
fn tanh8<const FRAC: u32>(x: __m256i) -> __m256i {
    const { assert!(FRAC > TANH_STEP_BITS && FRAC <= 24) };
    let sub = FRAC - TANH_STEP_BITS;
    let limit = _mm256_set1_epi32((8u32 << FRAC) as i32);
    // |x| as an unsigned number (i32::MIN gives 2^31), compared unsigned.
    let mag = _mm256_abs_epi32(x);
    let beyond = _mm256_cmpeq_epi32(_mm256_min_epu32(mag, limit), limit);
    let m = _mm256_min_epu32(mag, _mm256_sub_epi32(limit, _mm256_set1_epi32(1)));
    let idx = _mm256_srl_epi32(m, _mm_cvtsi32_si128(sub as i32));
    let f = _mm256_and_si256(m, _mm256_set1_epi32((1 << sub) - 1));
    let pair = gather_pairs(idx);
    let lo = _mm256_srai_epi32::<16>(_mm256_slli_epi32::<16>(pair));
    let hi = _mm256_srai_epi32::<16>(pair);
    let prod = _mm256_add_epi32(
        _mm256_mullo_epi32(_mm256_sub_epi32(hi, lo), f),
        _mm256_set1_epi32(1 << (sub - 1)),
    );
    let y = _mm256_add_epi32(lo, _mm256_sra_epi32(prod, _mm_cvtsi32_si128(sub as i32)));
    let y = _mm256_blendv_epi8(y, _mm256_set1_epi32(ACT_MAX), beyond);
    // Negated where x < 0 (where x = 0, y is tanh(0) = 0 either way).
    _mm256_sign_epi32(y, x)
}

/// For each lane's `idx` (at most 1023), the entries `TANH_Q15[idx]` (low half) and
/// `TANH_Q15[idx + 1]` (high half) as one little-endian 32-bit word.
#[inline]
#[target_feature(enable = "avx2")]
fn gather_pairs(idx: __m256i) -> __m256i {
    const { assert!(TANH_Q15.len() == (8 << TANH_STEP_BITS) + 1) };
    // SAFETY: every lane of `idx` is at most `(8·2^FRAC - 1) >> (FRAC - 7) = 1023` (the
    // caller clamps the magnitude below 8·2^FRAC), so each 4-byte read starts at byte
    // `2·idx <= 2046` of `TANH_Q15` and ends by byte 2050, its size (1025 entries of 2
    // bytes, checked above). Gathers have no alignment requirement.
    #[allow(unsafe_code)]
    unsafe {
        _mm256_i32gather_epi32::<2>(TANH_Q15.as_ptr().cast::<i32>(), idx)
    }
}

/// [`super::sigmoid_q15`] of eight Q16 inputs: `(32768 + tanh(x/2) + 1) >> 1`, the input
/// read as Q17.
#[inline]
#[target_feature(enable = "avx2")]
fn sigmoid8(x: __m256i) -> __m256i {
    let t = tanh8::<{ PRE_FRAC + 1 }>(x);
    _mm256_srai_epi32::<1>(_mm256_add_epi32(t, _mm256_set1_epi32(ONE_Q15 + 1)))
}

/// [`super::mul_q15`] of eight lanes: `round(a·b / 2^15)` (half away from zero) for gates
/// `a` in `[0, 32768]`. The 64-bit products are split into even and odd lanes; the result
/// fits 32 bits (`|result| <= |b|`), so its low word is the same after a logical shift as
/// after an arithmetic one.
#[inline]
#[target_feature(enable = "avx2")]
fn mul_q15_8(a: __m256i, b: __m256i) -> __m256i {
    let even = round_q15(_mm256_mul_epi32(a, b));
    let odd = round_q15(_mm256_mul_epi32(
        _mm256_srli_epi64::<32>(a),
        _mm256_srli_epi64::<32>(b),
    ));
    even_odd(even, odd)
}

/// `p / 2^15` rounded half away from zero in each 64-bit lane; only the low 32 bits of
/// each result are meaningful (the logical shift leaves the high ones wrong for p < 0).
#[inline]
#[target_feature(enable = "avx2")]
fn round_q15(p: __m256i) -> __m256i {
    let negative = _mm256_cmpgt_epi64(_mm256_setzero_si256(), p);
    let p = _mm256_add_epi64(p, _mm256_add_epi64(negative, _mm256_set1_epi64x(1 << 14)));
    _mm256_srli_epi64::<15>(p)
}

/// [`super::gru_blend`] of eight units: `n + round(z·(h − n) / 2^15)`, clamped to
/// `±32767`, packed to `i16`.
#[inline]
#[target_feature(enable = "avx2")]
fn blend8(z: __m256i, h: __m256i, n: __m256i) -> [i16; UNITS] {
    let zd = _mm256_mullo_epi32(z, _mm256_sub_epi32(h, n));
    // Half away from zero: add 2^14, minus one where zd < 0 (srai by 31 gives -1).
    let zd = _mm256_add_epi32(
        _mm256_add_epi32(zd, _mm256_set1_epi32(1 << 14)),
        _mm256_srai_epi32::<31>(zd),
    );
    let v = _mm256_add_epi32(n, _mm256_srai_epi32::<15>(zd));
    let v = _mm256_max_epi32(
        _mm256_min_epi32(v, _mm256_set1_epi32(ACT_MAX)),
        _mm256_set1_epi32(-ACT_MAX),
    );
    // Pack to i16 (saturation never triggers after the clamp): lanes 0-3 and 4-7 sit in
    // the two 128-bit halves.
    let packed = _mm256_packs_epi32(v, v);
    let both = _mm256_permute4x64_epi64::<0b1000>(packed);
    bytemuck::cast(_mm256_castsi256_si128(both))
}

/// [`Avx2::softmax_weights`] with a 32-bit cutoff.
#[target_feature(enable = "avx2")]
fn softmax_weights_avx2(
    factor: u64,
    cutoff: u32,
    max: i32,
    logits: &[i32],
    out: &mut [i32],
) -> (usize, u64) {
    let n = logits.len().min(out.len());
    let (lv, _) = logits[..n].as_chunks::<UNITS>();
    let (ov, _) = out[..n].as_chunks_mut::<UNITS>();
    let mut total = _mm256_setzero_si256(); // four u64 partial sums
    for (o, l) in ov.iter_mut().zip(lv) {
        let w = weights8(factor, cutoff, max, bytemuck::cast(*l));
        *o = bytemuck::cast(w);
        total = _mm256_add_epi64(total, _mm256_cvtepu32_epi64(_mm256_castsi256_si128(w)));
        total = _mm256_add_epi64(
            total,
            _mm256_cvtepu32_epi64(_mm256_extracti128_si256::<1>(w)),
        );
    }
    let sums: [u64; 4] = bytemuck::cast(total);
    (lv.len() * UNITS, sums.iter().sum())
}

/// [`SoftmaxScale::weight`] of eight logits, lane by lane, then [`super::exp2_neg_q30`]:
/// the same integer steps, with the 64-bit products formed in even and odd lanes.
#[inline]
#[target_feature(enable = "avx2")]
fn weights8(factor: u64, cutoff: u32, max: i32, l: __m256i) -> __m256i {
    // The gap max - l, in [0, 2^32) for logits at most max: exact as a u32.
    let d = _mm256_sub_epi32(_mm256_set1_epi32(max), l);
    let cut = _mm256_set1_epi32(cutoff as i32);
    // d >= cutoff (unsigned): such lanes give 0; d is clamped to the cutoff, which keeps
    // d · factor below 2^62 as the scalar form's bound says.
    let beyond = _mm256_cmpeq_epi32(_mm256_max_epu32(d, cut), d);
    let d = _mm256_min_epu32(d, cut);
    // y = (d · factor + 2^31) >> 32 = d · hi + ((d · lo + 2^31) >> 32), factor = hi·2^32 + lo.
    let lo = _mm256_set1_epi64x((factor & 0xffff_ffff) as i64);
    let hi = _mm256_set1_epi64x((factor >> 32) as i64);
    let y = even_odd(
        scaled_gap(d, lo, hi),
        scaled_gap(_mm256_srli_epi64::<32>(d), lo, hi),
    );
    // 2^-y, y in Q24: the table interpolation for the fraction, a shift for the integer.
    let int = _mm256_srli_epi32::<{ EXP2_FRAC as i32 }>(y);
    let sub = EXP2_FRAC - EXP2_STEP_BITS;
    let idx = _mm256_and_si256(_mm256_srli_epi32::<16>(y), _mm256_set1_epi32(0xff));
    let f = _mm256_and_si256(y, _mm256_set1_epi32((1 << sub) - 1));
    let (t_lo, t_hi) = gather_exp2(idx);
    // (t_lo - t_hi) · f < 2^38: 64-bit products, then rounded back below 2^22.
    let diff = _mm256_sub_epi32(t_lo, t_hi);
    let step = even_odd(
        interpolation_step(diff, f),
        interpolation_step(_mm256_srli_epi64::<32>(diff), _mm256_srli_epi64::<32>(f)),
    );
    let v = _mm256_sub_epi32(t_lo, step);
    // (v + 2^(s-1)) >> s with s = int (the half term is 0 for s = 0); int > 30 gives 0.
    let s = _mm256_min_epu32(int, _mm256_set1_epi32(31));
    let halfbit = _mm256_srli_epi32::<1>(_mm256_sllv_epi32(_mm256_set1_epi32(1), s));
    let r = _mm256_srlv_epi32(_mm256_add_epi32(v, halfbit), s);
    let zero = _mm256_or_si256(beyond, _mm256_cmpgt_epi32(int, _mm256_set1_epi32(30)));
    _mm256_andnot_si256(zero, r)
}

/// `(d · hi) + ((d · lo + 2^31) >> 32)` for the low 32 bits `d` of each 64-bit lane.
#[inline]
#[target_feature(enable = "avx2")]
fn scaled_gap(d: __m256i, lo: __m256i, hi: __m256i) -> __m256i {
    let half = _mm256_set1_epi64x(1 << 31);
    let low = _mm256_srli_epi64::<32>(_mm256_add_epi64(_mm256_mul_epu32(d, lo), half));
    _mm256_add_epi64(_mm256_mul_epu32(d, hi), low)
}

/// `(a · b + 2^15) >> 16` for the low 32 bits of each 64-bit lane (products below 2^38).
#[inline]
#[target_feature(enable = "avx2")]
fn interpolation_step(a: __m256i, b: __m256i) -> __m256i {
    const { assert!(EXP2_FRAC - EXP2_STEP_BITS == 16) };
    let p = _mm256_add_epi64(_mm256_mul_epu32(a, b), _mm256_set1_epi64x(1 << 15));
    _mm256_srli_epi64::<16>(p)
}

/// The low 32 bits of each 64-bit lane of `even` in the even lanes, of `odd` in the odd.
#[inline]
#[target_feature(enable = "avx2")]
fn even_odd(even: __m256i, odd: __m256i) -> __m256i {
    _mm256_blend_epi32::<0b1010_1010>(even, _mm256_slli_epi64::<32>(odd))
}

/// `EXP2_NEG_Q30[idx]` and `EXP2_NEG_Q30[idx + 1]` for each lane's `idx` (at most 255).
#[inline]
#[target_feature(enable = "avx2")]
fn gather_exp2(idx: __m256i) -> (__m256i, __m256i) {
    const { assert!(EXP2_NEG_Q30.len() == (1 << EXP2_STEP_BITS) + 1) };
    let base = EXP2_NEG_Q30.as_ptr().cast::<i32>();
    let next = _mm256_add_epi32(idx, _mm256_set1_epi32(1));
    // SAFETY: every lane of `idx` is at most 255 (the caller masks it with 0xff), so the
    // 4-byte reads at entries `idx` and `idx + 1 <= 256` lie inside `EXP2_NEG_Q30`, whose
    // 257 entries are checked above. Gathers have no alignment requirement.
    #[allow(unsafe_code)]
    unsafe {
        (
            _mm256_i32gather_epi32::<4>(base, idx),
            _mm256_i32gather_epi32::<4>(base, next),
        )
    }
}

#[cfg(test)]
#[target_feature(enable = "avx2")]
fn activation_lanes_avx2(x: [i32; UNITS], sigmoid: bool) -> [i32; UNITS] {
    let x = bytemuck::cast(x);
    bytemuck::cast(if sigmoid {
        sigmoid8(x)
    } else {
        tanh8::<{ PRE_FRAC }>(x)
    })
}

#[cfg(test)]
mod tests {
    use super::super::{
        gates_from, gru_units_scalar, matvec_requant_rows, sigmoid_q15, tanh_q15, MAX_COLS,
    };
    use super::*;

    /// A xorshift stream for test inputs.
    fn stream(seed: u64) -> impl FnMut() -> u64 {
        let mut s = seed | 1;
        move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        }
    }

    /// The token, or `None` (and a note) on a CPU without AVX2, where these tests have
    /// nothing to check.
    fn avx2() -> Option<Avx2> {
        let k = Avx2::detect();
        if k.is_none() {
            eprintln!("SKIPPED: this CPU has no AVX2");
        }
        k
    }

    fn check_activations(xs: &[i32]) {
        let Some(k) = avx2() else { return };
        for c in xs.chunks(UNITS) {
            let mut x = [0; UNITS];
            x[..c.len()].copy_from_slice(c);
            let t = k.activation_lanes(x, false);
            let s = k.activation_lanes(x, true);
            for k in 0..c.len() {
                assert_eq!(
                    t[k],
                    i32::from(tanh_q15(x[k], PRE_FRAC)),
                    "tanh of {}",
                    x[k]
                );
                assert_eq!(s[k], sigmoid_q15(x[k]), "sigmoid of {}", x[k]);
            }
        }
    }

    #[test]
    fn activations_match_scalar_over_the_whole_table_range() {
        // Every input up to past 8 for both input formats (sigmoid reads Q16 as Q17).
        let edge = (9 << (PRE_FRAC + 1)) + 16;
        let all: Vec<i32> = (-edge..=edge).collect();
        check_activations(&all);
    }

    #[test]
    fn activations_match_scalar_at_extremes() {
        let mut xs = vec![i32::MIN, i32::MIN + 1, i32::MAX, -1, 0, 1];
        for frac in [PRE_FRAC, PRE_FRAC + 1] {
            let limit = 8i32 << frac;
            for d in -2..=2 {
                xs.extend([limit + d, -limit - d]);
            }
        }
        let mut next = stream(7);
        xs.extend((0..100_000).map(|_| next() as i32));
        check_activations(&xs);
    }

    proptest::proptest! {
        #[test]
        fn gru_units_match_scalar(units in 0usize..40, seed in proptest::num::u64::ANY) {
            let mut next = stream(seed);
            // Full-range inputs, and inputs of trained size (|x| < 16 in Q16) in half the
            // cases, where the table interpolation rather than saturation decides.
            let small = seed % 2 == 0;
            let mut gate = || -> Vec<i32> {
                (0..units)
                    .map(|_| if small { (next() as i32) >> 11 } else { next() as i32 })
                    .collect()
            };
            // The step's layout: each gate a full-capacity array, the first `units` used.
            let mut full = || -> [i32; 40] {
                let g = gate();
                core::array::from_fn(|i| g.get(i).copied().unwrap_or(0))
            };
            let g = [full(), full(), full()];
            let gh_n = full();
            let h0: Vec<i16> = (0..units).map(|_| next() as i16).collect();
            let Some(k) = avx2() else { return Ok(()) };
            let (mut got, mut want, mut via) = (h0.clone(), h0.clone(), h0.clone());
            let gs = g.each_ref().map(|g| &g[..]);
            let done = k.gru_units(&mut got, gates_from(gs, 0), &gh_n);
            gru_units_scalar(&mut want, gates_from(gs, 0), &gh_n);
            proptest::prop_assert_eq!(done, units / UNITS * UNITS);
            proptest::prop_assert_eq!(&got[..done], &want[..done]);
            proptest::prop_assert_eq!(&got[done..], &h0[done..]);
            // And through the dispatch, which finishes the tail one unit at a time.
            super::super::gru_units(&mut via, &g, &gh_n);
            proptest::prop_assert_eq!(via, want);
        }

        #[test]
        fn matvec_requant_matches_rows(
            rows in 0usize..14,
            cols in 0usize..=MAX_COLS,
            short_x in 0usize..3,
            seed in proptest::num::u64::ANY,
        ) {
            let mut next = stream(seed);
            let w: Vec<i8> = (0..rows * cols).map(|_| next() as i8).collect();
            // Sometimes fewer activations than columns: only the common length counts.
            let xn = cols.saturating_sub(short_x * 7);
            let x: Vec<i16> = (0..xn).map(|_| next() as i16).collect();
            let mult: Vec<i32> = (0..rows).map(|_| next() as i32).collect();
            // Mostly the exporter's shifts, sometimes 0 or past 62 (the scalar paths).
            let shift: Vec<i8> = (0..rows)
                .map(|_| match next() % 8 { 0 => 0, 1 => 63, _ => (30 + next() % 20) as i8 })
                .collect();
            let bias: Vec<i32> = (0..rows).map(|_| next() as i32).collect();
            let (mut got, mut want) = (vec![7; rows + 1], vec![7; rows + 1]);
            let Some(k) = avx2() else { return Ok(()) };
            let q = QuantRows { w: &w, cols, mult: &mult, shift: &shift, bias: &bias };
            let done = k.matvec_requant(q, &x, &mut got);
            matvec_requant_rows(q, &x, &mut want);
            // A matrix without columns has no whole row (`QuantRows::len`).
            proptest::prop_assert_eq!(done, q.len() / ROWS * ROWS);
            proptest::prop_assert_eq!(&got[..done], &want[..done]);
            proptest::prop_assert!(got[done..].iter().all(|&v| v == 7));
            // And through the dispatch, which finishes the remaining rows.
            let mut via = vec![7; rows + 1];
            super::super::matvec_requant(q, &x, &mut via);
            proptest::prop_assert_eq!(via, want);
        }
    }

    proptest::proptest! {
        #[test]
        fn softmax_weights_match_scalar(
            len in 0usize..40,
            spread in 0u32..32,
            milli in proptest::sample::select(vec![1u32, 3, 100, 800, 1000, 4000, 1_000_000, u32::MAX]),
            seed in proptest::num::u64::ANY,
        ) {
            let Some(k) = avx2() else { return Ok(()) };
            let mut next = stream(seed);
            let mut logits: Vec<i32> = (0..len).map(|_| (next() as i32) >> spread).collect();
            // The extremes of the gap: 0 (the maximum itself) and 2^32 - 1.
            logits.extend([i32::MIN, i32::MAX]);
            let max = logits.iter().copied().max().unwrap_or(0);
            let scale = SoftmaxScale::new(milli);
            let mut got = vec![-1; logits.len()];
            let want: Vec<i32> = logits.iter().map(|&l| scale.weight(max, l) as i32).collect();
            match k.softmax_weights(&scale, max, &logits, &mut got) {
                Some((done, total)) => {
                    proptest::prop_assert_eq!(done, logits.len() / UNITS * UNITS);
                    proptest::prop_assert_eq!(&got[..done], &want[..done]);
                    let sum: u64 = want[..done].iter().map(|&w| u64::from(w as u32)).sum();
                    proptest::prop_assert_eq!(total, sum);
                    // And through the dispatch, which finishes the tail.
                    let mut all = vec![-1; logits.len()];
                    let total = super::super::softmax_weights(&scale, max, &logits, &mut all);
                    proptest::prop_assert_eq!(&all, &want);
                    let sum: u64 = want.iter().map(|&w| u64::from(w as u32)).sum();
                    proptest::prop_assert_eq!(total, sum);
                }
                // Only a cutoff beyond 32 bits is left to the scalar form.
                None => proptest::prop_assert!(milli > 1_400_000),
            }
        }
    }

    #[test]
    fn matvec_requant_extremes() {
        let Some(k) = avx2() else { return };
        // Nine rows: one group of eight and one row alone. The second set of shifts has a 0,
        // which sends the product through the scalar requantization.
        let mult = [i32::MAX, i32::MIN, 1, -1, 0, 1 << 30, -(1 << 30), 12345, 7];
        let bias = [i32::MAX, i32::MIN, 0, 1, -1, 5, 6, 7, 8];
        let shifts = [
            [62, 1, 31, 32, 33, 2, 45, 62, 1],
            [62, 1, 31, 32, 33, 0, 45, 62, 1],
        ];
        for cols in [16, 32, 48, 128, 130, MAX_COLS] {
            for (wv, xv) in [
                (127i8, 32767i16),
                (-128, -32768),
                (-128, 32767),
                (127, -32768),
            ] {
                for shift in &shifts {
                    let w = vec![wv; 9 * cols];
                    let x = vec![xv; cols];
                    let (mut got, mut want) = (vec![0; 9], vec![0; 9]);
                    let q = QuantRows {
                        w: &w,
                        cols,
                        mult: &mult,
                        shift,
                        bias: &bias,
                    };
                    assert_eq!(k.matvec_requant(q, &x, &mut got), 8);
                    super::super::matvec_requant(q, &x, &mut got);
                    matvec_requant_rows(q, &x, &mut want);
                    assert_eq!(got, want, "cols {cols} w {wv} x {xv} shifts {shift:?}");
                }
            }
        }
    }
}
