//! One exact-bytes test: the smallest float model, written byte for byte as SPEC.md's
//! worked example shows it.

use mynah_format::half::f16;
use mynah_format::{AlignedBytes, Hyper, Model, ModelWriter, WeightsKind};

/// The example model of SPEC.md: vocabulary "a", all widths 1, trained on records.
fn example() -> ModelWriter {
    let hyper = Hyper {
        vocab_size: 4,
        embed_dim: 1,
        hidden_dim: 1,
        num_layers: 1,
        records: true,
        weights: WeightsKind::Float,
    };
    let mut w = ModelWriter::new(hyper, &['a']).unwrap();
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

/// The expected file: `offset: hex` lines of 16 bytes; `*N` stands for N all-zero lines.
const GOLDEN: &str = include_str!("golden/example.hex");

fn decode(hex: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for line in hex
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        if let Some(n) = line.strip_prefix('*') {
            out.extend(std::iter::repeat_n(0u8, 16 * n.parse::<usize>().unwrap()));
            continue;
        }
        let (offset, hex) = line.split_once(':').unwrap();
        assert_eq!(
            usize::from_str_radix(offset, 16).unwrap(),
            out.len(),
            "{line}"
        );
        let digits: Vec<u8> = hex.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        for pair in digits.chunks(2) {
            out.push(u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap());
        }
    }
    out
}

#[test]
fn writer_output_matches_golden_bytes() {
    let bytes = example().to_bytes().unwrap();
    let golden = decode(GOLDEN);
    if bytes != golden {
        for (i, (a, b)) in bytes.iter().zip(&golden).enumerate() {
            assert_eq!(a, b, "first difference at byte {i} (0x{i:x})");
        }
        assert_eq!(bytes.len(), golden.len(), "length differs");
    }
}

#[test]
fn golden_bytes_parse_to_the_example() {
    let a = AlignedBytes::copy_from(&decode(GOLDEN));
    let m = Model::parse(&a).unwrap();
    assert_eq!(m.file_size(), 972);
    assert_eq!(
        m.checksum(),
        u32::from_le_bytes(a[968..972].try_into().unwrap())
    );
    assert!(m.hyper().records);
    assert_eq!(m.vocab().as_str(), "a");
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

/// Writes the example to `$MYNAH_GOLDEN_OUT` (raw bytes) after an intentional format
/// change: `MYNAH_GOLDEN_OUT=/tmp/x cargo test -p mynah-format --test golden -- --ignored`.
#[test]
#[ignore = "regenerates the golden file; run only after an intentional format change"]
fn regenerate() {
    let path = std::env::var_os("MYNAH_GOLDEN_OUT").expect("set MYNAH_GOLDEN_OUT");
    example().write_atomic(std::path::Path::new(&path)).unwrap();
}

#[test]
fn spec_shows_the_golden_bytes() {
    let spec = include_str!("../SPEC.md");
    let example = spec
        .split("## Worked example")
        .nth(1)
        .expect("SPEC.md has a worked example");
    let block = example.split("```").nth(1).expect("a code block");
    assert_eq!(
        decode(block),
        decode(GOLDEN),
        "SPEC.md's hex dump differs from golden/example.hex"
    );
}

#[test]
fn checksum_is_the_standard_crc32() {
    // The CRC-32/ISO-HDLC check value that SPEC.md quotes.
    assert_eq!(mynah_format::crc32(b"123456789"), 0xcbf4_3926);
}
