//! One test per `FormatError` variant: each failure is reported as itself.
//!
//! Structural corruptions recompute the CRC (`mutate`), so they reach the structural
//! checks instead of being caught by the checksum.

mod common;

use common::*;
use mynah_format::layout::{self, entry, header};
use mynah_format::{
    Activation, AlignedBytes, DType, FormatError, Hyper, Model, ModelWriter, Shape, Special,
    Specials, TensorName, WeightsKind,
};

fn name(s: &str) -> TensorName {
    TensorName::new(s)
}

#[test]
fn bad_magic() {
    let mut b = small_file();
    b[0] = b'X';
    assert_eq!(parse(&b), Err(FormatError::BadMagic));
    assert_eq!(parse(b"hello, world"), Err(FormatError::BadMagic));
    assert_eq!(parse(b"MYNAHGRX"), Err(FormatError::BadMagic));
}

#[test]
fn truncated() {
    let b = small_file();
    assert_eq!(
        parse(&[]),
        Err(FormatError::Truncated {
            expected: 64,
            actual: 0
        })
    );
    assert_eq!(
        parse(b"MYNAH"),
        Err(FormatError::Truncated {
            expected: 64,
            actual: 5
        })
    );
    assert_eq!(
        parse(&b[..40]),
        Err(FormatError::Truncated {
            expected: 64,
            actual: 40
        })
    );
    // Once the version is known, its whole header: 128 bytes in version 2...
    assert_eq!(
        parse(&b[..100]),
        Err(FormatError::Truncated {
            expected: 128,
            actual: 100
        })
    );
    // ...64 in version 1, whose file_size field is then read.
    let v1 = v1_example();
    assert_eq!(
        parse(&v1[..100]),
        Err(FormatError::Truncated {
            expected: 972,
            actual: 100
        })
    );
    let n = b.len();
    assert_eq!(
        parse(&b[..n - 1]),
        Err(FormatError::Truncated {
            expected: n,
            actual: n - 1
        })
    );
}

#[test]
fn version_zero_and_future_version() {
    let b = small_file();
    assert_eq!(
        mutate(&b, |b| put_u16(b, header::VERSION, 0)),
        Err(FormatError::BadVersion { found: 0 })
    );
    // A newer file is refused before its size or checksum are looked at: its layout may differ.
    for v in [4, 7, u16::MAX] {
        let mut c = b.clone();
        put_u16(&mut c, header::VERSION, v);
        put_u32(&mut c, header::FILE_SIZE, 12345);
        put_u16(&mut c, header::HEADER_SIZE, 4096);
        put_u32(&mut c, header::ARCH, 99);
        assert_eq!(
            parse(&c),
            Err(FormatError::FutureVersion {
                found: v,
                supported: 3
            })
        );
        // Only the first 64 bytes need be there.
        assert_eq!(
            parse(&c[..64]),
            Err(FormatError::FutureVersion {
                found: v,
                supported: 3
            })
        );
    }
    let e = FormatError::FutureVersion {
        found: 4,
        supported: 3,
    };
    assert!(e.to_string().contains("upgrade"), "{e}");
}

#[test]
fn bad_header_size() {
    let v2 = small_file();
    let v1 = v1_example();
    for found in [0, 63, 64, 129, 192, u16::MAX] {
        assert_eq!(
            mutate(&v2, |b| put_u16(b, header::HEADER_SIZE, found)),
            Err(FormatError::BadHeaderSize {
                found,
                expected: 128
            })
        );
    }
    for found in [0, 65, 128] {
        assert_eq!(
            mutate(&v1, |b| put_u16(b, header::HEADER_SIZE, found)),
            Err(FormatError::BadHeaderSize {
                found,
                expected: 64
            })
        );
    }
    // The version decides the header size: a version-2 file marked version 1, and a
    // version-1 file marked version 2, are refused for it (before anything else is read).
    assert_eq!(
        mutate(&v2, |b| put_u16(b, header::VERSION, 1)),
        Err(FormatError::BadHeaderSize {
            found: 128,
            expected: 64
        })
    );
    assert_eq!(
        mutate(&v1, |b| put_u16(b, header::VERSION, 2)),
        Err(FormatError::BadHeaderSize {
            found: 64,
            expected: 128
        })
    );
    let e = FormatError::BadHeaderSize {
        found: 64,
        expected: 128,
    };
    assert_eq!(e.to_string(), "header size is 64, expected 128");
}

#[test]
fn unknown_flags() {
    for flags in [2, 3, 0x8000_0000] {
        assert_eq!(
            mutate(&small_file(), |b| put_u32(b, header::FLAGS, flags)),
            Err(FormatError::UnknownFlags { flags })
        );
    }
}

#[test]
fn unknown_weights_kind() {
    assert_eq!(
        mutate(&small_file(), |b| put_u32(b, header::WEIGHTS_KIND, 2)),
        Err(FormatError::UnknownWeightsKind { found: 2 })
    );
}

#[test]
fn unknown_arch() {
    for code in [4, 5, 0x100, u32::MAX] {
        assert_eq!(
            mutate(&small_file(), |b| put_u32(b, header::ARCH, code)),
            Err(FormatError::UnknownArch { found: code })
        );
    }
    // The code is looked at before the activation and context that depend on it...
    assert_eq!(
        mutate(&small_file(), |b| {
            put_u32(b, header::ARCH, 4);
            put_u32(b, header::ACTIVATION, 9);
            put_u32(b, header::CONTEXT, 9);
        }),
        Err(FormatError::UnknownArch { found: 4 })
    );
    // ...and before the checksum: a newer writer's architecture is named as such.
    let mut b = small_file();
    put_u32(&mut b, header::ARCH, 4);
    assert_eq!(parse(&b), Err(FormatError::UnknownArch { found: 4 }));
    // Known codes select the architecture (and its tensor table).
    assert_eq!(
        mutate(&small_file(), |b| put_u32(b, header::ARCH, 1)),
        Err(FormatError::ShapeMismatch {
            name: name("rnn.weight_ih_l0"),
            expected: Shape::new(&[8, 3]),
            found: Shape::new(&[6, 3])
        })
    );
}

