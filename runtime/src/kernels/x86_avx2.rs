//! The host's matrix kernel with AVX2 intrinsics, compiled only when the build enables AVX2
//! (`-C target-cpu=native` on a recent x86_64, as `make bench` builds `mynah`).
//!
//! A 1×128 model's rows are 128 columns: eight `vpmaddwd` each, so what a row costs
//! besides them (reducing the vector lanes, requantizing) dominates when rows go one at a
//! time. Here four rows share each load of the activations and one reduction, and the four
//! requantizations run in the vector lanes. The results equal [`super::dot_i8_i16`]
//! followed by [`super::requantize_in_range`] plus the bias, for every input: the sums are
//! the same terms modulo 2^32 (wrapping addition is associative and commutative) and the
//! requantization is the same integer rounding.

use core::arch::x86_64::*;

use super::{requantize_in_range, ACT_MAX, MAX_SHIFT, ONE_Q15, PRE_FRAC};
use crate::tables::{TANH_Q15, TANH_STEP_BITS};

/// Rows per pass: four rows share each activation load and one reduction.
const ROWS: usize = 4;

/// Columns per `vpmaddwd`.
const LANES: usize = 16;

/// `out[i] = requantize_in_range(Σ_j w[i·cols + j]·x[j], mult[i], shift[i]) + bias[i]` over
/// `j < min(cols, x.len())` (wrapping), for the rows that `w`, `mult`, `shift`, `bias` and
/// `out` all have; other entries of `out` are left as they are.
#[inline]
pub(crate) fn matvec_requant(
    w: &[i8],
    cols: usize,
    x: &[i16],
    mult: &[i32],
    shift: &[i8],
    bias: &[i32],
    out: &mut [i32],
) {
    // SAFETY: calling a `#[target_feature(enable = "avx2")]` function is sound on a CPU with
    // AVX2. This module is compiled only under `cfg(target_feature = "avx2")`: the whole
    // build already emits AVX2 instructions, so any CPU that runs this code has them. The
    // function itself is safe code (bounds-checked slices, no raw pointers).
    #[allow(unsafe_code)]
    unsafe {
        matvec_requant_avx2(w, cols, x, mult, shift, bias, out)
    }
}

#[target_feature(enable = "avx2")]
fn matvec_requant_avx2(
    w: &[i8],
    cols: usize,
    x: &[i16],
    mult: &[i32],
    shift: &[i8],
    bias: &[i32],
    out: &mut [i32],
) {
    let cols = cols.max(1);
    let n = cols.min(x.len());
    let rows = [
        w.len() / cols,
        mult.len(),
        shift.len(),
        bias.len(),
        out.len(),
    ]
    .into_iter()
    .min()
    .unwrap_or(0);
    let (xv, xt) = x[..n].as_chunks::<LANES>();
    let groups = rows / ROWS;
    let mac = |a: __m256i, w: &[i8; LANES], x: __m256i| {
        _mm256_add_epi32(
            a,
            _mm256_madd_epi16(_mm256_cvtepi8_epi16(bytemuck::cast(*w)), x),
        )
    };
    // Two 16-column chunks per iteration, each with its own accumulators: eight
    // independent chains hide the latency of the multiply-add (four leave it waiting).
    let (xv2, xv1) = xv.as_chunks::<2>();
    for g in 0..groups {
        let first = g * ROWS;
        let r: [&[i8]; ROWS] = core::array::from_fn(|k| &w[(first + k) * cols..][..n]);
        let [r0, r1, r2, r3] = r.map(|r| r.as_chunks::<LANES>().0.as_chunks::<2>().0);
        let (mut a, mut b) = (
            [_mm256_setzero_si256(); ROWS],
            [_mm256_setzero_si256(); ROWS],
        );
        let pairs = xv2.iter().zip(r0).zip(r1).zip(r2).zip(r3);
        for ((((x, w0), w1), w2), w3) in pairs {
            let (x0, x1): (__m256i, __m256i) = (bytemuck::cast(x[0]), bytemuck::cast(x[1]));
            a = [
                mac(a[0], &w0[0], x0),
                mac(a[1], &w1[0], x0),
                mac(a[2], &w2[0], x0),
                mac(a[3], &w3[0], x0),
            ];
            b = [
                mac(b[0], &w0[1], x1),
                mac(b[1], &w1[1], x1),
                mac(b[2], &w2[1], x1),
                mac(b[3], &w3[1], x1),
            ];
        }
        let mut acc: [__m256i; ROWS] = core::array::from_fn(|k| _mm256_add_epi32(a[k], b[k]));
        if let Some(&x) = xv1.first() {
            // An odd chunk left: the last 16 columns of the chunked part.
            let x: __m256i = bytemuck::cast(x);
            let at = (xv.len() - 1) * LANES;
            for (acc, rk) in acc.iter_mut().zip(&r) {
                if let Ok(wk) = <&[i8; LANES]>::try_from(&rk[at..at + LANES]) {
                    *acc = mac(*acc, wk, x);
                }
            }
        }
        let mut sums = reduce4(acc);
        if !xt.is_empty() {
            for (s, rk) in sums.iter_mut().zip(&r) {
                let tail = &rk[n - xt.len()..];
                for (&a, &b) in tail.iter().zip(xt) {
                    *s = s.wrapping_add(i32::from(a) * i32::from(b));
                }
            }
        }
        let range = first..first + ROWS;
        let (Ok(m), Ok(sh), Ok(b)) = (
            <[i32; ROWS]>::try_from(&mult[range.clone()]),
            <[i8; ROWS]>::try_from(&shift[range.clone()]),
            <[i32; ROWS]>::try_from(&bias[range.clone()]),
        ) else {
            continue; // unreachable: `rows` is at most each slice's length
        };
        let done = if sh.iter().all(|&s| s >= 1 && s as u32 <= MAX_SHIFT) {
            requantize4(sums, m, sh, b)
        } else {
            // A shift of 0 (never exported, but valid): the scalar form.
            core::array::from_fn(|k| {
                requantize_in_range(sums[k], m[k], sh[k] as u32).wrapping_add(b[k])
            })
        };
        out[range].copy_from_slice(&done);
    }
    for i in groups * ROWS..rows {
        let wr = &w[i * cols..i * cols + n];
        let acc = super::dot_i8_i16(wr, x);
        out[i] = requantize_in_range(acc, mult[i], shift[i] as u32).wrapping_add(bias[i]);
    }
}

