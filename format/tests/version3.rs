//! Format version 3: the `i4` dtype, the INT4 weights kind and the `FACTORED` flag, each
//! rule with its error, and SPEC.md's version-3 worked example byte for byte.

mod common;

use common::*;
use mynah_format::layout::{self, entry, header};
use mynah_format::{
    pack_i4, unpack_i4, AlignedBytes, Arch, Cell, DType, FormatError, Hyper, Model, ModelWriter,
    Specials, TensorName, WeightsKind,
};

fn name(s: &str) -> TensorName {
    TensorName::new(s)
}

/// SPEC.md's version-3 example: a factored INT4 tanh RNN over "a" (`<PAD>`, `<BOS>`,
/// `<EOS>`, so V = 4), E = 3, H = 2, one layer.
fn example_v3_hyper() -> Hyper {
    Hyper {
        vocab_size: 4,
        embed_dim: 3,
        hidden_dim: 2,
        num_layers: 1,
        records: false,
        weights: WeightsKind::Int4,
        arch: Arch::Recurrent(Cell::Rnn),
        specials: Specials::DEFAULT,
        factored: true,
    }
}

fn example_v3() -> ModelWriter {
    let mut w = ModelWriter::new(example_v3_hyper(), &['a']).unwrap();
    let embed = [0, 0, 0, 64, -64, 127, 1, 2, 3, -127, 0, 32];
    w.add_i8("rnn.embed", &[4, 3], &embed, 6).unwrap();
    w.add_i4("rnn.weight_hh_l0", &[2, 2], &[7, -7, 3, -1], 0)
        .unwrap();
    w.add_i32("rnn.mult_hh_l0", &[2], &[1 << 30, 3 << 29], 0)
        .unwrap();
    w.add_i8("rnn.shift_hh_l0", &[2], &[36, 37], 0).unwrap();
    w.add_i32("rnn.bias_hh_l0", &[2], &[65536, -32768], 16)
        .unwrap();
    w.add_i4("rnn.weight_ih_l0", &[2, 3], &[1, 2, 3, -1, -2, -3], 0)
        .unwrap();
    w.add_i32("rnn.mult_ih_l0", &[2], &[1 << 30, 1 << 30], 0)
        .unwrap();
    w.add_i8("rnn.shift_ih_l0", &[2], &[34, 35], 0).unwrap();
    w.add_i32("rnn.bias_ih_l0", &[2], &[0, 16384], 16).unwrap();
    w.add_i4("proj.weight", &[4, 2], &[1, -1, 2, -2, 4, -4, 7, -7], 0)
        .unwrap();
    w.add_i32("proj.mult", &[4], &[1 << 30; 4], 0).unwrap();
    w.add_i8("proj.shift", &[4], &[40; 4], 0).unwrap();
    w.add_i32("proj.bias", &[4], &[0, 1, -1, 65536], 16)
        .unwrap();
    w
}

const GOLDEN_V3: &str = include_str!("golden/example-v3.hex");

#[test]
fn writer_output_matches_the_version_3_golden_bytes() {
    let bytes = example_v3().to_bytes().unwrap();
    let golden = decode_hex(GOLDEN_V3);
    for (i, (a, b)) in bytes.iter().zip(&golden).enumerate() {
        assert_eq!(a, b, "first difference at byte {i} (0x{i:x})");
    }
    assert_eq!(bytes.len(), golden.len());
}

