//! What the fuzz targets share: aligned copies of the input, a checksum fix-up that lets
//! mutations reach the structural checks, and a walk over every accessor of a parsed model
//! that also asserts the invariants `Model::parse` promises.

#![forbid(unsafe_code)]

use mynah_format::layout::{self, header};
use mynah_format::{crc32, AlignedBytes, Arch, DType, FormatError, Model, Specials, Token};

/// The input copied to a 64-byte aligned buffer: `Model::parse` refuses misaligned
/// buffers, and a fuzzer's input is only byte aligned.
pub fn aligned(data: &[u8]) -> AlignedBytes {
    AlignedBytes::copy_from(data)
}

/// The input with its `file_size` field set to its length and a correct CRC trailer.
///
/// A random mutation almost never keeps the CRC-32 valid, so without this the fuzzer would
/// spend its time on `ChecksumMismatch`; inputs shorter than the smallest header (a
/// version-1 file's, 64 bytes) are returned as is.
pub fn with_valid_trailer(data: &[u8]) -> AlignedBytes {
    let mut a = AlignedBytes::copy_from(data);
    let b = a.as_mut_bytes();
    let n = b.len();
    let Ok(n32) = u32::try_from(n) else { return a };
    if n < layout::HEADER_SIZE_V1 + layout::CRC_SIZE {
        return a;
    }
    b[header::FILE_SIZE..header::FILE_SIZE + 4].copy_from_slice(&n32.to_le_bytes());
    let body = n - layout::CRC_SIZE;
    let crc = crc32(&b[..body]);
    b[body..].copy_from_slice(&crc.to_le_bytes());
    a
}

/// Errors only the tensor-set step (after the container checks) may report.
fn is_tensor_set_error(e: &FormatError) -> bool {
    matches!(
        e,
        FormatError::MissingTensor { .. }
            | FormatError::UnexpectedTensor { .. }
            | FormatError::WrongTensorDType { .. }
            | FormatError::ShapeMismatch { .. }
    )
}

/// Parses `bytes`, checks `parse` and `parse_container` agree, and on success walks every
/// accessor of the model. Returns the model if `parse` accepted it.
pub fn check_parse(bytes: &[u8]) -> Option<Model<'_>> {
    let full = Model::parse(bytes);
    let container = Model::parse_container(bytes);
    match (&full, &container) {
        (Ok(_), Ok(_)) => {}
        (Ok(_), Err(e)) => panic!("parse accepted what parse_container refused: {e}"),
        (Err(e), Ok(_)) => assert!(is_tensor_set_error(e), "container ok but {e:?}"),
        (Err(a), Err(b)) => assert_eq!(a, b, "parse and parse_container disagree"),
    }
    if let Err(e) = &full {
        // Display must never panic, whatever the field values.
        assert!(!e.to_string().is_empty());
    }
    if let Ok(m) = &container {
        exercise(m, bytes);
    }
    let m = full.ok()?;
    assert_eq!(m.check_tensors(), Ok(()));
    Some(m)
}

