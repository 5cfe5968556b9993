//! Round trips through the writer and the reader.

mod common;

use common::*;
use mynah_format::half::f16;
use mynah_format::layout::{self, header};
use mynah_format::{
    read_aligned, AlignedBytes, DType, FormatError, Hyper, MappedModel, Model, ModelWriter,
    OpenError, Special, Token, WeightsKind,
};
use proptest::prelude::*;

const SHAPES: [&[u32]; 4] = [&[5], &[3, 2], &[2, 1, 3], &[2, 2, 1, 2]];

/// A container file (not a valid model) holding one tensor of each dtype and rank.
fn every_dtype_writer() -> ModelWriter {
    let h = Hyper {
        weights: WeightsKind::Int8,
        ..small_hyper()
    };
    let mut w = ModelWriter::new(h, &chars_for(&h)).unwrap();
    for (r, shape) in SHAPES.iter().enumerate() {
        let n: u32 = shape.iter().product();
        let n = n as i32;
        let frac = r as i32 + 1;
        let f: Vec<f32> = (0..n).map(|i| i as f32 * -1.5 + 0.125).collect();
        let g: Vec<f16> = (0..n)
            .map(|i| f16::from_f32(i as f32 * 0.5 - 1.0))
            .collect();
        let i8s: Vec<i8> = (0..n).map(|i| (i * 37 - 128) as i8).collect();
        let i16s: Vec<i16> = (0..n).map(|i| (i * 9999 - 32768) as i16).collect();
        let i32s: Vec<i32> = (0..n).map(|i| i * 123_456_789 - i32::MAX).collect();
        w.add_f32(&format!("t.f32.r{}", r + 1), shape, &f).unwrap();
        w.add_f16(&format!("t.f16.r{}", r + 1), shape, &g).unwrap();
        w.add_i8(&format!("t.i8.r{}", r + 1), shape, &i8s, frac)
            .unwrap();
        w.add_i16(&format!("t.i16.r{}", r + 1), shape, &i16s, -frac)
            .unwrap();
        w.add_i32(&format!("t.i32.r{}", r + 1), shape, &i32s, 31)
            .unwrap();
    }
    w
}

#[test]
fn every_dtype_and_rank_round_trips() {
    let bytes = AlignedBytes::copy_from(&every_dtype_writer().to_container_bytes().unwrap());
    let m = Model::parse_container(&bytes).unwrap();
    assert_eq!(m.tensor_count(), 20);
    for (r, shape) in SHAPES.iter().enumerate() {
        let n: u32 = shape.iter().product();
        let n = n as i32;
        let get = |dt: &str| m.tensor(&format!("t.{dt}.r{}", r + 1)).unwrap();
        for dt in ["f32", "f16", "i8", "i16", "i32"] {
            let t = get(dt);
            assert_eq!(t.shape(), *shape, "{dt}");
            assert_eq!(t.numel(), n as usize);
            assert_eq!(t.bytes().len(), t.numel() * t.dtype().size());
            assert_eq!(t.file_offset() % 64, 0);
        }
        let f: Vec<f32> = (0..n).map(|i| i as f32 * -1.5 + 0.125).collect();
        assert_eq!(get("f32").f32s().unwrap(), &f[..]);
        assert_eq!(get("f32").frac_bits(), 0);
        let g: Vec<f16> = (0..n)
            .map(|i| f16::from_f32(i as f32 * 0.5 - 1.0))
            .collect();
        assert_eq!(get("f16").f16s().unwrap(), &g[..]);
        let i8s: Vec<i8> = (0..n).map(|i| (i * 37 - 128) as i8).collect();
        assert_eq!(get("i8").i8s().unwrap(), &i8s[..]);
        assert_eq!(get("i8").frac_bits(), r as i32 + 1);
        let i16s: Vec<i16> = (0..n).map(|i| (i * 9999 - 32768) as i16).collect();
        assert_eq!(get("i16").i16s().unwrap(), &i16s[..]);
        assert_eq!(get("i16").frac_bits(), -(r as i32) - 1);
        let i32s: Vec<i32> = (0..n).map(|i| i * 123_456_789 - i32::MAX).collect();
        assert_eq!(get("i32").i32s().unwrap(), &i32s[..]);
        assert_eq!(get("i32").frac_bits(), 31);
        assert_eq!(get("i32").dtype(), DType::I32);
    }
    // A typed view of the wrong dtype is refused.
    assert_eq!(
        m.tensor("t.i8.r1").unwrap().f32s(),
        Err(FormatError::DTypeMismatch {
            requested: DType::F32,
            found: DType::I8
        })
    );
}

