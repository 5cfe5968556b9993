//! The runtime's integer kernels against f64 references, with stated error bounds.
//! (The runtime itself holds no float; the references live here, on the host.)

use mynah_quant::quantize::{decode_multiplier, encode_multiplier};
use mynah_runtime::kernels::{
    dot_i8_i16, exp_neg_q30, gru_blend, requantize, sigmoid_q15, tanh_q15, ACT_MAX, MAX_COLS,
    ONE_Q15, PRE_FRAC,
};
use mynah_runtime::{softmax_q30, SampleOptions, Temperature};
use proptest::prelude::*;

const Q16: f64 = 65536.0;
const Q15: f64 = 32768.0;

/// Error bounds, in units of the output's last place.
const TANH_MAX_LSB: f64 = 1.5;
const SIGMOID_MAX_LSB: f64 = 1.5;

#[test]
fn tanh_is_within_bound_everywhere() {
    // Every Q16 input from -9 to 9 in steps of 7/65536 (~170k points), plus extremes.
    let mut worst: f64 = 0.0;
    let mut x = -9 * 65536;
    while x <= 9 * 65536 {
        let got = f64::from(tanh_q15(x, PRE_FRAC));
        let want = (f64::from(x) / Q16).tanh() * Q15;
        worst = worst.max((got - want).abs());
        x += 7;
    }
    assert!(worst <= TANH_MAX_LSB, "tanh worst error {worst} LSB");
    eprintln!("tanh worst error {worst:.3} LSB (Q15)");
}

#[test]
fn sigmoid_is_within_bound_everywhere() {
    let mut worst: f64 = 0.0;
    let mut x = -20 * 65536;
    while x <= 20 * 65536 {
        let got = f64::from(sigmoid_q15(x));
        let want = Q15 / (1.0 + (-f64::from(x) / Q16).exp());
        worst = worst.max((got - want).abs());
        x += 13;
    }
    assert!(worst <= SIGMOID_MAX_LSB, "sigmoid worst error {worst} LSB");
    eprintln!("sigmoid worst error {worst:.3} LSB (Q15)");
}

#[test]
fn exp_is_within_relative_bound() {
    let mut worst: f64 = 0.0;
    for x in (0..(20u64 << 16)).step_by(11) {
        let got = f64::from(exp_neg_q30(x));
        let want = (-(x as f64) / Q16).exp() * f64::from(1u32 << 30);
        // Relative 2e-6, or 1 LSB where the value is tiny.
        let err = (got - want).abs();
        assert!(
            err <= (want * 2e-6).max(1.0),
            "exp({x}) = {got}, want {want}"
        );
        if want > 1_048_576.0 {
            worst = worst.max(err / want);
        }
    }
    eprintln!("exp worst relative error {worst:.2e} (values above 2^-10)");
}

