//! Version-1 files (64-byte header, every model a GRU with `<PAD>`, `<BOS>`, `<EOS>`) keep
//! loading; writers write version 2, or version 3 for what only version 3 expresses (INT4
//! weights, the `FACTORED` flag).

mod common;

use common::*;
use mynah_format::layout::{self, header};
use mynah_format::{
    AlignedBytes, Arch, FormatError, Hyper, MappedModel, Model, Specials, TensorName, WeightsKind,
};

#[test]
fn versions() {
    assert_eq!(layout::VERSION, 3);
    assert_eq!(layout::MIN_VERSION, 1);
    assert_eq!((layout::HEADER_SIZE_V1, layout::HEADER_SIZE), (64, 128));
    for arch in ARCHS {
        for h in hypers_of(arch) {
            let b = model_file(h);
            let v3 = h.factored || h.weights == WeightsKind::Int4;
            let version = if v3 { 3 } else { 2 };
            assert_eq!(
                &b[header::VERSION..header::VERSION + 4],
                [version, 0, 128, 0]
            );
        }
    }
}

#[test]
fn version_1_files_load_as_grus_with_pad_bos_eos() {
    let hypers = [
        small_hyper(),
        tiny_hyper(),
        Hyper {
            records: true,
            ..small_hyper()
        },
        Hyper {
            weights: WeightsKind::Int8,
            ..small_hyper()
        },
        Hyper {
            weights: WeightsKind::Int8,
            num_layers: 4,
            ..tiny_hyper()
        },
    ];
    for h in hypers {
        let v2 = AlignedBytes::copy_from(&model_file(h));
        let v1 = AlignedBytes::copy_from(&to_v1(&v2));
        assert_eq!(v1.len() + 64, v2.len());
        let (old, new) = (Model::parse(&v1).unwrap(), Model::parse(&v2).unwrap());
        assert_eq!((old.version(), new.version()), (1, 2));
        assert_eq!(old.hyper(), h);
        assert_eq!(old.hyper().arch, Arch::GRU);
        assert_eq!(old.hyper().specials, Specials::DEFAULT);
        assert_eq!(old.vocab(), new.vocab());
        assert_eq!(old.vocab().first_char_id(), 3);
        assert_eq!(old.vocab().bos(), Some(1));
        assert_eq!(old.vocab().eos(), Some(2));
        assert_eq!(old.tensor_count(), new.tensor_count());
        for (a, b) in old.tensors().zip(new.tensors()) {
            assert_eq!(
                (a.name(), a.dtype(), a.shape(), a.bytes(), a.frac_bits()),
                (b.name(), b.dtype(), b.shape(), b.bytes(), b.frac_bits())
            );
        }
    }
}

#[test]
fn version_1_bytes_after_the_header_are_the_vocabulary() {
    // Where version 2 has its architecture field, a version-1 file has characters: they
    // are never read as version-2 fields.
    let v1 = to_v1(&small_file());
    assert_eq!(&v1[64..67], b"abc");
    assert_eq!(get_u32(&v1, header::ARCH), u32::from_le_bytes(*b"abc\0"));
    assert_eq!(parse(&v1), Ok(()));
}

#[test]
fn version_1_vocabularies_hold_the_three_specials() {
    let v1 = to_v1(&small_file());
    assert_eq!(
        mutate(&v1, |b| put_u32(b, header::VOCAB_SIZE, 3)),
        Err(FormatError::BadHyperparameter {
            field: "vocab_size",
            value: 3,
            min: 4,
            max: 65535
        })
    );
    assert_eq!(
        mutate(&v1, |b| put_u32(b, header::VOCAB_SIZE, 7)),
        Err(FormatError::VocabCountMismatch {
            expected: 4,
            found: 3
        })
    );
}

#[test]
fn version_1_int8_files_are_checked_against_the_exact_table() {
    let h = Hyper {
        weights: WeightsKind::Int8,
        ..small_hyper()
    };
    let mut w = model_writer(h);
    w.add_f32("embed.weight", &[6, 3], &[0.0; 18]).unwrap();
    let v2 = w.to_container_bytes().unwrap();
    assert_eq!(
        parse(&to_v1(&v2)),
        Err(FormatError::UnexpectedTensor {
            index: 17,
            name: TensorName::new("embed.weight")
        })
    );
    let v2 = writer_with(h, "rnn.bias_ih_l1", None)
        .to_container_bytes()
        .unwrap();
    assert_eq!(
        parse(&to_v1(&v2)),
        Err(FormatError::MissingTensor {
            name: TensorName::new("rnn.bias_ih_l1")
        })
    );
}

#[test]
fn version_1_files_open_mapped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.mynah");
    std::fs::write(&path, v1_example()).unwrap();
    let m = MappedModel::open(&path).unwrap();
    assert_eq!(m.model().version(), 1);
    assert_eq!(m.model().vocab().as_str(), "a");
    assert!(m.model().hyper().records);
}
