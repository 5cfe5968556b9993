//! Quantize → integer runtime against the float reference on synthetic models.
//!
//! Metric: over text the float model itself generated (so the loss is meaningful), the mean
//! KL divergence KL(p_float ‖ p_int8) of the next-character distributions, the fraction of
//! positions where both rank the same character first, and the relative gap of nats/char.

use mynah_format::{AlignedBytes, Model, BOS};
use mynah_runtime::{Next, Pcg32, SampleOptions, Temperature};
use mynah_tools::engine::Agreement;
use mynah_tools::quantize::{agreement, quantize, QuantizeOptions};
use mynah_tools::reference::FloatGru;
use mynah_tools::sampling::Sampler;
use mynah_tools::synthetic::{float_file, synthetic_gru, SyntheticSpec};

/// `n` records sampled from `gru` at temperature 1, as evaluation sequences.
fn sampled_text(gru: &FloatGru, seed: u64, records: usize, max_len: usize) -> Vec<Vec<u32>> {
    let mut s = Sampler::float(gru.clone());
    let mut rng = Pcg32::new(seed);
    let opts = SampleOptions::new(Temperature::ONE, gru.records);
    let id = |c: char| gru.chars.binary_search(&c).unwrap() as u32 + 3;
    (0..records)
        .map(|_| {
            s.reset();
            let mut seq = vec![BOS];
            for _ in 0..max_len {
                match s.next(&opts, &mut rng).unwrap() {
                    Next::Char(c) => seq.push(id(c)),
                    Next::Eos => {
                        seq.push(mynah_format::EOS);
                        break;
                    }
                }
            }
            seq
        })
        .collect()
}

fn spec(layers: usize, hidden: usize, seed: u64) -> SyntheticSpec {
    let mut chars: Vec<char> = ('a'..='z').collect();
    chars.extend([' ', '.', ',', '\n']);
    chars.sort_unstable();
    SyntheticSpec {
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

fn measure(spec: &SyntheticSpec, opts: &QuantizeOptions) -> Agreement {
    let gru = synthetic_gru(spec);
    let file = AlignedBytes::copy_from(&float_file(&gru).unwrap());
    let model = Model::parse(&file).unwrap();
    let calib = sampled_text(&gru, 7, 2, 500);
    let text = sampled_text(&gru, 99, 2, 1000);
    let int8 = quantize(&model, &calib, opts).unwrap();
    agreement(&gru, &int8, &text).unwrap()
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
            },
        ),
    );
}

#[test]
fn weights_that_could_overflow_are_refused_at_load() {
    use mynah_format::{DType, ModelWriter};
    let mut s = spec(1, 32, 5);
    s.chars.truncate(10);
    let gru = synthetic_gru(&s);
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
    let err = mynah_runtime::IntModel::<32, 16, 1>::new(&Model::parse(&bad).unwrap()).unwrap_err();
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
