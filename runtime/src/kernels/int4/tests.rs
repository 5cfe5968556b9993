//! The int4 kernels against the portable forms: full-range values, extremes, every row
//! count and column tail.

use super::*;
use crate::kernels::{Reordered, ACT_MAX, MAX_COLS};

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

/// Nibble `j` of a packed row, sign-extended.
fn nib(row: &[u8], j: usize) -> i64 {
    let (lo, hi) = nibbles(row[j / 2]);
    i64::from(if j.is_multiple_of(2) { lo } else { hi })
}

/// The sum in `i64`, no tricks.
fn naive(row: &[u8], x: &[i16], cols: usize) -> i64 {
    (0..cols.min(x.len()))
        .map(|j| nib(row, j) * i64::from(x[j]))
        .sum()
}

#[test]
fn nibbles_sign_extend_low_first() {
    for b in 0..=255u8 {
        let (lo, hi) = nibbles(b);
        let lo4 = i32::from(b & 15);
        let hi4 = i32::from(b >> 4);
        assert_eq!(lo, if lo4 > 7 { lo4 - 16 } else { lo4 });
        assert_eq!(hi, if hi4 > 7 { hi4 - 16 } else { hi4 });
    }
}

#[test]
fn dot_matches_naive_with_every_tail() {
    let mut next = stream(5);
    for cols in 0..=130 {
        let row: Vec<u8> = (0..cols / 2 + 1).map(|_| next() as u8).collect();
        let x: Vec<i16> = (0..cols).map(|_| next() as i16).collect();
        assert_eq!(
            i64::from(dot_i4_i16(&row, &x)),
            naive(&row, &x, cols),
            "cols {cols}"
        );
    }
}

#[test]
fn dot_extremes_do_not_overflow() {
    let w = [0x88u8; MAX_COLS / 2]; // every weight -8
    let x = [-(ACT_MAX as i16); MAX_COLS];
    assert_eq!(dot_i4_i16(&w, &x), 512 * 8 * 32767);
    let w = [0x77u8; MAX_COLS / 2]; // every weight 7
    assert_eq!(dot_i4_i16(&w, &x), -512 * 7 * 32767);
}

/// `matvec_acc_i4` (on the host: the portable model of the SMLAD loop, the rows after the
/// last pair and the column tails) equals `dot_i4_i16` row by row.
fn check_matvec_acc(w: &[u8], cols: usize, x: &[i16]) {
    const H: usize = MAX_COLS + 8;
    let n = cols.min(x.len());
    let mut xp = Reordered::<H>::new();
    xp.set_i4(&x[..n]);
    let rb = row_bytes(n);
    let rows = if n == 0 { 3 } else { w.len() / rb };
    let mut got = vec![7; rows];
    crate::kernels::matvec_acc_i4(w, n, &xp, &mut got);
    let want: Vec<i32> = (0..rows)
        .map(|i| {
            if n == 0 {
                0
            } else {
                dot_i4_i16(&w[i * rb..(i + 1) * rb], &x[..n])
            }
        })
        .collect();
    assert_eq!(got, want, "rows {rows} cols {n}");
}

#[test]
fn set_i4_layout() {
    let x: [i16; 21] = core::array::from_fn(|i| i as i16);
    let mut xp = Reordered::<24>::new();
    xp.set_i4(&x);
    assert_eq!(
        xp.as_slice(),
        &[0, 4, 2, 6, 1, 5, 3, 7, 8, 12, 10, 14, 9, 13, 11, 15, 16, 17, 18, 19, 20, 0, 0, 0]
    );
}

#[test]
fn matvec_acc_extremes() {
    // Every nibble value against the extreme activations (the runtime's: ±32767).
    for (wv, xv) in [
        (0x88u8, -(ACT_MAX as i16)),
        (0x88, ACT_MAX as i16),
        (0x77, ACT_MAX as i16),
        (0x78, -(ACT_MAX as i16)),
        (0x87, ACT_MAX as i16),
    ] {
        for cols in [0, 1, 7, 8, 9, 15, 16, 17, 24, 33, 45, 128, 511, MAX_COLS] {
            for rows in [1, 2, 3, 4, 5, 8, 11] {
                let mut w = vec![wv; rows * row_bytes(cols)];
                if cols % 2 == 1 {
                    // The padding nibbles are zero, as in a file.
                    for r in 0..rows {
                        w[(r + 1) * row_bytes(cols) - 1] &= 0x0f;
                    }
                }
                check_matvec_acc(&w, cols, &vec![xv; cols]);
            }
        }
    }
}

#[test]
fn pair_count_stays_in_bounds() {
    for w_len in 0..60 {
        for b_off in 0..12 {
            for stride in 0..20 {
                for groups in 0..4 {
                    for out_len in 0..10 {
                        let q = pair_count(w_len, b_off, stride, groups, out_len, 24);
                        if q == 0 {
                            continue;
                        }
                        let body = 4 * groups;
                        assert!(groups >= 1 && 8 * groups <= 24 && stride >= body);
                        assert!(2 * q <= out_len);
                        assert!((q - 1) * stride + b_off + body <= w_len);
                        assert!((q - 1) * stride + body <= w_len);
                        let more = 2 * (q + 1) <= out_len && q * stride + b_off + body <= w_len;
                        assert!(!more);
                    }
                }
            }
        }
    }
}

