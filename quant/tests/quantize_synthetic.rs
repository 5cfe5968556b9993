//! Quantize → integer runtime against the float reference on synthetic models of every
//! architecture.
//!
//! Metric: over text the float model itself generated (so the loss is meaningful), the mean
//! KL divergence KL(p_float ‖ p_int8) of the next-character distributions, the fraction of
//! positions where both rank the same character first, and the relative gap of nats/char.

use mynah_format::{Activation, AlignedBytes, Arch, Cell, Model, Specials};
use mynah_quant::engine::Agreement;
use mynah_quant::quantize::{agreement, quantize, QuantizeOptions};
use mynah_quant::reference::FloatModel;
use mynah_quant::sampling::Sampler;
use mynah_quant::synthetic::{float_file, synthetic_model, SyntheticSpec};
use mynah_runtime::{Next, Pcg32, SampleOptions, Temperature};

/// `n` records sampled from `m` at temperature 1, as evaluation sequences.
fn sampled_text(m: &FloatModel, seed: u64, records: usize, max_len: usize) -> Vec<Vec<u32>> {
    let mut s = Sampler::float(m.clone());
    let mut rng = Pcg32::new(seed);
    let file = AlignedBytes::copy_from(&float_file(m).unwrap());
    let model = Model::parse(&file).unwrap();
    let opts = SampleOptions::new(Temperature::ONE, &model.vocab(), m.hyper.records);
    (0..records)
        .map(|_| {
            s.reset();
            let mut seq: Vec<u32> = m.vocab.bos().into_iter().collect();
            for _ in 0..max_len {
                match s.next(&opts, &mut rng).unwrap() {
                    Next::Char(c) => seq.push(m.vocab.id_of(c).unwrap()),
                    Next::Eos => {
                        seq.extend(m.vocab.eos());
                        break;
                    }
                }
            }
            seq
        })
        .collect()
}

fn spec_of(arch: Arch, layers: usize, hidden: usize, seed: u64) -> SyntheticSpec {
    let mut chars: Vec<char> = ('a'..='z').collect();
    chars.extend([' ', '.', ',', '\n']);
    chars.sort_unstable();
    SyntheticSpec {
        arch,
        specials: Specials::DEFAULT,
        chars,
        embed: 16,
        hidden,
        layers,
        records: false,
        seed,
        gain: 2.0,
        proj_gain: 6.0,
    }
}

fn spec(layers: usize, hidden: usize, seed: u64) -> SyntheticSpec {
    spec_of(Arch::GRU, layers, hidden, seed)
}

fn measure(spec: &SyntheticSpec, opts: &QuantizeOptions) -> Agreement {
    let m = synthetic_model(spec);
    let file = AlignedBytes::copy_from(&float_file(&m).unwrap());
    let model = Model::parse(&file).unwrap();
    let calib = sampled_text(&m, 7, 2, 500);
    let text = sampled_text(&m, 99, 2, 1000);
    let int8 = quantize(&model, &calib, opts).unwrap();
    agreement(&m, &int8, &text).unwrap()
}

fn check(name: &str, a: &Agreement) {
    eprintln!(
        "{name}: float {:.4} int8 {:.4} nats/char (gap {:+.3}%), mean KL {:.2e} (max {:.2e}), top-1 {:.4} over {} positions",
        a.a.nats_per_char(),
        a.b.nats_per_char(),
        100.0 * a.loss_gap(),
        a.mean_kl,
        a.max_kl,
        a.top1,
        a.positions
    );
    assert!(a.positions >= 1500);
    assert!(
        a.loss_gap().abs() < 0.01,
        "{name}: loss gap {}",
        a.loss_gap()
    );
    assert!(a.mean_kl < 2e-3, "{name}: mean KL {}", a.mean_kl);
    assert!(a.top1 > 0.97, "{name}: top-1 {}", a.top1);
}

#[test]
fn one_layer_128_follows_the_float_model() {
    check(
        "1x128",
        &measure(&spec(1, 128, 11), &QuantizeOptions::default()),
    );
}

#[test]
fn two_layers_64_follow_the_float_model() {
    check(
        "2x64",
        &measure(&spec(2, 64, 12), &QuantizeOptions::default()),
    );
}

#[test]
fn without_bias_correction_too() {
    check(
        "1x128 no-bc",
        &measure(
            &spec(1, 128, 11),
            &QuantizeOptions {
                bias_correction: false,
                ..QuantizeOptions::default()
            },
        ),
    );
}

