//! Helpers shared by the format tests: small valid models and field patching.
#![allow(dead_code)]

use mynah_format::layout::{self, entry, header};
use mynah_format::{
    crc32, tensor_name, AlignedBytes, FormatError, Hyper, Model, ModelWriter, WeightsKind,
};

/// Hyperparameters of a small two-layer float model over "abc".
pub fn small_hyper() -> Hyper {
    Hyper {
        vocab_size: 6,
        embed_dim: 3,
        hidden_dim: 2,
        num_layers: 2,
        records: false,
        weights: WeightsKind::Float,
    }
}

/// Hyperparameters of the smallest float model: one character, all widths 1.
pub fn tiny_hyper() -> Hyper {
    Hyper {
        vocab_size: 4,
        embed_dim: 1,
        hidden_dim: 1,
        num_layers: 1,
        records: false,
        weights: WeightsKind::Float,
    }
}

/// `vocab_size - 3` sorted characters starting at 'a'.
pub fn chars_for(h: &Hyper) -> Vec<char> {
    (0..h.vocab_size - 3)
        .map(|i| char::from_u32('a' as u32 + i).unwrap())
        .collect()
}

/// A writer holding every float tensor for `h`, with distinct deterministic values.
pub fn float_writer(h: Hyper) -> ModelWriter {
    let mut w = ModelWriter::new(h, &chars_for(&h)).unwrap();
    let mut next = 0.0f32;
    for spec in layout::FLOAT_TENSORS {
        let layers = if spec.per_layer { h.num_layers } else { 1 };
        for k in 0..layers {
            let shape = h.shape_of(spec, k);
            let n: u32 = shape.dims().iter().product();
            let data: Vec<f32> = (0..n)
                .map(|_| {
                    next += 0.25;
                    next
                })
                .collect();
            w.add_f32(&tensor_name(spec, k), shape.dims(), &data)
                .unwrap();
        }
    }
    w
}

/// A valid small two-layer float model file.
pub fn small_file() -> Vec<u8> {
    float_writer(small_hyper()).to_bytes().unwrap()
}

/// The smallest valid float model file.
pub fn tiny_file() -> Vec<u8> {
    float_writer(tiny_hyper()).to_bytes().unwrap()
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
