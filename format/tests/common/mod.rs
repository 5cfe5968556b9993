//! Helpers shared by the format tests: small valid models of every architecture, version-1
//! files, the golden hex files and field patching.
#![allow(dead_code)]

use mynah_format::layout::{self, entry, header};
use mynah_format::{
    crc32, tensor_name, Activation, AlignedBytes, Arch, Cell, DType, FormatError, Hyper, Model,
    ModelWriter, Specials, WeightsKind,
};

/// Hyperparameters of a small two-layer float GRU over "abc".
pub fn small_hyper() -> Hyper {
    Hyper {
        vocab_size: 6,
        embed_dim: 3,
        hidden_dim: 2,
        num_layers: 2,
        records: false,
        weights: WeightsKind::Float,
        arch: Arch::GRU,
        specials: Specials::DEFAULT,
        factored: false,
    }
}

/// Hyperparameters of the smallest float GRU: one character, all widths 1.
pub fn tiny_hyper() -> Hyper {
    Hyper {
        vocab_size: 4,
        embed_dim: 1,
        hidden_dim: 1,
        num_layers: 1,
        records: false,
        weights: WeightsKind::Float,
        arch: Arch::GRU,
        specials: Specials::DEFAULT,
        factored: false,
    }
}

/// The n-gram MLP with `context` and `activation`.
pub const fn ngram(context: u32, activation: Activation) -> Arch {
    Arch::Ngram {
        context,
        activation,
    }
}

/// Every architecture (the n-gram with both activations).
pub const ARCHS: [Arch; 5] = [
    Arch::GRU,
    Arch::Recurrent(Cell::Lstm),
    Arch::Recurrent(Cell::Rnn),
    ngram(3, Activation::Relu),
    ngram(2, Activation::Tanh),
];

/// Every weights kind.
pub const KINDS: [WeightsKind; 3] = [WeightsKind::Float, WeightsKind::Int8, WeightsKind::Int4];

/// [`small_hyper`] as `arch` with `weights` (one layer for the n-gram).
pub fn hyper_of(arch: Arch, weights: WeightsKind) -> Hyper {
    let num_layers = match arch {
        Arch::Recurrent(_) => 2,
        Arch::Ngram { .. } => 1,
    };
    Hyper {
        arch,
        weights,
        num_layers,
        ..small_hyper()
    }
}

/// [`hyper_of`] for every weights kind, and for quantized recurrent models also with the
/// `FACTORED` flag: every tensor table `arch` has.
pub fn hypers_of(arch: Arch) -> Vec<Hyper> {
    let mut out = Vec::new();
    for weights in KINDS {
        let h = hyper_of(arch, weights);
        out.push(h);
        if weights.is_quantized() && arch.cell().is_some() {
            out.push(Hyper {
                factored: true,
                ..h
            });
        }
    }
    out
}

/// `vocab_size` minus the specials sorted characters starting at 'a'.
pub fn chars_for(h: &Hyper) -> Vec<char> {
    (0..h.vocab_size - h.specials.count())
        .map(|i| char::from_u32('a' as u32 + i).unwrap())
        .collect()
}

/// A tensor of `dtype` and `shape` as little-endian bytes, its elements distinct and
/// deterministic: floats count up from `*next` in steps of 0.25, integers wrap around their
/// range (`i4` elements cycle through -8..=7, packed with zero padding nibbles).
pub fn fill(dtype: DType, shape: &[u32], next: &mut u32) -> Vec<u8> {
    let n = shape.iter().product::<u32>() as usize;
    let mut out = Vec::with_capacity(dtype.byte_len(shape).unwrap());
    let mut nibbles = Vec::new();
    for _ in 0..n {
        *next += 1;
        let v = *next;
        match dtype {
            DType::F32 => out.extend_from_slice(&(v as f32 * 0.25).to_le_bytes()),
            DType::F16 => out.extend_from_slice(
                &mynah_format::half::f16::from_f32(v as f32 * 0.25).to_le_bytes(),
            ),
            DType::I8 => out.push((v as i8).wrapping_mul(37).to_le_bytes()[0]),
            DType::I16 => out.extend_from_slice(&(v as i16).wrapping_mul(999).to_le_bytes()),
            DType::I32 => out.extend_from_slice(&(v as i32).wrapping_mul(123_457).to_le_bytes()),
            DType::I4 => nibbles.push((v.wrapping_mul(7) % 16) as i8 - 8),
        }
    }
    if dtype == DType::I4 {
        out = mynah_format::pack_i4(&nibbles, *shape.last().unwrap() as usize);
    }
    out
}

/// The names, dtypes (the first allowed) and shapes of the tensors `h`'s table expands to,
/// in table order (each spec for layers 0, 1, …).
pub fn table_tensors(h: &Hyper) -> Vec<(String, DType, Vec<u32>)> {
    let mut out = Vec::new();
    for spec in h.table().specs {
        for k in 0..h.num_layers {
            if spec.layers.has(k, h.num_layers) {
                out.push((
                    tensor_name(spec, k),
                    spec.dtypes[0],
                    h.shape_of(spec, k).dims().to_vec(),
                ));
            }
        }
    }
    out
}

/// A writer holding every tensor of `h`'s table (architecture and weights kind), each of
/// its first allowed dtype, with distinct deterministic values.
pub fn model_writer(h: Hyper) -> ModelWriter {
    let mut w = ModelWriter::new(h, &chars_for(&h)).unwrap();
    let mut next = 0;
    for (name, dtype, shape) in table_tensors(&h) {
        let data = fill(dtype, &shape, &mut next);
        w.add(&name, dtype, &shape, &data, 0).unwrap();
    }
    w
}

/// [`model_writer`] (the name the float tests use).
pub fn float_writer(h: Hyper) -> ModelWriter {
    model_writer(h)
}

