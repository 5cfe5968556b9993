//! Golden streams: the checked-in INT8 fixture, a seed, a prompt and sampling options give
//! exactly the characters (and logits) recorded in `tests/fixtures/tiny-int8.golden`.
//!
//! Run on x86_64 and on a 32-bit target (`cargo test -p mynah-runtime --target
//! i686-unknown-linux-gnu --test golden`): the runtime is integer-only, so both must
//! agree bit for bit. Regenerate after a deliberate change with `MYNAH_WRITE_GOLDEN=1`.

use mynah_format::{Aligned, Model};
use mynah_runtime::{Generator, IntModel, Next, Pcg32, SampleOptions, Temperature};

static FIXTURE: &Aligned<[u8]> = &Aligned(*include_bytes!("../../tests/fixtures/tiny-int8.mynah"));
const GOLDEN: &str = "../tests/fixtures/tiny-int8.golden";

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
fn run_case(
    gru: &IntModel<'_, 32, 32, 2>,
    seed: u64,
    milli: u32,
    top_k: u32,
    prompt: &str,
) -> (String, u64) {
    let mut gen = Generator::new(gru);
    let mut rng = Pcg32::new(seed);
    let opts = SampleOptions {
        temperature: Temperature::from_milli(milli),
        top_k,
        allow_eos: gru.records(),
    };
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
            match gen.next(&opts, &mut rng) {
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
    let model = Model::parse(&FIXTURE.0).unwrap();
    let gru = IntModel::<32, 32, 2>::new(&model).unwrap();
    let mut lines = Vec::new();
    for &(seed, milli, top_k, prompt) in CASES {
        let (text, hash) = run_case(&gru, seed, milli, top_k, prompt);
        lines.push(format!(
            "{seed}\t{milli}\t{top_k}\t{prompt}\t{hash:016x}\t{text}"
        ));
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(GOLDEN);
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
    let golden = std::fs::read_to_string(&path).expect("tests/fixtures/tiny-int8.golden");
    let expected: Vec<&str> = golden.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(expected.len(), lines.len(), "number of cases");
    for (want, got) in expected.iter().zip(&lines) {
        assert_eq!(
            want,
            got,
            "golden stream differs (target {})",
            std::env::consts::ARCH
        );
    }
}

#[test]
fn greedy_is_deterministic_without_the_rng() {
    let model = Model::parse(&FIXTURE.0).unwrap();
    let gru = IntModel::<32, 32, 2>::new(&model).unwrap();
    let (a, ha) = run_case(&gru, 1, 0, 0, "the ");
    let (b, hb) = run_case(&gru, 999, 0, 0, "the ");
    assert_eq!((a, ha), (b, hb));
}