#[test]
fn float_model_round_trips_with_full_validation() {
    let h = small_hyper();
    let bytes = float_writer(h).to_aligned_bytes().unwrap();
    let m = Model::parse(&bytes).unwrap();
    assert_eq!(m.hyper(), h);
    assert_eq!(m.version(), 2); // the lowest version that expresses a float file
    assert_eq!(m.file_size(), bytes.len());
    assert_eq!(m.checksum(), get_u32(&bytes, bytes.len() - 4));
    assert_eq!(m.tensor_count(), 1 + 4 * 2 + 2);
    let names: Vec<&str> = m.tensors().map(|t| t.name()).collect();
    assert_eq!(
        names,
        [
            "embed.weight",
            "rnn.weight_ih_l0",
            "rnn.weight_ih_l1",
            "rnn.weight_hh_l0",
            "rnn.weight_hh_l1",
            "rnn.bias_ih_l0",
            "rnn.bias_ih_l1",
            "rnn.bias_hh_l0",
            "rnn.bias_hh_l1",
            "proj.weight",
            "proj.bias",
        ]
    );
    assert_eq!(m.require("rnn.weight_ih_l0").unwrap().shape(), &[6, 3]);
    assert_eq!(m.require("rnn.weight_ih_l1").unwrap().shape(), &[6, 2]);
    assert_eq!(m.require("proj.weight").unwrap().shape(), &[6, 2]);
    assert_eq!(
        m.require("embed.weight").unwrap().f32s().unwrap()[..3],
        [0.25, 0.5, 0.75]
    );
    assert!(matches!(
        m.require("nope"),
        Err(FormatError::MissingTensor { .. })
    ));
    assert!(m.tensor("nope").is_none());
}

#[test]
fn canonical_layout_is_packed_and_zero_padded() {
    let b = small_file();
    let dir = get_u32(&b, header::DIR_OFFSET) as usize;
    let data = get_u32(&b, header::DATA_OFFSET) as usize;
    // align64(128-byte header + "abc").
    assert_eq!(dir, 192);
    assert_eq!(
        get_u32(&b, header::VOCAB_OFFSET) as usize,
        layout::HEADER_SIZE
    );
    assert_eq!(&b[128..131], b"abc");
    assert!(b[128 + 3..dir].iter().all(|&x| x == 0), "vocab padding");
    assert!(b[header::RESERVED..128].iter().all(|&x| x == 0), "reserved");
    let a = AlignedBytes::copy_from(&b);
    let m = Model::parse(&a).unwrap();
    let mut expected = data;
    for t in m.tensors() {
        assert_eq!(t.file_offset(), expected, "{}", t.name());
        let end = t.file_offset() + t.bytes().len();
        // The data section ends right after the last tensor: no padding before the CRC.
        let next = (end.div_ceil(64) * 64).min(b.len() - 4);
        assert!(
            b[end..next].iter().all(|&x| x == 0),
            "padding after {}",
            t.name()
        );
        expected = next;
    }
    assert_eq!(expected, b.len() - 4);
    assert_eq!(get_u32(&b, header::DATA_BYTES) as usize + data + 4, b.len());
}

#[test]
fn records_flag_round_trips() {
    let h = Hyper {
        records: true,
        ..small_hyper()
    };
    let a = float_writer(h).to_aligned_bytes().unwrap();
    assert_eq!(get_u32(&a, header::FLAGS), 1);
    assert!(Model::parse(&a).unwrap().hyper().records);
}

