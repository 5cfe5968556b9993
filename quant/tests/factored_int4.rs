//! The factored input layer against the token table, and INT4 files against the float
//! model.
//!
//! The table holds `W_ih0 · e + b_ih0` per token rounded to `2^-ft`; the factored file
//! holds `e` rounded to `2^-f` and `W_ih0` rounded per row, and the runtime forms the
//! product. When the embedding and `W_ih0` are exactly representable (`e` a multiple of
//! `2^-f` with `max|e| · 2^f = 127`, every row of `W_ih0` a multiple of its scale) and the
//! table's entries too, both give the same Q16 pre-activations, so every logit of every
//! step is the same: the rounding runtime/QUANTIZATION.md states for the factored product
//! is then zero. On a model of random weights they agree to the rounding of `e` and
//! `W_ih0` (bounded there), which the second test measures.

use mynah_format::{AlignedBytes, Arch, Cell, Model};
use mynah_quant::engine::{compare, HostModel, IntRunner};
use mynah_quant::quantize::{agreement, quantize_model, QuantDtype, QuantizeOptions};
use mynah_quant::reference::{Body, FloatModel};
use mynah_quant::synthetic::{fixture_spec, synthetic_model};
use mynah_runtime::SplitMix64;

/// `m` with an embedding and a layer-0 input matrix that both paths represent exactly for
/// weights of `levels` (127 or 7): entries `q_e · 2^-6` with one entry 127 (so `f` = 6),
/// rows of `W_ih0` of `q_w · 2^-a` with one entry `±levels` per row (the row scale is
/// `2^-a`), biases multiples of `2^-(a + 6)`; every table entry is then a multiple of
/// `2^-(a + 6)` and smaller than `2^(15 - a - 6)`, so the table's `frac_bits` holds it
/// exactly.
fn representable(mut m: FloatModel, levels: i32, seed: u64) -> FloatModel {
    let a = if levels == 127 { 7 } else { 4 };
    let mut rng = SplitMix64::new(seed);
    let mut small = |max: i32| (rng.next_u64() % (2 * max as u64 + 1)) as i32 - max;
    let e_cols = m.embed.cols;
    for (i, x) in m.embed.data.iter_mut().enumerate() {
        *x = small(16) as f32 / 64.0;
        if i == 3 * e_cols {
            *x = 127.0 / 64.0; // token 3, column 0: the largest entry
        }
    }
    let Body::Recurrent(layers) = &mut m.body else {
        panic!("recurrent models only")
    };
    let l0 = &mut layers[0];
    let step = 2f32.powi(-a);
    for r in 0..l0.w_ih.rows {
        for c in 0..l0.w_ih.cols {
            // Column 0 meets the large embedding entry: keep it small there.
            let q = if c == 1 {
                if r % 2 == 0 {
                    levels
                } else {
                    -levels
                }
            } else {
                small(levels.min(16) / 4)
            };
            l0.w_ih.data[r * l0.w_ih.cols + c] = q as f32 * step;
        }
    }
    for b in &mut l0.b_ih {
        *b = small(1 << 10) as f32 * 2f32.powi(-(a + 6));
    }
    m
}

fn logits_of(file: &[u8], streams: &[Vec<u32>]) -> Vec<Vec<i32>> {
    let a = AlignedBytes::copy_from(file);
    let model = Model::parse(&a).unwrap();
    let host = HostModel::new(&model).unwrap();
    let mut out = Vec::new();
    for s in streams {
        let mut run = IntRunner::new(&host);
        for &t in s {
            out.push(run.step_q16(t).unwrap().to_vec());
        }
    }
    out
}

/// Token streams over the whole vocabulary (every token fed at least once).
fn streams(v: usize) -> Vec<Vec<u32>> {
    let mut rng = SplitMix64::new(9);
    (0..6)
        .map(|k| {
            let mut s: Vec<u32> = vec![1]; // <BOS>
            s.extend((0..40).map(|i| ((rng.next_u64() as usize + i * k) % v) as u32));
            s
        })
        .collect()
}

#[test]
fn factored_logits_equal_the_table_logits_when_exact() {
    for cell in Cell::ALL {
        for layers in [1, 2] {
            for dtype in [QuantDtype::Int8, QuantDtype::Int4] {
                let mut spec = fixture_spec(Arch::Recurrent(cell));
                spec.layers = layers;
                spec.embed = 5;
                let m = representable(
                    synthetic_model(&spec),
                    i32::from(dtype.levels()),
                    layers as u64,
                );
                let table = QuantizeOptions {
                    dtype,
                    ..QuantizeOptions::default()
                };
                let factored = QuantizeOptions {
                    factored: true,
                    ..table
                };
                let a = quantize_model(&m, &[], &table).unwrap();
                let b = quantize_model(&m, &[], &factored).unwrap();
                let f = AlignedBytes::copy_from(&b);
                let fm = Model::parse(&f).unwrap();
                assert!(fm.hyper().factored);
                assert_eq!(fm.require("rnn.embed").unwrap().frac_bits(), 6);
                let s = streams(m.vocab_size());
                assert_eq!(
                    logits_of(&a, &s),
                    logits_of(&b, &s),
                    "{cell} {layers} layers {dtype}"
                );
            }
        }
    }
}

#[test]
fn factored_follows_the_table_and_int4_the_float_model() {
    for cell in Cell::ALL {
        let arch = Arch::Recurrent(cell);
        let m = synthetic_model(&fixture_spec(arch));
        let s = streams(m.vocab_size());
        let file = |dtype, factored| {
            let o = QuantizeOptions {
                dtype,
                factored,
                ..QuantizeOptions::default()
            };
            quantize_model(&m, &s, &o).unwrap()
        };
        // Table against factored, both INT8: only the rounding of the embedding and of
        // W_ih0 differs (measured: KL 1e-6 to 4e-5, top-1 0.996 to 1).
        let (t8, f8) = (file(QuantDtype::Int8, false), file(QuantDtype::Int8, true));
        let (ta, fa) = (AlignedBytes::copy_from(&t8), AlignedBytes::copy_from(&f8));
        let (tm, fm) = (Model::parse(&ta).unwrap(), Model::parse(&fa).unwrap());
        let (th, fh) = (HostModel::new(&tm).unwrap(), HostModel::new(&fm).unwrap());
        let c = compare(&mut IntRunner::new(&th), &mut IntRunner::new(&fh), &s).unwrap();
        assert!(
            c.mean_kl < 1e-4 && c.top1 > 0.99,
            "{cell} table vs factored: {c:?}"
        );
        // INT4 against float, without QAT (measured: KL 2e-4 to 5e-3, top-1 0.95 to 0.97).
        for factored in [false, true] {
            let q4 = file(QuantDtype::Int4, factored);
            let a = agreement(&m, &q4, &s).unwrap();
            assert!(
                a.top1 > 0.9 && a.mean_kl < 0.02 && a.loss_gap().abs() < 0.02,
                "{cell} int4 factored={factored}: {a:?}"
            );
        }
    }
}
