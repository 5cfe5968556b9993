//! Exact-bytes tests: the smallest float model, written byte for byte as SPEC.md's worked
//! example shows it (version 2), and the same model as format version 1 wrote it, which
//! must keep loading.

mod common;

use common::{decode_hex, get_u32, to_v1, v1_example, GOLDEN, GOLDEN_V1};
use mynah_format::half::f16;
use mynah_format::layout::{self, header};
use mynah_format::{AlignedBytes, Arch, Hyper, Model, ModelWriter, Specials, WeightsKind};

/// The hyperparameters of SPEC.md's example: vocabulary "a", all widths 1, trained on
/// records, a GRU with `<PAD>`, `<BOS>`, `<EOS>`.
fn example_hyper() -> Hyper {
    Hyper {
        vocab_size: 4,
        embed_dim: 1,
        hidden_dim: 1,
        num_layers: 1,
        records: true,
        weights: WeightsKind::Float,
        arch: Arch::GRU,
        specials: Specials::DEFAULT,
        factored: false,
    }
}

/// The example model of SPEC.md.
fn example() -> ModelWriter {
    let mut w = ModelWriter::new(example_hyper(), &['a']).unwrap();
    w.add_f32("embed.weight", &[4, 1], &[0.0, 0.5, -0.5, 1.0])
        .unwrap();
    w.add_f32("rnn.weight_ih_l0", &[3, 1], &[1.0, 2.0, 3.0])
        .unwrap();
    w.add_f32("rnn.weight_hh_l0", &[3, 1], &[-1.0, -2.0, -3.0])
        .unwrap();
    w.add_f32("rnn.bias_ih_l0", &[3], &[0.25; 3]).unwrap();
    w.add_f32("rnn.bias_hh_l0", &[3], &[-0.25; 3]).unwrap();
    w.add_f32("proj.weight", &[4, 1], &[2.0, 4.0, 8.0, 16.0])
        .unwrap();
    let bias = [1.0f32, 0.5, -1.0, -2.0].map(f16::from_f32);
    w.add_f16("proj.bias", &[4], &bias).unwrap();
    w
}

fn assert_same_bytes(bytes: &[u8], golden: &[u8]) {
    if bytes != golden {
        for (i, (a, b)) in bytes.iter().zip(golden).enumerate() {
            assert_eq!(a, b, "first difference at byte {i} (0x{i:x})");
        }
        assert_eq!(bytes.len(), golden.len(), "length differs");
    }
}

#[test]
fn writer_output_matches_golden_bytes() {
    assert_same_bytes(&example().to_bytes().unwrap(), &decode_hex(GOLDEN));
}

#[test]
fn golden_bytes_parse_to_the_example() {
    let a = AlignedBytes::copy_from(&decode_hex(GOLDEN));
    let m = Model::parse(&a).unwrap();
    assert_eq!(m.version(), 2);
    assert_eq!(m.file_size(), 1036);
    assert_eq!(
        mynah_format::file_size(&example_hyper(), 1).unwrap(),
        // The example's proj.bias is f16, 8 bytes shorter than file_size's f32 estimate,
        // but it is the last tensor and the CRC follows it directly.
        1036 + 8
    );
    assert_eq!(
        m.checksum(),
        u32::from_le_bytes(a[1032..1036].try_into().unwrap())
    );
    assert_eq!(m.checksum(), 0xb5f8_2cae);
    assert_eq!(m.hyper(), example_hyper());
    assert_eq!(m.vocab().as_str(), "a");
    assert_eq!(m.vocab().id_of('a'), Some(3));
    assert_eq!(
        m.require("embed.weight").unwrap().f32s().unwrap(),
        &[0.0, 0.5, -0.5, 1.0]
    );
    let bias: Vec<f32> = m
        .require("proj.bias")
        .unwrap()
        .f16s()
        .unwrap()
        .iter()
        .map(|h| h.to_f32())
        .collect();
    assert_eq!(bias, [1.0, 0.5, -1.0, -2.0]);
}

