//! Hostile input: arbitrary bytes, every truncation, every bit flip, and structural
//! mutations that carry a valid CRC. `parse` must reject (or accept) without panicking.

mod common;

use common::*;
use mynah_format::layout::{self, header};
use mynah_format::{Activation, AlignedBytes, Arch, Cell, Hyper, Model, Token, WeightsKind};
use proptest::prelude::*;

/// Touches everything a valid model hands out, so that a bad "valid" file would panic here.
fn exercise(bytes: &[u8]) -> bool {
    let a = AlignedBytes::copy_from(bytes);
    let Ok(m) = Model::parse_container(&a) else {
        return false;
    };
    let v = m.vocab();
    let first = v.first_char_id();
    assert_eq!(first, m.hyper().specials.count());
    for id in 0..first {
        assert!(matches!(v.token(id), Some(Token::Special(_))));
        assert_eq!(v.char_of(id), None);
    }
    for (i, c) in v.chars().enumerate() {
        assert_eq!(v.id_of(c), Some(first + i as u32));
        assert_eq!(v.char_of(first + i as u32), Some(c));
    }
    assert_eq!(v.len(), m.hyper().vocab_size as usize);
    let mut total = 0usize;
    for t in m.tensors() {
        assert!(t.file_offset() + t.bytes().len() <= m.file_size() - 4);
        assert_eq!(t.dtype().byte_len(t.shape()), Some(t.bytes().len()));
        total += t.f32s().map_or(0, <[f32]>::len)
            + t.f16s().map_or(0, <[_]>::len)
            + t.i8s().map_or(0, <[i8]>::len)
            + t.i16s().map_or(0, <[i16]>::len)
            + t.i32s().map_or(0, <[i32]>::len)
            + t.packed_i4s().map_or(0, <[u8]>::len);
        assert!(m.tensor(t.name()).is_some());
    }
    assert_eq!(m.tensors().count(), m.tensor_count());
    let _ = total;
    let _ = m.check_tensors();
    true
}

/// Tiny files of every architecture and weights kind (two layers for the recurrent ones,
/// so that INT8 files have layer-1 input tensors).
fn tiny_files() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for arch in ARCHS {
        for h in hypers_of(arch) {
            let h = Hyper {
                vocab_size: 4,
                embed_dim: 1,
                hidden_dim: 1,
                ..h
            };
            let factored = if h.factored { " factored" } else { "" };
            out.push((format!("{arch} {}{factored}", h.weights), model_file(h)));
        }
    }
    out
}

#[test]
fn every_truncation_is_rejected() {
    let mut files = vec![
        ("tiny".to_string(), tiny_file()),
        ("small".to_string(), small_file()),
        ("version 1 example".to_string(), v1_example()),
        ("version 1 small".to_string(), to_v1(&small_file())),
    ];
    files.extend(tiny_files());
    for (what, file) in files {
        for len in 0..file.len() {
            let r = parse(&file[..len]);
            assert!(
                r.is_err(),
                "{what}: accepted a file truncated to {len} bytes"
            );
        }
        assert!(parse(&file).is_ok(), "{what}");
    }
}

fn assert_every_bit_flip_is_rejected(what: &str, file: &[u8]) {
    let mut b = AlignedBytes::copy_from(file);
    for byte in 0..file.len() {
        for bit in 0..8 {
            b.as_mut_bytes()[byte] ^= 1 << bit;
            assert!(
                Model::parse(&b).is_err(),
                "{what}: accepted a flip of bit {bit} in byte {byte}"
            );
            b.as_mut_bytes()[byte] ^= 1 << bit;
        }
    }
    assert!(Model::parse(&b).is_ok(), "{what}");
}

#[test]
fn every_single_bit_flip_is_rejected() {
    let file = tiny_file();
    // 128-byte header + "a", padded to 192; 7 entries; 400 data bytes; CRC.
    assert_eq!(file.len(), 192 + 7 * 64 + 400 + 4);
    assert_every_bit_flip_is_rejected("tiny", &file);
}

#[test]
fn every_single_bit_flip_of_a_version_1_file_is_rejected() {
    let file = v1_example();
    assert_eq!(file.len(), 972);
    assert_every_bit_flip_is_rejected("version 1 example", &file);
}

#[test]
fn every_single_bit_flip_of_every_architecture_is_rejected() {
    for (what, file) in tiny_files() {
        assert_every_bit_flip_is_rejected(&what, &file);
    }
}

/// The header and directory positions at which a one-byte change with a recomputed CRC
/// still gives a valid model.
fn accepted_byte_changes(file: &[u8]) -> Vec<usize> {
    let data = get_u32(file, header::DATA_OFFSET) as usize;
    let mut accepted = Vec::new();
    for at in 0..data {
        for v in [0u8, 1, 2, 0x3f, 0x40, 0x7f, 0x80, 0xff] {
            if file[at] == v {
                continue;
            }
            let mut b = file.to_vec();
            b[at] = v;
            fix_crc(&mut b);
            if exercise(&b) && parse(&b).is_ok() {
                accepted.push(at);
            }
        }
    }
    accepted
}