/// The sum of the lanes of each of four accumulators, in order: two rounds of pairwise
/// adds leave each row's partial sums in its own lane of the two 128-bit halves.
#[inline]
#[target_feature(enable = "avx2")]
fn reduce4(a: [__m256i; ROWS]) -> [i32; ROWS] {
    let h = _mm256_hadd_epi32(_mm256_hadd_epi32(a[0], a[1]), _mm256_hadd_epi32(a[2], a[3]));
    bytemuck::cast(_mm_add_epi32(
        _mm256_castsi256_si128(h),
        _mm256_extracti128_si256::<1>(h),
    ))
}

/// [`requantize_in_range`] of four sums, plus the biases, in the 64-bit vector lanes.
///
/// For `1 <= s <= 62` the scalar form is `q = (p - [p < 0]) >> (s - 1)`, then
/// `(q >> 1) + (q & 1)`, with `p = acc·mult`. AVX2 has no 64-bit arithmetic right shift,
/// so the shift is logical on `u = p - [p < 0] + 2^62`, which is never negative
/// (`p > -2^62`) and below 2^63: `v = u >> (s - 1) = q + 2^(63 - s)`, an even offset, so
/// `(v >> 1) + (v & 1) = (q >> 1) + (q & 1) + 2^(62 - s)`, and the offset is subtracted.
/// Every shift must be in `1..=62`.
#[inline]
#[target_feature(enable = "avx2")]
fn requantize4(sums: [i32; ROWS], m: [i32; ROWS], s: [i8; ROWS], b: [i32; ROWS]) -> [i32; ROWS] {
    let acc = _mm256_cvtepi32_epi64(bytemuck::cast(sums));
    let mult = _mm256_cvtepi32_epi64(bytemuck::cast(m));
    // Signed 32 × 32 → 64 of the low halves: |p| <= 2^62.
    let p = _mm256_mul_epi32(acc, mult);
    let negative = _mm256_cmpgt_epi64(_mm256_setzero_si256(), p); // -1 where p < 0
    let offset = _mm256_set1_epi64x(1 << 62);
    let u = _mm256_add_epi64(_mm256_add_epi64(p, negative), offset);
    let s = s.map(i64::from);
    let sm1: __m256i = bytemuck::cast([s[0] - 1, s[1] - 1, s[2] - 1, s[3] - 1]);
    let sv: __m256i = bytemuck::cast(s);
    let v = _mm256_srlv_epi64(u, sm1);
    let one = _mm256_set1_epi64x(1);
    let r = _mm256_add_epi64(_mm256_srli_epi64::<1>(v), _mm256_and_si256(v, one));
    let r = _mm256_sub_epi64(r, _mm256_srlv_epi64(offset, sv));
    // The low 32 bits of each 64-bit lane, in order.
    let low = _mm256_permutevar8x32_epi32(r, _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6));
    let low = _mm_add_epi32(_mm256_castsi256_si128(low), bytemuck::cast(b));
    bytemuck::cast(low)
}

/// Units per pass of [`gru_units`]: the eight `i32` lanes.
const UNITS: usize = 8;