#[test]
fn version_1_golden_bytes_still_parse_as_the_same_model() {
    let v1 = AlignedBytes::copy_from(&v1_example());
    let old = Model::parse(&v1).unwrap();
    let v2 = AlignedBytes::copy_from(&decode_hex(GOLDEN));
    let new = Model::parse(&v2).unwrap();
    assert_eq!(old.version(), 1);
    assert_eq!(get_u32(&v1, header::VOCAB_OFFSET), 64);
    assert_eq!(old.file_size(), 972);
    assert_eq!(old.checksum(), 0x68f8_22af);
    // A GRU with <PAD> = 0, <BOS> = 1, <EOS> = 2: the same hyperparameters as version 2.
    assert_eq!(old.hyper().arch, Arch::GRU);
    assert_eq!(old.hyper().specials, Specials::DEFAULT);
    assert_eq!(old.hyper(), new.hyper());
    let (vo, vn) = (old.vocab(), new.vocab());
    assert_eq!(vo, vn);
    assert_eq!(
        (vo.bos(), vo.eos(), vo.first_char_id()),
        (Some(1), Some(2), 3)
    );
    assert_eq!(old.tensor_count(), new.tensor_count());
    for (a, b) in old.tensors().zip(new.tensors()) {
        assert_eq!(
            (a.name(), a.dtype(), a.shape(), a.bytes(), a.frac_bits()),
            (b.name(), b.dtype(), b.shape(), b.bytes(), b.frac_bits())
        );
        // The 64 header bytes that version 2 added move every section.
        assert_eq!(a.file_offset() + 64, b.file_offset());
    }
}

#[test]
fn version_1_golden_is_the_v2_example_without_the_v2_fields() {
    // `to_v1` (the tests' version-1 converter) agrees with the bytes version 1 wrote.
    assert_same_bytes(&to_v1(&decode_hex(GOLDEN)), &v1_example());
}

/// Writes the example to `$MYNAH_GOLDEN_OUT` (raw bytes) after an intentional format
/// change: `MYNAH_GOLDEN_OUT=/tmp/x cargo test -p mynah-format --test golden -- --ignored`.
#[test]
#[ignore = "regenerates the golden file; run only after an intentional format change"]
fn regenerate() {
    let path = std::env::var_os("MYNAH_GOLDEN_OUT").expect("set MYNAH_GOLDEN_OUT");
    example().write_atomic(std::path::Path::new(&path)).unwrap();
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
fn spec_shows_the_golden_bytes() {
    assert_eq!(
        decode_hex(spec_block("## Worked example")),
        decode_hex(GOLDEN),
        "SPEC.md's hex dump differs from golden/example.hex"
    );
    assert_eq!(
        decode_hex(spec_block("## Appendix: the worked example in version 1")),
        decode_hex(GOLDEN_V1),
        "SPEC.md's version-1 hex dump differs from golden/example-v1.hex"
    );
}

#[test]
fn spec_states_the_layout_constants() {
    // The header table of SPEC.md names the same offsets as `layout::header`.
    let spec = include_str!("../SPEC.md");
    for (offset, field) in [
        (header::ARCH, "arch"),
        (header::SPECIALS, "specials"),
        (header::CONTEXT, "context"),
        (header::ACTIVATION, "activation"),
    ] {
        let row = format!("| {offset} | `u32` | {field} |");
        assert!(spec.contains(&row), "SPEC.md lacks the row {row:?}");
    }
    let reserved = format!(
        "| {} | `[u8; {}]` | reserved |",
        header::RESERVED,
        layout::HEADER_SIZE - header::RESERVED
    );
    assert!(spec.contains(&reserved), "SPEC.md lacks {reserved:?}");
}

#[test]
fn checksum_is_the_standard_crc32() {
    // The CRC-32/ISO-HDLC check value that SPEC.md quotes.
    assert_eq!(mynah_format::crc32(b"123456789"), 0xcbf4_3926);
}