#[test]
fn f16_float_models_are_valid() {
    let h = tiny_hyper();
    let mut w = ModelWriter::new(h, &['x']).unwrap();
    for spec in h.table().specs {
        let shape = h.shape_of(spec, 0);
        let n = shape.dims().iter().product::<u32>() as usize;
        w.add_f16(
            &mynah_format::tensor_name(spec, 0),
            shape.dims(),
            &vec![f16::ONE; n],
        )
        .unwrap();
    }
    let a = w.to_aligned_bytes().unwrap();
    let m = Model::parse(&a).unwrap();
    assert_eq!(
        m.require("proj.bias").unwrap().f16s().unwrap(),
        &[f16::ONE; 4]
    );
}

#[test]
fn vocab_ids_follow_sorted_order() {
    let chars = ['\n', ' ', 'A', 'a', 'é', '€', '😀'];
    let h = Hyper {
        vocab_size: 3 + chars.len() as u32,
        ..small_hyper()
    };
    let a = {
        let mut w = ModelWriter::new(h, &chars).unwrap();
        let donor = float_writer(Hyper {
            vocab_size: h.vocab_size,
            ..small_hyper()
        });
        let donor = donor.to_aligned_bytes().unwrap();
        for t in Model::parse(&donor).unwrap().tensors() {
            w.add(t.name(), t.dtype(), t.shape(), t.bytes(), t.frac_bits())
                .unwrap();
        }
        w.to_aligned_bytes().unwrap()
    };
    let m = Model::parse(&a).unwrap();
    let v = m.vocab();
    assert_eq!(v.len(), h.vocab_size as usize);
    assert_eq!(v.char_count(), chars.len());
    assert!(!v.is_empty());
    assert_eq!(v.as_str(), "\n Aaé€😀");
    assert_eq!(v.chars().collect::<Vec<_>>(), chars);
    let first = v.first_char_id();
    assert_eq!(first, 3);
    for (i, &c) in chars.iter().enumerate() {
        assert_eq!(v.id_of(c), Some(first + i as u32));
        assert_eq!(v.char_of(first + i as u32), Some(c));
        assert_eq!(v.token(first + i as u32), Some(Token::Char(c)));
    }
    assert_eq!(v.id_of('b'), None);
    for (id, special) in [(0, Special::Pad), (1, Special::Bos), (2, Special::Eos)] {
        assert_eq!(v.char_of(id), None);
        assert_eq!(v.token(id), Some(Token::Special(special)));
    }
    assert_eq!((v.bos(), v.eos()), (Some(1), Some(2)));
    assert_eq!(v.char_of(first + chars.len() as u32), None);
    assert_eq!(v.token(first + chars.len() as u32), None);
    assert_eq!(v.char_of(u32::MAX), None);
}

#[test]
fn ascii_vocab_lookups() {
    let a = AlignedBytes::copy_from(&small_file());
    let v = Model::parse(&a).unwrap().vocab();
    assert_eq!(v.as_str(), "abc");
    assert_eq!(v.id_of('a'), Some(3));
    assert_eq!(v.id_of('c'), Some(5));
    assert_eq!(v.id_of('d'), None);
    assert_eq!(v.id_of('é'), None);
    assert_eq!(v.char_of(4), Some('b'));
    assert_eq!(v.char_of(6), None);
}

#[test]
fn mapped_and_read_aligned_agree_with_parse() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.mynah");
    let w = float_writer(small_hyper());
    w.write_atomic(&path).unwrap();
    let expected = w.to_bytes().unwrap();
    let mapped = MappedModel::open(&path).unwrap();
    assert_eq!(mapped.bytes(), &expected[..]);
    assert_eq!(mapped.model().hyper(), small_hyper());
    assert_eq!(mapped.model().tensor_count(), 11);
    let read = read_aligned(&path).unwrap();
    assert_eq!(&read[..], &expected[..]);
    assert_eq!(read.model().unwrap().checksum(), mapped.model().checksum());
    // Only the target is left in the directory: no temporary files.
    let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(entries.len(), 1);
}