#[test]
fn unknown_specials() {
    for bits in [16, 16 | 7, 0x8000_0000, u32::MAX] {
        assert_eq!(
            mutate(&small_file(), |b| put_u32(b, header::SPECIALS, bits)),
            Err(FormatError::UnknownSpecials { bits })
        );
    }
    assert!(FormatError::UnknownSpecials { bits: 0x30 }
        .to_string()
        .contains("0x30"));
}

#[test]
fn unknown_activation() {
    // Recurrent models store activation 0...
    for (arch, act) in [(0, 1), (1, 2), (2, 3), (0, u32::MAX)] {
        assert_eq!(
            mutate(&small_file(), |b| {
                put_u32(b, header::ARCH, arch);
                put_u32(b, header::ACTIVATION, act);
            }),
            Err(FormatError::UnknownActivation { found: act }),
            "arch {arch}"
        );
    }
    // ...the n-gram 1 (relu) or 2 (tanh).
    let ngram_file = model_file(hyper_of(ngram(3, Activation::Relu), WeightsKind::Float));
    for act in [0, 3, 0x100, u32::MAX] {
        assert_eq!(
            mutate(&ngram_file, |b| put_u32(b, header::ACTIVATION, act)),
            Err(FormatError::UnknownActivation { found: act })
        );
    }
    // The activation is checked before the context.
    assert_eq!(
        mutate(&small_file(), |b| {
            put_u32(b, header::ACTIVATION, 1);
            put_u32(b, header::CONTEXT, 1);
        }),
        Err(FormatError::UnknownActivation { found: 1 })
    );
    // Switching relu and tanh leaves a valid model (the tensors do not depend on it).
    let a = AlignedBytes::copy_from(&ngram_file);
    assert_eq!(
        Model::parse(&a).unwrap().hyper().arch,
        ngram(3, Activation::Relu)
    );
    let mut b = ngram_file.clone();
    put_u32(&mut b, header::ACTIVATION, 2);
    fix_crc(&mut b);
    let a = AlignedBytes::copy_from(&b);
    assert_eq!(
        Model::parse(&a).unwrap().hyper().arch,
        ngram(3, Activation::Tanh)
    );
}

#[test]
fn non_zero_header_reserved() {
    let b = small_file();
    assert_eq!(header::RESERVED, 80);
    for at in header::RESERVED..layout::HEADER_SIZE {
        for v in [1u8, 0x80] {
            assert_eq!(
                mutate(&b, |b| b[at] = v),
                Err(FormatError::NonZeroHeaderReserved { offset: at }),
                "byte {at}"
            );
        }
    }
    // The first non-zero byte is named.
    assert_eq!(
        mutate(&b, |b| {
            b[100] = 1;
            b[90] = 1;
        }),
        Err(FormatError::NonZeroHeaderReserved { offset: 90 })
    );
    // Checked after the other version-2 fields.
    assert_eq!(
        mutate(&b, |b| {
            b[81] = 1;
            put_u32(b, header::SPECIALS, 16);
        }),
        Err(FormatError::UnknownSpecials { bits: 16 })
    );
}

#[test]
fn ngram_without_bos() {
    // The writer refuses the hyperparameters...
    for specials in [
        Specials::NONE,
        Specials::NONE.with(Special::Pad).with(Special::Eos),
        Specials::NONE.with(Special::Unk),
    ] {
        let h = Hyper {
            specials,
            vocab_size: specials.count() + 3,
            ..hyper_of(ngram(2, Activation::Tanh), WeightsKind::Float)
        };
        assert_eq!(
            ModelWriter::new(h, &['a', 'b', 'c']).unwrap_err(),
            FormatError::NgramWithoutBos
        );
        assert_eq!(h.validate(), Err(FormatError::NgramWithoutBos));
    }
    // ...and so does the reader, with the hyperparameters (before the vocabulary).
    let file = model_file(hyper_of(ngram(2, Activation::Tanh), WeightsKind::Int8));
    assert_eq!(
        mutate(&file, |b| put_u32(b, header::SPECIALS, 1 | 4)),
        Err(FormatError::NgramWithoutBos)
    );
    // A recurrent model needs no <BOS>.
    let h = Hyper {
        specials: Specials::NONE,
        vocab_size: 3,
        ..small_hyper()
    };
    assert!(model_writer(h).to_bytes().is_ok());
}

#[test]
fn file_too_small() {
    // The version's header, one directory entry and the CRC: 196 bytes in version 2...
    for declared in [0, 4, 128, 195] {
        let mut b = small_file();
        put_u32(&mut b, header::FILE_SIZE, declared);
        b.truncate(128);
        assert_eq!(parse(&b), Err(FormatError::FileTooSmall { declared }));
    }
    let mut b = small_file();
    put_u32(&mut b, header::FILE_SIZE, 196);
    b.truncate(196);
    assert!(
        matches!(parse(&b), Err(FormatError::ChecksumMismatch { .. })),
        "196 bytes is not too small"
    );
    // ...132 in version 1.
    for declared in [64, 131] {
        let mut b = v1_example();
        put_u32(&mut b, header::FILE_SIZE, declared);
        b.truncate(64);
        assert_eq!(parse(&b), Err(FormatError::FileTooSmall { declared }));
    }
    let mut b = v1_example();
    put_u32(&mut b, header::FILE_SIZE, 132);
    b.truncate(132);
    assert!(matches!(
        parse(&b),
        Err(FormatError::ChecksumMismatch { .. })
    ));
}

#[test]
fn trailing_bytes() {
    let mut b = small_file();
    let n = b.len();
    b.push(0);
    assert_eq!(
        parse(&b),
        Err(FormatError::FileSizeMismatch {
            declared: n as u32,
            actual: n + 1
        })
    );
}