/// [`super::gru_units`] for the leading multiple of eight units (of the shortest slice);
/// returns how many units it updated. Same integer steps as the scalar form, lane by lane:
/// [`super::sigmoid_q15`], [`super::tanh_q15`], [`super::mul_q15`], [`super::gru_blend`].
#[inline]
pub(crate) fn gru_units(h: &mut [i16], gi: [&[i32]; 3], gh: [&[i32]; 3]) -> usize {
    // SAFETY: as in `matvec_requant`: the build targets AVX2, so the CPU has it.
    #[allow(unsafe_code)]
    unsafe {
        gru_units_avx2(h, gi, gh)
    }
}

#[target_feature(enable = "avx2")]
fn gru_units_avx2(h: &mut [i16], gi: [&[i32]; 3], gh: [&[i32]; 3]) -> usize {
    let [gi_r, gi_z, gi_n] = gi.map(|g| g.as_chunks::<UNITS>().0);
    let [gh_r, gh_z, gh_n] = gh.map(|g| g.as_chunks::<UNITS>().0);
    let (hv, _) = h.as_chunks_mut::<UNITS>();
    let load = |v: &[i32; UNITS]| -> __m256i { bytemuck::cast(*v) };
    let units = hv
        .iter_mut()
        .zip(gi_r.iter().zip(gh_r))
        .zip(gi_z.iter().zip(gh_z))
        .zip(gi_n.iter().zip(gh_n));
    let mut done = 0;
    for (((hp, (ir, hr)), (iz, hz)), (inn, hn)) in units {
        let r = sigmoid8(_mm256_add_epi32(load(ir), load(hr)));
        let z = sigmoid8(_mm256_add_epi32(load(iz), load(hz)));
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
    let round = |p: __m256i| {
        let negative = _mm256_cmpgt_epi64(_mm256_setzero_si256(), p);
        let p = _mm256_add_epi64(p, _mm256_add_epi64(negative, _mm256_set1_epi64x(1 << 14)));
        _mm256_srli_epi64::<15>(p)
    };
    let even = round(_mm256_mul_epi32(a, b));
    let odd = round(_mm256_mul_epi32(
        _mm256_srli_epi64::<32>(a),
        _mm256_srli_epi64::<32>(b),
    ));
    // Even lanes from the low words of `even`, odd lanes from the low words of `odd`.
    _mm256_blend_epi32::<0b1010_1010>(even, _mm256_slli_epi64::<32>(odd))
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

/// [`tanh8`] (`FRAC` 16) or [`sigmoid8`] of eight lanes, for the tests.
#[cfg(test)]
fn activation_lanes(x: [i32; UNITS], sigmoid: bool) -> [i32; UNITS] {
    // SAFETY: as in `matvec_requant`: the build targets AVX2, so the CPU has it.
    #[allow(unsafe_code)]
    unsafe {
        activation_lanes_avx2(x, sigmoid)
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

    fn check_activations(xs: &[i32]) {
        for c in xs.chunks(UNITS) {
            let mut x = [0; UNITS];
            x[..c.len()].copy_from_slice(c);
            let t = activation_lanes(x, false);
            let s = activation_lanes(x, true);
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
            let gi = [full(), full(), full()];
            let gh = [full(), full(), full()];
            let h0: Vec<i16> = (0..units).map(|_| next() as i16).collect();
            let (mut got, mut want) = (h0.clone(), h0);
            super::super::gru_units(&mut got, &gi, &gh);
            gru_units_scalar(&mut want, gates_from(&gi, 0), gates_from(&gh, 0));
            proptest::prop_assert_eq!(got, want);
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
            matvec_requant(&w, cols, &x, &mult, &shift, &bias, &mut got);
            matvec_requant_rows(&w, cols, &x, &mult, &shift, &bias, &mut want);
            proptest::prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn matvec_requant_extremes() {
        for cols in [16, 32, 48, 128, 130, MAX_COLS] {
            for (wv, xv) in [
                (127i8, 32767i16),
                (-128, -32768),
                (-128, 32767),
                (127, -32768),
            ] {
                let rows = 9;
                let w = vec![wv; rows * cols];
                let x = vec![xv; cols];
                let mult = vec![i32::MAX, i32::MIN, 1, -1, 0, 1 << 30, -(1 << 30), 12345, 7];
                let shift = vec![62, 1, 31, 32, 33, 0, 45, 62, 1];
                let bias = vec![i32::MAX, i32::MIN, 0, 1, -1, 5, 6, 7, 8];
                let (mut got, mut want) = (vec![0; rows], vec![0; rows]);
                matvec_requant(&w, cols, &x, &mult, &shift, &bias, &mut got);
                matvec_requant_rows(&w, cols, &x, &mult, &shift, &bias, &mut want);
                assert_eq!(got, want, "cols {cols} w {wv} x {xv}");
            }
        }
    }
}
