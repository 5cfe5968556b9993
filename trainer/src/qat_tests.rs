//! Fake quantization against the exporter and the integer runtime: the integers, the scale
//! the runtime applies, and the requantized matrix product for Q15 inputs.

use super::*;
use crate::export::float_file;
use crate::model::CharModel;
use crate::params::HostTensor;
use mynah_format::{Activation, Arch, Cell, DType, Hyper, Specials, WeightsKind};
use mynah_quant::quantize::{decode_multiplier, quantize, QuantizeOptions};
use mynah_runtime::kernels::{matvec_requant_rows, QuantRows};
use mynah_runtime::SplitMix64;
use mynah_text::Vocab;
use tch::Device;

#[test]
fn rounding_is_half_away_from_zero_like_f64_round() {
    let xs: [f64; 13] = [
        0.5,
        -0.5,
        1.5,
        2.5,
        -2.5,
        0.499_999_999_999_999_94,
        -0.499_999_999_999_999_94,
        126.5,
        -126.5,
        3.0,
        -0.0,
        1e-300,
        7.499_999,
    ];
    let got = Vec::<f64>::try_from(round_half_away(&Tensor::from_slice(&xs))).unwrap();
    for (x, g) in xs.iter().zip(got) {
        assert_eq!(g, x.round(), "{x}");
    }
}

#[test]
fn the_pow2_exponent_is_the_largest_that_fits() {
    for (max, f) in [
        (1.0, 6),
        (127.0, 0),
        (127.5, -1),
        (0.99, 7),
        (3.9, 5),
        (4.0, 4),
    ] {
        assert_eq!(pow2_exponent(max), f, "{max}");
        assert!(max * 2f64.powi(f) <= 127.0 && max * 2f64.powi(f + 1) > 127.0);
    }
    let e = Tensor::from_slice(&[0.3f32, -1.7, 2.0, 0.0]).view([2, 2]);
    let got = Vec::<f32>::try_from(quantize_pow2(&e).view([-1])).unwrap();
    // max 2.0 → f = 5: round(0.3·32) = 10, round(-1.7·32) = -54.
    assert_eq!(got, [10.0 / 32.0, -54.0 / 32.0, 2.0, 0.0]);
}

#[test]
fn which_tensors_are_fake_quantized() {
    let table = QatSpec {
        kind: QuantKind::Int8,
        factored: false,
    };
    let factored = QatSpec {
        factored: true,
        ..table
    };
    let rows = FakeQuant::Rows(QuantKind::Int8);
    for (name, t, f) in [
        ("embed.weight", FakeQuant::None, FakeQuant::Pow2),
        ("rnn.weight_ih_l0", FakeQuant::None, rows),
        ("rnn.weight_hh_l0", rows, rows),
        ("rnn.weight_ih_l1", rows, rows),
        ("rnn.bias_ih_l0", FakeQuant::None, FakeQuant::None),
        ("rnn.bias_hh_l2", FakeQuant::None, FakeQuant::None),
        ("proj.weight", rows, rows),
        ("proj.bias", FakeQuant::None, FakeQuant::None),
        ("hidden.weight", FakeQuant::None, FakeQuant::None),
    ] {
        assert_eq!((table.of(name), factored.of(name)), (t, f), "{name}");
    }
}

#[test]
fn gradients_pass_straight_through() {
    let w = Tensor::from_slice(&[0.3f32, -0.2, 0.05, 0.7])
        .view([2, 2])
        .set_requires_grad(true);
    let spec = QatSpec {
        kind: QuantKind::Int4,
        factored: false,
    };
    let fq = spec.apply("proj.weight", &w);
    let want = Vec::<f32>::try_from(quantize_rows(&w, QuantKind::Int4).view([-1])).unwrap();
    assert_eq!(Vec::<f32>::try_from(fq.detach().view([-1])).unwrap(), want);
    (&fq * Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0]).view([2, 2]))
        .sum(Kind::Float)
        .backward();
    let g = Vec::<f32>::try_from(w.grad().view([-1])).unwrap();
    assert_eq!(g, [1.0, 2.0, 3.0, 4.0]);
}