#[test]
fn huge_declared_file_size_is_truncation() {
    let mut b = small_file();
    put_u32(&mut b, header::FILE_SIZE, u32::MAX);
    assert_eq!(
        parse(&b),
        Err(FormatError::Truncated {
            expected: u32::MAX as usize,
            actual: b.len()
        })
    );
}

#[test]
fn checksum_mismatch() {
    let mut b = small_file();
    let n = b.len();
    let stored = get_u32(&b, n - 4);
    b[900] ^= 0x10;
    let computed = mynah_format::crc32(&b[..n - 4]);
    assert_eq!(
        parse(&b),
        Err(FormatError::ChecksumMismatch { stored, computed })
    );
    let mut c = small_file();
    c[n - 1] ^= 0x80; // the trailer itself
    assert!(matches!(
        parse(&c),
        Err(FormatError::ChecksumMismatch { .. })
    ));
}

#[test]
fn hyperparameters_out_of_range() {
    let cases = [
        (header::VOCAB_SIZE, "vocab_size", 3, 4, 65535),
        (header::VOCAB_SIZE, "vocab_size", 65536, 4, 65535),
        (header::EMBED_DIM, "embed_dim", 0, 1, 4096),
        (header::EMBED_DIM, "embed_dim", 4097, 1, 4096),
        (header::HIDDEN_DIM, "hidden_dim", 0, 1, 4096),
        (header::HIDDEN_DIM, "hidden_dim", u32::MAX, 1, 4096),
        (header::NUM_LAYERS, "num_layers", 0, 1, 4),
        (header::NUM_LAYERS, "num_layers", 5, 1, 4),
        // A recurrent model has no n-gram context (checked with the version-2 fields).
        (header::CONTEXT, "context", 1, 0, 0),
        (header::CONTEXT, "context", u32::MAX, 0, 0),
    ];
    for (at, field, value, min, max) in cases {
        assert_eq!(
            mutate(&small_file(), |b| put_u32(b, at, value)),
            Err(FormatError::BadHyperparameter {
                field,
                value,
                min,
                max
            }),
            "{field} = {value}"
        );
    }
    // The writer checks them too.
    let h = Hyper {
        num_layers: 5,
        ..small_hyper()
    };
    assert!(matches!(
        ModelWriter::new(h, &chars_for(&h)),
        Err(FormatError::BadHyperparameter {
            field: "num_layers",
            ..
        })
    ));
}

#[test]
fn bad_tensor_count() {
    for n in [0, 257, u32::MAX] {
        assert_eq!(
            mutate(&small_file(), |b| put_u32(b, header::TENSOR_COUNT, n)),
            Err(FormatError::BadTensorCount { found: n })
        );
    }
}

#[test]
fn bad_section_layout() {
    let b = small_file();
    let field = |b: &[u8], at| get_u32(b, at);
    let cases = [
        (header::VOCAB_OFFSET, "vocab_offset", 64, 128),
        (header::VOCAB_OFFSET, "vocab_offset", 192, 128),
        // align64(128 + 3 bytes of "abc") = 192.
        (header::DIR_OFFSET, "dir_offset", 256, 192),
        (header::DIR_OFFSET, "dir_offset", 128, 192),
        (header::DIR_OFFSET, "dir_offset", 160, 192),
        // 192 + 11 entries of 64 bytes = 896.
        (
            header::DATA_OFFSET,
            "data_offset",
            field(&b, header::DATA_OFFSET) + 64,
            896,
        ),
        (
            header::DATA_BYTES,
            "data_bytes",
            field(&b, header::DATA_BYTES) - 1,
            field(&b, header::DATA_BYTES) as u64,
        ),
        // One more directory entry would overlap the data section.
        (header::TENSOR_COUNT, "data_offset", 12, 896 + 64),
    ];
    for (at, name, value, expected) in cases {
        let want = if name == "data_offset" && at == header::TENSOR_COUNT {
            FormatError::BadSectionLayout {
                field: name,
                found: 896,
                expected,
            }
        } else {
            FormatError::BadSectionLayout {
                field: name,
                found: value,
                expected,
            }
        };
        assert_eq!(mutate(&b, |b| put_u32(b, at, value)), Err(want), "{name}");
    }
    // Version 1: the vocabulary follows the 64-byte header.
    assert_eq!(
        mutate(&v1_example(), |b| put_u32(b, header::VOCAB_OFFSET, 128)),
        Err(FormatError::BadSectionLayout {
            field: "vocab_offset",
            found: 128,
            expected: 64
        })
    );
}

#[test]
fn sizes_that_overflow_are_clean_errors() {
    // Every computed offset is bounded by u32::MAX, where a 32-bit usize would overflow,
    // so these are the same error on every target (this file also passes on i686-unknown-linux-gnu).
    let b = small_file();
    let vocab_overflow = Err(FormatError::SizeOverflow {
        what: "vocab section",
    });
    // 128 + vocab_bytes past u32::MAX...
    assert_eq!(
        mutate(&b, |b| put_u32(b, header::VOCAB_BYTES, u32::MAX - 10)),
        vocab_overflow
    );
    // ...or only its rounding up to the 64-byte aligned directory.
    assert_eq!(
        mutate(&b, |b| put_u32(
            b,
            header::VOCAB_BYTES,
            u32::MAX - layout::HEADER_SIZE as u32 - 10
        )),
        vocab_overflow
    );
    assert_eq!(
        mutate(&b, |b| put_u32(b, header::DATA_BYTES, u32::MAX)),
        Err(FormatError::SizeOverflow {
            what: "data section"
        })
    );
    // The largest data size that still fits is a layout error, not an overflow.
    let data_offset = get_u32(&b, header::DATA_OFFSET);
    let r = mutate(&b, |b| {
        put_u32(b, header::DATA_BYTES, u32::MAX - data_offset)
    });
    assert!(
        matches!(
            r,
            Err(FormatError::BadSectionLayout {
                field: "data_bytes",
                ..
            })
        ),
        "{r:?}"
    );
}

