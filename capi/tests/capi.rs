//! The C ABI from Rust: every status code, the messages, and text equal to the runtime's
//! `Generator` (what `mynah sample` runs) for every architecture.

use std::ffi::CStr;
use std::ptr;

use mynah_capi::*;
use mynah_format::{AlignedBytes, Model, Specials};
use mynah_runtime::{AnyModel, Generator, Next, Pcg32, SampleOptions, Stepper, Temperature};

fn fixture(name: &str) -> AlignedBytes {
    let path = format!(
        "{}/../tests/fixtures/{name}.mynah",
        env!("CARGO_MANIFEST_DIR")
    );
    AlignedBytes::copy_from(&std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
}

/// `n` bytes of 8-aligned memory.
fn mem(n: usize) -> Vec<u64> {
    vec![0x5555_5555_5555_5555; n.div_ceil(8)]
}

/// A loaded model in its own memory (kept alive by the returned values).
struct Loaded {
    _file: AlignedBytes,
    _mem: Vec<u64>,
    m: *mut mynah_model,
    status: mynah_status,
}

fn load_bytes(file: AlignedBytes) -> Loaded {
    let mut memory = mem(mynah_model_bytes());
    let mut m = ptr::null_mut();
    let status = unsafe {
        mynah_model_load(
            memory.as_mut_ptr().cast(),
            mynah_model_bytes(),
            file.as_ptr(),
            file.len(),
            &mut m,
        )
    };
    Loaded {
        _file: file,
        _mem: memory,
        m,
        status,
    }
}

fn load(name: &str) -> Loaded {
    load_bytes(fixture(name))
}

struct Opened {
    _mem: Vec<u64>,
    s: *mut mynah_stream,
}

fn open(l: &Loaded) -> Opened {
    let mut n = 0;
    assert_eq!(unsafe { mynah_stream_bytes(l.m, &mut n) }, MYNAH_OK);
    let mut memory = mem(n);
    let mut s = ptr::null_mut();
    let st = unsafe { mynah_stream_init(memory.as_mut_ptr().cast(), n, l.m, &mut s) };
    assert_eq!(st, MYNAH_OK);
    Opened { _mem: memory, s }
}

fn model_message(m: *const mynah_model) -> String {
    let mut buf = [0u8; 400];
    let n = unsafe { mynah_model_message(m, buf.as_mut_ptr().cast(), buf.len()) };
    let s = CStr::from_bytes_until_nul(&buf)
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(n, s.len());
    s
}

fn stream_message(s: *const mynah_stream) -> String {
    let mut buf = [0u8; 400];
    unsafe { mynah_stream_message(s, buf.as_mut_ptr().cast(), buf.len()) };
    CStr::from_bytes_until_nul(&buf)
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned()
}

/// What `mynah sample` prints (its loop, over the runtime's `Generator`).
fn reference(
    name: &str,
    seed: u64,
    milli: u32,
    top_k: u32,
    prime: &str,
    len: usize,
    count: usize,
) -> String {
    let bytes = fixture(name);
    let model = Model::parse(&bytes).unwrap();
    let m = AnyModel::<128, 96, 2, 8>::new(&model).unwrap();
    let mut gen = Generator::new(&m);
    let mut rng = Pcg32::new(seed);
    let mut opts = SampleOptions::new(Temperature::from_milli(milli), &m.vocab(), m.records());
    opts.top_k = top_k;
    let mut out = String::new();
    for i in 0..count {
        if i > 0 && !m.records() {
            out.push_str("----\n");
        }
        gen.reset();
        gen.prime(prime).unwrap();
        out.push_str(prime);
        for _ in 0..len {
            match gen.next(&opts, &mut rng).unwrap() {
                Next::Char(c) => out.push(c),
                Next::Eos => break,
            }
        }
        if !out.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

/// The same through the C ABI, with a small output buffer so that `generate` is called
/// again and again.
fn through_capi(
    name: &str,
    seed: u64,
    milli: u32,
    top_k: u32,
    prime: &str,
    len: u32,
    count: usize,
) -> String {
    let l = load(name);
    assert_eq!(l.status, MYNAH_OK);
    let o = open(&l);
    let mut info = mynah_info::default();
    assert_eq!(unsafe { mynah_model_info(l.m, &mut info) }, MYNAH_OK);
    unsafe {
        assert_eq!(mynah_stream_seed(o.s, seed), MYNAH_OK);
        assert_eq!(mynah_stream_sampling(o.s, milli, top_k), MYNAH_OK);
    }
    let mut out = Vec::new();
    for i in 0..count {
        if i > 0 && info.records == 0 {
            out.extend_from_slice(b"----\n");
        }
        unsafe {
            assert_eq!(mynah_stream_reset(o.s), MYNAH_OK);
            assert_eq!(
                mynah_stream_prime(o.s, prime.as_ptr().cast(), prime.len()),
                MYNAH_OK
            );
        }
        out.extend_from_slice(prime.as_bytes());
        let mut left = len;
        while left > 0 {
            let mut buf = [0u8; 13];
            let (mut written, mut chars) = (0, 0);
            let st = unsafe {
                mynah_stream_generate(
                    o.s,
                    left,
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    &mut written,
                    &mut chars,
                )
            };
            out.extend_from_slice(&buf[..written]);
            left -= chars;
            if st == MYNAH_EOS {
                break;
            }
            assert_eq!(st, MYNAH_OK);
        }
        if out.last() != Some(&b'\n') {
            out.push(b'\n');
        }
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn text_equals_the_generator_for_every_architecture() {
    for (name, prime) in [
        ("tiny-int8", "the "),
        ("tiny-int8-v1", ""),
        ("tiny-lstm-int8", "a"),
        ("tiny-rnn-int8", "mynah "),
        ("tiny-ngram-int8", "zz, "),
        ("shakespeare-1x128.int8", "ROMEO:"),
    ] {
        for (seed, milli, top_k) in [(1, 800, 0), (2, 0, 0), (3, 1200, 5)] {
            let want = reference(name, seed, milli, top_k, prime, 150, 3);
            let got = through_capi(name, seed, milli, top_k, prime, 150, 3);
            assert_eq!(got, want, "{name} seed {seed} T {milli} k {top_k}");
        }
    }
}

#[test]
fn every_status_has_a_message() {
    let mut seen = std::collections::HashSet::new();
    for s in ALL_STATUSES {
        let m = unsafe { CStr::from_ptr(mynah_status_message(s)) }
            .to_str()
            .unwrap();
        assert!(!m.is_empty() && m != "unknown status code", "{s}");
        assert!(seen.insert(m), "{s}: message shared with another code");
    }
    let m = unsafe { CStr::from_ptr(mynah_status_message(-99)) };
    assert_eq!(m.to_str().unwrap(), "unknown status code");
}

const ALL_STATUSES: [mynah_status; 15] = [
    MYNAH_OK,
    MYNAH_EOS,
    MYNAH_ERR_NULL,
    MYNAH_ERR_ALIGNMENT,
    MYNAH_ERR_BUFFER_TOO_SMALL,
    MYNAH_ERR_CORRUPT_FILE,
    MYNAH_ERR_NOT_QUANTIZED,
    MYNAH_ERR_UNSUPPORTED_MODEL,
    MYNAH_ERR_UNKNOWN_CHAR,
    MYNAH_ERR_BAD_UTF8,
    MYNAH_ERR_BAD_TEMPERATURE,
    MYNAH_ERR_NEEDS_PRIME,
    MYNAH_ERR_BAD_TOKEN,
    MYNAH_ERR_BAD_HANDLE,
    MYNAH_ERR_BAD_INDEX,
];

#[test]
fn load_errors() {
    let file = fixture("tiny-int8");
    let mut memory = mem(MYNAH_MODEL_BYTES + 8);
    let mut m = ptr::null_mut();
    let base: *mut u8 = memory.as_mut_ptr().cast();
    unsafe {
        // NULL arguments.
        assert_eq!(
            mynah_model_load(ptr::null_mut(), 4096, file.as_ptr(), file.len(), &mut m),
            MYNAH_ERR_NULL
        );
        assert_eq!(
            mynah_model_load(base.cast(), 4096, ptr::null(), 0, &mut m),
            MYNAH_ERR_NULL
        );
        // Misaligned handle memory, short handle memory.
        assert_eq!(
            mynah_model_load(
                base.add(4).cast(),
                MYNAH_MODEL_BYTES,
                file.as_ptr(),
                file.len(),
                &mut m
            ),
            MYNAH_ERR_ALIGNMENT
        );
        assert_eq!(
            mynah_model_load(
                base.cast(),
                mynah_model_bytes() - 1,
                file.as_ptr(),
                file.len(),
                &mut m
            ),
            MYNAH_ERR_BUFFER_TOO_SMALL
        );
        assert!(m.is_null());
    }
    // A misaligned file.
    let mut shifted = vec![0u32; file.len() / 4 + 2];
    let sb: &mut [u8] = bytemuck_bytes(&mut shifted);
    sb[1..1 + file.len()].copy_from_slice(&file);
    let st = unsafe {
        mynah_model_load(
            base.cast(),
            MYNAH_MODEL_BYTES,
            sb.as_ptr().add(1),
            file.len(),
            &mut m,
        )
    };
    assert_eq!(st, MYNAH_ERR_ALIGNMENT);
    assert!(
        model_message(m).contains("4-byte aligned"),
        "{}",
        model_message(m)
    );

    // A corrupt file: one flipped bit, caught by the checksum; the message says so.
    let mut bad = file.to_vec();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x10;
    let l = load_bytes(AlignedBytes::copy_from(&bad));
    assert_eq!(l.status, MYNAH_ERR_CORRUPT_FILE);
    let msg = model_message(l.m);
    assert!(
        msg.to_lowercase().contains("crc") || msg.contains("checksum"),
        "{msg}"
    );
    // Not a model at all.
    let l = load_bytes(AlignedBytes::copy_from(b"hello, world"));
    assert_eq!(l.status, MYNAH_ERR_CORRUPT_FILE);
    let mut info = mynah_info::default();
    assert_eq!(
        unsafe { mynah_model_info(l.m, &mut info) },
        MYNAH_ERR_CORRUPT_FILE
    );
    let mut n = 0;
    assert_eq!(
        unsafe { mynah_stream_bytes(l.m, &mut n) },
        MYNAH_ERR_CORRUPT_FILE
    );
}

/// A synthetic GRU with these special tokens, as a FLOAT or an INT8 file.
fn synthetic(specials: Specials, int8: bool) -> Vec<u8> {
    use mynah_quant::{quantize, synthetic};
    let mut spec = synthetic::fixture_spec(mynah_format::Arch::GRU);
    spec.specials = specials;
    spec.records = false;
    let float = synthetic::synthetic_model(&spec);
    if int8 {
        let opts = quantize::QuantizeOptions {
            bias_correction: false,
            ..quantize::QuantizeOptions::default()
        };
        quantize::quantize_model(&float, &[], &opts).unwrap()
    } else {
        synthetic::float_file(&float).unwrap()
    }
}

#[test]
fn a_model_without_bos_needs_a_prime() {
    let l = load_bytes(AlignedBytes::copy_from(&synthetic(Specials::NONE, true)));
    assert_eq!(l.status, MYNAH_OK);
    let o = open(&l);
    let mut t = 0;
    let mut buf = [0u8; 64];
    let (mut w, mut c) = (0, 0);
    unsafe {
        assert_eq!(mynah_stream_next(o.s, &mut t), MYNAH_ERR_NEEDS_PRIME);
        assert!(stream_message(o.s).contains("<BOS>"));
        let st = mynah_stream_generate(o.s, 5, buf.as_mut_ptr().cast(), 64, &mut w, &mut c);
        assert_eq!(st, MYNAH_ERR_NEEDS_PRIME);
        assert_eq!(mynah_stream_prime(o.s, "a".as_ptr().cast(), 1), MYNAH_OK);
        let st = mynah_stream_generate(o.s, 5, buf.as_mut_ptr().cast(), 64, &mut w, &mut c);
        assert_eq!((st, c), (MYNAH_OK, 5));
    }
}

fn bytemuck_bytes(v: &mut [u32]) -> &mut [u8] {
    let len = v.len() * 4;
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().cast(), len) }
}

#[test]
fn float_and_unsupported_models() {
    // A float file: the card works, streams do not.
    let l = load_bytes(AlignedBytes::copy_from(&synthetic(
        Specials::DEFAULT,
        false,
    )));
    assert_eq!(l.status, MYNAH_ERR_NOT_QUANTIZED);
    let mut info = mynah_info::default();
    assert_eq!(unsafe { mynah_model_info(l.m, &mut info) }, MYNAH_OK);
    assert_eq!((info.weights, info.runnable), (0, 0));
    assert!(model_message(l.m).contains("INT8"));
    let mut memory = mem(1 << 16);
    let mut s = ptr::null_mut();
    let st = unsafe { mynah_stream_init(memory.as_mut_ptr().cast(), 1 << 16, l.m, &mut s) };
    assert_eq!(st, MYNAH_ERR_NOT_QUANTIZED);

    // A valid INT8 file wider than the runtime's 512 columns.
    let l = load_bytes(zero_int8_file(513));
    assert_eq!(l.status, MYNAH_ERR_UNSUPPORTED_MODEL);
    assert!(model_message(l.m).contains("513"), "{}", model_message(l.m));
    let l = load_bytes(zero_int8_file(512));
    assert_eq!(l.status, MYNAH_OK);
}

/// An INT8 GRU of one layer over "a" with every tensor the runtime reads, all zero.
fn zero_int8_file(hidden: u32) -> AlignedBytes {
    use mynah_format::{Hyper, ModelWriter, WeightsKind};
    use mynah_runtime::names;
    let hyper = Hyper {
        vocab_size: 4,
        embed_dim: 1,
        hidden_dim: hidden,
        num_layers: 1,
        records: false,
        weights: WeightsKind::Int8,
        arch: mynah_format::Arch::GRU,
        specials: Specials::DEFAULT,
        factored: false,
    };
    let (v, g) = (hyper.vocab_size, 3 * hidden);
    let mut w = ModelWriter::new(hyper, &['a']).unwrap();
    w.add_i16(names::INPUT_TABLE, &[v, g], &vec![0; (v * g) as usize], 0)
        .unwrap();
    for (n, rows) in [(names::hh(0), g), (names::proj(), v)] {
        let weights = vec![0; (rows * hidden) as usize];
        w.add_i8(n.weight.as_str(), &[rows, hidden], &weights, 0)
            .unwrap();
        w.add_i32(n.mult.as_str(), &[rows], &vec![0; rows as usize], 0)
            .unwrap();
        w.add_i8(n.shift.as_str(), &[rows], &vec![0; rows as usize], 0)
            .unwrap();
        w.add_i32(n.bias.as_str(), &[rows], &vec![0; rows as usize], 16)
            .unwrap();
    }
    AlignedBytes::copy_from(&w.to_bytes().unwrap())
}

#[test]
fn model_card_and_tensors() {
    let l = load("shakespeare-1x128.int8");
    let mut info = mynah_info::default();
    assert_eq!(unsafe { mynah_model_info(l.m, &mut info) }, MYNAH_OK);
    assert_eq!(
        (info.arch, info.vocab_size, info.hidden_dim, info.num_layers),
        (0, 68, 128, 1)
    );
    assert_eq!((info.state_bytes, info.scratch_bytes), (256, 2848));
    assert_eq!((info.first_char_id, info.bos, info.eos), (3, 1, 2));
    assert_eq!(info.file_size, 115_028);
    let mut n = 0;
    assert_eq!(unsafe { mynah_stream_bytes(l.m, &mut n) }, MYNAH_OK);
    assert_eq!(n as u32, info.stream_bytes);
    let (mut p, mut len) = (ptr::null(), 0);
    assert_eq!(
        unsafe { mynah_model_vocab(l.m, &mut p, &mut len) },
        MYNAH_OK
    );
    let vocab = std::str::from_utf8(unsafe { std::slice::from_raw_parts(p, len) }).unwrap();
    assert_eq!(vocab.chars().count(), 65);
    let mut t = mynah_tensor::default();
    assert_eq!(unsafe { mynah_model_tensor(l.m, 1, &mut t) }, MYNAH_OK);
    assert_eq!(
        CStr::from_bytes_until_nul(&t.name)
            .unwrap()
            .to_str()
            .unwrap(),
        "rnn.weight_hh_l0"
    );
    assert_eq!(
        CStr::from_bytes_until_nul(&t.dtype)
            .unwrap()
            .to_str()
            .unwrap(),
        "i8"
    );
    assert_eq!((t.rank, t.dims, t.bytes), (2, [384, 128, 0, 0], 49152));
    assert_eq!(
        unsafe { mynah_model_tensor(l.m, 9, &mut t) },
        MYNAH_ERR_BAD_INDEX
    );
    let mut c = 0;
    assert_eq!(unsafe { mynah_model_char(l.m, 3, &mut c) }, MYNAH_OK);
    assert_eq!(c, u32::from('\n'));
    assert_eq!(
        unsafe { mynah_model_char(l.m, 1, &mut c) },
        MYNAH_ERR_BAD_TOKEN
    );
    assert_eq!(
        unsafe { mynah_model_char(l.m, 68, &mut c) },
        MYNAH_ERR_BAD_TOKEN
    );
}

#[test]
fn stream_errors() {
    let l = load("shakespeare-1x128.int8");
    let mut n = 0;
    assert_eq!(unsafe { mynah_stream_bytes(l.m, &mut n) }, MYNAH_OK);
    let mut memory = mem(n + 8);
    let base: *mut u8 = memory.as_mut_ptr().cast();
    let mut s = ptr::null_mut();
    unsafe {
        assert_eq!(
            mynah_stream_init(base.cast(), n - 1, l.m, &mut s),
            MYNAH_ERR_BUFFER_TOO_SMALL
        );
        assert_eq!(
            mynah_stream_init(base.add(4).cast(), n, l.m, &mut s),
            MYNAH_ERR_ALIGNMENT
        );
        assert_eq!(
            mynah_stream_init(ptr::null_mut(), n, l.m, &mut s),
            MYNAH_ERR_NULL
        );
        assert_eq!(
            mynah_stream_init(base.cast(), n, ptr::null(), &mut s),
            MYNAH_ERR_NULL
        );
        // Memory that is no model handle.
        let junk = mem(MYNAH_MODEL_BYTES);
        assert_eq!(
            mynah_stream_init(base.cast(), n, junk.as_ptr().cast(), &mut s),
            MYNAH_ERR_BAD_HANDLE
        );
        assert_eq!(
            mynah_stream_reset(junk.as_ptr() as *mut mynah_stream),
            MYNAH_ERR_BAD_HANDLE
        );
        assert_eq!(mynah_stream_reset(ptr::null_mut()), MYNAH_ERR_NULL);
    }
    let o = open(&l);
    unsafe {
        assert_eq!(
            mynah_stream_sampling(o.s, MYNAH_MAX_TEMPERATURE_MILLI + 1, 0),
            MYNAH_ERR_BAD_TEMPERATURE
        );
        assert_eq!(
            mynah_stream_sampling(o.s, MYNAH_MAX_TEMPERATURE_MILLI, 0),
            MYNAH_OK
        );
        let prime = "ROMEO: €";
        assert_eq!(
            mynah_stream_prime(o.s, prime.as_ptr().cast(), prime.len()),
            MYNAH_ERR_UNKNOWN_CHAR
        );
        let msg = stream_message(o.s);
        assert!(msg.contains("'€'") && msg.contains("position 7"), "{msg}");
        let bad = [b'a', 0xff];
        assert_eq!(
            mynah_stream_prime(o.s, bad.as_ptr().cast(), 2),
            MYNAH_ERR_BAD_UTF8
        );
        assert!(stream_message(o.s).contains("UTF-8"));
        assert_eq!(mynah_stream_prime(o.s, ptr::null(), 0), MYNAH_OK);
        assert_eq!(stream_message(o.s), "ok");
        assert_eq!(mynah_stream_prime(o.s, ptr::null(), 3), MYNAH_ERR_NULL);
        assert_eq!(mynah_stream_feed(o.s, 68), MYNAH_ERR_BAD_TOKEN);
        assert!(stream_message(o.s).contains("not below vocab_size 68"));
        assert_eq!(mynah_stream_feed(o.s, 5), MYNAH_OK);
        let mut t = 0;
        assert_eq!(mynah_stream_next(o.s, &mut t), MYNAH_OK);
        assert!((3..68).contains(&t));
        let (mut w, mut c) = (1, 1);
        assert_eq!(
            mynah_stream_generate(o.s, 10, ptr::null_mut(), 5, &mut w, &mut c),
            MYNAH_ERR_NULL
        );
        // No room for a character: nothing generated, not an error.
        let mut small = [0u8; 3];
        assert_eq!(
            mynah_stream_generate(o.s, 10, small.as_mut_ptr().cast(), 3, &mut w, &mut c),
            MYNAH_OK
        );
        assert_eq!((w, c), (0, 0));
    }
}

#[test]
fn records_models_end_with_eos() {
    for name in [
        "tiny-ngram-int8",
        "tiny-rnn-int8",
        "tiny-lstm-int8",
        "tiny-int8",
    ] {
        let l = load(name);
        let mut info = mynah_info::default();
        assert_eq!(unsafe { mynah_model_info(l.m, &mut info) }, MYNAH_OK);
        assert_eq!(info.records, 1, "{name}");
        let o = open(&l);
        let mut saw_eos = false;
        for _ in 0..20 {
            let mut buf = [0u8; 4096];
            let (mut w, mut c) = (0, 0);
            let st = unsafe {
                mynah_stream_reset(o.s);
                mynah_stream_generate(
                    o.s,
                    1000,
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    &mut w,
                    &mut c,
                )
            };
            assert!(st == MYNAH_OK || st == MYNAH_EOS);
            saw_eos |= st == MYNAH_EOS;
        }
        assert!(saw_eos, "{name}: a records model ends its records");
        let mut t = 0;
        let mut eos = false;
        for _ in 0..2000 {
            match unsafe { mynah_stream_next(o.s, &mut t) } {
                MYNAH_EOS => {
                    assert_eq!(t, info.eos);
                    eos = true;
                    break;
                }
                st => assert_eq!(st, MYNAH_OK),
            }
        }
        assert!(eos, "{name}");
    }
}