/// Rows of varied magnitude, an all-zero row, and rows of scale exactly 1 whose weights sit
/// on rounding ties (where libtorch's half-to-even rounding would differ).
fn shape_rows(t: &mut HostTensor, levels: f32, rng: &mut SplitMix64) {
    let cols = t.shape[1];
    for (i, row) in t.data.chunks_exact_mut(cols).enumerate() {
        match i % 7 {
            0 => row.fill(0.0),
            1 => {
                let ties = [0.5f32, -0.5, 1.5, -2.5, 2.5, 3.5, -4.5, 0.25];
                for (j, w) in row.iter_mut().enumerate() {
                    *w = ties[j % ties.len()];
                }
                row[0] = levels;
            }
            k => {
                let scale = 2f32.powi(k as i32 - 4) * (1.0 + (rng.next_u64() % 100) as f32 / 50.0);
                row.iter_mut().for_each(|w| *w *= scale);
            }
        }
    }
}

fn model_with_shaped_rows(arch: Arch, layers: u32, vocab: &Vocab, kind: QuantKind) -> CharModel {
    let hyper = Hyper {
        vocab_size: u32::try_from(vocab.size()).unwrap(),
        embed_dim: 6,
        hidden_dim: 24,
        num_layers: layers,
        records: false,
        weights: WeightsKind::Float,
        arch,
        specials: Specials::DEFAULT,
        factored: false,
    };
    tch::manual_seed(11);
    let model = CharModel::new(Device::Cpu, hyper, 0.0).unwrap();
    let mut host = model.to_host().unwrap();
    let mut rng = SplitMix64::new(5);
    for t in host.iter_mut().filter(|t| t.shape.len() == 2) {
        if t.name != "embed.weight" && t.name != "hidden.weight" {
            shape_rows(t, kind.levels() as f32, &mut rng);
        }
    }
    model.load(&host).unwrap();
    model
}

/// The exported integer matrix `name`: weights, multipliers, shifts, Q16 biases.
struct Exported {
    q: Vec<i8>,
    mult: Vec<i32>,
    shift: Vec<i8>,
    bias: Vec<i32>,
}