#[test]
fn tensor_too_large() {
    let b = small_file();
    // Element count overflows (2^128 on 64-bit, 2^64 on 32-bit hosts)...
    let r = mutate(&b, |b| {
        let e = entry_at(b, 0);
        b[e + entry::RANK] = 4;
        for d in 0..4 {
            put_u32(b, e + entry::DIMS + 4 * d, u32::MAX);
        }
    });
    assert_eq!(r, Err(FormatError::TensorTooLarge { index: 0 }));
    // ...or only the byte size does: 2^62 f32 elements on 64-bit hosts.
    let r = mutate(&b, |b| {
        let e = entry_at(b, 0);
        b[e + entry::RANK] = 2;
        put_u32(b, e + entry::DIMS, 1 << 31);
        put_u32(b, e + entry::DIMS + 4, 1 << 31);
    });
    assert_eq!(r, Err(FormatError::TensorTooLarge { index: 0 }));
    // ...or 4 GiB of i8: fits a 64-bit usize but no file (and overflows a 32-bit one).
    let r = mutate(&b, |b| {
        let e = entry_at(b, 0);
        b[e + entry::DTYPE] = DType::I8.code();
        b[e + entry::RANK] = 2;
        put_u32(b, e + entry::DIMS, 1 << 16);
        put_u32(b, e + entry::DIMS + 4, 1 << 16);
    });
    assert_eq!(r, Err(FormatError::TensorTooLarge { index: 0 }));
}

#[test]
fn misaligned_buffer() {
    let b = small_file();
    for shift in 1..4 {
        let mut a = AlignedBytes::zeroed(b.len() + shift);
        a.as_mut_bytes()[shift..].copy_from_slice(&b);
        assert_eq!(
            Model::parse(&a[shift..]).unwrap_err(),
            FormatError::MisalignedBuffer { address_mod: shift }
        );
    }
    let mut a = AlignedBytes::zeroed(b.len() + 4);
    a.as_mut_bytes()[4..].copy_from_slice(&b);
    assert!(Model::parse(&a[4..]).is_ok(), "4-byte alignment is enough");
}

#[test]
fn bad_vocab_utf8_names_the_offset() {
    let b = small_file();
    // The vocabulary "abc" starts right after the 128-byte header.
    assert_eq!(
        mutate(&b, |b| b[129] = 0xff),
        Err(FormatError::BadVocabUtf8 { offset: 129 })
    );
    // A multi-byte character cut short: "a" then the first byte of "é" then "c".
    assert_eq!(
        mutate(&b, |b| b[129] = 0xc3),
        Err(FormatError::BadVocabUtf8 { offset: 129 })
    );
    // In version 1 it starts at 64.
    assert_eq!(
        mutate(&v1_example(), |b| b[64] = 0x80),
        Err(FormatError::BadVocabUtf8 { offset: 64 })
    );
    let e = FormatError::BadVocabUtf8 { offset: 129 };
    assert!(e.to_string().contains("offset 129"), "{e}");
}

#[test]
fn vocab_not_sorted() {
    assert_eq!(
        mutate(&small_file(), |b| b[128..131].copy_from_slice(b"acb")),
        Err(FormatError::VocabNotSorted {
            offset: 130,
            ch: 'b'
        })
    );
    // The writer reports offsets in the file it would write.
    assert!(matches!(
        ModelWriter::new(small_hyper(), &['b', 'a', 'c']),
        Err(FormatError::VocabNotSorted {
            offset: 129,
            ch: 'a'
        })
    ));
}

#[test]
fn duplicate_char() {
    assert_eq!(
        mutate(&small_file(), |b| b[128..131].copy_from_slice(b"abb")),
        Err(FormatError::DuplicateChar {
            offset: 130,
            ch: 'b'
        })
    );
    assert!(matches!(
        ModelWriter::new(small_hyper(), &['a', 'a', 'c']),
        Err(FormatError::DuplicateChar { ch: 'a', .. })
    ));
}

#[test]
fn vocab_count_mismatch() {
    assert_eq!(
        mutate(&small_file(), |b| put_u32(b, header::VOCAB_SIZE, 7)),
        Err(FormatError::VocabCountMismatch {
            expected: 4,
            found: 3
        })
    );
    assert_eq!(
        ModelWriter::new(small_hyper(), &['a', 'b']).unwrap_err(),
        FormatError::VocabCountMismatch {
            expected: 3,
            found: 2
        }
    );
    // The count is vocab_size minus the specials the header declares: dropping <EOS>
    // (specials 7 -> 3) leaves room for a fourth character.
    assert_eq!(
        mutate(&small_file(), |b| put_u32(b, header::SPECIALS, 3)),
        Err(FormatError::VocabCountMismatch {
            expected: 4,
            found: 3
        })
    );
    let h = Hyper {
        specials: Specials::NONE,
        ..small_hyper()
    };
    assert_eq!(
        ModelWriter::new(h, &['a', 'b', 'c']).unwrap_err(),
        FormatError::VocabCountMismatch {
            expected: 6,
            found: 3
        }
    );
}