#[test]
fn open_errors_name_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.mynah");
    let e = MappedModel::open(&missing).unwrap_err();
    assert!(matches!(e, OpenError::Io { .. }));
    assert_eq!(e.path(), missing);
    assert!(e.to_string().contains("missing.mynah"), "{e}");

    let bad = dir.path().join("bad.mynah");
    let mut b = small_file();
    b[200] ^= 1;
    std::fs::write(&bad, &b).unwrap();
    let e = MappedModel::open(&bad).unwrap_err();
    assert!(matches!(
        e.format_error(),
        Some(FormatError::ChecksumMismatch { .. })
    ));
    assert!(
        e.to_string().contains("bad.mynah") && e.to_string().contains("checksum"),
        "{e}"
    );

    let empty = dir.path().join("empty.mynah");
    std::fs::write(&empty, b"").unwrap();
    let e = MappedModel::open(&empty).unwrap_err();
    assert!(e.to_string().contains("empty.mynah"), "{e}");
}

#[test]
fn write_atomic_replaces_and_never_half_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.mynah");
    float_writer(tiny_hyper()).write_atomic(&path).unwrap();
    let first = std::fs::read(&path).unwrap();
    float_writer(small_hyper()).write_atomic(&path).unwrap();
    let second = std::fs::read(&path).unwrap();
    assert_ne!(first, second);
    assert_eq!(second, small_file());

    // An invalid model is refused before anything touches the target.
    let incomplete = ModelWriter::new(tiny_hyper(), &['a']).unwrap();
    let e = incomplete.write_atomic(&path).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
    assert_eq!(std::fs::read(&path).unwrap(), second);

    // A missing directory is an error, not a panic.
    let nowhere = dir.path().join("no/such/dir/m.mynah");
    assert!(float_writer(tiny_hyper()).write_atomic(&nowhere).is_err());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

fn dtype_strategy() -> impl Strategy<Value = DType> {
    prop::sample::select(DType::ALL.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any set of tensors round trips bit-exactly through a container file.
    #[test]
    fn arbitrary_tensors_round_trip(
        tensors in prop::collection::vec(
            (dtype_strategy(), prop::collection::vec(1u32..4, 1..=4), any::<u64>(), -31i32..=31),
            1..12,
        )
    ) {
        let h = Hyper { weights: WeightsKind::Int8, ..small_hyper() };
        let mut w = ModelWriter::new(h, &chars_for(&h)).unwrap();
        let mut expected = Vec::new();
        for (i, (dtype, shape, seed, frac)) in tensors.iter().enumerate() {
            let len = dtype.byte_len(shape).unwrap();
            let mut data: Vec<u8> = (0..len).map(|j| (seed.wrapping_mul(j as u64 + 1) >> 13) as u8).collect();
            if *dtype == DType::F32 {
                // Keep floats finite and bit-exact comparable.
                for c in data.chunks_mut(4) { c[3] &= 0x3f; }
            }
            let cols = *shape.last().unwrap() as usize;
            if *dtype == DType::I4 && cols % 2 == 1 {
                // The padding nibble of every row is zero.
                for row in data.chunks_mut(cols.div_ceil(2)) { *row.last_mut().unwrap() &= 0x0F; }
            }
            let frac = if dtype.is_float() { 0 } else { *frac };
            let name = format!("x{i}");
            w.add(&name, *dtype, shape, &data, frac).unwrap();
            expected.push((name, *dtype, shape.clone(), data, frac));
        }
        let a = AlignedBytes::copy_from(&w.to_container_bytes().unwrap());
        let m = Model::parse_container(&a).unwrap();
        prop_assert_eq!(m.tensor_count(), expected.len());
        for (t, (name, dtype, shape, data, frac)) in m.tensors().zip(&expected) {
            prop_assert_eq!(t.name(), name.as_str());
            prop_assert_eq!(t.dtype(), *dtype);
            prop_assert_eq!(t.shape(), &shape[..]);
            prop_assert_eq!(t.bytes(), &data[..]);
            prop_assert_eq!(t.frac_bits(), *frac);
        }
    }
}

/// Written files are ordinary files (rw-r--r--, or the permissions of the file they
/// replace), not the owner-only files a temporary file starts as.
#[cfg(unix)]
#[test]
fn atomic_writes_keep_ordinary_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.bin");
    mynah_format::write_atomic(&path, b"one").unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o644);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    mynah_format::write_atomic(&path, b"two").unwrap();
    assert_eq!(mode(&path), 0o640);
    assert_eq!(std::fs::read(&path).unwrap(), b"two");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(left.len(), 1, "no temporary file remains");
}