fn exported(file: &mynah_format::Model<'_>, weight: &str) -> Exported {
    let (prefix, suffix) = match weight.strip_prefix("rnn.weight_") {
        Some(rest) => ("rnn.", rest.to_owned()),
        None => ("proj.", String::new()),
    };
    let part = |what: &str| {
        let name = if prefix == "proj." {
            format!("proj.{what}")
        } else {
            format!("rnn.{what}_{suffix}")
        };
        file.tensor(&name).unwrap_or_else(|| panic!("no {name}"))
    };
    let w = file.tensor(weight).unwrap();
    assert_eq!(w.dtype(), DType::I8, "{weight}");
    let i32s = |b: &[u8]| -> Vec<i32> {
        b.chunks_exact(4)
            .map(|c| i32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    };
    Exported {
        q: w.bytes().iter().map(|&b| b as i8).collect(),
        mult: i32s(part("mult").bytes()),
        shift: part("shift").bytes().iter().map(|&b| b as i8).collect(),
        bias: i32s(part("bias").bytes()),
    }
}

/// For every quantized matrix of every architecture: the fake-quantized weights are the
/// file's integers times the scale the runtime applies (`mult · 2^-shift / 2`), and the
/// fake-quantized product of a Q15 input plus the bias is the runtime's requantized result
/// within its stated rounding (0.5 LSB of Q16 for the product, 0.5 for the bias, 2^-30
/// relative for the multiplier) and the f32 rounding of the weights.
#[test]
fn fake_quantization_equals_the_int8_runtime() {
    let kind = QuantKind::Int8;
    let vocab = Vocab::from_texts(["abcdefg"]).unwrap();
    let archs = [
        (Arch::GRU, 2),
        (Arch::Recurrent(Cell::Lstm), 2),
        (Arch::Recurrent(Cell::Rnn), 1),
        (
            Arch::Ngram {
                context: 3,
                activation: Activation::Tanh,
            },
            1,
        ),
    ];
    let spec = QatSpec {
        kind,
        factored: false,
    };
    for (arch, layers) in archs {
        let model = model_with_shaped_rows(arch, layers, &vocab, kind);
        let host = model.to_host().unwrap();
        let float = float_file(&vocab, &model.hyper, &host, false).unwrap();
        let aligned = mynah_format::AlignedBytes::copy_from(&float);
        let bytes = quantize(&aligned.model().unwrap(), &[], &QuantizeOptions::default()).unwrap();
        let int = mynah_format::AlignedBytes::copy_from(&bytes);
        let file = int.model().unwrap();
        let mut checked = 0;
        for (name, w) in model.named_params() {
            if spec.of(&name) == FakeQuant::None {
                continue;
            }
            let bias_name = name.replace("weight", "bias");
            let bias = host.iter().find(|t| t.name == bias_name).unwrap();
            check_matrix(&name, &w, &bias.data, &exported(&file, &name), kind);
            checked += 1;
        }
        let want = if matches!(arch, Arch::Ngram { .. }) {
            1
        } else {
            1 + 2 * layers - 1
        };
        assert_eq!(checked, want, "{arch}");
    }
}

fn check_matrix(name: &str, w: &Tensor, bias: &[f32], e: &Exported, kind: QuantKind) {
    let (rows, cols) = (w.size()[0] as usize, w.size()[1] as usize);
    let (q, _) = rows_q_and_scale(w, kind);
    let q: Vec<f64> = Vec::try_from(q.view([-1])).unwrap();
    let fq: Vec<f32> = Vec::try_from(quantize_rows(w, kind).view([-1])).unwrap();
    let mut rng = SplitMix64::new(9);
    let x: Vec<i16> = (0..cols)
        .map(|_| ((rng.next_u64() % 65535) as i32 - 32767) as i16)
        .collect();
    let mut out = vec![0i32; rows];
    let qrows = QuantRows {
        w: &e.q,
        cols,
        mult: &e.mult,
        shift: &e.shift,
        bias: &e.bias,
    };
    matvec_requant_rows(qrows, &x, &mut out);
    for i in 0..rows {
        let eff = decode_multiplier(e.mult[i], e.shift[i] as u32) / 2.0;
        let mut sum = 0f64;
        let mut mag = 0f64;
        for (j, &xj) in x.iter().enumerate() {
            let k = i * cols + j;
            assert_eq!(q[k], f64::from(e.q[k]), "{name}[{i}][{j}]");
            let runtime = f64::from(e.q[k]) * eff;
            let got = f64::from(fq[k]);
            assert!(
                (got - runtime).abs() <= runtime.abs() * 2f64.powi(-23),
                "{name}[{i}][{j}]: {got} vs {runtime}"
            );
            let xj = f64::from(xj) / 32768.0;
            sum += got * xj;
            mag += (got * xj).abs();
        }
        let want = (sum + f64::from(bias[i])) * 65536.0;
        let tol = 1.0 + mag * 65536.0 * 2f64.powi(-22);
        assert!(
            (f64::from(out[i]) - want).abs() <= tol,
            "{name} row {i}: runtime {} vs fake-quantized {want} (±{tol})",
            out[i]
        );
    }
}

/// A QAT model computes exactly what a plain model holding its fake-quantized weights does,
/// for every architecture, with a token table or a factored input layer.
#[test]
fn a_qat_model_runs_its_fake_quantized_weights() {
    let vocab = Vocab::from_texts(["abcdefg"]).unwrap();
    let archs = [
        (Arch::GRU, 2),
        (Arch::Recurrent(Cell::Lstm), 1),
        (
            Arch::Ngram {
                context: 2,
                activation: Activation::Relu,
            },
            1,
        ),
    ];
    let input = Tensor::from_slice(&[1i64, 4, 5, 6, 3, 9, 4]).view([1, -1]);
    for ((arch, layers), kind) in
        archs
            .into_iter()
            .zip([QuantKind::Int4, QuantKind::Int8, QuantKind::Int4])
    {
        for factored in [false, true]
            .into_iter()
            .filter(|&f| !f || arch != archs[2].0)
        {
            let spec = QatSpec { kind, factored };
            let model = model_with_shaped_rows(arch, layers, &vocab, kind);
            let host = model.to_host().unwrap();
            let fake: Vec<HostTensor> = model
                .named_params()
                .iter()
                .map(|(n, t)| HostTensor::from_tch(n, &spec.apply(n, t)).unwrap())
                .collect();
            assert_ne!(fake, host, "{arch}: nothing was quantized");
            let plain = CharModel::from_host(Device::Cpu, model.hyper, &fake, 0.0).unwrap();
            let qat = CharModel::from_host(Device::Cpu, model.hyper, &host, 0.0)
                .unwrap()
                .with_qat(Some(spec));
            let a = plain.forward(&input, None, false).0;
            let b = qat.forward(&input, None, false).0;
            assert!(a.equal(&b), "{arch} {spec:?}");
        }
    }
}