#[test]
fn bad_tensor_names() {
    let b = small_file();
    let set_name = |raw: [u8; 32]| {
        mutate(&b, move |b| {
            let e = entry_at(b, 1);
            b[e..e + 32].copy_from_slice(&raw);
        })
    };
    let reason = |r: Result<(), FormatError>| match r {
        Err(FormatError::BadTensorName { index: 1, reason }) => reason,
        other => panic!("{other:?}"),
    };
    let mut raw = [0u8; 32];
    assert_eq!(reason(set_name(raw)), "empty");
    raw = [b'a'; 32];
    assert!(reason(set_name(raw)).contains("NUL-terminated"));
    raw = [0; 32];
    raw[..5].copy_from_slice(b"a-b.c");
    assert!(reason(set_name(raw)).contains("[A-Za-z0-9_.]"));
    raw[..5].copy_from_slice(b"ab\xc3\xa9c");
    assert!(reason(set_name(raw)).contains("[A-Za-z0-9_.]"));
    raw = [0; 32];
    raw[..2].copy_from_slice(b"ab");
    raw[10] = b'x';
    assert!(reason(set_name(raw)).contains("after the terminating NUL"));

    let mut w = ModelWriter::new(small_hyper(), &chars_for(&small_hyper())).unwrap();
    for bad in ["", "a b", "é", "x\0y", &"n".repeat(32)] {
        assert!(
            matches!(
                w.add_f32(bad, &[1], &[0.0]),
                Err(FormatError::BadTensorName { index: 0, .. })
            ),
            "{bad:?}"
        );
    }
    w.add_f32(&"n".repeat(31), &[1], &[0.0]).unwrap();
}

#[test]
fn duplicate_tensor_name() {
    let b = small_file();
    assert_eq!(
        mutate(&b, |b| {
            let e = entry_at(b, 2);
            b[e..e + 32].fill(0);
            b[e..e + 12].copy_from_slice(b"embed.weight");
        }),
        Err(FormatError::DuplicateTensorName { index: 2, first: 0 })
    );
    let mut w = float_writer(small_hyper());
    assert_eq!(
        w.add_f32("proj.bias", &[1], &[0.0]),
        Err(FormatError::DuplicateTensorName {
            index: 11,
            first: 10
        })
    );
}

#[test]
fn unknown_dtype() {
    for code in [0u8, 6, 255] {
        assert_eq!(
            mutate(&small_file(), |b| {
                let e = entry_at(b, 3);
                b[e + entry::DTYPE] = code;
            }),
            Err(FormatError::UnknownDType {
                index: 3,
                found: code
            })
        );
    }
}

#[test]
fn bad_rank() {
    for rank in [0u8, 5, 200] {
        assert_eq!(
            mutate(&small_file(), |b| {
                let e = entry_at(b, 4);
                b[e + entry::RANK] = rank;
            }),
            Err(FormatError::BadRank { index: 4, rank })
        );
    }
    let mut w = ModelWriter::new(small_hyper(), &chars_for(&small_hyper())).unwrap();
    assert!(matches!(
        w.add_f32("x", &[], &[]),
        Err(FormatError::BadRank { rank: 0, .. })
    ));
    assert!(matches!(
        w.add_f32("x", &[1; 5], &[0.0]),
        Err(FormatError::BadRank { rank: 5, .. })
    ));
}

#[test]
fn non_zero_reserved() {
    assert_eq!(
        mutate(&small_file(), |b| {
            let e = entry_at(b, 5);
            b[e + entry::RESERVED + 1] = 1;
        }),
        Err(FormatError::NonZeroReserved { index: 5 })
    );
}

#[test]
fn bad_dims() {
    let b = small_file();
    // embed.weight is rank 2: a zero used dim, then a non-zero unused dim.
    assert_eq!(
        mutate(&b, |b| put_entry_u32(b, 0, entry::DIMS + 4, 0)),
        Err(FormatError::BadDims { index: 0, dim: 1 })
    );
    assert_eq!(
        mutate(&b, |b| put_entry_u32(b, 0, entry::DIMS + 8, 1)),
        Err(FormatError::BadDims { index: 0, dim: 2 })
    );
    let mut w = ModelWriter::new(small_hyper(), &chars_for(&small_hyper())).unwrap();
    assert_eq!(
        w.add_f32("x", &[2, 0], &[]),
        Err(FormatError::BadDims { index: 0, dim: 1 })
    );
}

#[test]
fn byte_length_mismatch() {
    let b = small_file();
    let len = get_u32(&b, entry_at(&b, 0) + entry::BYTE_LEN);
    assert_eq!(
        mutate(&b, |b| put_entry_u32(b, 0, entry::BYTE_LEN, len + 4)),
        Err(FormatError::ByteLengthMismatch {
            index: 0,
            expected: len as usize,
            found: len as usize + 4
        })
    );
    let mut w = ModelWriter::new(small_hyper(), &chars_for(&small_hyper())).unwrap();
    assert_eq!(
        w.add_f32("x", &[2, 2], &[1.0; 3]),
        Err(FormatError::ByteLengthMismatch {
            index: 0,
            expected: 16,
            found: 12
        })
    );
}

#[test]
fn misaligned_tensor_offset() {
    for offset in [4, 32, 65] {
        assert_eq!(
            mutate(&small_file(), |b| put_entry_u32(
                b,
                1,
                entry::OFFSET,
                offset
            )),
            Err(FormatError::MisalignedTensor { index: 1, offset })
        );
    }
}

#[test]
fn tensor_out_of_bounds() {
    let b = small_file();
    let last = 10;
    let data_bytes = get_u32(&b, header::DATA_BYTES);
    let len = get_u32(&b, entry_at(&b, last) + entry::BYTE_LEN);
    for offset in [data_bytes.next_multiple_of(64), u32::MAX - 63] {
        assert_eq!(
            mutate(&b, |b| put_entry_u32(b, last, entry::OFFSET, offset)),
            Err(FormatError::TensorOutOfBounds {
                index: last as u16,
                offset,
                len,
                data_bytes
            })
        );
    }
}

#[test]
fn overlapping_tensors() {
    let b = small_file();
    assert_eq!(
        mutate(&b, |b| put_entry_u32(b, 3, entry::OFFSET, 0)),
        Err(FormatError::OverlappingTensors {
            first: 0,
            second: 3
        })
    );
    // Tensor 0 (embed.weight, 72 bytes) shifted onto tensor 1's first bytes.
    let off1 = get_u32(&b, entry_at(&b, 1) + entry::OFFSET);
    assert_eq!(
        mutate(&b, |b| put_entry_u32(b, 0, entry::OFFSET, off1)),
        Err(FormatError::OverlappingTensors {
            first: 0,
            second: 1
        })
    );
}

