//! Golden streams: each checked-in quantized fixture (one INT8 file per architecture, an
//! INT4 GRU and a factored INT4 LSTM), a seed, a prompt and sampling options give exactly
//! the characters (and logits) recorded in its `.golden` file in `tests/fixtures/`.
//!
//! Run on x86_64 and on a 32-bit target (`cargo test -p mynah-runtime --target
//! i686-unknown-linux-gnu --test golden`): the runtime is integer-only, so both must
//! agree bit for bit. Regenerate after a deliberate change with `MYNAH_WRITE_GOLDEN=1`.

use mynah_format::{AlignedBytes, Model};
use mynah_runtime::{AnyModel, Generator, Next, Pcg32, SampleOptions, Stepper, Temperature};

/// The fixtures (in `tests/fixtures/`) and their golden files: one per architecture, and
/// the GRU also as a format-version-1 file, which must give the same streams.
const FIXTURES: &[(&str, &str)] = &[
    ("tiny-int8", "tiny-int8"),
    ("tiny-int8-v1", "tiny-int8"),
    ("tiny-lstm-int8", "tiny-lstm-int8"),
    ("tiny-rnn-int8", "tiny-rnn-int8"),
    ("tiny-ngram-int8", "tiny-ngram-int8"),
    ("tiny-int4", "tiny-int4"),
    ("tiny-lstm-factored-int4", "tiny-lstm-factored-int4"),
];

/// Capacities that hold every fixture.
type Tiny<'a> = AnyModel<'a, 32, 32, 2, 8>;

fn fixture(name: &str) -> AlignedBytes {
    let path = format!(
        "{}/../tests/fixtures/{name}.mynah",
        env!("CARGO_MANIFEST_DIR")
    );
    AlignedBytes::copy_from(&std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
}

/// (seed, temperature in thousandths, top-k, prompt)
const CASES: &[(u64, u32, u32, &str)] = &[
    (1, 800, 0, "the "),
    (2, 1000, 0, ""),
    (3, 0, 0, "a"),
    (4, 1200, 5, "mynah "),
    (5, 500, 2, "zz, "),
    (6, 2000, 0, "."),
];

/// Records per case and characters per record at most.
const RECORDS: usize = 4;
const MAX_LEN: usize = 60;

/// FNV-1a over bytes.
fn fnv(h: &mut u64, bytes: &[u8]) {
    for &b in bytes {
        *h ^= u64::from(b);
        *h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
}

/// One case: the records joined with '|' (for <EOS>) or '~' (length cut), and a hash of
/// every logit vector the sampler saw.
fn run_case(m: &Tiny<'_>, seed: u64, milli: u32, top_k: u32, prompt: &str) -> (String, u64) {
    let mut gen = Generator::new(m);
    let mut rng = Pcg32::new(seed);
    let mut opts = SampleOptions::new(Temperature::from_milli(milli), &m.vocab(), m.records());
    opts.top_k = top_k;
    let mut out = String::new();
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for _ in 0..RECORDS {
        gen.reset();
        gen.prime(prompt).unwrap();
        out.push_str(prompt);
        let mut end = '~';
        for _ in 0..MAX_LEN {
            for l in gen.logits() {
                fnv(&mut h, &l.to_le_bytes());
            }
            match gen.next(&opts, &mut rng).unwrap() {
                Next::Char(c) => out.push(c),
                Next::Eos => {
                    end = '|';
                    break;
                }
            }
        }
        out.push(end);
    }
    (out, h)
}

#[test]
fn golden_streams() {
    for &(name, golden) in FIXTURES {
        golden_streams_of(name, golden);
    }
}

fn golden_streams_of(name: &str, golden: &str) {
    let bytes = fixture(name);
    let model = Model::parse(&bytes).unwrap();
    let m = Tiny::new(&model).unwrap();
    let mut lines = Vec::new();
    for &(seed, milli, top_k, prompt) in CASES {
        let prompt = if m.vocab().bos().is_none() && prompt.is_empty() {
            "a" // a model without <BOS> starts from text
        } else {
            prompt
        };
        let (text, hash) = run_case(&m, seed, milli, top_k, prompt);
        lines.push(format!(
            "{seed}\t{milli}\t{top_k}\t{prompt}\t{hash:016x}\t{text}"
        ));
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../tests/fixtures/{golden}.golden"));
    if std::env::var_os("MYNAH_WRITE_GOLDEN").is_some() {
        let mut body = String::from(
            "# seed\ttemperature (thousandths)\ttop-k\tprompt\tFNV-1a of all logits\trecords ('|' = <EOS>, '~' = 60-char cut)\n",
        );
        for l in &lines {
            body.push_str(l);
            body.push('\n');
        }
        std::fs::write(&path, body).unwrap();
        return;
    }
    let golden = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}.golden: {e}"));
    let expected: Vec<&str> = golden.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(expected.len(), lines.len(), "number of cases");
    for (want, got) in expected.iter().zip(&lines) {
        assert_eq!(
            want,
            got,
            "{name}: golden stream differs (target {})",
            std::env::consts::ARCH
        );
    }
}

#[test]
fn greedy_is_deterministic_without_the_rng() {
    for &(name, _) in FIXTURES {
        let bytes = fixture(name);
        let model = Model::parse(&bytes).unwrap();
        let m = Tiny::new(&model).unwrap();
        let (a, ha) = run_case(&m, 1, 0, 0, "the ");
        let (b, hb) = run_case(&m, 999, 0, 0, "the ");
        assert_eq!((a, ha), (b, hb), "{name}");
    }
}
