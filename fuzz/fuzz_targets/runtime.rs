//! The integer runtime on arbitrary files: parse, `IntModel::new`, then a few steps and
//! samples. Loading must refuse what it cannot run, and a model it accepts must step and
//! sample without panicking (no overflow, no out-of-bounds index) on any weights.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mynah_format::{Model, EOS, FIRST_CHAR_ID};
use mynah_runtime::{Generator, IntModel, Next, Pcg32, SampleOptions, Scratch, State, Temperature};

/// Capacities of the fuzzed runtime: room for the seed models and then some, small enough
/// that every execution stays fast.
const H: usize = 64;
const V: usize = 256;
const L: usize = 4;

fn run(bytes: &[u8]) {
    let Ok(model) = Model::parse(bytes) else {
        return;
    };
    let gru = match IntModel::<H, V, L>::new(&model) {
        Ok(g) => g,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    let vocab = gru.vocab_size();
    assert_eq!(vocab, model.hyper().vocab_size as usize);

    // Raw steps, including tokens outside the vocabulary.
    let mut state = State::<H, L>::new();
    let mut scratch = Scratch::<H, V>::new();
    assert_eq!(gru.start(&mut state, &mut scratch).len(), vocab);
    let seed = model.checksum();
    for i in 0..4u32 {
        let token = seed.rotate_left(8 * i) % (vocab as u32 + 2);
        match gru.step(&mut state, &mut scratch, token) {
            Ok(logits) => assert_eq!(logits.len(), vocab),
            Err(e) => assert!((token as usize) >= vocab, "{e}"),
        }
    }

    // Sampling through a Generator, with options taken from the file's checksum so that
    // the corpus covers greedy, low and high temperatures and top-k.
    let temperature = match seed % 4 {
        0 => Temperature::GREEDY,
        1 => Temperature::from_milli(1 + seed % 300),
        2 => Temperature::ONE,
        _ => Temperature::from_milli(seed >> 8),
    };
    let opts = SampleOptions {
        temperature,
        top_k: (seed >> 4) % 8,
        allow_eos: gru.records(),
    };
    let mut rng = Pcg32::new(u64::from(seed));
    let mut gen = Generator::new(&gru);
    let prompt: String = gru.vocab().chars().take(3).collect();
    assert_eq!(gen.prime(&prompt), Ok(()));
    if gru.vocab().id_of(char::MAX).is_none() {
        assert!(gen.prime("\u{10FFFF}").is_err());
    }
    for _ in 0..8 {
        let t = gen.sample(&opts, &mut rng);
        assert!(
            t >= FIRST_CHAR_ID || (t == EOS && opts.allow_eos),
            "sampled ineligible token {t}"
        );
        assert!((t as usize) < vocab);
        match gen.next(&opts, &mut rng) {
            Next::Char(c) => assert!(gru.vocab().id_of(c).is_some()),
            Next::Eos => {
                assert!(opts.allow_eos);
                gen.reset();
            }
        }
        assert_eq!(gen.logits().len(), vocab);
    }
}

fuzz_target!(|data: &[u8]| {
    run(&mynah_fuzz::aligned(data));
    run(&mynah_fuzz::with_valid_trailer(data));
});
