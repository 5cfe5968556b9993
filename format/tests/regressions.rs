//! Replays the inputs kept from fuzzing (`make fuzz`, see `fuzz.mk`) and checks the fuzz
//! seeds stay valid.
//!
//! Each file in `tests/regressions/` once crashed the `parse` fuzz target. It is parsed as
//! given and with the target's fix-up (size field and CRC made to match the length), and
//! must give an error or a model whose every accessor works: never a panic.

mod common;

use std::path::{Path, PathBuf};

use common::parse;
use mynah_format::layout::{self, header};
use mynah_format::{crc32, AlignedBytes, DType, Model};

/// The files of `dir` (sorted, without the README).
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.extension().is_none_or(|x| x != "md"))
        .collect();
    out.sort();
    out
}

/// The fuzz target's fix-up: `file_size` = length and a valid CRC trailer.
fn with_valid_trailer(data: &[u8]) -> Vec<u8> {
    let mut b = data.to_vec();
    let n = b.len();
    if n >= layout::HEADER_SIZE_V1 + layout::CRC_SIZE && u32::try_from(n).is_ok() {
        b[header::FILE_SIZE..header::FILE_SIZE + 4].copy_from_slice(&(n as u32).to_le_bytes());
        let crc = crc32(&b[..n - 4]);
        b[n - 4..].copy_from_slice(&crc.to_le_bytes());
    }
    b
}

/// Every accessor and typed view of an accepted model.
fn walk(m: &Model<'_>) {
    let v = m.vocab();
    assert_eq!(v.len(), m.hyper().vocab_size as usize);
    let first = v.first_char_id();
    for (i, c) in v.chars().enumerate() {
        assert_eq!(v.id_of(c), Some(first + i as u32));
        assert_eq!(v.char_of(first + i as u32), Some(c));
    }
    assert_eq!(m.tensors().count(), m.tensor_count());
    for t in m.tensors() {
        assert_eq!(m.tensor(t.name()), Some(t));
        let n = match t.dtype() {
            DType::F32 => t.f32s().unwrap().len(),
            DType::F16 => t.f16s().unwrap().len(),
            DType::I8 => t.i8s().unwrap().len(),
            DType::I16 => t.i16s().unwrap().len(),
            DType::I32 => t.i32s().unwrap().len(),
            // Two elements per byte, each row padded to a whole byte.
            DType::I4 => {
                let cols = *t.shape().last().unwrap() as usize;
                t.packed_i4s().unwrap().len() / cols.div_ceil(2) * cols
            }
        };
        assert_eq!(n, t.numel());
    }
}

fn replay(bytes: &[u8]) {
    let a = AlignedBytes::copy_from(bytes);
    match Model::parse(&a) {
        Ok(m) => walk(&m),
        Err(e) => assert!(!e.to_string().is_empty()),
    }
    if let Ok(m) = Model::parse_container(&a) {
        walk(&m);
    }
}

#[test]
fn fuzz_crashes_stay_fixed() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/regressions");
    for path in files(&dir) {
        let data = std::fs::read(&path).unwrap();
        for (how, bytes) in [
            ("as given", data.clone()),
            ("fixed up", with_valid_trailer(&data)),
        ] {
            let r = std::panic::catch_unwind(|| replay(&bytes));
            assert!(r.is_ok(), "{} ({how}) panics", path.display());
        }
    }
}

#[test]
fn fuzz_seeds_are_valid_models() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/parse");
    let seeds = files(&dir);
    assert!(seeds.len() >= 6, "seeds missing from {}", dir.display());
    let mut kinds = Vec::new();
    for path in seeds {
        let data = std::fs::read(&path).unwrap();
        assert!(data.len() <= 8192, "{}: keep seeds small", path.display());
        assert_eq!(
            parse(&data),
            Ok(()),
            "{}: stale? regenerate with `cargo run -p mynah-tools --example fuzz_seeds -- fuzz/seeds`",
            path.display()
        );
        let a = AlignedBytes::copy_from(&data);
        let m = Model::parse(&a).unwrap();
        walk(&m);
        kinds.push(m.hyper().weights);
    }
    for kind in [
        mynah_format::WeightsKind::Float,
        mynah_format::WeightsKind::Int8,
    ] {
        assert!(kinds.contains(&kind), "no {kind} seed");
    }
}