#[test]
fn version_3_golden_bytes_parse_to_the_example() {
    let a = AlignedBytes::copy_from(&decode_hex(GOLDEN_V3));
    let m = Model::parse(&a).unwrap();
    assert_eq!(m.version(), 3);
    assert_eq!(m.hyper(), example_v3_hyper());
    assert_eq!(get_u32(&a, header::FLAGS), layout::FLAG_FACTORED);
    assert_eq!(get_u32(&a, header::WEIGHTS_KIND), 2);
    assert_eq!(
        mynah_format::file_size(&example_v3_hyper(), 1).unwrap(),
        m.file_size()
    );
    let w = m.require("rnn.weight_ih_l0").unwrap();
    assert_eq!(
        (w.dtype(), w.shape(), w.numel()),
        (DType::I4, &[2, 3][..], 6)
    );
    // Rows of 3 nibbles take 2 bytes each, the last high nibble padding.
    assert_eq!(w.packed_i4s().unwrap(), &[0x21, 0x03, 0xef, 0x0d]);
    let row1: Vec<i8> = w.packed_i4s().unwrap()[2..]
        .iter()
        .flat_map(|&b| <[i8; 2]>::from(unpack_i4(b)))
        .collect();
    assert_eq!(row1, [-1, -2, -3, 0]);
    assert_eq!(m.require("rnn.embed").unwrap().frac_bits(), 6);
    assert_eq!(
        m.require("proj.weight").unwrap().packed_i4s().unwrap(),
        &[0xf1, 0xe2, 0xc4, 0x97]
    );
}

/// The first code block after `heading` in SPEC.md.
fn spec_block(heading: &str) -> &'static str {
    let spec = include_str!("../SPEC.md");
    let section = spec
        .split(heading)
        .nth(1)
        .unwrap_or_else(|| panic!("SPEC.md has no {heading:?}"));
    section.split("```").nth(1).expect("a code block")
}

#[test]
fn spec_shows_the_version_3_golden_bytes() {
    assert_eq!(
        decode_hex(spec_block("## Worked example in version 3")),
        decode_hex(GOLDEN_V3),
        "SPEC.md's version-3 hex dump differs from golden/example-v3.hex"
    );
}

/// Writes the version-3 example to `$MYNAH_GOLDEN_OUT` (raw bytes) after an intentional
/// format change: `MYNAH_GOLDEN_OUT=/tmp/x cargo test -p mynah-format --test version3 --
/// --ignored`.
#[test]
#[ignore = "regenerates the golden file; run only after an intentional format change"]
fn regenerate() {
    let path = std::env::var_os("MYNAH_GOLDEN_OUT").expect("set MYNAH_GOLDEN_OUT");
    example_v3()
        .write_atomic(std::path::Path::new(&path))
        .unwrap();
}

#[test]
fn nibbles_pack_low_first_and_sign_extend() {
    for b in 0..=255u8 {
        let (lo, hi) = unpack_i4(b);
        assert!((-8..=7).contains(&lo) && (-8..=7).contains(&hi));
        assert_eq!(pack_i4(&[lo, hi], 2), [b]);
    }
    assert_eq!(unpack_i4(0x8f), (-1, -8));
    // Rows are padded to whole bytes: 3 columns take 2 bytes per row.
    assert_eq!(pack_i4(&[1, 2, 3, 4, 5, 6], 3), [0x21, 0x03, 0x54, 0x06]);
    assert_eq!(DType::I4.byte_len(&[2, 3]), Some(4));
    assert_eq!(DType::I4.byte_len(&[5, 4, 1]), Some(20));
    assert_eq!(DType::I4.byte_len(&[7]), Some(4));
    assert_eq!(DType::I8.byte_len(&[2, 3]), Some(6));
    assert_eq!(DType::I4.byte_len(&[u32::MAX, u32::MAX, u32::MAX]), None);
}

/// An INT8 GRU file (version 2) and the same with the `FACTORED` flag, INT4 weights.
fn int8_gru() -> Vec<u8> {
    model_file(hyper_of(Arch::GRU, WeightsKind::Int8))
}