#[test]
fn pair_sums_scale_by_16() {
    // One pair, one group: the model's sums are 16 times the dot products.
    let w = [0x21u8, 0x43, 0x65, 0x87, 0xfe, 0xdc, 0xba, 0x98];
    let x: Vec<i16> = (1..=8).map(|v| v * 1000).collect();
    let mut xp = Reordered::<8>::new();
    xp.set_i4(&x);
    let mut out = [0; 2];
    assert_eq!(pair_sums_model(&w, 4, 8, 1, xp.as_slice(), &mut out), 1);
    assert_eq!(out[0], 16 * dot_i4_i16(&w[..4], &x));
    assert_eq!(out[1], 16 * dot_i4_i16(&w[4..], &x));
}

proptest::proptest! {
    #[test]
    fn matvec_acc_matches_dot(
        rows in 1usize..14,
        cols in 0usize..=MAX_COLS,
        seed in proptest::num::u64::ANY,
    ) {
        let mut next = stream(seed);
        let w: Vec<u8> = (0..rows * row_bytes(cols)).map(|_| next() as u8).collect();
        // Full-range activations except -32768, which the runtime never has (with weights
        // of -8 over 512 columns the scaled sum would reach 2^31).
        let x: Vec<i16> = (0..cols).map(|_| (next() as i16).max(-ACT_MAX as i16)).collect();
        check_matvec_acc(&w, cols, &x);
    }

    #[test]
    fn matvec_acc_matches_dot_small(
        w in proptest::collection::vec(proptest::num::u8::ANY, 0..=300),
        x in proptest::collection::vec(proptest::num::i16::ANY, 1..=40),
    ) {
        // Short rows: no sum can wrap, -32768 included.
        check_matvec_acc(&w, x.len(), &x);
    }

    #[test]
    fn matvec_requant_matches_rows(
        rows in 0usize..14,
        cols in 0usize..=MAX_COLS,
        short_x in 0usize..3,
        seed in proptest::num::u64::ANY,
    ) {
        let mut next = stream(seed);
        let w: Vec<u8> = (0..rows * row_bytes(cols)).map(|_| next() as u8).collect();
        // Sometimes fewer activations than columns: only the common length counts.
        let xn = cols.saturating_sub(short_x * 7);
        let x: Vec<i16> = (0..xn).map(|_| next() as i16).collect();
        let mult: Vec<i32> = (0..rows).map(|_| next() as i32).collect();
        let shift: Vec<i8> = (0..rows)
            .map(|_| match next() % 8 { 0 => 0, 1 => 63, _ => (30 + next() % 20) as i8 })
            .collect();
        let bias: Vec<i32> = (0..rows).map(|_| next() as i32).collect();
        let q = QuantRows4 { w: &w, cols, mult: &mult, shift: &shift, bias: &bias };
        // The reference: the naive sums, requantized.
        let rb = row_bytes(cols);
        let want: Vec<i32> = (0..q.len())
            .map(|i| {
                let acc = naive(&w[i * rb..(i + 1) * rb], &x, cols) as i32;
                requantize_in_range(acc, mult[i], shift[i] as u32).wrapping_add(bias[i])
            })
            .chain([7])
            .collect();
        let mut rows_out = vec![7; q.len() + 1];
        matvec_requant_i4_rows(q, &x, &mut rows_out);
        proptest::prop_assert_eq!(&rows_out, &want);
        // Through the dispatch (AVX2 where the CPU has it).
        let mut via = vec![7; q.len() + 1];
        matvec_requant_i4(q, &x, &mut via);
        proptest::prop_assert_eq!(via, want);
    }
}

#[test]
fn matvec_requant_extremes() {
    // Nine rows: one group of eight (AVX2) and one row alone; a shift of 0 in the second
    // set sends the product through the scalar requantization.
    let mult = [i32::MAX, i32::MIN, 1, -1, 0, 1 << 30, -(1 << 30), 12345, 7];
    let bias = [i32::MAX, i32::MIN, 0, 1, -1, 5, 6, 7, 8];
    let shifts = [
        [62, 1, 31, 32, 33, 2, 45, 62, 1],
        [62, 1, 31, 32, 33, 0, 45, 62, 1],
    ];
    for cols in [16, 31, 32, 33, 48, 64, 128, 130, MAX_COLS] {
        for (wv, xv) in [
            (0x77u8, 32767i16),
            (0x88, -32768),
            (0x88, 32767),
            (0x78, -32768),
        ] {
            for shift in &shifts {
                let w = vec![wv; 9 * row_bytes(cols)];
                let x = vec![xv; cols];
                let q = QuantRows4 {
                    w: &w,
                    cols,
                    mult: &mult,
                    shift,
                    bias: &bias,
                };
                let (mut got, mut want) = (vec![0; 9], vec![0; 9]);
                matvec_requant_i4(q, &x, &mut got);
                matvec_requant_i4_rows(q, &x, &mut want);
                assert_eq!(got, want, "cols {cols} w {wv:#x} x {xv} shifts {shift:?}");
            }
        }
    }
}