/// Calls every accessor of `m` and checks the answers agree with each other.
pub fn exercise(m: &Model<'_>, bytes: &[u8]) {
    let h = m.hyper();
    assert_eq!(h.validate(), Ok(()));
    // Version 1 still loads, as a GRU with <PAD>, <BOS>, <EOS>; writers write the newest.
    let version = m.version();
    assert!(
        (layout::MIN_VERSION..=layout::VERSION).contains(&version),
        "version {version}"
    );
    if version == 1 {
        assert_eq!((h.arch, h.specials), (Arch::GRU, Specials::DEFAULT));
    }
    if let Arch::Ngram { context, .. } = h.arch {
        assert!((1..=mynah_format::MAX_CONTEXT).contains(&context));
        assert_eq!(h.num_layers, 1);
        assert!(h.specials.bos().is_some(), "an n-gram MLP without <BOS>");
    }
    assert_eq!(m.file_size(), bytes.len());
    assert_eq!(m.bytes().len(), bytes.len());
    let _ = m.checksum();
    let _ = format!("{m:?} {} {}", h.arch, h.specials);

    let v = m.vocab();
    assert_eq!(v.len(), h.vocab_size as usize);
    assert!(!v.is_empty());
    assert_eq!(v.specials(), h.specials);
    assert_eq!((v.bos(), v.eos()), (h.specials.bos(), h.specials.eos()));
    assert_eq!(v.as_str().chars().count(), v.char_count());
    let first = v.first_char_id();
    assert_eq!(first, h.specials.count());
    let mut count = 0usize;
    for (i, c) in v.chars().enumerate() {
        let id = first + i as u32;
        assert_eq!(v.id_of(c), Some(id), "id_of({c:?})");
        assert_eq!(v.char_of(id), Some(c), "char_of({id})");
        assert_eq!(v.token(id), Some(Token::Char(c)), "token({id})");
        count += 1;
    }
    assert_eq!(count + first as usize, v.len());
    // The specials take the first ids, in the order <PAD>, <BOS>, <EOS>, <UNK>.
    let mut specials = h.specials.iter();
    for id in 0..first {
        assert_eq!(v.char_of(id), None);
        let s = specials
            .next()
            .expect("as many specials as ids below the first char");
        assert_eq!(v.token(id), Some(Token::Special(s)), "token({id})");
        assert_eq!(h.specials.id(s), Some(id));
    }
    assert_eq!(specials.next(), None);
    assert_eq!(v.char_of(h.vocab_size), None);
    assert_eq!(v.token(h.vocab_size), None);
    assert_eq!(v.char_of(u32::MAX), None);
    assert_eq!(v.token(u32::MAX), None);
    for c in ['\0', 'a', '\u{7f}', '\u{80}', 'é', '\u{FFFD}', char::MAX] {
        if let Some(id) = v.id_of(c) {
            assert_eq!(v.char_of(id), Some(c));
        }
    }

    let mut n = 0usize;
    let mut prev_names: Vec<&str> = Vec::new();
    for t in m.tensors() {
        n += 1;
        let name = t.name();
        assert!((1..=layout::MAX_NAME_LEN).contains(&name.len()), "{name:?}");
        assert!(!prev_names.contains(&name), "duplicate {name}");
        prev_names.push(name);
        assert_eq!(m.tensor(name), Some(t));
        let shape = t.shape();
        assert!((1..=layout::MAX_RANK).contains(&shape.len()));
        let numel: usize = shape.iter().map(|&d| d as usize).product();
        assert_eq!(t.numel(), numel);
        assert_eq!(t.bytes().len(), numel * t.dtype().size());
        assert_eq!(t.file_offset() % layout::ALIGN, 0);
        assert!(t.file_offset() + t.bytes().len() <= bytes.len());
        let _ = (t.frac_bits(), format!("{t:?}"));
        check_views(&t);
    }
    assert_eq!(n, m.tensor_count(), "an entry vanished from tensors()");
    assert_eq!(m.tensor(""), None);
    // A hyphen is not allowed in tensor names, so no valid file has this one.
    assert_eq!(m.tensor("no-such-tensor"), None);
    // Every tensor the architecture's table names (FLOAT and INT8), looked up.
    for int8 in [false, true] {
        for spec in layout::table(h.arch, int8).specs {
            for k in 0..h.num_layers {
                if spec.layers.has(k, h.num_layers) {
                    let _ = m.tensor(&mynah_format::tensor_name(spec, k));
                }
            }
        }
    }
}

/// The typed view of the tensor's own dtype succeeds with `numel` elements (touching every
/// one of them); every other view is `DTypeMismatch`.
fn check_views(t: &mynah_format::Tensor<'_>) {
    let numel = t.numel();
    let mut sum = 0f64;
    for want in DType::ALL {
        let len = match want {
            DType::F32 => t.f32s().map(|s| {
                sum += s.iter().map(|&x| f64::from(x)).sum::<f64>();
                s.len()
            }),
            DType::F16 => t.f16s().map(|s| {
                sum += s.iter().map(|&x| f64::from(x.to_f32())).sum::<f64>();
                s.len()
            }),
            DType::I8 => t.i8s().map(|s| {
                sum += s.iter().map(|&x| f64::from(x)).sum::<f64>();
                s.len()
            }),
            DType::I16 => t.i16s().map(|s| {
                sum += s.iter().map(|&x| f64::from(x)).sum::<f64>();
                s.len()
            }),
            DType::I32 => t.i32s().map(|s| {
                sum += s.iter().map(|&x| f64::from(x)).sum::<f64>();
                s.len()
            }),
        };
        if want == t.dtype() {
            assert_eq!(len, Ok(numel), "{} view of {}", want, t.name());
        } else {
            assert_eq!(
                len,
                Err(FormatError::DTypeMismatch {
                    requested: want,
                    found: t.dtype()
                })
            );
        }
    }
    std::hint::black_box(sum);
}