#[test]
fn the_new_codes_exist_from_version_3_only() {
    let v2 = int8_gru();
    assert_eq!(&v2[header::VERSION..header::VERSION + 2], [2, 0]);
    let v3 = |b: &mut Vec<u8>| put_u16(b, header::VERSION, 3);
    // Weights kind 2 (INT4): unknown in version 2, the INT4 table in version 3.
    assert_eq!(
        mutate(&v2, |b| put_u32(b, header::WEIGHTS_KIND, 2)),
        Err(FormatError::UnknownWeightsKind { found: 2 })
    );
    assert_eq!(
        mutate(&v2, |b| {
            v3(b);
            put_u32(b, header::WEIGHTS_KIND, 2);
        }),
        Err(FormatError::WrongTensorDType {
            name: name("rnn.weight_hh_l0"),
            found: DType::I8
        })
    );
    // Flag bit 1 (FACTORED): unknown in version 2, the factored table in version 3.
    assert_eq!(
        mutate(&v2, |b| put_u32(b, header::FLAGS, 2)),
        Err(FormatError::UnknownFlags { flags: 2 })
    );
    assert_eq!(
        mutate(&v2, |b| {
            v3(b);
            put_u32(b, header::FLAGS, 2);
        }),
        Err(FormatError::MissingTensor {
            name: name("rnn.embed")
        })
    );
    for flags in [4, 0x8000_0000] {
        assert_eq!(
            mutate(&v2, |b| {
                v3(b);
                put_u32(b, header::FLAGS, flags);
            }),
            Err(FormatError::UnknownFlags { flags })
        );
    }
    // Any version-2 file relabelled version 3 stays valid: version 3 only adds codes.
    assert_eq!(mutate(&v2, v3), Ok(()));
    // Weights kind 3 is unknown in every version.
    assert_eq!(
        mutate(&v2, |b| {
            v3(b);
            put_u32(b, header::WEIGHTS_KIND, 3);
        }),
        Err(FormatError::UnknownWeightsKind { found: 3 })
    );
}

#[test]
fn dtype_i4_exists_from_version_3_only() {
    // A container with one i4 tensor [2, 4] (4 bytes): version 3, and refused as
    // version 2 (`UnknownDType`), the code being read before anything else of the entry.
    let h = hyper_of(Arch::GRU, WeightsKind::Int8);
    let mut w = ModelWriter::new(h, &chars_for(&h)).unwrap();
    w.add_i4("x", &[2, 4], &[1, 2, 3, 4, -1, -2, -3, -4], 0)
        .unwrap();
    assert_eq!(w.version(), 3);
    let b = w.to_container_bytes().unwrap();
    assert_eq!(parse_container(&b), Ok(()));
    let mut v2 = b.clone();
    put_u16(&mut v2, header::VERSION, 2);
    fix_crc(&mut v2);
    assert_eq!(
        parse_container(&v2),
        Err(FormatError::UnknownDType { index: 0, found: 6 })
    );
    // Codes past 6 are unknown in version 3 too.
    let dtype_at = entry_at(&b, 0) + entry::DTYPE;
    assert_eq!(
        mutate(&b, |b| b[dtype_at] = 7),
        Err(FormatError::UnknownDType { index: 0, found: 7 })
    );
}

#[test]
fn i4_byte_length_is_rows_of_whole_bytes() {
    let h = hyper_of(Arch::GRU, WeightsKind::Int8);
    let mut w = ModelWriter::new(h, &chars_for(&h)).unwrap();
    // [3, 3] i4 takes 3 rows of 2 bytes; 5 (the packed nibbles without padding) is wrong.
    assert_eq!(
        w.add("x", DType::I4, &[3, 3], &[0; 5], 0),
        Err(FormatError::ByteLengthMismatch {
            index: 0,
            expected: 6,
            found: 5
        })
    );
    w.add("x", DType::I4, &[3, 3], &[0; 6], 0).unwrap();
    let b = w.to_container_bytes().unwrap();
    // The reader checks the stored length by the same rule.
    assert_eq!(
        mutate(&b, |b| put_entry_u32(b, 0, entry::BYTE_LEN, 5)),
        Err(FormatError::ByteLengthMismatch {
            index: 0,
            expected: 6,
            found: 5
        })
    );
}

