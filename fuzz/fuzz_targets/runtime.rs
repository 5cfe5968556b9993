//! The integer runtime on arbitrary files: parse, `AnyModel::new` (every architecture:
//! GRU, LSTM, tanh RNN, n-gram MLP; format versions 1 and 2), then a few steps and
//! samples. Loading must refuse what it cannot run, and a model it accepts must step and
//! sample without panicking (no overflow, no out-of-bounds index) on any weights.
//! `runtime/tests/regressions.rs` replays crashes the same way.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mynah_format::{Model, Token};
use mynah_runtime::{AnyModel, Generator, Next, Pcg32, SampleOptions, Stepper, Temperature};

/// Capacities of the fuzzed runtime: room for the seed models and then some, small enough
/// that every execution stays fast.
const H: usize = 64;
const V: usize = 256;
const L: usize = 4;
const N: usize = 8;

fn run(bytes: &[u8]) {
    let Ok(model) = Model::parse(bytes) else {
        return;
    };
    let m = match AnyModel::<H, V, L, N>::new(&model) {
        Ok(m) => m,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    let vocab = m.vocab_size();
    assert_eq!(vocab, model.hyper().vocab_size as usize);

    // Raw steps, including tokens outside the vocabulary.
    let mut state = m.new_state();
    let mut scratch = m.new_scratch();
    let has_bos = m.start(&mut state, &mut scratch);
    assert_eq!(has_bos, m.vocab().bos().is_some());
    let seed = model.checksum();
    for i in 0..4u32 {
        let token = seed.rotate_left(8 * i) % (vocab as u32 + 2);
        match m.step(&mut state, &mut scratch, token) {
            Ok(logits) => assert_eq!(logits.len(), vocab),
            Err(e) => assert!((token as usize) >= vocab, "{e}"),
        }
    }
    assert_eq!(m.logits_and_sel(&mut scratch).0.len(), vocab);

    // Sampling through a Generator, with options taken from the file's checksum so that
    // the corpus covers greedy, low and high temperatures and top-k.
    let temperature = match seed % 4 {
        0 => Temperature::GREEDY,
        1 => Temperature::from_milli(1 + seed % 300),
        2 => Temperature::ONE,
        _ => Temperature::from_milli(seed >> 8),
    };
    let mut opts = SampleOptions::new(temperature, &m.vocab(), m.records());
    opts.top_k = (seed >> 4) % 8;
    let mut rng = Pcg32::new(u64::from(seed));
    let mut gen = Generator::new(&m);
    assert_eq!(gen.is_ready(), has_bos);
    let prompt: String = m.vocab().chars().take(3).collect();
    assert_eq!(gen.prime(&prompt), Ok(()));
    assert!(gen.is_ready());
    if m.vocab().id_of(char::MAX).is_none() {
        assert!(gen.prime("\u{10FFFF}").is_err());
    }
    for _ in 0..8 {
        let t = gen.sample(&opts, &mut rng).expect("primed");
        assert!(
            t >= opts.first_char || Some(t) == opts.stop,
            "sampled ineligible token {t}"
        );
        assert!((t as usize) < vocab);
        if t < m.vocab().first_char_id() {
            assert!(matches!(m.vocab().token(t), Some(Token::Special(_))));
        }
        match gen.next(&opts, &mut rng).expect("primed") {
            Next::Char(c) => assert!(m.vocab().id_of(c).is_some()),
            Next::Eos => {
                assert!(opts.stop.is_some());
                gen.reset();
                gen.prime(&prompt).expect("checked above");
            }
        }
        assert_eq!(gen.logits().len(), vocab);
    }
}

fuzz_target!(|data: &[u8]| {
    run(&mynah_fuzz::aligned(data));
    run(&mynah_fuzz::with_valid_trailer(data));
});