#[test]
fn bad_frac_bits() {
    assert_eq!(
        mutate(&small_file(), |b| put_entry_u32(b, 2, entry::FRAC_BITS, 1)),
        Err(FormatError::BadFracBits {
            index: 2,
            dtype: DType::F32,
            frac_bits: 1
        })
    );
    let h = Hyper {
        weights: WeightsKind::Int8,
        ..small_hyper()
    };
    let mut w = ModelWriter::new(h, &chars_for(&h)).unwrap();
    w.add_i8("q", &[4], &[1, 2, 3, 4], 7).unwrap();
    assert_eq!(
        w.add_i16("r", &[1], &[1], 32),
        Err(FormatError::BadFracBits {
            index: 1,
            dtype: DType::I16,
            frac_bits: 32
        })
    );
    assert_eq!(
        w.add("s", DType::F16, &[1], &[0, 0], -1),
        Err(FormatError::BadFracBits {
            index: 1,
            dtype: DType::F16,
            frac_bits: -1
        })
    );
    let c = w.to_container_bytes().unwrap();
    for bad in [32, -32, i32::MIN] {
        let mut d = c.clone();
        put_entry_u32(&mut d, 0, entry::FRAC_BITS, bad as u32);
        fix_crc(&mut d);
        assert_eq!(
            parse_container(&d),
            Err(FormatError::BadFracBits {
                index: 0,
                dtype: DType::I8,
                frac_bits: bad
            })
        );
    }
}

#[test]
fn missing_tensor() {
    let h = small_hyper();
    for skip in [
        "embed.weight",
        "rnn.bias_hh_l1",
        "rnn.weight_ih_l0",
        "proj.bias",
    ] {
        assert_eq!(
            writer_with(h, skip, None).to_bytes(),
            Err(FormatError::MissingTensor { name: name(skip) }),
        );
    }
    // Also when reading: rename a tensor in place.
    assert_eq!(
        mutate(&small_file(), |b| {
            let e = entry_at(b, 10);
            b[e + 5] = b'B'; // proj.bias -> proj.Bias
        }),
        Err(FormatError::MissingTensor {
            name: name("proj.bias")
        })
    );
    let e = FormatError::MissingTensor {
        name: name("rnn.bias_hh_l1"),
    };
    assert_eq!(e.to_string(), "required tensor `rnn.bias_hh_l1` is missing");
}

#[test]
fn unexpected_tensor() {
    let mut w = float_writer(small_hyper());
    w.add_f32("extra", &[1], &[0.0]).unwrap();
    assert_eq!(
        w.to_bytes(),
        Err(FormatError::UnexpectedTensor {
            index: 11,
            name: name("extra")
        })
    );
    // A layer beyond num_layers is unexpected too.
    let mut w = float_writer(small_hyper());
    w.add_f32("rnn.bias_hh_l2", &[6], &[0.0; 6]).unwrap();
    assert_eq!(
        w.to_bytes(),
        Err(FormatError::UnexpectedTensor {
            index: 11,
            name: name("rnn.bias_hh_l2")
        })
    );
    // The container itself is fine.
    assert!(parse_container(&w.to_container_bytes().unwrap()).is_ok());
}

#[test]
fn wrong_tensor_dtype() {
    let h = small_hyper();
    let w = writer_with(h, "", Some(("proj.weight", &[6, 2], DType::I8)));
    assert_eq!(
        w.to_bytes(),
        Err(FormatError::WrongTensorDType {
            name: name("proj.weight"),
            found: DType::I8
        })
    );
}

#[test]
fn shape_mismatch() {
    let h = small_hyper();
    let cases: [(&str, &[u32], &[u32]); 4] = [
        ("embed.weight", &[6, 4], &[6, 3]),
        ("embed.weight", &[3, 6], &[6, 3]),
        ("rnn.weight_ih_l1", &[6, 3], &[6, 2]),
        ("proj.bias", &[6, 1], &[6]),
    ];
    for (n, found, expected) in cases {
        let w = writer_with(h, "", Some((n, found, DType::F32)));
        assert_eq!(
            w.to_bytes(),
            Err(FormatError::ShapeMismatch {
                name: name(n),
                expected: Shape::new(expected),
                found: Shape::new(found)
            })
        );
    }
    // Reading: a header whose embed_dim disagrees with the tensors.
    assert_eq!(
        mutate(&small_file(), |b| put_u32(b, header::EMBED_DIM, 4)),
        Err(FormatError::ShapeMismatch {
            name: name("embed.weight"),
            expected: Shape::new(&[6, 4]),
            found: Shape::new(&[6, 3])
        })
    );
    let e = FormatError::ShapeMismatch {
        name: name("embed.weight"),
        expected: Shape::new(&[6, 4]),
        found: Shape::new(&[6, 3]),
    };
    assert_eq!(
        e.to_string(),
        "tensor `embed.weight` has shape [6, 3] but the hyperparameters require [6, 4]"
    );
}

#[test]
fn int8_tables_are_exact() {
    // An INT8 file holds exactly its table: no float tensor rides along, whatever its
    // shape (version 1 allowed extra tensors in INT8 files; version 2 does not).
    let h = Hyper {
        weights: WeightsKind::Int8,
        ..small_hyper()
    };
    let mut w = model_writer(h);
    w.add_f32("embed.weight", &[6, 3], &[0.0; 18]).unwrap();
    assert_eq!(
        w.to_bytes(),
        Err(FormatError::UnexpectedTensor {
            index: 17,
            name: name("embed.weight")
        })
    );
    // Float tensors alone are not an INT8 model.
    let w = writer_with(small_hyper(), "", None);
    let c = w.to_container_bytes().unwrap();
    assert_eq!(
        mutate(&c, |b| put_u32(b, header::WEIGHTS_KIND, 1)),
        Err(FormatError::MissingTensor {
            name: name("rnn.input_table")
        })
    );
}