#[test]
fn padding_nibbles_must_be_zero() {
    let h = hyper_of(Arch::GRU, WeightsKind::Int8);
    let mut w = ModelWriter::new(h, &chars_for(&h)).unwrap();
    w.add_i4("x", &[2, 3], &[1, 2, 3, 4, 5, 6], 0).unwrap();
    let b = w.to_container_bytes().unwrap();
    let a = AlignedBytes::copy_from(&b);
    let at = Model::parse_container(&a)
        .unwrap()
        .tensor("x")
        .unwrap()
        .file_offset();
    // Rows [0x21, 0x03] and [0x54, 0x06]: the high nibbles of bytes 1 and 3 are padding.
    for (byte, value) in [(1, 0x13), (3, 0xf6)] {
        assert_eq!(
            mutate(&b, |b| b[at + byte] = value),
            Err(FormatError::NonZeroPaddingNibble {
                index: 0,
                offset: at + byte
            })
        );
    }
    // The low nibbles are data: any value is fine.
    let mut low = b.clone();
    low[at + 1] = 0x0f;
    fix_crc(&mut low);
    assert_eq!(parse_container(&low), Ok(()));
    // Even rows have no padding nibble.
    let mut w = ModelWriter::new(h, &chars_for(&h)).unwrap();
    w.add("y", DType::I4, &[2, 2], &[0xff, 0xff], 0).unwrap();
    assert!(w.to_container_bytes().is_ok());
    // The writer refuses raw bytes with a set padding nibble (it parses what it writes).
    let mut w = ModelWriter::new(h, &chars_for(&h)).unwrap();
    w.add("z", DType::I4, &[1, 3], &[0x00, 0x10], 0).unwrap();
    assert!(matches!(
        w.to_container_bytes(),
        Err(FormatError::NonZeroPaddingNibble { index: 0, .. })
    ));
}

#[test]
fn the_writer_refuses_values_outside_i4() {
    let h = hyper_of(Arch::GRU, WeightsKind::Int8);
    let mut w = ModelWriter::new(h, &chars_for(&h)).unwrap();
    for value in [8, -9, i8::MIN, i8::MAX] {
        assert_eq!(
            w.add_i4("x", &[2], &[0, value], 0),
            Err(FormatError::I4OutOfRange { index: 0, value })
        );
    }
    assert!(matches!(
        w.add_i4("x", &[3], &[0, 1], 0),
        Err(FormatError::ByteLengthMismatch { index: 0, .. })
    ));
    w.add_i4("x", &[2], &[-8, 7], 0).unwrap();
}

#[test]
fn factored_is_for_quantized_recurrent_models_only() {
    let refused = [
        hyper_of(Arch::GRU, WeightsKind::Float),
        hyper_of(ngram(3, mynah_format::Activation::Relu), WeightsKind::Int8),
        hyper_of(ngram(2, mynah_format::Activation::Tanh), WeightsKind::Int4),
    ];
    for h in refused {
        let e = FormatError::FactoredUnsupported {
            arch: h.arch,
            weights: h.weights,
        };
        let f = Hyper {
            factored: true,
            ..h
        };
        assert_eq!(f.validate(), Err(e), "{h:?}");
        assert_eq!(ModelWriter::new(f, &chars_for(&f)).unwrap_err(), e);
        assert_eq!(mynah_format::file_size(&f, 3), Err(e));
        // The reader: the flag set on a version-3 file of that kind.
        let b = model_file(h);
        let r = mutate(&b, |b| {
            put_u16(b, header::VERSION, 3);
            put_u32(b, header::FLAGS, layout::FLAG_FACTORED);
        });
        assert_eq!(r, Err(e), "{h:?}");
        assert!(e.to_string().contains("FACTORED"), "{e}");
    }
}

