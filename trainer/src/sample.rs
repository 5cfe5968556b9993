//! Text generation with libtorch by mynah's one float sampling rule
//! ([`mynah_quant::sampling::sample_f64`]): the same PCG32 stream, eligibility, top-k and
//! draws as `mynah sample`, so a seed gives the same text from a checkpoint and from its
//! exported float file.

use crate::model::CharModel;
use anyhow::{bail, ensure, Result};
use mynah_quant::sampling::sample_f64;
use mynah_runtime::{Pcg32, SampleOptions, Temperature};
use mynah_text::Vocab;
use tch::{Device, Kind, Tensor};

/// Sampling from every character of `vocab`, and from its `<EOS>` if the model was trained
/// on `records` (the rule of [`SampleOptions::new`], for a vocabulary that is not in a file).
pub fn options(
    vocab: &Vocab,
    records: bool,
    temperature: Temperature,
    top_k: u32,
) -> SampleOptions {
    SampleOptions {
        temperature,
        top_k,
        first_char: vocab.first_char_id(),
        stop: vocab.eos().filter(|_| records),
    }
}

/// Generates up to `max_chars` characters after `<BOS>` (if the model has one) and `prompt`;
/// a sampled stop token (a records model's `<EOS>`) ends the text.
pub fn generate(
    model: &CharModel,
    vocab: &Vocab,
    prompt: &str,
    max_chars: usize,
    opts: &SampleOptions,
    rng: &mut Pcg32,
) -> Result<String> {
    let mut context: Vec<i64> = vocab.bos().map(i64::from).into_iter().collect();
    for ch in prompt.chars() {
        match vocab.id_of(ch) {
            Some(id) => context.push(i64::from(id)),
            None => bail!("the prompt's character {ch:?} is not in the model's vocabulary"),
        }
    }
    ensure!(
        !context.is_empty(),
        "the model has no <BOS> token, so a sample must continue some text: give a non-empty \
         --prompt"
    );
    let device = model.vs.device();
    let ids = |v: &[i64]| Tensor::from_slice(v).view([1, -1]).to_device(device);
    tch::no_grad(|| {
        let (mut logits, mut state) = model.forward(&ids(&context), None, false);
        let mut out = String::new();
        for _ in 0..max_chars {
            let last = Vec::<f64>::try_from(
                logits
                    .select(1, -1)
                    .view([-1])
                    .to_kind(Kind::Double)
                    .to_device(Device::Cpu),
            )?;
            // Nothing eligible cannot happen with a character in the vocabulary; the float
            // reference then takes the first character too.
            let id = sample_f64(&last, opts, rng).unwrap_or(opts.first_char);
            if Some(id) == opts.stop {
                break;
            }
            out.extend(vocab.char_of(id));
            (logits, state) = model.forward(&ids(&[i64::from(id)]), Some(&state), false);
        }
        Ok(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mynah_format::{Arch, Hyper, Specials, WeightsKind};

    #[test]
    fn specials_are_never_sampled_and_prompts_are_checked() {
        let vocab = Vocab::from_texts(["abc"]).unwrap();
        let hyper = Hyper {
            vocab_size: 6,
            embed_dim: 3,
            hidden_dim: 4,
            num_layers: 1,
            records: false,
            weights: WeightsKind::Float,
            arch: Arch::GRU,
            specials: Specials::DEFAULT,
            factored: false,
        };
        tch::manual_seed(1);
        let model = CharModel::new(Device::Cpu, hyper, 0.0).unwrap();
        let opts = options(&vocab, false, Temperature::ONE, 0);
        let text = generate(&model, &vocab, "a", 200, &opts, &mut Pcg32::new(3)).unwrap();
        assert_eq!(text.chars().count(), 200);
        assert!(text.chars().all(|c| "abc".contains(c)));
        let e = generate(&model, &vocab, "x", 1, &opts, &mut Pcg32::new(3)).unwrap_err();
        assert!(e.to_string().contains("'x'"), "{e}");

        let no_bos =
            Vocab::new(Specials::NONE.with(mynah_format::Special::Eos), vec!['a']).unwrap();
        let e = generate(&model, &no_bos, "", 1, &opts, &mut Pcg32::new(3)).unwrap_err();
        assert!(e.to_string().contains("non-empty --prompt"), "{e}");
    }
}