#[test]
fn dtype_mismatch() {
    let a = AlignedBytes::copy_from(&small_file());
    let m = Model::parse(&a).unwrap();
    let t = m.require("embed.weight").unwrap();
    assert!(t.f32s().is_ok());
    for (r, requested) in [
        (t.f16s().map(|_| ()), DType::F16),
        (t.i8s().map(|_| ()), DType::I8),
        (t.i16s().map(|_| ()), DType::I16),
        (t.i32s().map(|_| ()), DType::I32),
    ] {
        assert_eq!(
            r,
            Err(FormatError::DTypeMismatch {
                requested,
                found: DType::F32
            })
        );
    }
}

#[test]
fn writer_limits() {
    let h = Hyper {
        weights: WeightsKind::Int8,
        ..small_hyper()
    };
    let w = ModelWriter::new(h, &chars_for(&h)).unwrap();
    assert_eq!(w.to_bytes(), Err(FormatError::BadTensorCount { found: 0 }));
    let mut w = ModelWriter::new(h, &chars_for(&h)).unwrap();
    for i in 0..256 {
        w.add_i8(&format!("t{i}"), &[1], &[1], 0).unwrap();
    }
    assert_eq!(
        w.add_i8("t256", &[1], &[1], 0),
        Err(FormatError::BadTensorCount { found: 257 })
    );
    let c = w.to_container_bytes().unwrap();
    assert!(parse_container(&c).is_ok());
}

#[test]
fn every_error_displays_actionably() {
    let samples = [
        FormatError::BadMagic,
        FormatError::Truncated {
            expected: 100,
            actual: 10,
        },
        FormatError::BadVersion { found: 0 },
        FormatError::FutureVersion {
            found: 9,
            supported: 2,
        },
        FormatError::BadHeaderSize {
            found: 1,
            expected: 128,
        },
        FormatError::UnknownFlags { flags: 4 },
        FormatError::UnknownWeightsKind { found: 9 },
        FormatError::UnknownArch { found: 4 },
        FormatError::UnknownSpecials { bits: 16 },
        FormatError::UnknownActivation { found: 3 },
        FormatError::NonZeroHeaderReserved { offset: 80 },
        FormatError::NgramWithoutBos,
        FormatError::FileTooSmall { declared: 3 },
        FormatError::FileSizeMismatch {
            declared: 5,
            actual: 6,
        },
        FormatError::SizeOverflow {
            what: "vocab section",
        },
        FormatError::ChecksumMismatch {
            stored: 0xdead_beef,
            computed: 1,
        },
        FormatError::BadHyperparameter {
            field: "embed_dim",
            value: 0,
            min: 1,
            max: 4096,
        },
        FormatError::BadTensorCount { found: 0 },
        FormatError::BadSectionLayout {
            field: "dir_offset",
            found: 1,
            expected: 128,
        },
        FormatError::MisalignedBuffer { address_mod: 1 },
        FormatError::BadVocabUtf8 { offset: 65 },
        FormatError::VocabNotSorted {
            offset: 66,
            ch: 'b',
        },
        FormatError::DuplicateChar {
            offset: 66,
            ch: 'b',
        },
        FormatError::VocabCountMismatch {
            expected: 3,
            found: 2,
        },
        FormatError::BadTensorName {
            index: 1,
            reason: "empty",
        },
        FormatError::DuplicateTensorName { index: 2, first: 0 },
        FormatError::UnknownDType { index: 1, found: 9 },
        FormatError::BadRank { index: 1, rank: 9 },
        FormatError::NonZeroReserved { index: 1 },
        FormatError::BadDims { index: 1, dim: 2 },
        FormatError::TensorTooLarge { index: 1 },
        FormatError::ByteLengthMismatch {
            index: 1,
            expected: 4,
            found: 8,
        },
        FormatError::MisalignedTensor {
            index: 1,
            offset: 4,
        },
        FormatError::TensorOutOfBounds {
            index: 1,
            offset: 64,
            len: 4,
            data_bytes: 10,
        },
        FormatError::OverlappingTensors {
            first: 0,
            second: 1,
        },
        FormatError::BadFracBits {
            index: 1,
            dtype: DType::F32,
            frac_bits: 3,
        },
        FormatError::MissingTensor {
            name: name("proj.bias"),
        },
        FormatError::UnexpectedTensor {
            index: 1,
            name: name("x"),
        },
        FormatError::WrongTensorDType {
            name: name("x"),
            found: DType::I8,
        },
        FormatError::ShapeMismatch {
            name: name("x"),
            expected: Shape::new(&[1]),
            found: Shape::new(&[2]),
        },
        FormatError::DTypeMismatch {
            requested: DType::F32,
            found: DType::I8,
        },
    ];
    let mut seen = std::collections::HashSet::new();
    for e in samples {
        let text = e.to_string();
        assert!(text.len() > 15, "{e:?} -> {text}");
        assert!(
            seen.insert(text.clone()),
            "two variants print the same: {text}"
        );
        let _: &dyn core::error::Error = &e;
    }
    assert!(FormatError::ChecksumMismatch {
        stored: 0xdead_beef,
        computed: 1
    }
    .to_string()
    .contains("0xdeadbeef"));
    assert!(FormatError::MisalignedBuffer { address_mod: 1 }
        .to_string()
        .contains("Aligned"));
    // Errors stay small enough to return by value on microcontrollers.
    assert!(
        std::mem::size_of::<FormatError>() <= 96,
        "{}",
        std::mem::size_of::<FormatError>()
    );
}