#[test]
fn the_factored_and_int4_tables() {
    for cell in Cell::ALL {
        let arch = Arch::Recurrent(cell);
        let g = cell.gates() * 2;
        for weights in [WeightsKind::Int8, WeightsKind::Int4] {
            let wd = weights.weight_dtype().unwrap();
            let table = hyper_of(arch, weights);
            let factored = Hyper {
                factored: true,
                ..table
            };
            let t = table_tensors(&factored);
            // The embedding (i8, [V, E]) instead of the token table; layer 0 has its input
            // product as a matrix over the embedding ([G·H, E]).
            assert_eq!(t[0], ("rnn.embed".into(), DType::I8, vec![6, 3]));
            assert!(t.iter().all(|(n, _, _)| n != "rnn.input_table"));
            assert!(t.contains(&("rnn.weight_ih_l0".into(), wd, vec![g, 3])));
            assert!(t.contains(&("rnn.weight_ih_l1".into(), wd, vec![g, 2])));
            assert!(t.contains(&("rnn.mult_ih_l0".into(), DType::I32, vec![g])));
            assert!(t.contains(&("proj.weight".into(), wd, vec![6, 2])));
            assert_eq!(t.len(), 1 + 4 * 2 * 2 + 4);
            // Each table refuses the other's input tensors.
            let mut w = model_writer(factored);
            w.add_i16("rnn.input_table", &[6, g], &vec![0; 6 * g as usize], 0)
                .unwrap();
            assert_eq!(
                w.to_bytes(),
                Err(FormatError::UnexpectedTensor {
                    index: t.len() as u16,
                    name: name("rnn.input_table")
                })
            );
            let mut w = model_writer(table);
            w.add_i8("rnn.embed", &[6, 3], &[0; 18], 0).unwrap();
            assert!(matches!(
                w.to_bytes(),
                Err(FormatError::UnexpectedTensor { .. })
            ));
            // The embedding is i8 whatever the weights.
            assert_eq!(
                writer_with(factored, "", Some(("rnn.embed", &[6, 3], DType::I4))).to_bytes(),
                Err(FormatError::WrongTensorDType {
                    name: name("rnn.embed"),
                    found: DType::I4
                })
            );
        }
    }
    // INT4 weights are i4 only, INT8 weights i8 only.
    let h = hyper_of(Arch::GRU, WeightsKind::Int4);
    assert_eq!(
        writer_with(h, "", Some(("proj.weight", &[6, 2], DType::I8))).to_bytes(),
        Err(FormatError::WrongTensorDType {
            name: name("proj.weight"),
            found: DType::I8
        })
    );
    let h = hyper_of(Arch::GRU, WeightsKind::Int8);
    assert_eq!(
        writer_with(h, "", Some(("proj.weight", &[6, 2], DType::I4))).to_bytes(),
        Err(FormatError::WrongTensorDType {
            name: name("proj.weight"),
            found: DType::I4
        })
    );
}

#[test]
fn int4_halves_the_weights() {
    // The 1x128 GRU over 68 tokens: the INT4 file's weight matrices take half the bytes,
    // and the factored file has no token table.
    let h = Hyper {
        vocab_size: 68,
        embed_dim: 32,
        hidden_dim: 128,
        num_layers: 1,
        records: false,
        weights: WeightsKind::Int8,
        arch: Arch::GRU,
        specials: Specials::DEFAULT,
        factored: false,
    };
    let size = |weights, factored| {
        mynah_format::file_size(
            &Hyper {
                weights,
                factored,
                ..h
            },
            65,
        )
        .unwrap()
    };
    let int8 = size(WeightsKind::Int8, false);
    let int4 = size(WeightsKind::Int4, false);
    assert_eq!(int8 - int4, (384 * 128 + 68 * 128) / 2);
    // Factored: the token table (52 224 bytes, one entry) out; the embedding, W_ih0 and
    // its multipliers, shifts and biases (five entries) in.
    let table = 68 * 384 * 2 + 64;
    let factored = 68 * 32 + 384 * 32 + 384 * 4 + 384 + 384 * 4 + 5 * 64;
    assert_eq!(size(WeightsKind::Int8, true), int8 - table + factored);
}
