//! The budget never exceeds its bytes, takes the most it can, and its sizes are the
//! exporter's.

use super::*;
use crate::export::float_file;
use crate::model::CharModel;
use mynah_format::{Activation, Cell, Specials};
use mynah_quant::quantize::{quantize, QuantizeOptions};
use mynah_text::Vocab;
use proptest::prelude::*;

fn request(base: Hyper, bytes: u64, dtype: QuantKind, input: Factored) -> Request {
    Request {
        bytes,
        dtype,
        input,
        base,
        vocab_bytes: (base.vocab_size - base.specials.count()) as usize,
        layers: None,
        hidden: None,
        embed: None,
        table_embed: 32,
    }
}

fn base(arch: Arch, vocab_size: u32) -> Hyper {
    Hyper {
        vocab_size,
        embed_dim: 1,
        hidden_dim: 1,
        num_layers: 1,
        records: false,
        weights: WeightsKind::Float,
        arch,
        specials: Specials::DEFAULT,
        factored: false,
    }
}

fn arch_strategy() -> impl Strategy<Value = Arch> {
    prop_oneof![
        Just(Arch::GRU),
        Just(Arch::Recurrent(Cell::Lstm)),
        Just(Arch::Recurrent(Cell::Rnn)),
        (1u32..=8).prop_map(|context| Arch::Ngram {
            context,
            activation: Activation::Relu
        }),
    ]
}

fn input_strategy() -> impl Strategy<Value = Factored> {
    prop_oneof![
        Just(Factored::Auto),
        Just(Factored::On),
        Just(Factored::Off)
    ]
}

fn dtype_strategy() -> impl Strategy<Value = QuantKind> {
    prop_oneof![Just(QuantKind::Int8), Just(QuantKind::Int4)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Over architectures, vocabularies, budgets, weight types, input layers and
    /// constraints: the choice fits, its size is the file's, and one step wider does not
    /// fit; when nothing fits, the smallest candidate is indeed too large.
    #[test]
    fn the_choice_never_exceeds_the_budget(
        arch in arch_strategy(),
        chars in 1u32..400,
        char_bytes in 1usize..=3,
        bytes in 500u64..400_000,
        dtype in dtype_strategy(),
        input in input_strategy(),
        layers in proptest::option::of(1u32..=4),
        embed in proptest::option::of(1u32..=80),
    ) {
        let b = base(arch, chars + 3);
        let recurrent = matches!(arch, Arch::Recurrent(_));
        let mut r = request(b, bytes, dtype, input);
        r.vocab_bytes = chars as usize * char_bytes;
        r.layers = layers.filter(|_| recurrent);
        r.embed = embed;
        match choose(&r) {
            Ok(c) => {
                prop_assert!(c.file_bytes as u64 <= bytes);
                let size = exported_size(c.hyper, dtype, c.factored, r.vocab_bytes);
                prop_assert_eq!(size, Some(c.file_bytes));
                prop_assert_eq!(c.params, param_count(&c.hyper));
                let wider = Hyper { hidden_dim: c.hyper.hidden_dim + HIDDEN_STEP, ..c.hyper };
                if wider.hidden_dim <= MAX_HIDDEN {
                    let size = exported_size(wider, dtype, c.factored, r.vocab_bytes).unwrap();
                    prop_assert!(size as u64 > bytes, "{wider:?} fits too");
                }
                for (h, f) in candidates(&r) {
                    let fits = exported_size(h, dtype, f, r.vocab_bytes)
                        .is_some_and(|s| s as u64 <= bytes);
                    prop_assert!(!fits || param_count(&h) <= c.params);
                }
            }
            Err(e) => {
                let e = e.to_string();
                prop_assert!(e.contains("cannot hold") || e.contains("no model fits"), "{}", e);
                let sizes = candidates(&r)
                    .into_iter()
                    .filter_map(|(h, f)| exported_size(h, dtype, f, r.vocab_bytes));
                prop_assert!(sizes.into_iter().all(|s| s as u64 > bytes));
            }
        }
    }
}

/// The chosen shape, trained for no step and exported by the real quantizer, is exactly the
/// predicted size.
#[test]
fn the_exported_file_is_the_predicted_size() {
    let vocab = Vocab::from_texts(["the quick brown fox jumps over the lazy dog!"]).unwrap();
    let chars = vocab.chars().iter().map(|c| c.len_utf8()).sum();
    for (arch, bytes) in [
        (Arch::GRU, 40_000),
        (Arch::Recurrent(Cell::Lstm), 25_000),
        (
            Arch::Ngram {
                context: 4,
                activation: Activation::Tanh,
            },
            30_000,
        ),
    ] {
        let b = Hyper {
            specials: vocab.specials(),
            ..base(arch, u32::try_from(vocab.size()).unwrap())
        };
        let mut r = request(b, bytes, QuantKind::Int8, Factored::Off);
        r.vocab_bytes = chars;
        let c = choose(&r).unwrap();
        let model = CharModel::new(tch::Device::Cpu, c.hyper, 0.0).unwrap();
        let float = float_file(&vocab, &c.hyper, &model.to_host().unwrap(), false).unwrap();
        let aligned = mynah_format::AlignedBytes::copy_from(&float);
        let int = quantize(&aligned.model().unwrap(), &[], &QuantizeOptions::default()).unwrap();
        assert_eq!(
            int.len(),
            c.file_bytes,
            "{}",
            describe(&c.hyper, c.factored)
        );
        assert!(int.len() as u64 <= bytes);
    }
}

#[test]
fn constraints_and_impossible_budgets() {
    let b = base(Arch::GRU, 68);
    let mut r = request(b, 131_072, QuantKind::Int8, Factored::Off);
    let free = choose(&r).unwrap();
    // A token table's bytes are not parameters: under this budget depth wins.
    assert_eq!(
        describe(&free.hyper, free.factored),
        "gru 3×72, embed 32, token table"
    );
    assert_eq!(free.file_bytes, 124_884);
    r.layers = Some(1);
    let one = choose(&r).unwrap();
    assert_eq!((one.hyper.num_layers, one.hyper.hidden_dim), (1, 136));
    assert!(one.params < free.params);
    r.hidden = Some(600);
    assert!(choose(&r).unwrap_err().to_string().contains("--hidden 600"));
    let tiny = request(b, 1000, QuantKind::Int8, Factored::Off);
    let e = choose(&tiny).unwrap_err().to_string();
    assert!(
        e.contains("no model fits --budget-bytes 1000: the smallest candidate (gru 1×8"),
        "{e}"
    );
}