fn q8(v: &[f32], scale: f64) -> Vec<i8> {
    v.iter()
        .map(|&x| (f64::from(x) / scale).round().clamp(-127.0, 127.0) as i8)
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Dot product + requantization against exact f64: the only error is the final
    /// rounding (0.5 LSB of Q16) plus the multiplier's 31-bit precision.
    #[test]
    fn dot_requantize_matches_exact(
        w in prop::collection::vec(-128i8..=127, 1..=MAX_COLS),
        seed in any::<u64>(),
        scale in 1e-5f64..0.5,
    ) {
        let n = w.len();
        let mut s = seed;
        let x: Vec<i16> = (0..n).map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 33) as i64 % 65535 - 32767) as i16
        }).collect();
        let acc = dot_i8_i16(&w, &x);
        let exact: i64 = w.iter().zip(&x).map(|(&a, &b)| i64::from(a) * i64::from(b)).sum();
        prop_assert_eq!(i64::from(acc), exact);
        let (m, sh) = encode_multiplier(2.0 * scale).unwrap();
        let got = f64::from(requantize(acc, m, sh));
        let want = exact as f64 * 2.0 * scale;
        let bound = 0.5 + want.abs() * 1e-9 + 1e-9;
        prop_assert!((got - want).abs() <= bound, "got {} want {}", got, want);
        prop_assert!((decode_multiplier(m, sh) - 2.0 * scale).abs() <= 2.0 * scale * 2f64.powi(-30));
    }

    /// A quantized matrix-vector product against the float one: per row the error is at
    /// most (s/2)·Σ|x| (weight rounding) + max|W|·n·2^-16 (Q15 input rounding) + 1 LSB.
    #[test]
    fn quantized_matvec_is_within_bound(
        rows in prop::collection::vec(prop::collection::vec(-1.0f32..1.0, 64), 1..8),
        xs in prop::collection::vec(-1.0f32..1.0, 64),
    ) {
        let xq: Vec<i16> = xs.iter().map(|&v| (f64::from(v) * Q15).round().clamp(-32767.0, 32767.0) as i16).collect();
        for row in &rows {
            let max = row.iter().fold(0f64, |m, &v| m.max(f64::from(v).abs()));
            prop_assume!(max > 0.0);
            let scale = max / 127.0;
            let q = q8(row, scale);
            let (m, sh) = encode_multiplier(2.0 * scale).unwrap();
            let got = f64::from(requantize(dot_i8_i16(&q, &xq), m, sh)) / Q16;
            let want: f64 = row.iter().zip(&xs).map(|(&a, &b)| f64::from(a) * f64::from(b)).sum();
            let sum_abs: f64 = xs.iter().map(|&v| f64::from(v).abs()).sum();
            let bound = scale / 2.0 * sum_abs + max * 64.0 / Q16 + 1.0 / Q16;
            prop_assert!((got - want).abs() <= bound, "got {} want {} bound {}", got, want, bound);
        }
    }

    /// Saturation: all-max weights against all-max activations never overflow, and the
    /// requantized result saturates instead of wrapping.
    #[test]
    fn extremes_do_not_overflow(n in 1usize..=MAX_COLS, wsign in prop::bool::ANY, xsign in prop::bool::ANY) {
        let w = vec![if wsign { 127i8 } else { -128 }; n];
        let x = vec![if xsign { ACT_MAX as i16 } else { -(ACT_MAX as i16) }; n];
        let acc = dot_i8_i16(&w, &x);
        let exact = i64::from(w[0]) * i64::from(x[0]) * n as i64;
        prop_assert_eq!(i64::from(acc), exact);
        let big = requantize(acc, i32::MAX, 0);
        prop_assert!(big == i32::MAX || big == i32::MIN);
        prop_assert_eq!(tanh_q15(big, PRE_FRAC).unsigned_abs(), 32767);
    }

    /// h' = (1 − z) n + z h: within 0.5 LSB of exact, never outside [min(h,n), max(h,n)].
    #[test]
    fn blend_is_exactly_rounded(z in 0i32..=ONE_Q15, h in -32767i16..=32767, n in -32767i16..=32767) {
        let got = i32::from(gru_blend(z, h, n));
        let zf = f64::from(z) / Q15;
        let want = (1.0 - zf) * f64::from(n) + zf * f64::from(h);
        prop_assert!((f64::from(got) - want).abs() <= 0.5);
        prop_assert!(got >= i32::from(h.min(n)) && got <= i32::from(h.max(n)));
    }

    /// Integer softmax with temperature against f64: every probability within 2e-5.
    #[test]
    fn softmax_matches_float(
        logits in prop::collection::vec(-20.0f64..20.0, 4..80),
        milli in 50u32..3000,
    ) {
        let q: Vec<i32> = logits.iter().map(|&l| (l * Q16).round() as i32).collect();
        let mut w = vec![0u32; q.len()];
        let opts = SampleOptions {
            temperature: Temperature::from_milli(milli),
            top_k: 0,
            first_char: 3,
            stop: None,
        };
        let total = softmax_q30(&q, &opts, &mut w);
        prop_assert!(total > 0);
        let t = f64::from(milli) / 1000.0;
        // Same eligibility as the runtime: ids 0..3 (PAD, BOS, EOS) excluded.
        let ql: Vec<f64> = q.iter().map(|&v| f64::from(v) / Q16).collect();
        let max = ql[3..].iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let z: f64 = ql[3..].iter().map(|&l| ((l - max) / t).exp()).sum();
        for i in 0..q.len() {
            let want = if i < 3 { 0.0 } else { ((ql[i] - max) / t).exp() / z };
            let got = f64::from(w[i]) / total as f64;
            prop_assert!((got - want).abs() <= 2e-5, "p[{}] = {} want {}", i, got, want);
        }
    }
}