#[test]
fn non_zero_padding() {
    let b = small_file();
    // Between the vocabulary ("abc" at 128..131) and the directory at 192.
    assert_eq!(
        mutate(&b, |b| b[131] = 1),
        Err(FormatError::NonZeroPadding { offset: 131 })
    );
    assert_eq!(
        mutate(&b, |b| b[191] = 0x80),
        Err(FormatError::NonZeroPadding { offset: 191 })
    );
    // Version 1: "a" at 64, the directory at 128.
    assert_eq!(
        mutate(&v1_example(), |b| b[127] = 2),
        Err(FormatError::NonZeroPadding { offset: 127 })
    );
    // In the data section after embed.weight (72 bytes at data offset 0, next at 128).
    let data = get_u32(&b, header::DATA_OFFSET) as usize;
    assert_eq!(
        mutate(&b, |b| b[data + 100] = 7),
        Err(FormatError::NonZeroPadding { offset: data + 100 })
    );
    // Before the first tensor, once embed.weight moves into the gap after the last one.
    let last = entry_at(&b, 10);
    let end = get_u32(&b, last + entry::OFFSET) + get_u32(&b, last + entry::BYTE_LEN);
    let r = mutate(&b, |b| {
        let moved = end.next_multiple_of(64);
        let extra = moved as usize + 72 - (b.len() - 4 - data);
        let crc_at = b.len() - 4;
        b.splice(crc_at..crc_at, std::iter::repeat_n(0u8, extra));
        let (from, to) = (data, data + moved as usize);
        let embed: Vec<u8> = b[from..from + 72].to_vec();
        b[to..to + 72].copy_from_slice(&embed);
        b[from] = 9; // a stale byte left where embed.weight was
        b[from + 1..from + 72].fill(0);
        put_entry_u32(b, 0, entry::OFFSET, moved);
        let n = b.len() as u32;
        put_u32(b, header::FILE_SIZE, n);
        put_u32(b, header::DATA_BYTES, n - 4 - data as u32);
    });
    assert_eq!(r, Err(FormatError::NonZeroPadding { offset: data }));
}

#[test]
fn non_canonical_placement_is_valid() {
    // Tensors may lie in any order as long as they are aligned, disjoint and the gaps zero.
    let b = small_file();
    let (i, j) = (
        index_of(&b, "rnn.bias_ih_l0"),
        index_of(&b, "rnn.bias_hh_l1"),
    );
    let (oi, oj) = (
        get_u32(&b, entry_at(&b, i) + entry::OFFSET),
        get_u32(&b, entry_at(&b, j) + entry::OFFSET),
    );
    let mut c = b.clone();
    put_entry_u32(&mut c, i, entry::OFFSET, oj);
    put_entry_u32(&mut c, j, entry::OFFSET, oi);
    fix_crc(&mut c);
    let a = AlignedBytes::copy_from(&c);
    let m = Model::parse(&a).unwrap();
    let orig = AlignedBytes::copy_from(&b);
    let orig = Model::parse(&orig).unwrap();
    // Both are [6] f32, so each name now sees the other's values.
    assert_eq!(
        m.require("rnn.bias_ih_l0").unwrap().f32s().unwrap(),
        orig.require("rnn.bias_hh_l1").unwrap().f32s().unwrap()
    );
    assert!(
        m.require("rnn.bias_ih_l0").unwrap().file_offset()
            > m.require("rnn.bias_hh_l1").unwrap().file_offset()
    );
}

/// The hostile files of issue 5 are each refused with their own variant (the runtime's
/// capacity errors are in `runtime/tests/hostile.rs`).
#[test]
fn hostile_files_get_distinct_errors() {
    let b = small_file();
    let misaligned = {
        let mut a = AlignedBytes::zeroed(b.len() + 1);
        a.as_mut_bytes()[1..].copy_from_slice(&b);
        Model::parse(&a[1..]).map(|_| ())
    };
    let cases = [
        (
            "sizes that overflow a 32-bit usize",
            mutate(&b, |b| put_u32(b, header::VOCAB_BYTES, u32::MAX - 10)),
        ),
        (
            "a tensor too large for a 32-bit usize",
            mutate(&b, |b| {
                let e = entry_at(b, 0);
                b[e + entry::DTYPE] = DType::I8.code();
                put_u32(b, e + entry::DIMS, 1 << 16);
                put_u32(b, e + entry::DIMS + 4, 1 << 16);
            }),
        ),
        (
            "overlapping tensors",
            mutate(&b, |b| put_entry_u32(b, 3, entry::OFFSET, 0)),
        ),
        (
            "a misaligned tensor offset",
            mutate(&b, |b| put_entry_u32(b, 1, entry::OFFSET, 32)),
        ),
        ("a misaligned buffer", misaligned),
        (
            "invalid UTF-8 in the vocabulary",
            mutate(&b, |b| b[129] = 0xff),
        ),
        (
            "a duplicate vocabulary character",
            mutate(&b, |b| b[128..131].copy_from_slice(b"abb")),
        ),
        (
            "a version from the future",
            mutate(&b, |b| put_u16(b, header::VERSION, 4)),
        ),
    ];
    let errors: Vec<(&str, FormatError)> = cases
        .into_iter()
        .map(|(what, r)| (what, r.expect_err(what)))
        .collect();
    let expected = [
        matches!(errors[0].1, FormatError::SizeOverflow { .. }),
        matches!(errors[1].1, FormatError::TensorTooLarge { .. }),
        matches!(errors[2].1, FormatError::OverlappingTensors { .. }),
        matches!(errors[3].1, FormatError::MisalignedTensor { .. }),
        matches!(errors[4].1, FormatError::MisalignedBuffer { .. }),
        matches!(errors[5].1, FormatError::BadVocabUtf8 { .. }),
        matches!(errors[6].1, FormatError::DuplicateChar { .. }),
        matches!(errors[7].1, FormatError::FutureVersion { .. }),
    ];
    for (ok, (what, e)) in expected.iter().zip(&errors) {
        assert!(ok, "{what}: {e:?}");
    }
    for (i, (a, ea)) in errors.iter().enumerate() {
        for (b, eb) in &errors[..i] {
            assert_ne!(
                std::mem::discriminant(ea),
                std::mem::discriminant(eb),
                "{a} and {b} share a variant"
            );
        }
    }
}
