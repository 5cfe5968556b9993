//! Models beyond the capacities a runtime was built with are refused at load time, each
//! with its own `RuntimeError` (the format-level hostile files are in
//! `format/tests/errors.rs`).

use mynah_format::{AlignedBytes, Hyper, Model, ModelWriter, WeightsKind};
use mynah_runtime::kernels::{MAX_COLS, PRE_FRAC};
use mynah_runtime::{names, Gru, IntModel, RuntimeError};

/// A fuzz seed: a real INT8 file made by the quantizer (see `fuzz/seeds/README.md`).
fn seed(name: &str) -> AlignedBytes {
    let path = format!(
        "{}/../fuzz/seeds/runtime/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    AlignedBytes::copy_from(&std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
}

/// An INT8 file of one layer over "a" with every tensor the runtime reads, all zero.
fn zero_int8_file(hidden: u32) -> AlignedBytes {
    let hyper = Hyper {
        vocab_size: 4,
        embed_dim: 1,
        hidden_dim: hidden,
        num_layers: 1,
        records: false,
        weights: WeightsKind::Int8,
        arch: mynah_format::Arch::GRU,
        specials: mynah_format::Specials::DEFAULT,
        factored: false,
    };
    let (v, g) = (hyper.vocab_size, 3 * hidden);
    let mut w = ModelWriter::new(hyper, &['a']).unwrap();
    w.add_i16(names::INPUT_TABLE, &[v, g], &vec![0; (v * g) as usize], 0)
        .unwrap();
    for (n, rows) in [(names::hh(0), g), (names::proj(), v)] {
        let q16 = PRE_FRAC as i32;
        let weights = vec![0; (rows * hidden) as usize];
        w.add_i8(n.weight.as_str(), &[rows, hidden], &weights, 0)
            .unwrap();
        w.add_i32(n.mult.as_str(), &[rows], &vec![0; rows as usize], 0)
            .unwrap();
        w.add_i8(n.shift.as_str(), &[rows], &vec![0; rows as usize], 0)
            .unwrap();
        w.add_i32(n.bias.as_str(), &[rows], &vec![0; rows as usize], q16)
            .unwrap();
    }
    AlignedBytes::copy_from(&w.to_bytes().unwrap())
}

#[test]
fn hidden_beyond_capacity() {
    let file = seed("int8-1x8.mynah"); // V = 10, H = 8, L = 1
    let m = Model::parse(&file).unwrap();
    assert!(IntModel::<Gru, 8, 10, 1>::new(&m).is_ok());
    assert_eq!(
        IntModel::<Gru, 7, 10, 1>::new(&m).unwrap_err(),
        RuntimeError::HiddenCapacity {
            hidden: 8,
            capacity: 7
        }
    );
}

#[test]
fn vocab_beyond_capacity() {
    let file = seed("int8-1x8.mynah");
    let m = Model::parse(&file).unwrap();
    assert_eq!(
        IntModel::<Gru, 8, 9, 1>::new(&m).unwrap_err(),
        RuntimeError::VocabCapacity {
            vocab: 10,
            capacity: 9
        }
    );
}

#[test]
fn layers_beyond_capacity() {
    let file = seed("int8-4x2.mynah"); // V = 5, H = 2, L = 4
    let m = Model::parse(&file).unwrap();
    assert!(IntModel::<Gru, 2, 5, 4>::new(&m).is_ok());
    assert_eq!(
        IntModel::<Gru, 2, 5, 3>::new(&m).unwrap_err(),
        RuntimeError::LayerCapacity {
            layers: 4,
            capacity: 3
        }
    );
}

#[test]
fn hidden_wider_than_the_kernels_accumulate_exactly() {
    // The widest hidden layer loads when the capacity allows it...
    let file = zero_int8_file(MAX_COLS as u32);
    let m = Model::parse(&file).unwrap();
    assert!(IntModel::<Gru, { MAX_COLS }, 4, 1>::new(&m).is_ok());
    // ...one more is refused even by a runtime with room for it.
    let file = zero_int8_file(MAX_COLS as u32 + 1);
    let m = Model::parse(&file).unwrap();
    assert_eq!(
        IntModel::<Gru, { MAX_COLS + 8 }, 4, 1>::new(&m).unwrap_err(),
        RuntimeError::HiddenTooWide {
            hidden: MAX_COLS as u32 + 1
        }
    );
}

#[test]
fn float_files_are_refused() {
    let path = format!(
        "{}/../fuzz/seeds/parse/float-1x8.mynah",
        env!("CARGO_MANIFEST_DIR")
    );
    let file = AlignedBytes::copy_from(&std::fs::read(path).unwrap());
    let m = Model::parse(&file).unwrap();
    assert_eq!(
        IntModel::<Gru, 8, 10, 1>::new(&m).unwrap_err(),
        RuntimeError::NotQuantized
    );
}

#[test]
fn capacity_errors_are_distinct_and_say_what_to_change() {
    let errors = [
        RuntimeError::HiddenCapacity {
            hidden: 8,
            capacity: 7,
        },
        RuntimeError::VocabCapacity {
            vocab: 10,
            capacity: 9,
        },
        RuntimeError::LayerCapacity {
            layers: 4,
            capacity: 3,
        },
        RuntimeError::HiddenTooWide { hidden: 513 },
    ];
    for (i, a) in errors.iter().enumerate() {
        for b in &errors[..i] {
            assert_ne!(std::mem::discriminant(a), std::mem::discriminant(b));
        }
    }
    let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    assert!(text[0].contains("hidden_dim 8") && text[0].contains("capacity of 7"));
    assert!(text[1].contains("vocab_size 10") && text[1].contains("capacity of 9"));
    assert!(text[2].contains("num_layers 4") && text[2].contains("capacity of 3"));
    assert!(text[3].contains("513") && text[3].contains("512"));
}
