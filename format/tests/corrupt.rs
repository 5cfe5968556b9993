//! Hostile input: arbitrary bytes, every truncation, every bit flip, and structural
//! mutations that carry a valid CRC. `parse` must reject (or accept) without panicking.

mod common;

use common::*;
use mynah_format::layout::{self, header};
use mynah_format::{AlignedBytes, Model};
use proptest::prelude::*;

/// Touches everything a valid model hands out, so that a bad "valid" file would panic here.
fn exercise(bytes: &[u8]) -> bool {
    let a = AlignedBytes::copy_from(bytes);
    let Ok(m) = Model::parse_container(&a) else {
        return false;
    };
    let v = m.vocab();
    for (i, c) in v.chars().enumerate() {
        assert_eq!(v.id_of(c), Some(3 + i as u32));
        assert_eq!(v.char_of(3 + i as u32), Some(c));
    }
    let mut total = 0usize;
    for t in m.tensors() {
        assert!(t.file_offset() + t.bytes().len() <= m.file_size() - 4);
        assert_eq!(t.numel() * t.dtype().size(), t.bytes().len());
        total += t.f32s().map_or(0, <[f32]>::len)
            + t.f16s().map_or(0, <[_]>::len)
            + t.i8s().map_or(0, <[i8]>::len)
            + t.i16s().map_or(0, <[i16]>::len)
            + t.i32s().map_or(0, <[i32]>::len);
        assert!(m.tensor(t.name()).is_some());
    }
    assert_eq!(m.tensors().count(), m.tensor_count());
    let _ = total;
    let _ = m.check_tensors();
    true
}

#[test]
fn every_truncation_is_rejected() {
    for file in [tiny_file(), small_file()] {
        for len in 0..file.len() {
            let r = parse(&file[..len]);
            assert!(r.is_err(), "accepted a file truncated to {len} bytes");
        }
        assert!(parse(&file).is_ok());
    }
}

#[test]
fn every_single_bit_flip_is_rejected() {
    let file = tiny_file();
    assert_eq!(file.len(), 980);
    let mut b = AlignedBytes::copy_from(&file);
    for byte in 0..file.len() {
        for bit in 0..8 {
            b.as_mut_bytes()[byte] ^= 1 << bit;
            assert!(
                Model::parse(&b).is_err(),
                "accepted a flip of bit {bit} in byte {byte}"
            );
            b.as_mut_bytes()[byte] ^= 1 << bit;
        }
    }
    assert!(Model::parse(&b).is_ok());
}

#[test]
fn every_single_byte_change_in_the_header_and_directory_with_a_valid_crc_is_handled() {
    // Structure-only damage: every position before the data, every one of a few values.
    let file = small_file();
    let data = get_u32(&file, header::DATA_OFFSET) as usize;
    let mut accepted = Vec::new();
    for at in 0..data {
        for v in [0u8, 1, 0x3f, 0x40, 0x7f, 0x80, 0xff] {
            if file[at] == v {
                continue;
            }
            let mut b = file.clone();
            b[at] = v;
            fix_crc(&mut b);
            if exercise(&b) && parse(&b).is_ok() {
                accepted.push(at);
            }
        }
    }
    // Only meaningful edits survive: the RECORDS flag, FLOAT -> INT8 (whose table is
    // still open), and vocabulary characters that stay sorted ("abc" at 64..67).
    for at in &accepted {
        assert!(
            matches!(at, &header::FLAGS | &header::WEIGHTS_KIND | 64..=66),
            "accepted a change at byte {at}"
        );
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
        let file = if small { small_file() } else { tiny_file() };
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