#[test]
fn weights_that_could_overflow_are_refused_at_load() {
    use mynah_format::{DType, ModelWriter};
    let mut s = spec(1, 32, 5);
    s.chars.truncate(10);
    let gru = synthetic_model(&s);
    let file = AlignedBytes::copy_from(&float_file(&gru).unwrap());
    let int8 = quantize(
        &Model::parse(&file).unwrap(),
        &[],
        &QuantizeOptions::default(),
    )
    .unwrap();
    let int8 = AlignedBytes::copy_from(&int8);
    let model = Model::parse(&int8).unwrap();
    // Same file, but one projection row multiplies by ~2^31 without a shift.
    let mut w =
        ModelWriter::new(model.hyper(), &model.vocab().chars().collect::<Vec<_>>()).unwrap();
    for t in model.tensors() {
        let mut bytes = t.bytes().to_vec();
        if t.name() == "proj.mult" {
            bytes[..4].copy_from_slice(&i32::MAX.to_le_bytes());
        }
        if t.name() == "proj.shift" {
            bytes[0] = 0;
        }
        w.add(t.name(), t.dtype(), t.shape(), &bytes, t.frac_bits())
            .unwrap();
        assert!(matches!(t.dtype(), DType::I8 | DType::I16 | DType::I32));
    }
    let bad = AlignedBytes::copy_from(&w.to_bytes().unwrap());
    let err =
        mynah_runtime::IntModel::<mynah_runtime::Gru, 32, 16, 1>::new(&Model::parse(&bad).unwrap())
            .unwrap_err();
    assert!(
        matches!(err, mynah_runtime::RuntimeError::OutOfRange { row: 0, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("proj.weight row 0"), "{err}");
}

#[test]
fn three_layers_of_an_odd_width_follow_the_float_model() {
    // 45 columns: one full 32-wide block plus a 13-element tail in every dot product.
    check(
        "3x45",
        &measure(&spec(3, 45, 21), &QuantizeOptions::default()),
    );
}

#[test]
fn an_lstm_follows_the_float_model() {
    let lstm = Arch::Recurrent(Cell::Lstm);
    check(
        "lstm 1x96",
        &measure(&spec_of(lstm, 1, 96, 31), &QuantizeOptions::default()),
    );
    check(
        "lstm 2x48",
        &measure(&spec_of(lstm, 2, 48, 32), &QuantizeOptions::default()),
    );
}

#[test]
fn a_tanh_rnn_follows_the_float_model() {
    let rnn = Arch::Recurrent(Cell::Rnn);
    let mut s = spec_of(rnn, 1, 128, 41);
    // A plain RNN with the GRU's gain explodes into saturation; PyTorch's init scale.
    s.gain = 1.0;
    check("rnn 1x128", &measure(&s, &QuantizeOptions::default()));
    let mut s = spec_of(rnn, 2, 64, 42);
    s.gain = 1.0;
    check("rnn 2x64", &measure(&s, &QuantizeOptions::default()));
}

#[test]
fn the_ngram_mlp_follows_the_float_model() {
    for (activation, seed) in [(Activation::Relu, 51), (Activation::Tanh, 52)] {
        let arch = Arch::Ngram {
            context: 5,
            activation,
        };
        check(
            &format!("ngram {activation} c5x128"),
            &measure(&spec_of(arch, 1, 128, seed), &QuantizeOptions::default()),
        );
    }
}

/// INT4 with compensated rounding follows the float model more closely than nearest
/// rounding, on every cell, factored or not; and a plan of nearest codes given back writes
/// the very file nearest rounding writes.
#[test]
fn compensated_int4_beats_nearest_and_plans_write_what_they_hold() {
    use mynah_quant::quantize::{plan_weights, quantize_model, quantize_model_with};
    use mynah_quant::quantize::{QuantDtype, Rounding};
    for (i, cell) in [Cell::Gru, Cell::Lstm, Cell::Rnn].into_iter().enumerate() {
        let mut s = spec_of(Arch::Recurrent(cell), 1, 64, 50 + i as u64);
        if cell == Cell::Rnn {
            s.gain = 1.0;
        }
        let m = synthetic_model(&s);
        let calib = sampled_text(&m, 7, 4, 500);
        let text = sampled_text(&m, 99, 2, 1000);
        for factored in [false, true] {
            let nearest = QuantizeOptions {
                dtype: QuantDtype::Int4,
                factored,
                bias_correction: false,
                rounding: Rounding::Nearest,
            };
            let comp = QuantizeOptions {
                rounding: Rounding::Compensated,
                ..nearest
            };
            let a = agreement(&m, &quantize_model(&m, &calib, &nearest).unwrap(), &text).unwrap();
            let b = agreement(&m, &quantize_model(&m, &calib, &comp).unwrap(), &text).unwrap();
            eprintln!(
                "{cell:?} factored {factored}: KL nearest {:.3e}, compensated {:.3e}",
                a.mean_kl, b.mean_kl
            );
            assert!(b.mean_kl < a.mean_kl, "{cell:?} {factored}");
            let plan = plan_weights(&m, &calib, &nearest).unwrap();
            assert_eq!(
                quantize_model_with(&m, &calib, &nearest, Some(&plan)).unwrap(),
                quantize_model(&m, &calib, &nearest).unwrap()
            );
        }
    }
}

/// Codes and scales that do not fit their matrix are refused with the tensor's name.
#[test]
fn a_plan_that_does_not_fit_is_refused() {
    use mynah_quant::quantize::{plan_weights, quantize_model_with, QuantizeError};
    let m = synthetic_model(&spec(1, 32, 3));
    let opts = QuantizeOptions::default();
    let mut plan = plan_weights(&m, &[], &opts).unwrap();
    plan.get_mut("proj.weight").unwrap().scales[0] = f64::NAN;
    let e = quantize_model_with(&m, &[], &opts, Some(&plan)).unwrap_err();
    assert!(matches!(e, QuantizeError::Rounding { .. }), "{e}");
    assert!(e.to_string().contains("proj.weight"), "{e}");
    let mut plan = plan_weights(&m, &[], &opts).unwrap();
    plan.get_mut("rnn.weight_hh_l0").unwrap().codes.pop();
    let e = quantize_model_with(&m, &[], &opts, Some(&plan)).unwrap_err();
    assert!(e.to_string().contains("rnn.weight_hh_l0"), "{e}");
}