/// A valid file of `h`.
pub fn model_file(h: Hyper) -> Vec<u8> {
    model_writer(h).to_bytes().unwrap()
}

/// A valid small two-layer float GRU file.
pub fn small_file() -> Vec<u8> {
    model_file(small_hyper())
}

/// The smallest valid float GRU file.
pub fn tiny_file() -> Vec<u8> {
    model_file(tiny_hyper())
}

/// A writer for `h` (all of its table) that skips the tensor `skip` and stores
/// `(name, shape, dtype)` (zeros) in place of the tensor `name`.
pub fn writer_with(h: Hyper, skip: &str, replace: Option<(&str, &[u32], DType)>) -> ModelWriter {
    let full = model_writer(h).to_aligned_bytes().unwrap();
    let m = Model::parse(&full).unwrap();
    let mut w = ModelWriter::new(h, &chars_for(&h)).unwrap();
    for t in m.tensors() {
        if t.name() == skip {
            continue;
        }
        match replace {
            Some((n, shape, dtype)) if n == t.name() => {
                let data = vec![0u8; dtype.byte_len(shape).unwrap()];
                w.add(t.name(), dtype, shape, &data, 0).unwrap();
            }
            _ => w
                .add(t.name(), t.dtype(), t.shape(), t.bytes(), t.frac_bits())
                .unwrap(),
        }
    }
    w
}

/// The version-1 file holding what the version-2 GRU file `v2` holds: the 64 bytes of
/// version-2 fields removed, version 1, header_size 64, every section 64 bytes earlier
/// (tensor offsets count from the data section and stay), the CRC recomputed.
pub fn to_v1(v2: &[u8]) -> Vec<u8> {
    assert_eq!(get_u32(v2, header::ARCH), 0, "version 1 has only GRUs");
    assert_eq!(get_u32(v2, header::SPECIALS), Specials::DEFAULT.bits());
    let shift = (layout::HEADER_SIZE - layout::HEADER_SIZE_V1) as u32;
    let mut b = v2[..layout::HEADER_SIZE_V1].to_vec();
    b.extend_from_slice(&v2[layout::HEADER_SIZE..]);
    put_u16(&mut b, header::VERSION, 1);
    put_u16(&mut b, header::HEADER_SIZE, layout::HEADER_SIZE_V1 as u16);
    for at in [
        header::VOCAB_OFFSET,
        header::DIR_OFFSET,
        header::DATA_OFFSET,
        header::FILE_SIZE,
    ] {
        let v = get_u32(&b, at);
        put_u32(&mut b, at, v - shift);
    }
    fix_crc(&mut b);
    b
}

/// Decodes a golden hex file: `offset: hex` lines of 16 bytes (the offset is checked),
/// `*N` for N all-zero lines, `#` comments and blank lines ignored.
pub fn decode_hex(hex: &str) -> Vec<u8> {
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
        assert!(digits.len() <= 32, "more than 16 bytes: {line}");
        for pair in digits.chunks(2) {
            out.push(u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap());
        }
    }
    out
}

/// SPEC.md's worked example, version 2 (`golden/example.hex`).
pub const GOLDEN: &str = include_str!("../golden/example.hex");
/// The same model as a version-1 file (`golden/example-v1.hex`, SPEC.md's appendix).
pub const GOLDEN_V1: &str = include_str!("../golden/example-v1.hex");

/// The bytes of `golden/example-v1.hex`: a file written by format version 1.
pub fn v1_example() -> Vec<u8> {
    decode_hex(GOLDEN_V1)
}

/// Parses `bytes` from a 64-byte aligned copy (test vectors are plain `Vec<u8>`s).
pub fn parse(bytes: &[u8]) -> Result<(), FormatError> {
    let a = AlignedBytes::copy_from(bytes);
    Model::parse(&a).map(|_| ())
}

/// Like [`parse`] but with [`Model::parse_container`].
pub fn parse_container(bytes: &[u8]) -> Result<(), FormatError> {
    let a = AlignedBytes::copy_from(bytes);
    Model::parse_container(&a).map(|_| ())
}

pub fn get_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

pub fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

pub fn put_u16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

/// Rewrites the CRC trailer so that the file passes the checksum (using its declared size
/// if that fits, else the buffer length).
pub fn fix_crc(b: &mut [u8]) {
    let declared = get_u32(b, header::FILE_SIZE) as usize;
    let end = if declared >= 4 && declared <= b.len() {
        declared
    } else {
        b.len()
    };
    let crc = crc32(&b[..end - 4]);
    b[end - 4..end].copy_from_slice(&crc.to_le_bytes());
}

/// File offset of directory entry `i`.
pub fn entry_at(b: &[u8], i: usize) -> usize {
    get_u32(b, header::DIR_OFFSET) as usize + i * layout::DIR_ENTRY_SIZE
}

/// Applies `f` to `file`, recomputes the CRC and parses.
pub fn mutate(file: &[u8], f: impl FnOnce(&mut Vec<u8>)) -> Result<(), FormatError> {
    let mut b = file.to_vec();
    f(&mut b);
    fix_crc(&mut b);
    parse(&b)
}

/// Sets field `field` (an `entry::*` offset) of entry `i` to `v`.
pub fn put_entry_u32(b: &mut [u8], i: usize, field: usize, v: u32) {
    let at = entry_at(b, i) + field;
    put_u32(b, at, v);
}

/// Index of the tensor called `name` in `file`.
pub fn index_of(file: &[u8], name: &str) -> usize {
    let a = AlignedBytes::copy_from(file);
    let m = Model::parse_container(&a).unwrap();
    let i = m.tensors().position(|t| t.name() == name).unwrap();
    i
}

pub const NAME: usize = entry::NAME;
