//! Version 2's model description: every architecture's FLOAT and INT8 tensor tables, the
//! special tokens, the n-gram's rules and `file_size`.

mod common;

use common::*;
use mynah_format::layout::{self, header};
use mynah_format::{
    file_size, Activation, AlignedBytes, Arch, Cell, DType, FormatError, Hyper, Model, ModelWriter,
    Shape, Special, Specials, TensorName, Token, WeightsKind,
};
use proptest::prelude::*;

fn name(s: &str) -> TensorName {
    TensorName::new(s)
}

const LSTM: Arch = Arch::Recurrent(Cell::Lstm);
const RNN: Arch = Arch::Recurrent(Cell::Rnn);

type Expected = Vec<(&'static str, DType, Vec<u32>)>;

/// The float tensors of a two-layer recurrent model with V 6, E 3, H 2 and `g` gate rows
/// (written out by hand from SPEC.md, not from `layout`).
fn recurrent_float(g: u32) -> Expected {
    use DType::F32;
    vec![
        ("embed.weight", F32, vec![6, 3]),
        ("rnn.weight_ih_l0", F32, vec![g, 3]),
        ("rnn.weight_ih_l1", F32, vec![g, 2]),
        ("rnn.weight_hh_l0", F32, vec![g, 2]),
        ("rnn.weight_hh_l1", F32, vec![g, 2]),
        ("rnn.bias_ih_l0", F32, vec![g]),
        ("rnn.bias_ih_l1", F32, vec![g]),
        ("rnn.bias_hh_l0", F32, vec![g]),
        ("rnn.bias_hh_l1", F32, vec![g]),
        ("proj.weight", F32, vec![6, 2]),
        ("proj.bias", F32, vec![6]),
    ]
}

/// The INT8 tensors of the same model: no embedding and no layer-0 input tensors.
fn recurrent_int8(g: u32) -> Expected {
    use DType::{I16, I32, I8};
    vec![
        ("rnn.input_table", I16, vec![6, g]),
        ("rnn.weight_hh_l0", I8, vec![g, 2]),
        ("rnn.weight_hh_l1", I8, vec![g, 2]),
        ("rnn.mult_hh_l0", I32, vec![g]),
        ("rnn.mult_hh_l1", I32, vec![g]),
        ("rnn.shift_hh_l0", I8, vec![g]),
        ("rnn.shift_hh_l1", I8, vec![g]),
        ("rnn.bias_hh_l0", I32, vec![g]),
        ("rnn.bias_hh_l1", I32, vec![g]),
        ("rnn.weight_ih_l1", I8, vec![g, 2]),
        ("rnn.mult_ih_l1", I32, vec![g]),
        ("rnn.shift_ih_l1", I8, vec![g]),
        ("rnn.bias_ih_l1", I32, vec![g]),
        ("proj.weight", I8, vec![6, 2]),
        ("proj.mult", I32, vec![6]),
        ("proj.shift", I8, vec![6]),
        ("proj.bias", I32, vec![6]),
    ]
}

/// The n-gram MLP with V 6, E 3, H 2 and `context` positions.
fn ngram_float(context: u32) -> Expected {
    use DType::F32;
    vec![
        ("embed.weight", F32, vec![6, 3]),
        ("hidden.weight", F32, vec![2, context * 3]),
        ("hidden.bias", F32, vec![2]),
        ("proj.weight", F32, vec![6, 2]),
        ("proj.bias", F32, vec![6]),
    ]
}

fn ngram_int8(context: u32) -> Expected {
    use DType::{I16, I32, I8};
    vec![
        ("ngram.input_table", I16, vec![context * 6, 2]),
        ("ngram.hidden_exp", I8, vec![1]),
        ("proj.weight", I8, vec![6, 2]),
        ("proj.mult", I32, vec![6]),
        ("proj.shift", I8, vec![6]),
        ("proj.bias", I32, vec![6]),
    ]
}

/// Sorted by name (names are unique), so that tables compare whatever their order.
fn sorted(mut v: Vec<(String, DType, Vec<u32>)>) -> Vec<(String, DType, Vec<u32>)> {
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[test]
fn tables_hold_the_tensors_spec_md_lists() {
    let cases: [(Arch, WeightsKind, Expected); 10] = [
        (Arch::GRU, WeightsKind::Float, recurrent_float(6)),
        (LSTM, WeightsKind::Float, recurrent_float(8)),
        (RNN, WeightsKind::Float, recurrent_float(2)),
        (Arch::GRU, WeightsKind::Int8, recurrent_int8(6)),
        (LSTM, WeightsKind::Int8, recurrent_int8(8)),
        (RNN, WeightsKind::Int8, recurrent_int8(2)),
        (ARCHS[3], WeightsKind::Float, ngram_float(3)),
        (ARCHS[4], WeightsKind::Float, ngram_float(2)),
        (ARCHS[3], WeightsKind::Int8, ngram_int8(3)),
        (ARCHS[4], WeightsKind::Int8, ngram_int8(2)),
    ];
    for (arch, weights, expected) in cases {
        let h = hyper_of(arch, weights);
        let expected: Vec<(String, DType, Vec<u32>)> = expected
            .into_iter()
            .map(|(n, d, s)| (n.to_string(), d, s))
            .collect();
        // The table itself...
        assert_eq!(
            sorted(table_tensors(&h)),
            sorted(expected.clone()),
            "{arch} {weights}"
        );
        // ...and a file written from it.
        let a = AlignedBytes::copy_from(&model_file(h));
        let m = Model::parse(&a).unwrap();
        let found = m
            .tensors()
            .map(|t| (t.name().to_string(), t.dtype(), t.shape().to_vec()))
            .collect();
        assert_eq!(sorted(found), sorted(expected), "{arch} {weights}");
    }
}

#[test]
fn one_layer_int8_models_have_no_input_tensors_but_the_table() {
    let h = Hyper {
        num_layers: 1,
        ..hyper_of(LSTM, WeightsKind::Int8)
    };
    let names: Vec<String> = table_tensors(&h).into_iter().map(|t| t.0).collect();
    assert_eq!(names.len(), 9);
    assert!(names.iter().all(|n| !n.contains("_ih_")), "{names:?}");
    let mut w = model_writer(h);
    w.add_i8("rnn.weight_ih_l1", &[8, 2], &[0; 16], 0).unwrap();
    assert_eq!(
        w.to_bytes(),
        Err(FormatError::UnexpectedTensor {
            index: 9,
            name: name("rnn.weight_ih_l1")
        })
    );
}

#[test]
fn every_architecture_and_weights_kind_round_trips() {
    for arch in ARCHS {
        for h in hypers_of(arch) {
            let weights = h.weights;
            let w = model_writer(h);
            let bytes = w.to_aligned_bytes().unwrap();
            let m = Model::parse(&bytes).unwrap();
            assert_eq!(m.hyper(), h);
            assert_eq!(m.version(), h.min_version());
            assert_eq!(m.tensor_count(), table_tensors(&h).len());
            // The version-2 fields as SPEC.md encodes them.
            let (code, context, activation) = match arch {
                Arch::Recurrent(Cell::Gru) => (0, 0, 0),
                Arch::Recurrent(Cell::Lstm) => (1, 0, 0),
                Arch::Recurrent(Cell::Rnn) => (2, 0, 0),
                Arch::Ngram {
                    context,
                    activation,
                } => (
                    3,
                    context,
                    match activation {
                        Activation::Relu => 1,
                        Activation::Tanh => 2,
                    },
                ),
            };
            assert_eq!(get_u32(&bytes, header::ARCH), code);
            assert_eq!(get_u32(&bytes, header::SPECIALS), 7);
            assert_eq!(get_u32(&bytes, header::CONTEXT), context);
            assert_eq!(get_u32(&bytes, header::ACTIVATION), activation);
            assert!(bytes[80..128].iter().all(|&b| b == 0));
            assert_eq!(
                &bytes[header::HEADER_SIZE..header::HEADER_SIZE + 2],
                [128, 0]
            );
            // file_size is the writer's own layout.
            assert_eq!(file_size(&h, 3).unwrap(), bytes.len(), "{arch} {weights}");
        }
    }
}

#[test]
fn every_tensor_is_required() {
    for arch in ARCHS {
        for h in hypers_of(arch) {
            let weights = h.weights;
            for (n, _, _) in table_tensors(&h) {
                assert_eq!(
                    writer_with(h, &n, None).to_bytes(),
                    Err(FormatError::MissingTensor { name: name(&n) }),
                    "{arch} {weights}"
                );
            }
        }
    }
}

#[test]
fn every_shape_is_checked() {
    for arch in ARCHS {
        for h in hypers_of(arch) {
            let weights = h.weights;
            for (n, dtype, shape) in table_tensors(&h) {
                let mut longer = shape.clone();
                longer[0] += 1;
                let mut deeper = shape.clone();
                deeper.push(1);
                let mut transposed = shape.clone();
                transposed.reverse();
                let mut cases = vec![longer, deeper];
                if transposed != shape {
                    cases.push(transposed);
                }
                for found in cases {
                    assert_eq!(
                        writer_with(h, "", Some((&n, &found, dtype))).to_bytes(),
                        Err(FormatError::ShapeMismatch {
                            name: name(&n),
                            expected: Shape::new(&shape),
                            found: Shape::new(&found)
                        }),
                        "{arch} {weights}"
                    );
                }
            }
        }
    }
}

#[test]
fn every_dtype_is_checked() {
    for arch in ARCHS {
        for h in hypers_of(arch) {
            let weights = h.weights;
            let specs: Vec<_> = h
                .table()
                .specs
                .iter()
                .flat_map(|s| {
                    (0..h.num_layers)
                        .filter(|&k| s.layers.has(k, h.num_layers))
                        .map(move |k| (mynah_format::tensor_name(s, k), s, k))
                })
                .collect();
            for (n, spec, k) in specs {
                let shape = h.shape_of(spec, k).dims().to_vec();
                for dtype in DType::ALL {
                    let r = writer_with(h, "", Some((&n, &shape, dtype))).to_bytes();
                    if spec.dtypes.contains(&dtype) {
                        assert!(r.is_ok(), "{arch} {weights} {n} {dtype}: {r:?}");
                    } else {
                        assert_eq!(
                            r,
                            Err(FormatError::WrongTensorDType {
                                name: name(&n),
                                found: dtype
                            }),
                            "{arch} {weights}"
                        );
                    }
                }
                // Float tables take f32 and f16; INT8 tensors have exactly one dtype.
                let expected: &[DType] = if weights == WeightsKind::Float {
                    &[DType::F32, DType::F16]
                } else {
                    &spec.dtypes[..1]
                };
                assert_eq!(spec.dtypes, expected, "{n}");
            }
        }
    }
}

#[test]
fn extra_tensors_are_refused() {
    let float = WeightsKind::Float;
    let int8 = WeightsKind::Int8;
    // (architecture, weights, extra name, its shape, its dtype): each a plausible tensor
    // of another table, or of a layer the model does not have.
    let cases: &[(Arch, WeightsKind, &str, &[u32], DType)] = &[
        (Arch::GRU, float, "extra", &[1], DType::F32),
        (Arch::GRU, float, "rnn.weight_hh_l2", &[6, 2], DType::F32),
        (Arch::GRU, float, "hidden.weight", &[2, 9], DType::F32),
        (Arch::GRU, float, "rnn.input_table", &[6, 6], DType::I16),
        (LSTM, float, "rnn.bias_hh_l2", &[8], DType::F32),
        (RNN, float, "ngram.input_table", &[18, 2], DType::I16),
        // INT8: layer 0's input product is the table; no embedding, no float tensors.
        (Arch::GRU, int8, "rnn.weight_ih_l0", &[6, 3], DType::I8),
        (Arch::GRU, int8, "rnn.mult_ih_l0", &[6], DType::I32),
        (Arch::GRU, int8, "rnn.shift_ih_l0", &[6], DType::I8),
        (Arch::GRU, int8, "rnn.bias_ih_l0", &[6], DType::I32),
        (LSTM, int8, "rnn.weight_ih_l0", &[8, 3], DType::I8),
        (RNN, int8, "rnn.bias_ih_l0", &[2], DType::I32),
        (Arch::GRU, int8, "embed.weight", &[6, 3], DType::F32),
        (Arch::GRU, int8, "rnn.weight_hh_l2", &[6, 2], DType::I8),
        (Arch::GRU, int8, "extra", &[1], DType::I8),
        (ARCHS[3], float, "rnn.weight_ih_l0", &[6, 3], DType::F32),
        (ARCHS[3], float, "hidden.weight_l1", &[2, 2], DType::F32),
        (ARCHS[3], float, "ngram.hidden_exp", &[1], DType::I8),
        (ARCHS[3], int8, "rnn.input_table", &[6, 2], DType::I16),
        (ARCHS[3], int8, "hidden.weight", &[2, 9], DType::F32),
        (ARCHS[3], int8, "embed.weight", &[6, 3], DType::F32),
        (ARCHS[4], int8, "rnn.weight_hh_l0", &[2, 2], DType::I8),
    ];
    for &(arch, weights, extra, shape, dtype) in cases {
        let h = hyper_of(arch, weights);
        let mut w = model_writer(h);
        w.add(
            extra,
            dtype,
            shape,
            &vec![0; dtype.byte_len(shape).unwrap()],
            0,
        )
        .unwrap();
        assert_eq!(
            w.to_bytes(),
            Err(FormatError::UnexpectedTensor {
                index: table_tensors(&h).len() as u16,
                name: name(extra)
            }),
            "{arch} {weights} {extra}"
        );
    }
}

#[test]
fn header_fields_select_the_table_when_reading() {
    let int8 = WeightsKind::Int8;
    // A GRU read as an RNN: 2 gate rows instead of 6.
    assert_eq!(
        mutate(&small_file(), |b| put_u32(b, header::ARCH, 2)),
        Err(FormatError::ShapeMismatch {
            name: name("rnn.weight_ih_l0"),
            expected: Shape::new(&[2, 3]),
            found: Shape::new(&[6, 3])
        })
    );
    // An n-gram's context sets the hidden layer's width and the input table's rows.
    let f = model_file(hyper_of(ARCHS[3], WeightsKind::Float));
    assert_eq!(
        mutate(&f, |b| put_u32(b, header::CONTEXT, 4)),
        Err(FormatError::ShapeMismatch {
            name: name("hidden.weight"),
            expected: Shape::new(&[2, 12]),
            found: Shape::new(&[2, 9])
        })
    );
    let f = model_file(hyper_of(ARCHS[3], int8));
    assert_eq!(
        mutate(&f, |b| put_u32(b, header::CONTEXT, 2)),
        Err(FormatError::ShapeMismatch {
            name: name("ngram.input_table"),
            expected: Shape::new(&[12, 2]),
            found: Shape::new(&[18, 2])
        })
    );
    // A recurrent file read as an n-gram, and the reverse.
    let gru = model_file(hyper_of(Arch::GRU, int8));
    assert_eq!(
        mutate(&gru, |b| {
            put_u32(b, header::ARCH, 3);
            put_u32(b, header::CONTEXT, 1);
            put_u32(b, header::ACTIVATION, 1);
            put_u32(b, header::NUM_LAYERS, 1);
        }),
        Err(FormatError::MissingTensor {
            name: name("ngram.input_table")
        })
    );
    assert_eq!(
        mutate(&f, |b| {
            put_u32(b, header::ARCH, 0);
            put_u32(b, header::CONTEXT, 0);
            put_u32(b, header::ACTIVATION, 0);
        }),
        Err(FormatError::MissingTensor {
            name: name("rnn.input_table")
        })
    );
    // num_layers: one more is missing tensors, one fewer leaves a layer over.
    assert_eq!(
        mutate(&gru, |b| put_u32(b, header::NUM_LAYERS, 3)),
        Err(FormatError::MissingTensor {
            name: name("rnn.weight_hh_l2")
        })
    );
    assert_eq!(
        mutate(&gru, |b| put_u32(b, header::NUM_LAYERS, 1)),
        Err(FormatError::UnexpectedTensor {
            index: 2,
            name: name("rnn.weight_hh_l1")
        })
    );
}

/// A GRU over "abc" with `specials`.
fn with_specials(specials: Specials) -> Hyper {
    Hyper {
        specials,
        vocab_size: specials.count() + 3,
        ..small_hyper()
    }
}

#[test]
fn specials_take_the_first_ids_in_canonical_order() {
    use Special::{Bos, Eos, Pad, Unk};
    let none = Specials::NONE;
    let cases: [(Specials, u32, &[Special], &str); 6] = [
        (none, 0, &[], "none"),
        (none.with(Unk), 8, &[Unk], "<UNK>=0"),
        (none.with(Unk).with(Pad), 9, &[Pad, Unk], "<PAD>=0 <UNK>=1"),
        (none.with(Bos), 2, &[Bos], "<BOS>=0"),
        (
            Specials::DEFAULT,
            7,
            &[Pad, Bos, Eos],
            "<PAD>=0 <BOS>=1 <EOS>=2",
        ),
        (
            none.with(Unk).with(Eos).with(Bos).with(Pad),
            15,
            &[Pad, Bos, Eos, Unk],
            "<PAD>=0 <BOS>=1 <EOS>=2 <UNK>=3",
        ),
    ];
    for (specials, bits, ids, shown) in cases {
        let h = with_specials(specials);
        let a = model_writer(h).to_aligned_bytes().unwrap();
        assert_eq!(get_u32(&a, header::SPECIALS), bits);
        let m = Model::parse(&a).unwrap();
        assert_eq!(m.hyper().specials, specials);
        assert_eq!(specials.to_string(), shown);
        let v = m.vocab();
        let first = ids.len() as u32;
        assert_eq!(v.specials(), specials);
        assert_eq!(v.first_char_id(), first);
        assert_eq!(v.len(), ids.len() + 3);
        assert_eq!(v.char_count(), 3);
        for (id, &s) in ids.iter().enumerate() {
            let id = id as u32;
            assert_eq!(v.token(id), Some(Token::Special(s)), "{shown}");
            assert_eq!(v.char_of(id), None);
            assert_eq!(specials.id(s), Some(id));
            assert_eq!(specials.special(id), Some(s));
        }
        for s in Special::ALL {
            assert_eq!(specials.contains(s), ids.contains(&s));
        }
        for (i, c) in ['a', 'b', 'c'].into_iter().enumerate() {
            let id = first + i as u32;
            assert_eq!(v.id_of(c), Some(id));
            assert_eq!(v.char_of(id), Some(c));
            assert_eq!(v.token(id), Some(Token::Char(c)));
        }
        assert_eq!(v.token(first + 3), None);
        assert_eq!(v.char_of(first + 3), None);
        assert_eq!(v.id_of('d'), None);
        let pos = |s| ids.iter().position(|&x| x == s).map(|p| p as u32);
        assert_eq!(v.bos(), pos(Bos));
        assert_eq!(v.eos(), pos(Eos));
    }
}

#[test]
fn specials_with_a_non_ascii_vocabulary() {
    let specials = Specials::NONE.with(Special::Pad).with(Special::Unk);
    let chars = ['\n', 'é', '€', '😀'];
    let h = Hyper {
        specials,
        vocab_size: 2 + chars.len() as u32,
        ..small_hyper()
    };
    let mut w = ModelWriter::new(h, &chars).unwrap();
    let donor = model_writer(Hyper {
        specials,
        vocab_size: h.vocab_size,
        ..small_hyper()
    })
    .to_aligned_bytes()
    .unwrap();
    for t in Model::parse(&donor).unwrap().tensors() {
        w.add(t.name(), t.dtype(), t.shape(), t.bytes(), t.frac_bits())
            .unwrap();
    }
    let a = w.to_aligned_bytes().unwrap();
    let v = Model::parse(&a).unwrap().vocab();
    assert_eq!(v.token(0), Some(Token::Special(Special::Pad)));
    assert_eq!(v.token(1), Some(Token::Special(Special::Unk)));
    for (i, &c) in chars.iter().enumerate() {
        assert_eq!(v.id_of(c), Some(2 + i as u32));
        assert_eq!(v.char_of(2 + i as u32), Some(c));
    }
    assert_eq!(v.id_of('a'), None);
    assert_eq!(v.char_of(6), None);
    assert_eq!((v.bos(), v.eos()), (None, None));
}

#[test]
fn vocab_size_counts_the_specials_and_at_least_one_character() {
    for specials in [
        Specials::NONE,
        Specials::NONE.with(Special::Unk),
        Specials::DEFAULT,
        Specials::DEFAULT.with(Special::Unk),
    ] {
        let min = specials.count() + 1;
        // One character is enough...
        let h = Hyper {
            specials,
            vocab_size: min,
            ..small_hyper()
        };
        assert!(model_writer(h).to_bytes().is_ok(), "{specials}");
        // ...none is not.
        let h = Hyper {
            vocab_size: min - 1,
            ..h
        };
        let e = FormatError::BadHyperparameter {
            field: "vocab_size",
            value: min - 1,
            min,
            max: 65535,
        };
        assert_eq!(ModelWriter::new(h, &[]).unwrap_err(), e);
        let f = model_file(with_specials(specials));
        assert_eq!(
            mutate(&f, |b| put_u32(b, header::VOCAB_SIZE, min - 1)),
            Err(e)
        );
    }
}

#[test]
fn ngram_has_exactly_one_layer() {
    let h = hyper_of(ARCHS[3], WeightsKind::Float);
    for layers in [0, 2, 4] {
        let e = FormatError::BadHyperparameter {
            field: "num_layers",
            value: layers,
            min: 1,
            max: 1,
        };
        let bad = Hyper {
            num_layers: layers,
            ..h
        };
        assert_eq!(ModelWriter::new(bad, &chars_for(&bad)).unwrap_err(), e);
        assert_eq!(
            mutate(&model_file(h), |b| put_u32(b, header::NUM_LAYERS, layers)),
            Err(e)
        );
    }
}

#[test]
fn ngram_context_is_1_to_32() {
    for context in [0, 33, 1000, u32::MAX] {
        let e = FormatError::BadHyperparameter {
            field: "context",
            value: context,
            min: 1,
            max: 32,
        };
        let h = hyper_of(ngram(context, Activation::Relu), WeightsKind::Int8);
        assert_eq!(ModelWriter::new(h, &chars_for(&h)).unwrap_err(), e);
        let f = model_file(hyper_of(ARCHS[3], WeightsKind::Int8));
        assert_eq!(mutate(&f, |b| put_u32(b, header::CONTEXT, context)), Err(e));
    }
    // Both ends are valid, and shape the tables.
    for context in [1, 32] {
        for weights in KINDS {
            let h = hyper_of(ngram(context, Activation::Tanh), weights);
            let a = model_writer(h).to_aligned_bytes().unwrap();
            let m = Model::parse(&a).unwrap();
            assert_eq!(m.hyper().arch.context(), context);
            let (n, shape) = match weights {
                WeightsKind::Float => ("hidden.weight", [2, 3 * context]),
                WeightsKind::Int8 | WeightsKind::Int4 => ("ngram.input_table", [6 * context, 2]),
            };
            assert_eq!(m.tensor(n).unwrap().shape(), shape);
        }
    }
    // num_layers is checked before the context.
    let h = Hyper {
        num_layers: 2,
        ..hyper_of(ngram(0, Activation::Relu), WeightsKind::Float)
    };
    assert!(matches!(
        h.validate(),
        Err(FormatError::BadHyperparameter {
            field: "num_layers",
            ..
        })
    ));
}

#[test]
fn ngram_needs_bos_and_nothing_else() {
    let specials = Specials::NONE.with(Special::Bos);
    for weights in KINDS {
        let h = Hyper {
            specials,
            vocab_size: 4,
            ..hyper_of(ARCHS[4], weights)
        };
        let a = model_writer(h).to_aligned_bytes().unwrap();
        let m = Model::parse(&a).unwrap();
        assert_eq!(m.vocab().bos(), Some(0));
        assert_eq!(m.vocab().id_of('a'), Some(1));
    }
}

#[test]
fn file_size_refuses_invalid_hyperparameters() {
    for h in [
        Hyper {
            num_layers: 0,
            ..small_hyper()
        },
        Hyper {
            num_layers: u32::MAX,
            ..small_hyper()
        },
        Hyper {
            hidden_dim: u32::MAX,
            ..small_hyper()
        },
        hyper_of(ngram(33, Activation::Relu), WeightsKind::Int8),
    ] {
        assert!(
            matches!(file_size(&h, 3), Err(FormatError::BadHyperparameter { .. })),
            "{h:?}"
        );
    }
}

fn arch_strategy() -> impl Strategy<Value = Arch> {
    prop_oneof![
        Just(Arch::GRU),
        Just(LSTM),
        Just(RNN),
        (1u32..=layout::CONTEXT_RANGE.1, any::<bool>()).prop_map(|(c, relu)| ngram(
            c,
            if relu {
                Activation::Relu
            } else {
                Activation::Tanh
            }
        )),
    ]
}

/// Characters of 1 to 4 UTF-8 bytes, so that vocab_bytes varies around the 64-byte padding.
const POOL: [char; 12] = [
    '\n', ' ', '0', 'A', 'a', 'z', 'ß', 'é', '€', '中', '😀', '🦜',
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// `file_size` is exactly the length of the file the writer writes (f32 float tensors;
    /// INT8 and INT4, factored or not), and the writer writes the lowest version that can
    /// express the file.
    #[test]
    fn file_size_is_the_written_size(
        arch in arch_strategy(),
        kind in 0usize..3,
        factored in any::<bool>(),
        bits in 0u32..16,
        pick in prop::collection::btree_set(0usize..POOL.len(), 1..=POOL.len()),
        embed_dim in 1u32..6,
        hidden_dim in 1u32..6,
        layers in 1u32..=4,
    ) {
        let mut specials = Specials::from_bits(bits).unwrap();
        let num_layers = match arch {
            Arch::Ngram { .. } => {
                specials = specials.with(Special::Bos);
                1
            }
            Arch::Recurrent(_) => layers,
        };
        let chars: Vec<char> = pick.iter().map(|&i| POOL[i]).collect();
        let h = Hyper {
            vocab_size: specials.count() + chars.len() as u32,
            embed_dim,
            hidden_dim,
            num_layers,
            records: false,
            weights: KINDS[kind],
            arch,
            specials,
            // Defined for quantized recurrent models only.
            factored: factored && kind > 0 && arch.cell().is_some(),
        };
        let mut w = ModelWriter::new(h, &chars).unwrap();
        let mut next = 0;
        for (n, dtype, shape) in table_tensors(&h) {
            w.add(&n, dtype, &shape, &fill(dtype, &shape, &mut next), 0).unwrap();
        }
        let bytes = w.to_bytes().unwrap();
        let vocab_bytes: usize = chars.iter().map(|c| c.len_utf8()).sum();
        prop_assert_eq!(file_size(&h, vocab_bytes).unwrap(), bytes.len());
        prop_assert_eq!(get_u32(&bytes, header::FILE_SIZE) as usize, bytes.len());
        let version = u16::from_le_bytes([bytes[header::VERSION], bytes[header::VERSION + 1]]);
        prop_assert_eq!(version, if h.factored || h.weights == WeightsKind::Int4 { 3 } else { 2 });
    }
}
