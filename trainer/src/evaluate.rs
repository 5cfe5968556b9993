//! The evaluation convention, computed with libtorch.

use crate::data::IGNORE;
use crate::model::{CharModel, State};
use tch::{Kind, Reduction, Tensor};

/// Steps per forward call when scoring one long stream; the state is carried between calls.
const STREAM_CHUNK: usize = 4096;
/// Upper bound on padded tokens per batch when scoring records.
const RECORD_BATCH_TOKENS: usize = 1 << 16;

/// Total negative log-likelihood and the number of scored symbols.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    /// Σ −ln p, in nats.
    pub nll: f64,
    /// Scored symbols (the convention's `chars`).
    pub symbols: usize,
}

impl Score {
    /// nats per scored symbol.
    pub fn nats_per_char(&self) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let n = self.symbols.max(1) as f64;
        self.nll / n
    }

    /// bits per scored symbol.
    pub fn bits_per_char(&self) -> f64 {
        self.nats_per_char() / std::f64::consts::LN_2
    }
}

/// Scores `sequences` (from `mynah_text::Part::eval_sequences`): each starts from a zero
/// state, carries it through, and every token after the first is scored.
///
/// A single sequence (text mode) is run in chunks of [`STREAM_CHUNK`] steps, batch 1, with the
/// state carried: identical to one pass. Several sequences (records) are sorted by length and
/// batched with padding after their end; every model is causal, so the padding changes nothing
/// before it, and padded targets are not scored.
pub fn score(model: &CharModel, sequences: &[Vec<u32>]) -> Score {
    let device = model.vs.device();
    tch::no_grad(|| {
        let mut nll = 0.0f64;
        let mut symbols = 0usize;
        if let [seq] = sequences {
            let mut state: Option<State> = None;
            let steps = seq.len().saturating_sub(1);
            let mut start = 0;
            while start < steps {
                let end = (start + STREAM_CHUNK).min(steps);
                let inp: Vec<i64> = seq[start..end].iter().map(|&x| i64::from(x)).collect();
                let tgt: Vec<i64> = seq[start + 1..=end].iter().map(|&x| i64::from(x)).collect();
                let input = Tensor::from_slice(&inp).view([1, -1]).to_device(device);
                let target = Tensor::from_slice(&tgt).to_device(device);
                let (logits, next) = model.forward(&input, state.as_ref(), false);
                nll += logits
                    .view([-1, model.vocab_size()])
                    .to_kind(Kind::Float)
                    .cross_entropy_loss::<Tensor>(&target, None, Reduction::Sum, IGNORE, 0.0)
                    .double_value(&[]);
                symbols += end - start;
                state = Some(next);
                start = end;
            }
            return Score { nll, symbols };
        }
        let mut order: Vec<usize> = (0..sequences.len()).collect();
        order.sort_by_key(|&i| sequences[i].len());
        let mut i = 0;
        while i < order.len() {
            // Sorted ascending, so the last row of a batch is its longest.
            let mut j = i + 1;
            while j < order.len()
                && (j + 1 - i) * (sequences[order[j]].len()) <= RECORD_BATCH_TOKENS
            {
                j += 1;
            }
            let rows = &order[i..j];
            let len = sequences[rows[rows.len() - 1]]
                .len()
                .saturating_sub(1)
                .max(1);
            // Any valid id pads the inputs.
            let mut inp = vec![0i64; rows.len() * len];
            let mut tgt = vec![IGNORE; rows.len() * len];
            for (r, &k) in rows.iter().enumerate() {
                let s = &sequences[k];
                let n = s.len().saturating_sub(1);
                for t in 0..n {
                    inp[r * len + t] = i64::from(s[t]);
                    tgt[r * len + t] = i64::from(s[t + 1]);
                }
                symbols += n;
            }
            #[allow(clippy::cast_possible_wrap)]
            let input = Tensor::from_slice(&inp)
                .view([rows.len() as i64, len as i64])
                .to_device(device);
            let target = Tensor::from_slice(&tgt).to_device(device);
            let (logits, _) = model.forward(&input, None, false);
            nll += logits
                .view([-1, model.vocab_size()])
                .to_kind(Kind::Float)
                .cross_entropy_loss::<Tensor>(&target, None, Reduction::Sum, IGNORE, 0.0)
                .double_value(&[]);
            i = j;
        }
        Score { nll, symbols }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mynah_format::{Activation, Arch, Cell, Hyper, Specials, WeightsKind};
    use tch::Device;

    fn archs() -> [(Arch, u32); 4] {
        [
            (Arch::GRU, 2),
            (Arch::Recurrent(Cell::Lstm), 2),
            (Arch::Recurrent(Cell::Rnn), 1),
            (
                Arch::Ngram {
                    context: 3,
                    activation: Activation::Tanh,
                },
                1,
            ),
        ]
    }

    fn model(arch: Arch, layers: u32) -> CharModel {
        tch::manual_seed(3);
        let hyper = Hyper {
            vocab_size: 8,
            embed_dim: 4,
            hidden_dim: 5,
            num_layers: layers,
            records: false,
            weights: WeightsKind::Float,
            arch,
            specials: Specials::DEFAULT,
            factored: false,
        };
        CharModel::new(Device::Cpu, hyper, 0.0).unwrap()
    }

    /// Σ −ln p by feeding one token at a time.
    fn slow(m: &CharModel, seq: &[u32]) -> f64 {
        let mut state: Option<State> = None;
        let mut nll = 0.0;
        for w in seq.windows(2) {
            let x = Tensor::from_slice(&[i64::from(w[0])]).view([1, 1]);
            let (logits, next) = m.forward(&x, state.as_ref(), false);
            let lp = logits.view([-1]).log_softmax(0, Kind::Float);
            nll -= lp.double_value(&[i64::from(w[1])]);
            state = Some(next);
        }
        nll
    }

    #[test]
    fn stream_chunks_equal_one_token_at_a_time() {
        for (arch, layers) in archs() {
            let m = model(arch, layers);
            let seq: Vec<u32> = std::iter::once(1)
                .chain((0..STREAM_CHUNK + 37).map(|i| 3 + (i * 7 % 5) as u32))
                .collect();
            let s = score(&m, std::slice::from_ref(&seq));
            assert_eq!(s.symbols, seq.len() - 1);
            // The chunk boundary falls inside the last 100 tokens.
            let tail = &seq[seq.len() - 100..];
            let head = score(&m, &[seq[..seq.len() - 99].to_vec()]).nll;
            let mut state: Option<State> = None;
            let all = Tensor::from_slice(
                &seq[..seq.len() - 100]
                    .iter()
                    .map(|&x| i64::from(x))
                    .collect::<Vec<_>>(),
            )
            .view([1, -1]);
            let (_, st) = m.forward(&all, state.as_ref(), false);
            state = Some(st);
            let mut rest = 0.0;
            for w in tail.windows(2) {
                let x = Tensor::from_slice(&[i64::from(w[0])]).view([1, 1]);
                let (logits, next) = m.forward(&x, state.as_ref(), false);
                rest -= logits
                    .view([-1])
                    .log_softmax(0, Kind::Float)
                    .double_value(&[i64::from(w[1])]);
                state = Some(next);
            }
            let want = head + rest;
            assert!(
                (s.nll - want).abs() < 1e-4 * want,
                "{arch}: {} {want}",
                s.nll
            );
            let short = &seq[..40];
            let want = slow(&m, short);
            let got = score(&m, &[short.to_vec()]).nll;
            assert!((got - want).abs() < 1e-4 * want, "{arch}: {got} {want}");
        }
    }

    #[test]
    fn batched_records_equal_records_one_by_one() {
        for (arch, layers) in archs() {
            let m = model(arch, layers);
            let recs: Vec<Vec<u32>> = (0..9)
                .map(|n| {
                    let mut r = vec![1];
                    r.extend((0..n * 3).map(|i| 3 + (i % 5) as u32));
                    r.push(2);
                    r
                })
                .collect();
            let s = score(&m, &recs);
            let want: f64 = recs.iter().map(|r| slow(&m, r)).sum();
            assert_eq!(s.symbols, recs.iter().map(|r| r.len() - 1).sum::<usize>());
            assert!(
                (s.nll - want).abs() < 1e-4 * want,
                "{arch}: {} {want}",
                s.nll
            );
        }
    }
}