#[test]
fn every_single_byte_change_in_the_header_and_directory_with_a_valid_crc_is_handled() {
    // Structure-only damage: every position before the data, every one of a few values.
    // Only meaningful edits survive: the RECORDS flag and vocabulary characters that stay
    // sorted ("abc" right after the header). The INT8 and LSTM/RNN/n-gram tables differ
    // from the GRU's float table, so neither the weights kind nor the architecture can
    // change, and no version-2 field or reserved byte can.
    let vocab = |b: &[u8]| {
        let at = get_u32(b, header::VOCAB_OFFSET) as usize;
        at..at + 3
    };
    for file in [small_file(), to_v1(&small_file())] {
        for at in accepted_byte_changes(&file) {
            assert!(
                at == header::FLAGS || vocab(&file).contains(&at),
                "accepted a change at byte {at}"
            );
        }
    }
    // An n-gram's activation may switch (relu and tanh have the same tensors); nothing
    // else of the version-2 fields may change. No INT8 tensor depends on embed_dim (the
    // embedding is folded into the input table), so INT8 files record it unchecked.
    let embed_dim = header::EMBED_DIM..header::EMBED_DIM + 4;
    // The fixed-point scale of integer tensors is the quantizer's business: the format
    // only bounds it (-31..=31), so its low byte may change.
    let frac_bits = |b: &[u8], at: usize| {
        let dir = get_u32(b, header::DIR_OFFSET) as usize;
        at >= dir && (at - dir) % layout::DIR_ENTRY_SIZE == layout::entry::FRAC_BITS
    };
    for weights in KINDS {
        let file = model_file(hyper_of(ngram(2, Activation::Tanh), weights));
        let accepted = accepted_byte_changes(&file);
        assert!(accepted.contains(&header::ACTIVATION), "{accepted:?}");
        assert_eq!(
            accepted.contains(&header::EMBED_DIM),
            weights.is_quantized()
        );
        for at in accepted {
            assert!(
                at == header::FLAGS
                    || at == header::ACTIVATION
                    || (embed_dim.contains(&at) && weights.is_quantized())
                    || (frac_bits(&file, at) && weights.is_quantized())
                    || vocab(&file).contains(&at),
                "n-gram {weights}: accepted a change at byte {at}"
            );
        }
    }
    // LSTM and RNN models cannot become each other or a GRU.
    for cell in [Cell::Lstm, Cell::Rnn] {
        let file = model_file(hyper_of(Arch::Recurrent(cell), WeightsKind::Int8));
        for at in accepted_byte_changes(&file) {
            assert!(
                at == header::FLAGS
                    || embed_dim.contains(&at)
                    || frac_bits(&file, at)
                    || vocab(&file).contains(&at),
                "{cell}: accepted a change at byte {at}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = parse(&bytes);
        let _ = exercise(&bytes);
    }

    /// Random bytes behind a plausible header get past the magic and version checks.
    #[test]
    fn arbitrary_bytes_behind_a_valid_prefix_never_panic(
        tail in prop::collection::vec(any::<u8>(), 0..1500),
        keep in 0usize..200,
    ) {
        let file = small_file();
        let keep = keep.min(file.len());
        let mut b = file[..keep].to_vec();
        b.extend_from_slice(&tail);
        if b.len() >= 64 {
            let n = b.len() as u32;
            put_u32(&mut b, header::FILE_SIZE, n);
            fix_crc(&mut b);
        }
        let _ = exercise(&b);
    }

    /// Random field corruption of the header and directory with a recomputed CRC.
    #[test]
    fn mutated_files_with_valid_crc_never_panic(
        edits in prop::collection::vec((0usize..1600, any::<u32>(), 0u8..3), 1..6),
        small in any::<bool>(),
    ) {
        let file = if small { small_file() } else { model_file(hyper_of(ngram(3, Activation::Relu), WeightsKind::Int8)) };
        let data = get_u32(&file, header::DATA_OFFSET) as usize;
        let mut b = file.clone();
        for (at, v, width) in edits {
            // Mostly aligned fields in the header and directory, sometimes anywhere.
            let at = if at < 1200 { (at % data) & !3 } else { at % b.len() };
            match width {
                0 => b[at] = v as u8,
                1 if at + 2 <= b.len() => put_u16(&mut b, at, v as u16),
                _ if at + 4 <= b.len() => put_u32(&mut b, at, v),
                _ => b[at] = v as u8,
            }
        }
        fix_crc(&mut b);
        let _ = exercise(&b);
        let _ = parse(&b);
    }

    /// Directory entries overwritten with random fields (valid CRC) never panic and are
    /// only accepted when they describe a real, in-bounds, non-overlapping tensor.
    #[test]
    fn random_directory_entries_never_panic(
        index in 0usize..11,
        dtype in 0u8..7,
        rank in 0u8..6,
        dims in prop::array::uniform4(prop::sample::select(vec![0u32, 1, 2, 3, 6, 64, 1 << 16, u32::MAX])),
        offset in prop::sample::select(vec![0u32, 4, 64, 128, 640, 704, 768, u32::MAX - 63]),
        len in prop::sample::select(vec![0u32, 4, 12, 24, 72, 1 << 20, u32::MAX]),
    ) {
        let file = small_file();
        let mut b = file.clone();
        let e = entry_at(&b, index);
        b[e + layout::entry::DTYPE] = dtype;
        b[e + layout::entry::RANK] = rank;
        for (d, v) in dims.iter().enumerate() {
            put_u32(&mut b, e + layout::entry::DIMS + 4 * d, *v);
        }
        put_u32(&mut b, e + layout::entry::OFFSET, offset);
        put_u32(&mut b, e + layout::entry::BYTE_LEN, len);
        fix_crc(&mut b);
        let _ = exercise(&b);
        let _ = parse(&b);
    }
}
